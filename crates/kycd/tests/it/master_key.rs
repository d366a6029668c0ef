//! The master key: the database keeps its check value, so a wrong key, a new data folder
//! on an existing database, or a database from before check values with the wrong key
//! are refused with nothing written; no key is made before the database is reachable;
//! and `kycd keys rotate-master` re-seals everything under a new key, resumes after a
//! crash, and leaves the old key refused.

use crate::console::operator;
use crate::flow::{approve, create_verification, session_to_review, verification_body};
use crate::harness::{CliOutput, Instance, Server, sha256_hex, str_field};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `kycd serve` on `inst` that must refuse to start; its output.
async fn serve_refused(inst: &Instance, env: &[(&str, &str)]) -> CliOutput {
    let out = inst.cli_env(&["serve", "--listen", "127.0.0.1:0"], env).await;
    assert_ne!(out.code, Some(0), "kycd serve should have refused to start:\n{}", out.all_output());
    assert!(
        !out.stdout.contains("admin api key"),
        "a refused start must not create a first tenant:\n{}",
        out.all_output()
    );
    out
}

fn key_file(dir: &Path) -> PathBuf {
    dir.join("master.key")
}

/// A new random key file (64 hex characters) in `dir`.
fn new_key(dir: &Path, name: &str) -> PathBuf {
    use rand::RngCore;
    let mut k = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    let p = dir.join(name);
    std::fs::write(&p, format!("{}\n", hex::encode(k))).unwrap();
    p
}

/// A server with a tenant's worth of sealed data and no images: one verification with
/// an applicant (name, email, external id), and a webhook endpoint (sealed secret).
async fn server_with_data() -> (Server, String) {
    let s = Server::start().await;
    let api = s.admin();
    let mut body = verification_body("Keyed Person", "keyed.person@example.org");
    body["applicant"]["external_applicant_id"] = json!("crm-keyed-1");
    let v = create_verification(&api, &body).await;
    api.post(
        "/v1/webhook_endpoints",
        &json!({"url": "http://127.0.0.1:9/hooks", "enabled_events": ["*"]}),
    )
    .await
    .ok();
    (s, str_field(&v, "id"))
}

fn assert_names_key_file(out: &CliOutput, file: &Path, what: &str) {
    let text = out.all_output();
    assert!(
        text.contains(&file.display().to_string()),
        "names the key file {}: {text}",
        file.display()
    );
    assert!(text.contains(what), "says {what:?}: {text}");
}

#[tokio::test]
async fn a_wrong_master_key_is_refused_before_anything_is_written() {
    let (mut s, vid) = server_with_data().await;
    let admin_key = s.admin_key.clone();
    s.terminate().await;
    let inst = s.instance();
    let file = key_file(inst.data_dir());
    let right = std::fs::read(&file).unwrap();
    let counts =
        "SELECT (SELECT COUNT(*) FROM tenants) * 1000000 + (SELECT COUNT(*) FROM api_keys) * 1000 + (SELECT COUNT(*) FROM audit_entries)";
    let before = inst.query_i64(counts).await;

    // A different, well-formed key: refused with the file named and what to do.
    let other = new_key(inst.data_dir(), "other.key");
    std::fs::copy(&other, &file).unwrap();
    let out = serve_refused(&inst, &[]).await;
    assert_names_key_file(&out, &file, "does not match");
    assert!(
        out.all_output().contains("backup"),
        "says where the right key is: {}",
        out.all_output()
    );
    // Operator commands too: no tenant is created under a wrong key.
    let out = inst.cli(&["tenant", "create", "--name", "Under Wrong Key", "--json"]).await;
    assert_ne!(out.code, Some(0), "{}", out.all_output());
    assert_eq!(inst.query_i64(counts).await, before, "nothing was written");

    // The right key works again, and reads what was sealed.
    std::fs::write(&file, &right).unwrap();
    let s = Server::start_on(inst.clone(), &[], Some(admin_key)).await;
    assert!(s.printed_admin_key.is_none(), "no second first start");
    let v = s.admin().get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_eq!(v["id"], vid.as_str());
}

#[tokio::test]
async fn a_new_data_folder_on_an_existing_database_makes_no_key() {
    let (mut s, _) = server_with_data().await;
    s.stop().await;
    let first = s.instance();
    let url = first.database_url();
    let second = Instance::new().await;
    let out = serve_refused(&second, &[("KYCD_DATABASE_URL", &url)]).await;
    let file = key_file(second.data_dir());
    assert_names_key_file(&out, &file, "already holds data");
    assert!(!file.exists(), "no master key was generated for a database that has one");
}

