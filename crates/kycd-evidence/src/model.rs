//! The evidence model: one typed description of what a verification proves. `report.json`
//! is this model serialised; the PDF, the archive and the JWT are renderings of it.

use crate::EvidenceError;
use chrono::{DateTime, Utc};
use kycd_core::{
    Applicant, Capture, MediaType, PersonalDate, PersonalText, ReviewDecision, Tenant, TimelineEntry, Verification, VerificationStatus,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Name of the JSON report inside an evidence archive.
pub const REPORT_JSON: &str = "report.json";
/// Value of [`EvidenceModel::format`]; bumped when the shape changes incompatibly.
pub const REPORT_FORMAT: &str = "kycd-evidence-report/1";

/// Everything an evidence report says about one verification. Personal values are plain
/// strings here: the model is only built for an authorised export. Its `Debug` shows ids
/// and status only, never personal data.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceModel {
    /// Always [`REPORT_FORMAT`].
    pub format: String,
    pub tenant: TenantEvidence,
    pub verification_id: String,
    pub applicant_id: String,
    /// Canonical status word, e.g. `approved`, `review_required`.
    pub status: String,
    /// The status in plain words, e.g. `Approved`, `Waiting for a human review`.
    pub status_words: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The host object (e-signature document, signature request), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_document_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_signer_order: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_signature_request_id: Option<String>,
    /// The applicant as the business registered them (empty once anonymized).
    pub person: PersonEvidence,
    /// What the business declared it expects (empty once anonymized).
    pub declared: DeclaredEvidence,
    /// What the checks read from the document, when the engine supplies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extracted: Option<IdentityFields>,
    pub captures: Vec<CaptureEvidence>,
    pub checks: Vec<CheckEvidence>,
    pub decision: DecisionEvidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewEvidence>,
    pub timeline: Vec<TimelineEvidence>,
    /// The policy snapshot that decided the verification.
    pub policy: serde_json::Value,
    /// True when personal data was erased (anonymized) before this report was made.
    pub redacted: bool,
    pub generated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantEvidence {
    pub id: String,
    pub name: String,
    /// `live` or `test`.
    pub mode: String,
}

#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersonEvidence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_applicant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
}

#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeclaredEvidence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
}

/// Identity data read from the document (MRZ, barcode) by the checks.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuing_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_date: Option<String>,
}

macro_rules! redacted_debug {
    ($($t:ident),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($t), "(<redacted>)"))
            }
        }
    )*};
}
redacted_debug!(PersonEvidence, DeclaredEvidence, IdentityFields);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureEvidence {
    pub file_id: String,
    pub attempt_id: String,
    /// `document_front`, `document_back` or `selfie`.
    pub kind: String,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub media_type: String,
    /// Size of the original file in bytes.
    pub size: u64,
    /// SHA-256 of the original file, lowercase hex.
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    /// Whether the capture page accepted the image as usable.
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<String>,
    /// False once the image was erased (anonymize); its hash stays as a record.
    pub available: bool,
    pub captured_at: DateTime<Utc>,
}

