use super::*;
use kycd_core::*;

// The records are the integration tests' (a unit test cannot use their crate).
#[path = "../../tests/it/records.rs"]
mod records;
use records::{Case, approved_case, at, capture, check};

/// A complete sample: approved after review, 3 captures, `timeline_rows` rows.
pub fn sample(timeline_rows: usize) -> (Tenant, Verification, Applicant, Vec<Capture>, Vec<TimelineEntry>) {
    let (tenant, applicant, v) = approved_case(Case {
        email: "erika@example.com",
        document_number: "C01X00T47",
        reference: HostReference::default(),
        passed: vec![
            check(
                "image_decoded",
                true,
                "all captures decoded",
                serde_json::json!({"document_front": {"width": 1600, "height": 1000}}),
            ),
            check(
                "mrz_checksums",
                true,
                "all MRZ check digits match",
                serde_json::json!({"lines": 3, "confidence": 0.97}),
            ),
        ],
        face_similarity: 0.61,
        review_reason: "Face compared manually with the document photo; same person.",
    });
    let attempt = AttemptId::generate();
    let kinds = [CaptureKind::DocumentFront, CaptureKind::DocumentBack, CaptureKind::Selfie];
    let captures = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let bytes = (1000 + i as u64, format!("{:064x}", i + 1));
            capture(&v, &attempt, *k, bytes, (1600, 1000), "ok", at(10 + i as i64))
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
