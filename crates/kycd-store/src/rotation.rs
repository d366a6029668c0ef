//! `kycd keys rotate-master`: every value sealed under the old master key (wrapped data
//! keys, sealed fields, webhook and TOTP secrets, signing keys) is re-sealed under the
//! new one, and the blind indexes derived from it are recomputed. Batch by batch, each
//! committed with the progress it made, so a rotation killed half-way resumes where it
//! stopped; while it runs both keys open the values (the new one is tried first) and no
//! instance serves. At the end the database's check value becomes the new key's, so the
//! old key is refused from then on. Blobs keep their own data keys: only the wrapping
//! of those changes.

use crate::crypto::{MasterKey, TenantKeys};
use crate::repo_audit::{Entry, append_audit};
use crate::sealed::{BlindIndexes, SEALED, SealedTable, blind};
use crate::{Database, Result, StoreError, ms};
use chrono::Utc;
use kycd_core::{Actor, Email, PersonData, TenantId};
use sqlx::Row;
use std::collections::HashMap;

/// What a rotation did.
#[derive(Debug, Default, Clone)]
pub struct RotationReport {
    /// The database was rotated to the new key already (a run that stopped after its
    /// last commit): nothing was left to re-seal.
    pub already_done: bool,
    /// An unfinished rotation was resumed.
    pub resumed: bool,
    /// Rows visited and values re-sealed by this run.
    pub rows: u64,
    pub values: u64,
}

/// The old and the new key set of one tenant.
struct Pair {
    old: TenantKeys,
    new: TenantKeys,
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

impl Database {
    /// Rotate the master key from `old` (the one configured) to `new`, `batch` rows per
    /// transaction; `on_batch(table, rows so far)` after each commit.
    pub async fn rotate_master(
        &self,
        old: &MasterKey,
        new: &MasterKey,
        batch: usize,
        on_batch: &dyn Fn(&str, u64),
    ) -> Result<RotationReport> {
        let (old_cv, new_cv) = (old.check_value(), new.check_value());
        if old_cv == new_cv {
            return Err(StoreError::Rotation(
                "the new key is the master key in use already: make a new one (e.g. openssl rand -hex 32 > new.key)".into(),
            ));
        }
        let mut report = RotationReport::default();
        let now = Utc::now();
        let mut tx = self.begin_raw().await?;
        let st = match self.key_state(&mut tx).await? {
            Some(st) => st,
            None => {
                self.adopt_key(&mut tx, old).await?;
                self.key_state(&mut tx).await?.ok_or(StoreError::WrongMasterKey)?
            }
        };
        match (st.rotating_to.as_deref(), st.check_value == old_cv) {
            (None, true) => {}
            (Some(to), true) if to == new_cv => report.resumed = true,
            (Some(_), true) => {
                return Err(StoreError::Rotation(
                    "a rotation to another new key is in progress: run this again with --new-key-file naming that key".into(),
                ));
            }
            (None, false) if st.check_value == new_cv => {
                report.already_done = true;
                return Ok(report);
            }
            (Some(to), false) if to == old_cv => {
                return Err(StoreError::Rotation(
                    "the master key configured is the new key of the rotation in progress: configure the old key again \
                     and name the new one with --new-key-file"
                        .into(),
                ));
            }
            _ => return Err(StoreError::WrongMasterKey),
        }
        if let Some((count, ago_ms)) = self.live_instances(&mut tx).await? {
            return Err(StoreError::InstancesRunning {
                count,
                seconds_ago: ago_ms / 1000,
            });
        }
        let first = SEALED.first().map_or("", |t| t.table).to_owned();
        let (mut table, mut after) = if report.resumed {
            (st.rotation_table.unwrap_or(first), st.rotation_after)
        } else {
            tx.execute(
                sqlx::query(
                    "UPDATE master_key SET rotating_to = $1, rotation_table = $2, rotation_after = NULL, updated_at = $3 WHERE id = 1",
                )
                .bind(&new_cv)
                .bind(&first)
                .bind(ms(now)),
            )
            .await?;
            self.audit_all(&mut tx, "master_key.rotation_started").await?;
            (first, None)
        };
        tx.commit().await?;

        let mut keys: HashMap<String, Pair> = HashMap::new();
        let start = SEALED.iter().position(|t| t.table == table).unwrap_or(SEALED.len());
        for (i, t) in SEALED.iter().enumerate().skip(start) {
            loop {
                let mut tx = self.begin_raw().await?;
                let rows = self.batch_after(&mut tx, t, after.as_deref(), batch).await?;
                let Some(last) = rows.last() else {
                    table = SEALED.get(i + 1).map_or("", |n| n.table).to_owned();
                    after = None;
                    progress(&mut tx, &table, None).await?;
                    tx.commit().await?;
                    break;
                };
                let last_key = key_of(t, last)?;
                for row in &rows {
                    report.values += reseal_row(&mut tx, t, row, &mut keys, old, new).await?;
                }
                after = Some(serde_json::to_string(&last_key).map_err(|e| corrupt(e.to_string()))?);
                progress(&mut tx, t.table, after.as_deref()).await?;
                tx.commit().await?;
                report.rows += rows.len() as u64;
                on_batch(t.table, report.rows);
            }
        }

        let mut tx = self.begin_raw().await?;
        let done = tx.rows_affected(sqlx::query(
            "UPDATE master_key SET check_value = $1, rotating_to = NULL, rotation_table = NULL, rotation_after = NULL, updated_at = $2
             WHERE id = 1 AND rotating_to = $1",
        )
        .bind(&new_cv)
        .bind(ms(Utc::now()))).await?;
        if done != 1 {
            return Err(StoreError::Rotation(
                "the rotation's state changed under it (another rotation ran?); run it again".into(),
            ));
        }
        self.audit_all(&mut tx, "master_key.rotated").await?;
        tx.commit().await?;
        Ok(report)
    }

