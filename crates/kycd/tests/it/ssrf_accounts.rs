//! SSRF and account details (issue 21 item 6), against the real server: webhook URLs of
//! test-mode tenants follow the live rules plus loopback; IPv4 addresses inside IPv6 ones
//! are refused in live mode; the delivery log reads the same for a closed and an open
//! port; replacing a TOTP key takes a code of the current one; a password reset ends the
//! operator's other sessions; `purge --orphans` removes the partial files of a crashed
//! blob write. (The lockout answering like an unknown email is in `console.rs`; the
//! evidence checks are unit tests of `kycd-evidence`.)

use crate::capture_page::Browser;
use crate::common::assert_endpoint_url_refused;
use crate::console::{PASSWORD, accept, enrol_totp, first_tenant, input_value, invite_token, operator, set_password, sign_in, text_of};
use crate::flow::{create_verification, verification_body};
use crate::harness::{Server, str_field};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn test_mode_webhooks_take_loopback_and_nothing_else_internal() {
    let s = Server::start().await;
    let api = s.admin();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hooks",
        "http://192.168.1.10:8080/hooks",
        "http://[fd00::1]/hooks",
        "http://[::ffff:10.0.0.1]/hooks",
        "http://[2002:a9fe:a9fe::1]/hooks",
        "http://0.0.0.0:9/hooks",
    ] {
        assert_endpoint_url_refused(&api, url).await;
    }
    for url in ["http://127.0.0.1:9/hooks", "http://[::1]:9/hooks", "http://localhost:9/hooks"] {
        api.post("/v1/webhook_endpoints", &json!({"url": url, "enabled_events": ["*"]}))
            .await
            .expect(201);
    }
}

#[tokio::test]
async fn live_mode_refuses_ipv4_addresses_inside_ipv6_ones() {
    let s = Server::start().await;
    let live = s.instance().create_tenant("Live Embedded Co", true).await;
    let api = s.client_for(&live.api_key);
    for url in [
        "https://[::a9fe:a9fe]/hooks",         // ::/96, IPv4-compatible: 169.254.169.254
        "https://[::127.0.0.1]/hooks",         // the same, written dotted
        "https://[2002:a9fe:a9fe::1]/hooks",   // 6to4
        "https://[::ffff:0:a00:1]/hooks",      // IPv4-translated
        "https://[2001:0:4136:e378::1]/hooks", // Teredo
        "https://[64:ff9b::a00:1]/hooks",      // NAT64
    ] {
        assert_endpoint_url_refused(&api, url).await;
    }
}

/// The error recorded for the endpoint's first failed delivery.
async fn first_failure(api: &crate::harness::Api, endpoint: &str) -> Value {
    let start = Instant::now();
    loop {
        let log = api.get(&format!("/v1/webhook_endpoints/{endpoint}/deliveries")).await.ok();
        if let Some(d) = log["data"].as_array().unwrap().iter().find(|d| d["last_error"].is_string()) {
            return d.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no failed delivery recorded: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_delivery_log_does_not_tell_an_open_port_from_a_closed_one() {
    let s = Server::start().await;
    let api = s.admin();
    // A closed port: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // An open port that speaks no HTTP: it accepts and hangs up.
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in open.incoming() {
            drop(conn);
        }
    });
    let mut endpoints = Vec::new();
    for port in [closed, open_port] {
        let ep = api
            .post(
                "/v1/webhook_endpoints",
                &json!({"url": format!("http://127.0.0.1:{port}/hooks"), "enabled_events": ["verification.created"]}),
            )
            .await
            .ok();
        endpoints.push(str_field(&ep, "id"));
    }
    create_verification(&api, &verification_body("Port Scan", "scan@example.org")).await;
    let a = first_failure(&api, &endpoints[0]).await;
    let b = first_failure(&api, &endpoints[1]).await;
    println!("closed port: {}; open port: {}", a["last_error"], b["last_error"]);
    assert_eq!(a["last_error"], b["last_error"], "one text for both: {a} / {b}");
    assert!(a["last_error"].as_str().unwrap().contains("no HTTP answer"), "{a}");
}

/// The account form that replaces the TOTP key: its form token, the new key and a code of
/// it, and a code of the current key when given.
fn replace_key_form<'a>(csrf: &'a str, secret: &'a str, code: &'a str, current_code: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![("csrf", csrf), ("secret", secret), ("code", code)];
    fields.extend(current_code.map(|c| ("current_code", c)));
    fields
}

#[tokio::test]
async fn replacing_a_totp_key_takes_a_code_of_the_current_one() {
    let s = Server::start().await;
    let tenant = first_tenant(&s).await;
    let mut b = operator(&s, &tenant, "mover@example.com", "reviewer").await;
    let first = enrol_totp(&mut b).await;

    // A second key with only its own code (what a stolen session could do): refused.
    let account = b.get("/console/account").await;
    account.expect(200).contains("name=\"current_code\"");
    let second = input_value(&account, "secret");
    assert_ne!(first, second);
    let new_code = kycd_engine::console::totp_code(&second, chrono::Utc::now()).unwrap();
    let csrf = account.csrf();
    let form = replace_key_form(&csrf, &second, &new_code, None);
    b.post_form("/console/account/totp", &form)
        .await
        .expect(400)
        .contains("current code");
    let form = replace_key_form(&csrf, &second, &new_code, Some("000000"));
    let r = b.post_form("/console/account/totp", &form).await;
    if kycd_engine::console::totp_code(&first, chrono::Utc::now()).unwrap() != "000000" {
        r.expect(400);
    }
    // With a code of the current key, it is replaced.
    let current = kycd_engine::console::totp_code(&first, chrono::Utc::now()).unwrap();
    let form = replace_key_form(&csrf, &second, &new_code, Some(&current));
    let r = b.post_form("/console/account/totp", &form).await;
    assert_eq!(r.location(), "/console/account", "{}", r.body);
    // The new key signs in; the old one no longer does.
    let mut other = Browser::new(&s);
    let old_code = kycd_engine::console::totp_code(&first, chrono::Utc::now()).unwrap();
    let new_code = kycd_engine::console::totp_code(&second, chrono::Utc::now()).unwrap();
    if old_code != new_code {
        sign_in(&mut other, "mover@example.com", PASSWORD, &old_code).await.expect(401);
    }
    let r = sign_in(&mut other, "mover@example.com", PASSWORD, &new_code).await;
    assert_eq!(r.location(), "/console/queue", "{}", r.body);
}

