//! Reductions over axes: ReduceMean, ReduceMax, ReduceSum. The axes are an attribute in older
//! opsets and a constant input in newer ones (ReduceSum from 13, the others from 18).

use super::layout::{eval_numel, for_each_index, norm_axes, strides};
use super::parse::push;
use super::{input, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{Tensor, TensorType};
use crate::work::{Counter, OpClass};

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceKind {
    /// Arithmetic mean.
    Mean,
    /// Maximum.
    Max,
    /// Sum.
    Sum,
}

impl ReduceKind {
    /// The ONNX op_type.
    pub fn onnx_name(self) -> &'static str {
        match self {
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Sum => "ReduceSum",
        }
    }

    /// The first opset in which `axes` is an input rather than an attribute.
    pub fn axes_input_since(self) -> i64 {
        match self {
            ReduceKind::Sum => 13,
            ReduceKind::Mean | ReduceKind::Max => 18,
        }
    }
}

/// A reduction over some axes.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    /// Which reduction.
    pub kind: ReduceKind,
    /// Reduced axes (may be negative); `None` or empty reduces every axis, unless
    /// `noop_with_empty_axes`.
    pub axes: Option<Vec<i64>>,
    /// Keep reduced axes as size-1 dimensions (default true).
    pub keepdims: bool,
    /// With no axes, return the input unchanged instead of reducing everything (only where axes
    /// is an input).
    pub noop_with_empty_axes: bool,
}

impl Reduce {
    /// Which dimensions of an input of `rank` are reduced; `None` when the op is the identity.
    pub fn reduced(&self, rank: usize) -> OpResult<Option<Vec<bool>>> {
        match self.axes.as_deref() {
            None | Some([]) if self.noop_with_empty_axes => Ok(None),
            None | Some([]) => Ok(Some(vec![true; rank])),
            Some(axes) => {
                let axes = norm_axes(axes, rank)?;
                Ok(Some((0..rank).map(|i| axes.contains(&i)).collect()))
            }
        }
    }

