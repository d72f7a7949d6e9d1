//! Resize as gathers and weighted sums: per resized axis, the source index of every output
//! position (nearest) or its two taps and their weights (linear), computed in `f32` exactly as
//! the reference runtime (tract) plans an axis: the coordinate transformation, the cell
//! `ceil(x) − 1`, the ratio `x − cell`, taps clamped to the axis. Only rank-4 inputs whose
//! changed axes are among the spatial axes 2 and 3 are decomposed (the functions fail
//! otherwise), without tf_crop_and_resize, antialias or exclude_outside; cubic has no rule.

use super::{arity, ints_arg, op, payload_arg, Function};
use crate::ir::{FnArg, IrData, Payload};
use crate::ops::{AspectPolicy, CoordinateMode, NearestMode, Op, Resize, ResizeMode};
use crate::tensor::{DType, Tensor, TensorType};

type R = Result<IrData, String>;

/// Per output position of one axis: the two taps and their weights.
type Taps = Vec<([usize; 2], [f32; 2])>;

/// The Resize op's scale and output length per axis for an input of `shape`, checked to be a
/// rank-4 resize of the spatial axes with a decomposed mode.
fn plan(r: &Resize, shape: &[i64]) -> Result<(Vec<f32>, Vec<usize>), String> {
    if !matches!(r.mode, ResizeMode::Nearest | ResizeMode::Linear) {
        return Err(format!("mode {} is not decomposed", r.mode.onnx_name()));
    }
    if r.coordinate_mode == CoordinateMode::TfCropAndResize || r.antialias || r.exclude_outside {
        return Err("tf_crop_and_resize, antialias and exclude_outside are not decomposed".into());
    }
    let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    if dims.len() != 4 || dims.contains(&0) {
        return Err(format!("input shape {shape:?} is not a non-empty rank-4 shape"));
    }
    let out = r.output_shape(&TensorType::new(DType::F32, dims.clone())).map_err(|e| e.to_string())?;
    let axes: Vec<usize> = match &r.axes {
        Some(a) => a.iter().map(|&a| if a < 0 { (a + 4) as usize } else { a as usize }).collect(),
        None => (0..4).collect(),
    };
    let mut scales = vec![1.0f32; 4];
    for (i, &a) in axes.iter().enumerate() {
        scales[a] = match (&r.scales, &r.sizes, r.keep_aspect_ratio_policy) {
            (Some(s), _, _) => s[i],
            (None, Some(_), AspectPolicy::Stretch) => out[a] as f32 / dims[a] as f32,
            (None, Some(sizes), policy) => {
                let ratios = axes.iter().zip(sizes).map(|(&a, &s)| s as f32 / dims[a] as f32);
                let pick = if policy == AspectPolicy::NotLarger { f32::min } else { f32::max };
                ratios.reduce(pick).ok_or("no sizes")?
            }
            _ => return Err("neither scales nor sizes".into()),
        };
    }
    if (0..2).any(|a| out[a] != dims[a] || scales[a] != 1.0) {
        return Err("Resize changes the batch or channel axis".into());
    }
    Ok((scales, out))
}

/// tract's plan of one axis (two taps, weights per the interpolation).
fn taps(r: &Resize, scale: f32, len_in: usize, len_out: usize) -> Taps {
    let (lin, lout) = (len_in as f32, len_out as f32);
    (0..len_out)
        .map(|x| {
            let xf = x as f32;
            let x_in = match r.coordinate_mode {
                CoordinateMode::AlignCorners => {
                    let width = scale * lin;
                    if width == 1.0 {
                        0.0
                    } else {
                        (xf * (lin - 1.0)) / (width - 1.0)
                    }
                }
                CoordinateMode::Asymmetric => xf / scale,
                CoordinateMode::PytorchHalfPixel if len_out <= 1 => -0.5,
                CoordinateMode::HalfPixelSymmetric => {
                    let adjustment = lout / (scale * lin);
                    let offset = lin / 2.0 * (1.0 - adjustment);
                    offset + (xf + 0.5) / scale - 0.5
                }
                CoordinateMode::TfHalfPixelForNearest => (xf + 0.5) / scale,
                _ => (xf + 0.5) / scale - 0.5,
            };
            let cell = x_in.ceil() - 1.0;
            let ratio = x_in - cell;
            let w = if r.mode == ResizeMode::Linear {
                [(1.0 - (0.0 - ratio).abs()).clamp(0.0, 1.0), (1.0 - (1.0 - ratio).abs()).clamp(0.0, 1.0)]
            } else {
                let right = ratio == 1.0
                    || match r.nearest_mode {
                        NearestMode::Floor => false,
                        NearestMode::Ceil => true,
                        NearestMode::RoundPreferFloor => ratio > 0.5,
                        NearestMode::RoundPreferCeil => ratio >= 0.5,
                    };
                [if right { 0.0 } else { 1.0 }, if right { 1.0 } else { 0.0 }]
            };
            let clamp = |v: isize| v.clamp(0, len_in as isize - 1) as usize;
            ([clamp(cell as isize), clamp(cell as isize + 1)], w)
        })
        .collect()
}

