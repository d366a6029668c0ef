//! The review console under `/console`: where a compliance reviewer works the queue of
//! verifications waiting for a person, and an admin manages operators, API keys, webhooks
//! and settings. Server-rendered HTML with plain forms, one small script (keyboard
//! shortcuts, zoom and rotate), strict CSP, English and French. See `docs/console.md`.
//!
//! Sign-in opens a session (an HttpOnly, SameSite=Strict cookie holding a random secret;
//! only its hash is stored) that acts as a [`kycd_engine::Principal`] of the operator's
//! tenant: every page goes through the same tenant-scoped use cases as the API, so another
//! tenant's id is "not found". Every POST carries a form token derived from the session
//! secret; the sign-in form one from a pre-session cookie. Pages follow post/redirect/get.

mod i18n;

use crate::AppState;
use crate::Routes;
use crate::capture::html::esc;
use crate::capture::i18n::Lang;
use crate::capture::{cookie, see_other, static_file};
use crate::extract::ClientAddr;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use i18n::{reason_label, t};
use kycd_core::*;
use kycd_engine::console::{
    ConsoleDecision, DecideOutcome, OperatorSession, QueueFilter, REVIEW_REASONS, ReviewAction, failed_reasons, form_token,
    form_token_matches, new_totp_secret, risk_signals,
};
use kycd_engine::decision::document_facts;
use kycd_engine::{EngineError, OperatorRole};

const COOKIE: &str = "kycd_console";
const LOGIN_COOKIE: &str = "kycd_console_login";
const LANG_COOKIE: &str = "kycd_console_lang";
const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");
const CSS_PATH: &str = "/console/static/console.css";
const JS_PATH: &str = "/console/static/console.js";
/// No inline script or style, images from this origin only, no framing.
const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router() -> Routes<AppState> {
    Routes::new()
        .at("/console", get(home))
        .at("/console/login", get(login_page).post(login_post))
        .at("/console/logout", post(logout_post))
        .at("/console/invite", get(invite_page).post(invite_post))
        .at("/console/queue", get(queue_page))
        .at("/console/verifications/{id}", get(case_page))
        .at("/console/verifications/{id}/decision", post(decision_post))
        .at("/console/verifications/{id}/files/{file_id}", get(image))
        .at("/console/verifications/{id}/report.pdf", get(report_pdf))
        .at("/console/verifications/{id}/evidence.zip", get(evidence_zip))
        .at("/console/account", get(account_page))
        .at("/console/account/totp", post(totp_post))
        .at("/console/admin", get(admin_page))
        .at("/console/admin/operators", post(invite_operator_post))
        .at("/console/admin/operators/{operator_id}/{action}", post(operator_action_post))
        .at("/console/admin/settings", post(settings_post))
        .at("/console/admin/policy", post(policy_post))
        .at("/console/admin/api-keys", post(create_key_post))
        .at("/console/admin/api-keys/{key_id}/revoke", post(revoke_key_post))
        .at("/console/admin/webhooks", post(create_webhook_post))
        .at("/console/admin/webhooks/{id}", get(webhook_page))
        .at("/console/admin/webhooks/{id}/{action}", post(webhook_action_post))
        .at(
            "/console/admin/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            post(redeliver_post),
        )
        .at(CSS_PATH, get(|| async { static_file(CSS, "text/css; charset=utf-8") }))
        .at(JS_PATH, get(|| async { static_file(JS, "text/javascript; charset=utf-8") }))
        .map(|r| {
            r.layer(middleware::map_response(console_headers))
                .layer(DefaultBodyLimit::max(16 * 1024))
        })
}

async fn console_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

// ----- request plumbing ---------------------------------------------------------------

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// What the request says about language: `?lang=`, then the cookie, then
/// `Accept-Language`; English by default. Returns a cookie remembering a `?lang=` choice.
fn language(s: &AppState, headers: &HeaderMap, raw: Option<&str>) -> (Lang, Option<String>) {
    let chosen = field(&query_pairs(raw), "lang").and_then(Lang::parse);
    let lang = chosen
        .or_else(|| cookie(headers, LANG_COOKIE).as_deref().and_then(Lang::parse))
        .or_else(|| Lang::from_headers(headers))
        .unwrap_or(Lang::En);
    let set = chosen.map(|l| {
        format!(
            "{LANG_COOKIE}={}; Path=/console; SameSite=Strict; Max-Age=31536000{}",
            l.code(),
            secure_attr(s)
        )
    });
    (lang, set)
}

fn secure_attr(s: &AppState) -> &'static str {
    if s.engine.config().public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// A signed-in request: the session, its language, and the form token of its forms.
struct Ctx {
    session: OperatorSession,
    secret: String,
    lang: Lang,
    lang_cookie: Option<String>,
}

impl Ctx {
    fn csrf(&self) -> String {
        form_token(&self.secret)
    }
    fn t(&self, key: &str) -> &'static str {
        t(self.lang, key)
    }
    fn page(&self, status: StatusCode, here: &str, title: &str, body: &str) -> Response {
        let html = layout(self.lang, Some(self), here, title, body);
        html_response(status, html, self.lang_cookie.iter().cloned().collect())
    }
    fn problem(&self, status: StatusCode, here: &str, text: &str) -> Response {
        let body = format!(
            "{}<p><a href=\"{}\">{}</a></p>",
            notice("problem", self.t("problem"), text),
            esc(here),
            esc(self.t("back"))
        );
        self.page(status, here, self.t("problem"), &body)
    }
    /// The page an engine error answers with.
    fn error(&self, here: &str, e: EngineError) -> Response {
        match e {
            EngineError::NotFound(_) => {
                let body = notice("problem", self.t("not_found"), self.t("not_found_text"));
                self.page(StatusCode::NOT_FOUND, here, self.t("not_found"), &body)
            }
            EngineError::Forbidden(_) => {
                let body = notice("problem", self.t("forbidden"), self.t("forbidden_text"));
                self.page(StatusCode::FORBIDDEN, here, self.t("forbidden"), &body)
            }
            EngineError::Invalid(m) => self.problem(StatusCode::BAD_REQUEST, here, &m),
            EngineError::Conflict(m) => self.problem(StatusCode::CONFLICT, here, &m),
            EngineError::Gone(m) => self.problem(StatusCode::GONE, here, &m),
            other => internal(self.lang, other),
        }
    }
}

fn internal(lang: Lang, e: EngineError) -> Response {
    tracing::error!(cause = %kycd_engine::error_chain(&e), "console page failed: answered 500");
    let body = notice("problem", t(lang, "error"), t(lang, "error_text"));
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        layout(lang, None, "/console", t(lang, "error"), &body),
        Vec::new(),
    )
}

