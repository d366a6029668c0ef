//! Read the machine-readable zone of a document photo: PP-OCR ([`crate::ocr`]) finds and
//! reads the zone's lines, [`mrz::parse_lines`] checks and interprets them.
//!
//! 1. Detect text on the lower 60 % of the photo (at the detector's 736-px scale for the
//!    whole photo); the upper part only when no valid zone is read there.
//! 2. Join pieces of one line (the detector may split a line at a long run of fillers),
//!    then take the MRZ band: the lowest two or three long lines of equal length,
//!    stacked at one line pitch and starting at the same place. Their boxes are
//!    stretched to the band's common extent, since trailing fillers are often too faint
//!    to be detected as text.
//! 3. Recognise only those lines, from the full-resolution image.
//! 4. Clean the text (filler look-alikes → `<`) and fit it to the layout: when a line is
//!    one to three characters too long or short, or the check digits fail, runs of
//!    fillers are lengthened or shortened (the recogniser miscounts long `<<<<` runs);
//!    a variant is kept only when every check digit then passes.
//! 5. If nothing valid was read, try the band one group higher, then the photo upside
//!    down.
//!
//! [`MrzReader`] is `Send + Sync`: load it once and share it (`Arc`).

use crate::mrz::{self, MrzResult, Repair};
use crate::ocr::{Ocr, OcrError, TextBox, TextLine};
use crate::{ImageLimits, decode};
use chrono::NaiveDate;
use image::GrayImage;
use std::path::Path;

/// The MRZ reader: the OCR models, loaded.
#[derive(Debug)]
pub struct MrzReader {
    ocr: Ocr,
}

/// What a read found, for diagnostics and tests.
#[derive(Debug, Clone)]
pub struct MrzReading {
    /// The parsed zone (`valid` says whether every check digit passed), `None` when no
    /// group of lines formed a zone.
    pub result: Option<MrzResult>,
    /// The lines recognised in the chosen band (or, when none formed a zone, the lowest
    /// band tried), top to bottom, as the model read them.
    pub raw_lines: Vec<TextLine>,
    /// How many text regions the detector found (in the part of the photo the zone was
    /// read from).
    pub detected: usize,
}

impl MrzReader {
    /// Load the models from `dir` (`scripts/fetch-models` puts them in `./models`).
    pub fn load(dir: &Path) -> Result<Self, OcrError> {
        Ok(Self { ocr: Ocr::load(dir)? })
    }

    /// Load from `$KYCD_MODEL_DIR`, else `./models`.
    pub fn from_env() -> Result<Self, OcrError> {
        Self::load(&crate::ocr::default_model_dir())
    }

    /// The underlying OCR engine.
    pub fn ocr(&self) -> &Ocr {
        &self.ocr
    }

    /// Read the zone of an upright greyscale photo at full resolution. `Ok(None)` when no
    /// zone was found; a zone whose check digits fail is returned with `valid == false`.
    pub fn read(&self, img: &GrayImage, today: NaiveDate) -> Result<Option<MrzResult>, OcrError> {
        Ok(self.read_detailed(img, today)?.result)
    }

    /// Decode an uploaded image (limits, EXIF orientation) and read its zone.
    pub fn read_bytes(&self, bytes: &[u8], limits: ImageLimits, today: NaiveDate) -> Result<Option<MrzResult>, OcrError> {
        let img = decode::decode_full(bytes, limits)?.into_luma8();
        self.read(&img, today)
    }

