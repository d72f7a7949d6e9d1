//! Functions folding per-channel constants into a linear op's weights (`rules/fold.rules`): a
//! constant broadcast along a conv output's channel axis as one value per channel, a matrix
//! scaled per column. Tensor arguments must be weight-only; values are computed in `f64` and
//! rounded once to the result's element type.

use super::weights::{tensor_arg, values, weight};
use super::{arity, op, op_result, Function};
use crate::ir::{FnArg, IrData, Payload};
use crate::ops::{AutoPad, Gemm, Op};
use crate::tensor::{Tensor, TensorType};

type R = Result<IrData, String>;

/// The number of output channels `m` of a conv weight `w` when `s` broadcasts along the
/// channel axis (axis 1) of that conv's output (rank of `w`): every other axis of `s` is 1.
fn channel_count(s: &TensorType, w: &TensorType) -> Result<usize, String> {
    let (r, m) = (w.shape.len(), *w.shape.first().ok_or("the weight is a scalar")?);
    if s.dtype != w.dtype || s.shape.len() > r {
        return Err(format!("{s} does not broadcast per channel of a {w} conv"));
    }
    let pad = r - s.shape.len();
    for (i, &d) in s.shape.iter().enumerate() {
        if d != 1 && !(i + pad == 1 && d == m) {
            return Err(format!("{s} is not one value per channel of a {w} conv"));
        }
    }
    Ok(m)
}

/// `@channel_vec s w`: the constant `s` (broadcast along axis 1 of a conv with weight `w`: shape
/// `[M, 1, 1]`, `[1, M, 1, 1]`, a scalar...) as one value per output channel, shape `[M]`.
fn channel_vec(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let (s, w) = (weight(a, 0)?, weight(a, 1)?);
    let m = channel_count(s, w)?;
    Ok(IrData::tensor(TensorType::new(w.dtype, vec![m]), true))
}

fn channel_vec_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 2)?;
    let (s, w) = (tensor_arg(args, 0)?, tensor_arg(args, 1)?);
    let m = channel_count(&TensorType::new(s.dtype, s.shape.clone()), &TensorType::new(w.dtype, w.shape.clone()))?;
    let sv = values(s)?;
    let out: Vec<f64> = (0..m).map(|i| sv[if sv.len() == 1 { 0 } else { i }]).collect();
    Tensor::from_f64(w.dtype, vec![m], &out).ok_or_else(|| "unsupported type".into())
}

/// `@scale_cols w s`: `w[..., j] * s[j]` (a MatMul weight scaled per output column; one-element
/// `s` scales everything).
fn scale_cols(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let (w, s) = (weight(a, 0)?, weight(a, 1)?);
    let n = *w.shape.last().ok_or("the weight is a scalar")?;
    if w.dtype != s.dtype || (s.numel() != 1 && s.shape != [n]) {
        return Err(format!("{s} is not one {} per column of {w}", w.dtype));
    }
    Ok(IrData::tensor(w.clone(), true))
}

fn scale_cols_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 2)?;
    let (w, s) = (tensor_arg(args, 0)?, tensor_arg(args, 1)?);
    let (wv, sv) = (values(w)?, values(s)?);
    let n = w.shape.last().copied().unwrap_or(1).max(1);
    let out: Vec<f64> = wv.iter().enumerate().map(|(i, x)| x * sv[if sv.len() == 1 { 0 } else { i % n }]).collect();
    Tensor::from_f64(w.dtype, w.shape.clone(), &out).ok_or_else(|| "unsupported type".into())
}

fn gemm_trans_b(o: &Op) -> Result<bool, String> {
    match o {
        Op::Gemm(g) => Ok(g.trans_b),
        _ => Err(format!("expected a Gemm op, found {}", o.onnx_name())),
    }
}

fn gemm_op_arg<'a>(args: &[FnArg<'a>], i: usize) -> Result<&'a Op, String> {
    match args.get(i) {
        Some(FnArg::Payload(Payload::Op(p))) => Ok(p.op()),
        _ => Err(format!("argument {i} is not an op")),
    }
}

/// `@gemm_scale_b op b s`: Gemm's `B` with the columns of `op(B)` scaled by `s` (per column `n`
/// of the output): the rows of `B` when `transB`, else its columns.
fn gemm_scale_b(a: &[&IrData]) -> R {
    arity(a, 3)?;
    let trans_b = gemm_trans_b(op(a, 0)?)?;
    if trans_b {
        super::weights::scale_out_channels(&a[1..])
    } else {
        scale_cols(&a[1..])
    }
}

