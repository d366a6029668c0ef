//! The Checkout.com dialect at /compat/checkout: applicants, identity verifications,
//! attempts, assets, the PDF report, anonymization, the token endpoint, Checkout's error
//! body, and the official Python SDK (`checkout-sdk`) driving a whole verification.

use crate::flow::{approve, upload, wait_status};
use crate::harness::{Api, Resp, Server, document_jpeg, selfie_png, str_field};
use serde_json::{Value, json};
use std::time::Duration;

const CK: &str = "/compat/checkout";

fn path(p: &str) -> String {
    format!("{CK}{p}")
}

/// Assert Checkout's error body: `{request_id, error_type, error_codes}` plus the
/// `Cko-Request-Id` header is checked elsewhere; returns the codes.
fn ck_error(r: &Resp, status: u16, error_type: &str) -> Vec<String> {
    assert_eq!(r.status, status, "{}: expected {status}, got {} {}", r.what, r.status, r.text());
    assert!(r.content_type.starts_with("application/json"), "{}: {}", r.what, r.content_type);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["request_id"].as_str().is_some_and(|s| !s.is_empty()), "{}: {v}", r.what);
    assert_eq!(v["error_type"], error_type, "{}: {v}", r.what);
    v["error_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: error_codes must be an array: {v}", r.what))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

async fn create_applicant(api: &Api) -> Value {
    let r = api
        .post(
            &path("/applicants"),
            &json!({"external_applicant_id": "eaplt_1", "email": "hannah.bret@example.com", "external_applicant_name": "Hannah Bret"}),
        )
        .await;
    r.expect(201);
    r.json()
}

async fn create_idv(api: &Api, applicant: &str) -> Value {
    let r = api
        .post(
            &path("/identity-verifications"),
            &json!({"applicant_id": applicant, "declared_data": {"name": "Hannah Bret", "birth_date": "1984-10-02"}}),
        )
        .await;
    r.expect(201);
    r.json()
}

async fn create_attempt(api: &Api, vid: &str, body: &Value) -> Value {
    let r = api.post(&path(&format!("/identity-verifications/{vid}/attempts")), body).await;
    r.expect(201);
    r.json()
}

fn href(v: &Value, link: &str) -> String {
    v["_links"][link]["href"]
        .as_str()
        .unwrap_or_else(|| panic!("no _links.{link}.href in {v}"))
        .to_owned()
}

/// An absolute link of kycd's Checkout API, as a path for the client.
fn local(server: &Server, href: &str) -> String {
    href.strip_prefix(&server.base)
        .unwrap_or_else(|| panic!("{href} does not point at kycd ({})", server.base))
        .to_owned()
}

