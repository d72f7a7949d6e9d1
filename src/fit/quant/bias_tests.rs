//! Tests of the bias correction, against convolutions run directly.

use super::*;
use crate::fit::quant::{quantize_weights, QParams, WeightGrid, ZeroPoint};
use crate::fit::test_samples::normal;
use ndarray::{arr1, arr2, IxDyn};

fn array(shape: &[usize], values: Vec<f32>) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

/// A direct 2-D convolution with bias, in f64: the reference the correction is checked on.
fn conv2d(x: &ArrayD<f32>, w: &ArrayD<f32>, b: &Array1<f32>, geo: &ConvGeometry) -> ArrayD<f64> {
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    assert_eq!(c, cg * geo.group);
    let out = |len: usize, i: usize, k: usize| {
        (len + geo.pads[i] + geo.pads[2 + i] - geo.dilations[i] * (k - 1) - 1) / geo.strides[i] + 1
    };
    let (oh, ow) = (out(h, 0, kh), out(wd, 1, kw));
    ArrayD::from_shape_fn(IxDyn(&[n, o, oh, ow]), |i| {
        let (s, oc, y, xx) = (i[0], i[1], i[2], i[3]);
        let g = oc / (o / geo.group);
        let mut acc = f64::from(b[oc]);
        for ci in 0..cg {
            for ky in 0..kh {
                for kx in 0..kw {
                    let iy = (y * geo.strides[0] + ky * geo.dilations[0]) as isize - geo.pads[0] as isize;
                    let ix = (xx * geo.strides[1] + kx * geo.dilations[1]) as isize - geo.pads[1] as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                        let v = x[[s, g * cg + ci, iy as usize, ix as usize]];
                        acc += f64::from(w[[oc, ci, ky, kx]]) * f64::from(v);
                    }
                }
            }
        }
        acc
    })
}

/// Per output channel, the mean of `a - b` over the samples and positions.
fn mean_difference(a: &ArrayD<f64>, b: &ArrayD<f64>) -> Vec<f64> {
    let d = a - b;
    (0..d.shape()[1]).map(|o| d.index_axis(Axis(1), o).mean().unwrap()).collect()
}

/// A grouped, strided, dilated, asymmetrically padded Conv with int4 weights, its input
/// off-centre (mean 0.7) so that the rounding shifts the output.
fn conv_case() -> (ConvGeometry, ArrayD<f32>, ArrayD<f32>, Array1<f32>, ArrayD<f32>) {
    let geo = ConvGeometry { strides: vec![2, 1], pads: vec![1, 0, 1, 2], dilations: vec![1, 2], group: 2 };
    let w = array(&[4, 3, 3, 3], normal(108, 11));
    let w_q = quantize_weights(&w, 0, WeightGrid::INT4).unwrap().dequantized;
    let b = arr1(&[0.1f32, -0.2, 0.3, 0.0]);
    let x = array(&[5, 6, 7, 8], normal(5 * 6 * 7 * 8, 12)).mapv(|v| v + 0.7);
    (geo, w, w_q, b, x)
}

#[test]
fn conv_correction_removes_the_mean_shift() {
    let (geo, w, w_q, b, x) = conv_case();
    let reference = conv2d(&x, &w, &b, &geo);
    let before = mean_difference(&conv2d(&x, &w_q, &b, &geo), &reference);
    assert!(before.iter().any(|d| d.abs() > 1e-2), "the rounding must shift the mean: {before:?}");
    let b2 = correct_bias(&LinearLayer::Conv(geo.clone()), (&w, &w_q), Some(&b.clone().into_dyn()), &x, None).unwrap();
    let after = mean_difference(&conv2d(&x, &w_q, &b2, &geo), &reference);
    assert!(after.iter().all(|d| d.abs() < 1e-5), "{after:?}");
}

