//! The hosted capture flow under `/capture`: the pages a person opens from an attempt's
//! link to capture their document and selfie. Server-rendered HTML, plain forms (works
//! without JavaScript), strict CSP, English and French. See `docs/capture.md`.
//!
//! `GET /capture?token=…` spends the single-use start token and opens a capture session
//! (an HttpOnly, SameSite=Strict cookie holding a random secret; only its hash is stored).
//! The session acts for one attempt only: no page takes an id, every use case is the
//! engine's `…_for_session` on the context the cookie names. Every POST carries the
//! session's form token. Pages follow post/redirect/get: each POST answers 303.

pub(crate) mod html;
pub(crate) mod i18n;

use crate::AppState;
use crate::Routes;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use html::{Page, button_form, csrf_field, esc, notice, p, page};
use i18n::Lang;
use kycd_core::{AttemptStatus, CaptureKind, DocumentType};
use kycd_engine::capture::{CaptureContext, form_token, form_token_matches};
use kycd_engine::{Engine, EngineError};
use serde::Deserialize;

const COOKIE: &str = "kycd_capture";
const LANG_COOKIE: &str = "kycd_lang";
const CSS: &str = include_str!("static/capture.css");
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

// ----- request plumbing ---------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    token: Option<String>,
    lang: Option<String>,
    /// The kind whose upload was just accepted (a "looks good" notice on the next page).
    ok: Option<String>,
}

fn query(raw: Option<String>) -> PageQuery {
    raw.and_then(|q| serde_urlencoded::from_str(&q).ok()).unwrap_or_default()
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
}

/// What a request says about language: `?lang=` first, then the language cookie, then
/// the attempt's preselected language, then `Accept-Language`; English by default.
struct Ask {
    lang: Lang,
    /// `Set-Cookie` remembering a `?lang=` choice.
    lang_cookie: Option<String>,
    secure: bool,
}

fn ask(s: &AppState, headers: &HeaderMap, q: &PageQuery, preselected: Option<&str>) -> Ask {
    let secure = s.engine.config().public_url.starts_with("https://");
    let chosen = q.lang.as_deref().and_then(Lang::parse);
    let lang = chosen
        .or_else(|| cookie(headers, LANG_COOKIE).as_deref().and_then(Lang::parse))
        .or_else(|| preselected.and_then(Lang::parse))
        .or_else(|| Lang::from_headers(headers))
        .unwrap_or(Lang::En);
    let lang_cookie = chosen.map(|l| {
        format!(
            "{LANG_COOKIE}={}; Path=/capture; SameSite=Strict; Max-Age=31536000{}",
            l.code(),
            if secure { "; Secure" } else { "" }
        )
    });
    Ask { lang, lang_cookie, secure }
}

