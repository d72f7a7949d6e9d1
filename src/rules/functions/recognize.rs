//! Ops of the kernels that recognition rules (rules/recognize.rules) build from exported
//! patterns: HardSwish, HardSigmoid, Gelu, a LayerNormalization from its two ReduceMeans and
//! epsilon, a Softmax from its ReduceMax and ReduceSum. Each fails when the pattern's
//! attributes do not make that kernel (different axes, no keepdims), so the rule does not fire.

use super::{arity, lit_arg, op, op_result, ty, Function};
use crate::ir::IrData;
use crate::ops::{HardSigmoid, LayerNorm, Op, Reduce, ReduceKind, Softmax, Unary, UnaryKind};
use crate::tensor::{DType, TensorType};

type R = Result<IrData, String>;

fn hardswish_op(a: &[&IrData]) -> R {
    arity(a, 0)?;
    Ok(op_result(Op::Unary(Unary { kind: UnaryKind::HardSwish })))
}

fn gelu_op(a: &[&IrData]) -> R {
    arity(a, 0)?;
    Ok(op_result(Op::Unary(Unary { kind: UnaryKind::Gelu })))
}

/// HardSigmoid with alpha = 1/6 (as f32, the attribute's type) and beta = 1/2: clip(x + 3, 0, 6) / 6.
fn hardsigmoid_sixth_op(a: &[&IrData]) -> R {
    arity(a, 0)?;
    Ok(op_result(Op::HardSigmoid(HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 })))
}

/// `@hardswish_of_hardsigmoid op`: HardSwish, when `op` is the HardSigmoid HardSwish uses
/// (alpha = 1/6 as f32, beta = 1/2), so that `x * HardSigmoid(x)` is `HardSwish(x)`.
fn hardswish_of_hardsigmoid(a: &[&IrData]) -> R {
    arity(a, 1)?;
    match op(a, 0)? {
        Op::HardSigmoid(h) if h.alpha == 1.0 / 6.0 && h.beta == 0.5 => hardswish_op(&[]),
        other => Err(format!("{} is not HardSwish's HardSigmoid (alpha 1/6, beta 1/2)", other.onnx_name())),
    }
}

/// The axes a keepdims reduction of `kind` reduces on `x`, normalized and sorted.
fn reduced_axes(r: &Op, kind: ReduceKind, x: &TensorType) -> Result<Vec<usize>, String> {
    let Op::Reduce(Reduce { kind: k, keepdims: true, .. }) = r else {
        return Err(format!("expected a keepdims reduction, found {}", r.onnx_name()));
    };
    if *k != kind {
        return Err(format!("expected a {kind:?} reduction"));
    }
    let Op::Reduce(r) = r else { unreachable!("matched above") };
    let mask = r.reduced(x.shape.len()).map_err(|e| e.to_string())?.ok_or("a reduction over no axis")?;
    Ok(mask.iter().enumerate().filter(|(_, &m)| m).map(|(i, _)| i).collect())
}

/// `@layernorm_op mean1 mean2 eps x scale`: LayerNormalization over the trailing axes both
/// ReduceMeans reduce (they must agree and be a non-empty suffix of x's axes), epsilon `eps`
/// (a literal, rounded to f32 as the attribute is), for a float x whose scale has the
/// normalized shape.
fn layernorm_op(a: &[&IrData]) -> R {
    arity(a, 5)?;
    let x = ty(a, 3)?;
    let axes = reduced_axes(op(a, 0)?, ReduceKind::Mean, x)?;
    if reduced_axes(op(a, 1)?, ReduceKind::Mean, x)? != axes {
        return Err("the two means reduce different axes".into());
    }
    let rank = x.shape.len();
    let first = rank - axes.len();
    if axes != (first..rank).collect::<Vec<_>>() {
        return Err(format!("axes {axes:?} are not the trailing axes of a rank-{rank} tensor"));
    }
    if !x.dtype.is_float() {
        return Err("LayerNormalization needs a float input".into());
    }
    let scale = ty(a, 4)?;
    if scale.shape != x.shape[first..] {
        return Err(format!("scale shape {:?} is not the normalized shape {:?}", scale.shape, &x.shape[first..]));
    }
    let epsilon = lit_arg(a, 2)? as f32;
    Ok(op_result(Op::LayerNorm(LayerNorm { axis: first as i64, epsilon, stash_type: DType::F32, n_outputs: 1 })))
}

/// `@softmax_op max sum x`: Softmax (opset 13 form) over the one axis both the keepdims
/// ReduceMax and ReduceSum reduce.
fn softmax_op(a: &[&IrData]) -> R {
    arity(a, 3)?;
    let x = ty(a, 2)?;
    let axes = reduced_axes(op(a, 0)?, ReduceKind::Max, x)?;
    if reduced_axes(op(a, 1)?, ReduceKind::Sum, x)? != axes {
        return Err("the max and the sum reduce different axes".into());
    }
    match axes.as_slice() {
        [axis] => Ok(op_result(Op::Softmax(Softmax { axis: *axis as i64, flatten_trailing: false }))),
        _ => Err(format!("Softmax normalizes one axis, the pattern {axes:?}")),
    }
}

