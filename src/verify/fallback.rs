//! Verification when tract cannot load or run a model: both models through gos-opt's own
//! evaluator ([`super::evaluate`]), or, when nothing can run them, a structural identity check
//! (for `--mode none`, whose output must be the input's nodes unchanged).

use super::evaluate::GraphEvaluator;
use super::{verify, InputSet, Method, TolerancePolicy, VerifyError, VerifyReport};
use crate::graph::Graph;
use crate::tensor::TensorType;
use std::collections::HashMap;
use std::path::Path;

/// A model to verify: its bytes (for tract), where its external data lives, and its graph
/// (for the evaluator).
#[derive(Clone, Copy)]
pub struct Model<'a> {
    /// The ONNX bytes.
    pub bytes: &'a [u8],
    /// The directory external data is resolved against.
    pub dir: Option<&'a Path>,
    /// The imported graph.
    pub graph: &'a Graph,
}

/// [`verify`] with tract; when tract cannot load or run either model, both run in gos-opt's
/// evaluator instead (the report's method says which).
pub fn verify_or_interpret(
    original: Model,
    candidate: Model,
    sets: &[InputSet],
    input_types: &HashMap<String, TensorType>,
) -> Result<VerifyReport, VerifyError> {
    match verify(original.bytes, original.dir, candidate.bytes, candidate.dir, sets, input_types) {
        Err(tract @ (VerifyError::Load { .. } | VerifyError::Run { .. })) => {
            interpret(original.graph, candidate.graph, sets, &TolerancePolicy::default())
                .map_err(|interpreter| VerifyError::NoReference { tract: tract.to_string(), interpreter })
        }
        other => other,
    }
}

/// Runs both graphs in gos-opt's evaluator on every set and compares; the error says which
/// model failed where.
pub fn interpret(
    original: &Graph,
    candidate: &Graph,
    sets: &[InputSet],
    policy: &TolerancePolicy,
) -> Result<VerifyReport, String> {
    if sets.is_empty() {
        return Err(VerifyError::NoInputs.to_string());
    }
    let evaluator = GraphEvaluator::new().map_err(|e| e.to_string())?;
    let names: Vec<String> = original.outputs.iter().map(|&v| original.value(v).name.clone()).collect();
    let mut report = VerifyReport::new("original model", &names);
    report.method = Method::Interpreter;
    for (i, set) in sets.iter().enumerate() {
        let want = evaluator.eval(original, set).map_err(|e| format!("original model, input set {i}: {e}"))?;
        let got = evaluator.eval(candidate, set).map_err(|e| format!("candidate model, input set {i}: {e}"))?;
        report.add_set(&want, &got, policy);
    }
    Ok(report)
}

/// Whether the candidate's nodes are the original's, byte for byte (serialized `NodeProto`s in
/// order), and its inputs and outputs the same; the report passes when they are.
pub fn structural(original: &[u8], candidate: &[u8]) -> Result<VerifyReport, VerifyError> {
    use onnx_protobuf::{Message, ModelProto};
    let parse = |label: &str, bytes: &[u8]| {
        ModelProto::parse_from_bytes(bytes)
            .map_err(|e| VerifyError::Load { model: label.into(), cause: format!("not an ONNX model: {e}") })
    };
    let (a, b) = (parse("original", original)?, parse("candidate", candidate)?);
    let (ga, gb) = (a.graph.get_or_default(), b.graph.get_or_default());
    let names: Vec<String> = ga.output.iter().map(|o| o.name.clone()).collect();
    let mut report = VerifyReport::new("original model", &names);
    report.method = Method::Structural;
    let bytes = |n: &onnx_protobuf::NodeProto| n.write_to_bytes().unwrap_or_default();
    if ga.node.len() != gb.node.len() {
        report.problems.push(format!("{} nodes where the original has {}", gb.node.len(), ga.node.len()));
    }
    if let Some((i, n)) = ga.node.iter().zip(&gb.node).enumerate().find(|(_, (x, y))| bytes(x) != bytes(y)) {
        report.problems.push(format!("node {i} ('{}', {}) differs from the original's", n.0.name, n.0.op_type));
    }
    let io = |g: &onnx_protobuf::GraphProto| {
        (
            g.input.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
            g.output.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
        )
    };
    if io(ga) != io(gb) {
        report.problems.push("the graph inputs or outputs differ from the original's".into());
    }
    report.passed = report.problems.is_empty();
    Ok(report)
}
