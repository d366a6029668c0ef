//! kycd's CPU pipeline. Sync and deterministic: bytes and limits in, typed results out.
//! Knows nothing of HTTP, the database or the clock (dates are parameters).
//!
//! - [`decode`]: sniff, limits, EXIF orientation, the shared greyscale working copy.
//! - [`quality`]: image-quality figures and feedback codes.
//! - [`mrz`]: ICAO 9303 machine-readable zones (TD1, TD2, TD3, MRV-A, MRV-B).
//! - [`aamva`]: the AAMVA DL/ID barcode payload (PDF417 on North American cards).
//! - [`barcode`]: reading that PDF417 barcode from a photo (rxing, with skew retries).
//! - [`rules`]: document rules (expiry, age, policy, cross-source consistency).
//! - [`mrz_read`]: the MRZ reader: PP-OCR's text detector ([`ocr`]) finds the zone,
//!   [`mrz_zone`] locates its cells, [`mrz_cells`] classifies them, [`mrz_grid`] decides
//!   the characters.
//! - [`liveness`]: the head-turn liveness check on a burst of frames (face landmarks, pose,
//!   parallax, identity).
//! - [`onnx`]: the ONNX Runtime every neural model here runs on (OCR, face detection,
//!   face landmarks).
//!
//! The synthetic documents, faces, barcodes and bursts the tests, examples and benches
//! use are in the `kycd-testkit` crate (a dev-dependency), not here.

/// `Debug` that shows only the named fields and marks the rest as left out: personal
/// data (names, numbers, dates) must never reach a log, and a loaded model has nothing
/// worth printing. Defined before the modules so that every one of them can use it.
macro_rules! debug_showing {
    ($type:ident { $($field:ident),* $(,)? }) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

pub mod aamva;
pub mod barcode;
pub mod burst;
pub mod decode;
pub mod face;
pub mod heic;
pub mod liveness;
pub mod mrz;
pub mod mrz_cells;
pub mod mrz_grid;
pub mod mrz_read;
pub mod mrz_zone;
pub mod names;
pub mod ocr;
pub mod onnx;
pub mod phash;
pub mod pipeline;
pub mod provenance;
pub mod quality;
pub mod rules;

use image::ImageFormat;
use kycd_core::{CaptureFeedback, CaptureKind, MediaType};
pub use quality::{FeedbackCode, ImageMeasures, Metric, QualityReport};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Longest side accepted, in pixels.
    pub max_side: u32,
    /// Most pixels accepted (width × height).
    pub max_pixels: u64,
}

impl ImageLimits {
    /// Refuse `width × height` when a side or the pixel count exceeds the limits; the one
    /// test every format's declared size goes through before decoding.
    pub fn check(&self, width: u32, height: u32) -> Result<(), ImageError> {
        if width > self.max_side || height > self.max_side || u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(ImageError::TooManyPixels {
                width,
                height,
                max_side: self.max_side,
                max_pixels: self.max_pixels,
            });
        }
        Ok(())
    }
}

impl Default for ImageLimits {
    fn default() -> Self {
        // 12 MP phone photos are common; 50 MP covers high-end cameras with margin.
        Self {
            max_side: 12_000,
            max_pixels: 50_000_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a JPEG, PNG, WebP or HEIC image (its bytes do not start like one)")]
    UnsupportedType,
    #[error(
        "the image is {width}×{height} pixels; the limit is {max_side} pixels per side and {max_pixels} pixels in all: downscale it before upload"
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        max_side: u32,
        max_pixels: u64,
    },
    #[error("the image could not be decoded ({0}): it may be truncated or damaged; capture it again")]
    Corrupt(String),
    #[error("the file is a HEIC image, and this kycd was built without HEIC support (the `heic` feature): send a JPEG, PNG or WebP image")]
    HeicNotBuilt,
}

/// What decoding a capture established.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageInfo {
    pub media_type: MediaType,
    /// Dimensions as the person sees the image (EXIF orientation applied).
    pub width: u32,
    pub height: u32,
    /// Quality figures measured on the working copy; `None` when only the header was read.
    pub measures: Option<ImageMeasures>,
    /// SHA-256 and perceptual hash (duplicate detection); `None` when only the header was read.
    pub fingerprint: Option<phash::Fingerprint>,
    /// Dimensions as stored in the file, before orientation (screenshot sizes are stored ones).
    pub stored_width: u32,
    pub stored_height: u32,
}

