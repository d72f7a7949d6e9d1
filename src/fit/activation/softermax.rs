//! The constants of a base-2 softmax (Softermax: Stevens et al., DAC 2021):
//! `e^(x - max) = 2^-y` with `y = (max - x)·log2 e ≥ 0`, and with `c = min(y, H)`, `k = ⌊c⌋`
//! (a truncating cast, `c ≥ 0`) and `g = k - c ∈ (-1, 0]`:
//!
//! `2^-c = 2^-k · 2^g ≈ 2^-k · p(g)`
//!
//! `2^-k` exact (an exponent shift in a kernel, a table of powers of two in ONNX) and `p` a
//! low-degree polynomial fitted to `2^g` on `[-1, 0]` (least squares at Chebyshev nodes,
//! [`fit_polynomial`]).
//!
//! Error: since `2^-k` is exact, each term's relative error is that of `p` on `[-1, 0]` (plus
//! the f32 rounding of `y`, about `y·2^-24`) while `y ≤ H`; a term with `y > H` is replaced by
//! `2^-H·p(0)`, off by at most `2^-H` while the row's largest term is `p(0) ≈ 1`. So with a
//! row of `N` terms and `H ≥ log2(N/ε)` ([`clip_bound`]) the clipped terms move the row's sum
//! by less than `ε`, and every softmax output is within about `±2ε` relative error (numerator
//! and sum) of the exact one, or, for a clipped term, within `2^-H` absolute: for any logits.

use super::poly::{fit_polynomial, Elementary, Polynomial, Variable};
use crate::fit::{FitError, Samples};

/// The largest shift: `2^-126` is the smallest normal f32 power of two, so every entry of the
/// table (and every exponent shift of a kernel) is exact.
pub const MAX_SHIFT: u32 = 126;

/// A base-2 exponential for softmax.
#[derive(Clone, Debug, PartialEq)]
pub struct Softermax {
    /// `log2 e` in f32, the factor applied to `max - x`.
    pub log2e: f32,
    /// `p(g) ≈ 2^g` on `[-1, 0]`, in `g` itself (no normalization).
    pub poly: Polynomial,
    /// The clip bound `H` of `y` (an integer, at most [`MAX_SHIFT`]).
    pub hi: u32,
    /// `max |p(g) / 2^g - 1|` on `[-1, 0]`: the relative error bound of each term.
    pub max_rel_error: f64,
}

/// Points of the relative error measurement on `[-1, 0]`, ends included.
const ERROR_POINTS: usize = 4097;

/// The Softermax constants with a degree-`degree` polynomial (degree 1 to 2 in hardware designs,
/// 3 or more for an error near f32's) and the clip bound [`MAX_SHIFT`].
pub fn fit_softermax(degree: usize) -> Result<Softermax, FitError> {
    let fit = fit_polynomial(Elementary::Exp2, (-1.0, 0.0), degree, Variable::Raw)?;
    let max_rel_error = (0..ERROR_POINTS)
        .map(|i| {
            let g = -((i as f64 / (ERROR_POINTS - 1) as f64) as f32);
            (f64::from(fit.poly.eval(g)) / f64::from(g).exp2() - 1.0).abs()
        })
        .fold(0.0, f64::max);
    Ok(Softermax { log2e: std::f32::consts::LOG2_E, poly: fit.poly, hi: MAX_SHIFT, max_rel_error })
}

/// The clip bound for rows of `row` terms whose largest `y` on the calibration data is `y_max`:
/// at least `log2(row / rel_error)` (the clipped terms then move the sum by less than the
/// polynomial does), at least `y_max` (no calibration term is clipped), at most [`MAX_SHIFT`].
pub fn clip_bound(row: usize, rel_error: f64, y_max: f64) -> u32 {
    let needed = (row.max(1) as f64 / rel_error.max(f64::MIN_POSITIVE)).log2().ceil();
    needed.max(y_max.ceil()).clamp(1.0, f64::from(MAX_SHIFT)) as u32
}

/// The largest `y = (max - x)·log2 e` over every row along `axis` of the calibration samples
/// `x` (axis 0 runs over the samples, so `axis` is at least 1). Errors on no samples or samples
/// that are not finite.
pub fn calibration_y_max(x: &Samples, axis: usize) -> Result<f64, FitError> {
    if x.is_empty() || axis == 0 || axis >= x.ndim() {
        return Err(FitError::Degenerate(format!("no rows along axis {axis} of {:?} samples", x.shape())));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Degenerate("the calibration samples hold NaN or infinity".into()));
    }
    let log2e = f64::from(std::f32::consts::LOG2_E);
    let lanes = x.lanes(ndarray::Axis(axis));
    Ok(lanes
        .into_iter()
        .map(|row| {
            let (lo, hi) = row.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
            f64::from(hi - lo) * log2e
        })
        .fold(0.0, f64::max))
}

