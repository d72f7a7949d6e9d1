//! Polynomial approximations of `exp`, `erf` and `2^x` on an input range, evaluated by Horner's
//! rule in f32 (ONNX Mul and Add, or the Rust back end).
//!
//! Method: least squares at Chebyshev nodes. At `N` Chebyshev points of the first kind the
//! Chebyshev polynomials are discretely orthogonal, so the degree-`d` least-squares fit is the
//! truncated series `c_k = (2/N) Σ_j f(x_j) T_k(t_j)` — within a small factor of the minimax
//! error for smooth functions (Trefethen, "Approximation Theory and Approximation Practice",
//! ch. 16). The series is converted to powers of the normalized variable `t ∈ [-1, 1]` (well
//! conditioned) or, on request, of `x` itself; the error is then measured on the f32
//! evaluation that will run.

use super::reference::erf;
use crate::fit::FitError;

/// A function with a polynomial fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elementary {
    /// `e^x`.
    Exp,
    /// The error function.
    Erf,
    /// `2^x`.
    Exp2,
}

impl Elementary {
    /// The function's value, in f64.
    pub fn value(self, x: f64) -> f64 {
        match self {
            Elementary::Exp => x.exp(),
            Elementary::Erf => erf(x),
            Elementary::Exp2 => x.exp2(),
        }
    }
}

/// Which variable the coefficients multiply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variable {
    /// `t = (x - shift) · scale`, the range mapped onto `[-1, 1]` (one Sub and one Mul more,
    /// well conditioned at any degree).
    Normalized,
    /// `x` itself (`shift` 0, `scale` 1): fewer operations, fine for low degrees on ranges
    /// near `[-1, 1]`, such as `[0, 1]`.
    Raw,
}

/// `p(x) = Σ_k coeffs[k] · t^k` with `t = (x - shift) · scale`, evaluated in f32 by Horner's rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Polynomial {
    /// Coefficients, lowest degree first.
    pub coeffs: Vec<f32>,
    /// Subtracted from `x`.
    pub shift: f32,
    /// Multiplies `x - shift`.
    pub scale: f32,
}

impl Polynomial {
    /// The polynomial at `x`, in f32 as a graph of Sub, Mul and Add computes it.
    pub fn eval(&self, x: f32) -> f32 {
        let t = (x - self.shift) * self.scale;
        self.coeffs.iter().rev().fold(0.0, |acc, &c| acc * t + c)
    }
}

/// A polynomial fit and its error.
#[derive(Clone, Debug, PartialEq)]
pub struct PolyFit {
    /// The polynomial.
    pub poly: Polynomial,
    /// `max |p(x) - f(x)|` over the range (f32 evaluation; 4097 equally spaced points).
    pub max_abs_error: f64,
}

/// Highest degree fitted.
pub const MAX_DEGREE: usize = 16;
/// Points of the error measurement, ends included.
const ERROR_POINTS: usize = 4097;

