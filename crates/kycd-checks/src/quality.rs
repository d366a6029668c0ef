//! Image quality: figures measured once on the working copy ([`measure`]), then judged
//! per capture kind against thresholds ([`assess`]). Every code comes with the figure and
//! the threshold that raised it, so a person (or a reviewer) can see why.
//!
//! The document detector is deliberately simple and its figures are reported as they are:
//! a gradient-orientation Hough transform at 256 px finds the strongest straight lines, the
//! best-supported quadrilateral made of two near-parallel pairs is the document, and a
//! side that coincides with the frame border (or a corner outside the frame) means the
//! document runs off the image. The thresholds were set on the synthetic scenes in
//! [`crate::synth`] (see the calibration test), not on real photos yet.

use crate::decode::area_resize;
use image::GrayImage;
use kycd_core::{CaptureKind, CheckResult};
use serde::Serialize;

/// A problem the person can fix by capturing again (or, for `face_not_checked`, a note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackCode {
    LowResolution,
    Blurry,
    Glare,
    TooDark,
    TooBright,
    DocumentNotFound,
    DocumentCropped,
    /// Selfies: no face was found.
    FaceNotFound,
    /// Selfies: more than one face in the picture.
    MultipleFaces,
    /// Selfies, when the face models are not installed: informative, does not refuse
    /// the capture.
    FaceNotChecked,
}

impl FeedbackCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LowResolution => "low_resolution",
            Self::Blurry => "blurry",
            Self::Glare => "glare",
            Self::TooDark => "too_dark",
            Self::TooBright => "too_bright",
            Self::DocumentNotFound => "document_not_found",
            Self::DocumentCropped => "document_cropped",
            Self::FaceNotFound => "face_not_found",
            Self::MultipleFaces => "multiple_faces",
            Self::FaceNotChecked => "face_not_checked",
        }
    }

    /// Whether the capture must be retaken.
    pub fn blocking(self) -> bool {
        !matches!(self, Self::FaceNotChecked)
    }

    /// What to tell the person, in plain words.
    pub fn advice(self) -> &'static str {
        match self {
            Self::LowResolution => "The picture is too small; move closer or use the main camera.",
            Self::Blurry => "The picture is blurry; hold still and let the camera focus.",
            Self::Glare => "Light is reflecting off the document; tilt it or move away from the lamp.",
            Self::TooDark => "The picture is too dark; find more light.",
            Self::TooBright => "The picture is too bright; avoid direct light on the document.",
            Self::DocumentNotFound => "We cannot see a document; place it on a plain, darker surface and fill most of the frame.",
            Self::DocumentCropped => "Part of the document is cut off; keep all four corners inside the frame.",
            Self::FaceNotFound => {
                "We cannot see your face; look straight at the camera, with your whole face in the frame and nothing covering it."
            }
            Self::MultipleFaces => "More than one face is in the picture; make sure only you are in the frame.",
            Self::FaceNotChecked => "The face is not checked automatically on this server.",
        }
    }
}

impl std::fmt::Display for FeedbackCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of the threshold passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Passes when `value >= threshold`.
    Min,
    /// Passes when `value <= threshold`.
    Max,
}

/// One measured figure against its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub name: &'static str,
    /// The code this figure informs.
    pub code: FeedbackCode,
    pub value: f64,
    pub threshold: f64,
    pub bound: Bound,
    pub passed: bool,
}

impl Metric {
    fn new(name: &'static str, code: FeedbackCode, value: f64, threshold: f64, bound: Bound) -> Self {
        let passed = match bound {
            Bound::Min => value >= threshold,
            Bound::Max => value <= threshold,
        };
        Self {
            name,
            code,
            value: round4(value),
            threshold: round4(threshold),
            bound,
            passed,
        }
    }
}

fn round4(v: f64) -> f64 {
    if v.is_finite() { (v * 10_000.0).round() / 10_000.0 } else { 0.0 }
}

