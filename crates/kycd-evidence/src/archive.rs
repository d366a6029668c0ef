//! The evidence archive, written as a stream: each file is copied from its reader into the
//! ZIP while its SHA-256 is computed, so an archive of any size never sits in memory.
//! Layout: the caller's files (`report.json`, `report.pdf`, `images/<file_id>.<ext>`), then
//! `manifest.json` (name, size, SHA-256 of each), then `evidence.jwt`, signed last so that
//! it covers every other file, the manifest included.

use crate::EvidenceError;
use crate::jwt::EVIDENCE_JWT;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{self, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Name of the manifest inside an evidence archive.
pub const MANIFEST_JSON: &str = "manifest.json";
/// Value of [`Manifest::format`].
pub const MANIFEST_FORMAT: &str = "kycd-evidence-manifest/1";

/// A file name and the SHA-256 of its content (lowercase hex), as the JWT lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub name: String,
    pub sha256: String,
}

/// One line of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// `manifest.json`: every file written before it, in archive order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    pub files: Vec<ManifestEntry>,
}

/// One file to put into an archive: its name inside the archive and where its bytes come
/// from. The reader is consumed once, in order, while the archive is written.
pub struct EvidenceFile<'a> {
    name: String,
    source: Box<dyn Read + Send + 'a>,
}

