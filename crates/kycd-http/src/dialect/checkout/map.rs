//! The Checkout.com mapping tables: kycd's canonical words → the vendor's. The only place
//! where Checkout status words, attempt statuses, response codes, risk labels, document
//! types and asset types are chosen. Every value is a function of kycd's canonical status,
//! its checks and the decision summary; nothing here decides anything.
//!
//! Sources: Checkout.com's "Identities codes" page (statuses, attempt statuses, response
//! codes) and the official SDKs (`checkout-sdk` Python 4.8.1, `checkout-sdk-net`,
//! `checkout-sdk-java`) for the enum spellings. See docs/dialects.md, "Checkout.com notes".

use chrono::{DateTime, Utc};
use kycd_core::{Attempt, AttemptStatus, CaptureKind, CheckResult, DocumentType, VerificationStatus};
use kycd_engine::decision::{DecisionSummary, RiskSignal};

/// Identity verification `status`, from kycd's canonical status.
///
/// | kycd status | Checkout `status` |
/// |---|---|
/// | created | `created` |
/// | pending | `pending` |
/// | capture_in_progress | `capture_in_progress` |
/// | processing, review_required | `checks_in_progress` (a reviewer's look is part of Checkout's checks) |
/// | approved | `approved` |
/// | declined | `declined` |
/// | retry_required | `retry_required` |
/// | expired, cancelled | `inconclusive` (no retry is possible any more) |
///
/// Checkout's `refused` (the applicant clicked "refuse") has no kycd counterpart.
pub fn idv_status(s: VerificationStatus) -> &'static str {
    use VerificationStatus as S;
    match s {
        S::Created => "created",
        S::Pending => "pending",
        S::CaptureInProgress => "capture_in_progress",
        S::Processing | S::ReviewRequired => "checks_in_progress",
        S::Approved => "approved",
        S::Declined => "declined",
        S::RetryRequired => "retry_required",
        S::Expired | S::Cancelled => "inconclusive",
    }
}

/// Whether `POST /identity-verifications/{id}/attempts` is allowed (else 409): the vendor
/// lists `created`, `pending`, `capture_in_progress` and `retry_required`.
pub fn allows_new_attempt(s: VerificationStatus) -> bool {
    matches!(idv_status(s), "created" | "pending" | "capture_in_progress" | "retry_required")
}

/// Attempt `status`, from the attempt, its verification's status and whether it is the
/// verification's latest attempt.
///
/// | kycd attempt | Checkout attempt `status` |
/// |---|---|
/// | active, link not opened, link still valid | `pending_redirection` |
/// | active, link not opened, link expired | `expired` |
/// | active, link opened or captures received | `capture_in_progress` |
/// | submitted (latest), verification processing or in review | `checks_in_progress` |
/// | submitted (latest), verification approved or declined | `completed` |
/// | submitted, a retry was required (or a later attempt exists) | `checks_inconclusive` |
/// | submitted (latest), verification expired or cancelled | `terminated` |
/// | expired | `expired` |
/// | cancelled (superseded by a new attempt, or the verification closed) | `terminated` |
pub fn attempt_status(a: &Attempt, v: VerificationStatus, latest: bool, now: DateTime<Utc>) -> &'static str {
    use VerificationStatus as S;
    match a.status {
        AttemptStatus::Active => {
            if a.token_used_at.is_some() || v == S::CaptureInProgress {
                "capture_in_progress"
            } else if now >= a.token_expires_at {
                "expired"
            } else {
                "pending_redirection"
            }
        }
        AttemptStatus::Submitted if !latest => "checks_inconclusive",
        AttemptStatus::Submitted => match v {
            S::Processing | S::ReviewRequired => "checks_in_progress",
            S::Approved | S::Declined => "completed",
            S::Expired | S::Cancelled => "terminated",
            S::Created | S::Pending | S::CaptureInProgress | S::RetryRequired => "checks_inconclusive",
        },
        AttemptStatus::Expired => "expired",
        AttemptStatus::Cancelled => "terminated",
    }
}

/// One entry of `response_codes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseCode {
    pub code: u32,
    pub summary: &'static str,
}

