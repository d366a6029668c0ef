//! The review console in a real browser: headless Chromium driven over WebDriver
//! (selenium, `console_browser.py`) against a running kycd. A reviewer accepts their
//! invitation, signs in and works a queue of three verifications (approve, decline,
//! request a new capture) with the keyboard; the resulting statuses are checked over the
//! API. Editing the URL to another tenant's verification, or to the admin pages, is
//! refused. Screenshots at 1366×768 and phone size go to
//! `$CARGO_TARGET_DIR/console-screenshots/`.

use crate::capture_browser::{browser_tools_or_skip, run_browser_script, screenshot_dir};
use crate::console::{PASSWORD, add_operator};
use crate::flow::{session_to_review, verification_body};
use crate::harness::{Server, str_field};

#[tokio::test]
async fn a_reviewer_works_the_queue_in_chromium() {
    let Some(tools) = browser_tools_or_skip() else { return };
    let s = Server::start().await;
    let (a, a_api) = s.tenant_client("Acme Compliance").await;
    let mut cases = Vec::new();
    for (i, name) in ["Ada Queue", "Bruno Queue", "Chloé Queue"].iter().enumerate() {
        let body = verification_body(name, &format!("queue{i}@example.org"));
        cases.push(session_to_review(&a_api, &body, 60 + 2 * i as u64).await.vid);
    }
    let (_, b_api) = s.tenant_client("Other Business").await;
    let foreign = session_to_review(&b_api, &verification_body("Dora Foreign", "dora@example.org"), 90)
        .await
        .vid;

    let email = "reviewer@acme.example";
    let invite = add_operator(&s, &a.tenant_id, email, "reviewer").await;
    let shots = screenshot_dir("console-screenshots");
    let stdout = run_browser_script(
        &s,
        &tools,
        "console_browser.py",
        &[
            ("KYCD_BASE", s.base.clone()),
            ("INVITE", format!("{}{invite}", s.base)),
            ("EMAIL", email.to_owned()),
            ("PASSWORD", PASSWORD.to_owned()),
            ("CASES", cases.join(",")),
            ("FOREIGN", foreign.clone()),
        ],
        &shots,
        "console browser flow OK",
        24,
    )
    .await;

    // What the browser decided is what the API reports.
    for (line, want) in [("approve", "approved"), ("decline", "declined"), ("retry", "retry_required")] {
        let vid = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("DECIDED {line} ")))
            .unwrap_or_else(|| panic!("no {line} decision in:\n{stdout}"));
        let v = a_api.get(&format!("/v1/verifications/{vid}")).await.ok();
        assert_eq!(v["status"], want, "{v}");
        if want != "retry_required" {
            assert!(str_field(&v["review"], "reviewer").starts_with("operator:op_"), "{v}");
        } else {
            let check = v["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "review_retry_requested")
                .cloned();
            let check = check.unwrap_or_else(|| panic!("the retry reason is on the verification: {v}"));
            assert_eq!(check["figures"]["reason_code"], "poor_image_quality", "{v}");
            assert!(check["figures"].get("user_message").is_none(), "the message is not a figure: {v}");
            assert_eq!(v["retry_message"], "Please take the photo again without reflections.", "{v}");
        }
    }
    // The business opens a new attempt; the person's capture page says why they are back.
    let attempt = crate::flow::create_attempt(&a_api, &cases[2]).await;
    let mut person = crate::capture_page::Browser::new(&s);
    let link = format!("/capture?token={}", crate::flow::token_of(&str_field(&attempt, "url")));
    let first = person.get(&link).await;
    person
        .get(&first.location())
        .await
        .expect(200)
        .contains("Please take the photo again without reflections.");

    // B's verification was not touched.
    let v = b_api.get(&format!("/v1/verifications/{foreign}")).await.ok();
    assert_eq!(v["status"], "review_required", "{v}");
}
