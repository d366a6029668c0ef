//! A realistic sample verification with generated capture images.

pub use crate::records::at;
use crate::records::{Case, approved_case, capture, check};
use chrono::Duration;
use image::{DynamicImage, Rgb, RgbImage};
use kycd_core::*;
use kycd_evidence::*;
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::PathBuf;
use std::process::Command;

/// A scratch folder under the target dir, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kycd-evidence").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails with a clear message when an external tool is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is not installed; this test needs it. Install it with: apt-get install -y {package} (scripts/test does this)"
    );
}

fn jpeg(img: RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&DynamicImage::ImageRgb8(img))
        .unwrap();
    out
}

fn fill_rect(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, c: [u8; 3]) {
    for y in y0..(y0 + h).min(img.height()) {
        for x in x0..(x0 + w).min(img.width()) {
            img.put_pixel(x, y, Rgb(c));
        }
    }
}

/// A synthetic ID card: coloured background, photo box, text-like bars, an MRZ band.
pub fn document_front() -> Vec<u8> {
    let mut img = RgbImage::from_fn(1600, 1000, |x, y| Rgb([(200 + x / 40) as u8, (215 + y / 50) as u8, 235]));
    fill_rect(&mut img, 0, 0, 1600, 120, [40, 70, 120]);
    fill_rect(&mut img, 80, 200, 380, 480, [150, 150, 160]);
    fill_rect(&mut img, 170, 280, 200, 230, [225, 190, 160]);
    for i in 0..6 {
        fill_rect(&mut img, 540, 220 + i * 70, 600 + (i * 97) % 300, 28, [50, 50, 60]);
    }
    fill_rect(&mut img, 0, 760, 1600, 240, [245, 245, 240]);
    for line in 0..3 {
        for c in 0..30 {
            fill_rect(&mut img, 60 + c * 50, 790 + line * 65, 30, 40, [20, 20, 20]);
        }
    }
    jpeg(img, 88)
}

/// The back: a PDF417-like barcode band.
pub fn document_back() -> Vec<u8> {
    let mut img = RgbImage::from_pixel(1600, 1000, Rgb([232, 236, 240]));
    let mut seed = 0x9e37_79b9_u32;
    for col in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        if seed.is_multiple_of(2) {
            fill_rect(&mut img, 100 + col * 7, 300, 7, 400, [10, 10, 10]);
        }
    }
    jpeg(img, 88)
}

