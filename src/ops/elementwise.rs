//! Elementwise operators: unary math and activations, broadcasting binary ops, variadic
//! Sum/Max/Min, Clip, LeakyRelu, HardSigmoid, Cast, and Softmax (a row-wise normalization).

use super::parse::push;
use super::{broadcast_shapes, input, norm_axis, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{DType, Tensor, TensorType};
use crate::work::{Counter, OpClass};

/// Unary elementwise functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryKind {
    /// `|x|`.
    Abs,
    /// `-x`.
    Neg,
    /// `√x`.
    Sqrt,
    /// `eˣ`.
    Exp,
    /// `ln x`.
    Log,
    /// The error function.
    Erf,
    /// `1/x`.
    Reciprocal,
    /// `max(x, 0)`.
    Relu,
    /// `1/(1+e⁻ˣ)`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
    /// `x·max(0, min(1, x/6 + 1/2))` (opset 14).
    HardSwish,
    /// `x/2·(1 + erf(x/√2))` (Gelu, opset 20, `approximate = "none"`).
    Gelu,
    /// `x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (Gelu, opset 20, `approximate = "tanh"`).
    GeluTanh,
}

impl UnaryKind {
    fn from_onnx(op_type: &str) -> Option<UnaryKind> {
        Some(match op_type {
            "Abs" => UnaryKind::Abs,
            "Neg" => UnaryKind::Neg,
            "Sqrt" => UnaryKind::Sqrt,
            "Exp" => UnaryKind::Exp,
            "Log" => UnaryKind::Log,
            "Erf" => UnaryKind::Erf,
            "Reciprocal" => UnaryKind::Reciprocal,
            "Relu" => UnaryKind::Relu,
            "Sigmoid" => UnaryKind::Sigmoid,
            "Tanh" => UnaryKind::Tanh,
            "HardSwish" => UnaryKind::HardSwish,
            "Gelu" => UnaryKind::Gelu,
            _ => return None,
        })
    }

    /// The ONNX op_type.
    pub fn onnx_name(self) -> &'static str {
        match self {
            UnaryKind::Abs => "Abs",
            UnaryKind::Neg => "Neg",
            UnaryKind::Sqrt => "Sqrt",
            UnaryKind::Exp => "Exp",
            UnaryKind::Log => "Log",
            UnaryKind::Erf => "Erf",
            UnaryKind::Reciprocal => "Reciprocal",
            UnaryKind::Relu => "Relu",
            UnaryKind::Sigmoid => "Sigmoid",
            UnaryKind::Tanh => "Tanh",
            UnaryKind::HardSwish => "HardSwish",
            UnaryKind::Gelu | UnaryKind::GeluTanh => "Gelu",
        }
    }

    /// The first default-domain opset that has this function as an op.
    pub fn since(self) -> i64 {
        match self {
            UnaryKind::HardSwish => 14,
            UnaryKind::Gelu | UnaryKind::GeluTanh => 20,
            _ => 1,
        }
    }
}

/// A unary elementwise op.
#[derive(Clone, Debug, PartialEq)]
pub struct Unary {
    /// Which function.
    pub kind: UnaryKind,
}