/// The media type, from the bytes alone (a declared Content-Type or file name is never trusted).
pub fn sniff(bytes: &[u8]) -> Result<MediaType, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => Ok(MediaType::Jpeg),
        Ok(ImageFormat::Png) => Ok(MediaType::Png),
        Ok(ImageFormat::WebP) => Ok(MediaType::Webp),
        _ => Err(ImageError::UnsupportedType),
    }
}

/// Check the declared dimensions before allocating anything (decompression bombs), then
/// decode fully so truncated or damaged files are refused at upload, not at processing,
/// and measure the quality figures on the working copy made along the way.
pub fn inspect(bytes: &[u8], limits: ImageLimits) -> Result<ImageInfo, ImageError> {
    let d = decode::decode(bytes, limits)?;
    let (width, height) = d.upright_dimensions();
    Ok(ImageInfo {
        media_type: d.media_type,
        width,
        height,
        measures: Some(quality::measure(&d.work)),
        fingerprint: Some(phash::Fingerprint::of(bytes, &d.work)),
        stored_width: d.stored_width,
        stored_height: d.stored_height,
    })
}

/// What decoding this capture may cost in memory, in bytes, from its header alone: its
/// pixels as RGBA (the general decoder's RGB output plus the greyscale copy) and some
/// decoder scratch. 0 when the header does not parse or exceeds the limits: such a file
/// is refused before any pixel is decoded.
pub fn decode_cost(bytes: &[u8], limits: ImageLimits) -> u64 {
    if heic::is_heif(bytes) {
        // Decoded by libheif, then the converted JPEG decoded again by `inspect`.
        return match heic::dimensions(bytes) {
            Some((w, h)) if limits.check(w, h).is_ok() => u64::from(w) * u64::from(h) * 7 + (4 << 20),
            _ => 0,
        };
    }
    let Ok(media_type) = sniff(bytes) else {
        return 0;
    };
    match decode::checked_dimensions(bytes, media_type, limits) {
        Ok((w, h)) => u64::from(w) * u64::from(h) * 4 + (4 << 20),
        Err(_) => 0,
    }
}

/// Whether a JPEG's segments and entropy-coded scans run through to an EOI marker.
/// Written by hand because the decoders we use tolerate truncation silently; data after
/// EOI (camera trailers, motion photos) is allowed.
pub fn jpeg_is_complete(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        // Next marker: 0xFF, optional 0xFF fill bytes, then the marker code.
        if i + 1 >= b.len() || b[i] != 0xFF {
            return false;
        }
        while i + 1 < b.len() && b[i + 1] == 0xFF {
            i += 1;
        }
        if i + 1 >= b.len() {
            return false;
        }
        let marker = b[i + 1];
        i += 2;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        if i + 1 >= b.len() {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
        if len < 2 || i + len > b.len() {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data: skip to the next marker that is not a stuffed 0xFF00 or a restart.
            loop {
                // Most of a JPEG is this data: find each 0xFF with memchr (SIMD), not byte by byte.
                match b.get(i..).and_then(|rest| memchr::memchr(0xFF, rest)) {
                    Some(k) => i += k,
                    None => return false,
                }
                if i + 1 >= b.len() {
                    return false;
                }
                if b[i] == 0xFF && b[i + 1] != 0x00 && !(0xD0..=0xD7).contains(&b[i + 1]) && b[i + 1] != 0xFF {
                    break;
                }
                i += 1;
            }
        }
    }
}

/// The quality verdict on a capture (see [`quality::assess`]).
pub fn quality_report(kind: CaptureKind, info: &ImageInfo) -> QualityReport {
    quality::assess(kind, info.width, info.height, info.measures.as_ref())
}

/// Feedback shown to the person right after a capture: the quality codes (`issues`), and
/// what to do about them in plain words. `accepted` is false when any code other than
/// `face_not_checked` is raised.
pub fn capture_feedback(kind: CaptureKind, info: &ImageInfo) -> CaptureFeedback {
    feedback_of(&quality_report(kind, info), info)
}

