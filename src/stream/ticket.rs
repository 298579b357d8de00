//! Tickets: the capabilities the browser holds instead of Plex tokens.
//!
//! A ticket is `base64url(payload ‖ tag)` where the payload binds version, key id, scope kind,
//! expiry, a 128-bit session id, user, server and (for playback) the upstream path prefix, and
//! the tag is HMAC-SHA256 over a domain-separation label and the payload, checked in constant
//! time. Verification here covers what the ticket itself can prove (format, key, MAC, expiry);
//! revocation, method, path and scope are checked by the proxy in the order design §2 gives.
//!
//! A ticket never contains a token, and nothing in this module logs one.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::crypto::MasterKey;

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"plexgate.ticket.v1\0";
const TAG_LEN: usize = 32;
const FIXED_LEN: usize = 1 + 1 + 1 + 8 + 16 + 8 + 8;
/// Longest upstream prefix a playback ticket may carry (keeps URLs reasonable).
pub const MAX_PREFIX_LEN: usize = 512;
/// Longest ticket text accepted before decoding (cheap rejection of junk).
const MAX_TICKET_LEN: usize = ((FIXED_LEN + 2 + MAX_PREFIX_LEN + TAG_LEN) * 4).div_ceil(3);

/// What a ticket grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The PMS-shaped facade: an allowlist of routes for one (login session, server).
    Facade,
    /// GET/HEAD under one upstream path prefix (a transcode session or one part).
    Playback {
        /// Upstream path prefix, starting with `/`.
        prefix: String,
    },
}

/// The verified content of a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Key id it was signed with.
    pub key_id: u8,
    /// What it grants.
    pub scope: Scope,
    /// Expiry, epoch seconds.
    pub expires_at: i64,
    /// The playback or facade session it belongs to (revocation works on this id).
    pub session_id: [u8; 16],
    /// The user it was minted for.
    pub user_id: i64,
    /// The server (row id) it reaches.
    pub server_id: i64,
}

impl Claims {
    /// The session id as lower-case hex (the form stored in SQLite).
    pub fn session_hex(&self) -> String {
        crate::util::hex(&self.session_id)
    }
}

/// Why a ticket was refused. Each variant is its own error code and metric reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not base64url, wrong length, wrong version or a field that does not parse.
    #[error("the ticket is malformed")]
    Malformed,
    /// Signed with a key id this server does not hold (rotated out, or forged).
    #[error("the ticket was signed with an unknown key")]
    UnknownKey,
    /// The MAC does not verify.
    #[error("the ticket signature is invalid")]
    BadSignature,
    /// Past its expiry.
    #[error("the ticket has expired")]
    Expired,
    /// Its session was stopped or logged out.
    #[error("the ticket has been revoked")]
    Revoked,
    /// The method is not allowed for this ticket.
    #[error("this method is not allowed with this ticket")]
    Method,
    /// The path is not canonical (traversal, encoded separators, NUL…).
    #[error("the path is not allowed")]
    BadPath,
    /// The path is outside what the ticket grants.
    #[error("the path is outside this ticket's scope")]
    Scope,
}

impl TicketError {
    /// The stable error code (`ticket_expired`, …).
    pub fn code(self) -> &'static str {
        match self {
            TicketError::Malformed => "ticket_malformed",
            TicketError::UnknownKey => "ticket_unknown_key",
            TicketError::BadSignature => "ticket_bad_signature",
            TicketError::Expired => "ticket_expired",
            TicketError::Revoked => "ticket_revoked",
            TicketError::Method => "ticket_method",
            TicketError::BadPath => "ticket_bad_path",
            TicketError::Scope => "ticket_scope",
        }
    }
}

/// The live signing keys: the current one signs, it and the previous one verify.
#[derive(Clone)]
pub struct TicketKeys {
    current: (u8, [u8; 32]),
    previous: Option<(u8, [u8; 32])>,
}

