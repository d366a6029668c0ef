//! One case: the case page, a reviewer's decision, its images and burst frames, the PDF
//! report and the evidence ZIP.

use super::i18n::{reason_label, t};
use super::shared::{Ctx, csrf_field, ctx, field, fmt_time, form, id_of, notice, post_ctx, query_pairs};
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

pub(super) fn data_table(c: &Ctx, v: &Verification) -> String {
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
        ("full_name", declared_name.clone(), f.full_name(), failed("name_consistency")),
        (
            "birth_date",
            d.birth_date.as_ref().map(|b| b.expose().to_string()),
            f.birth_date.map(|b| b.to_string()),
            failed("birth_date_consistency"),
        ),
        (
            "document_number",
            d.document_number.as_ref().map(|n| n.expose().to_owned()),
            f.document_number.clone(),
            failed("document_number_consistency"),
        ),
        ("nationality", d.nationality.clone(), f.nationality.clone(), false),
        (
            "document_type",
            None,
            f.document_type
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
            false,
        ),
        ("issuing_country", None, f.issuing_country.clone(), failed("document_allowed")),
        (
            "expiry_date",
            None,
            f.expiry_date.map(|e| e.to_string()),
            failed("document_not_expired"),
        ),
    ];
    let mut out = format!(
        "<table class=\"data\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(c.t("field")),
        esc(c.t("declared")),
        esc(c.t("read"))
    );
    for (key, declared, read, mismatch) in rows {
        out.push_str(&format!(
            "<tr{cls}><th scope=\"row\">{label}</th><td>{declared}</td><td>{read}{flag}</td></tr>",
            cls = if mismatch { " class=\"mismatch\"" } else { "" },
            label = esc(c.t(key)),
            declared = esc(declared.as_deref().unwrap_or("—")),
            read = esc(read.as_deref().unwrap_or("—")),
            flag = if mismatch {
                format!(" <strong class=\"flag\">{}</strong>", esc(c.t("mismatch")))
            } else {
                String::new()
            },
        ));
    }
    out.push_str("</tbody></table>");
    out
}

pub(super) fn decision_forms(c: &Ctx, v: &Verification, four_eyes: bool) -> String {
    if v.status != VerificationStatus::ReviewRequired {
        return format!("<p>{}</p>", esc(c.t("not_decidable")));
    }
    let mut out = String::new();
    if four_eyes {
        out.push_str(&format!("<p class=\"help\">{}</p>", esc(c.t("four_eyes_note"))));
    }
    for (action, key, class, shortcut) in [
        (ReviewAction::Approve, "approve", "approve", "a"),
        (ReviewAction::Decline, "decline", "decline", "d"),
        (ReviewAction::Retry, "retry", "retry", "r"),
    ] {
        let options: String = REVIEW_REASONS
            .iter()
            .filter(|(_, a)| *a == action)
            .map(|(code, _)| format!("<option value=\"{}\">{}</option>", esc(code), esc(&reason_label(c.lang, code))))
            .collect();
        out.push_str(&format!(
            "<form method=\"post\" action=\"/console/verifications/{id}/decision\" class=\"decide {class}\" data-shortcut=\"{shortcut}\">{csrf}\
             <input type=\"hidden\" name=\"action\" value=\"{key}\">\
             <fieldset><legend>{title}</legend>\
             <label for=\"reason-{key}\">{reason}</label><select id=\"reason-{key}\" name=\"reason_code\" required>{options}</select>\
             <label for=\"note-{key}\">{note}</label><textarea id=\"note-{key}\" name=\"note\" rows=\"2\" maxlength=\"2000\"></textarea>\
             <label for=\"msg-{key}\">{msg}</label><textarea id=\"msg-{key}\" name=\"user_message\" rows=\"2\" maxlength=\"500\"></textarea>\
             <button type=\"submit\" class=\"{class}\" id=\"submit-{key}\">{title}</button></fieldset></form>",
            id = esc(v.id.as_str()),
            csrf = csrf_field(&c.csrf()),
            title = esc(c.t(key)),
            reason = esc(c.t("reason")),
            note = esc(c.t("note")),
            msg = esc(c.t("user_message")),
        ));
    }
    out
}

