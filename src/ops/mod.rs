//! Operators: one file per family, each parsing its ONNX attributes (with ONNX's defaults and
//! per-opset forms), inferring output types, writing attributes back for an opset, counting
//! multiply-accumulates, and evaluating small constant inputs (for shape folding).
//!
//! Adding an op: implement [`Kernel`] in its family file and add one line to the `ops!` table
//! and one to [`lookup`].

mod attr;
mod conv;
mod elementwise;
mod layout;
mod linalg;
mod norm;
mod opaque;
mod parse;
mod pool;
mod quant;
mod reduce;
mod resize;
mod shape;
#[cfg(test)]
mod test_support;

pub use attr::{Attr, Attrs};
pub use conv::{AutoPad, Conv, ConvAttrs, ConvTranspose, Window};
pub use elementwise::{
    Binary, BinaryKind, Cast, Clip, HardSigmoid, LeakyRelu, LegacyBroadcast, Softmax, Unary, UnaryKind, Variadic,
    VariadicKind,
};
pub use layout::{Concat, Gather, Pad, PadMode, Slice, Split, Transpose};
pub use linalg::{Gemm, MatMul, MatMulInteger, QLinearMatMul};
pub use norm::{BatchNorm, LayerNorm, Lrn};
pub use opaque::Opaque;
pub use parse::{InputInfo, Parser};
pub use pool::{GlobalPool, Pool, PoolKind};
pub use quant::{ConvInteger, DequantizeLinear, QLinearConv, QuantizeLinear};
pub use reduce::{Reduce, ReduceKind};
pub use resize::{AspectPolicy, CoordinateMode, NearestMode, Resize, ResizeMode};
pub use shape::{ConstantOfShape, Dropout, Flatten, Identity, Reshape, Shape, Squeeze, Unsqueeze};

use crate::tensor::{Tensor, TensorType};

/// Why an op could not be parsed, typed or evaluated. The graph adds the node name and op.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OpError {
    /// A required attribute is absent.
    #[error("missing required attribute '{0}'")]
    MissingAttr(String),
    /// An attribute has the wrong type or an invalid value.
    #[error("attribute '{name}': {cause}")]
    BadAttr { name: String, cause: String },
    /// An input that decides shapes (axes, a target shape, pads...) is not a constant.
    #[error("input {index} ('{name}') must be a constant (it decides the output shape); give the graph input a fixed value or fold it")]
    NonConstOperand { index: usize, name: String },
    /// A required input is absent.
    #[error("missing required input {0}")]
    MissingInput(usize),
    /// Input types do not fit the op.
    #[error("{0}")]
    Type(String),
    /// This opset or variant of the op is not supported.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// Shorthand for op results.
pub type OpResult<T> = Result<T, OpError>;

/// What every operator implements.
pub trait Kernel: Sized {
    /// Parses the op from its ONNX form (attributes and constant operand inputs).
    fn parse(p: &Parser) -> OpResult<Self>;

    /// The ONNX `op_type`.
    fn onnx_name(&self) -> &str;

    /// Output types from input types (`None` for an omitted optional input).
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>>;

    /// ONNX attributes for this op at `opset` (operand inputs are kept as node inputs).
    fn attributes(&self, opset: i64) -> Attrs;

    /// Multiply-accumulate count for one run, from input and output types.
    fn macs(&self, _inputs: &[Option<&TensorType>], _outputs: &[TensorType]) -> u64 {
        0
    }

    /// Evaluates the op on constant inputs, for folding shape computations; `None` when this op
    /// (or these dtypes) cannot be evaluated here.
    fn eval(&self, _inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        None
    }
}

/// Declares [`Op`] and forwards the [`Kernel`] methods to each variant.
macro_rules! ops {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// A parsed operator.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(missing_docs)] // each variant is the op of the same name
        pub enum Op { $($variant($ty)),* }

        impl Op {
            /// The ONNX `op_type`.
            pub fn onnx_name(&self) -> &str { match self { $(Op::$variant(k) => k.onnx_name()),* } }
            /// Output types from input types.
            pub fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
                match self { $(Op::$variant(k) => k.infer(inputs)),* }
            }
            /// ONNX attributes at `opset`.
            pub fn attributes(&self, opset: i64) -> Attrs {
                match self { $(Op::$variant(k) => k.attributes(opset)),* }
            }
            /// Multiply-accumulates for one run.
            pub fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
                match self { $(Op::$variant(k) => k.macs(inputs, outputs)),* }
            }
            /// Evaluation on constant inputs, where supported.
            pub fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
                match self { $(Op::$variant(k) => k.eval(inputs)),* }
            }
        }
    };
}