/// The signed-in operator behind the request, or the sign-in page's redirect.
async fn ctx(s: &AppState, headers: &HeaderMap, raw: Option<&str>) -> Result<Ctx, Response> {
    let (lang, lang_cookie) = language(s, headers, raw);
    let to_login = |ended: bool| {
        let loc = if ended { "/console/login?ended=1" } else { "/console/login" };
        see_other(loc, std::slice::from_ref(&lang_cookie))
    };
    let Some(secret) = cookie(headers, COOKIE) else {
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

/// [`ctx`] for a POST: the form token must match the session's.
async fn post_ctx(s: &AppState, headers: &HeaderMap, pairs: &[(String, String)], here: &str) -> Result<Ctx, Response> {
    let c = ctx(s, headers, None).await?;
    if !field(pairs, "csrf").is_some_and(|sent| form_token_matches(&c.secret, sent)) {
        let body = notice("problem", c.t("form_expired"), c.t("form_expired_text"));
        return Err(c.page(StatusCode::FORBIDDEN, here, c.t("form_expired"), &body));
    }
    Ok(c)
}

fn html_response(status: StatusCode, html: String, cookies: Vec<String>) -> Response {
    let mut resp = (status, html).into_response();
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

fn notice(kind: &str, title: &str, text: &str) -> String {
    let role = if kind == "problem" { "alert" } else { "status" };
    format!(
        "<div class=\"notice {}\" role=\"{role}\"><p><strong>{}</strong></p><p>{}</p></div>\n",
        esc(kind),
        esc(title),
        esc(text)
    )
}

fn csrf_field(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(token))
}

fn button_form(action: &str, csrf: &str, label: &str, class: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\">{}<button type=\"submit\" class=\"{}\">{}</button></form>",
        esc(action),
        csrf_field(csrf),
        esc(class),
        esc(label)
    )
}

fn layout(lang: Lang, c: Option<&Ctx>, here: &str, title: &str, body: &str) -> String {
    let other = lang.other();
    let nav = c.map_or_else(String::new, |c| {
        let admin = if c.session.is_admin() {
            format!("<a href=\"/console/admin\">{}</a>", esc(c.t("admin")))
        } else {
            String::new()
        };
        format!(
            "<nav aria-label=\"{console}\"><a href=\"/console/queue\">{queue}</a>{admin}<a href=\"/console/account\">{account}</a>\
             <span class=\"who\">{signed_in_as} {email} ({role})</span>{logout}</nav>",
            console = esc(c.t("console")),
            queue = esc(c.t("queue")),
            account = esc(c.t("account")),
            signed_in_as = esc(c.t("signed_in_as")),
            email = esc(&c.session.operator.email),
            role = esc(role_label(lang, c.session.operator.role)),
            logout = button_form("/console/logout", &c.csrf(), c.t("sign_out"), "link"),
        )
    });
    let brand = c.map_or_else(
        || t(lang, "console").to_owned(),
        |c| format!("{} · {}", c.session.tenant_name, t(lang, "console")),
    );
    format!(
        r#"<!doctype html>
<html lang="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · {brand}</title>
<link rel="stylesheet" href="{CSS_PATH}">
<script src="{JS_PATH}" defer></script>
</head>
<body>
<header class="bar"><span class="brand">{brand}</span>{nav}<a class="lang" href="{here}?lang={other_code}" lang="{other_code}" hreflang="{other_code}">{other_name}</a></header>
<main id="main">
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        code = lang.code(),
        title = esc(title),
        brand = esc(&brand),
        here = esc(here),
        other_code = other.code(),
        other_name = esc(other.name()),
    )
}

fn role_label(lang: Lang, r: OperatorRole) -> &'static str {
    match r {
        OperatorRole::Admin => t(lang, "admin_role"),
        OperatorRole::Reviewer => t(lang, "reviewer"),
    }
}

fn fmt_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "3 d 4 h", "2 h 5 min", "7 min".
fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let m = (now - since).num_minutes().max(0);
    match m {
        m if m >= 1440 => format!("{} d {} h", m / 1440, (m % 1440) / 60),
        m if m >= 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{m} min"),
    }
}

// ----- sign-in, invitations, account ----------------------------------------------------

async fn home(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match ctx(&s, &headers, None).await {
        Ok(_) => see_other("/console/queue", &[]),
        Err(r) => r,
    }
}

fn login_form(lang: Lang, token: &str, problem: Option<(&str, &str)>, ended: bool) -> String {
    let mut body = String::new();
    if ended {
        body.push_str(&notice("info", t(lang, "session_over"), t(lang, "session_over_text")));
    }
    if let Some((title, text)) = problem {
        body.push_str(&notice("problem", title, text));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/console/login\" class=\"stack narrow\">{csrf}\
         <label for=\"email\">{email}</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">{password}</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"code\">{code}</label><input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9 ]*\" aria-describedby=\"code-help\">\
         <p id=\"code-help\" class=\"help\">{code_help}</p>\
         <button type=\"submit\" class=\"primary\">{sign_in}</button></form>",
        csrf = csrf_field(token),
        email = esc(t(lang, "email")),
        password = esc(t(lang, "password")),
        code = esc(t(lang, "code")),
        code_help = esc(t(lang, "code_help")),
        sign_in = esc(t(lang, "sign_in")),
    ));
    body
}

/// The sign-in form's anti-forgery token: a random value in a pre-session cookie that the
/// form echoes (a cross-site form post carries neither).
fn login_token(s: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, LOGIN_COOKIE).filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_alphanumeric())) {
        Some(v) => (v, None),
        None => {
            let v = random_token(32);
            let c = format!(
                "{LOGIN_COOKIE}={v}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=3600{}",
                secure_attr(s)
            );
            (v, Some(c))
        }
    }
}

async fn login_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let (lang, lang_cookie) = language(&s, &headers, raw.as_deref());
    let (token, token_cookie) = login_token(&s, &headers);
    let ended = field(&query_pairs(raw.as_deref()), "ended").is_some();
    let done = field(&query_pairs(raw.as_deref()), "invited").is_some();
    let mut body = String::new();
    if done {
        body.push_str(&notice("ok", t(lang, "saved"), t(lang, "invite_done")));
    }
    body.push_str(&login_form(lang, &token, None, ended));
    let html = layout(lang, None, "/console/login", t(lang, "sign_in"), &body);
    html_response(StatusCode::OK, html, lang_cookie.into_iter().chain(token_cookie).collect())
}

async fn login_post(State(s): State<AppState>, ClientAddr(from): ClientAddr, headers: HeaderMap, body: Bytes) -> Response {
    let (lang, _) = language(&s, &headers, None);
    let pairs = form(&body);
    let (token, token_cookie) = login_token(&s, &headers);
    let refuse = |status: StatusCode, title: &str, text: &str| {
        let html = layout(
            lang,
            None,
            "/console/login",
            t(lang, "sign_in"),
            &login_form(lang, &token, Some((title, text)), false),
        );
        html_response(status, html, token_cookie.iter().cloned().collect())
    };
    if token_cookie.is_some() || field(&pairs, "csrf") != Some(token.as_str()) {
        return refuse(StatusCode::FORBIDDEN, t(lang, "form_expired"), t(lang, "form_expired_text"));
    }
    let email = field(&pairs, "email").unwrap_or_default();
    let password = field(&pairs, "password").unwrap_or_default();
    match s.engine.operator_sign_in(email, password, field(&pairs, "code"), from).await {
        Ok(signed) => {
            let c = format!(
                "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict{}",
                signed.secret,
                secure_attr(&s)
            );
            see_other("/console/queue", &[Some(c)])
        }
        Err(EngineError::Unauthorized(m)) => refuse(StatusCode::UNAUTHORIZED, t(lang, "sign_in_failed"), &m),
        Err(EngineError::RateLimited { detail, retry_after_secs }) => {
            retry_after(refuse(StatusCode::TOO_MANY_REQUESTS, t(lang, "locked"), &detail), retry_after_secs)
        }
        Err(EngineError::Busy { detail, retry_after_secs }) => {
            retry_after(refuse(StatusCode::SERVICE_UNAVAILABLE, t(lang, "busy"), &detail), retry_after_secs)
        }
        Err(e) => internal(lang, e),
    }
}

