//! Unauthenticated memory exhaustion (issue 21 item 4), against the real server:
//!
//! - every Argon2 hash (19 MiB) goes through one gate of `KYCD_PASSWORD_HASHES` slots: a
//!   flood of wrong sign-ins raises the process's peak RSS (`VmHWM`, reset before the
//!   flood through `/proc/PID/clear_refs`) by about that many hashes, not one per request;
//! - an invitation post is checked against its token before the password is hashed: a
//!   flood of made-up tokens costs no hash even with a gate of 64;
//! - sign-ins are limited per address and per account (429 + `Retry-After`, before hashing);
//! - an upload without a session (capture page) or key (API) is answered while its body
//!   is still on the way: nothing waits for, or holds, the body of a stranger;
//! - an upload reserves its declared size of `KYCD_UPLOAD_MEMORY_MIB` before its body is
//!   read; one that finds it spent is answered 503 + `Retry-After`.
//!
//! No test asserts a duration: a missing answer fails on the harness's read timeout.

use crate::capture_page::{Browser, at_passport_front};
use crate::common::no_redirect_client;
use crate::console::{PASSWORD, add_operator, assert_locked_out, first_tenant};
use crate::flow::{Opened, new_verification, open_attempt};
use crate::harness::Server;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1024;

/// The server's peak RSS in KiB (`VmHWM`), after resetting it to the current RSS where the
/// kernel allows (`echo 5 > /proc/PID/clear_refs`); `None` off Linux.
fn reset_peak(s: &Server) -> Option<u64> {
    let pid = s.pid()?;
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    peak(s)
}

fn peak(s: &Server) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid()?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A console sign-in form's pre-session cookie and token, to post many sign-ins with.
async fn login_token(s: &Server) -> (String, String) {
    let mut b = Browser::new(s);
    let page = b.get("/console/login").await;
    page.expect(200);
    let csrf = page.csrf();
    let cookie = format!("kycd_console_login={}", b.cookie("kycd_console_login").unwrap());
    (cookie, csrf)
}