impl Operator for Unary {
    fn parse(p: &Parser) -> OpResult<Self> {
        let kind = UnaryKind::from_onnx(p.op_type).ok_or_else(|| OpError::Unsupported(p.op_type.into()))?;
        if kind != UnaryKind::Gelu {
            return Ok(Unary { kind });
        }
        match p.string("approximate", "none")?.as_str() {
            "none" => Ok(Unary { kind }),
            "tanh" => Ok(Unary { kind: UnaryKind::GeluTanh }),
            other => Err(OpError::BadAttr {
                name: "approximate".into(),
                cause: format!("'{other}' is neither none nor tanh"),
            }),
        }
    }
    fn onnx_name(&self) -> &str {
        self.kind.onnx_name()
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Ok(vec![input(inputs, 0)?.clone()])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        match self.kind {
            UnaryKind::GeluTanh => vec![("approximate".into(), Attr::String(b"tanh".to_vec()))],
            _ => Vec::new(),
        }
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        let f: fn(f64) -> f64 = match self.kind {
            UnaryKind::Abs => f64::abs,
            UnaryKind::Neg => |v| -v,
            UnaryKind::Relu => |v| v.max(0.0),
            _ => return None, // transcendental: not needed for shape folding
        };
        let values: Vec<f64> = x.to_f64_vec()?.into_iter().map(f).collect();
        Some(Ok(vec![Tensor::from_f64(x.dtype, x.shape.clone(), &values)?]))
    }
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        match self.kind {
            UnaryKind::Abs | UnaryKind::Neg => c.on(dt, OpClass::Add, n),
            UnaryKind::Relu => c.on(dt, OpClass::Compare, n),
            UnaryKind::Sqrt | UnaryKind::Reciprocal => c.on(dt, OpClass::Divide, n),
            UnaryKind::Exp | UnaryKind::Log | UnaryKind::Erf | UnaryKind::Sigmoid | UnaryKind::Tanh => {
                c.on(dt, OpClass::Transcendental, n)
            }
            // x/2 * (1 + erf(x/√2)) or its tanh form: one transcendental, three multiplies, an add
            UnaryKind::Gelu | UnaryKind::GeluTanh => {
                c.on(dt, OpClass::Transcendental, n);
                c.on(dt, OpClass::Mul, 3 * n);
                c.on(dt, OpClass::Add, n);
            }
            // x * clip(x/6 + 1/2, 0, 1)
            UnaryKind::HardSwish => {
                c.on(dt, OpClass::Fma, n);
                c.on(dt, OpClass::Mul, n);
                c.on(dt, OpClass::Compare, 2 * n);
            }
        }
    }
}

/// Broadcasting binary ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryKind {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a · b`.
    Mul,
    /// `a / b`.
    Div,
    /// `aᵇ`.
    Pow,
    /// `a` if `a ≥ 0`, else `a · b` (slope).
    PRelu,
}

/// A broadcasting binary op.
#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    /// Which op.
    pub kind: BinaryKind,
    /// Opset < 7 semantics, when the node uses them.
    pub legacy: Option<LegacyBroadcast>,
}

/// Opset < 7 broadcasting: `B` is broadcast onto `A` with its first axis aligned to `axis` of
/// `A` (suffix-aligned when `axis` is absent), and the output has `A`'s shape.
#[derive(Clone, Debug, PartialEq)]
pub struct LegacyBroadcast {
    /// Axis of `A` that `B`'s first axis lines up with.
    pub axis: Option<i64>,
    /// Whether the node states it with `broadcast=1` (PRelu-6 implies it).
    pub attribute: bool,
}

impl LegacyBroadcast {
    /// `B`'s shape padded with trailing ones so numpy broadcasting lines it up with `axis`.
    fn aligned(&self, a: &[usize], b: &[usize]) -> OpResult<Vec<usize>> {
        let Some(axis) = self.axis else { return Ok(b.to_vec()) };
        let axis = norm_axis(axis, a.len())?;
        let trailing = a.len().checked_sub(axis + b.len()).ok_or_else(|| {
            OpError::Type(format!("legacy broadcast of {:?} onto {:?} at axis {axis} overruns", b, a))
        })?;
        Ok(b.iter().copied().chain(std::iter::repeat_n(1, trailing)).collect())
    }
}