fn retry_after(mut resp: Response, secs: u64) -> Response {
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

async fn logout_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let c = match post_ctx(&s, &headers, &form(&body), "/console/queue").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(e) = s.engine.operator_sign_out(&c.secret).await {
        return internal(c.lang, e);
    }
    let gone = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{}", secure_attr(&s));
    see_other("/console/login", &[Some(gone)])
}

fn invite_form(lang: Lang, token: &str, problem: Option<&str>) -> String {
    format!(
        "{problem}<p>{text}</p><form method=\"post\" action=\"/console/invite\" class=\"stack narrow\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label for=\"password\">{password}</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"12\" required>\
         <label for=\"password2\">{again}</label><input id=\"password2\" name=\"password2\" type=\"password\" autocomplete=\"new-password\" minlength=\"12\" required>\
         <button type=\"submit\" class=\"primary\">{save}</button></form>",
        problem = problem.map_or_else(String::new, |m| notice("problem", t(lang, "problem"), m)),
        text = esc(t(lang, "invite_text")),
        token = esc(token),
        password = esc(t(lang, "password")),
        again = esc(t(lang, "password_again")),
        save = esc(t(lang, "save")),
    )
}

async fn invite_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let (lang, lang_cookie) = language(&s, &headers, raw.as_deref());
    let pairs = query_pairs(raw.as_deref());
    let token = field(&pairs, "token").unwrap_or_default();
    let html = layout(
        lang,
        None,
        "/console/invite",
        t(lang, "invite_title"),
        &invite_form(lang, token, None),
    );
    html_response(StatusCode::OK, html, lang_cookie.into_iter().collect())
}

/// The invitation token is the capability (random, single-use, 72 h): it is the form's
/// own proof, so no session or other token is needed.
async fn invite_post(State(s): State<AppState>, ClientAddr(from): ClientAddr, headers: HeaderMap, body: Bytes) -> Response {
    let (lang, _) = language(&s, &headers, None);
    let pairs = form(&body);
    let token = field(&pairs, "token").unwrap_or_default();
    let password = field(&pairs, "password").unwrap_or_default();
    let page = |status, m: &str| {
        html_response(
            status,
            layout(
                lang,
                None,
                "/console/invite",
                t(lang, "invite_title"),
                &invite_form(lang, token, Some(m)),
            ),
            Vec::new(),
        )
    };
    if Some(password) != field(&pairs, "password2") {
        return page(StatusCode::BAD_REQUEST, t(lang, "passwords_differ"));
    }
    match s.engine.accept_invitation(token, password, from).await {
        Ok(_) => see_other("/console/login?invited=1", &[]),
        Err(EngineError::Invalid(m)) => page(StatusCode::BAD_REQUEST, &m),
        Err(EngineError::RateLimited { detail, retry_after_secs }) => {
            retry_after(page(StatusCode::TOO_MANY_REQUESTS, &detail), retry_after_secs)
        }
        Err(EngineError::Busy { detail, retry_after_secs }) => {
            retry_after(page(StatusCode::SERVICE_UNAVAILABLE, &detail), retry_after_secs)
        }
        Err(e @ EngineError::NotFound(_)) => page(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => internal(lang, e),
    }
}

async fn account_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    c.page(StatusCode::OK, "/console/account", c.t("account"), &account_body(&c, None))
}

fn account_body(c: &Ctx, problem: Option<&str>) -> String {
    let mut body = format!("<h2>{}</h2>", esc(c.t("totp_title")));
    if let Some(m) = problem {
        body.push_str(&notice("problem", c.t("problem"), m));
    }
    let replacing = c.session.operator.totp_enabled;
    if replacing {
        body.push_str(&notice("ok", c.t("two_factor"), c.t("totp_on")));
        body.push_str(&format!(
            "<h3>{}</h3><p>{}</p>",
            esc(c.t("totp_replace")),
            esc(c.t("totp_replace_text"))
        ));
    }
    let secret = new_totp_secret();
    let uri = format!(
        "otpauth://totp/kycd:{}?secret={secret}&issuer=kycd",
        serde_urlencoded::to_string([("", &c.session.operator.email)])
            .unwrap_or_default()
            .trim_start_matches('=')
    );
    let current = if replacing {
        format!(
            "<label for=\"current_code\">{}</label><input id=\"current_code\" name=\"current_code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required>",
            esc(c.t("totp_current_code"))
        )
    } else {
        String::new()
    };
    body.push_str(&format!(
        "<p>{setup}</p><p>{key_label}: <code class=\"secret\">{secret}</code></p><p><a href=\"{uri}\">{link}</a></p>\
         <form method=\"post\" action=\"/console/account/totp\" class=\"stack narrow\">{csrf}\
         <input type=\"hidden\" name=\"secret\" value=\"{secret}\">\
         <label for=\"code\">{code}</label><input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required>\
         {current}<button type=\"submit\" class=\"primary\">{enable}</button></form>",
        setup = esc(c.t("totp_setup")),
        key_label = esc(c.t("totp_key")),
        secret = esc(&secret),
        uri = esc(&uri),
        link = esc(c.t("totp_link")),
        csrf = csrf_field(&c.csrf()),
        code = esc(c.t("code")),
        enable = esc(c.t(if replacing { "totp_replace" } else { "totp_enable" })),
    ));
    body
}

async fn totp_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = form(&body);
    let c = match post_ctx(&s, &headers, &pairs, "/console/account").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let secret = field(&pairs, "secret").unwrap_or_default();
    let code = field(&pairs, "code").unwrap_or_default();
    match s.engine.enroll_totp(&c.session, secret, code, field(&pairs, "current_code")).await {
        Ok(()) => see_other("/console/account", &[]),
        Err(EngineError::Invalid(m)) => c.page(
            StatusCode::BAD_REQUEST,
            "/console/account",
            c.t("account"),
            &account_body(&c, Some(&m)),
        ),
        Err(e) => c.error("/console/account", e),
    }
}

// ----- the queue ----------------------------------------------------------------------

const QUEUE_STATUSES: [VerificationStatus; 3] = [
    VerificationStatus::ReviewRequired,
    VerificationStatus::Approved,
    VerificationStatus::Declined,
];
const QUEUE_REASONS: [&str; 10] = [
    "inconclusive",
    "capture_reused",
    "image_provenance",
    "poor_image_quality",
    "image_unreadable",
    "images_missing",
    "document_expired",
    "age_requirement_not_met",
    "document_not_accepted",
    "data_mismatch",
];

fn parse_day(s: Option<&str>) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s?.trim(), "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

