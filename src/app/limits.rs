//! The open-file limit, raised at start to what the configuration admits.
//!
//! Every client connection is a descriptor, and so is the Plex connection behind each stream;
//! a part relayed with splice(2) also holds the two ends of a pipe.
//! A shell's default soft limit (often 1,024) is far below what `server.max_connections`
//! (4,096 by default) admits, so without this the accept loop would run out of descriptors long
//! before the cap it was given, and `/health` would stop answering with it. The hard limit is
//! what the operator allows (systemd's `LimitNOFILE`, a container's `nofile`); raising the soft
//! limit up to it needs no privilege.

/// Descriptors the configuration may use: a client connection, a Plex connection and a pipe
/// (two ends, `crate::relay`) for every admitted connection, plus headroom for the database,
/// the logs, the listener and name resolution.
pub fn needed(max_connections: usize) -> u64 {
    4 * max_connections as u64 + 128
}

/// What [`raise_open_files`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFiles {
    /// The soft limit already allowed what is needed.
    Enough {
        /// The soft limit.
        soft: u64,
    },
    /// The soft limit was raised to what is needed.
    Raised {
        /// The soft limit before.
        from: u64,
        /// The soft limit now.
        to: u64,
    },
    /// The hard limit is below what is needed: the soft limit is now the hard limit, and
    /// connections past it will fail.
    Short {
        /// The soft limit now (the hard limit).
        soft: u64,
        /// The hard limit.
        hard: u64,
        /// What `server.max_connections` needs.
        needed: u64,
    },
    /// The limit could not be read or set (not Unix, or the call failed).
    Unknown,
}

/// Raises the soft `RLIMIT_NOFILE` to what `max_connections` needs, up to the hard limit, and
/// logs what it did: INFO when raised, WARN with the fix when even the hard limit is too low.
pub fn raise_open_files(max_connections: usize) -> OpenFiles {
    let needed = needed(max_connections);
    let outcome = adjust(needed);
    match outcome {
        OpenFiles::Raised { from, to } => {
            tracing::info!(
                from,
                to,
                "raised the open-file limit for server.max_connections"
            );
        }
        OpenFiles::Short { soft, hard, needed } => tracing::warn!(
            soft,
            hard,
            needed,
            max_connections,
            "the open-file limit is below what server.max_connections needs: connections past \
             it will fail; raise it (systemd LimitNOFILE=, docker --ulimit nofile=, ulimit -Hn) \
             or lower server.max_connections"
        ),
        OpenFiles::Enough { .. } | OpenFiles::Unknown => {}
    }
    outcome
}

#[cfg(unix)]
fn adjust(needed: u64) -> OpenFiles {
    use rlimit::Resource;
    let Ok((soft, hard)) = Resource::NOFILE.get() else {
        return OpenFiles::Unknown;
    };
    if soft >= needed {
        return OpenFiles::Enough { soft };
    }
    let to = needed.min(hard);
    if to > soft && Resource::NOFILE.set(to, hard).is_err() {
        return OpenFiles::Unknown;
    }
    if to < needed {
        OpenFiles::Short {
            soft: to,
            hard,
            needed,
        }
    } else {
        OpenFiles::Raised { from: soft, to }
    }
}

#[cfg(not(unix))]
fn adjust(_needed: u64) -> OpenFiles {
    OpenFiles::Unknown
}