#[tokio::test]
async fn checkout_auth_applicants_and_errors() {
    let server = Server::start().await;
    let api = server.admin();

    // No credentials, a wrong key, a token of another dialect: 401 in Checkout's body.
    let r = server.anon().get(&path("/applicants/aplt_x")).await;
    assert_eq!(ck_error(&r, 401, "unauthorized"), vec!["authorization_required"]);
    let r = server.client_for("kycd_test_wrong").get(&path("/applicants/aplt_x")).await;
    assert_eq!(ck_error(&r, 401, "unauthorized"), vec!["invalid_authorization"]);
    let r = server.client_for("kycd_at_forged").get(&path("/applicants/aplt_x")).await;
    assert_eq!(ck_error(&r, 401, "unauthorized"), vec!["invalid_authorization"]);

    // Create, read, update.
    let a = create_applicant(&api).await;
    let aid = str_field(&a, "id");
    assert!(aid.starts_with("aplt_"), "{a}");
    assert_eq!(a["external_applicant_id"], "eaplt_1");
    assert_eq!(a["email"], "hannah.bret@example.com");
    assert_eq!(a["external_applicant_name"], "Hannah Bret");
    assert!(a["created_on"].as_str().unwrap().ends_with('Z'), "{a}");
    assert_eq!(href(&a, "self"), format!("{}{CK}/applicants/{aid}", server.base));
    let got = api.get(&path(&format!("/applicants/{aid}"))).await.ok();
    assert_eq!(got["id"], aid.as_str());
    let upd = api
        .patch(&path(&format!("/applicants/{aid}")), &json!({"email": "h.b@example.com"}))
        .await
        .ok();
    assert_eq!(upd["email"], "h.b@example.com");
    assert_eq!(upd["external_applicant_name"], "Hannah Bret", "untouched fields stay: {upd}");

    // Bad input: every field named.
    let r = api
        .post(
            &path("/applicants"),
            &json!({"email": "not-an-email", "external_applicant_name": 7}),
        )
        .await;
    assert_eq!(
        ck_error(&r, 422, "request_invalid"),
        vec!["email_invalid", "external_applicant_name_invalid"]
    );
    let r = api.post_raw(&path("/applicants"), "application/json", b"{not json".to_vec()).await;
    assert_eq!(ck_error(&r, 400, "request_malformed"), vec!["request_body_malformed"]);
    let r = api.post_raw(&path("/applicants"), "application/json", b"[]".to_vec()).await;
    assert_eq!(ck_error(&r, 422, "request_invalid"), vec!["request_body_invalid"]);

    // Unknown and malformed ids, unknown routes.
    let r = api.get(&path("/applicants/aplt_unknown")).await;
    assert_eq!(ck_error(&r, 404, "resource_not_found"), vec!["applicant_not_found"]);
    let r = api.get(&path("/applicants/idv_wrongprefix")).await;
    assert_eq!(ck_error(&r, 404, "resource_not_found"), vec!["applicant_not_found"]);
    let r = api.get(&path("/no-such-thing")).await;
    assert_eq!(ck_error(&r, 404, "resource_not_found"), vec!["resource_not_found"]);

    // Another tenant's applicant is not found, in Checkout's body, and never changed.
    let other = server.inst.create_tenant("Other", false).await;
    let foreign = server.client_for(&other.api_key);
    let r = foreign.get(&path(&format!("/applicants/{aid}"))).await;
    assert_eq!(ck_error(&r, 404, "resource_not_found"), vec!["applicant_not_found"]);
    let r = foreign
        .patch(&path(&format!("/applicants/{aid}")), &json!({"email": "x@example.com"}))
        .await;
    assert_eq!(r.status, 404);
    let r = foreign.post_empty(&path(&format!("/applicants/{aid}/anonymize"))).await;
    assert_eq!(r.status, 404);
    let r = foreign
        .post(
            &path("/identity-verifications"),
            &json!({"applicant_id": aid, "declared_data": {"name": "Hannah Bret"}}),
        )
        .await;
    assert_eq!(ck_error(&r, 404, "resource_not_found"), vec!["applicant_not_found"]);

    // Anonymize: personal data gone, id and times stay; no update afterwards.
    let anon = api.post_empty(&path(&format!("/applicants/{aid}/anonymize"))).await.ok();
    assert_eq!(anon["id"], aid.as_str());
    for k in ["email", "external_applicant_id", "external_applicant_name"] {
        assert!(anon.get(k).is_none(), "{k} must be erased: {anon}");
    }
    let r = api
        .patch(&path(&format!("/applicants/{aid}")), &json!({"email": "again@example.com"}))
        .await;
    assert_eq!(ck_error(&r, 422, "request_invalid"), vec!["applicant_anonymized"]);
}

