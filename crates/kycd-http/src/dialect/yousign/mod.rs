//! Yousign API v3 — Express QES identification evidence, mounted at `/compat/yousign`, so
//! `https://api.yousign.app/v3` becomes `<kycd>/compat/yousign/v3`.
//!
//! Every call carries `Authorization: Bearer <kycd API key>`. A signature request id is
//! the `reference.signature_request_id` a verification was created with; each verification
//! bound to it is one signer (signer id = the kycd applicant id). An evidence id is the
//! kycd verification id (`idv_…`): the vendor's ids are opaque strings with no prefix of
//! their own, so no second id is stored. The evidence endpoints need the tenant's
//! `express_qes_evidence` feature; the JSON, files and JWT are the verification's evidence
//! exports, byte for byte those of `/v1/verifications/{id}/evidence.zip` and `evidence.jwt`.

mod error;
mod map;

use crate::{AppState, RouteExt};
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use error::YousignError;
use kycd_core::*;
use kycd_engine::features::Feature;
use kycd_engine::{Engine, EngineError, Principal};
use serde_json::{Value, json};

type YResult<T> = Result<T, YousignError>;
type History = Vec<(DateTime<Utc>, VerificationStatus)>;

/// Where this dialect is mounted: the vendor's base URL becomes `<kycd>/compat/yousign`.
pub const MOUNT: &str = "/compat/yousign";

pub fn router(_engine: &Engine) -> Router<AppState> {
    const EVIDENCE: &str = "/v3/signature_requests/{sr}/identification_evidences/{eid}";
    Router::new()
        .at(MOUNT, "/v3/signature_requests/{sr}", get(get_signature_request))
        .at(MOUNT, "/v3/signature_requests/{sr}/signers", get(list_signers))
        .at(MOUNT, "/v3/signature_requests/{sr}/signers/{signer_id}", get(get_signer))
        .at(MOUNT, EVIDENCE, get(evidence_status))
        .at(MOUNT, &format!("{EVIDENCE}/json"), get(evidence_json))
        .at(MOUNT, &format!("{EVIDENCE}/files"), get(evidence_files))
        .at(MOUNT, &format!("{EVIDENCE}/jwt"), get(evidence_jwt))
        .fallback(fallback)
}

async fn fallback() -> YousignError {
    YousignError::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint")
}

/// The caller, from `Authorization: Bearer <kycd API key>`.
pub struct YousignAuth(pub Principal);

impl FromRequestParts<AppState> for YousignAuth {
    type Rejection = YousignError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, YousignError> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(key) = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|k| !k.is_empty())
        else {
            return Err(YousignError::unauthorized(
                "missing API key: send 'Authorization: Bearer <API key>' with a kycd API key",
            ));
        };
        let p = state.engine.authenticate(key).await?;
        crate::ratelimit::admit(parts, state, &p)?;
        Ok(Self(p))
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(time(t)))
}

// ----- signature requests and signers ---------------------------------------------------

/// One signer per applicant: the latest of their verifications for this signature request,
/// in signing order (then creation order).
async fn signers(s: &AppState, p: &Principal, sr: &str) -> YResult<Vec<(Verification, History)>> {
    let list = s.engine.verifications_for_signature_request(p, sr).await?;
    if list.is_empty() {
        return Err(YousignError::not_found("signature request"));
    }
    let mut latest: Vec<Verification> = Vec::new();
    for v in list {
        match latest.iter_mut().find(|l| l.applicant_id == v.applicant_id) {
            Some(l) => *l = v,
            None => latest.push(v),
        }
    }
    latest.sort_by_key(|v| (v.reference.signer_order.unwrap_or(u32::MAX), v.created_at));
    let mut out = Vec::with_capacity(latest.len());
    for v in latest {
        let h = s.engine.status_history(p, &v.id).await?;
        out.push((v, h));
    }
    Ok(out)
}

/// The signer object: `signer_identity_data.evidence_id` once the signer has started the
/// identification (null before).
fn signer_json(v: &Verification, h: &History) -> Value {
    let evidence_id = map::started_at(h).map(|_| v.id.to_string());
    json!({
        "id": v.applicant_id,
        "status": map::signer_status(v.status),
        "signature_level": map::SIGNATURE_LEVEL,
        "signer_identity_data": { "evidence_id": evidence_id },
    })
}

/// `GET /v3/signature_requests/{sr}`: the signature request as kycd knows it (its id and
/// signers).
async fn get_signature_request(State(s): State<AppState>, YousignAuth(p): YousignAuth, Path(sr): Path<String>) -> YResult<Response> {
    let list = signers(&s, &p, &sr).await?;
    let signers: Vec<Value> = list.iter().map(|(v, h)| signer_json(v, h)).collect();
    Ok(axum::Json(json!({ "id": sr, "signers": signers })).into_response())
}

/// `GET /v3/signature_requests/{sr}/signers`.
async fn list_signers(State(s): State<AppState>, YousignAuth(p): YousignAuth, Path(sr): Path<String>) -> YResult<Response> {
    let list = signers(&s, &p, &sr).await?;
    let signers: Vec<Value> = list.iter().map(|(v, h)| signer_json(v, h)).collect();
    Ok(axum::Json(Value::Array(signers)).into_response())
}

