//! The Yousign dialect at `/compat/yousign/v3`: the signature request's signers with
//! `signer_identity_data.evidence_id`, and the identification evidence endpoints (status,
//! JSON, files, JWT) behind the tenant's `express_qes_evidence` feature. The files and the
//! JWT must be byte for byte kycd's native evidence exports; a plain Python client written
//! from the wire spec validates every answer against the spec's schemas.

use crate::flow::{approve, create_attempt, create_verification, session_to_review, upload};
use crate::harness::{Api, Resp, Server, document_jpeg, str_field};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::process::Command;

const BASE: &str = "/compat/yousign/v3";

fn sr_path(sr: &str) -> String {
    format!("{BASE}/signature_requests/{sr}")
}

fn evidence_path(sr: &str, eid: &str, suffix: &str) -> String {
    format!("{BASE}/signature_requests/{sr}/identification_evidences/{eid}{suffix}")
}

/// The four evidence endpoints: status, JSON, files, JWT.
const EVIDENCE_ENDPOINTS: [&str; 4] = ["", "/json", "/files", "/jwt"];

fn unique_sr(tag: &str) -> String {
    format!("sr-{tag}-{}", std::process::id())
}

/// A verification for one signer of signature request `sr`.
fn signer_body(name: &str, email: &str, sr: &str, order: u32) -> Value {
    json!({
        "applicant": {"full_name": name, "email": email},
        "declared_data": {"full_name": name},
        "delivery": "none",
        "reference": {"signature_request_id": sr, "signer_order": order},
    })
}

/// The dialect's error: RFC 9457 problem+json whose `type` is the bare problem word.
fn assert_problem(r: &Resp, status: u16, kind: &str) -> Value {
    assert_eq!(
        r.status,
        status,
        "{}: expected {status} {kind}, got {} {}",
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
    assert_eq!(b["type"], kind, "{}: {b}", r.what);
    assert_eq!(b["status"], status, "{}: {b}", r.what);
    for f in ["title", "detail"] {
        assert!(
            b[f].as_str().is_some_and(|s| !s.trim().is_empty()),
            "{}: problem needs {f}: {b}",
            r.what
        );
    }
    b
}

async fn set_feature(server: &Server, tenant: &str, on: bool) -> Value {
    let flag = if on { "--enable" } else { "--disable" };
    server
        .cli(&["tenant", "features", "--tenant", tenant, flag, "express_qes_evidence", "--json"])
        .await
        .success_json()
}

/// Start a signer's identification without finishing it: an attempt and one capture.
async fn start_only(api: &Api, body: &Value, seed: u64) -> String {
    let v = create_verification(api, body).await;
    let vid = str_field(&v, "id");
    create_attempt(api, &vid).await;
    upload(api, &vid, "document_front", "image/jpeg", &document_jpeg(seed)).await;
    vid
}

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'))
}

fn signer_of<'a>(sr: &'a Value, evidence_id: Option<&str>) -> &'a Value {
    sr["signers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["signer_identity_data"]["evidence_id"].as_str() == evidence_id)
        .unwrap_or_else(|| panic!("no signer with evidence_id {evidence_id:?} in {sr}"))
}

