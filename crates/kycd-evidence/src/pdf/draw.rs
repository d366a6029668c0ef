//! Drawing the laid-out operations onto krilla pages, and each page's running header and
//! footer.

use super::*;

fn fill(color: Rgb) -> Fill {
    Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// Strokes `path` (unfilled) in `color`, `width` points wide: frames and rules.
fn stroke(s: &mut Surface<'_>, path: &krilla::geom::Path, color: Rgb, width: f32) {
    s.set_fill(None);
    s.set_stroke(Some(Stroke {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        width,
        ..Default::default()
    }));
    s.draw_path(path);
}

fn rect_path(x: f32, y: f32, w: f32, h: f32) -> Option<krilla::geom::Path> {
    let mut pb = PathBuilder::new();
    pb.push_rect(Rect::from_xywh(x, y, w, h)?);
    pb.finish()
}

pub(super) fn draw(s: &mut Surface<'_>, fonts: &Fonts, images: &[Image], op: &Op) {
    match op {
        Op::Text {
            x,
            y,
            size,
            bold,
            color,
            text,
        } => {
            if text.is_empty() {
                return;
            }
            let face = fonts.face(*bold);
            s.set_stroke(None);
            s.set_fill(Some(fill(*color)));
            s.draw_glyphs(Point::from_xy(*x, *y), &face.glyphs(text), face.font.clone(), text, *size, false);
        }
        Op::Rect { x, y, w, h, fill: c } => {
            if let Some(path) = rect_path(*x, *y, *w, *h) {
                s.set_stroke(None);
                s.set_fill(Some(fill(*c)));
                s.draw_path(&path);
            }
        }
        Op::Frame { x, y, w, h, color, width } => {
            if let Some(path) = rect_path(*x, *y, *w, *h) {
                stroke(s, &path, *color, *width);
            }
        }
        Op::Line {
            x1,
            y1,
            x2,
            y2,
            color,
            width,
        } => {
            let mut pb = PathBuilder::new();
            pb.move_to(*x1, *y1);
            pb.line_to(*x2, *y2);
            if let Some(path) = pb.finish() {
                stroke(s, &path, *color, *width);
            }
        }
        Op::Image { x, y, w, h, index } => {
            if let (Some(image), Some(size)) = (images.get(*index), Size::from_wh(*w, *h)) {
                s.push_transform(&Transform::from_translate(*x, *y));
                s.draw_image(image.clone(), size);
                s.pop();
            }
        }
    }
}

/// Running header and footer of page `n` (1-based) of `total`.
pub(super) fn page_frame(fonts: &Fonts, m: &EvidenceModel, jwt_id: &str, n: usize, total: usize) -> Vec<Op> {
    let mut ops = Vec::new();
    let line = |y: f32| Op::Line {
        x1: MARGIN,
        y1: y,
        x2: MARGIN + CONTENT_W,
        y2: y,
        color: RULE,
        width: 0.5,
    };
    let text = |x: f32, y: f32, bold: bool, t: String| Op::Text {
        x,
        y,
        size: SMALL,
        bold,
        color: MUTED,
        text: t,
    };
    ops.push(text(MARGIN, 34.0, true, format!("Tenant: {} ({})", m.tenant.name, m.tenant.id)));
    ops.push(text(MARGIN, 44.0, false, format!("Verification: {}", m.verification_id)));
    ops.push(line(52.0));
    ops.push(line(PAGE_H - 44.0));
    ops.push(text(
        MARGIN,
        PAGE_H - 32.0,
        false,
        format!("kycd identity verification evidence · token {jwt_id}"),
    ));
    ops.push(text(MARGIN, PAGE_H - 22.0, false, format!("Generated {}", when(m.generated_at))));
    let right = |t: &str| MARGIN + CONTENT_W - fonts.bold.width(t, SMALL);
    let status = format!("Status: {}", m.status_words);
    ops.push(text(right(&status), 34.0, true, status));
    let page = format!("Page {n} of {total}");
    ops.push(text(right(&page), PAGE_H - 32.0, true, page));
    ops
}
