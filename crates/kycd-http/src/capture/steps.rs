//! The capture steps: a step page with its camera and file form, an upload, and keeping
//! an image the checks found hard to read.

use super::html::{self, Page, button_form, csrf_field, esc, notice, p, page};
use super::i18n::Lang;
use super::liveness::{burst_post, liveness_body};
use super::session::{Session, form_field, internal, next_path, post_session, query, refused, session};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kycd_core::{AttemptStatus, CaptureKind, DocumentType};
use kycd_engine::EngineError;
use kycd_engine::capture::{CaptureContext, form_token, form_token_matches};
use serde::Deserialize;

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
        _ => vec![lang.texts().not_usable_generic.to_owned()],
    }
}

/// The top of a step page: "Step n of m", the "looks good" of the step before, the problem
/// of the upload just refused.
pub(super) fn step_header(sess: &Session, kind: CaptureKind, ok: Option<&str>, problem: Option<&str>) -> String {
    let ctx = &sess.ctx;
    let lang = sess.lang();
    let t = lang.texts();
    let required = ctx.required();
    let n = required.iter().position(|k| *k == kind).map_or(1, |i| i + 1);
    let mut body = format!(
        "<p class=\"step\">{}</p>\n",
        esc(&t
            .step_of
            .replace("{n}", &n.to_string())
            .replace("{total}", &required.len().to_string()))
    );
    if let Some(prev) = ok.and_then(|k| k.parse::<CaptureKind>().ok()).filter(|k| ctx.is_done(*k)) {
        body.push_str(&notice("ok", lang.step(prev).0, t.looks_good));
    }
    if let Some(m) = problem {
        body.push_str(&notice("problem", t.upload_failed, m));
    }
    body
}

/// "Continue on your phone" (the desktop-to-phone handoff) of a step page.
pub(super) fn handoff_section(sess: &Session) -> String {
    let t = sess.lang().texts();
    format!(
        "<section class=\"handoff\" aria-labelledby=\"phone-heading\"><h2 id=\"phone-heading\">{}</h2>\n{}{}</section>\n",
        esc(t.phone_title),
        p(t.phone_text),
        button_form("/capture/handoff", &sess.csrf(), t.phone_button, "secondary"),
    )
}

pub(super) fn step_body(sess: &Session, kind: CaptureKind, ok: Option<&str>, problem: Option<&str>) -> (String, String) {
    let ctx = &sess.ctx;
    let lang = sess.lang();
    let t = lang.texts();
    let (title, help) = lang.step(kind);
    let mut body = step_header(sess, kind, ok, problem);
    let last = ctx.capture(kind);
    let kept = ctx.flow.kept_anyway.contains(&kind);
    let failed = last.filter(|c| !c.feedback.accepted && !kept);
    if let Some(c) = failed {
        let lines: String = advice_lines(lang, c).iter().map(|l| format!("<p>{}</p>", esc(l))).collect();
        body.push_str(&format!(
            "<div class=\"notice problem\" role=\"alert\"><p><strong>{}</strong></p>{lines}<p>{}</p></div>\n",
            esc(t.not_usable),
            esc(t.try_again)
        ));
    } else if kept {
        body.push_str(&notice("ok", title, t.kept));
    } else if last.is_some_and(|c| c.feedback.accepted) {
        body.push_str(&notice("ok", title, t.looks_good));
    }
    let facing = if kind == CaptureKind::Selfie { "user" } else { "environment" };
    let action = format!("/capture/step/{kind}");
    body.push_str(&p(help));
    body.push_str(&camera_section(lang, kind));
    body.push_str(&format!("<h2 id=\"upload-heading\" hidden>{}</h2>\n", esc(t.camera_or_upload)));
    body.push_str(&format!(
        "<form method=\"post\" action=\"{action}\" enctype=\"multipart/form-data\" id=\"upload-form\">\n{csrf}<label class=\"field\" for=\"file\">{label}</label>\n<p class=\"hint\" id=\"file-hint\">{hint}</p>\n<input type=\"file\" id=\"file\" name=\"file\" accept=\"image/*\" capture=\"{facing}\" required aria-describedby=\"file-hint\">\n<button type=\"submit\">{upload}</button>\n</form>\n",
        action = esc(&action),
        csrf = csrf_field(&sess.csrf()),
        label = esc(t.file_label),
        hint = esc(t.file_hint),
        upload = esc(t.upload),
    ));
    body.push_str(&handoff_section(sess));
    if failed.is_some() && ctx.flow.may_continue_anyway(kind) {
        body.push_str(&format!(
            "<h2>{}</h2>\n{}{}",
            esc(t.keep_title),
            p(&t.keep_text.replace("{tenant}", &ctx.tenant_name)),
            button_form(&format!("{action}/keep"), &sess.csrf(), t.keep_button, "secondary"),
        ));
    } else if kept || last.is_some_and(|c| c.feedback.accepted) {
        body.push_str(&format!("<p><a href=\"{}\">{}</a></p>\n", esc(&next_path(ctx)), esc(t.continue_)));
    }
    (title.to_owned(), body)
}

