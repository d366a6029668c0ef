//! The whole document pass over one attempt's captures: decode, quality, MRZ, PDF417
//! barcode, document rules, faces (found on the document and the selfie, and matched). Sync and deterministic; the engine runs
//! it on a blocking thread and `kycd check` runs it on files.
//!
//! Every check becomes a `CheckResult`. One that could not decide (no zone found, no OCR
//! models, face matching not available) is *inconclusive*: `passed: false` with
//! `figures.outcome = "inconclusive"`, so the decision sends it to a person, never to a
//! silent approval.

mod faces;

use crate::aamva::AamvaRecord;
use crate::burst::Burst;
use crate::face::{BACKGROUND_FACE_RATIO, Embedding, Face, FaceModels};
use crate::liveness::{LivenessKit, LivenessResult};
use crate::mrz::MrzResult;
use crate::mrz_read::MrzReader;
use crate::rules::{self, DocumentRules, Evidence};
use crate::{ImageInfo, ImageLimits, barcode, decode, quality_report};
use chrono::NaiveDate;
use kycd_core::{CaptureFeedback, CaptureKind, CheckResult, DeclaredData, DocumentType, Policy};
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
    /// The document's portrait as a JPEG (cut from the front with a margin), when a face
    /// was found on it: kept as its own capture so reviewers and the report show it.
    pub portrait_jpeg: Option<Vec<u8>>,
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
    /// What the person is told (quality codes, with the face codes of a selfie).
    pub feedback: Option<CaptureFeedback>,
    pub checks: Vec<CheckResult>,
    pub mrz: Option<MrzResult>,
    pub barcode: Option<AamvaRecord>,
    /// What the face detector found, on a document front or a selfie, when the face
    /// models are installed.
    pub faces: Option<FaceFindings>,
}

/// Faces on one capture.
#[derive(Debug, Clone)]
pub struct FaceFindings {
    /// The faces that count, largest first: faces much smaller than the largest (people in
    /// the background, a document's small ghost image) are left out.
    pub faces: Vec<Face>,
    /// The largest face's embedding.
    pub embedding: Option<Embedding>,
    /// The largest face with a margin, as a JPEG (documents only).
    pub portrait_jpeg: Option<Vec<u8>>,
}

