//! kycd-checks integration tests: the pipeline through its public API only.

mod barcode;
mod face;
mod liveness;
mod liveness_verdict;
mod mrz_ocr;
mod provenance;
mod quality;
mod quality_corpus;

use image::RgbImage;
use kycd_testkit::synth_face::{self, IDENTITIES};
use std::path::PathBuf;

/// Where the models are: `$KYCD_MODEL_DIR`, else the repository's `models/`.
pub fn model_dir() -> std::path::PathBuf {
    std::env::var_os(kycd_checks::ocr::MODEL_DIR_ENV)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

/// Under CI (`CI` set and not "false"), missing models or fonts fail the tests instead of
/// skipping them.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Skips a test whose models, font or portraits are missing: says why and gives `None`;
/// under CI fails instead.
pub fn skip<T>(why: &str) -> Option<T> {
    assert!(!in_ci(), "{why} (CI is set, so this fails)");
    eprintln!("SKIPPED: {why}");
    None
}

/// The model folder and the test portraits (one per identity), or [`skip`] saying what
/// is missing; `hint` says how to fetch the face models.
pub fn portraits_or_skip(hint: &str) -> Option<(PathBuf, Vec<RgbImage>)> {
    let dir = model_dir();
    let people: Result<Vec<RgbImage>, String> = IDENTITIES.iter().map(|n| synth_face::load(&dir.join("test-faces"), n)).collect();
    match (kycd_checks::face::models_present(&dir), people) {
        (false, _) => skip(&format!("face models missing in {}: {hint}", dir.display())),
        (true, Err(e)) => skip(&e),
        (true, Ok(people)) => Some((dir, people)),
    }
}
