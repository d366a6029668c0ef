//! Text detection with the PP-OCRv4 detector (PaddleOCR, Apache-2.0), run by ONNX Runtime
//! ([`crate::onnx`]): [`crate::mrz_read`] finds the machine-readable zone with it.
//!
//! **Detection** (DB, "differentiable binarisation"): the image is resized so that its
//! short side is [`DET_SHORT_SIDE`] (both sides multiples of 32), normalised to [-1, 1]
//! and run through the detector, which returns a text-probability map. Pixels above
//! [`DET_THRESHOLD`] are grouped into connected components; each component becomes a
//! rotated rectangle (orientation from its second moments), grown by the DB "unclip"
//! margin and mapped back to the input's coordinates.
//!
//! PP-OCR's recogniser (free text from a 6 000-character alphabet) is no longer used:
//! the zone is read cell by cell by kycd's own classifier ([`crate::mrz_cells`]).
//!
//! The model is a file the operator fetches once (`scripts/fetch-models`); nothing is
//! downloaded at run time.

use crate::decode::flood_fill4;
use crate::onnx::{OnnxError, OnnxModel};
use image::GrayImage;
use std::path::{Path, PathBuf};

/// File name of the detector inside the model directory.
pub const DET_MODEL_FILE: &str = "ch_PP-OCRv4_det_infer.onnx";
/// Environment variable naming the model directory (default: `./models`).
pub const MODEL_DIR_ENV: &str = "KYCD_MODEL_DIR";

/// Short side of the detector's input, in pixels. Smaller is faster but loses zones:
/// on the MRZ corpus (144 photos, 2026-12-04) 736 read 102 fully correct at a median of
/// 300 ms a read, 544 read 97 at 214 ms (rotated and dim photos lost their zone).
pub const DET_SHORT_SIDE: u32 = 736;
/// Longest side the detector is ever given (very elongated inputs are scaled down further).
pub const DET_MAX_SIDE: u32 = 1600;
/// Text-probability threshold for the detector's map.
pub const DET_THRESHOLD: f32 = 0.3;
/// Mean probability a component must reach to count as text.
pub const DET_BOX_THRESHOLD: f32 = 0.5;
/// DB unclip ratio: the box is grown by `area × ratio / perimeter` on every side.
pub const DET_UNCLIP_RATIO: f32 = 1.6;
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error("OCR model not found at {}: run scripts/fetch-models (or set {MODEL_DIR_ENV} to the folder that holds {DET_MODEL_FILE})", .0.display())]
    ModelMissing(PathBuf),
    #[error("the OCR model at {} could not be loaded ({reason}): delete it and run scripts/fetch-models again", path.display())]
    ModelLoad { path: PathBuf, reason: String },
    /// The runtime library is missing or does not load.
    #[error(transparent)]
    Runtime(OnnxError),
    #[error("OCR inference failed ({0}): the models may not match this version of kycd; run scripts/fetch-models")]
    Inference(String),
    #[error(transparent)]
    Image(#[from] crate::ImageError),
}

crate::onnx::from_onnx_error!(OcrError);

/// Where the models live: `$KYCD_MODEL_DIR`, else `./models`.
pub fn default_model_dir() -> PathBuf {
    std::env::var_os(MODEL_DIR_ENV).map_or_else(|| PathBuf::from("models"), PathBuf::from)
}

/// Whether the detector's file exists in `dir` (not whether it is the right one).
pub fn models_present(dir: &Path) -> bool {
    dir.join(DET_MODEL_FILE).is_file()
}

/// A point in image coordinates (pixels, x right, y down).
pub type Point = (f32, f32);

/// A text region: four corners in reading order (top-left, top-right, bottom-right,
/// bottom-left of the text as read), in the coordinates of the image given to
/// [`Ocr::detect`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub corners: [Point; 4],
    /// Mean text probability inside the detected region.
    pub score: f32,
}

impl TextBox {
    /// Length of the text direction (mean of top and bottom edges).
    pub fn length(&self) -> f32 {
        let [a, b, c, d] = self.corners;
        (dist(a, b) + dist(d, c)) / 2.0
    }
    /// Height across the text (mean of the left and right edges).
    pub fn height(&self) -> f32 {
        let [a, b, c, d] = self.corners;
        (dist(a, d) + dist(b, c)) / 2.0
    }
    pub fn centre(&self) -> Point {
        let [a, b, c, d] = self.corners;
        ((a.0 + b.0 + c.0 + d.0) / 4.0, (a.1 + b.1 + c.1 + d.1) / 4.0)
    }
    /// Angle of the text direction, radians (0 = horizontal, positive = clockwise on screen).
    pub fn angle(&self) -> f32 {
        let [a, b, c, d] = self.corners;
        let (dx, dy) = ((b.0 - a.0) + (c.0 - d.0), (b.1 - a.1) + (c.1 - d.1));
        dy.atan2(dx)
    }
}

