//! The Transmit Security mapping tables: kycd's canonical words → the vendor's. The only
//! place where Transmit status words, recommendations, image types, feedback and
//! document types are chosen.

use kycd_core::{CaptureFeedback, CaptureKind, CheckResult, DocumentType, MediaType, VerificationStatus};
use kycd_engine::decision::{DocumentSex, Reason, Recommendation};
use kycd_engine::sessions::MockOutcome;

/// Session `status` of the result, from kycd's canonical status.
///
/// | kycd status | Transmit `status` |
/// |---|---|
/// | created, pending | `pending` |
/// | capture_in_progress | `capturing` |
/// | processing | `processing` |
/// | retry_required | `recapture` |
/// | review_required, approved, declined | `complete` |
/// | expired, cancelled | `error` (the vendor deletes such sessions; kycd keeps them until retention ends) |
pub fn session_status(s: VerificationStatus) -> &'static str {
    use VerificationStatus as S;
    match s {
        S::Created | S::Pending => "pending",
        S::CaptureInProgress => "capturing",
        S::Processing => "processing",
        S::RetryRequired => "recapture",
        S::ReviewRequired | S::Approved | S::Declined => "complete",
        S::Expired | S::Cancelled => "error",
    }
}

/// `mock_behavior.recommendation` → the outcome kycd forces.
pub fn parse_mock_recommendation(s: &str) -> Option<MockOutcome> {
    match s {
        "ALLOW" => Some(MockOutcome::Approved),
        "CHALLENGE" => Some(MockOutcome::ReviewRequired),
        "DENY" => Some(MockOutcome::Declined),
        _ => None,
    }
}

/// The vendor's check groups, in the order its result lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckGroup {
    DocumentValidation,
    DocumentAuthentication,
    DocumentLiveness,
    BiometricMatching,
    BiometricLiveness,
    FlaggedIdentity,
    RiskRecommendation,
}

impl CheckGroup {
    pub const ALL: [Self; 7] = [
        Self::DocumentValidation,
        Self::DocumentAuthentication,
        Self::DocumentLiveness,
        Self::BiometricMatching,
        Self::BiometricLiveness,
        Self::FlaggedIdentity,
        Self::RiskRecommendation,
    ];
    pub fn key(self) -> &'static str {
        match self {
            Self::DocumentValidation => "document_validation",
            Self::DocumentAuthentication => "document_authentication",
            Self::DocumentLiveness => "document_liveness",
            Self::BiometricMatching => "biometric_matching",
            Self::BiometricLiveness => "biometric_liveness",
            Self::FlaggedIdentity => "flagged_identity",
            Self::RiskRecommendation => "risk_recommendation",
        }
    }
}

/// Which vendor check a kycd check feeds, and the vendor's reason word when it fails.
/// Image checks (decoding, quality, required captures) are not in the vendor's checks:
/// they show as rejected images and a `recapture` status instead.
///
/// | kycd check | Transmit check | reason when failed |
/// |---|---|---|
/// | mrz (verified zone) | document_validation | `mrz_check_digits_invalid` (`data_extraction_failed` when unread) |
/// | barcode_read | document_validation | `data_extraction_failed` |
/// | document_not_expired, document_allowed, holder_age | document_validation | `data_validation_failed` |
/// | name/birth_date/document_number_consistency | document_validation | `data_comparison_failed` (left out when there was nothing to compare) |
/// | face_match | biometric_matching | `biometric_mismatch` |
/// | liveness | biometric_liveness | per reason: `planar_motion` → `printed_copy_capture` (a flat picture; kycd cannot tell a print from a screen), `face_changed` → `selfie_liveness_attack`, `multiple_faces` → `multiple_faces_detected`; `challenge_not_followed` and `reference_mismatch` have no vendor word (`DENY` without reason) |
pub fn check_group(c: &CheckResult) -> Option<(CheckGroup, Vec<&'static str>)> {
    if c.name == "liveness" {
        let reasons = c
            .figures
            .get("reasons")
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
            .filter_map(|r| match r.as_str()? {
                "planar_motion" => Some("printed_copy_capture"),
                "face_changed" => Some("selfie_liveness_attack"),
                "multiple_faces" => Some("multiple_faces_detected"),
                _ => None,
            })
            .collect();
        return Some((CheckGroup::BiometricLiveness, reasons));
    }
    check_group_one(c).map(|(g, r)| (g, vec![r]))
}

