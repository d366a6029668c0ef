//! Startup configuration: data dir, database, master key, engine settings. Every setting
//! is a flag with an environment variable (`Settings`, read by clap, so `kycd --help` is
//! the reference with each default); bad config fails here, at start, with a message that
//! says what to fix.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use kycd_core::Mode;
use kycd_engine::{Database, Engine, EngineConfig, MasterKey, Store, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod blobs;
mod settings;

pub use blobs::{BlobBackend, S3Settings};
pub use settings::*;

pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub master_key_file: PathBuf,
    /// The key file was given explicitly (--master-key-file), not kept in the data dir.
    pub master_key_external: bool,
    /// --public-url was given; otherwise `serve` uses the address it listens on.
    pub public_url_set: bool,
    /// --evidence-issuer was given; otherwise evidence tokens name the public URL.
    pub evidence_issuer_set: bool,
    pub engine: EngineConfig,
    /// Slow-client limits of the HTTP server.
    pub http_timeouts: crate::http_server::Timeouts,
    /// Where encrypted blobs go: the data dir's `blobs/` folder, or an S3 bucket.
    pub blobs: BlobBackend,
}

/// A rate limit from a rate a minute (0 turns it off) and a burst (default: three
/// seconds' worth when the rate is set, as the built-in 6000/min with 300 at once; at
/// least 1).
fn rate(per_minute: Option<u32>, burst: Option<u32>, default: kycd_engine::ratelimit::Rate) -> kycd_engine::ratelimit::Rate {
    let rate = per_minute.unwrap_or(default.per_minute);
    let burst = match (burst, per_minute) {
        (Some(b), _) => b.max(1),
        (None, Some(r)) => (r / 20).max(1),
        (None, None) => default.burst,
    };
    kycd_engine::ratelimit::Rate { per_minute: rate, burst }
}

/// The engine's settings (no file is touched: `kycd check` uses them without a data
/// directory).
pub fn engine_config(s: &Settings) -> EngineConfig {
    let mut engine = EngineConfig {
        // Until `serve` knows the address it listens on: what a command that prints a link
        // (`operator add`) says when no public URL is set.
        public_url: s.public_url.clone().unwrap_or_else(|| format!("http://{}", s.listen)),
        max_upload_bytes: s.max_upload_bytes,
        decode_memory_mib: s.decode_memory_mib,
        sweep_interval: chrono::Duration::seconds(s.sweep_interval_seconds),
        purge_delay: chrono::Duration::seconds(s.purge_delay_seconds),
        model_dir: s.model_dir.clone(),
        face_matching: s.face_matching == Switch::On,
        heic: s.heic == Switch::On,
        delivery_timeout: std::time::Duration::from_secs(s.delivery_timeout_seconds),
        ..EngineConfig::default()
    };
    let limits = &mut engine.rate_limits;
    limits.tenant_requests = rate(s.rate_limit_per_minute, s.rate_limit_burst, limits.tenant_requests);
    limits.uploads = rate(s.upload_rate_per_minute, s.upload_rate_burst, limits.uploads);
    limits.sign_ins_per_address = rate(s.sign_in_rate_per_minute, s.sign_in_rate_burst, limits.sign_ins_per_address);
    limits.sign_ins_per_account = rate(
        s.sign_in_account_rate_per_minute,
        s.sign_in_account_rate_burst,
        limits.sign_ins_per_account,
    );
    engine.upload_memory_mib = s.upload_memory_mib;
    if let Some(n) = s.password_hashes {
        engine.password_hashes = n;
    }
    engine.evidence_issuer = s.evidence_issuer.clone().unwrap_or_else(|| engine.public_url.clone());
    s.test_hooks.apply(&mut engine);
    engine
}

impl Config {
    pub fn load(s: &Settings) -> Result<Self> {
        Self::load_with(s, true)
    }

    /// [`Self::load`] for a command that reads the --s3-* settings for a target of its
    /// own (`migrate-store --blobs`): they need not go with --blob-store s3.
    pub fn load_for_target(s: &Settings) -> Result<Self> {
        Self::load_with(s, false)
    }

