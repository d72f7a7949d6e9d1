//! The cost of every e-node kind, from the types of its e-class and children (the analysis'
//! `IrData`), priced by the cost model's roofline ([`crate::cost`], which knows nothing of the
//! e-graph), and [`TargetCost`], the extractor's price of a node on a target.
//!
//! Weight-only classes cost nothing (they are folded at emission); leaves, payloads, `get` and
//! `outputs` cost nothing; every other node is priced by [`crate::cost::roofline`] and pays the
//! per-kernel overhead. Nodes the exporter cannot write cost infinitely much to the adaptor
//! ([`crate::ir::is_exportable`]).
//!
//! Quantized (QDQ) groups are priced as the integer kernels the back end runs: a Conv, Gemm or
//! MatMul reading the DequantizeLinear of a runtime 8-bit tensor, with weights dequantized from
//! 8-bit constants, multiplies in 8 bits; the DequantizeLinear of a runtime 8-bit tensor costs
//! nothing itself, and every other reader pays for dequantizing what it reads (a price that
//! needs no knowledge of the readers, which an extractor does not have); a Softmax reading one
//! is the table softmax ([`crate::softmax8`]). One whose weights are
//! marked `@csd` (`rules/shiftadd.rules`) is priced as the shift-add kernel it becomes
//! ([`crate::shiftadd::shift_add_work`]), and the mark itself costs a token, so the multiply
//! form wins ties. Both forms are priced in the target's form of them (its profile's
//! `[shift_add] form`: a processor's kernels, or a datapath's adders and multipliers,
//! [`crate::shiftadd::multiply_work`]).

use crate::cost::{kernel_work, roofline, Estimate, Objective, Profile};
use crate::graph::Graph;
use crate::ir::{kernel_op, node_data, Ir, IrData, IrGraph, Payload};
use crate::ops::Op;
use crate::shiftadd::{multiply_work, shift_add_work, Coding, Layout, Pricing};
use crate::tensor::{DType, TensorData, TensorType};
use crate::work::{bytes_of, dot_work, precision_of, OpClass, Tally, Work};
use egg::{Id, Language};

/// Whether class `id` holds a digit plane (a constant whose every value is -1, 0 or 1), as
/// (non-zeros, elements). Reads the constant pool; a future analysis fact for digit planes
/// made by constant functions belongs here too.
pub fn digit_plane(egraph: &IrGraph, id: Id) -> Option<(u64, u64)> {
    fn scan<T: Copy>(v: &[T], f: impl Fn(T) -> Option<bool>) -> Option<(u64, u64)> {
        let mut nnz = 0u64;
        for &x in v {
            nnz += f(x)? as u64;
        }
        Some((nnz, v.len() as u64))
    }
    egraph[id].nodes.iter().find_map(|n| {
        let Ir::Const(c) = n else { return None };
        let t = egraph.analysis.consts.get(&c.0)?;
        let int = |x: i64| matches!(x, -1..=1).then_some(x != 0);
        let float = |x: f64| (x == -1.0 || x == 0.0 || x == 1.0).then_some(x != 0.0);
        match &t.data {
            TensorData::F32(v) => scan(v, |x| float(x as f64)),
            TensorData::F64(v) => scan(v, float),
            TensorData::I8(v) => scan(v, |x| int(x as i64)),
            TensorData::I16(v) => scan(v, |x| int(x as i64)),
            TensorData::I32(v) => scan(v, |x| int(x as i64)),
            TensorData::I64(v) => scan(v, int),
            _ => None,
        }
    })
}

/// The cost that breaks a tie between equal forms of a weight (seconds or picojoules: far below
/// any node's figure).
const TOKEN: f64 = 1e-15;

/// The 8-bit integer type class `id` is the DequantizeLinear of, if it is one.
fn dequantized_int(egraph: &IrGraph, id: Id) -> Option<&TensorType> {
    egraph[id].nodes.iter().find_map(|n| dequantizes_int(egraph, n))
}