fn resize_op(o: &Op) -> Result<&Resize, String> {
    match o {
        Op::Resize(r) => Ok(r),
        other => Err(format!("expected Resize, found {}", other.onnx_name())),
    }
}

/// The shape of a per-position tensor of `axis` (2 or 3) broadcasting against `[N, C, H, W]`.
fn axis_shape(axis: usize, len: usize) -> Result<Vec<usize>, String> {
    match axis {
        2 => Ok(vec![len, 1]),
        3 => Ok(vec![len]),
        _ => Err(format!("axis {axis} is not spatial axis 2 or 3")),
    }
}

/// Reads (op, shape, axis, tap) and checks them; also the mode the function is for.
fn check(o: &Op, shape: &[i64], axis: &[i64], tap: &[i64], mode: ResizeMode) -> Result<(usize, usize), String> {
    let r = resize_op(o)?;
    if r.mode != mode {
        return Err(format!("mode {} (this function is for {})", r.mode.onnx_name(), mode.onnx_name()));
    }
    plan(r, shape)?;
    let (&[axis], &[tap]) = (axis, tap) else { return Err("axis and tap are single #ints".into()) };
    if !(2..4).contains(&axis) || !(0..2).contains(&tap) {
        return Err(format!("axis {axis} tap {tap}"));
    }
    Ok((axis as usize, tap as usize))
}

/// The taps of one axis, from evaluation arguments (op, shape, axis).
fn eval_taps(args: &[FnArg]) -> Result<(Taps, usize), String> {
    let (
        Some(FnArg::Payload(Payload::Op(o))),
        Some(FnArg::Payload(Payload::Ints(shape))),
        Some(FnArg::Payload(Payload::Ints(axis))),
    ) = (args.first(), args.get(1), args.get(2))
    else {
        return Err("expected an op and #ints arguments".into());
    };
    let r = resize_op(o.op())?;
    let (scales, out) = plan(r, shape)?;
    let a = *axis.first().ok_or("empty axis")? as usize;
    Ok((taps(r, scales[a], shape[a] as usize, out[a]), a))
}

/// The facts of an index vector: the mode must be `mode`; nearest takes no tap argument.
fn index_facts(a: &[&IrData], mode: ResizeMode) -> R {
    let n = if mode == ResizeMode::Nearest { 3 } else { 4 };
    arity(a, n)?;
    let o = op(a, 0)?;
    let tap: &[i64] = if n == 4 { ints_arg(a, 3)? } else { &[0] };
    let (axis, _) = check(o, ints_arg(a, 1)?, ints_arg(a, 2)?, tap, mode)?;
    let (_, out) = plan(resize_op(o)?, ints_arg(a, 1)?)?;
    Ok(IrData::tensor(TensorType::new(DType::I64, vec![out[axis]]), true))
}

/// `@resize_nearest_index op #ints:shape #ints:axis`: the nearest source index of every output
/// position of `axis` (an int64 vector; nearest mode only).
fn resize_nearest_index(a: &[&IrData]) -> R {
    index_facts(a, ResizeMode::Nearest)
}

fn resize_nearest_index_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 3)?;
    let (taps, _) = eval_taps(args)?;
    let idx: Vec<i64> = taps.iter().map(|(i, w)| i[usize::from(w[1] == 1.0)] as i64).collect();
    Ok(Tensor::i64(vec![idx.len()], idx))
}

/// `@resize_linear_index op #ints:shape #ints:axis #ints:tap`: the source index of tap 0 or 1
/// of every output position of `axis` (an int64 vector; linear mode only).
fn resize_linear_index(a: &[&IrData]) -> R {
    index_facts(a, ResizeMode::Linear)
}

fn resize_linear_index_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 4)?;
    let (taps, _) = eval_taps(args)?;
    let Some(FnArg::Payload(Payload::Ints(tap))) = args.get(3) else { return Err("tap is not #ints".into()) };
    let tap = (*tap.first().ok_or("empty tap")?).clamp(0, 1) as usize;
    let idx: Vec<i64> = taps.iter().map(|(i, _)| i[tap] as i64).collect();
    Ok(Tensor::i64(vec![idx.len()], idx))
}

/// `@resize_weight op #ints:shape #ints:axis #ints:tap #dtype:T`: linear mode's weight of
/// tap 0 or 1 per output position of `axis`, shaped to broadcast along it (`[H', 1]` for
/// axis 2, `[W']` for axis 3).
fn resize_weight(a: &[&IrData]) -> R {
    arity(a, 5)?;
    let o = op(a, 0)?;
    let (axis, _) = check(o, ints_arg(a, 1)?, ints_arg(a, 2)?, ints_arg(a, 3)?, ResizeMode::Linear)?;
    let Payload::DType(dtype) = payload_arg(a, 4)? else { return Err("argument 4 is not a #dtype".into()) };
    if !dtype.is_float() {
        return Err(format!("linear resize of {dtype} values"));
    }
    let (_, out) = plan(resize_op(o)?, ints_arg(a, 1)?)?;
    Ok(IrData::tensor(TensorType::new(*dtype, axis_shape(axis, out[axis])?), true))
}

