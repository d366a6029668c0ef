//! `GET /metrics`: protected by a token on the main address or served on an address of its
//! own, and what it holds after a verification went through upload, checks, review and a
//! webhook delivery.

use crate::flow::{approve, session_to_review, verification_body};
use crate::harness::Server;
use serde_json::json;
use std::time::{Duration, Instant};

const TOKEN: &str = "metrics-token-for-the-tests-0123456789";

/// The value of the sample `name{labels}` (labels in the exporter's order), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// Every sample of the metric `name` whose labels contain all of `labels` (`k="v"`), summed.
fn sum_of(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

async fn scrape(s: &Server, token: Option<&str>) -> reqwest::Response {
    let mut rb = reqwest::Client::new().get(format!("{}/metrics", s.base));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    rb.send().await.unwrap()
}

async fn scrape_text(s: &Server) -> String {
    let r = scrape(s, Some(TOKEN)).await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn metrics_after_a_verification() {
    let s = Server::start_with_env(&[("KYCD_METRICS_TOKEN", TOKEN)]).await;
    let api = s.admin();

    // The token guards them; a wrong one is refused like none.
    for token in [None, Some("wrong-token-of-enough-length"), Some(&TOKEN[..TOKEN.len() - 1])] {
        let r = scrape(&s, token).await;
        assert_eq!(r.status(), 401, "scrape with {token:?}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let body = r.text().await.unwrap();
        assert!(body.contains("KYCD_METRICS_TOKEN"), "the refusal says what to send: {body}");
    }

    // A webhook receiver that is down: its deliveries fail and are retried later.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    api.post(
        "/v1/webhook_endpoints",
        &json!({"url": dead_url, "enabled_events": ["*"], "description": "down"}),
    )
    .await
    .expect(201);

    let sess = session_to_review(&api, &verification_body("Metra Counting", "metra@example.org"), 303).await;
    approve(&api, &sess.vid).await;
    let bytes_sent: usize = sess.files.iter().map(|(_, _, b)| b.len()).sum();

    // Deliveries run in the background: wait (bounded) until one attempt was counted.
    let started = Instant::now();
    let mut text = scrape_text(&s).await;
    let failed_and_rescheduled = |text: &str| {
        sum_of(text, "kycd_webhook_deliveries_total", &["outcome=\"failed_will_retry\""]) >= 1.0
            && sum_of(text, "kycd_jobs", &["kind=\"deliver_webhook\"", "state=\"scheduled\""]) >= 1.0
    };
    while !failed_and_rescheduled(&text) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no failed webhook delivery counted with its retry scheduled:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        text = scrape_text(&s).await;
    }

    // HTTP requests by route template (never the raw path), method and status.
    assert!(
        sum_of(
            &text,
            "kycd_http_requests_total",
            &["route=\"/v1/verifications\"", "method=\"POST\"", "status=\"201\""]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        sum_of(
            &text,
            "kycd_http_requests_total",
            &["route=\"/v1/verifications/{id}/captures\"", "status=\"201\""]
        ) >= 2.0,
        "{text}"
    );
    assert!(!text.contains(&sess.vid), "no object id appears in a label:\n{text}");
    assert!(
        sum_of(
            &text,
            "kycd_http_request_duration_seconds_count",
            &["route=\"/v1/verifications/{id}/submit\""]
        ) >= 1.0,
        "latency histogram per route:\n{text}"
    );
    assert!(
        text.contains("kycd_http_request_duration_seconds_bucket{"),
        "latencies are a histogram with buckets:\n{text}"
    );
    // Verifications by status and decision.
    assert_eq!(
        sample(&text, "kycd_verification_decisions_total{decision=\"approved\",by=\"reviewer\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sum_of(&text, "kycd_verification_transitions_total", &["status=\"review_required\""]) >= 1.0,
        "{text}"
    );
    // Processing time per check, and of the whole verification.
    for check in ["decode", "quality", "faces", "mrz"] {
        assert!(
            sum_of(&text, "kycd_check_duration_seconds_count", &[&format!("check=\"{check}\"")]) >= 1.0,
            "the {check} step was timed:\n{text}"
        );
    }
    assert!(sum_of(&text, "kycd_processing_duration_seconds_count", &[]) >= 1.0, "{text}");
    // Jobs: runs by kind and outcome, the queue by kind and state, the oldest due job.
    assert!(
        sum_of(&text, "kycd_job_runs_total", &["kind=\"process_verification\"", "outcome=\"ok\""]) >= 1.0,
        "{text}"
    );
    assert!(
        sum_of(&text, "kycd_job_runs_total", &["kind=\"deliver_webhook\"", "outcome=\"ok\""]) >= 1.0,
        "a failed delivery is recorded and retried, its job ran:\n{text}"
    );
    assert!(
        text.contains("kycd_jobs_oldest_due_age_seconds{kind=\"process_verification\"}"),
        "{text}"
    );
    // Upload bytes, database pool, and every metric is described.
    assert_eq!(sum_of(&text, "kycd_upload_bytes_total", &[]), bytes_sent as f64, "{text}");
    assert!(sum_of(&text, "kycd_uploads_total", &["kind=\"selfie\""]) >= 1.0, "{text}");
    assert!(sample(&text, "kycd_db_pool_max_connections").is_some_and(|n| n >= 1.0), "{text}");
    assert!(text.contains("kycd_db_pool_connections{state=\"in_use\"}"), "{text}");
    for help in [
        "kycd_http_requests_total",
        "kycd_verification_decisions_total",
        "kycd_jobs",
        "kycd_upload_bytes_total",
    ] {
        assert!(text.contains(&format!("# HELP {help} ")), "{help} is described:\n{text}");
    }
    // The example dashboard only queries metrics that exist.
    let dashboard = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("kycd_"))
            {
                queried += 1;
                assert!(
                    text.lines().any(|l| l.starts_with(name)),
                    "the dashboard panel {:?} queries {name}, which /metrics does not have",
                    panel["title"]
                );
            }
        }
    }
    assert!(queried >= 12, "the dashboard was read ({queried} metric uses)");
}