    fn load_with(s: &Settings, s3_settings_need_s3: bool) -> Result<Self> {
        let data_dir = &s.data_dir;
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let database_url = s
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("kycd.db").display()));
        let (master_key_file, master_key_external) = match &s.master_key_file {
            Some(p) => (p.clone(), true),
            None => (data_dir.join("master.key"), false),
        };
        let engine = engine_config(s);
        let http_timeouts = crate::http_server::Timeouts {
            header: std::time::Duration::from_secs(s.header_timeout_seconds),
            body: std::time::Duration::from_secs(s.body_timeout_seconds),
        };
        Ok(Self {
            http_timeouts,
            blobs: BlobBackend::from_settings(s, s3_settings_need_s3)?,
            data_dir,
            database_url,
            master_key_file,
            master_key_external,
            public_url_set: s.public_url.is_some(),
            evidence_issuer_set: s.evidence_issuer.is_some(),
            engine,
        })
    }

    /// Connect to the database (not migrated yet). Nothing is written before this works:
    /// an unreachable database leaves no master key behind.
    pub async fn connect_database(&self) -> Result<Database> {
        Database::connect(&self.database_url)
            .await
            .with_context(|| format!("cannot open the database {}", redact_url(&self.database_url)))
    }

    /// The configured master key file's key; an error when it cannot be read.
    pub fn read_master_key(&self) -> Result<MasterKey> {
        let path = &self.master_key_file;
        let bytes = std::fs::read(path).with_context(|| match self.master_key_external {
            true => format!("cannot read master key {} (set by KYCD_MASTER_KEY_FILE)", path.display()),
            false => format!("cannot read master key {}", path.display()),
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "master key {} is readable by other users (mode {:o}); run: chmod 600 {}",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
        }
        MasterKey::from_file_bytes(&bytes).with_context(|| format!("reading master key {}", path.display()))
    }

    /// The master key, or a new one (0600) on the first start of a new, empty database
    /// when the key lives in the data dir. `true` when it was made now.
    async fn master_key(&self, db: &Database) -> Result<(MasterKey, bool)> {
        let path = &self.master_key_file;
        if self.master_key_external || path.exists() {
            return Ok((self.read_master_key()?, false));
        }
        if db.holds_data().await? {
            bail!(
                "there is no master key at {}, but the database {} already holds data sealed with one: restore the key file \
                 from your backup (or point KYCD_MASTER_KEY_FILE at it). kycd makes a new key only for a new, empty database.",
                path.display(),
                redact_url(&self.database_url)
            );
        }
        let (key, raw) = MasterKey::generate();
        write_private(path, format!("{}\n", hex_encode(&raw)).as_bytes(), false)
            .with_context(|| format!("cannot create master key {}", path.display()))?;
        tracing::warn!(
            "generated a new master key at {} (mode 0600); back it up separately from the data: without it nothing stored can be read",
            path.display()
        );
        Ok((key, true))
    }

    /// Open the store on `db` (migrated) with the master key, checked against the database.
    pub async fn open_store(&self, db: Database) -> Result<Store> {
        let blobs = self.blob_store().await?;
        let (key, generated) = self.master_key(&db).await?;
        match db.unlock(key, blobs).await {
            Ok(store) => Ok(store),
            Err(e) => {
                if generated {
                    // Nothing was sealed with it: a key that does not belong must not stay.
                    let _ = std::fs::remove_file(&self.master_key_file);
                }
                Err(self.explain_key_error(e))
            }
        }
    }

    /// A store error about the master key, said with the file and what to do.
    pub fn explain_key_error(&self, e: StoreError) -> anyhow::Error {
        let file = self.master_key_file.display();
        let db = redact_url(&self.database_url);
        match e {
            StoreError::WrongMasterKey => anyhow::anyhow!(
                "the master key {file} does not match the database {db}: its data is sealed with another key. Start kycd \
                 with that key (restore the key file from your backup, or point KYCD_MASTER_KEY_FILE at it); after \
                 `kycd keys rotate-master` only the new key is accepted. Nothing was written."
            ),
            StoreError::MasterKeyOpensNothing { table } => anyhow::anyhow!(
                "the master key {file} does not open the data already in the database {db} (a sealed value in {table}): \
                 it is not the key this data was sealed with. Start kycd with the right key file (from your backup). \
                 Nothing was written."
            ),
            StoreError::RotationInProgress { which } => anyhow::anyhow!(
                "a rotation of the master key is unfinished on the database {db} ({file} is {which}): finish it with \
                 `kycd keys rotate-master --new-key-file NEW` (the old key configured, NEW the same new key), then start again"
            ),
            StoreError::InstancesRunning { count, seconds_ago } => anyhow::anyhow!(
                "kycd serve is running on the database {db} ({count} instance(s), the latest seen {seconds_ago} s ago): stop \
                 every instance first, then rotate (an instance that crashed stops counting 30 s after it was last seen)"
            ),
            other => anyhow::Error::new(other).context(format!("the database {db}")),
        }
    }

    /// Replace the configured master key file with the key in `new_file` (atomically, 0600).
    pub fn install_master_key(&self, new_file: &Path) -> Result<bool> {
        let target = &self.master_key_file;
        if let (Ok(a), Ok(b)) = (target.canonicalize(), new_file.canonicalize())
            && a == b
        {
            return Ok(false);
        }
        let bytes = std::fs::read(new_file).with_context(|| format!("cannot read the new master key {}", new_file.display()))?;
        let tmp = target.with_extension("key.new");
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, &bytes, true).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, target).with_context(|| format!("cannot replace {}", target.display()))?;
        Ok(true)
    }

    /// The local blob folder, when blobs are kept on this machine.
    pub fn local_blob_dir(&self) -> Option<PathBuf> {
        matches!(self.blobs, BlobBackend::Local).then(|| self.data_dir.join("blobs"))
    }

    /// The configured blob store (an S3 bucket is probed at once).
    pub async fn blob_store(&self) -> Result<Arc<dyn kycd_engine::ObjectStore>> {
        Ok(match &self.blobs {
            BlobBackend::Local => {
                let blob_dir = self.data_dir.join("blobs");
                std::fs::create_dir_all(&blob_dir)?;
                object_store_local(&blob_dir)?
            }
            BlobBackend::S3(s3) => {
                let store = s3.build()?;
                s3.probe(&store).await?;
                store
            }
        })
    }

    /// In live mode the master key should not sit beside the data it protects.
    pub async fn warn_about_key_placement(&self, engine: &Engine) {
        if self.master_key_external {
            return;
        }
        if let Ok(tenants) = engine.list_tenants().await
            && tenants.iter().any(|t| t.mode == Mode::Live)
        {
            tracing::warn!(
                "production (live) tenants exist but the master key is kept in the data directory ({}); \
                 a copy of that directory exposes everything. Move the key elsewhere and set KYCD_MASTER_KEY_FILE.",
                self.master_key_file.display()
            );
        }
    }
}

fn object_store_local(dir: &Path) -> Result<Arc<dyn kycd_engine::ObjectStore>> {
    Ok(Arc::new(kycd_engine::LocalFileSystem::new_with_prefix(dir)?))
}

/// Write a file only its owner can read (0600), synced to disk; `create_new` unless `replace`.
fn write_private(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if replace {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Hide a password in a database URL before printing it.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// The one log stream, on standard error, filtered by `--log` / `KYCD_LOG`. A command
/// other than `serve` left at the default filter says only what went wrong (warnings).
pub fn init_logging(s: &Settings, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let wanted = if !serving && s.log == DEFAULT_LOG_FILTER {
        "warn,sqlx=warn"
    } else {
        s.log.as_str()
    };
    let filter = EnvFilter::try_new(wanted).unwrap_or_else(|e| {
        eprintln!("warning: KYCD_LOG (--log) '{}' is not a log filter ({e}); logging at info", s.log);
        EnvFilter::new(DEFAULT_LOG_FILTER)
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second call (tests) keeps the first subscriber.
    let _ = match s.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests;
