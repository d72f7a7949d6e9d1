//! Per-kernel samplers: a random valid op of one kernel with input types (and the constant
//! operands its attributes were read from) that fit it, in the form the kernel takes at the
//! opset the one-node model is run at. A sampler returns `None` when a draw did not fit (the
//! instance is drawn again).

mod layout;
mod nn;
mod resample;

use super::gen::{Draw, Gen};
use crate::ops::*;
use crate::tensor::{DType, Tensor, TensorType};
use rand::RngExt;

/// What a rule pattern already fixes about a kernel input.
#[derive(Clone, Debug)]
pub(crate) enum Known {
    /// An unbound variable: the sampler decides.
    Free,
    /// The pattern says `absent`.
    Absent,
    /// A sub-pattern (or bound variable) of this type.
    Typed(TensorType),
}

/// One input of a drawn kernel.
#[derive(Clone, Debug)]
pub(crate) enum Input {
    /// Omitted.
    Absent,
    /// A graph input.
    Data(TensorType, Gen),
    /// A weight (a pool constant) with random values.
    Weight(TensorType, Gen),
    /// A constant with these exact values (an operand the op's attributes were read from).
    Fixed(Tensor),
}

/// A drawn kernel.
#[derive(Clone, Debug)]
pub(crate) struct KernelDraw {
    /// The op.
    pub op: Op,
    /// The opset of the one-node model (the op's inputs and attributes depend on it).
    pub opset: i64,
    /// One per input.
    pub inputs: Vec<Input>,
}

/// What the sampler is asked for.
pub(crate) struct Ctx<'a> {
    /// Inputs in the pattern (children after the op).
    pub arity: usize,
    /// What the pattern fixes per input.
    pub known: &'a [Known],
    /// A permutation the op must have (a Transpose op bound by a `perm-inverse` condition).
    pub perm: Option<Vec<i64>>,
    /// Per input, the one value a `lit-eq` condition wants it to hold (Clip's bounds).
    pub lits: &'a [Option<f64>],
}

impl Ctx<'_> {
    fn typed(&self, i: usize) -> Option<&TensorType> {
        match self.known.get(i) {
            Some(Known::Typed(t)) => Some(t),
            _ => None,
        }
    }

    fn absent(&self, i: usize) -> bool {
        matches!(self.known.get(i), Some(Known::Absent))
    }

    fn lit(&self, i: usize) -> Option<f64> {
        self.lits.get(i).copied().flatten()
    }
}

fn f32t(shape: Vec<usize>) -> TensorType {
    TensorType::new(DType::F32, shape)
}

fn ints(v: &[i64]) -> Input {
    Input::Fixed(Tensor::i64(vec![v.len()], v.to_vec()))
}

fn scalar(dtype: DType, v: f64) -> Input {
    Input::Fixed(Tensor::from_f64(dtype, vec![], &[v]).expect("numeric scalar"))
}

fn draw(op: Op, inputs: Vec<Input>) -> Option<KernelDraw> {
    Some(KernelDraw { op, opset: 17, inputs })
}

/// The first input: the pattern's type when it fixes one (with a rank in `ranks`), else a random
/// float tensor.
fn x_type(d: &mut Draw, ctx: &Ctx, ranks: std::ops::RangeInclusive<usize>, max: usize) -> Option<TensorType> {
    match ctx.typed(0) {
        Some(t) if ranks.contains(&t.shape.len()) => Some(t.clone()),
        Some(_) => None,
        None => {
            let rank = d.rng.random_range(ranks);
            Some(f32t(d.shape(rank, max)))
        }
    }
}

fn f32_attr(d: &mut Draw, lo: f64, hi: f64) -> f32 {
    if d.rng.random_bool(0.2) {
        (d.rng.random_range(lo * 4.0..hi * 4.0).round() / 4.0) as f32
    } else {
        d.rng.random_range(lo..hi) as f32
    }
}

