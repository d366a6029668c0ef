//! The admin page: operators, settings, the default policy, API keys and webhooks.

use super::shared::{Ctx, button_form, csrf_field, field, fmt_time, form, notice, post_ctx, role_label, table_head};
use crate::AppState;
use crate::capture::see_other;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kycd_core::*;
use kycd_engine::{EngineError, OperatorRole};
use maud::{Markup, html};

pub(super) async fn admin_page(State(s): State<AppState>, c: Ctx) -> Response {
    match admin_body(&s, &c, None, None).await {
        Ok(body) => c.page(StatusCode::OK, "/console/admin", c.t().admin, body),
        Err(e) => c.error("/console/admin", e),
    }
}

/// The admin page; `shown_once` is a notice with a secret (invitation link, API key).
pub(super) async fn admin_body(
    s: &AppState,
    c: &Ctx,
    shown_once: Option<(&str, &str)>,
    policy_text: Option<&str>,
) -> Result<Markup, EngineError> {
    let ops = s.engine.list_operators(&c.session).await?;
    let keys = s.engine.console_api_keys(&c.session).await?;
    let hooks = s.engine.list_webhook_endpoints(&c.session.principal).await?;
    let tenant = s.engine.tenant(&c.session.principal).await?;
    let four_eyes = s.engine.four_eyes(&c.session.operator.tenant_id).await?;
    let (version, policy, history) = s.engine.tenant_policy(&c.session.principal).await?;
    let policy_json = policy_text.map_or_else(|| serde_json::to_string_pretty(&policy).unwrap_or_default(), str::to_owned);
    let csrf = c.csrf();
    let r = tenant.retention;
    Ok(html! {
        @if let Some((title, secret)) = shown_once {
            div class="notice ok" role="status" { p { strong { (title) } } p { code class="secret" id="shown-once" { (secret) } } }
        }
        // Operators.
        section aria-labelledby="h-ops" {
            h2 id="h-ops" { (c.t().operators) }
            table {
                (table_head(&[c.t().email, c.t().role, c.t().state, c.t().two_factor, ""]))
                tbody {
                    @for o in &ops {
                        @let state = if o.disabled {
                            c.t().disabled
                        } else if o.active {
                            c.t().active
                        } else {
                            c.t().pending_invite
                        };
                        tr {
                            td { (o.email) }
                            td { (role_label(c.lang, o.role)) }
                            td { (state) }
                            td { (if o.totp_enabled { c.t().on } else { c.t().off }) }
                            td {
                                (button_form(&format!("/console/admin/operators/{}/reinvite", o.id), &csrf, c.t().reinvite, "link"))
                                @if o.id != c.session.operator.id {
                                    @let (act, label) = if o.disabled { ("enable", c.t().enable) } else { ("disable", c.t().disable) };
                                    (button_form(&format!("/console/admin/operators/{}/{act}", o.id), &csrf, label, "link"))
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/console/admin/operators" class="row" {
                (csrf_field(&csrf))
                label { (c.t().email) input type="email" name="email" required; }
                label {
                    (c.t().role)
                    select name="role" {
                        option value="reviewer" { (c.t().reviewer) }
                        option value="admin" { (c.t().admin_role) }
                    }
                }
                button type="submit" { (c.t().invite) }
            }
        }
        // Settings.
        section aria-labelledby="h-settings" {
            h2 id="h-settings" { (c.t().settings) }
            form method="post" action="/console/admin/settings" class="stack" {
                (csrf_field(&csrf))
                label class="check" { input type="checkbox" name="four_eyes" value="on" checked[four_eyes]; " " (c.t().four_eyes) }
                label { (c.t().retention_days) input type="number" name="retention_days" min="1" value=(r.retention_days) required; }
                label { (c.t().max_retention_days) input type="number" name="max_retention_days" min="1" value=(r.max_retention_days) required; }
                label { (c.t().tombstone_days) input type="number" name="tombstone_days" min="0" value=(r.tombstone_days) required; }
                button type="submit" { (c.t().save) }
            }
        }
        // The default policy, versioned.
        section aria-labelledby="h-policy" {
            h2 id="h-policy" { (c.t().policy) }
            p class="help" { (c.t().policy_text) }
            p {
                (c.t().policy_version) ": "
                strong id="policy-version" {
                    @if let Some(v) = version { "v" (v) } @else { (c.t().policy_defaults) }
                }
            }
            form method="post" action="/console/admin/policy" class="stack" {
                (csrf_field(&csrf))
                label for="policy" { (c.t().policy) " (JSON)" }
                textarea id="policy" name="policy" rows="12" class="code" spellcheck="false" { (policy_json) }
                button type="submit" { (c.t().save) }
            }
            ul {
                @for h in &history {
                    li { "v" (h.version) " · " (h.created_by) " · " (fmt_time(h.created_at)) }
                }
            }
        }
        // API keys.
        section aria-labelledby="h-keys" {
            h2 id="h-keys" { (c.t().api_keys) }
            table {
                (table_head(&[c.t().key, c.t().scope, c.t().created, ""]))
                tbody {
                    @for k in &keys {
                        tr {
                            td { code { (k.id) } }
                            td { (k.scope.as_str()) }
                            td { (fmt_time(k.created_at)) }
                            td {
                                @match k.revoked_at {
                                    Some(at) => { (c.t().revoked) " " (fmt_time(at)) }
                                    None => { (button_form(&format!("/console/admin/api-keys/{}/revoke", k.id), &csrf, c.t().revoke, "link danger")) }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/console/admin/api-keys" class="row" {
                (csrf_field(&csrf))
                label {
                    (c.t().scope)
                    select name="scope" {
                        option value="integration" { "integration" }
                        option value="reviewer" { "reviewer" }
                        option value="admin" { "admin" }
                    }
                }
                button type="submit" { (c.t().create_key) }
            }
        }
        // Webhooks.
        section aria-labelledby="h-hooks" {
            h2 id="h-hooks" { (c.t().webhooks) }
            @if hooks.is_empty() {
                p { (c.t().none_yet) }
            } @else {
                ul {
                    @for h in &hooks {
                        @let (act, label) = if h.enabled { ("disable", c.t().disable) } else { ("enable", c.t().enable) };
                        li {
                            code { (h.url) } " · " (if h.enabled { c.t().active } else { c.t().disabled }) " · "
                            a href={ "/console/admin/webhooks/" (h.id) } { (c.t().deliveries) }
                            " "
                            (button_form(&format!("/console/admin/webhooks/{}/{act}", h.id), &csrf, label, "link"))
                        }
                    }
                }
            }
            form method="post" action="/console/admin/webhooks" class="row" {
                (csrf_field(&csrf))
                label class="wide" { (c.t().url) input type="url" name="url" required placeholder="https://"; }
                button type="submit" { (c.t().add_endpoint) }
            }
        }
    })
}

/// An admin form post, as an extractor: the session (the form token checked) and the
/// form's fields.
pub(super) struct AdminForm(Ctx, Vec<(String, String)>);

impl FromRequest<AppState> for AdminForm {
    type Rejection = Response;
    async fn from_request(req: Request, s: &AppState) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, s).await.map_err(IntoResponse::into_response)?;
        let pairs = form(&body);
        let c = post_ctx(s, &headers, &pairs, "/console/admin").await?;
        Ok(Self(c, pairs))
    }
}

/// An admin form posted to `…/{id}/{action}` (an operator's, a webhook endpoint's), as an
/// extractor: the session with the path's id and action word.
pub(super) struct AdminAction(Ctx, String, String);

impl FromRequest<AppState> for AdminAction {
    type Rejection = Response;
    async fn from_request(req: Request, s: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Path((id, action)) = Path::<(String, String)>::from_request_parts(&mut parts, s)
            .await
            .map_err(IntoResponse::into_response)?;
        let AdminForm(c, _) = AdminForm::from_request(Request::from_parts(parts, body), s).await?;
        Ok(Self(c, id, action))
    }
}

/// After an admin action: back to the admin page, or the page with a secret shown once.
pub(super) async fn admin_done(s: &AppState, c: &Ctx, result: Result<Option<(&str, String)>, EngineError>) -> Response {
    match result {
        Ok(None) => see_other("/console/admin", &[]),
        Ok(Some((title, secret))) => match admin_body(s, c, Some((title, &secret)), None).await {
            Ok(body) => c.page(StatusCode::OK, "/console/admin", c.t().admin, body),
            Err(e) => c.error("/console/admin", e),
        },
        Err(e) => c.error("/console/admin", e),
    }
}

/// An id in an admin form's path: not found when malformed.
fn path_id<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, EngineError> {
    raw.parse().map_err(|_| EngineError::NotFound(what))
}

pub(super) async fn invite_operator_post(State(s): State<AppState>, AdminForm(c, pairs): AdminForm) -> Response {
    let role = match field(&pairs, "role") {
        Some("admin") => OperatorRole::Admin,
        _ => OperatorRole::Reviewer,
    };
    let email = field(&pairs, "email").unwrap_or_default();
    let r = s
        .engine
        .invite_operator(&c.session, email, role)
        .await
        .map(|inv| Some((c.t().invited, inv.url)));
    admin_done(&s, &c, r).await
}

pub(super) async fn operator_action_post(State(s): State<AppState>, AdminAction(c, op, action): AdminAction) -> Response {
    let r = async {
        let id: OperatorId = path_id(&op, "operator")?;
        match action.as_str() {
            "disable" => s.engine.set_operator_disabled(&c.session, &id, true).await.map(|()| None),
            "enable" => s.engine.set_operator_disabled(&c.session, &id, false).await.map(|()| None),
            "reinvite" => s
                .engine
                .reinvite_operator(&c.session, &id)
                .await
                .map(|inv| Some((c.t().invited, inv.url))),
            _ => Err(EngineError::NotFound("operator action")),
        }
    };
    admin_done(&s, &c, r.await).await
}

pub(super) async fn settings_post(State(s): State<AppState>, AdminForm(c, pairs): AdminForm) -> Response {
    let four_eyes = field(&pairs, "four_eyes") == Some("on");
    let num = |k: &str| -> Result<u32, EngineError> {
        field(&pairs, k)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| EngineError::Invalid(format!("{k} must be a whole number of days")))
    };
    let r = async {
        let retention = RetentionSettings {
            retention_days: num("retention_days")?,
            max_retention_days: num("max_retention_days")?,
            tombstone_days: num("tombstone_days")?,
        };
        s.engine.set_retention(&c.session.principal, retention).await?;
        s.engine.set_four_eyes(&c.session, four_eyes).await?;
        Ok(None)
    };
    admin_done(&s, &c, r.await).await
}

pub(super) async fn create_key_post(State(s): State<AppState>, AdminForm(c, pairs): AdminForm) -> Response {
    let r = async {
        let scope = field(&pairs, "scope")
            .and_then(Scope::parse)
            .ok_or_else(|| EngineError::Invalid("choose the key's scope: integration, reviewer or admin".into()))?;
        let key = s.engine.console_create_api_key(&c.session, scope).await?;
        Ok(Some((c.t().key_created, format!("{} {}", key.key_id, key.api_key))))
    };
    admin_done(&s, &c, r.await).await
}

pub(super) async fn revoke_key_post(State(s): State<AppState>, Path(key): Path<String>, AdminForm(c, _): AdminForm) -> Response {
    let r = async { s.engine.console_revoke_api_key(&c.session, &path_id(&key, "API key")?).await };
    admin_done(&s, &c, r.await.map(|()| None)).await
}

pub(super) async fn policy_post(State(s): State<AppState>, AdminForm(c, pairs): AdminForm) -> Response {
    let text = field(&pairs, "policy").unwrap_or_default();
    let parsed =
        serde_json::from_str::<Policy>(text).map_err(|e| EngineError::Invalid(format!("the policy is not valid JSON for a policy: {e}")));
    match async { s.engine.set_tenant_policy(&c.session.principal, parsed?).await }.await {
        Ok(_) => see_other("/console/admin", &[]),
        // Shown again with the reviewer's text, so nothing typed is lost.
        Err(EngineError::Invalid(m)) => match admin_body(&s, &c, None, Some(text)).await {
            Ok(body) => {
                let body = html! { (notice("problem", c.t().problem, &m)) (body) };
                c.page(StatusCode::BAD_REQUEST, "/console/admin", c.t().admin, body)
            }
            Err(e) => c.error("/console/admin", e),
        },
        Err(e) => c.error("/console/admin", e),
    }
}

pub(super) async fn create_webhook_post(State(s): State<AppState>, AdminForm(c, pairs): AdminForm) -> Response {
    let new = kycd_engine::webhooks::NewEndpoint {
        url: field(&pairs, "url").unwrap_or_default().trim().to_owned(),
        description: None,
        events: EventFilter::All,
        format: WebhookFormat::Kycd,
    };
    let r = s
        .engine
        .create_webhook_endpoint(&c.session.principal, new)
        .await
        .map(|(ep, secret)| Some((c.t().endpoint_created, format!("{} {secret}", ep.id))));
    admin_done(&s, &c, r).await
}

pub(super) async fn webhook_action_post(State(s): State<AppState>, AdminAction(c, id, action): AdminAction) -> Response {
    let r = async {
        let id: WebhookEndpointId = path_id(&id, "webhook endpoint")?;
        let enabled = match action.as_str() {
            "enable" => true,
            "disable" => false,
            _ => return Err(EngineError::NotFound("webhook endpoint action")),
        };
        let patch = kycd_engine::webhooks::EndpointPatch {
            url: None,
            description: None,
            events: None,
            format: None,
            enabled: Some(enabled),
        };
        s.engine.update_webhook_endpoint(&c.session.principal, &id, patch).await
    };
    admin_done(&s, &c, r.await.map(|_| None)).await
}

pub(super) async fn redeliver_post(
    State(s): State<AppState>,
    Path((id, delivery)): Path<(String, String)>,
    AdminForm(c, _): AdminForm,
) -> Response {
    let here = format!("/console/admin/webhooks/{id}");
    let r = async {
        let endpoint: WebhookEndpointId = path_id(&id, "webhook endpoint")?;
        let delivery: DeliveryId = path_id(&delivery, "webhook delivery")?;
        s.engine.redeliver(&c.session.principal, &endpoint, &delivery).await
    };
    match r.await {
        Ok(_) => see_other(&here, &[]),
        Err(e) => c.error(&here, e),
    }
}

pub(super) async fn webhook_page(State(s): State<AppState>, c: Ctx, Path(id): Path<String>) -> Response {
    let here = format!("/console/admin/webhooks/{id}");
    let got = async {
        if !c.session.is_admin() {
            return Err(EngineError::Forbidden("admins only".into()));
        }
        let id: WebhookEndpointId = path_id(&id, "webhook endpoint")?;
        let ep = s.engine.get_webhook_endpoint(&c.session.principal, &id).await?;
        let deliveries = s.engine.list_webhook_deliveries(&c.session.principal, &id, 100).await?;
        Ok((ep, deliveries))
    }
    .await;
    let (ep, deliveries) = match got {
        Ok(x) => x,
        Err(e) => return c.error(&here, e),
    };
    let csrf = c.csrf();
    let b = html! {
        p { code { (ep.url) } }
        table {
            (table_head(&["", c.t().when, c.t().event, c.t().status, c.t().attempt_count, c.t().last_status]))
            tbody {
                @for (d, event) in &deliveries {
                    tr {
                        td {
                            (button_form(
                                &format!("/console/admin/webhooks/{}/deliveries/{}/redeliver", ep.id, d.id),
                                &csrf,
                                c.t().redeliver,
                                "link"
                            ))
                        }
                        td { (fmt_time(d.created_at)) }
                        td { (event.as_str()) }
                        td { (d.status.as_str()) }
                        td { (d.attempts) }
                        td { (d.last_status_code.map_or_else(|| d.last_error.clone().unwrap_or_default(), |code| code.to_string())) }
                    }
                }
                @if deliveries.is_empty() {
                    tr { td colspan="6" { (c.t().none_yet) } }
                }
            }
        }
        p { a href="/console/admin" { (c.t().back) } }
    };
    c.page(StatusCode::OK, &here, c.t().deliveries, b)
}
