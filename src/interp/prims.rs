//! Elementwise, integer and reduction primitives: arithmetic with numpy broadcasting, the
//! transcendental functions (computed in `f64`, then rounded to the element type), shifts, ONNX
//! Cast, QuantizeLinear and DequantizeLinear, and the keep-dims reductions.

use super::array::{int_range, map1, round_to, saturate, wrap, zip2, Arr, Elems};
use super::InterpError;
use crate::tensor::DType;
use ndarray::{ArrayD, Axis, IxDyn};

/// A binary arithmetic primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a · b`.
    Mul,
    /// `a / b` (integers: truncated toward zero).
    Div,
    /// `a ^ b`.
    Pow,
    /// `max(a, b)` (NaN propagates).
    Max,
    /// `min(a, b)` (NaN propagates).
    Min,
}

/// `a op b` with numpy broadcasting; integers wrap to their width.
pub fn binary(op: BinOp, a: &Arr, b: &Arr) -> Result<Arr, InterpError> {
    let nan_max = |p: f64, q: f64| if p.is_nan() || q.is_nan() { f64::NAN } else { p.max(q) };
    let nan_min = |p: f64, q: f64| if p.is_nan() || q.is_nan() { f64::NAN } else { p.min(q) };
    match op {
        BinOp::Add => zip2(a, b, |p, q| p + q, |p, q| Ok(p.wrapping_add(q))),
        BinOp::Sub => zip2(a, b, |p, q| p - q, |p, q| Ok(p.wrapping_sub(q))),
        BinOp::Mul => zip2(a, b, |p, q| p * q, |p, q| Ok(p.wrapping_mul(q))),
        BinOp::Div => zip2(
            a,
            b,
            |p, q| p / q,
            |p, q| p.checked_div(q).ok_or_else(|| InterpError::Arith("integer division by zero".into())),
        ),
        BinOp::Pow => zip2(a, b, f64::powf, |p, q| Ok(int_pow(p, q))),
        BinOp::Max => zip2(a, b, nan_max, |p, q| Ok(p.max(q))),
        BinOp::Min => zip2(a, b, nan_min, |p, q| Ok(p.min(q))),
    }
}

/// `p^q` on integers: wrapping for `q >= 0`, the truncated reciprocal power otherwise.
fn int_pow(p: i64, q: i64) -> i64 {
    if q >= 0 {
        return p.wrapping_pow(q.min(u32::MAX as i64) as u32);
    }
    match p {
        1 => 1,
        -1 if q % 2 == 0 => 1,
        -1 => -1,
        _ => 0,
    }
}

/// A unary primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
    /// `e^x`.
    Exp,
    /// `ln x`.
    Log,
    /// `√x`.
    Sqrt,
    /// `1/√x` (rounded once).
    Rsqrt,
    /// The error function.
    Erf,
    /// `tanh x`.
    Tanh,
    /// `1/(1+e^-x)`.
    Sigmoid,
    /// Round half to even.
    Round,
}

/// `op(x)` elementwise. Transcendental functions are computed in `f64` and rounded once to the
/// element type; on integers only `neg`, `abs` and `round` are defined.
pub fn unary(op: UnOp, x: &Arr) -> Result<Arr, InterpError> {
    match op {
        UnOp::Neg => map1(x, "neg", |v| -v, Some(i64::wrapping_neg)),
        UnOp::Abs => map1(x, "abs", f64::abs, Some(i64::wrapping_abs)),
        UnOp::Round => map1(x, "round", f64::round_ties_even, Some(|v| v)),
        UnOp::Exp => map1(x, "exp", f64::exp, None),
        UnOp::Log => map1(x, "log", f64::ln, None),
        UnOp::Sqrt => map1(x, "sqrt", f64::sqrt, None),
        UnOp::Rsqrt => map1(x, "rsqrt", |v| 1.0 / v.sqrt(), None),
        UnOp::Erf => map1(x, "erf", erf, None),
        UnOp::Tanh => map1(x, "tanh", f64::tanh, None),
        UnOp::Sigmoid => map1(x, "sigmoid", |v| 1.0 / (1.0 + (-v).exp()), None),
    }
}

/// The error function to about 1e-15 relative: the Maclaurin series below 3, a continued
/// fraction for erfc above.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= 6.0 {
        return x.signum();
    }
    if a < 3.0 {
        // erf x = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
        let (x2, mut term, mut sum) = (x * x, x, x);
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        return sum * std::f64::consts::FRAC_2_SQRT_PI;
    }
    // erfc a = e^(-a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + 2/(a + ...))))), evaluated bottom-up.
    let mut f = a;
    for k in (1..120).rev() {
        f = a + (k as f64 / 2.0) / f;
    }
    let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / f;
    (1.0 - erfc).copysign(x)
}

