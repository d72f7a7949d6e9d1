//! Activation families: the constants of cheaper forms of smooth activations, fitted on the
//! calibration inputs of the activation they replace (`rules/approx/activation.rules`).
//! `hsig`, `hsilu`, `hgelu`: a HardSigmoid's slope and offset for Sigmoid, for the gate of
//! SiLU (`x·HardSigmoid(x)`) and of GELU; `htanh`: the slope of `clip(α·x, -1, 1)` for Tanh,
//! with the Clip's op and bounds; `sgelu`: the `k` of GELU ≈ `x·σ(k·x)`; `perf`: an odd
//! polynomial for erf on the clipped calibration range; `softermax`: the base-2 softmax's ops,
//! clip bound, table of powers of two and polynomial; `softmax8`: the uint8 quantization of a
//! Softmax's input for the table softmax (both `rules/approx/softmax.rules`). Numerics:
//! [`crate::fit::activation`], [`crate::fit::quant::fit_softmax_input`].

use super::{op, samples, scalar, Family, FitArg, FitOut, FitOutputs};
use crate::fit::activation::{
    calibration_y_max, fit_gelu_sigmoid_gate, fit_hard_activation, fit_polynomial, fit_softermax, sample_range,
    Elementary, HardTarget, Variable,
};
use crate::fit::quant::fit_softmax_input;
use crate::ir::{OpPayload, Payload};
use crate::ops::{Clip, DequantizeLinear, Gather, HardSigmoid, Op, QuantizeLinear, Reduce, ReduceKind};
use crate::tensor::{DType, Tensor, TensorType};

/// Erf is ±1 to within 7.5e-7 beyond this: the polynomial's range ends here at most.
const ERF_SATURATES: f32 = 3.5;
/// The odd polynomial's degree (terms 1, 3, 5, 7, 9).
const ERF_DEGREE: usize = 9;
/// Its coefficient outputs, lowest degree first.
const ERF_COEFFS: [&str; 5] = ["c1", "c3", "c5", "c7", "c9"];
/// The base-2 softmax's polynomial degree (`2^g` on `[-1, 0]` within 2.4e-3 relative error).
pub const SOFTERMAX_DEGREE: usize = 2;
/// Its coefficient outputs, lowest degree first.
const SOFTERMAX_COEFFS: [&str; SOFTERMAX_DEGREE + 1] = ["c0", "c1", "c2"];

/// The activation families.
pub(super) const FAMILIES: &[Family] = &[
    Family { name: "hsig", outputs: &["op"], fit: |a| hard_sigmoid(a, HardTarget::Sigmoid) },
    Family { name: "hsilu", outputs: &["op"], fit: |a| hard_sigmoid(a, HardTarget::Silu) },
    Family { name: "hgelu", outputs: &["op"], fit: |a| hard_sigmoid(a, HardTarget::Gelu) },
    Family { name: "htanh", outputs: &["clip", "lo", "hi", "slope"], fit: hard_tanh },
    Family { name: "sgelu", outputs: &["k"], fit: sigmoid_gate },
    Family { name: "perf", outputs: &["clip", "lo", "hi", "scale", "c1", "c3", "c5", "c7", "c9"], fit: erf_polynomial },
    Family {
        name: "softermax",
        outputs: &["max", "sum", "clip", "lo", "hi", "gather", "table", "c0", "c1", "c2"],
        fit: softermax,
    },
    Family { name: "softmax8", outputs: &["scale", "zero", "qop", "dqop"], fit: softmax8 },
];

fn op_out(op: Op) -> FitOut {
    FitOut::Payload(Payload::Op(OpPayload::new(op)))
}

fn f32_out(v: f64) -> FitOut {
    FitOut::Tensor(scalar(DType::F32, v))
}

/// The op of a Clip to `[lo, hi]` (bounds as inputs, opset 11 on).
fn clip_op(lo: f64, hi: f64) -> FitOut {
    op_out(Op::Clip(Clip { min: Some(lo), max: Some(hi) }))
}

/// `[x]`: the HardSigmoid whose (alpha, beta) fit `target` on x's calibration samples.
fn hard_sigmoid(args: &[FitArg], target: HardTarget) -> Result<FitOutputs, String> {
    let fit = fit_hard_activation(target, samples(args, 0)?).map_err(|e| e.to_string())?;
    Ok(FitOutputs::from([("op", op_out(Op::HardSigmoid(HardSigmoid { alpha: fit.alpha, beta: fit.beta })))]))
}

