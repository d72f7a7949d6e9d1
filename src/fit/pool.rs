//! Pooling replaced by the other kind of pooling over the same window followed by a
//! per-channel affine map: `MaxPool(x) ≈ a · AveragePool(x) + b` (an average needs no
//! comparisons and vectorizes everywhere), or `AveragePool(x) ≈ a · MaxPool(x) + b` where a
//! maximum is the cheaper one (integer targets without a fast divide).
//!
//! Method: closed-form ordinary least squares per channel over every calibration sample and
//! output position, `a = cov(s, t) / var(s)`, `b = mean(t) − a · mean(s)`, with `s` the
//! replacement's output and `t` the original's. A channel whose replacement output never varies
//! gets `a = 1` and `b = mean(t − s)`. The affine map is a per-channel Mul and Add (or folds
//! into a following linear layer). A global pool is the same fit with the window equal to the
//! input's spatial shape.

use super::patches::Taps;
use super::{FitError, Samples};
use crate::ops::{Pool, PoolKind};
use ndarray::{Array1, Array3};

/// A pooling replacement and its fitted per-channel affine map.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolFit {
    /// The replacement pool: the same window, the other kind (an AveragePool divides by the
    /// taps inside the input, `count_include_pad = 0`).
    pub replacement: Pool,
    /// `a`, one per channel.
    pub scale: Array1<f32>,
    /// `b`, one per channel.
    pub shift: Array1<f32>,
    /// `sqrt(Σ (a s + b − t)² / Σ t²)` over the calibration data.
    pub error: f64,
}

/// The pool of the other kind with the same window.
fn swapped(pool: &Pool) -> Pool {
    let kind = match pool.kind {
        PoolKind::Max => PoolKind::Average,
        PoolKind::Average => PoolKind::Max,
    };
    Pool { kind, count_include_pad: false, column_major: false, n_outputs: 1, ..pool.clone() }
}

/// `pool` applied to `x` (`[n, C, spatial...]`) in `f64`, as `[n, C, positions]`.
pub(super) fn pooled(pool: &Pool, x: &Samples) -> Result<Array3<f64>, FitError> {
    let shape = x.shape();
    let kernel = pool.window.kernel_shape.as_deref().unwrap_or_default();
    if shape.len() < 3 || kernel.len() != shape.len() - 2 {
        return Err(FitError::Shape(format!("samples {shape:?} for a {}-D pooling window", kernel.len())));
    }
    if pool.kind == PoolKind::Average && pool.count_include_pad && pool.ceil_mode {
        return Err(FitError::Shape("an AveragePool counting padding with ceil_mode".into()));
    }
    let taps = Taps::new(&pool.window, &shape[2..], kernel, pool.ceil_mode)?;
    let (n, c) = (shape[0], shape[1]);
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("a standard-layout array is contiguous");
    let mut out = Array3::<f64>::zeros((n, c, taps.positions));
    for s in 0..n {
        for ch in 0..c {
            let plane = &data[(s * c + ch) * taps.plane..(s * c + ch + 1) * taps.plane];
            for p in 0..taps.positions {
                let inside = (0..taps.kernel).filter_map(|k| taps.at(p, k)).map(|off| plane[off] as f64);
                out[[s, ch, p]] = match pool.kind {
                    PoolKind::Max => inside.fold(f64::NEG_INFINITY, f64::max),
                    PoolKind::Average => {
                        let (sum, count) = inside.fold((0.0, 0usize), |(s, k), v| (s + v, k + 1));
                        sum / if pool.count_include_pad { taps.kernel } else { count }.max(1) as f64
                    }
                };
                if !out[[s, ch, p]].is_finite() {
                    return Err(FitError::Degenerate(format!("a pooling window at position {p} reads no input")));
                }
            }
        }
    }
    Ok(out)
}