#[tokio::test]
async fn an_unreachable_database_leaves_no_master_key_behind() {
    let inst = Instance::new().await;
    let missing = inst.data_dir().join("no-such-folder").join("kycd.db");
    for url in [
        "postgres://kycd@127.0.0.1:1/kycd".to_owned(),
        format!("sqlite://{}", missing.display()),
    ] {
        let out = serve_refused(&inst, &[("KYCD_DATABASE_URL", &url)]).await;
        assert!(out.all_output().contains("cannot open the database"), "{}", out.all_output());
        assert!(
            !key_file(inst.data_dir()).exists(),
            "{url}: no master key made before the database answered"
        );
    }
}

#[tokio::test]
async fn a_database_from_before_check_values_takes_only_the_key_that_opens_it() {
    let (mut s, vid) = server_with_data().await;
    let admin_key = s.admin_key.clone();
    s.stop().await;
    let inst = s.instance();
    inst.execute_sql("DELETE FROM master_key").await;
    let file = key_file(inst.data_dir());
    let right = std::fs::read(&file).unwrap();

    std::fs::copy(new_key(inst.data_dir(), "other.key"), &file).unwrap();
    let out = serve_refused(&inst, &[]).await;
    assert_names_key_file(&out, &file, "does not open the data");
    assert_eq!(
        inst.query_i64("SELECT COUNT(*) FROM master_key").await,
        0,
        "no check value recorded"
    );

    std::fs::write(&file, &right).unwrap();
    let s = Server::start_on(inst.clone(), &[], Some(admin_key)).await;
    assert_eq!(
        inst.query_i64("SELECT COUNT(*) FROM master_key").await,
        1,
        "recorded on first start"
    );
    s.admin().get(&format!("/v1/verifications/{vid}")).await.ok();
}

/// The BoldSign report of an email signer: found through the email's blind index.
async fn boldsign_report_by_email(s: &Server, doc: &str, email: &str) -> Value {
    s.admin()
        .post(
            &format!("/compat/boldsign/v1/identityVerification/report?documentId={doc}"),
            &json!({"emailId": email, "order": 1}),
        )
        .await
        .ok()
}

#[tokio::test]
async fn rotating_the_master_key_reseals_everything_and_refuses_the_old_key() {
    let s = Server::start().await;
    let api = s.admin();
    let (doc, email) = ("9c1f6a52-aaaa-4bbb-8ccc-0123456789ab", "rosa.rotation@example.org");
    let body = json!({
        "applicant": {"full_name": "Rosa Rotation", "email": email, "external_applicant_id": "crm-rotation-1"},
        "declared_data": {"full_name": "Rosa Rotation", "document_number": "ROT123456"},
        "reference": {"document_id": doc, "signer_order": 1},
        "delivery": "email"
    });
    let sess = session_to_review(&api, &body, 41).await;
    approve(&api, &sess.vid).await;
    let tenant = {
        let list = s.cli(&["tenant", "list", "--json"]).await.success_json();
        str_field(&list[0], "tenant_id")
    };
    let report_before = boldsign_report_by_email(&s, doc, email).await;
    let applicant_before = api.get(&format!("/v1/applicants/{}", sess.applicant_id)).await.ok();
    let verification_before = api.get(&format!("/v1/verifications/{}", sess.vid)).await.ok();
    let (admin_key, inst) = (s.admin_key.clone(), s.instance());
    let mut s = s;
    s.terminate().await;

    let keys = tempfile::tempdir().unwrap();
    let file = key_file(inst.data_dir());
    let old = std::fs::read(&file).unwrap();
    let new = new_key(keys.path(), "new.key");
    let out = inst.cli(&["keys", "rotate-master", "--new-key-file", new.to_str().unwrap()]).await;
    out.success();
    assert!(out.stdout.contains("now uses the new master key"), "{}", out.all_output());
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&new).unwrap(),
        "the new key is installed"
    );
    let tenants = inst.query_i64("SELECT COUNT(*) FROM tenants").await;
    assert_eq!(
        inst.query_i64("SELECT COUNT(*) FROM audit_entries WHERE action = 'master_key.rotated'")
            .await,
        tenants,
        "an audit entry in every tenant's chain"
    );
    inst.cli(&["audit", "verify"]).await.success();

    // With the new key everything reads as before: images, sealed fields, blind indexes.
    let s = Server::start_on(inst.clone(), &[], Some(admin_key.clone())).await;
    let api = s.admin();
    for (_, id, bytes) in &sess.files {
        let got = api.get(&format!("/v1/files/{id}")).await.ok_bytes();
        assert_eq!(sha256_hex(&got), sha256_hex(bytes), "image {id} after rotation");
    }
    assert_eq!(
        api.get(&format!("/v1/applicants/{}", sess.applicant_id)).await.ok(),
        applicant_before
    );
    let v = api.get(&format!("/v1/verifications/{}", sess.vid)).await.ok();
    assert_eq!(v["declared_data"], verification_before["declared_data"], "{v}");
    let report = boldsign_report_by_email(&s, doc, email).await;
    assert_eq!(report, report_before, "found by the email's blind index");
    let mut reviewer = operator(&s, &tenant, "rotation.reviewer@example.org", "reviewer").await;
    let queue = reviewer.get("/console/queue?q=crm-rotation-1").await;
    queue.expect(200);
    assert!(
        queue.body.contains(&sess.vid),
        "found by the external id's blind index:\n{}",
        queue.body
    );
    // Evidence is still signed with the tenant's (re-sealed) signing key.
    api.get(&format!("/v1/verifications/{}/evidence.zip", sess.vid)).await.ok_bytes();
    let mut s = s;
    s.terminate().await;

    // The old key is refused from now on.
    std::fs::write(&file, &old).unwrap();
    let out = serve_refused(&inst, &[]).await;
    assert_names_key_file(&out, &file, "does not match");
}

