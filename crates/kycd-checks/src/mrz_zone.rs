//! The geometry of a machine-readable zone: from the text detector's boxes of the zone's
//! lines to the exact place of every character cell in the photo, and each cell cut out
//! as the small normalised image the cell classifier ([`crate::mrz_cells`]) reads.
//!
//! The zone is rectified from its own lines, never from the document's outline
//! ([`ZoneFrames`]):
//!
//! 1. **Coarse**: the first and last line's boxes give four points, hence a homography
//!    from a canonical frame (x in character pitches, `0..n`) to the photo.
//! 2. **Centre lines and ends**: each line's ink centre is measured every two pitches
//!    and a straight line fitted through it (under perspective the zone's lines
//!    converge, and the end points of a line placed a tenth of a pitch too high or low
//!    turn into pitches of error along it). Along that line, the first and last inked
//!    columns are found, walking out from the middle until a blank run of most of a
//!    glyph pitch, the pitch measured from the line's own period (a detector box that
//!    missed a run of faint fillers gives a frame a third too short); where the ink runs
//!    to the strip's edge, further out.
//! 3. **Fine frame**: the ends of the first and last line anchor a homography whose x
//!    runs `0..n` over the printed characters. Where one line ends more than a pitch
//!    short of the others (a glare spot erases its end), a second frame is anchored on
//!    the outermost ends.
//! 4. **Gaps**: OCR-B is fixed pitch, and neighbouring glyphs leave a gap of ink-free
//!    columns. Each line's gaps are found near where the frame puts them and a smooth
//!    curve (quadratic in the cell index) is fitted to them, robustly
//!    ([`ZoneFrames::grids`]); a line without enough gaps takes the other lines'
//!    boundaries.
//! 5. **Lattice**, when the gap fits read no valid zone: one projective lattice for all
//!    lines, fitted to the gaps of every line at once and anchored at either end
//!    ([`ZoneFrames::lattices`]).
//!
//! A grid shorter than a line's ink is never returned: 36 cells laid on the first 36
//! characters of a 44-character line would read a valid, truncated zone. Every cell is
//! then sampled from the photo (supersampled when the photo is larger than the cell
//! image) and normalised to ink = 1, paper = 0 ([`cell_image`]).

mod fine;
mod profile;

use crate::ocr::{Point, TextBox, bilinear, dist};
use fine::*;
use image::GrayImage;
use profile::*;

/// Cell image size fed to the classifier: width and height in pixels.
pub const CELL_W: usize = 20;
pub const CELL_H: usize = 24;
/// What a cell image shows, in character pitches: a little of the neighbours on each
/// side, and the whole height of a capital with a margin (OCR-B capitals are about 0.8
/// pitch tall).
pub const WINDOW_W: f32 = 1.25;
pub const WINDOW_H: f32 = 1.5;
/// Pixels per pitch of the upright line strips the geometry is measured on.
const STRIP_SCALE: f32 = 16.0;

/// A projective map of the plane (row-major 3 × 3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// The map taking `from[i]` to `to[i]`; `None` when the points are degenerate.
    pub fn from_points(from: &[Point; 4], to: &[Point; 4]) -> Option<Self> {
        let mut a = [[0f64; 9]; 8];
        for i in 0..4 {
            let (x, y) = (f64::from(from[i].0), f64::from(from[i].1));
            let (u, v) = (f64::from(to[i].0), f64::from(to[i].1));
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        let h = solve_linear(a, 1e-12)?;
        Some(Self([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0]))
    }

    /// The map applying `inner` first, then `self`.
    pub fn after(&self, inner: &Homography) -> Homography {
        let (a, b) = (&self.0, &inner.0);
        let mut m = [0f64; 9];
        for r in 0..3 {
            for c in 0..3 {
                m[3 * r + c] = (0..3).map(|k| a[3 * r + k] * b[3 * k + c]).sum();
            }
        }
        Homography(m)
    }

    pub fn apply(&self, p: Point) -> Point {
        let m = &self.0;
        let (x, y) = (f64::from(p.0), f64::from(p.1));
        let d = m[6] * x + m[7] * y + m[8];
        (((m[0] * x + m[1] * y + m[2]) / d) as f32, ((m[3] * x + m[4] * y + m[5]) / d) as f32)
    }
}