/// The 8-bit integer type `enode` dequantizes, if it is a DequantizeLinear of 8-bit integers.
fn dequantizes_int<'a>(egraph: &'a IrGraph, enode: &Ir) -> Option<&'a TensorType> {
    let x = match enode {
        Ir::Dequantize([_, x, _, _]) => *x,
        Ir::Kernel(_, ch) if matches!(kernel_op(egraph, enode), Some(Op::DequantizeLinear(_))) => *ch.get(1)?,
        _ => return None,
    };
    egraph[x].data.ty().filter(|t| matches!(t.dtype, DType::I8 | DType::U8))
}

/// Whether class `id` is the DequantizeLinear of a runtime 8-bit tensor.
fn runtime_dequantized(egraph: &IrGraph, id: Id) -> bool {
    !egraph[id].data.weight_only && dequantized_int(egraph, id).is_some()
}

/// The work of an integer kernel, when `enode` is a Conv, Gemm or MatMul whose input is the
/// DequantizeLinear of a runtime 8-bit tensor and whose weights are dequantized 8-bit constants:
/// priced with 8-bit operands (the float output and bias as they are), in `pricing`'s form.
fn integer_kernel_work(enode: &Ir, egraph: &IrGraph, data: &IrData, pricing: Pricing) -> Option<Work> {
    let Ir::Kernel(_, ch) = enode else { return None };
    let op = kernel_op(egraph, enode)?;
    if !matches!(op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul(_)) {
        return None;
    }
    let (&x, &w) = (ch.get(1)?, ch.get(2)?);
    if !runtime_dequantized(egraph, x) || !egraph[w].data.weight_only {
        return None;
    }
    let (xi, wi) = (dequantized_int(egraph, x)?, dequantized_int(egraph, w)?);
    let mut inputs: Vec<Option<&TensorType>> = vec![Some(xi), Some(wi)];
    inputs.extend(ch[3..].iter().map(|c| egraph[*c].data.ty()));
    let outputs: Vec<TensorType> = data.types.iter().flatten().cloned().collect();
    let work = kernel_work(op, &inputs, &outputs);
    let (p, n) = (precision_of(xi.dtype).0, outputs.first().map_or(0, |t| t.numel() as u64));
    Some(match coded_weights(egraph, w, op, pricing.share) {
        Some(coding) => shift_add_work(&work, p, &coding, n, pricing.form),
        None => multiply_work(&work, p, n, pricing.form),
    })
}

/// The work of the table softmax ([`crate::softmax8`]) when `enode` is a Softmax reading the
/// DequantizeLinear of a runtime 8-bit tensor.
fn softmax8_work(enode: &Ir, egraph: &IrGraph) -> Option<Work> {
    let (Ir::Kernel(_, ch), Some(Op::Softmax(s))) = (enode, kernel_op(egraph, enode)) else { return None };
    let x = *ch.get(1)?;
    if !runtime_dequantized(egraph, x) {
        return None;
    }
    let q = dequantized_int(egraph, x)?;
    let [_, n, _] = s.rows(&q.shape).ok()?;
    Some(crate::softmax8::work(q, n))
}

/// The digit coding of class `w`'s integers when it is the DequantizeLinear of `@csd` weights
/// (`rules/shiftadd.rules`) read by contraction `op`: it runs as shift-add kernels, with
/// partials shared across its output channels searched when `share`.
fn coded_weights(egraph: &IrGraph, w: Id, op: &Op, share: bool) -> Option<Coding> {
    let class_node = |id: Id, f: &dyn Fn(&Ir) -> Option<Id>| egraph[id].nodes.iter().find_map(f);
    let dequantized = class_node(w, &|n| match n {
        Ir::Kernel(_, ch) if matches!(kernel_op(egraph, n), Some(Op::DequantizeLinear(_))) => ch.get(1).copied(),
        _ => None,
    })?;
    let coded = class_node(dequantized, &|n| match n {
        Ir::Fun(f, args) if &*f.0 == crate::shiftadd::FUNCTION => args.first().copied(),
        _ => None,
    })?;
    egraph[coded].nodes.iter().find_map(|n| {
        let Ir::Const(c) = n else { return None };
        let t = egraph.analysis.consts.get(&c.0)?;
        let values: Vec<i32> = t.to_i64_vec()?.into_iter().map(|v| v as i32).collect();
        let layout = if share { Layout::of(op, &t.shape) } else { Layout::Unshared };
        Some(Coding::of_contraction(&values, layout))
    })
}

