use super::*;
use chrono::TimeZone;
use kycd_core::*;

pub fn at(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).single().unwrap() + chrono::Duration::minutes(min)
}

/// A complete sample: approved after review, 3 captures, `timeline_rows` rows.
pub fn sample(timeline_rows: usize) -> (Tenant, Verification, Applicant, Vec<Capture>, Vec<TimelineEntry>) {
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
        external_applicant_id: Some(PersonalText::parse("x", "crm-48151623", 100).unwrap()),
        person: PersonData {
            full_name: Some(PersonalText::parse("x", "Erika Mustermann", 100).unwrap()),
            email: Some(Email::parse("erika@example.com").unwrap()),
            phone: Some(Phone::parse("+49", "30 1234567").unwrap()),
            birth_date: Some(PersonalDate::parse("x", "1964-08-12").unwrap()),
        },
        redacted: false,
        created_at: at(0),
        updated_at: at(0),
    };
    let vid = VerificationId::generate();
    let attempt = AttemptId::generate();
    let v = Verification {
        id: vid.clone(),
        tenant_id: tenant.id.clone(),
        applicant_id: applicant.id.clone(),
        status: VerificationStatus::Approved,
        reference: HostReference::default(),
        delivery: DeliveryChannel::Email,
        private: VerificationPrivate {
            declared: DeclaredData {
                full_name: Some(PersonalText::parse("x", "Erika Mustermann", 100).unwrap()),
                first_name: None,
                last_name: None,
                birth_date: Some(PersonalDate::parse("x", "1964-08-12").unwrap()),
                document_number: Some(PersonalText::parse("x", "C01X00T47", 100).unwrap()),
                nationality: Some("DEU".into()),
            },
            callback_url: None,
            state: None,
            extracted: None,
            retry_message: None,
        },
        policy: Policy::default(),
        expires_at: at(60 * 24 * 7),
        checks: vec![
            CheckResult {
                name: "image_decoded".into(),
                passed: true,
                detail: "all captures decoded".into(),
                figures: serde_json::json!({"document_front": {"width": 1600, "height": 1000}}),
            },
            CheckResult {
                name: "mrz_checksums".into(),
                passed: true,
                detail: "all MRZ check digits match".into(),
                figures: serde_json::json!({"lines": 3, "confidence": 0.97}),
            },
            CheckResult {
                name: "face_match".into(),
                passed: false,
                detail: "selfie similarity below the automatic threshold; sent to review".into(),
                figures: serde_json::json!({"similarity": 0.61, "threshold": 0.7}),
            },
        ],
        review: Some(Review {
            decision: ReviewDecision::Approve,
            reason: "Face compared manually with the document photo; same person.".into(),
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
    let kinds = [CaptureKind::DocumentFront, CaptureKind::DocumentBack, CaptureKind::Selfie];
    let captures = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| Capture {
            id: FileId::generate(),
            tenant_id: tenant.id.clone(),
            verification_id: vid.clone(),
            attempt_id: attempt.clone(),
            kind: *k,
            media_type: MediaType::Jpeg,
            size: 1000 + i as u64,
            sha256: format!("{:064x}", i + 1),
            feedback: CaptureFeedback {
                width: 1600,
                height: 1000,
                accepted: true,
                issues: vec![],
                message: "ok".into(),
            },
            available: true,
            created_at: at(10 + i as i64),
        })
        .collect();
    let timeline = (0..timeline_rows)
        .map(|i| TimelineEntry {
            at: at(i as i64 * 2),
            action: [
                "verification.created",
                "attempt.started",
                "capture.added",
                "image.viewed",
                "verification.status.processing",
            ][i % 5]
                .into(),
            actor: if i % 3 == 0 {
                "system".into()
            } else {
                format!("applicant:{attempt}")
            },
        })
        .rev()
        .collect();
    (tenant, v, applicant, captures, timeline)
}

pub fn sample_model(timeline_rows: usize) -> EvidenceModel {
    let (t, v, a, c, tl) = sample(timeline_rows);
    EvidenceModel::new(&t, &v, &a, &c, &tl, at(120))
}

#[test]
fn model_carries_everything_and_round_trips_as_json() {
    let m = sample_model(5);
    assert_eq!(m.status, "approved");
    assert_eq!(m.status_words, "Approved");
    assert_eq!(m.decision.decided_by, "reviewer api_key:key_Rev1ewer0000000000000000");
    assert_eq!(m.declared.document_number.as_deref(), Some("C01X00T47"));
    assert_eq!(m.person.phone.as_deref(), Some("+49 301234567"));
    assert_eq!(m.captures.len(), 3);
    assert!(m.captures[0].archive_name().starts_with("images/file_"));
    assert!(m.timeline.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(m.policy["max_attempts"], 3);
    let back = EvidenceModel::from_json_slice(&m.to_json_bytes().unwrap()).unwrap();
    assert_eq!(back, m);
    let id = m.identity();
    assert_eq!(id.full_name.as_deref(), Some("Erika Mustermann"));
    assert_eq!(id.birth_date.as_deref(), Some("1964-08-12"));
}

#[test]
fn debug_never_shows_personal_data_and_anonymized_data_is_left_out() {
    let (t, mut v, mut a, c, tl) = sample(3);
    let m = EvidenceModel::new(&t, &v, &a, &c, &tl, at(1));
    let dbg = format!("{m:?} {:?} {:?}", m.person, m.declared);
    assert!(!dbg.contains("Erika") && !dbg.contains("C01X00T47"), "{dbg}");
    v.redacted = true;
    a.redacted = true;
    let m = EvidenceModel::new(&t, &v, &a, &c, &tl, at(1));
    assert!(m.redacted);
    assert_eq!(m.person, PersonEvidence::default());
    assert_eq!(m.declared, DeclaredEvidence::default());
    assert!(!String::from_utf8(m.to_json_bytes().unwrap()).unwrap().contains("Erika"));
}

#[test]
fn automatic_decision_names_the_failed_checks() {
    let (t, mut v, a, c, tl) = sample(1);
    v.review = None;
    v.status = VerificationStatus::Declined;
    let m = EvidenceModel::new(&t, &v, &a, &c, &tl, at(1));
    assert_eq!(m.decision.decided_by, "automatic rules");
    assert_eq!(m.decision.reason, "1 of 3 checks failed: face_match");
}
