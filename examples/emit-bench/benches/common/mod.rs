//! What both bench targets share: the generated models (compiled into the bench target itself,
//! so its RUSTFLAGS or `cargo rustc` flags decide their instruction set) and loading a model's
//! bench input and tract model.

use emit_bench::Model;
use gos_opt::verify::{io_names, load_test_sets, InputSet, TractModel};
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/models.rs"));

/// A generated model with its bench input (the first test set beside the ONNX file) and the
/// same ONNX file loaded by tract.
pub struct Loaded {
    /// The generated model.
    pub model: &'static Model,
    /// The ONNX file in tract, one thread.
    pub tract: TractModel,
    /// The bench input by name, for tract.
    pub set: InputSet,
    /// The bench input, for the generated code.
    pub x: Vec<f32>,
}

/// Loads `model`'s bench input and tract model; panics with the model's name on failure (a
/// bench has no one to return an error to).
pub fn load(model: &'static Model) -> Loaded {
    let path = Path::new(model.onnx);
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (names, _) = io_names(&bytes).unwrap_or_else(|| panic!("{}: not an ONNX model", path.display()));
    let sets = load_test_sets(path.parent().expect("dir"), model.sets).expect("test sets");
    let set = sets[0].input_set(&names).expect("inputs");
    let types = set.iter().map(|(k, t)| (k.clone(), t.ttype())).collect();
    let tract = TractModel::load(model.name, &bytes, path.parent(), &types).expect("tract");
    let x: Vec<f32> = set[&names[0]].as_f32().expect("float input").to_vec();
    assert_eq!(x.len(), model.input_len, "{}: input length", model.name);
    Loaded { model, tract, set, x }
}
