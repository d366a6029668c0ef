//! The automated decision: check results in, the next status out. Pure.
//!
//! - A document rule that *failed* (expired, holder's age, document or country not
//!   accepted, birth date or document number contradicting the declared data) declines:
//!   those checks only use data whose check digits verified. A name mismatch goes to a
//!   person instead: names carry no check digit, so a misread letter looks the same as a
//!   different name.
//! - Unusable captures (unreadable, missing, poor quality) ask for a new attempt while the
//!   policy allows one. With none left, unreadable or missing captures decline; poor
//!   quality alone goes to a person, who may still read the document. So does poor
//!   quality the person chose to keep on the capture page after repeated feedback
//!   ([`QUALITY_OVERRIDE`]): they were told, and asking again would be a dead end.
//! - A selfie that shows someone else than the document (face similarity below the
//!   policy's mismatch threshold) declines; one in the band below the match threshold
//!   goes to a person.
//! - The head-turn liveness check (`liveness`), when the policy requires it: a burst that
//!   moved like a flat picture (`planar_motion`) or changed face (`face_changed`) declines;
//!   one whose turns were not followed (`challenge_not_followed` alone) asks for a new
//!   attempt while the policy allows one and declines after; anything else (more than one
//!   face, a burst that is not the selfie's or the document portrait's face, inconclusive)
//!   goes to a person. When the policy does not require it, a failed
//!   burst goes to a person and an inconclusive one is only reported.
//! - Anything else that did not pass (inconclusive: no zone found, face not compared, a
//!   zone whose check digits failed) goes to a person. Only when every check passed is a
//!   verification approved.

use crate::{CheckResult, VerificationStatus};

/// Checks whose failure declines outright.
const DECLINING: [&str; 5] = [
    "document_not_expired",
    "holder_age",
    "document_allowed",
    "birth_date_consistency",
    "document_number_consistency",
];

/// The face match: below the policy's mismatch threshold (`outcome: "mismatch"`) it
/// declines; in the band between the thresholds it goes to a person.
pub const FACE_MATCH: &str = "face_match";

/// The check recorded when the person continued past repeated quality feedback on the
/// capture page: it never passes, so the verification goes to a person.
pub const QUALITY_OVERRIDE: &str = "capture_quality_override";

/// The head-turn liveness check (`figures.required`: the policy asked for it).
pub const LIVENESS: &str = "liveness";

/// Liveness reasons that show a presentation attack rather than a person who did not
/// follow the prompts: they decline when the policy requires liveness.
pub const LIVENESS_ATTACKS: [&str; 2] = ["planar_motion", "face_changed"];

fn liveness_required(c: &CheckResult) -> bool {
    c.figures.get("required").and_then(serde_json::Value::as_bool).unwrap_or(true)
}

fn liveness_reasons(c: &CheckResult) -> Vec<&str> {
    c.figures
        .get("reasons")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default()
}

/// A required liveness check that failed: (an attack, only the turns not followed).
fn liveness_failure(c: &CheckResult) -> (bool, bool) {
    if c.name != LIVENESS || c.passed || !liveness_required(c) || outcome(c) != Some("fail") {
        return (false, false);
    }
    let reasons = liveness_reasons(c);
    (
        reasons.iter().any(|r| LIVENESS_ATTACKS.contains(r)),
        reasons == ["challenge_not_followed"],
    )
}

fn outcome(c: &CheckResult) -> Option<&str> {
    c.figures.get("outcome").and_then(|o| o.as_str())
}

fn is_capture_problem(name: &str) -> bool {
    name.starts_with("image_decoded") || name == "required_captures"
}

fn is_quality(name: &str) -> bool {
    name.starts_with("image_quality")
}

