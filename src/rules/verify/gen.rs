//! Random shapes and values for rule instances: small shapes that broadcast against each other,
//! and values drawn per element type with the special cases rules must survive (±0, ±1, and
//! for primitive-only rules inf, NaN and integer extremes).

use crate::tensor::{DType, Tensor, TensorType};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::RngExt;

/// How to draw a tensor's values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Gen {
    /// Uniform in a small range, with some ±0, ±1, 0.5 and 2.
    Default,
    /// Strictly positive values.
    Positive,
    /// Values that are not zero.
    NonZero,
    /// Integers in `lo..=hi`.
    Ints(i64, i64),
    /// ± powers of two.
    Pow2,
    /// Every element equal to this value.
    Filled(f64),
    /// Uniform in `lo..hi` (floats) or `lo..=hi` rounded (integers).
    Range(f64, f64),
    /// At least one infinity or NaN among default values.
    NonFinite,
    /// Anywhere in the element type's range (integers; floats as `Default`).
    Full,
}

/// Draws values.
pub(crate) struct Draw<'a> {
    /// The random source.
    pub rng: &'a mut StdRng,
    /// Whether infinities, NaN and integer extremes may appear (primitive-only rules).
    pub specials: bool,
}

impl Draw<'_> {
    /// A random shape of `rank` with dimensions in `1..=max`.
    pub fn shape(&mut self, rank: usize, max: usize) -> Vec<usize> {
        (0..rank).map(|_| self.rng.random_range(1..=max)).collect()
    }

    /// A shape that broadcasts with `shape` to `shape`: some dimensions set to 1, some leading
    /// dimensions dropped.
    pub fn broadcastable(&mut self, shape: &[usize]) -> Vec<usize> {
        let drop = if shape.is_empty() { 0 } else { self.rng.random_range(0..=shape.len()) };
        shape[drop..].iter().map(|&d| if self.rng.random_bool(0.4) { 1 } else { d }).collect()
    }

    /// One value of `dtype`.
    fn value(&mut self, dtype: DType, gen: &Gen) -> f64 {
        let int = !dtype.is_float();
        let (lo, hi) = int_bounds(dtype);
        let v = match gen {
            Gen::Filled(v) => *v,
            Gen::Ints(a, b) => self.rng.random_range(*a.max(&(lo as i64))..=*b.min(&(hi as i64))) as f64,
            Gen::Pow2 => {
                let k = if int { self.rng.random_range(0..6) } else { self.rng.random_range(-4..5) };
                let sign = if dtype.is_integer() && lo == 0.0 || self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
                sign * 2f64.powi(k)
            }
            Gen::Range(a, b) if int => self.rng.random_range(a.round() as i64..=b.round() as i64) as f64,
            Gen::Range(a, b) => self.rng.random_range(*a..*b),
            Gen::Positive if int => self.rng.random_range(1..=hi.min(20.0) as i64) as f64,
            Gen::Positive => self.rng.random_range(0.05..4.0),
            Gen::NonZero => loop {
                let v = self.value(dtype, &Gen::Default);
                if v != 0.0 {
                    break v;
                }
            },
            Gen::Full if int => self.rng.random_range(lo.max(-1e6) as i64..=hi.min(1e6) as i64) as f64,
            Gen::Default | Gen::NonFinite | Gen::Full => self.default_value(dtype),
        };
        if int {
            v.clamp(lo, hi)
        } else {
            v
        }
    }

    fn default_value(&mut self, dtype: DType) -> f64 {
        let (lo, hi) = int_bounds(dtype);
        if dtype == DType::Bool {
            return self.rng.random_range(0..=1) as f64;
        }
        if !dtype.is_float() {
            if self.specials && self.rng.random_bool(0.05) {
                return *[lo, hi, 0.0, -1.0f64.max(lo)].choose(self.rng).expect("non-empty");
            }
            // Without specials (a kernel is involved) values stay small enough that sums and
            // products fit every type: tract's integer kernels panic on overflow in dev builds.
            let (a, b) = match (self.specials, hi > 300.0) {
                (true, false) => (lo, hi),
                (true, true) => (-100.0f64.max(lo), 100.0),
                (false, false) => (lo.max(-11.0), hi.min(15.0)),
                (false, true) => (lo.max(-100.0), 100.0),
            };
            return self.rng.random_range(a as i64..=b as i64) as f64;
        }
        if self.specials && self.rng.random_bool(0.03) {
            return *[f64::INFINITY, f64::NEG_INFINITY, f64::NAN].choose(self.rng).expect("non-empty");
        }
        if self.rng.random_bool(0.12) {
            return *[0.0, -0.0, 1.0, -1.0, 0.5, 2.0].choose(self.rng).expect("non-empty");
        }
        self.rng.random_range(-3.0..3.0)
    }

    /// A tensor of `ty` with values drawn by `gen`.
    pub fn tensor(&mut self, ty: &TensorType, gen: &Gen) -> Tensor {
        let n = ty.numel();
        let mut values: Vec<f64> = (0..n).map(|_| self.value(ty.dtype, gen)).collect();
        if *gen == Gen::NonFinite && n > 0 && ty.dtype.is_float() {
            let i = self.rng.random_range(0..n);
            values[i] = *[f64::INFINITY, f64::NEG_INFINITY, f64::NAN].choose(self.rng).expect("non-empty");
        }
        let t = if ty.dtype.is_float() {
            Tensor::from_f64(ty.dtype, ty.shape.clone(), &values)
        } else {
            Tensor::from_i64(ty.dtype, ty.shape.clone(), &values.iter().map(|&v| v as i64).collect::<Vec<_>>())
        };
        t.unwrap_or_else(|| Tensor::zeros(ty.dtype, ty.shape.clone()))
    }
}

