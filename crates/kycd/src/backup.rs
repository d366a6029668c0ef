//! `kycd backup` and `kycd restore` for the embedded default: the SQLite database, copied
//! while kycd serves with SQLite's online backup API, and the encrypted blobs its
//! captures point to. The master key is never part of a backup: the manifest keeps only
//! its check value, so a restore knows whether the key it is given is the right one.

use crate::config::{BlobBackend, Config};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest's file name inside a backup folder.
pub const MANIFEST: &str = "kycd-backup.json";
const DB_FILE: &str = "kycd.db";
const BLOB_DIR: &str = "blobs";
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub kycd_version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The newest migration in the copied database.
    pub schema_version: i64,
    /// The master key's check value (not the key): restore refuses another key.
    pub key_check_value: String,
    /// Rows per table in the copy.
    pub tables: BTreeMap<String, i64>,
    /// Every blob in the backup: key → (size, SHA-256 of the encrypted bytes).
    pub blobs: BTreeMap<String, (u64, String)>,
    /// Blobs the copied database points to that were gone when they were copied: erased
    /// (anonymized or deleted) while the backup ran. Their captures read as erased.
    pub erased_while_copying: Vec<String>,
}

/// The SQLite file of a `sqlite:` database URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

/// The database file and the blob folder of an installation on the embedded default.
fn embedded(cfg: &Config, what: &str) -> Result<(PathBuf, PathBuf)> {
    let Some(db) = sqlite_path(&cfg.database_url) else {
        bail!(
            "kycd {what} works on the embedded SQLite database; this installation uses {}: back up PostgreSQL with \
             pg_dump or its own tools (docs/deployment.md)",
            cfg.database_url.split("://").next().unwrap_or("another database")
        );
    };
    if let BlobBackend::S3(_) = cfg.blobs {
        bail!(
            "kycd {what} works on the data directory's blob folder, but this installation keeps its blobs in S3 \
             (KYCD_BLOB_STORE=s3): back up the bucket with its own tools (versioning, replication) and see docs/deployment.md"
        );
    }
    Ok((db, cfg.data_dir.join(BLOB_DIR)))
}

fn sqlite_error(e: rusqlite::Error) -> anyhow::Error {
    anyhow::anyhow!("SQLite: {e}")
}

/// Copy the live database at `src` into the new file `dest` with the online backup API,
/// in one step: one read transaction, so the copy is the database at one instant, while
/// a serving kycd goes on writing (WAL mode lets a reader and the writer work at once).
fn online_copy(src: &Path, dest: &Path) -> Result<()> {
    use rusqlite::{Connection, OpenFlags, backup::StepResult};
    let from = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sqlite_error)
        .with_context(|| format!("cannot open the database {}", src.display()))?;
    from.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite_error)?;
    let mut to = Connection::open(dest)
        .map_err(sqlite_error)
        .with_context(|| format!("cannot create {}", dest.display()))?;
    let backup = rusqlite::backup::Backup::new(&from, &mut to).map_err(sqlite_error)?;
    let mut waits = 0;
    loop {
        match backup.step(-1).map_err(sqlite_error)? {
            StepResult::Done => break,
            StepResult::More => {}
            // Busy, Locked (and whatever a later SQLite adds): wait and step again.
            _ => {
                waits += 1;
                if waits > 600 {
                    bail!("the database {} stayed locked for a minute; try again", src.display());
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
    drop(backup);
    let check: String = to.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(sqlite_error)?;
    if check != "ok" {
        bail!("the copy of the database failed SQLite's integrity check: {check}");
    }
    // The instances serving when the copy was made are not serving the copy: a restore
    // must not wait for them to go stale before a rotation or a move may run.
    to.execute("DELETE FROM running_instances", []).map_err(sqlite_error)?;
    // A standalone file: no WAL beside it.
    let mode: String = to
        .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
        .map_err(sqlite_error)?;
    if !mode.eq_ignore_ascii_case("delete") {
        bail!("the copy of the database stayed in journal mode {mode}");
    }
    Ok(())
}

/// What a copied database holds.
struct CopyContents {
    /// Rows per table.
    tables: BTreeMap<String, i64>,
    /// Its newest migration.
    schema_version: i64,
    key_check_value: String,
    /// The blob keys its captures point to.
    blob_keys: Vec<String>,
}

fn describe_copy(db: &Path) -> Result<CopyContents> {
    let conn = rusqlite::Connection::open(db).map_err(sqlite_error)?;
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(sqlite_error)?;
    let mut tables = BTreeMap::new();
    for n in names {
        let count: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM \"{n}\""), [], |r| r.get(0))
            .map_err(sqlite_error)?;
        tables.insert(n, count);
    }
    let schema: i64 = conn
        .query_row("SELECT COALESCE(MAX(version), 0) FROM kycd_migrations", [], |r| r.get(0))
        .map_err(sqlite_error)?;
    let cv: Option<String> = conn
        .query_row("SELECT check_value FROM master_key WHERE id = 1", [], |r| r.get(0))
        .map_err(sqlite_error)
        .ok();
    let Some(cv) = cv else {
        bail!("the database holds no master key check value: start kycd serve once (it records it), then back up");
    };
    let blobs: Vec<String> = conn
        .prepare("SELECT blob_key FROM captures WHERE blob_key IS NOT NULL ORDER BY blob_key")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(sqlite_error)?;
    Ok(CopyContents {
        tables,
        schema_version: schema,
        key_check_value: cv,
        blob_keys: blobs,
    })
}

/// A blob key as a relative path, refusing anything that could leave the folder.
fn blob_rel(key: &str) -> Result<PathBuf> {
    let p = PathBuf::from(key);
    if key.is_empty() || p.is_absolute() || p.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        bail!("the database names a blob '{key}' that is not a plain relative path: refusing to copy it");
    }
    Ok(p)
}

fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((n, hex::encode(h.finalize())))
}

/// Copy `from` to `to` (creating its folder), synced; returns its size and SHA-256.
fn copy_synced(from: &Path, to: &Path) -> Result<(u64, String)> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    std::fs::File::open(to)?.sync_all()?;
    sha256_file(to)
}

fn empty_or_missing(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut it) => Ok(it.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// `kycd backup DEST`.
pub async fn backup(cfg: &Config, dest: &Path) -> Result<Manifest> {
    let (db_path, blob_dir) = embedded(cfg, "backup")?;
    if !db_path.exists() {
        bail!("there is no database at {} to back up", db_path.display());
    }
    if !empty_or_missing(dest)? {
        bail!(
            "{} is not empty: give a new (or empty) folder for the backup, so that nothing is mixed with an older one",
            dest.display()
        );
    }
    // The configured key must open this database: a backup whose key is lost is no backup.
    let db = cfg.connect_database().await?;
    let store = cfg.open_store(db).await?;
    let key_cv = store.database().key_check_value().await?.unwrap_or_default();
    drop(store);
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create the backup folder {}", dest.display()))?;
    let dest_db = dest.join(DB_FILE);
    {
        let (src, to) = (db_path.clone(), dest_db.clone());
        tokio::task::spawn_blocking(move || online_copy(&src, &to))
            .await
            .context("the backup task stopped")??;
    }
    let CopyContents {
        tables,
        schema_version,
        key_check_value: copy_cv,
        blob_keys: keys,
    } = {
        let p = dest_db.clone();
        tokio::task::spawn_blocking(move || describe_copy(&p))
            .await
            .context("the backup task stopped")??
    };
    if copy_cv != key_cv {
        bail!("the database's master key changed while it was copied (a rotation?): run the backup again");
    }
    // Blobs are written before their row and never change afterwards, so every blob the
    // copy points to exists unless it was erased since.
    let (blob_dir, dest_blobs) = (blob_dir.clone(), dest.join(BLOB_DIR));
    let (blobs, erased) = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut blobs = BTreeMap::new();
        let mut erased = Vec::new();
        for key in keys {
            let rel = blob_rel(&key)?;
            let from = blob_dir.join(&rel);
            if !from.exists() {
                erased.push(key);
                continue;
            }
            blobs.insert(key, copy_synced(&from, &dest_blobs.join(&rel))?);
        }
        Ok((blobs, erased))
    })
    .await
    .context("the backup task stopped")??;
    let manifest = Manifest {
        format: FORMAT,
        kycd_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: chrono::Utc::now(),
        schema_version,
        key_check_value: key_cv,
        tables,
        blobs,
        erased_while_copying: erased,
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    std::fs::write(dest.join(MANIFEST), json).with_context(|| format!("cannot write {}", dest.join(MANIFEST).display()))?;
    std::fs::File::open(&dest_db)?.sync_all()?;
    Ok(manifest)
}

