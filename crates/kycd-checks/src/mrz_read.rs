//! Read the machine-readable zone of a document photo as a grid of character cells.
//!
//! 1. **Find** the zone: PP-OCR's text detector ([`crate::ocr`]) runs once over the whole
//!    photo at [`DET_SHORT_SIDE`] pixels; the zone is the lowest group of two or three
//!    long, parallel lines of equal length at one line pitch. No such group: no zone,
//!    and nothing more is spent (a licence back costs one detection).
//! 2. **Rectify** it from its own lines and find every cell ([`crate::mrz_zone`]): the
//!    number of cells per line is known from the format (TD1 3 × 30, TD2 and MRV-B
//!    2 × 36, TD3 and MRV-A 2 × 44).
//! 3. **Classify** each cell with kycd's own model ([`crate::mrz_cells`]): one
//!    classification per character, so nothing can be inserted or dropped.
//! 4. **Decide** each character from the field layout and the check digits, with a
//!    confidence bar for names ([`crate::mrz_grid`]).
//!
//! A two-line zone is tried at 44 and 36 cells, each with its candidate grids in turn
//! (the gap fits, then the lattices: [`crate::mrz_zone::ZoneFrames`]), and a zone read
//! upside down (every cell unsure) is read again turned round; the first valid reading
//! wins, else the most confident one is returned (not valid).
//!
//! [`MrzReader`] is `Send + Sync`: load it once and share it (`Arc`).

use crate::mrz::{MrzFormat, MrzResult};
use crate::mrz_cells::{CLASSES, CellModel};
use crate::mrz_zone::{self, ZoneGrid};
use crate::ocr::{Ocr, OcrError, TextBox};
use crate::{ImageLimits, decode};
use chrono::NaiveDate;
use image::GrayImage;
use std::path::Path;

/// Short side of the detector's input when looking for the zone, pixels. The grid
/// reader re-measures the zone from the photo itself, so detection only has to find
/// the lines, not outline them exactly (docs/BENCHMARKS.md: what smaller sizes lose).
pub const DET_SHORT_SIDE: u32 = 544;

/// The MRZ reader: the text detector and the cell classifier, loaded.
#[derive(Debug)]
pub struct MrzReader {
    ocr: Ocr,
    cells: CellModel,
}

/// What a read found, for diagnostics and tests.
#[derive(Debug, Clone)]
pub struct MrzReading {
    /// The zone (`valid` says whether it can be trusted), `None` when no group of lines
    /// formed one.
    pub result: Option<MrzResult>,
    /// How many text regions the detector found.
    pub detected: usize,
    /// Where the cells of the returned zone were found, when one was.
    pub grid: Option<ZoneGrid>,
}

impl MrzReader {
    /// Load the detector and the runtime from `dir` (`scripts/fetch-models` puts them in
    /// `./models`); the cell classifier is compiled in.
    pub fn load(dir: &Path) -> Result<Self, OcrError> {
        let ocr = Ocr::load(dir)?;
        let cells = CellModel::load(dir)?;
        Ok(Self { ocr, cells })
    }

    /// Load from `$KYCD_MODEL_DIR`, else `./models`.
    pub fn from_env() -> Result<Self, OcrError> {
        Self::load(&crate::ocr::default_model_dir())
    }

    /// The underlying text detector.
    pub fn ocr(&self) -> &Ocr {
        &self.ocr
    }

    /// The cell classifier.
    pub fn cell_model(&self) -> &CellModel {
        &self.cells
    }

    /// Read the zone of an upright greyscale photo at full resolution. `Ok(None)` when no
    /// zone was found; a zone that cannot be trusted is returned with `valid == false`.
    pub fn read(&self, img: &GrayImage, today: NaiveDate) -> Result<Option<MrzResult>, OcrError> {
        Ok(self.read_detailed(img, today)?.result)
    }

