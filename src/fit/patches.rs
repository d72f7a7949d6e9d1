//! The data a linear layer sees, as a matrix: the im2col patches of a convolution's input
//! (one row per sampled output position of a calibration sample, one column per weight entry
//! of a group: `C/group · k...` in the weight's own order), the rows of a Gemm or MatMul input,
//! and their first and second moments. Large activations are capped to a fixed number of rows,
//! subsampled with a fixed seed, so the same input gives the same matrix on every run.

use super::linalg::{to_na, to_na64};
use super::{FitError, Samples};
use crate::ops::{ConvAttrs, Window};
use nalgebra::DMatrix;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// How many rows a patch or sample matrix may have, and the seed that picks them when there
/// are more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowCap {
    /// The most rows kept; more are subsampled uniformly without replacement.
    pub max_rows: usize,
    /// The seed of that subsampling.
    pub seed: u64,
}

impl Default for RowCap {
    /// 4096 rows, seed 0: enough for second moments of a few hundred columns.
    fn default() -> Self {
        RowCap { max_rows: 4096, seed: 0 }
    }
}

impl RowCap {
    /// The rows kept out of `total`, ascending: all of them when they fit, else a seeded
    /// uniform sample of `max_rows`.
    fn pick(self, total: usize) -> Vec<usize> {
        if total <= self.max_rows {
            return (0..total).collect();
        }
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut rows = rand::seq::index::sample(&mut rng, total, self.max_rows).into_vec();
        rows.sort_unstable();
        rows
    }
}

/// A window (convolution or pooling) resolved against one input's spatial shape: for every
/// output position and kernel tap, the input element it reads within one channel plane, or
/// `None` where it reads padding.
#[derive(Clone, Debug)]
pub(super) struct Taps {
    /// Output positions per channel (the product of `output`).
    pub positions: usize,
    /// Taps per window (the product of the kernel).
    pub kernel: usize,
    /// Elements of one input channel plane.
    pub plane: usize,
    /// Output size per spatial axis.
    pub output: Vec<usize>,
    /// `positions × kernel` plane offsets, output position major.
    offsets: Vec<Option<usize>>,
}

impl Taps {
    /// Resolves `attrs` (with `kernel`, and `ceil_mode` for pools) against the spatial input
    /// shape `input`.
    pub fn new(attrs: &ConvAttrs, input: &[usize], kernel: &[usize], ceil_mode: bool) -> Result<Taps, FitError> {
        let window = attrs.window(input, kernel, ceil_mode).map_err(|e| FitError::Shape(e.to_string()))?;
        Ok(Taps::from_window(input, &window))
    }

    fn from_window(input: &[usize], w: &Window) -> Taps {
        let n = input.len();
        let positions: usize = w.output.iter().product();
        let kernel: usize = w.kernel.iter().product();
        let mut offsets = Vec::with_capacity(positions * kernel);
        for p in 0..positions {
            let out = unflatten(p, &w.output);
            for k in 0..kernel {
                let tap = unflatten(k, &w.kernel);
                let mut offset = 0usize;
                let mut inside = true;
                for a in 0..n {
                    let at = (out[a] * w.strides[a] + tap[a] * w.dilations[a]) as isize - w.pads[a] as isize;
                    if at < 0 || at as usize >= input[a] {
                        inside = false;
                        break;
                    }
                    offset = offset * input[a] + at as usize;
                }
                offsets.push(inside.then_some(offset));
            }
        }
        Taps { positions, kernel, plane: input.iter().product(), output: w.output.clone(), offsets }
    }

    /// The plane offset tap `k` of output position `p` reads, `None` for padding.
    pub fn at(&self, p: usize, k: usize) -> Option<usize> {
        self.offsets[p * self.kernel + k]
    }
}

/// Row-major multi-index of flat index `i` in `dims`.
fn unflatten(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for (a, &d) in dims.iter().enumerate().rev() {
        idx[a] = i % d;
        i /= d;
    }
    idx
}

/// The im2col patches of a convolution's calibration input.
#[derive(Clone, Debug)]
pub struct Patches {
    /// One matrix per group: rows = sampled (sample, output position) pairs, in the same order
    /// in every group; columns = the group's `C/group · k...` inputs of one window, in the
    /// order of the weight `[O, C/group, k...]`, so that `groups[g] · W_gᵀ` (with `W_g` the
    /// group's output channels flattened to rows) is the convolution's output at those rows,
    /// without bias.
    pub groups: Vec<Array2<f32>>,
    /// The convolution's output spatial shape.
    pub output: Vec<usize>,
    /// The rows before subsampling: samples × output positions.
    pub total_rows: usize,
}

