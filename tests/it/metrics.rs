//! `/metrics` (issue 14 item 8): after real traffic, the series an operator's dashboard reads are
//! there with their labels, route labels are patterns (never an id, a ticket or a session), and
//! the endpoint keeps its bearer and its text format.

use crate::support::plex_world::PlexWorld;

/// The value of the sample whose line starts with `series` (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn route_labels(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split("route=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_scrape_after_traffic_has_requests_latency_sessions_upstreams_and_the_process() {
    let world = PlexWorld::start(&[("metrics.enabled", "true")]).await;
    let canary = world.canary();
    let mut b = world.alice(&canary).await;
    let base = b.facade_base().await;
    let ticket = base.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        b.get(&format!("{base}/library/metadata/101")).await.status,
        200
    );
    assert_eq!(b.get("/api/plex/metadata/101").await.status, 200);
    let stream = b.get("/api/plex/stream/101?protocol=dash").await;
    assert_eq!(stream.status, 200, "{}", stream.text());
    let session = stream.json()["sessionId"].as_str().unwrap().to_string();
    b.get("/api/plex/proxy/garbage-ticket/x")
        .await
        .assert_error(403, "ticket_malformed");
    b.get("/api/no/such/route/42")
        .await
        .assert_error(404, "not_found");
    world.plex.faults().fail_nth(1, 503);
    b.get(&format!("{base}/library/metadata/102")).await;

    let m = b.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let m = m.text();
    let has = |series: &str| sample(&m, series).unwrap_or_else(|| panic!("{series} missing:\n{m}"));

    // Requests by route pattern and status, latency by route.
    assert_eq!(
        has(r#"plexgate_http_requests_total{route="/api/plex/stream/{id}",status="200"}"#),
        1.0
    );
    assert!(
        has(r#"plexgate_http_requests_total{route="/api/plex/proxy/{*rest}",status="200"}"#) >= 1.0
    );
    assert_eq!(
        has(r#"plexgate_http_requests_total{route="/api/plex/proxy/{*rest}",status="403"}"#),
        1.0
    );
    assert_eq!(
        has(r#"plexgate_http_requests_total{route="unmatched",status="404"}"#),
        1.0
    );
    assert_eq!(
        has(r#"plexgate_http_request_duration_seconds_count{route="/api/plex/metadata/{id}"}"#),
        1.0
    );
    assert_eq!(
        has(
            r#"plexgate_http_request_duration_seconds_bucket{route="/api/plex/metadata/{id}",le="+Inf"}"#
        ),
        1.0
    );
    // Existing series keep their names.
    assert_eq!(
        has(r#"plexgate_ticket_verifications_total{outcome="ok"}"#),
        2.0
    );
    assert_eq!(
        has(r#"plexgate_ticket_verifications_total{outcome="malformed"}"#),
        1.0
    );
    assert!(has("plexgate_proxied_bytes_total") > 0.0);
    assert_eq!(has("plexgate_playback_sessions_started_total"), 1.0);
    // Sessions by kind, the build, the process.
    assert_eq!(has(r#"plexgate_sessions{kind="facade"}"#), 1.0);
    assert_eq!(has(r#"plexgate_sessions{kind="playback"}"#), 1.0);
    assert_eq!(has("plexgate_active_playback_sessions"), 2.0);
    assert_eq!(
        has(&format!(
            r#"plexgate_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert!(has("process_cpu_seconds_total") > 0.0);
    assert!(has("process_resident_memory_bytes") > 1e6);
    assert!(has("process_open_fds") >= 3.0);
    // Upstreams (process-wide, so other tests add to them: at least ours are there).
    assert!(has(r#"plexgate_upstream_ttfb_seconds_count{upstream="plex"}"#) >= 2.0);
    assert!(has(r#"plexgate_upstream_errors_total{upstream="plex",cause="status"}"#) >= 1.0);

    // Route labels are patterns: never an id, a ticket or a session.
    let routes = route_labels(&m);
    assert!(!routes.is_empty());
    for route in routes {
        assert!(route == "unmatched" || route.starts_with('/'), "{route}");
        for secret in [
            ticket.as_str(),
            session.as_str(),
            "101",
            "102",
            "garbage",
            "42",
        ] {
            assert!(
                !route.contains(secret),
                "route label {route} carries {secret}"
            );
        }
    }
    if let Some(found) = canary.find(m.as_bytes()) {
        panic!("LEAK in /metrics: {found}");
    }
    assert_dashboard_reads_only_exported_series(&m);
}

/// Every series `deploy/grafana-dashboard.json` queries is in a real scrape, so a renamed metric
/// cannot leave an empty panel behind.
fn assert_dashboard_reads_only_exported_series(scrape: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            names.extend(
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("plexgate_") || w.starts_with("process_"))
                    .map(str::to_string),
            );
        }
    }
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            scrape
                .lines()
                .any(|l| l.starts_with(&name) && l[name.len()..].starts_with(['{', ' '])),
            "the dashboard reads {name}, which /metrics does not export"
        );
    }
}

#[tokio::test]
async fn the_bearer_guards_metrics_when_configured() {
    let world = PlexWorld::start(&[
        ("metrics.enabled", "true"),
        ("metrics.bearer", "scrape-secret-1234"),
    ])
    .await;
    let canary = world.canary();
    let mut b = crate::support::browser::Browser::new(&world.demo.url(), &canary);
    b.get("/metrics").await.assert_error(401, "unauthorized");
    b.get_with("/metrics", &[("authorization", "Bearer wrong")])
        .await
        .assert_error(401, "unauthorized");
    let ok = b
        .get_with(
            "/metrics",
            &[("authorization", "Bearer scrape-secret-1234")],
        )
        .await;
    assert_eq!(ok.status, 200);
    assert!(
        ok.text()
            .contains("# TYPE plexgate_http_requests_total counter")
    );
}
