//! Functions computing new weights, folded at emission: BatchNorm's scale and shift, a weight
//! scaled per output channel, a pool's divisors, a zero zero-point. Tensor arguments must be
//! weight-only; values are computed in `f64` and rounded once to the result's element type.

use super::conv::pool_geometry;
use super::{arity, ints_arg, op, payload_arg, ty, Function};
use crate::ir::{FnArg, IrData, Payload};
use crate::ops::{Op, PoolKind};
use crate::tensor::{DType, Tensor, TensorType};

type R = Result<IrData, String>;

/// Errors unless argument `i` is a weight-only float tensor.
pub(super) fn weight<'a>(a: &[&'a IrData], i: usize) -> Result<&'a TensorType, String> {
    let t = ty(a, i)?;
    if !a[i].weight_only {
        return Err(format!("argument {i} is not a weight (it depends on a graph input)"));
    }
    if !t.dtype.is_float() {
        return Err(format!("argument {i} is a {} tensor", t.dtype));
    }
    Ok(t)
}

pub(super) fn tensor_arg<'a>(args: &[FnArg<'a>], i: usize) -> Result<&'a Tensor, String> {
    match args.get(i) {
        Some(FnArg::Tensor(t)) => Ok(t),
        _ => Err(format!("argument {i} is not a tensor")),
    }
}

pub(super) fn values(t: &Tensor) -> Result<Vec<f64>, String> {
    t.to_f64_vec().ok_or_else(|| format!("cannot read {} values", t.dtype))
}

pub(super) fn op_arg<'a>(args: &[FnArg<'a>], i: usize) -> Result<&'a Op, String> {
    match args.get(i) {
        Some(FnArg::Payload(Payload::Op(p))) => Ok(p.op()),
        _ => Err(format!("argument {i} is not an op")),
    }
}

fn bn_epsilon(o: &Op) -> Result<f64, String> {
    match o {
        Op::BatchNorm(b) if b.spatial => Ok(b.epsilon as f64),
        _ => Err(format!("expected a BatchNormalization op (spatial), found {}", o.onnx_name())),
    }
}

/// `@bn_scale op gamma var`: `gamma / sqrt(var + epsilon)`, per channel.
fn bn_scale(a: &[&IrData]) -> R {
    arity(a, 3)?;
    bn_epsilon(op(a, 0)?)?;
    let (g, v) = (weight(a, 1)?, weight(a, 2)?);
    if g != v {
        return Err(format!("scale {g} and var {v} differ"));
    }
    Ok(IrData::tensor(g.clone(), true))
}

fn bn_scale_values(args: &[FnArg]) -> Result<Vec<f64>, String> {
    let eps = bn_epsilon(op_arg(args, 0)?)?;
    let (g, v) = (values(tensor_arg(args, 1)?)?, values(tensor_arg(args, 2)?)?);
    Ok(g.iter().zip(&v).map(|(g, v)| g / (v + eps).sqrt()).collect())
}

fn bn_scale_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 3)?;
    let g = tensor_arg(args, 1)?;
    Tensor::from_f64(g.dtype, g.shape.clone(), &bn_scale_values(args)?).ok_or_else(|| "unsupported type".into())
}

/// `@bn_shift op gamma beta mean var`: `beta - mean * gamma / sqrt(var + epsilon)`, per channel.
fn bn_shift(a: &[&IrData]) -> R {
    arity(a, 5)?;
    bn_epsilon(op(a, 0)?)?;
    let g = weight(a, 1)?;
    for i in 2..5 {
        if weight(a, i)? != g {
            return Err(format!("argument {i} differs from scale {g}"));
        }
    }
    Ok(IrData::tensor(g.clone(), true))
}

fn bn_shift_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 5)?;
    let (op, g, b, m, v) = (args[0], args[1], tensor_arg(args, 2)?, tensor_arg(args, 3)?, args[4]);
    let scale = bn_scale_values(&[op, g, v])?;
    let shift: Vec<f64> = values(b)?.iter().zip(values(m)?).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    Tensor::from_f64(b.dtype, b.shape.clone(), &shift).ok_or_else(|| "unsupported type".into())
}

/// `@scale_out_channels w s`: `w[o, ...] * s[o]` (a conv or Gemm-transB weight scaled per
/// output channel; one-element `s` scales everything).
pub(super) fn scale_out_channels(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let (w, s) = (weight(a, 0)?, weight(a, 1)?);
    let m = *w.shape.first().ok_or("the weight is a scalar")?;
    if w.dtype != s.dtype || (s.numel() != 1 && s.shape != [m]) {
        return Err(format!("{s} is not one {} per output channel of {w}", w.dtype));
    }
    Ok(IrData::tensor(w.clone(), true))
}