impl fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKeys")
            .field("current_id", &self.current.0)
            .field("previous_id", &self.previous.map(|p| p.0))
            .finish_non_exhaustive()
    }
}

impl TicketKeys {
    /// Keys derived from the master key; `current_id` signs, `current_id - 1` (if any) still
    /// verifies, so bumping the id rotates without breaking tickets already handed out.
    pub fn derive(master: &MasterKey, current_id: u8) -> Self {
        let key = |id: u8| master.derive(&format!("plexgate.ticket.key.{id}"));
        TicketKeys {
            current: (current_id, key(current_id)),
            previous: current_id
                .checked_sub(1)
                .filter(|id| *id > 0)
                .map(|id| (id, key(id))),
        }
    }

    /// Explicit keys (tests, benches).
    pub fn from_keys(current: (u8, [u8; 32]), previous: Option<(u8, [u8; 32])>) -> Self {
        TicketKeys { current, previous }
    }

    fn key(&self, id: u8) -> Option<&[u8; 32]> {
        if self.current.0 == id {
            Some(&self.current.1)
        } else {
            self.previous.as_ref().filter(|p| p.0 == id).map(|p| &p.1)
        }
    }

    /// Signs `claims` with the current key (its `key_id` is overwritten).
    ///
    /// Panics if a playback prefix exceeds [`MAX_PREFIX_LEN`]; callers build prefixes from
    /// Plex session ids and part keys, so that would be a bug, not input.
    pub fn mint(&self, claims: &Claims) -> String {
        let mut buf = Vec::with_capacity(FIXED_LEN + 2 + 64 + TAG_LEN);
        buf.push(VERSION);
        buf.push(self.current.0);
        match &claims.scope {
            Scope::Facade => buf.push(1),
            Scope::Playback { .. } => buf.push(2),
        }
        buf.extend_from_slice(&claims.expires_at.to_be_bytes());
        buf.extend_from_slice(&claims.session_id);
        buf.extend_from_slice(&claims.user_id.to_be_bytes());
        buf.extend_from_slice(&claims.server_id.to_be_bytes());
        if let Scope::Playback { prefix } = &claims.scope {
            assert!(prefix.len() <= MAX_PREFIX_LEN, "playback prefix too long");
            buf.extend_from_slice(&(prefix.len() as u16).to_be_bytes());
            buf.extend_from_slice(prefix.as_bytes());
        }
        let tag = mac(&self.current.1, &buf).finalize().into_bytes();
        buf.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// Parses and authenticates `ticket`, then checks expiry against `now` (epoch seconds).
    pub fn verify(&self, ticket: &str, now: i64) -> Result<Claims, TicketError> {
        if ticket.len() > MAX_TICKET_LEN || ticket.len() < 8 {
            return Err(TicketError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(ticket)
            .map_err(|_| TicketError::Malformed)?;
        if raw.len() < FIXED_LEN + TAG_LEN || raw[0] != VERSION {
            return Err(TicketError::Malformed);
        }
        let (payload, tag) = raw.split_at(raw.len() - TAG_LEN);
        let key = self.key(payload[1]).ok_or(TicketError::UnknownKey)?;
        mac(key, payload)
            .verify_slice(tag)
            .map_err(|_| TicketError::BadSignature)?;
        // Authenticated from here on: a parse failure now means a bug or a key compromise,
        // still reported as malformed rather than trusted.
        let claims = parse_payload(payload)?;
        if claims.expires_at <= now {
            return Err(TicketError::Expired);
        }
        Ok(claims)
    }
}

fn mac(key: &[u8; 32], payload: &[u8]) -> HmacSha256 {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(DOMAIN);
    m.update(payload);
    m
}

fn parse_payload(p: &[u8]) -> Result<Claims, TicketError> {
    let be64 = |at: usize| -> i64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&p[at..at + 8]);
        i64::from_be_bytes(b)
    };
    let key_id = p[1];
    let kind = p[2];
    let expires_at = be64(3);
    let mut session_id = [0u8; 16];
    session_id.copy_from_slice(&p[11..27]);
    let user_id = be64(27);
    let server_id = be64(35);
    let rest = &p[FIXED_LEN..];
    let scope = match kind {
        1 if rest.is_empty() => Scope::Facade,
        2 if rest.len() >= 2 => {
            let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            if rest.len() != 2 + len || len > MAX_PREFIX_LEN {
                return Err(TicketError::Malformed);
            }
            let prefix = std::str::from_utf8(&rest[2..])
                .map_err(|_| TicketError::Malformed)?
                .to_string();
            if !prefix.starts_with('/') {
                return Err(TicketError::Malformed);
            }
            Scope::Playback { prefix }
        }
        _ => return Err(TicketError::Malformed),
    };
    Ok(Claims {
        key_id,
        scope,
        expires_at,
        session_id,
        user_id,
        server_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TicketKeys {
        TicketKeys::from_keys((2, [7u8; 32]), Some((1, [9u8; 32])))
    }

    fn claims(scope: Scope) -> Claims {
        Claims {
            key_id: 0,
            scope,
            expires_at: 2_000,
            session_id: [0xab; 16],
            user_id: 42,
            server_id: 7,
        }
    }

    #[test]
    fn round_trip_both_scopes() {
        for scope in [
            Scope::Facade,
            Scope::Playback {
                prefix: "/video/:/transcode/universal/session/abc/".into(),
            },
        ] {
            let t = keys().mint(&claims(scope.clone()));
            let c = keys().verify(&t, 1_000).unwrap();
            assert_eq!(c.scope, scope);
            assert_eq!(c.key_id, 2);
            assert_eq!((c.user_id, c.server_id, c.expires_at), (42, 7, 2_000));
        }
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let t = keys().mint(&claims(Scope::Playback {
            prefix: "/library/parts/1/".into(),
        }));
        let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let err = keys()
                .verify(&URL_SAFE_NO_PAD.encode(&bad), 1_000)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    TicketError::BadSignature | TicketError::UnknownKey | TicketError::Malformed
                ),
                "byte {i}: {err:?}"
            );
        }
    }

