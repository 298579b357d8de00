//! `/api/plex/*` against the embedded demo Plex: the exact JSON shapes the frontend reads
//! (contract §3.2.4, §4.3), what Plex received (path, query, token as a header only), cache hits
//! and invalidation after writes, progress coalescing, 401/400 on every route, upstream error
//! mapping, two users on one server, and the leak canary over every response.

use std::time::Duration;

use crate::support::browser::{Browser, Seen};
use crate::support::plex_world::PlexWorld;
use reqwest::Method;
use serde_json::{Value, json};

async fn post_json(b: &mut Browser<'_>, path: &str, body: Value) -> Seen {
    b.request(
        Method::POST,
        path,
        &[("content-type", "application/json")],
        Some(body.to_string().into_bytes()),
        true,
    )
    .await
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map_or(vec![], |o| o.keys().cloned().collect());
    k.sort();
    k
}

#[tokio::test]
async fn every_plex_route_needs_a_session() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut anon = crate::support::browser::Browser::new(&w.demo.url(), &canary);
    let routes: &[(Method, &str)] = &[
        (Method::GET, "/api/plex/libraries"),
        (Method::GET, "/api/plex/library/1/all"),
        (Method::GET, "/api/plex/library/1/genre"),
        (Method::GET, "/api/plex/dir/library/metadata/1000/children"),
        (Method::GET, "/api/plex/metadata/101"),
        (Method::GET, "/api/plex/search?query=bars"),
        (Method::GET, "/api/plex/findByGuid?guid=tmdb://999101"),
        (Method::GET, "/api/plex/ondeck"),
        (Method::GET, "/api/plex/continue"),
        (Method::GET, "/api/plex/recent"),
        (Method::GET, "/api/plex/test"),
        (Method::GET, "/api/plex/ratings/101"),
        (Method::POST, "/api/plex/progress"),
        (Method::POST, "/api/plex/scrobble"),
        (Method::POST, "/api/plex/rate"),
        (Method::PUT, "/api/plex/parts/301"),
        (Method::POST, "/api/plex/transcode/decision"),
        (Method::GET, "/api/plex/no/such/route"),
        (
            Method::GET,
            "/api/image/plex?path=/library/metadata/101/thumb/1",
        ),
        (
            Method::GET,
            "/api/image/proxy?url=https://image.tmdb.org/t/p/w500/a.jpg",
        ),
        (Method::GET, "/api/image/cache/stats"),
        (Method::DELETE, "/api/image/cache"),
        (Method::GET, "/api/cache/stats"),
        (Method::GET, "/api/cache/keys?bucket=plex"),
        (Method::GET, "/api/cache/get?bucket=plex&key=x"),
        (Method::DELETE, "/api/cache/key?bucket=plex&key=x"),
        (Method::POST, "/api/cache/flush"),
        (Method::POST, "/api/cache/warm"),
        (Method::GET, "/api/cache/config"),
        (Method::GET, "/api/cache/health"),
        (Method::POST, "/api/cache/bulk"),
    ];
    for (m, p) in routes {
        let r = anon.request(m.clone(), p, &[], None, false).await;
        r.assert_error(401, "unauthorized");
    }
    assert!(w.plex.requests().is_empty(), "nothing reached Plex");
    // Signed in, an unknown /api/plex path is a 404.
    let mut a = w.alice(&canary).await;
    a.get("/api/plex/no/such/route")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn library_reads_have_the_contract_shapes_and_are_cached_per_route() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;

    // #13 libraries: the Directory array.
    let libs = a.get("/api/plex/libraries").await;
    assert_eq!(libs.status, 200, "{}", libs.text());
    assert_eq!(libs.header("x-cache"), Some("MISS"));
    let l = libs.json();
    assert_eq!(l.as_array().unwrap().len(), 2);
    assert_eq!(
        (l[0]["key"].as_str(), l[0]["type"].as_str()),
        (Some("1"), Some("movie"))
    );
    assert_eq!(l[1]["type"], "show");
    assert_eq!(
        a.get("/api/plex/libraries").await.header("x-cache"),
        Some("HIT")
    );
    assert_eq!(
        w.upstream("/library/sections").len(),
        1,
        "second call from cache"
    );

    // #14 library contents: the MediaContainer, offset/limit → container paging, filters forwarded.
    let all = a
        .get("/api/plex/library/1/all?sort=addedAt:desc&offset=1&limit=2&X-Plex-Token=evil&type=1")
        .await;
    assert_eq!(all.status, 200, "{}", all.text());
    let mc = all.json();
    assert_eq!(
        (
            mc["size"].as_u64(),
            mc["totalSize"].as_u64(),
            mc["offset"].as_u64()
        ),
        (Some(2), Some(4), Some(1))
    );
    assert!(mc.get("MediaContainer").is_none(), "not wrapped");
    let titles: Vec<&str> = mc["Metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ratingKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["103", "102"],
        "sorted by addedAt desc, second page"
    );
    let up = w.upstream("/library/sections/1/all");
    assert_eq!(up.len(), 1);
    assert_eq!(
        up[0].query_param("X-Plex-Container-Start").as_deref(),
        Some("1")
    );
    assert_eq!(
        up[0].query_param("X-Plex-Container-Size").as_deref(),
        Some("2")
    );
    assert_eq!(up[0].query_param("sort").as_deref(), Some("addedAt:desc"));
    assert_eq!(up[0].query_param("type").as_deref(), Some("1"));
    assert_eq!(up[0].query_param("offset"), None);
    assert_eq!(
        up[0].query_param("X-Plex-Token"),
        None,
        "browser token dropped"
    );
    assert_eq!(
        a.get("/api/plex/library/1/all?sort=addedAt:desc&offset=1&limit=2&type=1")
            .await
            .header("x-cache"),
        Some("HIT")
    );

    // #15 secondary directories.
    let genre = a.get("/api/plex/library/1/genre").await.json();
    assert!(
        genre["Directory"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["title"] == "Drama" && d["key"] == "42")
    );
    let colls = a.get("/api/plex/library/1/collections").await.json();
    assert_eq!(colls["Metadata"][0]["ratingKey"], "900");
    assert_eq!(colls["Metadata"][0]["title"], "Test Card Collection");

    // #17 dir: seasons, episodes, genre rows, markers; query forwarded and part of the key.
    let seasons = a
        .get("/api/plex/dir/library/metadata/1000/children")
        .await
        .json();
    assert_eq!(seasons["Metadata"][0]["ratingKey"], "1001");
    let eps = a
        .get("/api/plex/dir/library/metadata/1001/children?nocache=1")
        .await
        .json();
    let idx: Vec<u64> = eps["Metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, [1, 2, 3]);
    assert!(eps["Metadata"][0]["duration"].is_number());
    assert_eq!(
        w.upstream("/library/metadata/1001/children")[0]
            .query_param("nocache")
            .as_deref(),
        Some("1")
    );
    let markers = a
        .get("/api/plex/dir/library/metadata/1002?includeMarkers=1")
        .await
        .json();
    assert_eq!(markers["Metadata"][0]["Marker"][0]["type"], "intro");
    let row = a
        .get("/api/plex/dir/library/sections/1/genre/42")
        .await
        .json();
    assert_eq!(row["Metadata"][0]["ratingKey"], "102");
    assert_eq!(row["title2"], "Drama");

    // #18 metadata: the bare first Metadata object with streams; flags → Extras (trailer part).
    let m = a.get("/api/plex/metadata/101").await;
    assert_eq!(m.header("x-cache"), Some("MISS"));
    let m = m.json();
    assert_eq!(m["ratingKey"], "101");
    assert_eq!(m["Media"][0]["Part"][0]["Stream"][1]["streamType"], 2);
    assert!(
        m["Guid"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == "tmdb://999101")
    );
    assert!(m.get("Extras").is_none());
    let x = a
        .get("/api/plex/metadata/101?includeExtras=1&includeExternalMedia=true&includeChildren=0")
        .await
        .json();
    assert_eq!(
        x["Extras"]["Metadata"][0]["Media"][0]["Part"][0]["key"],
        "/library/parts/308/1716000000/file.mp4"
    );
    let q = w
        .upstream("/library/metadata/101")
        .last()
        .unwrap()
        .query
        .clone()
        .unwrap();
    assert_eq!(q, "includeExtras=1&includeExternalMedia=1");
    let show = a
        .get("/api/plex/metadata/1000?includeChildren=1")
        .await
        .json();
    assert_eq!(show["Children"]["Metadata"][0]["title"], "Season 1");
    assert_eq!(
        a.get("/api/plex/metadata/101").await.header("x-cache"),
        Some("HIT")
    );

    // #19 search: the Metadata array; typed and untyped cached separately.
    let s = a.get("/api/plex/search?query=colour").await.json();
    assert_eq!(s.as_array().unwrap().len(), 1);
    assert_eq!(s[0]["ratingKey"], "102");
    let s = a.get("/api/plex/search?query=test&type=2").await.json();
    assert_eq!(s[0]["ratingKey"], "1000");
    assert_eq!(
        a.get("/api/plex/search?query=nothing-like-this")
            .await
            .json(),
        json!([])
    );
    assert_eq!(
        w.upstream("/search")[1].query_param("type").as_deref(),
        Some("2")
    );

    // #20 findByGuid: the MediaContainer with Guid[] (includeGuids=1), or {"Metadata":[]}.
    let f = a
        .get("/api/plex/findByGuid?guid=tmdb://999103&type=1")
        .await
        .json();
    assert_eq!(f["Metadata"][0]["ratingKey"], "103");
    assert!(f["Metadata"][0]["Guid"].is_array());
    let g = &w.upstream("/library/all")[0];
    assert_eq!(g.query_param("includeGuids").as_deref(), Some("1"));
    assert_eq!(
        a.get("/api/plex/findByGuid?guid=imdb://tt0000000")
            .await
            .json(),
        json!({"Metadata": []})
    );
    // The global lookup fails: the section walk finds it.
    w.plex.faults().fail_nth(1, 500);
    let f = a
        .get("/api/plex/findByGuid?guid=tvdb://991000&type=2")
        .await;
    assert_eq!(f.status, 200, "{}", f.text());
    assert_eq!(f.json()["Metadata"][0]["ratingKey"], "1000");
    assert!(
        w.upstream("/library/sections/2/all")
            .iter()
            .any(|r| r.query_param("guid").as_deref() == Some("tvdb://991000"))
    );
    assert!(
        w.upstream("/library/sections/1/all")
            .iter()
            .all(|r| r.query_param("guid").as_deref() != Some("tvdb://991000")),
        "type 2 walks show sections only"
    );

    // #21-#23 home rows: bare arrays.
    assert_eq!(a.get("/api/plex/ondeck").await.json(), json!([]));
    assert_eq!(a.get("/api/plex/continue").await.json(), json!([]));
    let recent = a.get("/api/plex/recent").await.json();
    assert_eq!(recent[0]["ratingKey"], "104");
    let recent_tv = a.get("/api/plex/recent?library=2").await.json();
    assert_eq!(recent_tv[0]["grandparentTitle"], "Test Pattern Chronicles");
    assert!(!w.upstream("/library/sections/2/recentlyAdded").is_empty());

    // #30 test.
    let t = a.get("/api/plex/test").await.json();
    assert_eq!(t["connected"], true);
    assert_eq!(t["capabilities"]["transcoderVideo"], true);
    assert_eq!(keys(&t["capabilities"]).len(), 8);

    // #31 ratings from Rating[]: IMDb raw, RT ×10 as integers, audienceRating fallback, votes.
    assert_eq!(
        a.get("/api/plex/ratings/101").await.json(),
        json!({"imdb": {"rating": 7.6}, "rottenTomatoes": {"critic": 82, "audience": 79}})
    );
    assert_eq!(
        a.get("/api/plex/ratings/102").await.json(),
        json!({"imdb": {"rating": 6.9, "votes": 1234}, "rottenTomatoes": {"critic": 44, "audience": 61}})
    );
    assert_eq!(
        a.get("/api/plex/ratings/103").await.json(),
        json!({"imdb": null, "rottenTomatoes": {"audience": 86}})
    );
    assert_eq!(
        a.get("/api/plex/ratings/101").await.header("x-cache"),
        Some("HIT"),
        "reuses the metadata entry"
    );
    w.assert_upstream_hygiene();
    assert!(canary.scanned() > 40);
}

