//! The Transmit Security dialect at `/compat/transmit`, laid out as the vendor's host
//! (`/oidc/token`, `/verify/api/v1/...`; `/api/v1/...` is an alias): client-credentials
//! tokens, sessions created by a backend, the vendor's `ImageDto` with feedback, the result
//! in the vendor's shapes (complete, incomplete and the deprecated one), image listing and
//! download, consent, deletion, mock behaviour, and tenant isolation. Images are
//! kycd-checks' synthetic documents.

use crate::harness::{Api, Server, document_jpeg, selfie_png, str_field};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BASE: &str = "/compat/transmit";
/// The service, where the vendor's host has it.
const VERIFY: &str = "/compat/transmit/verify";

pub struct Client {
    pub api: Api,
    pub key_id: String,
    pub api_key: String,
}

/// A fresh tenant (test mode unless `live`) and a bearer token from its key pair.
pub async fn client(server: &Server, name: &str, live: bool) -> Client {
    let t = server.instance().create_tenant(name, live).await;
    let form = format!("grant_type=client_credentials&client_id={}&client_secret={}", t.key_id, t.api_key);
    let tok = server
        .anon()
        .post_raw(
            &format!("{BASE}/oidc/token"),
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .await
        .ok();
    assert_eq!(tok["token_type"], "Bearer", "{tok}");
    assert!(tok["expires_in"].as_i64().unwrap() > 0, "{tok}");
    Client {
        api: server.client_for(&str_field(&tok, "access_token")),
        key_id: t.key_id,
        api_key: t.api_key,
    }
}

/// The vendor's `AddImageRequest`: an `ImageDto` and the device.
fn image_body(kind: &str, bytes: &[u8]) -> Value {
    json!({"image": {"format": "jpg", "image_type": kind, "content": STANDARD.encode(bytes)},
           "device_info": {"os": "Android", "os_version": "14", "browser": "Chrome"}})
}

/// The vendor's error body: `{message, error_code}` with the HTTP status.
fn assert_error(r: &crate::harness::Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}: {}", r.what, r.text());
    let b = r.json();
    assert_eq!(b["error_code"], status, "{}: {b}", r.what);
    let m = str_field(&b, "message");
    assert!(
        m.to_lowercase().contains(&needle.to_lowercase()),
        "{}: {m:?} lacks {needle:?}",
        r.what
    );
}

