//! BoldSign identity verification — the sender's view of what a signer uploaded, mounted
//! at `/compat/boldsign` in place of `https://api.boldsign.com` (the SDKs' host).
//!
//! Every call carries `X-API-KEY: <kycd API key>` or `Authorization: Bearer <kycd API
//! key>`. BoldSign's `documentId` is the host document id kycd keeps on a verification
//! (`reference.document_id`), its signer order `reference.signer_order`; the signer is the
//! verification's applicant, found by email or phone through the blind indexes. File ids
//! are kycd's own (`file_…`). `OnBehalfOf` names a sender identity of the tenant (`kycd
//! sender add`). The engine finds and decides; this module only translates.

mod error;
mod map;
pub(crate) mod wire;

use crate::{AppState, Routes};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{Datelike, NaiveDate, SecondsFormat};
use error::BoldSignError;
use kycd_core::*;
use kycd_engine::decision::{decision_summary, document_facts};
use kycd_engine::signers::{SignerReport, ended_at};
use kycd_engine::{Engine, EngineError, Principal};
use map::ReportState;
use serde_json::{Value, json};

type BResult<T> = Result<T, BoldSignError>;

/// Where this dialect is mounted: the vendor's base URL becomes `<kycd>/compat/boldsign`.
pub const MOUNT: &str = "/compat/boldsign";

pub fn router(_engine: &Engine) -> Routes<AppState> {
    let mut r = Routes::new();
    // The current SDKs call `/v1/…`; the C# SDK and older guides `/v1-beta/…`.
    for version in ["v1", "v1-beta"] {
        r = r
            .at(&format!("/{version}/identityVerification/report"), post(report))
            .at(&format!("/{version}/identityVerification/image"), post(image))
            .at(
                &format!("/{version}/identityVerification/createEmbeddedVerificationUrl"),
                post(embedded_verification_url),
            );
    }
    r.map(|r| r.layer(DefaultBodyLimit::max(64 * 1024)).fallback(fallback))
}

async fn fallback() -> BoldSignError {
    BoldSignError::new(StatusCode::NOT_FOUND, map::NO_SUCH_ENDPOINT)
}

/// The caller, from `X-API-KEY: <key>` or `Authorization: Bearer <key>`.
pub struct BoldSignAuth(pub Principal);

