//! Spawns the real `kycd` binary on port 0 with a fresh data directory (and, when
//! `KYCD_TEST_DATABASE_URL` is set, a fresh PostgreSQL database), and talks to it over
//! HTTP like a user would. When `KYCD_TEST_S3_ENDPOINT` is set too, every instance keeps
//! its blobs in a fresh prefix of the bucket `KYCD_TEST_S3_BUCKET` on that S3 server.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_kycd");

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

/// One kycd installation: a data directory and its database. Several server processes
/// can run on it one after the other (restart).
pub struct Instance {
    dir: tempfile::TempDir,
    /// `Some` when the instance runs on PostgreSQL.
    pub db_url: Option<String>,
    pg: Option<(String, String)>,
    /// `Some` when blobs go to the test S3 server, under this key prefix.
    pub s3_prefix: Option<String>,
}

impl Instance {
    pub async fn new() -> Arc<Instance> {
        let dir = tempfile::Builder::new().prefix("kycd-it-").tempdir().expect("temp data dir");
        let (db_url, pg) = match pg_base_url() {
            None => (None, None),
            Some(base) => {
                use sqlx::{Connection, Executor};
                let name = format!("kycd_it_{}", random_lower(16));
                let mut conn = sqlx::PgConnection::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("connect to KYCD_TEST_DATABASE_URL {base}: {e}"));
                let mut last = None;
                for _ in 0..5 {
                    match conn.execute(format!("CREATE DATABASE {name}").as_str()).await {
                        Ok(_) => {
                            last = None;
                            break;
                        }
                        Err(e) => {
                            last = Some(e);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
                if let Some(e) = last {
                    panic!("CREATE DATABASE {name}: {e}");
                }
                let _ = conn.close().await;
                let url = with_database(&base, &name);
                (Some(url), Some((base, name)))
            }
        };
        let s3_prefix = s3_test().map(|_| format!("it-{}", random_lower(16)));
        Arc::new(Instance {
            dir,
            db_url,
            pg,
            s3_prefix,
        })
    }

    /// An installation on the embedded default (SQLite, the data directory's blob
    /// folder), whatever database and blob store the suite runs on.
    pub async fn new_sqlite() -> Arc<Instance> {
        let dir = tempfile::Builder::new().prefix("kycd-it-").tempdir().expect("temp data dir");
        Arc::new(Instance {
            dir,
            db_url: None,
            pg: None,
            s3_prefix: None,
        })
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The folder that holds this instance's encrypted blobs as files: `DATA_DIR/blobs`,
    /// or on S3 the test server's own folder for this instance's prefix.
    pub fn blob_dir(&self) -> PathBuf {
        match (&self.s3_prefix, s3_test()) {
            (Some(prefix), Some(s3)) => {
                let root = s3
                    .root
                    .unwrap_or_else(|| panic!("this test reads stored blobs: set KYCD_TEST_S3_ROOT to the S3 server's data folder"));
                root.join(s3.bucket).join(prefix)
            }
            _ => self.data_dir().join("blobs"),
        }
    }

    fn apply_env(&self, cmd: &mut Command) {
        for k in SERVER_ENV {
            cmd.env_remove(k);
        }
        if let Some(url) = &self.db_url {
            cmd.env("KYCD_DATABASE_URL", url);
        }
        if let (Some(prefix), Some(s3)) = (&self.s3_prefix, s3_test()) {
            cmd.env("KYCD_BLOB_STORE", "s3")
                .env("KYCD_S3_ENDPOINT", s3.endpoint)
                .env("KYCD_S3_BUCKET", s3.bucket)
                .env("KYCD_S3_ACCESS_KEY_ID", s3.access_key)
                .env("KYCD_S3_SECRET_ACCESS_KEY", s3.secret_key)
                .env("KYCD_S3_PREFIX", prefix);
        }
    }

    /// This instance's database URL, as the server gets it.
    pub fn database_url(&self) -> String {
        match &self.db_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir().join("kycd.db").display()),
        }
    }

    /// A connection of our own to this instance's database (SQLite or PostgreSQL), as an
    /// attacker or an operator with database access has.
    pub async fn db_connection(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.database_url()).await.unwrap()
    }

