//! HEIC upload conversion on a 12-megapixel photo: `cargo bench -p kycd-checks --bench heic`.
//! The HEIC file is encoded here (libheif + x265) from a synthetic document scene
//! (crate::synth), so no file is read or committed.

use criterion::{Criterion, criterion_group, criterion_main};
use kycd_checks::{ImageLimits, heic, inspect};
use kycd_testkit::synth::render;
use std::hint::black_box;

mod photos;

fn bench(c: &mut Criterion) {
    let scene = photos::document_12mp(6);
    let rgb = image::DynamicImage::ImageLuma8(render(&scene)).into_rgb8();
    let bytes = match heic::encode_heic(&rgb, 80) {
        Ok(b) => b,
        Err(e) => return eprintln!("heic bench skipped: libheif cannot encode here ({e})"),
    };
    eprintln!("12 MP HEIC: {} bytes", bytes.len());
    let limits = ImageLimits::default();
    let mut g = c.benchmark_group("heic_12mp");
    g.sample_size(10);
    g.bench_function("convert_to_jpeg", |b| b.iter(|| heic::to_jpeg(black_box(&bytes), limits)));
    g.bench_function("convert_and_inspect", |b| {
        b.iter(|| heic::normalise(black_box(bytes.clone()), limits).map(|j| inspect(&j, limits)))
    });
    // The JPEG encode inside the conversion, alone (the rest is libheif's decode).
    g.bench_function("jpeg_encode_q92_only", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, heic::JPEG_QUALITY)
                .encode_image(black_box(&rgb))
                .map(|()| out)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
