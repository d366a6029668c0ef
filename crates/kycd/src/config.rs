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

const STORAGE: &str = "Storage";
const S3: &str = "S3 blob store (with --blob-store s3)";
const SERVER: &str = "Server";
const LIMITS: &str = "Limits";
const CHECKS: &str = "Checks";
const LOGGING: &str = "Logging";

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Where encrypted blobs go: the data directory's `blobs/` folder, or an S3-compatible
/// bucket (the --s3-* settings). (No doc comments on the variants: `--help` then lists
/// the values on one line.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlobStoreKind {
    Local,
    S3,
}

/// The log filter when none is set.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,tower_http=info";

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, its fields as key=value.
    Text,
    /// One JSON object per line (with the request's span: request_id, method, route).
    Json,
}

/// Every setting kycd reads: a flag, or its environment variable (the flag wins). An
/// empty variable counts as unset. docs/deployment.md explains them.
#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Data directory: SQLite database, encrypted blobs and (by default) the master key.
    #[arg(long, global = true, env = "KYCD_DATA_DIR", default_value = "./kycd-data", value_name = "DIR", help_heading = STORAGE)]
    pub data_dir: PathBuf,
    /// Database URL. Default: sqlite://DATA_DIR/kycd.db. For several instances:
    /// postgres://USER@HOST/DB (add ?sslmode=require across a network).
    #[arg(long, global = true, env = "KYCD_DATABASE_URL", value_name = "URL", hide_env_values = true, help_heading = STORAGE)]
    pub database_url: Option<String>,
    /// The master key file (32 random bytes, or 64 hex characters). Default:
    /// DATA_DIR/master.key, created (0600) on the first start of an empty database. When
    /// set, kycd never creates it: keep it away from the data and its backups.
    #[arg(long, global = true, env = "KYCD_MASTER_KEY_FILE", value_name = "FILE", help_heading = STORAGE)]
    pub master_key_file: Option<PathBuf>,
    /// Where encrypted images go: the data directory's blobs/ folder, or an S3 bucket.
    #[arg(long, global = true, env = "KYCD_BLOB_STORE", value_enum, default_value_t = BlobStoreKind::Local, help_heading = STORAGE)]
    pub blob_store: BlobStoreKind,

    /// The bucket. Default: none; required with --blob-store s3.
    #[arg(long, global = true, env = "KYCD_S3_BUCKET", value_name = "NAME", help_heading = S3)]
    pub s3_bucket: Option<String>,
    /// The store's endpoint for a self-hosted store (MinIO, Garage, Ceph…), http:// or
    /// https://. Default: none (AWS's endpoint for the region).
    #[arg(long, global = true, env = "KYCD_S3_ENDPOINT", value_name = "URL", value_parser = http_url, help_heading = S3)]
    pub s3_endpoint: Option<String>,
    /// The bucket's region.
    #[arg(long, global = true, env = "KYCD_S3_REGION", default_value = "us-east-1", value_name = "REGION", help_heading = S3)]
    pub s3_region: String,
    /// Path-style requests (ENDPOINT/BUCKET/KEY) rather than BUCKET.ENDPOINT/KEY. Default:
    /// true when --s3-endpoint is set, false otherwise.
    #[arg(long, global = true, env = "KYCD_S3_PATH_STYLE", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new(), help_heading = S3)]
    pub s3_path_style: Option<bool>,
    /// A key prefix inside the bucket (e.g. kycd/prod), so several installations can share
    /// one. Default: none.
    #[arg(long, global = true, env = "KYCD_S3_PREFIX", value_name = "PREFIX", value_parser = key_prefix, help_heading = S3)]
    pub s3_prefix: Option<String>,
    /// Access key id. Default: none (both unset: the AWS_* environment or the instance's
    /// role, as the AWS SDKs find them).
    #[arg(long, global = true, env = "KYCD_S3_ACCESS_KEY_ID", value_name = "ID", hide_env_values = true, help_heading = S3)]
    pub s3_access_key_id: Option<String>,
    /// Secret access key. Default: none. Prefer --s3-secret-access-key-file: a flag's
    /// value is visible to every user of the machine.
    #[arg(long, global = true, env = "KYCD_S3_SECRET_ACCESS_KEY", value_name = "SECRET", hide_env_values = true, help_heading = S3)]
    pub s3_secret_access_key: Option<String>,
    /// A file holding the secret access key. Default: none.
    #[arg(long, global = true, env = "KYCD_S3_SECRET_ACCESS_KEY_FILE", value_name = "FILE", help_heading = S3)]
    pub s3_secret_access_key_file: Option<PathBuf>,

    /// The address and port `kycd serve` listens on (host:port, e.g. 127.0.0.1:8080,
    /// 0.0.0.0:8080 or [::]:8080).
    #[arg(long, global = true, env = "KYCD_LISTEN", default_value = "127.0.0.1:8080", value_name = "HOST:PORT", value_parser = listen_address, help_heading = SERVER)]
    pub listen: String,
    /// Where people reach this server (capture and invitation links, evidence tokens),
    /// http:// or https://. Default: http:// + the listen address (set it behind a proxy,
    /// and for commands that print links, such as `operator add`).
    #[arg(long, global = true, env = "KYCD_PUBLIC_URL", value_name = "URL", value_parser = http_url, help_heading = SERVER)]
    pub public_url: Option<String>,
    /// The `iss` of evidence tokens. Default: the public URL.
    #[arg(long, global = true, env = "KYCD_EVIDENCE_ISSUER", value_name = "ISSUER", help_heading = SERVER)]
    pub evidence_issuer: Option<String>,
    /// A request's head (and an idle connection's next one) must arrive within this.
    #[arg(long, global = true, env = "KYCD_HEADER_TIMEOUT_SECONDS", default_value_t = 30, value_name = "SECONDS", value_parser = in_range::<u64>(1, 3_600), help_heading = SERVER)]
    pub header_timeout_seconds: u64,
    /// A request's whole body must arrive within this, from the end of its head.
    #[arg(long, global = true, env = "KYCD_BODY_TIMEOUT_SECONDS", default_value_t = 120, value_name = "SECONDS", value_parser = in_range::<u64>(1, 86_400), help_heading = SERVER)]
    pub body_timeout_seconds: u64,
    /// How often each tenant's lifecycle sweep (expiry, retention) runs.
    #[arg(long, global = true, env = "KYCD_SWEEP_INTERVAL_SECONDS", default_value_t = 300, value_name = "SECONDS", value_parser = in_range::<i64>(1, 86_400), help_heading = SERVER)]
    pub sweep_interval_seconds: i64,
    /// How long after an erasure the erased rows are purged from the database files.
    #[arg(long, global = true, env = "KYCD_PURGE_DELAY_SECONDS", default_value_t = 2, value_name = "SECONDS", value_parser = in_range::<i64>(0, 86_400), help_heading = SERVER)]
    pub purge_delay_seconds: i64,
    /// Processing workers: how many verifications are checked at once (CPU work; each
    /// takes a core while it runs). Default: the number of cores.
    #[arg(long, global = true, env = "KYCD_WORKERS", value_name = "N", value_parser = in_range::<u16>(1, 256), help_heading = SERVER)]
    pub workers: Option<u16>,
    /// Delivery workers: how many webhooks and dialect callbacks are sent at once, apart
    /// from processing (a receiver that hangs holds one for up to the delivery timeout,
    /// never a decision).
    #[arg(long, global = true, env = "KYCD_DELIVERY_WORKERS", default_value_t = kycd_engine::Workers::DEFAULT_DELIVERIES as u16, value_name = "N", value_parser = in_range::<u16>(1, 1024), help_heading = SERVER)]
    pub delivery_workers: u16,
    /// How long a webhook or callback receiver has to answer before the attempt counts as
    /// failed (and is retried on the schedule).
    #[arg(long, global = true, env = "KYCD_DELIVERY_TIMEOUT_SECONDS", default_value_t = 10, value_name = "SECONDS", value_parser = in_range::<u64>(1, 600), help_heading = SERVER)]
    pub delivery_timeout_seconds: u64,

    /// The largest upload, in bytes (a proxy in front must allow at least this × 4/3 +
    /// 64 KiB).
    #[arg(long, global = true, env = "KYCD_MAX_UPLOAD_BYTES", default_value_t = 15 * 1024 * 1024, value_name = "BYTES", value_parser = in_range::<usize>(1, 1 << 40), help_heading = LIMITS)]
    pub max_upload_bytes: usize,
    /// Memory that decoding uploads may take at once, in MiB (one upload at the pixel
    /// limit takes about 195; raise it on a machine with many cores).
    #[arg(long, global = true, env = "KYCD_DECODE_MEMORY_MIB", default_value_t = 256, value_name = "MIB", value_parser = in_range::<u32>(64, 1_048_576), help_heading = LIMITS)]
    pub decode_memory_mib: u32,
    /// Requests a minute per tenant (0: no limit). Default: 6000.
    #[arg(long, global = true, env = "KYCD_RATE_LIMIT_PER_MINUTE", value_name = "N", value_parser = in_range::<u32>(0, 1_000_000), help_heading = LIMITS)]
    pub rate_limit_per_minute: Option<u32>,
    /// Requests a tenant may make at once beyond the rate. Default: 300, or a twentieth of
    /// --rate-limit-per-minute when that is set.
    #[arg(long, global = true, env = "KYCD_RATE_LIMIT_BURST", value_name = "N", value_parser = in_range::<u32>(0, 1_000_000), help_heading = LIMITS)]
    pub rate_limit_burst: Option<u32>,
    /// Uploads a minute per verification (0: no limit). Default: 30.
    #[arg(long, global = true, env = "KYCD_UPLOAD_RATE_PER_MINUTE", value_name = "N", value_parser = in_range::<u32>(0, 1_000_000), help_heading = LIMITS)]
    pub upload_rate_per_minute: Option<u32>,
    /// Uploads a verification may make at once beyond the rate. Default: 15, or a
    /// twentieth of --upload-rate-per-minute when that is set.
    #[arg(long, global = true, env = "KYCD_UPLOAD_RATE_BURST", value_name = "N", value_parser = in_range::<u32>(0, 1_000_000), help_heading = LIMITS)]
    pub upload_rate_burst: Option<u32>,
    /// Console sign-ins and invitation acceptances a minute per client address (each
    /// costs a password hash; behind a proxy every client has the proxy's address; 0: no
    /// limit). Default: 60.
    #[arg(long, global = true, env = "KYCD_SIGN_IN_RATE_PER_MINUTE", value_name = "N", value_parser = in_range::<u32>(0, 1_000_000), help_heading = LIMITS)]
    pub sign_in_rate_per_minute: Option<u32>,
    /// Sign-ins per address at once beyond the rate. Default: 20, or a twentieth of
    /// --sign-in-rate-per-minute when that is set.
    #[arg(long, global = true, env = "KYCD_SIGN_IN_RATE_BURST", value_name = "N", value_parser = in_range::<u32>(0, 1_000_000), help_heading = LIMITS)]
    pub sign_in_rate_burst: Option<u32>,
    /// Sign-ins a minute per account (the email typed, known or not, or the invited
    /// operator; 0: no limit). Default: 10.
    #[arg(long, global = true, env = "KYCD_SIGN_IN_ACCOUNT_RATE_PER_MINUTE", value_name = "N", value_parser = in_range::<u32>(0, 1_000_000), help_heading = LIMITS)]
    pub sign_in_account_rate_per_minute: Option<u32>,
    /// Sign-ins per account at once beyond the rate. Default: 5, or a twentieth of
    /// --sign-in-account-rate-per-minute when that is set.
    #[arg(long, global = true, env = "KYCD_SIGN_IN_ACCOUNT_RATE_BURST", value_name = "N", value_parser = in_range::<u32>(0, 1_000_000), help_heading = LIMITS)]
    pub sign_in_account_rate_burst: Option<u32>,
    /// Request bodies of uploads the process holds at once, in MiB; an upload beyond it
    /// waits up to 15 s for room (holding no body bytes), then gets 503 + Retry-After.
    #[arg(long, global = true, env = "KYCD_UPLOAD_MEMORY_MIB", default_value_t = 64, value_name = "MIB", value_parser = in_range::<u32>(16, 1_048_576), help_heading = LIMITS)]
    pub upload_memory_mib: u32,
    /// Password hashes (Argon2, 19 MiB each) computed at once; more sign-ins wait briefly,
    /// then get 503 + Retry-After. Default: the number of cores.
    #[arg(long, global = true, env = "KYCD_PASSWORD_HASHES", value_name = "N", value_parser = in_range::<u32>(1, 1024), help_heading = LIMITS)]
    pub password_hashes: Option<u32>,

    /// The folder with the OCR and face models (scripts/fetch-models fills it).
    #[arg(long, global = true, env = "KYCD_MODEL_DIR", default_value = "./models", value_name = "DIR", help_heading = CHECKS)]
    pub model_dir: PathBuf,
    /// Face matching (dlib's face recognition weights, see THIRD-PARTY.md). off: no face
    /// is detected or compared; face_match is inconclusive, so every verification with a
    /// selfie goes to a person.
    #[arg(long, global = true, env = "KYCD_FACE_MATCHING", value_enum, default_value_t = Switch::On, help_heading = CHECKS)]
    pub face_matching: Switch,
    /// HEIC/HEIF uploads (iPhone photos, decoded by libheif and libde265; HEVC is
    /// patent-encumbered, see THIRD-PARTY.md). off: they are refused (415), JPEG, PNG and
    /// WebP only.
    #[arg(long, global = true, env = "KYCD_HEIC", value_enum, default_value_t = Switch::On, help_heading = CHECKS)]
    pub heic: Switch,

    /// Log filter (tracing's EnvFilter syntax, e.g. debug or info,kycd_engine=debug).
    #[arg(long, global = true, env = "KYCD_LOG", default_value = DEFAULT_LOG_FILTER, value_name = "FILTER", help_heading = LOGGING)]
    pub log: String,
    /// Log line format: text, or json (one JSON object per line).
    #[arg(long, global = true, env = "KYCD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, help_heading = LOGGING)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub test_hooks: crate::test_hooks::TestHooks,
}

