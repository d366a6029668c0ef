//! Tenants and their API keys (only the key's hash is kept; a key's hash finds its tenant).

use crate::repo::{corrupt, days, parse};
use crate::repo_audit::GENESIS;
use crate::{Result, Tx, from_ms, ms};
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

/// `SELECT` the columns [`Tx::tenant_from`] reads `FROM tenants`, then the rest of
/// the query: one column list for every query whose rows it maps.
macro_rules! select_tenants {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, mode, retention_days, max_retention_days, tombstone_days, created_at FROM tenants ",
            $rest
        )
    };
}

/// `SELECT` the columns `api_key_from` reads `FROM api_keys`, then the rest of
/// the query: one column list for every query whose rows it maps.
macro_rules! select_api_keys {
    ($rest:literal) => {
        concat!("SELECT id, tenant_id, scope, mode, created_at, revoked_at FROM api_keys ", $rest)
    };
}

impl Tx<'_> {
    pub async fn insert_tenant(&mut self, t: &Tenant) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenants (id, name, mode, created_at, retention_days, max_retention_days, tombstone_days)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.id.as_str())
        .bind(&t.name)
        .bind(t.mode.as_str())
        .bind(ms(t.created_at))
        .bind(i64::from(t.retention.retention_days))
        .bind(i64::from(t.retention.max_retention_days))
        .bind(i64::from(t.retention.tombstone_days))
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)")
            .bind(t.id.as_str())
            .bind(GENESIS)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    fn tenant_from(row: &AnyRow) -> Result<Tenant> {
        Ok(Tenant {
            id: parse(row.try_get("id")?, "tenant id")?,
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

    pub async fn get_tenant(&mut self, id: &TenantId) -> Result<Option<Tenant>> {
        let row = sqlx::query(select_tenants!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::tenant_from).transpose()
    }

    pub async fn update_tenant_retention(&mut self, id: &TenantId, r: &RetentionSettings) -> Result<()> {
        sqlx::query("UPDATE tenants SET retention_days = $1, max_retention_days = $2, tombstone_days = $3 WHERE id = $4")
            .bind(i64::from(r.retention_days))
            .bind(i64::from(r.max_retention_days))
            .bind(i64::from(r.tombstone_days))
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Operator view (CLI): every tenant.
    pub async fn list_tenants(&mut self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query(select_tenants!("ORDER BY created_at, id"))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(Self::tenant_from).collect()
    }

    pub async fn insert_api_key(&mut self, k: &ApiKeyRecord, key_hash: &str) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (id, tenant_id, key_hash, scope, mode, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(k.id.as_str())
            .bind(k.tenant_id.as_str())
            .bind(key_hash)
            .bind(k.scope.as_str())
            .bind(k.mode.as_str())
            .bind(ms(k.created_at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// A tenant's API keys (ids and scopes, never secrets), newest first.
    pub async fn list_api_keys(&mut self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(select_api_keys!("WHERE tenant_id = $1 ORDER BY created_at DESC, id"))
            .bind(tenant.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(api_key_from).collect()
    }

    /// Revoke one of this tenant's live keys; `false` if it has no such live key.
    pub async fn revoke_tenant_api_key(&mut self, tenant: &TenantId, id: &ApiKeyId, now: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL")
            .bind(ms(now))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Operator action (CLI). Returns the key's tenant when a live key was revoked.
    pub async fn revoke_api_key(&mut self, id: &ApiKeyId, now: DateTime<Utc>) -> Result<Option<TenantId>> {
        let row = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING tenant_id")
            .bind(ms(now))
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| parse(r.try_get("tenant_id")?, "tenant id")).transpose()
    }
}

impl crate::Store {
    /// Authentication: the key's hash identifies its tenant. One statement outside a
    /// transaction: every API request makes this read, and on SQLite a transaction would
    /// take the write lock (`BEGIN IMMEDIATE`) for it and cost two more round trips.
    pub async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(select_api_keys!("WHERE key_hash = $1"))
            .bind(key_hash)
            .fetch_optional(&self.db.pool)
            .await?;
        row.as_ref().map(api_key_from).transpose()
    }
}

fn api_key_from(row: &AnyRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: parse(row.try_get("id")?, "key id")?,
        tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
        scope: Scope::parse(&row.try_get::<String, _>("scope")?).ok_or_else(|| corrupt("scope"))?,
        mode: Mode::parse(&row.try_get::<String, _>("mode")?).ok_or_else(|| corrupt("mode"))?,
        created_at: from_ms(row.try_get("created_at")?)?,
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_ms).transpose()?,
    })
}