fn gemm_scale_b_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 3)?;
    if gemm_trans_b(gemm_op_arg(args, 0)?)? {
        super::weights::scale_out_channels_eval(&args[1..])
    } else {
        scale_cols_eval(&args[1..])
    }
}

fn gemm_beta(o: &Op) -> Result<f64, String> {
    match o {
        Op::Gemm(g) if g.beta != 0.0 => Ok(g.beta as f64),
        Op::Gemm(_) => Err("a Gemm with beta = 0 ignores C".into()),
        _ => Err(format!("expected a Gemm op, found {}", o.onnx_name())),
    }
}

/// `@gemm_bias op t`: `t / beta`, the C that makes a Gemm add `t` (beta must not be 0).
fn gemm_bias(a: &[&IrData]) -> R {
    arity(a, 2)?;
    gemm_beta(op(a, 0)?)?;
    let t = weight(a, 1)?;
    if t.shape.len() > 2 {
        return Err(format!("{t} is not a Gemm C (rank at most 2)"));
    }
    Ok(IrData::tensor(t.clone(), true))
}

fn gemm_bias_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 2)?;
    let beta = gemm_beta(gemm_op_arg(args, 0)?)?;
    let t = tensor_arg(args, 1)?;
    let out: Vec<f64> = values(t)?.iter().map(|v| v / beta).collect();
    Tensor::from_f64(t.dtype, t.shape.clone(), &out).ok_or_else(|| "unsupported type".into())
}

/// `@gemm_op`: a plain Gemm (alpha = beta = 1, no transposes), A·B + C.
fn gemm_op(a: &[&IrData]) -> R {
    arity(a, 0)?;
    Ok(op_result(Op::Gemm(Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: false })))
}

/// The group count of a Conv op that pads nothing (explicit zero pads, or `VALID`): only then
/// does a constant added to its input reach every product of the window.
fn unpadded_conv_groups(o: &Op) -> Result<usize, String> {
    match o {
        Op::Conv(c) if matches!(c.attrs.auto_pad, AutoPad::Valid) => Ok(c.attrs.group),
        Op::Conv(c) if matches!(c.attrs.auto_pad, AutoPad::NotSet) && c.attrs.pads.iter().all(|&p| p == 0) => {
            Ok(c.attrs.group)
        }
        Op::Conv(_) => Err("the conv pads its input".into()),
        other => Err(format!("expected a Conv op, found {}", other.onnx_name())),
    }
}

/// The input channel count of a conv with weight `w` when `t` is one value or one value per
/// input channel broadcast along axis 1 of its input (rank of `w`).
fn input_channel_count(t: &TensorType, w: &TensorType, groups: usize) -> Result<usize, String> {
    let r = w.shape.len();
    let c = w.shape.get(1).copied().ok_or("the weight has no input-channel axis")? * groups;
    if t.dtype != w.dtype || t.shape.len() > r {
        return Err(format!("{t} does not broadcast per input channel of a {w} conv"));
    }
    let pad = r - t.shape.len();
    for (i, &d) in t.shape.iter().enumerate() {
        if d != 1 && !(i + pad == 1 && d == c) {
            return Err(format!("{t} is not one value per input channel of a {w} conv"));
        }
    }
    Ok(c)
}

/// `@conv_input_shift op w t`: what `conv(x + t, w)` adds to `conv(x, w)` per output channel
/// for an unpadded conv: `sum over c, k of w[o, c, k] * t[c]`, shape `[M]` (`t` one value or one
/// per input channel). Fails for a padded conv (the padding would not be shifted).
fn conv_input_shift(a: &[&IrData]) -> R {
    arity(a, 3)?;
    let groups = unpadded_conv_groups(op(a, 0)?)?;
    let (w, t) = (weight(a, 1)?, weight(a, 2)?);
    input_channel_count(t, w, groups)?;
    Ok(IrData::tensor(TensorType::new(w.dtype, vec![w.shape[0]]), true))
}

