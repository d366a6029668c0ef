//! The command line: every command and its arguments (clap), and how a bad value from an
//! environment variable is reported.

use crate::config;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use kycd_core::{CaptureKind, Scope};
use kycd_engine::features::Feature;
use kycd_engine::{KeyFormat, OperatorRole};

#[derive(Parser)]
#[command(
    name = "kycd",
    version,
    about = "Self-hosted identity verification",
    after_help = "Every setting is a flag or its environment variable (the flag wins; an empty variable counts as unset)."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) settings: config::Settings,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// A value parser that takes the names `name` gives the values in `all`, and lists them
/// in `--help` and in its error.
pub(crate) fn one_of<T: Copy + Send + Sync + 'static>(all: &'static [T], name: fn(T) -> &'static str) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|v| name(*v))).try_map(move |s: String| {
        all.iter()
            .copied()
            .find(|v| name(*v) == s)
            .ok_or_else(|| format!("unknown value '{s}'"))
    })
}

/// What `kycd check` takes: files of one upload kind, or the frames of one liveness burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CheckKind {
    Capture(CaptureKind),
    LivenessBurst,
}

impl CheckKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Capture(k) => k.as_str(),
            Self::LivenessBurst => "liveness_burst",
        }
    }
}

pub(crate) const CHECK_KINDS: [CheckKind; 4] = [
    CheckKind::Capture(CaptureKind::ALL[0]),
    CheckKind::Capture(CaptureKind::ALL[1]),
    CheckKind::Capture(CaptureKind::ALL[2]),
    CheckKind::LivenessBurst,
];

pub(crate) const SCOPES: [Scope; 3] = [Scope::Integration, Scope::Reviewer, Scope::Admin];
pub(crate) const ROLES: [OperatorRole; 2] = [OperatorRole::Reviewer, OperatorRole::Admin];
pub(crate) const KEY_FORMATS: [KeyFormat; 2] = [KeyFormat::Kycd, KeyFormat::Checkout];

pub(crate) fn key_format_name(f: KeyFormat) -> &'static str {
    match f {
        KeyFormat::Kycd => "kycd",
        KeyFormat::Checkout => "checkout",
    }
}

/// A job's state, as `jobs list --status` takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
pub(crate) enum JobsCmd {
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
pub(crate) enum TenantCmd {
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
pub(crate) enum ApiKeyCmd {
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
pub(crate) enum OperatorCmd {
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
pub(crate) enum EvidenceCmd {
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
pub(crate) enum SenderCmd {
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
pub(crate) enum KeysCmd {
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
pub(crate) enum AuditCmd {
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
pub(crate) fn parse_cli() -> Cli {
    let mut cmd = unset_empty_env(Cli::command());
    let matches = cmd.clone().try_get_matches().unwrap_or_else(|e| exit_with_env_tip(e, &mut cmd));
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// `cmd` and its subcommands with the arguments whose environment variable is set but
/// empty no longer reading it (clap would take the empty value).
pub(crate) fn unset_empty_env(mut cmd: clap::Command) -> clap::Command {
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
pub(crate) fn find_long<'a>(cmd: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| cmd.get_subcommands().find_map(|c| find_long(c, long)))
}

/// Exit with clap's error; when the bad value came from an environment variable (its flag
/// was not on the command line), say which.
pub(crate) fn exit_with_env_tip(mut e: clap::Error, cmd: &mut clap::Command) -> ! {
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
