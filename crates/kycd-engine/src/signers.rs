//! Signers of host documents (e-signature flows): the verification of one signer of one
//! document, found by the document id, the signer's email or phone (through the applicants'
//! blind indexes) and the signer's position in the signing order; and the sender identities
//! a tenant's account may act for (`OnBehalfOf`).
//!
//! Everything is tenant-scoped: a document, a signer or a file of another tenant is simply
//! not found. A verification opened on behalf of a sender identity is bound to it: reading
//! it takes the same identity, and the account itself (no identity) cannot read it, nor
//! the other way round.

use crate::required::RequiredReads;
use crate::{ApplicantRef, Engine, EngineError, NewApplicant, NewVerification, Principal, Result, StartedAttempt};
use chrono::{DateTime, Utc};
use kycd_core::*;
use kycd_store::{SenderIdentity, Tx};
use std::collections::HashSet;

/// `EngineError::NotFound` subjects of this module (the dialect maps each to its words).
pub mod missing {
    /// No verification of this tenant refers to the document.
    pub const DOCUMENT: &str = "document";
    /// The document has no verification for a person with this email or phone.
    pub const SIGNER: &str = "signer";
    /// The signer is on the document, but not at the requested position.
    pub const SIGNER_ORDER: &str = "signer at this order";
    /// `OnBehalfOf` names no sender identity of the tenant.
    pub const SENDER_IDENTITY: &str = "sender identity";
}

/// Dialect state kind under which a verification's sender identity is kept.
const SENDER_STATE: &str = "sender_identity";

/// How the signer is named: the email the request was delivered to, the phone number (SMS,
/// WhatsApp), or both (either may match).
#[derive(Debug, Clone)]
pub enum SignerRef {
    Email(Email),
    Phone(Phone),
    Both(Email, Phone),
}

impl SignerRef {
    fn email(&self) -> Option<&Email> {
        match self {
            Self::Email(e) | Self::Both(e, _) => Some(e),
            Self::Phone(_) => None,
        }
    }
    fn phone(&self) -> Option<&Phone> {
        match self {
            Self::Phone(p) | Self::Both(_, p) => Some(p),
            Self::Email(_) => None,
        }
    }
}

/// One signer of one host document.
#[derive(Debug, Clone)]
pub struct SignerQuery {
    pub document_id: String,
    pub signer: SignerRef,
    /// Position in the signing order (1-based); required only when the same person signs
    /// at several positions. A verification without an order counts as position 1.
    pub order: Option<u32>,
    /// The sender identity acting (its email); `None`: the account itself.
    pub on_behalf_of: Option<Email>,
}

/// A signer's verification with what a report shows.
pub struct SignerReport {
    pub verification: Verification,
    pub attempts: Vec<Attempt>,
    pub captures: Vec<Capture>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SenderState {
    sender_identity_id: String,
}

fn order_of(v: &Verification) -> u32 {
    v.reference.signer_order.unwrap_or(1)
}

impl Engine {
    // ----- sender identities (operator) ------------------------------------------------

    /// Add a sender identity to a tenant (`kycd sender add`). Conflict when the tenant
    /// already has one with this email address.
    pub async fn add_sender_identity(&self, tenant: &TenantId, email: Email, name: Option<PersonalText>) -> Result<SenderIdentity> {
        let now = self.now();
        let s = SenderIdentity {
            id: format!("snd_{}", random_token(24)),
            tenant_id: tenant.clone(),
            email,
            name,
            created_at: now,
        };
        let mut tx = self.store.begin().await?;
        tx.required_tenant(tenant).await?;
        if !tx.insert_sender_identity(&s).await? {
            return Err(EngineError::Conflict(
                "the tenant already has a sender identity with this email address".into(),
            ));
        }
        tx.audit(tenant, &Actor::Cli, "sender_identity.created", &s.id, now).await?;
        tx.commit().await?;
        Ok(s)
    }

    pub async fn list_sender_identities(&self, tenant: &TenantId) -> Result<Vec<SenderIdentity>> {
        let mut tx = self.store.begin().await?;
        tx.required_tenant(tenant).await?;
        Ok(tx.list_sender_identities(tenant).await?)
    }

