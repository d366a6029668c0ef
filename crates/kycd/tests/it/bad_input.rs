//! Bad input: every refusal is problem+json with the right status, type and a detail.

use crate::flow::{create_attempt, create_verification, data, new_verification, verification_body};
use crate::harness::{Server, document_jpeg, png_claiming};
use serde_json::json;

#[test]
fn the_bomb_fixture_claims_20000_by_20000() {
    let bytes = png_claiming(20_000, 20_000);
    assert!(bytes.len() < 200, "the fixture is tiny: {} bytes", bytes.len());
    let dims = image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Png)
        .into_dimensions()
        .expect("header parses");
    assert_eq!(dims, (20_000, 20_000));
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing() {
    let s = Server::start().await;
    // Each request on its own connection: keep-alive after a refusal is tested apart
    // (early_refusals_keep_the_connection_usable).
    let api = s.client_unpooled(&s.admin_key);
    let (_, vid) = new_verification(&api, "Upload Tester", "uploads@example.org").await;
    create_attempt(&api, &vid).await;
    let path = format!("/v1/verifications/{vid}/captures?kind=document_front");

    api.post_raw(&path, "image/jpeg", Vec::new()).await.problem(422, "invalid-request");

    // Each refused as a raw body and as a multipart form alike.
    let text = b"This is a plain text file that somebody renamed to passport.jpg.\n".repeat(20);
    let bomb = png_claiming(20_000, 20_000);
    for (bytes, mime, file_name, status, code) in [
        (text, "image/jpeg", "passport.jpg", 415, "unsupported-media-type"),
        (bomb, "image/png", "bomb.png", 422, "unprocessable-image"),
    ] {
        api.post_raw(&path, mime, bytes.clone()).await.problem(status, code);
        api.post_multipart(&path, "file", file_name, mime, bytes)
            .await
            .problem(status, code);
    }

    let jpeg = document_jpeg(41);
    let truncated = jpeg[..jpeg.len() / 2].to_vec();
    api.post_raw(&path, "image/jpeg", truncated)
        .await
        .problem(422, "unprocessable-image");

    // The kind must be one the API knows.
    api.post_raw(
        &format!("/v1/verifications/{vid}/captures?kind=passport_photo"),
        "image/jpeg",
        jpeg.clone(),
    )
    .await
    .problem(422, "invalid-request");

    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    assert!(caps.is_empty(), "no refused upload was kept: {caps:?}");

    // Bytes are sniffed: a PNG declared as JPEG is stored as what it is.
    let png = crate::harness::png(700, 500, 42);
    let c = api.post_raw(&path, "image/jpeg", png).await.ok();
    assert_eq!(c["media_type"], "image/png", "media type comes from the bytes: {c}");
}

#[tokio::test]
async fn oversized_upload_is_413() {
    let s = Server::start().await;
    let api = s.admin();
    let (_, vid) = new_verification(&api, "Big Upload", "big@example.org").await;
    let path = format!("/v1/verifications/{vid}/captures?kind=document_front");
    let prefix = document_jpeg(43);
    let res = api.post_huge_raw(&path, "image/jpeg", &prefix, 200 * 1024 * 1024).await;
    let (status, content_type, body) = res.unwrap_or_else(|e| panic!("a 200 MB upload got no HTTP answer at all ({e}); expected 413"));
    crate::harness::assert_problem("200 MB upload", status, &content_type, &body, 413, "payload-too-large");
    // The server is still fine and kept nothing.
    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    assert!(caps.is_empty(), "{caps:?}");
}