    /// Run one SQL statement directly on this instance's database; returns rows affected.
    pub async fn execute_sql(&self, sql: &str) -> u64 {
        use sqlx::{Connection, Executor};
        let mut c = self.db_connection().await;
        let n = c.execute(sql).await.unwrap().rows_affected();
        c.close().await.unwrap();
        n
    }

    /// The integer one SQL query answers on this instance's database (`SELECT COUNT(*) …`).
    pub async fn query_i64(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let mut c = self.db_connection().await;
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
        c.close().await.unwrap();
        n
    }

    /// The text values one SQL query answers (first column; NULLs skipped).
    pub async fn query_strings(&self, sql: &str) -> Vec<String> {
        use sqlx::Connection;
        let mut c = self.db_connection().await;
        let v: Vec<Option<String>> = sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap();
        c.close().await.unwrap();
        v.into_iter().flatten().collect()
    }

    /// Every file that holds this instance's database, as someone who copies the disk
    /// reads them: SQLite's database and WAL files, or the relation files of the
    /// PostgreSQL database (after a `CHECKPOINT`, so that what sits in shared buffers is
    /// on disk too; the test runs as a user that may read the server's data directory).
    pub async fn raw_database_files(&self) -> Vec<PathBuf> {
        if self.db_url.is_none() {
            return ["kycd.db", "kycd.db-wal", "kycd.db-shm"]
                .iter()
                .map(|n| self.data_dir().join(n))
                .filter(|p| p.exists())
                .collect();
        }
        use sqlx::{Connection, Executor};
        let mut c = self.db_connection().await;
        c.execute("CHECKPOINT").await.unwrap();
        let data: String = sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let oid: String = sqlx::query_scalar("SELECT oid::text FROM pg_database WHERE datname = current_database()")
            .fetch_one(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        let files = files_under(&Path::new(&data).join("base").join(oid));
        assert!(
            !files.is_empty(),
            "cannot read PostgreSQL's relation files under {data}: run the test as a user that may"
        );
        files
    }

    /// Run a CLI subcommand against this instance (same data dir and database).
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        self.cli_env(args, &[]).await
    }

