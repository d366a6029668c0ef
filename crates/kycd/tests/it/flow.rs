//! Steps of a verification, shared by the tests.

use crate::harness::{Api, document_jpeg, selfie_png, str_field};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The `data` array of a list answer (`{"data": [...], "next_cursor": …}`).
pub fn data(v: &Value) -> Vec<Value> {
    v.get("data")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("expected a list answer {{\"data\": [...]}}, got {v}"))
        .clone()
}

pub fn ids(list: &[Value]) -> Vec<String> {
    list.iter().map(|v| str_field(v, "id")).collect()
}

/// A verification for a made-up person, inline applicant.
pub fn verification_body(name: &str, email: &str) -> Value {
    json!({
        "applicant": {"full_name": name, "email": email},
        "declared_data": {"full_name": name},
        "delivery": "none"
    })
}

pub async fn create_verification(api: &Api, body: &Value) -> Value {
    let v = api.post("/v1/verifications", body).await.ok();
    assert!(str_field(&v, "id").starts_with("idv_"), "verification id must start with idv_: {v}");
    v
}

/// A verification of a made-up person (`verification_body`): the answer and its id.
pub async fn new_verification(api: &Api, name: &str, email: &str) -> (Value, String) {
    let v = create_verification(api, &verification_body(name, email)).await;
    let vid = str_field(&v, "id");
    (v, vid)
}

/// A verification with an attempt open: what a capture link hands the person.
pub struct Opened {
    pub v: Value,
    pub vid: String,
    pub attempt: Value,
    /// The start token of the attempt's capture link.
    pub token: String,
}

/// A verification of a made-up person (`verification_body`) with an attempt opened.
pub async fn open_attempt(api: &Api, name: &str, email: &str) -> Opened {
    let (v, vid) = new_verification(api, name, email).await;
    let attempt = create_attempt(api, &vid).await;
    let token = token_of(&str_field(&attempt, "url"));
    Opened { v, vid, attempt, token }
}

pub async fn create_attempt(api: &Api, vid: &str) -> Value {
    api.post(&format!("/v1/verifications/{vid}/attempts"), &json!({})).await.ok()
}

/// Upload a capture as a raw body.
pub async fn upload(api: &Api, vid: &str, kind: &str, content_type: &str, bytes: &[u8]) -> Value {
    api.post_raw(
        &format!("/v1/verifications/{vid}/captures?kind={kind}"),
        content_type,
        bytes.to_vec(),
    )
    .await
    .ok()
}

pub fn token_of(url: &str) -> String {
    let rest = url
        .split_once("token=")
        .unwrap_or_else(|| panic!("attempt url has no token=: {url}"))
        .1;
    rest.split('&').next().unwrap_or("").to_owned()
}

/// Poll the verification until its status is `want` (every 100 ms, up to `within`).
pub async fn wait_status(api: &Api, vid: &str, want: &str, within: Duration) -> Value {
    let start = Instant::now();
    let mut last;
    loop {
        last = api.get(&format!("/v1/verifications/{vid}")).await.ok();
        let status = str_field(&last, "status");
        if status == want {
            return last;
        }
        let transient = matches!(status.as_str(), "processing" | "created" | "pending" | "capture_in_progress");
        assert!(transient, "verification {vid} became {status} while waiting for {want}: {last}");
        if start.elapsed() > within {
            panic!("verification {vid} is still {status} after {within:?}; wanted {want}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a finished capture session left.
pub struct Session {
    pub vid: String,
    pub applicant_id: String,
    pub attempt_id: String,
    /// (kind, file id, bytes)
    pub files: Vec<(String, String, Vec<u8>)>,
}

/// Create a verification from `body`, open an attempt, upload a document and a selfie,
/// submit, and wait for `review_required`.
pub async fn session_to_review(api: &Api, body: &Value, seed: u64) -> Session {
    let v = create_verification(api, body).await;
    let vid = str_field(&v, "id");
    let attempt = create_attempt(api, &vid).await;
    let front = document_jpeg(seed);
    let selfie = selfie_png(seed + 1);
    let c1 = upload(api, &vid, "document_front", "image/jpeg", &front).await;
    let c2 = upload(api, &vid, "selfie", "image/png", &selfie).await;
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    wait_status(api, &vid, "review_required", Duration::from_secs(180)).await;
    Session {
        applicant_id: str_field(&v, "applicant_id"),
        attempt_id: str_field(&attempt, "id"),
        files: vec![
            ("document_front".into(), str_field(&c1, "id"), front),
            ("selfie".into(), str_field(&c2, "id"), selfie),
        ],
        vid,
    }
}

pub async fn approve(reviewer: &Api, vid: &str) -> Value {
    review(reviewer, vid, "approve", "document and selfie are consistent", "approved").await
}

/// Decide a verification in review with `decision` and `reason`; asserts it became `status`.
pub async fn review(reviewer: &Api, vid: &str, decision: &str, reason: &str, status: &str) -> Value {
    let body = json!({"decision": decision, "reason": reason});
    let v = reviewer.post(&format!("/v1/verifications/{vid}/review"), &body).await.ok();
    assert_eq!(v["status"], status, "after {decision}: {v}");
    v
}
