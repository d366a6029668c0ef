//! The master key's place in the database: its check value, so a wrong key is refused
//! before anything is read or written; what "the database holds data" means before a key
//! may be generated; and the serving instances a rotation must not run under.

use crate::crypto::MasterKey;
use crate::sealed::SEALED;
use crate::{Backend, Database, Result, Store, StoreError, ms};
use chrono::Utc;
use kycd_core::TenantId;
use object_store::ObjectStore;
use rand::RngCore;
use sqlx::Row;
use std::sync::Arc;

/// How often a serving instance says it is alive.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// An instance silent for this long is taken for dead (three missed heartbeats).
pub(crate) const INSTANCE_STALE_MS: i64 = 30_000;

/// The one row of `master_key`.
pub(crate) struct KeyState {
    pub check_value: String,
    /// The new key's check value while a rotation runs.
    pub rotating_to: Option<String>,
    /// Rotation progress: the table being re-sealed ("" once every table is done) and the
    /// primary key of its last row done (a JSON array), both committed with each batch.
    pub rotation_table: Option<String>,
    pub rotation_after: Option<String>,
}

impl KeyState {
    /// Which key of a running rotation `cv` is, in words for an error.
    pub fn which(&self, cv: &str) -> &'static str {
        if self.check_value == cv {
            "the old key"
        } else if self.rotating_to.as_deref() == Some(cv) {
            "the new key"
        } else {
            "neither key"
        }
    }
}

/// A sealed value found in the database, to try a key on.
struct SealedSample {
    table: &'static str,
    tenant: TenantId,
    aad: String,
    value: String,
}

impl Database {
    /// The key state, its row locked until `tx` ends (on SQLite the writer lock that
    /// every transaction takes does that already), so that unlocking, registering an
    /// instance and starting a rotation happen one after the other.
    pub(crate) async fn key_state(&self, tx: &mut crate::conn::DbTx) -> Result<Option<KeyState>> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT check_value, rotating_to, rotation_table, rotation_after FROM master_key WHERE id = 1",
            Backend::Postgres => "SELECT check_value, rotating_to, rotation_table, rotation_after FROM master_key WHERE id = 1 FOR UPDATE",
        };
        let row = tx.fetch_optional(sqlx::query(sql)).await?;
        row.map(|r| {
            Ok(KeyState {
                check_value: r.try_get("check_value")?,
                rotating_to: r.try_get("rotating_to")?,
                rotation_table: r.try_get("rotation_table")?,
                rotation_after: r.try_get("rotation_after")?,
            })
        })
        .transpose()
    }

    /// Whether the database holds anything a master key belongs to: a tenant, or a key
    /// check value. kycd never generates a key for such a database.
    pub async fn holds_data(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM tenants) + (SELECT COUNT(*) FROM master_key)")
            .fetch_one(&mut *self.conn().await?)
            .await?;
        Ok(n > 0)
    }

    /// Some sealed value of the database, if there is one.
    async fn sealed_sample(&self, tx: &mut crate::conn::DbTx) -> Result<Option<SealedSample>> {
        for t in SEALED {
            for c in t.columns {
                let sql = format!(
                    "SELECT tenant_id, {keys}, {col} AS sealed FROM {table} WHERE {col} IS NOT NULL AND {col} <> '' LIMIT 1",
                    keys = t.key.join(", "),
                    col = c.name,
                    table = t.table
                );
                let Some(row) = tx.fetch_optional(sqlx::query(&sql)).await? else {
                    continue;
                };
                let key: Vec<String> = t.key.iter().map(|k| row.try_get::<String, _>(*k)).collect::<Result<_, _>>()?;
                let tenant: String = row.try_get("tenant_id")?;
                return Ok(Some(SealedSample {
                    table: t.table,
                    tenant: tenant
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("tenant id in {}", t.table)))?,
                    aad: (c.aad)(&key),
                    value: row.try_get("sealed")?,
                }));
            }
        }
        Ok(None)
    }

    /// Record `key`'s check value in a database that has none: a new one, or one from
    /// before check values existed, where the key must open what is sealed already.
    pub(crate) async fn adopt_key(&self, tx: &mut crate::conn::DbTx, key: &MasterKey) -> Result<()> {
        if let Some(s) = self.sealed_sample(tx).await?
            && key.tenant_keys(&s.tenant).open_text(&s.aad, &s.value).is_err()
        {
            return Err(StoreError::MasterKeyOpensNothing { table: s.table });
        }
        let cv = key.check_value();
        // Two instances starting together on a new database: the first one's key stands.
        tx.execute(
            sqlx::query("INSERT INTO master_key (id, check_value, updated_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
                .bind(&cv)
                .bind(ms(Utc::now())),
        )
        .await?;
        match self.key_state(tx).await? {
            Some(st) if st.check_value == cv => Ok(()),
            _ => Err(StoreError::WrongMasterKey),
        }
    }

    /// Check `key` against the database (recording its check value on first use) and
    /// open the store. Refused, with nothing written, when the key is not this
    /// database's or a rotation of the master key is unfinished.
    pub async fn unlock(self, key: MasterKey, blobs: Arc<dyn ObjectStore>) -> Result<Store> {
        let cv = key.check_value();
        let mut tx = self.begin_raw().await?;
        match self.key_state(&mut tx).await? {
            Some(st) if st.rotating_to.is_some() => return Err(StoreError::RotationInProgress { which: st.which(&cv) }),
            Some(st) if st.check_value == cv => {}
            Some(_) => return Err(StoreError::WrongMasterKey),
            None => self.adopt_key(&mut tx, &key).await?,
        }
        tx.commit().await?;
        let mut id = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut id);
        Ok(Store {
            db: self,
            blobs,
            master: key,
            instance: hex::encode(id),
        })
    }

    /// The serving instances seen alive lately: (how many, ms since the latest was seen).
    pub(crate) async fn live_instances(&self, tx: &mut crate::conn::DbTx) -> Result<Option<(usize, i64)>> {
        let now = ms(Utc::now());
        let row = tx
            .fetch_one(
                sqlx::query("SELECT COUNT(*) AS n, MAX(seen_at) AS latest FROM running_instances WHERE seen_at > $1")
                    .bind(now - INSTANCE_STALE_MS),
            )
            .await?;
        let n: i64 = row.try_get("n")?;
        let latest: Option<i64> = row.try_get("latest")?;
        Ok(latest.filter(|_| n > 0).map(|l| (n as usize, (now - l).max(0))))
    }
}

