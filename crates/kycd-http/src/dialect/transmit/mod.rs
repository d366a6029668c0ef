//! Transmit Security (Mosaic) Verify — document verification sessions, mounted at
//! `/compat/transmit` in place of `https://api.transmitsecurity.io/verify`.
//!
//! Every call but the token endpoint carries `Authorization: Bearer <access token>` from
//! `POST /oidc/token` (client credentials: a kycd API key id and key). Session ids are
//! kycd verification ids (`idv_…`), image ids kycd file ids (`file_…`): the vendor's ids
//! have no prefix of their own, so no second id is stored.

mod error;
mod map;
mod wire;

use crate::AppState;
use crate::dialect::oauth;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use error::TransmitError;
use kycd_core::*;
use kycd_engine::decision::decision_summary;
use kycd_engine::sessions::SessionProgress;
use kycd_engine::{Engine, Principal};
use serde_json::{Map, Value, json};

/// Tokens issued at this dialect's token endpoint work here only.
pub const AUDIENCE: &str = "transmit";

type TResult<T> = Result<T, TransmitError>;

pub fn router(engine: &Engine) -> Router<AppState> {
    // Base64 inflates by 4/3; leave room for the JSON around it.
    let image_limit = engine.config().max_upload_bytes / 3 * 4 + 64 * 1024;
    Router::new()
        .route("/oidc/token", post(token))
        .route("/api/v1/verification", post(create_session))
        .route("/api/v1/verification/{sid}", delete(delete_session))
        .route("/api/v1/verification/{sid}/result", get(get_result))
        .route(
            "/api/v1/verification/{sid}/images",
            get(list_images).post(add_image).layer(DefaultBodyLimit::max(image_limit)),
        )
        .route("/api/v1/verification/{sid}/images/{id}", get(get_image))
        .layer(DefaultBodyLimit::max(256 * 1024))
        .fallback(fallback)
}

async fn fallback() -> TransmitError {
    TransmitError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// The caller, from `Authorization: Bearer <access token>`.
pub struct TransmitAuth(pub Principal);

impl FromRequestParts<AppState> for TransmitAuth {
    type Rejection = TransmitError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, TransmitError> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))) else {
            return Err(TransmitError::unauthorized(
                "missing access token: send 'Authorization: Bearer <access token>' from POST /oidc/token",
            ));
        };
        Ok(Self(state.engine.authenticate_access_token(token.trim(), AUDIENCE).await?))
    }
}

fn session_id(raw: &str) -> TResult<VerificationId> {
    raw.parse().map_err(|_| TransmitError::session_not_found())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn kinds(list: &[CaptureKind]) -> Vec<&'static str> {
    list.iter().map(|k| map::image_type(*k)).collect()
}

// ----- token -------------------------------------------------------------------------

/// `POST /oidc/token` — OAuth2 client credentials.
async fn token(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match oauth::parse_token_request(&headers, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match oauth::issue(&s.engine, &req, AUDIENCE, None).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

// ----- sessions -----------------------------------------------------------------------

/// `POST /api/v1/verification`.
async fn create_session(State(s): State<AppState>, TransmitAuth(p): TransmitAuth, body: Bytes) -> TResult<Response> {
    let req: wire::CreateSessionRequest = wire::json_body(&body)?;
    let (new, mock, start) = req.parse()?;
    let created = s.engine.create_session(&p, new, mock, start).await?;
    Ok(axum::Json(json!({
        "start_token": created.start_token,
        "session_id": created.verification.id,
        "expiration": time(created.verification.expires_at),
        "missing_images": kinds(&created.progress.missing),
    }))
    .into_response())
}

/// `DELETE /api/v1/verification/{sid}`: the session, its images and personal data.
async fn delete_session(State(s): State<AppState>, TransmitAuth(p): TransmitAuth, Path(sid): Path<String>) -> TResult<Response> {
    s.engine.delete(&p, &session_id(&sid)?).await?;
    Ok(axum::Json(json!({})).into_response())
}

/// `GET /api/v1/verification/{sid}/result`.
async fn get_result(
    State(s): State<AppState>,
    TransmitAuth(p): TransmitAuth,
    Path(sid): Path<String>,
    RawQuery(q): RawQuery,
) -> TResult<Response> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).map_err(|_| TransmitError::bad_request("malformed query string"))?;
    for (k, v) in &pairs {
        if k == "detailed" && !matches!(v.as_str(), "true" | "false") {
            return Err(TransmitError::bad_request("detailed must be true or false"));
        }
    }
    let id = session_id(&sid)?;
    let v = s.engine.get_verification(&p, &id).await?;
    let progress = s.engine.session_progress(&p, &id).await?;
    let attempts = s.engine.list_attempts(&p, &id).await?;
    Ok(axum::Json(result_json(&v, &progress, attempts.last())).into_response())
}

