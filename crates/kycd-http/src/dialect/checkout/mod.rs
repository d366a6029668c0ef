//! Checkout.com Identities — identity verification, mounted at `/compat/checkout` in place
//! of `https://{prefix}.api.checkout.com` (the official SDKs call it `identity_uri`).
//!
//! Every call but the token endpoint and the download links carries `Authorization:
//! Bearer <secret key>` where the secret key is a kycd API key, in Checkout's form
//! (`sk_sbox_…` / `sk_…`, `kycd apikey create --format checkout`, which the SDKs' builders
//! accept) or kycd's (`kycd_test_…` / `kycd_live_…`), or `Authorization: Bearer <access
//! token>` from `POST /connect/token` (client credentials: a kycd API key id and key). Applicant, verification and attempt ids
//! are kycd's own (`aplt_…`, `idv_…`, `iatp_…`): they carry Checkout's prefixes already, so
//! no second id is stored. What the vendor's requests carry that kycd has no field for
//! (`user_journey_id`, an attempt's `redirect_url` and `client_information`) is kept beside
//! the object as dialect state (never personal data).
//!
//! About 600 lines on purpose: the dialect's route table and handlers in one file, in the
//! order of the vendor's reference; its wire shapes and mappings are `wire` and `map`.

mod error;
mod map;
mod webhooks;
pub(crate) mod wire;

use crate::dialect::oauth;
use crate::{AppState, Routes};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use error::{CheckoutError, REQUEST_ID_HEADER};
use kycd_core::*;
use kycd_engine::decision::decision_summary;
use kycd_engine::{Engine, EngineError, Principal};
use serde_json::{Map, Value, json};
use wire::{AttemptState, VerificationState};

/// Tokens issued at this dialect's token endpoint work here only.
pub const AUDIENCE: &str = "checkout";
/// Download links for a decided verification's PDF report.
const PDF_LINK: &str = "checkout.pdf_report";
/// Download links for an attempt's captured images.
const ASSET_LINK: &str = "checkout.assets";
/// Dialect state kind (beside a verification and beside each attempt).
const STATE: &str = "checkout";

type CResult<T> = Result<T, CheckoutError>;

/// Where this dialect is mounted: the vendor's base URL becomes `<kycd>/compat/checkout`.
pub const MOUNT: &str = "/compat/checkout";

pub fn router(engine: &Engine) -> Routes<AppState> {
    let base = format!("{}{MOUNT}", engine.config().public_url.trim_end_matches('/'));
    engine.register_webhook_renderer(std::sync::Arc::new(webhooks::CheckoutWebhooks { base }));
    Routes::new()
        .at("/connect/token", post(token))
        .at("/workflows/events/{id}", get(get_event))
        .at("/applicants", post(create_applicant))
        .at("/applicants/{id}", get(get_applicant).patch(update_applicant))
        .at("/applicants/{id}/anonymize", post(anonymize_applicant))
        .at("/create-and-open-idv", post(create_and_open))
        .at("/identity-verifications", post(create_verification))
        .at("/identity-verifications/{id}", get(get_verification))
        .at("/identity-verifications/{id}/anonymize", post(anonymize_verification))
        .at("/identity-verifications/{id}/attempts", post(create_attempt).get(list_attempts))
        .at("/identity-verifications/{id}/attempts/{attempt_id}", get(get_attempt))
        .at("/identity-verifications/{id}/attempts/{attempt_id}/assets", get(list_assets))
        .at("/identity-verifications/{id}/pdf-report", get(pdf_report))
        .at("/downloads/{token}", get(download_pdf))
        .at("/downloads/{token}/{file_id}", get(download_asset))
        .map(|r| {
            r.layer(DefaultBodyLimit::max(256 * 1024))
                .fallback(fallback)
                .layer(axum::middleware::map_response(request_id_header))
        })
}

