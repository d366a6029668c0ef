//! The tenant's default policy over the API: versioned, admin-only, validated, applied to
//! verifications created without a policy of their own, never to existing ones.

use crate::flow::{create_verification, verification_body};
use crate::harness::{Server, str_field};
use serde_json::json;

#[tokio::test]
async fn a_tenant_policy_is_versioned_and_applies_to_new_verifications_only() {
    let server = Server::start().await;
    let admin = server.admin();
    let r = admin.get("/v1/settings/policy").await.ok();
    assert_eq!(r["version"], json!(null), "{r}");
    assert_eq!(r["policy"]["max_attempts"], 3, "kycd's defaults: {r}");

    let tenant = server.cli(&["tenant", "list", "--json"]).await.success_json();
    let tenant = str_field(&tenant[0], "tenant_id");
    let (_, reviewer_key) = server.inst.create_key(&tenant, "reviewer").await;
    let reviewer = server.client_for(&reviewer_key);
    reviewer
        .put("/v1/settings/policy", &json!({"selfie_required": false}))
        .await
        .problem(403, "forbidden");
    let bad = admin.put("/v1/settings/policy", &json!({"max_attempts": 0})).await;
    assert!(bad.status == 400 || bad.status == 422, "{}", bad.text());
    assert!(bad.text().contains("max_attempts"), "{}", bad.text());
    let unknown = admin.put("/v1/settings/policy", &json!({"selfie": false})).await;
    assert!(unknown.status == 400 || unknown.status == 422, "{}", unknown.text());
    assert_eq!(
        admin.get("/v1/settings/policy").await.ok()["version"],
        json!(null),
        "refused: nothing stored"
    );

    let v1 = admin
        .put(
            "/v1/settings/policy",
            &json!({"selfie_required": false, "accepted_document_types": ["passport"]}),
        )
        .await
        .ok();
    assert_eq!(v1["version"], 1, "{v1}");
    assert_eq!(v1["policy"]["min_age"], 18, "absent fields take the defaults: {v1}");

    let under_v1 = create_verification(&admin, &verification_body("Pia Policy", "pia@example.org")).await;
    assert_eq!(under_v1["policy"]["selfie_required"], false, "{under_v1}");
    assert_eq!(under_v1["policy"]["accepted_document_types"], json!(["passport"]), "{under_v1}");
    let mut own = verification_body("Otto Own", "otto@example.org");
    own["policy"] = json!({"max_attempts": 5});
    let with_own = create_verification(&admin, &own).await;
    assert_eq!(
        with_own["policy"]["selfie_required"], true,
        "its own policy, not the tenant's: {with_own}"
    );
    assert_eq!(with_own["policy"]["max_attempts"], 5, "{with_own}");

    let v2 = admin.put("/v1/settings/policy", &json!({"max_attempts": 1})).await.ok();
    assert_eq!(v2["version"], 2, "{v2}");
    let id = str_field(&under_v1, "id");
    let again = admin.get(&format!("/v1/verifications/{id}")).await.ok();
    assert_eq!(
        again["policy"]["selfie_required"], false,
        "an existing verification keeps its policy: {again}"
    );
    let report = admin.get(&format!("/v1/verifications/{id}/report")).await.ok();
    assert!(
        report["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "policy.applied.v1"),
        "the version it runs under is in its audit trail: {report}"
    );
    assert_eq!(admin.get("/v1/settings/policy").await.ok()["version"], 2);
}
