//! A running `kycd serve`: started on an instance, its logs collected, stopped as an
//! operator or a crash would.

use super::{Api, CliOutput, Instance, TenantKeys, str_field};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Child;

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
        // The suite sends bursts far beyond a person's or an integration's pace (2 000
        // uploads, 320-call matrices); rate limits are off unless a test turns them on
        // (ratelimit.rs tests them, defaults included).
        let mut all_env = vec![
            ("KYCD_RATE_LIMIT_PER_MINUTE", "0"),
            ("KYCD_UPLOAD_RATE_PER_MINUTE", "0"),
            ("KYCD_SIGN_IN_RATE_PER_MINUTE", "0"),
            ("KYCD_SIGN_IN_ACCOUNT_RATE_PER_MINUTE", "0"),
        ];
        all_env.extend_from_slice(env);
        let mut cmd = inst.command(&["serve", "--listen", "127.0.0.1:0"], &all_env);
        let mut child = cmd.spawn().expect("spawn kycd serve");
        let logs = Arc::new(Mutex::new(Vec::new()));

        collect_into(child.stderr.take().expect("stderr"), logs.clone());

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
        collect_into(lines, logs.clone());

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

    /// A new test-mode tenant, and a client with its key.
    pub async fn tenant_client(&self, name: &str) -> (TenantKeys, Api) {
        let keys = self.inst.create_tenant(name, false).await;
        let api = self.client_for(&keys.api_key);
        (keys, api)
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

/// Append what `from` yields to `sink` until it ends, in a task of its own.
fn collect_into(mut from: impl AsyncRead + Unpin + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) {
    tokio::spawn(async move {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
    }
}
