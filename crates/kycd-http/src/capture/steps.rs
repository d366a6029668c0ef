//! The capture steps: a step page with its camera and file form, an upload, and keeping
//! an image the checks found hard to read.

use super::html::{button_form, csrf_field, notice, p};
use super::liveness::{burst_post, liveness_body};
use super::session::{Session, form_field, internal, next_path, post_session, query, refused, session};
use crate::AppState;
use crate::i18n::Lang;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use kycd_core::CaptureKind;
use kycd_engine::EngineError;
use kycd_engine::capture::{CaptureContext, form_token_matches};
use maud::{Markup, html};

/// The step's kind, if it is one the chosen document needs.
pub(super) fn step_kind(ctx: &CaptureContext, raw: &str) -> Option<CaptureKind> {
    raw.parse().ok().filter(|k| ctx.required().contains(k))
}

pub(super) fn advice_lines(lang: Lang, c: &kycd_core::Capture) -> Vec<String> {
    let lines: Vec<String> = c.feedback.issues.iter().filter_map(|code| lang.advice(code)).collect();
    if !lines.is_empty() {
        return lines;
    }
    // A code without a translation (e.g. test-mode mock feedback): the engine's words in
    // English, a generic line in French.
    match lang {
        Lang::En if !c.feedback.message.trim().is_empty() => vec![c.feedback.message.clone()],
        _ => vec![lang.capture().not_usable_generic.to_owned()],
    }
}

/// The top of a step page: "Step n of m", the "looks good" of the step before, the problem
/// of the upload just refused.
pub(super) fn step_header(sess: &Session, kind: CaptureKind, ok: Option<&str>, problem: Option<&str>) -> Markup {
    let ctx = &sess.ctx;
    let lang = sess.lang();
    let t = lang.capture();
    let required = ctx.required();
    let n = required.iter().position(|k| *k == kind).map_or(1, |i| i + 1);
    let step_of = t
        .step_of
        .replace("{n}", &n.to_string())
        .replace("{total}", &required.len().to_string());
    html! {
        p class="step" { (step_of) }
        @if let Some(prev) = ok.and_then(|k| k.parse::<CaptureKind>().ok()).filter(|k| ctx.is_done(*k)) {
            (notice("ok", lang.step(prev).0, t.looks_good))
        }
        @if let Some(m) = problem {
            (notice("problem", t.upload_failed, m))
        }
    }
}

/// "Continue on your phone" (the desktop-to-phone handoff) of a step page.
pub(super) fn handoff_section(sess: &Session) -> Markup {
    let t = sess.lang().capture();
    html! {
        section class="handoff" aria-labelledby="phone-heading" {
            h2 id="phone-heading" { (t.phone_title) }
            (p(t.phone_text))
            (button_form("/capture/handoff", &sess.csrf(), t.phone_button, "secondary"))
        }
    }
}

/// A "continue" link to where the flow goes next.
pub(super) fn continue_link(sess: &Session) -> Markup {
    html! { p { a href=(next_path(&sess.ctx)) { (sess.lang().capture().continue_) } } }
}

pub(super) fn step_body(sess: &Session, kind: CaptureKind, ok: Option<&str>, problem: Option<&str>) -> (String, Markup) {
    let ctx = &sess.ctx;
    let lang = sess.lang();
    let t = lang.capture();
    let (title, help) = lang.step(kind);
    let last = ctx.capture(kind);
    let kept = ctx.flow.kept_anyway.contains(&kind);
    let failed = last.filter(|c| !c.feedback.accepted && !kept);
    let facing = if kind == CaptureKind::Selfie { "user" } else { "environment" };
    let action = format!("/capture/step/{kind}");
    let body = html! {
        (step_header(sess, kind, ok, problem))
        @if let Some(c) = failed {
            div class="notice problem" role="alert" {
                p { strong { (t.not_usable) } }
                @for line in advice_lines(lang, c) {
                    p { (line) }
                }
                p { (t.try_again) }
            }
        } @else if kept {
            (notice("ok", title, t.kept))
        } @else if last.is_some_and(|c| c.feedback.accepted) {
            (notice("ok", title, t.looks_good))
        }
        (p(help))
        (camera_section(lang, kind))
        h2 id="upload-heading" hidden { (t.camera_or_upload) }
        form method="post" action=(action) enctype="multipart/form-data" id="upload-form" {
            (csrf_field(&sess.csrf()))
            label class="field" for="file" { (t.file_label) }
            p class="hint" id="file-hint" { (t.file_hint) }
            input type="file" id="file" name="file" accept="image/*" capture=(facing) required aria-describedby="file-hint";
            button type="submit" { (t.upload) }
        }
        (handoff_section(sess))
        @if failed.is_some() && ctx.flow.may_continue_anyway(kind) {
            h2 { (t.keep_title) }
            (p(&t.keep_text.replace("{tenant}", &ctx.tenant_name)))
            (button_form(&format!("{action}/keep"), &sess.csrf(), t.keep_button, "secondary"))
        } @else if kept || last.is_some_and(|c| c.feedback.accepted) {
            (continue_link(sess))
        }
    };
    (title.to_owned(), body)
}