    /// Run a CLI subcommand with extra environment (e.g. a shifted test clock).
    pub async fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        self.apply_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("kycd {args:?} did not finish within 60 s"))
            .unwrap_or_else(|e| panic!("run kycd {args:?}: {e}"));
        CliOutput {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub async fn create_tenant(&self, name: &str, live: bool) -> TenantKeys {
        let mut args = vec!["tenant", "create", "--name", name, "--json"];
        if live {
            args.push("--live");
        }
        let v = self.cli(&args).await.success_json();
        TenantKeys {
            tenant_id: str_field(&v, "tenant_id"),
            api_key: str_field(&v, "api_key"),
            key_id: str_field(&v, "key_id"),
        }
    }

    /// `kycd apikey create --tenant T --scope S --json` → (key_id, api_key).
    pub async fn create_key(&self, tenant_id: &str, scope: &str) -> (String, String) {
        let v = self
            .cli(&["apikey", "create", "--tenant", tenant_id, "--scope", scope, "--json"])
            .await
            .success_json();
        (str_field(&v, "key_id"), str_field(&v, "api_key"))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let (
            Some(prefix),
            Some(S3Test {
                root: Some(root), bucket, ..
            }),
        ) = (&self.s3_prefix, s3_test())
        {
            let _ = std::fs::remove_dir_all(root.join(bucket).join(prefix));
        }
        let Some((base, name)) = self.pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                use sqlx::{Connection, Executor};
                if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                    let _ = c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
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

/// A running `kycd serve`. The child is killed on drop.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    /// The admin key of the first tenant (printed on first start, or carried over).
    pub admin_key: String,
    /// What this start printed as `admin api key: …`, if anything.
    pub printed_admin_key: Option<String>,
    pub inst: Arc<Instance>,
    logs: Arc<Mutex<Vec<u8>>>,
    http: reqwest::Client,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with_env(&[]).await
    }

    pub async fn start_with_env(env: &[(&str, &str)]) -> Server {
        let inst = Instance::new().await;
        Self::start_on(inst, env, None).await
    }

    /// Start a server process on an existing instance (restart). `admin_key` is the key a
    /// previous start printed; a first start must print one.
    pub async fn start_on(inst: Arc<Instance>, env: &[(&str, &str)], admin_key: Option<String>) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(inst.data_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        inst.apply_env(&mut cmd);
        // The suite sends bursts far beyond a person's or an integration's pace (2 000
        // uploads, 320-call matrices); rate limits are off unless a test turns them on
        // (ratelimit.rs tests them, defaults included).
        cmd.env("KYCD_RATE_LIMIT_PER_MINUTE", "0")
            .env("KYCD_UPLOAD_RATE_PER_MINUTE", "0")
            .env("KYCD_SIGN_IN_RATE_PER_MINUTE", "0")
            .env("KYCD_SIGN_IN_ACCOUNT_RATE_PER_MINUTE", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn kycd serve");
        let logs = Arc::new(Mutex::new(Vec::new()));

        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        tokio::spawn(async move {
            let mut stderr = stderr;
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });

        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout);
        let mut printed_admin_key = None;
        let started = tokio::time::timeout(Duration::from_secs(60), async {
            let mut line = String::new();
            loop {
                line.clear();
                let n = lines.read_line(&mut line).await.unwrap_or(0);
                if n == 0 {
                    return None;
                }
                logs.lock().unwrap().extend_from_slice(line.as_bytes());
                let l = line.trim();
                if let Some(k) = l.strip_prefix("admin api key: ") {
                    printed_admin_key = Some(k.trim().to_owned());
                } else if let Some(addr) = l.strip_prefix("listening on ") {
                    return Some(addr.trim().trim_end_matches('/').to_owned());
                }
            }
        })
        .await;
        let base = match started {
            Ok(Some(base)) => base,
            other => {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let out = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
                panic!(
                    "kycd serve did not print 'listening on http://…' ({}); output:\n{out}",
                    if other.is_err() { "timed out after 60 s" } else { "stdout closed" }
                );
            }
        };
        assert!(
            base.starts_with("http://"),
            "listening line must name an http:// address, got {base:?}"
        );
        // Keep draining stdout so the server never blocks on a full pipe.
        let sink = logs.clone();
        tokio::spawn(async move {
            let mut rest = lines;
            let mut buf = [0u8; 8192];
            while let Ok(n) = rest.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });

        let admin_key = match (&printed_admin_key, admin_key) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k,
            (None, None) => panic!("first start printed no 'admin api key: …' line"),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // The server closes a connection idle for KYCD_HEADER_TIMEOUT_SECONDS (30 s); a
            // pooled connection older than that would fail the next request (a POST is not
            // retried) when a test spends a while between two calls on a loaded machine.
            .pool_idle_timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        Server {
            child: Some(child),
            base,
            admin_key,
            printed_admin_key,
            inst,
            logs,
            http,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.inst.data_dir()
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The server process's resident set size in KiB (`VmRSS` of `/proc/<pid>/status`),
    /// where the platform has it.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    pub fn instance(&self) -> Arc<Instance> {
        self.inst.clone()
    }

    /// Everything the process wrote on stdout and stderr so far.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().unwrap()).into_owned()
    }

    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        self.inst.cli(args).await
    }

    /// `kycd audit trail --json` of one object of a tenant: its (action, actor) pairs,
    /// oldest first, reads included.
    pub async fn audit_trail(&self, tenant: &str, object: &str) -> Vec<(String, String)> {
        let out = self.cli(&["audit", "trail", "--tenant", tenant, object, "--json"]).await;
        out.success_json()
            .as_array()
            .unwrap_or_else(|| panic!("audit trail is an array: {}", out.all_output()))
            .iter()
            .map(|e| (str_field(e, "action"), str_field(e, "actor")))
            .collect()
    }

    pub fn client_for(&self, key: &str) -> Api {
        Api {
            http: self.http.clone(),
            base: self.base.clone(),
            key: Some(key.to_owned()),
        }
    }

    /// A client that never reuses a connection.
    pub fn client_unpooled(&self, key: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(0)
                .build()
                .expect("http client"),
            base: self.base.clone(),
            key: Some(key.to_owned()),
        }
    }

    pub fn admin(&self) -> Api {
        self.client_for(&self.admin_key)
    }

    pub fn anon(&self) -> Api {
        Api {
            http: self.http.clone(),
            base: self.base.clone(),
            key: None,
        }
    }

    /// Wait for the process to exit on its own.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        match tokio::time::timeout(within, child.wait()).await {
            Ok(Ok(st)) => Some(st),
            _ => None,
        }
    }

    /// Stop the process as an operator does (SIGTERM: it finishes its requests and signs
    /// off the database) and wait for it.
    pub async fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
            }
            let exited = tokio::time::timeout(Duration::from_secs(40), c.wait()).await;
            if exited.is_err() {
                let _ = c.kill().await;
                panic!("kycd serve did not stop within 40 s of SIGTERM:\n{}", self.logs());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    /// Kill the process (SIGKILL) and wait for it.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
        // Let the log pumps read what is left.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
    }
}

