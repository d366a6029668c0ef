//! The `kycd` binary: server and operator commands.

mod backup;
mod config;
mod http_server;
mod liveness_cli;
mod migrate_store;
mod test_hooks;

use anyhow::{Context, Result, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use config::Config;
use kycd_core::{ApiKeyId, CaptureKind, Mode, Scope, TenantId};
use kycd_engine::features::Feature;
use kycd_engine::{Engine, KeyFormat, OperatorRole};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "kycd",
    version,
    about = "Self-hosted identity verification",
    after_help = "Every setting is a flag or its environment variable (the flag wins; an empty variable counts as unset)."
)]
struct Cli {
    #[command(flatten)]
    settings: config::Settings,
    #[command(subcommand)]
    command: Command,
}

/// A value parser that takes the names `name` gives the values in `all`, and lists them
/// in `--help` and in its error.
fn one_of<T: Copy + Send + Sync + 'static>(all: &'static [T], name: fn(T) -> &'static str) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|v| name(*v))).try_map(move |s: String| {
        all.iter()
            .copied()
            .find(|v| name(*v) == s)
            .ok_or_else(|| format!("unknown value '{s}'"))
    })
}

/// What `kycd check` takes: files of one upload kind, or the frames of one liveness burst.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CheckKind {
    Capture(CaptureKind),
    LivenessBurst,
}

impl CheckKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Capture(k) => k.as_str(),
            Self::LivenessBurst => "liveness_burst",
        }
    }
}

const CHECK_KINDS: [CheckKind; 4] = [
    CheckKind::Capture(CaptureKind::ALL[0]),
    CheckKind::Capture(CaptureKind::ALL[1]),
    CheckKind::Capture(CaptureKind::ALL[2]),
    CheckKind::LivenessBurst,
];

const SCOPES: [Scope; 3] = [Scope::Integration, Scope::Reviewer, Scope::Admin];
const ROLES: [OperatorRole; 2] = [OperatorRole::Reviewer, OperatorRole::Admin];
const KEY_FORMATS: [KeyFormat; 2] = [KeyFormat::Kycd, KeyFormat::Checkout];

fn key_format_name(f: KeyFormat) -> &'static str {
    match f {
        KeyFormat::Kycd => "kycd",
        KeyFormat::Checkout => "checkout",
    }
}

