//! Anonymize (erase personal data and images, keep ids and status) and delete.

use crate::flow::{approve, create_attempt, create_verification, data, session_to_review, upload, verification_body};
use crate::harness::{Server, document_jpeg, str_field};
use serde_json::{Value, json};

fn is_blank(v: &Value, field: &str) -> bool {
    v.get(field).is_none_or(Value::is_null)
}

#[tokio::test]
async fn anonymize_erases_personal_data_and_images() {
    let s = Server::start().await;
    let api = s.admin();
    let name = "Hedwig Anonymousperson";
    let email = "hedwig.anon@example.org";
    let body = json!({
        "applicant": {
            "external_applicant_id": "crm-anon-1",
            "full_name": name,
            "email": email,
            "phone_country_code": "+49",
            "phone_number": "15112345678",
            "birth_date": "1970-01-02"
        },
        "declared_data": {"full_name": name, "document_number": "DOCNUM98765", "birth_date": "1970-01-02"},
        "state": "state-anon-xyz",
        "callback_url": "https://example.com/cb"
    });
    let sess = session_to_review(&api, &body, 21).await;
    let vid = sess.vid.clone();
    approve(&api, &vid).await;
    for (_, id, bytes) in &sess.files {
        let f = api.get(&format!("/v1/files/{id}")).await;
        f.expect(200);
        assert!(f.body == *bytes);
    }

    let r = api.post_empty(&format!("/v1/verifications/{vid}/anonymize")).await;
    r.expect(200);
    let v = r.json();
    assert_eq!(v["id"], vid.as_str(), "{v}");
    assert_eq!(v["redacted"], true, "{v}");
    assert_eq!(v["status"], "approved", "status is kept: {v}");
    let txt = v.to_string();
    for secret in [name, email, "DOCNUM98765", "state-anon-xyz", "15112345678"] {
        assert!(!txt.contains(secret), "anonymized verification still shows {secret:?}: {v}");
    }

    let a = api.get(&format!("/v1/applicants/{}", sess.applicant_id)).await.ok();
    assert_eq!(a["redacted"], true, "{a}");
    for f in ["full_name", "email", "phone_number", "birth_date", "external_applicant_id"] {
        assert!(is_blank(&a, f), "applicant.{f} erased: {a}");
    }
    let got = api.get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_eq!(got["redacted"], true, "{got}");
    assert_eq!(got["status"], "approved", "{got}");
    let txt = got.to_string();
    for secret in [name, email, "DOCNUM98765", "state-anon-xyz"] {
        assert!(!txt.contains(secret), "GET verification still shows {secret:?}: {got}");
    }

    for (_, id, _) in &sess.files {
        api.get(&format!("/v1/files/{id}")).await.problem(410, "gone");
    }
    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    assert_eq!(caps.len(), sess.files.len(), "capture metadata is kept: {caps:?}");
    for c in &caps {
        assert_eq!(c["available"], false, "an erased image is not available: {c}");
        assert!(sess.files.iter().any(|(_, id, _)| c["id"] == id.as_str()), "{c}");
    }

    let rep = api.get(&format!("/v1/verifications/{vid}/report")).await.ok();
    assert_eq!(rep["verification"]["id"], vid.as_str(), "{rep}");
    assert_eq!(rep["verification"]["status"], "approved", "{rep}");
    assert_eq!(rep["verification"]["redacted"], true, "{rep}");
    assert_eq!(rep["applicant"]["id"], sess.applicant_id.as_str(), "{rep}");
    assert_eq!(rep["decision"]["outcome"], "approved", "{rep}");
    assert_eq!(rep["attempts"][0]["id"], sess.attempt_id.as_str(), "{rep}");
    let rep_ids: Vec<&str> = rep["captures"]
        .as_array()
        .unwrap_or_else(|| panic!("{rep}"))
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    for (_, id, _) in &sess.files {
        assert!(rep_ids.contains(&id.as_str()), "report keeps capture id {id}: {rep}");
    }
    let txt = rep.to_string();
    for secret in [name, email, "DOCNUM98765"] {
        assert!(!txt.contains(secret), "report still shows {secret:?}: {rep}");
    }
    // Personal data of an anonymized applicant cannot be set again.
    let p = api
        .patch(&format!("/v1/applicants/{}", sess.applicant_id), &json!({"full_name": name}))
        .await;
    assert!(
        p.status == 409 || p.status == 410,
        "PATCH of an anonymized applicant: {} {}",
        p.status,
        p.text()
    );
}

#[tokio::test]
async fn delete_removes_verification() {
    let s = Server::start().await;
    let api = s.admin();
    let keep = create_verification(&api, &verification_body("Keep Me", "keep@example.org")).await;
    let v = create_verification(&api, &verification_body("Delete Me", "delete@example.org")).await;
    let vid = str_field(&v, "id");
    let att = create_attempt(&api, &vid).await;
    let c = upload(&api, &vid, "document_front", "image/jpeg", &document_jpeg(31)).await;
    let fid = str_field(&c, "id");

    let r = api.delete(&format!("/v1/verifications/{vid}")).await;
    r.expect(204);
    assert!(r.body.is_empty(), "204 has no body: {}", r.text());

    api.get(&format!("/v1/verifications/{vid}")).await.problem(404, "not-found");
    api.get(&format!("/v1/verifications/{vid}/captures"))
        .await
        .problem(404, "not-found");
    api.get(&format!("/v1/verifications/{vid}/attempts/{}", str_field(&att, "id")))
        .await
        .problem(404, "not-found");
    api.get(&format!("/v1/verifications/{vid}/report")).await.problem(404, "not-found");
    api.get(&format!("/v1/files/{fid}")).await.problem(404, "not-found");
    api.delete(&format!("/v1/verifications/{vid}")).await.problem(404, "not-found");
    let listed = data(&api.get("/v1/verifications").await.ok());
    assert!(!listed.iter().any(|x| x["id"] == vid.as_str()), "deleted one is not listed");

    let k = api.get(&format!("/v1/verifications/{}", str_field(&keep, "id"))).await.ok();
    assert_eq!(k["status"], "created", "another verification is untouched: {k}");
}
