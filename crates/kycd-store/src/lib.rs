//! kycd's persistence. Metadata in SQL (SQLite by default, PostgreSQL for several
//! instances, same code), blobs through `object_store`, always envelope-encrypted.
//!
//! Every read of tenant data takes a `TenantId` and filters on it in SQL: there is no
//! second path to a row. The only lookups without a tenant are by the hash of a secret
//! the caller holds (API key, start token), which is how the tenant is found.

pub mod chunked;
pub mod crypto;
mod master_key;
mod repo;
mod repo_callbacks;
mod repo_capture;
mod repo_console;
mod repo_dialect;
mod repo_features;
mod repo_fingerprints;
mod repo_lifecycle;
mod repo_liveness;
mod repo_senders;
mod repo_webhooks;
mod rotation;
mod schema;
mod sealed;
mod transfer;

/// How much of a local blob file one blocking read takes ([`Store::get_blob_stream`]): four
/// chunks of the chunked format.
const FILE_READ_PIECE: usize = 256 * 1024;

fn io_error(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(e),
    }
}

/// A blob's plaintext, chunk by chunk ([`Store::get_blob_stream`]).
pub type BlobStream = futures::stream::BoxStream<'static, Result<bytes::Bytes>>;

pub use crypto::{CryptoError, DataKey, MasterKey, secret_hash};
pub use master_key::HEARTBEAT_EVERY;
pub use repo::*;
pub use repo_callbacks::*;
pub use repo_capture::*;
pub use repo_console::*;
pub use repo_dialect::*;
pub use repo_fingerprints::*;
pub use repo_lifecycle::*;
pub use repo_liveness::*;
pub use repo_senders::*;
pub use repo_webhooks::*;
pub use rotation::RotationReport;
pub use transfer::{CopyReport, TableCount};