    /// An audit entry in every tenant's chain (the master key is everyone's).
    async fn audit_all(&self, tx: &mut crate::conn::DbTx, action: &str) -> Result<()> {
        let tenants = tx.fetch_all(sqlx::query("SELECT id FROM tenants ORDER BY id")).await?;
        let (now, cli) = (Utc::now(), Actor::Cli.label());
        for row in tenants {
            let t: String = row.try_get("id")?;
            let tenant: TenantId = t.parse().map_err(|_| corrupt(format!("tenant id {t}")))?;
            let entry = Entry::new(&tenant, &cli, action, "master_key", now);
            append_audit(tx, &self.audit_heads, &entry).await?;
        }
        Ok(())
    }

    /// The next `limit` rows of `t` after the primary key `after` (a JSON array).
    async fn batch_after(
        &self,
        tx: &mut crate::conn::DbTx,
        t: &SealedTable,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        let keys = t.key.join(", ");
        let cols: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
        let after: Option<Vec<String>> = after
            .map(|a| serde_json::from_str(a).map_err(|_| corrupt(format!("rotation progress {a}"))))
            .transpose()?;
        let filter = match &after {
            None => String::new(),
            Some(_) if t.key.len() == 1 => format!("WHERE {keys} > $1"),
            Some(_) => {
                let params: Vec<String> = (1..=t.key.len()).map(|i| format!("${i}")).collect();
                format!("WHERE ({keys}) > ({})", params.join(", "))
            }
        };
        let sql = format!(
            "SELECT tenant_id, {keys}, {cols} FROM {table} {filter} ORDER BY {keys} LIMIT {limit}",
            cols = cols.join(", "),
            table = t.table,
        );
        let mut q = sqlx::query(&sql);
        for v in after.iter().flatten() {
            q = q.bind(v.clone());
        }
        tx.fetch_all(q).await
    }
}

fn key_of(t: &SealedTable, row: &sqlx::any::AnyRow) -> Result<Vec<String>> {
    Ok(t.key.iter().map(|k| row.try_get::<String, _>(*k)).collect::<Result<_, _>>()?)
}

async fn progress(tx: &mut crate::conn::DbTx, table: &str, after: Option<&str>) -> Result<()> {
    tx.execute(
        sqlx::query("UPDATE master_key SET rotation_table = $1, rotation_after = $2, updated_at = $3 WHERE id = 1")
            .bind(table)
            .bind(after)
            .bind(ms(Utc::now())),
    )
    .await?;
    Ok(())
}

/// Re-seal one row's values under the new key (those not under it yet) and recompute its
/// blind indexes; returns how many values were re-sealed.
async fn reseal_row(
    tx: &mut crate::conn::DbTx,
    t: &SealedTable,
    row: &sqlx::any::AnyRow,
    keys: &mut HashMap<String, Pair>,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<u64> {
    let key = key_of(t, row)?;
    let tenant_s: String = row.try_get("tenant_id")?;
    let tenant: TenantId = tenant_s.parse().map_err(|_| corrupt(format!("tenant id in {}", t.table)))?;
    let pair = keys.entry(tenant_s).or_insert_with(|| Pair {
        old: old.tenant_keys(&tenant),
        new: new.tenant_keys(&tenant),
    });
    let mut sets: Vec<(&str, Option<String>)> = Vec::new();
    let mut plain: HashMap<&str, Vec<u8>> = HashMap::new();
    let mut resealed = 0;
    for c in t.columns {
        let Some(v) = row.try_get::<Option<String>, _>(c.name)?.filter(|v| !v.is_empty()) else {
            continue;
        };
        let aad = (c.aad)(&key);
        let p = match pair.new.open_text(&aad, &v) {
            Ok(p) => p,
            Err(_) => {
                let p = pair.old.open_text(&aad, &v).map_err(|_| {
                    corrupt(format!(
                        "{}.{} of row {key:?} opens with neither the old nor the new master key",
                        t.table, c.name
                    ))
                })?;
                sets.push((c.name, Some(pair.new.seal_text(&aad, &p))));
                resealed += 1;
                p
            }
        };
        plain.insert(c.name, p);
    }
    match t.blind {
        BlindIndexes::None => {}
        BlindIndexes::Applicant => {
            if let Some(p) = plain.get("person_enc") {
                let person: PersonData = serde_json::from_slice(p).map_err(|_| corrupt(format!("applicant {key:?}: person data")))?;
                let ext = plain.get("external_id_enc").map(|e| String::from_utf8_lossy(e).into_owned());
                let [e, m, ph] = blind::applicant(&pair.new, &person, ext.as_deref());
                sets.extend([("external_id_bidx", e), ("email_bidx", m), ("phone_bidx", ph)]);
            }
        }
        BlindIndexes::Sender => {
            if let Some(p) = plain.get("email_enc") {
                let email: Email = serde_json::from_value(serde_json::Value::String(String::from_utf8_lossy(p).into_owned()))
                    .map_err(|_| corrupt(format!("sender identity {key:?}: email")))?;
                sets.push(("email_bidx", Some(blind::sender_email(&pair.new, &email))));
            }
        }
    }
    if sets.is_empty() {
        return Ok(0);
    }
    let assign: Vec<String> = sets.iter().enumerate().map(|(i, (c, _))| format!("{c} = ${}", i + 1)).collect();
    let filter: Vec<String> = t
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} = ${}", sets.len() + i + 1))
        .collect();
    let sql = format!("UPDATE {} SET {} WHERE {}", t.table, assign.join(", "), filter.join(" AND "));
    let mut q = sqlx::query(&sql);
    for (_, v) in sets {
        q = q.bind(v);
    }
    for k in key {
        q = q.bind(k);
    }
    tx.execute(q).await?;
    Ok(resealed)
}
