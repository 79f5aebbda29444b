//! The HTTP API: the router, shared state, and the middleware every request passes through
//! (auth, request metrics). One file per resource.

mod body;
mod error;
mod exact;
mod extract;
mod get_reward;
mod health;
mod judge;
mod judges;
pub mod openapi;
mod page;
mod plugins;
mod run_code;
mod tasks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::admission::{Admission, Busy};
use crate::auth::{Denied, Keys, Role};
use crate::catalog::Catalog;
use crate::client::{ClientId, Peer};
use crate::config::Config;
use crate::metrics::{DeniedLabels, Metrics, RouteLabels};
use crate::sandbox::Sandbox;
use crate::scoring::Scorer;
use crate::store::Database;
pub use error::ApiError;

/// Everything a handler may need; shared by all requests.
pub struct App {
    pub config: Config,
    pub db: Database,
    pub catalog: Arc<Catalog>,
    pub sandbox: Arc<Sandbox>,
    pub scorer: Scorer,
    pub admission: Admission,
    pub metrics: Arc<Metrics>,
    pub keys: Keys,
}

pub type AppState = State<Arc<App>>;

impl App {
    /// A slot for `client`'s `items` items of work, or 503 with Retry-After when saturated.
    async fn admit(
        &self,
        items: usize,
        client: ClientId,
    ) -> Result<crate::admission::Permit, ApiError> {
        self.admission.admit(items, client).await.map_err(|busy| {
            let why = match busy {
                Busy::QueueFull => "too many requests are waiting",
                Busy::WaitedTooLong => "no slot became free in time (limits.queue_timeout_ms)",
            };
            ApiError::busy(format!("the server is saturated: {why}; retry later"), 1)
        })
    }
}

pub fn router(app: Arc<App>) -> Router {
    // Reading and scoring: an API (scorer) key or an admin key.
    let scoring = Router::new()
        .route("/v1/judge", post(judge::score))
        .route("/v1/judges", get(judges::list))
        .route("/v1/judges/{name}", get(judges::get))
        .route("/v1/kinds", get(judges::kinds))
        .route("/v1/tasks", get(tasks::list))
        .route("/v1/tasks/{name}", get(tasks::get))
        .route("/v1/tasks/{name}/get_reward", post(get_reward::get_reward))
        .route("/run_code", post(run_code::run_code));
    // Changes: an admin key. (A method no route has is a 405, keys or not: `method_not_allowed`.)
    let admin = Router::new()
        .route("/v1/judges/{name}", put(judges::put).delete(judges::delete))
        .route("/v1/plugins", put(plugins::put))
        .route("/v1/tasks/{name}", put(tasks::put).delete(tasks::delete));
    let v1 = keyed(scoring, &app, Role::Scorer).merge(keyed(admin, &app, Role::Admin));
    let public = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::serve));
    Router::new()
        .merge(v1)
        .merge(public)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(app.config.limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), track_http))
        .with_state(app)
}

/// `routes` behind a key of `role` at least; then the body deadline.
fn keyed(routes: Router<Arc<App>>, app: &Arc<App>, role: Role) -> Router<Arc<App>> {
    // Outermost first: the key check, then the body deadline.
    routes
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(app),
            body::read_in_time,
        ))
        .route_layer(middleware::from_fn_with_state(
            (Arc::clone(app), role),
            require_key,
        ))
}

/// Refuses a request without a key of the `needed` role (an admin key has every role). The
/// request is marked with its [`ClientId`]: the key's holder, or the peer's address with auth
/// off.
async fn require_key(
    State((app, needed)): State<(Arc<App>, Role)>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match app.keys.authorize(header, needed) {
        Ok(holder) => {
            let client = holder.unwrap_or_else(|| {
                request
                    .extensions()
                    .get::<Peer>()
                    .map_or(ClientId::INTERNAL, |peer| ClientId::of_peer(peer.0.ip()))
            });
            request.extensions_mut().insert(client);
            next.run(request).await
        }
        Err(denied) => {
            let (reason, response) = match denied {
                Denied::Unauthenticated => (
                    "unauthenticated",
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "a valid API key is required (Authorization: Bearer <key>)",
                    ),
                ),
                Denied::Forbidden => (
                    "forbidden",
                    ApiError::new(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "this endpoint needs an admin key",
                    ),
                ),
            };
            app.metrics
                .http_denied
                .get_or_create(&DeniedLabels { reason })
                .inc();
            let mut response = response.into_response();
            response.extensions_mut().insert(CountedAsDenied);
            response
        }
    }
}

/// Marks a response already counted in `http_denied`, so `track_http` leaves it out.
#[derive(Clone, Copy)]
struct CountedAsDenied;

/// The method as a metrics label: the standard ones by name, anything else (`FOO`, `X1`, ...)
/// as `other`, so a client cannot grow `/metrics` by inventing methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Requests counted by (method label, matched route or `unmatched`, status): every label from
/// a bounded set, whatever clients send; requests the key check refused are counted only in
/// `http_denied` (by reason), after nothing else was learnt from them.
async fn track_http(State(app): AppState, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    if response.extensions().get::<CountedAsDenied>().is_some() {
        return response;
    }
    let labels = RouteLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    app.metrics.http_requests.get_or_create(&labels).inc();
    app.metrics
        .http_duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint; see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method; see /openapi.json",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        for name in ["FOO", "X1", "BREW", "get"] {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{name}");
        }
    }
}