    /// [`read`](Self::read), with what was recognised.
    pub fn read_detailed(&self, img: &GrayImage, today: NaiveDate) -> Result<MrzReading, OcrError> {
        // Photos are nearly always upright with the zone in their lower part: detect text
        // there first, for 60 % of the detector's work. Only when that reads no valid zone
        // (an upside-down photo, a zone framed high, a line cut at the band's edge, or no
        // zone at all) is the upper part detected too.
        let h = img.height();
        let lower = self.ocr.detect_rows(img, h * 2 / 5..h)?;
        let edge = (h * 2 / 5) as f32 + 2.0;
        let cut = lower.iter().any(|b| b.corners.iter().any(|c| c.1 <= edge));
        let first = self.read_boxes(img, lower.clone(), today)?;
        if first.result.as_ref().is_some_and(|r| r.valid) || (first.result.is_some() && !cut) {
            return Ok(first);
        }
        let upper = self.ocr.detect_rows(img, 0..h * 3 / 5)?;
        // The passes overlap by a fifth of the height: each line is taken from the pass
        // that holds it whole, above the middle from the upper one, below from the lower.
        let mid = h as f32 / 2.0;
        let whole: Vec<TextBox> = upper
            .into_iter()
            .filter(|b| b.centre().1 < mid)
            .chain(lower.into_iter().filter(|b| b.centre().1 >= mid))
            .collect();
        let second = self.read_boxes(img, whole, today)?;
        Ok(match (&first.result, &second.result) {
            (_, Some(r)) if r.valid => second,
            (Some(_), _) => first,
            _ => second,
        })
    }

    /// Steps 2–5 on the detected boxes.
    fn read_boxes(&self, img: &GrayImage, boxes: Vec<TextBox>, today: NaiveDate) -> Result<MrzReading, OcrError> {
        let detected = boxes.len();
        let lines = join_lines(boxes);
        let bands = mrz_bands(&lines);
        let mut best: Option<(MrzResult, Vec<TextLine>)> = None;
        let mut first_read: Option<Vec<TextLine>> = None;
        // First at the natural width; when no zone verified, again with the lines
        // stretched, then squeezed (a character dropped or doubled by the recogniser at
        // one width is usually read at another; the check digits decide which is right).
        'scales: for x_scale in [1.0f32, 1.3, 0.8] {
            for band in bands.iter().take(2) {
                for flipped in [false, true] {
                    let boxes: Vec<TextBox> = if flipped {
                        band.iter().rev().map(flip).collect()
                    } else {
                        band.clone()
                    };
                    let raw: Vec<TextLine> = boxes
                        .iter()
                        .map(|b| {
                            if x_scale == 1.0 {
                                self.ocr.recognise(img, b)
                            } else {
                                self.ocr.recognise_scaled(img, b, x_scale)
                            }
                        })
                        .collect::<Result<_, _>>()?;
                    let Some(r) = interpret_lines(&raw, today) else {
                        first_read.get_or_insert(raw);
                        continue;
                    };
                    let valid = r.valid;
                    if valid || best.is_none() {
                        best = Some((r, raw));
                    }
                    if valid {
                        break 'scales;
                    }
                    // Read the right way up as a zone, if an invalid one: no need to turn it.
                    break;
                }
            }
            // Nothing looked like a zone at the natural width: not worth the retries.
            if best.is_none() {
                break;
            }
        }
        let (result, raw_lines) = match best {
            Some((r, raw)) => (Some(r), raw),
            None => (None, first_read.unwrap_or_default()),
        };
        Ok(MrzReading {
            result,
            raw_lines,
            detected,
        })
    }
}

fn flip(b: &TextBox) -> TextBox {
    let [a, bb, c, d] = b.corners;
    TextBox {
        corners: [c, d, a, bb],
        score: b.score,
    }
}

/// Coordinates of a point in a frame rotated by `angle`: along the text, across it.
fn frame(p: (f32, f32), angle: f32) -> (f32, f32) {
    let (s, c) = angle.sin_cos();
    (p.0 * c + p.1 * s, -p.0 * s + p.1 * c)
}

fn unframe(q: (f32, f32), angle: f32) -> (f32, f32) {
    let (s, c) = angle.sin_cos();
    (q.0 * c - q.1 * s, q.0 * s + q.1 * c)
}

/// A box as extents in a rotated frame.
#[derive(Debug, Clone, Copy)]
struct Span {
    u0: f32,
    u1: f32,
    v0: f32,
    v1: f32,
}

