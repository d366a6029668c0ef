//! Text detection and recognition with the PP-OCRv4 models (PaddleOCR, Apache-2.0), run
//! by ONNX Runtime ([`crate::onnx`]). Generic: [`crate::mrz_read`] builds the MRZ reader on it.
//!
//! - **Detection** (DB, "differentiable binarisation"): the image is resized so that its
//!   short side is [`DET_SHORT_SIDE`] (both sides multiples of 32), normalised to [-1, 1]
//!   and run through the detector, which returns a text-probability map. Pixels above
//!   [`DET_THRESHOLD`] are grouped into connected components; each component becomes a
//!   rotated rectangle (orientation from its second moments), grown by the DB "unclip"
//!   margin and mapped back to the input's coordinates.
//! - **Recognition** (SVTR-LCNet + CTC): each box is sampled out of the full-resolution
//!   image, upright, at height [`REC_HEIGHT`]; the recogniser returns per-column class
//!   probabilities, decoded greedily (best class per column, repeats merged, blanks
//!   dropped). The classes are: blank, the lines of the model's `character` metadata
//!   entry, then a space.
//!
//! The models are files the operator fetches once (`scripts/fetch-models`); nothing is
//! downloaded at run time.

use crate::onnx::{OnnxError, OnnxModel};
use image::GrayImage;
use std::path::{Path, PathBuf};

/// File names of the models inside the model directory.
pub const DET_MODEL_FILE: &str = "ch_PP-OCRv4_det_infer.onnx";
pub const REC_MODEL_FILE: &str = "ch_PP-OCRv4_rec_infer.onnx";
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
/// Height of the recogniser's input, in pixels.
pub const REC_HEIGHT: u32 = 48;
/// Widest recogniser input (longer lines are squeezed to fit).
pub const REC_MAX_WIDTH: u32 = 2400;
/// Widest piece of a line the recogniser is given at once; longer lines are cut into
/// overlapping segments. A TD1 line (30 characters) is read whole, a TD3 line (44) in
/// two halves. Measured on the MRZ corpus (72 photos, 2026-12-03), fully correct zones:
/// 640 / 128 → 44, 640 / 256 → 47, 800 / 256 → 51, 960 / 256 → 53. Narrow segments
/// misread the characters just inside their left edge, and the join then loses the last
/// letters of a name before its fillers.
pub const REC_SEGMENT: u32 = 960;
/// Overlap between neighbouring segments (about eight characters).
pub const REC_OVERLAP: u32 = 256;

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error("OCR model not found at {}: run scripts/fetch-models (or set {MODEL_DIR_ENV} to the folder that holds {DET_MODEL_FILE} and {REC_MODEL_FILE})", .0.display())]
    ModelMissing(PathBuf),
    #[error("the OCR model at {} could not be loaded ({reason}): delete it and run scripts/fetch-models again", path.display())]
    ModelLoad { path: PathBuf, reason: String },
    /// The runtime library is missing or does not load.
    #[error(transparent)]
    Runtime(OnnxError),
    #[error("the recognition model at {} has no `character` list in its metadata: it is not a PP-OCR recogniser; run scripts/fetch-models", .0.display())]
    NoCharacterList(PathBuf),
    #[error("OCR inference failed ({0}): the models may not match this version of kycd; run scripts/fetch-models")]
    Inference(String),
    #[error(transparent)]
    Image(#[from] crate::ImageError),
}

impl From<OnnxError> for OcrError {
    fn from(e: OnnxError) -> Self {
        match e {
            OnnxError::ModelLoad { path, reason } => Self::ModelLoad { path, reason },
            OnnxError::Inference(reason) => Self::Inference(reason),
            runtime => Self::Runtime(runtime),
        }
    }
}

/// Where the models live: `$KYCD_MODEL_DIR`, else `./models`.
pub fn default_model_dir() -> PathBuf {
    std::env::var_os(MODEL_DIR_ENV).map_or_else(|| PathBuf::from("models"), PathBuf::from)
}

/// Whether both model files exist in `dir` (not whether they are the right ones).
pub fn models_present(dir: &Path) -> bool {
    dir.join(DET_MODEL_FILE).is_file() && dir.join(REC_MODEL_FILE).is_file()
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

fn dist(a: Point, b: Point) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// One recognised character with the recogniser's other candidates for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Glyph {
    pub ch: char,
    pub prob: f32,
    /// Horizontal centre in the recogniser's input (pixels at height [`REC_HEIGHT`]).
    pub x: f32,
    /// The most probable classes over the character's columns (the character itself
    /// first), with their highest probability there; at most [`ALTERNATIVES`].
    pub alternatives: Vec<(char, f32)>,
}

