//! Integer kernels for quantized (QDQ) models, as [`super::qplan`] plans them: the weights
//! prepared, the kernel chosen per layer and target, its operands and requantization terms.
//!
//! The integer kernels compute the graph's arithmetic exactly: `Σ (x - zx)(w - zw)` in i32,
//! then scaled by `sx · sw` and quantized as QuantizeLinear does.

use super::conv::{conv_blocks, conv_sub_tile, conv_tile, ConvGeometry};
use super::linalg::mm_generics;
pub use super::qadd::IntegerAdd;
use super::qpack::packed_shift;
pub(super) use super::qplan::plan;
pub use super::qplan::{Fusion, QParams, QuantConst, QuantConsts, QuantPlan};
use super::qwino::integer_winograd;
use super::{lit, nums, Arg, BufId, Clamp, Elem, EmitError, Lowerer, Weight};
use crate::graph::NodeId;
use crate::ops::Op;
use crate::tensor::DType;

/// Quantized weights with their zero points taken off, and per output channel the sum of its
/// weights and its scale (the plan admits only scales per tensor or per output channel).
pub(super) struct Prepared {
    pub(super) values: Vec<i32>,
    pub(super) sums: Vec<i64>,
    scales: Vec<f32>,
}

impl Prepared {
    /// `channel(i)` is the output channel of element `i`.
    fn new(w: &QuantConst, channels: usize, channel: impl Fn(usize) -> usize) -> Self {
        let mut sums = vec![0i64; channels];
        let mut scales = vec![0f32; channels];
        let values = w
            .values
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let p = if w.scale.len() == 1 { 0 } else { channel(i) };
                let v = q - w.zero[p];
                sums[channel(i)] += v as i64;
                scales[channel(i)] = w.scale[p];
                v
            })
            .collect();
        Prepared { values, sums, scales }
    }

    /// The values in the narrowest type that holds them.
    fn weight(values: &[i32]) -> Weight {
        if fits_i8(values) {
            Weight::I8(values.iter().map(|&v| v as i8).collect())
        } else {
            Weight::I16(values.iter().map(|&v| v as i16).collect())
        }
    }
}

/// Per output channel: the i32 offset of the input's zero point (`-zx · Σ w`), the scale
/// (`sx · sw`) and the float bias.
pub(super) struct Terms {
    pub(super) off: Vec<i32>,
    pub(super) mul: Vec<f32>,
    pub(super) bias: Vec<f32>,
}

/// Whether f32 sums `Σ x · w` over each output channel's weights are exact: every partial sum,
/// and the offset `-zx · Σ w`, stays below 2^24 for any 8-bit input.
fn exact_in_f32(p: &Prepared, channels: usize) -> bool {
    let mut bound = vec![0i64; channels];
    let per = p.values.len() / channels.max(1);
    for (i, v) in p.values.iter().enumerate() {
        bound[i / per.max(1)] += (*v as i64).abs() * 255;
    }
    bound.iter().all(|&b| b < 1 << 24)
}

