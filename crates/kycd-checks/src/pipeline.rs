//! The whole document pass over one attempt's captures: decode, quality, MRZ, PDF417
//! barcode, document rules, face (not checked yet). Sync and deterministic; the engine runs
//! it on a blocking thread and `kycd check` runs it on files.
//!
//! Every check becomes a `CheckResult`. One that could not decide (no zone found, no OCR
//! models, face matching not available) is *inconclusive*: `passed: false` with
//! `figures.outcome = "inconclusive"`, so the decision sends it to a person, never to a
//! silent approval.

use crate::aamva::AamvaRecord;
use crate::mrz::MrzResult;
use crate::mrz_read::MrzReader;
use crate::rules::{self, DocumentRules, Evidence};
use crate::{ImageInfo, ImageLimits, barcode, decode, quality_report};
use chrono::NaiveDate;
use kycd_core::{CaptureKind, CheckResult, DeclaredData, DocumentType, Policy};
use serde::Serialize;
use serde_json::{Value, json};

/// One capture to check.
pub struct CaptureInput<'a> {
    pub kind: CaptureKind,
    /// Named in the figures so a reviewer finds the image a check is about.
    pub file_id: &'a str,
    pub bytes: &'a [u8],
}

/// What a document pass found. `document` holds personal data: store it encrypted.
#[derive(Debug, Default)]
pub struct PipelineOutcome {
    pub checks: Vec<CheckResult>,
    pub document: ExtractedDocument,
    /// Each decoded capture's fingerprints (kind, file id), for the duplicate checks the
    /// engine runs against the tenant's other verifications.
    pub fingerprints: Vec<(CaptureKind, String, crate::phash::Fingerprint)>,
}

/// The data read from the document.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtractedDocument {
    pub mrz: Option<MrzResult>,
    pub barcode: Option<AamvaRecord>,
}

/// The result of one capture's own checks (what `kycd check` prints per file).
#[derive(Debug)]
pub struct CaptureReport {
    pub info: Option<ImageInfo>,
    pub checks: Vec<CheckResult>,
    pub mrz: Option<MrzResult>,
    pub barcode: Option<AamvaRecord>,
}

/// The pipeline with what it needs loaded once (the OCR models, when installed).
pub struct Pipeline {
    mrz: Result<MrzReader, String>,
    limits: ImageLimits,
}

/// Hints strong enough to send a verification to a person: the file names an image editor,
/// or it is a screen capture. The others (`jpeg_recompressed`, `camera_exif_missing`) are
/// listed with their evidence but pass: browsers' own camera captures (canvas JPEG at
/// quality 0.9, no EXIF) look exactly like that.
pub const REVIEW_HINTS: [&str; 2] = ["edited_with_software", "screenshot"];

/// Provenance hints of one capture with their evidence; a strong hint sends the
/// verification to a person, none declines.
fn provenance_check(c: &CaptureInput<'_>, info: &ImageInfo) -> CheckResult {
    let hints = crate::provenance::hints(
        c.bytes,
        info.media_type,
        info.stored_width,
        info.stored_height,
        crate::provenance::Source::Unknown,
    );
    let labels: Vec<&str> = hints.iter().map(|h| h.label).collect();
    let evidence: serde_json::Map<String, Value> = hints.iter().map(|h| (h.label.to_owned(), h.evidence.clone())).collect();
    let strong: Vec<&str> = labels.iter().copied().filter(|l| REVIEW_HINTS.contains(l)).collect();
    CheckResult {
        name: format!("image_provenance.{}", c.kind),
        passed: strong.is_empty(),
        detail: match (strong.is_empty(), labels.is_empty()) {
            (true, true) => "no sign of editing, re-saving or a screen capture in the file".into(),
            (true, false) => format!("weak hints only ({}): common for browser and app captures", labels.join(", ")),
            (false, _) => format!("the file shows signs of {}: a person should look", strong.join(", ")),
        },
        figures: if strong.is_empty() {
            json!({"file_id": c.file_id, "labels": labels, "evidence": evidence})
        } else {
            json!({"file_id": c.file_id, "labels": labels, "evidence": evidence, "outcome": "review"})
        },
    }
}

fn inconclusive(name: &str, detail: impl Into<String>, mut figures: serde_json::Value) -> CheckResult {
    if let Some(m) = figures.as_object_mut() {
        m.insert("outcome".into(), json!("inconclusive"));
    }
    CheckResult {
        name: name.to_owned(),
        passed: false,
        detail: detail.into(),
        figures,
    }
}

