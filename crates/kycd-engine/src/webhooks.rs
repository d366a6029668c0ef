//! Webhooks: endpoints per tenant, an outbox of events written in the same transaction as
//! the state change that caused them, and signed delivery (Standard Webhooks) with
//! exponential backoff, run from the job queue.
//!
//! Payloads carry the verification's state but no personal data (names, emails, declared
//! or extracted data): a receiver that needs those fetches them over the authenticated API.

use crate::deliveries::{pending_delivery, record_try};
use crate::net_policy::{UrlRefused, check_target};
use crate::required::RequiredReads;
use crate::{Engine, EngineError, Principal, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use kycd_core::*;
use kycd_store::Tx;
pub use kycd_store::{DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent};
use serde_json::{Value, json};
use sha2::Sha256;

pub const JOB_DELIVER: &str = "deliver_webhook";

/// Delay before each retry after a failed attempt (Standard Webhooks' schedule, stretched
/// to just under three days in all).
const RETRY_DELAYS: [i64; 9] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 50_400, 86_400];
/// An endpoint that has failed without a single success for this long is disabled.
const DISABLE_AFTER_DAYS: i64 = 3;

pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    pub events: EventFilter,
    pub format: WebhookFormat,
}

/// A verification event as a dialect renders it in its vendor's webhook shape.
pub struct DialectEvent<'a> {
    /// The id of the event to render (each format's event has its own).
    pub id: &'a EventId,
    pub kycd_type: EventType,
    /// What kycd's own event carries beside the verification (`attempt`, `capture`).
    pub detail: Option<&'a Value>,
    pub verification: &'a Verification,
    pub applicant: Option<&'a Applicant>,
    /// The dialect's state kept beside the verification (its `dialect_state` kind), if any.
    pub state: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

/// A vendor webhook format, implemented by the dialect that owns the vendor's words (the
/// engine knows no vendor's mapping tables). Registered once at startup.
pub trait WebhookRenderer: Send + Sync {
    fn format(&self) -> WebhookFormat;
    /// The `dialect_state` kind to hand to `render`.
    fn state_kind(&self) -> &'static str;
    /// The body for this event, or `None` when the vendor has no event for it.
    fn render(&self, e: &DialectEvent<'_>) -> Option<Value>;
    /// Headers the vendor's receivers check, computed from the body with the endpoint's secret.
    fn headers(&self, secret: &str, body: &[u8]) -> Vec<(&'static str, String)>;
}

#[derive(Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<EventFilter>,
    pub format: Option<WebhookFormat>,
    pub enabled: Option<bool>,
}

fn new_secret() -> String {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut raw);
    format!("whsec_{}", B64.encode(raw))
}