/// Fits the replacement of `pool` by the other kind of pooling and a per-channel affine map on
/// calibration samples `x` (`[n, C, spatial...]`, the pool's input).
pub fn fit_pool_swap(pool: &Pool, x: &Samples) -> Result<PoolFit, FitError> {
    if x.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Degenerate("the calibration data hold a non-finite value".into()));
    }
    let replacement = swapped(pool);
    let (t, s) = (pooled(pool, x)?, pooled(&replacement, x)?);
    let (n, c, p) = t.dim();
    if n * p == 0 {
        return Err(FitError::Degenerate("no calibration outputs".into()));
    }
    let count = (n * p) as f64;
    let (mut scale, mut shift) = (Array1::zeros(c), Array1::zeros(c));
    let (mut residual, mut energy) = (0.0, 0.0);
    for ch in 0..c {
        let (sv, tv) = (s.slice(ndarray::s![.., ch, ..]), t.slice(ndarray::s![.., ch, ..]));
        let (ms, mt) = (sv.sum() / count, tv.sum() / count);
        let var = sv.iter().map(|v| (v - ms).powi(2)).sum::<f64>() / count;
        let cov = sv.iter().zip(tv.iter()).map(|(a, b)| (a - ms) * (b - mt)).sum::<f64>() / count;
        let a = if var > 1e-12 * (ms * ms + 1e-30) { cov / var } else { 1.0 };
        let b = mt - a * ms;
        residual += sv.iter().zip(tv.iter()).map(|(s, t)| (a * s + b - t).powi(2)).sum::<f64>();
        energy += tv.iter().map(|t| t * t).sum::<f64>();
        scale[ch] = a as f32;
        shift[ch] = b as f32;
    }
    Ok(PoolFit { replacement, scale, shift, error: super::linalg::relative_error(residual, energy) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::testing::{noise, tract_pool};
    use crate::ops::ConvAttrs;
    use ndarray::{ArrayD, IxDyn};

    fn pool(kind: PoolKind, window: ConvAttrs, ceil_mode: bool, count_include_pad: bool) -> Pool {
        Pool { kind, window, ceil_mode, count_include_pad, column_major: false, n_outputs: 1 }
    }

    fn windows() -> Vec<(ConvAttrs, bool)> {
        let k = |v: Vec<usize>| Some(v);
        vec![
            (ConvAttrs { kernel_shape: k(vec![2, 2]), strides: vec![2, 2], group: 1, ..Default::default() }, false),
            (
                ConvAttrs {
                    kernel_shape: k(vec![3, 3]),
                    strides: vec![2, 2],
                    pads: vec![1; 4],
                    group: 1,
                    ..Default::default()
                },
                true,
            ),
            (ConvAttrs { kernel_shape: k(vec![3, 2]), pads: vec![0, 1, 1, 0], group: 1, ..Default::default() }, false),
        ]
    }

    #[test]
    fn pooled_values_match_tract() {
        let x = noise(&[2, 3, 7, 6], 1);
        for (window, ceil) in windows() {
            for (kind, include) in [(PoolKind::Max, false), (PoolKind::Average, false), (PoolKind::Average, !ceil)] {
                let p = pool(kind, window.clone(), ceil, include);
                let want = tract_pool(&p, &x);
                let got = pooled(&p, &x).unwrap();
                assert_eq!(got.len(), want.len(), "{p:?}");
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!((*g as f32 - w).abs() < 1e-6, "{p:?}: {g} vs {w}");
                }
            }
        }
    }

    /// The fitted affine applied to tract's replacement pool gives the reported error against
    /// tract's original pool, both ways.
    #[test]
    fn the_fit_is_measured_both_ways() {
        let x = noise(&[4, 3, 8, 8], 2).mapv(|v| v.max(0.0));
        for (window, ceil) in windows() {
            for kind in [PoolKind::Max, PoolKind::Average] {
                let original = pool(kind, window.clone(), ceil, false);
                let fit = fit_pool_swap(&original, &x).unwrap();
                assert_ne!(fit.replacement.kind, kind);
                let (t, s) = (tract_pool(&original, &x), tract_pool(&fit.replacement, &x));
                let (mut residual, mut energy) = (0.0f64, 0.0f64);
                for ((idx, tv), sv) in t.indexed_iter().zip(s.iter()) {
                    let ch = idx[1];
                    residual += ((fit.scale[ch] * sv + fit.shift[ch] - tv) as f64).powi(2);
                    energy += (*tv as f64).powi(2);
                }
                let measured = (residual / energy).sqrt();
                assert!((measured - fit.error).abs() < 1e-5, "{measured} vs {}", fit.error);
                assert!(fit.error > 0.0 && fit.error < 0.5);
            }
        }
    }

    #[test]
    fn constant_windows_cost_nothing() {
        // Every 2×2 window holds one value per channel: max = average, a = 1, b = 0.
        let base = noise(&[2, 2, 3, 3], 3);
        let x = ArrayD::from_shape_fn(IxDyn(&[2, 2, 6, 6]), |ix| base[[ix[0], ix[1], ix[2] / 2, ix[3] / 2]]);
        let window = ConvAttrs { kernel_shape: Some(vec![2, 2]), strides: vec![2, 2], group: 1, ..Default::default() };
        let fit = fit_pool_swap(&pool(PoolKind::Max, window, false, false), &x).unwrap();
        assert!(fit.error < 1e-6);
        assert!(fit.scale.iter().all(|a| (a - 1.0).abs() < 1e-5) && fit.shift.iter().all(|b| b.abs() < 1e-5));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let window = ConvAttrs { kernel_shape: Some(vec![2, 2]), group: 1, ..Default::default() };
        let p = pool(PoolKind::Max, window, false, false);
        assert!(matches!(fit_pool_swap(&p, &noise(&[1, 2, 4], 0)), Err(FitError::Shape(_))));
        let mut nan = noise(&[1, 1, 3, 3], 0);
        nan[[0, 0, 1, 1]] = f32::NAN;
        assert!(matches!(fit_pool_swap(&p, &nan), Err(FitError::Degenerate(_))));
        let counted = pool(PoolKind::Average, windows()[1].0.clone(), true, true);
        assert!(matches!(fit_pool_swap(&counted, &noise(&[1, 1, 5, 5], 0)), Err(FitError::Shape(_))));
    }
}