impl Lowerer<'_> {
    /// Lowers a node the plan made an integer kernel.
    pub(super) fn quantized(&mut self, id: NodeId, f: &Fusion) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let w = &self.qconsts[&node.inputs[1].expect("planned with weights")];
        let bias_in = node.inputs.get(2).copied().flatten();
        let xb = self.read(f.x)?;
        let terms = |p: &Prepared, bias: Vec<f32>, alpha: f32| Terms {
            off: p.sums.iter().map(|s| (-(f.xq.zero as i64) * s) as i32).collect(),
            mul: p.scales.iter().map(|s| f.xq.scale * s * alpha).collect(),
            bias,
        };
        match &node.op {
            Op::Conv(c) => {
                let geo = self.conv_geometry(id, c)?;
                let per = w.values.len() / geo.m;
                let p = Prepared::new(w, geo.m, |i| i / per);
                let bias = match bias_in {
                    Some(b) => self.const_values(Some(b), "the bias")?,
                    None => vec![0.0; geo.m],
                };
                let t = terms(&p, bias, 1.0);
                if w.coded {
                    self.shift_add_conv(&geo, &p.values, xb, f, t)
                } else {
                    self.conv_kernel(&geo, &p, xb, f, t)
                }
            }
            Op::Gemm(g) => {
                let s = self.shape(node.inputs[1].expect("weights"))?;
                let (k, n) = if g.trans_b { (s[1], s[0]) } else { (s[0], s[1]) };
                let m = self.shape(node.inputs[0].expect("input"))?[0];
                let channel = move |i: usize| if g.trans_b { i / k } else { i % n };
                let p = Prepared::new(w, n, channel);
                let bias = match bias_in {
                    Some(c) => {
                        let v = self.const_values(Some(c), "C")?;
                        (0..n).map(|j| g.beta * if v.len() == 1 { v[0] } else { v[j] }).collect()
                    }
                    None => vec![0.0; n],
                };
                let t = terms(&p, bias, g.alpha);
                let values = if g.trans_b { transpose(&p.values, n, k) } else { p.values };
                if w.coded {
                    self.shift_add_matrix([m, k, n], &values, xb, f, t)
                } else {
                    self.matrix_kernel([m, k, n], &values, xb, f, t)
                }
            }
            Op::MatMul(_) => {
                let s = self.shape(node.inputs[1].expect("weights"))?;
                let (k, n) = (s[0], s[1]);
                let m = self.shape(node.inputs[0].expect("input"))?.iter().product::<usize>() / k;
                let p = Prepared::new(w, n, |i| i % n);
                let t = terms(&p, vec![0.0; n], 1.0);
                if w.coded {
                    self.shift_add_matrix([m, k, n], &p.values, xb, f, t)
                } else {
                    self.matrix_kernel([m, k, n], &p.values, xb, f, t)
                }
            }
            _ => unreachable!("only Conv, Gemm and MatMul are planned"),
        }
    }

    /// The store of a fused node: its clamp, and the output's quantization when it has one.
    pub(super) fn requant(f: &Fusion) -> String {
        Self::requant_of(f.clamp, f.outq)
    }

    /// The `Requant` (`kernels/quant.rs`) of a store clamping to `clamp` and, given `outq`,
    /// quantizing as that QuantizeLinear does.
    pub(super) fn requant_of(clamp: Clamp, outq: Option<QParams>) -> String {
        let (inv, zero) = outq.map_or((1.0, 0.0), |q| (q.scale.recip(), q.zero as f32));
        format!("Requant {{ lo: {}, hi: {}, inv: {}, zero: {} }}", lit(clamp.lo), lit(clamp.hi), lit(inv), lit(zero))
    }

    /// The element type of a fused node's output.
    pub(super) fn out_type(f: &Fusion) -> &'static str {
        f.outq.map_or(Elem::F32, |q| q.elem).rust()
    }

    /// The weights and the terms the integer kernels read: weights, then offsets (when
    /// `offsets`), scales and biases.
    fn integer_operands(&mut self, values: &[i32], t: Terms, offsets: bool) -> (BufId, Vec<Arg>) {
        let wb = self.add_typed_weight(Prepared::weight(values));
        (wb, self.terms(t, offsets))
    }

    /// The per-channel terms the integer kernels read: offsets (when `offsets`), scales and
    /// biases.
    pub(super) fn terms(&mut self, t: Terms, offsets: bool) -> Vec<Arg> {
        let mut args = Vec::new();
        if offsets {
            args.push(Arg::Read(self.add_typed_weight(Weight::I32(t.off))));
        }
        args.push(Arg::Read(self.add_weight(t.mul)));
        args.push(Arg::Read(self.add_weight(t.bias)));
        args
    }

    /// `y[M][N] = x[M][K] · w[K][N]` with per-column terms, summed in i32. A single row of 8-bit
    /// integers by `i8` weights is a 1×1 convolution of `K` channels into `N` on one pixel
    /// (the layouts agree), run on the packed layout (`k_qconv4`); others as `k_qmm`.
    fn matrix_kernel(
        &mut self,
        [m, k, n]: [usize; 3],
        values: &[i32],
        xb: BufId,
        f: &Fusion,
        t: Terms,
    ) -> Result<(), EmitError> {
        let shift = packed_shift(f.xq.elem);
        if let (1, Some(shift), true) = (m, shift, self.packed) {
            if fits_i8(values) {
                let mut sums = vec![0i64; n];
                for (i, &v) in values.iter().enumerate() {
                    sums[i % n] += v as i64;
                }
                let p = Prepared { values: transpose(values, k, n), sums, scales: Vec::new() };
                let geo = ConvGeometry {
                    cin: k,
                    m: n,
                    g: 1,
                    h: 1,
                    wd: 1,
                    kh: 1,
                    kw: 1,
                    sh: 1,
                    sw: 1,
                    dh: 1,
                    dw: 1,
                    pads: [0; 4],
                    oh: 1,
                    ow: 1,
                };
                return self.packed_conv(&geo, &p, xb, f, t, shift);
            }
        }
        let steps = self.steps(&t, f);
        if m == 1 && self.dsp && shift.is_some() && fits_i8(values) {
            // `y^T = w^T · x^T`: the weights' rows are `k_qmm`'s per-row `i8` rows (SMLAD).
            let (wb, terms) = self.integer_operands(&transpose(values, k, n), t, true);
            let yb = self.define(f.out)?;
            let mut args = vec![Arg::Read(wb), Arg::Read(xb)];
            args.extend(terms);
            args.extend([steps, Arg::Write(yb), Arg::Code(Self::requant(f))]);
            let generics = int_mm_generics(&[n, k, 1, 1], 1);
            self.typed_step("k_qmm", &["i8", f.xq.elem.rust(), Self::out_type(f)], generics, args);
            return Ok(());
        }
        let (wb, terms) = self.integer_operands(values, t, true);
        let wt = self.program.bufs[wb].elem.rust();
        let yb = self.define(f.out)?;
        let generics = int_mm_generics(&[m, k, n, 2], n);
        let mut args = vec![Arg::Read(xb), Arg::Read(wb)];
        args.extend(terms);
        args.extend([steps, Arg::Write(yb), Arg::Code(Self::requant(f))]);
        self.typed_step("k_qmm", &[f.xq.elem.rust(), wt, Self::out_type(f)], generics, args);
        Ok(())
    }

    /// A quantized convolution, summing in i32: pointwise as a matrix product, depthwise per
    /// channel (`k_qdw`), others as a direct convolution.
    fn conv_kernel(
        &mut self,
        geo: &ConvGeometry,
        p: &Prepared,
        xb: BufId,
        f: &Fusion,
        t: Terms,
    ) -> Result<(), EmitError> {
        let ConvGeometry { cin, m, g, h, wd, kh, kw, sh, sw, dh, dw, oh, ow, .. } = *geo;
        let (xt, yt, rq) = (f.xq.elem.rust(), Self::out_type(f), Self::requant(f));
        let (ph, pw) = geo.padded();
        let shift = packed_shift(f.xq.elem);
        if let (1, Some(shift), true) = (g, shift, self.packed) {
            if cin == 1 && (sh, sw, dh, dw) == (1, 1, 1, 1) && !geo.pointwise() {
                return self.one_channel_conv(geo, p, xb, f, t);
            }
            if fits_i8(&p.values) {
                if integer_winograd(geo, &p.values, matches!(f.xq.elem, Elem::I8)) {
                    return self.winograd_conv(geo, p, xb, f, t);
                }
                return self.packed_conv(geo, p, xb, f, t, shift);
            }
        }
        if geo.pointwise() {
            let steps = self.steps(&t, f);
            let (wb, terms) = self.integer_operands(&p.values, t, true);
            let wt = self.program.bufs[wb].elem.rust();
            let yb = self.define(f.out)?;
            // Per-row terms; 3: the sums are exact in f32 (float lanes off Arm).
            let ax = if exact_in_f32(p, m) { 3 } else { 1 };
            let generics = int_mm_generics(&[m, cin, h * wd, ax], h * wd);
            let mut args = vec![Arg::Read(wb), Arg::Read(xb)];
            args.extend(terms);
            args.extend([steps, Arg::Write(yb), Arg::Code(rq)]);
            self.typed_step("k_qmm", &[wt, xt, yt], generics, args);
            return Ok(());
        }
        if geo.depthwise() {
            // Integers padded with the input's zero point, summed in i32: at stride 1 on padded
            // planes of 16 flat positions to 1,024 values the kernel pads each plane into a
            // scratch itself (the x86-64 kernel `k_qdw_pairs`, whose six i32 planes of N values
            // on the stack, 24 KiB at most, stay in the L1 cache), else `k_pad2d` first.
            // (`scripts/step-times.sh`, MobileNet VWW int8, native, one run of both builds:
            // `k_qdw_pairs` took 12.8 us on the 8 planes of 50 × 50, against 0.8 + 9.8 us for
            // `k_pad2d` and the row kernel, and 5.6 us on the 256 planes of 5 × 5 (13 flat
            // positions), against 0.6 + 3.3 us with the small-plane kernel; it was faster on
            // 14 × 14 and 8 × 8, level on 26 × 26.)
            let fill = format!("{}{}", f.xq.zero, xt);
            let eight_bit = matches!(f.xq.elem, Elem::I8 | Elem::U8);
            let fused = eight_bit && (sh, sw) == (1, 1) && (oh - 1) * pw + ow >= 16 && oh * ow >= 8 && ph * pw <= 1024;
            // The x86-64 AVX-512 kernel (`k_qdw_avx512`, in exact f32 lanes) on wide-SIMD
            // targets: its channels per group and its buffer (0: off). It reads the input
            // unpadded, and the kernel pads it into the scratch on CPUs without AVX-512F.
            // (`scripts/step-times.sh`, MobileNet VWW int8: the k_pad2d steps before the
            // depthwise layers took 0.5-1.7 us each.)
            let exact = self.packed && eight_bit && sw <= 2 && exact_in_f32(p, m);
            let (g, floats) = if exact { qdw512_group(cin, h * wd, kh * kw) } else { (0, 0) };
            let [pt, pl, ..] = geo.pads;
            let (src, scratch, dims) = if fused || g > 0 {
                let len = if fused { qdw_scratch(geo) } else { cin * ph * pw };
                let p = self.new_typed_buf(len, f.xq.elem, super::Home::Arena);
                (xb, Arg::Write(p), [h, wd, pt, pl])
            } else {
                (self.pad_input(geo, xb, f.xq.elem, &fill)?, Arg::Code("&mut []".into()), [ph, pw, 0, 0])
            };
            let steps = self.steps(&t, f);
            let (wb, terms) = self.integer_operands(&p.values, t, true);
            let wt = self.program.bufs[wb].elem.rust();
            let yb = self.define(f.out)?;
            let mut args = vec![Arg::Read(src), Arg::Read(wb)];
            args.extend(terms);
            args.extend([steps, scratch, Arg::Code(fill), Arg::Write(yb), Arg::Code(rq)]);
            // The x86-64 kernels' planes, sums or staged outputs of one channel on the stack (up
            // to 64 KiB), and how far the small-plane kernel reads from a channel's start.
            let (n, pb) = if fused {
                ((ph * pw).next_multiple_of(16), 0)
            } else if eight_bit && sh == sw && sw <= 2 && oh * pw <= 16384 {
                ((oh * pw).max(16), qdw_span(geo).max(ph * pw))
            } else {
                (0, 0)
            };
            let [hx, wx, pt, pl] = dims;
            let generics = nums(&[cin, hx, wx, ph, pw, pt, pl, oh, ow, kh, kw, sh, sw, dh, dw, n, pb, g, floats]);
            self.typed_step("k_qdw", &[xt, wt, yt], generics, args);
            return Ok(());
        }
        let src = self.pad_input(geo, xb, f.xq.elem, &format!("{}{}", f.xq.zero, xt))?;
        let (mut mb, pb) = conv_tile(m / g, ow);
        if self.dsp && (m / g).is_multiple_of(2) && fits_i8(&p.values) {
            // Pairs of output channels, the layout of the SMLAD kernel (`k_qconv_dsp`).
            mb = 2;
        }
        let steps = self.steps(&t, f);
        let (wb, terms) = self.integer_operands(&conv_blocks(&p.values, geo, mb), t, true);
        let wt = self.program.bufs[wb].elem.rust();
        let yb = self.define(f.out)?;
        let mut args = vec![Arg::Read(src), Arg::Read(wb)];
        args.extend(terms);
        args.extend([steps, Arg::Write(yb), Arg::Code(rq)]);
        let mut generics = nums(&[g, cin / g, ph, pw, m / g, oh, ow, kh, kw, sh, sw, dh, dw, mb]);
        // On 32-bit Arm 4 channels by 1 pixel: measured on ResNet-8 (cm4 harness) against 4 × 2
        // (12 % more cycles, spills), 2 × 2, 2 × 4 and 8 × 2.
        generics.extend([on_arm(divisor(mb, 4), conv_sub_tile(mb)), on_arm(1, pb.to_string())]);
        self.typed_step("k_qconv", &[xt, wt, yt], generics, args);
        Ok(())
    }

    /// QuantizeLinear of a runtime tensor: to integers when the plan stores them, else to integers held in f32.
    pub(super) fn quantize_linear(&mut self, id: NodeId, q: &crate::ops::QuantizeLinear) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let out = node.outputs[0];
        let x = self.input(id, 0)?;
        let scale = self.const_values(node.inputs.get(1).copied().flatten(), "y_scale")?;
        let zp = match node.inputs.get(2).copied().flatten() {
            Some(z) => self.const_values(Some(z), "y_zero_point")?,
            None => vec![0.0],
        };
        if scale.len() != 1 || zp.len() != 1 || q.block_size != 0 {
            return Err(self.unsupported("per-axis or blocked quantization of a runtime tensor"));
        }
        if let Some(qp) = self.quant.stored.get(&out).copied() {
            let (xb, yb) = (self.read(x)?, self.define(out)?);
            let n = self.shape(x)?.iter().product();
            let (inv, zero) = (Arg::Code(lit(qp.scale.recip())), Arg::Code(lit(qp.zero as f32)));
            self.typed_step("k_quant_to", &["_"], nums(&[n]), vec![Arg::Read(xb), Arg::Write(yb), inv, zero]);
            return Ok(());
        }
        let dtype = self.graph.ty(out).map(|t| t.dtype).unwrap_or(DType::U8);
        let (qmin, qmax) = match dtype {
            DType::I8 => (-128.0, 127.0),
            DType::U8 => (0.0, 255.0),
            DType::I16 => (-32768.0, 32767.0),
            DType::U16 => (0.0, 65535.0),
            other => return Err(self.unsupported(format!("quantization to {other}"))),
        };
        let consts = [lit(scale[0].recip()), lit(zp[0]), lit(qmin), lit(qmax)].map(Arg::Code);
        let n = self.shape(x)?.iter().product();
        if self.can_overwrite(x) {
            let b = self.read(x)?;
            self.bind(out, b);
            self.program.in_place += 1;
            let mut args = vec![Arg::Update(b)];
            args.extend(consts);
            self.step("k_quant_ip", vec![n], args);
        } else {
            let xb = self.read(x)?;
            let yb = self.define(out)?;
            let mut args = vec![Arg::Read(xb), Arg::Write(yb)];
            args.extend(consts);
            self.step("k_quant", vec![n], args);
        }
        Ok(())
    }

    /// DequantizeLinear of a runtime tensor: per tensor or per axis.
    pub(super) fn dequantize_linear(&mut self, id: NodeId, dq: &crate::ops::DequantizeLinear) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let out = node.outputs[0];
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        let scale = self.const_values(node.inputs.get(1).copied().flatten(), "x_scale")?;
        let zp = match node.inputs.get(2).copied().flatten() {
            Some(z) => self.const_values(Some(z), "x_zero_point")?,
            None => vec![0.0; scale.len()],
        };
        if dq.block_size != 0 {
            return Err(self.unsupported("blocked dequantization of a runtime tensor"));
        }
        if self.quant.stored.contains_key(&x) {
            // Per tensor (the plan stores only tensors all of whose readers are).
            let (xb, yb) = (self.read(x)?, self.define(out)?);
            let args =
                vec![Arg::Read(xb), Arg::Write(yb), Arg::Code(format!("{}", zp[0] as i32)), Arg::Code(lit(scale[0]))];
            self.typed_step("k_dequant", &["_"], nums(&[shape.iter().product()]), args);
            return Ok(());
        }
        if scale.len() == 1 {
            self.map(x, out, format!("|v| (v - {}) * {}", lit(zp[0]), lit(scale[0])))
        } else {
            let axis = self.axis(dq.axis, shape.len())?;
            let outer: usize = shape[..axis].iter().product();
            let inner: usize = shape[axis + 1..].iter().product();
            let t: Vec<f32> = scale.iter().zip(&zp).map(|(s, z)| -z * s).collect();
            self.affine(x, out, outer, shape[axis], inner, scale, t)
        }
    }
}

