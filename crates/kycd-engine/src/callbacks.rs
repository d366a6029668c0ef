//! Callbacks: a GET to a URL the integrator gave with one verification, when it changes
//! (Skribble's `callback_success_url` / `callback_error_url` / `callback_update_url`).
//! Which change calls which URL is the dialect's word ([`CallbackRenderer`]); queueing and
//! delivery are the engine's, through the same machinery as webhooks: a row written in
//! the transaction of the change (the outbox), a job that delivers it, the network policy
//! checked when the URL is given and again, pinned, at each attempt, no redirects, and
//! retries on a schedule the dialect names. A handler never fetches a URL itself.

use crate::deliveries::{pending_delivery, record_try};
use crate::net_policy::{Delivered, check_target, outbound_client, send};
use crate::required::RequiredReads;
use crate::{Engine, EngineError, Principal, Result};
use kycd_core::*;
use kycd_store::{CallbackDelivery, DeliveryStatus, Tx};
use std::sync::Arc;

pub const JOB_CALLBACK: &str = "deliver_callback";

/// A change of a verification that has callbacks.
pub struct CallbackEvent<'a> {
    pub kycd_type: EventType,
    /// The verification as changed.
    pub verification: &'a Verification,
    /// Every verification of its signature request (`reference.signature_request_id`), this
    /// one included as changed, oldest first; empty when it has none.
    pub siblings: &'a [Verification],
    /// The dialect's state kept beside the verification (its renderer's kind), as JSON.
    pub state: &'a str,
}

/// One callback to make: what the dialect calls it, and the URL to GET.
pub struct Callback {
    pub label: &'static str,
    pub url: String,
}

/// A dialect's callbacks. Registered once at startup; asked on every change of a
/// verification that has dialect state of its kind.
pub trait CallbackRenderer: Send + Sync {
    /// The `dialect_state` kind that holds the callback URLs; also names the deliveries.
    /// That state is erased when the verification is anonymized (once the callbacks of
    /// its cancellation are queued).
    fn kind(&self) -> &'static str;
    /// The URLs to GET for this change, placeholders filled in (none for most changes).
    fn callbacks(&self, e: &CallbackEvent<'_>) -> Vec<Callback>;
    /// Seconds to wait before each retry after a failed attempt; its length is the number
    /// of retries.
    fn retry_delays(&self) -> &'static [i64];
}

impl Engine {
    /// Register a dialect's callbacks (one per kind; a second registration replaces it).
    pub fn register_callback_renderer(&self, r: Arc<dyn CallbackRenderer>) {
        let mut list = self.callback_renderers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        list.retain(|x| x.kind() != r.kind());
        list.push(r);
    }

    pub(crate) fn callback_renderers(&self) -> Vec<Arc<dyn CallbackRenderer>> {
        self.callback_renderers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A callback URL as the integrator gives it, checked like a webhook URL (in live mode
    /// https only, never an internal address). `field` names it in the refusal.
    pub async fn check_callback_url(&self, p: &Principal, field: &str, url: &str) -> Result<String> {
        if url.len() > 2048 {
            return Err(EngineError::Invalid(format!("{field} must be at most 2048 characters")));
        }
        let url = crate::net_policy::check_registration(url.trim(), p.mode)
            .await
            .map_err(|e| EngineError::Invalid(format!("{field} refused: {e}")))?;
        Ok(url.to_string())
    }

    /// Queue the callbacks a change calls for, inside the change's transaction.
    pub(crate) async fn emit_callbacks(&self, tx: &mut Tx<'_>, t: EventType, v: &Verification) -> Result<()> {
        let renderers = self.callback_renderers();
        if renderers.is_empty() {
            return Ok(());
        }
        let mut siblings: Option<Vec<Verification>> = None;
        for r in renderers {
            let Some(state) = tx.get_dialect_state(&v.tenant_id, v.id.as_str(), r.kind()).await? else {
                continue;
            };
            if siblings.is_none() {
                siblings = Some(match &v.reference.signature_request_id {
                    Some(sr) => tx.find_verifications_by_signature_request(&v.tenant_id, sr).await?,
                    None => Vec::new(),
                });
            }
            let calls = r.callbacks(&CallbackEvent {
                kycd_type: t,
                verification: v,
                siblings: siblings.as_deref().unwrap_or_default(),
                state: &state,
            });
            let now = self.now();
            for Callback { label, url } in calls {
                let d = pending_delivery!(
                    CallbackDelivery {
                        id: DeliveryId::generate(),
                        tenant_id: v.tenant_id.clone(),
                        verification_id: v.id.clone(),
                        kind: r.kind().to_owned(),
                        label: label.to_owned(),
                        url,
                    },
                    now
                );
                tx.insert_callback_delivery(&d).await?;
                tx.enqueue_job(&v.tenant_id, JOB_CALLBACK, d.id.as_str(), now).await?;
            }
        }
        Ok(())
    }

    /// A verification's callbacks and how their delivery went, oldest first.
    pub async fn list_callbacks(&self, p: &Principal, id: &VerificationId) -> Result<Vec<CallbackDelivery>> {
        let mut tx = self.store.begin().await?;
        tx.required_verification(&p.tenant_id, id).await?;
        Ok(tx.list_callback_deliveries(&p.tenant_id, id).await?)
    }

    /// One delivery attempt (the job). A failure schedules the next attempt as a new job.
    pub(crate) async fn deliver_callback(&self, tenant: &TenantId, id: &DeliveryId) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let Some(mut d) = tx.get_callback_delivery(tenant, id).await? else {
            return Ok(());
        };
        if d.status != DeliveryStatus::Pending {
            return Ok(());
        }
        let mode = tx.get_tenant(tenant).await?.map_or(Mode::Live, |t| t.mode);
        tx.commit().await?;

        let outcome = call(&d.url, mode, self.cfg.delivery_timeout).await;
        let delays = self
            .callback_renderers()
            .iter()
            .find(|r| r.kind() == d.kind)
            .map(|r| r.retry_delays())
            .unwrap_or_default();
        let mut tx = self.store.begin().await?;
        if let Some(at) = record_try!(d, &outcome, delays, self.now()) {
            tx.enqueue_job(tenant, JOB_CALLBACK, d.id.as_str(), at).await?;
        }
        tx.update_callback_delivery(&d).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// GET the URL, checked and pinned again.
async fn call(url: &str, mode: Mode, timeout: std::time::Duration) -> Delivered {
    let (url, pinned) = check_target(url, mode)
        .await
        .map_err(|e| (None, crate::net_policy::refused_at_delivery(&e)))?;
    let client = outbound_client(&url, pinned, timeout, concat!("kycd-callbacks/", env!("CARGO_PKG_VERSION")))
        .map_err(|e| (None, e.without_url().to_string()))?;
    send(client.get(url), "the callback URL").await
}