#[tokio::test]
async fn checkout_token_endpoint_issues_tokens_for_this_dialect_only() {
    let server = Server::start().await;
    let t = server.inst.create_tenant("Tokens", false).await;
    let form = |id: &str, secret: &str| format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let r = server
        .anon()
        .post_raw(
            &path("/connect/token"),
            "application/x-www-form-urlencoded",
            form(&t.key_id, &t.api_key).into_bytes(),
        )
        .await;
    let tok = r.ok();
    assert_eq!(tok["token_type"], "Bearer");
    assert!(tok["expires_in"].as_i64().unwrap() > 0);
    let access = str_field(&tok, "access_token");
    let with_token = server.client_for(&access);
    let a = create_applicant(&with_token).await;
    // The token acts as its key: the key's tenant sees the applicant.
    server
        .client_for(&t.api_key)
        .get(&path(&format!("/applicants/{}", str_field(&a, "id"))))
        .await
        .ok();
    // The native API and another dialect do not take it.
    assert_eq!(with_token.get("/v1/applicants").await.status, 401);
    let r = server
        .anon()
        .post_raw(
            "/compat/transmit/oidc/token",
            "application/x-www-form-urlencoded",
            form(&t.key_id, &t.api_key).into_bytes(),
        )
        .await;
    let transmit = str_field(&r.ok(), "access_token");
    let r = server.client_for(&transmit).get(&path("/applicants/aplt_x")).await;
    assert_eq!(ck_error(&r, 401, "unauthorized"), vec!["invalid_authorization"]);
    // Wrong secret, wrong grant: OAuth's own error body.
    let r = server
        .anon()
        .post_raw(
            &path("/connect/token"),
            "application/x-www-form-urlencoded",
            form(&t.key_id, "kycd_test_nope").into_bytes(),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    let r = server
        .anon()
        .post_raw(
            &path("/connect/token"),
            "application/x-www-form-urlencoded",
            b"grant_type=password".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn checkout_verification_attempts_result_report_and_anonymize() {
    let server = Server::start().await;
    let api = server.admin();
    let a = create_applicant(&api).await;
    let aid = str_field(&a, "id");

    // Validation names every field.
    let r = api.post(&path("/identity-verifications"), &json!({})).await;
    assert_eq!(
        ck_error(&r, 422, "request_invalid"),
        vec!["applicant_id_required", "declared_data_required"]
    );
    let r = api
        .post(
            &path("/identity-verifications"),
            &json!({"applicant_id": aid, "declared_data": {"birth_date": "1984-13-40"}, "user_journey_id": "usj_BAD"}),
        )
        .await;
    assert_eq!(
        ck_error(&r, 422, "request_invalid"),
        vec![
            "declared_data_name_required",
            "declared_data_birth_date_invalid",
            "user_journey_id_invalid"
        ]
    );

    // Create: status created, the tenant's default configuration id, links to kycd.
    let v = create_idv(&api, &aid).await;
    let vid = str_field(&v, "id");
    assert!(vid.starts_with("idv_"));
    assert_eq!(v["status"], "created");
    assert_eq!(v["applicant_id"], aid.as_str());
    assert!(str_field(&v, "user_journey_id").starts_with("usj_"), "{v}");
    assert_eq!(v["declared_data"], json!({"name": "Hannah Bret", "birth_date": "1984-10-02"}));
    assert_eq!(v["response_codes"], json!([]));
    assert_eq!(v["risk_labels"], json!([]));
    assert_eq!(v["documents"], json!([]));
    assert!(v.get("verified_identity").is_none());
    assert_eq!(href(&v, "self"), format!("{}{CK}/identity-verifications/{vid}", server.base));
    assert_eq!(href(&v, "applicant"), format!("{}{CK}/applicants/{aid}", server.base));
    // A given configuration id is kept.
    let v2 = api
        .post(
            &path("/identity-verifications"),
            &json!({"applicant_id": aid, "declared_data": {"name": "Hannah Bret"}, "user_journey_id": "usj_01heqt35wmjrf3wjd7w1wz33p2"}),
        )
        .await;
    v2.expect(201);
    let v2 = v2.json();
    let got = api
        .get(&path(&format!("/identity-verifications/{}", str_field(&v2, "id"))))
        .await
        .ok();
    assert_eq!(got["user_journey_id"], "usj_01heqt35wmjrf3wjd7w1wz33p2");

    // The report exists only once decided.
    let r = api.get(&path(&format!("/identity-verifications/{vid}/pdf-report"))).await;
    assert_eq!(ck_error(&r, 404, "resource_not_found"), vec!["pdf_report_not_available"]);

    // Attempts: redirect_url required; client information kept in the vendor's words.
    let r = api
        .post(&path(&format!("/identity-verifications/{vid}/attempts")), &json!({}))
        .await;
    assert_eq!(ck_error(&r, 422, "request_invalid"), vec!["redirect_url_required"]);
    let first = create_attempt(&api, &vid, &json!({"redirect_url": "https://example.com/first"})).await;
    let first_id = str_field(&first, "id");
    assert!(first_id.starts_with("iatp_"));
    assert_eq!(first["status"], "pending_redirection");
    assert!(href(&first, "verification_url").contains("/capture?token="), "{first}");
    assert_eq!(
        api.get(&path(&format!("/identity-verifications/{vid}"))).await.ok()["status"],
        "pending"
    );
    let second = create_attempt(
        &api,
        &vid,
        &json!({"redirect_url": "https://example.com/second", "phone_number": {"country_code": "+33", "number": "5555550102"},
            "client_information": {"pre_selected_residence_country": "FR", "pre_selected_language": "en-US", "pre_selected_document_type": "Passport"}}),
    )
    .await;
    let second_id = str_field(&second, "id");
    assert_eq!(second["redirect_url"], "https://example.com/second");
    // The verification echoes its latest attempt's redirect_url.
    let v_now = api.get(&path(&format!("/identity-verifications/{vid}"))).await.ok();
    assert_eq!(v_now["redirect_url"], "https://example.com/second", "{v_now}");
    assert_eq!(
        second["client_information"],
        json!({"pre_selected_residence_country": "FR", "pre_selected_language": "en-US", "pre_selected_document_type": "Passport"})
    );
    // The new attempt closed the first one.
    let f = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts/{first_id}")))
        .await
        .ok();
    assert_eq!(f["status"], "terminated");
    assert_eq!(f["response_codes"], json!([{"code": 64001, "summary": "forcibly_closed"}]));
    assert_eq!(f["redirect_url"], "https://example.com/first");
    assert!(f["_links"].get("verification_url").is_none(), "the start token is shown once: {f}");
    assert_eq!(
        href(&f, "self"),
        format!("{}{CK}/identity-verifications/{vid}/attempts/{first_id}", server.base)
    );

    // Pagination: newest first, with the vendor's envelope.
    let list = api.get(&path(&format!("/identity-verifications/{vid}/attempts"))).await.ok();
    assert_eq!(
        (list["total_count"].as_u64(), list["skip"].as_u64(), list["limit"].as_u64()),
        (Some(2), Some(0), Some(10))
    );
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![second_id.as_str(), first_id.as_str()]);
    let page = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts?skip=1&limit=1")))
        .await
        .ok();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], first_id.as_str());
    assert_eq!(
        (page["total_count"].as_u64(), page["skip"].as_u64(), page["limit"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    assert!(href(&page, "previous").contains("skip=0&limit=1"), "{page}");
    assert!(page["_links"].get("next").is_none());
    let first_page = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts?limit=1")))
        .await
        .ok();
    assert!(href(&first_page, "next").contains("skip=1&limit=1"), "{first_page}");
    let beyond = api.get(&path(&format!("/identity-verifications/{vid}/attempts?skip=5"))).await.ok();
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["total_count"], 2);
    for (q, status, code) in [
        ("skip=abc", 400, "skip_invalid"),
        ("limit=1.5", 400, "limit_invalid"),
        ("skip=1&skip=2", 400, "skip_invalid"),
        ("skip=-1", 422, "skip_invalid"),
        ("limit=0", 422, "limit_invalid"),
        ("limit=101", 422, "limit_invalid"),
    ] {
        let r = api.get(&path(&format!("/identity-verifications/{vid}/attempts?{q}"))).await;
        let t = if status == 400 { "request_malformed" } else { "request_invalid" };
        assert_eq!(ck_error(&r, status, t), vec![code], "{q}");
    }

    // Capture through kycd's native API (the applicant's side), then processing.
    let front = document_jpeg(41);
    let selfie = selfie_png(42);
    upload(&api, &vid, "document_front", "image/jpeg", &front).await;
    let v_now = api.get(&path(&format!("/identity-verifications/{vid}"))).await.ok();
    assert_eq!(v_now["status"], "capture_in_progress");
    let s = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts/{second_id}")))
        .await
        .ok();
    assert_eq!(s["status"], "capture_in_progress");
    assert_eq!(
        s["applicant_session_information"]["selected_documents"],
        json!([{"country": "FR", "document_type": "Passport"}])
    );
    upload(&api, &vid, "selfie", "image/png", &selfie).await;
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    wait_status(&api, &vid, "review_required", Duration::from_secs(180)).await;
    let in_review = api.get(&path(&format!("/identity-verifications/{vid}"))).await.ok();
    assert_eq!(in_review["status"], "checks_in_progress");
    assert_eq!(in_review["response_codes"], json!([]));
    let s = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts/{second_id}")))
        .await
        .ok();
    assert_eq!(s["status"], "checks_in_progress");

    // Assets: the attempt's images behind short-lived links.
    let assets = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts/{second_id}/assets")))
        .await
        .ok();
    assert_eq!(assets["total_count"], 2);
    let mut got = Vec::new();
    for asset in assets["data"].as_array().unwrap() {
        let url = local(&server, &href(asset, "asset_url"));
        let bytes = server.anon().get(&url).await.ok_bytes();
        got.push((asset["type"].as_str().unwrap().to_owned(), bytes));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("document_front_image".to_owned(), front.clone()),
            ("face_image".to_owned(), selfie.clone())
        ]
    );
    let none = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts/{first_id}/assets")))
        .await
        .ok();
    assert_eq!(none["total_count"], 0);
    let r = server.anon().get(&path("/downloads/kycd_dl_forged/file_x")).await;
    assert_eq!(ck_error(&r, 404, "resource_not_found"), vec!["resource_not_found"]);

    // A reviewer approves (native API): the vendor's result.
    approve(&api, &vid).await;
    let done = api.get(&path(&format!("/identity-verifications/{vid}"))).await.ok();
    assert_eq!(done["status"], "approved");
    assert_eq!(done["response_codes"], json!([{"code": 10000, "summary": "approved"}]));
    assert_eq!(
        done["verified_identity"],
        json!({"full_name": "Hannah Bret", "birth_date": "1984-10-02"})
    );
    let s = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts/{second_id}")))
        .await
        .ok();
    assert_eq!(s["status"], "completed");
    assert_eq!(s["response_codes"], json!([{"code": 10000, "summary": "approved"}]));

    // No new attempt once decided.
    let r = api
        .post(
            &path(&format!("/identity-verifications/{vid}/attempts")),
            &json!({"redirect_url": "https://example.com/third"}),
        )
        .await;
    assert_eq!(ck_error(&r, 409, "conflict"), vec!["identity_verification_status_invalid"]);

    // The PDF report: a pre-signed link that needs no credentials.
    let rep = api.get(&path(&format!("/identity-verifications/{vid}/pdf-report"))).await.ok();
    // `pdf_report` for the Python and Java SDKs, `signed_url` for .NET's: the same link.
    assert_eq!(rep["signed_url"], rep["pdf_report"], "{rep}");
    let pdf_url = local(&server, rep["pdf_report"].as_str().unwrap());
    let pdf = server.anon().get(&pdf_url).await;
    assert_eq!(pdf.status, 200, "{}", pdf.text());
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.body.starts_with(b"%PDF-"));
    // A foreign tenant sees none of it.
    let other = server.inst.create_tenant("Other", false).await;
    let foreign = server.client_for(&other.api_key);
    for p in [
        format!("/identity-verifications/{vid}"),
        format!("/identity-verifications/{vid}/attempts"),
        format!("/identity-verifications/{vid}/attempts/{second_id}"),
        format!("/identity-verifications/{vid}/attempts/{second_id}/assets"),
        format!("/identity-verifications/{vid}/pdf-report"),
    ] {
        let r = foreign.get(&path(&p)).await;
        assert_eq!(
            ck_error(&r, 404, "resource_not_found"),
            vec!["identity_verification_not_found"],
            "{p}"
        );
    }
    let r = foreign.post_empty(&path(&format!("/identity-verifications/{vid}/anonymize"))).await;
    assert_eq!(r.status, 404);
    let r = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts/iatp_unknown")))
        .await;
    assert_eq!(ck_error(&r, 404, "resource_not_found"), vec!["attempt_not_found"]);

    // Anonymize: status and codes stay, personal data and evidence go.
    let anon = api
        .post_empty(&path(&format!("/identity-verifications/{vid}/anonymize")))
        .await
        .ok();
    assert_eq!(anon["status"], "approved");
    assert_eq!(anon["response_codes"], json!([{"code": 10000, "summary": "approved"}]));
    assert_eq!(anon["declared_data"], json!({}));
    assert!(anon.get("verified_identity").is_none(), "{anon}");
    let r = api.get(&path(&format!("/identity-verifications/{vid}/pdf-report"))).await;
    assert_eq!(ck_error(&r, 404, "resource_not_found"), vec!["pdf_report_not_available"]);
    let r = server.anon().get(&pdf_url).await;
    assert_eq!(r.status, 404, "an issued link stops working once anonymized");
    let assets = api
        .get(&path(&format!("/identity-verifications/{vid}/attempts/{second_id}/assets")))
        .await
        .ok();
    assert_eq!(assets["total_count"], 0);
}

