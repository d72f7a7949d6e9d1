//! Two linear layers with nothing between them composed into one standard op: the form
//! DepthShrinker leaves after it drops the activation between two layers (Fu, Yang, Yuan, Li,
//! Wan, Krishnamoorthi, Chandra, Lin, "DepthShrinker: A New Compression Paradigm Towards
//! Boosting Real-Hardware Efficiency of Compact Neural Networks", ICML 2022), and the exact
//! `conv-pointwise-merge` rule of `rules/fold.rules`.
//!
//! - a convolution (any kernel, strides, pads, dilations, groups) then a 1×1 convolution
//!   (stride 1, no padding): one convolution with the first's geometry and group 1,
//!   `W[o, c, k] = Σ_m W2[o, m] · W1[m, c, k]`, `b = W2 b1 + b2`. A depthwise k×k then a 1×1
//!   becomes one dense k×k;
//! - a 1×1 convolution (stride 1, no padding) then a convolution: one convolution with the
//!   second's geometry, `W[o, c, k] = Σ_m W2[o, m, k] · W1[m, c]`,
//!   `b = b2 + Σ_{m, k} W2[o, m, k] · b1[m]`. Padding in the second is allowed only when the
//!   first has no bias (or a zero one): the second pads the intermediate with zeros where the
//!   merged conv would see `b1`;
//! - Gemm/MatMul then Gemm/MatMul: `W = W2 W1`, `b = W2 b1 + b2`.
//!
//! Grouped layers are expanded to dense weights first (zeros outside the groups). The results
//! are exact in real arithmetic and computed in `f64`, rounded once. Each result carries the
//! multiply-accumulates of both forms: merging pays only where the composed layer is smaller,
//! typically a projection to fewer channels than the intermediate has.

use super::linalg::{from_na, vec_from_na, vec_to_na};
use super::FitError;
use crate::ops::ConvAttrs;
use crate::tensor::{DType, TensorType};
use nalgebra::{DMatrix, DVector};
use ndarray::{Array1, Array2, ArrayD, ArrayView2, IxDyn};

/// One convolution of a pair.
#[derive(Clone, Copy, Debug)]
pub struct ConvLayer<'a> {
    /// Its attributes.
    pub attrs: &'a ConvAttrs,
    /// Its weight `[M, C/group, k...]`.
    pub weight: &'a ArrayD<f32>,
    /// Its bias `[M]`, if any.
    pub bias: Option<&'a Array1<f32>>,
}

/// Two convolutions composed into one.
#[derive(Clone, Debug, PartialEq)]
pub struct MergedConv {
    /// The composed convolution's attributes (group 1).
    pub attrs: ConvAttrs,
    /// Its weight `[O, C, k...]`.
    pub weight: ArrayD<f32>,
    /// Its bias, absent when neither layer had one.
    pub bias: Option<Array1<f32>>,
    /// Multiply-accumulates of the two convolutions (for the given input).
    pub macs_before: u64,
    /// Multiply-accumulates of the composed one.
    pub macs_after: u64,
}

/// Two linear maps composed into one.
#[derive(Clone, Debug, PartialEq)]
pub struct MergedLinear {
    /// The composed map, out × in (see [`Layout::from_map`](super::linalg::Layout::from_map)).
    pub weight: Array2<f32>,
    /// Its bias, absent when neither layer had one.
    pub bias: Option<Array1<f32>>,
    /// Multiply-accumulates of the two layers over the given rows.
    pub macs_before: u64,
    /// Multiply-accumulates of the composed one.
    pub macs_after: u64,
}

/// A grouped convolution weight `[M, C/g, k...]` (flat, row-major) as the dense `[M, C, k...]`
/// with zeros outside each output channel's group.
pub(crate) fn dense(w: &[f64], shape: &[usize], group: usize) -> Result<(Vec<f64>, Vec<usize>), FitError> {
    let (m, cg) = (shape[0], shape[1]);
    if group == 0 || !m.is_multiple_of(group) {
        return Err(FitError::Shape(format!("{m} output channels do not split into {group} groups")));
    }
    let k: usize = shape[2..].iter().product();
    let (c, per_out) = (cg * group, m / group);
    let mut out = vec![0.0; m * c * k];
    for o in 0..m {
        let g = o / per_out;
        for ci in 0..cg {
            let (src, dst) = ((o * cg + ci) * k, (o * c + g * cg + ci) * k);
            out[dst..dst + k].copy_from_slice(&w[src..src + k]);
        }
    }
    let mut dense_shape = shape.to_vec();
    dense_shape[1] = c;
    Ok((out, dense_shape))
}

