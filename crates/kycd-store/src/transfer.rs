//! Moving an installation to another database (`kycd migrate-store`): every table is
//! copied row for row into a PostgreSQL database migrated to the same schema, in
//! primary-key order and in batches that each commit, so that a run that stopped half-way
//! is resumed where the target's rows end; then the copy is checked (row counts, the key
//! check value, every tenant's audit head).

use crate::{Backend, Database, Result, StoreError};
use sqlx::any::AnyArguments;
use sqlx::{Arguments, Row};

/// The database's own bookkeeping: never copied (the target migrates itself, and the
/// source's instances and readiness probe say nothing about the target).
const NOT_COPIED: &[&str] = &["_sqlx_migrations", "kycd_migrations", "readiness_probe", "running_instances"];

/// PostgreSQL takes at most 65 535 bind parameters in one statement.
const MAX_PARAMS: usize = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColType {
    Int,
    Text,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<(String, ColType)>,
    /// Primary-key columns, in the key's order.
    key: Vec<String>,
}

impl Table {
    fn col_type(&self, name: &str) -> ColType {
        self.columns.iter().find(|(c, _)| c == name).map_or(ColType::Text, |(_, t)| *t)
    }

    /// The key's columns compared in byte order on both databases (SQLite compares text
    /// as bytes; PostgreSQL's default collation would not).
    fn key_exprs(&self, backend: Backend) -> Vec<String> {
        self.key
            .iter()
            .map(|k| match (backend, self.col_type(k)) {
                (Backend::Postgres, ColType::Text) => format!("{k} COLLATE \"C\""),
                _ => k.clone(),
            })
            .collect()
    }

    /// `ORDER BY` of the key, in byte order.
    fn key_order(&self, backend: Backend, desc: bool) -> String {
        self.key_exprs(backend)
            .iter()
            .map(|k| format!("{k}{}", if desc { " DESC" } else { "" }))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Int(Option<i64>),
    Text(Option<String>),
}

impl Val {
    fn read(row: &sqlx::any::AnyRow, i: usize, t: ColType) -> Result<Self> {
        Ok(match t {
            ColType::Int => Self::Int(row.try_get(i)?),
            ColType::Text => Self::Text(row.try_get(i)?),
        })
    }

    fn bind(&self, args: &mut AnyArguments<'_>) -> Result<()> {
        let r = match self {
            Self::Int(v) => args.add(*v),
            Self::Text(v) => args.add(v.clone()),
        };
        r.map_err(|e| StoreError::Corrupt(format!("cannot bind a value: {e}")))
    }
}

/// One table's copy.
#[derive(Debug, Clone)]
pub struct TableCount {
    pub table: String,
    pub source_rows: i64,
    pub target_rows: i64,
    /// Rows this run inserted.
    pub copied: u64,
}

/// What a copy did, and what the check found.
#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    pub tables: Vec<TableCount>,
    /// Tenants whose audit head (sequence number and hash) is the same in both.
    pub audit_heads_equal: usize,
}

impl CopyReport {
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|t| t.source_rows).sum()
    }

    pub fn copied(&self) -> u64 {
        self.tables.iter().map(|t| t.copied).sum()
    }
}

