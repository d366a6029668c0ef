//! The OAuth 2.0 token endpoint shared by the dialects that authenticate with bearer
//! access tokens (RFC 6749 §4.4 client credentials grant). The client is a kycd API key:
//! `client_id` = its id (`key_…`), `client_secret` = the key; sent in the form body or as
//! HTTP Basic credentials. Errors are RFC 6749 §5.2 JSON bodies.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kycd_engine::access::AccessToken;
use kycd_engine::{Engine, EngineError};
use std::collections::HashMap;

#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }
    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl From<EngineError> for OAuthError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Unauthorized(m) => Self::new(StatusCode::UNAUTHORIZED, "invalid_client", m),
            EngineError::Forbidden(m) => Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", m),
            other => {
                tracing::error!(cause = %kycd_engine::error_chain(&other), "token endpoint failed: answered 500");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "an internal error occurred; retry later",
                )
            }
        }
    }
}

fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"kycd\""));
        }
        no_store(&mut resp);
        resp
    }
}

/// `Authorization: Basic base64(client_id:client_secret)` (RFC 6749 §2.3.1: each part
/// form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(h) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(b64) = h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic ")) else {
        return Ok(None);
    };
    let bad = || OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", "malformed HTTP Basic credentials");
    let raw = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let dec = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|mut v| v.pop())
            .map(|(_, v)| v)
            .unwrap_or_else(|| s.to_owned())
    };
    Ok(Some((dec(id), dec(secret))))
}

/// A client credentials token request, checked.
pub struct TokenRequest {
    pub client_id: String,
    pub client_secret: String,
}

pub fn parse_token_request(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut params: HashMap<String, String> = if ct.starts_with("application/json") {
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(body).map_err(|_| OAuthError::invalid_request("the body is not a JSON object"))?;
        v.into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))).collect()
    } else if ct.starts_with("application/x-www-form-urlencoded") || (ct.is_empty() && !body.is_empty()) {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("the body is not application/x-www-form-urlencoded"))?;
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if map.insert(k.clone(), v).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")));
            }
        }
        map
    } else if body.is_empty() {
        HashMap::new()
    } else {
        return Err(OAuthError::invalid_request(
            "send the token request as application/x-www-form-urlencoded",
        ));
    };
    match params.remove("grant_type").as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            ));
        }
        None => return Err(OAuthError::invalid_request("grant_type is required (client_credentials)")),
    }
    let body_id = params.remove("client_id").filter(|s| !s.is_empty());
    let body_secret = params.remove("client_secret").filter(|s| !s.is_empty());
    let (client_id, client_secret) = match (basic_credentials(headers)?, body_id, body_secret) {
        (Some((id, secret)), bid, bsecret) => {
            if bid.as_ref().is_some_and(|b| *b != id) || bsecret.as_ref().is_some_and(|b| *b != secret) {
                return Err(OAuthError::invalid_request(
                    "the client credentials in the body and in the Authorization header differ",
                ));
            }
            (id, secret)
        }
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client_id and client_secret are required (form parameters or HTTP Basic)",
            ));
        }
    };
    // The other parameters (`scope`, `resource`, …) are accepted and do not widen or
    // narrow the token: it is always scoped to the key's tenant and role.
    Ok(TokenRequest { client_id, client_secret })
}

/// Issue the token and answer RFC 6749 §5.1.
pub async fn issue(engine: &Engine, req: &TokenRequest, audience: &str, scope: Option<&str>) -> Result<Response, OAuthError> {
    let tok: AccessToken = engine.issue_access_token(&req.client_id, &req.client_secret, audience).await?;
    let mut body = serde_json::json!({
        "access_token": tok.token,
        "token_type": "Bearer",
        "expires_in": tok.expires_in,
    });
    if let Some(s) = scope {
        body["scope"] = serde_json::Value::String(s.to_owned());
    }
    let mut resp = axum::Json(body).into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// The whole token endpoint of a dialect: parse the request, issue a token for `audience`.
pub async fn token_endpoint(engine: &Engine, headers: &HeaderMap, body: &[u8], audience: &str) -> Response {
    let req = match parse_token_request(headers, body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match issue(engine, &req, audience, None).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
