//! `/api/plextv/watchlist` against a fake of Plex's Discover, metadata and VOD providers (and
//! the demo Plex for library ratingKeys): the list keeps Discover's `MediaContainer`, is cached
//! per user and invalidated by writes; writes resolve every id shape the frontend sends to the
//! 24-hex Discover key and use `actions/addToWatchlist|removeFromWatchlist`; Discover's 429 is
//! passed on with `retryAfter`; the account token travels only as a header to the providers.
//! Last, the real binary run as an operator runs it, with TMDB, Trakt and Discover all in use:
//! no secret in any response or any log line it writes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::browser::Browser;
use crate::support::canary::Canary;
use crate::support::fake_discover::{CATALOG, FakeDiscover, Fault};
use crate::support::fake_plextv::FakePlexTv;
use crate::support::fake_tmdb::FakeTmdb;
use crate::support::fake_trakt::FakeTrakt;
use crate::support::services::{LogCapture, sign_in};
use crate::support::{TestApp, exit_within, sigterm};
use plexgate::demo::{DemoPlex, DemoPlexOptions};
use reqwest::Method;
use serde_json::json;

const ACCOUNT_TOKEN: &str = "acct-token-discover-9c3e51";
const HEAT: &str = "5d776b59ad5437001f79c6f8";
const SEVERANCE: &str = "5d9c086c46115600200aa2fe";
const ARRIVAL_MOVIE: &str = "5d77686eeb5d26001f1e5a41";
const ARRIVALS_SHOW: &str = "5e161d3d9c6e0000409f3a11";
const DEMO_MOVIE: &str = "5f0c1a2b3c4d5e6f70819203";

struct World {
    app: TestApp,
    discover: FakeDiscover,
    plex: DemoPlex,
    _plextv: FakePlexTv,
}

impl World {
    async fn start() -> World {
        let plex = DemoPlex::start(DemoPlexOptions::default()).await.unwrap();
        let plextv = FakePlexTv::start(1, 6060, ACCOUNT_TOKEN).await;
        plextv.add_server(
            "Home",
            plex.machine_identifier(),
            plex.token(),
            true,
            &[(&plex.url(), true, false)],
        );
        let discover = FakeDiscover::start(ACCOUNT_TOKEN).await;
        let app = TestApp::start(&[
            ("plextv.url", plextv.url.as_str()),
            ("discover.url", discover.url.as_str()),
            ("discover.metadata_url", discover.url.as_str()),
            ("discover.vod_url", discover.url.as_str()),
        ])
        .await;
        World {
            app,
            discover,
            plex,
            _plextv: plextv,
        }
    }

    fn canary(&self) -> Canary {
        Canary::new(&[ACCOUNT_TOKEN, self.plex.token()])
    }

    /// Every provider request carried the account token as a header, never in the URL.
    fn assert_token_only_in_headers(&self) {
        for r in self.discover.seen() {
            assert_eq!(r.header("x-plex-token"), Some(ACCOUNT_TOKEN), "{}", r.path);
            assert!(
                !r.raw_query.contains(ACCOUNT_TOKEN),
                "{}?{}",
                r.path,
                r.raw_query
            );
            assert!(
                !r.path.ends_with("/watchlist"),
                "the Express write path: {}",
                r.path
            );
        }
        for r in self.plex.requests() {
            assert_ne!(r.header("x-plex-token"), Some(ACCOUNT_TOKEN));
        }
    }
}

fn assert_logs_clean(log: &LogCapture, canary: &Canary) {
    let text = log.text();
    assert!(!text.is_empty(), "the log capture saw nothing");
    if let Some(found) = canary.find(text.as_bytes()) {
        panic!("LEAK in the log: {found}");
    }
}

async fn send(b: &mut Browser<'_>, m: Method, path: String) -> crate::support::browser::Seen {
    b.request(m, &path, &[], None, true).await
}

