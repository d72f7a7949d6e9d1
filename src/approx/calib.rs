//! Running models on data with tract: a model's outputs on every sample, and the calibration
//! activations of the original model (the values of its intermediate tensors on the
//! calibration samples) that fitting functions read.

use super::data::Dataset;
use crate::fit::Samples;
use crate::tensor::{DType, Tensor, TensorType};
use crate::tract::Runnable;
use std::collections::HashMap;
use std::path::Path;

/// Why a model could not be run on the data.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {cause}")]
pub struct RunError {
    /// Which model or stage.
    pub what: String,
    /// tract's message or the mismatch.
    pub cause: String,
}

/// The outputs of the model `bytes` on every sample of `data`, in order.
pub fn outputs(
    what: &str,
    bytes: &[u8],
    dir: Option<&Path>,
    input_types: &HashMap<String, TensorType>,
    data: &Dataset,
) -> Result<Vec<Vec<Tensor>>, RunError> {
    let err = |cause: String| RunError { what: what.to_string(), cause };
    let runnable = Runnable::new(bytes, dir, input_types).map_err(|e| err(e.to_string()))?;
    run_all(&runnable, data).map_err(err)
}

fn run_all(runnable: &Runnable, data: &Dataset) -> Result<Vec<Vec<Tensor>>, String> {
    data.samples
        .iter()
        .map(|sample| {
            let inputs = runnable
                .input_names
                .iter()
                .map(|n| sample.get(n).cloned().ok_or_else(|| format!("the data has no tensor for input '{n}'")))
                .collect::<Result<Vec<_>, _>>()?;
            runnable.run(&inputs).map_err(|e| e.to_string())
        })
        .collect()
}

/// Most values kept per tensor (across samples): more samples than fit are subsampled.
const MAX_VALUES_PER_TENSOR: usize = 8 << 20;

/// Calibration activations by value name: the per-sample float tensors (batch 1) stacked along
/// axis 0 ([`Samples`]); a large tensor keeps its first samples only, within a fixed size.
#[derive(Debug, Default)]
pub struct Activations {
    by_name: HashMap<String, Samples>,
}

impl Activations {
    /// The samples of the value `name`, when captured.
    pub fn get(&self, name: &str) -> Option<&Samples> {
        self.by_name.get(name)
    }

    /// Number of values captured.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Captures the values `names` (float tensors whose first dimension is 1, with their types) of
/// the model `bytes` on `data`'s samples, and the float inputs themselves.
pub fn capture(
    bytes: &[u8],
    dir: Option<&Path>,
    input_types: &HashMap<String, TensorType>,
    names: &[(String, TensorType)],
    data: &Dataset,
) -> Result<Activations, RunError> {
    let batch_one = |t: &TensorType| t.dtype == DType::F32 && t.shape.first() == Some(&1) && t.numel() > 0;
    let keep = |t: &TensorType| (MAX_VALUES_PER_TENSOR / t.numel()).clamp(1, data.len());
    let mut by_name = HashMap::new();
    for (name, ty) in input_types.iter().filter(|(_, t)| batch_one(t)) {
        let stacked: Vec<&Tensor> = data.samples.iter().take(keep(ty)).filter_map(|s| s.get(name)).collect();
        if let Some(s) = stack(&stacked, ty) {
            by_name.insert(name.clone(), s);
        }
    }
    let wanted: Vec<&(String, TensorType)> = names.iter().filter(|(_, t)| batch_one(t)).collect();
    if wanted.is_empty() {
        return Ok(Activations { by_name });
    }
    let out_names: Vec<String> = wanted.iter().map(|(n, _)| n.clone()).collect();
    let err = |cause: String| RunError { what: "capturing calibration activations".into(), cause };
    let runnable = Runnable::with_outputs(bytes, dir, input_types, &out_names).map_err(|e| err(e.to_string()))?;
    let most = wanted.iter().map(|(_, t)| keep(t)).max().unwrap_or(0);
    let runs = run_all(&runnable, &data.select(&(0..most).collect::<Vec<_>>())).map_err(err)?;
    for (k, (name, ty)) in wanted.iter().enumerate() {
        let stacked: Vec<&Tensor> = runs.iter().take(keep(ty)).map(|r| &r[k]).collect();
        if let Some(s) = stack(&stacked, ty) {
            by_name.insert(name.clone(), s);
        }
    }
    Ok(Activations { by_name })
}

/// Stacks batch-1 tensors of type `ty` along axis 0; `None` when one does not have that type.
fn stack(tensors: &[&Tensor], ty: &TensorType) -> Option<Samples> {
    let mut values = Vec::with_capacity(tensors.len() * ty.numel());
    for t in tensors {
        if t.shape != ty.shape {
            return None;
        }
        values.extend_from_slice(t.as_f32()?);
    }
    let mut shape = ty.shape.clone();
    shape[0] = tensors.len();
    Samples::from_shape_vec(shape, values).ok()
}
