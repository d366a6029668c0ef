//! The geometry of a machine-readable zone: from the text detector's boxes of the zone's
//! lines to the exact place of every character cell in the photo, and each cell cut out
//! as the small normalised image the cell classifier ([`crate::mrz_cells`]) reads.
//!
//! The zone is rectified from its own lines, never from the document's outline:
//!
//! 1. **Coarse**: the first and last line's boxes give four points, hence a homography
//!    from a canonical frame (x in character pitches, `0..n`) to the photo. This models
//!    rotation and perspective (a keystone shrinks the characters at one end of a line by
//!    up to 20 %, which a rotated rectangle cannot follow).
//! 2. **Ink ends**: each line is sampled upright through that homography; its first and
//!    last inked columns and its vertical ink centre re-anchor the homography on the
//!    printed characters (the detector's boxes overshoot by about a character).
//! 3. **Gaps**: OCR-B is fixed pitch, and neighbouring glyphs leave a gap of ink-free
//!    columns. Each line's gaps are found near where the homography puts them and a
//!    smooth curve (quadratic in the cell index) is fitted to them, robustly, so the
//!    cell boundaries follow the print even where the homography is a little off.
//!
//! Every cell is then sampled from the photo (supersampled when the photo is larger than
//! the cell image) and normalised to ink = 1, paper = 0 ([`cell_image`]).

use crate::ocr::{Point, TextBox};
use image::GrayImage;

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
        // Gaussian elimination with partial pivoting.
        for col in 0..8 {
            let piv = (col..8).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
            a.swap(col, piv);
            let d = a[col][col];
            if d.abs() < 1e-12 {
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
        Some(Self([a[0][8], a[1][8], a[2][8], a[3][8], a[4][8], a[5][8], a[6][8], a[7][8], 1.0]))
    }

    pub fn apply(&self, p: Point) -> Point {
        let m = &self.0;
        let (x, y) = (f64::from(p.0), f64::from(p.1));
        let d = m[6] * x + m[7] * y + m[8];
        (((m[0] * x + m[1] * y + m[2]) / d) as f32, ((m[3] * x + m[4] * y + m[5]) / d) as f32)
    }
}

fn dist(a: Point, b: Point) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
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

/// Bilinear sample of `img` at continuous coordinates (pixel centres at +0.5), edges
/// repeated.
fn bilinear(src: &[u8], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let x = (x - 0.5).clamp(0.0, (w - 1) as f32);
    let y = (y - 0.5).clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (ax, ay) = (x - x0 as f32, y - y0 as f32);
    let p = |xx: usize, yy: usize| f32::from(src[yy * w + xx]);
    let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * ax;
    let bot = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * ax;
    top + (bot - top) * ay
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

fn percentile(values: &[f32], q: f32) -> f32 {
    let mut hist = [0usize; 256];
    for &v in values {
        hist[v.clamp(0.0, 255.0) as usize] += 1;
    }
    let target = (values.len() as f32 * q) as usize;
    let mut acc = 0;
    for (i, &c) in hist.iter().enumerate() {
        acc += c;
        if acc > target {
            return i as f32;
        }
    }
    255.0
}

/// Ink of a strip measured against the paper of its own column (the brightest rows of
/// the column, smoothed along the line), so that vignetting, glare and shading along the
/// line are not taken for ink.
fn column_ink(strip: &[f32], cols: usize, rows: usize) -> Vec<f32> {
    if cols == 0 || rows == 0 {
        return Vec::new();
    }
    let lo = percentile(strip, 0.03);
    let mut paper: Vec<f32> = (0..cols)
        .map(|i| {
            let mut col: Vec<f32> = (0..rows).map(|j| strip[j * cols + i]).collect();
            col.sort_by(f32::total_cmp);
            col[(rows * 17 / 20).min(rows - 1)]
        })
        .collect();
    let r = (STRIP_SCALE / 2.0) as usize;
    let raw_paper = paper.clone();
    for (i, p) in paper.iter_mut().enumerate() {
        let (a, b) = (i.saturating_sub(r), (i + r + 1).min(cols));
        *p = raw_paper[a..b].iter().sum::<f32>() / (b - a) as f32;
    }
    let floor = ((percentile(strip, 0.9) - lo) / 4.0).max(8.0);
    strip
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let p = paper[k % cols];
            ((p - v) / (p - lo).max(floor)).clamp(0.0, 1.0)
        })
        .collect()
}

