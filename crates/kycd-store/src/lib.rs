//! kycd's persistence. Metadata in SQL (SQLite by default, PostgreSQL for several
//! instances, same code), blobs through `object_store`, always envelope-encrypted.
//!
//! Every read of tenant data takes a `TenantId` and filters on it in SQL: there is no
//! second path to a row. The only lookups without a tenant are by the hash of a secret
//! the caller holds (API key, start token), which is how the tenant is found.

mod blob_stream;
mod blobs;
pub mod chunked;
mod conn;
pub mod crypto;
mod master_key;
mod migrate;
mod repo;
mod repo_applicants;
mod repo_attempts;
mod repo_audit;
mod repo_callbacks;
mod repo_capture;
mod repo_captures;
mod repo_console;
mod repo_dialect;
mod repo_features;
mod repo_fingerprints;
mod repo_jobs;
mod repo_lifecycle;
mod repo_liveness;
mod repo_senders;
mod repo_signing_keys;
mod repo_tenants;
mod repo_verifications;
mod repo_webhooks;
mod rotation;
mod sealed;
mod transfer;

pub use blobs::{BlobStream, sweep_partial_local_blobs};
pub use crypto::{CryptoError, DataKey, MasterKey, secret_hash};
pub use master_key::HEARTBEAT_EVERY;
pub use repo::*;
pub use repo_audit::*;
pub use repo_callbacks::*;
pub use repo_capture::*;
pub use repo_captures::*;
pub use repo_console::*;
pub use repo_dialect::*;
pub use repo_fingerprints::*;
pub use repo_jobs::*;
pub use repo_lifecycle::*;
pub use repo_liveness::*;
pub use repo_senders::*;
pub use repo_signing_keys::*;
pub use repo_tenants::*;
pub use repo_webhooks::*;
pub use rotation::RotationReport;
pub use transfer::{CopyReport, TableCount};

