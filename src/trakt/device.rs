//! Which signed-in user asked for which Trakt device code.
//!
//! Why: whoever polls `/oauth/device/token` with a device code receives the Trakt account it
//! was approved for. The Express backend let any session poll any code; here a code is bound to
//! the user that requested it, and polling someone else's code is refused. Only a SHA-256 of the
//! code is kept, in memory, until the code expires (a restart forgets them: the user starts the
//! sign-in again).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const MAX_PENDING: usize = 10_000;

/// Device codes in flight.
#[derive(Debug, Default)]
pub struct DeviceCodes {
    pending: Mutex<HashMap<[u8; 32], (i64, Instant)>>,
}

fn digest(code: &str) -> [u8; 32] {
    Sha256::digest(code.as_bytes()).into()
}

impl DeviceCodes {
    /// Remembers that `user_id` asked for `code`, valid for `lifetime`.
    pub fn bind(&self, code: &str, user_id: i64, lifetime: Duration) {
        let now = Instant::now();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, (_, until)| *until > now);
        if pending.len() >= MAX_PENDING {
            // Full of live codes: forget the one expiring first rather than grow forever.
            if let Some(k) = pending.iter().min_by_key(|(_, (_, u))| *u).map(|(k, _)| *k) {
                pending.remove(&k);
            }
        }
        pending.insert(digest(code), (user_id, now + lifetime));
    }

    /// Whether `code` was issued to `user_id` and has not expired.
    pub fn is_bound_to(&self, code: &str, user_id: i64) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending
            .get(&digest(code))
            .is_some_and(|(owner, until)| *owner == user_id && *until > Instant::now())
    }

    /// Forgets `code` (it was exchanged).
    pub fn release(&self, code: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&digest(code));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_belong_to_whoever_asked() {
        let d = DeviceCodes::default();
        d.bind("code-a", 1, Duration::from_secs(60));
        assert!(d.is_bound_to("code-a", 1));
        assert!(!d.is_bound_to("code-a", 2));
        assert!(!d.is_bound_to("code-b", 1));
        d.release("code-a");
        assert!(!d.is_bound_to("code-a", 1));
        d.bind("code-c", 1, Duration::ZERO);
        assert!(!d.is_bound_to("code-c", 1));
    }
}
