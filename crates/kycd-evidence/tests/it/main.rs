//! Integration tests of kycd-evidence: PDF rendering checked with poppler, the evidence
//! JWT checked against PyJWT, and whole archives written, verified and tampered with.
//!
//! External tools: `pdfinfo`, `pdftotext`, `pdftoppm`, `pdffonts` (apt `poppler-utils`) and
//! a Python with PyJWT (env `KYCD_TEST_PYTHON`; see pyjwt.rs). `scripts/test` sets them up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod archive;
mod common;
mod pdf;
mod pyjwt;
mod records;
