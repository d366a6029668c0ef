//! The chunked blob format (blobs written since 2026-12-07): a download decrypts and sends
//! one chunk at a time, so it holds one chunk in memory, not the whole file.
//!
//! `MAGIC (8) | chunk size (u32 BE) | nonce prefix (7 random bytes)`, then the chunks, each
//! `ciphertext (chunk size bytes; the last one 0..=chunk size) | tag (16)`, sealed with
//! AES-256-GCM under the blob's own data key, nonce `prefix | index (u32 BE) | last (0 or 1)`
//! and associated data `file aad | header`. A chunk moved, dropped or repeated, a stream cut
//! at a chunk boundary, or bytes appended fail to open (the STREAM construction of Hoang,
//! Reyhanitabar, Rogaway and Vizár). Blobs of the older format (`nonce (12) | ciphertext |
//! tag`, one piece) stay readable: [`is_chunked`] tells the two apart.

use crate::crypto::CryptoError;
use rand::RngCore;
use rand::rngs::OsRng;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// AES-256-GCM for the chunks, from ring rather than the aes-gcm crate that seals the
/// rest: ring's assembly hashes several blocks per GHASH step, and the aes-gcm crate's
/// one-block-at-a-time GHASH was most of a download's CPU (perf, 2026-12-07,
/// docs/BENCHMARKS.md). The same algorithm, nonce, associated data and tag layout, so the
/// blobs are the same bytes either way (`ring_and_aes_gcm_seal_the_same_bytes`).
pub struct ChunkCipher(LessSafeKey);

impl ChunkCipher {
    pub fn new(key: &[u8; 32]) -> Result<Self, CryptoError> {
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Decrypt)?;
        Ok(Self(LessSafeKey::new(key)))
    }
}

pub const MAGIC: &[u8; 8] = b"kycdCH1\n";
pub const HEADER_LEN: usize = MAGIC.len() + 4 + PREFIX_LEN;
pub const TAG_LEN: usize = 16;
/// Plaintext bytes per chunk of new blobs.
pub const DEFAULT_CHUNK: u32 = 64 * 1024;
/// The largest chunk a header may declare: a bound on what one download holds in memory.
pub const MAX_CHUNK: u32 = 4 << 20;
const PREFIX_LEN: usize = 7;

/// Whether a sealed blob (its first bytes suffice) is of the chunked format.
pub fn is_chunked(sealed_start: &[u8]) -> bool {
    sealed_start.starts_with(MAGIC)
}

fn nonce(prefix: &[u8; PREFIX_LEN], index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

fn chunk_aad(file_aad: &[u8], header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(file_aad.len() + header.len());
    aad.extend_from_slice(file_aad);
    aad.extend_from_slice(header);
    aad
}

/// A header's sealed chunk length (chunk size and tag) and nonce prefix; a header that is
/// not of this format or declares a chunk of 0 or over [`MAX_CHUNK`] bytes is refused.
fn parse_header(header: &[u8]) -> Result<(usize, [u8; PREFIX_LEN]), CryptoError> {
    if header.len() < HEADER_LEN || !is_chunked(header) {
        return Err(CryptoError::Decrypt);
    }
    let mut size = [0u8; 4];
    size.copy_from_slice(&header[MAGIC.len()..MAGIC.len() + 4]);
    let chunk = u32::from_be_bytes(size);
    if chunk == 0 || chunk > MAX_CHUNK {
        return Err(CryptoError::Decrypt);
    }
    let mut prefix = [0u8; PREFIX_LEN];
    prefix.copy_from_slice(&header[MAGIC.len() + 4..HEADER_LEN]);
    Ok((chunk as usize + TAG_LEN, prefix))
}

/// Seal `plain` in chunks of `chunk` bytes (1..=[`MAX_CHUNK`]).
pub fn seal(cipher: &ChunkCipher, file_aad: &[u8], plain: &[u8], chunk: u32) -> Vec<u8> {
    let chunk = chunk.clamp(1, MAX_CHUNK);
    let mut prefix = [0u8; PREFIX_LEN];
    OsRng.fill_bytes(&mut prefix);
    let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + (plain.len() / chunk as usize + 1) * TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&chunk.to_be_bytes());
    out.extend_from_slice(&prefix);
    let aad = chunk_aad(file_aad, &out[..HEADER_LEN]);
    let pieces: Vec<&[u8]> = if plain.is_empty() {
        vec![&[]]
    } else {
        plain.chunks(chunk as usize).collect()
    };
    let n = pieces.len();
    for (i, piece) in pieces.into_iter().enumerate() {
        // u32 chunks of at least 1 byte: more than the 64 GiB AES-GCM bound of one upload.
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let nonce = Nonce::assume_unique_for_key(nonce(&prefix, index, i + 1 == n));
        let start = out.len();
        out.extend_from_slice(piece);
        // AES-GCM sealing only fails for inputs over 64 GiB, which never reach here; the
        // chunk is then left out and the blob fails to open.
        match cipher.0.seal_in_place_separate_tag(nonce, Aad::from(&aad), &mut out[start..]) {
            Ok(tag) => out.extend_from_slice(tag.as_ref()),
            Err(_) => out.truncate(start),
        }
    }
    out
}

