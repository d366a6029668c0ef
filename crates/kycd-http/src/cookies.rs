//! The console's and the capture page's cookies: read through axum-extra's jar, written
//! with its `Cookie` type, so each flag is set by name rather than spelled in a string.

use crate::AppState;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use time::Duration;

/// The value of the request's cookie `name`.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers).get(name).map(|c| c.value().to_owned())
}

/// Cookies are `Secure` when kycd is served over https.
pub fn secure(s: &AppState) -> bool {
    s.engine.config().public_url.starts_with("https://")
}

/// A cookie for this site only (`SameSite=Strict`) under `path`; `Secure` when kycd is
/// served over https.
pub fn strict(name: &'static str, value: String, path: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_path(path);
    c.set_same_site(SameSite::Strict);
    if secure {
        c.set_secure(true);
    }
    c
}

/// [`strict`], and out of reach of the page's scripts (`HttpOnly`).
pub fn strict_http_only(name: &'static str, value: String, path: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = strict(name, value, path, secure);
    c.set_http_only(true);
    c
}

/// `c` as a `Set-Cookie` value that keeps it for `seconds`.
pub fn kept_for(mut c: Cookie<'static>, seconds: i64) -> String {
    c.set_max_age(Duration::seconds(seconds));
    c.to_string()
}

/// The cookie that remembers a language chosen with `?lang=` for a year.
pub fn language(name: &'static str, code: &str, path: &'static str, secure: bool) -> String {
    kept_for(strict(name, code.to_owned(), path, secure), 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, header};

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kycd_capture=kycd_cs_x; kycd_lang=fr"),
        );
        assert_eq!(read(&h, "kycd_capture").as_deref(), Some("kycd_cs_x"));
        assert_eq!(read(&h, "kycd_lang").as_deref(), Some("fr"));
        assert_eq!(read(&h, "kycd"), None);
    }

    #[test]
    fn flags_are_the_pages_own() {
        let lang = language("kycd_lang", "fr", "/capture", false);
        assert_eq!(lang, "kycd_lang=fr; SameSite=Strict; Path=/capture; Max-Age=31536000");
        let session = kept_for(strict_http_only("kycd_console_login", "x".into(), "/console", true), 3600);
        assert_eq!(
            session,
            "kycd_console_login=x; HttpOnly; SameSite=Strict; Secure; Path=/console; Max-Age=3600"
        );
    }
}
