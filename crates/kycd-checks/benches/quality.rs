//! Quality feedback on a 12-megapixel JPEG (the target: ≤ 60 ms median on one
//! core). `cargo bench -p kycd-checks --bench quality`. The image is a synthetic document
//! photo (crate::synth) rendered at 4000 × 3000 and encoded at quality 90, so it
//! compresses like a camera image: no file is read or committed.

use criterion::{Criterion, criterion_group, criterion_main};
use kycd_checks::{ImageLimits, capture_feedback, decode, inspect, mrz, quality};
use kycd_core::CaptureKind;
use kycd_testkit::synth::jpeg;
use std::hint::black_box;

mod photos;

fn bench(c: &mut Criterion) {
    let scene = photos::document_12mp(6);
    // KYCD_BENCH_JPEG=path benchmarks a file of your own instead (e.g. the output of
    // `cargo run --release -p kycd-checks --example synth_image -- /tmp/12mp.jpg`).
    let bytes = match std::env::var_os("KYCD_BENCH_JPEG") {
        Some(p) => std::fs::read(p).unwrap_or_default(),
        None => jpeg(&scene, 90),
    };
    let limits = ImageLimits::default();
    let mut g = c.benchmark_group("quality_12mp_jpeg");
    g.sample_size(20);
    g.bench_function("decode_working_copy", |b| b.iter(|| decode::decode(black_box(&bytes), limits)));
    let full = image::GrayImage::from_fn(4000, 3000, |x, y| image::Luma([((x * 7 + y * 13) % 251) as u8]));
    g.bench_function("downscale_to_working_copy", |b| {
        b.iter(|| decode::downscale_to(black_box(&full), decode::WORK_LONG_SIDE))
    });
    g.bench_function("jpeg_is_complete", |b| b.iter(|| kycd_checks::jpeg_is_complete(black_box(&bytes))));
    let work = decode::decode(&bytes, limits).map(|d| d.work);
    if let Ok(work) = &work {
        g.bench_function("measure_working_copy", |b| b.iter(|| quality::measure(black_box(work))));
    }
    g.bench_function("inspect_and_feedback", |b| {
        b.iter(|| inspect(black_box(&bytes), limits).map(|info| capture_feedback(CaptureKind::DocumentFront, &info)))
    });
    g.bench_function("image_crate_full_rgb_decode", |b| {
        b.iter(|| image::load_from_memory(black_box(&bytes)))
    });
    g.finish();

    let lines = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO74O8I22F1204159ZE184226B<<<<<10",
    ];
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default();
    c.bench_function("mrz_parse_with_repair", |b| b.iter(|| mrz::parse_lines(black_box(&lines), today)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