pub(crate) fn see_other(location: &str, cookies: &[Option<String>]) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    for c in cookies.iter().flatten() {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// A live session with what the request asked for.
struct Session {
    secret: String,
    ctx: CaptureContext,
    ask: Ask,
}

impl Session {
    fn lang(&self) -> Lang {
        self.ask.lang
    }
    fn csrf(&self) -> String {
        form_token(&self.secret)
    }
    fn page(&self, status: StatusCode, here: &str, title: &str, body: &str) -> Response {
        self.framed(
            page(status, self.lang(), Some(&self.ctx.tenant_name), here, title, body)
                .with_cookie(self.ask.lang_cookie.clone())
                .into_response(),
        )
    }
    /// A step page: [`Self::page`] plus the camera script (the liveness step's own).
    fn step_page(&self, status: StatusCode, here: &str, title: &str, body: &str) -> Response {
        let script = if here.ends_with(CaptureKind::LivenessBurst.as_str()) {
            LIVENESS_JS_PATH
        } else {
            JS_PATH
        };
        let html = html::layout_script(self.lang(), Some(&self.ctx.tenant_name), here, title, body, script);
        self.framed(
            Page {
                status,
                html,
                cookies: Vec::new(),
            }
            .with_cookie(self.ask.lang_cookie.clone())
            .into_response(),
        )
    }
    fn redirect(&self, location: &str) -> Response {
        self.framed(see_other(location, std::slice::from_ref(&self.ask.lang_cookie)))
    }
    /// Mark a response of this session with the origins its tenant lets frame it.
    fn framed(&self, resp: Response) -> Response {
        framed_for(&self.ctx, resp)
    }
    fn next(&self) -> Response {
        self.redirect(&next_path(&self.ctx))
    }
}

/// The session behind the request's cookie, or the page to answer instead.
async fn session(s: &AppState, headers: &HeaderMap, raw: Option<String>, here: &str) -> Result<Session, Response> {
    let q = query(raw);
    let no_session = |lang: Lang, expired: bool| -> Response {
        let t = lang.texts();
        // A link opened from another site (webmail) is a cross-site navigation: the
        // browser withholds SameSite=Strict cookies on it and on its redirects, so the
        // page right after `/capture?token=` arrives without the cookie. Reloading it
        // from this page is a same-site navigation that carries the cookie.
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        if cross_site && !expired {
            let body = format!("{}<p><a href=\"{}\">{}</a></p>\n", p(t.continue_text), esc(here), esc(t.continue_));
            let html = html::layout_refresh(lang, None, here, t.continue_title, &body);
            return Page {
                status: StatusCode::OK,
                html,
                cookies: Vec::new(),
            }
            .into_response();
        }
        let (title, text, status) = if expired {
            (t.session_expired_title, t.session_expired_text, StatusCode::GONE)
        } else {
            (t.session_missing_title, t.session_missing_text, StatusCode::UNAUTHORIZED)
        };
        html::error_page(status, lang, title, text, t.ask_new_link).into_response()
    };
    let Some(secret) = cookie(headers, COOKIE) else {
        return Err(no_session(ask(s, headers, &q, None).lang, false));
    };
    match s.engine.capture_session(&secret).await {
        Ok(ctx) => {
            let ask = ask(s, headers, &q, ctx.client.language.as_deref());
            Ok(Session { secret, ctx, ask })
        }
        Err(EngineError::Gone(_)) => Err(no_session(ask(s, headers, &q, None).lang, true)),
        Err(EngineError::NotFound(_)) => Err(no_session(ask(s, headers, &q, None).lang, false)),
        Err(e) => Err(internal(ask(s, headers, &q, None).lang, e)),
    }
}

fn internal(lang: Lang, e: EngineError) -> Response {
    tracing::error!(cause = %kycd_engine::error_chain(&e), "capture page failed: answered 500");
    let t = lang.texts();
    html::error_page(StatusCode::INTERNAL_SERVER_ERROR, lang, t.error_title, t.error_text, t.ask_new_link).into_response()
}

/// A POST's session, with its form token checked.
async fn post_session(s: &AppState, headers: &HeaderMap, raw: Option<String>, here: &str, sent: Option<&str>) -> Result<Session, Response> {
    let sess = session(s, headers, raw, here).await?;
    if !sent.is_some_and(|t| form_token_matches(&sess.secret, t)) {
        let t = sess.lang().texts();
        let body = notice("problem", t.form_expired_title, t.form_expired_text);
        return Err(sess.page(StatusCode::FORBIDDEN, here, t.form_expired_title, &body));
    }
    Ok(sess)
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Where the person goes next.
fn next_path(ctx: &CaptureContext) -> String {
    if !ctx.is_open() {
        return "/capture/done".into();
    }
    if !ctx.flow.consented {
        return "/capture/consent".into();
    }
    if ctx.client.document_type.is_none() {
        return "/capture/document".into();
    }
    match ctx.required().into_iter().find(|k| !ctx.is_done(*k)) {
        Some(k) => format!("/capture/step/{k}"),
        None => "/capture/submit".into(),
    }
}

/// A POST refused by the engine because the flow moved on (submitted, superseded,
/// expired): go where the flow now is.
fn refused(sess: &Session, e: EngineError) -> Response {
    match e {
        EngineError::Conflict(_) | EngineError::Gone(_) | EngineError::NotFound(_) => sess.redirect("/capture/done"),
        other => internal(sess.lang(), other),
    }
}

// ----- opening the link -----------------------------------------------------------------

async fn open(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.clone());
    let a = ask(&s, &headers, &q, None);
    let t = a.lang.texts();
    let Some(token) = q.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        // Without a token: continue an open session, if there is one.
        return match session(&s, &headers, raw, "/capture").await {
            Ok(sess) => sess.next(),
            Err(resp) => resp,
        };
    };
    match s.engine.open_capture_session(token).await {
        Ok(opened) => {
            let cookie = session_cookie(&opened, a.secure);
            // The token leaves the address bar: the next page has a clean URL.
            let to = match q.lang.as_deref().and_then(Lang::parse) {
                Some(l) => format!("/capture/consent?lang={}", l.code()),
                None => "/capture/consent".to_owned(),
            };
            framed_for(&opened.context, see_other(&to, &[Some(cookie), a.lang_cookie]))
        }
        Err(e @ EngineError::NotFound(_)) => link_not_found(a.lang, e),
        // The engine's words for a spent token; an expired one or a closed verification
        // gets the "not valid or expired" page.
        Err(EngineError::Gone(msg)) if msg.contains("already used") => {
            html::error_page(StatusCode::GONE, a.lang, t.link_used_title, t.link_used_text, t.ask_new_link).into_response()
        }
        Err(EngineError::Gone(_)) => {
            html::error_page(StatusCode::GONE, a.lang, t.link_invalid_title, t.link_invalid_text, t.ask_new_link).into_response()
        }
        Err(e) => internal(a.lang, e),
    }
}

