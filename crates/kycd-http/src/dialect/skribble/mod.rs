//! Skribble Sign API — signature requests and Express QES identification evidence, mounted
//! at `/compat/skribble/v2` and `/compat/skribble/v3` (the same handlers), so
//! `https://api.skribble.com/v2` becomes `<kycd>/compat/skribble/v2`.
//!
//! A client logs in at `POST /access/login` with an API key's id (`username`) and the key
//! (`api-key`) and gets a JWT (plain text) that lives 20 minutes; every other call sends it
//! as `Authorization: Bearer`. A signature request is the set of verifications bound to it
//! by `reference.signature_request_id` (made with the native API, or here with `POST
//! /signature-requests`: one per signer); a signature's `sid` is the signer's applicant id
//! (`aplt_…`) and its `evidence_id` the kycd verification id (`idv_…`) once the signer has
//! started. The evidence endpoints need the tenant's `express_qes_evidence` feature; the
//! JSON, files and JWT are the verification's evidence exports, byte for byte those of
//! `/v1/verifications/{id}/evidence.zip` and `evidence.jwt`. Their paths are not published
//! by Skribble: kycd pins them in [`routes`], the one route table.

mod callbacks;
mod error;
mod map;
pub(crate) mod wire;

use crate::{AppState, Routes};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use error::SkribbleError;
use kycd_core::*;
use kycd_engine::access::SignedTokenCheck;
use kycd_engine::features::Feature;
use kycd_engine::signature_requests::NewSigner;
use kycd_engine::{ApplicantRef, Engine, EngineError, NewApplicant, NewVerification, Principal};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

type SResult<T> = Result<T, SkribbleError>;
type History = Vec<(DateTime<Utc>, VerificationStatus)>;

/// Where this dialect is mounted: the vendor's base URL (with its version) becomes
/// `<kycd>/compat/skribble/<version>`.
pub const MOUNT: &str = "/compat/skribble";
/// The API versions answered, with the same handlers.
pub const VERSIONS: [&str; 2] = ["v2", "v3"];
/// Tokens issued at this dialect's login work here only.
pub const AUDIENCE: &str = "skribble";
/// Skribble's access tokens live about 20 minutes.
const TOKEN_TTL: chrono::Duration = chrono::Duration::minutes(20);
/// Dialect state kind beside each verification of a signature request made here.
const STATE: &str = "skribble";

/// What a signature request made through this dialect keeps beside each of its
/// verifications: the request's own words and callback URLs (erased when the verification
/// is anonymized), and the signer's `notify`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SkribbleState {
    title: String,
    message: Option<String>,
    legislation: Option<String>,
    quality: Option<String>,
    callback_success_url: Option<String>,
    callback_error_url: Option<String>,
    callback_update_url: Option<String>,
    notify: bool,
}

/// Every path of the dialect, once: the same table is mounted under each version. The
/// evidence paths are kycd's choice (Skribble does not publish them), in Skribble's path
/// style `/signature-requests/{SR_ID}/<plural-noun>/{ID}/<sub-resource>`.
fn routes() -> [(&'static str, MethodRouter<AppState>); 8] {
    [
        ("/access/login", post(login)),
        ("/signature-requests", post(create_signature_request)),
        ("/signature-requests/{sr}", get(get_signature_request)),
        ("/signature-requests/{sr}/callbacks", get(list_callbacks)),
        ("/signature-requests/{sr}/identification-evidences/{eid}", get(evidence_status)),
        ("/signature-requests/{sr}/identification-evidences/{eid}/json", get(evidence_json)),
        ("/signature-requests/{sr}/identification-evidences/{eid}/files", get(evidence_files)),
        ("/signature-requests/{sr}/identification-evidences/{eid}/jwt", get(evidence_jwt)),
    ]
}

pub fn router(engine: &Engine, state: AppState) -> Routes<AppState> {
    engine.register_callback_renderer(std::sync::Arc::new(callbacks::SkribbleCallbacks));
    // A signature request may carry its PDF as base64 (read and skipped, never kept).
    let body_limit = engine.config().max_upload_bytes / 3 * 4 + 64 * 1024;
    let mut r = Routes::new();
    for version in VERSIONS {
        let mut v = Routes::new();
        for (path, handler) in routes() {
            v = v.at(path, handler);
        }
        r = r.nest(&format!("/{version}"), v);
    }
    r.map(|r| {
        r.fallback(fallback)
            .layer(DefaultBodyLimit::max(body_limit))
            .layer(axum::middleware::from_fn_with_state(state, error::envelope))
    })
}

async fn fallback() -> SkribbleError {
    SkribbleError::not_found("endpoint")
}

/// A request body, refused in Skribble's envelope when too large or unreadable.
fn body(b: Result<Bytes, BytesRejection>) -> SResult<Bytes> {
    b.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            SkribbleError::new(e.status(), error::Problem::LimitExceeded, "the request body is too large")
        } else {
            SkribbleError::bad_request(e.body_text())
        }
    })
}

