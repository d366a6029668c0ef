//! The hosted capture flow under `/capture`: the pages a person opens from an attempt's
//! link to capture their document and selfie. Server-rendered HTML, plain forms (works
//! without JavaScript), strict CSP, English and French. See `docs/capture.md`.
//!
//! `GET /capture?token=…` spends the single-use start token and opens a capture session
//! (an HttpOnly, SameSite=Strict cookie holding a random secret; only its hash is stored).
//! The session acts for one attempt only: no page takes an id, every use case is the
//! engine's `…_for_session` on the context the cookie names. Every POST carries the
//! session's form token. Pages follow post/redirect/get: each POST answers 303.

mod brand;
mod handoff;
pub(crate) mod html;
mod liveness;
mod pages;
mod session;
mod steps;

use crate::AppState;
use crate::Routes;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use brand::{brand_css, brand_logo};
use handoff::{continue_on_phone, handoff_page, handoff_post, handoff_qr};
use kycd_engine::Engine;
use kycd_engine::capture::CaptureContext;
use liveness::liveness_challenge_post;
use pages::{consent_page, consent_post, document_page, document_post, done_page, submit_page, submit_post};
use session::open;
pub(crate) use session::see_other;
use steps::{keep_post, step_page, step_post};

const COOKIE: &str = "kycd_capture";
const LANG_COOKIE: &str = "kycd_lang";
const CSS: &str = include_str!("static/capture.css");
/// The camera as both step scripts use it (loaded before either).
const CAMERA_JS: &str = include_str!("static/camera.js");
const CAMERA_JS_PATH: &str = "/capture/static/camera.js";
/// Live camera capture on the step pages (progressive enhancement: the file field works
/// without it). Its words come from the page's `data-` attributes.
const JS: &str = include_str!("static/capture.js");
const JS_PATH: &str = "/capture/static/capture.js";
/// The head-turn liveness step: asks for the challenge, prompts, records and sends the burst.
const LIVENESS_JS: &str = include_str!("static/liveness.js");
const LIVENESS_JS_PATH: &str = "/capture/static/liveness.js";
const LIVENESS_CHALLENGE_PATH: &str = "/capture/liveness/challenge";
/// Dialect state kind under which the Checkout dialect keeps an attempt's `redirect_url`
/// (`STATE` in `dialect/checkout`).
const CHECKOUT_STATE: &str = "checkout";

pub fn router(engine: &Engine) -> Routes<AppState> {
    let upload_limit = engine.config().max_upload_bytes + 64 * 1024;
    Routes::new()
        .at("/capture", get(open))
        .at("/capture/consent", get(consent_page).post(consent_post))
        .at("/capture/document", get(document_page).post(document_post))
        .at(
            "/capture/step/{kind}",
            get(step_page).post(step_post).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .at("/capture/step/{kind}/keep", post(keep_post))
        .at(LIVENESS_CHALLENGE_PATH, post(liveness_challenge_post))
        .at("/capture/submit", get(submit_page).post(submit_post))
        .at("/capture/done", get(done_page))
        .at("/capture/handoff", get(handoff_page).post(handoff_post))
        .at("/capture/handoff/qr.svg", get(handoff_qr))
        .at("/capture/continue", get(continue_on_phone))
        .at("/capture/brand.css", get(brand_css))
        .at("/capture/brand/logo", get(brand_logo))
        .at("/capture/static/capture.css", get(css))
        .at(CAMERA_JS_PATH, get(camera_js))
        .at(JS_PATH, get(js))
        .at(LIVENESS_JS_PATH, get(liveness_js))
        .map(|r| {
            r.layer(middleware::map_response(capture_headers))
                .layer(DefaultBodyLimit::max(16 * 1024))
        })
}

/// Origins a session's tenant lets frame its pages, set on a response by the handler that
/// knows the session (the middleware below writes the header).
#[derive(Clone)]
struct FrameAncestors(String);

fn framed_for(ctx: &CaptureContext, mut resp: Response) -> Response {
    if !ctx.frame_ancestors.is_empty() {
        resp.extensions_mut().insert(FrameAncestors(ctx.frame_ancestors.join(" ")));
    }
    resp
}

async fn capture_headers(mut resp: Response) -> Response {
    let framing = resp.extensions_mut().remove::<FrameAncestors>();
    let h = resp.headers_mut();
    match framing
        .and_then(|f| HeaderValue::from_str(&html::CSP.replace("frame-ancestors 'none'", &format!("frame-ancestors {}", f.0))).ok())
    {
        // X-Frame-Options cannot name origins: without it, the CSP alone decides.
        Some(csp) => {
            h.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        None => {
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(html::CSP));
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
    }
    resp
}

async fn css() -> Response {
    static_file(CSS, "text/css; charset=utf-8")
}

async fn camera_js() -> Response {
    static_file(CAMERA_JS, "text/javascript; charset=utf-8")
}

async fn js() -> Response {
    static_file(JS, "text/javascript; charset=utf-8")
}

async fn liveness_js() -> Response {
    static_file(LIVENESS_JS, "text/javascript; charset=utf-8")
}

pub(crate) fn static_file(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp
}