impl Operator for Binary {
    fn parse(p: &Parser) -> OpResult<Self> {
        let kind = match p.op_type {
            "Add" => BinaryKind::Add,
            "Sub" => BinaryKind::Sub,
            "Mul" => BinaryKind::Mul,
            "Div" => BinaryKind::Div,
            "Pow" => BinaryKind::Pow,
            "PRelu" => BinaryKind::PRelu,
            other => return Err(OpError::Unsupported(other.into())),
        };
        let legacy = if p.opset >= 7 {
            None
        } else if kind == BinaryKind::PRelu {
            // PRelu-6 applies a one-dimensional slope per channel.
            let slope_rank = p.input(1).and_then(|i| i.ty).map(|t| t.shape.len());
            let x_rank = p.input(0).and_then(|i| i.ty).map(|t| t.shape.len());
            let per_channel = slope_rank == Some(1) && x_rank.is_some_and(|r| r >= 2);
            Some(LegacyBroadcast { axis: per_channel.then_some(1), attribute: false })
        } else if p.int("broadcast", 0)? != 0 {
            Some(LegacyBroadcast { axis: p.int_opt("axis")?, attribute: true })
        } else {
            None
        };
        Ok(Binary { kind, legacy })
    }
    fn onnx_name(&self) -> &str {
        match self.kind {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
            BinaryKind::Pow => "Pow",
            BinaryKind::PRelu => "PRelu",
        }
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        let shape = broadcast_shapes(&a.shape, &self.b_shape(&a.shape, &b.shape)?)?;
        if self.legacy.is_some() && shape != a.shape {
            return Err(OpError::Type(format!(
                "legacy broadcast of {:?} onto {:?} changes the shape",
                b.shape, a.shape
            )));
        }
        if self.kind != BinaryKind::Pow && a.dtype != b.dtype {
            return Err(OpError::Type(format!("operands have different types ({} and {})", a.dtype, b.dtype)));
        }
        Ok(vec![TensorType::new(a.dtype, shape)])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if let Some(LegacyBroadcast { axis, attribute: true }) = &self.legacy {
            if opset < 7 {
                push(&mut attrs, "broadcast", Attr::Int(1));
                if let Some(axis) = axis {
                    push(&mut attrs, "axis", Attr::Int(*axis));
                }
            }
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let (a, b) = (inputs.first().copied().flatten()?, inputs.get(1).copied().flatten()?);
        let b_shape = match self.b_shape(&a.shape, &b.shape) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let b = &b.clone().reshaped(b_shape);
        let shape = match broadcast_shapes(&a.shape, &b.shape) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        if a.dtype.is_integer() {
            let (x, y) =
                (broadcast_to(&a.to_i64_vec()?, &a.shape, &shape), broadcast_to(&b.to_i64_vec()?, &b.shape, &shape));
            let op: fn(i64, i64) -> Option<i64> = match self.kind {
                BinaryKind::Add => |p, q| Some(p.wrapping_add(q)),
                BinaryKind::Sub => |p, q| Some(p.wrapping_sub(q)),
                BinaryKind::Mul => |p, q| Some(p.wrapping_mul(q)),
                // Integer division truncates toward zero in ONNX's reference as in C.
                BinaryKind::Div => |p, q| p.checked_div(q),
                _ => return None,
            };
            let values: Option<Vec<i64>> = x.iter().zip(&y).map(|(&p, &q)| op(p, q)).collect();
            return match values {
                Some(v) => Some(Ok(vec![Tensor::from_i64(a.dtype, shape, &v)?])),
                None => Some(Err(OpError::Type("integer division by zero".into()))),
            };
        }
        if a.dtype != DType::F32 && a.dtype != DType::F64 {
            return None;
        }
        let (x, y) =
            (broadcast_to(&a.to_f64_vec()?, &a.shape, &shape), broadcast_to(&b.to_f64_vec()?, &b.shape, &shape));
        let op: fn(f64, f64) -> f64 = match self.kind {
            BinaryKind::Add => |p, q| p + q,
            BinaryKind::Sub => |p, q| p - q,
            BinaryKind::Mul => |p, q| p * q,
            BinaryKind::Div => |p, q| p / q,
            BinaryKind::Pow => f64::powf,
            BinaryKind::PRelu => |p, q| if p < 0.0 { p * q } else { p },
        };
        let values: Vec<f64> = x.iter().zip(&y).map(|(&p, &q)| op(p, q)).collect();
        Some(Ok(vec![Tensor::from_f64(a.dtype, shape, &values)?]))
    }
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        match self.kind {
            BinaryKind::Add | BinaryKind::Sub => c.on(dt, OpClass::Add, n),
            BinaryKind::Mul => c.on(dt, OpClass::Mul, n),
            BinaryKind::Div => c.on(dt, OpClass::Divide, n),
            BinaryKind::Pow => c.on(dt, OpClass::Transcendental, n),
            BinaryKind::PRelu => {
                c.on(dt, OpClass::Compare, n);
                c.on(dt, OpClass::Mul, n);
            }
        }
    }
}

impl Binary {
    /// A current-opset binary op of this kind.
    pub fn new(kind: BinaryKind) -> Binary {
        Binary { kind, legacy: None }
    }

    /// The shape `B` takes part in numpy broadcasting with (legacy alignment applied).
    pub fn b_shape(&self, a: &[usize], b: &[usize]) -> OpResult<Vec<usize>> {
        match &self.legacy {
            Some(l) => l.aligned(a, b),
            None => Ok(b.to_vec()),
        }
    }
}