#[tokio::test]
async fn validated_parameters_answer_400_and_nothing_reaches_plex() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    for (path, code) in [
        (
            "/api/plex/metadata/5d776b59ad5437001f79c6f8",
            "invalid_rating_key",
        ),
        (
            "/api/plex/metadata/101%2F..%2F..%2Faccounts",
            "invalid_rating_key",
        ),
        ("/api/plex/ratings/abc", "invalid_rating_key"),
        ("/api/plex/library/x/all", "invalid_section"),
        ("/api/plex/library/1/all?offset=-1", "invalid_parameter"),
        ("/api/plex/library/1/all?limit=abc", "invalid_parameter"),
        ("/api/plex/library/1/all?limit=100000", "invalid_parameter"),
        ("/api/plex/library/1/refresh", "invalid_directory"),
        ("/api/plex/dir/accounts", "invalid_path"),
        ("/api/plex/dir/library/../accounts", "invalid_path"),
        ("/api/plex/dir/library/%2e%2e/accounts", "invalid_path"),
        ("/api/plex/dir/library%2fsections", "invalid_path"),
        ("/api/plex/dir/library/sections/1/refresh", "invalid_path"),
        ("/api/plex/search", "missing_query"),
        ("/api/plex/search?query=", "missing_query"),
        ("/api/plex/search?query=x&type=7", "invalid_type"),
        ("/api/plex/findByGuid", "missing_guid"),
        ("/api/plex/findByGuid?guid=949", "invalid_guid"),
        ("/api/plex/findByGuid?guid=tmdb://9&type=x", "invalid_type"),
        ("/api/plex/recent?library=all", "invalid_section"),
        ("/api/plex/test?serverId=../x", "invalid_server_id"),
    ] {
        a.get(path).await.assert_error(400, code);
    }
    for (path, body, code) in [
        ("/api/plex/progress", json!({}), "missing_parameters"),
        (
            "/api/plex/progress",
            json!({"ratingKey": "101", "duration": 10}),
            "missing_parameters",
        ),
        (
            "/api/plex/progress",
            json!({"ratingKey": "101", "time": -5, "duration": 10}),
            "invalid_parameter",
        ),
        (
            "/api/plex/progress",
            json!({"ratingKey": "101", "time": 5, "duration": 10, "state": "dancing"}),
            "invalid_state",
        ),
        (
            "/api/plex/progress",
            json!({"ratingKey": "abc", "time": 5, "duration": 10}),
            "invalid_rating_key",
        ),
        ("/api/plex/scrobble", json!({}), "missing_parameters"),
        (
            "/api/plex/scrobble",
            json!({"ratingKey": "1&identifier=x"}),
            "invalid_rating_key",
        ),
        (
            "/api/plex/rate",
            json!({"ratingKey": "101"}),
            "missing_parameters",
        ),
        (
            "/api/plex/rate",
            json!({"ratingKey": "101", "rating": 11}),
            "invalid_rating",
        ),
        (
            "/api/plex/rate",
            json!({"ratingKey": "101", "rating": -1}),
            "invalid_rating",
        ),
        (
            "/api/plex/transcode/decision",
            json!({}),
            "missing_parameters",
        ),
        (
            "/api/plex/transcode/decision",
            json!({"ratingKey": "101", "quality": "NaN"}),
            "invalid_parameter",
        ),
        (
            "/api/plex/transcode/decision",
            json!({"ratingKey": "101", "resolution": "big"}),
            "invalid_resolution",
        ),
        (
            "/api/plex/transcode/decision",
            json!({"ratingKey": "101", "mediaIndex": "a"}),
            "invalid_parameter",
        ),
    ] {
        post_json(&mut a, path, body).await.assert_error(400, code);
    }
    let bad_json = a
        .request(
            Method::POST,
            "/api/plex/progress",
            &[("content-type", "application/json")],
            Some(b"{".to_vec()),
            true,
        )
        .await;
    bad_json.assert_error(400, "invalid_json");
    for (q, code) in [
        ("", "missing_parameters"),
        ("audioStreamID=x", "invalid_parameter"),
    ] {
        a.request(
            Method::PUT,
            &format!("/api/plex/parts/301?{q}"),
            &[],
            None,
            true,
        )
        .await
        .assert_error(400, code);
    }
    a.request(
        Method::PUT,
        "/api/plex/parts/abc?audioStreamID=1",
        &[],
        None,
        true,
    )
    .await
    .assert_error(400, "invalid_rating_key");
    assert!(
        w.plex.requests().is_empty(),
        "no invalid request reached Plex"
    );
}

