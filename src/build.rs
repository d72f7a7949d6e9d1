//! The build-step API: compile a model into Rust from a `build.rs`, through the same pipeline
//! as the command line (import, rewrite by mode, verify, emit), so nothing unverified is written.
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
use crate::pipeline::{Mode, Options, Outcome, PipelineError};
use std::path::{Path, PathBuf};

/// Why a build step failed. Nothing was written then.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The model could not be read.
    #[error("{path}: {cause}")]
    Import { path: String, cause: ImportError },
    /// The target is unknown or its profile unreadable, optimization failed, or the rewritten
    /// model failed verification ([`PipelineError::is_verification`]).
    #[error(transparent)]
    Pipeline(PipelineError),
    /// Rust could not be emitted.
    #[error(transparent)]
    Emit(#[from] EmitError),
}

impl From<PipelineError> for BuildError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Import { path, cause } => BuildError::Import { path, cause },
            PipelineError::Emit(e) => BuildError::Emit(e),
            e => BuildError::Pipeline(e),
        }
    }
}

/// Compiles an ONNX model into a Rust module, for `build.rs`.
#[derive(Clone, Debug)]
pub struct Builder {
    opts: Options,
    rerun_if_changed: bool,
}

impl Builder {
    /// A builder for the model at `model`: target `host`, no rewrites (`Mode::None`).
    pub fn new(model: impl AsRef<Path>) -> Builder {
        Builder {
            opts: Options {
                input: model.as_ref().to_path_buf(),
                output: None,
                target: "host".into(),
                target_file: None,
                objective: crate::cost::Objective::default(),
                mode: Mode::None,
                import: ImportOptions::default(),
                rules: Vec::new(),
                limits: crate::search::Limits::default(),
                emit_rust: None,
                emit_options: EmitOptions::default(),
                approx: None,
                checks: Default::default(),
            },
            rerun_if_changed: true,
        }
    }

    /// The target profile extraction optimizes for (`gos-opt targets` lists them).
    pub fn target(mut self, target: &str) -> Builder {
        self.opts.target = target.to_string();
        self
    }

    /// A user's target profile file (as `--target-file`), used instead of a shipped target.
    pub fn target_file(mut self, path: impl AsRef<Path>) -> Builder {
        self.opts.target_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// What extraction minimizes (default latency).
    pub fn objective(mut self, objective: crate::cost::Objective) -> Builder {
        self.opts.objective = objective;
        self
    }

    /// The rewrite mode: `Mode::Exact` emits the program exact optimization extracts;
    /// `Mode::Approx` needs [`Builder::approx`].
    pub fn mode(mut self, mode: Mode) -> Builder {
        self.opts.mode = mode;
        self
    }

    /// Approx mode's data and budget (as `--calib`, `--budget`...); sets `Mode::Approx`.
    pub fn approx(mut self, request: crate::approx::Request) -> Builder {
        self.opts.mode = Mode::Approx;
        self.opts.approx = Some(request);
        self
    }

    /// A user rule file (as `--rules`), loaded after the shipped ones.
    pub fn rules(mut self, path: impl AsRef<Path>) -> Builder {
        self.opts.rules.push(path.as_ref().to_path_buf());
        self
    }

    /// Saturation limits (as `--node-limit`, `--iter-limit`, `--time-limit`).
    pub fn limits(mut self, limits: crate::search::Limits) -> Builder {
        self.opts.limits = limits;
        self
    }

    /// A static shape for an input with dynamic dimensions.
    pub fn input_shape(mut self, name: &str, dims: &[usize]) -> Builder {
        self.opts.import.input_shapes.insert(name.to_string(), dims.to_vec());
        self
    }

    /// How quantized (QDQ) nodes are computed (default: integer kernels).
    pub fn quantized(mut self, quantized: Quantized) -> Builder {
        self.opts.emit_options.quantized = quantized;
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for the model and the rule files (default
    /// true; turn off outside build scripts).
    pub fn rerun_if_changed(mut self, on: bool) -> Builder {
        self.rerun_if_changed = on;
        self
    }

    /// Runs the pipeline on the model (rewrites by mode, verification against the original)
    /// and writes `out_dir/model.rs` (and `out_dir/weights.bin` for large weights) and the
    /// verified model as `out_dir/MODEL.opt.onnx`.
    pub fn emit_rust(&self, out_dir: impl AsRef<Path>) -> Result<EmitReport, BuildError> {
        Ok(self.run(out_dir.as_ref())?.emit.expect("the pipeline emits Rust when asked to"))
    }

    /// [`Builder::emit_rust`], returning the whole run (verification, costs, approx figures)
    /// for a report ([`crate::report::Report`]).
    pub fn run(&self, out_dir: &Path) -> Result<Outcome, BuildError> {
        if self.rerun_if_changed {
            for path in std::iter::once(&self.opts.input).chain(&self.opts.rules).chain(&self.opts.target_file) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        let name = crate::pipeline::default_output(&self.opts.input);
        let output: PathBuf = out_dir.join(name.file_name().unwrap_or("model.opt.onnx".as_ref()));
        let opts = Options { output: Some(output), emit_rust: Some(out_dir.to_path_buf()), ..self.opts.clone() };
        Ok(crate::pipeline::run(&opts)?)
    }

    /// The pipeline options this builder runs with (output paths set by [`Builder::run`]).
    pub fn options(&self) -> &Options {
        &self.opts
    }
}
