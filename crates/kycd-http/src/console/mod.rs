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

mod admin;
mod case;
mod queue;
mod shared;
mod sign_in;

use crate::AppState;
use crate::Routes;
use crate::capture::static_file;
use admin::{
    admin_page, create_key_post, create_webhook_post, invite_operator_post, operator_action_post, policy_post, redeliver_post,
    revoke_key_post, settings_post, webhook_action_post, webhook_page,
};
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use case::{case_page, decision_post, evidence_zip, image, report_pdf};
use queue::queue_page;
use shared::{CSS_PATH, JS_PATH};
use sign_in::{account_page, home, invite_page, invite_post, login_page, login_post, logout_post, totp_post};

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");
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
