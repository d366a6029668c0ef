//! Tenants and API keys; another tenant's ids answer "not found", never its data.

use crate::*;

#[tokio::test]
async fn a_key_authenticates_its_tenant_until_it_is_revoked() {
    let t = TestEngine::new().await;
    let created = t.engine.create_tenant("Bank", Mode::Test).await.unwrap();
    let p = t.engine.authenticate(&created.api_key).await.unwrap();
    assert_eq!(p.tenant_id, created.tenant_id);
    for bad in ["", "kycd_", "Bearer x", &format!("{}x", created.api_key)] {
        assert!(
            matches!(t.engine.authenticate(bad).await, Err(EngineError::Unauthorized(_))),
            "{bad:?}"
        );
    }
    t.engine.revoke_api_key(&created.key_id).await.unwrap();
    match t.engine.authenticate(&created.api_key).await {
        Err(EngineError::Unauthorized(m)) => assert!(m.contains("revoked"), "{m}"),
        other => panic!("a revoked key must be refused: {:?}", other.map(|p| p.tenant_id)),
    }
}

#[tokio::test]
async fn another_tenants_ids_are_not_found() {
    let t = TestEngine::new().await;
    let (a, _) = t.tenant("A").await;
    let (b, _) = t.tenant("B").await;
    let v = t.verification(&a).await;
    let file = t.upload(&a, &v, CaptureKind::DocumentFront).await;
    let v = t.engine.get_verification(&a, &v.id).await.unwrap();

    let nf = |r: std::result::Result<(), EngineError>, what: &str| {
        assert!(matches!(r, Err(EngineError::NotFound(_))), "{what}: {r:?}");
    };
    nf(t.engine.get_verification(&b, &v.id).await.map(drop), "get");
    nf(t.engine.report(&b, &v.id).await.map(drop), "report");
    nf(t.engine.list_captures(&b, &v.id).await.map(drop), "captures");
    nf(t.engine.read_file(&b, &file.id).await.map(drop), "file");
    nf(
        t.engine.add_capture(&b, &v.id, CaptureKind::Selfie, photo()).await.map(drop),
        "upload",
    );
    nf(t.engine.submit(&b, &v.id).await.map(drop), "submit");
    nf(t.engine.cancel_verification(&b, &v.id).await.map(drop), "cancel");
    nf(t.engine.anonymize(&b, &v.id).await.map(drop), "anonymize");
    nf(t.engine.delete(&b, &v.id).await, "delete");
    nf(t.engine.get_applicant(&b, &v.applicant_id).await.map(drop), "applicant");

    // Nothing of A's changed, and B's list is empty.
    let still = t.engine.get_verification(&a, &v.id).await.unwrap();
    assert_eq!(still.status, v.status);
    assert_eq!(t.engine.list_captures(&a, &v.id).await.unwrap().len(), 1);
    assert!(t.engine.list_verifications(&b, None, None, 50).await.unwrap().items.is_empty());
}
