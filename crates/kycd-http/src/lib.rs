//! kycd's HTTP edge: the native `/v1` API, problem+json errors, OpenAPI and health.

mod api;
mod capture;
mod console;
mod cookies;
mod dialect;
mod docs;
mod dto;
mod error;
mod extract;
// The fuzz targets' entry points (fuzz/ turns the feature on): a test tool, not in the
// product's build. It stays in this crate because it calls the private parsers the
// handlers call (dialect wire formats, DTOs, multipart); kycd-testkit could only reach
// them if every one of those modules were public.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod i18n;
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
use axum::routing::get;
use kycd_engine::Engine;
use std::sync::Arc;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    served(engine, metrics).0
}

/// Every route template kycd serves, mount prefix included (e.g. `/v1/verifications/{id}`),
/// read off the routers themselves: the cross-tenant matrix (`kycd routes`) walks it.
pub fn route_templates(engine: Arc<Engine>) -> Vec<String> {
    served(engine, None).1
}

/// The native API: each operation is routed together with its OpenAPI annotation
/// (utoipa-axum's `routes!`), so none can be served without being documented, and the
/// document (`/v1/openapi.json`, `/docs`) is what is routed. `upload_limit`: the body
/// limit of capture uploads.
pub(crate) fn native_routes(upload_limit: usize) -> OpenApiRouter<AppState> {
    use crate::lifecycle_api as life;
    use crate::webhooks_api as hooks;
    let uploads = OpenApiRouter::new()
        .routes(routes!(api::upload_capture, api::list_captures))
        .layer(DefaultBodyLimit::max(upload_limit));
    let branding = OpenApiRouter::new()
        .routes(routes!(life::get_branding, life::put_branding))
        .layer(DefaultBodyLimit::max(512 * 1024));
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(api::create_applicant, api::list_applicants))
        .routes(routes!(api::get_applicant, api::update_applicant))
        .routes(routes!(api::create_verification, api::list_verifications))
        .routes(routes!(api::get_verification, api::delete_verification))
        .routes(routes!(api::cancel_verification))
        .routes(routes!(api::create_attempt, api::list_attempts))
        .routes(routes!(api::get_attempt))
        .merge(uploads)
        .routes(routes!(api::create_liveness_challenge))
        .routes(routes!(api::submit))
        .routes(routes!(api::review))
        .routes(routes!(api::report))
        .routes(routes!(api::anonymize))
        .routes(routes!(api::report_pdf))
        .routes(routes!(api::evidence_jwt))
        .routes(routes!(api::evidence_zip))
        .routes(routes!(api::get_file))
        .routes(routes!(hooks::create_endpoint, hooks::list_endpoints))
        .routes(routes!(hooks::get_endpoint, hooks::update_endpoint, hooks::delete_endpoint))
        .routes(routes!(hooks::rotate_secret))
        .routes(routes!(hooks::list_deliveries))
        .routes(routes!(hooks::redeliver))
        .routes(routes!(life::put_legal_hold))
        .routes(routes!(life::get_retention, life::put_retention))
        .routes(routes!(life::get_policy, life::put_policy))
        .merge(branding)
        .routes(routes!(api::start_capture_session))
        .routes(routes!(docs::openapi_json))
        .layer(DefaultBodyLimit::max(256 * 1024))
        // Outside the API's body limit: they take no body.
        .routes(routes!(docs::docs_page))
        .routes(routes!(api::jwks_all))
        .routes(routes!(api::jwks_tenant))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(scrape::metrics))
}

/// The router and its route templates.
fn served(engine: Arc<Engine>, metrics: Option<Arc<MetricsEndpoint>>) -> (Router, Vec<String>) {
    let upload_limit = engine.config().max_upload_bytes + 64 * 1024;
    let state = AppState { engine, metrics };
    let (native, doc) = native_routes(upload_limit).split_for_parts();
    let others = Routes::new()
        .merge(capture::router(&state.engine))
        .merge(console::router())
        .nest(dialect::transmit::MOUNT, dialect::transmit::router(&state.engine))
        .nest(dialect::checkout::MOUNT, dialect::checkout::router(&state.engine))
        .nest(dialect::boldsign::MOUNT, dialect::boldsign::router(&state.engine))
        .nest(dialect::skribble::MOUNT, dialect::skribble::router(&state.engine, state.clone()));
    let mut templates: Vec<String> = doc.paths.paths.keys().cloned().collect();
    templates.extend(others.templates);
    templates.sort();
    let router = native
        .merge(others.router)
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
        .with_state(state);
    (router, templates)
}

/// A router that knows its route templates: axum routers do not list their routes, and the
/// cross-tenant matrix must walk every one (the native API's come from its OpenAPI
/// document, [`native_routes`]; these are the capture page's, the console's and the
/// dialects').
pub(crate) struct Routes<S> {
    router: Router<S>,
    templates: Vec<String>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            templates: Vec::new(),
        }
    }

    /// `Router::route`, and the template recorded.
    pub(crate) fn at(mut self, path: &str, handler: axum::routing::MethodRouter<S>) -> Self {
        self.templates.push(path.to_string());
        self.router = self.router.route(path, handler);
        self
    }

    /// `Router::nest`, the inner templates recorded under `mount`.
    pub(crate) fn nest(mut self, mount: &str, inner: Routes<S>) -> Self {
        self.templates.extend(inner.templates.iter().map(|t| format!("{mount}{t}")));
        self.router = self.router.nest(mount, inner.router);
        self
    }

    pub(crate) fn merge(mut self, other: Routes<S>) -> Self {
        self.templates.extend(other.templates);
        self.router = self.router.merge(other.router);
        self
    }

    /// Layers and fallbacks: what changes the router but not its routes.
    pub(crate) fn map(mut self, f: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = f(self.router);
        self
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
