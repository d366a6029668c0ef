//! The operator commands that take more than a few lines: master-key rotation, `seed`,
//! `check`, job listings, purge, loading a JWKS.

use crate::cli::Cli;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use kycd_core::{CaptureKind, TenantId};
use kycd_engine::Engine;

/// `kycd keys rotate-master`.
pub(crate) async fn rotate_master(cli: &Cli, new_key_file: &std::path::Path, batch: usize) -> Result<()> {
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
pub(crate) async fn seed(engine: std::sync::Arc<Engine>, tenant: &TenantId, total: u64, batch: u64) -> Result<()> {
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
pub(crate) fn check_files(
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

pub(crate) fn print_jobs(jobs: &[kycd_engine::lifecycle::JobRecord], json: bool) {
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
pub(crate) async fn purge_tenant(engine: &Engine, tenant: &TenantId, dry_run: bool) -> Result<usize> {
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
pub(crate) async fn load_jwks(src: &str) -> Result<serde_json::Value> {
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
