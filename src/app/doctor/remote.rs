//! The doctor's network checks: plex.tv (DNS, TLS, clock), each stored Plex server's candidate
//! addresses, TMDB and Trakt credentials, and the public URL through the reverse proxy.
//!
//! Credentials travel exactly as the server sends them (TMDB `api_key` or Bearer, Trakt's
//! `trakt-api-key`) and never appear in a line: errors are reduced to their cause, and reqwest
//! errors lose their URL before they are shown.

use std::time::{Duration, Instant, SystemTime};

use crate::api::ops::probe::PROBE_HEADER;
use crate::config::{Config, TmdbConfig, TraktConfig};
use crate::crypto::probe::ProbeKey;
use crate::db::servers::Server;
use crate::plex::connect::ranked;
use crate::plex::probe_identity;

use super::Check;

/// How long any one request may take; the doctor must answer even when everything is down.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Clock difference to plex.tv beyond which sign-in tokens and TLS start failing.
const MAX_SKEW: Duration = Duration::from_secs(120);

/// Why a request got no HTTP answer, in the words of the fix.
fn cause(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        return "timed out";
    }
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        chain.push_str(&s.to_string().to_ascii_lowercase());
        chain.push(' ');
        source = s.source();
    }
    if chain.contains("dns") || chain.contains("lookup") || chain.contains("resolve") {
        "DNS lookup failed"
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        "TLS failed"
    } else if chain.contains("refused") {
        "connection refused"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "no HTTP answer"
    }
}

/// Sends `req` with the doctor's timeout; a failure is reduced to its cause (never the URL,
/// which may carry a key).
async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, &'static str> {
    req.timeout(TIMEOUT).send().await.map_err(|e| cause(&e))
}

const PROXY_DOWN_FIX: &str =
    "check the reverse proxy runs and that this host resolves and reaches the public name";

/// plex.tv answers over TLS, and our clock agrees with its `Date` header.
pub(super) async fn plextv(client: &reqwest::Client, base: &str) -> Check {
    let sent = SystemTime::now();
    let req = client
        .get(format!("{base}/api/v2/ping"))
        .header("X-Plex-Client-Identifier", "plexgate-doctor")
        .header(http::header::ACCEPT, "application/json");
    let resp = match send(req).await {
        Ok(r) => r,
        Err(cause) => {
            return Check::fail(
                format!("plex.tv ({base}): {cause}"),
                "plexgate must reach plex.tv over HTTPS to sign anyone in: check DNS, the \
                 firewall's outbound 443 and any proxy between this host and the internet",
            );
        }
    };
    let skew = resp
        .headers()
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .map(|theirs| match theirs.duration_since(sent) {
            Ok(ahead) => ahead,
            Err(behind) => behind.duration(),
        });
    match skew {
        // The Date header has whole seconds; a second of difference is rounding.
        Some(skew) if skew > MAX_SKEW => Check::fail(
            format!(
                "plex.tv answered, but this host's clock is {} s off",
                skew.as_secs()
            ),
            "set the clock right and keep it so (timedatectl set-ntp true, or chrony/ntpd)",
        ),
        Some(skew) => Check::pass(format!(
            "plex.tv ({base}) answered HTTP {}; clock within {} s of it",
            resp.status().as_u16(),
            skew.as_secs().max(1)
        )),
        None => Check::pass(format!(
            "plex.tv ({base}) answered HTTP {} (no Date header: clock not compared)",
            resp.status().as_u16()
        )),
    }
}

