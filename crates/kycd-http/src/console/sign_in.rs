//! Signing in and out, accepting an invitation, and the operator's own account (TOTP).

use super::shared::{
    COOKIE, Ctx, LOGIN_COOKIE, csrf_field, ctx, field, form, html_response, internal, language, layout, notice, post_ctx, query_pairs,
    retry_after,
};
use crate::AppState;
use crate::capture::see_other;
use crate::cookies;
use crate::extract::ClientAddr;
use crate::i18n::Lang;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kycd_core::*;
use kycd_engine::EngineError;
use kycd_engine::console::new_totp_secret;
use maud::{Markup, html};

pub(super) async fn home(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match ctx(&s, &headers, None).await {
        Ok(_) => see_other("/console/queue", &[]),
        Err(r) => r,
    }
}

pub(super) fn login_form(lang: Lang, token: &str, problem: Option<(&str, &str)>, ended: bool) -> Markup {
    html! {
        @if ended {
            (notice("info", lang.console().session_over, lang.console().session_over_text))
        }
        @if let Some((title, text)) = problem {
            (notice("problem", title, text))
        }
        form method="post" action="/console/login" class="stack narrow" {
            (csrf_field(token))
            label for="email" { (lang.console().email) }
            input id="email" name="email" type="email" autocomplete="username" required autofocus;
            label for="password" { (lang.console().password) }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            label for="code" { (lang.console().code) }
            input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" aria-describedby="code-help";
            p id="code-help" class="help" { (lang.console().code_help) }
            button type="submit" class="primary" { (lang.console().sign_in) }
        }
    }
}

/// The sign-in form's anti-forgery token: a random value in a pre-session cookie that the
/// form echoes (a cross-site form post carries neither).
pub(super) fn login_token(s: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match cookies::read(headers, LOGIN_COOKIE).filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_alphanumeric())) {
        Some(v) => (v, None),
        None => {
            let v = random_token(32);
            let c = cookies::kept_for(
                cookies::strict_http_only(LOGIN_COOKIE, v.clone(), "/console", cookies::secure(s)),
                3600,
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
    let body = html! {
        @if done {
            (notice("ok", lang.console().saved, lang.console().invite_done))
        }
        (login_form(lang, &token, None, ended))
    };
    let html = layout(lang, None, "/console/login", lang.console().sign_in, body);
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
            lang.console().sign_in,
            login_form(lang, &token, Some((title, text)), false),
        );
        html_response(status, html, token_cookie.iter().cloned().collect())
    };
    if token_cookie.is_some() || field(&pairs, "csrf") != Some(token.as_str()) {
        return refuse(StatusCode::FORBIDDEN, lang.console().form_expired, lang.console().form_expired_text);
    }
    let email = field(&pairs, "email").unwrap_or_default();
    let password = field(&pairs, "password").unwrap_or_default();
    match s.engine.operator_sign_in(email, password, field(&pairs, "code"), from).await {
        Ok(signed) => {
            let c = cookies::strict_http_only(COOKIE, signed.secret, "/console", cookies::secure(&s));
            see_other("/console/queue", &[Some(c.to_string())])
        }
        Err(EngineError::Unauthorized(m)) => refuse(StatusCode::UNAUTHORIZED, lang.console().sign_in_failed, &m),
        Err(EngineError::RateLimited { detail, retry_after_secs }) => retry_after(
            refuse(StatusCode::TOO_MANY_REQUESTS, lang.console().locked, &detail),
            retry_after_secs,
        ),
        Err(EngineError::Busy { detail, retry_after_secs }) => retry_after(
            refuse(StatusCode::SERVICE_UNAVAILABLE, lang.console().busy, &detail),
            retry_after_secs,
        ),
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
    let gone = cookies::kept_for(cookies::strict_http_only(COOKIE, String::new(), "/console", cookies::secure(&s)), 0);
    see_other("/console/login", &[Some(gone)])
}

pub(super) fn invite_form(lang: Lang, token: &str, problem: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = problem {
            (notice("problem", lang.console().problem, m))
        }
        p { (lang.console().invite_text) }
        form method="post" action="/console/invite" class="stack narrow" {
            input type="hidden" name="token" value=(token);
            label for="password" { (lang.console().password) }
            input id="password" name="password" type="password" autocomplete="new-password" minlength="12" required;
            label for="password2" { (lang.console().password_again) }
            input id="password2" name="password2" type="password" autocomplete="new-password" minlength="12" required;
            button type="submit" class="primary" { (lang.console().save) }
        }
    }
}

pub(super) async fn invite_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let (lang, lang_cookie) = language(&s, &headers, raw.as_deref());
    let pairs = query_pairs(raw.as_deref());
    let token = field(&pairs, "token").unwrap_or_default();
    let html = layout(
        lang,
        None,
        "/console/invite",
        lang.console().invite_title,
        invite_form(lang, token, None),
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
                lang.console().invite_title,
                invite_form(lang, token, Some(m)),
            ),
            Vec::new(),
        )
    };
    if Some(password) != field(&pairs, "password2") {
        return page(StatusCode::BAD_REQUEST, lang.console().passwords_differ);
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

pub(super) async fn account_page(c: Ctx) -> Response {
    c.page(StatusCode::OK, "/console/account", c.t().account, account_body(&c, None))
}

pub(super) fn account_body(c: &Ctx, problem: Option<&str>) -> Markup {
    let replacing = c.session.operator.totp_enabled;
    let secret = new_totp_secret();
    let uri = format!(
        "otpauth://totp/kycd:{}?secret={secret}&issuer=kycd",
        serde_urlencoded::to_string([("", &c.session.operator.email)])
            .unwrap_or_default()
            .trim_start_matches('=')
    );
    html! {
        h2 { (c.t().totp_title) }
        @if let Some(m) = problem {
            (notice("problem", c.t().problem, m))
        }
        @if replacing {
            (notice("ok", c.t().two_factor, c.t().totp_on))
            h3 { (c.t().totp_replace) }
            p { (c.t().totp_replace_text) }
        }
        p { (c.t().totp_setup) }
        p { (c.t().totp_key) ": " code class="secret" { (secret) } }
        p { a href=(uri) { (c.t().totp_link) } }
        form method="post" action="/console/account/totp" class="stack narrow" {
            (csrf_field(&c.csrf()))
            input type="hidden" name="secret" value=(secret);
            label for="code" { (c.t().code) }
            input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required;
            @if replacing {
                label for="current_code" { (c.t().totp_current_code) }
                input id="current_code" name="current_code" inputmode="numeric" autocomplete="one-time-code" required;
            }
            button type="submit" class="primary" { (if replacing { c.t().totp_replace } else { c.t().totp_enable }) }
        }
    }
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
            c.t().account,
            account_body(&c, Some(&m)),
        ),
        Err(e) => c.error("/console/account", e),
    }
}
