//! Piecewise-linear ("hard") forms of smooth activations, `g(x) · clip(α·x + β, lo, hi)`, with
//! α and β fitted by least squares over the activation's calibration inputs: HardSigmoid for
//! Sigmoid, hard tanh for Tanh, `x · HardSigmoid` for SiLU (HardSwish's form) and for GELU.
//!
//! Method: Gauss–Newton from the standard constants. On the samples inside the linear piece the
//! model is linear in (α, β), so each step solves the 2×2 normal equations there; a step is
//! halved until the squared error falls. Every accepted step lowers the error, so the fit is
//! never worse than the standard constants, which it returns when no step helps (all samples
//! saturated, a singular system).

use super::reference::{gelu, sigmoid};
use super::{sample_values, Residual};
use crate::fit::{FitError, Samples};

/// The activation a hard form replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardTarget {
    /// Sigmoid ≈ HardSigmoid(α, β) = `clip(α·x + β, 0, 1)` (ONNX HardSigmoid).
    Sigmoid,
    /// Tanh ≈ `clip(α·x, -1, 1)` (β is 0; ONNX Mul then Clip).
    Tanh,
    /// SiLU `x·σ(x)` ≈ `x · clip(α·x + β, 0, 1)` (ONNX HardSwish when α = 1/6, β = 1/2, else
    /// Mul by HardSigmoid(α, β)).
    Silu,
    /// GELU `x·Φ(x)` ≈ `x · clip(α·x + β, 0, 1)`.
    Gelu,
}

impl HardTarget {
    /// The standard constants (α, β), the fit's start and fallback: HardSigmoid (0.2, 0.5) as
    /// ONNX's defaults (PyTorch's hardsigmoid is (1/6, 0.5)); hard tanh (1, 0); HardSwish
    /// (1/6, 0.5) (Howard et al., MobileNetV3, 2019); for GELU ≈ x·σ(1.702·x) (Hendrycks &
    /// Gimpel 2016) with σ(z) ≈ clip(z/6 + 1/2, 0, 1): (1.702/6, 0.5).
    pub fn standard(self) -> (f32, f32) {
        match self {
            HardTarget::Sigmoid => (0.2, 0.5),
            HardTarget::Tanh => (1.0, 0.0),
            HardTarget::Silu => (1.0 / 6.0, 0.5),
            HardTarget::Gelu => (1.702 / 6.0, 0.5),
        }
    }

    /// The exact activation.
    pub fn exact(self, x: f64) -> f64 {
        match self {
            HardTarget::Sigmoid => sigmoid(x),
            HardTarget::Tanh => x.tanh(),
            HardTarget::Silu => x * sigmoid(x),
            HardTarget::Gelu => gelu(x),
        }
    }

    /// The hard form with constants (α, β) at `x`.
    pub fn hard(self, (alpha, beta): (f64, f64), x: f64) -> f64 {
        let (lo, hi) = self.clip();
        self.gate(x) * (alpha * x + beta).clamp(lo, hi)
    }

    /// The factor before the clip: 1, or `x` for SiLU and GELU.
    fn gate(self, x: f64) -> f64 {
        match self {
            HardTarget::Sigmoid | HardTarget::Tanh => 1.0,
            HardTarget::Silu | HardTarget::Gelu => x,
        }
    }

    fn clip(self) -> (f64, f64) {
        match self {
            HardTarget::Tanh => (-1.0, 1.0),
            _ => (0.0, 1.0),
        }
    }
}

/// Fitted constants of a hard form and its error on the samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardFit {
    /// The slope α.
    pub alpha: f32,
    /// The offset β (0 for Tanh).
    pub beta: f32,
    /// The error against the exact activation over all samples.
    pub residual: Residual,
}

/// Most samples the fit reads (an even stride through them when there are more); the
/// residual is over all of them.
const FIT_SAMPLES: usize = 1 << 16;
/// Most Gauss–Newton steps.
const STEPS: usize = 100;