#[tokio::test]
async fn plex_errors_map_to_json_and_are_not_cached() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    a.get("/api/plex/metadata/999")
        .await
        .assert_error(404, "plex_not_found");
    w.plex.faults().fail_nth(1, 401);
    a.get("/api/plex/metadata/101")
        .await
        .assert_error(502, "plex_unauthorized");
    w.plex.faults().fail_nth(1, 503);
    a.get("/api/plex/libraries")
        .await
        .assert_error(503, "plex_unavailable");
    w.plex.faults().fail_nth(1, 500);
    a.get("/api/plex/ondeck")
        .await
        .assert_error(502, "plex_error");
    // Nothing of that was cached: the same calls now work.
    let m = a.get("/api/plex/metadata/101").await;
    assert_eq!(
        (m.status.as_u16(), m.header("x-cache")),
        (200, Some("MISS"))
    );
    assert_eq!(a.get("/api/plex/libraries").await.status, 200);
    // The browser never learns where Plex lives.
    w.plex.faults().fail_nth(1, 404);
    let e = a.get("/api/plex/search?query=x").await;
    e.assert_error(404, "plex_not_found");
    assert!(!e.text().contains(&w.plex.url()), "{}", e.text());
    assert!(!e.text().contains("127.0.0.1"), "{}", e.text());
}