/// The composed weight of a convolution (`w1`, `[M, C/g1, k...]`) followed by a 1×1
/// convolution (`w2`, `[O, M/g2, 1...]`), `[O, C, k...]`, in `f64`.
pub(crate) fn conv_pointwise_weight(
    w1: (&[f64], &[usize], usize),
    w2: (&[f64], &[usize], usize),
) -> Result<(Vec<f64>, Vec<usize>), FitError> {
    let (d1, s1) = dense(w1.0, w1.1, w1.2)?;
    let (d2, s2) = dense(w2.0, w2.1, w2.2)?;
    if s2[1] != s1[0] || s2[2..].iter().any(|&d| d != 1) {
        return Err(FitError::Shape(format!("a {s2:?} 1×1 convolution after a {s1:?} one")));
    }
    let cols: usize = s1[1..].iter().product();
    let product = DMatrix::from_row_slice(s2[0], s2[1], &d2) * DMatrix::from_row_slice(s1[0], cols, &d1);
    let mut shape = s1;
    shape[0] = s2[0];
    Ok((product.transpose().iter().copied().collect(), shape))
}

/// `W2 b1 + b2` for a 1×1 convolution `w2` (`[O, M/g2, 1...]`) after a layer with bias `b1`.
pub(crate) fn pointwise_bias(
    w2: (&[f64], &[usize], usize),
    b1: Option<&[f64]>,
    b2: Option<&[f64]>,
) -> Result<Vec<f64>, FitError> {
    let (d2, s2) = dense(w2.0, w2.1, w2.2)?;
    let (o, m) = (s2[0], s2[1]);
    let mut b = vec![0.0; o];
    if let Some(b1) = b1 {
        if b1.len() != m {
            return Err(FitError::Shape(format!("a bias of {} values before {m} channels", b1.len())));
        }
        for (oi, out) in b.iter_mut().enumerate() {
            *out = (0..m).map(|mi| d2[oi * m + mi] * b1[mi]).sum();
        }
    }
    if let Some(b2) = b2 {
        if b2.len() != o {
            return Err(FitError::Shape(format!("a bias of {} values for {o} channels", b2.len())));
        }
        b.iter_mut().zip(b2).for_each(|(v, x)| *v += x);
    }
    Ok(b)
}

fn f64s(a: &ArrayD<f32>) -> Vec<f64> {
    a.iter().map(|&v| v as f64).collect()
}

fn array(values: &[f64], shape: &[usize]) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), values.iter().map(|&v| v as f32).collect()).expect("the shape was computed")
}

/// Output shape and multiply-accumulates of a convolution.
fn conv_shape_macs(attrs: &ConvAttrs, x: &[usize], w: &[usize]) -> Result<(Vec<usize>, u64), FitError> {
    let y = attrs.conv_output(x, w).map_err(|e| FitError::Shape(e.to_string()))?;
    let wt = TensorType::new(DType::F32, w.to_vec());
    let macs = ConvAttrs::conv_macs(&[None, Some(&wt)], &[TensorType::new(DType::F32, y.clone())], 1);
    Ok((y, macs))
}

/// Errors unless `layer` is a 1×1 convolution with stride 1 and no padding on input `x`.
fn check_pointwise(layer: &ConvLayer, x: &[usize]) -> Result<(), FitError> {
    let kernel = &layer.weight.shape()[2..];
    let win = layer.attrs.window(&x[2..], kernel, false).map_err(|e| FitError::Shape(e.to_string()))?;
    if kernel.iter().any(|&k| k != 1) || win.strides.iter().any(|&s| s != 1) || win.pads.iter().any(|&p| p != 0) {
        return Err(FitError::Shape(format!(
            "{:?} with strides {:?} and pads {:?} is not a 1×1 convolution with stride 1 and no padding",
            layer.weight.shape(),
            win.strides,
            win.pads
        )));
    }
    Ok(())
}

fn dense_attrs(attrs: &ConvAttrs) -> ConvAttrs {
    ConvAttrs { group: 1, ..attrs.clone() }
}

