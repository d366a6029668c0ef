//! What every console page shares: the request's language and session (`Ctx`), the
//! form token check, the page layout and small HTML pieces, cookies and responses.

use crate::AppState;
pub(super) use crate::capture::html::{csrf_field, head_meta, lang_switch, notice};
use crate::capture::see_other;
use crate::cookies;
use crate::i18n::{Lang, console};
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kycd_engine::console::{OperatorSession, form_token, form_token_matches};
use kycd_engine::{EngineError, OperatorRole};
use maud::{DOCTYPE, Markup, html};

pub(super) const COOKIE: &str = "kycd_console";
pub(super) const LOGIN_COOKIE: &str = "kycd_console_login";
pub(super) const LANG_COOKIE: &str = "kycd_console_lang";
pub(super) const CSS_PATH: &str = "/console/static/console.css";
pub(super) const JS_PATH: &str = "/console/static/console.js";

// ----- request plumbing ---------------------------------------------------------------

pub(super) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default()
}

pub(super) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(super) fn form(body: &Bytes) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// What the request says about language: `?lang=`, then the cookie, then
/// `Accept-Language`; English by default. Returns a cookie remembering a `?lang=` choice.
pub(super) fn language(s: &AppState, headers: &HeaderMap, raw: Option<&str>) -> (Lang, Option<String>) {
    let chosen = field(&query_pairs(raw), "lang").and_then(Lang::parse);
    let lang = Lang::negotiate(chosen, cookies::read(headers, LANG_COOKIE).as_deref(), None, headers);
    let set = chosen.map(|l| cookies::language(LANG_COOKIE, l.code(), "/console", cookies::secure(s)));
    (lang, set)
}

/// A signed-in request: the session, its language, and the form token of its forms.
pub(super) struct Ctx {
    pub(super) session: OperatorSession,
    pub(super) secret: String,
    pub(super) lang: Lang,
    pub(super) lang_cookie: Option<String>,
}

impl Ctx {
    pub(super) fn csrf(&self) -> String {
        form_token(&self.secret)
    }
    /// The console's words in the request's language.
    pub(super) fn t(&self) -> &'static console::Texts {
        self.lang.console()
    }
    pub(super) fn page(&self, status: StatusCode, here: &str, title: &str, body: Markup) -> Response {
        let html = layout(self.lang, Some(self), here, title, body);
        html_response(status, html, self.lang_cookie.iter().cloned().collect())
    }
    pub(super) fn problem(&self, status: StatusCode, here: &str, text: &str) -> Response {
        let body = html! {
            (notice("problem", self.t().problem, text))
            p { a href=(here) { (self.t().back) } }
        };
        self.page(status, here, self.t().problem, body)
    }
    /// The page an engine error answers with.
    pub(super) fn error(&self, here: &str, e: EngineError) -> Response {
        match e {
            EngineError::NotFound(_) => {
                let body = notice("problem", self.t().not_found, self.t().not_found_text);
                self.page(StatusCode::NOT_FOUND, here, self.t().not_found, body)
            }
            EngineError::Forbidden(_) => {
                let body = notice("problem", self.t().forbidden, self.t().forbidden_text);
                self.page(StatusCode::FORBIDDEN, here, self.t().forbidden, body)
            }
            EngineError::Invalid(m) => self.problem(StatusCode::BAD_REQUEST, here, &m),
            EngineError::Conflict(m) => self.problem(StatusCode::CONFLICT, here, &m),
            EngineError::Gone(m) => self.problem(StatusCode::GONE, here, &m),
            other => internal(self.lang, other),
        }
    }
}

pub(super) fn internal(lang: Lang, e: EngineError) -> Response {
    tracing::error!(cause = %kycd_engine::error_chain(&e), "console page failed: answered 500");
    let body = notice("problem", lang.console().error, lang.console().error_text);
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        layout(lang, None, "/console", lang.console().error, body),
        Vec::new(),
    )
}

/// The signed-in operator behind the request, or the sign-in page's redirect.
pub(super) async fn ctx(s: &AppState, headers: &HeaderMap, raw: Option<&str>) -> Result<Ctx, Response> {
    let (lang, lang_cookie) = language(s, headers, raw);
    let to_login = |ended: bool| {
        let loc = if ended { "/console/login?ended=1" } else { "/console/login" };
        see_other(loc, std::slice::from_ref(&lang_cookie))
    };
    let Some(secret) = cookies::read(headers, COOKIE) else {
        return Err(to_login(false));
    };
    match s.engine.operator_session(&secret).await {
        Ok(session) => Ok(Ctx {
            session,
            secret,
            lang,
            lang_cookie,
        }),
        Err(EngineError::Unauthorized(_) | EngineError::NotFound(_)) => Err(to_login(true)),
        Err(e) => Err(internal(lang, e)),
    }
}

