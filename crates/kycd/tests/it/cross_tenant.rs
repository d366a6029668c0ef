//! The cross-tenant matrix: every route template the server registers (`kycd routes`, read
//! from the routers themselves, so a new route cannot be left out) is called with every
//! method, with tenant B's credentials and tenant A's ids. A route with an id must answer
//! not-found (404, or BoldSign's 403 `{"error": "Invalid Document ID"}`, which BoldSign gives
//! unknown and foreign documents alike), a method the route lacks 405 — never success, never
//! another 403, 409 or 410 (which would reveal that the id exists), never 5xx. A route without an id
//! may succeed, for B's own data only: no answer ever carries one of A's ids. Afterwards
//! A's objects are unchanged.
//!
//! The review console (`/console…`) is walked with a session cookie of tenant B's admin
//! operator and its form token on every POST; the hosted capture pages (`/capture…`) with a
//! capture session of one of B's attempts. Capture pages take no ids (the session names
//! its attempt; `{kind}` is a capture kind): whatever they answer (but 5xx) must carry
//! none of A's ids, and A's verification is unchanged afterwards.

use crate::flow::{create_attempt, create_verification, data, upload, wait_status};
use crate::harness::{Api, Resp, Server, document_jpeg, selfie_png, str_field};
use base64::Engine as _;
use serde_json::{Value, json};
use std::time::Duration;

