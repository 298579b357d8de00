//! Wiring (placeholder; being written).