/// The quality verdict on one capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    pub kind: CaptureKind,
    pub codes: Vec<FeedbackCode>,
    pub metrics: Vec<Metric>,
}

impl QualityReport {
    /// Usable as is: no blocking code.
    pub fn accepted(&self) -> bool {
        self.codes.iter().all(|c| !c.blocking())
    }

    /// Plain words for the person: the advice for each blocking code, or "Looks good."
    pub fn message(&self) -> String {
        let advice: Vec<&str> = self.codes.iter().filter(|c| c.blocking()).map(|c| c.advice()).collect();
        if advice.is_empty() {
            "Looks good.".to_owned()
        } else {
            advice.join(" ")
        }
    }

    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// Replace the "not checked" note of a selfie with what the face detector found:
    /// `faces` is the number of faces that count (background faces left out).
    pub fn set_faces(&mut self, faces: usize) {
        self.codes.retain(|c| {
            !matches!(
                c,
                FeedbackCode::FaceNotChecked | FeedbackCode::FaceNotFound | FeedbackCode::MultipleFaces
            )
        });
        match faces {
            0 => self.codes.push(FeedbackCode::FaceNotFound),
            1 => {}
            _ => self.codes.push(FeedbackCode::MultipleFaces),
        }
    }

    /// As a stored check result: `image_quality.<kind>`, figures = codes + metrics.
    pub fn to_check_result(&self) -> CheckResult {
        let codes: Vec<&str> = self.codes.iter().map(|c| c.as_str()).collect();
        CheckResult {
            name: format!("image_quality.{}", self.kind),
            passed: self.accepted(),
            detail: if codes.is_empty() {
                "image quality within thresholds".to_owned()
            } else {
                format!("quality codes: {}", codes.join(", "))
            },
            figures: serde_json::json!({ "codes": codes, "metrics": self.metrics }),
        }
    }
}

/// Figures over one region of the working copy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegionStats {
    /// Variance of the 4-neighbour Laplacian (sharpness).
    pub laplacian_variance: f32,
    /// Area of saturated (luma ≥ 250) blobs of a meaningful size, over the region's area.
    pub glare_fraction: f32,
    pub luma_mean: f32,
    pub luma_p05: f32,
    pub luma_p95: f32,
}

/// The best document quadrilateral found (always reported, even a weak one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DocumentMeasures {
    /// Whether any candidate quadrilateral was formed at all.
    pub candidate: bool,
    /// Mean fraction of each real (not frame-border) side backed by edge pixels, 0..1.
    pub side_support: f32,
    /// Sides of the quadrilateral that are real edges (the others are the frame border).
    pub real_sides: u8,
    /// Quadrilateral area over frame area.
    pub area_fraction: f32,
    /// Smallest distance from a corner to the frame border over the frame's short side;
    /// negative when a corner lies outside the frame.
    pub corner_margin: f32,
    /// Corners, as fractions of the frame (x, y), clockwise from the first line pair.
    pub corners: [[f32; 2]; 4],
    /// Highest share of edge pixels in a band along one frame side. Informative only: it
    /// is as high for a textured table as for print cut by the frame, so no code uses it.
    pub border_edge_density: f32,
}

/// Everything measured on a working copy, independent of the capture kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ImageMeasures {
    pub work_width: u32,
    pub work_height: u32,
    pub frame: RegionStats,
    pub document: DocumentMeasures,
    /// The same figures over the document's bounding box (inset 4 %) when a candidate exists.
    pub document_region: Option<RegionStats>,
}

/// Thresholds for one capture kind. Defaults: [`Thresholds::for_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Shortest side of the original image, pixels.
    pub min_short_side: u32,
    pub min_laplacian_variance: f32,
    pub max_glare_fraction: f32,
    pub min_luma_mean: f32,
    pub max_luma_mean: f32,
    /// The brightest 5 % must reach this (paper should look light).
    pub min_luma_p95: f32,
    /// The darkest 5 % must stay below this (print should look dark).
    pub max_luma_p05: f32,
    pub min_side_support: f32,
    pub min_area_fraction: f32,
    pub min_corner_margin: f32,
}

