//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz); hidden from the docs and not
//! part of kycd's API. Each function hands untrusted bytes to the same parsing code the
//! handlers call and reports only whether (and what) it accepted: no behaviour of its own.

use crate::dialect::{boldsign, checkout, oauth, skribble, transmit};
use crate::{dto, extract, lifecycle_api, webhooks_api};
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, HeaderValue, header};

/// A request body parser: `Some(summary)` when it accepts the body, `None` when it refuses
/// it. The summary is the parsed value's `Debug` where the type has one, else `"ok"`.
pub type BodyParser = fn(&[u8]) -> Option<String>;

fn ok<T>(_: T) -> String {
    "ok".to_owned()
}

fn native<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    // `ApiJson` is axum's `Json` extractor; this is its body step.
    axum::Json::<T>::from_bytes(body).ok().map(|axum::Json(v)| v)
}

/// A Checkout request body: a JSON object, then read by `parse`.
fn checkout_body<T, E>(body: &[u8], parse: impl FnOnce(&serde_json::Map<String, serde_json::Value>) -> Result<T, E>) -> Option<T> {
    let o = checkout::wire::json_object(body).ok()?;
    parse(&o).ok()
}

/// Every JSON (or form) request body parser of the native API and the vendor dialects, by
/// the route that reads it.
pub const BODY_PARSERS: &[(&str, BodyParser)] = &[
    ("transmit POST /verify/api/v1/verification", |b| {
        transmit::wire::json_body::<transmit::wire::CreateSessionRequest>(b)
            .and_then(transmit::wire::CreateSessionRequest::parse)
            .ok()
            .map(|(_, mock, start)| format!("{mock:?} {start:?}"))
    }),
    ("transmit POST /verify/api/v1/verification/{sid}/images (ImageDto)", |b| {
        transmit::wire::json_body::<transmit::wire::AddImageRequest>(b)
            .and_then(transmit::wire::AddImageRequest::parse)
            .ok()
            .map(|v| format!("{v:?}"))
    }),
    ("skribble POST /access/login (JSON)", |b| {
        skribble::wire::login("application/json", b).ok().map(|l| format!("{l:?}"))
    }),
    ("skribble POST /access/login (form)", |b| {
        skribble::wire::login("application/x-www-form-urlencoded", b)
            .ok()
            .map(|l| format!("{l:?}"))
    }),
    ("skribble POST /signature-requests", |b| {
        // Personal fields redact in `Debug`: the summary names them, so a difference shows.
        skribble::wire::signature_request(b).ok().map(|r| {
            let signers: Vec<String> = r
                .signers
                .iter()
                .map(|s| {
                    let t = |p: &Option<kycd_core::PersonalText>| p.as_ref().map(|p| p.expose().to_owned());
                    format!(
                        "{} {:?} {:?} {:?} {:?} {}",
                        s.email.expose(),
                        t(&s.first_name),
                        t(&s.last_name),
                        s.language,
                        s.sequence,
                        s.notify
                    )
                })
                .collect();
            format!(
                "{} {:?} {:?} {:?} {:?} {signers:?}",
                r.title, r.message, r.legislation, r.quality, r.callbacks
            )
        })
    }),
    ("checkout POST /applicants", |b| {
        checkout_body(b, |o| checkout::wire::applicant(o, true)).map(ok)
    }),
    ("checkout PATCH /applicants/{id}", |b| {
        checkout_body(b, |o| checkout::wire::applicant(o, false)).map(ok)
    }),
    ("checkout POST /identity-verifications", |b| {
        checkout_body(b, checkout::wire::create_verification).map(ok)
    }),
    ("checkout POST /create-and-open-idv", |b| {
        checkout_body(b, checkout::wire::create_and_open).map(ok)
    }),
    ("checkout POST /identity-verifications/{id}/attempts", |b| {
        checkout_body(b, checkout::wire::create_attempt).map(|v| format!("{v:?}"))
    }),
    (
        "boldsign POST /v1/identityVerification/{report,image,createEmbeddedVerificationUrl}",
        |b| {
            let o = boldsign::wire::json_object(b).ok()?;
            let q = boldsign::wire::signer_query("doc".to_owned(), &o).ok()?;
            let file = boldsign::wire::file_id(&o).ok().map(|f| f.to_string());
            let redirect = boldsign::wire::redirect_url(&o).ok();
            Some(format!("{q:?} {file:?} {redirect:?}"))
        },
    ),
    ("transmit /oidc/token, checkout /connect/token (JSON)", |b| {
        token_request("application/json", b)
    }),
    ("transmit /oidc/token, checkout /connect/token (form)", |b| {
        token_request("application/x-www-form-urlencoded", b)
    }),
    ("native POST /v1/applicants", |b| {
        native::<dto::ApplicantInput>(b)?.parse().ok().map(ok)
    }),
    ("native POST /v1/verifications", |b| {
        native::<dto::CreateVerificationRequest>(b)?.parse().ok().map(ok)
    }),
    ("native POST /v1/verifications/{id}/attempts", |b| {
        extract::optional_json::<dto::CreateAttemptRequest>(b)
            .ok()?
            .parse()
            .ok()
            .map(|v| format!("{v:?}"))
    }),
    ("native POST /v1/verifications/{id}/review", |b| {
        native::<dto::ReviewRequest>(b).map(|v| format!("{v:?}"))
    }),
    ("native POST /v1/capture-sessions", |b| {
        native::<dto::CaptureSessionRequest>(b).map(ok)
    }),
    ("native POST /v1/webhook_endpoints", |b| {
        native::<webhooks_api::CreateEndpointRequest>(b).map(|v| format!("{v:?}"))
    }),
    ("native PATCH /v1/webhook_endpoints/{id}", |b| {
        native::<webhooks_api::UpdateEndpointRequest>(b).map(|v| format!("{v:?}"))
    }),
    ("native POST /v1/webhook_endpoints/{id}/rotate_secret", |b| {
        extract::optional_json::<webhooks_api::RotateSecretRequest>(b)
            .ok()
            .map(|v| format!("{v:?}"))
    }),
    ("native PUT /v1/verifications/{id}/legal_hold", |b| {
        native::<lifecycle_api::LegalHoldRequest>(b).map(|v| format!("{v:?}"))
    }),
    ("native PUT /v1/settings/retention", |b| {
        native::<kycd_core::RetentionSettings>(b).map(|v| format!("{v:?}"))
    }),
];

