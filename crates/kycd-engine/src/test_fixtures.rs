//! Shapes the unit tests build their cases from.

use chrono::Utc;
use kycd_core::*;

/// A verification in `status` of a tenant of its own, with nothing captured, checked or
/// declared yet; tests set what they look at.
pub(crate) fn verification(status: VerificationStatus) -> Verification {
    let now = Utc::now();
    Verification {
        id: VerificationId::generate(),
        tenant_id: TenantId::generate(),
        applicant_id: ApplicantId::generate(),
        status,
        reference: HostReference::default(),
        delivery: DeliveryChannel::None,
        private: VerificationPrivate::default(),
        policy: Policy::default(),
        expires_at: now,
        checks: vec![],
        review: None,
        redacted: false,
        lifecycle: Default::default(),
        created_at: now,
        updated_at: now,
    }
}