/// Routes that answer without tenant credentials by design, and why that leaks nothing.
const PUBLIC: [&str; 18] = [
    "/healthz",
    "/readyz",
    // The operator's metrics (a token of their own, or 404): counts by route template,
    // no tenant and no ids in any label.
    "/metrics",
    "/docs",
    "/v1/openapi.json",
    // Public keys, published so anyone can verify evidence.
    "/.well-known/jwks.json",
    "/.well-known/jwks/{tenant_id}",
    // Token endpoints: B's credentials get B's token.
    "/compat/transmit/oidc/token",
    "/compat/checkout/connect/token",
    "/compat/skribble/v2/access/login",
    "/compat/skribble/v3/access/login",
    // Redeems a start token (a capability): A's ids are not part of it.
    "/v1/capture-sessions",
    // The console's sign-in, invitation and static files; its landing redirect.
    "/console",
    "/console/login",
    "/console/invite",
    "/console/static/console.css",
    "/console/static/console.js",
    // Ends B's own session (the matrix signs in again after it).
    "/console/logout",
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

struct TenantA {
    tenant_id: String,
    applicant: String,
    verification: String,
    attempt: String,
    file: String,
    endpoint: String,
    delivery: String,
    checkout_event: String,
    operator: String,
    key: String,
}

/// The id that stands for `{param}` in `template`.
fn id_for(a: &TenantA, template: &str, param: &str) -> String {
    let before = &template[..template.find(&format!("{{{param}}}")).unwrap()];
    match param {
        "tenant_id" => a.tenant_id.clone(),
        "attempt_id" => a.attempt.clone(),
        "delivery_id" => a.delivery.clone(),
        "file_id" => a.file.clone(),
        "operator_id" => a.operator.clone(),
        "key_id" => a.key.clone(),
        // The capture page's step: not an id.
        "kind" => "document_front".into(),
        // The console's operator actions: the most harmful one.
        "action" => "disable".into(),
        "sid" | "eid" => a.verification.clone(),
        "sr" => "sr-A-matrix".into(),
        "signer_id" => a.applicant.clone(),
        // A pre-signed link's secret: B cannot know A's, so a made-up one.
        "token" => "kycd_dl_made-up-link".into(),
        "id" if before.ends_with("/applicants/") => a.applicant.clone(),
        "id" if before.ends_with("/files/") || before.ends_with("/images/") => a.file.clone(),
        "id" if before.ends_with("/webhook_endpoints/") || before.ends_with("/admin/webhooks/") => a.endpoint.clone(),
        "id" if before.ends_with("/workflows/events/") => a.checkout_event.clone(),
        "id" => a.verification.clone(),
        other => panic!("the matrix does not know the route parameter {{{other}}} of {template}: add it"),
    }
}

fn fill(a: &TenantA, template: &str) -> (String, bool) {
    let mut path = template.to_owned();
    let mut has_id = false;
    while let Some(start) = path.find('{') {
        let end = path[start..].find('}').unwrap() + start;
        let param = path[start + 1..end].to_owned();
        let id = id_for(a, template, &param);
        path.replace_range(start..=end, &id);
        has_id = true;
    }
    (path, has_id)
}

/// A plausible body, so a route cannot answer 400 for the body before it looks up the id.
fn body_for(template: &str, a: &TenantA) -> Value {
    let image = base64::engine::general_purpose::STANDARD.encode(document_jpeg(77));
    match template {
        t if t.ends_with("/review") => json!({"decision": "approve", "reason": "cross-tenant matrix"}),
        t if t.ends_with("/legal_hold") => json!({"enabled": true}),
        t if t.starts_with("/v1/") && t.ends_with("/attempts") => json!({}),
        t if t.ends_with("/attempts") => json!({"redirect_url": "https://example.org/back"}),
        t if t.ends_with("/images") => json!({"image": {"format": "jpg", "image_type": "document_front", "content": image}}),
        t if t.ends_with("/rotate_secret") => json!({"overlap_seconds": 0}),
        "/v1/webhook_endpoints/{id}" => json!({"enabled": false}),
        t if t.contains("/applicants/") => json!({"email": "changed@example.org"}),
        t if t.contains("/identityVerification/") => json!({
            "emailId": "ada.matrix@example.org", "order": 1, "fileId": a.file,
            "redirectUrl": "https://example.org/back"
        }),
        _ => json!({}),
    }
}

/// A signed-in console session of tenant B's admin: its cookie and form token.
struct ConsoleB {
    cookie: String,
    csrf: String,
}

async fn console_b(server: &Server, tenant: &str, n: usize) -> ConsoleB {
    let mut b = crate::console::operator(server, tenant, &format!("b-admin-{n}@example.org"), "admin").await;
    let csrf = b.get("/console/queue").await.csrf();
    let cookie = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    ConsoleB { cookie, csrf }
}

/// A capture session of one of tenant B's attempts, past consent: its cookie and form token.
async fn capture_b(server: &Server, b_key: &str) -> ConsoleB {
    let api = server.client_for(b_key);
    let v = create_verification(&api, &crate::flow::verification_body("Bea Capture", "bea@example.org")).await;
    let att = create_attempt(&api, &str_field(&v, "id")).await;
    let mut b = crate::capture_page::Browser::new(server);
    b.get(&format!("/capture?token={}", crate::flow::token_of(&str_field(&att, "url"))))
        .await
        .location();
    let csrf = b.get("/capture/consent").await.csrf();
    let cookie = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    ConsoleB { cookie, csrf }
}

/// A console call: the session cookie, and on a POST a form with the token and fields
/// that let every form reach its id lookup (a decision needs an action and a reason).
async fn call_console(api: &Api, c: &ConsoleB, method: &str, path: &str) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .request(m, api.url(path))
        .header("cookie", &c.cookie);
    if method != "GET" && method != "DELETE" {
        rb = rb.form(&[
            ("csrf", c.csrf.as_str()),
            ("action", "approve"),
            ("reason_code", "quality_acceptable"),
        ]);
    }
    api.send(format!("{method} {path} (tenant B's console admin)"), rb).await
}

async fn call(api: &Api, auth: &[(&str, String)], method: &str, path: &str, body: &Value) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = reqwest::Client::new().request(m, api.url(path));
    for (k, v) in auth {
        rb = rb.header(*k, v);
    }
    if path.contains("/captures") {
        // The native upload: the image is the body, its kind a query parameter.
        rb = reqwest::Client::new()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                api.url(&format!("{path}?kind=document_front")),
            )
            .header("content-type", "image/jpeg")
            .body(document_jpeg(80));
        for (k, v) in auth {
            rb = rb.header(*k, v);
        }
    } else if method != "GET" && method != "DELETE" {
        rb = rb.json(body);
    }
    api.send(format!("{method} {path} (tenant B)"), rb).await
}

