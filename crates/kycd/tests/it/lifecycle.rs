//! The whole life of applicants and verifications over the native API.

use crate::flow::{create_verification, data, ids, upload, wait_status};
use crate::harness::{Server, document_jpeg, selfie_png, sha256_hex, str_field, webp};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn ts(v: &Value, field: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let s = str_field(v, field);
    chrono::DateTime::parse_from_rfc3339(&s).unwrap_or_else(|e| panic!("{field} is not an RFC 3339 time ({e}): {s}"))
}

/// An applicant with every field: external id, name, email, phone (country code and
/// number), birth date.
fn full_applicant(fields: [&str; 6]) -> Value {
    let [external_id, name, email, country_code, number, birth_date] = fields;
    json!({
        "external_applicant_id": external_id,
        "full_name": name,
        "email": email,
        "phone_country_code": country_code,
        "phone_number": number,
        "birth_date": birth_date
    })
}

#[tokio::test]
async fn applicant_create_get_list_update() {
    let s = Server::start().await;
    let t = s.inst.create_tenant("Applicants Inc", false).await;
    let (_, ikey) = s.inst.create_key(&t.tenant_id, "integration").await;
    let api = s.client_for(&ikey);

    let body = full_applicant([
        "crm-42",
        "Ada Lovelace",
        "ada.lovelace@example.org",
        "+44",
        "7700900123",
        "1815-12-10",
    ]);
    let a = api.post("/v1/applicants", &body).await.ok();
    let id = str_field(&a, "id");
    assert!(id.starts_with("aplt_"), "applicant id prefix: {a}");
    for (k, want) in body.as_object().unwrap() {
        assert_eq!(&a[k], want, "field {k} of created applicant: {a}");
    }
    assert_eq!(a["redacted"], false, "{a}");
    ts(&a, "created_at");
    ts(&a, "updated_at");

    let got = api.get(&format!("/v1/applicants/{id}")).await.ok();
    for k in [
        "id",
        "external_applicant_id",
        "full_name",
        "email",
        "phone_country_code",
        "phone_number",
        "birth_date",
        "redacted",
    ] {
        assert_eq!(got[k], a[k], "GET returns what create returned ({k})");
    }

    let list = api.get("/v1/applicants").await.ok();
    assert!(ids(&data(&list)).contains(&id), "list contains the applicant: {list}");
    assert!(list.get("next_cursor").is_some(), "list has next_cursor: {list}");

    let patched = api
        .patch(
            &format!("/v1/applicants/{id}"),
            &json!({"full_name": "Augusta Ada King", "phone_country_code": "+44", "phone_number": "7700900999"}),
        )
        .await
        .ok();
    assert_eq!(patched["id"], a["id"]);
    assert_eq!(patched["full_name"], "Augusta Ada King", "{patched}");
    assert_eq!(patched["phone_number"], "7700900999", "{patched}");
    assert_eq!(patched["email"], "ada.lovelace@example.org", "unchanged: {patched}");
    assert_eq!(patched["external_applicant_id"], "crm-42", "unchanged: {patched}");
    assert_eq!(patched["birth_date"], "1815-12-10", "unchanged: {patched}");
    assert!(ts(&patched, "updated_at") >= ts(&a, "updated_at"));
    let got = api.get(&format!("/v1/applicants/{id}")).await.ok();
    assert_eq!(got["full_name"], "Augusta Ada King", "GET after PATCH: {got}");

    api.patch(&format!("/v1/applicants/{id}"), &json!({"full_name": "X", "nickname": "Ada"}))
        .await
        .problem(422, "invalid-request");
    api.post("/v1/applicants", &json!({"email": "not-an-email"}))
        .await
        .problem(422, "invalid-request");
}