const fn rc(code: u32, summary: &'static str) -> ResponseCode {
    ResponseCode { code, summary }
}

pub const APPROVED: ResponseCode = rc(10000, "approved");
pub const APPLICANT_DROP: ResponseCode = rc(61121, "applicant_drop");
pub const CORRUPTED_MEDIA: ResponseCode = rc(61911, "corrupted_videos");
pub const DOCUMENT_BLURRY: ResponseCode = rc(61301, "document_blurry");
pub const DOCUMENT_LIGHTING: ResponseCode = rc(61302, "document_lighting_issue");
pub const DOCUMENT_FRONT_MISSING: ResponseCode = rc(61310, "document_front_not_captured");
pub const DOCUMENT_BACK_MISSING: ResponseCode = rc(61311, "document_back_not_captured");
pub const DOCUMENT_HIDDEN: ResponseCode = rc(61312, "document_partially_hidden");
pub const FACE_BLURRY: ResponseCode = rc(61401, "face_video_blurry");
pub const FACE_LIGHTING: ResponseCode = rc(61402, "face_video_lighting_issue");
pub const FACE_MISSING: ResponseCode = rc(61410, "face_not_captured");
pub const FACE_NOT_TURNED: ResponseCode = rc(61412, "face_not_turned");
pub const FACE_CHALLENGE_TIMEOUT: ResponseCode = rc(61413, "face_challenge_timeout");
pub const FACE_NOT_LIVE: ResponseCode = rc(62305, "face_not_live");
pub const DOCUMENT_EXPIRED: ResponseCode = rc(62101, "document_expired");
pub const DOCUMENT_NOT_ACCEPTED: ResponseCode = rc(62102, "document_not_accepted");
pub const GENERIC_FRAUD: ResponseCode = rc(62399, "generic_fraud");
pub const DECLARED_MISMATCH: ResponseCode = rc(62401, "declared_identity_mismatch");
pub const FACE_MISMATCH: ResponseCode = rc(62304, "face_mismatch");
pub const FORCIBLY_CLOSED: ResponseCode = rc(64001, "forcibly_closed");

fn push(out: &mut Vec<ResponseCode>, c: ResponseCode) {
    if !out.contains(&c) {
        out.push(c);
    }
}

fn kind_of(check: &str) -> Option<CaptureKind> {
    check.rsplit_once('.').and_then(|(_, k)| k.parse().ok())
}

