//! kycd-store's queries against a real database: a temporary SQLite file, or, when
//! `KYCD_TEST_DATABASE_URL` is set, a fresh PostgreSQL database per test (`kycd_it_…`,
//! which scripts/test drops), as the kycd integration harness does.
//!
//! Covered here: every tenant-scoped read gives a foreign tenant nothing; each row type
//! comes back as it was written (its column list and mapper agree); the migrations
//! (sqlx's runner on the files, the bridge from kycd's earlier runner, the refusal of a
//! newer schema, several instances starting together).

// Test code: a failed unwrap is a failed test (clippy's test allowance covers `#[test]`
// functions only, not the helpers here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use kycd_core::*;
use kycd_store::{ApiKeyRecord, Cursor, Database, MasterKey, Store, StoreError, StoredBlob};
use sha2::{Digest, Sha384};
use sqlx::Connection;
use std::sync::Arc;

// ----- a fresh database per test ---------------------------------------------------------

struct TestDb {
    url: String,
    /// The SQLite file's folder (removed when the test ends).
    _dir: Option<tempfile::TempDir>,
}

fn random_lower(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from(b'a' + rng.gen_range(0..26u8))).collect()
}

impl TestDb {
    async fn new() -> Self {
        let Some(base) = std::env::var("KYCD_TEST_DATABASE_URL").ok().filter(|s| !s.trim().is_empty()) else {
            let dir = tempfile::Builder::new().prefix("kycd-store-").tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("kycd.db").display());
            return Self { url, _dir: Some(dir) };
        };
        let name = format!("kycd_it_{}", random_lower(16));
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        // postgres://user@host:port/db?query with the database replaced.
        let (main, query) = base.split_once('?').map_or((base.as_str(), None), |(m, q)| (m, Some(q)));
        let host_end = main.find("://").map_or(0, |i| i + 3);
        let server = main[host_end..].find('/').map_or(main, |i| &main[..host_end + i]);
        let url = match query {
            Some(q) => format!("{server}/{name}?{q}"),
            None => format!("{server}/{name}"),
        };
        Self { url, _dir: None }
    }

    async fn database(&self) -> Database {
        Database::connect(&self.url).await.unwrap()
    }

    /// Migrated and unlocked with a new master key; blobs in memory.
    async fn store(&self) -> Store {
        let db = self.database().await;
        db.migrate().await.unwrap();
        db.unlock(MasterKey::generate().0, Arc::new(object_store::memory::InMemory::new()))
            .await
            .unwrap()
    }

    /// Two stores on this database, as two processes with the same master key would
    /// open it, and a tenant written through the first.
    async fn two_processes_with_a_tenant(&self) -> (Store, Store, Tenant) {
        let (key, raw) = MasterKey::generate();
        let first = self.database().await;
        first.migrate().await.unwrap();
        let blobs = || Arc::new(object_store::memory::InMemory::new());
        let a = first.unlock(key, blobs()).await.unwrap();
        let b = self
            .database()
            .await
            .unlock(MasterKey::from_file_bytes(&raw).unwrap(), blobs())
            .await
            .unwrap();
        let t = tenant("Acme");
        let mut tx = a.begin().await.unwrap();
        tx.insert_tenant(&t).await.unwrap();
        tx.commit().await.unwrap();
        (a, b, t)
    }

    /// A plain connection for what the store does not offer (the old runner, checks).
    async fn raw(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.url).await.unwrap()
    }

    /// The migration files (one folder serves both databases), as on disk: (version, SQL).
    fn migration_files(&self) -> Vec<(i64, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<(i64, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                let version = name.split_once('_').unwrap().0.parse().unwrap();
                (version, std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        files.sort_by_key(|f| f.0);
        files
    }
}

async fn versions(conn: &mut sqlx::AnyConnection, table: &str) -> Vec<i64> {
    sqlx::query_scalar(&format!("SELECT version FROM {table} ORDER BY version"))
        .fetch_all(conn)
        .await
        .unwrap()
}

/// A change to what the database records of its migrations, whether an error is the
/// refusal it must cause, and the statement that undoes it for the next case.
struct RecordedChange<'a> {
    sql: &'a str,
    /// Bound to the statement's `$1`, if any.
    checksum: Option<Vec<u8>>,
    is_refusal: &'a dyn Fn(&StoreError) -> bool,
    undo: Option<&'a str>,
}

