//! What the vendor dialects need beside kycd's own rows: OAuth2 access tokens and
//! download links (only their hashes are kept), and per-object dialect state (sealed
//! with the tenant key like every other stored field).

use crate::{Result, StoreError, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;

/// An access token or download link, found by its hash, with its API key's standing.
#[derive(Debug, Clone)]
pub struct AccessTokenRecord {
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
    pub scope: Scope,
    pub mode: Mode,
    pub audience: String,
    /// The one object a download link opens; `None` for a bearer token.
    pub object_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// The API key the token was issued to was revoked since.
    pub key_revoked: bool,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn parse<T: std::str::FromStr>(s: String, what: &str) -> Result<T> {
    s.parse().map_err(|_| corrupt(format!("bad {what}: {s}")))
}

fn state_aad(object_id: &str, kind: &str) -> String {
    format!("dialect_state:{object_id}:{kind}")
}

impl Tx<'_> {
    // ----- access tokens and download links --------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_access_token(
        &mut self,
        token_hash: &str,
        tenant: &TenantId,
        key: &ApiKeyId,
        audience: &str,
        object_id: Option<&str>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, tenant_id, key_id, audience, object_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash)
        .bind(tenant.as_str())
        .bind(key.as_str())
        .bind(audience)
        .bind(object_id)
        .bind(ms(expires_at))
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Authentication: the token's hash identifies its tenant and API key.
    pub async fn find_access_token(&mut self, token_hash: &str) -> Result<Option<AccessTokenRecord>> {
        let row = sqlx::query(
            "SELECT t.tenant_id, t.key_id, t.audience, t.object_id, t.expires_at, k.scope, k.mode, k.revoked_at
             FROM access_tokens t JOIN api_keys k ON k.id = t.key_id AND k.tenant_id = t.tenant_id
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AccessTokenRecord {
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            key_id: parse(row.try_get("key_id")?, "key id")?,
            scope: Scope::parse(&row.try_get::<String, _>("scope")?).ok_or_else(|| corrupt("scope"))?,
            mode: Mode::parse(&row.try_get::<String, _>("mode")?).ok_or_else(|| corrupt("mode"))?,
            audience: row.try_get("audience")?,
            object_id: row.try_get("object_id")?,
            expires_at: from_ms(row.try_get("expires_at")?)?,
            key_revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        }))
    }

    /// Housekeeping: forget a tenant's tokens and links that expired before `now`.
    pub async fn delete_expired_access_tokens(&mut self, tenant: &TenantId, now: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query("DELETE FROM access_tokens WHERE tenant_id = $1 AND expires_at < $2")
            .bind(tenant.as_str())
            .bind(ms(now))
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected())
    }

    // ----- dialect state ---------------------------------------------------------------

    /// Insert or replace the state of `kind` kept for one object (a verification or one of
    /// its attempts). The row goes when its verification is deleted.
    pub async fn put_dialect_state(
        &mut self,
        tenant: &TenantId,
        verification: &VerificationId,
        object_id: &str,
        kind: &str,
        json: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sealed = self
            .store
            .tenant_keys(tenant)
            .seal_text(&state_aad(object_id, kind), json.as_bytes());
        sqlx::query(
            "INSERT INTO dialect_state (tenant_id, object_id, kind, verification_id, data_enc, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (tenant_id, object_id, kind) DO UPDATE SET data_enc = excluded.data_enc, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(object_id)
        .bind(kind)
        .bind(verification.as_str())
        .bind(sealed)
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The JSON text stored by [`Self::put_dialect_state`], if any.
    pub async fn get_dialect_state(&mut self, tenant: &TenantId, object_id: &str, kind: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT data_enc FROM dialect_state WHERE tenant_id = $1 AND object_id = $2 AND kind = $3")
            .bind(tenant.as_str())
            .bind(object_id)
            .bind(kind)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get("data_enc")?;
        let plain = self.store.tenant_keys(tenant).open_text(&state_aad(object_id, kind), &sealed)?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| corrupt("dialect state is not UTF-8"))
    }

    /// Forget the state of `kind` kept for one object.
    pub async fn delete_dialect_state(&mut self, tenant: &TenantId, object_id: &str, kind: &str) -> Result<()> {
        sqlx::query("DELETE FROM dialect_state WHERE tenant_id = $1 AND object_id = $2 AND kind = $3")
            .bind(tenant.as_str())
            .bind(object_id)
            .bind(kind)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Forget the state kept for a verification's attempts (anonymize: attempt state may
    /// hold URLs the business chose); the verification's own state stays.
    pub async fn delete_attempt_dialect_state(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<()> {
        sqlx::query("DELETE FROM dialect_state WHERE tenant_id = $1 AND verification_id = $2 AND object_id <> $2")
            .bind(tenant.as_str())
            .bind(verification.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    // ----- lookups the dialects need -------------------------------------------------------

    /// The verifications of one applicant, oldest first.
    pub async fn verification_ids_of_applicant(&mut self, tenant: &TenantId, applicant: &ApplicantId) -> Result<Vec<VerificationId>> {
        let rows = sqlx::query("SELECT id FROM verifications WHERE tenant_id = $1 AND applicant_id = $2 ORDER BY created_at, id")
            .bind(tenant.as_str())
            .bind(applicant.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| parse(r.try_get("id")?, "verification id")).collect()
    }

    /// Replace the quality feedback recorded for a capture.
    pub async fn update_capture_feedback(&mut self, tenant: &TenantId, file: &FileId, feedback: &CaptureFeedback) -> Result<()> {
        let json = serde_json::to_string(feedback).map_err(|e| corrupt(format!("feedback: {e}")))?;
        sqlx::query("UPDATE captures SET feedback_json = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(json)
            .bind(tenant.as_str())
            .bind(file.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