/// How many candidates [`Glyph::alternatives`] keeps.
pub const ALTERNATIVES: usize = 8;

/// One recognised line.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the characters kept.
    pub confidence: f32,
    /// One entry per character of `text`.
    pub glyphs: Vec<Glyph>,
}

/// The two PP-OCR models and the recogniser's alphabet. `Send + Sync`: share one in an
/// `Arc`; concurrent calls are safe (they take turns on each model, whose runs use every
/// core).
pub struct Ocr {
    det: OnnxModel,
    rec: OnnxModel,
    /// Class index → character; index 0 is the CTC blank (never emitted).
    classes: Vec<char>,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr").field("classes", &self.classes.len()).finish_non_exhaustive()
    }
}

impl Ocr {
    /// Load both models from `dir` (see [`default_model_dir`]).
    pub fn load(dir: &Path) -> Result<Self, OcrError> {
        let det_path = dir.join(DET_MODEL_FILE);
        let rec_path = dir.join(REC_MODEL_FILE);
        // Say which file is missing before spending time on the other.
        for p in [&det_path, &rec_path] {
            if !p.is_file() {
                return Err(OcrError::ModelMissing(p.clone()));
            }
        }
        let det = OnnxModel::load(dir, DET_MODEL_FILE)?;
        let rec = OnnxModel::load(dir, REC_MODEL_FILE)?;
        let list = rec
            .metadata("character")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| OcrError::NoCharacterList(rec_path.clone()))?;
        let mut classes = vec!['\0'];
        classes.extend(list.lines().map(|l| l.chars().next().unwrap_or(' ')));
        classes.push(' ');
        Ok(Self { det, rec, classes })
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

    /// Run one of the two models on one input; its first output.
    fn run(&self, model: &OnnxModel, shape: &[usize], data: Vec<f32>) -> Result<crate::onnx::Output, OcrError> {
        model
            .run(shape, data, &[])?
            .into_iter()
            .next()
            .ok_or_else(|| OcrError::Inference("the model gave no output".into()))
    }

    /// Recognise the text in `region` of `img` (sampled upright at [`REC_HEIGHT`]).
    pub fn recognise(&self, img: &GrayImage, region: &TextBox) -> Result<TextLine, OcrError> {
        let crop = crop_upright(img, region, REC_HEIGHT, REC_MAX_WIDTH);
        self.recognise_crop(&crop)
    }

    /// [`recognise`](Self::recognise) with the line stretched (`x_scale` > 1) or squeezed
    /// along the text before reading: more or fewer recogniser steps per character, which
    /// recovers characters a greedy CTC decode dropped or doubled at the natural width.
    pub fn recognise_scaled(&self, img: &GrayImage, region: &TextBox, x_scale: f32) -> Result<TextLine, OcrError> {
        let ratio = region.length() / region.height().max(1.0);
        let out_w = ((ratio * REC_HEIGHT as f32 * x_scale).round() as u32).clamp(8, REC_MAX_WIDTH);
        self.recognise_crop(&sample_quad(img, &region.corners, out_w, REC_HEIGHT))
    }

