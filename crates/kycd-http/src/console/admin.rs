//! The admin page: operators, settings, the default policy, API keys and webhooks.

use super::i18n::{reason_label, t};
use super::shared::{Ctx, button_form, csrf_field, ctx, field, fmt_time, form, notice, post_ctx, role_label};
use crate::AppState;
use crate::capture::html::esc;
use crate::capture::i18n::Lang;
use crate::capture::{cookie, see_other};
use crate::extract::ClientAddr;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use kycd_core::*;
use kycd_engine::console::{
    ConsoleDecision, DecideOutcome, OperatorSession, QueueFilter, REVIEW_REASONS, ReviewAction, failed_reasons, form_token,
    form_token_matches, new_totp_secret, risk_signals,
};
use kycd_engine::decision::document_facts;
use kycd_engine::{EngineError, OperatorRole};

pub(super) async fn admin_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match admin_body(&s, &c, None, None).await {
        Ok(body) => c.page(StatusCode::OK, "/console/admin", c.t("admin"), &body),
        Err(e) => c.error("/console/admin", e),
    }
}

/// The admin page; `shown_once` is a notice with a secret (invitation link, API key).
pub(super) async fn admin_body(
    s: &AppState,
    c: &Ctx,
    shown_once: Option<(&str, &str)>,
    policy_text: Option<&str>,
) -> Result<String, EngineError> {
    let ops = s.engine.list_operators(&c.session).await?;
    let keys = s.engine.console_api_keys(&c.session).await?;
    let hooks = s.engine.list_webhook_endpoints(&c.session.principal).await?;
    let tenant = s.engine.tenant(&c.session.principal).await?;
    let four_eyes = s.engine.four_eyes(&c.session.operator.tenant_id).await?;
    let csrf = c.csrf();
    let mut b = String::new();
    if let Some((title, secret)) = shown_once {
        b.push_str(&format!(
            "<div class=\"notice ok\" role=\"status\"><p><strong>{}</strong></p><p><code class=\"secret\" id=\"shown-once\">{}</code></p></div>",
            esc(title),
            esc(secret)
        ));
    }
    // Operators.
    b.push_str(&format!(
        "<section aria-labelledby=\"h-ops\"><h2 id=\"h-ops\">{}</h2><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\"></th></tr></thead><tbody>",
        esc(c.t("operators")),
        esc(c.t("email")),
        esc(c.t("role")),
        esc(c.t("state")),
        esc(c.t("two_factor"))
    ));
    for o in &ops {
        let state = if o.disabled {
            c.t("disabled")
        } else if o.active {
            c.t("active")
        } else {
            c.t("pending_invite")
        };
        let base = format!("/console/admin/operators/{}", o.id);
        let mut actions = button_form(&format!("{base}/reinvite"), &csrf, c.t("reinvite"), "link");
        if o.id != c.session.operator.id {
            let (act, label) = if o.disabled {
                ("enable", c.t("enable"))
            } else {
                ("disable", c.t("disable"))
            };
            actions.push_str(&button_form(&format!("{base}/{act}"), &csrf, label, "link"));
        }
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&o.email),
            esc(role_label(c.lang, o.role)),
            esc(state),
            esc(if o.totp_enabled { c.t("on") } else { c.t("off") }),
            actions
        ));
    }
    b.push_str(&format!(
        "</tbody></table><form method=\"post\" action=\"/console/admin/operators\" class=\"row\">{}\
         <label>{}<input type=\"email\" name=\"email\" required></label>\
         <label>{}<select name=\"role\"><option value=\"reviewer\">{}</option><option value=\"admin\">{}</option></select></label>\
         <button type=\"submit\">{}</button></form></section>",
        csrf_field(&csrf),
        esc(c.t("email")),
        esc(c.t("role")),
        esc(c.t("reviewer")),
        esc(c.t("admin_role")),
        esc(c.t("invite")),
    ));
    // Settings.
    let r = tenant.retention;
    b.push_str(&format!(
        "<section aria-labelledby=\"h-settings\"><h2 id=\"h-settings\">{}</h2><form method=\"post\" action=\"/console/admin/settings\" class=\"stack\">{}\
         <label class=\"check\"><input type=\"checkbox\" name=\"four_eyes\" value=\"on\"{}> {}</label>\
         <label>{}<input type=\"number\" name=\"retention_days\" min=\"1\" value=\"{}\" required></label>\
         <label>{}<input type=\"number\" name=\"max_retention_days\" min=\"1\" value=\"{}\" required></label>\
         <label>{}<input type=\"number\" name=\"tombstone_days\" min=\"0\" value=\"{}\" required></label>\
         <button type=\"submit\">{}</button></form></section>",
        esc(c.t("settings")),
        csrf_field(&csrf),
        if four_eyes { " checked" } else { "" },
        esc(c.t("four_eyes")),
        esc(c.t("retention_days")),
        r.retention_days,
        esc(c.t("max_retention_days")),
        r.max_retention_days,
        esc(c.t("tombstone_days")),
        r.tombstone_days,
        esc(c.t("save")),
    ));
    // The default policy, versioned.
    let (version, policy, history) = s.engine.tenant_policy(&c.session.principal).await?;
    let policy_json = policy_text.map_or_else(|| serde_json::to_string_pretty(&policy).unwrap_or_default(), str::to_owned);
    let versions: String = history
        .iter()
        .map(|h| {
            format!(
                "<li>v{} · {} · {}</li>",
                h.version,
                esc(&h.created_by),
                esc(&fmt_time(h.created_at))
            )
        })
        .collect();
    b.push_str(&format!(
        "<section aria-labelledby=\"h-policy\"><h2 id=\"h-policy\">{title}</h2><p class=\"help\">{text}</p><p>{current}: <strong id=\"policy-version\">{version}</strong></p>\
         <form method=\"post\" action=\"/console/admin/policy\" class=\"stack\">{csrf}<label for=\"policy\">{title} (JSON)</label>\
         <textarea id=\"policy\" name=\"policy\" rows=\"12\" class=\"code\" spellcheck=\"false\">{json}</textarea><button type=\"submit\">{save}</button></form><ul>{versions}</ul></section>",
        title = esc(c.t("policy")),
        text = esc(c.t("policy_text")),
        current = esc(c.t("policy_version")),
        version = version.map_or_else(|| c.t("policy_defaults").to_owned(), |v| format!("v{v}")),
        csrf = csrf_field(&csrf),
        json = esc(&policy_json),
        save = esc(c.t("save")),
    ));
    // API keys.
    b.push_str(&format!(
        "<section aria-labelledby=\"h-keys\"><h2 id=\"h-keys\">{}</h2><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\"></th></tr></thead><tbody>",
        esc(c.t("api_keys")),
        esc(c.t("key")),
        esc(c.t("scope")),
        esc(c.t("created")),
    ));
    for k in &keys {
        let action = match k.revoked_at {
            Some(at) => format!("{} {}", esc(c.t("revoked")), esc(&fmt_time(at))),
            None => button_form(
                &format!("/console/admin/api-keys/{}/revoke", k.id),
                &csrf,
                c.t("revoke"),
                "link danger",
            ),
        };
        b.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(k.id.as_str()),
            esc(k.scope.as_str()),
            esc(&fmt_time(k.created_at)),
            action
        ));
    }
    b.push_str(&format!(
        "</tbody></table><form method=\"post\" action=\"/console/admin/api-keys\" class=\"row\">{}\
         <label>{}<select name=\"scope\"><option value=\"integration\">integration</option><option value=\"reviewer\">reviewer</option><option value=\"admin\">admin</option></select></label>\
         <button type=\"submit\">{}</button></form></section>",
        csrf_field(&csrf),
        esc(c.t("scope")),
        esc(c.t("create_key")),
    ));
    // Webhooks.
    b.push_str(&format!(
        "<section aria-labelledby=\"h-hooks\"><h2 id=\"h-hooks\">{}</h2>",
        esc(c.t("webhooks"))
    ));
    if hooks.is_empty() {
        b.push_str(&format!("<p>{}</p>", esc(c.t("none_yet"))));
    } else {
        b.push_str("<ul>");
        for h in &hooks {
            let (act, label) = if h.enabled {
                ("disable", c.t("disable"))
            } else {
                ("enable", c.t("enable"))
            };
            b.push_str(&format!(
                "<li><code>{}</code> · {} · <a href=\"/console/admin/webhooks/{}\">{}</a> {}</li>",
                esc(&h.url),
                esc(if h.enabled { c.t("active") } else { c.t("disabled") }),
                esc(h.id.as_str()),
                esc(c.t("deliveries")),
                button_form(&format!("/console/admin/webhooks/{}/{act}", h.id), &csrf, label, "link"),
            ));
        }
        b.push_str("</ul>");
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"/console/admin/webhooks\" class=\"row\">{}<label class=\"wide\">{}<input type=\"url\" name=\"url\" required placeholder=\"https://\"></label><button type=\"submit\">{}</button></form></section>",
        csrf_field(&csrf),
        esc(c.t("url")),
        esc(c.t("add_endpoint")),
    ));
    Ok(b)
}