#[tokio::test]
async fn checkout_create_and_open_and_anonymize_while_open() {
    let server = Server::start().await;
    let api = server.admin();
    let r = api
        .post(&path("/create-and-open-idv"), &json!({"declared_data": {"name": "Toby Arden"}}))
        .await;
    assert_eq!(ck_error(&r, 422, "request_invalid"), vec!["redirect_url_required"]);
    let r = api
        .post(
            &path("/create-and-open-idv"),
            &json!({"declared_data": {"name": "Toby Arden", "email": "toby@example.com"}, "redirect_url": "https://example.com/done"}),
        )
        .await;
    r.expect(201);
    let v = r.json();
    let vid = str_field(&v, "id");
    assert_eq!(v["status"], "pending");
    assert!(href(&v, "verification_url").contains("/capture?token="), "{v}");
    assert_eq!(v["redirect_url"], "https://example.com/done", "echoed in create-and-open: {v}");
    let got = api.get(&path(&format!("/identity-verifications/{vid}"))).await.ok();
    assert_eq!(got["redirect_url"], "https://example.com/done", "{got}");
    // An applicant was made from the declared data.
    let aid = str_field(&v, "applicant_id");
    let a = api.get(&path(&format!("/applicants/{aid}"))).await.ok();
    assert_eq!(a["email"], "toby@example.com");
    assert_eq!(a["external_applicant_name"], "Toby Arden");
    let list = api.get(&path(&format!("/identity-verifications/{vid}/attempts"))).await.ok();
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["data"][0]["status"], "pending_redirection");
    assert_eq!(list["data"][0]["redirect_url"], "https://example.com/done");

    // With an existing applicant.
    let a2 = create_applicant(&api).await;
    let r = api
        .post(
            &path("/create-and-open-idv"),
            &json!({"applicant_id": str_field(&a2, "id"), "declared_data": {"name": "Hannah Bret"}, "redirect_url": "https://example.com/done"}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json()["applicant_id"], a2["id"]);

    // Anonymizing an open verification closes it: inconclusive, forcibly closed.
    let anon = api
        .post_empty(&path(&format!("/identity-verifications/{vid}/anonymize")))
        .await
        .ok();
    assert_eq!(anon["status"], "inconclusive");
    assert_eq!(anon["response_codes"], json!([{"code": 64001, "summary": "forcibly_closed"}]));
    assert!(anon.get("redirect_url").is_none(), "the URLs the business chose are erased: {anon}");
    let r = api
        .post(
            &path(&format!("/identity-verifications/{vid}/attempts")),
            &json!({"redirect_url": "https://example.com/again"}),
        )
        .await;
    assert_eq!(ck_error(&r, 409, "conflict"), vec!["identity_verification_status_invalid"]);
    // The applicant's anonymization reaches its verifications.
    let a2id = str_field(&a2, "id");
    let v3 = create_idv(&api, &a2id).await;
    api.post_empty(&path(&format!("/applicants/{a2id}/anonymize"))).await.ok();
    let v3 = api
        .get(&path(&format!("/identity-verifications/{}", str_field(&v3, "id"))))
        .await
        .ok();
    assert_eq!(v3["status"], "inconclusive");
    assert_eq!(v3["declared_data"], json!({}));
}

