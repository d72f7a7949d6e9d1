//! GELU as a sigmoid gate, `x · σ(k·x)` (Hendrycks & Gimpel 2016 give k = 1.702), with k fitted
//! by least squares over the activation's calibration inputs: one transcendental (the
//! sigmoid) instead of GELU's erf, a division and the products around it.
//!
//! Method: golden-section search for k on `[1, 2.5]` (the squared error is unimodal in k there:
//! a larger k sharpens the gate monotonically), then the better of that k and 1.702, so the fit
//! is never worse than the standard constant.

use super::reference::{gelu, sigmoid};
use super::{sample_values, Residual};
use crate::fit::{FitError, Samples};

/// Hendrycks & Gimpel's constant: `GELU(x) ≈ x · σ(1.702 x)`.
pub const GELU_SIGMOID_K: f32 = 1.702;

/// A fitted sigmoid gate and its error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GateFit {
    /// The factor `k` in `x · σ(k·x)`.
    pub k: f32,
    /// The error against the exact GELU over all samples.
    pub residual: Residual,
}

/// Most samples the search reads (an even stride through them when there are more).
const FIT_SAMPLES: usize = 1 << 16;
/// Golden-section steps: the bracket shrinks by 0.618 each, to 1.5·0.618⁴⁰ ≈ 6e-9.
const STEPS: usize = 40;

/// The gate `x · σ(k·x)` at `x`.
fn gate(k: f64, x: f64) -> f64 {
    x * sigmoid(k * x)
}

/// The k of `x · σ(k·x)` that best matches GELU (least squares) on the calibration inputs `x`
/// of the activation. Errors on no samples or samples that are not finite.
pub fn fit_gelu_sigmoid_gate(x: &Samples) -> Result<GateFit, FitError> {
    let all = sample_values(x)?;
    let stride = all.len().div_ceil(FIT_SAMPLES);
    let xs: Vec<f64> = all.iter().step_by(stride).copied().collect();
    let ts: Vec<f64> = xs.iter().map(|&v| gelu(v)).collect();
    let sse = |k: f64| -> f64 { xs.iter().zip(&ts).map(|(&v, &t)| (t - gate(k, v)).powi(2)).sum() };
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (1.0f64, 2.5f64);
    let (mut c, mut d) = (b - ratio * (b - a), a + ratio * (b - a));
    let (mut fc, mut fd) = (sse(c), sse(d));
    for _ in 0..STEPS {
        if fc <= fd {
            (b, d, fd) = (d, c, fc);
            c = b - ratio * (b - a);
            fc = sse(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + ratio * (b - a);
            fd = sse(d);
        }
    }
    let found = (a + b) / 2.0;
    let standard = f64::from(GELU_SIGMOID_K);
    let k = if sse(found) < sse(standard) { found as f32 } else { GELU_SIGMOID_K };
    let residual = Residual::of(&all, |v| gate(f64::from(k), v), gelu);
    Ok(GateFit { k, residual })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::test_samples::normal;
    use ndarray::{ArrayD, IxDyn};

    fn samples(values: Vec<f32>) -> Samples {
        let n = values.len();
        ArrayD::from_shape_vec(IxDyn(&[n]), values).unwrap()
    }

    #[test]
    fn fitted_gate_is_near_the_standard_constant_and_no_worse() {
        let x = samples(normal(20000, 23).into_iter().map(|v| 2.0 * v).collect());
        let fit = fit_gelu_sigmoid_gate(&x).unwrap();
        assert!((fit.k - 1.702).abs() < 0.15, "{fit:?}");
        let all: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let standard = Residual::of(&all, |v| gate(1.702, v), gelu);
        assert!(fit.residual.rms <= standard.rms, "{fit:?} vs {standard:?}");
        // The gate's error stays within about 0.02 (its known maximum, near |x| = 2).
        assert!(fit.residual.max_abs < 0.025, "{fit:?}");
    }

    #[test]
    fn bad_samples_are_errors() {
        let empty = ArrayD::<f32>::zeros(IxDyn(&[0]));
        assert!(matches!(fit_gelu_sigmoid_gate(&empty), Err(FitError::Degenerate(_))));
    }
}