fn encode(s: &str) -> String {
    plexgate::util::percent_encode(s)
}

#[tokio::test]
async fn the_watchlist_keeps_its_media_container_and_is_cached_per_user() {
    let log = LogCapture::install();
    let w = World::start().await;
    let canary = w.canary();
    let mut b = Browser::new(&w.app.running.url(), &canary);
    b.get("/api/plextv/watchlist")
        .await
        .assert_error(401, "unauthorized");
    sign_in(&mut b, "discover-browser-1").await;

    let r = b.get("/api/plextv/watchlist").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mc = &r.json()["MediaContainer"];
    assert_eq!(mc["librarySectionID"], "watchlist");
    assert_eq!(mc["totalSize"], 1);
    let item = &mc["Metadata"][0];
    assert_eq!(item["ratingKey"], HEAT);
    assert_eq!(item["guid"], format!("plex://movie/{HEAT}"));
    for field in [
        "title",
        "type",
        "year",
        "thumb",
        "addedAt",
        "contentRating",
        "rating",
    ] {
        assert!(!item[field].is_null(), "{field}");
    }
    assert_eq!(r.header("x-cache"), Some("MISS"));
    let seen = w.discover.seen_path("/library/sections/watchlist/all");
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.q("includeAdvanced"), Some("1"));
    assert_eq!(s.q("includeMeta"), Some("1"));
    assert_eq!(s.q("X-Plex-Container-Start"), Some("0"));
    assert_eq!(s.q("X-Plex-Container-Size"), Some("200"));
    assert_eq!(s.header("accept"), Some("application/json"));
    assert!(s.header("x-plex-client-identifier").is_some());

    assert_eq!(
        b.get("/api/plextv/watchlist").await.header("x-cache"),
        Some("HIT")
    );
    assert_eq!(
        w.discover
            .seen_path("/library/sections/watchlist/all")
            .len(),
        1
    );

    w.discover.set_watchlist(&[HEAT, SEVERANCE]);
    let r = b.get("/api/plextv/watchlist?start=1&size=1").await;
    let mc = &r.json()["MediaContainer"];
    assert_eq!(
        (mc["offset"].clone(), mc["size"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(mc["Metadata"][0]["ratingKey"], SEVERANCE);
    let s = w.discover.seen_path("/library/sections/watchlist/all");
    assert_eq!(s[1].q("X-Plex-Container-Start"), Some("1"));
    assert_eq!(s[1].q("X-Plex-Container-Size"), Some("1"));

    b.get("/api/plextv/watchlist?size=abc")
        .await
        .assert_error(400, "invalid_paging");
    b.get("/api/plextv/watchlist?size=100000")
        .await
        .assert_error(400, "invalid_paging");
    w.assert_token_only_in_headers();
    assert_logs_clean(&log, &canary);
}

#[tokio::test]
async fn writes_resolve_every_id_the_frontend_sends_to_the_discover_key() {
    let log = LogCapture::install();
    let w = World::start().await;
    let canary = w.canary();
    let mut b = Browser::new(&w.app.running.url(), &canary);
    sign_in(&mut b, "discover-browser-2").await;
    w.discover.set_watchlist(&[]);
    assert_eq!(
        b.get("/api/plextv/watchlist").await.json()["MediaContainer"]["size"],
        0
    );

    let put = |id: &str| format!("/api/plextv/watchlist/{}", encode(id));
    // A plex:// guid: its 24-hex tail, through actions/addToWatchlist.
    let r = send(
        &mut b,
        Method::PUT,
        put(&format!("plex://show/{SEVERANCE}")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"ok": true, "status": 200}));
    let add = w.discover.seen_path("/actions/addToWatchlist");
    assert_eq!(add[0].method, "PUT");
    assert_eq!(add[0].q("ratingKey"), Some(SEVERANCE));
    assert_eq!(w.discover.watchlist(), [SEVERANCE]);

    // tmdb:// and imdb:// are matched through the metadata provider.
    let r = send(&mut b, Method::PUT, put("tmdb://949")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let matches = w.discover.seen_path("/library/metadata/matches");
    assert!(
        matches
            .iter()
            .any(|m| m.q("type") == Some("1") && m.q("guid") == Some("tmdb://949"))
    );
    assert!(
        matches.iter().any(|m| m.q("type") == Some("2")),
        "a TMDB id may be a show too"
    );
    send(&mut b, Method::PUT, put("imdb://tt2543164")).await;
    assert_eq!(w.discover.watchlist(), [SEVERANCE, HEAT, ARRIVAL_MOVIE]);

    // The cached list was invalidated by the writes.
    let r = b.get("/api/plextv/watchlist").await;
    assert_eq!(r.header("x-cache"), Some("MISS"));
    assert_eq!(r.json()["MediaContainer"]["size"], 3);

    // A bare Discover key, and the frontend's `plex:<key>`.
    assert_eq!(send(&mut b, Method::DELETE, put(HEAT)).await.status, 200);
    assert_eq!(
        send(
            &mut b,
            Method::DELETE,
            put(&format!("plex:{ARRIVAL_MOVIE}"))
        )
        .await
        .status,
        200
    );
    let removes = w.discover.seen_path("/actions/removeFromWatchlist");
    assert_eq!(removes[0].method, "PUT");
    assert_eq!(w.discover.watchlist(), [SEVERANCE]);

    // A library ratingKey: the item's plex:// guid from the user's server (server token there).
    let r = send(&mut b, Method::PUT, put("101")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(w.discover.watchlist(), [SEVERANCE, DEMO_MOVIE]);
    assert!(
        w.plex
            .requests()
            .iter()
            .any(|r| r.path == "/library/metadata/101"
                && r.header("x-plex-token") == Some(w.plex.token()))
    );

    // TMDB numbers movies and shows separately: an id naming both must say which to add…
    send(&mut b, Method::PUT, put("tmdb://329865"))
        .await
        .assert_error(409, "watchlist_id_ambiguous");
    let r = send(
        &mut b,
        Method::PUT,
        format!("{}?type=show", put("tmdb://329865")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(w.discover.watchlist().contains(&ARRIVALS_SHOW));
    // …while removing picks the one on the watchlist.
    assert_eq!(
        send(&mut b, Method::DELETE, put("tmdb://329865"))
            .await
            .status,
        200
    );
    assert!(!w.discover.watchlist().contains(&ARRIVALS_SHOW));

    // Unknown and malformed ids.
    send(&mut b, Method::PUT, put("tmdb://123456789"))
        .await
        .assert_error(404, "watchlist_id_unknown");
    send(&mut b, Method::PUT, put("aaaaaaaaaaaaaaaaaaaaaaaa"))
        .await
        .assert_error(404, "plextv_not_found");
    for bad in [
        "../../library/sections",
        "http://evil.example/x",
        "tmdb://9x",
        "plex://movie/zz",
    ] {
        send(&mut b, Method::PUT, put(bad))
            .await
            .assert_error(400, "invalid_watchlist_id");
    }
    send(&mut b, Method::PUT, format!("{}?type=film", put(HEAT)))
        .await
        .assert_error(400, "invalid_type");
    assert_eq!(CATALOG.len(), 5);
    w.assert_token_only_in_headers();
    assert_logs_clean(&log, &canary);
}

#[tokio::test]
async fn discover_errors_and_its_429_reach_the_browser_as_the_contract_says() {
    let log = LogCapture::install();
    let w = World::start().await;
    let canary = w.canary();
    let mut b = Browser::new(&w.app.running.url(), &canary);
    sign_in(&mut b, "discover-browser-3").await;

    w.discover.set_fault(Fault::RateLimited);
    let r = b.get("/api/plextv/watchlist").await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("30"));
    let j = r.json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["retryAfter"], "30");
    assert_eq!(j["error"]["code"], "rate_limited");
    let r = b
        .request(
            Method::PUT,
            &format!("/api/plextv/watchlist/{HEAT}"),
            &[],
            None,
            true,
        )
        .await;
    r.assert_error(429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("30"));

    w.discover.set_fault(Fault::ServerError);
    b.get("/api/plextv/watchlist")
        .await
        .assert_error(502, "plextv_error");
    w.discover.set_fault(Fault::Unauthorized);
    b.get("/api/plextv/watchlist")
        .await
        .assert_error(401, "plextv_unauthorized");
    w.discover.set_fault(Fault::None);
    assert_eq!(
        b.get("/api/plextv/watchlist").await.status,
        200,
        "errors are not cached"
    );

    // VOD ratings (for /api/plex/vod/ratings/:id): the item with its Rating[], token as a header.
    let discover = w.app.running.state().discover().clone();
    let item = discover.vod_metadata(ACCOUNT_TOKEN, HEAT).await.unwrap();
    assert_eq!(item["Rating"][0]["image"], "imdb://image.rating");
    let s = w.discover.seen_path(&format!("/library/metadata/{HEAT}"));
    assert_eq!(s[0].q("includeReviews"), Some("1"));
    assert_eq!(s[0].q("includeExternalMedia"), Some("1"));
    assert!(discover.vod_metadata(ACCOUNT_TOKEN, "../x").await.is_err());
    w.assert_token_only_in_headers();
    assert_logs_clean(&log, &canary);
}

/// The binary as an operator runs it (JSON logs at debug level) with every service configured:
/// sign-in, TMDB with the default and a user key, the Trakt device flow and a user call, the
/// Discover watchlist. No secret appears in a response, stdout or stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_response_or_a_log_line_of_the_real_binary() {
    const TMDB_DEFAULT: &str = "tmdb-default-key-3f9a8b7c6d5e";
    const TMDB_USER: &str = "tmdb-user-key-1a2b3c4d5e6f";
    const TRAKT_ID: &str = "trakt-id-binary-0001";
    const TRAKT_SECRET: &str = "trakt-secret-binary-9e8d7c6b";
    let discover = FakeDiscover::start(ACCOUNT_TOKEN).await;
    let plextv = FakePlexTv::start(1, 7070, ACCOUNT_TOKEN).await;
    let tmdb = FakeTmdb::start(&[TMDB_DEFAULT, TMDB_USER]).await;
    let trakt = FakeTrakt::start(TRAKT_ID, TRAKT_SECRET).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_plexgate"))
        .args([
            // Port 0: a port picked here and released could be taken by another test before
            // the child binds it; the address in use is read back from the listening line.
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "serve",
        ])
        .env("PLEXGATE_STORAGE_DATABASE", dir.path().join("db.sqlite"))
        .env("PLEXGATE_PLEXTV_URL", &plextv.url)
        .env("PLEXGATE_DISCOVER_URL", &discover.url)
        .env("PLEXGATE_DISCOVER_METADATA_URL", &discover.url)
        .env("PLEXGATE_DISCOVER_VOD_URL", &discover.url)
        .env("PLEXGATE_TMDB_URL", &tmdb.url)
        .env("PLEXGATE_TMDB_DEFAULT_KEY", TMDB_DEFAULT)
        .env("PLEXGATE_TRAKT_URL", &trakt.url)
        .env("PLEXGATE_TRAKT_CLIENT_ID", TRAKT_ID)
        .env("PLEXGATE_TRAKT_CLIENT_SECRET", TRAKT_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plexgate");
    let output = Arc::new(Mutex::new(String::new()));
    let (listening_tx, listening) = std::sync::mpsc::channel::<String>();
    let mut readers = Vec::new();
    for stream in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        let out = output.clone();
        let listening_tx = listening_tx.clone();
        readers.push(std::thread::spawn(move || {
            // Bytes, not `lines()`: one line that is not UTF-8 must not end the capture.
            for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line);
                if line.contains("plexgate listening") {
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                    if let Some(addr) = v["addr"].as_str() {
                        let _ = listening_tx.send(addr.to_string());
                    }
                }
                let mut o = out.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        }));
    }
    // Both readers hold a sender: if the child dies before listening, the wait ends at once.
    drop(listening_tx);
    let addr = tokio::task::spawn_blocking(move || listening.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    let Ok(addr) = addr else {
        let _ = child.kill();
        panic!(
            "plexgate did not start listening:\n{}",
            output.lock().unwrap()
        );
    };
    let origin = format!("http://{addr}");

    let mut secrets = vec![
        ACCOUNT_TOKEN.to_string(),
        TMDB_DEFAULT.into(),
        TMDB_USER.into(),
        TRAKT_SECRET.into(),
    ];
    for n in 1..=3 {
        secrets.push(format!("trakt-access-{n:04}-a8f3c2d1e9b7"));
        secrets.push(format!("trakt-refresh-{n:04}-77c1d0e4f2a9"));
    }
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let canary = Canary::new(&refs);
    let mut b = Browser::new(&origin, &canary);
    sign_in(&mut b, "binary-browser").await;

    assert_eq!(b.get("/api/tmdb/trending/all/day").await.status, 200);
    let body = json!({"apiKey": TMDB_USER}).to_string().into_bytes();
    let r = b
        .request(
            Method::POST,
            "/api/tmdb/validate-key",
            &[("content-type", "application/json")],
            Some(body),
            true,
        )
        .await;
    assert_eq!(r.json()["valid"], true);
    assert_eq!(
        b.get("/api/tmdb/movie/949?append_to_response=external_ids")
            .await
            .status,
        200
    );
    assert_eq!(
        tmdb.seen_path("/movie/949")[0].q("api_key"),
        Some(TMDB_USER)
    );

    let dc = b.post("/api/trakt/oauth/device/code").await.json()["device_code"].clone();
    let poll = json!({"code": dc}).to_string().into_bytes();
    for _ in 0..3 {
        b.request(
            Method::POST,
            "/api/trakt/oauth/device/token",
            &[("content-type", "application/json")],
            Some(poll.clone()),
            true,
        )
        .await;
    }
    assert_eq!(b.get("/api/trakt/users/me").await.status, 200);
    assert_eq!(
        b.get("/api/trakt/trending/movies?limit=1").await.status,
        200
    );

    assert_eq!(b.get("/api/plextv/watchlist").await.status, 200);
    let r = b
        .request(
            Method::PUT,
            &format!("/api/plextv/watchlist/{}", encode("tmdb://95396")),
            &[],
            None,
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Stopped as an operator stops it, so the log writer flushes every queued line: a SIGKILL
    // could drop the last ones and fail the checks below for a reason that is not a bug.
    sigterm(&child);
    let status =
        tokio::task::spawn_blocking(move || exit_within(&mut child, Duration::from_secs(30)))
            .await
            .unwrap();
    // The pipes close with the process: every line is in once both readers are done.
    for r in readers {
        r.join().unwrap();
    }
    let logs = output.lock().unwrap().clone();
    let Some(status) = status else {
        panic!("plexgate did not exit within 30 s of SIGTERM:\n{logs}");
    };
    assert!(
        status.success(),
        "plexgate exited with {status} after SIGTERM:\n{logs}"
    );
    assert!(
        logs.contains("\"route\":\"/api/tmdb/validate-key\""),
        "no access line for /api/tmdb/validate-key in the binary's output:\n{logs}"
    );
    assert!(
        logs.contains("Trakt connected"),
        "no \"Trakt connected\" line in the binary's output:\n{logs}"
    );
    if let Some(found) = canary.find(logs.as_bytes()) {
        panic!("LEAK in the binary's output: {found}\n{logs}");
    }
}
