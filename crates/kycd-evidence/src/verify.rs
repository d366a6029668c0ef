//! The offline check of an evidence archive (`kycd evidence verify ARCHIVE`): the token's
//! signature against a trusted JWKS, then the SHA-256 of every file against both the
//! token and `manifest.json`.

use crate::EvidenceError;
use crate::archive::{CopyError, FileDigest, MANIFEST_JSON, Manifest, copy_hashing};
use crate::error::FileProblem;
use crate::jwt::{EVIDENCE_JWT, token_kid, verify};
use crate::model::{EvidenceModel, REPORT_JSON};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;
use zip::ZipArchive;

/// Largest `evidence.jwt` read (a token naming thousands of files stays far below).
const MAX_TOKEN_BYTES: u64 = 1 << 20;
/// Largest `manifest.json` / `report.json` parsed.
const MAX_JSON_BYTES: u64 = 32 << 20;

/// A verified archive: who signed it, for what, and the files it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The signing key's id, found in the JWKS given.
    pub kid: String,
    pub verification_id: String,
    pub tenant_id: String,
    pub issuer: String,
    /// The outcome the token attests to, e.g. `approved`.
    pub outcome: String,
    pub jti: String,
    pub issued_at: i64,
    /// Every file checked (all but `evidence.jwt`), in archive order.
    pub files: Vec<FileDigest>,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "archive verified: {} files, signed by kid {} for verification {} (tenant {}, outcome {}, token {})",
            self.files.len(),
            self.kid,
            self.verification_id,
            self.tenant_id,
            self.outcome,
            self.jti
        )
    }
}

fn problem(file: &str, problem: impl Into<String>) -> FileProblem {
    FileProblem {
        file: file.to_owned(),
        problem: problem.into(),
    }
}

fn read_limited<R: Read + Seek>(zip: &mut ZipArchive<R>, name: &str, limit: u64) -> Result<Vec<u8>, FileProblem> {
    let entry = zip.by_name(name).map_err(|_| problem(name, "is missing from the archive"))?;
    let mut bytes = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| problem(name, format!("could not be read ({e})")))?;
    if bytes.len() as u64 > limit {
        return Err(problem(
            name,
            format!("is larger than {limit} bytes, far more than kycd ever writes"),
        ));
    }
    Ok(bytes)
}

