//! The interpreter's working arrays: an element type with its values held exactly in `f64`
//! (float types, rounded to their own precision after every primitive) or `i64` (integer types
//! and bool, wrapped to their own width after every primitive).

use super::InterpError;
use crate::ops::broadcast_shapes;
use crate::tensor::{DType, Tensor};
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

/// The values of an [`Arr`].
#[derive(Clone, Debug, PartialEq)]
pub enum Elems {
    /// Float types: every value is representable in the element type.
    F(ArrayD<f64>),
    /// Integer types and bool: every value is in the element type's range.
    I(ArrayD<i64>),
}

/// A typed n-dimensional array.
#[derive(Clone, Debug, PartialEq)]
pub struct Arr {
    /// Element type.
    pub dtype: DType,
    /// Values.
    pub elems: Elems,
}

/// `v` rounded to the nearest value of a float type (ties to even).
pub fn round_to(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::F32 => v as f32 as f64,
        DType::F16 => f16::from_f64(v).to_f64(),
        DType::BF16 => bf16::from_f64(v).to_f64(),
        _ => v,
    }
}

/// `v` wrapped to an integer type's width (two's complement), or 0/1 for bool.
pub fn wrap(dtype: DType, v: i64) -> i64 {
    match dtype {
        DType::I8 => v as i8 as i64,
        DType::U8 => v as u8 as i64,
        DType::I16 => v as i16 as i64,
        DType::U16 => v as u16 as i64,
        DType::I32 => v as i32 as i64,
        DType::U32 => v as u32 as i64,
        DType::Bool => (v != 0) as i64,
        _ => v,
    }
}

