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

/// A request's declared body length (`Content-Length`), if it has one: what an upload
/// reserves of the process's upload budget before its body is read.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

pub async fn capture_form(mp: Result<Multipart, MultipartRejection>) -> CaptureForm {
    let mut form = CaptureForm {
        malformed: mp.is_err(),
        ..CaptureForm::default()
    };
    let Ok(mut mp) = mp else { return form };
    loop {
        let err = match mp.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                match field.bytes().await {
                    Ok(b) if name == "csrf" => {
                        form.csrf = Some(String::from_utf8_lossy(&b).into_owned());
                        continue;
                    }
                    Ok(b) if name == "file" => {
                        form.file = Some(b.to_vec());
                        continue;
                    }
                    Ok(_) => continue,
                    Err(e) => e,
                }
            }
            Ok(None) => break,
            Err(e) => e,
        };
        form.too_large = err.status() == StatusCode::PAYLOAD_TOO_LARGE;
        form.malformed = true;
        break;
    }
    form
}