    /// The id of the sender identity `on_behalf_of` names; not found when it names none.
    async fn resolve_sender(&self, tx: &mut Tx<'_>, p: &Principal, on_behalf_of: Option<&Email>) -> Result<Option<String>> {
        let Some(email) = on_behalf_of else { return Ok(None) };
        let s = tx
            .find_sender_identity(&p.tenant_id, email)
            .await?
            .ok_or(EngineError::NotFound(missing::SENDER_IDENTITY))?;
        Ok(Some(s.id))
    }

    async fn sender_of(&self, tx: &mut Tx<'_>, tenant: &TenantId, v: &VerificationId) -> Result<Option<String>> {
        match tx.get_dialect_state(tenant, v.as_str(), SENDER_STATE).await? {
            Some(json) => {
                let st: SenderState = serde_json::from_str(&json).map_err(|e| EngineError::Internal(format!("sender state: {e}")))?;
                Ok(Some(st.sender_identity_id))
            }
            None => Ok(None),
        }
    }

    /// The applicants of this tenant the signer names.
    async fn signer_applicants(&self, tx: &mut Tx<'_>, tenant: &TenantId, signer: &SignerRef) -> Result<HashSet<ApplicantId>> {
        let mut ids = HashSet::new();
        if let Some(e) = signer.email() {
            ids.extend(tx.find_applicants_by_email(tenant, e).await?);
        }
        if let Some(ph) = signer.phone() {
            ids.extend(tx.find_applicants_by_phone(tenant, ph).await?);
        }
        Ok(ids)
    }