/// The kernels with a sampler, and the input counts each sampler handles.
const SAMPLERS: &[(&str, usize, usize)] = &[
    ("Relu", 1, 1),
    ("Sigmoid", 1, 1),
    ("Tanh", 1, 1),
    ("Exp", 1, 1),
    ("Erf", 1, 1),
    ("HardSwish", 1, 1),
    ("Log", 1, 1),
    ("Sqrt", 1, 1),
    ("Reciprocal", 1, 1),
    ("Abs", 1, 1),
    ("Neg", 1, 1),
    ("LeakyRelu", 1, 1),
    ("HardSigmoid", 1, 1),
    ("PRelu", 2, 2),
    ("Add", 2, 2),
    ("Sub", 2, 2),
    ("Mul", 2, 2),
    ("Div", 2, 2),
    ("Pow", 2, 2),
    ("Sum", 1, 3),
    ("Max", 1, 3),
    ("Min", 1, 3),
    ("Clip", 1, 3),
    ("Softmax", 1, 1),
    ("MatMul", 2, 2),
    ("Gemm", 2, 3),
    ("MatMulInteger", 2, 4),
    ("QLinearMatMul", 8, 8),
    ("Conv", 2, 3),
    ("ConvInteger", 2, 4),
    ("QLinearConv", 8, 9),
    ("MaxPool", 1, 1),
    ("AveragePool", 1, 1),
    ("GlobalAveragePool", 1, 1),
    ("BatchNormalization", 5, 5),
    ("LayerNormalization", 2, 3),
    ("ReduceSum", 1, 2),
    ("ReduceMean", 1, 2),
    ("ReduceMax", 1, 2),
    ("Reshape", 2, 2),
    ("Flatten", 1, 1),
    ("Squeeze", 1, 2),
    ("Unsqueeze", 1, 2),
    ("Transpose", 1, 1),
    ("Concat", 2, 3),
    ("Slice", 3, 5),
    ("Pad", 2, 3),
    ("Split", 1, 2),
    ("Cast", 1, 1),
    ("QuantizeLinear", 2, 3),
    ("DequantizeLinear", 2, 3),
    ("Identity", 1, 1),
    ("Dropout", 1, 2),
    ("LRN", 1, 1),
    ("Shape", 1, 1),
    ("ConstantOfShape", 1, 1),
    ("Gather", 2, 2),
    ("ConvTranspose", 2, 3),
    ("Resize", 3, 4),
];

/// Draws one kernel: `Err` when there is no sampler for it, `Ok(None)` when this draw did not fit.
pub(crate) fn sample(name: &str, d: &mut Draw, ctx: &Ctx) -> Result<Option<KernelDraw>, String> {
    if !SAMPLERS.iter().any(|&(n, lo, hi)| n == name && (lo..=hi).contains(&ctx.arity)) {
        return Err(format!("no sampler for {name} with {} inputs", ctx.arity));
    }
    Ok(draw_kernel(name, d, ctx))
}