    /// Decode an uploaded image (limits, EXIF orientation) and read its zone.
    pub fn read_bytes(&self, bytes: &[u8], limits: ImageLimits, today: NaiveDate) -> Result<Option<MrzResult>, OcrError> {
        let img = decode::decode_full(bytes, limits)?.into_luma8();
        self.read(&img, today)
    }

    /// The candidate zones of a photo: groups of detected lines, lowest first.
    pub fn find_zones(&self, img: &GrayImage) -> Result<(Vec<Vec<TextBox>>, usize), OcrError> {
        let (bands, detected) = self.find_bands(img)?;
        Ok((bands.into_iter().map(|b| b.lines).collect(), detected))
    }

    fn find_bands(&self, img: &GrayImage) -> Result<(Vec<Band>, usize), OcrError> {
        let boxes = self.ocr.detect_scaled(img, DET_SHORT_SIDE)?;
        let detected = boxes.len();
        Ok((mrz_bands(&join_lines(boxes)), detected))
    }

    /// [`read`](Self::read), with where the zone was found.
    pub fn read_detailed(&self, img: &GrayImage, today: NaiveDate) -> Result<MrzReading, OcrError> {
        self.read_with(img, today, |cells| self.cells.classify(cells).map_err(OcrError::from))
    }

    /// [`read_detailed`](Self::read_detailed) with another cell classifier (the
    /// template-matching alternative, for measurements).
    pub fn read_with(
        &self,
        img: &GrayImage,
        today: NaiveDate,
        classify: impl Fn(&[Vec<f32>]) -> Result<Vec<[f32; CLASSES]>, OcrError>,
    ) -> Result<MrzReading, OcrError> {
        let (bands, detected) = self.find_bands(img)?;
        let mut best: Option<(f32, MrzResult, ZoneGrid)> = None;
        'bands: for Band { lines: band, strict } in bands.iter().take(2) {
            let lengths: &[usize] = if band.len() == 3 { &[30] } else { &[44, 36] };
            for flipped in [false, true] {
                let lines: Vec<TextBox> = if flipped {
                    band.iter().rev().map(flip).collect()
                } else {
                    band.clone()
                };
                let mut sure = 0f32;
                for &n in lengths {
                    let Ok(frames) = mrz_zone::ZoneFrames::measure(img, &lines, n) else {
                        continue;
                    };
                    // The cheap gap fits first; the lattices only when those read no
                    // valid zone.
                    let mut tried: Vec<ZoneGrid> = Vec::new();
                    let lattices = std::iter::once_with(|| frames.lattices()).flatten();
                    for (i, grid) in frames.grids().into_iter().chain(lattices).enumerate() {
                        if tried.iter().any(|t| t.same_as(&grid)) {
                            continue;
                        }
                        tried.push(grid.clone());
                        // A fallback grid, or a band with a short line, is one more try
                        // at forcing print onto a grid.
                        let searched = i > 0 || !strict;
                        let floor = mrz_zone::contrast_floor(img, &grid);
                        let cells: Vec<Vec<f32>> = grid.cells.iter().flatten().map(|c| mrz_zone::cell_image(img, c, floor)).collect();
                        let flat = classify(&cells)?;
                        let probs: Vec<Vec<[f32; CLASSES]>> = flat.chunks(n).map(<[_]>::to_vec).collect();
                        // Mean top probability: how well the grid fits the print.
                        let mean = flat.iter().map(|p| p.iter().copied().fold(0f32, f32::max)).sum::<f32>() / flat.len().max(1) as f32;
                        sure = sure.max(mean);
                        let Some(r) = crate::mrz_grid::decode(format_of(n, &probs), &probs, today) else {
                            continue;
                        };
                        // Such a try may report only a valid zone: one that fails some
                        // check digits (which declines) or passes them with unsure
                        // names must come from the first grid of a band of long lines,
                        // no likelier to be print by chance than before the other tries
                        // existed (measured on documents printed without a zone:
                        // `mrz_corpus -- 10 no-zone`).
                        if searched && !r.valid {
                            continue;
                        }
                        // A valid zone first, then one whose check digits pass, then the grid that
                        // fits the print best (a wrong length leaves unsure cells and misses
                        // the glyph gaps).
                        let score = mean - grid.fit_error
                            + if r.valid { 10.0 } else { 0.0 }
                            + if r.check_digits.iter().all(|c| c.passed) { 1.0 } else { 0.0 };
                        if best.as_ref().is_none_or(|b| score > b.0) {
                            let valid = r.valid;
                            best = Some((score, r, grid));
                            if valid {
                                break 'bands;
                            }
                        }
                    }
                }
                // Read the right way up: no need to turn it round.
                if sure > 0.8 {
                    break;
                }
            }
        }
        let (result, grid) = match best {
            Some((_, r, g)) if looks_like_a_zone(&r) => (Some(r), Some(g)),
            _ => (None, None),
        };
        Ok(MrzReading { result, detected, grid })
    }
}

