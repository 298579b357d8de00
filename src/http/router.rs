//! Path and method dispatch over `matchit`, with the 404/405 answers every route shares.
//!
//! The router is generic over the application state, so `http` stays free of domains: `api`
//! builds the table. It strips the configured base path when a reverse proxy passes it through
//! (and works without it when the proxy strips it), and tolerates one trailing slash, as the
//! Express backend did.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use hyper::body::Incoming;

use super::error::ApiError;
use crate::body::{Body, empty};

/// A boxed handler future.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send>>;

type Handler<S> = Arc<dyn Fn(Request<Incoming>, S) -> HandlerFuture + Send + Sync>;

/// The pattern of the route that answered, stored in response extensions for the access log
/// (which logs patterns, never raw paths: a path may carry a ticket).
#[derive(Debug, Clone, Copy)]
pub struct MatchedRoute(pub &'static str);

/// Path parameters of the matched route, stored in request extensions. A route has one or two,
/// so a list searched in order beats hashing.
#[derive(Debug, Clone, Default)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    /// The raw (still percent-encoded) value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

struct Route<S> {
    pattern: &'static str,
    methods: Vec<(Method, Handler<S>)>,
}

/// Who answers GET/HEAD for paths the route table gives away (see [`Router::site`]).
struct Site<S> {
    claims: fn(&str) -> bool,
    handler: Handler<S>,
}

/// A route table bound to a state value that is cloned into every handler call.
pub struct Router<S> {
    table: matchit::Router<usize>,
    routes: Vec<Route<S>>,
    state: S,
    base_path: String,
    site: Option<Site<S>>,
}

impl<S> std::fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "routes",
                &self.routes.iter().map(|r| r.pattern).collect::<Vec<_>>(),
            )
            .field("base_path", &self.base_path)
            .finish()
    }
}

impl<S: Clone + Send + Sync + 'static> Router<S> {
    /// An empty table.
    pub fn new(state: S) -> Self {
        Router {
            table: matchit::Router::new(),
            routes: Vec::new(),
            state,
            base_path: String::new(),
            site: None,
        }
    }

    /// Hands every GET/HEAD whose path (base path and one trailing slash stripped, the `web`
    /// path parameter) `claims` accepts to `handler` before the table is consulted: a served web app owns `/` and its client-side routes,
    /// while the paths it does not claim (`/api/…`) keep the table's answers, 404 included.
    pub fn site<F, Fut>(mut self, claims: fn(&str) -> bool, handler: F) -> Self
    where
        F: Fn(Request<Incoming>, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
    {
        let handler: Handler<S> = Arc::new(move |req, state| Box::pin(handler(req, state)));
        self.site = Some(Site { claims, handler });
        self
    }

    /// Serve under `base_path` as well as at the root (`""` for none).
    pub fn base_path(mut self, base_path: &str) -> Self {
        self.base_path = base_path.trim_end_matches('/').to_string();
        self
    }

    /// Adds `handler` for `method` on `pattern` (matchit syntax: `/a/{id}`, `/p/{*rest}`).
    ///
    /// Panics on a conflicting pattern: the table is built once at start-up, so this is a bug
    /// in the table, caught by every test that starts the server.
    pub fn route<F, Fut>(mut self, method: Method, pattern: &'static str, handler: F) -> Self
    where
        F: Fn(Request<Incoming>, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
    {
        let handler: Handler<S> = Arc::new(move |req, state| Box::pin(handler(req, state)));
        if let Some(route) = self.routes.iter_mut().find(|r| r.pattern == pattern) {
            route.methods.push((method, handler));
        } else {
            let index = self.routes.len();
            self.table
                .insert(pattern, index)
                .unwrap_or_else(|e| panic!("route table: {pattern}: {e}"));
            self.routes.push(Route {
                pattern,
                methods: vec![(method, handler)],
            });
        }
        self
    }

    /// Finds the handler for `req` and runs it, catching a panic as a 500.
    pub async fn dispatch(&self, mut req: Request<Incoming>, request_id: &str) -> Response<Body> {
        let path = self.local_path(req.uri().path()).to_string();
        if let Some(site) = &self.site
            && (req.method() == Method::GET || req.method() == Method::HEAD)
            && (site.claims)(&path)
        {
            // The site sees the path without the base path, as its `web` parameter.
            req.extensions_mut().insert(PathParams(vec![("web", path)]));
            let mut resp = run((site.handler)(req, self.state.clone()), request_id).await;
            resp.extensions_mut().insert(MatchedRoute(SITE_ROUTE));
            return resp;
        }
        let Ok(matched) = self.table.at(&path) else {
            return ApiError::not_found().into_response();
        };
        let route = &self.routes[*matched.value];
        let params = PathParams(
            matched
                .params
                .iter()
                .map(|(k, v)| (static_name(route.pattern, k), v.to_string()))
                .collect(),
        );
        let method = req.method().clone();
        let handler = route
            .methods
            .iter()
            .find(|(m, _)| *m == method)
            .or_else(|| {
                // HEAD is GET without a body; hyper drops the body for HEAD responses.
                (method == Method::HEAD)
                    .then(|| route.methods.iter().find(|(m, _)| *m == Method::GET))
                    .flatten()
            })
            .map(|(_, h)| h.clone());
        let mut resp = match handler {
            Some(handler) => {
                req.extensions_mut().insert(params);
                run(handler(req, self.state.clone()), request_id).await
            }
            None => ApiError::method_not_allowed(&allowed(route)).into_response(),
        };
        if method == Method::HEAD {
            *resp.body_mut() = empty();
        }
        resp.extensions_mut().insert(MatchedRoute(route.pattern));
        resp
    }

    fn local_path<'p>(&self, path: &'p str) -> &'p str {
        let mut p = path;
        if !self.base_path.is_empty()
            && let Some(rest) = p.strip_prefix(self.base_path.as_str())
            && (rest.is_empty() || rest.starts_with('/'))
        {
            p = if rest.is_empty() { "/" } else { rest };
        }
        if p.len() > 1 && p.ends_with('/') {
            p = &p[..p.len() - 1];
        }
        p
    }
}

/// `name` as it is spelled in `pattern`, which outlives the request (matchit only lends its own
/// copy of a parameter's name).
fn static_name(pattern: &'static str, name: &str) -> &'static str {
    pattern
        .find(name)
        .map_or("", |at| &pattern[at..at + name.len()])
}

/// The access log's route for whatever the site answered (its paths are the browser's).
const SITE_ROUTE: &str = "/{*web}";

/// Runs a handler, catching a panic as a 500 and rendering its error.
async fn run(fut: HandlerFuture, request_id: &str) -> Response<Body> {
    match CatchUnwind(AssertUnwindSafe(fut)).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(err)) => err.into_response(),
        Err(()) => ApiError::internal(request_id).into_response(),
    }
}

fn allowed<S>(route: &Route<S>) -> Vec<Method> {
    let mut methods: Vec<Method> = route.methods.iter().map(|(m, _)| m.clone()).collect();
    if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
        methods.push(Method::HEAD);
    }
    methods
}

/// Polls a future inside `catch_unwind`, so a panicking handler becomes a 500 for that request
/// while the connection and the server carry on.
struct CatchUnwind<F>(AssertUnwindSafe<F>);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut inner.0).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
