//! The decision of a verification in canonical terms: a recommendation, the reasons
//! behind it, risk signals, and the identity an approval confirms. Every dialect maps
//! these words onto its own (response codes, risk labels, recommendations); none of them
//! derives a decision from checks itself. Pure functions of a [`Verification`].

use kycd_checks::pipeline as kycd_checks_names;
use kycd_core::*;

/// What kycd recommends about the person, once its checks reached a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recommendation {
    /// Approved.
    Allow,
    /// A person must look at it (review_required).
    Challenge,
    /// Declined.
    Deny,
}

/// Why a verification is where it is. Stable, free of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Approved,
    /// The checks passed but no automated check can approve: a reviewer decides.
    ReviewRequired,
    DeclinedByReviewer,
    /// Unusable captures and no attempt left.
    AttemptsExhausted,
    ImageUnreadable,
    CapturesMissing,
    PoorImageQuality,
    DocumentExpired,
    HolderAge,
    DocumentNotAccepted,
    /// Declared data and the document disagree (name, birth date, number).
    DataMismatch,
    /// The selfie does not (or may not) show the document's holder.
    FaceMismatch,
    /// More than one face on the selfie.
    MultipleFaces,
    /// The head-turn liveness check failed (a flat picture, another face, turns not followed).
    LivenessFailed,
    /// Test mode: the outcome was forced by mock behaviour.
    ForcedByMock,
    OtherCheckFailed,
    Expired,
    Cancelled,
}

impl Reason {
    /// The stable word for the reason (dialects that report reasons as words use these).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::ReviewRequired => "manual_review_required",
            Self::DeclinedByReviewer => "declined_by_reviewer",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::ImageUnreadable => "image_unreadable",
            Self::CapturesMissing => "images_missing",
            Self::PoorImageQuality => "poor_image_quality",
            Self::DocumentExpired => "document_expired",
            Self::HolderAge => "age_requirement_not_met",
            Self::DocumentNotAccepted => "document_not_accepted",
            Self::DataMismatch => "data_mismatch",
            Self::FaceMismatch => "face_mismatch",
            Self::MultipleFaces => "multiple_faces_detected",
            Self::LivenessFailed => "liveness_failed",
            Self::ForcedByMock => "mock_behavior",
            Self::OtherCheckFailed => "check_failed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Reasons that a new attempt can cure.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::ImageUnreadable | Self::CapturesMissing | Self::PoorImageQuality)
    }
}

/// Risk signals raised by failed checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RiskSignal {
    DocumentExpired,
    Underage,
    DocumentNotAccepted,
    DataMismatch,
    FaceMismatch,
    MultipleFaces,
}