/// `[x]`: Tanh ≈ `clip(slope·x, -1, 1)`, the slope fitted on x's calibration samples.
fn hard_tanh(args: &[FitArg]) -> Result<FitOutputs, String> {
    let fit = fit_hard_activation(HardTarget::Tanh, samples(args, 0)?).map_err(|e| e.to_string())?;
    Ok(FitOutputs::from([
        ("clip", clip_op(-1.0, 1.0)),
        ("lo", f32_out(-1.0)),
        ("hi", f32_out(1.0)),
        ("slope", f32_out(f64::from(fit.alpha))),
    ]))
}

/// `[x]`: the `k` of GELU ≈ `x·σ(k·x)` fitted on x's calibration samples.
fn sigmoid_gate(args: &[FitArg]) -> Result<FitOutputs, String> {
    let fit = fit_gelu_sigmoid_gate(samples(args, 0)?).map_err(|e| e.to_string())?;
    Ok(FitOutputs::from([("k", f32_out(f64::from(fit.k)))]))
}

/// `[x]`: erf(x) ≈ `t·q(t²)` with `t = clip(x, -R, R)/R`, `q` of degree 4 (the odd terms of the
/// degree-9 least-squares fit at Chebyshev nodes on `[-R, R]`; erf is odd, so the even ones
/// vanish), R the largest calibration magnitude, at most [`ERF_SATURATES`].
fn erf_polynomial(args: &[FitArg]) -> Result<FitOutputs, String> {
    let (lo, hi) = sample_range(samples(args, 0)?).map_err(|e| e.to_string())?;
    let r = f64::from(lo.abs().max(hi.abs()).min(ERF_SATURATES));
    if r <= 0.0 {
        return Err("the calibration inputs are all zero: no range to fit erf on".into());
    }
    let fit = fit_polynomial(Elementary::Erf, (-r, r), ERF_DEGREE, Variable::Normalized).map_err(|e| e.to_string())?;
    let mut out = FitOutputs::from([
        ("clip", clip_op(-r, r)),
        ("lo", f32_out(-r)),
        ("hi", f32_out(r)),
        ("scale", f32_out(f64::from(fit.poly.scale))),
    ]);
    for (name, &c) in ERF_COEFFS.iter().zip(fit.poly.coeffs.iter().skip(1).step_by(2)) {
        out.insert(name, f32_out(f64::from(c)));
    }
    Ok(out)
}

/// `[softmax op, x]` of a Softmax over one axis (opset 13 form): that axis normalized for x's
/// type, the axis of the calibration samples the rows run along, x's type and the samples.
fn softmax_rows<'a>(args: &[FitArg<'a>]) -> Result<(usize, usize, &'a TensorType, &'a crate::fit::Samples), String> {
    let Op::Softmax(softmax) = op(args, 0)? else { return Err("argument 0 is not a Softmax".into()) };
    if softmax.flatten_trailing {
        return Err("a Softmax in its pre-13 form (over every trailing axis) has no one-axis form here".into());
    }
    let Some(FitArg::Samples(ty, x)) = args.get(1) else {
        return Err("argument 1 is not an activation with calibration samples".into());
    };
    let rank = ty.shape.len();
    let axis = crate::ops::norm_axis(softmax.axis, rank).map_err(|e| e.to_string())?;
    // The samples stack along a new leading axis, or along axis 0 of a batch of one.
    let sample_axis = if x.ndim() == rank + 1 { axis + 1 } else { axis };
    Ok((axis, sample_axis, ty, x))
}