/// The cookie of a new capture session (HttpOnly, SameSite=Strict, for its lifetime).
/// Where the tenant lets its pages be framed (and kycd is served over https), the cookie is
/// `SameSite=None; Secure; Partitioned`: browsers withhold `SameSite=Strict` cookies inside
/// a cross-site frame, and partitioning keeps it to that embedding site. Forms still carry
/// the session's form token.
fn session_cookie(opened: &kycd_engine::capture::OpenedCaptureSession, secure: bool) -> String {
    let max_age = (opened.expires_at - chrono::Utc::now()).num_seconds().max(60);
    let site = if secure && !opened.context.frame_ancestors.is_empty() {
        "SameSite=None; Secure; Partitioned"
    } else if secure {
        "SameSite=Strict; Secure"
    } else {
        "SameSite=Strict"
    };
    format!("{COOKIE}={}; Path=/capture; HttpOnly; {site}; Max-Age={max_age}", opened.secret)
}

/// The page for a link (start token or handoff) that does not exist.
fn link_not_found(lang: Lang, _: EngineError) -> Response {
    let t = lang.texts();
    html::error_page(
        StatusCode::NOT_FOUND,
        lang,
        t.link_invalid_title,
        t.link_invalid_text,
        t.ask_new_link,
    )
    .into_response()
}

// ----- consent --------------------------------------------------------------------------

async fn consent_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let here = "/capture/consent";
    let sess = match session(&s, &headers, raw, here).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ctx = &sess.ctx;
    if !ctx.is_open() {
        return sess.next();
    }
    let lang = sess.lang();
    let t = lang.texts();
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
    let items: String = kinds.iter().map(|k| format!("<li>{}</li>\n", esc(lang.will_capture(*k)))).collect();
    // Why the person is back: a reviewer's request, in their words where they gave some.
    let asked = ctx.reviewer_request.as_ref().map_or_else(String::new, |(_, message)| {
        let text = if message.is_empty() { t.reviewer_asked } else { message.as_str() };
        notice("info", t.reviewer_asked, text)
    });
    let body = format!(
        "{asked}<p><strong>{tenant}</strong> {intro}</p>\n<h2>{what}</h2>\n<ul>\n{items}</ul>\n<h2>{who}</h2>\n{who_text}<h2>{how_long}</h2>\n{how_long_text}{form}",
        tenant = esc(&ctx.tenant_name),
        intro = esc(t.consent_intro),
        what = esc(t.consent_what),
        who = esc(t.consent_who),
        who_text = p(&t.consent_who_text.replace("{tenant}", &ctx.tenant_name)),
        how_long = esc(t.consent_how_long),
        how_long_text = p(&t.consent_how_long_text.replace("{days}", &ctx.retention_days.to_string())),
        form = button_form(here, &sess.csrf(), t.consent_agree, "primary"),
    );
    sess.page(StatusCode::OK, here, t.consent_title, &body)
}

