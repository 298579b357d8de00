//! The transport on a real socket: error shapes, limits, panics, timeouts, request ids and
//! graceful shutdown. A test router exercises the same `http::serve` that plexgate uses, with
//! handlers that misbehave on purpose.

use std::time::Duration;

use crate::support::{assert_error, client};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use plexgate::http::body::full;
use plexgate::http::json::read_json;
use plexgate::http::{
    ApiError, Body, CorsPolicy, Router, ServeOptions, ShutdownOutcome, TrustedProxies,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

async fn echo(req: Request<Incoming>, _: ()) -> Result<Response<Body>, ApiError> {
    let value: serde_json::Value = read_json(req).await?;
    Ok(Response::new(full(value.to_string())))
}

async fn boom(_req: Request<Incoming>, _: ()) -> Result<Response<Body>, ApiError> {
    panic!("handler exploded on purpose");
}

/// Tags of `/slow?tag=…` requests whose handler has begun: tests await this instead of
/// sleeping for "long enough" before acting on an in-flight request.
static STARTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

async fn slow(req: Request<Incoming>, _: ()) -> Result<Response<Body>, ApiError> {
    let mut ms = 500;
    for pair in req.uri().query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("ms", v)) => ms = v.parse().unwrap_or(500),
            Some(("tag", t)) => STARTED.lock().unwrap().push(t.to_string()),
            _ => {}
        }
    }
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(Response::new(full("finished")))
}

/// Resolves once the `/slow` request tagged `tag` is inside its handler.
async fn in_handler(tag: &str) {
    let seen = || STARTED.lock().unwrap().iter().any(|t| t == tag);
    tokio::time::timeout(Duration::from_secs(30), async {
        while !seen() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the request tagged {tag} never reached its handler"));
}

struct Server {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<ShutdownOutcome>,
}

async fn start(options: ServeOptions, base_path: &str) -> Server {
    let router = Router::new(())
        .base_path(base_path)
        .route(Method::POST, "/echo", echo)
        .route(Method::GET, "/boom", boom)
        .route(Method::GET, "/slow", slow)
        .route(Method::DELETE, "/slow", slow);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(plexgate::http::serve(
        listener,
        router,
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        url,
        stop: Some(stop),
        task,
    }
}

fn options() -> ServeOptions {
    ServeOptions {
        request_timeout: Duration::from_secs(5),
        header_read_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(5),
        max_concurrency: 64,
        max_body_bytes: 1024,
        max_connections: 64,
        max_connections_per_ip: 64,
        send_buffer: Some(256 << 10),
        trusted_proxies: TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]),
        // Transport tests are not about cross-site rules (tests/auth.rs is).
        cors: CorsPolicy {
            csrf_exempt_prefixes: vec!["/".into()],
            ..CorsPolicy::default()
        },
        metrics: Default::default(),
    }
}

#[tokio::test]
async fn unknown_route_is_404_json() {
    let s = start(options(), "").await;
    let resp = client()
        .get(format!("{}/nope?X-Plex-Token=abc", s.url))
        .send()
        .await
        .unwrap();
    let msg = assert_error(resp, 404, "not_found").await;
    assert!(
        !msg.contains("nope") && !msg.contains("abc"),
        "path must not be echoed: {msg}"
    );
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let s = start(options(), "").await;
    let resp = client()
        .put(format!("{}/slow", s.url))
        .send()
        .await
        .unwrap();
    let allow = resp.headers()["allow"].to_str().unwrap().to_string();
    assert_error(resp, 405, "method_not_allowed").await;
    assert_eq!(allow, "GET, DELETE, HEAD");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let s = start(options(), "").await;
    let resp = client()
        .post(format!("{}/echo", s.url))
        .header("content-type", "application/json")
        .body("{\"a\": ")
        .send()
        .await
        .unwrap();
    let msg = assert_error(resp, 400, "invalid_json").await;
    assert!(msg.contains("not valid JSON"), "{msg}");

    let ok = client()
        .post(format!("{}/echo", s.url))
        .body("{\"a\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "{\"a\":1}");
}

#[tokio::test]
async fn body_over_limit_is_413_declared_or_streamed() {
    let s = start(options(), "").await;
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(2000));
    let resp = client()
        .post(format!("{}/echo", s.url))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_error(resp, 413, "payload_too_large").await;

    // Chunked, so no Content-Length: the limit is enforced while reading.
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
    for chunk in big.as_bytes().chunks(256) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    tcp.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );
}

