//! A capture session: the request's language, the session cookie and its form token,
//! where the flow goes next, and opening a session from an attempt's link.

use super::html::{self, Head, Page, notice, p};
use super::{CAMERA_JS_PATH, COOKIE, JS_PATH, LANG_COOKIE, LIVENESS_JS_PATH, framed_for};
use crate::AppState;
use crate::cookies;
use crate::i18n::Lang;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::SameSite;
use kycd_core::CaptureKind;
use kycd_engine::EngineError;
use kycd_engine::capture::{CaptureContext, form_token, form_token_matches};
use maud::{Markup, html};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    pub(super) token: Option<String>,
    pub(super) lang: Option<String>,
    /// The kind whose upload was just accepted (a "looks good" notice on the next page).
    pub(super) ok: Option<String>,
}

pub(super) fn query(raw: Option<String>) -> PageQuery {
    raw.and_then(|q| serde_urlencoded::from_str(&q).ok()).unwrap_or_default()
}

/// What a request says about language: `?lang=` first, then the language cookie, then
/// the attempt's preselected language, then `Accept-Language`; English by default.
pub(super) struct Ask {
    pub(super) lang: Lang,
    /// `Set-Cookie` remembering a `?lang=` choice.
    pub(super) lang_cookie: Option<String>,
    pub(super) secure: bool,
}

pub(super) fn ask(s: &AppState, headers: &HeaderMap, q: &PageQuery, preselected: Option<&str>) -> Ask {
    let secure = cookies::secure(s);
    let chosen = q.lang.as_deref().and_then(Lang::parse);
    let lang = Lang::negotiate(chosen, cookies::read(headers, LANG_COOKIE).as_deref(), preselected, headers);
    let lang_cookie = chosen.map(|l| cookies::language(LANG_COOKIE, l.code(), "/capture", secure));
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
pub(super) struct Session {
    pub(super) secret: String,
    pub(super) ctx: CaptureContext,
    pub(super) ask: Ask,
}

impl Session {
    pub(super) fn lang(&self) -> Lang {
        self.ask.lang
    }
    pub(super) fn csrf(&self) -> String {
        form_token(&self.secret)
    }
    pub(super) fn page(&self, status: StatusCode, here: &str, title: &str, body: Markup) -> Response {
        self.page_with(status, here, title, Head::default(), body)
    }
    /// A step page: [`Self::page`] plus the camera script (the liveness step's own).
    pub(super) fn step_page(&self, status: StatusCode, here: &str, title: &str, body: Markup) -> Response {
        let scripts: &[&str] = if here.ends_with(CaptureKind::LivenessBurst.as_str()) {
            &[CAMERA_JS_PATH, LIVENESS_JS_PATH]
        } else {
            &[CAMERA_JS_PATH, JS_PATH]
        };
        let head = Head {
            scripts,
            ..Head::default()
        };
        self.page_with(status, here, title, head, body)
    }
    /// A page of this session in the tenant's frame, with what its `<head>` adds.
    pub(super) fn page_with(&self, status: StatusCode, here: &str, title: &str, head: Head<'_>, body: Markup) -> Response {
        let html = html::layout(self.lang(), Some(&self.ctx.tenant_name), here, title, head, body);
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
    pub(super) fn redirect(&self, location: &str) -> Response {
        self.framed(see_other(location, std::slice::from_ref(&self.ask.lang_cookie)))
    }
    /// Mark a response of this session with the origins its tenant lets frame it.
    pub(super) fn framed(&self, resp: Response) -> Response {
        framed_for(&self.ctx, resp)
    }
    pub(super) fn next(&self) -> Response {
        self.redirect(&next_path(&self.ctx))
    }
}

/// A page's live session, as an extractor: [`session`] with the request's own path as
/// the page and its query.
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        session(s, &parts.headers, parts.uri.query().map(str::to_owned), parts.uri.path()).await
    }
}

