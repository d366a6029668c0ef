//! The blob store: every file sealed under its own data key before it is written, read
//! back whole or as a stream that decrypts one chunk at a time, probed for readiness, and
//! swept of what no capture row points to.

use crate::{DataKey, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as BlobPath;

/// A blob's plaintext, chunk by chunk ([`Store::get_blob_stream`]).
pub type BlobStream = futures::stream::BoxStream<'static, Result<bytes::Bytes>>;

impl Store {
    fn blob_path(tenant: &kycd_core::TenantId, file: &kycd_core::FileId) -> String {
        format!("tenants/{tenant}/files/{file}")
    }

    /// Encrypt and write a blob; returns (blob key, wrapped data key) to record in SQL.
    /// Written *before* its row: a crash in between leaves an orphan the sweeper removes.
    pub async fn put_blob(&self, tenant: &kycd_core::TenantId, file: &kycd_core::FileId, plain: &[u8]) -> Result<(String, String)> {
        let dk = DataKey::generate();
        let sealed = dk.seal_chunked(file.as_str(), plain)?;
        let key = Self::blob_path(tenant, file);
        self.blobs.put(&BlobPath::from(key.as_str()), sealed.into()).await?;
        Ok((key, self.tenant_keys(tenant).wrap_data_key(file.as_str(), &dk)))
    }

    pub async fn get_blob(&self, tenant: &kycd_core::TenantId, file: &kycd_core::FileId, blob_key: &str, wrapped: &str) -> Result<Vec<u8>> {
        let dk = self.tenant_keys(tenant).unwrap_data_key(file.as_str(), wrapped)?;
        let sealed = self.blobs.get(&BlobPath::from(blob_key)).await?.bytes().await?;
        Ok(dk.open_blob(file.as_str(), &sealed)?)
    }

    /// A blob's plaintext as a stream, decrypted one chunk at a time as it is read (a blob
    /// of the older single-piece format is read whole first). A chunk that fails to open
    /// ends the stream with an error after the chunks before it: the caller must not
    /// present what it got as the whole file.
    pub async fn get_blob_stream(
        &self,
        tenant: &kycd_core::TenantId,
        file: &kycd_core::FileId,
        blob_key: &str,
        wrapped: &str,
    ) -> Result<BlobStream> {
        let dk = self.tenant_keys(tenant).unwrap_data_key(file.as_str(), wrapped)?;
        let got = self.blobs.get(&BlobPath::from(blob_key)).await?;
        crate::blob_stream::plaintext(got, dk, file.as_str().to_owned()).await
    }

    /// Whether the blob store takes a write and gives it back: a small object of this
    /// instance's (no personal data) written, read and removed.
    pub async fn probe_blobs(&self) -> Result<()> {
        const PROBE: &[u8] = b"kycd readiness probe";
        let key = BlobPath::from(format!("readiness/{}", self.instance).as_str());
        self.blobs.put(&key, PROBE.to_vec().into()).await?;
        let back = self.blobs.get(&key).await?.bytes().await?;
        self.blobs.delete(&key).await?;
        if back.as_ref() != PROBE {
            return Err(StoreError::Corrupt("the blob store gave back other bytes than were written".into()));
        }
        Ok(())
    }

    pub async fn delete_blob(&self, blob_key: &str) -> Result<()> {
        match self.blobs.delete(&BlobPath::from(blob_key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove blobs that no capture row points to and that are older than `grace`
    /// (an upload in flight has written its blob but not yet its row). Returns the count.
    pub async fn sweep_orphan_blobs(&self, now: DateTime<Utc>, grace: chrono::Duration) -> Result<usize> {
        let listed: Vec<_> = self.blobs.list(Some(&BlobPath::from("tenants"))).try_collect().await?;
        let mut removed = 0;
        for meta in listed {
            if meta.last_modified > now - grace {
                continue;
            }
            let key = meta.location.to_string();
            let referenced: Option<String> = sqlx::query_scalar("SELECT id FROM captures WHERE blob_key = $1")
                .bind(&key)
                .fetch_optional(&mut *self.db.conn().await?)
                .await?;
            if referenced.is_none() {
                self.delete_blob(&key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Remove the partial files a crash in the middle of a blob write leaves in a local blob
/// folder (`object_store` writes `…/file_…#1` and renames it into place; its listing does
/// not show them, so [`Store::sweep_orphan_blobs`] cannot see them), when older than
/// `cutoff` (a write in flight is younger). Returns how many it removed.
pub fn sweep_partial_local_blobs(dir: &std::path::Path, cutoff: std::time::SystemTime) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let name = entry.file_name();
            let partial = name
                .to_str()
                .and_then(|n| n.rsplit_once('#'))
                .is_some_and(|(_, suffix)| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()));
            if kind.is_file() && partial && entry.metadata()?.modified()? <= cutoff {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob_stream::drain;
    use crate::{Database, MasterKey, chunked};
    use futures::StreamExt;
    use kycd_core::{FileId, TenantId};
    use std::sync::Arc;

    async fn store(blobs: Arc<dyn ObjectStore>) -> Store {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.migrate().await.unwrap();
        db.unlock(MasterKey::generate().0, blobs).await.unwrap()
    }

    /// Both ways a blob is read: a file of the local folder (pieces of whole chunks, opened
    /// where they were read) and a stream cut anywhere (S3; the in-memory store streams too).
    #[tokio::test]
    async fn new_and_old_blobs_stream_back_and_a_cut_blob_ends_in_an_error() {
        let folder = tempfile::tempdir().unwrap();
        let local = object_store::local::LocalFileSystem::new_with_prefix(folder.path()).unwrap();
        blobs_stream_back(store(Arc::new(object_store::memory::InMemory::new())).await).await;
        blobs_stream_back(store(Arc::new(local)).await).await;
    }

    async fn blobs_stream_back(store: Store) {
        let tenant = TenantId::generate();
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();

        // A new blob: chunked, streamed in more than one piece.
        let file = FileId::generate();
        let (key, wrapped) = store.put_blob(&tenant, &file, &plain).await.unwrap();
        let mut s = store.get_blob_stream(&tenant, &file, &key, &wrapped).await.unwrap();
        let mut pieces = 0;
        let mut got = Vec::new();
        while let Some(piece) = s.next().await {
            got.extend_from_slice(&piece.unwrap());
            pieces += 1;
        }
        assert_eq!(got, plain);
        assert!(pieces > 1, "decrypted piece by piece, not whole: {pieces} piece(s)");
        assert_eq!(store.get_blob(&tenant, &file, &key, &wrapped).await.unwrap(), plain);

        // An older blob (one AES-GCM piece, written before the chunked format).
        let old_file = FileId::generate();
        let dk = DataKey::generate();
        let old_key = Store::blob_path(&tenant, &old_file);
        store
            .blobs
            .put(&BlobPath::from(old_key.as_str()), dk.seal(old_file.as_str(), &plain).into())
            .await
            .unwrap();
        let old_wrapped = store.tenant_keys(&tenant).wrap_data_key(old_file.as_str(), &dk);
        let s = store.get_blob_stream(&tenant, &old_file, &old_key, &old_wrapped).await.unwrap();
        let (got, err) = drain(s).await;
        assert!(err.is_none() && got == plain, "an older blob stays readable");
        assert_eq!(store.get_blob(&tenant, &old_file, &old_key, &old_wrapped).await.unwrap(), plain);

        // The new blob cut at a chunk boundary: the good chunks, then an error, never a
        // clean end.
        let sealed = store.blobs.get(&BlobPath::from(key.as_str())).await.unwrap().bytes().await.unwrap();
        let cut = chunked::HEADER_LEN + 2 * (chunked::DEFAULT_CHUNK as usize + chunked::TAG_LEN);
        store
            .blobs
            .put(&BlobPath::from(key.as_str()), sealed.slice(..cut).into())
            .await
            .unwrap();
        let s = store.get_blob_stream(&tenant, &file, &key, &wrapped).await.unwrap();
        let (got, err) = drain(s).await;
        assert!(matches!(err, Some(StoreError::Crypto(_))), "a cut blob ends in an error: {err:?}");
        assert!(got.len() < plain.len() && plain.starts_with(&got));
        assert!(store.get_blob(&tenant, &file, &key, &wrapped).await.is_err());
    }
}
