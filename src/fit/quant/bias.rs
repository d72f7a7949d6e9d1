//! Bias correction of a quantized linear layer (Conv, Gemm, MatMul): the mean output shift
//! that quantization causes on the calibration data, taken off the bias (Nagel et al., "Data-Free
//! Quantization Through Weight Equalization and Bias Correction", ICCV 2019, with empirical
//! input statistics as in their Sec. 4.2 and Finkelstein et al. 2019).
//!
//! The quantized layer computes `W_q * x_q` for `W * x`; its mean error per output channel,
//! over the samples and (Conv) the output positions, is by linearity
//! `Σ_j W_q[o, j]·E[x_q patch_j] - W[o, j]·E[x patch_j]`, where `E[x patch_j]` is the mean of
//! the input at kernel tap `j` over all output positions — padding zeros included, so this is
//! exactly the mean difference of the two convolutions run on the samples, at the cost of one
//! pass over the input. Subtracting it from the bias makes the mean error 0 on the calibration
//! data.

use super::super::{FitError, Samples};
use ndarray::{Array1, Array2, ArrayD, Axis, Ix2};

/// Convolution geometry with explicit padding (a caller resolves `auto_pad`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Stride per spatial axis.
    pub strides: Vec<usize>,
    /// Padding: the begins of every spatial axis, then the ends (ONNX `pads`).
    pub pads: Vec<usize>,
    /// Dilation per spatial axis.
    pub dilations: Vec<usize>,
    /// Groups (`C` and `O` are multiples of it).
    pub group: usize,
}

/// The linear layer whose bias is corrected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinearLayer {
    /// ONNX Conv: weights `[O, C/group, k...]`, input samples `[n, C, spatial...]`.
    Conv(ConvGeometry),
    /// Gemm (alpha = beta = 1, transA = 0) or MatMul with 2-D weights whose output channels run
    /// along `out_axis` (0: Gemm with transB = 1, `[O, K]`; 1: MatMul or Gemm with transB = 0,
    /// `[K, O]`); input samples `[..., K]` (every row is a sample).
    Dense {
        /// The weights' output-channel axis.
        out_axis: usize,
    },
}

/// The bias `b' = b - E[W_q * x_q - W * x]` that makes the quantized layer's mean output equal
/// the original's on the calibration samples, per output channel.
///
/// `w` and `w_q` are the original and the dequantized weights (same shape), `bias` the original
/// bias (zeros when the layer has none), `x` the layer's float input samples and `x_q` the
/// input the quantized layer reads, when it differs (the fake-quantized samples of a QDQ input:
/// the correction then also removes the mean error the input's quantization causes). Errors on
/// shapes that do not fit the layer.
pub fn correct_bias(
    layer: &LinearLayer,
    (w, w_q): (&ArrayD<f32>, &ArrayD<f32>),
    bias: Option<&ArrayD<f32>>,
    x: &Samples,
    x_q: Option<&Samples>,
) -> Result<Array1<f32>, FitError> {
    if w.shape() != w_q.shape() {
        return Err(shape(format!("quantized weights {:?} for weights {:?}", w_q.shape(), w.shape())));
    }
    if let Some(xq) = x_q.filter(|xq| xq.shape() != x.shape()) {
        return Err(shape(format!("quantized input {:?} for input {:?}", xq.shape(), x.shape())));
    }
    if x.is_empty() {
        return Err(FitError::Degenerate("no calibration samples".into()));
    }
    let (rows, rows_q) = (weight_rows(layer, w)?, weight_rows(layer, w_q)?);
    let outputs = rows.nrows();
    let mean = input_means(layer, w.shape(), x)?;
    let mean_q = x_q.map(|xq| input_means(layer, w.shape(), xq)).transpose()?;
    let mean_q = mean_q.as_ref().unwrap_or(&mean);
    let per_group = outputs / mean.nrows();
    let b = match bias {
        Some(b) if b.shape() != [outputs] => return Err(shape(format!("bias {:?} for {outputs} outputs", b.shape()))),
        Some(b) => b.iter().map(|&v| f64::from(v)).collect(),
        None => vec![0.0; outputs],
    };
    Ok(Array1::from_shape_fn(outputs, |o| {
        let g = o / per_group;
        let shift = rows_q.row(o).dot(&mean_q.row(g)) - rows.row(o).dot(&mean.row(g));
        (b[o] - shift) as f32
    }))
}

fn shape(msg: String) -> FitError {
    FitError::Shape(format!("bias correction: {msg}"))
}

