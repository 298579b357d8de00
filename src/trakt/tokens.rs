//! A user's Trakt token set as plexgate stores it (sealed, in `user_settings.trakt_tokens`), and
//! the shape the browser gets instead of it.
//!
//! The frontend decides "Trakt is connected" from `tokens.created_at + tokens.expires_in` and
//! needs a truthy `access_token`/`refresh_token`, but it never has to call Trakt with them: every
//! Trakt call goes through plexgate. So the browser receives the real timestamps and a
//! placeholder for both tokens. What must never happen: a real token in [`public_view`], a
//! `Debug` print or an error.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the browser gets in place of a token.
pub const PLACEHOLDER: &str = "held-by-plexgate";

/// Trakt's token response, as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenSet {
    /// Bearer token for user calls.
    pub access_token: String,
    /// Single-use token that buys the next pair.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// `bearer`.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// `public`.
    #[serde(default)]
    pub scope: Option<String>,
    /// When Trakt issued it, epoch seconds.
    pub created_at: i64,
    /// Lifetime in seconds from `created_at`.
    pub expires_in: i64,
}

fn bearer() -> String {
    "bearer".to_string()
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("created_at", &self.created_at)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl TokenSet {
    /// When the access token stops working, epoch seconds.
    pub fn expires_at(&self) -> i64 {
        self.created_at.saturating_add(self.expires_in)
    }

    /// Parses Trakt's token response; `None` unless it has an access token and a lifetime.
    /// A missing `created_at` is taken as `now`.
    pub fn from_trakt(body: &[u8], now: i64) -> Option<TokenSet> {
        let mut v: Value = serde_json::from_slice(body).ok()?;
        let obj = v.as_object_mut()?;
        obj.entry("created_at").or_insert(json!(now));
        let t: TokenSet = serde_json::from_value(v).ok()?;
        (!t.access_token.is_empty() && t.expires_in > 0).then_some(t)
    }

    /// The token object the browser sees: real times, placeholder tokens.
    pub fn public_view(&self) -> Value {
        json!({
            "access_token": PLACEHOLDER,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": PLACEHOLDER,
            "scope": self.scope.as_deref().unwrap_or("public"),
            "created_at": self.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_view_hides_tokens_and_keeps_times() {
        let t = TokenSet::from_trakt(
            br#"{"access_token":"AAAAsecret","token_type":"bearer","expires_in":86400,"refresh_token":"RRRRsecret","scope":"public","created_at":1759300000}"#,
            1,
        )
        .unwrap();
        assert_eq!(t.expires_at(), 1_759_386_400);
        let v = t.public_view().to_string();
        assert!(!v.contains("secret"), "{v}");
        assert!(v.contains("1759300000"));
        assert!(!format!("{t:?}").contains("secret"));
        assert!(TokenSet::from_trakt(br#"{"access_token":"","expires_in":5}"#, 1).is_none());
        let t = TokenSet::from_trakt(br#"{"access_token":"a","expires_in":5}"#, 77).unwrap();
        assert_eq!(t.created_at, 77);
    }
}
