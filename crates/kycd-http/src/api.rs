//! Native `/v1` handlers: parse, call the engine, render. No business rules here.

use crate::AppState;
use crate::dto::*;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Auth, optional_json, path_id};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kycd_core::*;

pub(crate) const ID: &str = "the object's id";

#[utoipa::path(post, path = "/v1/applicants", tag = "applicants", request_body = ApplicantInput,
    responses((status = 201, body = ApplicantView), (status = 422, body = Problem)))]
pub async fn create_applicant(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<ApplicantInput>,
) -> ApiResult<(StatusCode, Json<ApplicantView>)> {
    let a = s.engine.create_applicant(&p, body.parse()?).await?;
    Ok((StatusCode::CREATED, Json((&a).into())))
}

#[utoipa::path(get, path = "/v1/applicants", tag = "applicants", params(ListQuery), responses((status = 200, body = ApplicantList)))]
pub async fn list_applicants(State(s): State<AppState>, Auth(p): Auth, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<ApplicantList>> {
    if q.status.is_some() {
        return Err(ApiError::invalid("status filters verifications, not applicants"));
    }
    let page = s.engine.list_applicants(&p, q.cursor.as_deref(), q.limit()?).await?;
    Ok(Json(ApplicantList {
        data: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/applicants/{id}", tag = "applicants", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = ApplicantView), (status = 404, body = Problem)))]
pub async fn get_applicant(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<ApplicantView>> {
    let a = s.engine.get_applicant(&p, &path_id(&id, "applicant")?).await?;
    Ok(Json((&a).into()))
}

#[utoipa::path(patch, path = "/v1/applicants/{id}", tag = "applicants", params(("id" = String, Path, description = ID)), request_body = ApplicantInput,
    responses((status = 200, body = ApplicantView), (status = 404, body = Problem)))]
pub async fn update_applicant(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ApplicantInput>,
) -> ApiResult<Json<ApplicantView>> {
    let id = path_id(&id, "applicant")?;
    let a = s.engine.update_applicant(&p, &id, body.parse()?).await?;
    Ok(Json((&a).into()))
}

#[utoipa::path(post, path = "/v1/verifications", tag = "verifications", request_body = CreateVerificationRequest,
    responses((status = 201, body = VerificationView), (status = 422, body = Problem)))]
pub async fn create_verification(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<CreateVerificationRequest>,
) -> ApiResult<(StatusCode, Json<VerificationView>)> {
    let v = s.engine.create_verification(&p, body.parse()?).await?;
    Ok((StatusCode::CREATED, Json((&v).into())))
}

#[utoipa::path(get, path = "/v1/verifications", tag = "verifications", params(ListQuery), responses((status = 200, body = VerificationList)))]
pub async fn list_verifications(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<VerificationList>> {
    let status = q
        .status
        .as_deref()
        .map(str::parse::<VerificationStatus>)
        .transpose()
        .map_err(ApiError::invalid)?;
    let page = s.engine.list_verifications(&p, status, q.cursor.as_deref(), q.limit()?).await?;
    Ok(Json(VerificationList {
        data: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/verifications/{id}", tag = "verifications", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = VerificationView), (status = 404, body = Problem)))]
pub async fn get_verification(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<VerificationView>> {
    let v = s.engine.get_verification(&p, &path_id(&id, "verification")?).await?;
    Ok(Json((&v).into()))
}

#[utoipa::path(post, path = "/v1/verifications/{id}/cancel", tag = "verifications", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = VerificationView), (status = 409, body = Problem)))]
pub async fn cancel_verification(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<VerificationView>> {
    let v = s.engine.cancel_verification(&p, &path_id(&id, "verification")?).await?;
    Ok(Json((&v).into()))
}

#[utoipa::path(post, path = "/v1/verifications/{id}/attempts", tag = "attempts", params(("id" = String, Path, description = ID)),
    request_body(content = CreateAttemptRequest, description = "optional"),
    responses((status = 201, body = AttemptView), (status = 409, body = Problem)))]
pub async fn create_attempt(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<AttemptView>)> {
    let id = path_id(&id, "verification")?;
    let client = optional_json::<CreateAttemptRequest>(&body)?.parse()?;
    let started = s.engine.create_attempt(&p, &id, client).await?;
    Ok((StatusCode::CREATED, Json(AttemptView::new(&started.attempt, Some(started.url)))))
}

#[utoipa::path(get, path = "/v1/verifications/{id}/attempts", tag = "attempts", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = AttemptList)))]
pub async fn list_attempts(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<AttemptList>> {
    let list = s.engine.list_attempts(&p, &path_id(&id, "verification")?).await?;
    Ok(Json(AttemptList {
        data: list.iter().map(|a| AttemptView::new(a, None)).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/verifications/{id}/attempts/{attempt_id}", tag = "attempts",
    params(("id" = String, Path, description = ID), ("attempt_id" = String, Path, description = "the attempt's id")),
    responses((status = 200, body = AttemptView), (status = 404, body = Problem)))]
pub async fn get_attempt(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, attempt)): Path<(String, String)>,
) -> ApiResult<Json<AttemptView>> {
    let a = s
        .engine
        .get_attempt(&p, &path_id(&id, "verification")?, &path_id(&attempt, "attempt")?)
        .await?;
    Ok(Json(AttemptView::new(&a, None)))
}

#[utoipa::path(post, path = "/v1/verifications/{id}/captures", tag = "captures",
    params(("id" = String, Path, description = ID), KindQuery),
    request_body(content = Vec<u8>, description = "The image (JPEG, PNG, WebP, or HEIC, which is stored converted to JPEG) as the raw body, or as multipart/form-data field `file`.",
        content_type = "image/jpeg"),
    responses((status = 201, body = CaptureView), (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
        (status = 503, description = "the server is receiving as many upload bytes as it takes at once: retry after Retry-After", body = Problem)))]
pub async fn upload_capture(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<KindQuery>,
    req: Request,
) -> ApiResult<(StatusCode, Json<CaptureView>)> {
    let id = path_id(&id, "verification")?;
    let kind: CaptureKind = q
        .kind
        .ok_or_else(|| ApiError::invalid("the query parameter kind is required: document_front, document_back or selfie"))?
        .parse()
        .map_err(ApiError::invalid)?;
    // Authenticated (the extractor above): reserve the body's size, then read it.
    let limit = s.engine.config().max_upload_bytes + 64 * 1024;
    let _reserved = s
        .engine
        .reserve_upload(crate::multipart::declared_length(req.headers()), limit)
        .await?;
    let bytes = read_upload(&s, req).await?;
    let c = s.engine.add_capture(&p, &id, kind, bytes).await?;
    Ok((StatusCode::CREATED, Json((&c).into())))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        format!("the upload is larger than {limit} bytes: compress or downscale the image"),
    )
}

/// The image bytes from a raw body or a multipart field named `file`.
async fn read_upload(s: &AppState, req: Request) -> ApiResult<Vec<u8>> {
    let limit = s.engine.config().max_upload_bytes;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    if is_multipart {
        let mut mp = Multipart::from_request(req, s)
            .await
            .map_err(|e| ApiError::invalid(format!("bad multipart body: {}", e.body_text())))?;
        crate::multipart::file_part(&mut mp, limit).await.map_err(|r| match r {
            crate::multipart::UploadRefusal::TooLarge => too_large(limit),
            crate::multipart::UploadRefusal::Invalid(m) => ApiError::invalid(m),
        })
    } else {
        let bytes = Bytes::from_request(req, s).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large(limit)
            } else {
                ApiError::invalid(e.body_text())
            }
        })?;
        Ok(bytes.to_vec())
    }
}

#[utoipa::path(get, path = "/v1/verifications/{id}/captures", tag = "captures", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = CaptureList)))]
pub async fn list_captures(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<CaptureList>> {
    let list = s.engine.list_captures(&p, &path_id(&id, "verification")?).await?;
    Ok(Json(CaptureList {
        data: list.iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/files/{id}", tag = "captures", params(("id" = String, Path, description = "file_…")),
    responses((status = 200, description = "the original bytes", content_type = "image/jpeg"), (status = 404, body = Problem), (status = 410, body = Problem)))]
pub async fn get_file(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let (c, bytes) = s.engine.read_file(&p, &path_id(&id, "file")?).await?;
    let mut resp = capture_download(&c, bytes);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", c.sha256)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// A capture's original bytes as a download (its media type, `<file id>.<ext>`): the
/// native API and the dialects that stream images answer the same way.
pub(crate) fn capture_download(c: &Capture, bytes: Vec<u8>) -> Response {
    let ext = match c.media_type {
        MediaType::Jpeg => "jpg",
        MediaType::Png => "png",
        MediaType::Webp => "webp",
    };
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(c.media_type.as_str()));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.{ext}\"", c.id)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

#[utoipa::path(post, path = "/v1/verifications/{id}/submit", tag = "verifications", params(("id" = String, Path, description = ID)),
    responses((status = 202, body = VerificationView), (status = 422, body = Problem), (status = 409, body = Problem)))]
pub async fn submit(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<VerificationView>)> {
    let v = s.engine.submit(&p, &path_id(&id, "verification")?).await?;
    Ok((StatusCode::ACCEPTED, Json((&v).into())))
}

#[utoipa::path(post, path = "/v1/verifications/{id}/review", tag = "verifications", params(("id" = String, Path, description = ID)),
    request_body = ReviewRequest, responses((status = 200, body = VerificationView), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn review(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> ApiResult<Json<VerificationView>> {
    let v = s
        .engine
        .review(&p, &path_id(&id, "verification")?, body.decision, &body.reason)
        .await?;
    Ok(Json((&v).into()))
}

#[utoipa::path(get, path = "/v1/verifications/{id}/report", tag = "verifications", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = ReportView), (status = 404, body = Problem)))]
pub async fn report(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<ReportView>> {
    let r = s.engine.report(&p, &path_id(&id, "verification")?).await?;
    Ok(Json((&r).into()))
}

#[utoipa::path(post, path = "/v1/verifications/{id}/anonymize", tag = "verifications", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = VerificationView), (status = 404, body = Problem)))]
pub async fn anonymize(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<VerificationView>> {
    let v = s.engine.anonymize(&p, &path_id(&id, "verification")?).await?;
    Ok(Json((&v).into()))
}

#[utoipa::path(delete, path = "/v1/verifications/{id}", tag = "verifications", params(("id" = String, Path, description = ID)),
    responses((status = 204, description = "deleted"), (status = 404, body = Problem)))]
pub async fn delete_verification(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.engine.delete(&p, &path_id(&id, "verification")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/capture-sessions", tag = "capture", request_body = CaptureSessionRequest,
    responses((status = 200, body = CaptureSessionView), (status = 404, body = Problem), (status = 410, body = Problem)))]
pub async fn start_capture_session(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<CaptureSessionRequest>,
) -> ApiResult<Json<CaptureSessionView>> {
    let a = s.engine.redeem_start_token(body.token.trim()).await?;
    Ok(Json(CaptureSessionView {
        attempt_id: a.id.to_string(),
        verification_id: a.verification_id.to_string(),
    }))
}

pub(crate) fn download(bytes: impl Into<axum::body::Body>, content_type: &'static str, filename: &str) -> Response {
    let mut resp = Response::new(bytes.into());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

#[utoipa::path(get, path = "/v1/verifications/{id}/report.pdf", tag = "evidence", params(("id" = String, Path, description = ID)),
    responses((status = 200, description = "A4 PDF report", content_type = "application/pdf"), (status = 404, body = Problem), (status = 410, body = Problem)))]
pub async fn report_pdf(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let ex = s
        .engine
        .evidence_export(&p, &path_id(&id, "verification")?, "evidence.pdf.read")
        .await?;
    let pdf = s.engine.render_pdf(&ex).await?;
    Ok(download(pdf, "application/pdf", &format!("{}-report.pdf", ex.verification_id())))
}

#[utoipa::path(get, path = "/v1/verifications/{id}/evidence.jwt", tag = "evidence", params(("id" = String, Path, description = ID)),
    responses((status = 200, description = "compact JWS (ES256, typ kycd-evidence+jwt)", content_type = "application/jwt"), (status = 404, body = Problem), (status = 410, body = Problem)))]
pub async fn evidence_jwt(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let ex = s
        .engine
        .evidence_export(&p, &path_id(&id, "verification")?, "evidence.jwt.read")
        .await?;
    let jwt = s.engine.evidence_jwt(&ex).await?;
    let mut resp = jwt.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jwt"));
    Ok(resp)
}

#[utoipa::path(get, path = "/v1/verifications/{id}/evidence.zip", tag = "evidence", params(("id" = String, Path, description = ID)),
    responses((status = 200, description = "streamed ZIP: report.json, report.pdf, images/, manifest.json, evidence.jwt", content_type = "application/zip"),
        (status = 404, body = Problem), (status = 410, body = Problem)))]
pub async fn evidence_zip(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let ex = s
        .engine
        .evidence_export(&p, &path_id(&id, "verification")?, "evidence.zip.read")
        .await?;
    let name = format!("{}-evidence.zip", ex.verification_id());
    let rx = s.engine.stream_evidence_zip(ex).await?;
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(download(axum::body::Body::from_stream(stream), "application/zip", &name))
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "evidence", security(()),
    responses((status = 200, description = "public keys of every tenant's evidence signing keys (current and retired)")))]
pub async fn jwks_all(State(s): State<AppState>) -> ApiResult<Response> {
    jwks_response(s.engine.jwks(None).await?)
}

#[utoipa::path(get, path = "/.well-known/jwks/{tenant_id}", tag = "evidence", security(()), params(("tenant_id" = String, Path, description = "ten_…")),
    responses((status = 200, description = "one tenant's evidence public keys"), (status = 404, body = Problem)))]
pub async fn jwks_tenant(State(s): State<AppState>, Path(tenant): Path<String>) -> ApiResult<Response> {
    let tenant: TenantId = path_id(&tenant, "tenant")?;
    let jwks = s.engine.jwks(Some(&tenant)).await?;
    if jwks["keys"].as_array().is_none_or(|k| k.is_empty()) {
        return Err(ApiError::not_found("signing keys for this tenant"));
    }
    jwks_response(jwks)
}

fn jwks_response(v: serde_json::Value) -> ApiResult<Response> {
    let mut resp = Json(v).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json"));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(resp)
}
