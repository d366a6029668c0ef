//! What the vendor dialects need beside kycd's own rows: OAuth2 access tokens and
//! download links (only their hashes are kept), and per-object dialect state (sealed
//! with the tenant key like every other stored field).

use crate::repo::{Columns, FromRow, corrupt};
use crate::sealed::aad::dialect_state as state_aad;
use crate::{Result, Store, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

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

impl FromRow for AccessTokenRecord {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(AccessTokenRecord {
            tenant_id: row.tenant_id()?,
            key_id: row.parsed("key_id", "key id")?,
            scope: Scope::parse(&row.try_get::<String, _>("scope")?).ok_or_else(|| corrupt("scope"))?,
            mode: Mode::parse(&row.try_get::<String, _>("mode")?).ok_or_else(|| corrupt("mode"))?,
            audience: row.try_get("audience")?,
            object_id: row.try_get("object_id")?,
            expires_at: from_ms(row.try_get("expires_at")?)?,
            key_revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        })
    }
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
        self.execute(
            "INSERT INTO access_tokens (token_hash, tenant_id, key_id, audience, object_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            (
                token_hash,
                tenant.as_str(),
                key.as_str(),
                audience,
                object_id,
                ms(expires_at),
                ms(now),
            ),
        )
        .await
    }

    /// Authentication: the token's hash identifies its tenant and API key.
    pub async fn find_access_token(&mut self, token_hash: &str) -> Result<Option<AccessTokenRecord>> {
        self.find(
            "SELECT t.tenant_id, t.key_id, t.audience, t.object_id, t.expires_at, k.scope, k.mode, k.revoked_at
             FROM access_tokens t JOIN api_keys k ON k.id = t.key_id AND k.tenant_id = t.tenant_id
             WHERE t.token_hash = $1",
            (token_hash,),
        )
        .await
    }

    /// Housekeeping: forget a tenant's tokens and links that expired before `now`.
    pub async fn delete_expired_access_tokens(&mut self, tenant: &TenantId, now: DateTime<Utc>) -> Result<u64> {
        self.delete_expired("access_tokens", tenant, now).await
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
        let sealed = self.keys(tenant).seal_text(&state_aad(object_id, kind), json.as_bytes());
        self.execute(
            "INSERT INTO dialect_state (tenant_id, object_id, kind, verification_id, data_enc, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (tenant_id, object_id, kind) DO UPDATE SET data_enc = excluded.data_enc, updated_at = excluded.updated_at",
            (tenant.as_str(), object_id, kind, verification.as_str(), sealed, ms(now)),
        )
        .await
    }

    /// The JSON text stored by [`Self::put_dialect_state`], if any.
    pub async fn get_dialect_state(&mut self, tenant: &TenantId, object_id: &str, kind: &str) -> Result<Option<String>> {
        let row = self
            .fetch_optional(
                "SELECT data_enc FROM dialect_state WHERE tenant_id = $1 AND object_id = $2 AND kind = $3",
                (tenant.as_str(), object_id, kind),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get("data_enc")?;
        let plain = self.keys(tenant).open_text(&state_aad(object_id, kind), &sealed)?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| corrupt("dialect state is not UTF-8"))
    }

    /// Forget the state of `kind` kept for one object.
    pub async fn delete_dialect_state(&mut self, tenant: &TenantId, object_id: &str, kind: &str) -> Result<()> {
        self.execute(
            "DELETE FROM dialect_state WHERE tenant_id = $1 AND object_id = $2 AND kind = $3",
            (tenant.as_str(), object_id, kind),
        )
        .await
    }

    /// Forget the state kept for a verification's attempts (anonymize: attempt state may
    /// hold URLs the business chose); the verification's own state stays.
    pub async fn delete_attempt_dialect_state(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<()> {
        self.execute(
            "DELETE FROM dialect_state WHERE tenant_id = $1 AND verification_id = $2 AND object_id <> $2",
            (tenant.as_str(), verification.as_str()),
        )
        .await
    }

    // ----- lookups the dialects need -------------------------------------------------------

    /// The verifications of one applicant, oldest first.
    pub async fn verification_ids_of_applicant(&mut self, tenant: &TenantId, applicant: &ApplicantId) -> Result<Vec<VerificationId>> {
        self.fetch_ids(
            "SELECT id FROM verifications WHERE tenant_id = $1 AND applicant_id = $2 ORDER BY created_at, id",
            (tenant.as_str(), applicant.as_str()),
            "verification id",
        )
        .await
    }

    /// Replace the quality feedback recorded for a capture.
    pub async fn update_capture_feedback(&mut self, tenant: &TenantId, file: &FileId, feedback: &CaptureFeedback) -> Result<()> {
        let json = serde_json::to_string(feedback).map_err(|e| corrupt(format!("feedback: {e}")))?;
        self.execute(
            "UPDATE captures SET feedback_json = $1 WHERE tenant_id = $2 AND id = $3",
            (json, tenant.as_str(), file.as_str()),
        )
        .await
    }
}
