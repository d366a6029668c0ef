//! What kycd calls erased is gone from the database files themselves, not only from
//! the API: after an anonymization someone with a copy of the disk and the master key
//! finds no wrapped data key, no sealed value that still opens to personal data, and no
//! byte of the ciphertexts that existed before (SQLite: secure delete and a truncated
//! WAL; PostgreSQL: the erased tables rewritten, so dead tuples are gone).

use crate::flow::{approve, session_to_review};
use crate::harness::{Instance, Server, str_field};
use kycd_store::MasterKey;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
    let started = Instant::now();
    loop {
        let done = inst
            .query_i64("SELECT COUNT(*) FROM jobs WHERE kind = 'purge_erased' AND status = 'done'")
            .await;
        let open = inst
            .query_i64("SELECT COUNT(*) FROM jobs WHERE kind = 'purge_erased' AND status IN ('queued', 'running')")
            .await;
        if done > 0 && open == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the purge of erased rows did not run within 90 s (done {done}, open {open})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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