#[tokio::test]
async fn the_feature_the_key_and_the_signature_request_guard_every_evidence() {
    let server = Server::start().await;
    let t = server.instance().create_tenant("Yousign Guard", false).await;
    let api = server.client_for(&t.api_key);
    let sr = unique_sr("guard");
    let started = start_only(&api, &signer_body("Gina Guard", "gina@example.org", &sr, 1), 81).await;
    let waiting = str_field(
        &create_verification(&api, &signer_body("Wes Waiting", "wes@example.org", &sr, 2)).await,
        "id",
    );

    // Features are off until the operator turns them on; the CLI says which exist.
    let listed = server
        .cli(&["tenant", "features", "--tenant", &t.tenant_id, "--json"])
        .await
        .success_json();
    assert_eq!(listed["features"], json!([]), "{listed}");
    let bad = server
        .cli(&["tenant", "features", "--tenant", &t.tenant_id, "--enable", "express-qes"])
        .await;
    assert_ne!(bad.code, Some(0), "{}", bad.all_output());
    assert!(bad.all_output().contains("express_qes_evidence"), "{}", bad.all_output());

    // Without the feature: 403 feature-not-enabled on every evidence endpoint, known or
    // unknown ids alike; the signature request itself still answers.
    for suffix in EVIDENCE_ENDPOINTS {
        for eid in [started.as_str(), "idv_unknown"] {
            let r = api.get(&evidence_path(&sr, eid, suffix)).await;
            let b = assert_problem(&r, 403, "feature-not-enabled");
            assert!(str_field(&b, "detail").contains("express_qes_evidence"), "{b}");
        }
    }
    api.get(&sr_path(&sr)).await.ok();

    let on = set_feature(&server, &t.tenant_id, true).await;
    assert_eq!(on["features"], json!(["express_qes_evidence"]), "{on}");
    assert_eq!(on["tenant_id"], t.tenant_id.as_str());

    // Signers: the started one carries its evidence id, the waiting one none yet.
    let req = api.get(&sr_path(&sr)).await.ok();
    assert_eq!(req["id"], sr.as_str());
    let signers = req["signers"].as_array().unwrap();
    assert_eq!(signers.len(), 2, "{req}");
    assert_eq!(
        signers[0]["signer_identity_data"]["evidence_id"],
        started.as_str(),
        "signing order: {req}"
    );
    assert_eq!(signers[0]["status"], "processing");
    assert_eq!(signers[1]["signer_identity_data"]["evidence_id"], Value::Null);
    assert_eq!(signers[1]["status"], "notified");
    for s in signers {
        assert_eq!(s["signature_level"], "qualified_electronic_signature");
        assert!(str_field(s, "id").starts_with("aplt_"), "{s}");
        let one = api.get(&format!("{}/signers/{}", sr_path(&sr), str_field(s, "id"))).await.ok();
        assert_eq!(&one, s);
    }
    assert_eq!(api.get(&format!("{}/signers", sr_path(&sr))).await.ok(), req["signers"]);

    // Started, not completed: status yes, JSON / files / JWT 409.
    let st = api.get(&evidence_path(&sr, &started, "")).await.ok();
    assert_eq!(st["id"], started.as_str());
    assert_eq!(st["status"], "IN_PROGRESS");
    assert_eq!(st["reason"], Value::Null);
    assert!(
        is_time(&st["startedAt"]) && is_time(&st["createdAt"]) && is_time(&st["expiresAt"]),
        "{st}"
    );
    assert_eq!(st["completedAt"], Value::Null);
    assert_eq!(st["reviewedAt"], Value::Null);
    for suffix in ["/json", "/files", "/jwt"] {
        let r = api.get(&evidence_path(&sr, &started, suffix)).await;
        let b = assert_problem(&r, 409, "identification-not-completed");
        assert!(str_field(&b, "detail").contains("IN_PROGRESS"), "{b}");
    }

    // Not started: no evidence record yet. Unknown, malformed, or of another signature
    // request: 404.
    let other_sr = unique_sr("elsewhere");
    let elsewhere = start_only(&api, &signer_body("Ella Else", "ella@example.org", &other_sr, 1), 83).await;
    for (sr_id, eid) in [
        (sr.as_str(), waiting.as_str()),
        (sr.as_str(), "idv_00000000000000000000000000"),
        (sr.as_str(), "not-an-id"),
        (sr.as_str(), elsewhere.as_str()),
        ("sr-unknown", started.as_str()),
    ] {
        for suffix in EVIDENCE_ENDPOINTS {
            assert_problem(&api.get(&evidence_path(sr_id, eid, suffix)).await, 404, "not-found");
        }
    }
    assert_problem(&api.get(&sr_path("sr-unknown")).await, 404, "not-found");
    assert_problem(&api.get(&format!("{}/signers", sr_path("sr-unknown"))).await, 404, "not-found");
    assert_problem(&api.get(&format!("{}/signers/aplt_nobody", sr_path(&sr))).await, 404, "not-found");
    assert_problem(&api.get(&format!("{BASE}/no_such_thing")).await, 404, "not-found");

    // Another tenant, even with the feature, sees none of it.
    let other = server.instance().create_tenant("Yousign Other", false).await;
    set_feature(&server, &other.tenant_id, true).await;
    let foreign = server.client_for(&other.api_key);
    for suffix in EVIDENCE_ENDPOINTS {
        assert_problem(&foreign.get(&evidence_path(&sr, &started, suffix)).await, 404, "not-found");
    }
    assert_problem(&foreign.get(&sr_path(&sr)).await, 404, "not-found");

    // Keys: missing, malformed, not a kycd key, revoked → 401 with a Bearer challenge.
    let anon = server.anon();
    let path = evidence_path(&sr, &started, "");
    assert_problem(&anon.get(&path).await, 401, "unauthorized");
    assert_problem(&anon.get(&sr_path(&sr)).await, 401, "unauthorized");
    for key in ["kycd_test_not-a-real-key", "garbage"] {
        assert_problem(&server.client_for(key).get(&path).await, 401, "unauthorized");
    }
    let (key_id, key) = server.instance().create_key(&t.tenant_id, "integration").await;
    server.client_for(&key).get(&path).await.ok();
    server.cli(&["apikey", "revoke", &key_id]).await.success();
    assert_problem(&server.client_for(&key).get(&path).await, 401, "unauthorized");

    // Disabling takes the endpoints away again (audited).
    let off = set_feature(&server, &t.tenant_id, false).await;
    assert_eq!(off["features"], json!([]), "{off}");
    assert_problem(&api.get(&path).await, 403, "feature-not-enabled");
    let plain = server.cli(&["tenant", "features", "--tenant", &t.tenant_id]).await;
    assert!(plain.success().stdout.contains("no features enabled"), "{}", plain.all_output());
    server.cli(&["audit", "verify"]).await.success();
}