/// The work of an e-node from its children's facts; `None` when the node is ill-typed.
/// `pricing`: the target's form of integer contractions, and whether digit-coded ones are
/// priced with partials shared across their output channels where that pays
/// ([`crate::shiftadd::searches_sharing`] of the target).
pub fn node_work(enode: &Ir, egraph: &IrGraph, pricing: Pricing) -> Option<Work> {
    let data = node_data(&egraph.analysis, enode, |i| &egraph[i].data).ok()?;
    if data.weight_only || dequantizes_int(egraph, enode).is_some() {
        // Folded at emission, or read as integers (its readers pay for dequantizing).
        return Some(Work::none());
    }
    if let Some(work) = integer_kernel_work(enode, egraph, &data, pricing) {
        return Some(work);
    }
    if let Some(work) = softmax8_work(enode, egraph) {
        return Some(work);
    }
    let mut work = match super::winograd::winograd_work(enode, egraph, &data) {
        Some(w) => w,
        None => own_work(enode, egraph, &data)?,
    };
    if let Some(u) = super::winograd::products_filter(enode, egraph).and_then(|u| egraph[u].data.ty()) {
        work = crate::winograd::products_work(work, u);
    }
    // Dequantizing the 8-bit runtime tensors it reads as floats: a multiply and an add each.
    let mut read: Vec<Id> = enode.children().iter().copied().filter(|&c| runtime_dequantized(egraph, c)).collect();
    read.dedup();
    for c in read {
        let Some(t) = egraph[c].data.ty() else { continue };
        let mut tally = Tally::default();
        tally.on(t.dtype, OpClass::Add, t.numel() as u64);
        tally.on(t.dtype, OpClass::Mul, t.numel() as u64);
        let bytes = bytes_of(dequantized_int(egraph, c));
        let extra = tally.work(bytes, bytes);
        work.ops.merge(&extra.ops);
        work.bytes += extra.bytes;
        work.working_set += extra.working_set;
    }
    Some(work)
}

