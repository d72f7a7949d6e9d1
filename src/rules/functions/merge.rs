//! Functions of the exact convolution merge (`conv-pointwise-merge` in `rules/fold.rules`): a
//! convolution followed by a 1×1 convolution (stride 1, no padding) composed into one dense
//! convolution, offered only when that has fewer multiply-accumulates per output position than
//! the pair. The arithmetic is the approximate mode's ([`crate::fit::merge`]); tensor
//! arguments must be weight-only, values are computed in `f64` and rounded once.

use super::weights::{op_arg, tensor_arg, values, weight};
use super::{arity, op, op_result, Function};
use crate::fit::merge::{conv_pointwise_weight, pointwise_bias};
use crate::ir::{FnArg, IrData};
use crate::ops::{Conv, ConvAttrs, Op};
use crate::tensor::{Tensor, TensorType};

type R = Result<IrData, String>;

fn conv_attrs(o: &Op) -> Result<&ConvAttrs, String> {
    match o {
        Op::Conv(c) => Ok(&c.attrs),
        other => Err(format!("expected a Conv, found {}", other.onnx_name())),
    }
}

/// Errors unless `attrs` with weight shape `w` is a 1×1 convolution with stride 1 and no
/// padding (SAME padding of a 1×1 kernel with stride 1 is none).
fn check_pointwise(attrs: &ConvAttrs, w: &[usize]) -> Result<(), String> {
    let ones = |v: &[usize]| v.iter().all(|&d| d == 1);
    if w.len() < 3 || !ones(&w[2..]) || !attrs.kernel_shape.as_deref().is_none_or(ones) {
        return Err(format!("a {w:?} convolution is not 1×1"));
    }
    if !ones(&attrs.strides) || attrs.pads.iter().any(|&p| p != 0) {
        return Err(format!("strides {:?} and pads {:?} are not 1 and 0", attrs.strides, attrs.pads));
    }
    Ok(())
}

/// The merged weight's shape `[O, C, k...]` of conv (`a1`, weight `w1`) then 1×1 conv (`a2`,
/// `w2`), when the merge applies and has fewer multiply-accumulates per output position.
fn merged_shape(a1: &ConvAttrs, a2: &ConvAttrs, w1: &[usize], w2: &[usize]) -> Result<Vec<usize>, String> {
    check_pointwise(a2, w2)?;
    let (g1, g2) = (a1.group.max(1), a2.group.max(1));
    if w1.len() != w2.len() || w2[1] * g2 != w1[0] || !w1[0].is_multiple_of(g1) || !w2[0].is_multiple_of(g2) {
        return Err(format!("a {w2:?} convolution of group {g2} cannot follow a {w1:?} one of group {g1}"));
    }
    let (m, per_group, o) = (w1[0], w1[1], w2[0]);
    let k: usize = w1[2..].iter().product();
    let before = m * per_group * k + o * w2[1];
    let after = o * per_group * g1 * k;
    if after >= before {
        return Err(format!("merged: {after} multiply-accumulates per output position, the pair {before}"));
    }
    let mut shape = w1.to_vec();
    shape[0] = o;
    shape[1] = per_group * g1;
    Ok(shape)
}

/// `@conv_dense_op op`: the Conv op with group 1 (the merged convolution's op).
fn conv_dense_op(a: &[&IrData]) -> R {
    arity(a, 1)?;
    let attrs = conv_attrs(op(a, 0)?)?;
    Ok(op_result(Op::Conv(Conv { attrs: ConvAttrs { group: 1, ..attrs.clone() } })))
}

/// `@conv_pointwise_w op1 op2 w1 w2`: the weight of conv `op1` (`w1`) then 1×1 conv `op2`
/// (`w2`) as one convolution, `W[o, c, k] = Σ_m W2[o, m] W1[m, c, k]` over dense (group-expanded)
/// weights. Fails unless the merge applies and is cheaper.
fn conv_pointwise_w(a: &[&IrData]) -> R {
    arity(a, 4)?;
    let (a1, a2) = (conv_attrs(op(a, 0)?)?, conv_attrs(op(a, 1)?)?);
    let (w1, w2) = (weight(a, 2)?, weight(a, 3)?);
    if w1.dtype != w2.dtype {
        return Err(format!("weights {w1} and {w2} differ in type"));
    }
    Ok(IrData::tensor(TensorType::new(w1.dtype, merged_shape(a1, a2, &w1.shape, &w2.shape)?), true))
}

