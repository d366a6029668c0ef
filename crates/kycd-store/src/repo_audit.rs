//! The audit log: one hash chain per tenant, appended in the transaction of the change it
//! records, and verified from its head.

use crate::repo::{Columns, FromRow, statement};
use crate::{Result, Store, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object_id: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEntry> for kycd_core::TimelineEntry {
    fn from(e: AuditEntry) -> Self {
        Self {
            at: e.at,
            action: e.action,
            actor: e.actor,
        }
    }
}

/// Where a tenant's audit chain first fails to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBreak {
    pub tenant_id: String,
    pub seq: i64,
    pub reason: String,
}

/// The hash an empty chain starts from.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn audit_hash(prev: &str, tenant: &str, seq: i64, at: i64, actor: &str, action: &str, object: &str) -> String {
    let mut h = Sha256::new();
    for part in [prev, tenant, &seq.to_string(), &at.to_string(), actor, action, object] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// `SELECT` the columns `AuditEntry::from_row` reads `FROM audit_entries`, then the rest of
/// the query: one column list for every query whose rows it maps.
macro_rules! select_audit_entries {
    ($rest:literal) => {
        concat!(
            "SELECT tenant_id, seq, at, actor, action, object_id, prev_hash, hash FROM audit_entries ",
            $rest
        )
    };
}

impl FromRow for AuditEntry {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(AuditEntry {
            tenant_id: row.tenant_id()?,
            seq: row.try_get("seq")?,
            at: from_ms(row.try_get("at")?)?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            object_id: row.try_get("object_id")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }
}

impl Tx<'_> {
    /// Append to the tenant's hash chain, in this transaction (see `append_audit`).
    pub async fn audit(&mut self, tenant: &TenantId, actor: &Actor, action: &str, object_id: &str, at: DateTime<Utc>) -> Result<()> {
        let actor = actor.label();
        let entry = Entry::new(tenant, &actor, action, object_id, at);
        append_audit(&mut self.tx, &self.store.db.audit_heads, &entry).await
    }

    /// Commit the transaction with the audit entry of a read it made (a report, a file).
    /// On SQLite, when this process knows the tenant's chain head, the entry and `COMMIT`
    /// go to SQLite's thread as one batch: one round trip where [`Tx::audit`] and
    /// [`Tx::commit`] take two. Should another process have moved the head meanwhile, the
    /// batch commits the rest and the entry is appended in a transaction of its own: the
    /// caller has its answer only once the entry is committed either way.
    pub async fn commit_with_read(
        mut self,
        tenant: &TenantId,
        actor: &Actor,
        action: &str,
        object_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let (store, heads) = (self.store, &self.store.db.audit_heads);
        let label = actor.label();
        let entry = Entry::new(tenant, &label, action, object_id, at);
        let Some(guess) = heads.get(tenant).filter(|_| self.tx.commits_in_batch()) else {
            append_audit(&mut self.tx, heads, &entry).await?;
            return self.commit().await;
        };
        let guess = entry.after(guess);
        if !self
            .tx
            .commit_batch(MOVED_APPENDED_AND_COMMITTED_SQLITE, entry.binds(&guess))
            .await?
            .is_empty()
        {
            heads.set(tenant, guess.seq, guess.hash);
            return Ok(());
        }
        let mut tx = store.begin().await?;
        append_audit(&mut tx.tx, heads, &entry).await?;
        tx.commit().await
    }

    /// Audit entries about one object that changed or decided something, in order: the
    /// reads of it (`report.read`, `file.read`, `evidence.*.read`, the console's
    /// `console.verification.viewed` and `console.image.viewed.*`) left out. A verification's
    /// report timeline, which would otherwise grow with every read of the report. The reads
    /// are skipped by the `(tenant_id, object_id, is_read, seq)` index: a report read often
    /// costs the same as one read once.
    pub async fn timeline_for_object(&mut self, tenant: &TenantId, object_id: &str) -> Result<Vec<AuditEntry>> {
        let sql = select_audit_entries!("WHERE tenant_id = $1 AND object_id = $2 AND is_read = 0 ORDER BY seq");
        self.find_all(sql, (tenant.as_str(), object_id)).await
    }

    /// Every audit entry about one object, reads included, in order (its audit trail).
    pub async fn audit_for_object(&mut self, tenant: &TenantId, object_id: &str) -> Result<Vec<AuditEntry>> {
        let sql = select_audit_entries!("WHERE tenant_id = $1 AND object_id = $2 ORDER BY seq");
        self.find_all(sql, (tenant.as_str(), object_id)).await
    }