/// The live camera of a step: hidden in the HTML, shown by `capture.js` when the browser
/// has `getUserMedia`. The script reads its words from the `data-` attributes (no inline
/// script). The file form below stays visible whatever happens here.
pub(super) fn camera_section(lang: Lang, kind: CaptureKind) -> String {
    let t = lang.texts();
    let selfie = kind == CaptureKind::Selfie;
    let (facing, guide, ready) = if selfie {
        ("user", "face", t.camera_ready_selfie)
    } else {
        ("environment", "document", t.camera_ready_document)
    };
    let data = [
        ("facing", facing),
        ("starting", t.camera_starting),
        ("ready", ready),
        ("sending", t.camera_sending),
        ("denied", t.camera_denied),
        ("missing", t.camera_missing),
        ("busy", t.camera_busy),
        ("dark", t.camera_dark),
        ("failed", t.camera_failed),
    ];
    let attrs: String = data.iter().map(|(k, v)| format!(" data-{k}=\"{}\"", esc(v))).collect();
    format!(
        "<section class=\"camera\" id=\"camera\" hidden aria-labelledby=\"camera-title\"{attrs}>\n\
         <h2 id=\"camera-title\">{title}</h2>\n\
         <div class=\"viewer{mirror}\" id=\"camera-viewer\">\n\
         <video id=\"camera-video\" autoplay muted playsinline aria-label=\"{preview}\" aria-describedby=\"camera-status\"></video>\n\
         <div class=\"guide guide-{guide}\" aria-hidden=\"true\"></div>\n\
         </div>\n\
         <p class=\"hint camera-status\" id=\"camera-status\" role=\"status\" aria-live=\"polite\" tabindex=\"-1\"></p>\n\
         <div class=\"notice problem\" id=\"camera-problem\" role=\"alert\" hidden><p></p></div>\n\
         <button type=\"button\" id=\"camera-take\" disabled>{take}</button>\n\
         <button type=\"button\" id=\"camera-retry\" class=\"secondary\" hidden>{retry}</button>\n\
         </section>\n",
        title = esc(t.camera_title),
        mirror = if selfie { " mirror" } else { "" },
        preview = esc(t.camera_preview),
        take = esc(t.camera_take),
        retry = esc(t.camera_retry),
    )
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
    sess.step_page(StatusCode::OK, &format!("/capture/step/{kind}"), &title, &body)
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
    let t = sess.lang().texts();
    let Some(kind) = step_guard(&sess, &raw_kind) else {
        return sess.next();
    };
    let here = format!("/capture/step/{kind}");
    if kind == CaptureKind::LivenessBurst {
        return burst_post(&s, &sess, &headers, req).await;
    }
    let show = |status: StatusCode, msg: &str| {
        let (title, body) = step_body(&sess, kind, None, Some(msg));
        sess.step_page(status, &here, &title, &body)
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
        return sess.page(StatusCode::FORBIDDEN, &here, t.form_expired_title, &body);
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
    let t = sess.lang().texts();
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