/// The patches of calibration samples `x` (`[n, C, spatial...]`) for a convolution with
/// attributes `attrs` and spatial kernel `kernel` (the weight's `shape[2..]`), capped to
/// `cap.max_rows` rows.
pub fn conv_patches(x: &Samples, attrs: &ConvAttrs, kernel: &[usize], cap: RowCap) -> Result<Patches, FitError> {
    let shape = x.shape();
    if shape.len() < 3 || shape.len() != kernel.len() + 2 {
        return Err(FitError::Shape(format!(
            "samples {shape:?} do not fit a convolution with a {}-D kernel",
            kernel.len()
        )));
    }
    let (n, c, group) = (shape[0], shape[1], attrs.group.max(1));
    if !c.is_multiple_of(group) {
        return Err(FitError::Shape(format!("{c} channels do not split into {group} groups")));
    }
    let taps = Taps::new(attrs, &shape[2..], kernel, false)?;
    let total_rows = n * taps.positions;
    let rows = cap.pick(total_rows);
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("a standard-layout array is contiguous");
    let per_group = c / group;
    let cols = per_group * taps.kernel;
    let groups = (0..group)
        .map(|g| {
            let mut m = Array2::<f32>::zeros((rows.len(), cols));
            for (r, &row) in rows.iter().enumerate() {
                let (sample, p) = (row / taps.positions, row % taps.positions);
                for ci in 0..per_group {
                    let base = (sample * c + g * per_group + ci) * taps.plane;
                    for k in 0..taps.kernel {
                        if let Some(off) = taps.at(p, k) {
                            m[[r, ci * taps.kernel + k]] = data[base + off];
                        }
                    }
                }
            }
            m
        })
        .collect();
    Ok(Patches { groups, output: taps.output, total_rows })
}

/// The rows of a Gemm or MatMul input: calibration samples `x` with the contraction axis last
/// (`[n, ..., K]`), every other axis flattened into rows, capped to `cap.max_rows` rows.
pub fn sample_rows(x: &Samples, cap: RowCap) -> Result<Array2<f32>, FitError> {
    let k = match x.shape() {
        [] | [_] => return Err(FitError::Shape(format!("samples {:?} have no feature axis", x.shape()))),
        s => s[s.len() - 1],
    };
    let total = x.len() / k.max(1);
    let flat = x
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((total, k))
        .map_err(|e| FitError::Shape(format!("samples {:?} do not flatten to rows: {e}", x.shape())))?;
    Ok(flat.select(Axis(0), &cap.pick(total)))
}

/// First and second moments of the rows of a data matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    /// Rows they were computed from.
    pub count: usize,
    /// `E[p]`, one entry per column.
    pub mean: Array1<f64>,
    /// `E[p pᵀ]` (uncentered), columns × columns.
    pub second: Array2<f64>,
}

impl Moments {
    /// The moments of `rows` (rows = observations), in `f64`. No rows, or a non-finite value,
    /// is a degenerate fit.
    pub fn of(rows: ArrayView2<f32>) -> Result<Moments, FitError> {
        let count = rows.nrows();
        if count == 0 {
            return Err(FitError::Degenerate("no calibration rows".into()));
        }
        if rows.iter().any(|v| !v.is_finite()) {
            return Err(FitError::Degenerate("the calibration data hold a non-finite value".into()));
        }
        let p = to_na(rows);
        let second = p.tr_mul(&p) / count as f64;
        let mean = p.row_mean();
        Ok(Moments {
            count,
            mean: mean.iter().copied().collect(),
            second: Array2::from_shape_fn(second.shape(), |(i, j)| second[(i, j)]),
        })
    }

