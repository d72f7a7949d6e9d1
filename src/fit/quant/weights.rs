//! Symmetric per-output-channel quantization of a weight tensor onto an integer grid — uniform
//! 8 or 4 bits, powers of two, or sums of k signed powers of two — with each channel's scale
//! fitted to minimize the squared weight error. The result is what a per-axis
//! DequantizeLinear (`int8` weights, zero point 0, one scale per channel) computes.

use super::super::spt::spt_levels;
use super::super::FitError;
use ndarray::{ArrayD, Axis};

/// The integers a weight may take (a symmetric set, stored in `int8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightGrid {
    /// Every integer in `[-(2^(bits-1) - 1), 2^(bits-1) - 1]`, `bits` from 2 to 8: 8 bits is
    /// `[-127, 127]`, 4 bits `[-7, 7]` (stored as int8: tract does not run opset 21's int4).
    Uniform {
        /// Bits of the grid.
        bits: u32,
    },
    /// Every integer in `[-127, 127]` that is a sum of at most `terms` (≥ 1) signed powers of
    /// two: one term is the powers of two `{0, ±1, ±2, …, ±64}`, so that a product is one
    /// shift; two terms (APoT-like) are two shifts and an addition (see [`super::super::spt`]).
    Spt {
        /// Most powers of two per weight.
        terms: usize,
    },
}

impl WeightGrid {
    /// 8-bit uniform: `[-127, 127]`.
    pub const INT8: WeightGrid = WeightGrid::Uniform { bits: 8 };
    /// 4-bit uniform: `[-7, 7]`.
    pub const INT4: WeightGrid = WeightGrid::Uniform { bits: 4 };
    /// Powers of two: `{0, ±1, ±2, …, ±64}`.
    pub const POW2: WeightGrid = WeightGrid::Spt { terms: 1 };

    /// The grid's non-negative levels, ascending (the grid is their signed copies).
    pub(super) fn magnitudes(self) -> Result<Vec<i32>, FitError> {
        match self {
            WeightGrid::Uniform { bits: bits @ 2..=8 } => Ok((0..1 << (bits - 1)).collect()),
            WeightGrid::Spt { terms: terms @ 1.. } => {
                Ok(spt_levels(terms, 127).into_iter().filter(|&q| q >= 0).collect())
            }
            other => {
                Err(FitError::Shape(format!("{other:?} is not an int8 weight grid (2 to 8 bits, at least 1 term)")))
            }
        }
    }
}

/// A weight tensor quantized per channel: `dequantized = q · scales[c]` along `axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedWeights {
    /// The integers, in the weight's shape (the DequantizeLinear input, zero point 0).
    pub q: ArrayD<i8>,
    /// One positive scale per index along `axis`.
    pub scales: Vec<f32>,
    /// `q · scale` in f32, as DequantizeLinear computes it.
    pub dequantized: ArrayD<f32>,
    /// The channel axis.
    pub axis: usize,
}

/// Relative clipping candidates tried before refining: the max-based scale `max|w| / top level`
/// times 1, 0.95, …, 0.30.
const CLIP_STEPS: usize = 14;
/// Most rounds of the assign / least-squares alternation.
const ROUNDS: usize = 50;

