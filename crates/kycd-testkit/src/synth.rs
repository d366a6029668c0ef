//! Synthetic document photos with known ground truth, for tests, calibration and
//! benchmarks (never a real person's document). Deterministic: the same scene renders the
//! same pixels.
//!
//! The scene is an ID-1-shaped card (85.6 × 54 mm proportions) with a portrait box, lines
//! of glyph-like strokes and two MRZ-like lines, placed on a background, then "photographed":
//! blur, glare spot, exposure change, noise.

use image::{GrayImage, Luma};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Background {
    /// A flat grey.
    Flat(u8),
    /// Wood-grain-like stripes (a textured table).
    Textured,
    /// The card fills the whole frame and more (no background visible).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    /// Card centre as a fraction of the frame.
    pub centre: (f32, f32),
    /// Card width as a fraction of the frame width.
    pub card_width: f32,
    /// Rotation of the card, degrees.
    pub angle_deg: f32,
    pub background: Background,
    /// Paper brightness.
    pub paper: u8,
    /// Whether to draw the card at all.
    pub card: bool,
    /// Gaussian-like blur radius in pixels (three box passes), 0 for none.
    pub blur: u32,
    /// Saturated glare ellipse: centre (fraction of the card), radius (fraction of card width).
    pub glare: Option<((f32, f32), f32)>,
    /// Multiply every pixel by this, then add `offset` (exposure).
    pub gain: f32,
    pub offset: f32,
    /// Amplitude of uniform noise added (0 for none).
    pub noise: u8,
    pub seed: u32,
}

impl Default for Scene {
    fn default() -> Self {
        Self {
            width: 1024,
            height: 768,
            centre: (0.5, 0.5),
            card_width: 0.7,
            angle_deg: 4.0,
            background: Background::Flat(70),
            paper: 215,
            card: true,
            blur: 0,
            glare: None,
            gain: 1.0,
            offset: 0.0,
            noise: 2,
            seed: 7,
        }
    }
}

pub(crate) fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Ink value of the card at card coordinates (u, v) ∈ [0,1]², `None` for bare paper.
fn card_ink(u: f32, v: f32, card_px_w: f32) -> Option<u8> {
    // Portrait box.
    if (0.05..0.30).contains(&u) && (0.2..0.72).contains(&v) {
        return Some((90.0 + 60.0 * v) as u8);
    }
    // Text lines (right of the portrait) and two MRZ lines at the bottom.
    let (rows, u0, u1): (&[(f32, f32)], f32, f32) = if v < 0.75 {
        (&[(0.22, 0.27), (0.31, 0.36), (0.40, 0.45), (0.49, 0.54), (0.58, 0.63)], 0.35, 0.92)
    } else {
        (&[(0.78, 0.85), (0.88, 0.95)], 0.05, 0.95)
    };
    let (line, &(v0, v1)) = rows.iter().enumerate().find(|(_, (a, b))| (*a..*b).contains(&v))?;
    if !(u0..u1).contains(&u) {
        return None;
    }
    // Character cells about 2.2 % of the card wide; each glyph a few strokes.
    let cell = 0.022;
    let ci = ((u - u0) / cell) as u32;
    let fu = ((u - u0) / cell).fract();
    let fv = (v - v0) / (v1 - v0);
    let h = hash(ci.wrapping_mul(31).wrapping_add(line as u32 * 977));
    if h.is_multiple_of(7) || fu > 0.75 {
        return None; // space, or the gap between glyphs
    }
    // Stroke width about 12 % of a cell, at least one card pixel.
    let sw = (0.12f32).max(1.0 / (cell * card_px_w));
    let fv_sw = sw * cell / (v1 - v0) * 1.6;
    let on = (h & 1 != 0 && fu < sw)
        || (h & 2 != 0 && (0.75 - sw..0.75).contains(&fu))
        || (h & 4 != 0 && fv < fv_sw)
        || (h & 8 != 0 && (0.5 - fv_sw / 2.0..0.5 + fv_sw / 2.0).contains(&fv))
        || (h & 16 != 0 && fv > 1.0 - fv_sw)
        || (h & 32 != 0 && (fu - fv * 0.75).abs() < sw);
    on.then_some(25)
}