/// Whether a check result is inconclusive rather than failed.
pub fn is_inconclusive(c: &CheckResult) -> bool {
    !c.passed && c.figures.get("outcome").and_then(|o| o.as_str()) == Some("inconclusive")
}

impl Pipeline {
    /// `mrz`: the loaded reader, or why there is none (the MRZ check is then inconclusive
    /// and says so).
    pub fn new(mrz: Result<MrzReader, String>, limits: ImageLimits) -> Self {
        Self { mrz, limits }
    }

    pub fn mrz_available(&self) -> bool {
        self.mrz.is_ok()
    }

    /// Decode, measure quality, and read the MRZ / barcode a capture of this kind may carry.
    pub fn check_capture(&self, c: &CaptureInput<'_>, today: NaiveDate) -> CaptureReport {
        let mut checks = Vec::new();
        let is_document = c.kind != CaptureKind::Selfie;
        // OCR and barcode need full resolution; the quality figures come from the working copy.
        let decoded = crate::inspect(c.bytes, self.limits).and_then(|info| {
            let full = if is_document {
                Some(decode::decode_full(c.bytes, self.limits)?.into_luma8())
            } else {
                None
            };
            Ok((info, full))
        });
        let (info, grey) = match decoded {
            Ok(x) => x,
            Err(e) => {
                checks.push(CheckResult {
                    name: format!("image_decoded.{}", c.kind),
                    passed: false,
                    detail: e.to_string(),
                    figures: json!({"file_id": c.file_id}),
                });
                return CaptureReport {
                    info: None,
                    checks,
                    mrz: None,
                    barcode: None,
                };
            }
        };
        checks.push(CheckResult {
            name: format!("image_decoded.{}", c.kind),
            passed: true,
            detail: format!("{} decoded, {}×{} pixels", info.media_type.as_str(), info.width, info.height),
            figures: json!({"file_id": c.file_id, "width": info.width, "height": info.height}),
        });
        let mut q = quality_report(c.kind, &info).to_check_result();
        if let Some(m) = q.figures.as_object_mut() {
            m.insert("file_id".into(), json!(c.file_id));
        }
        checks.push(q);
        let (mut mrz, mut code) = (None, None);
        if let Some(grey) = &grey {
            if let Ok(reader) = &self.mrz {
                match reader.read(grey, today) {
                    Ok(found) => mrz = found,
                    Err(e) => checks.push(inconclusive(
                        &format!("mrz_read.{}", c.kind),
                        format!("the OCR failed: {e}"),
                        json!({"file_id": c.file_id}),
                    )),
                }
            }
            if c.kind == CaptureKind::DocumentBack {
                match barcode::read_aamva(grey) {
                    Ok(found) => code = found,
                    Err(e) => checks.push(CheckResult {
                        name: "barcode_read".into(),
                        passed: false,
                        detail: format!("a PDF417 barcode was found but is not an AAMVA payload: {e}"),
                        figures: json!({"file_id": c.file_id}),
                    }),
                }
            }
        }
        CaptureReport {
            info: Some(info),
            checks,
            mrz,
            barcode: code,
        }
    }

