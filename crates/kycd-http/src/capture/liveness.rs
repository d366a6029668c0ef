//! The head-turn liveness step: its page, its challenge, and the burst it sends.

use super::LIVENESS_CHALLENGE_PATH;
use super::html::{notice, p};
use super::session::{Session, form_field, next_path, post_session, refused};
use super::steps::{continue_link, handoff_section, reserve, step_guard, step_header};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Multipart, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kycd_core::CaptureKind;
use kycd_engine::EngineError;
use kycd_engine::capture::form_token_matches;
use maud::{Markup, html};

/// The liveness step: the camera and prompts (`liveness.js`), or, without a camera or
/// script, the way to a phone. No file field: frames of a live challenge cannot be chosen
/// from files.
pub(super) fn liveness_body(sess: &Session, ok: Option<&str>, problem: Option<&str>) -> (String, Markup) {
    let ctx = &sess.ctx;
    let t = sess.lang().capture();
    let kind = CaptureKind::LivenessBurst;
    let done = ctx.is_done(kind);
    let action = format!("/capture/step/{kind}");
    let body = html! {
        (step_header(sess, kind, ok, problem))
        @if done {
            (notice("ok", t.liveness_title, t.looks_good))
        }
        (p(t.liveness_help))
        p class="hint" id="liveness-nocamera" { (t.liveness_needs_camera) }
        section class="camera" id="liveness" hidden aria-labelledby="liveness-heading"
            data-csrf=(sess.csrf()) data-challenge=(LIVENESS_CHALLENGE_PATH) data-action=(action) data-ready=(t.liveness_ready)
            data-left=(t.liveness_left) data-right=(t.liveness_right) data-up=(t.liveness_up) data-down=(t.liveness_down)
            data-centre=(t.liveness_centre) data-sending=(t.liveness_sending) data-failed=(t.liveness_failed)
            data-small=(t.liveness_small) {
            h2 id="liveness-heading" { (t.camera_title) }
            div class="viewer mirror" id="liveness-viewer" {
                video id="liveness-video" autoplay muted playsinline aria-label=(t.camera_preview) aria-describedby="liveness-prompt" {}
                div class="guide guide-face" aria-hidden="true" {}
            }
            p class="liveness-prompt" id="liveness-prompt" role="status" aria-live="assertive" {}
            div class="notice problem" id="liveness-problem" role="alert" hidden { p {} }
            button type="button" id="liveness-start" disabled { (t.liveness_start) }
        }
        (handoff_section(sess))
        @if done {
            (continue_link(sess))
        }
    };
    (t.liveness_title.to_owned(), body)
}

#[derive(serde::Serialize)]
pub(super) struct ChallengeJson {
    challenge_id: String,
    steps: Vec<&'static str>,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// The liveness step asks for its challenge (JSON for `liveness.js`; the form token in the
/// body like every POST of these pages).
pub(super) async fn liveness_challenge_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let here = "/capture/step/liveness_burst";
    let sent = form_field(&body, "csrf");
    let sess = match post_session(&s, &headers, raw, here, sent.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if step_guard(&sess, CaptureKind::LivenessBurst.as_str()).is_none() {
        return sess.next();
    }
    match s.engine.liveness_challenge_for_session(&sess.ctx).await {
        Ok(c) => sess.framed(
            axum::Json(ChallengeJson {
                challenge_id: c.id.to_string(),
                steps: c.steps.iter().map(|s| s.as_str()).collect(),
                expires_at: c.expires_at,
            })
            .into_response(),
        ),
        Err(e) => refused(&sess, e),
    }
}

/// The liveness step's burst: the form token, the challenge's id and the frames.
pub(super) async fn burst_post(s: &AppState, sess: &Session, headers: &HeaderMap, req: axum::extract::Request) -> Response {
    let t = sess.lang().capture();
    let here = format!("/capture/step/{}", CaptureKind::LivenessBurst);
    let show = |status: StatusCode, msg: &str| {
        let (title, body) = liveness_body(sess, None, Some(msg));
        sess.step_page(status, &here, &title, body)
    };
    let _reserved = match reserve(s, sess, headers, &show, t.liveness_failed).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let form = crate::multipart::burst_form(
        <Multipart as axum::extract::FromRequest<AppState>>::from_request(req, s).await,
        kycd_engine::liveness::MAX_FRAMES + 1,
    )
    .await;
    if form.too_large {
        return show(StatusCode::PAYLOAD_TOO_LARGE, t.liveness_failed);
    }
    if !form.csrf.as_deref().is_some_and(|c| form_token_matches(&sess.secret, c)) {
        let body = notice("problem", t.form_expired_title, t.form_expired_text);
        return sess.page(StatusCode::FORBIDDEN, &here, t.form_expired_title, body);
    }
    let challenge = form
        .challenge_id
        .as_deref()
        .and_then(|c| c.parse::<kycd_core::LivenessChallengeId>().ok());
    let (false, Some(challenge)) = (form.malformed, challenge) else {
        return show(StatusCode::BAD_REQUEST, t.liveness_failed);
    };
    match s.engine.add_liveness_burst_for_session(&sess.ctx, &challenge, form.files).await {
        Ok(_) => match s.engine.capture_session(&sess.secret).await {
            Ok(ctx) => sess.redirect(&format!("{}?ok={}", next_path(&ctx), CaptureKind::LivenessBurst)),
            Err(e) => refused(sess, e),
        },
        Err(EngineError::Invalid(m)) if m.contains("640×480") => show(StatusCode::UNPROCESSABLE_ENTITY, t.liveness_small),
        Err(EngineError::RateLimited { .. }) => show(StatusCode::TOO_MANY_REQUESTS, t.too_many),
        // An expired, used or unknown challenge, or frames that are no burst: try again.
        Err(e @ (EngineError::Gone(_) | EngineError::Conflict(_) | EngineError::NotFound(_))) if sess.ctx.is_open() => {
            let status = match e {
                EngineError::Gone(_) => StatusCode::GONE,
                EngineError::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::NOT_FOUND,
            };
            show(status, t.liveness_failed)
        }
        Err(EngineError::Invalid(_) | EngineError::UnsupportedMedia(_) | EngineError::UnprocessableImage(_) | EngineError::TooLarge(_)) => {
            show(StatusCode::UNPROCESSABLE_ENTITY, t.liveness_failed)
        }
        Err(e) => refused(sess, e),
    }
}
