//! The PDF report: A4, embedded DejaVu Sans, selectable text, several pages as needed.

mod draw;
mod images;
mod layout;
mod sections;
mod text;

use crate::EvidenceError;
use crate::model::{CaptureEvidence, EvidenceModel};
use chrono::{DateTime, Datelike, Timelike, Utc};
use draw::{draw, page_frame};
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use layout::*;
use sections::build;
use serde_json::Value;
use text::Fonts;

/// Name of the PDF report inside an evidence archive.
pub const REPORT_PDF: &str = "report.pdf";

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn kind_in_words(kind: &str) -> &str {
    match kind {
        "document_front" => "Document, front side",
        "document_back" => "Document, back side",
        "selfie" => "Selfie",
        "liveness_burst" => "Liveness burst (head-turn challenge frames)",
        other => other,
    }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                let s = format!("{f:.3}");
                s.trim_end_matches('0').trim_end_matches('.').to_owned()
            }
            _ => n.to_string(),
        },
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Null => "none".into(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        Value::Object(_) => v.to_string(),
    }
}

/// `{"a": {"b": 1}, "c": [1, 2]}` → `["a.b: 1", "c: 1, 2"]`.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        other if prefix.is_empty() => out.push(scalar(other)),
        other => out.push(format!("{prefix}: {}", scalar(other))),
    }
}

fn figures_text(v: &Value) -> String {
    let mut out = Vec::new();
    flatten("", v, &mut out);
    out.join("; ")
}

/// Banner colours (background, accent) for an outcome.
fn outcome_colors(status: &str) -> (Rgb, Rgb) {
    match status {
        "approved" => (Rgb(0xe7, 0xf6, 0xec), Rgb(0x16, 0x80, 0x3d)),
        "declined" | "expired" | "cancelled" => (Rgb(0xfd, 0xec, 0xec), Rgb(0xb9, 0x1c, 0x1c)),
        _ => (Rgb(0xfe, 0xf5, 0xe2), Rgb(0xb4, 0x5f, 0x06)),
    }
}

enum Picture {
    Ready { index: usize, width: u32, height: u32 },
    Missing(String),
}

const BODY: f32 = 9.0;
const TABLE: f32 = 8.3;
const SMALL: f32 = 7.4;
const HASH: f32 = 7.0;

/// Renders the PDF report for `model`. `images` pairs a capture's file id with the
/// original image bytes; captures without bytes (erased, or not passed) get a placeholder,
/// as do images that cannot be decoded. `jwt_id` is the `jti` of the evidence token
/// that will cover this PDF.
pub fn render_pdf(model: &EvidenceModel, images: &[(&str, &[u8])], jwt_id: &str) -> Result<Vec<u8>, EvidenceError> {
    let fonts = Fonts::load()?;
    let mut embedded = Vec::new();
    let mut pictures = Vec::new();
    for c in &model.captures {
        let bytes = images.iter().find(|(id, _)| *id == c.file_id).map(|(_, b)| *b);
        let picture = match bytes {
            None if !c.available => Picture::Missing("Image erased (anonymized)".into()),
            None => Picture::Missing("Image not included in this report".into()),
            Some(bytes) => match images::prepare(bytes).and_then(|p| {
                Image::from_jpeg(p.jpeg.into(), true)
                    .map(|img| (img, p.width, p.height))
                    .map_err(|e| format!("could not be embedded ({e})"))
            }) {
                Ok((img, width, height)) => {
                    embedded.push(img);
                    Picture::Ready {
                        index: embedded.len() - 1,
                        width,
                        height,
                    }
                }
                Err(why) => Picture::Missing(format!("Image {why}")),
            },
        };
        pictures.push(picture);
    }

    let mut layout = Layout::new(&fonts);
    build(&mut layout, model, &pictures, jwt_id);

    let mut doc = Document::new();
    let g = model.generated_at;
    let created = krilla::metadata::DateTime::new(u16::try_from(g.year()).unwrap_or(1970))
        .month(g.month() as u8)
        .day(g.day() as u8)
        .hour(g.hour() as u8)
        .minute(g.minute() as u8)
        .second(g.second() as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0);
    doc.set_metadata(
        Metadata::new()
            .title(format!("Identity verification evidence {}", model.verification_id))
            .description(format!(
                "Evidence report for verification {} of {}",
                model.verification_id, model.tenant.name
            ))
            .creator("kycd".into())
            .language("en".into())
            .creation_date(created),
    );
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| EvidenceError::Pdf {
        reason: "invalid page size".into(),
    })?;
    let total = layout.pages.len();
    for (i, ops) in layout.pages.iter().enumerate() {
        let mut page = doc.start_page_with(settings.clone());
        let mut surface = page.surface();
        for op in page_frame(&fonts, model, jwt_id, i + 1, total).iter().chain(ops) {
            draw(&mut surface, &fonts, &embedded, op);
        }
        surface.finish();
        page.finish();
    }
    doc.finish().map_err(|e| EvidenceError::Pdf { reason: format!("{e:?}") })
}

#[cfg(test)]
mod tests;
