//! Verification: runs an original and a candidate model with tract on the same inputs (a
//! model's test sets, or seeded random inputs) and compares every output under a tolerance
//! policy per element type (see [`compare`](mod@compare) for the policy and the figures).
//!
//! Verification never passes silently: a model tract cannot load or run is a [`VerifyError`],
//! and a report with no input sets does not pass.
//!
//! ```no_run
//! use gos_opt::verify::{random_sets, verify, RandomSpec};
//! # fn demo(orig: &[u8], cand: &[u8], types: std::collections::HashMap<String, gos_opt::tensor::TensorType>) {
//! let sets = random_sets(&types, &RandomSpec::with_seed(1), 3).unwrap();
//! let report = verify(orig, None, cand, None, &sets, &types).unwrap();
//! assert!(report.passed, "{}", report.summary());
//! # }
//! ```

pub mod compare;
mod domain;
pub mod evaluate;
pub mod fallback;
mod inputs;
mod regions;

pub use compare::{compare, Comparison, Figures, Tolerance, TolerancePolicy, Top1};
pub use domain::{input_domains, Domain};
pub use evaluate::{cut_key, Cut, GraphEvaluator};
pub use fallback::{interpret, structural, verify_or_interpret, Model};
pub use inputs::{load_test_sets, random_inputs, random_sets, RandomSpec, TestSet};
pub use regions::regions;

use crate::tensor::{DType, Tensor, TensorType};
use crate::tract::Runnable;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// One set of model inputs, by graph input name.
pub type InputSet = HashMap<String, Tensor>;

/// Why verification could not be carried out (as opposed to a report that fails).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A test set file or directory could not be read.
    #[error("test data {path}: {cause}")]
    TestData {
        /// The file or directory.
        path: String,
        /// What went wrong.
        cause: String,
    },
    /// A random input could not be made for this input type.
    #[error("random input '{input}': {cause}")]
    RandomInput {
        /// The graph input.
        input: String,
        /// What went wrong.
        cause: String,
    },
    /// tract could not load or optimize a model.
    #[error("{model} model: tract cannot load it: {cause}")]
    Load {
        /// Which model ("original", "candidate", ...).
        model: String,
        /// tract's message.
        cause: String,
    },
    /// tract failed while running a model.
    #[error("{model} model: tract failed on input set {set}: {cause}")]
    Run {
        /// Which model.
        model: String,
        /// The input set (0-based).
        set: usize,
        /// tract's message.
        cause: String,
    },
    /// An input set lacks a tensor the model reads.
    #[error("{model} model: input set {set} has no tensor for graph input '{input}'")]
    MissingInput {
        /// Which model.
        model: String,
        /// The input set (0-based).
        set: usize,
        /// The graph input.
        input: String,
    },
    /// Neither tract nor gos-opt's evaluator could run the models.
    #[error("{tract}; gos-opt's interpreter cannot run it either: {interpreter}")]
    NoReference {
        /// tract's failure.
        tract: String,
        /// The evaluator's.
        interpreter: String,
    },
    /// No input sets were given: nothing would be checked.
    #[error("no input sets: nothing to verify on")]
    NoInputs,
}

/// Runtime input names (graph inputs that are not initializers) and output names, in file
/// order, read from ONNX bytes; `None` when the bytes are not an ONNX model.
pub fn io_names(bytes: &[u8]) -> Option<(Vec<String>, Vec<String>)> {
    use onnx_protobuf::{Message, ModelProto};
    let proto = ModelProto::parse_from_bytes(bytes).ok()?;
    let g = proto.graph.as_ref()?;
    let inits: std::collections::HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs = g.input.iter().filter(|i| !inits.contains(i.name.as_str())).map(|i| i.name.clone()).collect();
    Some((inputs, g.output.iter().map(|o| o.name.clone()).collect()))
}

/// A model loaded and optimized by tract, labelled for errors ("original", "candidate").
pub struct TractModel {
    runnable: Runnable,
    outputs: Vec<String>,
    label: String,
}

