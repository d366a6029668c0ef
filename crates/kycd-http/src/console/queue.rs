//! The queue: verifications waiting for a person, with filters.

use super::i18n::{reason_label, t};
use super::shared::{age, ctx, field, fmt_time, form, query_pairs};
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

pub(super) const QUEUE_STATUSES: [VerificationStatus; 3] = [
    VerificationStatus::ReviewRequired,
    VerificationStatus::Approved,
    VerificationStatus::Declined,
];
pub(super) const QUEUE_REASONS: [&str; 10] = [
    "inconclusive",
    "capture_reused",
    "image_provenance",
    "poor_image_quality",
    "image_unreadable",
    "images_missing",
    "document_expired",
    "age_requirement_not_met",
    "document_not_accepted",
    "data_mismatch",
];

pub(super) fn parse_day(s: Option<&str>) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s?.trim(), "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

pub(super) async fn queue_page(State(s): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = query_pairs(raw.as_deref());
    let status = field(&q, "status").and_then(|v| v.parse::<VerificationStatus>().ok());
    let reason = field(&q, "reason").filter(|r| QUEUE_REASONS.contains(r)).map(str::to_owned);
    let filter = QueueFilter {
        status,
        from: parse_day(field(&q, "from")),
        to: parse_day(field(&q, "to")),
        reason: reason.clone(),
        search: field(&q, "q").map(str::to_owned),
    };
    let items = match s.engine.review_queue(&c.session, &filter).await {
        Ok(i) => i,
        Err(e) => return c.error("/console/queue", e),
    };
    let lang = c.lang;
    let opt = |value: &str, label: &str, selected: bool| {
        format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(value),
            if selected { " selected" } else { "" },
            esc(label)
        )
    };
    let statuses: String = QUEUE_STATUSES
        .iter()
        .map(|st| {
            opt(
                st.as_str(),
                st.as_str(),
                status.unwrap_or(VerificationStatus::ReviewRequired) == *st,
            )
        })
        .collect();
    let reasons: String = std::iter::once(opt("", t(lang, "any"), reason.is_none()))
        .chain(QUEUE_REASONS.iter().map(|r| opt(r, r, reason.as_deref() == Some(*r))))
        .collect();
    let mut body = format!(
        "<form method=\"get\" action=\"/console/queue\" class=\"filters\" role=\"search\">\
         <label>{status_l}<select name=\"status\">{statuses}</select></label>\
         <label>{reason_l}<select name=\"reason\">{reasons}</select></label>\
         <label>{from_l}<input type=\"date\" name=\"from\" value=\"{from}\"></label>\
         <label>{to_l}<input type=\"date\" name=\"to\" value=\"{to}\"></label>\
         <label class=\"wide\">{search_l}<input type=\"search\" name=\"q\" value=\"{search}\" autocomplete=\"off\"></label>\
         <button type=\"submit\">{filter_l}</button></form>",
        status_l = esc(t(lang, "status")),
        reason_l = esc(t(lang, "reason")),
        from_l = esc(t(lang, "from")),
        to_l = esc(t(lang, "to")),
        search_l = esc(t(lang, "search")),
        filter_l = esc(t(lang, "filter")),
        from = esc(field(&q, "from").unwrap_or_default()),
        to = esc(field(&q, "to").unwrap_or_default()),
        search = esc(field(&q, "q").unwrap_or_default()),
    );
    if items.is_empty() {
        body.push_str(&format!("<p class=\"empty\">{}</p>", esc(t(lang, "queue_empty"))));
    } else {
        let now = Utc::now();
        body.push_str(&format!(
            "<table class=\"queue\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            esc(t(lang, "verification")),
            esc(t(lang, "age")),
            esc(t(lang, "reason")),
            esc(t(lang, "status")),
            esc(t(lang, "created")),
        ));
        for (i, item) in items.iter().enumerate() {
            let v = &item.verification;
            let mut why = item.reasons.join(", ");
            if item.proposal.is_some() {
                why = format!("{why} · {}", t(lang, "awaiting_second"));
            }
            body.push_str(&format!(
                "<tr><td><a href=\"/console/verifications/{id}\"{first}>{id}</a></td><td>{age}</td><td>{why}</td><td>{status}</td><td>{created}</td></tr>",
                id = esc(v.id.as_str()),
                first = if i == 0 { " data-first" } else { "" },
                age = esc(&age(v.created_at, now)),
                why = esc(&why),
                status = esc(v.status.as_str()),
                created = esc(&fmt_time(v.created_at)),
            ));
        }
        body.push_str("</tbody></table>");
    }
    c.page(StatusCode::OK, "/console/queue", c.t("queue"), &body)
}
