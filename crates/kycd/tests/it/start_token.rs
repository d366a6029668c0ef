//! The single-use start token in an attempt's capture link.

use crate::flow::{Opened, open_attempt};
use crate::harness::{Server, str_field};
use serde_json::json;

#[tokio::test]
async fn start_token_redeems_once() {
    let s = Server::start().await;
    let api = s.admin();
    let Opened {
        v,
        vid,
        attempt: att,
        token,
    } = open_attempt(&api, "Token Person", "token@example.org").await;
    let anon = s.anon();

    let r = anon.post("/v1/capture-sessions", &json!({"token": token})).await;
    r.expect(200);
    let body = r.json();
    assert_eq!(body["attempt_id"], att["id"], "{body}");
    assert_eq!(body["verification_id"], v["id"], "{body}");

    let got = api
        .get(&format!("/v1/verifications/{vid}/attempts/{}", str_field(&att, "id")))
        .await
        .ok();
    assert_eq!(got["token_used"], true, "the attempt shows its token as used: {got}");

    anon.post("/v1/capture-sessions", &json!({"token": token}))
        .await
        .problem(410, "gone");
    anon.post(
        "/v1/capture-sessions",
        &json!({"token": "thisTokenWasNeverIssuedByKycd0123456789abcd"}),
    )
    .await
    .problem(404, "not-found");
    anon.post("/v1/capture-sessions", &json!({"token": token, "extra": 1}))
        .await
        .problem(422, "invalid-request");
}

#[tokio::test]
async fn start_token_of_cancelled_verification_is_gone() {
    let s = Server::start().await;
    let api = s.admin();
    let Opened { vid, token, .. } = open_attempt(&api, "Gone Person", "gone@example.org").await;
    api.post_empty(&format!("/v1/verifications/{vid}/cancel")).await.ok();
    s.anon()
        .post("/v1/capture-sessions", &json!({"token": token}))
        .await
        .problem(410, "gone");
}