fn check_group_one(c: &CheckResult) -> Option<(CheckGroup, &'static str)> {
    let inconclusive = c.figures.get("outcome").and_then(|o| o.as_str()) == Some("inconclusive");
    Some(match c.name.as_str() {
        "mrz" if inconclusive => (CheckGroup::DocumentValidation, "data_extraction_failed"),
        "mrz" => (CheckGroup::DocumentValidation, "mrz_check_digits_invalid"),
        "barcode_read" => (CheckGroup::DocumentValidation, "data_extraction_failed"),
        "document_not_expired" | "document_allowed" | "holder_age" => (CheckGroup::DocumentValidation, "data_validation_failed"),
        // Nothing to compare (one source only) is no finding: the vendor's sessions carry
        // no declared data to compare the document with.
        "name_consistency" | "birth_date_consistency" | "document_number_consistency" if inconclusive => return None,
        "name_consistency" | "birth_date_consistency" | "document_number_consistency" => {
            (CheckGroup::DocumentValidation, "data_comparison_failed")
        }
        "face_match" => (CheckGroup::BiometricMatching, "biometric_mismatch"),
        _ => return None,
    })
}

/// A vendor check's `recommendation` from what its kycd checks said: any failure → `DENY`;
/// passes only → `ALLOW`; passes with inconclusive ones → `CHALLENGE`; nothing conclusive
/// (or nothing run) → `N/A`.
pub fn group_recommendation(passed: usize, failed: usize, inconclusive: usize) -> &'static str {
    match (passed, failed, inconclusive) {
        (_, f, _) if f > 0 => "DENY",
        (p, _, 0) if p > 0 => "ALLOW",
        (p, _, _) if p > 0 => "CHALLENGE",
        _ => "N/A",
    }
}

/// `person.gender` of the result.
pub fn gender(s: DocumentSex) -> &'static str {
    match s {
        DocumentSex::Male => "male",
        DocumentSex::Female => "female",
        DocumentSex::Other => "other",
    }
}

/// `gender` of the deprecated result's person: the document's letter (`F`, `M`, `X`).
pub fn deprecated_gender(s: DocumentSex) -> &'static str {
    match s {
        DocumentSex::Male => "M",
        DocumentSex::Female => "F",
        DocumentSex::Other => "X",
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

/// Image `type` words (identical to kycd's capture kinds).
pub fn image_type(k: CaptureKind) -> &'static str {
    match k {
        CaptureKind::DocumentFront => "document_front",
        CaptureKind::DocumentBack => "document_back",
        CaptureKind::Selfie => "selfie",
        CaptureKind::DocumentPortrait => "document_portrait",
        CaptureKind::LivenessBurst => "liveness_burst",
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
        // Never listed: the images list leaves bursts out.
        MediaType::LivenessBurst => "burst",
    }
}

/// `feedback` on an added image: `ok` when kycd accepts it, otherwise the vendor's word for
/// kycd's first quality issue.
///
/// | kycd issue | document | selfie |
/// |---|---|---|
/// | blurry | `blur` | `blur_selfie` |
/// | glare | `glare` | `glare_selfie` |
/// | document_not_found | `document_not_found` | `document_not_found` |
/// | face_not_found | `face_not_found` | `face_not_found` |
/// | multiple_faces | `multi_face` | `multi_face` |
/// | low_resolution, too_dark, too_bright, document_cropped, any other | `other` | `other` |
pub fn feedback(f: &CaptureFeedback, kind: CaptureKind) -> &'static str {
    if f.accepted {
        return "ok";
    }
    let selfie = kind == CaptureKind::Selfie;
    let issue = f.issues.iter().find(|i| i.as_str() != "face_not_checked").map(String::as_str);
    match issue {
        Some("blurry") if selfie => "blur_selfie",
        Some("blurry") => "blur",
        Some("glare") if selfie => "glare_selfie",
        Some("glare") => "glare",
        Some("document_not_found") => "document_not_found",
        Some("face_not_found") => "face_not_found",
        Some("multiple_faces") => "multi_face",
        _ => "other",
    }
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

