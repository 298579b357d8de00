//! What the facade and `/api/plex` must keep away from Plex even when the browser disguises it:
//! library actions spelled in another case or with a `;parameter`, and photo transcode sources
//! that are not library artwork (another transcode whose `url=` points at a metadata address,
//! server settings). Each refusal is checked at Plex too: the request never arrived there.

use crate::support::plex_world::PlexWorld;
use plexgate::util::percent_encode as enc;

#[tokio::test]
async fn library_actions_are_refused_in_any_case_and_with_path_parameters() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let base = a.facade_base().await;
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

#[tokio::test]
async fn photo_transcode_reads_only_library_artwork() {
    let w = PlexWorld::start(&[]).await;
    let canary = w.canary();
    let mut a = w.alice(&canary).await;
    let base = a.facade_base().await;
    let thumb = "/library/metadata/101/thumb/1716000000";
    let hostile = [
        // Another transcode, whose own source is the cloud metadata address.
        "/photo/:/transcode?url=http://169.254.169.254/latest/meta-data/".to_string(),
        format!(
            "/photo/:/transcode?url={}",
            enc("http://169.254.169.254/latest/meta-data/")
        ),
        // Not images at all.
        "/:/prefs".to_string(),
        "/accounts".to_string(),
        "/library/sections/1/all".to_string(),
        "/library/metadata/101/refresh".to_string(),
        "/library/metadata/101/Refresh;x".to_string(),
        // Path tricks that would leave the artwork roots once PMS decodes them.
        "/library/metadata/../../:/prefs".to_string(),
        "/library/metadata/%2e%2e/%2e%2e/:/prefs".to_string(),
        "/library/metadata/101%2f..%2f..%2f:%2fprefs".to_string(),
        "/library/metadata/101%252f..".to_string(),
    ];
    for source in &hostile {
        a.get(&format!(
            "{base}/photo/:/transcode?width=10&height=10&url={}",
            enc(source)
        ))
        .await
        .assert_error(
            403,
            if source.contains("%2f") || source.contains("..") || source.contains("%2e") {
                "ticket_bad_path"
            } else {
                "ticket_scope"
            },
        );
        a.get(&format!("/api/image/plex?w=10&path={}", enc(source)))
            .await
            .assert_error(400, "invalid_image_path");
    }
    assert!(
        w.upstream("/photo/:/transcode").is_empty(),
        "no hostile source reached the transcoder"
    );

    // Library artwork still works on both routes, and only it reached Plex.
    let facade = a
        .get(&format!(
            "{base}/photo/:/transcode?width=10&height=10&url={}",
            enc(thumb)
        ))
        .await;
    assert_eq!(facade.status, 200, "{}", facade.text());
    let image = a
        .get(&format!("/api/image/plex?w=10&path={}", enc(thumb)))
        .await;
    assert_eq!(image.status, 200, "{}", image.text());
    let sources: Vec<Option<String>> = w
        .upstream("/photo/:/transcode")
        .iter()
        .map(|r| r.query_param("url"))
        .collect();
    assert_eq!(sources, [Some(thumb.to_string()), Some(thumb.to_string())]);
    w.assert_upstream_hygiene();
}
