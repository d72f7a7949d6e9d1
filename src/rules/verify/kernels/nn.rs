//! Samplers of the contraction, convolution, pooling and normalization kernels.

use super::{draw, f32_attr, f32t, x_type, Ctx, Input, KernelDraw};
use crate::ops::*;
use crate::rules::verify::gen::{Draw, Gen};
use crate::tensor::{DType, Tensor, TensorType};
use rand::seq::IndexedRandom;
use rand::RngExt;

/// Draws one of this file's kernels.
pub(super) fn sample_one(name: &str, d: &mut Draw, ctx: &Ctx) -> Option<KernelDraw> {
    match (name, ctx.arity) {
        ("MatMul", 2) => {
            let (a, b) = matmul_shapes(d, ctx, DType::F32)?;
            draw(Op::MatMul(MatMul), vec![Input::Data(a, Gen::Default), weight_or_data(d, b)])
        }
        ("Gemm", 2 | 3) => {
            let (m, k, n) = (d.rng.random_range(1..5), d.rng.random_range(1..6), d.rng.random_range(1..5));
            let g = Gemm {
                alpha: if d.rng.random_bool(0.5) { 1.0 } else { f32_attr(d, -2.0, 2.0) },
                beta: if d.rng.random_bool(0.5) { 1.0 } else { f32_attr(d, -2.0, 2.0) },
                trans_a: d.rng.random_bool(0.3),
                trans_b: d.rng.random_bool(0.5),
            };
            let a = f32t(if g.trans_a { vec![k, m] } else { vec![m, k] });
            let b = f32t(if g.trans_b { vec![n, k] } else { vec![k, n] });
            let mut inputs = vec![Input::Data(a, Gen::Default), weight_or_data(d, b)];
            if ctx.arity == 3 {
                let c = [vec![m, n], vec![n], vec![1], vec![m, 1], vec![]].choose(d.rng).expect("non-empty").clone();
                inputs.push(if ctx.absent(2) { Input::Absent } else { Input::Weight(f32t(c), Gen::Default) });
            }
            draw(Op::Gemm(g), inputs)
        }
        ("MatMulInteger", n @ 2..=4) => {
            let (at, bt) = (*[DType::U8, DType::I8].choose(d.rng)?, *[DType::U8, DType::I8].choose(d.rng)?);
            let (a, b) = matmul_shapes(d, &Ctx { arity: 2, known: &[], perm: None, lits: &[] }, at)?;
            let b = TensorType::new(bt, b.shape);
            let mut inputs = vec![Input::Data(a.clone(), Gen::Full), Input::Weight(b.clone(), Gen::Full)];
            if n >= 3 {
                let rows = (a.shape.len() >= 2 && d.rng.random_bool(0.4)).then(|| a.shape[a.shape.len() - 2]);
                inputs.push(zero_point(d, at, rows));
            }
            if n == 4 {
                let cols = (b.shape.len() >= 2 && d.rng.random_bool(0.4)).then(|| b.shape[b.shape.len() - 1]);
                inputs.push(zero_point(d, bt, cols));
            }
            draw(Op::MatMulInteger(MatMulInteger), inputs)
        }
        ("QLinearMatMul", 8) => {
            let (at, bt, yt) = (
                *[DType::U8, DType::I8].choose(d.rng)?,
                *[DType::U8, DType::I8].choose(d.rng)?,
                *[DType::U8, DType::I8].choose(d.rng)?,
            );
            let (m, k, n) = (d.rng.random_range(1..5), d.rng.random_range(1..7), d.rng.random_range(1..5));
            let scale = || Input::Weight(f32t(vec![]), Gen::Range(0.005, 0.05));
            let inputs = vec![
                Input::Data(TensorType::new(at, vec![m, k]), Gen::Full),
                scale(),
                zero_point(d, at, None),
                Input::Weight(TensorType::new(bt, vec![k, n]), Gen::Full),
                scale(),
                zero_point(d, bt, None),
                Input::Weight(f32t(vec![]), Gen::Range(0.05, 0.5)),
                zero_point(d, yt, None),
            ];
            draw(Op::QLinearMatMul(QLinearMatMul), inputs)
        }
        ("Conv", 2 | 3) => {
            let (attrs, x, w) = conv_shapes(d, ctx, true)?;
            let m = w.shape[0];
            let mut inputs = vec![Input::Data(x, Gen::Default), Input::Weight(f32t(w.shape), Gen::Default)];
            if ctx.arity == 3 {
                inputs.push(Input::Weight(f32t(vec![m]), Gen::Default));
            }
            draw(Op::Conv(Conv { attrs }), inputs)
        }
        ("ConvInteger", n @ 2..=4) => {
            let (attrs, x, w) = conv_shapes(d, ctx, false)?;
            let (xt, wt) = (*[DType::U8, DType::I8].choose(d.rng)?, *[DType::U8, DType::I8].choose(d.rng)?);
            let m = w.shape[0];
            let mut inputs = vec![
                Input::Data(TensorType::new(xt, x.shape), Gen::Full),
                Input::Weight(TensorType::new(wt, w.shape), Gen::Full),
            ];
            if n >= 3 {
                inputs.push(zero_point(d, xt, None));
            }
            if n == 4 {
                let per_channel = d.rng.random_bool(0.4).then_some(m);
                inputs.push(zero_point(d, wt, per_channel));
            }
            draw(Op::ConvInteger(ConvInteger { attrs }), inputs)
        }
        ("QLinearConv", 8 | 9) => {
            let (attrs, x, w) = conv_shapes(d, ctx, false)?;
            let (xt, yt) = (*[DType::U8, DType::I8].choose(d.rng)?, *[DType::U8, DType::I8].choose(d.rng)?);
            let m = w.shape[0];
            let per_channel = d.rng.random_bool(0.4);
            let w_scale = f32t(if per_channel { vec![m] } else { vec![] });
            let mut inputs = vec![
                Input::Data(TensorType::new(xt, x.shape), Gen::Full),
                Input::Weight(f32t(vec![]), Gen::Range(0.005, 0.05)),
                zero_point(d, xt, None),
                Input::Weight(TensorType::new(DType::I8, w.shape), Gen::Full),
                Input::Weight(w_scale, Gen::Range(0.005, 0.05)),
                Input::Fixed(Tensor::zeros(DType::I8, if per_channel { vec![m] } else { vec![] })),
                Input::Weight(f32t(vec![]), Gen::Range(0.05, 0.5)),
                zero_point(d, yt, None),
            ];
            if ctx.arity == 9 {
                inputs.push(Input::Weight(TensorType::new(DType::I32, vec![m]), Gen::Ints(-500, 500)));
            }
            draw(Op::QLinearConv(QLinearConv { attrs }), inputs)
        }
        ("MaxPool" | "AveragePool", 1) => pool(d, ctx, name == "MaxPool"),
        ("GlobalAveragePool", 1) => {
            let x = x_type(d, ctx, 3..=4, 5)?;
            draw(Op::GlobalPool(GlobalPool { kind: PoolKind::Average }), vec![Input::Data(x, Gen::Default)])
        }
        ("BatchNormalization", 5) => {
            let x = x_type(d, ctx, 2..=4, 4)?;
            let c = f32t(vec![x.shape[1]]);
            let epsilon = *[1e-5f32, 1e-3, 0.1].choose(d.rng)?;
            let op = Op::BatchNorm(BatchNorm { epsilon, momentum: 0.9, spatial: true });
            let stats = [Gen::Default, Gen::Default, Gen::Default, Gen::Positive];
            let mut inputs = vec![Input::Data(x, Gen::Default)];
            inputs.extend(stats.into_iter().map(|g| Input::Weight(c.clone(), g)));
            draw(op, inputs)
        }
        ("LayerNormalization", 2 | 3) => {
            let x = x_type(d, ctx, 1..=4, 5)?;
            let r = x.shape.len() as i64;
            let axis = d.rng.random_range(-r..r);
            let a = if axis < 0 { axis + r } else { axis } as usize;
            let n_outputs = if d.rng.random_bool(0.1) { 3 } else { 1 };
            let epsilon = *[1e-5f32, 1e-3].choose(d.rng)?;
            let op = Op::LayerNorm(LayerNorm { axis, epsilon, stash_type: DType::F32, n_outputs });
            let mut inputs =
                vec![Input::Data(x.clone(), Gen::Default), Input::Weight(f32t(x.shape[a..].to_vec()), Gen::Default)];
            if ctx.arity == 3 {
                inputs.push(Input::Weight(f32t(d.broadcastable(&x.shape[a..])), Gen::Default));
            }
            draw(op, inputs)
        }
        ("LRN", 1) => {
            let x = x_type(d, ctx, 3..=4, 5)?;
            let l = Lrn {
                size: d.rng.random_range(1..=5),
                alpha: f32_attr(d, 1e-4, 1.0),
                beta: f32_attr(d, 0.5, 1.0),
                bias: f32_attr(d, 1.0, 2.0),
            };
            draw(Op::Lrn(l), vec![Input::Data(x, Gen::Default)])
        }
        _ => None,
    }
}