impl TractModel {
    /// Loads a model; `dir` resolves external data; `input_types` fixes the types of inputs
    /// by name (entries for inputs the model does not have are ignored).
    pub fn load(
        label: &str,
        bytes: &[u8],
        dir: Option<&Path>,
        input_types: &HashMap<String, TensorType>,
    ) -> Result<TractModel, VerifyError> {
        let fail = |cause: String| VerifyError::Load { model: label.into(), cause };
        let runnable = Runnable::new(bytes, dir, input_types).map_err(|e| fail(e.0))?;
        let (_, outputs) = io_names(bytes).ok_or_else(|| fail("not an ONNX model".into()))?;
        Ok(TractModel { runnable, outputs, label: label.into() })
    }

    /// Runtime input names in tract's (the file's) order.
    pub fn input_names(&self) -> &[String] {
        &self.runnable.input_names
    }

    /// Graph output names in order.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// Runs on one input set (`set` numbers it in errors); tensors for inputs the model does
    /// not have are ignored.
    pub fn run(&self, set: usize, inputs: &InputSet) -> Result<Vec<Tensor>, VerifyError> {
        let ordered = self
            .runnable
            .input_names
            .iter()
            .map(|name| {
                inputs.get(name).cloned().ok_or_else(|| VerifyError::MissingInput {
                    model: self.label.clone(),
                    set,
                    input: name.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fail = |cause: String| VerifyError::Run { model: self.label.clone(), set, cause };
        self.runnable.run(&ordered).map_err(|e| fail(e.0))
    }
}

/// How one output agreed with its reference over every input set.
#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    /// The graph output name.
    pub name: String,
    /// The reference's element type (from the first set).
    pub dtype: Option<DType>,
    /// The reference's shape (from the first set).
    pub shape: Vec<usize>,
    /// The tolerance applied.
    pub tolerance: Option<Tolerance>,
    /// The figures, merged over the sets.
    pub figures: Figures,
    /// Whether every set agreed.
    pub passed: bool,
    /// One line per failing set (`set 1: ...`).
    pub failures: Vec<String>,
}

/// How the outputs were computed for comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Both models ran in tract.
    Tract,
    /// gos-opt's own graph evaluator ran both ([`GraphEvaluator`]): tract could not
    /// load or run one of them.
    Interpreter,
    /// Nothing could run the models; the written nodes were checked to be the original's,
    /// byte for byte (`--mode none` of a model with ops neither reference computes).
    Structural,
    /// Nothing could run the whole models: both ran in gos-opt's evaluator cut at the opaque
    /// nodes it cannot run (listed in [`VerifyReport::cut_nodes`]), whose outputs were drawn
    /// from their types and whose inputs were compared ([`regions`]).
    Regions,
    /// Not verified (`--no-verify`).
    None,
}

/// The outcome of a verification: per-output figures over every input set.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// What the outputs were compared with ("original model", "expected outputs").
    pub reference: String,
    /// How the outputs were computed.
    pub method: Method,
    /// Whether at least one set was compared and every output of every set agreed.
    pub passed: bool,
    /// Input sets compared.
    pub input_sets: usize,
    /// Per output, in graph order.
    pub outputs: Vec<OutputReport>,
    /// Failures that belong to no single output (an output count that differs).
    pub problems: Vec<String>,
    /// With [`Method::Regions`]: the nodes the models were cut at (op, name and outputs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cut_nodes: Vec<String>,
}

impl VerifyReport {
    /// An empty report (not passed: nothing compared yet) for outputs with these names.
    pub fn new(reference: &str, output_names: &[String]) -> VerifyReport {
        let outputs = output_names
            .iter()
            .map(|name| OutputReport {
                name: name.clone(),
                dtype: None,
                shape: Vec::new(),
                tolerance: None,
                figures: Figures::default(),
                passed: true,
                failures: Vec::new(),
            })
            .collect();
        VerifyReport {
            reference: reference.into(),
            method: Method::Tract,
            passed: false,
            input_sets: 0,
            outputs,
            problems: Vec::new(),
            cut_nodes: Vec::new(),
        }
    }

    /// The report of a run that was not verified (`--no-verify`): method `none`, not passed.
    pub fn skipped(output_names: &[String]) -> VerifyReport {
        VerifyReport { method: Method::None, ..VerifyReport::new("original model", output_names) }
    }