/// Quantizes `w` per index along `axis` (0 for Conv `[O, C, kh, kw]` and Gemm with transB = 1,
/// 1 for MatMul `[K, N]` and Gemm with transB = 0) onto `grid`.
///
/// Each channel's scale minimizes `Σ (w - s·q(w/s))²`, `q` the nearest grid level: the best of
/// the max-based scale and clipped ones (a search over `s·α`, α from 1 down to 0.3), then
/// alternating (Lloyd's algorithm on a scaled grid): assign every weight its nearest level,
/// set the scale to the least-squares `Σ w·q / Σ q²`, while the error falls (by more than a
/// millionth). Every step lowers the error, so the result is never worse than the max-based
/// scale. A channel of zeros gets scale 1 and q = 0 (ONNX needs scale > 0). Deterministic.
pub fn quantize_weights(w: &ArrayD<f32>, axis: usize, grid: WeightGrid) -> Result<QuantizedWeights, FitError> {
    let levels = Levels::new(&grid.magnitudes()?);
    if axis >= w.ndim() || w.len_of(Axis(axis)) == 0 {
        return Err(FitError::Shape(format!("no channel axis {axis} in weights of shape {:?}", w.shape())));
    }
    if w.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Degenerate("the weights hold NaN or infinity".into()));
    }
    let mut q = ArrayD::<i8>::zeros(w.raw_dim());
    let mut scales = Vec::with_capacity(w.len_of(Axis(axis)));
    for (channel, mut q_channel) in w.axis_iter(Axis(axis)).zip(q.axis_iter_mut(Axis(axis))) {
        let values: Vec<f64> = channel.iter().map(|&v| f64::from(v)).collect();
        let scale = fit_scale(&values, &levels) as f32;
        // A scale that does not survive as a normal f32 belongs to weights that are 0 in effect.
        let scale = if scale >= f32::MIN_POSITIVE { scale } else { 1.0 };
        for (qi, &v) in q_channel.iter_mut().zip(&values) {
            // Levels are at most 127 in magnitude.
            *qi = levels.nearest(v / f64::from(scale)) as i8;
        }
        scales.push(scale);
    }
    let mut dequantized = q.mapv(f32::from);
    for (mut channel, &s) in dequantized.axis_iter_mut(Axis(axis)).zip(&scales) {
        channel.mapv_inplace(|v| v * s);
    }
    Ok(QuantizedWeights { q, scales, dequantized, axis })
}

/// A grid's levels with an O(1) nearest-level lookup (the levels are integers).
pub(super) struct Levels {
    /// The largest level (≥ 1).
    pub(super) top: f64,
    /// For each `i` in `0..top`: the largest level ≤ i and the smallest level ≥ i + 1.
    around: Vec<(f64, f64)>,
}

impl Levels {
    /// The levels of a grid's ascending magnitudes (0 first).
    pub(super) fn new(magnitudes: &[i32]) -> Levels {
        let top = magnitudes.last().copied().unwrap_or(0);
        let around = (0..top)
            .map(|i| {
                let below = magnitudes.iter().rev().find(|&&m| m <= i).copied().unwrap_or(0);
                let above = magnitudes.iter().find(|&&m| m > i).copied().unwrap_or(top);
                (f64::from(below), f64::from(above))
            })
            .collect();
        Levels { top: f64::from(top), around }
    }

    /// The signed level nearest `t` (finite; the smaller magnitude on a tie).
    pub(super) fn nearest(&self, t: f64) -> f64 {
        let a = t.abs();
        let level = if a >= self.top {
            self.top
        } else {
            let (below, above) = self.around[a as usize];
            if a - below <= above - a {
                below
            } else {
                above
            }
        };
        level.copysign(t)
    }

    /// With `q` the nearest levels of `w / s`: `Σ (w - s·q)²`, `Σ w·q` and `Σ q²`.
    fn pass(&self, w: &[f64], s: f64) -> (f64, f64, f64) {
        w.iter().fold((0.0, 0.0, 0.0), |(err, wq, qq), &v| {
            let q = self.nearest(v / s);
            (err + (v - s * q).powi(2), wq + v * q, qq + q * q)
        })
    }
}

/// The scale of one channel (see [`quantize_weights`]); 1 for a channel of zeros.
pub(super) fn fit_scale(w: &[f64], levels: &Levels) -> f64 {
    let amax = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if amax == 0.0 {
        return 1.0;
    }
    let max_based = amax / levels.top;
    let mut best = (max_based, levels.pass(w, max_based));
    for j in 1..=CLIP_STEPS {
        let candidate = max_based * (1.0 - 0.05 * j as f64);
        let stats = levels.pass(w, candidate);
        if stats.0 < best.1 .0 {
            best = (candidate, stats);
        }
    }
    let (mut s, (mut err, mut wq, mut qq)) = best;
    for _ in 0..ROUNDS {
        // The least-squares scale of the current assignment, kept while the error falls.
        let refit = wq / qq;
        if !(refit > 0.0 && refit.is_finite()) {
            break;
        }
        let next = levels.pass(w, refit);
        if next.0 >= err {
            break;
        }
        let gain = err - next.0;
        (s, (err, wq, qq)) = (refit, next);
        if gain <= 1e-6 * err {
            break;
        }
    }
    s
}

#[cfg(test)]
#[path = "weights_tests.rs"]
mod tests;