impl<'a> EvidenceFile<'a> {
    /// `name` is a relative path of letters, digits, `.`, `_`, `-` and `/`
    /// (e.g. `images/file_….jpg`); it is checked when the archive is written.
    pub fn new(name: impl Into<String>, source: impl Read + Send + 'a) -> Self {
        Self {
            name: name.into(),
            source: Box::new(source),
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl EvidenceFile<'static> {
    /// A file already in memory (the JSON report, the PDF).
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self::new(name, io::Cursor::new(bytes))
    }
}

impl std::fmt::Debug for EvidenceFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceFile").field("name", &self.name).finish_non_exhaustive()
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), EvidenceError> {
    let refuse = |reason| {
        Err(EvidenceError::EntryName {
            name: name.chars().take(80).collect(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 200 {
        return refuse("it must be 1 to 200 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
    {
        return refuse("only letters, digits, '.', '_', '-' and '/' are allowed");
    }
    if name.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return refuse("it must be a relative path without empty, '.' or '..' parts");
    }
    if name == MANIFEST_JSON || name == EVIDENCE_JWT {
        return refuse("manifest.json and evidence.jwt are written by the archive itself");
    }
    Ok(())
}

/// Images, PDFs and anything else already compressed are stored; text is deflated.
fn options_for(name: &str) -> SimpleFileOptions {
    let text = [".json", ".jwt", ".txt", ".csv"].iter().any(|ext| name.ends_with(ext));
    let method = if text {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    };
    SimpleFileOptions::default().compression_method(method).unix_permissions(0o644)
}

/// Copies `src` into `dst` in 64 KiB steps, returning the byte count and the SHA-256.
pub(crate) fn copy_hashing(src: &mut dyn Read, dst: &mut dyn Write) -> Result<(u64, String), CopyError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(CopyError::Write)?;
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

pub(crate) enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn write_small(zip: &mut ZipWriter<zip::write::StreamWriter<impl Write>>, name: &str, bytes: &[u8]) -> Result<String, EvidenceError> {
    zip.start_file(name, options_for(name))
        .map_err(|e| EvidenceError::zip(format!("could not start {name} in the evidence archive"), e))?;
    zip.write_all(bytes)
        .map_err(|e| EvidenceError::io(format!("could not write {name} into the evidence archive"), e))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Writes an evidence archive to `out` as a stream (no `Seek` needed: a socket, a pipe or
/// an HTTP body writer will do).
///
/// `entries` are written in order, each hashed while it is copied. Then `manifest.json`
/// is written, and `sign` is called with the digest of every file so far (the manifest
/// included); the token it returns is written last as `evidence.jwt`.
pub fn write_evidence_zip<'a, W, I, F>(out: W, entries: I, sign: F) -> Result<Manifest, EvidenceError>
where
    W: Write,
    I: IntoIterator<Item = EvidenceFile<'a>>,
    F: FnOnce(&[FileDigest]) -> Result<String, EvidenceError>,
{
    let mut zip = ZipWriter::new_stream(out);
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    for mut entry in entries {
        check_name(&entry.name)?;
        if !seen.insert(entry.name.clone()) {
            return Err(EvidenceError::EntryName {
                name: entry.name,
                reason: "the archive already has a file of that name",
            });
        }
        zip.start_file(entry.name.as_str(), options_for(&entry.name))
            .map_err(|e| EvidenceError::zip(format!("could not start {} in the evidence archive", entry.name), e))?;
        let (size, sha256) = copy_hashing(&mut entry.source, &mut zip).map_err(|e| match e {
            CopyError::Read(e) => EvidenceError::io(format!("could not read the source of {}", entry.name), e),
            CopyError::Write(e) => EvidenceError::io(format!("could not write {} into the evidence archive", entry.name), e),
        })?;
        files.push(ManifestEntry {
            name: entry.name,
            size,
            sha256,
        });
    }

    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_owned(),
        files,
    };
    let mut manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|source| EvidenceError::Json {
        what: "the archive manifest",
        source,
    })?;
    manifest_bytes.push(b'\n');
    let manifest_sha = write_small(&mut zip, MANIFEST_JSON, &manifest_bytes)?;

    let mut digests: Vec<FileDigest> = manifest
        .files
        .iter()
        .map(|f| FileDigest {
            name: f.name.clone(),
            sha256: f.sha256.clone(),
        })
        .collect();
    digests.push(FileDigest {
        name: MANIFEST_JSON.to_owned(),
        sha256: manifest_sha,
    });
    let token = sign(&digests)?;
    write_small(&mut zip, EVIDENCE_JWT, token.as_bytes())?;

    let mut inner = zip
        .finish()
        .map_err(|e| EvidenceError::zip("could not finish the evidence archive", e))?;
    inner
        .flush()
        .map_err(|e| EvidenceError::io("could not flush the evidence archive", e))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::ZipArchive;

    #[test]
    fn writes_files_manifest_and_token_in_order() {
        let mut out = Vec::new();
        let mut signed = Vec::new();
        let manifest = write_evidence_zip(
            &mut out,
            vec![
                EvidenceFile::from_bytes("report.json", b"{\"a\":1}\n".to_vec()),
                EvidenceFile::new("images/file_abc.jpg", &b"\xff\xd8jpeg bytes"[..]),
            ],
            |d| {
                signed = d.to_vec();
                Ok("h.p.s".into())
            },
        )
        .unwrap();
        assert_eq!(manifest.files.len(), 2);
        assert_eq!(manifest.files[0].sha256, hex::encode(Sha256::digest(b"{\"a\":1}\n")));
        assert_eq!(manifest.files[1].size, 12);
        let names: Vec<&str> = signed.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["report.json", "images/file_abc.jpg", "manifest.json"]);

        let mut zip = ZipArchive::new(io::Cursor::new(out)).unwrap();
        let names: Vec<String> = (0..zip.len())
            .map(|i| zip.by_index(i).unwrap().name().unwrap().into_owned())
            .collect();
        assert_eq!(names, ["report.json", "images/file_abc.jpg", "manifest.json", "evidence.jwt"]);
        assert_eq!(zip.by_name("images/file_abc.jpg").unwrap().compression(), CompressionMethod::Stored);
        assert_eq!(zip.by_name("report.json").unwrap().compression(), CompressionMethod::Deflated);
        let mut m = Vec::new();
        zip.by_name("manifest.json").unwrap().read_to_end(&mut m).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&m)), signed[2].sha256);
        assert_eq!(serde_json::from_slice::<Manifest>(&m).unwrap(), manifest);
        let mut t = String::new();
        zip.by_name("evidence.jwt").unwrap().read_to_string(&mut t).unwrap();
        assert_eq!(t, "h.p.s");
    }

    #[test]
    fn bad_and_duplicate_names_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a//b",
            "images/./x",
            "a\\b",
            "manifest.json",
            "evidence.jwt",
            "é.jpg",
        ] {
            let err = write_evidence_zip(io::sink(), vec![EvidenceFile::from_bytes(bad, vec![])], |_| Ok(String::new())).unwrap_err();
            assert!(matches!(err, EvidenceError::EntryName { .. }), "{bad}: {err}");
        }
        let twice = vec![
            EvidenceFile::from_bytes("a.json", vec![]),
            EvidenceFile::from_bytes("a.json", vec![]),
        ];
        let err = write_evidence_zip(io::sink(), twice, |_| Ok(String::new())).unwrap_err();
        assert!(err.to_string().contains("already has a file"), "{err}");
    }

    #[test]
    fn a_failing_source_names_the_file() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("blob store unreachable"))
            }
        }
        let err = write_evidence_zip(io::sink(), vec![EvidenceFile::new("images/file_x.png", Broken)], |_| {
            Ok(String::new())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not read the source of images/file_x.png: blob store unreachable"
        );
    }
}
