//! What an operator sees of the HTTP traffic: a request id on every answer and in every
//! log line of its request (a tracing span), one access-log line per request, and the
//! HTTP metrics. Route templates only, never the raw URI: paths and query strings may
//! carry tokens and ids, and the log must hold no personal data.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request's id, in the request's extensions for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Whether a caller's request id is kept: 1 to 128 characters of letters, digits and
/// `-_.:` (a UUID, a trace id, a load balancer's id). Anything else is replaced, so a
/// log line cannot be forged or filled with input through it.
pub fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn generate() -> String {
    format!("req_{}", kycd_core::random_token(20))
}

/// The outermost layer of the router: request id, span, access log, metrics.
pub async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(generate, str::to_owned);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            target: "kycd::access",
            status,
            latency_ms = (elapsed.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
            "request done"
        );
    });
    let status = status.to_string();
    metrics::counter!("kycd_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!("kycd_http_request_duration_seconds", "route" => route, "method" => method, "status" => status)
        .record(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_callers_are_kept_only_when_well_formed() {
        for good in ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:1.2_3", &"a".repeat(128)] {
            assert!(well_formed(good), "{good}");
        }
        for bad in ["", "has space", "new\nline", "quote\"", "ünï", &"a".repeat(129)] {
            assert!(!well_formed(bad), "{bad:?}");
        }
        let g = generate();
        assert!(well_formed(&g) && g.starts_with("req_"), "{g}");
        assert_ne!(generate(), generate());
    }
}
