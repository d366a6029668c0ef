//! The report's sections, laid out top to bottom: banner, the person, the captures, the
//! checks, the decision, the timeline, integrity.

use super::*;
use crate::model::{CheckEvidence, TimelineEvidence};

fn banner(l: &mut Layout<'_>, m: &EvidenceModel) {
    let (bg, accent) = outcome_colors(&m.status);
    let mut decided = format!("Decided by {}", m.decision.decided_by);
    if let Some(at) = m.decision.decided_at {
        decided.push_str(&format!(" on {}", when(at)));
    }
    let inner = CONTENT_W - 28.0;
    let reason = l.fonts.regular.wrap(&format!("Reason: {}", m.decision.reason), BODY, inner);
    let height = 14.0 + 11.0 + 28.0 + line_height(BODY) * (1 + reason.len()) as f32 + 10.0;
    l.ensure(height);
    let top = l.y;
    l.push(Op::Rect {
        x: MARGIN,
        y: top,
        w: CONTENT_W,
        h: height,
        fill: bg,
    });
    l.push(Op::Rect {
        x: MARGIN,
        y: top,
        w: 5.0,
        h: height,
        fill: accent,
    });
    let x = MARGIN + 18.0;
    l.text(x, top + 12.0, SMALL, true, MUTED, "OUTCOME");
    l.text(x, top + 24.0, 21.0, true, accent, m.decision.outcome_words.clone());
    let mut y = top + 53.0;
    l.text(x, y, BODY, false, INK, decided);
    y += line_height(BODY);
    for line in reason {
        l.text(x, y, BODY, false, INK, line);
        y += line_height(BODY);
    }
    l.y = top + height + 6.0;
}

fn person_table(l: &mut Layout<'_>, m: &EvidenceModel) {
    l.heading("Person and declared data", 60.0);
    if m.redacted {
        l.paragraph(
            "Personal data was erased (anonymized) before this report was made; only ids, hashes and the record of what happened remain.",
            BODY,
            false,
            MUTED,
            0.0,
        );
        return;
    }
    let d = &m.declared;
    let p = &m.person;
    let ex = m.extracted.clone().unwrap_or_default();
    // Field, declared, applicant record, read from the document.
    type Row<'a> = (&'a str, &'a Option<String>, &'a Option<String>, &'a Option<String>);
    let rows: [Row<'_>; 9] = [
        ("Full name", &d.full_name, &p.full_name, &ex.full_name),
        ("First name", &d.first_name, &None, &None),
        ("Last name", &d.last_name, &None, &None),
        ("Birth date", &d.birth_date, &p.birth_date, &ex.birth_date),
        ("Document number", &d.document_number, &None, &ex.document_number),
        ("Nationality", &d.nationality, &None, &ex.nationality),
        ("Email", &None, &p.email, &None),
        ("Phone", &None, &p.phone, &None),
        ("External applicant id", &None, &p.external_applicant_id, &None),
    ];
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let mut table: Vec<Vec<Cell>> = rows
        .iter()
        .filter(|(_, a, b, c)| a.is_some() || b.is_some() || c.is_some())
        .map(|(label, a, b, c)| {
            vec![
                Cell::styled(*label, true, MUTED),
                Cell::plain(dash(a)),
                Cell::plain(dash(b)),
                Cell::plain(dash(c)),
            ]
        })
        .collect();
    for (label, v) in [
        ("Document type", &ex.document_type),
        ("Issuing country", &ex.issuing_country),
        ("Document expiry", &ex.expiry_date),
    ] {
        if v.is_some() {
            table.push(vec![
                Cell::styled(label, true, MUTED),
                Cell::plain("—"),
                Cell::plain("—"),
                Cell::plain(dash(v)),
            ]);
        }
    }
    if table.is_empty() {
        l.paragraph(
            "No personal data was declared or read for this verification.",
            BODY,
            false,
            MUTED,
            0.0,
        );
        return;
    }
    let w = (CONTENT_W - 110.0) / 3.0;
    l.table(
        &[
            ("Field", 110.0),
            ("Declared by the business", w),
            ("Applicant record", w),
            ("Read from the document", w),
        ],
        &table,
        TABLE,
    );
}