/// A const argument of an integer kernel: `arm` on 32-bit Arm, whose 13 free core registers
/// hold a tile of at most 8 i32 sums with its pointers and counters (the float tiles' 16 sums
/// spill there), else `other`.
fn on_arm(arm: usize, other: String) -> String {
    match other.strip_prefix("{ if ").and_then(|o| o.strip_suffix(" }")) {
        // `other` is itself a choice: chained as `else if`.
        Some(choice) => format!("{{ if cfg!(target_arch = \"arm\") {{ {arm} }} else if {choice} }}"),
        None => format!("{{ if cfg!(target_arch = \"arm\") {{ {arm} }} else {{ {other} }} }}"),
    }
}

/// The largest divisor of `n` that is at most `max`.
fn divisor(n: usize, max: usize) -> usize {
    (1..=max.min(n)).rev().find(|&d| n.is_multiple_of(d)).unwrap_or(1)
}

/// The const arguments of `k_qmm`: `dims`, then its column blocks for `n` columns, as the float
/// product's ([`mm_generics`]) except on 32-bit Arm: 2 columns by four rows (8 sums), 8 for
/// single rows (each a divisor of `n` where one of at least half that size divides it).
fn int_mm_generics(dims: &[usize], n: usize) -> Vec<String> {
    let mut generics = mm_generics(dims, n);
    let pick = |max: usize| {
        if n <= max {
            n
        } else {
            (max / 2..=max).rev().find(|&b| n.is_multiple_of(b)).unwrap_or(max)
        }
    };
    let (nb1, nb4) = (generics.pop().expect("NB1"), generics.pop().expect("NB4"));
    generics.extend([on_arm(pick(2), nb4), on_arm(pick(8), nb1)]);
    generics
}

