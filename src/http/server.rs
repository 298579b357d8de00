//! The accept loop: HTTP/1.1 and h2c on one port, one tower stack built once and cloned per
//! connection, an access log line per request and graceful shutdown. Which connections are
//! kept at all (caps, closing silent and idle ones) is [`super::connections`]'s business.
//!
//! Layers, outermost first: request context and access log (here, so even shed or timed-out
//! requests get a line and an `X-Request-Id`) → load shed → global concurrency limit → timeout
//! until response headers (bodies may stream for as long as they need) → compression of
//! text-like bodies ([`super::compression`]) → the router, which catches handler panics.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use tracing::Instrument;

use super::access::{AccessLine, AccessLogBody, MediaTransfer};
use super::connections::{Activity, Busy, ConnectionLimits, LogEvery, close_when_idle};
use super::context::{RequestContext, TrustedProxies};
use super::cors::CorsPolicy;
use super::error::{ApiError, ErrorCode};
use super::router::{MatchedRoute, Router};
use crate::body::{Body, BoxError};
use crate::metrics::Metrics;

/// Transport settings (from `[server]` in the config).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time a handler may take to produce response headers.
    pub request_timeout: Duration,
    /// Time a connection may go without sending a complete request head: from accept, and
    /// from the end of each response (HTTP/1 and HTTP/2).
    pub header_read_timeout: Duration,
    /// Time in-flight requests get after the shutdown signal.
    pub shutdown_grace: Duration,
    /// Requests handled at once before shedding.
    pub max_concurrency: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Open connections at once; more are closed at accept.
    pub max_connections: usize,
    /// Open connections per client address (trusted proxies exempt).
    pub max_connections_per_ip: usize,
    /// `SO_SNDBUF` of each accepted connection, or `None` for the kernel's autotuning
    /// ([`super::socket`] says why).
    pub send_buffer: Option<usize>,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// CORS origins and the CSRF check.
    pub cors: CorsPolicy,
    /// Where each answered request is counted (by route pattern and status).
    pub metrics: Arc<Metrics>,
}

/// How shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// Every in-flight response finished within the grace period.
    Drained,
    /// The grace period ran out; remaining connections were dropped.
    GraceExpired,
}

/// Serves `router` on `listener` until `shutdown` completes, then drains.
pub async fn serve<S>(
    listener: TcpListener,
    router: Router<S>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> ShutdownOutcome
where
    S: Clone + Send + Sync + 'static,
{
    let router = Arc::new(router);
    let front = Arc::new(Front {
        trusted: options.trusted_proxies.clone(),
        cors: options.cors.clone(),
        max_body_bytes: options.max_body_bytes,
        metrics: options.metrics.clone(),
    });

    // Built once: the concurrency limit's semaphore is shared by every clone.
    let stack = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit_layer_global(options.max_concurrency)
        .timeout(options.request_timeout)
        .map_response(super::compression::unify)
        .layer(super::compression::layer())
        .service(tower::service_fn(move |req: Request<Incoming>| {
            let router = router.clone();
            async move {
                let request_id = req
                    .extensions()
                    .get::<RequestContext>()
                    .map(|c| c.request_id.clone())
                    .unwrap_or_default();
                Ok::<_, BoxError>(router.dispatch(req, &request_id).await)
            }
        }));
    // Boxed to erase the layered type: it keeps the error type a plain `BoxError` (the layered
    // one trips a higher-ranked lifetime inference at `tokio::spawn`) and makes clones cheap.
    let stack: Stack = BoxCloneSyncService::new(stack);

    // Empty pipes of closed connections, for the next ones (a few descriptors, kept for the
    // first byte of a connection's first spliced body).
    #[cfg(target_os = "linux")]
    let spare_pipes = std::sync::Arc::new(crate::relay::SparePipes::new(SPARE_PIPES));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        // hyper queues up to ~400 KiB per connection by default before it stops polling the
        // body; with a slow player and a fast Plex that is memory held per stream for nothing.
        // 64 KiB still fits any request head and keeps streams to a few frames in flight.
        .max_buf_size(64 * 1024);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let limits = ConnectionLimits::new(
        options.max_connections,
        options.max_connections_per_ip,
        options.trusted_proxies.clone(),
    );
    // A flood (EMFILE, or thousands of refused connections) must not become a flood of lines.
    let mut accept_errors = LogEvery::new(Duration::from_secs(1));
    let inherited = super::socket::tune_listener(&listener, options.send_buffer);
    let mut refusals = LogEvery::new(Duration::from_secs(1));

    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Usually EMFILE: back off instead of spinning, keep serving what we have.
                if let Some(suppressed) = accept_errors.hit(tokio::time::Instant::now()) {
                    tracing::warn!(error = %e, suppressed, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match limits.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                // Closed at once: the connections already open (a health check, a playing
                // stream) keep their file descriptors and their answers.
                drop(tcp);
                if let Some(suppressed) = refusals.hit(tokio::time::Instant::now()) {
                    tracing::warn!(
                        limit = refusal.key(),
                        client = %peer.ip(),
                        suppressed,
                        "connection refused: too many open connections"
                    );
                }
                continue;
            }
        };
        if !inherited {
            super::socket::tune(&tcp, options.send_buffer);
        }
        let activity = Activity::new();
        let stack = stack.clone();
        let front = front.clone();
        let watched = activity.clone();
        // Requests on this connection may answer with a spliced body (`crate::relay`); HTTP/2
        // copies frames, so only HTTP/1 requests get the slot.
        #[cfg(target_os = "linux")]
        let relay_slot = crate::relay::Slot::new(&spare_pipes);
        #[cfg(target_os = "linux")]
        let io = crate::relay::RelayIo::new(tcp, relay_slot.clone());
        #[cfg(not(target_os = "linux"))]
        let io = hyper_util::rt::TokioIo::new(tcp);
        let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            #[cfg(target_os = "linux")]
            if req.version() <= http::Version::HTTP_11 {
                req.extensions_mut().insert(relay_slot.clone());
            }
            let busy = watched.begin();
            let stack = stack.clone();
            let front = front.clone();
            async move { Ok::<_, Infallible>(front.handle(stack, req, peer, busy).await) }
        });
        let conn = builder.serve_connection(io, svc);
        let conn = graceful.watch(conn.into_owned());
        let idle_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            match close_when_idle(conn, activity, idle_timeout).await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                None => tracing::debug!(%peer, "closed a connection that sent no request head"),
            }
        });
    }

    drop(listener);
    tracing::info!(
        grace_secs = options.shutdown_grace.as_secs_f64(),
        "shutdown: stopped accepting, draining in-flight requests"
    );
    match tokio::time::timeout(options.shutdown_grace, graceful.shutdown()).await {
        Ok(()) => {
            tracing::info!("shutdown: all connections drained");
            ShutdownOutcome::Drained
        }
        Err(_) => {
            tracing::warn!("shutdown: grace period over, dropping remaining connections");
            ShutdownOutcome::GraceExpired
        }
    }
}