/// One line sampled upright: ink per pixel, `cols × rows`, canonical x from `x0` and y
/// from `y0`, [`STRIP_SCALE`] pixels per pitch.
struct Strip {
    ink: Vec<f32>,
    cols: usize,
    rows: usize,
    x0: f32,
    y0: f32,
}

impl Strip {
    fn new(img: &GrayImage, hm: &Homography, x: (f32, f32), y: (f32, f32)) -> Self {
        let step = 1.0 / STRIP_SCALE;
        let cols = ((x.1 - x.0) * STRIP_SCALE).round().max(1.0) as usize;
        let rows = ((y.1 - y.0) * STRIP_SCALE).round().max(1.0) as usize;
        let raw = sample_grid(img, |a, b| hm.apply((a, b)), x.0, y.0, (step, step), cols, rows);
        Self {
            ink: column_ink(&raw, cols, rows),
            cols,
            rows,
            x0: x.0,
            y0: y.0,
        }
    }
    fn col_x(&self, i: usize) -> f32 {
        self.x0 + (i as f32 + 0.5) / STRIP_SCALE
    }
    fn row_y(&self, j: usize) -> f32 {
        self.y0 + (j as f32 + 0.5) / STRIP_SCALE
    }
    /// Ink per row.
    fn rows_profile(&self) -> Vec<f32> {
        (0..self.rows)
            .map(|j| self.ink[j * self.cols..(j + 1) * self.cols].iter().sum::<f32>() / self.cols as f32)
            .collect()
    }
    /// Ink per column over the rows `r`.
    fn cols_profile(&self, r: std::ops::Range<usize>) -> Vec<f32> {
        let n = r.len().max(1) as f32;
        (0..self.cols)
            .map(|i| r.clone().map(|j| self.ink[j * self.cols + i]).sum::<f32>() / n)
            .collect()
    }
}

/// Rows of the strip that hold the line's ink: the run around the profile's peak where
/// the row ink is at least 35 % of the peak's. `None` for an empty strip.
fn ink_rows(profile: &[f32]) -> Option<(usize, usize)> {
    let (peak, &top) = profile.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    if top < 0.02 {
        return None;
    }
    let bar = 0.35 * top;
    let mut a = peak;
    while a > 0 && profile[a - 1] >= bar {
        a -= 1;
    }
    let mut b = peak;
    while b + 1 < profile.len() && profile[b + 1] >= bar {
        b += 1;
    }
    Some((a, b + 1))
}

/// First and last inked column: the outermost columns whose ink (smoothed over a quarter
/// pitch) reaches a quarter of the line's typical column ink.
fn ink_ends(cols: &[f32], outside: &[f32]) -> Option<(usize, usize)> {
    let r = (STRIP_SCALE / 8.0) as usize;
    let smooth: Vec<f32> = (0..cols.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(r), (i + r + 1).min(cols.len()));
            cols[a..b].iter().sum::<f32>() / (b - a) as f32
        })
        .collect();
    let mut sorted = smooth.clone();
    sorted.sort_by(f32::total_cmp);
    let typical = sorted[sorted.len() * 3 / 4];
    if typical < 0.02 {
        return None;
    }
    let bar = 0.25 * typical;
    // From the middle outwards, stopping at the first blank run wider than most of a
    // pitch: every cell of a zone holds a glyph (`<` too), so such a gap is the end of
    // the line, and what lies beyond it (the document's edge, the table) is not.
    let inked = |i: usize| smooth[i] >= bar;
    // Ink above and below the line's rows is not a glyph: the document's edge, the
    // table, a shadow. The line ends before it.
    // Measured above the outside rows' own median: background print there is not an
    // edge.
    let mut around = outside.to_vec();
    around.sort_by(f32::total_cmp);
    let base = around.get(around.len() / 2).copied().unwrap_or(0.0);
    let foreign = |i: usize| outside.get(i).is_some_and(|&o| o - base >= 0.5 * typical.max(smooth[i]));
    let max_gap = (0.9 * STRIP_SCALE) as usize;
    let centre = smooth.len() / 2;
    let start = (0..smooth.len() / 4)
        .flat_map(|d| [centre + d, centre.saturating_sub(d)])
        .find(|&i| i < smooth.len() && inked(i))?;
    let (mut first, mut last) = (start, start);
    for i in (0..start).rev() {
        if foreign(i) {
            break;
        }
        if inked(i) {
            first = i;
        } else if first - i > max_gap {
            break;
        }
    }
    for (i, _) in smooth.iter().enumerate().skip(start + 1) {
        if foreign(i) {
            break;
        }
        if inked(i) {
            last = i;
        } else if i - last > max_gap {
            break;
        }
    }
    (last > first).then_some((first, last + 1))
}

