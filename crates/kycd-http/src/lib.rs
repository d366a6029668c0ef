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
mod ratelimit;
mod webhooks_api;

pub use error::{ApiError, PROBLEM_BASE};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use kycd_engine::Engine;
use std::sync::Arc;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
}

pub fn router(engine: Arc<Engine>) -> Router {
    let upload_limit = engine.config().max_upload_bytes + 64 * 1024;
    let state = AppState { engine };
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
        // Spans carry the route template, never the raw URI: query strings may hold tokens.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str());
            tracing::info_span!("http", method = %req.method(), route = %route)
        }))
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

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// How long `/readyz` waits for its write: load balancers probe every few seconds.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn readyz(State(s): State<AppState>) -> Response {
    match s.engine.check_ready(READY_TIMEOUT).await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(why) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", why).into_response(),
    }
}