    /// Walk every tenant's chain; the first entry that does not verify, if any.
    pub async fn verify_audit_chains(&mut self) -> Result<(usize, Option<AuditBreak>)> {
        let heads = self
            .fetch_all("SELECT tenant_id, seq, hash FROM audit_heads ORDER BY tenant_id", ())
            .await?;
        let mut checked = 0;
        for head in heads {
            let tenant: String = head.try_get("tenant_id")?;
            let head_seq: i64 = head.try_get("seq")?;
            let head_hash: String = head.try_get("hash")?;
            let entries: Vec<AuditEntry> = self
                .find_all(select_audit_entries!("WHERE tenant_id = $1 ORDER BY seq"), (&tenant,))
                .await?;
            let mut prev = GENESIS.to_owned();
            let mut expected_seq = 1;
            let brk = |seq, reason: &str| {
                Some(AuditBreak {
                    tenant_id: tenant.clone(),
                    seq,
                    reason: reason.to_owned(),
                })
            };
            for e in entries {
                checked += 1;
                if e.seq != expected_seq {
                    return Ok((checked, brk(expected_seq, "entry missing (sequence gap)")));
                }
                if e.prev_hash != prev {
                    return Ok((checked, brk(e.seq, "prev_hash does not match the entry before")));
                }
                let h = audit_hash(
                    &e.prev_hash,
                    e.tenant_id.as_str(),
                    e.seq,
                    ms(e.at),
                    &e.actor,
                    &e.action,
                    &e.object_id,
                );
                if h != e.hash {
                    return Ok((checked, brk(e.seq, "entry content does not match its hash")));
                }
                prev = e.hash;
                expected_seq += 1;
            }
            if head_seq != expected_seq - 1 || head_hash != prev {
                return Ok((
                    checked,
                    brk(
                        expected_seq,
                        "chain head does not match the last entry (entries removed at the end?)",
                    ),
                ));
            }
        }
        Ok((checked, None))
    }
}

/// Whether an audit action records a read of its object (`report.read`, `file.read`,
/// `evidence.*.read`, the console's `console.verification.viewed` and
/// `console.image.viewed.*`) rather than a change. Migration 29 applies the same rule to
/// the entries written before it.
pub(crate) fn is_read_action(action: &str) -> bool {
    action.ends_with(".read") || action.strip_prefix("console.").is_some_and(|rest| rest.contains(".viewed"))
}

/// The chain head (sequence number, hash) this process last wrote for each tenant. An
/// append that finds its tenant here moves the head with one compare-and-set statement
/// instead of reading it first: one database round trip fewer on every audited request
/// (a download's is a tenth of its database work, docs/BENCHMARKS.md). The cache is a
/// guess, never trusted: the compare-and-set matches the head row's sequence number and
/// hash, so a head another process moved, or one whose transaction rolled back, fails the
/// match and the append reads the head as before.
#[derive(Default)]
pub(crate) struct AuditHeads(std::sync::Mutex<std::collections::HashMap<String, (i64, String)>>);

impl AuditHeads {
    fn get(&self, tenant: &TenantId) -> Option<(i64, String)> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant.as_str())
            .cloned()
    }

    fn set(&self, tenant: &TenantId, seq: i64, hash: String) {
        let mut heads = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        heads.insert(tenant.as_str().to_owned(), (seq, hash));
    }
}

/// The chain head moved from the one this process remembers and the entry written, in one
/// round trip; nothing when the head is no longer the remembered one. Returns the entry's
/// `seq` as its one row when it was written. Binds: tenant, new seq, at, actor, action,
/// object id, previous hash, new hash, is_read, remembered seq.
const MOVED_AND_APPENDED_PG: &str =
    "WITH moved AS (UPDATE audit_heads SET seq = $2, hash = $8 WHERE tenant_id = $1 AND seq = $10 AND hash = $7 RETURNING 1)
     INSERT INTO audit_entries (tenant_id, seq, at, actor, action, object_id, prev_hash, hash, is_read)
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM moved RETURNING seq";
/// [`MOVED_AND_APPENDED_PG`] for SQLite, which has no UPDATE in a WITH: two statements in
/// one batch, the second guarded by the first's count of changed rows.
macro_rules! moved_and_appended_sqlite {
    () => {
        "UPDATE audit_heads SET seq = $2, hash = $8 WHERE tenant_id = $1 AND seq = $10 AND hash = $7;
         INSERT INTO audit_entries (tenant_id, seq, at, actor, action, object_id, prev_hash, hash, is_read)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE changes() = 1 RETURNING seq"
    };
}
const MOVED_AND_APPENDED_SQLITE: &str = moved_and_appended_sqlite!();
const MOVED_APPENDED_AND_COMMITTED_SQLITE: &str = concat!(moved_and_appended_sqlite!(), ";\nCOMMIT");

