//! Duplicate captures across applicants: the same document or selfie (byte for byte, or
//! the same picture re-encoded, rescaled or lightly edited) in another applicant's
//! verification of the tenant raises `document_reused` / `selfie_reused`. Within one
//! applicant a repeated picture is expected (a new attempt, a re-verification). A reuse
//! sends the verification to a person with the other verification named; it never declines.

use crate::Result;
use chrono::{DateTime, Utc};
use kycd_checks::phash::{Fingerprint, SAME_PICTURE_MAX_DISTANCE, distance};
use kycd_core::*;
use kycd_store::{NewFingerprint, Tx};
use serde_json::json;

/// Check names (the console and the decision read them).
pub const DOCUMENT_REUSED: &str = "document_reused";
pub const SELFIE_REUSED: &str = "selfie_reused";

fn class_of(kind: CaptureKind) -> &'static str {
    match kind {
        CaptureKind::Selfie => "selfie",
        CaptureKind::DocumentFront | CaptureKind::DocumentBack | CaptureKind::DocumentPortrait => "document",
        // Bursts are not fingerprinted: every one answers a fresh challenge.
        CaptureKind::LivenessBurst => "liveness",
    }
}

/// Compare this processing's fingerprints with the tenant's other applicants', record
/// them, and return one check per class of picture present.
pub(crate) async fn reuse_checks(
    tx: &mut Tx<'_>,
    v: &Verification,
    fingerprints: &[(CaptureKind, String, Fingerprint)],
    now: DateTime<Utc>,
) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for class in ["document", "selfie"] {
        let mine: Vec<&(CaptureKind, String, Fingerprint)> = fingerprints.iter().filter(|(k, _, _)| class_of(*k) == class).collect();
        if mine.is_empty() {
            continue;
        }
        let mut matches = Vec::new();
        for (kind, file_id, f) in &mine {
            let sha = hex::encode(f.sha256);
            for m in tx
                .fingerprint_candidates(&v.tenant_id, class, &sha, f.phash, &v.applicant_id)
                .await?
            {
                let d = distance(m.phash, f.phash);
                let exact = m.sha256 == sha;
                if exact || d <= SAME_PICTURE_MAX_DISTANCE {
                    matches.push(json!({
                        "file_id": file_id, "kind": kind.as_str(),
                        "other_verification_id": m.verification_id, "other_file_id": m.file_id,
                        "distance": d, "exact_copy": exact,
                    }));
                }
            }
        }
        for (_, file_id, f) in &mine {
            let Ok(file_id) = file_id.parse::<FileId>() else { continue };
            tx.insert_capture_fingerprint(
                &v.tenant_id,
                &NewFingerprint {
                    file_id: &file_id,
                    verification_id: &v.id,
                    applicant_id: &v.applicant_id,
                    kind_class: class,
                    sha256: &hex::encode(f.sha256),
                    phash: f.phash,
                },
                now,
            )
            .await?;
        }
        let name = if class == "document" { DOCUMENT_REUSED } else { SELFIE_REUSED };
        out.push(if matches.is_empty() {
            CheckResult {
                name: name.into(),
                passed: true,
                detail: format!("this {class} was not seen in another applicant's verification"),
                figures: json!({"max_distance": SAME_PICTURE_MAX_DISTANCE}),
            }
        } else {
            CheckResult {
                name: name.into(),
                passed: false,
                detail: format!(
                    "the same {class} picture is in {} other applicant's verification(s): a person should look",
                    matches.len()
                ),
                figures: json!({"matches": matches, "max_distance": SAME_PICTURE_MAX_DISTANCE, "outcome": "review"}),
            }
        });
    }
    Ok(out)
}