/// How `migrate` fails after `sql` (with `checksum` bound to `$1`, if given) changed what
/// the database records of its migrations.
async fn refusal_after(conn: &mut sqlx::AnyConnection, database: &Database, sql: &str, checksum: Option<Vec<u8>>) -> StoreError {
    let mut q = sqlx::query(sql);
    if let Some(c) = checksum {
        q = q.bind(c);
    }
    q.execute(conn).await.unwrap();
    database.migrate().await.unwrap_err()
}

// ----- rows --------------------------------------------------------------------------------

/// A time with millisecond precision (what the store keeps).
fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_765_000_000_000 + ms).unwrap()
}

fn tenant(name: &str) -> Tenant {
    Tenant {
        id: TenantId::generate(),
        name: name.to_owned(),
        mode: Mode::Test,
        retention: RetentionSettings::default(),
        created_at: at(0),
    }
}

fn applicant(t: &TenantId, email: &str) -> Applicant {
    Applicant {
        id: ApplicantId::generate(),
        tenant_id: t.clone(),
        external_applicant_id: Some(PersonalText::parse("external_applicant_id", "crm-42", 1000).unwrap()),
        person: PersonData {
            full_name: Some(PersonalText::parse("full_name", "Ada Example", 200).unwrap()),
            email: Some(Email::parse(email).unwrap()),
            phone: None,
            birth_date: None,
        },
        redacted: false,
        created_at: at(1),
        updated_at: at(2),
    }
}

fn verification(a: &Applicant, created: i64) -> Verification {
    Verification {
        id: VerificationId::generate(),
        tenant_id: a.tenant_id.clone(),
        applicant_id: a.id.clone(),
        status: VerificationStatus::Pending,
        reference: HostReference {
            document_id: Some("doc-1".into()),
            signer_order: Some(2),
            signature_request_id: Some("sr-1".into()),
        },
        delivery: DeliveryChannel::None,
        private: VerificationPrivate {
            callback_url: Some("https://example.org/back".into()),
            state: Some("s1".into()),
            ..Default::default()
        },
        policy: Policy::default(),
        expires_at: at(100_000),
        checks: vec![CheckResult {
            name: "image_decoded".into(),
            passed: true,
            detail: "ok".into(),
            figures: serde_json::json!({"width": 1200}),
        }],
        review: Some(Review {
            decision: ReviewDecision::Decline,
            reason: "the photo is of a screen".into(),
            reviewer: "api_key:key_1".into(),
            reviewed_at: at(50),
            reason_code: Some("screen_photo".into()),
            user_message: Some("Please photograph the document itself.".into()),
            confirmed_by: None,
        }),
        redacted: false,
        lifecycle: Lifecycle {
            retention_days: Some(30),
            legal_hold: true,
            retain_until: Some(at(200_000)),
            delete_after: None,
        },
        created_at: at(created),
        updated_at: at(created + 1),
    }
}

fn attempt(v: &Verification) -> Attempt {
    Attempt {
        id: AttemptId::generate(),
        tenant_id: v.tenant_id.clone(),
        verification_id: v.id.clone(),
        status: AttemptStatus::Active,
        client: ClientInfo {
            language: Some("fr".into()),
            country: Some("CH".into()),
            document_type: None,
        },
        token_expires_at: at(9_000),
        token_used_at: None,
        created_at: at(20),
        updated_at: at(21),
    }
}

fn capture(a: &Attempt) -> Capture {
    Capture {
        id: FileId::generate(),
        tenant_id: a.tenant_id.clone(),
        verification_id: a.verification_id.clone(),
        attempt_id: a.id.clone(),
        kind: CaptureKind::Selfie,
        media_type: MediaType::Png,
        size: 12_345,
        sha256: "ab".repeat(32),
        feedback: CaptureFeedback {
            width: 640,
            height: 480,
            accepted: true,
            issues: vec!["low_light".into()],
            message: "fine".into(),
        },
        available: true,
        created_at: at(30),
    }
}

/// One tenant with one of each row, written in one transaction.
struct Written {
    tenant: Tenant,
    key: ApiKeyRecord,
    applicant: Applicant,
    verification: Verification,
    attempt: Attempt,
    capture: Capture,
}

