//! A deliberately broken Plex for the cases the demo Plex cannot produce: a manifest that is
//! an HTML page with status 200, or one whose URIs point at another host, a part far larger than
//! any socket buffer, headers that come late, a body that stalls or ends short of its length. It answers `/identity` and `/`
//! like PMS (so `plexgate demo --plex-url` accepts it) and serves fixed bodies for everything
//! else; it records every path it was asked for when the request arrives.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{Request, Response};

pub const MACHINE_ID: &str = "0ddba11000000000000000000000000000000000";

#[derive(Clone, Default)]
pub struct OddPlex {
    pub addr: Option<SocketAddr>,
    pub token: String,
    bodies: Arc<Mutex<HashMap<String, (&'static str, String)>>>,
    pub seen: Arc<Mutex<Vec<String>>>,
    /// Bodies of any `…/endless.ts` that were dropped (the client side went away).
    pub endless_dropped: Arc<AtomicUsize>,
    large: Arc<Mutex<HashMap<String, LargeBody>>>,
    /// Bytes of large bodies handed to the connection so far.
    pub large_sent: Arc<AtomicU64>,
    header_delay: Arc<Mutex<Option<std::time::Duration>>>,
}

/// A large body's bytes, its content type, and whether it goes out chunked.
type LargeBody = (Bytes, &'static str, bool);

/// `len` bytes whose value at offset `i` is `pattern_byte(i)`, so a reader can check each one.
pub fn pattern(len: usize) -> Bytes {
    (0..len).map(pattern_byte).collect::<Vec<u8>>().into()
}

/// The byte at offset `i` of [`pattern`].
pub fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8 ^ (i >> 16) as u8
}

/// A large body in 64 KiB frames sliced from one buffer (no copies), as PMS streams a part.
struct Large {
    data: Bytes,
    sent: Arc<AtomicU64>,
    /// Sent with `Transfer-Encoding: chunked` instead of a Content-Length.
    chunked: bool,
}

impl http_body::Body for Large {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.data.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let n = self.data.len().min(64 * 1024);
        let chunk = self.data.split_to(n);
        self.sent.fetch_add(n as u64, Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        if self.chunked {
            // An inexact hint and no Content-Length header make hyper send chunks.
            return http_body::SizeHint::default();
        }
        http_body::SizeHint::with_exact(self.data.len() as u64)
    }
}

/// 64 KiB, then silence forever: an upstream that stops sending mid-body.
struct Stall {
    sent: bool,
}

impl http_body::Body for Stall {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent {
            return std::task::Poll::Pending;
        }
        self.sent = true;
        std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&[7u8; 65536])))))
    }
}

/// 100 KiB, then (once hyper had time to send them) the end: an upstream that closes short of
/// the length it announced.
struct Short {
    sent: bool,
    flushed: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Short {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        use std::future::Future;
        if !self.sent {
            self.sent = true;
            return std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![
                5u8;
                100 << 10
            ])))));
        }
        std::task::ready!(self.flushed.as_mut().poll(cx));
        std::task::Poll::Ready(None)
    }
}

