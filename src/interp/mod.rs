//! The reference interpreter of the IR: evaluates an expression of primitives on ndarray, given
//! the graph inputs by name, the constant pool and the constant functions. Shapes follow
//! `ir::infer` exactly; float results are rounded to their element type after every primitive
//! (values are computed in `f64`), integers wrap to their width. Kernel nodes run through tract
//! as one-node ONNX models, so that rules relating kernels and primitives can be checked.
//!
//! ```
//! use gos_opt::interp::Interpreter;
//! use gos_opt::ir::{Ir, IrAnalysis};
//! use gos_opt::tensor::Tensor;
//! use std::collections::HashMap;
//!
//! let expr: egg::RecExpr<Ir> = "(max (mul $x 2) 0)".parse().unwrap();
//! let inputs = HashMap::from([("x".to_string(), Tensor::f32(vec![3], vec![-1.0, 0.5, 2.0]))]);
//! let analysis = IrAnalysis::default();
//! let out = Interpreter::new(&analysis, &inputs).eval(&expr).unwrap();
//! assert_eq!(out.tensor().unwrap().as_f32().unwrap(), &[0.0, 1.0, 4.0]);
//! ```

mod array;
mod kernel;
mod layout;
mod prims;

pub use kernel::{kernel_graph, run_kernel, run_opaque, KernelGraph, KernelInput};

use crate::ir::{kernel_symbol, ConstFns, FnArg, Ir, IrAnalysis, IrData, IrGraph, Payload};
use crate::tensor::{Tensor, TensorType};
use array::Arr;
use egg::{AstSize, Extractor, Id, Language, RecExpr};
use prims::{BinOp, Reduction, UnOp};
use std::collections::HashMap;
use std::sync::Arc;

/// Why an expression could not be evaluated.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum InterpError {
    /// The expression is not well formed (a child of the wrong kind, a bad child index).
    #[error("malformed expression: {0}")]
    Malformed(String),
    /// A primitive's operands do not fit it (shapes, element types).
    #[error("ill-typed: {0}")]
    Type(String),
    /// The interpreter does not compute this (an element type, an opaque op).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An arithmetic error (integer division by zero).
    #[error("arithmetic: {0}")]
    Arith(String),
    /// A graph input without a value.
    #[error("no value for input ${0}")]
    UnknownInput(String),
    /// A constant handle not in the pool.
    #[error("constant %{0} is not in the pool")]
    UnknownConst(u32),
    /// A constant function failed.
    #[error("@{name}: {cause}")]
    Function { name: String, cause: String },
    /// tract could not run a kernel node.
    #[error("kernel {op}: {cause}")]
    Kernel { op: String, cause: String },
}

/// The value of an expression node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A tensor.
    Tensor(Tensor),
    /// Several tensors: a multi-output kernel, or the `outputs` root.
    Tuple(Vec<Tensor>),
    /// A scalar literal (it takes the element type of the tensor it meets).
    Lit(f64),
    /// An attribute payload.
    Payload(Payload),
    /// An omitted optional input.
    Absent,
}

impl Value {
    /// The tensor, when this is one.
    pub fn tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// The tensors of a tensor or a tuple (empty otherwise).
    pub fn into_tensors(self) -> Vec<Tensor> {
        match self {
            Value::Tensor(t) => vec![t],
            Value::Tuple(ts) => ts,
            _ => Vec::new(),
        }
    }
}

/// A node's value while evaluating.
#[derive(Clone, Debug)]
enum Val {
    Arr(Arr),
    Multi(Vec<Arr>),
    Lit(f64),
    Payload(Payload),
    Absent,
}

/// The default opset of the one-node models that kernel nodes run as.
pub const DEFAULT_KERNEL_OPSET: i64 = 17;

