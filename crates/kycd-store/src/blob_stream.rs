//! Reading a blob back as a stream of plaintext ([`crate::Store::get_blob_stream`]).
//!
//! A file of the local blob folder is read in pieces of whole chunks, each opened in the
//! buffer it was read into and sent on as slices of it ([`chunked::FileOpener`]): the read
//! is the only copy in user space. A piece the page cache holds is read on the async thread
//! ([`read_cached`]); any other on the blocking pool. (object_store's own file stream reads
//! 8 KiB per blocking task, and a 3.2 MB download then spent most of its CPU handing those
//! tasks to threads: perf, 2026-12-07, docs/BENCHMARKS.md.) Any other store (S3) gives
//! pieces cut anywhere, which [`chunked::Opener`] reassembles.

use crate::crypto::DataKey;
use crate::{BlobStream, Result, StoreError, chunked};
use bytes::Bytes;
use futures::StreamExt;
use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};

/// How much of a local blob file one read takes: four chunks of the chunked format
/// (256 KiB). A piece is read, opened in place and sent while it is still in the core's
/// L2 cache (1 MiB here); with the read on the async thread (see [`read_cached`]) a piece
/// costs no thread hand-off, and 256 KiB pieces cost ~10 % less CPU per 3.2 MB download
/// than 1 MiB ones (docs/BENCHMARKS.md, 2026-12-07, fifth measure).
const FILE_READ_PIECE: usize = 4 * (chunked::DEFAULT_CHUNK as usize + chunked::TAG_LEN);

pub(crate) async fn plaintext(got: object_store::GetResult, dk: DataKey, aad: String) -> Result<BlobStream> {
    match got.payload {
        object_store::GetResultPayload::File(file, _) => local(file, got.range, dk, aad, Reads::CachedFirst).await,
        object_store::GetResultPayload::Stream(src) => streamed(src, dk, aad).await,
    }
}

/// Exactly `n` bytes from where the file stands (`read_to_end` fills the buffer without
/// zeroing it first); fewer means the file is shorter than the store said.
fn read_exactly(file: &mut std::fs::File, n: usize) -> std::io::Result<Vec<u8>> {
    // Reserved up front for a piece; an old-format file read whole grows as it is read.
    let mut buf = Vec::with_capacity(n.min(4 * FILE_READ_PIECE));
    Read::take(&mut *file, n as u64).read_to_end(&mut buf)?;
    if buf.len() != n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the blob file is shorter than the store says",
        ));
    }
    Ok(buf)
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Blob(object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(e),
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Task(e.to_string()))?
}

/// Where [`local`] reads a piece: on the async thread when the page cache holds it, else
/// on the blocking pool (what a server does); or always on the blocking pool (the tests of
/// that path, which a cached file never takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    CachedFirst,
    #[cfg_attr(not(test), allow(dead_code))]
    Blocking,
}

