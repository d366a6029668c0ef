//! Finding the document in the frame: a gradient-orientation Hough transform at 256 px
//! finds the strongest straight lines, and the best-supported quadrilateral made of two
//! near-parallel pairs is the document ([`detect_document`], its figures in
//! [`DocumentMeasures`]).

use super::DocumentMeasures;
use crate::decode::area_resize;
use image::GrayImage;

const DETECT_LONG_SIDE: u32 = 256;
const THETA_BINS: usize = 180;

#[derive(Debug, Clone, Copy)]
struct Line {
    /// Normal angle, radians in [0, π).
    theta: f32,
    rho: f32,
    border: bool,
    /// Index into the per-line support tables.
    idx: usize,
}

struct EdgeMap {
    w: usize,
    h: usize,
    /// Gradient orientation bin (0..180) of edge pixels, 255 elsewhere.
    dir: Vec<u8>,
    /// Gradient magnitude (|gx| + |gy| of the Sobel operator).
    mag: Vec<u16>,
}

const EDGE_THRESHOLD: u16 = 48;

impl EdgeMap {
    fn build(img: &GrayImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let d = img.as_raw();
        let mut mag = vec![0u16; w * h];
        let mut ang = vec![0u8; w * h];
        for y in 1..h.saturating_sub(1) {
            for x in 1..w - 1 {
                let p = |dx: isize, dy: isize| i32::from(d[(y as isize + dy) as usize * w + (x as isize + dx) as usize]);
                let gx = p(1, -1) + 2 * p(1, 0) + p(1, 1) - p(-1, -1) - 2 * p(-1, 0) - p(-1, 1);
                let gy = p(-1, 1) + 2 * p(0, 1) + p(1, 1) - p(-1, -1) - 2 * p(0, -1) - p(1, -1);
                mag[y * w + x] = (gx.abs() + gy.abs()).min(u16::MAX as i32) as u16;
                let mut a = (gy as f32).atan2(gx as f32).to_degrees();
                if a < 0.0 {
                    a += 180.0;
                }
                ang[y * w + x] = (a.round() as usize % THETA_BINS) as u8;
            }
        }
        // A fixed threshold: a step of about 12 grey levels (Sobel |gx|+|gy| ≈ 4 × step).
        // A light card on a light table still has its outline; noise at 256 px does not.
        let dir = mag
            .iter()
            .zip(&ang)
            .map(|(&m, &a)| if m >= EDGE_THRESHOLD { a } else { 255 })
            .collect();
        Self { w, h, dir, mag }
    }

    /// Share of backed points on the segment [t0, t1] of `line` shifted by `offset` along
    /// its normal; `None` when fewer than 3 points fall inside the image.
    fn segment_support(&self, line: &Line, offset: f32, t0: f32, t1: f32) -> Option<f32> {
        let (sin, cos) = line.theta.sin_cos();
        let rho = line.rho + offset;
        let theta_bin = (line.theta.to_degrees().round() as usize) % THETA_BINS;
        let (a, b) = if t0 <= t1 { (t0, t1) } else { (t1, t0) };
        let (mut inside, mut sup) = (0u32, 0u32);
        let mut t = a;
        while t <= b {
            let (x, y) = (rho * cos - t * sin, rho * sin + t * cos);
            if x >= 0.0 && y >= 0.0 && x <= self.w as f32 - 1.0 && y <= self.h as f32 - 1.0 {
                inside += 1;
                if self.supports(x, y, theta_bin) {
                    sup += 1;
                }
            }
            t += 1.0;
        }
        (inside >= 3).then(|| sup as f32 / inside as f32)
    }