#[tokio::test]
async fn writes_reach_plex_coalesce_and_invalidate_the_cache() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    // Warm the caches the writes must invalidate.
    assert!(
        a.get("/api/plex/metadata/101")
            .await
            .json()
            .get("viewOffset")
            .is_none()
    );
    let _ = a.get("/api/plex/metadata/101?includeExtras=1").await;
    assert_eq!(a.get("/api/plex/ondeck").await.json(), json!([]));
    assert_eq!(a.get("/api/plex/continue").await.json(), json!([]));
    assert_eq!(
        a.get("/api/plex/metadata/101").await.header("x-cache"),
        Some("HIT")
    );

    // #24 progress: first report goes out at once with the full timeline query.
    let p = post_json(
        &mut a,
        "/api/plex/progress",
        json!({"ratingKey": "101", "time": 2000.7, "duration": 10000, "state": "playing"}),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(
        p.json(),
        json!({"message": "Progress updated", "ratingKey": "101", "time": 2000.7, "duration": 10000, "state": "playing"})
    );
    let tl = w.upstream("/:/timeline");
    assert_eq!(tl.len(), 1);
    for (k, v) in [
        ("ratingKey", "101"),
        ("key", "/library/metadata/101"),
        ("time", "2000"),
        ("playbackTime", "2000"),
        ("duration", "10000"),
        ("state", "playing"),
        ("context", "library"),
        ("identifier", "com.plexapp.plugins.library"),
    ] {
        assert_eq!(tl[0].query_param(k).as_deref(), Some(v), "{k}");
    }
    assert!(tl[0].header("x-plex-session-identifier").is_some());
    // Invalidated: every metadata variant, on deck, continue watching.
    let m = a.get("/api/plex/metadata/101").await;
    assert_eq!(m.header("x-cache"), Some("MISS"));
    assert_eq!(m.json()["viewOffset"], 2000);
    let x = a.get("/api/plex/metadata/101?includeExtras=1").await;
    assert_eq!(
        (x.header("x-cache"), x.json()["viewOffset"].as_u64()),
        (Some("MISS"), Some(2000))
    );
    assert_eq!(
        a.get("/api/plex/continue").await.json()[0]["viewOffset"],
        2000
    );
    assert_eq!(
        a.get("/api/plex/ondeck").await.json()[0]["ratingKey"],
        "101"
    );

    // 3-4 posts a second: all answered 200, held, and only the newest reaches Plex at the end
    // of the interval; a state change goes out at once.
    for t in [2250, 2500, 2750, 3000, 3250] {
        let r = post_json(
            &mut a,
            "/api/plex/progress",
            json!({"ratingKey": "101", "time": t, "duration": 10000, "state": "playing"}),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["coalesced"], true);
    }
    assert_eq!(
        w.upstream("/:/timeline").len(),
        1,
        "same-state reports are held"
    );
    // The flush comes after the coalescing interval: await it rather than sleep past it.
    tokio::time::timeout(Duration::from_secs(30), async {
        while w.upstream("/:/timeline").len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the held timeline report was never flushed");
    let tl = w.upstream("/:/timeline");
    assert_eq!(tl.len(), 2, "one flush after the interval");
    assert_eq!(
        tl[1].query_param("time").as_deref(),
        Some("3250"),
        "the newest position"
    );
    let r = post_json(
        &mut a,
        "/api/plex/progress",
        json!({"ratingKey": "101", "time": 3300, "duration": 10000, "state": "paused"}),
    )
    .await;
    assert!(r.json().get("coalesced").is_none());
    let r = post_json(
        &mut a,
        "/api/plex/progress",
        json!({"ratingKey": "101", "time": 9500, "duration": 10000}),
    )
    .await;
    assert_eq!(r.json()["state"], Value::Null, "echoes the state as sent");
    let tl = w.upstream("/:/timeline");
    assert_eq!(
        tl.len(),
        4,
        "paused and the derived stopped both went out at once"
    );
    assert_eq!(tl[2].query_param("state").as_deref(), Some("paused"));
    assert_eq!(
        tl[3].query_param("state").as_deref(),
        Some("stopped"),
        "≥ 90 % without a state"
    );
    let m = a.get("/api/plex/metadata/101").await.json();
    assert_eq!(m["viewCount"], 1, "watched");

    // #25 scrobble with identifier, invalidates.
    let _ = a.get("/api/plex/metadata/102").await;
    let s = post_json(&mut a, "/api/plex/scrobble", json!({"ratingKey": 102})).await;
    assert_eq!(
        s.json(),
        json!({"message": "Item marked as watched", "ratingKey": "102"})
    );
    let up = w.upstream("/:/scrobble");
    assert_eq!(
        (
            up[0].method.as_str(),
            up[0].query_param("identifier").as_deref()
        ),
        ("PUT", Some("com.plexapp.plugins.library"))
    );
    assert_eq!(a.get("/api/plex/metadata/102").await.json()["viewCount"], 1);

    // #26 rate.
    let r = post_json(
        &mut a,
        "/api/plex/rate",
        json!({"ratingKey": "102", "rating": 8}),
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"message": "Rating updated", "ratingKey": "102", "rating": 8})
    );
    assert_eq!(
        w.upstream("/:/rate")[0].query_param("rating").as_deref(),
        Some("8")
    );
    assert_eq!(
        a.get("/api/plex/metadata/102").await.json()["userRating"],
        8.0
    );

    // Stream selection: PUT /library/parts/{id}; later metadata shows the choice.
    let sel = a
        .request(
            Method::PUT,
            "/api/plex/parts/301?subtitleStreamID=403",
            &[],
            None,
            true,
        )
        .await;
    assert_eq!(sel.status, 200, "{}", sel.text());
    let put = &w.upstream("/library/parts/301")[0];
    assert_eq!(
        (
            put.method.as_str(),
            put.query_param("subtitleStreamID").as_deref()
        ),
        ("PUT", Some("403"))
    );
    assert_eq!(
        a.get("/api/plex/metadata/101").await.json()["Media"][0]["Part"][0]["Stream"][2]["selected"],
        true
    );
    let bad = a
        .request(
            Method::PUT,
            "/api/plex/parts/301?audioStreamID=999",
            &[],
            None,
            true,
        )
        .await;
    bad.assert_error(502, "plex_bad_request");

    // #27 decision: a GET with the HLS parameters; PMS's JSON back.
    let d = post_json(
        &mut a,
        "/api/plex/transcode/decision",
        json!({"ratingKey": "101", "quality": 2000, "resolution": "1280x720"}),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.text());
    assert!(d.json()["MediaContainer"]["generalDecisionCode"].is_number());
    let dec = &w.upstream("/video/:/transcode/universal/decision")[0];
    assert_eq!(dec.method.as_str(), "GET");
    for (k, v) in [
        ("protocol", "hls"),
        ("path", "/library/metadata/101"),
        ("maxVideoBitrate", "2000"),
        ("videoResolution", "1280x720"),
        ("directPlay", "0"),
        ("hasMDE", "1"),
    ] {
        assert_eq!(dec.query_param(k).as_deref(), Some(v), "{k}");
    }
    w.assert_upstream_hygiene();
}