/// Evaluates IR expressions. Holds the constant pool, the constant functions and the input
/// values; `opset` is the opset kernel nodes were parsed at (their inputs and attributes
/// depend on it).
pub struct Interpreter<'a> {
    consts: &'a HashMap<u32, Arc<Tensor>>,
    functions: &'a dyn ConstFns,
    inputs: &'a HashMap<String, Tensor>,
    /// Opset of the one-node models kernel nodes run as.
    pub opset: i64,
}

impl<'a> Interpreter<'a> {
    /// An interpreter over an analysis's constant pool and functions, with input values by name.
    pub fn new(analysis: &'a IrAnalysis, inputs: &'a HashMap<String, Tensor>) -> Interpreter<'a> {
        Interpreter { consts: &analysis.consts, functions: &*analysis.functions, inputs, opset: DEFAULT_KERNEL_OPSET }
    }

    /// The same interpreter running kernels at `opset`.
    pub fn with_opset(mut self, opset: i64) -> Interpreter<'a> {
        self.opset = opset;
        self
    }

    /// The value of an expression's root.
    pub fn eval(&self, expr: &RecExpr<Ir>) -> Result<Value, InterpError> {
        let nodes = expr.as_ref();
        let mut vals: Vec<Val> = Vec::with_capacity(nodes.len());
        let mut weights: Vec<bool> = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            if let Some(c) = node.children().iter().find(|c| usize::from(**c) >= i) {
                return Err(InterpError::Malformed(format!("node {i} refers to later node {c}")));
            }
            let weight = match node {
                Ir::Input(_) => false,
                Ir::Kernel(..) | Ir::Opaque(_) => {
                    node.children().iter().all(|&c| weights[usize::from(c)]) && !matches!(node, Ir::Opaque(_))
                }
                _ => node.children().iter().all(|&c| weights[usize::from(c)]),
            };
            let v = self.node(node, &vals, &weights)?;
            vals.push(v);
            weights.push(weight);
        }
        match vals.pop() {
            None => Err(InterpError::Malformed("empty expression".into())),
            Some(v) => public(v),
        }
    }

    /// The value of an e-class, through its smallest expression.
    pub fn eval_class(&self, egraph: &IrGraph, class: Id) -> Result<Value, InterpError> {
        let (_, expr) = Extractor::new(egraph, AstSize).find_best(class);
        self.eval(&expr)
    }

    fn node(&self, node: &Ir, vals: &[Val], weights: &[bool]) -> Result<Val, InterpError> {
        let val = |c: &Id| &vals[usize::from(*c)];
        let arr = |c: &Id| as_arr(val(c));
        let bin = |op: BinOp, [a, b]: &[Id; 2]| {
            let (a, b) = operands2(val(a), val(b))?;
            prims::binary(op, &a, &b).map(Val::Arr)
        };
        let un = |op: UnOp, x: &Id| prims::unary(op, arr(x)?).map(Val::Arr);
        let ints = |c: &Id| as_ints(val(c));
        let red = |k: Reduction, [ax, x]: &[Id; 2]| prims::reduce(k, ints(ax)?, arr(x)?).map(Val::Arr);
        match node {
            Ir::Outputs(ch) => ch.iter().map(|c| arr(c).cloned()).collect::<Result<_, _>>().map(Val::Multi),
            Ir::Get([i, k]) => {
                let i = as_lit(val(i))?;
                match val(k) {
                    Val::Multi(v) if i >= 0.0 && i.fract() == 0.0 && (i as usize) < v.len() => {
                        Ok(Val::Arr(v[i as usize].clone()))
                    }
                    Val::Arr(a) if i == 0.0 => Ok(Val::Arr(a.clone())),
                    _ => Err(InterpError::Malformed(format!("get {i} of a value without that output"))),
                }
            }
            Ir::Absent => Ok(Val::Absent),
            Ir::Add(ab) => bin(BinOp::Add, ab),
            Ir::Sub(ab) => bin(BinOp::Sub, ab),
            Ir::Mul(ab) => bin(BinOp::Mul, ab),
            Ir::Div(ab) => bin(BinOp::Div, ab),
            Ir::Pow(ab) => bin(BinOp::Pow, ab),
            Ir::Max(ab) => bin(BinOp::Max, ab),
            Ir::Min(ab) => bin(BinOp::Min, ab),
            Ir::Neg(x) => un(UnOp::Neg, x),
            Ir::Abs(x) => un(UnOp::Abs, x),
            Ir::Exp(x) => un(UnOp::Exp, x),
            Ir::Log(x) => un(UnOp::Log, x),
            Ir::Sqrt(x) => un(UnOp::Sqrt, x),
            Ir::Rsqrt(x) => un(UnOp::Rsqrt, x),
            Ir::Erf(x) => un(UnOp::Erf, x),
            Ir::Tanh(x) => un(UnOp::Tanh, x),
            Ir::Sigmoid(x) => un(UnOp::Sigmoid, x),
            Ir::Round(x) => un(UnOp::Round, x),
            Ir::Clip([x, lo, hi]) => {
                let vs = [val(x), val(lo), val(hi)];
                let dtype = vs
                    .iter()
                    .find_map(|v| if let Val::Arr(a) = v { Some(a.dtype) } else { None })
                    .ok_or_else(|| InterpError::Type("clip needs a tensor operand".into()))?;
                let [x, lo, hi] = vs.map(|v| operand(v, dtype));
                prims::clip(&x?, &lo?, &hi?).map(Val::Arr)
            }
            Ir::Shl([x, k]) => prims::shift(arr(x)?, as_lit(val(k))?, true).map(Val::Arr),
            Ir::Shr([x, k]) => prims::shift(arr(x)?, as_lit(val(k))?, false).map(Val::Arr),
            Ir::Cast([t, x]) => match val(t) {
                Val::Payload(Payload::DType(to)) => prims::cast(arr(x)?, *to).map(Val::Arr),
                _ => Err(InterpError::Malformed("cast needs a #dtype payload".into())),
            },
            Ir::Quantize([ax, x, s, z]) => {
                let x = arr(x)?;
                prims::quantize(ints(ax)?, x, &operand(val(s), x.dtype)?, arr(z)?).map(Val::Arr)
            }
            Ir::Dequantize([ax, x, s, z]) => {
                let x = arr(x)?;
                let z = match val(z) {
                    Val::Absent => Arr::literal(x.dtype, 0.0)?,
                    v => operand(v, x.dtype)?,
                };
                prims::dequantize(ints(ax)?, x, arr(s)?, &z).map(Val::Arr)
            }
            Ir::RSum(p) => red(Reduction::Sum, p),
            Ir::RMax(p) => red(Reduction::Max, p),
            Ir::RMean(p) => red(Reduction::Mean, p),
            Ir::Dot([spec, a, b]) => match val(spec) {
                Val::Payload(Payload::Einsum(e)) => layout::dot(e, arr(a)?, arr(b)?).map(Val::Arr),
                _ => Err(InterpError::Malformed("dot needs an #einsum payload".into())),
            },
            Ir::Window([spec, x, pad]) => match val(spec) {
                Val::Payload(Payload::Window(w)) => {
                    let x = arr(x)?;
                    layout::window(w, x, &Arr::literal(x.dtype, as_lit(val(pad))?)?).map(Val::Arr)
                }
                _ => Err(InterpError::Malformed("window needs a #win payload".into())),
            },
            Ir::Reshape([s, x]) => layout::reshape(ints(s)?, arr(x)?).map(Val::Arr),
            Ir::Transpose([p, x]) => layout::transpose(ints(p)?, arr(x)?).map(Val::Arr),
            Ir::Broadcast([s, x]) => layout::broadcast(ints(s)?, arr(x)?).map(Val::Arr),
            Ir::Slice([s, x]) => match val(s) {
                Val::Payload(Payload::Slice(spec)) => layout::slice(spec, arr(x)?).map(Val::Arr),
                _ => Err(InterpError::Malformed("slice needs a #slice payload".into())),
            },
            Ir::Concat(ch) => {
                let (axis, xs) =
                    ch.split_first().ok_or_else(|| InterpError::Malformed("concat needs an axis".into()))?;
                let axis = *ints(axis)?.first().ok_or_else(|| InterpError::Malformed("empty concat axis".into()))?;
                let xs = xs.iter().map(|c| arr(c).cloned()).collect::<Result<Vec<_>, _>>()?;
                if xs.is_empty() {
                    return Err(InterpError::Malformed("concat of nothing".into()));
                }
                layout::concat(axis, &xs).map(Val::Arr)
            }
            Ir::Pad([p, x, v]) => {
                let x = arr(x)?;
                layout::pad(ints(p)?, x, &Arr::literal(x.dtype, as_lit(val(v))?)?).map(Val::Arr)
            }
            Ir::Gather([a, x, i]) => {
                let axis = *ints(a)?.first().ok_or_else(|| InterpError::Malformed("empty gather axis".into()))?;
                layout::gather(axis, arr(x)?, arr(i)?).map(Val::Arr)
            }
            Ir::Opaque(_) => Err(InterpError::Unsupported("opaque ops".into())),
            Ir::Lit(l) => Ok(Val::Lit(l.0)),
            Ir::Const(c) => self
                .consts
                .get(&c.0)
                .ok_or(InterpError::UnknownConst(c.0))
                .and_then(|t| Arr::from_tensor(t))
                .map(Val::Arr),
            Ir::Input(name) => {
                let t = self.inputs.get(&*name.0).ok_or_else(|| InterpError::UnknownInput(name.0.to_string()))?;
                Arr::from_tensor(t).map(Val::Arr)
            }
            Ir::Payload(p) => Ok(Val::Payload(p.clone())),
            Ir::Fun(name, args) => {
                self.function(&name.0, &args.iter().map(|c| (val(c), weights[usize::from(*c)])).collect::<Vec<_>>())
            }
            Ir::Kernel(sym, ch) => {
                let (first, inputs) =
                    ch.split_first().ok_or_else(|| InterpError::Malformed("kernel without op".into()))?;
                let Val::Payload(Payload::Op(op)) = val(first) else {
                    return Err(InterpError::Malformed(format!("kernel {sym}'s first child is not an op")));
                };
                if kernel_symbol(op.op().onnx_name()) != *sym {
                    return Err(InterpError::Malformed(format!("kernel {sym} holds a {} op", op.op().onnx_name())));
                }
                let inputs = inputs
                    .iter()
                    .map(|c| match val(c) {
                        Val::Absent => Ok(KernelInput::Absent),
                        Val::Arr(a) if weights[usize::from(*c)] => a.to_tensor().map(KernelInput::Const),
                        Val::Arr(a) => a.to_tensor().map(KernelInput::Runtime),
                        _ => Err(InterpError::Malformed(format!("kernel {sym} input is not a tensor"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut outs = run_kernel(op.op(), &inputs, self.opset.max(op.op().min_opset()))?
                    .iter()
                    .map(Arr::from_tensor)
                    .collect::<Result<Vec<_>, _>>()?;
                if outs.len() == 1 {
                    Ok(Val::Arr(outs.remove(0)))
                } else {
                    Ok(Val::Multi(outs))
                }
            }
        }
    }

    /// A constant function: its facts first (a payload or literal result is the value), then
    /// its tensor result.
    fn function(&self, name: &str, args: &[(&Val, bool)]) -> Result<Val, InterpError> {
        let fail = |cause: String| InterpError::Function { name: name.to_string(), cause };
        let facts: Vec<IrData> = args
            .iter()
            .map(|(v, weight)| match v {
                Val::Arr(a) => IrData::tensor(TensorType::new(a.dtype, a.shape().to_vec()), *weight),
                Val::Multi(_) => IrData { types: vec![None, None], ..IrData::leaf(*weight) },
                Val::Lit(l) => IrData { lit: Some(crate::ir::Literal(*l)), ..IrData::leaf(true) },
                Val::Payload(p) => IrData { payload: Some(p.clone()), ..IrData::leaf(true) },
                Val::Absent => IrData::leaf(true),
            })
            .collect();
        let data = self.functions.infer(name, &facts.iter().collect::<Vec<_>>()).map_err(fail)?;
        if let Some(p) = data.payload {
            return Ok(Val::Payload(p));
        }
        if let Some(l) = data.lit {
            return Ok(Val::Lit(l.0));
        }
        let tensors: Vec<Option<Tensor>> = args
            .iter()
            .map(|(v, _)| match v {
                Val::Arr(a) => a.to_tensor().map(Some),
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        let fn_args: Vec<FnArg> = args
            .iter()
            .zip(&tensors)
            .map(|((v, _), t)| match (v, t) {
                (_, Some(t)) => FnArg::Tensor(t),
                (Val::Payload(p), _) => FnArg::Payload(p),
                (Val::Lit(l), _) => FnArg::Literal(*l),
                _ => FnArg::Literal(f64::NAN),
            })
            .collect();
        let t = self.functions.eval(name, &fn_args).map_err(fail)?;
        if data.ty().is_some_and(|ty| *ty != t.ttype()) {
            return Err(fail(format!("returned {} but promised {}", t.ttype(), data.ty().expect("checked"))));
        }
        Arr::from_tensor(&t).map(Val::Arr)
    }
}

fn public(v: Val) -> Result<Value, InterpError> {
    Ok(match v {
        Val::Arr(a) => Value::Tensor(a.to_tensor()?),
        Val::Multi(v) => Value::Tuple(v.iter().map(Arr::to_tensor).collect::<Result<_, _>>()?),
        Val::Lit(l) => Value::Lit(l),
        Val::Payload(p) => Value::Payload(p),
        Val::Absent => Value::Absent,
    })
}

fn as_arr(v: &Val) -> Result<&Arr, InterpError> {
    match v {
        Val::Arr(a) => Ok(a),
        other => Err(InterpError::Malformed(format!("expected a tensor, found {}", kind(other)))),
    }
}

fn as_lit(v: &Val) -> Result<f64, InterpError> {
    match v {
        Val::Lit(l) => Ok(*l),
        other => Err(InterpError::Malformed(format!("expected a literal, found {}", kind(other)))),
    }
}

fn as_ints(v: &Val) -> Result<&[i64], InterpError> {
    match v {
        Val::Payload(Payload::Ints(p)) => Ok(p),
        other => Err(InterpError::Malformed(format!("expected an #ints payload, found {}", kind(other)))),
    }
}

fn kind(v: &Val) -> String {
    match v {
        Val::Arr(a) => format!("a {} tensor", a.dtype),
        Val::Multi(_) => "a multi-output value".into(),
        Val::Lit(l) => format!("the literal {l}"),
        Val::Payload(p) => format!("the payload {p}"),
        Val::Absent => "an absent input".into(),
    }
}

/// A tensor operand, or a literal taking `dtype`.
fn operand(v: &Val, dtype: crate::tensor::DType) -> Result<Arr, InterpError> {
    match v {
        Val::Lit(l) => Arr::literal(dtype, *l),
        other => as_arr(other).cloned(),
    }
}

/// Two operands of an elementwise op: a literal takes the other operand's element type.
fn operands2(a: &Val, b: &Val) -> Result<(Arr, Arr), InterpError> {
    match (a, b) {
        (Val::Arr(x), other) => Ok((x.clone(), operand(other, x.dtype)?)),
        (other, Val::Arr(y)) => Ok((operand(other, y.dtype)?, y.clone())),
        _ => Err(InterpError::Type("an elementwise op needs at least one tensor operand".into())),
    }
}

#[cfg(test)]
mod tests;
