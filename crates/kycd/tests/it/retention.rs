//! Data lifecycle end to end: expiry, retention sweeps (crypto-shredding), tombstone
//! deletion, legal hold, `kycd purge --dry-run`, `kycd jobs list`, and a server killed
//! with SIGKILL in the middle of processing. Time moves through the server's test clock
//! (KYCD_TEST_CLOCK_OFFSET_FILE) instead of sleeping.

use crate::common::{TestClock, items, poll};
use crate::flow::{approve, create_verification, session_to_review, verification_body};
use crate::harness::{Server, files_under, str_field};
use serde_json::{Value, json};
use std::time::Duration;

const DAY: i64 = 86_400;

/// Wait until `n` blob files are left under `dir`. Anonymization commits first (the data
/// keys are gone with it, so the API already says "redacted") and deletes the blobs just
/// after, so the files may trail the API by a moment.
async fn wait_files(dir: &std::path::Path, n: usize, what: &str) {
    poll(Duration::from_secs(30), Duration::from_millis(50), async || {
        let left = files_under(dir);
        let done = left.len() == n;
        done.then_some(()).ok_or(format!("{what}: {} files left: {left:?}", left.len()))
    })
    .await
}

/// Poll `GET path` until `pred` holds (the sweep runs in the background).
async fn wait_for(api: &crate::harness::Api, path: &str, what: &str, pred: impl Fn(&crate::harness::Resp) -> bool) {
    poll(Duration::from_secs(120), Duration::from_millis(100), async || {
        let r = api.get(path).await;
        pred(&r).then_some(()).ok_or(format!("{what}: still {} {}", r.status, r.text()))
    })
    .await
}