#[tokio::test]
async fn completed_evidence_is_the_native_evidence_and_a_plain_client_accepts_it() {
    let server = Server::start().await;
    let t = server.instance().create_tenant("Yousign Evidence", false).await;
    set_feature(&server, &t.tenant_id, true).await;
    let api = server.client_for(&t.api_key);
    let sr = unique_sr("done");
    let s = session_to_review(&api, &signer_body("Quentin Qes", "quentin@example.org", &sr, 1), 91).await;
    let pending = start_only(&api, &signer_body("Paula Pending", "paula@example.org", &sr, 2), 93).await;
    let eid = s.vid.clone();

    // Pending review: completed (JSON, files, JWT served), with the review reason.
    let req = api.get(&sr_path(&sr)).await.ok();
    let signer = signer_of(&req, Some(&eid)).clone();
    assert_eq!(signer["id"], s.applicant_id.as_str());
    assert_eq!(signer["status"], "processing");
    let st = api.get(&evidence_path(&sr, &eid, "")).await.ok();
    assert_eq!(st["status"], "PENDING_REVIEW", "{st}");
    assert!(st["reason"].as_str().is_some_and(|r| !r.is_empty()), "{st}");
    assert!(is_time(&st["completedAt"]), "{st}");
    assert_eq!(st["reviewedAt"], Value::Null);
    assert_eq!(st["transactionCode"], s.attempt_id.as_str());
    assert_eq!(st["accountId"], t.tenant_id.as_str());
    assert!(str_field(&st, "workflowId").starts_with("wfl_"), "{st}");
    api.get(&evidence_path(&sr, &eid, "/json")).await.ok();

    // Approved by a reviewer.
    approve(&api, &eid).await;
    let st = api.get(&evidence_path(&sr, &eid, "")).await.ok();
    assert_eq!(st["status"], "APPROVED", "{st}");
    assert_eq!(st["reason"], Value::Null);
    assert!(is_time(&st["reviewedAt"]), "{st}");
    let (started, completed, reviewed) = (
        str_field(&st, "startedAt"),
        str_field(&st, "completedAt"),
        str_field(&st, "reviewedAt"),
    );
    assert!(
        str_field(&st, "createdAt") <= started && started <= completed && completed <= reviewed,
        "{st}"
    );
    let native = api.get(&format!("/v1/verifications/{eid}")).await.ok();
    assert_eq!(st["createdAt"], native["created_at"], "same instant, same format: {native}");
    let req = api.get(&sr_path(&sr)).await.ok();
    assert_eq!(signer_of(&req, Some(&eid))["status"], "verified");

    // Files and JWT: the native bytes (twice, so the equality is no accident of timing).
    let native_zip = api.get(&format!("/v1/verifications/{eid}/evidence.zip")).await.ok_bytes();
    let native_jwt = api.get(&format!("/v1/verifications/{eid}/evidence.jwt")).await.ok_bytes();
    for _ in 0..2 {
        let zip = api.get(&evidence_path(&sr, &eid, "/files")).await;
        assert_eq!(zip.content_type, "application/zip");
        assert!(zip.ok_bytes() == native_zip, "the ZIP differs from /v1/…/evidence.zip");
        let jwt = api.get(&evidence_path(&sr, &eid, "/jwt")).await;
        assert_eq!(jwt.content_type, "application/jwt");
        assert!(jwt.ok_bytes() == native_jwt, "the JWT differs from /v1/…/evidence.jwt");
    }

    // Checked with tools that are not the dialect: unzip, the CLI's offline verifier, and
    // the archive's own report.json and evidence.jwt against the JSON and JWT endpoints.
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("evidence.zip");
    std::fs::write(&zip_path, &native_zip).unwrap();
    let unzip = Command::new("unzip").arg("-t").arg(&zip_path).output().expect("unzip");
    assert!(unzip.status.success(), "unzip -t: {}", String::from_utf8_lossy(&unzip.stdout));
    let entry = |name: &str| {
        let out = Command::new("unzip").arg("-p").arg(&zip_path).arg(name).output().expect("unzip -p");
        assert!(out.status.success(), "unzip -p {name}");
        out.stdout
    };
    let json_body = api.get(&evidence_path(&sr, &eid, "/json")).await;
    assert!(json_body.content_type.starts_with("application/json"), "{}", json_body.content_type);
    assert_eq!(json_body.ok_bytes(), entry("report.json"), "JSON = the archive's report.json");
    assert_eq!(json_body.json()["verification_id"], eid.as_str(), "{}", json_body.text());
    // The archive's own token also attests manifest.json; it is the same evidence (jti).
    let claims = |jwt: &[u8]| -> Value {
        let payload = String::from_utf8_lossy(jwt).split('.').nth(1).unwrap().to_owned();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let (inside, served) = (claims(&entry("evidence.jwt")), claims(&native_jwt));
    assert_eq!(inside["jti"], served["jti"], "{inside} vs {served}");
    assert_eq!(served["sub"], eid.as_str(), "{served}");
    let verified = server.cli(&["evidence", "verify", zip_path.to_str().unwrap()]).await;
    assert_eq!(verified.code, Some(0), "{}", verified.all_output());

    // Every read is on the verification's audit trail.
    let report = api.get(&format!("/v1/verifications/{eid}/report")).await.ok();
    let actions: Vec<String> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| str_field(e, "action"))
        .collect();
    for a in ["evidence.json.read", "evidence.zip.read", "evidence.jwt.read"] {
        assert!(actions.iter().any(|x| x == a), "timeline lacks {a}: {actions:?}");
    }

    // The plain client, written from the wire spec.
    let no_feature = server.instance().create_tenant("Yousign No Feature", false).await;
    run_plain_client(&server, &t.api_key, &sr, &eid, &pending, &no_feature.api_key).await;

    // Anonymized: the status stays, the erased files are gone.
    api.post_empty(&format!("/v1/verifications/{eid}/anonymize")).await.ok();
    assert_eq!(api.get(&evidence_path(&sr, &eid, "")).await.ok()["status"], "APPROVED");
    for suffix in ["/json", "/files", "/jwt"] {
        assert_problem(&api.get(&evidence_path(&sr, &eid, suffix)).await, 410, "evidence-erased");
    }
}

async fn run_plain_client(server: &Server, key: &str, sr: &str, eid: &str, pending: &str, no_feature_key: &str) {
    let python = std::env::var("KYCD_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "KYCD_TEST_PYTHON is not set: run scripts/test, or: python3 -m venv target/pyvenv && \
             target/pyvenv/bin/pip install jsonschema && export KYCD_TEST_PYTHON=$PWD/target/pyvenv/bin/python"
        )
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/yousign_client.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .env("KYCD_BASE", server.anon().url(BASE))
        .env("API_KEY", key)
        .env("SR_ID", sr)
        .env("EVIDENCE_ID", eid)
        .env("PENDING_EVIDENCE_ID", pending)
        .env("NO_FEATURE_API_KEY", no_feature_key)
        .output()
        .await
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the plain Yousign client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("yousign flow OK"), "{stdout}\n{stderr}");
}