#[tokio::test]
async fn bad_json_is_refused() {
    let s = Server::start().await;
    let api = s.admin();

    let p = api
        .post("/v1/verifications", &json!({"applicant": {"full_name": "A B"}, "colour": "blue"}))
        .await
        .problem(422, "invalid-request");
    assert!(
        p["detail"].as_str().unwrap().contains("colour"),
        "detail names the unknown field: {p}"
    );
    api.post("/v1/verifications", &json!({"applicant": {"full_name": "A B", "nick": "x"}}))
        .await
        .problem(422, "invalid-request");
    api.post(
        "/v1/verifications",
        &json!({"applicant": {"full_name": "A B"}, "policy": {"selfie": true}}),
    )
    .await
    .problem(422, "invalid-request");

    api.post_raw("/v1/verifications", "application/json", br#"{"applicant": {"full_name": "#.to_vec())
        .await
        .problem(400, "invalid-json");
    api.post_raw("/v1/applicants", "application/json", b"not json at all".to_vec())
        .await
        .problem(400, "invalid-json");

    let p = api
        .post("/v1/verifications", &json!({"applicant": {"email": "not-an-email"}}))
        .await
        .problem(422, "invalid-request");
    assert!(p["detail"].as_str().unwrap().contains("email"), "detail mentions email: {p}");
    let p = api
        .post("/v1/applicants", &json!({"email": "two@@example.org"}))
        .await
        .problem(422, "invalid-request");
    assert!(p["detail"].as_str().unwrap().contains("email"), "detail mentions email: {p}");

    let p = api
        .post("/v1/applicants", &json!({"phone_country_code": "+44", "phone_number": "12ab"}))
        .await
        .problem(422, "invalid-request");
    assert!(p["detail"].as_str().unwrap().contains("phone"), "detail mentions the phone: {p}");
    api.post(
        "/v1/applicants",
        &json!({"phone_country_code": "44444", "phone_number": "7700900123"}),
    )
    .await
    .problem(422, "invalid-request");
    api.post("/v1/applicants", &json!({"birth_date": "10/12/1815"}))
        .await
        .problem(422, "invalid-request");

    for ttl in [10, 7_776_001] {
        api.post(
            "/v1/verifications",
            &json!({"applicant": {"full_name": "A B"}, "time_to_live": ttl}),
        )
        .await
        .problem(422, "invalid-request");
    }
    api.post(
        "/v1/verifications",
        &json!({"applicant": {"full_name": "A B"}, "delivery": "pigeon"}),
    )
    .await
    .problem(422, "invalid-request");

    // Nothing was created by any of these.
    let list = data(&api.get("/v1/verifications").await.ok());
    assert!(list.is_empty(), "refused requests created nothing: {list:?}");
    let list = data(&api.get("/v1/applicants").await.ok());
    assert!(list.is_empty(), "refused requests created nothing: {list:?}");
}

#[tokio::test]
async fn authentication_failures_are_401() {
    let s = Server::start().await;
    s.anon().get("/v1/verifications").await.problem(401, "unauthorized");
    s.client_for("garbage").get("/v1/verifications").await.problem(401, "unauthorized");
    s.client_for("kycd_test_0123456789abcdefghijABCDEFGHIJ0123456789")
        .get("/v1/verifications")
        .await
        .problem(401, "unauthorized");
    s.anon()
        .post("/v1/verifications", &verification_body("No Auth", "noauth@example.org"))
        .await
        .problem(401, "unauthorized");

    let tenants = s.cli(&["tenant", "list", "--json"]).await.success_json();
    let tenant_id = tenants
        .as_array()
        .or_else(|| tenants.get("data").and_then(|d| d.as_array()))
        .and_then(|a| a.first())
        .and_then(|t| t.get("tenant_id").or_else(|| t.get("id")))
        .and_then(|t| t.as_str())
        .unwrap_or_else(|| panic!("tenant list --json names the first tenant: {tenants}"))
        .to_owned();
    let (key_id, key) = s.inst.create_key(&tenant_id, "integration").await;
    let api = s.client_for(&key);
    api.get("/v1/verifications").await.ok();
    s.cli(&["apikey", "revoke", &key_id]).await.success();
    api.get("/v1/verifications").await.problem(401, "unauthorized");
    api.post("/v1/verifications", &verification_body("Revoked", "revoked@example.org"))
        .await
        .problem(401, "unauthorized");
    // The admin key is unaffected.
    s.admin().get("/v1/verifications").await.ok();
}

#[tokio::test]
async fn bad_cursor_is_422() {
    let s = Server::start().await;
    let api = s.admin();
    create_verification(&api, &verification_body("Cursor Person", "cursor@example.org")).await;
    api.get("/v1/verifications?cursor=not-a-real-cursor")
        .await
        .problem(422, "invalid-cursor");
    api.get("/v1/applicants?cursor=%00%01garbage").await.problem(422, "invalid-cursor");
}

/// A refusal sent before the body is read must either leave the connection usable or say
/// `Connection: close`; otherwise a pooled client's next request fails on a dead socket.
#[tokio::test]
async fn early_refusals_keep_the_connection_usable() {
    let s = Server::start().await;
    let api = s.admin();
    let (_, vid) = new_verification(&api, "Keep Alive", "keepalive@example.org").await;
    create_attempt(&api, &vid).await;
    let auth = format!("Bearer {}", s.admin_key);
    let body = crate::harness::jpeg(2000, 1500, 45);
    assert!(body.len() > 500_000, "a body larger than the socket buffers");
    let cases = [
        (
            "unknown kind",
            format!("/v1/verifications/{vid}/captures?kind=passport_photo"),
            true,
            422,
        ),
        (
            "no API key",
            format!("/v1/verifications/{vid}/captures?kind=document_front"),
            false,
            401,
        ),
        (
            "unknown verification",
            "/v1/verifications/idv_Zz0Never0Issued0Zz0Zz0Zz/captures?kind=document_front".to_owned(),
            true,
            404,
        ),
    ];
    let mut failures = Vec::new();
    for (what, path, with_key, status) in cases {
        let mut conn = crate::harness::RawConn::open(&s.base).await;
        let mut headers = vec![("Content-Type", "image/jpeg")];
        if with_key {
            headers.push(("Authorization", auth.as_str()));
        }
        let (wrote, answer) = conn.request("POST", &path, &headers, &body).await;
        let answer = answer.unwrap_or_else(|e| panic!("{what}: no answer ({e})"));
        assert_eq!(answer.status, status, "{what}: {}", String::from_utf8_lossy(&answer.body));
        if answer.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
            continue;
        }
        let next = match wrote {
            Err(e) => Err(format!("the body could not be sent ({e})")),
            Ok(()) => conn.request("GET", "/healthz", &[], b"").await.1,
        };
        if !next.as_ref().is_ok_and(|r| r.status == 200) {
            failures.push(format!(
                "{what}: answered {status} without 'Connection: close', then the keep-alive connection was unusable: {next:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
