//! The embedded demo Plex (placeholder; being written).
