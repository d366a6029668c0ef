//! Capture rows: what was uploaded for a verification, and where its encrypted bytes and
//! wrapped data key are.

use crate::repo::{Columns, FromRow, corrupt, from_json, to_json};
use crate::{Result, Store, Tx, from_ms, ms};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct StoredBlob {
    pub blob_key: String,
    pub wrapped_key: String,
}

/// `SELECT` the columns a capture's `from_row` reads `FROM captures`, then the rest of
/// the query: one column list for every query whose rows it maps.
macro_rules! select_captures {
    ($rest:literal) => {
        concat!("SELECT id, tenant_id, verification_id, attempt_id, kind, media_type, size, sha256, feedback_json, blob_key, wrapped_key, created_at FROM captures ", $rest)
    };
}

/// A capture, and where its bytes are while it has them.
impl FromRow for (Capture, Option<StoredBlob>) {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        let blob_key: Option<String> = row.try_get("blob_key")?;
        let wrapped: Option<String> = row.try_get("wrapped_key")?;
        let blob = blob_key
            .zip(wrapped)
            .map(|(blob_key, wrapped_key)| StoredBlob { blob_key, wrapped_key });
        Ok((
            Capture {
                id: row.parsed("id", "file id")?,
                tenant_id: row.tenant_id()?,
                verification_id: row.parsed("verification_id", "verification id")?,
                attempt_id: row.parsed("attempt_id", "attempt id")?,
                kind: CaptureKind::from_stored(&row.try_get::<String, _>("kind")?).ok_or_else(|| corrupt("capture kind"))?,
                media_type: MediaType::parse(&row.try_get::<String, _>("media_type")?).ok_or_else(|| corrupt("media type"))?,
                size: u64::try_from(row.try_get::<i64, _>("size")?).map_err(corrupt)?,
                sha256: row.try_get("sha256")?,
                feedback: from_json(&row.try_get::<String, _>("feedback_json")?, "feedback")?,
                available: blob.is_some(),
                created_at: from_ms(row.try_get("created_at")?)?,
            },
            blob,
        ))
    }
}

impl Tx<'_> {
    pub async fn insert_capture(&mut self, c: &Capture, blob: &StoredBlob) -> Result<()> {
        self.execute(
            "INSERT INTO captures (id, tenant_id, verification_id, attempt_id, kind, media_type, size, sha256, feedback_json,
             blob_key, wrapped_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            (
                c.id.as_str(),
                c.tenant_id.as_str(),
                c.verification_id.as_str(),
                c.attempt_id.as_str(),
                c.kind.as_str(),
                c.media_type.as_str(),
                i64::try_from(c.size).unwrap_or(i64::MAX),
                &c.sha256,
                to_json(&c.feedback),
                &blob.blob_key,
                &blob.wrapped_key,
                ms(c.created_at),
            ),
        )
        .await
    }

    /// Captures of a verification, oldest first, with where their bytes are.
    pub async fn list_captures(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<Vec<(Capture, Option<StoredBlob>)>> {
        let sql = select_captures!("WHERE tenant_id = $1 AND verification_id = $2 ORDER BY created_at, id");
        self.find_all(sql, (tenant.as_str(), verification.as_str())).await
    }

    pub async fn get_capture(&mut self, tenant: &TenantId, id: &FileId) -> Result<Option<(Capture, Option<StoredBlob>)>> {
        self.find(select_captures!("WHERE tenant_id = $1 AND id = $2"), (tenant.as_str(), id.as_str()))
            .await
    }

    pub async fn delete_capture(&mut self, tenant: &TenantId, id: &FileId) -> Result<()> {
        self.delete_where("captures", "id", tenant, id.as_str()).await?;
        Ok(())
    }

    /// Forget where a verification's images are and their data keys (anonymize).
    pub async fn erase_capture_keys(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<()> {
        self.execute(
            "UPDATE captures SET blob_key = NULL, wrapped_key = NULL WHERE tenant_id = $1 AND verification_id = $2",
            (tenant.as_str(), verification.as_str()),
        )
        .await?;
        // The images' fingerprints go with them: an erased image is matched by nothing.
        self.delete_capture_fingerprints(tenant, verification).await
    }
}
