//! The one neural-network runtime of kycd-checks: Microsoft's ONNX Runtime (MIT), through
//! the `ort` crate, for the PP-OCR text detector and recogniser ([`crate::ocr`]) and the
//! BlazeFace face detector ([`crate::face`]).
//!
//! The runtime is a shared library (`libonnxruntime.so`) that `scripts/fetch-models` takes
//! from Microsoft's `onnxruntime` wheel on PyPI and checks by SHA-256, into the model folder
//! beside the models; kycd loads it from there when the first model is loaded. Nothing is
//! downloaded at build or run time. It replaced `rten` (pure Rust) on 2026-12-04: on this
//! project's 2-core machine it runs both OCR models about 2× faster (docs/BENCHMARKS.md),
//! which is what brought an MRZ read under its 300 ms target.

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// File name of the runtime library inside the model folder (ONNX Runtime 1.28.0, the
/// version `scripts/fetch-models` pins; `ort`'s `api-28` feature matches it).
pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.28.0";

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("the ONNX Runtime library is not at {}: run scripts/fetch-models (it puts {RUNTIME_FILE} beside the models, in KYCD_MODEL_DIR)", .0.display())]
    RuntimeMissing(PathBuf),
    #[error("the ONNX Runtime library at {} could not be loaded ({reason}): delete it and run scripts/fetch-models again", path.display())]
    RuntimeLoad { path: PathBuf, reason: String },
    #[error("the model at {} could not be loaded ({reason}): delete it and run scripts/fetch-models again", path.display())]
    ModelLoad { path: PathBuf, reason: String },
    #[error("inference failed ({0}): the models may not match this version of kycd; run scripts/fetch-models")]
    Inference(String),
}

/// `From<OnnxError>` for a model family's error type, which has the same `ModelLoad`
/// and `Inference` variants (worded for its models) and keeps the runtime's own errors in
/// `Runtime`.
macro_rules! from_onnx_error {
    ($error:ty) => {
        impl From<$crate::onnx::OnnxError> for $error {
            fn from(e: $crate::onnx::OnnxError) -> Self {
                match e {
                    $crate::onnx::OnnxError::ModelLoad { path, reason } => Self::ModelLoad { path, reason },
                    $crate::onnx::OnnxError::Inference(reason) => Self::Inference(reason),
                    runtime => Self::Runtime(runtime),
                }
            }
        }
    };
}
pub(crate) use from_onnx_error;

fn inference(e: impl std::fmt::Display) -> OnnxError {
    OnnxError::Inference(e.to_string())
}

/// The process's ONNX Runtime environment: the library is loaded once, from the first model
/// folder asked for, and stays loaded.
static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

fn environment(model_dir: &Path) -> Result<&'static Environment, OnnxError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let _one_at_a_time = LOADING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let path = model_dir.join(RUNTIME_FILE);
    if !path.is_file() {
        return Err(OnnxError::RuntimeMissing(path));
    }
    let failed = |reason: String| OnnxError::RuntimeLoad {
        path: path.clone(),
        reason,
    };
    let env = ort::init_from(&path)
        .map_err(|e| failed(e.to_string()))?
        .with_name("kycd")
        .build()
        .map_err(|e| failed(e.to_string()))?;
    // Its default logger writes warnings to stderr; kycd reports failures as errors itself.
    env.set_log_level(ort::logging::LogLevel::Error);
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// One output of a run: its shape and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A loaded model. `Send + Sync`: ONNX Runtime needs exclusive use of a session for a run,
/// so concurrent calls take turns (each run already uses every core).
pub struct OnnxModel {
    session: Mutex<Session>,
}

debug_showing!(OnnxModel {});

impl OnnxModel {
    /// Load `model_dir/file` (the caller has checked that it exists, to name it in its own
    /// error), loading the runtime library from `model_dir` first if this is the first model.
    pub fn load(model_dir: &Path, file: &str) -> Result<Self, OnnxError> {
        Self::load_from(model_dir, file, None)
    }

    /// A model compiled into kycd (`bytes`, named `name` in errors), run by the runtime
    /// library in `model_dir`.
    pub fn load_bytes(model_dir: &Path, name: &str, bytes: &[u8]) -> Result<Self, OnnxError> {
        Self::load_from(model_dir, name, Some(bytes))
    }

    fn load_from(model_dir: &Path, file: &str, bytes: Option<&[u8]>) -> Result<Self, OnnxError> {
        let env = environment(model_dir)?;
        let path = model_dir.join(file);
        // The builder's errors carry the builder back (`Error<SessionBuilder>`), the others
        // do not: both only need their message here.
        let failed = |e: &dyn std::fmt::Display| OnnxError::ModelLoad {
            path: path.clone(),
            reason: e.to_string(),
        };
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let mut builder = Session::builder(env)
            .map_err(|e| failed(&e))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| failed(&e))?
            .with_intra_threads(threads)
            .map_err(|e| failed(&e))?
            .with_inter_threads(1)
            .map_err(|e| failed(&e))?
            // Idle runtime threads sleep instead of spinning: the server shares the cores.
            .with_intra_op_spinning(false)
            .map_err(|e| failed(&e))?;
        let session = match bytes {
            Some(b) => builder.commit_from_memory(b),
            None => builder.commit_from_file(&path),
        }
        .map_err(|e| failed(&e))?;
        Ok(Self {
            session: Mutex::new(session),
        })
    }

    /// A custom metadata entry of the model (`metadata_props` in the ONNX file).
    pub fn metadata(&self, key: &str) -> Option<String> {
        let session = self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        session.metadata().ok()?.custom(key)
    }

    /// Run the model on one `f32` input of `shape`; returns the outputs named `outputs`, in
    /// that order, or every output in the model's order when `outputs` is empty.
    pub fn run(&self, shape: &[usize], data: Vec<f32>, outputs: &[&str]) -> Result<Vec<Output>, OnnxError> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(inference(format!("input of {} values for shape {shape:?}", data.len())));
        }
        let input = Tensor::from_array((shape.to_vec(), data)).map_err(inference)?;
        let mut session = self.session.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let values = session.run(ort::inputs![input]).map_err(inference)?;
        let extract = |v: &ort::value::DynValue| -> Result<Output, OnnxError> {
            let (shape, data) = v.try_extract_tensor::<f32>().map_err(inference)?;
            Ok(Output {
                shape: shape.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect(),
                data: data.to_vec(),
            })
        };
        if outputs.is_empty() {
            return values.values().map(|v| extract(&v)).collect();
        }
        outputs
            .iter()
            .map(|name| {
                let v = values
                    .get(name)
                    .ok_or_else(|| inference(format!("the model has no output `{name}`")))?;
                extract(v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_the_runtime_says_to_fetch_it() {
        let dir = std::env::temp_dir().join(format!("kycd-onnx-missing-{}", std::process::id()));
        // Only meaningful before another test of this process loaded the runtime.
        if ENVIRONMENT.get().is_some() {
            return;
        }
        let err = OnnxModel::load(&dir, "model.onnx").map(|_| ()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, OnnxError::RuntimeMissing(_)), "{text}");
        assert!(text.contains(RUNTIME_FILE) && text.contains("scripts/fetch-models"), "{text}");
    }

    #[test]
    fn the_model_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<OnnxModel>();
    }
}