/// A form posted to a page of a live session, as an extractor: the session ([`post_session`]
/// with the request's own path and the form's token) and the form's body.
pub(super) struct Posted(pub(super) Session, pub(super) Bytes);

impl FromRequest<AppState> for Posted {
    type Rejection = Response;
    async fn from_request(req: Request, s: &AppState) -> Result<Self, Response> {
        let (headers, uri) = (req.headers().clone(), req.uri().clone());
        let body = Bytes::from_request(req, s).await.map_err(IntoResponse::into_response)?;
        let sent = form_field(&body, "csrf");
        let sess = post_session(s, &headers, uri.query().map(str::to_owned), uri.path(), sent.as_deref()).await?;
        Ok(Self(sess, body))
    }
}

/// The session behind the request's cookie, or the page to answer instead.
pub(super) async fn session(s: &AppState, headers: &HeaderMap, raw: Option<String>, here: &str) -> Result<Session, Response> {
    let q = query(raw);
    let no_session = |lang: Lang, expired: bool| -> Response {
        let t = lang.capture();
        // A link opened from another site (webmail) is a cross-site navigation: the
        // browser withholds SameSite=Strict cookies on it and on its redirects, so the
        // page right after `/capture?token=` arrives without the cookie. Reloading it
        // from this page is a same-site navigation that carries the cookie.
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        if cross_site && !expired {
            let body = html! { (p(t.continue_text)) p { a href=(here) { (t.continue_) } } };
            let refresh = Head {
                refresh: Some(0),
                ..Head::default()
            };
            let html = html::layout(lang, None, here, t.continue_title, refresh, body);
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
    let Some(secret) = cookies::read(headers, COOKIE) else {
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

pub(super) fn internal(lang: Lang, e: EngineError) -> Response {
    tracing::error!(cause = %kycd_engine::error_chain(&e), "capture page failed: answered 500");
    let t = lang.capture();
    html::error_page(StatusCode::INTERNAL_SERVER_ERROR, lang, t.error_title, t.error_text, t.ask_new_link).into_response()
}

/// A POST's session, with its form token checked.
pub(super) async fn post_session(
    s: &AppState,
    headers: &HeaderMap,
    raw: Option<String>,
    here: &str,
    sent: Option<&str>,
) -> Result<Session, Response> {
    let sess = session(s, headers, raw, here).await?;
    if !sent.is_some_and(|t| form_token_matches(&sess.secret, t)) {
        let t = sess.lang().capture();
        let body = notice("problem", t.form_expired_title, t.form_expired_text);
        return Err(sess.page(StatusCode::FORBIDDEN, here, t.form_expired_title, body));
    }
    Ok(sess)
}

pub(super) fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Where the person goes next.
pub(super) fn next_path(ctx: &CaptureContext) -> String {
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
pub(super) fn refused(sess: &Session, e: EngineError) -> Response {
    match e {
        EngineError::Conflict(_) | EngineError::Gone(_) | EngineError::NotFound(_) => sess.redirect("/capture/done"),
        other => internal(sess.lang(), other),
    }
}

pub(super) async fn open(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.clone());
    let a = ask(&s, &headers, &q, None);
    let t = a.lang.capture();
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
pub(super) fn session_cookie(opened: &kycd_engine::capture::OpenedCaptureSession, secure: bool) -> String {
    let max_age = (opened.expires_at - chrono::Utc::now()).num_seconds().max(60);
    let mut c = cookies::strict_http_only(COOKIE, opened.secret.clone(), "/capture", secure);
    if secure && !opened.context.frame_ancestors.is_empty() {
        c.set_same_site(SameSite::None);
        c.set_partitioned(true);
    }
    cookies::kept_for(c, max_age)
}

/// The page for a link (start token or handoff) that does not exist.
pub(super) fn link_not_found(lang: Lang, _: EngineError) -> Response {
    let t = lang.capture();
    html::error_page(
        StatusCode::NOT_FOUND,
        lang,
        t.link_invalid_title,
        t.link_invalid_text,
        t.ask_new_link,
    )
    .into_response()
}
