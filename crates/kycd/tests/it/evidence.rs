//! Evidence outputs (PDF, JWT, ZIP, JWKS) checked with tools that are not kycd's own:
//! poppler's pdfinfo/pdftotext, `unzip -t`, Python's PyJWT, and a tampered archive.

use crate::flow::{Session, approve, session_to_review, verification_body};
use crate::harness::{Api, Server, TenantKeys, str_field};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn tool(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd} ({e}): install it (apt-get install poppler-utils unzip), scripts/test does"))
}

/// PyJWT (not the Rust library that signed) verifies the token against the JWKS.
fn pyjwt_verify(token: &str, jwks: &Value, audience: &str) -> Value {
    let python = std::env::var("KYCD_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "KYCD_TEST_PYTHON is not set: run scripts/test, or: python3 -m venv target/pyvenv && \
             target/pyvenv/bin/pip install pyjwt cryptography && export KYCD_TEST_PYTHON=$PWD/target/pyvenv/bin/python"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t"), token).unwrap();
    std::fs::write(dir.path().join("k"), jwks.to_string()).unwrap();
    let script = r#"
import json, sys, jwt
tok = open(sys.argv[1]).read().strip()
jwks = json.load(open(sys.argv[2]))
hdr = jwt.get_unverified_header(tok)
assert hdr["typ"] == "kycd-evidence+jwt", hdr
key = [k for k in jwks["keys"] if k["kid"] == hdr["kid"]][0]
claims = jwt.decode(tok, jwt.PyJWK(key).key, algorithms=["ES256"], audience=sys.argv[3])
print(json.dumps(claims))
"#;
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("t"))
        .arg(dir.path().join("k"))
        .arg(audience)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyJWT refused the evidence token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Rewrite an archive with one byte of one entry flipped (Python's zipfile, so the ZIP
/// structure stays valid and only the content is wrong).
fn tamper(src: &Path, dst: &Path, entry: &str) {
    let script = r#"
import sys, zipfile
src, dst, name = sys.argv[1:4]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
        data = bytearray(zin.read(info.filename))
        if info.filename == name:
            data[len(data) // 2] ^= 0x01
        zout.writestr(info.filename, bytes(data))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(src)
        .arg(dst)
        .arg(entry)
        .output()
        .unwrap();
    assert!(out.status.success(), "tamper: {}", String::from_utf8_lossy(&out.stderr));
}

/// A tenant named `tenant` with one verification of `person` approved: the tenant, its
/// client and the verification's session.
async fn approved_case(server: &Server, tenant: &str, person: (&str, &str), seed: u64) -> (TenantKeys, Api, Session) {
    let (t, api) = server.tenant_client(tenant).await;
    let s = session_to_review(&api, &verification_body(person.0, person.1), seed).await;
    approve(&api, &s.vid).await;
    (t, api, s)
}

#[tokio::test]
async fn evidence_outputs_verify_with_independent_tools() {
    let server = Server::start().await;
    let (t, api, s) = approved_case(&server, "Evidence Co", ("Odile Evidence", "odile@example.org"), 41).await;
    let dir = tempfile::tempdir().unwrap();

    // PDF: A4, several facts in the text layer.
    let pdf = api.get(&format!("/v1/verifications/{}/report.pdf", s.vid)).await;
    assert_eq!(pdf.status, 200, "{}", pdf.text());
    assert_eq!(pdf.content_type, "application/pdf");
    let pdf_path = dir.path().join("report.pdf");
    std::fs::write(&pdf_path, &pdf.body).unwrap();
    let info = String::from_utf8_lossy(&tool("pdfinfo", &[pdf_path.to_str().unwrap()]).stdout).into_owned();
    assert!(info.contains("(A4)"), "pdfinfo: {info}");
    let pages: u32 = info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap();
    assert!(pages >= 1, "pdfinfo: {info}");
    let text = String::from_utf8_lossy(&tool("pdftotext", &["-layout", pdf_path.to_str().unwrap(), "-"]).stdout).into_owned();
    for needle in [s.vid.as_str(), t.tenant_id.as_str(), "Approved", "Odile Evidence"] {
        assert!(text.contains(needle), "PDF text lacks {needle}");
    }
    for (_, file_id, bytes) in &s.files {
        assert!(text.contains(&sha256_hex(bytes)), "PDF text lacks the SHA-256 of {file_id}");
    }

    // JWT: verified by PyJWT against the tenant's JWKS; it names the PDF we downloaded.
    let jwt = api.get(&format!("/v1/verifications/{}/evidence.jwt", s.vid)).await;
    assert_eq!(jwt.status, 200, "{}", jwt.text());
    assert_eq!(jwt.content_type, "application/jwt");
    let jwks = server.anon().get(&format!("/.well-known/jwks/{}", t.tenant_id)).await.ok();
    let claims = pyjwt_verify(&jwt.text(), &jwks, &t.tenant_id);
    assert_eq!(claims["sub"], s.vid.as_str());
    assert_eq!(claims["aud"], t.tenant_id.as_str());
    assert_eq!(claims["outcome"], "approved");
    assert!(str_field(&claims, "iss").starts_with("http://127.0.0.1:"), "{claims}");
    let files = claims["files"].as_array().unwrap();
    let digest_of = |name: &str| files.iter().find(|f| f["name"] == name).map(|f| str_field(f, "sha256"));
    assert_eq!(
        digest_of("report.pdf"),
        Some(sha256_hex(&pdf.body)),
        "the JWT must attest the PDF that was served"
    );
    for (_, file_id, bytes) in &s.files {
        let f = files
            .iter()
            .find(|f| str_field(f, "name").contains(file_id.as_str()))
            .unwrap_or_else(|| panic!("{file_id} not in JWT"));
        assert_eq!(str_field(f, "sha256"), sha256_hex(bytes));
    }
    assert!(str_field(&claims, "jti").starts_with("evj_"));
    assert!(text.contains(&str_field(&claims, "jti")), "the PDF prints the evidence token id");

    // ZIP: valid for unzip, verified offline by the CLI, tampering detected per file.
    let zip = api.get(&format!("/v1/verifications/{}/evidence.zip", s.vid)).await;
    assert_eq!(zip.status, 200, "{}", zip.text());
    assert_eq!(zip.content_type, "application/zip");
    let zip_path = dir.path().join("evidence.zip");
    std::fs::write(&zip_path, &zip.body).unwrap();
    let unzip = tool("unzip", &["-t", zip_path.to_str().unwrap()]);
    assert!(unzip.status.success(), "unzip -t: {}", String::from_utf8_lossy(&unzip.stdout));
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
    let ok = server
        .cli(&[
            "evidence",
            "verify",
            zip_path.to_str().unwrap(),
            "--jwks",
            jwks_path.to_str().unwrap(),
        ])
        .await;
    assert_eq!(ok.code, Some(0), "{}", ok.all_output());
    assert!(
        ok.stdout.contains("archive verified") && ok.stdout.contains(&s.vid),
        "{}",
        ok.all_output()
    );
    // Also straight from the server's JWKS URL (loopback).
    let url = server.anon().url("/.well-known/jwks.json");
    let ok = server
        .cli(&["evidence", "verify", zip_path.to_str().unwrap(), "--jwks", &url])
        .await;
    assert_eq!(ok.code, Some(0), "{}", ok.all_output());

    let image = format!("images/{}.jpg", s.files[0].1);
    for entry in [image.as_str(), "report.json", "report.pdf", "manifest.json"] {
        let bad = dir.path().join("bad.zip");
        tamper(&zip_path, &bad, entry);
        let out = server
            .cli(&["evidence", "verify", bad.to_str().unwrap(), "--jwks", jwks_path.to_str().unwrap()])
            .await;
        assert_eq!(out.code, Some(1), "a flipped byte in {entry} must fail: {}", out.all_output());
        assert!(
            out.all_output().contains(entry),
            "the failure must name {entry}: {}",
            out.all_output()
        );
    }

    // Every read is on the audit trail.
    let trail = server.audit_trail(&t.tenant_id, &s.vid).await;
    for a in ["evidence.pdf.read", "evidence.jwt.read", "evidence.zip.read"] {
        assert!(trail.iter().any(|(x, _)| x == a), "audit trail lacks {a}: {trail:?}");
    }
    let audit = server.cli(&["audit", "verify"]).await;
    assert_eq!(audit.code, Some(0), "{}", audit.all_output());
}

#[tokio::test]
async fn evidence_of_erased_verifications_is_gone_and_foreign_is_not_found() {
    let server = Server::start().await;
    let api = server.admin();
    let a = session_to_review(&api, &verification_body("Gone Person", "gone@example.org"), 51).await;
    let b = session_to_review(&api, &verification_body("Deleted Person", "deleted@example.org"), 61).await;
    let other = server.instance().create_tenant("Other", false).await;
    let foreign = server.client_for(&other.api_key);
    for out in ["report.pdf", "evidence.jwt", "evidence.zip"] {
        foreign
            .get(&format!("/v1/verifications/{}/{out}", a.vid))
            .await
            .problem(404, "not-found");
    }
    api.post_empty(&format!("/v1/verifications/{}/anonymize", a.vid)).await.ok();
    api.delete(&format!("/v1/verifications/{}", b.vid)).await.expect(204);
    for vid in [&a.vid, &b.vid] {
        for out in ["report.pdf", "evidence.jwt", "evidence.zip"] {
            api.get(&format!("/v1/verifications/{vid}/{out}")).await.problem(410, "gone");
        }
    }
}

#[tokio::test]
async fn rotated_keys_stay_published_and_old_archives_still_verify() {
    let server = Server::start().await;
    let (t, api, s) = approved_case(&server, "Rotating", ("Rita Rotate", "rita@example.org"), 71).await;
    let dir = tempfile::tempdir().unwrap();
    let old_zip = dir.path().join("old.zip");
    std::fs::write(
        &old_zip,
        api.get(&format!("/v1/verifications/{}/evidence.zip", s.vid)).await.ok_bytes(),
    )
    .unwrap();
    let rotated = server.cli(&["keys", "rotate", "--tenant", &t.tenant_id]).await;
    assert_eq!(rotated.code, Some(0), "{}", rotated.all_output());
    let new_zip = dir.path().join("new.zip");
    std::fs::write(
        &new_zip,
        api.get(&format!("/v1/verifications/{}/evidence.zip", s.vid)).await.ok_bytes(),
    )
    .unwrap();
    let jwks = server.anon().get(&format!("/.well-known/jwks/{}", t.tenant_id)).await.ok();
    let kids: Vec<String> = jwks["keys"].as_array().unwrap().iter().map(|k| str_field(k, "kid")).collect();
    assert_eq!(kids.len(), 2, "old and new key published: {jwks}");
    let all = server.anon().get("/.well-known/jwks.json").await.ok();
    assert!(all["keys"].as_array().unwrap().len() >= 2);
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
    let mut signers = Vec::new();
    for z in [&old_zip, &new_zip] {
        let out = server
            .cli(&["evidence", "verify", z.to_str().unwrap(), "--jwks", jwks_path.to_str().unwrap()])
            .await;
        assert_eq!(out.code, Some(0), "{}", out.all_output());
        signers.push(kids.iter().find(|k| out.stdout.contains(k.as_str())).cloned().unwrap());
    }
    assert_ne!(signers[0], signers[1], "the new archive is signed with the new key");
    server
        .anon()
        .get("/.well-known/jwks/ten_doesnotexist")
        .await
        .problem(404, "not-found");
}
