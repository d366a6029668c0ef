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

/// The glyph pitch of a line's column ink, in columns: the strongest period between 0.6
/// and 2.2 frame pitches (the frame comes from the detector's box, which can miss a
/// third of a line), preferring half of it when that is nearly as strong.
fn glyph_pitch(cols: &[f32]) -> Option<f32> {
    let n = cols.len();
    let mean = cols.iter().sum::<f32>() / n.max(1) as f32;
    let centred: Vec<f32> = cols.iter().map(|v| v - mean).collect();
    let corr = |lag: usize| -> f32 {
        if lag >= n {
            return 0.0;
        }
        centred[..n - lag].iter().zip(&centred[lag..]).map(|(a, b)| a * b).sum::<f32>() / (n - lag) as f32
    };
    let (lo, hi) = ((0.6 * STRIP_SCALE) as usize, (2.2 * STRIP_SCALE) as usize);
    let (lag, peak) = (lo..=hi).map(|l| (l, corr(l))).max_by(|a, b| a.1.total_cmp(&b.1))?;
    if peak <= 0.0 {
        return None;
    }
    let half = lag / 2;
    let near_half = (half.saturating_sub(2)..=half + 2)
        .filter(|&l| l >= lo)
        .map(|l| (l, corr(l)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    Some(match near_half {
        Some((l, c)) if c >= 0.8 * peak => l as f32,
        _ => lag as f32,
    })
}

/// First and last inked column: the outermost columns whose ink (smoothed over a quarter
/// pitch) reaches a quarter of the line's typical column ink, walking out from the
/// middle until a blank run of most of a glyph pitch (`pitch`, columns).
fn ink_ends(cols: &[f32], outside: &[f32], pitch: f32) -> Option<(usize, usize)> {
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
    let max_gap = (0.9 * pitch) as usize;
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

/// The fine frame: x in pitches from the first line's first cell, y from the first
/// line's centre (the last line's at `span`).
struct Fine {
    map: Homography,
    inverse: Homography,
    span: f32,
}

fn fine_frame(coarse: &Homography, ends: &[LineEnds; 2], nf: f32) -> Option<Fine> {
    let [top, bottom] = ends;
    // The glyphs' side bearings: the first and last ink lies about 0.15 pitch inside
    // its cell (the gap fit corrects what this misses).
    let bearing = 0.15 * (top.end - top.start).max(bottom.end - bottom.start) / nf;
    let pts = [
        coarse.apply(top.at(top.start - bearing)),
        coarse.apply(top.at(top.end + bearing)),
        coarse.apply(bottom.at(bottom.end + bearing)),
        coarse.apply(bottom.at(bottom.start - bearing)),
    ];
    let span = nf * dist(pts[0], pts[3]) / dist(pts[0], pts[1]).max(1.0);
    let frame = [(0.0, 0.0), (nf, 0.0), (nf, span), (0.0, span)];
    Some(Fine {
        map: Homography::from_points(&frame, &pts)?,
        inverse: Homography::from_points(&pts, &frame)?,
        span,
    })
}

/// How far beyond the fine frame's ends a line is sampled, pitches: a lattice anchored
/// at one end may place the other end this far out.
const FINE_MARGIN: f32 = 8.0;

/// One line sampled in the fine frame: its vertical ink centre and its column ink.
struct FineLine {
    y: f32,
    cols: Vec<f32>,
    x0: f32,
    /// Where the line's ink begins and ends (fine x), when measured.
    ink: Option<(f32, f32)>,
}

impl FineLine {
    fn new(img: &GrayImage, fine: &Homography, guess: f32, nf: f32) -> Option<Self> {
        let x0 = -FINE_MARGIN;
        let strip = Strip::new(img, fine, (x0, nf + FINE_MARGIN), (guess - STRIP_HALF, guess + STRIP_HALF));
        // The rows of ink from the line itself, not from what lies beyond its ends.
        let (c0, c1) = ((FINE_MARGIN * STRIP_SCALE) as usize, ((FINE_MARGIN + nf) * STRIP_SCALE) as usize);
        let profile: Vec<f32> = (0..strip.rows)
            .map(|j| {
                strip.ink[j * strip.cols + c0..j * strip.cols + c1.min(strip.cols)]
                    .iter()
                    .sum::<f32>()
                    / (c1 - c0) as f32
            })
            .collect();
        let (ra, rb) = ink_rows(&profile)?;
        Some(Self {
            y: (strip.row_y(ra) + strip.row_y(rb - 1)) / 2.0,
            cols: strip.cols_profile(ra..rb),
            x0,
            ink: None,
        })
    }
    fn col_x(&self, i: usize) -> f32 {
        self.x0 + (i as f32 + 0.5) / STRIP_SCALE
    }
}

impl Fine {
    /// The grid of cells between `bounds` (per line, `n + 1` boundaries in fine x), with
    /// its misfit to the lines' gaps. `None` when a line's ink runs more than half a
    /// cell beyond the grid: a grid of fewer cells than the line holds (36 cells laid
    /// on the first 36 of a 44-character line read as a valid, shorter zone).
    fn grid(&self, lines: &[FineLine], bounds: &[Vec<f32>], n: usize) -> Option<ZoneGrid> {
        let mut cells = Vec::with_capacity(lines.len());
        let mut error = 0.0;
        for (line, b) in lines.iter().zip(bounds) {
            if let Some((start, end)) = line.ink
                && (start < b[0] - 0.5 * (b[1] - b[0]) || end > b[n] + 0.5 * (b[n] - b[n - 1]))
            {
                return None;
            }
            error += misfit(&line.cols, |c| line.col_x(c), b);
            let y = line.y;
            cells.push(
                (0..n)
                    .map(|k| {
                        let (xa, xb) = (b[k], b[k + 1]);
                        let x = (xa + xb) / 2.0;
                        let pitch = (xb - xa).clamp(0.7, 1.3);
                        let centre = self.map.apply((x, y));
                        let right = self.map.apply((x + 0.5 * pitch, y));
                        let left = self.map.apply((x - 0.5 * pitch, y));
                        let down = self.map.apply((x, y + 0.5 * pitch));
                        let up = self.map.apply((x, y - 0.5 * pitch));
                        CellPlace {
                            centre,
                            u: (right.0 - left.0, right.1 - left.1),
                            v: (down.0 - up.0, down.1 - up.1),
                        }
                    })
                    .collect(),
            );
        }
        Some(ZoneGrid {
            fit_error: error / lines.len().max(1) as f32,
            cells,
        })
    }
}

/// How far a line's cell boundaries lie from its glyph gaps: the mean distance (pitches)
/// from each interior boundary to the lowest ink within 0.35 pitch of it, where there is
/// a gap to find, plus a quarter pitch times the share of boundaries without one.
fn misfit(cols: &[f32], col_x: impl Fn(usize) -> f32, bounds: &[f32]) -> f32 {
    let n = bounds.len().saturating_sub(1);
    if n < 2 {
        return 1.0;
    }
    let (mut sum, mut found) = (0.0, 0usize);
    for &b in &bounds[1..n] {
        let idx: Vec<usize> = (0..cols.len()).filter(|&i| (col_x(i) - b).abs() <= 0.35).collect();
        let Some(&lowest) = idx.iter().min_by(|&&a, &&c| cols[a].total_cmp(&cols[c])) else {
            continue;
        };
        let highest = idx.iter().map(|&i| cols[i]).fold(0f32, f32::max);
        if highest - cols[lowest] > 0.02 {
            sum += (col_x(lowest) - b).abs();
            found += 1;
        }
    }
    sum / found.max(1) as f32 + 0.25 * (n - 1 - found) as f32 / (n - 1) as f32
}

/// `n + 1` cell boundaries placed by a projective map along a line (what perspective
/// does to equally spaced points on a straight line): `b_k = a + len · g(k / n)` with
/// `g(t) = t (1 + c) / (1 + c t)`, so `a` and `a + len` are the ends and the pitch
/// shrinks from start to end by `(1 + c)²`.
fn projective_bounds(a: f32, len: f32, c: f32, n: usize) -> Vec<f32> {
    (0..=n)
        .map(|k| {
            let t = k as f32 / n as f32;
            a + len * t * (1.0 + c) / (1.0 + c * t)
        })
        .collect()
}

/// One lattice of `n` cells for all lines (each line's column ink, sampled from `x0`
/// at [`STRIP_SCALE`] columns per pitch), placed by [`projective_bounds`] and shared by
/// every line. Scored by the depth of the gap under every interior boundary, summed
/// over the lines, and by ink inside the first and last cells against blank paper
/// outside them; searched coarsely (on gaps blurred by a fifth of a pitch) with the
/// lattice anchored at the frame's left end or at its right end, since a glare spot
/// or a shadow can hide either end of every line but rarely both, then refined around
/// the best few.
fn fit_lattice(profiles: &[&[f32]], x0: f32, n: usize) -> Option<Vec<f32>> {
    let len = profiles.iter().map(|p| p.len()).min()?;
    if len < 3 || n < 2 {
        return None;
    }
    let typical = profiles
        .iter()
        .map(|p| {
            let mut s = p.to_vec();
            s.sort_by(f32::total_cmp);
            s[s.len() * 3 / 4]
        })
        .fold(0f32, f32::max)
        .max(0.02);
    // Summed over the lines: the depth of a gap at each column (ink half a pitch either
    // side minus ink here), and the mean ink over a third of a pitch around it.
    let h = (STRIP_SCALE / 2.0) as usize;
    let r = (STRIP_SCALE / 6.0) as usize;
    let mut dips = vec![0f32; len];
    let mut inks = vec![0f32; len];
    for p in profiles {
        let s: Vec<f32> = (0..len)
            .map(|i| {
                let (a, b) = (i.saturating_sub(1), (i + 2).min(len));
                p[a..b].iter().sum::<f32>() / (b - a) as f32 / typical
            })
            .collect();
        for i in h..len.saturating_sub(h) {
            dips[i] += s[i - h].min(s[i + h]) - s[i];
        }
        for (i, v) in inks.iter_mut().enumerate() {
            let (a, b) = (i.saturating_sub(r), (i + r + 1).min(len));
            *v += s[a..b].iter().sum::<f32>() / (b - a) as f32;
        }
    }
    let blur = (STRIP_SCALE / 5.0) as usize;
    let blurred: Vec<f32> = (0..len)
        .map(|i| {
            let (a, b) = (i.saturating_sub(blur), (i + blur + 1).min(len));
            dips[a..b].iter().sum::<f32>() / (b - a) as f32
        })
        .collect();
    let col = |x: f32| -> Option<usize> {
        let c = ((x - x0) * STRIP_SCALE - 0.5).round();
        (c >= 0.0 && (c as usize) < len).then_some(c as usize)
    };
    let nf = n as f32;
    // Each candidate is (score, start, length, c).
    let score = |d: &[f32], a: f32, l: f32, c: f32| -> f32 {
        let mut s = 0.0;
        for k in 1..n {
            let t = k as f32 / nf;
            if let Some(i) = col(a + l * t * (1.0 + c) / (1.0 + c * t)) {
                s += d[i];
            }
        }
        let ink = |x: f32| col(x).map_or(0.0, |i| inks[i]);
        let (p0, pn) = (l * (1.0 + c) / nf, l / (nf * (1.0 + c)));
        let (b0, bn) = (a, a + l);
        s + 2.0 * (ink(b0 + 0.5 * p0) - ink(b0 - 0.5 * p0) + ink(bn - 0.5 * pn) - ink(bn + 0.5 * pn))
    };
    let mut coarse: Vec<(f32, f32, f32, f32)> = Vec::with_capacity(60_000);
    for anchor_right in [false, true] {
        for ci in -15..=15 {
            let c = 0.03 * ci as f32;
            for li in -32..=32 {
                let l = nf * (1.0 + 0.005 * li as f32);
                for oi in -6..=6 {
                    let off = oi as f32 / 8.0;
                    let a = if anchor_right { nf + off - l } else { off };
                    coarse.push((score(&blurred, a, l, c), a, l, c));
                }
            }
        }
    }
    coarse.sort_by(|x, y| y.0.total_cmp(&x.0));
    // The best few distinct candidates (ends or middle a third of a pitch apart).
    let mut seeds: Vec<(f32, f32, f32, f32)> = Vec::new();
    for cand in &coarse {
        let ends = |(_, a, l, c): (f32, f32, f32, f32)| (a, a + l, a + l * 0.5 * (1.0 + c) / (1.0 + 0.5 * c));
        let e = ends(*cand);
        if seeds.iter().all(|s| {
            let f = ends(*s);
            (e.0 - f.0).abs().max((e.1 - f.1).abs()).max((e.2 - f.2).abs()) > 0.33
        }) {
            seeds.push(*cand);
            if seeds.len() == 6 {
                break;
            }
        }
    }
    let mut best: Option<(f32, f32, f32, f32)> = None;
    for seed in seeds {
        let (_, mut a, mut l, mut c) = seed;
        let mut s = score(&dips, a, l, c);
        for step in [1.0, 0.5, 0.25, 0.125] {
            for _ in 0..2 {
                let (mut ba, mut bl, mut bc, mut bs) = (a, l, c, s);
                for da in -2..=2 {
                    for dl in -2..=2 {
                        for dc in -2..=2 {
                            let (na, nl, nc) = (
                                a + 0.0625 * step * da as f32,
                                l + 0.0025 * nf * step * dl as f32,
                                c + 0.015 * step * dc as f32,
                            );
                            let ns = score(&dips, na, nl, nc);
                            if ns > bs {
                                (ba, bl, bc, bs) = (na, nl, nc, ns);
                            }
                        }
                    }
                }
                (a, l, c, s) = (ba, bl, bc, bs);
            }
        }
        if best.is_none_or(|b| s > b.0) {
            best = Some((s, a, l, c));
        }
    }
    let (_, a, l, c) = best?;
    Some(projective_bounds(a, l, c, n))
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
    fn composed_homographies_apply_in_turn() {
        let g = Homography::from_points(
            &[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)],
            &[(1.0, 2.0), (5.0, 2.5), (4.5, 6.0), (0.5, 5.0)],
        )
        .unwrap();
        let h = along(0.3, 0.02);
        let p = (0.7, 0.4);
        let (a, b) = (g.after(&h).apply(p), g.apply(h.apply(p)));
        assert!((a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4, "{a:?} {b:?}");
    }

    /// Column ink of a line of `n` glyphs at `pitch` from `start` (ink in the middle 60 %
    /// of each cell), sampled from `x0` at `STRIP_SCALE` columns per pitch, with the
    /// glyphs whose index `erased` holds left out.
    fn glyph_columns(x0: f32, len: f32, start: f32, pitch: f32, n: usize, erased: impl Fn(usize) -> bool) -> Vec<f32> {
        (0..(len * STRIP_SCALE) as usize)
            .map(|i| {
                let x = x0 + (i as f32 + 0.5) / STRIP_SCALE;
                let t = (x - start) / pitch;
                let f = t - t.floor();
                if (0.0..n as f32).contains(&t) && (0.2..0.8).contains(&f) && !erased(t as usize) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn a_lattice_is_placed_from_either_end_when_the_other_is_erased() {
        let (n, x0) = (30, -FINE_MARGIN);
        // The print is 6 % wider than the frame thinks: the frame was anchored on the
        // line's visible ends, and one end was erased. The visible end lies 0.1 pitch
        // inside the frame's.
        let pitch = 1.06;
        let len = n as f32 + 2.0 * FINE_MARGIN;
        let right_erased: fn(usize) -> bool = |k| k >= 25;
        let left_erased: fn(usize) -> bool = |k| k < 5;
        for (start, erased) in [(0.1, right_erased), (n as f32 - 0.1 - pitch * n as f32, left_erased)] {
            let top = glyph_columns(x0, len, start, pitch, n, erased);
            let bottom = glyph_columns(x0, len, start, pitch, n, |_| false);
            // Every line's end erased, and one line's only.
            for profiles in [vec![top.as_slice(), top.as_slice()], vec![top.as_slice(), bottom.as_slice()]] {
                let bounds = fit_lattice(&profiles, x0, n).unwrap();
                for (k, b) in bounds.iter().enumerate() {
                    let expected = start + pitch * k as f32;
                    assert!((b - expected).abs() < 0.1, "boundary {k}: {b} vs {expected}");
                }
            }
        }
    }

    #[test]
    fn the_glyph_pitch_is_measured_where_the_frame_is_a_third_too_short() {
        let n = 30;
        let cols = glyph_columns(-2.0, 50.0, 0.0, 1.5, n, |_| false);
        let pitch = glyph_pitch(&cols).unwrap();
        assert!((pitch - 1.5 * STRIP_SCALE).abs() <= 1.0, "{pitch}");
        let cols = glyph_columns(-2.0, 50.0, 0.0, 1.0, 40, |_| false);
        let pitch = glyph_pitch(&cols).unwrap();
        assert!((pitch - STRIP_SCALE).abs() <= 1.0, "{pitch}");
    }

    #[test]
    fn a_grid_shorter_than_the_ink_is_refused() {
        let identity = Homography([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let fine = Fine {
            map: identity,
            inverse: identity,
            span: 2.4,
        };
        // A line of 44 glyphs, its ink from 0.15 to 43.85.
        let line = FineLine {
            y: 0.0,
            cols: glyph_columns(-FINE_MARGIN, 44.0 + 2.0 * FINE_MARGIN, 0.0, 1.0, 44, |_| false),
            x0: -FINE_MARGIN,
            ink: Some((0.15, 43.85)),
        };
        let cells = |n: usize, pitch: f32| vec![(0..=n).map(|k| k as f32 * pitch).collect::<Vec<f32>>()];
        // 36 cells at the print's pitch cover the first 36 characters only.
        assert!(fine.grid(std::slice::from_ref(&line), &cells(36, 1.0), 36).is_none());
        // 44 cells cover it all; so do 36 stretched over it (a wrong length, which the
        // classifier and the check digits refuse).
        assert!(fine.grid(std::slice::from_ref(&line), &cells(44, 1.0), 44).is_some());
        assert!(fine.grid(std::slice::from_ref(&line), &cells(36, 44.0 / 36.0), 36).is_some());
    }

    #[test]
    fn the_centre_line_follows_a_line_at_an_angle_to_the_strip() {
        // A strip 40 pitches long and 2.2 high; the line's centre runs from y 0.3 to
        // -0.1, its ink 0.7 pitch high, glyphs at every pitch.
        let (cols, rows) = ((40.0 * STRIP_SCALE) as usize, (2.2 * STRIP_SCALE) as usize);
        let (x0, y0) = (-2.0, -1.1);
        let mut ink = vec![0f32; cols * rows];
        for j in 0..rows {
            for i in 0..cols {
                let (x, y) = (x0 + (i as f32 + 0.5) / STRIP_SCALE, y0 + (j as f32 + 0.5) / STRIP_SCALE);
                let centre = 0.3 - 0.01 * (x + 2.0);
                let f = x - x.floor();
                if (y - centre).abs() < 0.35 && (0.2..0.8).contains(&f) && (0.0..36.0).contains(&x) {
                    ink[j * cols + i] = 1.0;
                }
            }
        }
        let strip = Strip { ink, cols, rows, x0, y0 };
        let (a, b) = centreline(&strip).unwrap();
        assert!((b + 0.01).abs() < 0.003, "slope {b}");
        assert!((a - 0.28).abs() < 0.05, "intercept {a}");
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