async fn consent_post(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let sent = form_field(&body, "csrf");
    let sess = match post_session(&s, &headers, raw, "/capture/consent", sent.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.engine.consent_for_session(&sess.ctx).await {
        Ok(()) => sess.redirect("/capture/document"),
        Err(e) => refused(&sess, e),
    }
}

// ----- document choice ------------------------------------------------------------------

fn doc_value(d: DocumentType) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn country_name(icao: &str) -> String {
    // ICAO 9303 codes are ISO 3166 alpha-3 except a few (D for Germany).
    let alpha3 = if icao == "D" { "DEU" } else { icao };
    match isocountry::CountryCode::for_alpha3(alpha3) {
        Ok(c) => format!("{} ({icao})", c.name()),
        Err(_) => icao.to_owned(),
    }
}

fn document_form(sess: &Session, problem: Option<&str>) -> String {
    let ctx = &sess.ctx;
    let lang = sess.lang();
    let t = lang.texts();
    let only = ctx.policy.accepted_document_types.len() == 1;
    let mut choices = String::new();
    for d in &ctx.policy.accepted_document_types {
        let v = doc_value(*d);
        let checked = if only || ctx.client.document_type == Some(*d) {
            " checked"
        } else {
            ""
        };
        choices.push_str(&format!(
            "<div class=\"choice\"><input type=\"radio\" name=\"document_type\" id=\"doc-{v}\" value=\"{v}\" required{checked}><label for=\"doc-{v}\">{label}</label></div>\n",
            v = esc(&v),
            label = esc(lang.document(*d)),
        ));
    }
    let country = match &ctx.policy.accepted_countries {
        None => String::new(),
        Some(list) => {
            let mut opts = format!("<option value=\"\">{}</option>\n", esc(t.country_choose));
            for c in list {
                let sel = if ctx.client.country.as_deref() == Some(c.as_str()) {
                    " selected"
                } else {
                    ""
                };
                opts.push_str(&format!("<option value=\"{}\"{sel}>{}</option>\n", esc(c), esc(&country_name(c))));
            }
            format!(
                "<label class=\"field\" for=\"country\">{}</label>\n<select id=\"country\" name=\"country\" required>\n{opts}</select>\n",
                esc(t.country_label)
            )
        }
    };
    format!(
        "{problem}<form method=\"post\" action=\"/capture/document\">\n{csrf}<fieldset>\n<legend>{legend}</legend>\n{choices}</fieldset>\n{country}<button type=\"submit\">{go}</button>\n</form>\n",
        problem = problem.map(|m| notice("problem", m, "")).unwrap_or_default(),
        csrf = csrf_field(&sess.csrf()),
        legend = esc(t.document_legend),
        go = esc(t.continue_),
    )
}

async fn document_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let here = "/capture/document";
    let sess = match session(&s, &headers, raw, here).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !sess.ctx.is_open() || !sess.ctx.flow.consented {
        return sess.next();
    }
    let t = sess.lang().texts();
    sess.page(StatusCode::OK, here, t.document_title, &document_form(&sess, None))
}