impl Settings {
    /// The worker pools `serve` runs.
    pub fn workers(&self) -> kycd_engine::Workers {
        let mut w = kycd_engine::Workers::default_for_this_machine();
        if let Some(n) = self.workers {
            w.processing = usize::from(n);
        }
        w.deliveries = usize::from(self.delivery_workers);
        w
    }
}

/// `http://…` or `https://…`, without a trailing slash.
fn http_url(s: &str) -> Result<String, String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err(format!("must start with http:// or https://, got '{s}'"))
    }
}

/// A key prefix such as `kycd/prod`.
fn key_prefix(s: &str) -> Result<String, String> {
    let p = s.trim_matches('/');
    if p.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(format!(
            "must be a key prefix such as 'kycd/prod' (no empty, '.' or '..' parts), got '{s}'"
        ));
    }
    Ok(p.to_owned())
}

/// `host:port`: an IP address (`[::1]:8080` for IPv6) or a name, and a port.
pub fn listen_address(s: &str) -> Result<String, String> {
    let wanted = "an address and port, host:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::]:8080)";
    if s.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(s.to_owned());
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(':') && port.parse::<u16>().is_ok() => Ok(s.to_owned()),
        Some((_, port)) if port.parse::<u16>().is_err() && !port.is_empty() => {
            Err(format!("must be {wanted}; the port '{port}' is not a number from 0 to 65535"))
        }
        _ => Err(format!("must be {wanted}, got '{s}' (no port)")),
    }
}