/// An admin form's session and fields (the form token checked).
pub(super) async fn admin_form(s: &AppState, headers: &HeaderMap, body: &Bytes) -> Result<(Ctx, Vec<(String, String)>), Response> {
    let pairs = form(body);
    let c = post_ctx(s, headers, &pairs, "/console/admin").await?;
    Ok((c, pairs))
}

/// After an admin action: back to the admin page, or the page with a secret shown once.
pub(super) async fn admin_done(s: &AppState, c: &Ctx, result: Result<Option<(&str, String)>, EngineError>) -> Response {
    match result {
        Ok(None) => see_other("/console/admin", &[]),
        Ok(Some((title, secret))) => match admin_body(s, c, Some((title, &secret)), None).await {
            Ok(body) => c.page(StatusCode::OK, "/console/admin", c.t("admin"), &body),
            Err(e) => c.error("/console/admin", e),
        },
        Err(e) => c.error("/console/admin", e),
    }
}

pub(super) async fn invite_operator_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let role = match field(&pairs, "role") {
        Some("admin") => OperatorRole::Admin,
        _ => OperatorRole::Reviewer,
    };
    let email = field(&pairs, "email").unwrap_or_default();
    let r = s
        .engine
        .invite_operator(&c.session, email, role)
        .await
        .map(|inv| Some((c.t("invited"), inv.url)));
    admin_done(&s, &c, r).await
}

