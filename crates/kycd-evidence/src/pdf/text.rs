//! The embedded fonts, glyph lookup and measuring. Text is laid out one glyph per character
//! (no shaping engine): right for the Latin, Greek and Cyrillic text a report holds, and it
//! keeps the build small. krilla writes a ToUnicode map, so the text stays selectable.

use crate::EvidenceError;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::{FontRef, MetadataProvider};

static REGULAR: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");

pub(crate) struct Face {
    pub font: Font,
    charmap: skrifa::charmap::Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(data: &'static [u8], name: &str) -> Result<Self, EvidenceError> {
        let bad = || EvidenceError::Pdf {
            reason: format!("the embedded font {name} could not be read (the crate's fonts/ folder is damaged)"),
        };
        let font = Font::new(data.into(), 0).ok_or_else(bad)?;
        let font_ref = FontRef::new(data).map_err(|_| bad())?;
        let units_per_em = f32::from(font_ref.metrics(Size::unscaled(), LocationRef::default()).units_per_em);
        if units_per_em <= 0.0 {
            return Err(bad());
        }
        Ok(Self {
            font,
            charmap: font_ref.charmap(),
            metrics: font_ref.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em,
        })
    }

    fn glyph(&self, ch: char) -> (u32, f32) {
        let gid = self.charmap.map(ch).unwrap_or_default();
        let advance = self.metrics.advance_width(gid).unwrap_or(0.0) / self.units_per_em;
        (gid.to_u32(), advance)
    }

    /// Glyphs for `text`, with advances in em (krilla scales them by the font size).
    pub fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(i, ch)| {
                let (gid, advance) = self.glyph(ch);
                KrillaGlyph {
                    glyph_id: GlyphId::new(gid),
                    text_range: i..i + ch.len_utf8(),
                    x_advance: advance,
                    x_offset: 0.0,
                    y_offset: 0.0,
                    y_advance: 0.0,
                    location: None,
                }
            })
            .collect()
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
    }

    /// Breaks `text` into lines no wider than `max` points: at spaces where possible,
    /// inside a word (hashes, ids) where a word alone is too wide. Keeps explicit newlines.
    pub fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for word in para.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_owned()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate, size) <= max {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // The word alone is too wide: split it where it overflows, preferably just
                // after punctuation (ids, emails, paths), else anywhere.
                for ch in word.chars() {
                    line.push(ch);
                    if self.width(&line, size) > max && line.chars().count() > 1 {
                        line.pop();
                        let cut = line
                            .char_indices()
                            .filter(|(i, c)| *i > line.len() / 3 && matches!(c, '.' | '_' | '/' | '@' | ':' | '-' | ','))
                            .map(|(i, c)| i + c.len_utf8())
                            .next_back()
                            .filter(|&i| i < line.len())
                            .unwrap_or(line.len());
                        let rest = line.split_off(cut);
                        lines.push(std::mem::replace(&mut line, rest));
                        line.push(ch);
                    }
                }
            }
            lines.push(line);
        }
        lines
    }
}

pub(crate) struct Fonts {
    pub regular: Face,
    pub bold: Face,
}

impl Fonts {
    pub fn load() -> Result<Self, EvidenceError> {
        Ok(Self {
            regular: Face::load(REGULAR, "DejaVuSans.ttf")?,
            bold: Face::load(BOLD, "DejaVuSans-Bold.ttf")?,
        })
    }
    pub fn face(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_and_wraps() {
        let f = Fonts::load().unwrap();
        let w = f.regular.width("Approved", 10.0);
        assert!(w > 30.0 && w < 60.0, "{w}");
        assert!(f.bold.width("Approved", 10.0) > w);
        let lines = f.regular.wrap("the quick brown fox jumps over the lazy dog", 10.0, 80.0);
        assert!(
            lines.len() > 2 && lines.iter().all(|l| f.regular.width(l, 10.0) <= 80.0),
            "{lines:?}"
        );
        let hash = "ab".repeat(32);
        let lines = f.regular.wrap(&hash, 8.0, 100.0);
        assert!(lines.len() > 1 && lines.concat() == hash);
        assert_eq!(f.regular.wrap("", 8.0, 100.0), vec![String::new()]);
        assert_eq!(f.regular.glyphs("aé").len(), 2);
        let lines = f.regular.wrap("applicant:iatp_q0sSMcJqNyrDZp5313FZihmc", 8.0, 120.0);
        assert_eq!(lines, ["applicant:iatp_", "q0sSMcJqNyrDZp5313FZihmc"]);
    }
}
