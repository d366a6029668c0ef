//! Webhooks end to end: a real receiver on loopback verifies every signature with the
//! `standardwebhooks` package; it is taken down and brought back, and time is moved
//! forward through the server's test clock instead of sleeping.

use crate::common::{TestClock, assert_endpoint_url_refused, create_endpoint, items, poll};
use crate::flow::{approve, create_verification, session_to_review, verification_body};
use crate::harness::{Api, Server, str_field};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(crate) struct Receiver {
    child: std::process::Child,
    dir: tempfile::TempDir,
    pub(crate) url: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    pub(crate) fn start(offset_file: &Path) -> Receiver {
        let python = std::env::var("KYCD_TEST_PYTHON")
            .unwrap_or_else(|_| panic!("KYCD_TEST_PYTHON is not set: run scripts/test (it creates a venv with standardwebhooks)"));
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/webhook_receiver.py");
        let child = std::process::Command::new(python)
            .arg(script)
            .args([p("port"), p("out.jsonl"), p("secrets.json"), p("down")])
            .arg(offset_file)
            .spawn()
            .unwrap();
        let start = Instant::now();
        let port = loop {
            if let Ok(s) = std::fs::read_to_string(p("port")) {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the webhook receiver did not start (is standardwebhooks installed?)"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Receiver {
            child,
            url: format!("http://127.0.0.1:{port}/hooks"),
            dir,
        }
    }
    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
    /// Register an endpoint on this receiver (`body` without its url) and let the
    /// receiver check its signatures; returns the endpoint.
    pub(crate) async fn subscribe(&self, api: &Api, mut body: Value) -> Value {
        body["url"] = json!(self.url);
        let ep = create_endpoint(api, body).await;
        self.set_secrets(&[&str_field(&ep, "secret")]);
        ep
    }
    pub(crate) fn set_secrets(&self, secrets: &[&str]) {
        std::fs::write(self.path("secrets.json"), json!(secrets).to_string()).unwrap();
    }
    pub(crate) fn set_down(&self, down: bool) {
        if down {
            std::fs::write(self.path("down"), "").unwrap();
        } else {
            let _ = std::fs::remove_file(self.path("down"));
        }
    }
    pub(crate) fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("out.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    /// Wait until `pred` holds over the received requests.
    pub(crate) async fn wait_for(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if pred(&got) {
                return got;
            }
            if start.elapsed() > Duration::from_secs(120) {
                let seen: Vec<String> = got
                    .iter()
                    .map(|r| match r["method"].as_str() {
                        Some(m) => format!("{m} {}", r["path"]),
                        None => event_type(r),
                    })
                    .collect();
                panic!("webhooks: waited 120 s for {what}; received {seen:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub(crate) fn body(r: &Value) -> Value {
    serde_json::from_str(r["body"].as_str().unwrap()).unwrap()
}

pub(crate) fn event_type(r: &Value) -> String {
    str_field(&body(r), "type")
}

fn delivered_ok(got: &[Value], t: &str, object: &str) -> bool {
    got.iter()
        .any(|r| r["answered"] == 200 && event_type(r) == t && body(r)["data"]["verification"]["id"] == object)
}

/// The receiver sees a request before the engine records its outcome; moving the clock in
/// between would stamp the failure with the future time. Wait until `n` failed attempts
/// are recorded in the endpoint's delivery log.
async fn wait_recorded_failures(api: &Api, endpoint: &str, n: usize) -> Value {
    let path = format!("/v1/webhook_endpoints/{endpoint}/deliveries");
    wait_deliveries(api, &path, Duration::from_millis(100), |log| {
        let recorded = items(log, "data")
            .iter()
            .filter(|d| d["attempts"].as_i64() >= Some(1) && d["status"] == "pending");
        (recorded.count() >= n).then_some(()).ok_or("failed attempts not recorded")
    })
    .await
}

/// Poll an endpoint's delivery log (`path`) every `every`, up to 120 s, until `done`
/// holds; returns the log then. `done` says what it waits for otherwise.
async fn wait_deliveries(api: &Api, path: &str, every: Duration, done: impl Fn(&Value) -> Result<(), &'static str>) -> Value {
    poll(Duration::from_secs(120), every, async || {
        let log = api.get(path).await.ok();
        match done(&log) {
            Ok(()) => Ok(log),
            Err(waiting) => Err(format!("{waiting}: {log}")),
        }
    })
    .await
}

#[tokio::test]
async fn signed_events_for_every_change_survive_receiver_downtime() {
    let (clock, server) = TestClock::with_server(&[]).await;
    let receiver = clock.receiver();
    let api = server.admin();

    let ep = receiver
        .subscribe(&api, json!({"enabled_events": ["*"], "description": "tests"}))
        .await;
    let secret = str_field(&ep, "secret");
    assert!(secret.starts_with("whsec_"), "{ep}");
    let ep_id = str_field(&ep, "id");
    let listed = api.get(&format!("/v1/webhook_endpoints/{ep_id}")).await.ok();
    assert!(listed.get("secret").is_none(), "the secret is shown once: {listed}");

    // A whole verification: every change is pushed, signed, in order of the changes.
    let s = session_to_review(&api, &verification_body("Wilma Webhook", "wilma@example.org"), 81).await;
    approve(&api, &s.vid).await;
    let wanted = [
        "verification.created",
        "attempt.started",
        "capture.received",
        "verification.processing",
        "verification.review_required",
        "verification.approved",
        "verification.reviewed",
    ];
    let got = receiver
        .wait_for("every lifecycle event", |g| wanted.iter().all(|t| delivered_ok(g, t, &s.vid)))
        .await;
    for r in &got {
        assert_eq!(r["valid"], json!([0]), "standardwebhooks must verify every delivery: {r}");
        let b = body(r);
        assert_eq!(b["id"], r["id"], "webhook-id header is the event id");
        let text = r["body"].as_str().unwrap();
        assert!(
            !text.contains("Wilma") && !text.contains("wilma@"),
            "no personal data in webhook payloads: {text}"
        );
    }
    let approved = got.iter().find(|r| event_type(r) == "verification.approved").unwrap();
    assert_eq!(body(approved)["final"], true);
    assert_eq!(body(approved)["data"]["verification"]["status"], "approved");
    let created = got.iter().find(|r| event_type(r) == "verification.created").unwrap();
    assert_eq!(body(created)["final"], false);
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), got.len(), "each event is delivered once while the receiver is up");

    // Receiver down: deliveries fail and are retried later with the same event id.
    receiver.set_down(true);
    let v2 = create_verification(&api, &verification_body("Second Person", "second@example.org")).await;
    let v2id = str_field(&v2, "id");
    api.post_empty(&format!("/v1/verifications/{v2id}/cancel")).await.ok();
    let failed = receiver
        .wait_for("refused deliveries", |g| g.iter().filter(|r| r["answered"] == 503).count() >= 2)
        .await;
    let failed_ids: Vec<String> = failed.iter().filter(|r| r["answered"] == 503).map(|r| str_field(r, "id")).collect();
    let log = wait_recorded_failures(&api, &ep_id, 2).await;
    let pending: Vec<&Value> = items(&log, "data").iter().filter(|d| d["status"] == "pending").collect();
    assert!(!pending.is_empty(), "failed deliveries stay pending for a retry: {log}");
    for d in &pending {
        assert_eq!(d["last_status_code"], 503, "{d}");
        assert!(d["next_attempt_at"].is_string(), "{d}");
    }

    // Back up, and an hour passes: every refused event arrives, with its original id.
    receiver.set_down(false);
    clock.set(3600);
    let got = receiver
        .wait_for("retries after the receiver came back", |g| {
            failed_ids
                .iter()
                .all(|id| g.iter().any(|r| r["answered"] == 200 && r["id"] == id.as_str()))
        })
        .await;
    assert!(delivered_ok(&got, "verification.created", &v2id) && delivered_ok(&got, "verification.cancelled", &v2id));
    let cancelled = got
        .iter()
        .find(|r| r["answered"] == 200 && event_type(r) == "verification.cancelled")
        .unwrap();
    assert_eq!(body(cancelled)["final"], true);
    let deliveries = format!("/v1/webhook_endpoints/{ep_id}/deliveries");
    poll(Duration::from_secs(20), Duration::from_millis(100), async || {
        let log = api.get(&deliveries).await.ok();
        let all_done = items(&log, "data").iter().all(|d| d["status"] == "succeeded");
        all_done.then_some(()).ok_or(format!("deliveries still pending: {log}"))
    })
    .await;

    // Redelivery sends the same event id again.
    let log = api.get(&format!("/v1/webhook_endpoints/{ep_id}/deliveries")).await.ok();
    let first = &log["data"][0];
    let again = api
        .post_empty(&format!(
            "/v1/webhook_endpoints/{ep_id}/deliveries/{}/redeliver",
            str_field(first, "id")
        ))
        .await;
    assert_eq!(again.status, 202, "{}", again.text());
    let event_id = str_field(first, "event_id");
    receiver
        .wait_for("the redelivery", |g| {
            g.iter().filter(|r| r["id"] == event_id.as_str() && r["answered"] == 200).count() >= 2
        })
        .await;

    // Rotation: both secrets sign during the overlap.
    let rotated = api
        .post(
            &format!("/v1/webhook_endpoints/{ep_id}/rotate_secret"),
            &json!({"overlap_seconds": 600}),
        )
        .await
        .ok();
    let new_secret = str_field(&rotated, "secret");
    assert_ne!(new_secret, secret);
    receiver.set_secrets(&[&secret, &new_secret]);
    let v3 = create_verification(&api, &verification_body("Third Person", "third@example.org")).await;
    let v3id = str_field(&v3, "id");
    let got = receiver
        .wait_for("an event after rotation", |g| delivered_ok(g, "verification.created", &v3id))
        .await;
    let r = got
        .iter()
        .find(|r| event_type(r) == "verification.created" && body(r)["data"]["verification"]["id"] == v3id.as_str())
        .unwrap();
    assert_eq!(r["valid"], json!([0, 1]), "old and new secret both verify during the overlap: {r}");
}

#[tokio::test]
async fn endpoint_failing_for_days_is_disabled_with_an_event() {
    let (clock, server) = TestClock::with_server(&[]).await;
    let (receiver, watcher) = (clock.receiver(), clock.receiver());
    let api = server.admin();
    let failing = create_endpoint(&api, json!({"url": receiver.url, "enabled_events": ["verification.created"]})).await;
    watcher
        .subscribe(&api, json!({"enabled_events": ["webhook_endpoint.disabled"]}))
        .await;
    receiver.set_down(true);
    create_verification(&api, &verification_body("Dora Down", "dora@example.org")).await;
    receiver.wait_for("the first refused delivery", |g| !g.is_empty()).await;
    let failing_id = str_field(&failing, "id");
    wait_recorded_failures(&api, &failing_id, 1).await;
    // Four days later the next retry fails too: the endpoint is switched off, with an event.
    clock.set(4 * 86_400);
    let got = watcher
        .wait_for("webhook_endpoint.disabled", |g| {
            g.iter().any(|r| event_type(r) == "webhook_endpoint.disabled")
        })
        .await;
    let disabled = got
        .iter()
        .find(|r| event_type(r) == "webhook_endpoint.disabled")
        .unwrap_or_else(|| panic!("{got:?}"));
    let ev = body(disabled);
    assert_eq!(ev["data"]["webhook_endpoint"]["id"], failing_id.as_str());
    assert_eq!(disabled["valid"], json!([0]));
    let ep = api.get(&format!("/v1/webhook_endpoints/{failing_id}")).await.ok();
    assert_eq!(ep["enabled"], false, "{ep}");
    assert!(str_field(&ep, "disabled_reason").contains("failed"), "{ep}");
    // Re-enabling clears the failure streak.
    let ep = api
        .patch(&format!("/v1/webhook_endpoints/{failing_id}"), &json!({"enabled": true}))
        .await
        .ok();
    assert_eq!(ep["enabled"], true);
    assert!(ep["failing_since"].is_null(), "{ep}");
}

#[tokio::test]
async fn endpoint_input_is_checked_and_tenants_are_isolated() {
    let server = Server::start().await;
    let api = server.admin();
    for (body, needle) in [
        (json!({"url": "ftp://example.com/x", "enabled_events": ["*"]}), "url"),
        (json!({"url": "http://127.0.0.1:9/x", "enabled_events": []}), "enabled_events"),
        (
            json!({"url": "http://127.0.0.1:9/x", "enabled_events": ["verification.aproved"]}),
            "unknown event type",
        ),
        (
            json!({"url": "http://127.0.0.1:9/x", "enabled_events": ["*"], "secret": "mine"}),
            "secret",
        ),
    ] {
        let p = api.post("/v1/webhook_endpoints", &body).await.problem(422, "invalid-request");
        assert!(str_field(&p, "detail").contains(needle), "{body}: {p}");
    }
    // Live mode: https only, and never an internal address — for webhooks and callback URLs.
    let live = server.instance().create_tenant("Live Co", true).await;
    let live_api = server.client_for(&live.api_key);
    for url in [
        "http://example.com/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost:8443/hooks",
        "https://169.254.169.254/latest",
    ] {
        assert_endpoint_url_refused(&live_api, url).await;
    }
    let mut v = verification_body("Live Person", "live@example.org");
    v["callback_url"] = json!("https://10.0.0.5/back");
    let p = live_api.post("/v1/verifications", &v).await.problem(422, "invalid-request");
    assert!(str_field(&p, "detail").contains("callback_url refused"), "{p}");

    let ep = crate::common::endpoint_for_all(&api, "http://127.0.0.1:9/x").await;
    let id = str_field(&ep, "id");
    let other = server.instance().create_tenant("Other", false).await;
    let foreign = server.client_for(&other.api_key);
    foreign.get(&format!("/v1/webhook_endpoints/{id}")).await.problem(404, "not-found");
    foreign
        .patch(&format!("/v1/webhook_endpoints/{id}"), &json!({"enabled": false}))
        .await
        .problem(404, "not-found");
    foreign
        .delete(&format!("/v1/webhook_endpoints/{id}"))
        .await
        .problem(404, "not-found");
    foreign
        .get(&format!("/v1/webhook_endpoints/{id}/deliveries"))
        .await
        .problem(404, "not-found");
    foreign
        .post_empty(&format!("/v1/webhook_endpoints/{id}/rotate_secret"))
        .await
        .problem(404, "not-found");
    assert!(
        foreign.get("/v1/webhook_endpoints").await.ok()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    api.delete(&format!("/v1/webhook_endpoints/{id}")).await.expect(204);
    api.get(&format!("/v1/webhook_endpoints/{id}")).await.problem(404, "not-found");
}

/// An endpoint created with `"format": "checkout"` receives Checkout.com's
/// `identity_verification_*` events (own ids, the vendor's words and statuses, a
/// `Cko-Signature` the receiver checks with Python's hmac), while a kycd-format endpoint
/// keeps receiving kycd's events for the same changes.
#[tokio::test]
async fn a_checkout_format_endpoint_receives_checkout_events() {
    let (clock, server) = TestClock::with_server(&[]).await;
    let (cko, native) = (clock.receiver(), clock.receiver());
    let api = server.admin();
    let r = cko.subscribe(&api, json!({"enabled_events": ["*"], "format": "checkout"})).await;
    assert_eq!(r["format"], "checkout", "{r}");
    let r = native.subscribe(&api, json!({"enabled_events": ["*"]})).await;
    assert_eq!(r["format"], "kycd", "{r}");
    let r = api
        .post(
            "/v1/webhook_endpoints",
            &json!({"url": cko.url, "enabled_events": ["*"], "format": "sumsub"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("expected `kycd` or `checkout`"), "{}", r.text());

    let mut request = verification_body("Cora Checkout", "cora@example.org");
    request["applicant"]["external_applicant_id"] = json!("eaplt_cora");
    let s = session_to_review(&api, &request, 61).await;
    approve(&api, &s.vid).await;

    let want = [
        "identity_verification_opened",
        "identity_verification_started",
        "identity_verification_capture_completed",
        "identity_verification_checks_completed",
    ];
    let got = cko
        .wait_for("the Checkout events", |g| {
            g.iter().filter(|r| r["answered"] == 200).count() >= want.len()
        })
        .await;
    // Deliveries run concurrently, so they may arrive in any order (docs/webhooks.md):
    // each event once, whatever the order.
    let mut types: Vec<String> = got.iter().map(event_type).collect();
    types.sort();
    let mut want_sorted = want.map(str::to_owned).to_vec();
    want_sorted.sort();
    assert_eq!(types, want_sorted, "one started event per attempt, none for kycd-only events");
    // From here on, in the flow's order.
    let mut got = got;
    got.sort_by_key(|r| want.iter().position(|w| *w == event_type(r)));
    for r in &got {
        assert_eq!(r["cko_valid"], json!([0]), "Cko-Signature: {r}");
        assert_eq!(r["valid"], json!([0]), "Standard Webhooks signature too: {r}");
        let b = body(r);
        assert!(str_field(&b, "id").starts_with("evt_"), "{b}");
        assert_eq!(b["version"], "1.2.0");
        assert_eq!(b["data"]["identity_verification_id"], s.vid.as_str(), "{b}");
        assert_eq!(b["data"]["applicant_id"], s.applicant_id.as_str(), "{b}");
        assert_eq!(b["data"]["external_applicant_id"], "eaplt_cora", "{b}");
        assert!(str_field(&b["data"], "user_journey_id").starts_with("usj_"), "{b}");
        assert!(!r["body"].as_str().unwrap().contains("Cora"), "no personal data: {b}");
    }
    let statuses: Vec<Value> = got.iter().map(|r| body(r)["data"]["status"].clone()).collect();
    assert_eq!(
        statuses,
        vec![
            json!("pending"),
            json!("capture_in_progress"),
            json!("checks_in_progress"),
            json!("approved")
        ]
    );
    let done = body(&got[3]);
    assert_eq!(done["data"]["response_codes"], json!([{"code": 10000, "summary": "approved"}]));

    // `_links.self` answers the event through the Checkout dialect; kycd events are not Checkout's.
    let href = str_field(&done["_links"]["self"], "href");
    let path = href.strip_prefix(&server.base).unwrap_or_else(|| panic!("{href}"));
    assert_eq!(api.get(path).await.ok(), done);
    let kycd_events = native
        .wait_for("kycd's approval event", |g| {
            g.iter().any(|r| event_type(r) == "verification.approved")
        })
        .await;
    let kycd_id = str_field(&body(&kycd_events[0]), "id");
    let r = api.get(&format!("/compat/checkout/workflows/events/{kycd_id}")).await;
    assert_eq!(r.status, 404, "{}", r.text());
    // The same change went to the kycd endpoint in kycd's shape, never Checkout's.
    assert!(kycd_events.iter().all(|r| !event_type(r).starts_with("identity_verification_")));
}

/// The lifecycle sweep forgets finished deliveries (and events no delivery needs) after 30
/// days; newer ones stay in the log.
#[tokio::test]
async fn finished_deliveries_are_forgotten_after_thirty_days() {
    let (clock, server) = TestClock::with_server(&[("KYCD_SWEEP_INTERVAL_SECONDS", "1")]).await;
    let receiver = clock.receiver();
    let api = server.admin();
    let ep = receiver.subscribe(&api, json!({"enabled_events": ["verification.created"]})).await;
    let ep_id = str_field(&ep, "id");
    create_verification(&api, &verification_body("Olga Old", "olga@example.org")).await;
    let log_path = format!("/v1/webhook_endpoints/{ep_id}/deliveries");
    let log = wait_deliveries(&api, &log_path, Duration::from_millis(100), |log| {
        let delivered = items(log, "data").iter().any(|d| d["status"] == "succeeded");
        delivered.then_some(()).ok_or("not delivered")
    })
    .await;
    let old = str_field(&log["data"][0], "id");
    // 29 days later it is still there; at 31 days the sweep forgets it.
    clock.set(29 * 86_400);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let log = api.get(&log_path).await.ok();
    assert!(log.to_string().contains(&old), "kept for 30 days: {log}");
    clock.set(31 * 86_400);
    wait_deliveries(&api, &log_path, Duration::from_millis(200), |log| {
        let forgotten = !log.to_string().contains(&old);
        forgotten.then_some(()).ok_or("still in the log after 31 days")
    })
    .await;
    let r = api.post_empty(&format!("{log_path}/{old}/redeliver")).await;
    assert_eq!(r.status, 404, "{}", r.text());
    // A verification created now is logged as usual.
    create_verification(&api, &verification_body("Nina New", "nina@example.org")).await;
    receiver
        .wait_for("the new event", |g| {
            g.iter().filter(|r| event_type(r) == "verification.created").count() >= 2
        })
        .await;
}