/// Solves `N` linear equations given as an augmented matrix (the right-hand side in the
/// last column) by Gauss-Jordan elimination with partial pivoting; `None` when a pivot is
/// below `eps` (the system is degenerate). The homography and the boundary fit use it.
fn solve_linear<const N: usize, const M: usize>(mut a: [[f64; M]; N], eps: f64) -> Option<[f64; N]> {
    for col in 0..N {
        let piv = (col..N).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
        a.swap(col, piv);
        let d = a[col][col];
        if d.abs() < eps {
            return None;
        }
        for v in &mut a[col][col..] {
            *v /= d;
        }
        let pivot_row = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col];
                for (v, p) in r[col..].iter_mut().zip(&pivot_row[col..]) {
                    *v -= f * p;
                }
            }
        }
    }
    Some(std::array::from_fn(|i| a[i][M - 1]))
}

fn mid(a: Point, b: Point) -> Point {
    ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)
}

/// Where one character cell lies in the photo: its centre and the vectors of one pitch
/// along the line (`u`) and across it, downwards (`v`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellPlace {
    pub centre: Point,
    pub u: Point,
    pub v: Point,
}

/// The located zone: every cell's place, line by line.
#[derive(Debug, Clone)]
pub struct ZoneGrid {
    pub cells: Vec<Vec<CellPlace>>,
    /// Mean distance (in pitches) between the gaps found and the fitted boundaries: small
    /// for a well-located grid of the right length.
    pub fit_error: f32,
}

impl ZoneGrid {
    /// Whether `other` puts every cell within a tenth of a pitch of this grid's.
    pub fn same_as(&self, other: &ZoneGrid) -> bool {
        self.cells.len() == other.cells.len()
            && self.cells.iter().zip(&other.cells).all(|(a, b)| a.len() == b.len())
            && self.cells.iter().flatten().zip(other.cells.iter().flatten()).all(|(p, q)| {
                let pitch = (p.u.0 * p.u.0 + p.u.1 * p.u.1).sqrt().max(1e-3);
                dist(p.centre, q.centre) < 0.1 * pitch
            })
    }
}

/// Sample `img` on a `cols × rows` grid whose pixel (i, j) centre is at
/// `map(origin + (i + 0.5) * step_x, origin + (j + 0.5) * step_y)` in canonical
/// coordinates; each output pixel averages `k × k` sub-samples (`k` from how many photo
/// pixels one output pixel covers), so a large photo is averaged, not aliased.
fn sample_grid(img: &GrayImage, map: impl Fn(f32, f32) -> Point, x0: f32, y0: f32, step: (f32, f32), cols: usize, rows: usize) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0f32; cols * rows];
    if w == 0 || h == 0 || cols == 0 || rows == 0 {
        return out;
    }
    let src = img.as_raw();
    // Photo pixels per output pixel, at the middle of the grid.
    let (cx, cy) = (x0 + step.0 * cols as f32 / 2.0, y0 + step.1 * rows as f32 / 2.0);
    let c = map(cx, cy);
    let scale = dist(c, map(cx + step.0, cy)).max(dist(c, map(cx, cy + step.1)));
    let k = (scale.ceil() as usize).clamp(1, 4);
    let inv = 1.0 / (k * k) as f32;
    for j in 0..rows {
        for i in 0..cols {
            let mut acc = 0f32;
            for sj in 0..k {
                let y = y0 + (j as f32 + (sj as f32 + 0.5) / k as f32) * step.1;
                for si in 0..k {
                    let x = x0 + (i as f32 + (si as f32 + 0.5) / k as f32) * step.0;
                    let (px, py) = map(x, y);
                    acc += bilinear(src, w, h, px, py);
                }
            }
            out[j * cols + i] = acc * inv;
        }
    }
    out
}