/// An HTTP response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub what: String,
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}); status {}, body: {}",
                self.what,
                self.status,
                self.text()
            )
        })
    }

    /// Assert a 2xx answer and return its JSON.
    pub fn ok(&self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "{}: expected success, got {} {}",
            self.what,
            self.status,
            self.text()
        );
        self.json()
    }

    /// Assert a 2xx answer and return its bytes.
    pub fn ok_bytes(&self) -> Vec<u8> {
        assert!(
            (200..300).contains(&self.status),
            "{}: expected success, got {} {}",
            self.what,
            self.status,
            self.text()
        );
        self.body.clone()
    }

    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}: expected {status}, got {} {}",
            self.what,
            self.status,
            self.text()
        );
        self
    }

    /// Assert an RFC 9457 problem with the given status and `type` code; returns the body.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_problem(&self.what, self.status, &self.content_type, &self.body, status, code)
    }
}

pub fn assert_problem(what: &str, got_status: u16, content_type: &str, body: &[u8], status: u16, code: &str) -> Value {
    let text = String::from_utf8_lossy(body);
    assert_eq!(got_status, status, "{what}: expected {status} {code}, got {got_status} {text}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{what}: expected content-type application/problem+json, got {content_type:?}; body {text}"
    );
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{what}: problem body is not JSON ({e}): {text}"));
    assert_eq!(
        v.get("type").and_then(Value::as_str),
        Some(format!("https://kycd.dev/problems/{code}").as_str()),
        "{what}: wrong problem type in {v}"
    );
    assert_eq!(
        v.get("status").and_then(Value::as_u64),
        Some(u64::from(status)),
        "{what}: problem status field in {v}"
    );
    assert!(
        v.get("title").and_then(Value::as_str).is_some_and(|t| !t.trim().is_empty()),
        "{what}: problem needs a non-empty title: {v}"
    );
    assert!(
        v.get("detail").and_then(Value::as_str).is_some_and(|t| !t.trim().is_empty()),
        "{what}: problem needs a non-empty detail: {v}"
    );
    v
}

