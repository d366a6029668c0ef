//! Continuing on a phone: the handoff link, its QR code, the desktop's waiting page, and
//! the phone's own session.

use super::framed_for;
use super::html::{self, Head, notice, p};
use super::session::{Posted, Session, ask, internal, link_not_found, next_path, query, refused, see_other, session, session_cookie};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kycd_engine::EngineError;
use maud::html;

pub(super) async fn handoff_post(State(s): State<AppState>, Posted(sess, _): Posted) -> Response {
    match s.engine.start_handoff(&sess.ctx, &sess.secret).await {
        Ok(_) => sess.redirect("/capture/handoff"),
        Err(e) => refused(&sess, e),
    }
}

/// The desktop's page while the person continues on the phone: the QR code until the
/// phone opens the link, then what is done and what is left; it reloads itself every 5 s
/// (no script) and moves on once the phone has submitted.
pub(super) async fn handoff_page(State(s): State<AppState>, sess: Session) -> Response {
    let here = "/capture/handoff";
    let ctx = &sess.ctx;
    if !ctx.is_open() {
        return sess.next();
    }
    let h = match s.engine.handoff_status(ctx, &sess.secret).await {
        Ok(Some(h)) => h,
        Ok(None) => return sess.next(),
        Err(e) => return refused(&sess, e),
    };
    let t = sess.lang().capture();
    let lang = sess.lang();
    let body = html! {
        @if h.opened {
            (notice("info", t.phone_title, t.phone_opened))
            ul class="progress" {
                @for k in ctx.required() {
                    li { (lang.step(k).0) " — " (if ctx.is_done(k) { t.phone_done } else { t.phone_pending }) }
                }
            }
        } @else {
            (p(t.phone_scan))
            p class="qr" { img src="/capture/handoff/qr.svg" alt=(t.phone_qr_alt) width="240" height="240"; }
            p class="link" { a href=(h.url) { (h.url) } }
            (notice("info", t.phone_title, t.phone_waiting))
        }
    };
    let every_5s = Head {
        refresh: Some(5),
        ..Head::default()
    };
    sess.page_with(StatusCode::OK, here, t.phone_title, every_5s, body)
}

/// The handoff link as a QR code (SVG; the `qrcode` crate: a QR encoder is not something
/// to write by hand).
pub(super) async fn handoff_qr(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let sess = match session(&s, &headers, raw, "/capture/handoff").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Some(h)) = s.engine.handoff_status(&sess.ctx, &sess.secret).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(code) = qrcode::QrCode::new(h.url.as_bytes()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    let mut resp = svg.into_response();
    let hd = resp.headers_mut();
    hd.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    hd.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The phone opens the handoff link: a session of its own for the same attempt.
pub(super) async fn continue_on_phone(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let a = ask(&s, &headers, &q, None);
    let t = a.lang.capture();
    let token = q.token.as_deref().map(str::trim).unwrap_or_default();
    match s.engine.open_handoff_session(token).await {
        Ok(opened) => framed_for(
            &opened.context,
            see_other(
                &next_path(&opened.context),
                &[Some(session_cookie(&opened, a.secure)), a.lang_cookie],
            ),
        ),
        Err(e @ EngineError::NotFound(_)) => link_not_found(a.lang, e),
        Err(EngineError::Gone(msg)) => html::error_page(StatusCode::GONE, a.lang, t.link_used_title, &msg, t.ask_new_link).into_response(),
        Err(e) => internal(a.lang, e),
    }
}