/// A page's signed-in request ([`ctx`] with the language the query may choose), as an
/// extractor: the sign-in page's redirect is its rejection.
impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        ctx(s, &parts.headers, parts.uri.query()).await
    }
}

/// [`ctx`] for a POST: the form token must match the session's.
pub(super) async fn post_ctx(s: &AppState, headers: &HeaderMap, pairs: &[(String, String)], here: &str) -> Result<Ctx, Response> {
    let c = ctx(s, headers, None).await?;
    if !field(pairs, "csrf").is_some_and(|sent| form_token_matches(&c.secret, sent)) {
        let body = notice("problem", c.t().form_expired, c.t().form_expired_text);
        return Err(c.page(StatusCode::FORBIDDEN, here, c.t().form_expired, body));
    }
    Ok(c)
}

pub(super) fn html_response(status: StatusCode, html: Markup, cookies: Vec<String>) -> Response {
    let mut resp = (status, html.into_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

// ----- HTML ---------------------------------------------------------------------------

/// A form posting to `action` with the session's form token and one submit button.
pub(super) fn button_form(action: &str, csrf: &str, label: &str, class: &str) -> Markup {
    html! {
        form method="post" action=(action) class="inline" {
            (csrf_field(csrf))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// A table's head row: one column heading per text.
pub(super) fn table_head(columns: &[&str]) -> Markup {
    html! { thead { tr { @for c in columns { th scope="col" { (c) } } } } }
}

/// The frame of every console page: language, the signed-in operator's navigation, the
/// language switch (`here` is this page's path), the heading.
pub(super) fn layout(lang: Lang, c: Option<&Ctx>, here: &str, title: &str, body: Markup) -> Markup {
    let brand = c.map_or_else(
        || lang.console().console.to_owned(),
        |c| format!("{} · {}", c.session.tenant_name, lang.console().console),
    );
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                (head_meta())
                title { (title) " · " (brand) }
                link rel="stylesheet" href=(CSS_PATH);
                script src=(JS_PATH) defer {}
            }
            body {
                header class="bar" {
                    span class="brand" { (brand) }
                    @if let Some(c) = c {
                        nav aria-label=(c.t().console) {
                            a href="/console/queue" { (c.t().queue) }
                            @if c.session.is_admin() {
                                a href="/console/admin" { (c.t().admin) }
                            }
                            a href="/console/account" { (c.t().account) }
                            span class="who" {
                                (c.t().signed_in_as) " " (c.session.operator.email) " (" (role_label(lang, c.session.operator.role)) ")"
                            }
                            (button_form("/console/logout", &c.csrf(), c.t().sign_out, "link"))
                        }
                    }
                    (lang_switch(lang, here))
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub(super) fn role_label(lang: Lang, r: OperatorRole) -> &'static str {
    match r {
        OperatorRole::Admin => lang.console().admin_role,
        OperatorRole::Reviewer => lang.console().reviewer,
    }
}

pub(super) fn fmt_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "3 d 4 h", "2 h 5 min", "7 min".
pub(super) fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let m = (now - since).num_minutes().max(0);
    match m {
        m if m >= 1440 => format!("{} d {} h", m / 1440, (m % 1440) / 60),
        m if m >= 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{m} min"),
    }
}

pub(super) fn retry_after(mut resp: Response, secs: u64) -> Response {
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

pub(super) fn id_of<T: std::str::FromStr>(s: &str) -> Result<T, EngineError> {
    s.parse().map_err(|_| EngineError::NotFound("verification"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        let now = Utc::now();
        assert_eq!(age(now - chrono::Duration::minutes(7), now), "7 min");
        assert_eq!(age(now - chrono::Duration::minutes(125), now), "2 h 5 min");
        assert_eq!(age(now - chrono::Duration::hours(76), now), "3 d 4 h");
    }

    #[test]
    fn the_layout_has_no_inline_script_or_style_and_escapes() {
        let html = layout(Lang::Fr, None, "/console/login", "<x>", html! { p { "ok" } }).into_string();
        assert!(html.contains("&lt;x&gt;"));
        assert!(html.contains("lang=\"fr\""));
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"/console/static/console.js\" defer></script>"));
        assert!(!html.contains("style="));
    }
}