/// Why a zone's grid could not be located.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error("a zone needs two or three lines of at least 8 cells")]
    Shape,
    #[error("the lines' boxes are degenerate (no homography)")]
    Degenerate,
    #[error("line {0} shows no ink where the detector found it")]
    NoInk(usize),
    #[error("line {0} has no measurable ends")]
    NoEnds(usize),
}

/// Half the height of the strips the lines are measured in, pitches: clear of the
/// neighbouring lines (1.7 pitches apart in a TD1 zone).
const STRIP_HALF: f32 = 0.9;

/// One line as measured in the coarse frame: its centre line `y = a + b x` and its
/// first and last inked x.
#[derive(Debug, Clone, Copy)]
struct LineEnds {
    a: f32,
    b: f32,
    start: f32,
    end: f32,
}

impl LineEnds {
    fn at(&self, x: f32) -> Point {
        (x, self.a + self.b * x)
    }
}

/// The straight line through the ink of a strip's text line, `y = a + b x` (strip
/// coordinates): the ink centre of every two-pitch block of columns, fitted robustly
/// (the pair of blocks that most others agree with, then least squares on those). The
/// lines of a zone converge under perspective, so no frame is parallel to all of them.
fn centreline(strip: &Strip) -> Option<(f32, f32)> {
    let block = (2.0 * STRIP_SCALE) as usize;
    let mut pts: Vec<(f32, f32, f32)> = Vec::new();
    let mut c0 = 0;
    while c0 + block / 2 <= strip.cols {
        let c1 = (c0 + block).min(strip.cols);
        let profile: Vec<f32> = (0..strip.rows)
            .map(|j| strip.ink[j * strip.cols + c0..j * strip.cols + c1].iter().sum::<f32>() / (c1 - c0) as f32)
            .collect();
        if let Some((ra, rb)) = ink_rows(&profile) {
            let w: f32 = profile[ra..rb].iter().sum();
            let y = (ra..rb).map(|j| profile[j] * strip.row_y(j)).sum::<f32>() / w.max(1e-6);
            let x = strip.x0 + (c0 + c1) as f32 / 2.0 / STRIP_SCALE;
            pts.push((x, y, w / (rb - ra) as f32));
        }
        c0 += block;
    }
    let tol = 0.15;
    let inliers =
        |a: f32, b: f32| -> Vec<(f32, f32, f32)> { pts.iter().copied().filter(|&(x, y, _)| (y - a - b * x).abs() <= tol).collect() };
    let weight = |s: &[(f32, f32, f32)]| s.iter().map(|p| p.2).sum::<f32>();
    let mut best: Option<(f32, f32, f32)> = None;
    for (i, p) in pts.iter().enumerate() {
        for q in &pts[i + 1..] {
            if (q.0 - p.0).abs() < 4.0 {
                continue;
            }
            let b = (q.1 - p.1) / (q.0 - p.0);
            let a = p.1 - b * p.0;
            let w = weight(&inliers(a, b));
            if best.is_none_or(|(_, _, bw)| w > bw) {
                best = Some((a, b, w));
            }
        }
    }
    let (mut a, mut b, _) = best?;
    for _ in 0..2 {
        let kept = inliers(a, b);
        if kept.len() < 3 {
            return None;
        }
        let (sw, sx, sy) = kept
            .iter()
            .fold((0.0, 0.0, 0.0), |(w, x, y), p| (w + p.2, x + p.2 * p.0, y + p.2 * p.1));
        let (mx, my) = (sx / sw, sy / sw);
        let (sxx, sxy) = kept.iter().fold((0.0, 0.0), |(xx, xy), p| {
            (xx + p.2 * (p.0 - mx).powi(2), xy + p.2 * (p.0 - mx) * (p.1 - my))
        });
        if sxx < 1e-6 {
            return None;
        }
        b = sxy / sxx;
        a = my - b * mx;
    }
    // A line crosses a strip at most at a shallow angle; steeper is not the line.
    (b.abs() < 0.05).then_some((a, b))
}

