//! What a verification proves, rendered for people and machines.
//!
//! One typed [`EvidenceModel`] describes a verification's evidence; every output is a
//! rendering of it:
//!
//! - `report.json`: the model itself ([`EvidenceModel::to_json_bytes`]);
//! - `report.pdf`: a paginated A4 report with the capture images ([`render_pdf`]);
//! - `evidence.jwt`: an ES256 token that names the SHA-256 of every evidence file
//!   ([`EvidenceSigner`], [`EvidenceClaims`], [`verify`]);
//! - the ZIP archive that carries all of it plus `manifest.json`, written as a stream
//!   ([`write_evidence_zip`]), and its offline check ([`verify_archive`]).
//!
//! Typical use (what the engine does for an export):
//!
//! ```ignore
//! let model = EvidenceModel::new(&tenant, &verification, &applicant, &captures, &timeline, now);
//! let jti = EvidenceClaims::new_jti();
//! let pdf = render_pdf(&model, &images, &jti)?;
//! let mut files = vec![
//!     EvidenceFile::from_bytes(REPORT_JSON, model.to_json_bytes()?),
//!     EvidenceFile::from_bytes(REPORT_PDF, pdf),
//! ];
//! // + one EvidenceFile::new(model.captures[i].archive_name(), reader) per original image
//! write_evidence_zip(out, files, |digests| {
//!     signer.sign(&EvidenceClaims::new(&model, "https://kycd.example", &jti, digests.to_vec()))
//! })?;
//! ```
//!
//! Pure library: no IO besides the readers and writers it is handed (and the archive path
//! of [`verify_archive`]), no clock reads, no async.

mod archive;
mod error;
mod jwt;
mod model;
mod pdf;
mod verify;

pub use archive::{EvidenceFile, FileDigest, MANIFEST_FORMAT, MANIFEST_JSON, Manifest, ManifestEntry, write_evidence_zip};
pub use error::{EvidenceError, FileProblem};
pub use jwt::{EVIDENCE_JWT, EvidenceClaims, EvidenceSigner, IdentityClaims, JWT_TYP, verify};
pub use model::{
    CaptureEvidence, CheckEvidence, DecisionEvidence, DeclaredEvidence, EvidenceModel, IdentityFields, PersonEvidence, REPORT_FORMAT,
    REPORT_JSON, ReviewEvidence, TenantEvidence, TimelineEvidence, status_in_words,
};
pub use pdf::{REPORT_PDF, render_pdf};
pub use verify::{Verdict, verify_archive};
