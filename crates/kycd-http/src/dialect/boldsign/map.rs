//! The BoldSign mapping tables: kycd's canonical words → the vendor's. The only place
//! where BoldSign result words, error codes, document types and error messages are chosen.

use kycd_core::{CaptureKind, DocumentType, VerificationStatus};
use kycd_engine::decision::Reason;
use kycd_engine::signers::missing;

// ----- error messages (the `error` of `{"error": …}`) -----------------------------------

pub const MISSING_KEY: &str = "Unauthorized: send 'X-API-KEY: <API key>' or 'Authorization: Bearer <API key>'";
pub const INVALID_KEY: &str = "Unauthorized: the API key is not valid";
pub const DOCUMENT_ID_REQUIRED: &str = "The documentId field is required.";
pub const INVALID_DOCUMENT: &str = "Invalid Document ID";
pub const INVALID_BODY: &str = "The request body must be a JSON object.";
pub const SIGNER_REQUIRED: &str = "Either EmailId, or CountryCode and PhoneNumber, are required to identify the signer.";
pub const PHONE_INCOMPLETE: &str = "CountryCode and PhoneNumber must be given together.";
pub const INVALID_EMAIL: &str = "Invalid EmailId";
pub const INVALID_PHONE: &str = "Invalid CountryCode or PhoneNumber";
pub const INVALID_ORDER_VALUE: &str = "Order must be a whole number from 1.";
pub const INVALID_ON_BEHALF_OF: &str = "Invalid OnBehalfOf: it must be the email address of a sender identity";
pub const SIGNER_NOT_FOUND: &str = "Signer not found in the document";
pub const ORDER_MISMATCH: &str = "The signer is not at this Order in the document";
pub const SENDER_NOT_FOUND: &str = "Invalid OnBehalfOf: no sender identity with this email address";
pub const FILE_ID_REQUIRED: &str = "The FileId field is required.";
pub const INVALID_FILE: &str = "Invalid File ID";
pub const FILE_ERASED: &str = "The file was erased: its verification was anonymized";
pub const NOT_ENABLED: &str = "Identity verification is not enabled for this signer";
pub const NOT_COMPLETED: &str = "The identity verification of this signer is not completed yet";
pub const INVALID_REDIRECT_URL: &str = "RedirectUrl must be an absolute http or https URL";
pub const NO_SUCH_ENDPOINT: &str = "No such endpoint";

/// The message for an engine `NotFound(what)`.
pub fn not_found_message(what: &str) -> &'static str {
    match what {
        missing::DOCUMENT | "verification" => INVALID_DOCUMENT,
        missing::SIGNER | "applicant" => SIGNER_NOT_FOUND,
        missing::SIGNER_ORDER => ORDER_MISMATCH,
        missing::SENDER_IDENTITY => SENDER_NOT_FOUND,
        "image" | "file" => INVALID_FILE,
        _ => INVALID_DOCUMENT,
    }
}

// ----- report ----------------------------------------------------------------------------

/// What a signer's report is, from kycd's canonical status.
///
/// | kycd status | report |
/// |---|---|
/// | approved | `verificationResult: "Success"` |
/// | declined, retry_required, review_required | `"Failed"` (review_required: the automated checks did not approve; a person decides) |
/// | expired, cancelled, with images | `"Failed"` |
/// | cancelled before any image | error: identity verification not enabled (the sender turned it off) |
/// | created, pending, capture_in_progress, processing, expired before any image | error: not completed |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportState {
    Succeeded,
    Failed,
    NotCompleted,
    NotEnabled,
}

pub fn report_state(s: VerificationStatus, has_images: bool) -> ReportState {
    use VerificationStatus as S;
    match s {
        S::Approved => ReportState::Succeeded,
        S::Declined | S::RetryRequired | S::ReviewRequired => ReportState::Failed,
        S::Expired | S::Cancelled if has_images => ReportState::Failed,
        S::Cancelled => ReportState::NotEnabled,
        S::Expired | S::Created | S::Pending | S::CaptureInProgress | S::Processing => ReportState::NotCompleted,
    }
}

/// `verificationResult`.
pub fn verification_result(r: ReportState) -> &'static str {
    match r {
        ReportState::Succeeded => "Success",
        _ => "Failed",
    }
}

