//! Quality figures and feedback codes on synthetic scenes (kycd-testkit), through the
//! public API of `quality`.
#![allow(clippy::unwrap_used)]

use image::GrayImage;
use kycd_checks::quality::*;
use kycd_checks::{ImageLimits, capture_feedback, inspect};
use kycd_core::CaptureKind;
use kycd_testkit::synth::{Background, Scene, jpeg, render};

fn codes(kind: CaptureKind, s: &Scene) -> (Vec<FeedbackCode>, ImageMeasures) {
    let img = render(s);
    let m = measure(&img);
    // The scenes are working copies of a 12 MP photo.
    let r = assess(kind, 4000, 3000, Some(&m));
    (r.codes, m)
}

#[test]
fn good_captures_have_no_codes() {
    let base = Scene::default();
    for (name, s) in [
        ("default", base),
        (
            "light table",
            Scene {
                background: Background::Flat(190),
                ..base
            },
        ),
        (
            "textured table",
            Scene {
                background: Background::Textured,
                ..base
            },
        ),
        ("tilted 15°", Scene { angle_deg: 15.0, ..base }),
        ("close", Scene { card_width: 0.9, ..base }),
        ("far", Scene { card_width: 0.4, ..base }),
        ("dim", Scene { gain: 0.6, ..base }),
    ] {
        let (c, m) = codes(CaptureKind::DocumentFront, &s);
        assert!(c.is_empty(), "{name}: {c:?} {m:#?}");
        assert!(m.document.real_sides == 4 && m.document.side_support > 0.8, "{name}: {m:#?}");
    }
}

#[test]
fn each_defect_raises_its_code() {
    use FeedbackCode as C;
    let base = Scene::default();
    let cases: Vec<(&str, Scene, C)> = vec![
        ("blur", Scene { blur: 3, ..base }, C::Blurry),
        (
            "glare",
            Scene {
                glare: Some(((0.6, 0.4), 0.08)),
                ..base
            },
            C::Glare,
        ),
        ("dark", Scene { gain: 0.3, ..base }, C::TooDark),
        (
            "bright",
            Scene {
                gain: 0.6,
                offset: 150.0,
                ..base
            },
            C::TooBright,
        ),
        (
            "nothing",
            Scene {
                card: false,
                background: Background::Textured,
                ..base
            },
            C::DocumentNotFound,
        ),
        (
            "cropped right",
            Scene {
                centre: (0.75, 0.5),
                ..base
            },
            C::DocumentCropped,
        ),
        ("too close", Scene { card_width: 1.1, ..base }, C::DocumentCropped),
    ];
    for (name, scene, want) in cases {
        let (c, m) = codes(CaptureKind::DocumentFront, &scene);
        assert!(c.contains(&want), "{name}: got {c:?}\n{m:#?}");
        // One defect at a time: nothing else is raised (an overexposed page is
        // saturated all over, which is glare too).
        let extra: Vec<_> = c
            .iter()
            .filter(|x| **x != want && !(want == C::TooBright && **x == C::Glare))
            .collect();
        assert!(extra.is_empty(), "{name}: got {c:?}\n{m:#?}");
    }
    // A card filling the frame with blank margins has no outline to find: it is
    // refused either way (not found or cropped), and the advice covers both.
    let (c, _) = codes(
        CaptureKind::DocumentFront,
        &Scene {
            background: Background::None,
            ..base
        },
    );
    assert!(c.contains(&C::DocumentNotFound) || c.contains(&C::DocumentCropped), "{c:?}");
}

#[test]
fn selfie_is_marked_face_not_checked_but_accepted() {
    let r = assess(CaptureKind::Selfie, 1280, 720, Some(&measure(&render(&Scene::default()))));
    assert!(r.codes.contains(&FeedbackCode::FaceNotChecked));
    assert!(r.accepted(), "{r:?}");
    assert!(r.metric("document_side_support").is_none());
}

#[test]
fn header_only_assessment_judges_resolution() {
    let r = assess(CaptureKind::DocumentFront, 320, 240, None);
    assert_eq!(r.codes, vec![FeedbackCode::LowResolution]);
    let m = r.metric("short_side_px").unwrap();
    assert_eq!((m.value, m.threshold, m.passed), (240.0, 600.0, false));
    assert!(!r.accepted());
    assert!(r.message().contains("too small"));
}

#[test]
fn laplacian_variance_drops_with_blur() {
    let sharp = render(&Scene::default());
    let blurred = render(&Scene {
        blur: 2,
        ..Scene::default()
    });
    let (w, h) = sharp.dimensions();
    assert!(laplacian_variance(&sharp, 0, 0, w, h) > 4.0 * laplacian_variance(&blurred, 0, 0, w, h));
    let flat = GrayImage::from_pixel(50, 50, image::Luma([100]));
    assert_eq!(laplacian_variance(&flat, 0, 0, 50, 50), 0.0);
    assert_eq!(laplacian_variance(&flat, 10, 10, 10, 10), 0.0);
}

#[test]
fn measuring_degenerate_images_does_not_panic() {
    for (w, h) in [(1, 1), (2, 300), (300, 2), (17, 17), (16, 1024)] {
        let img = GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 13 + y * 7) % 256) as u8]));
        let m = measure(&img);
        let _ = assess(CaptureKind::DocumentFront, w, h, Some(&m));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn measure_never_panics(w in 1u32..80, h in 1u32..80, seed in 0u32..1000) {
        let img = GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 31 + y * 17 + seed) % 251) as u8]));
        let m = measure(&img);
        let r = assess(CaptureKind::DocumentBack, w, h, Some(&m));
        proptest::prop_assert!(r.metrics.iter().all(|m| m.value.is_finite()));
    }
}

#[test]
fn feedback_for_synthetic_captures_end_to_end() {
    let good = Scene {
        width: 2000,
        height: 1500,
        ..Scene::default()
    };
    let info = inspect(&jpeg(&good, 90), ImageLimits::default()).unwrap();
    let fb = capture_feedback(CaptureKind::DocumentFront, &info);
    assert!(fb.accepted, "{fb:?}");
    assert_eq!(fb.message, "Looks good.");
    let blurred = Scene { blur: 8, ..good };
    let fb = capture_feedback(
        CaptureKind::DocumentFront,
        &inspect(&jpeg(&blurred, 90), ImageLimits::default()).unwrap(),
    );
    assert!(!fb.accepted);
    assert!(fb.issues.contains(&"blurry".to_owned()), "{fb:?}");
    assert!(fb.message.contains("blurry"));
    let selfie = capture_feedback(CaptureKind::Selfie, &info);
    assert!(selfie.accepted);
    assert_eq!(selfie.issues, vec!["face_not_checked"]);
}