/// A client bound to one API key (or none).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, self.url(path));
        if let Some(k) = &self.key {
            r = r.bearer_auth(k);
        }
        r
    }

    pub async fn try_send(&self, what: String, rb: reqwest::RequestBuilder) -> Result<Resp, reqwest::Error> {
        let r = rb.send().await?;
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = r.bytes().await?.to_vec();
        Ok(Resp {
            what,
            status,
            content_type,
            body,
        })
    }

    pub async fn send(&self, what: String, rb: reqwest::RequestBuilder) -> Resp {
        match self.try_send(what.clone(), rb).await {
            Ok(r) => r,
            Err(e) => panic!("{what}: request failed: {e:?}"),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(format!("GET {path}"), self.req(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(format!("DELETE {path}"), self.req(reqwest::Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(format!("POST {path}"), self.req(reqwest::Method::POST, path).json(body))
            .await
    }

    /// POST with no body at all.
    pub async fn post_empty(&self, path: &str) -> Resp {
        self.send(format!("POST {path}"), self.req(reqwest::Method::POST, path)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send(format!("PUT {path}"), self.req(reqwest::Method::PUT, path).json(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(format!("PATCH {path}"), self.req(reqwest::Method::PATCH, path).json(body))
            .await
    }

    /// POST a body as is, with the given Content-Type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        self.send(
            format!("POST {path} ({content_type}, raw)"),
            self.raw_request(path, content_type, body),
        )
        .await
    }

    pub fn raw_request(&self, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.req(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
    }

    /// POST a multipart form with one file field.
    pub async fn post_multipart(&self, path: &str, field: &str, file_name: &str, mime: &str, bytes: Vec<u8>) -> Resp {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .expect("mime");
        let form = reqwest::multipart::Form::new().part(field.to_owned(), part);
        self.send(
            format!("POST {path} (multipart {field})"),
            self.req(reqwest::Method::POST, path).multipart(form),
        )
        .await
    }

    /// POST a raw body over a plain TCP connection: the head declares `total` bytes, the
    /// body starts with `prefix` and goes on with zeros, written while the answer is read,
    /// so a server that refuses early is heard. Returns (status, content-type, body) when
    /// an answer came, or the error text.
    pub async fn post_huge_raw(
        &self,
        path: &str,
        content_type: &str,
        prefix: &[u8],
        total: usize,
    ) -> Result<(u16, String, Vec<u8>), String> {
        let host = self.base.strip_prefix("http://").ok_or("base is not http")?.to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await.map_err(|e| e.to_string())?;
        let (mut rd, mut wr) = stream.into_split();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {total}\r\nConnection: close\r\n"
        );
        if let Some(k) = &self.key {
            head.push_str(&format!("Authorization: Bearer {k}\r\n"));
        }
        head.push_str("\r\n");
        let prefix = prefix.to_vec();
        let writer = tokio::spawn(async move {
            wr.write_all(head.as_bytes()).await?;
            wr.write_all(&prefix).await?;
            let chunk = vec![0u8; 1 << 20];
            let mut left = total.saturating_sub(prefix.len());
            while left > 0 {
                let n = left.min(chunk.len());
                wr.write_all(&chunk[..n]).await?;
                left -= n;
            }
            wr.flush().await?;
            Ok::<_, std::io::Error>(wr)
        });
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(60), async {
            let mut tmp = [0u8; 16384];
            loop {
                let parsed = || parse_http_response(&buf).map(|(r, _)| (r.status, r.content_type(), r.body));
                if let Some(done) = parsed() {
                    return Ok(done);
                }
                match rd.read(&mut tmp).await {
                    Ok(0) => return parsed().ok_or("connection closed".into()),
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    Err(e) => return parsed().ok_or(format!("read error: {e}")),
                }
            }
        })
        .await;
        writer.abort();
        match read {
            Ok(r) => r,
            Err(_) => Err("no answer within 60 s".into()),
        }
    }
}

/// One HTTP/1.1 response read off a raw connection.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or("").to_owned()
    }
}

/// A complete HTTP/1.1 response at the start of `buf`, if there is one yet, with the
/// number of bytes it takes.
fn parse_http_response(buf: &[u8]) -> Option<(RawResponse, usize)> {
    let end = memchr::memmem::find(buf, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
            match k.as_str() {
                "content-length" => length = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
            headers.push((k, v));
        }
    }
    let rest = &buf[end + 4..];
    if chunked {
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let line_end = memchr::memmem::find(&rest[pos..], b"\r\n")? + pos;
            let size_txt = String::from_utf8_lossy(&rest[pos..line_end]);
            let size = usize::from_str_radix(size_txt.split(';').next()?.trim(), 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                // No trailers are expected: the final CRLF follows.
                if rest.len() < pos + 2 {
                    return None;
                }
                let r = RawResponse { status, headers, body };
                return Some((r, end + 4 + pos + 2));
            }
            if rest.len() < pos + size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
    }
    let length = length.unwrap_or(0);
    if rest.len() < length {
        return None;
    }
    let r = RawResponse {
        status,
        headers,
        body: rest[..length].to_vec(),
    };
    Some((r, end + 4 + length))
}

/// A plain HTTP/1.1 connection, for what a pooled client hides (keep-alive behaviour).
pub struct RawConn {
    stream: tokio::net::TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl RawConn {
    pub async fn open(base: &str) -> RawConn {
        let host = base.strip_prefix("http://").expect("http base").to_owned();
        let stream = tokio::net::TcpStream::connect(&host).await.expect("connect");
        RawConn {
            stream,
            host,
            buf: Vec::new(),
        }
    }

    /// Send a request and read its answer at the same time, so a server that answers
    /// before reading the whole body is heard. Returns how the write ended and the answer.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (Result<(), String>, Result<RawResponse, String>) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let (mut rd, mut wr) = self.stream.split();
        let buf = &mut self.buf;
        let write = async {
            let w = async {
                wr.write_all(head.as_bytes()).await?;
                wr.write_all(body).await?;
                wr.flush().await
            };
            match tokio::time::timeout(Duration::from_secs(10), w).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("write error: {e}")),
                Err(_) => Err("the server stopped reading the body".to_owned()),
            }
        };
        let read = async {
            let r = tokio::time::timeout(Duration::from_secs(20), async {
                let mut tmp = [0u8; 16384];
                loop {
                    if let Some((resp, used)) = parse_http_response(buf) {
                        buf.drain(..used);
                        return Ok(resp);
                    }
                    match rd.read(&mut tmp).await {
                        Ok(0) => return Err("connection closed by the server".to_owned()),
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        Err(e) => return Err(format!("read error: {e}")),
                    }
                }
            })
            .await;
            r.unwrap_or_else(|_| Err("no answer within 20 s".into()))
        };
        tokio::join!(write, read)
    }
}