/// The line through `y = a + b x` of a frame as the x axis of a new frame (rows
/// measured from it).
fn along(a: f32, b: f32) -> Homography {
    Homography([1.0, 0.0, 0.0, f64::from(b), 1.0, f64::from(a), 0.0, 0.0, 1.0])
}

/// Measure one line in the coarse frame: its centre line, then its inked ends along it.
fn measure_line(img: &GrayImage, coarse: &Homography, y: f32, n: f32, line: usize) -> Result<LineEnds, LocateError> {
    let mut x = (-2.0, n + 2.0);
    let wide = Strip::new(img, coarse, x, (y - STRIP_HALF - 0.2, y + STRIP_HALF + 0.2));
    let (a, b) = centreline(&wide).unwrap_or((y, 0.0));
    let frame = coarse.after(&along(a, b));
    loop {
        let strip = Strip::new(img, &frame, x, (-STRIP_HALF, STRIP_HALF));
        let (ra, rb) = ink_rows(&strip.rows_profile()).ok_or(LocateError::NoInk(line))?;
        let cols = strip.cols_profile(ra..rb);
        // Rows clear of the line (a margin of a sixth of a pitch from its ink).
        let m = (STRIP_SCALE / 6.0) as usize;
        let above = strip.cols_profile(0..ra.saturating_sub(m));
        let below = strip.cols_profile((rb + m).min(strip.rows)..strip.rows);
        let outside: Vec<f32> = above.iter().zip(&below).map(|(a, b)| a.max(*b)).collect();
        // The line's own pitch, where the frame's is off (a detector box that missed
        // part of the line); the frame's where no period shows.
        let pitch = glyph_pitch(&cols)
            .unwrap_or(STRIP_SCALE)
            .clamp(0.8 * STRIP_SCALE, 2.2 * STRIP_SCALE);
        let (s, e) = ink_ends(&cols, &outside, pitch).ok_or(LocateError::NoEnds(line))?;
        let (start, end) = (strip.col_x(s), strip.col_x(e - 1));
        // The detector can miss a line's faint end (a run of fillers): where the ink
        // runs to the strip's edge, the line goes on; look once more, further out.
        let edge = pitch / STRIP_SCALE;
        let (short_left, short_right) = (start - x.0 < edge, x.1 - end < edge);
        if (short_left || short_right) && x.1 - x.0 < 1.5 * n {
            x = (
                x.0 - if short_left { 0.6 * n } else { 0.0 },
                x.1 + if short_right { 0.6 * n } else { 0.0 },
            );
            continue;
        }
        return Ok(LineEnds {
            // The ink's own centre may still sit a little off the fitted line.
            a: a + (strip.row_y(ra) + strip.row_y(rb - 1)) / 2.0,
            b,
            start,
            end,
        });
    }
}

/// Locate the `n`-character grid of a zone whose lines the detector found as `lines`
/// (top to bottom, reading left to right), in `img`: the first of [`ZoneFrames::grids`].
pub fn locate(img: &GrayImage, lines: &[TextBox], n: usize) -> Option<ZoneGrid> {
    ZoneFrames::measure(img, lines, n).ok()?.grids().into_iter().next()
}

/// A zone measured for `n`-cell lines: its rectified frames and each line's ink in
/// them, from which the candidate grids are cut.
pub struct ZoneFrames {
    n: usize,
    /// Per anchoring of the frame: the frame and each line sampled in it.
    frames: Vec<(Fine, Vec<FineLine>)>,
}