/// Lists functions by their Rust name.
macro_rules! table {
    ($($name:ident),* $(,)?) => {
        /// The functions of this file.
        pub(crate) const FUNCTIONS: &[Function] = &[$(Function { name: stringify!($name), infer: $name, eval: None }),*];
    };
}

table!(hardswish_op, hardswish_of_hardsigmoid, gelu_op, hardsigmoid_sixth_op, layernorm_op, softmax_op);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Literal, OpPayload, Payload};

    fn o(op: Op) -> IrData {
        IrData { payload: Some(Payload::Op(OpPayload::new(op))), ..IrData::leaf(true) }
    }
    fn t(shape: &[usize]) -> IrData {
        IrData::tensor(TensorType::new(DType::F32, shape.to_vec()), true)
    }
    fn lit(v: f64) -> IrData {
        IrData { lit: Some(Literal(v)), ..IrData::leaf(true) }
    }
    fn mean(axes: &[i64], keepdims: bool) -> IrData {
        o(Op::Reduce(Reduce {
            kind: ReduceKind::Mean,
            axes: Some(axes.to_vec()),
            keepdims,
            noop_with_empty_axes: false,
        }))
    }
    fn made(r: R) -> Op {
        match r.expect("makes an op").payload {
            Some(Payload::Op(p)) => p.op().clone(),
            other => panic!("not an op: {other:?}"),
        }
    }

    #[test]
    fn layernorm_from_trailing_means() {
        let (m, x, s) = (mean(&[-1], true), t(&[1, 40, 120]), t(&[120]));
        let op = made(layernorm_op(&[&m, &m, &lit(1e-5), &x, &s]));
        assert_eq!(op, Op::LayerNorm(LayerNorm { axis: 2, epsilon: 1e-5, stash_type: DType::F32, n_outputs: 1 }));
        let two = mean(&[1, 2], true);
        let op = made(layernorm_op(&[&two, &two, &lit(1e-6), &x, &t(&[40, 120])]));
        assert!(matches!(op, Op::LayerNorm(LayerNorm { axis: 1, .. })));
    }

    #[test]
    fn layernorm_refuses_other_patterns() {
        let (x, s, e) = (t(&[1, 40, 120]), t(&[120]), lit(1e-5));
        // Different axes, a non-trailing axis, no keepdims, a scale of the wrong shape.
        assert!(layernorm_op(&[&mean(&[-1], true), &mean(&[1, 2], true), &e, &x, &s]).is_err());
        assert!(layernorm_op(&[&mean(&[1], true), &mean(&[1], true), &e, &x, &t(&[40])]).is_err());
        assert!(layernorm_op(&[&mean(&[-1], false), &mean(&[-1], false), &e, &x, &s]).is_err());
        assert!(layernorm_op(&[&mean(&[-1], true), &mean(&[-1], true), &e, &x, &t(&[40, 120])]).is_err());
    }

    #[test]
    fn softmax_from_max_and_sum() {
        let r = |kind, axes: &[i64]| {
            o(Op::Reduce(Reduce { kind, axes: Some(axes.to_vec()), keepdims: true, noop_with_empty_axes: false }))
        };
        let x = t(&[2, 3, 4]);
        let op = made(softmax_op(&[&r(ReduceKind::Max, &[-1]), &r(ReduceKind::Sum, &[2]), &x]));
        assert_eq!(op, Op::Softmax(Softmax { axis: 2, flatten_trailing: false }));
        assert!(softmax_op(&[&r(ReduceKind::Max, &[1]), &r(ReduceKind::Sum, &[2]), &x]).is_err());
        assert!(softmax_op(&[&r(ReduceKind::Sum, &[2]), &r(ReduceKind::Sum, &[2]), &x]).is_err());
    }

    #[test]
    fn activation_ops() {
        assert_eq!(made(hardswish_op(&[])), Op::Unary(Unary { kind: UnaryKind::HardSwish }));
        assert_eq!(made(gelu_op(&[])), Op::Unary(Unary { kind: UnaryKind::Gelu }));
        assert_eq!(made(hardsigmoid_sixth_op(&[])), Op::HardSigmoid(HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 }));
        assert!(gelu_op(&[&lit(1.0)]).is_err());
        let hs = |alpha, beta| o(Op::HardSigmoid(HardSigmoid { alpha, beta }));
        assert_eq!(
            made(hardswish_of_hardsigmoid(&[&hs(1.0 / 6.0, 0.5)])),
            Op::Unary(Unary { kind: UnaryKind::HardSwish })
        );
        assert!(hardswish_of_hardsigmoid(&[&hs(0.2, 0.5)]).is_err());
    }
}