impl Thresholds {
    pub fn for_kind(kind: CaptureKind) -> Self {
        let doc = Self {
            min_short_side: 600,
            min_laplacian_variance: 80.0,
            max_glare_fraction: 0.004,
            min_luma_mean: 50.0,
            max_luma_mean: 225.0,
            min_luma_p95: 90.0,
            max_luma_p05: 170.0,
            min_side_support: 0.6,
            min_area_fraction: 0.08,
            min_corner_margin: 0.004,
        };
        match kind {
            CaptureKind::DocumentFront | CaptureKind::DocumentBack => doc,
            // Faces have far less fine detail than print; not calibrated on faces yet.
            CaptureKind::Selfie | CaptureKind::DocumentPortrait | CaptureKind::LivenessBurst => Self {
                min_short_side: 320,
                min_laplacian_variance: 30.0,
                max_glare_fraction: 1.0,
                min_luma_p95: 80.0,
                max_luma_p05: 200.0,
                ..doc
            },
        }
    }
}

/// Judge a capture with the default thresholds. `width`/`height` are the original
/// (upright) dimensions; `measures` is `None` when only the header was read.
pub fn assess(kind: CaptureKind, width: u32, height: u32, measures: Option<&ImageMeasures>) -> QualityReport {
    assess_with(kind, width, height, measures, &Thresholds::for_kind(kind))
}

pub fn assess_with(kind: CaptureKind, width: u32, height: u32, measures: Option<&ImageMeasures>, t: &Thresholds) -> QualityReport {
    use Bound::{Max, Min};
    use FeedbackCode as C;
    let mut metrics = vec![Metric::new(
        "short_side_px",
        C::LowResolution,
        f64::from(width.min(height)),
        f64::from(t.min_short_side),
        Min,
    )];
    let mut codes = Vec::new();
    let is_doc = kind != CaptureKind::Selfie;
    if let Some(m) = measures {
        let d = &m.document;
        let found = d.candidate && d.side_support >= t.min_side_support && d.area_fraction >= t.min_area_fraction && d.real_sides >= 2;
        let region = if is_doc && found {
            m.document_region.unwrap_or(m.frame)
        } else {
            m.frame
        };
        let f = |v: f32| f64::from(v);
        metrics.push(Metric::new(
            "laplacian_variance",
            C::Blurry,
            f(region.laplacian_variance),
            f(t.min_laplacian_variance),
            Min,
        ));
        if is_doc {
            metrics.push(Metric::new(
                "glare_fraction",
                C::Glare,
                f(region.glare_fraction),
                f(t.max_glare_fraction),
                Max,
            ));
        }
        metrics.push(Metric::new("luma_mean", C::TooDark, f(region.luma_mean), f(t.min_luma_mean), Min));
        metrics.push(Metric::new("luma_p95", C::TooDark, f(region.luma_p95), f(t.min_luma_p95), Min));
        metrics.push(Metric::new("luma_mean", C::TooBright, f(region.luma_mean), f(t.max_luma_mean), Max));
        metrics.push(Metric::new("luma_p05", C::TooBright, f(region.luma_p05), f(t.max_luma_p05), Max));
        if is_doc {
            metrics.push(Metric::new(
                "document_side_support",
                C::DocumentNotFound,
                f(d.side_support),
                f(t.min_side_support),
                Min,
            ));
            metrics.push(Metric::new(
                "document_area_fraction",
                C::DocumentNotFound,
                f(d.area_fraction),
                f(t.min_area_fraction),
                Min,
            ));
            if found {
                metrics.push(Metric::new(
                    "document_real_sides",
                    C::DocumentCropped,
                    f64::from(d.real_sides),
                    4.0,
                    Min,
                ));
                metrics.push(Metric::new(
                    "document_corner_margin",
                    C::DocumentCropped,
                    f(d.corner_margin),
                    f(t.min_corner_margin),
                    Min,
                ));
            }
        }
        // A code is raised exactly when a figure that informs it fails.
        for metric in &metrics {
            if !metric.passed && !codes.contains(&metric.code) {
                codes.push(metric.code);
            }
        }
    } else if !metrics.iter().all(|m| m.passed) {
        codes.push(C::LowResolution);
    }
    if kind == CaptureKind::Selfie {
        codes.push(C::FaceNotChecked);
    }
    QualityReport { kind, codes, metrics }
}