/// `[softmax op, x]`: the base-2 softmax of a Softmax over one axis (opset 13 form): the
/// ReduceMax and ReduceSum over that axis (kept), the Clip of `y = (max - x)·log2 e` to
/// `[0, H]` with `H` from the row length and the largest `y` on x's calibration samples
/// ([`crate::fit::activation::clip_bound`]), the Gather of `2^-k` from the table `2^-j`,
/// `j ≤ H`, and the coefficients of `p(g) ≈ 2^g` on `[-1, 0]` (degree [`SOFTERMAX_DEGREE`]).
fn softermax(args: &[FitArg]) -> Result<FitOutputs, String> {
    let (axis, sample_axis, ty, x) = softmax_rows(args)?;
    let y_max = calibration_y_max(x, sample_axis).map_err(|e| e.to_string())?;
    let fit = fit_softermax(SOFTERMAX_DEGREE).map_err(|e| e.to_string())?.with_bound(ty.shape[axis], y_max);
    let reduce = |kind| {
        op_out(Op::Reduce(Reduce { kind, axes: Some(vec![axis as i64]), keepdims: true, noop_with_empty_axes: false }))
    };
    let table = fit.table();
    let mut out = FitOutputs::from([
        ("max", reduce(ReduceKind::Max)),
        ("sum", reduce(ReduceKind::Sum)),
        ("clip", clip_op(0.0, f64::from(fit.hi))),
        ("lo", f32_out(0.0)),
        ("hi", f32_out(f64::from(fit.hi))),
        ("gather", op_out(Op::Gather(Gather { axis: 0 }))),
        ("table", FitOut::Tensor(Tensor::f32(vec![table.len()], table))),
    ]);
    for (name, &c) in SOFTERMAX_COEFFS.iter().zip(&fit.poly.coeffs) {
        out.insert(name, f32_out(f64::from(c)));
    }
    Ok(out)
}

