//! Secrets at rest (placeholder; being written).