/// An endless, slow body that counts its own drop.
struct Endless {
    dropped: Arc<AtomicUsize>,
    tick: tokio::time::Interval,
}

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.tick
            .poll_tick(cx)
            .map(|_| Some(Ok(Frame::data(Bytes::from_static(&[0u8; 16384])))))
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl OddPlex {
    pub async fn start(token: &str) -> OddPlex {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        OddPlex::start_on(listener, token)
    }

    fn start_on(listener: tokio::net::TcpListener, token: &str) -> OddPlex {
        let mut me = OddPlex {
            addr: Some(listener.local_addr().unwrap()),
            token: token.to_string(),
            ..Default::default()
        };
        let shared = me.clone();
        super::server::serve_listener(listener, move |req| {
            let s = shared.clone();
            async move {
                let path = req.uri().path().to_string();
                s.seen.lock().unwrap().push(path.clone());
                let delay = *s.header_delay.lock().unwrap();
                if let Some(d) = delay.filter(|_| path != "/identity" && path != "/") {
                    tokio::time::sleep(d).await;
                }
                s.answer(req)
            }
        });
        me.token = token.to_string();
        me
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr.unwrap())
    }

    /// plexgate in demo mode in front of this server, its database in `dir`.
    pub async fn plexgate(&self, dir: &std::path::Path) -> plexgate::app::demo::Demo {
        super::demo_against(&self.url(), &self.token, dir, &[]).await
    }

    /// Serves `body` with `content_type` at `path`.
    pub fn serve(&self, path: &str, content_type: &'static str, body: &str) {
        self.bodies
            .lock()
            .unwrap()
            .insert(path.to_string(), (content_type, body.to_string()));
    }

    /// Serves `data` at `path` as a `video/mp4` part, streamed in 64 KiB frames.
    pub fn serve_large(&self, path: &str, data: Bytes) {
        self.serve_large_as(path, data, "video/mp4");
    }

    /// Serves `data` at `path` with `content_type`, streamed in 64 KiB frames.
    pub fn serve_large_as(&self, path: &str, data: Bytes, content_type: &'static str) {
        self.large
            .lock()
            .unwrap()
            .insert(path.to_string(), (data, content_type, false));
    }

    /// Serves `data` at `path` as `video/mp2t` in chunked encoding (no Content-Length), as a
    /// transcoder may send a segment it is still writing.
    pub fn serve_chunked(&self, path: &str, data: Bytes) {
        self.large
            .lock()
            .unwrap()
            .insert(path.to_string(), (data, "video/mp2t", true));
    }

    /// How many times `path` was asked for.
    pub fn asked(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    /// Every answer but `/identity` and `/` waits this long before its headers.
    pub fn delay_headers(&self, delay: Option<std::time::Duration>) {
        *self.header_delay.lock().unwrap() = delay;
    }

    fn answer(&self, req: Request<Incoming>) -> Response<BoxBody<Bytes, Infallible>> {
        let path = req.uri().path().to_string();
        let large = self.large.lock().unwrap().get(&path).cloned();
        let authed = req
            .headers()
            .get("x-plex-token")
            .is_some_and(|v| v.as_bytes() == self.token.as_bytes());
        let (status, ct, body) = match path.as_str() {
            "/identity" => (
                200,
                "application/json",
                format!(
                    r#"{{"MediaContainer":{{"machineIdentifier":"{MACHINE_ID}","version":"1.43.0"}}}}"#
                ),
            ),
            _ if !authed => (
                401,
                "text/html",
                "<html><body>401</body></html>".to_string(),
            ),
            _ if large.is_some() => {
                let (data, ct, chunked) = large.unwrap_or_default();
                let len = data.len();
                let sent = self.large_sent.clone();
                let mut resp = Response::new(
                    Large {
                        data,
                        sent,
                        chunked,
                    }
                    .boxed(),
                );
                resp.headers_mut()
                    .insert("content-type", ct.parse().unwrap());
                if !chunked {
                    resp.headers_mut()
                        .insert("content-length", len.to_string().parse().unwrap());
                }
                return resp;
            }
            // Both promise a MiB: one goes silent after 64 KiB, one closes after 100 KiB.
            p if p.ends_with("/stall-sized.mp4") || p.ends_with("/short.mp4") => {
                let body = if p.ends_with("/short.mp4") {
                    Short {
                        sent: false,
                        flushed: Box::pin(tokio::time::sleep(std::time::Duration::from_millis(
                            200,
                        ))),
                    }
                    .boxed()
                } else {
                    Stall { sent: false }.boxed()
                };
                let mut resp = Response::new(body);
                resp.headers_mut()
                    .insert("content-type", "video/mp4".parse().unwrap());
                resp.headers_mut()
                    .insert("content-length", (1u32 << 20).into());
                return resp;
            }
            p if p.ends_with("/stall.mp4") => {
                let mut resp = Response::new(Stall { sent: false }.boxed());
                resp.headers_mut()
                    .insert("content-type", "video/mp4".parse().unwrap());
                return resp;
            }
            p if authed && p.ends_with("/endless.ts") => {
                let body = Endless {
                    dropped: self.endless_dropped.clone(),
                    tick: tokio::time::interval(std::time::Duration::from_millis(20)),
                };
                let mut resp = Response::new(body.boxed());
                resp.headers_mut()
                    .insert("content-type", "video/mp2t".parse().unwrap());
                return resp;
            }
            "/" => (
                200,
                "application/json",
                format!(
                    r#"{{"MediaContainer":{{"friendlyName":"odd","machineIdentifier":"{MACHINE_ID}","version":"1.43.0"}}}}"#
                ),
            ),
            p => match self.bodies.lock().unwrap().get(p) {
                Some((ct, body)) => (200, *ct, body.clone()),
                None => (404, "text/html", "<html>404</html>".to_string()),
            },
        };
        let mut resp = Response::new(Full::new(Bytes::from(body)).boxed());
        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        resp.headers_mut()
            .insert("content-type", ct.parse().unwrap());
        resp
    }
}

/// A demo in front of an [`OddPlex`] (its stalling and short bodies under
/// `/library/parts/7/1/`), with Plex's idle timeout at one second so a stall ends in seconds.
/// Keep the directory: it holds the demo's database.
pub async fn stalling_demo(token: &str) -> (OddPlex, plexgate::app::demo::Demo, tempfile::TempDir) {
    let odd = OddPlex::start(token).await;
    let dir = tempfile::tempdir().unwrap();
    let demo = super::demo_against(
        &odd.url(),
        &odd.token,
        dir.path(),
        &[("stream.upstream_idle_timeout_secs", "1")],
    )
    .await;
    (odd, demo, dir)
}