#[test]
fn conv_correction_covers_the_input_quantization() {
    let (geo, w, w_q, b, x) = conv_case();
    // A coarse uint8 input quantization that moves its mean (everything below -0.5 saturates).
    let x_q = QParams { scale: 0.25, zero_point: ZeroPoint::U8(2) }.fake_quantize(&x);
    let reference = conv2d(&x, &w, &b, &geo);
    let before = mean_difference(&conv2d(&x_q, &w_q, &b, &geo), &reference);
    assert!(before.iter().any(|d| d.abs() > 1e-2), "{before:?}");
    let b2 = correct_bias(&LinearLayer::Conv(geo.clone()), (&w, &w_q), Some(&b.into_dyn()), &x, Some(&x_q)).unwrap();
    let after = mean_difference(&conv2d(&x_q, &w_q, &b2, &geo), &reference);
    assert!(after.iter().all(|d| d.abs() < 1e-5), "{after:?}");
}

#[test]
fn dense_correction_has_the_known_value() {
    // W = 0, W_q adds 0.1 at (0, 0) and -0.2 at (1, 2); the input's mean is [1, 2, 3]:
    // the outputs shift by [0.1, -0.6].
    let w = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    let w_q = arr2(&[[0.1f32, 0.0, 0.0], [0.0, 0.0, -0.2]]).into_dyn();
    let x = arr2(&[[0.0f32, 1.0, 2.0], [2.0, 3.0, 4.0]]).into_dyn();
    let b = arr1(&[0.5f32, 0.5]).into_dyn();
    let gemm = correct_bias(&LinearLayer::Dense { out_axis: 0 }, (&w, &w_q), Some(&b), &x, None).unwrap();
    assert!((gemm[0] - 0.4).abs() < 1e-6 && (gemm[1] - 1.1).abs() < 1e-6, "{gemm}");
    // The same layer as MatMul [K, O], on token samples [n, T, K], without a bias.
    let tokens = x.clone().into_shape_with_order(IxDyn(&[1, 2, 3])).unwrap();
    let (wt, wqt) = (w.t().to_owned(), w_q.t().to_owned());
    let matmul = correct_bias(&LinearLayer::Dense { out_axis: 1 }, (&wt, &wqt), None, &tokens, None).unwrap();
    assert!((matmul[0] + 0.1).abs() < 1e-6 && (matmul[1] - 0.6).abs() < 1e-6, "{matmul}");
    // A quantized input 0.5 higher everywhere adds W_q · 0.5 per output: [0.05, -0.1].
    let x_q = x.mapv(|v| v + 0.5);
    let both = correct_bias(&LinearLayer::Dense { out_axis: 0 }, (&w, &w_q), Some(&b), &x, Some(&x_q)).unwrap();
    assert!((both[0] - 0.35).abs() < 1e-6 && (both[1] - 1.2).abs() < 1e-6, "{both}");
}

#[test]
fn shapes_that_do_not_fit_are_errors() {
    let (geo, w, w_q, _, x) = conv_case();
    let conv = LinearLayer::Conv(geo.clone());
    let is_shape = |r: Result<Array1<f32>, FitError>| matches!(r, Err(FitError::Shape(_)));
    let other = array(&[4, 3, 3, 2], vec![0.0; 72]);
    assert!(is_shape(correct_bias(&conv, (&w, &other), None, &x, None)));
    let bad_bias = ArrayD::<f32>::zeros(IxDyn(&[3]));
    assert!(is_shape(correct_bias(&conv, (&w, &w_q), Some(&bad_bias), &x, None)));
    let four_channels = array(&[1, 4, 7, 8], vec![0.0; 224]);
    assert!(is_shape(correct_bias(&conv, (&w, &w_q), None, &four_channels, None)));
    let tiny = array(&[1, 6, 1, 1], vec![0.0; 6]);
    let unpadded = LinearLayer::Conv(ConvGeometry { pads: vec![0; 4], ..geo });
    assert!(is_shape(correct_bias(&unpadded, (&w, &w_q), None, &tiny, None)));
    assert!(is_shape(correct_bias(&LinearLayer::Dense { out_axis: 0 }, (&w, &w_q), None, &x, None)));
    let w2 = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    assert!(is_shape(correct_bias(&LinearLayer::Dense { out_axis: 2 }, (&w2, &w2), None, &x, None)));
    assert!(is_shape(correct_bias(&conv, (&w2, &w2), None, &x, None)));
    let empty = ArrayD::<f32>::zeros(IxDyn(&[0, 3]));
    let none = correct_bias(&LinearLayer::Dense { out_axis: 0 }, (&w2, &w2), None, &empty, None);
    assert!(matches!(none, Err(FitError::Degenerate(_))));
}
