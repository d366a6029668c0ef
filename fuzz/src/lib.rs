//! Shared fixtures for the fuzz targets and the corpus generator.

use kycd_evidence::EvidenceSigner;

/// A fixed, test-only P-256 key (scalar 0x07…07), so corpus tokens verify in the target.
pub fn test_signer() -> EvidenceSigner {
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::from_slice(&[7u8; 32]).expect("valid scalar");
    let der = secret.to_pkcs8_der().expect("pkcs8");
    EvidenceSigner::from_pkcs8("fuzz-test-key", der.as_bytes()).expect("key loads")
}

/// The day two-digit MRZ years are read against; fixed so runs are reproducible.
pub fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 2).expect("valid date")
}

/// The upload limit the `multipart` target runs under: small, so the 413 path is reachable
/// with fuzzer-sized inputs (kycd's default is 15 MiB).
pub const MULTIPART_LIMIT: usize = 2048;

/// A `multipart/form-data` body with one part per `(name, filename, bytes)`, as a browser
/// or an SDK sends it; the boundary must not occur in any part.
pub fn multipart_body(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, bytes) in parts {
        out.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(f) = filename {
            out.extend_from_slice(format!("; filename=\"{f}\"\r\nContent-Type: application/octet-stream").as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// A receiver's check of a Standard Webhooks `webhook-signature` header, written from the
/// specification independently of kycd's signer: the header is space-separated
/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` entries, and one matching
/// entry is enough; other versions are skipped. `secret` is `whsec_<base64 key>`.
pub fn standard_webhooks_verify(secret: &str, header: &str, id: &str, timestamp: i64, body: &[u8]) -> bool {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hmac::Mac as _;
    let Some(key) = secret.strip_prefix("whsec_").and_then(|k| STANDARD.decode(k).ok()) else {
        return false;
    };
    header.split(' ').filter_map(|entry| entry.strip_prefix("v1,")).any(|sig| {
        let Ok(sig) = STANDARD.decode(sig) else { return false };
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    })
}

/// Hex HMAC-SHA256 check of a body-only signature header (`Cko-Signature`).
pub fn hex_hmac_verify(key: &[u8], header: &str, body: &[u8]) -> bool {
    use hmac::Mac as _;
    let Ok(sig) = hex::decode(header.trim()) else { return false };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Splits fuzz input into length-prefixed fields: each field takes a length byte (mod
/// `max + 1`) and that many bytes (fewer at the end); the rest is returned last.
pub fn split_fields<'a, const N: usize>(mut data: &'a [u8], max: usize) -> ([&'a [u8]; N], &'a [u8]) {
    let mut out = [&[][..]; N];
    for slot in &mut out {
        let Some((&len, rest)) = data.split_first() else { break };
        let len = usize::from(len) % (max + 1);
        let (field, rest) = rest.split_at(len.min(rest.len()));
        *slot = field;
        data = rest;
    }
    (out, data)
}