/// A portrait selfie: gradient background, a face-coloured ellipse.
pub fn selfie() -> Vec<u8> {
    let img = RgbImage::from_fn(900, 1200, |x, y| {
        let (dx, dy) = (x as f32 - 450.0, y as f32 - 520.0);
        if (dx / 230.0).powi(2) + (dy / 300.0).powi(2) < 1.0 {
            Rgb([224, 180, 150])
        } else if y > 850 {
            Rgb([60, 80, 110])
        } else {
            Rgb([(120 + y / 10) as u8, 160, 190])
        }
    });
    jpeg(img, 85)
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub struct Sample {
    pub model: EvidenceModel,
    /// (file id, original bytes), one per capture.
    pub images: Vec<(String, Vec<u8>)>,
}

impl Sample {
    pub fn image_refs(&self) -> Vec<(&str, &[u8])> {
        self.images.iter().map(|(id, b)| (id.as_str(), b.as_slice())).collect()
    }
}

/// Approved after a human review; 3 captures; `timeline_rows` timeline rows.
pub fn sample(timeline_rows: usize) -> Sample {
    let (tenant, applicant, v) = approved_case(Case {
        email: "erika.mustermann@example.com",
        document_number: "T220001293",
        reference: HostReference {
            document_id: Some("doc_7f3a9c".into()),
            signer_order: Some(1),
            signature_request_id: None,
        },
        passed: vec![
            check(
                "required_captures",
                true,
                "document front, back and selfie present",
                serde_json::json!({"required": ["document_front", "document_back", "selfie"], "present": 3}),
            ),
            check(
                "image_quality",
                true,
                "sharp enough and well exposed",
                serde_json::json!({"document_front": {"sharpness": 412.7, "brightness": 0.62}, "selfie": {"sharpness": 188.05}}),
            ),
            check(
                "mrz",
                true,
                "machine-readable zone read; all check digits match",
                serde_json::json!({"lines": 3, "check_digits_ok": true, "confidence": 0.971}),
            ),
            check(
                "data_matches_declared",
                true,
                "name, birth date and document number match what was declared",
                serde_json::json!({"name_similarity": 1.0}),
            ),
        ],
        face_similarity: 0.612,
        review_reason: "Compared the selfie with the document photo by hand: same person, photo is older.",
    });
    let attempt = AttemptId::generate();
    let originals = [
        (CaptureKind::DocumentFront, document_front(), 1600, 1000),
        (CaptureKind::DocumentBack, document_back(), 1600, 1000),
        (CaptureKind::Selfie, selfie(), 900, 1200),
    ];
    let mut images = Vec::new();
    let mut captures = Vec::new();
    for (i, (kind, bytes, w, h)) in originals.into_iter().enumerate() {
        let digest = (bytes.len() as u64, sha256(&bytes));
        let c = capture(&v, &attempt, kind, digest, (w, h), "Looks good", at(12 + i as i64));
        images.push((c.id.to_string(), bytes));
        captures.push(c);
    }
    let actions = [
        ("verification.created", "api_key:key_Integrat10n000000000000"),
        ("notification.email.sent", "system"),
        ("attempt.started", "applicant"),
        ("capture.added", "applicant"),
        ("capture.feedback", "system"),
        ("image.viewed", "api_key:key_Rev1ewer0000000000000000"),
        ("verification.status.processing", "system"),
        ("report.viewed", "api_key:key_Rev1ewer0000000000000000"),
    ];
    let timeline: Vec<TimelineEntry> = (0..timeline_rows)
        .map(|i| {
            let (action, actor) = actions[i % actions.len()];
            TimelineEntry {
                at: at(i as i64 * 2) + Duration::seconds((i * 7 % 60) as i64),
                action: action.into(),
                actor: if actor == "applicant" {
                    format!("applicant:{attempt}")
                } else {
                    actor.into()
                },
            }
        })
        .collect();
    let model = EvidenceModel::new(&tenant, &v, &applicant, &captures, &timeline, at(120));
    Sample { model, images }
}

/// Writes a complete evidence archive for `s` to `path`, returns the signer.
pub fn write_archive(s: &Sample, path: &std::path::Path) -> EvidenceSigner {
    write_archive_with(s, path, |_| {})
}

/// [`write_archive`], with the claims changed by `edit` before they are signed.
pub fn write_archive_with(s: &Sample, path: &std::path::Path, edit: impl FnOnce(&mut EvidenceClaims)) -> EvidenceSigner {
    let (signer, _) = EvidenceSigner::generate().unwrap();
    let jti = EvidenceClaims::new_jti();
    let pdf = render_pdf(&s.model, &s.image_refs(), &jti).unwrap();
    let mut files = vec![
        EvidenceFile::from_bytes(REPORT_JSON, s.model.to_json_bytes().unwrap()),
        EvidenceFile::from_bytes(REPORT_PDF, pdf),
    ];
    for (c, (_, bytes)) in s.model.captures.iter().zip(&s.images) {
        files.push(EvidenceFile::new(c.archive_name(), Cursor::new(bytes.clone())));
    }
    let out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write_evidence_zip(out, files, |digests| {
        let mut claims = EvidenceClaims::new(&s.model, "https://kycd.example", &jti, digests.to_vec());
        edit(&mut claims);
        signer.sign(&claims)
    })
    .unwrap();
    signer
}
