//! Every word the Yousign dialect writes, as a function of kycd's canonical status, its
//! status history and the decision: the one place these tables live.
//!
//! | kycd status | evidence `status` | signer `status` |
//! |---|---|---|
//! | created, pending | `CREATED` | `notified` |
//! | capture_in_progress, retry_required | `IN_PROGRESS` | `processing` |
//! | processing | `PROCESSING` | `processing` |
//! | review_required | `PENDING_REVIEW` (with `reason`) | `processing` |
//! | approved | `APPROVED` | `verified` |
//! | declined | `DECLINED` | `declined` |
//! | expired | `EXPIRED` | `aborted` |
//! | cancelled | `CANCELLED` | `aborted` |
//!
//! Timestamps of an evidence record, from the verification and its status history:
//!
//! | field | kycd source |
//! |---|---|
//! | `createdAt` | the verification's creation |
//! | `startedAt` | first entry into capture_in_progress or processing (the signer began); the evidence record exists from then on |
//! | `completedAt` | first entry into review_required, approved or declined (the checks reached a verdict): JSON, files and JWT are served from then on |
//! | `reviewedAt` | the reviewer's decision, when a person decided |
//! | `expiresAt` | once ended, when retention erases the evidence; before, when the capture window closes |

use chrono::{DateTime, Utc};
use kycd_core::{TenantId, Verification, VerificationStatus};
use kycd_engine::decision::{Reason, decision_summary};

/// The signature level of every signer kycd identifies for a signature request.
pub const SIGNATURE_LEVEL: &str = "qualified_electronic_signature";

/// The evidence record's `status`.
pub fn evidence_status(s: VerificationStatus) -> &'static str {
    use VerificationStatus as S;
    match s {
        S::Created | S::Pending => "CREATED",
        S::CaptureInProgress | S::RetryRequired => "IN_PROGRESS",
        S::Processing => "PROCESSING",
        S::ReviewRequired => "PENDING_REVIEW",
        S::Approved => "APPROVED",
        S::Declined => "DECLINED",
        S::Expired => "EXPIRED",
        S::Cancelled => "CANCELLED",
    }
}

/// The signer's `status` (Yousign's signer words).
pub fn signer_status(s: VerificationStatus) -> &'static str {
    use VerificationStatus as S;
    match s {
        S::Created | S::Pending => "notified",
        S::CaptureInProgress | S::RetryRequired | S::Processing | S::ReviewRequired => "processing",
        S::Approved => "verified",
        S::Declined => "declined",
        S::Expired | S::Cancelled => "aborted",
    }
}

/// `startedAt`: when the signer began (first capture or submission).
pub fn started_at(history: &[(DateTime<Utc>, VerificationStatus)]) -> Option<DateTime<Utc>> {
    first(history, &[VerificationStatus::CaptureInProgress, VerificationStatus::Processing])
}

/// `completedAt`: when the checks first reached a verdict.
pub fn completed_at(history: &[(DateTime<Utc>, VerificationStatus)]) -> Option<DateTime<Utc>> {
    use VerificationStatus as S;
    first(history, &[S::ReviewRequired, S::Approved, S::Declined])
}

fn first(history: &[(DateTime<Utc>, VerificationStatus)], any: &[VerificationStatus]) -> Option<DateTime<Utc>> {
    history.iter().find(|(_, s)| any.contains(s)).map(|(at, _)| *at)
}

/// `expiresAt`.
pub fn expires_at(v: &Verification) -> DateTime<Utc> {
    v.lifecycle.retain_until.unwrap_or(v.expires_at)
}

/// `reason`: only while a person has to review, the most specific reason kycd has.
pub fn review_reason(v: &Verification) -> Option<&'static str> {
    if v.status != VerificationStatus::ReviewRequired {
        return None;
    }
    let d = decision_summary(v);
    let specific = d.reasons.iter().copied().find(|r| *r != Reason::ReviewRequired);
    Some(reason(specific.unwrap_or(Reason::ReviewRequired)))
}

/// kycd's canonical reasons as `reason` words.
pub fn reason(r: Reason) -> &'static str {
    r.as_str()
}

/// `accountId`: the business is the kycd tenant.
pub fn account_id(tenant: &TenantId) -> String {
    tenant.to_string()
}

/// `workflowId`: kycd runs one identification workflow per tenant (its policy), named
/// after the tenant.
pub fn workflow_id(tenant: &TenantId) -> String {
    format!("wfl_{}", tenant.as_str().trim_start_matches(TenantId::PREFIX).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use VerificationStatus as S;
    use chrono::TimeZone;

    /// Every evidence `status` word (the client test's schema lists the same).
    const EVIDENCE_STATUSES: [&str; 8] = [
        "CREATED",
        "IN_PROGRESS",
        "PROCESSING",
        "PENDING_REVIEW",
        "APPROVED",
        "DECLINED",
        "EXPIRED",
        "CANCELLED",
    ];

    #[test]
    fn every_status_has_words_from_the_published_lists() {
        for s in S::ALL {
            assert!(EVIDENCE_STATUSES.contains(&evidence_status(s)), "{s}");
            let w = signer_status(s);
            assert!(
                ["notified", "processing", "verified", "declined", "aborted"].contains(&w),
                "{s}: {w}"
            );
        }
        // Each published evidence word is reached.
        for w in EVIDENCE_STATUSES {
            assert!(S::ALL.iter().any(|s| evidence_status(*s) == w), "{w}");
        }
        assert_eq!(evidence_status(S::ReviewRequired), "PENDING_REVIEW");
        assert_eq!(signer_status(S::Approved), "verified");
    }

    #[test]
    fn started_and_completed_come_from_the_first_matching_entry() {
        let t = |m: u32| Utc.with_ymd_and_hms(2025, 1, 1, 10, m, 0).unwrap();
        let mut h = vec![(t(0), S::Pending)];
        assert_eq!(started_at(&h), None);
        assert_eq!(completed_at(&h), None);
        h.push((t(1), S::CaptureInProgress));
        h.push((t(2), S::Processing));
        h.push((t(3), S::RetryRequired));
        assert_eq!(started_at(&h), Some(t(1)));
        assert_eq!(completed_at(&h), None, "a retry is no verdict");
        h.push((t(4), S::Processing));
        h.push((t(5), S::ReviewRequired));
        h.push((t(6), S::Approved));
        assert_eq!(completed_at(&h), Some(t(5)));
        // Submitted without a capture step in between.
        assert_eq!(started_at(&[(t(7), S::Processing)]), Some(t(7)));
    }

    #[test]
    fn workflow_id_is_stable_per_tenant() {
        let t = TenantId::generate();
        assert_eq!(workflow_id(&t), workflow_id(&t));
        assert!(workflow_id(&t).starts_with("wfl_"));
        assert_ne!(workflow_id(&t), workflow_id(&TenantId::generate()));
    }
}
