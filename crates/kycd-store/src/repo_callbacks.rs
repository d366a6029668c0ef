//! Callbacks: GET requests to URLs an integrator gave with one verification (Skribble's
//! `callback_*_url`), queued in the same transaction as the change that triggers them and
//! delivered from the job queue. The URL is sealed with the tenant key like every other
//! field the integrator wrote: it may carry their own tokens.

use crate::repo::{corrupt, parse};
use crate::repo_webhooks::{DeliveryState, opt_ms};
use crate::{DeliveryStatus, Result, Tx, from_ms, ms};
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

fn url_aad(id: &DeliveryId) -> String {
    format!("callback_deliveries:{id}:url")
}

impl Tx<'_> {
    pub async fn insert_callback_delivery(&mut self, d: &CallbackDelivery) -> Result<()> {
        let sealed = self.store.tenant_keys(&d.tenant_id).seal_text(&url_aad(&d.id), d.url.as_bytes());
        sqlx::query(
            "INSERT INTO callback_deliveries (id, tenant_id, verification_id, kind, label, url_enc, status, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
        )
        .bind(d.id.as_str())
        .bind(d.tenant_id.as_str())
        .bind(d.verification_id.as_str())
        .bind(&d.kind)
        .bind(&d.label)
        .bind(sealed)
        .bind(d.status.as_str())
        .bind(ms(d.created_at))
        .execute(&mut *self.tx)
        .await?;
        self.update_callback_delivery(d).await
    }

    pub async fn update_callback_delivery(&mut self, d: &CallbackDelivery) -> Result<()> {
        let state = DeliveryState {
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error.as_deref(),
            updated_at: d.updated_at,
        };
        self.update_delivery_state("callback_deliveries", &d.tenant_id, &d.id, &state).await
    }

    fn callback_from(&self, row: &AnyRow) -> Result<CallbackDelivery> {
        let id: DeliveryId = parse(row.try_get("id")?, "callback id")?;
        let tenant_id: TenantId = parse(row.try_get("tenant_id")?, "tenant id")?;
        let url = self
            .store
            .tenant_keys(&tenant_id)
            .open_text(&url_aad(&id), &row.try_get::<String, _>("url_enc")?)?;
        Ok(CallbackDelivery {
            url: String::from_utf8(url).map_err(|_| corrupt("callback url"))?,
            id,
            tenant_id,
            verification_id: parse(row.try_get("verification_id")?, "verification id")?,
            kind: row.try_get("kind")?,
            label: row.try_get("label")?,
            status: DeliveryStatus::parse(&row.try_get::<String, _>("status")?).ok_or_else(|| corrupt("callback status"))?,
            attempts: row.try_get("attempts")?,
            next_attempt_at: opt_ms(row.try_get("next_attempt_at")?)?,
            last_attempt_at: opt_ms(row.try_get("last_attempt_at")?)?,
            last_status_code: row.try_get("last_status_code")?,
            last_error: row.try_get("last_error")?,
            created_at: from_ms(row.try_get("created_at")?)?,
            updated_at: from_ms(row.try_get("updated_at")?)?,
        })
    }

    pub async fn get_callback_delivery(&mut self, tenant: &TenantId, id: &DeliveryId) -> Result<Option<CallbackDelivery>> {
        let row = sqlx::query("SELECT * FROM callback_deliveries WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(|r| self.callback_from(r)).transpose()
    }

    /// A verification's callbacks, oldest first.
    pub async fn list_callback_deliveries(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<Vec<CallbackDelivery>> {
        let rows = sqlx::query("SELECT * FROM callback_deliveries WHERE tenant_id = $1 AND verification_id = $2 ORDER BY created_at, id")
            .bind(tenant.as_str())
            .bind(verification.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| self.callback_from(r)).collect()
    }
}