fn span(b: &TextBox, angle: f32) -> Span {
    let pts = b.corners.map(|p| frame(p, angle));
    let (mut s, mut t) = (f32::MAX, f32::MIN);
    let (mut v0, mut v1) = (f32::MAX, f32::MIN);
    for (u, v) in pts {
        s = s.min(u);
        t = t.max(u);
        v0 = v0.min(v);
        v1 = v1.max(v);
    }
    Span { u0: s, u1: t, v0, v1 }
}

fn boxed(s: Span, angle: f32, score: f32) -> TextBox {
    TextBox {
        corners: [(s.u0, s.v0), (s.u1, s.v0), (s.u1, s.v1), (s.u0, s.v1)].map(|q| unframe(q, angle)),
        score,
    }
}

/// Join boxes that continue one another along the same line.
fn join_lines(mut boxes: Vec<TextBox>) -> Vec<TextBox> {
    boxes.sort_by(|a, b| b.length().total_cmp(&a.length()));
    let mut out: Vec<TextBox> = Vec::new();
    for b in boxes {
        let mut merged = false;
        for o in out.iter_mut() {
            let angle = o.angle();
            if (b.angle() - angle).abs() > 6f32.to_radians() && b.length() > 3.0 * b.height() {
                continue;
            }
            let (so, sb) = (span(o, angle), span(&b, angle));
            let h = so.v1 - so.v0;
            let same_row =
                ((sb.v0 + sb.v1) / 2.0 - (so.v0 + so.v1) / 2.0).abs() < 0.35 * h && (sb.v1 - sb.v0) < 1.6 * h && (sb.v1 - sb.v0) > 0.5 * h;
            let gap = (sb.u0 - so.u1).max(so.u0 - sb.u1);
            if same_row && gap < 1.5 * h {
                let s = Span {
                    u0: so.u0.min(sb.u0),
                    u1: so.u1.max(sb.u1),
                    v0: so.v0.min(sb.v0),
                    v1: so.v1.max(sb.v1),
                };
                *o = boxed(s, angle, o.score.max(b.score));
                merged = true;
                break;
            }
        }
        if !merged {
            out.push(b);
        }
    }
    out
}

/// Candidate MRZ bands, lowest first: groups of two or three long lines of about equal
/// length and left edge, at one line pitch, stretched to the group's common extent.
fn mrz_bands(lines: &[TextBox]) -> Vec<Vec<TextBox>> {
    let long: Vec<&TextBox> = lines.iter().filter(|b| b.length() >= 10.0 * b.height()).collect();
    let Some(max_len) = long.iter().map(|b| b.length()).reduce(f32::max) else {
        return Vec::new();
    };
    let mut long: Vec<&TextBox> = long.into_iter().filter(|b| b.length() >= 0.4 * max_len).collect();
    // The zone's direction: the median angle of the long lines.
    let mut angles: Vec<f32> = long.iter().map(|b| b.angle()).collect();
    angles.sort_by(f32::total_cmp);
    let angle = angles[angles.len() / 2];
    long.sort_by(|a, b| span(b, angle).v1.total_cmp(&span(a, angle).v1));
    let spans: Vec<Span> = long.iter().map(|b| span(b, angle)).collect();
    let mut bands = Vec::new();
    let mut used = vec![false; spans.len()];
    for first in 0..spans.len() {
        if used[first] {
            continue;
        }
        let base = spans[first];
        let h = base.v1 - base.v0;
        let mut group = vec![first];
        let mut last = base;
        for (j, s) in spans.iter().enumerate().skip(first + 1) {
            if group.len() == 3 {
                break;
            }
            let pitch = (last.v0 + last.v1) / 2.0 - (s.v0 + s.v1) / 2.0;
            let len_ratio = (s.u1 - s.u0) / (base.u1 - base.u0);
            let aligned = (s.u0 - base.u0).abs() < 2.5 * h;
            if pitch > 0.6 * h && pitch < 2.6 * h && aligned && (0.3..1.4).contains(&len_ratio) {
                group.push(j);
                last = *s;
            } else if pitch >= 2.6 * h {
                break;
            }
        }
        if group.len() < 2 {
            continue;
        }
        for &g in &group {
            used[g] = true;
        }
        let (u0, u1) = group
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &g| (a.min(spans[g].u0), b.max(spans[g].u1)));
        // Top to bottom, each stretched to the common extent. (A margin beyond the
        // detector's own was measured worse: the recogniser then drifts to full-width
        // forms and drops characters.)
        let margin = 0.0;
        let band: Vec<TextBox> = group
            .iter()
            .rev()
            .map(|&g| {
                let s = Span {
                    u0: u0 - margin,
                    u1: u1 + margin,
                    ..spans[g]
                };
                boxed(s, angle, long[g].score)
            })
            .collect();
        bands.push(band);
    }
    bands
}