/// Opens a chunked blob fed in pieces of any size: [`Opener::push`] gives back the
/// plaintext of each chunk as soon as it is known not to be the last, [`Opener::finish`]
/// checks and gives the last. Memory: one chunk plus the piece pushed.
pub struct Opener {
    cipher: ChunkCipher,
    file_aad: Vec<u8>,
    aad: Vec<u8>,
    prefix: [u8; PREFIX_LEN],
    sealed_chunk: usize,
    index: u32,
    header_read: bool,
    buf: Vec<u8>,
}

impl Opener {
    pub fn new(cipher: ChunkCipher, file_aad: &[u8]) -> Self {
        Self {
            cipher,
            file_aad: file_aad.to_vec(),
            aad: Vec::new(),
            prefix: [0; PREFIX_LEN],
            sealed_chunk: 0,
            index: 0,
            header_read: false,
            buf: Vec::new(),
        }
    }

    /// Open one sealed chunk (ciphertext and tag) onto the end of `out`.
    fn open_chunk(&self, sealed: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let nonce = Nonce::assume_unique_for_key(nonce(&self.prefix, self.index, last));
        let start = out.len();
        out.extend_from_slice(sealed);
        match self.cipher.0.open_in_place(nonce, Aad::from(&self.aad), &mut out[start..]) {
            Ok(plain) => {
                let n = plain.len();
                out.truncate(start + n);
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(CryptoError::Decrypt)
            }
        }
    }

    /// Take the next bytes of the sealed blob; the plaintext of the chunks they complete.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.buf.extend_from_slice(data);
        if !self.header_read {
            if self.buf.len() < HEADER_LEN {
                return Ok(Vec::new());
            }
            let header = &self.buf[..HEADER_LEN];
            (self.sealed_chunk, self.prefix) = parse_header(header)?;
            self.aad = chunk_aad(&self.file_aad, header);
            self.buf.drain(..HEADER_LEN);
            self.header_read = true;
        }
        let mut out = Vec::new();
        let mut at = 0;
        // A full chunk followed by more bytes is not the last one.
        while self.buf.len() - at > self.sealed_chunk {
            self.open_chunk(&self.buf[at..at + self.sealed_chunk], false, &mut out)?;
            at += self.sealed_chunk;
            self.index = self.index.checked_add(1).ok_or(CryptoError::Decrypt)?;
        }
        self.buf.drain(..at);
        Ok(out)
    }

    /// The end of the sealed blob: the last chunk's plaintext, or an error when the blob
    /// was cut short, extended or altered.
    pub fn finish(self) -> Result<Vec<u8>, CryptoError> {
        if !self.header_read || self.buf.len() < TAG_LEN || self.buf.len() > self.sealed_chunk {
            return Err(CryptoError::Decrypt);
        }
        let mut out = Vec::with_capacity(self.buf.len());
        self.open_chunk(&self.buf, true, &mut out)?;
        Ok(out)
    }
}

