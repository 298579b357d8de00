//! plexgate's own client identification, sent to PMS on every call it makes.
//!
//! PMS ≥ 1.40 answers 400 to transcoder calls without Product/Platform/Device, and checks the
//! platform value (`Chrome` and `Generic` are accepted, `Linux` is not). The browser's own
//! identification parameters are never forwarded: plexgate replaces them with this identity and
//! a per-playback `X-Plex-Session-Identifier`.
//!
//! Why one identity per login session: Plex keys devices, "Now playing", transcode bookkeeping
//! and decisions on `X-Plex-Client-Identifier`, so two browsers sharing one identifier look like
//! one player and interfere (one's transcode ends the other's direct play). Each login session
//! gets its own identifier, an HMAC of the installation secret and the session's hash, stable
//! for the session's life and never the session id itself. Calls made for no browser (server
//! sync, readiness) use the installation identity.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use sha2::Sha256;

/// Product name shown in Plex's dashboard.
pub const PRODUCT: &str = "plexgate";
/// Platform: the browser's media stack decodes the output, so Chrome's profile fits.
pub const PLATFORM: &str = "Chrome";
/// Platform version sent with it.
pub const PLATFORM_VERSION: &str = "130.0";
/// Device type.
pub const DEVICE: &str = "Web";

/// Profile augmentation: h264/aac transcode targets for HLS (MPEG-TS) and DASH (fMP4), so a
/// decision never falls back to "neither direct play nor conversion" on a generic profile, and
/// the same HEVC limits the Flixor player sends.
pub const PROFILE_EXTRA: &str = "add-transcode-target(type=videoProfile&context=streaming&protocol=hls&container=mpegts&videoCodec=h264&audioCodec=aac)+add-transcode-target(type=videoProfile&context=streaming&protocol=dash&container=mp4&videoCodec=h264&audioCodec=aac)+add-limitation(scope=videoCodec&scopeName=hevc&type=upperBound&name=video.bitDepth&value=10&replace=true)";

/// Query parameters the browser may send that carry no identity and steer the decision; all
/// other `X-Plex-*` parameters are dropped before a request reaches PMS.
pub const BROWSER_PARAMS_KEPT: &[&str] = &[
    "x-plex-client-profile-extra",
    "x-plex-client-profile-name",
    "x-plex-incomplete-segments",
    "x-plex-language",
    "x-plex-device-screen-resolution",
];

/// A client identity toward Plex: the installation's, or one login session's.
#[derive(Clone)]
pub struct ClientIdentity {
    client_identifier: String,
    device_name: String,
    /// Derives per-login identities; shared by the installation identity and its children.
    secret: Arc<[u8; 32]>,
    /// The identification headers, built once: every call to Plex sends them.
    headers: Arc<HeaderMap>,
}

/// The identification headers for one identity.
fn identity_headers(client_identifier: &str, device_name: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        // from_bytes: a device name may be UTF-8 (the user's name, the `·`).
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            headers.insert(name, v);
        }
    };
    set("x-plex-product", PRODUCT);
    set("x-plex-version", env!("CARGO_PKG_VERSION"));
    set("x-plex-platform", PLATFORM);
    set("x-plex-platform-version", PLATFORM_VERSION);
    set("x-plex-device", DEVICE);
    set("x-plex-device-name", device_name);
    set("x-plex-model", "bundled");
    set("x-plex-client-identifier", client_identifier);
    headers
}

const SESSION_IDENTIFIER: HeaderName = HeaderName::from_static("x-plex-session-identifier");

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("client_identifier", &self.client_identifier)
            .field("device_name", &self.device_name)
            .finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// The installation identity: `client_identifier` (derived from the master key, so it is
    /// stable across restarts and unique per installation) and `secret`, from which each login
    /// session's identity is derived.
    pub fn new(client_identifier: String, secret: [u8; 32]) -> Self {
        let device_name = "plexgate".to_string();
        ClientIdentity {
            headers: Arc::new(identity_headers(&client_identifier, &device_name)),
            client_identifier,
            device_name,
            secret: Arc::new(secret),
        }
    }

    /// The identity Plex sees for one login session (`login_hash`): a stable identifier Plex
    /// cannot link to the session cookie, and `device_name` as the name it shows.
    pub fn for_login(&self, login_hash: &[u8; 32], device_name: String) -> ClientIdentity {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret[..])
            .expect("HMAC takes any key length");
        mac.update(b"plexgate.client-identifier.login.v1");
        mac.update(login_hash);
        let digest = mac.finalize().into_bytes();
        let client_identifier = crate::util::hex(&digest[..16]);
        ClientIdentity {
            headers: Arc::new(identity_headers(&client_identifier, &device_name)),
            client_identifier,
            device_name,
            secret: self.secret.clone(),
        }
    }

    /// The client identifier.
    pub fn client_identifier(&self) -> &str {
        &self.client_identifier
    }

    /// The device name Plex shows for this client.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Adds the identification headers (and, if given, the playback session identifier).
    pub fn apply(&self, headers: &mut HeaderMap, session_identifier: Option<&str>) {
        headers.reserve(self.headers.len() + 1);
        for (name, value) in self.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(v) = session_identifier.and_then(|id| HeaderValue::from_str(id).ok()) {
            headers.insert(SESSION_IDENTIFIER, v);
        }
    }
}

/// `plexgate · <browser> · <user>`: what Plex's dashboard shows for a login session, so an
/// operator can tell two family members' players apart.
pub fn device_name(user_agent: Option<&str>, username: Option<&str>) -> String {
    let ua = user_agent.unwrap_or("");
    // Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map_or("Browser", |(_, name)| name);
    let user: String = username
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect();
    if user.is_empty() {
        format!("plexgate · {browser}")
    } else {
        format!("plexgate · {browser} · {user}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_login_gets_its_own_stable_identifier() {
        let install = ClientIdentity::new("install".into(), [7; 32]);
        let a = install.for_login(&[1; 32], "a".into());
        let a_again = install.for_login(&[1; 32], "a2".into());
        let b = install.for_login(&[2; 32], "b".into());
        assert_eq!(a.client_identifier(), a_again.client_identifier());
        assert_ne!(a.client_identifier(), b.client_identifier());
        assert_ne!(a.client_identifier(), install.client_identifier());
        assert_eq!(a.client_identifier().len(), 32);
        assert!(!a.client_identifier().contains(&crate::util::hex(&[1; 16])));
    }

    #[test]
    fn device_names_say_browser_and_user() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";
        assert_eq!(
            device_name(Some(chrome), Some("ann")),
            "plexgate · Chrome · ann"
        );
        assert_eq!(
            device_name(Some("Mozilla/5.0 Firefox/133.0"), None),
            "plexgate · Firefox"
        );
        assert_eq!(device_name(None, Some("b\nob")), "plexgate · Browser · bob");
    }
}
