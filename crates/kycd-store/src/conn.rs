//! Where the store's database connections come from, and its transactions.
//!
//! PostgreSQL: sqlx's pool. SQLite: one connection, opened at start and lent under a lock
//! for each use. Not a pool of one because sqlx's pool pings every connection that comes
//! back (a round trip to SQLite's connection thread, in a task of its own, while the next
//! caller waits): two per download, with nothing to find, since an in-process SQLite
//! connection is never dropped by a server (docs/BENCHMARKS.md, 2026-12-07, sixth
//! measure). What the ping was for — a connection left inside a transaction by a
//! cancelled caller — [`DbTx`] rules out itself: it rolls back whatever it may have begun.
//!
//! SQLite's transactions are plain `BEGIN IMMEDIATE` / `COMMIT` statements, not sqlx's
//! transaction manager, whose begin and commit each wait for the caller to acknowledge
//! the answer (a rendezvous) and whose custom begin hands the connection over and back
//! to check it. Nor is `BEGIN IMMEDIATE` sent on its own: it goes ahead of the
//! transaction's first statement, in the same batch (nothing ran before that statement,
//! so the transaction is the same): a transaction costs no round trip of its own to
//! begin, and none to commit where its last statements and `COMMIT` go as one batch
//! ([`DbTx::commit_batch`]). A transaction that must nest (the migrations, which sqlx runs
//! in savepoints) still uses sqlx's manager.

use crate::repo::{Binds, Statement, statement};
use crate::{Backend, Result, StoreError};
use futures::TryStreamExt;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Either, Execute, Executor, TransactionManager};
use std::borrow::Cow;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

type Manager = <Any as sqlx::Database>::TransactionManager;

/// As long as a caller waits for the SQLite connection before it gives up, like sqlx's
/// pool (its `acquire_timeout`): a caller that never gets it answers an error instead of
/// hanging.
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub(crate) enum Conns {
    Pool(AnyPool),
    Held(Arc<Mutex<Held>>),
}

/// The SQLite connection, and whether a plain transaction may have been left open on it
/// (its caller dropped before it committed or rolled back): the next use rolls it back.
pub(crate) struct Held {
    conn: AnyConnection,
    left_open: bool,
}

/// A connection for the length of one use; goes back when dropped.
pub(crate) enum Conn {
    Pooled(PoolConnection<Any>),
    Held(OwnedMutexGuard<Held>),
}

impl Deref for Conn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Held(c) => &c.conn,
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Held(c) => &mut c.conn,
        }
    }
}