/// The work of an e-node computed as it is written (no quantized group around it).
fn own_work(enode: &Ir, egraph: &IrGraph, data: &IrData) -> Option<Work> {
    let ty = |i: &Id| egraph[*i].data.ty();
    let out = data.ty();
    let n = out.map(|t| t.numel() as u64).unwrap_or(0);
    let dt = out.map(|t| t.dtype).unwrap_or(DType::F32);
    // Reads every tensor child, writes the output.
    let io = |ids: &[Id]| bytes_of(ids.iter().filter_map(ty).chain(out));
    let elementwise = |class: OpClass, count: u64, ids: &[Id]| {
        let mut t = Tally::default();
        t.on(dt, class, count);
        t.work(io(ids), io(ids))
    };
    // A reduction along an axis: sequential, one lane at a time.
    let reduction = |class: OpClass, x: &Id| {
        let mut t = Tally::default();
        t.on_scalar(dt, class, ty(x).map(|t| t.numel() as u64).unwrap_or(0));
        t
    };
    let copy = |bytes: u64| Work { bytes, working_set: bytes, kernel: true, ..Work::none() };
    Some(match enode {
        Ir::Outputs(_)
        | Ir::Get(_)
        | Ir::Absent
        | Ir::Lit(_)
        | Ir::Const(_)
        | Ir::Input(_)
        | Ir::Payload(_)
        | Ir::Fun(..) => Work::none(),
        Ir::Add(ab) | Ir::Sub(ab) => elementwise(OpClass::Add, n, ab),
        Ir::Mul(ab) => elementwise(OpClass::Mul, n, ab),
        Ir::Div(ab) => elementwise(OpClass::Divide, n, ab),
        Ir::Pow(ab) => {
            let square = egraph[ab[1]].data.lit.is_some_and(|l| l.0 == 2.0);
            elementwise(if square { OpClass::Mul } else { OpClass::Transcendental }, n, ab)
        }
        Ir::Max(ab) | Ir::Min(ab) => elementwise(OpClass::Compare, n, ab),
        Ir::Neg(x) | Ir::Abs(x) | Ir::Round(x) => elementwise(OpClass::Add, n, &[*x]),
        Ir::Exp(x) | Ir::Log(x) | Ir::Erf(x) | Ir::Tanh(x) | Ir::Sigmoid(x) => {
            elementwise(OpClass::Transcendental, n, &[*x])
        }
        Ir::Sqrt(x) | Ir::Rsqrt(x) => elementwise(OpClass::Divide, n, &[*x]),
        Ir::Clip(ch) => elementwise(OpClass::Compare, 2 * n, ch),
        Ir::Shl([x, _]) | Ir::Shr([x, _]) => elementwise(OpClass::Shift, n, &[*x]),
        Ir::Cast([_, x]) => elementwise(OpClass::Add, n, &[*x]),
        Ir::Quantize([_, x, s, z]) => {
            let x_dt = ty(x).map(|t| t.dtype).unwrap_or(DType::F32);
            let mut t = Tally::default();
            t.on(x_dt, OpClass::Mul, n);
            t.on(x_dt, OpClass::Add, 2 * n);
            t.on(DType::I32, OpClass::Compare, 2 * n);
            t.work(io(&[*x, *s, *z]), io(&[*x, *s, *z]))
        }
        Ir::Dequantize([_, x, s, z]) => {
            let mut t = Tally::default();
            t.on(dt, OpClass::Add, n);
            t.on(dt, OpClass::Mul, n);
            t.work(io(&[*x, *s, *z]), io(&[*x, *s, *z]))
        }
        Ir::RSum([_, x]) => reduction(OpClass::Add, x).work(io(&[*x]), io(&[*x])),
        Ir::RMax([_, x]) => reduction(OpClass::Compare, x).work(io(&[*x]), io(&[*x])),
        Ir::RMean([_, x]) => {
            let mut t = reduction(OpClass::Add, x);
            t.on(dt, OpClass::Mul, n);
            t.work(io(&[*x]), io(&[*x]))
        }
        Ir::Dot([spec, p, q]) => {
            let (Some(Payload::Einsum(e)), Some(a), Some(b), Some(y)) =
                (&egraph[*spec].data.payload, ty(p), ty(q), out)
            else {
                return None;
            };
            let digits = digit_plane(egraph, *q).or_else(|| digit_plane(egraph, *p));
            dot_work(a, b, y, e, digits)
        }
        // The im2col view is materialized: the input is read, the patches written.
        Ir::Window([_, x, _]) | Ir::Transpose([_, x]) | Ir::Broadcast([_, x]) | Ir::Pad([_, x, _]) => copy(io(&[*x])),
        Ir::Reshape(_) => copy(0),
        Ir::Slice(_) => copy(2 * bytes_of(out)),
        // A gather reads the indices and the gathered elements and writes them: bytes moved only.
        Ir::Gather([_, _, i]) => copy(bytes_of(out) + io(&[*i])),
        Ir::Concat(ch) => copy(io(&ch[1..])),
        Ir::Kernel(_, ch) | Ir::Opaque(ch) => {
            let op = crate::ir::kernel_op(egraph, enode)?;
            let inputs: Vec<Option<&TensorType>> = ch[1..].iter().map(ty).collect();
            let outputs: Vec<TensorType> = data.types.iter().flatten().cloned().collect();
            kernel_work(op, &inputs, &outputs)
        }
    })
}

/// The cost of an e-node on a target (children are e-classes of `egraph`). An ill-typed node
/// (which rules never add) costs infinitely much.
pub fn node_cost(profile: &Profile, enode: &Ir, egraph: &IrGraph) -> Estimate {
    match node_work(enode, egraph, Pricing::of(profile)) {
        Some(work) => roofline(profile, &work),
        None => {
            Estimate { cycles: f64::INFINITY, latency_s: f64::INFINITY, energy_pj: f64::INFINITY, ..Estimate::zero() }
        }
    }
}

