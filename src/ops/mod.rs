//! Operators: one file per family, each parsing its ONNX attributes (with ONNX's defaults and
//! per-opset forms), inferring output types, writing attributes back for an opset, counting
//! multiply-accumulates, and evaluating small constant inputs (for shape folding).
//!
//! Adding an op: see the recipe in `src/ops/README.md` (implement [`Operator`] in its family
//! file, one line in the `ops!` table, its rules, its emit lowering).

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
pub(crate) mod test_support;

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
use crate::work::Counter;

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
pub trait Operator: Sized {
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

    /// Counts the operations of one run by class and element type, and the bytes it moves, from
    /// the input and output types in `c` (the cost model prices them per target). The default
    /// counts no operation and every input and output byte once (a copy or a layout change).
    fn work(&self, _c: &mut Counter) {}

    /// Evaluates the op on constant inputs, for folding shape computations; `None` when this op
    /// (or these dtypes) cannot be evaluated here.
    fn eval(&self, _inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        None
    }
}

/// Declares [`Op`], forwards the [`Operator`] methods to each variant, and derives the registry
/// ([`lookup`]) and [`SUPPORTED`] from the ONNX op_types listed beside each variant (a variant
/// without names, [`Opaque`], is never looked up).
macro_rules! ops {
    ($($variant:ident($ty:ty) $(: $($name:literal)|+)?),* $(,)?) => {
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
            /// Counts the operations and bytes of one run into `c`.
            pub fn work(&self, c: &mut Counter) {
                match self { $(Op::$variant(k) => k.work(c)),* }
            }
            /// Evaluation on constant inputs, where supported.
            pub fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
                match self { $(Op::$variant(k) => k.eval(inputs)),* }
            }
        }

        /// The registry: ONNX op_type (default domain) to parser.
        pub fn lookup(op_type: &str) -> Option<ParseFn> {
            Some(match op_type {
                $($($($name)|+ => |p| <$ty>::parse(p).map(Op::$variant),)?)*
                _ => return None,
            })
        }

        /// Every op_type gos-opt interprets (default domain): the registry's, and `Constant`
        /// (pooled at import), for documentation and tests.
        pub const SUPPORTED: &[&str] = &[$($($($name,)+)?)* "Constant"];
    };
}

ops! {
    Conv(Conv): "Conv",
    ConvTranspose(ConvTranspose): "ConvTranspose",
    Gemm(Gemm): "Gemm",
    MatMul(MatMul): "MatMul",
    MatMulInteger(MatMulInteger): "MatMulInteger",
    QLinearMatMul(QLinearMatMul): "QLinearMatMul",
    Unary(Unary): "Abs" | "Neg" | "Sqrt" | "Exp" | "Log" | "Erf" | "Reciprocal" | "Relu" | "Sigmoid" | "Tanh" | "HardSwish" | "Gelu",
    Binary(Binary): "Add" | "Sub" | "Mul" | "Div" | "Pow" | "PRelu",
    Variadic(Variadic): "Sum" | "Max" | "Min",
    Clip(Clip): "Clip",
    LeakyRelu(LeakyRelu): "LeakyRelu",
    HardSigmoid(HardSigmoid): "HardSigmoid",
    Softmax(Softmax): "Softmax",
    Cast(Cast): "Cast",
    BatchNorm(BatchNorm): "BatchNormalization",
    LayerNorm(LayerNorm): "LayerNormalization",
    Lrn(Lrn): "LRN",
    Reduce(Reduce): "ReduceMean" | "ReduceMax" | "ReduceSum",
    Pool(Pool): "MaxPool" | "AveragePool",
    GlobalPool(GlobalPool): "GlobalAveragePool",
    Reshape(Reshape): "Reshape",
    Flatten(Flatten): "Flatten",
    Transpose(Transpose): "Transpose",
    Concat(Concat): "Concat",
    Split(Split): "Split",
    Slice(Slice): "Slice",
    Squeeze(Squeeze): "Squeeze",
    Unsqueeze(Unsqueeze): "Unsqueeze",
    Pad(Pad): "Pad",
    Gather(Gather): "Gather",
    Shape(Shape): "Shape",
    ConstantOfShape(ConstantOfShape): "ConstantOfShape",
    Identity(Identity): "Identity",
    Dropout(Dropout): "Dropout",
    Resize(Resize): "Resize",
    QuantizeLinear(QuantizeLinear): "QuantizeLinear",
    DequantizeLinear(DequantizeLinear): "DequantizeLinear",
    QLinearConv(QLinearConv): "QLinearConv",
    ConvInteger(ConvInteger): "ConvInteger",
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

    /// Whether this op only reshapes its first input (the values and their order unchanged):
    /// Reshape, Flatten, Squeeze, Unsqueeze or Identity.
    pub fn only_reshapes(&self) -> bool {
        matches!(self, Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) | Op::Identity(_))
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