fn conv_input_shift_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 3)?;
    let groups = match args[0] {
        FnArg::Payload(Payload::Op(o)) => unpadded_conv_groups(o.op())?,
        _ => return Err("argument 0 is not a Conv op".into()),
    };
    let (w, t) = (tensor_arg(args, 1)?, tensor_arg(args, 2)?);
    let wt = TensorType::new(w.dtype, w.shape.clone());
    input_channel_count(&TensorType::new(t.dtype, t.shape.clone()), &wt, groups)?;
    let (wv, tv) = (values(w)?, values(t)?);
    let (m, c_per_group) = (w.shape[0], w.shape[1]);
    let k: usize = w.shape[2..].iter().product();
    let m_per_group = (m / groups.max(1)).max(1);
    let out: Vec<f64> = (0..m)
        .map(|o| {
            let g = o / m_per_group;
            (0..c_per_group)
                .map(|c| {
                    let shift = tv[if tv.len() == 1 { 0 } else { g * c_per_group + c }];
                    wv[(o * c_per_group + c) * k..(o * c_per_group + c + 1) * k].iter().sum::<f64>() * shift
                })
                .sum()
        })
        .collect();
    Tensor::from_f64(w.dtype, vec![m], &out).ok_or_else(|| "unsupported type".into())
}

