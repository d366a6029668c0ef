//! The geometry the liveness check measures with: the pose of the face against the
//! canonical mesh (PnP by POSIT), homographies, and the small linear solves they need.
//!
//! Written here rather than taken from a linear-algebra crate: it is three small dense
//! solves (3×3, 4×4, 8×8), and `nalgebra` would add minutes of build on the shared 2-core
//! machine for them.

/// A point in the image (x right, y down, pixels).
pub type P2 = [f64; 2];
/// A point of a 3D model.
pub type P3 = [f64; 3];

/// Solve `a · x = b` for an `n×n` row-major `a` by Gaussian elimination with partial
/// pivoting; `None` when `a` is singular (or nearly so).
pub fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    if a.len() != n * n || b.len() != n {
        return None;
    }
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() <= scale * 1e-12 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(pivot * n + k, col * n + k);
            }
            b.swap(pivot, col);
        }
        for row in col + 1..n {
            let f = a[row * n + col] / a[col * n + col];
            if f == 0.0 {
                continue;
            }
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row * n + row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Least squares `min ‖A·x − b‖` through the normal equations; `rows` are the rows of A.
fn least_squares(rows: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = rows.first()?.len();
    let mut ata = vec![0.0; n * n];
    let mut atb = vec![0.0; n];
    for (r, &y) in rows.iter().zip(b) {
        for i in 0..n {
            atb[i] += r[i] * y;
            for j in 0..n {
                ata[i * n + j] += r[i] * r[j];
            }
        }
    }
    solve(ata, atb, n)
}

/// Translation and scale that move `pts` to centroid 0 and mean distance √2 (Hartley's
/// normalisation, which keeps the homography's normal equations well conditioned):
/// `(cx, cy, s)` with `p' = (p − c) · s`.
fn normaliser(pts: &[P2]) -> (f64, f64, f64) {
    let n = pts.len().max(1) as f64;
    let cx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let d = pts.iter().map(|p| (p[0] - cx).hypot(p[1] - cy)).sum::<f64>() / n;
    (cx, cy, if d > 0.0 { std::f64::consts::SQRT_2 / d } else { 1.0 })
}

/// A 3×3 homography, row-major, applied to points with [`apply`].
pub type Homography = [f64; 9];

/// The homography mapping `from` onto `to` in the least-squares sense (the DLT with
/// `h₃₃ = 1` on Hartley-normalised points); `None` with fewer than 4 pairs or a
/// degenerate set.
pub fn homography(from: &[P2], to: &[P2]) -> Option<Homography> {
    if from.len() < 4 || from.len() != to.len() {
        return None;
    }
    let (fx, fy, fs) = normaliser(from);
    let (tx, ty, ts) = normaliser(to);
    let mut rows = Vec::with_capacity(2 * from.len());
    let mut b = Vec::with_capacity(2 * from.len());
    for (p, q) in from.iter().zip(to) {
        let (x, y) = ((p[0] - fx) * fs, (p[1] - fy) * fs);
        let (u, v) = ((q[0] - tx) * ts, (q[1] - ty) * ts);
        rows.push(vec![x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y]);
        b.push(u);
        rows.push(vec![0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y]);
        b.push(v);
    }
    let h = least_squares(&rows, &b)?;
    let hn = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0];
    // H = T_to⁻¹ · Hn · T_from, with T = [[s, 0, −s·cx], [0, s, −s·cy], [0, 0, 1]].
    let t_from = [fs, 0.0, -fs * fx, 0.0, fs, -fs * fy, 0.0, 0.0, 1.0];
    let t_to_inv = [1.0 / ts, 0.0, tx, 0.0, 1.0 / ts, ty, 0.0, 0.0, 1.0];
    Some(mul(&mul(&t_to_inv, &hn), &t_from))
}

fn mul(a: &[f64; 9], b: &[f64; 9]) -> [f64; 9] {
    let mut out = [0.0; 9];
    for i in 0..3 {
        for j in 0..3 {
            out[i * 3 + j] = (0..3).map(|k| a[i * 3 + k] * b[k * 3 + j]).sum();
        }
    }
    out
}

/// `h` applied to `p`.
pub fn apply(h: &Homography, p: P2) -> P2 {
    let w = h[6] * p[0] + h[7] * p[1] + h[8];
    let w = if w.abs() < 1e-12 { 1e-12 } else { w };
    [(h[0] * p[0] + h[1] * p[1] + h[2]) / w, (h[3] * p[0] + h[4] * p[1] + h[5]) / w]
}

/// The mean distance left after the best similarity (rotation, uniform scale, shift) maps
/// `from` onto `to`: how much a point set changed shape, in `to`'s pixels.
pub fn similarity_residual(from: &[P2], to: &[P2]) -> Option<f64> {
    if from.len() < 2 || from.len() != to.len() {
        return None;
    }
    // u = a·x − b·y + c, v = b·x + a·y + d.
    let mut rows = Vec::with_capacity(2 * from.len());
    let mut rhs = Vec::with_capacity(2 * from.len());
    for (p, q) in from.iter().zip(to) {
        rows.push(vec![p[0], -p[1], 1.0, 0.0]);
        rhs.push(q[0]);
        rows.push(vec![p[1], p[0], 0.0, 1.0]);
        rhs.push(q[1]);
    }
    let s = least_squares(&rows, &rhs)?;
    let total: f64 = from
        .iter()
        .zip(to)
        .map(|(p, q)| {
            let u = s[0] * p[0] - s[1] * p[1] + s[2];
            let v = s[1] * p[0] + s[0] * p[1] + s[3];
            (u - q[0]).hypot(v - q[1])
        })
        .sum();
    Some(total / from.len() as f64)
}

