#![no_main]
//! Webhook signatures kycd sends: Standard Webhooks `webhook-signature` (`v1,<base64>`,
//! one entry per live secret, during a rotation two) and Checkout's `Cko-Signature` (hex).
//! kycd only signs, so the receiver's side is the independent check in `kycd_fuzz`.
//!
//! Properties: `sign` never panics, whatever the secret; a signed message verifies with
//! each secret it was signed with; changing one byte of the body, the id or the timestamp
//! makes it fail; an arbitrary header never verifies a message and never panics.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kycd_engine::webhooks::{hmac_sha256_hex, sign};
use kycd_fuzz::{hex_hmac_verify, split_fields, standard_webhooks_verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([key, old_key, id, ts, flip, header], body) = split_fields::<6>(data, 64);
    let secret = format!("whsec_{}", STANDARD.encode(key));
    let old_secret = format!("whsec_{}", STANDARD.encode(old_key));
    let id = String::from_utf8_lossy(id);
    let mut ts_bytes = [0u8; 8];
    ts_bytes[..ts.len().min(8)].copy_from_slice(&ts[..ts.len().min(8)]);
    let ts = i64::from_le_bytes(ts_bytes);

    // A secret as stored (arbitrary text): no panic, and `None` unless it is whsec_<base64>.
    let text = String::from_utf8_lossy(header);
    if sign(&text, &id, ts, body).is_some() {
        assert!(text.starts_with("whsec_"));
    }
    // An arbitrary header verifies only if it carries the very signature.
    if standard_webhooks_verify(&secret, &text, &id, ts, body) {
        let sig = sign(&secret, &id, ts, body).expect("a whsec_ secret signs");
        assert!(text.split(' ').any(|e| e == sig));
    }

    // The header as kycd builds it during a rotation: both secrets, deduplicated.
    let mut sigs: Vec<String> = [Some(secret.as_str()), Some(old_secret.as_str())]
        .into_iter()
        .flatten()
        .filter_map(|s| sign(s, &id, ts, body))
        .collect();
    sigs.dedup();
    // HMAC pads keys up to its block (64 bytes, the longest key here) with zeros, so keys
    // that differ only in trailing zeros are the same key.
    let trim = |k: &[u8]| k.len() - k.iter().rev().take_while(|&&b| b == 0).count();
    let same_key = key[..trim(key)] == old_key[..trim(old_key)];
    assert_eq!(sigs.len(), if same_key { 1 } else { 2 });
    let header = sigs.join(" ");
    assert!(standard_webhooks_verify(&secret, &header, &id, ts, body));
    assert!(standard_webhooks_verify(&old_secret, &header, &id, ts, body));

    // One byte changed: the body, the id, or the timestamp.
    let pos = flip.first().copied().unwrap_or(0) as usize;
    let bit = flip.get(1).copied().unwrap_or(1) | 1;
    if !body.is_empty() {
        let mut tampered = body.to_vec();
        tampered[pos % body.len()] ^= bit;
        assert!(!standard_webhooks_verify(&secret, &header, &id, ts, &tampered));
    }
    // (An ASCII id: a change keeps its length, so the signed string cannot realign.)
    if id.is_ascii() {
        let mut other_id = id.as_bytes().to_vec();
        let at = pos % other_id.len().max(1);
        match other_id.get_mut(at) {
            Some(b) => *b = if b.is_ascii_alphanumeric() { b'_' } else { b'a' },
            None => other_id.push(b'a'),
        }
        let other_id = String::from_utf8_lossy(&other_id);
        assert!(!standard_webhooks_verify(&secret, &header, &other_id, ts, body));
    }
    assert!(!standard_webhooks_verify(&secret, &header, &id, ts ^ i64::from(bit), body));

    // Cko-Signature: keyed with the whole secret string.
    let cko = hmac_sha256_hex(secret.as_bytes(), body);
    assert!(hex_hmac_verify(secret.as_bytes(), &cko, body));
    if !body.is_empty() {
        let mut tampered = body.to_vec();
        tampered[pos % body.len()] ^= bit;
        assert!(!hex_hmac_verify(secret.as_bytes(), &cko, &tampered));
    }
});
