//! kycd-checks integration tests: the pipeline through its public API only.

mod barcode;
mod face;
mod mrz_ocr;
mod quality_corpus;