/// Whether a reading is a machine-readable zone at all. Lines of ordinary print can be
/// forced onto a grid and decoded; a reading that is not valid is only reported (and
/// then fails the check, which may decline) when at least half of its check digits
/// pass: a real zone that was tampered with or misread in a few cells keeps most of
/// them, while print that is no MRZ passes each by chance only (one in ten). Anything
/// less is "no zone found": inconclusive, for a person to look at, never a decline.
///
/// Nor is a reading whose check digits pass only because a quarter or more of its cells
/// were changed to make them (or its fields) fit, or a quarter or more of them are unsure:
/// the check digits then choose among guesses, and print that is no zone can pass them
/// (a licence back read as a passport zone with 22 repairs and 36 unsure cells; its
/// "issuing state" once declined a genuine applicant).
fn looks_like_a_zone(r: &MrzResult) -> bool {
    if r.valid {
        return true;
    }
    let cells: usize = r.lines.iter().map(String::len).sum();
    if 4 * r.repaired.len() >= cells || 4 * r.uncertain.len() >= cells {
        return false;
    }
    let passed = r.check_digits.iter().filter(|c| c.passed).count();
    !r.check_digits.is_empty() && 2 * passed >= r.check_digits.len()
}

/// The format of a zone of `n`-cell lines: a visa when its first cell reads `V`; a
/// French identity card when 36-cell lines begin with `IDFRA`.
fn format_of(n: usize, probs: &[Vec<[f32; CLASSES]>]) -> MrzFormat {
    let best = |p: &[f32; CLASSES]| (0..CLASSES).max_by(|&a, &b| p[a].total_cmp(&p[b])).map(crate::mrz_cells::char_of);
    let french = n == 36
        && probs
            .first()
            .is_some_and(|l| l.len() >= 5 && l[..5].iter().map(best).eq("IDFRA".chars().map(Some)));
    if french {
        return MrzFormat::FrenchId;
    }
    let v = crate::mrz_cells::class_of('V').unwrap_or(0);
    let first_is_v = probs.first().and_then(|l| l.first()).is_some_and(|p| {
        // Among the letters a document code starts with.
        ['P', 'I', 'A', 'C', 'V']
            .iter()
            .filter_map(|&c| crate::mrz_cells::class_of(c))
            .all(|k| p[v] >= p[k])
    });
    match (n, first_is_v) {
        (30, _) => MrzFormat::Td1,
        (36, true) => MrzFormat::MrvB,
        (36, false) => MrzFormat::Td2,
        (_, true) => MrzFormat::MrvA,
        _ => MrzFormat::Td3,
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

/// A candidate zone: its lines, top to bottom, stretched to their common extent.
#[derive(Debug, Clone)]
struct Band {
    lines: Vec<TextBox>,
    /// Every line at least 10 heights long (else one was allowed 5: its faint end missed).
    strict: bool,
}

/// Candidate MRZ bands, lowest first: groups of two or three long lines of about equal
/// length and left edge, at one line pitch, stretched to the group's common extent.
fn mrz_bands(lines: &[TextBox]) -> Vec<Band> {
    // A zone's line is long: at least 10 heights, except that a line whose end the
    // detector missed (a faint run of fillers) may join a band with 5.
    let is_long = |b: &TextBox| b.length() >= 10.0 * b.height();
    let Some(max_len) = lines.iter().filter(|b| is_long(b)).map(TextBox::length).reduce(f32::max) else {
        return Vec::new();
    };
    let mut long: Vec<&TextBox> = lines
        .iter()
        .filter(|b| b.length() >= 5.0 * b.height() && b.length() >= 0.4 * max_len)
        .collect();
    // The zone's direction: the median angle of the lines of 10 heights (shorter text
    // elsewhere on a tilted document runs at other angles).
    let mut angles: Vec<f32> = long.iter().filter(|b| is_long(b)).map(|b| b.angle()).collect();
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
        if group.len() < 2 || !group.iter().any(|&g| is_long(long[g])) {
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
        bands.push(Band {
            lines: band,
            strict: group.iter().all(|&g| is_long(long[g])),
        });
    }
    bands
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(bands[0].strict);
        let band = &bands[0].lines;
        assert_eq!(band.len(), 2);
        assert!(band[0].centre().1 < band[1].centre().1);
        assert!((band[0].length() - 960.0).abs() < 1.0, "{}", band[0].length());
        // Pieces of one line are joined.
        let joined = join_lines(vec![line(400.0, 40.0, 500.0), line(400.0, 520.0, 1000.0)]);
        assert_eq!(joined.len(), 1);
        assert!((joined[0].length() - 960.0).abs() < 1.0);
    }

    #[test]
    fn a_line_whose_faint_end_the_detector_missed_still_joins_its_band() {
        let line = |y: f32, x1: f32| TextBox {
            corners: [(40.0, y), (x1, y), (x1, y + 50.0), (40.0, y + 50.0)],
            score: 0.9,
        };
        // The first line's run of fillers was not detected: 9 heights long, not 10.
        let bands = mrz_bands(&[line(400.0, 490.0), line(460.0, 760.0)]);
        assert_eq!(bands.len(), 1, "{bands:?}");
        assert_eq!(bands[0].lines.len(), 2);
        // Such a band may only report a zone whose check digits all pass.
        assert!(!bands[0].strict);
        // Two such lines alone are no band.
        assert!(mrz_bands(&[line(400.0, 490.0), line(460.0, 500.0)]).is_empty());
    }

    #[test]
    fn print_forced_onto_a_grid_is_no_zone_but_a_tampered_zone_is() {
        let today = NaiveDate::from_ymd_opt(2010, 1, 1).unwrap();
        let read = |l1: &str, l2: &str| crate::mrz::parse_lines(&[l1, l2], today).unwrap();
        let genuine = read(
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        );
        assert!(genuine.valid && looks_like_a_zone(&genuine));
        // One digit of the birth date changed: two check digits fail, three pass.
        let tampered = read(
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408132F1204159ZE184226B<<<<<10",
        );
        assert!(!tampered.valid && looks_like_a_zone(&tampered));
        // Two lines of a card's printed text read as a grid.
        let print = read(
            "IDENTITYCARDREPUBLICOFEXAMPLESURNAMEGIVENNAM",
            "DATEOFBIRTHPLACEOFBIRTHNATIONALITYSEXEXPIRY1",
        );
        assert!(!print.valid && !looks_like_a_zone(&print), "{:?}", print.check_digits);
        // Check digits that pass, but on a grid of unsure cells: not a zone.
        let mut unsure = genuine.clone();
        unsure.valid = false;
        assert!(looks_like_a_zone(&unsure), "a few unsure cells stay an (uncertain) zone");
        unsure.uncertain = (0..22)
            .map(|position| crate::mrz::CellRef {
                line: 0,
                position,
                field: "name",
            })
            .collect();
        assert!(!looks_like_a_zone(&unsure), "a quarter of the cells unsure");
    }

    #[test]
    fn the_reader_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MrzReader>();
    }
}
