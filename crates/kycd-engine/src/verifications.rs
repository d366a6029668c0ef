//! Verifications: creation, loading within the tenant, the state transitions and their
//! events, cancellation.

use crate::required::RequiredReads;
use crate::{ApplicantRef, Engine, EngineError, Page, Principal, Result, close_active_attempts, liveness, net_policy};
use chrono::Duration;
use kycd_core::{
    Actor, AttemptStatus, DeclaredData, DeliveryChannel, EventType, HostReference, Lifecycle, Policy, TenantId, Verification,
    VerificationId, VerificationPrivate, VerificationStatus,
};
use kycd_store::{Cursor, Tx};

pub struct NewVerification {
    pub applicant: ApplicantRef,
    pub declared: DeclaredData,
    pub reference: HostReference,
    pub delivery: DeliveryChannel,
    pub callback_url: Option<String>,
    pub state: Option<String>,
    pub time_to_live: Option<Duration>,
    pub policy: Option<Policy>,
    /// Its own retention period, within the tenant's bounds (else the tenant's default).
    pub retention_days: Option<u32>,
}

impl NewVerification {
    /// A verification of `applicant` checked against `declared`, with kycd's defaults for
    /// the rest: no host reference, delivery, callback or state, the default time to live,
    /// the tenant's policy and retention.
    pub fn of(applicant: ApplicantRef, declared: DeclaredData) -> Self {
        Self {
            applicant,
            declared,
            reference: HostReference::default(),
            delivery: DeliveryChannel::None,
            callback_url: None,
            state: None,
            time_to_live: None,
            policy: None,
            retention_days: None,
        }
    }
}

impl Engine {
    pub async fn create_verification(&self, p: &Principal, new: NewVerification) -> Result<Verification> {
        p.require_write()?;
        if let Some(url) = &new.callback_url {
            net_policy::check_registration(url, p.mode)
                .await
                .map_err(|e| EngineError::Invalid(format!("callback_url refused: {e}")))?;
        }
        self.in_tx(async |tx| self.insert_verification(tx, p, new).await).await
    }

    /// Create a verification inside the caller's transaction (its `callback_url` already
    /// checked).
    pub(crate) async fn insert_verification(&self, tx: &mut Tx<'_>, p: &Principal, new: NewVerification) -> Result<Verification> {
        let now = self.now();
        let ttl = new.time_to_live.unwrap_or(self.cfg.default_time_to_live);
        // The request's own policy, else the tenant's current default, else kycd's.
        let (policy, policy_version) = match new.policy {
            Some(own) => (own, None),
            None => match tx.tenant_policies(&p.tenant_id, 1).await?.pop() {
                Some(r) => (r.policy, Some(r.version)),
                None => (Policy::default(), None),
            },
        };
        policy.validate().map_err(EngineError::Invalid)?;
        if let Some(days) = new.retention_days {
            let tenant = tx.required_tenant(&p.tenant_id).await?;
            tenant.retention.check_request(days).map_err(EngineError::Invalid)?;
        }
        let applicant_id = match new.applicant {
            ApplicantRef::Existing(id) => {
                let a = tx.required_applicant(&p.tenant_id, &id).await?;
                a.id
            }
            ApplicantRef::Inline(a) => self.insert_applicant(tx, p, a).await?.id,
        };
        let v = Verification {
            id: VerificationId::generate(),
            tenant_id: p.tenant_id.clone(),
            applicant_id,
            status: VerificationStatus::Created,
            reference: new.reference,
            delivery: new.delivery,
            private: VerificationPrivate {
                declared: new.declared,
                callback_url: new.callback_url,
                state: new.state,
                extracted: None,
                retry_message: None,
            },
            policy,
            expires_at: now + ttl,
            checks: Vec::new(),
            review: None,
            redacted: false,
            lifecycle: Lifecycle {
                retention_days: new.retention_days,
                ..Lifecycle::default()
            },
            created_at: now,
            updated_at: now,
        };
        tx.insert_verification(&v).await?;
        tx.audit(&p.tenant_id, &p.actor(), "verification.created", v.id.as_str(), now)
            .await?;
        if let Some(version) = policy_version {
            // Which version of the tenant's policy it runs under (the policy itself is stored with it).
            tx.audit(&p.tenant_id, &p.actor(), &format!("policy.applied.v{version}"), v.id.as_str(), now)
                .await?;
        }
        self.emit_verification(tx, EventType::VerificationCreated, &v, None).await?;
        Ok(v)
    }

