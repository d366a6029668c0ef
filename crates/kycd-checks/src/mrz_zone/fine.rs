//! The fine frame anchored on the lines' inked ends, and the one projective lattice
//! fitted to every line's gaps at once (steps 3 and 5 of the module's outline).

use super::*;

/// The fine frame: x in pitches from the first line's first cell, y from the first
/// line's centre (the last line's at `span`).
pub(super) struct Fine {
    pub(super) map: Homography,
    pub(super) inverse: Homography,
    pub(super) span: f32,
}

pub(super) fn fine_frame(coarse: &Homography, ends: &[LineEnds; 2], nf: f32) -> Option<Fine> {
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
pub(super) const FINE_MARGIN: f32 = 8.0;

/// One line sampled in the fine frame: its vertical ink centre and its column ink.
pub(super) struct FineLine {
    pub(super) y: f32,
    pub(super) cols: Vec<f32>,
    pub(super) x0: f32,
    /// Where the line's ink begins and ends (fine x), when measured.
    pub(super) ink: Option<(f32, f32)>,
}

impl FineLine {
    pub(super) fn new(img: &GrayImage, fine: &Homography, guess: f32, nf: f32) -> Option<Self> {
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
    pub(super) fn col_x(&self, i: usize) -> f32 {
        self.x0 + (i as f32 + 0.5) / STRIP_SCALE
    }
}

impl Fine {
    /// The grid of cells between `bounds` (per line, `n + 1` boundaries in fine x), with
    /// its misfit to the lines' gaps. `None` when a line's ink runs more than half a
    /// cell beyond the grid: a grid of fewer cells than the line holds (36 cells laid
    /// on the first 36 of a 44-character line read as a valid, shorter zone).
    pub(super) fn grid(&self, lines: &[FineLine], bounds: &[Vec<f32>], n: usize) -> Option<ZoneGrid> {
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
pub(super) fn misfit(cols: &[f32], col_x: impl Fn(usize) -> f32, bounds: &[f32]) -> f32 {
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
pub(super) fn projective_bounds(a: f32, len: f32, c: f32, n: usize) -> Vec<f32> {
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
pub(super) fn fit_lattice(profiles: &[&[f32]], x0: f32, n: usize) -> Option<Vec<f32>> {
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
