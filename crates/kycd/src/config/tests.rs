use super::*;

#[test]
fn listen_wants_host_and_port() {
    for ok in [
        "127.0.0.1:8080",
        "0.0.0.0:0",
        "[::]:8080",
        "[::1]:9",
        "localhost:8080",
        "kycd.internal:443",
    ] {
        assert_eq!(listen_address(ok).as_deref(), Ok(ok));
    }
    for bad in ["localhost", "127.0.0.1", "::1", ":8080", "localhost:http", "host:70000", ""] {
        let e = listen_address(bad).unwrap_err();
        assert!(e.contains("host:port") && e.contains("127.0.0.1:8080"), "{bad}: {e}");
    }
}

#[test]
fn numbers_are_whole_and_in_range() {
    let p = in_range::<u64>(1, 3_600);
    assert_eq!(p("5"), Ok(5));
    assert_eq!(p(" 3600 "), Ok(3_600));
    for bad in ["0", "3601", "1.5", "ten", "-1", ""] {
        let e = p(bad).unwrap_err();
        assert!(e.contains("from 1 to 3600") && e.contains(&format!("'{bad}'")), "{e}");
    }
}

#[test]
fn urls_and_prefixes() {
    assert_eq!(http_url("https://kyc.example.com/").as_deref(), Ok("https://kyc.example.com"));
    assert!(http_url("kyc.example.com").unwrap_err().contains("http:// or https://"));
    assert_eq!(key_prefix("/kycd/prod/").as_deref(), Ok("kycd/prod"));
    for bad in ["a//b", "a/../b", "./a"] {
        assert!(key_prefix(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_rate_without_a_burst_gets_three_seconds_worth() {
    use kycd_engine::ratelimit::Rate;
    let d = Rate {
        per_minute: 6000,
        burst: 300,
    };
    assert_eq!(rate(None, None, d), d);
    assert_eq!(
        rate(Some(600), None, d),
        Rate {
            per_minute: 600,
            burst: 30
        }
    );
    assert_eq!(rate(Some(6), None, d), Rate { per_minute: 6, burst: 1 });
    assert_eq!(
        rate(None, Some(0), d),
        Rate {
            per_minute: 6000,
            burst: 1
        }
    );
}