/// The caller, from `Authorization: Bearer <token from /access/login>`.
pub struct SkribbleAuth(pub Principal);

impl FromRequestParts<AppState> for SkribbleAuth {
    type Rejection = SkribbleError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, SkribbleError> {
        let Some(token) = super::bearer(&parts.headers) else {
            return Err(SkribbleError::token_missing());
        };
        let p = match state.engine.check_signed_access_token(token, AUDIENCE).await? {
            SignedTokenCheck::Valid(p) => p,
            SignedTokenCheck::Expired => return Err(SkribbleError::token_expired()),
            SignedTokenCheck::Invalid => return Err(SkribbleError::token_invalid()),
        };
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

// ----- login ---------------------------------------------------------------------------

/// `POST /access/login`: 200 `text/plain`, the body is the token.
async fn login(State(s): State<AppState>, headers: HeaderMap, b: Result<Bytes, BytesRejection>) -> SResult<Response> {
    let b = body(b)?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let creds = wire::login(ct, &b)?;
    let tok = s
        .engine
        .issue_signed_access_token(&creds.username, &creds.api_key, AUDIENCE, TOKEN_TTL)
        .await
        .map_err(|e| match e {
            EngineError::Unauthorized(_) => SkribbleError::credentials_invalid(),
            other => other.into(),
        })?;
    let mut resp = tok.token.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain;charset=UTF-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

// ----- signature requests --------------------------------------------------------------

/// A signer of a signature request as kycd has them: the verification and its history.
struct Signer {
    v: Verification,
    history: History,
    applicant: Option<Applicant>,
    language: Option<String>,
    state: Option<SkribbleState>,
}

/// The signers of `sr`, in signing order; 404 when the caller's tenant has none.
async fn signers(s: &AppState, p: &Principal, sr: &str) -> SResult<Vec<Signer>> {
    let list = s.engine.verifications_for_signature_request(p, sr).await?;
    if list.is_empty() {
        return Err(SkribbleError::not_found("signature request"));
    }
    let mut out = Vec::new();
    for v in map::latest_per_signer(&list) {
        let history = s.engine.status_history(p, &v.id).await?;
        let applicant = match s.engine.get_applicant(p, &v.applicant_id).await {
            Ok(a) => Some(a),
            Err(EngineError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let language = s
            .engine
            .list_attempts(p, &v.id)
            .await?
            .first()
            .and_then(|a| a.client.language.clone());
        let state = s.engine.dialect_state::<SkribbleState>(p, v.id.as_str(), STATE).await?;
        out.push(Signer {
            v: v.clone(),
            history,
            applicant,
            language,
            state,
        });
    }
    Ok(out)
}

/// One signature, Skribble's shape: `signer_identity_data.evidence_id` once the signer has
/// started the identification (null before); `signing_url` only when just created (it
/// carries a single-use start token kycd keeps only a hash of).
fn signature_json(sig: &Signer, signing_url: Option<&str>) -> Value {
    let v = &sig.v;
    let evidence_id = map::started_at(&sig.history).map(|_| v.id.to_string());
    let person = sig.applicant.as_ref().filter(|a| !a.redacted).map(|a| &a.person);
    let declared = (!v.redacted).then_some(&v.private.declared);
    let text = |t: Option<&PersonalText>| t.map(|t| t.expose().to_owned());
    let signed_at = (v.status == VerificationStatus::Approved)
        .then(|| {
            sig.history
                .iter()
                .rev()
                .find(|(_, st)| *st == VerificationStatus::Approved)
                .map(|(at, _)| *at)
        })
        .flatten();
    let mut out = json!({
        "sid": v.applicant_id,
        "account_email": Value::Null,
        "signer_identity_data": {
            "email_address": person.and_then(|p| p.email.as_ref()).map(|e| e.expose().to_owned()),
            "first_name": text(declared.and_then(|d| d.first_name.as_ref())),
            "last_name": text(declared.and_then(|d| d.last_name.as_ref())),
            "mobile_number": Value::Null,
            "language": sig.language,
            "evidence_id": evidence_id,
        },
        "sequence": v.reference.signer_order,
        "status_code": map::signature_status(v.status),
        "notify": sig.state.as_ref().is_some_and(|st| st.notify),
        "signed_at": opt_time(signed_at),
    });
    if let Some(u) = signing_url {
        out["signing_url"] = json!(u);
    }
    out
}

/// The signature request, Skribble's shape.
fn signature_request_json(sr: &str, signers: &[Signer], signing_urls: &[Option<String>]) -> Value {
    let state = signers.iter().find_map(|s| s.state.as_ref());
    let signatures: Vec<Value> = signers
        .iter()
        .enumerate()
        .map(|(i, sig)| signature_json(sig, signing_urls.get(i).and_then(Option::as_deref)))
        .collect();
    let statuses: Vec<VerificationStatus> = signers.iter().map(|s| s.v.status).collect();
    let created = signers.iter().map(|s| s.v.created_at).min();
    let updated = signers.iter().map(|s| s.v.updated_at).max();
    json!({
        "id": sr,
        // Without a title (a request made with the native API), its id.
        "title": state.map_or(sr, |st| st.title.as_str()),
        "message": state.and_then(|st| st.message.clone()),
        "document_id": Value::Null,
        "legislation": state.and_then(|st| st.legislation.clone()),
        "quality": state.and_then(|st| st.quality.clone()),
        "status_overall": map::overall_status(&statuses),
        "signatures": signatures,
        "cc_email_addresses": [],
        "callback_success_url": state.and_then(|st| st.callback_success_url.clone()),
        "callback_error_url": state.and_then(|st| st.callback_error_url.clone()),
        "callback_update_url": state.and_then(|st| st.callback_update_url.clone()),
        "created_at": opt_time(created),
        "updated_at": opt_time(updated),
    })
}

/// `POST /signature-requests`: one identification per signer, each signature's
/// `signing_url` the kycd capture link; the document itself is not kycd's to sign.
async fn create_signature_request(
    State(s): State<AppState>,
    SkribbleAuth(p): SkribbleAuth,
    b: Result<Bytes, BytesRejection>,
) -> SResult<Response> {
    let req = wire::signature_request(&body(b)?)?;
    let cb = &req.callbacks;
    let mut checked = [None, None, None];
    for (slot, (field, url)) in checked.iter_mut().zip([
        ("callback_success_url", &cb.success),
        ("callback_error_url", &cb.error),
        ("callback_update_url", &cb.update),
    ]) {
        if let Some(u) = url {
            s.engine.check_callback_url(&p, field, u).await?;
            *slot = Some(u.clone());
        }
    }
    let [success, error, update] = checked;
    let new_signers: Vec<NewSigner<SkribbleState>> = req
        .signers
        .iter()
        .map(|sig| NewSigner {
            verification: NewVerification {
                reference: HostReference {
                    signer_order: sig.sequence,
                    ..HostReference::default()
                },
                ..NewVerification::of(
                    ApplicantRef::Inline(NewApplicant {
                        external_applicant_id: None,
                        person: sig.person(),
                    }),
                    sig.declared(),
                )
            },
            client: ClientInfo {
                language: sig.language.clone(),
                ..ClientInfo::default()
            },
            state: SkribbleState {
                title: req.title.clone(),
                message: req.message.clone(),
                legislation: req.legislation.clone(),
                quality: req.quality.clone(),
                callback_success_url: success.clone(),
                callback_error_url: error.clone(),
                callback_update_url: update.clone(),
                notify: sig.notify,
            },
        })
        .collect();
    let created = s.engine.create_signature_request(&p, new_signers, STATE).await?;
    let urls: Vec<(VerificationId, String)> = created.signers.into_iter().map(|c| (c.verification.id, c.attempt.url)).collect();
    let list = signers(&s, &p, &created.id).await?;
    let signing_urls: Vec<Option<String>> = list
        .iter()
        .map(|sig| urls.iter().find(|(id, _)| *id == sig.v.id).map(|(_, u)| u.clone()))
        .collect();
    Ok(axum::Json(signature_request_json(&created.id, &list, &signing_urls)).into_response())
}

/// `GET /signature-requests/{sr}`: the signature request as kycd knows it.
async fn get_signature_request(State(s): State<AppState>, SkribbleAuth(p): SkribbleAuth, Path(sr): Path<String>) -> SResult<Response> {
    let list = signers(&s, &p, &sr).await?;
    Ok(axum::Json(signature_request_json(&sr, &list, &[])).into_response())
}

/// `GET /signature-requests/{sr}/callbacks`: the callbacks made so far and how their
/// delivery went (Skribble documents the endpoint, not the object: this one is kycd's).
async fn list_callbacks(State(s): State<AppState>, SkribbleAuth(p): SkribbleAuth, Path(sr): Path<String>) -> SResult<Response> {
    let list = s.engine.verifications_for_signature_request(&p, &sr).await?;
    if list.is_empty() {
        return Err(SkribbleError::not_found("signature request"));
    }
    let mut out = Vec::new();
    for v in &list {
        for d in s.engine.list_callbacks(&p, &v.id).await? {
            out.push((
                d.created_at,
                json!({
                    "id": d.id,
                    "type": d.label,
                    "url": d.url,
                    "sid": v.applicant_id,
                    "status": d.status.as_str().to_ascii_uppercase(),
                    "attempts": d.attempts,
                    "http_status": d.last_status_code,
                    "error": d.last_error,
                    "created_at": time(d.created_at),
                    "last_attempt_at": opt_time(d.last_attempt_at),
                    "next_attempt_at": opt_time(d.next_attempt_at),
                }),
            ));
        }
    }
    out.sort_by_key(|(at, _)| *at);
    Ok(axum::Json(Value::Array(out.into_iter().map(|(_, v)| v).collect())).into_response())
}

// ----- identification evidence --------------------------------------------------------------

/// A request for identification evidence (`…/{sr}/identification-evidences/{eid}…`), as an
/// extractor: the authenticated caller, and the signature request and evidence it names.
struct EvidenceRequest {
    p: Principal,
    sr: String,
    eid: String,
}

impl FromRequestParts<AppState> for EvidenceRequest {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let SkribbleAuth(p) = SkribbleAuth::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path((sr, eid)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self { p, sr, eid })
    }
}

/// The evidence record `eid` of signature request `sr`: the feature must be on, the
/// verification the caller's and bound to `sr`, and the identification started.
async fn evidence(s: &AppState, EvidenceRequest { p, sr, eid }: &EvidenceRequest) -> SResult<(Verification, History)> {
    if !s.engine.has_feature(p, Feature::ExpressQesEvidence).await? {
        return Err(SkribbleError::feature_not_enabled());
    }
    let missing = || SkribbleError::not_found("identification evidence");
    let id: VerificationId = eid.parse().map_err(|_| missing())?;
    let v = s.engine.get_verification(p, &id).await.map_err(|e| match e {
        EngineError::NotFound(_) => missing(),
        other => other.into(),
    })?;
    if v.reference.signature_request_id.as_deref() != Some(sr.as_str()) {
        return Err(missing());
    }
    let h = s.engine.status_history(p, &id).await?;
    if map::started_at(&h).is_none() {
        return Err(missing());
    }
    Ok((v, h))
}

/// The evidence of a completed identification, loaded (and its read audited).
async fn completed_export(s: &AppState, e: &EvidenceRequest, action: &str) -> SResult<kycd_engine::evidence::EvidenceExport> {
    let (v, h) = evidence(s, e).await?;
    if map::completed_at(&h).is_none() {
        return Err(SkribbleError::not_completed(map::evidence_status(v.status)));
    }
    Ok(s.engine.evidence_export(&e.p, &v.id, action).await?)
}

/// `GET …/identification-evidences/{eid}`: the status object.
async fn evidence_status(State(s): State<AppState>, e: EvidenceRequest) -> SResult<Response> {
    let (v, h) = evidence(&s, &e).await?;
    let attempts = s.engine.list_attempts(&e.p, &v.id).await?;
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
async fn evidence_json(State(s): State<AppState>, e: EvidenceRequest) -> SResult<Response> {
    let ex = completed_export(&s, &e, "evidence.json.read").await?;
    let bytes = ex.model.to_json_bytes().map_err(EngineError::from)?;
    Ok(with_type(bytes.into_response(), "application/json"))
}

/// `GET …/files`: the evidence archive (streamed ZIP).
async fn evidence_files(State(s): State<AppState>, e: EvidenceRequest) -> SResult<Response> {
    let ex = completed_export(&s, &e, "evidence.zip.read").await?;
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
async fn evidence_jwt(State(s): State<AppState>, e: EvidenceRequest) -> SResult<Response> {
    let ex = completed_export(&s, &e, "evidence.jwt.read").await?;
    let jwt = s.engine.evidence_jwt(&ex).await?;
    Ok(with_type(jwt.into_response(), "application/jwt"))
}
