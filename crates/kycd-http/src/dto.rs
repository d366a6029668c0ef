//! Wire shapes of the native API, and their parsing into engine inputs. Requests refuse
//! unknown fields, so a typo is an error instead of a silently ignored setting.
//!
//! Slightly over 600 lines on purpose: every native wire shape in one file, read side by
//! side with the OpenAPI document they generate.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use kycd_core::*;
use kycd_engine::{NewApplicant, Report};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn text(field: &'static str, v: Option<String>, max: usize) -> Result<Option<PersonalText>, ApiError> {
    v.map(|s| PersonalText::parse(field, &s, max).map_err(|e| ApiError::invalid(e.to_string())))
        .transpose()
}

fn date(field: &'static str, v: Option<String>) -> Result<Option<PersonalDate>, ApiError> {
    v.map(|s| PersonalDate::parse(field, &s).map_err(ApiError::invalid)).transpose()
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicantInput {
    /// Your own id for this person.
    pub external_applicant_id: Option<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    /// `+` and 1–3 digits, e.g. `+44`; give it together with `phone_number`.
    pub phone_country_code: Option<String>,
    pub phone_number: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
}

impl ApplicantInput {
    pub fn parse(self) -> Result<NewApplicant, ApiError> {
        let phone = match (self.phone_country_code, self.phone_number) {
            (Some(cc), Some(n)) => Some(Phone::parse(&cc, &n).map_err(|e| ApiError::invalid(e.to_string()))?),
            (None, None) => None,
            _ => {
                return Err(ApiError::invalid("give phone_country_code and phone_number together"));
            }
        };
        Ok(NewApplicant {
            external_applicant_id: text("external_applicant_id", self.external_applicant_id, 200)?,
            person: PersonData {
                full_name: text("full_name", self.full_name, 300)?,
                email: self
                    .email
                    .map(|e| Email::parse(&e).map_err(|e| ApiError::invalid(e.to_string())))
                    .transpose()?,
                phone,
                birth_date: date("birth_date", self.birth_date)?,
            },
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicantView {
    pub id: String,
    pub external_applicant_id: Option<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub phone_country_code: Option<String>,
    pub phone_number: Option<String>,
    pub birth_date: Option<String>,
    /// True once anonymized: personal data was erased.
    pub redacted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Applicant> for ApplicantView {
    fn from(a: &Applicant) -> Self {
        Self {
            id: a.id.to_string(),
            external_applicant_id: a.external_applicant_id.as_ref().map(|t| t.expose().to_owned()),
            full_name: a.person.full_name.as_ref().map(|t| t.expose().to_owned()),
            email: a.person.email.as_ref().map(|t| t.expose().to_owned()),
            phone_country_code: a.person.phone.as_ref().map(|p| p.country_code().to_owned()),
            phone_number: a.person.phone.as_ref().map(|p| p.number().to_owned()),
            birth_date: a.person.birth_date.map(|d| d.expose().to_string()),
            redacted: a.redacted,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicantList {
    pub data: Vec<ApplicantView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclaredDataDto {
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    pub document_number: Option<String>,
    /// ISO 3166-1 alpha-2 or alpha-3 country code.
    pub nationality: Option<String>,
}

impl DeclaredDataDto {
    pub fn parse(self) -> Result<DeclaredData, ApiError> {
        let nationality = match self.nationality {
            Some(n) if (2..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphabetic()) => Some(n.to_ascii_uppercase()),
            Some(_) => {
                return Err(ApiError::invalid(
                    "declared_data.nationality must be an ISO 3166-1 alpha-2 or alpha-3 code, e.g. 'FR' or 'FRA'",
                ));
            }
            None => None,
        };
        Ok(DeclaredData {
            full_name: text("declared_data.full_name", self.full_name, 300)?,
            first_name: text("declared_data.first_name", self.first_name, 200)?,
            last_name: text("declared_data.last_name", self.last_name, 200)?,
            birth_date: date("declared_data.birth_date", self.birth_date)?,
            document_number: text("declared_data.document_number", self.document_number, 60)?,
            nationality,
        })
    }

    pub fn view(d: &DeclaredData) -> Self {
        let t = |v: &Option<PersonalText>| v.as_ref().map(|t| t.expose().to_owned());
        Self {
            full_name: t(&d.full_name),
            first_name: t(&d.first_name),
            last_name: t(&d.last_name),
            birth_date: d.birth_date.map(|d| d.expose().to_string()),
            document_number: t(&d.document_number),
            nationality: d.nationality.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceInput {
    /// The host document (e.g. an e-signature document id).
    pub document_id: Option<String>,
    /// The signer's position in the host document's signing order (1-based).
    pub signer_order: Option<u32>,
    pub signature_request_id: Option<String>,
}

fn host_id(field: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if s.is_empty() || s.len() > 200 || s.chars().any(char::is_control) => Err(ApiError::invalid(format!(
            "reference.{field} must be 1 to 200 printable characters"
        ))),
        other => Ok(other),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVerificationRequest {
    /// An existing applicant; or give `applicant` inline.
    pub applicant_id: Option<String>,
    pub applicant: Option<ApplicantInput>,
    pub declared_data: Option<DeclaredDataDto>,
    pub reference: Option<ReferenceInput>,
    /// How the capture link reaches the person. Default `none` (you show it yourself).
    pub delivery: Option<DeliveryChannel>,
    /// Where the person's browser returns after capture (http or https URL).
    pub callback_url: Option<String>,
    /// Opaque value echoed back to you; at most 1024 characters.
    pub state: Option<String>,
    /// Seconds until the verification expires: 300 to 7776000 (90 days). Default 7 days.
    pub time_to_live: Option<i64>,
    pub policy: Option<Policy>,
    /// Days from the end of the verification until its images and personal data are
    /// erased; within the tenant's `max_retention_days`. Default: the tenant's `retention_days`.
    pub retention_days: Option<u32>,
}

impl CreateVerificationRequest {
    pub fn parse(self) -> Result<kycd_engine::NewVerification, ApiError> {
        let applicant = match (self.applicant_id, self.applicant) {
            (Some(id), None) => kycd_engine::ApplicantRef::Existing(crate::extract::path_id(&id, "applicant")?),
            (None, Some(a)) => kycd_engine::ApplicantRef::Inline(a.parse()?),
            (None, None) => kycd_engine::ApplicantRef::Inline(NewApplicant {
                external_applicant_id: None,
                person: PersonData::default(),
            }),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid("give either applicant_id or applicant, not both"));
            }
        };
        if let Some(url) = &self.callback_url {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 2048
                && url.len() > 8
                && !url.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(ApiError::invalid(
                    "callback_url must be an absolute http or https URL of at most 2048 characters",
                ));
            }
        }
        if self.state.as_ref().is_some_and(|s| s.chars().count() > 1024) {
            return Err(ApiError::invalid("state must be at most 1024 characters"));
        }
        let time_to_live = match self.time_to_live {
            Some(s) if !(300..=7_776_000).contains(&s) => {
                return Err(ApiError::invalid(
                    "time_to_live must be between 300 seconds and 7776000 seconds (90 days)",
                ));
            }
            Some(s) => Some(chrono::Duration::seconds(s)),
            None => None,
        };
        let r = self.reference.unwrap_or_default();
        if r.signer_order == Some(0) {
            return Err(ApiError::invalid("reference.signer_order starts at 1"));
        }
        Ok(kycd_engine::NewVerification {
            applicant,
            declared: self.declared_data.unwrap_or_default().parse()?,
            reference: HostReference {
                document_id: host_id("document_id", r.document_id)?,
                signer_order: r.signer_order,
                signature_request_id: host_id("signature_request_id", r.signature_request_id)?,
            },
            delivery: self.delivery.unwrap_or(DeliveryChannel::None),
            callback_url: self.callback_url,
            state: self.state,
            time_to_live,
            policy: self.policy,
            retention_days: self.retention_days,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    pub id: String,
    pub status: VerificationStatus,
    pub applicant_id: String,
    pub declared_data: DeclaredDataDto,
    /// What the checks read from the document: `mrz` (the zone's lines, whether every
    /// check digit verified, the parsed fields) and `barcode` (the AAMVA fields); null
    /// until processed, when nothing was read, and once anonymized.
    #[schema(value_type = Option<Object>)]
    pub document_data: Option<serde_json::Value>,
    pub reference: HostReference,
    pub delivery: DeliveryChannel,
    pub callback_url: Option<String>,
    pub state: Option<String>,
    pub policy: Policy,
    pub expires_at: DateTime<Utc>,
    pub checks: Vec<CheckResult>,
    pub review: Option<Review>,
    /// The message a reviewer left for the person when asking for a new capture (their
    /// capture page shows it); null when there is none, and once anonymized.
    pub retry_message: Option<String>,
    pub redacted: bool,
    pub retention: RetentionView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a verification stands in the retention schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionView {
    /// Its own retention period, if it asked for one (else the tenant's default applies).
    pub retention_days: Option<u32>,
    /// While true, neither sweep touches it and it cannot be anonymized or deleted.
    pub legal_hold: bool,
    /// When its images and personal data will be erased (set when it ends).
    pub anonymize_at: Option<DateTime<Utc>>,
    /// When its anonymized tombstone will be deleted (set when it is anonymized).
    pub delete_at: Option<DateTime<Utc>>,
}

impl From<&Lifecycle> for RetentionView {
    fn from(l: &Lifecycle) -> Self {
        Self {
            retention_days: l.retention_days,
            legal_hold: l.legal_hold,
            anonymize_at: l.retain_until,
            delete_at: l.delete_after,
        }
    }
}

impl From<&Verification> for VerificationView {
    fn from(v: &Verification) -> Self {
        Self {
            id: v.id.to_string(),
            status: v.status,
            applicant_id: v.applicant_id.to_string(),
            declared_data: DeclaredDataDto::view(&v.private.declared),
            document_data: v.private.extracted.clone(),
            reference: v.reference.clone(),
            delivery: v.delivery,
            callback_url: v.private.callback_url.clone(),
            state: v.private.state.clone(),
            policy: v.policy.clone(),
            expires_at: v.expires_at,
            checks: v.checks.clone(),
            review: v.review.clone(),
            retry_message: v.private.retry_message.clone(),
            redacted: v.redacted,
            retention: (&v.lifecycle).into(),
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationList {
    pub data: Vec<VerificationView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAttemptRequest {
    /// BCP 47 language for the capture page, e.g. `en` or `fr-FR`.
    pub language: Option<String>,
    /// ISO 3166-1 alpha-2 country to preselect.
    pub country: Option<String>,
    pub document_type: Option<DocumentType>,
}

impl CreateAttemptRequest {
    pub fn parse(self) -> Result<ClientInfo, ApiError> {
        if let Some(l) = &self.language
            && (l.is_empty() || l.len() > 35 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(ApiError::invalid("language must be a BCP 47 tag such as 'en' or 'fr-FR'"));
        }
        if let Some(c) = &self.country
            && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(ApiError::invalid("country must be an ISO 3166-1 alpha-2 code such as 'DE'"));
        }
        Ok(ClientInfo {
            language: self.language,
            country: self.country.map(|c| c.to_ascii_uppercase()),
            document_type: self.document_type,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub id: String,
    pub verification_id: String,
    pub status: AttemptStatus,
    pub client: ClientInfo,
    pub token_expires_at: DateTime<Utc>,
    /// Whether the person already opened the capture link.
    pub token_used: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The capture page with its single-use start token. Only in the create response:
    /// the token is stored hashed and cannot be shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl AttemptView {
    pub fn new(a: &Attempt, url: Option<String>) -> Self {
        Self {
            id: a.id.to_string(),
            verification_id: a.verification_id.to_string(),
            status: a.status,
            client: a.client.clone(),
            token_expires_at: a.token_expires_at,
            token_used: a.token_used_at.is_some(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            url,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptList {
    pub data: Vec<AttemptView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaptureView {
    /// `file_…`: download with `GET /v1/files/{id}`.
    pub id: String,
    pub verification_id: String,
    pub attempt_id: String,
    pub kind: CaptureKind,
    pub media_type: MediaType,
    pub size: u64,
    /// SHA-256 of the stored bytes, hex: the uploaded file itself, except for a HEIC photo,
    /// which is stored converted to JPEG.
    pub sha256: String,
    pub feedback: CaptureFeedback,
    /// False once the image was erased.
    pub available: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Capture> for CaptureView {
    fn from(c: &Capture) -> Self {
        Self {
            id: c.id.to_string(),
            verification_id: c.verification_id.to_string(),
            attempt_id: c.attempt_id.to_string(),
            kind: c.kind,
            media_type: c.media_type,
            size: c.size,
            sha256: c.sha256.clone(),
            feedback: c.feedback.clone(),
            available: c.available,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaptureList {
    pub data: Vec<CaptureView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub decision: ReviewDecision,
    /// Why (1 to 2000 characters). Shown in the report and the console; sealed at rest,
    /// never sent in webhooks, and erased when the verification is anonymized.
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureSessionRequest {
    /// The `token` from the attempt's capture `url`.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaptureSessionView {
    pub attempt_id: String,
    pub verification_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Decision {
    /// `approved`, `declined`, or null while undecided.
    pub outcome: Option<VerificationStatus>,
    /// `reviewer` or `system`; null while undecided.
    pub decided_by: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    pub verification: VerificationView,
    pub applicant: ApplicantView,
    pub attempts: Vec<AttemptView>,
    pub captures: Vec<CaptureView>,
    pub checks: Vec<CheckResult>,
    pub decision: Decision,
    pub review: Option<Review>,
    /// What happened to the verification, oldest first. Reads of it (this report, image and
    /// evidence downloads, console views) are left out: they stay in the audit log
    /// (`kycd audit trail`, the console's audit trail).
    pub timeline: Vec<TimelineEntry>,
}

impl From<&Report> for ReportView {
    fn from(r: &Report) -> Self {
        let v = &r.verification;
        let decision = match (v.status, &v.review) {
            (s @ (VerificationStatus::Approved | VerificationStatus::Declined), Some(rv)) => Decision {
                outcome: Some(s),
                decided_by: Some("reviewer".into()),
                reason: Some(rv.reason.clone()),
            },
            (s @ (VerificationStatus::Approved | VerificationStatus::Declined), None) => Decision {
                outcome: Some(s),
                decided_by: Some("system".into()),
                reason: v.checks.iter().find(|c| !c.passed).map(|c| c.detail.clone()),
            },
            _ => Decision {
                outcome: None,
                decided_by: None,
                reason: None,
            },
        };
        Self {
            verification: v.into(),
            applicant: (&r.applicant).into(),
            attempts: r.attempts.iter().map(|a| AttemptView::new(a, None)).collect(),
            captures: r.captures.iter().map(CaptureView::from).collect(),
            checks: v.checks.clone(),
            decision,
            review: v.review.clone(),
            timeline: r.timeline.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many items on the page: 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page, to get the page after it; leave it out for
    /// the first page.
    pub cursor: Option<String>,
    /// Only verifications in this status (one of `VerificationStatus`, e.g. `review_required`);
    /// not taken when listing applicants.
    pub status: Option<String>,
}

impl ListQuery {
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(20),
            Some(n @ 1..=100) => Ok(n as usize),
            Some(_) => Err(ApiError::invalid("limit must be between 1 and 100")),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KindQuery {
    /// What the image shows: `document_front`, `document_back` or `selfie`; or
    /// `liveness_burst` for the frames of a liveness challenge (required).
    #[param(required = true)]
    pub kind: Option<String>,
    /// With `kind=liveness_burst` (and only then): the `challenge_id` that
    /// `POST /v1/verifications/{id}/liveness_challenge` answered. A challenge works once,
    /// until its `expires_at`.
    pub challenge_id: Option<String>,
}

/// A head-turn liveness challenge: the person turns their head through `steps`, in that
/// order, while the camera records; send the frames before `expires_at` as one upload
/// (`POST /v1/verifications/{id}/captures?kind=liveness_burst&challenge_id=…`).
#[derive(Debug, Serialize, ToSchema)]
pub struct LivenessChallengeView {
    /// `lch_…`: name it in the burst's upload. It works once.
    pub challenge_id: String,
    /// The person's own directions (`left`: they turn to their left, so in an unmirrored
    /// frame the nose moves toward the image's right edge), from `left`, `right`, `up`,
    /// `down`; two different ones.
    pub steps: Vec<String>,
    /// The burst must arrive before this (60 s after issue).
    pub expires_at: DateTime<Utc>,
}

impl From<&kycd_engine::liveness::IssuedChallenge> for LivenessChallengeView {
    fn from(c: &kycd_engine::liveness::IssuedChallenge) -> Self {
        Self {
            challenge_id: c.id.to_string(),
            steps: c.steps.iter().map(|s| s.as_str().to_owned()).collect(),
            expires_at: c.expires_at,
        }
    }
}

/// A liveness burst as a form: the frames, each a part named `file`, in capture order.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BurstForm {
    /// 10 to 40 JPEG frames, unmirrored (as the camera delivers them), at least 640×480,
    /// all together within the upload limit (15 MB by default).
    #[schema(value_type = Vec<String>)]
    pub file: Vec<Vec<u8>>,
}

/// An image's bytes, sent or answered as the whole body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ImageBytes(#[allow(dead_code)] Vec<u8>);

/// A file's bytes, answered as the whole body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBytes(#[allow(dead_code)] Vec<u8>);

/// An upload as a form (`multipart/form-data`), as a browser's file input sends it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The image file (JPEG, PNG, WebP or HEIC).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// A JSON Web Key Set (RFC 7517) of evidence signing keys.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JwkSet {
    /// The public keys: EC P-256 (`alg` `ES256`), each with its `kid`.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `https://kycd.dev/problems/<code>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What was wrong and what to do.
    pub detail: String,
}
