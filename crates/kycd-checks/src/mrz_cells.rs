//! The per-cell classifier of the MRZ reader: one character cell image
//! ([`crate::mrz_zone::cell_image`]) in, a probability for each of the 37 MRZ characters
//! out.
//!
//! The model is kycd's own: a small convolutional network trained by
//! `scripts/train-mrz-cells` on OCR-B cells cut from the project's synthetic document
//! photos (`examples/mrz_cells.rs` writes them) under blur, noise, JPEG, low light,
//! glare, perspective and low resolution. Its weights (`models/mrz_cells.onnx` in this
//! crate, about 0.3 MB) are compiled into kycd and run on ONNX Runtime
//! ([`crate::onnx`]); docs/checks.md says how to retrain it.

use crate::mrz_zone::{CELL_H, CELL_W};
use crate::onnx::{OnnxError, OnnxModel};
use std::path::Path;

/// The classes, in the model's output order.
pub const ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<";
pub const CLASSES: usize = ALPHABET.len();

/// The committed model (see the module documentation).
const MODEL: &[u8] = include_bytes!("../models/mrz_cells.onnx");
/// Its name in errors.
const MODEL_NAME: &str = "mrz_cells.onnx (compiled in)";

/// Index of an MRZ character in [`ALPHABET`].
pub fn class_of(c: char) -> Option<usize> {
    ALPHABET.iter().position(|&a| char::from(a) == c)
}

pub fn char_of(class: usize) -> char {
    ALPHABET.get(class).map_or('?', |&a| char::from(a))
}

/// The classifier, loaded. `Send + Sync`.
#[derive(Debug)]
pub struct CellModel {
    model: OnnxModel,
}

impl CellModel {
    /// Load the compiled-in model on the runtime library in `model_dir`.
    pub fn load(model_dir: &Path) -> Result<Self, OnnxError> {
        Ok(Self {
            model: OnnxModel::load_bytes(model_dir, MODEL_NAME, MODEL)?,
        })
    }

    /// Class probabilities for each cell image (each `CELL_W × CELL_H`, row-major).
    pub fn classify(&self, cells: &[Vec<f32>]) -> Result<Vec<[f32; CLASSES]>, OnnxError> {
        if cells.is_empty() {
            return Ok(Vec::new());
        }
        let mut data = Vec::with_capacity(cells.len() * CELL_W * CELL_H);
        for c in cells {
            if c.len() != CELL_W * CELL_H {
                return Err(OnnxError::Inference(format!("a cell image of {} values", c.len())));
            }
            data.extend_from_slice(c);
        }
        let out = self.model.run(&[cells.len(), 1, CELL_H, CELL_W], data, &[])?;
        let out = out.into_iter().next().ok_or_else(|| OnnxError::Inference("no output".into()))?;
        if out.shape != [cells.len(), CLASSES] {
            return Err(OnnxError::Inference(format!("unexpected cell classifier output {:?}", out.shape)));
        }
        Ok(out
            .data
            .chunks_exact(CLASSES)
            .map(|row| {
                let mut p = [0f32; CLASSES];
                p.copy_from_slice(row);
                p
            })
            .collect())
    }
}

/// The classical alternative, kept to measure against the model (`examples/mrz_corpus`
/// with `--templates`): normalised cross-correlation of the cell with one template per
/// character (the mean of its training cells), the best of small shifts, turned into
/// probabilities by a softmax.
#[derive(Debug, Clone)]
pub struct Templates {
    /// Per class: the template, zero-mean and unit-norm.
    templates: Vec<Vec<f32>>,
    /// Softmax sharpness applied to the correlations.
    pub sharpness: f32,
}

fn zero_mean_unit(v: &[f32]) -> Vec<f32> {
    let m = v.iter().sum::<f32>() / v.len().max(1) as f32;
    let c: Vec<f32> = v.iter().map(|x| x - m).collect();
    let norm = c.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    c.into_iter().map(|x| x / norm).collect()
}

impl Templates {
    /// From one mean image per class, in [`ALPHABET`] order.
    pub fn new(means: &[Vec<f32>]) -> Self {
        Self {
            templates: means.iter().map(|m| zero_mean_unit(m)).collect(),
            sharpness: 40.0,
        }
    }

    pub fn classify(&self, cells: &[Vec<f32>]) -> Vec<[f32; CLASSES]> {
        cells
            .iter()
            .map(|cell| {
                let mut best = [f32::MIN; CLASSES];
                // Shifts of up to two pixels each way: the grid is not exact.
                for dy in -2i32..=2 {
                    for dx in -2i32..=2 {
                        let shifted: Vec<f32> = (0..CELL_H as i32)
                            .flat_map(|y| (0..CELL_W as i32).map(move |x| (x, y)))
                            .map(|(x, y)| {
                                let (sx, sy) = (x + dx, y + dy);
                                if (0..CELL_W as i32).contains(&sx) && (0..CELL_H as i32).contains(&sy) {
                                    cell[sy as usize * CELL_W + sx as usize]
                                } else {
                                    0.0
                                }
                            })
                            .collect();
                        let s = zero_mean_unit(&shifted);
                        for (k, t) in self.templates.iter().enumerate() {
                            let ncc: f32 = s.iter().zip(t).map(|(a, b)| a * b).sum();
                            best[k] = best[k].max(ncc);
                        }
                    }
                }
                let top = best.iter().copied().fold(f32::MIN, f32::max);
                let mut p = [0f32; CLASSES];
                let mut sum = 0.0;
                for (o, &b) in p.iter_mut().zip(&best) {
                    *o = ((b - top) * self.sharpness).exp();
                    sum += *o;
                }
                for o in &mut p {
                    *o /= sum;
                }
                p
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_maps_both_ways() {
        for (c, class) in [('0', Some(0)), ('A', Some(10)), ('<', Some(36)), ('a', None)] {
            assert_eq!(class_of(c), class, "{c}");
        }
        for k in 0..CLASSES {
            assert_eq!(class_of(char_of(k)), Some(k));
        }
    }

    #[test]
    fn templates_pick_the_matching_glyph() {
        // Two fake glyphs: a vertical and a horizontal bar.
        let bar = |vertical: bool| -> Vec<f32> {
            (0..CELL_H)
                .flat_map(|y| (0..CELL_W).map(move |x| (x, y)))
                .map(|(x, y)| {
                    if (vertical && (9..11).contains(&x)) || (!vertical && (11..13).contains(&y)) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let mut means = vec![vec![0.0; CELL_W * CELL_H]; CLASSES];
        means[1] = bar(true);
        means[36] = bar(false);
        let t = Templates::new(&means);
        // The vertical bar shifted by one pixel still reads as class 1.
        let mut cell = vec![0.0; CELL_W * CELL_H];
        for y in 0..CELL_H {
            cell[y * CELL_W + 11] = 1.0;
        }
        let p = t.classify(&[cell]);
        let best = (0..CLASSES).max_by(|&a, &b| p[0][a].total_cmp(&p[0][b])).unwrap();
        assert_eq!(best, 1);
    }
}