async fn queue_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = query_pairs(raw.as_deref());
    let status = field(&q, "status").and_then(|v| v.parse::<VerificationStatus>().ok());
    let reason = field(&q, "reason").filter(|r| QUEUE_REASONS.contains(r)).map(str::to_owned);
    let filter = QueueFilter {
        status,
        from: parse_day(field(&q, "from")),
        to: parse_day(field(&q, "to")),
        reason: reason.clone(),
        search: field(&q, "q").map(str::to_owned),
    };
    let items = match s.engine.review_queue(&c.session, &filter).await {
        Ok(i) => i,
        Err(e) => return c.error("/console/queue", e),
    };
    let lang = c.lang;
    let opt = |value: &str, label: &str, selected: bool| {
        format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(value),
            if selected { " selected" } else { "" },
            esc(label)
        )
    };
    let statuses: String = QUEUE_STATUSES
        .iter()
        .map(|st| {
            opt(
                st.as_str(),
                st.as_str(),
                status.unwrap_or(VerificationStatus::ReviewRequired) == *st,
            )
        })
        .collect();
    let reasons: String = std::iter::once(opt("", t(lang, "any"), reason.is_none()))
        .chain(QUEUE_REASONS.iter().map(|r| opt(r, r, reason.as_deref() == Some(*r))))
        .collect();
    let mut body = format!(
        "<form method=\"get\" action=\"/console/queue\" class=\"filters\" role=\"search\">\
         <label>{status_l}<select name=\"status\">{statuses}</select></label>\
         <label>{reason_l}<select name=\"reason\">{reasons}</select></label>\
         <label>{from_l}<input type=\"date\" name=\"from\" value=\"{from}\"></label>\
         <label>{to_l}<input type=\"date\" name=\"to\" value=\"{to}\"></label>\
         <label class=\"wide\">{search_l}<input type=\"search\" name=\"q\" value=\"{search}\" autocomplete=\"off\"></label>\
         <button type=\"submit\">{filter_l}</button></form>",
        status_l = esc(t(lang, "status")),
        reason_l = esc(t(lang, "reason")),
        from_l = esc(t(lang, "from")),
        to_l = esc(t(lang, "to")),
        search_l = esc(t(lang, "search")),
        filter_l = esc(t(lang, "filter")),
        from = esc(field(&q, "from").unwrap_or_default()),
        to = esc(field(&q, "to").unwrap_or_default()),
        search = esc(field(&q, "q").unwrap_or_default()),
    );
    if items.is_empty() {
        body.push_str(&format!("<p class=\"empty\">{}</p>", esc(t(lang, "queue_empty"))));
    } else {
        let now = Utc::now();
        body.push_str(&format!(
            "<table class=\"queue\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            esc(t(lang, "verification")),
            esc(t(lang, "age")),
            esc(t(lang, "reason")),
            esc(t(lang, "status")),
            esc(t(lang, "created")),
        ));
        for (i, item) in items.iter().enumerate() {
            let v = &item.verification;
            let mut why = item.reasons.join(", ");
            if item.proposal.is_some() {
                why = format!("{why} · {}", t(lang, "awaiting_second"));
            }
            body.push_str(&format!(
                "<tr><td><a href=\"/console/verifications/{id}\"{first}>{id}</a></td><td>{age}</td><td>{why}</td><td>{status}</td><td>{created}</td></tr>",
                id = esc(v.id.as_str()),
                first = if i == 0 { " data-first" } else { "" },
                age = esc(&age(v.created_at, now)),
                why = esc(&why),
                status = esc(v.status.as_str()),
                created = esc(&fmt_time(v.created_at)),
            ));
        }
        body.push_str("</tbody></table>");
    }
    c.page(StatusCode::OK, "/console/queue", c.t("queue"), &body)
}

// ----- one case -----------------------------------------------------------------------

fn id_of<T: std::str::FromStr>(s: &str) -> Result<T, EngineError> {
    s.parse().map_err(|_| EngineError::NotFound("verification"))
}

