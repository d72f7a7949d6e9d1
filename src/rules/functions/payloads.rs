//! Payload, literal and op functions: attributes read off a kernel's op (`@gemm_alpha`), axes
//! and shapes resolved against an input type (`@softmax_axes`, `@out_shape`), einsums
//! (`@matmul_einsum`), and the ops of kernels that primitives recompose into (`@relu_op`).

use super::{arity, dims, ints, ints_arg, lit_arg, literal, op, op_result, payload, payload_arg, ty, Function};
use crate::ir::{IrData, Payload, SliceSpec};
use crate::ops::{norm_axis, Binary, BinaryKind, Cast, MatMul, Op, OpError, PadMode, Transpose, Unary, UnaryKind};
use crate::tensor::TensorType;

type R = Result<IrData, String>;

/// `f32` attribute as the literal of its exact value.
fn f(v: f32) -> R {
    Ok(literal(v as f64))
}

fn wrong(name: &str, op: &Op) -> String {
    format!("expected a {name} op, found {}", op.onnx_name())
}

fn leakyrelu_alpha(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::LeakyRelu(l) => f(l.alpha),
        other => Err(wrong("LeakyRelu", other)),
    }
}

fn hardsigmoid_alpha(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::HardSigmoid(h) => f(h.alpha),
        other => Err(wrong("HardSigmoid", other)),
    }
}

fn hardsigmoid_beta(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::HardSigmoid(h) => f(h.beta),
        other => Err(wrong("HardSigmoid", other)),
    }
}

fn clip_min(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::Clip(c) => Ok(literal(c.min.unwrap_or(f64::NEG_INFINITY))),
        other => Err(wrong("Clip", other)),
    }
}

fn clip_max(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::Clip(c) => Ok(literal(c.max.unwrap_or(f64::INFINITY))),
        other => Err(wrong("Clip", other)),
    }
}

fn gemm_alpha(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::Gemm(g) => f(g.alpha),
        other => Err(wrong("Gemm", other)),
    }
}

fn gemm_beta(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::Gemm(g) => f(g.beta),
        other => Err(wrong("Gemm", other)),
    }
}

fn bn_eps(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::BatchNorm(b) if b.spatial => f(b.epsilon),
        Op::BatchNorm(_) => Err("BatchNormalization with spatial=0 has per-activation statistics".into()),
        other => Err(wrong("BatchNormalization", other)),
    }
}

fn layernorm_eps(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::LayerNorm(l) => f(l.epsilon),
        other => Err(wrong("LayerNormalization", other)),
    }
}

fn pad_value(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::Pad(p) if p.mode == PadMode::Constant => Ok(literal(p.value)),
        Op::Pad(p) => Err(format!("Pad in {} mode has no fill value", p.mode.onnx_name())),
        other => Err(wrong("Pad", other)),
    }
}

fn unary_op(a: &[&IrData], kind: UnaryKind) -> R {
    arity(a, 0)?;
    Ok(op_result(Op::Unary(Unary { kind })))
}

fn relu_op(a: &[&IrData]) -> R {
    unary_op(a, UnaryKind::Relu)
}

fn sigmoid_op(a: &[&IrData]) -> R {
    unary_op(a, UnaryKind::Sigmoid)
}

fn tanh_op(a: &[&IrData]) -> R {
    unary_op(a, UnaryKind::Tanh)
}

fn exp_op(a: &[&IrData]) -> R {
    unary_op(a, UnaryKind::Exp)
}

fn sqrt_op(a: &[&IrData]) -> R {
    unary_op(a, UnaryKind::Sqrt)
}

fn add_op(a: &[&IrData]) -> R {
    arity(a, 0)?;
    Ok(op_result(Op::Binary(Binary::new(BinaryKind::Add))))
}

fn mul_op(a: &[&IrData]) -> R {
    arity(a, 0)?;
    Ok(op_result(Op::Binary(Binary::new(BinaryKind::Mul))))
}

