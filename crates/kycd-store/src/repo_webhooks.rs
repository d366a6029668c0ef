//! Webhook endpoints, the event outbox and the delivery log. Endpoint secrets are sealed
//! with the tenant key (they are needed in clear to sign, so they cannot be hashed).

use crate::repo::{corrupt, from_json, parse, to_json};
use crate::{Result, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub tenant_id: TenantId,
    pub url: String,
    pub description: Option<String>,
    pub events: EventFilter,
    /// The body shape this endpoint receives.
    pub format: WebhookFormat,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// First failure of the current failing streak; cleared by a success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the previous secret still signs (rotation overlap).
    pub old_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct WebhookEvent {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub event_type: EventType,
    pub object_id: String,
    pub is_final: bool,
    /// The JSON body delivered (no personal data: see the engine).
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed].into_iter().find(|d| d.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub endpoint_id: WebhookEndpointId,
    pub event_id: EventId,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the webhook and the callback delivery logs both keep of an attempt's outcome.
pub(crate) struct DeliveryState<'a> {
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<&'a str>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn opt_ms(v: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    v.map(from_ms).transpose()
}

impl Tx<'_> {
    /// Forget the tenant's finished deliveries (succeeded or failed) last touched before
    /// `before`, then the events no delivery refers to any more that are older than that.
    /// Pending deliveries and their events stay. Returns (deliveries, events) removed.
    pub async fn prune_webhook_history(&mut self, tenant: &TenantId, before: DateTime<Utc>) -> Result<(u64, u64)> {
        let d =
            sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND status IN ('succeeded', 'failed') AND updated_at < $2")
                .bind(tenant.as_str())
                .bind(ms(before))
                .execute(&mut *self.tx)
                .await?;
        let e = sqlx::query(
            "DELETE FROM webhook_events WHERE tenant_id = $1 AND created_at < $2
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
        )
        .bind(tenant.as_str())
        .bind(ms(before))
        .execute(&mut *self.tx)
        .await?;
        Ok((d.rows_affected(), e.rows_affected()))
    }

    fn secret_aad(id: &WebhookEndpointId, which: &str) -> String {
        format!("webhook_endpoints:{id}:{which}")
    }

    pub async fn insert_webhook_endpoint(&mut self, e: &WebhookEndpoint, secret: &str) -> Result<()> {
        let sealed = self
            .store
            .tenant_keys(&e.tenant_id)
            .seal_text(&Self::secret_aad(&e.id, "secret"), secret.as_bytes());
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, events_json, secret_enc, enabled, created_at, updated_at)
             VALUES ($1, $2, '', '[]', $3, 1, $4, $4)",
        )
        .bind(e.id.as_str())
        .bind(e.tenant_id.as_str())
        .bind(sealed)
        .bind(ms(e.created_at))
        .execute(&mut *self.tx)
        .await?;
        self.update_webhook_endpoint(e).await
    }

    pub async fn update_webhook_endpoint(&mut self, e: &WebhookEndpoint) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_endpoints SET url = $1, description = $2, events_json = $3, enabled = $4, disabled_reason = $5,
             failing_since = $6, updated_at = $7, format = $10 WHERE tenant_id = $8 AND id = $9",
        )
        .bind(&e.url)
        .bind(e.description.clone())
        .bind(to_json(&e.events.to_strings()))
        .bind(i64::from(e.enabled))
        .bind(e.disabled_reason.clone())
        .bind(e.failing_since.map(ms))
        .bind(ms(e.updated_at))
        .bind(e.tenant_id.as_str())
        .bind(e.id.as_str())
        .bind(e.format.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Replace the secret; the old one keeps signing until `old_until`.
    pub async fn rotate_webhook_secret(
        &mut self,
        tenant: &TenantId,
        id: &WebhookEndpointId,
        new: &str,
        old_until: DateTime<Utc>,
    ) -> Result<()> {
        let (current, _) = self.webhook_secrets(tenant, id, old_until).await?;
        let keys = self.store.tenant_keys(tenant);
        sqlx::query(
            "UPDATE webhook_endpoints SET secret_enc = $1, old_secret_enc = $2, old_secret_until = $3 WHERE tenant_id = $4 AND id = $5",
        )
        .bind(keys.seal_text(&Self::secret_aad(id, "secret"), new.as_bytes()))
        .bind(keys.seal_text(&Self::secret_aad(id, "old_secret"), current.as_bytes()))
        .bind(ms(old_until))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The current secret, and the previous one while its overlap window lasts at `now`.
    pub async fn webhook_secrets(
        &mut self,
        tenant: &TenantId,
        id: &WebhookEndpointId,
        now: DateTime<Utc>,
    ) -> Result<(String, Option<String>)> {
        let row =
            sqlx::query("SELECT secret_enc, old_secret_enc, old_secret_until FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_one(&mut *self.tx)
                .await?;
        let keys = self.store.tenant_keys(tenant);
        let open = |which: &str, sealed: &str| -> Result<String> {
            let raw = keys.open_text(&Self::secret_aad(id, which), sealed)?;
            String::from_utf8(raw).map_err(corrupt)
        };
        let current = open("secret", &row.try_get::<String, _>("secret_enc")?)?;
        let old = match (
            row.try_get::<Option<String>, _>("old_secret_enc")?,
            row.try_get::<Option<i64>, _>("old_secret_until")?,
        ) {
            (Some(s), Some(until)) if ms(now) < until => Some(open("old_secret", &s)?),
            _ => None,
        };
        Ok((current, old))
    }

    fn endpoint_from(row: &AnyRow) -> Result<WebhookEndpoint> {
        let events: Vec<String> = from_json(&row.try_get::<String, _>("events_json")?, "events")?;
        Ok(WebhookEndpoint {
            id: parse(row.try_get("id")?, "endpoint id")?,
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            url: row.try_get("url")?,
            description: row.try_get("description")?,
            events: EventFilter::parse(&events).map_err(corrupt)?,
            format: row.try_get::<String, _>("format")?.parse().map_err(corrupt)?,
            enabled: row.try_get::<i64, _>("enabled")? != 0,
            disabled_reason: row.try_get("disabled_reason")?,
            failing_since: opt_ms(row.try_get("failing_since")?)?,
            old_secret_until: opt_ms(row.try_get("old_secret_until")?)?,
            created_at: from_ms(row.try_get("created_at")?)?,
            updated_at: from_ms(row.try_get("updated_at")?)?,
        })
    }

    pub async fn get_webhook_endpoint(&mut self, tenant: &TenantId, id: &WebhookEndpointId) -> Result<Option<WebhookEndpoint>> {
        let row = sqlx::query("SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::endpoint_from).transpose()
    }

    pub async fn list_webhook_endpoints(&mut self, tenant: &TenantId) -> Result<Vec<WebhookEndpoint>> {
        let rows = sqlx::query("SELECT * FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(tenant.as_str())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(Self::endpoint_from).collect()
    }

    pub async fn delete_webhook_endpoint(&mut self, tenant: &TenantId, id: &WebhookEndpointId) -> Result<bool> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        let r = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn insert_webhook_event(&mut self, e: &WebhookEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_events (id, tenant_id, type, object_id, final, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.id.as_str())
        .bind(e.tenant_id.as_str())
        .bind(e.event_type.as_str())
        .bind(&e.object_id)
        .bind(i64::from(e.is_final))
        .bind(&e.payload)
        .bind(ms(e.created_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn get_webhook_event(&mut self, tenant: &TenantId, id: &EventId) -> Result<Option<WebhookEvent>> {
        let row = sqlx::query("SELECT * FROM webhook_events WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(WebhookEvent {
            id: parse(row.try_get("id")?, "event id")?,
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            event_type: parse(row.try_get("type")?, "event type")?,
            object_id: row.try_get("object_id")?,
            is_final: row.try_get::<i64, _>("final")? != 0,
            payload: row.try_get("payload")?,
            created_at: from_ms(row.try_get("created_at")?)?,
        }))
    }

    pub async fn insert_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, status, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
        )
        .bind(d.id.as_str())
        .bind(d.tenant_id.as_str())
        .bind(d.endpoint_id.as_str())
        .bind(d.event_id.as_str())
        .bind(d.status.as_str())
        .bind(ms(d.created_at))
        .execute(&mut *self.tx)
        .await?;
        self.update_webhook_delivery(d).await
    }

    pub async fn update_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<()> {
        let state = DeliveryState {
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error.as_deref(),
            updated_at: d.updated_at,
        };
        self.update_delivery_state("webhook_deliveries", &d.tenant_id, &d.id, &state).await
    }

    /// Record how a delivery of `table` (webhooks' or callbacks') stands.
    pub(crate) async fn update_delivery_state(
        &mut self,
        table: &'static str,
        tenant: &TenantId,
        id: &DeliveryId,
        st: &DeliveryState<'_>,
    ) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE {table} SET status = $1, attempts = $2, next_attempt_at = $3, last_attempt_at = $4,
             last_status_code = $5, last_error = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9"
        ))
        .bind(st.status.as_str())
        .bind(st.attempts)
        .bind(st.next_attempt_at.map(ms))
        .bind(st.last_attempt_at.map(ms))
        .bind(st.last_status_code)
        .bind(st.last_error.map(str::to_owned))
        .bind(ms(st.updated_at))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    fn delivery_from(row: &AnyRow) -> Result<WebhookDelivery> {
        Ok(WebhookDelivery {
            id: parse(row.try_get("id")?, "delivery id")?,
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            endpoint_id: parse(row.try_get("endpoint_id")?, "endpoint id")?,
            event_id: parse(row.try_get("event_id")?, "event id")?,
            status: DeliveryStatus::parse(&row.try_get::<String, _>("status")?).ok_or_else(|| corrupt("delivery status"))?,
            attempts: row.try_get("attempts")?,
            next_attempt_at: opt_ms(row.try_get("next_attempt_at")?)?,
            last_attempt_at: opt_ms(row.try_get("last_attempt_at")?)?,
            last_status_code: row.try_get("last_status_code")?,
            last_error: row.try_get("last_error")?,
            created_at: from_ms(row.try_get("created_at")?)?,
            updated_at: from_ms(row.try_get("updated_at")?)?,
        })
    }

    pub async fn get_webhook_delivery(&mut self, tenant: &TenantId, id: &DeliveryId) -> Result<Option<WebhookDelivery>> {
        let row = sqlx::query("SELECT * FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::delivery_from).transpose()
    }

    /// An endpoint's delivery log, newest first.
    pub async fn list_webhook_deliveries(
        &mut self,
        tenant: &TenantId,
        endpoint: &WebhookEndpointId,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(endpoint.as_str())
        .bind(limit as i64)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(Self::delivery_from).collect()
    }
}
