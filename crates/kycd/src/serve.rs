//! `kycd serve`: the HTTP server, its metrics listener, and a graceful shutdown.

use crate::config::Config;
use crate::http_server;
use anyhow::{Context, Result, bail};
use kycd_core::Mode;
use kycd_engine::Engine;
use std::sync::Arc;

/// Where `GET /metrics` is served (`--metrics-listen`, `--metrics-token`).
#[derive(Default)]
pub(crate) struct MetricsSetup {
    /// On the main address (only with a token).
    pub(crate) main: Option<Arc<kycd_http::MetricsEndpoint>>,
    /// On an address of its own.
    pub(crate) own: Option<(tokio::net::TcpListener, Arc<kycd_http::MetricsEndpoint>)>,
}

/// Check the metrics settings, bind their own address if any, and install the recorder
/// when the metrics are served at all (otherwise recording them costs nothing).
pub(crate) async fn metrics_setup(listen: Option<&str>, token: Option<&str>) -> Result<MetricsSetup> {
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

pub(crate) async fn serve(
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

pub(crate) async fn shutdown_signal() {
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
