//! The liveness check on rendered sets: pass/fail rates, the figures the thresholds were
//! fitted on, and the time a 12-frame burst takes (docs/BENCHMARKS.md).
//!
//!   cargo run -p kycd-checks --example liveness_sets -- [SEEDS] [--write DIR]
//!
//! Sets, for each test portrait (`scripts/fetch-models --test-faces`), each of 4
//! challenges and SEEDS seeds (default 3):
//!   genuine-15, genuine-20, genuine-25: a rendered head following the challenge, turning
//!     15°, 20°, 25° (should pass; 15° is the least the capture page asks for);
//!   flat-20, flat-35, flat-50: the head's frontal frame as a flat picture waved through
//!     the challenge, tilted up to 20°, 35°, 50°, shifted and scaled (should fail);
//!   still: the picture held still (should fail);
//!   order: the head doing the steps in the reverse order (should fail);
//!   swap: the other person from frame 6 on (should fail).
//! Every frame goes through JPEG (quality 85) as the browser sends it. With `--write DIR`
//! the first burst of each set is written there as JPEG files (for `kycd check`).
//! `--identity`: dlib distances between rendered views of one person and of two, by pose
//! (what `MAX_IDENTITY_DISTANCE` was checked against); `--look DIR`: a few views of each
//! head as JPEG files, to look at; `--time`: SEEDS bursts of 12 frames timed stage by
//! stage (JPEG decode, BlazeFace, landmarks, dlib embedding, the verdict).

use image::RgbImage;
use kycd_checks::liveness::geometry::P2;
use kycd_checks::liveness::{LivenessModels, LivenessResult, Step};
use kycd_checks::ocr;
use kycd_testkit::synth_face;
use kycd_testkit::synth_liveness::{Head, Pose, as_jpeg, follow, render_picture, wave};
use std::time::Instant;