    /// Compares one input set's outputs with the reference's and folds them in.
    pub fn add_set(&mut self, reference: &[Tensor], actual: &[Tensor], policy: &TolerancePolicy) {
        let set = self.input_sets;
        self.input_sets += 1;
        if reference.len() != actual.len() {
            self.problems.push(format!("set {set}: {} outputs where {} were expected", actual.len(), reference.len()));
        }
        while self.outputs.len() < reference.len() {
            let name = format!("output {}", self.outputs.len());
            self.outputs.extend(VerifyReport::new("", &[name]).outputs);
        }
        for (i, expected) in reference.iter().enumerate() {
            let out = &mut self.outputs[i];
            if out.dtype.is_none() {
                out.dtype = Some(expected.dtype);
                out.shape = expected.shape.clone();
                out.tolerance = Some(policy.for_dtype(expected.dtype));
            }
            let Some(actual) = actual.get(i) else {
                out.passed = false;
                out.failures.push(format!("set {set}: missing"));
                continue;
            };
            let c = compare(expected, actual, policy);
            out.figures.merge(&c.figures);
            if let Some(reason) = c.reason {
                out.passed = false;
                out.failures.push(format!("set {set}: {reason}"));
            }
        }
        self.passed = self.input_sets > 0 && self.problems.is_empty() && self.outputs.iter().all(|o| o.passed);
    }

