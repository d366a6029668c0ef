//! One kycd installation: its data directory, database and blob prefix, and the CLI run
//! against it.

use super::{
    CliOutput, S3Test, SERVER_ENV, TenantKeys, files_under, kycd_binary, pg_base_url, random_lower, s3_test, str_field, with_database,
};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

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

    pub(super) fn apply_env(&self, cmd: &mut Command) {
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

    /// `kycd ARGS --data-dir DIR` on this instance, with `env` on top of the instance's
    /// own; output piped, killed when dropped. The CLI and the server both start so.
    pub(super) fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(kycd_binary());
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
        cmd
    }

    /// Run a CLI subcommand with extra environment (e.g. a shifted test clock).
    pub async fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
        let mut cmd = self.command(args, env);
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
