//! kycd's persistence. Metadata in SQL (SQLite by default, PostgreSQL for several
//! instances, same code), blobs through `object_store`, always envelope-encrypted.
//!
//! Every read of tenant data takes a `TenantId` and filters on it in SQL: there is no
//! second path to a row. The only lookups without a tenant are by the hash of a secret
//! the caller holds (API key, start token), which is how the tenant is found.

pub mod crypto;
mod repo;
mod repo_callbacks;
mod repo_capture;
mod repo_console;
mod repo_dialect;
mod repo_features;
mod repo_fingerprints;
mod repo_lifecycle;
mod repo_senders;
mod repo_webhooks;
mod schema;

pub use crypto::{CryptoError, DataKey, MasterKey, secret_hash};
pub use repo::*;
pub use repo_callbacks::*;
pub use repo_capture::*;
pub use repo_console::*;
pub use repo_dialect::*;
pub use repo_fingerprints::*;
pub use repo_lifecycle::*;
pub use repo_senders::*;
pub use repo_webhooks::*;

use chrono::{DateTime, TimeZone, Utc};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as BlobPath;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Transaction};
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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct StoreConfig {
    pub database_url: String,
    pub blobs: Arc<dyn ObjectStore>,
    pub master_key: MasterKey,
}

pub struct Store {
    pool: AnyPool,
    backend: Backend,
    blobs: Arc<dyn ObjectStore>,
    master: MasterKey,
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_millis_opt(v)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {v}")))
}

impl Store {
    pub async fn open(cfg: StoreConfig) -> Result<Self> {
        install_default_drivers();
        let backend = if cfg.database_url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if cfg.database_url.starts_with("postgres://") || cfg.database_url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::BadUrl(cfg.database_url));
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
                            Ok(())
                        })
                    })
                    .connect(&cfg.database_url)
                    .await?
            }
            Backend::Postgres => opts.max_connections(16).connect(&cfg.database_url).await?,
        };
        Ok(Self {
            pool,
            backend,
            blobs: cfg.blobs,
            master: cfg.master_key,
        })
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

    /// Refresh the planner's statistics. After a bulk load (`kycd seed`) they describe a
    /// far smaller table, and a cached generic plan for `WHERE tenant_id = $1 AND id = $2`
    /// may walk a tenant-wide index instead of the primary key (measured: 130 rows/s
    /// seeding instead of 2 000).
    pub async fn analyze(&self) -> Result<()> {
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }

    /// Whether the database takes writes: one small write transaction, as every use case
    /// begins them (a `SELECT 1` answers even while the write lock is held for good).
    /// On PostgreSQL the server gives up after `within` itself, so a probe stuck behind a
    /// lock does not hold its pooled connection until the lock goes.
    pub async fn probe_write(&self, now: DateTime<Utc>, within: std::time::Duration) -> Result<()> {
        let mut tx = self.begin().await?;
        if self.backend == Backend::Postgres {
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

    /// Begin a transaction. Safe to cancel at any point: the caller either gets the
    /// transaction (which rolls back if dropped uncommitted) or none was left open.
    pub async fn begin(&self) -> Result<Tx<'_>> {
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
        let tx = begun.await.map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(Tx { tx, store: self })
    }

    pub fn tenant_keys(&self, tenant: &kycd_core::TenantId) -> crypto::TenantKeys {
        self.master.tenant_keys(tenant)
    }

    // ----- blobs -------------------------------------------------------------------

    fn blob_path(tenant: &kycd_core::TenantId, file: &kycd_core::FileId) -> String {
        format!("tenants/{tenant}/files/{file}")
    }

    /// Encrypt and write a blob; returns (blob key, wrapped data key) to record in SQL.
    /// Written *before* its row: a crash in between leaves an orphan the sweeper removes.
    pub async fn put_blob(&self, tenant: &kycd_core::TenantId, file: &kycd_core::FileId, plain: &[u8]) -> Result<(String, String)> {
        let dk = DataKey::generate();
        let sealed = dk.seal(file.as_str(), plain);
        let key = Self::blob_path(tenant, file);
        self.blobs.put(&BlobPath::from(key.as_str()), sealed.into()).await?;
        Ok((key, self.tenant_keys(tenant).wrap_data_key(file.as_str(), &dk)))
    }

    pub async fn get_blob(&self, tenant: &kycd_core::TenantId, file: &kycd_core::FileId, blob_key: &str, wrapped: &str) -> Result<Vec<u8>> {
        let dk = self.tenant_keys(tenant).unwrap_data_key(file.as_str(), wrapped)?;
        let sealed = self.blobs.get(&BlobPath::from(blob_key)).await?.bytes().await?;
        Ok(dk.open(file.as_str(), &sealed)?)
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
                .fetch_optional(&self.pool)
                .await?;
            if referenced.is_none() {
                self.delete_blob(&key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
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