/// The range of an integer type (bool: 0..=1), as `f64`.
pub fn int_range(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::U8 => (0.0, u8::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::U16 => (0.0, u16::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::U32 => (0.0, u32::MAX as f64),
        DType::Bool => (0.0, 1.0),
        DType::U64 => (0.0, i64::MAX as f64),
        _ => (i64::MIN as f64, i64::MAX as f64),
    }
}

/// `v` converted to an integer type, saturating at its range (NaN gives 0), after truncation.
pub fn saturate(dtype: DType, v: f64) -> i64 {
    if v.is_nan() {
        return 0;
    }
    let (lo, hi) = int_range(dtype);
    v.trunc().clamp(lo, hi) as i64
}

/// Whether the interpreter computes on this element type, and how.
fn is_int_like(dtype: DType) -> Option<bool> {
    match dtype {
        d if d.is_float() => Some(false),
        d if d.is_integer() || d == DType::Bool => Some(true),
        _ => None,
    }
}

impl Arr {
    /// A float array; values are rounded to `dtype`.
    pub fn float(dtype: DType, a: ArrayD<f64>) -> Arr {
        Arr { dtype, elems: Elems::F(a.mapv(|v| round_to(dtype, v))) }
    }

    /// An integer (or bool) array; values are wrapped to `dtype`.
    pub fn int(dtype: DType, a: ArrayD<i64>) -> Arr {
        Arr { dtype, elems: Elems::I(a.mapv(|v| wrap(dtype, v))) }
    }

    /// A scalar of `dtype` holding a literal: rounded for floats, truncated and saturated for
    /// integers (so `-inf` is the type's minimum).
    pub fn literal(dtype: DType, v: f64) -> Result<Arr, InterpError> {
        let shape = IxDyn(&[]);
        match is_int_like(dtype) {
            Some(false) => Ok(Arr::float(dtype, ArrayD::from_elem(shape, v))),
            Some(true) => Ok(Arr::int(dtype, ArrayD::from_elem(shape, saturate(dtype, v)))),
            None => Err(InterpError::Unsupported(format!("{dtype} elements"))),
        }
    }

    /// The array of a tensor.
    pub fn from_tensor(t: &Tensor) -> Result<Arr, InterpError> {
        let shape = IxDyn(&t.shape);
        let bad = |e: ndarray::ShapeError| InterpError::Malformed(format!("tensor data does not fit its shape: {e}"));
        match is_int_like(t.dtype) {
            Some(false) => {
                let v = t.to_f64_vec().ok_or_else(|| InterpError::Unsupported(format!("{} tensors", t.dtype)))?;
                Ok(Arr { dtype: t.dtype, elems: Elems::F(ArrayD::from_shape_vec(shape, v).map_err(bad)?) })
            }
            Some(true) => {
                let v = t.to_i64_vec().ok_or_else(|| InterpError::Unsupported(format!("{} tensors", t.dtype)))?;
                Ok(Arr { dtype: t.dtype, elems: Elems::I(ArrayD::from_shape_vec(shape, v).map_err(bad)?) })
            }
            None => Err(InterpError::Unsupported(format!("{} tensors", t.dtype))),
        }
    }

    /// The tensor of this array.
    pub fn to_tensor(&self) -> Result<Tensor, InterpError> {
        let shape = self.shape().to_vec();
        let t = match &self.elems {
            Elems::F(a) => Tensor::from_f64(self.dtype, shape, &a.iter().copied().collect::<Vec<_>>()),
            Elems::I(a) => Tensor::from_i64(self.dtype, shape, &a.iter().copied().collect::<Vec<_>>()),
        };
        t.ok_or_else(|| InterpError::Unsupported(format!("{} tensors", self.dtype)))
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        match &self.elems {
            Elems::F(a) => a.shape(),
            Elems::I(a) => a.shape(),
        }
    }

    /// Every value as `f64`.
    #[cfg(test)]
    pub fn to_f64(&self) -> ArrayD<f64> {
        match &self.elems {
            Elems::F(a) => a.clone(),
            Elems::I(a) => a.mapv(|v| v as f64),
        }
    }

    /// Applies a shape-only transformation to the values, whatever their kind.
    pub fn map_layout(
        &self,
        f: impl Fn(&ArrayD<f64>) -> Result<ArrayD<f64>, InterpError>,
        g: impl Fn(&ArrayD<i64>) -> Result<ArrayD<i64>, InterpError>,
    ) -> Result<Arr, InterpError> {
        let elems = match &self.elems {
            Elems::F(a) => Elems::F(f(a)?),
            Elems::I(a) => Elems::I(g(a)?),
        };
        Ok(Arr { dtype: self.dtype, elems })
    }
}

/// Both arrays broadcast to their common shape (numpy rules).
fn broadcast_pair<T: Clone>(a: &ArrayD<T>, b: &ArrayD<T>) -> Result<(ArrayD<T>, ArrayD<T>), InterpError> {
    let shape = broadcast_shapes(a.shape(), b.shape()).map_err(|e| InterpError::Type(e.to_string()))?;
    Ok((broadcast_to(a, &shape)?, broadcast_to(b, &shape)?))
}

/// `a` broadcast to exactly `shape`.
pub fn broadcast_to<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, InterpError> {
    a.broadcast(IxDyn(shape))
        .map(|v| v.to_owned())
        .ok_or_else(|| InterpError::Type(format!("cannot broadcast {:?} to {shape:?}", a.shape())))
}

/// Elementwise binary op on two arrays of one element type, with numpy broadcasting: `f` on
/// float values (result rounded), `g` on integer values (result wrapped).
pub fn zip2(
    a: &Arr,
    b: &Arr,
    f: impl Fn(f64, f64) -> f64,
    g: impl Fn(i64, i64) -> Result<i64, InterpError>,
) -> Result<Arr, InterpError> {
    if a.dtype != b.dtype {
        return Err(InterpError::Type(format!("operands have different types ({} and {})", a.dtype, b.dtype)));
    }
    match (&a.elems, &b.elems) {
        (Elems::F(x), Elems::F(y)) => {
            let (x, y) = broadcast_pair(x, y)?;
            Ok(Arr::float(a.dtype, ndarray::Zip::from(&x).and(&y).map_collect(|&p, &q| f(p, q))))
        }
        (Elems::I(x), Elems::I(y)) => {
            let (x, y) = broadcast_pair(x, y)?;
            let mut err = None;
            let out = ndarray::Zip::from(&x).and(&y).map_collect(|&p, &q| {
                g(p, q).unwrap_or_else(|e| {
                    err.get_or_insert(e);
                    0
                })
            });
            match err {
                Some(e) => Err(e),
                None => Ok(Arr::int(a.dtype, out)),
            }
        }
        _ => Err(InterpError::Malformed("operands of one type hold different kinds of values".into())),
    }
}

/// Elementwise unary op: `f` on float values (rounded), `g` on integer values (wrapped), `None`
/// when the op is undefined on integers.
pub fn map1(a: &Arr, what: &str, f: impl Fn(f64) -> f64, g: Option<fn(i64) -> i64>) -> Result<Arr, InterpError> {
    match (&a.elems, g) {
        (Elems::F(x), _) => Ok(Arr::float(a.dtype, x.mapv(f))),
        (Elems::I(x), Some(g)) => Ok(Arr::int(a.dtype, x.mapv(g))),
        (Elems::I(_), None) => Err(InterpError::Unsupported(format!("{what} of a {} tensor", a.dtype))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_adopt_the_type() {
        let l = Arr::literal(DType::I8, f64::NEG_INFINITY).unwrap();
        assert_eq!(l.elems, Elems::I(ArrayD::from_elem(IxDyn(&[]), -128)));
        let l = Arr::literal(DType::F32, 0.1).unwrap();
        assert_eq!(l.elems, Elems::F(ArrayD::from_elem(IxDyn(&[]), 0.1f32 as f64)));
        assert_eq!(wrap(DType::U8, 256 + 7), 7);
        assert_eq!(saturate(DType::I8, 300.7), 127);
    }

    #[test]
    fn tensors_round_trip() {
        let t = Tensor::from_i64(DType::U8, vec![2, 2], &[0, 1, 254, 255]).unwrap();
        assert_eq!(Arr::from_tensor(&t).unwrap().to_tensor().unwrap(), t);
        let t = Tensor::f32(vec![3], vec![0.5, -1.25, 3.0]);
        assert_eq!(Arr::from_tensor(&t).unwrap().to_tensor().unwrap(), t);
    }
}