/// The live camera of a step: hidden in the HTML, shown by `capture.js` when the browser
/// has `getUserMedia`. The script reads its words from the `data-` attributes (no inline
/// script). The file form below stays visible whatever happens here.
pub(super) fn camera_section(lang: Lang, kind: CaptureKind) -> Markup {
    let t = lang.capture();
    let selfie = kind == CaptureKind::Selfie;
    let (facing, guide, ready) = if selfie {
        ("user", "face", t.camera_ready_selfie)
    } else {
        ("environment", "document", t.camera_ready_document)
    };
    html! {
        section class="camera" id="camera" hidden aria-labelledby="camera-title"
            data-facing=(facing) data-starting=(t.camera_starting) data-ready=(ready) data-sending=(t.camera_sending)
            data-denied=(t.camera_denied) data-missing=(t.camera_missing) data-busy=(t.camera_busy) data-dark=(t.camera_dark)
            data-failed=(t.camera_failed) {
            h2 id="camera-title" { (t.camera_title) }
            div class=(if selfie { "viewer mirror" } else { "viewer" }) id="camera-viewer" {
                video id="camera-video" autoplay muted playsinline aria-label=(t.camera_preview) aria-describedby="camera-status" {}
                div class={ "guide guide-" (guide) } aria-hidden="true" {}
            }
            p class="hint camera-status" id="camera-status" role="status" aria-live="polite" tabindex="-1" {}
            div class="notice problem" id="camera-problem" role="alert" hidden { p {} }
            button type="button" id="camera-take" disabled { (t.camera_take) }
            button type="button" id="camera-retry" class="secondary" hidden { (t.camera_retry) }
        }
    }
}

/// Guard of the step pages: the flow must have reached the captures, and the kind be
/// needed (else the caller sends the person where the flow is).
pub(super) fn step_guard(sess: &Session, raw_kind: &str) -> Option<CaptureKind> {
    let ctx = &sess.ctx;
    if !ctx.is_open() || !ctx.flow.consented || ctx.client.document_type.is_none() {
        return None;
    }
    step_kind(ctx, raw_kind)
}

pub(super) async fn step_page(
    State(s): State<AppState>,
    Path(raw_kind): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(raw.clone());
    let here = format!("/capture/step/{raw_kind}");
    let sess = match session(&s, &headers, raw, &here).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(kind) = step_guard(&sess, &raw_kind) else {
        return sess.next();
    };
    let (title, body) = if kind == CaptureKind::LivenessBurst {
        liveness_body(&sess, q.ok.as_deref(), None)
    } else {
        step_body(&sess, kind, q.ok.as_deref(), None)
    };
    sess.step_page(StatusCode::OK, &format!("/capture/step/{kind}"), &title, body)
}

