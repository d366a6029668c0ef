//! Small synthetic images for upload tests: gradient patterns in JPEG, PNG and WebP, a
//! synthetic ID card photo, selfies made from the test portraits, and a PNG whose header
//! claims a huge size.
// Harness code: a failure here is a test's failure, so it unwraps, expects and panics
// with the reason, as the tests themselves do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{synth, synth_face};

/// Deterministic pseudo-random bytes (xorshift), so images differ per seed.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u8(&mut self) -> u8 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 24) as u8
    }
}

fn pattern(w: u32, h: u32, seed: u64, noise_amp: u8) -> image::RgbImage {
    let mut n = Noise::new(seed);
    let amp = i32::from(noise_amp);
    image::RgbImage::from_fn(w, h, |x, y| {
        let gx = (x * 255 / w.max(1)) as i32;
        let gy = (y * 255 / h.max(1)) as i32;
        let s = (seed % 97) as i32;
        let mut px = [gx, gy, (gx + gy + s * 3) / 2];
        for c in &mut px {
            if amp > 0 {
                *c += i32::from(n.next_u8()) % (2 * amp + 1) - amp;
            }
        }
        image::Rgb(px.map(|c| c.clamp(0, 255) as u8))
    })
}

pub fn jpeg(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let img = pattern(w, h, seed, 40);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 88)
        .encode_image(&img)
        .expect("encode jpeg");
    out
}

pub fn png(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let img = pattern(w, h, seed, 12);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

pub fn webp(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let img = pattern(w, h, seed, 0);
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encode webp");
    out
}

/// A document photo: 1200×800 JPEG.
pub fn document_jpeg(seed: u64) -> Vec<u8> {
    // A synthetic ID card on a table (the `synth` generator), so quality feedback accepts it.
    let scene = synth::Scene {
        width: 1200,
        height: 800,
        seed: seed as u32,
        ..Default::default()
    };
    synth::jpeg(&scene, 88)
}

/// A test portrait (`synth_face::IDENTITIES[i]`), fetched by
/// `scripts/fetch-models --test-faces`.
pub fn test_face(i: usize) -> &'static image::RgbImage {
    static FACES: std::sync::OnceLock<Vec<image::RgbImage>> = std::sync::OnceLock::new();
    let faces = FACES.get_or_init(|| {
        let dir = synth_face::test_faces_dir();
        synth_face::IDENTITIES
            .iter()
            .map(|n| synth_face::load(&dir, n).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    });
    &faces[i]
}

/// A selfie: 640×640 PNG of one person (the first test portrait), scaled, placed and
/// lit by the seed on a plain background, so different seeds are different pictures (the
/// duplicate checks tell them apart) while the face detector finds one face in each.
pub fn selfie_png(seed: u64) -> Vec<u8> {
    selfie_of(0, seed)
}

/// A selfie of test portrait `who` (see [`selfie_png`]).
pub fn selfie_of(who: usize, seed: u64) -> Vec<u8> {
    let src = test_face(who);
    let mut h = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = |n: u64| {
        h ^= h >> 29;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (h >> 32) % n
    };
    let side = 640u32;
    let scale = 0.6 + next(30) as f32 / 100.0;
    let fw = (side as f32 * scale) as u32;
    let fh = (fw as f32 * src.height() as f32 / src.width() as f32) as u32;
    let small = image::imageops::resize(src, fw, fh, image::imageops::FilterType::Triangle);
    let bg = [60 + next(150) as u8, 60 + next(150) as u8, 60 + next(150) as u8];
    let mut img = image::RgbImage::from_fn(side, side, |x, y| image::Rgb(bg.map(|c| c.saturating_add(((x + y) / 24) as u8))));
    let (ox, oy) = (next(u64::from(side - fw.min(side)) + 1), next(u64::from(side - fh.min(side)) + 1));
    image::imageops::overlay(&mut img, &small, ox as i64, oy as i64);
    if next(2) == 1 {
        img = image::imageops::flip_horizontal(&img);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

/// A small PNG file whose header claims `w`×`h` (8-bit greyscale) with a tiny IDAT: a
/// decompression bomb as far as the header goes.
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of a single zero byte (one filter byte of the first row).
    png_chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}