/// `[softmax op, x]`: the uint8 scale and zero point of a Softmax's input whose range minimizes
/// the Softmax's output error on x's calibration rows ([`fit_softmax_input`]), and the ops of
/// the QuantizeLinear/DequantizeLinear pair (per tensor).
fn softmax8(args: &[FitArg]) -> Result<FitOutputs, String> {
    let (_, sample_axis, _, x) = softmax_rows(args)?;
    let fit = fit_softmax_input(x, sample_axis).map_err(|e| e.to_string())?;
    let q = QuantizeLinear { axis: 1, saturate: true, block_size: 0, output_dtype: None, precision: None };
    let dq = DequantizeLinear { axis: 1, block_size: 0, output_dtype: None };
    Ok(FitOutputs::from([
        ("scale", FitOut::Tensor(scalar(DType::F32, f64::from(fit.qparams.scale)))),
        ("zero", FitOut::Tensor(scalar(DType::U8, f64::from(fit.qparams.zero_point.value())))),
        ("qop", op_out(Op::QuantizeLinear(q))),
        ("dqop", op_out(Op::DequantizeLinear(dq))),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::activation::Polynomial;
    use crate::tensor::TensorType;
    use ndarray::{ArrayD, IxDyn};

    fn value(out: &FitOutputs, name: &str) -> f64 {
        match &out[name] {
            FitOut::Tensor(t) => t.scalar_f64().unwrap(),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn erf_polynomial_is_odd_and_close_on_the_range() {
        let xs: Vec<f32> = (0..401).map(|i| -2.0 + 0.01 * i as f32).collect();
        let x = ArrayD::from_shape_vec(IxDyn(&[401]), xs.clone()).unwrap();
        let ty = TensorType::new(DType::F32, vec![401]);
        let out = erf_polynomial(&[FitArg::Samples(&ty, &x)]).unwrap();
        assert_eq!(value(&out, "hi"), 2.0);
        let coeffs: Vec<f32> = ERF_COEFFS.iter().map(|n| value(&out, n) as f32).collect();
        // t·q(t²) as the rule computes it, against the reference erf.
        let odd = Polynomial {
            coeffs: (0..=ERF_DEGREE).map(|k| if k % 2 == 1 { coeffs[k / 2] } else { 0.0 }).collect(),
            shift: 0.0,
            scale: value(&out, "scale") as f32,
        };
        for &v in &xs {
            let err = (f64::from(odd.eval(v)) - Elementary::Erf.value(f64::from(v))).abs();
            assert!(err < 2e-3, "erf({v}): {err}");
        }
    }

    #[test]
    fn hard_forms_give_ops_and_constants() {
        let x = ArrayD::from_shape_vec(IxDyn(&[5]), vec![-3.0f32, -1.0, 0.0, 1.0, 3.0]).unwrap();
        let ty = TensorType::new(DType::F32, vec![5]);
        let args = [FitArg::Samples(&ty, &x)];
        let sig = hard_sigmoid(&args, HardTarget::Sigmoid).unwrap();
        assert!(matches!(&sig["op"], FitOut::Payload(Payload::Op(p)) if matches!(p.op(), Op::HardSigmoid(_))));
        let tanh = hard_tanh(&args).unwrap();
        assert_eq!((value(&tanh, "lo"), value(&tanh, "hi")), (-1.0, 1.0));
        assert!(value(&tanh, "slope") > 0.0);
        assert!((value(&sigmoid_gate(&args).unwrap(), "k") - 1.702).abs() < 0.8);
        assert!(erf_polynomial(&[FitArg::Literal(1.0)]).is_err());
    }

    #[test]
    fn softermax_gives_reductions_table_and_polynomial() {
        use crate::ops::Softmax;
        // Two samples of a [1, 2, 3] input stacked on axis 0; the widest row spans 10.
        let x = ArrayD::from_shape_vec(
            IxDyn(&[2, 2, 3]),
            vec![0.0, 1.0, 2.0, 0.0, 0.0, 0.0, -8.0, 2.0, 0.0, 1.0, 1.0, 1.0],
        )
        .unwrap();
        let ty = TensorType::new(DType::F32, vec![1, 2, 3]);
        let softmax = Payload::Op(OpPayload::new(Op::Softmax(Softmax { axis: -1, flatten_trailing: false })));
        let out = softermax(&[FitArg::Payload(&softmax), FitArg::Samples(&ty, &x)]).unwrap();
        // log2(3 / 2.4e-3) = 10.3 and 10·log2 e = 14.4: the calibration range decides.
        assert_eq!(value(&out, "hi"), 15.0);
        let FitOut::Tensor(table) = &out["table"] else { panic!("{:?}", out["table"]) };
        assert_eq!(table.to_f64_vec().unwrap()[..3], [1.0, 0.5, 0.25]);
        assert_eq!(table.shape, [16]);
        let reduce = |name| match &out[name] {
            FitOut::Payload(Payload::Op(p)) => p.op().clone(),
            other => panic!("{other:?}"),
        };
        assert!(matches!(reduce("sum"), Op::Reduce(r) if r.axes == Some(vec![2]) && r.keepdims));
        // p(0) ≈ 1, p(-1) ≈ 1/2.
        let c: Vec<f64> = SOFTERMAX_COEFFS.iter().map(|n| value(&out, n)).collect();
        assert!((c[0] - 1.0).abs() < 3e-3 && (c[0] - c[1] + c[2] - 0.5).abs() < 2e-3, "{c:?}");
        let legacy = Payload::Op(OpPayload::new(Op::Softmax(Softmax { axis: 1, flatten_trailing: true })));
        assert!(softermax(&[FitArg::Payload(&legacy), FitArg::Samples(&ty, &x)]).is_err());
    }

    #[test]
    fn softmax8_gives_a_uint8_quantization_of_the_rows() {
        use crate::ops::Softmax;
        // Two samples of a [1, 2, 4] input stacked on axis 0.
        let x = ArrayD::from_shape_vec(
            IxDyn(&[2, 2, 4]),
            vec![0.0, 1.0, 2.0, -3.0, 0.5, 0.5, 0.0, 4.0, -8.0, 2.0, 0.0, 1.0, 1.0, 1.0, 3.0, -1.0],
        )
        .unwrap();
        let ty = TensorType::new(DType::F32, vec![1, 2, 4]);
        let softmax = Payload::Op(OpPayload::new(Op::Softmax(Softmax { axis: -1, flatten_trailing: false })));
        let out = softmax8(&[FitArg::Payload(&softmax), FitArg::Samples(&ty, &x)]).unwrap();
        let FitOut::Tensor(zero) = &out["zero"] else { panic!("{:?}", out["zero"]) };
        assert_eq!(zero.dtype, DType::U8);
        // The top of the grid is the calibration maximum (within half a step), 0 is on it.
        let (s, z) = (value(&out, "scale"), value(&out, "zero"));
        assert!(s > 0.0 && ((255.0 - z) * s - 4.0).abs() <= s / 2.0 + 1e-6, "{s} {z}");
        let op = |name| match &out[name] {
            FitOut::Payload(Payload::Op(p)) => p.op().clone(),
            other => panic!("{other:?}"),
        };
        assert!(matches!(op("qop"), Op::QuantizeLinear(_)) && matches!(op("dqop"), Op::DequantizeLinear(_)));
        let legacy = Payload::Op(OpPayload::new(Op::Softmax(Softmax { axis: 1, flatten_trailing: true })));
        assert!(softmax8(&[FitArg::Payload(&legacy), FitArg::Samples(&ty, &x)]).is_err());
    }
}
