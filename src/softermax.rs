//! The base-2 softmax form in a graph (as `rules/approx/softmax.rules` writes it; the constants
//! in [`crate::fit::activation::Softermax`]), which the Rust back end runs as one kernel
//! (`k_softmax2`) and the cost prediction prices as that kernel:
//!
//! `m = ReduceMax(x)`, `c = Clip((m - x)·L, 0, H)`, `k = Cast<int>(c)`, `g = Cast<float>(k) - c`,
//! `p = (…(a_D·g + a_{D-1})·g + …)·g + a_0`, `e = p · Gather(T, k)`, `y = e / ReduceSum(e)`
//!
//! over one axis (both reductions keep it), `L` any positive scalar, `T` the table `2^-j` for `j ≤ H`
//! (exact powers of two), every intermediate value read inside the form only. The kernel
//! computes `2^-k` by an exponent shift (`(127 - k) << 23`), which is the table's entry bit
//! for bit, and every other operation as the graph does (f32, the same order), but for the
//! sum's order and a multiply by `1/Σ` for the division (within rounding).

use crate::graph::{Graph, NodeId, ValueId};
use crate::ops::{BinaryKind, Op, ReduceKind};
use crate::tensor::{DType, TensorType};
use crate::work::{bytes_of, OpClass, Tally, Work};
use std::collections::HashMap;

/// The highest polynomial degree the finder reads (the rule writes 2).
const MAX_DEGREE: usize = 8;
/// The last table index with an exact f32 power of two (`2^-126`).
const MAX_SHIFT: usize = crate::fit::activation::MAX_SHIFT as usize;

/// One base-2 softmax of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    /// The ReduceMax, the form's first node: its kernel runs there.
    pub first: NodeId,
    /// Every other node of the form (never run on their own).
    pub rest: Vec<NodeId>,
    /// The Div, the form's last node.
    pub div: NodeId,
    /// The input.
    pub x: ValueId,
    /// The output (the Div's).
    pub y: ValueId,
    /// The normalized axis.
    pub axis: usize,
    /// The factor `L` of `m - x`.
    pub log2e: f32,
    /// The clip bound `H`.
    pub hi: f32,
    /// The polynomial's coefficients, lowest degree first.
    pub poly: Vec<f32>,
}

/// The forms of `graph`, by their first node.
pub fn forms(graph: &Graph) -> HashMap<NodeId, Form> {
    let finder = Finder { graph, readers: graph.readers() };
    graph.dag.node_indices().filter_map(|id| finder.form(id)).map(|f| (f.first, f)).collect()
}

/// The work of the form's kernel on `x` (the exponent pass vectorizes; the row's max and sum
/// are sequential, as in Softmax's kernel): per element a subtract, a multiply, a compare, two
/// conversions, a subtract, the polynomial's `D` multiplies and adds, an integer subtract and
/// shift for `2^-k`, its multiply, the sum and the multiply by `1/Σ`; one division per row.
pub fn work(form: &Form, x: &TensorType) -> Work {
    let n = x.numel() as u64;
    let rows = n / x.shape.get(form.axis).map_or(1, |&d| d.max(1) as u64);
    let d = form.poly.len().saturating_sub(1) as u64;
    let mut t = Tally::default();
    t.on_scalar(x.dtype, OpClass::Compare, n);
    t.on_scalar(x.dtype, OpClass::Add, n);
    t.on(x.dtype, OpClass::Add, (4 + d) * n);
    t.on(x.dtype, OpClass::Mul, (3 + d) * n);
    t.on(x.dtype, OpClass::Compare, n);
    t.on(DType::I32, OpClass::Add, n);
    t.on(DType::I32, OpClass::Shift, n);
    t.on(x.dtype, OpClass::Divide, rows);
    let bytes = 2 * bytes_of([x]);
    t.work(bytes, bytes)
}

/// The work of every node of every form of `graph`: the kernel's at its first node, none at
/// the others.
pub fn work_by_node(graph: &Graph) -> HashMap<NodeId, Work> {
    let mut out = HashMap::new();
    for form in forms(graph).values() {
        let Some(x) = graph.ty(form.x) else { continue };
        out.insert(form.first, work(form, x));
        out.extend(form.rest.iter().map(|&n| (n, Work::none())));
    }
    out
}