/// A head pose, in degrees, from the person's point of view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Positive: the person turned to their own left (the nose moves toward the right edge
    /// of an unmirrored frame).
    pub yaw: f64,
    /// Positive: chin up (the nose moves toward the top of the frame).
    pub pitch: f64,
    /// Model units to pixels.
    pub scale: f64,
}

/// The pose of `image` points (pixels, y down) that are the projections of `model` points
/// (the canonical mesh: x right, y up, z toward the viewer) by a pinhole camera of focal
/// length `focal` pixels and principal point `centre`. POSIT's scaled-orthographic
/// iteration (DeMenthon and Davis): the 2×3 linear map of the centred model onto the
/// centred image by least squares, its rows made orthonormal (the rotation's first two
/// rows, the third their cross product), then each image point corrected for its depth
/// under that pose, and again. Without the correction a face 45 cm away turned 15° reads
/// as 22.7° (the nose is magnified more than the ears); with it, 15.0°.
pub fn pose(model: &[P3], image: &[P2], focal: f64, centre: P2) -> Option<Pose> {
    if model.len() < 4 || model.len() != image.len() || focal <= 0.0 {
        return None;
    }
    let n = model.len() as f64;
    // The model in camera axes (x right, y down, z away from the camera), centred.
    let cam: Vec<P3> = model.iter().map(|m| [m[0], -m[1], -m[2]]).collect();
    let mc: Vec<f64> = (0..3).map(|k| cam.iter().map(|p| p[k]).sum::<f64>() / n).collect();
    let rows: Vec<Vec<f64>> = cam.iter().map(|p| (0..3).map(|k| p[k] - mc[k]).collect()).collect();
    let img: Vec<P2> = image.iter().map(|p| [p[0] - centre[0], p[1] - centre[1]]).collect();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut eps = vec![0.0; model.len()];
    let mut out = None;
    for _ in 0..12 {
        let us: Vec<f64> = img.iter().zip(&eps).map(|(p, e)| p[0] * (1.0 + e)).collect();
        let vs: Vec<f64> = img.iter().zip(&eps).map(|(p, e)| p[1] * (1.0 + e)).collect();
        let (mu, mv) = (us.iter().sum::<f64>() / n, vs.iter().sum::<f64>() / n);
        let us: Vec<f64> = us.iter().map(|u| u - mu).collect();
        let vs: Vec<f64> = vs.iter().map(|v| v - mv).collect();
        let a = least_squares(&rows, &us)?;
        let b = least_squares(&rows, &vs)?;
        let (na, nb) = (norm(&a), norm(&b));
        if na < 1e-9 || nb < 1e-9 {
            return None;
        }
        let r1: Vec<f64> = a.iter().map(|x| x / na).collect();
        let d: f64 = r1.iter().zip(&b).map(|(x, y)| x * y).sum();
        let r2: Vec<f64> = b.iter().zip(&r1).map(|(y, x)| y - d * x).collect();
        let n2 = norm(&r2);
        if n2 < 1e-9 {
            return None;
        }
        let r2: Vec<f64> = r2.iter().map(|x| x / n2).collect();
        let r3 = [
            r1[1] * r2[2] - r1[2] * r2[1],
            r1[2] * r2[0] - r1[0] * r2[2],
            r1[0] * r2[1] - r1[1] * r2[0],
        ];
        let scale = (na + nb) / 2.0;
        // Distance of the model's centre: focal / scale (model units).
        let tz = focal / scale;
        for (e, m) in eps.iter_mut().zip(&rows) {
            *e = (r3[0] * m[0] + r3[1] * m[1] + r3[2] * m[2]) / tz;
        }
        // Where the face looks: the model's forward axis (0, 0, −1 in camera axes) rotated.
        let f = [-r1[2], -r2[2], -r3[2]];
        out = Some(Pose {
            yaw: f[0].atan2(-f[2]).to_degrees(),
            pitch: (-f[1]).atan2(-f[2]).to_degrees(),
            scale,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_finds_the_solution_and_refuses_a_singular_system() {
        let x = solve(vec![2.0, 1.0, 1.0, 3.0], vec![3.0, 5.0], 2).unwrap_or_default();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12, "{x:?}");
        assert!(solve(vec![1.0, 2.0, 2.0, 4.0], vec![1.0, 2.0], 2).is_none());
    }

    #[test]
    fn a_homography_is_recovered_from_its_points() {
        let h = [1.1, 0.2, 30.0, -0.1, 0.9, 12.0, 0.0004, -0.0002, 1.0];
        let from: Vec<P2> = (0..12).map(|i| [f64::from(i * 37 % 200), f64::from(i * 53 % 170)]).collect();
        let to: Vec<P2> = from.iter().map(|&p| apply(&h, p)).collect();
        let got = homography(&from, &to).unwrap_or([0.0; 9]);
        for &p in &from {
            let (a, b) = (apply(&h, p), apply(&got, p));
            assert!((a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6, "{a:?} {b:?}");
        }
    }

    #[test]
    fn a_similarity_leaves_no_residual_and_a_stretch_does() {
        let from: Vec<P2> = vec![[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
        let (s, c) = 0.3f64.sin_cos();
        let rotated: Vec<P2> = from
            .iter()
            .map(|p| [2.0 * (c * p[0] - s * p[1]) + 5.0, 2.0 * (s * p[0] + c * p[1]) - 3.0])
            .collect();
        assert!(similarity_residual(&from, &rotated).unwrap_or(1.0) < 1e-9);
        let stretched: Vec<P2> = from.iter().map(|p| [p[0] * 0.7, p[1]]).collect();
        assert!(similarity_residual(&from, &stretched).unwrap_or(0.0) > 0.5);
    }
}