/// The einsum of numpy `matmul` for these shapes (batch axes aligned from the right must have
/// equal sizes where both operands have them: `dot` does not broadcast).
pub(crate) fn matmul_spec(a: &[usize], b: &[usize]) -> Result<String, String> {
    const BATCH: &[u8] = b"abcdefgh";
    let (ra, rb) = (a.len(), b.len());
    if ra == 0 || rb == 0 {
        return Err("matmul operands need rank 1 or more".into());
    }
    let (ba, bb) = (ra.saturating_sub(2), rb.saturating_sub(2));
    let nb = ba.max(bb);
    if nb > BATCH.len() {
        return Err("too many batch axes".into());
    }
    let (ka, kb) = (a[ra - 1], if rb == 1 { b[0] } else { b[rb - 2] });
    if ka != kb {
        return Err(format!("inner dimensions differ ({ka} and {kb})"));
    }
    let (mut sa, mut sb, mut out) = (String::new(), String::new(), String::new());
    for (p, &l) in BATCH.iter().enumerate().take(nb) {
        let letter = l as char;
        let ia = (p + ba).checked_sub(nb);
        let ib = (p + bb).checked_sub(nb);
        if let (Some(i), Some(j)) = (ia, ib) {
            if a[i] != b[j] {
                return Err(format!("batch axis {p} needs broadcasting ({} and {})", a[i], b[j]));
            }
        }
        if ia.is_some() {
            sa.push(letter);
        }
        if ib.is_some() {
            sb.push(letter);
        }
        out.push(letter);
    }
    sa.push_str(if ra == 1 { "k" } else { "mk" });
    sb.push_str(if rb == 1 { "k" } else { "kn" });
    if ra > 1 {
        out.push('m');
    }
    if rb > 1 {
        out.push('n');
    }
    Ok(format!("{sa},{sb}->{out}"))
}

fn matmul_einsum(a: &[&IrData]) -> R {
    arity(a, 2)?;
    Ok(payload(Payload::Einsum(matmul_spec(&ty(a, 0)?.shape, &ty(a, 1)?.shape)?)))
}

fn matmul_op(a: &[&IrData]) -> R {
    arity(a, 3)?;
    let Payload::Einsum(e) = payload_arg(a, 0)? else { return Err("argument 0 is not an #einsum".into()) };
    let (x, y) = (ty(a, 1)?, ty(a, 2)?);
    if x.shape.len() == 1 && y.shape.len() == 1 {
        // A dot product of two vectors is MatMul to ONNX, but runtimes (tract) refuse it.
        return Err("MatMul of two vectors".into());
    }
    if x.dtype != y.dtype || *e != matmul_spec(&x.shape, &y.shape)? {
        return Err(format!("#einsum:{e} is not MatMul's contraction of {x} and {y}"));
    }
    Ok(op_result(Op::MatMul(MatMul)))
}

fn gemm_einsum(a: &[&IrData]) -> R {
    arity(a, 1)?;
    let Op::Gemm(g) = op(a, 0)? else { return Err(wrong("Gemm", op(a, 0)?)) };
    let spec = format!("{},{}->ij", if g.trans_a { "ki" } else { "ik" }, if g.trans_b { "jk" } else { "kj" });
    Ok(payload(Payload::Einsum(spec)))
}

/// A zero point's reshape target: `[]` per tensor, else `per_axis` when its shape is `[n]`.
fn zp_shape(zp: &TensorType, n: Option<usize>, per_axis: Vec<i64>) -> R {
    if zp.numel() == 1 {
        return Ok(ints(Vec::new()));
    }
    match n {
        Some(n) if zp.shape == [n] => Ok(ints(per_axis)),
        _ => Err(format!("zero point {zp} is neither per tensor nor per row/column")),
    }
}

fn matmul_zp_a_shape(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let x = ty(a, 0)?;
    let m = (x.shape.len() >= 2).then(|| x.shape[x.shape.len() - 2]);
    zp_shape(ty(a, 1)?, m, vec![m.unwrap_or(0) as i64, 1])
}

