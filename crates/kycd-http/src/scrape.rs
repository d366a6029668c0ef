//! `GET /metrics`: every metric kycd records, in Prometheus' text format. Served on the
//! main address only with a token (`KYCD_METRICS_TOKEN`), or on an address of its own
//! (`KYCD_METRICS_LISTEN`, e.g. one only the monitoring network reaches). The names are
//! listed in docs/deployment.md ("Monitoring").

use crate::AppState;
use crate::error::ApiError;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;

/// Who may read the metrics, and the recorder that renders them.
pub struct MetricsEndpoint {
    handle: PrometheusHandle,
    /// The bearer token a scrape must send; `None` on an address of its own without one.
    token: Option<String>,
}

impl MetricsEndpoint {
    pub fn new(handle: PrometheusHandle, token: Option<String>) -> Arc<Self> {
        Arc::new(Self { handle, token })
    }
}

/// Upper bounds of the latency histograms, in seconds: from a cached read (ms) to a
/// full verification's checks (tens of seconds).
const BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Install the process-wide metrics recorder (once, at start) and describe the metrics.
/// The returned handle renders them; [`spawn_upkeep`] keeps its histograms compact.
pub fn install_recorder() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .map_err(|e| format!("metrics buckets: {e}"))?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    describe();
    zero_series();
    Ok(handle)
}

/// Series that count rare events exist from the start at 0, so that a dashboard or an
/// alert on them (`increase(...) > 0`) sees the first one instead of a missing series.
fn zero_series() {
    use kycd_engine::{JOB_PROCESS, callbacks::JOB_CALLBACK, lifecycle, webhooks::JOB_DELIVER};
    for limit in ["tenant_requests", "uploads", "console_sign_in"] {
        metrics::counter!("kycd_rate_limit_refusals_total", "limit" => limit).increment(0);
    }
    for kind in [
        JOB_PROCESS,
        JOB_DELIVER,
        JOB_CALLBACK,
        lifecycle::JOB_SWEEP,
        lifecycle::JOB_PURGE_ERASED,
    ] {
        metrics::counter!("kycd_jobs_abandoned_total", "kind" => kind).increment(0);
    }
    for outcome in ["succeeded", "failed_will_retry", "failed_gave_up", "endpoint_disabled"] {
        metrics::counter!("kycd_webhook_deliveries_total", "outcome" => outcome).increment(0);
    }
    for decision in ["approved", "declined"] {
        for by in ["system", "reviewer"] {
            metrics::counter!("kycd_verification_decisions_total", "decision" => decision, "by" => by).increment(0);
        }
    }
}

/// Drain the histograms' samples into their buckets now and then, so memory stays flat
/// between scrapes (or without any).
pub fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "kycd_http_requests_total",
        "HTTP requests answered, by route template, method and status."
    );
    describe_histogram!(
        "kycd_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request (until its headers), by route template, method and status."
    );
    describe_counter!(
        "kycd_verification_transitions_total",
        "Verifications that entered a status, by status."
    );
    describe_counter!(
        "kycd_verification_decisions_total",
        "Verifications decided, by decision (approved, declined) and by whom (system, reviewer)."
    );
    describe_histogram!(
        "kycd_processing_duration_seconds",
        Unit::Seconds,
        "Time to run the checks of one submitted verification."
    );
    describe_histogram!(
        "kycd_check_duration_seconds",
        Unit::Seconds,
        "CPU time of one step of a capture's checks: decode, quality, faces, mrz, barcode."
    );
    describe_gauge!(
        "kycd_jobs",
        "Jobs in the queue now, by kind and state (due: waiting to run, scheduled: for later, running)."
    );
    describe_gauge!(
        "kycd_jobs_oldest_due_age_seconds",
        Unit::Seconds,
        "How long the oldest due job of each kind has waited to run."
    );
    describe_counter!(
        "kycd_job_runs_total",
        "Job runs (attempts), by kind and outcome (ok, failed, lease_lost)."
    );
    describe_counter!("kycd_jobs_abandoned_total", "Jobs that failed their last allowed attempt, by kind.");
    describe_histogram!("kycd_job_duration_seconds", Unit::Seconds, "Time to run one job, by kind.");
    describe_counter!(
        "kycd_webhook_deliveries_total",
        "Webhook delivery attempts, by outcome (succeeded, failed_will_retry, failed_gave_up, endpoint_disabled)."
    );
    describe_counter!("kycd_uploads_total", "Images received for verifications, by capture kind.");
    describe_counter!(
        "kycd_upload_bytes_total",
        Unit::Bytes,
        "Bytes of images received for verifications, by capture kind."
    );
    describe_counter!(
        "kycd_rate_limit_refusals_total",
        "Requests refused by a rate limit, by limit (tenant_requests, uploads, console_sign_in)."
    );
    describe_gauge!(
        "kycd_db_pool_connections",
        "Database connections of this instance's pool, by state (in_use, idle)."
    );
    describe_gauge!(
        "kycd_db_pool_max_connections",
        "The most connections this instance's database pool opens."
    );
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Metrics
/// Every metric kycd records, in Prometheus' text exposition format. Needs the metrics
/// token (`KYCD_METRICS_TOKEN`) as a bearer token, except on the address of its own
/// (`KYCD_METRICS_LISTEN`) when no token is set.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("metrics_token" = [])),
    responses((status = 200, description = "The metrics, in Prometheus text format (version 0.0.4).", content((String = "text/plain"))),
        (status = 404, body = crate::dto::Problem, description = "Metrics are not served on this address: set `KYCD_METRICS_TOKEN`, or read them on `KYCD_METRICS_LISTEN`.")))]
pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(m) = &s.metrics else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "metrics are not served on this address: set KYCD_METRICS_TOKEN (then send it as a bearer token) or read them on the address of KYCD_METRICS_LISTEN",
        )
        .into_response();
    };
    if let Some(token) = &m.token {
        let sent = crate::extract::bearer_credential(&headers);
        if !sent.is_some_and(|t| same(t.as_bytes(), token.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the metrics need the metrics token: send 'Authorization: Bearer <KYCD_METRICS_TOKEN>'",
            )
            .into_response();
        }
    }
    s.engine.record_gauges().await;
    let mut resp = m.handle.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
        assert!(!super::same(b"", b"a"));
    }
}
