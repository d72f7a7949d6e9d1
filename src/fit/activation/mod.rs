//! Cheaper activations with coefficients fitted on the calibration range of their input:
//! piecewise-linear ("hard") forms of Sigmoid, Tanh, SiLU and GELU, GELU as a sigmoid gate,
//! polynomials for `exp`, `erf` and `2^x`, and the constants of a base-2 softmax. Each fit
//! returns its coefficients and its error.

mod gate;
mod hard;
mod poly;
mod reference;
mod softermax;

pub use gate::{fit_gelu_sigmoid_gate, GateFit, GELU_SIGMOID_K};
pub use hard::{fit_hard_activation, HardFit, HardTarget};
pub use poly::{fit_polynomial, Elementary, PolyFit, Polynomial, Variable, MAX_DEGREE};
pub use softermax::{calibration_y_max, clip_bound, fit_softermax, Softermax, MAX_SHIFT};

use super::quant::finite_values;
use super::{FitError, Samples};

/// The error of an approximation over samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Residual {
    /// Root mean square of the error.
    pub rms: f64,
    /// Largest absolute error.
    pub max_abs: f64,
}

impl Residual {
    /// The error of `approx` against `exact` at each of `xs` (not empty).
    fn of(xs: &[f64], approx: impl Fn(f64) -> f64, exact: impl Fn(f64) -> f64) -> Residual {
        let (sq, max_abs) = xs.iter().fold((0.0, 0.0f64), |(sq, max), &x| {
            let e = (approx(x) - exact(x)).abs();
            (sq + e * e, max.max(e))
        });
        Residual { rms: (sq / xs.len() as f64).sqrt(), max_abs }
    }
}

/// The smallest and largest calibration input, the range to fit a polynomial on. Errors on no
/// samples or samples that are not finite.
pub fn sample_range(x: &Samples) -> Result<(f32, f32), FitError> {
    let values = finite_values(x)?;
    Ok(values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v))))
}

/// Every sample in f64, or why they cannot be fitted.
fn sample_values(x: &Samples) -> Result<Vec<f64>, FitError> {
    Ok(finite_values(x)?.into_iter().map(f64::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr2, ArrayD, IxDyn};

    #[test]
    fn sample_range_and_residual() {
        let x = arr2(&[[0.5f32, -2.0], [3.0, 1.0]]).into_dyn();
        assert_eq!(sample_range(&x).unwrap(), (-2.0, 3.0));
        assert!(matches!(sample_range(&ArrayD::zeros(IxDyn(&[0]))), Err(FitError::Degenerate(_))));
        let r = Residual::of(&[0.0, 1.0, 2.0, 3.0], |x| x + if x == 3.0 { 2.0 } else { 0.0 }, |x| x);
        assert_eq!(r, Residual { rms: 1.0, max_abs: 2.0 });
    }
}