/// Opens a chunked blob whose sealed length is known (a file of the local blob folder),
/// from pieces that each hold whole chunks: every chunk is opened in the buffer it was
/// read into and handed on as a slice of it, so a download copies nothing in user space
/// besides the read itself. ([`Opener`] takes pieces cut anywhere, as an S3 stream gives
/// them, and copies each byte twice to reassemble its chunks.) Knowing the length tells
/// which chunk is the last, so a cut, extended or reordered file fails as with [`Opener`].
pub struct FileOpener {
    cipher: ChunkCipher,
    aad: Vec<u8>,
    prefix: [u8; PREFIX_LEN],
    sealed_chunk: usize,
    index: u32,
    /// Sealed bytes after the header not yet opened.
    left: u64,
}

impl FileOpener {
    /// From the blob's first [`HEADER_LEN`] bytes and its whole sealed length.
    pub fn new(cipher: ChunkCipher, file_aad: &[u8], header: &[u8], sealed_len: u64) -> Result<Self, CryptoError> {
        let header = header.get(..HEADER_LEN).ok_or(CryptoError::Decrypt)?;
        let (sealed_chunk, prefix) = parse_header(header)?;
        let left = sealed_len.checked_sub(HEADER_LEN as u64).ok_or(CryptoError::Decrypt)?;
        // At least the last chunk's tag.
        if left < TAG_LEN as u64 {
            return Err(CryptoError::Decrypt);
        }
        Ok(Self {
            cipher,
            aad: chunk_aad(file_aad, header),
            prefix,
            sealed_chunk,
            index: 0,
            left,
        })
    }

    /// The length the next piece must have: as many whole chunks as fit in `about` bytes
    /// (at least one), or the rest of the file. Zero when everything was opened.
    pub fn next_piece_len(&self, about: usize) -> usize {
        let whole = (about / self.sealed_chunk).max(1) * self.sealed_chunk;
        usize::try_from(self.left).map_or(whole, |left| whole.min(left))
    }

    /// Open the next piece, of [`FileOpener::next_piece_len`] bytes: the plaintext of each
    /// of its chunks, slices of `piece`'s buffer (which they keep alive).
    pub fn open_piece<B>(&mut self, mut owner: B) -> Result<Vec<bytes::Bytes>, CryptoError>
    where
        B: AsRef<[u8]> + AsMut<[u8]> + Send + 'static,
    {
        let piece = owner.as_mut();
        let len = piece.len() as u64;
        let ends_file = len == self.left;
        if piece.is_empty() || len > self.left || (!ends_file && !piece.len().is_multiple_of(self.sealed_chunk)) {
            return Err(CryptoError::Decrypt);
        }
        let mut plain = Vec::with_capacity(piece.len() / self.sealed_chunk + 1);
        let mut at = 0;
        while at < piece.len() {
            let end = (at + self.sealed_chunk).min(piece.len());
            let last = ends_file && end == piece.len();
            let nonce = Nonce::assume_unique_for_key(nonce(&self.prefix, self.index, last));
            let n = self
                .cipher
                .0
                .open_in_place(nonce, Aad::from(&self.aad), &mut piece[at..end])
                .map_err(|_| CryptoError::Decrypt)?
                .len();
            plain.push(at..at + n);
            self.index = self.index.checked_add(1).ok_or(CryptoError::Decrypt)?;
            at = end;
        }
        self.left -= len;
        let buffer = bytes::Bytes::from_owner(owner);
        Ok(plain.into_iter().filter(|r| !r.is_empty()).map(|r| buffer.slice(r)).collect())
    }
}