impl Conns {
    pub(crate) async fn connect(backend: Backend, database_url: &str) -> Result<Self> {
        Ok(match backend {
            Backend::Sqlite => {
                // One connection: SQLite has a single writer anyway, and this rules out
                // "database is locked" between our own connections. Transactions are short
                // (no blob IO inside one), so it is not the bottleneck.
                let mut conn = AnyConnection::connect(database_url).await?;
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA foreign_keys = ON",
                    "PRAGMA busy_timeout = 10000",
                    // Deleted and overwritten content is zeroed in its page, so an erased
                    // key or sealed value does not stay in free space.
                    "PRAGMA secure_delete = ON",
                ] {
                    sqlx::query(pragma).execute(&mut conn).await?;
                }
                Conns::Held(Arc::new(Mutex::new(Held { conn, left_open: false })))
            }
            Backend::Postgres => {
                // Whatever happened to the code that held a connection (a bug), the pool
                // never hands out one still inside a transaction: it would hold row locks
                // for good. It is closed (which rolls it back) instead of going back.
                let opts = AnyPoolOptions::new().max_connections(16).after_release(|conn, _| {
                    Box::pin(async move {
                        let depth = Manager::get_transaction_depth(conn);
                        if depth > 0 {
                            tracing::warn!(
                                depth,
                                "a database connection came back inside a transaction; closed it (rolled back)"
                            );
                        }
                        Ok(depth == 0)
                    })
                });
                Conns::Pool(opts.connect(database_url).await?)
            }
        })
    }

    pub(crate) async fn acquire(&self) -> Result<Conn> {
        match self {
            Conns::Pool(pool) => Ok(Conn::Pooled(pool.acquire().await?)),
            Conns::Held(held) => {
                let mut held = tokio::time::timeout(WAIT_FOR_CONNECTION, held.clone().lock_owned())
                    .await
                    .map_err(|_| StoreError::Db(sqlx::Error::PoolTimedOut))?;
                if held.left_open {
                    // Fails with "no transaction is active" when its BEGIN never ran: fine.
                    let _ = sqlx::query("ROLLBACK").execute(&mut held.conn).await;
                    held.left_open = false;
                }
                Ok(Conn::Held(held))
            }
        }
    }

    /// (connections open, of them idle, the most it opens).
    pub(crate) fn use_now(&self) -> (u32, usize, u32) {
        match self {
            Conns::Pool(pool) => (pool.size(), pool.num_idle(), pool.options().get_max_connections()),
            Conns::Held(conn) => (1, usize::from(conn.try_lock().is_ok()), 1),
        }
    }

    /// Begin a transaction. Safe to cancel at any point: the caller either gets the
    /// transaction (which rolls back if dropped uncommitted) or none is left open.
    pub(crate) async fn begin(&self) -> Result<DbTx> {
        match self {
            // IMMEDIATE takes SQLite's write lock at the start (the BEGIN goes out with
            // the transaction's first statement, `DbTx::send`), waiting up to
            // busy_timeout. A deferred transaction that reads and then writes fails at
            // once with SQLITE_BUSY when another process (a second instance on the same
            // file) committed in between: the busy timeout cannot help a lock upgrade.
            Conns::Held(_) => Ok(DbTx {
                conn: self.acquire().await?,
                kind: Kind::Plain { begun: false },
                open: true,
            }),
            Conns::Pool(_) => self.begin_nestable().await,
        }
    }

    /// Begin a transaction in which sqlx's `Connection::begin` nests as a savepoint (the
    /// migrations). Safe to cancel like [`Conns::begin`].
    pub(crate) async fn begin_nestable(&self) -> Result<DbTx> {
        match self {
            Conns::Held(_) => {
                // Marked open before BEGIN is sent: a caller dropped anywhere in `begin`
                // (after SQLite's thread ran BEGIN, before sqlx returned) still queues
                // the rollback. SQLite's thread runs commands in order, and a rollback
                // with no transaction open does nothing.
                let mut tx = DbTx {
                    conn: self.acquire().await?,
                    kind: Kind::Managed,
                    open: true,
                };
                Manager::begin(&mut tx.conn, Some("BEGIN IMMEDIATE".into())).await?;
                Ok(tx)
            }
            // PostgreSQL counts a transaction as open only once BEGIN's answer came
            // back: begun in a task of its own, which runs to the end even when the
            // caller is dropped, so an unwanted transaction is rolled back there.
            Conns::Pool(pool) => {
                let pool = pool.clone();
                let begun = tokio::spawn(async move {
                    let mut conn = Conn::Pooled(pool.acquire().await?);
                    Manager::begin(&mut conn, None).await?;
                    Ok::<_, StoreError>(DbTx {
                        conn,
                        kind: Kind::Managed,
                        open: true,
                    })
                });
                begun.await.map_err(|e| StoreError::Task(e.to_string()))?
            }
        }
    }
}

/// Which rows [`DbTx::run`] keeps.
#[derive(PartialEq)]
enum Rows {
    All,
    First,
}

/// How a [`DbTx`] began, so it ends the same way.
enum Kind {
    /// sqlx's transaction manager (it counts the depth, nests savepoints).
    Managed,
    /// `BEGIN IMMEDIATE` on the held SQLite connection; `begun` once it went out, ahead
    /// of the first statement.
    Plain { begun: bool },
}

/// A transaction on a connection of [`Conns`]: rolled back when dropped uncommitted, as
/// sqlx's own `Transaction`, which cannot hold the lent SQLite connection. Its statements
/// go through its methods, never the connection itself, so that a plain transaction's
/// `BEGIN` goes out with the first of them.
pub(crate) struct DbTx {
    conn: Conn,
    kind: Kind,
    open: bool,
}

impl DbTx {
    pub(crate) async fn commit(self) -> Result<()> {
        self.end(true).await
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        self.end(false).await
    }