    /// The output shape for `shape` and which of its dimensions are reduced.
    fn plan(&self, shape: &[usize]) -> OpResult<(Vec<usize>, Option<Vec<bool>>)> {
        let Some(mask) = self.reduced(shape.len())? else { return Ok((shape.to_vec(), None)) };
        let out = shape
            .iter()
            .zip(&mask)
            .filter_map(|(&d, &r)| match (r, self.keepdims) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        Ok((out, Some(mask)))
    }

    /// Folds `values` (row-major over `shape`) into one accumulator per output element.
    fn fold<T: Copy>(shape: &[usize], mask: &[bool], values: &[T], init: T, f: impl Fn(T, T) -> T) -> Vec<T> {
        let kept: Vec<usize> = shape.iter().zip(mask).map(|(&d, &r)| if r { 1 } else { d }).collect();
        let out_strides = strides(&kept);
        let mut acc = vec![init; kept.iter().product()];
        let mut k = 0;
        for_each_index(shape, |idx| {
            let o: usize = idx.iter().zip(mask).zip(&out_strides).map(|((&i, &r), &s)| if r { 0 } else { i * s }).sum();
            if let Some(&v) = values.get(k) {
                acc[o] = f(acc[o], v);
            }
            k += 1;
        });
        acc
    }
}

impl Operator for Reduce {
    fn parse(p: &Parser) -> OpResult<Self> {
        let kind = match p.op_type {
            "ReduceMean" => ReduceKind::Mean,
            "ReduceMax" => ReduceKind::Max,
            "ReduceSum" => ReduceKind::Sum,
            other => return Err(OpError::Unsupported(other.into())),
        };
        let axes = if p.opset < kind.axes_input_since() { p.ints_opt("axes")? } else { p.operand_ints(1)? };
        Ok(Reduce {
            kind,
            axes,
            keepdims: p.int("keepdims", 1)? != 0,
            noop_with_empty_axes: p.int("noop_with_empty_axes", 0)? != 0,
        })
    }
    fn onnx_name(&self) -> &str {
        self.kind.onnx_name()
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        Ok(vec![TensorType::new(x.dtype, self.plan(&x.shape)?.0)])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if !self.keepdims {
            push(&mut attrs, "keepdims", Attr::Int(0));
        }
        if opset < self.kind.axes_input_since() {
            if let Some(axes) = &self.axes {
                push(&mut attrs, "axes", Attr::Ints(axes.clone()));
            }
        } else if self.noop_with_empty_axes {
            push(&mut attrs, "noop_with_empty_axes", Attr::Int(1));
        }
        attrs
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let x = inputs.first().copied().flatten()?;
        eval_numel(&x.shape)?;
        let (out, mask) = match self.plan(&x.shape) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        let Some(mask) = mask else { return Some(Ok(vec![x.clone()])) };
        let count: usize = x.shape.iter().zip(&mask).filter(|(_, &r)| r).map(|(&d, _)| d).product();
        if x.dtype.is_integer() {
            let v = x.to_i64_vec()?;
            let acc = match self.kind {
                ReduceKind::Max if count == 0 => return None,
                ReduceKind::Max => Self::fold(&x.shape, &mask, &v, i64::MIN, i64::max),
                ReduceKind::Sum | ReduceKind::Mean => Self::fold(&x.shape, &mask, &v, 0, i64::wrapping_add),
            };
            let acc = match self.kind {
                ReduceKind::Mean => acc.iter().map(|&s| s.checked_div(count as i64)).collect::<Option<Vec<_>>>()?,
                _ => acc,
            };
            return Some(Ok(vec![Tensor::from_i64(x.dtype, out, &acc)?]));
        }
        if !x.dtype.is_float() {
            return None;
        }
        let v = x.to_f64_vec()?;
        let acc = match self.kind {
            ReduceKind::Max => Self::fold(&x.shape, &mask, &v, f64::NEG_INFINITY, |a, b| {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.max(b)
                }
            }),
            ReduceKind::Sum => Self::fold(&x.shape, &mask, &v, 0.0, |a, b| a + b),
            ReduceKind::Mean => {
                Self::fold(&x.shape, &mask, &v, 0.0, |a, b| a + b).into_iter().map(|s| s / count as f64).collect()
            }
        };
        Some(Ok(vec![Tensor::from_f64(x.dtype, out, &acc)?]))
    }
    fn work(&self, c: &mut Counter) {
        let (n, n_in, dt) = (c.n(), c.n_in(), c.dtype());
        match self.kind {
            ReduceKind::Sum => c.on_scalar(dt, OpClass::Add, n_in),
            ReduceKind::Max => c.on_scalar(dt, OpClass::Compare, n_in),
            ReduceKind::Mean => {
                c.on_scalar(dt, OpClass::Add, n_in);
                c.on(dt, OpClass::Mul, n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::testing::*;
    use super::*;
    use crate::tensor::DType;

    /// ONNX reduce examples' data, shape 3x2x2.
    fn data() -> Tensor {
        Tensor::f32(vec![3, 2, 2], vec![5.0, 1.0, 20.0, 2.0, 30.0, 1.0, 40.0, 2.0, 55.0, 1.0, 60.0, 2.0])
    }

    fn reduce(kind: ReduceKind, axes: &[i64], keepdims: bool) -> Reduce {
        Reduce { kind, axes: Some(axes.to_vec()), keepdims, noop_with_empty_axes: false }
    }

    #[test]
    fn keepdims_0_and_negative_axes() {
        // ReduceSum do_not_keepdims: 1..=12 as 3x2x2, axes [1] → [[4, 6], [12, 14], [20, 22]].
        let x = Tensor::f32(vec![3, 2, 2], (1..=12).map(|i| i as f32).collect());
        let out = &run(&reduce(ReduceKind::Sum, &[1], false), &[&x])[0];
        assert_eq!((out.shape.clone(), values(out)), (vec![3, 2], vec![4.0, 6.0, 12.0, 14.0, 20.0, 22.0]));
        // negative_axes_keepdims: axes [-2] keeps a size-1 axis.
        let out = &run(&reduce(ReduceKind::Sum, &[-2], true), &[&x])[0];
        assert_eq!((out.shape.clone(), values(out)), (vec![3, 1, 2], vec![4.0, 6.0, 12.0, 14.0, 20.0, 22.0]));
        // ReduceMean / ReduceMax do_not_keepdims on the shared example data.
        let out = &run(&reduce(ReduceKind::Mean, &[1], false), &[&data()])[0];
        assert_eq!(values(out), vec![12.5, 1.5, 35.0, 1.5, 57.5, 1.5]);
        let out = &run(&reduce(ReduceKind::Max, &[-2], false), &[&data()])[0];
        assert_eq!(values(out), vec![20.0, 2.0, 40.0, 2.0, 60.0, 2.0]);
        let all = Reduce { kind: ReduceKind::Max, axes: None, keepdims: true, noop_with_empty_axes: false };
        let out = &run(&all, &[&data()])[0];
        assert_eq!((out.shape.clone(), values(out)), (vec![1, 1, 1], vec![60.0]));
        assert!(reduce(ReduceKind::Sum, &[1, -2], true).infer(&[Some(&data().ttype())]).is_err());
        assert!(reduce(ReduceKind::Sum, &[3], true).infer(&[Some(&data().ttype())]).is_err());
    }

    #[test]
    fn noop_with_empty_axes() {
        let empty = Tensor::i64(vec![0], vec![]);
        let a = attrs(&[("noop_with_empty_axes", Attr::Int(1)), ("keepdims", Attr::Int(0))]);
        let r: Reduce = round_trip(&parser("ReduceSum", 13, &a, vec![var(), cst(&empty)], 1));
        assert_eq!(run(&r, &[&data()]), vec![data()]);
        assert_eq!(r.infer(&[Some(&data().ttype())]).unwrap()[0].shape, vec![3, 2, 2]);
        let none = Attrs::new();
        let r = Reduce::parse(&parser("ReduceSum", 13, &none, vec![var(), cst(&empty)], 1)).unwrap();
        let out = &run(&r, &[&data()])[0];
        assert_eq!((out.shape.clone(), values(out)), (vec![1, 1, 1], vec![219.0]));
    }

    #[test]
    fn integers_reduce_exactly() {
        let x = Tensor::i64(vec![2, 3], vec![1, 2, 4, -7, 0, 9]);
        let out = &run(&reduce(ReduceKind::Sum, &[1], false), &[&x])[0];
        assert_eq!((out.dtype, out.to_i64_vec().unwrap()), (DType::I64, vec![7, 2]));
        let out = &run(&reduce(ReduceKind::Mean, &[0], false), &[&x])[0];
        assert_eq!(out.to_i64_vec().unwrap(), vec![-3, 1, 6]);
        let out = &run(&reduce(ReduceKind::Max, &[0, 1], true), &[&x])[0];
        assert_eq!((out.shape.clone(), out.to_i64_vec().unwrap()), (vec![1, 1], vec![9]));
    }

    #[test]
    fn axes_round_trip_at_11_and_13() {
        let a = attrs(&[("axes", Attr::Ints(vec![-1])), ("keepdims", Attr::Int(0))]);
        let axes = ints(&[-1]);
        let keep = attrs(&[("keepdims", Attr::Int(0))]);
        let sum11: Reduce = round_trip(&parser("ReduceSum", 11, &a, vec![var()], 1));
        let sum13: Reduce = round_trip(&parser("ReduceSum", 13, &keep, vec![var(), cst(&axes)], 1));
        assert_eq!(sum11, sum13);
        assert_eq!(sum13.attributes(13), keep);
        let mean13: Reduce = round_trip(&parser("ReduceMean", 13, &a, vec![var()], 1));
        let mean18: Reduce = round_trip(&parser("ReduceMean", 18, &keep, vec![var(), cst(&axes)], 1));
        assert_eq!(mean13, mean18);
        assert_eq!(mean13.onnx_name(), "ReduceMean");
        let p = parser("ReduceMax", 18, &keep, vec![var(), var()], 1);
        assert!(matches!(Reduce::parse(&p), Err(OpError::NonConstOperand { index: 1, .. })));
    }
}