    fn supports(&self, x: f32, y: f32, theta_bin: usize) -> bool {
        let (xi, yi) = (x.round() as isize, y.round() as isize);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (px, py) = (xi + dx, yi + dy);
                if px < 0 || py < 0 || px >= self.w as isize || py >= self.h as isize {
                    continue;
                }
                let a = self.dir[py as usize * self.w + px as usize];
                if a != 255 {
                    let diff = (usize::from(a) + THETA_BINS - theta_bin) % THETA_BINS;
                    if diff.min(THETA_BINS - diff) <= 12 {
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// Prefix sums along a line, indexed by the integer parameter t + offset.
struct LineSupport {
    offset: f32,
    /// inside[i]: points in [0, i) inside the frame; supported likewise.
    inside: Vec<u32>,
    supported: Vec<u32>,
}

impl LineSupport {
    fn build(line: &Line, edges: &EdgeMap, diag: f32) -> Self {
        let (sin, cos) = line.theta.sin_cos();
        let (bx, by) = (line.rho * cos, line.rho * sin);
        let n = (2.0 * diag).ceil() as usize + 1;
        let mut inside = Vec::with_capacity(n + 1);
        let mut supported = Vec::with_capacity(n + 1);
        inside.push(0);
        supported.push(0);
        let theta_bin = (line.theta.to_degrees().round() as usize) % THETA_BINS;
        let (mut ci, mut cs) = (0u32, 0u32);
        for i in 0..n {
            let t = i as f32 - diag;
            let (x, y) = (bx - t * sin, by + t * cos);
            let within = x >= -0.5 && y >= -0.5 && x <= edges.w as f32 - 0.5 && y <= edges.h as f32 - 0.5;
            if within {
                ci += 1;
                // A frame-border "line" is never backed by edges: it stands for the cut.
                if !line.border && edges.supports(x, y, theta_bin) {
                    cs += 1;
                }
            }
            inside.push(ci);
            supported.push(cs);
        }
        Self {
            offset: diag,
            inside,
            supported,
        }
    }

    /// (inside, supported, total) points between parameters t0 and t1.
    fn segment(&self, t0: f32, t1: f32) -> (u32, u32, u32) {
        let (a, b) = if t0 <= t1 { (t0, t1) } else { (t1, t0) };
        let last = self.inside.len() - 1;
        let ia = ((a + self.offset).round().max(0.0) as usize).min(last);
        let ib = ((b + self.offset).round().max(0.0) as usize).min(last);
        let total = (b - a).round().max(0.0) as u32;
        (self.inside[ib] - self.inside[ia], self.supported[ib] - self.supported[ia], total)
    }
}

fn param_on(line: &Line, x: f32, y: f32) -> f32 {
    let (sin, cos) = line.theta.sin_cos();
    -x * sin + y * cos
}

fn intersect(a: &Line, b: &Line) -> Option<(f32, f32)> {
    let (sa, ca) = a.theta.sin_cos();
    let (sb, cb) = b.theta.sin_cos();
    let det = ca * sb - sa * cb;
    if det.abs() < 1e-3 {
        return None;
    }
    Some(((a.rho * sb - b.rho * sa) / det, (ca * b.rho - cb * a.rho) / det))
}

/// Angle between two lines' orientations, degrees in [0, 90].
fn angle_between(a: &Line, b: &Line) -> f32 {
    let d = (a.theta - b.theta).abs().to_degrees() % 180.0;
    d.min(180.0 - d)
}

/// Distance between two near-parallel lines (rho of b expressed in a's orientation).
fn parallel_distance(a: &Line, b: &Line) -> f32 {
    let d = (a.theta - b.theta).abs().to_degrees();
    if d > 90.0 { (a.rho + b.rho).abs() } else { (a.rho - b.rho).abs() }
}

fn hough_lines(edges: &EdgeMap, max_lines: usize) -> Vec<(f32, f32, u32)> {
    let (w, h) = (edges.w, edges.h);
    let diag = ((w * w + h * h) as f32).sqrt().ceil() as usize;
    let rho_bins = 2 * diag + 1;
    // Votes weighted by contrast (capped), so a card's outline outranks texture and print.
    let mut acc = vec![0u32; THETA_BINS * rho_bins];
    let trig: Vec<(f32, f32)> = (0..THETA_BINS).map(|t| (t as f32).to_radians().sin_cos()).collect();
    for y in 0..h {
        for x in 0..w {
            let a = edges.dir[y * w + x];
            if a == 255 {
                continue;
            }
            let weight = u32::from(edges.mag[y * w + x].min(4 * EDGE_THRESHOLD) / (EDGE_THRESHOLD / 4));
            for dt in -7i32..=7 {
                let t = (i32::from(a) + dt).rem_euclid(THETA_BINS as i32) as usize;
                let (s, c) = trig[t];
                let rho = x as f32 * c + y as f32 * s;
                let r = (rho.round() as isize + diag as isize) as usize;
                if r < rho_bins {
                    acc[t * rho_bins + r] += weight;
                }
            }
        }
    }
    // A line of 15 % of the short side at full weight (16 per pixel).
    let min_votes = (w.min(h) as f32 * 0.15 * 16.0) as u32;
    // Strongest first; a peak within ±6° and ±6 px of a stronger one is the same line
    // (θ≈0 and θ≈180 with −ρ are one line too). At most 8 lines per 15° of orientation, so
    // the grain of a textured table cannot crowd out the document's other two sides.
    // Only local maxima (3 × 3 in θ, ρ) are candidates: far fewer to sort.
    let floor = min_votes.max(64);
    let is_peak = |i: usize| {
        let v = acc[i];
        let (t, r) = (i / rho_bins, i % rho_bins);
        // Across the θ = 0/180 seam a line reappears with ρ negated.
        let mirror = rho_bins - 1 - r;
        let neighbours = [
            if t == 0 { (THETA_BINS - 1, mirror) } else { (t - 1, r) },
            (t, r),
            if t + 1 == THETA_BINS { (0, mirror) } else { (t + 1, r) },
        ];
        neighbours
            .into_iter()
            .all(|(tt, rc)| (rc.saturating_sub(1)..(rc + 2).min(rho_bins)).all(|rr| (tt == t && rr == r) || acc[tt * rho_bins + rr] <= v))
    };
    let mut cells: Vec<(u32, usize)> = acc
        .iter()
        .enumerate()
        .filter(|(i, v)| **v >= floor && is_peak(*i))
        .map(|(i, v)| (*v, i))
        .collect();
    cells.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<(f32, f32, u32)> = Vec::new();
    let mut taken: Vec<(i32, i32)> = Vec::new();
    let mut per_bucket = [0u8; 12];
    for (votes, cell) in cells {
        if out.len() >= max_lines {
            break;
        }
        let (t, r) = ((cell / rho_bins) as i32, (cell % rho_bins) as i32 - diag as i32);
        let bucket = (t / 15) as usize % 12;
        if per_bucket[bucket] >= 8 {
            continue;
        }
        let near = taken.iter().any(|&(tt, rr)| {
            let dt = (t - tt).abs();
            (dt <= 6 && (r - rr).abs() <= 6) || (dt >= THETA_BINS as i32 - 6 && (r + rr).abs() <= 6)
        });
        if near {
            continue;
        }
        taken.push((t, r));
        per_bucket[bucket] += 1;
        out.push(((t as f32).to_radians(), r as f32, votes));
    }
    out
}

/// Find the document quadrilateral on the working copy.
pub fn detect_document(work: &GrayImage) -> DocumentMeasures {
    let (ww, wh) = work.dimensions();
    let long = ww.max(wh).max(1);
    let small = if long > DETECT_LONG_SIDE {
        let dw = (ww * DETECT_LONG_SIDE / long).max(1);
        let dh = (wh * DETECT_LONG_SIDE / long).max(1);
        area_resize(work, dw, dh)
    } else {
        work.clone()
    };
    let empty = DocumentMeasures {
        candidate: false,
        side_support: 0.0,
        real_sides: 0,
        area_fraction: 0.0,
        corner_margin: 0.0,
        corners: [[0.0; 2]; 4],
        border_edge_density: 0.0,
    };
    if small.width() < 16 || small.height() < 16 {
        return empty;
    }
    let edges = EdgeMap::build(&small);
    let (w, h) = (edges.w as f32, edges.h as f32);
    let border_edge_density = border_density(&edges);
    let diag = (w * w + h * h).sqrt().ceil();

    let mut lines: Vec<Line> = hough_lines(&edges, 40)
        .into_iter()
        .enumerate()
        .map(|(idx, (theta, rho, _))| Line {
            theta,
            rho,
            border: false,
            idx,
        })
        .collect();
    let n_real = lines.len();
    for (k, (theta, rho)) in [
        (0.0f32, 0.0f32),
        (0.0, w - 1.0),
        (90f32.to_radians(), 0.0),
        (90f32.to_radians(), h - 1.0),
    ]
    .into_iter()
    .enumerate()
    {
        lines.push(Line {
            theta,
            rho,
            border: true,
            idx: n_real + k,
        });
    }
    let supports: Vec<LineSupport> = lines.iter().map(|l| LineSupport::build(l, &edges, diag)).collect();

    let short = w.min(h);
    let mut pairs = Vec::new();
    for i in 0..lines.len() {
        for j in i + 1..lines.len() {
            let (a, b) = (&lines[i], &lines[j]);
            // Two opposite frame borders would make any pair of long lines (table grain,
            // a keyboard) a "document": a cut document shows at least one of each pair.
            if a.border && b.border {
                continue;
            }
            if angle_between(a, b) <= 20.0 && parallel_distance(a, b) >= 0.2 * short {
                pairs.push((i, j));
            }
        }
    }
    let mut best: Option<(f32, DocumentMeasures)> = None;
    for (pi, &(a1, a2)) in pairs.iter().enumerate() {
        for &(b1, b2) in &pairs[pi + 1..] {
            let (la1, la2, lb1, lb2) = (&lines[a1], &lines[a2], &lines[b1], &lines[b2]);
            let cross = angle_between(la1, lb1);
            if !(60.0..=90.0).contains(&cross) {
                continue;
            }
            let borders = [la1, la2, lb1, lb2].iter().filter(|l| l.border).count();
            if borders > 2 {
                continue;
            }
            let (Some(c0), Some(c1), Some(c2), Some(c3)) =
                (intersect(la1, lb1), intersect(la1, lb2), intersect(la2, lb2), intersect(la2, lb1))
            else {
                continue;
            };
            let corners = [c0, c1, c2, c3];
            // Corners may lie a little outside (a cut corner), not far away.
            if corners
                .iter()
                .any(|&(x, y)| x < -0.25 * w || y < -0.25 * h || x > 1.25 * w || y > 1.25 * h)
            {
                continue;
            }
            let area = 0.5
                * (0..4)
                    .map(|i| {
                        let (p, q) = (corners[i], corners[(i + 1) % 4]);
                        p.0 * q.1 - q.0 * p.1
                    })
                    .sum::<f32>()
                    .abs();
            let area_fraction = area / (w * h);
            if area_fraction < 0.05 {
                continue;
            }
            // Sides in polygon order: a1 (c0→c1), b2 (c1→c2), a2 (c2→c3), b1 (c3→c0).
            let sides = [(la1, c0, c1), (lb2, c1, c2), (la2, c2, c3), (lb1, c3, c0)];
            let frac_of = |l: &Line, t0: f32, t1: f32| {
                let (inside, sup, _) = supports[l.idx].segment(t0, t1);
                if inside < 3 { None } else { Some(sup as f32 / inside as f32) }
            };
            // First the cheap figures (prefix sums): a quad that cannot beat the best one
            // even without penalties is dropped before the costlier checks.
            let mut support_sum = 0.0;
            let mut real = 0u8;
            for &(l, p, q) in &sides {
                if l.border {
                    continue;
                }
                let (inside, sup, total) = supports[l.idx].segment(param_on(l, p.0, p.1), param_on(l, q.0, q.1));
                // Only the part inside the frame can be seen; a side mostly outside is weak.
                let seen = if total == 0 { 0.0 } else { inside as f32 / total as f32 };
                let frac = if inside == 0 { 0.0 } else { sup as f32 / inside as f32 };
                support_sum += frac * seen.min(1.0);
                real += 1;
            }
            if real < 2 {
                continue;
            }
            let side_support = support_sum / f32::from(real);
            // The document is the largest well-supported quadrilateral (portrait boxes and
            // text blocks inside it are smaller, and their sides overshoot no corner).
            let well = if side_support >= 0.8 { 1.0 } else { 0.0 };
            let score_with = |overshoots: i32| {
                well + side_support * 0.3 + area_fraction.min(1.0) * 0.9f32.powi(borders as i32) * 0.6f32.powi(overshoots)
            };
            if best.as_ref().is_some_and(|(s, _)| score_with(0) <= *s) {
                continue;
            }
            let mut valid = true;
            let mut overshoots = 0;
            let ext = (0.06 * short).max(4.0);
            let beside = |l: &Line, t0: f32, t1: f32| {
                [-4.0f32, 4.0]
                    .map(|off| edges.segment_support(l, off, t0, t1).unwrap_or(0.0))
                    .into_iter()
                    .fold(f32::MAX, f32::min)
            };
            for (k, &(l, p, q)) in sides.iter().enumerate() {
                if l.border {
                    // A frame-border side stands for a cut: both neighbours must be real
                    // edges right up to the border (and not merely part of a textured
                    // background, where lines beside them are backed too).
                    for (nk, at_start) in [((k + 3) % 4, false), ((k + 1) % 4, true)] {
                        let (nl, np, nq) = sides[nk];
                        if nl.border {
                            continue;
                        }
                        let (ta, tb) = (param_on(nl, np.0, np.1), param_on(nl, nq.0, nq.1));
                        // The end of the neighbour that touches this border side.
                        let (t_end, t_other) = if at_start { (ta, tb) } else { (tb, ta) };
                        let near = t_end + 0.15 * (t_other - t_end);
                        if frac_of(nl, t_end, near).is_none_or(|f| f < 0.6) || beside(nl, t_end, near) >= 0.3 {
                            valid = false;
                        }
                    }
                    continue;
                }
                // A real corner ends its edges: a side that runs on strongly past a corner
                // means the corner is a crossing inside something larger. (On a textured
                // table every line "runs on"; a continuation counts only where lines
                // beside it, a few pixels off, are not backed as well.)
                let (tp, tq) = (param_on(l, p.0, p.1), param_on(l, q.0, q.1));
                let dir = (tq - tp).signum();
                for (t, away) in [(tp, -dir), (tq, dir)] {
                    let (t0, t1) = (t + away * 2.0, t + away * ext);
                    if frac_of(l, t0, t1).is_some_and(|f| f >= 0.6) && beside(l, t0, t1) < 0.3 {
                        overshoots += 1;
                    }
                }
            }
            if !valid {
                continue;
            }
            let score = score_with(overshoots);
            let margin = corners
                .iter()
                .map(|&(x, y)| x.min(y).min(w - 1.0 - x).min(h - 1.0 - y))
                .fold(f32::MAX, f32::min)
                / short;
            let m = DocumentMeasures {
                candidate: true,
                side_support,
                real_sides: real,
                area_fraction,
                corner_margin: margin,
                corners: corners.map(|(x, y)| [x / w, y / h]),
                border_edge_density,
            };
            if best.as_ref().is_none_or(|(s, _)| score > *s) && consistent_polarity(&small, &sides) {
                best = Some((score, m));
            }
        }
    }
    best.map_or(
        DocumentMeasures {
            border_edge_density,
            ..empty
        },
        |(_, m)| m,
    )
}

/// One side of a candidate quadrilateral: its line and its two corners.
type Side<'a> = (&'a Line, (f32, f32), (f32, f32));

/// A document differs from what surrounds it the same way on every visible side (a light
/// card on a dark table, or the reverse): the mean luma step across each real side, inside
/// minus outside, must have one sign and at least 6 grey levels. Pairs of stripes in a
/// textured background fail this (their steps alternate or average out).
fn consistent_polarity(img: &GrayImage, sides: &[Side<'_>; 4]) -> bool {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let cx = sides.iter().map(|s| s.1.0).sum::<f32>() / 4.0;
    let cy = sides.iter().map(|s| s.1.1).sum::<f32>() / 4.0;
    let px = |x: f32, y: f32| -> Option<f32> {
        (x >= 0.0 && y >= 0.0 && x <= w - 1.0 && y <= h - 1.0).then(|| f32::from(img.get_pixel(x as u32, y as u32)[0]))
    };
    let mut sign = 0.0f32;
    for &(l, p, q) in sides {
        if l.border {
            continue;
        }
        let (sin, cos) = l.theta.sin_cos();
        // The normal pointing towards the centre.
        let mid = ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0);
        let toward = (cx - mid.0) * cos + (cy - mid.1) * sin;
        let (nx, ny) = if toward >= 0.0 { (cos, sin) } else { (-cos, -sin) };
        let len = ((q.0 - p.0).powi(2) + (q.1 - p.1).powi(2)).sqrt();
        let steps = (len / 2.0) as usize;
        let (mut sum, mut n) = (0.0f32, 0u32);
        for i in 1..steps {
            let f = i as f32 / steps as f32;
            let (x, y) = (p.0 + (q.0 - p.0) * f, p.1 + (q.1 - p.1) * f);
            if let (Some(a), Some(b)) = (px(x + 2.5 * nx, y + 2.5 * ny), px(x - 2.5 * nx, y - 2.5 * ny)) {
                sum += a - b;
                n += 1;
            }
        }
        if n < 4 {
            return false;
        }
        let d = sum / n as f32;
        if d.abs() < 6.0 || d * sign < 0.0 {
            return false;
        }
        sign = d.signum();
    }
    true
}

/// Highest share of edge pixels within a band (3 % of the side, ≥ 2 px) along one frame side.
fn border_density(e: &EdgeMap) -> f32 {
    let (w, h) = (e.w, e.h);
    let bw = ((w as f32 * 0.03) as usize).max(2).min(w);
    let bh = ((h as f32 * 0.03) as usize).max(2).min(h);
    let count = |xs: std::ops::Range<usize>, ys: std::ops::Range<usize>| {
        let n = xs.len() * ys.len();
        let mut c = 0usize;
        for y in ys {
            for x in xs.clone() {
                if e.dir[y * w + x] != 255 {
                    c += 1;
                }
            }
        }
        if n == 0 { 0.0 } else { c as f32 / n as f32 }
    };
    // The outermost pixel row/column has no gradient (Sobel needs neighbours): skip it.
    let sides = [
        count(1..w - 1, 1..bh + 1),
        count(1..w - 1, h - 1 - bh..h - 1),
        count(1..bw + 1, 1..h - 1),
        count(w - 1 - bw..w - 1, 1..h - 1),
    ];
    sides.into_iter().fold(0.0, f32::max)
}