    async fn end(mut self, commit: bool) -> Result<()> {
        match (&self.kind, commit) {
            (Kind::Managed, true) => Manager::commit(&mut self.conn).await?,
            (Kind::Managed, false) => Manager::rollback(&mut self.conn).await?,
            // Nothing went out: nothing to end.
            (Kind::Plain { begun: false }, _) => {}
            (Kind::Plain { begun: true }, _) => {
                let sql = if commit { "COMMIT" } else { "ROLLBACK" };
                sqlx::query(sql).execute(&mut *self.conn).await?;
                self.plain_ended();
            }
        }
        self.open = false;
        Ok(())
    }

    /// Whether this transaction can end with [`DbTx::commit_batch`] (SQLite's).
    pub(crate) fn commits_in_batch(&self) -> bool {
        matches!(self.kind, Kind::Plain { .. })
    }

    /// A batch of statements whose last is `COMMIT` run in one round trip; the rows they
    /// return. A statement that fails stops the batch before `COMMIT`, and the
    /// transaction is rolled back as when dropped. Only where [`DbTx::commits_in_batch`].
    pub(crate) async fn commit_batch<'q>(mut self, batch: &'q str, binds: impl Binds<'q>) -> Result<Vec<AnyRow>> {
        debug_assert!(self.commits_in_batch() && batch.trim_end().ends_with("COMMIT"));
        let rows = self.fetch_all(statement(batch, binds)).await?;
        self.plain_ended();
        self.open = false;
        Ok(rows)
    }

    /// Run a statement in this transaction; how many rows it changed.
    pub(crate) async fn rows_affected(&mut self, q: Statement<'_>) -> Result<u64> {
        Ok(self.run(q, Rows::All).await?.1)
    }

    /// Run a statement in this transaction.
    pub(crate) async fn execute(&mut self, q: Statement<'_>) -> Result<()> {
        self.run(q, Rows::All).await.map(drop)
    }

    /// The row a query finds, if any.
    pub(crate) async fn fetch_optional(&mut self, q: Statement<'_>) -> Result<Option<AnyRow>> {
        Ok(self.run(q, Rows::First).await?.0.pop())
    }

    /// The one row a query must find.
    pub(crate) async fn fetch_one(&mut self, q: Statement<'_>) -> Result<AnyRow> {
        self.fetch_optional(q).await?.ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Every row a query finds.
    pub(crate) async fn fetch_all(&mut self, q: Statement<'_>) -> Result<Vec<AnyRow>> {
        Ok(self.run(q, Rows::All).await?.0)
    }

    /// Run `q`: the rows it returns (all, or the first only), and how many rows its
    /// statements changed. Not sqlx's `fetch_optional` and `execute`, which take a batch's
    /// first result for its answer (here the BEGIN's, which has no row) and add up a
    /// batch's change counts (SQLite reports the count of the last statement that changed
    /// rows for one that changes none, such as BEGIN).
    async fn run(&mut self, q: Statement<'_>, wanted: Rows) -> Result<(Vec<AnyRow>, u64)> {
        let (sql, args, begin) = self.send(q)?;
        let mut results = (&mut *self.conn).fetch_many(sqlx::query_with(&sql, args));
        let (mut rows, mut changed, mut skip) = (Vec::new(), 0, usize::from(begin));
        while let Some(result) = results.try_next().await? {
            match result {
                Either::Left(_) if skip > 0 => skip -= 1,
                Either::Left(done) => changed += done.rows_affected(),
                Either::Right(row) => {
                    rows.push(row);
                    if wanted == Rows::First {
                        break;
                    }
                }
            }
        }
        Ok((rows, changed))
    }

    /// `q`'s SQL and values as they go out, and whether `BEGIN IMMEDIATE` goes ahead of
    /// it: a plain transaction's first statement carries it. The connection is marked
    /// open before it is sent (see [`DbTx`]'s `Drop`).
    fn send<'q>(&mut self, mut q: Statement<'q>) -> Result<(Cow<'q, str>, sqlx::any::AnyArguments<'q>, bool)> {
        let args = q.take_arguments().map_err(sqlx::Error::Encode)?.unwrap_or_default();
        let sql = q.sql();
        match &mut self.kind {
            Kind::Plain { begun } if !*begun => *begun = true,
            _ => return Ok((Cow::Borrowed(sql), args, false)),
        }
        if let Conn::Held(held) = &mut self.conn {
            held.left_open = true;
        }
        Ok((Cow::Owned(format!("BEGIN IMMEDIATE;\n{sql}")), args, true))
    }

    /// The connection itself, for a transaction from [`Conns::begin_nestable`] (the
    /// migrations), whose BEGIN went out at once.
    pub(crate) fn nestable_conn(&mut self) -> &mut AnyConnection {
        debug_assert!(matches!(self.kind, Kind::Managed));
        &mut self.conn
    }

    /// The name of the database the transaction is on ("SQLite", "PostgreSQL").
    pub(crate) fn backend_name(&self) -> &str {
        self.conn.backend_name()
    }

    fn plain_ended(&mut self) {
        if let Conn::Held(held) = &mut self.conn {
            held.left_open = false;
        }
    }
}