/// Repeats `data` of shape `from` to the broadcast shape `to`.
pub(crate) fn broadcast_to<T: Copy>(data: &[T], from: &[usize], to: &[usize]) -> Vec<T> {
    let rank = to.len();
    let padded: Vec<usize> = std::iter::repeat_n(1, rank - from.len()).chain(from.iter().copied()).collect();
    let mut strides = vec![0usize; rank];
    let mut s = 1;
    for i in (0..rank).rev() {
        strides[i] = if padded[i] == 1 { 0 } else { s };
        s *= padded[i];
    }
    let n: usize = to.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; rank];
    for _ in 0..n {
        out.push(data[idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < to[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Variadic broadcasting ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VariadicKind {
    /// Elementwise sum.
    Sum,
    /// Elementwise maximum.
    Max,
    /// Elementwise minimum.
    Min,
}

/// Sum, Max or Min over any number of broadcast inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Variadic {
    /// Which op.
    pub kind: VariadicKind,
}

impl Operator for Variadic {
    fn parse(p: &Parser) -> OpResult<Self> {
        let kind = match p.op_type {
            "Sum" => VariadicKind::Sum,
            "Max" => VariadicKind::Max,
            "Min" => VariadicKind::Min,
            other => return Err(OpError::Unsupported(other.into())),
        };
        Ok(Variadic { kind })
    }
    fn onnx_name(&self) -> &str {
        match self.kind {
            VariadicKind::Sum => "Sum",
            VariadicKind::Max => "Max",
            VariadicKind::Min => "Min",
        }
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let first = input(inputs, 0)?;
        let mut shape = first.shape.clone();
        for i in 1..inputs.len() {
            shape = broadcast_shapes(&shape, &input(inputs, i)?.shape)?;
        }
        Ok(vec![TensorType::new(first.dtype, shape)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        // Folded pairwise through the binary kernels: Max/Min of shapes, Sum of offsets.
        let kind = match self.kind {
            VariadicKind::Sum => BinaryKind::Add,
            VariadicKind::Max => return fold_pairwise(inputs, f64::max, i64::max),
            VariadicKind::Min => return fold_pairwise(inputs, f64::min, i64::min),
        };
        let mut acc = inputs.first().copied().flatten()?.clone();
        for x in &inputs[1..] {
            let step = Binary::new(kind).eval(&[Some(&acc), *x])?;
            acc = match step {
                Ok(mut outs) => outs.remove(0),
                Err(e) => return Some(Err(e)),
            };
        }
        Some(Ok(vec![acc]))
    }
    fn work(&self, c: &mut Counter) {
        let k = c.inputs.iter().flatten().count().saturating_sub(1) as u64;
        let class = match self.kind {
            VariadicKind::Sum => OpClass::Add,
            VariadicKind::Max | VariadicKind::Min => OpClass::Compare,
        };
        c.on(c.dtype(), class, k * c.n());
    }
}

/// Elementwise max or min over broadcast inputs.
fn fold_pairwise(
    inputs: &[Option<&Tensor>],
    f: fn(f64, f64) -> f64,
    i: fn(i64, i64) -> i64,
) -> Option<OpResult<Vec<Tensor>>> {
    let first = inputs.first().copied().flatten()?;
    let mut shape = first.shape.clone();
    for x in inputs {
        shape = match broadcast_shapes(&shape, &x.as_ref()?.shape) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
    }
    let out = if first.dtype.is_integer() {
        let mut acc: Option<Vec<i64>> = None;
        for x in inputs.iter().flatten() {
            let v = broadcast_to(&x.to_i64_vec()?, &x.shape, &shape);
            acc = Some(match acc {
                None => v,
                Some(a) => a.iter().zip(&v).map(|(&p, &q)| i(p, q)).collect(),
            });
        }
        Tensor::from_i64(first.dtype, shape, &acc?)?
    } else {
        let mut acc: Option<Vec<f64>> = None;
        for x in inputs.iter().flatten() {
            let v = broadcast_to(&x.to_f64_vec()?, &x.shape, &shape);
            acc = Some(match acc {
                None => v,
                Some(a) => a.iter().zip(&v).map(|(&p, &q)| f(p, q)).collect(),
            });
        }
        Tensor::from_f64(first.dtype, shape, &acc?)?
    };
    Some(Ok(vec![out]))
}

/// Clip to `[min, max]`; bounds are attributes before opset 11 and constant inputs after.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// Lower bound, if any.
    pub min: Option<f64>,
    /// Upper bound, if any.
    pub max: Option<f64>,
}

impl Operator for Clip {
    fn parse(p: &Parser) -> OpResult<Self> {
        if p.opset < 11 {
            let min = p.float_opt("min")?.map(f64::from);
            let max = p.float_opt("max")?.map(f64::from);
            return Ok(Clip { min, max });
        }
        let scalar = |i| -> OpResult<Option<f64>> { Ok(p.operand_floats(i)?.and_then(|v| v.first().copied())) };
        Ok(Clip { min: scalar(1)?, max: scalar(2)? })
    }
    fn onnx_name(&self) -> &str {
        "Clip"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Ok(vec![input(inputs, 0)?.clone()])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if opset < 11 {
            if let Some(min) = self.min {
                push(&mut attrs, "min", Attr::Float(min as f32));
            }
            if let Some(max) = self.max {
                push(&mut attrs, "max", Attr::Float(max as f32));
            }
        }
        attrs
    }
    fn work(&self, c: &mut Counter) {
        c.on(c.dtype(), OpClass::Compare, 2 * c.n());
    }
}

/// `x if x >= 0 else alpha * x`.
#[derive(Clone, Debug, PartialEq)]
pub struct LeakyRelu {
    /// Slope for negative inputs (default 0.01).
    pub alpha: f32,
}

impl Operator for LeakyRelu {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(LeakyRelu { alpha: p.float("alpha", 0.01)? })
    }
    fn onnx_name(&self) -> &str {
        "LeakyRelu"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Ok(vec![input(inputs, 0)?.clone()])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        vec![("alpha".into(), Attr::Float(self.alpha))]
    }
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        c.on(dt, OpClass::Compare, n);
        c.on(dt, OpClass::Mul, n);
    }
}

/// `max(0, min(1, alpha * x + beta))`.
#[derive(Clone, Debug, PartialEq)]
pub struct HardSigmoid {
    /// Slope (default 0.2).
    pub alpha: f32,
    /// Offset (default 0.5).
    pub beta: f32,
}

impl Operator for HardSigmoid {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(HardSigmoid { alpha: p.float("alpha", 0.2)?, beta: p.float("beta", 0.5)? })
    }
    fn onnx_name(&self) -> &str {
        "HardSigmoid"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Ok(vec![input(inputs, 0)?.clone()])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        vec![("alpha".into(), Attr::Float(self.alpha)), ("beta".into(), Attr::Float(self.beta))]
    }
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        c.on(dt, OpClass::Fma, n);
        c.on(dt, OpClass::Compare, 2 * n);
    }
}

