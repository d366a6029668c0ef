//! The pages around the captures: consent, the document choice, submitting, done, and
//! where the person returns afterwards.

use super::CHECKOUT_STATE;
use super::html::{button_form, csrf_field, notice, p};
use super::session::{Posted, Session, form_field, next_path, query, refused};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use kycd_core::{AttemptStatus, CaptureKind, DocumentType};
use kycd_engine::EngineError;
use kycd_engine::capture::CaptureContext;
use maud::{Markup, html};

pub(super) async fn consent_page(sess: Session) -> Response {
    let here = "/capture/consent";
    let ctx = &sess.ctx;
    if !ctx.is_open() {
        return sess.next();
    }
    let lang = sess.lang();
    let t = lang.capture();
    let policy = &ctx.policy;
    let mut kinds = vec![CaptureKind::DocumentFront];
    if policy.accepted_document_types.iter().any(|d| d.has_back()) {
        kinds.push(CaptureKind::DocumentBack);
    }
    if policy.selfie_required {
        kinds.push(CaptureKind::Selfie);
    }
    if policy.liveness_required {
        kinds.push(CaptureKind::LivenessBurst);
    }
    let body = html! {
        // Why the person is back: a reviewer's request, in their words where they gave some.
        @if let Some((_, message)) = &ctx.reviewer_request {
            (notice("info", t.reviewer_asked, if message.is_empty() { t.reviewer_asked } else { message.as_str() }))
        }
        p { strong { (ctx.tenant_name) } " " (t.consent_intro) }
        h2 { (t.consent_what) }
        ul {
            @for k in &kinds {
                li { (lang.will_capture(*k)) }
            }
        }
        h2 { (t.consent_who) }
        (p(&t.consent_who_text.replace("{tenant}", &ctx.tenant_name)))
        h2 { (t.consent_how_long) }
        (p(&t.consent_how_long_text.replace("{days}", &ctx.retention_days.to_string())))
        (button_form(here, &sess.csrf(), t.consent_agree, "primary"))
    };
    sess.page(StatusCode::OK, here, t.consent_title, body)
}

pub(super) async fn consent_post(State(s): State<AppState>, Posted(sess, _): Posted) -> Response {
    match s.engine.consent_for_session(&sess.ctx).await {
        Ok(()) => sess.redirect("/capture/document"),
        Err(e) => refused(&sess, e),
    }
}

// ----- document choice ------------------------------------------------------------------

pub(super) fn doc_value(d: DocumentType) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(super) fn country_name(icao: &str) -> String {
    // ICAO 9303 codes are ISO 3166 alpha-3 except a few (D for Germany).
    let alpha3 = if icao == "D" { "DEU" } else { icao };
    match isocountry::CountryCode::for_alpha3(alpha3) {
        Ok(c) => format!("{} ({icao})", c.name()),
        Err(_) => icao.to_owned(),
    }
}

pub(super) fn document_form(sess: &Session, problem: Option<&str>) -> Markup {
    let ctx = &sess.ctx;
    let lang = sess.lang();
    let t = lang.capture();
    let only = ctx.policy.accepted_document_types.len() == 1;
    html! {
        @if let Some(m) = problem {
            (notice("problem", m, ""))
        }
        form method="post" action="/capture/document" {
            (csrf_field(&sess.csrf()))
            fieldset {
                legend { (t.document_legend) }
                @for d in &ctx.policy.accepted_document_types {
                    @let v = doc_value(*d);
                    div class="choice" {
                        input type="radio" name="document_type" id={ "doc-" (v) } value=(v) required checked[only || ctx.client.document_type == Some(*d)];
                        label for={ "doc-" (v) } { (lang.document(*d)) }
                    }
                }
            }
            @if let Some(list) = &ctx.policy.accepted_countries {
                label class="field" for="country" { (t.country_label) }
                select id="country" name="country" required {
                    option value="" { (t.country_choose) }
                    @for c in list {
                        option value=(c) selected[ctx.client.country.as_deref() == Some(c.as_str())] { (country_name(c)) }
                    }
                }
            }
            button type="submit" { (t.continue_) }
        }
    }
}

pub(super) async fn document_page(sess: Session) -> Response {
    let here = "/capture/document";
    if !sess.ctx.is_open() || !sess.ctx.flow.consented {
        return sess.next();
    }
    let t = sess.lang().capture();
    sess.page(StatusCode::OK, here, t.document_title, document_form(&sess, None))
}

