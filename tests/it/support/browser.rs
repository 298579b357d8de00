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
        for set in headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            self.store_cookie(set);
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

    /// Keeps one `Set-Cookie` like a browser's jar (a `Max-Age=0` removes it); `cookie` is the
    /// `Cookie` header to send, `plex.sid` first.
    fn store_cookie(&mut self, set: &str) {
        let Some((name, value)) = set.split(';').next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let removed = set
            .split(';')
            .any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
        let mut jar: Vec<(String, String)> = self
            .cookie
            .as_deref()
            .unwrap_or("")
            .split("; ")
            .filter_map(|p| p.split_once('='))
            .filter(|(k, _)| *k != name)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !removed {
            jar.push((name.to_string(), value.to_string()));
        }
        jar.sort_by_key(|(k, _)| k != "plex.sid");
        let rendered: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.cookie = (!rendered.is_empty()).then(|| rendered.join("; "));
    }

    /// Whether the jar holds cookie `name`.
    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookie
            .as_deref()
            .unwrap_or("")
            .split("; ")
            .any(|p| p.split_once('=').is_some_and(|(k, _)| k == name))
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

/// Signs a new browser in (its own login session) and returns it with its facade base URL.
pub async fn demo_browser<'c>(
    demo: &plexgate::app::demo::Demo,
    canary: &'c Canary,
) -> (Browser<'c>, String) {
    let mut b = Browser::new(&demo.url(), canary);
    let login = b
        .request(
            reqwest::Method::POST,
            "/api/auth/demo-login",
            &[("user-agent", "Mozilla/5.0 Chrome/130.0 Safari/537.36")],
            None,
            true,
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let servers = b
        .get_with(
            "/api/auth/servers",
            &[("user-agent", "Mozilla/5.0 Chrome/130.0 Safari/537.36")],
        )
        .await;
    assert_eq!(servers.status, 200, "{}", servers.text());
    let base = servers.json()[0]["baseUrl"].as_str().unwrap().to_string();
    (b, base)
}