// ----- measuring ---------------------------------------------------------------------

/// Measure everything on the working copy (any size; made for ≤ 1024 px long side).
pub fn measure(work: &GrayImage) -> ImageMeasures {
    let (w, h) = work.dimensions();
    let frame = region_stats(work, 0, 0, w, h);
    let document = detect_document(work);
    let document_region = if document.candidate {
        let xs = document.corners.map(|c| c[0] * w as f32);
        let ys = document.corners.map(|c| c[1] * h as f32);
        let fold = |v: [f32; 4], init: f32, pick: fn(f32, f32) -> f32| v.into_iter().fold(init, pick);
        let (x0, x1) = (fold(xs, f32::MAX, f32::min), fold(xs, f32::MIN, f32::max));
        let (y0, y1) = (fold(ys, f32::MAX, f32::min), fold(ys, f32::MIN, f32::max));
        let (ix, iy) = ((x1 - x0) * 0.04, (y1 - y0) * 0.04);
        let clamp = |v: f32, hi: u32| v.clamp(0.0, hi as f32) as u32;
        let (rx0, rx1) = (clamp(x0 + ix, w), clamp(x1 - ix, w));
        let (ry0, ry1) = (clamp(y0 + iy, h), clamp(y1 - iy, h));
        (rx1 > rx0 + 8 && ry1 > ry0 + 8).then(|| region_stats(work, rx0, ry0, rx1, ry1))
    } else {
        None
    };
    ImageMeasures {
        work_width: w,
        work_height: h,
        frame,
        document,
        document_region,
    }
}

/// Stats over the rectangle [x0, x1) × [y0, y1).
pub fn region_stats(img: &GrayImage, x0: u32, y0: u32, x1: u32, y1: u32) -> RegionStats {
    let (w, h) = img.dimensions();
    let (x1, y1) = (x1.min(w), y1.min(h));
    let (x0, y0) = (x0.min(x1), y0.min(y1));
    let stride = w as usize;
    let d = img.as_raw();
    let mut hist = [0u64; 256];
    for y in y0..y1 {
        let row = &d[y as usize * stride + x0 as usize..y as usize * stride + x1 as usize];
        for &v in row {
            hist[usize::from(v)] += 1;
        }
    }
    let n: u64 = hist.iter().sum();
    let mean = if n == 0 {
        0.0
    } else {
        hist.iter().enumerate().map(|(v, &c)| v as f64 * c as f64).sum::<f64>() / n as f64
    };
    let pct = |p: f64| -> f32 {
        let target = (p * n as f64).ceil().max(1.0) as u64;
        let mut acc = 0;
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc >= target {
                return v as f32;
            }
        }
        255.0
    };
    RegionStats {
        laplacian_variance: laplacian_variance(img, x0, y0, x1, y1) as f32,
        glare_fraction: glare_fraction(img, x0, y0, x1, y1),
        luma_mean: mean as f32,
        luma_p05: if n == 0 { 0.0 } else { pct(0.05) },
        luma_p95: if n == 0 { 0.0 } else { pct(0.95) },
    }
}