/// A convolution `first` then a 1×1 convolution `second` (stride 1, no padding) on input shape
/// `input` (`[N, C, spatial...]`), composed into one convolution with `first`'s geometry.
pub fn conv_then_pointwise(first: ConvLayer, second: ConvLayer, input: &[usize]) -> Result<MergedConv, FitError> {
    let (z, macs1) = conv_shape_macs(first.attrs, input, first.weight.shape())?;
    check_pointwise(&second, &z)?;
    let (_, macs2) = conv_shape_macs(second.attrs, &z, second.weight.shape())?;
    let (w1, w2) = (f64s(first.weight), f64s(second.weight));
    let (g1, g2) = (first.attrs.group, second.attrs.group);
    let (w, shape) = conv_pointwise_weight((&w1, first.weight.shape(), g1), (&w2, second.weight.shape(), g2))?;
    let bias = match (first.bias, second.bias) {
        (None, None) => None,
        (b1, b2) => {
            let (b1, b2) = (b1.map(|b| b.mapv(f64::from).to_vec()), b2.map(|b| b.mapv(f64::from).to_vec()));
            let b = pointwise_bias((&w2, second.weight.shape(), g2), b1.as_deref(), b2.as_deref())?;
            Some(b.iter().map(|&v| v as f32).collect())
        }
    };
    let attrs = dense_attrs(first.attrs);
    let (_, macs_after) = conv_shape_macs(&attrs, input, &shape)?;
    Ok(MergedConv { attrs, weight: array(&w, &shape), bias, macs_before: macs1 + macs2, macs_after })
}

/// A 1×1 convolution `first` (stride 1, no padding) then a convolution `second` on input shape
/// `input`, composed into one convolution with `second`'s geometry. Refused when `second` pads
/// and `first` has a non-zero bias.
pub fn pointwise_then_conv(first: ConvLayer, second: ConvLayer, input: &[usize]) -> Result<MergedConv, FitError> {
    check_pointwise(&first, input)?;
    let (z, macs1) = conv_shape_macs(first.attrs, input, first.weight.shape())?;
    let (_, macs2) = conv_shape_macs(second.attrs, &z, second.weight.shape())?;
    let win =
        second.attrs.window(&z[2..], &second.weight.shape()[2..], false).map_err(|e| FitError::Shape(e.to_string()))?;
    if win.pads.iter().any(|&p| p != 0) && first.bias.is_some_and(|b| b.iter().any(|&v| v != 0.0)) {
        return Err(FitError::Shape(
            "the second convolution pads with zeros where the first's bias would reach a merged convolution".into(),
        ));
    }
    let (d1, s1) = dense(&f64s(first.weight), first.weight.shape(), first.attrs.group)?;
    let (d2, s2) = dense(&f64s(second.weight), second.weight.shape(), second.attrs.group)?;
    let (m, c, o) = (s1[0], s1[1], s2[0]);
    if s2[1] != m {
        return Err(FitError::Shape(format!("a {s2:?} convolution after a {s1:?} one")));
    }
    let k: usize = s2[2..].iter().product();
    // W2 as rows (o, k) × columns m, times W1 (m × c): rows (o, k) × columns c.
    let w2 = DMatrix::from_fn(o * k, m, |r, mi| d2[((r / k) * m + mi) * k + r % k]);
    let product = w2 * DMatrix::from_row_slice(m, c, &d1);
    let mut shape = s2.clone();
    shape[1] = c;
    let values: Vec<f64> = (0..o * c * k).map(|i| product[((i / (c * k)) * k + i % k, (i / k) % c)]).collect();
    let weight = array(&values, &shape);
    let bias = match (first.bias, second.bias) {
        (None, None) => None,
        (b1, b2) => Some(
            (0..o)
                .map(|oi| {
                    let through: f64 = b1.map_or(0.0, |b1| {
                        (0..m).map(|mi| (0..k).map(|kk| d2[(oi * m + mi) * k + kk]).sum::<f64>() * b1[mi] as f64).sum()
                    });
                    (through + b2.map_or(0.0, |b2| b2[oi] as f64)) as f32
                })
                .collect(),
        ),
    };
    let attrs = dense_attrs(second.attrs);
    let (_, macs_after) = conv_shape_macs(&attrs, input, &shape)?;
    Ok(MergedConv { attrs, weight, bias, macs_before: macs1 + macs2, macs_after })
}