async fn write_one_of_each(store: &Store, email: &str) -> Written {
    let tenant = tenant("Acme");
    let key = ApiKeyRecord {
        id: ApiKeyId::generate(),
        tenant_id: tenant.id.clone(),
        scope: Scope::Integration,
        mode: Mode::Test,
        created_at: at(3),
        revoked_at: None,
    };
    let applicant = applicant(&tenant.id, email);
    let verification = verification(&applicant, 10);
    let attempt = attempt(&verification);
    let capture = capture(&attempt);
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&tenant).await.unwrap();
    tx.insert_api_key(&key, &format!("hash-{}", key.id)).await.unwrap();
    tx.insert_applicant(&applicant).await.unwrap();
    tx.insert_verification(&verification).await.unwrap();
    tx.insert_attempt(&attempt, &format!("token-{}", attempt.id)).await.unwrap();
    let blob = StoredBlob {
        blob_key: format!("tenants/{}/files/{}", tenant.id, capture.id),
        wrapped_key: "wrapped".into(),
    };
    tx.insert_capture(&capture, &blob).await.unwrap();
    tx.audit(&tenant.id, &Actor::System, "verification.created", verification.id.as_str(), at(40))
        .await
        .unwrap();
    tx.audit(&tenant.id, &Actor::Cli, "report.read", verification.id.as_str(), at(41))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Written {
        tenant,
        key,
        applicant,
        verification,
        attempt,
        capture,
    }
}

// ----- tenant scoping ------------------------------------------------------------------------

/// Every read that takes a tenant filters on it: another tenant, holding the right ids,
/// gets nothing, and its writes by id touch nothing.
#[tokio::test]
async fn a_foreign_tenant_reads_nothing_of_another_tenants_rows() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let w = write_one_of_each(&store, "ada@example.org").await;
    let other = write_one_of_each(&store, "ada@example.org").await.tenant.id;
    let (v, a) = (&w.verification.id, &w.attempt.id);

    let mut tx = store.begin().await.unwrap();
    assert!(tx.get_applicant(&other, &w.applicant.id).await.unwrap().is_none());
    assert!(tx.get_verification(&other, v).await.unwrap().is_none());
    assert!(tx.get_attempt(&other, v, a).await.unwrap().is_none());
    assert!(tx.list_attempts(&other, v).await.unwrap().is_empty());
    assert!(tx.get_capture(&other, &w.capture.id).await.unwrap().is_none());
    assert!(tx.list_captures(&other, v).await.unwrap().is_empty());
    assert!(tx.audit_for_object(&other, v.as_str()).await.unwrap().is_empty());
    assert!(tx.timeline_for_object(&other, v.as_str()).await.unwrap().is_empty());
    for found in [
        tx.find_verifications_by_document(&other, "doc-1").await.unwrap(),
        tx.find_verifications_by_signature_request(&other, "sr-1").await.unwrap(),
        tx.find_verifications_by_external_id(&other, "crm-42").await.unwrap(),
        tx.list_verifications(&other, None, None, 50).await.unwrap().items,
    ] {
        assert!(found.iter().all(|x| &x.id != v));
    }
    let applicants = tx.list_applicants(&other, None, 50).await.unwrap();
    assert!(applicants.items.iter().all(|x| x.id != w.applicant.id));
    // The same email under the other tenant is a different blind index value.
    let email = Email::parse("ada@example.org").unwrap();
    assert_eq!(
        tx.find_applicants_by_email(&w.tenant.id, &email).await.unwrap(),
        vec![w.applicant.id.clone()]
    );
    assert!(!tx.find_applicants_by_email(&other, &email).await.unwrap().contains(&w.applicant.id));
    assert!(tx.list_api_keys(&other).await.unwrap().iter().all(|k| k.id != w.key.id));
    assert!(!tx.revoke_tenant_api_key(&other, &w.key.id, at(60)).await.unwrap());
    assert!(!tx.delete_verification(&other, v).await.unwrap());
    tx.delete_capture(&other, &w.capture.id).await.unwrap();
    assert!(!tx.spend_start_token(&other, a, at(60)).await.unwrap());
    tx.commit().await.unwrap();

    // Its own tenant still has every row, unchanged.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.get_verification(&w.tenant.id, v).await.unwrap().is_some());
    assert!(tx.get_capture(&w.tenant.id, &w.capture.id).await.unwrap().is_some());
    let att = tx.get_attempt(&w.tenant.id, v, a).await.unwrap().unwrap();
    assert!(att.token_used_at.is_none());
    let keys = tx.list_api_keys(&w.tenant.id).await.unwrap();
    assert!(keys.iter().any(|k| k.id == w.key.id && k.revoked_at.is_none()));
    tx.commit().await.unwrap();
}

