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
    pub retention: RetentionSettings,
    pub created_at: DateTime<Utc>,
}

/// How long a tenant keeps evidence. When a verification ends (approved, declined,
/// expired, cancelled) a clock starts; when it runs out the retention sweep anonymizes the
/// verification (images and personal data erased, their data keys destroyed) and keeps a
/// tombstone (ids, status, timestamps, hashes), which a second period later is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days from the end of a verification until it is anonymized (default 90).
    pub retention_days: u32,
    /// The longest retention one verification may ask for (default 3650).
    pub max_retention_days: u32,
    /// Days an anonymized tombstone is kept before it is deleted (default 365).
    pub tombstone_days: u32,
}

/// Upper bound for every retention figure: 100 years.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            retention_days: 90,
            max_retention_days: 3650,
            tombstone_days: 365,
        }
    }
}

impl RetentionSettings {
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("retention_days", self.retention_days),
            ("max_retention_days", self.max_retention_days),
            ("tombstone_days", self.tombstone_days),
        ] {
            if !(1..=MAX_RETENTION_DAYS).contains(&v) {
                return Err(format!("{name} must be between 1 and {MAX_RETENTION_DAYS} days, got {v}"));
            }
        }
        if self.retention_days > self.max_retention_days {
            return Err(format!(
                "retention_days ({}) must not exceed max_retention_days ({})",
                self.retention_days, self.max_retention_days
            ));
        }
        Ok(())
    }

    /// The retention a verification gets: its own request if within bounds, else the default.
    pub fn days_for(&self, requested: Option<u32>) -> u32 {
        requested.unwrap_or(self.retention_days)
    }

    /// Check a per-verification request against the tenant's bounds.
    pub fn check_request(&self, requested: u32) -> Result<(), String> {
        if requested == 0 || requested > self.max_retention_days {
            return Err(format!(
                "retention_days must be between 1 and this tenant's max_retention_days ({}), got {requested}",
                self.max_retention_days
            ));
        }
        Ok(())
    }
}

/// Where one verification stands in the retention schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// Its own retention period, if it asked for one (else the tenant's default).
    pub retention_days: Option<u32>,
    /// A legal hold stops every sweep (anonymization and deletion) for this verification.
    pub legal_hold: bool,
    /// When the retention sweep anonymizes it: set when it ends.
    pub retain_until: Option<DateTime<Utc>>,
    /// When the tombstone is deleted: set when it is anonymized.
    pub delete_after: Option<DateTime<Utc>>,
}

/// Who did something: recorded in the audit chain (never a person's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    ApiKey(ApiKeyId),
    /// The applicant, through an attempt's capture session.
    Applicant(AttemptId),
    /// A reviewer or admin in the review console.
    Operator(OperatorId),
    System,
    Cli,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Self::ApiKey(k) => format!("api_key:{k}"),
            Self::Applicant(a) => format!("applicant:{a}"),
            Self::Operator(o) => format!("operator:{o}"),
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
    /// What the checks read from the document (MRZ, barcode): personal, sealed with the rest.
    #[serde(default)]
    pub extracted: Option<serde_json::Value>,
    /// The message a reviewer wrote to the person when asking for a new capture (free
    /// text, so sealed like the rest and erased with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_message: Option<String>,
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
    /// Why, in the reviewer's words (from the console: the reason code, then the note).
    /// Free text that may name the person: sealed at rest, never in webhooks, and
    /// reduced to the reason code when the verification is anonymized.
    pub reason: String,
    /// The reviewer: `api_key:…` or `operator:…` (an id, never a name).
    pub reviewer: String,
    pub reviewed_at: DateTime<Utc>,
    /// The console's reason code (from its fixed list), when decided there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// A message that may be shown to the person (the reason stays internal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_message: Option<String>,
    /// The second reviewer who confirmed the decision, where the tenant requires four eyes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
}

impl Review {
    /// Drop the reviewer's free text (anonymization): the reason becomes the reason code
    /// (empty for a decision made over the API, which has none).
    pub fn erase_free_text(&mut self) {
        self.reason = self.reason_code.clone().unwrap_or_default();
        self.user_message = None;
    }
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
    pub lifecycle: Lifecycle,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Verification {
    /// Expired by the clock though not yet marked: callers treat it as expired. Only a
    /// verification still waiting for the person expires; one being processed or waiting
    /// for a reviewer is the business's to finish.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status.accepts_captures() && now >= self.expires_at
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
    /// A liveness burst: the challenge and its JPEG frames in one container
    /// (`kycd_checks::burst`).
    #[serde(rename = "application/vnd.kycd.liveness-burst")]
    LivenessBurst,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::LivenessBurst => "application/vnd.kycd.liveness-burst",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            "image/webp" => Some(Self::Webp),
            "application/vnd.kycd.liveness-burst" => Some(Self::LivenessBurst),
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
