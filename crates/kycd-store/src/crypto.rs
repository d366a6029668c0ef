//! Envelope encryption. The master key (32 random bytes, outside the database) derives one
//! key set per tenant with HKDF; each blob gets its own random data key, wrapped by the
//! tenant key. Personal fields in SQL are sealed with the tenant key; lookups go through a
//! keyed hash (blind index), never plaintext.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use kycd_core::TenantId;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

const SEALED_PREFIX: &str = "v1.";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key file must hold exactly 32 bytes (or 64 hex characters), found {0} bytes")]
    BadMasterKey(usize),
    #[error("decryption failed: wrong master key, or the data was altered")]
    Decrypt,
}

pub struct MasterKey(SecretBox<[u8; 32]>);

impl MasterKey {
    pub fn generate() -> (Self, [u8; 32]) {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        (Self(SecretBox::new(Box::new(k))), k)
    }
    /// Accepts the raw 32 bytes or 64 hex characters (with optional trailing newline).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let trimmed = std::str::from_utf8(bytes).map(str::trim).ok();
        let raw: Vec<u8> = match trimmed.and_then(|s| if s.len() == 64 { hex::decode(s).ok() } else { None }) {
            Some(v) => v,
            None => bytes.to_vec(),
        };
        let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| CryptoError::BadMasterKey(raw.len()))?;
        Ok(Self(SecretBox::new(Box::new(arr))))
    }

    /// The key check value: HMAC-SHA256 of a fixed label under the key, in hex. Kept in the
    /// database, it tells the right key from a wrong one and reveals nothing of either.
    pub fn check_value(&self) -> String {
        // HMAC accepts keys of any length, so construction cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret()).unwrap_or_else(|_| unreachable!());
        mac.update(b"kycd master key check v1");
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn tenant_keys(&self, tenant: &TenantId) -> TenantKeys {
        let hk = Hkdf::<Sha256>::new(Some(b"kycd tenant keys v1"), self.0.expose_secret());
        let mut enc = [0u8; 32];
        let mut bidx = [0u8; 32];
        let mut token = [0u8; 32];
        // Infallible: 32 bytes is far below HKDF-SHA256's 8160-byte limit.
        let _ = hk.expand(format!("enc:{tenant}").as_bytes(), &mut enc);
        let _ = hk.expand(format!("bidx:{tenant}").as_bytes(), &mut bidx);
        let _ = hk.expand(format!("token:{tenant}").as_bytes(), &mut token);
        TenantKeys {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&enc)),
            bidx_key: bidx,
            token_key: token,
        }
    }
}

pub struct TenantKeys {
    cipher: Aes256Gcm,
    bidx_key: [u8; 32],
    token_key: [u8; 32],
}

fn seal_with(cipher: &Aes256Gcm, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    // AES-GCM encryption only fails for inputs over 64 GiB, which never reach here.
    let ct = cipher.encrypt(&nonce, Payload { msg: plain, aad }).unwrap_or_default();
    let mut out = Vec::with_capacity(12 + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_with(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < 12 + 16 {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, ct) = sealed.split_at(12);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| CryptoError::Decrypt)
}

impl TenantKeys {
    /// Seal a small value for a SQL text column. `aad` binds it to its row and column.
    pub fn seal_text(&self, aad: &str, plain: &[u8]) -> String {
        format!("{SEALED_PREFIX}{}", B64.encode(seal_with(&self.cipher, aad.as_bytes(), plain)))
    }
    pub fn open_text(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let b = sealed.strip_prefix(SEALED_PREFIX).ok_or(CryptoError::Decrypt)?;
        let raw = B64.decode(b).map_err(|_| CryptoError::Decrypt)?;
        open_with(&self.cipher, aad.as_bytes(), &raw)
    }
    /// Keyed hash for equality lookups; differs per tenant and per purpose.
    pub fn blind_index(&self, purpose: &str, value: &str) -> String {
        // HMAC accepts keys of any length, so construction cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.bidx_key).unwrap_or_else(|_| unreachable!());
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
    /// The HMAC key that signs the tenant's JWT-shaped access tokens (a dialect whose
    /// clients expect a JWT): derived like the others, so it needs no storage or rotation
    /// of its own, and a token of one tenant never verifies under another's key.
    pub fn access_token_key(&self) -> &[u8] {
        &self.token_key
    }
    pub fn wrap_data_key(&self, file_id: &str, dk: &DataKey) -> String {
        self.seal_text(&crate::sealed::aad::data_key(file_id), dk.0.expose_secret())
    }
    pub fn unwrap_data_key(&self, file_id: &str, wrapped: &str) -> Result<DataKey, CryptoError> {
        let raw = self.open_text(&crate::sealed::aad::data_key(file_id), wrapped)?;
        let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| CryptoError::Decrypt)?;
        Ok(DataKey(SecretBox::new(Box::new(arr))))
    }
}

/// A blob's own AES-256 key.
pub struct DataKey(SecretBox<[u8; 32]>);

impl DataKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        Self(SecretBox::new(Box::new(k)))
    }
    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.expose_secret()))
    }
    pub fn seal(&self, aad: &str, plain: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher(), aad.as_bytes(), plain)
    }
    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.cipher(), aad.as_bytes(), sealed)
    }
    /// Seal a blob in the chunked format, which a download decrypts chunk by chunk.
    pub fn seal_chunked(&self, aad: &str, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(crate::chunked::seal(
            &self.chunk_cipher()?,
            aad.as_bytes(),
            plain,
            crate::chunked::DEFAULT_CHUNK,
        ))
    }
    fn chunk_cipher(&self) -> Result<crate::chunked::ChunkCipher, CryptoError> {
        crate::chunked::ChunkCipher::new(self.0.expose_secret())
    }
    /// Open a blob of either format (chunked, or the older single piece).
    pub fn open_blob(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if crate::chunked::is_chunked(sealed) {
            crate::chunked::open(self.chunk_cipher()?, aad.as_bytes(), sealed)
        } else {
            self.open(aad, sealed)
        }
    }
    /// An opener for a chunked blob of known length read in pieces of whole chunks.
    pub fn file_opener(&self, aad: &str, header: &[u8], sealed_len: u64) -> Result<crate::chunked::FileOpener, CryptoError> {
        crate::chunked::FileOpener::new(self.chunk_cipher()?, aad.as_bytes(), header, sealed_len)
    }
    /// A streaming opener for a chunked blob.
    pub fn chunk_opener(&self, aad: &str) -> Result<crate::chunked::Opener, CryptoError> {
        Ok(crate::chunked::Opener::new(self.chunk_cipher()?, aad.as_bytes()))
    }
}

