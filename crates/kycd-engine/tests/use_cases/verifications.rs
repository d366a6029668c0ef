//! A verification from creation to a decision, without models: what could not be checked
//! goes to a person, never to an approval.

use crate::*;

#[tokio::test]
async fn submit_waits_for_the_required_captures_and_processing_without_models_asks_a_person() {
    let (t, p, v) = TestEngine::with_verification("Bank").await;
    assert_eq!(v.status, VerificationStatus::Created);

    match t.engine.submit(&p, &v.id).await {
        Err(EngineError::Conflict(m) | EngineError::Invalid(m)) => assert!(m.contains("upload"), "{m}"),
        other => panic!("submit without captures: {:?}", other.map(|v| v.status)),
    }
    t.upload(&p, &v, CaptureKind::DocumentFront).await;
    t.upload(&p, &v, CaptureKind::Selfie).await;
    let submitted = t.engine.submit(&p, &v.id).await.unwrap();
    assert_eq!(submitted.status, VerificationStatus::Processing);

    t.engine.process_verification(&p.tenant_id, &v.id).await.unwrap();
    let done = t.engine.get_verification(&p, &v.id).await.unwrap();
    // Nothing could be verified without the models: a person decides, never the machine.
    assert_eq!(done.status, VerificationStatus::ReviewRequired, "{:?}", done.checks);
    assert!(done.checks.iter().any(|c| !c.passed), "{:?}", done.checks);
    // Processing twice (a job run again after a crash) changes nothing.
    t.engine.process_verification(&p.tenant_id, &v.id).await.unwrap();
    assert_eq!(t.engine.get_verification(&p, &v.id).await.unwrap().status, done.status);
}

#[tokio::test]
async fn a_cancelled_verification_takes_no_more_captures() {
    let (t, p, v) = TestEngine::with_verification("Bank").await;
    let cancelled = t.engine.cancel_verification(&p, &v.id).await.unwrap();
    assert_eq!(cancelled.status, VerificationStatus::Cancelled);
    assert!(matches!(
        t.engine.add_capture(&p, &v.id, CaptureKind::Selfie, photo()).await,
        Err(EngineError::Conflict(_))
    ));
    assert!(matches!(
        t.engine.cancel_verification(&p, &v.id).await,
        Err(EngineError::Conflict(_))
    ));
    assert!(t.blob_files().is_empty());
}

#[tokio::test]
async fn a_reviewer_decides_a_case_in_review_once() {
    let (t, p, v) = TestEngine::with_verification("Bank").await;
    t.upload(&p, &v, CaptureKind::DocumentFront).await;
    t.upload(&p, &v, CaptureKind::Selfie).await;
    t.engine.submit(&p, &v.id).await.unwrap();
    t.engine.process_verification(&p.tenant_id, &v.id).await.unwrap();
    let v = t.engine.get_verification(&p, &v.id).await.unwrap();
    assert_eq!(v.status, VerificationStatus::ReviewRequired, "{:?}", v.checks);
    assert!(
        matches!(
            t.engine.review(&p, &v.id, ReviewDecision::Approve, &"x".repeat(100_000)).await,
            Err(EngineError::Invalid(_))
        ),
        "an overlong reason is refused"
    );
    let decided = t
        .engine
        .review(&p, &v.id, ReviewDecision::Decline, "the photo is not of a document")
        .await
        .unwrap();
    assert_eq!(decided.status, VerificationStatus::Declined);
    assert!(matches!(
        t.engine.review(&p, &v.id, ReviewDecision::Approve, "changed my mind").await,
        Err(EngineError::Conflict(_))
    ));
}
