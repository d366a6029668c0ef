use super::*;

#[test]
fn signature_matches_the_standard_webhooks_example() {
    // The example from the Standard Webhooks specification.
    let sig = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(sig.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    assert!(sign("not-a-secret", "x", 1, b"").is_none());
}

#[test]
fn retries_follow_the_schedule_then_stop() {
    let now = Utc::now();
    assert_eq!(next_retry(&[5, 60], 1, now), Some(now + Duration::seconds(5)));
    assert_eq!(next_retry(&[5, 60], 2, now), Some(now + Duration::seconds(60)));
    assert_eq!(next_retry(&[5, 60], 3, now), None);
    assert_eq!(next_retry(&[5, 60], 0, now), None);
}

#[test]
fn retries_span_about_three_days() {
    let total: i64 = RETRY_DELAYS.iter().sum();
    assert!((Duration::days(2) + Duration::hours(12)..=Duration::days(3)).contains(&Duration::seconds(total)));
}
