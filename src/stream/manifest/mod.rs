//! Lossless manifest rewriting (being written).
