#![no_main]
//! Evidence JWS verification against a trusted JWKS: arbitrary token text.

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static JWKS: OnceLock<serde_json::Value> = OnceLock::new();
    let jwks = JWKS.get_or_init(|| kycd_fuzz::test_signer().jwks());
    let Ok(token) = std::str::from_utf8(data) else { return };
    if let Ok(claims) = kycd_evidence::verify(token, jwks, None) {
        // Anything accepted must carry the required claims and verify for its own audience.
        assert!(kycd_evidence::verify(token, jwks, Some(&claims.aud)).is_ok());
    }
});
