//! The shared model suite (`../shared/models`) as the examples and benches use it: which
//! models, their static input shapes, their inputs, and a tract plan to time. Included with
//! `#[path]` by `examples/*.rs` and `benches/optimize.rs`.
#![allow(dead_code)] // each user takes its own subset

#[path = "../../tests/common/suite.rs"]
mod suite;

use gos_opt::onnx::ImportOptions;
use gos_opt::tensor::TensorType;
use gos_opt::verify::{io_names, load_test_sets, random_inputs, InputSet, RandomSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tract_onnx::prelude::{
    Framework, InferenceFact, InferenceModelExt, IntoRunnable, TValue, TVec, TypedRunnableModel,
};

/// One model of the suite.
pub struct SharedModel {
    /// `family/name`, e.g. `mlperf-tiny/resnet8`.
    pub label: String,
    /// The ONNX file.
    pub path: PathBuf,
    /// Static shapes for its inputs, from its first test set (dynamic models need them:
    /// ppocr's `x`), as `--input-shape` would give them.
    pub import: ImportOptions,
    /// Its first test set's inputs, when it has test sets for its own inputs.
    pub inputs: Option<InputSet>,
}

/// `../shared/models` beside the crate, or `None` after printing the skip notice.
pub fn models_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipping: ../shared not found");
        None
    }
}

/// The float models (mlperf-tiny, mnist-8, ppocr, trained-tiny; the `model_batchN` variants
/// left out: the same networks with a symbolic batch).
pub fn float_models(models: &Path) -> Vec<SharedModel> {
    let mut out = Vec::new();
    for m in [
        "dscnn_kws",
        "fc_autoencoder_ad01",
        "mobilenetv1_025_vww96",
        "resnet8_cifar10_pretrainedResnet",
        "resnet_large_cifar10",
    ] {
        out.push(model(format!("mlperf-tiny/{m}"), models.join("mlperf-tiny/onnx").join(m).join("model.onnx")));
    }
    out.push(model("mnist-8/model".into(), models.join("mnist-8/model.onnx")));
    out.push(model("mnist-8/pytorch".into(), models.join("mnist-8/pytorch.onnx")));
    for m in ["cls", "rec"] {
        out.push(model(format!("ppocr/{m}"), models.join("ppocr").join(m).join("model.onnx")));
    }
    for m in ["cnn_small", "hybrid_vit", "vit_tiny"] {
        out.push(model(format!("trained-tiny/{m}"), models.join("trained-tiny").join(m).join("model.onnx")));
    }
    out
}

/// The int8 QDQ models (QuantizeLinear/DequantizeLinear around float ops). The QOperator
/// models are left out: tract cannot run their `com.microsoft` ops, so gos-opt refuses them.
pub fn qdq_models(models: &Path) -> Vec<SharedModel> {
    suite::INT8_MODELS
        .into_iter()
        .map(|m| model(format!("int8/{m} (qdq)"), models.join("int8").join(m).join("model_qdq.onnx")))
        .collect()
}

/// A model with the inputs of its first test set when they fit its inputs (`mnist-8/pytorch.onnx`
/// shares a directory with `model.onnx` and its test sets), and their shapes as static shapes
/// when the model has dynamic inputs (ppocr's `x`).
fn model(label: String, path: PathBuf) -> SharedModel {
    let mut import = ImportOptions::default();
    let mut inputs = first_test_set(&path);
    match gos_opt::onnx::import(&path, &import) {
        Ok(graph) => {
            let fits = |set: &InputSet| {
                graph.inputs.iter().all(|&id| {
                    let v = graph.value(id);
                    set.get(&v.name).is_some_and(|t| graph.ty(id).is_some_and(|ty| ty.shape == t.shape))
                })
            };
            inputs = inputs.filter(fits);
        }
        Err(_) => {
            if let Some(set) = &inputs {
                import.input_shapes = set.iter().map(|(name, t)| (name.clone(), t.shape.clone())).collect();
            }
        }
    }
    SharedModel { label, path, import, inputs }
}

fn first_test_set(path: &Path) -> Option<InputSet> {
    let (declared, _) = io_names(&std::fs::read(path).ok()?)?;
    let sets = load_test_sets(path.parent()?, None).ok()?;
    sets.first()?.input_set(&declared).ok()
}

/// The test set's inputs, or seeded random ones (floats in [-1, 1]) for `types`.
pub fn inputs_for(m: &SharedModel, types: &HashMap<String, TensorType>) -> InputSet {
    match &m.inputs {
        Some(set) => set.clone(),
        None => random_inputs(types, &RandomSpec::with_seed(0)).expect("random inputs for float and integer types"),
    }
}

/// A model loaded into tract (single-threaded, as tract runs by default) with its inputs
/// converted once, so a timed run is tract's work alone.
pub struct TractRun {
    plan: std::sync::Arc<TypedRunnableModel>,
    inputs: TVec<TValue>,
}

impl TractRun {
    /// Loads ONNX `bytes` (`dir` resolves external data) with static `inputs` (by name).
    pub fn new(bytes: &[u8], dir: Option<&Path>, inputs: &InputSet) -> Result<TractRun, String> {
        TractRun::load(bytes, dir, inputs, false)
            .or_else(|first| TractRun::load(bytes, dir, inputs, true).map_err(|_| first))
    }

    /// With `ignore_declared`, the file's value_info and output shapes are ignored (a symbolic
    /// batch tract cannot unify with the fixed one, as `tract::Runnable` does).
    fn load(bytes: &[u8], dir: Option<&Path>, inputs: &InputSet, ignore_declared: bool) -> Result<TractRun, String> {
        let e = |e: tract_onnx::prelude::TractError| format!("{e:?}");
        let mut onnx = tract_onnx::onnx();
        if ignore_declared {
            onnx = onnx.with_ignore_value_info(true).with_ignore_output_shapes(true);
        }
        let proto = onnx.proto_model_for_read(&mut &bytes[..]).map_err(e)?;
        let dir = dir.map(|d| d.to_string_lossy().into_owned());
        let mut model = onnx.parse(&proto, dir.as_deref()).map_err(e)?.model;
        let mut values = TVec::new();
        for i in 0..model.inputs.len() {
            let name = model.node(model.inputs[i].node).name.clone();
            let t = inputs.get(&name).ok_or_else(|| format!("no input '{name}'"))?;
            let t = gos_opt::tract::to_tract(t).map_err(|e| e.to_string())?;
            model.set_input_fact(i, InferenceFact::dt_shape(t.datum_type(), t.shape())).map_err(e)?;
            values.push(TValue::from(t));
        }
        let plan = model.into_optimized().map_err(e)?.into_runnable().map_err(e)?;
        Ok(TractRun { plan, inputs: values })
    }

    /// One inference.
    pub fn run(&self) {
        self.plan.run(self.inputs.clone()).expect("tract runs the model it loaded");
    }
}
