//! onnxruntime through the `ort` crate: the shared library is loaded at run time from
//! `ORT_DYLIB_PATH` (the onnxruntime Python wheel's `capi/libonnxruntime.so.*`, which
//! `scripts/bench-peers.sh` installs and finds).

use gos_opt::verify::InputSet;
use ort::environment::Environment;
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::TensorRef;
use std::path::Path;

/// Loads the library named by `ORT_DYLIB_PATH` and creates the environment sessions live in;
/// the error says why onnxruntime cannot be benched.
pub fn environment() -> Result<Environment, String> {
    let path = std::env::var_os("ORT_DYLIB_PATH")
        .filter(|p| !p.is_empty())
        .ok_or("ORT_DYLIB_PATH is not set (scripts/bench-peers.sh installs the onnxruntime wheel and sets it)")?;
    if !Path::new(&path).is_file() {
        return Err(format!("ORT_DYLIB_PATH={} is not a file", Path::new(&path).display()));
    }
    ort::init_from(&path).map_err(|e| e.to_string())?.with_name("emit-bench").build().map_err(|e| e.to_string())
}

/// One model in onnxruntime: one intra-op thread, one inter-op thread, every graph
/// optimization on (QDQ models run as onnxruntime's own int8 kernels).
pub struct OrtModel {
    session: Session,
}

impl OrtModel {
    /// Loads the ONNX file at `onnx`.
    pub fn load(env: &Environment, onnx: &Path) -> Result<OrtModel, String> {
        let text = |e: ort::Error<ort::session::builder::SessionBuilder>| e.to_string();
        let session = Session::builder(env)
            .map_err(|e| e.to_string())?
            .with_intra_threads(1)
            .map_err(text)?
            .with_inter_threads(1)
            .map_err(text)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(text)?
            .commit_from_file(onnx)
            .map_err(|e| format!("{}: {e}", onnx.display()))?;
        Ok(OrtModel { session })
    }

    /// Runs on `set` (float inputs by name) and returns the first output (float).
    pub fn run(&mut self, set: &InputSet) -> Result<Vec<f32>, String> {
        let inputs = set
            .iter()
            .map(|(name, t)| {
                let data = t.as_f32().ok_or_else(|| format!("input {name} is not float"))?;
                let value = TensorRef::from_array_view((t.shape.clone(), data)).map_err(|e| e.to_string())?;
                Ok((name.as_str(), value))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let outputs = self.session.run(inputs).map_err(|e| e.to_string())?;
        let (_, y) = outputs[0].try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        Ok(y.to_vec())
    }
}