#[tokio::test]
async fn a_password_reset_ends_the_operators_other_sessions() {
    let s = Server::start().await;
    let tenant = first_tenant(&s).await;
    let mut admin = operator(&s, &tenant, "boss@example.com", "admin").await;
    let added = s
        .cli(&[
            "operator",
            "add",
            "--tenant",
            &tenant,
            "--email",
            "forgetful@example.com",
            "--role",
            "reviewer",
            "--json",
        ])
        .await
        .success_json();
    let id = str_field(&added, "operator_id");
    let url = str_field(&added, "invitation_url");
    let mut laptop = Browser::new(&s);
    accept(&mut laptop, &url[url.find("/console/invite").unwrap()..]).await;
    assert_eq!(
        sign_in(&mut laptop, "forgetful@example.com", PASSWORD, "").await.location(),
        "/console/queue"
    );
    laptop.get("/console/queue").await.expect(200);

    // The admin sends a new link (a forgotten password); the operator sets a new one.
    let shown = admin
        .submit("/console/admin", &format!("/console/admin/operators/{id}/reinvite"), &[])
        .await;
    shown.expect(200);
    let link = text_of(&shown, "shown-once");
    let mut phone = Browser::new(&s);
    let token = invite_token(&link);
    phone.get(&format!("/console/invite?token={token}")).await.expect(200);
    let r = set_password(&mut phone, &token, "a brand new passphrase").await;
    assert_eq!(r.location(), "/console/login?invited=1");

    // The laptop's session ended with the reset.
    let r = laptop.get("/console/queue").await;
    assert!(r.location().starts_with("/console/login"), "the old session ended");
    assert_eq!(
        sign_in(&mut phone, "forgetful@example.com", "a brand new passphrase", "")
            .await
            .location(),
        "/console/queue"
    );
}

#[tokio::test]
async fn purge_orphans_removes_the_partial_files_of_a_crashed_blob_write() {
    // Partial files are the local blob folder's (an S3 PUT is all or nothing).
    if crate::harness::on_s3() {
        return;
    }
    let s = Server::start().await;
    let dir = s.instance().blob_dir().join("tenants/ten_crashed/files");
    std::fs::create_dir_all(&dir).unwrap();
    // What object_store leaves when the process dies in the middle of a write.
    let partial = dir.join("file_01jcrashedmidupload0000000#1");
    std::fs::write(&partial, b"sealed bytes, half written").unwrap();
    crate::common::purge_orphans(&s, 1, "the partial blob is an orphan").await;
    assert!(!partial.exists(), "the partial blob is gone");
}

#[tokio::test]
async fn inviting_an_email_of_another_tenant_reveals_nothing() {
    let s = Server::start().await;
    let tenant_a = first_tenant(&s).await;
    let other = s.instance().create_tenant("Other Co", false).await;
    // Tenant B has an operator with this email.
    let b_invite = crate::console::add_operator(&s, &other.tenant_id, "shared@example.com", "reviewer").await;
    let mut admin = operator(&s, &tenant_a, "admin-a@example.com", "admin").await;
    // A's admin invites that email and one nobody has: the answers are alike.
    let mut shown = Vec::new();
    for email in ["shared@example.com", "fresh@example.com"] {
        let page = admin
            .submit(
                "/console/admin",
                "/console/admin/operators",
                &[("email", email), ("role", "reviewer")],
            )
            .await;
        page.expect(200);
        shown.push(text_of(&page, "shown-once"));
    }
    assert!(shown.iter().all(|l| l.contains("/console/invite?token=kycd_inv_")), "{shown:?}");
    // Within one tenant an email is still unique.
    admin
        .submit(
            "/console/admin",
            "/console/admin/operators",
            &[("email", "shared@example.com"), ("role", "reviewer")],
        )
        .await
        .expect(409);
    // Both people set their passwords; each password opens its own tenant's account.
    let mut in_b = Browser::new(&s);
    accept(&mut in_b, &b_invite).await;
    let mut in_a = Browser::new(&s);
    let link = &shown[0];
    let r = set_password(&mut in_a, &invite_token(link), "another long passphrase").await;
    assert_eq!(r.location(), "/console/login?invited=1");
    assert_eq!(
        sign_in(&mut in_b, "shared@example.com", PASSWORD, "").await.location(),
        "/console/queue"
    );
    in_b.get("/console/queue").await.expect(200).contains("Other Co");
    assert_eq!(
        sign_in(&mut in_a, "shared@example.com", "another long passphrase", "")
            .await
            .location(),
        "/console/queue"
    );
    in_a.get("/console/queue").await.expect(200).lacks("Other Co");
}
