//! kycd's HTTP edge: the native `/v1` API, problem+json errors, OpenAPI and health.

mod api;
mod capture;
mod console;
mod dialect;
mod docs;
mod dto;
mod error;
mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod lifecycle_api;
mod multipart;
mod observe;
mod ratelimit;
mod scrape;
mod webhooks_api;

pub use error::{ApiError, PROBLEM_BASE};
pub use observe::{REQUEST_ID, RequestId};
pub use scrape::{MetricsEndpoint, install_recorder as install_metrics_recorder, spawn_upkeep as spawn_metrics_upkeep};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use kycd_engine::Engine;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// `/metrics` on this router: `None` answers 404 (no token set, or they have an
    /// address of their own).
    pub metrics: Option<Arc<MetricsEndpoint>>,
}

/// Every route kycd serves, without `/metrics` (it answers 404).
pub fn router(engine: Arc<Engine>) -> Router {
    router_with_metrics(engine, None)
}

/// The router for an address of the metrics' own: `/metrics` only (with the token when one
/// is set), and the same request ids and access log as the main router.
pub fn metrics_router(engine: Arc<Engine>, metrics: Arc<MetricsEndpoint>) -> Router {
    let state = AppState {
        engine,
        metrics: Some(metrics),
    };
    Router::new()
        .route("/metrics", get(scrape::metrics))
        .fallback(not_found)
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(observe::observe))
        .with_state(state)
}

/// Every route kycd serves; `/metrics` with `metrics` (else it answers 404).
pub fn router_with_metrics(engine: Arc<Engine>, metrics: Option<Arc<MetricsEndpoint>>) -> Router {
    let upload_limit = engine.config().max_upload_bytes + 64 * 1024;
    let state = AppState { engine, metrics };
    let v1 = Router::new()
        .at("/v1", "/applicants", post(api::create_applicant).get(api::list_applicants))
        .at("/v1", "/applicants/{id}", get(api::get_applicant).patch(api::update_applicant))
        .at("/v1", "/verifications", post(api::create_verification).get(api::list_verifications))
        .at(
            "/v1",
            "/verifications/{id}",
            get(api::get_verification).delete(api::delete_verification),
        )
        .at("/v1", "/verifications/{id}/cancel", post(api::cancel_verification))
        .at(
            "/v1",
            "/verifications/{id}/attempts",
            post(api::create_attempt).get(api::list_attempts),
        )
        .at("/v1", "/verifications/{id}/attempts/{attempt_id}", get(api::get_attempt))
        .at(
            "/v1",
            "/verifications/{id}/captures",
            post(api::upload_capture)
                .get(api::list_captures)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .at(
            "/v1",
            "/verifications/{id}/liveness_challenge",
            post(api::create_liveness_challenge),
        )
        .at("/v1", "/verifications/{id}/submit", post(api::submit))
        .at("/v1", "/verifications/{id}/review", post(api::review))
        .at("/v1", "/verifications/{id}/report", get(api::report))
        .at("/v1", "/verifications/{id}/anonymize", post(api::anonymize))
        .at("/v1", "/verifications/{id}/report.pdf", get(api::report_pdf))
        .at("/v1", "/verifications/{id}/evidence.jwt", get(api::evidence_jwt))
        .at("/v1", "/verifications/{id}/evidence.zip", get(api::evidence_zip))
        .at("/v1", "/files/{id}", get(api::get_file))
        .at(
            "/v1",
            "/webhook_endpoints",
            post(webhooks_api::create_endpoint).get(webhooks_api::list_endpoints),
        )
        .at(
            "/v1",
            "/webhook_endpoints/{id}",
            get(webhooks_api::get_endpoint)
                .patch(webhooks_api::update_endpoint)
                .delete(webhooks_api::delete_endpoint),
        )
        .at("/v1", "/webhook_endpoints/{id}/rotate_secret", post(webhooks_api::rotate_secret))
        .at("/v1", "/webhook_endpoints/{id}/deliveries", get(webhooks_api::list_deliveries))
        .at(
            "/v1",
            "/webhook_endpoints/{id}/deliveries/{delivery_id}/redeliver",
            post(webhooks_api::redeliver),
        )
        .at("/v1", "/verifications/{id}/legal_hold", put(lifecycle_api::put_legal_hold))
        .at(
            "/v1",
            "/settings/retention",
            get(lifecycle_api::get_retention).put(lifecycle_api::put_retention),
        )
        .at(
            "/v1",
            "/settings/policy",
            get(lifecycle_api::get_policy).put(lifecycle_api::put_policy),
        )
        .at(
            "/v1",
            "/settings/branding",
            get(lifecycle_api::get_branding)
                .put(lifecycle_api::put_branding)
                .layer(DefaultBodyLimit::max(512 * 1024)),
        )
        .at("/v1", "/capture-sessions", post(api::start_capture_session))
        .at("/v1", "/openapi.json", get(docs::openapi_json))
        .layer(DefaultBodyLimit::max(256 * 1024));
    let transmit = dialect::transmit::router(&state.engine);
    Router::new()
        .nest("/v1", v1)
        .merge(capture::router(&state.engine))
        .merge(console::router())
        .nest(dialect::transmit::MOUNT, transmit)
        .nest(dialect::checkout::MOUNT, dialect::checkout::router(&state.engine))
        .nest(dialect::boldsign::MOUNT, dialect::boldsign::router(&state.engine))
        .nest(dialect::skribble::MOUNT, dialect::skribble::router(&state.engine, state.clone()))
        .at("", "/docs", get(docs::docs_page))
        .at("", "/.well-known/jwks.json", get(api::jwks_all))
        .at("", "/.well-known/jwks/{tenant_id}", get(api::jwks_tenant))
        .at("", "/healthz", get(healthz))
        .at("", "/readyz", get(readyz))
        .at("", "/metrics", get(scrape::metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), ratelimit::headers))
        .layer(middleware::from_fn(security_headers))
        // A bug in a handler answers 500 instead of dropping the connection (and the
        // server keeps serving); the panic's message is not logged: it may quote input.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked: answered 500");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error: the server hit a bug; it was logged",
                )
                .into_response()
            },
        ))
        // Request id, span, access log and HTTP metrics, outermost so that they cover every
        // answer (a panic's 500 included). Route templates only, never the raw URI.
        .layer(middleware::from_fn(observe::observe))
        .with_state(state)
}

