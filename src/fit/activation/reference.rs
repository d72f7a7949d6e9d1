//! The exact activations the approximations are fitted to, in f64.

use std::f64::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI};

/// The logistic sigmoid `1 / (1 + e^-x)`.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// GELU in its exact form `x · Φ(x) = x · (1 + erf(x / √2)) / 2`.
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// The error function to about 1e-15: the everywhere-convergent series of positive terms
/// `erf x = 2/√π · e^(-x²) · Σ_n 2^n x^(2n+1) / (1·3·…·(2n+1))` (Abramowitz & Stegun 7.1.6),
/// which does not cancel; `±1` beyond `|x| = 6` (where `1 - erf` is below 3e-17).
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x.abs() >= 6.0 {
        return x.signum();
    }
    let x2 = x * x;
    let (mut term, mut sum, mut n) = (x, x, 0.0);
    // The terms grow while 2n + 1 < 2x², then fall geometrically: a few hundred at most.
    while term.abs() > 1e-17 * sum.abs() {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        sum += term;
    }
    FRAC_2_SQRT_PI * (-x2).exp() * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_tabulated_values() {
        // Abramowitz & Stegun table 7.1 and their continuation to 16 digits.
        let table = [
            (0.0, 0.0),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (3.0, 0.9999779095030014),
            (4.5, 0.9999999998033839),
        ];
        for (x, want) in table {
            assert!((erf(x) - want).abs() < 1e-15, "erf({x}) = {} vs {want}", erf(x));
            assert_eq!(erf(-x), -erf(x));
        }
        assert_eq!(erf(7.0), 1.0);
        assert!(erf(f64::NAN).is_nan());
    }

    #[test]
    fn gelu_and_sigmoid_known_values() {
        assert!((gelu(1.0) - 0.8413447460685429).abs() < 1e-15);
        assert!((gelu(-1.0) + 0.15865525393145707).abs() < 1e-15);
        assert_eq!(sigmoid(0.0), 0.5);
        assert!((sigmoid(2.0) - 0.8807970779778823).abs() < 1e-15);
    }
}
