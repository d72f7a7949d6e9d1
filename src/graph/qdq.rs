//! Quantized (QDQ) groups as an integer back end runs them: which Conv, Gemm and MatMul nodes
//! multiply 8-bit integers, which Adds sum two dequantized 8-bit tensors into a QuantizeLinear
//! (a residual join, as onnxruntime's QLinearAdd runs it), which DequantizeLinear nodes only feed
//! them (and so are never computed), and which ReLU/Clip and QuantizeLinear after them the
//! kernel's store computes (requantized in the store, as onnxruntime's QLinearConv does, so never
//! a pass of their own). The cost model prices a graph with it; the Rust back end's plan
//! (`emit::lower::quant`) applies further conditions of its own (per-tensor activation scales,
//! scales along the output channels), which a model from gos-opt's quantization rules meets.

use super::{Graph, NodeId, ValueId, ValueKind};
use crate::ops::{BinaryKind, Op, PoolKind, UnaryKind};
use crate::tensor::{DType, TensorType};
use std::collections::{HashMap, HashSet};

/// The integer kernels of a graph.
#[derive(Debug, Default)]
pub struct IntegerKernels {
    /// Conv, Gemm and MatMul nodes that multiply 8-bit integers: their activation and weight
    /// integer types.
    pub kernels: HashMap<NodeId, (TensorType, TensorType)>,
    /// Elementwise Adds of the DequantizeLinear of two runtime 8-bit tensors (same shapes,
    /// per-tensor scales and zero points) whose sum, through a ReLU/Clip or not, a QuantizeLinear
    /// stores as integers only DequantizeLinear nodes read ([`integer_add`]): the two integer
    /// types they read. Each has a requantizing store (`stores`).
    pub adds: HashMap<NodeId, [TensorType; 2]>,
    /// Nodes never computed on their own: DequantizeLinear nodes whose every reader is an
    /// integer kernel reading them as its input, an integer add or a move, and the ReLU/Clip and
    /// QuantizeLinear nodes an integer kernel's or add's store computes (or a move's
    /// QuantizeLinear).
    pub absorbed: HashSet<NodeId>,
    /// Per integer kernel or add that stores through the nodes after it, what its store does.
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
        let dequantized = |v: Option<ValueId>| dequantized(graph, v?).map(|(_, t, constant)| (t, constant));
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
        let adds: Vec<_> = graph.dag.node_indices().filter_map(|id| integer_add(graph, id, &readers)).collect();
        for (id, ints, through, store) in adds {
            // It reads both inputs as integers.
            for v in graph.node(id).inputs.iter().flatten() {
                for (r, as_integer) in readers.get_mut(v).into_iter().flatten() {
                    *as_integer |= *r == id;
                }
            }
            found.adds.insert(id, ints);
            found.absorbed.extend(through);
            found.stores.insert(id, store);
        }
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
            let Some(&out) = graph.node(id).outputs.first() else { continue };
            if let Some((through, store)) = store_through(graph, &readers, out) {
                found.absorbed.extend(through);
                found.stores.insert(id, store);
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
    let same = per_tensor(graph, dq).is_some_and(|p| Some(p) == per_tensor(graph, qn))
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

/// When `id` is an Add (without legacy broadcasting) of the DequantizeLinear of two runtime 8-bit
/// tensors of its output's shape, each dequantized per tensor, whose sum a QuantizeLinear (per
/// tensor) stores through the nodes after it ([`store_through`]): its two integer types, the
/// nodes its store computes, and the store. The back end runs it as one kernel that reads the two
/// integer tensors and writes the QuantizeLinear's integers (`emit::lower::qadd`).
fn integer_add(graph: &Graph, id: NodeId, readers: &Readers) -> Option<(NodeId, [TensorType; 2], Vec<NodeId>, Store)> {
    let node = graph.node(id);
    if !matches!(&node.op, Op::Binary(b) if b.kind == BinaryKind::Add && b.legacy.is_none()) {
        return None;
    }
    let out = *node.outputs.first()?;
    let shape = &graph.ty(out)?.shape;
    let int = |i: usize| -> Option<TensorType> {
        let (dq, t, constant) = dequantized(graph, node.inputs.get(i).copied().flatten()?)?;
        (!constant && &t.shape == shape && per_tensor(graph, graph.node(dq)).is_some()).then_some(t)
    };
    let ints = [int(0)?, int(1)?];
    let (through, store) = store_through(graph, readers, out)?;
    let q = graph.node(*through.last()?);
    (store.requantized && per_tensor(graph, q).is_some()).then_some((id, ints, through, store))
}

/// The nodes a kernel writing `out` computes in its store: a ReLU, or a Clip with constant
/// bounds, reading `out` alone, then a QuantizeLinear reading that alone whose integers only
/// DequantizeLinear nodes read (each optional, in that order); with what the store does.
/// `None` when neither is there.
fn store_through(graph: &Graph, readers: &Readers, mut out: ValueId) -> Option<(Vec<NodeId>, Store)> {
    let sole_reader = |v: ValueId| sole_reader(graph, readers, v);
    let mut through = Vec::new();
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
    let mut requantized = false;
    if let Some(q) = sole_reader(out) {
        let n = graph.node(q);
        let y = n.outputs[0];
        if matches!(n.op, Op::QuantizeLinear(_))
            && n.inputs.first().copied().flatten() == Some(out)
            && !graph.outputs.contains(&y)
            && dequantized_only(graph, readers, y)
        {
            through.push(q);
            out = y;
            requantized = true;
        }
    }
    let written = graph.ty(out).filter(|_| !through.is_empty())?.clone();
    let clamped = through.len() > requantized as usize;
    Some((through, Store { written, clamped, requantized }))
}

/// When `v` is the output of a DequantizeLinear of 8-bit integers: the DequantizeLinear, the
/// integer type, and whether the integers are constant.
fn dequantized(graph: &Graph, v: ValueId) -> Option<(NodeId, TensorType, bool)> {
    let ValueKind::Node { node } = graph.value(v).kind else { return None };
    let dq = graph.node(node);
    if !matches!(dq.op, Op::DequantizeLinear(_)) {
        return None;
    }
    let x = dq.inputs.first().copied().flatten()?;
    let t = graph.ty(x).filter(|t| matches!(t.dtype, DType::I8 | DType::U8))?;
    Some((node, t.clone(), graph.constant(x).is_some()))
}

/// The constant scale and zero point (0 when absent) of a QuantizeLinear or DequantizeLinear
/// `n`, when there is one of each (per tensor).
fn per_tensor(graph: &Graph, n: &super::Node) -> Option<(Vec<f64>, Vec<i64>)> {
    let scale = graph.constant(n.inputs.get(1).copied().flatten()?)?.to_f64_vec()?;
    let zero = match n.inputs.get(2).copied().flatten() {
        Some(z) => graph.constant(z)?.to_i64_vec()?,
        None => vec![0],
    };
    (scale.len() == 1 && zero.len() == 1).then_some((scale, zero))
}

/// The readers of each value, with whether each reads it as an integer kernel's or an integer
/// add's input.
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

    /// `x, y (u8) → DQ each → Add → Relu → Q → DQ → out`, with the QuantizeLinear's integers
    /// also a graph output when `q_out` is set.
    fn residual(q_out: bool) -> (Graph, Vec<NodeId>) {
        let mut g = Graph::default();
        let ty = |d, s: &[usize]| Some(TensorType::new(d, s.to_vec()));
        let value = |g: &mut Graph, name: &str, t| g.add_value(Value { name: name.into(), ty: t, ..Value::default() });
        let (x, y) = (value(&mut g, "x", ty(DType::U8, &[1, 2, 3])), value(&mut g, "y", ty(DType::U8, &[1, 2, 3])));
        for v in [x, y] {
            g.values[v.index()].kind = ValueKind::Input;
            g.inputs.push(v);
        }
        let c = |g: &mut Graph, name: &str, t: TensorData| {
            g.add_const(name, Arc::new(Tensor::new(vec![], t)), ConstOrigin::Derived)
        };
        let (s1, s2) = (c(&mut g, "s1", TensorData::F32(vec![0.1])), c(&mut g, "s2", TensorData::F32(vec![0.2])));
        let zero = c(&mut g, "z", TensorData::U8(vec![3]));
        let (f, u) = (ty(DType::F32, &[1, 2, 3]), ty(DType::U8, &[1, 2, 3]));
        let mut ids = Vec::new();
        let mut node = |g: &mut Graph, op: &str, inputs: &[ValueId], t| {
            let out = value(g, &format!("v{}", ids.len()), t);
            let n = Node {
                name: format!("n{}", ids.len()),
                op: Op::parse(&parser(op, 13, &Vec::new())).unwrap(),
                inputs: inputs.iter().map(|&v| Some(v)).collect(),
                outputs: vec![out],
                doc_string: String::new(),
            };
            ids.push(g.add_node(n).unwrap());
            out
        };
        let dx = node(&mut g, "DequantizeLinear", &[x, s1, zero], f.clone());
        let dy = node(&mut g, "DequantizeLinear", &[y, s2, zero], f.clone());
        let sum = node(&mut g, "Add", &[dx, dy], f.clone());
        let r = node(&mut g, "Relu", &[sum], f.clone());
        let q = node(&mut g, "QuantizeLinear", &[r, s1, zero], u);
        let out = node(&mut g, "DequantizeLinear", &[q, s1, zero], f);
        g.outputs.push(out);
        if q_out {
            g.outputs.push(q);
        }
        (g, ids)
    }

    #[test]
    fn an_add_of_dequantized_integers_stores_through_its_relu_and_quantizelinear() {
        let (g, ids) = residual(false);
        let k = IntegerKernels::of(&g);
        let (dx, dy, add, relu, q) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
        assert_eq!(k.adds.get(&add).map(|[a, b]| (a.dtype, b.dtype)), Some((DType::U8, DType::U8)));
        assert_eq!(k.absorbed, [dx, dy, relu, q].into_iter().collect());
        let s = &k.stores[&add];
        assert_eq!((s.written.dtype, s.clamped, s.requantized), (DType::U8, true, true));
        let (g, _) = residual(true);
        let k = IntegerKernels::of(&g);
        assert!(k.adds.is_empty() && k.absorbed.is_empty(), "integers read as a graph output: a float add");
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