/// A whole number from `lo` to `hi`.
fn in_range<T>(lo: T, hi: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |s: &str| {
        s.trim()
            .parse::<T>()
            .ok()
            .filter(|n| *n >= lo && *n <= hi)
            .ok_or_else(|| format!("must be a whole number from {lo} to {hi}, got '{s}'"))
    }
}

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

/// The blob backend (--blob-store). Either way blobs are sealed with their own data key
/// before they leave the process: the store only ever sees ciphertext.
pub enum BlobBackend {
    Local,
    S3(S3Settings),
}

/// An S3-compatible bucket (AWS S3, MinIO, Garage, Ceph…), from the --s3-* settings.
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
    /// `s3_settings_need_s3`: S3 settings without --blob-store s3 are a mistake (they
    /// would be ignored), except for a command that reads them for a target of its own.
    fn from_settings(s: &Settings, s3_settings_need_s3: bool) -> Result<Self> {
        match s.blob_store {
            BlobStoreKind::Local => {
                for (name, flag, set) in [
                    ("KYCD_S3_BUCKET", "--s3-bucket", s.s3_bucket.is_some()),
                    ("KYCD_S3_ENDPOINT", "--s3-endpoint", s.s3_endpoint.is_some()),
                ]
                .into_iter()
                .filter(|_| s3_settings_need_s3)
                {
                    if set {
                        bail!(
                            "{name} is set but KYCD_BLOB_STORE is not 's3': set KYCD_BLOB_STORE=s3 (--blob-store s3) to store blobs in S3, or unset {name} ({flag})"
                        );
                    }
                }
                Ok(Self::Local)
            }
            BlobStoreKind::S3 => Ok(Self::S3(S3Settings::from_settings(s)?)),
        }
    }
}