use chrono::{DateTime, TimeZone, Utc};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as BlobPath;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Row, Transaction};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
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
    pool: AnyPool,
    backend: Backend,
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
        // Whatever happened to the code that held a connection (a request cancelled
        // mid-query, a bug), the pool never hands out one still inside a transaction: it
        // would hold SQLite's write lock (or PostgreSQL's row locks) for good. The ping
        // first lets SQLite's connection thread run a rollback queued by a dropped
        // `Transaction`; what is still open after it was leaked, and the connection is
        // closed (which rolls it back) instead of going back to the pool.
        let opts = AnyPoolOptions::new().after_release(move |conn, _| {
            Box::pin(async move {
                use sqlx::{Connection, TransactionManager};
                if backend == Backend::Sqlite {
                    conn.ping().await?;
                }
                let depth = <Any as sqlx::Database>::TransactionManager::get_transaction_depth(conn);
                if depth > 0 {
                    tracing::warn!(
                        depth,
                        "a database connection came back inside a transaction; closed it (rolled back)"
                    );
                }
                Ok(depth == 0)
            })
        });
        let pool = match backend {
            // One connection: SQLite has a single writer anyway, and this rules out
            // "database is locked" between our own connections. Transactions are short
            // (no blob IO inside one), so it is not the bottleneck.
            Backend::Sqlite => {
                opts.max_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            // Deleted and overwritten content is zeroed in its page, so an
                            // erased key or sealed value does not stay in free space.
                            conn.execute("PRAGMA secure_delete = ON").await?;
                            Ok(())
                        })
                    })
                    .connect(database_url)
                    .await?
            }
            Backend::Postgres => opts.max_connections(16).connect(database_url).await?,
        };
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The newest migration this code knows.
    pub fn code_schema_version() -> i64 {
        schema::MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0)
    }

    /// Apply pending migrations; returns how many ran. Refuses (`SchemaNewer`) when the
    /// database already holds a migration newer than this code: during a rolling upgrade
    /// the new version migrates, and an old one must not touch the schema again.
    pub async fn migrate(&self) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS kycd_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        if self.backend == Backend::Postgres {
            // Two instances starting together must not both migrate.
            sqlx::query("SELECT pg_advisory_xact_lock(7310475001)").execute(&mut *tx).await?;
        }
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM kycd_migrations")
            .fetch_one(&mut *tx)
            .await?;
        let code = Self::code_schema_version();
        if let Some(db) = newest.filter(|v| *v > code) {
            return Err(StoreError::SchemaNewer { db, code });
        }
        let mut ran = 0;
        for (version, name, statements) in schema::MIGRATIONS {
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM kycd_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_some() {
                continue;
            }
            for s in *statements {
                sqlx::query(s).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO kycd_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(*version)
                .bind(*name)
                .bind(ms(Utc::now()))
                .execute(&mut *tx)
                .await?;
            ran += 1;
        }
        tx.commit().await?;
        Ok(ran)
    }

    /// Begin a transaction. Safe to cancel at any point: the caller either gets the
    /// transaction (which rolls back if dropped uncommitted) or none was left open.
    pub(crate) async fn begin_raw(&self) -> Result<Transaction<'static, Any>> {
        let (pool, backend) = (self.pool.clone(), self.backend);
        // Begun in a task of its own, which runs to the end even when the caller is
        // dropped (a client hung up): sqlx's SQLite driver has an await point after
        // `BEGIN IMMEDIATE` ran and before it hands out the `Transaction` that would roll
        // it back, so a caller cancelled there left our single connection inside a
        // transaction holding the write lock, and every later write failed. Now an
        // unwanted transaction is dropped (rolled back) inside the task.
        let begun = tokio::spawn(async move {
            match backend {
                // IMMEDIATE takes SQLite's write lock at the start, waiting up to busy_timeout.
                // A deferred transaction that reads and then writes fails at once with
                // SQLITE_BUSY when another process (a second instance on the same file)
                // committed in between: the busy timeout cannot help a lock upgrade.
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
                Backend::Postgres => pool.begin().await,
            }
        });
        Ok(begun.await.map_err(|e| StoreError::Task(e.to_string()))??)
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
        sqlx::query("ANALYZE").execute(&self.db.pool).await?;
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
            sqlx::query(&format!("SET LOCAL statement_timeout = {}", within.as_millis().max(1)))
                .execute(&mut *tx.tx)
                .await?;
        }
        sqlx::query("INSERT INTO readiness_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at")
            .bind(ms(now))
            .execute(&mut *tx.tx)
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
        .fetch_all(&self.db.pool)
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
        let pool = &self.db.pool;
        (pool.size(), pool.num_idle(), pool.options().get_max_connections())
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
                let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&self.db.pool).await?;
                let busy: i64 = row.try_get(0)?;
                if busy != 0 {
                    return Err(StoreError::Busy("another process reads the SQLite file; the WAL was not truncated"));
                }
            }
            Backend::Postgres => {
                let mut conn = self.db.pool.acquire().await?;
                // Its session setting must not go back to the pool with it.
                conn.close_on_drop();
                sqlx::query("SET lock_timeout = '5s'").execute(&mut *conn).await?;
                wait_for_older_transactions(&mut conn).await?;
                for table in ERASURE_TABLES {
                    sqlx::query(&format!("VACUUM FULL {table}")).execute(&mut *conn).await?;
                }
            }
        }
        Ok(())
    }

    // ----- blobs -------------------------------------------------------------------

    fn blob_path(tenant: &kycd_core::TenantId, file: &kycd_core::FileId) -> String {
        format!("tenants/{tenant}/files/{file}")
    }

    /// Encrypt and write a blob; returns (blob key, wrapped data key) to record in SQL.
    /// Written *before* its row: a crash in between leaves an orphan the sweeper removes.
    pub async fn put_blob(&self, tenant: &kycd_core::TenantId, file: &kycd_core::FileId, plain: &[u8]) -> Result<(String, String)> {
        let dk = DataKey::generate();
        let sealed = dk.seal_chunked(file.as_str(), plain)?;
        let key = Self::blob_path(tenant, file);
        self.blobs.put(&BlobPath::from(key.as_str()), sealed.into()).await?;
        Ok((key, self.tenant_keys(tenant).wrap_data_key(file.as_str(), &dk)))
    }

    pub async fn get_blob(&self, tenant: &kycd_core::TenantId, file: &kycd_core::FileId, blob_key: &str, wrapped: &str) -> Result<Vec<u8>> {
        let dk = self.tenant_keys(tenant).unwrap_data_key(file.as_str(), wrapped)?;
        let sealed = self.blobs.get(&BlobPath::from(blob_key)).await?.bytes().await?;
        Ok(dk.open_blob(file.as_str(), &sealed)?)
    }

    /// A stored object's bytes as a stream. A file of the local blob folder is read in pieces
    /// of [`FILE_READ_PIECE`] on the blocking pool: object_store's own stream reads it 8 KiB
    /// per blocking task, and a 3.2 MB download then spent most of its CPU handing those
    /// tasks to threads and waking them (perf, 2026-12-07: docs/BENCHMARKS.md).
    async fn object_stream(&self, path: &BlobPath) -> Result<futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>> {
        use futures::{StreamExt, TryStreamExt};
        use std::io::{Seek, SeekFrom};
        let got = self.blobs.get(path).await?;
        match got.payload {
            object_store::GetResultPayload::File(mut file, _) => {
                let range = got.range;
                file.seek(SeekFrom::Start(range.start)).map_err(|e| StoreError::Blob(io_error(e)))?;
                let file = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), range.end - range.start);
                Ok(tokio_util::io::ReaderStream::with_capacity(file, FILE_READ_PIECE)
                    .map_err(io_error)
                    .boxed())
            }
            object_store::GetResultPayload::Stream(s) => Ok(s),
        }
    }

    /// A blob's plaintext as a stream, decrypted one chunk at a time as it is read (a blob
    /// of the older single-piece format is read whole first). A chunk that fails to open
    /// ends the stream with an error after the chunks before it: the caller must not
    /// present what it got as the whole file.
    pub async fn get_blob_stream(
        &self,
        tenant: &kycd_core::TenantId,
        file: &kycd_core::FileId,
        blob_key: &str,
        wrapped: &str,
    ) -> Result<BlobStream> {
        use futures::StreamExt;
        let dk = self.tenant_keys(tenant).unwrap_data_key(file.as_str(), wrapped)?;
        let mut src = self.object_stream(&BlobPath::from(blob_key)).await?;
        let mut head = Vec::new();
        while head.len() < chunked::MAGIC.len() {
            match src.next().await {
                Some(piece) => head.extend_from_slice(&piece?),
                None => break,
            }
        }
        if !chunked::is_chunked(&head) {
            while let Some(piece) = src.next().await {
                head.extend_from_slice(&piece?);
            }
            let plain = dk.open(file.as_str(), &head)?;
            return Ok(futures::stream::once(async move { Ok(bytes::Bytes::from(plain)) }).boxed());
        }
        let mut opener = dk.chunk_opener(file.as_str())?;
        let first = opener.push(&head)?;
        struct State {
            src: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
            opener: Option<chunked::Opener>,
            ready: Vec<u8>,
        }
        let start = State {
            src,
            opener: Some(opener),
            ready: first,
        };
        Ok(futures::stream::unfold(start, |mut st| async move {
            loop {
                if !st.ready.is_empty() {
                    let out = bytes::Bytes::from(std::mem::take(&mut st.ready));
                    return Some((Ok(out), st));
                }
                let opener = st.opener.as_mut()?;
                let step = match st.src.next().await {
                    Some(Ok(piece)) => opener.push(&piece).map_err(StoreError::from),
                    Some(Err(e)) => Err(StoreError::from(e)),
                    None => st
                        .opener
                        .take()
                        .map_or(Ok(Vec::new()), chunked::Opener::finish)
                        .map_err(StoreError::from),
                };
                match step {
                    Ok(plain) => st.ready = plain,
                    Err(e) => {
                        st.opener = None;
                        return Some((Err(e), st));
                    }
                }
            }
        })
        .boxed())
    }

    /// Whether the blob store takes a write and gives it back: a small object of this
    /// instance's (no personal data) written, read and removed.
    pub async fn probe_blobs(&self) -> Result<()> {
        const PROBE: &[u8] = b"kycd readiness probe";
        let key = BlobPath::from(format!("readiness/{}", self.instance).as_str());
        self.blobs.put(&key, PROBE.to_vec().into()).await?;
        let back = self.blobs.get(&key).await?.bytes().await?;
        self.blobs.delete(&key).await?;
        if back.as_ref() != PROBE {
            return Err(StoreError::Corrupt("the blob store gave back other bytes than were written".into()));
        }
        Ok(())
    }

    pub async fn delete_blob(&self, blob_key: &str) -> Result<()> {
        match self.blobs.delete(&BlobPath::from(blob_key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove blobs that no capture row points to and that are older than `grace`
    /// (an upload in flight has written its blob but not yet its row). Returns the count.
    pub async fn sweep_orphan_blobs(&self, now: DateTime<Utc>, grace: chrono::Duration) -> Result<usize> {
        let listed: Vec<_> = self.blobs.list(Some(&BlobPath::from("tenants"))).try_collect().await?;
        let mut removed = 0;
        for meta in listed {
            if meta.last_modified > now - grace {
                continue;
            }
            let key = meta.location.to_string();
            let referenced: Option<String> = sqlx::query_scalar("SELECT id FROM captures WHERE blob_key = $1")
                .bind(&key)
                .fetch_optional(&self.db.pool)
                .await?;
            if referenced.is_none() {
                self.delete_blob(&key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Remove the partial files a crash in the middle of a blob write leaves in a local blob
/// folder (`object_store` writes `…/file_…#1` and renames it into place; its listing does
/// not show them, so [`Store::sweep_orphan_blobs`] cannot see them), when older than
/// `cutoff` (a write in flight is younger). Returns how many it removed.
pub fn sweep_partial_local_blobs(dir: &std::path::Path, cutoff: std::time::SystemTime) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let name = entry.file_name();
            let partial = name
                .to_str()
                .and_then(|n| n.rsplit_once('#'))
                .is_some_and(|(_, suffix)| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()));
            if kind.is_file() && partial && entry.metadata()?.modified()? <= cutoff {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
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
    pub(crate) tx: Transaction<'static, Any>,
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

#[cfg(test)]
mod blob_tests {
    use super::*;
    use futures::StreamExt;
    use kycd_core::{FileId, TenantId};

    async fn store() -> Store {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.migrate().await.unwrap();
        db.unlock(MasterKey::generate().0, Arc::new(object_store::memory::InMemory::new()))
            .await
            .unwrap()
    }

    /// The stream's pieces, and whether it ended in an error.
    async fn drain(s: BlobStream) -> (Vec<u8>, Option<StoreError>) {
        let mut s = s;
        let mut got = Vec::new();
        while let Some(piece) = s.next().await {
            match piece {
                Ok(b) => got.extend_from_slice(&b),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    #[tokio::test]
    async fn new_and_old_blobs_stream_back_and_a_cut_blob_ends_in_an_error() {
        let store = store().await;
        let tenant = TenantId::generate();
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();

        // A new blob: chunked, streamed in more than one piece.
        let file = FileId::generate();
        let (key, wrapped) = store.put_blob(&tenant, &file, &plain).await.unwrap();
        let mut s = store.get_blob_stream(&tenant, &file, &key, &wrapped).await.unwrap();
        let mut pieces = 0;
        let mut got = Vec::new();
        while let Some(piece) = s.next().await {
            got.extend_from_slice(&piece.unwrap());
            pieces += 1;
        }
        assert_eq!(got, plain);
        assert!(pieces > 1, "decrypted piece by piece, not whole: {pieces} piece(s)");
        assert_eq!(store.get_blob(&tenant, &file, &key, &wrapped).await.unwrap(), plain);

        // An older blob (one AES-GCM piece, written before the chunked format).
        let old_file = FileId::generate();
        let dk = DataKey::generate();
        let old_key = Store::blob_path(&tenant, &old_file);
        store
            .blobs
            .put(&BlobPath::from(old_key.as_str()), dk.seal(old_file.as_str(), &plain).into())
            .await
            .unwrap();
        let old_wrapped = store.tenant_keys(&tenant).wrap_data_key(old_file.as_str(), &dk);
        let s = store.get_blob_stream(&tenant, &old_file, &old_key, &old_wrapped).await.unwrap();
        let (got, err) = drain(s).await;
        assert!(err.is_none() && got == plain, "an older blob stays readable");
        assert_eq!(store.get_blob(&tenant, &old_file, &old_key, &old_wrapped).await.unwrap(), plain);

        // The new blob cut at a chunk boundary: the good chunks, then an error, never a
        // clean end.
        let sealed = store.blobs.get(&BlobPath::from(key.as_str())).await.unwrap().bytes().await.unwrap();
        let cut = chunked::HEADER_LEN + 2 * (chunked::DEFAULT_CHUNK as usize + chunked::TAG_LEN);
        store
            .blobs
            .put(&BlobPath::from(key.as_str()), sealed.slice(..cut).into())
            .await
            .unwrap();
        let s = store.get_blob_stream(&tenant, &file, &key, &wrapped).await.unwrap();
        let (got, err) = drain(s).await;
        assert!(matches!(err, Some(StoreError::Crypto(_))), "a cut blob ends in an error: {err:?}");
        assert!(got.len() < plain.len() && plain.starts_with(&got));
        assert!(store.get_blob(&tenant, &file, &key, &wrapped).await.is_err());
    }
}
