//! One case: the case page, a reviewer's decision, its images and burst frames, the PDF
//! report and the evidence ZIP.

use super::shared::{Ctx, csrf_field, ctx, field, fmt_time, form, id_of, notice, post_ctx, query_pairs, table_head};
use crate::AppState;
use crate::capture::see_other;
use crate::i18n::console::reason_label;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use kycd_core::*;
use kycd_engine::EngineError;
use kycd_engine::console::{ConsoleDecision, DecideOutcome, ReviewAction, failed_reasons, review_reasons, risk_signals};
use kycd_engine::decision::document_facts;
use kycd_engine::evidence::EvidenceExport;
use maud::{Markup, html};

pub(super) fn data_table(c: &Ctx, v: &Verification) -> Markup {
    let d = &v.private.declared;
    let f = document_facts(v).unwrap_or_default();
    let declared_name = d.full_name.as_ref().map(|n| n.expose().to_owned()).or_else(|| {
        let parts: Vec<&str> = [&d.first_name, &d.last_name].into_iter().flatten().map(|p| p.expose()).collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    // A row is a mismatch when the decision's own comparison of it failed (not when it was
    // inconclusive): the console shows the pipeline's verdict, it does not compare again.
    let failed = |check: &str| {
        v.checks
            .iter()
            .any(|c| c.name == check && !c.passed && c.figures.get("outcome").and_then(|o| o.as_str()) != Some("inconclusive"))
    };
    let rows: Vec<(&str, Option<String>, Option<String>, bool)> = vec![
        (c.t().full_name, declared_name.clone(), f.full_name(), failed("name_consistency")),
        (
            c.t().birth_date,
            d.birth_date.as_ref().map(|b| b.expose().to_string()),
            f.birth_date.map(|b| b.to_string()),
            failed("birth_date_consistency"),
        ),
        (
            c.t().document_number,
            d.document_number.as_ref().map(|n| n.expose().to_owned()),
            f.document_number.clone(),
            failed("document_number_consistency"),
        ),
        (c.t().nationality, d.nationality.clone(), f.nationality.clone(), false),
        (
            c.t().document_type,
            None,
            f.document_type
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
            false,
        ),
        (c.t().issuing_country, None, f.issuing_country.clone(), failed("document_allowed")),
        (
            c.t().expiry_date,
            None,
            f.expiry_date.map(|e| e.to_string()),
            failed("document_not_expired"),
        ),
    ];
    html! {
        table class="data" {
            (table_head(&[c.t().field, c.t().declared, c.t().read]))
            tbody {
                @for (label, declared, read, mismatch) in rows {
                    tr class=[mismatch.then_some("mismatch")] {
                        th scope="row" { (label) }
                        td { (declared.as_deref().unwrap_or("—")) }
                        td {
                            (read.as_deref().unwrap_or("—"))
                            @if mismatch { " " strong class="flag" { (c.t().mismatch) } }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn decision_forms(c: &Ctx, v: &Verification, four_eyes: bool) -> Markup {
    if v.status != VerificationStatus::ReviewRequired {
        return html! { p { (c.t().not_decidable) } };
    }
    let csrf = c.csrf();
    html! {
        @if four_eyes {
            p class="help" { (c.t().four_eyes_note) }
        }
        @for (action, key, title, shortcut) in [
            (ReviewAction::Approve, "approve", c.t().approve, "a"),
            (ReviewAction::Decline, "decline", c.t().decline, "d"),
            (ReviewAction::Retry, "retry", c.t().retry, "r"),
        ] {
            form method="post" action={ "/console/verifications/" (v.id) "/decision" } class={ "decide " (key) } data-shortcut=(shortcut) {
                (csrf_field(&csrf))
                input type="hidden" name="action" value=(key);
                fieldset {
                    legend { (title) }
                    label for={ "reason-" (key) } { (c.t().reason) }
                    select id={ "reason-" (key) } name="reason_code" required {
                        @for (code, _) in review_reasons().filter(|(_, a)| *a == action) {
                            option value=(code) { (reason_label(c.lang, code)) }
                        }
                    }
                    label for={ "note-" (key) } { (c.t().note) }
                    textarea id={ "note-" (key) } name="note" rows="2" maxlength="2000" {}
                    label for={ "msg-" (key) } { (c.t().user_message) }
                    textarea id={ "msg-" (key) } name="user_message" rows="2" maxlength="500" {}
                    button type="submit" class=(key) id={ "submit-" (key) } { (title) }
                }
            }
        }
    }
}

pub(super) async fn case_page(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let here = format!("/console/verifications/{id}");
    let case = match async { s.engine.console_case(&c.session, &id_of(&id)?).await }.await {
        Ok(case) => case,
        Err(e) => return c.error(&here, e),
    };
    let q = query_pairs(raw.as_deref());
    let v = &case.report.verification;
    let vid = v.id.as_str();
    let risks = risk_signals(v);
    let body = html! {
        @match field(&q, "done") {
            Some("decided") => { (notice("ok", c.t().decided, v.status.as_str())) }
            Some("proposed") => { (notice("ok", c.t().decided, c.t().proposed)) }
            _ => {}
        }
        p class="meta" {
            (c.t().status) ": " strong id="status" { (v.status.as_str()) }
            " · " (c.t().created) ": " (fmt_time(v.created_at))
            " · " (failed_reasons(v).join(", "))
        }
        @if let Some(next) = &case.next {
            p {
                a href={ "/console/verifications/" (next) } id="next-case" data-shortcut="n" { (c.t().next_case) " →" }
                " " span class="help" { (c.t().shortcuts) }
            }
        } @else {
            p class="help" { (c.t().shortcuts) }
        }
        // Images side by side.
        section aria-labelledby="h-images" {
            h2 id="h-images" { (c.t().images) }
            div class="images" {
                @for cap in &case.report.captures {
                    @let kind = cap.kind.as_str();
                    @if cap.available && cap.kind == CaptureKind::LivenessBurst {
                        (burst_figure(&c, v, cap))
                    } @else if cap.available {
                        @let file = format!("/console/verifications/{vid}/files/{}", cap.id);
                        figure class="viewer" {
                            div class="frame" { img src=(file) alt=(kind) class="shot"; }
                            figcaption {
                                (kind) " "
                                button type="button" class="zoom" data-act="zoom" { (c.t().zoom) }
                                " "
                                button type="button" class="rotate" data-act="rotate" { (c.t().rotate) }
                                " "
                                a href={ (file) "?download=1" } { (c.t().download) }
                            }
                        }
                    } @else {
                        figure class="viewer" { p { (c.t().image_erased) } figcaption { (kind) } }
                    }
                }
            }
        }
        // Data, decision.
        div class="columns" {
            section aria-labelledby="h-data" { h2 id="h-data" { (c.t().data) } (data_table(&c, v)) }
            section aria-labelledby="h-decide" { h2 id="h-decide" { (c.t().decide) } (decision_forms(&c, v, case.four_eyes)) }
        }
        // Checks and risks.
        section aria-labelledby="h-checks" {
            h2 id="h-checks" { (c.t().checks) }
            p {
                (c.t().risks) ": "
                strong { @if risks.is_empty() { (c.t().no_risks) } @else { (risks.join(", ")) } }
            }
            div class="scroll" {
                table class="checks" {
                    (table_head(&[c.t().check, c.t().result, c.t().what, c.t().figures]))
                    tbody {
                        @for ch in &v.checks {
                            tr class=(if ch.passed { "pass" } else { "fail" }) {
                                td { (ch.name) }
                                td { (if ch.passed { c.t().passed } else { c.t().failed }) }
                                td { (ch.detail) }
                                td { details { summary { (c.t().figures) } code { (ch.figures.to_string()) } } }
                            }
                        }
                    }
                }
            }
        }
        // Decisions so far.
        section aria-labelledby="h-decisions" {
            h2 id="h-decisions" { (c.t().decisions) }
            @if v.review.is_none() && case.proposal.is_none() {
                p { (c.t().no_decision) }
            }
            @if let Some(p) = &case.proposal {
                p class="proposal" {
                    strong { (c.t().first_decision) } ": " (format!("{:?}", p.decision))
                    " · " (reason_label(c.lang, &p.reason_code)) " · " (p.proposed_by) " · " (fmt_time(p.proposed_at))
                }
            }
            @if let Some(r) = &v.review {
                p class="review" {
                    (format!("{:?}", r.decision)) " · " (r.reason) " · " (r.reviewer)
                    @if let Some(second) = &r.confirmed_by { " + " (second) }
                    " · " (fmt_time(r.reviewed_at))
                }
            }
        }
        // Attempts and the audit trail.
        section aria-labelledby="h-attempts" {
            h2 id="h-attempts" { (c.t().attempts) }
            ul {
                @for a in &case.report.attempts {
                    li { code { (a.id) } " · " (a.status.as_str()) " · " (fmt_time(a.created_at)) }
                }
            }
        }
        section aria-labelledby="h-timeline" {
            h2 id="h-timeline" { (c.t().timeline) }
            table class="timeline" {
                (table_head(&[c.t().when, c.t().what, c.t().who]))
                tbody {
                    @for e in &case.audit_trail {
                        tr { td { (fmt_time(e.at)) } td { (e.action) } td { (e.actor) } }
                    }
                }
            }
        }
        // Downloads and the policy.
        section aria-labelledby="h-downloads" {
            h2 id="h-downloads" { (c.t().downloads) }
            p {
                a href={ "/console/verifications/" (vid) "/report.pdf" } { (c.t().report_pdf) }
                " · "
                a href={ "/console/verifications/" (vid) "/evidence.zip" } { (c.t().evidence_zip) }
            }
        }
        details { summary { (c.t().policy) } pre { (serde_json::to_string_pretty(&v.policy).unwrap_or_default()) } }
    };
    c.page(StatusCode::OK, &here, &format!("{} {}", c.t().verification, v.id), body)
}

pub(super) async fn decision_post(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let pairs = form(&body);
    let here = format!("/console/verifications/{id}");
    let c = match post_ctx(&s, &headers, &pairs, &here).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let action = match field(&pairs, "action") {
        Some("approve") => ReviewAction::Approve,
        Some("decline") => ReviewAction::Decline,
        Some("retry") => ReviewAction::Retry,
        _ => return c.problem(StatusCode::BAD_REQUEST, &here, "choose approve, decline or request a new capture"),
    };
    let d = ConsoleDecision {
        action,
        reason_code: field(&pairs, "reason_code").unwrap_or_default().to_owned(),
        note: field(&pairs, "note").unwrap_or_default().to_owned(),
        user_message: field(&pairs, "user_message").unwrap_or_default().to_owned(),
    };
    match async { s.engine.console_decide(&c.session, &id_of(&id)?, d).await }.await {
        Ok(DecideOutcome::Decided(_)) => see_other(&format!("{here}?done=decided"), &[]),
        Ok(DecideOutcome::AwaitingSecondReviewer) => see_other(&format!("{here}?done=proposed"), &[]),
        Err(e) => c.error(&here, e),
    }
}

/// A liveness burst on the case page: each frame (streamed from the encrypted store like
/// the other images) with its yaw, pitch and parallax, the steps asked and the reasons,
/// from the burst's `liveness` check.
pub(super) fn burst_figure(c: &Ctx, v: &Verification, cap: &Capture) -> Markup {
    let file = format!("/console/verifications/{}/files/{}", v.id, cap.id);
    let check = v
        .checks
        .iter()
        .find(|ch| ch.name == "liveness" && ch.figures.get("file_id").and_then(|f| f.as_str()) == Some(cap.id.as_str()));
    let words = |f: &serde_json::Value, key: &str| -> String {
        f[key]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let num = |f: &serde_json::Value, key: &str, i: u64| {
        f[key]
            .get(i as usize)
            .filter(|x| !x.is_null())
            .map_or_else(|| "–".to_owned(), ToString::to_string)
    };
    html! {
        figure class="viewer burst" {
            figcaption {
                strong { (c.t().liveness_frames) } " "
                a href={ (file) "?download=1" } { (c.t().download) }
            }
            @if let Some(check) = check {
                @let f = &check.figures;
                p { (c.t().liveness_asked) ": " (words(f, "challenge")) " · " (c.t().liveness_reasons) ": " (words(f, "reasons")) }
                div class="frames" {
                    @for i in 0..f["frames"].as_u64().unwrap_or(0) {
                        figure class="burst-frame" {
                            img src={ (file) "?frame=" (i) } alt={ (c.t().liveness_frame) " " (i) } loading="lazy" class="thumb";
                            figcaption {
                                (c.t().liveness_frame) " " (i)
                                " · " (c.t().yaw) " " (num(f, "yaw", i))
                                " · " (c.t().pitch) " " (num(f, "pitch", i))
                                " · " (c.t().parallax) " " (num(f, "parallax", i))
                            }
                        }
                    }
                }
            } @else {
                p { (c.t().liveness_unprocessed) }
            }
        }
    }
}

pub(super) async fn image(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, file)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let c = match ctx(&s, &headers, None).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let here = format!("/console/verifications/{id}");
    let got = async {
        let file: FileId = file.parse().map_err(|_| EngineError::NotFound("file"))?;
        s.engine.console_image(&c.session, &id_of(&id)?, &file).await
    }
    .await;
    // A burst's frame (`?frame=N`) is served as the JPEG it is.
    let frame = field(&query_pairs(raw.as_deref()), "frame").map(|f| f.parse::<usize>());
    let mut resp = match (got, frame) {
        (Ok((cap, stream)), Some(i)) if cap.kind == CaptureKind::LivenessBurst => {
            match kycd_engine::liveness::burst_frame(cap, stream, i.ok()).await {
                Ok((frame, jpeg)) => crate::api::capture_download(&frame, jpeg),
                Err(e) => return c.error(&here, e),
            }
        }
        (Ok((cap, stream)), _) => crate::api::streamed_capture(&cap, stream),
        (Err(e), _) => return c.error(&here, e),
    };
    if field(&query_pairs(raw.as_deref()), "download").is_none() {
        resp.headers_mut()
            .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    resp
}

/// A case's evidence for a download, its read audited as `action`: the signed-in operator
/// and the export, or the page to answer instead.
async fn case_export(s: &AppState, headers: &HeaderMap, id: &str, action: &str) -> Result<(Ctx, EvidenceExport), Response> {
    let c = ctx(s, headers, None).await?;
    match async { s.engine.evidence_export(&c.session.principal, &id_of(id)?, action).await }.await {
        Ok(ex) => Ok((c, ex)),
        Err(e) => Err(c.error(&format!("/console/verifications/{id}"), e)),
    }
}

pub(super) async fn report_pdf(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (c, ex) = match case_export(&s, &headers, &id, "evidence.pdf.read").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.engine.render_pdf(&ex).await {
        Ok(pdf) => crate::api::download(pdf, "application/pdf", &format!("{}-report.pdf", ex.verification_id())),
        Err(e) => c.error(&format!("/console/verifications/{id}"), e),
    }
}

pub(super) async fn evidence_zip(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (c, ex) = match case_export(&s, &headers, &id, "evidence.zip.read").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = format!("{}-evidence.zip", ex.verification_id());
    match s.engine.stream_evidence_zip(ex).await {
        Ok(rx) => {
            let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
            crate::api::download(axum::body::Body::from_stream(stream), "application/zip", &name)
        }
        Err(e) => c.error(&format!("/console/verifications/{id}"), e),
    }
}
