//! kycd's use cases: the one place that combines the store and the checks. Every public
//! method takes the caller (`Principal`) and works inside the caller's tenant only.

pub mod access;
pub mod callbacks;
pub mod capture;
pub mod console;
pub mod decision;
mod duplicates;
mod error;
pub mod evidence;
pub mod features;
pub mod lifecycle;
pub mod liveness;
pub mod net_policy;
pub mod passwords;
pub mod ratelimit;
mod seed;
pub mod sessions;
pub mod signature_requests;
pub mod signers;
pub mod upload_budget;
pub mod webhooks;
mod worker;

pub use error::{EngineError, Result};
pub use kycd_checks::ImageLimits;
pub use kycd_store::{AuditBreak, BlobStream, Database, MasterKey, OperatorRole, Page, RotationReport, Store, StoreError};
pub use object_store::{ObjectStore, local::LocalFileSystem};
pub use worker::{Pool, Workers};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use kycd_checks::ImageError;
use kycd_checks::pipeline::Pipeline;
use kycd_core::*;
use kycd_store::{ApiKeyRecord, Cursor, StoredBlob, Tx, secret_hash};
use std::sync::Arc;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where people reach this server (used in capture links), without trailing slash.
    pub public_url: String,
    pub start_token_ttl: Duration,
    pub default_time_to_live: Duration,
    /// How often each tenant's lifecycle sweep (expiry, retention) runs.
    pub sweep_interval: Duration,
    /// How long after an erasure the purge of the erased rows from the database files
    /// runs; erasures in between share it (on PostgreSQL each purge rewrites the erased
    /// tables under an exclusive lock, so large installations space them out).
    pub purge_delay: Duration,
    /// Where the OCR models are (`scripts/fetch-models` puts them in `./models`).
    pub model_dir: std::path::PathBuf,
    pub image_limits: ImageLimits,
    pub max_upload_bytes: usize,
    /// Memory that decoding uploads may take at once, in MiB: each upload waits for its
    /// share (its pixels × 4, from the header) before decoding, so many concurrent
    /// uploads at the pixel limit cannot exhaust memory. At least one upload at the
    /// limit must fit (50 MP × 4 ≈ 195 MiB).
    pub decode_memory_mib: u32,
    /// Request bodies of uploads the process holds at once, in MiB (see `upload_budget`).
    pub upload_memory_mib: u32,
    /// Argon2 hashes at once (see `passwords`); each takes 19 MiB.
    pub password_hashes: u32,
    /// Fault injection for the crash-consistency test: abort the process right after an
    /// upload's blob is written and before its row is committed. Never set in production.
    pub crash_after_blob_write: bool,
    /// Fault injection for crash tests: processing pauses this long after reading the
    /// captures, holding its job lease, so a test can kill the server mid-processing.
    pub pause_in_processing: Option<std::time::Duration>,
    /// For browser tests, whose fake camera plays a video made beforehand: every liveness
    /// challenge asks for these steps instead of random ones. Never set in production.
    pub fixed_liveness_steps: Option<Vec<kycd_checks::liveness::Step>>,
    /// `iss` of evidence tokens: this instance's public URL unless set.
    pub evidence_issuer: String,
    pub rate_limits: ratelimit::RateLimitConfig,
    /// How long a webhook or callback receiver has to answer one delivery before it counts
    /// as failed (and is retried on the schedule). A delivery worker waits that long.
    pub delivery_timeout: std::time::Duration,
    /// Face detection and matching (dlib's weights). Off: [`FACE_MATCHING_OFF`], the
    /// face match is inconclusive and verifications with a selfie go to review.
    pub face_matching: bool,
    /// HEIC/HEIF uploads (libheif). Off: they are refused with [`HEIC_OFF`].
    pub heic: bool,
}

/// Why faces are not compared when the operator turned face matching off.
pub const FACE_MATCHING_OFF: &str = "face matching is turned off on this server (KYCD_FACE_MATCHING=off)";

/// The refusal of a HEIC upload when the operator turned HEIC off.
pub const HEIC_OFF: &str = "HEIC images are not accepted on this server (KYCD_HEIC=off): send a JPEG, PNG or WebP image";

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            start_token_ttl: Duration::hours(24),
            default_time_to_live: Duration::days(7),
            sweep_interval: Duration::minutes(5),
            purge_delay: Duration::seconds(2),
            model_dir: kycd_checks::ocr::default_model_dir(),
            image_limits: ImageLimits::default(),
            max_upload_bytes: 15 * 1024 * 1024,
            // One image at the pixel limit at a time; 100 concurrent 3 MB uploads stay
            // under 300 MiB (docs/BENCHMARKS.md). More cores decode more with more.
            decode_memory_mib: 256,
            upload_memory_mib: 64,
            password_hashes: passwords::default_concurrency(),
            crash_after_blob_write: false,
            pause_in_processing: None,
            fixed_liveness_steps: None,
            evidence_issuer: "http://127.0.0.1:8080".into(),
            rate_limits: ratelimit::RateLimitConfig::default(),
            delivery_timeout: std::time::Duration::from_secs(10),
            face_matching: true,
            heic: true,
        }
    }
}

/// Close the verification's active attempt(s) (their capture links stop working) with
/// `status`; returns their ids.
pub(crate) async fn close_active_attempts(
    tx: &mut Tx<'_>,
    tenant: &TenantId,
    id: &VerificationId,
    status: AttemptStatus,
    now: DateTime<Utc>,
) -> Result<Vec<AttemptId>> {
    let mut closed = Vec::new();
    for mut a in tx.list_attempts(tenant, id).await? {
        if a.status == AttemptStatus::Active {
            a.status = status;
            a.updated_at = now;
            tx.update_attempt(&a).await?;
            closed.push(a.id);
        }
    }
    Ok(closed)
}

fn refuse_if_held(v: &Verification, what: &str) -> Result<()> {
    if v.lifecycle.legal_hold {
        return Err(EngineError::Conflict(format!(
            "the verification is on legal hold and cannot be {what}; an admin must lift the hold first (PUT /v1/verifications/{}/legal_hold with enabled=false)",
            v.id
        )));
    }
    Ok(())
}

/// Who is calling: an API key, or an operator signed in to the review console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    ApiKey(ApiKeyId),
    Operator(OperatorId),
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub caller: Caller,
    pub scope: Scope,
    pub mode: Mode,
}

impl Principal {
    pub(crate) fn actor(&self) -> Actor {
        match &self.caller {
            Caller::ApiKey(k) => Actor::ApiKey(k.clone()),
            Caller::Operator(o) => Actor::Operator(o.clone()),
        }
    }
    /// The API key behind this caller: tokens and links are issued to API keys only.
    pub(crate) fn api_key(&self) -> Result<&ApiKeyId> {
        match &self.caller {
            Caller::ApiKey(k) => Ok(k),
            Caller::Operator(_) => Err(EngineError::Forbidden(
                "access tokens and download links are issued to API keys, not to console operators".into(),
            )),
        }
    }
    pub(crate) fn require_write(&self) -> Result<()> {
        match self.scope {
            Scope::Integration | Scope::Admin => Ok(()),
            Scope::Reviewer => Err(EngineError::Forbidden(
                "this API key has the reviewer scope, which can read and review but not create or change verifications; use an integration or admin key".into(),
            )),
        }
    }
    pub(crate) fn require_admin(&self, what: &str) -> Result<()> {
        if self.scope == Scope::Admin {
            Ok(())
        } else {
            Err(EngineError::Forbidden(format!("only an API key with the admin scope may {what}")))
        }
    }
    fn require_review(&self) -> Result<()> {
        if self.scope.may_review() {
            Ok(())
        } else {
            Err(EngineError::Forbidden(
                "reviewing needs an API key with the reviewer or admin scope".into(),
            ))
        }
    }
}

pub struct NewApplicant {
    pub external_applicant_id: Option<PersonalText>,
    pub person: PersonData,
}

pub enum ApplicantRef {
    Existing(ApplicantId),
    Inline(NewApplicant),
}

pub struct NewVerification {
    pub applicant: ApplicantRef,
    pub declared: DeclaredData,
    pub reference: HostReference,
    pub delivery: DeliveryChannel,
    pub callback_url: Option<String>,
    pub state: Option<String>,
    pub time_to_live: Option<Duration>,
    pub policy: Option<Policy>,
    /// Its own retention period, within the tenant's bounds (else the tenant's default).
    pub retention_days: Option<u32>,
}

