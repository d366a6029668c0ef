//! Backups and moving up (issue 23 §5): `kycd backup` while the server works, `kycd
//! restore` into a new data directory (with the right master key only), and `kycd
//! migrate-store` from the embedded default to the PostgreSQL server the suite runs on
//! (and, in the S3 run, the S3 server), resumed after part of the copy is lost.

use crate::flow::{approve, create_verification, session_to_review, verification_body};
use crate::harness::{Instance, Server, files_under, on_postgres, pg_base_url, s3_test, str_field};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

fn write_key(path: &Path, contents: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    for f in files_under(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

#[tokio::test]
async fn backup_while_serving_then_restore_with_the_right_key_only() {
    let mut server = Server::start_on(Instance::new_sqlite().await, &[], None).await;
    let api = server.admin();
    let s = session_to_review(&api, &verification_body("Bea Backup", "bea@example.org"), 91).await;
    let front = s.files.iter().find(|f| f.0 == "document_front").unwrap();

    // The backup runs while verifications keep being created.
    let dest_dir = tempfile::tempdir().unwrap();
    let dest = dest_dir.path().join("backup-1");
    let writer = {
        let api = api.clone();
        tokio::spawn(async move {
            for i in 0..15 {
                create_verification(&api, &verification_body(&format!("During {i}"), &format!("during{i}@example.org"))).await;
            }
        })
    };
    let out = server.cli(&["backup", dest.to_str().unwrap()]).await;
    out.success();
    writer.await.unwrap();
    assert!(
        out.stdout.contains("master key is NOT in the backup") && out.stdout.contains("master.key"),
        "says to keep the key apart: {}",
        out.stdout
    );
    let key_hex = std::fs::read_to_string(server.data_dir().join("master.key")).unwrap();
    let key_hex = key_hex.trim();
    for f in files_under(&dest) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !f.ends_with("master.key") && memchr::memmem::find(&bytes, key_hex.as_bytes()).is_none(),
            "the master key is in the backup: {}",
            f.display()
        );
    }
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dest.join("kycd-backup.json")).unwrap()).unwrap();
    let backed_up = manifest["tables"]["verifications"].as_i64().unwrap();
    assert!((1..=16).contains(&backed_up), "{manifest}");
    assert_eq!(manifest["blobs"].as_object().unwrap().len(), 2, "document and selfie: {manifest}");
    // A second backup never lands on top of the first.
    let again = server.cli(&["backup", dest.to_str().unwrap()]).await;
    assert_ne!(again.code, Some(0));
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);

    // After the backup the verification is approved: the restore brings back the state
    // at the backup, not the live one.
    approve(&api, &s.vid).await;
    server.terminate().await;

    let target = Instance::new_sqlite().await;
    let no_key = target.cli(&["restore", dest.to_str().unwrap()]).await;
    assert_ne!(no_key.code, Some(0));
    assert!(no_key.stderr.contains("does not contain the master key"), "{}", no_key.stderr);
    write_key(&target.data_dir().join("master.key"), format!("{}\n", "ab".repeat(32)).as_bytes());
    let wrong = target.cli(&["restore", dest.to_str().unwrap()]).await;
    assert_ne!(wrong.code, Some(0));
    assert!(wrong.stderr.contains("not the key this backup was made with"), "{}", wrong.stderr);
    assert!(!target.data_dir().join("kycd.db").exists(), "nothing restored with a wrong key");
    std::fs::copy(server.data_dir().join("master.key"), target.data_dir().join("master.key")).unwrap();
    let restored = target.cli(&["restore", dest.to_str().unwrap()]).await;
    restored.success();
    assert!(restored.stdout.contains("audit chain ok"), "{}", restored.stdout);
    assert_eq!(
        target.query_i64("SELECT COUNT(*) FROM running_instances").await,
        0,
        "the instance serving during the backup does not serve the restored copy"
    );
    let twice = target.cli(&["restore", dest.to_str().unwrap()]).await;
    assert_ne!(twice.code, Some(0));
    assert!(twice.stderr.contains("already holds a database"), "{}", twice.stderr);

    let back = Server::start_on(target.clone(), &[], Some(server.admin_key.clone())).await;
    let api = back.admin();
    let v = api.get(&format!("/v1/verifications/{}", s.vid)).await.ok();
    assert_eq!(v["status"], "review_required", "the state at the backup: {v}");
    assert_eq!(api.get(&format!("/v1/files/{}", front.1)).await.ok_bytes(), front.2);
    let list = api.get("/v1/verifications?limit=100").await.ok();
    assert_eq!(list["data"].as_array().unwrap().len() as i64, backed_up);
    target.cli(&["audit", "verify"]).await.success();
}

#[tokio::test]
async fn backup_names_the_tools_for_postgresql() {
    if !on_postgres() {
        return;
    }
    let server = Server::start().await;
    let out = server.cli(&["backup", "/tmp/kycd-never-written"]).await;
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("pg_dump"), "{}", out.stderr);
    assert!(!Path::new("/tmp/kycd-never-written").exists());
}