pub(super) async fn operator_action_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((op, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (c, _) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let id: OperatorId = op.parse().map_err(|_| EngineError::NotFound("operator"))?;
        match action.as_str() {
            "disable" => s.engine.set_operator_disabled(&c.session, &id, true).await.map(|()| None),
            "enable" => s.engine.set_operator_disabled(&c.session, &id, false).await.map(|()| None),
            "reinvite" => s
                .engine
                .reinvite_operator(&c.session, &id)
                .await
                .map(|inv| Some((c.t("invited"), inv.url))),
            _ => Err(EngineError::NotFound("operator action")),
        }
    }
    .await;
    admin_done(&s, &c, r).await
}

pub(super) async fn settings_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let four_eyes = field(&pairs, "four_eyes") == Some("on");
        let num = |k: &str| -> Result<u32, EngineError> {
            field(&pairs, k)
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| EngineError::Invalid(format!("{k} must be a whole number of days")))
        };
        let retention = RetentionSettings {
            retention_days: num("retention_days")?,
            max_retention_days: num("max_retention_days")?,
            tombstone_days: num("tombstone_days")?,
        };
        s.engine.set_retention(&c.session.principal, retention).await?;
        s.engine.set_four_eyes(&c.session, four_eyes).await?;
        Ok(None)
    }
    .await;
    admin_done(&s, &c, r).await
}

pub(super) async fn create_key_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let scope = field(&pairs, "scope")
            .and_then(Scope::parse)
            .ok_or_else(|| EngineError::Invalid("choose the key's scope: integration, reviewer or admin".into()))?;
        let key = s.engine.console_create_api_key(&c.session, scope).await?;
        Ok(Some((c.t("key_created"), format!("{} {}", key.key_id, key.api_key))))
    }
    .await;
    admin_done(&s, &c, r).await
}

pub(super) async fn revoke_key_post(State(s): State<AppState>, headers: HeaderMap, Path(key): Path<String>, body: Bytes) -> Response {
    let (c, _) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let id: ApiKeyId = key.parse().map_err(|_| EngineError::NotFound("API key"))?;
        s.engine.console_revoke_api_key(&c.session, &id).await.map(|()| None)
    }
    .await;
    admin_done(&s, &c, r).await
}