#[tokio::test]
async fn checkout_attempts_are_capped_by_the_policy() {
    let server = Server::start().await;
    let api = server.admin();
    let a = create_applicant(&api).await;
    let v = create_idv(&api, &str_field(&a, "id")).await;
    let vid = str_field(&v, "id");
    // The default policy allows three attempts.
    for _ in 0..3 {
        create_attempt(&api, &vid, &json!({"redirect_url": "https://example.com"})).await;
    }
    let r = api
        .post(
            &path(&format!("/identity-verifications/{vid}/attempts")),
            &json!({"redirect_url": "https://example.com"}),
        )
        .await;
    assert_eq!(ck_error(&r, 409, "conflict"), vec!["max_attempts_reached"]);
}

#[tokio::test]
async fn checkout_every_answer_carries_a_request_id() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let ok = client
        .post(server.anon().url(&path("/applicants")))
        .bearer_auth(&server.admin_key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 201);
    assert!(ok.headers().get("cko-request-id").is_some());
    let err = client.get(server.anon().url(&path("/applicants/aplt_x"))).send().await.unwrap();
    let id = err.headers().get("cko-request-id").unwrap().to_str().unwrap().to_owned();
    let body: Value = err.json().await.unwrap();
    assert_eq!(body["request_id"], id.as_str(), "the header and the body name the same request");
}

