//! Reading multipart uploads: the one place the API's upload and the capture page's form
//! walk a `multipart/form-data` body (axum's `Multipart`, i.e. multer), so the fuzz target
//! (`fuzzing::multipart_*`) exercises exactly the code that serves requests.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::StatusCode;

/// Why a multipart upload was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadRefusal {
    /// 413: a part (or the body) is over the limit.
    TooLarge,
    /// 400: a malformed body (multer's words), or no `file` part.
    Invalid(String),
}

fn refusal(e: &axum::extract::multipart::MultipartError) -> UploadRefusal {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        UploadRefusal::TooLarge
    } else {
        UploadRefusal::Invalid(format!("bad multipart body: {}", e.body_text()))
    }
}

/// The first part named `file`, read chunk by chunk and refused once over `limit` bytes
/// (the native upload, `POST /v1/verifications/{id}/captures`).
pub async fn file_part(mp: &mut Multipart, limit: usize) -> Result<Vec<u8>, UploadRefusal> {
    while let Some(mut field) = mp.next_field().await.map_err(|e| refusal(&e))? {
        if field.name() != Some("file") {
            continue;
        }
        let mut out = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| refusal(&e))? {
            if out.len() + chunk.len() > limit {
                return Err(UploadRefusal::TooLarge);
            }
            out.extend_from_slice(&chunk);
        }
        return Ok(out);
    }
    Err(UploadRefusal::Invalid("the multipart body has no field named 'file'".into()))
}

/// Every part named `file`, in order (a liveness burst's frames), at most `max_parts` of
/// them (reading stops there: the caller refuses the count), all together refused once
/// over `limit` bytes.
pub async fn file_parts(mp: &mut Multipart, limit: usize, max_parts: usize) -> Result<Vec<Vec<u8>>, UploadRefusal> {
    let mut parts = Vec::new();
    let mut total = 0usize;
    while parts.len() < max_parts
        && let Some(mut field) = mp.next_field().await.map_err(|e| refusal(&e))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let mut out = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| refusal(&e))? {
            total += chunk.len();
            if total > limit {
                return Err(UploadRefusal::TooLarge);
            }
            out.extend_from_slice(&chunk);
        }
        parts.push(out);
    }
    if parts.is_empty() {
        return Err(UploadRefusal::Invalid(
            "the multipart body has no field named 'file': send each frame as a part named file".into(),
        ));
    }
    Ok(parts)
}

/// What the capture page's upload form carries: its `csrf` and `file` parts (the last of
/// each; the token may come before or after the file), and whether the body was malformed
/// or too large (the route's body limit).
#[derive(Debug, Default)]
pub struct CaptureForm {
    pub csrf: Option<String>,
    pub file: Option<Vec<u8>>,
    pub too_large: bool,
    pub malformed: bool,
}

/// What the capture page's liveness step posts: its `csrf` and `challenge_id` parts and
/// the frames (parts `file`, in order, at most `max_files`), and whether the body was
/// malformed or too large (the route's body limit).
#[derive(Debug, Default)]
pub struct BurstForm {
    pub csrf: Option<String>,
    pub challenge_id: Option<String>,
    pub files: Vec<Vec<u8>>,
    pub too_large: bool,
    pub malformed: bool,
}

pub async fn burst_form(mp: Result<Multipart, MultipartRejection>, max_files: usize) -> BurstForm {
    let mut form = BurstForm::default();
    (form.malformed, form.too_large) = walk(mp, |name, b| match name {
        "csrf" => form.csrf = Some(String::from_utf8_lossy(&b).into_owned()),
        "challenge_id" => form.challenge_id = Some(String::from_utf8_lossy(&b).into_owned()),
        "file" if form.files.len() < max_files => form.files.push(b.to_vec()),
        _ => {}
    })
    .await;
    form
}

/// A request's declared body length (`Content-Length`), if it has one: what an upload
/// reserves of the process's upload budget before its body is read.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

pub async fn capture_form(mp: Result<Multipart, MultipartRejection>) -> CaptureForm {
    let mut form = CaptureForm::default();
    (form.malformed, form.too_large) = walk(mp, |name, b| match name {
        "csrf" => form.csrf = Some(String::from_utf8_lossy(&b).into_owned()),
        "file" => form.file = Some(b.to_vec()),
        _ => {}
    })
    .await;
    form
}

/// Read every part of a form, handing each (name, bytes) to `take`; returns (malformed,
/// too large): a broken body stops the walk there.
async fn walk(mp: Result<Multipart, MultipartRejection>, mut take: impl FnMut(&str, axum::body::Bytes)) -> (bool, bool) {
    let Ok(mut mp) = mp else { return (true, false) };
    loop {
        let err = match mp.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                match field.bytes().await {
                    Ok(b) => {
                        take(&name, b);
                        continue;
                    }
                    Err(e) => e,
                }
            }
            Ok(None) => return (false, false),
            Err(e) => e,
        };
        return (true, err.status() == StatusCode::PAYLOAD_TOO_LARGE);
    }
}
