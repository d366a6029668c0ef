//! `/v1/webhook_endpoints`: manage endpoints, read the delivery log, redeliver.

use crate::AppState;
use crate::dto::Problem;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth, optional_json, path_id};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kycd_core::{EventFilter, EventType, WebhookFormat};
use kycd_engine::webhooks::{EndpointPatch, NewEndpoint};
use kycd_engine::webhooks::{WebhookDelivery, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointRequest {
    /// Where to POST events. Live mode: https, public address only.
    pub url: String,
    /// Event types to receive, or `["*"]` for all.
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    /// The body shape: `kycd` (default) or `checkout` (Checkout.com's
    /// `identity_verification_*` events, also signed with `Cko-Signature`).
    pub format: Option<WebhookFormat>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub description: Option<String>,
    pub format: Option<WebhookFormat>,
    /// false pauses deliveries; true re-enables an endpoint (also one disabled for failing).
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// How long the old secret keeps signing beside the new one. Default 86400 (24 h).
    pub overlap_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub enabled_events: Vec<String>,
    pub format: WebhookFormat,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Start of the current run of failed deliveries, if failing.
    pub failing_since: Option<DateTime<Utc>>,
    /// The previous secret signs too until then (after a rotation).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `whsec_…`: only in the create and rotate responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl EndpointView {
    fn new(e: &WebhookEndpoint, secret: Option<String>) -> Self {
        Self {
            id: e.id.to_string(),
            url: e.url.clone(),
            description: e.description.clone(),
            enabled_events: e.events.to_strings(),
            format: e.format,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since,
            previous_secret_expires_at: e.old_secret_until.filter(|t| *t > Utc::now()),
            created_at: e.created_at,
            updated_at: e.updated_at,
            secret,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub data: Vec<EndpointView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    /// The `webhook-id` header: stable across retries and redeliveries.
    pub event_id: String,
    pub event_type: EventType,
    /// `pending` (will be tried at `next_attempt_at`), `succeeded` or `failed` (gave up).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl DeliveryView {
    fn new(d: &WebhookDelivery, t: EventType) -> Self {
        Self {
            id: d.id.to_string(),
            event_id: d.event_id.to_string(),
            event_type: t,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryView>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// How many deliveries: 1 to 100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

fn events(list: &[String]) -> ApiResult<EventFilter> {
    EventFilter::parse(list).map_err(ApiError::invalid)
}

/// Create a webhook endpoint
/// kycd POSTs the events you choose to `url`, signed (Standard Webhooks) with the endpoint's
/// secret, which this response shows once.
#[utoipa::path(post, path = "/v1/webhook_endpoints", tag = "webhooks", request_body = CreateEndpointRequest,
    responses((status = 201, description = "The endpoint, with its signing `secret` (shown once).", body = EndpointView), (status = 422, body = Problem)))]
pub async fn create_endpoint(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<CreateEndpointRequest>,
) -> ApiResult<(StatusCode, Json<EndpointView>)> {
    let new = NewEndpoint {
        url: body.url,
        description: body.description,
        events: events(&body.enabled_events)?,
        format: body.format.unwrap_or_default(),
    };
    let (e, secret) = s.engine.create_webhook_endpoint(&p, new).await?;
    Ok((StatusCode::CREATED, Json(EndpointView::new(&e, Some(secret)))))
}

/// List webhook endpoints
#[utoipa::path(get, path = "/v1/webhook_endpoints", tag = "webhooks",
    responses((status = 200, description = "Every webhook endpoint of this account (without secrets).", body = EndpointList)))]
pub async fn list_endpoints(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<EndpointList>> {
    let list = s.engine.list_webhook_endpoints(&p).await?;
    Ok(Json(EndpointList {
        data: list.iter().map(|e| EndpointView::new(e, None)).collect(),
    }))
}

/// Get a webhook endpoint
#[utoipa::path(get, path = "/v1/webhook_endpoints/{id}", tag = "webhooks", params(("id" = String, Path, description = "The webhook endpoint's id (`we_…`).")),
    responses((status = 200, description = "The endpoint (without its secret).", body = EndpointView), (status = 404, body = Problem)))]
pub async fn get_endpoint(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<EndpointView>> {
    let e = s.engine.get_webhook_endpoint(&p, &path_id(&id, "webhook endpoint")?).await?;
    Ok(Json(EndpointView::new(&e, None)))
}

/// Update a webhook endpoint
/// Fields given replace the stored ones; `enabled` pauses or resumes deliveries.
#[utoipa::path(patch, path = "/v1/webhook_endpoints/{id}", tag = "webhooks", params(("id" = String, Path, description = "The webhook endpoint's id (`we_…`).")),
    request_body = UpdateEndpointRequest,
    responses((status = 200, description = "The endpoint as stored now.", body = EndpointView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_endpoint(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateEndpointRequest>,
) -> ApiResult<Json<EndpointView>> {
    let id = path_id(&id, "webhook endpoint")?;
    let patch = EndpointPatch {
        url: body.url,
        description: body.description,
        events: body.enabled_events.as_deref().map(events).transpose()?,
        format: body.format,
        enabled: body.enabled,
    };
    let e = s.engine.update_webhook_endpoint(&p, &id, patch).await?;
    Ok(Json(EndpointView::new(&e, None)))
}

/// Delete a webhook endpoint
/// No more events are sent to it; deliveries still pending are dropped.
#[utoipa::path(delete, path = "/v1/webhook_endpoints/{id}", tag = "webhooks", params(("id" = String, Path, description = "The webhook endpoint's id (`we_…`).")),
    responses((status = 204, description = "Deleted."), (status = 404, body = Problem)))]
pub async fn delete_endpoint(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.engine.delete_webhook_endpoint(&p, &path_id(&id, "webhook endpoint")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a webhook endpoint's secret
/// A new signing secret (shown once); the old one keeps signing beside it for
/// `overlap_seconds`, so receivers can switch without losing events. The body is optional.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/rotate_secret", tag = "webhooks", params(("id" = String, Path, description = "The webhook endpoint's id (`we_…`).")),
    request_body(content = Option<RotateSecretRequest>, description = "Optional: how long the old secret keeps signing."),
    responses((status = 200, description = "The endpoint with its new `secret` (shown once).", body = EndpointView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn rotate_secret(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<EndpointView>> {
    let id = path_id(&id, "webhook endpoint")?;
    let req: RotateSecretRequest = optional_json(&body)?;
    let overlap = chrono::Duration::seconds(req.overlap_seconds.unwrap_or(86_400));
    let (e, secret) = s.engine.rotate_webhook_secret(&p, &id, overlap).await?;
    Ok(Json(EndpointView::new(&e, Some(secret))))
}

/// List an endpoint's deliveries
/// The newest deliveries of events to this endpoint, with their outcome and next attempt.
#[utoipa::path(get, path = "/v1/webhook_endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "The webhook endpoint's id (`we_…`)."), DeliveryQuery),
    responses((status = 200, description = "The newest deliveries, newest first.", body = DeliveryList), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_deliveries(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> ApiResult<Json<DeliveryList>> {
    let limit = match q.limit {
        None => 50,
        Some(n @ 1..=100) => n as usize,
        Some(_) => return Err(ApiError::invalid("limit must be between 1 and 100")),
    };
    let list = s
        .engine
        .list_webhook_deliveries(&p, &path_id(&id, "webhook endpoint")?, limit)
        .await?;
    Ok(Json(DeliveryList {
        data: list.iter().map(|(d, t)| DeliveryView::new(d, *t)).collect(),
    }))
}

/// Send a delivery again
/// Queues the same event (same `webhook-id`) to be sent to the endpoint again now.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "The webhook endpoint's id (`we_…`)."), ("delivery_id" = String, Path, description = "The delivery's id (`whd_…`).")),
    responses((status = 202, description = "Queued: the delivery is `pending` again.", body = DeliveryView), (status = 404, body = Problem)))]
pub async fn redeliver(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    let endpoint = path_id(&id, "webhook endpoint")?;
    let d = s.engine.redeliver(&p, &endpoint, &path_id(&delivery, "webhook delivery")?).await?;
    let t = s
        .engine
        .list_webhook_deliveries(&p, &endpoint, 1)
        .await?
        .first()
        .map_or(EventType::VerificationCreated, |(_, t)| *t);
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::new(&d, t))))
}