/// The node's own figure for an objective, infinite when it is not exportable: what a
/// DAG-aware extractor adds up once per chosen node.
pub fn objective_cost(profile: &Profile, objective: Objective, enode: &Ir, egraph: &IrGraph) -> f64 {
    // Weight-only classes are folded at emission, so any node in them can be emitted.
    let class = egraph.lookup(enode.clone());
    let weight_only = class.is_some_and(|c| egraph[c].data.weight_only);
    if !crate::ir::is_exportable(enode, weight_only) {
        return f64::INFINITY;
    }
    // A dequantized 8-bit weight stays a DequantizeLinear kernel of integers, which the integer
    // kernels read (and this module prices): any other form of it (the `dequantize` primitive,
    // folded to floats when lifted) costs a token amount more.
    // Marking weights for shift-add kernels costs a token: the multiply form wins every tie.
    if matches!(enode, Ir::Fun(f, _) if &*f.0 == crate::shiftadd::FUNCTION) {
        return TOKEN;
    }
    let kernel_form = |n: &Ir| matches!(n, Ir::Kernel(..)) && dequantizes_int(egraph, n).is_some();
    if weight_only && !kernel_form(enode) && class.is_some_and(|c| egraph[c].nodes.iter().any(kernel_form)) {
        return TOKEN;
    }
    node_cost(profile, enode, egraph).objective(objective)
}

/// The extraction cost: the target's cost per e-node (latency or energy); kernels the export
/// opset cannot state are not emittable (infinite).
pub struct TargetCost<'a> {
    profile: &'a crate::cost::Profile,
    objective: crate::cost::Objective,
    /// The newest opset the model may be exported at ([`crate::graph::upgrade::reachable`]).
    max_opset: i64,
    /// [`crate::ir::fold_budget`]: a function call whose result is larger cannot be written.
    fold_budget: u64,
}

impl<'a> TargetCost<'a> {
    /// The cost of extracting `graph`'s lowered program for `profile` under `objective`.
    pub fn new(profile: &'a Profile, objective: Objective, graph: &Graph) -> Self {
        TargetCost {
            profile,
            objective,
            max_opset: crate::graph::upgrade::reachable(graph),
            fold_budget: crate::ir::fold_budget(graph),
        }
    }
}

impl super::NodeCost for TargetCost<'_> {
    fn node_cost(&self, egraph: &crate::ir::IrGraph, class: egg::Id, node: &crate::ir::Ir) -> f64 {
        if crate::ir::kernel_op(egraph, node).is_some_and(|op| op.min_opset() > self.max_opset) {
            return f64::INFINITY;
        }
        let folded_bytes = || egraph[class].data.ty().map_or(0, |t| t.bytes() as u64);
        if matches!(node, crate::ir::Ir::Fun(..)) && folded_bytes() > self.fold_budget {
            return f64::INFINITY;
        }
        let cost = objective_cost(self.profile, self.objective, node, egraph);
        // Ties go to kernels: a primitive that lifts to an ONNX op (`max(x, 0)` as Max) costs
        // what the kernel it came from (Relu) costs, and the kernel keeps the model closer to
        // the original.
        if matches!(node, crate::ir::Ir::Kernel(..)) {
            cost
        } else {
            cost * (1.0 + 1e-6)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::IrAnalysis;
    use crate::tensor::Tensor;
    use std::sync::Arc;

    #[test]
    fn gather_moves_bytes_only_and_is_not_exportable() {
        let mut a = IrAnalysis::default();
        a.inputs.insert("x".into(), TensorType::new(DType::F32, vec![4, 5]));
        a.consts.insert(0, Arc::new(Tensor::i64(vec![3], vec![0, 2, 1])));
        let mut egraph = IrGraph::new(a);
        let expr: egg::RecExpr<Ir> = "(gather #ints:0 $x %0)".parse().unwrap();
        let root = egraph.add_expr(&expr);
        let node = egraph[root].nodes[0].clone();
        assert!(!crate::ir::is_exportable(&node, false));
        let pricing = Pricing { form: crate::cost::ShiftAddForm::Kernel, share: true };
        let work = node_work(&node, &egraph, pricing).unwrap();
        // Reads 3 rows of 5 floats and 3 int64 indices, writes 3 rows.
        assert_eq!(work.bytes, 2 * 3 * 5 * 4 + 3 * 8);
        assert_eq!(work.ops, Default::default());
        assert_eq!(work.scalar, Default::default());
    }
}
