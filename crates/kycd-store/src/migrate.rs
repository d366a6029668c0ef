//! Migrations: one SQL file per step in `migrations/`, run on SQLite and PostgreSQL alike:
//! the statements are portable (only TEXT and BIGINT columns, so the same queries run on
//! both through sqlx's Any driver). One folder rather than one per database, which would
//! hold the same files twice; a step that must differ per database would get per-database
//! folders in build.rs.
//! sqlx's migrator applies them and records each in `_sqlx_migrations` with its file's
//! checksum, so a step edited after it ran is refused instead of silently diverging.
//!
//! Around sqlx's runner, kycd keeps three things of its own runner before it:
//! - the refusal of a database a newer kycd migrated ([`StoreError::SchemaNewer`]);
//! - the bridge: a database migrated by that runner (steps recorded in `kycd_migrations`)
//!   gets those steps recorded in sqlx's table with their files' checksums, so none runs
//!   twice;
//! - `kycd_migrations` itself, kept up to date after every run: an older kycd reads only
//!   that table, and so still refuses a schema newer than itself instead of re-running
//!   step 1 against existing tables (and `kycd backup` reads the version there).

use crate::{Backend, Database, Result, StoreError, ms};
use chrono::Utc;
use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// Two instances starting together on one PostgreSQL database: the first migrates, the
/// other waits and then finds nothing to do. (The key of kycd's earlier runner, so an
/// older and a newer kycd starting together wait for each other too.)
const PG_MIGRATION_LOCK: i64 = 7_310_475_001;

/// The steps embedded for one database: (version, description, SQL).
fn steps(backend: Backend) -> &'static [(i64, &'static str, &'static str)] {
    match backend {
        Backend::Sqlite | Backend::Postgres => embedded::MIGRATIONS,
    }
}

/// The embedded files as a source for sqlx's [`Migrator`] (which computes each checksum).
#[derive(Debug)]
struct Embedded(Backend);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(steps(self.0)
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Every statement of the SQLite steps, in order, without comments (for the tests that
/// read the schema: the sealed-column catalogue).
#[cfg(test)]
pub(crate) fn statements() -> Vec<String> {
    let mut out = Vec::new();
    for (_, _, sql) in steps(Backend::Sqlite) {
        let code: Vec<&str> = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
        let code = code.join("\n");
        out.extend(code.split(';').map(str::trim).filter(|st| !st.is_empty()).map(str::to_owned));
    }
    out
}

/// The versions recorded in `table`, ascending.
async fn recorded(conn: &mut sqlx::AnyConnection, table: &str) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(&format!("SELECT version FROM {table} ORDER BY version"))
        .fetch_all(conn)
        .await?)
}

impl Database {
    /// The newest migration this code knows.
    pub fn code_schema_version() -> i64 {
        steps(Backend::Sqlite).iter().map(|m| m.0).max().unwrap_or(0)
    }

    /// Apply pending migrations; returns how many ran. Refuses (`SchemaNewer`) when the
    /// database already holds a migration newer than this code: during a rolling upgrade
    /// the new version migrates, and an old one must not touch the schema again.
    ///
    /// The whole upgrade is one transaction, as with kycd's earlier runner: sqlx applies
    /// each step in a savepoint of it, so a failed step leaves the database as it was,
    /// and instances starting together wait for the first (SQLite: `BEGIN IMMEDIATE`
    /// takes the write lock; PostgreSQL: a transaction-scoped advisory lock, released
    /// whatever happens, where sqlx's own lock is held by the session and outlives a
    /// failed step on a pooled connection).
    pub async fn migrate(&self) -> Result<usize> {
        let mut migrator = Migrator::new(Embedded(self.backend)).await?;
        migrator.set_locking(false);
        let mut tx = self.begin_nestable().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(tx.nestable_conn())
                .await?;
        }
        tx.nestable_conn().ensure_migrations_table().await?;
        refuse_newer_and_bridge(tx.nestable_conn(), &migrator).await?;
        let before = recorded(tx.nestable_conn(), "_sqlx_migrations").await?.len();
        let code = Self::code_schema_version();
        // `run_direct` is `run` on a connection already in hand; `run` itself (generic over
        // `Acquire`) makes this future fail rustc's "not general enough" check where it is
        // spawned, as sqlx's own comment on `run_direct` says.
        migrator.run_direct(tx.nestable_conn()).await.map_err(|e| match e {
            // Unreachable after the check above unless a step vanished from the files.
            MigrateError::VersionMissing(db) => StoreError::SchemaNewer { db, code },
            e => e.into(),
        })?;
        let after = recorded(tx.nestable_conn(), "_sqlx_migrations").await?.len();
        sqlx::query(
            "INSERT INTO kycd_migrations (version, name, applied_at)
             SELECT version, description, $1 FROM _sqlx_migrations
             WHERE version NOT IN (SELECT version FROM kycd_migrations)",
        )
        .bind(ms(Utc::now()))
        .execute(tx.nestable_conn())
        .await?;
        tx.commit().await?;
        Ok(after.saturating_sub(before))
    }
}

/// Refuse a database with a step this code does not know (in either table), and record in
/// sqlx's table, with this code's checksums, the steps kycd's earlier runner applied.
async fn refuse_newer_and_bridge(conn: &mut sqlx::AnyConnection, known: &Migrator) -> Result<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS kycd_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let old = recorded(conn, "kycd_migrations").await?;
    let new = recorded(conn, "_sqlx_migrations").await?;
    if let Some(db) = old.iter().chain(&new).copied().filter(|v| !known.version_exists(*v)).max() {
        return Err(StoreError::SchemaNewer {
            db,
            code: Database::code_schema_version(),
        });
    }
    for m in known.iter().filter(|m| old.contains(&m.version) && !new.contains(&m.version)) {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES ($1, $2, TRUE, $3, -1)",
        )
        .bind(m.version)
        .bind(m.description.as_ref())
        .bind(m.checksum.as_ref())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parallel work appends migrations; keep them unique and in the order they apply.
    #[test]
    fn migration_versions_are_unique_and_ascending() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let v: Vec<i64> = steps(backend).iter().map(|m| m.0).collect();
            assert!(v.windows(2).all(|w| w[0] < w[1]), "{v:?}");
        }
    }

    /// Both databases go through the same steps (a step's SQL may differ, its number and
    /// name not), so a schema version means the same tables on either.
    #[test]
    fn both_databases_have_the_same_steps() {
        let names = |b| steps(b).iter().map(|m| (m.0, m.1)).collect::<Vec<_>>();
        assert_eq!(names(Backend::Sqlite), names(Backend::Postgres));
    }
}