fn resize_weight_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 5)?;
    let (taps, axis) = eval_taps(args)?;
    let (Some(FnArg::Payload(Payload::Ints(tap))), Some(FnArg::Payload(Payload::DType(dtype)))) =
        (args.get(3), args.get(4))
    else {
        return Err("expected #ints and #dtype arguments".into());
    };
    let tap = *tap.first().ok_or("empty tap")? as usize;
    let w: Vec<f64> = taps.iter().map(|(_, w)| w[tap.min(1)] as f64).collect();
    Tensor::from_f64(*dtype, axis_shape(axis, w.len())?, &w).ok_or_else(|| "unsupported type".into())
}

/// The functions of this file.
pub(crate) const FUNCTIONS: &[Function] = &[
    Function { name: "resize_nearest_index", infer: resize_nearest_index, eval: Some(resize_nearest_index_eval) },
    Function { name: "resize_linear_index", infer: resize_linear_index, eval: Some(resize_linear_index_eval) },
    Function { name: "resize_weight", infer: resize_weight, eval: Some(resize_weight_eval) },
];

#[cfg(test)]
mod tests {
    use super::super::{ints as ints_facts, testing::*, Functions};
    use super::*;
    use crate::ir::{ConstFns, OpPayload};

    fn resize(mode: ResizeMode, coordinate_mode: CoordinateMode, scales: Vec<f32>) -> Op {
        Op::Resize(Resize {
            mode,
            coordinate_mode,
            nearest_mode: NearestMode::RoundPreferFloor,
            cubic_coeff_a: -0.75,
            exclude_outside: false,
            extrapolation_value: 0.0,
            antialias: false,
            axes: None,
            keep_aspect_ratio_policy: AspectPolicy::Stretch,
            roi: None,
            scales: Some(scales),
            sizes: None,
        })
    }

    fn eval(name: &str, op: Op, axis: i64, extra: &[Payload]) -> Tensor {
        let (p, shape, axis) =
            (Payload::Op(OpPayload::new(op)), Payload::Ints(vec![1, 1, 2, 3]), Payload::Ints(vec![axis]));
        let mut args = vec![FnArg::Payload(&p), FnArg::Payload(&shape), FnArg::Payload(&axis)];
        args.extend(extra.iter().map(FnArg::Payload));
        Functions.eval(name, &args).unwrap()
    }

    #[test]
    fn nearest_indices_follow_the_rounding() {
        let op = resize(ResizeMode::Nearest, CoordinateMode::Asymmetric, vec![1.0, 1.0, 1.0, 2.0]);
        let shape = ints_facts(vec![1, 1, 2, 3]);
        let facts = call("resize_nearest_index", &[o(op.clone()), shape.clone(), ints_facts(vec![3])]).unwrap();
        assert_eq!(facts.ty().unwrap(), &TensorType::new(DType::I64, vec![6]));
        // x / 2 = 0, 0.5, 1, 1.5, 2, 2.5, halves rounded down.
        assert_eq!(eval("resize_nearest_index", op.clone(), 3, &[]).to_i64_vec().unwrap(), vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(eval("resize_nearest_index", op.clone(), 2, &[]).to_i64_vec().unwrap(), vec![0, 1]);
        assert!(call("resize_linear_index", &[o(op), shape, ints_facts(vec![3]), ints_facts(vec![0])]).is_err());
    }

    #[test]
    fn linear_taps_and_weights() {
        let op = resize(ResizeMode::Linear, CoordinateMode::HalfPixel, vec![1.0, 1.0, 2.0, 1.0]);
        let (t0, t1, f32) = (Payload::Ints(vec![0]), Payload::Ints(vec![1]), Payload::DType(DType::F32));
        // (x + 0.5) / 2 − 0.5 = −0.25, 0.25, 0.75, 1.25: taps clamped into [0, 1].
        assert_eq!(
            eval("resize_linear_index", op.clone(), 2, std::slice::from_ref(&t0)).to_i64_vec().unwrap(),
            vec![0, 0, 0, 1]
        );
        assert_eq!(
            eval("resize_linear_index", op.clone(), 2, std::slice::from_ref(&t1)).to_i64_vec().unwrap(),
            vec![0, 1, 1, 1]
        );
        let w0 = eval("resize_weight", op.clone(), 2, &[t0, f32.clone()]);
        assert_eq!((w0.shape.clone(), w0.to_f64_vec().unwrap()), (vec![4, 1], vec![0.25, 0.75, 0.25, 0.75]));
        let w1 = eval("resize_weight", op.clone(), 2, &[t1, f32]);
        assert_eq!(w1.to_f64_vec().unwrap(), vec![0.75, 0.25, 0.75, 0.25]);
        let batch = resize(ResizeMode::Linear, CoordinateMode::HalfPixel, vec![2.0, 1.0, 1.0, 1.0]);
        let args = [o(batch), ints_facts(vec![1, 1, 2, 3]), ints_facts(vec![2]), ints_facts(vec![0])];
        assert!(call("resize_linear_index", &args).unwrap_err().contains("batch"));
    }
}
