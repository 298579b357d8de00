//! Cross-origin rules: CORS for the configured frontend origins (with credentials), and the CSRF
//! check every cookie-authenticated state-changing request must pass.
//!
//! CSRF: a browser always sends `Origin` (or at least `Referer`) with a cross-site POST, and
//! cannot send a custom header cross-site without a CORS preflight this module refuses. So a
//! POST/PUT/PATCH/DELETE is accepted when its Origin (else Referer) is this server or a
//! configured origin, or when it carries `X-Requested-With`; otherwise 403 `csrf_rejected`.
//! Routes authenticated by a ticket in the URL rather than a cookie are exempt by prefix.
//!
//! A few GETs change state (`/api/plex/stream/:ratingKey` starts a playback and replaces the
//! browser's current one), so a cross-site link or `<img>` must not reach them: under the
//! configured guarded prefixes a GET is refused when it is a navigation (`Sec-Fetch-Mode:
//! navigate`), comes from another site (`Sec-Fetch-Site: cross-site`) or names a foreign
//! `Origin`, unless that origin is allowed.
//!
//! Why not tower-http's `CorsLayer`: it answers every `OPTIONS` as a preflight with 200 (ours:
//! 204, and a plain `OPTIONS` reaches the router) and a foreign origin's preflight with 200 and
//! no CORS headers, where the API answers 403 `cors_origin_not_allowed` in its JSON error shape;
//! it also sends `Access-Control-Allow-Credentials` and the exposed headers to any origin. What
//! it does right, `Vary: Origin` on every response, is done here.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use super::error::ApiError;
use crate::body::{Body, empty};

const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, PATCH, OPTIONS";
const ALLOW_HEADERS: &str = "Content-Type, Authorization, X-Requested-With, Range, trakt-api-key, trakt-api-version, X-Plex-Token";
const EXPOSE_HEADERS: &str =
    "Content-Length, Content-Range, Accept-Ranges, ETag, X-Request-Id, Retry-After";

/// The cross-origin policy.
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    /// Origins allowed with credentials (`https://app.example.com`).
    pub origins: Vec<String>,
    /// This server's public origin, when configured.
    pub public_origin: Option<String>,
    /// Path prefixes exempt from the CSRF check (ticket-authenticated routes).
    pub csrf_exempt_prefixes: Vec<String>,
    /// Path prefixes whose GETs change state and get the CSRF check too.
    pub guarded_get_prefixes: Vec<String>,
}

impl CorsPolicy {
    fn allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// Answers a CORS preflight, or `None` if `method`/`headers` are not a preflight.
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Response<Body>> {
        if *method != Method::OPTIONS
            || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())?;
        if !self.allowed(origin) {
            return Some(
                ApiError::forbidden(
                    "cors_origin_not_allowed",
                    "this origin may not call the API",
                )
                .into_response(),
            );
        }
        let mut resp = Response::new(empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        self.decorate_for(origin, h);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        Some(resp)
    }