impl Database {
    /// The application tables of a PostgreSQL database, each after the tables it
    /// references, with their columns and primary keys.
    async fn pg_tables(&self) -> Result<Vec<Table>> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name::text",
        )
        .fetch_all(&mut *self.conn().await?)
        .await?;
        let mut tables = Vec::new();
        for name in names.into_iter().filter(|n| !NOT_COPIED.contains(&n.as_str())) {
            let cols = sqlx::query(
                "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            )
            .bind(&name)
            .fetch_all(&mut *self.conn().await?)
            .await?;
            let mut columns = Vec::new();
            for c in cols {
                let (col, ty): (String, String) = (c.try_get("name")?, c.try_get("type")?);
                let t = match ty.as_str() {
                    "bigint" | "integer" | "smallint" => ColType::Int,
                    "text" | "character varying" => ColType::Text,
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "column {name}.{col} has type {other}, which kycd's schema never uses: is this a kycd database?"
                        )));
                    }
                };
                columns.push((col, t));
            }
            let key: Vec<String> = sqlx::query_scalar(
                "SELECT a.attname::text FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                 WHERE i.indrelid = to_regclass($1) AND i.indisprimary
                 ORDER BY array_position(i.indkey::int2[], a.attnum)",
            )
            .bind(&name)
            .fetch_all(&mut *self.conn().await?)
            .await?;
            if key.is_empty() {
                return Err(StoreError::Corrupt(format!("table {name} has no primary key")));
            }
            tables.push(Table { name, columns, key });
        }
        let edges: Vec<(String, String)> = sqlx::query(
            "SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent FROM pg_constraint
             WHERE contype = 'f' AND connamespace = current_schema()::regnamespace",
        )
        .fetch_all(&mut *self.conn().await?)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("child")?, r.try_get("parent")?)))
        .collect::<Result<_>>()?;
        // Parents first (the schema has no cycles; a table that references itself is
        // not a constraint on the order between tables).
        let mut ordered: Vec<Table> = Vec::new();
        let mut left = tables;
        while !left.is_empty() {
            let before = left.len();
            let (ready, wait): (Vec<Table>, Vec<Table>) = left.into_iter().partition(|t| {
                edges
                    .iter()
                    .filter(|(c, p)| *c == t.name && *p != t.name)
                    .all(|(_, p)| ordered.iter().any(|o| &o.name == p))
            });
            if ready.is_empty() {
                let names: Vec<String> = wait.iter().map(|t| t.name.clone()).collect();
                return Err(StoreError::Corrupt(format!(
                    "the tables {names:?} reference each other in a cycle; cannot order the copy"
                )));
            }
            ordered.extend(ready);
            left = wait;
            debug_assert!(left.len() < before);
        }
        Ok(ordered)
    }

    /// How many rows one of kycd's tables holds (`table` is one of its own names).
    pub async fn count_rows(&self, table: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *self.conn().await?)
            .await?)
    }

    /// Every blob key the captures point to.
    pub async fn capture_blob_keys(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT blob_key FROM captures WHERE blob_key IS NOT NULL ORDER BY blob_key")
                .fetch_all(&mut *self.conn().await?)
                .await?,
        )
    }

    /// The key check value this database records, if any.
    pub async fn key_check_value(&self) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT check_value FROM master_key WHERE id = 1")
            .fetch_optional(&mut *self.conn().await?)
            .await?)
    }

    /// Serving instances seen alive lately on this database: (how many, seconds since
    /// the latest was seen).
    pub async fn instances_alive(&self) -> Result<Option<(usize, i64)>> {
        let mut tx = self.begin_raw().await?;
        let alive = self.live_instances(&mut tx).await?;
        tx.rollback().await?;
        Ok(alive.map(|(n, ms)| (n, ms / 1000)))
    }

    /// Copy every row of this database into `target` (PostgreSQL, migrated to the same
    /// schema), resuming after the rows a previous run committed, then check the copy.
    /// Refused when the target holds another installation's data, or when instances
    /// serve from this database (their writes would be missed). `progress(table, rows)`
    /// is told each committed batch.
    pub async fn copy_into(&self, target: &Database, batch: usize, progress: &(dyn Fn(&str, u64) + Sync)) -> Result<CopyReport> {
        if target.backend != Backend::Postgres {
            return Err(StoreError::Transfer(
                "the target of a copy must be a PostgreSQL database (postgres://…)".into(),
            ));
        }
        if let Some((count, seconds_ago)) = self.instances_alive().await? {
            return Err(StoreError::InstancesRunning { count, seconds_ago });
        }
        let ours = self.key_check_value().await?;
        match target.key_check_value().await? {
            Some(theirs) if Some(&theirs) != ours.as_ref() => {
                return Err(StoreError::Transfer(
                    "the target database belongs to another installation (its data is sealed with another master key): \
                     give an empty database as the target"
                        .into(),
                ));
            }
            Some(_) => {}
            None if target.count_rows("tenants").await? > 0 => {
                return Err(StoreError::Transfer(
                    "the target database already holds tenants that are not a copy of this one: give an empty database".into(),
                ));
            }
            None => {}
        }
        let tables = target.pg_tables().await?;
        let mut report = CopyReport::default();
        for t in &tables {
            let mut copied = self.copy_table(target, t, batch.max(1), true, progress).await?;
            if target.count_rows(&t.name).await? < self.count_rows(&t.name).await? {
                // Rows are missing before the target's last one (not what a stopped run
                // leaves): one pass over the whole table inserts whatever is missing.
                copied += self.copy_table(target, t, batch.max(1), false, progress).await?;
            }
            report.tables.push(TableCount {
                table: t.name.clone(),
                source_rows: self.count_rows(&t.name).await?,
                target_rows: target.count_rows(&t.name).await?,
                copied,
            });
        }
        self.check_copy(target, &mut report).await?;
        Ok(report)
    }

    /// Copy one table's rows that the target lacks: those after the target's last row (in
    /// key order) when `resume`, else all (rows already there are skipped).
    async fn copy_table(
        &self,
        target: &Database,
        t: &Table,
        batch: usize,
        resume: bool,
        progress: &(dyn Fn(&str, u64) + Sync),
    ) -> Result<u64> {
        let cols: Vec<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
        let col_list = cols.join(", ");
        let key_list = t.key.join(", ");
        let key_types: Vec<ColType> = t.key.iter().map(|k| t.col_type(k)).collect();
        // Where the target ends: its greatest key, in byte order.
        let last = sqlx::query(&format!(
            "SELECT {key_list} FROM {} ORDER BY {} LIMIT 1",
            t.name,
            t.key_order(Backend::Postgres, true)
        ))
        .fetch_optional(&mut *target.conn().await?)
        .await?;
        let mut after: Option<Vec<Val>> = match last.filter(|_| resume) {
            Some(row) => Some(
                key_types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| Val::read(&row, i, *ty))
                    .collect::<Result<_>>()?,
            ),
            None => None,
        };
        let rows_per_insert = (MAX_PARAMS / cols.len().max(1)).clamp(1, batch);
        let mut copied = 0u64;
        loop {
            let placeholders: Vec<String> = (1..=t.key.len()).map(|i| format!("${i}")).collect();
            let filter = match &after {
                Some(_) => format!("WHERE ({}) > ({})", t.key_exprs(self.backend).join(", "), placeholders.join(", ")),
                None => String::new(),
            };
            let sql = format!(
                "SELECT {col_list} FROM {} {filter} ORDER BY {} LIMIT {rows_per_insert}",
                t.name,
                t.key_order(self.backend, false)
            );
            let mut args = AnyArguments::default();
            for v in after.iter().flatten() {
                v.bind(&mut args)?;
            }
            let rows = sqlx::query_with(&sql, args).fetch_all(&mut *self.conn().await?).await?;
            if rows.is_empty() {
                return Ok(copied);
            }
            let mut values: Vec<Vec<Val>> = Vec::with_capacity(rows.len());
            for row in &rows {
                values.push(
                    t.columns
                        .iter()
                        .enumerate()
                        .map(|(i, (_, ty))| Val::read(row, i, *ty))
                        .collect::<Result<_>>()?,
                );
            }
            let mut n = 0;
            let tuples: Vec<String> = values
                .iter()
                .map(|_| {
                    let one: Vec<String> = cols
                        .iter()
                        .map(|_| {
                            n += 1;
                            format!("${n}")
                        })
                        .collect();
                    format!("({})", one.join(", "))
                })
                .collect();
            let insert = format!(
                "INSERT INTO {} ({col_list}) VALUES {} ON CONFLICT DO NOTHING",
                t.name,
                tuples.join(", ")
            );
            let mut args = AnyArguments::default();
            for v in values.iter().flatten() {
                v.bind(&mut args)?;
            }
            let mut tx = target.begin_raw().await?;
            let done = tx.rows_affected(sqlx::query_with(&insert, args)).await?;
            tx.commit().await?;
            copied += done;
            progress(&t.name, copied);
            let last = values.last().map(|row| {
                t.key
                    .iter()
                    .map(|k| {
                        let i = t.columns.iter().position(|(c, _)| c == k).unwrap_or(0);
                        row[i].clone()
                    })
                    .collect::<Vec<_>>()
            });
            after = last;
        }
    }

    /// Row counts of every table, the key check value and every tenant's audit head
    /// must be the same on both sides.
    async fn check_copy(&self, target: &Database, report: &mut CopyReport) -> Result<()> {
        let differ: Vec<String> = report
            .tables
            .iter()
            .filter(|t| t.source_rows != t.target_rows)
            .map(|t| format!("{} ({} here, {} there)", t.table, t.source_rows, t.target_rows))
            .collect();
        if !differ.is_empty() {
            return Err(StoreError::Transfer(format!(
                "the copy differs in row counts: {}; was this database written to during the copy? Stop every \
                 kycd serve and run the copy again (it resumes)",
                differ.join(", ")
            )));
        }
        if self.key_check_value().await? != target.key_check_value().await? {
            return Err(StoreError::Transfer("the key check value was not copied".into()));
        }
        let heads = |db: &Database| {
            let db = db.clone();
            async move {
                let rows = sqlx::query("SELECT tenant_id, seq, hash FROM audit_heads ORDER BY tenant_id")
                    .fetch_all(&mut *db.conn().await?)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?, r.try_get::<String, _>(2)?)))
                    .collect::<Result<Vec<_>>>()
            }
        };
        let (ours, theirs) = (heads(self).await?, heads(target).await?);
        if ours != theirs {
            return Err(StoreError::Transfer(
                "the audit heads differ between the two databases: run the copy again".into(),
            ));
        }
        report.audit_heads_equal = ours.len();
        Ok(())
    }
}