use chrono::{DateTime, TimeZone, Utc};
use object_store::ObjectStore;
use sqlx::Row;
use sqlx::any::install_default_drivers;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("blob store error: {0}")]
    Blob(#[from] object_store::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("stored record is malformed: {0}")]
    Corrupt(String),
    #[error("the pagination cursor is not one this server issued; start again without it")]
    BadCursor,
    #[error("a database task stopped before it finished: {0}")]
    Task(String),
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://…")]
    BadUrl(String),
    #[error(
        "the database has migration {db} but this kycd knows migrations up to {code}: a newer kycd migrated it; \
         run that version (or newer) of kycd migrate, never an older one"
    )]
    SchemaNewer { db: i64, code: i64 },
    #[error("the master key does not match this database: its key check value belongs to another key")]
    WrongMasterKey,
    #[error("the master key does not open the data already in this database (a sealed value in table {table})")]
    MasterKeyOpensNothing { table: &'static str },
    #[error("a master key rotation is in progress on this database (the key given is {which})")]
    RotationInProgress {
        /// "the old key", "the new key" or "neither key".
        which: &'static str,
    },
    #[error("kycd serve is running on this database ({count} instance(s), the latest seen {seconds_ago} s ago)")]
    InstancesRunning { count: usize, seconds_ago: i64 },
    #[error("{0}")]
    Rotation(String),
    #[error("the database is busy ({0}); the job runs again later")]
    Busy(&'static str),
    /// Moving an installation to another database (`kycd migrate-store`).
    #[error("{0}")]
    Transfer(String),
}

/// The tables whose rows an erasure (anonymize, delete) rewrites or removes: their old
/// versions must not outlive it in the database files.
const ERASURE_TABLES: &[&str] = &[
    "applicants",
    "verifications",
    "captures",
    "attempts",
    "dialect_state",
    "review_proposals",
    "capture_fingerprints",
    "callback_deliveries",
];

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connected database whose master key is not checked yet: migrations, and what has to
/// be known before a key is read or made (does the database hold data? does this key
/// belong to it?). [`Database::unlock`] checks a key and gives the [`Store`].
#[derive(Clone)]
pub struct Database {
    conns: conn::Conns,
    backend: Backend,
    audit_heads: Arc<repo_audit::AuditHeads>,
}

/// The database opened with its master key, and the blob store.
pub struct Store {
    db: Database,
    blobs: Arc<dyn ObjectStore>,
    master: MasterKey,
    /// This process's id in `running_instances` (while it serves).
    instance: String,
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_millis_opt(v)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {v}")))
}

impl Database {
    pub async fn connect(database_url: &str) -> Result<Self> {
        install_default_drivers();
        let backend = if database_url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::BadUrl(database_url.to_owned()));
        };
        Ok(Self {
            conns: conn::Conns::connect(backend, database_url).await?,
            backend,
            audit_heads: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for one statement or a few outside a transaction.
    pub(crate) async fn conn(&self) -> Result<conn::Conn> {
        self.conns.acquire().await
    }

    /// Begin a transaction. Safe to cancel at any point: the caller either gets the
    /// transaction (which rolls back if dropped uncommitted) or none was left open.
    pub(crate) async fn begin_raw(&self) -> Result<conn::DbTx> {
        self.conns.begin().await
    }

    /// A transaction in which sqlx nests its own as savepoints (the migrations).
    pub(crate) async fn begin_nestable(&self) -> Result<conn::DbTx> {
        self.conns.begin_nestable().await
    }
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Refresh the planner's statistics. After a bulk load (`kycd seed`) they describe a
    /// far smaller table, and a cached generic plan for `WHERE tenant_id = $1 AND id = $2`
    /// may walk a tenant-wide index instead of the primary key (measured: 130 rows/s
    /// seeding instead of 2 000).
    pub async fn analyze(&self) -> Result<()> {
        sqlx::query("ANALYZE").execute(&mut *self.db.conn().await?).await?;
        Ok(())
    }

    /// Whether the database takes writes: one small write transaction, as every use case
    /// begins them (a `SELECT 1` answers even while the write lock is held for good).
    /// On PostgreSQL the server gives up after `within` itself, so a probe stuck behind a
    /// lock does not hold its pooled connection until the lock goes.
    pub async fn probe_write(&self, now: DateTime<Utc>, within: std::time::Duration) -> Result<()> {
        let mut tx = self.begin().await?;
        if self.db.backend == Backend::Postgres {
            // SET takes no bind parameters; the value is our own integer.
            tx.tx
                .execute(sqlx::query(&format!("SET LOCAL statement_timeout = {}", within.as_millis().max(1))))
                .await?;
        }
        tx.tx
            .execute(
                sqlx::query("INSERT INTO readiness_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at")
                    .bind(ms(now)),
            )
            .await?;
        tx.commit().await
    }

    /// The job queue at a glance (for the metrics): per kind and state (`due`: waiting
    /// to run now, `scheduled`: waiting for a later time, `running`), how many jobs, and
    /// the earliest `run_at` among them.
    pub async fn job_queue(&self, now: DateTime<Utc>) -> Result<Vec<JobQueueRow>> {
        let rows = sqlx::query(
            "SELECT kind, CASE WHEN status = 'running' THEN 'running' WHEN run_at <= $1 THEN 'due' ELSE 'scheduled' END AS state,
                    COUNT(*) AS n, MIN(run_at) AS oldest
             FROM jobs WHERE status IN ('queued', 'running') GROUP BY kind, state",
        )
        .bind(ms(now))
        .fetch_all(&mut *self.db.conn().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JobQueueRow {
                    kind: r.try_get("kind")?,
                    state: r.try_get("state")?,
                    count: r.try_get("n")?,
                    oldest: from_ms(r.try_get("oldest")?)?,
                })
            })
            .collect()
    }

    /// The database connection pool: (connections open, of them idle, the most it opens).
    pub fn pool_use(&self) -> (u32, usize, u32) {
        self.db.conns.use_now()
    }

    /// Begin a transaction (safe to cancel, see [`Database::begin_raw`]).
    pub async fn begin(&self) -> Result<Tx<'_>> {
        Ok(Tx {
            tx: self.db.begin_raw().await?,
            store: self,
        })
    }

    pub fn tenant_keys(&self, tenant: &kycd_core::TenantId) -> crypto::TenantKeys {
        self.master.tenant_keys(tenant)
    }

    /// Make what erasures removed unreadable in the database files themselves, not only
    /// in the tables. SQLite (with `secure_delete`, erased content is zeroed in its page):
    /// a checkpoint that writes the WAL into the database and truncates it, so the WAL no
    /// longer holds the pages as they were. PostgreSQL: an UPDATE or DELETE leaves the old
    /// row as a dead tuple, and a plain VACUUM only marks its space free (the bytes stay
    /// until something happens to overwrite them), so the erased tables are rewritten
    /// (`VACUUM FULL`, which also rebuilds their indexes and TOAST) and the old files are
    /// emptied. That takes an exclusive lock on each table while it is copied: it waits at
    /// most 5 s for the lock (else it fails and its job runs again later), and the copy
    /// takes as long as the table's size (see docs/lifecycle.md).
    pub async fn purge_erased(&self) -> Result<()> {
        match self.db.backend {
            Backend::Sqlite => {
                let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(&mut *self.db.conn().await?)
                    .await?;
                let busy: i64 = row.try_get(0)?;
                if busy != 0 {
                    return Err(StoreError::Busy("another process reads the SQLite file; the WAL was not truncated"));
                }
            }
            Backend::Postgres => {
                let mut conn = self.db.conn().await?;
                // Its session setting must not go back to the pool with it.
                if let conn::Conn::Pooled(c) = &mut conn {
                    c.close_on_drop();
                }
                sqlx::query("SET lock_timeout = '5s'").execute(&mut *conn).await?;
                wait_for_older_transactions(&mut conn).await?;
                for table in ERASURE_TABLES {
                    sqlx::query(&format!("VACUUM FULL {table}")).execute(&mut *conn).await?;
                }
            }
        }
        Ok(())
    }
}