impl Drop for DbTx {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        match &self.kind {
            // Queued, not awaited: SQLite's thread runs it before the next caller's
            // command; a pooled PostgreSQL connection sends it before it is used again.
            Kind::Managed => Manager::start_rollback(&mut self.conn),
            // The connection goes back marked `left_open`; whoever takes it next rolls
            // back first. A task takes it at once, so SQLite's write lock is not held
            // until the next request comes (another process would wait for it).
            // Nothing went out: nothing to roll back.
            Kind::Plain { begun: false } => {}
            Kind::Plain { begun: true } => {
                if let (Conn::Held(held), Ok(runtime)) = (&self.conn, tokio::runtime::Handle::try_current()) {
                    let conns = Conns::Held(OwnedMutexGuard::mutex(held).clone());
                    runtime.spawn(async move { drop(conns.acquire().await) });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    async fn sum(conns: &Conns) -> i64 {
        let mut tx = conns.begin().await.unwrap();
        let row = tx.fetch_one(sqlx::query("SELECT SUM(n) AS s FROM t")).await.unwrap();
        tx.commit().await.unwrap();
        row.try_get("s").unwrap()
    }

    /// The BEGIN that goes out ahead of a transaction's first statement: the statement's
    /// changes are its own (SQLite reports the previous statement's count for BEGIN; a
    /// compare-and-set that matched nothing must not look as if it matched), and the
    /// statement is inside the transaction (dropped uncommitted, it is undone).
    #[tokio::test]
    async fn the_first_statement_carries_begin_and_counts_only_its_own_changes() {
        sqlx::any::install_default_drivers();
        let conns = Conns::connect(Backend::Sqlite, "sqlite::memory:").await.unwrap();
        let mut tx = conns.begin().await.unwrap();
        tx.execute(sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
            .await
            .unwrap();
        let inserted = tx.rows_affected(sqlx::query("INSERT INTO t VALUES (1, 0), (2, 0), (3, 0)")).await;
        assert_eq!(inserted.unwrap(), 3);
        tx.commit().await.unwrap();

        let mut tx = conns.begin().await.unwrap();
        let matched = tx.rows_affected(sqlx::query("UPDATE t SET n = 1 WHERE n = 5")).await;
        assert_eq!(matched.unwrap(), 0, "a compare-and-set that matched nothing");
        tx.commit().await.unwrap();

        let mut tx = conns.begin().await.unwrap();
        let matched = tx.rows_affected(sqlx::query("UPDATE t SET n = 7 WHERE id = 1")).await;
        assert_eq!(matched.unwrap(), 1);
        drop(tx);
        assert_eq!(sum(&conns).await, 0, "the first statement of a dropped transaction was undone");

        let mut tx = conns.begin().await.unwrap();
        let row = tx
            .fetch_optional(sqlx::query("UPDATE t SET n = 2 WHERE id = 2 RETURNING n"))
            .await
            .unwrap();
        assert_eq!(row.unwrap().try_get::<i64, _>("n").unwrap(), 2);
        tx.rollback().await.unwrap();
        assert_eq!(sum(&conns).await, 0, "rolled back");

        // A transaction that sent nothing ends without a word to SQLite, dropped or not.
        conns.begin().await.unwrap().commit().await.unwrap();
        drop(conns.begin().await.unwrap());
        let mut tx = conns.begin().await.unwrap();
        tx.execute(sqlx::query("UPDATE t SET n = 3 WHERE id = 3")).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(sum(&conns).await, 3);
    }
}