    /// The signer's verification on the document (the newest one at that position), in a
    /// transaction; expiry is applied on the way.
    async fn find_in(&self, tx: &mut Tx<'_>, p: &Principal, q: &SignerQuery) -> Result<Verification> {
        let sender = self.resolve_sender(tx, p, q.on_behalf_of.as_ref()).await?;
        let on_document = tx.find_verifications_by_document(&p.tenant_id, &q.document_id).await?;
        if on_document.is_empty() {
            return Err(EngineError::NotFound(missing::DOCUMENT));
        }
        // Only the sender that opened a verification reads it.
        let mut mine = Vec::new();
        for v in on_document {
            if self.sender_of(tx, &p.tenant_id, &v.id).await? == sender {
                mine.push(v);
            }
        }
        if mine.is_empty() {
            return Err(EngineError::Forbidden(
                "this document was not sent by this sender: give the OnBehalfOf it was sent on behalf of".into(),
            ));
        }
        let applicants = self.signer_applicants(tx, &p.tenant_id, &q.signer).await?;
        let signer: Vec<Verification> = mine.into_iter().filter(|v| applicants.contains(&v.applicant_id)).collect();
        if signer.is_empty() {
            return Err(EngineError::NotFound(missing::SIGNER));
        }
        let at: Vec<Verification> = match q.order {
            Some(o) => signer.into_iter().filter(|v| order_of(v) == o).collect(),
            None => {
                let orders: HashSet<u32> = signer.iter().map(order_of).collect();
                if orders.len() > 1 {
                    return Err(EngineError::Invalid(
                        "this signer signs the document at more than one position: give Order".into(),
                    ));
                }
                signer
            }
        };
        let newest = at
            .into_iter()
            .max_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)))
            .ok_or(EngineError::NotFound(missing::SIGNER_ORDER))?;
        self.load(tx, &p.tenant_id, &newest.id).await
    }

    /// The verification of one signer of one document.
    pub async fn find_signer_verification(&self, p: &Principal, q: &SignerQuery) -> Result<Verification> {
        let mut tx = self.store.begin().await?;
        let v = self.find_in(&mut tx, p, q).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// The signer's verification with its attempts and captures. A read of the report is
    /// an audit entry.
    pub async fn signer_report(&self, p: &Principal, q: &SignerQuery) -> Result<SignerReport> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let verification = self.find_in(&mut tx, p, q).await?;
        let attempts = tx.list_attempts(&p.tenant_id, &verification.id).await?;
        let captures = tx
            .list_captures(&p.tenant_id, &verification.id)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        tx.commit_with_read(&p.tenant_id, &p.actor(), "report.read", verification.id.as_str(), now)
            .await?;
        Ok(SignerReport {
            verification,
            attempts,
            captures,
        })
    }

    /// Open the capture flow for a signer: a new attempt on the signer's open verification
    /// (an attempt still open is superseded), or a new verification for the document and
    /// signer when there is none, or when the last one ended without approval. Conflict
    /// while the last one is being processed, awaits review, or was approved.
    pub async fn open_signer_verification(
        &self,
        p: &Principal,
        q: &SignerQuery,
        callback_url: Option<String>,
    ) -> Result<(VerificationId, StartedAttempt)> {
        p.require_write()?;
        let found = {
            let mut tx = self.store.begin().await?;
            let found = self.find_in(&mut tx, p, q).await;
            tx.commit().await?;
            found
        };
        let existing = match found {
            Ok(v) => Some(v),
            Err(EngineError::NotFound(missing::DOCUMENT | missing::SIGNER | missing::SIGNER_ORDER)) => None,
            Err(e) => return Err(e),
        };
        if let Some(v) = &existing {
            use VerificationStatus as S;
            match v.status {
                s if s.accepts_captures() => {
                    let started = self.open_attempt_superseding(p, &v.id, ClientInfo::default()).await?;
                    return Ok((v.id.clone(), started));
                }
                S::Approved => {
                    return Err(EngineError::Conflict(
                        "this signer's identity is already verified for this document".into(),
                    ));
                }
                S::Processing | S::ReviewRequired => {
                    return Err(EngineError::Conflict(format!(
                        "this signer's identity verification is {}; wait for its decision",
                        v.status
                    )));
                }
                _ => {}
            }
        }
        let applicant = existing.map(|v| v.applicant_id);
        // A new verification for this document and signer.
        let sender = {
            let mut tx = self.store.begin().await?;
            self.resolve_sender(&mut tx, p, q.on_behalf_of.as_ref()).await?
        };
        let known = match applicant {
            Some(a) => Some(a),
            None => {
                let mut tx = self.store.begin().await?;
                let ids = self.signer_applicants(&mut tx, &p.tenant_id, &q.signer).await?;
                let mut found = Vec::new();
                for id in ids {
                    if let Some(a) = tx.get_applicant(&p.tenant_id, &id).await?
                        && !a.redacted
                    {
                        found.push(a);
                    }
                }
                found
                    .into_iter()
                    .min_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)))
                    .map(|a| a.id)
            }
        };
        let applicant = match known {
            Some(id) => ApplicantRef::Existing(id),
            None => ApplicantRef::Inline(NewApplicant {
                external_applicant_id: None,
                person: PersonData {
                    email: q.signer.email().cloned(),
                    phone: q.signer.phone().cloned(),
                    ..PersonData::default()
                },
            }),
        };
        let delivery = if q.signer.email().is_some() {
            DeliveryChannel::Email
        } else {
            DeliveryChannel::Sms
        };
        let v = self
            .create_verification(
                p,
                NewVerification {
                    reference: HostReference {
                        document_id: Some(q.document_id.clone()),
                        signer_order: Some(q.order.unwrap_or(1)),
                        signature_request_id: None,
                    },
                    delivery,
                    callback_url,
                    ..NewVerification::of(applicant, DeclaredData::default())
                },
            )
            .await?;
        if let Some(id) = sender {
            self.bind_sender(p, &v.id, id).await?;
        }
        let started = self.create_attempt(p, &v.id, ClientInfo::default()).await?;
        Ok((v.id, started))
    }

    async fn bind_sender(&self, p: &Principal, id: &VerificationId, sender: String) -> Result<()> {
        let now = self.now();
        let json = serde_json::to_string(&SenderState {
            sender_identity_id: sender,
        })
        .map_err(|e| EngineError::Internal(format!("sender state: {e}")))?;
        let mut tx = self.store.begin().await?;
        tx.put_dialect_state(&p.tenant_id, id, id.as_str(), SENDER_STATE, &json, now)
            .await?;
        tx.audit(&p.tenant_id, &p.actor(), "verification.sender_identity_set", id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// When a verification ended (its last status change), for reports.
pub fn ended_at(v: &Verification) -> Option<DateTime<Utc>> {
    use VerificationStatus as S;
    match v.status {
        S::Approved | S::Declined => Some(v.review.as_ref().map_or(v.updated_at, |r| r.reviewed_at)),
        S::ReviewRequired | S::RetryRequired | S::Expired | S::Cancelled => Some(v.updated_at),
        S::Created | S::Pending | S::CaptureInProgress | S::Processing => None,
    }
}
