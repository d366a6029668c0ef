//! Rate limits (issue 12.5): requests per tenant with `RateLimit-*` headers and a 429
//! problem+json (or the dialect's own 429), uploads per verification, and the defaults.

use crate::harness::{Server, str_field};
use serde_json::{Value, json};
use std::io::Cursor;

fn tiny_png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(4, 4, image::Rgb([200, 120, 40]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn header(r: &reqwest::Response, name: &str) -> Option<u64> {
    r.headers().get(name)?.to_str().ok()?.parse().ok()
}

#[tokio::test]
async fn tenant_requests_are_limited_with_headers_and_a_clear_429() {
    let s = Server::start_with_env(&[("KYCD_RATE_LIMIT_PER_MINUTE", "60"), ("KYCD_RATE_LIMIT_BURST", "5")]).await;
    let a = s.inst.create_tenant("Limited A", false).await;
    let b = s.inst.create_tenant("Limited B", false).await;
    let http = reqwest::Client::new();
    let list = |key: &str| http.get(format!("{}/v1/verifications", s.base)).bearer_auth(key.to_owned()).send();

    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = list(&a.api_key).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "ratelimit-limit"), Some(5));
        let reset = header(&r, "ratelimit-reset").unwrap();
        assert!(reset <= 5, "reset {reset}");
        assert_eq!(r.headers()["ratelimit-policy"], "5;w=5");
        remaining.push(header(&r, "ratelimit-remaining").unwrap());
    }
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);

    let r = list(&a.api_key).await.unwrap();
    assert_eq!(r.status(), 429);
    let retry = header(&r, "retry-after").expect("Retry-After");
    assert!((1..=2).contains(&retry), "retry after {retry}");
    assert_eq!(header(&r, "ratelimit-remaining"), Some(0));
    assert_eq!(header(&r, "ratelimit-limit"), Some(5));
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "https://kycd.dev/problems/rate-limited", "{body}");
    assert_eq!(body["status"], 429);
    assert!(str_field(&body, "detail").contains("retry after"), "{body}");

    // Tenant B has its own budget; unauthenticated routes carry no limit headers.
    let r = list(&b.api_key).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "ratelimit-remaining"), Some(4));
    let r = http.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("ratelimit-limit").is_none());

    // A dialect answers its own 429 shape for the same limit (BoldSign: {"error": …}).
    let mut last = None;
    let mut seen = Vec::new();
    for _ in 0..8 {
        let r = http
            .post(format!(
                "{}/compat/boldsign/v1/identityVerification/report?documentId=x&emailId=y",
                s.base
            ))
            .header("X-API-KEY", &b.api_key)
            .send()
            .await
            .unwrap();
        seen.push(r.status().as_u16());
        if r.status() == 429 {
            last = Some(r);
            break;
        }
    }
    let r = last.unwrap_or_else(|| panic!("BoldSign route limited after the burst: {seen:?}"));
    assert!(header(&r, "retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap_or("").contains("too many requests"), "{body}");

    // The budget refills: after Retry-After, A is admitted again.
    tokio::time::sleep(std::time::Duration::from_secs(retry + 1)).await;
    assert_eq!(list(&a.api_key).await.unwrap().status(), 200);
    assert!(s.logs().contains("listening"), "server still up");
}

#[tokio::test]
async fn uploads_per_verification_are_limited_and_nothing_refused_is_stored() {
    let s = Server::start_with_env(&[("KYCD_UPLOAD_RATE_PER_MINUTE", "6"), ("KYCD_UPLOAD_RATE_BURST", "3")]).await;
    let api = s.admin();
    let v = api
        .post("/v1/verifications", &json!({"applicant": {"full_name": "Rate Person"}}))
        .await
        .ok();
    let vid = str_field(&v, "id");
    let path = format!("/v1/verifications/{vid}/captures?kind=document_front");
    for _ in 0..3 {
        api.post_raw(&path, "image/png", tiny_png()).await.expect(201);
    }
    let r = api.post_raw(&path, "image/png", tiny_png()).await;
    r.expect(429);
    let body = r.json();
    assert_eq!(body["type"], "https://kycd.dev/problems/rate-limited", "{body}");
    assert!(
        str_field(&body, "detail").contains("too many uploads to this verification"),
        "{body}"
    );
    // Another verification of the same tenant is not affected.
    let w = api
        .post("/v1/verifications", &json!({"applicant": {"full_name": "Other Person"}}))
        .await
        .ok();
    api.post_raw(
        &format!("/v1/verifications/{}/captures?kind=document_front", str_field(&w, "id")),
        "image/png",
        tiny_png(),
    )
    .await
    .expect(201);
    // The refused upload left nothing: one document_front capture (the last accepted one).
    let caps = api.get(&format!("/v1/verifications/{vid}/captures")).await.ok();
    let n = caps["data"].as_array().unwrap().len();
    assert_eq!(n, 1, "{caps}");
}

#[tokio::test]
async fn bad_rate_settings_stop_the_server_with_a_clear_message() {
    let inst = crate::harness::Instance::new().await;
    let out = inst.cli_env(&["migrate"], &[("KYCD_RATE_LIMIT_PER_MINUTE", "lots")]).await;
    let text = out.all_output();
    let invalid = "invalid value 'lots' for '--rate-limit-per-minute <N>': must be a whole number from 0 to 1000000";
    crate::common::assert_refused_from_variable(&text, invalid, "KYCD_RATE_LIMIT_PER_MINUTE");
}

/// With no settings (empty = unset) the defaults hold: 6000 a minute per tenant, 300 at once.
#[tokio::test]
async fn defaults_are_on() {
    let s = Server::start_with_env(&[("KYCD_RATE_LIMIT_PER_MINUTE", "")]).await;
    let r = reqwest::Client::new()
        .get(format!("{}/v1/verifications", s.base))
        .bearer_auth(&s.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "ratelimit-limit"), Some(300));
    assert_eq!(header(&r, "ratelimit-remaining"), Some(299));
    assert_eq!(r.headers()["ratelimit-policy"], "300;w=3");
}