// ----- row mappers -----------------------------------------------------------------------------

/// Each row type comes back as written, through every query that maps it.
#[tokio::test]
async fn each_row_type_reads_back_as_it_was_written() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let w = write_one_of_each(&store, "grace@example.org").await;
    let t = &w.tenant.id;
    // Outside a transaction, as authentication reads it.
    let key = store.find_api_key(&format!("hash-{}", w.key.id)).await.unwrap().unwrap();
    let mut tx = store.begin().await.unwrap();

    let got = tx.get_tenant(t).await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.mode, got.retention, got.created_at),
        ("Acme", Mode::Test, w.tenant.retention, w.tenant.created_at)
    );
    assert!(tx.list_tenants().await.unwrap().iter().any(|x| &x.id == t));

    assert_eq!(
        (&key.id, &key.tenant_id, key.scope, key.mode, key.created_at, key.revoked_at),
        (&w.key.id, t, Scope::Integration, Mode::Test, at(3), None)
    );

    let a = tx.get_applicant(t, &w.applicant.id).await.unwrap().unwrap();
    assert_eq!(a.person.full_name.as_ref().map(|n| n.expose()), Some("Ada Example"));
    assert_eq!(a.person.email.as_ref().map(|e| e.expose()), Some("grace@example.org"));
    assert_eq!(a.external_applicant_id.as_ref().map(|e| e.expose()), Some("crm-42"));
    assert_eq!((a.redacted, a.created_at, a.updated_at), (false, at(1), at(2)));

    let v = tx.get_verification(t, &w.verification.id).await.unwrap().unwrap();
    let want = &w.verification;
    assert_eq!(
        (&v.applicant_id, v.status, &v.reference, v.delivery),
        (&want.applicant_id, want.status, &want.reference, want.delivery)
    );
    assert_eq!(
        (v.private.callback_url.as_deref(), v.private.state.as_deref()),
        (Some("https://example.org/back"), Some("s1"))
    );
    assert_eq!(
        (v.expires_at, v.redacted, &v.lifecycle, v.created_at, v.updated_at),
        (want.expires_at, false, &want.lifecycle, at(10), at(11))
    );
    assert_eq!(
        serde_json::to_value(&v.policy).unwrap(),
        serde_json::to_value(&want.policy).unwrap()
    );
    assert_eq!(
        serde_json::to_value(&v.checks).unwrap(),
        serde_json::to_value(&want.checks).unwrap()
    );
    // The review's free text is sealed apart and put back.
    assert_eq!(
        serde_json::to_value(&v.review).unwrap(),
        serde_json::to_value(&want.review).unwrap()
    );
    for found in [
        tx.find_verifications_by_document(t, "doc-1").await.unwrap(),
        tx.find_verifications_by_signature_request(t, "sr-1").await.unwrap(),
        tx.find_verifications_by_external_id(t, "crm-42").await.unwrap(),
        tx.list_verifications(t, Some(VerificationStatus::Pending), None, 10)
            .await
            .unwrap()
            .items,
        tx.oldest_verifications(t, VerificationStatus::Pending, None, None, 10)
            .await
            .unwrap(),
    ] {
        let ids: Vec<_> = found
            .iter()
            .map(|x| (&x.id, x.review.as_ref().map(|r| r.reason.as_str())))
            .collect();
        assert_eq!(ids, vec![(&want.id, Some("the photo is of a screen"))]);
    }

    let att = tx.get_attempt(t, &w.verification.id, &w.attempt.id).await.unwrap().unwrap();
    assert_eq!(
        (att.status, att.client.language.as_deref(), att.client.country.as_deref()),
        (AttemptStatus::Active, Some("fr"), Some("CH"))
    );
    assert_eq!(
        (att.token_expires_at, att.token_used_at, att.created_at, att.updated_at),
        (at(9_000), None, at(20), at(21))
    );
    let by_token = tx.find_attempt_by_token(&format!("token-{}", w.attempt.id)).await.unwrap().unwrap();
    assert_eq!(by_token.id, w.attempt.id);
    assert_eq!(tx.list_attempts(t, &w.verification.id).await.unwrap().len(), 1);

    let (c, blob) = tx.get_capture(t, &w.capture.id).await.unwrap().unwrap();
    assert_eq!(
        (c.kind, c.media_type, c.size, c.sha256.as_str(), c.available, c.created_at),
        (CaptureKind::Selfie, MediaType::Png, 12_345, w.capture.sha256.as_str(), true, at(30))
    );
    assert_eq!(
        (c.feedback.width, c.feedback.height, c.feedback.issues.as_slice()),
        (640, 480, ["low_light".to_owned()].as_slice())
    );
    assert_eq!(blob.map(|b| b.wrapped_key), Some("wrapped".to_owned()));
    tx.erase_capture_keys(t, &w.verification.id).await.unwrap();
    let listed = tx.list_captures(t, &w.verification.id).await.unwrap();
    assert_eq!((listed.len(), listed[0].0.available, listed[0].1.is_none()), (1, false, true));

    let trail = tx.audit_for_object(t, w.verification.id.as_str()).await.unwrap();
    let actions: Vec<_> = trail.iter().map(|e| (e.seq, e.action.as_str(), e.actor.as_str(), e.at)).collect();
    assert_eq!(
        actions,
        vec![(1, "verification.created", "system", at(40)), (2, "report.read", "cli", at(41))]
    );
    let timeline = tx.timeline_for_object(t, w.verification.id.as_str()).await.unwrap();
    assert_eq!(
        timeline.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["verification.created"]
    );
    let (checked, broken) = tx.verify_audit_chains().await.unwrap();
    assert!(checked >= 2 && broken.is_none(), "{checked} {broken:?}");
    tx.commit().await.unwrap();
}

