//! The BoldSign dialect at /compat/boldsign: the identity verification report (file ids),
//! the uploaded images, the embedded verification URL, sender identities (OnBehalfOf),
//! BoldSign's error body and statuses, and the official Python SDK (`boldsign`) reading
//! reports and images of an email signer and a phone signer.

use crate::flow::{approve, data, session_to_review, upload, wait_status};
use crate::harness::{Api, Resp, Server, sha256_hex, str_field};
use serde_json::{Value, json};
use std::time::Duration;

const BS: &str = "/compat/boldsign";
const PHONE_CC: &str = "+44";
const PHONE: &str = "7700900123";

fn path(endpoint: &str, document_id: &str) -> String {
    format!("{BS}/v1/identityVerification/{endpoint}?documentId={document_id}")
}

/// Assert BoldSign's error body `{"error": "…"}` (nothing else) and return the message.
fn bs_error(r: &Resp, status: u16) -> String {
    assert_eq!(r.status, status, "{}: expected {status}, got {} {}", r.what, r.status, r.text());
    assert!(r.content_type.starts_with("application/json"), "{}: {}", r.what, r.content_type);
    let v = r.json();
    let obj = v.as_object().unwrap_or_else(|| panic!("{}: not an object: {v}", r.what));
    assert_eq!(obj.len(), 1, "{}: only `error`: {v}", r.what);
    let m = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: error must be a string: {v}", r.what));
    assert!(!m.trim().is_empty(), "{}: {v}", r.what);
    m.to_owned()
}

fn assert_error(r: &Resp, status: u16, contains: &str) {
    let m = bs_error(r, status);
    assert!(
        m.contains(contains),
        "{}: expected an error containing {contains:?}, got {m:?}",
        r.what
    );
}

async fn report(api: &Api, doc: &str, body: Value) -> Resp {
    api.post(&path("report", doc), &body).await
}

async fn image(api: &Api, doc: &str, body: Value) -> Resp {
    api.post(&path("image", doc), &body).await
}

/// A request with `X-API-KEY` instead of a bearer token.
async fn with_x_api_key(server: &Server, key: &str, p: &str, body: &Value) -> Resp {
    let rb = reqwest::Client::new()
        .post(format!("{}{p}", server.base))
        .header("X-API-KEY", key)
        .json(body);
    server.anon().send(format!("POST {p} (X-API-KEY)"), rb).await
}

fn email_signer(email: &str, doc: &str, order: u32) -> Value {
    json!({
        "applicant": {"full_name": "Alex Gayle", "email": email},
        "declared_data": {"full_name": "Alex Gayle"},
        "reference": {"document_id": doc, "signer_order": order},
        "delivery": "email"
    })
}

fn phone_signer(doc: &str, order: u32) -> Value {
    json!({
        "applicant": {"full_name": "Luther Cooper", "phone_country_code": PHONE_CC, "phone_number": PHONE},
        "declared_data": {"full_name": "Luther Cooper"},
        "reference": {"document_id": doc, "signer_order": order},
        "delivery": "sms"
    })
}

async fn decline(api: &Api, vid: &str) {
    let v = api
        .post(
            &format!("/v1/verifications/{vid}/review"),
            &json!({"decision": "decline", "reason": "the selfie does not match the document"}),
        )
        .await
        .ok();
    assert_eq!(v["status"], "declined", "{v}");
}