/// `min(max(x, lo), hi)` with broadcasting.
pub fn clip(x: &Arr, lo: &Arr, hi: &Arr) -> Result<Arr, InterpError> {
    binary(BinOp::Min, &binary(BinOp::Max, x, lo)?, hi)
}

/// `x · 2^k` (`shl`) or `x / 2^k` (`shr`, `left = false`): integers shift (right shifts are
/// arithmetic, rounding toward -inf); floats scale exactly, then round to the element type.
pub fn shift(x: &Arr, k: f64, left: bool) -> Result<Arr, InterpError> {
    if k.fract() != 0.0 || k.abs() > 64.0 {
        return Err(InterpError::Type(format!("shift amount {k} is not a small integer")));
    }
    let k = if left { k as i64 } else { -(k as i64) };
    match &x.elems {
        Elems::F(a) => Ok(Arr::float(x.dtype, a.mapv(|v| v * 2f64.powi(k as i32)))),
        Elems::I(a) => {
            let f = move |v: i64| match k {
                k if k >= 64 => 0,
                k if k >= 0 => v.wrapping_shl(k as u32),
                k if k <= -64 => v >> 63,
                k => v >> (-k) as u32,
            };
            Ok(Arr::int(x.dtype, a.mapv(f)))
        }
    }
}

/// ONNX Cast: float → integer truncates toward zero and saturates (NaN gives 0), integer →
/// integer wraps, anything → bool is `!= 0`, → float rounds to nearest.
pub fn cast(x: &Arr, to: DType) -> Result<Arr, InterpError> {
    let float_target = to.is_float();
    if !float_target && !to.is_integer() && to != DType::Bool {
        return Err(InterpError::Unsupported(format!("cast to {to}")));
    }
    Ok(match (&x.elems, float_target) {
        (Elems::F(a), true) => Arr::float(to, a.clone()),
        (Elems::I(a), true) => Arr::float(to, a.mapv(|v| v as f64)),
        (Elems::F(a), false) if to == DType::Bool => Arr::int(to, a.mapv(|v| (v != 0.0) as i64)),
        (Elems::F(a), false) => Arr::int(to, a.mapv(|v| saturate(to, v))),
        (Elems::I(a), false) => Arr::int(to, a.clone()),
    })
}

/// Reshapes a scale or zero point for broadcasting against `x`: a one-element tensor applies
/// to every element (per tensor), a 1-D tensor runs along `axis` (per axis).
fn per_axis<T: Clone>(p: &ArrayD<T>, x: &[usize], axis: &[i64], what: &str) -> Result<ArrayD<T>, InterpError> {
    if p.len() == 1 {
        let v = p.iter().next().cloned().expect("one element");
        return Ok(ArrayD::from_elem(IxDyn(&[]), v));
    }
    let rank = x.len() as i64;
    let a = match axis {
        [] => 1,
        [a] => *a,
        _ => return Err(InterpError::Type(format!("quantization axis {axis:?} is not one axis"))),
    };
    let a = if a < 0 { a + rank } else { a };
    if !(0..rank).contains(&a) || p.ndim() != 1 || p.len() != x[a as usize] {
        return Err(InterpError::Type(format!("{what} {:?} fits neither per tensor nor axis {a} of {x:?}", p.shape())));
    }
    let mut shape = vec![1; x.len()];
    shape[a as usize] = p.len();
    p.clone().into_shape_with_order(IxDyn(&shape)).map_err(|e| InterpError::Malformed(format!("{what}: {e}")))
}

/// ONNX QuantizeLinear: `saturate(round_half_even(x / scale) + zero_point)`, the division
/// rounded to the scale's element type; the zero point decides the integer type.
pub fn quantize(axis: &[i64], x: &Arr, scale: &Arr, zp: &Arr) -> Result<Arr, InterpError> {
    let (Elems::F(xv), Elems::F(s), Elems::I(z)) = (&x.elems, &scale.elems, &zp.elems) else {
        return Err(InterpError::Type(format!("quantize of {} by a {} scale to {}", x.dtype, scale.dtype, zp.dtype)));
    };
    let s = per_axis(s, xv.shape(), axis, "scale")?;
    let z = per_axis(z, xv.shape(), axis, "zero point")?;
    let (lo, hi) = int_range(zp.dtype);
    let q =
        ndarray::Zip::from(xv).and_broadcast(&s).map_collect(|&v, &s| round_to(scale.dtype, v / s).round_ties_even());
    let z = super::array::broadcast_to(&z, xv.shape())?;
    let out = ndarray::Zip::from(&q).and(&z).map_collect(|&q, &z| (q + z as f64).clamp(lo, hi) as i64);
    Ok(Arr::int(zp.dtype, out))
}

