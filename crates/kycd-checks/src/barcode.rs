//! The PDF417 barcode on the back of US and Canadian driving licences and ID cards, read
//! with `rxing` (a Rust port of ZXing) and parsed as an AAMVA payload ([`crate::aamva`]).
//!
//! rxing's PDF417 detector looks for the start and stop patterns along pixel rows, and
//! tries the four quarter turns itself (0, 180, 270, 90°). It finds nothing from about 3°
//! of skew on a wide barcode (the row crosses several barcode rows before it reaches the
//! stop pattern; the C++ ZXing fails the same way), and a hand-held photo is rarely
//! straighter than that. So the reader tries, stopping at the first success:
//!
//! 1. the image as given (the fast case, a straight barcode);
//! 2. a half-size copy (when the image is large: the detector is then faster and a
//!    little more tolerant of blur and JPEG noise), straight;
//! 3. that copy turned by ±3, ±6, ±9 and ±12° ([`RETRY_ANGLES_DEG`]), which covers a
//!    card held up to ~15° off level in steps the detector tolerates. Each turn is also
//!    tried at the quarter turns by rxing, so upside-down and portrait photos are covered.
//!    The turns are ordered by a cheap skew estimate ([`estimate_skew_deg`], the dominant
//!    edge direction), and the exact turn that undoes the estimate goes first, so a
//!    skewed barcode is usually read at the third attempt instead of the fifth to tenth
//!    (each failed attempt costs a rotation and a full rxing pass).
//!
//! Bytes are returned exactly as encoded: with no ECI rxing decodes PDF417 bytes as
//! ISO 8859-1, one byte per char, which is turned back into the bytes here.

