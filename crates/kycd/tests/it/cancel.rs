//! Cancelling a verification.

use crate::flow::new_verification;
use crate::harness::{Server, document_jpeg};
use serde_json::json;

#[tokio::test]
async fn cancel_is_final() {
    let s = Server::start().await;
    let api = s.admin();
    let (v, vid) = new_verification(&api, "Cancel Me", "cancel@example.org").await;
    assert_eq!(v["status"], "created");

    let c = api.post_empty(&format!("/v1/verifications/{vid}/cancel")).await.ok();
    assert_eq!(c["status"], "cancelled", "{c}");
    assert_eq!(c["id"], v["id"]);
    let got = api.get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_eq!(got["status"], "cancelled", "{got}");

    api.post_empty(&format!("/v1/verifications/{vid}/cancel"))
        .await
        .problem(409, "conflict");
    api.post(&format!("/v1/verifications/{vid}/attempts"), &json!({}))
        .await
        .problem(409, "conflict");
    api.post_raw(
        &format!("/v1/verifications/{vid}/captures?kind=document_front"),
        "image/jpeg",
        document_jpeg(5),
    )
    .await
    .problem(409, "conflict");
    api.post_empty(&format!("/v1/verifications/{vid}/submit"))
        .await
        .problem(409, "conflict");
    let got = api.get(&format!("/v1/verifications/{vid}")).await.ok();
    assert_eq!(got["status"], "cancelled", "still cancelled: {got}");
}
