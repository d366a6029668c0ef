//! A zone line's ink, sampled upright: its column and row profiles, the glyph pitch, the
//! inked ends, and the cell boundaries fitted to the gaps between glyphs.

use super::*;

pub(super) fn percentile(values: &[f32], q: f32) -> f32 {
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
pub(super) fn column_ink(strip: &[f32], cols: usize, rows: usize) -> Vec<f32> {
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
pub(super) struct Strip {
    pub(super) ink: Vec<f32>,
    pub(super) cols: usize,
    pub(super) rows: usize,
    pub(super) x0: f32,
    pub(super) y0: f32,
}

impl Strip {
    pub(super) fn new(img: &GrayImage, hm: &Homography, x: (f32, f32), y: (f32, f32)) -> Self {
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
    pub(super) fn col_x(&self, i: usize) -> f32 {
        self.x0 + (i as f32 + 0.5) / STRIP_SCALE
    }
    pub(super) fn row_y(&self, j: usize) -> f32 {
        self.y0 + (j as f32 + 0.5) / STRIP_SCALE
    }
    /// Ink per row.
    pub(super) fn rows_profile(&self) -> Vec<f32> {
        (0..self.rows)
            .map(|j| self.ink[j * self.cols..(j + 1) * self.cols].iter().sum::<f32>() / self.cols as f32)
            .collect()
    }
    /// Ink per column over the rows `r`.
    pub(super) fn cols_profile(&self, r: std::ops::Range<usize>) -> Vec<f32> {
        let n = r.len().max(1) as f32;
        (0..self.cols)
            .map(|i| r.clone().map(|j| self.ink[j * self.cols + i]).sum::<f32>() / n)
            .collect()
    }
}

/// Rows of the strip that hold the line's ink: the run around the profile's peak where
/// the row ink is at least 35 % of the peak's. `None` for an empty strip.
pub(super) fn ink_rows(profile: &[f32]) -> Option<(usize, usize)> {
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
pub(super) fn glyph_pitch(cols: &[f32]) -> Option<f32> {
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
pub(super) fn ink_ends(cols: &[f32], outside: &[f32], pitch: f32) -> Option<(usize, usize)> {
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
    // The last inked column walking away from `start`, stopping at a foreign edge or a
    // gap wider than `max_gap`.
    let reach = |walk: &mut dyn Iterator<Item = usize>| {
        let mut end = start;
        for i in walk {
            if foreign(i) {
                break;
            }
            if inked(i) {
                end = i;
            } else if i.abs_diff(end) > max_gap {
                break;
            }
        }
        end
    };
    let (first, last) = (reach(&mut (0..start).rev()), reach(&mut (start + 1..smooth.len())));
    (last > first).then_some((first, last + 1))
}

/// How many gaps at each end of a line anchor the first fit.
pub(super) const ENDS: usize = 4;

/// Fit `g(k) = a + b k + c k²` to `(k, g, weight)` by weighted least squares.
pub(super) fn fit_quadratic(pts: &[(f32, f32, f32)]) -> Option<[f64; 3]> {
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
    solve_linear(m, 1e-9)
}

/// The cell boundaries of one line of `n` cells: the gaps between glyphs, searched near
/// `k` (canonical x) for every interior boundary `k`, then a robust quadratic through
/// them. Returns the `n + 1` boundaries and the mean distance of the kept gaps from the
/// curve (pitches).
pub(super) fn fit_boundaries(cols: &[f32], col_x: impl Fn(usize) -> f32, n: usize) -> Option<(Vec<f32>, f32)> {
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