#[tokio::test]
async fn panic_is_500_with_request_id_and_server_keeps_serving() {
    let s = start(options(), "").await;
    let resp = client()
        .get(format!("{}/boom", s.url))
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let msg = assert_error(resp, 500, "internal_error").await;
    assert!(
        msg.contains(&id),
        "message {msg} should quote request id {id}"
    );

    let resp = client()
        .get(format!("{}/slow?ms=1", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn handler_slower_than_timeout_is_504() {
    let mut o = options();
    o.request_timeout = Duration::from_millis(200);
    let s = start(o, "").await;
    let resp = client()
        .get(format!("{}/slow?ms=2000", s.url))
        .send()
        .await
        .unwrap();
    assert_error(resp, 504, "timeout").await;
}

#[tokio::test]
async fn over_concurrency_limit_is_shed_with_503() {
    let mut o = options();
    o.max_concurrency = 1;
    let s = start(o, "").await;
    let c = client();
    let first = tokio::spawn(c.get(format!("{}/slow?ms=800&tag=shed", s.url)).send());
    in_handler("shed").await;
    let resp = c.get(format!("{}/slow?ms=1", s.url)).send().await.unwrap();
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_error(resp, 503, "overloaded").await;
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}

#[tokio::test]
async fn request_id_generated_or_taken_from_trusted_proxy() {
    let s = start(options(), "").await;
    // The test client is on 127.0.0.1, which this server trusts.
    let resp = client()
        .get(format!("{}/slow?ms=1", s.url))
        .header("x-request-id", "from-proxy-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "from-proxy-42");

    let mut o = options();
    o.trusted_proxies = TrustedProxies::new(vec![]);
    let untrusted = start(o, "").await;
    let resp = client()
        .get(format!("{}/slow?ms=1", untrusted.url))
        .header("x-request-id", "from-proxy-42")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "from-proxy-42");
    assert_eq!(id.len(), 24);
}

#[tokio::test]
async fn served_under_base_path_and_at_root() {
    let s = start(options(), "/plexgate").await;
    for path in ["/plexgate/slow?ms=1", "/slow?ms=1", "/plexgate/slow/?ms=1"] {
        let resp = client()
            .get(format!("{}{path}", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let resp = client()
        .get(format!("{}/plexgatex/slow", s.url))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "not_found").await;
}

#[tokio::test]
async fn http2_prior_knowledge_works_on_the_same_port() {
    let s = start(options(), "").await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2.get(format!("{}/slow?ms=1", s.url)).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_response() {
    let mut s = start(options(), "").await;
    let c = client();
    let url = format!("{}/slow?ms=700&tag=drain", s.url);
    let in_flight = tokio::spawn(async move { c.get(url).send().await?.text().await });
    in_handler("drain").await;
    s.stop.take().unwrap().send(()).unwrap();

    // New connections are refused once shutdown began…
    let probe = format!("{}/slow?ms=1", s.url);
    tokio::time::timeout(Duration::from_secs(30), async {
        while client().get(&probe).send().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("listener should be closed");

    // …while the in-flight response completes, and the server reports a clean drain.
    assert_eq!(in_flight.await.unwrap().unwrap(), "finished");
    assert_eq!(s.task.await.unwrap(), ShutdownOutcome::Drained);
}

#[tokio::test]
async fn grace_period_bounds_shutdown() {
    let mut o = options();
    o.shutdown_grace = Duration::from_millis(300);
    o.request_timeout = Duration::from_secs(30);
    let mut s = start(o, "").await;
    let url = format!("{}/slow?ms=10000&tag=grace", s.url);
    let _in_flight = tokio::spawn(async move { client().get(url).send().await });
    in_handler("grace").await;
    s.stop.take().unwrap().send(()).unwrap();
    // The outcome says the grace period, not the 10 s request, ended the drain.
    assert_eq!(s.task.await.unwrap(), ShutdownOutcome::GraceExpired);
}

#[test]
fn status_helpers_render_json() {
    let resp = ApiError::bad_request("x", "y").into_response();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
