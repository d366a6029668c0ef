//! The evidence JWT: ES256, explicitly typed, naming the SHA-256 of every evidence file.
//! Verification follows RFC 8725: the algorithm is pinned, `none` is refused, the key is
//! looked up by `kid` in the JWKS the caller trusts (never from the token), `typ` is checked.

use crate::EvidenceError;
use crate::archive::FileDigest;
use crate::model::EvidenceModel;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use secrecy::SecretSlice;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fmt;

/// Name of the token inside an evidence archive.
pub const EVIDENCE_JWT: &str = "evidence.jwt";
/// The `typ` header of every evidence token (RFC 8725 §3.11 explicit typing).
pub const JWT_TYP: &str = "kycd-evidence+jwt";

/// What an evidence token attests to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceClaims {
    /// The kycd instance that issued it (its public base URL).
    pub iss: String,
    /// The verification id (`idv_…`).
    pub sub: String,
    /// The tenant id (`ten_…`): the business the evidence was made for.
    pub aud: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Unique token id; also printed in the PDF report.
    pub jti: String,
    /// The canonical status word, e.g. `approved`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityClaims>,
    /// Every evidence file of the archive (all but `evidence.jwt` itself) with its SHA-256.
    pub files: Vec<FileDigest>,
}

/// The identity the verification attests to. Personal data: `Debug` redacts it.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_number: Option<String>,
}

impl fmt::Debug for IdentityClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityClaims(<redacted>)")
    }
}

impl EvidenceClaims {
    /// A fresh token id, `evj_` + 24 random letters and digits.
    pub fn new_jti() -> String {
        format!("evj_{}", kycd_core::random_token(24))
    }

    /// Claims for `model`, issued at its `generated_at`. The identity is the one the model
    /// attests to (read from the document, else declared), left out when anonymized.
    pub fn new(model: &EvidenceModel, issuer: &str, jti: &str, files: Vec<FileDigest>) -> Self {
        let id = model.identity();
        let identity = IdentityClaims {
            full_name: id.full_name,
            birth_date: id.birth_date,
            document_number: id.document_number,
        };
        let empty = identity == IdentityClaims::default();
        Self {
            iss: issuer.to_owned(),
            sub: model.verification_id.clone(),
            aud: model.tenant.id.clone(),
            iat: model.generated_at.timestamp(),
            jti: jti.to_owned(),
            outcome: model.status.clone(),
            identity: (!model.redacted && !empty).then_some(identity),
            files,
        }
    }
}

/// A tenant's evidence signing key (ECDSA P-256, ES256).
#[derive(Clone)]
pub struct EvidenceSigner {
    kid: String,
    key: EncodingKey,
    x: String,
    y: String,
}

impl fmt::Debug for EvidenceSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvidenceSigner").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl EvidenceSigner {
    /// A new random key pair. The `kid` is the key's RFC 7638 JWK thumbprint. The second
    /// value is the private key as PKCS#8 DER: store it encrypted and load it back with
    /// [`EvidenceSigner::from_pkcs8`].
    pub fn generate() -> Result<(Self, SecretSlice<u8>), EvidenceError> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let der = secret.to_pkcs8_der().map_err(|e| EvidenceError::Key {
            reason: format!("could not encode the new key as PKCS#8: {e}"),
        })?;
        let (x, y) = coordinates(&secret)?;
        let kid = thumbprint(&x, &y);
        let signer = Self {
            kid,
            key: EncodingKey::from_ec_der(der.as_bytes()),
            x,
            y,
        };
        Ok((signer, SecretSlice::from(der.as_bytes().to_vec())))
    }

    /// Loads a key stored as PKCS#8 DER (what [`EvidenceSigner::generate`] returned).
    pub fn from_pkcs8(kid: impl Into<String>, der: &[u8]) -> Result<Self, EvidenceError> {
        let kid = kid.into();
        if kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(EvidenceError::Key {
                reason: "kid must be 1 to 128 printable ASCII characters without spaces".into(),
            });
        }
        let secret = p256::SecretKey::from_pkcs8_der(der).map_err(|e| EvidenceError::Key {
            reason: format!("not a PKCS#8 DER P-256 private key ({e}); load the bytes EvidenceSigner::generate returned"),
        })?;
        let (x, y) = coordinates(&secret)?;
        Ok(Self {
            kid,
            key: EncodingKey::from_ec_der(der),
            x,
            y,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, for the tenant's JWKS endpoint.
    pub fn public_jwk(&self) -> Value {
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": self.x,
            "y": self.y,
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        })
    }

    /// `{"keys": [public_jwk]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk()] })
    }

    /// Signs `claims` as a compact JWS with header `{"alg":"ES256","typ":"kycd-evidence+jwt","kid":…}`.
    pub fn sign(&self, claims: &EvidenceClaims) -> Result<String, EvidenceError> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(JWT_TYP.to_owned());
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| EvidenceError::Key {
            reason: format!("signing failed: {e}"),
        })?;
        low_s(&token)
    }
}

