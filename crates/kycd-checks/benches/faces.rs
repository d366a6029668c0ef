//! Face detection, embedding and the whole face pass of a session:
//! `cargo bench -p kycd-checks --bench faces`. Needs the face models and test portraits
//! (`scripts/fetch-models --test-faces`) and the OCR-B font for the passport; without them
//! it says so and does nothing.

use criterion::{Criterion, criterion_group, criterion_main};
use image::{DynamicImage, RgbImage};
use kycd_checks::face::{FaceModels, models_present};
use kycd_checks::ocr::default_model_dir;
use kycd_checks::pipeline::{CaptureInput, Pipeline};
use kycd_checks::{ImageLimits, mrz_read::MrzReader};
use kycd_core::{CaptureKind, DocumentType, Policy};
use kycd_testkit::synth_doc::{Distortion, OcrB, sample_with_portrait};
use kycd_testkit::synth_face::{self, IDENTITIES, Variant};
use std::hint::black_box;

fn jpeg(img: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .unwrap_or_default();
    out
}

fn bench(c: &mut Criterion) {
    let dir = default_model_dir();
    let people: Result<Vec<RgbImage>, String> = IDENTITIES.iter().map(|n| synth_face::load(&dir.join("test-faces"), n)).collect();
    let (models, people, font) = match (models_present(&dir), people, OcrB::load_default()) {
        (true, Ok(p), Ok(f)) => match FaceModels::load(&dir) {
            Ok(m) => (m, p, f),
            Err(e) => return eprintln!("faces bench skipped: {e}"),
        },
        (false, _, _) => return eprintln!("faces bench skipped: no face models in {} (scripts/fetch-models)", dir.display()),
        (_, Err(e), _) => return eprintln!("faces bench skipped: {e}"),
        (_, _, Err(e)) => return eprintln!("faces bench skipped: {e}"),
    };
    let selfie = synth_face::apply(&people[0], Variant::Framed);
    let selfie = image::imageops::resize(&selfie, 1280, 1280, image::imageops::FilterType::Triangle);
    let Some(face) = models.detector.detect(&people[0]).ok().and_then(|f| f.first().copied()) else {
        return eprintln!("faces bench skipped: no face on the test portrait");
    };
    let photo = synth_face::portrait(&people[0], &face);
    let passport = sample_with_portrait(&font, Distortion::Clean, 3, &photo).image;
    // A 12-megapixel photo of the passport (4000×3000), as a phone sends it.
    let big = DynamicImage::ImageLuma8(image::imageops::resize(
        &passport,
        4000,
        3000,
        image::imageops::FilterType::Triangle,
    ))
    .into_rgb8();

    let mut g = c.benchmark_group("faces");
    g.sample_size(20);
    g.bench_function("detect_selfie_1280x1280", |b| b.iter(|| models.detector.detect(black_box(&selfie))));
    g.bench_function("detect_document_4000x3000", |b| b.iter(|| models.detector.detect(black_box(&big))));
    let sface = models.detector.detect(&selfie).unwrap_or_default();
    if let Some(f) = sface.first() {
        g.bench_function("embed_one_face", |b| b.iter(|| models.encoder.embed(black_box(&selfie), f)));
    }
    g.finish();

    // The whole pass of a passport + selfie session: decode, quality, MRZ, rules, faces.
    let mrz = MrzReader::load(&dir).map_err(|e| e.to_string());
    let pipeline = Pipeline::new(mrz, ImageLimits::default()).with_faces(FaceModels::load(&dir).map_err(|e| e.to_string()));
    let doc_jpeg = jpeg(&DynamicImage::ImageLuma8(passport));
    let selfie_jpeg = synth_face::selfie_jpeg(&people[0], Variant::Mirrored);
    let inputs = [
        CaptureInput {
            kind: CaptureKind::DocumentFront,
            file_id: "doc",
            bytes: &doc_jpeg,
        },
        CaptureInput {
            kind: CaptureKind::Selfie,
            file_id: "selfie",
            bytes: &selfie_jpeg,
        },
    ];
    let policy = Policy::default();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap_or_default();
    let out = pipeline.run(&inputs, &policy, None, Some(DocumentType::Passport), today);
    let m = out.checks.iter().find(|c| c.name == "face_match");
    eprintln!("session face_match: {:?}", m.map(|c| &c.figures));
    let mut g = c.benchmark_group("session");
    g.sample_size(10);
    g.bench_function("passport_and_selfie_whole_pass", |b| {
        b.iter(|| pipeline.run(black_box(&inputs), &policy, None, Some(DocumentType::Passport), today))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
