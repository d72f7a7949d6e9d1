//! Channel pruning without retraining: drop input channels of a consuming layer (a group-1
//! Conv, or a Gemm/MatMul) and refit its weights and bias by least squares so that its output
//! on the calibration data changes as little as possible; the producer of those channels is
//! then sliced by the caller ([`select_channels`], [`select_channel_param`]).
//!
//! Method (ThiNet: Luo, Wu, Lin, "ThiNet: A Filter Level Pruning Method for Deep Neural
//! Network Compression", ICCV 2017, which selects channels by the next layer's reconstruction
//! and refits by least squares; He, Zhang, Sun, "Channel Pruning for Accelerating Very Deep
//! Neural Networks", ICCV 2017, for the least-squares reconstruction of the consumer): the
//! channels are chosen greedily forward, each step adding the channel whose columns (its `k...`
//! patch columns) most reduce the least-squares residual of `W x` given the channels already
//! kept (group orthogonal forward regression on the input covariance, updated by Schur
//! complements, so every step accounts for the refit). The kept channels' weights are then
//! refit by ridge regression on the centered data, `W' = W Σ[:, K] (Σ[K, K] + λI)⁻¹`, and the
//! bias absorbs the means, `b' = b + W μ − W' μ_K`: a dropped channel's mean contribution moves
//! into the bias. Everything is computed from the moments of the consumer's input, so the same
//! function serves patches (a conv) and sample rows (a Gemm/MatMul).

use super::linalg::{from_na, output_energy, relative_error, ridge_of, ridge_solve, vec_from_na, vec_to_na};
use super::patches::Moments;
use super::FitError;
use nalgebra::{DMatrix, DVector};
use ndarray::{Array1, ArrayD, ArrayView1, Axis, IxDyn};

/// A consumer refit on a subset of its input channels.
#[derive(Clone, Debug, PartialEq)]
pub struct Pruned {
    /// The input channels kept, ascending.
    pub kept: Vec<usize>,
    /// The consumer's new weight: the original `[O, C, k...]` with `C` replaced by `kept.len()`.
    pub weight: ArrayD<f32>,
    /// The consumer's new bias, one per output.
    pub bias: Array1<f32>,
    /// The relative error of the consumer's output on the calibration data,
    /// `sqrt(E‖ŷ − y‖² / E‖y‖²)` with `y = W x + b` the original output.
    pub error: f64,
}