#[tokio::test]
async fn retention_sweeps_anonymize_then_delete_and_respect_legal_hold() {
    let (clock, server) = TestClock::with_server(&[("KYCD_SWEEP_INTERVAL_SECONDS", "1")]).await;
    let api = server.admin();

    // Settings: defaults, validation, admin only.
    let r = api.get("/v1/settings/retention").await.ok();
    assert_eq!(r, json!({"retention_days": 90, "max_retention_days": 3650, "tombstone_days": 365}));
    let bad = api
        .put(
            "/v1/settings/retention",
            &json!({"retention_days": 400, "max_retention_days": 365, "tombstone_days": 365}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text());
    assert!(bad.text().contains("max_retention_days"), "{}", bad.text());
    let tenant_id = server.cli(&["tenant", "list", "--json"]).await.success_json();
    let tenant_id = str_field(&tenant_id[0], "tenant_id");
    let (_, integration_key) = server.inst.create_key(&tenant_id, "integration").await;
    let integration = server.client_for(&integration_key);
    let r = integration
        .put(
            "/v1/settings/retention",
            &json!({"retention_days": 30, "max_retention_days": 365, "tombstone_days": 365}),
        )
        .await;
    assert_eq!(r.status, 403, "only admins change retention: {}", r.text());
    let r = api
        .put(
            "/v1/settings/retention",
            &json!({"retention_days": 90, "max_retention_days": 400, "tombstone_days": 365}),
        )
        .await
        .ok();
    assert_eq!(r["max_retention_days"], 400);

    // Per-verification retention within the tenant's bounds.
    let mut body = verification_body("Too Long", "long@example.org");
    body["retention_days"] = json!(401);
    let r = api.post("/v1/verifications", &body).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("max_retention_days (400)"), "{}", r.text());

    // A: approved, default 90 days. B: approved, on legal hold. C: cancelled, 30 days.
    // D: never started, expires after its time to live.
    let a = session_to_review(&api, &verification_body("Anna Retention", "anna@example.org"), 11).await;
    let a_view = approve(&api, &a.vid).await;
    let anonymize_at = a_view["retention"]["anonymize_at"].as_str().unwrap().to_owned();
    assert!(a_view["retention"]["delete_at"].is_null(), "{a_view}");
    let b = session_to_review(&api, &verification_body("Bert Held", "bert@example.org"), 21).await;
    approve(&api, &b.vid).await;
    let r = integration
        .put(&format!("/v1/verifications/{}/legal_hold", b.vid), &json!({"enabled": true}))
        .await;
    assert_eq!(r.status, 403, "only admins set a legal hold: {}", r.text());
    let held = api
        .put(&format!("/v1/verifications/{}/legal_hold", b.vid), &json!({"enabled": true}))
        .await
        .ok();
    assert_eq!(held["retention"]["legal_hold"], true);
    let r = api.post_empty(&format!("/v1/verifications/{}/anonymize", b.vid)).await;
    assert_eq!(r.status, 409, "a held verification cannot be anonymized: {}", r.text());
    assert!(r.text().contains("legal hold"), "{}", r.text());
    let r = api.delete(&format!("/v1/verifications/{}", b.vid)).await;
    assert_eq!(r.status, 409, "a held verification cannot be deleted: {}", r.text());
    let mut c_body = verification_body("Cora Short", "cora@example.org");
    c_body["retention_days"] = json!(30);
    let c = create_verification(&api, &c_body).await;
    let c_id = str_field(&c, "id");
    assert_eq!(c["retention"]["retention_days"], 30);
    api.post_empty(&format!("/v1/verifications/{c_id}/cancel")).await.ok();
    let mut d_body = verification_body("Dora Late", "dora@example.org");
    d_body["time_to_live"] = json!(600);
    let d = create_verification(&api, &d_body).await;
    let d_id = str_field(&d, "id");
    let blobs_dir = server.inst.blob_dir();
    assert_eq!(files_under(&blobs_dir).len(), 4, "two sessions' images are stored");

    // The dry run, with its own clock an hour ahead: D would expire. It changes nothing.
    let ahead = TestClock::new();
    ahead.set(3600);
    let cli_ahead = [ahead.var()];
    for _ in 0..2 {
        let dry = server.inst.cli_env(&["purge", "--dry-run"], &cli_ahead).await;
        dry.success();
        assert!(dry.stdout.contains("would expire 1 verification(s)"), "{}", dry.all_output());
        assert!(dry.stdout.contains(&format!("expire {d_id}")), "{}", dry.all_output());
    }
    let d = api.get(&format!("/v1/verifications/{d_id}")).await.ok();
    assert_eq!(d["status"], "created", "{d}");

    // An hour later for the server too: the sweep expires D without anyone reading it.
    clock.set(3600);
    poll(Duration::from_secs(120), Duration::from_millis(200), async || {
        let out = server.inst.cli_env(&["purge", "--dry-run"], &cli_ahead).await;
        let expired = out.stdout.contains("would expire 0 verification(s)");
        expired.then_some(()).ok_or(format!("D never expired: {}", out.all_output()))
    })
    .await;
    let d = api.get(&format!("/v1/verifications/{d_id}")).await.ok();
    assert_eq!(d["status"], "expired", "{d}");
    let trail = api.get(&format!("/v1/verifications/{d_id}/report")).await.ok();
    assert!(trail.to_string().contains("verification.status.expired"), "{trail}");

    // 31 days: C's own 30 days ran out; A's 90 have not.
    clock.set(31 * DAY);
    wait_for(&api, &format!("/v1/verifications/{c_id}"), "C anonymized", |r| {
        r.json()["redacted"] == true
    })
    .await;
    let c = api.get(&format!("/v1/verifications/{c_id}")).await.ok();
    assert!(c["retention"]["delete_at"].is_string(), "{c}");
    let a_now = api.get(&format!("/v1/verifications/{}", a.vid)).await.ok();
    assert_eq!(a_now["redacted"], false, "A is kept for 90 days: {a_now}");

    // 91 days: A is anonymized: images unreadable (keys destroyed, blobs gone), PII erased.
    clock.set(91 * DAY);
    wait_for(&api, &format!("/v1/verifications/{}", a.vid), "A anonymized", |r| {
        r.json()["redacted"] == true
    })
    .await;
    for (_, file_id, _) in &a.files {
        api.get(&format!("/v1/files/{file_id}")).await.problem(410, "gone");
    }
    let applicant = api.get(&format!("/v1/applicants/{}", a.applicant_id)).await.ok();
    assert!(!applicant.to_string().contains("Anna"), "{applicant}");
    let a_now = api.get(&format!("/v1/verifications/{}", a.vid)).await.ok();
    assert_eq!(a_now["status"], "approved", "the tombstone keeps the status: {a_now}");
    assert_eq!(a_now["retention"]["anonymize_at"], anonymize_at.as_str());
    let b_now = api.get(&format!("/v1/verifications/{}", b.vid)).await.ok();
    assert_eq!(b_now["redacted"], false, "B is on legal hold: {b_now}");
    wait_files(&blobs_dir, 2, "only B's images remain on disk").await;
    let now = [clock.var()];
    let dry = server.inst.cli_env(&["purge", "--dry-run"], &now).await;
    assert!(dry.stdout.contains(&format!("held {}", b.vid)), "{}", dry.all_output());
    assert!(dry.stdout.contains("1 on legal hold skipped"), "{}", dry.all_output());

    // A year after that: the tombstones of A and C are deleted; B stays.
    clock.set((91 + 366) * DAY);
    wait_for(&api, &format!("/v1/verifications/{}", a.vid), "A's tombstone deleted", |r| {
        r.status == 404
    })
    .await;
    api.get(&format!("/v1/verifications/{c_id}")).await.problem(404, "not-found");
    let b_now = api.get(&format!("/v1/verifications/{}", b.vid)).await.ok();
    assert_eq!(b_now["redacted"], false, "{b_now}");

    // Lifting the hold lets the sweep do what was due.
    api.put(&format!("/v1/verifications/{}/legal_hold", b.vid), &json!({"enabled": false}))
        .await
        .ok();
    wait_for(&api, &format!("/v1/verifications/{}", b.vid), "B anonymized after the hold", |r| {
        r.json()["redacted"] == true
    })
    .await;
    wait_files(&blobs_dir, 0, "no image is left on disk").await;

    // The sweeps ran as jobs, visible to the operator.
    let jobs = server.cli(&["jobs", "list", "--json"]).await;
    jobs.success();
    let rows: Vec<Value> = jobs.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        rows.iter().any(|j| j["kind"] == "lifecycle_sweep" && j["status"] == "done"),
        "{}",
        jobs.stdout
    );
    assert!(
        !rows.iter().any(|j| j["kind"] == "process_verification"),
        "finished jobs are forgotten after 7 days: {}",
        jobs.stdout
    );
    let table = server.cli(&["jobs", "list", "--status", "done"]).await;
    table.success();
    assert!(table.stdout.starts_with("ID "), "{}", table.stdout);
    let bad = server.cli(&["jobs", "list", "--status", "bogus"]).await;
    assert!(
        bad.all_output().contains("[possible values: queued, running, done, failed]"),
        "{}",
        bad.all_output()
    );
    // The audit chain holds after all of it.
    server.cli(&["audit", "verify"]).await.success();
}