impl FromRequestParts<AppState> for BoldSignAuth {
    type Rejection = BoldSignError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, BoldSignError> {
        let key = (parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .or_else(|| super::bearer(&parts.headers))
            .ok_or_else(|| BoldSignError::unauthorized(map::MISSING_KEY))?;
        let p = state.engine.authenticate(key).await.map_err(|e| match e {
            EngineError::Unauthorized(_) => BoldSignError::unauthorized(map::INVALID_KEY),
            other => other.into(),
        })?;
        crate::ratelimit::admit(parts, state, &p)?;
        Ok(Self(p))
    }
}

// ----- report ----------------------------------------------------------------------------

fn date(d: NaiveDate) -> Value {
    json!({ "day": d.day(), "month": d.month(), "year": d.year() })
}

fn has_images(captures: &[Capture]) -> bool {
    captures.iter().any(|c| c.available)
}

/// The report may be shown (and images read) once verification ended, succeeded or not.
fn require_completed(status: VerificationStatus, captures: &[Capture]) -> BResult<ReportState> {
    match map::report_state(status, has_images(captures)) {
        ReportState::NotCompleted => Err(BoldSignError::bad_request(map::NOT_COMPLETED)),
        ReportState::NotEnabled => Err(BoldSignError::bad_request(map::NOT_ENABLED)),
        s => Ok(s),
    }
}

/// BoldSign's `IdReport`.
fn report_json(r: &SignerReport) -> BResult<Value> {
    let v = &r.verification;
    let state = require_completed(v.status, &r.captures)?;
    let mut images: Vec<&Capture> = r.captures.iter().filter(|c| c.available).collect();
    images.sort_by_key(|c| (c.created_at, c.kind != CaptureKind::DocumentFront));
    let document_files: Vec<&str> = images
        .iter()
        .filter(|c| map::is_document_image(c.kind))
        .map(|c| c.id.as_str())
        .collect();
    let selfie = images.iter().rev().find(|c| c.kind == CaptureKind::Selfie).map(|c| c.id.as_str());
    let facts = document_facts(v);
    let chosen = r.attempts.iter().rev().find_map(|a| a.client.document_type);
    let f = facts.as_ref();
    let document = json!({
        "type": f.and_then(|f| f.document_type).or(chosen).map(map::document_type),
        "firstName": f.and_then(|f| f.given_names.clone()),
        "lastName": f.and_then(|f| f.surname.clone()),
        // ISO 3166-1 alpha-2, as BoldSign's report gives it (its `IdDocument` and `Address`
        // are Stripe Identity's document report, whose countries are alpha-2).
        "country": f.and_then(|f| f.issuing_country_alpha2()),
        "documentNumber": f.and_then(|f| f.document_number.clone()),
        "address": Value::Null,
        "dob": f.and_then(|f| f.birth_date).map(date),
        "issuedDate": f.and_then(|f| f.issue_date).map(date),
        "expirationDate": f.and_then(|f| f.expiry_date).map(date),
        "documentFiles": document_files,
        "selfieFile": selfie,
    });
    let error = match state {
        ReportState::Succeeded => Value::Null,
        _ => {
            let reasons = decision_summary(v).reasons;
            let (code, message) = map::error_of(reasons.first().copied().unwrap_or(kycd_engine::decision::Reason::OtherCheckFailed));
            json!({ "code": code, "message": message })
        }
    };
    Ok(json!({
        "verificationResult": map::verification_result(state),
        "verifiedDate": ended_at(v).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "error": error,
        "document": document,
    }))
}

/// `POST /v1/identityVerification/report?documentId=…` — `VerificationDataRequest`.
async fn report(State(s): State<AppState>, BoldSignAuth(p): BoldSignAuth, RawQuery(q): RawQuery, body: Bytes) -> BResult<Response> {
    let document_id = wire::document_id(q.as_deref())?;
    let query = wire::signer_query(document_id, &wire::json_object(&body)?)?;
    let r = s.engine.signer_report(&p, &query).await?;
    Ok(axum::Json(report_json(&r)?).into_response())
}

// ----- image -----------------------------------------------------------------------------

/// `POST /v1/identityVerification/image?documentId=…` — `DownloadImageRequest`: the
/// original bytes with their content type.
async fn image(State(s): State<AppState>, BoldSignAuth(p): BoldSignAuth, RawQuery(q): RawQuery, body: Bytes) -> BResult<Response> {
    let document_id = wire::document_id(q.as_deref())?;
    let obj = wire::json_object(&body)?;
    let query = wire::signer_query(document_id, &obj)?;
    let file = wire::file_id(&obj)?;
    let v = s.engine.find_signer_verification(&p, &query).await?;
    let captures = s.engine.list_captures(&p, &v.id).await?;
    require_completed(v.status, &captures)?;
    let (c, stream) = s.engine.read_verification_file(&p, &v.id, &file).await?;
    Ok(crate::api::streamed_capture(&c, stream))
}

// ----- embedded verification URL -----------------------------------------------------------

/// `POST /v1/identityVerification/createEmbeddedVerificationUrl?documentId=…` —
/// `EmbeddedFileDetails`: `{"url": …}`, kycd's hosted capture page for the signer.
async fn embedded_verification_url(
    State(s): State<AppState>,
    BoldSignAuth(p): BoldSignAuth,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> BResult<Response> {
    let document_id = wire::document_id(q.as_deref())?;
    let obj = wire::json_object(&body)?;
    let query = wire::signer_query(document_id, &obj)?;
    let redirect = wire::redirect_url(&obj)?;
    let (_, started) = s.engine.open_signer_verification(&p, &query, redirect).await?;
    Ok(axum::Json(json!({ "url": started.url })).into_response())
}