pub(super) async fn policy_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let text = field(&pairs, "policy").unwrap_or_default();
    let parsed =
        serde_json::from_str::<Policy>(text).map_err(|e| EngineError::Invalid(format!("the policy is not valid JSON for a policy: {e}")));
    match async { s.engine.set_tenant_policy(&c.session.principal, parsed?).await }.await {
        Ok(_) => see_other("/console/admin", &[]),
        // Shown again with the reviewer's text, so nothing typed is lost.
        Err(EngineError::Invalid(m)) => match admin_body(&s, &c, None, Some(text)).await {
            Ok(body) => {
                let body = format!("{}{body}", notice("problem", c.t("problem"), &m));
                c.page(StatusCode::BAD_REQUEST, "/console/admin", c.t("admin"), &body)
            }
            Err(e) => c.error("/console/admin", e),
        },
        Err(e) => c.error("/console/admin", e),
    }
}

pub(super) async fn create_webhook_post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (c, pairs) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
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
        .map(|(ep, secret)| Some((c.t("endpoint_created"), format!("{} {secret}", ep.id))));
    admin_done(&s, &c, r).await
}

pub(super) async fn webhook_action_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (c, _) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let id: WebhookEndpointId = id.parse().map_err(|_| EngineError::NotFound("webhook endpoint"))?;
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
        s.engine
            .update_webhook_endpoint(&c.session.principal, &id, patch)
            .await
            .map(|_| None)
    }
    .await;
    admin_done(&s, &c, r).await
}

pub(super) async fn redeliver_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, delivery)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (c, _) = match admin_form(&s, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let r = async {
        let endpoint: WebhookEndpointId = id.parse().map_err(|_| EngineError::NotFound("webhook endpoint"))?;
        let delivery: DeliveryId = delivery.parse().map_err(|_| EngineError::NotFound("webhook delivery"))?;
        s.engine.redeliver(&c.session.principal, &endpoint, &delivery).await
    }
    .await;
    match r {
        Ok(_) => see_other(&format!("/console/admin/webhooks/{id}"), &[]),
        Err(e) => c.error(&format!("/console/admin/webhooks/{id}"), e),
    }
}

pub(super) async fn webhook_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let here = format!("/console/admin/webhooks/{id}");
    let got = async {
        if !c.session.is_admin() {
            return Err(EngineError::Forbidden("admins only".into()));
        }
        let id: WebhookEndpointId = id.parse().map_err(|_| EngineError::NotFound("webhook endpoint"))?;
        let ep = s.engine.get_webhook_endpoint(&c.session.principal, &id).await?;
        let deliveries = s.engine.list_webhook_deliveries(&c.session.principal, &id, 100).await?;
        Ok((ep, deliveries))
    }
    .await;
    let (ep, deliveries) = match got {
        Ok(x) => x,
        Err(e) => return c.error(&here, e),
    };
    let mut b = format!(
        "<p><code>{}</code></p><table><thead><tr><th scope=\"col\"></th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(&ep.url),
        esc(c.t("when")),
        esc(c.t("event")),
        esc(c.t("status")),
        esc(c.t("attempt_count")),
        esc(c.t("last_status")),
    );
    let csrf = c.csrf();
    for (d, event) in &deliveries {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            button_form(
                &format!("/console/admin/webhooks/{}/deliveries/{}/redeliver", ep.id, d.id),
                &csrf,
                c.t("redeliver"),
                "link"
            ),
            esc(&fmt_time(d.created_at)),
            esc(event.as_str()),
            esc(d.status.as_str()),
            d.attempts,
            esc(&d
                .last_status_code
                .map_or_else(|| d.last_error.clone().unwrap_or_default(), |c| c.to_string())),
        ));
    }
    if deliveries.is_empty() {
        b.push_str(&format!("<tr><td colspan=\"6\">{}</td></tr>", esc(c.t("none_yet"))));
    }
    b.push_str(&format!(
        "</tbody></table><p><a href=\"/console/admin\">{}</a></p>",
        esc(c.t("back"))
    ));
    c.page(StatusCode::OK, &here, c.t("deliveries"), &b)
}
