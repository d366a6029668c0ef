//! Callbacks: GET requests to URLs an integrator gave with one verification (Skribble's
//! `callback_*_url`), queued in the same transaction as the change that triggers them and
//! delivered from the job queue. The URL is sealed with the tenant key like every other
//! field the integrator wrote: it may carry their own tokens.

use crate::repo::{Columns, FromRow, corrupt};
use crate::repo_webhooks::{impl_delivery, with_delivery_log};
use crate::{DeliveryStatus, Result, Store, Tx, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct CallbackDelivery {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub verification_id: VerificationId,
    /// Which dialect asked for it (its callback renderer's kind): that picks the retries.
    pub kind: String,
    /// What the dialect calls this callback (Skribble: `SUCCESS`, `UPDATE`, `ERROR`).
    pub label: String,
    pub url: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl_delivery!(CallbackDelivery, "callback_deliveries");

fn url_aad(id: &DeliveryId) -> String {
    crate::sealed::aad::callback_url(id.as_str())
}

impl FromRow for CallbackDelivery {
    fn from_row(store: &Store, row: &AnyRow) -> Result<Self> {
        let id: DeliveryId = row.parsed("id", "callback id")?;
        let tenant_id = row.tenant_id()?;
        let url = store
            .tenant_keys(&tenant_id)
            .open_text(&url_aad(&id), &row.try_get::<String, _>("url_enc")?)?;
        Ok(with_delivery_log!(
            row,
            "callback status",
            CallbackDelivery {
                url: String::from_utf8(url).map_err(|_| corrupt("callback url"))?,
                id,
                tenant_id,
                verification_id: row.parsed("verification_id", "verification id")?,
                kind: row.try_get("kind")?,
                label: row.try_get("label")?,
            }
        ))
    }
}

impl Tx<'_> {
    pub async fn insert_callback_delivery(&mut self, d: &CallbackDelivery) -> Result<()> {
        let sealed = self.keys(&d.tenant_id).seal_text(&url_aad(&d.id), d.url.as_bytes());
        self.insert_delivery(
            d,
            "INSERT INTO callback_deliveries (id, tenant_id, verification_id, kind, label, url_enc, status, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
            (
                d.id.as_str(),
                d.tenant_id.as_str(),
                d.verification_id.as_str(),
                &d.kind,
                &d.label,
                sealed,
                d.status.as_str(),
                ms(d.created_at),
            ),
        )
        .await
    }

    pub async fn update_callback_delivery(&mut self, d: &CallbackDelivery) -> Result<()> {
        self.update_delivery(d).await
    }

    pub async fn get_callback_delivery(&mut self, tenant: &TenantId, id: &DeliveryId) -> Result<Option<CallbackDelivery>> {
        self.find_by_id("callback_deliveries", tenant, id.as_str()).await
    }

    /// A verification's callbacks, oldest first.
    pub async fn list_callback_deliveries(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<Vec<CallbackDelivery>> {
        self.find_all(
            "SELECT * FROM callback_deliveries WHERE tenant_id = $1 AND verification_id = $2 ORDER BY created_at, id",
            (tenant.as_str(), verification.as_str()),
        )
        .await
    }
}