/// Every answer carries `Cko-Request-Id` (errors already name theirs in the body).
async fn request_id_header(mut resp: Response) -> Response {
    if !resp.headers().contains_key(REQUEST_ID_HEADER)
        && let Ok(v) = HeaderValue::from_str(&error::request_id())
    {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

async fn fallback() -> CheckoutError {
    CheckoutError::not_found("resource_not_found")
}

/// The caller, from `Authorization: Bearer <secret key or access token>`.
pub struct CheckoutAuth(pub Principal);

impl FromRequestParts<AppState> for CheckoutAuth {
    type Rejection = CheckoutError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, CheckoutError> {
        let Some(cred) = super::bearer(&parts.headers) else {
            return Err(CheckoutError::unauthorized("authorization_required"));
        };
        let p = if cred.starts_with("kycd_at_") {
            state.engine.authenticate_access_token(cred, AUDIENCE).await
        } else {
            state.engine.authenticate(cred).await
        };
        let p = p.map_err(|e| match e {
            EngineError::Unauthorized(_) => CheckoutError::unauthorized("invalid_authorization"),
            other => other.into(),
        })?;
        crate::ratelimit::admit(parts, state, &p)?;
        Ok(Self(p))
    }
}

fn path_id<T: std::str::FromStr>(raw: &str, what: &'static str) -> CResult<T> {
    raw.parse().map_err(|_| CheckoutError::not_found(map::not_found_code(what)))
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Where kycd's Checkout API is reached: the configured public URL (`KYCD_PUBLIC_URL`,
/// else the address `kycd serve` listens on).
fn base(s: &AppState) -> String {
    format!("{}{MOUNT}", s.engine.config().public_url.trim_end_matches('/'))
}

fn link(href: String) -> Value {
    json!({ "href": href })
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, axum::Json(v)).into_response()
}

/// The tenant's default configuration id: kycd has one configuration per tenant (its
/// policy), named after the tenant.
fn default_user_journey(tenant: &TenantId) -> String {
    format!("usj_{}", tenant.as_str().trim_start_matches(TenantId::PREFIX).to_ascii_lowercase())
}

// ----- token -------------------------------------------------------------------------

/// `POST /connect/token` — OAuth2 client credentials (Checkout's
/// `https://access.checkout.com/connect/token`).
async fn token(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    oauth::token_endpoint(&s.engine, &headers, &body, AUDIENCE).await
}

// ----- applicants ----------------------------------------------------------------------

fn applicant_json(s: &AppState, a: &Applicant) -> Value {
    let mut out = json!({
        "id": a.id,
        "created_on": time(a.created_at),
        "modified_on": time(a.updated_at),
    });
    if let Some(x) = &a.external_applicant_id {
        out["external_applicant_id"] = json!(x.expose());
    }
    if let Some(e) = &a.person.email {
        out["email"] = json!(e.expose());
    }
    if let Some(n) = &a.person.full_name {
        out["external_applicant_name"] = json!(n.expose());
    }
    out["_links"] = json!({ "self": link(format!("{}/applicants/{}", base(s), a.id)) });
    out
}

/// `POST /applicants`.
async fn create_applicant(State(s): State<AppState>, CheckoutAuth(p): CheckoutAuth, body: Bytes) -> CResult<Response> {
    let new = wire::applicant(&wire::json_object(&body)?, true)?;
    let a = s.engine.create_applicant(&p, new).await?;
    Ok(created(applicant_json(&s, &a)))
}

/// `GET /applicants/{id}`.
/// `GET /workflows/events/{id}`: a Checkout-format event, as delivered (the `_links.self`
/// of each webhook). kycd-format events of the tenant are not Checkout's: not found.
async fn get_event(State(s): State<AppState>, CheckoutAuth(p): CheckoutAuth, Path(id): Path<String>) -> CResult<Response> {
    let ev = s.engine.webhook_event(&p, &path_id(&id, "webhook event")?).await?;
    let body: Value = serde_json::from_str(&ev.payload).unwrap_or(Value::Null);
    let ours = body["type"].as_str().is_some_and(|t| t.starts_with("identity_verification_"));
    if !ours {
        return Err(CheckoutError::not_found(map::not_found_code("webhook event")));
    }
    Ok(axum::Json(body).into_response())
}

async fn get_applicant(State(s): State<AppState>, CheckoutAuth(p): CheckoutAuth, Path(id): Path<String>) -> CResult<Response> {
    let a = s.engine.get_applicant(&p, &path_id(&id, "applicant")?).await?;
    Ok(axum::Json(applicant_json(&s, &a)).into_response())
}

/// `PATCH /applicants/{id}`: `email`, `external_applicant_name`.
async fn update_applicant(
    State(s): State<AppState>,
    CheckoutAuth(p): CheckoutAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> CResult<Response> {
    let id = path_id(&id, "applicant")?;
    let patch = wire::applicant(&wire::json_object(&body)?, false)?;
    let a = s.engine.update_applicant(&p, &id, patch).await.map_err(|e| match e {
        EngineError::Gone(_) => CheckoutError::invalid_one("applicant_anonymized"),
        other => other.into(),
    })?;
    Ok(axum::Json(applicant_json(&s, &a)).into_response())
}

/// `POST /applicants/{id}/anonymize`: the applicant's personal data and every
/// verification of theirs.
async fn anonymize_applicant(State(s): State<AppState>, CheckoutAuth(p): CheckoutAuth, Path(id): Path<String>) -> CResult<Response> {
    let a = s.engine.anonymize_applicant(&p, &path_id(&id, "applicant")?).await?;
    Ok(axum::Json(applicant_json(&s, &a)).into_response())
}

// ----- identity verifications ------------------------------------------------------------

async fn verification_state(s: &AppState, p: &Principal, v: &Verification) -> CResult<String> {
    let st: Option<VerificationState> = s.engine.dialect_state(p, v.id.as_str(), STATE).await?;
    Ok(st
        .and_then(|st| st.user_journey_id)
        .unwrap_or_else(|| default_user_journey(&v.tenant_id)))
}

fn codes_json(codes: &[map::ResponseCode]) -> Value {
    Value::Array(codes.iter().map(|c| json!({"code": c.code, "summary": c.summary})).collect())
}

/// `documents`: what the checks read from the document (the MRZ), while not anonymized.
/// The document as kycd read it (MRZ or AAMVA barcode): the vendor's `documents[]`.
fn documents(v: &Verification) -> Vec<Value> {
    let Some(f) = kycd_engine::decision::document_facts(v) else {
        return Vec::new();
    };
    let mut doc = Map::new();
    if let Some(n) = f.full_name() {
        doc.insert("full_name".into(), json!(n));
    }
    if let Some(b) = f.birth_date {
        doc.insert("birth_date".into(), json!(b.to_string()));
    }
    if let Some(t) = f.document_type {
        doc.insert("document_type".into(), json!(map::document_type(t)));
    }
    // The vendor writes ISO 3166 alpha-2; a state code without one (a fictional or
    // organisation code) is left out rather than guessed.
    if let Some(c) = f.issuing_country_alpha2() {
        doc.insert("document_issuing_country".into(), json!(c));
    }
    if doc.is_empty() { Vec::new() } else { vec![Value::Object(doc)] }
}

fn idv_json(s: &AppState, v: &Verification, usj: &str, verification_url: Option<&str>) -> Value {
    let d = decision_summary(v);
    let codes = map::response_codes(v.status, &v.checks);
    let mut declared = Map::new();
    if let Some(n) = &v.private.declared.full_name {
        declared.insert("name".into(), json!(n.expose()));
    }
    if let Some(b) = v.private.declared.birth_date {
        declared.insert("birth_date".into(), json!(b.expose().to_string()));
    }
    let base = base(s);
    let mut links = json!({
        "self": link(format!("{base}/identity-verifications/{}", v.id)),
        "applicant": link(format!("{base}/applicants/{}", v.applicant_id)),
        "attempts": link(format!("{base}/identity-verifications/{}/attempts", v.id)),
    });
    if matches!(v.status, VerificationStatus::Approved | VerificationStatus::Declined) && !v.redacted {
        links["pdf_report"] = link(format!("{base}/identity-verifications/{}/pdf-report", v.id));
    }
    if let Some(u) = verification_url {
        links["verification_url"] = link(u.to_owned());
    }
    let mut out = json!({
        "id": v.id,
        "created_on": time(v.created_at),
        "modified_on": time(v.updated_at),
        "applicant_id": v.applicant_id,
        "user_journey_id": usj,
        "status": map::idv_status(v.status),
        "response_codes": codes_json(&codes),
        "risk_labels": map::risk_labels(&d),
        "declared_data": declared,
        "documents": documents(v),
        "_links": links,
    });
    if let Some(vi) = &d.verified {
        let mut m = Map::new();
        if let Some(n) = &vi.full_name {
            m.insert("full_name".into(), json!(n.expose()));
        }
        if let Some(b) = vi.birth_date {
            m.insert("birth_date".into(), json!(b.expose().to_string()));
        }
        out["verified_identity"] = Value::Object(m);
    }
    out
}

/// The identity verification; `redirect_url` is its latest attempt's (the .NET SDK's
/// `IdentityVerificationResponse` carries one), gone once anonymized.
async fn render_idv(s: &AppState, p: &Principal, v: &Verification, verification_url: Option<&str>) -> CResult<Value> {
    let usj = verification_state(s, p, v).await?;
    let mut out = idv_json(s, v, &usj, verification_url);
    let attempts = s.engine.list_attempts(p, &v.id).await?;
    if let Some(latest) = latest_id(&attempts)
        && let Some(url) = s
            .engine
            .dialect_state::<AttemptState>(p, latest.as_str(), STATE)
            .await?
            .and_then(|st| st.redirect_url)
    {
        out["redirect_url"] = json!(url);
    }
    Ok(out)
}

async fn put_states(
    s: &AppState,
    p: &Principal,
    v: &Verification,
    vstate: &VerificationState,
    attempt: Option<(&AttemptId, &AttemptState)>,
) -> CResult<()> {
    if vstate.user_journey_id.is_some() {
        s.engine.set_dialect_state(p, &v.id, v.id.as_str(), STATE, vstate).await?;
    }
    if let Some((id, st)) = attempt {
        s.engine.set_dialect_state(p, &v.id, id.as_str(), STATE, st).await?;
    }
    Ok(())
}

/// `POST /identity-verifications`.
async fn create_verification(State(s): State<AppState>, CheckoutAuth(p): CheckoutAuth, body: Bytes) -> CResult<Response> {
    let req = wire::create_verification(&wire::json_object(&body)?)?;
    let v = s.engine.create_verification(&p, req.new).await?;
    put_states(&s, &p, &v, &req.state, None).await?;
    Ok(created(render_idv(&s, &p, &v, None).await?))
}

/// `POST /create-and-open-idv`: the verification with its first attempt open; the answer
/// carries the attempt URL (`_links.verification_url`).
async fn create_and_open(State(s): State<AppState>, CheckoutAuth(p): CheckoutAuth, body: Bytes) -> CResult<Response> {
    let req = wire::create_and_open(&wire::json_object(&body)?)?;
    let session = s.engine.create_session(&p, req.create.new, None, None).await?;
    let v = &session.verification;
    put_states(&s, &p, v, &req.create.state, Some((&session.attempt.id, &req.attempt))).await?;
    Ok(created(render_idv(&s, &p, v, Some(&session.capture_url)).await?))
}

/// `GET /identity-verifications/{id}`.
async fn get_verification(State(s): State<AppState>, CheckoutAuth(p): CheckoutAuth, Path(id): Path<String>) -> CResult<Response> {
    let v = s.engine.get_verification(&p, &path_id(&id, "verification")?).await?;
    Ok(axum::Json(render_idv(&s, &p, &v, None).await?).into_response())
}

/// `POST /identity-verifications/{id}/anonymize`: personal data and images erased; the
/// ids, status and codes stay. An open verification is closed first.
async fn anonymize_verification(State(s): State<AppState>, CheckoutAuth(p): CheckoutAuth, Path(id): Path<String>) -> CResult<Response> {
    let v = s.engine.anonymize(&p, &path_id(&id, "verification")?).await?;
    Ok(axum::Json(render_idv(&s, &p, &v, None).await?).into_response())
}

// ----- attempts ----------------------------------------------------------------------------

fn latest_id(list: &[Attempt]) -> Option<&AttemptId> {
    list.iter()
        .max_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)))
        .map(|a| &a.id)
}