impl CaptureEvidence {
    /// File extension for the media type (`jpg`, `png`, `webp`; `burst` for a liveness
    /// burst, kycd's container of the challenge and its JPEG frames).
    pub fn extension(&self) -> &'static str {
        match MediaType::parse(&self.media_type) {
            Some(MediaType::Png) => "png",
            Some(MediaType::Webp) => "webp",
            Some(MediaType::LivenessBurst) => "burst",
            Some(MediaType::Jpeg) | None => "jpg",
        }
    }
    /// Where the original image goes inside the archive: `images/<file_id>.<ext>`.
    pub fn archive_name(&self) -> String {
        format!("images/{}.{}", self.file_id, self.extension())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckEvidence {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    pub figures: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEvidence {
    /// The canonical status word (same as [`EvidenceModel::status`]).
    pub outcome: String,
    /// The outcome in plain words.
    pub outcome_words: String,
    /// `reviewer api_key:key_…`, `automatic rules` or `not decided yet`.
    pub decided_by: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewEvidence {
    /// `approve` or `decline`.
    pub decision: String,
    pub reason: String,
    pub reviewer: String,
    pub reviewed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvidence {
    pub at: DateTime<Utc>,
    pub action: String,
    pub actor: String,
}

/// A status in words a compliance officer reads without a glossary.
pub fn status_in_words(status: VerificationStatus) -> &'static str {
    match status {
        VerificationStatus::Created => "Created, not yet sent to the person",
        VerificationStatus::Pending => "Waiting for the person to start",
        VerificationStatus::CaptureInProgress => "The person is capturing their document",
        VerificationStatus::Processing => "Being checked",
        VerificationStatus::Approved => "Approved",
        VerificationStatus::Declined => "Declined",
        VerificationStatus::ReviewRequired => "Waiting for a human review",
        VerificationStatus::RetryRequired => "The person was asked to try again",
        VerificationStatus::Expired => "Expired before the person finished",
        VerificationStatus::Cancelled => "Cancelled",
    }
}

fn text(v: &Option<PersonalText>) -> Option<String> {
    v.as_ref().map(|t| t.expose().to_owned())
}

fn date(v: &Option<PersonalDate>) -> Option<String> {
    v.as_ref().map(|d| d.expose().format("%Y-%m-%d").to_string())
}

impl EvidenceModel {
    /// Builds the model from the engine's records. Captures of other verifications are
    /// ignored; the timeline is put in time order. Personal data is left out when the
    /// verification or the applicant was anonymized.
    pub fn new(
        tenant: &Tenant,
        v: &Verification,
        applicant: &Applicant,
        captures: &[Capture],
        timeline: &[TimelineEntry],
        generated_at: DateTime<Utc>,
    ) -> Self {
        let person = if applicant.redacted {
            PersonEvidence::default()
        } else {
            let p = &applicant.person;
            PersonEvidence {
                external_applicant_id: text(&applicant.external_applicant_id),
                full_name: text(&p.full_name),
                email: p.email.as_ref().map(|e| e.expose().to_owned()),
                phone: p.phone.as_ref().map(|ph| format!("{} {}", ph.country_code(), ph.number())),
                birth_date: date(&p.birth_date),
            }
        };
        let declared = if v.redacted {
            DeclaredEvidence::default()
        } else {
            let d = &v.private.declared;
            DeclaredEvidence {
                full_name: text(&d.full_name),
                first_name: text(&d.first_name),
                last_name: text(&d.last_name),
                birth_date: date(&d.birth_date),
                document_number: text(&d.document_number),
                nationality: d.nationality.clone(),
            }
        };
        let captures = captures
            .iter()
            .filter(|c| c.verification_id == v.id)
            .map(|c| CaptureEvidence {
                file_id: c.id.to_string(),
                attempt_id: c.attempt_id.to_string(),
                kind: c.kind.as_str().to_owned(),
                media_type: c.media_type.as_str().to_owned(),
                size: c.size,
                sha256: c.sha256.to_ascii_lowercase(),
                width: c.feedback.width,
                height: c.feedback.height,
                accepted: c.feedback.accepted,
                issues: c.feedback.issues.clone(),
                available: c.available,
                captured_at: c.created_at,
            })
            .collect();
        let checks = v
            .checks
            .iter()
            .map(|c| CheckEvidence {
                name: c.name.clone(),
                passed: c.passed,
                detail: c.detail.clone(),
                figures: c.figures.clone(),
            })
            .collect();
        let review = v.review.as_ref().map(|r| ReviewEvidence {
            decision: match r.decision {
                ReviewDecision::Approve => "approve",
                ReviewDecision::Decline => "decline",
            }
            .to_owned(),
            reason: r.reason.clone(),
            reviewer: r.reviewer.clone(),
            reviewed_at: r.reviewed_at,
        });
        let mut timeline: Vec<TimelineEvidence> = timeline
            .iter()
            .map(|t| TimelineEvidence {
                at: t.at,
                action: t.action.clone(),
                actor: t.actor.clone(),
            })
            .collect();
        timeline.sort_by_key(|t| t.at);

        Self {
            format: REPORT_FORMAT.to_owned(),
            tenant: TenantEvidence {
                id: tenant.id.to_string(),
                name: tenant.name.clone(),
                mode: tenant.mode.as_str().to_owned(),
            },
            verification_id: v.id.to_string(),
            applicant_id: v.applicant_id.to_string(),
            status: v.status.as_str().to_owned(),
            status_words: status_in_words(v.status).to_owned(),
            created_at: v.created_at,
            updated_at: v.updated_at,
            expires_at: v.expires_at,
            host_document_id: v.reference.document_id.clone(),
            host_signer_order: v.reference.signer_order,
            host_signature_request_id: v.reference.signature_request_id.clone(),
            person,
            declared,
            extracted: None,
            captures,
            checks,
            decision: decision(v),
            review,
            timeline,
            policy: serde_json::to_value(&v.policy).unwrap_or(serde_json::Value::Null),
            redacted: v.redacted || applicant.redacted,
            generated_at,
        }
    }

    /// Adds what the checks read from the document (MRZ, barcode).
    pub fn with_extracted(mut self, extracted: IdentityFields) -> Self {
        self.extracted = Some(extracted);
        self
    }

    /// `report.json`: the model, pretty-printed.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>, EvidenceError> {
        let mut out = serde_json::to_vec_pretty(self).map_err(|source| EvidenceError::Json {
            what: "the evidence report",
            source,
        })?;
        out.push(b'\n');
        Ok(out)
    }

    /// Reads a `report.json` back.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, EvidenceError> {
        serde_json::from_slice(bytes).map_err(|source| EvidenceError::Json {
            what: "report.json",
            source,
        })
    }

    /// The identity the evidence attests to: what was read from the document where there
    /// is a value, else what was declared, else what the applicant record says.
    pub fn identity(&self) -> IdentityFields {
        let ex = self.extracted.clone().unwrap_or_default();
        let d = &self.declared;
        let declared_name = d.full_name.clone().or_else(|| match (&d.first_name, &d.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        });
        IdentityFields {
            full_name: ex.full_name.or(declared_name).or_else(|| self.person.full_name.clone()),
            birth_date: ex
                .birth_date
                .or_else(|| d.birth_date.clone())
                .or_else(|| self.person.birth_date.clone()),
            document_number: ex.document_number.or_else(|| d.document_number.clone()),
            document_type: ex.document_type,
            issuing_country: ex.issuing_country,
            nationality: ex.nationality.or_else(|| d.nationality.clone()),
            expiry_date: ex.expiry_date,
        }
    }
}

impl fmt::Debug for EvidenceModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvidenceModel")
            .field("tenant", &self.tenant.id)
            .field("verification_id", &self.verification_id)
            .field("status", &self.status)
            .field("captures", &self.captures.len())
            .field("checks", &self.checks.len())
            .field("timeline", &self.timeline.len())
            .finish_non_exhaustive()
    }
}