    /// Adds the CORS response headers when the request came from an allowed origin, and
    /// `Vary: Origin` to every response: the answer depends on `Origin` whether or not this
    /// request sent one, so a shared cache must not hand one origin's answer to another.
    /// `origin` is the request's `Origin` header, the only request header this needs (so the
    /// caller keeps that value, not a copy of the whole map).
    pub fn decorate(&self, origin: Option<&HeaderValue>, response_headers: &mut HeaderMap) {
        if let Some(origin) = origin.and_then(|v| v.to_str().ok())
            && self.allowed(origin)
        {
            self.decorate_for(origin, response_headers);
        }
        let varies = response_headers
            .get_all(header::VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|name| name.trim().eq_ignore_ascii_case("origin") || name.trim() == "*");
        if !varies {
            response_headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }

    fn decorate_for(&self, origin: &str, h: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }

    /// The CSRF check for a request (see the module docs).
    pub fn check_csrf(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        if matches!(*method, Method::GET | Method::HEAD)
            && self
                .guarded_get_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
        {
            return self.check_guarded_get(headers);
        }
        if !matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        ) {
            return Ok(());
        }
        if self
            .csrf_exempt_prefixes
            .iter()
            .any(|p| path.starts_with(p.as_str()))
        {
            return Ok(());
        }
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let claimed = text(header::ORIGIN)
            .filter(|o| *o != "null")
            .map(str::to_string)
            .or_else(|| text(header::REFERER).and_then(origin_of));
        let ok = match claimed {
            Some(origin) => self.allowed(&origin) || self.is_self(&origin, text(header::HOST)),
            None => headers.contains_key("x-requested-with"),
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "csrf_rejected",
                "cross-site request refused: send it from an allowed origin",
            ))
        }
    }

    /// A state-changing GET: no navigation, nothing cross-site unless from an allowed origin.
    fn check_guarded_get(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let refuse = |why: &str| {
            Err(ApiError::forbidden(
                "csrf_rejected",
                format!("{why}: start playback from the app, not from a link"),
            ))
        };
        let origin = text("origin").filter(|o| *o != "null");
        let allowed_origin =
            origin.is_some_and(|o| self.allowed(o) || self.is_self(o, text("host")));
        if text("sec-fetch-mode").is_some_and(|m| m.eq_ignore_ascii_case("navigate")) {
            return refuse("a navigation may not start playback");
        }
        if text("sec-fetch-site").is_some_and(|s| s.eq_ignore_ascii_case("cross-site"))
            && !allowed_origin
        {
            return refuse("cross-site request refused");
        }
        if origin.is_some() && !allowed_origin {
            return refuse("request from a foreign origin refused");
        }
        Ok(())
    }

    fn is_self(&self, origin: &str, host: Option<&str>) -> bool {
        if let Some(public) = &self.public_origin
            && public.eq_ignore_ascii_case(origin)
        {
            return true;
        }
        let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
        host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CorsPolicy {
        CorsPolicy {
            origins: vec!["https://app.example.com".into()],
            public_origin: None,
            csrf_exempt_prefixes: vec!["/api/plex/proxy/".into()],
            guarded_get_prefixes: Vec::new(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn state_changing_gets_refuse_navigations_and_other_sites() {
        let p = CorsPolicy {
            origins: vec!["https://app.example.com".into()],
            guarded_get_prefixes: vec!["/api/plex/stream/".into()],
            ..policy()
        };
        let get = Method::GET;
        let path = "/api/plex/stream/101";
        let code = |h: &[(&'static str, &str)]| {
            p.check_csrf(&get, path, &headers(h))
                .err()
                .map(|e| e.code().to_string())
        };
        assert_eq!(code(&[]), None, "a client that says nothing (curl)");
        assert_eq!(
            code(&[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-mode", "cors")
            ]),
            None
        );
        assert_eq!(
            code(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://app.example.com")
            ]),
            None
        );
        let refused = Some("csrf_rejected".to_string());
        assert_eq!(
            code(&[("sec-fetch-mode", "navigate"), ("sec-fetch-site", "none")]),
            refused
        );
        assert_eq!(
            code(&[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "no-cors")
            ]),
            refused
        );
        assert_eq!(code(&[("origin", "https://evil.example")]), refused);
        assert_eq!(
            p.check_csrf(
                &get,
                "/api/plex/metadata/1",
                &headers(&[("sec-fetch-mode", "navigate")])
            )
            .map_err(|e| e.code().to_string()),
            Ok(()),
            "other GETs are unaffected"
        );
    }

    #[test]
    fn csrf_rules() {
        let p = policy();
        let post = Method::POST;
        assert!(p.check_csrf(&Method::GET, "/x", &headers(&[])).is_ok());
        assert!(
            p.check_csrf(
                &post,
                "/x",
                &headers(&[("origin", "https://app.example.com")])
            )
            .is_ok()
        );
        assert!(
            p.check_csrf(
                &post,
                "/x",
                &headers(&[
                    ("origin", "http://127.0.0.1:3001"),
                    ("host", "127.0.0.1:3001")
                ])
            )
            .is_ok()
        );
        assert!(
            p.check_csrf(
                &post,
                "/x",
                &headers(&[("referer", "https://app.example.com/page")])
            )
            .is_ok()
        );
        assert!(
            p.check_csrf(
                &post,
                "/x",
                &headers(&[("x-requested-with", "XMLHttpRequest")])
            )
            .is_ok()
        );
        assert!(
            p.check_csrf(
                &post,
                "/api/plex/proxy/t/x",
                &headers(&[("origin", "https://evil.example")])
            )
            .is_ok()
        );
        for bad in [
            headers(&[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:3001"),
            ]),
            headers(&[("referer", "https://evil.example/x")]),
            headers(&[("origin", "null")]),
            headers(&[]),
        ] {
            assert_eq!(
                p.check_csrf(&post, "/x", &bad).unwrap_err().code(),
                "csrf_rejected"
            );
        }
    }

    #[test]
    fn preflight_only_for_allowed_origins() {
        let p = policy();
        let ok = p
            .preflight(
                &Method::OPTIONS,
                &headers(&[
                    ("origin", "https://app.example.com"),
                    ("access-control-request-method", "POST"),
                ]),
            )
            .unwrap();
        assert_eq!(ok.status(), 204);
        assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
        let no = p
            .preflight(
                &Method::OPTIONS,
                &headers(&[
                    ("origin", "https://evil.example"),
                    ("access-control-request-method", "POST"),
                ]),
            )
            .unwrap();
        assert_eq!(no.status(), 403);
        assert!(p.preflight(&Method::GET, &headers(&[])).is_none());
    }

    #[test]
    fn every_response_varies_on_origin_once() {
        let p = policy();
        for request in [
            headers(&[]),
            headers(&[("origin", "https://evil.example")]),
            headers(&[("origin", "https://app.example.com")]),
        ] {
            let mut out = headers(&[("vary", "Accept-Encoding")]);
            p.decorate(request.get("origin"), &mut out);
            p.decorate(request.get("origin"), &mut out);
            let vary: Vec<_> = out.get_all("vary").iter().collect();
            assert_eq!(vary, ["Accept-Encoding", "Origin"], "{request:?}");
        }
    }
}
