//! Logs never carry personal data.

use crate::flow::{approve, session_to_review};
use crate::harness::Server;
use serde_json::json;

#[tokio::test]
async fn logs_hold_no_personal_data() {
    // Verbose logging, so that anything logged at any level is seen.
    let mut s = Server::start_with_env(&[("KYCD_LOG", "debug"), ("RUST_LOG", "debug")]).await;
    let api = s.admin();
    let name = "Philomena Logbottom";
    let email = "philomena.logbottom@example.org";
    let body = json!({
        "applicant": {"full_name": name, "email": email, "phone_country_code": "+33", "phone_number": "612345678", "external_applicant_id": "ext-logbottom"},
        "declared_data": {"full_name": name, "document_number": "LOGDOC4242", "birth_date": "1980-02-29"}
    });
    let sess = session_to_review(&api, &body, 101).await;
    approve(&api, &sess.vid).await;
    api.get(&format!("/v1/verifications/{}/report", sess.vid)).await.ok();
    api.get(&format!("/v1/applicants/{}", sess.applicant_id)).await.ok();
    // Refused input that carries personal data must not be echoed to the log either.
    api.post("/v1/applicants", &json!({"full_name": name, "email": "philomena@@bad"}))
        .await
        .problem(422, "invalid-request");
    api.patch(
        &format!("/v1/applicants/{}", sess.applicant_id),
        &json!({"full_name": name, "email": email}),
    )
    .await
    .ok();
    s.stop().await;

    let logs = s.logs();
    assert!(logs.contains("listening on"), "the harness captured the output");
    assert!(logs.lines().count() > 20, "debug logging was on and captured:\n{logs}");
    for secret in [
        name,
        "Logbottom",
        email,
        "philomena@@bad",
        "612345678",
        "LOGDOC4242",
        "1980-02-29",
        "ext-logbottom",
    ] {
        assert!(
            !logs.contains(secret),
            "the server's log contains {secret:?}:\n{}",
            logs.lines().filter(|l| l.contains(secret)).take(5).collect::<Vec<_>>().join("\n")
        );
    }
}

/// The JSON log lines (`KYCD_LOG_FORMAT=json`) whose request span carries `id`.
fn lines_of_request(logs: &str, id: &str) -> Vec<serde_json::Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["span"]["request_id"] == id || v["spans"].as_array().is_some_and(|s| s.iter().any(|s| s["request_id"] == id)))
        .collect()
}

async fn get_with_id(s: &Server, path: &str, id: Option<&str>) -> reqwest::Response {
    let mut rb = reqwest::Client::new().get(format!("{}{path}", s.base)).bearer_auth(&s.admin_key);
    if let Some(id) = id {
        rb = rb.header("x-request-id", id);
    }
    rb.send().await.unwrap()
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id on {} {:?}", r.status(), r.url().path()))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn request_ids_and_the_access_log() {
    let mut s = Server::start_with_env(&[("KYCD_LOG_FORMAT", "json")]).await;
    let api = s.admin();
    let app = crate::common::create_applicant(&api, "Ida Requestid", "ida.requestid@example.org").await;
    let app_id = app["id"].as_str().unwrap().to_owned();

    // A well-formed id from the caller is kept, on success and on error answers alike.
    let path = format!("/v1/applicants/{app_id}");
    let r = get_with_id(&s, &path, Some("caller-trace-0001")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(request_id(&r), "caller-trace-0001");
    let r = get_with_id(&s, "/v1/applicants/app_doesnotexist0000000000000", Some("caller-trace-0002")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(request_id(&r), "caller-trace-0002");
    let r = get_with_id(&s, "/no/such/route", Some("caller-trace-0003")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(request_id(&r), "caller-trace-0003");
    // Otherwise one is made, different for each request, also for pages and probes.
    let mut made = Vec::new();
    for (p, id) in [
        (path.as_str(), None),
        (path.as_str(), Some("not a well-formed id")),
        (path.as_str(), Some(&*"x".repeat(200))),
        ("/healthz", None),
        ("/console/login", None),
    ] {
        let r = get_with_id(&s, p, id).await;
        let got = request_id(&r);
        assert!(got.starts_with("req_") && got.len() > 10, "{p} with {id:?}: generated id {got}");
        made.push(got);
    }
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 5, "every generated id is new: {made:?}");

    s.stop().await;
    let logs = s.logs();
    // One stream: every line the server wrote on stderr is a JSON log line (stdout holds
    // only the admin key and the address, for the scripts that start it).
    let stderr_like: Vec<&str> = logs
        .lines()
        .filter(|l| !l.starts_with("admin api key: ") && !l.starts_with("listening on "))
        .collect();
    for l in &stderr_like {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "a line that is not JSON (mixed eprintln and tracing?): {l}"
        );
    }
    // The access log line: route template, method, status, latency, in the request's span.
    let lines = lines_of_request(&logs, "caller-trace-0001");
    let access = lines
        .iter()
        .find(|l| l["target"] == "kycd::access")
        .unwrap_or_else(|| panic!("an access line for caller-trace-0001:\n{logs}"));
    assert_eq!(access["level"], "INFO", "{access}");
    assert_eq!(access["fields"]["status"], 200, "{access}");
    assert!(access["fields"]["latency_ms"].as_f64().is_some(), "{access}");
    assert_eq!(
        access["span"]["route"], "/v1/applicants/{id}",
        "the template, not the path: {access}"
    );
    assert_eq!(access["span"]["method"], "GET", "{access}");
    assert!(!logs.contains(&app_id), "object ids in paths stay out of the log");
    let not_found = lines_of_request(&logs, "caller-trace-0003");
    assert!(
        not_found
            .iter()
            .any(|l| l["target"] == "kycd::access" && l["fields"]["status"] == 404 && l["span"]["route"] == "unmatched"),
        "an unrouted path is logged as `unmatched`, not as the path:\n{not_found:?}"
    );
    assert!(!logs.contains("/no/such/route"), "raw paths stay out of the log");
}

#[tokio::test]
async fn a_500_logs_its_cause_under_the_request_id() {
    let mut s = Server::start_with_env(&[("KYCD_LOG_FORMAT", "json")]).await;
    let api = s.admin();
    api.get("/v1/webhook_endpoints").await.ok();
    // The store fails: the table it reads is gone (as after a bad manual migration).
    s.instance()
        .execute_sql("ALTER TABLE webhook_endpoints RENAME TO webhook_endpoints_moved_away")
        .await;
    let r = get_with_id(&s, "/v1/webhook_endpoints", Some("force-500-0001")).await;
    assert_eq!(r.status(), 500);
    assert_eq!(request_id(&r), "force-500-0001");
    let body = r.text().await.unwrap();
    assert!(!body.contains("webhook_endpoints"), "the caller gets no internals: {body}");
    assert!(body.contains("retry later"), "{body}");
    s.stop().await;

    let logs = s.logs();
    let lines = lines_of_request(&logs, "force-500-0001");
    let error = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("an ERROR line in the request's span:\n{logs}"));
    let cause = error["fields"]["cause"].as_str().unwrap_or_else(|| panic!("{error}"));
    // SQLite: "no such table: webhook_endpoints"; PostgreSQL: relation … does not exist.
    assert!(
        cause.contains("database error")
            && cause.contains("webhook_endpoints")
            && (cause.contains("no such table") || cause.contains("does not exist")),
        "the log has the store error's own cause, not only 'internal error': {error}"
    );
    assert!(
        lines.iter().any(|l| l["target"] == "kycd::access" && l["fields"]["status"] == 500),
        "the access line of the 500 carries the same id: {lines:?}"
    );
}
