//! Encryption at rest: after a full session no file under the data directory holds the
//! applicant's name or email, or any run of the uploaded image's bytes.

use crate::flow::{approve, create_verification, session_to_review, upload};
use crate::harness::{Server, files_under, jpeg, on_postgres, on_s3, str_field};
use serde_json::json;

#[tokio::test]
async fn nothing_personal_or_uploaded_is_stored_in_clear() {
    let mut s = Server::start().await;
    let api = s.admin();
    let name = "Zebulon Quackenbush";
    let email = "zebulon.quackenbush@example.org";
    let body = json!({
        "applicant": {"full_name": name, "email": email, "phone_country_code": "+44", "phone_number": "7700900777"},
        "declared_data": {"full_name": name, "document_number": "QZB99887766"},
        "state": "quackenbush-state"
    });
    let sess = session_to_review(&api, &body, 71).await;
    let vid = sess.vid.clone();
    approve(&api, &vid).await;
    // Reads (files, report) happen too.
    for (_, id, _) in &sess.files {
        api.get(&format!("/v1/files/{id}")).await.expect(200);
    }
    api.get(&format!("/v1/verifications/{vid}/report")).await.ok();
    // A second, distinctive upload left in a verification that is still open.
    let distinctive = jpeg(1400, 900, 0xDEC0DE);
    let v2 = create_verification(&api, &body).await;
    let v2id = str_field(&v2, "id");
    upload(&api, &v2id, "document_front", "image/jpeg", &distinctive).await;
    let mut uploads: Vec<(String, Vec<u8>)> = sess.files.iter().map(|(k, _, b)| (k.clone(), b.clone())).collect();
    uploads.push(("distinctive document".into(), distinctive));
    s.stop().await;

    let dir = s.data_dir().to_path_buf();
    let blob_dir = s.inst.blob_dir();
    let mut files = files_under(&dir);
    if on_s3() {
        // Blobs are on the S3 server: search its objects for this instance too.
        files.extend(files_under(&blob_dir));
    }
    assert!(!files.is_empty());
    let has_sqlite = files.iter().any(|f| f.file_name().is_some_and(|n| n == "kycd.db"));
    if on_postgres() {
        assert!(!has_sqlite, "on PostgreSQL no SQLite database is made: {files:?}");
    } else {
        assert!(has_sqlite, "the SQLite database is in the data dir: {files:?}");
    }
    let blob_files = files.iter().filter(|f| f.starts_with(&blob_dir)).count();
    assert!(blob_files >= 3, "the uploads are blobs under {}: {files:?}", blob_dir.display());

    // Needles: PII strings and 64-byte windows from several offsets of every upload.
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("name".into(), name.as_bytes().to_vec()),
        ("email".into(), email.as_bytes().to_vec()),
        ("email local part".into(), b"zebulon.quackenbush".to_vec()),
        ("surname".into(), b"Quackenbush".to_vec()),
        ("document number".into(), b"QZB99887766".to_vec()),
        ("phone".into(), b"7700900777".to_vec()),
        ("state".into(), b"quackenbush-state".to_vec()),
    ];
    for (kind, bytes) in &uploads {
        let n = bytes.len();
        for off in [700, n / 5, n / 3, n / 2, 2 * n / 3, 4 * n / 5, n - 128] {
            needles.push((format!("{kind} bytes [{off}..{}]", off + 64), bytes[off..off + 64].to_vec()));
        }
    }
    let mut found = Vec::new();
    for f in &files {
        let hay = std::fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        for (what, needle) in &needles {
            if memchr::memmem::find(&hay, needle).is_some() {
                found.push(format!("{} contains the {what}", f.display()));
            }
        }
    }
    assert!(found.is_empty(), "stored in clear:\n{}", found.join("\n"));
}

#[tokio::test]
async fn master_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start().await;
    let path = s.data_dir().join("master.key");
    let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "master key mode");
    assert!(meta.len() > 0, "master key is not empty");
}