use crate::aamva::{self, AamvaError, AamvaRecord};
use crate::{ImageError, ImageLimits, decode};
use image::GrayImage;
use rxing::{BarcodeFormat, DecodeHints};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Turns tried, in this order, after the straight attempts (degrees; positive is
/// clockwise on screen).
pub const RETRY_ANGLES_DEG: [f32; 8] = [3.0, -3.0, 6.0, -6.0, 9.0, -9.0, 12.0, -12.0];

/// Images with a longer side than this are also tried at half size (and the turns are
/// made on the half-size copy). Below it, halving would shrink a barcode's narrowest bars
/// under two pixels on typical framings.
pub const HALVE_ABOVE_LONG_SIDE: u32 = 2000;

/// Why a capture's barcode could not be turned into an AAMVA record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("the PDF417 barcode was read but is not an AAMVA licence/ID payload: {0}")]
    NotAamva(#[from] AamvaError),
}

/// A decoded barcode and the attempt that found it.
#[derive(Clone, PartialEq)]
pub struct Pdf417Read {
    /// The payload, byte for byte.
    pub bytes: Vec<u8>,
    /// Scale of the image that was decoded relative to the input (1.0 or 0.5).
    pub scale: f32,
    /// Turn applied before the decode, degrees (0 for the straight attempts).
    pub angle_deg: f32,
    /// How many decode attempts were made, this one included.
    pub attempts: u32,
}

impl std::fmt::Debug for Pdf417Read {
    // The payload is personal data (name, address, document number): length only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pdf417Read")
            .field("bytes_len", &self.bytes.len())
            .field("scale", &self.scale)
            .field("angle_deg", &self.angle_deg)
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// The raw payload of the first PDF417 barcode found, byte-exact; `None` when none is found.
pub fn read_pdf417(img: &GrayImage) -> Option<Vec<u8>> {
    read_pdf417_detailed(img).map(|r| r.bytes)
}

/// [`read_pdf417`], also saying which attempt found the barcode.
pub fn read_pdf417_detailed(img: &GrayImage) -> Option<Pdf417Read> {
    let mut attempts = 0;
    let mut attempt = |im: &GrayImage, scale: f32, angle_deg: f32| {
        attempts += 1;
        decode_once(im).map(|bytes| Pdf417Read {
            bytes,
            scale,
            angle_deg,
            attempts,
        })
    };
    if let Some(r) = attempt(img, 1.0, 0.0) {
        return Some(r);
    }
    let (w, h) = img.dimensions();
    let halved;
    let (base, scale) = if w.max(h) > HALVE_ABOVE_LONG_SIDE {
        halved = decode::area_resize(img, w.div_ceil(2), h.div_ceil(2));
        if let Some(r) = attempt(&halved, 0.5, 0.0) {
            return Some(r);
        }
        (&halved, 0.5)
    } else {
        (img, 1.0)
    };
    retry_turns(estimate_skew_deg(base))
        .into_iter()
        .find_map(|a| attempt(&rotate_expand(base, a, 255), scale, a))
}

/// The turns to try, in order: the one that undoes the estimated skew first (when there
/// is a skew to undo), then [`RETRY_ANGLES_DEG`] nearest that one first, leaving out
/// those within 1.5° of a turn already in the list.
fn retry_turns(skew_deg: Option<f32>) -> Vec<f32> {
    let mut turns = Vec::with_capacity(RETRY_ANGLES_DEG.len() + 1);
    let target = skew_deg.map_or(0.0, |s| -s);
    if target.abs() >= 1.5 {
        turns.push(target);
    }
    let mut grid = RETRY_ANGLES_DEG;
    grid.sort_by(|a, b| (a - target).abs().total_cmp(&(b - target).abs()));
    for a in grid {
        if turns.iter().all(|t: &f32| (t - a).abs() >= 1.5) {
            turns.push(a);
        }
    }
    turns
}

/// Longest side of the copy the skew is estimated on. Smaller copies shrink the modules
/// of a wide barcode towards one pixel, and the estimate reads lower (15° → 11°).
const SKEW_LONG_SIDE: u32 = 2048;

/// The dominant edge direction modulo 90°, in degrees in [-45, 45) (positive: turned
/// clockwise on screen), from a histogram of gradient directions weighted by gradient
/// magnitude, on a copy at most [`SKEW_LONG_SIDE`] pixels long. A PDF417 symbol is
/// hundreds of parallel bar edges (and row edges at right angles, which fold onto the
/// same bin), so on a licence back its direction dominates; the card outline and its
/// print agree with it. `None` when the image has no edges to speak of.
pub fn estimate_skew_deg(img: &GrayImage) -> Option<f32> {
    // An integer factor: a fractional area resize averages 1 or 2 source columns by turns,
    // which bends slanted edges towards the pixel grid.
    let factor = img.width().max(img.height()).div_ceil(SKEW_LONG_SIDE).max(1);
    let small;
    let src = if factor > 1 {
        small = box_downscale(img, factor);
        &small
    } else {
        img
    };
    let (w, h) = (src.width() as usize, src.height() as usize);
    if w < 3 || h < 3 {
        return None;
    }
    let px = src.as_raw();
    // 0.5° bins over [-45°, 45°): per bin and per family (gradients nearer the x axis,
    // flipped to point right; nearer the y axis, turned by 90° onto the x axis) the
    // summed magnitude and the summed gradient vectors.
    const BINS: usize = 180;
    let mut hist = [[0f32; BINS]; 2];
    let mut vec_sum = [[(0f32, 0f32); BINS]; 2];
    for y in 1..h - 1 {
        let (up, row, down) = (&px[(y - 1) * w..y * w], &px[y * w..(y + 1) * w], &px[(y + 1) * w..(y + 2) * w]);
        for x in 1..w - 1 {
            // Sobel (written out: this loop runs a million times per image).
            let (a, b, c) = (i32::from(up[x - 1]), i32::from(up[x]), i32::from(up[x + 1]));
            let (d, f) = (i32::from(row[x - 1]), i32::from(row[x + 1]));
            let (g, hh, i) = (i32::from(down[x - 1]), i32::from(down[x]), i32::from(down[x + 1]));
            let gx = (c + 2 * f + i) - (a + 2 * d + g);
            let gy = (g + 2 * hh + i) - (a + 2 * b + c);
            // Ignore sensor noise and JPEG ringing: a real edge steps by 20+ levels
            // (Sobel's gain is 4).
            if gx * gx + gy * gy < 6400 {
                continue;
            }
            let (family, fx, fy) = match (gx.abs() >= gy.abs(), gx >= 0, gy >= 0) {
                (true, true, _) => (0, gx, gy),
                (true, false, _) => (0, -gx, -gy),
                (false, _, true) => (1, gy, -gx),
                (false, _, false) => (1, -gy, gx),
            };
            let (fx, fy) = (fx as f32, fy as f32);
            let bin = (((fy.atan2(fx).to_degrees() + 45.0) * 2.0) as usize).min(BINS - 1);
            hist[family][bin] += fx.hypot(fy);
            vec_sum[family][bin].0 += fx;
            vec_sum[family][bin].1 += fy;
        }
    }
    // The peak of both families together, smoothed with a triangle over ±2 bins (a
    // unique maximum even for a single full bin)…
    let at = |f: usize, i: isize| hist[f][i.clamp(0, BINS as isize - 1) as usize];
    let (peak, best) = (0..BINS as isize)
        .map(|i| {
            (
                i,
                (-2..=2isize)
                    .map(|d| (3 - d.abs()) as f32 * (at(0, i + d) + at(1, i + d)))
                    .sum::<f32>(),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if best <= 0.0 {
        return None;
    }
    // …refined by the direction of the summed gradient vectors of the family that makes
    // the peak, within ±20° of it. Summing vectors rather than angles undoes most of the
    // pixel grid's bias on a slanted, sharp edge, whose stair steps have gradients far
    // off its normal. Measured on synthetic licence backs the estimate still reads low by
    // 2–5 % (15° → 14.5°), well inside what the detector tolerates (±3° or more).
    let fam = usize::from((-6..=6).map(|d| at(1, peak + d)).sum::<f32>() > (-6..=6).map(|d| at(0, peak + d)).sum::<f32>());
    let lo = (peak - 40).max(0) as usize;
    let hi = ((peak + 40) as usize).min(BINS - 1);
    let (sx, sy) = vec_sum[fam][lo..=hi].iter().fold((0f32, 0f32), |a, v| (a.0 + v.0, a.1 + v.1));
    let deg = sy.atan2(sx).to_degrees();
    Some(if deg < -45.0 { deg + 90.0 } else { deg })
}

/// Read the barcode and parse it as an AAMVA payload. `Ok(None)`: no barcode found;
/// `Err`: a barcode was found but is not an AAMVA payload.
pub fn read_aamva(img: &GrayImage) -> Result<Option<AamvaRecord>, AamvaError> {
    read_pdf417(img).map(|b| aamva::parse(&b)).transpose()
}

/// Decode a capture (any accepted format, EXIF orientation applied, limits enforced) at
/// full resolution and read its AAMVA barcode, as [`read_aamva`] does.
pub fn read_aamva_capture(bytes: &[u8], limits: ImageLimits) -> Result<Option<AamvaRecord>, BarcodeError> {
    let grey = decode::decode_full(bytes, limits)?.into_luma8();
    Ok(read_aamva(&grey)?)
}

/// One rxing decode of the image as it is.
fn decode_once(img: &GrayImage) -> Option<Vec<u8>> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return None;
    }
    let mut hints = DecodeHints {
        TryHarder: Some(true),
        ..DecodeHints::default()
    };
    // The image comes from an untrusted upload and rxing is a large port with much index
    // arithmetic: a panic inside it must cost this capture its barcode, not the worker.
    let found = catch_unwind(AssertUnwindSafe(|| {
        rxing::helpers::detect_in_luma_slice_with_hints(img.as_raw(), w, h, Some(BarcodeFormat::PDF_417), &mut hints)
    }))
    .ok()?
    .ok()?;
    text_to_bytes(found.getText())
}

/// Back from rxing's text to the encoded bytes. Without an ECI every byte became the char
/// of the same value (ISO 8859-1); a barcode that declared another character set through
/// an ECI was decoded with it, and its text is returned as UTF-8.
fn text_to_bytes(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() {
        return None;
    }
    let latin1: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
    Some(latin1.unwrap_or_else(|| text.as_bytes().to_vec()))
}

/// Mean of each `k` × `k` block (the partial blocks at the right and bottom dropped).
fn box_downscale(img: &GrayImage, k: u32) -> GrayImage {
    let (w, h) = ((img.width() / k).max(1), (img.height() / k).max(1));
    let (k, sw) = (k as usize, img.width() as usize);
    let src = img.as_raw();
    let mut acc = vec![0u32; w as usize];
    let mut out = Vec::with_capacity(w as usize * h as usize);
    for by in 0..h as usize {
        acc.iter_mut().for_each(|a| *a = 0);
        for row in src.chunks_exact(sw).skip(by * k).take(k) {
            for (a, block) in acc.iter_mut().zip(row.chunks_exact(k)) {
                *a += block.iter().map(|&v| u32::from(v)).sum::<u32>();
            }
        }
        let n = (k * k) as u32;
        out.extend(acc.iter().map(|&a| ((a + n / 2) / n) as u8));
    }
    GrayImage::from_raw(w, h, out).unwrap_or_else(|| GrayImage::new(w, h))
}

/// `img` turned by `deg` degrees about its centre onto a canvas large enough to hold all
/// of it, bilinear, the uncovered corners filled with `fill`.
///
/// Written here rather than taken from `imageproc` (which has `rotate_about_center`): the
/// only way to get imageproc is with rxing's `image` feature or as a direct dependency,
/// and either brings nalgebra and, through imageproc's defaults, every `image` codec
/// (AVIF encoder included) into the workspace, for some forty lines.
pub fn rotate_expand(img: &GrayImage, deg: f32, fill: u8) -> GrayImage {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return img.clone();
    }
    let (sin, cos) = deg.to_radians().sin_cos();
    let (wf, hf) = (w as f32, h as f32);
    let nw = ((wf * cos.abs() + hf * sin.abs()).ceil() as u32).max(1);
    let nh = ((wf * sin.abs() + hf * cos.abs()).ceil() as u32).max(1);
    let (cx, cy) = (wf / 2.0, hf / 2.0);
    let (ncx, ncy) = (nw as f32 / 2.0, nh as f32 / 2.0);
    let src = img.as_raw();
    let (wu, hu) = (w as usize, h as usize);
    // Fixed point, 16 fractional bits: source position of each output pixel centre,
    // stepped along a row (the inverse rotation is linear, so each step adds the same).
    const ONE: f32 = 65_536.0;
    let (dx_step, dy_step) = ((cos * ONE) as i64, (-sin * ONE) as i64);
    let (max_x, max_y) = (((wu - 1) as i64) << 16, ((hu - 1) as i64) << 16);
    let mut out = vec![fill; nw as usize * nh as usize];
    for (y, row) in out.chunks_exact_mut(nw as usize).enumerate() {
        let (px, py) = (0.5 - ncx, y as f32 + 0.5 - ncy);
        let mut sx = ((cos * px + sin * py + cx - 0.5) * ONE) as i64;
        let mut sy = ((-sin * px + cos * py + cy - 0.5) * ONE) as i64;
        for o in row.iter_mut() {
            if sx >= 0 && sy >= 0 && sx <= max_x && sy <= max_y {
                let (x0, y0) = ((sx >> 16) as usize, (sy >> 16) as usize);
                let (fx, fy) = ((sx & 0xFFFF) as u32 >> 8, (sy & 0xFFFF) as u32 >> 8);
                let (i0, dx) = (y0 * wu + x0, usize::from(x0 + 1 < wu));
                let i1 = if y0 + 1 < hu { i0 + wu } else { i0 };
                let top = u32::from(src[i0]) * (256 - fx) + u32::from(src[i0 + dx]) * fx;
                let bottom = u32::from(src[i1]) * (256 - fx) + u32::from(src[i1 + dx]) * fx;
                *o = ((top * (256 - fy) + bottom * fy + (1 << 15)) >> 16) as u8;
            }
            sx += dx_step;
            sy += dy_step;
        }
    }
    GrayImage::from_raw(nw, nh, out).unwrap_or_else(|| img.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn latin1_text_maps_back_to_bytes() {
        assert_eq!(text_to_bytes("@\n\u{1e}\rANSI "), Some(b"@\n\x1e\rANSI ".to_vec()));
        assert_eq!(text_to_bytes("\u{e9}\u{ff}"), Some(vec![0xE9, 0xFF]));
        assert_eq!(text_to_bytes("\u{20ac}"), Some("\u{20ac}".as_bytes().to_vec()));
        assert_eq!(text_to_bytes(""), None);
    }

    #[test]
    fn rotation_keeps_content_and_expands_canvas() {
        let img = GrayImage::from_fn(40, 20, |x, _| image::Luma([if x < 20 { 0 } else { 200 }]));
        let same = rotate_expand(&img, 0.0, 255);
        assert_eq!(same.dimensions(), (40, 20));
        assert_eq!(same.as_raw(), img.as_raw());
        let quarter = rotate_expand(&img, 90.0, 255);
        assert!(matches!(quarter.dimensions(), (20..=21, 40..=41)), "{:?}", quarter.dimensions());
        let turned = rotate_expand(&img, 10.0, 255);
        assert!(turned.width() > 40 && turned.height() > 20);
        // The centre stays where it was; the corners are fill.
        let (cw, ch) = (turned.width() / 2, turned.height() / 2);
        assert!(turned.get_pixel(cw - 6, ch)[0] < 30 && turned.get_pixel(cw + 6, ch)[0] > 170);
        assert_eq!(turned.get_pixel(0, 0)[0], 255);
    }

    #[test]
    fn retry_order_follows_the_estimate() {
        assert_eq!(retry_turns(None), RETRY_ANGLES_DEG.to_vec());
        assert_eq!(&retry_turns(Some(0.5))[..2], &[-3.0, 3.0]);
        let t = retry_turns(Some(7.2));
        // -6 is within 1.5° of -7.2, which was tried already.
        assert_eq!(&t[..3], &[-7.2, -9.0, -3.0]);
        assert_eq!(t.len(), 8);
        let t = retry_turns(Some(-3.2));
        assert_eq!(&t[..3], &[3.2, 6.0, 9.0]);
    }

    #[test]
    fn skew_estimate_finds_the_bar_direction() {
        for deg in [-12.0f32, -5.0, 0.0, 4.0, 9.5, 30.0] {
            let (sin, cos) = deg.to_radians().sin_cos();
            // Vertical bars 6 px wide, turned clockwise by `deg`.
            // Anti-aliased (4 × 4 samples per pixel), as a photo is.
            let img = GrayImage::from_fn(300, 200, |x, y| {
                let dark = (0..16)
                    .filter(|k| {
                        let px = x as f32 - 150.0 + (k % 4) as f32 / 4.0;
                        let py = y as f32 - 100.0 + (k / 4) as f32 / 4.0;
                        ((px * cos + py * sin) / 6.0).floor().rem_euclid(2.0) < 1.0
                    })
                    .count() as f32;
                image::Luma([(220.0 - 190.0 * dark / 16.0) as u8])
            });
            let est = estimate_skew_deg(&img).unwrap();
            assert!((est - deg).abs() < 0.75, "{deg}: estimated {est}");
        }
        assert_eq!(estimate_skew_deg(&GrayImage::from_pixel(50, 50, image::Luma([90]))), None);
    }

    #[test]
    fn blank_and_tiny_images_have_no_barcode() {
        assert_eq!(read_pdf417(&GrayImage::new(0, 0)), None);
        assert_eq!(read_pdf417(&GrayImage::new(1, 1)), None);
        assert_eq!(read_pdf417(&GrayImage::from_pixel(300, 200, image::Luma([128]))), None);
        assert_eq!(read_aamva(&GrayImage::new(64, 64)), Ok(None));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn read_pdf417_never_panics(w in 0u32..96, h in 0u32..96, seed in any::<u32>(), stripes in any::<bool>()) {
            let mut s = seed | 1;
            let img = GrayImage::from_fn(w, h, |x, _| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                // Bar-like columns half the time, so the detector gets past its first checks.
                let v = if stripes { if (x * 7 + s % 3) % 5 < 2 { 0 } else { 255 } } else { (s & 0xFF) as u8 };
                image::Luma([v])
            });
            let _ = read_pdf417(&img);
        }
    }
}