async fn local(file: std::fs::File, range: std::ops::Range<u64>, dk: DataKey, aad: String, reads: Reads) -> Result<BlobStream> {
    let len = range.end.saturating_sub(range.start);
    let head_len = usize::try_from(len).map_or(chunked::HEADER_LEN, |l| l.min(chunked::HEADER_LEN));
    let mut head = vec![0; head_len];
    let (file, head) = if reads == Reads::CachedFirst && read_cached_into(&file, range.start, &mut head) {
        (file, head)
    } else {
        let mut file = file;
        blocking(move || {
            file.seek(SeekFrom::Start(range.start)).map_err(io_error)?;
            let head = read_exactly(&mut file, head_len).map_err(io_error)?;
            Ok((file, head))
        })
        .await?
    };
    if !chunked::is_chunked(&head) {
        // The older single-piece format: read and opened whole.
        let rest = usize::try_from(len).unwrap_or(usize::MAX).saturating_sub(head.len());
        let mut file = file;
        let sealed = blocking(move || {
            file.seek(SeekFrom::Start(range.start + head.len() as u64)).map_err(io_error)?;
            let mut sealed = head;
            sealed.extend(read_exactly(&mut file, rest).map_err(io_error)?);
            Ok(sealed)
        })
        .await?;
        let plain = dk.open(&aad, &sealed)?;
        return Ok(futures::stream::once(async move { Ok(Bytes::from(plain)) }).boxed());
    }
    struct State {
        file: std::fs::File,
        /// Where the next piece starts in the file.
        at: u64,
        opener: chunked::FileOpener,
        ready: VecDeque<Bytes>,
    }
    let start = State {
        file,
        at: range.start + head_len as u64,
        opener: dk.file_opener(&aad, &head, len)?,
        ready: VecDeque::new(),
    };
    // The state is None after an error: the stream ends with it.
    Ok(futures::stream::unfold(Some(start), move |st| async move {
        let State {
            file,
            at,
            mut opener,
            mut ready,
        } = st?;
        if let Some(plain) = ready.pop_front() {
            return Some((Ok(plain), Some(State { file, at, opener, ready })));
        }
        let n = opener.next_piece_len(FILE_READ_PIECE);
        if n == 0 {
            return None;
        }
        let cached = if reads == Reads::CachedFirst {
            read_cached(&file, at, n)
        } else {
            None
        };
        let step = match cached {
            Some(piece) => match opener.open_piece(piece) {
                Ok(plain) => Ok((file, opener, plain.into())),
                Err(e) => Err(e.into()),
            },
            None => {
                let mut file = file;
                blocking(move || {
                    file.seek(SeekFrom::Start(at)).map_err(io_error)?;
                    let piece = read_exactly(&mut file, n).map_err(io_error)?;
                    let plain: VecDeque<Bytes> = opener.open_piece(piece)?.into();
                    Ok((file, opener, plain))
                })
                .await
            }
        };
        let at = at + n as u64;
        match step {
            // Only an empty last chunk opens to nothing, and it ends the file.
            Ok((file, opener, mut ready)) => ready.pop_front().map(|plain| (Ok(plain), Some(State { file, at, opener, ready }))),
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed())
}

/// `n` bytes at `at` (at most [`FILE_READ_PIECE`]), read here on the async thread when the
/// page cache holds all of them (`preadv2` with `RWF_NOWAIT` never waits for the disk: it
/// answers `EAGAIN` or a short read instead). A cached piece then costs a copy, not a
/// hand-off to the blocking pool and back (two thread switches; docs/BENCHMARKS.md).
/// None: read it on the blocking pool.
fn read_cached(file: &std::fs::File, at: u64, n: usize) -> Option<Piece> {
    let mut piece = Piece::new(n);
    read_cached_into(file, at, piece.as_mut()).then_some(piece)
}

#[cfg(target_os = "linux")]
fn read_cached_into(file: &std::fs::File, at: u64, buf: &mut [u8]) -> bool {
    let flags = rustix::io::ReadWriteFlags::NOWAIT;
    rustix::io::preadv2(file, &mut [std::io::IoSliceMut::new(buf)], at, flags).is_ok_and(|got| got == buf.len())
}

#[cfg(not(target_os = "linux"))]
fn read_cached_into(_: &std::fs::File, _: u64, _: &mut [u8]) -> bool {
    false
}

/// A piece's buffer, [`FILE_READ_PIECE`] bytes of which the first `len` are the piece,
/// given back to [`SPARE`] when the last slice of its plaintext is dropped (sent).
struct Piece {
    buf: Vec<u8>,
    len: usize,
}

/// Buffers of pieces already sent, for the next ones: the safe `preadv2` reads only into
/// initialised memory, and zeroing a new buffer for every piece was 5 % of a download's
/// CPU (perf, 2026-12-07). At most [`SPARE_PIECES`] are kept. A kept buffer
/// holds the plaintext it last carried until it is read into again, as freed memory would.
static SPARE: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
const SPARE_PIECES: usize = 8;

fn spare() -> std::sync::MutexGuard<'static, Vec<Vec<u8>>> {
    SPARE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Piece {
    fn new(len: usize) -> Self {
        let buf = match spare().pop() {
            Some(buf) if buf.len() >= len => buf,
            _ => vec![0; FILE_READ_PIECE.max(len)],
        };
        Self { buf, len }
    }
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl AsMut<[u8]> for Piece {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        let mut spare = spare();
        if spare.len() < SPARE_PIECES && self.buf.len() == FILE_READ_PIECE {
            spare.push(std::mem::take(&mut self.buf));
        }
    }
}

type Source = futures::stream::BoxStream<'static, object_store::Result<Bytes>>;

async fn streamed(mut src: Source, dk: DataKey, aad: String) -> Result<BlobStream> {
    let mut head = Vec::new();
    while head.len() < chunked::MAGIC.len() {
        match src.next().await {
            Some(piece) => head.extend_from_slice(&piece?),
            None => break,
        }
    }
    if !chunked::is_chunked(&head) {
        while let Some(piece) = src.next().await {
            head.extend_from_slice(&piece?);
        }
        let plain = dk.open(&aad, &head)?;
        return Ok(futures::stream::once(async move { Ok(Bytes::from(plain)) }).boxed());
    }
    let mut opener = dk.chunk_opener(&aad)?;
    let first = opener.push(&head)?;
    struct State {
        src: Source,
        opener: Option<chunked::Opener>,
        ready: Vec<u8>,
    }
    let start = State {
        src,
        opener: Some(opener),
        ready: first,
    };
    Ok(futures::stream::unfold(start, |mut st| async move {
        loop {
            if !st.ready.is_empty() {
                let out = Bytes::from(std::mem::take(&mut st.ready));
                return Some((Ok(out), st));
            }
            let opener = st.opener.as_mut()?;
            let step = match st.src.next().await {
                Some(Ok(piece)) => opener.push(&piece).map_err(StoreError::from),
                Some(Err(e)) => Err(StoreError::from(e)),
                None => st
                    .opener
                    .take()
                    .map_or(Ok(Vec::new()), chunked::Opener::finish)
                    .map_err(StoreError::from),
            };
            match step {
                Ok(plain) => st.ready = plain,
                Err(e) => {
                    st.opener = None;
                    return Some((Err(e), st));
                }
            }
        }
    })
    .boxed())
}

/// A stream's plaintext, and the error it ended in, if any (the tests').
#[cfg(test)]
pub(crate) async fn drain(mut s: BlobStream) -> (Vec<u8>, Option<StoreError>) {
    let mut got = Vec::new();
    while let Some(piece) = s.next().await {
        match piece {
            Ok(b) => got.extend_from_slice(&b),
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The blob's data key, as a store keeps it: wrapped by the tenant's key.
    struct Key(crate::crypto::TenantKeys, String);

    impl Key {
        fn new(dk: &DataKey) -> Self {
            let keys = crate::crypto::MasterKey::generate().0.tenant_keys(&kycd_core::TenantId::generate());
            let wrapped = keys.wrap_data_key("file_a", dk);
            Self(keys, wrapped)
        }

        fn data_key(&self) -> DataKey {
            self.0.unwrap_data_key("file_a", &self.1).unwrap()
        }
    }

    async fn read_back(path: &std::path::Path, key: &Key, aad: &str, reads: Reads) -> (Vec<u8>, Option<StoreError>) {
        let file = std::fs::File::open(path).unwrap();
        let len = file.metadata().unwrap().len();
        match local(file, 0..len, key.data_key(), aad.to_owned(), reads).await {
            Ok(s) => drain(s).await,
            Err(e) => (Vec::new(), Some(e)),
        }
    }

    /// Both ways a piece is read give the same plaintext, over several pieces, a short last
    /// piece and buffers used again; a file cut at a chunk boundary ends in an error either
    /// way (the blocking pool is the way a file not in the page cache takes).
    #[tokio::test]
    async fn cached_and_blocking_reads_give_the_same_plaintext_and_the_same_errors() {
        let dir = tempfile::tempdir().unwrap();
        let dk = DataKey::generate();
        let plain: Vec<u8> = (0..1_000_003u32).map(|i| (i * 13 % 251) as u8).collect();
        let sealed = dk.seal_chunked("file_a", &plain).unwrap();
        let key = Key::new(&dk);
        let whole = dir.path().join("whole");
        std::fs::File::create(&whole).unwrap().write_all(&sealed).unwrap();
        let cut_at = chunked::HEADER_LEN + 5 * (chunked::DEFAULT_CHUNK as usize + chunked::TAG_LEN);
        let cut = dir.path().join("cut");
        std::fs::File::create(&cut).unwrap().write_all(&sealed[..cut_at]).unwrap();
        for _ in 0..3 {
            for reads in [Reads::CachedFirst, Reads::Blocking] {
                let (got, err) = read_back(&whole, &key, "file_a", reads).await;
                assert!(err.is_none() && got == plain, "{reads:?}: {err:?}");
                let (got, err) = read_back(&cut, &key, "file_a", reads).await;
                assert!(
                    matches!(err, Some(StoreError::Crypto(_))),
                    "{reads:?}: a cut file ends in an error: {err:?}"
                );
                assert!(got.len() < plain.len() && plain.starts_with(&got), "{reads:?}");
                // Opened under another file's name, nothing comes out.
                let (got, err) = read_back(&whole, &key, "file_b", reads).await;
                assert!(got.is_empty() && err.is_some(), "{reads:?}");
            }
        }
        assert!(spare().len() <= SPARE_PIECES);
    }

    /// A buffer used again shows only the piece read into it, never the rest of what it
    /// carried before.
    #[test]
    fn a_buffer_used_again_shows_only_its_piece() {
        let mut big = Piece::new(FILE_READ_PIECE);
        big.as_mut().fill(0xAA);
        drop(big);
        let small = Piece::new(10);
        assert_eq!(small.as_ref().len(), 10);
        let big = Piece::new(FILE_READ_PIECE + 1);
        assert_eq!(big.as_ref().len(), FILE_READ_PIECE + 1);
    }
}