/// Variance of the 4-neighbour Laplacian over the interior of the rectangle.
pub fn laplacian_variance(img: &GrayImage, x0: u32, y0: u32, x1: u32, y1: u32) -> f64 {
    let (w, h) = img.dimensions();
    let (x0, y0) = (x0.max(1) as usize, y0.max(1) as usize);
    let (x1, y1) = (x1.min(w.saturating_sub(1)) as usize, y1.min(h.saturating_sub(1)) as usize);
    if x1 <= x0 || y1 <= y0 {
        return 0.0;
    }
    let s = w as usize;
    let d = img.as_raw();
    let (mut sum, mut sum2) = (0i64, 0i64);
    for y in y0..y1 {
        let (up, mid, down) = (&d[(y - 1) * s..y * s], &d[y * s..(y + 1) * s], &d[(y + 1) * s..(y + 2) * s]);
        let mut rs = 0i64;
        let mut rs2 = 0i64;
        for x in x0..x1 {
            let l = i32::from(up[x]) + i32::from(down[x]) + i32::from(mid[x - 1]) + i32::from(mid[x + 1]) - 4 * i32::from(mid[x]);
            rs += i64::from(l);
            rs2 += i64::from(l * l);
        }
        sum += rs;
        sum2 += rs2;
    }
    let n = ((x1 - x0) * (y1 - y0)) as f64;
    let mean = sum as f64 / n;
    sum2 as f64 / n - mean * mean
}

/// Share of the rectangle covered by saturated blobs (luma ≥ 250, 4-connected) that are
/// at least 0.03 % of the rectangle (and ≥ 12 px): specular reflections, not white print.
pub fn glare_fraction(img: &GrayImage, x0: u32, y0: u32, x1: u32, y1: u32) -> f32 {
    let (rw, rh) = ((x1.saturating_sub(x0)) as usize, (y1.saturating_sub(y0)) as usize);
    if rw == 0 || rh == 0 {
        return 0.0;
    }
    let s = img.width() as usize;
    let d = img.as_raw();
    let mut mask: Vec<bool> = Vec::with_capacity(rw * rh);
    for y in 0..rh {
        let row = (y + y0 as usize) * s + x0 as usize;
        mask.extend(d[row..row + rw].iter().map(|&v| v >= 250));
    }
    let min_blob = ((rw * rh) as f64 * 0.0003).max(12.0) as usize;
    let mut covered = 0usize;
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] {
            continue;
        }
        mask[start] = false;
        stack.push(start);
        let mut size = 0usize;
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % rw, i / rw);
            let mut visit = |j: usize| {
                if mask[j] {
                    mask[j] = false;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < rw {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - rw);
            }
            if y + 1 < rh {
                visit(i + rw);
            }
        }
        if size >= min_blob {
            covered += size;
        }
    }
    covered as f32 / (rw * rh) as f32
}

