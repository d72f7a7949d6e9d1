//! `gos-opt inspect`: per node its op, shapes, parameter count and multiply-accumulates; totals;
//! the ops gos-opt does not interpret. With a target profile, also each layer's predicted
//! latency, energy and bottleneck (the cost model's [`crate::cost::kernel_cost`]) and their totals.
//! Quantized (QDQ) groups are priced as the integer kernels they run as ([`crate::graph::qdq`]).

use crate::cost::{Bottleneck, MemLevel, Objective, Profile};
use crate::graph::{Graph, GraphError, ValueKind};
use crate::tensor::{shape_string, TensorType};
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
    /// The predicted cost on the target, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<LayerCost>,
}

/// The constant integers `v` is the DequantizeLinear of, if it is one.
fn weight_ints(graph: &Graph, v: crate::graph::ValueId) -> Option<crate::graph::ValueId> {
    let ValueKind::Node { node } = graph.value(v).kind else { return None };
    let dq = graph.node(node);
    matches!(dq.op, crate::ops::Op::DequantizeLinear(_)).then_some(())?;
    dq.inputs.first().copied().flatten()
}

/// One layer's predicted cost on a target.
#[derive(Clone, Debug, Serialize)]
pub struct LayerCost {
    /// Whether the layer depends only on weights: it is folded at emission and costs nothing.
    pub weight_only: bool,
    /// Predicted seconds.
    pub latency_s: f64,
    /// Predicted picojoules.
    pub energy_pj: f64,
    /// Compute or memory, for the objective (cycles for latency, picojoules for energy).
    pub bottleneck: Bottleneck,
    /// Cycles of computation.
    pub compute_cycles: f64,
    /// Cycles of memory traffic.
    pub memory_cycles: f64,
    /// Bytes moved.
    pub bytes: u64,
    /// The memory level the layer's working set fits in.
    pub level: MemLevel,
    /// When the layer runs as shift-add kernels: its digits, operations and the multiply
    /// form's cost (the saving is the difference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift_add: Option<crate::shiftadd::ShiftAddChoice>,
}

/// The predicted totals on a target.
#[derive(Clone, Debug, Serialize)]
pub struct CostTotals {
    /// Target name.
    pub target: String,
    /// The objective that decides each layer's bottleneck.
    pub objective: Objective,
    /// Sum of the layers' latencies, seconds.
    pub latency_s: f64,
    /// Sum of the layers' energies, picojoules.
    pub energy_pj: f64,
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
    /// Predicted totals, when a target was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostTotals>,
}

fn type_label(graph: &Graph, id: crate::graph::ValueId) -> String {
    match graph.ty(id) {
        Some(t) => format!("{} {}", shape_string(&t.shape), t.dtype),
        None => "?".into(),
    }
}

/// Inspects a graph.
pub fn inspect(graph: &Graph) -> Result<Inspection, GraphError> {
    inspect_on(graph, None, Objective::Latency)
}