async fn tenant_a(server: &Server) -> (TenantA, Api) {
    let t = server.instance().create_tenant("Tenant A", false).await;
    let api = server.client_for(&t.api_key);
    let v = create_verification(
        &api,
        &json!({
            "applicant": {"full_name": "Ada Matrix", "email": "ada.matrix@example.org"},
            "declared_data": {"full_name": "Ada Matrix"},
            "reference": {"document_id": "doc-A-matrix", "signer_order": 1, "signature_request_id": "sr-A-matrix"},
            "delivery": "none"
        }),
    )
    .await;
    let vid = str_field(&v, "id");
    let attempt = create_attempt(&api, &vid).await;
    let file = upload(&api, &vid, "document_front", "image/jpeg", &document_jpeg(78)).await;
    upload(&api, &vid, "selfie", "image/png", &selfie_png(79)).await;
    // Endpoints that fail (nothing listens on port 9), so deliveries exist.
    let ep = crate::common::endpoint_for_all(&api, "http://127.0.0.1:9/a").await;
    let cko_body = json!({"url": "http://127.0.0.1:9/cko", "enabled_events": ["*"], "format": "checkout"});
    let cko = crate::common::create_endpoint(&api, cko_body).await;
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    wait_status(&api, &vid, "review_required", Duration::from_secs(180)).await;
    let first = |r: Value| data(&r).first().cloned().unwrap_or_else(|| panic!("no delivery yet: {r}"));
    let endpoint = str_field(&ep, "id");
    let delivery = first(api.get(&format!("/v1/webhook_endpoints/{endpoint}/deliveries")).await.ok());
    let cko_delivery = first(
        api.get(&format!("/v1/webhook_endpoints/{}/deliveries", str_field(&cko, "id")))
            .await
            .ok(),
    );
    let a = TenantA {
        tenant_id: t.tenant_id.clone(),
        applicant: str_field(&v, "applicant_id"),
        verification: vid,
        attempt: str_field(&attempt, "id"),
        file: str_field(&file, "id"),
        endpoint,
        delivery: str_field(&delivery, "id"),
        checkout_event: str_field(&cko_delivery, "event_id"),
        operator: str_field(
            &server
                .cli(&[
                    "operator",
                    "add",
                    "--tenant",
                    &t.tenant_id,
                    "--email",
                    "a-admin@example.org",
                    "--role",
                    "admin",
                    "--json",
                ])
                .await
                .success_json(),
            "operator_id",
        ),
        key: server.instance().create_key(&t.tenant_id, "integration").await.0,
    };
    (a, api)
}