/// A weight half the time (weights go into the one-node model as initializers).
fn weight_or_data(d: &mut Draw, t: TensorType) -> Input {
    if d.rng.random_bool(0.5) {
        Input::Weight(t, Gen::Default)
    } else {
        Input::Data(t, Gen::Default)
    }
}

/// A zero point: a scalar (shape `[]` or `[1]`), or one per row/column/channel when `per` is given.
pub(super) fn zero_point(d: &mut Draw, dtype: DType, per: Option<usize>) -> Input {
    let shape = match per {
        Some(n) => vec![n],
        None if d.rng.random_bool(0.3) => vec![1],
        None => vec![],
    };
    let gen = if dtype == DType::U8 { Gen::Ints(100, 150) } else { Gen::Ints(-20, 20) };
    Input::Weight(TensorType::new(dtype, shape), gen)
}

/// Shapes of a MatMul (ranks 1 to 3, batch axes equal where both have them).
fn matmul_shapes(d: &mut Draw, ctx: &Ctx, dtype: DType) -> Option<(TensorType, TensorType)> {
    let a = match ctx.typed(0) {
        Some(t) if !t.shape.is_empty() => t.shape.clone(),
        Some(_) => return None,
        None => {
            let rank = *[1, 2, 2, 3].choose(d.rng)?;
            d.shape(rank, 4)
        }
    };
    let k = *a.last()?;
    // Two vectors are a valid ONNX MatMul that tract refuses.
    let rb = if a.len() == 1 { *[2, 2, 3].choose(d.rng)? } else { *[1, 2, 2, 3].choose(d.rng)? };
    let b = match rb {
        1 => vec![k],
        2 => vec![k, d.rng.random_range(1..5)],
        _ => {
            let batch = if a.len() == 3 { a[0] } else { d.rng.random_range(1..4) };
            vec![batch, k, d.rng.random_range(1..5)]
        }
    };
    let dtype = ctx.typed(0).map_or(dtype, |t| t.dtype);
    Some((TensorType::new(dtype, a), TensorType::new(dtype, b)))
}