struct Finder<'g> {
    graph: &'g Graph,
    readers: HashMap<ValueId, Vec<NodeId>>,
}

/// A node with its op and inputs.
type At<'g> = (NodeId, &'g Op, Vec<Option<ValueId>>);

impl<'g> Finder<'g> {
    /// The node computing `v`.
    fn producer(&self, v: ValueId) -> Option<At<'g>> {
        let crate::graph::ValueKind::Node { node } = self.graph.value(v).kind else { return None };
        let n = self.graph.node(node);
        Some((node, &n.op, n.inputs.clone()))
    }

    /// The node computing `v` when it is a binary op of `kind`, with its two inputs.
    fn binary(&self, v: ValueId, kind: BinaryKind) -> Option<(NodeId, ValueId, ValueId)> {
        let (id, op, ins) = self.producer(v)?;
        match (op, &ins[..]) {
            (Op::Binary(b), [Some(a), Some(c)]) if b.kind == kind && b.legacy.is_none() => Some((id, *a, *c)),
            _ => None,
        }
    }

    /// The value of a scalar f32 constant.
    fn scalar(&self, v: ValueId) -> Option<f32> {
        let t = self.graph.constant(v)?;
        match t.as_f32()? {
            [s] => Some(*s),
            _ => None,
        }
    }

    /// `a op b` in either order with one operand a scalar constant: (node, other operand, scalar).
    fn with_scalar(&self, v: ValueId, kind: BinaryKind) -> Option<(NodeId, ValueId, f32)> {
        let (id, a, b) = self.binary(v, kind)?;
        match (self.scalar(a), self.scalar(b)) {
            (None, Some(s)) => Some((id, a, s)),
            (Some(s), None) => Some((id, b, s)),
            _ => None,
        }
    }

    /// A reduction of `kind` over exactly one axis, kept: (node, input, axis).
    fn reduce(&self, v: ValueId, kind: ReduceKind, rank: usize) -> Option<(NodeId, ValueId, usize)> {
        let (id, op, ins) = self.producer(v)?;
        let Op::Reduce(r) = op else { return None };
        let [axis] = r.axes.as_deref()? else { return None };
        let axis = crate::ops::norm_axis(*axis, rank).ok()?;
        (r.kind == kind && r.keepdims).then_some((id, (*ins.first()?)?, axis))
    }

    /// `p = (…(a_D·g + a_{D-1})·g + …)·g + a_0` read from `p`: the nodes and the coefficients,
    /// lowest degree first.
    fn horner(&self, p: ValueId, g: ValueId, nodes: &mut Vec<NodeId>) -> Option<Vec<f32>> {
        let (add, q, a0) = self.with_scalar(p, BinaryKind::Add)?;
        let (mul, l, r) = self.binary(q, BinaryKind::Mul)?;
        let inner = if l == g {
            r
        } else if r == g {
            l
        } else {
            return None;
        };
        nodes.extend([add, mul]);
        let mut coeffs = vec![a0];
        match self.scalar(inner) {
            Some(a1) => coeffs.push(a1),
            None => coeffs.extend(self.horner(inner, g, nodes)?),
        }
        (coeffs.len() <= MAX_DEGREE + 1).then_some(coeffs)
    }

    /// The form whose Div is `id`.
    fn form(&self, id: NodeId) -> Option<Form> {
        let div = self.graph.node(id);
        let y = *div.outputs.first()?;
        let (_, e, s) = self.binary(y, BinaryKind::Div)?;
        let rank = self.graph.ty(e)?.shape.len();
        let (sum, e2, axis) = self.reduce(s, ReduceKind::Sum, rank)?;
        let (mul_e, a, b) = self.binary(e, BinaryKind::Mul)?;
        let gathered = |v: ValueId| match self.producer(v)? {
            (n, Op::Gather(gather), ins) if gather.axis == 0 => {
                Some((n, ins.first().copied()??, ins.get(1).copied()??))
            }
            _ => None,
        };
        let ((gather, table, k), p) = match (gathered(a), gathered(b)) {
            (Some(t), None) => (t, b),
            (None, Some(t)) => (t, a),
            _ => return None,
        };
        let (cast_k, op, ins) = self.producer(k)?;
        let (Op::Cast(to_int), [Some(c)]) = (op, &ins[..]) else { return None };
        let (clip, op, ins) = self.producer(*c)?;
        let (Op::Clip(bounds), Some(Some(scaled))) = (op, ins.first()) else { return None };
        let hi = bounds.max? as f32;
        let (mul_l, d, log2e) = self.with_scalar(*scaled, BinaryKind::Mul)?;
        let (sub_d, m, x) = self.binary(d, BinaryKind::Sub)?;
        let (max, x2, axis2) = self.reduce(m, ReduceKind::Max, rank)?;
        let c = *c;
        let mut nodes = vec![max, sub_d, mul_l, clip, cast_k, gather, mul_e, sum, id];
        // g = Cast<float>(k) - c, a reader of c; then the polynomial in g.
        let (sub_g, g, kf, cast_f, to_float) = self.readers.get(&c)?.iter().find_map(|&n| {
            let g = self.graph.node(n).outputs[0];
            let (_, kf, c2) = self.binary(g, BinaryKind::Sub)?;
            let (cast_f, op, ins) = self.producer(kf)?;
            match (op, &ins[..]) {
                (Op::Cast(to), [Some(k2)]) if *k2 == k && c2 == c => Some((n, g, kf, cast_f, to)),
                _ => None,
            }
        })?;
        nodes.extend([sub_g, cast_f]);
        let poly = self.horner(p, g, &mut nodes)?;
        let table_ok = self.graph.constant(table).and_then(|t| t.as_f32()).is_some_and(|t| {
            let h = hi as usize;
            t.len() > h && t.iter().enumerate().all(|(j, &v)| j <= MAX_SHIFT && v == (-(j as f32)).exp2())
        });
        let x_type = self.graph.ty(x)?;
        let same_shape =
            [d, *scaled, c, k, kf, g, p, e].iter().all(|&v| self.graph.ty(v).map(|t| &t.shape) == Some(&x_type.shape));
        let ok = x2 == x
            && e2 == e
            && axis2 == axis
            && matches!(to_int.to, DType::I32 | DType::I64)
            && to_float.to == DType::F32
            && x_type.dtype == DType::F32
            && log2e > 0.0
            && bounds.min == Some(0.0)
            && hi >= 0.0
            && hi.fract() == 0.0
            && table_ok
            && same_shape
            && self.inside(&nodes, y);
        ok.then(|| Form { first: max, rest: nodes[1..].to_vec(), div: id, x, y, axis, log2e, hi, poly })
    }

    /// Whether every value the form's `nodes` compute but `y` is read only by them and is not a
    /// graph output.
    fn inside(&self, nodes: &[NodeId], y: ValueId) -> bool {
        nodes.iter().flat_map(|&n| self.graph.node(n).outputs.iter().copied()).filter(|&v| v != y).all(|v| {
            !self.graph.outputs.contains(&v)
                && self.readers.get(&v).is_some_and(|r| r.iter().all(|n| nodes.contains(n)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ConstOrigin, ModelMeta, Node, Value, ValueKind};
    use crate::ops::{Binary, Cast, Clip, Gather, Reduce, Softmax};
    use crate::tensor::Tensor;
    use std::sync::Arc;

    /// The rule's form over `[2, 5]` (axis 1) with `table` as the Gather's data.
    fn graph(table: Vec<f32>) -> Graph {
        let mut g = Graph::new(ModelMeta::default());
        let ty = |dtype, shape: &[usize]| Some(TensorType::new(dtype, shape.to_vec()));
        let x = g.add_value(Value {
            name: "x".into(),
            ty: ty(DType::F32, &[2, 5]),
            kind: ValueKind::Input,
            ..Value::default()
        });
        g.inputs.push(x);
        let mut k = 0;
        let mut node = |g: &mut Graph, op: Op, inputs: &[ValueId], out: Option<TensorType>| {
            k += 1;
            let y = g.add_value(Value { name: format!("v{k}"), ty: out, ..Value::default() });
            let inputs = inputs.iter().map(|&v| Some(v)).collect();
            g.add_node(Node { name: format!("n{k}"), op, inputs, outputs: vec![y], doc_string: String::new() })
                .unwrap();
            y
        };
        let scalar = |g: &mut Graph, v: f32| {
            g.add_const(&format!("c{v}"), Arc::new(Tensor::f32(vec![], vec![v])), ConstOrigin::Derived)
        };
        let bin = |kind| Op::Binary(Binary::new(kind));
        let reduce =
            |kind| Op::Reduce(Reduce { kind, axes: Some(vec![1]), keepdims: true, noop_with_empty_axes: false });
        let (l, lo, hi, a0, a1, a2) = (
            scalar(&mut g, std::f32::consts::LOG2_E),
            scalar(&mut g, 0.0),
            scalar(&mut g, 4.0),
            scalar(&mut g, 0.9987),
            scalar(&mut g, 0.6691),
            scalar(&mut g, 0.1716),
        );
        let t = g.add_const("table", Arc::new(Tensor::f32(vec![table.len()], table)), ConstOrigin::Derived);
        let (full, int) = (ty(DType::F32, &[2, 5]), ty(DType::I32, &[2, 5]));
        let m = node(&mut g, reduce(ReduceKind::Max), &[x], ty(DType::F32, &[2, 1]));
        let d = node(&mut g, bin(BinaryKind::Sub), &[m, x], full.clone());
        let y = node(&mut g, bin(BinaryKind::Mul), &[d, l], full.clone());
        let c = node(&mut g, Op::Clip(Clip { min: Some(0.0), max: Some(4.0) }), &[y, lo, hi], full.clone());
        let ki = node(&mut g, Op::Cast(Cast { to: DType::I32, saturate: None }), &[c], int);
        let kf = node(&mut g, Op::Cast(Cast { to: DType::F32, saturate: None }), &[ki], full.clone());
        let gg = node(&mut g, bin(BinaryKind::Sub), &[kf, c], full.clone());
        let p = node(&mut g, bin(BinaryKind::Mul), &[gg, a2], full.clone());
        let p = node(&mut g, bin(BinaryKind::Add), &[p, a1], full.clone());
        let p = node(&mut g, bin(BinaryKind::Mul), &[p, gg], full.clone());
        let p = node(&mut g, bin(BinaryKind::Add), &[a0, p], full.clone());
        let pw = node(&mut g, Op::Gather(Gather { axis: 0 }), &[t, ki], full.clone());
        let e = node(&mut g, bin(BinaryKind::Mul), &[pw, p], full.clone());
        let s = node(&mut g, reduce(ReduceKind::Sum), &[e], ty(DType::F32, &[2, 1]));
        let out = node(&mut g, bin(BinaryKind::Div), &[e, s], full);
        g.outputs.push(out);
        g
    }

    #[test]
    fn finds_the_form_and_prices_it_below_softmax() {
        let g = graph(vec![1.0, 0.5, 0.25, 0.125, 0.0625]);
        let forms = forms(&g);
        let [(first, form)] = &forms.iter().collect::<Vec<_>>()[..] else { panic!("{forms:?}") };
        assert_eq!((form.axis, form.hi, form.log2e), (1, 4.0, std::f32::consts::LOG2_E));
        assert_eq!(form.poly, [0.9987, 0.6691, 0.1716]);
        assert_eq!((**first, form.rest.len()), (form.first, 14));
        // The form's kernel against Softmax's on attention's rows, on the Pi 3.
        let x = TensorType::new(DType::F32, vec![196, 49]);
        let rpi3 = crate::cost::load_target("rpi3").unwrap();
        let softmax = Op::Softmax(Softmax { axis: 1, flatten_trailing: false });
        let exact = crate::cost::kernel_cost(&rpi3, &softmax, &[Some(&x)], std::slice::from_ref(&x)).latency_s;
        let base2 = crate::cost::roofline(&rpi3, &work(form, &x)).latency_s;
        assert!(base2 < 0.7 * exact, "{base2} vs {exact}");
        // Not a form: a table that is not 2^-j, or one too short for the clip bound.
        assert!(super::forms(&graph(vec![1.0, 0.5, 0.25, 0.12, 0.0625])).is_empty());
        assert!(super::forms(&graph(vec![1.0, 0.5, 0.25, 0.125])).is_empty());
    }
}