const CHALLENGES: [[Step; 2]; 4] = [
    [Step::Left, Step::Up],
    [Step::Right, Step::Down],
    [Step::Up, Step::Right],
    [Step::Down, Step::Left],
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(3);
    let write = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let dir = ocr::default_model_dir();
    let models = LivenessModels::load(&dir).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let portraits: Vec<RgbImage> = synth_face::IDENTITIES
        .iter()
        .map(|n| synth_face::load(&dir.join("test-faces"), n))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
    let heads: Vec<Head> = portraits
        .iter()
        .map(|p| {
            let face = models
                .faces
                .detector
                .detect(p)
                .ok()
                .and_then(|f| f.first().copied())
                .unwrap_or_else(|| {
                    eprintln!("no face on a test portrait");
                    std::process::exit(2)
                });
            let lm = models.landmarks.landmarks(p, &face).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2)
            });
            let pts: Vec<P2> = lm.points.iter().map(|q| [q[0], q[1]]).collect();
            Head::new(p, &pts).unwrap_or_else(|| std::process::exit(2))
        })
        .collect();
    if let Some(out) = args.iter().position(|a| a == "--look").and_then(|i| args.get(i + 1)) {
        // A few views of each head, to look at.
        for (who, head) in heads.iter().enumerate() {
            for (k, (yaw, pitch)) in [(-25.0, 0.0), (0.0, 0.0), (25.0, 0.0), (0.0, 20.0), (0.0, -20.0)]
                .into_iter()
                .enumerate()
            {
                let img = head.render(&Pose {
                    yaw,
                    pitch,
                    ..Pose::default()
                });
                let _ = std::fs::write(format!("{out}/head{who}-{k}.jpg"), as_jpeg(&img));
            }
        }
        return;
    }
    if args.iter().any(|a| a == "--time") {
        time_stages(&models, &heads[0], seeds);
        return;
    }
    if args.iter().any(|a| a == "--identity") {
        identity_by_pose(&models, &heads, &portraits);
        return;
    }
    let sets = [
        "genuine-15",
        "genuine-20",
        "genuine-25",
        "flat-20",
        "flat-35",
        "flat-50",
        "still",
        "order",
        "swap",
    ];
    let mut times = Vec::new();
    println!("set          bursts  passed  failed  inconcl  reasons / figures");
    for set in sets {
        let (mut passed, mut failed, mut inconclusive, mut n) = (0, 0, 0, 0);
        let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
        let mut step_parallax: Vec<f64> = Vec::new();
        let mut step_degrees: Vec<f64> = Vec::new();
        let mut max_parallax: Vec<f64> = Vec::new();
        let mut max_distortion: Vec<f64> = Vec::new();
        let mut identity: Vec<f64> = Vec::new();
        for (who, head) in heads.iter().enumerate() {
            for challenge in CHALLENGES {
                for seed in 0..seeds {
                    let seed = seed * 101 + who as u32 * 7 + 1;
                    let frames: Vec<RgbImage> = match set {
                        "genuine-15" => follow(&challenge, 12, 15.0, seed).iter().map(|p| head.render(p)).collect(),
                        "genuine-20" => follow(&challenge, 12, 20.0, seed).iter().map(|p| head.render(p)).collect(),
                        "genuine-25" => follow(&challenge, 12, 25.0, seed).iter().map(|p| head.render(p)).collect(),
                        "flat-20" | "flat-35" | "flat-50" | "still" => {
                            let front = head.render(&Pose::default());
                            let deg = match set {
                                "flat-20" => 20.0,
                                "flat-35" => 35.0,
                                "flat-50" => 50.0,
                                _ => 0.0,
                            };
                            let poses = if set == "still" {
                                follow(&challenge, 12, 0.0, seed)
                            } else {
                                wave(&challenge, 12, deg, seed)
                            };
                            poses.iter().map(|p| render_picture(&front, p)).collect()
                        }
                        "order" => follow(&[challenge[1], challenge[0]], 12, 20.0, seed)
                            .iter()
                            .map(|p| head.render(p))
                            .collect(),
                        _ => {
                            let other = &heads[(who + 1) % heads.len()];
                            follow(&challenge, 12, 20.0, seed)
                                .iter()
                                .enumerate()
                                .map(|(i, p)| if i >= 6 { other.render(p) } else { head.render(p) })
                                .collect()
                        }
                    };
                    let jpegs: Vec<Vec<u8>> = frames.iter().map(as_jpeg).collect();
                    if let Some(out) = &write
                        && n == 0
                    {
                        let d = out.join(set);
                        let _ = std::fs::create_dir_all(&d);
                        for (i, j) in jpegs.iter().enumerate() {
                            let _ = std::fs::write(d.join(format!("{i:02}.jpg")), j);
                        }
                        let _ = std::fs::write(d.join("challenge"), format!("{},{}\n", challenge[0], challenge[1]));
                    }
                    // Timed: decoding the JPEGs and the whole check, as the server does it.
                    let t = Instant::now();
                    let decoded: Vec<RgbImage> = jpegs
                        .iter()
                        .map(|j| image::load_from_memory(j).map(|i| i.into_rgb8()).unwrap_or_default())
                        .collect();
                    let r: LivenessResult = models.check(&challenge, &decoded, &[]).unwrap_or_else(|e| {
                        eprintln!("{e}");
                        std::process::exit(2)
                    });
                    times.push(t.elapsed().as_secs_f64());
                    n += 1;
                    match r.passed {
                        Some(true) => passed += 1,
                        Some(false) => failed += 1,
                        None => inconclusive += 1,
                    }
                    for w in &r.reasons {
                        *reasons.entry(w).or_default() += 1;
                    }
                    for s in r.figures["steps"].as_array().into_iter().flatten() {
                        if let Some(p) = s["parallax"].as_f64() {
                            step_parallax.push(p);
                        }
                        if let Some(d) = s["degrees"].as_f64() {
                            step_degrees.push(d);
                        }
                    }
                    max_parallax.push(r.figures["max_parallax"].as_f64().unwrap_or(f64::NAN));
                    max_distortion.push(r.figures["max_distortion"].as_f64().unwrap_or(f64::NAN));
                    identity.push(r.figures["max_identity_distance"].as_f64().unwrap_or(f64::NAN));
                }
            }
        }
        let range = |v: &[f64]| {
            let lo = v.iter().copied().filter(|x| x.is_finite()).fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().filter(|x| x.is_finite()).fold(f64::NEG_INFINITY, f64::max);
            format!("{lo:.3}–{hi:.3}")
        };
        println!(
            "{set:<12} {n:>6}  {passed:>6}  {failed:>6}  {inconclusive:>7}  {reasons:?}\n             step parallax {}  step degrees {}  max parallax {}  max distortion {}  identity {}",
            range(&step_parallax),
            range(&step_degrees),
            range(&max_parallax),
            range(&max_distortion),
            range(&identity)
        );
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
    println!(
        "time per 12-frame burst (JPEG decode + check), {} bursts: median {:.0} ms, 90th percentile {:.0} ms",
        times.len(),
        median * 1e3,
        p90 * 1e3
    );
}

