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
