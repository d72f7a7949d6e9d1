//! The constants of a base-2 softmax (Softermax: Stevens et al., DAC 2021): `e^x = 2^(x·log2 e)`
//! and `2^y = 2^⌊y⌋ · p(y - ⌊y⌋)`, the power of two an exponent shift (or a shift of an integer)
//! and `p` a low-degree polynomial on `[0, 1)`.
//!
//! Since `2^⌊y⌋` is exact, the relative error of the approximate `e^x` is that of `p` on
//! `[0, 1)` plus the f32 rounding of `x·log2 e` (about `|x|·2^-24·ln 2`, 1e-6 at `|x|` = 20).
//! Every term of a softmax then carries a relative error within ±ε, so each output does within
//! about ±2ε: a bound that holds for any logits.

use super::poly::{fit_polynomial, Elementary, Polynomial, Variable};
use crate::fit::FitError;

/// A base-2 exponential for softmax.
#[derive(Clone, Debug, PartialEq)]
pub struct Softermax {
    /// `log2 e` in f32, the factor applied to the logits.
    pub log2e: f32,
    /// `p(f) ≈ 2^f` on `[0, 1)`, in `f` itself (no normalization).
    pub poly: Polynomial,
    /// `max |p(f) - 2^f|` on `[0, 1]`.
    pub max_abs_error: f64,
    /// `max |p(f) / 2^f - 1|` on `[0, 1]`: the relative error bound of [`Softermax::exp`].
    pub max_rel_error: f64,
}

/// Points of the relative error measurement on `[0, 1]`, ends included.
const ERROR_POINTS: usize = 4097;

/// The Softermax constants with a degree-`degree` polynomial (least squares at Chebyshev nodes
/// on `[0, 1]`, see [`fit_polynomial`]; degree 1 to 2 in hardware designs, 3 or more for an
/// error near f32's).
pub fn fit_softermax(degree: usize) -> Result<Softermax, FitError> {
    let fit = fit_polynomial(Elementary::Exp2, (0.0, 1.0), degree, Variable::Raw)?;
    let max_rel_error = (0..ERROR_POINTS)
        .map(|i| {
            let f = (i as f64 / (ERROR_POINTS - 1) as f64) as f32;
            (f64::from(fit.poly.eval(f)) / f64::from(f).exp2() - 1.0).abs()
        })
        .fold(0.0, f64::max);
    Ok(Softermax { log2e: std::f32::consts::LOG2_E, poly: fit.poly, max_abs_error: fit.max_abs_error, max_rel_error })
}

impl Softermax {
    /// `e^x` as the base-2 form computes it in f32: `y = x·log2e`, `2^⌊y⌋ · p(y - ⌊y⌋)`.
    pub fn exp(&self, x: f32) -> f32 {
        let y = x * self.log2e;
        if y.is_nan() {
            return y;
        }
        // Beyond these every f32 result is 0 or infinite (also for y = ±∞).
        if y < -160.0 {
            return 0.0;
        }
        if y > 130.0 {
            return f32::INFINITY;
        }
        let floor = y.floor();
        // The power of two applied exactly (an exponent add), the product rounded once to f32.
        (f64::from(self.poly.eval(y - floor)) * f64::from(floor).exp2()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::test_samples::uniform;

    #[test]
    fn error_bounds_by_degree() {
        // Stated bounds, measured: relative error 4.1e-2 at degree 1, 2.4e-3 at degree 2,
        // 1.0e-4 at degree 3, 3.6e-6 at degree 4.
        let bounds = [(1, 4.2e-2), (2, 2.5e-3), (3, 1.1e-4), (4, 4e-6)];
        for (degree, bound) in bounds {
            let s = fit_softermax(degree).unwrap();
            assert!(s.max_rel_error < bound, "{s:?}");
        }
        let two = fit_softermax(2).unwrap();
        assert!(two.max_abs_error <= 2.0 * two.max_rel_error, "{two:?}");
    }

    #[test]
    fn exp_stays_within_the_relative_bound() {
        let s = fit_softermax(3).unwrap();
        for x in uniform(2000, -20.0, 5.0, 41) {
            let rel = (f64::from(s.exp(x)) / f64::from(x).exp() - 1.0).abs();
            // The bound plus the rounding of x·log2e (|x|·2^-24·ln 2) and of the product.
            assert!(rel <= s.max_rel_error + 2e-6, "{x}: {rel} vs {}", s.max_rel_error);
        }
        assert_eq!(s.exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(s.exp(-200.0), 0.0);
        assert_eq!(s.exp(f32::INFINITY), f32::INFINITY);
        assert!(s.exp(f32::NAN).is_nan());
    }

    #[test]
    fn softmax_error_is_within_twice_the_bound() {
        let s = fit_softermax(2).unwrap();
        let logits = uniform(50, -12.0, 3.0, 42);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let approx: Vec<f64> = logits.iter().map(|&l| f64::from(s.exp(l - max))).collect();
        let exact: Vec<f64> = logits.iter().map(|&l| (f64::from(l) - f64::from(max)).exp()).collect();
        let (sa, se): (f64, f64) = (approx.iter().sum(), exact.iter().sum());
        for (a, e) in approx.iter().zip(&exact) {
            let rel = ((a / sa) / (e / se) - 1.0).abs();
            assert!(rel <= 2.0 * s.max_rel_error + 1e-5, "{rel} vs {}", s.max_rel_error);
        }
    }
}