// ----- images ------------------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift), so images differ per seed.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u8(&mut self) -> u8 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 24) as u8
    }
}

fn pattern(w: u32, h: u32, seed: u64, noise_amp: u8) -> image::RgbImage {
    let mut n = Noise::new(seed);
    let amp = i32::from(noise_amp);
    image::RgbImage::from_fn(w, h, |x, y| {
        let gx = (x * 255 / w.max(1)) as i32;
        let gy = (y * 255 / h.max(1)) as i32;
        let s = (seed % 97) as i32;
        let mut px = [gx, gy, (gx + gy + s * 3) / 2];
        for c in &mut px {
            if amp > 0 {
                *c += i32::from(n.next_u8()) % (2 * amp + 1) - amp;
            }
        }
        image::Rgb(px.map(|c| c.clamp(0, 255) as u8))
    })
}

pub fn jpeg(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let img = pattern(w, h, seed, 40);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 88)
        .encode_image(&img)
        .expect("encode jpeg");
    out
}

pub fn png(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let img = pattern(w, h, seed, 12);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

pub fn webp(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let img = pattern(w, h, seed, 0);
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encode webp");
    out
}

/// A document photo: 1200×800 JPEG.
pub fn document_jpeg(seed: u64) -> Vec<u8> {
    // A synthetic ID card on a table (kycd-checks' generator), so quality feedback accepts it.
    let scene = kycd_checks::synth::Scene {
        width: 1200,
        height: 800,
        seed: seed as u32,
        ..Default::default()
    };
    kycd_checks::synth::jpeg(&scene, 88)
}

/// A test portrait (`kycd_checks::synth_face::IDENTITIES[i]`), fetched by
/// `scripts/fetch-models --test-faces`.
pub fn test_face(i: usize) -> &'static image::RgbImage {
    static FACES: std::sync::OnceLock<Vec<image::RgbImage>> = std::sync::OnceLock::new();
    let faces = FACES.get_or_init(|| {
        let dir = kycd_checks::synth_face::test_faces_dir();
        kycd_checks::synth_face::IDENTITIES
            .iter()
            .map(|n| kycd_checks::synth_face::load(&dir, n).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    });
    &faces[i]
}

/// A selfie: 640×640 PNG of one person (the first test portrait), scaled, placed and
/// lit by the seed on a plain background, so different seeds are different pictures (the
/// duplicate checks tell them apart) while the face detector finds one face in each.
pub fn selfie_png(seed: u64) -> Vec<u8> {
    selfie_of(0, seed)
}

/// A selfie of test portrait `who` (see [`selfie_png`]).
pub fn selfie_of(who: usize, seed: u64) -> Vec<u8> {
    let src = test_face(who);
    let mut h = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = |n: u64| {
        h ^= h >> 29;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (h >> 32) % n
    };
    let side = 640u32;
    let scale = 0.6 + next(30) as f32 / 100.0;
    let fw = (side as f32 * scale) as u32;
    let fh = (fw as f32 * src.height() as f32 / src.width() as f32) as u32;
    let small = image::imageops::resize(src, fw, fh, image::imageops::FilterType::Triangle);
    let bg = [60 + next(150) as u8, 60 + next(150) as u8, 60 + next(150) as u8];
    let mut img = image::RgbImage::from_fn(side, side, |x, y| image::Rgb(bg.map(|c| c.saturating_add(((x + y) / 24) as u8))));
    let (ox, oy) = (next(u64::from(side - fw.min(side)) + 1), next(u64::from(side - fh.min(side)) + 1));
    image::imageops::overlay(&mut img, &small, ox as i64, oy as i64);
    if next(2) == 1 {
        img = image::imageops::flip_horizontal(&img);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

/// A small PNG file whose header claims `w`×`h` (8-bit greyscale) with a tiny IDAT: a
/// decompression bomb as far as the header goes.
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of a single zero byte (one filter byte of the first row).
    png_chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
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

/// Run one of the tests' Python scripts (`tests/it/<script>`) with `KYCD_TEST_PYTHON` and
/// `args`, within 5 minutes, and assert it succeeded and its last line ends with `OK`.
/// `package` names the PyPI package it needs, for the failure message.
pub async fn run_python_script(server: &Server, script: &str, package: &str, args: &[&std::ffi::OsStr]) {
    let python = std::env::var("KYCD_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "KYCD_TEST_PYTHON is not set: run scripts/test, or: python3 -m venv target/pyvenv && \
             target/pyvenv/bin/pip install {package} && export KYCD_TEST_PYTHON=$PWD/target/pyvenv/bin/python"
        )
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it").join(script);
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        Command::new(&python).arg(&path).args(args).kill_on_drop(true).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{script} did not finish within 5 minutes"))
    .unwrap_or_else(|e| panic!("cannot run {python} {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "{script} failed (is {package} installed in {python}? scripts/test installs it)\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver logs:\n{}",
        server.logs()
    );
}
