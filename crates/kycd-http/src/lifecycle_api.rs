//! `/v1/settings/retention` and `/v1/verifications/{id}/legal_hold`: the data lifecycle
//! settings a tenant controls over the API.

use crate::AppState;
use crate::dto::{Problem, VerificationView};
use crate::error::ApiResult;
use crate::extract::{ApiJson, Auth, path_id};
use axum::Json;
use axum::extract::{Path, State};
use kycd_core::{Policy, RetentionSettings};
use serde::Deserialize;
use utoipa::ToSchema;

/// Get the retention settings
/// How long this account keeps verifications' personal data and images, and their
/// anonymized tombstones.
#[utoipa::path(get, path = "/v1/settings/retention", tag = "settings",
    responses((status = 200, description = "The retention settings.", body = RetentionSettings)))]
pub async fn get_retention(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<RetentionSettings>> {
    Ok(Json(s.engine.tenant(&p).await?.retention))
}

/// Set the retention settings
/// Admin keys. Applies to verifications that end from now on.
#[utoipa::path(put, path = "/v1/settings/retention", tag = "settings", request_body = RetentionSettings,
    responses((status = 200, description = "The retention settings as stored now.", body = RetentionSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_retention(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<RetentionSettings>,
) -> ApiResult<Json<RetentionSettings>> {
    Ok(Json(s.engine.set_retention(&p, body).await?.retention))
}

/// The tenant's default policy: what a verification created without `policy` runs under.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TenantPolicyView {
    /// Its version (1, 2, …), or `null` while kycd's defaults apply (never set).
    pub version: Option<u32>,
    pub policy: Policy,
}

/// Get the default policy
/// What a verification created without `policy` runs under, and its version.
#[utoipa::path(get, path = "/v1/settings/policy", tag = "settings",
    responses((status = 200, description = "The default policy and its version.", body = TenantPolicyView)))]
pub async fn get_policy(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<TenantPolicyView>> {
    let (version, policy, _) = s.engine.tenant_policy(&p).await?;
    Ok(Json(TenantPolicyView { version, policy }))
}

/// Set the default policy
/// Admin keys: the next version of the default policy. Existing verifications keep the
/// policy they were created with; absent fields take kycd's defaults.
#[utoipa::path(put, path = "/v1/settings/policy", tag = "settings", request_body = Policy,
    responses((status = 200, description = "The new default policy and its version.", body = TenantPolicyView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_policy(State(s): State<AppState>, Auth(p): Auth, ApiJson(body): ApiJson<Policy>) -> ApiResult<Json<TenantPolicyView>> {
    let version = s.engine.set_tenant_policy(&p, body.clone()).await?;
    Ok(Json(TenantPolicyView {
        version: Some(version),
        policy: body,
    }))
}

/// The capture page's look for this tenant's people.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingRequest {
    /// Accent colour of buttons and the header bar, `#rrggbb`; `null` for kycd's.
    #[serde(default)]
    pub colour: Option<String>,
    /// Logo shown before the business's name: base64 of a PNG, JPEG or WebP (at most
    /// 256 KiB, 1000 pixels a side); `null` for none.
    #[serde(default)]
    pub logo: Option<String>,
    /// Origins that may show the capture pages in a frame (CSP `frame-ancestors`), e.g.
    /// `["https://app.example.com"]`; empty (the default) forbids framing.
    #[serde(default)]
    pub frame_ancestors: Vec<String>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct LogoView {
    pub media_type: String,
    pub size: usize,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct BrandingView {
    pub colour: Option<String>,
    pub logo: Option<LogoView>,
    pub frame_ancestors: Vec<String>,
}

fn branding_view(b: kycd_engine::lifecycle::Branding) -> BrandingView {
    BrandingView {
        colour: b.colour,
        logo: b.logo.map(|(media_type, bytes)| LogoView {
            media_type,
            size: bytes.len(),
        }),
        frame_ancestors: b.frame_ancestors,
    }
}

/// Get the capture page's branding
#[utoipa::path(get, path = "/v1/settings/branding", tag = "settings",
    responses((status = 200, description = "The branding: colour, logo (its type and size) and the origins that may frame the pages.", body = BrandingView)))]
pub async fn get_branding(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<BrandingView>> {
    Ok(Json(branding_view(s.engine.branding(&p).await?)))
}

/// Set the capture page's branding
/// Admin keys. Replaces every field at once; `null` removes one.
#[utoipa::path(put, path = "/v1/settings/branding", tag = "settings", request_body = BrandingRequest,
    responses((status = 200, description = "The branding as stored now.", body = BrandingView), (status = 403, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn put_branding(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<BrandingRequest>,
) -> ApiResult<Json<BrandingView>> {
    use base64::Engine as _;
    let logo = body
        .logo
        .map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| crate::error::ApiError::invalid("logo must be base64 (standard alphabet) of the image file"))
        })
        .transpose()?;
    Ok(Json(branding_view(
        s.engine
            .set_branding(&p, body.colour.as_deref(), logo, body.frame_ancestors)
            .await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldRequest {
    /// True to hold (no sweep, no anonymize or delete), false to lift the hold.
    pub enabled: bool,
}

/// Place or lift a legal hold
/// Admin keys. While held, a verification is never swept, anonymized or deleted.
#[utoipa::path(put, path = "/v1/verifications/{id}/legal_hold", tag = "verifications", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    request_body = LegalHoldRequest,
    responses((status = 200, description = "The verification with its hold.", body = VerificationView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn put_legal_hold(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LegalHoldRequest>,
) -> ApiResult<Json<VerificationView>> {
    let v = s.engine.set_legal_hold(&p, &path_id(&id, "verification")?, body.enabled).await?;
    Ok(Json((&v).into()))
}
