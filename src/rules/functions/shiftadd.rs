//! `@csd w`: 8-bit integer weights marked for shift-add kernels ([`crate::shiftadd`]): the same
//! integers, rebuilt from their digits under the tensor's coding, so that `rules verify` checks
//! the recoding on every value it draws.

use super::weights::tensor_arg;
use super::{arity, ty, Function};
use crate::ir::{FnArg, IrData};
use crate::shiftadd::{digits, value, Coding};
use crate::tensor::{DType, Tensor, TensorData};

/// `@csd w`: `w` must be a weight-only tensor of 8-bit integers.
fn csd(a: &[&IrData]) -> Result<IrData, String> {
    arity(a, 1)?;
    let t = ty(a, 0)?;
    if !a[0].weight_only {
        return Err("argument 0 is not a weight (it depends on a graph input)".into());
    }
    if !matches!(t.dtype, DType::I8 | DType::U8) {
        return Err(format!("argument 0 is a {} tensor, not 8-bit integers", t.dtype));
    }
    Ok(IrData::tensor(t.clone(), true))
}

fn csd_eval(args: &[FnArg]) -> Result<Tensor, String> {
    arity(args, 1)?;
    let t = tensor_arg(args, 0)?;
    let ints: Vec<i32> = match &t.data {
        TensorData::I8(v) => v.iter().map(|&x| x as i32).collect(),
        TensorData::U8(v) => v.iter().map(|&x| x as i32).collect(),
        _ => return Err(format!("@csd takes 8-bit integers, found {}", t.dtype)),
    };
    let coding = Coding::choose(&ints);
    let rebuilt = ints.iter().map(|&w| value(&digits(w, coding.recoding)));
    let data = match &t.data {
        TensorData::I8(_) => TensorData::I8(rebuilt.map(|v| v as i8).collect()),
        _ => TensorData::U8(rebuilt.map(|v| v as u8).collect()),
    };
    Ok(Tensor::new(t.ttype().shape, data))
}

pub(crate) const FUNCTIONS: &[Function] = &[Function { name: "csd", infer: csd, eval: Some(csd_eval) }];

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn csd_rebuilds_every_int8_value() {
        let t = Tensor::new(vec![256], TensorData::I8((-128..=127).map(|v| v as i8).collect()));
        assert_eq!(csd_eval(&[FnArg::Tensor(&t)]).unwrap(), t);
        let u = Arc::new(Tensor::new(vec![256], TensorData::U8((0..=255).map(|v| v as u8).collect())));
        assert_eq!(csd_eval(&[FnArg::Tensor(&u)]).unwrap(), *u);
    }

    #[test]
    fn csd_refuses_floats() {
        let f = Tensor::f32(vec![1], vec![1.0]);
        assert!(csd_eval(&[FnArg::Tensor(&f)]).is_err());
    }
}
