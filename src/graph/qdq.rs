//! Quantized (QDQ) groups as an integer back end runs them: which Conv, Gemm and MatMul nodes
//! multiply 8-bit integers, which DequantizeLinear nodes only feed them (and so are never
//! computed), and which ReLU/Clip and QuantizeLinear after them the kernel's store computes
//! (requantized in the store, as onnxruntime's QLinearConv does, so never a pass of their own). The cost model prices a graph with it; the Rust back end's plan
//! (`emit::lower::quant`) applies further conditions of its own (per-tensor activation scales,
//! scales along the output channels), which a model from gos-opt's quantization rules meets.

use super::{Graph, NodeId, ValueId, ValueKind};
use crate::ops::{Op, PoolKind, UnaryKind};
use crate::tensor::{DType, TensorType};
use std::collections::{HashMap, HashSet};

/// The integer kernels of a graph.
#[derive(Debug, Default)]
pub struct IntegerKernels {
    /// Conv, Gemm and MatMul nodes that multiply 8-bit integers: their activation and weight
    /// integer types.
    pub kernels: HashMap<NodeId, (TensorType, TensorType)>,
    /// Nodes never computed on their own: DequantizeLinear nodes whose every reader is an
    /// integer kernel reading them as its input, and the ReLU/Clip and QuantizeLinear nodes an
    /// integer kernel's store computes.
    pub absorbed: HashSet<NodeId>,
    /// Per integer kernel that stores through the nodes after it, what its store does.
    pub stores: HashMap<NodeId, Store>,
    /// Nodes that only select or move values (MaxPool, Reshape and kin) between a
    /// DequantizeLinear and a QuantizeLinear of the same quantization, run on the integers: the
    /// integer type they read and write. The QuantizeLinear after each is absorbed.
    pub moves: HashMap<NodeId, TensorType>,
}

/// The store of an integer kernel that computes the nodes after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Store {
    /// The type it writes: the QuantizeLinear's 8-bit output, or the clamp's float output.
    pub written: TensorType,
    /// Whether it clamps (a ReLU or Clip).
    pub clamped: bool,
    /// Whether it requantizes (a QuantizeLinear).
    pub requantized: bool,
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
        let mut readers = Readers::new();
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
        let sole_reader = |v: ValueId| sole_reader(graph, &readers, v);
        for id in graph.dag.node_indices() {
            if let Some((t, q)) = integer_move(graph, id, &readers) {
                found.moves.insert(id, t);
                found.absorbed.insert(q);
            }
        }
        for id in graph.dag.node_indices() {
            let node = graph.node(id);
            let Some(&out) = node.outputs.first() else { continue };
            let integer_input = |&(r, as_integer): &(NodeId, bool)| {
                as_integer
                    || found.moves.contains_key(&r) && graph.node(r).inputs.first().copied().flatten() == Some(out)
            };
            if matches!(node.op, Op::DequantizeLinear(_))
                && !graph.outputs.contains(&out)
                && readers.get(&out).is_some_and(|r| r.iter().all(integer_input))
            {
                found.absorbed.insert(id);
            }
        }
        let kernels: Vec<NodeId> = found.kernels.keys().copied().collect();
        for id in kernels {
            let Some(mut out) = graph.node(id).outputs.first().copied() else { continue };
            let mut through = Vec::new();
            // A ReLU, or a Clip with constant bounds, reading the kernel's output alone.
            if let Some(act) = sole_reader(out) {
                let n = graph.node(act);
                let clamp = match &n.op {
                    Op::Unary(u) => u.kind == UnaryKind::Relu,
                    Op::Clip(_) => n.inputs.iter().skip(1).flatten().all(|v| graph.constant(*v).is_some()),
                    _ => false,
                };
                if clamp && n.inputs.first().copied().flatten() == Some(out) {
                    through.push(act);
                    out = n.outputs[0];
                }
            }
            // A QuantizeLinear reading that alone, whose integers only DequantizeLinear nodes read.
            let mut requantized = false;
            if let Some(q) = sole_reader(out) {
                let n = graph.node(q);
                let y = n.outputs[0];
                if matches!(n.op, Op::QuantizeLinear(_))
                    && n.inputs.first().copied().flatten() == Some(out)
                    && !graph.outputs.contains(&y)
                    && dequantized_only(graph, &readers, y)
                {
                    through.push(q);
                    out = y;
                    requantized = true;
                }
            }
            if let (false, Some(t)) = (through.is_empty(), graph.ty(out)) {
                let clamped = through.len() > requantized as usize;
                found.absorbed.extend(through);
                found.stores.insert(id, Store { written: t.clone(), clamped, requantized });
            }
        }
        found
    }
}

