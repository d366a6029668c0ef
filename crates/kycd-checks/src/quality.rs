//! Image quality: figures measured once on the working copy ([`measure`]), then judged
//! per capture kind against thresholds ([`assess`]). Every code comes with the figure and
//! the threshold that raised it, so a person (or a reviewer) can see why.
//!
//! The document detector is deliberately simple and its figures are reported as they are:
//! a gradient-orientation Hough transform at 256 px finds the strongest straight lines, the
//! best-supported quadrilateral made of two near-parallel pairs is the document, and a
//! side that coincides with the frame border (or a corner outside the frame) means the
//! document runs off the image. The thresholds were set on the synthetic scenes in
//! kycd-testkit's `synth` (see the calibration test), not on real photos yet.

mod document;

use crate::decode::flood_fill4;
pub use document::detect_document;
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
        // (figure, code, value, threshold, bound, whether it applies), in report order.
        let figures = [
            (
                "laplacian_variance",
                C::Blurry,
                region.laplacian_variance,
                t.min_laplacian_variance,
                Min,
                true,
            ),
            ("glare_fraction", C::Glare, region.glare_fraction, t.max_glare_fraction, Max, is_doc),
            ("luma_mean", C::TooDark, region.luma_mean, t.min_luma_mean, Min, true),
            ("luma_p95", C::TooDark, region.luma_p95, t.min_luma_p95, Min, true),
            ("luma_mean", C::TooBright, region.luma_mean, t.max_luma_mean, Max, true),
            ("luma_p05", C::TooBright, region.luma_p05, t.max_luma_p05, Max, true),
            (
                "document_side_support",
                C::DocumentNotFound,
                d.side_support,
                t.min_side_support,
                Min,
                is_doc,
            ),
            (
                "document_area_fraction",
                C::DocumentNotFound,
                d.area_fraction,
                t.min_area_fraction,
                Min,
                is_doc,
            ),
            (
                "document_real_sides",
                C::DocumentCropped,
                f32::from(d.real_sides),
                4.0,
                Min,
                is_doc && found,
            ),
            (
                "document_corner_margin",
                C::DocumentCropped,
                d.corner_margin,
                t.min_corner_margin,
                Min,
                is_doc && found,
            ),
        ];
        for (name, code, value, threshold, bound, applies) in figures {
            if applies {
                metrics.push(Metric::new(name, code, f(value), f(threshold), bound));
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
        flood_fill4(rw, rh, &mut stack, |j| std::mem::replace(&mut mask[j], false), |_, _, _| size += 1);
        if size >= min_blob {
            covered += size;
        }
    }
    covered as f32 / (rw * rh) as f32
}