/// migrate-store needs a PostgreSQL server: the one `KYCD_TEST_DATABASE_URL` names (the
/// suite's PostgreSQL runs).
#[tokio::test]
async fn migrate_store_moves_the_embedded_default_to_postgresql_resumably() {
    if pg_base_url().is_none() {
        eprintln!("migrate-store: KYCD_TEST_DATABASE_URL is not set; this test runs in the PostgreSQL runs of scripts/test");
        return;
    }
    let source = Instance::new_sqlite().await;
    let mut server = Server::start_on(source.clone(), &[], None).await;
    let api = server.admin();
    let s = session_to_review(&api, &verification_body("Moritz Move", "moritz@example.org"), 93).await;
    let second = session_to_review(&api, &verification_body("Nora Next", "nora@example.org"), 95).await;
    approve(&api, &second.vid).await;
    api.post(
        "/v1/webhook_endpoints",
        &json!({"url": "http://127.0.0.1:9/hooks", "enabled_events": ["verification.approved"]}),
    )
    .await
    .ok();

    // The target: a fresh database on the suite's PostgreSQL server (and S3 prefix).
    let target: Arc<Instance> = Instance::new().await;
    let to = target.db_url.clone().unwrap();
    let mut args = vec!["migrate-store", "--to", to.as_str(), "--batch", "7"];
    let mut env: Vec<(&str, String)> = Vec::new();
    let blobs_url;
    if let (Some(s3), Some(prefix)) = (s3_test(), &target.s3_prefix) {
        blobs_url = format!("s3://{}/{prefix}", s3.bucket);
        args.extend(["--blobs", blobs_url.as_str()]);
        env.push(("KYCD_S3_ENDPOINT", s3.endpoint.clone()));
        env.push(("KYCD_S3_ACCESS_KEY_ID", s3.access_key.clone()));
        env.push(("KYCD_S3_SECRET_ACCESS_KEY", s3.secret_key.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Not while an instance serves from the source: its writes would be missed.
    let refused = source.cli_env(&args, &env).await;
    assert_ne!(refused.code, Some(0));
    assert!(refused.stderr.contains("kycd serve is running"), "{}", refused.stderr);
    server.terminate().await;

    let out = source.cli_env(&args, &env).await;
    out.success();
    assert!(
        out.stdout.contains("row counts equal") && out.stdout.contains("audit chain ok"),
        "{}",
        out.stdout
    );
    let src_entries = source.query_i64("SELECT COUNT(*) FROM audit_entries").await;
    assert_eq!(target.query_i64("SELECT COUNT(*) FROM audit_entries").await, src_entries);
    for table in ["verifications", "captures", "applicants", "webhook_endpoints", "master_key"] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        assert_eq!(target.query_i64(&sql).await, source.query_i64(&sql).await, "{table}");
    }

    // A run that stopped half-way left only part of a table: the next run copies the rest.
    let lost = target.execute_sql("DELETE FROM audit_entries WHERE seq > 4").await;
    assert!(lost > 0);
    let again = source.cli_env(&args, &env).await;
    again.success();
    assert!(
        again.stdout.contains(&format!("copied {lost} of ")),
        "only the missing rows are copied: {}",
        again.stdout
    );
    assert_eq!(target.query_i64("SELECT COUNT(*) FROM audit_entries").await, src_entries);

    // The moved installation serves the same verifications with the same master key.
    std::fs::copy(source.data_dir().join("master.key"), target.data_dir().join("master.key")).unwrap();
    if target.s3_prefix.is_none() {
        // Blobs stay in a folder: it moves with the installation.
        copy_tree(&source.data_dir().join("blobs"), &target.data_dir().join("blobs"));
    }
    let moved = Server::start_on(target.clone(), &[], Some(server.admin_key.clone())).await;
    let api = moved.admin();
    let v = api.get(&format!("/v1/verifications/{}", s.vid)).await.ok();
    assert_eq!(v["status"], "review_required", "{v}");
    assert_eq!(
        api.get(&format!("/v1/verifications/{}", second.vid)).await.ok()["status"],
        "approved"
    );
    for (_, file, bytes) in &s.files {
        assert_eq!(&api.get(&format!("/v1/files/{file}")).await.ok_bytes(), bytes);
    }
    let report = api.get(&format!("/v1/verifications/{}/report", s.vid)).await.ok();
    assert_eq!(str_field(&report["verification"], "id"), s.vid, "{report}");
    target.cli(&["audit", "verify"]).await.success();

    // Another installation's data is never mixed into this one.
    let other = Instance::new_sqlite().await;
    other.create_tenant("Other", false).await;
    let mixed = other.cli_env(&args, &env).await;
    assert_ne!(mixed.code, Some(0));
    assert!(mixed.stderr.contains("another installation"), "{}", mixed.stderr);
}
