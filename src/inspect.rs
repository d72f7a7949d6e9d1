//! `gos-opt inspect`: per node its op, shapes, parameter count and multiply-accumulates; totals;
//! the ops gos-opt does not interpret.

use crate::graph::{Graph, GraphError, ValueKind};
use crate::tensor::shape_string;
use serde::Serialize;
use std::fmt::Write;

/// One node's line in the inspection.
#[derive(Clone, Debug, Serialize)]
pub struct NodeInfo {
    /// Node name (may be empty in the file).
    pub name: String,
    /// ONNX op_type (with its domain when not the default one).
    pub op: String,
    /// Input types, `1x3x32x32 float`; `-` for an omitted input, `?` for unknown.
    pub inputs: Vec<String>,
    /// Output types.
    pub outputs: Vec<String>,
    /// Elements in the node's constant inputs (weights, biases).
    pub params: u64,
    /// Multiply-accumulates for one run.
    pub macs: u64,
    /// Whether gos-opt passes the op through without interpreting it.
    pub opaque: bool,
}

/// The whole inspection.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// Nodes in topological order.
    pub nodes: Vec<NodeInfo>,
    /// Sum of `params` over nodes, each constant counted once.
    pub total_params: u64,
    /// Sum of `macs`.
    pub total_macs: u64,
    /// Distinct opaque op types, `domain::Op` when not the default domain.
    pub opaque_ops: Vec<String>,
    /// Node count per op type, sorted by op.
    pub op_counts: Vec<(String, usize)>,
}

fn type_label(graph: &Graph, id: crate::graph::ValueId) -> String {
    match graph.ty(id) {
        Some(t) => format!("{} {}", shape_string(&t.shape), t.dtype),
        None => "?".into(),
    }
}

/// Inspects a graph.
pub fn inspect(graph: &Graph) -> Result<Inspection, GraphError> {
    let mut nodes = Vec::new();
    let mut counted = vec![false; graph.values.len()];
    let (mut total_params, mut total_macs) = (0u64, 0u64);
    let mut opaque_ops = Vec::new();
    let mut op_counts = std::collections::BTreeMap::new();
    for id in graph.topo_order()? {
        let node = graph.node(id);
        let op = match node.op.domain() {
            "" => node.op.onnx_name().to_string(),
            d => format!("{d}::{}", node.op.onnx_name()),
        };
        let in_types: Vec<_> = node.inputs.iter().map(|v| v.and_then(|id| graph.ty(id))).collect();
        let out_types: Option<Vec<_>> = node.outputs.iter().map(|&o| graph.ty(o).cloned()).collect();
        let macs = match (&out_types, node.op.is_opaque()) {
            (Some(outs), false) => node.op.macs(&in_types, outs),
            _ => 0,
        };
        let mut params = 0;
        for v in node.inputs.iter().flatten() {
            if let ValueKind::Const { tensor, .. } = &graph.value(*v).kind {
                params += tensor.numel() as u64;
                if !counted[v.index()] {
                    counted[v.index()] = true;
                    total_params += tensor.numel() as u64;
                }
            }
        }
        total_macs += macs;
        if node.op.is_opaque() && !opaque_ops.contains(&op) {
            opaque_ops.push(op.clone());
        }
        *op_counts.entry(op.clone()).or_insert(0) += 1;
        nodes.push(NodeInfo {
            name: node.name.clone(),
            op,
            inputs: node
                .inputs
                .iter()
                .map(|v| v.map(|id| type_label(graph, id)).unwrap_or_else(|| "-".into()))
                .collect(),
            outputs: node.outputs.iter().map(|&o| type_label(graph, o)).collect(),
            params,
            macs,
            opaque: node.op.is_opaque(),
        });
    }
    Ok(Inspection { nodes, total_params, total_macs, opaque_ops, op_counts: op_counts.into_iter().collect() })
}

/// `12_500_000` → `12.50 M`.
pub fn human(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.2} k", n as f64 / 1e3),
        _ => format!("{:.2} M", n as f64 / 1e6),
    }
}

impl Inspection {
    /// A fixed-width table for a terminal.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let name_w = self.nodes.iter().map(|n| n.name.len()).max().unwrap_or(4).clamp(4, 40);
        let op_w = self.nodes.iter().map(|n| n.op.len()).max().unwrap_or(2).max(2);
        let _ =
            writeln!(s, "{:<name_w$}  {:<op_w$}  {:>10}  {:>12}  inputs -> outputs", "node", "op", "params", "MACs");
        for n in &self.nodes {
            let _ = writeln!(
                s,
                "{:<name_w$}  {:<op_w$}  {:>10}  {:>12}  {} -> {}",
                n.name,
                n.op,
                n.params,
                n.macs,
                n.inputs.join(", "),
                n.outputs.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "\n{} nodes, {} parameters, {} MACs ({})",
            self.nodes.len(),
            self.total_params,
            self.total_macs,
            human(self.total_macs)
        );
        let counts: Vec<String> = self.op_counts.iter().map(|(op, c)| format!("{op} {c}")).collect();
        let _ = writeln!(s, "ops: {}", counts.join(", "));
        if self.opaque_ops.is_empty() {
            let _ = writeln!(s, "opaque ops: none");
        } else {
            let _ = writeln!(s, "opaque ops (passed through unchanged): {}", self.opaque_ops.join(", "));
        }
        s
    }
}