#[tokio::test]
async fn two_users_on_one_server_never_see_each_others_cached_state() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut alice = w.alice(&canary).await;
    let mut bob = w.bob(&canary).await;
    // Both cache the item and their home rows.
    assert!(
        alice
            .get("/api/plex/metadata/101")
            .await
            .json()
            .get("viewOffset")
            .is_none()
    );
    assert!(
        bob.get("/api/plex/metadata/101")
            .await
            .json()
            .get("viewOffset")
            .is_none()
    );
    assert_eq!(bob.get("/api/plex/continue").await.json(), json!([]));
    // Alice watches.
    let p = post_json(
        &mut alice,
        "/api/plex/progress",
        json!({"ratingKey": "101", "time": 4000, "duration": 10000, "state": "paused"}),
    )
    .await;
    assert_eq!(p.status, 200);
    assert_eq!(
        alice.get("/api/plex/metadata/101").await.json()["viewOffset"],
        4000
    );
    assert_eq!(
        alice.get("/api/plex/continue").await.json()[0]["viewOffset"],
        4000
    );
    // Bob's answers never carry Alice's position: not from Plex, not from the cache.
    for _ in 0..2 {
        let m = bob.get("/api/plex/metadata/101").await;
        assert!(m.json().get("viewOffset").is_none(), "{}", m.text());
        assert_eq!(bob.get("/api/plex/continue").await.json(), json!([]));
    }
    // And the cache admin shows each only their own keys.
    let ak = alice.get("/api/cache/keys?bucket=plex").await.json();
    let bk = bob.get("/api/cache/keys?bucket=plex").await.json();
    let a_keys: Vec<&str> = ak["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let b_keys: Vec<&str> = bk["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(!a_keys.is_empty() && !b_keys.is_empty());
    assert!(a_keys.iter().all(|k| !b_keys.contains(k)));
    let alice_key = a_keys.iter().find(|k| k.contains("metadata:101")).unwrap();
    bob.get(&format!(
        "/api/cache/get?bucket=plex&key={}",
        plexgate::util::percent_encode(alice_key)
    ))
    .await
    .assert_error(404, "cache_key_not_found");
    // Bob's calls used Bob's token.
    assert!(
        w.upstream("/library/metadata/101")
            .iter()
            .any(|r| r.header("x-plex-token") == Some(crate::support::plex_world::BOB_TOKEN))
    );
}

