//! Quality-code precision and recall on a labelled synthetic corpus: seeded card scenes
//! (`synth::Scene`) in seven classes — clean, blurred, glare spot, too dark, too bright,
//! cut off by the frame, no document — each with randomised framing (position, size,
//! angle, background, noise) around its defect. A scene's label is the code its defect
//! must raise; a clean scene should raise none. Some defects rightly raise a second code
//! ([`COMPANIONS`]: an over-exposed card is saturated, so `glare`; a frame with no card
//! has no sharp, bright region, so `blurry` and `too_dark`); those are not counted as false
//! positives. Floors sit a little below what was measured (docs/BENCHMARKS.md): a drop
//! below one is a regression in a measure or a threshold.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kycd_checks::FeedbackCode as C;
use kycd_checks::quality::{assess, measure};
use kycd_core::CaptureKind;
use kycd_testkit::synth::{Background, Scene, render};
use std::collections::HashMap;

/// Scenes per class.
const N: u32 = 12;

/// (defect, code it also raises rightly).
const COMPANIONS: [(C, C); 3] = [
    (C::TooBright, C::Glare),
    (C::DocumentNotFound, C::Blurry),
    (C::DocumentNotFound, C::TooDark),
];

/// A small deterministic generator (the corpus must not change between runs).
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

/// One scene of `class` (its expected code, `None` for clean), framed at random.
fn scene(class: Option<C>, i: u32) -> Scene {
    let mut r = Rng(0x9E37_79B9 ^ (u64::from(i) << 20) ^ class.map_or(1, |c| c as u64 + 2));
    let mut s = Scene {
        centre: (r.range(0.42, 0.58), r.range(0.42, 0.58)),
        card_width: r.range(0.55, 0.8),
        angle_deg: r.range(-12.0, 12.0),
        background: if r.unit() < 0.25 {
            Background::Textured
        } else {
            Background::Flat(r.range(40.0, 95.0) as u8)
        },
        noise: r.range(0.0, 6.0) as u8,
        seed: i,
        ..Scene::default()
    };
    match class {
        None => {}
        Some(C::Blurry) => s.blur = r.range(5.0, 10.0) as u32,
        Some(C::Glare) => s.glare = Some(((r.range(0.35, 0.65), r.range(0.35, 0.65)), r.range(0.05, 0.09))),
        Some(C::TooDark) => s.gain = r.range(0.12, 0.22),
        Some(C::TooBright) => {
            s.gain = 0.6;
            s.offset = r.range(125.0, 160.0);
        }
        Some(C::DocumentCropped) => {
            s.card_width = r.range(0.6, 0.75);
            s.centre = if i.is_multiple_of(2) {
                (r.range(0.78, 0.85), 0.5)
            } else {
                (0.5, r.range(0.15, 0.2))
            };
        }
        Some(C::DocumentNotFound) => s.card = false,
        Some(other) => panic!("no scene for {other:?}"),
    }
    s
}

#[test]
fn quality_codes_have_precision_and_recall_floors() {
    let classes = [
        None,
        Some(C::Blurry),
        Some(C::Glare),
        Some(C::TooDark),
        Some(C::TooBright),
        Some(C::DocumentCropped),
        Some(C::DocumentNotFound),
    ];
    // Per code: true positives, false positives, false negatives.
    let mut tally: HashMap<C, (u32, u32, u32)> = HashMap::new();
    let mut clean_ok = 0;
    for class in classes {
        for i in 0..N {
            let m = measure(&render(&scene(class, i)));
            // The scenes stand for working copies of a 12 MP photo.
            let codes = assess(CaptureKind::DocumentFront, 4000, 3000, Some(&m)).codes;
            if std::env::var_os("QUALITY_CORPUS_VERBOSE").is_some() {
                eprintln!("{class:?} #{i}: {codes:?}");
            }
            if class.is_none() && codes.is_empty() {
                clean_ok += 1;
            }
            for code in classes.iter().flatten() {
                let raised = codes.contains(code);
                let e = tally.entry(*code).or_default();
                let companion = class.is_some_and(|c| COMPANIONS.contains(&(c, *code)));
                match (Some(*code) == class, raised) {
                    (true, true) => e.0 += 1,
                    (false, true) if companion => {}
                    (false, true) => e.1 += 1,
                    (true, false) => e.2 += 1,
                    (false, false) => {}
                }
            }
        }
    }
    // Floors per code: (precision, recall), a little below the measured values.
    // Measured 2026-12-03: blurry 0.89/0.67 (sensor noise added after the blur hides it
    // from the Laplacian), glare 1/1, too_dark 1/1, too_bright 1/0.92, document_cropped
    // 0.79/0.92, document_not_found 0.67/1 (textured backgrounds and clean cards missed),
    // clean 0.83.
    let floors: [(C, f64, f64); 6] = [
        (C::Blurry, 0.8, 0.6),
        (C::Glare, 0.9, 0.9),
        (C::TooDark, 0.9, 0.9),
        (C::TooBright, 0.9, 0.85),
        (C::DocumentCropped, 0.7, 0.85),
        (C::DocumentNotFound, 0.6, 0.9),
    ];
    let mut report = Vec::new();
    let mut below = Vec::new();
    for (code, min_p, min_r) in floors {
        let (tp, fp, fn_) = tally[&code];
        let p = f64::from(tp) / f64::from((tp + fp).max(1));
        let r = f64::from(tp) / f64::from((tp + fn_).max(1));
        report.push(format!("{code}: precision {p:.2} recall {r:.2} (tp {tp}, fp {fp}, fn {fn_})"));
        if p < min_p || r < min_r {
            below.push(format!("{code}: precision {p:.2} (floor {min_p}), recall {r:.2} (floor {min_r})"));
        }
    }
    let clean = f64::from(clean_ok) / f64::from(N);
    eprintln!(
        "quality corpus, {N} scenes per class:\n  {}\n  clean scenes with no code: {clean:.2}",
        report.join("\n  ")
    );
    assert!(clean >= 0.75, "only {clean:.2} of clean scenes raised no code");
    assert!(below.is_empty(), "below the floors: {below:?}\n{}", report.join("\n"));
}