#[tokio::test]
async fn verification_lifecycle_end_to_end() {
    let s = Server::start().await;
    let t = s.inst.create_tenant("Lifecycle Ltd", false).await;
    let (_, ikey) = s.inst.create_key(&t.tenant_id, "integration").await;
    let (_, rkey) = s.inst.create_key(&t.tenant_id, "reviewer").await;
    let api = s.client_for(&ikey);
    let reviewer = s.client_for(&rkey);

    let applicant = full_applicant([
        "ext-7",
        "Grace Hopper",
        "grace.hopper@example.org",
        "+1",
        "2025550143",
        "1906-12-09",
    ]);
    let declared = json!({
        "full_name": "Grace Brewster Hopper",
        "first_name": "Grace",
        "last_name": "Hopper",
        "birth_date": "1906-12-09",
        "document_number": "X1234567",
        "nationality": "US"
    });
    let reference = json!({"document_id": "doc-123", "signer_order": 2, "signature_request_id": "sr-9"});
    let policy = json!({"accepted_document_types": ["passport", "id_card"], "selfie_required": true, "max_attempts": 2});
    let body = json!({
        "applicant": applicant,
        "declared_data": declared,
        "reference": reference,
        "delivery": "email",
        "callback_url": "https://example.com/kyc/callback",
        "state": "opaque-state-77",
        "time_to_live": 3600,
        "policy": policy
    });

    // A reviewer may read and decide, not create.
    reviewer.post("/v1/verifications", &body).await.problem(403, "forbidden");

    let v = create_verification(&api, &body).await;
    let vid = str_field(&v, "id");
    assert_eq!(v["status"], "created", "{v}");
    let applicant_id = str_field(&v, "applicant_id");
    assert!(applicant_id.starts_with("aplt_"), "{v}");
    for (k, want) in declared.as_object().unwrap() {
        assert_eq!(&v["declared_data"][k], want, "declared_data.{k}: {v}");
    }
    assert_eq!(v["reference"], reference, "{v}");
    assert_eq!(v["delivery"], "email", "{v}");
    assert_eq!(v["callback_url"], "https://example.com/kyc/callback", "{v}");
    assert_eq!(v["state"], "opaque-state-77", "{v}");
    // The policy snapshot: what was given, with every default written out.
    for (k, want) in policy.as_object().unwrap() {
        assert_eq!(&v["policy"][k], want, "policy.{k}: {v}");
    }
    assert_eq!(v["policy"]["min_age"], 18, "{v}");
    assert_eq!(v["policy"]["name_matching"], "moderate", "{v}");
    assert_eq!(v["checks"], json!([]), "{v}");
    assert!(v["review"].is_null(), "{v}");
    assert_eq!(v["redacted"], false, "{v}");
    let ttl = (ts(&v, "expires_at") - ts(&v, "created_at")).num_seconds();
    assert!((3595..=3605).contains(&ttl), "expires_at is created_at + 3600 s, got +{ttl} s: {v}");

    let a = api.get(&format!("/v1/applicants/{applicant_id}")).await.ok();
    for (k, want) in applicant.as_object().unwrap() {
        assert_eq!(&a[k], want, "inline applicant field {k}: {a}");
    }
    let got = api.get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_eq!(got["id"], v["id"]);
    assert_eq!(got["state"], "opaque-state-77");
    assert_eq!(got["declared_data"], v["declared_data"]);
    // The reviewer key reads.
    reviewer.get(&format!("/v1/verifications/{vid}")).await.ok();

    // Attempts.
    let att = api
        .post(
            &format!("/v1/verifications/{vid}/attempts"),
            &json!({"language": "en", "country": "GB", "document_type": "passport"}),
        )
        .await
        .ok();
    let attempt_id = str_field(&att, "id");
    assert!(attempt_id.starts_with("iatp_"), "{att}");
    assert_eq!(att["verification_id"], v["id"], "{att}");
    assert_eq!(att["status"], "active", "{att}");
    assert_eq!(att["client"]["language"], "en", "{att}");
    assert_eq!(att["client"]["country"], "GB", "{att}");
    assert_eq!(att["client"]["document_type"], "passport", "{att}");
    assert_eq!(att["token_used"], false, "{att}");
    ts(&att, "token_expires_at");
    let url = str_field(&att, "url");
    assert!(url.contains("/capture?token="), "attempt url: {url}");
    assert!(url.split("token=").nth(1).is_some_and(|t| t.len() >= 20), "token is long: {url}");

    api.post(&format!("/v1/verifications/{vid}/attempts"), &json!({}))
        .await
        .problem(409, "conflict");
    let got = api.get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_eq!(got["status"], "pending", "after the attempt: {got}");

    let list = api.get(&format!("/v1/verifications/{vid}/attempts")).await.ok();
    assert_eq!(ids(&data(&list)), vec![attempt_id.clone()], "{list}");
    let one = api.get(&format!("/v1/verifications/{vid}/attempts/{attempt_id}")).await.ok();
    assert_eq!(one["id"], att["id"]);
    assert_eq!(one["status"], "active");
    assert!(
        one.get("url").is_none_or(Value::is_null),
        "url (with its start token) is only in the create answer: {one}"
    );

    // Captures: a document front as a raw body.
    let front1 = document_jpeg(11);
    let c1 = upload(&api, &vid, "document_front", "image/jpeg", &front1).await;
    let c1_id = str_field(&c1, "id");
    assert!(c1_id.starts_with("file_"), "{c1}");
    assert_eq!(c1["kind"], "document_front", "{c1}");
    assert_eq!(c1["media_type"], "image/jpeg", "{c1}");
    assert_eq!(c1["size"], front1.len() as u64, "{c1}");
    assert_eq!(c1["sha256"], sha256_hex(&front1), "{c1}");
    assert_eq!(c1["verification_id"], v["id"], "{c1}");
    assert_eq!(c1["attempt_id"], att["id"], "{c1}");
    assert_eq!(c1["available"], true, "{c1}");
    assert_eq!(c1["feedback"]["width"], 1200, "{c1}");
    assert_eq!(c1["feedback"]["height"], 800, "{c1}");
    assert_eq!(c1["feedback"]["accepted"], true, "{c1}");
    assert!(c1["feedback"]["issues"].is_array(), "{c1}");
    assert!(c1["feedback"]["message"].is_string(), "{c1}");
    let got = api.get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_eq!(got["status"], "capture_in_progress", "{got}");

    // Submitting without the selfie the policy requires.
    let p = api
        .post_empty(&format!("/v1/verifications/{vid}/submit"))
        .await
        .problem(422, "invalid-request");
    assert!(
        p["detail"].as_str().unwrap().contains("selfie"),
        "detail names the missing capture: {p}"
    );

    // Re-uploading the front replaces it.
    let front2 = document_jpeg(12);
    let c1b = upload(&api, &vid, "document_front", "image/jpeg", &front2).await;
    let front_id = str_field(&c1b, "id");
    assert_ne!(front_id, c1_id, "a new upload is a new file");
    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    let fronts: Vec<&Value> = caps.iter().filter(|c| c["kind"] == "document_front").collect();
    assert_eq!(fronts.len(), 1, "one document_front after re-upload: {caps:?}");
    assert_eq!(fronts[0]["id"], front_id.as_str());
    assert_eq!(fronts[0]["sha256"], sha256_hex(&front2));
    let old = api.get(&format!("/v1/files/{c1_id}")).await;
    assert!(
        old.status == 404 || old.status == 410,
        "the replaced file is no longer served: {} {}",
        old.status,
        old.text()
    );

    // A selfie as multipart field `file`, a document back as WebP.
    let selfie = selfie_png(13);
    let c2 = api
        .post_multipart(
            &format!("/v1/verifications/{vid}/captures?kind=selfie"),
            "file",
            "selfie.png",
            "image/png",
            selfie.clone(),
        )
        .await
        .ok();
    assert_eq!(c2["kind"], "selfie", "{c2}");
    assert_eq!(c2["media_type"], "image/png", "{c2}");
    assert_eq!(c2["sha256"], sha256_hex(&selfie), "{c2}");
    assert_eq!(c2["feedback"]["width"], 640, "{c2}");
    assert_eq!(c2["feedback"]["height"], 640, "{c2}");
    let back = webp(900, 600, 14);
    let c3 = upload(&api, &vid, "document_back", "image/webp", &back).await;
    assert_eq!(c3["media_type"], "image/webp", "{c3}");

    let uploaded: BTreeMap<String, (String, Vec<u8>, &str)> = [
        (front_id.clone(), ("document_front".to_owned(), front2.clone(), "image/jpeg")),
        (str_field(&c2, "id"), ("selfie".to_owned(), selfie.clone(), "image/png")),
        (str_field(&c3, "id"), ("document_back".to_owned(), back.clone(), "image/webp")),
    ]
    .into_iter()
    .collect();
    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    assert_eq!(caps.len(), 3, "three captures: {caps:?}");
    for c in &caps {
        let id = str_field(c, "id");
        let (kind, bytes, mt) = uploaded.get(&id).unwrap_or_else(|| panic!("unexpected capture {c}"));
        assert_eq!(c["kind"], kind.as_str(), "{c}");
        assert_eq!(c["sha256"], sha256_hex(bytes), "{c}");
        assert_eq!(c["size"], bytes.len() as u64, "{c}");
        let file = api.get(&format!("/v1/files/{id}")).await;
        file.expect(200);
        assert!(file.body == *bytes, "GET /v1/files/{id} returns the exact original bytes");
        assert!(
            file.content_type.starts_with(mt),
            "file content-type {} for {mt}",
            file.content_type
        );
    }

    // Submit and let the job run.
    let sub = api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    assert_eq!(sub["status"], "processing", "submit answers processing: {sub}");
    let done = wait_status(&api, &vid, "review_required", Duration::from_secs(180)).await;
    let checks = done["checks"].as_array().unwrap_or_else(|| panic!("{done}"));
    assert!(!checks.is_empty(), "checks were recorded: {done}");
    // The images are good, but this card carries no zone and faces are not compared:
    // those checks are inconclusive (a person decides), none fails outright.
    for c in checks {
        assert!(c["name"].is_string(), "{c}");
        if c["passed"] == false {
            assert_eq!(
                c["figures"]["outcome"], "inconclusive",
                "only inconclusive checks may not pass: {c}"
            );
        }
    }
    for name in ["image_quality.document_front", "image_quality.selfie", "required_captures"] {
        let c = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {done}"));
        assert_eq!(c["passed"], true, "{c}");
    }
    let checks_txt = done["checks"].to_string();
    assert!(
        checks_txt.contains("1200") && checks_txt.contains("640"),
        "checks record the decoded dimensions: {checks_txt}"
    );

    // Review: integration keys cannot decide.
    let review_path = format!("/v1/verifications/{vid}/review");
    let reason = "Document and selfie reviewed by hand";
    api.post(&review_path, &json!({"decision": "approve", "reason": reason}))
        .await
        .problem(403, "forbidden");
    let r = reviewer
        .post(&review_path, &json!({"decision": "approve", "reason": reason}))
        .await
        .ok();
    assert_eq!(r["status"], "approved", "{r}");
    assert_eq!(r["review"]["decision"], "approve", "{r}");
    assert_eq!(r["review"]["reason"], reason, "{r}");
    assert!(r["review"]["reviewer"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
    ts(&r["review"], "reviewed_at");
    reviewer
        .post(&review_path, &json!({"decision": "decline", "reason": "again"}))
        .await
        .problem(409, "conflict");
    let attempt_now = api.get(&format!("/v1/verifications/{vid}/attempts/{attempt_id}")).await.ok();
    assert_eq!(attempt_now["status"], "submitted", "{attempt_now}");

    // Report.
    let rep = api.get(&format!("/v1/verifications/{vid}/report")).await.ok();
    assert_eq!(rep["verification"]["id"], vid.as_str(), "{rep}");
    assert_eq!(rep["verification"]["status"], "approved", "{rep}");
    assert_eq!(rep["applicant"]["id"], applicant_id.as_str(), "{rep}");
    assert_eq!(ids(rep["attempts"].as_array().unwrap()), vec![attempt_id.clone()]);
    let rep_caps = rep["captures"].as_array().unwrap_or_else(|| panic!("{rep}"));
    let rep_shas: BTreeSet<String> = rep_caps.iter().map(|c| str_field(c, "sha256")).collect();
    let want_shas: BTreeSet<String> = uploaded.values().map(|(_, b, _)| sha256_hex(b)).collect();
    assert_eq!(rep_shas, want_shas, "report capture hashes are the uploads' SHA-256");
    let rep_ids: BTreeSet<String> = rep_caps.iter().map(|c| str_field(c, "id")).collect();
    assert_eq!(rep_ids, uploaded.keys().cloned().collect::<BTreeSet<_>>());
    assert!(rep["checks"].as_array().is_some_and(|c| !c.is_empty()), "{rep}");
    assert_eq!(rep["decision"]["outcome"], "approved", "{rep}");
    assert_eq!(rep["decision"]["decided_by"], "reviewer", "{rep}");
    assert_eq!(rep["decision"]["reason"], reason, "{rep}");
    assert_eq!(rep["review"]["decision"], "approve", "{rep}");
    let timeline = rep["timeline"].as_array().unwrap_or_else(|| panic!("{rep}"));
    let actions: Vec<&str> = timeline.iter().filter_map(|e| e["action"].as_str()).collect();
    for want in ["verification.created", "verification.status.approved"] {
        assert!(actions.contains(&want), "timeline has {want}: {actions:?}");
    }
    for e in timeline {
        ts(e, "at");
        assert!(e["actor"].as_str().is_some_and(|a| !a.is_empty()), "{e}");
    }
    let created = actions.iter().position(|a| *a == "verification.created").unwrap();
    let approved = actions.iter().position(|a| *a == "verification.status.approved").unwrap();
    assert!(created < approved, "timeline is in order: {actions:?}");

    // Reads do not grow the timeline (it shows what happened to the verification); they
    // stay in the audit log, which `kycd audit trail` lists.
    assert!(
        !actions.iter().any(|a| a.ends_with(".read")),
        "no reads in the timeline: {actions:?}"
    );
    for _ in 0..5 {
        api.get(&format!("/v1/verifications/{vid}/report")).await.ok();
        api.get(&format!("/v1/files/{front_id}")).await.expect(200);
    }
    let again = api.get(&format!("/v1/verifications/{vid}/report")).await.ok();
    assert_eq!(again["timeline"], rep["timeline"], "7 report reads later, the same timeline");
    let trail = s.audit_trail(&t.tenant_id, &vid).await;
    let reads = trail
        .iter()
        .filter(|(a, who)| a == "report.read" && who.starts_with("api_key:"))
        .count();
    assert!(reads >= 7, "every report read is in the audit trail, by its key: {trail:?}");
    assert!(trail.iter().any(|(a, _)| a == "verification.status.approved"), "{trail:?}");
    let file_reads = s.audit_trail(&t.tenant_id, &front_id).await;
    let n = file_reads.iter().filter(|(a, _)| a == "file.read").count();
    assert!(n >= 6, "every image download is in the audit trail: {file_reads:?}");
    let text = s.cli(&["audit", "trail", "--tenant", &t.tenant_id, &vid]).await;
    assert!(text.success().stdout.contains("\treport.read\tapi_key:"), "{}", text.all_output());
    let none = s.cli(&["audit", "trail", "--tenant", &t.tenant_id, "ver_nothing"]).await;
    assert!(none.success().stdout.contains("no audit entries"), "{}", none.all_output());
}

#[tokio::test]
async fn verification_list_status_filter_and_cursor_pagination() {
    let s = Server::start().await;
    let (_, api) = s.tenant_client("Pages").await;

    let mut created = Vec::new();
    for i in 0..5 {
        let v = create_verification(&api, &json!({"applicant": {"full_name": format!("Person {i}")}})).await;
        created.push(str_field(&v, "id"));
    }
    let cancelled = created[2].clone();
    let c = api.post_empty(&format!("/v1/verifications/{cancelled}/cancel")).await.ok();
    assert_eq!(c["status"], "cancelled");

    async fn walk(api: &crate::harness::Api, base: &str) -> (Vec<String>, usize) {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let sep = if base.contains('?') { '&' } else { '?' };
            let path = match &cursor {
                None => format!("{base}{sep}limit=2"),
                Some(c) => format!("{base}{sep}limit=2&cursor={}", enc(c)),
            };
            let page = api.get(&path).await.ok();
            let items = data(&page);
            assert!(items.len() <= 2, "limit=2 honoured: {page}");
            seen.extend(ids(&items));
            pages += 1;
            assert!(pages <= 10, "pagination does not end: {seen:?}");
            match page.get("next_cursor") {
                Some(Value::String(c)) => cursor = Some(c.clone()),
                Some(Value::Null) => break,
                other => panic!("next_cursor must be a string or null, got {other:?}"),
            }
        }
        (seen, pages)
    }

    let (all, pages) = walk(&api, "/v1/verifications").await;
    let mut sorted = all.clone();
    sorted.sort();
    let mut want = created.clone();
    want.sort();
    assert_eq!(sorted, want, "every verification exactly once: {all:?}");
    assert!((3..=4).contains(&pages), "5 items at 2 a page: {pages} pages");

    let (created_only, _) = walk(&api, "/v1/verifications?status=created").await;
    let mut got: Vec<String> = created_only;
    got.sort();
    let mut want: Vec<String> = created.iter().filter(|i| **i != cancelled).cloned().collect();
    want.sort();
    assert_eq!(got, want, "status=created lists the four open ones");
    let only = data(&api.get("/v1/verifications?status=cancelled").await.ok());
    assert_eq!(ids(&only), vec![cancelled.clone()]);
    for v in &only {
        assert_eq!(v["status"], "cancelled");
    }

    let (applicants, _) = walk(&api, "/v1/applicants").await;
    let uniq: BTreeSet<&String> = applicants.iter().collect();
    assert_eq!(applicants.len(), 5, "five inline applicants: {applicants:?}");
    assert_eq!(uniq.len(), 5, "no applicant twice: {applicants:?}");

    for bad in ["limit=0", "limit=101"] {
        api.get(&format!("/v1/verifications?{bad}")).await.problem(422, "invalid-request");
    }
}

/// A create answer is the object as stored: reading it back gives the same JSON, to the
/// character (timestamps included, so clients can compare `updated_at`).
#[tokio::test]
async fn created_objects_read_back_identically() {
    let s = Server::start().await;
    let api = s.admin();
    let a = crate::common::create_applicant(&api, "Read Back", "read.back@example.org").await;
    let got = api.get(&format!("/v1/applicants/{}", str_field(&a, "id"))).await.ok();
    let v = create_verification(&api, &json!({"applicant_id": a["id"], "time_to_live": 600})).await;
    let got_v = api.get(&format!("/v1/verifications/{}", str_field(&v, "id"))).await.ok();
    assert_eq!(got, a, "GET /v1/applicants/{{id}} differs from the create answer");
    assert_eq!(got_v, v, "GET /v1/verifications/{{id}} differs from the create answer");
}