pub(super) fn scale_out_channels_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 2)?;
    let (w, s) = (tensor_arg(args, 0)?, tensor_arg(args, 1)?);
    let (wv, sv) = (values(w)?, values(s)?);
    let per = w.numel() / w.shape.first().copied().unwrap_or(1).max(1);
    let out: Vec<f64> =
        wv.iter().enumerate().map(|(i, x)| x * sv[if sv.len() == 1 { 0 } else { i / per.max(1) }]).collect();
    Tensor::from_f64(w.dtype, w.shape.clone(), &out).ok_or_else(|| "unsupported type".into())
}

/// The divisor of every AveragePool window, shape `[1, 1, out...]`.
fn pool_counts_values(o: &Op, shape: &[i64]) -> Result<(Vec<usize>, Vec<f64>), String> {
    let Op::Pool(p) = o else { return Err(format!("expected a pool, found {}", o.onnx_name())) };
    if p.kind != PoolKind::Average {
        return Err("MaxPool has no divisors".into());
    }
    let spatial: Vec<usize> = shape.get(2..).unwrap_or_default().iter().map(|&d| d.max(0) as usize).collect();
    if spatial.is_empty() {
        return Err("an input without spatial axes".into());
    }
    let (spec, overhang, out) = pool_geometry(p, &spatial)?;
    let n = spatial.len();
    // Per axis and output position: how many kernel taps land in the counted range.
    let per_axis: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let (begin, end) = (spec.pads[i] as i64, (spec.pads[n + i] - overhang[i]) as i64);
            let (lo, hi) = if p.count_include_pad { (-begin, spatial[i] as i64 + end) } else { (0, spatial[i] as i64) };
            (0..out[i])
                .map(|o| {
                    let start = (o * spec.strides[i]) as i64 - begin;
                    (0..spec.kernel[i])
                        .filter(|&k| (lo..hi).contains(&(start + (k * spec.dilations[i]) as i64)))
                        .count()
                })
                .collect()
        })
        .collect();
    let total: usize = out.iter().product();
    let mut counts = Vec::with_capacity(total);
    for flat in 0..total {
        let (mut rest, mut c) = (flat, 1usize);
        for i in (0..n).rev() {
            c *= per_axis[i][rest % out[i]];
            rest /= out[i];
        }
        counts.push(c as f64);
    }
    let mut dims = vec![1, 1];
    dims.extend(out);
    Ok((dims, counts))
}

/// `@pool_counts op #ints:shape #dtype:T`: an AveragePool's divisor per output position, for an
/// input of that shape and element type (padding counted or not per count_include_pad; the
/// ceil_mode overhang never counts).
fn pool_counts(a: &[&IrData]) -> R {
    arity(a, 3)?;
    let Payload::DType(dtype) = payload_arg(a, 2)? else { return Err("argument 2 is not a #dtype".into()) };
    if !dtype.is_float() {
        return Err(format!("average of {dtype} values"));
    }
    let (dims, _) = pool_counts_values(op(a, 0)?, ints_arg(a, 1)?)?;
    Ok(IrData::tensor(TensorType::new(*dtype, dims), true))
}

fn pool_counts_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 3)?;
    let (Some(FnArg::Payload(Payload::Ints(shape))), Some(FnArg::Payload(Payload::DType(dtype)))) =
        (args.get(1), args.get(2))
    else {
        return Err("expected #ints and #dtype arguments".into());
    };
    let (dims, counts) = pool_counts_values(op_arg(args, 0)?, shape)?;
    Tensor::from_f64(*dtype, dims, &counts).ok_or_else(|| "unsupported type".into())
}

fn quant_dtype(o: &Op) -> Result<DType, String> {
    match o {
        Op::QuantizeLinear(q) => Ok(q.output_dtype.unwrap_or(DType::U8)),
        other => Err(format!("expected QuantizeLinear, found {}", other.onnx_name())),
    }
}

/// `@quant_zero op`: QuantizeLinear's default zero point, a scalar 0 of its output type.
fn quant_zero(a: &[&IrData]) -> R {
    arity(a, 1)?;
    let dtype = quant_dtype(op(a, 0)?)?;
    if !dtype.is_integer() {
        return Err(format!("quantization to {dtype}"));
    }
    Ok(IrData::tensor(TensorType::new(dtype, Vec::new()), true))
}