/// Softmax along `axis`. Before opset 13 the input is coerced to 2-D at `axis` and the
/// normalization runs over all trailing dimensions (`flatten_trailing`).
#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    /// The axis as written (may be negative).
    pub axis: i64,
    /// Opset < 13 semantics: normalize over every dimension from `axis` on.
    pub flatten_trailing: bool,
}

impl Softmax {
    /// Its rows over a tensor of `shape`, as `[outer][n][inner]` normalized over `n` (before
    /// opset 13, every axis from `axis` on is one row).
    pub fn rows(&self, shape: &[usize]) -> OpResult<[usize; 3]> {
        let axis = norm_axis(self.axis, shape.len())?;
        let outer = shape[..axis].iter().product();
        Ok(match self.flatten_trailing {
            true => [outer, shape[axis..].iter().product(), 1],
            false => [outer, shape[axis], shape[axis + 1..].iter().product()],
        })
    }
}

impl Operator for Softmax {
    fn parse(p: &Parser) -> OpResult<Self> {
        let legacy = p.opset < 13;
        Ok(Softmax { axis: p.int("axis", if legacy { 1 } else { -1 })?, flatten_trailing: legacy })
    }
    fn onnx_name(&self) -> &str {
        "Softmax"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        norm_axis(self.axis, x.shape.len())?;
        Ok(vec![x.clone()])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        vec![("axis".into(), Attr::Int(self.axis))]
    }
    /// max, x - max, exp, sum, one reciprocal per row, scale.
    fn work(&self, c: &mut Counter) {
        let (n, dt, y) = (c.n(), c.dtype(), c.output());
        let rank = y.map(|y| y.shape.len()).unwrap_or(1) as i64;
        let axis = (if self.axis < 0 { self.axis + rank } else { self.axis }).clamp(0, (rank - 1).max(0)) as usize;
        let row: u64 = match y {
            Some(y) if self.flatten_trailing => y.shape[axis.min(y.shape.len())..].iter().map(|&d| d as u64).product(),
            Some(y) => y.shape.get(axis).copied().unwrap_or(1) as u64,
            None => 1,
        };
        c.on_scalar(dt, OpClass::Compare, n);
        c.on_scalar(dt, OpClass::Add, n);
        c.on(dt, OpClass::Add, n);
        c.on(dt, OpClass::Transcendental, n);
        c.on(dt, OpClass::Mul, n);
        c.on(dt, OpClass::Divide, n / row.max(1));
    }
}

