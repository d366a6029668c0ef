//! PDF417 / AAMVA reading on a 12-megapixel JPEG photo of a licence back.
//! `cargo bench -p kycd-checks --bench barcode`. The photos are synthetic
//! (crate::synth_barcode) rendered at 4000 × 3000 and encoded at quality 90: no file is
//! read or committed.

use criterion::{Criterion, criterion_group, criterion_main};
use kycd_checks::barcode::{read_aamva_capture, read_pdf417, read_pdf417_detailed};
use kycd_checks::{ImageLimits, decode};
use kycd_testkit::synth;
use kycd_testkit::synth_barcode::{jpeg, licence_back};
use std::hint::black_box;
use std::time::Duration;

mod photos;

fn photo(angle_deg: f32, seed: u32) -> Vec<u8> {
    licence_back(&photos::licence_back_12mp(angle_deg, seed))
        .map(|(_, _, img)| jpeg(&img, 90))
        .unwrap_or_default()
}

fn grey(bytes: &[u8]) -> image::GrayImage {
    decode::decode_full(bytes, ImageLimits::default())
        .map(|d| d.into_luma8())
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let limits = ImageLimits::default();
    let straight = photo(1.0, 11);
    let skewed = photo(6.0, 12);
    let steep = photo(-13.0, 13);
    // A document front: no barcode, so every attempt is made (the worst case).
    let front = synth::jpeg(&photos::document_12mp(4), 90);
    let (g_straight, g_skewed, g_steep, g_front) = (grey(&straight), grey(&skewed), grey(&steep), grey(&front));
    for (name, g) in [
        ("straight", &g_straight),
        ("skewed 6°", &g_skewed),
        ("skewed -13°", &g_steep),
        ("front", &g_front),
    ] {
        println!("{name}: {:?}", read_pdf417_detailed(g));
    }

    let mut g = c.benchmark_group("barcode_12mp_jpeg");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("decode_full_to_luma", |b| b.iter(|| grey(black_box(&straight))));
    g.bench_function("read_pdf417_straight_1deg", |b| b.iter(|| read_pdf417(black_box(&g_straight))));
    g.bench_function("read_pdf417_skewed_6deg", |b| b.iter(|| read_pdf417(black_box(&g_skewed))));
    g.bench_function("read_pdf417_skewed_minus_13deg", |b| b.iter(|| read_pdf417(black_box(&g_steep))));
    g.bench_function("read_pdf417_no_barcode", |b| b.iter(|| read_pdf417(black_box(&g_front))));
    g.bench_function("read_aamva_capture_straight", |b| {
        b.iter(|| read_aamva_capture(black_box(&straight), limits))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
