//! Raising a model's default-domain opset, so that a rewrite may use an op the model's own
//! opset lacks (HardSwish 14, LayerNormalization 17). Ops gos-opt parses keep their
//! meaning across the raise; the ones whose form changes on the way get it converted: axes and
//! split sizes that were attributes become constant inputs (Squeeze, Unsqueeze, Split and
//! ReduceSum at 13, ReduceMean and ReduceMax at 18), and an old Softmax over the last axis
//! becomes a new one. Anything else stops the raise: models older than opset 7 (broadcasting
//! changed form there), models older than 11 holding an op that changed form before it (Clip,
//! Pad, Slice, BatchNormalization, Dropout, Resize), and default-domain ops gos-opt does not
//! interpret, whose changes it cannot know.

use super::{ConstOrigin, Graph, NodeId};
use crate::ops::Op;
use crate::tensor::{Tensor, TensorData};
use std::sync::Arc;

/// The newest opset gos-opt raises a model to: 17 has LayerNormalization and HardSwish. Going
/// further would gain Gelu (20) only, and tract runs a Gelu kernel no faster than its Erf form
/// (hybrid_vit measured 2% slower with it, `cargo run --release --example tract_ab`); a model
/// already at opset 20 or later gets Gelu.
pub const MAX_OPSET: i64 = 17;

/// The oldest opset gos-opt raises from.
const MIN_FROM: i64 = 7;

/// From this opset on, every op gos-opt parses keeps its form up to [`MAX_OPSET`] (or is
/// converted by [`upgrade`]); below it, [`changed_before_11`] lists the ones that do not.
const STABLE_FROM: i64 = 11;

/// Whether `op` changed form between opset 7 and 11: Clip and Pad took their operands as
/// inputs (11), Slice too (10), BatchNormalization lost `spatial` (9), Dropout its `is_test`
/// semantics (10), Resize its first form (10 → 11).
fn changed_before_11(op: &Op) -> bool {
    matches!(op, Op::Clip(_) | Op::Pad(_) | Op::Slice(_) | Op::BatchNorm(_) | Op::Dropout(_) | Op::Resize(_))
}

/// Why a model's opset cannot be raised.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpgradeError {
    /// The model is older than opset 7.
    #[error("opset {0} is older than {MIN_FROM}: ops changed form before it")]
    TooOld(i64),
    /// An op of a model older than opset 11 that changed form before 11.
    #[error("node '{node}' ({op}) changed form between the model's opset {opset} and {STABLE_FROM}")]
    Changed {
        /// The node's name.
        node: String,
        /// Its op_type.
        op: String,
        /// The model's opset.
        opset: i64,
    },
    /// A default-domain op gos-opt does not interpret.
    #[error("node '{node}' ({op}) is not interpreted by gos-opt, so its form at a newer opset is unknown")]
    Opaque {
        /// The node's name.
        node: String,
        /// Its op_type.
        op: String,
    },
    /// A pre-13 Softmax that normalizes over more than the last axis.
    #[error("node '{0}' (Softmax) normalizes over several trailing axes, which opset 13 cannot state in one op")]
    Softmax(String),
    /// The requested opset is out of range.
    #[error("opset {0} is not between the model's and {MAX_OPSET}")]
    Range(i64),
}

/// The newest opset `graph` can be raised to: [`MAX_OPSET`] (or the model's own, if newer)
/// when nothing stops the raise, the model's own opset otherwise.
pub fn reachable(graph: &Graph) -> i64 {
    let own = graph.meta.opset();
    if own >= MAX_OPSET || blocker(graph).is_some() {
        own
    } else {
        MAX_OPSET
    }
}

/// The opset the graph's ops need: the model's own, or the newest `min_opset` of its ops (13
/// for a QuantizeLinear or DequantizeLinear with per-axis scales).
pub fn needed(graph: &Graph) -> i64 {
    let per_axis = |n: &super::Node| {
        matches!(n.op, Op::QuantizeLinear(_) | Op::DequantizeLinear(_))
            && n.inputs.get(1).copied().flatten().and_then(|s| graph.ty(s)).is_some_and(|t| t.numel() > 1)
    };
    graph.dag.node_weights().map(|n| if per_axis(n) { 13 } else { n.op.min_opset() }).fold(graph.meta.opset(), i64::max)
}