/// Extension to keep the builder chain readable.
trait GlobalLimitExt<L> {
    fn concurrency_limit_layer_global(
        self,
        max: usize,
    ) -> ServiceBuilder<tower::layer::util::Stack<tower::limit::GlobalConcurrencyLimitLayer, L>>;
}

impl<L> GlobalLimitExt<L> for ServiceBuilder<L> {
    fn concurrency_limit_layer_global(
        self,
        max: usize,
    ) -> ServiceBuilder<tower::layer::util::Stack<tower::limit::GlobalConcurrencyLimitLayer, L>>
    {
        self.layer(tower::limit::GlobalConcurrencyLimitLayer::new(max))
    }
}

/// Empty pipes kept for new connections: enough for a burst of players that open a connection
/// per segment, 2 descriptors each.
#[cfg(target_os = "linux")]
const SPARE_PIPES: usize = 32;

// Names built at compile time: a `&str` name is parsed and validated again on every insert.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const CROSS_ORIGIN_RESOURCE_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-resource-policy");

type Stack = BoxCloneSyncService<Request<Incoming>, Response<Body>, BoxError>;

struct Front {
    trusted: TrustedProxies,
    cors: CorsPolicy,
    max_body_bytes: usize,
    metrics: Arc<Metrics>,
}

impl Front {
    async fn handle(
        &self,
        stack: Stack,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        busy: Busy,
    ) -> Response<Body> {
        let started = Instant::now();
        let ctx = RequestContext::new(peer, req.headers(), &self.trusted, self.max_body_bytes);
        let method = req.method().clone();
        let request_id = ctx.request_id.clone();
        let client_ip = ctx.client_ip;
        req.extensions_mut().insert(ctx);
        // Every line logged while handling the request, or while its body streams, carries
        // its id. ERROR level so the span exists whenever anything is logged at all.
        let span = tracing::error_span!("request", request_id = %request_id);

        let declared_len = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // The one request header needed once the request has moved into the stack.
        let origin = req.headers().get(http::header::ORIGIN).cloned();
        let mut resp = if let Some(pre) = self.cors.preflight(&method, req.headers()) {
            pre
        } else if declared_len.is_some_and(|n| n > self.max_body_bytes as u64) {
            ApiError::payload_too_large(self.max_body_bytes).into_response()
        } else if let Err(e) = self
            .cors
            .check_csrf(&method, req.uri().path(), req.headers())
        {
            e.into_response()
        } else {
            match stack.oneshot(req).instrument(span.clone()).await {
                Ok(resp) => resp,
                Err(e) => stack_error(e, &request_id),
            }
        };

        let route = resp.extensions().get::<MatchedRoute>().map(|r| r.0);
        // A pattern, never the raw path: a path may carry a ticket or an id without bound.
        self.metrics.request(
            route.unwrap_or("unmatched"),
            resp.status().as_u16(),
            started.elapsed(),
        );
        let route = route.unwrap_or("-");
        let headers = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert(X_REQUEST_ID, v);
        }
        headers
            .entry(header::X_CONTENT_TYPE_OPTIONS)
            .or_insert(HeaderValue::from_static("nosniff"));
        headers
            .entry(header::REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("no-referrer"));
        headers
            .entry(header::X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("SAMEORIGIN"));
        // Media and images are embedded by a frontend on another origin.
        headers
            .entry(CROSS_ORIGIN_RESOURCE_POLICY)
            .or_insert(HeaderValue::from_static("cross-origin"));
        self.cors.decorate(origin.as_ref(), headers);
        let status = resp.status();
        let code = resp.extensions().get::<ErrorCode>().map(|c| c.0.clone());
        let media = resp.extensions().get::<MediaTransfer>().is_some();
        resp.map(|body| {
            Body::new(AccessLogBody {
                inner: body,
                line: Some(AccessLine {
                    method,
                    route,
                    status,
                    code,
                    request_id,
                    client_ip,
                    started,
                    media,
                    bytes: 0,
                }),
                span,
                _busy: busy,
            })
        })
    }
}

fn stack_error(e: BoxError, request_id: &str) -> Response<Body> {
    let err = if e.is::<tower::load_shed::error::Overloaded>() {
        ApiError::overloaded()
    } else if e.is::<tower::timeout::error::Elapsed>() {
        ApiError::timeout()
    } else {
        tracing::error!(request_id, error = %e, "request failed inside the service stack");
        ApiError::internal(request_id)
    };
    err.into_response()
}
