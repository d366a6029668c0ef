//! Every word the Skribble dialect writes, as a function of kycd's canonical status, its
//! status history and the decision: the one place these tables live.
//!
//! | kycd status | evidence `status` | signature `status_code` | signature request `status_overall` (first that applies) |
//! |---|---|---|---|
//! | created, pending | `CREATED` | `OPEN` | any signer `DECLINED` → `DECLINED` |
//! | capture_in_progress, retry_required | `IN_PROGRESS` | `OPEN` | any `WITHDRAWN` → `WITHDRAWN` |
//! | processing | `PROCESSING` | `OPEN` | any `ERROR` (expired) → `EXPIRED` |
//! | review_required | `PENDING_REVIEW` (with `reason`) | `OPEN` | every signer `SIGNED` → `SIGNED` |
//! | approved | `APPROVED` | `SIGNED` (identified: kycd signs no document) | otherwise `OPEN` |
//! | declined | `DECLINED` | `DECLINED` | |
//! | expired | `EXPIRED` | `ERROR` (the identification expired unfinished) | |
//! | cancelled | `CANCELLED` | `WITHDRAWN` | |
//!
//! Callbacks (a status change of one signer's identification):
//!
//! | change | callbacks |
//! |---|---|
//! | → approved | `callback_update_url`; and `callback_success_url` once every signer is approved |
//! | → declined, expired, cancelled | `callback_error_url` |
//! | any other | none |
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

/// What Skribble calls each callback.
pub const CALLBACK_SUCCESS: &str = "SUCCESS";
pub const CALLBACK_UPDATE: &str = "UPDATE";
pub const CALLBACK_ERROR: &str = "ERROR";

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

/// A signature's `status_code`.
pub fn signature_status(s: VerificationStatus) -> &'static str {
    use VerificationStatus as S;
    match s {
        S::Created | S::Pending | S::CaptureInProgress | S::RetryRequired | S::Processing | S::ReviewRequired => "OPEN",
        S::Approved => "SIGNED",
        S::Declined => "DECLINED",
        S::Expired => "ERROR",
        S::Cancelled => "WITHDRAWN",
    }
}

/// `status_overall`, from every signer's status.
pub fn overall_status(signers: &[VerificationStatus]) -> &'static str {
    let codes: Vec<&str> = signers.iter().map(|s| signature_status(*s)).collect();
    if codes.contains(&"DECLINED") {
        "DECLINED"
    } else if codes.contains(&"WITHDRAWN") {
        "WITHDRAWN"
    } else if codes.contains(&"ERROR") {
        "EXPIRED"
    } else if !codes.is_empty() && codes.iter().all(|c| *c == "SIGNED") {
        "SIGNED"
    } else {
        "OPEN"
    }
}

/// The callbacks a change of one signer calls: `status` is the signer's new status,
/// `all_approved` whether every signer of the request is approved now.
pub fn callbacks_for(status: VerificationStatus, all_approved: bool) -> Vec<&'static str> {
    use VerificationStatus as S;
    match status {
        S::Approved if all_approved => vec![CALLBACK_UPDATE, CALLBACK_SUCCESS],
        S::Approved => vec![CALLBACK_UPDATE],
        S::Declined | S::Expired | S::Cancelled => vec![CALLBACK_ERROR],
        _ => Vec::new(),
    }
}

/// The signers of a signature request: per applicant, the latest of their verifications
/// for it (a new one replaces an earlier try), in signing order, then creation order.
pub fn latest_per_signer(list: &[Verification]) -> Vec<&Verification> {
    let mut latest: Vec<&Verification> = Vec::new();
    for v in list {
        match latest.iter_mut().find(|l| l.applicant_id == v.applicant_id) {
            Some(l) if (l.created_at, &l.id) <= (v.created_at, &v.id) => *l = v,
            Some(_) => {}
            None => latest.push(v),
        }
    }
    latest.sort_by_key(|v| (v.reference.signer_order.unwrap_or(u32::MAX), v.created_at));
    latest
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

    /// Every evidence `status` word (the plain client's schema lists the same).
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

    /// Skribble's published signature states (v2) and overall states kycd answers.
    const SIGNATURE_STATES: [&str; 5] = ["OPEN", "SIGNED", "DECLINED", "WITHDRAWN", "ERROR"];
    const OVERALL_STATES: [&str; 5] = ["OPEN", "SIGNED", "DECLINED", "WITHDRAWN", "EXPIRED"];

    #[test]
    fn every_status_has_words_from_the_published_lists() {
        for s in S::ALL {
            assert!(EVIDENCE_STATUSES.contains(&evidence_status(s)), "{s}");
            assert!(SIGNATURE_STATES.contains(&signature_status(s)), "{s}");
            assert!(OVERALL_STATES.contains(&overall_status(&[s])), "{s}");
        }
        // Each published evidence word is reached.
        for w in EVIDENCE_STATUSES {
            assert!(S::ALL.iter().any(|s| evidence_status(*s) == w), "{w}");
        }
        assert_eq!(evidence_status(S::ReviewRequired), "PENDING_REVIEW");
        assert_eq!(signature_status(S::Approved), "SIGNED");
    }

    #[test]
    fn the_request_is_signed_only_when_every_signer_is() {
        assert_eq!(overall_status(&[S::Approved, S::Approved]), "SIGNED");
        assert_eq!(overall_status(&[S::Approved, S::Processing]), "OPEN");
        assert_eq!(overall_status(&[S::Approved, S::Declined, S::Cancelled]), "DECLINED");
        assert_eq!(overall_status(&[S::Cancelled, S::Expired]), "WITHDRAWN");
        assert_eq!(overall_status(&[S::Approved, S::Expired]), "EXPIRED");
        assert_eq!(overall_status(&[]), "OPEN");
        assert_eq!(callbacks_for(S::Approved, false), [CALLBACK_UPDATE]);
        assert_eq!(callbacks_for(S::Approved, true), [CALLBACK_UPDATE, CALLBACK_SUCCESS]);
        for s in [S::Declined, S::Expired, S::Cancelled] {
            assert_eq!(callbacks_for(s, false), [CALLBACK_ERROR]);
        }
        for s in [
            S::Created,
            S::Pending,
            S::CaptureInProgress,
            S::Processing,
            S::ReviewRequired,
            S::RetryRequired,
        ] {
            assert!(callbacks_for(s, true).is_empty(), "{s}");
        }
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
