//! Samplers of the reduction, layout, shape, type and quantization kernels.

use super::nn::zero_point;
use super::{draw, f32t, ints, scalar, x_type, Ctx, Input, KernelDraw};
use crate::ops::*;
use crate::rules::verify::gen::{permutation, Draw, Gen};
use crate::tensor::{DType, Tensor, TensorType};
use rand::seq::IndexedRandom;
use rand::RngExt;

/// Draws one of this file's kernels.
pub(super) fn sample_one(name: &str, d: &mut Draw, ctx: &Ctx) -> Option<KernelDraw> {
    match (name, ctx.arity) {
        ("ReduceSum" | "ReduceMean" | "ReduceMax", 1 | 2) => {
            let kind = match name {
                "ReduceSum" => ReduceKind::Sum,
                "ReduceMean" => ReduceKind::Mean,
                _ => ReduceKind::Max,
            };
            let x = x_type(d, ctx, 1..=4, 4)?;
            let r = x.shape.len() as i64;
            let mut axes: Vec<i64> = Vec::new();
            for a in 0..r {
                if d.rng.random_bool(0.5) {
                    axes.push(if d.rng.random_bool(0.3) { a - r } else { a });
                }
            }
            let as_input = kind == ReduceKind::Sum || ctx.arity == 2;
            let opset = if as_input && kind != ReduceKind::Sum { 18 } else { 17 };
            let keepdims = d.rng.random_bool(0.7);
            let mut inputs = vec![Input::Data(x, Gen::Default)];
            let op_axes = if ctx.arity == 2 {
                if axes.is_empty() {
                    axes.push(0);
                }
                inputs.push(ints(&axes));
                Some(axes)
            } else if as_input {
                None
            } else {
                (!axes.is_empty() || d.rng.random_bool(0.2)).then_some(axes)
            };
            let noop = as_input && d.rng.random_bool(0.1);
            let op = Op::Reduce(Reduce { kind, axes: op_axes, keepdims, noop_with_empty_axes: noop });
            Some(KernelDraw { op, opset, inputs })
        }
        ("Reshape", 2) => {
            let x = x_type(d, ctx, 0..=4, 4)?;
            let rank = d.rng.random_range(1..=4);
            let mut shape: Vec<i64> =
                crate::rules::verify::gen::factor(d.rng, x.numel(), rank).iter().map(|&v| v as i64).collect();
            if d.rng.random_bool(0.3) {
                let i = d.rng.random_range(0..shape.len());
                shape[i] = -1;
            }
            let op = Op::Reshape(Reshape { shape: shape.clone(), allowzero: false });
            draw(op, vec![Input::Data(x, Gen::Default), ints(&shape)])
        }
        ("Flatten", 1) => {
            let x = x_type(d, ctx, 0..=4, 4)?;
            let r = x.shape.len() as i64;
            let axis = d.rng.random_range(-r..=r);
            draw(Op::Flatten(Flatten { axis }), vec![Input::Data(x, Gen::Default)])
        }
        ("Squeeze", 1 | 2) => {
            let mut x = x_type(d, ctx, 1..=4, 3)?;
            if ctx.typed(0).is_none() {
                for dim in x.shape.iter_mut() {
                    if d.rng.random_bool(0.4) {
                        *dim = 1;
                    }
                }
            }
            let ones: Vec<i64> = (0..x.shape.len()).filter(|&i| x.shape[i] == 1).map(|i| i as i64).collect();
            let mut inputs = vec![Input::Data(x, Gen::Default)];
            let axes = if ctx.arity == 2 {
                let chosen: Vec<i64> = ones.iter().copied().filter(|_| d.rng.random_bool(0.6)).collect();
                if chosen.is_empty() {
                    return None;
                }
                inputs.push(ints(&chosen));
                Some(chosen)
            } else {
                None
            };
            draw(Op::Squeeze(Squeeze { axes }), inputs)
        }
        ("Unsqueeze", 1 | 2) => {
            let x = x_type(d, ctx, 0..=3, 4)?;
            let out_rank = x.shape.len() + d.rng.random_range(1..=2);
            let mut axes: Vec<i64> = permutation(d.rng, out_rank)[..out_rank - x.shape.len()].to_vec();
            axes.iter_mut().for_each(|a| {
                if d.rng.random_bool(0.3) {
                    *a -= out_rank as i64
                }
            });
            let op = Op::Unsqueeze(Unsqueeze { axes: axes.clone() });
            if ctx.arity == 1 {
                Some(KernelDraw { op, opset: 12, inputs: vec![Input::Data(x, Gen::Default)] })
            } else {
                draw(op, vec![Input::Data(x, Gen::Default), ints(&axes)])
            }
        }
        ("Transpose", 1) => {
            let x = x_type(d, ctx, 1..=4, 4)?;
            let perm = match &ctx.perm {
                Some(p) if p.len() == x.shape.len() => Some(p.clone()),
                Some(_) => return None,
                None if d.rng.random_bool(0.2) => None,
                None => Some(permutation(d.rng, x.shape.len())),
            };
            draw(Op::Transpose(Transpose { perm }), vec![Input::Data(x, Gen::Default)])
        }
        ("Concat", n @ 2..=3) => {
            let x = x_type(d, ctx, 1..=4, 4)?;
            let r = x.shape.len() as i64;
            let axis = d.rng.random_range(-r..r);
            let a = if axis < 0 { axis + r } else { axis } as usize;
            let mut inputs = vec![Input::Data(x.clone(), Gen::Default)];
            for _ in 1..n {
                let mut s = x.shape.clone();
                s[a] = d.rng.random_range(1..4);
                inputs.push(Input::Data(TensorType::new(x.dtype, s), Gen::Default));
            }
            draw(Op::Concat(Concat { axis }), inputs)
        }
        ("Slice", n @ 3..=5) => {
            let x = x_type(d, ctx, 1..=4, 6)?;
            let r = x.shape.len();
            let k = d.rng.random_range(1..=r);
            let axes: Vec<i64> = if n >= 4 { permutation(d.rng, r)[..k].to_vec() } else { (0..k as i64).collect() };
            let mut pick = |dim: i64| -> i64 {
                match d.rng.random_range(0..6) {
                    0 => d.rng.random_range(-dim - 3..0),
                    1 => *[i64::MAX, i64::MIN, dim + 5, -dim - 5].choose(d.rng).expect("non-empty"),
                    _ => d.rng.random_range(0..=dim),
                }
            };
            let dims: Vec<i64> = axes.iter().map(|&a| x.shape[a as usize] as i64).collect();
            let mut starts: Vec<i64> = dims.iter().map(|&dim| pick(dim)).collect();
            let mut ends: Vec<i64> = dims.iter().map(|&dim| pick(dim)).collect();
            let mut steps: Vec<i64> =
                axes.iter().map(|_| *[1, 1, 2, 3, -1, -2].choose(d.rng).expect("non-empty")).collect();
            for i in 0..axes.len() {
                // The whole axis reversed, as models write it (x[::-1]).
                if n == 5 && d.rng.random_bool(0.2) {
                    (starts[i], ends[i], steps[i]) = (-1, i64::MIN, -1);
                }
            }
            let mut inputs = vec![Input::Data(x, Gen::Default), ints(&starts), ints(&ends)];
            let op_axes = (n >= 4).then(|| {
                inputs.push(ints(&axes));
                axes.clone()
            });
            let op_steps = (n == 5).then(|| {
                inputs.push(ints(&steps));
                steps.clone()
            });
            draw(Op::Slice(Slice { starts, ends, axes: op_axes, steps: op_steps }), inputs)
        }
        ("Pad", 2 | 3) => {
            let ranks = if d.rng.random_bool(0.5) { 3..=4 } else { 1..=4 };
            let x = x_type(d, ctx, ranks, 4)?;
            let r = x.shape.len();
            // Most draws of rank >= 3 pad only the spatial axes (by 0 or 1), filling with 0 or
            // -inf, as a Pad folded into a following Conv or pool.
            let spatial = r >= 3 && d.rng.random_bool(0.8);
            let pads: Vec<i64> = (0..2 * r)
                .map(|i| match (spatial, i % r) {
                    (true, 0 | 1) => 0,
                    (true, _) => d.rng.random_range(0..=1),
                    _ => d.rng.random_range(0..=2),
                })
                .collect();
            let value = match (ctx.arity, spatial) {
                (3, true) if x.dtype.is_float() => *[0.0, 0.0, f64::NEG_INFINITY].choose(d.rng)?,
                (3, false) => d.rng.random_range(-3.0..3.0f32) as f64,
                _ => 0.0,
            };
            let mut inputs = vec![Input::Data(x.clone(), Gen::Default), ints(&pads)];
            if ctx.arity == 3 {
                inputs.push(scalar(x.dtype, value));
            }
            draw(Op::Pad(Pad { mode: PadMode::Constant, pads, value, axes: None }), inputs)
        }
        ("Split", 1 | 2) => {
            let x = x_type(d, ctx, 1..=3, 6)?;
            let r = x.shape.len() as i64;
            let axis = d.rng.random_range(-r..r);
            let dim = x.shape[if axis < 0 { axis + r } else { axis } as usize];
            let n_outputs = d.rng.random_range(1..=3);
            let mut inputs = vec![Input::Data(x, Gen::Default)];
            let split = if ctx.arity == 2 {
                if dim < n_outputs {
                    return None;
                }
                let mut sizes = vec![1i64; n_outputs];
                for _ in n_outputs..dim {
                    sizes[d.rng.random_range(0..n_outputs)] += 1;
                }
                inputs.push(ints(&sizes));
                Some(sizes)
            } else {
                if dim % n_outputs != 0 {
                    return None;
                }
                None
            };
            draw(Op::Split(Split { axis, split, num_outputs: None, n_outputs }), inputs)
        }
        ("Cast", 1) => {
            let to = *[DType::F32, DType::I32, DType::I8, DType::U8, DType::I64, DType::F16].choose(d.rng)?;
            let mut x = x_type(d, ctx, 0..=4, 4)?;
            if ctx.typed(0).is_none() && d.rng.random_bool(0.4) {
                x.dtype = *[DType::I32, DType::U8, DType::I8].choose(d.rng)?;
            }
            // Values inside every target's range: out-of-range conversions are undefined in ONNX.
            let gen = Gen::Range(if to == DType::U8 || x.dtype == DType::U8 { 0.0 } else { -100.0 }, 120.0);
            draw(Op::Cast(Cast { to, saturate: None }), vec![Input::Data(x, gen)])
        }
        ("QuantizeLinear", 2 | 3) => {
            let x = x_type(d, ctx, 1..=4, 4)?;
            let r = x.shape.len() as i64;
            let axis = d.rng.random_range(-r..r);
            let per_axis = d.rng.random_bool(0.4).then(|| x.shape[if axis < 0 { axis + r } else { axis } as usize]);
            let zt = *[DType::U8, DType::I8].choose(d.rng)?;
            let s = f32t(per_axis.map_or(vec![], |n| vec![n]));
            let mut inputs = vec![Input::Data(x, Gen::Range(-4.0, 4.0)), Input::Weight(s, Gen::Range(0.01, 0.1))];
            if ctx.arity == 3 {
                inputs.push(zero_point(d, zt, per_axis));
            }
            let op = QuantizeLinear { axis, saturate: true, block_size: 0, output_dtype: None, precision: None };
            draw(Op::QuantizeLinear(op), inputs)
        }
        ("DequantizeLinear", 2 | 3) => {
            let mut x = x_type(d, ctx, 1..=4, 4)?;
            x.dtype = *[DType::U8, DType::I8].choose(d.rng)?;
            let r = x.shape.len() as i64;
            let axis = d.rng.random_range(-r..r);
            let per_axis = d.rng.random_bool(0.4).then(|| x.shape[if axis < 0 { axis + r } else { axis } as usize]);
            let s = f32t(per_axis.map_or(vec![], |n| vec![n]));
            let mut inputs = vec![Input::Data(x.clone(), Gen::Full), Input::Weight(s, Gen::Range(0.01, 0.5))];
            if ctx.arity == 3 {
                inputs.push(zero_point(d, x.dtype, per_axis));
            }
            draw(Op::DequantizeLinear(DequantizeLinear { axis, block_size: 0, output_dtype: None }), inputs)
        }
        ("Shape", 1) => {
            let x = x_type(d, ctx, 0..=4, 4)?;
            let r = x.shape.len() as i64;
            let start = if d.rng.random_bool(0.5) { 0 } else { d.rng.random_range(-r - 1..=r + 1) };
            let end = d.rng.random_bool(0.5).then(|| d.rng.random_range(-r - 1..=r + 1));
            draw(Op::Shape(Shape { start, end }), vec![Input::Data(x, Gen::Default)])
        }
        ("ConstantOfShape", 1) => {
            let rank = d.rng.random_range(0..=3);
            let shape = d.shape(rank, 4);
            let dtype = *[DType::F32, DType::I64, DType::I32].choose(d.rng)?;
            let value = Tensor::from_f64(dtype, vec![1], &[d.rng.random_range(-5..=5) as f64])?;
            let dims: Vec<i64> = shape.iter().map(|&v| v as i64).collect();
            draw(Op::ConstantOfShape(ConstantOfShape { shape, value }), vec![ints(&dims)])
        }
        ("Identity", 1) => draw(Op::Identity(Identity), vec![Input::Data(x_type(d, ctx, 0..=4, 4)?, Gen::Default)]),
        ("Dropout", 1 | 2) => {
            let n_outputs = if d.rng.random_bool(0.5) { 1 } else { 2 };
            let mut inputs = vec![Input::Data(x_type(d, ctx, 0..=4, 4)?, Gen::Default)];
            if ctx.arity == 2 {
                inputs.push(scalar(DType::F32, 0.5));
            }
            draw(Op::Dropout(Dropout { ratio: 0.5, seed: None, legacy_mask: false, n_outputs }), inputs)
        }
        _ => None,
    }
}