    /// Recognise an already upright crop of one line of text (any size: it is scaled to
    /// [`REC_HEIGHT`]).
    pub fn recognise_crop(&self, crop: &GrayImage) -> Result<TextLine, OcrError> {
        let crop = if crop.height() == REC_HEIGHT {
            crop.clone()
        } else {
            let w = ((crop.width() as f32 * REC_HEIGHT as f32 / crop.height().max(1) as f32).round() as u32).clamp(8, REC_MAX_WIDTH);
            let quad = TextBox {
                corners: [
                    (0.0, 0.0),
                    (crop.width() as f32, 0.0),
                    (crop.width() as f32, crop.height() as f32),
                    (0.0, crop.height() as f32),
                ],
                score: 1.0,
            };
            sample_quad(crop, &quad.corners, w, REC_HEIGHT)
        };
        let crop = stretch_contrast(&crop);
        let (cw, ch) = (crop.width() as usize, crop.height() as usize);
        // The recogniser reads long lines worse than short ones (a 44-character MRZ line
        // read whole loses characters that its halves read correctly): cut lines wider
        // than REC_SEGMENT into overlapping segments of equal width, run them as one
        // batch, and join the characters at a gap inside each overlap.
        let seg = REC_SEGMENT as usize;
        let (n, seg_w) = if cw <= seg {
            (1, cw.div_ceil(8).max(2) * 8)
        } else {
            let ov = REC_OVERLAP as usize;
            let n = (cw - ov).div_ceil(seg - ov);
            (n, (cw + (n - 1) * ov).div_ceil(n).div_ceil(8) * 8)
        };
        let starts: Vec<usize> = (0..n)
            .map(|i| if n == 1 { 0 } else { (cw.saturating_sub(seg_w)) * i / (n - 1) })
            .collect();
        // Normalised to [-1, 1]; columns past the crop (padding) are the model's 0.
        let mut data = vec![0f32; n * 3 * ch * seg_w];
        let src = crop.as_raw();
        for (b, &x0) in starts.iter().enumerate() {
            for y in 0..ch {
                for x in 0..seg_w {
                    let Some(&v) = src.get(y * cw + x0 + x).filter(|_| x0 + x < cw) else {
                        continue;
                    };
                    let v = f32::from(v) / 127.5 - 1.0;
                    for c in 0..3 {
                        data[((b * 3 + c) * ch + y) * seg_w + x] = v;
                    }
                }
            }
        }
        let out = self.run(&self.rec, &[n, 3, ch, seg_w], data)?;
        let &[batch, steps, classes] = out.shape.as_slice() else {
            return Err(OcrError::Inference(format!("unexpected recogniser output {:?}", out.shape)));
        };
        if batch != n || steps == 0 {
            return Err(OcrError::Inference(format!(
                "unexpected recogniser output {batch}×{steps}×{classes}"
            )));
        }
        let stride = seg_w as f32 / steps as f32;
        let all = out.data;
        let per = steps * classes;
        let mut pieces: Vec<TextLine> = Vec::with_capacity(n);
        for (b, &x0) in starts.iter().enumerate() {
            let mut line = ctc_greedy(&all[b * per..(b + 1) * per], steps, classes, &self.classes);
            for g in &mut line.glyphs {
                g.x = x0 as f32 + g.x * stride;
            }
            pieces.push(line);
        }
        Ok(join_segments(pieces, &starts, seg_w))
    }
}

/// Map the crop's 1st–99th percentile of brightness onto the full range: dim, low-contrast
/// captures (low light, haze) read like well-exposed ones. Flat crops are left alone.
fn stretch_contrast(img: &GrayImage) -> GrayImage {
    let mut hist = [0usize; 256];
    for &v in img.as_raw() {
        hist[usize::from(v)] += 1;
    }
    let n = img.as_raw().len();
    let at = |q: f32| {
        let target = (n as f32 * q) as usize;
        let mut acc = 0;
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc > target {
                return v as f32;
            }
        }
        255.0
    };
    let (lo, hi) = (at(0.01), at(0.99));
    if hi - lo < 24.0 {
        return img.clone();
    }
    let lut: Vec<u8> = (0..256)
        .map(|v| ((v as f32 - lo) * 255.0 / (hi - lo)).round().clamp(0.0, 255.0) as u8)
        .collect();
    let mut out = img.clone();
    for p in out.iter_mut() {
        *p = lut[usize::from(*p)];
    }
    out
}

