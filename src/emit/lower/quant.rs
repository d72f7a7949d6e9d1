//! Integer kernels for quantized (QDQ) models. A QuantizeLinear output read only by
//! DequantizeLinear nodes is stored as 8-bit integers; a Conv, Gemm or MatMul whose input is
//! the DequantizeLinear of such a tensor and whose weights are quantized constants runs as one
//! integer kernel, together with the ReLU/Clip and the QuantizeLinear after it (its output
//! written as integers), and a DequantizeLinear whose readers all became integer kernels is not
//! computed at all.
//!
//! The integer kernels compute the same values as the float graph up to the order of float
//! rounding: `Σ (x - zx)(w - zw)` is exact in i32, then scaled by `sx · sw` and quantized as
//! QuantizeLinear does.

use super::{lit, Arg, BufId, Clamp, ConvGeometry, Elem, EmitError, Lowerer, Weight};
use crate::graph::{Node, NodeId, ValueId, ValueKind};
use crate::ops::Op;
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
}

/// Integer constants, by the value their dequantization defines.
pub type QuantConsts = HashMap<ValueId, QuantConst>;

/// A node run as an integer kernel.
#[derive(Clone, Debug)]
pub struct Fusion {
    /// The integer tensor it reads (dequantized by the absorbed DequantizeLinear).
    x: ValueId,
    /// Its quantization.
    xq: QParams,
    /// The value the kernel defines: the QuantizeLinear's output, or the node's (or its
    /// activation's) float output.
    out: ValueId,
    /// The quantization of `out` when it is stored as integers.
    outq: Option<QParams>,
    /// A fused ReLU or Clip.
    clamp: Clamp,
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
}

