//! Signing in and out, accepting an invitation, and the operator's own account (TOTP).

use super::i18n::{reason_label, t};
use super::shared::{
    COOKIE, Ctx, LOGIN_COOKIE, csrf_field, ctx, field, form, html_response, internal, language, layout, notice, post_ctx, query_pairs,
    retry_after, secure_attr,
};
use crate::AppState;
use crate::capture::html::esc;
use crate::capture::i18n::Lang;
use crate::capture::{cookie, see_other};
use crate::extract::ClientAddr;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use kycd_core::*;
use kycd_engine::console::{
    ConsoleDecision, DecideOutcome, OperatorSession, QueueFilter, REVIEW_REASONS, ReviewAction, failed_reasons, form_token,
    form_token_matches, new_totp_secret, risk_signals,
};
use kycd_engine::decision::document_facts;
use kycd_engine::{EngineError, OperatorRole};

pub(super) async fn home(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match ctx(&s, &headers, None).await {
        Ok(_) => see_other("/console/queue", &[]),
        Err(r) => r,
    }
}

pub(super) fn login_form(lang: Lang, token: &str, problem: Option<(&str, &str)>, ended: bool) -> String {
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
pub(super) fn login_token(s: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
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

pub(super) async fn login_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
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

pub(super) async fn login_post(State(s): State<AppState>, ClientAddr(from): ClientAddr, headers: HeaderMap, body: Bytes) -> Response {
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

pub(super) async fn logout_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
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

pub(super) fn invite_form(lang: Lang, token: &str, problem: Option<&str>) -> String {
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

pub(super) async fn invite_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
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
pub(super) async fn invite_post(State(s): State<AppState>, ClientAddr(from): ClientAddr, headers: HeaderMap, body: Bytes) -> Response {
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

pub(super) async fn account_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    c.page(StatusCode::OK, "/console/account", c.t("account"), &account_body(&c, None))
}

pub(super) fn account_body(c: &Ctx, problem: Option<&str>) -> String {
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

pub(super) async fn totp_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
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