/// Join the readings of overlapping segments (`starts`, each `seg_w` wide). Between two
/// neighbours the join is made at a character both read at the same place (within a
/// quarter of the line height), the one nearest the middle of their overlap; failing
/// that, at the widest gap between characters in the middle of the overlap.
fn join_segments(pieces: Vec<TextLine>, starts: &[usize], seg_w: usize) -> TextLine {
    let tolerance = REC_HEIGHT as f32 / 4.0;
    let mut glyphs: Vec<Glyph> = Vec::new();
    // Glyphs of the current piece from this index on are still to be taken.
    let mut from = 0usize;
    for (i, piece) in pieces.iter().enumerate() {
        let Some(next) = pieces.get(i + 1) else {
            glyphs.extend(piece.glyphs.iter().skip(from).cloned());
            break;
        };
        let (o0, o1) = (starts[i + 1] as f32, (starts[i] + seg_w) as f32);
        let (m0, m1) = (o0 + 0.25 * (o1 - o0), o1 - 0.25 * (o1 - o0));
        let centre = (o0 + o1) / 2.0;
        // (index in piece, index in next) of a character both read at the same place.
        let matched = piece
            .glyphs
            .iter()
            .enumerate()
            .skip(from)
            .filter(|(_, g)| (m0..m1).contains(&g.x))
            .filter_map(|(a, g)| {
                next.glyphs
                    .iter()
                    .position(|h| h.ch == g.ch && (h.x - g.x).abs() <= tolerance)
                    .map(|b| (a, b, (g.x - centre).abs()))
            })
            .min_by(|x, y| x.2.total_cmp(&y.2));
        let (take_to, next_from) = match matched {
            Some((a, b, _)) => (a + 1, b + 1),
            None => {
                let xs: Vec<f32> = piece.glyphs.iter().map(|g| g.x).filter(|x| (m0..m1).contains(x)).collect();
                let (mut cut, mut widest, mut prev) = (centre, 0f32, m0);
                for &x in xs.iter().chain(std::iter::once(&m1)) {
                    if x - prev > widest {
                        widest = x - prev;
                        cut = (x + prev) / 2.0;
                    }
                    prev = x;
                }
                (
                    piece.glyphs.iter().position(|g| g.x >= cut).unwrap_or(piece.glyphs.len()),
                    next.glyphs.iter().position(|g| g.x >= cut).unwrap_or(next.glyphs.len()),
                )
            }
        };
        glyphs.extend(piece.glyphs.iter().take(take_to).skip(from).cloned());
        from = next_from;
    }
    let text = glyphs.iter().map(|g| g.ch).collect();
    let confidence = if glyphs.is_empty() {
        0.0
    } else {
        glyphs.iter().map(|g| g.prob).sum::<f32>() / glyphs.len() as f32
    };
    TextLine { text, confidence, glyphs }
}

/// The `k` most probable non-blank classes of one column, best first.
fn top_k(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut top: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    for (i, &v) in row.iter().enumerate().skip(1) {
        if top.len() == k && top.last().is_some_and(|t| t.1 >= v) {
            continue;
        }
        let at = top.iter().position(|t| t.1 < v).unwrap_or(top.len());
        top.insert(at, (i, v));
        top.truncate(k);
    }
    top
}

/// Greedy CTC decoding of `steps × classes` probabilities.
fn ctc_greedy(p: &[f32], steps: usize, classes: usize, alphabet: &[char]) -> TextLine {
    let rows: Vec<&[f32]> = p.chunks_exact(classes.max(1)).take(steps).collect();
    let best: Vec<(usize, f32)> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::MIN), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc })
        })
        .collect();
    let mut text = String::new();
    let mut glyphs = Vec::new();
    let mut t = 0;
    while t < best.len() {
        let (class, _) = best[t];
        let mut end = t + 1;
        while end < best.len() && best[end].0 == class {
            end += 1;
        }
        if class != 0
            && let Some(&ch) = alphabet.get(class)
        {
            // Candidates over the run's columns, each at its highest probability.
            let mut cands: Vec<(usize, f32)> = Vec::new();
            for row in &rows[t..end] {
                for (i, v) in top_k(row, ALTERNATIVES) {
                    match cands.iter_mut().find(|c| c.0 == i) {
                        Some(c) => c.1 = c.1.max(v),
                        None => cands.push((i, v)),
                    }
                }
            }
            cands.sort_by(|a, b| b.1.total_cmp(&a.1));
            cands.truncate(ALTERNATIVES);
            let prob = best[t..end].iter().map(|b| b.1).fold(0f32, f32::max);
            text.push(ch);
            glyphs.push(Glyph {
                ch,
                prob,
                // In output columns here; the caller scales by the model's stride.
                x: (t + end) as f32 / 2.0,
                alternatives: cands.iter().filter_map(|&(i, v)| alphabet.get(i).map(|&c| (c, v))).collect(),
            });
        }
        t = end;
    }
    let confidence = if glyphs.is_empty() {
        0.0
    } else {
        glyphs.iter().map(|g| g.prob).sum::<f32>() / glyphs.len() as f32
    };
    TextLine { text, confidence, glyphs }
}

