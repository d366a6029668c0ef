//! Webhook endpoints, the event outbox and the delivery log. Endpoint secrets are sealed
//! with the tenant key (they are needed in clear to sign, so they cannot be hashed).

use crate::repo::{Binds, Columns, FromRow, corrupt, from_json, to_json};
use crate::{Result, Store, Tx, from_ms, ms};
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

/// A webhook or a callback delivery: the table it is kept in, and the log both keep of
/// its attempts.
pub(crate) trait Delivery {
    const TABLE: &'static str;
    fn tenant_id(&self) -> &TenantId;
    fn id(&self) -> &DeliveryId;
    fn state(&self) -> DeliveryState<'_>;
}

/// [`Delivery`] for a delivery type kept in `$table` (a macro: the two delivery types
/// share these fields, not a type).
macro_rules! impl_delivery {
    ($ty:ident, $table:literal) => {
        impl crate::repo_webhooks::Delivery for $ty {
            const TABLE: &'static str = $table;
            fn tenant_id(&self) -> &TenantId {
                &self.tenant_id
            }
            fn id(&self) -> &DeliveryId {
                &self.id
            }
            fn state(&self) -> crate::repo_webhooks::DeliveryState<'_> {
                crate::repo_webhooks::DeliveryState {
                    status: self.status,
                    attempts: self.attempts,
                    next_attempt_at: self.next_attempt_at,
                    last_attempt_at: self.last_attempt_at,
                    last_status_code: self.last_status_code,
                    last_error: self.last_error.as_deref(),
                    updated_at: self.updated_at,
                }
            }
        }
    };
}
pub(crate) use impl_delivery;

impl_delivery!(WebhookDelivery, "webhook_deliveries");

/// The struct literal `$ty { $field: $value, … }` of a webhook or callback delivery, the
/// delivery-log fields both keep read from `$row` (`$what` names its status in errors).
macro_rules! with_delivery_log {
    ($row:expr, $what:literal, $ty:ident { $($field:ident $(: $value:expr)?),* $(,)? }) => {
        $ty {
            $($field $(: $value)?,)*
            status: $crate::DeliveryStatus::parse(&$row.try_get::<String, _>("status")?).ok_or_else(|| $crate::corrupt($what))?,
            attempts: $row.try_get("attempts")?,
            next_attempt_at: $row.opt_time("next_attempt_at")?,
            last_attempt_at: $row.opt_time("last_attempt_at")?,
            last_status_code: $row.try_get("last_status_code")?,
            last_error: $row.try_get("last_error")?,
            created_at: $crate::from_ms($row.try_get("created_at")?)?,
            updated_at: $crate::from_ms($row.try_get("updated_at")?)?,
        }
    };
}
pub(crate) use with_delivery_log;

impl Tx<'_> {
    /// Forget the tenant's finished deliveries (succeeded or failed) last touched before
    /// `before`, then the events no delivery refers to any more that are older than that.
    /// Pending deliveries and their events stay. Returns (deliveries, events) removed.
    pub async fn prune_webhook_history(&mut self, tenant: &TenantId, before: DateTime<Utc>) -> Result<(u64, u64)> {
        let binds = (tenant.as_str(), ms(before));
        let d = self
            .rows_affected(
                "DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND status IN ('succeeded', 'failed') AND updated_at < $2",
                binds,
            )
            .await?;
        let e = self
            .rows_affected(
                "DELETE FROM webhook_events WHERE tenant_id = $1 AND created_at < $2
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
                binds,
            )
            .await?;
        Ok((d, e))
    }

    fn secret_aad(id: &WebhookEndpointId, which: &str) -> String {
        crate::sealed::aad::webhook_secret(id.as_str(), which)
    }

    pub async fn insert_webhook_endpoint(&mut self, e: &WebhookEndpoint, secret: &str) -> Result<()> {
        let sealed = self
            .keys(&e.tenant_id)
            .seal_text(&Self::secret_aad(&e.id, "secret"), secret.as_bytes());
        self.execute(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, events_json, secret_enc, enabled, created_at, updated_at)
             VALUES ($1, $2, '', '[]', $3, 1, $4, $4)",
            (e.id.as_str(), e.tenant_id.as_str(), sealed, ms(e.created_at)),
        )
        .await?;
        self.update_webhook_endpoint(e).await
    }

    pub async fn update_webhook_endpoint(&mut self, e: &WebhookEndpoint) -> Result<()> {
        let events = to_json(&e.events.to_strings());
        self.execute(
            "UPDATE webhook_endpoints SET url = $1, description = $2, events_json = $3, enabled = $4, disabled_reason = $5,
             failing_since = $6, updated_at = $7, format = $10 WHERE tenant_id = $8 AND id = $9",
            (
                &e.url,
                e.description.clone(),
                events,
                i64::from(e.enabled),
                e.disabled_reason.clone(),
                e.failing_since.map(ms),
                ms(e.updated_at),
                e.tenant_id.as_str(),
                e.id.as_str(),
                e.format.as_str(),
            ),
        )
        .await
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
        let keys = self.keys(tenant);
        let new = keys.seal_text(&Self::secret_aad(id, "secret"), new.as_bytes());
        let old = keys.seal_text(&Self::secret_aad(id, "old_secret"), current.as_bytes());
        self.execute(
            "UPDATE webhook_endpoints SET secret_enc = $1, old_secret_enc = $2, old_secret_until = $3 WHERE tenant_id = $4 AND id = $5",
            (new, old, ms(old_until), tenant.as_str(), id.as_str()),
        )
        .await
    }

    /// The current secret, and the previous one while its overlap window lasts at `now`.
    pub async fn webhook_secrets(
        &mut self,
        tenant: &TenantId,
        id: &WebhookEndpointId,
        now: DateTime<Utc>,
    ) -> Result<(String, Option<String>)> {
        let row = self
            .fetch_one(
                "SELECT secret_enc, old_secret_enc, old_secret_until FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
                (tenant.as_str(), id.as_str()),
            )
            .await?;
        let keys = self.keys(tenant);
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
}