/// SHA-256 of a high-entropy secret (API key, start token). A fast hash is right here:
/// the secrets are 32+ random characters, so there is nothing to brute-force.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let (mk, _) = MasterKey::generate();
        let t1: TenantId = "ten_a".parse().unwrap();
        let t2: TenantId = "ten_b".parse().unwrap();
        let k1 = mk.tenant_keys(&t1);
        let s = k1.seal_text("row1:name", b"Jane Doe");
        assert!(!s.contains("Jane"));
        assert_eq!(k1.open_text("row1:name", &s).unwrap(), b"Jane Doe");
        assert!(k1.open_text("row2:name", &s).is_err(), "aad binds the row");
        assert!(mk.tenant_keys(&t2).open_text("row1:name", &s).is_err(), "other tenant cannot read");
        assert_ne!(k1.blind_index("email", "a@b.c"), mk.tenant_keys(&t2).blind_index("email", "a@b.c"));
        assert_eq!(k1.blind_index("email", "a@b.c"), k1.blind_index("email", "a@b.c"));
        assert_ne!(k1.access_token_key(), mk.tenant_keys(&t2).access_token_key());
        assert_eq!(k1.access_token_key(), mk.tenant_keys(&t1).access_token_key());
        assert_ne!(k1.access_token_key(), k1.bidx_key.as_slice(), "one key per purpose");
    }

    #[test]
    fn data_keys_wrap_and_seal() {
        let (mk, raw) = MasterKey::generate();
        let mk2 = MasterKey::from_file_bytes(hex::encode(raw).as_bytes()).unwrap();
        let t: TenantId = "ten_a".parse().unwrap();
        let dk = DataKey::generate();
        let sealed = dk.seal("file_x", b"image bytes");
        let wrapped = mk.tenant_keys(&t).wrap_data_key("file_x", &dk);
        let dk2 = mk2.tenant_keys(&t).unwrap_data_key("file_x", &wrapped).unwrap();
        assert_eq!(dk2.open("file_x", &sealed).unwrap(), b"image bytes");
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(dk2.open("file_x", &tampered).is_err());
        assert!(MasterKey::from_file_bytes(b"short").is_err());
    }

    #[test]
    fn blobs_of_both_formats_open() {
        let dk = DataKey::generate();
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let old = dk.seal("file_x", &plain);
        let new = dk.seal_chunked("file_x", &plain).unwrap();
        assert!(!crate::chunked::is_chunked(&old) && crate::chunked::is_chunked(&new));
        assert_eq!(dk.open_blob("file_x", &old).unwrap(), plain, "an older blob stays readable");
        assert_eq!(dk.open_blob("file_x", &new).unwrap(), plain);
        assert!(DataKey::generate().open_blob("file_x", &new).is_err(), "another key");
        assert!(dk.open_blob("file_y", &new).is_err(), "another file");
    }

    #[test]
    fn check_value_tells_keys_apart_and_is_stable() {
        let (a, raw) = MasterKey::generate();
        let (b, _) = MasterKey::generate();
        let a2 = MasterKey::from_file_bytes(&raw).unwrap();
        assert_eq!(a.check_value(), a2.check_value());
        assert_ne!(a.check_value(), b.check_value());
        assert_eq!(a.check_value().len(), 64);
        assert!(!a.check_value().contains(&hex::encode(raw)), "the key itself is not in it");
    }
}
