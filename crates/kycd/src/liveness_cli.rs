//! `kycd check --kind liveness_burst --challenge STEP,STEP… [--json] FRAME…`: the liveness
//! check offline on the frames of one burst, in capture order.
//!
//! Prints the `liveness` result: `passed` true, false or null (inconclusive), its reason
//! words and figures. With `--json`, one JSON object: `kind`, `challenge`, `files`,
//! `passed`, `reasons`, `detail`, `figures`, and `checks` (the same result as the one
//! entry, named `liveness`, like the other checks). Exit status 0 when it passed, 1 when
//! it failed or was inconclusive.

use anyhow::{Result, bail};
use kycd_checks::liveness::{LivenessModels, LivenessResult, parse_challenge};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn check_burst(limits: kycd_checks::ImageLimits, challenge: Option<&str>, json: bool, files: &[PathBuf]) -> Result<ExitCode> {
    let Some(challenge) = challenge else {
        bail!("--kind liveness_burst needs --challenge with the steps the person was asked for, e.g. --challenge left,up");
    };
    let steps = parse_challenge(challenge).map_err(|e| anyhow::anyhow!("--challenge: {e}"))?;
    let mut frames = Vec::with_capacity(files.len());
    let mut unreadable = None;
    for path in files {
        let img = std::fs::read(path)
            .map_err(|e| format!("cannot read the file: {e}"))
            .and_then(|b| kycd_checks::heic::normalise(b, limits).map_err(|e| e.to_string()))
            .and_then(|b| kycd_checks::decode::decode_full(&b, limits).map_err(|e| e.to_string()));
        match img {
            Ok(i) => frames.push(i.into_rgb8()),
            Err(e) => {
                unreadable = Some(format!("frame {} could not be used ({e}): send the burst again", path.display()));
                break;
            }
        }
    }
    let dir = kycd_checks::ocr::default_model_dir();
    let result = match (unreadable, LivenessModels::load(&dir)) {
        (Some(why), _) => LivenessResult::inconclusive("unreadable_frame", why),
        (None, Err(e)) => {
            eprintln!("warning: the liveness check is off: {e}");
            LivenessResult::inconclusive("models_missing", format!("the liveness check could not run: {e}"))
        }
        (None, Ok(models)) => match models.check(&steps, &frames, &[]) {
            Ok(r) => r,
            Err(e) => LivenessResult::inconclusive("models_missing", format!("the liveness check could not run: {e}")),
        },
    };
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let steps: Vec<&str> = steps.iter().map(|s| s.as_str()).collect();
    if json {
        let entry = json!({
            "name": "liveness", "passed": result.passed, "reasons": result.reasons,
            "detail": result.detail, "figures": result.figures,
        });
        let line = json!({
            "kind": "liveness_burst", "challenge": steps, "files": names,
            "passed": result.passed, "reasons": result.reasons, "detail": result.detail,
            "figures": result.figures, "checks": [entry],
        });
        println!("{line}");
    } else {
        let verdict = match result.passed {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "? (inconclusive)",
        };
        println!("liveness_burst: {} frame(s), challenge {}", names.len(), steps.join(" then "));
        println!("  liveness {verdict}  {}", result.detail);
        if !result.reasons.is_empty() {
            println!("  reasons: {}", result.reasons.join(", "));
        }
        let f = &result.figures;
        if let Some(yaw) = f["yaw"].as_array() {
            println!(
                "  {:<6} {:>5} {:>7} {:>7} {:>9} {:>10}",
                "FRAME", "FACES", "YAW°", "PITCH°", "PARALLAX", "DISTORTION"
            );
            for (i, y) in yaw.iter().enumerate() {
                // JSON values do not pad: format them as text first.
                let [faces, yaw, pitch, parallax, distortion] =
                    [&f["faces"][i], y, &f["pitch"][i], &f["parallax"][i], &f["distortion"][i]].map(|v| v.to_string());
                println!("  {i:<6} {faces:>5} {yaw:>7} {pitch:>7} {parallax:>9} {distortion:>10}");
            }
        }
        for s in f["steps"].as_array().into_iter().flatten() {
            println!("  step {s}");
        }
    }
    Ok(if result.passed == Some(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
