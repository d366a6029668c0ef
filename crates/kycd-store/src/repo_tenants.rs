//! Tenants and their API keys (only the key's hash is kept; a key's hash finds its tenant).

use crate::repo::{Columns, FromRow, corrupt, days, statement};
use crate::repo_audit::GENESIS;
use crate::{Result, Store, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub scope: Scope,
    pub mode: Mode,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `SELECT` the columns `Tenant::from_row` reads `FROM tenants`, then the rest of
/// the query: one column list for every query whose rows it maps.
macro_rules! select_tenants {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, mode, retention_days, max_retention_days, tombstone_days, created_at FROM tenants ",
            $rest
        )
    };
}

/// `SELECT` the columns `ApiKeyRecord::from_row` reads `FROM api_keys`, then the rest of
/// the query: one column list for every query whose rows it maps.
macro_rules! select_api_keys {
    ($rest:literal) => {
        concat!("SELECT id, tenant_id, scope, mode, created_at, revoked_at FROM api_keys ", $rest)
    };
}

impl FromRow for Tenant {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(Tenant {
            id: row.parsed("id", "tenant id")?,
            name: row.try_get("name")?,
            mode: Mode::parse(&row.try_get::<String, _>("mode")?).ok_or_else(|| corrupt("tenant mode"))?,
            retention: RetentionSettings {
                retention_days: days(row.try_get("retention_days")?)?,
                max_retention_days: days(row.try_get("max_retention_days")?)?,
                tombstone_days: days(row.try_get("tombstone_days")?)?,
            },
            created_at: from_ms(row.try_get("created_at")?)?,
        })
    }
}

impl FromRow for ApiKeyRecord {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(ApiKeyRecord {
            id: row.parsed("id", "key id")?,
            tenant_id: row.tenant_id()?,
            scope: Scope::parse(&row.try_get::<String, _>("scope")?).ok_or_else(|| corrupt("scope"))?,
            mode: Mode::parse(&row.try_get::<String, _>("mode")?).ok_or_else(|| corrupt("mode"))?,
            created_at: from_ms(row.try_get("created_at")?)?,
            revoked_at: row.opt_time("revoked_at")?,
        })
    }
}

impl Tx<'_> {
    pub async fn insert_tenant(&mut self, t: &Tenant) -> Result<()> {
        self.execute(
            "INSERT INTO tenants (id, name, mode, created_at, retention_days, max_retention_days, tombstone_days)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            (
                t.id.as_str(),
                &t.name,
                t.mode.as_str(),
                ms(t.created_at),
                i64::from(t.retention.retention_days),
                i64::from(t.retention.max_retention_days),
                i64::from(t.retention.tombstone_days),
            ),
        )
        .await?;
        self.execute(
            "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)",
            (t.id.as_str(), GENESIS),
        )
        .await
    }

    pub async fn get_tenant(&mut self, id: &TenantId) -> Result<Option<Tenant>> {
        self.find(select_tenants!("WHERE id = $1"), (id.as_str(),)).await
    }

    pub async fn update_tenant_retention(&mut self, id: &TenantId, r: &RetentionSettings) -> Result<()> {
        self.execute(
            "UPDATE tenants SET retention_days = $1, max_retention_days = $2, tombstone_days = $3 WHERE id = $4",
            (
                i64::from(r.retention_days),
                i64::from(r.max_retention_days),
                i64::from(r.tombstone_days),
                id.as_str(),
            ),
        )
        .await
    }

    /// Operator view (CLI): every tenant.
    pub async fn list_tenants(&mut self) -> Result<Vec<Tenant>> {
        self.find_all(select_tenants!("ORDER BY created_at, id"), ()).await
    }

    pub async fn insert_api_key(&mut self, k: &ApiKeyRecord, key_hash: &str) -> Result<()> {
        self.execute(
            "INSERT INTO api_keys (id, tenant_id, key_hash, scope, mode, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            (
                k.id.as_str(),
                k.tenant_id.as_str(),
                key_hash,
                k.scope.as_str(),
                k.mode.as_str(),
                ms(k.created_at),
            ),
        )
        .await
    }

    /// A tenant's API keys (ids and scopes, never secrets), newest first.
    pub async fn list_api_keys(&mut self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>> {
        self.find_all(
            select_api_keys!("WHERE tenant_id = $1 ORDER BY created_at DESC, id"),
            (tenant.as_str(),),
        )
        .await
    }

    /// Revoke one of this tenant's live keys; `false` if it has no such live key.
    pub async fn revoke_tenant_api_key(&mut self, tenant: &TenantId, id: &ApiKeyId, now: DateTime<Utc>) -> Result<bool> {
        let revoked = self
            .rows_affected(
                "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
                (ms(now), tenant.as_str(), id.as_str()),
            )
            .await?;
        Ok(revoked > 0)
    }

    /// Operator action (CLI). Returns the key's tenant when a live key was revoked.
    pub async fn revoke_api_key(&mut self, id: &ApiKeyId, now: DateTime<Utc>) -> Result<Option<TenantId>> {
        let row = self
            .fetch_optional(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING tenant_id",
                (ms(now), id.as_str()),
            )
            .await?;
        row.map(|r| r.tenant_id()).transpose()
    }
}

impl crate::Store {
    /// Authentication: the key's hash identifies its tenant. One statement outside a
    /// transaction: every API request makes this read, and on SQLite a transaction would
    /// take the write lock (`BEGIN IMMEDIATE`) for it and cost two more round trips.
    pub async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        let row = statement(select_api_keys!("WHERE key_hash = $1"), (key_hash,))
            .fetch_optional(&mut *self.db.conn().await?)
            .await?;
        row.map(|r| ApiKeyRecord::from_row(self, &r)).transpose()
    }
}