/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>` per Standard Webhooks.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = B64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// Hex HMAC-SHA256 of `body` keyed with `key`: the signature scheme of vendors that sign
/// a webhook body alone (Checkout.com's `Cko-Signature`).
pub fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn refused(e: UrlRefused) -> EngineError {
    EngineError::Invalid(format!("url refused: {e}"))
}

/// The state of a verification as pushed to webhooks: no personal data, and not the
/// integrator's opaque `state` either (it is sealed at rest like PII, and the outbox is not).
pub fn verification_state(v: &Verification) -> Value {
    json!({
        "id": v.id,
        "status": v.status,
        "final": v.status.is_final(),
        "applicant_id": v.applicant_id,
        "reference": v.reference,
        "delivery": v.delivery,
        "policy": v.policy,
        "expires_at": v.expires_at,
        "checks": v.checks,
        // The reviewer's free text (reason, message) stays in kycd: it may name the person.
        "review": v.review.as_ref().map(|r| json!({
            "decision": r.decision,
            "reason_code": r.reason_code,
            "reviewer": r.reviewer,
            "reviewed_at": r.reviewed_at,
            "confirmed_by": r.confirmed_by,
        })),
        "redacted": v.redacted,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
    })
}

impl Engine {
    // ----- endpoints -----------------------------------------------------------------

    async fn checked_url(&self, p: &Principal, url: &str) -> Result<String> {
        let url = crate::net_policy::check_registration(url.trim(), p.mode).await.map_err(refused)?;
        Ok(url.to_string())
    }

    fn check_description(d: &Option<String>) -> Result<()> {
        if d.as_ref().is_some_and(|d| d.chars().count() > 500) {
            return Err(EngineError::Invalid("description must be at most 500 characters".into()));
        }
        Ok(())
    }

    /// Returns the endpoint and its signing secret (shown once).
    pub async fn create_webhook_endpoint(&self, p: &Principal, new: NewEndpoint) -> Result<(WebhookEndpoint, String)> {
        p.require_write()?;
        Self::check_description(&new.description)?;
        let url = self.checked_url(p, &new.url).await?;
        let now = self.now();
        let e = WebhookEndpoint {
            id: WebhookEndpointId::generate(),
            tenant_id: p.tenant_id.clone(),
            url,
            description: new.description,
            events: new.events,
            format: new.format,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            old_secret_until: None,
            created_at: now,
            updated_at: now,
        };
        let secret = new_secret();
        let mut tx = self.store.begin().await?;
        tx.insert_webhook_endpoint(&e, &secret).await?;
        tx.audit(&p.tenant_id, &p.actor(), "webhook_endpoint.created", e.id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok((e, secret))
    }

    /// One event of this tenant, as it was (or will be) delivered.
    pub async fn webhook_event(&self, p: &Principal, id: &EventId) -> Result<WebhookEvent> {
        let mut tx = self.store.begin().await?;
        let ev = tx.get_webhook_event(&p.tenant_id, id).await?;
        tx.commit().await?;
        ev.ok_or(EngineError::NotFound("webhook event"))
    }

    pub async fn list_webhook_endpoints(&self, p: &Principal) -> Result<Vec<WebhookEndpoint>> {
        Ok(self.store.begin().await?.list_webhook_endpoints(&p.tenant_id).await?)
    }

    pub async fn get_webhook_endpoint(&self, p: &Principal, id: &WebhookEndpointId) -> Result<WebhookEndpoint> {
        self.store.begin().await?.required_endpoint(&p.tenant_id, id).await
    }

    pub async fn update_webhook_endpoint(&self, p: &Principal, id: &WebhookEndpointId, patch: EndpointPatch) -> Result<WebhookEndpoint> {
        p.require_write()?;
        Self::check_description(&patch.description)?;
        let url = match &patch.url {
            Some(u) => Some(self.checked_url(p, u).await?),
            None => None,
        };
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut e = tx.required_endpoint(&p.tenant_id, id).await?;
        if let Some(u) = url {
            e.url = u;
        }
        if patch.description.is_some() {
            e.description = patch.description;
        }
        if let Some(ev) = patch.events {
            e.events = ev;
        }
        if let Some(f) = patch.format {
            e.format = f;
        }
        if let Some(on) = patch.enabled {
            e.enabled = on;
            if on {
                e.disabled_reason = None;
                e.failing_since = None;
            } else {
                e.disabled_reason = Some("disabled through the API".into());
            }
        }
        e.updated_at = now;
        tx.update_webhook_endpoint(&e).await?;
        tx.audit(&p.tenant_id, &p.actor(), "webhook_endpoint.updated", e.id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok(e)
    }

    pub async fn delete_webhook_endpoint(&self, p: &Principal, id: &WebhookEndpointId) -> Result<()> {
        p.require_write()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx.delete_webhook_endpoint(&p.tenant_id, id).await? {
            return Err(EngineError::NotFound("webhook endpoint"));
        }
        tx.audit(&p.tenant_id, &p.actor(), "webhook_endpoint.deleted", id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// New secret (shown once); the old one keeps signing, beside it, for `overlap`.
    pub async fn rotate_webhook_secret(
        &self,
        p: &Principal,
        id: &WebhookEndpointId,
        overlap: Duration,
    ) -> Result<(WebhookEndpoint, String)> {
        p.require_write()?;
        if overlap < Duration::zero() || overlap > Duration::days(7) {
            return Err(EngineError::Invalid("overlap_seconds must be between 0 and 604800 (7 days)".into()));
        }
        let now = self.now();
        let secret = new_secret();
        let mut tx = self.store.begin().await?;
        tx.required_endpoint(&p.tenant_id, id).await?;
        tx.rotate_webhook_secret(&p.tenant_id, id, &secret, now + overlap).await?;
        tx.audit(&p.tenant_id, &p.actor(), "webhook_endpoint.secret_rotated", id.as_str(), now)
            .await?;
        let e = tx.required_endpoint(&p.tenant_id, id).await?;
        tx.commit().await?;
        Ok((e, secret))
    }

    pub async fn list_webhook_deliveries(
        &self,
        p: &Principal,
        id: &WebhookEndpointId,
        limit: usize,
    ) -> Result<Vec<(WebhookDelivery, EventType)>> {
        let mut tx = self.store.begin().await?;
        tx.required_endpoint(&p.tenant_id, id).await?;
        let mut out = Vec::new();
        for d in tx.list_webhook_deliveries(&p.tenant_id, id, limit).await? {
            let t = tx
                .get_webhook_event(&p.tenant_id, &d.event_id)
                .await?
                .map_or(EventType::VerificationCreated, |e| e.event_type);
            out.push((d, t));
        }
        Ok(out)
    }

    /// Send an event again to the same endpoint (same event id), as a new delivery.
    pub async fn redeliver(&self, p: &Principal, endpoint: &WebhookEndpointId, delivery: &DeliveryId) -> Result<WebhookDelivery> {
        p.require_write()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let old = tx
            .get_webhook_delivery(&p.tenant_id, delivery)
            .await?
            .filter(|d| &d.endpoint_id == endpoint);
        let old = old.ok_or(EngineError::NotFound("webhook delivery"))?;
        let d = new_delivery(&p.tenant_id, &old.endpoint_id, &old.event_id, now);
        tx.insert_webhook_delivery(&d).await?;
        tx.enqueue_job(&p.tenant_id, JOB_DELIVER, d.id.as_str(), now).await?;
        tx.audit(&p.tenant_id, &p.actor(), "webhook_delivery.redelivered", d.id.as_str(), now)
            .await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(d)
    }

    // ----- outbox ------------------------------------------------------------------

    /// Record an event and queue one delivery per interested endpoint, inside the
    /// caller's transaction: the event exists if and only if the change does.
    pub(crate) async fn emit(
        &self,
        tx: &mut Tx<'_>,
        tenant: &TenantId,
        t: EventType,
        object_id: &str,
        is_final: bool,
        data: Value,
    ) -> Result<()> {
        let now = self.now();
        let id = EventId::generate();
        let payload = json!({ "id": id, "type": t, "created_at": now, "final": is_final, "data": data });
        let ev = WebhookEvent {
            id: id.clone(),
            tenant_id: tenant.clone(),
            event_type: t,
            object_id: object_id.to_owned(),
            is_final,
            payload: payload.to_string(),
            created_at: now,
        };
        tx.insert_webhook_event(&ev).await?;
        for e in tx.list_webhook_endpoints(tenant).await? {
            if e.enabled && e.format == WebhookFormat::Kycd && e.events.matches(t) {
                let d = new_delivery(tenant, &e.id, &id, now);
                tx.insert_webhook_delivery(&d).await?;
                tx.enqueue_job(tenant, JOB_DELIVER, d.id.as_str(), now).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn emit_verification(
        &self,
        tx: &mut Tx<'_>,
        t: EventType,
        v: &Verification,
        extra: Option<(&str, Value)>,
    ) -> Result<()> {
        let mut data = json!({ "verification": verification_state(v) });
        let detail = extra.as_ref().map(|(_, val)| val.clone());
        if let (Some((k, val)), Some(obj)) = (extra, data.as_object_mut()) {
            obj.insert(k.to_owned(), val);
        }
        let is_final = v.status.is_final() || matches!(t, EventType::Deleted | EventType::Anonymized);
        self.emit(tx, &v.tenant_id, t, v.id.as_str(), is_final, data).await?;
        self.emit_dialects(tx, t, v, detail.as_ref(), is_final).await?;
        self.emit_callbacks(tx, t, v).await
    }

    /// The same change in each registered vendor format that has endpoints for it: an
    /// event of its own (own id and body) and one delivery per such endpoint.
    async fn emit_dialects(&self, tx: &mut Tx<'_>, t: EventType, v: &Verification, detail: Option<&Value>, is_final: bool) -> Result<()> {
        let renderers = self.webhook_renderers();
        if renderers.is_empty() {
            return Ok(());
        }
        let endpoints: Vec<WebhookEndpoint> = tx
            .list_webhook_endpoints(&v.tenant_id)
            .await?
            .into_iter()
            .filter(|e| e.enabled && e.format != WebhookFormat::Kycd && e.events.matches(t))
            .collect();
        if endpoints.is_empty() {
            return Ok(());
        }
        let applicant = tx.get_applicant(&v.tenant_id, &v.applicant_id).await?;
        let now = self.now();
        for r in renderers {
            let targets: Vec<&WebhookEndpoint> = endpoints.iter().filter(|e| e.format == r.format()).collect();
            if targets.is_empty() {
                continue;
            }
            let state = tx.get_dialect_state(&v.tenant_id, v.id.as_str(), r.state_kind()).await?;
            let id = EventId::generate();
            let Some(body) = r.render(&DialectEvent {
                id: &id,
                kycd_type: t,
                detail,
                verification: v,
                applicant: applicant.as_ref(),
                state: state.as_deref(),
                created_at: now,
            }) else {
                continue;
            };
            tx.insert_webhook_event(&WebhookEvent {
                id: id.clone(),
                tenant_id: v.tenant_id.clone(),
                event_type: t,
                object_id: v.id.as_str().to_owned(),
                is_final,
                payload: body.to_string(),
                created_at: now,
            })
            .await?;
            for e in targets {
                let d = new_delivery(&v.tenant_id, &e.id, &id, now);
                tx.insert_webhook_delivery(&d).await?;
                tx.enqueue_job(&v.tenant_id, JOB_DELIVER, d.id.as_str(), now).await?;
            }
        }
        Ok(())
    }

    // ----- delivery ----------------------------------------------------------------

    /// One delivery attempt (the job). Failures schedule the next attempt as a new job.
    pub(crate) async fn deliver_webhook(&self, tenant: &TenantId, id: &DeliveryId) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(mut d) = tx.get_webhook_delivery(tenant, id).await? else {
            return Ok(());
        };
        if d.status != DeliveryStatus::Pending {
            return Ok(());
        }
        let endpoint = tx.get_webhook_endpoint(tenant, &d.endpoint_id).await?;
        let Some(mut endpoint) = endpoint.filter(|e| e.enabled) else {
            metrics::counter!("kycd_webhook_deliveries_total", "outcome" => "endpoint_disabled").increment(1);
            d.status = DeliveryStatus::Failed;
            d.last_error = Some("the endpoint is disabled or was deleted".into());
            d.updated_at = now;
            tx.update_webhook_delivery(&d).await?;
            return Ok(tx.commit().await?);
        };
        let event = tx
            .get_webhook_event(tenant, &d.event_id)
            .await?
            .ok_or(EngineError::NotFound("webhook event"))?;
        let (secret, old_secret) = tx.webhook_secrets(tenant, &endpoint.id, now).await?;
        let mode = tx.get_tenant(tenant).await?.map_or(Mode::Live, |t| t.mode);
        tx.commit().await?;

        let extra = self
            .webhook_renderers()
            .iter()
            .find(|r| r.format() == endpoint.format)
            .map(|r| r.headers(&secret, event.payload.as_bytes()))
            .unwrap_or_default();
        let outcome = self
            .post_event(&endpoint.url, mode, &event, (&secret, old_secret.as_deref()), &extra, now)
            .await;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let retry_at = record_try!(d, &outcome, &RETRY_DELAYS, now);
        let counted = match (&outcome, retry_at) {
            (Ok(_), _) => "succeeded",
            (Err(_), Some(_)) => "failed_will_retry",
            (Err(_), None) => "failed_gave_up",
        };
        metrics::counter!("kycd_webhook_deliveries_total", "outcome" => counted).increment(1);
        if let Some(at) = retry_at {
            tx.enqueue_job(tenant, JOB_DELIVER, d.id.as_str(), at).await?;
        }
        match outcome {
            Ok(_) => {
                if endpoint.failing_since.is_some() {
                    endpoint.failing_since = None;
                    endpoint.updated_at = now;
                    tx.update_webhook_endpoint(&endpoint).await?;
                }
            }
            Err(_) => {
                let since = *endpoint.failing_since.get_or_insert(now);
                if now - since >= Duration::days(DISABLE_AFTER_DAYS) && endpoint.enabled {
                    endpoint.enabled = false;
                    endpoint.disabled_reason = Some(format!("every delivery failed for {DISABLE_AFTER_DAYS} days"));
                    tx.audit(tenant, &Actor::System, "webhook_endpoint.disabled", endpoint.id.as_str(), now)
                        .await?;
                    let data = json!({"webhook_endpoint": {"id": endpoint.id, "url": endpoint.url, "reason": endpoint.disabled_reason}});
                    self.emit(&mut tx, tenant, EventType::EndpointDisabled, endpoint.id.as_str(), true, data)
                        .await?;
                }
                endpoint.updated_at = now;
                tx.update_webhook_endpoint(&endpoint).await?;
            }
        }
        tx.update_webhook_delivery(&d).await?;
        tx.commit().await?;
        Ok(())
    }

    /// POST the event; `Ok(status)` on 2xx, else the status (if any) and what went wrong.
    async fn post_event(
        &self,
        url: &str,
        mode: Mode,
        event: &WebhookEvent,
        (secret, old_secret): (&str, Option<&str>),
        extra_headers: &[(&'static str, String)],
        now: DateTime<Utc>,
    ) -> crate::net_policy::Delivered {
        let (url, pinned) = check_target(url, mode)
            .await
            .map_err(|e| (None, crate::net_policy::refused_at_delivery(&e)))?;
        let ts = now.timestamp();
        let body = event.payload.as_bytes();
        let mut sigs: Vec<String> = [Some(secret), old_secret]
            .into_iter()
            .flatten()
            .filter_map(|s| sign(s, event.id.as_str(), ts, body))
            .collect();
        sigs.dedup();
        let client = crate::net_policy::outbound_client(
            &url,
            pinned,
            self.cfg.delivery_timeout,
            concat!("kycd-webhooks/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(|e| (None, e.to_string()))?;
        let mut req = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", event.id.as_str())
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sigs.join(" "));
        for (k, v) in extra_headers {
            req = req.header(*k, v);
        }
        crate::net_policy::send(req.body(event.payload.clone()), "the endpoint").await
    }
}

/// When to try again after the `attempts`-th failed attempt, from a schedule of delays in
/// seconds; `None` once the schedule is spent.
pub(crate) fn next_retry(delays: &[i64], attempts: i64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let delay = delays.get(usize::try_from(attempts - 1).ok()?)?;
    Some(now + Duration::seconds(*delay))
}

fn new_delivery(tenant: &TenantId, endpoint: &WebhookEndpointId, event: &EventId, now: DateTime<Utc>) -> WebhookDelivery {
    pending_delivery!(
        WebhookDelivery {
            id: DeliveryId::generate(),
            tenant_id: tenant.clone(),
            endpoint_id: endpoint.clone(),
            event_id: event.clone(),
        },
        now
    )
}

#[cfg(test)]
mod tests;
