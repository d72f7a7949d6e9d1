//! Which tensors of a quantized (QDQ) model are stored as integers and which nodes run as
//! integer kernels. A QuantizeLinear output read only by DequantizeLinear nodes is stored as
//! 8-bit integers; a Conv, Gemm or MatMul whose input is the DequantizeLinear of such a tensor
//! and whose weights are quantized constants runs as one integer kernel, together with the
//! ReLU/Clip and the QuantizeLinear after it (its output written as integers); a MaxPool or
//! reshape between equal quantizations moves the integers; an Add of two such tensors that a
//! QuantizeLinear stores runs as one integer kernel (`qadd.rs`); a Softmax whose input is the
//! DequantizeLinear of such a tensor, read by it alone, runs on the integers by a table of
//! exponentials (`k_softmax_q8`); and a DequantizeLinear whose readers all became integer
//! kernels, adds or moves is not computed at all. (`quant.rs` lowers the kernels.)

use super::qadd::{integer_adds, IntegerAdd};
use super::{Clamp, Elem, Lowerer};
use crate::graph::{Node, NodeId, ValueId, ValueKind};
use crate::ops::{Op, PoolKind};
use crate::tensor::DType;
use std::collections::{BTreeSet, HashMap};

/// Per-tensor quantization of a runtime tensor.
#[derive(Clone, Copy, Debug)]
pub struct QParams {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero: i32,
    /// Integer type (`I8` or `U8`).
    pub elem: Elem,
}

/// A constant that was the DequantizeLinear of integers: the integers and how they dequantize
/// (recorded when constants are folded, for the integer kernels).
#[derive(Clone, Debug)]
pub struct QuantConst {
    /// The integers, row-major.
    pub values: Vec<i32>,
    /// Scale, one or one per index along `axis`.
    pub scale: Vec<f32>,
    /// Zero point, as many as `scale`.
    pub zero: Vec<i32>,
    /// The axis of per-axis scales.
    pub axis: usize,
    /// Whether the integers are digit-coded ([`crate::shiftadd::CODED`]): the contractions
    /// reading them run as shift-add kernels.
    pub coded: bool,
}

/// Integer constants, by the value their dequantization defines.
pub type QuantConsts = HashMap<ValueId, QuantConst>;

/// A node run as an integer kernel.
#[derive(Clone, Debug)]
pub struct Fusion {
    /// The integer tensor it reads (dequantized by the absorbed DequantizeLinear).
    pub(super) x: ValueId,
    /// Its quantization.
    pub(super) xq: QParams,
    /// The value the kernel defines: the QuantizeLinear's output, or the node's (or its
    /// activation's) float output, or the input of a MaxPool that a QuantizeLinear follows.
    pub(super) out: ValueId,
    /// The quantization of `out` when it is stored as integers.
    pub(super) outq: Option<QParams>,
    /// A fused ReLU or Clip.
    pub(super) clamp: Clamp,
    /// The MaxPool reading `out` and the QuantizeLinear output it defines, when the kernel
    /// stores `out` quantized before the pool ([`pooled_quantize`]).
    pub(super) pool: Option<(NodeId, ValueId)>,
}

/// Which tensors are integers and which nodes are integer kernels.
#[derive(Debug, Default)]
pub struct QuantPlan {
    /// Runtime tensors stored as integers.
    pub stored: HashMap<ValueId, QParams>,
    /// Nodes computed by integer kernels.
    pub fused: HashMap<NodeId, Fusion>,
    /// Nodes whose work an integer kernel does (DequantizeLinear, activations, QuantizeLinear).
    pub absorbed: BTreeSet<NodeId>,
    /// MaxPools run on integers, with the QuantizeLinear output each defines.
    pub pools: HashMap<NodeId, ValueId>,
    /// Adds of two stored integer tensors run as integer kernels ([`super::qadd`]).
    pub adds: HashMap<NodeId, IntegerAdd>,
    /// Nodes that only select or move values (MaxPool, Reshape and kin) between a
    /// DequantizeLinear and a QuantizeLinear of the same quantization ([`integer_move`]), run on
    /// the integers: the integer tensor each reads and the QuantizeLinear output it defines.
    pub moves: HashMap<NodeId, (ValueId, ValueId)>,
    /// Softmaxes run on the stored integers their DequantizeLinear alone reads
    /// ([`crate::softmax8`]), by their node.
    pub softmaxes: HashMap<NodeId, crate::softmax8::Form>,
}

