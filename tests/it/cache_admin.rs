//! `/api/cache/*`: every route behind a session, every key confined to its owner — listing,
//! reading, deleting, flushing, warming and bulk operations never reach another user's entries.

use crate::support::browser::{Browser, Seen};
use crate::support::plex_world::PlexWorld;
use reqwest::Method;
use serde_json::{Value, json};

async fn send(b: &mut Browser<'_>, method: Method, path: &str, body: Option<Value>) -> Seen {
    let headers: &[(&str, &str)] = if body.is_some() {
        &[("content-type", "application/json")]
    } else {
        &[]
    };
    b.request(
        method,
        path,
        headers,
        body.map(|v| v.to_string().into_bytes()),
        true,
    )
    .await
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn cache_admin_is_per_user() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut alice = w.alice(&canary).await;
    let mut bob = w.bob(&canary).await;
    let _ = alice.get("/api/plex/metadata/101").await;
    let _ = alice.get("/api/plex/libraries").await;
    let _ = bob.get("/api/plex/libraries").await;

    // keys: only the caller's, paged.
    let ak = alice.get("/api/cache/keys?bucket=plex").await.json();
    assert_eq!(ak["bucket"], "plex");
    assert_eq!(ak["total"], 2);
    let a_keys = strings(&ak["keys"]);
    assert!(
        a_keys
            .iter()
            .all(|k| k.starts_with(&a_keys[0][..a_keys[0].find(':').unwrap() + 1]))
    );
    let page = alice
        .get("/api/cache/keys?bucket=plex&limit=1&offset=1")
        .await
        .json();
    assert_eq!(
        (
            page["limit"].as_u64(),
            page["offset"].as_u64(),
            page["keys"].as_array().unwrap().len()
        ),
        (Some(1), Some(1), 1)
    );
    let bk = strings(&bob.get("/api/cache/keys?bucket=plex").await.json()["keys"]);
    assert_eq!(bk.len(), 1);
    assert!(a_keys.iter().all(|k| !bk.contains(k)));

    // get: own key → value; another user's key → 404.
    let meta_key = a_keys
        .iter()
        .find(|k| k.contains("metadata:101"))
        .unwrap()
        .clone();
    let enc = plexgate::util::percent_encode(&meta_key);
    let got = alice
        .get(&format!("/api/cache/get?bucket=plex&key={enc}"))
        .await
        .json();
    assert_eq!(got["value"]["ratingKey"], "101");
    assert_eq!(got["key"], meta_key.as_str());
    assert!(got["size"].as_u64().unwrap() > 100);
    bob.get(&format!("/api/cache/get?bucket=plex&key={enc}"))
        .await
        .assert_error(404, "cache_key_not_found");

    // delete: another user's key is "not found" and stays.
    let del = send(
        &mut bob,
        Method::DELETE,
        &format!("/api/cache/key?bucket=plex&key={enc}"),
        None,
    )
    .await
    .json();
    assert_eq!(
        (del["deleted"].as_bool(), del["message"].as_str()),
        (Some(false), Some("Key not found"))
    );
    assert_eq!(
        alice
            .get(&format!("/api/cache/get?bucket=plex&key={enc}"))
            .await
            .status,
        200
    );

    // warm: always under the caller's prefix, so it cannot poison anyone else.
    let warm = send(
        &mut bob,
        Method::POST,
        "/api/cache/warm",
        Some(json!({"bucket": "plex", "key": meta_key, "value": {"ratingKey": "666"}, "ttl": 60})),
    )
    .await;
    assert_eq!(warm.status, 200, "{}", warm.text());
    let wk = warm.json()["key"].as_str().unwrap().to_string();
    assert_ne!(wk, meta_key);
    assert!(wk.ends_with(&meta_key));
    let mine = alice.get("/api/plex/metadata/101").await;
    assert_eq!(
        (mine.header("x-cache"), mine.json()["ratingKey"].as_str()),
        (Some("HIT"), Some("101"))
    );

    // flush: only the caller's keys.
    let f = send(&mut bob, Method::POST, "/api/cache/flush?bucket=plex", None)
        .await
        .json();
    assert_eq!(
        (f["message"].as_str(), f["bucket"].as_str()),
        (Some("Flushed bucket: plex"), Some("plex"))
    );
    assert_eq!(
        bob.get("/api/cache/keys?bucket=plex").await.json()["total"],
        0
    );
    assert_eq!(
        alice.get("/api/cache/keys?bucket=plex").await.json()["total"],
        2
    );
    assert_eq!(
        alice.get("/api/plex/metadata/101").await.header("x-cache"),
        Some("HIT")
    );

    // stats: the caller's keys and bytes; hit counters per bucket.
    let s = alice.get("/api/cache/stats").await.json();
    assert_eq!(s["buckets"], 5);
    assert_eq!(s["totalKeys"], 2);
    assert!(s["totalMemoryUsage"].as_u64().unwrap() > 0);
    let plex = s["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["bucket"] == "plex")
        .unwrap()
        .clone();
    assert!(plex["hits"].as_u64().unwrap() >= 2 && plex["misses"].as_u64().unwrap() >= 3);
    assert_eq!(
        bob.get("/api/cache/stats?bucket=plex").await.json()["totalKeys"],
        0
    );

    // bulk: set/get/delete within the caller's prefix; unknown actions reported.
    let b = send(
        &mut bob,
        Method::POST,
        "/api/cache/bulk",
        Some(json!({"operations": [
            {"action": "set", "bucket": "general", "key": "k", "value": {"a": 1}, "ttl": 60},
            {"action": "get", "bucket": "general", "key": wk.replace(&meta_key, "k")},
            {"action": "get", "bucket": "plex", "key": meta_key},
            {"action": "delete", "bucket": "plex", "key": meta_key},
            {"action": "nope"}
        ]})),
    )
    .await
    .json();
    assert_eq!(b["total"], 5);
    assert_eq!(b["results"][0]["success"], true);
    assert_eq!(b["results"][1]["value"], json!({"a": 1}));
    assert_eq!(
        b["results"][2]["value"],
        Value::Null,
        "alice's entry is invisible to bob"
    );
    assert_eq!(b["results"][3]["deleted"], false);
    assert_eq!(b["results"][4]["error"], "Unknown action");
    assert_eq!(
        alice.get("/api/plex/metadata/101").await.header("x-cache"),
        Some("HIT")
    );

    // flush all, config, health.
    let f = send(&mut alice, Method::POST, "/api/cache/flush", None)
        .await
        .json();
    assert_eq!(
        (f["message"].as_str(), f["bucket"].as_str()),
        (Some("Flushed all cache buckets"), Some("all"))
    );
    assert_eq!(
        alice.get("/api/plex/metadata/101").await.header("x-cache"),
        Some("MISS")
    );
    let c = alice.get("/api/cache/config").await.json();
    assert_eq!(
        (
            c["plex"]["metadata"].as_u64(),
            c["plex"]["ondeck"].as_u64(),
            c["image"]["proxy"].as_u64()
        ),
        (Some(3600), Some(60), Some(604800))
    );
    let h = alice.get("/api/cache/health").await.json();
    assert_eq!(h["status"], "healthy");
    assert_eq!(
        h["checks"],
        json!({"set": true, "get": true, "delete": true})
    );
}

#[tokio::test]
async fn cache_admin_validates_its_parameters() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    for (path, code) in [
        ("/api/cache/keys", "missing_bucket"),
        ("/api/cache/keys?bucket=disk", "unknown_bucket"),
        ("/api/cache/keys?bucket=plex&limit=x", "invalid_parameter"),
        (
            "/api/cache/keys?bucket=plex&limit=5000",
            "invalid_parameter",
        ),
        ("/api/cache/get?bucket=plex", "missing_key"),
        ("/api/cache/get?key=x", "missing_bucket"),
        ("/api/cache/stats?bucket=../plex", "unknown_bucket"),
    ] {
        a.get(path).await.assert_error(400, code);
    }
    send(&mut a, Method::DELETE, "/api/cache/key?bucket=plex", None)
        .await
        .assert_error(400, "missing_key");
    send(&mut a, Method::POST, "/api/cache/flush?bucket=nope", None)
        .await
        .assert_error(400, "unknown_bucket");
    for (body, code) in [
        (json!({"bucket": "plex", "key": "k"}), "missing_value"),
        (json!({"bucket": "plex", "value": 1}), "missing_key"),
        (json!({"key": "k", "value": 1}), "missing_bucket"),
        (
            json!({"bucket": "plex", "key": "k", "value": 1, "ttl": 0}),
            "invalid_ttl",
        ),
        (
            json!({"bucket": "plex", "key": "k", "value": 1, "ttl": "long"}),
            "invalid_ttl",
        ),
        (
            json!({"bucket": "plex", "key": "k", "value": "x".repeat(300_000)}),
            "value_too_large",
        ),
    ] {
        send(&mut a, Method::POST, "/api/cache/warm", Some(body))
            .await
            .assert_error(400, code);
    }
    send(&mut a, Method::POST, "/api/cache/bulk", Some(json!({})))
        .await
        .assert_error(400, "missing_operations");
    let many: Vec<Value> = (0..101).map(|_| json!({"action": "get"})).collect();
    send(
        &mut a,
        Method::POST,
        "/api/cache/bulk",
        Some(json!({"operations": many})),
    )
    .await
    .assert_error(400, "too_many_operations");
}
