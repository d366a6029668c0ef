//! The job workers (issue 23 §3): processing runs on a pool of its own and webhook
//! deliveries on theirs, so a receiver that accepts a connection and never answers holds
//! delivery workers only. Each delivery here may wait 600 s (KYCD_DELIVERY_TIMEOUT_SECONDS):
//! a decision that waited for one would come long after the usual polling limit.

use crate::flow::{create_verification, upload, verification_body, wait_status};
use crate::harness::{Server, document_jpeg, selfie_png, str_field};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A webhook receiver that accepts every connection and never answers (nor closes it).
struct HangingReceiver {
    url: String,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HangingReceiver {
    async fn start() -> HangingReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(sock);
            }
        });
        HangingReceiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for HangingReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_hanging_webhook_receiver_does_not_delay_decisions() {
    const DELIVERY_WORKERS: usize = 3;
    const VERIFICATIONS: usize = 4;
    let receiver = HangingReceiver::start().await;
    let mut server = Server::start_with_env(&[
        ("KYCD_DELIVERY_TIMEOUT_SECONDS", "600"),
        ("KYCD_WORKERS", "2"),
        ("KYCD_DELIVERY_WORKERS", &DELIVERY_WORKERS.to_string()),
    ])
    .await;
    let api = server.admin();
    let body = json!({"url": receiver.url, "enabled_events": ["*"], "description": "hangs"});
    let ep_id = str_field(&crate::common::create_endpoint(&api, body).await, "id");

    // Several verifications, each already with events waiting to be delivered (created,
    // attempt started, captures received) before it is submitted.
    let mut vids = Vec::new();
    for i in 0..VERIFICATIONS as u64 {
        let name = format!("Worker Person {i}");
        let v = create_verification(&api, &verification_body(&name, &format!("worker{i}@example.org"))).await;
        let vid = str_field(&v, "id");
        api.post(&format!("/v1/verifications/{vid}/attempts"), &json!({})).await.ok();
        upload(&api, &vid, "document_front", "image/jpeg", &document_jpeg(700 + i)).await;
        upload(&api, &vid, "selfie", "image/png", &selfie_png(800 + i)).await;
        vids.push(vid);
    }
    for vid in &vids {
        api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    }
    for vid in &vids {
        let v = wait_status(&api, vid, "review_required", Duration::from_secs(180)).await;
        assert!(v["checks"].as_array().is_some_and(|c| !c.is_empty()), "decided by the checks: {v}");
    }

    // Every decision came while the deliveries were still hanging: none has finished an
    // attempt, the receiver holds one connection per delivery worker and no more.
    let log = api.get(&format!("/v1/webhook_endpoints/{ep_id}/deliveries?limit=100")).await.ok();
    let deliveries = log["data"].as_array().unwrap();
    assert!(
        deliveries.len() >= VERIFICATIONS * 5,
        "an event per change of each verification: {log}"
    );
    for d in deliveries {
        assert_eq!(d["status"], "pending", "no delivery can have ended yet: {d}");
        assert_eq!(d["attempts"], 0, "no delivery attempt can have ended yet: {d}");
    }
    let start = Instant::now();
    while receiver.accepted() < DELIVERY_WORKERS {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the delivery workers never all reached the receiver ({} connection(s))",
            receiver.accepted()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        receiver.accepted(),
        DELIVERY_WORKERS,
        "at most KYCD_DELIVERY_WORKERS deliveries at once"
    );

    assert!(
        server.logs().contains("processing=2") && server.logs().contains(&format!("deliveries={DELIVERY_WORKERS}")),
        "the server says how many workers it runs:\n{}",
        server.logs()
    );

    // Each processing job ran once, with one claim: the pools share the queue's leases.
    let inst = server.instance();
    let odd = inst
        .query_i64("SELECT COUNT(*) FROM jobs WHERE kind = 'process_verification' AND (status <> 'done' OR attempts <> 1)")
        .await;
    assert_eq!(odd, 0, "every processing job done, claimed once");
    assert_eq!(
        inst.query_i64("SELECT COUNT(*) FROM jobs WHERE kind = 'process_verification'")
            .await,
        VERIFICATIONS as i64
    );

    // Stopping does not wait out the hanging receivers: the deliveries in flight go back
    // to the queue, for the next start (terminate fails the test after 40 s).
    server.terminate().await;
    assert_eq!(
        inst.query_i64("SELECT COUNT(*) FROM jobs WHERE status = 'running'").await,
        0,
        "deliveries in flight were given back"
    );
    assert_eq!(
        inst.query_i64("SELECT COUNT(*) FROM jobs WHERE kind = 'deliver_webhook' AND status = 'queued'")
            .await,
        deliveries.len() as i64,
        "every delivery is still to do"
    );
}

#[tokio::test]
async fn worker_counts_are_checked_at_start() {
    let inst = crate::harness::Instance::new().await;
    let out = inst.cli_env(&["serve", "--listen", "127.0.0.1:0"], &[("KYCD_WORKERS", "0")]).await;
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("KYCD_WORKERS") || out.stderr.contains("--workers"),
        "names the setting: {}",
        out.stderr
    );
    let out = inst
        .cli_env(&["serve", "--listen", "127.0.0.1:0"], &[("KYCD_DELIVERY_TIMEOUT_SECONDS", "0")])
        .await;
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("KYCD_DELIVERY_TIMEOUT_SECONDS") || out.stderr.contains("--delivery-timeout-seconds"),
        "names the setting: {}",
        out.stderr
    );
}