fn capture_grid(l: &mut Layout<'_>, m: &EvidenceModel, pictures: &[Picture]) {
    const GAP: f32 = 12.0;
    const MAX_H: f32 = 175.0;
    let cell_w = (CONTENT_W - 2.0 * GAP) / 3.0;
    struct Row<'a> {
        pics: &'a [Picture],
        sizes: Vec<(f32, f32)>,
        captions: Vec<Vec<(String, bool)>>,
        image_h: f32,
        caption_h: f32,
    }
    let rows: Vec<Row<'_>> = m
        .captures
        .chunks(3)
        .zip(pictures.chunks(3))
        .map(|(caps, pics)| {
            let sizes: Vec<(f32, f32)> = pics
                .iter()
                .map(|p| match p {
                    Picture::Ready { width, height, .. } => {
                        let (w, h) = (*width as f32, *height as f32);
                        let scale = (cell_w / w).min(MAX_H / h);
                        (w * scale, h * scale)
                    }
                    Picture::Missing(_) => (cell_w, 90.0),
                })
                .collect();
            let captions: Vec<Vec<(String, bool)>> = caps.iter().map(|c| caption(l, c, cell_w)).collect();
            Row {
                pics,
                image_h: sizes.iter().map(|s| s.1).fold(0.0, f32::max),
                caption_h: captions.iter().map(Vec::len).max().unwrap_or(0) as f32 * line_height(SMALL),
                sizes,
                captions,
            }
        })
        .collect();
    // Rows shrink down to MIN_H to use the rest of a page rather than leave it empty.
    const MIN_H: f32 = 100.0;
    let rest = |r: &Row<'_>| 6.0 + r.caption_h + 14.0;

    let keep = rows.first().map_or(20.0, |r| r.image_h.min(MIN_H) + rest(r) + 16.0);
    if !section(l, "Captures", keep, m.captures.is_empty(), "No image was captured.") {
        return;
    }
    l.paragraph(
        "Images are shown downscaled. The original files are in the evidence archive; their SHA-256 is listed under Integrity.",
        SMALL,
        false,
        MUTED,
        0.0,
    );
    l.space(4.0);
    for row in &rows {
        let available = BOTTOM - l.y - rest(row);
        let image_h = if row.image_h > available && available >= MIN_H {
            available
        } else {
            row.image_h
        };
        let sizes: Vec<(f32, f32)> = row
            .sizes
            .iter()
            .map(|&(w, h)| if h > image_h { (w * image_h / h, image_h) } else { (w, h) })
            .collect();
        let (row_pics, captions, caption_h) = (row.pics, &row.captions, row.caption_h);
        l.ensure(image_h + rest(row));
        let top = l.y;
        for (i, ((pic, (w, h)), lines)) in row_pics.iter().zip(&sizes).zip(captions).enumerate() {
            let cell_x = MARGIN + i as f32 * (cell_w + GAP);
            let x = cell_x + (cell_w - w) / 2.0;
            let y = top + (image_h - h);
            match pic {
                Picture::Ready { index, .. } => l.push(Op::Image {
                    x,
                    y,
                    w: *w,
                    h: *h,
                    index: *index,
                }),
                Picture::Missing(why) => {
                    l.push(Op::Rect {
                        x,
                        y,
                        w: *w,
                        h: *h,
                        fill: ZEBRA,
                    });
                    let mut ty = y + h / 2.0 - line_height(SMALL);
                    for line in l.fonts.regular.wrap(why, SMALL, w - 16.0) {
                        let tw = l.fonts.regular.width(&line, SMALL);
                        l.text(x + (w - tw) / 2.0, ty, SMALL, false, MUTED, line);
                        ty += line_height(SMALL);
                    }
                }
            }
            l.push(Op::Frame {
                x,
                y,
                w: *w,
                h: *h,
                color: RULE,
                width: 0.6,
            });
            let mut ty = top + image_h + 6.0;
            for (line, bold) in lines {
                l.text(cell_x, ty, SMALL, *bold, if *bold { INK } else { MUTED }, line.clone());
                ty += line_height(SMALL);
            }
        }
        l.y = top + image_h + 6.0 + caption_h + 14.0;
    }
}

