//! The Transmit Security mapping tables: kycd's canonical words → the vendor's. The only
//! place where Transmit status words, recommendations, image types, feedback and
//! document types are chosen.

use kycd_core::{CaptureFeedback, CaptureKind, DocumentType, MediaType, VerificationStatus};
use kycd_engine::decision::{DecidedBy, Reason, Recommendation};

/// Session `status` of the result, from kycd's canonical status.
///
/// | kycd status | Transmit `status` |
/// |---|---|
/// | created, pending, capture_in_progress | `pending` |
/// | processing | `processing` |
/// | review_required, approved, declined | `complete` |
/// | retry_required | `recapture_required` |
/// | expired, cancelled | `expired` |
pub fn session_status(s: VerificationStatus) -> &'static str {
    use VerificationStatus as S;
    match s {
        S::Created | S::Pending | S::CaptureInProgress => "pending",
        S::Processing => "processing",
        S::ReviewRequired | S::Approved | S::Declined => "complete",
        S::RetryRequired => "recapture_required",
        S::Expired | S::Cancelled => "expired",
    }
}

/// `recommendation` of a complete result, from kycd's decision: approved → `ALLOW`,
/// review_required → `CHALLENGE`, declined → `DENY`.
pub fn recommendation(r: Recommendation) -> &'static str {
    match r {
        Recommendation::Allow => "ALLOW",
        Recommendation::Challenge => "CHALLENGE",
        Recommendation::Deny => "DENY",
    }
}

/// A check's own verdict in the `checks` object.
pub fn check_recommendation(passed: bool) -> &'static str {
    if passed { "ALLOW" } else { "DENY" }
}

/// Image `type` words (identical to kycd's capture kinds).
pub fn image_type(k: CaptureKind) -> &'static str {
    match k {
        CaptureKind::DocumentFront => "document_front",
        CaptureKind::DocumentBack => "document_back",
        CaptureKind::Selfie => "selfie",
    }
}

pub fn parse_image_type(s: &str) -> Option<CaptureKind> {
    match s {
        "document_front" => Some(CaptureKind::DocumentFront),
        "document_back" => Some(CaptureKind::DocumentBack),
        "selfie" => Some(CaptureKind::Selfie),
        _ => None,
    }
}

/// Image `format` of the metadata.
pub fn image_format(m: MediaType) -> &'static str {
    match m {
        MediaType::Jpeg => "jpg",
        MediaType::Png => "png",
        MediaType::Webp => "webp",
    }
}

/// `feedback` on an added image: `ok` when kycd accepts it, otherwise kycd's first quality
/// code (`blurry`, `glare`, `too_dark`, `too_bright`, `low_resolution`,
/// `document_not_found`, `document_cropped`), or `poor_quality` when none is named.
pub fn feedback(f: &CaptureFeedback) -> String {
    if f.accepted {
        return "ok".into();
    }
    f.issues
        .iter()
        .find(|i| i.as_str() != "face_not_checked")
        .cloned()
        .unwrap_or_else(|| "poor_quality".into())
}

/// `document.type` words.
pub fn document_type(d: DocumentType) -> &'static str {
    match d {
        DocumentType::Passport => "passport",
        DocumentType::IdCard => "national_id",
        DocumentType::DriverLicense => "drivers_license",
        DocumentType::ResidencePermit => "residence_permit",
    }
}

/// kycd's canonical reason codes, reported in `additional_info.reasons`.
pub fn reason(r: Reason) -> &'static str {
    match r {
        Reason::Approved => "approved",
        Reason::ReviewRequired => "manual_review_required",
        Reason::DeclinedByReviewer => "declined_by_reviewer",
        Reason::AttemptsExhausted => "attempts_exhausted",
        Reason::ImageUnreadable => "image_unreadable",
        Reason::CapturesMissing => "images_missing",
        Reason::PoorImageQuality => "poor_image_quality",
        Reason::DocumentExpired => "document_expired",
        Reason::HolderAge => "age_requirement_not_met",
        Reason::DocumentNotAccepted => "document_not_accepted",
        Reason::DataMismatch => "data_mismatch",
        Reason::ForcedByMock => "mock_behavior",
        Reason::OtherCheckFailed => "check_failed",
        Reason::Expired => "expired",
        Reason::Cancelled => "cancelled",
    }
}

pub fn decided_by(d: DecidedBy) -> &'static str {
    match d {
        DecidedBy::System => "system",
        DecidedBy::Reviewer => "reviewer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_word_and_decided_ones_are_complete() {
        for s in VerificationStatus::ALL {
            let w = session_status(s);
            assert!(!w.is_empty());
            let decided = matches!(
                s,
                VerificationStatus::ReviewRequired | VerificationStatus::Approved | VerificationStatus::Declined
            );
            assert_eq!(w == "complete", decided, "{s}");
        }
    }

    #[test]
    fn image_types_round_trip() {
        for k in CaptureKind::ALL {
            assert_eq!(parse_image_type(image_type(k)), Some(k));
        }
        assert_eq!(parse_image_type("passport"), None);
    }

    #[test]
    fn feedback_is_ok_or_the_first_blocking_code() {
        let mut f = CaptureFeedback {
            accepted: true,
            ..CaptureFeedback::default()
        };
        assert_eq!(feedback(&f), "ok");
        f.accepted = false;
        f.issues = vec!["face_not_checked".into(), "glare".into()];
        assert_eq!(feedback(&f), "glare");
        f.issues.clear();
        assert_eq!(feedback(&f), "poor_quality");
    }
}
