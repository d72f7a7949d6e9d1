//! Which e-nodes have an ONNX form, and what it is: kernels are ONNX ops already, primitives
//! with a one-to-one ONNX op become that op, and weight-only computations are folded into
//! constants at emission. The cost model prices everything else infinite.

use super::lang::Ir;
use super::payload::Payload;
use crate::ops::{Binary, BinaryKind, Cast, Concat, Op, Reshape, Transpose, Unary, UnaryKind, Variadic, VariadicKind};
use crate::tensor::{DType, Tensor};
use egg::{Id, Language, RecExpr};

/// Whether lifting can emit `enode`; `weight_only` says whether its class depends only on
/// weights (then any non-kernel node is folded into a constant).
pub fn is_exportable(enode: &Ir, weight_only: bool) -> bool {
    if !folds(enode) {
        return true;
    }
    match enode {
        // One ONNX op each.
        Ir::Add(_)
        | Ir::Sub(_)
        | Ir::Mul(_)
        | Ir::Div(_)
        | Ir::Pow(_)
        | Ir::Max(_)
        | Ir::Min(_)
        | Ir::Neg(_)
        | Ir::Abs(_)
        | Ir::Exp(_)
        | Ir::Log(_)
        | Ir::Sqrt(_)
        | Ir::Erf(_)
        | Ir::Tanh(_)
        | Ir::Sigmoid(_)
        | Ir::Cast(_)
        | Ir::Reshape(_)
        | Ir::Transpose(_)
        | Ir::Concat(_) => true,
        // No ONNX form of their own yet (rsqrt, round, clip, shifts, quantize, reductions, dot,
        // window, broadcast, slice, pad, gather, @functions): only folded.
        _ => weight_only,
    }
}

/// The op of a kernel (or opaque) e-node, read from its payload class.
pub fn kernel_op<'a>(egraph: &'a super::IrGraph, enode: &Ir) -> Option<&'a Op> {
    let (Ir::Kernel(_, ch) | Ir::Opaque(ch)) = enode else { return None };
    match ch.first().and_then(|c| egraph[*c].data.payload.as_ref()) {
        Some(Payload::Op(op)) => Some(op.op()),
        _ => None,
    }
}

/// Whether a weight-only node is folded into a constant at emission (kernels stay nodes, so
/// that a dequantized weight keeps its QuantizeLinear/DequantizeLinear form).
pub fn folds(enode: &Ir) -> bool {
    !matches!(
        enode,
        Ir::Kernel(..)
            | Ir::Opaque(_)
            | Ir::Lit(_)
            | Ir::Const(_)
            | Ir::Input(_)
            | Ir::Payload(_)
            | Ir::Absent
            | Ir::Get(_)
            | Ir::Outputs(_)
    )
}

/// The bytes of new weights lifting may create by folding weight-only computations: the
/// constants the source model already holds, at least 4 KiB (shape tensors and the like), so
/// that folding never more than doubles a model's weights. A larger weight-only class stays a
/// node (a ConstantOfShape of a large shape is kept, not written out), and a function with no
/// ONNX form that would exceed it is not extracted.
pub fn fold_budget(source: &crate::graph::Graph) -> u64 {
    let held: u64 = (0..source.values.len())
        .filter_map(|i| source.constant(crate::graph::ValueId::new(i)))
        .map(|t| t.ttype().bytes() as u64)
        .sum();
    held.max(4096)
}

/// An input of an emitted op.
#[derive(Clone, Debug)]
pub enum Arg {
    /// The value of an expression node.
    Child(Id),
    /// A new constant.
    Tensor(Tensor),
}