/// `n` concurrent posts of `form(i)` to `path`; their statuses and `Retry-After` headers.
async fn flood(
    s: &Server,
    path: &str,
    cookie: Option<String>,
    n: usize,
    form: impl Fn(usize) -> Vec<(String, String)>,
) -> Vec<(u16, Option<String>)> {
    let http = no_redirect_client();
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut rb = http.post(format!("{}{path}", s.base)).form(&form(i));
        if let Some(c) = &cookie {
            rb = rb.header("cookie", c);
        }
        tasks.push(tokio::spawn(async move {
            let r = rb.send().await.expect("the server answers every post");
            let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
            (r.status().as_u16(), retry)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn tally(statuses: &[(u16, Option<String>)]) -> std::collections::BTreeMap<u16, usize> {
    let mut m = std::collections::BTreeMap::new();
    for (st, _) in statuses {
        *m.entry(*st).or_insert(0) += 1;
    }
    m
}

/// How much the peak RSS grew (KiB) since `before`, printed with what the flood was and
/// what it was answered.
fn peak_growth(s: &Server, before: u64, flood: &str, got: &[(u16, Option<String>)]) -> u64 {
    let after = peak(s).unwrap();
    let grown = after.saturating_sub(before);
    let (before_mib, after_mib) = (before / MIB, after / MIB);
    let answers = tally(got);
    println!(
        "{flood}: peak RSS {before_mib} → {after_mib} MiB (+{} MiB); answers {answers:?}",
        grown / MIB
    );
    grown
}

#[tokio::test]
async fn a_sign_in_flood_runs_no_more_hashes_at_once_than_the_gate() {
    let s = Server::start_with_env(&[("KYCD_PASSWORD_HASHES", "2")]).await;
    let tenant = first_tenant(&s).await;
    let mut b = crate::console::invited(&s, &tenant, "flood@example.com", "reviewer").await;
    let (cookie, csrf) = login_token(&s).await;
    // Warm up: the unknown-email comparison hash is made once, on first use.
    let warm = flood(&s, "/console/login", Some(cookie.clone()), 1, |_| {
        vec![
            ("csrf".into(), csrf.clone()),
            ("email".into(), "nobody@example.com".into()),
            ("password".into(), "wrong wrong wrong".into()),
        ]
    })
    .await;
    assert_eq!(warm[0].0, 401, "{warm:?}");
    let Some(before) = reset_peak(&s) else {
        println!("VmHWM not readable on this platform: the bound is not checked");
        return;
    };
    // Half to a known account (wrong password), half to unknown emails.
    let got = flood(&s, "/console/login", Some(cookie), 60, |i| {
        let email = if i % 2 == 0 {
            "flood@example.com".to_owned()
        } else {
            format!("nobody{i}@example.com")
        };
        vec![
            ("csrf".into(), csrf.clone()),
            ("email".into(), email),
            ("password".into(), format!("wrong password number {i}")),
        ]
    })
    .await;
    let grown = peak_growth(&s, before, "60 concurrent wrong sign-ins, 2 hashes at once", &got);
    for (st, retry) in &got {
        assert!(
            matches!(st, 401 | 503),
            "a wrong sign-in is 401, or 503 when the gate is full: {got:?}"
        );
        if *st == 503 {
            assert!(
                retry.as_deref().is_some_and(|r| r.parse::<u64>().is_ok()),
                "503 says when to retry: {got:?}"
            );
        }
    }
    assert!(got.iter().any(|(st, _)| *st == 401), "some were checked: {got:?}");
    // One hash at a time per slot (19 MiB each) and the requests themselves; without the
    // gate, 60 at once take 60 × 19 MiB.
    assert!(
        grown < 160 * MIB,
        "peak RSS grew by {} MiB for 60 sign-ins behind a gate of 2 hashes",
        grown / MIB
    );
    // The account is still usable after the flood (locked by it, as the rules say).
    assert_locked_out(&mut b, "flood@example.com").await;
}

#[tokio::test]
async fn invitation_posts_with_made_up_tokens_cost_no_hash() {
    // A wide gate: only the token check stands between these posts and 64 hashes at once.
    let s = Server::start_with_env(&[("KYCD_PASSWORD_HASHES", "64")]).await;
    let tenant = first_tenant(&s).await;
    let real = add_operator(&s, &tenant, "invited@example.com", "reviewer").await;
    let Some(before) = reset_peak(&s) else {
        println!("VmHWM not readable on this platform: the bound is not checked");
        return;
    };
    let got = flood(&s, "/console/invite", None, 60, |i| {
        vec![
            ("token".into(), format!("kycd_inv_madeUp{i:040}")),
            ("password".into(), PASSWORD.into()),
            ("password2".into(), PASSWORD.into()),
        ]
    })
    .await;
    let grown = peak_growth(&s, before, "60 concurrent invitation posts with made-up tokens", &got);
    assert!(got.iter().all(|(st, _)| *st == 404), "a made-up token is not found: {got:?}");
    assert!(grown < 100 * MIB, "peak RSS grew by {} MiB: the passwords were hashed", grown / MIB);
    // The real link still works.
    let mut b = Browser::new(&s);
    crate::console::accept(&mut b, &real).await;
}

#[tokio::test]
async fn sign_ins_are_limited_per_address_and_per_account_before_hashing() {
    let s = Server::start_with_env(&[
        ("KYCD_SIGN_IN_RATE_PER_MINUTE", "1"),
        ("KYCD_SIGN_IN_RATE_BURST", "6"),
        ("KYCD_SIGN_IN_ACCOUNT_RATE_PER_MINUTE", "1"),
        ("KYCD_SIGN_IN_ACCOUNT_RATE_BURST", "3"),
    ])
    .await;
    let (cookie, csrf) = login_token(&s).await;
    let post = |email: &'static str| {
        let (cookie, csrf) = (cookie.clone(), csrf.clone());
        let s = &s;
        async move {
            flood(s, "/console/login", Some(cookie), 1, |_| {
                vec![
                    ("csrf".into(), csrf.clone()),
                    ("email".into(), email.into()),
                    ("password".into(), "not the password at all".into()),
                ]
            })
            .await
            .remove(0)
        }
    };
    // Per account: 3 tries, then 429 (an unknown email is limited like a known one).
    for _ in 0..3 {
        assert_eq!(post("someone@example.com").await.0, 401);
    }
    let (st, retry) = post("someone@example.com").await;
    assert_eq!(st, 429, "the account's burst is spent");
    assert!(retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|n| n >= 1)));
    // Per address: 6 tries in all from this address (4 made), then 429 for any account.
    assert_eq!(post("other@example.com").await.0, 401);
    assert_eq!(post("third@example.com").await.0, 401);
    assert_eq!(post("fourth@example.com").await.0, 429, "the address's burst is spent");
}

/// Send a POST's head and the first `sent` bytes of a body declared `declared` bytes long,
/// then stop writing; the answer the server gives meanwhile (status line and headers).
async fn answer_before_the_body(s: &Server, path: &str, headers: &[(&str, &str)], declared: usize, sent: usize) -> String {
    let host = s.base.strip_prefix("http://").unwrap();
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {declared}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&vec![b'x'; sent]).await.unwrap();
    conn.flush().await.unwrap();
    // The rest of the body never comes: an answer now was given without it.
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut tmp).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "POST {path}: no answer while the body was held back (the server waits for the body)"
    );
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn uploads_without_a_session_or_key_are_refused_before_their_body_is_read() {
    let s = Server::start().await;
    let multipart = ("Content-Type", "multipart/form-data; boundary=XyZ");
    let three_mib = 3 << 20;
    let capture = answer_before_the_body(&s, "/capture/step/document_front", &[multipart], three_mib, 64 * 1024).await;
    assert!(capture.starts_with("HTTP/1.1 401"), "a cookieless capture upload: {capture}");
    let wrong_cookie = answer_before_the_body(
        &s,
        "/capture/step/document_front",
        &[multipart, ("Cookie", "kycd_capture=kycd_cs_notAsessionOfThisServer")],
        three_mib,
        64 * 1024,
    )
    .await;
    assert!(wrong_cookie.starts_with("HTTP/1.1 401"), "an unknown session: {wrong_cookie}");
    let api = answer_before_the_body(
        &s,
        "/v1/verifications/idv_00000000000000000000000000/captures?kind=document_front",
        &[("Content-Type", "image/jpeg")],
        three_mib,
        64 * 1024,
    )
    .await;
    assert!(api.starts_with("HTTP/1.1 401"), "an API upload without a key: {api}");
    // The server is unharmed.
    s.admin().get("/healthz").await.expect(200);
}

