//! Softmax over an 8-bit input (as `rules/approx/softmax.rules`' `softmax-table8` writes it):
//! a Softmax whose input is the DequantizeLinear, per tensor, of runtime 8-bit integers, which
//! no other node reads. The Rust back end runs the pair as one kernel reading the integers
//! (`k_softmax_q8`), and the cost prediction prices it as that kernel:
//!
//! `e^(x_i - max) = e^(-s·(q_max - q_i))` with `q_max - q_i ∈ [0, 255]`, so per row the largest
//! (and smallest) integer, then per element a table load `e^(-s·d)` and an add to the sum, one
//! reciprocal per row and a multiply by it. The table (TensorFlow Lite's for its 8-bit Softmax,
//! `PopulateSoftmaxLookupTable`) is filled with the module's exp once per call, as far as the
//! rows' spread reaches. The zero point cancels; only the scale enters.

use crate::graph::{Graph, NodeId, ValueId, ValueKind};
use crate::ops::Op;
use crate::tensor::{DType, TensorType};
use crate::work::{OpClass, Tally, Work};
use std::collections::HashMap;

/// Entries of the exp table: every difference of two 8-bit integers' values, `0..=255`.
pub const TABLE: usize = 256;

/// One DequantizeLinear → Softmax pair of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    /// The Softmax: its kernel runs there.
    pub softmax: NodeId,
    /// The DequantizeLinear (never run on its own).
    pub dq: NodeId,
    /// The integers it dequantizes.
    pub q: ValueId,
    /// The Softmax's output.
    pub y: ValueId,
    /// The dequantization's scale.
    pub scale: f32,
    /// The rows as `[outer][n][inner]`, normalized over `n`.
    pub layout: [usize; 3],
}

/// The pairs of `graph`, by their Softmax.
pub fn forms(graph: &Graph) -> HashMap<NodeId, Form> {
    let readers = graph.readers();
    graph.dag.node_indices().filter_map(|id| form(graph, &readers, id)).map(|f| (f.softmax, f)).collect()
}

/// The pair whose Softmax is `id`.
fn form(graph: &Graph, readers: &HashMap<ValueId, Vec<NodeId>>, id: NodeId) -> Option<Form> {
    let node = graph.node(id);
    let Op::Softmax(s) = &node.op else { return None };
    let x = node.inputs.first().copied().flatten()?;
    let ValueKind::Node { node: dq } = graph.value(x).kind else { return None };
    let d = graph.node(dq);
    let Op::DequantizeLinear(op) = &d.op else { return None };
    let q = d.inputs.first().copied().flatten()?;
    let scale = graph.constant(d.inputs.get(1).copied().flatten()?)?.to_f64_vec()?;
    let zero_ok = match d.inputs.get(2).copied().flatten() {
        Some(z) => graph.constant(z)?.numel() == 1,
        None => true,
    };
    let (qt, xt) = (graph.ty(q)?, graph.ty(x)?);
    let ok = op.block_size == 0
        && matches!(qt.dtype, DType::I8 | DType::U8)
        && graph.constant(q).is_none()
        && xt.dtype == DType::F32
        && scale.len() == 1
        && scale[0].is_finite()
        && scale[0] > 0.0
        && zero_ok
        && !graph.outputs.contains(&x)
        && readers.get(&x).is_some_and(|r| r == &[id]);
    let layout = s.rows(&xt.shape).ok()?;
    ok.then(|| Form { softmax: id, dq, q, y: node.outputs[0], scale: scale[0] as f32, layout })
}

/// The work of the kernel on the 8-bit input `q` in rows of `n`: per element two integer
/// compares (the row's largest and smallest, in any order: exact), the difference and the
/// table load one lane at a time (a gather), an add to the row's sum (in eight partial sums,
/// so it vectorizes) and the multiply by `1/Σ`; a reciprocal per row; the table's exps, at most
/// [`TABLE`]; bytes: the integers read, the floats written, the table.
pub fn work(q: &TensorType, n: usize) -> Work {
    let elements = q.numel() as u64;
    let rows = elements / n.max(1) as u64;
    let mut t = Tally::default();
    t.on(q.dtype, OpClass::Compare, 2 * elements);
    t.on_scalar(DType::I32, OpClass::Add, elements);
    t.on(DType::F32, OpClass::Add, elements);
    t.on(DType::F32, OpClass::Mul, elements);
    t.on(DType::F32, OpClass::Divide, rows);
    t.on(DType::F32, OpClass::Transcendental, elements.min(TABLE as u64));
    let out = 4 * elements;
    let bytes = q.bytes() as u64 + out + 4 * TABLE as u64;
    t.work(bytes, bytes)
}