/// The first thing that stops a raise, if any.
fn blocker(graph: &Graph) -> Option<UpgradeError> {
    let own = graph.meta.opset();
    if own < MIN_FROM {
        return Some(UpgradeError::TooOld(own));
    }
    for node in graph.dag.node_weights() {
        match &node.op {
            op if own < STABLE_FROM && changed_before_11(op) => {
                return Some(UpgradeError::Changed {
                    node: node.name.clone(),
                    op: op.onnx_name().to_string(),
                    opset: own,
                });
            }
            Op::Opaque(o) if o.domain.is_empty() || o.domain == "ai.onnx" => {
                return Some(UpgradeError::Opaque { node: node.name.clone(), op: o.op_type.clone() });
            }
            Op::Softmax(s) if s.flatten_trailing && !over_last_axis(graph, node, s.axis) => {
                return Some(UpgradeError::Softmax(node.name.clone()));
            }
            _ => {}
        }
    }
    None
}

fn over_last_axis(graph: &Graph, node: &super::Node, axis: i64) -> bool {
    let rank = node.inputs.first().copied().flatten().and_then(|x| graph.ty(x)).map(|t| t.shape.len() as i64);
    rank.is_some_and(|r| axis == r - 1 || axis == -1)
}

/// Raises the default-domain opset to `to`, converting the ops whose form changes on the way,
/// and the IR version to the one that goes with `to` when it is older. Nothing changes when an
/// error is returned.
pub fn upgrade(graph: &mut Graph, to: i64) -> Result<(), UpgradeError> {
    let from = graph.meta.opset();
    if to == from {
        return Ok(());
    }
    if to < from || to > MAX_OPSET {
        return Err(UpgradeError::Range(to));
    }
    if let Some(e) = blocker(graph) {
        return Err(e);
    }
    let ids: Vec<NodeId> = graph.dag.node_indices().collect();
    for id in ids {
        let node = &graph.dag[id];
        let moved = moved_operands(&node.op, from, to);
        let name = node.name.clone();
        if let Op::Softmax(s) = &mut graph.dag[id].op {
            s.flatten_trailing = false;
        }
        for (index, values) in moved {
            let tensor = Tensor::new(vec![values.len()], TensorData::I64(values));
            let const_name = graph.fresh_name(&format!("{name}_operand{index}"));
            let value = graph.add_const(&const_name, Arc::new(tensor), ConstOrigin::Derived);
            let inputs = &mut graph.dag[id].inputs;
            if inputs.len() <= index {
                inputs.resize(index + 1, None);
            }
            inputs[index] = Some(value);
        }
    }
    for (domain, version) in &mut graph.meta.opset_imports {
        if domain.is_empty() || domain == "ai.onnx" {
            *version = to;
        }
    }
    graph.meta.ir_version = graph.meta.ir_version.max(crate::graph::ir_version_for(to));
    Ok(())
}

