//! A float greyscale image the document is drawn on before it is quantised, with the
//! blurs the camera applies.

use super::*;

/// A greyscale image in `f32` (0 = black, 255 = white), for rendering and the camera.
#[derive(Debug, Clone)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub px: Vec<f32>,
}

impl Plane {
    pub(super) fn new(w: usize, h: usize, v: f32) -> Self {
        Self { w, h, px: vec![v; w * h] }
    }
    pub(super) fn blend(&mut self, x: i64, y: i64, ink: f32, a: f32) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            return;
        }
        let p = &mut self.px[y as usize * self.w + x as usize];
        *p = *p * (1.0 - a) + ink * a;
    }
    pub(super) fn fill_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, f: impl Fn(f32, f32) -> f32) {
        let (xa, xb) = (x0.max(0.0) as usize, (x1.max(0.0) as usize).min(self.w));
        let (ya, yb) = (y0.max(0.0) as usize, (y1.max(0.0) as usize).min(self.h));
        for y in ya..yb {
            for x in xa..xb {
                let (u, v) = ((x as f32 - x0) / (x1 - x0), (y as f32 - y0) / (y1 - y0));
                self.px[y * self.w + x] = f(u, v);
            }
        }
    }
    /// Bilinear sample at continuous coordinates; `None` outside.
    pub(super) fn sample(&self, x: f32, y: f32) -> Option<f32> {
        let (x, y) = (x - 0.5, y - 0.5);
        if x < -0.5 || y < -0.5 || x > self.w as f32 - 0.5 || y > self.h as f32 - 0.5 {
            return None;
        }
        let x = x.clamp(0.0, (self.w - 1) as f32);
        let y = y.clamp(0.0, (self.h - 1) as f32);
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (ax, ay) = (x - x0 as f32, y - y0 as f32);
        let p = |xx: usize, yy: usize| self.px[yy * self.w + xx];
        let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * ax;
        let bot = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * ax;
        Some(top + (bot - top) * ay)
    }
    pub fn to_gray(&self) -> GrayImage {
        GrayImage::from_fn(self.w as u32, self.h as u32, |x, y| {
            Luma([self.px[y as usize * self.w + x as usize].round().clamp(0.0, 255.0) as u8])
        })
    }
    /// Gaussian-like blur with standard deviation `sigma` pixels: three box passes per
    /// axis (running sums, so the cost does not grow with `sigma`), with box widths
    /// chosen so that the variances add up to `sigma²`.
    pub(super) fn gaussian(&mut self, sigma: f32) {
        if sigma < 0.3 || self.w == 0 || self.h == 0 {
            return;
        }
        // Each pass takes a third of σ²: find the (fractional) box radius with that
        // variance by bisection.
        let target = sigma * sigma / 3.0;
        let (mut lo, mut hi) = (0f32, 3.0 * sigma + 1.0);
        for _ in 0..40 {
            let mid = (lo + hi) / 2.0;
            if box_variance(mid) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let radius = (lo + hi) / 2.0;
        let (w, h) = (self.w, self.h);
        let mut line = Vec::new();
        let mut out = Vec::new();
        for _ in 0..3 {
            for y in 0..h {
                line.clear();
                line.extend_from_slice(&self.px[y * w..(y + 1) * w]);
                box_line(&line, &mut out, radius);
                self.px[y * w..(y + 1) * w].copy_from_slice(&out);
            }
            for x in 0..w {
                line.clear();
                line.extend((0..h).map(|y| self.px[y * w + x]));
                box_line(&line, &mut out, radius);
                for (y, v) in out.iter().enumerate() {
                    self.px[y * w + x] = *v;
                }
            }
        }
    }
}

/// Variance of the discrete box of fractional radius `r` used by [`box_line`].
pub(super) fn box_variance(r: f32) -> f32 {
    let ri = r.floor();
    let frac = r - ri;
    let n = ri as i64;
    let inner: f32 = (1..=n).map(|i| (i * i) as f32).sum();
    (2.0 * inner + 2.0 * frac * (ri + 1.0).powi(2)) / (2.0 * r + 1.0)
}

/// Box filter of fractional radius `r` (edge pixels repeated): the mean over
/// `[i - r, i + r]`, the two end pixels weighted by the fraction.
pub(super) fn box_line(src: &[f32], dst: &mut Vec<f32>, r: f32) {
    let n = src.len();
    dst.clear();
    if n == 0 {
        return;
    }
    let ri = r.floor() as isize;
    let frac = r - ri as f32;
    let at = |i: isize| src[i.clamp(0, n as isize - 1) as usize];
    let mut sum: f32 = (-ri..=ri).map(at).sum();
    let norm = 1.0 / (2.0 * r + 1.0);
    for i in 0..n as isize {
        let edge = at(i - ri - 1) + at(i + ri + 1);
        dst.push((sum + frac * edge) * norm);
        sum += at(i + ri + 1) - at(i - ri);
    }
}
