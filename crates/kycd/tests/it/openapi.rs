//! OpenAPI document, docs page, health and readiness.

use crate::harness::{Server, run_python_script};
use serde_json::Value;

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
    let page = d.text();
    assert!(page.to_ascii_lowercase().contains("<html"), "/docs is an HTML page");
    // A person reads what each operation, parameter and answer means there.
    for said in [
        "Create a verification",
        "<code>cursor</code> (query): The `next_cursor` of the previous page",
        "<code>404</code>: No such object in this API key's account",
    ] {
        assert!(page.contains(said), "/docs says {said:?}");
    }

    let h = anon.get("/healthz").await;
    h.expect(200);
    assert_eq!(h.json(), serde_json::json!({"status": "ok"}));
    let ready = anon.get("/readyz").await.ok();
    assert_eq!(ready["status"], "ready", "{ready}");
    for check in ["database", "blob_store", "master_key", "models"] {
        assert_eq!(ready["checks"][check], "ok", "/readyz checks {check}: {ready}");
    }
}

/// The native routes: everything the router serves except the dialects (their vendors'
/// documents describe them) and the HTML pages of the capture flow and the console.
fn is_native(route: &str) -> bool {
    !(route.starts_with("/compat/") || route.starts_with("/capture") || route.starts_with("/console"))
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The served document passes an independent OpenAPI 3.1 validator, lists exactly the
/// routes the router serves (taken from the router itself, `kycd routes`), and describes
/// every operation, parameter and response for a person.
#[tokio::test]
async fn openapi_is_valid_and_documents_every_native_route() {
    let s = Server::start().await;
    let (doc, dir) = served_document(&s).await;
    let file = dir.path().join("openapi.json");

    // 1. An OpenAPI validator that is not kycd's generator.
    run_python_script(&s, "openapi_validate.py", "openapi-spec-validator", &[file.as_os_str()]).await;

    // 2. Every native route is documented, and every documented path is routed.
    let routes = s.cli(&["routes"]).await;
    let routes: Vec<String> = routes.success().stdout.lines().map(str::to_owned).collect();
    assert!(routes.len() > 40, "kycd routes lists the router's templates: {routes:?}");
    let paths = doc["paths"].as_object().unwrap();
    let native: Vec<&String> = routes.iter().filter(|r| is_native(r)).collect();
    let undocumented: Vec<&&String> = native.iter().filter(|r| !paths.contains_key(r.as_str())).collect();
    assert!(undocumented.is_empty(), "routed but not in /v1/openapi.json: {undocumented:?}");
    for p in paths.keys() {
        assert!(routes.contains(p), "documented but not routed: {p} (routes: {routes:?})");
    }
    for p in ["/healthz", "/readyz", "/v1/openapi.json", "/metrics", "/docs"] {
        assert!(paths.contains_key(p), "{p} is documented");
    }

    // 3. A person can read it: every operation, parameter and response is described.
    let mut ops = 0;
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            ops += 1;
            let what = format!("{} {path}", method.to_uppercase());
            let summary = op["summary"].as_str().unwrap_or("");
            assert!(summary.len() > 3, "{what} has a summary: {op}");
            for param in op["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().unwrap();
                let place = param["in"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(
                    place,
                    if in_path { "path" } else { "query" },
                    "{what}: parameter {name} is declared where it is sent: {param}"
                );
                assert!(
                    param["description"].as_str().is_some_and(|d| d.len() > 5),
                    "{what}: parameter {name} has a description: {param}"
                );
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|c| c.starts_with('2')), "{what} documents its success");
            for (code, resp) in responses {
                let desc = resp["description"].as_str().unwrap_or("");
                assert!(desc.len() > 3, "{what}: response {code} has a description: {resp}");
                if code.starts_with('4') || code.starts_with('5') {
                    let media: Vec<&String> = resp["content"].as_object().map(|c| c.keys().collect()).unwrap_or_default();
                    assert_eq!(media, ["application/problem+json"], "{what}: error {code} is problem+json: {resp}");
                }
            }
            assert!(responses.contains_key("500"), "{what}: a 500 is documented");
            let public = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(|r| r.is_empty())));
            if !public {
                assert!(responses.contains_key("401"), "{what} takes a credential: 401 is documented");
            }
        }
    }
    assert!(ops >= 45, "every operation was walked ({ops})");

    // 4. The parts that were wrong: query parameters, binary uploads, problem+json.
    let list_params = doc["paths"]["/v1/verifications"]["get"]["parameters"].as_array().unwrap();
    for q in ["limit", "cursor", "status"] {
        assert!(
            list_params.iter().any(|p| p["name"] == q && p["in"] == "query"),
            "{q} is a query parameter: {list_params:?}"
        );
    }
    let upload = &doc["paths"]["/v1/verifications/{id}/captures"]["post"]["requestBody"]["content"];
    for media in ["image/jpeg", "image/png", "image/webp", "image/heic"] {
        let schema = resolve(&doc, &upload[media]["schema"]);
        assert_eq!(schema["type"], "string", "{media} upload is a binary body: {upload}");
        assert_eq!(schema["format"], "binary", "{media} upload is a binary body: {upload}");
    }
    let form = resolve(&doc, &upload["multipart/form-data"]["schema"]);
    assert_eq!(
        resolve(&doc, &form["properties"]["file"])["format"],
        "binary",
        "multipart field file: {form}"
    );
    let kind = doc["paths"]["/v1/verifications/{id}/captures"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "kind")
        .cloned()
        .unwrap_or_default();
    assert_eq!(kind["in"], "query", "kind is a query parameter: {kind}");
    assert_eq!(kind["required"], true, "kind is required: {kind}");
    let download = doc["paths"]["/v1/files/{id}"]["get"]["responses"]["200"]["content"]
        .as_object()
        .unwrap();
    assert!(
        download.contains_key("image/jpeg") && download.contains_key("image/png"),
        "{download:?}"
    );
}