/// When `id` only selects or moves values (a MaxPool without its indices read, a Reshape,
/// Flatten, Squeeze, Unsqueeze or Identity) of the DequantizeLinear of runtime 8-bit integers,
/// and a QuantizeLinear of the same constant scale and zero point alone reads its output (and
/// only DequantizeLinear nodes read the QuantizeLinear's): the integer type and the
/// QuantizeLinear. The back end runs such a node on the integers (`emit::lower::quant`, where
/// why it is exact is stated).
fn integer_move(graph: &Graph, id: NodeId, readers: &Readers) -> Option<(TensorType, NodeId)> {
    let node = graph.node(id);
    let unread = |v: &ValueId| !readers.contains_key(v) && !graph.outputs.contains(v);
    let moves_values = match &node.op {
        Op::Pool(p) => p.kind == PoolKind::Max && node.outputs.iter().skip(1).all(unread),
        op => op.only_reshapes(),
    };
    let dq = match graph.value(node.inputs.first().copied().flatten()?).kind {
        ValueKind::Node { node } => graph.node(node),
        _ => return None,
    };
    let q = sole_reader(graph, readers, node.outputs[0])?;
    let qn = graph.node(q);
    let x = dq.inputs.first().copied().flatten()?;
    let t = graph.ty(x).filter(|t| matches!(t.dtype, DType::I8 | DType::U8) && graph.constant(x).is_none())?;
    let params = |n: &super::Node| -> Option<(Vec<f64>, Vec<i64>)> {
        let scale = graph.constant(n.inputs.get(1).copied().flatten()?)?.to_f64_vec()?;
        let zero = match n.inputs.get(2).copied().flatten() {
            Some(z) => graph.constant(z)?.to_i64_vec()?,
            None => vec![0],
        };
        (scale.len() == 1 && zero.len() == 1).then_some((scale, zero))
    };
    let same = params(dq).is_some_and(|p| Some(p) == params(qn))
        && graph.ty(qn.outputs[0]).is_some_and(|y| y.dtype == t.dtype);
    (moves_values
        && same
        && matches!(dq.op, Op::DequantizeLinear(_))
        && matches!(qn.op, Op::QuantizeLinear(_))
        && qn.inputs.first().copied().flatten() == Some(node.outputs[0])
        && !graph.outputs.contains(&qn.outputs[0])
        && dequantized_only(graph, readers, qn.outputs[0]))
    .then(|| (t.clone(), q))
}

/// The readers of each value, with whether each reads it as an integer kernel's input.
type Readers = HashMap<ValueId, Vec<(NodeId, bool)>>;

/// The single reader of `v`, when `v` is not a graph output.
fn sole_reader(graph: &Graph, readers: &Readers, v: ValueId) -> Option<NodeId> {
    match readers.get(&v).map(|r| r.as_slice()) {
        Some([(n, _)]) if !graph.outputs.contains(&v) => Some(*n),
        _ => None,
    }
}