fn quant_zero_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 1)?;
    Ok(Tensor::zeros(quant_dtype(op_arg(args, 0)?)?, Vec::new()))
}

/// `@shape_tensor op #ints:shape`: a Shape op's output for an input of that shape.
fn shape_tensor(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let t = shape_tensor_value(op(a, 0)?, ints_arg(a, 1)?)?;
    Ok(IrData::tensor(t.ttype(), true))
}

fn shape_tensor_value(o: &Op, shape: &[i64]) -> Result<Tensor, String> {
    let Op::Shape(s) = o else { return Err(format!("expected Shape, found {}", o.onnx_name())) };
    let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    Ok(s.shape_of(&TensorType::new(DType::F32, dims)))
}

fn shape_tensor_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 2)?;
    let Some(FnArg::Payload(Payload::Ints(shape))) = args.get(1) else { return Err("argument 1 is not #ints".into()) };
    shape_tensor_value(op_arg(args, 0)?, shape)
}

/// `@constant_of_shape op`: a ConstantOfShape op's output (its shape and value are attributes).
fn constant_of_shape(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::ConstantOfShape(c) => Ok(IrData::tensor(TensorType::new(c.value.dtype, c.shape.clone()), true)),
        other => Err(format!("expected ConstantOfShape, found {}", other.onnx_name())),
    }
}

fn constant_of_shape_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 1)?;
    let o = op_arg(args, 0)?;
    match o.eval(&[]) {
        Some(Ok(mut out)) if matches!(o, Op::ConstantOfShape(_)) && out.len() == 1 => Ok(out.remove(0)),
        Some(Err(e)) => Err(e.to_string()),
        _ => Err(format!("cannot evaluate {}", o.onnx_name())),
    }
}

/// The functions of this file.
pub(crate) const FUNCTIONS: &[Function] = &[
    Function { name: "bn_scale", infer: bn_scale, eval: Some(bn_scale_eval) },
    Function { name: "bn_shift", infer: bn_shift, eval: Some(bn_shift_eval) },
    Function { name: "scale_out_channels", infer: scale_out_channels, eval: Some(scale_out_channels_eval) },
    Function { name: "pool_counts", infer: pool_counts, eval: Some(pool_counts_eval) },
    Function { name: "quant_zero", infer: quant_zero, eval: Some(quant_zero_eval) },
    Function { name: "shape_tensor", infer: shape_tensor, eval: Some(shape_tensor_eval) },
    Function { name: "constant_of_shape", infer: constant_of_shape, eval: Some(constant_of_shape_eval) },
];

#[cfg(test)]
mod tests {
    use super::super::testing::{call, o, t, w};
    use super::super::Functions;
    use super::*;
    use crate::ir::{ConstFns, OpPayload};
    use crate::ops::{BatchNorm, ConstantOfShape, ConvAttrs, Pool, QuantizeLinear, Shape};

    fn bn() -> Op {
        Op::BatchNorm(BatchNorm { epsilon: 0.25, momentum: 0.9, spatial: true })
    }

    fn eval(name: &str, args: &[FnArg]) -> Vec<f64> {
        Functions.eval(name, args).unwrap_or_else(|e| panic!("@{name}: {e}")).to_f64_vec().unwrap()
    }

    #[test]
    fn bn_scale() {
        assert_eq!(call("bn_scale", &[o(bn()), w(&[2]), w(&[2])]).unwrap().ty().unwrap().shape, vec![2]);
        assert!(call("bn_scale", &[o(bn()), w(&[2]), t(&[2])]).is_err());
        let p = Payload::Op(OpPayload::new(bn()));
        let (g, v) = (Tensor::f32(vec![2], vec![2.0, -3.0]), Tensor::f32(vec![2], vec![0.75, 3.75]));
        // gamma / sqrt(var + 0.25): 2 / 1 and -3 / 2.
        assert_eq!(eval("bn_scale", &[FnArg::Payload(&p), FnArg::Tensor(&g), FnArg::Tensor(&v)]), vec![2.0, -1.5]);
    }

