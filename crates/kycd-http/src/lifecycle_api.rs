//! `/v1/settings/retention` and `/v1/verifications/{id}/legal_hold`: the data lifecycle
//! settings a tenant controls over the API.

use crate::AppState;
use crate::api::ID;
use crate::dto::{Problem, VerificationView};
use crate::error::ApiResult;
use crate::extract::{ApiJson, Auth, path_id};
use axum::Json;
use axum::extract::{Path, State};
use kycd_core::RetentionSettings;
use serde::Deserialize;
use utoipa::ToSchema;

#[utoipa::path(get, path = "/v1/settings/retention", tag = "settings",
    responses((status = 200, body = RetentionSettings)))]
pub async fn get_retention(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<RetentionSettings>> {
    Ok(Json(s.engine.tenant(&p).await?.retention))
}

#[utoipa::path(put, path = "/v1/settings/retention", tag = "settings", request_body = RetentionSettings,
    responses((status = 200, body = RetentionSettings), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn put_retention(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<RetentionSettings>,
) -> ApiResult<Json<RetentionSettings>> {
    Ok(Json(s.engine.set_retention(&p, body).await?.retention))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldRequest {
    /// True to hold (no sweep, no anonymize or delete), false to lift the hold.
    pub enabled: bool,
}

#[utoipa::path(put, path = "/v1/verifications/{id}/legal_hold", tag = "verifications", params(("id" = String, Path, description = ID)),
    request_body = LegalHoldRequest,
    responses((status = 200, body = VerificationView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn put_legal_hold(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LegalHoldRequest>,
) -> ApiResult<Json<VerificationView>> {
    let v = s.engine.set_legal_hold(&p, &path_id(&id, "verification")?, body.enabled).await?;
    Ok(Json((&v).into()))
}
