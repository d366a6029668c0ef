#![no_main]
//! Request bodies of the native API and of every vendor dialect (Transmit, Checkout.com,
//! BoldSign, the OAuth token endpoints), through the parsers the handlers call; plus the
//! dialects' query-string parsers. Properties: no panic; the outcome depends only on the
//! input (parsing twice agrees); and for JSON, only on the JSON value: a body that is
//! accepted parses to the same result when re-serialised compactly.

use kycd_http::fuzzing::{BODY_PARSERS, QUERY_PARSERS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let value = serde_json::from_slice::<serde_json::Value>(data).ok();
    let compact = value.as_ref().map(|v| serde_json::to_vec(v).expect("a Value serialises"));
    for (name, parse) in BODY_PARSERS {
        let first = parse(data);
        assert_eq!(first, parse(data), "{name}: parsing the same body twice disagrees");
        if let (Some(accepted), Some(compact)) = (&first, &compact)
            && !name.ends_with("(form)")
        {
            assert_eq!(
                Some(accepted),
                parse(compact).as_ref(),
                "{name}: the re-serialised body parses differently"
            );
        }
    }
    if let Ok(q) = std::str::from_utf8(data) {
        for (name, parse) in QUERY_PARSERS {
            assert_eq!(parse(q), parse(q), "{name}");
        }
    }
});