#[tokio::test]
async fn scrub_thumbnails_and_photo_transcode_work_through_the_facade() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let servers = a.get("/api/auth/servers").await.json();
    let base = servers[0]["baseUrl"].as_str().unwrap().to_string();
    let scrub = a
        .get(&format!("{base}/library/parts/301/indexes/sd/4000"))
        .await;
    assert_eq!(scrub.status, 200, "{}", scrub.text());
    assert_eq!(scrub.header("content-type"), Some("image/jpeg"));
    assert_eq!(&scrub.body[..2], &[0xFF, 0xD8]);
    let photo = a
        .get(&format!("{base}/photo/:/transcode?url=%2Flibrary%2Fmetadata%2F101%2Fthumb%2F1716000000%3FX-Plex-Token%3Dleak&width=120&height=180&minSize=1&upscale=1"))
        .await;
    assert_eq!(photo.status, 200, "{}", photo.text());
    assert_eq!(&photo.body[..2], &[0xFF, 0xD8]);
    let up = &w.upstream("/photo/:/transcode")[0];
    assert_eq!(
        up.query_param("url").as_deref(),
        Some("/library/metadata/101/thumb/1716000000")
    );
    assert_eq!(up.query_param("width").as_deref(), Some("120"));
    a.get(&format!(
        "{base}/photo/:/transcode?url=http%3A%2F%2F169.254.169.254%2Fx"
    ))
    .await
    .assert_error(403, "ticket_scope");
    w.assert_upstream_hygiene();
}