/// Render the scene.
pub fn render(s: &Scene) -> GrayImage {
    let (w, h) = (s.width.max(1), s.height.max(1));
    let cw = s.card_width * w as f32;
    let ch = cw * 54.0 / 85.6;
    let (cx, cy) = (s.centre.0 * w as f32, s.centre.1 * h as f32);
    let (sin, cos) = s.angle_deg.to_radians().sin_cos();
    let mut img = GrayImage::from_fn(w, h, |x, y| {
        let (px, py) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        // Into card coordinates (inverse rotation).
        let lx = px * cos + py * sin;
        let ly = -px * sin + py * cos;
        let (u, v) = (lx / cw + 0.5, ly / ch + 0.5);
        let inside = s.card && (0.0..1.0).contains(&u) && (0.0..1.0).contains(&v);
        let value = if inside || s.background == Background::None {
            let paper = f32::from(s.paper) - 10.0 * v;
            let ink = card_ink(u, v, cw);
            let mut val = ink.map_or(paper, f32::from);
            if let Some(((gu, gv), r)) = s.glare {
                let (du, dv) = ((u - gu) * cw, (v - gv) * ch);
                let d = (du * du + dv * dv).sqrt() / (r * cw);
                if d < 1.0 {
                    val = 255.0;
                } else if d < 1.3 {
                    val = val + (255.0 - val) * (1.3 - d) / 0.3;
                }
            }
            val
        } else {
            match s.background {
                Background::Flat(g) => f32::from(g),
                Background::Textured => {
                    let t = (y as f32 * 0.35 + 6.0 * (x as f32 * 0.013).sin()).sin();
                    let k = (x as f32 * 0.9 + y as f32 * 0.05).sin();
                    110.0 + 45.0 * t + 15.0 * k
                }
                Background::None => f32::from(s.paper),
            }
        };
        Luma([value.clamp(0.0, 255.0) as u8])
    });
    expose(&mut img, s.blur, s.gain, s.offset, s.noise, s.seed);
    img
}

/// "Photograph" a rendered scene in place: three box-blur passes of radius `blur`
/// (≈ Gaussian), exposure (`v * gain + offset`), then uniform noise of amplitude `noise`
/// from a xorshift seeded by `seed` (deterministic).
pub fn expose(img: &mut GrayImage, blur: u32, gain: f32, offset: f32, noise: u8, seed: u32) {
    for _ in 0..3 {
        box_blur(img, blur);
    }
    let mut state = seed | 1;
    for p in img.pixels_mut() {
        let mut v = f32::from(p[0]) * gain + offset;
        if noise > 0 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            v += (state % (2 * u32::from(noise) + 1)) as f32 - f32::from(noise);
        }
        p[0] = v.clamp(0.0, 255.0) as u8;
    }
}

/// One horizontal and one vertical box pass of radius `r` (three in a row ≈ Gaussian).
pub fn box_blur(img: &mut GrayImage, r: u32) {
    if r == 0 {
        return;
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let r = r as usize;
    let data: &mut [u8] = img;
    let mut line = Vec::new();
    for y in 0..h {
        line.clear();
        line.extend_from_slice(&data[y * w..(y + 1) * w]);
        blur_line(&line, &mut data[y * w..(y + 1) * w], r, 1);
    }
    let mut col = vec![0u8; h];
    let mut out = vec![0u8; h];
    for x in 0..w {
        for y in 0..h {
            col[y] = data[y * w + x];
        }
        blur_line(&col, &mut out, r, 1);
        for y in 0..h {
            data[y * w + x] = out[y];
        }
    }
}

fn blur_line(src: &[u8], dst: &mut [u8], r: usize, _stride: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    let at = |i: isize| u32::from(src[i.clamp(0, n as isize - 1) as usize]);
    let r = r as isize;
    let mut sum: u32 = (-r..=r).map(at).sum();
    let div = (2 * r + 1) as u32;
    for (i, d) in dst.iter_mut().enumerate().take(n) {
        *d = ((sum + div / 2) / div) as u8;
        let i = i as isize;
        sum = sum + at(i + r + 1) - at(i - r);
    }
}

/// A photo-like colour JPEG of the scene (YCbCr with subsampled chroma, as cameras write
/// them; a warm tint so the chroma channels are not flat), for decode tests and benchmarks.
pub fn jpeg(s: &Scene, quality: u8) -> Vec<u8> {
    let grey = render(s);
    let rgb = image::RgbImage::from_fn(grey.width(), grey.height(), |x, y| {
        let v = grey.get_pixel(x, y)[0];
        image::Rgb([v.saturating_add(6), v, v.saturating_sub(10)])
    });
    drop(grey);
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    // Encoding into a Vec cannot fail for a valid buffer; an empty result would be
    // refused by every caller's decode step anyway.
    let _ = rgb.write_with_encoder(enc);
    out
}

/// A JPEG with an APP1 EXIF segment of ASCII tags (tag number, value) inserted after SOI:
/// test images that claim an editor (`0x0131` Software) or a camera (`0x010F` Make).
pub fn with_exif(jpeg: &[u8], tags: &[(u16, &str)]) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    let n = tags.len() as u16;
    tiff.extend_from_slice(&n.to_le_bytes());
    let mut data_off = 8 + 2 + 12 * u32::from(n) + 4;
    let mut data = Vec::new();
    for (tag, val) in tags {
        let mut v = val.as_bytes().to_vec();
        v.push(0);
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&(v.len() as u32).to_le_bytes());
        tiff.extend_from_slice(&data_off.to_le_bytes());
        data_off += v.len() as u32;
        data.extend_from_slice(&v);
    }
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&data);
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[2..]);
    out
}
