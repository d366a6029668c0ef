//! MRZ reading (PP-OCR detection, kycd's grid reader): `cargo bench -p kycd-checks --bench mrz_ocr`.
//! Needs the models (`scripts/fetch-models`, or `KYCD_MODEL_DIR`) and the OCR-B font
//! (`fonts-ocr-b`) to make the synthetic photos; without them it says so and does nothing.

use criterion::{Criterion, criterion_group, criterion_main};
use kycd_checks::mrz_read::MrzReader;
use kycd_checks::ocr::{MODEL_DIR_ENV, models_present};
use kycd_testkit::synth_barcode::licence_back;
use kycd_testkit::synth_doc::{Camera, Distortion, DocFormat, OcrB, photograph, random_identity, render_document};
use std::hint::black_box;
use std::path::PathBuf;

mod photos;

fn bench(c: &mut Criterion) {
    let dir = std::env::var_os(MODEL_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    if !models_present(&dir) {
        eprintln!("mrz_ocr bench skipped: no models in {} (run scripts/fetch-models)", dir.display());
        return;
    }
    let (reader, font) = match (MrzReader::load(&dir), OcrB::load_default()) {
        (Ok(r), Ok(f)) => (r, f),
        (Err(e), _) => return eprintln!("mrz_ocr bench skipped: {e}"),
        (_, Err(e)) => return eprintln!("mrz_ocr bench skipped: {e}"),
    };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap_or_default();
    let photo = |format: DocFormat, width: u32, height: u32| {
        let doc = random_identity(format, 7);
        let mut cam = Camera::for_distortion(Distortion::Clean, 7);
        cam.width = width;
        cam.height = height;
        let px_per_mm = cam.doc_width * width as f32 * 1.2 / format.size_mm().0;
        photograph(&render_document(&font, &doc, px_per_mm, 7), &cam)
    };
    let cases = [
        ("passport_td3_1600x1200", photo(DocFormat::Passport, 1600, 1200)),
        ("id_card_td1_1600x1200", photo(DocFormat::IdCard, 1600, 1200)),
        ("passport_td3_4000x3000", photo(DocFormat::Passport, 4000, 3000)),
    ];
    let mut g = c.benchmark_group("mrz_ocr");
    g.sample_size(10);
    for (name, img) in &cases {
        let ok = reader.read(img, today).ok().flatten().is_some_and(|r| r.valid);
        eprintln!("{name}: read valid = {ok}");
        g.bench_function(format!("read_{name}"), |b| b.iter(|| reader.read(black_box(img), today)));
    }
    let img = &cases[0].1;
    g.bench_function("find_zone_passport_1600x1200", |b| b.iter(|| reader.find_zones(black_box(img))));
    g.bench_function("detect_whole_photo_736_passport_1600x1200", |b| {
        b.iter(|| reader.ocr().detect(black_box(img)))
    });
    // A photo with no zone at all: what a licence back pays for the MRZ step.
    let scene = photos::licence_back_12mp(1.0, 11);
    let Ok((_, _, blank)) = licence_back(&scene) else {
        return eprintln!("mrz_ocr bench: the licence back could not be made");
    };
    g.bench_function("no_zone_licence_back", |b| b.iter(|| reader.read(black_box(&blank), today)));
    g.finish();
    c.bench_function("mrz_ocr_load_models", |b| b.iter(|| MrzReader::load(black_box(&dir))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
