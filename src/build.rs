//! The build-step API: compile a model into Rust from a `build.rs`.
//!
//! ```no_run
//! // build.rs
//! let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
//! gos_opt::build::Builder::new("model.onnx").target("cortex-m4").emit_rust(&out).unwrap();
//! ```
//!
//! and in the crate: `mod model { include!(concat!(env!("OUT_DIR"), "/model.rs")); }`.

use crate::emit::{EmitError, EmitOptions, EmitReport, Quantized};
use crate::onnx::{ImportError, ImportOptions};
use crate::pipeline::{Mode, PipelineError};
use std::path::{Path, PathBuf};

/// Why a build step failed.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The model could not be read.
    #[error("{path}: {cause}")]
    Import { path: String, cause: ImportError },
    /// The target is unknown or its profile unreadable, or optimization failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// Rust could not be emitted.
    #[error(transparent)]
    Emit(#[from] EmitError),
}

/// Compiles an ONNX model into a Rust module, for `build.rs`.
#[derive(Clone, Debug)]
pub struct Builder {
    model: PathBuf,
    target: String,
    mode: Mode,
    import: ImportOptions,
    rerun_if_changed: bool,
    emit: EmitOptions,
}

impl Builder {
    /// A builder for the model at `model`: target `host`, no rewrites (`Mode::None`).
    pub fn new(model: impl AsRef<Path>) -> Builder {
        Builder {
            model: model.as_ref().to_path_buf(),
            target: "host".into(),
            mode: Mode::None,
            import: ImportOptions::default(),
            rerun_if_changed: true,
            emit: EmitOptions::default(),
        }
    }

    /// The target profile extraction optimizes for (`gos-opt targets` lists them).
    pub fn target(mut self, target: &str) -> Builder {
        self.target = target.to_string();
        self
    }

    /// The rewrite mode: `Mode::Exact` emits the program exact optimization extracts.
    pub fn mode(mut self, mode: Mode) -> Builder {
        self.mode = mode;
        self
    }

    /// A static shape for an input with dynamic dimensions.
    pub fn input_shape(mut self, name: &str, dims: &[usize]) -> Builder {
        self.import.input_shapes.insert(name.to_string(), dims.to_vec());
        self
    }

    /// How quantized (QDQ) nodes are computed (default: integer kernels).
    pub fn quantized(mut self, quantized: Quantized) -> Builder {
        self.emit.quantized = quantized;
        self
    }

    /// Whether to print `cargo:rerun-if-changed=MODEL` (default true; turn off outside build
    /// scripts).
    pub fn rerun_if_changed(mut self, on: bool) -> Builder {
        self.rerun_if_changed = on;
        self
    }

    /// Imports (and optimizes, by mode) the model and writes `out_dir/model.rs` (and
    /// `out_dir/weights.bin` for large weights).
    pub fn emit_rust(&self, out_dir: impl AsRef<Path>) -> Result<EmitReport, BuildError> {
        if self.rerun_if_changed {
            println!("cargo:rerun-if-changed={}", self.model.display());
        }
        let import_err = |cause| BuildError::Import { path: self.model.display().to_string(), cause };
        let mut graph = crate::onnx::import(&self.model, &self.import).map_err(import_err)?;
        match self.mode {
            Mode::None => {}
            Mode::Exact => {
                if crate::cost::shipped_source(&self.target).is_none() {
                    return Err(PipelineError::UnknownTarget(self.target.clone()).into());
                }
                let profile = crate::cost::resolve(Some(&self.target), None).map_err(PipelineError::from)?;
                let rules = crate::rules::RuleSet::load(&[], &crate::rules::Functions).map_err(PipelineError::from)?;
                let (optimized, _) = crate::pipeline::optimize_exact(
                    &graph,
                    &rules,
                    &profile,
                    crate::cost::Objective::default(),
                    &crate::search::Limits::default(),
                )?;
                graph = optimized;
            }
            Mode::Approx => return Err(PipelineError::ApproxArgs.into()),
        }
        Ok(crate::emit::emit_rust_with(&graph, out_dir.as_ref(), &self.emit)?)
    }
}
