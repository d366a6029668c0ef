//! HTML for the capture pages.
//!
//! Hand-written `format!` templates instead of a template crate: the pages are few and
//! small, and every value that did not come from this file goes through [`esc`], one short
//! function with tests, so the whole escaping surface is in one place (and no proc-macro
//! crate is added to the build). Rule: a `{}` in a template takes either a literal from
//! this module / `i18n.rs`, or the result of `esc(…)` / a helper that calls it.

use super::i18n::Lang;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escape text for an HTML text node or a double- or single-quoted attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The Content-Security-Policy of every capture response: no inline script or style, no
/// framing; the stylesheet is served by this binary. No `form-action`: browsers apply it
/// to the redirect after a form post, which must reach the business's callback URL.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML page (or error page) with its status.
pub struct Page {
    pub status: StatusCode,
    pub html: String,
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
        let mut resp = (self.status, self.html).into_response();
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

/// The frame of every page: language, tenant name, language switch, heading.
/// `here` is the path of this page (for the language switch), `body` trusted HTML.
pub fn layout(lang: Lang, tenant: Option<&str>, here: &str, title: &str, body: &str) -> String {
    layout_with(lang, tenant, here, title, body, None, None)
}

/// [`layout`] that reloads itself at once (`<meta http-equiv=refresh>`: no script).
pub fn layout_refresh(lang: Lang, tenant: Option<&str>, here: &str, title: &str, body: &str) -> String {
    layout_with(lang, tenant, here, title, body, Some(0), None)
}

/// [`layout`] that reloads itself every `seconds` (a page following progress elsewhere).
pub fn layout_every(lang: Lang, tenant: Option<&str>, here: &str, title: &str, body: &str, seconds: u32) -> String {
    layout_with(lang, tenant, here, title, body, Some(seconds), None)
}

/// [`layout`] that loads one script served by this binary (`src` a path under
/// `/capture/static/`; never inline script: the CSP is `script-src 'self'`).
pub fn layout_script(lang: Lang, tenant: Option<&str>, here: &str, title: &str, body: &str, src: &str) -> String {
    layout_with(lang, tenant, here, title, body, None, Some(src))
}

fn layout_with(
    lang: Lang,
    tenant: Option<&str>,
    here: &str,
    title: &str,
    body: &str,
    refresh: Option<u32>,
    script: Option<&str>,
) -> String {
    let t = lang.texts();
    let other = lang.other();
    let brand = tenant.map_or_else(|| esc(t.service), esc);
    format!(
        r#"<!doctype html>
<html lang="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
{refresh}<title>{title} · {brand}</title>
<link rel="stylesheet" href="/capture/static/capture.css">
{brand_css}{script}</head>
<body>
<header class="bar">
<span class="tenant">{brand}</span>
<a class="lang" href="{here}?lang={other_code}" lang="{other_code}" hreflang="{other_code}">{other_name}</a>
</header>
<main id="main">
<h1>{title}</h1>
{body}
</main>
<footer class="foot">{footer}</footer>
</body>
</html>
"#,
        code = lang.code(),
        title = esc(title),
        here = esc(here),
        other_code = other.code(),
        other_name = esc(other.name()),
        footer = esc(t.footer),
        // The tenant's colour and logo, for pages of a session (kycd's look otherwise).
        brand_css = if tenant.is_some() {
            "<link rel=\"stylesheet\" href=\"/capture/brand.css\">\n"
        } else {
            ""
        },
        script = script.map_or_else(String::new, |src| format!("<script src=\"{}\" defer></script>\n", esc(src))),
        refresh = refresh.map_or_else(String::new, |secs| format!("<meta http-equiv=\"refresh\" content=\"{secs}\">\n")),
    )
}

pub fn page(status: StatusCode, lang: Lang, tenant: Option<&str>, here: &str, title: &str, body: &str) -> Page {
    Page {
        status,
        html: layout(lang, tenant, here, title, body),
        cookies: Vec::new(),
    }
}

/// A paragraph of plain text.
pub fn p(text: &str) -> String {
    format!("<p>{}</p>\n", esc(text))
}

/// A message that screen readers announce (`role=alert` for problems, `status` otherwise).
pub fn notice(kind: &str, title: &str, text: &str) -> String {
    let role = if kind == "problem" { "alert" } else { "status" };
    format!(
        "<div class=\"notice {kind}\" role=\"{role}\"><p><strong>{}</strong></p><p>{}</p></div>\n",
        esc(title),
        esc(text),
        kind = esc(kind),
    )
}

/// A form posting to `action` with the session's form token and one submit button.
pub fn button_form(action: &str, csrf: &str, label: &str, class: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\">\n{}<button type=\"submit\" class=\"{}\">{}</button>\n</form>\n",
        esc(action),
        csrf_field(csrf),
        esc(class),
        esc(label)
    )
}

pub fn csrf_field(csrf: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n", esc(csrf))
}

/// An error page outside a session (no tenant known).
pub fn error_page(status: StatusCode, lang: Lang, title: &str, text: &str, what_to_do: &str) -> Page {
    let body = format!("{}{}", notice("problem", title, text), p(what_to_do));
    page(status, lang, None, "/capture", title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("Café Ünïcode"), "Café Ünïcode");
    }

    #[test]
    fn the_tenant_name_is_escaped_in_the_layout() {
        let html = layout(Lang::En, Some("<b>Acme & Co</b>"), "/capture/x", "Title", "<p>ok</p>");
        assert!(html.contains("&lt;b&gt;Acme &amp; Co&lt;/b&gt;"));
        assert!(!html.contains("<b>Acme"));
        assert!(!html.contains("<script"), "no inline script");
        assert!(!html.contains("style="), "no inline style");
    }

    #[test]
    fn scripts_are_external_only() {
        let html = layout_script(Lang::En, None, "/capture/step/selfie", "T", "", "/capture/static/capture.js");
        assert!(html.contains("<script src=\"/capture/static/capture.js\" defer></script>"));
        assert_eq!(html.matches("<script").count(), 1);
        assert!(!layout(Lang::En, None, "/capture", "T", "").contains("<script"));
    }
}