    /// Load inside a transaction, marking it expired first if its time ran out.
    pub(crate) async fn load(&self, tx: &mut Tx<'_>, tenant: &TenantId, id: &VerificationId) -> Result<Verification> {
        let mut v = tx.required_verification(tenant, id).await?;
        let now = self.now();
        if v.is_overdue(now) {
            self.transition(tx, &mut v, VerificationStatus::Expired, &Actor::System).await?;
        }
        Ok(v)
    }

    pub(crate) async fn transition(&self, tx: &mut Tx<'_>, v: &mut Verification, to: VerificationStatus, actor: &Actor) -> Result<()> {
        if !v.status.can_transition_to(to) {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; it cannot become {to}",
                v.status
            )));
        }
        let now = self.now();
        // Counted as the change is written (a transaction that then fails to commit,
        // which answers 500 and is logged, counts once too many).
        metrics::counter!("kycd_verification_transitions_total", "status" => to.to_string()).increment(1);
        if matches!(to, VerificationStatus::Approved | VerificationStatus::Declined) {
            let by = if matches!(actor, Actor::System) { "system" } else { "reviewer" };
            metrics::counter!("kycd_verification_decisions_total", "decision" => to.to_string(), "by" => by).increment(1);
        }
        if to == VerificationStatus::Expired {
            v.checks.extend(liveness::timeout_check(tx, v).await?);
        }
        v.status = to;
        v.updated_at = now;
        if to.is_final() {
            // The retention clock starts when the verification ends.
            let retention = tx.get_tenant(&v.tenant_id).await?.map(|t| t.retention).unwrap_or_default();
            let days = retention.days_for(v.lifecycle.retention_days);
            v.lifecycle.retain_until = Some(now + Duration::days(i64::from(days)));
        }
        tx.update_verification(v).await?;
        tx.audit(&v.tenant_id, actor, &format!("verification.status.{to}"), v.id.as_str(), now)
            .await?;
        if let Some(event) = EventType::for_status(to) {
            self.emit_verification(tx, event, v, None).await?;
        }
        if to.is_final() {
            let closed = if to == VerificationStatus::Expired {
                AttemptStatus::Expired
            } else {
                AttemptStatus::Cancelled
            };
            close_active_attempts(tx, &v.tenant_id, &v.id, closed, now).await?;
        }
        Ok(())
    }

    pub async fn get_verification(&self, p: &Principal, id: &VerificationId) -> Result<Verification> {
        self.in_tx(async |tx| self.load(tx, &p.tenant_id, id).await).await
    }

    pub async fn list_verifications(
        &self,
        p: &Principal,
        status: Option<VerificationStatus>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Verification>> {
        let cursor = cursor.map(Cursor::decode).transpose()?;
        Ok(self
            .store
            .begin()
            .await?
            .list_verifications(&p.tenant_id, status, cursor.as_ref(), limit)
            .await?)
    }

    pub async fn cancel_verification(&self, p: &Principal, id: &VerificationId) -> Result<Verification> {
        p.require_write()?;
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, &p.tenant_id, id).await?;
        if v.status.is_final() {
            return Err(EngineError::Conflict(format!(
                "the verification is already {}; only an open verification can be cancelled",
                v.status
            )));
        }
        self.transition(&mut tx, &mut v, VerificationStatus::Cancelled, &p.actor()).await?;
        tx.commit().await?;
        Ok(v)
    }
}