/// `kycd apikey create --format checkout`: (key id, key).
async fn checkout_key(server: &Server, tenant: &str, scope: &str) -> (String, String) {
    let v = server
        .cli(&[
            "apikey", "create", "--tenant", tenant, "--scope", scope, "--format", "checkout", "--json",
        ])
        .await
        .success_json();
    (str_field(&v, "key_id"), str_field(&v, "api_key"))
}

/// The SDKs' secret key pattern `^sk_(sbox_)?[a-z2-7]{26}[a-z2-7*#$=]$`.
fn checkout_shaped(key: &str, sandbox: bool) -> bool {
    let body = if sandbox {
        key.strip_prefix("sk_sbox_")
    } else {
        key.strip_prefix("sk_")
    };
    let b32 = |c: u8| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c);
    body.is_some_and(|b| b.len() == 27 && b.bytes().take(26).all(b32) && b.bytes().last().is_some_and(|c| b32(c) || b"*#$=".contains(&c)))
}

/// The official `checkout-sdk` Python package drives a whole verification, built with its
/// unchanged `CheckoutSdk.builder().secret_key(...)` and a kycd key in Checkout's form.
#[tokio::test]
async fn checkout_python_sdk_drives_a_verification() {
    let server = Server::start().await;
    let t = server.inst.create_tenant("SDK", false).await;
    let (_, secret_key) = checkout_key(&server, &t.tenant_id, "integration").await;
    let dir = tempfile::tempdir().unwrap();
    let front = dir.path().join("front.jpg");
    let selfie = dir.path().join("selfie.png");
    std::fs::write(&front, document_jpeg(51)).unwrap();
    std::fs::write(&selfie, selfie_png(52)).unwrap();
    let args = [
        std::ffi::OsStr::new(&server.base),
        std::ffi::OsStr::new(&t.key_id),
        std::ffi::OsStr::new(&t.api_key),
        std::ffi::OsStr::new(&secret_key),
        front.as_os_str(),
        selfie.as_os_str(),
    ];
    crate::harness::run_python_script(&server, "checkout_sdk_compat.py", "checkout-sdk", &args).await;
}