/// Checks an evidence archive offline against the JWKS of the tenant it belongs to.
///
/// `Ok` only when the token's signature is valid for a key of `jwks` and every file's
/// SHA-256 matches both the token and `manifest.json`, with no file missing or added.
/// Otherwise [`EvidenceError::ArchiveInvalid`] names every file that failed and why.
pub fn verify_archive(path: impl AsRef<Path>, jwks: &Value) -> Result<Verdict, EvidenceError> {
    let path = path.as_ref();
    let not_archive = |reason: String| EvidenceError::NotAnArchive {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| not_archive(e.to_string()))?;
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|e| not_archive(format!("{e}; is this the .zip kycd exported?")))?;
    let invalid = |problems: Vec<FileProblem>| EvidenceError::ArchiveInvalid { problems };

    // 1. The token: signature, algorithm, type, key.
    let token = read_limited(&mut zip, EVIDENCE_JWT, MAX_TOKEN_BYTES).map_err(|p| invalid(vec![p]))?;
    let token = String::from_utf8(token).map_err(|_| invalid(vec![problem(EVIDENCE_JWT, "is not text")]))?;
    let claims = match verify(&token, jwks, None) {
        Ok(c) => c,
        Err(e @ EvidenceError::Jwks { .. }) => return Err(e),
        Err(e) => return Err(invalid(vec![problem(EVIDENCE_JWT, e.to_string())])),
    };
    let kid = token_kid(token.trim())?;
    let mut problems = Vec::new();
    let mut signed: HashMap<&str, &str> = HashMap::new();
    for f in &claims.files {
        if signed.insert(&f.name, &f.sha256).is_some() {
            problems.push(problem(EVIDENCE_JWT, format!("lists {} twice", f.name)));
        }
    }

    // 2. Every file's actual size and SHA-256, streamed.
    let mut actual: Vec<(String, u64, String)> = Vec::new();
    let mut names = HashSet::new();
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                problems.push(problem(&format!("entry #{i}"), format!("could not be opened ({e})")));
                continue;
            }
        };
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(e) => {
                problems.push(problem(&format!("entry #{i}"), format!("has an unreadable name ({e})")));
                continue;
            }
        };
        if !names.insert(name.clone()) {
            problems.push(problem(&name, "appears twice in the archive"));
            continue;
        }
        if entry.is_dir() || name == EVIDENCE_JWT {
            continue;
        }
        match copy_hashing(&mut entry, &mut io::sink()) {
            Ok((size, sha)) => actual.push((name, size, sha)),
            Err(CopyError::Read(e) | CopyError::Write(e)) => {
                problems.push(problem(&name, format!("could not be read ({e}); the archive is damaged")));
            }
        }
    }

    // 3. Against the token.
    for (name, _, sha) in &actual {
        match signed.get(name.as_str()) {
            None => problems.push(problem(name, "is not covered by the signature (evidence.jwt does not list it)")),
            Some(s) if !s.eq_ignore_ascii_case(sha) => problems.push(problem(
                name,
                format!("SHA-256 is {sha} but evidence.jwt says {s}: the file was changed after it was signed"),
            )),
            Some(_) => {}
        }
    }
    for f in &claims.files {
        if !actual.iter().any(|(n, _, _)| *n == f.name) && !problems.iter().any(|p| p.file == f.name) {
            problems.push(problem(&f.name, "is listed in evidence.jwt but missing from the archive"));
        }
    }

    // 4. Against the manifest.
    match read_limited(&mut zip, MANIFEST_JSON, MAX_JSON_BYTES) {
        Err(p) => problems.push(p),
        Ok(bytes) => match serde_json::from_slice::<Manifest>(&bytes) {
            Err(e) => problems.push(problem(MANIFEST_JSON, format!("is not a valid manifest ({e})"))),
            Ok(manifest) => {
                for m in &manifest.files {
                    match actual.iter().find(|(n, _, _)| *n == m.name) {
                        None => problems.push(problem(&m.name, "is listed in manifest.json but missing from the archive")),
                        Some((_, size, sha)) if *size != m.size || !m.sha256.eq_ignore_ascii_case(sha) => problems.push(problem(
                            &m.name,
                            format!(
                                "is {size} bytes with SHA-256 {sha}, but manifest.json says {} bytes with SHA-256 {}",
                                m.size, m.sha256
                            ),
                        )),
                        Some(_) => {}
                    }
                }
                for (name, _, _) in &actual {
                    if name != MANIFEST_JSON && !manifest.files.iter().any(|m| m.name == *name) {
                        problems.push(problem(name, "is not listed in manifest.json"));
                    }
                }
            }
        },
    }

    // 5. The report is about this verification, and the images are the original captures.
    if actual.iter().any(|(n, _, _)| n == REPORT_JSON)
        && let Ok(bytes) = read_limited(&mut zip, REPORT_JSON, MAX_JSON_BYTES)
        && let Ok(report) = EvidenceModel::from_json_slice(&bytes)
    {
        if report.status != claims.outcome {
            problems.push(problem(
                REPORT_JSON,
                format!(
                    "records the outcome '{}' but evidence.jwt attests '{}': one of them was changed",
                    report.status, claims.outcome
                ),
            ));
        }
        if report.verification_id != claims.sub || report.tenant.id != claims.aud {
            problems.push(problem(
                REPORT_JSON,
                format!(
                    "is about verification {} but evidence.jwt about {}",
                    report.verification_id, claims.sub
                ),
            ));
        }
        for c in &report.captures {
            let name = c.archive_name();
            if let Some((_, _, sha)) = actual.iter().find(|(n, _, _)| *n == name)
                && !sha.eq_ignore_ascii_case(&c.sha256)
            {
                problems.push(problem(
                    &name,
                    format!(
                        "is not the original capture: its SHA-256 is {sha} but report.json records {}",
                        c.sha256
                    ),
                ));
            }
        }
    }

    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    Ok(Verdict {
        kid,
        verification_id: claims.sub,
        tenant_id: claims.aud,
        issuer: claims.iss,
        outcome: claims.outcome,
        jti: claims.jti,
        issued_at: claims.iat,
        files: actual.into_iter().map(|(name, _, sha256)| FileDigest { name, sha256 }).collect(),
    })
}
