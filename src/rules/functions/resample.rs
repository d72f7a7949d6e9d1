//! Functions of the index-moving kernels: Gather's axis and normalised constant indices.

use super::{arity, ints, ints_arg, op, ty, Function};
use crate::ir::{FnArg, IrData, Payload};
use crate::ops::{norm_axis, Op};
use crate::tensor::{Tensor, TensorType};

type R = Result<IrData, String>;

fn gather_op(o: &Op) -> Result<i64, String> {
    match o {
        Op::Gather(g) => Ok(g.axis),
        other => Err(format!("expected Gather, found {}", other.onnx_name())),
    }
}

/// `@gather_axis op x`: Gather's axis resolved against x's rank.
fn gather_axis(a: &[&IrData]) -> R {
    arity(a, 2)?;
    let x = ty(a, 1)?;
    let axis = norm_axis(gather_op(op(a, 0)?)?, x.shape.len()).map_err(|e| e.to_string())?;
    Ok(ints(vec![axis as i64]))
}

/// `@gather_indices op #ints:shape indices`: constant Gather indices with negative values
/// counted from the end of the gathered axis of an input of that shape (weight-only indices).
fn gather_indices(a: &[&IrData]) -> R {
    arity(a, 3)?;
    let shape = ints_arg(a, 1)?;
    norm_axis(gather_op(op(a, 0)?)?, shape.len()).map_err(|e| e.to_string())?;
    let i: &TensorType = ty(a, 2)?;
    if !a[2].weight_only {
        return Err("the indices depend on a graph input".into());
    }
    if !i.dtype.is_integer() {
        return Err(format!("{} indices", i.dtype));
    }
    Ok(IrData::tensor(i.clone(), true))
}

fn gather_indices_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 3)?;
    let (Some(FnArg::Payload(Payload::Op(o))), Some(FnArg::Payload(Payload::Ints(shape))), Some(FnArg::Tensor(i))) =
        (args.first(), args.get(1), args.get(2))
    else {
        return Err("expected an op, #ints and a tensor".into());
    };
    let axis = norm_axis(gather_op(o.op())?, shape.len()).map_err(|e| e.to_string())?;
    let dim = shape[axis];
    let values = i.to_i64_vec().ok_or("unreadable indices")?;
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let j = if v < 0 { v + dim } else { v };
        if !(0..dim).contains(&j) {
            return Err(format!("index {v} out of range for an axis of {dim}"));
        }
        out.push(j as f64);
    }
    Tensor::from_f64(i.dtype, i.shape.clone(), &out).ok_or_else(|| "unsupported index type".into())
}

/// The functions of this file.
pub(crate) const FUNCTIONS: &[Function] = &[
    Function { name: "gather_axis", infer: gather_axis, eval: None },
    Function { name: "gather_indices", infer: gather_indices, eval: Some(gather_indices_eval) },
];

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{ints as ints_facts, Functions};
    use super::*;
    use crate::ir::{ConstFns, OpPayload};
    use crate::ops::Gather;
    use crate::tensor::DType;

    #[test]
    fn gather_axis_and_indices() {
        let g = Op::Gather(Gather { axis: -1 });
        assert_eq!(call_ints("gather_axis", &[o(g.clone()), t(&[2, 5])]), vec![1]);
        let idx = IrData::tensor(TensorType::new(DType::I64, vec![3]), true);
        let facts = call("gather_indices", &[o(g.clone()), ints_facts(vec![2, 5]), idx.clone()]).unwrap();
        assert_eq!(facts.ty().unwrap(), &TensorType::new(DType::I64, vec![3]));
        let data = IrData::tensor(TensorType::new(DType::I64, vec![3]), false);
        assert!(call("gather_indices", &[o(g.clone()), ints_facts(vec![2, 5]), data]).is_err());
        let (p, shape) = (Payload::Op(OpPayload::new(g)), Payload::Ints(vec![2, 5]));
        let i = Tensor::i64(vec![3], vec![-1, 0, -5]);
        let args = [FnArg::Payload(&p), FnArg::Payload(&shape), FnArg::Tensor(&i)];
        assert_eq!(Functions.eval("gather_indices", &args).unwrap().to_i64_vec().unwrap(), vec![4, 0, 0]);
        let bad = Tensor::i64(vec![1], vec![5]);
        assert!(Functions.eval("gather_indices", &[args[0], args[1], FnArg::Tensor(&bad)]).is_err());
    }
}
