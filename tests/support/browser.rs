//! A browser-like client for tests: keeps the session cookie and runs every response through
//! the leak canary before the test sees it.

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::canary::Canary;

/// One response, already scanned.
#[derive(Debug)]
pub struct Seen {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts our JSON error shape with `status` and `code`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.json()["error"]["code"], code, "{}", self.text());
    }
}

pub struct Browser<'c> {
    pub origin: String,
    pub client: reqwest::Client,
    pub cookie: Option<String>,
    pub canary: &'c Canary,
    /// Every URL requested, for "never the Plex port" checks.
    pub urls: Vec<String>,
}

impl<'c> Browser<'c> {
    pub fn new(origin: &str, canary: &'c Canary) -> Self {
        Browser {
            origin: origin.trim_end_matches('/').to_string(),
            client: super::client(),
            cookie: None,
            canary,
            urls: Vec::new(),
        }
    }

    /// `path` relative to the origin, or an absolute URL.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.origin, path)
        }
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        with_cookie: bool,
    ) -> Seen {
        let url = self.url(path);
        self.urls.push(url.clone());
        // The Flixor player asks PMS for JSON on every call.
        let mut req = self
            .client
            .request(method.clone(), &url)
            .header("accept", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        // A browser sends its page's Origin with every state-changing request.
        if method != Method::GET && method != Method::HEAD {
            req = req.header("origin", self.origin.clone());
        }
        if with_cookie && let Some(c) = &self.cookie {
            req = req.header("cookie", c.clone());
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status();
        let headers = resp.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok())
            && let Some(pair) = set.split(';').next()
        {
            self.cookie = Some(pair.to_string());
        }
        let body = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {url} body: {e}"));
        self.canary
            .scan_response(&format!("{method} {url}"), status, &headers, &body);
        Seen {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Seen {
        self.request(Method::GET, path, &[], None, true).await
    }

    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Seen {
        self.request(Method::GET, path, headers, None, true).await
    }

    /// Like a dash.js request: no cookie.
    pub async fn get_without_cookie(&mut self, path: &str) -> Seen {
        self.request(Method::GET, path, &[], None, false).await
    }

    pub async fn post(&mut self, path: &str) -> Seen {
        self.request(Method::POST, path, &[], None, true).await
    }

    /// The facade `baseUrl` of the first server in `/api/auth/servers`.
    pub async fn facade_base(&mut self) -> String {
        let servers = self.get("/api/auth/servers").await.json();
        servers[0]["baseUrl"]
            .as_str()
            .expect("a facade baseUrl")
            .to_string()
    }
}