    #[test]
    fn expiry_rotation_and_junk() {
        let k = keys();
        let t = k.mint(&claims(Scope::Facade));
        assert_eq!(k.verify(&t, 2_000), Err(TicketError::Expired));
        // Signed by the previous key: still valid while it is live.
        let old = TicketKeys::from_keys((1, [9u8; 32]), None).mint(&claims(Scope::Facade));
        assert!(k.verify(&old, 1_000).is_ok());
        // Signed by a key rotated out.
        let gone = TicketKeys::from_keys((5, [1u8; 32]), None).mint(&claims(Scope::Facade));
        assert_eq!(k.verify(&gone, 1_000), Err(TicketError::UnknownKey));
        // Same id, different secret.
        let forged = TicketKeys::from_keys((2, [8u8; 32]), None).mint(&claims(Scope::Facade));
        assert_eq!(k.verify(&forged, 1_000), Err(TicketError::BadSignature));
        for junk in ["", "abc", "!!!!!!!!!!!!", &"A".repeat(5000)] {
            assert_eq!(k.verify(junk, 1_000), Err(TicketError::Malformed), "{junk}");
        }
    }

    #[test]
    fn derived_keys_rotate() {
        let master = MasterKey::from_bytes([3u8; 32]);
        let k1 = TicketKeys::derive(&master, 1);
        let k2 = TicketKeys::derive(&master, 2);
        let t1 = k1.mint(&claims(Scope::Facade));
        assert!(
            k2.verify(&t1, 0).is_ok(),
            "previous id verifies after rotation"
        );
        let k3 = TicketKeys::derive(&master, 3);
        assert_eq!(k3.verify(&t1, 0), Err(TicketError::UnknownKey));
        assert!(!format!("{k1:?}").contains("3, 3"));
    }
}
