//! The queue: verifications waiting for a person, with filters.

use super::shared::{Ctx, age, field, fmt_time, query_pairs, table_head};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use kycd_core::*;
use kycd_engine::console::QueueFilter;
use maud::html;

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

pub(super) async fn queue_page(State(s): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> Response {
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
    let now = Utc::now();
    let shown_status = status.unwrap_or(VerificationStatus::ReviewRequired);
    let body = html! {
        form method="get" action="/console/queue" class="filters" role="search" {
            label {
                (lang.console().status)
                select name="status" {
                    @for st in QUEUE_STATUSES {
                        option value=(st.as_str()) selected[shown_status == st] { (st.as_str()) }
                    }
                }
            }
            label {
                (lang.console().reason)
                select name="reason" {
                    option value="" selected[reason.is_none()] { (lang.console().any) }
                    @for r in QUEUE_REASONS {
                        option value=(r) selected[reason.as_deref() == Some(r)] { (r) }
                    }
                }
            }
            label { (lang.console().from) input type="date" name="from" value=(field(&q, "from").unwrap_or_default()); }
            label { (lang.console().to) input type="date" name="to" value=(field(&q, "to").unwrap_or_default()); }
            label class="wide" {
                (lang.console().search)
                input type="search" name="q" value=(field(&q, "q").unwrap_or_default()) autocomplete="off";
            }
            button type="submit" { (lang.console().filter) }
        }
        @if items.is_empty() {
            p class="empty" { (lang.console().queue_empty) }
        } @else {
            table class="queue" {
                (table_head(&[lang.console().verification, lang.console().age, lang.console().reason, lang.console().status, lang.console().created]))
                tbody {
                    @for (i, item) in items.iter().enumerate() {
                        @let v = &item.verification;
                        tr {
                            td { a href={ "/console/verifications/" (v.id) } data-first[i == 0] { (v.id) } }
                            td { (age(v.created_at, now)) }
                            td {
                                (item.reasons.join(", "))
                                @if item.proposal.is_some() { " · " (lang.console().awaiting_second) }
                            }
                            td { (v.status.as_str()) }
                            td { (fmt_time(v.created_at)) }
                        }
                    }
                }
            }
        }
    };
    c.page(StatusCode::OK, "/console/queue", c.t().queue, body)
}