pub(super) async fn case_page(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let c = match ctx(&s, &headers, raw.as_deref()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let here = format!("/console/verifications/{id}");
    let case = match async { s.engine.console_case(&c.session, &id_of(&id)?).await }.await {
        Ok(case) => case,
        Err(e) => return c.error(&here, e),
    };
    let q = query_pairs(raw.as_deref());
    let v = &case.report.verification;
    let vid = esc(v.id.as_str());
    let mut body = String::new();
    match field(&q, "done") {
        Some("decided") => body.push_str(&notice("ok", c.t("decided"), v.status.as_str())),
        Some("proposed") => body.push_str(&notice("ok", c.t("decided"), c.t("proposed"))),
        _ => {}
    }
    body.push_str(&format!(
        "<p class=\"meta\">{status_l}: <strong id=\"status\">{status}</strong> · {created_l}: {created} · {reasons}</p>",
        status_l = esc(c.t("status")),
        status = esc(v.status.as_str()),
        created_l = esc(c.t("created")),
        created = esc(&fmt_time(v.created_at)),
        reasons = esc(&failed_reasons(v).join(", ")),
    ));
    if let Some(next) = &case.next {
        body.push_str(&format!(
            "<p><a href=\"/console/verifications/{}\" id=\"next-case\" data-shortcut=\"n\">{} →</a> <span class=\"help\">{}</span></p>",
            esc(next.as_str()),
            esc(c.t("next_case")),
            esc(c.t("shortcuts"))
        ));
    } else {
        body.push_str(&format!("<p class=\"help\">{}</p>", esc(c.t("shortcuts"))));
    }
    // Images side by side.
    body.push_str(&format!(
        "<section aria-labelledby=\"h-images\"><h2 id=\"h-images\">{}</h2><div class=\"images\">",
        esc(c.t("images"))
    ));
    for cap in &case.report.captures {
        let kind = cap.kind.as_str();
        if cap.available && cap.kind == CaptureKind::LivenessBurst {
            body.push_str(&burst_figure(&c, v, cap));
        } else if cap.available {
            body.push_str(&format!(
                "<figure class=\"viewer\"><div class=\"frame\"><img src=\"/console/verifications/{vid}/files/{fid}\" alt=\"{kind}\" class=\"shot\"></div>\
                 <figcaption>{kind} <button type=\"button\" class=\"zoom\" data-act=\"zoom\">{zoom}</button> \
                 <button type=\"button\" class=\"rotate\" data-act=\"rotate\">{rotate}</button> \
                 <a href=\"/console/verifications/{vid}/files/{fid}?download=1\">{download}</a></figcaption></figure>",
                fid = esc(cap.id.as_str()),
                kind = esc(kind),
                zoom = esc(c.t("zoom")),
                rotate = esc(c.t("rotate")),
                download = esc(c.t("download")),
            ));
        } else {
            body.push_str(&format!(
                "<figure class=\"viewer\"><p>{}</p><figcaption>{}</figcaption></figure>",
                esc(c.t("image_erased")),
                esc(kind)
            ));
        }
    }
    body.push_str("</div></section>");
    // Data, decision.
    body.push_str(&format!(
        "<div class=\"columns\"><section aria-labelledby=\"h-data\"><h2 id=\"h-data\">{}</h2>{}</section>\
         <section aria-labelledby=\"h-decide\"><h2 id=\"h-decide\">{}</h2>{}</section></div>",
        esc(c.t("data")),
        data_table(&c, v),
        esc(c.t("decide")),
        decision_forms(&c, v, case.four_eyes)
    ));
    // Checks and risks.
    let risks = risk_signals(v);
    body.push_str(&format!(
        "<section aria-labelledby=\"h-checks\"><h2 id=\"h-checks\">{}</h2><p>{}: <strong>{}</strong></p>\
         <div class=\"scroll\"><table class=\"checks\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(c.t("checks")),
        esc(c.t("risks")),
        esc(&if risks.is_empty() { c.t("no_risks").to_owned() } else { risks.join(", ") }),
        esc(c.t("check")),
        esc(c.t("result")),
        esc(c.t("what")),
        esc(c.t("figures")),
    ));
    for ch in &v.checks {
        body.push_str(&format!(
            "<tr class=\"{cls}\"><td>{name}</td><td>{result}</td><td>{detail}</td><td><details><summary>{show}</summary><code>{figures}</code></details></td></tr>",
            show = esc(c.t("figures")),
            cls = if ch.passed { "pass" } else { "fail" },
            name = esc(&ch.name),
            result = esc(if ch.passed { c.t("passed") } else { c.t("failed") }),
            detail = esc(&ch.detail),
            figures = esc(&ch.figures.to_string()),
        ));
    }
    body.push_str("</tbody></table></div></section>");
    // Decisions so far.
    body.push_str(&format!(
        "<section aria-labelledby=\"h-decisions\"><h2 id=\"h-decisions\">{}</h2>",
        esc(c.t("decisions"))
    ));
    match (&v.review, &case.proposal) {
        (None, None) => body.push_str(&format!("<p>{}</p>", esc(c.t("no_decision")))),
        (review, proposal) => {
            if let Some(p) = proposal {
                body.push_str(&format!(
                    "<p class=\"proposal\"><strong>{}</strong>: {:?} · {} · {} · {}</p>",
                    esc(c.t("first_decision")),
                    p.decision,
                    esc(&reason_label(c.lang, &p.reason_code)),
                    esc(&p.proposed_by),
                    esc(&fmt_time(p.proposed_at)),
                ));
            }
            if let Some(r) = review {
                body.push_str(&format!(
                    "<p class=\"review\">{:?} · {} · {}{} · {}</p>",
                    r.decision,
                    esc(&r.reason),
                    esc(&r.reviewer),
                    r.confirmed_by.as_ref().map_or_else(String::new, |c2| format!(" + {}", esc(c2))),
                    esc(&fmt_time(r.reviewed_at)),
                ));
            }
        }
    }
    body.push_str("</section>");
    // Attempts and the audit trail.
    body.push_str(&format!(
        "<section aria-labelledby=\"h-attempts\"><h2 id=\"h-attempts\">{}</h2><ul>",
        esc(c.t("attempts"))
    ));
    for a in &case.report.attempts {
        body.push_str(&format!(
            "<li><code>{}</code> · {} · {}</li>",
            esc(a.id.as_str()),
            esc(a.status.as_str()),
            esc(&fmt_time(a.created_at))
        ));
    }
    body.push_str("</ul></section>");
    body.push_str(&format!(
        "<section aria-labelledby=\"h-timeline\"><h2 id=\"h-timeline\">{}</h2><table class=\"timeline\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        esc(c.t("timeline")),
        esc(c.t("when")),
        esc(c.t("what")),
        esc(c.t("who"))
    ));
    for e in &case.audit_trail {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&fmt_time(e.at)),
            esc(&e.action),
            esc(&e.actor)
        ));
    }
    body.push_str("</tbody></table></section>");
    // Downloads and the policy.
    body.push_str(&format!(
        "<section aria-labelledby=\"h-downloads\"><h2 id=\"h-downloads\">{}</h2><p><a href=\"/console/verifications/{vid}/report.pdf\">{}</a> · <a href=\"/console/verifications/{vid}/evidence.zip\">{}</a></p></section>\
         <details><summary>{}</summary><pre>{}</pre></details>",
        esc(c.t("downloads")),
        esc(c.t("report_pdf")),
        esc(c.t("evidence_zip")),
        esc(c.t("policy")),
        esc(&serde_json::to_string_pretty(&v.policy).unwrap_or_default()),
    ));
    c.page(StatusCode::OK, &here, &format!("{} {}", c.t("verification"), v.id), &body)
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
pub(super) fn burst_figure(c: &Ctx, v: &Verification, cap: &Capture) -> String {
    let vid = esc(v.id.as_str());
    let fid = esc(cap.id.as_str());
    let check = v
        .checks
        .iter()
        .find(|ch| ch.name == "liveness" && ch.figures.get("file_id").and_then(|f| f.as_str()) == Some(cap.id.as_str()));
    let mut out = format!(
        "<figure class=\"viewer burst\"><figcaption><strong>{}</strong> <a href=\"/console/verifications/{vid}/files/{fid}?download=1\">{}</a></figcaption>",
        esc(c.t("liveness_frames")),
        esc(c.t("download")),
    );
    let Some(check) = check else {
        out.push_str(&format!("<p>{}</p></figure>", esc(c.t("liveness_unprocessed"))));
        return out;
    };
    let f = &check.figures;
    let words = |key: &str| -> String {
        f[key]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    out.push_str(&format!(
        "<p>{}: {} · {}: {}</p><div class=\"frames\">",
        esc(c.t("liveness_asked")),
        esc(&words("challenge")),
        esc(c.t("liveness_reasons")),
        esc(&words("reasons")),
    ));
    let n = f["frames"].as_u64().unwrap_or(0);
    let num = |key: &str, i: u64| {
        f[key]
            .get(i as usize)
            .filter(|x| !x.is_null())
            .map_or_else(|| "–".to_owned(), ToString::to_string)
    };
    for i in 0..n {
        out.push_str(&format!(
            "<figure class=\"burst-frame\"><img src=\"/console/verifications/{vid}/files/{fid}?frame={i}\" alt=\"{frame} {i}\" loading=\"lazy\" class=\"thumb\">\
             <figcaption>{frame} {i} · {yaw_l} {yaw} · {pitch_l} {pitch} · {par_l} {par}</figcaption></figure>",
            frame = esc(c.t("liveness_frame")),
            yaw_l = esc(c.t("yaw")),
            pitch_l = esc(c.t("pitch")),
            par_l = esc(c.t("parallax")),
            yaw = esc(&num("yaw", i)),
            pitch = esc(&num("pitch", i)),
            par = esc(&num("parallax", i)),
        ));
    }
    out.push_str("</div></figure>");
    out
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

pub(super) async fn report_pdf(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let c = match ctx(&s, &headers, None).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let got = async {
        let ex = s
            .engine
            .evidence_export(&c.session.principal, &id_of(&id)?, "evidence.pdf.read")
            .await?;
        let pdf = s.engine.render_pdf(&ex).await?;
        Ok::<_, EngineError>((pdf, ex.verification_id().to_string()))
    }
    .await;
    match got {
        Ok((pdf, vid)) => crate::api::download(pdf, "application/pdf", &format!("{vid}-report.pdf")),
        Err(e) => c.error(&format!("/console/verifications/{id}"), e),
    }
}

pub(super) async fn evidence_zip(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let c = match ctx(&s, &headers, None).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let got = async {
        let ex = s
            .engine
            .evidence_export(&c.session.principal, &id_of(&id)?, "evidence.zip.read")
            .await?;
        let name = format!("{}-evidence.zip", ex.verification_id());
        Ok::<_, EngineError>((s.engine.stream_evidence_zip(ex).await?, name))
    }
    .await;
    match got {
        Ok((rx, name)) => {
            let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
            crate::api::download(axum::body::Body::from_stream(stream), "application/zip", &name)
        }
        Err(e) => c.error(&format!("/console/verifications/{id}"), e),
    }
}
