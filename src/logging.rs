//! Logging (placeholder; being written).
