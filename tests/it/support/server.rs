//! The one way a fake upstream starts (reqwest's `tests/support/server.rs` shape): bind
//! 127.0.0.1:0, accept, serve each connection with hyper, call the handler per request.
//!
//! The public functions are thin generic shells over one non-generic inner function (a boxed
//! handler), so each fake adds only its closure to the test build, not a copy of the loop.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// The body every fake's response is boxed into.
pub type Body = UnsyncBoxBody<Bytes, Box<dyn StdError + Send + Sync>>;
type Reply = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
type Handler = Arc<dyn Fn(Request<Incoming>) -> Reply + Send + Sync>;

/// Serves `handler` on a fresh loopback port until the test ends; returns the address.
pub async fn serve<F, Fut, B>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_listener(listener, handler)
}

/// Serves `handler` on `listener` (for a fake that needs its own address before it starts).
pub fn serve_listener<F, Fut, B>(listener: TcpListener, handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let handler: Handler = Arc::new(move |req| {
        let reply = handler(req);
        Box::pin(async move { reply.await.map(|b| b.map_err(Into::into).boxed_unsync()) })
    });
    serve_inner(listener, handler)
}

fn serve_inner(listener: TcpListener, handler: Handler) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let reply = handler(req);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}