/// The range of an integer type as `f64` (floats: unbounded).
pub(crate) fn int_bounds(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::I8 => (-128.0, 127.0),
        DType::U8 => (0.0, 255.0),
        DType::I16 => (-32768.0, 32767.0),
        DType::U16 => (0.0, 65535.0),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::U32 => (0.0, u32::MAX as f64),
        DType::I64 => (-9.0e15, 9.0e15),
        DType::U64 => (0.0, 9.0e15),
        DType::Bool => (0.0, 1.0),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

/// A random permutation of `0..n`.
pub(crate) fn permutation(rng: &mut StdRng, n: usize) -> Vec<i64> {
    use rand::seq::SliceRandom;
    let mut p: Vec<i64> = (0..n as i64).collect();
    p.shuffle(rng);
    p
}

/// A random split of `n` into a shape of `rank` dimensions (each a divisor chain of `n`).
pub(crate) fn factor(rng: &mut StdRng, n: usize, rank: usize) -> Vec<usize> {
    let mut rest = n;
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        if i + 1 == rank {
            out.push(rest);
            break;
        }
        let divisors: Vec<usize> = (1..=rest).filter(|&d| rest.is_multiple_of(d)).collect();
        let d = *divisors.choose(rng).expect("1 divides everything");
        out.push(d);
        rest /= d;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_fit_their_constraints() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut d = Draw { rng: &mut rng, specials: false };
        let ty = TensorType::new(DType::I8, vec![50]);
        let t = d.tensor(&ty, &Gen::Ints(-3, 2));
        assert!(t.to_i64_vec().unwrap().iter().all(|v| (-3..=2).contains(v)));
        let t = d.tensor(&TensorType::new(DType::F32, vec![40]), &Gen::Pow2);
        assert!(t.to_f64_vec().unwrap().iter().all(|v| v.abs().log2().fract() == 0.0));
        let t = d.tensor(&TensorType::new(DType::F32, vec![40]), &Gen::Positive);
        assert!(t.to_f64_vec().unwrap().iter().all(|&v| v > 0.0));
        let t = d.tensor(&TensorType::new(DType::F32, vec![3]), &Gen::NonFinite);
        assert!(t.to_f64_vec().unwrap().iter().any(|v| !v.is_finite()));
        let s = d.broadcastable(&[2, 3, 4]);
        assert!(crate::ops::broadcast_shapes(&s, &[2, 3, 4]).unwrap() == vec![2, 3, 4]);
        assert_eq!(factor(d.rng, 12, 3).iter().product::<usize>(), 12);
        let mut p = permutation(d.rng, 4);
        p.sort();
        assert_eq!(p, vec![0, 1, 2, 3]);
    }
}