ops! {
    Conv(Conv),
    ConvTranspose(ConvTranspose),
    Gemm(Gemm),
    MatMul(MatMul),
    MatMulInteger(MatMulInteger),
    QLinearMatMul(QLinearMatMul),
    Unary(Unary),
    Binary(Binary),
    Variadic(Variadic),
    Clip(Clip),
    LeakyRelu(LeakyRelu),
    HardSigmoid(HardSigmoid),
    Softmax(Softmax),
    Cast(Cast),
    BatchNorm(BatchNorm),
    LayerNorm(LayerNorm),
    Lrn(Lrn),
    Reduce(Reduce),
    Pool(Pool),
    GlobalPool(GlobalPool),
    Reshape(Reshape),
    Flatten(Flatten),
    Transpose(Transpose),
    Concat(Concat),
    Split(Split),
    Slice(Slice),
    Squeeze(Squeeze),
    Unsqueeze(Unsqueeze),
    Pad(Pad),
    Gather(Gather),
    Shape(Shape),
    ConstantOfShape(ConstantOfShape),
    Identity(Identity),
    Dropout(Dropout),
    Resize(Resize),
    QuantizeLinear(QuantizeLinear),
    DequantizeLinear(DequantizeLinear),
    QLinearConv(QLinearConv),
    ConvInteger(ConvInteger),
    Opaque(Opaque),
}

impl Op {
    /// Parses a node: a supported op by its registry entry, anything else as [`Opaque`].
    pub fn parse(p: &Parser) -> OpResult<Op> {
        if p.domain.is_empty() || p.domain == "ai.onnx" {
            if let Some(parse) = lookup(p.op_type) {
                return parse(p);
            }
        }
        Ok(Op::Opaque(Opaque::parse(p)?))
    }

    /// The ONNX domain (`""` for the default domain).
    pub fn domain(&self) -> &str {
        match self {
            Op::Opaque(o) => &o.domain,
            _ => "",
        }
    }

    /// The first default-domain opset that has this op in this form: a rewrite that creates
    /// it (HardSwish 14, LayerNormalization 17, Gelu 20, a Softmax over one axis 13) needs the
    /// model exported at that opset at least.
    pub fn min_opset(&self) -> i64 {
        match self {
            Op::Unary(u) => u.kind.since(),
            Op::LayerNorm(_) => 17,
            Op::Softmax(s) if !s.flatten_trailing => 13,
            // Per-axis scales need 13 (`upgrade::needed` checks the scale's shape).
            Op::QuantizeLinear(_) | Op::DequantizeLinear(_) => 10,
            _ => 1,
        }
    }

    /// Whether this is an op gos-opt does not interpret.
    pub fn is_opaque(&self) -> bool {
        matches!(self, Op::Opaque(_))
    }
}

/// Whether input `index` of a default-domain `op_type` node only feeds values into the
/// computation (Clip's bounds, Pad's `constant_value`, Dropout's `ratio` and `training_mode`)
/// and never decides a shape. Such an operand may be known only at run time: the node is then
/// carried as [`Opaque`] (passed through untouched) instead of refused.
pub fn feeds_values_only(op_type: &str, opset: i64, index: usize) -> bool {
    match op_type {
        "Clip" => opset >= 11 && matches!(index, 1 | 2),
        "Pad" => opset >= 11 && index == 2,
        "Dropout" => opset >= 12 && matches!(index, 1 | 2),
        _ => false,
    }
}

/// A parse function in the registry.
type ParseFn = fn(&Parser) -> OpResult<Op>;

