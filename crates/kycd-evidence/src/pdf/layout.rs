//! A small page-layout cursor: content is placed top to bottom as drawing operations, and a
//! new page starts whenever the next block would cross the bottom margin. Pages are drawn
//! afterwards, once their number is known (for "page N of M").

use super::text::Fonts;

/// A4 in PDF points.
pub(crate) const PAGE_W: f32 = 595.276;
pub(crate) const PAGE_H: f32 = 841.89;
pub(crate) const MARGIN: f32 = 48.0;
/// Where content starts, below the running header.
pub(crate) const TOP: f32 = 70.0;
/// Where content must end, above the running footer.
pub(crate) const BOTTOM: f32 = PAGE_H - 58.0;
pub(crate) const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rgb(pub u8, pub u8, pub u8);

pub(crate) const INK: Rgb = Rgb(0x1f, 0x29, 0x37);
pub(crate) const MUTED: Rgb = Rgb(0x5b, 0x63, 0x70);
pub(crate) const ACCENT: Rgb = Rgb(0x1e, 0x3a, 0x5f);
pub(crate) const RULE: Rgb = Rgb(0xc9, 0xcf, 0xd8);
pub(crate) const HEADER_BG: Rgb = Rgb(0xe6, 0xeb, 0xf2);
pub(crate) const ZEBRA: Rgb = Rgb(0xf6, 0xf7, 0xf9);
pub(crate) const PASS: Rgb = Rgb(0x16, 0x65, 0x34);
pub(crate) const FAIL: Rgb = Rgb(0xb9, 0x1c, 0x1c);

#[derive(Debug, Clone)]
pub(crate) enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        color: Rgb,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Rgb,
    },
    Frame {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: Rgb,
        width: f32,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        color: Rgb,
        width: f32,
    },
    Image {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        index: usize,
    },
}

/// One table cell.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub text: String,
    pub bold: bool,
    pub color: Rgb,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            bold: false,
            color: INK,
        }
    }
    pub fn styled(text: impl Into<String>, bold: bool, color: Rgb) -> Self {
        Self {
            text: text.into(),
            bold,
            color,
        }
    }
}

pub(crate) struct Layout<'f> {
    pub fonts: &'f Fonts,
    pub pages: Vec<Vec<Op>>,
    /// Top of the next block on the current page.
    pub y: f32,
}

const CELL_PAD_X: f32 = 4.0;
const CELL_PAD_Y: f32 = 3.5;

pub(crate) fn line_height(size: f32) -> f32 {
    size * 1.32
}

