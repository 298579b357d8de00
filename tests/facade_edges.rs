//! What the facade and `/api/plex` must keep away from Plex even when the browser disguises it:
//! library actions spelled in another case or with a `;parameter`, and photo transcode sources
//! that are not library artwork (another transcode whose `url=` points at a metadata address,
//! server settings). Each refusal is checked at Plex too: the request never arrived there.

#[path = "support/plex_world.rs"]
mod plex_world;
mod support;

use plex_world::PlexWorld;

#[tokio::test]
async fn library_actions_are_refused_in_any_case_and_with_path_parameters() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let base = a.get("/api/auth/servers").await.json()[0]["baseUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let disguises = [
        "library/sections/1/refresh",
        "library/sections/1/Refresh",
        "library/sections/1/REFRESH",
        "library/sections/1/refresh;x",
        "library/sections/1/Refresh;force=1",
        "library/sections/1/%52efresh",
        "library/sections/1/emptytrash",
        "library/metadata/101/MATCHES;a=b",
        "library/metadata/101/Analyze",
    ];
    for path in disguises {
        a.get(&format!("{base}/{path}"))
            .await
            .assert_error(403, "ticket_scope");
        a.get(&format!("/api/plex/dir/{path}"))
            .await
            .assert_error(400, "invalid_path");
    }
    // The same library still answers plain reads.
    let ok = a.get(&format!("{base}/library/sections/1/all")).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let reached: Vec<String> = w
        .plex
        .requests()
        .into_iter()
        .map(|r| r.path.to_ascii_lowercase())
        .filter(|p| {
            ["refresh", "%52efresh", "emptytrash", "matches", "analyze"]
                .iter()
                .any(|action| p.contains(action))
        })
        .collect();
    assert!(reached.is_empty(), "actions reached Plex: {reached:?}");
    w.assert_upstream_hygiene();
}