fn matmul_zp_b_shape(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let x = ty(a, 0)?;
    let n = (x.shape.len() >= 2).then(|| x.shape[x.shape.len() - 1]);
    zp_shape(ty(a, 1)?, n, vec![n.unwrap_or(0) as i64])
}

fn out_shape(a: &[&IrData]) -> R {
    let o = op(a, 0)?;
    let inputs: Vec<Option<&TensorType>> = a[1..].iter().map(|d| d.ty()).collect();
    match o.infer(&inputs).map_err(|e| e.to_string())?.as_slice() {
        [t] => Ok(ints(dims(&t.shape))),
        outs => Err(format!("{} has {} outputs", o.onnx_name(), outs.len())),
    }
}

/// `[]` for a one-element parameter, `[M, 1...]` of `rank` for a per-channel one (`M` = dim 0 of w).
fn channel_param(a: &[&IrData], ones: usize) -> R {
    arity(a, 2)?;
    let (w, p) = (ty(a, 0)?, ty(a, 1)?);
    let m = *w.shape.first().ok_or("the weight is a scalar")?;
    if p.numel() == 1 {
        return Ok(ints(Vec::new()));
    }
    if p.shape != [m] {
        return Err(format!("{p} is not one value per output channel of {w}"));
    }
    Ok(ints(std::iter::once(m as i64).chain(std::iter::repeat_n(1, ones)).collect()))
}

fn out_channel_shape(a: &[&IrData]) -> R {
    let rank = ty(a, 0)?.shape.len();
    channel_param(a, rank.saturating_sub(2))
}

fn weight_channel_shape(a: &[&IrData]) -> R {
    let rank = ty(a, 0)?.shape.len();
    channel_param(a, rank.saturating_sub(1))
}

fn channel_shape(a: &[&IrData]) -> R {
    arity(a, 1)?;
    let x = ty(a, 0)?;
    if x.shape.len() < 2 {
        return Err(format!("{x} has no channel axis"));
    }
    Ok(ints(std::iter::once(x.shape[1] as i64).chain(std::iter::repeat_n(1, x.shape.len() - 2)).collect()))
}

fn spatial_axes(a: &[&IrData]) -> R {
    arity(a, 1)?;
    Ok(ints((2..ty(a, 0)?.shape.len() as i64).collect()))
}

fn shape_of(a: &[&IrData]) -> R {
    arity(a, 1)?;
    Ok(ints(dims(&ty(a, 0)?.shape)))
}

fn dtype_of(a: &[&IrData]) -> R {
    arity(a, 1)?;
    Ok(payload(Payload::DType(ty(a, 0)?.dtype)))
}

fn axis(axis: i64, x: &TensorType) -> Result<usize, String> {
    norm_axis(axis, x.shape.len()).map_err(|e: OpError| e.to_string())
}

fn softmax_axes(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let Op::Softmax(s) = op(a, 0)? else { return Err(wrong("Softmax", op(a, 0)?)) };
    let x = ty(a, 1)?;
    let first = axis(s.axis, x)?;
    let last = if s.flatten_trailing { x.shape.len() } else { first + 1 };
    Ok(ints((first as i64..last as i64).collect()))
}

fn layernorm_axes(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let Op::LayerNorm(l) = op(a, 0)? else { return Err(wrong("LayerNormalization", op(a, 0)?)) };
    if l.n_outputs != 1 {
        return Err("LayerNormalization with Mean and InvStdDev outputs".into());
    }
    let x = ty(a, 1)?;
    Ok(ints((axis(l.axis, x)? as i64..x.shape.len() as i64).collect()))
}

fn reduce_axes(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let Op::Reduce(r) = op(a, 0)? else { return Err(wrong("Reduce", op(a, 0)?)) };
    let mask = r.reduced(ty(a, 1)?.shape.len()).map_err(|e| e.to_string())?;
    let axes = mask.map_or(Vec::new(), |m| m.iter().enumerate().filter(|(_, &r)| r).map(|(i, _)| i as i64).collect());
    Ok(ints(axes))
}

