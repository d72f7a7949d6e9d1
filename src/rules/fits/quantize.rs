//! Quantization families: an activation's QuantizeLinear parameters from its calibration
//! samples (`act8mse`, `act8minmax`, `act8pct`), a linear layer's weights on an integer grid per
//! output channel (`w8`, `w4`, `wpow2`, `wspt2`; rounded to least output error when given the
//! layer's input), and the bias that removes the mean error both
//! cause (`bias`). Numerics: [`crate::fit::quant`].

use super::{array, int8, op, samples, scalar, tensor, Family, FitArg, FitOut, FitOutputs};
use crate::fit::patches::{conv_patches, sample_rows, Moments, RowCap};
use crate::fit::quant::{
    choose_activation_qparams, correct_bias, quantize_weights, quantize_weights_for_inputs, ConvGeometry, LinearLayer,
    QParams, RangeMethod, WeightGrid, ZeroPoint,
};
use crate::fit::Samples;
use crate::ir::{OpPayload, Payload};
use crate::ops::{DequantizeLinear, Op, QuantizeLinear};
use crate::tensor::DType;
use ndarray::{Array2, ArrayD};

const ACT: &[&str] = &["scale", "zero", "qop", "dqop"];
const WEIGHTS: &[&str] = &["q", "scale", "zero", "dqop", "deq"];

/// The quantization families.
pub(super) const FAMILIES: &[Family] = &[
    Family { name: "act8mse", outputs: ACT, fit: |a| activation(a, RangeMethod::Mse) },
    Family { name: "act8minmax", outputs: ACT, fit: |a| activation(a, RangeMethod::MinMax) },
    Family { name: "act8pct", outputs: ACT, fit: |a| activation(a, RangeMethod::Percentile(99.99)) },
    Family { name: "w8", outputs: WEIGHTS, fit: |a| weights(a, WeightGrid::INT8) },
    Family { name: "w4", outputs: WEIGHTS, fit: |a| weights(a, WeightGrid::INT4) },
    Family { name: "wpow2", outputs: WEIGHTS, fit: |a| weights(a, WeightGrid::POW2) },
    Family { name: "wspt2", outputs: WEIGHTS, fit: |a| weights(a, WeightGrid::Spt { terms: 2 }) },
    Family { name: "bias", outputs: &["corrected"], fit: bias },
];

fn dequantize_op(axis: i64) -> FitOut {
    FitOut::Payload(Payload::Op(OpPayload::new(Op::DequantizeLinear(DequantizeLinear {
        axis,
        block_size: 0,
        output_dtype: None,
    }))))
}

/// `[x]`: per-tensor QuantizeLinear parameters (uint8 after a ReLU, int8 symmetric otherwise)
/// and the ops of the QuantizeLinear/DequantizeLinear pair.
fn activation(args: &[FitArg], method: RangeMethod) -> Result<FitOutputs, String> {
    let qp = choose_activation_qparams(samples(args, 0)?, method).map_err(|e| e.to_string())?;
    let zero = match qp.zero_point {
        ZeroPoint::U8(z) => scalar(DType::U8, z as f64),
        ZeroPoint::I8(z) => scalar(DType::I8, z as f64),
    };
    let q = QuantizeLinear { axis: 1, saturate: true, block_size: 0, output_dtype: None, precision: None };
    Ok(FitOutputs::from([
        ("scale", FitOut::Tensor(scalar(DType::F32, qp.scale as f64))),
        ("zero", FitOut::Tensor(zero)),
        ("qop", FitOut::Payload(Payload::Op(OpPayload::new(Op::QuantizeLinear(q))))),
        ("dqop", dequantize_op(1)),
    ]))
}

/// The output-channel axis of a linear layer's weights.
fn channel_axis(op: &Op, rank: usize) -> Result<usize, String> {
    match op {
        Op::Conv(_) => Ok(0),
        Op::Gemm(g) => Ok(if g.trans_b { 0 } else { 1 }),
        Op::MatMul(_) if rank == 2 => Ok(1),
        other => Err(format!("{} weights of rank {rank} have no output-channel axis here", other.onnx_name())),
    }
}