/// A fake VOD provider: one catalogue item with ratings; records the token header it got.
async fn fake_vod() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>,
) {
    use http_body_util::Full;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let addr = crate::support::server::serve(move |req: hyper::Request<hyper::body::Incoming>| {
        let log = log.clone();
        async move {
            let token = req
                .headers()
                .get("x-plex-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let path = req.uri().path().to_string();
            log.lock()
                .unwrap()
                .push((format!("{path}?{}", req.uri().query().unwrap_or("")), token));
            let body = if path == "/library/metadata/5d776b59ad5437001f79c6f8" {
                json!({"MediaContainer": {"size": 1, "Metadata": [{
                "ratingKey": "5d776b59ad5437001f79c6f8", "imdbRatingCount": 650000,
                "Rating": [
                    {"image": "imdb://image.rating", "value": 8.3, "type": "audience"},
                    {"image": "rottentomatoes://image.rating.ripe", "value": 8.7, "type": "critic"}
                ]}]}})
                .to_string()
            } else {
                String::new()
            };
            let status = if body.is_empty() { 404 } else { 200 };
            hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(bytes::Bytes::from(body)))
                .unwrap()
        }
    })
    .await;
    let url = format!("http://{addr}");
    (url, seen)
}

#[tokio::test]
async fn vod_ratings_use_the_account_token_as_a_header() {
    let (vod, seen) = fake_vod().await;
    let w = PlexWorld::start(&[("discover.vod_url", vod.as_str())]).await;
    let state = w.demo.state().clone();
    let secrets = state.secrets().clone();
    let account_token = state
        .db()
        .read(move |c| {
            let u = plexgate::db::users::get_user_by_plex_id(c, plexgate::app::demo::DEMO_PLEX_ID)?
                .expect("demo user");
            plexgate::db::users::user_plex_token(c, u.id, &secrets)
        })
        .await
        .unwrap();
    let canary = crate::support::canary::Canary::new(&[w.plex.token(), &account_token]);
    let mut a = w.alice(&canary).await;
    let r = a
        .get("/api/plex/vod/ratings/5d776b59ad5437001f79c6f8")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"imdb": {"rating": 8.3, "votes": 650000}, "rottenTomatoes": {"critic": 87}})
    );
    a.get("/api/plex/vod/ratings/0000000000000000deadbeef")
        .await
        .assert_error(404, "plextv_not_found");
    a.get("/api/plex/vod/ratings/..%2F..%2Fx")
        .await
        .assert_error(400, "invalid_id");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "the invalid id never left plexgate");
    assert!(seen[0].0.contains("includeReviews=1"));
    assert!(!seen[0].0.to_ascii_lowercase().contains("token"));
    assert_eq!(seen[0].1.as_deref(), Some(account_token.as_str()));
    let mut anon = Browser::new(&w.demo.url(), &canary);
    anon.get_without_cookie("/api/plex/vod/ratings/5d776b59ad5437001f79c6f8")
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn every_cached_read_is_a_hit_on_the_second_call() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    for path in [
        "/api/plex/libraries",
        "/api/plex/library/2/all?type=4&sort=titleSort",
        "/api/plex/library/1/year",
        "/api/plex/dir/library/metadata/1000/allLeaves",
        "/api/plex/dir/library/metadata/1000/onDeck?nocache=5",
        "/api/plex/metadata/1002?includeChildren=1",
        "/api/plex/search?query=sine&type=1",
        "/api/plex/findByGuid?guid=imdb://tt9999104&type=1",
        "/api/plex/ondeck",
        "/api/plex/continue",
        "/api/plex/recent?library=1",
        "/api/plex/ratings/104",
    ] {
        let first = a.get(path).await;
        assert_eq!(first.status, 200, "{path}: {}", first.text());
        assert_eq!(first.header("x-cache"), Some("MISS"), "{path}");
        let n = w.plex.requests().len();
        let second = a.get(path).await;
        assert_eq!(second.header("x-cache"), Some("HIT"), "{path}");
        assert_eq!(second.body, first.body, "{path}");
        assert_eq!(
            w.plex.requests().len(),
            n,
            "{path}: no upstream call on a hit"
        );
    }
}
