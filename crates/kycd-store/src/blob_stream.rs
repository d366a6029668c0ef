//! Reading a blob back as a stream of plaintext ([`crate::Store::get_blob_stream`]).
//!
//! A file of the local blob folder is read on the blocking pool in pieces of whole chunks,
//! each opened in the buffer it was read into and sent on as slices of it
//! ([`chunked::FileOpener`]): the read is the only copy in user space. object_store's own
//! file stream reads 8 KiB per blocking task, and a 3.2 MB download then spent most of its
//! CPU handing those tasks to threads (perf, 2026-12-07: docs/BENCHMARKS.md). Any other
//! store (S3) gives pieces cut anywhere, which [`chunked::Opener`] reassembles.

use crate::crypto::DataKey;
use crate::{BlobStream, Result, StoreError, chunked};
use bytes::Bytes;
use futures::StreamExt;
use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};

/// How much of a local blob file one blocking read takes: sixteen chunks of the chunked
/// format. Each piece is a hand-off to the blocking pool and back; since the piece is
/// opened in place, 1 MiB pieces cost 17 % less CPU per 3.2 MB download than 256 KiB ones
/// (docs/BENCHMARKS.md, 2026-12-07), for 1 MiB held per download in flight.
const FILE_READ_PIECE: usize = 1024 * 1024;

pub(crate) async fn plaintext(got: object_store::GetResult, dk: DataKey, aad: String) -> Result<BlobStream> {
    match got.payload {
        object_store::GetResultPayload::File(file, _) => local(file, got.range, dk, aad).await,
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

async fn local(mut file: std::fs::File, range: std::ops::Range<u64>, dk: DataKey, aad: String) -> Result<BlobStream> {
    let len = range.end.saturating_sub(range.start);
    let head_len = usize::try_from(len).map_or(chunked::HEADER_LEN, |l| l.min(chunked::HEADER_LEN));
    let (mut file, head) = blocking(move || {
        file.seek(SeekFrom::Start(range.start)).map_err(io_error)?;
        let head = read_exactly(&mut file, head_len).map_err(io_error)?;
        Ok((file, head))
    })
    .await?;
    if !chunked::is_chunked(&head) {
        // The older single-piece format: read and opened whole.
        let rest = usize::try_from(len).unwrap_or(usize::MAX).saturating_sub(head.len());
        let sealed = blocking(move || {
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
        opener: chunked::FileOpener,
        ready: VecDeque<Bytes>,
    }
    let start = State {
        file,
        opener: dk.file_opener(&aad, &head, len)?,
        ready: VecDeque::new(),
    };
    // The state is None after an error: the stream ends with it.
    Ok(futures::stream::unfold(Some(start), |st| async move {
        let State {
            file,
            mut opener,
            mut ready,
        } = st?;
        if let Some(plain) = ready.pop_front() {
            return Some((Ok(plain), Some(State { file, opener, ready })));
        }
        let n = opener.next_piece_len(FILE_READ_PIECE);
        if n == 0 {
            return None;
        }
        let mut file = file;
        let step = blocking(move || {
            let piece = read_exactly(&mut file, n).map_err(io_error)?;
            let plain: VecDeque<Bytes> = opener.open_piece(piece)?.into();
            Ok((file, opener, plain))
        })
        .await;
        match step {
            // Only an empty last chunk opens to nothing, and it ends the file.
            Ok((file, opener, mut ready)) => ready.pop_front().map(|plain| (Ok(plain), Some(State { file, opener, ready }))),
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed())
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
