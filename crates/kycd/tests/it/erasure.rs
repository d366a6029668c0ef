//! What kycd calls erased is gone from the database files themselves, not only from
//! the API: after an anonymization someone with a copy of the disk and the master key
//! finds no wrapped data key, no sealed value that still opens to personal data, and no
//! byte of the ciphertexts that existed before (SQLite: secure delete and a truncated
//! WAL; PostgreSQL: the erased tables rewritten, so dead tuples are gone).

use crate::common::{TestClock, poll};
use crate::console::operator;
use crate::flow::{approve, session_to_review};
use crate::harness::{Instance, Server, str_field};
use crate::webhooks::{body, event_type};
use kycd_store::MasterKey;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// Every `v1.<base64>` string in `bytes`: how kycd writes a sealed value.
fn sealed_strings(bytes: &[u8]) -> BTreeSet<String> {
    let b64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    memchr::memmem::find_iter(bytes, b"v1.")
        .filter_map(|at| {
            let rest = &bytes[at + 3..];
            let n = rest.iter().take_while(|c| b64(c)).count();
            (n >= 40).then(|| format!("v1.{}", String::from_utf8_lossy(&rest[..n])))
        })
        .collect()
}

/// What an attacker with the database files and the master key recovers for one
/// verification: (AAD, plaintext) of every sealed value on disk that opens under the
/// verification's, its applicant's or its files' AADs.
pub(crate) struct Recovered(Vec<(String, Vec<u8>)>);

impl Recovered {
    pub(crate) async fn scan(inst: &Instance, tenant: &str, aads: &[String]) -> Recovered {
        let key = MasterKey::from_file_bytes(&std::fs::read(inst.data_dir().join("master.key")).unwrap()).unwrap();
        let keys = key.tenant_keys(&tenant.parse().unwrap());
        let mut found = BTreeSet::new();
        for f in inst.raw_database_files().await {
            found.extend(sealed_strings(&std::fs::read(&f).unwrap_or_default()));
        }
        let mut out = Vec::new();
        for s in &found {
            for aad in aads {
                if let Ok(p) = keys.open_text(aad, s) {
                    out.push((aad.clone(), p));
                }
            }
        }
        Recovered(out)
    }

    /// The AADs of the values that opened to plaintext holding `secret`.
    pub(crate) fn holding(&self, secret: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, p)| memchr::memmem::find(p, secret.as_bytes()).is_some())
            .map(|(a, _)| a.as_str())
            .collect()
    }

    pub(crate) fn opened(&self, aad: &str) -> bool {
        self.0.iter().any(|(a, _)| a == aad)
    }
}

/// 32-character pieces of `values` found anywhere in the database files (a piece of
/// 192 random bits is there only if its value is).
async fn pieces_on_disk(inst: &Instance, values: &[String]) -> Vec<String> {
    let mut disk = Vec::new();
    for f in inst.raw_database_files().await {
        disk.extend(std::fs::read(&f).unwrap_or_default());
    }
    let mut hit = Vec::new();
    for v in values {
        let b = v.as_bytes();
        let found = (3..b.len().saturating_sub(32))
            .step_by(32)
            .any(|i| memchr::memmem::find(&disk, &b[i..i + 32]).is_some());
        if found {
            hit.push(v.chars().take(24).collect());
        }
    }
    hit
}

/// Wait until the pass that purges erased rows from the files has run, and none waits.
pub(crate) async fn wait_for_purge(inst: &Instance) {
    poll(Duration::from_secs(90), Duration::from_millis(250), async || {
        let done = inst
            .query_i64("SELECT COUNT(*) FROM jobs WHERE kind = 'purge_erased' AND status = 'done'")
            .await;
        let open = inst
            .query_i64("SELECT COUNT(*) FROM jobs WHERE kind = 'purge_erased' AND status IN ('queued', 'running')")
            .await;
        let purged = done > 0 && open == 0;
        purged.then_some(()).ok_or(format!(
            "the purge of erased rows did not run within 90 s (done {done}, open {open})"
        ))
    })
    .await
}

