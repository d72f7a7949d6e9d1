//! Tests of the weight quantization.

use super::*;
use crate::fit::spt::spt_terms;
use crate::fit::test_samples::{laplace, normal};
use ndarray::{Array2, ArrayD, IxDyn};

const GRIDS: [WeightGrid; 5] =
    [WeightGrid::INT8, WeightGrid::INT4, WeightGrid::POW2, WeightGrid::Spt { terms: 2 }, WeightGrid::Spt { terms: 3 }];

fn sq_err(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum()
}

/// The plain max-based quantization (scale max|w| / top level, nearest level) of one channel.
fn max_based_error(w: &[f32], grid: WeightGrid) -> f64 {
    let levels = Levels::new(&grid.magnitudes().unwrap());
    let values: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
    let s = values.iter().fold(0.0f64, |m, v| m.max(v.abs())) / levels.top;
    levels.pass(&values, s).0
}

#[test]
fn weights_on_the_grid_quantize_exactly() {
    for grid in GRIDS {
        let mags = grid.magnitudes().unwrap();
        let (len, top) = (mags.len(), mags[mags.len() - 1]);
        // Two channels (Conv layout [2, 1, 3, 3]) with levels from across the grid, each holding
        // the top level (so that the max-based start is the true scale).
        let first = [top, -top, mags[1], -mags[2], mags[3], 0, -mags[len - 2], mags[len / 2], -mags[len / 3]];
        let q_in: Vec<i32> = first.iter().chain(first.iter().rev()).copied().collect();
        let scales = [0.013f32, 2.5f32];
        let w = ArrayD::from_shape_fn(IxDyn(&[2, 1, 3, 3]), |i| q_in[i[0] * 9 + i[2] * 3 + i[3]] as f32 * scales[i[0]]);
        let got = quantize_weights(&w, 0, grid).unwrap();
        let q: Vec<i32> = got.q.iter().map(|&v| i32::from(v)).collect();
        assert_eq!(q, q_in, "{grid:?}");
        for (s, want) in got.scales.iter().zip(scales) {
            assert!((s / want - 1.0).abs() < 1e-6, "{grid:?}: scale {s} vs {want}");
        }
        for (d, v) in got.dequantized.iter().zip(&w) {
            assert!((d - v).abs() <= 1e-6 * v.abs(), "{grid:?}: {d} vs {v}");
        }
    }
}

#[test]
fn nearest_levels() {
    let pow2 = Levels::new(&WeightGrid::POW2.magnitudes().unwrap());
    let got = [0.0, 0.4, 0.6, 1.5, 2.9, 3.0, 3.1, 5.9, 6.1, 47.0, 48.0, 49.0, 63.9, 64.0, 1e9, -3.1, -1e9];
    let want = [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 8.0, 32.0, 32.0, 64.0, 64.0, 64.0, 64.0, -4.0, -64.0];
    assert_eq!(got.map(|t| pow2.nearest(t)), want);
    let int4 = Levels::new(&WeightGrid::INT4.magnitudes().unwrap());
    assert_eq!([0.49, 0.5, 0.51, 6.6, 7.4, 100.0, -2.2].map(|t| int4.nearest(t)), [0.0, 0.0, 1.0, 7.0, 7.0, 7.0, -2.0]);
}

#[test]
fn results_stay_on_their_grid() {
    let w = ArrayD::from_shape_vec(IxDyn(&[8, 32]), normal(256, 1)).unwrap();
    for grid in GRIDS {
        let got = quantize_weights(&w, 0, grid).unwrap();
        for &q in &got.q {
            let q = i32::from(q);
            match grid {
                WeightGrid::Uniform { bits } => assert!(q.abs() < 1 << (bits - 1), "{grid:?}: {q}"),
                WeightGrid::Spt { terms } => assert!(q.abs() <= 127 && spt_terms(q).len() <= terms, "{grid:?}: {q}"),
            }
        }
        // The dequantized weights are q · scale, in f32.
        for (c, s) in got.scales.iter().enumerate() {
            for k in 0..32 {
                assert_eq!(got.dequantized[[c, k]], f32::from(got.q[[c, k]]) * s);
            }
        }
    }
}