#[tokio::test]
async fn sigkill_in_the_middle_of_processing_resumes_and_decides_once() {
    let (clock, mut first) = TestClock::with_server(&[("KYCD_FAULT_PAUSE_IN_PROCESSING_MS", "60000")]).await;
    let api = first.admin();
    let v = create_verification(&api, &verification_body("Kilian Killed", "kilian@example.org")).await;
    let vid = str_field(&v, "id");
    crate::flow::create_attempt(&api, &vid).await;
    crate::flow::upload(&api, &vid, "document_front", "image/jpeg", &crate::harness::document_jpeg(5)).await;
    crate::flow::upload(&api, &vid, "selfie", "image/png", &crate::harness::selfie_png(6)).await;
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();

    // Wait until the processing job is claimed (running, leased), then SIGKILL.
    poll(Duration::from_secs(20), Duration::from_millis(50), async || {
        let out = first.cli(&["jobs", "list", "--status", "running", "--json"]).await;
        let claimed = out.stdout.contains("process_verification");
        claimed
            .then_some(())
            .ok_or(format!("processing never started: {}", out.all_output()))
    })
    .await;
    first.stop().await;
    let admin_key = first.admin_key.clone();
    let inst = first.instance();
    drop(first);

    // Restarted without the fault; the dead worker's lease runs out (5 minutes) and the
    // job is claimed again.
    let second = Server::start_on(inst, &[clock.var()], Some(admin_key)).await;
    let api = second.admin();
    let got = api.get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_eq!(got["status"], "processing", "nothing was decided before the kill: {got}");
    clock.set(301);
    crate::flow::wait_status(&api, &vid, "review_required", Duration::from_secs(180)).await;
    let report = api.get(&format!("/v1/verifications/{vid}/report")).await.ok();
    let timeline = items(&report, "timeline").iter();
    let decided = timeline.filter(|e| e["action"] == "verification.status.review_required").count();
    assert_eq!(decided, 1, "decided exactly once: {report}");
    let jobs = second.cli(&["jobs", "list", "--json"]).await;
    let job = jobs
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|j| j["kind"] == "process_verification" && j["payload"] == vid.as_str())
        .unwrap_or_else(|| panic!("no processing job: {}", jobs.stdout));
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["attempts"], 2, "claimed once before the kill, once after: {job}");
    second.cli(&["audit", "verify"]).await.success();
}
