//! SQLite storage (placeholder; being written).