/// `kycd restore SRC`: into a data directory that holds no database yet, with the master
/// key the backup was made with already in place. Returns the manifest and the audit
/// entries checked.
pub async fn restore(cfg: &Config, src: &Path) -> Result<(Manifest, usize)> {
    let (db_path, blob_dir) = embedded(cfg, "restore")?;
    let text = std::fs::read(src.join(MANIFEST)).with_context(|| {
        format!(
            "{} is not a kycd backup (no {MANIFEST} in it): give the folder `kycd backup` wrote",
            src.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text).with_context(|| format!("{} is damaged", src.join(MANIFEST).display()))?;
    if manifest.format != FORMAT {
        bail!(
            "the backup is in format {}, this kycd reads format {FORMAT}: restore it with kycd {}",
            manifest.format,
            manifest.kycd_version
        );
    }
    let code = kycd_engine::Database::code_schema_version();
    if manifest.schema_version > code {
        bail!(
            "the backup's database is at migration {}, newer than this kycd ({code}): restore it with kycd {} or newer",
            manifest.schema_version,
            manifest.kycd_version
        );
    }
    if db_path.exists() {
        bail!(
            "{} already holds a database: restore into a new data directory (--data-dir), or move the old one away first \
             (stop kycd serve before)",
            db_path.display()
        );
    }
    if !empty_or_missing(&blob_dir)? {
        bail!(
            "{} already holds blobs: restore into a new data directory (--data-dir)",
            blob_dir.display()
        );
    }
    let key = cfg.read_master_key().with_context(|| {
        format!(
            "the backup does not contain the master key: put the key it was made with at {} (or set KYCD_MASTER_KEY_FILE), \
             then restore",
            cfg.master_key_file.display()
        )
    })?;
    if key.check_value() != manifest.key_check_value {
        bail!(
            "the master key {} is not the key this backup was made with (its check value differs): give that key \
             (after `kycd keys rotate-master`, backups taken before the rotation need the old key). Nothing was restored.",
            cfg.master_key_file.display()
        );
    }
    // Every blob as it was backed up, before anything is put in place.
    let (src_dir, blobs) = (src.to_path_buf(), manifest.blobs.clone());
    tokio::task::spawn_blocking(move || -> Result<()> {
        for (k, (size, sha)) in &blobs {
            let got = sha256_file(&src_dir.join(BLOB_DIR).join(blob_rel(k)?))?;
            if got != (*size, sha.clone()) {
                bail!("the backup's blob {k} is damaged (its size or SHA-256 differs from the manifest)");
            }
        }
        Ok(())
    })
    .await
    .context("the restore task stopped")??;
    let staged = db_path.with_extension("db.restoring");
    let _ = std::fs::remove_file(&staged);
    copy_synced(&src.join(DB_FILE), &staged)?;
    let put_in_place = || -> Result<()> {
        for k in manifest.blobs.keys() {
            let rel = blob_rel(k)?;
            copy_synced(&src.join(BLOB_DIR).join(&rel), &blob_dir.join(&rel))?;
        }
        std::fs::rename(&staged, &db_path).with_context(|| format!("cannot move the database into {}", db_path.display()))
    };
    if let Err(e) = put_in_place() {
        let _ = std::fs::remove_file(&staged);
        let _ = std::fs::remove_dir_all(&blob_dir);
        return Err(e.context("nothing was restored"));
    }
    // Open it as kycd serve would (migrating a backup of an older kycd) and check it.
    let checked: Result<usize> = async {
        let db = cfg.connect_database().await?;
        db.migrate()
            .await
            .context("applying database migrations to the restored database")?;
        let store = cfg.open_store(db).await?;
        let mut tx = store.begin().await?;
        let (entries, broken) = tx.verify_audit_chains().await?;
        drop(tx);
        let verifications = store.database().count_rows("verifications").await?;
        if let Some(b) = broken {
            bail!(
                "the restored audit chain is broken: tenant {} entry {}: {}",
                b.tenant_id,
                b.seq,
                b.reason
            );
        }
        let want = manifest.tables.get("verifications").copied().unwrap_or(0);
        if verifications != want {
            bail!("the restored database holds {verifications} verifications, the backup's manifest says {want}");
        }
        Ok(entries)
    }
    .await;
    match checked {
        Ok(entries) => Ok((manifest, entries)),
        Err(e) => {
            let _ = std::fs::remove_file(&db_path);
            for ext in ["db-wal", "db-shm"] {
                let _ = std::fs::remove_file(db_path.with_extension(ext));
            }
            let _ = std::fs::remove_dir_all(&blob_dir);
            Err(e.context("the restored data was removed again"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite:///d/kycd.db?mode=rwc"), Some(PathBuf::from("/d/kycd.db")));
        assert_eq!(sqlite_path("sqlite:rel.db"), Some(PathBuf::from("rel.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }

    #[test]
    fn blob_keys_stay_inside_the_folder() {
        assert!(blob_rel("tenants/ten_1/files/fil_2").is_ok());
        for bad in ["", "/etc/passwd", "../x", "tenants/../../x", "./x"] {
            assert!(blob_rel(bad).is_err(), "{bad}");
        }
    }
}