fn decision(v: &Verification) -> DecisionEvidence {
    let failed: Vec<&str> = v.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
    let checks_summary = if v.checks.is_empty() {
        "no checks were run".to_owned()
    } else if failed.is_empty() {
        format!("all {} checks passed", v.checks.len())
    } else {
        format!("{} of {} checks failed: {}", failed.len(), v.checks.len(), failed.join(", "))
    };
    let (decided_by, reason, decided_at) = match (&v.review, v.status) {
        (Some(r), _) => (format!("reviewer {}", r.reviewer), r.reason.clone(), Some(r.reviewed_at)),
        (None, VerificationStatus::Approved | VerificationStatus::Declined) => {
            ("automatic rules".to_owned(), checks_summary, Some(v.updated_at))
        }
        (None, VerificationStatus::ReviewRequired | VerificationStatus::RetryRequired) => {
            ("automatic rules (not final)".to_owned(), checks_summary, Some(v.updated_at))
        }
        (None, VerificationStatus::Expired) => (
            "expiry".to_owned(),
            "the person did not finish before the verification expired".to_owned(),
            Some(v.updated_at),
        ),
        (None, VerificationStatus::Cancelled) => (
            "the business".to_owned(),
            "the verification was cancelled".to_owned(),
            Some(v.updated_at),
        ),
        (None, _) => ("not decided yet".to_owned(), "the verification is still open".to_owned(), None),
    };
    DecisionEvidence {
        outcome: v.status.as_str().to_owned(),
        outcome_words: status_in_words(v.status).to_owned(),
        decided_by,
        reason,
        decided_at,
    }
}

#[cfg(test)]
pub(crate) mod tests;
