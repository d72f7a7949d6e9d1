//! Tests of the data-aware rounding.

use super::*;
use crate::fit::quant::quantize_weights;
use crate::fit::test_samples::normal;
use ndarray::{Array2, ArrayD, IxDyn};

/// `n` rows of `k` correlated inputs: a random walk along the row (neighbouring inputs close,
/// as pixels of a window are), plus a little independent noise.
fn correlated_rows(n: usize, k: usize, seed: u64) -> Array2<f32> {
    let steps = normal(n * k, seed);
    let noise = normal(n * k, seed + 1);
    Array2::from_shape_fn((n, k), |(r, c)| {
        let walk: f32 = (0..=c).map(|j| steps[r * k + j]).sum();
        walk + 0.1 * noise[r * k + c]
    })
}

fn second_moment(rows: &Array2<f32>) -> Array2<f64> {
    let x = rows.mapv(f64::from);
    x.t().dot(&x) / rows.nrows() as f64
}

/// `Σ_o (w_o − w_q,o)ᵀ H (w_o − w_q,o)` over a `[O, K]` weight.
fn output_error_of(w: &ArrayD<f32>, wq: &ArrayD<f32>, h: &Array2<f64>) -> f64 {
    let (o, k) = (w.shape()[0], h.nrows());
    let e = Array2::from_shape_fn((o, k), |(i, j)| f64::from(w[[i, j]] - wq[[i, j]]));
    (e.dot(h) * &e).sum()
}

#[test]
fn compensated_rounding_lowers_the_output_error_on_correlated_inputs() {
    let (o, k) = (12, 27);
    let h = second_moment(&correlated_rows(2000, k, 3));
    let w = ArrayD::from_shape_vec(IxDyn(&[o, k]), normal(o * k, 9)).unwrap();
    for (grid, at_most) in [(WeightGrid::INT8, 0.6), (WeightGrid::INT4, 0.6), (WeightGrid::POW2, 0.9)] {
        let nearest = quantize_weights(&w, 0, grid).unwrap();
        let aware = quantize_weights_for_inputs(&w, 0, grid, std::slice::from_ref(&h)).unwrap();
        let (before, after) =
            (output_error_of(&w, &nearest.dequantized, &h), output_error_of(&w, &aware.dequantized, &h));
        assert!(after <= at_most * before, "{grid:?}: output error {after} vs nearest rounding's {before}");
        // Still the grid: integers within its range, dequantized as q · scale.
        let top = if grid == WeightGrid::INT4 { 7 } else { 127 };
        assert!(aware.q.iter().all(|&q| i32::from(q).abs() <= top), "{grid:?}");
        for ((q, d), i) in aware.q.iter().zip(&aware.dequantized).zip(0..) {
            assert_eq!(*d, f32::from(*q) * aware.scales[i / k]);
        }
    }
}

#[test]
fn uncorrelated_inputs_never_do_worse_than_nearest_rounding() {
    // Independent inputs of equal variance: H is a multiple of I, so output error is weight
    // error, and the fitted nearest rounding is a candidate.
    let k = 16;
    let h = Array2::from_diag(&ndarray::Array1::from_elem(k, 2.0));
    let w = ArrayD::from_shape_vec(IxDyn(&[4, k]), normal(4 * k, 5)).unwrap();
    let nearest = quantize_weights(&w, 0, WeightGrid::INT8).unwrap();
    let aware = quantize_weights_for_inputs(&w, 0, WeightGrid::INT8, std::slice::from_ref(&h)).unwrap();
    assert!(output_error_of(&w, &aware.dequantized, &h) <= output_error_of(&w, &nearest.dequantized, &h));
}

#[test]
fn layouts_and_groups() {
    // MatMul [K, N] (outputs on axis 1) gives the transpose of the [N, K] result.
    let (k, n) = (9, 5);
    let h = second_moment(&correlated_rows(500, k, 7));
    let w_kn = ArrayD::from_shape_vec(IxDyn(&[k, n]), normal(k * n, 2)).unwrap();
    let w_nk = w_kn.t().to_owned();
    let a = quantize_weights_for_inputs(&w_kn, 1, WeightGrid::INT8, std::slice::from_ref(&h)).unwrap();
    let b = quantize_weights_for_inputs(&w_nk, 0, WeightGrid::INT8, std::slice::from_ref(&h)).unwrap();
    assert_eq!(a.q.t(), b.q);
    assert_eq!(a.scales, b.scales);
    // A depthwise Conv [4, 1, 3, 3]: one statistics matrix per group.
    let w = ArrayD::from_shape_vec(IxDyn(&[4, 1, 3, 3]), normal(36, 4)).unwrap();
    let hs: Vec<Array2<f64>> = (0..4).map(|g| second_moment(&correlated_rows(300, 9, 20 + g))).collect();
    let got = quantize_weights_for_inputs(&w, 0, WeightGrid::INT8, &hs).unwrap();
    assert_eq!((got.q.shape(), got.scales.len()), (&[4, 1, 3, 3][..], 4));
}

#[test]
fn bad_shapes_and_data_are_errors() {
    let w = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0; 6]).unwrap();
    let h3 = Array2::<f64>::eye(3);
    assert!(quantize_weights_for_inputs(&w, 0, WeightGrid::INT8, &[Array2::eye(4)]).is_err());
    assert!(quantize_weights_for_inputs(&w, 0, WeightGrid::INT8, &[]).is_err());
    assert!(quantize_weights_for_inputs(&w, 0, WeightGrid::INT8, &[h3.clone(), h3.clone(), h3.clone()]).is_err());
    assert!(quantize_weights_for_inputs(&w, 0, WeightGrid::INT8, &[Array2::zeros((3, 3))]).is_err());
    let mut nan = h3.clone();
    nan[[0, 1]] = f64::NAN;
    assert!(quantize_weights_for_inputs(&w, 0, WeightGrid::INT8, &[nan]).is_err());
    let w3 = ArrayD::from_shape_vec(IxDyn(&[2, 3, 1]), vec![1.0; 6]).unwrap();
    assert!(quantize_weights_for_inputs(&w3, 1, WeightGrid::INT8, &[h3]).is_err());
}