    /// The number of columns.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// `E[(p − μ)(p − μ)ᵀ]`, the covariance.
    pub(super) fn covariance(&self) -> DMatrix<f64> {
        let mu = DMatrix::from_iterator(self.dim(), 1, self.mean.iter().copied());
        to_na64(self.second.view()) - &mu * mu.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::testing::{noise, tract_conv};
    use crate::ops::AutoPad;
    use ndarray::{ArrayD, IxDyn};

    /// Patches × weights against tract's convolution, for every output channel, position and
    /// sample (no cap): padding, strides, dilations, groups and SAME padding.
    #[test]
    fn patches_times_weights_is_the_convolution() {
        let cases = [
            (ConvAttrs { pads: vec![1, 0, 2, 1], strides: vec![2, 1], group: 1, ..Default::default() }, 1),
            (ConvAttrs { dilations: vec![2, 1], group: 2, ..Default::default() }, 2),
            (ConvAttrs { auto_pad: AutoPad::SameUpper, strides: vec![2, 2], group: 4, ..Default::default() }, 4),
        ];
        for (case, (attrs, group)) in cases.into_iter().enumerate() {
            let (n, c, o) = (2, 4, 8);
            let x = noise(&[n, c, 7, 6], case as u64);
            let w = noise(&[o, c / group, 3, 2], 10 + case as u64);
            let y = tract_conv(&attrs, &x, &w, None);
            let patches = conv_patches(&x, &attrs, &[3, 2], RowCap { max_rows: usize::MAX, seed: 0 }).unwrap();
            assert_eq!(patches.output, y.shape()[2..].to_vec());
            let positions: usize = patches.output.iter().product();
            assert_eq!(patches.total_rows, n * positions);
            let per = o / group;
            for (g, m) in patches.groups.iter().enumerate() {
                assert_eq!(m.dim(), (n * positions, (c / group) * 6));
                let wg = w.slice(ndarray::s![g * per..(g + 1) * per, .., .., ..]).to_owned();
                let wg = wg.into_shape_with_order((per, (c / group) * 6)).unwrap();
                let got = m.dot(&wg.t());
                for (r, row) in got.outer_iter().enumerate() {
                    for (oi, v) in row.iter().enumerate() {
                        let want = y[[r / positions, g * per + oi, (r % positions) / y.shape()[3], r % y.shape()[3]]];
                        assert!((v - want).abs() < 1e-5, "case {case}: row {r}, channel {oi}: {v} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_row_cap_subsamples_deterministically() {
        let x = noise(&[3, 2, 8, 8], 7);
        let attrs = ConvAttrs { group: 1, ..Default::default() };
        let cap = RowCap { max_rows: 50, seed: 3 };
        let a = conv_patches(&x, &attrs, &[3, 3], cap).unwrap();
        let b = conv_patches(&x, &attrs, &[3, 3], cap).unwrap();
        assert_eq!(a.groups[0].nrows(), 50);
        assert_eq!(a.total_rows, 3 * 36);
        assert_eq!(a.groups, b.groups);
        let other = conv_patches(&x, &attrs, &[3, 3], RowCap { seed: 4, ..cap }).unwrap();
        assert_ne!(a.groups, other.groups);
        // Every kept row is a row of the full matrix.
        let full = conv_patches(&x, &attrs, &[3, 3], RowCap { max_rows: 1000, seed: 0 }).unwrap();
        for row in a.groups[0].outer_iter() {
            assert!(full.groups[0].outer_iter().any(|f| f == row));
        }
    }

    #[test]
    fn sample_rows_flatten_leading_axes() {
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 3, 2]), (0..12).map(|v| v as f32).collect()).unwrap();
        let rows = sample_rows(&x, RowCap::default()).unwrap();
        assert_eq!(rows.dim(), (6, 2));
        assert_eq!(rows.row(4).to_vec(), vec![8.0, 9.0]);
        assert_eq!(sample_rows(&x, RowCap { max_rows: 4, seed: 1 }).unwrap().nrows(), 4);
        assert!(sample_rows(&ArrayD::zeros(IxDyn(&[3])), RowCap::default()).is_err());
    }

    #[test]
    fn moments_of_known_rows() {
        let rows = ndarray::array![[1.0f32, 2.0], [3.0, 0.0]];
        let m = Moments::of(rows.view()).unwrap();
        assert_eq!(m.count, 2);
        assert_eq!(m.mean.to_vec(), vec![2.0, 1.0]);
        assert_eq!(m.second, ndarray::array![[5.0, 1.0], [1.0, 2.0]]);
        let cov = m.covariance();
        assert_eq!(cov, DMatrix::from_row_slice(2, 2, &[1.0, -1.0, -1.0, 1.0]));
        assert!(matches!(Moments::of(Array2::<f32>::zeros((0, 2)).view()), Err(FitError::Degenerate(_))));
        let nan = ndarray::array![[f32::NAN]];
        assert!(matches!(Moments::of(nan.view()), Err(FitError::Degenerate(_))));
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = noise(&[1, 3, 4, 4], 0);
        let grouped = ConvAttrs { group: 2, ..Default::default() };
        assert!(matches!(conv_patches(&x, &grouped, &[1, 1], RowCap::default()), Err(FitError::Shape(_))));
        let plain = ConvAttrs { group: 1, ..Default::default() };
        assert!(matches!(conv_patches(&x, &plain, &[5, 5], RowCap::default()), Err(FitError::Shape(_))));
        assert!(matches!(conv_patches(&x, &plain, &[3], RowCap::default()), Err(FitError::Shape(_))));
    }
}
