//! HTML for the capture pages (and the small pieces the console shares).
//!
//! Templates are maud's `html!`: checked when this crate compiles, and every value put in
//! one is escaped unless it is itself [`Markup`], so escaping is the default and there is
//! no hand-written escaper to forget.

use crate::i18n::Lang;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// The Content-Security-Policy of every capture response: no inline script or style, no
/// framing; the stylesheet is served by this binary. No `form-action`: browsers apply it
/// to the redirect after a form post, which must reach the business's callback URL.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML page (or error page) with its status.
pub struct Page {
    pub status: StatusCode,
    pub html: Markup,
    pub cookies: Vec<String>,
}

impl Page {
    pub fn with_cookie(mut self, c: Option<String>) -> Self {
        self.cookies.extend(c);
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.html.into_string()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// What a page's `<head>` adds to the frame.
#[derive(Default, Clone, Copy)]
pub struct Head<'a> {
    /// Reload the page every so many seconds (`<meta http-equiv=refresh>`: no script).
    pub refresh: Option<u32>,
    /// Scripts served by this binary, run in this order (paths under `/capture/static/`;
    /// never inline script: the CSP is `script-src 'self'`).
    pub scripts: &'a [&'a str],
}

/// The frame of every page: language, tenant name, language switch, heading.
/// `here` is the path of this page (for the language switch).
pub fn layout(lang: Lang, tenant: Option<&str>, here: &str, title: &str, head: Head<'_>, body: Markup) -> Markup {
    let t = lang.capture();
    let brand = tenant.unwrap_or(t.service);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                (head_meta())
                @if let Some(secs) = head.refresh {
                    meta http-equiv="refresh" content=(secs);
                }
                title { (title) " · " (brand) }
                link rel="stylesheet" href="/capture/static/capture.css";
                // The tenant's colour and logo, for pages of a session (kycd's look otherwise).
                @if tenant.is_some() {
                    link rel="stylesheet" href="/capture/brand.css";
                }
                @for src in head.scripts {
                    script src=(src) defer {}
                }
            }
            body {
                header class="bar" {
                    span class="tenant" { (brand) }
                    (lang_switch(lang, here))
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                footer class="foot" { (t.footer) }
            }
        }
    }
}

/// What every page's `<head>` starts with (the console's too): UTF-8, a phone's width,
/// and no `Referer` sent to other sites.
pub fn head_meta() -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="referrer" content="no-referrer";
    }
}

/// The link to this page (`here`) in the other language.
pub fn lang_switch(lang: Lang, here: &str) -> Markup {
    let other = lang.other();
    html! {
        a class="lang" href={ (here) "?lang=" (other.code()) } lang=(other.code()) hreflang=(other.code()) { (other.name()) }
    }
}

pub fn page(status: StatusCode, lang: Lang, tenant: Option<&str>, here: &str, title: &str, body: Markup) -> Page {
    Page {
        status,
        html: layout(lang, tenant, here, title, Head::default(), body),
        cookies: Vec::new(),
    }
}

/// A paragraph of plain text.
pub fn p(text: &str) -> Markup {
    html! { p { (text) } }
}

/// A message that screen readers announce (`role=alert` for problems, `status` otherwise).
pub fn notice(kind: &str, title: &str, text: &str) -> Markup {
    let role = if kind == "problem" { "alert" } else { "status" };
    html! {
        div class={ "notice " (kind) } role=(role) { p { strong { (title) } } p { (text) } }
    }
}

/// A form posting to `action` with the session's form token and one submit button.
pub fn button_form(action: &str, csrf: &str, label: &str, class: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf_field(csrf))
            button type="submit" class=(class) { (label) }
        }
    }
}

pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// An error page outside a session (no tenant known).
pub fn error_page(status: StatusCode, lang: Lang, title: &str, text: &str, what_to_do: &str) -> Page {
    let body = html! { (notice("problem", title, text)) (p(what_to_do)) };
    page(status, lang, None, "/capture", title, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let html = notice("problem", r#"<script>alert("x")</script> & 'y'"#, "Café Ünïcode").into_string();
        assert!(
            html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 'y'"),
            "{html}"
        );
        assert!(html.contains("Café Ünïcode"));
        let html = csrf_field("\"><script>").into_string();
        assert_eq!(html, "<input type=\"hidden\" name=\"csrf\" value=\"&quot;&gt;&lt;script&gt;\">");
    }

    #[test]
    fn the_tenant_name_is_escaped_in_the_layout() {
        let html = layout(Lang::En, Some("<b>Acme & Co</b>"), "/capture/x", "Title", Head::default(), p("ok")).into_string();
        assert!(html.contains("&lt;b&gt;Acme &amp; Co&lt;/b&gt;"));
        assert!(!html.contains("<b>Acme"));
        assert!(!html.contains("<script"), "no inline script");
        assert!(!html.contains("style="), "no inline style");
    }

    #[test]
    fn scripts_are_external_only() {
        let head = Head {
            scripts: &["/capture/static/capture.js"],
            ..Head::default()
        };
        let html = layout(Lang::En, None, "/capture/step/selfie", "T", head, html! {}).into_string();
        assert!(html.contains("<script src=\"/capture/static/capture.js\" defer></script>"));
        assert_eq!(html.matches("<script").count(), 1);
        let plain = layout(Lang::En, None, "/capture", "T", Head::default(), html! {}).into_string();
        assert!(!plain.contains("<script"));
    }
}
