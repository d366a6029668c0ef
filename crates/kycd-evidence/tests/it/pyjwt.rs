//! Cross-checks the evidence JWT with an independent implementation, PyJWT.
//!
//! Needs a Python with PyJWT and cryptography, named by `KYCD_TEST_PYTHON`:
//!
//! ```sh
//! python3 -m venv target/pyvenv
//! target/pyvenv/bin/pip install pyjwt cryptography
//! export KYCD_TEST_PYTHON=$PWD/target/pyvenv/bin/python
//! ```
//!
//! `KYCD_SKIP_PY=1` skips these tests (and says so).

use crate::common::*;
use kycd_evidence::*;
use secrecy::ExposeSecret;
use std::io::Write;
use std::process::{Command, Stdio};

fn python() -> Option<String> {
    if std::env::var("KYCD_SKIP_PY").as_deref() == Ok("1") {
        eprintln!("KYCD_SKIP_PY=1: skipping the PyJWT cross-check");
        return None;
    }
    let py = std::env::var("KYCD_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "KYCD_TEST_PYTHON is not set. This test checks the evidence JWT with PyJWT; set it up with:\n  \
             python3 -m venv target/pyvenv && target/pyvenv/bin/pip install pyjwt cryptography\n  \
             export KYCD_TEST_PYTHON=$PWD/target/pyvenv/bin/python\n\
             (or set KYCD_SKIP_PY=1 to skip it)"
        )
    });
    Some(py)
}

/// Runs `script` with `input` on stdin; returns stdout, panicking with stderr on failure.
fn run_python(py: &str, script: &str, input: &str) -> Result<String, String> {
    let mut child = Command::new(py)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start KYCD_TEST_PYTHON={py}: {e}"));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

const VERIFY: &str = r#"
import json, sys, jwt
req = json.load(sys.stdin)
header = jwt.get_unverified_header(req["token"])
assert header["typ"] == "kycd-evidence+jwt", header
assert header["alg"] == "ES256", header
jwk = next(k for k in req["jwks"]["keys"] if k["kid"] == header["kid"])
key = jwt.PyJWK.from_dict(jwk)
claims = jwt.decode(req["token"], key, algorithms=["ES256"], audience=req["aud"], issuer=req["iss"],
                    options={"require": ["iss", "sub", "aud", "iat", "jti"]})
print(json.dumps(claims))
"#;

const SIGN: &str = r#"
import json, sys, jwt
from cryptography.hazmat.primitives.serialization import load_der_private_key
req = json.load(sys.stdin)
key = load_der_private_key(bytes.fromhex(req["der"]), password=None)
print(jwt.encode(req["claims"], key, algorithm="ES256", headers={"typ": req["typ"], "kid": req["kid"]}))
"#;

#[test]
fn pyjwt_verifies_our_tokens() {
    let Some(py) = python() else { return };
    let s = sample(2);
    let (signer, _) = EvidenceSigner::generate().unwrap();
    let files = vec![FileDigest {
        name: "report.json".into(),
        sha256: sha256(b"{}"),
    }];
    let claims = EvidenceClaims::new(&s.model, "https://kycd.example", &EvidenceClaims::new_jti(), files);
    let token = signer.sign(&claims).unwrap();
    let req = serde_json::json!({"token": token, "jwks": signer.jwks(), "aud": claims.aud, "iss": claims.iss});
    let out = run_python(&py, VERIFY, &req.to_string()).unwrap_or_else(|e| panic!("PyJWT refused our token:\n{e}"));
    let back: EvidenceClaims = serde_json::from_str(&out).unwrap();
    assert_eq!(back, claims);

    // PyJWT refuses a tampered token too (the check is not vacuous).
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut sig = parts[2].clone().into_bytes();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    parts[2] = String::from_utf8(sig).unwrap();
    let req = serde_json::json!({"token": parts.join("."), "jwks": signer.jwks(), "aud": claims.aud, "iss": claims.iss});
    assert!(run_python(&py, VERIFY, &req.to_string()).is_err());
}

#[test]
fn we_verify_pyjwt_tokens_made_with_our_stored_key() {
    let Some(py) = python() else { return };
    let s = sample(2);
    let (signer, der) = EvidenceSigner::generate().unwrap();
    let claims = EvidenceClaims::new(&s.model, "https://kycd.example", "evj_fromPython", vec![]);
    let req = |typ: &str| {
        serde_json::json!({"der": hex::encode(der.expose_secret()), "claims": claims, "typ": typ, "kid": signer.kid()}).to_string()
    };
    // PyJWT's ECDSA signature has a random s; kycd accepts only the low-S form of a
    // signature (one signature per token), so a high-S one is refused and its low-S twin,
    // the same signature, verifies.
    for _ in 0..8 {
        let token = run_python(&py, SIGN, &req(JWT_TYP)).unwrap_or_else(|e| panic!("PyJWT could not sign:\n{e}"));
        let (signed, sig) = token.trim().rsplit_once('.').unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parsed = p256::ecdsa::Signature::from_slice(&b64.decode(sig).unwrap()).unwrap();
        let low = match parsed.normalize_s() {
            Some(low) => {
                let err = verify(token.trim(), &signer.jwks(), Some(&claims.aud)).unwrap_err().to_string();
                assert!(err.contains("high-S"), "{err}");
                format!("{signed}.{}", b64.encode(low.to_bytes()))
            }
            None => token.trim().to_owned(),
        };
        let got = verify(&low, &signer.jwks(), Some(&claims.aud)).unwrap();
        assert_eq!(got, claims);
    }

    // A PyJWT token of another type is refused even though its signature is good.
    let token = run_python(&py, SIGN, &req("JWT")).unwrap();
    let err = verify(token.trim(), &signer.jwks(), None).unwrap_err().to_string();
    assert!(err.contains("typ is 'JWT'"), "{err}");
}