fn data_table(c: &Ctx, v: &Verification) -> String {
    let d = &v.private.declared;
    let f = document_facts(v).unwrap_or_default();
    let declared_name = d.full_name.as_ref().map(|n| n.expose().to_owned()).or_else(|| {
        let parts: Vec<&str> = [&d.first_name, &d.last_name].into_iter().flatten().map(|p| p.expose()).collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    // A row is a mismatch when the decision's own comparison of it failed (not when it was
    // inconclusive): the console shows the pipeline's verdict, it does not compare again.
    let failed = |check: &str| {
        v.checks
            .iter()
            .any(|c| c.name == check && !c.passed && c.figures.get("outcome").and_then(|o| o.as_str()) != Some("inconclusive"))
    };
    let rows: Vec<(&str, Option<String>, Option<String>, bool)> = vec![
        ("full_name", declared_name.clone(), f.full_name(), failed("name_consistency")),
        (
            "birth_date",
            d.birth_date.as_ref().map(|b| b.expose().to_string()),
            f.birth_date.map(|b| b.to_string()),
            failed("birth_date_consistency"),
        ),
        (
            "document_number",
            d.document_number.as_ref().map(|n| n.expose().to_owned()),
            f.document_number.clone(),
            failed("document_number_consistency"),
        ),
        ("nationality", d.nationality.clone(), f.nationality.clone(), false),
        (
            "document_type",
            None,
            f.document_type
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
            false,
        ),
        ("issuing_country", None, f.issuing_country.clone(), failed("document_allowed")),
        (
            "expiry_date",
            None,
            f.expiry_date.map(|e| e.to_string()),
            failed("document_not_expired"),
        ),
    ];
    let mut out = format!(
        "<table class=\"data\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(c.t("field")),
        esc(c.t("declared")),
        esc(c.t("read"))
    );
    for (key, declared, read, mismatch) in rows {
        out.push_str(&format!(
            "<tr{cls}><th scope=\"row\">{label}</th><td>{declared}</td><td>{read}{flag}</td></tr>",
            cls = if mismatch { " class=\"mismatch\"" } else { "" },
            label = esc(c.t(key)),
            declared = esc(declared.as_deref().unwrap_or("—")),
            read = esc(read.as_deref().unwrap_or("—")),
            flag = if mismatch {
                format!(" <strong class=\"flag\">{}</strong>", esc(c.t("mismatch")))
            } else {
                String::new()
            },
        ));
    }
    out.push_str("</tbody></table>");
    out
}

fn decision_forms(c: &Ctx, v: &Verification, four_eyes: bool) -> String {
    if v.status != VerificationStatus::ReviewRequired {
        return format!("<p>{}</p>", esc(c.t("not_decidable")));
    }
    let mut out = String::new();
    if four_eyes {
        out.push_str(&format!("<p class=\"help\">{}</p>", esc(c.t("four_eyes_note"))));
    }
    for (action, key, class, shortcut) in [
        (ReviewAction::Approve, "approve", "approve", "a"),
        (ReviewAction::Decline, "decline", "decline", "d"),
        (ReviewAction::Retry, "retry", "retry", "r"),
    ] {
        let options: String = REVIEW_REASONS
            .iter()
            .filter(|(_, a)| *a == action)
            .map(|(code, _)| format!("<option value=\"{}\">{}</option>", esc(code), esc(&reason_label(c.lang, code))))
            .collect();
        out.push_str(&format!(
            "<form method=\"post\" action=\"/console/verifications/{id}/decision\" class=\"decide {class}\" data-shortcut=\"{shortcut}\">{csrf}\
             <input type=\"hidden\" name=\"action\" value=\"{key}\">\
             <fieldset><legend>{title}</legend>\
             <label for=\"reason-{key}\">{reason}</label><select id=\"reason-{key}\" name=\"reason_code\" required>{options}</select>\
             <label for=\"note-{key}\">{note}</label><textarea id=\"note-{key}\" name=\"note\" rows=\"2\" maxlength=\"2000\"></textarea>\
             <label for=\"msg-{key}\">{msg}</label><textarea id=\"msg-{key}\" name=\"user_message\" rows=\"2\" maxlength=\"500\"></textarea>\
             <button type=\"submit\" class=\"{class}\" id=\"submit-{key}\">{title}</button></fieldset></form>",
            id = esc(v.id.as_str()),
            csrf = csrf_field(&c.csrf()),
            title = esc(c.t(key)),
            reason = esc(c.t("reason")),
            note = esc(c.t("note")),
            msg = esc(c.t("user_message")),
        ));
    }
    out
}

async fn case_page(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let here = format!("/console/verifications/{id}");
    let case = match async { s.engine.console_case(&c.session, &id_of(&id)?).await }.await {
        Ok(case) => case,
        Err(e) => return c.error(&here, e),
    };
    let q = query_pairs(raw.as_deref());
    let v = &case.report.verification;
    let vid = esc(v.id.as_str());
    let mut body = String::new();
    match field(&q, "done") {
        Some("decided") => body.push_str(&notice("ok", c.t("decided"), v.status.as_str())),
        Some("proposed") => body.push_str(&notice("ok", c.t("decided"), c.t("proposed"))),
        _ => {}
    }
    body.push_str(&format!(
        "<p class=\"meta\">{status_l}: <strong id=\"status\">{status}</strong> · {created_l}: {created} · {reasons}</p>",
        status_l = esc(c.t("status")),
        status = esc(v.status.as_str()),
        created_l = esc(c.t("created")),
        created = esc(&fmt_time(v.created_at)),
        reasons = esc(&failed_reasons(v).join(", ")),
    ));
    if let Some(next) = &case.next {
        body.push_str(&format!(
            "<p><a href=\"/console/verifications/{}\" id=\"next-case\" data-shortcut=\"n\">{} →</a> <span class=\"help\">{}</span></p>",
            esc(next.as_str()),
            esc(c.t("next_case")),
            esc(c.t("shortcuts"))
        ));
    } else {
        body.push_str(&format!("<p class=\"help\">{}</p>", esc(c.t("shortcuts"))));
    }
    // Images side by side.
    body.push_str(&format!(
        "<section aria-labelledby=\"h-images\"><h2 id=\"h-images\">{}</h2><div class=\"images\">",
        esc(c.t("images"))
    ));
    for cap in &case.report.captures {
        let kind = cap.kind.as_str();
        if cap.available && cap.kind == CaptureKind::LivenessBurst {
            body.push_str(&burst_figure(&c, v, cap));
        } else if cap.available {
            body.push_str(&format!(
                "<figure class=\"viewer\"><div class=\"frame\"><img src=\"/console/verifications/{vid}/files/{fid}\" alt=\"{kind}\" class=\"shot\"></div>\
                 <figcaption>{kind} <button type=\"button\" class=\"zoom\" data-act=\"zoom\">{zoom}</button> \
                 <button type=\"button\" class=\"rotate\" data-act=\"rotate\">{rotate}</button> \
                 <a href=\"/console/verifications/{vid}/files/{fid}?download=1\">{download}</a></figcaption></figure>",
                fid = esc(cap.id.as_str()),
                kind = esc(kind),
                zoom = esc(c.t("zoom")),
                rotate = esc(c.t("rotate")),
                download = esc(c.t("download")),
            ));
        } else {
            body.push_str(&format!(
                "<figure class=\"viewer\"><p>{}</p><figcaption>{}</figcaption></figure>",
                esc(c.t("image_erased")),
                esc(kind)
            ));
        }
    }
    body.push_str("</div></section>");
    // Data, decision.
    body.push_str(&format!(
        "<div class=\"columns\"><section aria-labelledby=\"h-data\"><h2 id=\"h-data\">{}</h2>{}</section>\
         <section aria-labelledby=\"h-decide\"><h2 id=\"h-decide\">{}</h2>{}</section></div>",
        esc(c.t("data")),
        data_table(&c, v),
        esc(c.t("decide")),
        decision_forms(&c, v, case.four_eyes)
    ));
    // Checks and risks.
    let risks = risk_signals(v);
    body.push_str(&format!(
        "<section aria-labelledby=\"h-checks\"><h2 id=\"h-checks\">{}</h2><p>{}: <strong>{}</strong></p>\
         <div class=\"scroll\"><table class=\"checks\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(c.t("checks")),
        esc(c.t("risks")),
        esc(&if risks.is_empty() { c.t("no_risks").to_owned() } else { risks.join(", ") }),
        esc(c.t("check")),
        esc(c.t("result")),
        esc(c.t("what")),
        esc(c.t("figures")),
    ));
    for ch in &v.checks {
        body.push_str(&format!(
            "<tr class=\"{cls}\"><td>{name}</td><td>{result}</td><td>{detail}</td><td><details><summary>{show}</summary><code>{figures}</code></details></td></tr>",
            show = esc(c.t("figures")),
            cls = if ch.passed { "pass" } else { "fail" },
            name = esc(&ch.name),
            result = esc(if ch.passed { c.t("passed") } else { c.t("failed") }),
            detail = esc(&ch.detail),
            figures = esc(&ch.figures.to_string()),
        ));
    }
    body.push_str("</tbody></table></div></section>");
    // Decisions so far.
    body.push_str(&format!(
        "<section aria-labelledby=\"h-decisions\"><h2 id=\"h-decisions\">{}</h2>",
        esc(c.t("decisions"))
    ));
    match (&v.review, &case.proposal) {
        (None, None) => body.push_str(&format!("<p>{}</p>", esc(c.t("no_decision")))),
        (review, proposal) => {
            if let Some(p) = proposal {
                body.push_str(&format!(
                    "<p class=\"proposal\"><strong>{}</strong>: {:?} · {} · {} · {}</p>",
                    esc(c.t("first_decision")),
                    p.decision,
                    esc(&reason_label(c.lang, &p.reason_code)),
                    esc(&p.proposed_by),
                    esc(&fmt_time(p.proposed_at)),
                ));
            }
            if let Some(r) = review {
                body.push_str(&format!(
                    "<p class=\"review\">{:?} · {} · {}{} · {}</p>",
                    r.decision,
                    esc(&r.reason),
                    esc(&r.reviewer),
                    r.confirmed_by.as_ref().map_or_else(String::new, |c2| format!(" + {}", esc(c2))),
                    esc(&fmt_time(r.reviewed_at)),
                ));
            }
        }
    }
    body.push_str("</section>");
    // Attempts and the audit trail.
    body.push_str(&format!(
        "<section aria-labelledby=\"h-attempts\"><h2 id=\"h-attempts\">{}</h2><ul>",
        esc(c.t("attempts"))
    ));
    for a in &case.report.attempts {
        body.push_str(&format!(
            "<li><code>{}</code> · {} · {}</li>",
            esc(a.id.as_str()),
            esc(a.status.as_str()),
            esc(&fmt_time(a.created_at))
        ));
    }
    body.push_str("</ul></section>");
    body.push_str(&format!(
        "<section aria-labelledby=\"h-timeline\"><h2 id=\"h-timeline\">{}</h2><table class=\"timeline\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(c.t("timeline")),
        esc(c.t("when")),
        esc(c.t("what")),
        esc(c.t("who"))
    ));
    for e in &case.audit_trail {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&fmt_time(e.at)),
            esc(&e.action),
            esc(&e.actor)
        ));
    }
    body.push_str("</tbody></table></section>");
    // Downloads and the policy.
    body.push_str(&format!(
        "<section aria-labelledby=\"h-downloads\"><h2 id=\"h-downloads\">{}</h2><p><a href=\"/console/verifications/{vid}/report.pdf\">{}</a> · <a href=\"/console/verifications/{vid}/evidence.zip\">{}</a></p></section>\
         <details><summary>{}</summary><pre>{}</pre></details>",
        esc(c.t("downloads")),
        esc(c.t("report_pdf")),
        esc(c.t("evidence_zip")),
        esc(c.t("policy")),
        esc(&serde_json::to_string_pretty(&v.policy).unwrap_or_default()),
    ));
    c.page(StatusCode::OK, &here, &format!("{} {}", c.t("verification"), v.id), &body)
}