/// Inspects a graph and, given a target profile, predicts each layer's cost on it.
pub fn inspect_on(graph: &Graph, target: Option<&Profile>, objective: Objective) -> Result<Inspection, GraphError> {
    let mut nodes = Vec::new();
    let mut counted = vec![false; graph.values.len()];
    let (mut total_params, mut total_macs) = (0u64, 0u64);
    let mut opaque_ops = Vec::new();
    let mut op_counts = std::collections::BTreeMap::new();
    // Values computed from constants only (folded at emission, as in the e-graph's analysis).
    let mut weight_only: Vec<bool> = graph.values.iter().map(|v| matches!(v.kind, ValueKind::Const { .. })).collect();
    let integer = crate::graph::qdq::IntegerKernels::of(graph);
    // Forms the back end runs as one kernel: Winograd convolutions, base-2 softmaxes and
    // softmaxes of 8-bit inputs.
    let mut fused = winograd_work(graph);
    fused.extend(crate::softermax::work_by_node(graph));
    fused.extend(crate::softmax8::work_by_node(graph));
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
        let folded = !node.op.is_opaque() && node.inputs.iter().flatten().all(|v| weight_only[v.index()]);
        for &o in &node.outputs {
            weight_only[o.index()] = folded;
        }
        let mut shift_add = None;
        let cost = target.map(|profile| {
            let outs: Vec<_> = node.outputs.iter().filter_map(|&o| graph.ty(o).cloned()).collect();
            let c = match (folded || integer.absorbed.contains(&id), integer.kernels.get(&id)) {
                (true, _) => crate::cost::Estimate::zero(),
                // A QDQ group's integer kernel multiplies the integers its dequantizations read.
                (false, Some((x, w))) => {
                    let mut ints = in_types.clone();
                    ints[0] = Some(x);
                    ints[1] = Some(w);
                    // A kernel storing through a clamp and a QuantizeLinear writes what they
                    // would have: the clamp and the requantization are done in its store.
                    let store = integer.stores.get(&id);
                    let written = store.map_or(outs.clone(), |s| vec![s.written.clone()]);
                    let mut mult = crate::cost::kernel_work(&node.op, &ints, &written);
                    if let Some(s) = store {
                        mult.fused_store(s.written.numel() as u64, s.clamped, s.requantized);
                    }
                    // Weights coded as digit planes run as shift-add kernels.
                    let coded = node.inputs.get(1).copied().flatten().and_then(|v| weight_ints(graph, v));
                    let layout = |v| match crate::shiftadd::searches_sharing(profile) {
                        true => crate::shiftadd::Layout::of(&node.op, graph.ty(v).map_or(&[][..], |t| &t.shape)),
                        false => crate::shiftadd::Layout::Unshared,
                    };
                    let n = outs.first().map_or(0, |t| t.numel() as u64);
                    let p = crate::cost::precision_of(x.dtype).0;
                    match coded.and_then(|v| crate::shiftadd::coding_of(graph, v, layout(v))) {
                        Some(coding) => {
                            let (choice, work) = crate::shiftadd::ShiftAddChoice::price(profile, &mult, p, &coding, n);
                            shift_add = Some(choice);
                            crate::cost::roofline(profile, &work)
                        }
                        None => {
                            let work = crate::shiftadd::multiply_work(&mult, p, n, profile.shift_add);
                            crate::cost::roofline(profile, &work)
                        }
                    }
                }
                (false, None) => match (fused.get(&id), integer.moves.get(&id), integer.adds.get(&id)) {
                    (Some(work), ..) => crate::cost::roofline(profile, work),
                    // A MaxPool or Reshape between a dequantization and a quantization moves
                    // the integers.
                    (None, Some(t), _) => {
                        let mut ints = in_types.clone();
                        ints[0] = Some(t);
                        let outs: Vec<_> = outs.iter().map(|o| TensorType::new(t.dtype, o.shape.clone())).collect();
                        crate::cost::kernel_cost(profile, &node.op, &ints, &outs)
                    }
                    // An Add of two dequantized 8-bit tensors, quantized after it, sums the
                    // integers and stores the quantized sum.
                    (None, None, Some([a, b])) => {
                        let s = &integer.stores[&id];
                        crate::cost::roofline(profile, &crate::work::integer_add_work([a, b], &s.written, s.clamped))
                    }
                    (None, None, None) => crate::cost::kernel_cost(profile, &node.op, &in_types, &outs),
                },
            };
            LayerCost {
                weight_only: folded,
                latency_s: c.latency_s,
                energy_pj: c.energy_pj,
                bottleneck: c.bottleneck_for(objective),
                compute_cycles: c.compute_cycles,
                memory_cycles: c.memory_cycles,
                bytes: c.bytes,
                level: c.level,
                shift_add: shift_add.take(),
            }
        });
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
            cost,
        });
    }
    let cost = target.map(|profile| CostTotals {
        target: profile.name.clone(),
        objective,
        latency_s: nodes.iter().filter_map(|n| n.cost.as_ref()).map(|c| c.latency_s).sum(),
        energy_pj: nodes.iter().filter_map(|n| n.cost.as_ref()).map(|c| c.energy_pj).sum(),
    });
    let op_counts = op_counts.into_iter().collect();
    Ok(Inspection { nodes, total_params, total_macs, opaque_ops, op_counts, cost })
}

