//! Startup configuration: data dir, database, master key, engine settings. Bad config
//! fails here, at start, with a message that says what to fix.

use anyhow::{Context, Result, bail};
use kycd_core::Mode;
use kycd_engine::{Database, Engine, EngineConfig, MasterKey, Store, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub master_key_file: PathBuf,
    /// The key file was given explicitly (KYCD_MASTER_KEY_FILE), not kept in the data dir.
    pub master_key_external: bool,
    /// KYCD_PUBLIC_URL was given; otherwise `serve` uses the address it listens on.
    pub public_url_set: bool,
    /// KYCD_EVIDENCE_ISSUER was given; otherwise evidence tokens name the public URL.
    pub evidence_issuer_set: bool,
    pub engine: EngineConfig,
    /// Slow-client limits of the HTTP server.
    pub http_timeouts: crate::http_server::Timeouts,
    /// Where encrypted blobs go: the data dir's `blobs/` folder, or an S3 bucket.
    pub blobs: BlobBackend,
}

/// The blob backend (`KYCD_BLOB_STORE`). Either way blobs are sealed with their own data
/// key before they leave the process: the store only ever sees ciphertext.
pub enum BlobBackend {
    Local,
    S3(S3Settings),
}

/// An S3-compatible bucket (AWS S3, MinIO, Garage, Ceph…), from `KYCD_S3_*`.
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// None: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    /// Requests as `ENDPOINT/BUCKET/KEY` (self-hosted stores) rather than `BUCKET.ENDPOINT/KEY`.
    pub path_style: bool,
    /// Key prefix inside the bucket, so several installations can share one.
    pub prefix: Option<String>,
    /// None: the AWS_* environment / instance credentials, as the AWS SDKs find them.
    pub credentials: Option<(String, secrecy::SecretString)>,
}

impl BlobBackend {
    fn from_env() -> Result<Self> {
        match env("KYCD_BLOB_STORE").as_deref().map(str::trim) {
            None | Some("local") => {
                for name in ["KYCD_S3_BUCKET", "KYCD_S3_ENDPOINT"] {
                    if env(name).is_some() {
                        bail!(
                            "{name} is set but KYCD_BLOB_STORE is not 's3': set KYCD_BLOB_STORE=s3 to store blobs in S3, or unset {name}"
                        );
                    }
                }
                Ok(Self::Local)
            }
            Some("s3") => Ok(Self::S3(S3Settings::from_env()?)),
            Some(other) => bail!("KYCD_BLOB_STORE must be 'local' (the data directory) or 's3', got '{other}'"),
        }
    }
}

impl S3Settings {
    fn from_env() -> Result<Self> {
        let bucket = env("KYCD_S3_BUCKET").context("KYCD_BLOB_STORE=s3 needs KYCD_S3_BUCKET (the bucket name)")?;
        let endpoint = match env("KYCD_S3_ENDPOINT") {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url.trim_end_matches('/').to_owned()),
            Some(url) => bail!("KYCD_S3_ENDPOINT must start with http:// or https://, got '{url}'"),
            None => None,
        };
        // Self-hosted stores rarely have per-bucket DNS names: path-style by default there.
        let path_style = match env("KYCD_S3_PATH_STYLE").as_deref() {
            None => endpoint.is_some(),
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            Some(v) => bail!("KYCD_S3_PATH_STYLE must be true or false, got '{v}'"),
        };
        let prefix = match env("KYCD_S3_PREFIX") {
            Some(p) => {
                let p = p.trim_matches('/').to_owned();
                if p.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
                    bail!("KYCD_S3_PREFIX must be a key prefix such as 'kycd/prod' (no empty, '.' or '..' parts), got '{p}'");
                }
                Some(p)
            }
            None => None,
        };
        let secret = match (env("KYCD_S3_SECRET_ACCESS_KEY"), env("KYCD_S3_SECRET_ACCESS_KEY_FILE")) {
            (Some(_), Some(_)) => bail!("set KYCD_S3_SECRET_ACCESS_KEY or KYCD_S3_SECRET_ACCESS_KEY_FILE, not both"),
            (Some(s), None) => Some(s),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read KYCD_S3_SECRET_ACCESS_KEY_FILE {path}"))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let credentials = match (env("KYCD_S3_ACCESS_KEY_ID"), secret) {
            (Some(id), Some(secret)) => Some((id, secrecy::SecretString::from(secret))),
            (None, None) => None,
            (Some(_), None) => bail!(
                "KYCD_S3_ACCESS_KEY_ID is set without KYCD_S3_SECRET_ACCESS_KEY (or _FILE): set both, or neither to use the AWS_* environment"
            ),
            (None, Some(_)) => {
                bail!("the S3 secret key is set without KYCD_S3_ACCESS_KEY_ID: set both, or neither to use the AWS_* environment")
            }
        };
        Ok(Self {
            bucket,
            region: env("KYCD_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
            endpoint,
            path_style,
            prefix,
            credentials,
        })
    }

    fn describe(&self) -> String {
        format!(
            "s3://{}/{} at {}",
            self.bucket,
            self.prefix.as_deref().unwrap_or(""),
            self.endpoint.as_deref().unwrap_or("AWS")
        )
    }

    fn build(&self) -> Result<Arc<dyn kycd_engine::ObjectStore>> {
        use object_store::aws::AmazonS3Builder;
        use secrecy::ExposeSecret;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_virtual_hosted_style_request(!self.path_style);
        if let Some(ep) = &self.endpoint {
            // The operator wrote http:// on purpose (a store on loopback or a private network).
            b = b.with_endpoint(ep).with_allow_http(ep.starts_with("http://"));
        }
        if let Some((id, secret)) = &self.credentials {
            b = b.with_access_key_id(id).with_secret_access_key(secret.expose_secret());
        }
        let s3 = b
            .build()
            .with_context(|| format!("invalid S3 settings for {}: check the KYCD_S3_* variables", self.describe()))?;
        Ok(match &self.prefix {
            Some(p) => Arc::new(object_store::prefix::PrefixStore::new(s3, p.as_str())),
            None => Arc::new(s3),
        })
    }
}