/// How many gaps at each end of a line anchor the first fit.
const ENDS: usize = 4;

/// Fit `g(k) = a + b k + c k²` to `(k, g, weight)` by weighted least squares.
fn fit_quadratic(pts: &[(f32, f32, f32)]) -> Option<[f64; 3]> {
    let mut m = [[0f64; 4]; 3];
    for &(k, g, w) in pts {
        let (k, g, w) = (f64::from(k), f64::from(g), f64::from(w));
        let basis = [1.0, k, k * k];
        for r in 0..3 {
            for c in 0..3 {
                m[r][c] += w * basis[r] * basis[c];
            }
            m[r][3] += w * basis[r] * g;
        }
    }
    for col in 0..3 {
        let piv = (col..3).max_by(|&p, &q| m[p][col].abs().total_cmp(&m[q][col].abs()))?;
        m.swap(col, piv);
        let d = m[col][col];
        if d.abs() < 1e-9 {
            return None;
        }
        for v in &mut m[col][col..] {
            *v /= d;
        }
        let pivot_row = m[col];
        for (row, r) in m.iter_mut().enumerate() {
            if row != col {
                let f = r[col];
                for (v, p) in r[col..].iter_mut().zip(&pivot_row[col..]) {
                    *v -= f * p;
                }
            }
        }
    }
    Some([m[0][3], m[1][3], m[2][3]])
}

/// The cell boundaries of one line of `n` cells: the gaps between glyphs, searched near
/// `k` (canonical x) for every interior boundary `k`, then a robust quadratic through
/// them. Returns the `n + 1` boundaries and the mean distance of the kept gaps from the
/// curve (pitches).
fn fit_boundaries(cols: &[f32], col_x: impl Fn(usize) -> f32, n: usize) -> Option<(Vec<f32>, f32)> {
    let x_of = |i: usize| col_x(i);
    let mut gaps: Vec<(f32, f32, f32)> = Vec::with_capacity(n);
    let radius = 0.35;
    let mut curve: Option<[f64; 3]> = None;
    let mut error = 0.0;
    // Rounds: gaps within `reach` cells of either end, the reach growing from the
    // anchored ends inwards, each round searched around the previous round's curve.
    for (round, reach) in [ENDS, 2 * ENDS, 4 * ENDS, n, n].into_iter().enumerate() {
        gaps.clear();
        let centre = |k: usize| match curve {
            Some([a, b, c]) => (a + b * k as f64 + c * (k * k) as f64) as f32,
            None => k as f32,
        };
        let radius = if round == 0 { radius } else { 0.3 };
        for k in 1..n {
            // First only the gaps near the ends, where the homography is anchored on the
            // ink: along a tilted line the pitch changes by up to 20 %, which the ends'
            // positions alone do not show; the curve through both ends does.
            if k > reach && k < n.saturating_sub(reach) {
                continue;
            }
            let at = centre(k);
            let idx: Vec<usize> = (0..cols.len()).filter(|&i| (x_of(i) - at).abs() <= radius).collect();
            let Some(&lowest) = idx.iter().min_by(|&&a, &&b| cols[a].total_cmp(&cols[b])) else {
                continue;
            };
            let highest = idx.iter().map(|&i| cols[i]).fold(0f32, f32::max);
            let depth = highest - cols[lowest];
            if depth > 0.02 {
                // The middle of the gap: the mean of the columns near its lowest ink (a
                // gap is a plateau several columns wide).
                let bar = cols[lowest] + 0.15 * depth;
                let near: Vec<f32> = idx.iter().filter(|&&i| cols[i] <= bar).map(|&i| x_of(i)).collect();
                let x = near.iter().sum::<f32>() / near.len().max(1) as f32;
                gaps.push((k as f32, x, depth));
            }
        }
        if gaps.len() < (2 * reach).min(n) / 3 {
            return None;
        }
        let mut kept = gaps.clone();
        let mut fit = fit_quadratic(&kept)?;
        // Drop gaps far from the curve (a missed gap, a broken glyph) and fit again.
        for _ in 0..2 {
            let at = |k: f32| (fit[0] + fit[1] * f64::from(k) + fit[2] * f64::from(k * k)) as f32;
            let tol = 0.12;
            let next: Vec<_> = gaps.iter().copied().filter(|&(k, g, _)| (g - at(k)).abs() <= tol).collect();
            if next.len() < gaps.len() / 2 {
                break;
            }
            kept = next;
            fit = fit_quadratic(&kept)?;
        }
        let at = |k: f32| (fit[0] + fit[1] * f64::from(k) + fit[2] * f64::from(k * k)) as f32;
        error = kept.iter().map(|&(k, g, _)| (g - at(k)).abs()).sum::<f32>() / kept.len() as f32
            + (gaps.len() - kept.len()) as f32 / n as f32 * 0.25;
        curve = Some(fit);
    }
    let [a, b, c] = curve?;
    let bounds = (0..=n).map(|k| (a + b * k as f64 + c * (k * k) as f64) as f32).collect();
    Some((bounds, error))
}

