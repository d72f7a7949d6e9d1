//! The range an activation tensor's QuantizeLinear covers, from its calibration samples: the
//! extremes (min-max), a percentile, or the clipping range of least expected squared error —
//! onnxruntime's calibrators (`onnxruntime/python/tools/quantization/calibrate.py`: MinMax,
//! Percentile; MSE as in Banner et al., "Post-training 4-bit quantization", 2019) — and the scale
//! and zero point that range gives.

use super::super::{FitError, Samples};
use super::qdq::{compute_scale_zp, QParams, QType};

/// How the range of an activation is chosen from its samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RangeMethod {
    /// The smallest and largest sample.
    MinMax,
    /// Keep this percentage of the samples (in `(0, 100]`, e.g. 99.99), as onnxruntime's
    /// Percentile calibrator: for int8 (symmetric) the range is `±` that percentile of `|x|`;
    /// for uint8 half of the rest is cut off each tail. Exact order statistics of the samples
    /// (onnxruntime reads them off a 2048-bin histogram): the `⌊f·n⌋` most extreme values are
    /// dropped, `f` the fraction cut (per tail for uint8).
    Percentile(f64),
    /// The range minimizing the expected squared error of quantize-dequantize over a 2048-bin
    /// histogram of the samples: `s²/12` per value inside the representable range (uniform
    /// rounding noise, `s` the scale), `(x - edge)²` per value clipped, nothing for the exact
    /// zeros (a ReLU's; 0 is always representable). int8 searches the
    /// symmetric bound `m` over the histogram of `|x|` (every bin edge); uint8 searches
    /// `α·[min, max]` for α = 1/2048, 2/2048, …, 1. Min-max is one of the candidates.
    Mse,
}

/// Bins of the histogram of the MSE search.
const BINS: usize = 2048;

/// The range `(rmin, rmax)` of the activation samples `x` by `method`, for `qtype` (int8 ranges
/// are symmetric). Errors on no samples, NaN or infinite samples, or a percentage outside
/// `(0, 100]`.
pub fn activation_range(x: &Samples, method: RangeMethod, qtype: QType) -> Result<(f32, f32), FitError> {
    range_of(finite_values(x)?, method, qtype)
}

/// The scale and zero point of the activation samples `x` for `qtype`: [`activation_range`]
/// through [`compute_scale_zp`].
pub fn activation_qparams(x: &Samples, method: RangeMethod, qtype: QType) -> Result<QParams, FitError> {
    let (lo, hi) = activation_range(x, method, qtype)?;
    Ok(compute_scale_zp(lo, hi, qtype))
}

/// The quantization of an activation chosen from its samples: uint8 when no sample is negative
/// (after a ReLU: zero point 0, the whole grid on `[0, max]`), else int8 symmetric (zero point
/// 0 as well, so that integer kernels need no zero-point correction).
pub fn choose_activation_qparams(x: &Samples, method: RangeMethod) -> Result<QParams, FitError> {
    let values = finite_values(x)?;
    let qtype = if values.iter().all(|&v| v >= 0.0) { QType::U8 } else { QType::I8 };
    let (lo, hi) = range_of(values, method, qtype)?;
    Ok(compute_scale_zp(lo, hi, qtype))
}

/// Every sample, or why they cannot be fitted (none, or one not finite).
pub(crate) fn finite_values(x: &Samples) -> Result<Vec<f32>, FitError> {
    if x.is_empty() {
        return Err(FitError::Degenerate("no calibration samples".into()));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Degenerate("the calibration samples hold NaN or infinity".into()));
    }
    Ok(x.iter().copied().collect())
}