fn attempt_json(
    s: &AppState,
    v: &Verification,
    a: &Attempt,
    latest: bool,
    st: Option<&AttemptState>,
    verification_url: Option<&str>,
) -> Value {
    let now = Utc::now();
    let status = map::attempt_status(a, v.status, latest, now);
    let idv_codes = map::response_codes(v.status, &v.checks);
    let codes = map::attempt_response_codes(status, &idv_codes);
    let self_href = format!("{}/identity-verifications/{}/attempts/{}", base(s), v.id, a.id);
    let mut links = json!({ "self": link(self_href) });
    if let Some(u) = verification_url {
        links["verification_url"] = link(u.to_owned());
    }
    let client = match st.and_then(|st| st.client_information.as_ref()) {
        Some(ci) => serde_json::to_value(ci).unwrap_or_else(|_| json!({})),
        None => {
            let mut m = Map::new();
            if let Some(c) = &a.client.country {
                m.insert("pre_selected_residence_country".into(), json!(c));
            }
            if let Some(l) = &a.client.language {
                m.insert("pre_selected_language".into(), json!(l));
            }
            if let Some(t) = a.client.document_type {
                m.insert("pre_selected_document_type".into(), json!(map::document_type(t)));
            }
            Value::Object(m)
        }
    };
    let mut session = Map::new();
    if status != "pending_redirection"
        && let Some(t) = a.client.document_type
    {
        let mut doc = Map::new();
        if let Some(c) = &a.client.country {
            doc.insert("country".into(), json!(c));
        }
        doc.insert("document_type".into(), json!(map::document_type(t)));
        session.insert("selected_documents".into(), json!([doc]));
    }
    let mut out = json!({
        "id": a.id,
        "created_on": time(a.created_at),
        "modified_on": time(a.updated_at),
        "status": status,
        "client_information": client,
        "applicant_session_information": session,
        "response_codes": codes_json(&codes),
        "_links": links,
    });
    if let Some(u) = st.and_then(|st| st.redirect_url.as_deref()) {
        out["redirect_url"] = json!(u);
    }
    out
}

