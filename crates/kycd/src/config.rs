//! Startup configuration: data dir, database, master key, engine settings. Bad config
//! fails here, at start, with a message that says what to fix.

use anyhow::{Context, Result, bail};
use kycd_core::Mode;
use kycd_engine::{Engine, EngineConfig, MasterKey, Store, StoreConfig};
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
        if let Some(v) = env("KYCD_SWEEP_INTERVAL_SECONDS") {
            let secs: i64 = v
                .parse()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .with_context(|| format!("KYCD_SWEEP_INTERVAL_SECONDS must be 1 to 86400 seconds, got '{v}'"))?;
            engine.sweep_interval = chrono::Duration::seconds(secs);
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
            data_dir,
            database_url,
            master_key_file,
            master_key_external,
            public_url_set,
            evidence_issuer_set,
            engine,
        })
    }

    /// Read the master key, or create it (0600) on first start when it lives in the data dir.
    fn master_key(&self) -> Result<MasterKey> {
        let path = &self.master_key_file;
        match std::fs::read(path) {
            Ok(bytes) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(path)?.permissions().mode();
                    if mode & 0o077 != 0 {
                        eprintln!(
                            "warning: master key {} is readable by other users (mode {:o}); run: chmod 600 {}",
                            path.display(),
                            mode & 0o777,
                            path.display()
                        );
                    }
                }
                MasterKey::from_file_bytes(&bytes).with_context(|| format!("reading master key {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.master_key_external => {
                let (key, raw) = MasterKey::generate();
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts
                    .open(path)
                    .with_context(|| format!("cannot create master key {}", path.display()))?;
                writeln!(f, "{}", hex_encode(&raw))?;
                f.sync_all()?;
                eprintln!(
                    "generated a new master key at {} (mode 0600); back it up separately from the data: without it nothing stored can be read",
                    path.display()
                );
                Ok(key)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read master key {} (set by KYCD_MASTER_KEY_FILE)", path.display())),
        }
    }

    pub async fn open_store(&self) -> Result<Store> {
        let blob_dir = self.data_dir.join("blobs");
        std::fs::create_dir_all(&blob_dir)?;
        let blobs = object_store_local(&blob_dir)?;
        Store::open(StoreConfig {
            database_url: self.database_url.clone(),
            blobs,
            master_key: self.master_key()?,
        })
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&self.database_url)))
    }

    /// In live mode the master key should not sit beside the data it protects.
    pub async fn warn_about_key_placement(&self, engine: &Engine) {
        if self.master_key_external {
            return;
        }
        if let Ok(tenants) = engine.list_tenants().await
            && tenants.iter().any(|t| t.mode == Mode::Live)
        {
            eprintln!(
                "warning: production (live) tenants exist but the master key is kept in the data directory ({}); \
                 a copy of that directory exposes everything. Move the key elsewhere and set KYCD_MASTER_KEY_FILE.",
                self.master_key_file.display()
            );
        }
    }
}

fn object_store_local(dir: &Path) -> Result<Arc<dyn kycd_engine::ObjectStore>> {
    Ok(Arc::new(kycd_engine::LocalFileSystem::new_with_prefix(dir)?))
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

pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KYCD_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if env("KYCD_LOG_FORMAT").as_deref() == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
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