/// dlib distances between rendered views of one person and of two, by how far apart the
/// two views' poses are: what the identity comparison's pose gap was fitted on.
fn identity_by_pose(models: &LivenessModels, heads: &[Head], portraits: &[RgbImage]) {
    let refs: Vec<_> = portraits.iter().map(|p| models.reference(p).ok().flatten()).collect();
    if let (Some(Some(a)), Some(Some(b))) = (refs.first(), refs.get(1)) {
        println!("the two portraits: distance {:.3}", a.distance(b));
    }
    let mut views = Vec::new();
    for (who, head) in heads.iter().enumerate() {
        for yaw in [-25.0, -15.0, -5.0, 0.0, 5.0, 15.0, 25.0] {
            for pitch in [-20.0, -10.0, 0.0, 10.0, 20.0] {
                let img = head.render(&Pose {
                    yaw,
                    pitch,
                    ..Pose::default()
                });
                let img = image::load_from_memory(&as_jpeg(&img)).map(|i| i.into_rgb8()).unwrap_or_default();
                let Ok(f) = models.frame(&img) else { continue };
                if let Some(e) = f.embedding {
                    views.push((who, yaw, pitch, e));
                }
            }
        }
    }
    println!("{} views", views.len());
    for v in &views {
        let front = views
            .iter()
            .find(|w| w.0 == v.0 && w.1 == 0.0 && w.2 == 0.0)
            .map(|w| w.3.distance(&v.3));
        let worst_same = views.iter().filter(|w| w.0 == v.0).map(|w| w.3.distance(&v.3)).fold(0.0, f64::max);
        let best_other = views
            .iter()
            .filter(|w| w.0 != v.0)
            .map(|w| w.3.distance(&v.3))
            .fold(f64::INFINITY, f64::min);
        let to_refs: Vec<String> = refs
            .iter()
            .map(|r| r.as_ref().map_or("-".into(), |r| format!("{:.3}", r.distance(&v.3))))
            .collect();
        println!(
            "person {} yaw {:>5} pitch {:>5}: to frontal {:.3}, worst same {worst_same:.3}, nearest other {best_other:.3}, to portraits {to_refs:?}",
            v.0,
            v.1,
            v.2,
            front.unwrap_or(f64::NAN)
        );
    }
    // Buckets by pose gap (the larger of the yaw and pitch differences).
    let mut same: std::collections::BTreeMap<i32, Vec<f64>> = Default::default();
    let mut other: std::collections::BTreeMap<i32, Vec<f64>> = Default::default();
    for a in 0..views.len() {
        for b in a + 1..views.len() {
            let gap = (views[a].1 - views[b].1).abs().max((views[a].2 - views[b].2).abs()) as i32;
            let d = views[a].3.distance(&views[b].3);
            if views[a].0 == views[b].0 {
                same.entry(gap).or_default().push(d)
            } else {
                other.entry(gap).or_default().push(d)
            }
        }
    }
    for (gap, v) in &same {
        let o = other.get(gap).cloned().unwrap_or_default();
        let max = v.iter().copied().fold(0.0, f64::max);
        let min_o = o.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "pose gap {gap:>2}°: one person max {max:.3} (n {}), two people min {min_o:.3} (n {})",
            v.len(),
            o.len()
        );
    }
}

/// Each stage of the check on `bursts` genuine 12-frame bursts, timed on its own.
fn time_stages(models: &LivenessModels, head: &Head, bursts: u32) {
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (mut decode, mut detect, mut marks, mut embed, mut judge, mut total) = (0.0, 0.0, 0.0, 0.0, 0.0, Vec::new());
    for seed in 0..bursts {
        let challenge = CHALLENGES[seed as usize % CHALLENGES.len()];
        let jpegs: Vec<Vec<u8>> = follow(&challenge, 12, 20.0, seed)
            .iter()
            .map(|p| as_jpeg(&head.render(p)))
            .collect();
        let start = Instant::now();
        let mut measured = Vec::new();
        for j in &jpegs {
            let t = Instant::now();
            let img = image::load_from_memory(j).map(|i| i.into_rgb8()).unwrap_or_default();
            decode += ms(t);
            let t = Instant::now();
            let faces = models.faces.detector.detect(&img).unwrap_or_default();
            detect += ms(t);
            let Some(face) = faces.first() else { continue };
            let t = Instant::now();
            let lm = models.landmarks.landmarks(&img, face);
            marks += ms(t);
            let t = Instant::now();
            let e = models.faces.encoder.embed(&img, face);
            embed += ms(t);
            measured.push(kycd_checks::liveness::FrameFaces {
                faces: faces.len(),
                landmarks: lm.ok().map(|l| l.points.iter().map(|p| [p[0], p[1]]).collect()),
                embedding: Some(e),
                size: img.dimensions(),
            });
        }
        let t = Instant::now();
        let _ = kycd_checks::liveness::judge(&challenge, &measured, &[]);
        judge += ms(t);
        total.push(ms(start));
    }
    let n = f64::from(bursts.max(1));
    total.sort_by(f64::total_cmp);
    println!(
        "{bursts} bursts of 12 frames, per burst: JPEG decode {:.0} ms, BlazeFace {:.0} ms, landmarks {:.0} ms, dlib embedding {:.0} ms, verdict {:.1} ms; total median {:.0} ms (min {:.0}, max {:.0})",
        decode / n,
        detect / n,
        marks / n,
        embed / n,
        judge / n,
        total[total.len() / 2],
        total[0],
        total[total.len() - 1]
    );
}