fn transpose_perm(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let Op::Transpose(t) = op(a, 0)? else { return Err(wrong("Transpose", op(a, 0)?)) };
    let perm = t.perm_for(ty(a, 1)?.shape.len()).map_err(|e| e.to_string())?;
    Ok(ints(perm.iter().map(|&p| p as i64).collect()))
}

fn transpose_op(a: &[&IrData]) -> R {
    arity(a, 1)?;
    Ok(op_result(Op::Transpose(Transpose { perm: Some(ints_arg(a, 0)?.to_vec()) })))
}

fn concat_axis(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let Op::Concat(c) = op(a, 0)? else { return Err(wrong("Concat", op(a, 0)?)) };
    Ok(ints(vec![axis(c.axis, ty(a, 1)?)? as i64]))
}

fn slice_spec(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let Op::Slice(s) = op(a, 0)? else { return Err(wrong("Slice", op(a, 0)?)) };
    let x = ty(a, 1)?;
    let resolved = s.resolve(&x.shape).map_err(|e| e.to_string())?;
    let mut spec = SliceSpec { axes: Vec::new(), begins: Vec::new(), ends: Vec::new(), steps: Vec::new() };
    for (axis, (&(start, step, len), &d)) in resolved.iter().zip(&x.shape).enumerate() {
        if (start, step, len) == (0, 1, d) {
            continue;
        }
        let end = start as i64 + len as i64 * step;
        spec.axes.push(axis);
        spec.begins.push(start as i64);
        // An end before index 0 is written below -dim, which the primitive clamps to -1.
        spec.ends.push(if end < 0 { -(d as i64) - 1 } else { end });
        spec.steps.push(step);
    }
    Ok(payload(Payload::Slice(spec)))
}

fn pad_pads(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let Op::Pad(p) = op(a, 0)? else { return Err(wrong("Pad", op(a, 0)?)) };
    if p.mode != PadMode::Constant {
        return Err(format!("Pad in {} mode", p.mode.onnx_name()));
    }
    let (b, e) = p.begins_ends(ty(a, 1)?.shape.len()).map_err(|e| e.to_string())?;
    if b.iter().chain(&e).any(|&v| v < 0) {
        return Err("negative pads crop".into());
    }
    Ok(ints(b.into_iter().chain(e).collect()))
}

fn split_slice(a: &[&IrData]) -> R {
    arity(a, 3)?;
    let o = op(a, 0)?;
    let Op::Split(s) = o else { return Err(wrong("Split", o)) };
    let x = ty(a, 1)?;
    let i = lit_arg(a, 2)?;
    let outs = o.infer(&[Some(x)]).map_err(|e| e.to_string())?;
    if i < 0.0 || i.fract() != 0.0 || i as usize >= outs.len() {
        return Err(format!("Split has no output {i}"));
    }
    let ax = axis(s.axis, x)?;
    let start: usize = outs[..i as usize].iter().map(|t| t.shape[ax]).sum();
    let len = outs[i as usize].shape[ax];
    let spec =
        SliceSpec { axes: vec![ax], begins: vec![start as i64], ends: vec![(start + len) as i64], steps: vec![1] };
    Ok(payload(Payload::Slice(spec)))
}

fn cast_dtype(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::Cast(c) if c.to.is_float() || c.to.is_integer() || c.to == crate::tensor::DType::Bool => {
            Ok(payload(Payload::DType(c.to)))
        }
        Op::Cast(c) => Err(format!("cast to {}", c.to)),
        other => Err(wrong("Cast", other)),
    }
}

fn cast_op(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match payload_arg(a, 0)? {
        Payload::DType(to) => Ok(op_result(Op::Cast(Cast { to: *to, saturate: None }))),
        other => Err(format!("{other} is not a #dtype")),
    }
}