/// An audit entry about to be appended (`actor`: its label, [`Actor::label`]).
pub(crate) struct Entry<'a> {
    tenant: &'a TenantId,
    actor: &'a str,
    action: &'a str,
    object_id: &'a str,
    at: DateTime<Utc>,
}

/// The entry placed after a chain head: its sequence number and hash, after `prev`.
struct Placed {
    prev_seq: i64,
    prev: String,
    seq: i64,
    hash: String,
}

impl<'a> Entry<'a> {
    pub(crate) fn new(tenant: &'a TenantId, actor: &'a str, action: &'a str, object_id: &'a str, at: DateTime<Utc>) -> Self {
        Self {
            tenant,
            actor,
            action,
            object_id,
            at,
        }
    }

    /// Its hash when it follows the head (`seq`, `prev`).
    fn hash_after(&self, prev: &str, seq: i64) -> String {
        audit_hash(
            prev,
            self.tenant.as_str(),
            seq,
            ms(self.at),
            self.actor,
            self.action,
            self.object_id,
        )
    }

    fn after(&self, (prev_seq, prev): (i64, String)) -> Placed {
        let hash = self.hash_after(&prev, prev_seq + 1);
        Placed {
            prev_seq,
            prev,
            seq: prev_seq + 1,
            hash,
        }
    }

    /// The binds of [`MOVED_AND_APPENDED_PG`] and its SQLite forms, in their order.
    fn binds<'q>(&self, placed: &'q Placed) -> impl crate::repo::Binds<'q>
    where
        'a: 'q,
    {
        let is_read = i64::from(is_read_action(self.action));
        let p = placed;
        (
            self.tenant.as_str(),
            p.seq,
            ms(self.at),
            self.actor,
            self.action,
            self.object_id,
            p.prev.as_str(),
            p.hash.as_str(),
            is_read,
            p.prev_seq,
        )
    }
}

fn moved_and_appended(backend_name: &str) -> &'static str {
    if backend_name == "PostgreSQL" {
        MOVED_AND_APPENDED_PG
    } else {
        MOVED_AND_APPENDED_SQLITE
    }
}

/// Append an entry to the tenant's hash chain, inside the caller's transaction. Concurrent
/// appenders are serialised by the head row's UPDATE (a row lock on PostgreSQL, the single
/// writer on SQLite).
pub(crate) async fn append_audit(tx: &mut crate::conn::DbTx, heads: &AuditHeads, entry: &Entry<'_>) -> Result<()> {
    let Entry {
        tenant,
        actor,
        action,
        object_id,
        at,
    } = *entry;
    let is_read = i64::from(is_read_action(action));
    if let Some(guess) = heads.get(tenant) {
        let guess = entry.after(guess);
        let sql = moved_and_appended(tx.backend_name());
        if !tx.fetch_all(statement(sql, entry.binds(&guess))).await?.is_empty() {
            heads.set(tenant, guess.seq, guess.hash);
            return Ok(());
        }
    }
    let head = tx
        .fetch_one(statement(
            "UPDATE audit_heads SET seq = seq + 1 WHERE tenant_id = $1 RETURNING seq, hash",
            (tenant.as_str(),),
        ))
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev: String = head.try_get("hash")?;
    let hash = entry.hash_after(&prev, seq);
    tx.execute(statement(
        "UPDATE audit_heads SET hash = $1 WHERE tenant_id = $2",
        (&hash, tenant.as_str()),
    ))
    .await?;
    tx.execute(statement(
        "INSERT INTO audit_entries (tenant_id, seq, at, actor, action, object_id, prev_hash, hash, is_read)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        (tenant.as_str(), seq, ms(at), actor, action, object_id, &prev, &hash, is_read),
    ))
    .await?;
    heads.set(tenant, seq, hash);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_told_from_changes_as_migration_29_tells_them() {
        for read in [
            "report.read",
            "file.read",
            "evidence.zip.read",
            "console.verification.viewed",
            "console.image.viewed.selfie",
        ] {
            assert!(is_read_action(read), "{read}");
        }
        for change in [
            "verification.created",
            "capture.received",
            "review.decided",
            "console.review.proposed",
            "readiness",
            "read",
        ] {
            assert!(!is_read_action(change), "{change}");
        }
    }
}