async fn decision_post(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let pairs = form(&body);
    let here = format!("/console/verifications/{id}");
    let c = match post_ctx(&s, &headers, &pairs, &here).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let action = match field(&pairs, "action") {
        Some("approve") => ReviewAction::Approve,
        Some("decline") => ReviewAction::Decline,
        Some("retry") => ReviewAction::Retry,
        _ => return c.problem(StatusCode::BAD_REQUEST, &here, "choose approve, decline or request a new capture"),
    };
    let d = ConsoleDecision {
        action,
        reason_code: field(&pairs, "reason_code").unwrap_or_default().to_owned(),
        note: field(&pairs, "note").unwrap_or_default().to_owned(),
        user_message: field(&pairs, "user_message").unwrap_or_default().to_owned(),
    };
    match async { s.engine.console_decide(&c.session, &id_of(&id)?, d).await }.await {
        Ok(DecideOutcome::Decided(_)) => see_other(&format!("{here}?done=decided"), &[]),
        Ok(DecideOutcome::AwaitingSecondReviewer) => see_other(&format!("{here}?done=proposed"), &[]),
        Err(e) => c.error(&here, e),
    }
}

/// A liveness burst on the case page: each frame (streamed from the encrypted store like
/// the other images) with its yaw, pitch and parallax, the steps asked and the reasons,
/// from the burst's `liveness` check.
fn burst_figure(c: &Ctx, v: &Verification, cap: &Capture) -> String {
    let vid = esc(v.id.as_str());
    let fid = esc(cap.id.as_str());
    let check = v
        .checks
        .iter()
        .find(|ch| ch.name == "liveness" && ch.figures.get("file_id").and_then(|f| f.as_str()) == Some(cap.id.as_str()));
    let mut out = format!(
        "<figure class=\"viewer burst\"><figcaption><strong>{}</strong> <a href=\"/console/verifications/{vid}/files/{fid}?download=1\">{}</a></figcaption>",
        esc(c.t("liveness_frames")),
        esc(c.t("download")),
    );
    let Some(check) = check else {
        out.push_str(&format!("<p>{}</p></figure>", esc(c.t("liveness_unprocessed"))));
        return out;
    };
    let f = &check.figures;
    let words = |key: &str| -> String {
        f[key]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    out.push_str(&format!(
        "<p>{}: {} · {}: {}</p><div class=\"frames\">",
        esc(c.t("liveness_asked")),
        esc(&words("challenge")),
        esc(c.t("liveness_reasons")),
        esc(&words("reasons")),
    ));
    let n = f["frames"].as_u64().unwrap_or(0);
    let num = |key: &str, i: u64| {
        f[key]
            .get(i as usize)
            .filter(|x| !x.is_null())
            .map_or_else(|| "–".to_owned(), ToString::to_string)
    };
    for i in 0..n {
        out.push_str(&format!(
            "<figure class=\"burst-frame\"><img src=\"/console/verifications/{vid}/files/{fid}?frame={i}\" alt=\"{frame} {i}\" loading=\"lazy\" class=\"thumb\">\
             <figcaption>{frame} {i} · {yaw_l} {yaw} · {pitch_l} {pitch} · {par_l} {par}</figcaption></figure>",
            frame = esc(c.t("liveness_frame")),
            yaw_l = esc(c.t("yaw")),
            pitch_l = esc(c.t("pitch")),
            par_l = esc(c.t("parallax")),
            yaw = esc(&num("yaw", i)),
            pitch = esc(&num("pitch", i)),
            par = esc(&num("parallax", i)),
        ));
    }
    out.push_str("</div></figure>");
    out
}

async fn image(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, file)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let c = match ctx(&s, &headers, None).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let here = format!("/console/verifications/{id}");
    let got = async {
        let file: FileId = file.parse().map_err(|_| EngineError::NotFound("file"))?;
        s.engine.console_image(&c.session, &id_of(&id)?, &file).await
    }
    .await;
    // A burst's frame (`?frame=N`) is served as the JPEG it is.
    let frame = field(&query_pairs(raw.as_deref()), "frame").map(|f| f.parse::<usize>());
    let mut resp = match (got, frame) {
        (Ok((cap, stream)), Some(i)) if cap.kind == CaptureKind::LivenessBurst => {
            match kycd_engine::liveness::burst_frame(cap, stream, i.ok()).await {
                Ok((frame, jpeg)) => crate::api::capture_download(&frame, jpeg),
                Err(e) => return c.error(&here, e),
            }
        }
        (Ok((cap, stream)), _) => crate::api::streamed_capture(&cap, stream),
        (Err(e), _) => return c.error(&here, e),
    };
    if field(&query_pairs(raw.as_deref()), "download").is_none() {
        resp.headers_mut()
            .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    resp
}

async fn report_pdf(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let c = match ctx(&s, &headers, None).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let got = async {
        let ex = s
            .engine
            .evidence_export(&c.session.principal, &id_of(&id)?, "evidence.pdf.read")
            .await?;
        let pdf = s.engine.render_pdf(&ex).await?;
        Ok::<_, EngineError>((pdf, ex.verification_id().to_string()))
    }
    .await;
    match got {
        Ok((pdf, vid)) => crate::api::download(pdf, "application/pdf", &format!("{vid}-report.pdf")),
        Err(e) => c.error(&format!("/console/verifications/{id}"), e),
    }
}

async fn evidence_zip(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let c = match ctx(&s, &headers, None).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let got = async {
        let ex = s
            .engine
            .evidence_export(&c.session.principal, &id_of(&id)?, "evidence.zip.read")
            .await?;
        let name = format!("{}-evidence.zip", ex.verification_id());
        Ok::<_, EngineError>((s.engine.stream_evidence_zip(ex).await?, name))
    }
    .await;
    match got {
        Ok((rx, name)) => {
            let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
            crate::api::download(axum::body::Body::from_stream(stream), "application/zip", &name)
        }
        Err(e) => c.error(&format!("/console/verifications/{id}"), e),
    }
}

// ----- admin --------------------------------------------------------------------------

async fn admin_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match admin_body(&s, &c, None, None).await {
        Ok(body) => c.page(StatusCode::OK, "/console/admin", c.t("admin"), &body),
        Err(e) => c.error("/console/admin", e),
    }
}

