//! kycd-checks integration tests: the pipeline through its public API only.

mod barcode;
mod face;
mod liveness;
mod liveness_verdict;
mod mrz_ocr;
mod provenance;
mod quality;
mod quality_corpus;

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