#[tokio::test]
async fn a_rotation_killed_half_way_resumes_and_neither_key_serves_meanwhile() {
    let s = Server::start().await;
    let api = s.admin();
    let mut ids = Vec::new();
    for i in 0..4 {
        let v = create_verification(&api, &verification_body(&format!("Half Way {i}"), &format!("half{i}@example.org"))).await;
        ids.push(str_field(&v, "id"));
    }
    let keys = tempfile::tempdir().unwrap();
    let new = new_key(keys.path(), "new.key");
    let new_s = new.to_str().unwrap();
    let inst: Arc<Instance> = s.instance();

    // Not while an instance serves.
    let out = inst.cli(&["keys", "rotate-master", "--new-key-file", new_s]).await;
    assert_ne!(out.code, Some(0));
    assert!(out.all_output().contains("kycd serve is running"), "{}", out.all_output());
    let admin_key = s.admin_key.clone();
    let mut s = s;
    s.terminate().await;

    // Killed after three batches of one row.
    let out = inst
        .cli_env(
            &["keys", "rotate-master", "--new-key-file", new_s, "--batch", "1"],
            &[("KYCD_FAULT_ABORT_ROTATION_AFTER_BATCHES", "3")],
        )
        .await;
    assert_eq!(out.code, Some(137), "{}", out.all_output());
    assert!(
        inst.query_i64("SELECT COUNT(*) FROM master_key WHERE rotating_to IS NOT NULL")
            .await
            == 1,
        "the rotation is recorded as unfinished"
    );
    // Neither key serves a half-rotated database.
    let out = serve_refused(&inst, &[]).await;
    assert!(out.all_output().contains("unfinished"), "{}", out.all_output());
    let out = serve_refused(&inst, &[("KYCD_MASTER_KEY_FILE", new_s)]).await;
    assert!(out.all_output().contains("unfinished"), "{}", out.all_output());

    let out = inst.cli(&["keys", "rotate-master", "--new-key-file", new_s, "--batch", "2"]).await;
    out.success();
    assert!(out.stdout.contains("(resumed)"), "{}", out.all_output());
    let s = Server::start_on(inst.clone(), &[], Some(admin_key)).await;
    for (i, id) in ids.iter().enumerate() {
        let v = s.admin().get(&format!("/v1/verifications/{id}")).await.ok();
        let a = s
            .admin()
            .get(&format!("/v1/applicants/{}", str_field(&v, "applicant_id")))
            .await
            .ok();
        assert_eq!(a["full_name"], format!("Half Way {i}"), "{a}");
    }
}
