//! MediaPipe's face landmark model: 468 points of a face, from a 192×192 crop around a
//! BlazeFace detection.
//!
//! The model is `face_landmark.tflite` from the npm package `@mediapipe/face_mesh`
//! 0.4.1657299874 (Google, Apache-2.0), converted to ONNX by tf2onnx with
//! `scripts/convert-face-landmarks` and compiled into kycd (`models/face_landmarks.onnx`,
//! its licence, checksum and conversion in `models/NOTICE-face-landmarks`). It runs on the
//! ONNX Runtime library of the model folder, like the other models.
//!
//! The crop follows MediaPipe's face-landmark graph: a square 1.5× the detection's longer
//! side around its centre, turned so that the eyes lie level, values scaled to 0‥1.

use crate::face::Face;
use crate::onnx::{OnnxError, OnnxModel};
use image::RgbImage;
use std::path::Path;

const MODEL: &[u8] = include_bytes!("../../models/face_landmarks.onnx");
const MODEL_NAME: &str = "face_landmarks.onnx (compiled in)";
/// The model's square input side.
pub const INPUT: usize = 192;
/// The crop's side as a multiple of the detection box's longer side (MediaPipe's value).
const CROP_SCALE: f64 = 1.5;
/// Number of landmarks.
pub const POINTS: usize = 468;

/// Landmarks of one face, in the image's pixels (x right, y down); `z` is MediaPipe's
/// relative depth in the same pixel scale (smaller is nearer the camera).
#[derive(Debug, Clone, PartialEq)]
pub struct Landmarks {
    pub points: Vec<[f64; 3]>,
    /// The model's face-presence probability, 0‥1.
    pub presence: f64,
}

impl Landmarks {
    pub fn xy(&self, i: usize) -> [f64; 2] {
        let p = self.points[i];
        [p[0], p[1]]
    }
}

/// The face landmark model on ONNX Runtime.
pub struct LandmarkModel {
    model: OnnxModel,
}

debug_showing!(LandmarkModel {});

impl LandmarkModel {
    /// The compiled-in model, run by the runtime library in `model_dir`.
    pub fn load(model_dir: &Path) -> Result<Self, OnnxError> {
        Ok(Self {
            model: OnnxModel::load_bytes(model_dir, MODEL_NAME, MODEL)?,
        })
    }

    /// The raw outputs on one `1×192×192×3` input (RGB, 0‥1): 1 404 numbers (x, y, z of
    /// each landmark in input pixels) and the face-flag logit.
    pub fn run(&self, input: Vec<f32>) -> Result<(Vec<f32>, f32), OnnxError> {
        let out = self.model.run(&[1, INPUT, INPUT, 3], input, &["conv2d_21", "conv2d_31"])?;
        let (Some(lm), Some(flag)) = (out.first(), out.get(1)) else {
            return Err(OnnxError::Inference("the landmark model gave fewer than 2 outputs".into()));
        };
        if lm.data.len() != POINTS * 3 || flag.data.len() != 1 {
            return Err(OnnxError::Inference(format!(
                "unexpected landmark outputs {:?} {:?}",
                lm.shape, flag.shape
            )));
        }
        Ok((lm.data.clone(), flag.data[0]))
    }

    /// The landmarks of `face` in `img`.
    pub fn landmarks(&self, img: &RgbImage, face: &Face) -> Result<Landmarks, OnnxError> {
        let crop = Crop::of(face);
        let (lm, flag) = self.run(crop.sample(img))?;
        let points = lm
            .chunks_exact(3)
            .map(|p| {
                let [x, y] = crop.to_image(f64::from(p[0]), f64::from(p[1]));
                [x, y, f64::from(p[2]) * crop.side / INPUT as f64]
            })
            .collect();
        Ok(Landmarks {
            points,
            presence: 1.0 / (1.0 + (-f64::from(flag).clamp(-80.0, 80.0)).exp()),
        })
    }
}

/// The square the model sees: centre, side and direction of its x axis in the image.
#[derive(Debug, Clone, Copy)]
struct Crop {
    centre: [f64; 2],
    side: f64,
    /// Unit vector of the crop's x axis (along the eyes, from the face's right eye to its left).
    axis: [f64; 2],
}

impl Crop {
    fn of(face: &Face) -> Self {
        let [(rx, ry), (lx, ly)] = [face.keypoints[0], face.keypoints[1]];
        let (dx, dy) = (f64::from(lx - rx), f64::from(ly - ry));
        let len = dx.hypot(dy);
        let axis = if len > 1e-6 { [dx / len, dy / len] } else { [1.0, 0.0] };
        Self {
            centre: [f64::from(face.x + face.w / 2.0), f64::from(face.y + face.h / 2.0)],
            side: f64::from(face.w.max(face.h)) * CROP_SCALE,
            axis,
        }
    }

    /// Input pixel (x, y) of the crop (0‥192) → image pixel.
    fn to_image(self, x: f64, y: f64) -> [f64; 2] {
        let k = self.side / INPUT as f64;
        let (u, v) = ((x - INPUT as f64 / 2.0) * k, (y - INPUT as f64 / 2.0) * k);
        [
            self.centre[0] + u * self.axis[0] - v * self.axis[1],
            self.centre[1] + u * self.axis[1] + v * self.axis[0],
        ]
    }

    /// The model input: bilinear samples of the turned square, black outside the image.
    fn sample(&self, img: &RgbImage) -> Vec<f32> {
        let (w, h) = (img.width() as i64, img.height() as i64);
        let mut out = vec![0.0f32; INPUT * INPUT * 3];
        let px = |x: i64, y: i64| -> [f64; 3] {
            if x < 0 || y < 0 || x >= w || y >= h {
                return [0.0; 3];
            }
            img.get_pixel(x as u32, y as u32).0.map(f64::from)
        };
        for j in 0..INPUT {
            for i in 0..INPUT {
                let [x, y] = self.to_image(i as f64 + 0.5, j as f64 + 0.5);
                let (x, y) = (x - 0.5, y - 0.5);
                let (x0, y0) = (x.floor(), y.floor());
                let (fx, fy) = (x - x0, y - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                let (a, b, c, d) = (px(x0, y0), px(x0 + 1, y0), px(x0, y0 + 1), px(x0 + 1, y0 + 1));
                for k in 0..3 {
                    let v = (a[k] * (1.0 - fx) + b[k] * fx) * (1.0 - fy) + (c[k] * (1.0 - fx) + d[k] * fx) * fy;
                    out[(j * INPUT + i) * 3 + k] = (v / 255.0) as f32;
                }
            }
        }
        out
    }
}