fn conv_pointwise_w_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 4)?;
    let (a1, a2) = (conv_attrs(op_arg(args, 0)?)?, conv_attrs(op_arg(args, 1)?)?);
    let (w1, w2) = (tensor_arg(args, 2)?, tensor_arg(args, 3)?);
    let shape = merged_shape(a1, a2, &w1.shape, &w2.shape)?;
    let (v1, v2) = (values(w1)?, values(w2)?);
    let (merged, got) = conv_pointwise_weight((&v1, &w1.shape, a1.group.max(1)), (&v2, &w2.shape, a2.group.max(1)))
        .map_err(|e| e.to_string())?;
    debug_assert_eq!(got, shape);
    Tensor::from_f64(w1.dtype, shape, &merged).ok_or_else(|| "unsupported type".into())
}

/// `@conv_pointwise_b op2 w2 b1 b2`: the bias of a layer with bias `b1` then 1×1 conv `op2`
/// (`w2`, bias `b2`) as one, `W2 b1 + b2`.
fn conv_pointwise_b(a: &[&IrData]) -> R {
    arity(a, 4)?;
    let a2 = conv_attrs(op(a, 0)?)?;
    let (w2, b1, b2) = (weight(a, 1)?, weight(a, 2)?, weight(a, 3)?);
    check_pointwise(a2, &w2.shape)?;
    let (o, m) = (w2.shape[0], w2.shape[1] * a2.group.max(1));
    if b1.shape != [m] || b2.shape != [o] || b1.dtype != w2.dtype || b2.dtype != w2.dtype {
        return Err(format!("biases {b1} and {b2} around a {w2} 1×1 convolution"));
    }
    Ok(IrData::tensor(b2.clone(), true))
}

fn conv_pointwise_b_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 4)?;
    let a2 = conv_attrs(op_arg(args, 0)?)?;
    let (w2, b1, b2) = (tensor_arg(args, 1)?, tensor_arg(args, 2)?, tensor_arg(args, 3)?);
    let bias = pointwise_bias((&values(w2)?, &w2.shape, a2.group.max(1)), Some(&values(b1)?), Some(&values(b2)?))
        .map_err(|e| e.to_string())?;
    Tensor::from_f64(b2.dtype, b2.shape.clone(), &bias).ok_or_else(|| "unsupported type".into())
}

