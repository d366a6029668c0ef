//! Transmit Security (Mosaic) Verify — document verification sessions, mounted at
//! `/compat/transmit` in place of the vendor's host `https://api.transmitsecurity.io`: the
//! token endpoint at `<mount>/oidc/token` and the service at `<mount>/verify/api/v1/...`, as
//! on the vendor's host, so swapping the host is the whole migration. `<mount>/api/v1/...`
//! answers the same (the layout kycd served first).
//!
//! Every call but the token endpoint carries `Authorization: Bearer <access token>` from
//! `POST /oidc/token` (client credentials: a kycd API key id and key). Session ids are
//! kycd verification ids (`idv_…`), image ids kycd file ids (`file_…`): the vendor's ids
//! have no prefix of their own, so no second id is stored.

mod error;
mod map;
pub(crate) mod wire;

use crate::dialect::oauth;
use crate::{AppState, Routes};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use error::TransmitError;
use kycd_core::*;
use kycd_engine::decision::{DecisionSummary, DocumentFacts, Recommendation, decision_summary, document_facts};
use kycd_engine::{Engine, Principal};
use serde_json::{Map, Value, json};

/// Tokens issued at this dialect's token endpoint work here only.
pub const AUDIENCE: &str = "transmit";

type TResult<T> = Result<T, TransmitError>;

/// Where this dialect is mounted: the vendor's base URL becomes `<kycd>/compat/transmit`.
pub const MOUNT: &str = "/compat/transmit";