/// Conversion to another element type.
#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    /// Target element type.
    pub to: DType,
    /// `saturate` (opset 19+, float8 targets only); `None` when not written.
    pub saturate: Option<i64>,
}

impl Operator for Cast {
    fn parse(p: &Parser) -> OpResult<Self> {
        let code = p.int_opt("to")?.ok_or_else(|| OpError::MissingAttr("to".into()))?;
        let to = DType::from_onnx(code as i32)
            .ok_or_else(|| OpError::BadAttr { name: "to".into(), cause: format!("unknown type code {code}") })?;
        Ok(Cast { to, saturate: p.int_opt("saturate")? })
    }
    fn onnx_name(&self) -> &str {
        "Cast"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        Ok(vec![TensorType::new(self.to, input(inputs, 0)?.shape.clone())])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        let mut attrs = vec![("to".to_string(), Attr::Int(self.to.onnx_code() as i64))];
        if let Some(s) = self.saturate {
            push(&mut attrs, "saturate", Attr::Int(s));
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        let out = if self.to.is_integer() && (x.dtype.is_integer() || x.dtype == DType::Bool) {
            Tensor::from_i64(self.to, x.shape.clone(), &x.to_i64_vec()?)?
        } else {
            Tensor::from_f64(self.to, x.shape.clone(), &x.to_f64_vec()?)?
        };
        Some(Ok(vec![out]))
    }
    fn work(&self, c: &mut Counter) {
        c.on(c.dtype(), OpClass::Add, c.n());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_of_both_softmax_forms() {
        let s = |axis, flatten_trailing| Softmax { axis, flatten_trailing };
        assert_eq!(s(1, false).rows(&[2, 3, 4]).ok(), Some([2, 3, 4]));
        assert_eq!(s(-1, false).rows(&[2, 3, 4]).ok(), Some([6, 4, 1]));
        assert_eq!(s(1, true).rows(&[2, 3, 4]).ok(), Some([2, 12, 1]));
        assert_eq!(s(3, false).rows(&[2, 3, 4]).ok(), None);
    }

    #[test]
    fn broadcast_repeats_rows_and_columns() {
        assert_eq!(broadcast_to(&[1, 2], &[2, 1], &[2, 3]), vec![1, 1, 1, 2, 2, 2]);
        assert_eq!(broadcast_to(&[1, 2, 3], &[3], &[2, 3]), vec![1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn legacy_broadcast_aligns_at_axis() {
        let op = Binary { kind: BinaryKind::Add, legacy: Some(LegacyBroadcast { axis: Some(1), attribute: true }) };
        let a = Tensor::f32(vec![2, 3, 2], vec![0.0; 12]);
        let b = Tensor::f32(vec![3], vec![1.0, 2.0, 3.0]);
        let out = op.eval(&[Some(&a), Some(&b)]).unwrap().unwrap();
        assert_eq!(out[0].as_f32().unwrap(), &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        assert_eq!(op.attributes(6), vec![("broadcast".into(), Attr::Int(1)), ("axis".into(), Attr::Int(1))]);
        assert!(op.infer(&[Some(&b.ttype()), Some(&a.ttype())]).is_err());
    }

    #[test]
    fn variadic_max_broadcasts() {
        let a = Tensor::i64(vec![2], vec![1, 7]);
        let b = Tensor::i64(vec![], vec![3]);
        let out = Variadic { kind: VariadicKind::Max }.eval(&[Some(&a), Some(&b)]).unwrap().unwrap();
        assert_eq!(out[0].to_i64_vec().unwrap(), vec![3, 7]);
    }

    #[test]
    fn integer_division_truncates() {
        let a = Tensor::i64(vec![2], vec![7, -7]);
        let b = Tensor::i64(vec![], vec![2]);
        let out = Binary::new(BinaryKind::Div).eval(&[Some(&a), Some(&b)]).unwrap().unwrap();
        assert_eq!(out[0].to_i64_vec().unwrap(), vec![3, -3]);
    }
}
