//! The quantization of a Softmax's input for the table softmax (`rules/approx/softmax.rules`,
//! `softmax-table8`): one `uint8` scale and zero point per tensor, the range chosen to minimize
//! the Softmax's *output* error on the calibration rows rather than the input's.
//!
//! Why the output: `Softmax(x)_i = e^(x_i - max) / Σ_j e^(x_j - max)` weighs an input by its
//! exponential, so a value far below its row's maximum contributes about nothing: clipping the
//! low end of the range (saturating those values to the lowest level) changes the output by at
//! most `e^(lo - max)` per term, while every level spent there is taken from the top of the
//! rows, where a rounding step `s` moves a probability by up to `s/2` relative. Clipping the top
//! would saturate the row maxima, which decide the largest probabilities, so the top stays at
//! the calibration maximum. The fit therefore keeps `hi = max x` and searches the width
//! `hi - lo` over [`WIDTHS`] even steps up to the calibration range (min-max is the widest
//! candidate, so the fit is never worse than min-max on the calibration rows), the range
//! widened to contain 0 as onnxruntime's `compute_scale_zp` does, scoring each by
//! `Σ_rows ‖Softmax(DQ(Q(x))) - Softmax(x)‖²` with ONNX's exact QuantizeLinear rounding
//! ([`QParams::quantize`]). CMSIS-NN's `arm_softmax_s8` makes the same trade at run time: it
//! reads `q - q_max` of 8-bit logits and drops the terms whose difference is below `diff_min`.

use super::super::{FitError, Samples};
use super::qdq::{compute_scale_zp, QParams, QType};
use ndarray::Axis;

/// Candidate widths of the range, evenly spaced up to the calibration range.
pub const WIDTHS: usize = 64;
/// Rows scored at most (spread evenly over the calibration rows).
const MAX_ROWS: usize = 2048;

/// The fitted quantization of a Softmax input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxInput {
    /// Scale and (uint8) zero point.
    pub qparams: QParams,
    /// The range searched for, before it was widened to contain 0.
    pub range: (f32, f32),
    /// The mean squared error of the Softmax's outputs per scored row at that range.
    pub row_error: f64,
}

/// The quantization of the calibration samples `x` of a Softmax over `axis` (axis 0 runs over
/// the samples, so `axis` is at least 1) that minimizes the Softmax's output error (module
/// docs). Errors on no rows or samples that are not finite.
pub fn fit_softmax_input(x: &Samples, axis: usize) -> Result<SoftmaxInput, FitError> {
    if x.is_empty() || axis == 0 || axis >= x.ndim() {
        return Err(FitError::Degenerate(format!("no rows along axis {axis} of {:?} samples", x.shape())));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Degenerate("the calibration samples hold NaN or infinity".into()));
    }
    let lanes = x.lanes(Axis(axis));
    let total = lanes.into_iter().len();
    let step = total.div_ceil(MAX_ROWS).max(1);
    let rows: Vec<Vec<f32>> = x.lanes(Axis(axis)).into_iter().step_by(step).map(|r| r.to_vec()).collect();
    let (min, max) = x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let exact: Vec<Vec<f64>> = rows.iter().map(|r| softmax(r.iter().map(|&v| f64::from(v)))).collect();
    let score = |qp: &QParams| -> f64 {
        rows.iter()
            .zip(&exact)
            .map(|(r, p)| {
                let q = softmax(r.iter().map(|&v| f64::from(qp.dequantize(qp.quantize(v)))));
                q.iter().zip(p).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()
            })
            .sum::<f64>()
            / rows.len() as f64
    };
    let span = f64::from(max) - f64::from(min);
    let mut best: Option<SoftmaxInput> = None;
    // Widest first: a narrower range must score strictly better to be taken.
    for k in (1..=WIDTHS).rev() {
        let lo = if k == WIDTHS { min } else { (f64::from(max) - span * k as f64 / WIDTHS as f64) as f32 };
        let qparams = compute_scale_zp(lo, max, QType::U8);
        let row_error = score(&qparams);
        if best.is_none_or(|b| row_error < b.row_error) {
            best = Some(SoftmaxInput { qparams, range: (lo, max), row_error });
        }
    }
    best.ok_or_else(|| FitError::Degenerate("no calibration rows".into()))
}

/// Softmax of one row in f64.
fn softmax(row: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let max = row.clone().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row.map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    /// `n` samples of `[rows, 49]` attention-like logits: a few large scores over a broad base.
    fn logits(n: usize, rows: usize) -> Samples {
        let mut state = 12345u32;
        let mut uniform = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        };
        let values = (0..n * rows * 49)
            .map(|i| {
                let base = 12.0 * uniform() - 14.0;
                if i % 7 == 0 {
                    base + 14.0 * uniform()
                } else {
                    base
                }
            })
            .collect();
        ArrayD::from_shape_vec(IxDyn(&[n, rows, 49]), values).unwrap()
    }

    #[test]
    fn the_fitted_range_beats_min_max_on_the_output_and_keeps_the_top() {
        let x = logits(6, 16);
        let fit = fit_softmax_input(&x, 2).unwrap();
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let min = x.iter().copied().fold(f32::INFINITY, f32::min);
        assert_eq!(fit.range.1, max);
        assert!(fit.range.0 > min, "the low end is clipped: {:?} vs min {min}", fit.range);
        let minmax = compute_scale_zp(min, max, QType::U8);
        assert!(fit.qparams.scale < minmax.scale);
        // Scored again here: the fitted range's output error is below min-max's.
        let err = |qp: &QParams| {
            x.lanes(Axis(2))
                .into_iter()
                .map(|r| {
                    let p = softmax(r.iter().map(|&v| f64::from(v)));
                    let q = softmax(r.iter().map(|&v| f64::from(qp.dequantize(qp.quantize(v)))));
                    p.iter().zip(&q).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
                })
                .sum::<f64>()
        };
        assert!(err(&fit.qparams) < err(&minmax), "{} vs {}", err(&fit.qparams), err(&minmax));
        // The representable range holds the top and 0.
        let (lo, hi) = fit.qparams.representable();
        assert!(lo <= 0.0 && hi >= f64::from(max) - f64::from(fit.qparams.scale) / 2.0);
    }

    #[test]
    fn rejects_what_it_cannot_fit() {
        let x = logits(1, 2);
        assert!(fit_softmax_input(&x, 0).is_err());
        assert!(fit_softmax_input(&x, 3).is_err());
        let mut bad = x.clone();
        bad[[0, 0, 0]] = f32::NAN;
        assert!(fit_softmax_input(&bad, 2).is_err());
    }
}
