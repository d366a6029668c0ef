//! The session tenant's look: accent colour and logo.

use super::session::session;
use super::static_file;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The session tenant's accent colour and logo as a stylesheet (the CSP allows no inline
/// style): the accent replaces kycd's blue, its text colour is black or white, whichever
/// contrasts more (WCAG relative luminance).
pub(super) async fn brand_css(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let Ok(sess) = session(&s, &headers, raw, "/capture").await else {
        return static_file("", "text/css; charset=utf-8");
    };
    let Ok(b) = s.engine.capture_branding(&sess.ctx).await else {
        return static_file("", "text/css; charset=utf-8");
    };
    let mut css = String::new();
    if let Some(c) = b.colour.as_deref() {
        css.push_str(&format!(":root {{ --accent: {c}; --accent-ink: {}; }}\n", ink_on(c)));
    }
    if b.logo.is_some() {
        css.push_str(
            ".bar .tenant::before { content: \"\"; display: inline-block; width: 2.5rem; height: 2.5rem; margin-right: .5rem; vertical-align: middle; background: url(/capture/brand/logo) no-repeat center / contain; }\n",
        );
    }
    let mut resp = css.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    resp
}

/// Black or white text on `#rrggbb`, whichever contrasts more.
pub(super) fn ink_on(colour: &str) -> &'static str {
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&colour[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    // Contrast with white (1.05 / (l + .05)) against contrast with black ((l + .05) / .05).
    if 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 {
        "#ffffff"
    } else {
        "#000000"
    }
}

pub(super) async fn brand_logo(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let Ok(sess) = session(&s, &headers, raw, "/capture").await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match s.engine.capture_branding(&sess.ctx).await {
        Ok(kycd_engine::lifecycle::Branding {
            logo: Some((media, bytes)),
            ..
        }) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&media) {
                h.insert(header::CONTENT_TYPE, v);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
            resp
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accent_text_is_the_more_contrasting_of_black_and_white() {
        assert_eq!(ink_on("#0b57d0"), "#ffffff");
        assert_eq!(ink_on("#ffd700"), "#000000");
        assert_eq!(ink_on("#000000"), "#ffffff");
        assert_eq!(ink_on("#ffffff"), "#000000");
    }
}