/// Two linear maps (`w1`: M × I, `w2`: O × M, see
/// [`Layout::to_map`](super::linalg::Layout::to_map)) composed into one, `rows` the number of
/// input rows they are applied to (for the multiply-accumulates).
pub fn linear_then_linear(
    w1: ArrayView2<f32>,
    b1: Option<&Array1<f32>>,
    w2: ArrayView2<f32>,
    b2: Option<&Array1<f32>>,
    rows: usize,
) -> Result<MergedLinear, FitError> {
    let ((m, i), (o, m2)) = (w1.dim(), w2.dim());
    if m != m2 || b1.is_some_and(|b| b.len() != m) || b2.is_some_and(|b| b.len() != o) {
        return Err(FitError::Shape(format!(
            "a {o}×{m2} map after a {m}×{i} one, biases {:?} and {:?}",
            b1.map(|b| b.len()),
            b2.map(|b| b.len())
        )));
    }
    let (a, b) = (super::linalg::to_na(w2), super::linalg::to_na(w1));
    let bias = match (b1, b2) {
        (None, None) => None,
        _ => {
            let through = b1.map_or_else(|| DVector::zeros(o), |b| &a * vec_to_na(b.view()));
            Some(vec_from_na(&(through + b2.map_or_else(|| DVector::zeros(o), |b| vec_to_na(b.view())))))
        }
    };
    let rows = rows as u64;
    Ok(MergedLinear {
        weight: from_na(&(a * b)),
        bias,
        macs_before: rows * (m * i + o * m) as u64,
        macs_after: rows * (o * i) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::testing::{max_diff, noise, tract_conv};
    use crate::ops::AutoPad;
    use ndarray::Ix1;

    fn vector(n: usize, seed: u64) -> Array1<f32> {
        noise(&[n], seed).into_dimensionality::<Ix1>().unwrap()
    }

    fn attrs(group: usize) -> ConvAttrs {
        ConvAttrs { group, ..Default::default() }
    }

    /// The two convolutions run by tract, then the merged one: max difference relative to the
    /// output's size.
    fn check(first: ConvLayer, second: ConvLayer, x: &ArrayD<f32>, merged: &MergedConv) -> f32 {
        let b = |l: &ConvLayer| l.bias.map(|b| b.clone().into_dyn());
        let z = tract_conv(first.attrs, x, first.weight, b(&first).as_ref());
        let y = tract_conv(second.attrs, &z, second.weight, b(&second).as_ref());
        let bias = merged.bias.clone().map(Array1::into_dyn);
        let y2 = tract_conv(&merged.attrs, x, &merged.weight, bias.as_ref());
        max_diff(&y, &y2) / y.iter().fold(1.0f32, |m, v| m.max(v.abs()))
    }

    #[test]
    fn conv_then_pointwise_equals_the_pair() {
        let x = noise(&[2, 4, 9, 8], 1);
        let padded = ConvAttrs {
            pads: vec![1, 0, 2, 1],
            strides: vec![2, 1],
            dilations: vec![1, 2],
            group: 1,
            ..Default::default()
        };
        let same = ConvAttrs { auto_pad: AutoPad::SameUpper, group: 4, ..Default::default() };
        let cases = [
            (padded, noise(&[6, 4, 3, 3], 2), attrs(1), noise(&[3, 6, 1, 1], 3)),
            // depthwise (multiplier 2) then a 1×1: one dense conv
            (same, noise(&[8, 1, 3, 3], 4), attrs(1), noise(&[5, 8, 1, 1], 5)),
            // grouped 1×1 second
            (attrs(2), noise(&[6, 2, 2, 2], 6), attrs(3), noise(&[3, 2, 1, 1], 7)),
        ];
        for (n, (a1, w1, a2, w2)) in cases.iter().enumerate() {
            let (b1, b2) = (vector(w1.shape()[0], 10 + n as u64), vector(w2.shape()[0], 20 + n as u64));
            for biases in [(Some(&b1), Some(&b2)), (None, Some(&b2)), (Some(&b1), None), (None, None)] {
                let first = ConvLayer { attrs: a1, weight: w1, bias: biases.0 };
                let second = ConvLayer { attrs: a2, weight: w2, bias: biases.1 };
                let merged = conv_then_pointwise(first, second, x.shape()).unwrap();
                assert_eq!(merged.attrs.group, 1);
                assert_eq!(merged.bias.is_some(), biases.0.is_some() || biases.1.is_some());
                let diff = check(first, second, &x, &merged);
                assert!(diff < 1e-5, "case {n}: {diff}");
            }
        }
    }

    #[test]
    fn pointwise_then_conv_equals_the_pair() {
        let x = noise(&[2, 3, 7, 7], 30);
        let strided = ConvAttrs { strides: vec![2, 2], dilations: vec![1, 2], group: 1, ..Default::default() };
        let padded = ConvAttrs { pads: vec![1; 4], group: 5, ..Default::default() };
        let (w1, w1b) = (noise(&[5, 3, 1, 1], 31), vector(5, 32));
        let (w2, b2) = (noise(&[4, 5, 3, 2], 33), vector(4, 34));
        let wd = noise(&[5, 1, 3, 3], 35);
        let b5 = vector(5, 36);
        let pairs = [
            (
                ConvLayer { attrs: &attrs(1), weight: &w1, bias: Some(&w1b) },
                ConvLayer { attrs: &strided, weight: &w2, bias: Some(&b2) },
            ),
            // expansion then depthwise (MobileNetV2's first half): padding is fine without b1
            (
                ConvLayer { attrs: &attrs(1), weight: &w1, bias: None },
                ConvLayer { attrs: &padded, weight: &wd, bias: Some(&b5) },
            ),
        ];
        for (n, (first, second)) in pairs.into_iter().enumerate() {
            let merged = pointwise_then_conv(first, second, x.shape()).unwrap();
            let diff = check(first, second, &x, &merged);
            assert!(diff < 1e-5, "pair {n}: {diff}");
        }
        let refused = pointwise_then_conv(
            ConvLayer { attrs: &attrs(1), weight: &w1, bias: Some(&w1b) },
            ConvLayer { attrs: &padded, weight: &wd, bias: None },
            x.shape(),
        );
        assert!(matches!(refused, Err(FitError::Shape(_))));
    }

    #[test]
    fn macs_of_both_forms() {
        // 16 → 64 (3×3) → 8 (1×1) on 10×10, pad 1: before 100·64·16·9 + 100·8·64, after 100·8·16·9.
        let x = [1, 16, 10, 10];
        let pad = ConvAttrs { pads: vec![1; 4], group: 1, ..Default::default() };
        let (w1, w2) = (noise(&[64, 16, 3, 3], 40), noise(&[8, 64, 1, 1], 41));
        let m = conv_then_pointwise(
            ConvLayer { attrs: &pad, weight: &w1, bias: None },
            ConvLayer { attrs: &attrs(1), weight: &w2, bias: None },
            &x,
        )
        .unwrap();
        assert_eq!((m.macs_before, m.macs_after), (100 * 64 * 16 * 9 + 100 * 8 * 64, 100 * 8 * 16 * 9));
        let l = linear_then_linear(
            noise(&[6, 4], 42).into_dimensionality().unwrap().view(),
            None,
            noise(&[2, 6], 43).into_dimensionality().unwrap().view(),
            None,
            3,
        )
        .unwrap();
        assert_eq!((l.macs_before, l.macs_after), (3 * (24 + 12), 3 * 8));
    }

    #[test]
    fn linear_then_linear_equals_the_pair() {
        let x = noise(&[7, 4], 50).into_dimensionality::<ndarray::Ix2>().unwrap();
        let (w1, b1) = (noise(&[6, 4], 51).into_dimensionality::<ndarray::Ix2>().unwrap(), vector(6, 52));
        let (w2, b2) = (noise(&[3, 6], 53).into_dimensionality::<ndarray::Ix2>().unwrap(), vector(3, 54));
        let m = linear_then_linear(w1.view(), Some(&b1), w2.view(), Some(&b2), 7).unwrap();
        let pair = (x.dot(&w1.t()) + &b1).dot(&w2.t()) + &b2;
        let merged = x.dot(&m.weight.t()) + m.bias.as_ref().unwrap();
        assert!(max_diff(&pair.into_dyn(), &merged.into_dyn()) < 1e-5);
        assert!(linear_then_linear(w1.view(), None, w1.view(), None, 1).is_err());
        assert!(linear_then_linear(w1.view(), None, w2.view(), None, 1).unwrap().bias.is_none());
    }

    #[test]
    fn non_pointwise_seconds_are_refused() {
        let x = [1, 2, 5, 5];
        let (w1, w3) = (noise(&[3, 2, 3, 3], 60), noise(&[2, 3, 3, 3], 61));
        let strided = ConvAttrs { strides: vec![2, 2], group: 1, ..Default::default() };
        let w1x1 = noise(&[2, 3, 1, 1], 62);
        for second in [
            ConvLayer { attrs: &attrs(1), weight: &w3, bias: None },
            ConvLayer { attrs: &strided, weight: &w1x1, bias: None },
        ] {
            let r = conv_then_pointwise(ConvLayer { attrs: &attrs(1), weight: &w1, bias: None }, second, &x);
            assert!(matches!(r, Err(FitError::Shape(_))));
        }
    }
}