fn caption(l: &Layout<'_>, c: &CaptureEvidence, width: f32) -> Vec<(String, bool)> {
    let mut out = vec![(kind_in_words(&c.kind).to_owned(), true)];
    let mut facts = vec![
        c.file_id.clone(),
        format!(
            "Original: {}×{} px, {}, {}",
            c.width,
            c.height,
            c.media_type.trim_start_matches("image/").to_uppercase(),
            human_size(c.size)
        ),
        format!("Captured {}", when(c.captured_at)),
    ];
    if !c.accepted || !c.issues.is_empty() {
        facts.push(format!(
            "Capture feedback: {}",
            if c.issues.is_empty() {
                "not accepted".into()
            } else {
                c.issues.join(", ")
            }
        ));
    }
    for f in facts {
        out.extend(l.fonts.regular.wrap(&f, SMALL, width).into_iter().map(|s| (s, false)));
    }
    out
}

/// A section's heading (kept with `keep` points of what follows); when the section has
/// nothing to show, says so under it in `note` and returns false.
fn section(l: &mut Layout<'_>, title: &str, keep: f32, empty: bool, note: &str) -> bool {
    l.heading(title, keep);
    if empty {
        l.paragraph(note, BODY, false, MUTED, 0.0);
    }
    !empty
}

fn check_row(c: &CheckEvidence) -> Vec<Cell> {
    let figures = figures_text(&c.figures);
    let detail = if figures.is_empty() || figures == "none" {
        c.detail.clone()
    } else {
        format!("{}\nFigures: {figures}", c.detail)
    };
    vec![
        Cell::styled(c.name.clone(), true, INK),
        if c.passed {
            Cell::styled("Passed", true, PASS)
        } else {
            Cell::styled("Failed", true, FAIL)
        },
        Cell::plain(detail),
    ]
}

fn timeline_row(t: &TimelineEvidence) -> Vec<Cell> {
    vec![
        Cell::plain(when(t.at)),
        Cell::plain(t.action.clone()),
        Cell::styled(t.actor.clone(), false, MUTED),
    ]
}

fn checks_table(l: &mut Layout<'_>, m: &EvidenceModel) {
    if !section(l, "Checks", 50.0, m.checks.is_empty(), "No checks were run.") {
        return;
    }
    let rows: Vec<Vec<Cell>> = m.checks.iter().map(check_row).collect();
    l.table(
        &[
            ("Check", 130.0),
            ("Result", 52.0),
            ("Detail and measured figures", CONTENT_W - 182.0),
        ],
        &rows,
        TABLE,
    );
}

fn decision_section(l: &mut Layout<'_>, m: &EvidenceModel) {
    l.heading("Decision and review", 60.0);
    let mut rows = vec![
        ("Outcome", format!("{} ({})", m.decision.outcome_words, m.decision.outcome)),
        ("Decided by", m.decision.decided_by.clone()),
        ("Reason", m.decision.reason.clone()),
    ];
    if let Some(at) = m.decision.decided_at {
        rows.push(("Decided at", when(at)));
    }
    match &m.review {
        Some(r) => {
            rows.push((
                "Human review",
                if r.decision == "approve" {
                    "Approved by a reviewer"
                } else {
                    "Declined by a reviewer"
                }
                .into(),
            ));
            rows.push(("Reviewer", r.reviewer.clone()));
            rows.push(("Reviewed at", when(r.reviewed_at)));
            if r.reason != m.decision.reason {
                rows.push(("Reviewer's reason", r.reason.clone()));
            }
        }
        None => rows.push(("Human review", "None: no person reviewed this verification".into())),
    }
    l.key_values(&rows, BODY);

    l.heading("Policy applied", 40.0);
    let rows: Vec<(&str, String)> = match &m.policy {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let label = match k.as_str() {
                    "accepted_document_types" => "Accepted documents",
                    "selfie_required" => "Selfie required",
                    "liveness_required" => "Head-turn liveness required",
                    "max_attempts" => "Attempts allowed",
                    other => other,
                };
                (label, scalar(v).replace('_', " "))
            })
            .collect(),
        other => vec![("Policy", scalar(other))],
    };
    l.key_values(&rows, BODY);
}