fn result_json(v: &Verification, progress: &SessionProgress, last: Option<&Attempt>) -> Value {
    let status = map::session_status(v.status);
    let d = decision_summary(v);
    let mut out = json!({ "session_id": v.id, "status": status });
    let Some(rec) = d.recommendation.filter(|_| status == "complete") else {
        out["missing_images"] = json!(kinds(&progress.missing));
        return out;
    };
    let mut person = Map::new();
    if let Some(vi) = &d.verified {
        let mut put = |k: &str, t: &Option<PersonalText>| {
            if let Some(t) = t {
                person.insert(k.into(), Value::String(t.expose().to_owned()));
            }
        };
        put("full_name", &vi.full_name);
        put("given_name", &vi.first_name);
        put("surname", &vi.last_name);
        if let Some(b) = vi.birth_date {
            person.insert("date_of_birth".into(), Value::String(b.expose().to_string()));
        }
    }
    let mut document = Map::new();
    if let Some(a) = last {
        if let Some(t) = a.client.document_type {
            document.insert("type".into(), Value::String(map::document_type(t).into()));
        }
        if let Some(c) = &a.client.country {
            document.insert("country".into(), Value::String(c.clone()));
        }
    }
    let mut checks = Map::new();
    for c in &v.checks {
        checks.insert(
            c.name.clone(),
            json!({"recommendation": map::check_recommendation(c.passed), "description": c.detail}),
        );
    }
    let mut additional = json!({
        "reasons": d.reasons.iter().map(|r| map::reason(*r)).collect::<Vec<_>>(),
    });
    if let Some(by) = d.decided_by {
        additional["decided_by"] = Value::String(map::decided_by(by).into());
    }
    out["recommendation"] = Value::String(map::recommendation(rec).into());
    out["person"] = Value::Object(person);
    out["document"] = Value::Object(document);
    out["additional_info"] = additional;
    out["checks"] = Value::Object(checks);
    out
}

// ----- images -------------------------------------------------------------------------

/// `POST /api/v1/verification/{sid}/images`: base64 in JSON.
async fn add_image(
    State(s): State<AppState>,
    TransmitAuth(p): TransmitAuth,
    Path(sid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> TResult<Response> {
    let id = session_id(&sid)?;
    let body = body.map_err(|e| {
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
        "feedback": map::feedback(&added.capture.feedback),
        "complete": if added.progress.complete { "true" } else { "false" },
        "missing_images": kinds(&added.progress.missing),
    }))
    .into_response())
}

/// `GET /api/v1/verification/{sid}/images`: metadata only.
async fn list_images(State(s): State<AppState>, TransmitAuth(p): TransmitAuth, Path(sid): Path<String>) -> TResult<Response> {
    let list = s.engine.list_captures(&p, &session_id(&sid)?).await?;
    let images: Vec<Value> = list
        .iter()
        .filter(|c| c.available)
        .map(|c| {
            json!({
                "id": c.id,
                "type": map::image_type(c.kind),
                "format": map::image_format(c.media_type),
                "size": c.size,
                "feedback": map::feedback(&c.feedback),
                "created_at": time(c.created_at),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "session_images": images })).into_response())
}

/// `GET /api/v1/verification/{sid}/images/{id}`: the original bytes.
async fn get_image(
    State(s): State<AppState>,
    TransmitAuth(p): TransmitAuth,
    Path((sid, image)): Path<(String, String)>,
) -> TResult<Response> {
    let id = session_id(&sid)?;
    let file: FileId = image.parse().map_err(|_| TransmitError::image_not_found())?;
    let (c, bytes) = s.engine.read_verification_file(&p, &id, &file).await?;
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(c.media_type.as_str()));
    Ok(resp)
}