/// The service's paths, once: mounted under `/verify` (the vendor's layout) and, as an
/// alias, at the mount root.
fn service_routes(image_limit: usize) -> [(&'static str, MethodRouter<AppState>); 6] {
    [
        ("/api/v1/verification", post(create_session)),
        ("/api/v1/verification/{sid}", delete(delete_session)),
        ("/api/v1/verification/{sid}/result", get(get_result)),
        (
            "/api/v1/verification/{sid}/images",
            get(list_images).post(add_image).layer(DefaultBodyLimit::max(image_limit)),
        ),
        ("/api/v1/verification/{sid}/images/{id}", get(get_image)),
        ("/api/v1/verification/{sid}/consent", get(get_consent)),
    ]
}

pub fn router(engine: &Engine) -> Routes<AppState> {
    // Base64 inflates by 4/3; leave room for the JSON around it.
    let image_limit = engine.config().max_upload_bytes / 3 * 4 + 64 * 1024;
    let mut r = Routes::new().at("/oidc/token", post(token));
    for prefix in ["/verify", ""] {
        for (path, handler) in service_routes(image_limit) {
            r = r.at(&format!("{prefix}{path}"), handler);
        }
    }
    r.map(|r| r.layer(DefaultBodyLimit::max(256 * 1024)).fallback(fallback))
}

async fn fallback() -> TransmitError {
    TransmitError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// The caller, from `Authorization: Bearer <access token>`.
pub struct TransmitAuth(pub Principal);

impl FromRequestParts<AppState> for TransmitAuth {
    type Rejection = TransmitError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, TransmitError> {
        let Some(token) = crate::extract::bearer_credential(&parts.headers) else {
            return Err(TransmitError::unauthorized(
                "missing access token: send 'Authorization: Bearer <access token>' from POST /oidc/token",
            ));
        };
        let p = state.engine.authenticate_access_token(token, AUDIENCE).await?;
        crate::ratelimit::admit(parts, state, &p)?;
        Ok(Self(p))
    }
}

fn session_id(raw: &str) -> TResult<VerificationId> {
    raw.parse().map_err(|_| TransmitError::session_not_found())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The value of query parameter `key`, one of `choices` (the last one given wins, as the
/// vendor's framework does); `default` when absent.
fn query_choice<T: Copy>(q: Option<&str>, key: &str, choices: &[(&str, T)], default: T) -> TResult<T> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(q.unwrap_or("")).map_err(|_| TransmitError::bad_request("malformed query string"))?;
    let mut out = default;
    for (_, v) in pairs.iter().filter(|(k, _)| k == key) {
        out = choices.iter().find(|(c, _)| c == v).map(|(_, t)| *t).ok_or_else(|| {
            let words: Vec<&str> = choices.iter().map(|(c, _)| *c).collect();
            TransmitError::bad_request(format!("{key} must be {}", words.join(" or ")))
        })?;
    }
    Ok(out)
}

fn kinds(list: &[CaptureKind]) -> Vec<&'static str> {
    list.iter().map(|k| map::image_type(*k)).collect()
}

// ----- token -------------------------------------------------------------------------

/// `POST /oidc/token` — OAuth2 client credentials.
async fn token(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    oauth::token_endpoint(&s.engine, &headers, &body, AUDIENCE).await
}

// ----- sessions -----------------------------------------------------------------------

/// `POST /verify/api/v1/verification`.
async fn create_session(
    State(s): State<AppState>,
    TransmitAuth(p): TransmitAuth,
    body: Result<Bytes, BytesRejection>,
) -> TResult<Response> {
    // Refused in the vendor's error body, not axum's plain text.
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            TransmitError::bad_request("the request is too large: the limit is 256 KiB")
        } else {
            TransmitError::bad_request(e.body_text())
        }
    })?;
    let req: wire::CreateSessionRequest = wire::json_body(&body)?;
    let (new, mock, start) = req.parse()?;
    let created = s.engine.create_session(&p, new, mock, start).await?;
    let mut body = json!({
        "session_id": created.verification.id,
        "expiration": time(created.verification.expires_at),
        "missing_images": kinds(&created.progress.missing),
    });
    // A session the backend starts has no start token to hand to a frontend.
    if start.is_none() {
        body["start_token"] = Value::String(created.start_token);
    }
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// `DELETE /verify/api/v1/verification/{sid}`: the session, its images and personal
/// data; 200 without a body, as the vendor answers.
async fn delete_session(State(s): State<AppState>, TransmitAuth(p): TransmitAuth, Path(sid): Path<String>) -> TResult<Response> {
    s.engine.delete(&p, &session_id(&sid)?).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /verify/api/v1/verification/{sid}/consent`: whether (and when) the person agreed,
/// on the capture page or as the backend said when it started the session.
async fn get_consent(State(s): State<AppState>, TransmitAuth(p): TransmitAuth, Path(sid): Path<String>) -> TResult<Response> {
    let at = s.engine.session_consent(&p, &session_id(&sid)?).await?;
    let mut body = json!({ "consent_granted": at.is_some() });
    if let Some(at) = at {
        body["consent_date"] = Value::String(time(at));
    }
    Ok(axum::Json(body).into_response())
}

/// `GET /verify/api/v1/verification/{sid}/result`. `detailed=false` (deprecated) answers the old
/// result shape; without it, or with `true`, the complete / incomplete result.
async fn get_result(
    State(s): State<AppState>,
    TransmitAuth(p): TransmitAuth,
    Path(sid): Path<String>,
    RawQuery(q): RawQuery,
) -> TResult<Response> {
    let detailed = query_choice(q.as_deref(), "detailed", &[("true", true), ("false", false)], true)?;
    let id = session_id(&sid)?;
    let v = s.engine.get_verification(&p, &id).await?;
    let captures = s.engine.list_captures(&p, &id).await?;
    let chosen = s.engine.list_attempts(&p, &id).await?.last().and_then(|a| a.client.document_type);
    let body = if detailed {
        result_json(&v, &captures, chosen)
    } else {
        deprecated_result_json(&v, chosen)
    };
    Ok(axum::Json(body).into_response())
}

/// An ISO-8601 date-time at midnight UTC, as the vendor writes dates.
fn date(d: chrono::NaiveDate) -> String {
    format!("{}T00:00:00.000Z", d.format("%Y-%m-%d"))
}

fn age_at(birth: chrono::NaiveDate, at: chrono::NaiveDate) -> Option<u32> {
    at.years_since(birth)
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<String>) {
    if let Some(v) = v {
        m.insert(k.into(), Value::String(v));
    }
}

/// `person`: the document's data, the declared data where the document said nothing.
fn person_json(v: &Verification, facts: Option<&DocumentFacts>) -> Map<String, Value> {
    let mut person = Map::new();
    let declared = (!v.redacted).then_some(&v.private.declared);
    let text = |t: &Option<PersonalText>| t.as_ref().map(|t| t.expose().to_owned());
    // Each name as the document gives it, else as declared.
    for (key, read, said) in [
        (
            "full_name",
            facts.and_then(DocumentFacts::full_name),
            declared.map(|d| &d.full_name),
        ),
        (
            "given_name",
            facts.and_then(|f| f.given_names.clone()),
            declared.map(|d| &d.first_name),
        ),
        ("surname", facts.and_then(|f| f.surname.clone()), declared.map(|d| &d.last_name)),
    ] {
        put(&mut person, key, read.or_else(|| said.and_then(text)));
    }
    put(&mut person, "gender", facts.and_then(|f| f.sex).map(|g| map::gender(g).to_owned()));
    let birth = facts
        .and_then(|f| f.birth_date)
        .or_else(|| declared.and_then(|d| d.birth_date.map(|b| b.expose())));
    if let Some(b) = birth {
        person.insert("date_of_birth".into(), Value::String(date(b)));
        if let Some(age) = age_at(b, v.created_at.date_naive()) {
            person.insert("age".into(), json!(age));
        }
    }
    person
}

/// The document type the checks read, else the one the person chose at capture.
fn document_type_of(facts: Option<&DocumentFacts>, chosen: Option<DocumentType>) -> &'static str {
    facts.and_then(|f| f.document_type).or(chosen).map_or("other", map::document_type)
}

/// What a complete result is made of: the recommendation, the decision's summary and the
/// document's facts.
struct Complete {
    rec: Recommendation,
    d: DecisionSummary,
    facts: Option<DocumentFacts>,
}

/// Both results' start: `session_id` and `status` (the incomplete result is only that),
/// and once complete what the rest is made of.
fn result_start(v: &Verification) -> (Value, Option<Complete>) {
    let status = map::session_status(v.status);
    let d = decision_summary(v);
    let out = json!({ "session_id": v.id, "status": status });
    let complete = match d.recommendation {
        Some(rec) if status == "complete" => Some(Complete {
            rec,
            d,
            facts: document_facts(v),
        }),
        _ => None,
    };
    (out, complete)
}

/// The complete result once decided; the incomplete one (`session_id`, `status`) before.
fn result_json(v: &Verification, captures: &[Capture], chosen: Option<DocumentType>) -> Value {
    let (mut out, complete) = result_start(v);
    let Some(Complete { rec, facts, .. }) = complete else {
        return out;
    };
    let facts = facts.as_ref();
    let mut document = Map::new();
    document.insert("type".into(), Value::String(document_type_of(facts, chosen).into()));
    put(
        &mut document,
        "country",
        facts.and_then(DocumentFacts::issuing_country_alpha2).map(str::to_owned),
    );
    put(&mut document, "region", facts.and_then(|f| f.region.clone()));
    put(&mut document, "number", facts.and_then(|f| f.document_number.clone()));
    put(&mut document, "issue_date", facts.and_then(|f| f.issue_date).map(date));
    put(&mut document, "expiration_date", facts.and_then(|f| f.expiry_date).map(date));

    let mut checks = Map::new();
    for g in map::CheckGroup::ALL {
        let (mut passed, mut failed, mut inconclusive) = (0, 0, 0);
        let mut reasons: Vec<&str> = Vec::new();
        for c in &v.checks {
            let Some((group, words)) = map::check_group(c) else { continue };
            if group != g {
                continue;
            }
            let is_inconclusive = c.figures.get("outcome").and_then(Value::as_str) == Some("inconclusive");
            if c.passed {
                passed += 1;
            } else if is_inconclusive {
                inconclusive += 1;
            } else {
                failed += 1;
                for reason in words {
                    if !reasons.contains(&reason) {
                        reasons.push(reason);
                    }
                }
            }
        }
        let mut check = json!({ "recommendation": map::group_recommendation(passed, failed, inconclusive) });
        if !reasons.is_empty() {
            check["reasons"] = json!(reasons);
        }
        checks.insert(g.key().into(), check);
    }
    let images: Vec<Value> = captures
        .iter()
        .filter(|c| c.available && c.feedback.accepted && !c.kind.is_derived() && c.kind.is_image())
        .map(|c| json!({"id": c.id, "type": map::image_type(c.kind)}))
        .collect();
    out["recommendation"] = Value::String(map::recommendation(rec).into());
    out["person"] = Value::Object(person_json(v, facts));
    out["document"] = Value::Object(document);
    out["additional_info"] = json!({});
    out["checks"] = Value::Object(checks);
    out["verification_images"] = Value::Array(images);
    out
}

/// The deprecated result (`detailed=false`): `verified_info` when allowed,
/// `extracted_info` and `rejection_description` otherwise.
fn deprecated_result_json(v: &Verification, chosen: Option<DocumentType>) -> Value {
    let (mut out, complete) = result_start(v);
    let Some(Complete { rec, d, facts }) = complete else {
        return out;
    };
    let facts = facts.as_ref();
    let mut person = person_json(v, facts);
    if let Some(g) = facts.and_then(|f| f.sex) {
        person.insert("gender".into(), Value::String(map::deprecated_gender(g).into()));
    }
    let mut document = Map::new();
    document.insert("type".into(), Value::String(document_type_of(facts, chosen).into()));
    put(&mut document, "country", facts.and_then(|f| f.issuing_country.clone()));
    put(&mut document, "region", facts.and_then(|f| f.region.clone()));
    put(&mut document, "issue_date", facts.and_then(|f| f.issue_date).map(date));
    put(&mut document, "id_value", facts.and_then(|f| f.document_number.clone()));
    put(&mut document, "given_name", facts.and_then(|f| f.given_names.clone()));
    put(&mut document, "surname", facts.and_then(|f| f.surname.clone()));
    put(&mut document, "full_name", facts.and_then(DocumentFacts::full_name));
    put(&mut document, "date_of_birth", facts.and_then(|f| f.birth_date).map(date));
    put(&mut document, "valid_until", facts.and_then(|f| f.expiry_date).map(date));
    let info = json!({ "person": person, "document": document });
    out["recommendation"] = Value::String(map::recommendation(rec).into());
    if rec == Recommendation::Allow {
        out["verified_info"] = info;
    } else {
        out["rejection_description"] = json!(d.reasons.iter().map(|r| map::reason(*r)).collect::<Vec<_>>());
        out["extracted_info"] = info;
    }
    out
}

// ----- images -------------------------------------------------------------------------

/// `POST /verify/api/v1/verification/{sid}/images`: the vendor's `ImageDto`, base64 in JSON.
async fn add_image(
    State(s): State<AppState>,
    TransmitAuth(p): TransmitAuth,
    Path(sid): Path<String>,
    req: axum::extract::Request,
) -> TResult<Response> {
    let id = session_id(&sid)?;
    // Authenticated (the extractor above): reserve the body's size, then read it.
    let limit = s.engine.config().max_upload_bytes / 3 * 4 + 64 * 1024;
    let _reserved = s
        .engine
        .reserve_upload(crate::multipart::declared_length(req.headers()), limit)
        .await?;
    let body = <Bytes as axum::extract::FromRequest<AppState>>::from_request(req, &s)
        .await
        .map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                TransmitError::bad_request(format!(
                    "the image is too large: the limit is {} bytes before base64",
                    s.engine.config().max_upload_bytes
                ))
            } else {
                TransmitError::bad_request(e.body_text())
            }
        })?;
    let req: wire::AddImageRequest = wire::json_body(&body)?;
    let (kind, bytes) = req.parse()?;
    let added = s.engine.add_session_image(&p, &id, kind, bytes).await?;
    Ok(axum::Json(json!({
        "feedback": map::feedback(&added.capture.feedback, added.capture.kind),
        "complete": added.progress.complete,
        "missing_images": kinds(&added.progress.missing),
    }))
    .into_response())
}

/// `GET /verify/api/v1/verification/{sid}/images`: metadata of every image submitted (rejected
/// ones too); images erased by anonymization are gone from the list.
async fn list_images(State(s): State<AppState>, TransmitAuth(p): TransmitAuth, Path(sid): Path<String>) -> TResult<Response> {
    let list = s.engine.list_captures(&p, &session_id(&sid)?).await?;
    let images: Vec<Value> = list
        .iter()
        // The vendor lists what was uploaded; kycd's own portrait crop is not one of them.
        .filter(|c| c.available && !c.kind.is_derived() && c.kind.is_image())
        .map(|c| {
            json!({
                "id": c.id,
                "type": map::image_type(c.kind),
                "format": map::image_format(c.media_type),
                "rejected": !c.feedback.accepted,
                "original": true,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "session_images": images })).into_response())
}

/// `GET /verify/api/v1/verification/{sid}/images/{id}`: the original bytes.
async fn get_image(
    State(s): State<AppState>,
    TransmitAuth(p): TransmitAuth,
    Path((sid, image)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> TResult<Response> {
    let as_base64 = query_choice(q.as_deref(), "format", &[("raw", false), ("base64", true)], false)?;
    let id = session_id(&sid)?;
    let file: FileId = image.parse().map_err(|_| TransmitError::image_not_found())?;
    let (c, stream) = s.engine.read_verification_file(&p, &id, &file).await?;
    if as_base64 {
        use base64::Engine as _;
        // The base64 form is one text value: read whole, then encoded.
        let bytes = kycd_engine::read_whole(stream).await?;
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    let mut resp = crate::api::capture_body(&c, stream).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(c.media_type.as_str()));
    Ok(resp)
}