/// A new attempt with its start token (shown once; only its hash is kept).
pub struct StartedAttempt {
    pub attempt: Attempt,
    pub url: String,
}

pub struct Report {
    pub verification: Verification,
    pub applicant: Applicant,
    pub attempts: Vec<Attempt>,
    pub captures: Vec<Capture>,
    pub timeline: Vec<TimelineEntry>,
}

pub struct CreatedKey {
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
    pub api_key: String,
}

pub const JOB_PROCESS: &str = "process_verification";

/// An upload checked at the edge, ready to be kept.
pub(crate) struct Upload {
    pub kind: CaptureKind,
    pub media_type: MediaType,
    pub bytes: Vec<u8>,
    pub feedback: CaptureFeedback,
}

pub struct Engine {
    store: Store,
    cfg: EngineConfig,
    clock: Arc<dyn Clock>,
    pub(crate) jobs_ready: worker::JobsReady,
    /// The check pipeline, loaded on first use (OCR models are read from disk once).
    pipeline: std::sync::OnceLock<Arc<Pipeline>>,
    /// Vendor webhook formats, registered by the dialects at startup.
    webhook_renderers: std::sync::RwLock<Vec<Arc<dyn webhooks::WebhookRenderer>>>,
    /// Dialects' per-verification callbacks, registered at startup.
    callback_renderers: std::sync::RwLock<Vec<Arc<dyn callbacks::CallbackRenderer>>>,
    /// `decode_memory_mib` permits, one per MiB an upload's decode may take.
    decode_budget: tokio::sync::Semaphore,
    rate_limits: ratelimit::RateLimits,
    upload_budget: upload_budget::UploadBudget,
    pub(crate) passwords: passwords::PasswordHasher,
}

/// The MiB permits decoding `cost` bytes takes from a budget of `budget_mib` (at most all
/// of it, so that one upload at the pixel limit always gets through alone).
fn decode_permits(cost: u64, budget_mib: u32) -> u32 {
    u32::try_from(cost.div_ceil(1 << 20)).unwrap_or(u32::MAX).min(budget_mib)
}

/// The textual form of an API key. Every form is stored hashed, scoped, moded and revoked
/// alike and is accepted wherever a key is; the form only exists for clients that check
/// it before sending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// `kycd_test_…` / `kycd_live_…`.
    #[default]
    Kycd,
    /// Checkout.com's secret key form (`sk_sbox_…` / `sk_…`), which its SDKs' builders
    /// insist on: the Checkout dialect's integrators keep their SDK code unchanged.
    Checkout,
}

impl KeyFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kycd" => Some(Self::Kycd),
            "checkout" => Some(Self::Checkout),
            _ => None,
        }
    }
}

/// Every prefix an API key of some [`KeyFormat`] starts with.
const API_KEY_PREFIXES: [&str; 3] = ["kycd_live_", "kycd_test_", "sk_"];

fn new_api_key(mode: Mode, format: KeyFormat) -> String {
    match format {
        KeyFormat::Kycd => format!("kycd_{}_{}", mode.as_str(), random_token(40)),
        KeyFormat::Checkout => checkout_secret_key(mode),
    }
}

/// Checkout.com's secret key: `sk_sbox_` (sandbox, for a test tenant) or `sk_` (live),
/// then 26 lower-case base32 characters and one of `[a-z2-7*#$=]` (the SDKs' pattern
/// `^sk_(sbox_)?[a-z2-7]{26}[a-z2-7*#$=]$`). All 27 are drawn from base32: 135 random bits.
fn checkout_secret_key(mode: Mode) -> String {
    use rand::Rng;
    const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::thread_rng();
    let body: String = (0..27).map(|_| char::from(BASE32[rng.gen_range(0..32)])).collect();
    match mode {
        Mode::Test => format!("sk_sbox_{body}"),
        Mode::Live => format!("sk_{body}"),
    }
}

/// One check of [`Engine::readiness`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadyCheck {
    /// `database`, `blob_store`, `master_key` or `models`.
    pub name: &'static str,
    pub ok: bool,
    /// Why it failed, for the caller (the cause is logged); empty when it passed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl ReadyCheck {
    fn ok(name: &'static str) -> Self {
        Self {
            name,
            ok: true,
            detail: String::new(),
        }
    }
    fn failed(name: &'static str, detail: &str) -> Self {
        Self {
            name,
            ok: false,
            detail: detail.to_owned(),
        }
    }
}

/// An error with its causes, outermost first: `a: b: c` (each `source()` in turn), for
/// the log line of a failure whose own message hides the cause ("internal error").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        // thiserror's `#[error(transparent)]` and "{0}" wrappers repeat their source.
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