/// Window attributes of a convolution with x and w shapes that fit them.
fn conv_shapes(d: &mut Draw, ctx: &Ctx, groups: bool) -> Option<(ConvAttrs, TensorType, TensorType)> {
    let s = match ctx.typed(0) {
        Some(t) if (3..=4).contains(&t.shape.len()) => t.shape.len() - 2,
        Some(_) => return None,
        None => *[1, 2, 2, 2].choose(d.rng)?,
    };
    let x = match ctx.typed(0) {
        Some(t) => t.shape.clone(),
        None => {
            let mut x = vec![d.rng.random_range(1..=2), d.rng.random_range(1..=4)];
            x.extend(d.shape(s, 7).iter().map(|v| v + 2));
            x
        }
    };
    let c = x[1];
    let group =
        if groups && c > 1 && d.rng.random_bool(0.4) { *[c, (2..=c).find(|g| c % g == 0)?].choose(d.rng)? } else { 1 };
    let m = group * d.rng.random_range(1..=3);
    let kernel: Vec<usize> = (0..s).map(|_| d.rng.random_range(1..=3)).collect();
    let mut attrs = ConvAttrs { group, ..ConvAttrs::default() };
    let pick = |d: &mut Draw, hi: usize| (0..s).map(|_| d.rng.random_range(1..=hi)).collect::<Vec<_>>();
    if d.rng.random_bool(0.4) {
        attrs.strides = pick(d, 2);
    }
    if d.rng.random_bool(0.3) {
        attrs.dilations = pick(d, 2);
    }
    match d.rng.random_range(0..8) {
        0 => attrs.auto_pad = AutoPad::SameUpper,
        1 => attrs.auto_pad = AutoPad::SameLower,
        2 => attrs.auto_pad = AutoPad::Valid,
        3..=5 => attrs.pads = (0..2 * s).map(|_| d.rng.random_range(0..=2)).collect(),
        _ => {}
    }
    if d.rng.random_bool(0.3) {
        attrs.kernel_shape = Some(kernel.clone());
    }
    let mut w = vec![m, c / group];
    w.extend(&kernel);
    let (xt, wt) = (f32t(x), f32t(w));
    Op::Conv(Conv { attrs: attrs.clone() }).infer(&[Some(&xt), Some(&wt)]).ok()?;
    Some((attrs, xt, wt))
}

/// A MaxPool or AveragePool with an input that fits it.
fn pool(d: &mut Draw, ctx: &Ctx, max: bool) -> Option<KernelDraw> {
    let x = x_type(d, ctx, 3..=4, 6)?;
    let s = x.shape.len() - 2;
    let kernel: Vec<usize> = (0..s).map(|_| d.rng.random_range(1..=3)).collect();
    let mut window = ConvAttrs { kernel_shape: Some(kernel.clone()), group: 1, ..ConvAttrs::default() };
    if d.rng.random_bool(0.5) {
        window.strides = (0..s).map(|_| d.rng.random_range(1..=3)).collect();
    }
    if max && d.rng.random_bool(0.3) {
        window.dilations = (0..s).map(|_| d.rng.random_range(1..=2)).collect();
    }
    match d.rng.random_range(0..6) {
        0 => window.auto_pad = AutoPad::SameUpper,
        1 => window.auto_pad = AutoPad::Valid,
        2..=3 => {
            let pads: Vec<usize> = (0..2 * s).map(|i| d.rng.random_range(0..kernel[i % s])).collect();
            window.pads = if pads.iter().all(|&p| p == 0) { Vec::new() } else { pads };
        }
        _ => {}
    }
    let n_outputs = if max && d.rng.random_bool(0.1) { 2 } else { 1 };
    let kind = if max { PoolKind::Max } else { PoolKind::Average };
    let p = Pool {
        kind,
        window,
        ceil_mode: d.rng.random_bool(0.3),
        count_include_pad: !max && d.rng.random_bool(0.5),
        column_major: false,
        n_outputs,
    };
    let op = Op::Pool(p);
    op.infer(&[Some(&x)]).ok()?;
    Some(KernelDraw { op, opset: 17, inputs: vec![Input::Data(x, Gen::Default)] })
}
