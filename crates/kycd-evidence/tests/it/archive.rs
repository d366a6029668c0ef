use crate::common::*;
use kycd_evidence::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{ZipArchive, ZipWriter};

fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

/// Rewrites the archive at `from` into `to` (a valid ZIP, CRCs recomputed), letting
/// `edit` change the entries first.
fn rewrite(from: &Path, to: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) {
    let mut files = entries(from);
    edit(&mut files);
    let mut zip = ZipWriter::new(std::fs::File::create(to).unwrap());
    for (name, bytes) in files {
        zip.start_file(name, SimpleFileOptions::default()).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn flip_byte(files: &mut [(String, Vec<u8>)], name: &str, at: impl FnOnce(&[u8]) -> usize) {
    let (_, bytes) = files.iter_mut().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}"));
    let i = at(bytes);
    bytes[i] ^= 0x01;
}

struct Fixture {
    sample: Sample,
    dir: PathBuf,
    good: PathBuf,
    jwks: serde_json::Value,
}

fn fixture(name: &str) -> Fixture {
    let sample = sample(12);
    let dir = scratch(name);
    let good = dir.join("good.zip");
    let signer = write_archive(&sample, &good);
    Fixture {
        sample,
        dir,
        good,
        jwks: signer.jwks(),
    }
}

fn assert_fails_naming(f: &Fixture, case: &str, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>), file: &str) {
    let bad = f.dir.join(format!("{case}.zip"));
    rewrite(&f.good, &bad, edit);
    let err = verify_archive(&bad, &f.jwks).expect_err(case);
    let msg = err.to_string();
    eprintln!("{case}: {msg}");
    assert!(
        err.problem_files().contains(&file),
        "{case}: expected {file} to be named, got: {msg}"
    );
    assert!(msg.contains(file) && msg.contains("NOT verified"), "{case}: {msg}");
}

#[test]
fn a_good_archive_verifies_and_has_the_documented_layout() {
    let f = fixture("archive-good");
    let verdict = verify_archive(&f.good, &f.jwks).unwrap();
    let text = verdict.to_string();
    assert!(text.starts_with("archive verified: 6 files, signed by kid "), "{text}");
    assert!(text.contains(&f.sample.model.verification_id), "{text}");
    assert_eq!(verdict.outcome, "approved");

    let names: Vec<String> = entries(&f.good).into_iter().map(|(n, _)| n).collect();
    let mut expected = vec!["report.json".to_owned(), "report.pdf".to_owned()];
    expected.extend(f.sample.model.captures.iter().map(|c| c.archive_name()));
    expected.extend(["manifest.json".to_owned(), "evidence.jwt".to_owned()]);
    assert_eq!(names, expected);
    // The images in the archive are the originals, byte for byte.
    for (c, (_, bytes)) in f.sample.model.captures.iter().zip(&f.sample.images) {
        let stored = entries(&f.good).into_iter().find(|(n, _)| *n == c.archive_name()).unwrap().1;
        assert_eq!(&stored, bytes);
    }

    if std::process::Command::new("unzip").arg("-v").output().is_ok() {
        let out = std::process::Command::new("unzip")
            .args(["-t", "-q"])
            .arg(&f.good)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn a_token_attesting_another_outcome_than_the_report_is_refused() {
    let sample = sample(12);
    let path = scratch("archive-outcome").join("outcome.zip");
    // Every file's digest is right and the signature is good; only the outcome differs.
    let signer = write_archive_with(&sample, &path, |c| c.outcome = "declined".into());
    let err = verify_archive(&path, &signer.jwks()).unwrap_err();
    let msg = err.to_string();
    assert!(err.problem_files().contains(&"report.json"), "{msg}");
    assert!(msg.contains("outcome 'approved'") && msg.contains("attests 'declined'"), "{msg}");
}

#[test]
fn a_changed_image_is_named() {
    let f = fixture("archive-image");
    let name = f.sample.model.captures[1].archive_name();
    assert_fails_naming(&f, "image", |files| flip_byte(files, &name, |b| b.len() / 2), &name);
}

#[test]
fn a_changed_report_json_is_named() {
    let f = fixture("archive-report");
    assert_fails_naming(
        &f,
        "report",
        |files| flip_byte(files, "report.json", |b| b.windows(8).position(|w| w == b"approved").unwrap() + 2),
        "report.json",
    );
}

#[test]
fn a_changed_manifest_is_named() {
    let f = fixture("archive-manifest");
    assert_fails_naming(
        &f,
        "manifest",
        |files| flip_byte(files, "manifest.json", |b| b.len() - 10),
        "manifest.json",
    );
}

#[test]
fn a_changed_jwt_payload_is_named() {
    let f = fixture("archive-jwt");
    assert_fails_naming(
        &f,
        "jwt",
        |files| {
            flip_byte(files, "evidence.jwt", |b| {
                let dot = b.iter().position(|&c| c == b'.').unwrap();
                dot + 20
            })
        },
        "evidence.jwt",
    );
}

#[test]
fn added_and_removed_files_are_named() {
    let f = fixture("archive-extra");
    assert_fails_naming(
        &f,
        "extra",
        |files| files.insert(2, ("images/extra.jpg".into(), b"x".to_vec())),
        "images/extra.jpg",
    );
    assert_fails_naming(&f, "missing", |files| files.retain(|(n, _)| n != "report.pdf"), "report.pdf");
    // Consistent manifest and images, but the signed list still disagrees.
    let name = f.sample.model.captures[0].archive_name();
    assert_fails_naming(
        &f,
        "swapped",
        |files| {
            let new = b"another picture".to_vec();
            let sha = sha256(&new);
            let size = new.len();
            files.iter_mut().find(|(n, _)| *n == name).unwrap().1 = new;
            let m = files.iter_mut().find(|(n, _)| n == "manifest.json").unwrap();
            let mut manifest: Manifest = serde_json::from_slice(&m.1).unwrap();
            let e = manifest.files.iter_mut().find(|e| e.name == name).unwrap();
            e.sha256 = sha;
            e.size = size as u64;
            m.1 = serde_json::to_vec(&manifest).unwrap();
        },
        &name,
    );
}

#[test]
fn another_tenants_keys_and_non_archives_are_refused() {
    let f = fixture("archive-keys");
    let (other, _) = EvidenceSigner::generate().unwrap();
    let err = verify_archive(&f.good, &other.jwks()).unwrap_err();
    assert_eq!(err.problem_files(), ["evidence.jwt"]);
    assert!(err.to_string().contains("not in the JWKS"), "{err}");

    let not_zip = f.dir.join("not.zip");
    std::fs::write(&not_zip, b"hello").unwrap();
    assert!(matches!(verify_archive(&not_zip, &f.jwks), Err(EvidenceError::NotAnArchive { .. })));
    assert!(matches!(
        verify_archive(f.dir.join("absent.zip"), &f.jwks),
        Err(EvidenceError::NotAnArchive { .. })
    ));
}
