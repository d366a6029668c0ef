//! Crash consistency: blob first, row second; a crash in between leaves an orphan blob
//! and no row, and the sweeper removes the orphan. And a server killed at random points
//! of a scripted run, many times, keeps its invariants.

use crate::flow::{approve, create_verification, data, verification_body, wait_status};
use crate::harness::{Api, Instance, Noise, Server, document_jpeg, files_under, selfie_png, str_field};
use std::sync::{Arc, Mutex};
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

    crate::common::purge_orphans(&second, 1, "purge reports what it removed").await;
    let left = files_under(&blob_dir);
    assert!(left.is_empty(), "no blob file remains: {left:?}");

    // The server still works after the sweep: a new upload is stored and readable.
    let bytes = document_jpeg(82);
    let c = crate::flow::upload(&api, &vid, "document_front", "image/jpeg", &bytes).await;
    let f = api.get(&format!("/v1/files/{}", str_field(&c, "id"))).await;
    f.expect(200);
    assert!(f.body == bytes);
    crate::common::purge_orphans(&second, 0, "a referenced blob is not an orphan").await;
    assert_eq!(files_under(&blob_dir).len(), 1);
}

/// What the scripted run got answered, so the checks know what must have survived.
#[derive(Default, Clone)]
struct Committed {
    /// Uploads answered 201: (verification, file id, bytes).
    uploads: Vec<(String, String, Vec<u8>)>,
    /// Every verification created.
    verifications: Vec<String>,
    /// Anonymize sent (answered or not) and answered 200.
    anonymize_sent: Vec<String>,
    anonymized: Vec<String>,
}

/// One round of the scripted run: upload, processing, review, anonymize.
async fn scripted_run(api: Api, round: u64, log: Arc<Mutex<Committed>>) {
    let Ok(v) = api
        .try_send(
            "create".into(),
            api.raw_request(
                "/v1/verifications",
                "application/json",
                verification_body(&format!("Crash Round {round}"), "crash@example.org")
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await
    else {
        return;
    };
    if v.status != 201 {
        return;
    }
    let vid = str_field(&v.json(), "id");
    log.lock().unwrap().verifications.push(vid.clone());
    for (kind, ct, bytes) in [
        ("document_front", "image/jpeg", document_jpeg(900 + round)),
        ("selfie", "image/png", selfie_png(950 + round)),
    ] {
        let path = format!("/v1/verifications/{vid}/captures?kind={kind}");
        let Ok(r) = api.try_send(kind.into(), api.raw_request(&path, ct, bytes.clone())).await else {
            return;
        };
        if r.status != 201 {
            return;
        }
        log.lock().unwrap().uploads.push((vid.clone(), str_field(&r.json(), "id"), bytes));
    }
    if api
        .try_send(
            "submit".into(),
            api.req(reqwest::Method::POST, &format!("/v1/verifications/{vid}/submit")),
        )
        .await
        .is_err()
    {
        return;
    }
    wait_status(&api, &vid, "review_required", Duration::from_secs(120)).await;
    approve(&api, &vid).await;
    if round.is_multiple_of(2) {
        log.lock().unwrap().anonymize_sent.push(vid.clone());
        let r = api.post_empty(&format!("/v1/verifications/{vid}/anonymize")).await;
        if r.status == 200 {
            log.lock().unwrap().anonymized.push(vid);
        }
    }
}

/// Does any file under `dirs` hold one of the `needles`?
fn plaintext_found(dirs: &[std::path::PathBuf], needles: &[Vec<u8>]) -> Option<String> {
    for f in dirs.iter().flat_map(|d| files_under(d)) {
        let Ok(bytes) = std::fs::read(&f) else { continue };
        for n in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_slice()) {
                return Some(f.display().to_string());
            }
        }
    }
    None
}

