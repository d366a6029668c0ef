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

/// Create an applicant
/// The person being verified. Only the fields you give are stored; every personal field is
/// sealed at rest and erased when the applicant's verifications are anonymized.
#[utoipa::path(post, path = "/v1/applicants", tag = "applicants", request_body = ApplicantInput,
    responses((status = 201, description = "The applicant was created; its `id` (`app_…`) is what verifications refer to.", body = ApplicantView),
        (status = 422, body = Problem)))]
pub async fn create_applicant(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<ApplicantInput>,
) -> ApiResult<(StatusCode, Json<ApplicantView>)> {
    let a = s.engine.create_applicant(&p, body.parse()?).await?;
    Ok((StatusCode::CREATED, Json((&a).into())))
}

/// List applicants
/// This account's applicants, newest first, one page at a time: pass `next_cursor` back as
/// `cursor` for the next page.
#[utoipa::path(get, path = "/v1/applicants", tag = "applicants", params(ListQuery),
    responses((status = 200, description = "One page of applicants, newest first.", body = ApplicantList), (status = 422, body = Problem)))]
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

/// Get an applicant
#[utoipa::path(get, path = "/v1/applicants/{id}", tag = "applicants", params(("id" = String, Path, description = "The applicant's id (`app_…`).")),
    responses((status = 200, description = "The applicant.", body = ApplicantView), (status = 404, body = Problem)))]