/// The hard form of `target` fitted to the calibration inputs `x` of the activation (least
/// squares over the samples' distribution, see the module). Errors on no samples or samples
/// that are not finite.
pub fn fit_hard_activation(target: HardTarget, x: &Samples) -> Result<HardFit, FitError> {
    let all = sample_values(x)?;
    let stride = all.len().div_ceil(FIT_SAMPLES);
    let xs: Vec<f64> = all.iter().step_by(stride).copied().collect();
    let ts: Vec<f64> = xs.iter().map(|&v| target.exact(v)).collect();
    let sse = |p: (f64, f64)| -> f64 { xs.iter().zip(&ts).map(|(&v, &t)| (t - target.hard(p, v)).powi(2)).sum() };
    let (a0, b0) = target.standard();
    let mut p = (f64::from(a0), f64::from(b0));
    let mut err = sse(p);
    let fit_beta = target != HardTarget::Tanh;
    let (lo, hi) = target.clip();
    for _ in 0..STEPS {
        // Normal equations over the samples in the linear piece: ∂m/∂α = g·x, ∂m/∂β = g.
        let (mut aa, mut ab, mut bb, mut ra, mut rb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&v, &t) in xs.iter().zip(&ts) {
            let z = p.0 * v + p.1;
            if z > lo && z < hi {
                let g = target.gate(v);
                let r = t - g * z;
                (aa, ab, bb) = (aa + g * v * g * v, ab + g * v * g, bb + g * g);
                (ra, rb) = (ra + g * v * r, rb + g * r);
            }
        }
        let det = aa * bb - ab * ab;
        let step = if fit_beta && det > 1e-12 * aa * bb {
            ((bb * ra - ab * rb) / det, (aa * rb - ab * ra) / det)
        } else if !fit_beta && aa > 0.0 {
            (ra / aa, 0.0)
        } else {
            break;
        };
        let Some((next, next_err)) = (0..30).map(|h| 0.5f64.powi(h)).find_map(|f| {
            let q = (p.0 + f * step.0, p.1 + f * step.1);
            let e = sse(q);
            (e < err).then_some((q, e))
        }) else {
            break;
        };
        let gain = err - next_err;
        (p, err) = (next, next_err);
        if gain <= 1e-14 * err {
            break;
        }
    }
    let (alpha, beta) = (p.0 as f32, p.1 as f32);
    let residual = Residual::of(&all, |v| target.hard((f64::from(alpha), f64::from(beta)), v), |v| target.exact(v));
    Ok(HardFit { alpha, beta, residual })
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

    fn residual_of(target: HardTarget, (a, b): (f32, f32), x: &Samples) -> Residual {
        let all: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        Residual::of(&all, |v| target.hard((f64::from(a), f64::from(b)), v), |v| target.exact(v))
    }

    #[test]
    fn hard_sigmoid_on_standard_normal_inputs_is_near_the_onnx_constants() {
        // The least-squares slope on N(0, 1) is about E[σ'(x)] ≈ 0.207 (Stein's lemma; the clip
        // barely acts), ONNX's 0.2, not PyTorch's 1/6; β is 0.5 by symmetry.
        let x = samples(normal(20000, 21));
        let fit = fit_hard_activation(HardTarget::Sigmoid, &x).unwrap();
        assert!((fit.alpha - 0.207).abs() < 0.01, "{fit:?}");
        assert!((fit.beta - 0.5).abs() < 0.01, "{fit:?}");
        assert!(fit.residual.rms <= residual_of(HardTarget::Sigmoid, (0.2, 0.5), &x).rms);
        assert!(fit.residual.rms < residual_of(HardTarget::Sigmoid, (1.0 / 6.0, 0.5), &x).rms);
        // The reported residual is the fitted form's.
        assert_eq!(fit.residual, residual_of(HardTarget::Sigmoid, (fit.alpha, fit.beta), &x));
    }

    #[test]
    fn fits_beat_the_standard_forms() {
        // Wider inputs (N(0, 2²)) as before a SiLU/GELU in a trained network.
        let x = samples(normal(20000, 22).into_iter().map(|v| 2.0 * v).collect());
        // Measured rms against the standard form's: Sigmoid 0.999 (the standard is near optimal),
        // Tanh 0.62, SiLU 0.89, GELU 0.91.
        for (target, ratio) in
            [(HardTarget::Sigmoid, 1.0), (HardTarget::Tanh, 0.7), (HardTarget::Silu, 0.95), (HardTarget::Gelu, 0.95)]
        {
            let fit = fit_hard_activation(target, &x).unwrap();
            let standard = residual_of(target, target.standard(), &x);
            assert!(fit.residual.rms < ratio * standard.rms, "{target:?}: {fit:?} vs {standard:?}");
            if target == HardTarget::Tanh {
                assert_eq!(fit.beta, 0.0);
            }
        }
    }

    #[test]
    fn saturated_samples_fall_back_to_the_standard_constants() {
        let x = samples(vec![50.0, -60.0, 80.0]);
        for target in [HardTarget::Sigmoid, HardTarget::Tanh] {
            let fit = fit_hard_activation(target, &x).unwrap();
            assert_eq!((fit.alpha, fit.beta), target.standard());
        }
    }

    #[test]
    fn bad_samples_are_errors() {
        let empty = ArrayD::<f32>::zeros(IxDyn(&[0]));
        assert!(matches!(fit_hard_activation(HardTarget::Gelu, &empty), Err(FitError::Degenerate(_))));
        let inf = samples(vec![f32::INFINITY]);
        assert!(matches!(fit_hard_activation(HardTarget::Silu, &inf), Err(FitError::Degenerate(_))));
    }
}