/// The MRZ characters a recognised character stands for: upper case, filler look-alikes
/// as `<` (a double angle quote as two), nothing for anything outside the alphabet.
fn mrz_chars(c: char) -> &'static str {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";
    let up = c.to_ascii_uppercase();
    if let Some(i) = ALPHABET.find(up) {
        return &ALPHABET[i..i + 1];
    }
    // Full-width forms (the recogniser's alphabet is mostly Chinese) as ASCII.
    if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        let ascii = char::from_u32(c as u32 - 0xFEE0).unwrap_or(' ').to_ascii_uppercase();
        if let Some(i) = ALPHABET.find(ascii) {
            return &ALPHABET[i..i + 1];
        }
    }
    match c {
        '〈' | '‹' | 'く' | '≤' | '∠' | '⟨' => "<",
        '《' | '«' | '≪' => "<<",
        '×' => "X",
        _ => "",
    }
}

/// Upper case, filler look-alikes to `<`, everything outside the MRZ alphabet dropped.
pub fn clean(text: &str) -> String {
    text.chars().map(mrz_chars).collect()
}

/// One character of a zone line as read: the character and the recogniser's candidates
/// for its place (MRZ characters only, most probable first).
#[derive(Debug, Clone, PartialEq)]
pub struct Cand {
    pub ch: char,
    pub alternatives: Vec<(char, f32)>,
}

impl Cand {
    fn sure(ch: char) -> Self {
        Self {
            ch,
            alternatives: vec![(ch, 1.0)],
        }
    }
}

/// A recognised line in the MRZ alphabet, with candidates.
pub fn mrz_line(line: &TextLine) -> Vec<Cand> {
    let mut out = Vec::new();
    for g in &line.glyphs {
        let mut alternatives: Vec<(char, f32)> = Vec::new();
        for &(c, p) in &g.alternatives {
            let m = mrz_chars(c);
            if m.len() == 1 {
                let m = m.chars().next().unwrap_or('<');
                match alternatives.iter_mut().find(|a| a.0 == m) {
                    Some(a) => a.1 += p,
                    None => alternatives.push((m, p)),
                }
            }
        }
        alternatives.sort_by(|a, b| b.1.total_cmp(&a.1));
        for ch in mrz_chars(g.ch).chars() {
            out.push(Cand {
                ch,
                alternatives: alternatives.clone(),
            });
        }
    }
    out
}

/// What a position of a zone may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Letters and `<`.
    Alpha,
    /// Digits and `<`.
    Digit,
    /// Letters, digits and `<`: nothing to constrain.
    AlphaNum,
    Sex,
}

impl Class {
    fn allows(self, c: char) -> bool {
        match self {
            Self::Alpha => c.is_ascii_uppercase() || c == '<',
            Self::Digit => c.is_ascii_digit() || c == '<',
            Self::AlphaNum => c.is_ascii_uppercase() || c.is_ascii_digit() || c == '<',
            Self::Sex => matches!(c, 'M' | 'F' | 'X' | '<'),
        }
    }
}