/// `s` and `z` of a per-tensor QuantizeLinear or DequantizeLinear whose integer side is `int`.
fn per_tensor(lw: &Lowerer, node: &Node, int: ValueId) -> Option<QParams> {
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
fn producer(lw: &Lowerer, v: ValueId) -> Option<NodeId> {
    match lw.graph.value(v).kind {
        ValueKind::Node { node } => Some(node),
        _ => None,
    }
}

/// Plans the integer kernels of a graph.
pub(super) fn plan(lw: &Lowerer, order: &[NodeId], consts: &QuantConsts) -> QuantPlan {
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
    for &id in order {
        if let Some((fusion, absorbed)) = fusion(lw, id, consts, &plan.stored) {
            plan.absorbed.extend(absorbed);
            plan.fused.insert(id, fusion);
        }
    }
    // A DequantizeLinear whose readers all read it as an integer kernel's input.
    for &id in order {
        let node = lw.graph.node(id);
        if !matches!(node.op, Op::DequantizeLinear(_)) || lw.graph.outputs.contains(&node.outputs[0]) {
            continue;
        }
        let readers = lw.consumers.get(&node.outputs[0]).map(|c| c.as_slice()).unwrap_or_default();
        let fused = |r: &NodeId| {
            plan.fused.contains_key(r) && {
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

/// `id` as an integer kernel, with the nodes it absorbs after it.
fn fusion(
    lw: &Lowerer,
    id: NodeId,
    consts: &QuantConsts,
    stored: &HashMap<ValueId, QParams>,
) -> Option<(Fusion, Vec<NodeId>)> {
    let node = lw.graph.node(id);
    let w = consts.get(&node.inputs.get(1).copied().flatten()?)?;
    let wrank = lw.graph.ty(node.inputs[1]?)?.shape.len();
    let bias = node.inputs.get(2).copied().flatten();
    let weights_ok = match &node.op {
        Op::Conv(_) => (wrank == 3 || wrank == 4) && scales_along(w, 0),
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
    let mut outq = None;
    if let Some(q) = lw.sole_reader(out) {
        let qn = lw.graph.node(q);
        if matches!(qn.op, Op::QuantizeLinear(_)) && qn.inputs.first().copied().flatten() == Some(out) {
            if let Some(p) = stored.get(&qn.outputs[0]) {
                absorbed.push(q);
                outq = Some(*p);
                out = qn.outputs[0];
            }
        }
    }
    Some((Fusion { x, xq, out, outq, clamp }, absorbed))
}

/// Quantized weights with their zero points taken off, in the narrowest type that holds them,
/// and the sum of each output channel's weights; `channel(i)` is the output channel of element
/// `i`, `scale(i)` and `zero(i)` its quantization.
struct Prepared {
    values: Vec<i32>,
    sums: Vec<i64>,
    scales: Vec<f32>,
}

impl Prepared {
    fn new(w: &QuantConst, channels: usize, channel: impl Fn(usize) -> usize, param: impl Fn(usize) -> usize) -> Self {
        let mut sums = vec![0i64; channels];
        let mut scales = vec![0f32; channels];
        let values = w
            .values
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let p = if w.scale.len() == 1 { 0 } else { param(i) };
                let v = q - w.zero[p];
                sums[channel(i)] += v as i64;
                scales[channel(i)] = w.scale[p];
                v
            })
            .collect();
        Prepared { values, sums, scales }
    }

    /// The values as the kernels' weight type.
    fn weight(values: &[i32]) -> Weight {
        if values.iter().all(|v| i8::try_from(*v).is_ok()) {
            Weight::I8(values.iter().map(|&v| v as i8).collect())
        } else {
            Weight::I16(values.iter().map(|&v| v as i16).collect())
        }
    }
}

impl Lowerer<'_> {
    /// Lowers a node the plan made an integer kernel.
    pub(super) fn quantized(&mut self, id: NodeId, f: &Fusion, consts: &QuantConsts) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let w = &consts[&node.inputs[1].expect("planned with weights")];
        let bias_in = node.inputs.get(2).copied().flatten();
        let xb = self.read(f.x)?;
        let (outq, clamp) = (f.outq, f.clamp);
        let rq = match outq {
            Some(q) => format!(
                "Requant {{ lo: {}, hi: {}, inv: {}, zero: {} }}",
                lit(clamp.lo),
                lit(clamp.hi),
                lit(q.scale.recip()),
                lit(q.zero as f32)
            ),
            None => format!("Requant {{ lo: {}, hi: {}, inv: 1.0, zero: 0.0 }}", lit(clamp.lo), lit(clamp.hi)),
        };
        let yelem = outq.map_or(Elem::F32, |q| q.elem);
        let (xt, yt) = (f.xq.elem.rust(), yelem.rust());
        let sx = f.xq.scale;
        // Per output channel: the i32 offset of the input's zero point, the scale, the bias.
        let channel_terms = |lw: &mut Self, p: &Prepared, bias: Vec<f32>, alpha: f32| -> [BufId; 3] {
            let off = p.sums.iter().map(|s| (-(f.xq.zero as i64) * s) as i32).collect();
            let mul = p.scales.iter().map(|s| sx * s * alpha).collect();
            [lw.add_typed_weight(Weight::I32(off)), lw.add_weight(mul), lw.add_weight(bias)]
        };
        match &node.op {
            Op::Conv(c) => {
                let geo = self.conv_geometry(id, c)?;
                let per = w.values.len() / geo.m;
                let p = Prepared::new(w, geo.m, |i| i / per, |i| i / per);
                let bias = match bias_in {
                    Some(b) => self.const_values(Some(b), "the bias")?,
                    None => vec![0.0; geo.m],
                };
                let [ob, mb_, bb] = channel_terms(self, &p, bias, 1.0);
                self.conv_kernel(&geo, &p, xb, f, [ob, mb_, bb], [xt, yt], rq)
            }
            Op::Gemm(g) => {
                let (k, n) = {
                    let s = self.shape(node.inputs[1].expect("weights"))?;
                    if g.trans_b {
                        (s[1], s[0])
                    } else {
                        (s[0], s[1])
                    }
                };
                let m = self.shape(node.inputs[0].expect("input"))?[0];
                let (channel, trans) = (move |i: usize| if g.trans_b { i / k } else { i % n }, g.trans_b);
                let p = Prepared::new(w, n, channel, channel);
                let bias = match bias_in {
                    Some(c) => {
                        let v = self.const_values(Some(c), "C")?;
                        (0..n).map(|j| g.beta * if v.len() == 1 { v[0] } else { v[j] }).collect()
                    }
                    None => vec![0.0; n],
                };
                let terms = channel_terms(self, &p, bias, g.alpha);
                let values = if trans { transpose(&p.values, n, k) } else { p.values.clone() };
                self.matrix_kernel(m, k, n, values, xb, f, terms, [xt, yt], rq)
            }
            Op::MatMul(_) => {
                let s = self.shape(node.inputs[1].expect("weights"))?;
                let (k, n) = (s[0], s[1]);
                let a = self.shape(node.inputs[0].expect("input"))?;
                let m = a.iter().product::<usize>() / k;
                let p = Prepared::new(w, n, |i| i % n, |i| i % n);
                let terms = channel_terms(self, &p, vec![0.0; n], 1.0);
                let values = p.values.clone();
                self.matrix_kernel(m, k, n, values, xb, f, terms, [xt, yt], rq)
            }
            _ => unreachable!("only Conv, Gemm and MatMul are planned"),
        }
    }

    /// `y[M][N] = x[M][K] · w[K][N]` with per-column terms.
    #[allow(clippy::too_many_arguments)]
    fn matrix_kernel(
        &mut self,
        m: usize,
        k: usize,
        n: usize,
        values: Vec<i32>,
        xb: BufId,
        f: &Fusion,
        [ob, sb, bb]: [BufId; 3],
        [xt, yt]: [&str; 2],
        rq: String,
    ) -> Result<(), EmitError> {
        let wb = self.add_typed_weight(Prepared::weight(&values));
        let wt = self.program.bufs[wb].elem.rust();
        let yb = self.define(f.out)?;
        let (nb4, nb1) = super::mm_blocks(n);
        self.typed_step(
            "k_qmm",
            &[xt, wt, yt],
            vec![m, k, n, 2, nb4, nb1],
            vec![
                Arg::Read(xb),
                Arg::Read(wb),
                Arg::Read(ob),
                Arg::Read(sb),
                Arg::Read(bb),
                Arg::Write(yb),
                Arg::Code(rq),
            ],
        );
        Ok(())
    }

    /// An integer convolution: pointwise as a matrix product, depthwise, or direct.
    #[allow(clippy::too_many_arguments)]
    fn conv_kernel(
        &mut self,
        geo: &ConvGeometry,
        p: &Prepared,
        xb: BufId,
        f: &Fusion,
        [ob, sb, bb]: [BufId; 3],
        [xt, yt]: [&str; 2],
        rq: String,
    ) -> Result<(), EmitError> {
        let ConvGeometry { cin, m, g, h, wd, kh, kw, sh, sw, dh, dw, oh, ow, .. } = *geo;
        let terms = [Arg::Read(ob), Arg::Read(sb), Arg::Read(bb)];
        if geo.pointwise() {
            let wb = self.add_typed_weight(Prepared::weight(&p.values));
            let wt = self.program.bufs[wb].elem.rust();
            let yb = self.define(f.out)?;
            let (nb4, nb1) = super::mm_blocks(h * wd);
            let mut args = vec![Arg::Read(wb), Arg::Read(xb)];
            args.extend(terms);
            args.extend([Arg::Write(yb), Arg::Code(rq)]);
            self.typed_step("k_qmm", &[wt, xt, yt], vec![m, cin, h * wd, 1, nb4, nb1], args);
            return Ok(());
        }
        let fill = format!("{}{}", f.xq.zero, xt);
        let src = self.pad_input(geo, xb, f.xq.elem, &fill)?;
        let (ph, pw) = geo.padded();
        let yb = self.define(f.out)?;
        let (kernel, generics, values) = if geo.depthwise() {
            ("k_qdw", vec![cin, ph, pw, oh, ow, kh, kw, sh, sw, dh, dw], p.values.clone())
        } else {
            let (mb, pb) = super::conv_tile(m / g, ow);
            let values = super::conv_blocks(&p.values, geo, mb);
            ("k_qconv", vec![g, cin / g, ph, pw, m / g, oh, ow, kh, kw, sh, sw, dh, dw, mb, pb], values)
        };
        let wb = self.add_typed_weight(Prepared::weight(&values));
        let wt = self.program.bufs[wb].elem.rust();
        let mut args = vec![Arg::Read(src), Arg::Read(wb)];
        args.extend(terms);
        args.extend([Arg::Write(yb), Arg::Code(rq)]);
        self.typed_step(kernel, &[xt, wt, yt], generics, args);
        Ok(())
    }
}

/// `v` (`[R][C]`) transposed.
fn transpose(v: &[i32], r: usize, c: usize) -> Vec<i32> {
    (0..c * r).map(|i| v[(i % r) * c + i / r]).collect()
}