/// Detector input size: short side [`DET_SHORT_SIDE`], long side at most [`DET_MAX_SIDE`],
/// both multiples of 32.
fn det_size(w: u32, h: u32) -> (u32, u32) {
    let short = w.min(h) as f32;
    let long = w.max(h) as f32;
    let scale = (DET_SHORT_SIDE as f32 / short).min(DET_MAX_SIDE as f32 / long);
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
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            let (fx, fy) = (x as f64, y as f64);
            n += 1.0;
            sx += fx;
            sy += fy;
            sxx += fx * fx;
            syy += fy * fy;
            sxy += fx * fy;
            sp += f64::from(prob[i]);
            pixels.push((x as f32, y as f32));
            let mut visit = |j: usize| {
                if label[j] == 0 && prob[j] > DET_THRESHOLD {
                    label[j] = next;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
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

/// Sample `region` of `img` upright at height `out_h` (width from the aspect ratio, at
/// most `max_w`).
pub fn crop_upright(img: &GrayImage, region: &TextBox, out_h: u32, max_w: u32) -> GrayImage {
    let ratio = region.length() / region.height().max(1.0);
    let out_w = ((ratio * out_h as f32).round() as u32).clamp(8, max_w);
    sample_quad(img, &region.corners, out_w, out_h)
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
    let sample = |x: f32, y: f32| -> f32 {
        let x = (x - 0.5).clamp(0.0, (w - 1) as f32);
        let y = (y - 0.5).clamp(0.0, (h - 1) as f32);
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (ax, ay) = (x - x0 as f32, y - y0 as f32);
        let p = |xx: usize, yy: usize| f32::from(src[yy * w + xx]);
        let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * ax;
        let bot = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * ax;
        top + (bot - top) * ay
    };
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
                    acc += sample(tx + (bx - tx) * v, ty + (by - ty) * v);
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
    fn ctc_merges_repeats_and_drops_blanks() {
        let alphabet = ['\0', 'A', '<', ' '];
        // Columns: A A blank A < < blank <
        let best = [1usize, 1, 0, 1, 2, 2, 0, 2];
        let mut p = Vec::new();
        for b in best {
            let mut row = [0.1f32; 4];
            row[b] = 0.9;
            p.extend_from_slice(&row);
        }
        let t = ctc_greedy(&p, best.len(), 4, &alphabet);
        assert_eq!(t.text, "AA<<");
        assert!((t.confidence - 0.9).abs() < 1e-6);
        assert_eq!(t.glyphs.len(), 4);
        assert_eq!(t.glyphs[0].alternatives[0], ('A', 0.9));
        assert_eq!(top_k(&[0.5, 0.1, 0.3, 0.2], 2), vec![(2, 0.3), (3, 0.2)]);
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
    fn segments_are_joined_at_a_gap_in_their_overlap() {
        let g = |ch: char, x: f32| Glyph {
            ch,
            prob: 0.9,
            x,
            alternatives: vec![(ch, 0.9)],
        };
        let line = |gs: Vec<Glyph>| TextLine {
            text: gs.iter().map(|g| g.ch).collect(),
            confidence: 0.9,
            glyphs: gs,
        };
        // Segments [0, 100) and [60, 160): both read the characters at 70 and 90.
        let a = line(vec![g('A', 10.0), g('B', 40.0), g('C', 70.0), g('D', 90.0)]);
        let b = line(vec![g('C', 71.0), g('D', 89.0), g('E', 120.0), g('F', 150.0)]);
        let joined = join_segments(vec![a.clone(), b.clone()], &[0, 60], 100);
        assert_eq!(joined.text, "ABCDEF");
        // The segments disagree on one character: joined at the one they agree on.
        let b2 = line(vec![g('G', 71.0), g('D', 89.0), g('E', 120.0), g('F', 150.0)]);
        let joined = join_segments(vec![a.clone(), b2], &[0, 60], 100);
        assert_eq!(joined.text, "ABCDEF");
        // Nothing in common: cut at the widest gap in the middle of the overlap.
        let b3 = line(vec![g('X', 72.0), g('D', 104.0), g('E', 120.0), g('F', 150.0)]);
        let joined = join_segments(vec![a, b3], &[0, 60], 100);
        assert_eq!(joined.text, "ABCDEF");
        // Three segments.
        let c = line(vec![g('E', 121.0), g('F', 149.0), g('G', 190.0)]);
        let b = line(vec![g('C', 71.0), g('D', 89.0), g('E', 120.0), g('F', 150.0)]);
        let a = line(vec![g('A', 10.0), g('B', 40.0), g('C', 70.0), g('D', 90.0)]);
        let joined = join_segments(vec![a, b, c], &[0, 60, 110], 100);
        assert_eq!(joined.text, "ABCDEFG");
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