/// How many 16-bit values the x86-64 depthwise kernel reads from a channel's widened plane
/// (`k_qdw_span` in `kernels/qdw_avx2.rs`, the same formula): blocks of 16 sums over the flat
/// positions `0..max((OH - 1)·W + OW, 16)`, each pair of taps reading its right neighbour.
fn qdw_span(geo: &ConvGeometry) -> usize {
    let (_, pw) = geo.padded();
    let jn = ((geo.oh - 1) * pw + geo.ow).max(16);
    let last =
        (geo.kh - 1) * geo.dh * pw + if geo.dw == 1 { 2 * (geo.kw.div_ceil(2) - 1) } else { (geo.kw - 1) * geo.dw };
    geo.sw * jn + last + 2 - geo.sw
}

/// The scratch of a depthwise layer that pads its planes itself (`k_qdw_scratch` in
/// `kernels/qdw_pairs.rs`, the same formula): two padded planes, each rounded up to 16 values
/// and followed by the `DW` that the x86-64 kernel's last block of pairs reads.
fn qdw_scratch(geo: &ConvGeometry) -> usize {
    let (ph, pw) = geo.padded();
    2 * ((ph * pw).next_multiple_of(16) + geo.dw)
}

/// The channels per group of the x86-64 AVX-512 depthwise kernel (`k_qdw_avx512`) and the floats
/// of its buffer on the stack (`k_qdw512_floats` in `kernels/qdw_avx512.rs`, the same formula),
/// for `c` channels of `plane` inputs and `taps` weights each: the most channels (a divisor of
/// `c`) whose inputs and weights in f32 fill at most 32 KiB, so that they stay in the L1 cache
/// while the float kernel sweeps them; one channel up to 64 KiB; `(0, 0)`, the kernel off,
/// beyond.
fn qdw512_group(c: usize, plane: usize, taps: usize) -> (usize, usize) {
    let per = plane + taps + 1;
    let g = match 8192 / per {
        0 if per <= 16384 => 1,
        0 => 0,
        most => divisor(c, most),
    };
    (g, g * per)
}

/// Whether every value is an `i8`.
fn fits_i8(values: &[i32]) -> bool {
    values.iter().all(|v| i8::try_from(*v).is_ok())
}

/// `v` (`[R][C]`) transposed.
fn transpose(v: &[i32], r: usize, c: usize) -> Vec<i32> {
    (0..c * r).map(|i| v[(i % r) * c + i / r]).collect()
}