fn quality_codes(c: &CheckResult) -> Vec<String> {
    c.figures
        .get("codes")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The response codes one failed check stands for (none for a check with no vendor code).
///
/// | failed kycd check | Checkout code |
/// |---|---|
/// | `image_decoded.*` | 61911 `corrupted_videos` (the received media cannot be read) |
/// | `image_quality.document_*`: blurry, low_resolution | 61301 `document_blurry` |
/// | `image_quality.document_*`: glare, too_dark, too_bright | 61302 `document_lighting_issue` |
/// | `image_quality.document_*`: document_cropped | 61312 `document_partially_hidden` |
/// | `image_quality.document_front`: document_not_found | 61310 `document_front_not_captured` |
/// | `image_quality.document_back`: document_not_found | 61311 `document_back_not_captured` |
/// | `image_quality.selfie`: blurry, low_resolution | 61401 `face_video_blurry` |
/// | `image_quality.selfie`: glare, too_dark, too_bright | 61402 `face_video_lighting_issue` |
/// | `required_captures` (per missing kind) | 61310 / 61311 / 61410 `face_not_captured` / 61413 `face_challenge_timeout` (the liveness burst) |
/// | `liveness` failed: `planar_motion`, `face_changed` | 62305 `face_not_live` |
/// | `liveness` failed: `challenge_not_followed` | 61412 `face_not_turned` |
/// | `document_not_expired` | 62101 `document_expired` |
/// | `document_allowed`, `holder_age` | 62102 `document_not_accepted` |
/// | `name_consistency`, `birth_date_consistency`, `document_number_consistency` | 62401 `declared_identity_mismatch` |
pub fn codes_for_check(c: &CheckResult) -> Vec<ResponseCode> {
    let mut out = Vec::new();
    if c.passed {
        return out;
    }
    let name = c.name.as_str();
    if name.starts_with("image_decoded") {
        push(&mut out, CORRUPTED_MEDIA);
    } else if name.starts_with("image_quality") {
        let kind = kind_of(name);
        for q in quality_codes(c) {
            let code = match (kind, q.as_str()) {
                (Some(CaptureKind::Selfie), "blurry" | "low_resolution") => Some(FACE_BLURRY),
                (Some(CaptureKind::Selfie), "glare" | "too_dark" | "too_bright") => Some(FACE_LIGHTING),
                (Some(CaptureKind::Selfie), _) => None,
                (_, "blurry" | "low_resolution") => Some(DOCUMENT_BLURRY),
                (_, "glare" | "too_dark" | "too_bright") => Some(DOCUMENT_LIGHTING),
                (_, "document_cropped") => Some(DOCUMENT_HIDDEN),
                (Some(CaptureKind::DocumentBack), "document_not_found") => Some(DOCUMENT_BACK_MISSING),
                (_, "document_not_found") => Some(DOCUMENT_FRONT_MISSING),
                _ => None,
            };
            if let Some(code) = code {
                push(&mut out, code);
            }
        }
        if out.is_empty() {
            push(
                &mut out,
                if kind == Some(CaptureKind::Selfie) {
                    FACE_BLURRY
                } else {
                    DOCUMENT_BLURRY
                },
            );
        }
    } else if name == "required_captures" {
        let list = |k: &str| -> Vec<CaptureKind> {
            c.figures
                .get(k)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default()
        };
        let present = list("present");
        for k in list("required").into_iter().filter(|k| !present.contains(k)) {
            push(
                &mut out,
                match k {
                    CaptureKind::DocumentFront => DOCUMENT_FRONT_MISSING,
                    CaptureKind::DocumentBack => DOCUMENT_BACK_MISSING,
                    CaptureKind::Selfie => FACE_MISSING,
                    // The required head-turn burst never came: the challenge was not
                    // completed in time.
                    CaptureKind::LivenessBurst => FACE_CHALLENGE_TIMEOUT,
                    CaptureKind::DocumentPortrait => continue,
                },
            );
        }
    } else {
        match name {
            "document_not_expired" => push(&mut out, DOCUMENT_EXPIRED),
            "document_allowed" | "holder_age" => push(&mut out, DOCUMENT_NOT_ACCEPTED),
            "name_consistency" | "birth_date_consistency" | "document_number_consistency" => push(&mut out, DECLARED_MISMATCH),
            // Only a face below the mismatch threshold (a decline); the review band is not coded.
            "face_match" if c.figures.get("outcome").and_then(|o| o.as_str()) == Some("mismatch") => push(&mut out, FACE_MISMATCH),
            "liveness" if c.figures.get("outcome").and_then(|o| o.as_str()) == Some("fail") => {
                let reasons = c.figures.get("reasons").and_then(|r| r.as_array()).into_iter().flatten();
                for r in reasons.filter_map(|r| r.as_str()) {
                    match r {
                        "planar_motion" | "face_changed" => push(&mut out, FACE_NOT_LIVE),
                        "challenge_not_followed" => push(&mut out, FACE_NOT_TURNED),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The identity verification's `response_codes`.
///
/// - approved: 10000 `approved`;
/// - declined, retry_required: the codes of the failed checks (a decline with no coded
///   check, e.g. a reviewer's judgement or a test-mode mock, is 62399 `generic_fraud`);
/// - expired: 61121 `applicant_drop`, after 61413 `face_challenge_timeout` when liveness
///   challenges were issued and none answered (check `liveness`, `challenge_timeout`); cancelled (anonymized or closed while open): 64001
///   `forcibly_closed`;
/// - everything still under way: none.
pub fn response_codes(status: VerificationStatus, checks: &[CheckResult]) -> Vec<ResponseCode> {
    use VerificationStatus as S;
    let mut out = Vec::new();
    match status {
        S::Approved => push(&mut out, APPROVED),
        S::Declined | S::RetryRequired => {
            for c in checks {
                for code in codes_for_check(c) {
                    push(&mut out, code);
                }
            }
            if out.is_empty() && status == S::Declined {
                push(&mut out, GENERIC_FRAUD);
            }
        }
        S::Expired => {
            // Challenges asked for and never answered: the face challenge timed out.
            let timed_out = checks.iter().any(|c| {
                c.name == "liveness"
                    && c.figures["reasons"]
                        .as_array()
                        .is_some_and(|r| r.contains(&"challenge_timeout".into()))
            });
            if timed_out {
                push(&mut out, FACE_CHALLENGE_TIMEOUT);
            }
            push(&mut out, APPLICANT_DROP);
        }
        S::Cancelled => push(&mut out, FORCIBLY_CLOSED),
        S::Created | S::Pending | S::CaptureInProgress | S::Processing | S::ReviewRequired => {}
    }
    out
}

/// An attempt's `response_codes`: its verification's codes once it was the one that
/// ended (completed or inconclusive), 64001 `forcibly_closed` when it was superseded or
/// closed, none otherwise.
pub fn attempt_response_codes(attempt_status: &str, idv_codes: &[ResponseCode]) -> Vec<ResponseCode> {
    match attempt_status {
        "completed" | "checks_inconclusive" => idv_codes.to_vec(),
        "terminated" => vec![FORCIBLY_CLOSED],
        _ => Vec::new(),
    }
}

/// `risk_labels` from kycd's risk signals. Checkout's vocabulary is
/// `multiple_faces_detected`, `mcc_not_confident` and `risky_document_format`: several
/// faces on the selfie map to the first, a document kycd's policy does not accept to the
/// last. The other signals (expired document, under age, data or face mismatch) are
/// response codes instead.
pub fn risk_labels(d: &DecisionSummary) -> Vec<&'static str> {
    let mut out = Vec::new();
    for r in &d.risks {
        let label = match r {
            RiskSignal::DocumentNotAccepted => Some("risky_document_format"),
            RiskSignal::MultipleFaces => Some("multiple_faces_detected"),
            RiskSignal::DocumentExpired | RiskSignal::Underage | RiskSignal::DataMismatch | RiskSignal::FaceMismatch => None,
        };
        if let Some(l) = label
            && !out.contains(&l)
        {
            out.push(l);
        }
    }
    out
}

/// `document_type` words of the identity verification endpoints (the SDK's
/// `IdvDocumentType`).
pub fn document_type(d: DocumentType) -> &'static str {
    match d {
        DocumentType::Passport => "Passport",
        DocumentType::IdCard => "ID",
        DocumentType::DriverLicense => "Driving licence",
        DocumentType::ResidencePermit => "Residence Permit",
    }
}

/// A `pre_selected_document_type`: `Ok(Some(_))` for a type kycd checks, `Ok(None)` for
/// the vendor's types kycd has no rules for (`Other`, `Travel Document`, `Visa`: accepted,
/// nothing is preselected), `Err` for a word that is not the vendor's.
pub fn parse_document_type(s: &str) -> Result<Option<DocumentType>, ()> {
    match s {
        "Passport" => Ok(Some(DocumentType::Passport)),
        "ID" => Ok(Some(DocumentType::IdCard)),
        "Driving licence" => Ok(Some(DocumentType::DriverLicense)),
        "Residence Permit" => Ok(Some(DocumentType::ResidencePermit)),
        "Other" | "Travel Document" | "Visa" => Ok(None),
        _ => Err(()),
    }
}

/// Attempt asset `type`.
pub fn asset_type(k: CaptureKind) -> &'static str {
    match k {
        CaptureKind::DocumentFront => "document_front_image",
        CaptureKind::DocumentBack => "document_back_image",
        CaptureKind::Selfie => "face_image",
        // Checkout has no word for a portrait cut from the document; the attempt's asset
        // list leaves it out.
        CaptureKind::DocumentPortrait => "document_front_image",
        // Nor for a burst of frames (the asset list leaves bursts out): its selfie video
        // is the nearest.
        CaptureKind::LivenessBurst => "face_video",
    }
}

/// The `…_not_found` error code for an engine object name.
pub fn not_found_code(what: &str) -> &'static str {
    match what {
        "verification" => "identity_verification_not_found",
        "applicant" => "applicant_not_found",
        "attempt" => "attempt_not_found",
        "image" | "file" => "asset_not_found",
        _ => "resource_not_found",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use kycd_core::*;
    use serde_json::json;

    fn check(name: &str, passed: bool, figures: serde_json::Value) -> CheckResult {
        CheckResult {
            name: name.into(),
            passed,
            detail: String::new(),
            figures,
        }
    }

    fn summary() -> DecisionSummary {
        DecisionSummary {
            recommendation: None,
            reasons: Vec::new(),
            risks: Vec::new(),
            verified: None,
            decided_by: None,
        }
    }

    #[test]
    fn every_status_has_a_vendor_word_and_attempts_follow_the_vendor_list() {
        let words = [
            "approved",
            "capture_in_progress",
            "checks_in_progress",
            "created",
            "declined",
            "inconclusive",
            "pending",
            "refused",
            "retry_required",
        ];
        for s in VerificationStatus::ALL {
            assert!(words.contains(&idv_status(s)), "{s}");
            // The vendor's 409 rule is kycd's "takes captures" rule.
            assert_eq!(allows_new_attempt(s), s.accepts_captures(), "{s}");
        }
        assert_eq!(idv_status(VerificationStatus::ReviewRequired), "checks_in_progress");
        assert_eq!(idv_status(VerificationStatus::Cancelled), "inconclusive");
    }

    #[test]
    fn attempt_statuses() {
        let now = Utc::now();
        let mut a = Attempt {
            id: AttemptId::generate(),
            tenant_id: TenantId::generate(),
            verification_id: VerificationId::generate(),
            status: AttemptStatus::Active,
            client: ClientInfo::default(),
            token_expires_at: now + Duration::hours(1),
            token_used_at: None,
            created_at: now,
            updated_at: now,
        };
        use VerificationStatus as S;
        assert_eq!(attempt_status(&a, S::Pending, true, now), "pending_redirection");
        assert_eq!(attempt_status(&a, S::CaptureInProgress, true, now), "capture_in_progress");
        assert_eq!(attempt_status(&a, S::Pending, true, now + Duration::hours(2)), "expired");
        a.token_used_at = Some(now);
        assert_eq!(attempt_status(&a, S::Pending, true, now), "capture_in_progress");
        a.status = AttemptStatus::Submitted;
        assert_eq!(attempt_status(&a, S::Processing, true, now), "checks_in_progress");
        assert_eq!(attempt_status(&a, S::ReviewRequired, true, now), "checks_in_progress");
        assert_eq!(attempt_status(&a, S::Approved, true, now), "completed");
        assert_eq!(attempt_status(&a, S::Declined, true, now), "completed");
        assert_eq!(attempt_status(&a, S::RetryRequired, true, now), "checks_inconclusive");
        assert_eq!(attempt_status(&a, S::Approved, false, now), "checks_inconclusive");
        a.status = AttemptStatus::Cancelled;
        assert_eq!(attempt_status(&a, S::Pending, false, now), "terminated");
        a.status = AttemptStatus::Expired;
        assert_eq!(attempt_status(&a, S::Expired, true, now), "expired");
    }

    #[test]
    fn response_codes_follow_the_checks() {
        assert_eq!(response_codes(VerificationStatus::Approved, &[]), vec![APPROVED]);
        assert!(response_codes(VerificationStatus::ReviewRequired, &[]).is_empty());
        assert!(response_codes(VerificationStatus::Pending, &[]).is_empty());
        let checks = [
            check("image_quality.selfie", false, json!({"codes": ["too_dark"]})),
            check(
                "image_quality.document_front",
                false,
                json!({"codes": ["blurry", "document_cropped"]}),
            ),
            check(
                "required_captures",
                false,
                json!({"required": ["document_front", "document_back", "selfie"], "present": ["document_front"]}),
            ),
            check("document_not_expired", false, json!({})),
            check("name_consistency", false, json!({})),
            check("holder_age", true, json!({})),
        ];
        assert_eq!(
            response_codes(VerificationStatus::Declined, &checks),
            vec![
                FACE_LIGHTING,
                DOCUMENT_BLURRY,
                DOCUMENT_HIDDEN,
                DOCUMENT_BACK_MISSING,
                FACE_MISSING,
                DOCUMENT_EXPIRED,
                DECLARED_MISMATCH
            ]
        );
        assert_eq!(response_codes(VerificationStatus::Declined, &[]), vec![GENERIC_FRAUD]);
        assert!(response_codes(VerificationStatus::RetryRequired, &[]).is_empty());
        assert_eq!(
            response_codes(
                VerificationStatus::RetryRequired,
                &[check("image_decoded.selfie", false, json!({}))]
            ),
            vec![CORRUPTED_MEDIA]
        );
        assert_eq!(response_codes(VerificationStatus::Cancelled, &[]), vec![FORCIBLY_CLOSED]);
        assert_eq!(response_codes(VerificationStatus::Expired, &[]), vec![APPLICANT_DROP]);
        assert_eq!(attempt_response_codes("terminated", &[APPROVED]), vec![FORCIBLY_CLOSED]);
        assert_eq!(attempt_response_codes("completed", &[APPROVED]), vec![APPROVED]);
        assert!(attempt_response_codes("pending_redirection", &[APPROVED]).is_empty());
    }

    #[test]
    fn risk_labels_and_words() {
        let mut d = summary();
        d.risks = vec![RiskSignal::DocumentExpired, RiskSignal::DocumentNotAccepted];
        assert_eq!(risk_labels(&d), vec!["risky_document_format"]);
        d.risks = vec![RiskSignal::MultipleFaces, RiskSignal::FaceMismatch];
        assert_eq!(risk_labels(&d), vec!["multiple_faces_detected"]);
        let face = |outcome: &str| CheckResult {
            name: "face_match".into(),
            passed: false,
            detail: String::new(),
            figures: serde_json::json!({ "outcome": outcome }),
        };
        assert_eq!(codes_for_check(&face("mismatch")), vec![FACE_MISMATCH]);
        let live = |outcome: &str, reasons: serde_json::Value| CheckResult {
            name: "liveness".into(),
            passed: false,
            detail: String::new(),
            figures: serde_json::json!({ "outcome": outcome, "reasons": reasons }),
        };
        assert_eq!(
            codes_for_check(&live("fail", serde_json::json!(["planar_motion"]))),
            vec![FACE_NOT_LIVE]
        );
        assert_eq!(
            codes_for_check(&live("fail", serde_json::json!(["face_changed"]))),
            vec![FACE_NOT_LIVE]
        );
        assert_eq!(
            codes_for_check(&live("fail", serde_json::json!(["challenge_not_followed"]))),
            vec![FACE_NOT_TURNED]
        );
        assert!(codes_for_check(&live("inconclusive", serde_json::json!(["no_face"]))).is_empty());
        let missing = CheckResult {
            name: "required_captures".into(),
            passed: false,
            detail: String::new(),
            figures: serde_json::json!({"required": ["document_front", "liveness_burst"], "present": ["document_front"]}),
        };
        assert_eq!(codes_for_check(&missing), vec![FACE_CHALLENGE_TIMEOUT]);
        let timeout = live("fail", serde_json::json!(["challenge_timeout"]));
        assert_eq!(
            response_codes(VerificationStatus::Expired, &[timeout]),
            vec![FACE_CHALLENGE_TIMEOUT, APPLICANT_DROP]
        );
        assert_eq!(
            (FACE_NOT_TURNED.code, FACE_CHALLENGE_TIMEOUT.code, FACE_NOT_LIVE.code),
            (61412, 61413, 62305)
        );
        assert!(codes_for_check(&face("review")).is_empty(), "the review band is not a decline");
        for t in DocumentType::ALL {
            assert_eq!(parse_document_type(document_type(t)), Ok(Some(t)));
        }
        assert_eq!(parse_document_type("Visa"), Ok(None));
        assert!(parse_document_type("passport").is_err());
        for k in CaptureKind::ALL {
            assert!(asset_type(k).ends_with("_image"));
        }
        assert_eq!(not_found_code("verification"), "identity_verification_not_found");
    }
}
