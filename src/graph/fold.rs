//! Folding of shape computations: a value that decides a shape (a Reshape target, Slice bounds)
//! and is computed by nodes from constants and static shapes becomes a constant.

use super::{ConstOrigin, Graph, ValueId, ValueKind};
use crate::ops::Op;
use crate::tensor::Tensor;
use std::sync::Arc;

/// Largest tensor folded (elements); shape computations are far smaller.
const MAX_FOLD_ELEMENTS: usize = 1 << 20;

/// Replaces the node producing `value` (and, recursively, the nodes it depends on) by
/// constants. Fails when some node on the way cannot be evaluated here.
pub fn materialize(graph: &mut Graph, value: ValueId, touched: &mut Vec<ValueId>) -> Result<(), String> {
    let ValueKind::Node { node: id } = graph.value(value).kind else {
        return match graph.value(value).kind {
            ValueKind::Const { .. } => Ok(()),
            _ => Err(format!("'{}' is a graph input, known only at run time", graph.value(value).name)),
        };
    };
    let node = graph.node(id).clone();
    let label = format!("'{}' ({})", node.name, node.op.onnx_name());
    let outputs: Vec<Tensor> = if let Op::Shape(shape) = &node.op {
        // Shape needs only the static type of its input.
        let input = node.inputs.first().copied().flatten().ok_or("Shape without input")?;
        let ty = graph.ty(input).ok_or_else(|| format!("the type of '{}' is unknown", graph.value(input).name))?;
        vec![shape.shape_of(ty)]
    } else {
        for input in node.inputs.iter().flatten() {
            materialize(graph, *input, touched)?;
        }
        let args: Vec<Option<&Tensor>> =
            node.inputs.iter().map(|v| v.and_then(|id| graph.constant(id).map(|t| &**t))).collect();
        if args.iter().flatten().any(|t| t.numel() > MAX_FOLD_ELEMENTS) {
            return Err(format!("{label} works on tensors too large to fold"));
        }
        match node.op.eval(&args) {
            None => return Err(format!("{label} cannot be evaluated at import")),
            Some(Err(e)) => return Err(format!("{label}: {e}")),
            Some(Ok(outs)) => outs,
        }
    };
    graph.remove_node(id);
    touched.extend(node.inputs.iter().flatten());
    for (&out, tensor) in node.outputs.iter().zip(outputs) {
        let v = graph.value_mut(out);
        v.ty = Some(tensor.ttype());
        v.kind = ValueKind::Const { tensor: Arc::new(tensor), origin: ConstOrigin::Derived };
    }
    Ok(())
}

/// After folding, drops the `touched` constants (inputs of folded nodes) that nothing reads any
/// more and that the file did not hold as initializers.
pub fn prune_folded(graph: &mut Graph, touched: &[ValueId]) {
    let used = graph.used_values();
    for &id in touched {
        let (i, v) = (id.index(), graph.value_mut(id));
        let prunable =
            matches!(&v.kind, ValueKind::Const { origin: ConstOrigin::Derived | ConstOrigin::ConstantNode { .. }, .. });
        if !used[i] && prunable {
            v.kind = ValueKind::Unset;
        }
    }
}