impl Store {
    /// Say that this process serves from the database. Refused while a master key
    /// rotation runs; and a rotation does not start while an instance is alive. Both
    /// take the key state row first, so one of them sees the other.
    pub async fn register_instance(&self) -> Result<()> {
        let mut tx = self.db.begin_raw().await?;
        if let Some(st) = self.db.key_state(&mut tx).await?
            && st.rotating_to.is_some()
        {
            return Err(StoreError::RotationInProgress {
                which: st.which(&self.master.check_value()),
            });
        }
        let now = ms(Utc::now());
        tx.execute(
            sqlx::query("INSERT INTO running_instances (id, label, started_at, seen_at) VALUES ($1, $2, $3, $3)")
                .bind(&self.instance)
                .bind(format!("pid {}", std::process::id()))
                .bind(now),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the master key this process holds is still the database's: its check value
    /// is the one recorded and no rotation has started since (`kycd keys rotate-master`
    /// refuses to run under a live instance, but a database restored from another
    /// installation, or a rotation forced past a stale heartbeat, would change it).
    pub async fn check_master_key(&self) -> Result<()> {
        let row = sqlx::query("SELECT check_value, rotating_to FROM master_key WHERE id = 1")
            .fetch_optional(&mut *self.db.conn().await?)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::Corrupt("the master key table has no check value".into()));
        };
        let (cv, rotating): (String, Option<String>) = (row.try_get("check_value")?, row.try_get("rotating_to")?);
        let mine = self.master.check_value();
        if rotating.is_some() {
            let st = KeyState {
                check_value: cv,
                rotating_to: rotating,
                rotation_table: None,
                rotation_after: None,
            };
            return Err(StoreError::RotationInProgress { which: st.which(&mine) });
        }
        if cv != mine {
            return Err(StoreError::WrongMasterKey);
        }
        Ok(())
    }

    /// This instance is still alive (every [`HEARTBEAT_EVERY`]); real time, not the
    /// engine's clock, which tests may shift.
    pub async fn heartbeat(&self) -> Result<()> {
        sqlx::query("UPDATE running_instances SET seen_at = $1 WHERE id = $2")
            .bind(ms(Utc::now()))
            .bind(&self.instance)
            .execute(&mut *self.db.conn().await?)
            .await?;
        Ok(())
    }

    /// This instance stops serving (and forgets instances dead for a day).
    pub async fn deregister_instance(&self) -> Result<()> {
        sqlx::query("DELETE FROM running_instances WHERE id = $1 OR seen_at < $2")
            .bind(&self.instance)
            .bind(ms(Utc::now()) - 86_400_000)
            .execute(&mut *self.db.conn().await?)
            .await?;
        Ok(())
    }
}