fn token_request(content_type: &'static str, body: &[u8]) -> Option<String> {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    oauth::parse_token_request(&headers, body)
        .ok()
        .map(|t| format!("{} {}", t.client_id, t.client_secret))
}

/// A parser of untrusted text: what it accepted, in a printable form.
pub type TextParser = fn(&str) -> Option<String>;

/// Query-string parsers of the dialects (the part of the URL after `?`).
pub const QUERY_PARSERS: &[(&str, TextParser)] = &[
    ("boldsign documentId", |q| boldsign::wire::document_id(Some(q)).ok()),
    ("checkout paging", |q| {
        checkout::wire::page_query(Some(q)).ok().map(|v| format!("{v:?}"))
    }),
];

pub use crate::multipart::{CaptureForm, UploadRefusal as MultipartRefusal};

fn multipart_request(content_type: &[u8], body: Vec<u8>) -> Option<Request> {
    Request::builder()
        .method("POST")
        .header(header::CONTENT_TYPE, HeaderValue::from_bytes(content_type).ok()?)
        .body(Body::from(body))
        .ok()
}

/// The multipart branch of `POST /v1/verifications/{id}/captures` (`api::read_upload`):
/// the same `multipart::file_part` the handler runs.
pub fn multipart_upload(content_type: &[u8], body: Vec<u8>, limit: usize) -> Result<Vec<u8>, MultipartRefusal> {
    let req = multipart_request(content_type, body).ok_or(MultipartRefusal::Invalid("bad content type".into()))?;
    futures::executor::block_on(async move {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|_| MultipartRefusal::Invalid("not multipart".into()))?;
        crate::multipart::file_part(&mut mp, limit).await
    })
}

/// What the capture page's upload form (`capture::step_post`) reads: the same
/// `multipart::capture_form` the handler runs.
pub fn multipart_capture_form(content_type: &[u8], body: Vec<u8>) -> CaptureForm {
    let Some(req) = multipart_request(content_type, body) else {
        return CaptureForm {
            malformed: true,
            ..CaptureForm::default()
        };
    };
    futures::executor::block_on(async { crate::multipart::capture_form(Multipart::from_request(req, &()).await).await })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in `dialect_json` seeds, replayed through the target's properties, and
    /// each new dialect body accepted by the parser it was written for.
    #[test]
    fn the_dialect_json_seeds_parse_as_the_fuzz_target_expects() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dialect_json");
        let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
            })
            .collect();
        seeds.sort();
        let accepted_by = |parser: &str, seed: &str| {
            let (_, parse) = BODY_PARSERS.iter().find(|(n, _)| n.starts_with(parser)).unwrap();
            let (_, body) = seeds.iter().find(|(n, _)| n == seed).unwrap();
            parse(body).is_some()
        };
        for (name, body) in &seeds {
            let compact = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .map(|v| serde_json::to_vec(&v).unwrap());
            for (parser, parse) in BODY_PARSERS {
                let first = parse(body);
                assert_eq!(first, parse(body), "{name} {parser}");
                if let (Some(_), Some(c)) = (&first, &compact)
                    && !parser.ends_with("(form)")
                {
                    assert_eq!(first, parse(c), "{name} {parser}: compact");
                }
            }
        }
        assert!(accepted_by("transmit POST /verify/api/v1/verification", "seed-00"));
        assert!(accepted_by("transmit POST /verify/api/v1/verification/{sid}/images", "seed-01"));
        assert!(accepted_by("transmit POST /verify/api/v1/verification/{sid}/images", "seed-02"));
        assert!(accepted_by("skribble POST /access/login (JSON)", "seed-18"));
        assert!(accepted_by("skribble POST /access/login (form)", "seed-login-form"));
        assert!(accepted_by("skribble POST /signature-requests", "seed-19"));
    }
}