/// The degree-`degree` least-squares polynomial of `f` on `[lo, hi]` at Chebyshev nodes, in
/// `variable`. Errors on a degree above [`MAX_DEGREE`], an empty or infinite range, or a range
/// where `f` leaves the f32 range.
pub fn fit_polynomial(
    f: Elementary,
    (lo, hi): (f64, f64),
    degree: usize,
    variable: Variable,
) -> Result<PolyFit, FitError> {
    if degree > MAX_DEGREE {
        return Err(FitError::Shape(format!("polynomial degree {degree} above {MAX_DEGREE}")));
    }
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(FitError::Degenerate(format!("no range to fit {f:?} on: [{lo}, {hi}]")));
    }
    let (mid, half) = ((lo + hi) / 2.0, (hi - lo) / 2.0);
    let nodes = 64.max(4 * (degree + 1));
    let samples: Vec<(f64, f64)> = (0..nodes)
        .map(|j| {
            let t = (std::f64::consts::PI * (j as f64 + 0.5) / nodes as f64).cos();
            (t, f.value(mid + half * t))
        })
        .collect();
    if samples.iter().any(|&(_, y)| y.is_nan() || y.abs() > f64::from(f32::MAX)) {
        return Err(FitError::Degenerate(format!("{f:?} leaves the f32 range on [{lo}, {hi}]")));
    }
    // Chebyshev coefficients by discrete orthogonality; T_k(t) = cos(k·θ).
    let cheb: Vec<f64> = (0..=degree)
        .map(|k| {
            let sum: f64 = samples.iter().map(|&(t, y)| y * (k as f64 * t.acos()).cos()).sum();
            sum * if k == 0 { 1.0 } else { 2.0 } / nodes as f64
        })
        .collect();
    let in_t = chebyshev_to_power(&cheb);
    let (coeffs, shift, scale) = match variable {
        Variable::Normalized => (in_t, mid, 1.0 / half),
        Variable::Raw => (substitute(&in_t, mid, 1.0 / half), 0.0, 1.0),
    };
    let poly =
        Polynomial { coeffs: coeffs.iter().map(|&c| c as f32).collect(), shift: shift as f32, scale: scale as f32 };
    let max_abs_error = (0..ERROR_POINTS)
        .map(|i| {
            let x = (lo + (hi - lo) * i as f64 / (ERROR_POINTS - 1) as f64) as f32;
            (f64::from(poly.eval(x)) - f.value(f64::from(x))).abs()
        })
        .fold(0.0, f64::max);
    Ok(PolyFit { poly, max_abs_error })
}

/// Power-basis coefficients of `Σ_k cheb[k]·T_k(t)` (T_0 = 1, T_1 = t, T_{k+1} = 2t·T_k - T_{k-1}).
fn chebyshev_to_power(cheb: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; cheb.len()];
    let (mut prev, mut cur) = (vec![1.0], vec![0.0, 1.0]);
    for (k, &c) in cheb.iter().enumerate() {
        let t_k = if k == 0 { &prev } else { &cur };
        for (o, &p) in out.iter_mut().zip(t_k) {
            *o += c * p;
        }
        if k >= 1 {
            let mut next = vec![0.0; cur.len() + 1];
            for (i, &p) in cur.iter().enumerate() {
                next[i + 1] += 2.0 * p;
            }
            for (i, &p) in prev.iter().enumerate() {
                next[i] -= p;
            }
            (prev, cur) = (cur, next);
        }
    }
    out
}

