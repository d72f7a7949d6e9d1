//! Verification of the regions around what nothing can run (issue 14.3): when neither tract nor
//! gos-opt's evaluator runs a whole model because some opaque node computes what neither knows
//! (an op of another domain), the graph is cut at those nodes. Both models run in the evaluator
//! with each cut node's outputs drawn at random from their declared types, the same draws for
//! both, and every value a cut node reads is compared beside the graph outputs.
//!
//! This proves what a whole-model run would, on these inputs: the cut nodes pass through
//! unchanged (exact mode never rewrites an opaque node), so if both models feed them the same
//! inputs and, given the same cut outputs, compute the same graph outputs, they compute the same
//! function, whatever the cut nodes do. The cut outputs are samples from their types rather
//! than values the op would produce, so a rewrite that is exact only on the op's real range
//! (none of the shipped exact rules is) could be rejected, never wrongly accepted.

use super::evaluate::{Cut, GraphEvaluator};
use super::{random_inputs, InputSet, Method, RandomSpec, TolerancePolicy, VerifyReport};
use crate::graph::{Graph, Node};
use crate::tensor::{Tensor, TensorType};
use std::collections::HashMap;

/// Runs both graphs in gos-opt's evaluator on every set, cut at the original's opaque nodes the
/// evaluator cannot run (see the module documentation), and compares the graph outputs and the
/// cut nodes' inputs; the report lists the cut nodes. The error says which model failed where.
pub fn regions(
    original: &Graph,
    candidate: &Graph,
    sets: &[InputSet],
    policy: &TolerancePolicy,
) -> Result<VerifyReport, String> {
    if sets.is_empty() {
        return Err(super::VerifyError::NoInputs.to_string());
    }
    let evaluator = GraphEvaluator::new().map_err(|e| e.to_string())?;
    let mut report: Option<VerifyReport> = None;
    for (i, set) in sets.iter().enumerate() {
        let sample = |graph: &Graph, node: &Node| sample_outputs(graph, node, i);
        let mut cut = Cut::default();
        let mut want = evaluator
            .eval_cut(original, set, &mut cut, Some(&sample))
            .map_err(|e| format!("original model, input set {i}: {e}"))?;
        let mut theirs = Cut { supplied: cut.supplied.clone(), taps: Vec::new() };
        let mut got = evaluator
            .eval_cut(candidate, set, &mut theirs, None)
            .map_err(|e| format!("candidate model, input set {i}: {e}"))?;
        let report = report.get_or_insert_with(|| {
            let mut names: Vec<String> = original.outputs.iter().map(|&v| original.value(v).name.clone()).collect();
            names.extend(tap_names(&cut));
            let mut r = VerifyReport::new("original model", &names);
            r.method = Method::Regions;
            r.cut_nodes = cut.taps.iter().map(|(key, _)| key.clone()).collect();
            r
        });
        if let Some(missing) = cut.taps.iter().find(|(key, _)| !theirs.taps.iter().any(|(k, _)| k == key)) {
            report.problems.push(format!("set {i}: the candidate has no node {}", missing.0));
        }
        want.extend(tapped(&cut, &cut));
        got.extend(tapped(&cut, &theirs));
        report.add_set(&want, &got, policy);
    }
    Ok(report.expect("at least one set"))
}

/// One name per input a cut node read: `input K of NODE`.
fn tap_names(cut: &Cut) -> Vec<String> {
    cut.taps
        .iter()
        .flat_map(|(key, inputs)| {
            inputs.iter().enumerate().filter(|(_, t)| t.is_some()).map(move |(k, _)| format!("input {k} of {key}"))
        })
        .collect()
}

/// The inputs `of`'s cut nodes read, in `order`'s order of nodes and inputs (those `order` has;
/// an input `of` lacks is an empty tensor, which then fails the comparison).
fn tapped(order: &Cut, of: &Cut) -> Vec<Tensor> {
    let mut out = Vec::new();
    for (key, inputs) in &order.taps {
        let theirs = of.taps.iter().find(|(k, _)| k == key).map(|(_, t)| t);
        for (k, _) in inputs.iter().enumerate().filter(|(_, t)| t.is_some()) {
            let t = theirs.and_then(|t| t.get(k).cloned().flatten());
            out.push(t.unwrap_or_else(|| Tensor::f32(vec![0], Vec::new())));
        }
    }
    out
}

/// Random outputs for a node from their declared types, seeded by the input set and the node
/// (so the original and the candidate draw the same).
fn sample_outputs(graph: &Graph, node: &Node, set: usize) -> Result<Vec<Tensor>, String> {
    let mut types: HashMap<String, TensorType> = HashMap::new();
    let mut names = Vec::new();
    for (k, &v) in node.outputs.iter().enumerate() {
        let value = graph.value(v);
        let ty = graph.ty(v).ok_or_else(|| format!("output '{}' has no declared type", value.name))?;
        let name = format!("{k}");
        types.insert(name.clone(), ty.clone());
        names.push(name);
    }
    let key = super::evaluate::cut_key(graph, node);
    let seed = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut drawn =
        random_inputs(&types, &RandomSpec::with_seed(seed.wrapping_add(set as u64))).map_err(|e| e.to_string())?;
    Ok(names.iter().map(|n| drawn.remove(n).expect("drawn for every type")).collect())
}