async fn document_post(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let here = "/capture/document";
    let sent = form_field(&body, "csrf");
    let sess = match post_session(&s, &headers, raw, here, sent.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let t = sess.lang().texts();
    let doc: Option<DocumentType> =
        form_field(&body, "document_type").and_then(|v| serde_json::from_value(serde_json::Value::String(v)).ok());
    let country = form_field(&body, "country");
    let Some(doc) = doc else {
        let form = document_form(&sess, Some(t.choice_refused));
        return sess.page(StatusCode::UNPROCESSABLE_ENTITY, here, t.document_title, &form);
    };
    match s.engine.choose_document_for_session(&sess.ctx, doc, country.as_deref()).await {
        Ok(()) => match s.engine.capture_session(&sess.secret).await {
            Ok(ctx) => sess.redirect(&next_path(&ctx)),
            Err(e) => refused(&sess, e),
        },
        Err(EngineError::Invalid(_)) => {
            let form = document_form(&sess, Some(t.choice_refused));
            sess.page(StatusCode::UNPROCESSABLE_ENTITY, here, t.document_title, &form)
        }
        Err(e) => refused(&sess, e),
    }
}

// ----- capture steps --------------------------------------------------------------------

/// The step's kind, if it is one the chosen document needs.
fn step_kind(ctx: &CaptureContext, raw: &str) -> Option<CaptureKind> {
    raw.parse().ok().filter(|k| ctx.required().contains(k))
}

fn advice_lines(lang: Lang, c: &kycd_core::Capture) -> Vec<String> {
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
fn step_header(sess: &Session, kind: CaptureKind, ok: Option<&str>, problem: Option<&str>) -> String {
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
fn handoff_section(sess: &Session) -> String {
    let t = sess.lang().texts();
    format!(
        "<section class=\"handoff\" aria-labelledby=\"phone-heading\"><h2 id=\"phone-heading\">{}</h2>\n{}{}</section>\n",
        esc(t.phone_title),
        p(t.phone_text),
        button_form("/capture/handoff", &sess.csrf(), t.phone_button, "secondary"),
    )
}

fn step_body(sess: &Session, kind: CaptureKind, ok: Option<&str>, problem: Option<&str>) -> (String, String) {
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
fn camera_section(lang: Lang, kind: CaptureKind) -> String {
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
fn step_guard(sess: &Session, raw_kind: &str) -> Option<CaptureKind> {
    let ctx = &sess.ctx;
    if !ctx.is_open() || !ctx.flow.consented || ctx.client.document_type.is_none() {
        return None;
    }
    step_kind(ctx, raw_kind)
}

async fn step_page(State(s): State<AppState>, Path(raw_kind): Path<String>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
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
async fn step_post(
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
async fn reserve(
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

/// The liveness step: the camera and prompts (`liveness.js`), or, without a camera or
/// script, the way to a phone. No file field: frames of a live challenge cannot be chosen
/// from files.
fn liveness_body(sess: &Session, ok: Option<&str>, problem: Option<&str>) -> (String, String) {
    let ctx = &sess.ctx;
    let t = sess.lang().texts();
    let kind = CaptureKind::LivenessBurst;
    let mut body = step_header(sess, kind, ok, problem);
    let done = ctx.is_done(kind);
    if done {
        body.push_str(&notice("ok", t.liveness_title, t.looks_good));
    }
    body.push_str(&p(t.liveness_help));
    body.push_str(&format!(
        "<p class=\"hint\" id=\"liveness-nocamera\">{}</p>\n",
        esc(t.liveness_needs_camera)
    ));
    let csrf = sess.csrf();
    let action = format!("/capture/step/{kind}");
    let data = [
        ("csrf", csrf.as_str()),
        ("challenge", LIVENESS_CHALLENGE_PATH),
        ("action", action.as_str()),
        ("ready", t.liveness_ready),
        ("left", t.liveness_left),
        ("right", t.liveness_right),
        ("up", t.liveness_up),
        ("down", t.liveness_down),
        ("centre", t.liveness_centre),
        ("sending", t.liveness_sending),
        ("failed", t.liveness_failed),
        ("small", t.liveness_small),
    ];
    let attrs: String = data.iter().map(|(k, v)| format!(" data-{k}=\"{}\"", esc(v))).collect();
    body.push_str(&format!(
        "<section class=\"camera\" id=\"liveness\" hidden aria-labelledby=\"liveness-heading\"{attrs}>\n\
         <h2 id=\"liveness-heading\">{title}</h2>\n\
         <div class=\"viewer mirror\" id=\"liveness-viewer\">\n\
         <video id=\"liveness-video\" autoplay muted playsinline aria-label=\"{preview}\" aria-describedby=\"liveness-prompt\"></video>\n\
         <div class=\"guide guide-face\" aria-hidden=\"true\"></div>\n\
         </div>\n\
         <p class=\"liveness-prompt\" id=\"liveness-prompt\" role=\"status\" aria-live=\"assertive\"></p>\n\
         <div class=\"notice problem\" id=\"liveness-problem\" role=\"alert\" hidden><p></p></div>\n\
         <button type=\"button\" id=\"liveness-start\" disabled>{start}</button>\n\
         </section>\n",
        title = esc(t.camera_title),
        preview = esc(t.camera_preview),
        start = esc(t.liveness_start),
    ));
    body.push_str(&handoff_section(sess));
    if done {
        body.push_str(&format!("<p><a href=\"{}\">{}</a></p>\n", esc(&next_path(ctx)), esc(t.continue_)));
    }
    (t.liveness_title.to_owned(), body)
}

#[derive(serde::Serialize)]
struct ChallengeJson {
    challenge_id: String,
    steps: Vec<&'static str>,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// The liveness step asks for its challenge (JSON for `liveness.js`; the form token in the
/// body like every POST of these pages).
async fn liveness_challenge_post(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery, body: Bytes) -> Response {
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
async fn burst_post(s: &AppState, sess: &Session, headers: &HeaderMap, req: axum::extract::Request) -> Response {
    let t = sess.lang().texts();
    let here = format!("/capture/step/{}", CaptureKind::LivenessBurst);
    let show = |status: StatusCode, msg: &str| {
        let (title, body) = liveness_body(sess, None, Some(msg));
        sess.step_page(status, &here, &title, &body)
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
        return sess.page(StatusCode::FORBIDDEN, &here, t.form_expired_title, &body);
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

async fn keep_post(
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

// ----- submit and done ------------------------------------------------------------------

async fn submit_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.clone());
    let here = "/capture/submit";
    let sess = match session(&s, &headers, raw, here).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if next_path(&sess.ctx) != here {
        return sess.next();
    }
    let lang = sess.lang();
    let t = lang.texts();
    let mut body = String::new();
    if let Some(prev) = q.ok.as_deref().and_then(|k| k.parse::<CaptureKind>().ok()) {
        body.push_str(&notice("ok", lang.step(prev).0, t.looks_good));
    }
    body.push_str(&p(t.submit_text));
    body.push_str(&button_form(here, &sess.csrf(), t.submit_button, "primary"));
    sess.page(StatusCode::OK, here, t.submit_title, &body)
}

async fn submit_post(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let here = "/capture/submit";
    let sent = form_field(&body, "csrf");
    let sess = match post_session(&s, &headers, raw, here, sent.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.engine.submit_for_session(&sess.ctx).await {
        Ok(_) => match return_url(&s, &sess.ctx).await {
            Some(url) => sess.redirect(&url),
            None => sess.redirect("/capture/done"),
        },
        Err(EngineError::Invalid(_)) => sess.next(),
        Err(e) => refused(&sess, e),
    }
}

async fn handoff_post(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let sent = form_field(&body, "csrf");
    let sess = match post_session(&s, &headers, raw, "/capture/handoff", sent.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.engine.start_handoff(&sess.ctx, &sess.secret).await {
        Ok(_) => sess.redirect("/capture/handoff"),
        Err(e) => refused(&sess, e),
    }
}

/// The desktop's page while the person continues on the phone: the QR code until the
/// phone opens the link, then what is done and what is left; it reloads itself every 5 s
/// (no script) and moves on once the phone has submitted.
async fn handoff_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let here = "/capture/handoff";
    let sess = match session(&s, &headers, raw, here).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ctx = &sess.ctx;
    if !ctx.is_open() {
        return sess.next();
    }
    let h = match s.engine.handoff_status(ctx, &sess.secret).await {
        Ok(Some(h)) => h,
        Ok(None) => return sess.next(),
        Err(e) => return refused(&sess, e),
    };
    let t = sess.lang().texts();
    let lang = sess.lang();
    let mut body = String::new();
    if h.opened {
        body.push_str(&notice("info", t.phone_title, t.phone_opened));
        let items: String = ctx
            .required()
            .iter()
            .map(|k| {
                let state = if ctx.is_done(*k) { t.phone_done } else { t.phone_pending };
                format!("<li>{} — {}</li>\n", esc(lang.step(*k).0), esc(state))
            })
            .collect();
        body.push_str(&format!("<ul class=\"progress\">\n{items}</ul>\n"));
    } else {
        body.push_str(&p(t.phone_scan));
        body.push_str(&format!(
            "<p class=\"qr\"><img src=\"/capture/handoff/qr.svg\" alt=\"{}\" width=\"240\" height=\"240\"></p>\n<p class=\"link\"><a href=\"{url}\">{url}</a></p>\n",
            esc(t.phone_qr_alt),
            url = esc(&h.url),
        ));
        body.push_str(&notice("info", t.phone_title, t.phone_waiting));
    }
    let html = html::layout_every(lang, Some(&ctx.tenant_name), here, t.phone_title, &body, 5);
    sess.framed(
        Page {
            status: StatusCode::OK,
            html,
            cookies: Vec::new(),
        }
        .with_cookie(sess.ask.lang_cookie.clone())
        .into_response(),
    )
}

/// The handoff link as a QR code (SVG; the `qrcode` crate: a QR encoder is not something
/// to write by hand).
async fn handoff_qr(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
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
async fn continue_on_phone(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let a = ask(&s, &headers, &q, None);
    let t = a.lang.texts();
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

/// The session tenant's accent colour and logo as a stylesheet (the CSP allows no inline
/// style): the accent replaces kycd's blue, its text colour is black or white, whichever
/// contrasts more (WCAG relative luminance).
async fn brand_css(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let Ok(sess) = session(&s, &headers, raw, "/capture").await else {
        return static_file("", "text/css; charset=utf-8");
    };
    let Ok(b) = s.engine.capture_branding(&sess.ctx).await else {
        return static_file("", "text/css; charset=utf-8");
    };
    let mut css = String::new();
    if let Some(c) = b.colour.as_deref() {
        css.push_str(&format!(":root {{ --accent: {c}; --accent-ink: {}; }}\n", ink_on(c)));
    }
    if b.logo.is_some() {
        css.push_str(
            ".bar .tenant::before { content: \"\"; display: inline-block; width: 2.5rem; height: 2.5rem; margin-right: .5rem; vertical-align: middle; background: url(/capture/brand/logo) no-repeat center / contain; }\n",
        );
    }
    let mut resp = css.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    resp
}

/// Black or white text on `#rrggbb`, whichever contrasts more.
fn ink_on(colour: &str) -> &'static str {
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&colour[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    // Contrast with white (1.05 / (l + .05)) against contrast with black ((l + .05) / .05).
    if 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 {
        "#ffffff"
    } else {
        "#000000"
    }
}

async fn brand_logo(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let Ok(sess) = session(&s, &headers, raw, "/capture").await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match s.engine.capture_branding(&sess.ctx).await {
        Ok(kycd_engine::lifecycle::Branding {
            logo: Some((media, bytes)),
            ..
        }) => {
            let mut resp = bytes.into_response();
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&media) {
                h.insert(header::CONTENT_TYPE, v);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
            resp
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn done_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let here = "/capture/done";
    let sess = match session(&s, &headers, raw, here).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if sess.ctx.is_open() {
        return sess.next();
    }
    let t = sess.lang().texts();
    let (title, text) = if sess.ctx.attempt_status == AttemptStatus::Submitted {
        (t.done_title, t.done_text)
    } else {
        (t.closed_title, t.closed_text)
    };
    let mut body = p(text);
    if let Some(url) = return_url(&s, &sess.ctx).await {
        body.push_str(&format!("<p><a href=\"{}\">{}</a></p>\n", esc(&url), esc(t.continue_)));
    }
    sess.page(StatusCode::OK, here, title, &body)
}

/// Where the person returns after submitting: the attempt's redirect URL kept by the
/// Checkout dialect, else the verification's callback URL (native API, Transmit). The
/// query carries ids and the integrator's `state` only, never personal data.
async fn return_url(s: &AppState, ctx: &CaptureContext) -> Option<String> {
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
fn with_params(url: &str, params: &[(&str, &str)]) -> Option<String> {
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

    #[test]
    fn accent_text_is_the_more_contrasting_of_black_and_white() {
        assert_eq!(ink_on("#0b57d0"), "#ffffff");
        assert_eq!(ink_on("#ffd700"), "#000000");
        assert_eq!(ink_on("#000000"), "#ffffff");
        assert_eq!(ink_on("#ffffff"), "#000000");
    }

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

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kycd_capture=kycd_cs_x; kycd_lang=fr"),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("kycd_cs_x"));
        assert_eq!(cookie(&h, LANG_COOKIE).as_deref(), Some("fr"));
        assert_eq!(cookie(&h, "kycd"), None);
    }
}