impl ZoneFrames {
    /// Rectify the zone from its own lines: a coarse frame from the detector's boxes,
    /// each line's centre line and inked ends in it, then a frame anchored on the ends
    /// of the first and last line. Where one line ends more than a pitch short of the
    /// others (a glare spot erases its end), a second frame is anchored on the
    /// outermost ends.
    pub fn measure(img: &GrayImage, lines: &[TextBox], n: usize) -> Result<Self, LocateError> {
        let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
            return Err(LocateError::Shape);
        };
        if lines.len() < 2 || n < 8 {
            return Err(LocateError::Shape);
        }
        let nf = n as f32;
        // 1. Coarse: the boxes' mid-left and mid-right points of the first and last line.
        let (l0, r0) = (mid(first.corners[0], first.corners[3]), mid(first.corners[1], first.corners[2]));
        let (l1, r1) = (mid(last.corners[0], last.corners[3]), mid(last.corners[1], last.corners[2]));
        let len = dist(l0, r0).max(1.0);
        let span = nf * dist(l0, l1) / len;
        let frame = [(0.0, 0.0), (nf, 0.0), (nf, span), (0.0, span)];
        let coarse = Homography::from_points(&frame, &[l0, r0, r1, l1]).ok_or(LocateError::Degenerate)?;
        let inverse = Homography::from_points(&[l0, r0, r1, l1], &frame).ok_or(LocateError::Degenerate)?;
        // 2. Every line's centre line and inked ends (the first and last line's anchor
        // the frame; a middle line's only vote on where the lines end).
        let measure = |i: usize| measure_line(img, &coarse, inverse.apply(lines[i].centre()).1, nf, i);
        let mut each: Vec<Option<LineEnds>> = Vec::with_capacity(lines.len());
        for i in 0..lines.len() {
            each.push(match i {
                _ if i == 0 || i + 1 == lines.len() => Some(measure(i)?),
                _ => measure(i).ok(),
            });
        }
        let measured: Vec<LineEnds> = each.iter().flatten().copied().collect();
        let own = [measured[0], measured[measured.len() - 1]];
        // Where each line's ink begins and ends, in the photo.
        let extents: Vec<Option<(Point, Point)>> = each
            .iter()
            .map(|l| l.map(|l| (coarse.apply(l.at(l.start)), coarse.apply(l.at(l.end)))))
            .collect();
        let outer_start = measured.iter().map(|l| l.start).fold(f32::MAX, f32::min);
        let outer_end = measured.iter().map(|l| l.end).fold(f32::MIN, f32::max);
        let snapped = own.map(|l| LineEnds {
            start: if l.start - outer_start > 1.0 { outer_start } else { l.start },
            end: if outer_end - l.end > 1.0 { outer_end } else { l.end },
            ..l
        });
        let mut anchors = vec![own];
        if snapped.iter().zip(&own).any(|(s, o)| s.start != o.start || s.end != o.end) {
            anchors.push(snapped);
        }
        // 3. Each line sampled in each frame.
        let mut frames = Vec::with_capacity(anchors.len());
        for ends in anchors {
            let Some(fine) = fine_frame(&coarse, &ends, nf) else { continue };
            let mut strips = Vec::with_capacity(lines.len());
            for (i, b) in lines.iter().enumerate() {
                let guess = match i {
                    0 => 0.0,
                    _ if i + 1 == lines.len() => fine.span,
                    _ => fine.inverse.apply(b.centre()).1,
                };
                let mut strip = FineLine::new(img, &fine.map, guess, nf).ok_or(LocateError::NoInk(i))?;
                strip.ink = extents[i].map(|(a, b)| (fine.inverse.apply(a).0, fine.inverse.apply(b).0));
                strips.push(strip);
            }
            frames.push((fine, strips));
        }
        if frames.is_empty() {
            return Err(LocateError::Degenerate);
        }
        Ok(Self { n, frames })
    }

    /// The grids from each line's own glyph gaps ([`fit_boundaries`]), one per frame; a
    /// line whose gaps cannot be fitted takes the mean of the other lines' boundaries
    /// (all lines share the pitch), or equal pitch. Cheap: tried first.
    pub fn grids(&self) -> Vec<ZoneGrid> {
        let n = self.n;
        self.frames
            .iter()
            .filter_map(|(fine, strips)| {
                let fits: Vec<Option<(Vec<f32>, f32)>> = strips.iter().map(|s| fit_boundaries(&s.cols, |c| s.col_x(c), n)).collect();
                let fitted: Vec<&Vec<f32>> = fits.iter().flatten().map(|f| &f.0).collect();
                let shared: Vec<f32> = if fitted.is_empty() {
                    (0..=n).map(|k| k as f32).collect()
                } else {
                    (0..=n)
                        .map(|k| fitted.iter().map(|b| b[k]).sum::<f32>() / fitted.len() as f32)
                        .collect()
                };
                let bounds: Vec<Vec<f32>> = fits
                    .iter()
                    .map(|f| f.as_ref().map_or_else(|| shared.clone(), |f| f.0.clone()))
                    .collect();
                fine.grid(strips, &bounds, n)
            })
            .collect()
    }

    /// The grids of one lattice for all lines per frame ([`fit_lattice`]): the cells
    /// placed by a projective map along the lines, fitted to the gaps of every line at
    /// once and anchored at either end. They need neither a fitted homography's
    /// perspective along the lines (which four points a few pitches apart barely
    /// constrain) nor both ends of every line. Costlier: tried when the grids of
    /// [`grids`](Self::grids) read no valid zone.
    pub fn lattices(&self) -> Vec<ZoneGrid> {
        let n = self.n;
        self.frames
            .iter()
            .filter_map(|(fine, strips)| {
                let profiles: Vec<&[f32]> = strips.iter().map(|s| s.cols.as_slice()).collect();
                let bounds = fit_lattice(&profiles, strips.first()?.x0, n)?;
                fine.grid(strips, &vec![bounds; strips.len()], n)
            })
            .collect()
    }
}