    /// One line: `passed (N sets)` or the first failure with its output name.
    pub fn summary(&self) -> String {
        if self.method == Method::None {
            return "not verified (--no-verify)".into();
        }
        if self.passed && self.method == Method::Structural {
            return format!("every node is the {}'s, byte for byte (structural check)", self.reference);
        }
        if self.passed && self.method == Method::Interpreter {
            return format!(
                "agrees with the {} on {} input set(s) (gos-opt's interpreter: tract cannot run it)",
                self.reference, self.input_sets
            );
        }
        if self.passed && self.method == Method::Regions {
            return format!(
                "agrees with the {} on {} input set(s) around {} node(s) nothing can run (gos-opt's \
                 interpreter; their outputs drawn from their types, their inputs compared)",
                self.reference,
                self.input_sets,
                self.cut_nodes.len()
            );
        }
        if self.passed {
            return format!("agrees with the {} on {} input set(s)", self.reference, self.input_sets);
        }
        if self.input_sets == 0 {
            return "no input set was compared".into();
        }
        if let Some(p) = self.problems.first() {
            return p.clone();
        }
        let bad: Vec<&OutputReport> = self.outputs.iter().filter(|o| !o.passed).collect();
        match bad.first() {
            Some(o) => {
                let more = if bad.len() > 1 { format!(" (and {} more outputs)", bad.len() - 1) } else { String::new() };
                format!("output '{}' {}{more}", o.name, o.failures.first().map(String::as_str).unwrap_or("failed"))
            }
            None => "failed".into(),
        }
    }
}

/// Runs both models with tract on every input set and compares the candidate's outputs with
/// the original's under the default [`TolerancePolicy`].
pub fn verify(
    original_bytes: &[u8],
    original_dir: Option<&Path>,
    candidate_bytes: &[u8],
    candidate_dir: Option<&Path>,
    sets: &[InputSet],
    input_types: &HashMap<String, TensorType>,
) -> Result<VerifyReport, VerifyError> {
    verify_with(
        original_bytes,
        original_dir,
        candidate_bytes,
        candidate_dir,
        sets,
        input_types,
        &TolerancePolicy::default(),
    )
}

/// [`verify`] under a given tolerance policy.
pub fn verify_with(
    original_bytes: &[u8],
    original_dir: Option<&Path>,
    candidate_bytes: &[u8],
    candidate_dir: Option<&Path>,
    sets: &[InputSet],
    input_types: &HashMap<String, TensorType>,
    policy: &TolerancePolicy,
) -> Result<VerifyReport, VerifyError> {
    if sets.is_empty() {
        return Err(VerifyError::NoInputs);
    }
    let original = TractModel::load("original", original_bytes, original_dir, input_types)?;
    let candidate = TractModel::load("candidate", candidate_bytes, candidate_dir, input_types)?;
    let mut report = VerifyReport::new("original model", original.output_names());
    for (i, set) in sets.iter().enumerate() {
        let want = original.run(i, set)?;
        let got = candidate.run(i, set)?;
        report.add_set(&want, &got, policy);
    }
    Ok(report)
}

/// Runs one model on input sets with known outputs (`(inputs, expected outputs)` pairs, such
/// as [`TestSet::input_set`] and [`TestSet::expected`]) and compares.
pub fn check_expected(
    model: &TractModel,
    sets: &[(InputSet, Vec<Tensor>)],
    policy: &TolerancePolicy,
) -> Result<VerifyReport, VerifyError> {
    if sets.is_empty() {
        return Err(VerifyError::NoInputs);
    }
    let mut report = VerifyReport::new("expected outputs", model.output_names());
    for (i, (inputs, expected)) in sets.iter().enumerate() {
        let got = model.run(i, inputs)?;
        report.add_set(expected, &got, policy);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_passes_only_after_agreeing_sets() {
        let names = vec!["y".to_string()];
        let mut r = VerifyReport::new("original model", &names);
        assert!(!r.passed);
        let p = TolerancePolicy::default();
        let y = [Tensor::f32(vec![1, 3], vec![0.1, 0.7, 0.2])];
        r.add_set(&y, &y, &p);
        assert!(r.passed && r.input_sets == 1);
        assert_eq!(r.outputs[0].figures.top1, Some(Top1 { agree: 1, rows: 1 }));
        r.add_set(&y, &[Tensor::f32(vec![1, 3], vec![0.1, 0.2, 0.7])], &p);
        assert!(!r.passed);
        assert!(r.summary().starts_with("output 'y' set 1: 2 of 3 elements"), "{}", r.summary());
        r.add_set(&y, &[], &p);
        assert!(r.summary().contains("0 outputs where 1 were expected"));
        serde_json::to_string(&r).unwrap();
    }

    /// A one-node model `y = op(x)` on f32[2, 3].
    fn unary_model(op: &str) -> Vec<u8> {
        use onnx_protobuf::{
            tensor_shape_proto::Dimension, type_proto, Message, ModelProto, NodeProto, OperatorSetIdProto,
            TensorShapeProto, TypeProto, ValueInfoProto,
        };
        let value = |name: &str| {
            let mut shape = TensorShapeProto::new();
            for d in [2, 3] {
                let mut dim = Dimension::new();
                dim.set_dim_value(d);
                shape.dim.push(dim);
            }
            let mut tensor = type_proto::Tensor::new();
            tensor.elem_type = 1;
            tensor.shape = Some(shape).into();
            let mut ty = TypeProto::new();
            ty.set_tensor_type(tensor);
            let mut vi = ValueInfoProto::new();
            vi.name = name.into();
            vi.type_ = Some(ty).into();
            vi
        };
        let mut node = NodeProto::new();
        node.op_type = op.into();
        node.input.push("x".into());
        node.output.push("y".into());
        let mut model = ModelProto::new();
        model.ir_version = 8;
        let mut opset = OperatorSetIdProto::new();
        opset.version = 13;
        model.opset_import.push(opset);
        let graph = model.graph.mut_or_insert_default();
        graph.node.push(node);
        graph.input.push(value("x"));
        graph.output.push(value("y"));
        model.write_to_bytes().expect("a built model serializes")
    }

    #[test]
    fn verify_runs_both_models_and_catches_a_difference() {
        let types: HashMap<String, TensorType> =
            [("x".to_string(), TensorType::new(DType::F32, vec![2, 3]))].into_iter().collect();
        let sets = random_sets(&types, &RandomSpec::with_seed(3), 2).unwrap();
        let relu = unary_model("Relu");
        let same = verify(&relu, None, &relu, None, &sets, &types).unwrap();
        assert!(same.passed && same.input_sets == 2, "{}", same.summary());
        assert_eq!(same.outputs[0].name, "y");
        assert_eq!(same.outputs[0].figures.max_abs, 0.0);
        let abs = unary_model("Abs");
        let differ = verify(&relu, None, &abs, None, &sets, &types).unwrap();
        assert!(!differ.passed && differ.outputs[0].figures.max_abs > 0.0);
        assert!(differ.summary().starts_with("output 'y' set 0"), "{}", differ.summary());
        let missing = verify(&relu, None, &relu, None, &[InputSet::new()], &types).unwrap_err();
        assert!(matches!(missing, VerifyError::MissingInput { .. }), "{missing}");
    }

    #[test]
    fn verify_without_sets_or_with_garbage_is_an_error() {
        let types = HashMap::new();
        assert!(matches!(verify(b"x", None, b"x", None, &[], &types), Err(VerifyError::NoInputs)));
        let sets = vec![InputSet::new()];
        assert!(matches!(verify(b"not onnx", None, b"x", None, &sets, &types), Err(VerifyError::Load { .. })));
    }
}
