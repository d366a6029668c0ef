//! `kycd migrate-store --to postgres://… [--blobs s3://…]`: an installation that started
//! on the embedded default (SQLite, the data directory's blob folder) moves to PostgreSQL
//! and, optionally, an S3 bucket. Every table is copied (resuming where a stopped run
//! left off), then every encrypted blob (as it is: it stays sealed under its own data key,
//! and blobs already in the bucket are skipped); then the copy is checked: row counts,
//! the key check value, each tenant's audit head, the whole audit chain walked on the
//! target with the master key, and every capture's blob present in the target store.

use crate::config::{Config, S3Settings, Settings, redact_url};
use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use kycd_engine::{Database, ObjectStore};
use object_store::path::Path as BlobPath;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Blobs copied at once.
const BLOBS_IN_FLIGHT: usize = 8;

pub struct Outcome {
    pub report: kycd_store::CopyReport,
    pub audit_entries: usize,
    pub blobs_total: usize,
    pub blobs_copied: u64,
    /// Blobs the database points to that the source store did not have either (lost
    /// before the move: those captures cannot be read on either side).
    pub blobs_missing_before: Vec<String>,
    /// Where the target keeps blobs, in words (and the settings for it).
    pub blob_target: Option<S3Settings>,
}

pub async fn migrate_store(cfg: &Config, settings: &Settings, to: &str, blobs: Option<&str>, batch: usize) -> Result<Outcome> {
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!(
            "--to must be a PostgreSQL URL (postgres://USER@HOST/DATABASE), got '{}'",
            redact_url(to)
        );
    }
    if cfg.database_url.starts_with("postgres") {
        bail!(
            "this installation is on PostgreSQL already ({}); migrate-store moves the embedded SQLite database",
            redact_url(&cfg.database_url)
        );
    }
    let blob_target = blobs.map(|url| S3Settings::from_url(settings, url)).transpose()?;

    // The source, checked with its master key (and brought to this kycd's schema).
    let source = cfg.connect_database().await?;
    source.migrate().await.context("applying database migrations to the source")?;
    let source_store = cfg.open_store(source.clone()).await?;
    let key = cfg.read_master_key()?;
    drop(source_store);
    let source_blobs = cfg.blob_store().await?;

    let target = Database::connect(to)
        .await
        .with_context(|| format!("cannot open the target database {}", redact_url(to)))?;
    target.migrate().await.context("applying database migrations to the target")?;
    let report = source
        .copy_into(&target, batch, &|table, rows| eprintln!("copied {rows} row(s) of {table}"))
        .await
        .map_err(|e| match e {
            kycd_store::StoreError::InstancesRunning { count, seconds_ago } => anyhow::anyhow!(
                "kycd serve is running on this installation's database ({count} instance(s), the latest seen {seconds_ago} s \
                 ago): stop every instance, then run migrate-store (an instance that crashed stops counting 30 s after it \
                 was last seen). Nothing was copied."
            ),
            other => anyhow::Error::new(other).context("copying the database"),
        })?;

    let target_blobs: Arc<dyn ObjectStore> = match &blob_target {
        Some(s3) => {
            let store = s3.build()?;
            s3.probe(&store).await?;
            store
        }
        None => source_blobs.clone(),
    };
    let keys = target.capture_blob_keys().await?;
    let copied = AtomicU64::new(0);
    if blob_target.is_some() {
        futures::stream::iter(keys.iter().map(Ok::<_, anyhow::Error>))
            .try_for_each_concurrent(BLOBS_IN_FLIGHT, |k| {
                let (from, to, copied) = (&source_blobs, &target_blobs, &copied);
                async move {
                    if copy_blob(from.as_ref(), to.as_ref(), k).await? {
                        let n = copied.fetch_add(1, Ordering::Relaxed) + 1;
                        if n % 100 == 0 {
                            eprintln!("copied {n} blob(s)");
                        }
                    }
                    Ok(())
                }
            })
            .await?;
    }

    // Open the target as kycd serve would: the master key must open it; then walk the
    // audit chain and find every blob.
    let store = target
        .clone()
        .unlock(key, target_blobs.clone())
        .await
        .map_err(|e| cfg.explain_key_error(e))
        .context("opening the copy with the master key")?;
    let mut tx = store.begin().await?;
    let (audit_entries, broken) = tx.verify_audit_chains().await?;
    drop(tx);
    if let Some(b) = broken {
        bail!(
            "the audit chain of the copy is broken at tenant {} entry {}: {}",
            b.tenant_id,
            b.seq,
            b.reason
        );
    }
    let missing: Vec<&String> = futures::stream::iter(keys.iter())
        .map(|k| {
            let to = target_blobs.clone();
            async move { (k, to.head(&BlobPath::from(k.as_str())).await.is_ok()) }
        })
        .buffer_unordered(BLOBS_IN_FLIGHT)
        .filter_map(|(k, found)| async move { (!found).then_some(k) })
        .collect()
        .await;
    let mut lost = Vec::new();
    let mut not_copied = Vec::new();
    for k in missing {
        match source_blobs.head(&BlobPath::from(k.as_str())).await {
            Err(object_store::Error::NotFound { .. }) => lost.push(k.clone()),
            _ => not_copied.push(k.clone()),
        }
    }
    if !not_copied.is_empty() {
        bail!(
            "{} blob(s) are in the source blob store but not in the target (the first: {}): run migrate-store again (it \
             resumes)",
            not_copied.len(),
            not_copied[0]
        );
    }
    Ok(Outcome {
        report,
        audit_entries,
        blobs_total: keys.len(),
        blobs_copied: copied.into_inner(),
        blobs_missing_before: lost,
        blob_target,
    })
}

/// Copy one encrypted blob as it is, unless the target has it already (same size).
/// Returns whether it was copied.
async fn copy_blob(from: &dyn ObjectStore, to: &dyn ObjectStore, key: &str) -> Result<bool> {
    let path = BlobPath::from(key);
    let src = match from.head(&path).await {
        Ok(meta) => meta,
        // Lost before the move; the check after the copy names it.
        Err(object_store::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot read the blob {key}")),
    };
    if let Ok(there) = to.head(&path).await
        && there.size == src.size
    {
        return Ok(false);
    }
    let bytes = from
        .get(&path)
        .await
        .with_context(|| format!("cannot read the blob {key}"))?
        .bytes()
        .await?;
    to.put(&path, bytes.into())
        .await
        .with_context(|| format!("cannot write the blob {key} to the target"))?;
    Ok(true)
}