/// Two processes append to one tenant's chain in turn, and a transaction that appended
/// rolls back: each store's remembered head goes stale (another process moved it, or it
/// was never committed), its compare-and-set misses, and the append reads the head again.
/// No entry is lost, doubled or chained to the wrong one.
#[tokio::test]
async fn audit_appends_stay_chained_when_a_remembered_head_goes_stale() {
    let db = TestDb::new().await;
    let (a, b, t) = db.two_processes_with_a_tenant().await;
    // An entry appended in a transaction left open: committed or dropped (rolled back).
    async fn append<'s>(store: &'s Store, tenant: &TenantId, action: &str, n: i64) -> kycd_store::Tx<'s> {
        let mut tx = store.begin().await.unwrap();
        tx.audit(tenant, &Actor::Cli, action, "obj", at(n)).await.unwrap();
        tx
    }
    // A read's entry committed with its transaction (`commit_with_read`).
    async fn read(store: &Store, tenant: &TenantId, action: &str, n: i64) {
        let mut tx = store.begin().await.unwrap();
        tx.audit_for_object(tenant, "obj").await.unwrap();
        tx.commit_with_read(tenant, &Actor::Cli, action, "obj", at(n)).await.unwrap();
    }
    let mut expected = Vec::new();
    for n in 0..4 {
        append(&a, &t.id, "a.appended", n).await.commit().await.unwrap();
        read(&a, &t.id, "a.read", n).await;
        append(&a, &t.id, "a.appended", n).await.commit().await.unwrap();
        append(&b, &t.id, "b.appended", n).await.commit().await.unwrap();
        // `a` remembers a head `b` moved: its read goes in a transaction of its own.
        read(&a, &t.id, "a.read", n).await;
        read(&b, &t.id, "b.read", n).await;
        // Appended, then rolled back: never in the chain.
        drop(append(&a, &t.id, "a.rolled_back", n).await);
        expected.extend(["a.appended", "a.read", "a.appended", "b.appended", "a.read", "b.read"]);
    }
    append(&a, &t.id, "a.appended", 9).await.commit().await.unwrap();
    expected.push("a.appended");
    let mut tx = b.begin().await.unwrap();
    let trail = tx.audit_for_object(&t.id, "obj").await.unwrap();
    assert_eq!(trail.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), expected);
    let seqs: Vec<i64> = trail.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let (checked, broken) = tx.verify_audit_chains().await.unwrap();
    assert!(checked >= expected.len() && broken.is_none(), "{checked} {broken:?}");
    tx.commit().await.unwrap();
}

