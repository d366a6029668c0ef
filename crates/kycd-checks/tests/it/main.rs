//! kycd-checks integration tests: the pipeline through its public API only.

mod barcode;
mod mrz_ocr;