/// `s` and `z` of a per-tensor QuantizeLinear or DequantizeLinear whose integer side is `int`.
pub(super) fn per_tensor(lw: &Lowerer, node: &Node, int: ValueId) -> Option<QParams> {
    let scale = lw.constant(node.inputs.get(1).copied().flatten())?;
    let scale = scale.to_f64_vec().filter(|v| v.len() == 1)?[0] as f32;
    let zero = match node.inputs.get(2).copied().flatten() {
        Some(z) => lw.graph.constant(z)?.to_i64_vec().filter(|v| v.len() == 1)?[0] as i32,
        None => 0,
    };
    let elem = match lw.graph.ty(int)?.dtype {
        DType::I8 => Elem::I8,
        DType::U8 => Elem::U8,
        _ => return None,
    };
    (scale.is_finite() && scale > 0.0).then_some(QParams { scale, zero, elem })
}

/// The node computing `v`.
pub(super) fn producer(lw: &Lowerer, v: ValueId) -> Option<NodeId> {
    match lw.graph.value(v).kind {
        ValueKind::Node { node } => Some(node),
        _ => None,
    }
}

/// Plans the integer kernels of a graph.
pub(super) fn plan(lw: &Lowerer, order: &[NodeId]) -> QuantPlan {
    let mut plan = QuantPlan::default();
    for &id in order {
        let node = lw.graph.node(id);
        let Op::QuantizeLinear(q) = &node.op else { continue };
        let out = node.outputs[0];
        if q.block_size != 0 || lw.graph.outputs.contains(&out) {
            continue;
        }
        let Some(p) = per_tensor(lw, node, out) else { continue };
        let readers = lw.consumers.get(&out).map(|c| c.as_slice()).unwrap_or_default();
        let dequantized = |r: &NodeId| {
            let n = lw.graph.node(*r);
            matches!(&n.op, Op::DequantizeLinear(d) if d.block_size == 0)
                && n.inputs.first().copied().flatten() == Some(out)
                && per_tensor(lw, n, out).is_some()
        };
        if !readers.is_empty() && readers.iter().all(dequantized) {
            plan.stored.insert(out, p);
        }
    }
    for form in crate::softmax8::forms(lw.graph).into_values() {
        if plan.stored.contains_key(&form.q) {
            plan.absorbed.insert(form.dq);
            plan.softmaxes.insert(form.softmax, form);
        }
    }
    for &id in order {
        if let Some((x, q, qn)) = integer_move(lw, id, &plan.stored) {
            plan.absorbed.insert(qn);
            plan.moves.insert(id, (x, q));
        }
    }
    for &id in order {
        if let Some((fusion, absorbed, reshape)) = fusion(lw, id, &plan.stored, &plan.moves) {
            if let (Some((pool, q)), Some(p)) = (fusion.pool, fusion.outq) {
                plan.stored.insert(fusion.out, p);
                plan.stored.insert(q, p);
                plan.pools.insert(pool, q);
            }
            plan.moves.extend(reshape);
            plan.absorbed.extend(absorbed);
            plan.fused.insert(id, fusion);
        }
    }
    for (id, add, absorbed) in integer_adds(lw, order, &plan.stored) {
        plan.absorbed.extend(absorbed);
        plan.adds.insert(id, add);
    }
    // A DequantizeLinear whose readers all read it as an integer kernel's or move's input, or
    // are integer adds.
    for &id in order {
        let node = lw.graph.node(id);
        if !matches!(node.op, Op::DequantizeLinear(_)) || lw.graph.outputs.contains(&node.outputs[0]) {
            continue;
        }
        let readers = lw.consumers.get(&node.outputs[0]).map(|c| c.as_slice()).unwrap_or_default();
        let fused = |r: &NodeId| {
            plan.adds.contains_key(r)
                || (plan.fused.contains_key(r) || plan.moves.contains_key(r)) && {
                    let n = lw.graph.node(*r);
                    n.inputs.iter().enumerate().all(|(i, v)| (i == 0) == (*v == Some(node.outputs[0])))
                }
        };
        if !readers.is_empty() && readers.iter().all(fused) {
            plan.absorbed.insert(id);
        }
    }
    plan
}

/// Whether the quantized weights of `node` have scales the kernels apply per output channel:
/// per tensor, or per index along `axis`.
fn scales_along(w: &QuantConst, axis: usize) -> bool {
    w.scale.len() == 1 || w.axis == axis
}

