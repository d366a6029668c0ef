//! The black-box harness (the `server` feature): spawns the real `kycd` binary on port 0
//! with a fresh data directory (and, when `KYCD_TEST_DATABASE_URL` is set, a fresh
//! PostgreSQL database), and talks to it over HTTP and the CLI like a user would. When
//! `KYCD_TEST_S3_ENDPOINT` is set too, every instance keeps its blobs in a fresh prefix of
//! the bucket `KYCD_TEST_S3_BUCKET` on that S3 server.
//!
//! - [`Instance`]: one installation (data directory, database, blob prefix) and its CLI.
//! - [`Server`]: a running `kycd serve` on an instance.
//! - [`Api`] and [`Resp`]: an HTTP client bound to an API key, and its answers.
//! - [`RawConn`]: a plain HTTP/1.1 connection, for what a pooled client hides.
//!
//! The binary is the one Cargo built for the running integration test
//! (`CARGO_BIN_EXE_kycd`, which Cargo and nextest set when they run it).
// Harness code: a failure here is a test's failure, so it unwraps, expects and panics
// with the reason, as the tests themselves do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod instance;
mod process;
mod raw;

pub use client::{Api, Resp, assert_problem};
pub use instance::Instance;
pub use process::Server;
pub use raw::{RawConn, RawResponse};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The `kycd` binary under test: `CARGO_BIN_EXE_kycd`, which Cargo and nextest set for
/// the integration tests of the `kycd` package (a library cannot name it at build time).
pub fn kycd_binary() -> PathBuf {
    std::env::var_os("CARGO_BIN_EXE_kycd").map(PathBuf::from).unwrap_or_else(|| {
        panic!("CARGO_BIN_EXE_kycd is not set: the harness runs under `cargo test` or `cargo nextest` of the kycd package")
    })
}

/// Environment variables of the server that must not leak in from the caller's shell.
const SERVER_ENV: &[&str] = &[
    "KYCD_LISTEN",
    "KYCD_DATA_DIR",
    "KYCD_DATABASE_URL",
    "KYCD_MASTER_KEY_FILE",
    "KYCD_PUBLIC_URL",
    "KYCD_FAULT_CRASH_AFTER_BLOB_WRITE",
    "KYCD_LOG",
    "KYCD_LOG_FORMAT",
    "KYCD_METRICS_TOKEN",
    "KYCD_METRICS_LISTEN",
    "KYCD_BLOB_STORE",
    "KYCD_S3_BUCKET",
    "KYCD_S3_ENDPOINT",
    "KYCD_S3_REGION",
    "KYCD_S3_PATH_STYLE",
    "KYCD_S3_PREFIX",
    "KYCD_S3_ACCESS_KEY_ID",
    "KYCD_S3_SECRET_ACCESS_KEY",
    "KYCD_S3_SECRET_ACCESS_KEY_FILE",
    "KYCD_EVIDENCE_ISSUER",
    "KYCD_FACE_MATCHING",
    "KYCD_HEIC",
    "KYCD_WORKERS",
    "KYCD_DELIVERY_WORKERS",
    "KYCD_DELIVERY_TIMEOUT_SECONDS",
];

/// The S3 server the suite keeps blobs on, if any: `KYCD_TEST_S3_ENDPOINT` with
/// `KYCD_TEST_S3_BUCKET`, `KYCD_TEST_S3_ACCESS_KEY_ID`, `KYCD_TEST_S3_SECRET_ACCESS_KEY`
/// and, for the tests that inspect the stored bytes, `KYCD_TEST_S3_ROOT` (the folder
/// where that server keeps objects as files, `ROOT/BUCKET/KEY`).
pub struct S3Test {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub root: Option<PathBuf>,
}

pub fn s3_test() -> Option<S3Test> {
    let var = |n: &str| std::env::var(n).ok().filter(|s| !s.trim().is_empty());
    let endpoint = var("KYCD_TEST_S3_ENDPOINT")?;
    let need = |n: &str| var(n).unwrap_or_else(|| panic!("KYCD_TEST_S3_ENDPOINT is set, so {n} must be too"));
    Some(S3Test {
        endpoint,
        bucket: need("KYCD_TEST_S3_BUCKET"),
        access_key: need("KYCD_TEST_S3_ACCESS_KEY_ID"),
        secret_key: need("KYCD_TEST_S3_SECRET_ACCESS_KEY"),
        root: var("KYCD_TEST_S3_ROOT").map(PathBuf::from),
    })
}

pub fn on_s3() -> bool {
    s3_test().is_some()
}

/// The PostgreSQL server to create per-instance databases on, if the suite runs on it.
pub fn pg_base_url() -> Option<String> {
    std::env::var("KYCD_TEST_DATABASE_URL").ok().filter(|s| !s.trim().is_empty())
}

pub fn on_postgres() -> bool {
    pg_base_url().is_some()
}

fn random_lower(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from(b'a' + rng.gen_range(0..26u8))).collect()
}

/// `postgres://user@host:port/db?x` with its database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (url, None),
    };
    let scheme_end = main.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match main[scheme_end..].find('/') {
        Some(i) => &main[..scheme_end + i],
        None => main,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

pub fn str_field(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("expected string field {field:?} in {v}"))
        .to_owned()
}

#[derive(Debug, Clone)]
pub struct TenantKeys {
    pub tenant_id: String,
    pub api_key: String,
    pub key_id: String,
}

#[derive(Debug)]
pub struct CliOutput {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "kycd {:?} failed\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn success_json(&self) -> Value {
        self.success();
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "kycd {:?} --json printed no clean JSON on stdout ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }

    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// All regular files under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}
