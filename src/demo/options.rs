//! How a demo Plex behaves: its token and identity, the PMS 1.43 quirks it reproduces, and how
//! much it records.
//!
//! Why a file of its own: the public handle, the shared state and the server all read the
//! options, and a leaf lets them do so without importing each other.

use std::fmt;
use std::time::Duration;

/// How a [`DemoPlex`](super::DemoPlex) behaves. `Default` gives a random 20-character token and a random 40-hex
/// machine identifier.
#[derive(Clone)]
pub struct DemoPlexOptions {
    /// The server token every request except `/identity` must carry (`X-Plex-Token`).
    pub token: String,
    /// `machineIdentifier` in `/identity` and `/`.
    pub machine_identifier: String,
    /// `friendlyName` in `/`.
    pub friendly_name: String,
    /// PMS `version` reported by `/identity` and `/`.
    pub version: String,
    /// A transcode session with no playlist, segment or ping request for this long is reaped
    /// (PMS 1.43: about 75 s).
    pub session_idle_timeout: Duration,
    /// `start.*` answers 400 unless a `decision` was made for the same `session` (PMS 1.43).
    pub require_decision: bool,
    /// `X-Plex-Platform` values the transcoder rejects with 400 (PMS 1.43.2 rejected `Linux`).
    pub rejected_platforms: Vec<String>,
    /// A Part GET answers 503 when the requesting client's last decision was not direct play.
    pub part_503_after_transcode: bool,
    /// At most this many requests are kept by [`DemoPlex::requests`](super::DemoPlex::requests) (oldest dropped first).
    pub max_recorded_requests: usize,
    /// Tokens of other Plex accounts the server is shared with. Each has its own watch state
    /// (viewOffset, viewCount, ratings), as on a real PMS.
    pub shared_user_tokens: Vec<String>,
}

impl Default for DemoPlexOptions {
    fn default() -> Self {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let token: String = crate::util::random_bytes::<20>()
            .iter()
            .map(|b| ALPHABET[usize::from(b & 63)] as char)
            .collect();
        DemoPlexOptions {
            token,
            machine_identifier: crate::util::hex(&crate::util::random_bytes::<20>()),
            friendly_name: "plexgate demo".to_owned(),
            version: "1.43.1.10611-1e34174b1".to_owned(),
            session_idle_timeout: Duration::from_secs(75),
            require_decision: true,
            rejected_platforms: vec!["Linux".to_owned()],
            part_503_after_transcode: true,
            max_recorded_requests: 10_000,
            shared_user_tokens: Vec::new(),
        }
    }
}

impl fmt::Debug for DemoPlexOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoPlexOptions")
            .field("token", &"<redacted>")
            .field("machine_identifier", &self.machine_identifier)
            .field("friendly_name", &self.friendly_name)
            .field("version", &self.version)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("require_decision", &self.require_decision)
            .field("rejected_platforms", &self.rejected_platforms)
            .field("part_503_after_transcode", &self.part_503_after_transcode)
            .field("max_recorded_requests", &self.max_recorded_requests)
            .field("shared_user_tokens", &self.shared_user_tokens.len())
            .finish()
    }
}
