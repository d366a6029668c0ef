#![no_main]
//! Multipart uploads as kycd reads them (axum's `Multipart`, i.e. multer): the API's
//! `POST /v1/verifications/{id}/captures` and the capture page's upload form.
//!
//! First byte even: the rest is `<Content-Type value>\n<body>`, arbitrary. Properties: no
//! panic; an accepted upload is within the limit.
//! First byte odd: the rest is a file's bytes, sent in a well-formed body beside a `csrf`
//! part. Properties: the upload returns exactly those bytes (or 413 over the limit), and
//! the capture form reads the same file and token.

use kycd_fuzz::{MULTIPART_LIMIT, multipart_body};
use kycd_http::fuzzing::{MultipartRefusal, multipart_capture_form, multipart_upload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let (ct, body) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        if let Ok(file) = multipart_upload(ct, body.to_vec(), MULTIPART_LIMIT) {
            assert!(file.len() <= MULTIPART_LIMIT);
        }
        let _ = multipart_capture_form(ct, body.to_vec());
        return;
    }
    let boundary = ["kycd-fuzz-boundary", "kycd-fuzz-other", "x"]
        .into_iter()
        .find(|b| !rest.windows(b.len() + 2).any(|w| w[..2] == *b"--" && &w[2..] == b.as_bytes()));
    let Some(boundary) = boundary else { return };
    let ct = format!("multipart/form-data; boundary={boundary}");
    let body = multipart_body(
        boundary,
        &[
            ("other", None, b"ignored"),
            ("csrf", None, b"token-1"),
            ("file", Some("capture.jpg"), rest),
        ],
    );
    match multipart_upload(ct.as_bytes(), body.clone(), MULTIPART_LIMIT) {
        Ok(file) => assert_eq!(file, rest, "the upload must hand over the part's bytes unchanged"),
        Err(MultipartRefusal::TooLarge) => assert!(rest.len() > MULTIPART_LIMIT),
        Err(e) => panic!("a well-formed upload of {} bytes was refused: {e:?}", rest.len()),
    }
    let form = multipart_capture_form(ct.as_bytes(), body);
    assert!(!form.malformed && !form.too_large, "{form:?}");
    assert_eq!(form.csrf.as_deref(), Some("token-1"));
    assert_eq!(form.file.as_deref(), Some(rest));
});