impl S3Settings {
    fn from_settings(s: &Settings) -> Result<Self> {
        let bucket = s
            .s3_bucket
            .clone()
            .context("KYCD_BLOB_STORE=s3 needs KYCD_S3_BUCKET (--s3-bucket): the bucket name")?;
        Self::from_settings_for(s, bucket, s.s3_prefix.clone())
    }

    /// The bucket and prefix of an `s3://BUCKET/PREFIX` URL; the endpoint, region, path
    /// style and credentials from the --s3-* settings.
    pub fn from_url(s: &Settings, url: &str) -> Result<Self> {
        let Some(rest) = url.strip_prefix("s3://") else {
            bail!("--blobs must be an s3://BUCKET/PREFIX URL, got '{url}'");
        };
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, Some(p)),
            None => (rest, None),
        };
        if bucket.is_empty() {
            bail!("--blobs {url} names no bucket: use s3://BUCKET/PREFIX");
        }
        let prefix = match prefix.filter(|p| !p.trim_matches('/').is_empty()) {
            Some(p) => Some(key_prefix(p).map_err(|e| anyhow::anyhow!("the prefix of --blobs {e}"))?),
            None => None,
        };
        Self::from_settings_for(s, bucket.to_owned(), prefix)
    }

    fn from_settings_for(s: &Settings, bucket: String, prefix: Option<String>) -> Result<Self> {
        let endpoint = s.s3_endpoint.clone();
        // Self-hosted stores rarely have per-bucket DNS names: path-style by default there.
        let path_style = s.s3_path_style.unwrap_or(endpoint.is_some());
        let secret = match (&s.s3_secret_access_key, &s.s3_secret_access_key_file) {
            (Some(_), Some(_)) => bail!("set KYCD_S3_SECRET_ACCESS_KEY or KYCD_S3_SECRET_ACCESS_KEY_FILE, not both"),
            (Some(secret), None) => Some(secret.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read KYCD_S3_SECRET_ACCESS_KEY_FILE {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let credentials = match (s.s3_access_key_id.clone(), secret) {
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
            region: s.s3_region.clone(),
            endpoint,
            path_style,
            prefix,
            credentials,
        })
    }

    /// Fail at start, not on the first upload: a key nobody writes must be answered "not
    /// found"; anything else (no route, bad credentials, no such bucket) is a
    /// configuration error.
    pub async fn probe(&self, store: &Arc<dyn kycd_engine::ObjectStore>) -> Result<()> {
        match store.head(&object_store::path::Path::from("kycd-startup-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => bail!(
                "cannot use the S3 blob store {}: {e}; check KYCD_S3_ENDPOINT, KYCD_S3_BUCKET, KYCD_S3_REGION and the credentials",
                self.describe()
            ),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "s3://{}/{} at {}",
            self.bucket,
            self.prefix.as_deref().unwrap_or(""),
            self.endpoint.as_deref().unwrap_or("AWS")
        )
    }

    pub fn build(&self) -> Result<Arc<dyn kycd_engine::ObjectStore>> {
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
mod tests {
    use super::*;

    #[test]
    fn listen_wants_host_and_port() {
        for ok in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "[::]:8080",
            "[::1]:9",
            "localhost:8080",
            "kycd.internal:443",
        ] {
            assert_eq!(listen_address(ok).as_deref(), Ok(ok));
        }
        for bad in ["localhost", "127.0.0.1", "::1", ":8080", "localhost:http", "host:70000", ""] {
            let e = listen_address(bad).unwrap_err();
            assert!(e.contains("host:port") && e.contains("127.0.0.1:8080"), "{bad}: {e}");
        }
    }

    #[test]
    fn numbers_are_whole_and_in_range() {
        let p = in_range::<u64>(1, 3_600);
        assert_eq!(p("5"), Ok(5));
        assert_eq!(p(" 3600 "), Ok(3_600));
        for bad in ["0", "3601", "1.5", "ten", "-1", ""] {
            let e = p(bad).unwrap_err();
            assert!(e.contains("from 1 to 3600") && e.contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn urls_and_prefixes() {
        assert_eq!(http_url("https://kyc.example.com/").as_deref(), Ok("https://kyc.example.com"));
        assert!(http_url("kyc.example.com").unwrap_err().contains("http:// or https://"));
        assert_eq!(key_prefix("/kycd/prod/").as_deref(), Ok("kycd/prod"));
        for bad in ["a//b", "a/../b", "./a"] {
            assert!(key_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_rate_without_a_burst_gets_three_seconds_worth() {
        use kycd_engine::ratelimit::Rate;
        let d = Rate {
            per_minute: 6000,
            burst: 300,
        };
        assert_eq!(rate(None, None, d), d);
        assert_eq!(
            rate(Some(600), None, d),
            Rate {
                per_minute: 600,
                burst: 30
            }
        );
        assert_eq!(rate(Some(6), None, d), Rate { per_minute: 6, burst: 1 });
        assert_eq!(
            rate(None, Some(0), d),
            Rate {
                per_minute: 6000,
                burst: 1
            }
        );
    }
}