#[tokio::test]
async fn rate_limit_refusals_are_counted() {
    let s = Server::start_with_env(&[
        ("KYCD_METRICS_TOKEN", TOKEN),
        ("KYCD_RATE_LIMIT_PER_MINUTE", "60"),
        ("KYCD_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let api = s.admin();
    let mut refused = 0;
    for _ in 0..6 {
        if api.get("/v1/applicants").await.status == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 1, "the burst of 2 was exceeded");
    let text = scrape_text(&s).await;
    assert_eq!(
        sample(&text, "kycd_rate_limit_refusals_total{limit=\"tenant_requests\"}"),
        Some(f64::from(refused)),
        "{text}"
    );
    assert!(
        sum_of(&text, "kycd_http_requests_total", &["route=\"/v1/applicants\"", "status=\"429\""]) >= f64::from(refused),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_on_an_address_of_their_own() {
    let mut s = Server::start_with_env(&[("KYCD_METRICS_LISTEN", "127.0.0.1:0")]).await;
    // Without a token the main address does not serve them, and says where they are.
    let r = scrape(&s, None).await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(body.contains("KYCD_METRICS_LISTEN"), "{body}");

    let logs = s.logs();
    let url = logs
        .lines()
        .find_map(|l| l.split("metrics served on their own address: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the log names the metrics address:\n{logs}"))
        .to_owned();
    s.admin().get("/v1/applicants").await.ok();
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    assert!(
        sum_of(&text, "kycd_http_requests_total", &["route=\"/v1/applicants\"", "status=\"200\""]) >= 1.0,
        "{text}"
    );
    // Only /metrics there: the API is not served on the monitoring address.
    let base = url.trim_end_matches("/metrics");
    let api = reqwest::get(format!("{base}/v1/applicants")).await.unwrap();
    assert_eq!(api.status(), 404);
    s.stop().await;
}

#[tokio::test]
async fn a_short_metrics_token_is_refused_at_start() {
    let inst = crate::harness::Instance::new().await;
    let out = inst
        .cli_env(&["serve", "--listen", "127.0.0.1:0"], &[("KYCD_METRICS_TOKEN", "short")])
        .await;
    assert_ne!(out.code, Some(0), "{}", out.all_output());
    let text = out.all_output();
    assert!(
        text.contains("KYCD_METRICS_TOKEN") && text.contains("at least 16"),
        "the refusal says what to fix: {text}"
    );
}