impl Engine {
    pub fn new(store: Store, cfg: EngineConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            jobs_ready: worker::JobsReady::default(),
            pipeline: std::sync::OnceLock::new(),
            webhook_renderers: std::sync::RwLock::new(Vec::new()),
            callback_renderers: std::sync::RwLock::new(Vec::new()),
            decode_budget: tokio::sync::Semaphore::new(cfg.decode_memory_mib.max(1) as usize),
            rate_limits: ratelimit::RateLimits::new(cfg.rate_limits),
            upload_budget: upload_budget::UploadBudget::new(cfg.upload_memory_mib),
            passwords: passwords::PasswordHasher::new(cfg.password_hashes, passwords::HASH_WAIT),
            cfg,
        }
    }

    /// Register a vendor webhook format (one per format; a second registration replaces it).
    pub fn register_webhook_renderer(&self, r: Arc<dyn webhooks::WebhookRenderer>) {
        let mut list = self.webhook_renderers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        list.retain(|x| x.format() != r.format());
        list.push(r);
    }

    pub(crate) fn webhook_renderers(&self) -> Vec<Arc<dyn webhooks::WebhookRenderer>> {
        self.webhook_renderers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The check pipeline. Without OCR or face models the MRZ or face check is inconclusive
    /// (and says how to install them), so verifications go to review instead of failing.
    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.pipeline
            .get_or_init(|| {
                let reader = kycd_checks::mrz_read::MrzReader::load(&self.cfg.model_dir).map_err(|e| {
                    tracing::warn!(error = %e, "MRZ reading is off: verifications with a document go to review");
                    e.to_string()
                });
                let faces = if self.cfg.face_matching {
                    kycd_checks::face::FaceModels::load(&self.cfg.model_dir).map_err(|e| {
                        tracing::warn!(error = %e, "face matching is off: verifications with a selfie go to review");
                        e.to_string()
                    })
                } else {
                    tracing::info!("face matching is turned off (KYCD_FACE_MATCHING=off): verifications with a selfie go to review");
                    Err(FACE_MATCHING_OFF.to_owned())
                };
                // Detection and landmarks only: with face matching off the burst's identity
                // part (dlib's embeddings) is skipped and the check says so.
                let liveness = kycd_checks::liveness::LivenessKit::load(&self.cfg.model_dir).map_err(|e| {
                    tracing::warn!(error = %e, "the liveness check is off: verifications with a liveness burst go to review");
                    e.to_string()
                });
                Arc::new(
                    Pipeline::new(reader, self.cfg.image_limits)
                        .with_faces(faces)
                        .with_liveness(liveness),
                )
            })
            .clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Millisecond precision: what the store keeps, so a created object reads back equal.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(3)
    }

    /// Readiness: what serving needs, each check within `within`: the database takes a
    /// small write (one that only answers reads, or whose write lock is held, is not
    /// ready), the blob store takes and gives back a small object, the master key is
    /// still the database's, and the OCR and face models are loaded. Each failure says
    /// why in words fit for an unauthenticated caller; its cause goes to the log.
    pub async fn readiness(&self, within: std::time::Duration) -> Vec<ReadyCheck> {
        async fn timed<T>(
            within: std::time::Duration,
            f: impl std::future::Future<Output = std::result::Result<T, kycd_store::StoreError>>,
        ) -> std::result::Result<T, kycd_store::StoreError> {
            tokio::time::timeout(within, f)
                .await
                .unwrap_or(Err(kycd_store::StoreError::Busy("timed out")))
        }
        let (db, blobs, key) = tokio::join!(
            timed(within, self.store.probe_write(self.now(), within)),
            timed(within, self.store.probe_blobs()),
            timed(within, self.store.check_master_key()),
        );
        let failed = |name: &'static str, e: &kycd_store::StoreError, detail: &str| {
            tracing::warn!(check = name, error = %e, cause = %error_chain(e), "readiness check failed");
            ReadyCheck::failed(name, detail)
        };
        let mut out = Vec::with_capacity(4);
        out.push(match &db {
            Ok(()) => ReadyCheck::ok("database"),
            Err(kycd_store::StoreError::Busy(_)) => {
                ReadyCheck::failed("database", "the database did not take a write in time (its write lock may be held)")
            }
            Err(e) => failed("database", e, "the database refuses writes; the cause is in the server log"),
        });
        out.push(match &blobs {
            Ok(()) => ReadyCheck::ok("blob_store"),
            Err(kycd_store::StoreError::Busy(_)) => ReadyCheck::failed("blob_store", "the blob store did not answer in time"),
            Err(e) => failed(
                "blob_store",
                e,
                "the blob store refuses a write or read; the cause is in the server log",
            ),
        });
        out.push(match &key {
            Ok(()) => ReadyCheck::ok("master_key"),
            Err(kycd_store::StoreError::Busy(_)) => ReadyCheck::failed("master_key", "the master key check did not answer in time"),
            Err(e @ (kycd_store::StoreError::WrongMasterKey | kycd_store::StoreError::RotationInProgress { .. })) => failed(
                "master_key",
                e,
                "the master key of this instance is no longer the database's (a rotation ran or runs): restart it with the current key",
            ),
            Err(e) => failed(
                "master_key",
                e,
                "the master key check could not be read; the cause is in the server log",
            ),
        });
        let pipeline = self.pipeline();
        // Face matching turned off (KYCD_FACE_MATCHING=off) needs no face model.
        let faces = pipeline.faces_available() || !self.cfg.face_matching;
        out.push(match (pipeline.mrz_available(), faces) {
            (true, true) => ReadyCheck::ok("models"),
            (mrz, _) => ReadyCheck::failed(
                "models",
                if mrz {
                    "the face models are not loaded: install them (scripts/fetch-models) in the model directory"
                } else {
                    "the OCR models are not loaded: install them (scripts/fetch-models) in the model directory"
                },
            ),
        });
        out
    }

    /// Set the gauges that are read, not counted: the job queue (per kind: due, scheduled
    /// and running jobs, and how long the oldest due one has waited) and the database
    /// pool's connections. Called before each metrics scrape.
    pub async fn record_gauges(&self) {
        const KINDS: [&str; 5] = [
            JOB_PROCESS,
            webhooks::JOB_DELIVER,
            callbacks::JOB_CALLBACK,
            lifecycle::JOB_SWEEP,
            lifecycle::JOB_PURGE_ERASED,
        ];
        let now = self.now();
        match self.store.job_queue(now).await {
            Ok(rows) => {
                // Kinds with no job now read 0, not their last value.
                for kind in KINDS {
                    for state in ["due", "scheduled", "running"] {
                        metrics::gauge!("kycd_jobs", "kind" => kind, "state" => state).set(0.0);
                    }
                    metrics::gauge!("kycd_jobs_oldest_due_age_seconds", "kind" => kind).set(0.0);
                }
                for r in rows {
                    metrics::gauge!("kycd_jobs", "kind" => r.kind.clone(), "state" => r.state.clone()).set(r.count as f64);
                    if r.state == "due" {
                        let age = (now - r.oldest).num_milliseconds().max(0) as f64 / 1000.0;
                        metrics::gauge!("kycd_jobs_oldest_due_age_seconds", "kind" => r.kind).set(age);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, cause = %error_chain(&e), "metrics: could not read the job queue"),
        }
        let (open, idle, max) = self.store.pool_use();
        let busy = (open as usize).saturating_sub(idle);
        metrics::gauge!("kycd_db_pool_connections", "state" => "in_use").set(busy as f64);
        metrics::gauge!("kycd_db_pool_connections", "state" => "idle").set(idle as f64);
        metrics::gauge!("kycd_db_pool_max_connections").set(f64::from(max));
    }

    /// Reviews and retry messages written before their free text was sealed: seal them
    /// (at start), then purge the clear copies from the database files. Returns how many
    /// verifications were rewritten.
    pub async fn seal_clear_review_text(&self) -> Result<usize> {
        let (mut after, mut done) = (String::new(), 0);
        loop {
            let mut tx = self.store.begin().await?;
            let batch = tx.verifications_with_clear_review_text(&after, 200).await?;
            let Some((_, last)) = batch.last() else {
                break;
            };
            after = last.to_string();
            for (tenant, id) in &batch {
                let Some(mut v) = tx.get_verification(tenant, id).await? else {
                    continue;
                };
                for c in &mut v.checks {
                    let Some(message) = c.figures.as_object_mut().and_then(|f| f.remove("user_message")) else {
                        continue;
                    };
                    let message = message.as_str().unwrap_or_default().to_owned();
                    if c.name == console::RETRY_CHECK && !message.is_empty() && !v.redacted {
                        v.private.retry_message.get_or_insert(message);
                    }
                }
                tx.update_verification(&v).await?;
                done += 1;
            }
            tx.commit().await?;
        }
        if done > 0 {
            self.store.purge_erased().await?;
        }
        Ok(done)
    }

    // ----- tenants and keys (operator) ----------------------------------------------

    /// First start: if there is no tenant, create one with an admin key.
    pub async fn bootstrap(&self, mode: Mode) -> Result<Option<CreatedKey>> {
        let mut tx = self.store.begin().await?;
        if !tx.list_tenants().await?.is_empty() {
            return Ok(None);
        }
        drop(tx);
        Ok(Some(self.create_tenant("Default", mode).await?))
    }

    pub async fn create_tenant(&self, name: &str, mode: Mode) -> Result<CreatedKey> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(EngineError::Invalid("tenant name must be 1 to 200 characters".into()));
        }
        let now = self.now();
        let tenant = Tenant {
            id: TenantId::generate(),
            name: name.to_owned(),
            mode,
            retention: RetentionSettings::default(),
            created_at: now,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_tenant(&tenant).await?;
        tx.audit(&tenant.id, &Actor::Cli, "tenant.created", tenant.id.as_str(), now).await?;
        let key = self.insert_key(&mut tx, &tenant, Scope::Admin, KeyFormat::Kycd).await?;
        tx.enqueue_job(&tenant.id, lifecycle::JOB_SWEEP, "", now).await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn insert_key(&self, tx: &mut Tx<'_>, tenant: &Tenant, scope: Scope, format: KeyFormat) -> Result<CreatedKey> {
        let now = self.now();
        let api_key = new_api_key(tenant.mode, format);
        let rec = ApiKeyRecord {
            id: ApiKeyId::generate(),
            tenant_id: tenant.id.clone(),
            scope,
            mode: tenant.mode,
            created_at: now,
            revoked_at: None,
        };
        tx.insert_api_key(&rec, &secret_hash(&api_key)).await?;
        tx.audit(
            &tenant.id,
            &Actor::Cli,
            &format!("api_key.created.{}", scope.as_str()),
            rec.id.as_str(),
            now,
        )
        .await?;
        Ok(CreatedKey {
            tenant_id: tenant.id.clone(),
            key_id: rec.id,
            api_key,
        })
    }

    pub async fn create_api_key(&self, tenant: &TenantId, scope: Scope, format: KeyFormat) -> Result<CreatedKey> {
        let mut tx = self.store.begin().await?;
        let tenant = tx.get_tenant(tenant).await?.ok_or(EngineError::NotFound("tenant"))?;
        let key = self.insert_key(&mut tx, &tenant, scope, format).await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn revoke_api_key(&self, key: &ApiKeyId) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let tenant = tx.revoke_api_key(key, now).await?.ok_or(EngineError::NotFound("active API key"))?;
        tx.audit(&tenant, &Actor::Cli, "api_key.revoked", key.as_str(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        Ok(self.store.begin().await?.list_tenants().await?)
    }

    pub async fn verify_audit(&self) -> Result<(usize, Option<AuditBreak>)> {
        Ok(self.store.begin().await?.verify_audit_chains().await?)
    }

    pub async fn authenticate(&self, api_key: &str) -> Result<Principal> {
        let bad = || {
            EngineError::Unauthorized(
                "the API key is not valid: send 'Authorization: Bearer kycd_…' with a key from 'kycd apikey create'".into(),
            )
        };
        if !API_KEY_PREFIXES.iter().any(|p| api_key.starts_with(p)) || api_key.len() > 200 {
            return Err(bad());
        }
        let rec = self
            .store
            .begin()
            .await?
            .find_api_key(&secret_hash(api_key))
            .await?
            .ok_or_else(bad)?;
        if rec.revoked_at.is_some() {
            return Err(EngineError::Unauthorized(
                "this API key was revoked; create a new one with 'kycd apikey create'".into(),
            ));
        }
        Ok(Principal {
            tenant_id: rec.tenant_id,
            caller: Caller::ApiKey(rec.id),
            scope: rec.scope,
            mode: rec.mode,
        })
    }

    // ----- applicants --------------------------------------------------------------

    pub async fn create_applicant(&self, p: &Principal, new: NewApplicant) -> Result<Applicant> {
        p.require_write()?;
        let mut tx = self.store.begin().await?;
        let a = self.insert_applicant(&mut tx, p, new).await?;
        tx.commit().await?;
        Ok(a)
    }

    async fn insert_applicant(&self, tx: &mut Tx<'_>, p: &Principal, new: NewApplicant) -> Result<Applicant> {
        let now = self.now();
        let a = Applicant {
            id: ApplicantId::generate(),
            tenant_id: p.tenant_id.clone(),
            external_applicant_id: new.external_applicant_id,
            person: new.person,
            redacted: false,
            created_at: now,
            updated_at: now,
        };
        tx.insert_applicant(&a).await?;
        tx.audit(&p.tenant_id, &p.actor(), "applicant.created", a.id.as_str(), now).await?;
        Ok(a)
    }

    pub async fn get_applicant(&self, p: &Principal, id: &ApplicantId) -> Result<Applicant> {
        self.store
            .begin()
            .await?
            .get_applicant(&p.tenant_id, id)
            .await?
            .ok_or(EngineError::NotFound("applicant"))
    }

    pub async fn list_applicants(&self, p: &Principal, cursor: Option<&str>, limit: usize) -> Result<Page<Applicant>> {
        let cursor = cursor.map(Cursor::decode).transpose()?;
        Ok(self
            .store
            .begin()
            .await?
            .list_applicants(&p.tenant_id, cursor.as_ref(), limit)
            .await?)
    }

    /// Replace the given fields (`None` leaves a field as it is).
    pub async fn update_applicant(&self, p: &Principal, id: &ApplicantId, patch: NewApplicant) -> Result<Applicant> {
        p.require_write()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut a = tx
            .get_applicant(&p.tenant_id, id)
            .await?
            .ok_or(EngineError::NotFound("applicant"))?;
        if a.redacted {
            return Err(EngineError::Gone(
                "this applicant was anonymized; its personal data cannot be set again".into(),
            ));
        }
        if patch.external_applicant_id.is_some() {
            a.external_applicant_id = patch.external_applicant_id;
        }
        let new = patch.person;
        a.person.full_name = new.full_name.or(a.person.full_name);
        a.person.email = new.email.or(a.person.email);
        a.person.phone = new.phone.or(a.person.phone);
        a.person.birth_date = new.birth_date.or(a.person.birth_date);
        a.updated_at = now;
        tx.update_applicant(&a).await?;
        tx.audit(&p.tenant_id, &p.actor(), "applicant.updated", a.id.as_str(), now).await?;
        tx.commit().await?;
        Ok(a)
    }

    // ----- verifications -----------------------------------------------------------

    pub async fn create_verification(&self, p: &Principal, new: NewVerification) -> Result<Verification> {
        p.require_write()?;
        if let Some(url) = &new.callback_url {
            net_policy::check_registration(url, p.mode)
                .await
                .map_err(|e| EngineError::Invalid(format!("callback_url refused: {e}")))?;
        }
        let mut tx = self.store.begin().await?;
        let v = self.insert_verification(&mut tx, p, new).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Create a verification inside the caller's transaction (its `callback_url` already
    /// checked).
    pub(crate) async fn insert_verification(&self, tx: &mut Tx<'_>, p: &Principal, new: NewVerification) -> Result<Verification> {
        let now = self.now();
        let ttl = new.time_to_live.unwrap_or(self.cfg.default_time_to_live);
        // The request's own policy, else the tenant's current default, else kycd's.
        let (policy, policy_version) = match new.policy {
            Some(own) => (own, None),
            None => match tx.tenant_policies(&p.tenant_id, 1).await?.pop() {
                Some(r) => (r.policy, Some(r.version)),
                None => (Policy::default(), None),
            },
        };
        policy.validate().map_err(EngineError::Invalid)?;
        if let Some(days) = new.retention_days {
            let tenant = tx.get_tenant(&p.tenant_id).await?.ok_or(EngineError::NotFound("tenant"))?;
            tenant.retention.check_request(days).map_err(EngineError::Invalid)?;
        }
        let applicant_id = match new.applicant {
            ApplicantRef::Existing(id) => {
                let a = tx
                    .get_applicant(&p.tenant_id, &id)
                    .await?
                    .ok_or(EngineError::NotFound("applicant"))?;
                a.id
            }
            ApplicantRef::Inline(a) => self.insert_applicant(tx, p, a).await?.id,
        };
        let v = Verification {
            id: VerificationId::generate(),
            tenant_id: p.tenant_id.clone(),
            applicant_id,
            status: VerificationStatus::Created,
            reference: new.reference,
            delivery: new.delivery,
            private: VerificationPrivate {
                declared: new.declared,
                callback_url: new.callback_url,
                state: new.state,
                extracted: None,
                retry_message: None,
            },
            policy,
            expires_at: now + ttl,
            checks: Vec::new(),
            review: None,
            redacted: false,
            lifecycle: Lifecycle {
                retention_days: new.retention_days,
                ..Lifecycle::default()
            },
            created_at: now,
            updated_at: now,
        };
        tx.insert_verification(&v).await?;
        tx.audit(&p.tenant_id, &p.actor(), "verification.created", v.id.as_str(), now)
            .await?;
        if let Some(version) = policy_version {
            // Which version of the tenant's policy it runs under (the policy itself is stored with it).
            tx.audit(&p.tenant_id, &p.actor(), &format!("policy.applied.v{version}"), v.id.as_str(), now)
                .await?;
        }
        self.emit_verification(tx, EventType::VerificationCreated, &v, None).await?;
        Ok(v)
    }

    /// Load inside a transaction, marking it expired first if its time ran out.
    async fn load(&self, tx: &mut Tx<'_>, tenant: &TenantId, id: &VerificationId) -> Result<Verification> {
        let mut v = tx
            .get_verification(tenant, id)
            .await?
            .ok_or(EngineError::NotFound("verification"))?;
        let now = self.now();
        if v.is_overdue(now) {
            self.transition(tx, &mut v, VerificationStatus::Expired, &Actor::System).await?;
        }
        Ok(v)
    }

    async fn transition(&self, tx: &mut Tx<'_>, v: &mut Verification, to: VerificationStatus, actor: &Actor) -> Result<()> {
        if !v.status.can_transition_to(to) {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; it cannot become {to}",
                v.status
            )));
        }
        let now = self.now();
        // Counted as the change is written (a transaction that then fails to commit,
        // which answers 500 and is logged, counts once too many).
        metrics::counter!("kycd_verification_transitions_total", "status" => to.to_string()).increment(1);
        if matches!(to, VerificationStatus::Approved | VerificationStatus::Declined) {
            let by = if matches!(actor, Actor::System) { "system" } else { "reviewer" };
            metrics::counter!("kycd_verification_decisions_total", "decision" => to.to_string(), "by" => by).increment(1);
        }
        if to == VerificationStatus::Expired {
            v.checks.extend(liveness::timeout_check(tx, v).await?);
        }
        v.status = to;
        v.updated_at = now;
        if to.is_final() {
            // The retention clock starts when the verification ends.
            let retention = tx.get_tenant(&v.tenant_id).await?.map(|t| t.retention).unwrap_or_default();
            let days = retention.days_for(v.lifecycle.retention_days);
            v.lifecycle.retain_until = Some(now + Duration::days(i64::from(days)));
        }
        tx.update_verification(v).await?;
        tx.audit(&v.tenant_id, actor, &format!("verification.status.{to}"), v.id.as_str(), now)
            .await?;
        if let Some(event) = EventType::for_status(to) {
            self.emit_verification(tx, event, v, None).await?;
        }
        if to.is_final() {
            let closed = if to == VerificationStatus::Expired {
                AttemptStatus::Expired
            } else {
                AttemptStatus::Cancelled
            };
            close_active_attempts(tx, &v.tenant_id, &v.id, closed, now).await?;
        }
        Ok(())
    }

    pub async fn get_verification(&self, p: &Principal, id: &VerificationId) -> Result<Verification> {
        let mut tx = self.store.begin().await?;
        let v = self.load(&mut tx, &p.tenant_id, id).await?;
        tx.commit().await?;
        Ok(v)
    }

    pub async fn list_verifications(
        &self,
        p: &Principal,
        status: Option<VerificationStatus>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Verification>> {
        let cursor = cursor.map(Cursor::decode).transpose()?;
        Ok(self
            .store
            .begin()
            .await?
            .list_verifications(&p.tenant_id, status, cursor.as_ref(), limit)
            .await?)
    }

    pub async fn cancel_verification(&self, p: &Principal, id: &VerificationId) -> Result<Verification> {
        p.require_write()?;
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, &p.tenant_id, id).await?;
        if v.status.is_final() {
            return Err(EngineError::Conflict(format!(
                "the verification is already {}; only an open verification can be cancelled",
                v.status
            )));
        }
        self.transition(&mut tx, &mut v, VerificationStatus::Cancelled, &p.actor()).await?;
        tx.commit().await?;
        Ok(v)
    }

    // ----- attempts ----------------------------------------------------------------

    pub async fn create_attempt(&self, p: &Principal, id: &VerificationId, client: ClientInfo) -> Result<StartedAttempt> {
        p.require_write()?;
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, &p.tenant_id, id).await?;
        let started = self.open_attempt(&mut tx, &mut v, client, &p.actor()).await?;
        tx.commit().await?;
        Ok(started)
    }

    pub(crate) async fn open_attempt(
        &self,
        tx: &mut Tx<'_>,
        v: &mut Verification,
        client: ClientInfo,
        actor: &Actor,
    ) -> Result<StartedAttempt> {
        if !v.status.accepts_captures() {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; no new attempt can be started",
                v.status
            )));
        }
        let attempts = tx.list_attempts(&v.tenant_id, &v.id).await?;
        if let Some(live) = attempts.iter().find(|a| a.status == AttemptStatus::Active) {
            return Err(EngineError::Conflict(format!(
                "attempt {} is still active; finish or cancel it before starting another",
                live.id
            )));
        }
        if attempts.len() >= v.policy.max_attempts as usize {
            return Err(EngineError::Conflict(format!(
                "all {} attempts allowed by the policy were used",
                v.policy.max_attempts
            )));
        }
        let now = self.now();
        let token = random_token(43);
        let attempt = Attempt {
            id: AttemptId::generate(),
            tenant_id: v.tenant_id.clone(),
            verification_id: v.id.clone(),
            status: AttemptStatus::Active,
            client,
            token_expires_at: (now + self.cfg.start_token_ttl).min(v.expires_at),
            token_used_at: None,
            created_at: now,
            updated_at: now,
        };
        tx.insert_attempt(&attempt, &secret_hash(&token)).await?;
        tx.audit(&v.tenant_id, actor, "attempt.created", attempt.id.as_str(), now).await?;
        tx.audit(&v.tenant_id, actor, "verification.attempt_created", v.id.as_str(), now)
            .await?;
        if matches!(v.status, VerificationStatus::Created | VerificationStatus::RetryRequired) {
            self.transition(tx, v, VerificationStatus::Pending, actor).await?;
        }
        let started = serde_json::json!({"id": attempt.id, "token_expires_at": attempt.token_expires_at, "client": attempt.client});
        self.emit_verification(tx, EventType::AttemptStarted, v, Some(("attempt", started)))
            .await?;
        let url = format!("{}/capture?token={token}", self.cfg.public_url);
        Ok(StartedAttempt { attempt, url })
    }

    pub async fn list_attempts(&self, p: &Principal, id: &VerificationId) -> Result<Vec<Attempt>> {
        let mut tx = self.store.begin().await?;
        let v = self.load(&mut tx, &p.tenant_id, id).await?;
        let list = tx.list_attempts(&p.tenant_id, &v.id).await?;
        tx.commit().await?;
        Ok(list)
    }

    pub async fn get_attempt(&self, p: &Principal, id: &VerificationId, attempt: &AttemptId) -> Result<Attempt> {
        let mut tx = self.store.begin().await?;
        self.load(&mut tx, &p.tenant_id, id).await?;
        let a = tx
            .get_attempt(&p.tenant_id, id, attempt)
            .await?
            .ok_or(EngineError::NotFound("attempt"))?;
        tx.commit().await?;
        Ok(a)
    }

    /// The person opens the capture link: the start token is spent (single use).
    pub async fn redeem_start_token(&self, token: &str) -> Result<Attempt> {
        let mut tx = self.store.begin().await?;
        let a = self.redeem_start_token_in(&mut tx, token).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// [`Self::redeem_start_token`] inside the caller's transaction: the token is spent
    /// only if the caller commits.
    pub(crate) async fn redeem_start_token_in(&self, tx: &mut Tx<'_>, token: &str) -> Result<Attempt> {
        let invalid = || EngineError::NotFound("capture link");
        if token.is_empty() || token.len() > 100 {
            return Err(invalid());
        }
        let now = self.now();
        let mut a = tx.find_attempt_by_token(&secret_hash(token)).await?.ok_or_else(invalid)?;
        if a.token_used_at.is_some() {
            return Err(EngineError::Gone(
                "this capture link was already used; ask the business for a new link".into(),
            ));
        }
        if now >= a.token_expires_at || a.status != AttemptStatus::Active {
            return Err(EngineError::Gone(
                "this capture link has expired; ask the business for a new link".into(),
            ));
        }
        let v = self.load(tx, &a.tenant_id, &a.verification_id).await?;
        if !v.status.accepts_captures() {
            return Err(EngineError::Gone(format!(
                "this verification is {} and takes no more captures",
                v.status
            )));
        }
        // The read above may be stale under concurrent openings: only the one whose
        // conditional update spends the token goes on.
        if !tx.spend_start_token(&a.tenant_id, &a.id, now).await? {
            return Err(EngineError::Gone(
                "this capture link was already used; ask the business for a new link".into(),
            ));
        }
        a.token_used_at = Some(now);
        a.updated_at = now;
        tx.audit(
            &a.tenant_id,
            &Actor::Applicant(a.id.clone()),
            "attempt.start_token_redeemed",
            a.id.as_str(),
            now,
        )
        .await?;
        Ok(a)
    }

    // ----- captures ------------------------------------------------------------------

    pub async fn add_capture(&self, p: &Principal, id: &VerificationId, kind: CaptureKind, bytes: Vec<u8>) -> Result<Capture> {
        p.require_write()?;
        self.add_capture_as(&p.tenant_id, &p.actor(), id, kind, bytes, None).await
    }

    /// The one upload path (API, dialects, hosted capture page): size, decode and quality
    /// feedback, then the blob and its row. `only` (the capture page) refuses unless that
    /// attempt is the verification's live one; without it a live attempt is found or opened.
    pub(crate) async fn add_capture_as(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        id: &VerificationId,
        kind: CaptureKind,
        bytes: Vec<u8>,
        only: Option<&AttemptId>,
    ) -> Result<Capture> {
        // Parsing user input already refuses derived kinds; this holds for every caller.
        if kind.is_derived() {
            return Err(EngineError::Invalid(
                "kind document_portrait is cut by kycd from the document front; upload document_front, document_back or selfie".into(),
            ));
        }
        if kind == CaptureKind::LivenessBurst {
            return Err(liveness::burst_needs_challenge());
        }
        self.admit_upload(tenant, id, bytes.len(), "compress or downscale the image")?;
        if !self.cfg.heic && kycd_checks::heic::is_heif(&bytes) {
            return Err(EngineError::UnsupportedMedia(HEIC_OFF.into()));
        }
        metrics::counter!("kycd_uploads_total", "kind" => kind.to_string()).increment(1);
        metrics::counter!("kycd_upload_bytes_total", "kind" => kind.to_string()).increment(bytes.len() as u64);
        let limits = self.cfg.image_limits;
        // Wait for this decode's share of the memory budget (header only, no pixels yet).
        let permits = decode_permits(kycd_checks::decode_cost(&bytes, limits), self.cfg.decode_memory_mib.max(1));
        let decoding = self
            .decode_budget
            .acquire_many(permits)
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let pipeline = self.pipeline();
        // Decode and judge while the person waits (a selfie's face detection included).
        let (bytes, inspected) = tokio::task::spawn_blocking(move || {
            // A HEIC photo is converted here and stored as that JPEG (kycd_checks::heic).
            let bytes = match kycd_checks::heic::normalise(bytes, limits) {
                Ok(b) => b,
                Err(e) => return (Vec::new(), Err(e)),
            };
            let r = kycd_checks::inspect(&bytes, limits).map(|info| (pipeline.feedback(kind, &bytes, &info), info));
            (bytes, r)
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        drop(decoding);
        let (feedback, info) = inspected.map_err(|e| match e {
            ImageError::Empty => {
                EngineError::Invalid("the request body is empty: send the image bytes (raw body or multipart field 'file')".into())
            }
            ImageError::UnsupportedType => EngineError::UnsupportedMedia(format!("{e}; send a JPEG, PNG, WebP or HEIC image")),
            ImageError::HeicNotBuilt => EngineError::UnsupportedMedia(e.to_string()),
            ImageError::TooManyPixels { .. } | ImageError::Corrupt(_) => EngineError::UnprocessableImage(e.to_string()),
        })?;

        let upload = Upload {
            kind,
            media_type: info.media_type,
            bytes,
            feedback,
        };
        self.store_upload(tenant, actor, id, upload, only, None).await
    }

    /// What every upload passes before its bytes are looked at: the size limit (`advice`
    /// says how to get under it) and the tenant's upload rate.
    pub(crate) fn admit_upload(&self, tenant: &TenantId, id: &VerificationId, len: usize, advice: &str) -> Result<()> {
        if len > self.cfg.max_upload_bytes {
            return Err(EngineError::TooLarge(format!(
                "the upload is {len} bytes; the limit is {} bytes: {advice}",
                self.cfg.max_upload_bytes
            )));
        }
        self.rate_limits.admit_upload(tenant, id)
    }

    /// Keep a checked upload: find (or open) the live attempt, write the blob before any
    /// row points at it, then commit its row (spending `challenge`, a burst's liveness
    /// challenge, in the same transaction).
    pub(crate) async fn store_upload(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        id: &VerificationId,
        upload: Upload,
        only: Option<&AttemptId>,
        challenge: Option<&LivenessChallengeId>,
    ) -> Result<Capture> {
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, tenant, id).await?;
        if !v.status.accepts_captures() {
            tx.commit().await?;
            return Err(EngineError::Conflict(format!(
                "the verification is {}; captures can no longer be added",
                v.status
            )));
        }
        let attempts = tx.list_attempts(tenant, &v.id).await?;
        let attempt = match (attempts.into_iter().find(|a| a.status == AttemptStatus::Active), only) {
            (Some(a), Some(want)) if &a.id != want => {
                tx.commit().await?;
                return Err(EngineError::Conflict(
                    "a newer attempt replaced this one; open the newest link".into(),
                ));
            }
            (Some(a), _) => a,
            (None, Some(_)) => {
                tx.commit().await?;
                return Err(EngineError::Conflict("this attempt is closed; it takes no more captures".into()));
            }
            (None, None) => self.open_attempt(&mut tx, &mut v, ClientInfo::default(), actor).await?.attempt,
        };
        tx.commit().await?;

        let now = self.now();
        let file_id = FileId::generate();
        let bytes = upload.bytes;
        let (blob_key, wrapped_key) = self.store.put_blob(tenant, &file_id, &bytes).await?;
        if self.cfg.crash_after_blob_write {
            std::process::abort();
        }
        let capture = Capture {
            id: file_id,
            tenant_id: tenant.clone(),
            verification_id: v.id.clone(),
            attempt_id: attempt.id.clone(),
            kind: upload.kind,
            media_type: upload.media_type,
            size: bytes.len() as u64,
            sha256: kycd_checks::sha256_hex(&bytes),
            feedback: upload.feedback,
            available: true,
            created_at: now,
        };
        let blob = StoredBlob { blob_key, wrapped_key };
        match self.record_capture(tenant, actor, &capture, &blob, challenge).await {
            Ok(replaced) => {
                for old in replaced {
                    // Best effort: a blob left behind here is an orphan the sweeper removes.
                    let _ = self.store.delete_blob(&old.blob_key).await;
                }
                Ok(capture)
            }
            Err(e) => {
                let _ = self.store.delete_blob(&blob.blob_key).await;
                Err(e)
            }
        }
    }

    /// Commit the capture row, replacing an earlier capture of the same kind in the same
    /// attempt. Returns the replaced blobs, to delete once the row is committed.
    async fn record_capture(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        c: &Capture,
        blob: &StoredBlob,
        challenge: Option<&LivenessChallengeId>,
    ) -> Result<Vec<StoredBlob>> {
        let mut tx = self.store.begin().await?;
        // Concurrent uploads of one kind must replace each other, not both stay.
        tx.lock_verification(tenant, &c.verification_id).await?;
        // A challenge works once: of two bursts racing with it, the second is refused here.
        if let Some(ch) = challenge
            && !tx.use_liveness_challenge(tenant, &c.verification_id, ch, c.created_at).await?
        {
            return Err(liveness::challenge_used());
        }
        let mut v = self.load(&mut tx, tenant, &c.verification_id).await?;
        let attempt = tx
            .get_attempt(tenant, &v.id, &c.attempt_id)
            .await?
            .ok_or(EngineError::NotFound("attempt"))?;
        if !v.status.accepts_captures() || attempt.status != AttemptStatus::Active {
            return Err(EngineError::Conflict(format!(
                "the verification is {} and its attempt {}; the capture was not kept",
                v.status,
                attempt.status.as_str()
            )));
        }
        let mut replaced = Vec::new();
        let mut first_of_attempt = true;
        for (old, old_blob) in tx.list_captures(tenant, &v.id).await? {
            first_of_attempt &= old.attempt_id != c.attempt_id;
            if old.attempt_id == c.attempt_id && old.kind == c.kind {
                tx.delete_capture(tenant, &old.id).await?;
                tx.audit(tenant, actor, "capture.replaced", old.id.as_str(), c.created_at).await?;
                replaced.extend(old_blob);
            }
        }
        tx.insert_capture(c, blob).await?;
        tx.audit(tenant, actor, &format!("capture.created.{}", c.kind), c.id.as_str(), c.created_at)
            .await?;
        if v.status != VerificationStatus::CaptureInProgress {
            self.transition(&mut tx, &mut v, VerificationStatus::CaptureInProgress, actor)
                .await?;
        }
        let received = serde_json::json!({"id": c.id, "kind": c.kind, "media_type": c.media_type, "sha256": c.sha256, "feedback": c.feedback,
                               "first_of_attempt": first_of_attempt});
        self.emit_verification(&mut tx, EventType::CaptureReceived, &v, Some(("capture", received)))
            .await?;
        tx.commit().await?;
        Ok(replaced)
    }

    pub async fn list_captures(&self, p: &Principal, id: &VerificationId) -> Result<Vec<Capture>> {
        let mut tx = self.store.begin().await?;
        let v = self.load(&mut tx, &p.tenant_id, id).await?;
        let list = tx.list_captures(&p.tenant_id, &v.id).await?.into_iter().map(|(c, _)| c).collect();
        tx.commit().await?;
        Ok(list)
    }

    /// The original bytes of a capture, decrypted chunk by chunk as they are sent (a
    /// download holds one chunk in memory, not the file). Every read is an audit entry.
    pub async fn read_file(&self, p: &Principal, id: &FileId) -> Result<(Capture, crate::BlobStream)> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (c, blob) = tx.get_capture(&p.tenant_id, id).await?.ok_or(EngineError::NotFound("file"))?;
        let blob = blob.ok_or_else(|| EngineError::Gone("this image was erased when its verification was anonymized".into()))?;
        tx.audit(&p.tenant_id, &p.actor(), "file.read", c.id.as_str(), now).await?;
        tx.commit().await?;
        let stream = self
            .store
            .get_blob_stream(&p.tenant_id, &c.id, &blob.blob_key, &blob.wrapped_key)
            .await?;
        Ok((c, stream))
    }

    // ----- submit, process, review -----------------------------------------------------

    pub async fn submit(&self, p: &Principal, id: &VerificationId) -> Result<Verification> {
        p.require_write()?;
        self.submit_as(&p.tenant_id, &p.actor(), id, None).await
    }

    /// Submit the live attempt (`only`: refuse unless it is that one).
    pub(crate) async fn submit_as(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        id: &VerificationId,
        only: Option<&AttemptId>,
    ) -> Result<Verification> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, tenant, id).await?;
        if !v.status.accepts_captures() {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; only a verification taking captures can be submitted",
                v.status
            )));
        }
        let attempts = tx.list_attempts(tenant, &v.id).await?;
        let Some(mut attempt) = attempts.into_iter().find(|a| a.status == AttemptStatus::Active) else {
            return Err(EngineError::Conflict(
                "there is no active attempt: upload the captures first".into(),
            ));
        };
        if only.is_some_and(|want| want != &attempt.id) {
            return Err(EngineError::Conflict(
                "a newer attempt replaced this one; open the newest link".into(),
            ));
        }
        let have: Vec<CaptureKind> = tx
            .list_captures(tenant, &v.id)
            .await?
            .into_iter()
            .filter(|(c, _)| c.attempt_id == attempt.id)
            .map(|(c, _)| c.kind)
            .collect();
        let missing: Vec<&str> = v
            .policy
            .required_captures(attempt.client.document_type)
            .into_iter()
            .filter(|k| !have.contains(k))
            .map(CaptureKind::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(EngineError::Invalid(format!(
                "the policy requires captures that are missing: {}; upload them, then submit",
                missing.join(", ")
            )));
        }
        attempt.status = AttemptStatus::Submitted;
        attempt.updated_at = now;
        tx.update_attempt(&attempt).await?;
        tx.audit(tenant, actor, "attempt.submitted", attempt.id.as_str(), now).await?;
        self.transition(&mut tx, &mut v, VerificationStatus::Processing, actor).await?;
        let run_at = now + self.mock_processing_delay(&mut tx, tenant, &v.id).await?;
        tx.enqueue_job(tenant, JOB_PROCESS, v.id.as_str(), run_at).await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(v)
    }

    /// The processing job: run what the pipeline can check today and decide the next state.
    pub async fn process_verification(&self, tenant: &TenantId, id: &VerificationId) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let Some(v) = tx.get_verification(tenant, id).await? else {
            return Ok(());
        };
        if v.status != VerificationStatus::Processing {
            return Ok(());
        }
        let attempts = tx.list_attempts(tenant, id).await?;
        let Some(attempt) = attempts.iter().rev().find(|a| a.status == AttemptStatus::Submitted) else {
            return Err(EngineError::Internal(
                "processing a verification without a submitted attempt".into(),
            ));
        };
        let captures: Vec<_> = tx
            .list_captures(tenant, id)
            .await?
            .into_iter()
            .filter(|(c, _)| c.attempt_id == attempt.id)
            .collect();
        let chosen = attempt.client.document_type;
        drop(tx);
        if let Some(pause) = self.cfg.pause_in_processing {
            tracing::warn!(verification = %id, "fault injection: processing paused");
            tokio::time::sleep(pause).await;
        }

        let mut blobs = Vec::new();
        for (c, blob) in &captures {
            let Some(blob) = blob else { continue };
            let bytes = self.store.get_blob(tenant, &c.id, &blob.blob_key, &blob.wrapped_key).await?;
            blobs.push((c.kind, c.id.to_string(), bytes));
        }
        let pipeline = self.pipeline();
        let policy = v.policy.clone();
        let declared = v.private.declared.clone();
        let today = self.now().date_naive();
        let started = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let inputs: Vec<kycd_checks::pipeline::CaptureInput<'_>> = blobs
                .iter()
                .map(|(kind, file_id, bytes)| kycd_checks::pipeline::CaptureInput {
                    kind: *kind,
                    file_id,
                    bytes,
                })
                .collect();
            pipeline.run(&inputs, &policy, Some(&declared), chosen, today)
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        metrics::histogram!("kycd_processing_duration_seconds").record(started.elapsed().as_secs_f64());
        let checks = outcome.checks;
        let fingerprints = outcome.fingerprints;
        let portrait = match outcome.portrait_jpeg {
            Some(jpeg) => Some(self.store_portrait(tenant, &v, &attempt.id, jpeg).await?),
            None => None,
        };
        let extracted = (outcome.document.mrz.is_some() || outcome.document.barcode.is_some())
            .then(|| serde_json::to_value(&outcome.document).unwrap_or_default());

        let mut tx = self.store.begin().await?;
        let Some(mut v) = tx.get_verification(tenant, id).await? else {
            return Ok(());
        };
        if v.status != VerificationStatus::Processing {
            return Ok(());
        }
        if let Some((capture, blob)) = &portrait {
            // A reprocessed attempt keeps one portrait: the newest.
            for (old, old_blob) in tx.list_captures(tenant, id).await? {
                if old.attempt_id == attempt.id && old.kind == CaptureKind::DocumentPortrait {
                    tx.delete_capture(tenant, &old.id).await?;
                    if let Some(b) = old_blob {
                        let _ = self.store.delete_blob(&b.blob_key).await;
                    }
                }
            }
            tx.insert_capture(capture, blob).await?;
            tx.audit(
                tenant,
                &Actor::System,
                "capture.created.document_portrait",
                capture.id.as_str(),
                capture.created_at,
            )
            .await?;
        }
        let mut checks = checks;
        checks.extend(self.capture_override_check(&mut tx, tenant, &attempt.id).await?);
        checks.extend(duplicates::reuse_checks(&mut tx, &v, &fingerprints, self.now()).await?);
        let next = kycd_core::decide::decide(&checks, attempts.len() < v.policy.max_attempts as usize);
        v.checks = checks;
        v.private.extracted = extracted;
        let next = self.mock_outcome(&mut tx, &mut v).await?.unwrap_or(next);
        self.transition(&mut tx, &mut v, next, &Actor::System).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Encrypt and write the portrait cut from the document front; the row is inserted by
    /// the caller's transaction.
    async fn store_portrait(
        &self,
        tenant: &TenantId,
        v: &Verification,
        attempt: &AttemptId,
        jpeg: Vec<u8>,
    ) -> Result<(Capture, StoredBlob)> {
        let file_id = FileId::generate();
        let (width, height) = kycd_checks::inspect(&jpeg, self.cfg.image_limits).map_or((0, 0), |i| (i.width, i.height));
        let (blob_key, wrapped_key) = self.store.put_blob(tenant, &file_id, &jpeg).await?;
        let capture = Capture {
            id: file_id,
            tenant_id: tenant.clone(),
            verification_id: v.id.clone(),
            attempt_id: attempt.clone(),
            kind: CaptureKind::DocumentPortrait,
            media_type: MediaType::Jpeg,
            size: jpeg.len() as u64,
            sha256: kycd_checks::sha256_hex(&jpeg),
            feedback: CaptureFeedback {
                width,
                height,
                accepted: true,
                issues: Vec::new(),
                message: "the portrait kycd cut from the document front".into(),
            },
            available: true,
            created_at: self.now(),
        };
        Ok((capture, StoredBlob { blob_key, wrapped_key }))
    }

    pub async fn review(&self, p: &Principal, id: &VerificationId, decision: ReviewDecision, reason: &str) -> Result<Verification> {
        p.require_review()?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2000 {
            return Err(EngineError::Invalid(
                "reason must be 1 to 2000 characters: say why you decided".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, &p.tenant_id, id).await?;
        if v.status != VerificationStatus::ReviewRequired {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; only review_required verifications can be reviewed",
                v.status
            )));
        }
        let review = Review {
            decision,
            reason: reason.to_owned(),
            reviewer: p.actor().label(),
            reviewed_at: self.now(),
            reason_code: None,
            user_message: None,
            confirmed_by: None,
        };
        self.apply_review(&mut tx, &mut v, review, &p.actor()).await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(v)
    }

    /// Record a reviewer's decision on a review_required verification and end it.
    pub(crate) async fn apply_review(&self, tx: &mut Tx<'_>, v: &mut Verification, review: Review, actor: &Actor) -> Result<()> {
        let to = match review.decision {
            ReviewDecision::Approve => VerificationStatus::Approved,
            ReviewDecision::Decline => VerificationStatus::Declined,
        };
        v.review = Some(review);
        // A first decision waiting under four eyes is settled by this one.
        tx.delete_review_proposal(&v.tenant_id, &v.id).await?;
        self.transition(tx, v, to, actor).await?;
        self.emit_verification(tx, EventType::Reviewed, v, None).await?;
        Ok(())
    }

    // ----- report, anonymize, delete -----------------------------------------------------

    pub async fn report(&self, p: &Principal, id: &VerificationId) -> Result<Report> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let verification = self.load(&mut tx, &p.tenant_id, id).await?;
        let applicant = tx
            .get_applicant(&p.tenant_id, &verification.applicant_id)
            .await?
            .ok_or(EngineError::NotFound("applicant"))?;
        let attempts = tx.list_attempts(&p.tenant_id, id).await?;
        let captures = tx.list_captures(&p.tenant_id, id).await?.into_iter().map(|(c, _)| c).collect();
        tx.audit(&p.tenant_id, &p.actor(), "report.read", id.as_str(), now).await?;
        // What happened to the verification; its reads (this one included) stay in the
        // audit log and the console's audit trail, or every read would grow the report.
        let timeline = tx
            .timeline_for_object(&p.tenant_id, id.as_str())
            .await?
            .into_iter()
            .map(TimelineEntry::from)
            .collect();
        tx.commit().await?;
        Ok(Report {
            verification,
            applicant,
            attempts,
            captures,
            timeline,
        })
    }

    /// Every audit entry about one object of a tenant, reads included, oldest first: the
    /// audit trail `kycd audit trail` prints and the console shows.
    pub async fn audit_trail(&self, tenant: &TenantId, object_id: &str) -> Result<Vec<TimelineEntry>> {
        let mut tx = self.store.begin().await?;
        let trail = tx.audit_for_object(tenant, object_id).await?;
        tx.commit().await?;
        Ok(trail.into_iter().map(TimelineEntry::from).collect())
    }

    /// Erase personal data and images; keep ids, status, checks and the audit trail.
    pub async fn anonymize(&self, p: &Principal, id: &VerificationId) -> Result<Verification> {
        p.require_write()?;
        self.anonymize_as(&p.tenant_id, &p.actor(), id).await
    }

    /// Anonymize on behalf of `actor` (an API key, or the retention sweep). Refused while
    /// the verification is on legal hold.
    pub(crate) async fn anonymize_as(&self, tenant: &TenantId, actor: &Actor, id: &VerificationId) -> Result<Verification> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, tenant, id).await?;
        refuse_if_held(&v, "anonymized")?;
        if !v.status.is_final() {
            self.transition(&mut tx, &mut v, VerificationStatus::Cancelled, actor).await?;
        }
        let blobs: Vec<StoredBlob> = tx.list_captures(tenant, id).await?.into_iter().filter_map(|(_, b)| b).collect();
        tx.erase_capture_keys(tenant, id).await?;
        tx.delete_attempt_dialect_state(tenant, id).await?;
        // Callback state is the integrator's own words (URLs, a title): erased with the rest,
        // after the cancellation above queued its callbacks.
        for r in self.callback_renderers() {
            tx.delete_dialect_state(tenant, id.as_str(), r.kind()).await?;
        }
        let retention = tx.get_tenant(tenant).await?.map(|t| t.retention).unwrap_or_default();
        v.private = VerificationPrivate::default();
        // The reviewer's note and message are free text about the person; the decision,
        // its reason code and who made it stay.
        if let Some(r) = &mut v.review {
            r.erase_free_text();
        }
        tx.delete_review_proposal(tenant, id).await?;
        // Written before the message moved to the sealed data, a retry check carried it.
        for c in &mut v.checks {
            if let Some(f) = c.figures.as_object_mut() {
                f.remove("user_message");
            }
        }
        v.redacted = true;
        v.lifecycle.delete_after = Some(now + Duration::days(i64::from(retention.tombstone_days)));
        v.updated_at = now;
        tx.update_verification(&v).await?;
        if let Some(mut a) = tx.get_applicant(tenant, &v.applicant_id).await? {
            a.person = PersonData::default();
            a.external_applicant_id = None;
            a.redacted = true;
            a.updated_at = now;
            tx.update_applicant(&a).await?;
        }
        tx.audit(tenant, actor, "verification.anonymized", id.as_str(), now).await?;
        self.emit_verification(&mut tx, EventType::Anonymized, &v, None).await?;
        self.schedule_purge(&mut tx, tenant).await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        // The wrapped data keys are gone with the commit, so the blobs are unreadable even
        // where a copy survives (backups); deleting them is the second line.
        for b in blobs {
            self.store.delete_blob(&b.blob_key).await?;
        }
        Ok(v)
    }

    pub async fn delete(&self, p: &Principal, id: &VerificationId) -> Result<()> {
        p.require_write()?;
        self.delete_as(&p.tenant_id, &p.actor(), id).await
    }

    /// Delete on behalf of `actor` (an API key, or the tombstone sweep). Refused while the
    /// verification is on legal hold or being processed.
    pub(crate) async fn delete_as(&self, tenant: &TenantId, actor: &Actor, id: &VerificationId) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let v = tx
            .get_verification(tenant, id)
            .await?
            .ok_or(EngineError::NotFound("verification"))?;
        refuse_if_held(&v, "deleted")?;
        if v.status == VerificationStatus::Processing {
            return Err(EngineError::Conflict(
                "the verification is being processed; retry in a few seconds".into(),
            ));
        }
        let blobs: Vec<StoredBlob> = tx.list_captures(tenant, id).await?.into_iter().filter_map(|(_, b)| b).collect();
        tx.delete_verification(tenant, id).await?;
        tx.audit(tenant, actor, "verification.deleted", id.as_str(), now).await?;
        self.emit_verification(&mut tx, EventType::Deleted, &v, None).await?;
        self.schedule_purge(&mut tx, tenant).await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        for b in blobs {
            self.store.delete_blob(&b.blob_key).await?;
        }
        Ok(())
    }

    pub async fn sweep_orphans(&self, grace: Duration) -> Result<usize> {
        Ok(self.store.sweep_orphan_blobs(self.now(), grace).await?)
    }
}

