//! The Skribble dialect at `/compat/skribble/v2` and `/v3`: login (a 20-minute JWT in plain
//! text), signature requests (one identification per signer, the capture link as each
//! signature's `signing_url`, `signer_identity_data.evidence_id`), Skribble's callbacks
//! (GETs, placeholders filled, retried every 10 minutes while they fail), the four
//! identification evidence endpoints behind the tenant's `express_qes_evidence` feature,
//! and Skribble's error envelope on every error under the mount. A plain Python client
//! written from the wire spec validates every answer against the spec's schemas.

use crate::common::{TestClock, item_where};
use crate::flow::{approve, create_attempt, create_verification, data, session_to_review, upload, wait_status};
use crate::harness::{Api, Resp, Server, document_jpeg, selfie_png, str_field};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const MOUNT: &str = "/compat/skribble";
const V2: &str = "/compat/skribble/v2";
const V3: &str = "/compat/skribble/v3";

/// The four evidence endpoints: status, JSON, files, JWT.
const EVIDENCE_ENDPOINTS: [&str; 4] = ["", "/json", "/files", "/jwt"];

fn sr_path(sr: &str) -> String {
    format!("{V2}/signature-requests/{sr}")
}

fn evidence_path(sr: &str, eid: &str, suffix: &str) -> String {
    format!("{V2}/signature-requests/{sr}/identification-evidences/{eid}{suffix}")
}

/// `POST /access/login` with JSON credentials; the token.
async fn login(server: &Server, version: &str, key_id: &str, key: &str) -> String {
    let r = server
        .anon()
        .post(&format!("{version}/access/login"), &json!({"username": key_id, "api-key": key}))
        .await;
    assert_eq!(r.status, 200, "{}: {}", r.what, r.text());
    assert!(r.content_type.starts_with("text/plain"), "{}", r.content_type);
    r.text()
}

/// A tenant's Skribble client: a token from its admin key.
async fn client(server: &Server, name: &str) -> (crate::harness::TenantKeys, Api) {
    let t = server.instance().create_tenant(name, false).await;
    let token = login(server, V2, &t.key_id, &t.api_key).await;
    let api = server.client_for(&token);
    (t, api)
}

/// Skribble's envelope: `{type: <host>/problem/<slug>, method, path, status, message, key?}`
/// naming the request that failed (from `r.what`, "METHOD /path").
fn assert_envelope(r: &Resp, status: u16, slug: &str, key: Option<&str>) -> Value {
    assert_eq!(
        r.status,
        status,
        "{}: expected {status} {slug}, got {} {}",
        r.what,
        r.status,
        r.text()
    );
    assert!(
        r.content_type.starts_with("application/problem+json"),
        "{}: content type {:?}",
        r.what,
        r.content_type
    );
    let b = r.json();
    let t = str_field(&b, "type");
    assert!(
        t.ends_with(&format!("/problem/{slug}")) && t.starts_with("http"),
        "{}: type {t}",
        r.what
    );
    let mut what = r.what.split_whitespace();
    assert_eq!(b["method"], what.next().unwrap(), "{}: {b}", r.what);
    let path = what.next().unwrap().split('?').next().unwrap();
    assert_eq!(b["path"], path, "{}: {b}", r.what);
    assert_eq!(b["status"], status, "{}: {b}", r.what);
    assert!(b["message"].as_str().is_some_and(|m| !m.trim().is_empty()), "{}: {b}", r.what);
    assert_eq!(b.get("key").and_then(Value::as_str), key, "{}: {b}", r.what);
    assert!(b.get("title").is_none() && b.get("detail").is_none(), "not RFC 9457: {b}");
    b
}

async fn set_feature(server: &Server, tenant: &str, on: bool) {
    let flag = if on { "--enable" } else { "--disable" };
    server
        .cli(&["tenant", "features", "--tenant", tenant, flag, "express_qes_evidence"])
        .await
        .success();
}

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'))
}

