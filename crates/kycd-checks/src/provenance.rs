//! Image provenance hints: traces in a file's metadata that it was edited, re-saved or
//! captured from a screen rather than photographed. Each is a *hint* with its evidence,
//! never proof: the policy sends them to a person, it does not decline on them.
//!
//! - `edited_with_software`: the EXIF `Software` tag names an image editor.
//! - `camera_exif_missing`: a capture that came through a camera path carries no camera
//!   make/model (phones write both).
//! - `screenshot`: a PNG whose size is a common screen resolution (photos are JPEG/HEIC).
//! - `jpeg_recompressed`: a JPEG quantised with the IJG reference tables at a reduced
//!   quality — what a library re-save writes; camera encoders use their own tables.

use kycd_core::MediaType;
use serde_json::{Value, json};
use std::io::Cursor;

/// One hint and why it was raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    /// Stable risk label (`edited_with_software`, `camera_exif_missing`, `screenshot`,
    /// `jpeg_recompressed`).
    pub label: &'static str,
    pub evidence: Value,
}

/// Where a capture came from, as far as the capture path knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// The applicant took it with a device camera (native camera app, file input with
    /// `capture`): camera EXIF is expected.
    Camera,
    /// Unknown or an uploaded file: missing EXIF proves nothing.
    #[default]
    Unknown,
}

/// Editors and re-encoders whose name in `Software` means the pixels went through them.
const EDITORS: [&str; 14] = [
    "photoshop",
    "gimp",
    "lightroom",
    "affinity",
    "pixelmator",
    "paint.net",
    "snapseed",
    "picsart",
    "canva",
    "facetune",
    "photopea",
    "imagemagick",
    "graphicsmagick",
    "krita",
];

/// Screen sizes (either orientation) a screenshot has; photos rarely match exactly.
const SCREENS: [(u32, u32); 16] = [
    (1920, 1080),
    (2560, 1440),
    (3840, 2160),
    (1366, 768),
    (1440, 900),
    (1536, 864),
    (1280, 720),
    (2880, 1800),
    (1170, 2532),
    (1179, 2556),
    (1284, 2778),
    (1290, 2796),
    (1080, 2340),
    (1080, 2400),
    (1440, 3200),
    (750, 1334),
];

/// The IJG (libjpeg) reference luminance table, natural order (ITU-T T.81 Annex K).
const IJG_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22,
    37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
/// Zig-zag position → natural index (DQT tables are stored in zig-zag order).
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56,
    57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Re-saves at or below this IJG quality raise `jpeg_recompressed`.
pub const RECOMPRESSED_MAX_QUALITY: u8 = 90;

/// The hints a file's bytes give. `width`/`height`: as stored.
pub fn hints(bytes: &[u8], media_type: MediaType, width: u32, height: u32, source: Source) -> Vec<Hint> {
    let mut out = Vec::new();
    let exif = read_exif(bytes);
    let tag = |t: exif::Tag| {
        exif.as_ref()
            .and_then(|e| e.get_field(t, exif::In::PRIMARY))
            .map(|f| f.display_value().to_string().trim_matches('"').trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    if let Some(sw) = tag(exif::Tag::Software) {
        let lower = sw.to_ascii_lowercase();
        if let Some(editor) = EDITORS.iter().find(|e| lower.contains(*e)) {
            out.push(Hint {
                label: "edited_with_software",
                evidence: json!({"exif_software": truncate(&sw, 64), "matched": editor}),
            });
        }
    }
    if source == Source::Camera && tag(exif::Tag::Make).is_none() && tag(exif::Tag::Model).is_none() {
        out.push(Hint {
            label: "camera_exif_missing",
            evidence: json!({"exif_present": exif.is_some()}),
        });
    }
    if media_type == MediaType::Png && SCREENS.iter().any(|&(w, h)| (w, h) == (width, height) || (h, w) == (width, height)) {
        out.push(Hint {
            label: "screenshot",
            evidence: json!({"format": "png", "width": width, "height": height}),
        });
    }
    if media_type == MediaType::Jpeg
        && let Some(q) = ijg_quality(bytes)
        && q <= RECOMPRESSED_MAX_QUALITY
    {
        out.push(Hint {
            label: "jpeg_recompressed",
            evidence: json!({"ijg_tables": true, "estimated_quality": q}),
        });
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn read_exif(bytes: &[u8]) -> Option<exif::Exif> {
    exif::Reader::new().read_from_container(&mut Cursor::new(bytes)).ok()
}

/// The first (luminance) quantisation table of a JPEG, natural order.
fn luma_table(b: &[u8]) -> Option<[u16; 64]> {
    if b.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        // Tables come before the first scan; stop there.
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let seg = b.get(i + 4..i + 2 + len)?;
        if marker == 0xDB {
            let mut p = 0;
            while p < seg.len() {
                let (precision, id) = (seg[p] >> 4, seg[p] & 0x0F);
                let size = if precision == 0 { 64 } else { 128 };
                let body = seg.get(p + 1..p + 1 + size)?;
                if id == 0 {
                    let mut t = [0u16; 64];
                    for (k, &nat) in ZIGZAG.iter().enumerate() {
                        t[nat] = if precision == 0 {
                            u16::from(body[k])
                        } else {
                            u16::from_be_bytes([body[2 * k], body[2 * k + 1]])
                        };
                    }
                    return Some(t);
                }
                p += 1 + size;
            }
        }
        i += 2 + len;
    }
    None
}

/// The IJG quality (1–100) whose scaled reference table is exactly this file's luminance
/// table, if any: only a libjpeg-style encoder writes such a table.
pub fn ijg_quality(bytes: &[u8]) -> Option<u8> {
    let t = luma_table(bytes)?;
    (1..=100u8).rev().find(|&q| {
        let scale: u32 = if q < 50 { 5000 / u32::from(q) } else { 200 - 2 * u32::from(q) };
        IJG_LUMA
            .iter()
            .zip(t.iter())
            .all(|(&base, &got)| ((u32::from(base) * scale + 50) / 100).clamp(1, 255) == u32::from(got))
    })
}