/// The registry: ONNX op_type (default domain) to parser. One line per op.
pub fn lookup(op_type: &str) -> Option<ParseFn> {
    Some(match op_type {
        "Conv" => |p| Conv::parse(p).map(Op::Conv),
        "ConvTranspose" => |p| ConvTranspose::parse(p).map(Op::ConvTranspose),
        "Gemm" => |p| Gemm::parse(p).map(Op::Gemm),
        "MatMul" => |p| MatMul::parse(p).map(Op::MatMul),
        "MatMulInteger" => |p| MatMulInteger::parse(p).map(Op::MatMulInteger),
        "QLinearMatMul" => |p| QLinearMatMul::parse(p).map(Op::QLinearMatMul),
        "Abs" | "Neg" | "Sqrt" | "Exp" | "Log" | "Erf" | "Reciprocal" | "Relu" | "Sigmoid" | "Tanh" | "HardSwish"
        | "Gelu" => |p| Unary::parse(p).map(Op::Unary),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "PRelu" => |p| Binary::parse(p).map(Op::Binary),
        "Sum" | "Max" | "Min" => |p| Variadic::parse(p).map(Op::Variadic),
        "Clip" => |p| Clip::parse(p).map(Op::Clip),
        "LeakyRelu" => |p| LeakyRelu::parse(p).map(Op::LeakyRelu),
        "HardSigmoid" => |p| HardSigmoid::parse(p).map(Op::HardSigmoid),
        "Softmax" => |p| Softmax::parse(p).map(Op::Softmax),
        "Cast" => |p| Cast::parse(p).map(Op::Cast),
        "BatchNormalization" => |p| BatchNorm::parse(p).map(Op::BatchNorm),
        "LayerNormalization" => |p| LayerNorm::parse(p).map(Op::LayerNorm),
        "LRN" => |p| Lrn::parse(p).map(Op::Lrn),
        "ReduceMean" | "ReduceMax" | "ReduceSum" => |p| Reduce::parse(p).map(Op::Reduce),
        "MaxPool" | "AveragePool" => |p| Pool::parse(p).map(Op::Pool),
        "GlobalAveragePool" => |p| GlobalPool::parse(p).map(Op::GlobalPool),
        "Reshape" => |p| Reshape::parse(p).map(Op::Reshape),
        "Flatten" => |p| Flatten::parse(p).map(Op::Flatten),
        "Transpose" => |p| Transpose::parse(p).map(Op::Transpose),
        "Concat" => |p| Concat::parse(p).map(Op::Concat),
        "Split" => |p| Split::parse(p).map(Op::Split),
        "Slice" => |p| Slice::parse(p).map(Op::Slice),
        "Squeeze" => |p| Squeeze::parse(p).map(Op::Squeeze),
        "Unsqueeze" => |p| Unsqueeze::parse(p).map(Op::Unsqueeze),
        "Pad" => |p| Pad::parse(p).map(Op::Pad),
        "Gather" => |p| Gather::parse(p).map(Op::Gather),
        "Shape" => |p| Shape::parse(p).map(Op::Shape),
        "ConstantOfShape" => |p| ConstantOfShape::parse(p).map(Op::ConstantOfShape),
        "Identity" => |p| Identity::parse(p).map(Op::Identity),
        "Dropout" => |p| Dropout::parse(p).map(Op::Dropout),
        "Resize" => |p| Resize::parse(p).map(Op::Resize),
        "QuantizeLinear" => |p| QuantizeLinear::parse(p).map(Op::QuantizeLinear),
        "DequantizeLinear" => |p| DequantizeLinear::parse(p).map(Op::DequantizeLinear),
        "QLinearConv" => |p| QLinearConv::parse(p).map(Op::QLinearConv),
        "ConvInteger" => |p| ConvInteger::parse(p).map(Op::ConvInteger),
        _ => return None,
    })
}

/// Every op_type the registry supports (default domain), for documentation and tests.
pub const SUPPORTED: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Sum",
    "Max",
    "Min",
    "Pow",
    "Sqrt",
    "Exp",
    "Log",
    "Erf",
    "Abs",
    "Neg",
    "Reciprocal",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Clip",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Gelu",
    "Tanh",
    "Softmax",
    "BatchNormalization",
    "LayerNormalization",
    "ReduceMean",
    "ReduceMax",
    "ReduceSum",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Reshape",
    "Flatten",
    "Transpose",
    "Concat",
    "Split",
    "Slice",
    "Squeeze",
    "Unsqueeze",
    "Pad",
    "Resize",
    "Constant",
    "ConstantOfShape",
    "Identity",
    "Dropout",
    "Shape",
    "Gather",
    "Cast",
    "LRN",
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
];

/// Numpy-style multidirectional broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> OpResult<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(OpError::Type(format!(
                    "shapes {} and {} do not broadcast",
                    crate::tensor::shape_string(a),
                    crate::tensor::shape_string(b)
                )))
            }
        };
    }
    Ok(out)
}

/// The type of required input `i`, or an error naming it.
pub fn input<'a>(inputs: &[Option<&'a TensorType>], i: usize) -> OpResult<&'a TensorType> {
    inputs.get(i).copied().flatten().ok_or(OpError::MissingInput(i))
}

/// Resolves a possibly negative axis against a rank.
pub fn norm_axis(axis: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(OpError::Type(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(a as usize)
}
