//! Synthetic verifications for capacity tests (`kycd seed`): made-up people in a test-mode
//! tenant, written through the same store code as real ones (sealed, blind-indexed), so
//! list and lookup queries can be measured at a realistic size. They have no captures,
//! no audit entries and no events, and are never given a retention date, so the sweeps
//! leave them alone.

use crate::required::RequiredReads;
use crate::{Engine, EngineError, Result};
use chrono::Duration;
use kycd_core::*;

/// What share of seeded verifications ends in which status: like a tenant after months
/// of use, mostly finished.
fn seeded_status(i: u64) -> VerificationStatus {
    match i % 20 {
        0..=11 => VerificationStatus::Approved,
        12..=14 => VerificationStatus::Declined,
        15 | 16 => VerificationStatus::ReviewRequired,
        17 => VerificationStatus::Expired,
        18 => VerificationStatus::Cancelled,
        _ => VerificationStatus::Created,
    }
}

impl Engine {
    /// Write the synthetic verifications numbered `first..first + count` (and an applicant
    /// each) for `tenant` in one transaction. Number `i` was created `30 × i` seconds ago,
    /// so a million span about a year. Live tenants are refused: their data is real.
    pub async fn seed_verifications(&self, tenant: &TenantId, first: u64, count: u64) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let t = tx.required_tenant(tenant).await?;
        if t.mode == Mode::Live {
            return Err(EngineError::Invalid(format!(
                "tenant {tenant} is in live mode: seed only test-mode tenants (kycd tenant create --name … without --live)"
            )));
        }
        let text = |field, s: String| PersonalText::parse(field, &s, 200).map_err(|e| EngineError::Invalid(e.to_string()));
        for i in first..first + count {
            let created = now - Duration::seconds(30 * i as i64);
            let name = text("full_name", format!("Seed Person {i}"))?;
            let a = Applicant {
                id: ApplicantId::generate(),
                tenant_id: tenant.clone(),
                external_applicant_id: Some(text("external_applicant_id", format!("seed-{i}"))?),
                person: PersonData {
                    full_name: Some(name.clone()),
                    email: Some(Email::parse(&format!("seed{i}@example.org")).map_err(|e| EngineError::Invalid(e.to_string()))?),
                    phone: None,
                    birth_date: None,
                },
                redacted: false,
                created_at: created,
                updated_at: created,
            };
            tx.insert_applicant(&a).await?;
            let v = Verification {
                id: VerificationId::generate(),
                tenant_id: tenant.clone(),
                applicant_id: a.id,
                status: seeded_status(i),
                reference: HostReference::default(),
                delivery: DeliveryChannel::None,
                private: VerificationPrivate {
                    declared: DeclaredData {
                        full_name: Some(name),
                        ..DeclaredData::default()
                    },
                    callback_url: None,
                    state: None,
                    extracted: None,
                    retry_message: None,
                },
                policy: Policy::default(),
                // Open ones stay open: the expiry sweep must not act on seeded data.
                expires_at: now + Duration::days(30),
                checks: Vec::new(),
                review: None,
                redacted: false,
                lifecycle: Lifecycle::default(),
                created_at: created,
                updated_at: created,
            };
            tx.insert_verification(&v).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