/// A rate limit from `<per_minute>` (0 turns it off) and `<burst>` (default: three
/// seconds' worth, as the built-in 6000/min with 300 at once; at least 1).
fn env_rate(per_minute: &str, burst: &str, default: kycd_engine::ratelimit::Rate) -> Result<kycd_engine::ratelimit::Rate> {
    let number = |name: &str, v: String| -> Result<u32> {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 1_000_000)
            .with_context(|| format!("{name} must be a whole number from 0 to 1000000, got '{v}'"))
    };
    let rate = match env(per_minute) {
        Some(v) => number(per_minute, v)?,
        None => default.per_minute,
    };
    let burst = match env(burst) {
        Some(v) => number(burst, v)?.max(1),
        None if env(per_minute).is_some() => (rate / 20).max(1),
        None => default.burst,
    };
    Ok(kycd_engine::ratelimit::Rate { per_minute: rate, burst })
}

/// `name` as a whole number of seconds within `range`, or `default` when unset.
fn env_seconds(name: &str, range: std::ops::RangeInclusive<u64>, default: std::time::Duration) -> Result<std::time::Duration> {
    parse_seconds(name, env(name), range, default)
}

fn parse_seconds(
    name: &str,
    value: Option<String>,
    range: std::ops::RangeInclusive<u64>,
    default: std::time::Duration,
) -> Result<std::time::Duration> {
    let Some(v) = value else {
        return Ok(default);
    };
    let secs: u64 = v.parse().ok().filter(|s| range.contains(s)).with_context(|| {
        format!(
            "{name} must be a whole number of seconds from {} to {}, got '{v}'",
            range.start(),
            range.end()
        )
    })?;
    Ok(std::time::Duration::from_secs(secs))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_flag(name: &str) -> bool {
    env(name).is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
}

impl Config {
    pub fn load(data_dir: &Path, database_url: Option<String>) -> Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let database_url = database_url.unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("kycd.db").display()));
        let (master_key_file, master_key_external) = match env("KYCD_MASTER_KEY_FILE") {
            Some(p) => (PathBuf::from(p), true),
            None => (data_dir.join("master.key"), false),
        };
        let mut engine = EngineConfig::default();
        let public_url_set = env("KYCD_PUBLIC_URL").is_some();
        if let Some(url) = env("KYCD_PUBLIC_URL") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("KYCD_PUBLIC_URL must start with http:// or https://, got '{url}'");
            }
            engine.public_url = url.trim_end_matches('/').to_owned();
        }
        if let Some(v) = env("KYCD_MAX_UPLOAD_BYTES") {
            engine.max_upload_bytes = v
                .parse()
                .with_context(|| format!("KYCD_MAX_UPLOAD_BYTES must be a number of bytes, got '{v}'"))?;
        }
        if let Some(v) = env("KYCD_DECODE_MEMORY_MIB") {
            engine.decode_memory_mib = v
                .parse()
                .ok()
                .filter(|m| (64..=1_048_576).contains(m))
                .with_context(|| format!("KYCD_DECODE_MEMORY_MIB must be 64 to 1048576 MiB, got '{v}'"))?;
        }
        engine.rate_limits.tenant_requests = env_rate(
            "KYCD_RATE_LIMIT_PER_MINUTE",
            "KYCD_RATE_LIMIT_BURST",
            engine.rate_limits.tenant_requests,
        )?;
        engine.rate_limits.uploads = env_rate("KYCD_UPLOAD_RATE_PER_MINUTE", "KYCD_UPLOAD_RATE_BURST", engine.rate_limits.uploads)?;
        if let Some(v) = env("KYCD_SWEEP_INTERVAL_SECONDS") {
            let secs: i64 = v
                .parse()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .with_context(|| format!("KYCD_SWEEP_INTERVAL_SECONDS must be 1 to 86400 seconds, got '{v}'"))?;
            engine.sweep_interval = chrono::Duration::seconds(secs);
        }
        if let Some(v) = env("KYCD_PURGE_DELAY_SECONDS") {
            let secs: i64 = v
                .parse()
                .ok()
                .filter(|s| (0..=86_400).contains(s))
                .with_context(|| format!("KYCD_PURGE_DELAY_SECONDS must be 0 to 86400 seconds, got '{v}'"))?;
            engine.purge_delay = chrono::Duration::seconds(secs);
        }
        let evidence_issuer_set = env("KYCD_EVIDENCE_ISSUER").is_some();
        engine.evidence_issuer = env("KYCD_EVIDENCE_ISSUER").unwrap_or_else(|| engine.public_url.clone());
        engine.crash_after_blob_write = env_flag("KYCD_FAULT_CRASH_AFTER_BLOB_WRITE");
        if let Some(v) = env("KYCD_FAULT_PAUSE_IN_PROCESSING_MS") {
            let ms: u64 = v
                .parse()
                .with_context(|| format!("KYCD_FAULT_PAUSE_IN_PROCESSING_MS must be milliseconds, got '{v}'"))?;
            engine.pause_in_processing = Some(std::time::Duration::from_millis(ms));
        }
        let defaults = crate::http_server::Timeouts::default();
        let http_timeouts = crate::http_server::Timeouts {
            header: env_seconds("KYCD_HEADER_TIMEOUT_SECONDS", 1..=3_600, defaults.header)?,
            body: env_seconds("KYCD_BODY_TIMEOUT_SECONDS", 1..=86_400, defaults.body)?,
        };
        Ok(Self {
            http_timeouts,
            blobs: BlobBackend::from_env()?,
            data_dir,
            database_url,
            master_key_file,
            master_key_external,
            public_url_set,
            evidence_issuer_set,
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

    async fn blob_store(&self) -> Result<Arc<dyn kycd_engine::ObjectStore>> {
        Ok(match &self.blobs {
            BlobBackend::Local => {
                let blob_dir = self.data_dir.join("blobs");
                std::fs::create_dir_all(&blob_dir)?;
                object_store_local(&blob_dir)?
            }
            BlobBackend::S3(s3) => {
                let store = s3.build()?;
                // Fail at start, not on the first upload: a key nobody writes must be
                // answered "not found"; anything else (no route, bad credentials, no
                // such bucket) is a configuration error.
                match store.head(&object_store::path::Path::from("kycd-startup-probe")).await {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => store,
                    Err(e) => bail!(
                        "cannot use the S3 blob store {}: {e}; check KYCD_S3_ENDPOINT, KYCD_S3_BUCKET, KYCD_S3_REGION and the credentials",
                        s3.describe()
                    ),
                }
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
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// How log lines are written on standard error (`--log-format`, `KYCD_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, its fields as key=value.
    Text,
    /// One JSON object per line (with the request's span: request_id, method, route).
    Json,
}

/// The one log stream, on standard error: `KYCD_LOG` filters it (tracing's
/// `EnvFilter` syntax, default `default_level`, e.g. `info` for the server).
pub fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KYCD_LOG").unwrap_or_else(|_| EnvFilter::new(format!("{default_level},sqlx=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second call (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timeouts_are_whole_seconds_in_range() {
        let d = Duration::from_secs(30);
        let p = |v: Option<&str>| parse_seconds("KYCD_HEADER_TIMEOUT_SECONDS", v.map(str::to_owned), 1..=3_600, d);
        assert_eq!(p(None).unwrap(), d);
        assert_eq!(p(Some("5")).unwrap(), Duration::from_secs(5));
        for bad in ["0", "3601", "1.5", "ten", "-1"] {
            let e = p(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("KYCD_HEADER_TIMEOUT_SECONDS") && e.contains(bad), "{e}");
        }
    }
}