/// The admin page; `shown_once` is a notice with a secret (invitation link, API key).
async fn admin_body(s: &AppState, c: &Ctx, shown_once: Option<(&str, &str)>, policy_text: Option<&str>) -> Result<String, EngineError> {
    let ops = s.engine.list_operators(&c.session).await?;
    let keys = s.engine.console_api_keys(&c.session).await?;
    let hooks = s.engine.list_webhook_endpoints(&c.session.principal).await?;
    let tenant = s.engine.tenant(&c.session.principal).await?;
    let four_eyes = s.engine.four_eyes(&c.session.operator.tenant_id).await?;
    let csrf = c.csrf();
    let mut b = String::new();
    if let Some((title, secret)) = shown_once {
        b.push_str(&format!(
            "<div class=\"notice ok\" role=\"status\"><p><strong>{}</strong></p><p><code class=\"secret\" id=\"shown-once\">{}</code></p></div>",
            esc(title),
            esc(secret)
        ));
    }
    // Operators.
    b.push_str(&format!(
        "<section aria-labelledby=\"h-ops\"><h2 id=\"h-ops\">{}</h2><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\"></th></tr></thead><tbody>",
        esc(c.t("operators")),
        esc(c.t("email")),
        esc(c.t("role")),
        esc(c.t("state")),
        esc(c.t("two_factor"))
    ));
    for o in &ops {
        let state = if o.disabled {
            c.t("disabled")
        } else if o.active {
            c.t("active")
        } else {
            c.t("pending_invite")
        };
        let base = format!("/console/admin/operators/{}", o.id);
        let mut actions = button_form(&format!("{base}/reinvite"), &csrf, c.t("reinvite"), "link");
        if o.id != c.session.operator.id {
            let (act, label) = if o.disabled {
                ("enable", c.t("enable"))
            } else {
                ("disable", c.t("disable"))
            };
            actions.push_str(&button_form(&format!("{base}/{act}"), &csrf, label, "link"));
        }
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&o.email),
            esc(role_label(c.lang, o.role)),
            esc(state),
            esc(if o.totp_enabled { c.t("on") } else { c.t("off") }),
            actions
        ));
    }
    b.push_str(&format!(
        "</tbody></table><form method=\"post\" action=\"/console/admin/operators\" class=\"row\">{}\
         <label>{}<input type=\"email\" name=\"email\" required></label>\
         <label>{}<select name=\"role\"><option value=\"reviewer\">{}</option><option value=\"admin\">{}</option></select></label>\
         <button type=\"submit\">{}</button></form></section>",
        csrf_field(&csrf),
        esc(c.t("email")),
        esc(c.t("role")),
        esc(c.t("reviewer")),
        esc(c.t("admin_role")),
        esc(c.t("invite")),
    ));
    // Settings.
    let r = tenant.retention;
    b.push_str(&format!(
        "<section aria-labelledby=\"h-settings\"><h2 id=\"h-settings\">{}</h2><form method=\"post\" action=\"/console/admin/settings\" class=\"stack\">{}\
         <label class=\"check\"><input type=\"checkbox\" name=\"four_eyes\" value=\"on\"{}> {}</label>\
         <label>{}<input type=\"number\" name=\"retention_days\" min=\"1\" value=\"{}\" required></label>\
         <label>{}<input type=\"number\" name=\"max_retention_days\" min=\"1\" value=\"{}\" required></label>\
         <label>{}<input type=\"number\" name=\"tombstone_days\" min=\"0\" value=\"{}\" required></label>\
         <button type=\"submit\">{}</button></form></section>",
        esc(c.t("settings")),
        csrf_field(&csrf),
        if four_eyes { " checked" } else { "" },
        esc(c.t("four_eyes")),
        esc(c.t("retention_days")),
        r.retention_days,
        esc(c.t("max_retention_days")),
        r.max_retention_days,
        esc(c.t("tombstone_days")),
        r.tombstone_days,
        esc(c.t("save")),
    ));
    // The default policy, versioned.
    let (version, policy, history) = s.engine.tenant_policy(&c.session.principal).await?;
    let policy_json = policy_text.map_or_else(|| serde_json::to_string_pretty(&policy).unwrap_or_default(), str::to_owned);
    let versions: String = history
        .iter()
        .map(|h| {
            format!(
                "<li>v{} · {} · {}</li>",
                h.version,
                esc(&h.created_by),
                esc(&fmt_time(h.created_at))
            )
        })
        .collect();
    b.push_str(&format!(
        "<section aria-labelledby=\"h-policy\"><h2 id=\"h-policy\">{title}</h2><p class=\"help\">{text}</p><p>{current}: <strong id=\"policy-version\">{version}</strong></p>\
         <form method=\"post\" action=\"/console/admin/policy\" class=\"stack\">{csrf}<label for=\"policy\">{title} (JSON)</label>\
         <textarea id=\"policy\" name=\"policy\" rows=\"12\" class=\"code\" spellcheck=\"false\">{json}</textarea><button type=\"submit\">{save}</button></form><ul>{versions}</ul></section>",
        title = esc(c.t("policy")),
        text = esc(c.t("policy_text")),
        current = esc(c.t("policy_version")),
        version = version.map_or_else(|| c.t("policy_defaults").to_owned(), |v| format!("v{v}")),
        csrf = csrf_field(&csrf),
        json = esc(&policy_json),
        save = esc(c.t("save")),
    ));
    // API keys.
    b.push_str(&format!(
        "<section aria-labelledby=\"h-keys\"><h2 id=\"h-keys\">{}</h2><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\"></th></tr></thead><tbody>",
        esc(c.t("api_keys")),
        esc(c.t("key")),
        esc(c.t("scope")),
        esc(c.t("created")),
    ));
    for k in &keys {
        let action = match k.revoked_at {
            Some(at) => format!("{} {}", esc(c.t("revoked")), esc(&fmt_time(at))),
            None => button_form(
                &format!("/console/admin/api-keys/{}/revoke", k.id),
                &csrf,
                c.t("revoke"),
                "link danger",
            ),
        };
        b.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(k.id.as_str()),
            esc(k.scope.as_str()),
            esc(&fmt_time(k.created_at)),
            action
        ));
    }
    b.push_str(&format!(
        "</tbody></table><form method=\"post\" action=\"/console/admin/api-keys\" class=\"row\">{}\
         <label>{}<select name=\"scope\"><option value=\"integration\">integration</option><option value=\"reviewer\">reviewer</option><option value=\"admin\">admin</option></select></label>\
         <button type=\"submit\">{}</button></form></section>",
        csrf_field(&csrf),
        esc(c.t("scope")),
        esc(c.t("create_key")),
    ));
    // Webhooks.
    b.push_str(&format!(
        "<section aria-labelledby=\"h-hooks\"><h2 id=\"h-hooks\">{}</h2>",
        esc(c.t("webhooks"))
    ));
    if hooks.is_empty() {
        b.push_str(&format!("<p>{}</p>", esc(c.t("none_yet"))));
    } else {
        b.push_str("<ul>");
        for h in &hooks {
            let (act, label) = if h.enabled {
                ("disable", c.t("disable"))
            } else {
                ("enable", c.t("enable"))
            };
            b.push_str(&format!(
                "<li><code>{}</code> · {} · <a href=\"/console/admin/webhooks/{}\">{}</a> {}</li>",
                esc(&h.url),
                esc(if h.enabled { c.t("active") } else { c.t("disabled") }),
                esc(h.id.as_str()),
                esc(c.t("deliveries")),
                button_form(&format!("/console/admin/webhooks/{}/{act}", h.id), &csrf, label, "link"),
            ));
        }
        b.push_str("</ul>");
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"/console/admin/webhooks\" class=\"row\">{}<label class=\"wide\">{}<input type=\"url\" name=\"url\" required placeholder=\"https://\"></label><button type=\"submit\">{}</button></form></section>",
        csrf_field(&csrf),
        esc(c.t("url")),
        esc(c.t("add_endpoint")),
    ));
    Ok(b)
}

/// An admin form's session and fields (the form token checked).
async fn admin_form(s: &AppState, headers: &HeaderMap, body: &Bytes) -> Result<(Ctx, Vec<(String, String)>), Response> {
    let pairs = form(body);
    let c = post_ctx(s, headers, &pairs, "/console/admin").await?;
    Ok((c, pairs))
}

/// After an admin action: back to the admin page, or the page with a secret shown once.
async fn admin_done(s: &AppState, c: &Ctx, result: Result<Option<(&str, String)>, EngineError>) -> Response {
    match result {
        Ok(None) => see_other("/console/admin", &[]),
        Ok(Some((title, secret))) => match admin_body(s, c, Some((title, &secret)), None).await {
            Ok(body) => c.page(StatusCode::OK, "/console/admin", c.t("admin"), &body),
            Err(e) => c.error("/console/admin", e),
        },
        Err(e) => c.error("/console/admin", e),
    }
}