/// The token with its signature in low-S form (s ≤ n/2): (r, s) and (r, n − s) both
/// verify, and [`verify`] accepts only the first, so that a token has one signature.
fn low_s(token: &str) -> Result<String, EvidenceError> {
    let bad = |reason: &str| EvidenceError::Key {
        reason: format!("signing failed: {reason}"),
    };
    let (signed, sig) = token.rsplit_once('.').ok_or_else(|| bad("no signature part"))?;
    let raw = URL_SAFE_NO_PAD.decode(sig).map_err(|_| bad("signature not base64url"))?;
    let sig = p256::ecdsa::Signature::from_slice(&raw).map_err(|_| bad("signature not 64 bytes"))?;
    Ok(match sig.normalize_s() {
        Some(low) => format!("{signed}.{}", URL_SAFE_NO_PAD.encode(low.to_bytes())),
        None => token.to_owned(),
    })
}

/// Refuse a signature whose s is in the upper half of the group order: a malleated copy
/// of a valid signature (kycd signs with low s only).
fn check_low_s(token: &str) -> Result<(), EvidenceError> {
    let sig = token.rsplit_once('.').map_or("", |(_, s)| s);
    let raw = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| EvidenceError::token("the signature is not base64url"))?;
    let sig = p256::ecdsa::Signature::from_slice(&raw)
        .map_err(|_| EvidenceError::token("the signature is not an ES256 signature (64 bytes, r and s in range)"))?;
    if sig.normalize_s().is_some() {
        return Err(EvidenceError::token(
            "the signature is in its high-S form, a malleated copy of a signature (kycd signs with low S only): \
             this token was altered after it was issued; fetch evidence.jwt from kycd again",
        ));
    }
    Ok(())
}

fn coordinates(secret: &p256::SecretKey) -> Result<(String, String), EvidenceError> {
    let point = secret.public_key().to_encoded_point(false);
    match (point.x(), point.y()) {
        (Some(x), Some(y)) => Ok((URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y))),
        _ => Err(EvidenceError::Key {
            reason: "the public key is the point at infinity".into(),
        }),
    }
}

/// RFC 7638 thumbprint of an EC public key: SHA-256 over the canonical JWK members.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The header fields an evidence token may carry, as sent.
struct TokenHeader {
    kid: String,
}

fn check_header(token: &str) -> Result<TokenHeader, EvidenceError> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(EvidenceError::token(format!(
            "a compact JWS has 3 dot-separated parts, this has {}; pass the content of evidence.jwt unchanged",
            parts.len()
        )));
    }
    let raw = URL_SAFE_NO_PAD
        .decode(parts[0])
        .map_err(|_| EvidenceError::token("the header is not base64url"))?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&raw).map_err(|_| EvidenceError::token("the header is not a JSON object"))?;
    match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => {}
        Some(alg) if alg.eq_ignore_ascii_case("none") => {
            return Err(EvidenceError::token(format!("alg '{alg}' (an unsigned token) is never accepted")));
        }
        Some(alg) => {
            return Err(EvidenceError::token(format!(
                "alg '{}' is not accepted: evidence tokens are signed with ES256 only",
                alg.chars().take(20).collect::<String>()
            )));
        }
        None => return Err(EvidenceError::token("the header has no alg")),
    }
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    if !typ.eq_ignore_ascii_case(JWT_TYP) {
        return Err(EvidenceError::token(format!(
            "typ is '{}' but an evidence token has typ '{JWT_TYP}'; this is some other kind of token",
            typ.chars().take(40).collect::<String>()
        )));
    }
    if header.contains_key("crit") {
        return Err(EvidenceError::token(
            "the header has a 'crit' member, which evidence tokens never use",
        ));
    }
    let kid = match header.get("kid").and_then(Value::as_str) {
        Some(k) if !k.is_empty() => k.to_owned(),
        _ => return Err(EvidenceError::token("the header has no kid, so no key of the JWKS can be chosen")),
    };
    Ok(TokenHeader { kid })
}