pub(crate) const FUNCTIONS: &[Function] = &[
    Function { name: "conv_dense_op", infer: conv_dense_op, eval: None },
    Function { name: "conv_pointwise_w", infer: conv_pointwise_w, eval: Some(conv_pointwise_w_eval) },
    Function { name: "conv_pointwise_b", infer: conv_pointwise_b, eval: Some(conv_pointwise_b_eval) },
];

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Functions;
    use crate::ir::{ConstFns, FnArg, OpPayload, Payload};
    use crate::ops::{AutoPad, Conv, ConvAttrs, Op};
    use crate::tensor::Tensor;

    fn conv(group: usize, strides: Vec<usize>, auto_pad: AutoPad) -> Op {
        Op::Conv(Conv { attrs: ConvAttrs { group, strides, auto_pad, ..ConvAttrs::default() } })
    }

    #[test]
    fn merges_only_pointwise_seconds_and_only_when_cheaper() {
        let plain = || conv(1, vec![], AutoPad::NotSet);
        // 3×3 conv 2 → 8 then 1×1 8 → 3: 8·2·9 + 3·8 = 168 > 3·2·9 = 54 per position.
        let ok = call("conv_pointwise_w", &[o(plain()), o(plain()), w(&[8, 2, 3, 3]), w(&[3, 8, 1, 1])]).unwrap();
        assert_eq!(ok.ty().unwrap().shape, vec![3, 2, 3, 3]);
        let same = conv(1, vec![], AutoPad::SameUpper);
        assert!(call("conv_pointwise_w", &[o(plain()), o(same), w(&[8, 2, 3, 3]), w(&[3, 8, 1, 1])]).is_ok());
        // Expansion 2 → 8 by a 1×1 after a 3×3: 2·2·9 + 8·2 = 52 < 8·2·9 = 144, refused.
        assert!(call("conv_pointwise_w", &[o(plain()), o(plain()), w(&[2, 2, 3, 3]), w(&[8, 2, 1, 1])]).is_err());
        // A depthwise 3×3 (16 channels) then 1×1 to 4: 16·9 + 64 = 208 < 4·16·9, refused; to 1: merged.
        let dw = || conv(16, vec![], AutoPad::NotSet);
        assert!(call("conv_pointwise_w", &[o(dw()), o(plain()), w(&[16, 1, 3, 3]), w(&[4, 16, 1, 1])]).is_err());
        let one = call("conv_pointwise_w", &[o(dw()), o(plain()), w(&[16, 1, 3, 3]), w(&[1, 16, 1, 1])]).unwrap();
        assert_eq!(one.ty().unwrap().shape, vec![1, 16, 3, 3]);
        // Not 1×1, strided, or not a weight.
        assert!(call("conv_pointwise_w", &[o(plain()), o(plain()), w(&[8, 2, 3, 3]), w(&[3, 8, 3, 3])]).is_err());
        let strided = conv(1, vec![2, 2], AutoPad::NotSet);
        assert!(call("conv_pointwise_w", &[o(plain()), o(strided), w(&[8, 2, 3, 3]), w(&[3, 8, 1, 1])]).is_err());
        assert!(call("conv_pointwise_w", &[o(plain()), o(plain()), t(&[8, 2, 3, 3]), w(&[3, 8, 1, 1])]).is_err());
    }

    #[test]
    fn values_and_the_dense_op() {
        let (a1, a2) = (
            Payload::Op(OpPayload::new(conv(2, vec![], AutoPad::NotSet))),
            Payload::Op(OpPayload::new(conv(1, vec![], AutoPad::NotSet))),
        );
        // Grouped 1×1 first layer (2 groups, one channel each), then 1 output: W2 = [1, 10].
        let w1 = Tensor::f32(vec![2, 1, 1, 1], vec![2.0, 3.0]);
        let w2 = Tensor::f32(vec![1, 2, 1, 1], vec![1.0, 10.0]);
        let args = [FnArg::Payload(&a1), FnArg::Payload(&a2), FnArg::Tensor(&w1), FnArg::Tensor(&w2)];
        let merged = Functions.eval("conv_pointwise_w", &args).unwrap();
        assert_eq!((merged.shape.clone(), merged.to_f64_vec().unwrap()), (vec![1, 2, 1, 1], vec![2.0, 30.0]));
        let (b1, b2) = (Tensor::f32(vec![2], vec![1.0, -1.0]), Tensor::f32(vec![1], vec![0.5]));
        let args = [FnArg::Payload(&a2), FnArg::Tensor(&w2), FnArg::Tensor(&b1), FnArg::Tensor(&b2)];
        assert_eq!(Functions.eval("conv_pointwise_b", &args).unwrap().to_f64_vec().unwrap(), vec![-8.5]);
        match call("conv_dense_op", &[o(conv(2, vec![2, 2], AutoPad::NotSet))]).unwrap().payload {
            Some(Payload::Op(p)) => assert_eq!(p.op(), &conv(1, vec![2, 2], AutoPad::NotSet)),
            other => panic!("@conv_dense_op gave {other:?}"),
        }
        assert!(call("conv_pointwise_b", &[o(conv(1, vec![], AutoPad::NotSet)), w(&[1, 2, 1, 1]), w(&[3]), w(&[1])])
            .is_err());
    }
}