#[test]
fn fitted_scale_beats_max_based_on_a_heavy_tailed_channel() {
    // Laplace weights: the max-based scale spends the grid on a few large weights. The gain is
    // large on the coarse 4-bit grid (the fit clips), small but real on the others.
    let values = laplace(2000, 7);
    let w = ArrayD::from_shape_vec(IxDyn(&[1, 2000]), values.clone()).unwrap();
    for grid in GRIDS {
        let got = quantize_weights(&w, 0, grid).unwrap();
        let fitted = sq_err(&got.dequantized, &w);
        let max_based = max_based_error(&values, grid);
        let bound = if grid == WeightGrid::INT4 { 0.5 * max_based } else { max_based };
        assert!(fitted < bound, "{grid:?}: fitted {fitted} vs max-based {max_based}");
    }
}

#[test]
fn fitted_scale_is_never_worse_than_max_based() {
    for seed in 0..5 {
        let values = normal(300, 100 + seed);
        let w = ArrayD::from_shape_vec(IxDyn(&[1, 300]), values.clone()).unwrap();
        for grid in GRIDS {
            let fitted = sq_err(&quantize_weights(&w, 0, grid).unwrap().dequantized, &w);
            // The f32 rounding of the scale is the only slack.
            assert!(fitted <= max_based_error(&values, grid) * (1.0 + 1e-6), "{grid:?}, seed {seed}");
        }
    }
}

#[test]
fn channels_along_axis_one_are_independent() {
    // MatMul [K, N] = [16, 3]: column j scaled by 10^j.
    let values = normal(48, 3);
    let w = Array2::from_shape_fn((16, 3), |(k, n)| values[k * 3 + n] * 10f32.powi(n as i32)).into_dyn();
    let by_column = quantize_weights(&w, 1, WeightGrid::INT8).unwrap();
    assert_eq!(by_column.scales.len(), 3);
    for n in 0..3 {
        let column = w.index_axis(Axis(1), n).to_owned();
        let alone = quantize_weights(&column.insert_axis(Axis(1)), 1, WeightGrid::INT8).unwrap();
        assert_eq!(alone.scales[0], by_column.scales[n]);
        assert_eq!(alone.q.index_axis(Axis(1), 0), by_column.q.index_axis(Axis(1), n));
    }
}

#[test]
fn a_zero_channel_gets_a_positive_scale() {
    let mut w = ArrayD::from_shape_vec(IxDyn(&[3, 4]), normal(12, 5)).unwrap();
    w.index_axis_mut(Axis(0), 1).fill(0.0);
    for grid in GRIDS {
        let got = quantize_weights(&w, 0, grid).unwrap();
        assert_eq!(got.scales[1], 1.0);
        assert!(got.q.index_axis(Axis(0), 1).iter().all(|&q| q == 0));
        assert!(got.dequantized.index_axis(Axis(0), 1).iter().all(|&d| d == 0.0));
    }
}

#[test]
fn bad_input_is_an_error() {
    let w = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, f32::NAN, 0.5, 0.25]).unwrap();
    assert!(matches!(quantize_weights(&w, 0, WeightGrid::INT8), Err(FitError::Degenerate(_))));
    let w = ArrayD::<f32>::zeros(IxDyn(&[2, 2]));
    assert!(matches!(quantize_weights(&w, 2, WeightGrid::INT8), Err(FitError::Shape(_))));
    assert!(matches!(quantize_weights(&w, 0, WeightGrid::Uniform { bits: 9 }), Err(FitError::Shape(_))));
    assert!(matches!(quantize_weights(&w, 0, WeightGrid::Spt { terms: 0 }), Err(FitError::Shape(_))));
    let empty = ArrayD::<f32>::zeros(IxDyn(&[0, 4]));
    assert!(matches!(quantize_weights(&empty, 0, WeightGrid::INT8), Err(FitError::Shape(_))));
}