#[cfg(test)]
mod decode_budget_tests {
    use super::decode_permits;

    #[test]
    fn decode_permits_are_mib_rounded_up_and_capped_at_the_budget() {
        assert_eq!(decode_permits(0, 512), 0);
        assert_eq!(decode_permits(1, 512), 1);
        assert_eq!(decode_permits(1 << 20, 512), 1);
        assert_eq!(decode_permits((1 << 20) + 1, 512), 2);
        // 49 MP at 4 bytes a pixel: 187 MiB; two fit in 512, a third waits.
        let big = 7_000 * 7_000 * 4 + (4 << 20);
        assert_eq!(decode_permits(big, 512), 191);
        // Larger than the whole budget: takes all of it, alone, rather than never.
        assert_eq!(decode_permits(big, 100), 100);
        assert_eq!(decode_permits(u64::MAX, 512), 512);
    }
}

#[cfg(test)]
mod key_format_tests {
    use super::*;

    /// The SDKs' `^sk_(sbox_)?[a-z2-7]{26}[a-z2-7*#$=]$`, written out.
    fn checkout_sdk_accepts(key: &str, sandbox: bool) -> bool {
        let body = if sandbox {
            key.strip_prefix("sk_sbox_")
        } else {
            key.strip_prefix("sk_")
        };
        let base32 = |c: char| c.is_ascii_lowercase() || ('2'..='7').contains(&c);
        body.is_some_and(|b| {
            let chars: Vec<char> = b.chars().collect();
            chars.len() == 27 && chars[..26].iter().all(|c| base32(*c)) && (base32(chars[26]) || "*#$=".contains(chars[26]))
        })
    }

    #[test]
    fn checkout_keys_take_the_form_its_sdks_check_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let test = new_api_key(Mode::Test, KeyFormat::Checkout);
            let live = new_api_key(Mode::Live, KeyFormat::Checkout);
            assert!(checkout_sdk_accepts(&test, true), "{test}");
            assert!(checkout_sdk_accepts(&live, false) && !live.starts_with("sk_sbox_"), "{live}");
            assert!(API_KEY_PREFIXES.iter().any(|p| test.starts_with(p) && live.starts_with("sk_")));
            assert!(seen.insert(test) && seen.insert(live));
        }
        let kycd = new_api_key(Mode::Test, KeyFormat::Kycd);
        assert!(kycd.starts_with("kycd_test_") && API_KEY_PREFIXES.iter().any(|p| kycd.starts_with(p)));
        assert_eq!(KeyFormat::parse("checkout"), Some(KeyFormat::Checkout));
        assert_eq!(KeyFormat::parse("stripe"), None);
    }
}