#[tokio::test]
async fn upload_bytes_in_flight_are_capped_per_process() {
    // 16 MiB in flight: two uploads declaring 7 MiB fit, a third waits, then is refused.
    let s = Server::start_with_env(&[("KYCD_UPLOAD_MEMORY_MIB", "16")]).await;
    let api = s.admin();
    let (_, vid) = new_verification(&api, "Budget Person", "budget@example.org").await;
    let path = format!("/v1/verifications/{vid}/captures?kind=document_front");
    let auth = format!("Bearer {}", s.admin_key);
    let host = s.base.strip_prefix("http://").unwrap().to_owned();
    // Two stalled bodies hold their reservations (until the body timeout).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            7 << 20
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&[0xff, 0xd8]).await.unwrap();
        held.push(conn);
    }
    // A 3 MiB upload (not an image: 415 once read) fits until both stalled bodies hold
    // their reservations (2 × 7 MiB of 16), then is refused before it is read.
    let http = no_redirect_client();
    let url = format!("{}{path}", s.base);
    let probe = || async {
        let r = http
            .post(&url)
            .header("authorization", &auth)
            .header("content-type", "image/jpeg")
            .body(vec![0u8; 3 << 20])
            .send()
            .await
            .expect("answered");
        let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (r.status().as_u16(), retry, r.text().await.unwrap_or_default())
    };
    let mut refused = None;
    for _ in 0..100 {
        let (st, retry, body) = probe().await;
        if st == 503 {
            refused = Some((retry, body));
            break;
        }
        assert_eq!(st, 415, "a 3 MiB non-image that fits is read and refused: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (retry, body) = refused.expect("with 14 of 16 MiB held, a 3 MiB upload is refused");
    assert!(
        retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|n| n >= 1)),
        "503 says when to retry"
    );
    assert!(body.contains("/problems/busy") && body.contains("uploads"), "{body}");
    drop(held);
    // Once the stalled uploads are gone, their room is given back.
    let mut back = false;
    for _ in 0..100 {
        if probe().await.0 == 415 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back, "the reservations of closed connections are given back");
}

#[tokio::test]
async fn a_capture_upload_reserves_its_body_after_the_session_is_checked() {
    // The same budget guards the capture page: a body over the whole budget's worth of
    // declared size is refused 413 at once, without reading it, for a real session.
    let s = Server::start_with_env(&[("KYCD_MAX_UPLOAD_BYTES", "1048576")]).await;
    let api = s.admin();
    let Opened { token, .. } = open_attempt(&api, "Page Person", "page@example.org").await;
    let b = at_passport_front(&s, &token).await;
    let cookie = format!("kycd_capture={}", b.cookie("kycd_capture").unwrap());
    let r = answer_before_the_body(
        &s,
        "/capture/step/document_front",
        &[("Content-Type", "multipart/form-data; boundary=XyZ"), ("Cookie", &cookie)],
        8 << 20,
        1024,
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 413"), "declared over the limit: refused unread: {r}");
}
