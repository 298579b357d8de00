//! Shared pieces for the TMDB, Trakt and Discover suites: a tiny HTTP server scaffold for the
//! fakes (every request recorded by the fake itself), signing a browser in through the fake
//! plex.tv PIN flow, and capturing every log line plexgate writes, unredacted, so the leak
//! canary can scan them.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

use tracing_subscriber::layer::SubscriberExt;

use super::browser::Browser;

/// One request as a fake saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub raw_query: String,
    pub query: Vec<(String, String)>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub at: std::time::Instant,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
    }
}

/// What a fake answers.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn json(status: u16, value: serde_json::Value) -> Reply {
        Reply {
            status,
            body: Bytes::from(value.to_string()),
            content_type: "application/json;charset=utf-8",
            headers: Vec::new(),
            delay: None,
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: Bytes::new(),
            content_type: "application/json",
            headers: Vec::new(),
            delay: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn delayed(mut self, d: Option<Duration>) -> Reply {
        self.delay = d;
        self
    }
}

/// Serves `handler` on a fresh loopback port; returns `http://127.0.0.1:PORT`.
pub async fn serve<H>(handler: H) -> String
where
    H: Fn(Req) -> Reply + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    let addr = super::server::serve(move |req: Request<Incoming>| {
        let h = handler.clone();
        async move {
            let at = std::time::Instant::now();
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let raw_query = parts.uri.query().unwrap_or("").to_string();
            let query = url::form_urlencoded::parse(raw_query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let r = h(Req {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                raw_query,
                query,
                headers: parts.headers,
                body,
                at,
            });
            if let Some(d) = r.delay {
                tokio::time::sleep(d).await;
            }
            let mut resp = Response::new(Full::new(r.body));
            *resp.status_mut() = hyper::StatusCode::from_u16(r.status).unwrap();
            resp.headers_mut()
                .insert("content-type", r.content_type.parse().unwrap());
            for (k, v) in r.headers {
                resp.headers_mut().insert(k, v.parse().unwrap());
            }
            resp
        }
    })
    .await;
    format!("http://{addr}")
}

/// Signs `b` in through the fake plex.tv PIN flow (the fake must authorise after one poll or
/// more); returns the session answer.
pub async fn sign_in(b: &mut Browser<'_>, client_id: &str) -> serde_json::Value {
    let pin = b
        .request(
            reqwest::Method::POST,
            "/api/auth/plex/pin",
            &[("content-type", "application/json")],
            Some(format!(r#"{{"clientId":"{client_id}"}}"#).into_bytes()),
            true,
        )
        .await;
    assert_eq!(pin.status, 200, "{}", pin.text());
    let id = pin.json()["id"].as_i64().unwrap();
    let poll = format!("/api/auth/plex/pin/{id}?clientId={client_id}");
    for _ in 0..10 {
        let r = b.get(&poll).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        if j["authenticated"] == true {
            assert!(b.cookie.is_some());
            return j;
        }
    }
    panic!("the fake plex.tv never authorised the PIN");
}

/// Every log line plexgate writes in this test process, without the redaction layer (so a
/// secret that reached a log call is seen even if redaction would have masked it).
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs (once per test binary) a global subscriber at debug level for everything.
    pub fn install() -> LogCapture {
        static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
        let buf = BUF
            .get_or_init(|| {
                let buf = Arc::new(Mutex::new(Vec::new()));
                let writer_buf = buf.clone();
                let subscriber = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
                    .with_ansi(false)
                    .with_writer(move || CaptureWriter(writer_buf.clone()))
                    .finish()
                    .with(plexgate::admin::recent::RecentUpstreamErrors);
                tracing::subscriber::set_global_default(subscriber)
                    .expect("no other subscriber in this test binary");
                buf
            })
            .clone();
        LogCapture(buf)
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
