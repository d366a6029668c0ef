//! The `kycd` binary: server and operator commands.

mod backup;
mod cli;
mod commands;
mod config;
mod http_server;
mod liveness_cli;
mod migrate_store;
mod serve;
mod test_hooks;

use crate::cli::{
    ApiKeyCmd, AuditCmd, CheckKind, Cli, Command, EvidenceCmd, JobStatus, JobsCmd, KeysCmd, OperatorCmd, SenderCmd, TenantCmd, parse_cli,
};
#[cfg(feature = "testing")]
use crate::commands::seed;
use crate::commands::{check_files, load_jwks, print_jobs, purge_tenant, rotate_master};
use crate::serve::{metrics_setup, serve};
use anyhow::{Context, Result, bail};

use config::Config;
use kycd_core::{ApiKeyId, Mode, TenantId};
use kycd_engine::Engine;
use std::sync::Arc;

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