#[tokio::test]
async fn anonymize_leaves_no_key_or_sealed_personal_data_in_the_database_files() {
    let s = Server::start().await;
    let api = s.admin();
    let (name, email, doc_no, birth, ext) = (
        "Zenobia Shredwell",
        "zenobia.shredwell@example.org",
        "SHRED7731X",
        "1969-07-21",
        "crm-shred-1",
    );
    let body = json!({
        "applicant": {"full_name": name, "email": email, "birth_date": birth, "external_applicant_id": ext},
        "declared_data": {"full_name": name, "document_number": doc_no, "birth_date": birth},
        "policy": {"selfie_required": true}
    });
    let sess = session_to_review(&api, &body, 61).await;
    approve(&api, &sess.vid).await;
    let inst = s.instance();
    let tenant = str_field(&s.cli(&["tenant", "list", "--json"]).await.success_json()[0], "tenant_id");
    let mut aads = vec![
        format!("verifications:{}:private", sess.vid),
        format!("applicants:{}:person", sess.applicant_id),
        format!("applicants:{}:external_id", sess.applicant_id),
    ];
    aads.extend(sess.files.iter().map(|(_, id, _)| format!("dk:{id}")));
    let mut ciphertexts = Vec::new();
    for q in [
        format!("SELECT wrapped_key FROM captures WHERE verification_id = '{}'", sess.vid),
        format!("SELECT private_enc FROM verifications WHERE id = '{}'", sess.vid),
        format!("SELECT person_enc FROM applicants WHERE id = '{}'", sess.applicant_id),
        format!("SELECT external_id_enc FROM applicants WHERE id = '{}'", sess.applicant_id),
    ] {
        ciphertexts.extend(inst.query_strings(&q).await);
    }
    assert!(ciphertexts.len() >= 5, "{ciphertexts:?}");

    // Before: the attack works (the scan is able to see what it looks for).
    let before = Recovered::scan(&inst, &tenant, &aads).await;
    for (_, id, _) in &sess.files {
        assert!(before.opened(&format!("dk:{id}")), "before: the data key of {id} is on disk");
    }
    assert!(!before.holding(name).is_empty(), "before: the sealed name is on disk");
    assert!(!before.holding(doc_no).is_empty(), "before: the sealed document number is on disk");
    assert!(
        !pieces_on_disk(&inst, &ciphertexts).await.is_empty(),
        "before: the ciphertexts are on disk"
    );

    api.post_empty(&format!("/v1/verifications/{}/anonymize", sess.vid)).await.ok();
    wait_for_purge(&inst).await;

    let after = Recovered::scan(&inst, &tenant, &aads).await;
    for (_, id, _) in &sess.files {
        assert!(
            !after.opened(&format!("dk:{id}")),
            "the data key of {id} is still on disk and opens"
        );
    }
    for secret in [name, email, doc_no, birth, ext] {
        assert!(
            after.holding(secret).is_empty(),
            "{secret:?} still opens from the disk: {:?}",
            after.holding(secret)
        );
    }
    let left = pieces_on_disk(&inst, &ciphertexts).await;
    assert!(
        left.is_empty(),
        "ciphertexts from before the anonymization are still on disk: {left:?}"
    );
}