/// A future given up after it waited `waits` times (the caller dropped at its
/// `waits`-th await point, as a client that hangs up drops a request): `None` then.
struct CutAfter<F> {
    fut: Option<std::pin::Pin<Box<F>>>,
    waits: usize,
}

impl<F: std::future::Future> std::future::Future for CutAfter<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let Some(fut) = self.fut.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        match fut.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
            std::task::Poll::Pending if self.waits == 0 => {
                self.fut = None;
                std::task::Poll::Ready(None)
            }
            std::task::Poll::Pending => {
                self.waits -= 1;
                std::task::Poll::Pending
            }
        }
    }
}

/// A transaction whose caller is dropped at any await point — while it begins, between
/// its statements, while it commits — leaves nothing half-done: its two audit entries
/// are both there or neither, the chain stays whole, and another process writes at once
/// (a transaction left open would hold SQLite's write lock, or PostgreSQL's lock on the
/// chain head, for good; one begun twice would nest as a savepoint and never commit).
#[tokio::test]
async fn a_transaction_dropped_at_any_await_point_leaves_nothing_half_done() {
    let db = TestDb::new().await;
    let (store, other_process, t) = db.two_processes_with_a_tenant().await;
    let mut expected = 0;
    for waits in 0.. {
        let object = format!("obj{waits}");
        let work = async {
            let mut tx = store.begin().await.unwrap();
            tx.audit(&t.id, &Actor::Cli, "first", &object, at(1)).await.unwrap();
            tx.audit(&t.id, &Actor::Cli, "second", &object, at(2)).await.unwrap();
            tx.commit().await.unwrap();
        };
        let finished = CutAfter {
            fut: Some(Box::pin(work)),
            waits,
        }
        .await
        .is_some();
        // Within SQLite's busy timeout (10 s): a lock still held would fail this.
        let checked = async {
            let mut tx = other_process.begin().await.unwrap();
            tx.audit(&t.id, &Actor::Cli, "other", "elsewhere", at(3)).await.unwrap();
            let trail = tx.audit_for_object(&t.id, &object).await.unwrap();
            let chains = tx.verify_audit_chains().await.unwrap();
            tx.commit().await.unwrap();
            (trail, chains)
        };
        let (trail, (checked, broken)) = tokio::time::timeout(std::time::Duration::from_secs(8), checked)
            .await
            .unwrap_or_else(|_| panic!("another process could not write after a caller was dropped at await point {waits}"));
        assert!(
            trail.is_empty() || trail.len() == 2,
            "cut at {waits}: {} of the 2 entries",
            trail.len()
        );
        expected += trail.len() + 1;
        assert!(
            checked == expected && broken.is_none(),
            "cut at {waits}: {checked} of {expected}, {broken:?}"
        );
        // And the store whose caller was dropped goes on.
        let mut tx = store.begin().await.unwrap();
        tx.audit(&t.id, &Actor::Cli, "after", "elsewhere", at(4)).await.unwrap();
        tx.commit().await.unwrap();
        expected += 1;
        if finished {
            assert_eq!(trail.len(), 2);
            // How many points it waits at depends on how fast SQLite's thread answers;
            // it always waits for BEGIN's answer at least.
            assert!(waits > 0, "the work never waited: nothing was cut");
            break;
        }
    }
}