/// Bad or contradictory blob-store settings stop kycd at start, saying what to set.
#[tokio::test]
async fn bad_blob_store_settings_are_refused_at_start() {
    let inst = crate::harness::Instance::new().await;
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Env, &[&str]); 4] = [
        (
            &[("KYCD_BLOB_STORE", "s3"), ("KYCD_S3_BUCKET", "")],
            &["KYCD_BLOB_STORE=s3 needs KYCD_S3_BUCKET (--s3-bucket)"],
        ),
        (
            &[("KYCD_BLOB_STORE", "local"), ("KYCD_S3_BUCKET", "kycd"), ("KYCD_S3_ENDPOINT", "")],
            &["KYCD_S3_BUCKET is set but KYCD_BLOB_STORE is not 's3'"],
        ),
        (
            &[("KYCD_BLOB_STORE", "ftp")],
            &[
                "invalid value 'ftp' for '--blob-store <BLOB_STORE>'",
                "[possible values: local, s3]",
                "the environment variable KYCD_BLOB_STORE",
            ],
        ),
        (
            &[
                ("KYCD_BLOB_STORE", "s3"),
                ("KYCD_S3_BUCKET", "kycd"),
                ("KYCD_S3_ENDPOINT", "127.0.0.1:9000"),
            ],
            &[
                "must start with http:// or https://, got '127.0.0.1:9000'",
                "the environment variable KYCD_S3_ENDPOINT",
            ],
        ),
    ];
    for (env, wanted) in cases {
        let out = inst.cli_env(&["migrate"], env).await;
        let text = out.all_output();
        assert_ne!(out.code, Some(0), "{env:?} must fail:\n{text}");
        for want in wanted {
            assert!(text.contains(want), "{env:?}: expected {want:?} in:\n{text}");
        }
    }
}

/// A capture is stored in chunks and streamed back: the download is the upload, byte for
/// byte. A blob altered after upload is never served as a shorter or different file that
/// looks complete: the connection is cut, and the log says why (without personal data).
#[tokio::test]
async fn downloads_stream_and_a_damaged_blob_is_never_served_whole() {
    let s = Server::start().await;
    let api = s.admin();
    let v = create_verification(&api, &json!({"applicant": {"full_name": "Stream Person"}})).await;
    let vid = str_field(&v, "id");
    let photo = jpeg(2400, 1800, 0x5EED);
    assert!(photo.len() > 3 * 64 * 1024, "several 64 KiB chunks: {} bytes", photo.len());
    let c = upload(&api, &vid, "document_front", "image/jpeg", &photo).await;
    let fid = str_field(&c, "id");
    let got = api.get(&format!("/v1/files/{fid}")).await;
    got.expect(200);
    assert!(got.body == photo, "the streamed download is the upload");
    if on_s3() {
        // The blob is altered on the local disk below.
        return;
    }
    let blob = files_under(&s.inst.blob_dir())
        .into_iter()
        .find(|f| f.ends_with(&fid))
        .unwrap_or_else(|| panic!("the blob of {fid} under {}", s.inst.blob_dir().display()));
    let mut sealed = std::fs::read(&blob).unwrap();
    assert!(sealed.starts_with(b"kycdCH1\n"), "new blobs are in the chunked format");
    let at = sealed.len() * 2 / 3;
    sealed[at] ^= 0x40;
    std::fs::write(&blob, &sealed).unwrap();
    let path = format!("/v1/files/{fid}");
    match api
        .try_send(format!("GET {path} (damaged)"), api.req(reqwest::Method::GET, &path))
        .await
    {
        Err(e) => assert!(e.is_body() || e.is_decode() || e.is_request(), "the body is cut: {e}"),
        Ok(r) => panic!(
            "a damaged blob was served: {} with {} of {} bytes",
            r.status,
            r.body.len(),
            photo.len()
        ),
    }
    // The log line is written as the body fails; the harness reads the log as it comes.
    let mut logs = s.logs();
    for _ in 0..100 {
        if logs.contains("the connection is aborted") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        logs = s.logs();
    }
    assert!(logs.contains("the connection is aborted"), "{logs}");
    assert!(!logs.contains("Stream Person"), "no personal data in the log");
    // Undamaged files of the same server still download.
    let c2 = upload(&api, &vid, "document_back", "image/jpeg", &photo).await;
    let again = api.get(&format!("/v1/files/{}", str_field(&c2, "id"))).await;
    assert!(again.body == photo, "another blob is unaffected");
}