/// SIGKILL at random moments of a scripted run (upload, processing, review, webhook
/// delivery, anonymize), again and again; after each restart every committed capture reads
/// back byte for byte, every listed capture has its blob and (after the orphan sweep) every
/// blob its row, nothing uploaded lies in clear on disk and the audit chain verifies. At
/// the end every interrupted processing job has been taken up again and finished, none
/// failed, and the webhook receiver got every state change once in effect: each approval
/// delivered (validly signed), no state change emitted twice, redeliveries identical.
#[tokio::test]
async fn killed_at_random_points_the_invariants_hold_after_every_restart() {
    const ROUNDS: u64 = 6;
    let inst = Instance::new().await;
    let mut server = Server::start_on(inst.clone(), &[], None).await;
    let admin_key = server.admin_key.clone();
    let clock = crate::common::TestClock::new();
    let receiver = clock.receiver();
    receiver
        .subscribe(&server.admin(), serde_json::json!({"enabled_events": ["*"]}))
        .await;
    let log = Arc::new(Mutex::new(Committed::default()));
    // Kill times from a fixed seed: a failure names its round and can be replayed.
    let mut noise = Noise::new(0xC0FFEE);
    for round in 0..ROUNDS {
        let run = tokio::spawn(scripted_run(server.admin(), round, log.clone()));
        let kill_after = Duration::from_millis(100 + u64::from(noise.next_u8()) * 12);
        tokio::time::sleep(kill_after).await;
        server.stop().await;
        let _ = run.await; // it ends with the connection errors of a dead server
        server = Server::start_on(inst.clone(), &[], Some(admin_key.clone())).await;
        let committed = log.lock().unwrap().clone();
        check_invariants(&server, &committed, &format!("round {round}, killed after {kill_after:?}")).await;
    }
    // Every verification left in processing by a kill is finished by a later instance
    // once its job's lease runs out.
    let api = server.admin();
    let vids = log.lock().unwrap().verifications.clone();
    for vid in &vids {
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        loop {
            let v = api.get(&format!("/v1/verifications/{vid}")).await.ok();
            if v["status"] != "processing" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{vid} still processing after 180 s: {v}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let failed = server.cli(&["jobs", "list", "--status", "failed", "--json"]).await;
    failed.success();
    assert_eq!(failed.stdout.trim(), "", "no job gave up (one JSON line per failed job)");
    // One more round, not interrupted, so that at least one approval must reach the
    // receiver whatever the kill times were (odd: it is not anonymized).
    scripted_run(server.admin(), 2 * ROUNDS + 1, log.clone()).await;
    let committed = log.lock().unwrap().clone();
    check_invariants(&server, &committed, "the end").await;
    check_webhooks(&api, &receiver, &committed.verifications).await;
}

/// Every approval reached the receiver, validly signed (a delivery cut off by a kill is
/// sent again once its lease runs out); no state change of a verification was emitted
/// twice (one event id per verification and once-only type); every redelivery of an event
/// carried the same body.
async fn check_webhooks(api: &Api, receiver: &crate::webhooks::Receiver, vids: &[String]) {
    use crate::webhooks::{body, event_type};
    let mut approved = Vec::new();
    for vid in vids {
        if api.get(&format!("/v1/verifications/{vid}")).await.ok()["status"] == "approved" {
            approved.push(vid.clone());
        }
    }
    let got = receiver
        .wait_for("an approval event for every approved verification", |g| {
            approved.iter().all(|vid| {
                g.iter().any(|r| {
                    r["answered"] == 200
                        && event_type(r) == "verification.approved"
                        && body(r)["data"]["verification"]["id"] == vid.as_str()
                })
            })
        })
        .await;
    let mut ids_by_change: std::collections::HashMap<(String, String), std::collections::HashSet<String>> = Default::default();
    let mut body_by_id: std::collections::HashMap<String, String> = Default::default();
    for r in &got {
        assert_eq!(r["valid"], serde_json::json!([0]), "every delivery verifies: {r}");
        let id = str_field(r, "id");
        let text = r["body"].as_str().unwrap().to_owned();
        if let Some(earlier) = body_by_id.insert(id.clone(), text.clone()) {
            assert_eq!(earlier, text, "a redelivery of {id} changed its body");
        }
        let t = event_type(r);
        let once = [
            "verification.created",
            "verification.processing",
            "verification.review_required",
            "verification.approved",
            "verification.reviewed",
            "verification.anonymized",
        ];
        if once.contains(&t.as_str()) {
            let vid = body(r)["data"]["verification"]["id"].as_str().unwrap_or_default().to_owned();
            ids_by_change.entry((vid, t)).or_default().insert(id);
        }
    }
    for ((vid, t), ids) in &ids_by_change {
        assert_eq!(ids.len(), 1, "{t} of {vid} was emitted as {} events: {ids:?}", ids.len());
    }
    assert!(!approved.is_empty(), "the uninterrupted round reached approval");
}

async fn check_invariants(server: &Server, log: &Committed, when: &str) {
    let api = server.admin();
    // Every committed capture reads back, unless its verification was anonymized (then
    // it is gone; one whose anonymize was cut off may be either).
    for (vid, file, bytes) in &log.uploads {
        let f = api.get(&format!("/v1/files/{file}")).await;
        if log.anonymized.contains(vid) {
            assert_eq!(f.status, 410, "{when}: {file} of anonymized {vid}: {}", f.text());
        } else if f.status == 200 {
            assert!(f.body == *bytes, "{when}: {file} reads back different bytes");
        } else {
            assert!(
                log.anonymize_sent.contains(vid) && f.status == 410,
                "{when}: committed capture {file} of {vid} unreadable: {} {}",
                f.status,
                f.text()
            );
        }
    }
    // Every listed capture has its blob; after the orphan sweep every blob has its row.
    let mut readable = 0;
    for vid in &log.verifications {
        let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
        for c in caps {
            let f = api.get(&format!("/v1/files/{}", str_field(&c, "id"))).await;
            assert!(
                matches!(f.status, 200 | 410),
                "{when}: listed capture {c} answers {} {}",
                f.status,
                f.text()
            );
            readable += usize::from(f.status == 200);
        }
    }
    server.cli(&["purge", "--orphans", "--grace-seconds", "0"]).await.success();
    let blobs = files_under(&server.inst.blob_dir());
    assert_eq!(blobs.len(), readable, "{when}: one blob per readable capture: {blobs:?}");
    // Nothing uploaded in clear, anywhere kycd writes.
    let needles: Vec<Vec<u8>> = log
        .uploads
        .iter()
        .map(|(_, _, b)| b[b.len() / 2..b.len() / 2 + 64].to_vec())
        .collect();
    let dirs = [server.data_dir().to_path_buf(), server.inst.blob_dir()];
    assert_eq!(plaintext_found(&dirs, &needles), None, "{when}: upload bytes in clear on disk");
    let audit = server.cli(&["audit", "verify"]).await;
    assert_eq!(audit.code, Some(0), "{when}: audit chain: {}", audit.all_output());
}
