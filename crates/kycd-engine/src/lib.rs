//! kycd's use cases: the one place that combines the store and the checks. Every public
//! method takes the caller (`Principal`) and works inside the caller's tenant only.
//!
//! This file holds the [`Engine`] type, its construction, configuration and the helpers the
//! use cases share; each use case is an `impl Engine` block of its own module: `tenants`
//! (and API keys), `applicants`, `verifications` (creation, state transitions), `attempts`,
//! `captures` (uploads, reads), `processing` (submit, the pipeline run, the decision),
//! `review`, `reports`, `erasure` (anonymize, delete), and beside them the hosted capture
//! page (`capture`, `sessions`), `liveness`, `console`, `evidence`, `webhooks`,
//! `callbacks`, `lifecycle` (expiry, retention) and the dialects' own records
//! (`signers`, `signature_requests`). docs/ARCHITECTURE.md draws the map.

pub mod access;
mod applicants;
mod attempts;
pub mod callbacks;
pub mod capture;
mod captures;
pub mod console;
pub mod decision;
mod deliveries;
mod duplicates;
mod erasure;
mod error;
pub mod evidence;
pub mod features;
pub mod lifecycle;
pub mod liveness;
pub mod net_policy;
pub mod passwords;
mod processing;
pub mod ratelimit;
mod reports;
mod required;
mod review;
// `kycd seed` (capacity tests): only in builds with the `testing` feature.
#[cfg(feature = "testing")]
mod seed;
pub mod sessions;
pub mod signature_requests;
pub mod signers;
mod tenants;
#[cfg(test)]
mod test_fixtures;
pub mod upload_budget;
mod verifications;
pub mod webhooks;
mod worker;

pub use applicants::{ApplicantRef, NewApplicant};
pub use attempts::StartedAttempt;
pub use captures::read_whole;
pub use error::{EngineError, Result};
pub use kycd_checks::ImageLimits;
pub use kycd_store::{AuditBreak, BlobStream, Database, MasterKey, OperatorRole, Page, RotationReport, Store, StoreError};
pub use object_store::{ObjectStore, local::LocalFileSystem};
pub use reports::Report;
pub use tenants::{CreatedKey, KeyFormat};
pub use verifications::NewVerification;
pub use worker::{Pool, Workers};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use kycd_checks::pipeline::Pipeline;
use kycd_core::*;
use kycd_store::Tx;
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

    /// Runs `work` in a transaction of its own, committed when it succeeds (an error drops,
    /// and so rolls back, the transaction).
    pub(crate) async fn in_tx<T>(&self, work: impl AsyncFnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut tx = self.store.begin().await?;
        let out = work(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
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
