//! The route table (placeholder; being written).