async fn invite_operator_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let role = match field(&pairs, "role") {
        Some("admin") => OperatorRole::Admin,
        _ => OperatorRole::Reviewer,
    };
    let email = field(&pairs, "email").unwrap_or_default();
    let r = s
        .engine
        .invite_operator(&c.session, email, role)
        .await
        .map(|inv| Some((c.t("invited"), inv.url)));
    admin_done(&s, &c, r).await
}

async fn operator_action_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((op, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (c, _) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let id: OperatorId = op.parse().map_err(|_| EngineError::NotFound("operator"))?;
        match action.as_str() {
            "disable" => s.engine.set_operator_disabled(&c.session, &id, true).await.map(|()| None),
            "enable" => s.engine.set_operator_disabled(&c.session, &id, false).await.map(|()| None),
            "reinvite" => s
                .engine
                .reinvite_operator(&c.session, &id)
                .await
                .map(|inv| Some((c.t("invited"), inv.url))),
            _ => Err(EngineError::NotFound("operator action")),
        }
    }
    .await;
    admin_done(&s, &c, r).await
}

async fn settings_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let four_eyes = field(&pairs, "four_eyes") == Some("on");
        let num = |k: &str| -> Result<u32, EngineError> {
            field(&pairs, k)
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| EngineError::Invalid(format!("{k} must be a whole number of days")))
        };
        let retention = RetentionSettings {
            retention_days: num("retention_days")?,
            max_retention_days: num("max_retention_days")?,
            tombstone_days: num("tombstone_days")?,
        };
        s.engine.set_retention(&c.session.principal, retention).await?;
        s.engine.set_four_eyes(&c.session, four_eyes).await?;
        Ok(None)
    }
    .await;
    admin_done(&s, &c, r).await
}

async fn create_key_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let scope = field(&pairs, "scope")
            .and_then(Scope::parse)
            .ok_or_else(|| EngineError::Invalid("choose the key's scope: integration, reviewer or admin".into()))?;
        let key = s.engine.console_create_api_key(&c.session, scope).await?;
        Ok(Some((c.t("key_created"), format!("{} {}", key.key_id, key.api_key))))
    }
    .await;
    admin_done(&s, &c, r).await
}

async fn revoke_key_post(State(s): State<AppState>, headers: HeaderMap, Path(key): Path<String>, body: Bytes) -> Response {
    let (c, _) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let id: ApiKeyId = key.parse().map_err(|_| EngineError::NotFound("API key"))?;
        s.engine.console_revoke_api_key(&c.session, &id).await.map(|()| None)
    }
    .await;
    admin_done(&s, &c, r).await
}

async fn policy_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let text = field(&pairs, "policy").unwrap_or_default();
    let parsed =
        serde_json::from_str::<Policy>(text).map_err(|e| EngineError::Invalid(format!("the policy is not valid JSON for a policy: {e}")));
    match async { s.engine.set_tenant_policy(&c.session.principal, parsed?).await }.await {
        Ok(_) => see_other("/console/admin", &[]),
        // Shown again with the reviewer's text, so nothing typed is lost.
        Err(EngineError::Invalid(m)) => match admin_body(&s, &c, None, Some(text)).await {
            Ok(body) => {
                let body = format!("{}{body}", notice("problem", c.t("problem"), &m));
                c.page(StatusCode::BAD_REQUEST, "/console/admin", c.t("admin"), &body)
            }
            Err(e) => c.error("/console/admin", e),
        },
        Err(e) => c.error("/console/admin", e),
    }
}

async fn create_webhook_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let new = kycd_engine::webhooks::NewEndpoint {
        url: field(&pairs, "url").unwrap_or_default().trim().to_owned(),
        description: None,
        events: EventFilter::All,
        format: WebhookFormat::Kycd,
    };
    let r = s
        .engine
        .create_webhook_endpoint(&c.session.principal, new)
        .await
        .map(|(ep, secret)| Some((c.t("endpoint_created"), format!("{} {secret}", ep.id))));
    admin_done(&s, &c, r).await
}

async fn webhook_action_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (c, _) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let id: WebhookEndpointId = id.parse().map_err(|_| EngineError::NotFound("webhook endpoint"))?;
        let enabled = match action.as_str() {
            "enable" => true,
            "disable" => false,
            _ => return Err(EngineError::NotFound("webhook endpoint action")),
        };
        let patch = kycd_engine::webhooks::EndpointPatch {
            url: None,
            description: None,
            events: None,
            format: None,
            enabled: Some(enabled),
        };
        s.engine
            .update_webhook_endpoint(&c.session.principal, &id, patch)
            .await
            .map(|_| None)
    }
    .await;
    admin_done(&s, &c, r).await
}

async fn redeliver_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, delivery)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (c, _) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let endpoint: WebhookEndpointId = id.parse().map_err(|_| EngineError::NotFound("webhook endpoint"))?;
        let delivery: DeliveryId = delivery.parse().map_err(|_| EngineError::NotFound("webhook delivery"))?;
        s.engine.redeliver(&c.session.principal, &endpoint, &delivery).await
    }
    .await;
    match r {
        Ok(_) => see_other(&format!("/console/admin/webhooks/{id}"), &[]),
        Err(e) => c.error(&format!("/console/admin/webhooks/{id}"), e),
    }
}

async fn webhook_page(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let here = format!("/console/admin/webhooks/{id}");
    let got = async {
        if !c.session.is_admin() {
            return Err(EngineError::Forbidden("admins only".into()));
        }
        let id: WebhookEndpointId = id.parse().map_err(|_| EngineError::NotFound("webhook endpoint"))?;
        let ep = s.engine.get_webhook_endpoint(&c.session.principal, &id).await?;
        let deliveries = s.engine.list_webhook_deliveries(&c.session.principal, &id, 100).await?;
        Ok((ep, deliveries))
    }
    .await;
    let (ep, deliveries) = match got {
        Ok(x) => x,
        Err(e) => return c.error(&here, e),
    };
    let mut b = format!(
        "<p><code>{}</code></p><table><thead><tr><th scope=\"col\"></th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(&ep.url),
        esc(c.t("when")),
        esc(c.t("event")),
        esc(c.t("status")),
        esc(c.t("attempt_count")),
        esc(c.t("last_status")),
    );
    let csrf = c.csrf();
    for (d, event) in &deliveries {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            button_form(
                &format!("/console/admin/webhooks/{}/deliveries/{}/redeliver", ep.id, d.id),
                &csrf,
                c.t("redeliver"),
                "link"
            ),
            esc(&fmt_time(d.created_at)),
            esc(event.as_str()),
            esc(d.status.as_str()),
            d.attempts,
            esc(&d
                .last_status_code
                .map_or_else(|| d.last_error.clone().unwrap_or_default(), |c| c.to_string())),
        ));
    }
    if deliveries.is_empty() {
        b.push_str(&format!("<tr><td colspan=\"6\">{}</td></tr>", esc(c.t("none_yet"))));
    }
    b.push_str(&format!(
        "</tbody></table><p><a href=\"/console/admin\">{}</a></p>",
        esc(c.t("back"))
    ));
    c.page(StatusCode::OK, &here, c.t("deliveries"), &b)
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
        let html = layout(Lang::Fr, None, "/console/login", "<x>", "<p>ok</p>");
        assert!(html.contains("&lt;x&gt;"));
        assert!(html.contains("lang=\"fr\""));
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"/console/static/console.js\" defer></script>"));
        assert!(!html.contains("style="));
    }
}