/// An upload: the session (cookie) is checked before a byte of the body is read, then the
/// body's size is reserved of the process's upload budget, then the form is read.
pub(super) async fn step_post(
    State(s): State<AppState>,
    Path(raw_kind): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    req: axum::extract::Request,
) -> Response {
    let here = format!("/capture/step/{raw_kind}");
    let sess = match session(&s, &headers, raw, &here).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let t = sess.lang().capture();
    let Some(kind) = step_guard(&sess, &raw_kind) else {
        return sess.next();
    };
    let here = format!("/capture/step/{kind}");
    if kind == CaptureKind::LivenessBurst {
        return burst_post(&s, &sess, &headers, req).await;
    }
    let show = |status: StatusCode, msg: &str| {
        let (title, body) = step_body(&sess, kind, None, Some(msg));
        sess.step_page(status, &here, &title, body)
    };
    let _reserved = match reserve(&s, &sess, &headers, &show, t.too_large).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    // The token may come before or after the file.
    let crate::multipart::CaptureForm {
        csrf,
        file,
        too_large,
        malformed,
    } = crate::multipart::capture_form(<Multipart as axum::extract::FromRequest<AppState>>::from_request(req, &s).await).await;
    if too_large {
        return show(StatusCode::PAYLOAD_TOO_LARGE, t.too_large);
    }
    if !csrf.as_deref().is_some_and(|c| form_token_matches(&sess.secret, c)) {
        let body = notice("problem", t.form_expired_title, t.form_expired_text);
        return sess.page(StatusCode::FORBIDDEN, &here, t.form_expired_title, body);
    }
    if malformed {
        return show(StatusCode::BAD_REQUEST, t.no_file);
    }
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return show(StatusCode::UNPROCESSABLE_ENTITY, t.no_file);
    };
    match s.engine.add_capture_for_session(&sess.ctx, kind, bytes).await {
        Ok(c) => {
            let ctx = match s.engine.capture_session(&sess.secret).await {
                Ok(ctx) => ctx,
                Err(e) => return refused(&sess, e),
            };
            if c.feedback.accepted {
                sess.redirect(&format!("{}?ok={kind}", next_path(&ctx)))
            } else {
                sess.redirect(&here)
            }
        }
        Err(EngineError::UnsupportedMedia(_)) => show(StatusCode::UNSUPPORTED_MEDIA_TYPE, t.bad_type),
        Err(EngineError::TooLarge(_)) => show(StatusCode::PAYLOAD_TOO_LARGE, t.too_large),
        Err(EngineError::RateLimited { .. }) => show(StatusCode::TOO_MANY_REQUESTS, t.too_many),
        Err(EngineError::UnprocessableImage(_)) => show(StatusCode::UNPROCESSABLE_ENTITY, t.unreadable),
        Err(EngineError::Invalid(_)) => show(StatusCode::UNPROCESSABLE_ENTITY, t.no_file),
        Err(e) => refused(&sess, e),
    }
}

/// Reserve an upload's declared size of the process's upload budget before its body is
/// read; refused: the step page again (`show`) with `too_large`, or "busy" and when to retry.
pub(super) async fn reserve(
    s: &AppState,
    sess: &Session,
    headers: &HeaderMap,
    show: &impl Fn(StatusCode, &str) -> Response,
    too_large: &str,
) -> Result<kycd_engine::upload_budget::UploadPermit, Response> {
    let t = sess.lang().capture();
    let limit = s.engine.config().max_upload_bytes + 64 * 1024;
    match s.engine.reserve_upload(crate::multipart::declared_length(headers), limit).await {
        Ok(r) => Ok(r),
        Err(EngineError::TooLarge(_)) => Err(show(StatusCode::PAYLOAD_TOO_LARGE, too_large)),
        Err(EngineError::Busy { retry_after_secs, .. }) => {
            let mut resp = show(StatusCode::SERVICE_UNAVAILABLE, t.busy);
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Err(resp)
        }
        Err(e) => Err(internal(sess.lang(), e)),
    }
}

pub(super) async fn keep_post(
    State(s): State<AppState>,
    Path(raw_kind): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let here = format!("/capture/step/{raw_kind}");
    let sent = form_field(&body, "csrf");
    let sess = match post_session(&s, &headers, raw, &here, sent.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(kind) = step_guard(&sess, &raw_kind) else {
        return sess.next();
    };
    match s.engine.continue_anyway_for_session(&sess.ctx, kind).await {
        Ok(()) => match s.engine.capture_session(&sess.secret).await {
            Ok(ctx) => sess.redirect(&next_path(&ctx)),
            Err(e) => refused(&sess, e),
        },
        // Not offered yet (fewer than two tries): back to the step.
        Err(EngineError::Conflict(_)) if sess.ctx.is_open() => sess.redirect(&format!("/capture/step/{kind}")),
        Err(e) => refused(&sess, e),
    }
}
