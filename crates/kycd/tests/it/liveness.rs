//! `kycd check --kind liveness_burst --challenge …`: the interface contract of the
//! liveness check, on rendered bursts written as JPEG files (a textured head turning per
//! the challenge, the same face as a flat picture waved through it), through the binary.
//!
//! Needs the models and the test portraits (`scripts/fetch-models --test-faces`); without
//! them the test prints why and passes, except under CI.

use kycd_checks::face::models_present;
use kycd_checks::liveness::geometry::P2;
use kycd_checks::liveness::{LivenessModels, Step};
use kycd_checks::synth_liveness::{Head, Pose, as_jpeg, follow, render_picture, wave};
use serde_json::Value;

fn head() -> Option<Head> {
    let dir = kycd_checks::ocr::default_model_dir();
    let portrait = kycd_checks::synth_face::load(&dir.join("test-faces"), kycd_checks::synth_face::IDENTITIES[0]);
    let why = match (models_present(&dir), &portrait) {
        (false, _) => format!("face models missing in {}: run scripts/fetch-models --test-faces", dir.display()),
        (true, Err(e)) => e.clone(),
        (true, Ok(_)) => String::new(),
    };
    if !why.is_empty() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the model tests: {why}");
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let portrait = portrait.unwrap();
    let models = LivenessModels::load(&dir).unwrap();
    let face = models.faces.detector.detect(&portrait).unwrap()[0];
    let lm = models.landmarks.landmarks(&portrait, &face).unwrap();
    let pts: Vec<P2> = lm.points.iter().map(|p| [p[0], p[1]]).collect();
    Head::new(&portrait, &pts)
}

fn run(args: &[String]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(crate::harness::BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn burst(dir: &std::path::Path, name: &str, frames: &[image::RgbImage]) -> Vec<String> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let p = dir.join(format!("{name}-{i:02}.jpg"));
            std::fs::write(&p, as_jpeg(f)).unwrap();
            p.display().to_string()
        })
        .collect()
}

fn check(challenge: &str, files: &[String]) -> (Option<i32>, Value) {
    let mut args: Vec<String> = ["check", "--kind", "liveness_burst", "--json", "--challenge", challenge]
        .map(String::from)
        .to_vec();
    args.extend(files.iter().cloned());
    let (code, stdout, stderr) = run(&args);
    let line: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    (code, line)
}

#[test]
fn a_turning_head_passes_and_a_waved_photo_is_planar_motion() {
    let Some(head) = head() else { return };
    let dir = tempfile::tempdir().unwrap();
    let asked = [Step::Left, Step::Up];
    let live = burst(
        dir.path(),
        "live",
        &follow(&asked, 12, 20.0, 4).iter().map(|p| head.render(p)).collect::<Vec<_>>(),
    );
    let (code, r) = check("left,up", &live);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["kind"], "liveness_burst");
    assert_eq!(r["challenge"], serde_json::json!(["left", "up"]));
    assert_eq!(r["passed"], true, "{r}");
    assert_eq!(r["reasons"], serde_json::json!([]), "{r}");
    let entry = &r["checks"][0];
    assert_eq!(
        (entry["name"].as_str(), &entry["passed"]),
        (Some("liveness"), &Value::Bool(true)),
        "{r}"
    );
    for figure in ["yaw", "pitch", "parallax"] {
        assert_eq!(r["figures"][figure].as_array().map(Vec::len), Some(12), "{figure}: {r}");
    }
    assert!(
        r["figures"]["yaw"].as_array().unwrap().iter().any(|y| y.as_f64().unwrap() >= 10.0),
        "{r}"
    );

    // The same frames asked for another order: not followed.
    let (code, r) = check("up,left", &live);
    assert_eq!((code, &r["passed"]), (Some(1), &Value::Bool(false)), "{r}");
    assert_eq!(r["reasons"], serde_json::json!(["challenge_not_followed"]), "{r}");

    // A photo of the head, tilted, shifted and scaled through the challenge.
    let front = head.render(&Pose::default());
    let photo = burst(
        dir.path(),
        "photo",
        &wave(&asked, 12, 35.0, 4)
            .iter()
            .map(|p| render_picture(&front, p))
            .collect::<Vec<_>>(),
    );
    let (code, r) = check("left,up", &photo);
    assert_eq!((code, &r["passed"]), (Some(1), &Value::Bool(false)), "{r}");
    assert_eq!(r["reasons"][0], "planar_motion", "{r}");

    // Too few frames: inconclusive (null), exit 1; a bad step is refused with the list.
    let (code, r) = check("left,up", &live[..5]);
    assert_eq!((code, &r["passed"]), (Some(1), &Value::Null), "{r}");
    assert_eq!(r["reasons"], serde_json::json!(["too_few_frames"]), "{r}");
    let (code, _, stderr) = run(&[
        "check".into(),
        "--kind".into(),
        "liveness_burst".into(),
        "--challenge".into(),
        "left,sideways".into(),
        live[0].clone(),
    ]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("left, right, up and down"), "{stderr}");
}
