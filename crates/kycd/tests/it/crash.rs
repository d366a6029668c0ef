//! Crash consistency: blob first, row second; a crash in between leaves an orphan blob
//! and no row, and the sweeper removes the orphan.

use crate::flow::{create_verification, data, verification_body};
use crate::harness::{Server, document_jpeg, files_under, str_field};
use std::time::Duration;

#[tokio::test]
async fn crash_after_blob_write_leaves_no_row_and_purge_removes_the_orphan() {
    let mut first = Server::start_with_env(&[("KYCD_FAULT_CRASH_AFTER_BLOB_WRITE", "1")]).await;
    let api = first.admin();
    let v = create_verification(&api, &verification_body("Crash Person", "crash@example.org")).await;
    let vid = str_field(&v, "id");
    let path = format!("/v1/verifications/{vid}/captures?kind=document_front");
    let res = api
        .try_send(
            "upload that crashes the server".into(),
            api.raw_request(&path, "image/jpeg", document_jpeg(81)),
        )
        .await;
    assert!(
        res.is_err(),
        "the upload must fail with a connection error when the server aborts, got {:?}",
        res.map(|r| (r.status, r.text()))
    );
    let exit = first.wait_exit(Duration::from_secs(15)).await;
    assert!(
        exit.is_some_and(|st| !st.success()),
        "the server process must have exited (abort) after the blob write: {exit:?}"
    );
    let admin_key = first.admin_key.clone();
    let inst = first.instance();
    drop(first);

    let blob_dir = inst.blob_dir();
    let blobs = files_under(&blob_dir);
    assert_eq!(
        blobs.len(),
        1,
        "exactly the one orphan blob under {}: {blobs:?}",
        blob_dir.display()
    );

    let second = Server::start_on(inst.clone(), &[], Some(admin_key)).await;
    assert!(
        second.printed_admin_key.is_none(),
        "the admin key is printed on the first start only"
    );
    let api = second.admin();
    let got = api.get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_ne!(got["status"], "capture_in_progress", "no capture was recorded: {got}");
    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    assert!(caps.is_empty(), "the crashed upload left no row: {caps:?}");
    assert_eq!(files_under(&blob_dir).len(), 1, "the orphan is still there before the sweep");

    let out = second.cli(&["purge", "--orphans", "--grace-seconds", "0"]).await;
    out.success();
    assert!(
        out.stdout.contains("removed 1 orphan blob(s)"),
        "purge reports what it removed: {}",
        out.all_output()
    );
    let left = files_under(&blob_dir);
    assert!(left.is_empty(), "no blob file remains: {left:?}");

    // The server still works after the sweep: a new upload is stored and readable.
    let bytes = document_jpeg(82);
    let c = crate::flow::upload(&api, &vid, "document_front", "image/jpeg", &bytes).await;
    let f = api.get(&format!("/v1/files/{}", str_field(&c, "id"))).await;
    f.expect(200);
    assert!(f.body == bytes);
    let again = second.cli(&["purge", "--orphans", "--grace-seconds", "0"]).await;
    again.success();
    assert!(
        again.stdout.contains("removed 0 orphan blob(s)"),
        "a referenced blob is not an orphan: {}",
        again.all_output()
    );
    assert_eq!(files_under(&blob_dir).len(), 1);
}