/// Keys in Checkout's form: `sk_sbox_…` for a test tenant, `sk_…` for a live one; stored
/// hashed, scoped and revoked like every other key.
#[tokio::test]
async fn checkout_keys_take_checkouts_form_and_behave_as_every_key() {
    let server = Server::start().await;
    let t = server.inst.create_tenant("Checkout Keys", false).await;
    let (key_id, key) = checkout_key(&server, &t.tenant_id, "integration").await;
    assert!(checkout_shaped(&key, true), "{key}");
    let live = server.inst.create_tenant("Checkout Keys Live", true).await;
    let (_, live_key) = checkout_key(&server, &live.tenant_id, "integration").await;
    assert!(checkout_shaped(&live_key, false) && !live_key.starts_with("sk_sbox_"), "{live_key}");

    // It acts with its tenant and scope, here and wherever a key is taken.
    let api = server.client_for(&key);
    let a = create_applicant(&api).await;
    assert!(str_field(&a, "id").starts_with("aplt_"), "{a}");
    api.get("/v1/verifications").await.ok();
    let other = server.inst.create_tenant("Checkout Keys Other", false).await;
    let r = server
        .client_for(&checkout_key(&server, &other.tenant_id, "integration").await.1)
        .get(&path(&format!("/applicants/{}", str_field(&a, "id"))))
        .await;
    ck_error(&r, 404, "resource_not_found");
    let (_, reviewer) = checkout_key(&server, &t.tenant_id, "reviewer").await;
    let r = server
        .client_for(&reviewer)
        .post(&path("/applicants"), &json!({"email": "r@example.com"}))
        .await;
    ck_error(&r, 403, "forbidden");

    // Only its hash is stored.
    if !crate::harness::on_postgres() {
        for f in std::fs::read_dir(server.data_dir()).unwrap() {
            let f = f.unwrap();
            if f.file_name().to_string_lossy().starts_with("kycd.db") {
                let db = std::fs::read(f.path()).unwrap();
                assert!(!db.windows(key.len()).any(|w| w == key.as_bytes()), "the key is in clear in {f:?}");
            }
        }
    }
    // Revoked: refused at once.
    server.cli(&["apikey", "revoke", &key_id]).await.success();
    ck_error(
        &api.get(&path(&format!("/applicants/{}", str_field(&a, "id")))).await,
        401,
        "unauthorized",
    );
    let bad = server
        .cli(&[
            "apikey",
            "create",
            "--tenant",
            &t.tenant_id,
            "--scope",
            "integration",
            "--format",
            "stripe",
        ])
        .await;
    assert_ne!(bad.code, Some(0), "{}", bad.all_output());
}

