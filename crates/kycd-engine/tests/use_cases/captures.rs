//! Uploads: checked, encrypted before they touch the disk, read back whole and audited.

use crate::*;

#[tokio::test]
async fn an_upload_is_kept_encrypted_and_reads_back_as_sent() {
    let (t, p, v) = TestEngine::with_verification("Clinic").await;
    let jpeg = photo();
    let c = t
        .engine
        .add_capture(&p, &v.id, CaptureKind::DocumentFront, jpeg.clone())
        .await
        .unwrap();
    assert_eq!(c.size, jpeg.len() as u64);
    assert_eq!(c.sha256, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&jpeg)));

    // On disk: one file, none of the image's bytes in the clear.
    let files = t.blob_files();
    assert_eq!(files.len(), 1, "one blob for one upload");
    let (_, sealed) = &files[0];
    let probe = &jpeg[jpeg.len() / 2..jpeg.len() / 2 + 64];
    assert!(!sealed.windows(probe.len()).any(|w| w == probe), "the blob holds plaintext");
    assert!(!sealed.starts_with(&[0xFF, 0xD8]), "the blob starts like a JPEG");

    let (got, stream) = t.engine.read_file(&p, &c.id).await.unwrap();
    assert_eq!(got.id, c.id);
    assert_eq!(read_all(stream).await, jpeg);
    let trail = t.engine.audit_trail(&p.tenant_id, c.id.as_str()).await.unwrap();
    assert!(trail.iter().any(|e| e.action == "file.read"), "every read is audited: {trail:?}");
}

#[tokio::test]
async fn what_is_not_an_image_is_refused_and_nothing_is_kept() {
    let (t, p, v) = TestEngine::with_verification("Clinic").await;
    for junk in [Vec::new(), b"%PDF-1.7 not an image".to_vec(), photo()[..5000].to_vec()] {
        let r = t.engine.add_capture(&p, &v.id, CaptureKind::Selfie, junk).await;
        let e = r.expect_err("refused");
        assert!(
            matches!(
                e,
                EngineError::UnsupportedMedia(_) | EngineError::UnprocessableImage(_) | EngineError::Invalid(_)
            ),
            "{e:?}"
        );
        assert!(!e.to_string().is_empty());
    }
    assert!(t.engine.list_captures(&p, &v.id).await.unwrap().is_empty());
    assert!(t.blob_files().is_empty(), "a refused upload leaves no blob");
}