    /// The whole pass over one attempt: every capture, the captures the policy requires,
    /// the MRZ and barcode verdicts, the document rules, and the face check.
    pub fn run(
        &self,
        captures: &[CaptureInput<'_>],
        policy: &Policy,
        declared: Option<&DeclaredData>,
        chosen: Option<DocumentType>,
        today: NaiveDate,
    ) -> PipelineOutcome {
        let mut out = PipelineOutcome::default();
        let mut mrz_file = None;
        let required = policy.required_captures(chosen);
        // A capture the chosen document does not need (a passport's "back") is not judged;
        // with no document chosen, a back may still carry the barcode.
        let relevant = |k: CaptureKind| required.contains(&k) || (k == CaptureKind::DocumentBack && chosen.is_none());
        for c in captures.iter().filter(|c| relevant(c.kind)) {
            let r = self.check_capture(c, today);
            out.checks.extend(r.checks);
            if let Some(info) = &r.info {
                if let Some(f) = info.fingerprint {
                    out.fingerprints.push((c.kind, c.file_id.to_owned(), f));
                }
                out.checks.push(provenance_check(c, info));
            }
            if let Some(m) = r.mrz {
                // Keep the first zone read, unless a later one verifies and it did not.
                let better = out.document.mrz.as_ref().is_none_or(|cur| !cur.valid && m.valid);
                if better {
                    out.document.mrz = Some(m);
                    mrz_file = Some(c.file_id.to_owned());
                }
            }
            if out.document.barcode.is_none() {
                out.document.barcode = r.barcode;
            }
        }

        let have: Vec<CaptureKind> = captures.iter().map(|c| c.kind).collect();
        let missing: Vec<&str> = required.iter().filter(|k| !have.contains(k)).map(|k| k.as_str()).collect();
        out.checks.push(CheckResult {
            name: "required_captures".into(),
            passed: missing.is_empty(),
            detail: if missing.is_empty() {
                "every capture the policy requires is present".into()
            } else {
                format!("missing: {}", missing.join(", "))
            },
            figures: json!({"required": required, "present": have}),
        });

        let has_document = have.contains(&CaptureKind::DocumentFront);
        if has_document {
            out.checks
                .push(self.mrz_verdict(out.document.mrz.as_ref(), mrz_file.as_deref(), chosen));
            if let Some(b) = &out.document.barcode {
                out.checks.push(CheckResult {
                    name: "barcode_read".into(),
                    passed: true,
                    detail: format!("AAMVA {} barcode read (version {})", b.subfiles.join("/"), b.version),
                    figures: json!({"version": b.version, "subfiles": b.subfiles}),
                });
            } else if have.contains(&CaptureKind::DocumentBack)
                && chosen.is_none_or(|d| d == DocumentType::DriverLicense)
                && !out.checks.iter().any(|c| c.name == "barcode_read")
            {
                out.checks
                    .push(inconclusive("barcode_read", "no PDF417 barcode was found on the back", json!({})));
            }
            let evidence = Evidence {
                mrz: out.document.mrz.as_ref(),
                barcode: out.document.barcode.as_ref(),
                declared,
                chosen_type: chosen,
            };
            out.checks.extend(
                rules::evaluate(&evidence, &DocumentRules::from_policy(policy), today)
                    .iter()
                    .map(rules::RuleResult::to_check_result),
            );
        }
        if have.contains(&CaptureKind::Selfie) {
            out.checks.push(inconclusive(
                "face_match",
                "face matching is not available yet: a reviewer compares the selfie with the document portrait",
                json!({}),
            ));
        }
        out
    }

    fn mrz_verdict(&self, mrz: Option<&MrzResult>, file: Option<&str>, chosen: Option<DocumentType>) -> CheckResult {
        const NAME: &str = "mrz";
        match (mrz, &self.mrz) {
            (Some(m), _) if m.valid => CheckResult {
                name: NAME.into(),
                passed: true,
                detail: format!(
                    "{:?} zone read, all {} check digits verified{}",
                    m.format,
                    m.check_digits.len(),
                    if m.repaired.is_empty() {
                        String::new()
                    } else {
                        format!(", {} character(s) repaired", m.repaired.len())
                    }
                ),
                figures: json!({"format": m.format, "file_id": file, "check_digits": m.check_digits.len(), "repaired": m.repaired.len()}),
            },
            (Some(m), _) => {
                let failed: Vec<&str> = m.check_digits.iter().filter(|c| !c.passed).map(|c| c.field).collect();
                let mut why = Vec::new();
                if !failed.is_empty() {
                    why.push(format!("check digits failed: {}", failed.join(", ")));
                }
                if !m.unknown_codes.is_empty() {
                    why.push(format!("not a country code: {}", m.unknown_codes.join(", ")));
                }
                CheckResult {
                    name: NAME.into(),
                    passed: false,
                    detail: format!("a zone was read but cannot be trusted ({})", why.join("; ")),
                    figures: json!({"format": m.format, "file_id": file, "failed_check_digits": failed,
                                    "unknown_codes": m.unknown_codes, "outcome": "fail"}),
                }
            }
            (None, Err(why)) => inconclusive(NAME, format!("the MRZ was not read: {why}"), json!({})),
            (None, Ok(_)) if chosen == Some(DocumentType::DriverLicense) => CheckResult {
                name: NAME.into(),
                passed: true,
                detail: "driving licences carry no MRZ".into(),
                figures: json!({"outcome": "not_applicable"}),
            },
            (None, Ok(_)) => inconclusive(NAME, "no machine-readable zone was found on the document", json!({})),
        }
    }
}