/// The kycd verification of each signer of `sr`, by applicant (the signature's `sid`).
async fn verification_of(native: &Api, sr: &str, sid: &str) -> String {
    let list = native.get("/v1/verifications?limit=100").await.ok();
    let v = data(&list)
        .into_iter()
        .find(|v| v["reference"]["signature_request_id"] == sr && v["applicant_id"] == sid)
        .unwrap_or_else(|| panic!("no verification of {sid} for {sr}: {list}"));
    str_field(&v, "id")
}

/// The signer captures a document and a selfie and submits; the checks send it to review.
async fn capture_to_review(native: &Api, vid: &str, seed: u64) {
    upload(native, vid, "document_front", "image/jpeg", &document_jpeg(seed)).await;
    upload(native, vid, "selfie", "image/png", &selfie_png(seed + 1)).await;
    native.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    wait_status(native, vid, "review_required", Duration::from_secs(180)).await;
}

fn signature<'a>(sr: &'a Value, sid: &str) -> &'a Value {
    item_where(sr, "signatures", "sid", sid)
}

#[tokio::test]
async fn skribble_login_gives_a_short_lived_jwt_and_every_error_is_in_skribbles_envelope() {
    let (clock, server) = TestClock::with_server(&[]).await;
    let t = server.instance().create_tenant("Skribble Login", false).await;
    let anon = server.anon();

    // JSON and form logins, on both versions; the token is a JWT of this dialect that
    // lives 20 minutes.
    let token = login(&server, V2, &t.key_id, &t.api_key).await;
    let form = format!("username={}&api-key={}", t.key_id, t.api_key);
    let r = anon
        .post_raw(
            &format!("{V3}/access/login"),
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 1200, "{claims}");
    assert_eq!(claims["aud"], "skribble");
    assert_eq!(claims["sub"], t.key_id.as_str());
    assert_ne!(r.text(), token, "every login is a new token");

    // The token works on v2 and v3 alike, and nowhere else.
    let api = server.client_for(&token);
    assert_envelope(&api.get(&sr_path("sr-none")).await, 404, "entity-not-found", None);
    assert_envelope(
        &api.get(&format!("{V3}/signature-requests/sr-none")).await,
        404,
        "entity-not-found",
        None,
    );
    assert_eq!(
        api.get("/v1/verifications").await.status,
        401,
        "kycd's own API takes no Skribble token"
    );
    let transmit = crate::transmit::client(&server, "Skribble Other Dialect", false).await;
    let foreign_token = transmit.api.key.clone().unwrap();
    assert_envelope(
        &server.client_for(&foreign_token).get(&sr_path("sr-none")).await,
        401,
        "problem-with-message",
        Some("error.auth.token_invalid"),
    );

    // Wrong credentials: 403 credentials_invalid. Malformed login bodies: 400.
    let other = server.instance().create_tenant("Skribble Login Other", false).await;
    for (user, key) in [
        (t.key_id.as_str(), "kycd_test_wrong"),
        (other.key_id.as_str(), t.api_key.as_str()),
        ("key_unknown", t.api_key.as_str()),
    ] {
        let r = anon
            .post(&format!("{V2}/access/login"), &json!({"username": user, "api-key": key}))
            .await;
        assert_envelope(&r, 403, "problem-with-message", Some("error.auth.credentials_invalid"));
    }
    for body in [json!({"username": t.key_id}), json!({"user": "x", "api_key": "y"}), json!([1])] {
        assert_envelope(
            &anon.post(&format!("{V2}/access/login"), &body).await,
            400,
            "problem-with-message",
            None,
        );
    }
    let r = anon
        .post_raw(&format!("{V2}/access/login"), "application/json", b"{oops".to_vec())
        .await;
    assert_envelope(&r, 400, "problem-with-message", None);

    // Tokens: missing, garbage, expired, or of a revoked key.
    assert_envelope(&anon.get(&sr_path("x")).await, 401, "problem-with-message", None);
    for bad in ["garbage", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", &format!("{token}x")] {
        assert_envelope(
            &server.client_for(bad).get(&sr_path("x")).await,
            401,
            "problem-with-message",
            Some("error.auth.token_invalid"),
        );
    }
    let (key_id, key) = server.instance().create_key(&t.tenant_id, "integration").await;
    let revoked = login(&server, V2, &key_id, &key).await;
    server.cli(&["apikey", "revoke", &key_id]).await.success();
    assert_envelope(
        &server.client_for(&revoked).get(&sr_path("x")).await,
        401,
        "problem-with-message",
        Some("error.auth.token_invalid"),
    );
    let r = anon
        .post(&format!("{V2}/access/login"), &json!({"username": key_id, "api-key": key}))
        .await;
    assert_envelope(&r, 403, "problem-with-message", Some("error.auth.credentials_invalid"));
    clock.set(1_201);
    assert_envelope(
        &api.get(&sr_path("x")).await,
        401,
        "problem-with-message",
        Some("error.auth.token_expired"),
    );
    clock.set(0);
    assert_envelope(&api.get(&sr_path("x")).await, 404, "entity-not-found", None);

    // What axum itself answers under the mount is in the envelope too: unknown paths,
    // other versions, methods a path lacks, bodies over the limit, bad JSON.
    for path in [
        format!("{V2}/no-such-thing"),
        format!("{MOUNT}/v1/access/login"),
        format!("{V2}/signature-requests/a/b/c/d"),
    ] {
        assert_envelope(&api.get(&path).await, 404, "entity-not-found", None);
    }
    assert_envelope(&api.delete(&sr_path("x")).await, 405, "problem-with-message", None);
    assert_envelope(&anon.get(&format!("{V2}/access/login")).await, 405, "problem-with-message", None);
    let path = format!("{V2}/signature-requests");
    let (status, content_type, body) = api
        .post_huge_raw(&path, "application/json", b"{\"content\": \"", 64 << 20)
        .await
        .unwrap();
    let r = Resp {
        what: format!("POST {path}"),
        status,
        content_type,
        body,
    };
    assert_envelope(&r, 413, "limit-exceeded", None);
    let r = api
        .post_raw(&format!("{V2}/signature-requests"), "application/json", b"{\"title\":".to_vec())
        .await;
    assert_envelope(&r, 400, "problem-with-message", None);
    let r = api.post(&format!("{V2}/signature-requests"), &json!({"title": "No signers"})).await;
    assert!(
        assert_envelope(&r, 400, "problem-with-message", None)["message"]
            .as_str()
            .unwrap()
            .contains("signatures")
    );
    // A reviewer's key may read, not create.
    let (rid, rkey) = server.instance().create_key(&t.tenant_id, "reviewer").await;
    let reviewer = server.client_for(&login(&server, V2, &rid, &rkey).await);
    let body = json!({"title": "T", "signatures": [{"signer_identity_data": {"email_address": "r@example.org"}}]});
    assert_envelope(
        &reviewer.post(&format!("{V2}/signature-requests"), &body).await,
        403,
        "problem-with-message",
        None,
    );
    server.cli(&["audit", "verify"]).await.success();
}

