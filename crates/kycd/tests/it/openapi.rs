//! OpenAPI document, docs page, health and readiness.

use crate::harness::Server;

#[tokio::test]
async fn openapi_docs_and_health() {
    let s = Server::start().await;
    let anon = s.anon();

    let r = anon.get("/v1/openapi.json").await;
    r.expect(200);
    assert!(r.content_type.starts_with("application/json"), "{}", r.content_type);
    let doc = r.json();
    let version = doc["openapi"].as_str().unwrap_or_else(|| panic!("openapi field: {doc}"));
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, got {version}");
    let paths = doc["paths"].as_object().unwrap_or_else(|| panic!("paths: {doc}"));
    // Path parameter names are the server's choice: compare with `{}` in their place.
    let shape = |p: &str| {
        let mut out = String::new();
        let mut in_param = false;
        for ch in p.chars() {
            match ch {
                '{' => {
                    in_param = true;
                    out.push_str("{}");
                }
                '}' => in_param = false,
                c if !in_param => out.push(c),
                _ => {}
            }
        }
        out
    };
    let shapes: Vec<String> = paths.keys().map(|k| shape(k)).collect();
    for p in [
        "/v1/applicants",
        "/v1/applicants/{id}",
        "/v1/verifications",
        "/v1/verifications/{id}",
        "/v1/verifications/{id}/captures",
        "/v1/verifications/{id}/attempts",
        "/v1/verifications/{id}/attempts/{attempt_id}",
        "/v1/verifications/{id}/cancel",
        "/v1/verifications/{id}/anonymize",
        "/v1/verifications/{id}/submit",
        "/v1/verifications/{id}/review",
        "/v1/verifications/{id}/report",
        "/v1/files/{file_id}",
        "/v1/capture-sessions",
    ] {
        assert!(
            shapes.contains(&shape(p)),
            "openapi has path {p}; it has {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    assert!(paths.contains_key("/v1/verifications"), "the exact path /v1/verifications");
    assert!(
        paths.contains_key("/v1/verifications/{id}/captures"),
        "the exact path /v1/verifications/{{id}}/captures"
    );
    assert!(
        paths["/v1/verifications"].get("post").is_some(),
        "POST /v1/verifications is documented"
    );
    assert!(
        paths["/v1/verifications"].get("get").is_some(),
        "GET /v1/verifications is documented"
    );
    let capture_ops = paths["/v1/verifications/{id}/captures"].as_object().unwrap();
    assert!(
        capture_ops.contains_key("post") && capture_ops.contains_key("get"),
        "captures POST and GET are documented"
    );
    assert!(
        doc.pointer("/components/schemas")
            .and_then(|s| s.as_object())
            .is_some_and(|s| !s.is_empty()),
        "the document carries schemas for the JSON shapes"
    );

    let d = anon.get("/docs").await;
    d.expect(200);
    assert!(d.content_type.starts_with("text/html"), "{}", d.content_type);
    assert!(d.text().to_ascii_lowercase().contains("<html"), "/docs is an HTML page");

    let h = anon.get("/healthz").await;
    h.expect(200);
    assert_eq!(h.json(), serde_json::json!({"status": "ok"}));
    anon.get("/readyz").await.expect(200);
}