fn quant_axis(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let x = ty(a, 1)?;
    let ax = match op(a, 0)? {
        Op::QuantizeLinear(q) if q.block_size == 0 && q.precision.is_none() => q.axis,
        Op::DequantizeLinear(d) if d.block_size == 0 && d.output_dtype.is_none() => d.axis,
        Op::QuantizeLinear(_) | Op::DequantizeLinear(_) => return Err("blocked or re-typed quantization".into()),
        other => return Err(wrong("QuantizeLinear or DequantizeLinear", other)),
    };
    if x.shape.is_empty() {
        return Ok(ints(Vec::new()));
    }
    Ok(ints(vec![axis(ax, x)? as i64]))
}

fn lrn<'a>(a: &[&'a IrData]) -> Result<&'a crate::ops::Lrn, String> {
    match op(a, 0)? {
        Op::Lrn(l) => Ok(l),
        other => Err(wrong("LRN", other)),
    }
}

/// `@lrn_cols_shape x`: `[N, 1, C, prod(spatial)]`, so that a window runs across channels.
fn lrn_cols_shape(a: &[&IrData]) -> R {
    arity(a, 1)?;
    let x = ty(a, 0)?;
    if x.shape.len() < 2 {
        return Err(format!("{x} has no channel axis"));
    }
    let rest: usize = x.shape[2..].iter().product();
    Ok(ints(vec![x.shape[0] as i64, 1, x.shape[1] as i64, rest as i64]))
}

/// `@lrn_window op x`: `size` channels around each one (ONNX: floor((size-1)/2) before,
/// ceil((size-1)/2) after), as a 2-D window over `@lrn_cols_shape`.
fn lrn_window(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let l = lrn(a)?;
    ty(a, 1)?;
    let before = (l.size - 1) / 2;
    let spec = crate::ir::WindowSpec {
        kernel: vec![l.size, 1],
        strides: vec![1, 1],
        pads: vec![before, 0, l.size - 1 - before, 0],
        dilations: vec![1, 1],
    };
    Ok(payload(Payload::Window(spec)))
}

fn lrn_alpha_over_size(a: &[&IrData]) -> R {
    arity(a, 1)?;
    let l = lrn(a)?;
    Ok(literal(l.alpha as f64 / l.size as f64))
}

fn lrn_bias(a: &[&IrData]) -> R {
    arity(a, 1)?;
    f(lrn(a)?.bias)
}

fn lrn_beta(a: &[&IrData]) -> R {
    arity(a, 1)?;
    f(lrn(a)?.beta)
}

/// Lists functions by their Rust name.
macro_rules! table {
    ($($name:ident),* $(,)?) => {
        /// The functions of this file.
        pub(crate) const FUNCTIONS: &[Function] = &[$(Function { name: stringify!($name), infer: $name, eval: None }),*];
    };
}

table!(
    leakyrelu_alpha,
    hardsigmoid_alpha,
    hardsigmoid_beta,
    clip_min,
    clip_max,
    gemm_alpha,
    gemm_beta,
    bn_eps,
    layernorm_eps,
    pad_value,
    relu_op,
    sigmoid_op,
    tanh_op,
    exp_op,
    sqrt_op,
    add_op,
    mul_op,
    matmul_einsum,
    matmul_op,
    gemm_einsum,
    matmul_zp_a_shape,
    matmul_zp_b_shape,
    out_shape,
    out_channel_shape,
    weight_channel_shape,
    channel_shape,
    spatial_axes,
    shape_of,
    dtype_of,
    softmax_axes,
    layernorm_axes,
    reduce_axes,
    transpose_perm,
    transpose_op,
    concat_axis,
    slice_spec,
    pad_pads,
    split_slice,
    cast_dtype,
    cast_op,
    quant_axis,
    lrn_cols_shape,
    lrn_window,
    lrn_alpha_over_size,
    lrn_bias,
    lrn_beta,
);

#[cfg(test)]
#[path = "payloads_tests.rs"]
mod tests;
