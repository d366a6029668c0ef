//! Face detection and matching, measured on openly licensed portraits (NASA's photo of
//! Eileen Collins from scikit-image, the US Navy's of Grace Hopper from matplotlib: both
//! public domain, fetched by `scripts/fetch-models --test-faces`, never committed) under
//! the changes of [`synth_face::VARIANTS`]. Genuine pairs: two variants of one person;
//! impostor pairs: variants of two people. Floors sit a little below what was measured
//! (docs/BENCHMARKS.md): falling below one is a regression.
//!
//! Needs the face models and portraits. Without them the tests print why and pass, except
//! under CI (`CI` set), where they fail the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use image::RgbImage;
use kycd_checks::face::{Embedding, Face, FaceModels};
use kycd_checks::ocr::MODEL_DIR_ENV;
use kycd_testkit::synth_face::{self, IDENTITIES, VARIANTS, Variant};
use std::sync::OnceLock;

struct Kit {
    models: FaceModels,
    /// Each identity's portrait.
    people: Vec<RgbImage>,
}

fn kit() -> Option<&'static Kit> {
    static KIT: OnceLock<Option<Kit>> = OnceLock::new();
    KIT.get_or_init(|| {
        let (dir, people) = crate::portraits_or_skip(&format!("run scripts/fetch-models (or set {MODEL_DIR_ENV})"))?;
        Some(Kit {
            models: FaceModels::load(&dir).unwrap_or_else(|e| panic!("{e}")),
            people,
        })
    })
    .as_ref()
}

fn faces(kit: &Kit, img: &RgbImage) -> Vec<Face> {
    kit.models.detector.detect(img).unwrap()
}

fn embed(kit: &Kit, img: &RgbImage) -> Option<Embedding> {
    faces(kit, img).first().map(|f| kit.models.encoder.embed(img, f))
}

#[test]
fn one_face_is_found_on_every_variant_of_every_portrait() {
    let Some(kit) = kit() else { return };
    let mut missed = Vec::new();
    for (who, src) in IDENTITIES.iter().zip(&kit.people) {
        for v in VARIANTS {
            let found = faces(kit, &synth_face::apply(src, v));
            if found.len() != 1 {
                missed.push(format!("{who} {v:?}: {} faces", found.len()));
            }
        }
    }
    assert!(missed.is_empty(), "expected exactly one face: {missed:?}");
}

#[test]
fn no_face_is_found_on_a_document_background_or_noise() {
    let Some(kit) = kit() else { return };
    let scene = kycd_testkit::synth::Scene {
        width: 1200,
        height: 800,
        seed: 7,
        ..Default::default()
    };
    let card = image::DynamicImage::ImageLuma8(kycd_testkit::synth::render(&scene)).into_rgb8();
    assert!(faces(kit, &card).is_empty(), "a card without a portrait has no face");
    let noise = RgbImage::from_fn(640, 640, |x, y| {
        let h = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(2_246_822_519);
        image::Rgb([(h >> 24) as u8, (h >> 16) as u8, (h >> 8) as u8])
    });
    assert!(faces(kit, &noise).is_empty(), "noise has no face");
}

#[test]
fn two_people_side_by_side_are_two_faces() {
    let Some(kit) = kit() else { return };
    let (a, b) = (&kit.people[0], &kit.people[1]);
    let h = a.height().max(b.height());
    let mut both = RgbImage::from_pixel(a.width() + b.width(), h, image::Rgb([128, 128, 128]));
    image::imageops::overlay(&mut both, a, 0, 0);
    image::imageops::overlay(&mut both, b, i64::from(a.width()), 0);
    assert_eq!(faces(kit, &both).len(), 2);
}

#[test]
fn same_person_pairs_match_and_different_people_do_not() {
    let Some(kit) = kit() else { return };
    let policy = kycd_core::Policy::default();
    let mut per_person: Vec<Vec<(Variant, Embedding)>> = Vec::new();
    for src in &kit.people {
        let mut v = Vec::new();
        for variant in VARIANTS {
            let e = embed(kit, &synth_face::apply(src, variant)).expect("a face on every variant");
            v.push((variant, e));
        }
        per_person.push(v);
    }
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (p, list) in per_person.iter().enumerate() {
        for (i, (_, a)) in list.iter().enumerate() {
            for (_, b) in &list[i + 1..] {
                genuine.push(a.similarity(b));
            }
            for other in &per_person[p + 1..] {
                for (_, b) in other {
                    impostor.push(a.similarity(b));
                }
            }
        }
    }
    let (eer, at) = synth_face::equal_error_rate(&genuine, &impostor);
    let min_genuine = genuine.iter().copied().fold(f64::INFINITY, f64::min);
    let max_impostor = impostor.iter().copied().fold(0.0, f64::max);
    let matched = genuine.iter().filter(|&&s| s >= policy.face_match_threshold).count() as f64 / genuine.len() as f64;
    let false_matches = impostor.iter().filter(|&&s| s >= policy.face_match_threshold).count();
    eprintln!(
        "faces: {} genuine pairs (min similarity {min_genuine:.3}, {:.1} % at or above the match threshold), {} impostor pairs (max {max_impostor:.3}, {false_matches} false matches); EER {:.2} % at {at:.3}",
        genuine.len(),
        matched * 100.0,
        impostor.len(),
        eer * 100.0
    );
    assert_eq!(false_matches, 0, "a different person must never reach the match threshold");
    assert!(eer <= 0.02, "equal-error rate {eer:.3} above the 2 % floor");
    assert!(matched >= 0.95, "only {:.1} % of same-person pairs matched", matched * 100.0);
}