/// Seconds as `12.3 us` / `4.56 ms` / `1.23 s`.
fn seconds(s: f64) -> String {
    match s {
        s if s < 1e-3 => format!("{:.2} us", s * 1e6),
        s if s < 1.0 => format!("{:.3} ms", s * 1e3),
        s => format!("{s:.3} s"),
    }
}

/// Picojoules as `12.3 nJ` / `4.56 uJ` / `1.23 mJ`.
fn joules(pj: f64) -> String {
    match pj {
        p if p < 1e6 => format!("{:.2} nJ", p / 1e3),
        p if p < 1e9 => format!("{:.2} uJ", p / 1e6),
        p => format!("{:.2} mJ", p / 1e9),
    }
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
        let cost_head = if self.cost.is_some() {
            format!("{:>11}  {:>10}  {:<7}  ", "latency", "energy", "bound")
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{:<name_w$}  {:<op_w$}  {:>10}  {:>12}  {cost_head}inputs -> outputs",
            "node", "op", "params", "MACs"
        );
        for n in &self.nodes {
            let cost = match &n.cost {
                Some(c) => {
                    let bound = format!("{:?}", c.bottleneck).to_lowercase();
                    format!("{:>11}  {:>10}  {bound:<7}  ", seconds(c.latency_s), joules(c.energy_pj))
                }
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "{:<name_w$}  {:<op_w$}  {:>10}  {:>12}  {cost}{} -> {}",
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
        if let Some(c) = &self.cost {
            let _ = writeln!(
                s,
                "predicted on {}: {}, {} (bottleneck by {}; single thread)",
                c.target,
                seconds(c.latency_s),
                joules(c.energy_pj),
                c.objective
            );
        }
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

/// The work of the nodes of the graph's Winograd forms as the back end runs them
/// ([`crate::winograd::Form`]): the transforms by additions ([`crate::winograd::input_work`],
/// [`crate::winograd::output_work`]), the products as the MatMul they are, the layout nodes
/// between them not at all.
fn winograd_work(graph: &Graph) -> std::collections::HashMap<crate::graph::NodeId, crate::work::Work> {
    let mut work = std::collections::HashMap::new();
    let ty = |v: Option<crate::graph::ValueId>| v.and_then(|v| graph.ty(v));
    for form in crate::winograd::forms(graph).values() {
        let (input, output) = (graph.node(form.input), graph.node(form.output));
        let (x, v) = (ty(input.inputs[0]), ty(Some(input.outputs[0])));
        let (m, y, b) =
            (ty(output.inputs[0]), ty(Some(output.outputs[0])), ty(output.inputs.get(2).copied().flatten()));
        let (Some(x), Some(v), Some(m), Some(y)) = (x, v, m, y) else { continue };
        work.insert(form.input, crate::winograd::input_work(form.size, x, v));
        work.insert(form.output, crate::winograd::output_work(form.size, m, y, b));
        for (i, &n) in form.middle.iter().enumerate() {
            if i != 2 {
                work.insert(n, crate::work::Work::none());
                continue;
            }
            // middle[2] is the MatMul of the products, priced as it is but for its working set.
            let node = graph.node(n);
            let ins: Vec<_> = node.inputs.iter().map(|&v| ty(v)).collect();
            let outs: Option<Vec<_>> = node.outputs.iter().map(|&o| ty(Some(o)).cloned()).collect();
            if let (Some(u), Some(outs)) = (ins.first().copied().flatten(), outs) {
                work.insert(n, crate::winograd::products_work(crate::cost::kernel_work(&node.op, &ins, &outs), u));
            }
        }
    }
    work
}