/// `[w, op]` or `[w, op, x]`: the weights on `grid`, per output channel (zero point 0), with the
/// per-axis DequantizeLinear's op and the dequantized weights. With the layer's input `x`, the
/// weights are rounded to least output error on its calibration samples
/// ([`quantize_weights_for_inputs`]); without it, to the nearest level.
fn weights(args: &[FitArg], grid: WeightGrid) -> Result<FitOutputs, String> {
    let w = array(args, 0)?;
    let layer = op(args, 1)?;
    let axis = channel_axis(layer, w.ndim())?;
    let qw = match args.get(2) {
        None => quantize_weights(&w, axis, grid),
        Some(_) => match input_moments(layer, &w, samples(args, 2)?)? {
            Some(second) => quantize_weights_for_inputs(&w, axis, grid, &second),
            None => quantize_weights(&w, axis, grid),
        },
    }
    .map_err(|e| e.to_string())?;
    let shape = w.shape().to_vec();
    let channels = qw.scales.len();
    Ok(FitOutputs::from([
        ("q", FitOut::Tensor(int8(shape, qw.q.iter().copied().collect()))),
        ("scale", FitOut::Tensor(crate::tensor::Tensor::f32(vec![channels], qw.scales.clone()))),
        ("zero", FitOut::Tensor(int8(vec![channels], vec![0; channels]))),
        ("dqop", dequantize_op(axis as i64)),
        ("deq", FitOut::Tensor(tensor(qw.dequantized))),
    ]))
}

/// The second moments `E[x xᵀ]` of the input rows a layer's weight rows multiply, one matrix
/// per group (see [`quantize_weights_for_inputs`]); `None` for a Gemm whose input is transposed
/// (its rows are not the samples').
fn input_moments(layer: &Op, w: &ArrayD<f32>, x: &Samples) -> Result<Option<Vec<Array2<f64>>>, String> {
    let second = |rows: ndarray::ArrayView2<f32>| Moments::of(rows).map(|m| m.second).map_err(|e| e.to_string());
    match layer {
        Op::Conv(c) => {
            let patches = conv_patches(x, &c.attrs, &w.shape()[2..], RowCap::default()).map_err(|e| e.to_string())?;
            patches.groups.iter().map(|g| second(g.view())).collect::<Result<_, _>>().map(Some)
        }
        Op::Gemm(g) if g.trans_a => Ok(None),
        Op::Gemm(_) | Op::MatMul(_) => {
            let rows = sample_rows(x, RowCap::default()).map_err(|e| e.to_string())?;
            Ok(Some(vec![second(rows.view())?]))
        }
        other => Err(format!("{} has no input rows to round its weights on", other.onnx_name())),
    }
}

/// `[x, w, b, op, w_dequantized, x_scale, x_zero]`: the bias that makes the quantized layer's
/// mean output equal the original's on the calibration samples.
fn bias(args: &[FitArg]) -> Result<FitOutputs, String> {
    let x = samples(args, 0)?;
    let (w, b, wq) = (array(args, 1)?, array(args, 2)?, array(args, 4)?);
    let layer = match op(args, 3)? {
        Op::Conv(c) => {
            let spatial = x.shape().get(2..).ok_or("a Conv input has spatial axes")?;
            let win = c.attrs.window(spatial, &w.shape()[2..], false).map_err(|e| e.to_string())?;
            LinearLayer::Conv(ConvGeometry {
                strides: win.strides,
                pads: win.pads,
                dilations: win.dilations,
                group: c.attrs.group,
            })
        }
        Op::Gemm(g) if g.alpha == 1.0 && g.beta == 1.0 && !g.trans_a => {
            LinearLayer::Dense { out_axis: if g.trans_b { 0 } else { 1 } }
        }
        other => return Err(format!("no bias correction for {}", other.onnx_name())),
    };
    let scale = array(args, 5)?.iter().next().copied().ok_or("an empty scale")?;
    let zero = match args.get(6) {
        Some(FitArg::Tensor(t)) => match t.dtype {
            DType::U8 => ZeroPoint::U8(t.scalar_f64().ok_or("a zero point is one value")? as u8),
            _ => ZeroPoint::I8(t.scalar_f64().ok_or("a zero point is one value")? as i8),
        },
        _ => return Err("argument 6 is not a zero point".into()),
    };
    let xq = QParams { scale, zero_point: zero }.fake_quantize(x);
    let outputs = b.len();
    let b = b.into_shape_with_order(ndarray::IxDyn(&[outputs])).map_err(|e| e.to_string())?;
    let corrected = correct_bias(&layer, (&w, &wq), Some(&b), x, Some(&xq)).map_err(|e| e.to_string())?;
    Ok(FitOutputs::from([("corrected", FitOut::Tensor(tensor(corrected.into_dyn())))]))
}