/// ICAO 9303 field at (line, position) for a zone of `n_lines` lines of `len`
/// characters whose first character is `first`: (field name, class).
fn field_at(n_lines: usize, len: usize, first: char, line: usize, pos: usize) -> (&'static str, Class) {
    use Class::*;
    if n_lines == 3 {
        return match (line, pos) {
            (0, 0..=1) => ("document_code", Alpha),
            (0, 2..=4) => ("issuing_state", Alpha),
            (0, 5..=13) => ("document_number", AlphaNum),
            (0, 14) => ("document_number_check", AlphaNum),
            (0, _) => ("optional_data", AlphaNum),
            (1, 0..=5) => ("birth_date", Digit),
            (1, 6) => ("birth_date_check", Digit),
            (1, 7) => ("sex", Sex),
            (1, 8..=13) => ("expiry_date", Digit),
            (1, 14) => ("expiry_date_check", Digit),
            (1, 15..=17) => ("nationality", Alpha),
            (1, 18..=28) => ("optional_data_2", AlphaNum),
            (1, _) => ("composite_check", Digit),
            _ => ("name", Alpha),
        };
    }
    let visa = first == 'V';
    match (line, pos) {
        (0, 0..=1) => ("document_code", Alpha),
        (0, 2..=4) => ("issuing_state", Alpha),
        (0, _) => ("name", Alpha),
        (_, 0..=8) => ("document_number", AlphaNum),
        (_, 9) => ("document_number_check", Digit),
        (_, 10..=12) => ("nationality", Alpha),
        (_, 13..=18) => ("birth_date", Digit),
        (_, 19) => ("birth_date_check", Digit),
        (_, 20) => ("sex", Sex),
        (_, 21..=26) => ("expiry_date", Digit),
        (_, 27) => ("expiry_date_check", Digit),
        _ if visa => ("optional_data", AlphaNum),
        (_, p) if len == 44 && p == 42 => ("optional_data_check", Digit),
        (_, p) if p == len - 1 => ("composite_check", Digit),
        _ => ("optional_data", AlphaNum),
    }
}

/// The zone as text after choosing, at every position whose class is constrained, the
/// recogniser's most probable character of that class. Returns the lines and what was
/// changed.
fn constrain(lines: &[Vec<Cand>]) -> (Vec<String>, Vec<Repair>) {
    let n = lines.len();
    let len = lines.first().map_or(0, Vec::len);
    let first = lines.first().and_then(|l| l.first()).map_or('<', |c| c.ch);
    let mut out = Vec::with_capacity(n);
    let mut changed = Vec::new();
    for (li, line) in lines.iter().enumerate() {
        let mut s = String::with_capacity(len);
        for (pos, c) in line.iter().enumerate() {
            let (field, class) = field_at(n, len, first, li, pos);
            let pick = if class.allows(c.ch) {
                c.ch
            } else {
                c.alternatives.iter().find(|a| class.allows(a.0)).map_or(c.ch, |a| a.0)
            };
            if pick != c.ch {
                changed.push(Repair {
                    line: li,
                    position: pos,
                    from: c.ch,
                    to: pick,
                    field,
                });
            }
            s.push(pick);
        }
        out.push(s);
    }
    (out, changed)
}

fn parse_with(lines: &[String], today: NaiveDate, mut repairs: Vec<Repair>) -> Option<MrzResult> {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut r = mrz::parse_lines(&refs, today).ok()?;
    if r.valid {
        repairs.append(&mut r.repaired);
        repairs.sort_by_key(|x| (x.line, x.position));
        repairs.dedup_by_key(|x| (x.line, x.position));
        r.repaired = repairs;
    }
    Some(r)
}

/// Smallest probability an alternative must have to be tried against the check digits.
const MIN_ALTERNATIVE: f32 = 0.01;

