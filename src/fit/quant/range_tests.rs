//! Tests of the activation ranges.

use super::*;
use crate::fit::quant::ZeroPoint;
use crate::fit::test_samples::{laplace, normal, uniform};
use ndarray::{ArrayD, IxDyn};

fn samples(values: Vec<f32>) -> Samples {
    let n = values.len();
    ArrayD::from_shape_vec(IxDyn(&[n]), values).unwrap()
}

/// Mean squared error of quantize-dequantize on the samples.
fn fake_quant_mse(x: &Samples, q: &QParams) -> f64 {
    x.iter().zip(q.fake_quantize(x).iter()).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>() / x.len() as f64
}

#[test]
fn relu6_data_in_uint8_have_zero_point_0_and_scale_6_over_255() {
    // [0, 6] data: the extremes are in the samples.
    let mut values = uniform(1000, 0.0, 6.0, 1);
    values[10] = 0.0;
    values[20] = 6.0;
    let x = samples(values);
    let want = QParams { scale: (6.0f64 / 255.0) as f32, zero_point: ZeroPoint::U8(0) };
    assert_eq!(activation_qparams(&x, RangeMethod::MinMax, QType::U8).unwrap(), want);
    assert_eq!(choose_activation_qparams(&x, RangeMethod::MinMax).unwrap(), want);
}

#[test]
fn min_max_ranges() {
    let x = samples(vec![-0.5, 2.0, 1.0, -0.25]);
    assert_eq!(activation_range(&x, RangeMethod::MinMax, QType::U8).unwrap(), (-0.5, 2.0));
    // int8 is symmetric about 0.
    let q = activation_qparams(&x, RangeMethod::MinMax, QType::I8).unwrap();
    assert_eq!(q, QParams { scale: (2.0f64 / 127.0) as f32, zero_point: ZeroPoint::I8(0) });
    // Mixed signs choose int8; zeros alone choose uint8 with scale 1.
    assert_eq!(choose_activation_qparams(&x, RangeMethod::MinMax).unwrap(), q);
    let zeros = samples(vec![0.0; 5]);
    let q0 = choose_activation_qparams(&zeros, RangeMethod::Mse).unwrap();
    assert_eq!(q0, QParams { scale: 1.0, zero_point: ZeroPoint::U8(0) });
}

#[test]
fn percentiles_are_exact_order_statistics() {
    // 0, 1, …, 9999 shuffled (7919 is prime to 10000).
    let x = samples((0..10000u32).map(|i| ((i * 7919) % 10000) as f32).collect());
    let n = x.len();
    assert_eq!(n, 10000);
    let mut sorted: Vec<f32> = x.iter().copied().collect();
    sorted.sort_by(f32::total_cmp);
    // int8, 99 %: the 100 largest |x| dropped.
    let (lo, hi) = activation_range(&x, RangeMethod::Percentile(99.0), QType::I8).unwrap();
    assert_eq!((lo, hi), (-sorted[n - 101], sorted[n - 101]));
    // uint8, 98 %: 100 dropped at each end.
    assert_eq!(activation_range(&x, RangeMethod::Percentile(98.0), QType::U8).unwrap(), (sorted[100], sorted[n - 101]));
    // 100 % is min-max.
    assert_eq!(activation_range(&x, RangeMethod::Percentile(100.0), QType::U8).unwrap(), (sorted[0], sorted[n - 1]));
    // Negative values count by magnitude for int8.
    let y = samples(vec![-10.0, 1.0, 2.0, 3.0]);
    assert_eq!(activation_range(&y, RangeMethod::Percentile(80.0), QType::I8).unwrap(), (-10.0, 10.0));
    assert_eq!(activation_range(&y, RangeMethod::Percentile(75.0), QType::I8).unwrap(), (-3.0, 3.0));
}

#[test]
fn mse_range_beats_min_max_on_heavy_tails() {
    for qtype in [QType::I8, QType::U8] {
        // Laplace samples; for uint8 the positive part (as after a ReLU).
        let values: Vec<f32> =
            laplace(20000, 9).into_iter().map(|v| if qtype == QType::U8 { v.max(0.0) } else { v }).collect();
        let x = samples(values);
        let min_max = activation_qparams(&x, RangeMethod::MinMax, qtype).unwrap();
        let mse = activation_qparams(&x, RangeMethod::Mse, qtype).unwrap();
        let (e_min_max, e_mse) = (fake_quant_mse(&x, &min_max), fake_quant_mse(&x, &mse));
        // 8 bits leave little to gain: the clipping is slight (about 9 % less error for int8,
        // 0.2 % for the one-sided uint8 data).
        let bound = if qtype == QType::I8 { 0.95 * e_min_max } else { e_min_max };
        assert!(e_mse < bound, "{qtype:?}: MSE range {e_mse} vs min-max {e_min_max}");
        assert!(mse.scale < min_max.scale, "{qtype:?}");
    }
}

#[test]
fn mse_range_keeps_uniform_data_whole() {
    // Without tails nothing is worth clipping: the range stays within a few bins of min-max.
    let x = samples(uniform(20000, -1.0, 3.0, 4));
    let (lo, hi) = activation_range(&x, RangeMethod::Mse, QType::U8).unwrap();
    assert!(lo < -0.98 && hi > 2.95, "[{lo}, {hi}]");
    let gauss = samples(normal(20000, 5));
    let e = |m| fake_quant_mse(&gauss, &activation_qparams(&gauss, m, QType::I8).unwrap());
    assert!(e(RangeMethod::Mse) <= e(RangeMethod::MinMax));
}

#[test]
fn bad_samples_are_errors() {
    let empty = ArrayD::<f32>::zeros(IxDyn(&[0, 3]));
    assert!(matches!(activation_range(&empty, RangeMethod::MinMax, QType::U8), Err(FitError::Degenerate(_))));
    let nan = samples(vec![1.0, f32::NAN]);
    assert!(matches!(choose_activation_qparams(&nan, RangeMethod::Mse), Err(FitError::Degenerate(_))));
    let x = samples(vec![1.0, 2.0]);
    for p in [0.0, -1.0, 100.5, f64::NAN] {
        assert!(matches!(activation_range(&x, RangeMethod::Percentile(p), QType::I8), Err(FitError::Shape(_))));
    }
}