pub async fn get_applicant(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<ApplicantView>> {
    let a = s.engine.get_applicant(&p, &path_id(&id, "applicant")?).await?;
    Ok(Json((&a).into()))
}

/// Update an applicant
/// Fields given replace the stored ones; fields left out are kept. An anonymized applicant
/// cannot be changed.
#[utoipa::path(patch, path = "/v1/applicants/{id}", tag = "applicants", params(("id" = String, Path, description = "The applicant's id (`app_…`).")), request_body = ApplicantInput,
    responses((status = 200, description = "The applicant as stored now.", body = ApplicantView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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

/// Create a verification
/// One identity check of one applicant (given by `applicant_id`, or inline as `applicant`)
/// under a policy. Then create an attempt to get the capture link for the
/// person, or upload the captures yourself and submit.
#[utoipa::path(post, path = "/v1/verifications", tag = "verifications", request_body = CreateVerificationRequest,
    responses((status = 201, description = "The verification was created.", body = VerificationView),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_verification(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<CreateVerificationRequest>,
) -> ApiResult<(StatusCode, Json<VerificationView>)> {
    let v = s.engine.create_verification(&p, body.parse()?).await?;
    Ok((StatusCode::CREATED, Json((&v).into())))
}

/// List verifications
/// This account's verifications, newest first, one page at a time, optionally only those in
/// one status.
#[utoipa::path(get, path = "/v1/verifications", tag = "verifications", params(ListQuery),
    responses((status = 200, description = "One page of verifications, newest first.", body = VerificationList), (status = 422, body = Problem)))]
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

/// Get a verification
/// Its status, decision, checks and what was read from the document.
#[utoipa::path(get, path = "/v1/verifications/{id}", tag = "verifications", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 200, description = "The verification.", body = VerificationView), (status = 404, body = Problem)))]
pub async fn get_verification(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<VerificationView>> {
    let v = s.engine.get_verification(&p, &path_id(&id, "verification")?).await?;
    Ok(Json((&v).into()))
}

/// Cancel a verification
/// Stops a verification that is not decided yet; its capture links stop working.
#[utoipa::path(post, path = "/v1/verifications/{id}/cancel", tag = "verifications", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 200, description = "The verification, now `cancelled`.", body = VerificationView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_verification(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<VerificationView>> {
    let v = s.engine.cancel_verification(&p, &path_id(&id, "verification")?).await?;
    Ok(Json((&v).into()))
}

/// Start a capture attempt
/// A new capture link (`url`) for the person: open it on a phone or send it. The link holds a
/// single-use start token that is shown only in this response. The body is optional.
#[utoipa::path(post, path = "/v1/verifications/{id}/attempts", tag = "attempts", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    request_body(content = Option<CreateAttemptRequest>, description = "Optional: the capture page's language and preselected country."),
    responses((status = 201, description = "The attempt, with its capture `url` (shown once).", body = AttemptView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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

/// List a verification's attempts
/// Oldest first; the capture links are not shown again.
#[utoipa::path(get, path = "/v1/verifications/{id}/attempts", tag = "attempts", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 200, description = "Every attempt of the verification, oldest first.", body = AttemptList), (status = 404, body = Problem)))]
pub async fn list_attempts(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<AttemptList>> {
    let list = s.engine.list_attempts(&p, &path_id(&id, "verification")?).await?;
    Ok(Json(AttemptList {
        data: list.iter().map(|a| AttemptView::new(a, None)).collect(),
    }))
}

/// Get an attempt
#[utoipa::path(get, path = "/v1/verifications/{id}/attempts/{attempt_id}", tag = "attempts",
    params(("id" = String, Path, description = "The verification's id (`ver_…`)."), ("attempt_id" = String, Path, description = "The attempt's id (`att_…`).")),
    responses((status = 200, description = "The attempt (without its capture link).", body = AttemptView), (status = 404, body = Problem)))]
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

/// Ask for a liveness challenge
/// The head-turn challenge for the person in front of the camera: two steps from `left`,
/// `right`, `up`, `down` in a random order, chosen by the server, with a deadline (60 s).
/// Show the steps to the person, record frames while they turn, then upload them as one
/// capture: `POST /v1/verifications/{id}/captures?kind=liveness_burst&challenge_id=…`. A
/// challenge works once and only for this verification; ask for a new one for each try.
#[utoipa::path(post, path = "/v1/verifications/{id}/liveness_challenge", tag = "captures",
    params(("id" = String, Path, description = "The verification's id (`idv_…`).")),
    responses((status = 201, description = "The challenge: its id, steps and deadline.", body = LivenessChallengeView),
        (status = 404, body = Problem), (status = 409, description = "The verification takes no more captures.", body = Problem)))]
pub async fn create_liveness_challenge(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<LivenessChallengeView>)> {
    let c = s.engine.issue_liveness_challenge(&p, &path_id(&id, "verification")?).await?;
    Ok((StatusCode::CREATED, Json((&c).into())))
}

/// Upload a capture
/// One image of the document's front or back, or a selfie, as the raw body (with its image
/// content type) or as the multipart/form-data field `file`. JPEG, PNG, WebP and HEIC are
/// taken; a HEIC photo is stored converted to JPEG. The image's quality is judged at once:
/// `feedback` says whether it is usable and what to fix.
///
/// `kind=liveness_burst` takes the frames of a liveness challenge instead: 10 to 40 JPEG
/// frames, unmirrored, at least 640×480, each a multipart part named `file` in capture
/// order, with the query parameter `challenge_id`. An unknown challenge answers 404, a used
/// one 409, an expired one 410; nothing is kept then, and the challenge stays unused.
#[utoipa::path(post, path = "/v1/verifications/{id}/captures", tag = "captures",
    params(("id" = String, Path, description = "The verification's id (`ver_…`)."), KindQuery),
    request_body(description = "The image: its bytes as the body, or the multipart field `file`; a liveness burst's frames as multipart fields `file`.",
        content((inline(ImageBytes) = "image/jpeg"), (inline(ImageBytes) = "image/png"), (inline(ImageBytes) = "image/webp"),
            (inline(ImageBytes) = "image/heic"), (inline(UploadForm) = "multipart/form-data"))),
    responses((status = 201, description = "The capture was stored; `feedback` says whether it is usable.", body = CaptureView),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 410, description = "The liveness challenge expired: ask for a new one.", body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
        (status = 503, description = "The server is receiving as many upload bytes as it takes at once: retry after `Retry-After`.", body = Problem)))]
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
        .ok_or_else(|| ApiError::invalid("the query parameter kind is required: document_front, document_back, selfie or liveness_burst"))?
        .parse()
        .map_err(ApiError::invalid)?;
    let challenge = match (kind, q.challenge_id.as_deref()) {
        (CaptureKind::LivenessBurst, Some(c)) => Some(path_id::<LivenessChallengeId>(c, "liveness challenge")?),
        (CaptureKind::LivenessBurst, None) => {
            return Err(ApiError::invalid(
                "kind=liveness_burst needs the query parameter challenge_id: ask for a challenge with POST /v1/verifications/{id}/liveness_challenge",
            ));
        }
        (_, Some(_)) => return Err(ApiError::invalid("challenge_id goes with kind=liveness_burst only")),
        (_, None) => None,
    };
    // Authenticated (the extractor above): reserve the body's size, then read it.
    let limit = s.engine.config().max_upload_bytes + 64 * 1024;
    let _reserved = s
        .engine
        .reserve_upload(crate::multipart::declared_length(req.headers()), limit)
        .await?;
    let c = match challenge {
        Some(challenge) => {
            let frames = read_frames(&s, req).await?;
            s.engine.add_liveness_burst(&p, &id, &challenge, frames).await?
        }
        None => s.engine.add_capture(&p, &id, kind, read_upload(&s, req).await?).await?,
    };
    Ok((StatusCode::CREATED, Json((&c).into())))
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"))
}

