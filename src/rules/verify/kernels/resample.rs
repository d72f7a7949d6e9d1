//! Samplers of the index-moving kernels: Gather, Resize and ConvTranspose.

use super::{draw, x_type, Ctx, Input, KernelDraw};
use crate::ops::*;
use crate::rules::verify::gen::{Draw, Gen};
use crate::tensor::{DType, Tensor, TensorType};
use rand::seq::IndexedRandom;
use rand::RngExt;

/// Draws one of this file's kernels.
pub(super) fn sample_one(name: &str, d: &mut Draw, ctx: &Ctx) -> Option<KernelDraw> {
    match (name, ctx.arity) {
        ("Gather", 2) => {
            let x = x_type(d, ctx, 1..=4, 4)?;
            let r = x.shape.len() as i64;
            let axis = d.rng.random_range(-r..r);
            let dim = x.shape[norm_axis(axis, x.shape.len()).ok()?] as i64;
            let rank = d.rng.random_range(0..=2);
            let dtype = *[DType::I32, DType::I64].choose(d.rng)?;
            let indices = TensorType::new(dtype, d.shape(rank, 3));
            let op = Op::Gather(Gather { axis });
            draw(op, vec![Input::Data(x, Gen::Default), Input::Weight(indices, Gen::Ints(-dim, dim - 1))])
        }
        ("Resize", 3 | 4) => resize(d, ctx),
        ("ConvTranspose", 2 | 3) => conv_transpose(d, ctx),
        _ => None,
    }
}

/// A rank-4 Resize of the spatial axes: nearest (every nearest_mode) or linear, each
/// coordinate_transformation_mode tract runs (not tf_crop_and_resize), by scales (3 inputs) or
/// sizes (4 inputs), sometimes with `axes` and a keep_aspect_ratio_policy (opset 18).
fn resize(d: &mut Draw, ctx: &Ctx) -> Option<KernelDraw> {
    let x = vec![
        d.rng.random_range(1..=2),
        d.rng.random_range(1..=3),
        d.rng.random_range(1..=5),
        d.rng.random_range(1..=5),
    ];
    let mode = *[ResizeMode::Nearest, ResizeMode::Linear].choose(d.rng)?;
    let coordinate_mode = *[
        CoordinateMode::HalfPixel,
        CoordinateMode::PytorchHalfPixel,
        CoordinateMode::AlignCorners,
        CoordinateMode::Asymmetric,
        CoordinateMode::HalfPixelSymmetric,
    ]
    .choose(d.rng)?;
    let nearest_mode =
        *[NearestMode::RoundPreferFloor, NearestMode::RoundPreferCeil, NearestMode::Floor, NearestMode::Ceil]
            .choose(d.rng)?;
    let mut opset = if coordinate_mode == CoordinateMode::HalfPixelSymmetric { 19 } else { 17 };
    let with_axes = d.rng.random_bool(0.25);
    if with_axes {
        opset = opset.max(18);
    }
    let resized = |v: [f64; 2], whole: f64| if with_axes { v.to_vec() } else { vec![whole, whole, v[0], v[1]] };
    let empty = || Input::Fixed(Tensor::from_f64(DType::F32, vec![0], &[]).expect("f32"));
    let (mut scales, mut sizes, mut policy) = (None, None, AspectPolicy::Stretch);
    let mut inputs = vec![Input::Data(TensorType::new(DType::F32, x.clone()), Gen::Default), empty()];
    if ctx.arity == 3 {
        let pick = [0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 1.7];
        let s: Vec<f32> =
            resized([*pick.choose(d.rng)?, *pick.choose(d.rng)?], 1.0).iter().map(|&v| v as f32).collect();
        let v: Vec<f64> = s.iter().map(|&v| v as f64).collect();
        inputs.push(Input::Fixed(Tensor::from_f64(DType::F32, vec![s.len()], &v)?));
        scales = Some(s);
    } else {
        let v = resized([d.rng.random_range(1..=8) as f64, d.rng.random_range(1..=8) as f64], 0.0);
        let v: Vec<i64> = v.iter().enumerate().map(|(i, &s)| if s == 0.0 { x[i] as i64 } else { s as i64 }).collect();
        if d.rng.random_bool(0.3) {
            policy = *[AspectPolicy::NotLarger, AspectPolicy::NotSmaller].choose(d.rng)?;
            opset = opset.max(18);
        }
        inputs.push(empty());
        inputs.push(Input::Fixed(Tensor::i64(vec![v.len()], v.clone())));
        sizes = Some(v);
    }
    let op = Op::Resize(Resize {
        mode,
        coordinate_mode,
        nearest_mode,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        antialias: false,
        axes: with_axes.then(|| if d.rng.random_bool(0.5) { vec![2, 3] } else { vec![-2, -1] }),
        keep_aspect_ratio_policy: policy,
        roi: None,
        scales,
        sizes,
    });
    let out = op.infer(&[Some(&TensorType::new(DType::F32, x))]).ok()?;
    if out[0].shape.contains(&0) {
        return None;
    }
    Some(KernelDraw { op, opset, inputs })
}

/// A ConvTranspose with 1 to 3 spatial axes, explicit pads (sometimes VALID), strides,
/// dilations, output_padding below the stride or the dilation, and group 1 or more.
fn conv_transpose(d: &mut Draw, ctx: &Ctx) -> Option<KernelDraw> {
    let n = *[1, 2, 2, 2, 3].choose(d.rng)?;
    let group = *[1, 1, 1, 2, 3].choose(d.rng)?;
    let (c, m) = (group * d.rng.random_range(1..=2), group * d.rng.random_range(1..=2));
    let mut x = vec![d.rng.random_range(1..=2), c];
    let mut w = vec![c, m / group];
    let (mut strides, mut dilations, mut pads, mut out_pad) = (vec![], vec![], vec![0; 2 * n], vec![]);
    for i in 0..n {
        x.push(d.rng.random_range(1..=if n == 3 { 3 } else { 5 }));
        let k = d.rng.random_range(1..=3);
        w.push(k);
        let (s, dl) = (d.rng.random_range(1..=3), *[1, 1, 2].choose(d.rng)?);
        strides.push(s);
        dilations.push(dl);
        pads[i] = d.rng.random_range(0..=2);
        pads[n + i] = d.rng.random_range(0..=2);
        out_pad.push(if d.rng.random_bool(0.3) { d.rng.random_range(0..s.max(dl)) } else { 0 });
    }
    let valid = d.rng.random_bool(0.15);
    let attrs = ConvAttrs {
        kernel_shape: d.rng.random_bool(0.3).then(|| w[2..].to_vec()),
        strides: if strides.iter().all(|&s| s == 1) && d.rng.random_bool(0.5) { vec![] } else { strides },
        pads: if valid { vec![] } else { pads },
        dilations: if dilations.iter().all(|&v| v == 1) { vec![] } else { dilations },
        group,
        auto_pad: if valid { AutoPad::Valid } else { AutoPad::NotSet },
    };
    let output_padding = if out_pad.iter().all(|&v| v == 0) { vec![] } else { out_pad };
    let op = Op::ConvTranspose(ConvTranspose { attrs, output_padding, output_shape: None });
    let x = TensorType::new(DType::F32, x);
    op.infer(&[Some(&x), Some(&TensorType::new(DType::F32, w.clone()))]).ok()?;
    let mut inputs = vec![Input::Data(x, Gen::Default), Input::Weight(TensorType::new(DType::F32, w), Gen::Default)];
    if ctx.arity == 3 {
        inputs.push(Input::Weight(TensorType::new(DType::F32, vec![m]), Gen::Default));
    }
    draw(op, inputs)
}