pub(crate) const FUNCTIONS: &[Function] = &[
    Function { name: "conv_input_shift", infer: conv_input_shift, eval: Some(conv_input_shift_eval) },
    Function { name: "channel_vec", infer: channel_vec, eval: Some(channel_vec_eval) },
    Function { name: "scale_cols", infer: scale_cols, eval: Some(scale_cols_eval) },
    Function { name: "gemm_scale_b", infer: gemm_scale_b, eval: Some(gemm_scale_b_eval) },
    Function { name: "gemm_bias", infer: gemm_bias, eval: Some(gemm_bias_eval) },
    Function { name: "gemm_op", infer: gemm_op, eval: None },
];

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Functions;
    use crate::ir::{ConstFns, FnArg};
    use crate::tensor::Tensor;

    fn eval(name: &str, args: &[&Tensor]) -> Vec<f64> {
        let args: Vec<FnArg> = args.iter().map(|t| FnArg::Tensor(t)).collect();
        Functions.eval(name, &args).unwrap_or_else(|e| panic!("@{name}: {e}")).to_f64_vec().unwrap()
    }

    #[test]
    fn channel_vec() {
        let shape = |d: crate::ir::IrData| d.ty().unwrap().shape.clone();
        assert_eq!(shape(call("channel_vec", &[w(&[3, 1, 1]), w(&[3, 2, 1, 1])]).unwrap()), vec![3]);
        assert_eq!(shape(call("channel_vec", &[w(&[1, 3, 1, 1]), w(&[3, 2, 1, 1])]).unwrap()), vec![3]);
        assert_eq!(shape(call("channel_vec", &[w(&[]), w(&[3, 2, 1, 1])]).unwrap()), vec![3]);
        assert!(call("channel_vec", &[w(&[3, 1]), w(&[3, 2, 1, 1])]).is_err());
        assert!(call("channel_vec", &[w(&[1, 1, 3, 1, 1]), w(&[3, 2, 1, 1])]).is_err());
        assert!(call("channel_vec", &[t(&[3, 1, 1]), w(&[3, 2, 1, 1])]).is_err());
        let (s, wt) = (Tensor::f32(vec![2, 1], vec![4.0, -1.0]), Tensor::f32(vec![2, 1, 1], vec![0.0; 2]));
        assert_eq!(eval("channel_vec", &[&s, &wt]), vec![4.0, -1.0]);
        let one = Tensor::f32(vec![1], vec![2.5]);
        assert_eq!(eval("channel_vec", &[&one, &wt]), vec![2.5, 2.5]);
    }

    #[test]
    fn gemm_scale_b() {
        use crate::ir::{OpPayload, Payload};
        use crate::ops::{Gemm, Op};
        let gemm = |trans_b| Op::Gemm(Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b });
        assert!(call("gemm_scale_b", &[o(gemm(false)), w(&[2, 3]), w(&[3])]).is_ok());
        assert!(call("gemm_scale_b", &[o(gemm(true)), w(&[2, 3]), w(&[3])]).is_err());
        let (wt, s) = (Tensor::f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]), Tensor::f32(vec![2], vec![10.0, -1.0]));
        for (trans_b, want) in [(false, vec![10.0, -2.0, 30.0, -4.0]), (true, vec![10.0, 20.0, -3.0, -4.0])] {
            let p = Payload::Op(OpPayload::new(gemm(trans_b)));
            let got = Functions.eval("gemm_scale_b", &[FnArg::Payload(&p), FnArg::Tensor(&wt), FnArg::Tensor(&s)]);
            assert_eq!(got.unwrap().to_f64_vec().unwrap(), want);
        }
    }

    #[test]
    fn gemm_bias_and_gemm_op() {
        use crate::ir::{OpPayload, Payload};
        use crate::ops::{Gemm, Op};
        let gemm = |beta| Op::Gemm(Gemm { alpha: 1.0, beta, trans_a: false, trans_b: false });
        assert!(call("gemm_bias", &[o(gemm(2.0)), w(&[3])]).is_ok());
        assert!(call("gemm_bias", &[o(gemm(0.0)), w(&[3])]).is_err());
        assert!(call("gemm_bias", &[o(gemm(2.0)), w(&[1, 1, 3])]).is_err());
        let p = Payload::Op(OpPayload::new(gemm(2.0)));
        let t = Tensor::f32(vec![2], vec![3.0, -1.0]);
        let got = Functions.eval("gemm_bias", &[FnArg::Payload(&p), FnArg::Tensor(&t)]).unwrap();
        assert_eq!(got.to_f64_vec().unwrap(), vec![1.5, -0.5]);
        match call("gemm_op", &[]).unwrap().payload {
            Some(Payload::Op(p)) => assert_eq!(p.op(), &gemm(1.0)),
            other => panic!("@gemm_op gave {other:?}"),
        }
    }

    #[test]
    fn scale_cols() {
        assert!(call("scale_cols", &[w(&[2, 3]), w(&[3])]).is_ok());
        assert!(call("scale_cols", &[w(&[2, 3]), w(&[2])]).is_err());
        let (wt, s) = (Tensor::f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]), Tensor::f32(vec![2], vec![10.0, -1.0]));
        assert_eq!(eval("scale_cols", &[&wt, &s]), vec![10.0, -2.0, 30.0, -4.0]);
    }

    #[test]
    fn conv_input_shift() {
        use crate::ir::{OpPayload, Payload};
        use crate::ops::{Conv, ConvAttrs, Op};
        let conv = |pads: Vec<usize>, group| {
            let attrs = ConvAttrs { pads, group, strides: vec![1, 1], dilations: vec![1, 1], ..ConvAttrs::default() };
            Op::Conv(Conv { attrs })
        };
        // Padded convs and a shift that is not per input channel are refused.
        assert!(call("conv_input_shift", &[o(conv(vec![0; 4], 1)), w(&[2, 3, 1, 1]), w(&[1])]).is_ok());
        assert!(call("conv_input_shift", &[o(conv(vec![0; 4], 1)), w(&[2, 3, 1, 1]), w(&[1, 3, 1, 1])]).is_ok());
        assert!(call("conv_input_shift", &[o(conv(vec![1; 4], 1)), w(&[2, 3, 1, 1]), w(&[1])]).is_err());
        assert!(call("conv_input_shift", &[o(conv(vec![0; 4], 1)), w(&[2, 3, 1, 1]), w(&[1, 2, 1, 1])]).is_err());
        // w[o, c] for o in 0..2, c in 0..3 (1x1); shift t = [1, 10, 100] per input channel.
        let wt = Tensor::f32(vec![2, 3, 1, 1], vec![1.0, 2.0, 3.0, -1.0, 0.5, 0.0]);
        let t = Tensor::f32(vec![1, 3, 1, 1], vec![1.0, 10.0, 100.0]);
        let p = Payload::Op(OpPayload::new(conv(vec![0; 4], 1)));
        let got = Functions.eval("conv_input_shift", &[FnArg::Payload(&p), FnArg::Tensor(&wt), FnArg::Tensor(&t)]);
        assert_eq!(got.unwrap().to_f64_vec().unwrap(), vec![321.0, 4.0]);
        // Depthwise (group 2, one input channel per group): each output sees its own channel.
        let dw = Payload::Op(OpPayload::new(conv(vec![0; 4], 2)));
        let (wd, td) =
            (Tensor::f32(vec![2, 1, 1, 2], vec![1.0, 1.0, 2.0, 3.0]), Tensor::f32(vec![2, 1, 1], vec![1.0, -1.0]));
        let got = Functions.eval("conv_input_shift", &[FnArg::Payload(&dw), FnArg::Tensor(&wd), FnArg::Tensor(&td)]);
        assert_eq!(got.unwrap().to_f64_vec().unwrap(), vec![2.0, -5.0]);
    }
}