/// Keeps `keep` of the input channels of a consumer with weight `w` (`[O, C, k...]`: a group-1
/// Conv's weight, or a Gemm/MatMul weight as its map `O × C`, see
/// [`Layout::to_map`](super::linalg::Layout::to_map)) and bias `bias`, whose input has the
/// moments `moments` (`C · k...` columns, channel major: a conv's patches or a linear layer's
/// rows), and refits the weight and bias on them.
pub fn prune_inputs(
    w: &ArrayD<f32>,
    bias: Option<ArrayView1<f32>>,
    moments: &Moments,
    keep: usize,
) -> Result<Pruned, FitError> {
    let shape = w.shape().to_vec();
    if shape.len() < 2 {
        return Err(FitError::Shape(format!("{shape:?} is not a weight with an input-channel axis")));
    }
    let (outputs, channels) = (shape[0], shape[1]);
    let per: usize = shape[2..].iter().product();
    if moments.dim() != channels * per {
        return Err(FitError::Shape(format!("a {shape:?} weight and moments of {} columns", moments.dim())));
    }
    if bias.is_some_and(|b| b.len() != outputs) {
        return Err(FitError::Shape(format!("a bias of {} values for {outputs} outputs", bias.map_or(0, |b| b.len()))));
    }
    if keep == 0 || keep > channels {
        return Err(FitError::Shape(format!("keeping {keep} of {channels} channels")));
    }
    let b = bias.map_or_else(|| DVector::zeros(outputs), vec_to_na);
    if keep == channels {
        return Ok(Pruned { kept: (0..channels).collect(), weight: w.clone(), bias: vec_from_na(&b), error: 0.0 });
    }
    if w.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Degenerate("the weight holds a non-finite value".into()));
    }
    let wm = DMatrix::from_row_iterator(outputs, channels * per, w.iter().map(|&v| v as f64));
    let cov = moments.covariance();
    let lambda = ridge_of(&cov)?;
    let kept = select(&cov, &wm, per, keep, lambda)?;
    let cols: Vec<usize> = kept.iter().flat_map(|&c| c * per..(c + 1) * per).collect();
    let cov_kk = cov.select_rows(&cols).select_columns(&cols);
    let cov_k = cov.select_rows(&cols);
    // W'ᵀ = (Σ_KK + λI)⁻¹ Σ_K: Wᵀ.
    let refit = ridge_solve(&cov_kk, lambda, &(&cov_k * wm.transpose()))?.transpose();
    let mu = DVector::from_iterator(moments.dim(), moments.mean.iter().copied());
    let mu_k = mu.select_rows(&cols);
    let new_bias = &b + &wm * &mu - &refit * &mu_k;
    let residual = (&refit * &cov_kk).component_mul(&refit).sum() - 2.0 * (&refit * &cov_k).component_mul(&wm).sum()
        + (&wm * &cov).component_mul(&wm).sum();
    let error = relative_error(residual, output_energy(&wm, Some(&b), moments));
    let mut new_shape = shape;
    new_shape[1] = keep;
    let weight = from_na(&refit).into_shape_with_order(IxDyn(&new_shape)).expect("O × (K · k...) holds the new shape");
    Ok(Pruned { kept, weight, bias: vec_from_na(&new_bias), error })
}

/// Greedy forward selection of `keep` channels (blocks of `per` columns of the covariance
/// `cov`) maximizing the variance of `W x` they explain with a least-squares refit. Ties go to
/// the lower channel index.
fn select(cov: &DMatrix<f64>, w: &DMatrix<f64>, per: usize, keep: usize, lambda: f64) -> Result<Vec<usize>, FitError> {
    let channels = cov.nrows() / per;
    // Conditional covariance of the inputs, and of inputs with targets, given the kept channels.
    let mut r = cov.clone();
    let mut t = cov * w.transpose();
    let mut kept = Vec::with_capacity(keep);
    let block = |c: usize| -> Vec<usize> { (c * per..(c + 1) * per).collect() };
    for _ in 0..keep {
        let mut best: Option<(usize, f64)> = None;
        for c in (0..channels).filter(|c| !kept.contains(c)) {
            let idx = block(c);
            let tc = t.select_rows(&idx);
            let gain = ridge_solve(&r.select_rows(&idx).select_columns(&idx), lambda, &tc)?.component_mul(&tc).sum();
            if best.is_none_or(|(_, g)| gain > g) {
                best = Some((c, gain));
            }
        }
        let (c, _) = best.expect("fewer channels kept than there are");
        let idx = block(c);
        let r_c = r.select_columns(&idx);
        let rcc = r.select_rows(&idx).select_columns(&idx);
        let gain_r = ridge_solve(&rcc, lambda, &r_c.transpose())?;
        let gain_t = ridge_solve(&rcc, lambda, &t.select_rows(&idx))?;
        r -= &r_c * gain_r;
        t -= &r_c * gain_t;
        kept.push(c);
    }
    kept.sort_unstable();
    Ok(kept)
}

fn check_kept(kept: &[usize], len: usize) -> Result<(), FitError> {
    match kept.iter().find(|&&c| c >= len) {
        Some(c) => Err(FitError::Shape(format!("channel {c} of {len}"))),
        None => Ok(()),
    }
}