/// Every route template the server answers, recorded as the routers are built, so tests
/// can enumerate them (the cross-tenant matrix) and a new route cannot be forgotten: axum
/// routers do not list their routes.
static ROUTE_TEMPLATES: std::sync::Mutex<std::collections::BTreeSet<String>> = std::sync::Mutex::new(std::collections::BTreeSet::new());

/// The route templates recorded so far (after `router()` ran: all of them), mount prefix
/// included, e.g. `/v1/verifications/{id}`.
pub fn route_templates() -> Vec<String> {
    ROUTE_TEMPLATES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .cloned()
        .collect()
}

/// `Router::route` that also records the template under its mount prefix.
pub(crate) trait RouteExt<S> {
    fn at(self, mount: &str, path: &str, handler: axum::routing::MethodRouter<S>) -> Self;
}

impl<S: Clone + Send + Sync + 'static> RouteExt<S> for Router<S> {
    fn at(self, mount: &str, path: &str, handler: axum::routing::MethodRouter<S>) -> Self {
        ROUTE_TEMPLATES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(format!("{mount}{path}"));
        self.route(path, handler)
    }
}

async fn security_headers(req: Request, next: Next) -> Response {
    let has_body = req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut resp = next.run(req).await;
    let failed = resp.status().is_client_error() || resp.status().is_server_error();
    let busy = resp.status() == StatusCode::SERVICE_UNAVAILABLE;
    let h = resp.headers_mut();
    // An error may be answered before the body was read (bad key, bad query); the
    // connection then cannot be reused, so say so instead of dropping it under the client.
    if has_body && failed {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    // A 503 is a capacity bound (password hashes, upload bytes in flight, readiness): every
    // dialect's error shape answers it, this says when to come back where it did not.
    if busy {
        h.entry(header::RETRY_AFTER).or_insert(HeaderValue::from_static("2"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route: see /docs for the API")
}

/// The liveness probe's answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// Liveness
/// Whether the process answers at all (it checks nothing else: see `/readyz`). No API key.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process is alive.", body = Health)))]
pub(crate) async fn healthz() -> impl IntoResponse {
    axum::Json(Health { status: "ok".into() })
}

/// The readiness probe's answer when every check passed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    pub status: String,
    /// Each check and whether it passed: `database` (takes a write), `blob_store` (takes
    /// and gives back an object), `master_key` (still the database's), `models` (OCR and
    /// face models loaded).
    #[schema(value_type = Object)]
    pub checks: std::collections::BTreeMap<String, String>,
}

/// How long each `/readyz` check may take: load balancers probe every few seconds.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness
/// Whether this instance can serve: the database takes a write, the blob store takes and
/// gives back an object, the master key is still the database's, and the OCR and face
/// models are loaded. No API key; the causes of a failure are in the server log.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "Ready: every check passed.", body = Readiness),
        (status = 503, body = crate::dto::Problem)))]
pub(crate) async fn readyz(State(s): State<AppState>) -> Response {
    let checks = s.engine.readiness(READY_TIMEOUT).await;
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    if failed.is_empty() {
        let checks = checks.iter().map(|c| (c.name.to_owned(), "ok".to_owned())).collect();
        return axum::Json(Readiness {
            status: "ready".into(),
            checks,
        })
        .into_response();
    }
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
        format!("not ready: {}", failed.join("; ")),
    )
    .into_response()
}