/// The weights as one row per output channel, in f64: `[O, K]`, or `[O, C/group · Πk]`.
fn weight_rows(layer: &LinearLayer, w: &ArrayD<f32>) -> Result<Array2<f64>, FitError> {
    let w = w.mapv(f64::from);
    match layer {
        LinearLayer::Dense { out_axis } => {
            let w = w.into_dimensionality::<Ix2>().map_err(|_| shape("Gemm/MatMul weights must be 2-D".into()))?;
            match out_axis {
                0 => Ok(w),
                1 => Ok(w.reversed_axes()),
                _ => Err(shape(format!("output axis {out_axis} of 2-D weights"))),
            }
        }
        LinearLayer::Conv(_) => {
            if w.ndim() < 3 {
                return Err(shape(format!("Conv weights {:?} are not [O, C/group, k...]", w.shape())));
            }
            let o = w.shape()[0];
            let per_output = w.shape()[1..].iter().product::<usize>();
            // `mapv` left `w` in standard layout: the reshape does not fail.
            Ok(w.into_shape_with_order((o, per_output)).expect("a standard-layout array reshapes"))
        }
    }
}

/// The mean input under each weight of a row of [`weight_rows`], per group: `[group, row length]`.
fn input_means(layer: &LinearLayer, w_shape: &[usize], x: &Samples) -> Result<Array2<f64>, FitError> {
    match layer {
        LinearLayer::Dense { out_axis } => {
            // `weight_rows` accepted the weights: 2-D, `out_axis` 0 or 1.
            let k = if *out_axis == 0 { w_shape[1] } else { w_shape[0] };
            if x.shape().last() != Some(&k) {
                return Err(shape(format!("input {:?} for {k} weight inputs", x.shape())));
            }
            let rows = x.len() / k;
            let x = x.mapv(f64::from).into_shape_with_order((rows, k)).expect("a standard-layout array reshapes");
            Ok(x.mean_axis(Axis(0)).expect("rows ≥ 1: the samples are not empty").insert_axis(Axis(0)))
        }
        LinearLayer::Conv(geometry) => {
            let patch = mean_patch(geometry, w_shape, x)?;
            let group = geometry.group;
            let len = patch.len() / group;
            Ok(patch.into_shape_with_order((group, len)).expect("a standard-layout array reshapes"))
        }
    }
}

/// The mean input at every kernel tap over the samples and output positions: `[C, k...]`, the
/// padded zeros counted.
fn mean_patch(geometry: &ConvGeometry, w_shape: &[usize], x: &Samples) -> Result<ArrayD<f64>, FitError> {
    let rank = w_shape.len().saturating_sub(2);
    let ConvGeometry { strides, pads, dilations, group } = geometry;
    let valid = rank >= 1
        && x.ndim() == rank + 2
        && strides.len() == rank
        && dilations.len() == rank
        && pads.len() == 2 * rank
        && strides.iter().chain(dilations).all(|&v| v >= 1)
        && *group >= 1
        && w_shape[0].is_multiple_of(*group)
        && x.shape()[1] == w_shape[1] * group;
    if !valid {
        return Err(shape(format!("Conv of weights {w_shape:?} and {geometry:?} on input {:?}", x.shape())));
    }
    let samples = x.len_of(Axis(0));
    // The sum over the samples first (everything below is linear): [C, spatial...].
    let mut t = x.mapv(f64::from).sum_axis(Axis(0));
    let mut positions = 1;
    // Contract one spatial axis at a time into its kernel taps: t[c, .., k, ..] = Σ over the
    // output positions o of t[c, .., o·stride + k·dilation - pad, ..] (0 outside).
    for (i, &kernel) in w_shape[2..].iter().enumerate() {
        let axis = Axis(1 + i);
        let len = t.len_of(axis);
        let span = dilations[i] * (kernel.max(1) - 1) + 1;
        let padded = len + pads[i] + pads[rank + i];
        if padded < span {
            return Err(shape(format!("kernel {:?} larger than the padded input {:?}", &w_shape[2..], x.shape())));
        }
        let outputs = (padded - span) / strides[i] + 1;
        positions *= outputs;
        let mut taps_shape = t.shape().to_vec();
        taps_shape[1 + i] = kernel;
        let mut taps = ArrayD::<f64>::zeros(taps_shape);
        for k in 0..kernel {
            let mut tap = taps.index_axis_mut(axis, k);
            for o in 0..outputs {
                let at = (o * strides[i] + k * dilations[i]).checked_sub(pads[i]).filter(|&at| at < len);
                if let Some(at) = at {
                    tap += &t.index_axis(axis, at);
                }
            }
        }
        t = taps;
    }
    Ok(t / (samples * positions) as f64)
}

#[cfg(test)]
#[path = "bias_tests.rs"]
mod tests;