/// Locate the `n`-character grid of a zone whose lines the detector found as `lines`
/// (top to bottom, reading left to right), in `img`.
pub fn locate(img: &GrayImage, lines: &[TextBox], n: usize) -> Option<ZoneGrid> {
    let (first, last) = (lines.first()?, lines.last()?);
    if lines.len() < 2 || n < 8 {
        return None;
    }
    let nf = n as f32;
    // 1. Coarse: the boxes' mid-left and mid-right points of the first and last line.
    let (l0, r0) = (mid(first.corners[0], first.corners[3]), mid(first.corners[1], first.corners[2]));
    let (l1, r1) = (mid(last.corners[0], last.corners[3]), mid(last.corners[1], last.corners[2]));
    let len = dist(l0, r0).max(1.0);
    let span = nf * dist(l0, l1) / len;
    let coarse = Homography::from_points(&[(0.0, 0.0), (nf, 0.0), (nf, span), (0.0, span)], &[l0, r0, r1, l1])?;
    // The line positions in the coarse frame: the boxes' centres, projected.
    let inverse = Homography::from_points(&[l0, r0, r1, l1], &[(0.0, 0.0), (nf, 0.0), (nf, span), (0.0, span)])?;
    let line_y: Vec<f32> = lines.iter().map(|b| inverse.apply(b.centre()).1).collect();
    // 2. Ink ends of the first and last line; vertical ink centre of every line.
    let ends = |hm: &Homography, y: f32, x: (f32, f32)| -> Option<(f32, f32, f32)> {
        let strip = Strip::new(img, hm, x, (y - 0.9, y + 0.9));
        let (ra, rb) = ink_rows(&strip.rows_profile())?;
        let centre = (strip.row_y(ra) + strip.row_y(rb - 1)) / 2.0;
        let cols = strip.cols_profile(ra..rb);
        // Rows clear of the line (a margin of a sixth of a pitch from its ink).
        let m = (STRIP_SCALE / 6.0) as usize;
        let above = strip.cols_profile(0..ra.saturating_sub(m));
        let below = strip.cols_profile((rb + m).min(strip.rows)..strip.rows);
        let outside: Vec<f32> = above.iter().zip(&below).map(|(a, b)| a.max(*b)).collect();
        let (a, b) = ink_ends(&cols, &outside)?;
        Some((strip.col_x(a), strip.col_x(b - 1), centre))
    };
    let (a0, b0, y0) = ends(&coarse, line_y[0], (-2.0, nf + 2.0))?;
    let (a1, b1, y1) = ends(&coarse, *line_y.last()?, (-2.0, nf + 2.0))?;
    // The glyphs' side bearings: the first and last ink lies about 0.15 pitch inside
    // its cell (the gap fit below corrects what this misses).
    let bearing = 0.15 * (b0 - a0).max(b1 - a1) / nf;
    let pts = [
        coarse.apply((a0 - bearing, y0)),
        coarse.apply((b0 + bearing, y0)),
        coarse.apply((b1 + bearing, y1)),
        coarse.apply((a1 - bearing, y1)),
    ];
    let span = nf * dist(pts[0], pts[3]) / dist(pts[0], pts[1]).max(1.0);
    let fine = Homography::from_points(&[(0.0, 0.0), (nf, 0.0), (nf, span), (0.0, span)], &pts)?;
    let inverse = Homography::from_points(&pts, &[(0.0, 0.0), (nf, 0.0), (nf, span), (0.0, span)])?;
    // 3. Per line: vertical centre, then the gap fit.
    let mut cells = Vec::with_capacity(lines.len());
    let mut errors = 0.0;
    for (i, b) in lines.iter().enumerate() {
        let guess = match i {
            0 => 0.0,
            _ if i + 1 == lines.len() => span,
            _ => inverse.apply(b.centre()).1,
        };
        let strip = Strip::new(img, &fine, (-0.5, nf + 0.5), (guess - 0.9, guess + 0.9));
        let (ra, rb) = ink_rows(&strip.rows_profile())?;
        let y = (strip.row_y(ra) + strip.row_y(rb - 1)) / 2.0;
        let cols = strip.cols_profile(ra..rb);
        let (bounds, error) = fit_boundaries(&cols, |c| strip.col_x(c), n)?;
        errors += error;
        let line: Vec<CellPlace> = (0..n)
            .map(|k| {
                let (xa, xb) = (bounds[k], bounds[k + 1]);
                let x = (xa + xb) / 2.0;
                let pitch = (xb - xa).clamp(0.7, 1.3);
                let centre = fine.apply((x, y));
                let right = fine.apply((x + 0.5 * pitch, y));
                let left = fine.apply((x - 0.5 * pitch, y));
                let down = fine.apply((x, y + 0.5 * pitch));
                let up = fine.apply((x, y - 0.5 * pitch));
                CellPlace {
                    centre,
                    u: (right.0 - left.0, right.1 - left.1),
                    v: (down.0 - up.0, down.1 - up.1),
                }
            })
            .collect();
        cells.push(line);
    }
    Some(ZoneGrid {
        fit_error: errors / lines.len() as f32,
        cells,
    })
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
mod tests {
    use super::*;

    #[test]
    fn homography_maps_its_points_and_the_inverse_undoes_it() {
        let from = [(0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0)];
        let to = [(3.0, 4.0), (20.0, 6.0), (18.0, 15.0), (2.0, 12.0)];
        let hm = Homography::from_points(&from, &to).unwrap();
        let back = Homography::from_points(&to, &from).unwrap();
        for (f, t) in from.iter().zip(to) {
            let (x, y) = hm.apply(*f);
            assert!((x - t.0).abs() < 1e-3 && (y - t.1).abs() < 1e-3);
        }
        let p = back.apply(hm.apply((4.0, 2.5)));
        assert!((p.0 - 4.0).abs() < 1e-3 && (p.1 - 2.5).abs() < 1e-3, "{p:?}");
        assert!(Homography::from_points(&[(0.0, 0.0); 4], &to).is_none());
    }

    #[test]
    fn a_quadratic_is_fitted_exactly() {
        let pts: Vec<(f32, f32, f32)> = (0..10)
            .map(|k| (k as f32, 1.0 + 0.5 * k as f32 + 0.01 * (k * k) as f32, 1.0))
            .collect();
        let [a, b, c] = fit_quadratic(&pts).unwrap();
        assert!((a - 1.0).abs() < 1e-6 && (b - 0.5).abs() < 1e-6 && (c - 0.01).abs() < 1e-6);
    }

    #[test]
    fn boundaries_follow_the_gaps_of_a_fixed_pitch_line() {
        // 10 glyphs, pitch 1.0 but printed 3 % wider and shifted by 0.2: the ink is a
        // block in the middle 60 % of each cell.
        let n = 10;
        let cols: Vec<f32> = (0..(12.0 * STRIP_SCALE) as usize)
            .map(|i| {
                let x = -1.0 + (i as f32 + 0.5) / STRIP_SCALE;
                let t = (x - 0.2) / 1.03;
                let f = t - t.floor();
                if (0.0..n as f32).contains(&t) && (0.2..0.8).contains(&f) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let (bounds, err) = fit_boundaries(&cols, |i| -1.0 + (i as f32 + 0.5) / STRIP_SCALE, n).unwrap();
        for (k, b) in bounds.iter().enumerate().take(n).skip(1) {
            let expected = 0.2 + 1.03 * k as f32;
            assert!((b - expected).abs() < 0.1, "boundary {k}: {b} vs {expected}");
        }
        assert!(err < 0.1, "{err}");
    }
}
