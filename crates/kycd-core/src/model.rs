//! The records kycd keeps, as the engine sees them (personal data already decrypted into
//! redacting newtypes).

use crate::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Live,
    Test,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Server-to-server integration: create and read verifications, upload captures.
    Integration,
    /// A compliance reviewer: read everything, decide on review_required verifications.
    Reviewer,
    /// Everything, including review.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integration => "integration",
            Self::Reviewer => "reviewer",
            Self::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "integration" => Some(Self::Integration),
            "reviewer" => Some(Self::Reviewer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
    pub fn may_review(self) -> bool {
        matches!(self, Self::Reviewer | Self::Admin)
    }
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub mode: Mode,
    pub created_at: DateTime<Utc>,
}

/// Who did something: recorded in the audit chain (never a person's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    ApiKey(ApiKeyId),
    /// The applicant, through an attempt's capture session.
    Applicant(AttemptId),
    System,
    Cli,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Self::ApiKey(k) => format!("api_key:{k}"),
            Self::Applicant(a) => format!("applicant:{a}"),
            Self::System => "system".into(),
            Self::Cli => "cli".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PersonData {
    pub full_name: Option<PersonalText>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub birth_date: Option<PersonalDate>,
}

#[derive(Debug, Clone)]
pub struct Applicant {
    pub id: ApplicantId,
    pub tenant_id: TenantId,
    pub external_applicant_id: Option<PersonalText>,
    pub person: PersonData,
    pub redacted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the business tells us it expects the person to be.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeclaredData {
    pub full_name: Option<PersonalText>,
    pub first_name: Option<PersonalText>,
    pub last_name: Option<PersonalText>,
    pub birth_date: Option<PersonalDate>,
    pub document_number: Option<PersonalText>,
    /// ISO 3166-1 alpha-2 or alpha-3; not personal on its own, kept with the rest.
    pub nationality: Option<String>,
}

/// A host object the verification belongs to (an e-signature document and signer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HostReference {
    pub document_id: Option<String>,
    pub signer_order: Option<u32>,
    pub signature_request_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryChannel {
    Email,
    Sms,
    Whatsapp,
    /// The business shows the link itself.
    None,
}

/// Everything of a verification that is encrypted at rest as one unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerificationPrivate {
    pub declared: DeclaredData,
    pub callback_url: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    /// Stable name of the check, e.g. `image_decoded`, `required_captures`.
    pub name: String,
    pub passed: bool,
    /// Human summary, free of personal data.
    pub detail: String,
    /// Figures the check measured (dimensions, scores).
    #[schema(value_type = Object)]
    pub figures: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approve,
    Decline,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    pub decision: ReviewDecision,
    /// Business reason; must not contain personal data (it is shown in reports).
    pub reason: String,
    /// The reviewer: an API key id.
    pub reviewer: String,
    pub reviewed_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub id: VerificationId,
    pub tenant_id: TenantId,
    pub applicant_id: ApplicantId,
    pub status: VerificationStatus,
    pub reference: HostReference,
    pub delivery: DeliveryChannel,
    pub private: VerificationPrivate,
    pub policy: Policy,
    pub expires_at: DateTime<Utc>,
    pub checks: Vec<CheckResult>,
    pub review: Option<Review>,
    pub redacted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Verification {
    /// Expired by the clock though not yet marked: callers treat it as expired.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.status.is_final() && self.status != VerificationStatus::Processing && now >= self.expires_at
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClientInfo {
    /// BCP 47 language tag for the capture page, e.g. `en`, `fr-FR`.
    pub language: Option<String>,
    /// ISO 3166-1 alpha-2 country preselected on the capture page.
    pub country: Option<String>,
    /// The document the person chose, once known.
    pub document_type: Option<DocumentType>,
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: AttemptId,
    pub tenant_id: TenantId,
    pub verification_id: VerificationId,
    pub status: AttemptStatus,
    pub client: ClientInfo,
    pub token_expires_at: DateTime<Utc>,
    pub token_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum MediaType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/webp")]
    Webp,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaptureFeedback {
    pub width: u32,
    pub height: u32,
    /// Whether the capture can be used as is.
    pub accepted: bool,
    /// Machine-readable problems, e.g. `low_resolution`.
    pub issues: Vec<String>,
    /// What to tell the person, in plain words.
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Capture {
    pub id: FileId,
    pub tenant_id: TenantId,
    pub verification_id: VerificationId,
    pub attempt_id: AttemptId,
    pub kind: CaptureKind,
    pub media_type: MediaType,
    pub size: u64,
    pub sha256: String,
    pub feedback: CaptureFeedback,
    /// False once the image was erased (anonymize).
    pub available: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// What happened, e.g. `verification.created`, `verification.status.review_required`.
    pub action: String,
    /// Who did it: `api_key:key_…`, `applicant:iatp_…`, `system`, `cli`.
    pub actor: String,
}