pub(super) async fn document_post(State(s): State<AppState>, Posted(sess, body): Posted) -> Response {
    let here = "/capture/document";
    let t = sess.lang().capture();
    let doc: Option<DocumentType> =
        form_field(&body, "document_type").and_then(|v| serde_json::from_value(serde_json::Value::String(v)).ok());
    let country = form_field(&body, "country");
    let Some(doc) = doc else {
        let form = document_form(&sess, Some(t.choice_refused));
        return sess.page(StatusCode::UNPROCESSABLE_ENTITY, here, t.document_title, form);
    };
    match s.engine.choose_document_for_session(&sess.ctx, doc, country.as_deref()).await {
        Ok(()) => match s.engine.capture_session(&sess.secret).await {
            Ok(ctx) => sess.redirect(&next_path(&ctx)),
            Err(e) => refused(&sess, e),
        },
        Err(EngineError::Invalid(_)) => {
            let form = document_form(&sess, Some(t.choice_refused));
            sess.page(StatusCode::UNPROCESSABLE_ENTITY, here, t.document_title, form)
        }
        Err(e) => refused(&sess, e),
    }
}

pub(super) async fn submit_page(sess: Session, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let here = "/capture/submit";
    if next_path(&sess.ctx) != here {
        return sess.next();
    }
    let lang = sess.lang();
    let t = lang.capture();
    let body = html! {
        @if let Some(prev) = q.ok.as_deref().and_then(|k| k.parse::<CaptureKind>().ok()) {
            (notice("ok", lang.step(prev).0, t.looks_good))
        }
        (p(t.submit_text))
        (button_form(here, &sess.csrf(), t.submit_button, "primary"))
    };
    sess.page(StatusCode::OK, here, t.submit_title, body)
}

pub(super) async fn submit_post(State(s): State<AppState>, Posted(sess, _): Posted) -> Response {
    match s.engine.submit_for_session(&sess.ctx).await {
        Ok(_) => match return_url(&s, &sess.ctx).await {
            Some(url) => sess.redirect(&url),
            None => sess.redirect("/capture/done"),
        },
        Err(EngineError::Invalid(_)) => sess.next(),
        Err(e) => refused(&sess, e),
    }
}

pub(super) async fn done_page(State(s): State<AppState>, sess: Session) -> Response {
    let here = "/capture/done";
    if sess.ctx.is_open() {
        return sess.next();
    }
    let t = sess.lang().capture();
    let (title, text) = if sess.ctx.attempt_status == AttemptStatus::Submitted {
        (t.done_title, t.done_text)
    } else {
        (t.closed_title, t.closed_text)
    };
    let back = return_url(&s, &sess.ctx).await;
    let body = html! {
        (p(text))
        @if let Some(url) = back {
            p { a href=(url) { (t.continue_) } }
        }
    };
    sess.page(StatusCode::OK, here, title, body)
}

/// Where the person returns after submitting: the attempt's redirect URL kept by the
/// Checkout dialect, else the verification's callback URL (native API, Transmit). The
/// query carries ids and the integrator's `state` only, never personal data.
pub(super) async fn return_url(s: &AppState, ctx: &CaptureContext) -> Option<String> {
    let vid = ctx.verification_id.as_str();
    if let Ok(Some(st)) = s.engine.capture_attempt_state(ctx, CHECKOUT_STATE).await
        && let Some(url) = st.get("redirect_url").and_then(|u| u.as_str())
    {
        return with_params(url, &[("verification_id", vid), ("attempt_id", ctx.attempt_id.as_str())]);
    }
    let url = ctx.callback_url.as_deref()?;
    let mut params = vec![("verification_id", vid), ("session_id", vid), ("sessionId", vid)];
    if let Some(state) = &ctx.state {
        params.push(("state", state.as_str()));
    }
    with_params(url, &params)
}

/// `url` with `params` added to its query (before any fragment). Only http(s) URLs.
pub(super) fn with_params(url: &str, params: &[(&str, &str)]) -> Option<String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let q = serde_urlencoded::to_string(params).ok()?;
    let sep = match base.find('?') {
        None => "?",
        Some(_) if base.ends_with('?') || base.ends_with('&') => "",
        Some(_) => "&",
    };
    let out = format!("{base}{sep}{q}{}", fragment.map(|f| format!("#{f}")).unwrap_or_default());
    HeaderValue::from_str(&out).is_ok().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_parameters_are_appended() {
        assert_eq!(
            with_params("https://a.example/cb", &[("verification_id", "idv_1"), ("state", "x y&z")]).as_deref(),
            Some("https://a.example/cb?verification_id=idv_1&state=x+y%26z")
        );
        assert_eq!(
            with_params("https://a.example/cb?k=1#top", &[("verification_id", "idv_1")]).as_deref(),
            Some("https://a.example/cb?k=1&verification_id=idv_1#top")
        );
        assert_eq!(with_params("javascript:alert(1)", &[]), None);
    }
}