#[tokio::test]
async fn boldsign_auth_and_request_errors() {
    let server = Server::start().await;
    let api = server.admin();
    let v = api
        .post("/v1/verifications", &email_signer("alex.gayle@example.com", "doc-errors", 1))
        .await
        .ok();
    let vid = str_field(&v, "id");
    let signer = json!({"emailId": "alex.gayle@example.com"});

    // Credentials: none, a wrong key as X-API-KEY or bearer.
    assert_error(&report(&server.anon(), "doc-errors", signer.clone()).await, 401, "Unauthorized");
    let r = with_x_api_key(&server, "kycd_test_wrong", &path("report", "doc-errors"), &signer).await;
    assert_error(&r, 401, "not valid");
    assert_error(
        &report(&server.client_for("kycd_test_wrong"), "doc-errors", signer.clone()).await,
        401,
        "not valid",
    );

    // The request: documentId, the signer, the body.
    let r = api.post(&format!("{BS}/v1/identityVerification/report"), &signer).await;
    assert_error(&r, 400, "documentId");
    let r = api.post(&path("report", ""), &signer).await;
    assert_error(&r, 400, "documentId");
    assert_error(&report(&api, "doc-errors", json!({})).await, 400, "EmailId");
    assert_error(&report(&api, "doc-errors", json!({"order": 1})).await, 400, "EmailId");
    assert_error(&report(&api, "doc-errors", json!({"countryCode": PHONE_CC})).await, 400, "together");
    assert_error(&report(&api, "doc-errors", json!({"PhoneNumber": PHONE})).await, 400, "together");
    assert_error(
        &report(&api, "doc-errors", json!({"emailId": "nope"})).await,
        400,
        "Invalid EmailId",
    );
    assert_error(
        &report(&api, "doc-errors", json!({"emailId": "a@example.com", "order": 0})).await,
        400,
        "Order",
    );
    let r = api
        .post_raw(&path("report", "doc-errors"), "application/json", b"{not json".to_vec())
        .await;
    assert_error(&r, 400, "JSON");

    // Document, signer, order.
    assert_error(&report(&api, "doc-unknown", signer.clone()).await, 403, "Invalid Document ID");
    assert_error(
        &report(&api, "doc-errors", json!({"emailId": "someone.else@example.com"})).await,
        400,
        "Signer not found",
    );
    assert_error(
        &report(&api, "doc-errors", json!({"countryCode": PHONE_CC, "phoneNumber": PHONE})).await,
        400,
        "Signer not found",
    );
    assert_error(
        &report(&api, "doc-errors", json!({"emailId": "alex.gayle@example.com", "order": 2})).await,
        400,
        "Order",
    );

    // Found, but nothing captured yet: not completed. PascalCase + X-API-KEY as in the
    // vendor's cURL samples, camelCase + bearer as the SDKs send, the email in other case,
    // the C# SDK's /v1-beta path.
    let r = with_x_api_key(
        &server,
        &server.admin_key,
        &path("report", "doc-errors"),
        &json!({"EmailId": "Alex.Gayle@Example.com", "Order": 1}),
    )
    .await;
    assert_error(&r, 400, "not completed");
    assert_error(&report(&api, "doc-errors", signer.clone()).await, 400, "not completed");
    let r = api
        .post(&format!("{BS}/v1-beta/identityVerification/report?documentId=doc-errors"), &signer)
        .await;
    assert_error(&r, 400, "not completed");

    // Image: FileId required, then the same rules.
    assert_error(&image(&api, "doc-errors", signer.clone()).await, 400, "FileId");
    let r = image(
        &api,
        "doc-errors",
        json!({"emailId": "alex.gayle@example.com", "fileId": "file_nothere"}),
    )
    .await;
    assert_error(&r, 400, "not completed");
    let r = image(
        &api,
        "doc-errors",
        json!({"emailId": "alex.gayle@example.com", "fileId": "../etc/passwd"}),
    )
    .await;
    assert_error(&r, 400, "Invalid File ID");

    // OnBehalfOf: a sender identity the tenant does not have.
    let r = report(
        &api,
        "doc-errors",
        json!({"emailId": "alex.gayle@example.com", "onBehalfOf": "nobody@example.com"}),
    )
    .await;
    assert_error(&r, 400, "OnBehalfOf");

    // Another tenant sees no such document.
    let other = server.inst.create_tenant("Other", false).await;
    let foreign = server.client_for(&other.api_key);
    assert_error(&report(&foreign, "doc-errors", signer.clone()).await, 403, "Invalid Document ID");
    let r = image(
        &foreign,
        "doc-errors",
        json!({"emailId": "alex.gayle@example.com", "fileId": "file_nothere"}),
    )
    .await;
    assert_error(&r, 403, "Invalid Document ID");
    // Another account's document and one that exists nowhere answer byte for byte alike
    // (BoldSign's 403) on the endpoints that read one: the answer tells nobody which
    // exists. (createEmbeddedVerificationUrl makes the caller's own verification for a
    // document it does not know.)
    for endpoint in ["report", "image"] {
        let body = json!({"emailId": "alex.gayle@example.com", "fileId": "file_nothere", "order": 1});
        let foreign_doc = foreign.post(&path(endpoint, "doc-errors"), &body).await;
        let unknown_doc = foreign.post(&path(endpoint, "doc-nowhere-at-all"), &body).await;
        let own_unknown = api.post(&path(endpoint, "doc-nowhere-at-all"), &body).await;
        for r in [&foreign_doc, &unknown_doc, &own_unknown] {
            assert_eq!(r.status, 403, "{}: {}", r.what, r.text());
            assert_eq!(r.json(), json!({"error": "Invalid Document ID"}), "{}", r.what);
            assert_eq!(
                (&r.content_type, &r.body),
                (&foreign_doc.content_type, &foreign_doc.body),
                "{}",
                r.what
            );
        }
    }

    // The sender turned identity verification off for the signer (cancelled before any image).
    api.post_empty(&format!("/v1/verifications/{vid}/cancel")).await.ok();
    assert_error(&report(&api, "doc-errors", signer.clone()).await, 400, "not enabled");

    // No such endpoint; the embedded URL refuses a redirect that is no URL.
    let r = api.post(&format!("{BS}/v1/identityVerification/nothing"), &signer).await;
    bs_error(&r, 404);
    let r = api
        .post(
            &path("createEmbeddedVerificationUrl", "doc-errors"),
            &json!({"emailId": "alex.gayle@example.com", "redirectUrl": "www.boldsign.com"}),
        )
        .await;
    assert_error(&r, 400, "RedirectUrl");
    assert_error(
        &api.post(&path("createEmbeddedVerificationUrl", "doc-errors"), &json!({})).await,
        400,
        "EmailId",
    );
}