/// `error.code` and `error.message` of a failed report, from the first reason kycd gives.
///
/// | kycd reason | `code` |
/// |---|---|
/// | review_required | `ManualReviewRequired` |
/// | declined_by_reviewer | `DeclinedByReviewer` |
/// | attempts_exhausted | `MaximumRetryExceeded` |
/// | image_unreadable, poor_image_quality | `ImageQualityInsufficient` |
/// | captures_missing | `DocumentMissing` |
/// | document_expired | `DocumentExpired` |
/// | holder_age | `AgeRequirementNotMet` |
/// | document_not_accepted | `DocumentTypeNotAllowed` |
/// | data_mismatch | `DataMismatch` |
/// | forced_by_mock | `MockOutcome` |
/// | expired | `VerificationExpired` |
/// | cancelled | `VerificationCancelled` |
/// | other_check_failed, approved | `VerificationFailed` |
pub fn error_of(reason: Reason) -> (&'static str, &'static str) {
    match reason {
        Reason::ReviewRequired => (
            "ManualReviewRequired",
            "Automated verification could not confirm the identity; the document awaits manual review.",
        ),
        Reason::DeclinedByReviewer => ("DeclinedByReviewer", "The identity was declined after manual review."),
        Reason::AttemptsExhausted => ("MaximumRetryExceeded", "The signer used every attempt allowed."),
        Reason::ImageUnreadable | Reason::PoorImageQuality => (
            "ImageQualityInsufficient",
            "The uploaded image could not be read: it is blurred, too dark, cropped or damaged.",
        ),
        Reason::CapturesMissing => ("DocumentMissing", "A required image of the document or the selfie is missing."),
        Reason::DocumentExpired => ("DocumentExpired", "The identity document has expired."),
        Reason::HolderAge => ("AgeRequirementNotMet", "The document holder's age is outside the accepted range."),
        Reason::DocumentNotAccepted => ("DocumentTypeNotAllowed", "This type or issuer of document is not accepted."),
        Reason::DataMismatch => ("DataMismatch", "The data on the document does not match the signer's details."),
        Reason::ForcedByMock => ("MockOutcome", "Test mode: the outcome was forced by mock behaviour."),
        Reason::Expired => ("VerificationExpired", "The identity verification expired before it was completed."),
        Reason::Cancelled => ("VerificationCancelled", "The identity verification was cancelled."),
        Reason::FaceMismatch => ("VerificationFailed", "The selfie does not match the portrait on the document."),
        Reason::MultipleFaces => ("VerificationFailed", "More than one face is on the selfie."),
        Reason::LivenessFailed => (
            "VerificationFailed",
            "The person in front of the camera did not pass the head-turn liveness check.",
        ),
        Reason::OtherCheckFailed | Reason::Approved => ("VerificationFailed", "The identity could not be verified."),
    }
}

/// `document.type` (the vendor's `allowedDocumentTypes` words; kycd's residence permit has
/// no BoldSign word and is written as an ID card).
pub fn document_type(t: DocumentType) -> &'static str {
    match t {
        DocumentType::Passport => "Passport",
        DocumentType::IdCard | DocumentType::ResidencePermit => "IDCard",
        DocumentType::DriverLicense => "DriverLicense",
    }
}

/// Which list a capture's file id goes to: `documentFiles` (front, then back) or `selfieFile`.
pub fn is_document_image(k: CaptureKind) -> bool {
    matches!(k, CaptureKind::DocumentFront | CaptureKind::DocumentBack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_states() {
        use VerificationStatus as S;
        assert_eq!(report_state(S::Approved, true), ReportState::Succeeded);
        for s in [S::Declined, S::RetryRequired, S::ReviewRequired] {
            assert_eq!(report_state(s, true), ReportState::Failed, "{s}");
        }
        assert_eq!(report_state(S::Expired, true), ReportState::Failed);
        assert_eq!(report_state(S::Cancelled, true), ReportState::Failed);
        assert_eq!(report_state(S::Cancelled, false), ReportState::NotEnabled);
        for s in [S::Expired, S::Created, S::Pending, S::CaptureInProgress, S::Processing] {
            assert_eq!(report_state(s, false), ReportState::NotCompleted, "{s}");
        }
        assert_eq!(verification_result(ReportState::Succeeded), "Success");
        assert_eq!(verification_result(ReportState::Failed), "Failed");
    }

    #[test]
    fn words() {
        assert_eq!(document_type(DocumentType::Passport), "Passport");
        assert_eq!(document_type(DocumentType::IdCard), "IDCard");
        assert_eq!(document_type(DocumentType::DriverLicense), "DriverLicense");
        assert_eq!(error_of(Reason::DocumentExpired).0, "DocumentExpired");
        assert_eq!(error_of(Reason::DeclinedByReviewer).0, "DeclinedByReviewer");
        assert_eq!(not_found_message(missing::DOCUMENT), INVALID_DOCUMENT);
        assert_eq!(not_found_message(missing::SIGNER), SIGNER_NOT_FOUND);
        assert_eq!(not_found_message(missing::SIGNER_ORDER), ORDER_MISMATCH);
        assert_eq!(not_found_message(missing::SENDER_IDENTITY), SENDER_NOT_FOUND);
        assert_eq!(not_found_message("image"), INVALID_FILE);
        assert!(is_document_image(CaptureKind::DocumentBack));
        assert!(!is_document_image(CaptureKind::Selfie));
    }
}