/// Each stored server: every candidate address probed on `/identity` (no token), its latency,
/// and which one plexgate would use.
pub(super) async fn servers(client: &reqwest::Client, servers: &[Server]) -> Vec<Check> {
    if servers.is_empty() {
        return vec![Check::skip(
            "no Plex servers stored yet; they are added when someone signs in",
        )];
    }
    let mut checks = Vec::new();
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    for server in servers {
        let candidates = ranked(
            &server.connections,
            server.preferred_uri.as_deref(),
            server.owned,
            server.https_required,
        );
        // The same server shared with several users is checked once per distinct address list.
        let key = (server.machine_identifier.clone(), candidates.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        checks.push(one_server(client, server, &candidates).await);
    }
    checks
}

async fn one_server(client: &reqwest::Client, server: &Server, candidates: &[String]) -> Check {
    // Probed concurrently: each may wait the whole probe timeout.
    let mut probes = tokio::task::JoinSet::new();
    for (rank, uri) in candidates.iter().enumerate() {
        let (client, uri) = (client.clone(), uri.clone());
        probes.spawn(async move {
            let start = Instant::now();
            let result = probe_identity(&client, &uri, crate::plex::connect::PROBE_TIMEOUT).await;
            (rank, uri, result, start.elapsed())
        });
    }
    let mut results = probes.join_all().await;
    results.sort_by_key(|(rank, ..)| *rank);
    let mut details = Vec::new();
    let mut winner: Option<(String, Duration)> = None;
    for (_, uri, result, took) in results {
        let ms = took.as_millis();
        details.push(match result {
            Ok(id) if id.machine_identifier == server.machine_identifier => {
                winner.get_or_insert((uri.clone(), took));
                Check::pass(format!("{uri}: answers as this server in {ms} ms"))
            }
            Ok(id) => Check::fail(
                format!(
                    "{uri}: answers as another server ({})",
                    id.machine_identifier
                ),
                "the address now belongs to another Plex server; fix the port forward, then \
                 sync servers again (POST /api/auth/servers/sync)",
            ),
            Err(e) => Check::fail(format!("{uri}: {e}"), address_fix(&uri)),
        });
    }
    let name = &server.name;
    let mut check = match winner {
        Some((uri, took)) => Check::pass(format!(
            "Plex server \"{name}\": plexgate uses {uri} ({} ms)",
            took.as_millis()
        )),
        None if candidates.is_empty() => Check::fail(
            format!("Plex server \"{name}\": no usable address stored"),
            "enable Remote Access or a custom server access URL in Plex, then sync servers",
        ),
        None => Check::fail(
            format!("Plex server \"{name}\": no address answers"),
            "start the server or open its port to this host; the addresses are listed below",
        ),
    };
    check.details = details;
    check
}

fn address_fix(uri: &str) -> String {
    if uri.starts_with("https://") {
        format!(
            "check that {uri} is reachable from this host and its certificate is valid (Plex's \
             *.plex.direct names need DNS rebinding allowed on your router)"
        )
    } else {
        format!("check that Plex listens on {uri} and the firewall lets this host reach it")
    }
}

/// `tmdb.default_key` is accepted by TMDB (`/configuration`).
pub(super) async fn tmdb(client: &reqwest::Client, config: &TmdbConfig) -> Check {
    let Some(key) = &config.default_key else {
        return Check::skip("TMDB: no tmdb.default_key (users may save their own)");
    };
    let url = format!("{}/configuration", config.url);
    // v4 read tokens are JWTs (Bearer); v3 keys go in api_key, as the server sends them.
    let bearer = key.starts_with("eyJ") && key.matches('.').count() == 2;
    let req = if bearer {
        client.get(&url).bearer_auth(key)
    } else {
        let Ok(mut with_key) = url::Url::parse(&url) else {
            return Check::fail(format!("TMDB: tmdb.url {url} is not a URL"), "fix tmdb.url");
        };
        with_key.query_pairs_mut().append_pair("api_key", key);
        client.get(with_key)
    };
    credential_check(
        req,
        "TMDB",
        "tmdb.default_key",
        "a v3 API key or v4 read token from https://www.themoviedb.org/settings/api",
    )
    .await
}

/// `trakt.client_id` is accepted by Trakt (a public chart needs only it).
pub(super) async fn trakt(client: &reqwest::Client, config: &TraktConfig) -> Check {
    let Some(id) = &config.client_id else {
        return Check::skip("Trakt: no trakt.client_id (the /api/trakt routes answer 503)");
    };
    let req = client
        .get(format!("{}/movies/trending?limit=1", config.url))
        .header("trakt-api-version", "2")
        .header("trakt-api-key", id);
    credential_check(
        req,
        "Trakt",
        "trakt.client_id",
        "the Client ID of your app at https://trakt.tv/oauth/applications",
    )
    .await
}

async fn credential_check(
    req: reqwest::RequestBuilder,
    service: &str,
    key: &str,
    where_to_get: &str,
) -> Check {
    match send(req.header(http::header::ACCEPT, "application/json")).await {
        Ok(resp) if resp.status().is_success() => {
            Check::pass(format!("{service}: {key} is accepted"))
        }
        Ok(resp) if matches!(resp.status().as_u16(), 401 | 403) => Check::fail(
            format!(
                "{service}: {key} is refused (HTTP {})",
                resp.status().as_u16()
            ),
            format!("set {key} to {where_to_get}"),
        ),
        Ok(resp) => Check::fail(
            format!("{service}: answered HTTP {}", resp.status().as_u16()),
            format!("try again later; if it persists, check {service}'s status page"),
        ),
        Err(cause) => Check::fail(
            format!("{service}: {cause}"),
            format!("plexgate must reach {service} over HTTPS: check DNS and outbound 443"),
        ),
    }
}

/// `server.public_url` reaches this plexgate through the reverse proxy, and the proxy's
/// `X-Forwarded-Proto/For` arrive from an address plexgate trusts. With the master key, a
/// one-time probe asks the server what it saw (`/api/doctor/probe`); without it, only
/// `/health` is asked.
pub(super) async fn public_url(
    client: &reqwest::Client,
    config: &Config,
    probe: Option<&ProbeKey>,
) -> Check {
    let Some(public) = &config.server.public_url else {
        return Check::skip("public URL: server.public_url is not set");
    };
    let base = format!("{public}{}", config.server.base_path);
    let Some(probe) = probe else {
        return health_through(client, &base).await;
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let url = format!("{base}/api/doctor/probe");
    let resp = match send(client.get(&url).header(PROBE_HEADER, probe.mint(now))).await {
        Ok(r) => r,
        Err(cause) => {
            return Check::fail(format!("public URL {public}: {cause}"), PROXY_DOWN_FIX);
        }
    };
    if resp.status() == http::StatusCode::NOT_FOUND {
        return Check::fail(
            format!("public URL {base} does not lead to this plexgate (its probe got HTTP 404)"),
            "point the reverse proxy at this plexgate's server.listen, with server.base_path \
             equal to the proxy's path",
        );
    }
    let status = resp.status().as_u16();
    let Ok(seen) = resp.json::<serde_json::Value>().await else {
        return Check::fail(
            format!("public URL {base}: HTTP {status} is not plexgate's answer"),
            "point the reverse proxy at this plexgate's server.listen",
        );
    };
    judge_forwarding(public, &seen)
}

fn judge_forwarding(public: &str, seen: &serde_json::Value) -> Check {
    let peer = seen["peer"].as_str().unwrap_or("?");
    let trusted = seen["peerTrusted"].as_bool().unwrap_or(false);
    let forwarded = seen["forwardedFor"].is_string() || seen["forwardedProto"].is_string();
    let scheme = seen["scheme"].as_str().unwrap_or("http");
    let want = if public.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    if forwarded && !trusted {
        return Check::fail(
            format!(
                "public URL {public}: X-Forwarded-* arrive from {peer}, which is not in \
                 server.trusted_proxies, so plexgate ignores them"
            ),
            format!("add the proxy's address to server.trusted_proxies (e.g. \"{peer}/32\")"),
        );
    }
    if scheme != want {
        return Check::fail(
            format!(
                "public URL {public}: plexgate sees {scheme} from {peer}, the browser uses {want}"
            ),
            "make the proxy set X-Forwarded-Proto (nginx: proxy_set_header X-Forwarded-Proto \
             $scheme; Caddy does it itself) and list it in server.trusted_proxies",
        );
    }
    let client_ip = seen["clientIp"].as_str().unwrap_or("?");
    Check::pass(format!(
        "public URL {public} reaches this plexgate; {} (peer {peer}), scheme {scheme}, client {client_ip}",
        if trusted {
            "through a trusted proxy"
        } else {
            "directly"
        }
    ))
}

async fn health_through(client: &reqwest::Client, base: &str) -> Check {
    let url = format!("{base}/health");
    match send(client.get(&url)).await {
        Ok(resp) if resp.status().is_success() => Check::pass(format!(
            "public URL {url} answers (no master key here: forwarded headers not checked)"
        )),
        Ok(resp) => Check::fail(
            format!("public URL {url} answered HTTP {}", resp.status().as_u16()),
            "point the reverse proxy at plexgate's server.listen and keep server.base_path equal to its path",
        ),
        Err(cause) => Check::fail(format!("public URL {url}: {cause}"), PROXY_DOWN_FIX),
    }
}