/// Attribute operands that become inputs between `from` and `to`: (input index, values).
fn moved_operands(op: &Op, from: i64, to: i64) -> Vec<(usize, Vec<i64>)> {
    let crosses = |since: i64| from < since && to >= since;
    match op {
        Op::Squeeze(s) if crosses(13) => s.axes.iter().map(|a| (1, a.clone())).collect(),
        Op::Unsqueeze(u) if crosses(13) => vec![(1, u.axes.clone())],
        Op::Split(s) if crosses(13) => s.split.iter().map(|v| (1, v.clone())).collect(),
        Op::Reduce(r) if crosses(r.kind.axes_input_since()) => r.axes.iter().map(|a| (1, a.clone())).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ModelMeta, Node, Value, ValueKind};
    use crate::ops::{Softmax, Squeeze};
    use crate::tensor::{DType, TensorType};

    /// x[1, 3, 1, 4] → Squeeze(axes = [2]) → Softmax(axis = 2, opset < 13 form) at `opset`.
    fn model(opset: i64, softmax_axis: i64) -> Graph {
        let meta = ModelMeta { ir_version: 7, opset_imports: vec![(String::new(), opset)], ..ModelMeta::default() };
        let mut g = Graph::new(meta);
        let value = |name: &str, shape: &[usize], kind| Value {
            name: name.into(),
            ty: Some(TensorType::new(DType::F32, shape.to_vec())),
            kind,
            ..Value::default()
        };
        let x = g.add_value(value("x", &[1, 3, 1, 4], ValueKind::Input));
        g.inputs.push(x);
        let s = g.add_value(value("s", &[1, 3, 4], ValueKind::Unset));
        let y = g.add_value(value("y", &[1, 3, 4], ValueKind::Unset));
        let squeeze = Op::Squeeze(Squeeze { axes: Some(vec![2]) });
        let softmax = Op::Softmax(Softmax { axis: softmax_axis, flatten_trailing: true });
        for (name, op, i, o) in [("squeeze", squeeze, x, s), ("softmax", softmax, s, y)] {
            let node =
                Node { name: name.into(), op, inputs: vec![Some(i)], outputs: vec![o], doc_string: String::new() };
            g.add_node(node).unwrap();
        }
        g.outputs.push(y);
        g
    }

    #[test]
    fn attribute_operands_become_inputs_and_the_opset_rises() {
        let mut g = model(12, 2);
        assert_eq!(reachable(&g), MAX_OPSET);
        upgrade(&mut g, 17).unwrap();
        assert_eq!((g.meta.opset(), g.meta.ir_version), (17, 8));
        let squeeze = g.dag.node_weights().find(|n| n.name == "squeeze").unwrap();
        let axes = squeeze.inputs[1].and_then(|v| g.constant(v)).expect("axes became a constant input");
        assert_eq!(axes.data, TensorData::I64(vec![2]));
        let softmax = g.dag.node_weights().find(|n| n.name == "softmax").unwrap();
        assert_eq!(softmax.op, Op::Softmax(Softmax { axis: 2, flatten_trailing: false }));
        // The written model reads back at opset 17 with the same ops.
        let bytes = crate::onnx::export_bytes(&g).unwrap();
        let back = crate::onnx::import_bytes(&bytes, None, &Default::default()).unwrap();
        assert_eq!(back.meta.opset(), 17);
        let ops: Vec<Op> = back.dag.node_weights().map(|n| n.op.clone()).collect();
        assert!(ops.contains(&Op::Squeeze(Squeeze { axes: Some(vec![2]) })), "{ops:?}");
    }

    #[test]
    fn what_stops_a_raise() {
        // A pre-13 Softmax over several trailing axes has no opset-13 form.
        let mut g = model(12, 1);
        assert_eq!(reachable(&g), 12);
        assert!(matches!(upgrade(&mut g, 17), Err(UpgradeError::Softmax(_))));
        assert_eq!(g.meta.opset(), 12, "nothing changes on an error");
        assert!(matches!(upgrade(&mut model(6, 2), 17), Err(UpgradeError::TooOld(6))));
        // From opset 8 (mnist-8's) the same ops raise.
        let mut old = model(8, 2);
        assert_eq!(reachable(&old), MAX_OPSET);
        upgrade(&mut old, 17).unwrap();
        // A Clip of opset 8 took its bounds as attributes.
        let mut clipped = model(8, 2);
        clipped.dag.node_weights_mut().next().unwrap().op =
            Op::Clip(crate::ops::Clip { min: Some(0.0), max: Some(6.0) });
        assert!(matches!(upgrade(&mut clipped, 17), Err(UpgradeError::Changed { opset: 8, .. })));
        assert!(matches!(upgrade(&mut model(12, 2), 11), Err(UpgradeError::Range(11))));
        assert!(matches!(upgrade(&mut model(12, 2), MAX_OPSET + 1), Err(UpgradeError::Range(_))));
    }
}