/// A liveness burst's frames: the multipart parts named `file`, in order.
async fn read_frames(s: &AppState, req: Request) -> ApiResult<Vec<Vec<u8>>> {
    let limit = s.engine.config().max_upload_bytes;
    if !is_multipart(&req) {
        return Err(ApiError::invalid(
            "a liveness burst is sent as multipart/form-data, one part named file per frame, in capture order",
        ));
    }
    let mut mp = Multipart::from_request(req, s)
        .await
        .map_err(|e| ApiError::invalid(format!("bad multipart body: {}", e.body_text())))?;
    // One part more than a burst may have is enough to refuse the count.
    crate::multipart::file_parts(&mut mp, limit, kycd_engine::liveness::MAX_FRAMES + 1)
        .await
        .map_err(|r| match r {
            crate::multipart::UploadRefusal::TooLarge => too_large(limit),
            crate::multipart::UploadRefusal::Invalid(m) => ApiError::invalid(m),
        })
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
    if is_multipart(&req) {
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

/// List a verification's captures
#[utoipa::path(get, path = "/v1/verifications/{id}/captures", tag = "captures", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 200, description = "Every capture of the verification, oldest first.", body = CaptureList), (status = 404, body = Problem)))]
pub async fn list_captures(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<CaptureList>> {
    let list = s.engine.list_captures(&p, &path_id(&id, "verification")?).await?;
    Ok(Json(CaptureList {
        data: list.iter().map(Into::into).collect(),
    }))
}

/// Download a capture's image
/// The stored bytes, with their media type and an `ETag` (their SHA-256).
#[utoipa::path(get, path = "/v1/files/{id}", tag = "captures", params(("id" = String, Path, description = "The capture's file id (`file_…`).")),
    responses((status = 200, description = "The image's bytes, in its stored media type.",
            content((inline(ImageBytes) = "image/jpeg"), (inline(ImageBytes) = "image/png"), (inline(ImageBytes) = "image/webp"),
                (inline(FileBytes) = "application/vnd.kycd.liveness-burst"))),
        (status = 404, body = Problem), (status = 410, body = Problem)))]
pub async fn get_file(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let (c, stream) = s.engine.read_file(&p, &path_id(&id, "file")?).await?;
    Ok(streamed_capture(&c, stream))
}

/// A capture as a download whose body is decrypted chunk by chunk as it is sent (a
/// download holds one chunk in memory, not the file), with its `Content-Length` and an
/// `ETag` (its SHA-256). A chunk that fails to open after the headers went out aborts the
/// connection: with `Content-Length` set, the client sees a cut body, never a shorter file
/// that looks complete.
pub(crate) fn streamed_capture(c: &Capture, stream: kycd_engine::BlobStream) -> Response {
    let mut resp = capture_download(c, capture_body(c, stream));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", c.sha256)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// The body of a streamed capture download, with its `Content-Length` (see
/// [`streamed_capture`]); for answers that set their own headers.
pub(crate) fn capture_body(c: &Capture, stream: kycd_engine::BlobStream) -> impl IntoResponse + use<> {
    let file_id = c.id.clone();
    let body = axum::body::Body::from_stream(futures::TryStreamExt::map_err(stream, move |e| {
        tracing::error!(file = %file_id, error = %e, "a capture download failed after its headers were sent; the connection is aborted: the stored blob is damaged or was altered; restore it from a backup");
        std::io::Error::other("the capture could not be decrypted")
    }));
    let mut resp = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&c.size.to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    resp
}

/// A capture's original bytes as a download (its media type, `<file id>.<ext>`): the
/// native API and the dialects that stream images answer the same way.
pub(crate) fn capture_download(c: &Capture, bytes: impl IntoResponse) -> Response {
    let ext = match c.media_type {
        MediaType::Jpeg => "jpg",
        MediaType::Png => "png",
        MediaType::Webp => "webp",
        MediaType::LivenessBurst => "burst",
    };
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(c.media_type.as_str()));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.{ext}\"", c.id)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// Submit a verification for processing
/// Once the captures the policy needs are uploaded: the checks run in the background and the
/// decision follows (poll the verification or subscribe to webhooks).
#[utoipa::path(post, path = "/v1/verifications/{id}/submit", tag = "verifications", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 202, description = "Accepted: the verification is `processing`.", body = VerificationView),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn submit(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<VerificationView>)> {
    let v = s.engine.submit(&p, &path_id(&id, "verification")?).await?;
    Ok((StatusCode::ACCEPTED, Json((&v).into())))
}