fn find_key(jwks: &Value, kid: &str) -> Result<DecodingKey, EvidenceError> {
    let keys = jwks.get("keys").and_then(Value::as_array).ok_or_else(|| EvidenceError::Jwks {
        reason: "it has no 'keys' array".into(),
    })?;
    let Some(jwk) = keys.iter().find(|k| k.get("kid").and_then(Value::as_str) == Some(kid)) else {
        let known: Vec<&str> = keys.iter().filter_map(|k| k.get("kid").and_then(Value::as_str)).collect();
        return Err(EvidenceError::token(format!(
            "it was signed with key '{kid}', which is not in the JWKS given (it holds: {}); fetch the JWKS of the tenant the evidence belongs to",
            if known.is_empty() { "no keys".to_owned() } else { known.join(", ") }
        )));
    };
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("kty") != Some("EC") || field("crv") != Some("P-256") {
        return Err(EvidenceError::Jwks {
            reason: format!("key '{kid}' is not an EC P-256 key"),
        });
    }
    if field("alg").is_some_and(|a| a != "ES256") || field("use").is_some_and(|u| u != "sig") {
        return Err(EvidenceError::Jwks {
            reason: format!("key '{kid}' is not meant for ES256 signatures (its alg/use say otherwise)"),
        });
    }
    let (Some(x), Some(y)) = (field("x"), field("y")) else {
        return Err(EvidenceError::Jwks {
            reason: format!("key '{kid}' has no x/y coordinates"),
        });
    };
    let coordinate_ok = |c: &str| URL_SAFE_NO_PAD.decode(c).is_ok_and(|b| b.len() == 32);
    if !coordinate_ok(x) || !coordinate_ok(y) {
        return Err(EvidenceError::Jwks {
            reason: format!("key '{kid}' has x/y that are not 32-byte base64url values"),
        });
    }
    DecodingKey::from_ec_components(x, y).map_err(|e| EvidenceError::Jwks {
        reason: format!("key '{kid}' is unusable: {e}"),
    })
}

/// The `kid` an evidence token names, once its header passed the RFC 8725 checks.
pub(crate) fn token_kid(token: &str) -> Result<String, EvidenceError> {
    check_header(token).map(|h| h.kid)
}