/// When the check digits fail: try the recogniser's second choices where the class
/// leaves a choice (document number, optional data, digits), one position at a time and
/// then in pairs. A variant is kept only if it is the *only* one that makes every check
/// digit pass; otherwise nothing is guessed.
fn second_choices(lines: &[Vec<Cand>], base: &[String], today: NaiveDate, repairs: &[Repair]) -> Option<MrzResult> {
    let n = lines.len();
    let len = lines.first().map_or(0, Vec::len);
    let first = base.first().and_then(|l| l.chars().next()).unwrap_or('<');
    // (line, pos, alternative, probability, field)
    let mut options: Vec<(usize, usize, char, f32, &'static str)> = Vec::new();
    for (li, line) in lines.iter().enumerate() {
        for (pos, c) in line.iter().enumerate() {
            let (field, class) = field_at(n, len, first, li, pos);
            if matches!(class, Class::Alpha | Class::Sex) {
                continue;
            }
            let current = base[li].chars().nth(pos).unwrap_or('<');
            if let Some(&(alt, p)) = c
                .alternatives
                .iter()
                .find(|a| a.0 != current && class.allows(a.0) && a.1 >= MIN_ALTERNATIVE)
            {
                options.push((li, pos, alt, p, field));
            }
        }
    }
    options.sort_by(|a, b| b.3.total_cmp(&a.3));
    options.truncate(10);
    let apply = |picks: &[&(usize, usize, char, f32, &'static str)]| {
        let mut lines = base.to_vec();
        let mut rep = repairs.to_vec();
        for &&(li, pos, alt, _, field) in picks {
            let mut chars: Vec<char> = lines[li].chars().collect();
            rep.push(Repair {
                line: li,
                position: pos,
                from: chars[pos],
                to: alt,
                field,
            });
            chars[pos] = alt;
            lines[li] = chars.into_iter().collect();
        }
        parse_with(&lines, today, rep).filter(|r| r.valid)
    };
    let singles: Vec<MrzResult> = options.iter().filter_map(|o| apply(&[o])).collect();
    if singles.len() == 1 {
        return singles.into_iter().next();
    }
    if !singles.is_empty() {
        return None;
    }
    let mut pairs = Vec::new();
    for (i, a) in options.iter().enumerate().take(8) {
        for b in options.iter().skip(i + 1).take(8) {
            if (a.0, a.1) != (b.0, b.1)
                && let Some(r) = apply(&[a, b])
            {
                pairs.push(r);
            }
        }
    }
    if pairs.len() == 1 { pairs.pop() } else { None }
}

/// Recognised zone lines → the zone: fit filler runs, constrain each position to its
/// class, parse; if the check digits fail, try the recogniser's second choices.
pub fn interpret_lines(lines: &[TextLine], today: NaiveDate) -> Option<MrzResult> {
    let cands: Vec<Vec<Cand>> = lines.iter().map(mrz_line).collect();
    interpret_cands(&cands, today)
}

/// [`interpret_lines`] for plain text (every character certain).
pub fn interpret(lines: &[String], today: NaiveDate) -> Option<MrzResult> {
    let cands: Vec<Vec<Cand>> = lines.iter().map(|l| clean(l).chars().map(Cand::sure).collect()).collect();
    interpret_cands(&cands, today)
}

fn interpret_cands(lines: &[Vec<Cand>], today: NaiveDate) -> Option<MrzResult> {
    let lines: Vec<&Vec<Cand>> = lines.iter().filter(|l| l.len() >= 20).collect();
    if lines.len() < 2 {
        return None;
    }
    // The lowest 3 lines (TD1) or 2, by their lengths.
    let take = |n: usize| lines[lines.len() - n..].to_vec();
    let mean = |ls: &[&Vec<Cand>]| ls.iter().map(|l| l.len() as f32).sum::<f32>() / ls.len() as f32;
    let mut tries: Vec<(Vec<&Vec<Cand>>, usize)> = Vec::new();
    if lines.len() >= 3 && (mean(&take(3)) - 30.0).abs() <= 4.0 {
        tries.push((take(3), 30));
    }
    let two = take(2);
    let m2 = mean(&two);
    tries.push((two, if (m2 - 36.0).abs() < (m2 - 44.0).abs() { 36 } else { 44 }));
    let mut fallback: Option<MrzResult> = None;
    // Exact-length readings whose check digits failed: (candidates, text, repairs).
    type Retry = (Vec<Vec<Cand>>, Vec<String>, Vec<Repair>);
    let mut retry: Vec<Retry> = Vec::new();
    for (group, target) in tries {
        let variants: Vec<Vec<Vec<Cand>>> = group.iter().map(|l| filler_variants(l, target)).collect();
        let count = variants.iter().fold(1usize, |acc, v| acc.saturating_mul(v.len().max(1)));
        if count > 4096 {
            continue;
        }
        let mut idx = vec![0usize; variants.len()];
        'combos: loop {
            let pick: Vec<Vec<Cand>> = idx.iter().zip(&variants).map(|(&i, v)| v[i].clone()).collect();
            let exact = pick.iter().all(|l| l.len() == target);
            let (text, repairs) = if exact {
                constrain(&pick)
            } else {
                (pick.iter().map(|l| l.iter().map(|c| c.ch).collect()).collect(), Vec::new())
            };
            if let Some(r) = parse_with(&text, today, repairs.clone()) {
                if r.valid {
                    return Some(r);
                }
                // The first combination is the lines as read: that is what an invalid
                // result reports.
                fallback.get_or_insert(r);
                if exact && retry.len() < 8 {
                    retry.push((pick, text, repairs));
                }
            }
            // Next combination (odometer).
            let mut k = 0;
            loop {
                if k == idx.len() {
                    break 'combos;
                }
                idx[k] += 1;
                if idx[k] < variants[k].len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
        }
    }
    for (pick, text, repairs) in &retry {
        if let Some(r) = second_choices(pick, text, today, repairs) {
            return Some(r);
        }
    }
    fallback
}

/// The line as read, then variants with one or two runs of `<` lengthened or shortened
/// so that the line has `target` characters (delta within ±3), fewest changes first.
fn filler_variants(line: &[Cand], target: usize) -> Vec<Vec<Cand>> {
    let delta = target as i64 - line.len() as i64;
    let mut out = vec![line.to_vec()];
    if delta > 3 && line.last().is_some_and(|c| c.ch == '<') {
        // Many trailing fillers lost (a long `<<<<` run read short): pad. Check digits
        // and the layout decide whether that was right.
        let mut v = line.to_vec();
        v.resize(target, Cand::sure('<'));
        out.push(v);
        return out;
    }
    if delta.abs() > 3 {
        return out;
    }
    // Runs of '<': (start, len).
    let mut runs = Vec::new();
    let mut i = 0;
    while i < line.len() {
        if line[i].ch == '<' {
            let s = i;
            while i < line.len() && line[i].ch == '<' {
                i += 1;
            }
            runs.push((s, i - s));
        } else {
            i += 1;
        }
    }
    let rebuild = |changes: &[(usize, i64)]| -> Option<Vec<Cand>> {
        let mut s = Vec::with_capacity(target);
        let mut pos = 0;
        for (ri, &(start, len)) in runs.iter().enumerate() {
            s.extend_from_slice(&line[pos..start]);
            let d: i64 = changes.iter().filter(|(r, _)| *r == ri).map(|(_, d)| *d).sum();
            let n = len as i64 + d;
            let interior = start > 0 && start + len < line.len();
            if n < i64::from(interior) {
                return None;
            }
            let n = n as usize;
            s.extend_from_slice(&line[start..start + n.min(len)]);
            s.extend(std::iter::repeat_n(Cand::sure('<'), n.saturating_sub(len)));
            pos = start + len;
        }
        s.extend_from_slice(&line[pos..]);
        (s.len() == target).then_some(s)
    };
    let mut push = |v: Option<Vec<Cand>>| {
        if let Some(v) = v.filter(|v| !out.contains(v)) {
            out.push(v);
        }
    };
    if delta != 0 {
        for r in 0..runs.len() {
            push(rebuild(&[(r, delta)]));
        }
    }
    // Two runs: one gains what another loses (plus delta).
    for a in 0..runs.len() {
        for b in 0..runs.len() {
            if a == b {
                continue;
            }
            for da in [-2i64, -1, 1, 2] {
                let db = delta - da;
                if db != 0 && db.abs() <= 3 {
                    push(rebuild(&[(a, da), (b, db)]));
                }
            }
        }
    }
    // Nothing to shift: pad or cut at the end (parse_lines fits trailing fillers).
    if runs.is_empty() && delta != 0 {
        let mut v = line.to_vec();
        v.resize(target, Cand::sure('<'));
        push(Some(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
    }

    const TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn clean_maps_filler_lookalikes() {
        assert_eq!(clean("p＜uto eriksson《anna"), "P<UTOERIKSSON<<ANNA");
        assert_eq!(clean("Ａ１７９×"), "A179X");
        assert_eq!(clean("L898902C3·6"), "L898902C36");
    }

    #[test]
    fn miscounted_filler_runs_are_fitted_when_check_digits_confirm() {
        // Optional-data filler run one short: the line is 43 long and misaligned.
        let r = interpret(
            &s(&[
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408122F1204159ZE184226B<<<<10",
            ]),
            today(),
        )
        .unwrap();
        assert!(r.valid);
        assert_eq!(r.lines, TD3);
        // One run too long, another too short, in line 2 of a TD1 (length right).
        let td1 = [
            "I<UTOD231458907<<<<<<<<<<<<<<<",
            "7408122F1204159UTO<<<<<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
        ];
        let r = interpret(
            &s(&["I<UTOD231458907<<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<6", td1[2]]),
            today(),
        )
        .unwrap();
        assert!(r.valid, "{:?}", r.lines);
        assert_eq!(r.lines, td1);
    }

    #[test]
    fn an_unconfirmable_read_is_returned_invalid() {
        let r = interpret(&s(&[TD3[0], "L898902C36UTO7408132F1204159ZE184226B<<<<<10"]), today()).unwrap();
        assert!(!r.valid);
        assert_eq!(r.lines[1], "L898902C36UTO7408132F1204159ZE184226B<<<<<10");
        assert!(interpret(&s(&["HELLO WORLD"]), today()).is_none());
    }

    #[test]
    fn bands_are_the_lowest_aligned_long_lines() {
        let line = |y: f32, x0: f32, x1: f32| TextBox {
            corners: [(x0, y), (x1, y), (x1, y + 20.0), (x0, y + 20.0)],
            score: 0.9,
        };
        // A short heading, a long text line far above, then the zone's two lines, the
        // upper one detected shorter (its trailing fillers too faint).
        let lines = vec![
            line(10.0, 50.0, 200.0),
            line(100.0, 40.0, 900.0),
            line(400.0, 40.0, 700.0),
            line(430.0, 40.0, 1000.0),
        ];
        let bands = mrz_bands(&lines);
        assert_eq!(bands.len(), 1, "{bands:?}");
        let band = &bands[0];
        assert_eq!(band.len(), 2);
        assert!(band[0].centre().1 < band[1].centre().1);
        assert!((band[0].length() - 960.0).abs() < 1.0, "{}", band[0].length());
        // Pieces of one line are joined.
        let joined = join_lines(vec![line(400.0, 40.0, 500.0), line(400.0, 520.0, 1000.0)]);
        assert_eq!(joined.len(), 1);
        assert!((joined[0].length() - 960.0).abs() < 1.0);
    }

    #[test]
    fn the_reader_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MrzReader>();
    }
}