/// The reviewer's note and message: sealed at rest, never in a webhook (the reason code
/// goes), and erased by anonymize from the API, the report, the console and the files.
#[tokio::test]
async fn the_reviewers_note_is_sealed_kept_out_of_webhooks_and_erased_by_anonymize() {
    let (clock, s) = TestClock::with_server(&[]).await;
    let receiver = clock.receiver();
    let api = s.admin();
    receiver.subscribe(&api, json!({"enabled_events": ["*"]})).await;
    let inst = s.instance();
    let tenant = str_field(&s.cli(&["tenant", "list", "--json"]).await.success_json()[0], "tenant_id");
    let api_note = "Quentin Notewright showed passport QN4455661";
    let console_note = "Compared with Ulla Notebaum's licence NB-7788-12";
    let message = "Ulla, please retake the selfie in daylight";
    let person = |n: &str| json!({"applicant": {"full_name": n}, "declared_data": {"full_name": n}, "policy": {"selfie_required": true}});
    let by_api = session_to_review(&api, &person("Quentin Notewright"), 71).await;
    let by_console = session_to_review(&api, &person("Ulla Notebaum"), 73).await;

    api.post(
        &format!("/v1/verifications/{}/review", by_api.vid),
        &json!({"decision": "approve", "reason": api_note}),
    )
    .await
    .ok();
    let mut reviewer = operator(&s, &tenant, "note.reviewer@example.org", "reviewer").await;
    let case = format!("/console/verifications/{}", by_console.vid);
    let r = reviewer
        .submit(
            &case,
            &format!("{case}/decision"),
            &[
                ("action", "approve"),
                ("reason_code", "selfie_matches_document"),
                ("note", console_note),
                ("user_message", message),
            ],
        )
        .await;
    assert!(r.status == 303 || r.status == 200, "console decision: {} {}", r.status, r.body);

    // Kept for those allowed to read it.
    let v = api.get(&format!("/v1/verifications/{}", by_console.vid)).await.ok();
    assert!(v.to_string().contains(console_note), "the API shows the note: {v}");
    assert!(
        api.get(&format!("/v1/verifications/{}/report", by_api.vid))
            .await
            .text()
            .contains(api_note)
    );
    assert!(
        reviewer.get(&case).await.body.contains("Ulla Notebaum&#39;s licence") || reviewer.get(&case).await.body.contains(console_note)
    );

    // Not in clear in the database files.
    let mut disk = Vec::new();
    for f in inst.raw_database_files().await {
        disk.extend(std::fs::read(&f).unwrap_or_default());
    }
    for text in [api_note, console_note, message, "QN4455661", "NB-7788-12"] {
        assert!(
            memchr::memmem::find(&disk, text.as_bytes()).is_none(),
            "{text:?} is in the database files in clear"
        );
    }

    // Webhooks carry the decision and the reason code, not the words.
    let got = receiver
        .wait_for("both verification.reviewed events", |got| {
            got.iter()
                .filter(|r| r["answered"] == 200 && event_type(r) == "verification.reviewed")
                .count()
                >= 2
        })
        .await;
    let reviewed = got
        .iter()
        .map(body)
        .find(|b| b["type"] == "verification.reviewed" && b["data"]["verification"]["id"] == by_console.vid.as_str())
        .unwrap();
    assert_eq!(
        reviewed["data"]["verification"]["review"]["reason_code"], "selfie_matches_document",
        "{reviewed}"
    );
    assert_eq!(reviewed["data"]["verification"]["review"]["decision"], "approve", "{reviewed}");
    for r in &got {
        let b = r["body"].as_str().unwrap();
        for text in [api_note, console_note, message, "QN4455661", "NB-7788-12"] {
            assert!(!b.contains(text), "a webhook carried the reviewer's words {text:?}: {b}");
        }
    }

    // Anonymized: gone from the API, the report, the console, the evidence and the files.
    for sess in [&by_api, &by_console] {
        api.post_empty(&format!("/v1/verifications/{}/anonymize", sess.vid)).await.ok();
    }
    wait_for_purge(&inst).await;
    for sess in [&by_api, &by_console] {
        let v = api.get(&format!("/v1/verifications/{}", sess.vid)).await.ok();
        let report = api.get(&format!("/v1/verifications/{}/report", sess.vid)).await.ok();
        let page = reviewer.get(&format!("/console/verifications/{}", sess.vid)).await;
        for text in [api_note, console_note, message, "Notewright", "Notebaum"] {
            assert!(!v.to_string().contains(text), "GET verification still shows {text:?}: {v}");
            assert!(!report.to_string().contains(text), "the report still shows {text:?}: {report}");
            assert!(!page.body.contains(text), "the console still shows {text:?}");
        }
        assert_eq!(v["review"]["decision"], "approve", "the decision stays: {v}");
        api.get(&format!("/v1/verifications/{}/evidence.zip", sess.vid))
            .await
            .problem(410, "gone");
    }
    assert_eq!(
        api.get(&format!("/v1/verifications/{}", by_console.vid)).await.ok()["review"]["reason_code"],
        "selfie_matches_document"
    );
    let aads: Vec<String> = [&by_api, &by_console]
        .iter()
        .map(|x| format!("verifications:{}:review", x.vid))
        .collect();
    let left = Recovered::scan(&inst, &tenant, &aads).await;
    for text in [api_note, console_note, message] {
        assert!(left.holding(text).is_empty(), "{text:?} still opens from the disk");
    }
}

/// Reviews and retry messages that an earlier version stored in clear are sealed at the
/// next start, and their clear copies leave the database files.
#[tokio::test]
async fn review_text_an_earlier_version_kept_in_clear_is_sealed_at_start() {
    let mut s = Server::start().await;
    let api = s.admin();
    let v = crate::flow::create_verification(&api, &crate::flow::verification_body("Legacy Note", "legacy.note@example.org")).await;
    let vid = str_field(&v, "id");
    let (note, message) = ("Legacy note naming Olive Oldfield", "Olive, legacy message: retake it");
    let review = json!({"decision": "approve", "reason": note, "reviewer": "api_key:key_x", "reviewed_at": "2026-12-01T10:00:00Z"});
    let checks = json!([{"name": "review_retry_requested", "passed": false, "detail": "A reviewer asked for a new capture (poor_image_quality).",
        "figures": {"reason_code": "poor_image_quality", "user_message": message}}]);
    let inst = s.instance();
    s.stop().await;
    let sql = format!(
        "UPDATE verifications SET review_json = '{}', review_enc = NULL, checks_json = '{}' WHERE id = '{vid}'",
        review.to_string().replace('\'', "''"),
        checks.to_string().replace('\'', "''")
    );
    assert_eq!(inst.execute_sql(&sql).await, 1);

    let s = Server::start_on(inst.clone(), &[], Some(s.admin_key.clone())).await;
    assert!(s.logs().contains("sealed the reviewers' notes of 1 verification"), "{}", s.logs());
    let got = s.admin().get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_eq!(got["review"]["reason"], note, "{got}");
    assert_eq!(got["retry_message"], message, "{got}");
    assert!(got["checks"][0]["figures"].get("user_message").is_none(), "{got}");
    let mut disk = Vec::new();
    for f in inst.raw_database_files().await {
        disk.extend(std::fs::read(&f).unwrap_or_default());
    }
    for text in [note, message] {
        assert!(
            memchr::memmem::find(&disk, text.as_bytes()).is_none(),
            "{text:?} is still in the files in clear"
        );
    }
}
