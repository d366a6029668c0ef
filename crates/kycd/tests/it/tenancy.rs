//! Tenant isolation: another tenant's ids are 404 on every native endpoint, and the answer
//! is the same as for an id that never existed.

use crate::flow::{create_attempt, create_verification, data, upload};
use crate::harness::{Api, Resp, Server, document_jpeg, str_field};
use serde_json::{Value, json};

enum Body {
    None,
    Json(Value),
    Image,
}

async fn call(api: &Api, method: &str, path: &str, body: &Body) -> Resp {
    match (method, body) {
        ("GET", _) => api.get(path).await,
        ("DELETE", _) => api.delete(path).await,
        ("PATCH", Body::Json(b)) => api.patch(path, b).await,
        ("POST", Body::Json(b)) => api.post(path, b).await,
        ("POST", Body::None) => api.post_empty(path).await,
        ("POST", Body::Image) => api.post_raw(path, "image/jpeg", document_jpeg(61)).await,
        _ => unreachable!("{method} {path}"),
    }
}

fn fake(prefix: &str) -> String {
    // Same shape as a real id (prefix + 24 letters and digits), never issued.
    format!("{prefix}Zz0Never0Issued0Zz0Zz0Zz")
}

fn replace_all(s: &str, pairs: &[(String, String)]) -> String {
    let mut out = s.to_owned();
    for (from, to) in pairs {
        out = out.replace(from.as_str(), to.as_str());
    }
    out
}

#[tokio::test]
async fn other_tenants_ids_are_404_on_every_endpoint() {
    let s = Server::start().await;
    let a = s.admin();
    let (_, b) = s.tenant_client("B").await;

    // Tenant A's objects.
    let applicant = crate::common::create_applicant(&a, "Alice Tenant", "alice.tenant@example.org").await;
    let aid = str_field(&applicant, "id");
    let v = create_verification(&a, &json!({"applicant_id": aid, "state": "tenant-a-state"})).await;
    let vid = str_field(&v, "id");
    let att = create_attempt(&a, &vid).await;
    let atid = str_field(&att, "id");
    let front = document_jpeg(60);
    let cap = upload(&a, &vid, "document_front", "image/jpeg", &front).await;
    let fid = str_field(&cap, "id");
    // B's own verification, to pair with A's attempt id.
    let bv = create_verification(&b, &json!({"applicant": {"full_name": "Bob Tenant"}})).await;
    let bvid = str_field(&bv, "id");

    let snapshot = |api: Api| {
        let (aid, vid) = (aid.clone(), vid.clone());
        async move {
            (
                api.get(&format!("/v1/applicants/{aid}")).await.ok(),
                api.get(&format!("/v1/verifications/{vid}")).await.ok(),
                api.get(&format!("/v1/verifications/{vid}/attempts")).await.ok(),
                api.get(&format!("/v1/verifications/{vid}/captures")).await.ok(),
            )
        }
    };
    let before = snapshot(a.clone()).await;

    let cases: Vec<(&str, String, Body)> = vec![
        ("GET", format!("/v1/applicants/{aid}"), Body::None),
        (
            "PATCH",
            format!("/v1/applicants/{aid}"),
            Body::Json(json!({"full_name": "Mallory"})),
        ),
        ("POST", "/v1/verifications".into(), Body::Json(json!({"applicant_id": aid}))),
        ("GET", format!("/v1/verifications/{vid}"), Body::None),
        ("POST", format!("/v1/verifications/{vid}/cancel"), Body::None),
        ("POST", format!("/v1/verifications/{vid}/attempts"), Body::Json(json!({}))),
        ("GET", format!("/v1/verifications/{vid}/attempts"), Body::None),
        ("GET", format!("/v1/verifications/{vid}/attempts/{atid}"), Body::None),
        ("GET", format!("/v1/verifications/{bvid}/attempts/{atid}"), Body::None),
        ("POST", format!("/v1/verifications/{vid}/captures?kind=selfie"), Body::Image),
        ("GET", format!("/v1/verifications/{vid}/captures"), Body::None),
        ("GET", format!("/v1/files/{fid}"), Body::None),
        ("POST", format!("/v1/verifications/{vid}/submit"), Body::None),
        (
            "POST",
            format!("/v1/verifications/{vid}/review"),
            Body::Json(json!({"decision": "approve", "reason": "looks fine"})),
        ),
        ("GET", format!("/v1/verifications/{vid}/report"), Body::None),
        ("POST", format!("/v1/verifications/{vid}/anonymize"), Body::None),
        ("DELETE", format!("/v1/verifications/{vid}"), Body::None),
    ];
    let real_to_fake = vec![
        (aid.clone(), fake("aplt_")),
        (vid.clone(), fake("idv_")),
        (atid.clone(), fake("iatp_")),
        (fid.clone(), fake("file_")),
    ];
    let mut failures = Vec::new();
    for (method, path, body) in &cases {
        let r = call(&b, method, path, body).await;
        let text = r.text();
        let what = format!("tenant B: {method} {path}");
        if r.status != 404 {
            failures.push(format!("{what} → {} {text}", r.status));
            continue;
        }
        r.problem(404, "not-found");
        for (id, _) in &real_to_fake {
            if text.contains(id.as_str()) {
                failures.push(format!("{what} → 404 body names tenant A's id {id}: {text}"));
            }
        }
        // Same answer as for ids that never existed (modulo the ids themselves).
        let fake_path = replace_all(path, &real_to_fake);
        let body = match body {
            Body::Json(j) => Body::Json(serde_json::from_str(&replace_all(&j.to_string(), &real_to_fake)).unwrap()),
            Body::None => Body::None,
            Body::Image => Body::Image,
        };
        let never = call(&b, method, &fake_path, &body).await;
        let fakes: Vec<(String, String)> = real_to_fake.iter().map(|(r, f)| (f.clone(), r.clone())).collect();
        let never_text = replace_all(&never.text(), &fakes);
        if never.status != r.status || never_text != text {
            failures.push(format!(
                "{what}: answer differs from a never-existing id's: {} {text} vs {} {never_text}",
                r.status, never.status
            ));
        }
    }
    assert!(failures.is_empty(), "cross-tenant leaks:\n{}", failures.join("\n"));

    // B's lists show none of A's objects.
    let bl = b.get("/v1/verifications").await.ok();
    assert_eq!(crate::flow::ids(&data(&bl)), vec![bvid.clone()], "{bl}");
    let al = b.get("/v1/applicants").await.ok();
    assert!(!al.to_string().contains(aid.as_str()), "{al}");

    // A's objects are untouched.
    let after = snapshot(a.clone()).await;
    assert_eq!(before.0, after.0, "A's applicant unchanged");
    assert_eq!(before.1, after.1, "A's verification unchanged");
    assert_eq!(before.2, after.2, "A's attempts unchanged");
    assert_eq!(before.3, after.3, "A's captures unchanged");
    assert_eq!(after.1["status"], "capture_in_progress");
    let f = a.get(&format!("/v1/files/{fid}")).await;
    f.expect(200);
    assert!(f.body == front, "A's file still downloads intact");
}
