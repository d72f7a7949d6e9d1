//! The IR language: kernel nodes (one per supported ONNX op, named by its lower-case op_type,
//! first child its attribute payload), the math primitives of ARCHITECTURE.md, and leaves.

use super::payload::{ConstRef, FnRef, InputRef, Literal, Payload};
use egg::{define_language, Id, Symbol};

define_language! {
    /// An e-node of the IR (variants are documented by the comments in `ir/lang.rs`).
    #[allow(missing_docs)]
    pub enum Ir {
        // ---- structure
        // `(outputs o1 o2 ...)`: the root joining a model's outputs.
        "outputs" = Outputs(Box<[Id]>),
        // `(get i node)`: output `i` (a literal) of a multi-output kernel.
        "get" = Get([Id; 2]),
        // An omitted optional input.
        "absent" = Absent,
        // ---- elementwise primitives (numpy broadcasting)
        "add" = Add([Id; 2]),
        "sub" = Sub([Id; 2]),
        "mul" = Mul([Id; 2]),
        "div" = Div([Id; 2]),
        "pow" = Pow([Id; 2]),
        "max" = Max([Id; 2]),
        "min" = Min([Id; 2]),
        "neg" = Neg(Id),
        "abs" = Abs(Id),
        "exp" = Exp(Id),
        "log" = Log(Id),
        "sqrt" = Sqrt(Id),
        "rsqrt" = Rsqrt(Id),
        "erf" = Erf(Id),
        "tanh" = Tanh(Id),
        "sigmoid" = Sigmoid(Id),
        "round" = Round(Id),
        // `(clip x lo hi)`.
        "clip" = Clip([Id; 3]),
        // ---- integer and bit level
        // `(shl x k)`: `x · 2^k` (a shift for integers, an exponent shift for floats).
        "shl" = Shl([Id; 2]),
        // `(shr x k)`: `x / 2^k` (arithmetic shift for integers, rounding toward -inf).
        "shr" = Shr([Id; 2]),
        // `(cast #dtype:T x)`.
        "cast" = Cast([Id; 2]),
        // `(quantize #ints:axis x scale zero_point)`.
        "quantize" = Quantize([Id; 4]),
        // `(dequantize #ints:axis x scale zero_point)`.
        "dequantize" = Dequantize([Id; 4]),
        // ---- reductions and contraction
        // `(rsum #ints:axes x)`, keeping reduced axes as size 1.
        "rsum" = RSum([Id; 2]),
        // `(rmax #ints:axes x)`.
        "rmax" = RMax([Id; 2]),
        // `(rmean #ints:axes x)`.
        "rmean" = RMean([Id; 2]),
        // `(dot #einsum:ab,bc->ac a b)`: a two-operand contraction in einsum notation.
        "dot" = Dot([Id; 3]),
        // ---- access and layout
        // `(window #win:... x pad_value)`: the im2col view of `x` (N, C, spatial...) as
        // (N, C, kernel..., out_spatial...), reading `pad_value` outside the input.
        "window" = Window([Id; 3]),
        // `(reshape #ints:shape x)`.
        "reshape" = Reshape([Id; 2]),
        // `(transpose #ints:perm x)`.
        "transpose" = Transpose([Id; 2]),
        // `(broadcast #ints:shape x)`.
        "broadcast" = Broadcast([Id; 2]),
        // `(slice #slice:... x)`.
        "slice" = Slice([Id; 2]),
        // `(concat #ints:axis x1 x2 ...)`.
        "concat" = Concat(Box<[Id]>),
        // `(pad #ints:pads x value)`.
        "pad" = Pad([Id; 3]),
        // `(gather #ints:axis x indices)`: ONNX Gather with non-negative, in-range integer
        // indices; the result has shape x[:axis] + indices + x[axis+1:].
        "gather" = Gather([Id; 3]),
        // `(opaque payload inputs...)`: an op gos-opt does not interpret; no rule matches it.
        "opaque" = Opaque(Box<[Id]>),
        // ---- leaves
        // A scalar literal.
        Lit(Literal),
        // A constant from the pool.
        Const(ConstRef),
        // A graph input.
        Input(InputRef),
        // An attribute payload.
        Payload(Payload),
        // A named constant function computing new weights (`(@bn_scale g v e)`): weight-only,
        // evaluated at emission by Rust code in `rules`.
        Fun(FnRef, Box<[Id]>),
        // A kernel node: `(Conv payload x w b)`; the symbol is the ONNX op_type.
        Kernel(Symbol, Box<[Id]>),
    }
}

/// The kernel symbol for an ONNX op_type: the op_type itself (`Conv`), so kernels never read
/// as the lower-case primitives (`Transpose` the kernel, `transpose` the primitive).
pub fn kernel_symbol(op_type: &str) -> Symbol {
    Symbol::from(op_type)
}

/// Whether a symbol names a supported kernel (ONNX spelling).
pub fn is_kernel_symbol(sym: &str) -> bool {
    sym != "Constant" && crate::ops::SUPPORTED.contains(&sym)
}