impl FromRow for WebhookEndpoint {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        let events: Vec<String> = from_json(&row.try_get::<String, _>("events_json")?, "events")?;
        Ok(Self {
            id: row.parsed("id", "endpoint id")?,
            tenant_id: row.tenant_id()?,
            url: row.try_get("url")?,
            description: row.try_get("description")?,
            events: EventFilter::parse(&events).map_err(corrupt)?,
            format: row.try_get::<String, _>("format")?.parse().map_err(corrupt)?,
            enabled: row.flag("enabled")?,
            disabled_reason: row.try_get("disabled_reason")?,
            failing_since: row.opt_time("failing_since")?,
            old_secret_until: row.opt_time("old_secret_until")?,
            created_at: from_ms(row.try_get("created_at")?)?,
            updated_at: from_ms(row.try_get("updated_at")?)?,
        })
    }
}

impl Tx<'_> {
    pub async fn get_webhook_endpoint(&mut self, tenant: &TenantId, id: &WebhookEndpointId) -> Result<Option<WebhookEndpoint>> {
        self.find_by_id("webhook_endpoints", tenant, id.as_str()).await
    }

    pub async fn list_webhook_endpoints(&mut self, tenant: &TenantId) -> Result<Vec<WebhookEndpoint>> {
        self.find_all_of_tenant("webhook_endpoints", tenant).await
    }

    pub async fn delete_webhook_endpoint(&mut self, tenant: &TenantId, id: &WebhookEndpointId) -> Result<bool> {
        self.delete_where("webhook_deliveries", "endpoint_id", tenant, id.as_str()).await?;
        Ok(self.delete_where("webhook_endpoints", "id", tenant, id.as_str()).await? > 0)
    }

    pub async fn insert_webhook_event(&mut self, e: &WebhookEvent) -> Result<()> {
        self.execute(
            "INSERT INTO webhook_events (id, tenant_id, type, object_id, final, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            (
                e.id.as_str(),
                e.tenant_id.as_str(),
                e.event_type.as_str(),
                &e.object_id,
                i64::from(e.is_final),
                &e.payload,
                ms(e.created_at),
            ),
        )
        .await
    }

    pub async fn get_webhook_event(&mut self, tenant: &TenantId, id: &EventId) -> Result<Option<WebhookEvent>> {
        self.find_by_id("webhook_events", tenant, id.as_str()).await
    }
}

impl FromRow for WebhookEvent {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(Self {
            id: row.parsed("id", "event id")?,
            tenant_id: row.tenant_id()?,
            event_type: row.parsed("type", "event type")?,
            object_id: row.try_get("object_id")?,
            is_final: row.flag("final")?,
            payload: row.try_get("payload")?,
            created_at: from_ms(row.try_get("created_at")?)?,
        })
    }
}

impl Tx<'_> {
    pub async fn insert_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<()> {
        self.insert_delivery(
            d,
            "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, status, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
            (
                d.id.as_str(),
                d.tenant_id.as_str(),
                d.endpoint_id.as_str(),
                d.event_id.as_str(),
                d.status.as_str(),
                ms(d.created_at),
            ),
        )
        .await
    }

    pub async fn update_webhook_delivery(&mut self, d: &WebhookDelivery) -> Result<()> {
        self.update_delivery(d).await
    }

    /// Insert a delivery's row (`sql` with `binds`), then record how it stands.
    pub(crate) async fn insert_delivery<'q, D: Delivery>(&mut self, d: &D, sql: &'q str, binds: impl Binds<'q>) -> Result<()> {
        self.execute(sql, binds).await?;
        self.update_delivery(d).await
    }

    /// Record how a delivery (a webhook's or a callback's) stands.
    pub(crate) async fn update_delivery<D: Delivery>(&mut self, d: &D) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET status = $1, attempts = $2, next_attempt_at = $3, last_attempt_at = $4,
             last_status_code = $5, last_error = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9",
            D::TABLE
        );
        let st = d.state();
        self.execute(
            &sql,
            (
                st.status.as_str(),
                st.attempts,
                st.next_attempt_at.map(ms),
                st.last_attempt_at.map(ms),
                st.last_status_code,
                st.last_error.map(str::to_owned),
                ms(st.updated_at),
                d.tenant_id().as_str(),
                d.id().as_str(),
            ),
        )
        .await
    }
}

impl FromRow for WebhookDelivery {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(with_delivery_log!(
            row,
            "delivery status",
            WebhookDelivery {
                id: row.parsed("id", "delivery id")?,
                tenant_id: row.tenant_id()?,
                endpoint_id: row.parsed("endpoint_id", "endpoint id")?,
                event_id: row.parsed("event_id", "event id")?,
            }
        ))
    }
}

impl Tx<'_> {
    pub async fn get_webhook_delivery(&mut self, tenant: &TenantId, id: &DeliveryId) -> Result<Option<WebhookDelivery>> {
        self.find_by_id("webhook_deliveries", tenant, id.as_str()).await
    }

    /// An endpoint's delivery log, newest first.
    pub async fn list_webhook_deliveries(
        &mut self,
        tenant: &TenantId,
        endpoint: &WebhookEndpointId,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>> {
        self.find_all(
            "SELECT * FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
            (tenant.as_str(), endpoint.as_str(), limit as i64),
        )
        .await
    }
}
