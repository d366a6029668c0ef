//! Check-then-write races (issue 21 item 5): many requests at once against the real
//! server, on SQLite and (with `KYCD_TEST_DATABASE_URL`) PostgreSQL. Each guard is one
//! conditional statement in the database, so concurrent requests cannot all pass a check
//! made before any of them wrote:
//!
//! - the console lockout counts every one of 40 concurrent wrong passwords;
//! - one TOTP code signs in once, of 10 concurrent sign-ins;
//! - a start token opens one capture session, through the page or `POST /v1/capture-sessions`;
//! - a desktop-to-phone handoff link opens one session.

use crate::capture_page::{Browser, at_passport_front};
use crate::common::no_redirect_client;
use crate::console::{PASSWORD, assert_locked_out, enrol_totp, first_tenant, invited, sign_in};
use crate::flow::{Opened, open_attempt};
use crate::harness::{Server, str_field};
use serde_json::json;
use std::time::Duration;

/// `n` copies of a request sent at once; their statuses and `Set-Cookie` values.
async fn all_at_once(n: usize, make: impl Fn() -> reqwest::RequestBuilder) -> Vec<(u16, Vec<String>)> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let rb = make();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = rb.send().await.expect("answered");
            let cookies = r
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            (r.status().as_u16(), cookies)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// How many capture sessions the attempt has opened.
async fn sessions_of(s: &Server, attempt: &serde_json::Value) -> i64 {
    let id = str_field(attempt, "id");
    let sql = format!("SELECT COUNT(*) FROM capture_sessions WHERE attempt_id = '{id}'");
    s.inst.query_i64(&sql).await
}

async fn login_form(s: &Server) -> (String, String) {
    let mut b = Browser::new(s);
    let page = b.get("/console/login").await;
    page.expect(200);
    (
        format!("kycd_console_login={}", b.cookie("kycd_console_login").unwrap()),
        page.csrf(),
    )
}

/// Concurrent sign-ins of `email` with `password` and `code`.
async fn sign_ins(s: &Server, n: usize, email: &str, password: &str, code: &str) -> Vec<(u16, Vec<String>)> {
    let (cookie, csrf) = login_form(s).await;
    let http = no_redirect_client();
    let url = format!("{}/console/login", s.base);
    all_at_once(n, || {
        http.post(&url)
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("email", email), ("password", password), ("code", code)])
    })
    .await
}

#[tokio::test]
async fn concurrent_wrong_passwords_all_count_towards_the_lockout() {
    // As many hashes at once as requests, so the 40 checks overlap as much as they can.
    let s = Server::start_with_env(&[("KYCD_PASSWORD_HASHES", "8")]).await;
    let tenant = first_tenant(&s).await;
    let mut b = invited(&s, &tenant, "racer@example.com", "reviewer").await;

    let got = sign_ins(&s, 40, "racer@example.com", "not the right password", "").await;
    assert!(
        got.iter().all(|(st, _)| matches!(st, 401 | 503)),
        "{:?}",
        got.iter().map(|g| g.0).collect::<Vec<_>>()
    );
    let checked = got.iter().filter(|(st, _)| *st == 401).count();
    assert!(checked >= 5, "at least five were checked ({checked})");
    // Every one of them counted: the account is locked now, even for the right password.
    let locked = s
        .inst
        .query_i64("SELECT COUNT(*) FROM operators WHERE email = 'racer@example.com' AND locked_until IS NOT NULL")
        .await;
    assert_eq!(locked, 1, "{checked} concurrent wrong passwords locked the account");
    assert_locked_out(&mut b, "racer@example.com").await;
}