/// Open a whole chunked blob held in memory.
pub fn open(cipher: ChunkCipher, file_aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut o = Opener::new(cipher, file_aad);
    let mut plain = o.push(sealed)?;
    plain.extend_from_slice(&o.finish()?);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cipher() -> ChunkCipher {
        ChunkCipher::new(&[7u8; 32]).unwrap()
    }

    /// Blobs sealed before the chunks moved to ring (aes-gcm) open, and the reverse.
    #[test]
    fn ring_and_aes_gcm_seal_the_same_bytes() {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let reference = aes_gcm::Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap();
        let plain = data(100);
        let sealed = seal(&cipher(), b"f", &plain, 40);
        let aad = chunk_aad(b"f", &sealed[..HEADER_LEN]);
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&sealed[MAGIC.len() + 4..HEADER_LEN]);
        let mut by_reference = sealed[..HEADER_LEN].to_vec();
        for (i, piece) in plain.chunks(40).enumerate() {
            let n = nonce(&prefix, i as u32, i == 2);
            let payload = Payload { msg: piece, aad: &aad };
            by_reference.extend(reference.encrypt(aes_gcm::Nonce::from_slice(&n), payload).unwrap());
        }
        assert_eq!(by_reference, sealed);
        assert_eq!(open(cipher(), b"f", &by_reference).unwrap(), plain);
    }

    /// Open a whole sealed blob as a file is read: pieces of whole chunks, about `about` bytes.
    fn open_as_file(file_aad: &[u8], sealed: &[u8], about: usize) -> Result<Vec<u8>, CryptoError> {
        let mut o = FileOpener::new(cipher(), file_aad, sealed, sealed.len() as u64)?;
        let mut at = HEADER_LEN.min(sealed.len());
        let mut plain = Vec::new();
        loop {
            let n = o.next_piece_len(about);
            if n == 0 {
                break;
            }
            let piece = sealed.get(at..at + n).ok_or(CryptoError::Decrypt)?.to_vec();
            for b in o.open_piece(piece)? {
                plain.extend_from_slice(&b);
            }
            at += n;
        }
        Ok(plain)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_every_boundary() {
        for n in [0, 1, 15, 16, 17, 32, 33, 100] {
            let plain = data(n);
            let sealed = seal(&cipher(), b"file_a", &plain, 16);
            assert!(is_chunked(&sealed));
            assert_eq!(open(cipher(), b"file_a", &sealed).unwrap(), plain, "{n} bytes");
            assert!(open(cipher(), b"file_b", &sealed).is_err(), "the file id is bound");
            for about in [1, 32, 64, 1000] {
                assert_eq!(
                    open_as_file(b"file_a", &sealed, about).unwrap(),
                    plain,
                    "{n} bytes, pieces of {about}"
                );
            }
            assert!(open_as_file(b"file_b", &sealed, 64).is_err(), "the file id is bound");
        }
    }

    /// Chunks of a 5-chunk blob (16 bytes each) and its header.
    fn split(sealed: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
        let (h, rest) = sealed.split_at(HEADER_LEN);
        (h.to_vec(), rest.chunks(16 + TAG_LEN).map(<[u8]>::to_vec).collect())
    }

    #[test]
    fn cut_reordered_repeated_or_extended_streams_are_refused() {
        let plain = data(80);
        let sealed = seal(&cipher(), b"f", &plain, 16);
        let (h, c) = split(&sealed);
        assert_eq!(c.len(), 5);
        let join = |parts: &[&Vec<u8>]| {
            let mut v = h.clone();
            for p in parts {
                v.extend_from_slice(p);
            }
            v
        };
        let cases = [
            ("cut at a chunk boundary", join(&[&c[0], &c[1], &c[2], &c[3]])),
            ("two chunks swapped", join(&[&c[0], &c[2], &c[1], &c[3], &c[4]])),
            ("a chunk repeated", join(&[&c[0], &c[1], &c[1], &c[2], &c[3], &c[4]])),
            ("a chunk dropped", join(&[&c[0], &c[2], &c[3], &c[4]])),
            ("the last chunk repeated", join(&[&c[0], &c[1], &c[2], &c[3], &c[4], &c[4]])),
            ("header only", h.clone()),
            ("cut inside a chunk", sealed[..sealed.len() - 3].to_vec()),
        ];
        for (what, bytes) in cases {
            assert!(open(cipher(), b"f", &bytes).is_err(), "{what} must not open");
            for about in [1, 64, 1000] {
                assert!(open_as_file(b"f", &bytes, about).is_err(), "{what} must not open as a file");
            }
        }
        // A streaming reader gets the good chunks first, then the error: never a short
        // plaintext that looks complete.
        let mut o = Opener::new(cipher(), b"f");
        let first = o.push(&join(&[&c[0], &c[1], &c[2], &c[3]])).unwrap();
        assert_eq!(first, plain[..48]);
        assert!(o.finish().is_err());
    }

    #[test]
    fn a_header_that_declares_a_huge_chunk_is_refused() {
        let mut sealed = seal(&cipher(), b"f", &data(10), 16);
        sealed[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&(MAX_CHUNK + 1).to_be_bytes());
        assert!(open(cipher(), b"f", &sealed).is_err());
        assert!(open_as_file(b"f", &sealed, 64).is_err());
    }

    /// A piece of another length than asked for is refused, not opened at a wrong offset.
    #[test]
    fn a_file_piece_of_the_wrong_length_is_refused() {
        let sealed = seal(&cipher(), b"f", &data(80), 16);
        let mut o = FileOpener::new(cipher(), b"f", &sealed, sealed.len() as u64).unwrap();
        assert_eq!(o.next_piece_len(40), 32);
        assert!(o.open_piece(sealed[HEADER_LEN..HEADER_LEN + 40].to_vec()).is_err());
        assert!(o.open_piece(Vec::new()).is_err());
        assert!(FileOpener::new(cipher(), b"f", &sealed[..HEADER_LEN - 1], 100).is_err());
        assert!(FileOpener::new(cipher(), b"f", &sealed, HEADER_LEN as u64 + 3).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any split of the stream into pushes gives the same plaintext.
        #[test]
        fn pushes_of_any_size_give_the_plaintext(n in 0usize..200, chunk in 1u32..40, cuts in proptest::collection::vec(0usize..300, 0..8), about in 1usize..300) {
            let plain = data(n);
            let sealed = seal(&cipher(), b"f", &plain, chunk);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(sealed.len())).collect();
            cuts.sort_unstable();
            let mut o = Opener::new(cipher(), b"f");
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([sealed.len()]) {
                got.extend(o.push(&sealed[at..c]).unwrap());
                at = c;
            }
            got.extend(o.finish().unwrap());
            prop_assert_eq!(&got, &plain);
            prop_assert_eq!(open_as_file(b"f", &sealed, about).unwrap(), plain);
        }

        /// The parser takes any bytes without panicking; any change to a sealed blob fails.
        #[test]
        fn arbitrary_or_altered_input_is_refused(junk in proptest::collection::vec(any::<u8>(), 0..200), at in any::<usize>(), bit in 0u8..8) {
            let _ = open(cipher(), b"f", &junk);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&junk);
            let _ = open(cipher(), b"f", &with_magic);
            let mut sealed = seal(&cipher(), b"f", &data(70), 16);
            let i = at % sealed.len();
            sealed[i] ^= 1 << bit;
            prop_assert!(open(cipher(), b"f", &sealed).is_err());
            prop_assert!(open_as_file(b"f", &sealed, 40).is_err());
            let _ = open_as_file(b"f", &with_magic, 40);
        }
    }
}