/// A job's state, as `jobs list --status` takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (and its background worker) on --listen.
    Serve {
        /// Create the first tenant in live mode instead of test mode.
        #[arg(long)]
        live: bool,
        /// Also serve GET /metrics on this address (host:port), e.g. one only the
        /// monitoring network reaches; there the token is needed only when one is set.
        /// Default: none (no address of its own).
        #[arg(long, env = "KYCD_METRICS_LISTEN", value_name = "HOST:PORT", value_parser = config::listen_address)]
        metrics_listen: Option<String>,
        /// The bearer token GET /metrics needs (at least 16 characters: `openssl rand -hex
        /// 32`). On the main address metrics are served only with one. Prefer the
        /// environment variable: a flag shows in the process list. Default: none.
        #[arg(long, env = "KYCD_METRICS_TOKEN", hide_env_values = true, value_name = "TOKEN")]
        metrics_token: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Back up the embedded SQLite database and the blobs its captures point to into the
    /// new folder DEST, while kycd serves (SQLite's online backup API: the database as it
    /// was at one instant). The master key is not copied: keep it apart from the backups
    /// (docs/deployment.md). PostgreSQL: use pg_dump.
    Backup {
        /// A new (or empty) folder.
        dest: std::path::PathBuf,
    },
    /// Restore a backup folder into this data directory, which must hold no database yet;
    /// the master key the backup was made with must be in place first (DATA_DIR/master.key
    /// or KYCD_MASTER_KEY_FILE). Checks every blob, the key and the audit chain.
    Restore {
        /// The folder `kycd backup` wrote.
        src: std::path::PathBuf,
    },
    /// Move this installation from the embedded SQLite database to PostgreSQL (and its
    /// blobs to an S3 bucket): copies every row and blob, resumably (run it again after a
    /// stop), then checks the copy: row counts, the audit chain, every blob. Stop every
    /// `kycd serve` on this data directory first. The S3 endpoint, region and credentials
    /// come from the KYCD_S3_* variables.
    MigrateStore {
        /// The target database, e.g. postgres://kycd@db.internal/kycd (empty, or a
        /// previous run's partial copy).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Where blobs go: s3://BUCKET/PREFIX. Without it they stay in DATA_DIR/blobs.
        #[arg(long, value_name = "URL")]
        blobs: Option<String>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
    },
    /// Manage tenants (businesses).
    Tenant {
        #[command(subcommand)]
        cmd: TenantCmd,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        cmd: ApiKeyCmd,
    },
    /// Review console accounts (reviewers and admins of one tenant).
    Operator {
        #[command(subcommand)]
        cmd: OperatorCmd,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Evidence archives.
    Evidence {
        #[command(subcommand)]
        cmd: EvidenceCmd,
    },
    /// Evidence signing keys.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Sender identities of a tenant (the senders its account may act for: BoldSign's OnBehalfOf).
    Sender {
        #[command(subcommand)]
        cmd: SenderCmd,
    },
    /// Run the check pipeline on image files (no server, no database) and print why each
    /// passes or fails: quality codes, the MRZ and barcode read, every check's figures.
    Check {
        /// What the files are; liveness_burst: the frames of one head-turn burst in capture
        /// order (needs --challenge).
        #[arg(long, default_value = "document_front", value_parser = one_of(&CHECK_KINDS, CheckKind::as_str))]
        kind: CheckKind,
        /// The steps a liveness_burst was asked for, e.g. `left,up` (left, right, up, down:
        /// the person's own directions).
        #[arg(long)]
        challenge: Option<String>,
        /// One JSON object per line per file instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// List every route template the server answers (native API, dialects, evidence),
    /// one per line: what the cross-tenant test walks.
    Routes,
    /// The background job queue.
    Jobs {
        #[command(subcommand)]
        cmd: JobsCmd,
    },
    /// Fill a test-mode tenant with synthetic verifications (made-up people, no images) to
    /// measure the database at scale, e.g. `kycd seed --tenant ten_… --verifications 1000000`.
    /// Only in testing builds (`cargo build --release -p kycd --features testing`).
    #[cfg(feature = "testing")]
    Seed {
        #[arg(long)]
        tenant: String,
        /// How many verifications (each with its applicant) to add.
        #[arg(long)]
        verifications: u64,
        /// Verifications per transaction.
        #[arg(long, default_value_t = 500)]
        batch: u64,
    },
    /// Run the lifecycle sweep now (expire overdue verifications, anonymize those whose
    /// retention ran out, delete old tombstones; legal holds are skipped), or with
    /// --orphans remove blobs that no row points to.
    Purge {
        /// Show what the sweep would do, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Remove encrypted blobs that no database row points to (left by a crash mid-upload).
        #[arg(long)]
        orphans: bool,
        /// Keep orphans younger than this, so uploads in flight are not touched.
        #[arg(long, default_value_t = 3600)]
        grace_seconds: i64,
    },
}

#[derive(Subcommand)]
enum JobsCmd {
    /// The newest jobs, newest first.
    List {
        /// Only jobs in this state. Default: all.
        #[arg(long, value_enum)]
        status: Option<JobStatus>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TenantCmd {
    /// Create a tenant with an admin API key (shown once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        live: bool,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a tenant's features (add-ons), enabling or disabling some first, e.g.
    /// `--enable express_qes_evidence` for the Skribble identification evidence endpoints.
    Features {
        #[arg(long)]
        tenant: String,
        /// A feature to turn on (repeatable).
        #[arg(long, value_name = "FEATURE", value_parser = one_of(&Feature::ALL, Feature::as_str))]
        enable: Vec<Feature>,
        /// A feature to turn off (repeatable).
        #[arg(long, value_name = "FEATURE", value_parser = one_of(&Feature::ALL, Feature::as_str))]
        disable: Vec<Feature>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ApiKeyCmd {
    /// Create an API key (shown once; only its hash is stored).
    Create {
        #[arg(long)]
        tenant: String,
        /// What the key may do: integration (create and read verifications, upload),
        /// reviewer (read everything, decide reviews) or admin (everything).
        #[arg(long, value_parser = one_of(&SCOPES, Scope::as_str))]
        scope: Scope,
        /// The key's form: kycd (`kycd_test_…` / `kycd_live_…`), or checkout (Checkout.com's
        /// `sk_sbox_…` for a test tenant, `sk_…` for a live one, which the Checkout SDKs'
        /// builders accept). Either works everywhere a key is taken.
        #[arg(long, default_value = "kycd", value_parser = one_of(&KEY_FORMATS, key_format_name))]
        format: KeyFormat,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key by its id (key_…).
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum OperatorCmd {
    /// Create an operator and print their invitation link (valid 72 hours) to set a
    /// password at /console/invite. The first admin of a tenant is made this way; admins
    /// invite the others in the console.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// What they may do in the console: reviewer (the review queue) or admin (also
        /// operators, API keys, webhooks, retention and policy).
        #[arg(long, default_value = "reviewer", value_parser = one_of(&ROLES, OperatorRole::as_str))]
        role: OperatorRole,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EvidenceCmd {
    /// Check an evidence archive offline: JWT signature, and every file's SHA-256 against
    /// the JWT and the manifest. Exit 0 when verified, 1 naming each file that is not.
    Verify {
        archive: std::path::PathBuf,
        /// The public keys: a JWKS file, or an http:// URL (e.g. http://host/.well-known/jwks.json).
        /// Default: the keys in this data directory's database.
        #[arg(long)]
        jwks: Option<String>,
    },
}

#[derive(Subcommand)]
enum SenderCmd {
    /// Add a sender identity (its email address is what OnBehalfOf names).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The tenant's sender identities, oldest first.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Start signing a tenant's evidence with a new key; old keys stay published.
    Rotate {
        #[arg(long)]
        tenant: String,
    },
    /// Rotate the master key: re-seal every wrapped data key and sealed field under the
    /// key in --new-key-file (32 random bytes, or 64 hex characters: `openssl rand -hex
    /// 32`), then install it as the configured master key; the old one is refused from
    /// then on. Stop every `kycd serve` first. Resumable: run it again with the same files
    /// after a crash.
    RotateMaster {
        #[arg(long)]
        new_key_file: std::path::PathBuf,
        /// Rows re-sealed per transaction.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Walk every tenant's hash chain; exit 1 naming the first broken entry.
    Verify,
    /// Print everything recorded about one object of a tenant (a verification, a file, an
    /// applicant…), oldest first: time, action, actor. Reads are included (`report.read`,
    /// `file.read`, `evidence.*.read`, console views), which the report's timeline leaves out.
    Trail {
        #[arg(long)]
        tenant: String,
        /// The object's id, e.g. a verification id (`ver_…`).
        object: String,
        /// One JSON array of {at, action, actor} instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// The command line: flags, then the environment variables of those not given (an empty
/// variable counts as unset). A bad value from a variable names the variable.
fn parse_cli() -> Cli {
    let mut cmd = unset_empty_env(Cli::command());
    let matches = cmd.clone().try_get_matches().unwrap_or_else(|e| exit_with_env_tip(e, &mut cmd));
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// `cmd` and its subcommands with the arguments whose environment variable is set but
/// empty no longer reading it (clap would take the empty value).
fn unset_empty_env(mut cmd: clap::Command) -> clap::Command {
    let empty: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.get_env().is_some_and(|name| std::env::var_os(name).is_some_and(|v| v.is_empty())))
        .map(|a| a.get_id().clone())
        .collect();
    for id in empty {
        cmd = cmd.mut_arg(id, |a| a.env(None::<&'static str>));
    }
    let subcommands: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_owned()).collect();
    for name in subcommands {
        cmd = cmd.mut_subcommand(name, unset_empty_env);
    }
    cmd
}

/// The argument with this long flag, in `cmd` or any of its subcommands.
fn find_long<'a>(cmd: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| cmd.get_subcommands().find_map(|c| find_long(c, long)))
}

/// Exit with clap's error; when the bad value came from an environment variable (its flag
/// was not on the command line), say which.
fn exit_with_env_tip(mut e: clap::Error, cmd: &mut clap::Command) -> ! {
    use clap::error::{ContextKind, ContextValue};
    let bad = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.split_whitespace().next().map(str::to_owned),
        _ => None,
    };
    let args: Vec<String> = std::env::args().collect();
    let from_env = bad.as_deref().and_then(|flag| {
        let long = flag.strip_prefix("--")?;
        let given = args.iter().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        let name = find_long(cmd, long)?.get_env()?.to_string_lossy().into_owned();
        (!given && std::env::var_os(&name).is_some()).then_some(name)
    });
    if let Some(name) = from_env {
        e.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![format!("the value comes from the environment variable {name}").into()]),
        );
    }
    e.format(cmd).exit()
}

fn main() -> std::process::ExitCode {
    let cli = parse_cli();
    // The server logs at info; an operator command only says what went wrong (warn).
    let serving = matches!(cli.command, Command::Serve { .. });
    config::init_logging(&cli.settings, serving);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        // The server's last word goes to its log stream; a command's to the person.
        Err(e) if serving => {
            tracing::error!("kycd serve stopped: {e:#}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn open(cli: &Cli) -> Result<(Config, Arc<Engine>)> {
    open_with(cli, |_| {}).await
}

async fn open_with(cli: &Cli, adjust: impl FnOnce(&mut Config)) -> Result<(Config, Arc<Engine>)> {
    let mut cfg = Config::load(&cli.settings)?;
    adjust(&mut cfg);
    let db = cfg.connect_database().await?;
    match db.migrate().await {
        Ok(_) => {}
        // A rolling upgrade: a newer instance migrated (additive steps only until its
        // cleanup release), so this older code still works with the schema; it must not
        // change it. Only `kycd migrate` refuses outright.
        Err(kycd_store::StoreError::SchemaNewer { db, code }) => tracing::warn!(
            "the database schema is at migration {db}, newer than this kycd ({code}); running without migrating. Upgrade this instance."
        ),
        Err(e) => return Err(e).context("applying database migrations"),
    }
    let store = cfg.open_store(db).await?;
    let engine = Arc::new(Engine::new(store, cfg.engine.clone(), cli.settings.test_hooks.clock()));
    Ok((cfg, engine))
}

fn mode(live: bool) -> Mode {
    if live { Mode::Live } else { Mode::Test }
}

async fn run(cli: Cli) -> Result<std::process::ExitCode> {
    use std::process::ExitCode;
    match &cli.command {
        Command::Serve {
            live,
            metrics_listen,
            metrics_token,
        } => {
            let metrics = metrics_setup(metrics_listen.as_deref(), metrics_token.as_deref()).await?;
            let listen = &cli.settings.listen;
            let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
                let why = match e.kind() {
                    std::io::ErrorKind::AddrInUse => "another server is using it".to_owned(),
                    std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges; use a higher port".to_owned(),
                    std::io::ErrorKind::AddrNotAvailable => "no interface of this machine has that address".to_owned(),
                    _ => e.to_string(),
                };
                anyhow::anyhow!("cannot listen on {listen}: {why}; set --listen or KYCD_LISTEN to a free host:port")
            })?;
            let addr = listener.local_addr()?;
            let (cfg, engine) = open_with(&cli, |c| {
                if !c.public_url_set {
                    c.engine.public_url = format!("http://{addr}");
                }
                if !c.evidence_issuer_set {
                    c.engine.evidence_issuer = c.engine.public_url.clone();
                }
            })
            .await?;
            serve(cfg, engine, listener, mode(*live), metrics, cli.settings.workers()).await?;
        }
        Command::Backup { dest } => {
            let cfg = Config::load(&cli.settings)?;
            let m = backup::backup(&cfg, dest).await?;
            let bytes: u64 = m.blobs.values().map(|(n, _)| n).sum();
            println!(
                "backed up {} verification(s) ({} audit entries, migration {}) and {} blob(s) ({bytes} bytes) into {}",
                m.tables.get("verifications").copied().unwrap_or(0),
                m.tables.get("audit_entries").copied().unwrap_or(0),
                m.schema_version,
                m.blobs.len(),
                dest.display()
            );
            if !m.erased_while_copying.is_empty() {
                println!(
                    "{} blob(s) were erased while the backup ran (their captures read as erased after a restore)",
                    m.erased_while_copying.len()
                );
            }
            println!(
                "The master key is NOT in the backup: keep a copy of {} apart from it (another medium, a secret store). \
                 Without the key the backup cannot be read; with both, anyone can.",
                cfg.master_key_file.display()
            );
        }
        Command::Restore { src } => {
            let cfg = Config::load(&cli.settings)?;
            let (m, entries) = backup::restore(&cfg, src).await?;
            println!(
                "restored {} verification(s) and {} blob(s) from the backup of {} into {}; audit chain ok: {entries} entries",
                m.tables.get("verifications").copied().unwrap_or(0),
                m.blobs.len(),
                m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                cfg.data_dir.display()
            );
        }
        Command::MigrateStore { to, blobs, batch } => {
            let cfg = Config::load_for_target(&cli.settings)?;
            let o = migrate_store::migrate_store(&cfg, &cli.settings, to, blobs.as_deref(), *batch as usize).await?;
            println!(
                "copied {} of {} row(s) in {} table(s) to {} (the rest were there from an earlier run); row counts equal; \
                 audit chain ok: {} entries, {} tenant head(s) equal",
                o.report.copied(),
                o.report.rows(),
                o.report.tables.len(),
                config::redact_url(to),
                o.audit_entries,
                o.report.audit_heads_equal
            );
            match &o.blob_target {
                Some(s3) => println!(
                    "blobs: {} in {}, {} copied now; every capture's blob is there",
                    o.blobs_total,
                    s3.describe(),
                    o.blobs_copied
                ),
                None => println!(
                    "blobs: {} stay in {}: every instance on the new database needs that folder (or move them with --blobs s3://…)",
                    o.blobs_total,
                    cfg.data_dir.join("blobs").display()
                ),
            }
            if !o.blobs_missing_before.is_empty() {
                println!(
                    "warning: {} blob(s) were already missing from the source (first: {}); those captures cannot be read",
                    o.blobs_missing_before.len(),
                    o.blobs_missing_before[0]
                );
            }
            println!(
                "Next: start kycd with KYCD_DATABASE_URL={}{} and the same master key; keep this data directory until the \
                 new installation has run for a while.",
                config::redact_url(to),
                if o.blob_target.is_some() {
                    " KYCD_BLOB_STORE=s3 KYCD_S3_BUCKET/KYCD_S3_PREFIX as in --blobs"
                } else {
                    ""
                }
            );
        }
        Command::Routes => {
            let (_, engine) = open(&cli).await?;
            for r in kycd_http::route_templates(engine) {
                println!("{r}");
            }
        }
        Command::Migrate => {
            let cfg = Config::load(&cli.settings)?;
            let db = cfg.connect_database().await?;
            let ran = db.migrate().await.context("applying database migrations")?;
            println!(
                "database is up to date at migration {} ({ran} migration(s) applied now)",
                kycd_engine::Database::code_schema_version()
            );
        }
        Command::Tenant {
            cmd: TenantCmd::Create { name, live, json },
        } => {
            let (_, engine) = open(&cli).await?;
            let k = engine.create_tenant(name, mode(*live)).await?;
            if *json {
                println!(
                    "{}",
                    serde_json::json!({"tenant_id": k.tenant_id, "key_id": k.key_id, "api_key": k.api_key})
                );
            } else {
                println!(
                    "tenant {} created\nadmin api key: {}\n(shown once: store it now)",
                    k.tenant_id, k.api_key
                );
            }
        }
        Command::Tenant {
            cmd: TenantCmd::List { json },
        } => {
            let (_, engine) = open(&cli).await?;
            let list = engine.list_tenants().await?;
            if *json {
                let v: Vec<_> = list
                    .iter()
                    .map(|t| serde_json::json!({"tenant_id": t.id, "name": t.name, "mode": t.mode, "created_at": t.created_at}))
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for t in list {
                    println!("{}\t{}\t{}", t.id, t.mode.as_str(), t.name);
                }
            }
        }
        Command::Tenant {
            cmd:
                TenantCmd::Features {
                    tenant,
                    enable,
                    disable,
                    json,
                },
        } => {
            let tenant: TenantId = tenant.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (_, engine) = open(&cli).await?;
            let features = if enable.is_empty() && disable.is_empty() {
                engine.tenant_features(&tenant).await?
            } else {
                engine.set_tenant_features(&tenant, enable, disable).await?
            };
            let names: Vec<&str> = features.iter().map(|f| f.as_str()).collect();
            if *json {
                println!("{}", serde_json::json!({"tenant_id": tenant, "features": names}));
            } else if names.is_empty() {
                println!("tenant {tenant}: no features enabled");
            } else {
                println!("tenant {tenant}: {}", names.join(", "));
            }
        }
        Command::Apikey {
            cmd:
                ApiKeyCmd::Create {
                    tenant,
                    scope,
                    format,
                    json,
                },
        } => {
            let tenant: TenantId = tenant.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (_, engine) = open(&cli).await?;
            let k = engine.create_api_key(&tenant, *scope, *format).await?;
            if *json {
                println!("{}", serde_json::json!({"key_id": k.key_id, "api_key": k.api_key}));
            } else {
                println!("key {} created\napi key: {}\n(shown once: store it now)", k.key_id, k.api_key);
            }
        }
        Command::Apikey {
            cmd: ApiKeyCmd::Revoke { key_id },
        } => {
            let id: ApiKeyId = key_id.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (_, engine) = open(&cli).await?;
            engine.revoke_api_key(&id).await?;
            println!("key {id} revoked");
        }
        Command::Operator {
            cmd: OperatorCmd::Add { tenant, email, role, json },
        } => {
            let tenant: TenantId = tenant.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let role = *role;
            let (cfg, engine) = open(&cli).await?;
            if !cfg.public_url_set {
                eprintln!(
                    "warning: no public URL is set, so the link below names the listen address ({}): set --public-url or \
                     KYCD_PUBLIC_URL, as for `kycd serve`, to the address people reach the console at",
                    cfg.engine.public_url
                );
            }
            let inv = engine.add_operator(&tenant, email, role, &kycd_core::Actor::Cli).await?;
            if *json {
                println!(
                    "{}",
                    serde_json::json!({"operator_id": inv.operator.id, "invitation_url": inv.url, "expires_at": inv.expires_at})
                );
            } else {
                println!(
                    "operator {} ({}) created\ninvitation link (valid until {}): {}\nsend it to them: they choose a password there, then sign in at /console",
                    inv.operator.id,
                    role.as_str(),
                    inv.expires_at.format("%Y-%m-%d %H:%M UTC"),
                    inv.url
                );
            }
        }
        Command::Audit { cmd: AuditCmd::Verify } => {
            let (_, engine) = open(&cli).await?;
            let (n, brk) = engine.verify_audit().await?;
            match brk {
                None => println!("audit chain ok: {n} entries"),
                Some(b) => {
                    println!("audit chain broken: tenant {} entry seq {}: {}", b.tenant_id, b.seq, b.reason);
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Audit {
            cmd: AuditCmd::Trail { tenant, object, json },
        } => {
            let tenant: TenantId = tenant.parse().map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
            let (_, engine) = open(&cli).await?;
            let trail = engine.audit_trail(&tenant, object).await?;
            if *json {
                println!("{}", serde_json::to_string(&trail)?);
            } else if trail.is_empty() {
                println!("no audit entries for {object} in tenant {tenant}: check both ids");
            } else {
                for e in trail {
                    println!(
                        "{}\t{}\t{}",
                        e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        e.action,
                        e.actor
                    );
                }
            }
        }
        Command::Evidence {
            cmd: EvidenceCmd::Verify { archive, jwks },
        } => {
            let jwks = match jwks {
                Some(src) => load_jwks(src).await?,
                None => open(&cli).await?.1.jwks(None).await?,
            };
            match kycd_engine::evidence::verify_archive(archive, &jwks) {
                Ok(verdict) => println!("{verdict}"),
                Err(e) => {
                    println!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Sender {
            cmd: SenderCmd::Add { tenant, email, name, json },
        } => {
            let tenant: TenantId = tenant.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let email = kycd_core::Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let name = name
                .as_deref()
                .map(|n| kycd_core::PersonalText::parse("name", n, 300))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            let (_, engine) = open(&cli).await?;
            let s = engine.add_sender_identity(&tenant, email, name).await?;
            if *json {
                println!(
                    "{}",
                    serde_json::json!({"id": s.id, "tenant_id": s.tenant_id, "email": s.email.expose()})
                );
            } else {
                println!("sender identity {} added", s.id);
            }
        }
        Command::Sender {
            cmd: SenderCmd::List { tenant, json },
        } => {
            let tenant: TenantId = tenant.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (_, engine) = open(&cli).await?;
            let list = engine.list_sender_identities(&tenant).await?;
            if *json {
                let v: Vec<_> = list
                    .iter()
                    .map(|s| {
                        serde_json::json!({"id": s.id, "email": s.email.expose(), "name": s.name.as_ref().map(|n| n.expose()), "created_at": s.created_at})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for s in list {
                    println!("{}\t{}\t{}", s.id, s.email.expose(), s.name.as_ref().map_or("", |n| n.expose()));
                }
            }
        }
        Command::Keys {
            cmd: KeysCmd::Rotate { tenant },
        } => {
            let tenant: TenantId = tenant.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (_, engine) = open(&cli).await?;
            let signer = engine.rotate_signing_key(&tenant).await?;
            println!(
                "tenant {tenant} now signs evidence with key {}; earlier keys stay in the JWKS",
                signer.kid()
            );
        }
        Command::Keys {
            cmd: KeysCmd::RotateMaster { new_key_file, batch },
        } => rotate_master(&cli, new_key_file, *batch).await?,
        Command::Check {
            kind,
            json,
            files,
            challenge,
        } => {
            let engine = config::engine_config(&cli.settings);
            let CheckKind::Capture(kind) = *kind else {
                return liveness_cli::check_burst(engine.image_limits, challenge.as_deref(), *json, files);
            };
            if challenge.is_some() {
                bail!("--challenge goes with --kind liveness_burst");
            }
            return check_files(&engine, kind, *json, files);
        }
        Command::Jobs {
            cmd: JobsCmd::List { status, limit, json },
        } => {
            let (_, engine) = open(&cli).await?;
            let jobs = engine.list_jobs(status.map(JobStatus::as_str), (*limit).clamp(1, 10_000)).await?;
            print_jobs(&jobs, *json);
        }
        #[cfg(feature = "testing")]
        Command::Seed {
            tenant,
            verifications,
            batch,
        } => {
            let tenant: TenantId = tenant.parse().map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
            if *verifications == 0 || !(1..=10_000).contains(batch) {
                bail!("--verifications must be at least 1 and --batch between 1 and 10000");
            }
            let (_, engine) = open(&cli).await?;
            seed(engine, &tenant, *verifications, *batch).await?;
        }
        Command::Purge {
            dry_run,
            tenant,
            orphans,
            grace_seconds,
        } => {
            let (cfg, engine) = open(&cli).await?;
            if *orphans {
                if *dry_run {
                    bail!("--dry-run is for the lifecycle sweep; --orphans has no dry run (orphans have no rows to show)");
                }
                let grace = (*grace_seconds).max(0);
                let mut n = engine.sweep_orphans(chrono::Duration::seconds(grace)).await?;
                // A crash in the middle of a blob write leaves a partial `file_…#1` beside
                // where the blob would have gone, which the blob store's listing hides.
                if let Some(dir) = cfg.local_blob_dir() {
                    let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(grace.unsigned_abs());
                    n += kycd_store::sweep_partial_local_blobs(&dir, cutoff)
                        .with_context(|| format!("removing partial blob files under {}", dir.display()))?;
                }
                println!("removed {n} orphan blob(s)");
            } else {
                let tenants: Vec<TenantId> = match tenant {
                    Some(t) => vec![t.parse().map_err(|e| anyhow::anyhow!("{e}"))?],
                    None => engine.list_tenants().await?.into_iter().map(|t| t.id).collect(),
                };
                let mut erased = 0;
                for t in &tenants {
                    erased += purge_tenant(&engine, t, *dry_run).await?;
                }
                if erased > 0 {
                    // What the sweep erased leaves the database files now, not when a
                    // server's worker gets to the purge job it scheduled.
                    engine
                        .store()
                        .purge_erased()
                        .await
                        .context("purging the erased rows from the database files")?;
                    println!("erased rows purged from the database files");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `kycd keys rotate-master`.
async fn rotate_master(cli: &Cli, new_key_file: &std::path::Path, batch: usize) -> Result<()> {
    if !(1..=100_000).contains(&batch) {
        bail!("--batch must be 1 to 100000 rows");
    }
    let cfg = Config::load(&cli.settings)?;
    let db = cfg.connect_database().await?;
    db.migrate().await.context("applying database migrations")?;
    let old = cfg.read_master_key()?;
    let new_bytes = std::fs::read(new_key_file).with_context(|| format!("cannot read the new master key {}", new_key_file.display()))?;
    let new = kycd_engine::MasterKey::from_file_bytes(&new_bytes).with_context(|| {
        format!(
            "the new master key {} (make one with: openssl rand -hex 32)",
            new_key_file.display()
        )
    })?;
    // Test hook (testing builds): stop after this many committed batches, as a crash would.
    let abort_after = cli.settings.test_hooks.abort_rotation_after_batches();
    let batches = std::cell::Cell::new(0u64);
    let report = db
        .rotate_master(&old, &new, batch, &|table, rows| {
            eprintln!("re-sealed {rows} row(s) so far (now in {table})");
            batches.set(batches.get() + 1);
            if abort_after == Some(batches.get()) {
                eprintln!("fault injection: stopping after {} batch(es)", batches.get());
                std::process::exit(137);
            }
        })
        .await
        .map_err(|e| cfg.explain_key_error(e))?;
    let installed = cfg.install_master_key(new_key_file)?;
    let done = if report.already_done {
        "the database already used the new master key".to_owned()
    } else {
        format!(
            "re-sealed {} value(s) in {} row(s){}; the database now uses the new master key",
            report.values,
            report.rows,
            if report.resumed { " (resumed)" } else { "" }
        )
    };
    let file = cfg.master_key_file.display();
    if installed {
        println!("{done}; installed it as {file}.");
    } else {
        println!("{done}; {file} holds it.");
    }
    println!(
        "The old key is refused from now on. It still opens backups taken before this rotation: keep it with them, \
         only as long as they are kept, then destroy it."
    );
    Ok(())
}

/// `kycd seed`: batches in parallel (a few transactions in flight keep PostgreSQL busy;
/// SQLite takes them one by one), with a progress bar and the rate at the end.
#[cfg(feature = "testing")]
async fn seed(engine: Arc<Engine>, tenant: &TenantId, total: u64, batch: u64) -> Result<()> {
    const IN_FLIGHT: usize = 4;
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("seeding [{bar:40}] {pos}/{len} {per_sec} {eta}").map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    let mut next_analyze = 1_000;
    while next < total || !running.is_empty() {
        while next < total && running.len() < IN_FLIGHT {
            let (engine, tenant, n) = (engine.clone(), tenant.clone(), batch.min(total - next));
            let first = next;
            running.spawn(async move { engine.seed_verifications(&tenant, first, n).await.map(|()| n) });
            next += n;
        }
        if let Some(done) = running.join_next().await {
            bar.inc(done.context("a seeding task panicked")??);
            // Statistics that keep up with the load (within a factor of two) keep the
            // planner on the primary key.
            if bar.position() >= next_analyze {
                engine.store().analyze().await?;
                next_analyze = bar.position() * 2;
            }
        }
    }
    engine.store().analyze().await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {total} verification(s) for tenant {tenant} in {secs:.1} s ({:.0}/s)",
        total as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// `kycd check`: the pipeline on files. Exit 1 when any file is unreadable or not accepted.
fn check_files(
    engine: &kycd_engine::EngineConfig,
    kind: CaptureKind,
    json: bool,
    files: &[std::path::PathBuf],
) -> Result<std::process::ExitCode> {
    use kycd_checks::pipeline::{CaptureInput, Pipeline};
    let limits = engine.image_limits;
    let dir = &engine.model_dir;
    let reader = kycd_checks::mrz_read::MrzReader::load(dir).map_err(|e| e.to_string());
    if let Err(e) = &reader {
        eprintln!("warning: MRZ reading is off: {e}");
    }
    let faces = if engine.face_matching {
        kycd_checks::face::FaceModels::load(dir).map_err(|e| e.to_string())
    } else {
        Err(kycd_engine::FACE_MATCHING_OFF.to_owned())
    };
    if let Err(e) = &faces {
        eprintln!("warning: face detection is off: {e}");
    }
    let pipeline = Pipeline::new(reader, limits).with_faces(faces);
    let today = chrono::Utc::now().date_naive();
    let mut all_ok = true;
    for path in files {
        let name = path.display().to_string();
        // A HEIC photo is judged as the JPEG an upload of it would be stored as.
        let read = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}")).and_then(|b| {
            if !engine.heic && kycd_checks::heic::is_heif(&b) {
                return Err(kycd_engine::HEIC_OFF.to_owned());
            }
            kycd_checks::heic::normalise(b, limits).map_err(|e| e.to_string())
        });
        let bytes = match read {
            Ok(b) => b,
            Err(e) => {
                all_ok = false;
                if json {
                    println!("{}", serde_json::json!({"file": name, "error": e}));
                } else {
                    println!("{name}: {e}");
                }
                continue;
            }
        };
        let r = pipeline.check_capture(
            &CaptureInput {
                kind,
                file_id: &name,
                bytes: &bytes,
            },
            today,
        );
        let feedback = r.feedback.clone();
        all_ok &= feedback.as_ref().is_some_and(|f| f.accepted);
        if json {
            let line = serde_json::json!({
                "file": name,
                "kind": kind,
                "width": r.info.as_ref().map(|i| i.width),
                "height": r.info.as_ref().map(|i| i.height),
                "accepted": feedback.as_ref().map(|f| f.accepted),
                "feedback": feedback.as_ref().map(|f| f.issues.clone()),
                "message": feedback.as_ref().map(|f| f.message.clone()),
                "mrz": r.mrz,
                "barcode": r.barcode,
                "faces": r.faces.as_ref().map(|f| f.faces.iter().map(|x| serde_json::json!({
                    "box": [x.x.round(), x.y.round(), x.w.round(), x.h.round()], "score": (f64::from(x.score) * 1000.0).round() / 1000.0,
                })).collect::<Vec<_>>()),
                "checks": r.checks,
            });
            println!("{line}");
            continue;
        }
        println!("{name}");
        match &feedback {
            Some(f) => println!(
                "  {}×{}  {}  {}",
                f.width,
                f.height,
                if f.accepted { "accepted" } else { "NOT ACCEPTED" },
                f.message
            ),
            None => println!("  unreadable"),
        }
        println!("  {:<32} {:<6} DETAIL", "CHECK", "RESULT");
        for c in &r.checks {
            let result = if c.passed {
                "pass"
            } else if kycd_checks::pipeline::is_inconclusive(c) {
                "?"
            } else {
                "FAIL"
            };
            println!("  {:<32} {:<6} {}", c.name, result, c.detail);
            if let Some(metrics) = c.figures.get("metrics").and_then(|m| m.as_array()) {
                for m in metrics {
                    println!("      {m}");
                }
            }
        }
        match &r.mrz {
            Some(m) => {
                let verdict = if m.valid {
                    "valid".to_owned()
                } else if !m.uncertain.is_empty() {
                    format!("UNCERTAIN: {} cell(s) below the confidence bar", m.uncertain.len())
                } else {
                    "INVALID".to_owned()
                };
                println!("  MRZ ({:?}, {verdict}):", m.format);
                for l in &m.lines {
                    println!("    {l}");
                }
            }
            None if kind != kycd_core::CaptureKind::Selfie && pipeline.mrz_available() => println!("  MRZ: none found"),
            None => {}
        }
        if let Some(b) = &r.barcode {
            println!("  barcode: AAMVA version {} ({})", b.version, b.subfiles.join("/"));
        }
    }
    Ok(if all_ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

fn print_jobs(jobs: &[kycd_engine::lifecycle::JobRecord], json: bool) {
    if json {
        for j in jobs {
            let line = serde_json::json!({
                "id": j.id, "tenant_id": j.tenant_id, "kind": j.kind, "payload": j.payload,
                "status": j.status, "attempts": j.attempts, "run_at": j.run_at,
                "last_error": j.last_error, "created_at": j.created_at, "updated_at": j.updated_at,
            });
            println!("{line}");
        }
        return;
    }
    println!(
        "{:<30} {:<18} {:<8} {:>3} {:<20} {:<36} ERROR",
        "ID", "KIND", "STATUS", "TRY", "RUN AT", "OBJECT"
    );
    for j in jobs {
        println!(
            "{:<30} {:<18} {:<8} {:>3} {:<20} {:<36} {}",
            j.id.as_str(),
            j.kind,
            j.status,
            j.attempts,
            j.run_at.format("%Y-%m-%d %H:%M:%S"),
            j.payload,
            j.last_error.as_deref().unwrap_or("")
        );
    }
}

/// One tenant's sweep, or what it would do; a progress bar on a terminal for long runs.
/// Sweep one tenant; returns how many verifications it erased (anonymized or deleted).
async fn purge_tenant(engine: &Engine, tenant: &TenantId, dry_run: bool) -> Result<usize> {
    let plan = engine.plan_sweep(tenant, 100_000).await?;
    if dry_run {
        println!(
            "tenant {tenant}: would expire {} verification(s) and {} attempt(s), anonymize {}, delete {} tombstone(s); {} on legal hold skipped",
            plan.expire.len(),
            plan.expire_attempts.len(),
            plan.anonymize.len(),
            plan.delete.len(),
            plan.held.len()
        );
        for (what, ids) in [
            ("expire", &plan.expire),
            ("anonymize", &plan.anonymize),
            ("delete", &plan.delete),
            ("held", &plan.held),
        ] {
            for id in ids {
                println!("  {what} {id}");
            }
        }
        for (vid, aid) in &plan.expire_attempts {
            println!("  expire attempt {aid} of {vid}");
        }
        return Ok(0);
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(plan.total() as u64), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} {eta}").map_err(|e| anyhow::anyhow!("{e}"))?);
    bar.set_prefix(tenant.to_string());
    let r = engine.sweep_tenant(tenant, &|n| bar.set_position(n as u64)).await?;
    bar.finish_and_clear();
    println!(
        "tenant {tenant}: expired {} verification(s) and {} attempt(s), anonymized {}, deleted {} tombstone(s); {} on legal hold skipped",
        r.expired, r.attempts_expired, r.anonymized, r.deleted, r.held
    );
    for (id, e) in &r.failed {
        println!("  failed {id}: {e}");
    }
    if !r.failed.is_empty() {
        bail!("{} item(s) could not be swept; they stay due for the next sweep", r.failed.len());
    }
    Ok(r.anonymized + r.deleted)
}

/// A JWKS from a file or an http:// URL.
async fn load_jwks(src: &str) -> Result<serde_json::Value> {
    let text = if src.starts_with("http://") || src.starts_with("https://") {
        let resp = reqwest::get(src)
            .await
            .with_context(|| format!("cannot fetch the JWKS from {src}; download it and pass the file instead"))?;
        if !resp.status().is_success() {
            bail!("fetching the JWKS from {src} answered {}", resp.status());
        }
        resp.text().await?
    } else {
        std::fs::read_to_string(src).with_context(|| format!("cannot read the JWKS file {src}"))?
    };
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{src} is not JSON"))?;
    if !v.get("keys").is_some_and(|k| k.is_array()) {
        bail!("{src} is not a JWKS: it needs a \"keys\" array");
    }
    Ok(v)
}

/// Where `GET /metrics` is served (`--metrics-listen`, `--metrics-token`).
#[derive(Default)]
struct MetricsSetup {
    /// On the main address (only with a token).
    main: Option<Arc<kycd_http::MetricsEndpoint>>,
    /// On an address of its own.
    own: Option<(tokio::net::TcpListener, Arc<kycd_http::MetricsEndpoint>)>,
}

/// Check the metrics settings, bind their own address if any, and install the recorder
/// when the metrics are served at all (otherwise recording them costs nothing).
async fn metrics_setup(listen: Option<&str>, token: Option<&str>) -> Result<MetricsSetup> {
    let token = token.map(str::trim).map(str::to_owned);
    if let Some(t) = &token
        && (t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
    {
        bail!(
            "KYCD_METRICS_TOKEN (--metrics-token) must be at least 16 printable characters without spaces; make one with: openssl rand -hex 32"
        );
    }
    if listen.is_none() && token.is_none() {
        return Ok(MetricsSetup::default());
    }
    let own = match listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen for metrics on {addr} (KYCD_METRICS_LISTEN, --metrics-listen): give a free host:port, e.g. 127.0.0.1:9090"
            )
        })?),
        None => None,
    };
    let handle = kycd_http::install_metrics_recorder().map_err(|e| anyhow::anyhow!(e))?;
    kycd_http::spawn_metrics_upkeep(handle.clone());
    Ok(MetricsSetup {
        main: token.clone().map(|t| kycd_http::MetricsEndpoint::new(handle.clone(), Some(t))),
        own: own.map(|l| (l, kycd_http::MetricsEndpoint::new(handle, token))),
    })
}

async fn serve(
    cfg: Config,
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    first_mode: Mode,
    metrics: MetricsSetup,
    workers: kycd_engine::Workers,
) -> Result<()> {
    // A master key rotation does not start while an instance serves, and none starts
    // serving during one.
    engine.store().register_instance().await.map_err(|e| cfg.explain_key_error(e))?;
    if let Some(k) = engine.bootstrap(first_mode).await? {
        println!("admin api key: {}", k.api_key);
        tracing::info!(
            "first start: created tenant {} ({} mode); the admin API key printed on standard output is shown once",
            k.tenant_id,
            first_mode.as_str()
        );
    }
    cfg.warn_about_key_placement(&engine).await;
    let sealed = engine.seal_clear_review_text().await?;
    if sealed > 0 {
        tracing::info!("sealed the reviewers' notes of {sealed} verification(s) that an earlier version kept in clear");
    }
    // Load the check pipeline now, so a missing OCR model is said at start, not at the
    // first verification.
    let models = engine.config().model_dir.display().to_string();
    if tokio::task::block_in_place(|| engine.pipeline().mrz_available()) {
        tracing::info!(models = %models, "MRZ reading on");
    } else {
        tracing::warn!(
            "the OCR models are not in {models}: passports and ID cards cannot be read, so their verifications go to review (and /readyz answers 503); run scripts/fetch-models (or set KYCD_MODEL_DIR)"
        );
    }
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "kycd serving");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(engine.clone().run_workers(workers, stop_rx));
    let metrics_server = metrics.own.map(|(l, endpoint)| {
        if let Ok(a) = l.local_addr() {
            tracing::info!(addr = %a, "metrics served on their own address: http://{a}/metrics");
        }
        let app = kycd_http::metrics_router(engine.clone(), endpoint);
        let mut stop = stop_tx.subscribe();
        let timeouts = cfg.http_timeouts;
        tokio::spawn(async move {
            http_server::serve(l, app, timeouts, async move {
                let _ = stop.changed().await;
            })
            .await;
        })
    });
    let app = kycd_http::router_with_metrics(engine.clone(), metrics.main);
    http_server::serve(listener, app, cfg.http_timeouts, shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    if let Err(e) = engine.store().deregister_instance().await {
        tracing::warn!(error = %e, "could not sign this instance off the database");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