/// A producer's weight or bias restricted to the output channels `kept`: its entries along
/// `axis` (0 for a Conv's weight and bias, a Gemm's bias and a Gemm weight with `transB = 1`;
/// 1 for a MatMul weight or a Gemm weight with `transB = 0`). A grouped producer (depthwise)
/// also needs its group count and its own input sliced; that is the caller's.
pub fn select_channels(t: &ArrayD<f32>, axis: usize, kept: &[usize]) -> Result<ArrayD<f32>, FitError> {
    let len = *t.shape().get(axis).ok_or_else(|| FitError::Shape(format!("{:?} has no axis {axis}", t.shape())))?;
    check_kept(kept, len)?;
    Ok(t.select(Axis(axis), kept))
}

/// A per-channel parameter of an op between producer and consumer (BatchNormalization's
/// vectors, PRelu's slope, a Mul or Add constant) restricted to the channels `kept`. `p`
/// broadcasts (NumPy style, aligned at the last axis) against an activation of rank `rank` whose
/// channel axis is `channel_axis` (for BatchNormalization's own `[C]` inputs: rank 1, axis 0).
/// A parameter without that axis, or with it of size 1, is the same for every channel and is
/// returned unchanged.
pub fn select_channel_param(
    p: &ArrayD<f32>,
    rank: usize,
    channel_axis: usize,
    kept: &[usize],
) -> Result<ArrayD<f32>, FitError> {
    if p.ndim() > rank || channel_axis >= rank {
        return Err(FitError::Shape(format!("{:?} against a rank-{rank} activation's axis {channel_axis}", p.shape())));
    }
    match (channel_axis + p.ndim()).checked_sub(rank) {
        Some(axis) if p.shape()[axis] != 1 => select_channels(p, axis, kept),
        _ => Ok(p.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::patches::{conv_patches, sample_rows, RowCap};
    use crate::fit::testing::{max_diff, noise, tract_conv};
    use crate::ops::ConvAttrs;
    use ndarray::{s, Array2, Ix2};

    fn linear_out(w: &ArrayD<f32>, b: &Array1<f32>, x: &Array2<f32>) -> Array2<f32> {
        x.dot(&w.view().into_dimensionality::<Ix2>().unwrap().t()) + b
    }

    fn rel(y: &Array2<f32>, y2: &Array2<f32>) -> f64 {
        let sq = |a: Array2<f32>| a.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        (sq(y - y2) / sq(y.clone())).sqrt()
    }

    #[test]
    fn pruning_an_always_zero_channel_costs_nothing() {
        let attrs = ConvAttrs { pads: vec![1; 4], group: 1, ..Default::default() };
        let mut x = noise(&[4, 5, 6, 6], 1).mapv(f32::abs);
        x.slice_mut(s![.., 2, .., ..]).fill(0.0);
        let (w, b) = (noise(&[3, 5, 3, 3], 2), noise(&[3], 3));
        let p = conv_patches(&x, &attrs, &[3, 3], RowCap::default()).unwrap();
        let m = Moments::of(p.groups[0].view()).unwrap();
        let pruned = prune_inputs(&w, Some(b.view().into_dimensionality().unwrap()), &m, 4).unwrap();
        assert_eq!(pruned.kept, vec![0, 1, 3, 4]);
        assert!(pruned.error < 1e-5, "error {}", pruned.error);
        let y = tract_conv(&attrs, &x, &w, Some(&b));
        let xk = select_channels(&x, 1, &pruned.kept).unwrap();
        let y2 = tract_conv(&attrs, &xk, &pruned.weight, Some(&pruned.bias.clone().into_dyn()));
        assert!(max_diff(&y, &y2) < 1e-4, "{}", max_diff(&y, &y2));
    }

    #[test]
    fn constant_and_redundant_channels_are_absorbed() {
        // Channel 1 is constant (its contribution goes into the bias), channel 3 = 2 · channel 0
        // (the refit moves its weight onto channel 0).
        let mut x = sample_rows(&noise(&[200, 5], 4), RowCap::default()).unwrap();
        x.column_mut(1).fill(0.7);
        let c0 = x.column(0).to_owned();
        x.column_mut(3).assign(&(c0 * 2.0));
        let (w, b) = (noise(&[4, 5], 5), Array1::from(vec![1.0f32, 0.0, -1.0, 0.5]));
        let pruned = prune_inputs(&w, Some(b.view()), &Moments::of(x.view()).unwrap(), 3).unwrap();
        assert_eq!(pruned.kept.len(), 3);
        assert!(pruned.kept.contains(&2) && pruned.kept.contains(&4) && !pruned.kept.contains(&1));
        assert!(pruned.error < 1e-5, "error {}", pruned.error);
        let y = linear_out(&w, &b, &x);
        let y2 = linear_out(&pruned.weight, &pruned.bias, &x.select(Axis(1), &pruned.kept));
        assert!(rel(&y, &y2) < 1e-5);
    }

    #[test]
    fn the_reported_error_is_the_error_on_the_data() {
        let x = sample_rows(&noise(&[300, 6], 6), RowCap::default()).unwrap();
        let (w, b) = (noise(&[3, 6], 7), Array1::from(vec![0.2f32, -0.3, 0.1]));
        let m = Moments::of(x.view()).unwrap();
        let mut last = 0.0;
        for keep in (1..=5).rev() {
            let pruned = prune_inputs(&w, Some(b.view()), &m, keep).unwrap();
            let measured = rel(
                &linear_out(&w, &b, &x),
                &linear_out(&pruned.weight, &pruned.bias, &x.select(Axis(1), &pruned.kept)),
            );
            assert!((measured - pruned.error).abs() < 1e-4, "keep {keep}: {measured} vs {}", pruned.error);
            assert!(pruned.error >= last - 1e-9, "fewer channels cannot fit better");
            last = pruned.error;
        }
        let all = prune_inputs(&w, None, &m, 6).unwrap();
        assert_eq!((all.kept.len(), all.error, &all.weight), (6, 0.0, &w));
    }

    #[test]
    fn slicing_producers_and_parameters() {
        let w = ArrayD::from_shape_fn(IxDyn(&[4, 2, 1, 1]), |ix| (ix[0] * 10 + ix[1]) as f32);
        let s = select_channels(&w, 0, &[1, 3]).unwrap();
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![10.0, 11.0, 30.0, 31.0]);
        assert!(select_channels(&w, 0, &[4]).is_err() && select_channels(&w, 5, &[0]).is_err());
        let per_channel = ArrayD::from_shape_fn(IxDyn(&[4, 1, 1]), |ix| ix[0] as f32);
        assert_eq!(select_channel_param(&per_channel, 4, 1, &[0, 2]).unwrap().shape(), &[2, 1, 1]);
        let scalar = ArrayD::from_elem(IxDyn(&[1]), 3.0f32);
        assert_eq!(select_channel_param(&scalar, 4, 1, &[0, 2]).unwrap(), scalar);
        let bn = ArrayD::from_shape_fn(IxDyn(&[4]), |ix| ix[0] as f32);
        assert_eq!(select_channel_param(&bn, 1, 0, &[3]).unwrap().iter().copied().collect::<Vec<_>>(), vec![3.0]);
        assert!(select_channel_param(&per_channel, 2, 1, &[0]).is_err());
    }

    #[test]
    fn bad_requests_are_errors() {
        let m = Moments::of(noise(&[20, 4], 8).into_dimensionality::<Ix2>().unwrap().view()).unwrap();
        let w = noise(&[2, 4], 9);
        assert!(matches!(prune_inputs(&w, None, &m, 0), Err(FitError::Shape(_))));
        assert!(matches!(prune_inputs(&w, None, &m, 5), Err(FitError::Shape(_))));
        assert!(matches!(prune_inputs(&noise(&[2, 3], 9), None, &m, 2), Err(FitError::Shape(_))));
        assert!(matches!(prune_inputs(&noise(&[4], 9), None, &m, 2), Err(FitError::Shape(_))));
    }
}