fn draw_kernel(name: &str, d: &mut Draw, ctx: &Ctx) -> Option<KernelDraw> {
    let unary = |kind| Op::Unary(Unary { kind });
    match (name, ctx.arity) {
        ("Relu" | "Sigmoid" | "Tanh" | "Exp" | "Erf" | "HardSwish", 1) => {
            let kind = match name {
                "Relu" => UnaryKind::Relu,
                "Sigmoid" => UnaryKind::Sigmoid,
                "Tanh" => UnaryKind::Tanh,
                "Exp" => UnaryKind::Exp,
                "Erf" => UnaryKind::Erf,
                _ => UnaryKind::HardSwish,
            };
            let x = x_type(d, ctx, 0..=4, 4)?;
            draw(unary(kind), vec![Input::Data(x, Gen::Range(-6.0, 6.0))])
        }
        ("Log" | "Sqrt" | "Reciprocal", 1) => {
            let kind = match name {
                "Log" => UnaryKind::Log,
                "Sqrt" => UnaryKind::Sqrt,
                _ => UnaryKind::Reciprocal,
            };
            let x = x_type(d, ctx, 0..=4, 4)?;
            let gen = if kind == UnaryKind::Reciprocal { Gen::NonZero } else { Gen::Positive };
            draw(unary(kind), vec![Input::Data(x, gen)])
        }
        ("Abs" | "Neg", 1) => {
            let kind = if name == "Abs" { UnaryKind::Abs } else { UnaryKind::Neg };
            let mut x = x_type(d, ctx, 0..=4, 4)?;
            if ctx.typed(0).is_none() && d.rng.random_bool(0.3) {
                x.dtype = DType::I32;
            }
            draw(unary(kind), vec![Input::Data(x, Gen::Default)])
        }
        ("LeakyRelu", 1) => {
            let alpha = if d.rng.random_bool(0.3) { 0.01 } else { f32_attr(d, -2.0, 2.0) };
            draw(Op::LeakyRelu(LeakyRelu { alpha }), vec![Input::Data(x_type(d, ctx, 0..=4, 4)?, Gen::Default)])
        }
        ("HardSigmoid", 1) => {
            let (alpha, beta) = match d.rng.random_range(0..10) {
                // ONNX's defaults, and HardSwish's (1/6, 1/2).
                0..=2 => (0.2, 0.5),
                3..=4 => (1.0 / 6.0, 0.5),
                _ => (f32_attr(d, -1.0, 1.0), f32_attr(d, -1.0, 1.0)),
            };
            let x = x_type(d, ctx, 0..=4, 4)?;
            draw(Op::HardSigmoid(HardSigmoid { alpha, beta }), vec![Input::Data(x, Gen::Range(-6.0, 6.0))])
        }
        ("PRelu", 2) => {
            let x = x_type(d, ctx, 1..=4, 4)?;
            let slope = f32t(d.broadcastable(&x.shape));
            draw(
                Op::Binary(Binary::new(BinaryKind::PRelu)),
                vec![Input::Data(x, Gen::Default), Input::Weight(slope, Gen::Default)],
            )
        }
        ("Add" | "Sub" | "Mul" | "Div" | "Pow", 2) => {
            let kind = match name {
                "Add" => BinaryKind::Add,
                "Sub" => BinaryKind::Sub,
                "Mul" => BinaryKind::Mul,
                "Div" => BinaryKind::Div,
                _ => BinaryKind::Pow,
            };
            let mut a = x_type(d, ctx, 0..=4, 4)?;
            if ctx.typed(0).is_none() && kind != BinaryKind::Pow && d.rng.random_bool(0.3) {
                a.dtype = DType::I32;
            }
            let b = TensorType::new(a.dtype, d.broadcastable(&a.shape));
            let (ga, gb) = match kind {
                BinaryKind::Div => (Gen::Default, Gen::NonZero),
                BinaryKind::Pow => (Gen::Positive, Gen::Range(-2.0, 2.0)),
                _ => (Gen::Default, Gen::Default),
            };
            let (a, b) = if d.rng.random_bool(0.5) || ctx.typed(0).is_some() { (a, b) } else { (b, a) };
            draw(Op::Binary(Binary::new(kind)), vec![Input::Data(a, ga), Input::Data(b, gb)])
        }
        ("Sum" | "Max" | "Min", n @ 1..=3) => {
            let kind = match name {
                "Sum" => VariadicKind::Sum,
                "Max" => VariadicKind::Max,
                _ => VariadicKind::Min,
            };
            let a = x_type(d, ctx, 0..=4, 4)?;
            let mut inputs = vec![Input::Data(a.clone(), Gen::Default)];
            for _ in 1..n {
                inputs.push(Input::Data(f32t(d.broadcastable(&a.shape)), Gen::Default));
            }
            draw(Op::Variadic(Variadic { kind }), inputs)
        }
        ("Clip", n @ 1..=3) => {
            let x = x_type(d, ctx, 0..=4, 4)?;
            let lo = ctx.lit(1).unwrap_or_else(|| d.rng.random_range(-2.0..1.0f32) as f64);
            let hi = ctx.lit(2).unwrap_or_else(|| lo + d.rng.random_range(0.0..2.5f32) as f64);
            let mut clip = Clip { min: None, max: None };
            let mut inputs = vec![Input::Data(x, Gen::Default)];
            if n >= 2 {
                let present = !ctx.absent(1) && (n == 2 || d.rng.random_bool(0.8));
                clip.min = present.then_some(lo);
                inputs.push(if present { scalar(DType::F32, lo) } else { Input::Absent });
            }
            if n == 3 {
                let present = !ctx.absent(2) && d.rng.random_bool(0.8);
                clip.max = present.then_some(hi);
                inputs.push(if present { scalar(DType::F32, hi) } else { Input::Absent });
            }
            draw(Op::Clip(clip), inputs)
        }
        ("Softmax", 1) => {
            let x = x_type(d, ctx, 1..=4, 5)?;
            let r = x.shape.len() as i64;
            let legacy = d.rng.random_bool(0.25);
            let axis = d.rng.random_range(-r..r);
            let op = Op::Softmax(Softmax { axis, flatten_trailing: legacy });
            Some(KernelDraw {
                op,
                opset: if legacy { 12 } else { 17 },
                inputs: vec![Input::Data(x, Gen::Range(-8.0, 8.0))],
            })
        }
        ("MatMul" | "Gemm" | "MatMulInteger" | "QLinearMatMul" | "Conv" | "ConvInteger" | "QLinearConv", _)
        | ("MaxPool" | "AveragePool" | "GlobalAveragePool" | "BatchNormalization" | "LayerNormalization" | "LRN", _) => {
            nn::sample_one(name, d, ctx)
        }
        ("Gather" | "Resize" | "ConvTranspose", _) => resample::sample_one(name, d, ctx),
        _ => layout::sample_one(name, d, ctx),
    }
}