/// A passport kycd reads (synthetic, OCR-B zone) shows in `documents[]` with Checkout's
/// words: the document type and the issuing country as ISO alpha-2.
#[tokio::test]
async fn checkout_documents_carry_what_the_passport_says() {
    let Some((passport, holder, birth)) = crate::decision::passport() else {
        return;
    };
    let server = Server::start().await;
    let api = server.admin();
    let a = create_applicant(&api).await;
    // The holder's own data, so nothing disagrees; faces are not compared yet: review.
    let r = api
        .post(
            &path("/identity-verifications"),
            &json!({"applicant_id": str_field(&a, "id"), "declared_data": {"name": holder, "birth_date": birth}}),
        )
        .await;
    r.expect(201);
    let vid = str_field(&r.json(), "id");
    create_attempt(&api, &vid, &json!({"redirect_url": "https://example.com/back"})).await;
    upload(&api, &vid, "document_front", "image/jpeg", &passport).await;
    upload(&api, &vid, "selfie", "image/png", &selfie_png(43)).await;
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    wait_status(&api, &vid, "review_required", Duration::from_secs(180)).await;
    let v = api.get(&path(&format!("/identity-verifications/{vid}"))).await.ok();
    let docs = v["documents"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(docs.len(), 1, "{v}");
    let d = &docs[0];
    assert_eq!(d["document_type"], "Passport", "{v}");
    assert_eq!(d["birth_date"], birth.as_str(), "{v}");
    let country = str_field(d, "document_issuing_country");
    assert!(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()), "{v}");
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(words(&str_field(d, "full_name")), words(&holder), "{v}");
}