/// The candidate grids of a zone of `n`-character lines, most likely first: the gap
/// fits, then the lattices ([`ZoneFrames`]), without repeats.
pub fn locate_grids(img: &GrayImage, lines: &[TextBox], n: usize) -> Result<Vec<ZoneGrid>, LocateError> {
    let frames = ZoneFrames::measure(img, lines, n)?;
    let mut out: Vec<ZoneGrid> = Vec::new();
    for g in frames.grids().into_iter().chain(frames.lattices()) {
        if !out.iter().any(|o| o.same_as(&g)) {
            out.push(g);
        }
    }
    Ok(out)
}

/// The classifier's view of one cell: [`WINDOW_W`] × [`WINDOW_H`] pitches around its
/// centre, [`CELL_W`] × [`CELL_H`] pixels, ink 1 … paper 0. Normalised by the window's
/// own 2nd and 98th percentiles, with a contrast floor of `min_range` grey levels so
/// that a cell of paper or faint print is not blown up into noise.
pub fn cell_image(img: &GrayImage, place: &CellPlace, min_range: f32) -> Vec<f32> {
    let CellPlace { centre: c, u, v } = *place;
    let map = |a: f32, b: f32| (c.0 + a * u.0 + b * v.0, c.1 + a * u.1 + b * v.1);
    let step = (WINDOW_W / CELL_W as f32, WINDOW_H / CELL_H as f32);
    let raw = sample_grid(img, map, -WINDOW_W / 2.0, -WINDOW_H / 2.0, step, CELL_W, CELL_H);
    let (lo, hi) = (percentile(&raw, 0.02), percentile(&raw, 0.98));
    let range = (hi - lo).max(min_range).max(1.0);
    raw.iter().map(|&p| ((hi - p) / range).clamp(0.0, 1.0)).collect()
}

/// The contrast floor for the cells of a zone: a third of the zone's ink-to-paper range
/// (sampled at the cell centres' neighbourhoods).
pub fn contrast_floor(img: &GrayImage, grid: &ZoneGrid) -> f32 {
    let mut values = Vec::new();
    for line in &grid.cells {
        for place in line.iter().step_by(3) {
            let CellPlace { centre: c, u, v } = *place;
            let map = |a: f32, b: f32| (c.0 + a * u.0 + b * v.0, c.1 + a * u.1 + b * v.1);
            values.extend(sample_grid(img, map, -0.5, -0.5, (0.25, 0.25), 4, 4));
        }
    }
    if values.is_empty() {
        return 1.0;
    }
    (percentile(&values, 0.95) - percentile(&values, 0.05)) / 3.0
}

#[cfg(test)]
mod tests;
