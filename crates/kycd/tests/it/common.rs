//! Set-up and waiting shared by the test files: the server's test clock, the one polling
//! loop, and readers of the arrays in JSON answers.

use crate::harness::{Api, Server, str_field};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The server's test clock (`KYCD_TEST_CLOCK_OFFSET_FILE`): a file holding how many seconds
/// the server's clock is ahead, starting at 0, in a folder that lives as long as this.
pub struct TestClock {
    _dir: tempfile::TempDir,
    pub file: PathBuf,
}

impl TestClock {
    pub fn new() -> TestClock {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("offset");
        set_offset(&file, 0);
        TestClock { _dir: dir, file }
    }

    /// Move the server's clock to `seconds` ahead of the real one.
    pub fn set(&self, seconds: i64) {
        set_offset(&self.file, seconds);
    }

    /// The variable that points a server at this clock.
    pub fn var(&self) -> (&'static str, &str) {
        ("KYCD_TEST_CLOCK_OFFSET_FILE", self.file.to_str().unwrap())
    }

    /// A clock at 0 and a server on it, with `env` besides.
    pub async fn with_server(env: &[(&str, &str)]) -> (TestClock, Server) {
        let clock = TestClock::new();
        let mut all = vec![clock.var()];
        all.extend_from_slice(env);
        let server = Server::start_with_env(&all).await;
        (clock, server)
    }

    /// A webhook receiver that reads this clock (it checks signature timestamps by it).
    pub fn receiver(&self) -> crate::webhooks::Receiver {
        crate::webhooks::Receiver::start(&self.file)
    }
}

pub fn set_offset(file: &Path, seconds: i64) {
    std::fs::write(file, seconds.to_string()).unwrap();
}

/// A client that does not follow redirects (each 303 is an answer to check), with room
/// for a server busy with many requests at once.
pub fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// Call `probe` every `every` until it answers `Ok`; once `within` has passed, fail with
/// what its last `Err` says it still waits for. The suite's one waiting loop.
pub async fn poll<T>(within: Duration, every: Duration, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(done) => return done,
            Err(waiting) => assert!(start.elapsed() < within, "{waiting}"),
        }
        tokio::time::sleep(every).await;
    }
}

/// The array `v[field]` (a JSON answer's list), failing with the answer when it is none.
pub fn items<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v[field].as_array().unwrap_or_else(|| panic!("no array {field:?} in {v}"))
}

/// The element of the array `v[list]` whose `key` is `value`.
pub fn item_where<'a>(v: &'a Value, list: &str, key: &str, value: &str) -> &'a Value {
    items(v, list)
        .iter()
        .find(|e| e[key] == value)
        .unwrap_or_else(|| panic!("no {list} element with {key} = {value:?} in {v}"))
}

/// Register a webhook endpoint from `body` (url, events, …) and return it.
pub async fn create_endpoint(api: &Api, body: Value) -> Value {
    let r = api.post("/v1/webhook_endpoints", &body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

/// An endpoint on `url` for all events.
pub async fn endpoint_for_all(api: &Api, url: &str) -> Value {
    create_endpoint(api, json!({"url": url, "enabled_events": ["*"]})).await
}

/// Assert that a webhook endpoint on `url` is refused for its address.
pub async fn assert_endpoint_url_refused(api: &Api, url: &str) {
    let body = json!({"url": url, "enabled_events": ["*"]});
    let p = api.post("/v1/webhook_endpoints", &body).await.problem(422, "invalid-request");
    assert!(str_field(&p, "detail").contains("url refused"), "{url}: {p}");
}

/// `kycd purge --orphans --grace-seconds 0`; asserts it reports `removed` orphan blobs
/// (`why` says why that many).
pub async fn purge_orphans(s: &Server, removed: usize, why: &str) {
    let out = s.cli(&["purge", "--orphans", "--grace-seconds", "0"]).await;
    out.success();
    let said = format!("removed {removed} orphan blob(s)");
    assert!(out.stdout.contains(&said), "{why}: {}", out.all_output());
}

/// Assert that a command's error output `err` refuses a value (`invalid`, clap's "invalid
/// value … for …" text) and names the environment variable `var` it came from.
pub fn assert_refused_from_variable(err: &str, invalid: &str, var: &str) {
    let from = format!("the value comes from the environment variable {var}");
    assert!(err.contains(invalid) && err.contains(&from), "{err}");
}

/// Create an applicant with a name and an email; returns it.
pub async fn create_applicant(api: &Api, full_name: &str, email: &str) -> Value {
    api.post("/v1/applicants", &json!({"full_name": full_name, "email": email}))
        .await
        .ok()
}