#[tokio::test]
async fn every_route_refuses_another_tenants_ids() {
    let server = Server::start().await;
    let (a, a_api) = tenant_a(&server).await;
    let before = a_api.get(&format!("/v1/verifications/{}", a.verification)).await.ok();

    let b = server.instance().create_tenant("Tenant B", false).await;
    for t in [&a.tenant_id, &b.tenant_id] {
        server
            .cli(&["tenant", "features", "--tenant", t, "--enable", "express_qes_evidence"])
            .await
            .success();
    }
    let form = format!("grant_type=client_credentials&client_id={}&client_secret={}", b.key_id, b.api_key);
    let tok = server
        .anon()
        .post_raw(
            "/compat/transmit/oidc/token",
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .await
        .ok();
    let skribble_token = server
        .anon()
        .post(
            "/compat/skribble/v2/access/login",
            &json!({"username": b.key_id, "api-key": b.api_key}),
        )
        .await
        .expect(200)
        .text();
    let bearer = |k: &str| vec![("authorization", format!("Bearer {k}"))];
    let auth_for = |template: &str| -> Vec<(&str, String)> {
        if template.starts_with("/compat/transmit") {
            bearer(&str_field(&tok, "access_token"))
        } else if template.starts_with("/compat/skribble") {
            bearer(&skribble_token)
        } else if template.starts_with("/compat/boldsign") {
            vec![("x-api-key", b.api_key.clone())]
        } else {
            bearer(&b.api_key)
        }
    };

    let routes = server.cli(&["routes"]).await.success().stdout.clone();
    let templates: Vec<&str> = routes.lines().filter(|l| l.starts_with('/')).collect();
    assert!(templates.len() > 50, "kycd routes lists every route: {routes}");
    for needle in [
        "/v1/verifications/{id}",
        "/compat/transmit/",
        "/compat/checkout/",
        "/compat/boldsign/",
        "/compat/skribble/v2/",
        "/compat/skribble/v3/",
        "/console/verifications/{id}",
        "/capture/step/{kind}",
    ] {
        assert!(templates.iter().any(|t| t.contains(needle)), "{needle} missing from {routes}");
    }
    let a_ids = [
        &a.applicant,
        &a.verification,
        &a.attempt,
        &a.file,
        &a.endpoint,
        &a.delivery,
        &a.checkout_event,
    ];
    let mut walked = 0;
    let mut failures = Vec::new();
    let mut sign_ins = 0;
    let mut console = console_b(&server, &b.tenant_id, sign_ins).await;
    let capture = capture_b(&server, &b.api_key).await;
    for template in &templates {
        let (mut path, has_id) = fill(&a, template);
        let has_id = has_id && !template.starts_with("/capture");
        if template.starts_with("/compat/boldsign") {
            path.push_str("?documentId=doc-A-matrix");
        }
        let public = PUBLIC.contains(template);
        for method in METHODS {
            let r = if template.starts_with("/capture") {
                call_console(&a_api, &capture, method, &path).await
            } else if template.starts_with("/console") {
                let r = call_console(&a_api, &console, method, &path).await;
                if *template == "/console/logout" {
                    sign_ins += 1;
                    console = console_b(&server, &b.tenant_id, sign_ins).await;
                }
                // Signed out by mistake would read as "not found" nowhere: make it fail.
                if r.status == 303 && !public {
                    failures.push(format!("{method} {template} → 303 (the console session was lost)"));
                }
                r
            } else {
                call(&a_api, &auth_for(template), method, &path, &body_for(template, &a)).await
            };
            walked += 1;
            let s = r.status;
            // BoldSign answers a document the caller may not see (unknown or another
            // account's) with this 403, its exact body, and nothing else.
            let boldsign_not_found = template.starts_with("/compat/boldsign")
                && s == 403
                && serde_json::from_slice::<Value>(&r.body).ok() == Some(json!({"error": "Invalid Document ID"}));
            let ok = if s == 405 {
                true
            } else if s >= 500 {
                false
            } else if public || template.starts_with("/capture") {
                // Capture pages act on B's own attempt only: any answer but a 5xx, and
                // (checked below) none that carries A's ids.
                true
            } else if has_id {
                s == 404 || boldsign_not_found
            } else {
                // B's own collection: any answer but one revealing A.
                !matches!(s, 403 | 409 | 410)
            };
            let text = r.text();
            let leaks = (200..300).contains(&s) && a_ids.iter().any(|id| text.contains(id.as_str()));
            if !ok || leaks {
                failures.push(format!("{method} {template} → {s}: {}", text.chars().take(300).collect::<String>()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {walked} calls broke isolation:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing of A's changed.
    let after = a_api.get(&format!("/v1/verifications/{}", a.verification)).await.ok();
    assert_eq!(after["status"], before["status"], "{after}");
    assert_eq!(after["redacted"], false, "{after}");
    assert_eq!(after["retention"]["legal_hold"], false, "{after}");
    let applicant = a_api.get(&format!("/v1/applicants/{}", a.applicant)).await.ok();
    assert_eq!(applicant["email"], "ada.matrix@example.org", "{applicant}");
    let ep = a_api.get(&format!("/v1/webhook_endpoints/{}", a.endpoint)).await.ok();
    assert_eq!(ep["enabled"], true, "{ep}");
    let captures = a_api.get(&format!("/v1/verifications/{}/captures", a.verification)).await.ok();
    assert_eq!(data(&captures).len(), 2, "{captures}");
    // A's operator is not disabled (B tried), and A's API key still works.
    let mut a_admin = crate::console::operator(&server, &a.tenant_id, "a-admin-2@example.org", "admin").await;
    let admin_page = a_admin.get("/console/admin").await;
    admin_page
        .expect(200)
        .contains("a-admin@example.org")
        .lacks(">disabled<")
        .lacks(">revoked ");
}