// ----- document detection ----------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Background, Scene, render};

    fn codes(kind: CaptureKind, s: &Scene) -> (Vec<FeedbackCode>, ImageMeasures) {
        let img = render(s);
        let m = measure(&img);
        // The scenes are working copies of a 12 MP photo.
        let r = assess(kind, 4000, 3000, Some(&m));
        (r.codes, m)
    }

    #[test]
    fn good_captures_have_no_codes() {
        let base = Scene::default();
        for (name, s) in [
            ("default", base),
            (
                "light table",
                Scene {
                    background: Background::Flat(190),
                    ..base
                },
            ),
            (
                "textured table",
                Scene {
                    background: Background::Textured,
                    ..base
                },
            ),
            ("tilted 15°", Scene { angle_deg: 15.0, ..base }),
            ("close", Scene { card_width: 0.9, ..base }),
            ("far", Scene { card_width: 0.4, ..base }),
            ("dim", Scene { gain: 0.6, ..base }),
        ] {
            let (c, m) = codes(CaptureKind::DocumentFront, &s);
            assert!(c.is_empty(), "{name}: {c:?} {m:#?}");
            assert!(m.document.real_sides == 4 && m.document.side_support > 0.8, "{name}: {m:#?}");
        }
    }

    #[test]
    fn each_defect_raises_its_code() {
        use FeedbackCode as C;
        let base = Scene::default();
        let cases: Vec<(&str, Scene, C)> = vec![
            ("blur", Scene { blur: 3, ..base }, C::Blurry),
            (
                "glare",
                Scene {
                    glare: Some(((0.6, 0.4), 0.08)),
                    ..base
                },
                C::Glare,
            ),
            ("dark", Scene { gain: 0.3, ..base }, C::TooDark),
            (
                "bright",
                Scene {
                    gain: 0.6,
                    offset: 150.0,
                    ..base
                },
                C::TooBright,
            ),
            (
                "nothing",
                Scene {
                    card: false,
                    background: Background::Textured,
                    ..base
                },
                C::DocumentNotFound,
            ),
            (
                "cropped right",
                Scene {
                    centre: (0.75, 0.5),
                    ..base
                },
                C::DocumentCropped,
            ),
            ("too close", Scene { card_width: 1.1, ..base }, C::DocumentCropped),
        ];
        for (name, scene, want) in cases {
            let (c, m) = codes(CaptureKind::DocumentFront, &scene);
            assert!(c.contains(&want), "{name}: got {c:?}\n{m:#?}");
            // One defect at a time: nothing else is raised (an overexposed page is
            // saturated all over, which is glare too).
            let extra: Vec<_> = c
                .iter()
                .filter(|x| **x != want && !(want == C::TooBright && **x == C::Glare))
                .collect();
            assert!(extra.is_empty(), "{name}: got {c:?}\n{m:#?}");
        }
        // A card filling the frame with blank margins has no outline to find: it is
        // refused either way (not found or cropped), and the advice covers both.
        let (c, _) = codes(
            CaptureKind::DocumentFront,
            &Scene {
                background: Background::None,
                ..base
            },
        );
        assert!(c.contains(&C::DocumentNotFound) || c.contains(&C::DocumentCropped), "{c:?}");
    }

    #[test]
    fn selfie_is_marked_face_not_checked_but_accepted() {
        let r = assess(CaptureKind::Selfie, 1280, 720, Some(&measure(&render(&Scene::default()))));
        assert!(r.codes.contains(&FeedbackCode::FaceNotChecked));
        assert!(r.accepted(), "{r:?}");
        assert!(r.metric("document_side_support").is_none());
    }

    #[test]
    fn header_only_assessment_judges_resolution() {
        let r = assess(CaptureKind::DocumentFront, 320, 240, None);
        assert_eq!(r.codes, vec![FeedbackCode::LowResolution]);
        let m = r.metric("short_side_px").unwrap();
        assert_eq!((m.value, m.threshold, m.passed), (240.0, 600.0, false));
        assert!(!r.accepted());
        assert!(r.message().contains("too small"));
    }

    #[test]
    fn laplacian_variance_drops_with_blur() {
        let sharp = render(&Scene::default());
        let blurred = render(&Scene {
            blur: 2,
            ..Scene::default()
        });
        let (w, h) = sharp.dimensions();
        assert!(laplacian_variance(&sharp, 0, 0, w, h) > 4.0 * laplacian_variance(&blurred, 0, 0, w, h));
        let flat = GrayImage::from_pixel(50, 50, image::Luma([100]));
        assert_eq!(laplacian_variance(&flat, 0, 0, 50, 50), 0.0);
        assert_eq!(laplacian_variance(&flat, 10, 10, 10, 10), 0.0);
    }

    #[test]
    fn measuring_degenerate_images_does_not_panic() {
        for (w, h) in [(1, 1), (2, 300), (300, 2), (17, 17), (16, 1024)] {
            let img = GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 13 + y * 7) % 256) as u8]));
            let m = measure(&img);
            let _ = assess(CaptureKind::DocumentFront, w, h, Some(&m));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn measure_never_panics(w in 1u32..80, h in 1u32..80, seed in 0u32..1000) {
            let img = GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 31 + y * 17 + seed) % 251) as u8]));
            let m = measure(&img);
            let r = assess(CaptureKind::DocumentBack, w, h, Some(&m));
            proptest::prop_assert!(r.metrics.iter().all(|m| m.value.is_finite()));
        }
    }
}
