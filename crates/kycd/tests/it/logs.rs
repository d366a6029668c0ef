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