/// The identity an approval confirms: the declared data the approved document was checked
/// against. Absent unless approved, and once anonymized.
#[derive(Debug, Clone, Default)]
pub struct VerifiedIdentity {
    pub full_name: Option<PersonalText>,
    pub first_name: Option<PersonalText>,
    pub last_name: Option<PersonalText>,
    pub birth_date: Option<PersonalDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy {
    System,
    Reviewer,
}

#[derive(Debug, Clone)]
pub struct DecisionSummary {
    /// `None` until the checks reached a verdict (and for expired or cancelled ones).
    pub recommendation: Option<Recommendation>,
    pub reasons: Vec<Reason>,
    pub risks: Vec<RiskSignal>,
    pub verified: Option<VerifiedIdentity>,
    /// Who made a final decision (approved or declined).
    pub decided_by: Option<DecidedBy>,
}

/// The canonical reason a failed check stands for, by what it found: a face match that
/// could not compare (no face, no models) is not a mismatch, nor an inconclusive burst a
/// failed liveness check.
pub fn reason_for(c: &CheckResult) -> Reason {
    let undecided = [kycd_checks_names::FACE_MATCH, kycd_core::decide::LIVENESS].contains(&c.name.as_str());
    if undecided && kycd_checks_names::is_inconclusive(c) {
        Reason::OtherCheckFailed
    } else {
        reason_for_check(&c.name)
    }
}

/// The canonical reason a failed check stands for.
pub fn reason_for_check(name: &str) -> Reason {
    match name {
        n if n.starts_with("image_decoded") => Reason::ImageUnreadable,
        "required_captures" => Reason::CapturesMissing,
        n if n.starts_with("quality") || n.starts_with("image_quality") => Reason::PoorImageQuality,
        "document_not_expired" => Reason::DocumentExpired,
        "holder_age" => Reason::HolderAge,
        "document_allowed" => Reason::DocumentNotAccepted,
        "name_consistency" | "birth_date_consistency" | "document_number_consistency" => Reason::DataMismatch,
        "mock_outcome" => Reason::ForcedByMock,
        kycd_checks_names::FACE_MATCH => Reason::FaceMismatch,
        kycd_checks_names::SINGLE_FACE => Reason::MultipleFaces,
        kycd_core::decide::LIVENESS => Reason::LivenessFailed,
        _ => Reason::OtherCheckFailed,
    }
}

fn risk_for(reason: Reason) -> Option<RiskSignal> {
    match reason {
        Reason::DocumentExpired => Some(RiskSignal::DocumentExpired),
        Reason::HolderAge => Some(RiskSignal::Underage),
        Reason::DocumentNotAccepted => Some(RiskSignal::DocumentNotAccepted),
        Reason::DataMismatch => Some(RiskSignal::DataMismatch),
        Reason::FaceMismatch => Some(RiskSignal::FaceMismatch),
        Reason::MultipleFaces => Some(RiskSignal::MultipleFaces),
        _ => None,
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Summarise a verification's decision.
pub fn decision_summary(v: &Verification) -> DecisionSummary {
    use VerificationStatus as S;
    let mut failed = Vec::new();
    let mut risks = Vec::new();
    for c in v.checks.iter().filter(|c| !c.passed) {
        let r = reason_for(c);
        push_unique(&mut failed, r);
        if let Some(risk) = risk_for(r) {
            push_unique(&mut risks, risk);
        }
    }
    let (recommendation, reasons, decided_by) = match v.status {
        S::Approved => (
            Some(Recommendation::Allow),
            vec![Reason::Approved],
            Some(if v.review.is_some() {
                DecidedBy::Reviewer
            } else {
                DecidedBy::System
            }),
        ),
        S::Declined if v.review.is_some() => {
            let mut reasons = vec![Reason::DeclinedByReviewer];
            for r in failed {
                push_unique(&mut reasons, r);
            }
            (Some(Recommendation::Deny), reasons, Some(DecidedBy::Reviewer))
        }
        S::Declined => {
            let mut reasons = Vec::new();
            if failed.iter().any(|r| r.is_retryable()) && !failed.contains(&Reason::ForcedByMock) {
                reasons.push(Reason::AttemptsExhausted);
            }
            for r in failed {
                push_unique(&mut reasons, r);
            }
            if reasons.is_empty() {
                reasons.push(Reason::OtherCheckFailed);
            }
            (Some(Recommendation::Deny), reasons, Some(DecidedBy::System))
        }
        S::ReviewRequired => {
            let mut reasons = vec![Reason::ReviewRequired];
            for r in failed {
                push_unique(&mut reasons, r);
            }
            (Some(Recommendation::Challenge), reasons, None)
        }
        S::RetryRequired => (None, failed, None),
        S::Expired => (None, vec![Reason::Expired], None),
        S::Cancelled => (None, vec![Reason::Cancelled], None),
        S::Created | S::Pending | S::CaptureInProgress | S::Processing => (None, Vec::new(), None),
    };
    let verified = (v.status == S::Approved && !v.redacted).then(|| {
        let d = &v.private.declared;
        VerifiedIdentity {
            full_name: d.full_name.clone(),
            first_name: d.first_name.clone(),
            last_name: d.last_name.clone(),
            birth_date: d.birth_date,
        }
    });
    DecisionSummary {
        recommendation,
        reasons,
        risks,
        verified,
        decided_by,
    }
}

/// Sex as the document states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentSex {
    Male,
    Female,
    #[serde(alias = "unspecified", alias = "not_specified", alias = "invalid", other)]
    Other,
}

/// What the document says, read from the sealed extraction (MRZ first, the AAMVA barcode
/// filling gaps). Personal data: dialects put it in results only for their own tenant,
/// and it is gone once the verification is anonymized.
#[derive(Debug, Clone, Default)]
pub struct DocumentFacts {
    pub document_type: Option<DocumentType>,
    /// Issuing state: ICAO alpha-3 from an MRZ, the AAMVA country (`USA`, `CAN`) otherwise.
    pub issuing_country: Option<String>,
    /// AAMVA jurisdiction (state or province code), when read from a barcode.
    pub region: Option<String>,
    pub document_number: Option<String>,
    pub surname: Option<String>,
    pub given_names: Option<String>,
    pub nationality: Option<String>,
    pub birth_date: Option<chrono::NaiveDate>,
    pub sex: Option<DocumentSex>,
    pub issue_date: Option<chrono::NaiveDate>,
    pub expiry_date: Option<chrono::NaiveDate>,
}

impl DocumentFacts {
    /// Given names and surname, as printed on the document.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.given_names, &self.surname]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The issuing country as ISO 3166-1 alpha-2, the code most vendors write. ICAO's own
    /// codes (UN, stateless, the British nationality classes, Kosovo, the specimen `UTO`)
    /// have none: `None` rather than a guess.
    pub fn issuing_country_alpha2(&self) -> Option<&'static str> {
        let alpha3 = self.issuing_country.as_deref()?;
        isocountry::CountryCode::for_alpha3(alpha3).ok().map(|c| c.alpha2())
    }
}

// Mirrors of the pipeline's serialized extraction (`kycd_checks::pipeline::ExtractedDocument`):
// only the fields read here, every one optional so older records still parse.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ExtractedMirror {
    mrz: Option<MrzMirror>,
    barcode: Option<BarcodeMirror>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct MrzMirror {
    fields: MrzFieldsMirror,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct MrzFieldsMirror {
    document_type: Option<DocumentType>,
    issuing_state: String,
    document_number: String,
    surname: String,
    given_names: String,
    nationality: String,
    birth_date: Option<chrono::NaiveDate>,
    sex: Option<DocumentSex>,
    expiry_date: Option<chrono::NaiveDate>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct BarcodeMirror {
    document_type: Option<DocumentType>,
    family_name: Option<String>,
    first_name: Option<String>,
    middle_names: Option<String>,
    birth_date: Option<chrono::NaiveDate>,
    expiry_date: Option<chrono::NaiveDate>,
    issue_date: Option<chrono::NaiveDate>,
    document_number: Option<String>,
    sex: Option<DocumentSex>,
    jurisdiction: Option<String>,
    country: Option<String>,
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// An MRZ state code as ISO 3166 alpha-3 where Doc 9303 differs (Germany is `D`).
fn state_code(s: String) -> Option<String> {
    non_empty(s).map(|c| if c == "D" { "DEU".to_owned() } else { c })
}

/// The document's data, if the checks read any (and the verification is not anonymized).
pub fn document_facts(v: &Verification) -> Option<DocumentFacts> {
    if v.redacted {
        return None;
    }
    let raw = v.private.extracted.as_ref()?;
    let e: ExtractedMirror = serde_json::from_value(raw.clone()).ok()?;
    let mut f = DocumentFacts::default();
    if let Some(m) = e.mrz.map(|m| m.fields) {
        f.document_type = m.document_type;
        f.issuing_country = state_code(m.issuing_state);
        f.document_number = non_empty(m.document_number);
        f.surname = non_empty(m.surname);
        f.given_names = non_empty(m.given_names);
        f.nationality = state_code(m.nationality);
        f.birth_date = m.birth_date;
        f.sex = m.sex;
        f.expiry_date = m.expiry_date;
    }
    if let Some(b) = e.barcode {
        let given = match (b.first_name, b.middle_names) {
            (Some(a), Some(m)) if !m.trim().is_empty() => Some(format!("{a} {m}")),
            (a, _) => a,
        };
        f.document_type = f.document_type.or(b.document_type);
        f.issuing_country = f.issuing_country.or(b.country.and_then(non_empty));
        f.region = b.jurisdiction.and_then(non_empty);
        f.document_number = f.document_number.or(b.document_number.and_then(non_empty));
        f.surname = f.surname.or(b.family_name.and_then(non_empty));
        f.given_names = f.given_names.or(given.and_then(non_empty));
        f.birth_date = f.birth_date.or(b.birth_date);
        f.sex = f.sex.or(b.sex);
        f.issue_date = b.issue_date;
        f.expiry_date = f.expiry_date.or(b.expiry_date);
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verification(status: VerificationStatus, checks: &[(&str, bool)], reviewed: bool) -> Verification {
        let v = crate::test_fixtures::verification(status);
        Verification {
            private: VerificationPrivate {
                declared: DeclaredData {
                    full_name: Some(PersonalText::parse("n", "Ada Example", 100).unwrap()),
                    ..DeclaredData::default()
                },
                ..VerificationPrivate::default()
            },
            checks: checks
                .iter()
                .map(|(n, p)| CheckResult {
                    name: (*n).into(),
                    passed: *p,
                    detail: String::new(),
                    figures: serde_json::Value::Null,
                })
                .collect(),
            review: reviewed.then(|| Review {
                decision: ReviewDecision::Approve,
                reason: "ok".into(),
                reviewer: "api_key:key_x".into(),
                reviewed_at: v.created_at,
                reason_code: None,
                user_message: None,
                confirmed_by: None,
            }),
            ..v
        }
    }

    #[test]
    fn approval_confirms_the_declared_identity() {
        let d = decision_summary(&verification(VerificationStatus::Approved, &[("required_captures", true)], true));
        assert_eq!(d.recommendation, Some(Recommendation::Allow));
        assert_eq!(d.reasons, vec![Reason::Approved]);
        assert_eq!(d.decided_by, Some(DecidedBy::Reviewer));
        assert_eq!(d.verified.unwrap().full_name.unwrap().expose(), "Ada Example");
    }

    #[test]
    fn system_decline_after_unusable_images_names_the_exhausted_attempts() {
        let d = decision_summary(&verification(
            VerificationStatus::Declined,
            &[("image_decoded.selfie", false), ("document_not_expired", false)],
            false,
        ));
        assert_eq!(d.recommendation, Some(Recommendation::Deny));
        assert_eq!(
            d.reasons,
            vec![Reason::AttemptsExhausted, Reason::ImageUnreadable, Reason::DocumentExpired]
        );
        assert_eq!(d.risks, vec![RiskSignal::DocumentExpired]);
        assert!(d.verified.is_none());
    }

    #[test]
    fn a_failed_liveness_check_is_a_reason_and_a_risk_an_inconclusive_one_is_neither() {
        let mut v = verification(VerificationStatus::ReviewRequired, &[("liveness", false)], false);
        v.checks[0].figures = serde_json::json!({"outcome": "fail", "reasons": ["planar_motion"]});
        assert_eq!(decision_summary(&v).reasons, vec![Reason::ReviewRequired, Reason::LivenessFailed]);
        assert_eq!(crate::console::risk_signals(&v), vec!["liveness_failed"]);
        v.checks[0].figures = serde_json::json!({"outcome": "inconclusive", "reasons": ["no_face"]});
        assert_eq!(decision_summary(&v).reasons, vec![Reason::ReviewRequired, Reason::OtherCheckFailed]);
        assert!(crate::console::risk_signals(&v).is_empty());
    }

    #[test]
    fn undecided_states_have_no_recommendation() {
        for s in [
            VerificationStatus::Created,
            VerificationStatus::Pending,
            VerificationStatus::CaptureInProgress,
            VerificationStatus::Processing,
            VerificationStatus::RetryRequired,
            VerificationStatus::Expired,
            VerificationStatus::Cancelled,
        ] {
            assert_eq!(decision_summary(&verification(s, &[], false)).recommendation, None, "{s}");
        }
        let r = decision_summary(&verification(VerificationStatus::ReviewRequired, &[], false));
        assert_eq!(r.recommendation, Some(Recommendation::Challenge));
        assert_eq!(r.reasons, vec![Reason::ReviewRequired]);
    }

    #[test]
    fn document_facts_read_what_the_pipeline_stores() {
        // The ICAO Doc 9303 specimen (fictional holder, fictional state "UTO").
        let today = chrono::NaiveDate::from_ymd_opt(2010, 1, 1).unwrap();
        let mrz = kycd_checks::mrz::parse_lines(
            &[
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
            ],
            today,
        )
        .unwrap();
        let stored = kycd_checks::pipeline::ExtractedDocument {
            mrz: Some(mrz),
            barcode: None,
        };
        let mut v = verification(VerificationStatus::Approved, &[], false);
        v.private.extracted = Some(serde_json::to_value(&stored).unwrap());
        let f = document_facts(&v).expect("facts");
        assert_eq!(f.document_type, Some(DocumentType::Passport));
        assert_eq!(f.issuing_country.as_deref(), Some("UTO"));
        assert_eq!(f.issuing_country_alpha2(), None, "a specimen state has no ISO code");
        let german = DocumentFacts {
            issuing_country: Some("DEU".into()),
            ..DocumentFacts::default()
        };
        assert_eq!(german.issuing_country_alpha2(), Some("DE"));
        assert_eq!(f.document_number.as_deref(), Some("L898902C3"));
        assert_eq!(f.full_name().as_deref(), Some("ANNA MARIA ERIKSSON"));
        assert_eq!(f.birth_date, chrono::NaiveDate::from_ymd_opt(1974, 8, 12));
        assert_eq!(f.sex, Some(DocumentSex::Female));
        assert_eq!(f.expiry_date, chrono::NaiveDate::from_ymd_opt(2012, 4, 15));
        v.redacted = true;
        assert!(document_facts(&v).is_none(), "anonymized: nothing to read");
    }
}