#[tokio::test]
async fn skribble_signature_requests_identify_each_signer_and_call_back_as_skribble_does() {
    let (clock, server) = TestClock::with_server(&[]).await;
    let receiver = clock.receiver();
    let (t, api) = client(&server, "Skribble Flow").await;
    let native = server.client_for(&t.api_key);
    set_feature(&server, &t.tenant_id, true).await;
    let hook = |kind: &str| {
        format!(
            "{}/{kind}/SKRIBBLE_SIGNATURE_REQUEST_ID/SKRIBBLE_SIGNATURE_ID?doc=SKRIBBLE_DOCUMENT_ID",
            receiver.url
        )
    };

    // Skribble's body, with a PDF kycd does not keep; one identification per signer.
    let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 not kept");
    let created = api
        .post(
            &format!("{V2}/signature-requests"),
            &json!({
                "title": "Employment contract", "message": "Please identify yourself", "content": pdf,
                "quality": "QES", "legislation": "ZERTES",
                "callback_success_url": hook("success"), "callback_error_url": hook("error"),
                "callback_update_url": hook("update"),
                "signatures": [
                    {"signer_identity_data": {"email_address": "ada@example.org", "first_name": "Ada", "last_name": "Muster",
                                              "language": "de"}, "sequence": 1},
                    {"account_email": "bob@example.org", "notify": false,
                     "signer_identity_data": {"email_address": "bob@example.org", "first_name": "Bob", "last_name": "Beispiel"},
                     "sequence": 2}
                ]
            }),
        )
        .await
        .ok();
    let sr = str_field(&created, "id");
    assert_eq!(sr.len(), 36, "a UUID: {created}");
    assert_eq!(created["title"], "Employment contract");
    assert_eq!(created["status_overall"], "OPEN");
    let sigs = created["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2, "{created}");
    for (s, (email, seq)) in sigs.iter().zip([("ada@example.org", 1), ("bob@example.org", 2)]) {
        assert!(str_field(s, "sid").starts_with("aplt_"), "{s}");
        assert_eq!(s["signer_identity_data"]["email_address"], email, "{s}");
        assert_eq!(s["signer_identity_data"]["evidence_id"], Value::Null, "not started: {s}");
        assert_eq!(s["sequence"], seq, "{s}");
        assert_eq!(s["status_code"], "OPEN", "{s}");
        assert!(str_field(s, "signing_url").contains("/capture?token="), "the capture link: {s}");
    }
    assert_eq!(sigs[0]["signer_identity_data"]["language"], "de");
    assert_eq!(sigs[1]["notify"], false);
    let (ada, bob) = (str_field(&sigs[0], "sid"), str_field(&sigs[1], "sid"));
    // The signing URL opens the hosted capture page for that signer (a session cookie and a
    // redirect into the flow).
    let opened = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(str_field(&sigs[0], "signing_url"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 303, "{opened:?}");
    assert!(opened.headers().contains_key("set-cookie"), "{opened:?}");

    // GET: the same request, without the single-use links.
    let got = api.get(&sr_path(&sr)).await.ok();
    assert_eq!(got["title"], "Employment contract");
    assert!(
        got["signatures"].as_array().unwrap().iter().all(|s| s.get("signing_url").is_none()),
        "{got}"
    );
    assert_eq!(
        api.get(&format!("{V3}/signature-requests/{sr}")).await.ok(),
        got,
        "v3 answers the same"
    );

    // Ada is identified: her evidence id appears, and Skribble's update callback is called.
    let ada_v = verification_of(&native, &sr, &ada).await;
    capture_to_review(&native, &ada_v, 301).await;
    let got = api.get(&sr_path(&sr)).await.ok();
    assert_eq!(
        signature(&got, &ada)["signer_identity_data"]["evidence_id"],
        ada_v.as_str(),
        "{got}"
    );
    assert_eq!(signature(&got, &bob)["signer_identity_data"]["evidence_id"], Value::Null);
    approve(&native, &ada_v).await;
    let update_path = format!("/hooks/update/{sr}/{ada}?doc=");
    receiver
        .wait_for("Ada's update callback", |got| {
            got.iter().any(|r| r["method"] == "GET" && r["path"] == update_path)
        })
        .await;
    let got = api.get(&sr_path(&sr)).await.ok();
    assert_eq!(signature(&got, &ada)["status_code"], "SIGNED", "{got}");
    assert!(is_time(&signature(&got, &ada)["signed_at"]), "{got}");
    assert_eq!(got["status_overall"], "OPEN", "Bob has not been identified: {got}");

    // Bob too, while the receiver is down: update and success fail, and are retried
    // 10 minutes later (the server's clock is moved, not waited for).
    let bob_v = verification_of(&native, &sr, &bob).await;
    capture_to_review(&native, &bob_v, 303).await;
    receiver.set_down(true);
    approve(&native, &bob_v).await;
    let success_path = format!("/hooks/success/{sr}/{bob}?doc=");
    receiver
        .wait_for("the failing success callback", |got| {
            got.iter().any(|r| r["path"] == success_path && r["answered"] == 503)
        })
        .await;
    let calls = wait_callbacks(&api, &sr, |c| {
        c.iter().filter(|c| c["status"] == "PENDING" && c["attempts"] == 1).count() == 2
    })
    .await;
    let success = calls.iter().find(|c| c["type"] == "SUCCESS").unwrap_or_else(|| panic!("{calls:?}"));
    assert_eq!(success["http_status"], 503, "{success}");
    assert_eq!(success["sid"], bob.as_str());
    receiver.set_down(false);
    clock.set(601);
    receiver
        .wait_for("the retried success callback", |got| {
            got.iter().any(|r| r["path"] == success_path && r["answered"] == 200)
        })
        .await;
    let calls = wait_callbacks(&api, &sr, |c| c.iter().all(|c| c["status"] == "SUCCEEDED")).await;
    let mut types: Vec<&str> = calls.iter().map(|c| c["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    assert_eq!(types, ["SUCCESS", "UPDATE", "UPDATE"], "{calls:?}");
    let bobs: Vec<&Value> = calls.iter().filter(|c| c["sid"] == bob.as_str()).collect();
    assert!(bobs.len() == 2 && bobs.iter().all(|c| c["attempts"] == 2), "{calls:?}");
    let got = api.get(&sr_path(&sr)).await.ok();
    assert_eq!(got["status_overall"], "SIGNED", "{got}");

    // A withdrawn identification calls the error URL (and only it).
    let second = api
        .post(
            &format!("{V2}/signature-requests"),
            &json!({"title": "Second", "callback_error_url": hook("error"), "callback_success_url": hook("success"),
                    "signatures": [{"signer_identity_data": {"email_address": "cleo@example.org"}}]}),
        )
        .await
        .ok();
    let sr2 = str_field(&second, "id");
    let cleo = str_field(&second["signatures"][0], "sid");
    let cleo_v = verification_of(&native, &sr2, &cleo).await;
    native.post_empty(&format!("/v1/verifications/{cleo_v}/cancel")).await.ok();
    let error_path = format!("/hooks/error/{sr2}/{cleo}?doc=");
    receiver
        .wait_for("the error callback", |got| got.iter().any(|r| r["path"] == error_path))
        .await;
    let got = api.get(&sr_path(&sr2)).await.ok();
    assert_eq!(got["status_overall"], "WITHDRAWN", "{got}");
    assert_eq!(got["signatures"][0]["status_code"], "WITHDRAWN", "{got}");
    // Anonymized: the request's own words and callback URLs are erased with the signer's data.
    native.post_empty(&format!("/v1/verifications/{cleo_v}/anonymize")).await.ok();
    let got = api.get(&sr_path(&sr2)).await.ok();
    assert_eq!(got["title"], sr2.as_str(), "{got}");
    assert_eq!(got["callback_error_url"], Value::Null, "{got}");
    assert_eq!(got["signatures"][0]["signer_identity_data"]["email_address"], Value::Null, "{got}");

    // Callback URLs are checked as webhook URLs are: a live tenant may not call inside.
    let live = server.instance().create_tenant("Skribble Live", true).await;
    let live_api = server.client_for(&login(&server, V2, &live.key_id, &live.api_key).await);
    let r = live_api
        .post(
            &format!("{V2}/signature-requests"),
            &json!({"title": "T", "callback_update_url": "https://127.0.0.1/cb",
                    "signatures": [{"signer_identity_data": {"email_address": "d@example.org"}}]}),
        )
        .await;
    assert!(
        assert_envelope(&r, 400, "problem-with-message", None)["message"]
            .as_str()
            .unwrap()
            .contains("callback_update_url")
    );

    // The plain client, written from the wire spec, validates every answer.
    let no_feature = server.instance().create_tenant("Skribble No Feature", false).await;
    let args: Vec<std::ffi::OsString> = vec![
        server.anon().url(MOUNT).into(),
        t.key_id.clone().into(),
        t.api_key.clone().into(),
        sr.clone().into(),
        ada_v.clone().into(),
        no_feature.key_id.clone().into(),
        no_feature.api_key.clone().into(),
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    crate::harness::run_python_script(&server, "skribble_client.py", "jsonschema", &args).await;
}

/// Poll `GET …/callbacks` until `pred` holds.
async fn wait_callbacks(api: &Api, sr: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let list = api.get(&format!("{}/callbacks", sr_path(sr))).await.ok();
        let list = list.as_array().unwrap().clone();
        if pred(&list) {
            return list;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "callbacks of {sr}: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A verification for one signer of signature request `sr` (native API).
fn signer_body(name: &str, email: &str, sr: &str, order: u32) -> Value {
    json!({
        "applicant": {"full_name": name, "email": email},
        "declared_data": {"full_name": name},
        "delivery": "none",
        "reference": {"signature_request_id": sr, "signer_order": order},
    })
}

/// Start a signer's identification without finishing it: an attempt and one capture.
async fn start_only(api: &Api, body: &Value, seed: u64) -> String {
    let v = create_verification(api, body).await;
    let vid = str_field(&v, "id");
    create_attempt(api, &vid).await;
    upload(api, &vid, "document_front", "image/jpeg", &document_jpeg(seed)).await;
    vid
}

#[tokio::test]
async fn skribble_evidence_is_the_native_evidence_behind_the_feature_and_the_tenant() {
    let server = Server::start().await;
    let (t, api) = client(&server, "Skribble Evidence").await;
    let native = server.client_for(&t.api_key);
    // A signature request made with the native API.
    let sr = format!("sr-native-{}", std::process::id());
    let done = session_to_review(&native, &signer_body("Quentin Qes", "quentin@example.org", &sr, 1), 91).await;
    let started = start_only(&native, &signer_body("Paula Pending", "paula@example.org", &sr, 2), 93).await;
    let waiting = str_field(
        &create_verification(&native, &signer_body("Wes Waiting", "wes@example.org", &sr, 3)).await,
        "id",
    );
    let eid = done.vid.clone();

    // Without the feature: 403 feature-not-enabled on every evidence endpoint, known or
    // unknown ids alike; the signature request itself still answers, in signing order.
    for suffix in EVIDENCE_ENDPOINTS {
        for id in [eid.as_str(), "idv_unknown"] {
            assert_envelope(&api.get(&evidence_path(&sr, id, suffix)).await, 403, "feature-not-enabled", None);
        }
    }
    let req = api.get(&sr_path(&sr)).await.ok();
    assert_eq!(req["title"], sr.as_str(), "no title given: the id");
    let ids: Vec<Value> = req["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signer_identity_data"]["evidence_id"].clone())
        .collect();
    assert_eq!(ids, [json!(eid), json!(started), Value::Null], "{req}");
    set_feature(&server, &t.tenant_id, true).await;

    // Pending review: completed (JSON, files, JWT served), with the review reason.
    let st = api.get(&evidence_path(&sr, &eid, "")).await.ok();
    assert_eq!(st["status"], "PENDING_REVIEW", "{st}");
    assert!(st["reason"].as_str().is_some_and(|r| !r.is_empty()), "{st}");
    assert!(is_time(&st["completedAt"]) && is_time(&st["startedAt"]), "{st}");
    assert_eq!(st["transactionCode"], done.attempt_id.as_str());
    assert_eq!(st["accountId"], t.tenant_id.as_str());
    // Started, not completed: the status only; JSON, files and JWT are 409.
    assert_eq!(api.get(&evidence_path(&sr, &started, "")).await.ok()["status"], "IN_PROGRESS");
    for suffix in ["/json", "/files", "/jwt"] {
        let b = assert_envelope(
            &api.get(&evidence_path(&sr, &started, suffix)).await,
            409,
            "constraint-violation",
            None,
        );
        assert!(b["message"].as_str().unwrap().contains("IN_PROGRESS"), "{b}");
    }
    // Not started, unknown, malformed, of another signature request: 404.
    let other_sr = format!("{sr}-elsewhere");
    let elsewhere = start_only(&native, &signer_body("Ella Else", "ella@example.org", &other_sr, 1), 95).await;
    for (sr_id, id) in [
        (sr.as_str(), waiting.as_str()),
        (sr.as_str(), "idv_00000000000000000000000000"),
        (sr.as_str(), "not-an-id"),
        (sr.as_str(), elsewhere.as_str()),
        ("sr-unknown", eid.as_str()),
    ] {
        for suffix in EVIDENCE_ENDPOINTS {
            assert_envelope(&api.get(&evidence_path(sr_id, id, suffix)).await, 404, "entity-not-found", None);
        }
    }

    // Approved by a reviewer; files and JWT are byte for byte the native exports.
    approve(&native, &eid).await;
    let st = api.get(&evidence_path(&sr, &eid, "")).await.ok();
    assert_eq!(st["status"], "APPROVED", "{st}");
    assert!(is_time(&st["reviewedAt"]) && st["reason"].is_null(), "{st}");
    let native_zip = native.get(&format!("/v1/verifications/{eid}/evidence.zip")).await.ok_bytes();
    let native_jwt = native.get(&format!("/v1/verifications/{eid}/evidence.jwt")).await.ok_bytes();
    let zip = api.get(&evidence_path(&sr, &eid, "/files")).await;
    assert_eq!(zip.content_type, "application/zip");
    assert!(zip.ok_bytes() == native_zip, "the ZIP differs from /v1/…/evidence.zip");
    let jwt = api
        .get(&format!("{V3}/signature-requests/{sr}/identification-evidences/{eid}/jwt"))
        .await;
    assert_eq!(jwt.content_type, "application/jwt");
    assert!(jwt.ok_bytes() == native_jwt, "the JWT differs from /v1/…/evidence.jwt");
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("evidence.zip");
    std::fs::write(&zip_path, &native_zip).unwrap();
    let report = Command::new("unzip")
        .arg("-p")
        .arg(&zip_path)
        .arg("report.json")
        .output()
        .expect("unzip -p");
    let json_body = api.get(&evidence_path(&sr, &eid, "/json")).await;
    assert_eq!(json_body.ok_bytes(), report.stdout, "JSON = the archive's report.json");
    let verified = server.cli(&["evidence", "verify", zip_path.to_str().unwrap()]).await;
    assert_eq!(verified.code, Some(0), "{}", verified.all_output());
    let trail = server.audit_trail(&t.tenant_id, &eid).await;
    for a in ["evidence.json.read", "evidence.zip.read", "evidence.jwt.read"] {
        assert!(trail.iter().any(|(x, _)| x == a), "audit trail lacks {a}: {trail:?}");
    }

    // Another tenant, even with the feature, sees none of it: 404 and no data.
    let (other, foreign) = client(&server, "Skribble Other").await;
    set_feature(&server, &other.tenant_id, true).await;
    for suffix in EVIDENCE_ENDPOINTS {
        let r = foreign.get(&evidence_path(&sr, &eid, suffix)).await;
        assert_envelope(&r, 404, "entity-not-found", None);
        assert!(!r.text().contains("quentin") && !r.text().contains(&t.tenant_id), "{}", r.text());
    }
    assert_envelope(&foreign.get(&sr_path(&sr)).await, 404, "entity-not-found", None);
    assert_envelope(
        &foreign.get(&format!("{}/callbacks", sr_path(&sr))).await,
        404,
        "entity-not-found",
        None,
    );

    // Anonymized: the status stays, the erased files are gone.
    native.post_empty(&format!("/v1/verifications/{eid}/anonymize")).await.ok();
    assert_eq!(api.get(&evidence_path(&sr, &eid, "")).await.ok()["status"], "APPROVED");
    for suffix in ["/json", "/files", "/jwt"] {
        assert_envelope(&api.get(&evidence_path(&sr, &eid, suffix)).await, 410, "problem-with-message", None);
    }
    let req = api.get(&sr_path(&sr)).await.ok();
    assert_eq!(
        signature(&req, &done.applicant_id)["signer_identity_data"]["email_address"],
        Value::Null,
        "{req}"
    );

    // Turning the feature off takes the endpoints away again.
    set_feature(&server, &t.tenant_id, false).await;
    assert_envelope(&api.get(&evidence_path(&sr, &eid, "")).await, 403, "feature-not-enabled", None);
    server.cli(&["audit", "verify"]).await.success();
}