pub async fn wait_result(api: &Api, sid: &str, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let r = api.get(&format!("{VERIFY}/api/v1/verification/{sid}/result")).await.ok();
        if r["status"] == want {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "session {sid} is still {r}, waiting for {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn tokens_come_from_client_credentials_and_guard_every_endpoint() {
    let server = Server::start().await;
    let c = client(&server, "Transmit Auth", false).await;
    let anon = server.anon();
    let token_path = format!("{BASE}/oidc/token");
    let token = |body: String| anon.post_raw(&token_path, "application/x-www-form-urlencoded", body.into_bytes());
    // HTTP Basic client authentication works as well as the form parameters, and the
    // vendor's `resource` parameter is accepted.
    let basic = STANDARD.encode(format!("{}:{}", c.key_id, c.api_key));
    let r = anon
        .send(
            "token (basic)".into(),
            anon.raw_request(
                &format!("{BASE}/oidc/token"),
                "application/x-www-form-urlencoded",
                b"grant_type=client_credentials&resource=https://verify.identity.security".to_vec(),
            )
            .header("authorization", format!("Basic {basic}")),
        )
        .await
        .ok();
    assert!(str_field(&r, "access_token").len() > 20);
    assert_eq!(r.get("refresh_token"), None);

    let r = token(format!(
        "grant_type=client_credentials&client_id={}&client_secret=kycd_wrong",
        c.key_id
    ))
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"], "invalid_client");
    let r = token(format!("client_id={}&client_secret={}", c.key_id, c.api_key)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");
    let r = token(format!("grant_type=password&client_id={}&client_secret={}", c.key_id, c.api_key)).await;
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    // Another key's id with this key: refused.
    let other = server.instance().create_tenant("Other", false).await;
    let r = token(format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        other.key_id, c.api_key
    ))
    .await;
    assert_eq!(r.status, 401);

    // No token, a malformed one, or the API key itself: 401 in the vendor's error body.
    let create = format!("{VERIFY}/api/v1/verification");
    assert_error(&anon.post(&create, &json!({})).await, 401, "access token");
    assert_error(
        &server.client_for("vat_not-a-token").post(&create, &json!({})).await,
        401,
        "access token",
    );
    assert_error(&server.client_for(&c.api_key).post(&create, &json!({})).await, 401, "access token");
    // The token is this dialect's: kycd's own API does not take it.
    let r = c.api.get("/v1/verifications").await;
    assert_eq!(r.status, 401, "{}", r.text());
    // An unknown route under the dialect answers in the dialect's error body.
    assert_error(&c.api.get(&format!("{VERIFY}/api/v1/nothing")).await, 404, "no such endpoint");
    assert_error(&c.api.get(&format!("{BASE}/verify/oidc/token")).await, 404, "no such endpoint");
}

#[tokio::test]
async fn a_backend_session_runs_from_images_to_result_images_and_deletion() {
    let Some((passport, holder, birth)) = crate::decision::passport() else {
        return;
    };
    let server = Server::start().await;
    let c = client(&server, "Transmit Flow", false).await;
    let api = &c.api;

    let r = api
        .post(
            &format!("{VERIFY}/api/v1/verification"),
            &json!({"callback_url": "https://example.org/done", "state": "csrf-123", "time_to_live": "30d",
                    "customer_information": {"external_user_id": "user-42", "organization_name": "Branch 7"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let s = r.json();
    let sid = str_field(&s, "session_id");
    assert!(sid.starts_with("idv_"), "{s}");
    assert!(str_field(&s, "start_token").len() > 20, "{s}");
    assert_eq!(s["missing_images"], json!(["document_front", "selfie"]), "{s}");
    let exp = chrono::DateTime::parse_from_rfc3339(&str_field(&s, "expiration")).unwrap();
    let days = (exp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "time_to_live 30d: {s}");

    let result = format!("{VERIFY}/api/v1/verification/{sid}/result");
    assert_eq!(api.get(&result).await.ok(), json!({"session_id": sid, "status": "pending"}));
    // The first layout kycd served is an alias of the vendor's.
    assert_eq!(
        api.get(&format!("{BASE}/api/v1/verification/{sid}/result")).await.ok(),
        json!({"session_id": sid, "status": "pending"})
    );
    let consent = format!("{VERIFY}/api/v1/verification/{sid}/consent");
    assert_eq!(api.get(&consent).await.ok(), json!({"consent_granted": false}), "no consent yet");

    // Bad images: refused with 400, nothing counted.
    let images = format!("{VERIFY}/api/v1/verification/{sid}/images");
    let dto = |f: Value| {
        let mut image = json!({"format": "jpg", "image_type": "selfie", "content": "aGVsbG8gd29ybGQ="});
        for (k, v) in f.as_object().unwrap() {
            image[k] = v.clone();
        }
        json!({"image": image})
    };
    for (body, needle) in [
        (json!({}), "image is required"),
        (json!({"image": {"format": "jpg", "image_type": "document_front"}}), "image.content"),
        (dto(json!({"image_type": "passport"})), "image.image_type"),
        (dto(json!({"content": "***"})), "base64"),
        (dto(json!({"format": "gif"})), "image.format"),
        (dto(json!({"capture_margins": {"top": "a lot"}})), "capture_margins"),
        // The shape kycd took before the vendor's ImageDto: refused, naming what to send.
        (json!({"image": {"type": "selfie", "data": "aGk="}}), "image.format is required"),
        // Not an image at all.
        (dto(json!({})), ""),
    ] {
        assert_error(&api.post(&images, &body).await, 400, needle);
    }
    let r = api.post_raw(&images, "application/json", b"{not json".to_vec()).await;
    assert_error(&r, 400, "malformed");

    let r = api.post(&images, &image_body("document_front", &passport)).await.ok();
    assert_eq!(r["feedback"], "ok", "{r}");
    assert_eq!(r["complete"], false, "a JSON boolean: {r}");
    assert_eq!(r["missing_images"], json!(["selfie"]), "{r}");
    // The content may also come as a data: URL, with the optional fields the vendor defines.
    let selfie = selfie_png(3);
    let data_url = format!("data:image/png;base64,{}", STANDARD.encode(&selfie));
    let r = api
        .post(
            &images,
            &json!({"image": {"format": "jpg", "image_type": "selfie", "content": data_url, "image_id": "selfie-1",
                              "capture_margins": {"top": 0, "bottom": 0, "left": 0, "right": 0}}}),
        )
        .await
        .ok();
    assert_eq!(r["complete"], true, "{r}");
    assert_eq!(r["missing_images"], json!([]), "{r}");
    // Everything is in: the vendor's 409.
    assert_error(&api.post(&images, &image_body("selfie", &selfie)).await, 409, "");

    // Faces are not compared yet, so a person decides: CHALLENGE, with the document's data.
    let r = wait_result(api, &sid, "complete").await;
    assert_eq!(r["recommendation"], "CHALLENGE", "{r}");
    assert_eq!(r["document"]["type"], "passport", "{r}");
    assert!(r["document"]["number"].is_string(), "{r}");
    assert!(str_field(&r["document"], "expiration_date").ends_with("T00:00:00.000Z"), "{r}");
    assert_eq!(r["person"]["date_of_birth"], format!("{birth}T00:00:00.000Z"), "{r}");
    assert_eq!(
        r["person"]["full_name"].as_str().unwrap().split_whitespace().collect::<Vec<_>>(),
        holder.split_whitespace().collect::<Vec<_>>(),
        "{r}"
    );
    assert!(r["person"]["age"].as_u64().unwrap() >= 18, "{r}");
    let checks = r["checks"].as_object().unwrap();
    let keys: Vec<&str> = checks.keys().map(String::as_str).collect();
    for k in [
        "document_validation",
        "document_authentication",
        "document_liveness",
        "biometric_matching",
        "biometric_liveness",
        "flagged_identity",
        "risk_recommendation",
    ] {
        assert!(keys.contains(&k), "checks lack {k}: {r}");
    }
    assert_eq!(checks["document_validation"]["recommendation"], "ALLOW", "{r}");
    assert_eq!(checks["biometric_matching"]["recommendation"], "N/A", "{r}");
    assert_eq!(checks["document_liveness"]["recommendation"], "N/A", "{r}");
    let used: Vec<&str> = r["verification_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(used, vec!["document_front", "selfie"], "{r}");

    // A reviewer approves in kycd: the result turns ALLOW; the deprecated shape says so too.
    crate::flow::approve(&server.client_for(&c.api_key), &sid).await;
    let r = api.get(&result).await.ok();
    assert_eq!(r["recommendation"], "ALLOW", "{r}");
    let old = api.get(&format!("{result}?detailed=false")).await.ok();
    assert_eq!(old["recommendation"], "ALLOW", "{old}");
    assert_eq!(old["verified_info"]["document"]["type"], "passport", "{old}");
    assert!(old.get("rejection_description").is_none(), "{old}");
    assert_error(&api.get(&format!("{result}?detailed=maybe")).await, 400, "detailed");

    // Image metadata, then each image as sent (raw or base64).
    let list = api.get(&images).await.ok();
    let list = list["session_images"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    for img in &list {
        assert_eq!(img["rejected"], false, "{img}");
        assert_eq!(img["original"], true, "{img}");
        let id = str_field(img, "id");
        let want = if img["type"] == "selfie" { &selfie } else { &passport };
        let raw = api.get(&format!("{images}/{id}")).await;
        assert_eq!(&raw.ok_bytes(), want);
        let b64 = api.get(&format!("{images}/{id}?format=base64")).await;
        assert_eq!(STANDARD.decode(b64.text().trim()).unwrap(), *want);
    }
    assert_error(&api.get(&format!("{images}/file_doesnotexist0000")).await, 404, "image not found");
    assert_error(&api.get(&format!("{images}/not-an-id")).await, 404, "image not found");
    assert_error(
        &api.get(&format!("{images}/{}?format=png", str_field(&list[0], "id"))).await,
        400,
        "format",
    );

    // Deleting erases the session (200, no body): every endpoint then answers 404.
    let r = api.delete(&format!("{VERIFY}/api/v1/verification/{sid}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty(), "{}", r.text());
    assert_error(&api.get(&result).await, 404, "session not found");
    assert_error(&api.get(&images).await, 404, "session not found");
    assert_error(&api.get(&consent).await, 404, "session not found");
    assert_error(
        &api.delete(&format!("{VERIFY}/api/v1/verification/{sid}")).await,
        404,
        "session not found",
    );
    assert_error(
        &api.get(&format!("{VERIFY}/api/v1/verification/not-a-session/result")).await,
        404,
        "session not found",
    );
}

#[tokio::test]
async fn mock_behavior_forces_outcomes_in_test_mode_only() {
    let server = Server::start().await;
    let c = client(&server, "Transmit Mock", false).await;
    let api = &c.api;
    let create = format!("{VERIFY}/api/v1/verification");
    let r = api
        .post(
            &create,
            &json!({"mock_behavior": {"recommendation": "DENY", "processing_time": "1s", "force_retry": true},
                    "start": {"consent": {"granted": true, "document_id": "terms-2026-01"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let s = r.json();
    assert!(
        s.get("start_token").is_none(),
        "a session the backend starts has no start token: {s}"
    );
    let sid = str_field(&s, "session_id");
    // The backend said the person consented when it started the session: recorded, dated.
    let consent = api.get(&format!("{VERIFY}/api/v1/verification/{sid}/consent")).await.ok();
    assert_eq!(consent["consent_granted"], true, "{consent}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&str_field(&consent, "consent_date")).is_ok(),
        "{consent}"
    );
    let images = format!("{VERIFY}/api/v1/verification/{sid}/images");
    let front = document_jpeg(11);
    let selfie = selfie_png(12);
    api.post(&images, &image_body("document_front", &front)).await.ok();
    api.post(&images, &image_body("selfie", &selfie)).await.ok();
    // force_retry: the first attempt comes back for a recapture; images are taken again.
    wait_result(api, &sid, "recapture").await;
    let r = api.post(&images, &image_body("document_front", &front)).await.ok();
    assert_eq!(r["missing_images"], json!(["selfie"]), "{r}");
    api.post(&images, &image_body("selfie", &selfie)).await.ok();
    let r = wait_result(api, &sid, "complete").await;
    assert_eq!(r["recommendation"], "DENY", "{r}");

    // force_poor_quality (kycd's addition): the first image of a kind is reported poor.
    let s = api
        .post(
            &create,
            &json!({"mock_behavior": {"force_poor_quality": true, "mock_recommendation": "ALLOW"}}),
        )
        .await
        .ok();
    let images = format!("{VERIFY}/api/v1/verification/{}/images", str_field(&s, "session_id"));
    let r = api.post(&images, &image_body("document_front", &front)).await.ok();
    assert_ne!(r["feedback"], "ok", "{r}");
    assert_eq!(r["missing_images"], json!(["document_front", "selfie"]), "{r}");
    let rejected = |list: Value| -> Vec<bool> {
        list["session_images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["rejected"].as_bool().unwrap())
            .collect()
    };
    assert_eq!(rejected(api.get(&images).await.ok()), vec![true]);
    // A new image of the same kind replaces the rejected one.
    let r = api.post(&images, &image_body("document_front", &front)).await.ok();
    assert_eq!(r["feedback"], "ok", "{r}");
    assert_eq!(rejected(api.get(&images).await.ok()), vec![false]);

    for (body, needle) in [
        (json!({"mock_behavior": {"recommendation": "MAYBE"}}), "recommendation"),
        (json!({"mock_behavior": {"processing_time": "1h"}}), "processing time"),
        (json!({"mock_behavior": {"processing_time": "soon"}}), "processing_time"),
        (json!({"mock_behavior": 5}), "mock_behavior"),
        (json!({"time_to_live": "1s"}), "time_to_live"),
        (json!({"time_to_live": "91d"}), "time_to_live"),
        (json!({"callback_url": "javascript:alert(1)"}), "callback_url"),
        (json!({"start": true}), "start"),
        (json!({"start": {}}), "consent"),
        (json!({"start": {"consent": {"granted": true}}}), "document_id"),
        (json!({"start": {"consent": {"granted": "yes", "document_id": "t"}}}), "granted"),
        (
            json!({"customer_information": {"external_user_id": "two words"}}),
            "external_user_id",
        ),
    ] {
        assert_error(&api.post(&create, &body).await, 400, needle);
    }
    assert_error(&api.post_raw(&create, "application/json", Vec::new()).await, 400, "body");

    // A live tenant never simulates.
    let live = client(&server, "Transmit Live", true).await;
    let r = live.api.post(&create, &json!({"mock_behavior": {"recommendation": "ALLOW"}})).await;
    assert_error(&r, 400, "test-mode");
}

#[tokio::test]
async fn another_tenants_sessions_are_not_found() {
    let server = Server::start().await;
    let a = client(&server, "Transmit A", false).await;
    let b = client(&server, "Transmit B", false).await;
    let s = a.api.post(&format!("{VERIFY}/api/v1/verification"), &json!({})).await.ok();
    let sid = str_field(&s, "session_id");
    let images = format!("{VERIFY}/api/v1/verification/{sid}/images");
    let r = a.api.post(&images, &image_body("document_front", &document_jpeg(5))).await.ok();
    assert_eq!(r["feedback"], "ok", "{r}");
    let img = a.api.get(&images).await.ok();
    let img_id = str_field(&img["session_images"][0], "id");

    for r in [
        b.api.get(&format!("{VERIFY}/api/v1/verification/{sid}/result")).await,
        b.api.get(&format!("{BASE}/api/v1/verification/{sid}/result")).await,
        b.api.get(&format!("{VERIFY}/api/v1/verification/{sid}/consent")).await,
        b.api.get(&images).await,
        b.api.post(&images, &image_body("selfie", &selfie_png(6))).await,
        b.api.delete(&format!("{VERIFY}/api/v1/verification/{sid}")).await,
    ] {
        assert_error(&r, 404, "session not found");
    }
    assert_error(&b.api.get(&format!("{images}/{img_id}")).await, 404, "not found");
    // Nothing of A's changed.
    let r = a.api.get(&images).await.ok();
    assert_eq!(r["session_images"].as_array().unwrap().len(), 1, "{r}");
}

/// A plain client written from the vendor's Verify OpenAPI (Python, urllib + jsonschema;
/// Transmit publishes no backend SDK) runs the backend flow on the vendor's host layout and
/// validates every answer, errors included, against the spec's response schemas.
#[tokio::test]
async fn a_plain_client_validates_every_answer_against_the_vendor_schemas() {
    let Some((passport, _, _)) = crate::decision::passport() else {
        return;
    };
    let python = std::env::var("KYCD_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "KYCD_TEST_PYTHON is not set: run scripts/test, or: python3 -m venv target/pyvenv && \
             target/pyvenv/bin/pip install jsonschema && export KYCD_TEST_PYTHON=$PWD/target/pyvenv/bin/python"
        )
    });
    let server = Server::start().await;
    let t = server.instance().create_tenant("Transmit Plain Client", false).await;
    let dir = tempfile::tempdir().unwrap();
    let (front, selfie) = (dir.path().join("front.jpg"), dir.path().join("selfie.jpg"));
    std::fs::write(&front, &passport).unwrap();
    // JPEG, the only format the vendor's API defines.
    let mut jpeg = Vec::new();
    image::load_from_memory(&selfie_png(21))
        .unwrap()
        .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    std::fs::write(&selfie, jpeg).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/transmit_client.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .env("KYCD_HOST", server.anon().url(BASE))
        .env("CLIENT_ID", &t.key_id)
        .env("CLIENT_SECRET", &t.api_key)
        .env("FRONT", &front)
        .env("SELFIE", &selfie)
        .output()
        .await
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the plain Transmit client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("transmit flow OK"), "{stdout}\n{stderr}");
}
