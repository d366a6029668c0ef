//! kycd's HTTP edge: the native `/v1` API, problem+json errors, OpenAPI and health.

mod api;
mod capture;
mod dialect;
mod docs;
mod dto;
mod error;
mod extract;
mod lifecycle_api;
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
        .route("/applicants", post(api::create_applicant).get(api::list_applicants))
        .route("/applicants/{id}", get(api::get_applicant).patch(api::update_applicant))
        .route("/verifications", post(api::create_verification).get(api::list_verifications))
        .route("/verifications/{id}", get(api::get_verification).delete(api::delete_verification))
        .route("/verifications/{id}/cancel", post(api::cancel_verification))
        .route("/verifications/{id}/attempts", post(api::create_attempt).get(api::list_attempts))
        .route("/verifications/{id}/attempts/{attempt_id}", get(api::get_attempt))
        .route(
            "/verifications/{id}/captures",
            post(api::upload_capture)
                .get(api::list_captures)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/verifications/{id}/submit", post(api::submit))
        .route("/verifications/{id}/review", post(api::review))
        .route("/verifications/{id}/report", get(api::report))
        .route("/verifications/{id}/anonymize", post(api::anonymize))
        .route("/verifications/{id}/report.pdf", get(api::report_pdf))
        .route("/verifications/{id}/evidence.jwt", get(api::evidence_jwt))
        .route("/verifications/{id}/evidence.zip", get(api::evidence_zip))
        .route("/files/{id}", get(api::get_file))
        .route(
            "/webhook_endpoints",
            post(webhooks_api::create_endpoint).get(webhooks_api::list_endpoints),
        )
        .route(
            "/webhook_endpoints/{id}",
            get(webhooks_api::get_endpoint)
                .patch(webhooks_api::update_endpoint)
                .delete(webhooks_api::delete_endpoint),
        )
        .route("/webhook_endpoints/{id}/rotate_secret", post(webhooks_api::rotate_secret))
        .route("/webhook_endpoints/{id}/deliveries", get(webhooks_api::list_deliveries))
        .route(
            "/webhook_endpoints/{id}/deliveries/{delivery_id}/redeliver",
            post(webhooks_api::redeliver),
        )
        .route("/verifications/{id}/legal_hold", put(lifecycle_api::put_legal_hold))
        .route(
            "/settings/retention",
            get(lifecycle_api::get_retention).put(lifecycle_api::put_retention),
        )
        .route("/capture-sessions", post(api::start_capture_session))
        .route("/openapi.json", get(docs::openapi_json))
        .layer(DefaultBodyLimit::max(256 * 1024));
    let transmit = dialect::transmit::router(&state.engine);
    Router::new()
        .nest("/v1", v1)
        .merge(capture::router(&state.engine))
        .nest("/compat/transmit", transmit)
        .nest("/compat/checkout", dialect::checkout::router(&state.engine))
        .nest("/compat/boldsign", dialect::boldsign::router(&state.engine))
        .nest("/compat/yousign", dialect::yousign::router(&state.engine))
        .route("/docs", get(docs::docs_page))
        .route("/.well-known/jwks.json", get(api::jwks_all))
        .route("/.well-known/jwks/{tenant_id}", get(api::jwks_tenant))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .layer(middleware::from_fn(security_headers))
        // Spans carry the route template, never the raw URI: query strings may hold tokens.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str());
            tracing::info_span!("http", method = %req.method(), route = %route)
        }))
        .with_state(state)
}

async fn security_headers(req: Request, next: Next) -> Response {
    let has_body = req.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut resp = next.run(req).await;
    let failed = resp.status().is_client_error() || resp.status().is_server_error();
    let h = resp.headers_mut();
    // An error may be answered before the body was read (bad key, bad query); the
    // connection then cannot be reused, so say so instead of dropping it under the client.
    if has_body && failed {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
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

async fn readyz(State(s): State<AppState>) -> Response {
    match s.engine.store().ping().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "the database does not answer").into_response()
        }
    }
}
