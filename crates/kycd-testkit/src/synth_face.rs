//! Face test images made from openly licensed portraits (fetched by
//! `scripts/fetch-models --test-faces`, never committed): "photographs" of one portrait
//! under the changes a selfie or a document portrait goes through (rotation, low
//! resolution, JPEG, light, grey print, mirroring, framing, blur), for the accuracy tests,
//! the benchmark and realistic selfies in the integration tests.

use image::{GrayImage, Rgb, RgbImage, imageops};
use kycd_checks::face::Face;
use std::path::{Path, PathBuf};

/// The portraits, by file name inside `<model dir>/test-faces`: one person each.
pub const IDENTITIES: [&str; 2] = ["astronaut.png", "grace_hopper.jpg"];

/// Where the test portraits are (`$KYCD_MODEL_DIR/test-faces`, else `./models/test-faces`).
pub fn test_faces_dir() -> PathBuf {
    kycd_checks::ocr::default_model_dir().join("test-faces")
}

/// Load one test portrait, or say how to get it.
pub fn load(dir: &Path, name: &str) -> Result<RgbImage, String> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}: run scripts/fetch-models --test-faces", path.display()))?;
    image::load_from_memory(&bytes)
        .map(|i| i.into_rgb8())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// How a portrait is changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    Original,
    /// Rotated by this many degrees about the centre (corners filled with grey).
    Rotated(f32),
    /// Scaled down to this fraction and back up: a low-resolution camera.
    LowRes(f32),
    /// Re-encoded as JPEG at this quality.
    Jpeg(u8),
    /// Brightness multiplied by this gain.
    Light(f32),
    /// Printed in grey at lower contrast, as on a document.
    GreyPrint,
    /// Mirrored, as front cameras show the person.
    Mirrored,
    /// Smaller inside a larger frame with a plain background: a selfie taken from further away.
    Framed,
    /// Box-blurred with this radius.
    Blurred(u32),
}

/// Every variant the accuracy corpus uses.
pub const VARIANTS: [Variant; 11] = [
    Variant::Original,
    Variant::Rotated(8.0),
    Variant::Rotated(-12.0),
    Variant::LowRes(0.35),
    Variant::Jpeg(30),
    Variant::Light(0.55),
    Variant::Light(1.35),
    Variant::GreyPrint,
    Variant::Mirrored,
    Variant::Framed,
    Variant::Blurred(2),
];

pub fn apply(src: &RgbImage, v: Variant) -> RgbImage {
    let (w, h) = src.dimensions();
    match v {
        Variant::Original => src.clone(),
        Variant::Rotated(deg) => {
            let (s, c) = deg.to_radians().sin_cos();
            let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
            RgbImage::from_fn(w, h, |x, y| {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let (sx, sy) = (c * dx + s * dy + cx, -s * dx + c * dy + cy);
                if sx < 0.0 || sy < 0.0 || sx >= w as f32 || sy >= h as f32 {
                    Rgb([128, 128, 128])
                } else {
                    *src.get_pixel(sx as u32, sy as u32)
                }
            })
        }
        Variant::LowRes(f) => {
            let small = imageops::resize(
                src,
                ((w as f32 * f) as u32).max(8),
                ((h as f32 * f) as u32).max(8),
                imageops::FilterType::Triangle,
            );
            imageops::resize(&small, w, h, imageops::FilterType::Triangle)
        }
        Variant::Jpeg(q) => {
            let mut out = Vec::new();
            // Encoding an in-memory RGB buffer cannot fail; the round trip keeps the size.
            let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q).encode_image(src);
            image::load_from_memory(&out).map_or_else(|_| src.clone(), |i| i.into_rgb8())
        }
        Variant::Light(g) => RgbImage::from_fn(w, h, |x, y| Rgb(src.get_pixel(x, y).0.map(|c| (f32::from(c) * g).min(255.0) as u8))),
        Variant::GreyPrint => RgbImage::from_fn(w, h, |x, y| {
            let p = src.get_pixel(x, y).0;
            let l = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            let v = (40.0 + l * 0.7) as u8;
            Rgb([v, v, v])
        }),
        Variant::Mirrored => imageops::flip_horizontal(src),
        Variant::Framed => {
            let small = imageops::resize(src, w * 3 / 5, h * 3 / 5, imageops::FilterType::Triangle);
            let mut out = RgbImage::from_fn(w, h, |x, y| Rgb([200 - (y * 60 / h) as u8, 190, 170 + (x * 40 / w) as u8]));
            imageops::overlay(&mut out, &small, i64::from(w / 5), i64::from(h / 4));
            out
        }
        Variant::Blurred(r) => imageops::blur(src, r as f32),
    }
}

/// A document-style portrait of `face` in `src`: head and shoulders at the 32:42 aspect of
/// a passport photo, in grey.
pub fn portrait(src: &RgbImage, face: &Face) -> GrayImage {
    let (w, h) = src.dimensions();
    let ph = face.h * 2.0;
    let pw = ph * 32.0 / 42.0;
    let cx = face.x + face.w / 2.0;
    let cy = face.y + face.h * 0.55;
    let x0 = (cx - pw / 2.0).clamp(0.0, w as f32 - 1.0) as u32;
    let y0 = (cy - ph / 2.0).clamp(0.0, h as f32 - 1.0) as u32;
    let cw = (pw as u32).min(w - x0).max(1);
    let ch = (ph as u32).min(h - y0).max(1);
    imageops::grayscale(&imageops::crop_imm(src, x0, y0, cw, ch).to_image())
}

/// A selfie as a phone would send it: `src` changed by `v`, JPEG-encoded.
pub fn selfie_jpeg(src: &RgbImage, v: Variant) -> Vec<u8> {
    let img = apply(src, v);
    let mut out = Vec::new();
    let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img);
    out
}

/// The equal-error rate of genuine (same person) and impostor (different people)
/// similarities: the error where the share of genuine pairs below a threshold equals the
/// share of impostor pairs at or above it, and that threshold.
pub fn equal_error_rate(genuine: &[f64], impostor: &[f64]) -> (f64, f64) {
    let mut thresholds: Vec<f64> = genuine.iter().chain(impostor).copied().collect();
    thresholds.push(0.0);
    thresholds.push(1.01);
    thresholds.sort_by(f64::total_cmp);
    let mut best = (f64::INFINITY, 1.0, 0.0);
    for t in thresholds {
        let frr = genuine.iter().filter(|&&s| s < t).count() as f64 / genuine.len().max(1) as f64;
        let far = impostor.iter().filter(|&&s| s >= t).count() as f64 / impostor.len().max(1) as f64;
        let gap = (frr - far).abs();
        if gap < best.0 {
            best = (gap, (frr + far) / 2.0, t);
        }
    }
    (best.1, best.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_error_rate_of_separated_and_overlapping_scores() {
        let (eer, t) = equal_error_rate(&[0.8, 0.9, 0.7], &[0.1, 0.2, 0.3]);
        assert_eq!(eer, 0.0);
        assert!(t > 0.3 && t <= 0.7, "{t}");
        let (eer, _) = equal_error_rate(&[0.8, 0.2], &[0.9, 0.1]);
        assert!((eer - 0.5).abs() < 1e-9, "{eer}");
    }

    #[test]
    fn variants_keep_the_size() {
        let src = RgbImage::from_fn(64, 48, |x, y| Rgb([x as u8 * 4, y as u8 * 5, 90]));
        for v in VARIANTS {
            assert_eq!(apply(&src, v).dimensions(), (64, 48), "{v:?}");
        }
    }
}