/// `GET /v3/signature_requests/{sr}/signers/{signer_id}`.
async fn get_signer(
    State(s): State<AppState>,
    YousignAuth(p): YousignAuth,
    Path((sr, signer_id)): Path<(String, String)>,
) -> YResult<Response> {
    let list = signers(&s, &p, &sr).await?;
    let (v, h) = list
        .iter()
        .find(|(v, _)| v.applicant_id.as_str() == signer_id)
        .ok_or_else(|| YousignError::not_found("signer"))?;
    Ok(axum::Json(signer_json(v, h)).into_response())
}

// ----- identification evidence --------------------------------------------------------------

/// The evidence record `eid` of signature request `sr`: the feature must be on, the
/// verification the caller's and bound to `sr`, and the identification started.
async fn evidence(s: &AppState, p: &Principal, sr: &str, eid: &str) -> YResult<(Verification, History)> {
    if !s.engine.has_feature(p, Feature::ExpressQesEvidence).await? {
        return Err(YousignError::feature_not_enabled());
    }
    let missing = || YousignError::not_found("identification evidence");
    let id: VerificationId = eid.parse().map_err(|_| missing())?;
    let v = s.engine.get_verification(p, &id).await.map_err(|e| match e {
        EngineError::NotFound(_) => missing(),
        other => other.into(),
    })?;
    if v.reference.signature_request_id.as_deref() != Some(sr) {
        return Err(missing());
    }
    let h = s.engine.status_history(p, &id).await?;
    if map::started_at(&h).is_none() {
        return Err(missing());
    }
    Ok((v, h))
}

/// The evidence of a completed identification, loaded (and its read audited).
async fn completed_export(
    s: &AppState,
    p: &Principal,
    sr: &str,
    eid: &str,
    action: &str,
) -> YResult<kycd_engine::evidence::EvidenceExport> {
    let (v, h) = evidence(s, p, sr, eid).await?;
    if map::completed_at(&h).is_none() {
        return Err(YousignError::not_completed(map::evidence_status(v.status)));
    }
    Ok(s.engine.evidence_export(p, &v.id, action).await?)
}

/// `GET …/identification_evidences/{eid}`: the status object.
async fn evidence_status(
    State(s): State<AppState>,
    YousignAuth(p): YousignAuth,
    Path((sr, eid)): Path<(String, String)>,
) -> YResult<Response> {
    let (v, h) = evidence(&s, &p, &sr, &eid).await?;
    let attempts = s.engine.list_attempts(&p, &v.id).await?;
    let transaction = attempts.last().map_or_else(|| v.id.to_string(), |a| a.id.to_string());
    let body = json!({
        "id": v.id,
        "transactionCode": transaction,
        "accountId": map::account_id(&v.tenant_id),
        "workflowId": map::workflow_id(&v.tenant_id),
        "status": map::evidence_status(v.status),
        "reason": map::review_reason(&v),
        "createdAt": time(v.created_at),
        "expiresAt": time(map::expires_at(&v)),
        "startedAt": opt_time(map::started_at(&h)),
        "completedAt": opt_time(map::completed_at(&h)),
        "reviewedAt": opt_time(v.review.as_ref().map(|r| r.reviewed_at)),
    });
    Ok(axum::Json(body).into_response())
}

fn with_type(mut resp: Response, content_type: &'static str) -> Response {
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `GET …/json`: the full identification result, kycd's evidence report (`report.json`
/// of the archive, the same bytes).
async fn evidence_json(
    State(s): State<AppState>,
    YousignAuth(p): YousignAuth,
    Path((sr, eid)): Path<(String, String)>,
) -> YResult<Response> {
    let ex = completed_export(&s, &p, &sr, &eid, "evidence.json.read").await?;
    let bytes = ex.model.to_json_bytes().map_err(EngineError::from)?;
    Ok(with_type(bytes.into_response(), "application/json"))
}

/// `GET …/files`: the evidence archive (streamed ZIP).
async fn evidence_files(
    State(s): State<AppState>,
    YousignAuth(p): YousignAuth,
    Path((sr, eid)): Path<(String, String)>,
) -> YResult<Response> {
    let ex = completed_export(&s, &p, &sr, &eid, "evidence.zip.read").await?;
    let name = format!("{}-evidence.zip", ex.verification_id());
    let rx = s.engine.stream_evidence_zip(ex).await?;
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut resp = with_type(Response::new(axum::body::Body::from_stream(stream)), "application/zip");
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `GET …/jwt`: the signed evidence token (compact JWS).
async fn evidence_jwt(
    State(s): State<AppState>,
    YousignAuth(p): YousignAuth,
    Path((sr, eid)): Path<(String, String)>,
) -> YResult<Response> {
    let ex = completed_export(&s, &p, &sr, &eid, "evidence.jwt.read").await?;
    let jwt = s.engine.evidence_jwt(&ex).await?;
    Ok(with_type(jwt.into_response(), "application/jwt"))
}