/// The ONNX op for a primitive with a one-to-one ONNX form, with its inputs; literals become
/// scalar constants of `dtype` (the node's element type).
pub fn primitive_op(enode: &Ir, expr: &RecExpr<Ir>, dtype: DType) -> Option<(Op, Vec<Arg>)> {
    let arg = |c: Id| match &expr[c] {
        Ir::Lit(l) => Tensor::from_f64(dtype, vec![], &[l.0]).map(Arg::Tensor),
        _ => Some(Arg::Child(c)),
    };
    let ints = |c: Id| match &expr[c] {
        Ir::Payload(Payload::Ints(v)) => Some(v.clone()),
        _ => None,
    };
    let binary = |kind| Op::Binary(Binary::new(kind));
    let unary = |kind| Op::Unary(Unary { kind });
    let (op, args): (Op, Vec<Option<Arg>>) = match enode {
        Ir::Add([a, b]) => (binary(BinaryKind::Add), vec![arg(*a), arg(*b)]),
        Ir::Sub([a, b]) => (binary(BinaryKind::Sub), vec![arg(*a), arg(*b)]),
        Ir::Mul([a, b]) => (binary(BinaryKind::Mul), vec![arg(*a), arg(*b)]),
        Ir::Div([a, b]) => (binary(BinaryKind::Div), vec![arg(*a), arg(*b)]),
        Ir::Pow([a, b]) => (binary(BinaryKind::Pow), vec![arg(*a), arg(*b)]),
        Ir::Max([a, b]) => (Op::Variadic(Variadic { kind: VariadicKind::Max }), vec![arg(*a), arg(*b)]),
        Ir::Min([a, b]) => (Op::Variadic(Variadic { kind: VariadicKind::Min }), vec![arg(*a), arg(*b)]),
        Ir::Neg(x) => (unary(UnaryKind::Neg), vec![arg(*x)]),
        Ir::Abs(x) => (unary(UnaryKind::Abs), vec![arg(*x)]),
        Ir::Exp(x) => (unary(UnaryKind::Exp), vec![arg(*x)]),
        Ir::Log(x) => (unary(UnaryKind::Log), vec![arg(*x)]),
        Ir::Sqrt(x) => (unary(UnaryKind::Sqrt), vec![arg(*x)]),
        Ir::Erf(x) => (unary(UnaryKind::Erf), vec![arg(*x)]),
        Ir::Tanh(x) => (unary(UnaryKind::Tanh), vec![arg(*x)]),
        Ir::Sigmoid(x) => (unary(UnaryKind::Sigmoid), vec![arg(*x)]),
        Ir::Cast([t, x]) => {
            let Ir::Payload(Payload::DType(to)) = &expr[*t] else { return None };
            (Op::Cast(Cast { to: *to, saturate: None }), vec![arg(*x)])
        }
        Ir::Transpose([p, x]) => (Op::Transpose(Transpose { perm: Some(ints(*p)?) }), vec![arg(*x)]),
        Ir::Reshape([s, x]) => {
            let shape = ints(*s)?;
            let operand = Tensor::i64(vec![shape.len()], shape.clone());
            (Op::Reshape(Reshape { shape, allowzero: false }), vec![arg(*x), Some(Arg::Tensor(operand))])
        }
        Ir::Concat(ch) => {
            let (axis, xs) = ch.split_first()?;
            let axis = *ints(*axis)?.first()?;
            (Op::Concat(Concat { axis }), xs.iter().map(|&c| arg(c)).collect())
        }
        _ => return None,
    };
    Some((op, args.into_iter().collect::<Option<Vec<_>>>()?))
}

/// The sub-expression rooted at `root` (its nodes are all before it in `expr`).
pub fn subexpr(expr: &RecExpr<Ir>, root: Id) -> RecExpr<Ir> {
    let mut out = RecExpr::default();
    let mut map: std::collections::HashMap<Id, Id> = std::collections::HashMap::new();
    fn go(expr: &RecExpr<Ir>, id: Id, out: &mut RecExpr<Ir>, map: &mut std::collections::HashMap<Id, Id>) -> Id {
        if let Some(&m) = map.get(&id) {
            return m;
        }
        let node = expr[id].clone().map_children(|c| go(expr, c, out, map));
        let new = out.add(node);
        map.insert(id, new);
        new
    }
    go(expr, root, &mut out, &mut map);
    out
}