impl Softermax {
    /// The clip bound set to [`clip_bound`] for rows of `row` terms and a calibration `y_max`.
    pub fn with_bound(mut self, row: usize, y_max: f64) -> Softermax {
        self.hi = clip_bound(row, self.max_rel_error, y_max);
        self
    }

    /// The table the ONNX form gathers `2^-k` from: `2^-j` for `j` in `0..=hi`.
    pub fn table(&self) -> Vec<f32> {
        (0..=self.hi).map(|j| (-(j as f32)).exp2()).collect()
    }

    /// `e^-d` for `d = max - x ≥ 0` as the base-2 form computes it in f32: `y = d·log2e`,
    /// `c = clip(y, 0, hi)`, `k = ⌊c⌋`, `g = k - c`, `p(g)·2^-k`.
    pub fn exp_neg(&self, d: f32) -> f32 {
        let y = d * self.log2e;
        let c = y.clamp(0.0, self.hi as f32);
        let k = c as i32;
        let g = k as f32 - c;
        self.poly.eval(g) * (-(k as f32)).exp2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::test_samples::uniform;

    #[test]
    fn error_bounds_by_degree() {
        // Stated bounds, measured: relative error 4.1e-2 at degree 1, 2.4e-3 at degree 2,
        // 1.0e-4 at degree 3, 3.6e-6 at degree 4 (the same as on [0, 1]: 2^g on [-1, 0] is
        // half of 2^f on [0, 1]).
        let bounds = [(1, 4.2e-2), (2, 2.5e-3), (3, 1.1e-4), (4, 4e-6)];
        for (degree, bound) in bounds {
            let s = fit_softermax(degree).unwrap();
            assert!(s.max_rel_error < bound, "{s:?}");
        }
    }

    #[test]
    fn exp_stays_within_the_relative_bound() {
        let s = fit_softermax(3).unwrap();
        for d in uniform(2000, 0.0, 60.0, 41) {
            let rel = (f64::from(s.exp_neg(d)) / (-f64::from(d)).exp() - 1.0).abs();
            // The bound plus the rounding of d·log2e (d·2^-24·ln 2) and of the product.
            assert!(rel <= s.max_rel_error + 4e-6, "{d}: {rel} vs {}", s.max_rel_error);
        }
        // Past the clip bound every term is 2^-hi·p(0).
        let clipped = s.clone().with_bound(4, 0.0);
        assert_eq!(clipped.exp_neg(1000.0), clipped.exp_neg(f32::INFINITY));
        assert!(clipped.exp_neg(1000.0) <= 1.01 * (-(clipped.hi as f32)).exp2());
    }

    #[test]
    fn clip_bound_covers_the_row_and_the_calibration() {
        // 49 terms at 2.4e-3: log2(49 / 2.4e-3) = 14.3.
        assert_eq!(clip_bound(49, 2.4e-3, 3.0), 15);
        assert_eq!(clip_bound(49, 2.4e-3, 40.2), 41);
        assert_eq!(clip_bound(49, 2.4e-3, 1e9), MAX_SHIFT);
        let s = fit_softermax(2).unwrap().with_bound(49, 20.0);
        let table = s.table();
        assert_eq!((table.len(), table[0], table[3]), (21, 1.0, 0.125));
    }

    #[test]
    fn y_max_is_the_widest_row() {
        let x = ndarray::Array3::from_shape_vec(
            (2, 2, 3),
            vec![0.0f32, 1.0, 2.0, 5.0, 5.0, 5.0, -3.0, 0.0, 1.0, 0.0, 0.0, 0.0],
        )
        .unwrap()
        .into_dyn();
        let y = calibration_y_max(&x, 2).unwrap();
        assert!((y - 4.0 * std::f64::consts::LOG2_E).abs() < 1e-5, "{y}");
        assert!(calibration_y_max(&x, 0).is_err());
    }

    #[test]
    fn softmax_error_is_within_twice_the_bound() {
        let s = fit_softermax(2).unwrap().with_bound(50, 15.0 * std::f64::consts::LOG2_E);
        let logits = uniform(50, -12.0, 3.0, 42);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let approx: Vec<f64> = logits.iter().map(|&l| f64::from(s.exp_neg(max - l))).collect();
        let exact: Vec<f64> = logits.iter().map(|&l| (f64::from(l) - f64::from(max)).exp()).collect();
        let (sa, se): (f64, f64) = (approx.iter().sum(), exact.iter().sum());
        for (a, e) in approx.iter().zip(&exact) {
            let rel = ((a / sa) / (e / se) - 1.0).abs();
            assert!(rel <= 2.0 * s.max_rel_error + 1e-5, "{rel} vs {}", s.max_rel_error);
        }
    }
}