/// The feedback a quality report gives (after the pipeline added what the face detector
/// found, for a selfie).
pub fn feedback_of(report: &QualityReport, info: &ImageInfo) -> CaptureFeedback {
    CaptureFeedback {
        width: info.width,
        height: info.height,
        accepted: report.accepted(),
        issues: report.codes.iter().map(|c| c.as_str().to_owned()).collect(),
        message: report.message(),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};
    use proptest::prelude::*;
    use std::io::Cursor;

    fn encode(w: u32, h: u32, fmt: ImageFormat) -> Vec<u8> {
        let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 128u8]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, fmt).unwrap();
        out.into_inner()
    }

    #[test]
    fn decode_cost_comes_from_the_header_and_is_zero_for_what_is_refused_anyway() {
        let limits = ImageLimits::default();
        assert_eq!(decode_cost(&encode(800, 600, ImageFormat::Png), limits), 800 * 600 * 4 + (4 << 20));
        assert_eq!(decode_cost(&encode(640, 480, ImageFormat::Jpeg), limits), 640 * 480 * 4 + (4 << 20));
        assert_eq!(decode_cost(b"not an image", limits), 0);
        assert_eq!(decode_cost(&[], limits), 0);
        let tiny = ImageLimits {
            max_side: 100,
            max_pixels: 10_000,
        };
        assert_eq!(decode_cost(&encode(800, 600, ImageFormat::Png), tiny), 0);
    }

    #[test]
    fn accepts_real_images_and_reports_dimensions() {
        for (fmt, mt) in [(ImageFormat::Jpeg, MediaType::Jpeg), (ImageFormat::Png, MediaType::Png)] {
            let info = inspect(&encode(800, 600, fmt), ImageLimits::default()).unwrap();
            assert_eq!((info.media_type, info.width, info.height), (mt, 800, 600));
            assert!(info.measures.is_some());
        }
    }

    #[test]
    fn refuses_text_truncation_and_oversize() {
        assert_eq!(sniff(b"hello, I am text"), Err(ImageError::UnsupportedType));
        assert_eq!(sniff(b""), Err(ImageError::Empty));
        let jpeg = encode(400, 300, ImageFormat::Jpeg);
        let truncated = &jpeg[..jpeg.len() / 2];
        assert!(matches!(inspect(truncated, ImageLimits::default()), Err(ImageError::Corrupt(_))));
        let big = encode(300, 200, ImageFormat::Png);
        let tight = ImageLimits {
            max_side: 250,
            max_pixels: 1_000_000,
        };
        assert!(matches!(inspect(&big, tight), Err(ImageError::TooManyPixels { width: 300, .. })));
    }

    #[test]
    fn low_resolution_document_gets_feedback() {
        let info = ImageInfo {
            media_type: MediaType::Jpeg,
            width: 320,
            height: 240,
            measures: None,
            fingerprint: None,
            stored_width: 320,
            stored_height: 240,
        };
        let fb = capture_feedback(CaptureKind::DocumentFront, &info);
        assert!(!fb.accepted);
        assert_eq!(fb.issues, vec!["low_resolution"]);
    }

    #[test]
    fn jpeg_completeness_walks_markers() {
        let jpeg = encode(64, 48, ImageFormat::Jpeg);
        assert!(jpeg_is_complete(&jpeg));
        let mut trailer = jpeg.clone();
        trailer.extend_from_slice(b"motion photo trailer");
        assert!(jpeg_is_complete(&trailer));
        for cut in [3, 20, jpeg.len() / 2, jpeg.len() - 2] {
            assert!(!jpeg_is_complete(&jpeg[..cut]), "cut at {cut}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn jpeg_walker_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut b = vec![0xFF, 0xD8];
            b.extend(bytes);
            let _ = jpeg_is_complete(&b);
        }

        #[test]
        fn inspect_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = inspect(&bytes, ImageLimits::default());
        }

        #[test]
        fn inspect_never_panics_on_mutated_jpeg(idx in 0usize..100_000, val in any::<u8>(), cut in 0usize..100_000) {
            let mut jpeg = encode(96, 64, ImageFormat::Jpeg);
            let i = idx % jpeg.len();
            jpeg[i] = val;
            jpeg.truncate((cut % jpeg.len()).max(4));
            let _ = inspect(&jpeg, ImageLimits::default());
        }

        #[test]
        fn inspect_never_panics_on_mutated_png(idx in 0usize..2000, val in any::<u8>()) {
            let mut png = encode(40, 30, ImageFormat::Png);
            let i = idx % png.len();
            png[i] = val;
            let _ = inspect(&png, ImageLimits::default());
        }
    }
}
