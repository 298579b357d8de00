//! The demo Plex's accept loop and per-request pipeline: collect the (small) body, apply the
//! request faults, check the token, dispatch, stamp `X-Plex-Protocol`, record.
//!
//! Why: these rules apply to every path, so they live in one place and no handler can forget
//! them. HTTP/1.1 and h2c both work (hyper-util's auto builder). Shutdown is graceful with a 2 s
//! bound, then every connection task is aborted. It never binds anything but the listener it is
//! handed and never holds the state lock across an `.await`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::request::Req;
use super::response::{self, Resp};
use super::routes;
use super::state::{RecordedRequest, Shared};

/// Largest request body the demo accepts (PMS requests are tiny).
const MAX_BODY: usize = 1 << 20;

/// Accepts connections until `stop` turns true, then shuts down gracefully (2 s at most).
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let shared = Arc::clone(&shared);
                    let svc = service_fn(move |req| handle(Arc::clone(&shared), req));
                    let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                    let conn = graceful.watch(conn);
                    conns.spawn(async move {
                        let _ = conn.await;
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "demo plex accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let (parts, body) = req.into_parts();
    let (body, too_large) = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => (c.to_bytes(), false),
        Err(_) => (bytes::Bytes::new(), true),
    };
    let mut req = Req::new(&parts, body);

    if let Some(d) = shared.faults.delay_value() {
        tokio::time::sleep(d).await;
    }
    let resp = if let Some(status) = shared.faults.take_failure() {
        response::html_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
    } else if too_large {
        response::html_error(StatusCode::PAYLOAD_TOO_LARGE)
    } else if req.path.as_deref() == Some("/identity") {
        routes::dispatch(&shared, &req)
    } else if let Some(account) = account(&shared, &req) {
        req.account = account;
        routes::dispatch(&shared, &req)
    } else {
        response::unauthorized()
    };
    let resp = finish(&req, resp);

    shared.record(RecordedRequest {
        method: req.method.clone(),
        path: req.raw_path.clone(),
        query: req.raw_query.clone(),
        headers: req.headers.clone(),
        body: req.body.clone(),
        status: resp.status().as_u16(),
    });
    Ok(resp)
}

/// The account a token belongs to: 0 for the server token, `n` for the `n`-th shared user token.
fn account(shared: &Shared, req: &Req) -> Option<usize> {
    let token = req.plex("X-Plex-Token")?;
    if token == shared.opts.token {
        return Some(0);
    }
    shared
        .opts
        .shared_user_tokens
        .iter()
        .position(|t| t == token)
        .map(|i| i + 1)
}

/// Stamps `X-Plex-Protocol` and strips the body of a HEAD answer (keeping its length).
fn finish(req: &Req, mut resp: Resp) -> Resp {
    resp.headers_mut()
        .insert("x-plex-protocol", HeaderValue::from_static("1.0"));
    if req.is_head() {
        if !resp.headers().contains_key(CONTENT_LENGTH)
            && let Some(n) = http_body::Body::size_hint(resp.body()).exact()
        {
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        *resp.body_mut() = response::empty();
    }
    resp
}