/// Decide a verification in review
/// A person's decision (reviewer or admin keys) on a verification the checks left in
/// `review_required`, with the reason.
#[utoipa::path(post, path = "/v1/verifications/{id}/review", tag = "verifications", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    request_body = ReviewRequest,
    responses((status = 200, description = "The verification with its decision.", body = VerificationView),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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

/// Get a verification's report
/// Everything about one verification: applicant, attempts, captures, checks, decision and
/// the timeline of what happened to it.
#[utoipa::path(get, path = "/v1/verifications/{id}/report", tag = "verifications", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 200, description = "The report.", body = ReportView), (status = 404, body = Problem)))]
pub async fn report(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<ReportView>> {
    let r = s.engine.report(&p, &path_id(&id, "verification")?).await?;
    Ok(Json((&r).into()))
}

/// Anonymize a verification
/// Erases its personal data and images now (not only when retention runs out); the
/// tombstone with the decision stays.
#[utoipa::path(post, path = "/v1/verifications/{id}/anonymize", tag = "verifications", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 200, description = "The verification, anonymized.", body = VerificationView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn anonymize(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Json<VerificationView>> {
    let v = s.engine.anonymize(&p, &path_id(&id, "verification")?).await?;
    Ok(Json((&v).into()))
}

/// Delete a verification
/// Removes it with its personal data and images; the audit log keeps that it was deleted.
#[utoipa::path(delete, path = "/v1/verifications/{id}", tag = "verifications", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 204, description = "Deleted."), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_verification(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    s.engine.delete(&p, &path_id(&id, "verification")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Redeem a capture start token
/// For a capture front end of your own: exchanges the single-use `token` of a capture link
/// for the attempt it opens. No API key: the token is the credential.
#[utoipa::path(post, path = "/v1/capture-sessions", tag = "capture", security(()), request_body = CaptureSessionRequest,
    responses((status = 200, description = "The attempt and verification the token opens.", body = CaptureSessionView),
        (status = 404, body = Problem), (status = 410, body = Problem), (status = 422, body = Problem)))]
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

/// Download the report as PDF
#[utoipa::path(get, path = "/v1/verifications/{id}/report.pdf", tag = "evidence", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 200, description = "The report as an A4 PDF.", content((inline(FileBytes) = "application/pdf"))),
        (status = 404, body = Problem), (status = 410, body = Problem)))]
pub async fn report_pdf(State(s): State<AppState>, Auth(p): Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let ex = s
        .engine
        .evidence_export(&p, &path_id(&id, "verification")?, "evidence.pdf.read")
        .await?;
    let pdf = s.engine.render_pdf(&ex).await?;
    Ok(download(pdf, "application/pdf", &format!("{}-report.pdf", ex.verification_id())))
}

/// Get the signed evidence token
/// The verification's outcome and the SHA-256 of its files, signed by the tenant's evidence
/// key (check it with the keys at `/.well-known/jwks/{tenant_id}`).
#[utoipa::path(get, path = "/v1/verifications/{id}/evidence.jwt", tag = "evidence", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 200, description = "A compact JWS (ES256, `typ` `kycd-evidence+jwt`).", content((inline(String) = "application/jwt"))),
        (status = 404, body = Problem), (status = 410, body = Problem)))]
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

/// Download the evidence archive
/// A streamed ZIP: `report.json`, `report.pdf`, `images/`, `manifest.json` and `evidence.jwt`;
/// check it offline with `kycd evidence verify`.
#[utoipa::path(get, path = "/v1/verifications/{id}/evidence.zip", tag = "evidence", params(("id" = String, Path, description = "The verification's id (`ver_…`).")),
    responses((status = 200, description = "The ZIP archive.", content((inline(FileBytes) = "application/zip"))),
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

/// Every tenant's evidence keys
/// The public keys (JWK Set) that sign evidence tokens, current and retired. No API key.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "evidence", security(()),
    responses((status = 200, description = "A JWK Set.", content((JwkSet = "application/jwk-set+json")))))]
pub async fn jwks_all(State(s): State<AppState>) -> ApiResult<Response> {
    jwks_response(s.engine.jwks(None).await?)
}

/// One tenant's evidence keys
/// The public keys (JWK Set) that sign one tenant's evidence tokens. No API key.
#[utoipa::path(get, path = "/.well-known/jwks/{tenant_id}", tag = "evidence", security(()), params(("tenant_id" = String, Path, description = "The tenant's id (`ten_…`).")),
    responses((status = 200, description = "A JWK Set.", content((JwkSet = "application/jwk-set+json"))), (status = 404, body = Problem)))]
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