/// A reshape between a pool on integers and its QuantizeLinear ([`pooled_quantize`]), as a
/// move ([`QuantPlan::moves`]).
type Move = (NodeId, (ValueId, ValueId));

/// `id` as an integer kernel, with the nodes it absorbs after it (and the move of a reshape
/// among them).
fn fusion(
    lw: &Lowerer,
    id: NodeId,
    stored: &HashMap<ValueId, QParams>,
    moves: &HashMap<NodeId, (ValueId, ValueId)>,
) -> Option<(Fusion, Vec<NodeId>, Option<Move>)> {
    let node = lw.graph.node(id);
    let w = lw.qconsts.get(&node.inputs.get(1).copied().flatten()?)?;
    let wrank = lw.graph.ty(node.inputs[1]?)?.shape.len();
    let bias = node.inputs.get(2).copied().flatten();
    let weights_ok = match &node.op {
        Op::Conv(c) => {
            let (xs, ws) = (&lw.graph.ty(node.inputs[0]?)?.shape, &lw.graph.ty(node.inputs[1]?)?.shape);
            // Depthwise sums of at most 256 taps of 8-bit values stay below 2^24: the f32 scaling
            // of the i32 sum is exact.
            let depthwise =
                c.attrs.group > 1 && xs.get(1) == Some(&c.attrs.group) && ws.first() == Some(&c.attrs.group);
            let taps: usize = ws.iter().skip(1).product();
            (wrank == 3 || wrank == 4) && scales_along(w, 0) && !(depthwise && taps > 256)
        }
        Op::Gemm(g) => {
            let n = lw.graph.ty(node.outputs[0])?.shape.get(1).copied()?;
            let row_bias = bias.is_none_or(|c| {
                lw.graph.constant(c).is_some_and(|t| {
                    let s = &t.ttype().shape;
                    t.numel() == 1 || t.numel() == n && s.last() == Some(&n)
                })
            });
            !g.trans_a && wrank == 2 && scales_along(w, if g.trans_b { 0 } else { 1 }) && row_bias
        }
        Op::MatMul(_) => wrank == 2 && lw.graph.ty(node.inputs[0]?)?.shape.len() >= 2 && scales_along(w, 1),
        _ => false,
    };
    if !weights_ok || bias.is_some_and(|b| lw.graph.constant(b).is_none()) {
        return None;
    }
    let dq = lw.graph.node(producer(lw, node.inputs.first().copied().flatten()?)?);
    if !matches!(&dq.op, Op::DequantizeLinear(d) if d.block_size == 0) {
        return None;
    }
    let x = dq.inputs.first().copied().flatten()?;
    stored.get(&x)?;
    let xq = per_tensor(lw, dq, x)?;
    let mut absorbed = Vec::new();
    let mut out = node.outputs[0];
    let mut clamp = Clamp::NONE;
    if let Some((act, c, y)) = lw.clamp_after(out) {
        absorbed.push(act);
        clamp = c;
        out = y;
    }
    let (mut outq, mut pool, mut reshape) = (None, None, None);
    if let Some(q) = lw.sole_reader(out) {
        let qn = lw.graph.node(q);
        if matches!(qn.op, Op::QuantizeLinear(_)) && qn.inputs.first().copied().flatten() == Some(out) {
            if let Some(p) = stored.get(&qn.outputs[0]) {
                absorbed.push(q);
                outq = Some(*p);
                out = qn.outputs[0];
                pool = moved_pool(lw, out, moves);
            }
        } else if let Some((qn, y, p, moved)) = pooled_quantize(lw, q, out, stored) {
            absorbed.push(qn);
            outq = Some(p);
            // With a reshape between them, the pool defines its own output as integers.
            pool = Some((q, moved.map_or(y, |(_, (pooled, _))| pooled)));
            reshape = moved;
        }
    }
    Some((Fusion { x, xq, out, outq, clamp, pool }, absorbed, reshape))
}