/// kycd's canonical reasons, as the deprecated result's `rejection_description` words.
pub fn reason(r: Reason) -> &'static str {
    r.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `feedback` word the vendor's `AddImagesResponse` defines.
    const FEEDBACK: [&str; 24] = [
        "ok",
        "other",
        "document_not_found",
        "face_not_found",
        "document_face_not_found",
        "obstructed",
        "blur",
        "glare",
        "document_not_supported",
        "document_not_matching",
        "wrong_document_side",
        "multi_face",
        "face_rotated",
        "face_too_small",
        "face_too_close",
        "closed_eyes",
        "face_angle_too_large",
        "face_close_to_border",
        "face_occluded",
        "face_cropped",
        "barcode_not_found",
        "glare_selfie",
        "blur_selfie",
        "restricted_criteria",
    ];

    #[test]
    fn feedback_is_always_a_vendor_word() {
        let issues = [
            "low_resolution",
            "blurry",
            "glare",
            "too_dark",
            "too_bright",
            "document_not_found",
            "document_cropped",
            "face_not_found",
            "multiple_faces",
            "face_not_checked",
            "something_new",
        ];
        for kind in [CaptureKind::DocumentFront, CaptureKind::DocumentBack, CaptureKind::Selfie] {
            for accepted in [true, false] {
                for issue in issues {
                    let f = CaptureFeedback {
                        accepted,
                        issues: vec![issue.to_owned()],
                        ..CaptureFeedback::default()
                    };
                    let w = feedback(&f, kind);
                    assert!(FEEDBACK.contains(&w), "{issue} {kind:?}: {w}");
                    assert_eq!(w == "ok", accepted);
                }
            }
        }
        let blurry = CaptureFeedback {
            issues: vec!["face_not_checked".into(), "blurry".into()],
            ..CaptureFeedback::default()
        };
        assert_eq!(feedback(&blurry, CaptureKind::Selfie), "blur_selfie");
        assert_eq!(feedback(&blurry, CaptureKind::DocumentFront), "blur");
    }

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
    fn liveness_reasons_are_the_vendors_words() {
        let live = |outcome: &str, reasons: serde_json::Value| CheckResult {
            name: "liveness".into(),
            passed: outcome == "pass",
            detail: String::new(),
            figures: serde_json::json!({"outcome": outcome, "reasons": reasons}),
        };
        let allowed = [
            "screen_capture",
            "printed_copy_capture",
            "printed_cutout",
            "mask_detected",
            "injection_attack_detected",
            "selfie_liveness_attack",
            "multiple_faces_detected",
        ];
        let all = live(
            "fail",
            serde_json::json!(["planar_motion", "challenge_not_followed", "face_changed", "multiple_faces"]),
        );
        let (group, words) = check_group(&all).unwrap();
        assert_eq!(group, CheckGroup::BiometricLiveness);
        assert_eq!(words, ["printed_copy_capture", "selfie_liveness_attack", "multiple_faces_detected"]);
        assert!(words.iter().all(|w| allowed.contains(w)));
        assert_eq!(check_group(&live("pass", serde_json::json!([]))).unwrap().1, Vec::<&str>::new());
    }

    #[test]
    fn group_recommendations() {
        assert_eq!(group_recommendation(0, 0, 0), "N/A");
        assert_eq!(group_recommendation(0, 0, 2), "N/A");
        assert_eq!(group_recommendation(3, 0, 0), "ALLOW");
        assert_eq!(group_recommendation(3, 0, 1), "CHALLENGE");
        assert_eq!(group_recommendation(3, 1, 1), "DENY");
    }

    #[test]
    fn mock_recommendations_parse() {
        assert_eq!(parse_mock_recommendation("ALLOW"), Some(MockOutcome::Approved));
        assert_eq!(parse_mock_recommendation("CHALLENGE"), Some(MockOutcome::ReviewRequired));
        assert_eq!(parse_mock_recommendation("DENY"), Some(MockOutcome::Declined));
        assert_eq!(parse_mock_recommendation("allow"), None);
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
        assert_eq!(feedback(&f, CaptureKind::DocumentFront), "ok");
        f.accepted = false;
        f.issues = vec!["face_not_checked".into(), "glare".into()];
        assert_eq!(feedback(&f, CaptureKind::DocumentFront), "glare");
        f.issues.clear();
        assert_eq!(feedback(&f, CaptureKind::DocumentFront), "other");
    }
}
