//! Test tools for kycd, kept out of the product: a dev-dependency of the crates whose
//! tests, examples and benchmarks need them, never a dependency of the `kycd` binary.
//!
//! - [`synth`]: synthetic ID-card scenes with known ground truth (quality calibration).
//! - [`synth_doc`]: synthetic documents with a real MRZ, photographed (the MRZ reader's
//!   ground truth).
//! - [`synth_barcode`]: synthetic licence backs with an AAMVA PDF417 barcode.
//! - [`synth_face`]: test portraits photographed under a selfie's changes.
//! - [`synth_liveness`]: rendered heads and flat pictures for the head-turn check.
//! - [`images`]: small upload images (patterns, an ID card photo, selfies, a PNG bomb).
//! - `server` (feature `server`): the black-box harness that boots the `kycd` binary.

pub mod images;
#[cfg(feature = "server")]
pub mod server;
pub mod synth;
pub mod synth_barcode;
pub mod synth_doc;
pub mod synth_face;
pub mod synth_liveness;
