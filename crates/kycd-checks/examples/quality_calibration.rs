//! The figures behind the quality thresholds, on synthetic scenes (`synth`): one row per
//! scene with every measure and the codes raised.
//! `cargo run -p kycd-checks --example quality_calibration`.

use kycd_checks::quality::{assess, measure};
use kycd_core::CaptureKind;
use kycd_testkit::synth::{Background, Scene, render};

fn main() {
    let base = Scene::default();
    let mut scenes: Vec<(String, Scene)> = vec![("good".into(), base)];
    for b in [1, 2, 3, 5] {
        scenes.push((format!("blur {b}"), Scene { blur: b, ..base }));
    }
    for r in [0.02, 0.04, 0.08] {
        scenes.push((
            format!("glare r={r}"),
            Scene {
                glare: Some(((0.6, 0.4), r)),
                ..base
            },
        ));
    }
    for g in [0.2, 0.3, 0.45, 0.6] {
        scenes.push((format!("gain {g}"), Scene { gain: g, ..base }));
    }
    for o in [60.0, 110.0, 150.0] {
        scenes.push((
            format!("bright +{o}"),
            Scene {
                gain: 0.6,
                offset: o,
                ..base
            },
        ));
    }
    for (cx, cy) in [(0.7, 0.5), (0.75, 0.5), (0.5, 0.25), (0.3, 0.7)] {
        scenes.push((format!("shifted {cx},{cy}"), Scene { centre: (cx, cy), ..base }));
    }
    for a in [0.0, 10.0, 15.0, -12.0] {
        scenes.push((format!("angle {a}"), Scene { angle_deg: a, ..base }));
    }
    for cw in [0.35, 0.5, 0.9, 1.1] {
        scenes.push((format!("card width {cw}"), Scene { card_width: cw, ..base }));
    }
    scenes.push((
        "textured bg".into(),
        Scene {
            background: Background::Textured,
            ..base
        },
    ));
    scenes.push((
        "light bg".into(),
        Scene {
            background: Background::Flat(190),
            ..base
        },
    ));
    scenes.push(("no card".into(), Scene { card: false, ..base }));
    scenes.push((
        "no card, textured".into(),
        Scene {
            card: false,
            background: Background::Textured,
            ..base
        },
    ));
    scenes.push((
        "overflowing".into(),
        Scene {
            background: Background::None,
            ..base
        },
    ));
    println!(
        "{:<22} {:>8} {:>7} {:>6} {:>5} {:>5} {:>5} {:>5} {:>6} {:>7} {:>6}  codes",
        "scene", "lapvar", "glare", "mean", "p05", "p95", "supp", "sides", "area", "margin", "border"
    );
    for (name, s) in scenes {
        let m = measure(&render(&s));
        // The scenes stand for working copies of a 12 MP photo.
        let c = assess(CaptureKind::DocumentFront, 4000, 3000, Some(&m)).codes;
        let r = m.document_region.unwrap_or(m.frame);
        let d = m.document;
        let cs: Vec<&str> = c.iter().map(|c| c.as_str()).collect();
        println!(
            "{name:<22} {:>8.0} {:>7.4} {:>6.1} {:>5.0} {:>5.0} {:>5.2} {:>5} {:>6.2} {:>7.3} {:>6.3}  {}",
            r.laplacian_variance,
            r.glare_fraction,
            r.luma_mean,
            r.luma_p05,
            r.luma_p95,
            d.side_support,
            d.real_sides,
            d.area_fraction,
            d.corner_margin,
            d.border_edge_density,
            cs.join(",")
        );
    }
}