fn timeline_table(l: &mut Layout<'_>, m: &EvidenceModel) {
    if !section(l, "Timeline", 40.0, m.timeline.is_empty(), "No events were recorded.") {
        return;
    }
    let rows: Vec<Vec<Cell>> = m.timeline.iter().map(timeline_row).collect();
    let time_w = l.fonts.regular.width("2026-12-31 23:59:59 UTC", TABLE) + 12.0;
    l.table(
        &[("Time", time_w), ("Event", 165.0), ("By", CONTENT_W - time_w - 165.0)],
        &rows,
        TABLE,
    );
}

fn integrity_section(l: &mut Layout<'_>, m: &EvidenceModel, jwt_id: &str) {
    l.heading("Integrity", 80.0);
    l.key_values(
        &[
            ("Evidence token id (jti)", jwt_id.to_owned()),
            ("Report generated", when(m.generated_at)),
        ],
        BODY,
    );
    l.space(6.0);
    if !m.captures.is_empty() {
        let rows: Vec<Vec<Cell>> = m
            .captures
            .iter()
            .map(|c| vec![Cell::plain(c.archive_name()), Cell::plain(c.sha256.clone())])
            .collect();
        // Wide enough that a hash stays on one line (searchable, copyable).
        let sha_w = l.fonts.regular.width(&"0".repeat(64), HASH) + 12.0;
        l.table(&[("Original file", CONTENT_W - sha_w), ("SHA-256", sha_w)], &rows, HASH);
        l.space(6.0);
    }
    l.paragraph(
        "The evidence archive holds this report (report.pdf), the same data as JSON (report.json), the original images, manifest.json \
         with the size and SHA-256 of every file, and evidence.jwt: a token signed with the tenant's ES256 key that names the \
         SHA-256 of every file, this report included. Check an archive offline with: kycd evidence verify <archive.zip> \
         (it needs the tenant's public keys, served at its JWKS endpoint).",
        SMALL,
        false,
        MUTED,
        0.0,
    );
}

pub(super) fn build(l: &mut Layout<'_>, m: &EvidenceModel, pictures: &[Picture], jwt_id: &str) {
    l.text(MARGIN, l.y, 19.0, true, ACCENT, "Identity verification evidence");
    l.y += 26.0;
    l.paragraph(
        &format!("Report for {}, made by kycd on {}", m.tenant.name, when(m.generated_at)),
        BODY,
        false,
        MUTED,
        0.0,
    );
    l.space(8.0);
    banner(l, m);

    let mut facts = vec![
        ("Tenant", format!("{} ({}, {} mode)", m.tenant.name, m.tenant.id, m.tenant.mode)),
        ("Verification id", m.verification_id.clone()),
        ("Applicant id", m.applicant_id.clone()),
        ("Status", format!("{} ({})", m.status_words, m.status)),
        ("Created", when(m.created_at)),
        ("Last updated", when(m.updated_at)),
        ("Expires", when(m.expires_at)),
    ];
    if let Some(doc) = &m.host_document_id {
        let signer = m.host_signer_order.map(|o| format!(", signer {o}")).unwrap_or_default();
        facts.push(("Host document", format!("{doc}{signer}")));
    }
    if let Some(req) = &m.host_signature_request_id {
        facts.push(("Signature request", req.clone()));
    }
    facts.push(("Evidence token id", jwt_id.to_owned()));
    l.key_values(&facts, BODY);

    person_table(l, m);
    capture_grid(l, m, pictures);
    checks_table(l, m);
    decision_section(l, m);
    timeline_table(l, m);
    integrity_section(l, m, jwt_id);
}