/// `document` of a report: the file ids, in the vendor's field names.
fn file_ids(report: &Value) -> (Vec<String>, Option<String>) {
    let d = &report["document"];
    let docs = d["documentFiles"]
        .as_array()
        .unwrap_or_else(|| panic!("documentFiles must be an array: {report}"))
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    (docs, d["selfieFile"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn boldsign_report_and_images_for_email_and_phone_signers() {
    let server = Server::start().await;
    let api = server.admin();
    let doc = "55a6f0cf-1234-4321-9876-796d02cb0977";
    let email = email_signer("alex.gayle@example.com", doc, 1);
    let phone = phone_signer(doc, 2);
    let (a, b) = tokio::join!(session_to_review(&api, &email, 301), session_to_review(&api, &phone, 311));
    approve(&api, &a.vid).await;
    decline(&api, &b.vid).await;

    // The email signer: succeeded.
    let email_body = json!({"emailId": "alex.gayle@example.com", "order": 1});
    let r = report(&api, doc, email_body.clone()).await.ok();
    assert_eq!(r["verificationResult"], "Success", "{r}");
    assert!(r["error"].is_null(), "{r}");
    let verified = r["verifiedDate"].as_str().unwrap_or_else(|| panic!("verifiedDate: {r}"));
    assert!(chrono::DateTime::parse_from_rfc3339(verified).is_ok(), "{r}");
    for k in [
        "type",
        "firstName",
        "lastName",
        "country",
        "documentNumber",
        "address",
        "dob",
        "issuedDate",
        "expirationDate",
    ] {
        assert!(r["document"].get(k).is_some(), "document.{k} is present (null when unread): {r}");
    }
    let (docs, selfie) = file_ids(&r);
    assert_eq!(docs, vec![a.files[0].1.clone()], "{r}");
    assert_eq!(selfie.as_deref(), Some(a.files[1].1.as_str()), "{r}");

    // Each image streams back as uploaded, with its content type.
    for (kind, fid, bytes) in &a.files {
        let mut body = email_body.clone();
        body["fileId"] = json!(fid);
        let r = image(&api, doc, body).await;
        let want = if kind == "selfie" { "image/png" } else { "image/jpeg" };
        assert_eq!(r.content_type, want, "{kind}");
        assert_eq!(sha256_hex(&r.ok_bytes()), sha256_hex(bytes), "{kind}: the bytes uploaded");
    }
    // PascalCase with X-API-KEY, as the vendor's cURL sample.
    let r = with_x_api_key(
        &server,
        &server.admin_key,
        &path("image", doc),
        &json!({"EmailId": "alex.gayle@example.com", "Order": 1, "FileId": a.files[0].1}),
    )
    .await;
    assert_eq!(r.ok_bytes(), a.files[0].2);

    // The phone signer: failed, and its images are there all the same.
    let phone_body = json!({"countryCode": PHONE_CC, "phoneNumber": PHONE});
    let r = report(&api, doc, phone_body.clone()).await.ok();
    assert_eq!(r["verificationResult"], "Failed", "{r}");
    assert_eq!(r["error"]["code"], "DeclinedByReviewer", "{r}");
    assert!(r["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    let (docs, selfie) = file_ids(&r);
    assert_eq!(docs, vec![b.files[0].1.clone()]);
    assert_eq!(selfie.as_deref(), Some(b.files[1].1.as_str()));
    for (_, fid, bytes) in &b.files {
        let mut body = phone_body.clone();
        body["fileId"] = json!(fid);
        assert_eq!(image(&api, doc, body).await.ok_bytes(), *bytes);
    }
    // The number written with spaces, and the country code without '+': the same signer.
    let r = report(&api, doc, json!({"countryCode": "44", "phoneNumber": "7700 900 123"}))
        .await
        .ok();
    assert_eq!(r["verificationResult"], "Failed");

    // A file of the other signer, or of no one: refused.
    let mut body = email_body.clone();
    body["fileId"] = json!(b.files[0].1);
    assert_error(&image(&api, doc, body).await, 400, "Invalid File ID");
    let mut body = phone_body.clone();
    body["fileId"] = json!("file_doesnotexist");
    assert_error(&image(&api, doc, body).await, 400, "Invalid File ID");

    // Another tenant finds neither the document nor its files.
    let other = server.inst.create_tenant("Other", false).await;
    let foreign = server.client_for(&other.api_key);
    assert_error(&report(&foreign, doc, email_body.clone()).await, 403, "Invalid Document ID");
    let mut body = email_body.clone();
    body["fileId"] = json!(a.files[0].1);
    assert_error(&image(&foreign, doc, body).await, 403, "Invalid Document ID");

    // The same person signing at a second position: Order picks the verification.
    api.post("/v1/verifications", &email_signer("alex.gayle@example.com", doc, 3))
        .await
        .ok();
    assert_error(&report(&api, doc, json!({"emailId": "alex.gayle@example.com"})).await, 400, "Order");
    let r = report(&api, doc, email_body.clone()).await.ok();
    assert_eq!(r["verificationResult"], "Success");
    assert_error(
        &report(&api, doc, json!({"emailId": "alex.gayle@example.com", "order": 3})).await,
        400,
        "not completed",
    );

    // Every report read is in the verification's audit trail.
    let tenant = crate::console::first_tenant(&server).await;
    let trail = server.audit_trail(&tenant, &a.vid).await;
    let reads = trail.iter().filter(|(action, _)| action == "report.read").count();
    assert!(reads >= 2, "both BoldSign report reads of this signer are audited: {trail:?}");
}

/// A passport kycd reads shows in the report with BoldSign's field names and date shape.
#[tokio::test]
async fn boldsign_report_carries_what_the_passport_says() {
    let Some((passport, holder, birth)) = crate::decision::passport() else {
        return;
    };
    let server = Server::start().await;
    let api = server.admin();
    let doc = "doc-passport";
    let mut body = email_signer("holder@example.com", doc, 1);
    body["declared_data"] = json!({"full_name": holder, "birth_date": birth});
    body["policy"] = json!({"accepted_document_types": ["passport"], "selfie_required": false, "min_age": null});
    let v = api.post("/v1/verifications", &body).await.ok();
    let vid = str_field(&v, "id");
    let c = upload(&api, &vid, "document_front", "image/jpeg", &passport).await;
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    wait_status(&api, &vid, "approved", Duration::from_secs(180)).await;

    let r = report(&api, doc, json!({"emailId": "holder@example.com"})).await.ok();
    assert_eq!(r["verificationResult"], "Success", "{r}");
    let d = &r["document"];
    assert_eq!(d["type"], "Passport", "{r}");
    let full = format!("{} {}", d["firstName"].as_str().unwrap(), d["lastName"].as_str().unwrap());
    assert_eq!(
        full.split_whitespace().collect::<Vec<_>>(),
        holder.split_whitespace().collect::<Vec<_>>(),
        "{r}"
    );
    assert!(d["documentNumber"].as_str().is_some_and(|n| !n.is_empty()), "{r}");
    // ISO 3166-1 alpha-2, as BoldSign's (Stripe Identity's) document report writes it.
    assert!(
        d["country"]
            .as_str()
            .is_some_and(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())),
        "{r}"
    );
    let b = chrono::NaiveDate::parse_from_str(&birth, "%Y-%m-%d").unwrap();
    use chrono::Datelike;
    assert_eq!(d["dob"], json!({"day": b.day(), "month": b.month(), "year": b.year()}), "{r}");
    assert!(d["expirationDate"]["year"].as_i64().is_some(), "{r}");
    assert_eq!(d["documentFiles"], json!([str_field(&c, "id")]), "{r}");
    assert!(d["selfieFile"].is_null(), "no selfie was taken: {r}");
}

#[tokio::test]
async fn boldsign_embedded_verification_url_and_sender_identities() {
    let server = Server::start().await;
    let t = server.inst.create_tenant("Embed", false).await;
    let api = server.client_for(&t.api_key);
    let tenant = t.tenant_id.clone();
    let capture = format!("{}/capture?token=", server.base);
    let list = |api: Api| async move { data(&api.get("/v1/verifications?limit=100").await.ok()) };

    // A new document and signer: a verification is created, its capture link answered.
    let body = json!({"EmailId": "alex.gayle@example.com", "Order": 1, "RedirectUrl": "https://example.com/back"});
    let first = api.post(&path("createEmbeddedVerificationUrl", "doc-embed"), &body).await.ok();
    let url1 = str_field(&first, "url");
    assert!(url1.starts_with(&capture), "{first}");
    assert_eq!(first.as_object().unwrap().len(), 1, "only url: {first}");
    let vs = list(api.clone()).await;
    assert_eq!(vs.len(), 1, "{vs:?}");
    assert_eq!(vs[0]["reference"]["document_id"], "doc-embed");
    assert_eq!(vs[0]["reference"]["signer_order"], 1);
    assert_eq!(vs[0]["delivery"], "email");
    assert_eq!(vs[0]["status"], "pending");
    assert_eq!(
        vs[0]["callback_url"], "https://example.com/back",
        "RedirectUrl is where capture returns"
    );
    let vid = str_field(&vs[0], "id");

    // Again: the same verification, a fresh link (the first one stops working).
    let second = api.post(&path("createEmbeddedVerificationUrl", "doc-embed"), &body).await.ok();
    let url2 = str_field(&second, "url");
    assert!(url2.starts_with(&capture) && url2 != url1, "{second}");
    assert_eq!(list(api.clone()).await.len(), 1);
    let attempts = data(&api.get(&format!("/v1/verifications/{vid}/attempts")).await.ok());
    assert_eq!(attempts.len(), 2, "{attempts:?}");

    // The signer is now on the document: the report says not completed (not "not found").
    assert_error(
        &report(&api, "doc-embed", json!({"emailId": "alex.gayle@example.com"})).await,
        400,
        "not completed",
    );

    // A phone signer on the same document at position 2.
    let r = api
        .post(
            &path("createEmbeddedVerificationUrl", "doc-embed"),
            &json!({"countryCode": PHONE_CC, "phoneNumber": PHONE, "order": 2}),
        )
        .await
        .ok();
    assert!(str_field(&r, "url").starts_with(&capture));
    let vs = list(api.clone()).await;
    assert_eq!(vs.len(), 2);
    assert!(
        vs.iter().any(|v| v["delivery"] == "sms" && v["reference"]["signer_order"] == 2),
        "{vs:?}"
    );

    // Sender identities: managed with the CLI; OnBehalfOf binds the document to one.
    let added = server
        .cli(&[
            "sender",
            "add",
            "--tenant",
            &tenant,
            "--email",
            "Sender@Example.com",
            "--name",
            "Sales",
            "--json",
        ])
        .await
        .success_json();
    assert!(str_field(&added, "id").starts_with("snd_"), "{added}");
    let again = server
        .cli(&["sender", "add", "--tenant", &tenant, "--email", "sender@example.com"])
        .await;
    assert_ne!(again.code, Some(0), "a second identity with the same email is refused");
    let listed = server.cli(&["sender", "list", "--tenant", &tenant, "--json"]).await.success_json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    let behalf = json!({"emailId": "alex.gayle@example.com", "onBehalfOf": "sender@example.com"});
    let r = api.post(&path("createEmbeddedVerificationUrl", "doc-behalf"), &behalf).await.ok();
    assert!(str_field(&r, "url").starts_with(&capture));
    assert_error(&report(&api, "doc-behalf", behalf.clone()).await, 400, "not completed");
    // The account itself did not send it.
    let r = report(&api, "doc-behalf", json!({"emailId": "alex.gayle@example.com"})).await;
    assert_error(&r, 403, "sender");
    // Nor did it send doc-embed on behalf of the identity.
    let r = report(&api, "doc-embed", behalf.clone()).await;
    assert_error(&r, 403, "sender");
    let r = api
        .post(
            &path("createEmbeddedVerificationUrl", "doc-behalf"),
            &json!({"emailId": "alex.gayle@example.com", "onBehalfOf": "unknown@example.com"}),
        )
        .await;
    assert_error(&r, 400, "OnBehalfOf");

    // Another tenant's signer on a document of the same id is its own.
    let other = server.inst.create_tenant("Other", false).await;
    let foreign = server.client_for(&other.api_key);
    assert_error(
        &report(&foreign, "doc-embed", json!({"emailId": "alex.gayle@example.com"})).await,
        403,
        "Invalid Document ID",
    );

    // A reviewer key may not open capture flows.
    let (_, reviewer) = server.inst.create_key(&tenant, "reviewer").await;
    let r = server
        .client_for(&reviewer)
        .post(&path("createEmbeddedVerificationUrl", "doc-embed"), &body)
        .await;
    bs_error(&r, 403);
}

/// The official `boldsign` Python SDK reads the report and every image of an email signer
/// (succeeded) and a phone signer (failed).
#[tokio::test]
async fn boldsign_python_sdk_reads_reports_and_images() {
    let server = Server::start().await;
    let api = server.admin();
    let doc = "0f3c2a9e-sdk-4b1d-8c55-7e2f10a6b0c1";
    let (email, phone) = (email_signer("alex.gayle@example.com", doc, 1), phone_signer(doc, 2));
    let (a, b) = tokio::join!(session_to_review(&api, &email, 321), session_to_review(&api, &phone, 331));
    approve(&api, &a.vid).await;
    decline(&api, &b.vid).await;

    let dir = tempfile::tempdir().unwrap();
    let mut signers = Vec::new();
    for (session, signer, result) in [
        (&a, json!({"emailId": "alex.gayle@example.com", "order": 1}), "Success"),
        (&b, json!({"countryCode": PHONE_CC, "phoneNumber": PHONE}), "Failed"),
    ] {
        let mut files = Vec::new();
        for (kind, fid, bytes) in &session.files {
            let p = dir.path().join(format!("{fid}.bin"));
            std::fs::write(&p, bytes).unwrap();
            files.push(json!({"kind": kind, "file_id": fid, "path": p}));
        }
        signers.push(json!({"signer": signer, "result": result, "files": files}));
    }
    let spec = json!({
        "host": format!("{}{BS}", server.base),
        "api_key": server.admin_key,
        "document_id": doc,
        "signers": signers,
    });
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    crate::harness::run_python_script(&server, "boldsign_sdk_compat.py", "boldsign", &[spec_path.as_os_str()]).await;
}