/// Coefficients in `x` of `Σ_k a_k·((x - shift)·scale)^k`, by the binomial theorem.
fn substitute(a: &[f64], shift: f64, scale: f64) -> Vec<f64> {
    let mut out = vec![0.0; a.len()];
    for (k, &ak) in a.iter().enumerate() {
        // ak·scale^k·(x - shift)^k = ak·scale^k·Σ_j C(k, j)·x^j·(-shift)^(k-j)
        let mut binomial = 1.0;
        for (j, o) in out.iter_mut().enumerate().take(k + 1) {
            *o += ak * scale.powi(k as i32) * binomial * (-shift).powi((k - j) as i32);
            binomial = binomial * (k - j) as f64 / (j + 1) as f64;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::test_samples::uniform;

    #[test]
    fn exp_on_minus_8_to_0() {
        // Stated bounds, measured: degree 8 within 1e-4 (9.4e-5; the first dropped Chebyshev
        // term, 2·I_9(4)·e^-4, is 7.6e-5), degree 10 within 5e-6 (3.2e-6).
        let fit = fit_polynomial(Elementary::Exp, (-8.0, 0.0), 8, Variable::Normalized).unwrap();
        assert!(fit.max_abs_error < 1e-4, "{fit:?}");
        let ten = fit_polynomial(Elementary::Exp, (-8.0, 0.0), 10, Variable::Normalized).unwrap();
        assert!(ten.max_abs_error < 5e-6, "{ten:?}");
        // In powers of x itself the f32 coefficients cost accuracy at that degree (2.6e-5).
        let raw = fit_polynomial(Elementary::Exp, (-8.0, 0.0), 10, Variable::Raw).unwrap();
        assert!(raw.max_abs_error > 4.0 * ten.max_abs_error, "{raw:?}");
        // Off the measurement grid the error stays within the reported one.
        for x in uniform(1000, -8.0, 0.0, 31) {
            let err = (f64::from(fit.poly.eval(x)) - f64::from(x).exp()).abs();
            assert!(err <= 1.01 * fit.max_abs_error, "{x}: {err}");
        }
    }

    #[test]
    fn erf_and_exp2() {
        // Measured: degree 11 on [-3, 3] 1.8e-3, degree 13 4.3e-4.
        let erf = fit_polynomial(Elementary::Erf, (-3.0, 3.0), 11, Variable::Normalized).unwrap();
        assert!(erf.max_abs_error < 2e-3, "{erf:?}");
        let thirteen = fit_polynomial(Elementary::Erf, (-3.0, 3.0), 13, Variable::Normalized).unwrap();
        assert!(thirteen.max_abs_error < 5e-4, "{thirteen:?}");
        // erf is odd: the even coefficients vanish (to rounding).
        assert!(erf.poly.coeffs.iter().step_by(2).all(|c| c.abs() < 1e-6), "{erf:?}");
        // Measured 1.1e-4.
        let exp2 = fit_polynomial(Elementary::Exp2, (0.0, 1.0), 3, Variable::Raw).unwrap();
        assert!(exp2.max_abs_error < 1.2e-4, "{exp2:?}");
        assert_eq!((exp2.poly.shift, exp2.poly.scale), (0.0, 1.0));
        // p(0) ≈ 1 (within the fit error), p'(0) ≈ ln 2.
        assert!((exp2.poly.coeffs[0] - 1.0).abs() < 2e-4 && (exp2.poly.coeffs[1] - 0.693).abs() < 0.01, "{exp2:?}");
    }

    #[test]
    fn raw_and_normalized_forms_agree() {
        let n = fit_polynomial(Elementary::Exp, (-1.0, 2.0), 6, Variable::Normalized).unwrap();
        let r = fit_polynomial(Elementary::Exp, (-1.0, 2.0), 6, Variable::Raw).unwrap();
        for x in uniform(100, -1.0, 2.0, 32) {
            assert!((n.poly.eval(x) - r.poly.eval(x)).abs() < 1e-5, "{x}");
        }
        // Degree 0 is the Chebyshev-weighted mean: for 2^x on [0, 1], √2·I_0(ln 2 / 2) = 1.4570,
        // 0.5430 from 2.
        let constant = fit_polynomial(Elementary::Exp2, (0.0, 1.0), 0, Variable::Raw).unwrap();
        assert_eq!(constant.poly.coeffs.len(), 1);
        assert!((constant.poly.coeffs[0] - 1.4570).abs() < 1e-4, "{constant:?}");
        assert!((constant.max_abs_error - 0.5430).abs() < 1e-4, "{constant:?}");
    }

    #[test]
    fn chebyshev_polynomials_convert_to_their_powers() {
        // T_3 = 4t³ - 3t, T_4 = 8t⁴ - 8t² + 1.
        assert_eq!(chebyshev_to_power(&[0.0, 0.0, 0.0, 1.0]), vec![0.0, -3.0, 0.0, 4.0]);
        assert_eq!(chebyshev_to_power(&[0.0, 0.0, 0.0, 0.0, 1.0]), vec![1.0, 0.0, -8.0, 0.0, 8.0]);
        // (2(x - 1))² = 4x² - 8x + 4.
        assert_eq!(substitute(&[0.0, 0.0, 1.0], 1.0, 2.0), vec![4.0, -8.0, 4.0]);
    }

    #[test]
    fn bad_requests_are_errors() {
        assert!(matches!(fit_polynomial(Elementary::Exp, (0.0, 1.0), 17, Variable::Raw), Err(FitError::Shape(_))));
        for range in [(1.0, 1.0), (2.0, 1.0), (f64::NEG_INFINITY, 0.0), (f64::NAN, 1.0)] {
            let got = fit_polynomial(Elementary::Erf, range, 3, Variable::Raw);
            assert!(matches!(got, Err(FitError::Degenerate(_))), "{range:?}");
        }
        let overflow = fit_polynomial(Elementary::Exp, (0.0, 100.0), 5, Variable::Normalized);
        assert!(matches!(overflow, Err(FitError::Degenerate(_))));
    }
}