pub(crate) fn dist(a: Point, b: Point) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// Bilinear sample of a `w × h` greyscale raster at continuous coordinates (pixel centres
/// at +0.5), edges repeated.
pub(crate) fn bilinear(src: &[u8], w: usize, h: usize, x: f32, y: f32) -> f32 {
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

/// The PP-OCR text detector. `Send + Sync`: share one in an `Arc`; concurrent calls are
/// safe (they take turns on the model, whose runs use every core).
#[derive(Debug)]
pub struct Ocr {
    det: OnnxModel,
}

impl Ocr {
    /// Load the detector from `dir` (see [`default_model_dir`]).
    pub fn load(dir: &Path) -> Result<Self, OcrError> {
        let det_path = dir.join(DET_MODEL_FILE);
        if !det_path.is_file() {
            return Err(OcrError::ModelMissing(det_path));
        }
        Ok(Self {
            det: OnnxModel::load(dir, DET_MODEL_FILE)?,
        })
    }

    /// Detect text regions in `img`. Boxes are in `img`'s coordinates.
    pub fn detect(&self, img: &GrayImage) -> Result<Vec<TextBox>, OcrError> {
        let (w, h) = img.dimensions();
        if w < 8 || h < 8 {
            return Ok(Vec::new());
        }
        let (dw, dh) = det_size(w, h);
        self.detect_sized(img, dw, dh)
    }

    /// [`detect`](Self::detect) with the detector's input scaled so that its short side is
    /// `short_side` pixels (smaller is faster and finds less small text).
    pub fn detect_scaled(&self, img: &GrayImage, short_side: u32) -> Result<Vec<TextBox>, OcrError> {
        let (w, h) = img.dimensions();
        if w < 8 || h < 8 {
            return Ok(Vec::new());
        }
        let (dw, dh) = det_size_for(w, h, short_side);
        self.detect_sized(img, dw, dh)
    }

    /// Detect text in the rows `rows` of `img` only, at the scale [`detect`](Self::detect)
    /// uses for the whole image (so text reaches the model at the same size), for a part
    /// of the cost. Boxes are in `img`'s coordinates; text cut by the band's edges comes
    /// back cut.
    pub fn detect_rows(&self, img: &GrayImage, rows: std::ops::Range<u32>) -> Result<Vec<TextBox>, OcrError> {
        let (w, h) = img.dimensions();
        let (y0, y1) = (rows.start.min(h), rows.end.min(h));
        if w < 8 || y1 < y0 + 8 {
            return Ok(Vec::new());
        }
        if (y0, y1) == (0, h) {
            return self.detect(img);
        }
        let (dw, dh_whole) = det_size(w, h);
        let dh = ((((y1 - y0) as f32 * dh_whole as f32 / h as f32) / 32.0).round() as u32).max(1) * 32;
        let band = image::imageops::crop_imm(img, 0, y0, w, y1 - y0).to_image();
        let mut boxes = self.detect_sized(&band, dw, dh)?;
        for b in &mut boxes {
            for c in &mut b.corners {
                c.1 += y0 as f32;
            }
        }
        Ok(boxes)
    }

    /// Detection with the model input `dw × dh` (multiples of 32).
    fn detect_sized(&self, img: &GrayImage, dw: u32, dh: u32) -> Result<Vec<TextBox>, OcrError> {
        let (w, h) = img.dimensions();
        let small = resize_for_det(img, dw, dh);
        let plane: Vec<f32> = small.as_raw().iter().map(|&v| f32::from(v) / 127.5 - 1.0).collect();
        let n = plane.len();
        let mut data = Vec::with_capacity(3 * n);
        for _ in 0..3 {
            data.extend_from_slice(&plane);
        }
        let out = self.run(&self.det, &[1, 3, dh as usize, dw as usize], data)?;
        let &[1, 1, mh, mw] = out.shape.as_slice() else {
            return Err(OcrError::Inference(format!("unexpected detector output {:?}", out.shape)));
        };
        let prob = out.data;
        let (sx, sy) = (w as f32 / mw as f32, h as f32 / mh as f32);
        Ok(boxes_from_map(&prob, mw, mh)
            .into_iter()
            .map(|b| TextBox {
                corners: b.corners.map(|(x, y)| (x * sx, y * sy)),
                score: b.score,
            })
            .collect())
    }

    /// Run the model on one input; its first output.
    fn run(&self, model: &OnnxModel, shape: &[usize], data: Vec<f32>) -> Result<crate::onnx::Output, OcrError> {
        model
            .run(shape, data, &[])?
            .into_iter()
            .next()
            .ok_or_else(|| OcrError::Inference("the model gave no output".into()))
    }
}

/// Detector input size: short side [`DET_SHORT_SIDE`], long side at most [`DET_MAX_SIDE`],
/// both multiples of 32.
fn det_size(w: u32, h: u32) -> (u32, u32) {
    det_size_for(w, h, DET_SHORT_SIDE)
}

fn det_size_for(w: u32, h: u32, short_side: u32) -> (u32, u32) {
    let short = w.min(h) as f32;
    let long = w.max(h) as f32;
    let scale = (short_side as f32 / short).min(DET_MAX_SIDE as f32 / long);
    let r = |v: u32| (((v as f32 * scale) / 32.0).round() as u32).max(1) * 32;
    (r(w), r(h))
}

/// Resize for the detector: area average when shrinking, bilinear when growing.
fn resize_for_det(img: &GrayImage, dw: u32, dh: u32) -> GrayImage {
    if dw <= img.width() && dh <= img.height() {
        crate::decode::area_resize(img, dw, dh)
    } else {
        let (w, h) = (img.width() as f32, img.height() as f32);
        sample_quad(img, &[(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)], dw, dh)
    }
}

/// Connected components of the thresholded map → rotated boxes (map coordinates).
fn boxes_from_map(prob: &[f32], w: usize, h: usize) -> Vec<TextBox> {
    let mut label = vec![0u32; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    let mut next = 0u32;
    for start in 0..w * h {
        if label[start] != 0 || prob[start] <= DET_THRESHOLD {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        // Moments of the component.
        let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy, mut sp) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
        let mut pixels = Vec::new();
        let claim = |j: usize| {
            let joins = label[j] == 0 && prob[j] > DET_THRESHOLD;
            if joins {
                label[j] = next;
            }
            joins
        };
        flood_fill4(w, h, &mut stack, claim, |i, x, y| {
            let (fx, fy) = (x as f64, y as f64);
            n += 1.0;
            sx += fx;
            sy += fy;
            sxx += fx * fx;
            syy += fy * fy;
            sxy += fx * fy;
            sp += f64::from(prob[i]);
            pixels.push((x as f32, y as f32));
        });
        if n < 6.0 || sp / n < f64::from(DET_BOX_THRESHOLD) {
            continue;
        }
        let (mx, my) = (sx / n, sy / n);
        let (cxx, cyy, cxy) = (sxx / n - mx * mx, syy / n - my * my, sxy / n - mx * my);
        let theta = 0.5 * (2.0 * cxy).atan2(cxx - cyy);
        let (s, c) = (theta.sin() as f32, theta.cos() as f32);
        let (mx, my) = (mx as f32, my as f32);
        let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &(x, y) in &pixels {
            let (dx, dy) = (x - mx, y - my);
            let u = dx * c + dy * s;
            let v = -dx * s + dy * c;
            u0 = u0.min(u);
            u1 = u1.max(u);
            v0 = v0.min(v);
            v1 = v1.max(v);
        }
        // Pixel centres → pixel edges.
        let (bw, bh) = (u1 - u0 + 1.0, v1 - v0 + 1.0);
        if bw.min(bh) < 2.0 {
            continue;
        }
        let grow = bw * bh * DET_UNCLIP_RATIO / (2.0 * (bw + bh));
        let (u0, u1, v0, v1) = (u0 - 0.5 - grow, u1 + 0.5 + grow, v0 - 0.5 - grow, v1 + 0.5 + grow);
        // +0.5: pixel index → pixel centre in continuous coordinates.
        let at = |u: f32, v: f32| (mx + 0.5 + u * c - v * s, my + 0.5 + u * s + v * c);
        let mut corners = [at(u0, v0), at(u1, v0), at(u1, v1), at(u0, v1)];
        // The long side is the text direction; read left to right.
        if (v1 - v0) > (u1 - u0) {
            corners = [corners[3], corners[0], corners[1], corners[2]];
        }
        if corners[1].0 + corners[2].0 < corners[0].0 + corners[3].0 {
            corners = [corners[2], corners[3], corners[0], corners[1]];
        }
        out.push(TextBox {
            corners,
            score: (sp / n) as f32,
        });
    }
    out
}

/// Sample the quadrilateral `q` (top-left, top-right, bottom-right, bottom-left) of `img`
/// into an `out_w × out_h` image, bilinear, supersampled when shrinking (so thin strokes
/// of a large source are averaged, not skipped). Outside the image reads as the nearest
/// edge pixel.
pub fn sample_quad(img: &GrayImage, q: &[Point; 4], out_w: u32, out_h: u32) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = GrayImage::new(out_w.max(1), out_h.max(1));
    if w == 0 || h == 0 {
        return out;
    }
    let src = img.as_raw();
    let scale_x = dist(q[0], q[1]).max(dist(q[3], q[2])) / out_w.max(1) as f32;
    let scale_y = dist(q[0], q[3]).max(dist(q[1], q[2])) / out_h.max(1) as f32;
    let k = (scale_x.max(scale_y).ceil() as usize).clamp(1, 4);
    let (ow, oh) = (out_w.max(1) as usize, out_h.max(1) as usize);
    let (fw, fh) = (ow as f32, oh as f32);
    let inv = 1.0 / (k * k) as f32;
    let data: &mut [u8] = &mut out;
    for j in 0..oh {
        for i in 0..ow {
            let mut acc = 0f32;
            for sj in 0..k {
                let v = (j as f32 + (sj as f32 + 0.5) / k as f32) / fh;
                for si in 0..k {
                    let u = (i as f32 + (si as f32 + 0.5) / k as f32) / fw;
                    // Bilinear blend of the corners.
                    let tx = q[0].0 + (q[1].0 - q[0].0) * u;
                    let ty = q[0].1 + (q[1].1 - q[0].1) * u;
                    let bx = q[3].0 + (q[2].0 - q[3].0) * u;
                    let by = q[3].1 + (q[2].1 - q[3].1) * u;
                    acc += bilinear(src, w, h, tx + (bx - tx) * v, ty + (by - ty) * v);
                }
            }
            data[j * ow + i] = (acc * inv).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn detector_input_is_short_side_736_in_multiples_of_32() {
        assert_eq!(det_size(1600, 1200), (992, 736));
        assert_eq!(det_size(4000, 3000), (992, 736));
        assert_eq!(det_size(500, 700), (736, 1024));
        let (w, h) = det_size(6000, 300);
        assert!(w <= DET_MAX_SIDE + 32 && w % 32 == 0 && h % 32 == 0, "{w}×{h}");
    }

    #[test]
    fn components_become_rotated_boxes_reading_left_to_right() {
        // A bar 60×6 rotated by 10°, drawn into a probability map.
        let (w, h) = (120usize, 80usize);
        let (s, c) = 10f32.to_radians().sin_cos();
        let mut prob = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 + 0.5 - 60.0, y as f32 + 0.5 - 40.0);
                let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
                if u.abs() < 30.0 && v.abs() < 3.0 {
                    prob[y * w + x] = 0.9;
                }
            }
        }
        let boxes = boxes_from_map(&prob, w, h);
        assert_eq!(boxes.len(), 1);
        let b = boxes[0];
        assert!((b.angle().to_degrees() - 10.0).abs() < 2.0, "{}", b.angle().to_degrees());
        assert!(b.length() > 60.0 && b.height() > 6.0, "{b:?}");
        let (cx, cy) = b.centre();
        assert!((cx - 60.0).abs() < 1.5 && (cy - 40.0).abs() < 1.5, "{cx} {cy}");
        assert!(b.corners[0].0 < b.corners[1].0);
    }

    #[test]
    fn quad_sampling_is_exact_for_an_axis_aligned_copy() {
        let img = GrayImage::from_fn(40, 20, |x, y| Luma([(x * 5 + y) as u8]));
        let out = sample_quad(&img, &[(10.0, 5.0), (30.0, 5.0), (30.0, 15.0), (10.0, 15.0)], 20, 10);
        for (x, y, p) in out.enumerate_pixels() {
            assert_eq!(p[0], img.get_pixel(x + 10, y + 5)[0]);
        }
    }

    #[test]
    fn missing_models_say_what_to_do() {
        let dir = std::env::temp_dir().join("kycd-no-models-here");
        let err = Ocr::load(&dir).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("scripts/fetch-models") && msg.contains(DET_MODEL_FILE), "{msg}");
    }

    #[test]
    fn the_engine_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Ocr>();
    }
}