/// The status the checks lead to. `attempts_left`: the policy allows another attempt.
pub fn decide(checks: &[CheckResult], attempts_left: bool) -> VerificationStatus {
    // A liveness burst the policy did not ask for that could not be judged is only reported.
    let reported_only = |c: &CheckResult| c.name == LIVENESS && !liveness_required(c) && outcome(c) != Some("fail");
    let failed: Vec<&CheckResult> = checks.iter().filter(|c| !c.passed && !reported_only(c)).collect();
    if failed.iter().any(|c| {
        (DECLINING.contains(&c.name.as_str()) && outcome(c) != Some("inconclusive"))
            || (c.name == FACE_MATCH && outcome(c) == Some("mismatch"))
            || liveness_failure(c).0
    }) {
        return VerificationStatus::Declined;
    }
    let unusable = failed.iter().any(|c| is_capture_problem(&c.name) || liveness_failure(c).1);
    let poor = failed.iter().any(|c| is_quality(&c.name));
    let kept_anyway = failed.iter().any(|c| c.name == QUALITY_OVERRIDE);
    if unusable || poor {
        return if attempts_left && (unusable || !kept_anyway) {
            VerificationStatus::RetryRequired
        } else if unusable {
            VerificationStatus::Declined
        } else {
            VerificationStatus::ReviewRequired
        };
    }
    if failed.is_empty() {
        VerificationStatus::Approved
    } else {
        VerificationStatus::ReviewRequired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(name: &str, passed: bool, outcome: Option<&str>) -> CheckResult {
        CheckResult {
            name: name.into(),
            passed,
            detail: String::new(),
            figures: outcome.map_or(json!({}), |o| json!({ "outcome": o })),
        }
    }

    #[test]
    fn every_branch() {
        use VerificationStatus as S;
        let ok = [c("image_decoded.document_front", true, None), c("mrz", true, None)];
        assert_eq!(decide(&ok, true), S::Approved);
        let face = [c("mrz", true, None), c("face_match", false, Some("inconclusive"))];
        assert_eq!(decide(&face, true), S::ReviewRequired, "inconclusive never approves");
        let expired = [
            c("document_not_expired", false, Some("fail")),
            c("image_quality.selfie", false, None),
        ];
        assert_eq!(decide(&expired, true), S::Declined);
        let unknown_expiry = [c("document_not_expired", false, Some("inconclusive"))];
        assert_eq!(decide(&unknown_expiry, true), S::ReviewRequired);
        let blurry = [c("image_quality.document_front", false, None)];
        assert_eq!(decide(&blurry, true), S::RetryRequired);
        assert_eq!(decide(&blurry, false), S::ReviewRequired, "a person may still read it");
        let unreadable = [c("image_decoded.selfie", false, None)];
        assert_eq!(decide(&unreadable, true), S::RetryRequired);
        assert_eq!(decide(&unreadable, false), S::Declined);
        let kept = [
            c("image_quality.document_front", false, None),
            c(QUALITY_OVERRIDE, false, Some("review")),
        ];
        assert_eq!(decide(&kept, true), S::ReviewRequired, "kept after feedback: a person looks");
        assert_eq!(decide(&kept[1..], true), S::ReviewRequired, "never approved once kept anyway");
        let kept_unreadable = [c("image_decoded.selfie", false, None), c(QUALITY_OVERRIDE, false, None)];
        assert_eq!(decide(&kept_unreadable, true), S::RetryRequired);
        let bad_digits = [c("mrz", false, Some("fail"))];
        assert_eq!(decide(&bad_digits, true), S::ReviewRequired);
        let other_name = [c("mrz", true, None), c("name_consistency", false, Some("fail"))];
        assert_eq!(
            decide(&other_name, true),
            S::ReviewRequired,
            "a misread name is not a different person"
        );
        let other_birth = [c("birth_date_consistency", false, Some("fail"))];
        assert_eq!(decide(&other_birth, true), S::Declined);
        let someone_else = [c("mrz", true, None), c(FACE_MATCH, false, Some("mismatch"))];
        assert_eq!(decide(&someone_else, true), S::Declined);
        let unsure = [c("mrz", true, None), c(FACE_MATCH, false, Some("review"))];
        assert_eq!(
            decide(&unsure, true),
            S::ReviewRequired,
            "the band between thresholds goes to a person"
        );
        let no_face = [c("face_found.selfie", false, None), c("image_quality.selfie", false, None)];
        assert_eq!(decide(&no_face, true), S::RetryRequired, "no face on the selfie asks for a new one");
        assert_eq!(decide(&no_face, false), S::ReviewRequired);
    }

    fn live(outcome: &str, reasons: &[&str], required: bool) -> CheckResult {
        CheckResult {
            name: LIVENESS.into(),
            passed: outcome == "pass",
            detail: String::new(),
            figures: json!({"outcome": outcome, "reasons": reasons, "required": required}),
        }
    }

    #[test]
    fn liveness_per_policy() {
        use VerificationStatus as S;
        let ok = c("mrz", true, None);
        let with = |l: CheckResult| [ok.clone(), l];
        assert_eq!(decide(&with(live("pass", &[], true)), true), S::Approved);
        for attack in [
            &["planar_motion"][..],
            &["face_changed"],
            &["planar_motion", "challenge_not_followed"],
        ] {
            assert_eq!(decide(&with(live("fail", attack, true)), true), S::Declined, "{attack:?}");
            assert_eq!(
                decide(&with(live("fail", attack, false)), true),
                S::ReviewRequired,
                "not required: {attack:?}"
            );
        }
        let not_turned = with(live("fail", &["challenge_not_followed"], true));
        assert_eq!(decide(&not_turned, true), S::RetryRequired);
        assert_eq!(decide(&not_turned, false), S::Declined);
        assert_eq!(decide(&with(live("fail", &["multiple_faces"], true)), true), S::ReviewRequired);
        assert_eq!(
            decide(&with(live("fail", &["reference_mismatch"], true)), true),
            S::ReviewRequired,
            "the document portrait's own thresholds are face_match's: a person compares"
        );
        assert_eq!(decide(&with(live("inconclusive", &["no_face"], true)), true), S::ReviewRequired);
        assert_eq!(
            decide(&with(live("inconclusive", &["no_face"], false)), true),
            S::Approved,
            "a burst the policy did not ask for is only reported when it cannot be judged"
        );
    }
}