impl<'f> Layout<'f> {
    pub fn new(fonts: &'f Fonts) -> Self {
        Self {
            fonts,
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    pub fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    pub fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `height` more points fit on this one.
    pub fn ensure(&mut self, height: f32) {
        if self.y + height > BOTTOM && self.y > TOP {
            self.new_page();
        }
    }

    pub fn space(&mut self, height: f32) {
        self.y += height;
    }

    /// One line of text with its top at `top`.
    pub fn text(&mut self, x: f32, top: f32, size: f32, bold: bool, color: Rgb, text: impl Into<String>) {
        self.push(Op::Text {
            x,
            y: top + size * 0.93,
            size,
            bold,
            color,
            text: text.into(),
        });
    }

    /// Wrapped text across the content width (or from `indent`), breaking pages as needed.
    pub fn paragraph(&mut self, text: &str, size: f32, bold: bool, color: Rgb, indent: f32) {
        let lh = line_height(size);
        for line in self.fonts.face(bold).wrap(text, size, CONTENT_W - indent) {
            self.ensure(lh);
            self.text(MARGIN + indent, self.y, size, bold, color, line);
            self.y += lh;
        }
    }

    /// A section title with a rule under it; kept with at least `keep` points of content.
    pub fn heading(&mut self, title: &str, keep: f32) {
        self.space(10.0);
        self.ensure(24.0 + keep);
        self.text(MARGIN, self.y, 12.0, true, ACCENT, title);
        self.y += 17.0;
        self.push(Op::Line {
            x1: MARGIN,
            y1: self.y,
            x2: MARGIN + CONTENT_W,
            y2: self.y,
            color: ACCENT,
            width: 0.8,
        });
        self.y += 7.0;
    }

    fn row_height(&self, widths: &[f32], cells: &[Cell], size: f32) -> (f32, Vec<Vec<String>>) {
        let wrapped: Vec<Vec<String>> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| self.fonts.face(c.bold).wrap(&c.text, size, w - 2.0 * CELL_PAD_X))
            .collect();
        let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        (lines as f32 * line_height(size) + 2.0 * CELL_PAD_Y, wrapped)
    }

    fn draw_row(&mut self, widths: &[f32], cells: &[Cell], wrapped: &[Vec<String>], size: f32, height: f32, bg: Option<Rgb>) {
        if let Some(fill) = bg {
            self.push(Op::Rect {
                x: MARGIN,
                y: self.y,
                w: widths.iter().sum(),
                h: height,
                fill,
            });
        }
        let mut x = MARGIN;
        for ((cell, lines), w) in cells.iter().zip(wrapped).zip(widths) {
            let mut top = self.y + CELL_PAD_Y;
            for line in lines {
                self.text(x + CELL_PAD_X, top, size, cell.bold, cell.color, line.clone());
                top += line_height(size);
            }
            x += w;
        }
        self.y += height;
        self.push(Op::Line {
            x1: MARGIN,
            y1: self.y,
            x2: MARGIN + widths.iter().sum::<f32>(),
            y2: self.y,
            color: RULE,
            width: 0.4,
        });
    }

    /// A table with a header row (repeated on every page it spans) and striped rows.
    pub fn table(&mut self, columns: &[(&str, f32)], rows: &[Vec<Cell>], size: f32) {
        let widths: Vec<f32> = columns.iter().map(|(_, w)| *w).collect();
        let header: Vec<Cell> = columns.iter().map(|(t, _)| Cell::styled(*t, true, ACCENT)).collect();
        let (header_h, header_lines) = self.row_height(&widths, &header, size);
        let mut need_header = true;
        for (i, row) in rows.iter().enumerate() {
            let (h, lines) = self.row_height(&widths, row, size);
            let before = self.pages.len();
            self.ensure(h + if need_header { header_h } else { 0.0 });
            if self.pages.len() != before {
                need_header = true;
            }
            if need_header {
                self.draw_row(&widths, &header, &header_lines, size, header_h, Some(HEADER_BG));
                need_header = false;
            }
            let bg = (i % 2 == 1).then_some(ZEBRA);
            self.draw_row(&widths, row, &lines, size, h, bg);
        }
    }

    /// Label / value rows, labels in a narrow muted column.
    pub fn key_values(&mut self, rows: &[(&str, String)], size: f32) {
        let widths = [150.0, CONTENT_W - 150.0];
        for (label, value) in rows {
            let cells = [Cell::styled(*label, true, MUTED), Cell::plain(value.clone())];
            let (h, lines) = self.row_height(&widths, &cells, size);
            self.ensure(h);
            self.draw_row(&widths, &cells, &lines, size, h, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tables_break_onto_new_pages_and_repeat_the_header() {
        let fonts = Fonts::load().unwrap();
        let mut l = Layout::new(&fonts);
        let rows: Vec<Vec<Cell>> = (0..120).map(|i| vec![Cell::plain(format!("row {i}")), Cell::plain("x")]).collect();
        l.table(&[("First", 200.0), ("Second", CONTENT_W - 200.0)], &rows, 9.0);
        assert!(l.pages.len() >= 3, "{}", l.pages.len());
        for page in &l.pages {
            let texts: Vec<&str> = page
                .iter()
                .filter_map(|op| match op {
                    Op::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(texts[0], "First");
            assert!(page.iter().all(|op| match op {
                Op::Text { y, .. } => *y <= BOTTOM,
                _ => true,
            }));
        }
    }
}
