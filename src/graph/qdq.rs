//! Quantized (QDQ) groups as an integer back end runs them: which Conv, Gemm and MatMul nodes
//! multiply 8-bit integers, and which DequantizeLinear nodes only feed them (and so are never
//! computed). The cost model prices a graph with it; the Rust back end's plan
//! (`emit::lower::quant`) applies further conditions of its own (per-tensor activation scales,
//! scales along the output channels), which a model from gos-opt's quantization rules meets.

use super::{Graph, NodeId, ValueId, ValueKind};
use crate::ops::Op;
use crate::tensor::{DType, TensorType};
use std::collections::{HashMap, HashSet};

/// The integer kernels of a graph.
#[derive(Debug, Default)]
pub struct IntegerKernels {
    /// Conv, Gemm and MatMul nodes that multiply 8-bit integers: their activation and weight
    /// integer types.
    pub kernels: HashMap<NodeId, (TensorType, TensorType)>,
    /// DequantizeLinear nodes whose every reader is an integer kernel reading them as its input.
    pub absorbed: HashSet<NodeId>,
}

impl IntegerKernels {
    /// Finds them in `graph`.
    pub fn of(graph: &Graph) -> IntegerKernels {
        let producer = |v: ValueId| match graph.value(v).kind {
            ValueKind::Node { node } => Some(node),
            _ => None,
        };
        // The 8-bit type a value is the DequantizeLinear of, and whether those integers are constant.
        let dequantized = |v: Option<ValueId>| -> Option<(TensorType, bool)> {
            let dq = graph.node(producer(v?)?);
            if !matches!(dq.op, Op::DequantizeLinear(_)) {
                return None;
            }
            let x = dq.inputs.first().copied().flatten()?;
            let t = graph.ty(x).filter(|t| matches!(t.dtype, DType::I8 | DType::U8))?;
            Some((t.clone(), graph.constant(x).is_some()))
        };
        let mut found = IntegerKernels::default();
        let mut readers: HashMap<ValueId, Vec<(NodeId, bool)>> = HashMap::new();
        for id in graph.dag.node_indices() {
            let node = graph.node(id);
            let integer = matches!(node.op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul(_))
                && match (
                    dequantized(node.inputs.first().copied().flatten()),
                    dequantized(node.inputs.get(1).copied().flatten()),
                ) {
                    (Some((x, false)), Some((w, true))) => {
                        found.kernels.insert(id, (x, w));
                        true
                    }
                    _ => false,
                };
            for (i, v) in node.inputs.iter().enumerate() {
                if let Some(v) = v {
                    readers.entry(*v).or_default().push((id, integer && i == 0));
                }
            }
        }
        for id in graph.dag.node_indices() {
            let node = graph.node(id);
            let Some(&out) = node.outputs.first() else { continue };
            if matches!(node.op, Op::DequantizeLinear(_))
                && !graph.outputs.contains(&out)
                && readers.get(&out).is_some_and(|r| r.iter().all(|&(_, as_integer)| as_integer))
            {
                found.absorbed.insert(id);
            }
        }
        found
    }
}