/// When `pool` is a MaxPool of `x` whose output only a QuantizeLinear reads (directly, or
/// through one reshape, which alone reads it), into integers the plan stores: the
/// QuantizeLinear, its output and their quantization, and the reshape as a move. Quantization
/// is monotonic (non-decreasing, saturated), so the largest of the quantized values is the
/// quantized largest value: the kernel computing `x` stores it quantized, the pool runs on the
/// integers and defines the QuantizeLinear's output (or the reshape's input), bit for bit the
/// graph's.
fn pooled_quantize(
    lw: &Lowerer,
    pool: NodeId,
    x: ValueId,
    stored: &HashMap<ValueId, QParams>,
) -> Option<(NodeId, ValueId, QParams, Option<Move>)> {
    let node = lw.graph.node(pool);
    let max = matches!(&node.op, Op::Pool(p) if p.kind == PoolKind::Max);
    let indices_read =
        node.outputs.iter().skip(1).any(|v| lw.graph.outputs.contains(v) || lw.consumers.contains_key(v));
    if !max || indices_read || node.inputs.first().copied().flatten() != Some(x) {
        return None;
    }
    let pooled = node.outputs[0];
    let (mut q, mut read) = (lw.sole_reader(pooled)?, pooled);
    let mut reshape = None;
    let r = lw.graph.node(q);
    if r.op.only_reshapes() && r.inputs.first().copied().flatten() == Some(pooled) {
        reshape = Some(q);
        read = r.outputs[0];
        q = lw.sole_reader(read)?;
    }
    let qn = lw.graph.node(q);
    if !matches!(qn.op, Op::QuantizeLinear(_)) || qn.inputs.first().copied().flatten() != Some(read) {
        return None;
    }
    let y = qn.outputs[0];
    Some((q, y, *stored.get(&y)?, reshape.map(|r| (r, (pooled, y)))))
}

/// When `id` only selects or moves values (a MaxPool without its indices read, a Reshape,
/// Flatten, Squeeze, Unsqueeze or Identity) of the DequantizeLinear of a stored integer tensor,
/// and a QuantizeLinear of the same scale, zero point and type alone reads its output, into
/// integers the plan stores: the integer tensor, the QuantizeLinear's output and node. The node
/// then runs on the integers and defines that output, bit for bit the graph's: dequantizing
/// is increasing, so the largest dequantized value is the dequantized largest integer `q`, and
/// `QuantizeLinear(DequantizeLinear(q)) = q` at the same quantization (`(q - z)·s / s` is within
/// 2^-22 relative of `q - z`, `|q - z| < 2^9`, which rounds back to `q - z`).
fn integer_move(lw: &Lowerer, id: NodeId, stored: &HashMap<ValueId, QParams>) -> Option<(ValueId, ValueId, NodeId)> {
    let node = lw.graph.node(id);
    let moves_values = match &node.op {
        Op::Pool(p) => {
            p.kind == PoolKind::Max
                && !node.outputs.iter().skip(1).any(|v| lw.graph.outputs.contains(v) || lw.consumers.contains_key(v))
        }
        op => op.only_reshapes(),
    };
    if !moves_values {
        return None;
    }
    let dq = lw.graph.node(producer(lw, node.inputs.first().copied().flatten()?)?);
    if !matches!(&dq.op, Op::DequantizeLinear(d) if d.block_size == 0) {
        return None;
    }
    let x = dq.inputs.first().copied().flatten()?;
    let xq = same_params(*stored.get(&x)?, per_tensor(lw, dq, x)?)?;
    let q = lw.sole_reader(node.outputs[0])?;
    let qn = lw.graph.node(q);
    if !matches!(qn.op, Op::QuantizeLinear(_)) || qn.inputs.first().copied().flatten() != Some(node.outputs[0]) {
        return None;
    }
    let y = qn.outputs[0];
    same_params(xq, *stored.get(&y)?)?;
    Some((x, y, q))
}

/// `a` when `b` is the same quantization.
fn same_params(a: QParams, b: QParams) -> Option<QParams> {
    (a.scale.to_bits() == b.scale.to_bits() && a.zero == b.zero && a.elem == b.elem).then_some(a)
}

/// The MaxPool move ([`QuantPlan::moves`]) of the DequantizeLinear that alone reads the integer
/// tensor `out`, if that MaxPool alone reads it: an integer kernel storing `out` may take the
/// pool into its store ([`Fusion::pool`]).
fn moved_pool(lw: &Lowerer, out: ValueId, moves: &HashMap<NodeId, (ValueId, ValueId)>) -> Option<(NodeId, ValueId)> {
    let dq = lw.sole_reader(out)?;
    let pool = lw.sole_reader(lw.graph.node(dq).outputs[0])?;
    let &(x, y) = moves.get(&pool)?;
    (x == out && matches!(lw.graph.node(pool).op, Op::Pool(_))).then_some((pool, y))
}