fn range_of(mut values: Vec<f32>, method: RangeMethod, qtype: QType) -> Result<(f32, f32), FitError> {
    let (min, max) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    Ok(match (method, qtype) {
        (RangeMethod::MinMax, _) => (min, max),
        (RangeMethod::Percentile(p), _) if !(p > 0.0 && p <= 100.0) => {
            return Err(FitError::Shape(format!("percentile {p} is not in (0, 100]")));
        }
        (RangeMethod::Percentile(p), QType::I8) => {
            values.iter_mut().for_each(|v| *v = v.abs());
            let a = order_statistic(&mut values, 1.0 - p / 100.0, true);
            (-a, a)
        }
        (RangeMethod::Percentile(p), QType::U8) => {
            let cut = (100.0 - p) / 200.0;
            (order_statistic(&mut values, cut, false), order_statistic(&mut values, cut, true))
        }
        (RangeMethod::Mse, QType::I8) => {
            let amax = min.abs().max(max.abs());
            let hist = Histogram::new(values.iter().map(|v| v.abs()), 0.0, amax);
            best_candidate(&hist, |j| {
                let a = amax * j as f32 / BINS as f32;
                (compute_scale_zp(-a, a, QType::I8), (-a, a))
            })
        }
        (RangeMethod::Mse, QType::U8) => {
            let (lo, hi) = (min.min(0.0), max.max(0.0));
            let hist = Histogram::new(values.iter().copied(), lo, hi);
            best_candidate(&hist, |j| {
                let alpha = j as f32 / BINS as f32;
                let range = (alpha * lo, alpha * hi);
                (compute_scale_zp(range.0, range.1, QType::U8), range)
            })
        }
    })
}

/// The value left at the end (`top`) or start of the sorted samples after `⌊fraction·n⌋` are
/// dropped there (`values` is not empty).
fn order_statistic(values: &mut [f32], fraction: f64, top: bool) -> f32 {
    let n = values.len();
    let drop = ((fraction * n as f64).max(0.0) as usize).min(n - 1);
    let k = if top { n - 1 - drop } else { drop };
    *values.select_nth_unstable_by(k, f32::total_cmp).1
}

/// The candidate range of least expected error; `candidate(j)` for j in 1..=BINS gives one's
/// quantization and range (the first of equal errors wins).
fn best_candidate(hist: &Histogram, candidate: impl Fn(usize) -> (QParams, (f32, f32))) -> (f32, f32) {
    let mut best = (f64::INFINITY, (0.0, 0.0));
    for j in 1..=BINS {
        let (q, range) = candidate(j);
        let err = hist.expected_error(&q);
        if err < best.0 {
            best = (err, range);
        }
    }
    best.1
}

/// Counts of the non-zero samples in equal bins over `[lo, hi]`.
struct Histogram {
    lo: f64,
    width: f64,
    counts: Vec<f64>,
}

impl Histogram {
    fn new(values: impl Iterator<Item = f32>, lo: f32, hi: f32) -> Histogram {
        let (lo, width) = (f64::from(lo), f64::from(hi - lo) / BINS as f64);
        let mut counts = vec![0.0; BINS];
        for v in values.filter(|&v| v != 0.0) {
            let bin = if width > 0.0 { ((f64::from(v) - lo) / width) as usize } else { 0 };
            counts[bin.min(BINS - 1)] += 1.0;
        }
        Histogram { lo, width, counts }
    }

    /// `Σ count · error` over the bins' centers: rounding noise `s²/12` inside the range `q`
    /// represents, the distance to its edge outside.
    fn expected_error(&self, q: &QParams) -> f64 {
        let (lo, hi) = q.representable();
        let noise = f64::from(q.scale).powi(2) / 12.0;
        let mut err = 0.0;
        for (b, &count) in self.counts.iter().enumerate() {
            let center = self.lo + (b as f64 + 0.5) * self.width;
            err += count
                * if center < lo {
                    (lo - center).powi(2)
                } else if center > hi {
                    (center - hi).powi(2)
                } else {
                    noise
                };
        }
        err
    }
}

#[cfg(test)]
#[path = "range_tests.rs"]
mod tests;
