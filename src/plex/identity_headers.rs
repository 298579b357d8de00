//! plexgate's own client identification, sent to PMS on every call it makes for a browser.
//!
//! PMS ≥ 1.40 answers 400 to transcoder calls without Product/Platform/Device, and checks the
//! platform value (`Chrome` and `Generic` are accepted, `Linux` is not). The browser's own
//! identification parameters are never forwarded: plexgate replaces them with this identity and
//! a per-session `X-Plex-Session-Identifier`, so PMS sees one consistent client per session.

use http::HeaderMap;
use http::header::HeaderValue;

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

/// plexgate's identity: one stable client identifier per installation.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    client_identifier: String,
    device_name: String,
}

impl ClientIdentity {
    /// An identity with `client_identifier` (derived from the master key, so it is stable
    /// across restarts and unique per installation).
    pub fn new(client_identifier: String) -> Self {
        ClientIdentity {
            client_identifier,
            device_name: "plexgate".to_string(),
        }
    }

    /// The client identifier.
    pub fn client_identifier(&self) -> &str {
        &self.client_identifier
    }

    /// Adds the identification headers (and, if given, the playback session identifier).
    pub fn apply(&self, headers: &mut HeaderMap, session_identifier: Option<&str>) {
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        set("x-plex-product", PRODUCT);
        set("x-plex-version", env!("CARGO_PKG_VERSION"));
        set("x-plex-platform", PLATFORM);
        set("x-plex-platform-version", PLATFORM_VERSION);
        set("x-plex-device", DEVICE);
        set("x-plex-device-name", &self.device_name);
        set("x-plex-model", "bundled");
        set("x-plex-client-identifier", &self.client_identifier);
        if let Some(id) = session_identifier {
            set("x-plex-session-identifier", id);
        }
    }
}