/// One line of [`Store::job_queue`].
#[derive(Debug, Clone)]
pub struct JobQueueRow {
    pub kind: String,
    /// `due`, `scheduled` or `running`.
    pub state: String,
    pub count: i64,
    pub oldest: DateTime<Utc>,
}

/// A database transaction. All repository methods live here, so a use case that writes
/// a state change and its audit entry does both or neither.
pub struct Tx<'s> {
    pub(crate) tx: conn::DbTx,
    pub(crate) store: &'s Store,
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// `VACUUM FULL` copies a deleted row version into the table's new file as long as some
/// transaction that began before the deletion might still see it — in any database of the
/// cluster, since a snapshot's horizon is the oldest transaction running anywhere. Wait,
/// for at most a minute, until every transaction and snapshot older than this purge has
/// ended, so that the rewrite leaves the erased versions behind. (Measured: under the
/// parallel test suite, with other databases busy on the same server, the rewrite kept
/// the clear copy otherwise.) A session left idle in a transaction for longer makes the
/// purge fail with that reason; its job runs again later.
async fn wait_for_older_transactions(conn: &mut sqlx::AnyConnection) -> Result<()> {
    let start: String = sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
        .fetch_one(&mut *conn)
        .await?;
    let older = "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
                 AND (age(backend_xid) > age(xid($1::xid8)) OR age(backend_xmin) > age(xid($1::xid8)))";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar(older).bind(&start).fetch_one(&mut *conn).await?;
        if n == 0 {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(StoreError::Busy(
                "a transaction older than the erasure is still open on the PostgreSQL server (idle in transaction?); the purge runs again later",
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