#[tokio::test]
async fn one_totp_code_signs_in_once_of_ten_concurrent_sign_ins() {
    let s = Server::start_with_env(&[("KYCD_PASSWORD_HASHES", "10")]).await;
    let tenant = first_tenant(&s).await;
    let mut b = invited(&s, &tenant, "twofactor@example.com", "reviewer").await;
    assert_eq!(
        sign_in(&mut b, "twofactor@example.com", PASSWORD, "").await.location(),
        "/console/queue"
    );
    let secret = enrol_totp(&mut b).await;

    // A fresh code (enrolment spent none; wait for the next step if this one's was used).
    let mut code = kycd_engine::console::totp_code(&secret, chrono::Utc::now()).unwrap();
    let got = sign_ins(&s, 10, "twofactor@example.com", PASSWORD, &code).await;
    let mut signed_in = got.iter().filter(|(st, _)| *st == 303).count();
    if signed_in == 0 {
        // The enrolment's code and this one were the same step: none may sign in twice,
        // and none did; try once more with the next step's code.
        while kycd_engine::console::totp_code(&secret, chrono::Utc::now()).unwrap() == code {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        code = kycd_engine::console::totp_code(&secret, chrono::Utc::now()).unwrap();
        let again = sign_ins(&s, 10, "twofactor@example.com", PASSWORD, &code).await;
        signed_in = again.iter().filter(|(st, _)| *st == 303).count();
        assert!(
            again.iter().all(|(st, _)| matches!(st, 303 | 401)),
            "{:?}",
            again.iter().map(|g| g.0).collect::<Vec<_>>()
        );
    } else {
        assert!(
            got.iter().all(|(st, _)| matches!(st, 303 | 401)),
            "{:?}",
            got.iter().map(|g| g.0).collect::<Vec<_>>()
        );
    }
    assert_eq!(signed_in, 1, "one code, one sign-in");
}

#[tokio::test]
async fn a_start_token_opens_one_capture_session() {
    let s = Server::start().await;
    let api = s.admin();
    let http = no_redirect_client();
    for round in 0..3 {
        let Opened { attempt, token, .. } = open_attempt(&api, "Race Person", "race@example.org").await;
        let url = format!("{}/capture?token={token}", s.base);
        let got = all_at_once(20, || http.get(&url)).await;
        let opened: Vec<_> = got
            .iter()
            .filter(|(st, cookies)| *st == 303 && cookies.iter().any(|c| c.starts_with("kycd_capture=kycd_cs_")))
            .collect();
        assert_eq!(
            opened.len(),
            1,
            "round {round}: one session from one link: {:?}",
            got.iter().map(|g| g.0).collect::<Vec<_>>()
        );
        assert_eq!(got.iter().filter(|(st, _)| *st == 410).count(), 19, "the others find it used");
        assert_eq!(sessions_of(&s, &attempt).await, 1, "round {round}: one session row");

        // The same through the API (another verification: one attempt is live at a time).
        let Opened { token, .. } = open_attempt(&api, "Race Person", "race@example.org").await;
        let url = format!("{}/v1/capture-sessions", s.base);
        let got = all_at_once(20, || http.post(&url).json(&json!({"token": token}))).await;
        let statuses: Vec<u16> = got.iter().map(|g| g.0).collect();
        assert_eq!(statuses.iter().filter(|st| **st == 200).count(), 1, "round {round}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|st| **st == 410).count(), 19, "round {round}: {statuses:?}");
    }
}

#[tokio::test]
async fn a_handoff_link_opens_one_session() {
    let s = Server::start().await;
    let api = s.admin();
    let Opened { attempt, token, .. } = open_attempt(&api, "Handoff Racer", "handoff@example.org").await;
    let mut desktop = at_passport_front(&s, &token).await;
    let r = desktop.submit("/capture/step/document_front", "/capture/handoff", &[]).await;
    assert_eq!(r.location(), "/capture/handoff");
    let page = desktop.get("/capture/handoff").await;
    let at = page.body.find("/capture/continue?token=kycd_ho_").expect("the link is on the page");
    let rest = &page.body[at..];
    let link = rest[..rest.find('"').unwrap()].replace("&amp;", "&");
    let http = no_redirect_client();
    let url = format!("{}{link}", s.base);
    let got = all_at_once(20, || http.get(&url)).await;
    let opened = got
        .iter()
        .filter(|(_, cookies)| cookies.iter().any(|c| c.starts_with("kycd_capture=kycd_cs_")))
        .count();
    assert_eq!(
        opened,
        1,
        "one phone session from one link: {:?}",
        got.iter().map(|g| g.0).collect::<Vec<_>>()
    );
    assert_eq!(sessions_of(&s, &attempt).await, 2, "the desktop's and one phone's");
}
