//! The named constant functions rules call (`(@bn_scale ?op ?g ?v)`): weight computations
//! evaluated at emission, and payload computations (a conv's window, an einsum, a reshape
//! target) evaluated by the analysis from the arguments' facts. A function that does not apply
//! (an attribute value without a decomposition) fails, which leaves the rule's right side
//! ill-typed so that the rule does not fire.
//!
//! Every function takes its arguments' facts in `infer`: an op payload, a tensor type, a
//! literal. Functions of weights require weight-only tensor arguments.

mod conv;
mod convt;
mod fold;
mod layout_fns;
mod merge;
mod payloads;
mod recognize;
mod resample;
mod resize;
mod shiftadd;
mod weights;
mod winograd;

pub(crate) use payloads::matmul_spec;

use crate::ir::{ConstFns, FnArg, IrData, Literal, OpPayload, Payload};
use crate::ops::Op;
use crate::tensor::{Tensor, TensorType};
use std::sync::OnceLock;

/// A function's facts from its arguments' facts.
pub(crate) type InferFn = fn(&[&IrData]) -> Result<IrData, String>;

/// A function's tensor result from its arguments.
pub(crate) type EvalFn = fn(&[FnArg]) -> Result<Tensor, String>;

/// One function of the table.
pub(crate) struct Function {
    /// The name, without `@`.
    pub name: &'static str,
    /// The result's facts from the arguments' facts.
    pub infer: InferFn,
    /// The tensor result (`None` for payload and literal results).
    pub eval: Option<EvalFn>,
}

/// The function table of gos-opt's rules (`rules/*.rules`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Functions;

fn table() -> impl Iterator<Item = &'static Function> {
    payloads::FUNCTIONS
        .iter()
        .chain(conv::FUNCTIONS)
        .chain(weights::FUNCTIONS)
        .chain(resample::FUNCTIONS)
        .chain(convt::FUNCTIONS)
        .chain(resize::FUNCTIONS)
        .chain(layout_fns::FUNCTIONS)
        .chain(fold::FUNCTIONS)
        .chain(recognize::FUNCTIONS)
        .chain(merge::FUNCTIONS)
        .chain(shiftadd::FUNCTIONS)
        .chain(winograd::FUNCTIONS)
}

fn find(name: &str) -> Result<&'static Function, String> {
    table().find(|f| f.name == name).ok_or_else(|| format!("unknown constant function @{name}"))
}

impl ConstFns for Functions {
    fn infer(&self, name: &str, args: &[&IrData]) -> Result<IrData, String> {
        (find(name)?.infer)(args)
    }

    fn eval(&self, name: &str, args: &[FnArg]) -> Result<Tensor, String> {
        match find(name)?.eval {
            Some(eval) => eval(args),
            None => Err(format!("@{name} computes a payload or a literal, not a tensor")),
        }
    }

    fn names(&self) -> &[&str] {
        static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
        NAMES.get_or_init(|| table().map(|f| f.name).collect())
    }
}

/// Errors unless there are exactly `n` arguments.
pub(crate) fn arity<T>(args: &[T], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("takes {n} argument{}, found {}", if n == 1 { "" } else { "s" }, args.len()))
    }
}

/// Argument `i` as an op payload.
pub(crate) fn op<'a>(args: &[&'a IrData], i: usize) -> Result<&'a Op, String> {
    match args.get(i).and_then(|d| d.payload.as_ref()) {
        Some(Payload::Op(p)) => Ok(p.op()),
        _ => Err(format!("argument {i} is not a kernel's op")),
    }
}

/// Argument `i` as a tensor type.
pub(crate) fn ty<'a>(args: &[&'a IrData], i: usize) -> Result<&'a TensorType, String> {
    args.get(i)
        .and_then(|d| if d.lit.is_some() { None } else { d.ty() })
        .ok_or_else(|| format!("argument {i} is not a tensor"))
}

/// Argument `i` as a payload.
pub(crate) fn payload_arg<'a>(args: &[&'a IrData], i: usize) -> Result<&'a Payload, String> {
    args.get(i).and_then(|d| d.payload.as_ref()).ok_or_else(|| format!("argument {i} is not a payload"))
}

/// Argument `i` as an `#ints` payload.
pub(crate) fn ints_arg<'a>(args: &[&'a IrData], i: usize) -> Result<&'a [i64], String> {
    match payload_arg(args, i)? {
        Payload::Ints(v) => Ok(v),
        other => Err(format!("argument {i} is {other}, not an #ints payload")),
    }
}

/// Argument `i` as a literal.
pub(crate) fn lit_arg(args: &[&IrData], i: usize) -> Result<f64, String> {
    args.get(i).and_then(|d| d.lit).map(|l| l.0).ok_or_else(|| format!("argument {i} is not a literal"))
}

/// Facts of a payload result.
pub(crate) fn payload(p: Payload) -> IrData {
    IrData { payload: Some(p), ..IrData::leaf(true) }
}

/// Facts of an `#ints` result.
pub(crate) fn ints(v: Vec<i64>) -> IrData {
    payload(Payload::Ints(v))
}

/// Facts of an op result.
pub(crate) fn op_result(op: Op) -> IrData {
    payload(Payload::Op(OpPayload::new(op)))
}

/// Facts of a literal result.
pub(crate) fn literal(v: f64) -> IrData {
    IrData { lit: Some(Literal(v)), ..IrData::leaf(true) }
}

/// Dimensions as `#ints` values.
pub(crate) fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Facts for function tests.
    use super::*;
    use crate::tensor::DType;

    /// A tensor argument.
    pub fn t(shape: &[usize]) -> IrData {
        IrData::tensor(TensorType::new(DType::F32, shape.to_vec()), false)
    }

    /// A weight argument.
    pub fn w(shape: &[usize]) -> IrData {
        IrData::tensor(TensorType::new(DType::F32, shape.to_vec()), true)
    }

    /// An op argument.
    pub fn o(op: Op) -> IrData {
        op_result(op)
    }

    /// Calls a function by name.
    pub fn call(name: &str, args: &[IrData]) -> Result<IrData, String> {
        Functions.infer(name, &args.iter().collect::<Vec<_>>())
    }

    /// The `#ints` a function returns.
    pub fn call_ints(name: &str, args: &[IrData]) -> Vec<i64> {
        match call(name, args).unwrap_or_else(|e| panic!("@{name}: {e}")).payload {
            Some(Payload::Ints(v)) => v,
            other => panic!("@{name} gave {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn every_name_is_unique_and_known() {
        let names = Functions.names();
        assert!(names.len() > 40);
        for (i, n) in names.iter().enumerate() {
            assert!(!names[..i].contains(n), "@{n} is defined twice");
            assert!(find(n).is_ok());
        }
        assert!(call("no_such_function", &[]).unwrap_err().contains("unknown"));
        assert!(Functions.eval("relu_op", &[]).unwrap_err().contains("payload"));
    }

    #[test]
    fn argument_helpers_reject_the_wrong_kind() {
        let l = literal(2.0);
        assert!(ty(&[&l], 0).is_err());
        assert_eq!(lit_arg(&[&l], 0), Ok(2.0));
        assert!(op(&[&t(&[2])], 0).is_err());
        assert!(ints_arg(&[&l], 0).is_err());
        assert!(arity(&[1, 2], 1).is_err());
    }
}
