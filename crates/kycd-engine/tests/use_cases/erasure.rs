//! Anonymize and delete: what is called erased is gone from the disk.

use crate::*;

#[tokio::test]
async fn anonymize_removes_the_images_from_the_disk_and_the_report_says_so() {
    let (t, p, v) = TestEngine::with_verification("Law firm").await;
    let c = t.upload(&p, &v, CaptureKind::DocumentFront).await;
    assert_eq!(t.blob_files().len(), 1);

    let after = t.engine.anonymize(&p, &v.id).await.unwrap();
    assert_eq!(
        after.status,
        VerificationStatus::Cancelled,
        "an open verification is cancelled first"
    );
    assert!(t.blob_files().is_empty(), "the sealed image stays on disk after anonymize");
    assert!(matches!(t.engine.read_file(&p, &c.id).await, Err(EngineError::Gone(_))));
    let report = t.engine.report(&p, &v.id).await.unwrap();
    assert!(report.captures.iter().all(|c| !c.available));
    assert!(
        report.applicant.person.full_name.is_none(),
        "the person's name stays after anonymize"
    );
    // Anonymizing twice is harmless.
    t.engine.anonymize(&p, &v.id).await.unwrap();
}

#[tokio::test]
async fn delete_removes_the_verification_and_its_images() {
    let (t, p, v) = TestEngine::with_verification("Law firm").await;
    t.upload(&p, &v, CaptureKind::Selfie).await;
    t.engine.delete(&p, &v.id).await.unwrap();
    assert!(matches!(t.engine.get_verification(&p, &v.id).await, Err(EngineError::NotFound(_))));
    assert!(t.blob_files().is_empty());
}