impl FaceFindings {
    fn figures(&self) -> Value {
        let f = self.faces.first();
        json!({
            "faces": self.faces.len(),
            "score": f.map(|f| round3(f64::from(f.score))),
            "box": f.map(|f| [f.x.round(), f.y.round(), f.w.round(), f.h.round()]),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The pipeline with what it needs loaded once (the OCR and face models, when installed).
pub struct Pipeline {
    mrz: Result<MrzReader, String>,
    faces: Result<FaceModels, String>,
    liveness: Result<LivenessKit, String>,
    limits: ImageLimits,
}

/// Hints strong enough to send a verification to a person: the file names an image editor,
/// or it is a screen capture. The others (`jpeg_recompressed`, `camera_exif_missing`) are
/// listed with their evidence but pass: browsers' own camera captures (canvas JPEG at
/// quality 0.9, no EXIF) look exactly like that.
pub const REVIEW_HINTS: [&str; 2] = ["edited_with_software", "screenshot"];

/// Face check names and labels (the decision, the console and the dialects read them).
pub const FACE_MATCH: &str = "face_match";
pub const SINGLE_FACE: &str = "selfie_single_face";
pub const SELFIE_REVIEW: &str = "selfie_human_review";
pub const FACE_MISMATCH: &str = "face_mismatch";
pub const MULTIPLE_FACES: &str = "multiple_faces_detected";

/// The faces that count: the largest, and those at least [`BACKGROUND_FACE_RATIO`] of its
/// width.
fn counted_faces(mut faces: Vec<Face>) -> Vec<Face> {
    if let Some(w) = faces.first().map(|f| f.w) {
        faces.retain(|f| f.w >= w * BACKGROUND_FACE_RATIO);
    }
    faces
}

/// A document's portrait: the face with half its size as margin, JPEG at quality 90.
fn portrait_jpeg(img: &image::RgbImage, face: &Face) -> Vec<u8> {
    let (crop, _, _) = crate::face::crop_around(img, face, 0.5);
    let mut out = Vec::new();
    // Encoding an in-memory RGB buffer into a Vec cannot fail.
    let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&crop);
    out
}

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

/// Cells of a zone for a check's figures: where and which field, never the characters
/// (figures travel to webhooks and logs; the characters are personal data).
fn cell_places(cells: &[(usize, usize, &str)]) -> serde_json::Value {
    json!(
        cells
            .iter()
            .map(|(l, p, f)| json!({"line": l, "position": p, "field": f}))
            .collect::<Vec<_>>()
    )
}

fn field_names<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = fields.collect();
    names.dedup();
    names.join(", ")
}

/// The lowest confidence of any cell of the zone (1 when it was given as text).
fn min_confidence(m: &MrzResult) -> f32 {
    m.confidence.iter().flatten().copied().fold(1.0, f32::min)
}

/// Whether a check result is inconclusive rather than failed.
pub fn is_inconclusive(c: &CheckResult) -> bool {
    !c.passed && c.figures.get("outcome").and_then(|o| o.as_str()) == Some("inconclusive")
}

impl Pipeline {
    /// `mrz`: the loaded reader, or why there is none (the MRZ check is then inconclusive
    /// and says so).
    pub fn new(mrz: Result<MrzReader, String>, limits: ImageLimits) -> Self {
        Self {
            mrz,
            faces: Err("the face models are not loaded".into()),
            liveness: Err("the liveness models are not loaded".into()),
            limits,
        }
    }

    /// With the liveness models (BlazeFace and the landmark model), or why there are none
    /// (the `liveness` check is then inconclusive and says so).
    #[must_use]
    pub fn with_liveness(mut self, kit: Result<LivenessKit, String>) -> Self {
        self.liveness = kit;
        self
    }

    /// With the face models, or why there are none (face checks are then inconclusive and
    /// say so; selfies get the `face_not_checked` note instead of face feedback).
    #[must_use]
    pub fn with_faces(mut self, faces: Result<FaceModels, String>) -> Self {
        self.faces = faces;
        self
    }

    pub fn faces_available(&self) -> bool {
        self.faces.is_ok()
    }

    /// Quality feedback for an upload, answered while the person waits: the quality codes
    /// and, for a selfie, whether exactly one face is in it.
    pub fn feedback(&self, kind: CaptureKind, bytes: &[u8], info: &ImageInfo) -> CaptureFeedback {
        let mut report = quality_report(kind, info);
        if kind == CaptureKind::Selfie
            && let Ok(models) = &self.faces
            && let Ok(img) = decode::decode_full(bytes, self.limits)
        {
            let faces = counted_faces(models.detector.detect(&img.into_rgb8()).unwrap_or_default());
            report.set_faces(faces.len());
        }
        crate::feedback_of(&report, info)
    }

    /// Detect faces on `img`; embed the largest; cut a portrait from a document.
    fn find_faces(&self, kind: CaptureKind, img: &image::RgbImage) -> Option<Result<FaceFindings, String>> {
        let models = self.faces.as_ref().ok()?;
        let faces = match models.detector.detect(img) {
            Ok(f) => counted_faces(f),
            Err(e) => return Some(Err(e.to_string())),
        };
        let embedding = faces.first().map(|f| models.encoder.embed(img, f));
        let portrait_jpeg = (kind == CaptureKind::DocumentFront)
            .then(|| faces.first().map(|f| portrait_jpeg(img, f)))
            .flatten();
        Some(Ok(FaceFindings {
            faces,
            embedding,
            portrait_jpeg,
        }))
    }

    pub fn mrz_available(&self) -> bool {
        self.mrz.is_ok()
    }

    /// Decode, measure quality, and read the MRZ / barcode a capture of this kind may carry.
    pub fn check_capture(&self, c: &CaptureInput<'_>, today: NaiveDate) -> CaptureReport {
        let mut checks = Vec::new();
        let is_document = c.kind != CaptureKind::Selfie;
        let has_face = matches!(c.kind, CaptureKind::DocumentFront | CaptureKind::Selfie) && self.faces.is_ok();
        // OCR, barcode and faces need full resolution; the quality figures come from the
        // working copy.
        let decoding = std::time::Instant::now();
        let decoded = crate::inspect(c.bytes, self.limits).and_then(|info| {
            let full = if is_document || has_face {
                Some(decode::decode_full(c.bytes, self.limits)?)
            } else {
                None
            };
            Ok((info, full))
        });
        record("decode", decoding);
        let (info, full) = match decoded {
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
                    feedback: None,
                    checks,
                    mrz: None,
                    barcode: None,
                    faces: None,
                };
            }
        };
        let faces = match (&full, has_face) {
            (Some(img), true) => timed("faces", || self.find_faces(c.kind, &img.to_rgb8())),
            _ => None,
        };
        let grey = if is_document {
            full.map(image::DynamicImage::into_luma8)
        } else {
            None
        };
        checks.push(CheckResult {
            name: format!("image_decoded.{}", c.kind),
            passed: true,
            detail: format!("{} decoded, {}×{} pixels", info.media_type.as_str(), info.width, info.height),
            figures: json!({"file_id": c.file_id, "width": info.width, "height": info.height}),
        });
        let mut report = timed("quality", || quality_report(c.kind, &info));
        if c.kind == CaptureKind::Selfie
            && let Some(Ok(f)) = &faces
        {
            report.set_faces(f.faces.len());
        }
        let feedback = crate::feedback_of(&report, &info);
        let mut q = report.to_check_result();
        if let Some(m) = q.figures.as_object_mut() {
            m.insert("file_id".into(), json!(c.file_id));
        }
        checks.push(q);
        let (mut mrz, mut code) = (None, None);
        if let Some(grey) = &grey {
            if let Ok(reader) = &self.mrz {
                match timed("mrz", || reader.read(grey, today)) {
                    Ok(found) => mrz = found,
                    Err(e) => checks.push(inconclusive(
                        &format!("mrz_read.{}", c.kind),
                        format!("the OCR failed: {e}"),
                        json!({"file_id": c.file_id}),
                    )),
                }
            }
            if c.kind == CaptureKind::DocumentBack {
                match timed("barcode", || barcode::read_aamva(grey)) {
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
        let faces = match faces {
            Some(Err(e)) => {
                checks.push(inconclusive(
                    &format!("face_found.{}", c.kind),
                    format!("the face detector failed: {e}"),
                    json!({"file_id": c.file_id}),
                ));
                None
            }
            Some(Ok(f)) => Some(f),
            None => None,
        };
        CaptureReport {
            info: Some(info),
            feedback: Some(feedback),
            checks,
            mrz,
            barcode: code,
            faces,
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
        let (mut doc_faces, mut selfie_faces) = (None, None);
        let required = policy.required_captures(chosen);
        // A capture the chosen document does not need (a passport's "back") is not judged;
        // with no document chosen, a back may still carry the barcode.
        // The burst is judged on its own, after the faces (it is compared with them).
        let relevant = |k: CaptureKind| {
            k != CaptureKind::LivenessBurst && (required.contains(&k) || (k == CaptureKind::DocumentBack && chosen.is_none()))
        };
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
            match (c.kind, r.faces) {
                (CaptureKind::DocumentFront, Some(f)) => doc_faces = Some((c.file_id.to_owned(), f)),
                (CaptureKind::Selfie, Some(f)) => selfie_faces = Some((c.file_id.to_owned(), f)),
                _ => {}
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
            out.checks
                .extend(self.face_checks(policy, has_document, doc_faces.as_ref(), selfie_faces.as_ref()));
            if policy.selfie_review {
                out.checks.push(CheckResult {
                    name: SELFIE_REVIEW.into(),
                    passed: false,
                    detail: "the policy sends every selfie to a person (selfie_review)".into(),
                    figures: json!({"outcome": "review"}),
                });
            }
        }
        if let Some(burst) = captures.iter().find(|c| c.kind == CaptureKind::LivenessBurst) {
            let references: Vec<(&str, &Embedding)> = [("selfie", &selfie_faces), ("document_portrait", &doc_faces)]
                .into_iter()
                .filter_map(|(name, f)| f.as_ref().and_then(|(_, f)| f.embedding.as_ref()).map(|e| (name, e)))
                .collect();
            let check = timed("liveness", || self.liveness_check(burst, policy, &references));
            out.checks.push(check);
        }
        if have.contains(&CaptureKind::Selfie) {
            out.portrait_jpeg = doc_faces.and_then(|(_, f)| f.portrait_jpeg);
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
                figures: json!({"format": m.format, "file_id": file, "check_digits": m.check_digits.len(),
                                "repaired": m.repaired.len(), "repaired_cells": cell_places(&m.repaired.iter().map(|r| (r.line, r.position, r.field)).collect::<Vec<_>>()),
                                "min_confidence": min_confidence(m)}),
            },
            (Some(m), _) if !m.uncertain.is_empty() && m.check_digits.iter().all(|c| c.passed) => inconclusive(
                NAME,
                format!(
                    "the zone was read and its check digits verified, but {} character(s) no check digit covers ({}) are not sure enough: a person compares them with the document",
                    m.uncertain.len(),
                    field_names(m.uncertain.iter().map(|c| c.field))
                ),
                json!({"format": m.format, "file_id": file, "uncertain_cells": cell_places(&m.uncertain.iter().map(|c| (c.line, c.position, c.field)).collect::<Vec<_>>()),
                       "min_confidence": min_confidence(m)}),
            ),
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

/// Run one step of a capture's checks, recording its CPU-bound time in the
/// `kycd_check_duration_seconds` histogram (a no-op without a metrics recorder).
fn timed<T>(check: &'static str, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    record(check, started);
    out
}

fn record(check: &'static str, started: std::time::Instant) {
    metrics::histogram!("kycd_check_duration_seconds", "check" => check).record(started.elapsed().as_secs_f64());
}
