//! The records a sample evidence report is made from: the tenant, the applicant, her
//! verification (approved after a person's review) and its captures. The integration
//! tests and the unit tests in `src/` (which include this file by its path) build their
//! samples from them, each with its own checks and figures.

use chrono::{DateTime, TimeZone, Utc};
use kycd_core::*;

/// `min` minutes after the sample's first moment (2026-03-14 09:00 UTC).
pub fn at(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).single().unwrap() + chrono::Duration::minutes(min)
}

fn text(s: &str) -> Option<PersonalText> {
    Some(PersonalText::parse("x", s, 200).unwrap())
}

fn birth_date() -> Option<PersonalDate> {
    Some(PersonalDate::parse("x", "1964-08-12").unwrap())
}

/// A check's result.
pub fn check(name: &str, passed: bool, detail: &str, figures: serde_json::Value) -> CheckResult {
    CheckResult {
        name: name.into(),
        passed,
        detail: detail.into(),
        figures,
    }
}

/// What one sample's records differ in.
pub struct Case<'a> {
    pub email: &'a str,
    pub document_number: &'a str,
    pub reference: HostReference,
    /// The checks that passed.
    pub passed: Vec<CheckResult>,
    /// The face match that failed and sent the case to a person.
    pub face_similarity: f64,
    /// The reviewer's reason for approving.
    pub review_reason: &'a str,
}

/// Northwind Bank's tenant, Erika Mustermann as its applicant, and her verification:
/// its checks passed but the face match, and a reviewer approved it 95 minutes in.
pub fn approved_case(case: Case<'_>) -> (Tenant, Applicant, Verification) {
    let tenant = Tenant {
        id: TenantId::generate(),
        name: "Northwind Bank plc".into(),
        mode: Mode::Live,
        retention: Default::default(),
        created_at: at(-100_000),
    };
    let applicant = Applicant {
        id: ApplicantId::generate(),
        tenant_id: tenant.id.clone(),
        external_applicant_id: text("crm-48151623"),
        person: PersonData {
            full_name: text("Erika Mustermann"),
            email: Some(Email::parse(case.email).unwrap()),
            phone: Some(Phone::parse("+49", "30 1234567").unwrap()),
            birth_date: birth_date(),
        },
        redacted: false,
        created_at: at(0),
        updated_at: at(0),
    };
    let verification = Verification {
        id: VerificationId::generate(),
        tenant_id: tenant.id.clone(),
        applicant_id: applicant.id.clone(),
        status: VerificationStatus::Approved,
        reference: case.reference,
        delivery: DeliveryChannel::Email,
        private: VerificationPrivate {
            declared: DeclaredData {
                full_name: text("Erika Mustermann"),
                first_name: None,
                last_name: None,
                birth_date: birth_date(),
                document_number: text(case.document_number),
                nationality: Some("DEU".into()),
            },
            callback_url: None,
            state: None,
            extracted: None,
            retry_message: None,
        },
        policy: Policy::default(),
        expires_at: at(60 * 24 * 7),
        checks: [
            case.passed,
            vec![check(
                "face_match",
                false,
                "selfie similarity below the automatic threshold; sent to human review",
                serde_json::json!({"similarity": case.face_similarity, "threshold": 0.7}),
            )],
        ]
        .concat(),
        review: Some(Review {
            decision: ReviewDecision::Approve,
            reason: case.review_reason.into(),
            reviewer: "api_key:key_Rev1ewer0000000000000000".into(),
            reviewed_at: at(95),
            reason_code: None,
            user_message: None,
            confirmed_by: None,
        }),
        redacted: false,
        lifecycle: Default::default(),
        created_at: at(0),
        updated_at: at(95),
    };
    (tenant, applicant, verification)
}

/// An accepted JPEG capture of `v`, `size` bytes with the SHA-256 `sha256`, `width_height`
/// pixels, with the feedback `message`.
pub fn capture(
    v: &Verification,
    attempt: &AttemptId,
    kind: CaptureKind,
    (size, sha256): (u64, String),
    (width, height): (u32, u32),
    message: &str,
    created_at: DateTime<Utc>,
) -> Capture {
    Capture {
        id: FileId::generate(),
        tenant_id: v.tenant_id.clone(),
        verification_id: v.id.clone(),
        attempt_id: attempt.clone(),
        kind,
        media_type: MediaType::Jpeg,
        size,
        sha256,
        feedback: CaptureFeedback {
            width,
            height,
            accepted: true,
            issues: vec![],
            message: message.into(),
        },
        available: true,
        created_at,
    }
}
