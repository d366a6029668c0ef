//! Fingerprints of a capture for duplicate detection: the SHA-256 of the bytes (exact
//! copies) and a 64-bit perceptual hash of the pixels (the same picture re-encoded,
//! rescaled or lightly edited).
//!
//! The perceptual hash is the classic DCT hash: the upright greyscale working copy is
//! reduced to 32×32, transformed with a 2-D DCT-II, and the 8×8 lowest frequencies
//! (without the DC term) are compared with their median, one bit each. JPEG
//! re-compression and rescaling move few bits (≤ 6 of 64 in the tests); different
//! pictures differ in about half of them.

use image::GrayImage;
use image::imageops::{FilterType, resize};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hashes at most this many bits apart are treated as the same picture. Measured on the
/// synthetic corpus: re-encodings and rescales 0–6 bits, different documents ≥ 20.
pub const SAME_PICTURE_MAX_DISTANCE: u32 = 10;

/// The fingerprints of one capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// SHA-256 of the uploaded bytes, hex.
    #[serde(with = "hex_bytes")]
    pub sha256: [u8; 32],
    /// DCT perceptual hash of the upright pixels.
    pub phash: u64,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

impl Fingerprint {
    pub fn of(bytes: &[u8], upright_grey: &GrayImage) -> Self {
        Self {
            sha256: Sha256::digest(bytes).into(),
            phash: perceptual_hash(upright_grey),
        }
    }
}

/// Bits that differ between two perceptual hashes.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

const N: usize = 32;
const K: usize = 8;

/// The 64-bit DCT hash of a greyscale image.
pub fn perceptual_hash(grey: &GrayImage) -> u64 {
    if grey.width() == 0 || grey.height() == 0 {
        return 0;
    }
    let small = resize(grey, N as u32, N as u32, FilterType::Triangle);
    let px: Vec<f64> = small.as_raw().iter().map(|&v| f64::from(v)).collect();
    // cos table: c[u][x] = cos((2x+1)uπ / 2N), only the K lowest frequencies are needed.
    let mut cos = [[0.0f64; N]; K];
    for (u, row) in cos.iter_mut().enumerate() {
        for (x, c) in row.iter_mut().enumerate() {
            *c = (((2 * x + 1) * u) as f64 * std::f64::consts::PI / (2 * N) as f64).cos();
        }
    }
    // Rows first (K frequencies per row), then columns.
    let mut rows = vec![[0.0f64; K]; N];
    for (y, out) in rows.iter_mut().enumerate() {
        for (u, o) in out.iter_mut().enumerate() {
            *o = (0..N).map(|x| px[y * N + x] * cos[u][x]).sum();
        }
    }
    let mut coeffs = [0.0f64; K * K];
    for v in 0..K {
        for u in 0..K {
            coeffs[v * K + u] = (0..N).map(|y| rows[y][u] * cos[v][y]).sum();
        }
    }
    // The DC term carries only the mean brightness: leave it out of the median.
    let mut sorted: Vec<f64> = coeffs[1..].to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    coeffs
        .iter()
        .enumerate()
        .fold(0u64, |h, (i, &c)| if c > median { h | (1 << i) } else { h })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageFormat, Luma};
    use std::io::Cursor;

    fn scene(seed: u32) -> GrayImage {
        GrayImage::from_fn(400, 300, |x, y| {
            let v = ((x * (3 + seed) + y * (7 + 2 * seed)) % 97) as f32 / 97.0;
            let blob = if (x as i32 - 120 - seed as i32 * 40).pow(2) + (y as i32 - 150).pow(2) < 60 * 60 {
                80.0
            } else {
                0.0
            };
            Luma([(v * 150.0 + blob) as u8])
        })
    }

    fn jpeg_roundtrip(g: &GrayImage, q: u8) -> GrayImage {
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, q)
            .encode_image(&DynamicImage::ImageLuma8(g.clone()))
            .unwrap();
        image::load(Cursor::new(buf), ImageFormat::Jpeg).unwrap().into_luma8()
    }

    #[test]
    fn re_encoded_and_rescaled_copies_stay_close_different_pictures_do_not() {
        let a = scene(1);
        let h = perceptual_hash(&a);
        assert!(distance(h, perceptual_hash(&jpeg_roundtrip(&a, 60))) <= 6);
        let half = resize(&a, 200, 150, FilterType::Triangle);
        assert!(distance(h, perceptual_hash(&half)) <= 6);
        for seed in 2..6 {
            let d = distance(h, perceptual_hash(&scene(seed)));
            assert!(d > SAME_PICTURE_MAX_DISTANCE, "seed {seed}: {d}");
        }
    }

    #[test]
    fn fingerprint_serialises_hex() {
        let f = Fingerprint::of(b"abc", &scene(1));
        let j = serde_json::to_value(f).unwrap();
        assert_eq!(j["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(serde_json::from_value::<Fingerprint>(j).unwrap(), f);
    }
}