/// The served document, and a temporary folder that holds it as `openapi.json`.
async fn served_document(s: &Server) -> (Value, tempfile::TempDir) {
    let doc = s.anon().get("/v1/openapi.json").await.ok();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("openapi.json"), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    (doc, dir)
}

/// A schema, following one `$ref` into `components/schemas`.
fn resolve(doc: &Value, schema: &Value) -> Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => doc["components"]["schemas"][name].clone(),
        None => schema.clone(),
    }
}

/// A client generated from the served document (openapi-python-client, as an integrator
/// would run it) runs the README's quick start: create, attempt, upload, submit, review,
/// report, PDF, and a documented error.
#[tokio::test]
async fn a_generated_python_client_runs_the_quick_start() {
    let s = Server::start().await;
    let (_, dir) = served_document(&s).await;
    let file = dir.path().join("openapi.json");

    let python = std::env::var("KYCD_TEST_PYTHON").expect("KYCD_TEST_PYTHON (scripts/test sets it)");
    let bin = std::path::Path::new(&python).parent().unwrap().to_owned();
    let client = dir.path().join("client");
    // The generator formats its output with ruff, installed beside it.
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = tokio::process::Command::new(bin.join("openapi-python-client"))
        .args(["generate", "--path"])
        .arg(&file)
        .arg("--output-path")
        .arg(&client)
        .env("PATH", path)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run openapi-python-client from {} (scripts/test installs it): {e}", bin.display()));
    assert!(
        out.status.success() && client.join("kycd_native_api_client").is_dir(),
        "the generator failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let document = dir.path().join("document.jpg");
    let selfie = dir.path().join("selfie.png");
    std::fs::write(&document, crate::harness::document_jpeg(77)).unwrap();
    std::fs::write(&selfie, crate::harness::selfie_png(78)).unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        client.into(),
        s.base.clone().into(),
        s.admin_key.clone().into(),
        document.into(),
        selfie.into(),
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run_python_script(&s, "generated_client_quickstart.py", "openapi-python-client", &args).await;
}
