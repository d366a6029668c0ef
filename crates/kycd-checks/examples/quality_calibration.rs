//! The figures behind the quality thresholds, on synthetic scenes (`synth`): one row per
//! scene with every measure and the codes raised.
//! `cargo run -p kycd-checks --example quality_calibration`.

use kycd_checks::quality::{assess, measure};
use kycd_core::CaptureKind;
use kycd_testkit::synth::{Background, Scene, render};

/// `base` once per value, changed by `set` and named by `name`.
fn sweep<T: Copy>(base: Scene, values: &[T], name: impl Fn(T) -> String, set: impl Fn(&mut Scene, T)) -> Vec<(String, Scene)> {
    values
        .iter()
        .map(|&v| {
            let mut s = base;
            set(&mut s, v);
            (name(v), s)
        })
        .collect()
}

fn main() {
    let base = Scene::default();
    let mut scenes: Vec<(String, Scene)> = vec![("good".into(), base)];
    scenes.extend(sweep(base, &[1, 2, 3, 5], |b| format!("blur {b}"), |s, b| s.blur = b));
    scenes.extend(sweep(
        base,
        &[0.02, 0.04, 0.08],
        |r| format!("glare r={r}"),
        |s, r| s.glare = Some(((0.6, 0.4), r)),
    ));
    scenes.extend(sweep(base, &[0.2, 0.3, 0.45, 0.6], |g| format!("gain {g}"), |s, g| s.gain = g));
    scenes.extend(sweep(
        base,
        &[60.0, 110.0, 150.0],
        |o| format!("bright +{o}"),
        |s, o| (s.gain, s.offset) = (0.6, o),
    ));
    let shifts = [(0.7, 0.5), (0.75, 0.5), (0.5, 0.25), (0.3, 0.7)];
    scenes.extend(sweep(base, &shifts, |(cx, cy)| format!("shifted {cx},{cy}"), |s, c| s.centre = c));
    scenes.extend(sweep(
        base,
        &[0.0, 10.0, 15.0, -12.0],
        |a| format!("angle {a}"),
        |s, a| s.angle_deg = a,
    ));
    scenes.extend(sweep(
        base,
        &[0.35, 0.5, 0.9, 1.1],
        |cw| format!("card width {cw}"),
        |s, cw| s.card_width = cw,
    ));
    // What lies around the card: (name, whether there is a card, the background).
    let surroundings = [
        ("textured bg", true, Background::Textured),
        ("light bg", true, Background::Flat(190)),
        ("no card", false, base.background),
        ("no card, textured", false, Background::Textured),
        ("overflowing", true, Background::None),
    ];
    scenes.extend(sweep(
        base,
        &surroundings,
        |(name, ..)| name.into(),
        |s, (_, card, background)| {
            (s.card, s.background) = (card, background);
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