/// ONNX DequantizeLinear: `(x - zero_point) · scale` in the scale's element type.
pub fn dequantize(axis: &[i64], x: &Arr, scale: &Arr, zp: &Arr) -> Result<Arr, InterpError> {
    let (Elems::I(xv), Elems::F(s), Elems::I(z)) = (&x.elems, &scale.elems, &zp.elems) else {
        return Err(InterpError::Type(format!("dequantize of {} by a {} scale", x.dtype, scale.dtype)));
    };
    let s = per_axis(s, xv.shape(), axis, "scale")?;
    let z = per_axis(z, xv.shape(), axis, "zero point")?;
    let d = ndarray::Zip::from(xv).and_broadcast(&z).map_collect(|&v, &z| (v - z) as f64);
    let out = ndarray::Zip::from(&d).and_broadcast(&s).map_collect(|&d, &s| d * s);
    Ok(Arr::float(scale.dtype, out))
}

/// A keep-dims reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// Sum.
    Sum,
    /// Maximum (NaN propagates).
    Max,
    /// Arithmetic mean (integers: truncated toward zero).
    Mean,
}

/// Reduces over `axes`, keeping them with size 1; floats accumulate in `f64` and round once.
pub fn reduce(kind: Reduction, axes: &[i64], x: &Arr) -> Result<Arr, InterpError> {
    let rank = x.shape().len();
    let mut mask = vec![false; rank];
    for &a in axes {
        let a = usize::try_from(a)
            .ok()
            .filter(|&a| a < rank)
            .ok_or_else(|| InterpError::Type(format!("axis {a} out of range for rank {rank}")))?;
        mask[a] = true;
    }
    let count: usize = x.shape().iter().zip(&mask).filter(|(_, &m)| m).map(|(d, _)| *d).product();
    if kind == Reduction::Max && count == 0 {
        return Err(InterpError::Arith("maximum over an empty axis".into()));
    }
    match &x.elems {
        Elems::F(a) => {
            let mut acc = a.clone();
            for (axis, _) in mask.iter().enumerate().filter(|(_, &m)| m) {
                acc =
                    acc.map_axis(Axis(axis), |lane| match kind {
                        Reduction::Sum | Reduction::Mean => lane.sum(),
                        Reduction::Max => lane.iter().fold(f64::NEG_INFINITY, |m, &v| {
                            if m.is_nan() || v.is_nan() {
                                f64::NAN
                            } else {
                                m.max(v)
                            }
                        }),
                    });
                acc.insert_axis_inplace(Axis(axis));
            }
            if kind == Reduction::Mean {
                acc.mapv_inplace(|s| s / count as f64);
            }
            Ok(Arr::float(x.dtype, acc))
        }
        Elems::I(a) => {
            let mut acc = a.clone();
            for (axis, _) in mask.iter().enumerate().filter(|(_, &m)| m) {
                acc = acc.map_axis(Axis(axis), |lane| match kind {
                    Reduction::Sum | Reduction::Mean => lane.iter().fold(0i64, |s, &v| s.wrapping_add(v)),
                    Reduction::Max => lane.iter().copied().max().unwrap_or(i64::MIN),
                });
                acc.insert_axis_inplace(Axis(axis));
            }
            if kind == Reduction::Mean {
                let n = count.max(1) as i64;
                acc.mapv_inplace(|s| wrap(x.dtype, s / n));
            }
            Ok(Arr::int(x.dtype, acc))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(dtype: DType, v: &[i64]) -> Arr {
        Arr::int(dtype, ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap())
    }

    fn floats(dtype: DType, v: &[f64]) -> Arr {
        Arr::float(dtype, ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap())
    }

    fn values(a: &Arr) -> Vec<f64> {
        a.to_f64().iter().copied().collect()
    }

    #[test]
    fn shr_rounds_toward_minus_infinity() {
        let x = ints(DType::I32, &[7, -7, -1, 8, -8]);
        assert_eq!(values(&shift(&x, 1.0, false).unwrap()), vec![3.0, -4.0, -1.0, 4.0, -4.0]);
        assert_eq!(values(&shift(&x, 2.0, true).unwrap()), vec![28.0, -28.0, -4.0, 32.0, -32.0]);
        // int8 shifts wrap; floats scale exactly.
        assert_eq!(values(&shift(&ints(DType::I8, &[100]), 1.0, true).unwrap()), vec![-56.0]);
        assert_eq!(values(&shift(&floats(DType::F32, &[3.0, -0.75]), 2.0, false).unwrap()), vec![0.75, -0.1875]);
        assert!(shift(&x, 0.5, true).is_err());
    }

    #[test]
    fn quantize_saturates_and_rounds_half_to_even() {
        let x = floats(DType::F32, &[0.5, 1.5, 2.5, -0.5, -1.5, 1000.0, -1000.0, 3.2]);
        let (s, z) = (floats(DType::F32, &[1.0]), ints(DType::I8, &[0]));
        let q = quantize(&[], &x, &s, &z).unwrap();
        assert_eq!(q.dtype, DType::I8);
        assert_eq!(values(&q), vec![0.0, 2.0, 2.0, -0.0, -2.0, 127.0, -128.0, 3.0]);
        // uint8 with zero point 128 and scale 0.5.
        let q = quantize(
            &[],
            &floats(DType::F32, &[0.25, 0.75, -70.0]),
            &floats(DType::F32, &[0.5]),
            &ints(DType::U8, &[128]),
        )
        .unwrap();
        assert_eq!(values(&q), vec![128.0, 130.0, 0.0]);
        let d = dequantize(&[], &q, &floats(DType::F32, &[0.5]), &ints(DType::U8, &[128])).unwrap();
        assert_eq!(values(&d), vec![0.0, 1.0, -64.0]);
    }

    #[test]
    fn per_axis_quantization_follows_the_axis() {
        let x = Arr::float(DType::F32, ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, 1.0, 1.0, 1.0]).unwrap());
        let q = quantize(&[0], &x, &floats(DType::F32, &[1.0, 0.5]), &ints(DType::I8, &[0, 1])).unwrap();
        assert_eq!(values(&q), vec![1.0, 1.0, 3.0, 3.0]);
    }

    #[test]
    fn casts_follow_onnx() {
        let x = floats(DType::F32, &[-1.7, 2.9, 300.0, f64::NAN]);
        assert_eq!(values(&cast(&x, DType::I8).unwrap()), vec![-1.0, 2.0, 127.0, 0.0]);
        assert_eq!(values(&cast(&ints(DType::I32, &[257, -1]), DType::U8).unwrap()), vec![1.0, 255.0]);
        assert_eq!(values(&cast(&floats(DType::F64, &[0.1]), DType::F32).unwrap()), vec![0.1f32 as f64]);
    }

    #[test]
    fn erf_matches_reference_values() {
        for (x, want) in [
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.5, 0.999593047982555),
            (3.5, 0.9999992569016276),
            (-1.0, -0.8427007929497149),
        ] {
            assert!((erf(x) - want).abs() < 1e-14, "erf({x}) = {} != {want}", erf(x));
        }
    }

    #[test]
    fn reductions_keep_dims() {
        let x = Arr::float(DType::F32, ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1., 2., 3., 4., 5., 6.]).unwrap());
        let s = reduce(Reduction::Sum, &[1], &x).unwrap();
        assert_eq!((s.shape().to_vec(), values(&s)), (vec![2, 1], vec![6.0, 15.0]));
        let m = reduce(Reduction::Max, &[0, 1], &x).unwrap();
        assert_eq!((m.shape().to_vec(), values(&m)), (vec![1, 1], vec![6.0]));
        assert_eq!(values(&reduce(Reduction::Mean, &[0], &x).unwrap()), vec![2.5, 3.5, 4.5]);
        assert!(reduce(Reduction::Sum, &[2], &x).is_err());
    }

    #[test]
    fn integer_arithmetic_wraps_and_division_truncates() {
        let (a, b) = (ints(DType::I8, &[100, -7, 7]), ints(DType::I8, &[100, 2, -2]));
        assert_eq!(values(&binary(BinOp::Add, &a, &b).unwrap()), vec![-56.0, -5.0, 5.0]);
        assert_eq!(values(&binary(BinOp::Div, &a, &b).unwrap()), vec![1.0, -3.0, -3.0]);
        assert!(binary(BinOp::Div, &a, &ints(DType::I8, &[0])).is_err());
    }
}
