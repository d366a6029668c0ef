//! Scale-out: two `kycd serve` processes on one database and one blob store, as behind a
//! load balancer. In scripts/test's third run that is PostgreSQL and a real S3 server;
//! in the others the same test runs on one SQLite file and one blob folder.
//! Work started on one instance is finished by the other; each processing job takes
//! effect once; every webhook event is delivered, once while both instances live; an
//! instance killed mid-way leaves nothing undone.

use crate::common::TestClock;
use crate::flow::{create_verification, upload, verification_body, wait_status};
use crate::harness::{Api, Instance, Server, document_jpeg, selfie_png, str_field};
use crate::webhooks::{Receiver, body, event_type};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A submitted verification and its document capture.
struct Started {
    vid: String,
    file: String,
    front: Vec<u8>,
}

/// Create on `creator`, upload both captures through `uploader`, submit on `submitter`.
async fn start_verification(creator: &Api, uploader: &Api, submitter: &Api, i: u64) -> Started {
    let name = format!("Scale Person {i}");
    let v = create_verification(creator, &verification_body(&name, &format!("scale{i}@example.org"))).await;
    let vid = str_field(&v, "id");
    let front = document_jpeg(300 + i);
    let c = upload(uploader, &vid, "document_front", "image/jpeg", &front).await;
    upload(uploader, &vid, "selfie", "image/png", &selfie_png(400 + i)).await;
    submitter.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    Started {
        vid,
        file: str_field(&c, "id"),
        front,
    }
}

/// How many processing jobs each server's log says it finished.
fn processing_jobs_finished(s: &Server) -> usize {
    s.logs()
        .lines()
        .filter(|l| l.contains("job finished") && l.contains("kind=process"))
        .count()
}

/// Received `verification.review_required` deliveries: verification id → event ids, and
/// event id → how many times it arrived.
fn review_events(got: &[Value]) -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, usize>) {
    let mut per_verification: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut arrivals: BTreeMap<String, usize> = BTreeMap::new();
    for r in got
        .iter()
        .filter(|r| r["answered"] == 200 && event_type(r) == "verification.review_required")
    {
        let b = body(r);
        let vid = b["data"]["verification"]["id"].as_str().unwrap().to_owned();
        let id = str_field(r, "id");
        per_verification.entry(vid).or_default().insert(id.clone());
        *arrivals.entry(id).or_default() += 1;
    }
    (per_verification, arrivals)
}

/// Wait until `receiver` has a review_required event for each of `vids` and assert it
/// is one event id each (however often it arrived); returns the arrivals per event id.
async fn one_review_event_each(receiver: &Receiver, vids: &BTreeSet<&String>) -> BTreeMap<String, usize> {
    let got = receiver
        .wait_for("a review_required event for every verification", |g| {
            let (per, _) = review_events(g);
            vids.iter().all(|v| per.contains_key(*v))
        })
        .await;
    let (per, arrivals) = review_events(&got);
    for v in vids {
        assert_eq!(per[*v].len(), 1, "{v}: one review_required event id: {:?}", per[*v]);
    }
    arrivals
}

#[tokio::test]
async fn two_instances_share_the_work_and_one_finishes_what_a_killed_one_left() {
    let clock = TestClock::new();
    let receiver = clock.receiver();
    let inst = Instance::new().await;
    let mut a = Server::start_on(inst.clone(), &[], None).await;
    let b = Server::start_on(inst.clone(), &[], Some(a.admin_key.clone())).await;
    let (api_a, api_b) = (a.admin(), b.admin());

    // An endpoint registered on one instance is served by both.
    receiver
        .subscribe(&api_b, json!({"enabled_events": ["verification.review_required"]}))
        .await;

    // Both up: created on A, captures to B, submitted on each in turn.
    let mut first = Vec::new();
    for i in 0..8 {
        let submitter = if i % 2 == 0 { &api_a } else { &api_b };
        first.push(start_verification(&api_a, &api_b, submitter, i).await);
    }
    for s in &first {
        wait_status(&api_b, &s.vid, "review_required", Duration::from_secs(240)).await;
        // A capture uploaded through B downloads through A byte for byte.
        let f = api_a.get(&format!("/v1/files/{}", s.file)).await;
        assert_eq!(f.status, 200, "{}", f.text());
        assert!(f.body == s.front, "file {} read through the other instance differs", s.file);
    }
    let (on_a, on_b) = (processing_jobs_finished(&a), processing_jobs_finished(&b));
    assert!(
        on_a >= 1 && on_b >= 1,
        "both instances run processing jobs: A ran {on_a}, B ran {on_b}"
    );
    assert_eq!(on_a + on_b, first.len(), "each processing job ran once: A ran {on_a}, B ran {on_b}");
    let first_ids: BTreeSet<&String> = first.iter().map(|s| &s.vid).collect();
    let arrivals = one_review_event_each(&receiver, &first_ids).await;
    for (id, n) in &arrivals {
        assert_eq!(*n, 1, "event {id} delivered once while both instances live");
    }

    // A is killed right after taking submissions; B finishes all of them, including any
    // job A had claimed (its lease runs out and B claims it again).
    let mut second = Vec::new();
    for i in 8..14 {
        second.push(start_verification(&api_b, &api_b, &api_a, i).await);
    }
    a.stop().await;
    assert!(
        api_a
            .try_send("A is gone".into(), api_a.req(reqwest::Method::GET, "/healthz"))
            .await
            .is_err()
    );
    for s in &second {
        wait_status(&api_b, &s.vid, "review_required", Duration::from_secs(240)).await;
    }
    let all: BTreeSet<&String> = first.iter().chain(&second).map(|s| &s.vid).collect();
    // At-least-once delivery may repeat an event A was sending when it died, but always
    // with its one id: processing took effect once.
    one_review_event_each(&receiver, &all).await;
    assert!(b.logs().contains("listening on"), "B served throughout");
    assert_eq!(api_b.get("/healthz").await.status, 200);
}