/// Keyset pages through the column list: every row once, newest first.
#[tokio::test]
async fn verifications_page_through_the_cursor() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let t = tenant("Pages");
    let a = applicant(&t.id, "pages@example.org");
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&t).await.unwrap();
    tx.insert_applicant(&a).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let v = verification(&a, 100 + i);
        tx.insert_verification(&v).await.unwrap();
        ids.push(v.id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = tx.list_verifications(&t.id, None, cursor.as_ref(), 2).await.unwrap();
        seen.extend(page.items.into_iter().map(|v| v.id));
        match page.next_cursor {
            Some(c) => cursor = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    let applicants = tx.list_applicants(&t.id, None, 10).await.unwrap();
    assert_eq!(applicants.items.len(), 1);
    tx.commit().await.unwrap();
}

// ----- migrations ------------------------------------------------------------------------------

/// A database that kycd's earlier runner migrated (its steps in `kycd_migrations`, no
/// sqlx table) upgrades: the steps it has are recorded with their files' checksums and
/// not run again, the ones it lacks run, and its rows stay.
#[tokio::test]
async fn a_database_of_the_earlier_runner_upgrades_without_running_a_step_twice() {
    let db = TestDb::new().await;
    let files = db.migration_files();
    let upto = 22;
    let mut conn = db.raw().await;
    {
        // What the earlier runner did: each step's statements and its row, in one transaction.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS kycd_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        for (version, sql) in files.iter().filter(|f| f.0 <= upto) {
            sqlx::raw_sql(sql).execute(&mut *tx).await.unwrap();
            sqlx::query("INSERT INTO kycd_migrations (version, name, applied_at) VALUES ($1, 'old', 0)")
                .bind(*version)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO tenants (id, name, mode, created_at) VALUES ('ten_old', 'Old', 'test', 0)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    let database = db.database().await;
    let ran = database.migrate().await.unwrap();
    assert_eq!(ran, files.iter().filter(|f| f.0 > upto).count(), "only the steps it lacked ran");
    let all: Vec<i64> = files.iter().map(|f| f.0).collect();
    assert_eq!(versions(&mut conn, "_sqlx_migrations").await, all);
    assert_eq!(versions(&mut conn, "kycd_migrations").await, all, "kept for older kycd binaries");
    let checksums: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for ((version, sum), (file_version, sql)) in checksums.iter().zip(&files) {
        assert_eq!(
            (version, sum.as_slice()),
            (file_version, Sha384::digest(sql.as_bytes()).as_slice()),
            "step {version}"
        );
    }
    let old: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants WHERE id = 'ten_old'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(old, 1);
    // Migration 29's column exists: the steps after the bridge ran.
    let reads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries WHERE is_read = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(reads, 0);
    assert_eq!(database.migrate().await.unwrap(), 0, "nothing left to run");
    conn.close().await.unwrap();
}

/// A database a newer kycd migrated (a step this code does not know, in either table) is
/// refused; a step whose file changed after it ran is refused too.
#[tokio::test]
async fn a_newer_or_altered_schema_is_refused() {
    let db = TestDb::new().await;
    let database = db.database().await;
    assert!(database.migrate().await.unwrap() > 0);
    let code = Database::code_schema_version();
    let mut conn = db.raw().await;

    let newer = |e: &StoreError| matches!(e, StoreError::SchemaNewer { db: 999999, code: c } if *c == code);
    let newer_in_old_table = |e: &StoreError| {
        e.to_string()
            .contains("the database has migration 999998 but this kycd knows migrations up to")
    };
    let altered = |e: &StoreError| matches!(e, StoreError::Migrate(sqlx::migrate::MigrateError::VersionMismatch(1)));
    let cases = [
        RecordedChange {
            sql: "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (999999, 'future', TRUE, $1, 0)",
            checksum: Some(vec![0u8; 48]),
            is_refusal: &newer,
            undo: Some("DELETE FROM _sqlx_migrations WHERE version = 999999"),
        },
        RecordedChange {
            sql: "INSERT INTO kycd_migrations (version, name, applied_at) VALUES (999998, 'from_the_future', 0)",
            checksum: None,
            is_refusal: &newer_in_old_table,
            undo: Some("DELETE FROM kycd_migrations WHERE version = 999998"),
        },
        RecordedChange {
            sql: "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 1",
            checksum: Some(vec![1u8; 48]),
            is_refusal: &altered,
            undo: None,
        },
    ];
    for case in cases {
        let err = refusal_after(&mut conn, &database, case.sql, case.checksum).await;
        assert!((case.is_refusal)(&err), "{}: {err:?} ({err})", case.sql);
        if let Some(undo) = case.undo {
            sqlx::query(undo).execute(&mut conn).await.unwrap();
        }
    }
    conn.close().await.unwrap();
}

/// Several instances starting together on one database: each step runs once, and every
/// instance ends up on the full schema.
#[tokio::test]
async fn instances_starting_together_run_each_step_once() {
    let db = TestDb::new().await;
    let steps = db.migration_files().len();
    let mut starts = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        starts.push(tokio::spawn(async move {
            let database = Database::connect(&url).await.unwrap();
            database.migrate().await.unwrap()
        }));
    }
    let mut ran = 0;
    for s in starts {
        ran += s.await.unwrap();
    }
    assert_eq!(ran, steps, "every step ran once, in one instance or another");
    let mut conn = db.raw().await;
    assert_eq!(versions(&mut conn, "_sqlx_migrations").await.len(), steps);
    conn.close().await.unwrap();
}