/// Whether only DequantizeLinear nodes read the integers `y`.
fn dequantized_only(graph: &Graph, readers: &Readers, y: ValueId) -> bool {
    readers.get(&y).is_some_and(|r| {
        r.iter().all(|&(r, _)| {
            let d = graph.node(r);
            matches!(d.op, Op::DequantizeLinear(_)) && d.inputs.first().copied().flatten() == Some(y)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ConstOrigin, Node, Value, ValueKind};
    use crate::ops::test_support::parser;
    use crate::tensor::{Tensor, TensorData};
    use std::sync::Arc;

    /// `x (u8) → DQ → Conv(DQ(w)) → Relu → Q → DQ → Conv(DQ(w)) → y`, with the Relu's output
    /// also a graph output when `relu_out` is set.
    fn chain(relu_out: bool) -> (Graph, Vec<NodeId>) {
        let mut g = Graph::default();
        let ty = |d, s: &[usize]| Some(TensorType::new(d, s.to_vec()));
        let value = |g: &mut Graph, name: &str, t| g.add_value(Value { name: name.into(), ty: t, ..Value::default() });
        let x = value(&mut g, "x", ty(DType::U8, &[1, 1, 4, 4]));
        g.values[x.index()].kind = ValueKind::Input;
        g.inputs.push(x);
        let c = |g: &mut Graph, name: &str, t: Tensor| g.add_const(name, Arc::new(t), ConstOrigin::Derived);
        let scale = c(&mut g, "s", Tensor::new(vec![], TensorData::F32(vec![0.1])));
        let zero = c(&mut g, "z", Tensor::new(vec![], TensorData::U8(vec![0])));
        let w = c(&mut g, "w", Tensor::new(vec![1, 1, 1, 1], TensorData::I8(vec![3])));
        let wz = c(&mut g, "wz", Tensor::new(vec![], TensorData::I8(vec![0])));
        let mut ids = Vec::new();
        let mut node = |g: &mut Graph, op: &str, inputs: &[ValueId], out: &str, t| {
            let y = value(g, out, t);
            let op = Op::parse(&parser(op, 13, &Vec::new())).unwrap();
            let n = Node {
                name: out.into(),
                op,
                inputs: inputs.iter().map(|&v| Some(v)).collect(),
                outputs: vec![y],
                doc_string: String::new(),
            };
            ids.push(g.add_node(n).unwrap());
            y
        };
        let f = ty(DType::F32, &[1, 1, 4, 4]);
        let dx = node(&mut g, "DequantizeLinear", &[x, scale, zero], "dx", f.clone());
        let dw = node(&mut g, "DequantizeLinear", &[w, scale, wz], "dw", ty(DType::F32, &[1, 1, 1, 1]));
        let c1 = node(&mut g, "Conv", &[dx, dw], "c1", f.clone());
        let r = node(&mut g, "Relu", &[c1], "r", f.clone());
        let q = node(&mut g, "QuantizeLinear", &[r, scale, zero], "q", ty(DType::U8, &[1, 1, 4, 4]));
        let dq = node(&mut g, "DequantizeLinear", &[q, scale, zero], "dq", f.clone());
        let y = node(&mut g, "Conv", &[dq, dw], "y", f);
        g.outputs.push(y);
        if relu_out {
            g.outputs.push(r);
        }
        (g, ids)
    }

    /// `x (u8) → DQ → MaxPool → Q(scale) → DQ → y`: the pool moves integers when `scale` is the
    /// first dequantization's.
    fn pooled(scale: f32) -> (Graph, Vec<NodeId>) {
        let mut g = Graph::default();
        let ty = |d, s: &[usize]| Some(TensorType::new(d, s.to_vec()));
        let x = g.add_value(Value { name: "x".into(), ty: ty(DType::U8, &[1, 1, 4, 4]), ..Value::default() });
        g.values[x.index()].kind = ValueKind::Input;
        g.inputs.push(x);
        let c = |g: &mut Graph, name: &str, v: f32| {
            g.add_const(name, Arc::new(Tensor::new(vec![], TensorData::F32(vec![v]))), ConstOrigin::Derived)
        };
        let (s1, s2) = (c(&mut g, "s1", 0.1), c(&mut g, "s2", scale));
        let zero = g.add_const("z", Arc::new(Tensor::new(vec![], TensorData::U8(vec![3]))), ConstOrigin::Derived);
        let mut ids = Vec::new();
        let (f4, f2, u2) = (ty(DType::F32, &[1, 1, 4, 4]), ty(DType::F32, &[1, 1, 2, 2]), ty(DType::U8, &[1, 1, 2, 2]));
        let two = || crate::ops::Attr::Ints(vec![2, 2]);
        let steps: [(&str, Vec<ValueId>, _, crate::ops::Attrs); 4] = [
            ("DequantizeLinear", vec![x, s1, zero], f4, vec![]),
            ("MaxPool", vec![], f2.clone(), vec![("kernel_shape".into(), two()), ("strides".into(), two())]),
            ("QuantizeLinear", vec![s2, zero], u2, vec![]),
            ("DequantizeLinear", vec![s2, zero], f2, vec![]),
        ];
        let mut last = None;
        for (k, (op, extra, t, attrs)) in steps.into_iter().enumerate() {
            let y = g.add_value(Value { name: format!("v{k}"), ty: t, ..Value::default() });
            let inputs = if k == 0 { extra } else { [last.into_iter().collect(), extra].concat() };
            let n = Node {
                name: format!("n{k}"),
                op: Op::parse(&parser(op, 13, &attrs)).unwrap(),
                inputs: inputs.into_iter().map(Some).collect(),
                outputs: vec![y],
                doc_string: String::new(),
            };
            ids.push(g.add_node(n).unwrap());
            last = Some(y);
        }
        g.outputs.push(last.unwrap());
        (g, ids)
    }

    #[test]
    fn a_maxpool_between_equal_quantizations_moves_integers() {
        let (g, ids) = pooled(0.1);
        let k = IntegerKernels::of(&g);
        assert_eq!(k.moves.get(&ids[1]).map(|t| t.dtype), Some(DType::U8));
        assert_eq!(k.absorbed, [ids[0], ids[2]].into_iter().collect());
        let (g, ids) = pooled(0.2);
        let k = IntegerKernels::of(&g);
        assert!(k.moves.is_empty() && k.absorbed.is_empty(), "{:?}", ids);
    }

    #[test]
    fn a_kernel_stores_through_its_relu_and_quantizelinear() {
        let (g, ids) = chain(false);
        let k = IntegerKernels::of(&g);
        let (dx, c1, relu, q, dq, y) = (ids[0], ids[2], ids[3], ids[4], ids[5], ids[6]);
        assert!(k.kernels.contains_key(&c1) && k.kernels.contains_key(&y));
        assert_eq!(k.absorbed, [dx, relu, q, dq].into_iter().collect());
        let s = &k.stores[&c1];
        assert_eq!((s.written.dtype, s.clamped, s.requantized), (DType::U8, true, true));
        assert!(!k.stores.contains_key(&y), "a graph output is stored as it is");
    }

    #[test]
    fn a_relu_read_elsewhere_keeps_its_quantizelinear() {
        let (g, ids) = chain(true);
        let k = IntegerKernels::of(&g);
        assert!(k.absorbed.contains(&ids[3]) && !k.absorbed.contains(&ids[4]));
        let s = &k.stores[&ids[2]];
        assert_eq!((s.written.dtype, s.clamped, s.requantized), (DType::F32, true, false));
    }
}
