//! Every setting as a flag with an environment variable (`Settings`, read by clap, so
//! `kycd --help` is the reference), and the parsers that refuse a bad value at start.

use super::*;

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
pub(super) fn http_url(s: &str) -> Result<String, String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err(format!("must start with http:// or https://, got '{s}'"))
    }
}

/// A key prefix such as `kycd/prod`.
pub(super) fn key_prefix(s: &str) -> Result<String, String> {
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
pub(super) fn in_range<T>(lo: T, hi: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
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
