//! What the manifest targets share: the mappers the proxy builds, an identity mapper, and the
//! output checks (design §3).

use std::sync::OnceLock;

use plexgate::stream::manifest::{MapUri, RewriteError, UriMapper};
use plexgate::stream::scope;
use plexgate::stream::ticket::Scope;
use url::Url;

/// A fake Plex token, in every manifest URL's query: it must never reach an output.
pub const TOKEN: &str = "T0kFAKEplexgate42";
/// The proxy prefix (it carries the ticket) every rewritten URI must start with.
pub const PREFIX: &str = "/plexgate/api/plex/proxy/TiCkEtAbC123";
const UPSTREAM: &str = "http://127.0.0.1:32400";
const SESSION_DIR: &str = "/video/:/transcode/universal/session/";

/// One rewriting situation: the manifest's upstream URL and the ticket scope it is checked
/// against.
pub struct Case {
    /// The production mapper for it.
    pub mapper: UriMapper,
    /// The identity mapper for the same URL.
    pub identity: Identity,
}

/// Maps every URI to itself: isolates the rewriters' copying.
pub struct Identity(Url);

impl MapUri for Identity {
    fn manifest_url(&self) -> &Url {
        &self.0
    }
    fn map(&self, uri: &str, _base: &Url) -> Result<String, RewriteError> {
        Ok(uri.to_owned())
    }
    fn guard_token_leaks(&self) -> bool {
        false
    }
}

fn case(path_and_query: &str, scope: Scope) -> Case {
    let url = Url::parse(&format!("{UPSTREAM}{path_and_query}")).expect("harness URL");
    Case {
        mapper: UriMapper::new(&url, PREFIX, move |p| scope::allows_path(&scope, p)),
        identity: Identity(url),
    }
}

fn playback(session: &str) -> Scope {
    Scope::Playback {
        prefix: format!("{SESSION_DIR}{session}/"),
    }
}

/// Four situations, picked by `selector`: the `start.*` manifest (token and session in its
/// query), a manifest inside the session directory, one under a non-canonical directory (the
/// mapper's slow path only), and the facade scope.
pub fn cases(session: &str, start: &str, inner: &str, selector: u8) -> &'static Case {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    let all = CASES.get_or_init(|| {
        let q = format!("?session={session}&X-Plex-Token={TOKEN}");
        vec![
            case(&format!("{start}{q}"), playback(session)),
            case(
                &format!("{SESSION_DIR}{session}/{inner}"),
                playback(session),
            ),
            case(
                &format!("{SESSION_DIR}{session}/odd%2520dir/{inner}?X-Plex-Token={TOKEN}"),
                playback(session),
            ),
            case(&format!("{start}{q}"), Scope::Facade),
        ]
    });
    &all[usize::from(selector) % all.len()]
}

/// `data:` and `skd:` URIs are not fetched over HTTP and pass through.
pub fn is_passthrough(uri: &str) -> bool {
    let scheme = uri.split_once(':').map(|(s, _)| s).unwrap_or_default();
    scheme.eq_ignore_ascii_case("data") || scheme.eq_ignore_ascii_case("skd")
}

/// Proxy form: the prefix then an absolute upstream path.
pub fn is_proxy_form(uri: &str) -> bool {
    uri.strip_prefix(PREFIX).is_some_and(|r| r.starts_with('/'))
}

/// No output may carry the fake token (unless the input itself wrote it, e.g. in a comment) or
/// an `X-Plex-Token` marker in any case.
pub fn assert_no_token(input: &str, out: &str) {
    if !input.contains(TOKEN) {
        assert!(!out.contains(TOKEN), "the fake token reached the output");
    }
    assert!(
        !out.to_ascii_lowercase().contains("x-plex-token"),
        "an X-Plex-Token marker reached the output"
    );
}