/// The work of every node of every pair of `graph`: the kernel's at the Softmax, none at the
/// DequantizeLinear.
pub fn work_by_node(graph: &Graph) -> HashMap<NodeId, Work> {
    let mut out = HashMap::new();
    for form in forms(graph).values() {
        let Some(q) = graph.ty(form.q) else { continue };
        out.insert(form.softmax, work(q, form.layout[1]));
        out.insert(form.dq, Work::none());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ConstOrigin, ModelMeta, Node, Value};
    use crate::ops::{DequantizeLinear, QuantizeLinear, Softmax};
    use crate::tensor::{Tensor, TensorData};
    use std::sync::Arc;

    /// `x (f32) → QuantizeLinear → DequantizeLinear → Softmax → y` over `[4, 196, 49]`, with the
    /// DequantizeLinear's output also a graph output when `shared`.
    fn graph(shared: bool) -> Graph {
        let mut g = Graph::new(ModelMeta::default());
        let shape = vec![4, 196, 49];
        let value = |g: &mut Graph, name: &str, dtype| {
            g.add_value(Value {
                name: name.into(),
                ty: Some(TensorType::new(dtype, shape.clone())),
                ..Value::default()
            })
        };
        let x = value(&mut g, "x", DType::F32);
        g.values[x.index()].kind = ValueKind::Input;
        g.inputs.push(x);
        let s = g.add_const("s", Arc::new(Tensor::f32(vec![], vec![0.05])), ConstOrigin::Derived);
        let z = g.add_const("z", Arc::new(Tensor::new(vec![], TensorData::U8(vec![200]))), ConstOrigin::Derived);
        let (q, d, y) = (value(&mut g, "q", DType::U8), value(&mut g, "d", DType::F32), value(&mut g, "y", DType::F32));
        let qop = QuantizeLinear { axis: 1, saturate: true, block_size: 0, output_dtype: None, precision: None };
        let steps = [
            (Op::QuantizeLinear(qop), vec![x, s, z], q),
            (Op::DequantizeLinear(DequantizeLinear { axis: 1, block_size: 0, output_dtype: None }), vec![q, s, z], d),
            (Op::Softmax(Softmax { axis: -1, flatten_trailing: false }), vec![d], y),
        ];
        for (k, (op, inputs, out)) in steps.into_iter().enumerate() {
            let inputs = inputs.into_iter().map(Some).collect();
            g.add_node(Node { name: format!("n{k}"), op, inputs, outputs: vec![out], doc_string: String::new() })
                .unwrap();
        }
        g.outputs.push(y);
        if shared {
            g.outputs.push(d);
        }
        g
    }

    #[test]
    fn finds_the_pair_and_prices_it_below_softmax_and_its_base2_form() {
        let g = graph(false);
        let forms = forms(&g);
        let [form] = &forms.values().collect::<Vec<_>>()[..] else { panic!("{forms:?}") };
        assert_eq!((form.scale, form.layout), (0.05, [784, 49, 1]));
        // The kernel against Softmax's on attention's rows on the Pi 3, and against the base-2
        // form's (degree 2) with the QuantizeLinear pass before it added.
        let (x, q) = (TensorType::new(DType::F32, vec![784, 49]), TensorType::new(DType::U8, vec![784, 49]));
        let rpi3 = crate::cost::load_target("rpi3").unwrap();
        let softmax = Op::Softmax(Softmax { axis: 1, flatten_trailing: false });
        let exact = crate::cost::kernel_cost(&rpi3, &softmax, &[Some(&x)], std::slice::from_ref(&x)).latency_s;
        let table = crate::cost::roofline(&rpi3, &work(&q, 49)).latency_s;
        let quantize =
            crate::cost::kernel_cost(&rpi3, &g.node(NodeId::new(0)).op, &[Some(&x)], std::slice::from_ref(&q));
        let base2 = crate::softermax::Form {
            first: NodeId::new(0),
            rest: vec![],
            div: NodeId::new(0),
            x: ValueId::new(0),
            y: ValueId::new(0),
            axis: 1,
            log2e: 1.0,
            hi: 20.0,
            poly: vec![1.0; 3],
        };
        let base2 = crate::cost::roofline(&rpi3, &crate::softermax::work(&base2, &x)).latency_s;
        assert!(table < 0.4 * exact, "{table} vs {exact}");
        assert!(table + quantize.latency_s < base2, "{table} + {} vs {base2}", quantize.latency_s);
        // Not a pair: a DequantizeLinear read elsewhere too.
        assert!(super::forms(&graph(true)).is_empty());
        let by_node = work_by_node(&g);
        assert_eq!(by_node[&form.dq], Work::none());
    }
}