    #[test]
    fn bn_shift() {
        assert!(call("bn_shift", &[o(bn()), w(&[2]), w(&[2]), w(&[2]), w(&[2])]).is_ok());
        assert!(call("bn_shift", &[o(bn()), w(&[2]), w(&[3]), w(&[2]), w(&[2])]).is_err());
        let p = Payload::Op(OpPayload::new(bn()));
        let g = Tensor::f32(vec![2], vec![2.0, -3.0]);
        let (b, m, v) = (
            Tensor::f32(vec![2], vec![1.0, 1.0]),
            Tensor::f32(vec![2], vec![0.5, 2.0]),
            Tensor::f32(vec![2], vec![0.75, 3.75]),
        );
        let args = [FnArg::Payload(&p), FnArg::Tensor(&g), FnArg::Tensor(&b), FnArg::Tensor(&m), FnArg::Tensor(&v)];
        // beta - mean * scale: 1 - 0.5 * 2 and 1 - 2 * -1.5.
        assert_eq!(eval("bn_shift", &args), vec![0.0, 4.0]);
    }

    #[test]
    fn scale_out_channels() {
        assert!(call("scale_out_channels", &[w(&[2, 1, 2]), w(&[2])]).is_ok());
        assert!(call("scale_out_channels", &[w(&[2, 1, 2]), w(&[3])]).is_err());
        let wt = Tensor::f32(vec![2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let s = Tensor::f32(vec![2], vec![10.0, -1.0]);
        assert_eq!(eval("scale_out_channels", &[FnArg::Tensor(&wt), FnArg::Tensor(&s)]), vec![10.0, 20.0, -3.0, -4.0]);
    }

    #[test]
    fn pool_counts() {
        // 1-D: input 4, kernel 3, pads 1/1, stride 1 → 4 outputs counting 2, 3, 3, 2 real taps.
        let attrs = ConvAttrs { kernel_shape: Some(vec![3]), pads: vec![1, 1], group: 1, ..ConvAttrs::default() };
        let mk = |cip| {
            Op::Pool(Pool {
                kind: PoolKind::Average,
                window: attrs.clone(),
                ceil_mode: false,
                count_include_pad: cip,
                column_major: false,
                n_outputs: 1,
            })
        };
        let (shape, dt) = (Payload::Ints(vec![1, 1, 4]), Payload::DType(DType::F32));
        for (cip, want) in [(false, vec![2.0, 3.0, 3.0, 2.0]), (true, vec![3.0; 4])] {
            let p = Payload::Op(OpPayload::new(mk(cip)));
            assert_eq!(eval("pool_counts", &[FnArg::Payload(&p), FnArg::Payload(&shape), FnArg::Payload(&dt)]), want);
        }
        let facts =
            call("pool_counts", &[o(mk(false)), super::super::ints(vec![1, 1, 4]), super::super::payload(dt)]).unwrap();
        assert_eq!(facts.ty().unwrap().shape, vec![1, 1, 4]);
    }

    #[test]
    fn quant_zero() {
        let q = Op::QuantizeLinear(QuantizeLinear {
            axis: 1,
            saturate: true,
            block_size: 0,
            output_dtype: Some(DType::I8),
            precision: None,
        });
        assert_eq!(call("quant_zero", &[o(q.clone())]).unwrap().ty().unwrap().dtype, DType::I8);
        let p = Payload::Op(OpPayload::new(q));
        let z = Functions.eval("quant_zero", &[FnArg::Payload(&p)]).unwrap();
        assert_eq!((z.dtype, z.shape.clone(), z.to_i64_vec().unwrap()), (DType::I8, vec![], vec![0]));
    }

    #[test]
    fn shape_tensor() {
        let s = Op::Shape(Shape { start: 1, end: Some(-1) });
        let facts = call("shape_tensor", &[o(s.clone()), super::super::ints(vec![2, 3, 4, 5])]).unwrap();
        assert_eq!(facts.ty().unwrap(), &TensorType::new(DType::I64, vec![2]));
        let (p, shape) = (Payload::Op(OpPayload::new(s)), Payload::Ints(vec![2, 3, 4, 5]));
        assert_eq!(eval("shape_tensor", &[FnArg::Payload(&p), FnArg::Payload(&shape)]), vec![3.0, 4.0]);
    }

    #[test]
    fn constant_of_shape() {
        let c = Op::ConstantOfShape(ConstantOfShape { shape: vec![2, 1], value: Tensor::i64(vec![1], vec![7]) });
        assert_eq!(
            call("constant_of_shape", &[o(c.clone())]).unwrap().ty().unwrap(),
            &TensorType::new(DType::I64, vec![2, 1])
        );
        let p = Payload::Op(OpPayload::new(c));
        assert_eq!(eval("constant_of_shape", &[FnArg::Payload(&p)]), vec![7.0, 7.0]);
        assert!(call("constant_of_shape", &[o(bn())]).is_err());
    }
}