async fn attempt_state(s: &AppState, p: &Principal, a: &Attempt) -> CResult<Option<AttemptState>> {
    Ok(s.engine.dialect_state(p, a.id.as_str(), STATE).await?)
}

/// `POST /identity-verifications/{id}/attempts`: 409 unless the verification is
/// `created`, `pending`, `capture_in_progress` or `retry_required`. An attempt still open
/// is closed (its code becomes 64001 `forcibly_closed`), as the vendor does.
async fn create_attempt(
    State(s): State<AppState>,
    CheckoutAuth(p): CheckoutAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> CResult<Response> {
    let id: VerificationId = path_id(&id, "verification")?;
    let (st, client) = wire::create_attempt(&wire::json_object(&body)?)?;
    let started = match s.engine.open_attempt_superseding(&p, &id, client).await {
        Ok(x) => x,
        Err(EngineError::Conflict(_)) => {
            let v = s.engine.get_verification(&p, &id).await?;
            return Err(CheckoutError::conflict(if map::allows_new_attempt(v.status) {
                "max_attempts_reached"
            } else {
                "identity_verification_status_invalid"
            }));
        }
        Err(e) => return Err(e.into()),
    };
    let v = s.engine.get_verification(&p, &id).await?;
    s.engine.set_dialect_state(&p, &id, started.attempt.id.as_str(), STATE, &st).await?;
    Ok(created(attempt_json(&s, &v, &started.attempt, true, Some(&st), Some(&started.url))))
}

fn page_links(self_href: String, q: wire::PageQuery, total: usize) -> Value {
    let at = |skip: usize| format!("{self_href}?skip={skip}&limit={}", q.limit);
    let mut links = json!({ "self": link(at(q.skip)) });
    if q.skip.saturating_add(q.limit) < total {
        links["next"] = link(at(q.skip + q.limit));
    }
    if q.skip > 0 {
        links["previous"] = link(at(q.skip.saturating_sub(q.limit)));
    }
    links
}

/// `GET /identity-verifications/{id}/attempts?skip=&limit=`: newest first.
async fn list_attempts(
    State(s): State<AppState>,
    CheckoutAuth(p): CheckoutAuth,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> CResult<Response> {
    let q = wire::page_query(q.as_deref())?;
    let id: VerificationId = path_id(&id, "verification")?;
    let v = s.engine.get_verification(&p, &id).await?;
    let mut list = s.engine.list_attempts(&p, &id).await?;
    let latest = latest_id(&list).cloned();
    list.reverse();
    let total = list.len();
    let mut data = Vec::new();
    for a in list.iter().skip(q.skip).take(q.limit) {
        let st = attempt_state(&s, &p, a).await?;
        data.push(attempt_json(&s, &v, a, latest.as_ref() == Some(&a.id), st.as_ref(), None));
    }
    Ok(axum::Json(json!({
        "total_count": total,
        "skip": q.skip,
        "limit": q.limit,
        "data": data,
        "_links": page_links(format!("{}/identity-verifications/{}/attempts", base(&s), v.id), q, total),
    }))
    .into_response())
}

/// `GET /identity-verifications/{id}/attempts/{attempt_id}`.
async fn get_attempt(
    State(s): State<AppState>,
    CheckoutAuth(p): CheckoutAuth,
    Path((id, attempt)): Path<(String, String)>,
) -> CResult<Response> {
    let id: VerificationId = path_id(&id, "verification")?;
    let attempt: AttemptId = path_id(&attempt, "attempt")?;
    let a = s.engine.get_attempt(&p, &id, &attempt).await?;
    let v = s.engine.get_verification(&p, &id).await?;
    let list = s.engine.list_attempts(&p, &id).await?;
    let st = attempt_state(&s, &p, &a).await?;
    let latest = latest_id(&list) == Some(&a.id);
    Ok(axum::Json(attempt_json(&s, &v, &a, latest, st.as_ref(), None)).into_response())
}

/// `GET /identity-verifications/{id}/attempts/{attempt_id}/assets?skip=&limit=`: the
/// attempt's images, each with a short-lived download link (`_links.asset_url`).
async fn list_assets(
    State(s): State<AppState>,
    CheckoutAuth(p): CheckoutAuth,
    Path((id, attempt)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> CResult<Response> {
    let q = wire::page_query(q.as_deref())?;
    let id: VerificationId = path_id(&id, "verification")?;
    let attempt: AttemptId = path_id(&attempt, "attempt")?;
    s.engine.get_attempt(&p, &id, &attempt).await?;
    let captures: Vec<Capture> = s
        .engine
        .list_captures(&p, &id)
        .await?
        .into_iter()
        // The vendor's assets are what the person captured; kycd's portrait crop is not one.
        .filter(|c| c.attempt_id == attempt && c.available && !c.kind.is_derived() && c.kind.is_image())
        .collect();
    let total = captures.len();
    let page: Vec<&Capture> = captures.iter().skip(q.skip).take(q.limit).collect();
    let token = if page.is_empty() {
        None
    } else {
        Some(s.engine.issue_download_link(&p, &id, ASSET_LINK).await?.token)
    };
    let base = base(&s);
    let data: Vec<Value> = page
        .iter()
        .map(|c| {
            let href = format!("{base}/downloads/{}/{}", token.as_deref().unwrap_or_default(), c.id);
            json!({ "type": map::asset_type(c.kind), "_links": { "asset_url": link(href) } })
        })
        .collect();
    Ok(axum::Json(json!({
        "total_count": total,
        "skip": q.skip,
        "limit": q.limit,
        "data": data,
        "_links": page_links(format!("{base}/identity-verifications/{id}/attempts/{attempt}/assets"), q, total),
    }))
    .into_response())
}

// ----- report and downloads ------------------------------------------------------------------

/// `GET /identity-verifications/{id}/pdf-report`: the pre-signed URL as `pdf_report` (the
/// Python and Java SDKs) and as `signed_url` (the .NET SDK's `BaseReportResponse`), only
/// once the verification is approved or declined (else 404, as the vendor lists).
async fn pdf_report(State(s): State<AppState>, CheckoutAuth(p): CheckoutAuth, Path(id): Path<String>) -> CResult<Response> {
    let id: VerificationId = path_id(&id, "verification")?;
    let tok = s.engine.issue_decided_download_link(&p, &id, PDF_LINK).await.map_err(|e| match e {
        EngineError::Conflict(_) | EngineError::Gone(_) => CheckoutError::not_found("pdf_report_not_available"),
        other => other.into(),
    })?;
    let base = base(&s);
    let url = format!("{base}/downloads/{}", tok.token);
    Ok(axum::Json(json!({
        "pdf_report": url,
        "signed_url": url,
        "_links": { "self": link(format!("{base}/identity-verifications/{id}/pdf-report")) },
    }))
    .into_response())
}

fn bytes_response(bytes: impl IntoResponse, content_type: &'static str, filename: Option<String>) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(v) = filename.and_then(|f| HeaderValue::from_str(&format!("attachment; filename=\"{f}\"")).ok()) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `GET /downloads/{token}`: the PDF report behind a link from `pdf-report` (no other
/// credentials; the link expires after 15 minutes).
async fn download_pdf(State(s): State<AppState>, Path(token): Path<String>) -> CResult<Response> {
    let gone = |e: EngineError| match e {
        EngineError::Conflict(_) | EngineError::Gone(_) | EngineError::NotFound(_) => CheckoutError::not_found("resource_not_found"),
        other => other.into(),
    };
    let (p, id) = s.engine.redeem_download_link(&token, PDF_LINK).await.map_err(gone)?;
    let ex = s.engine.decided_evidence_export(&p, &id, "evidence.pdf.read").await.map_err(gone)?;
    let pdf = s.engine.render_pdf(&ex).await?;
    Ok(bytes_response(pdf, "application/pdf", Some(format!("{id}-report.pdf"))))
}

/// `GET /downloads/{token}/{file_id}`: one captured image behind an `asset_url`.
async fn download_asset(State(s): State<AppState>, Path((token, file)): Path<(String, String)>) -> CResult<Response> {
    let gone = |e: EngineError| match e {
        EngineError::Gone(_) | EngineError::NotFound(_) => CheckoutError::not_found("resource_not_found"),
        other => other.into(),
    };
    let (p, id) = s.engine.redeem_download_link(&token, ASSET_LINK).await.map_err(gone)?;
    let file: FileId = path_id(&file, "file")?;
    let (c, stream) = s.engine.read_verification_file(&p, &id, &file).await.map_err(gone)?;
    Ok(bytes_response(crate::api::capture_body(&c, stream), c.media_type.as_str(), None))
}