/// Verifies an evidence token against a trusted JWKS and returns its claims.
///
/// Refused: any `alg` but ES256 (`none` included), a `typ` other than
/// `kycd-evidence+jwt`, a `kid` not in `jwks`, a bad signature, and, when `expected_aud`
/// is given, a token made for another tenant. Evidence tokens do not expire.
pub fn verify(token: &str, jwks: &Value, expected_aud: Option<&str>) -> Result<EvidenceClaims, EvidenceError> {
    let token = token.trim();
    let header = check_header(token)?;
    check_low_s(token)?;
    let key = find_key(jwks, &header.kid)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    match expected_aud {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    let data = jsonwebtoken::decode::<EvidenceClaims>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        EvidenceError::token(match e.kind() {
            ErrorKind::InvalidSignature => {
                "the signature does not match: the token was changed after it was signed, or signed by another key".to_owned()
            }
            ErrorKind::InvalidAudience => format!("it was made for another tenant (expected aud '{}')", expected_aud.unwrap_or("")),
            ErrorKind::MissingRequiredClaim(c) => format!("the claim '{c}' is missing"),
            ErrorKind::Json(_) | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                format!("the payload is not a valid evidence claim set ({e})")
            }
            _ => e.to_string(),
        })
    })?;
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> EvidenceClaims {
        EvidenceClaims {
            iss: "https://kycd.example".into(),
            sub: "idv_abc".into(),
            aud: "ten_xyz".into(),
            iat: 1_773_478_800,
            jti: EvidenceClaims::new_jti(),
            outcome: "approved".into(),
            identity: Some(IdentityClaims {
                full_name: Some("Erika Mustermann".into()),
                birth_date: Some("1964-08-12".into()),
                document_number: None,
            }),
            files: vec![FileDigest {
                name: "report.json".into(),
                sha256: "ab".repeat(32),
            }],
        }
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn round_trip_and_header_shape() {
        let (signer, der) = EvidenceSigner::generate().unwrap();
        let token = signer.sign(&claims()).unwrap();
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], JWT_TYP);
        assert_eq!(header["kid"], signer.kid());
        let got = verify(&token, &signer.jwks(), Some("ten_xyz")).unwrap();
        assert_eq!(got, claims_with_jti(&got.jti));
        // The stored key loads back and signs tokens the same public key verifies.
        use secrecy::ExposeSecret;
        let again = EvidenceSigner::from_pkcs8(signer.kid(), der.expose_secret()).unwrap();
        assert_eq!(again.public_jwk(), signer.public_jwk());
        verify(&again.sign(&claims()).unwrap(), &signer.jwks(), None).unwrap();
        assert!(!format!("{signer:?} {:?}", got.identity).contains("Erika"));
    }

    fn claims_with_jti(jti: &str) -> EvidenceClaims {
        EvidenceClaims {
            jti: jti.into(),
            ..claims()
        }
    }

    #[test]
    fn jwk_has_the_rfc_7517_members_and_kid_is_the_thumbprint() {
        let (signer, _) = EvidenceSigner::generate().unwrap();
        let jwk = signer.public_jwk();
        for (k, v) in [("kty", "EC"), ("crv", "P-256"), ("alg", "ES256"), ("use", "sig")] {
            assert_eq!(jwk[k], v);
        }
        assert_eq!(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap().len(), 32);
        assert_eq!(jwk["kid"].as_str().unwrap().len(), 43);
    }

    #[test]
    fn signatures_are_low_s_and_the_high_s_twin_is_refused() {
        let (signer, _) = EvidenceSigner::generate().unwrap();
        let jwks = signer.jwks();
        let mut seen_twin = 0;
        for _ in 0..16 {
            let token = signer.sign(&claims()).unwrap();
            verify(&token, &jwks, None).unwrap();
            // (r, n - s): the same signature's malleated twin, valid ECDSA but high S.
            let (signed, sig) = token.rsplit_once('.').unwrap();
            let sig = p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
            assert!(sig.normalize_s().is_none(), "kycd signs with low S");
            let (r, s) = sig.split_scalars();
            let twin = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
            assert!(twin.normalize_s().is_some(), "the twin is high S");
            let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(twin.to_bytes()));
            let e = verify(&forged, &jwks, None).unwrap_err().to_string();
            assert!(e.contains("high-S"), "{e}");
            seen_twin += 1;
        }
        assert_eq!(seen_twin, 16);
    }

    #[test]
    fn tampered_payload_fails() {
        let (signer, _) = EvidenceSigner::generate().unwrap();
        let token = signer.sign(&claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["outcome"] = "declined".into();
        let forged = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
        let err = verify(&forged, &signer.jwks(), None).unwrap_err().to_string();
        assert!(err.contains("signature does not match"), "{err}");
    }

    #[test]
    fn alg_none_and_other_algorithms_fail() {
        let (signer, _) = EvidenceSigner::generate().unwrap();
        let token = signer.sign(&claims()).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        for alg in ["none", "None", "HS256", "ES384"] {
            let header = b64(&json!({"alg": alg, "typ": JWT_TYP, "kid": signer.kid()}));
            let err = verify(&format!("{header}.{payload}."), &signer.jwks(), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("alg '{alg}'")), "{err}");
        }
        // HS256 with the public key as the HMAC secret (key confusion) fails as well.
        let key = EncodingKey::from_secret(signer.public_jwk().to_string().as_bytes());
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some(JWT_TYP.into());
        h.kid = Some(signer.kid().into());
        let hs = jsonwebtoken::encode(&h, &claims(), &key).unwrap();
        assert!(verify(&hs, &signer.jwks(), None).is_err());
    }

    #[test]
    fn wrong_kid_wrong_typ_and_wrong_audience_fail() {
        let (signer, _) = EvidenceSigner::generate().unwrap();
        let (other, _) = EvidenceSigner::generate().unwrap();
        let token = signer.sign(&claims()).unwrap();
        let err = verify(&token, &other.jwks(), None).unwrap_err().to_string();
        assert!(err.contains(signer.kid()) && err.contains("not in the JWKS"), "{err}");
        // Same kid, other key: the signature does not match.
        let mut impostor_jwks = other.jwks();
        impostor_jwks["keys"][0]["kid"] = signer.kid().into();
        assert!(verify(&token, &impostor_jwks, None).unwrap_err().to_string().contains("signature"));
        let err = verify(&token, &signer.jwks(), Some("ten_other")).unwrap_err().to_string();
        assert!(err.contains("another tenant"), "{err}");
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(signer.kid().into());
        let plain_jwt = jsonwebtoken::encode(&h, &claims(), &signer.key).unwrap();
        assert!(
            verify(&plain_jwt, &signer.jwks(), None)
                .unwrap_err()
                .to_string()
                .contains("typ is 'JWT'")
        );
        assert!(verify("a.b", &signer.jwks(), None).is_err());
        assert!(verify(&token, &json!({}), None).unwrap_err().to_string().contains("keys"));
    }

    #[test]
    fn from_pkcs8_refuses_garbage() {
        assert!(EvidenceSigner::from_pkcs8("k1", b"not a key").is_err());
        let (_, der) = EvidenceSigner::generate().unwrap();
        use secrecy::ExposeSecret;
        assert!(EvidenceSigner::from_pkcs8("has space", der.expose_secret()).is_err());
    }
}
