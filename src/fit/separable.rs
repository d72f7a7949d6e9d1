//! Spatially separable low rank: a k×k convolution (2-D, group 1) replaced by a kh×1
//! convolution C→R followed by a 1×kw convolution R→O,
//! `W[o, c, i, j] ≈ Σ_r V[r, c, i] · H[o, r, j]`, with the strides, pads and dilations split
//! between the two so that the output shape is unchanged.
//!
//! Method (Tai, Xiao, Zhang, Wang, E, "Convolutional neural networks with low-rank
//! regularization", ICLR 2016, the closed form of Jaderberg, Vedaldi, Zisserman's scheme 2,
//! "Speeding up Convolutional Neural Networks with Low Rank Expansions", BMVC 2014): the SVD of
//! `W` reshaped to `M[(c, i), (o, j)]`, `(C·kh) × (O·kw)`, truncated to rank R. Made data-aware
//! as in [`lowrank`](super::lowrank) where the structure allows: the input side is whitened by
//! the second moment of the patches' `(c, i)` columns averaged over the kernel column `j`
//! (`Σ_ci + λI = S Sᵀ`, SVD of `Sᵀ M`, `V = S⁻ᵀ U_R`, `H = diag(σ_R) V_Rᵀ`). That whitening ignores
//! the correlation between kernel columns, so it is a heuristic; the error reported for each
//! rank is nevertheless exact on the data: the residual's quadratic form under the full patch
//! second moment, summed over the pairs of discarded components.
//!
//! Padding: the first convolution pads only rows, the second only columns. A padded column of
//! the input reaches the second convolution as zero padding of the intermediate, which equals
//! the first convolution of a zero column only without a bias: the bias goes on the second.

use super::linalg::{cholesky, output_energy, ridge_of, svd, to_na, to_na64, vec_to_na};
use super::lowrank::{conv_map, RankErrors};
use super::patches::Moments;
use super::FitError;
use crate::ops::ConvAttrs;
use nalgebra::DMatrix;
use ndarray::{ArrayD, ArrayView1, IxDyn};

/// The whitened SVD of a k×k convolution reshaped for separation: every rank's factors and
/// error, from one decomposition.
#[derive(Clone, Debug)]
pub struct SeparableSvd {
    /// `[O, C, kh, kw]`.
    shape: [usize; 4],
    /// `S⁻ᵀ U`, `(C·kh) × K`: column r is the vertical filter of component r.
    vertical: DMatrix<f64>,
    /// `V diag(σ)`, `(O·kw) × K`: column r is the horizontal filter of component r.
    horizontal: DMatrix<f64>,
    /// The error of every rank.
    errors: RankErrors,
}

/// The two convolutions of a separated k×k convolution.
#[derive(Clone, Debug, PartialEq)]
pub struct Separable {
    /// The kh×1 convolution's weight, `[R, C, kh, 1]` (no bias).
    pub vertical: ArrayD<f32>,
    /// The 1×kw convolution's weight, `[O, R, 1, kw]` (the original bias).
    pub horizontal: ArrayD<f32>,
    /// The relative error on the calibration data (see [`RankErrors`]).
    pub error: f64,
}

impl SeparableSvd {
    /// Decomposes the conv weight `w` (`[O, C, kh, kw]`, group 1) with bias `bias`, for the
    /// moments of its input patches (`C·kh·kw` columns, see
    /// [`conv_patches`](super::patches::conv_patches)).
    pub fn new(w: &ArrayD<f32>, bias: Option<ArrayView1<f32>>, moments: &Moments) -> Result<SeparableSvd, FitError> {
        let &[o, c, kh, kw] = w.shape() else {
            return Err(FitError::Shape(format!("{:?} is not a 2-D convolution weight", w.shape())));
        };
        let (rows, cols) = (c * kh, o * kw);
        if moments.dim() != rows * kw {
            return Err(FitError::Shape(format!("a {:?} conv and moments of {} columns", w.shape(), moments.dim())));
        }
        if bias.is_some_and(|b| b.len() != o) {
            return Err(FitError::Shape(format!("a bias of {} values for {o} outputs", bias.map_or(0, |b| b.len()))));
        }
        if w.iter().any(|v| !v.is_finite()) {
            return Err(FitError::Degenerate("the weight holds a non-finite value".into()));
        }
        // Patch column of (c, i, j) is (c·kh + i)·kw + j; M's row (c, i) is c·kh + i.
        let sigma = to_na64(moments.second.view());
        let block = |j: usize, jj: usize| DMatrix::from_fn(rows, rows, |a, b| sigma[(a * kw + j, b * kw + jj)]);
        let marginal = (0..kw).fold(DMatrix::zeros(rows, rows), |acc, j| acc + block(j, j)) / kw as f64;
        let s = cholesky(&marginal, ridge_of(&marginal)?)?;
        let m = DMatrix::from_fn(rows, cols, |a, b| w[[b / kw, a / kh, a % kh, b % kw]] as f64);
        let dec = svd(s.transpose() * &m)?;
        let (u, vt) = (dec.u.expect("svd computed U"), dec.v_t.expect("svd computed Vᵀ"));
        let vertical = s
            .tr_solve_lower_triangular(&u)
            .ok_or_else(|| FitError::Degenerate("the whitening factor is singular".into()))?;
        let mut horizontal = vt.transpose();
        for (i, mut col) in horizontal.column_iter_mut().enumerate() {
            col *= dec.singular_values[i];
        }
        // Gram matrix of the components under the data: G[k, l] = E⟨t_k ∗ x, t_l ∗ x⟩ summed
        // over outputs, with t_k[o, c, i, j] = vertical[(c, i), k] · horizontal[(o, j), k].
        let k = dec.singular_values.len();
        let mut gram = DMatrix::<f64>::zeros(k, k);
        for j in 0..kw {
            let hj = DMatrix::from_fn(o, k, |oi, r| horizontal[(oi * kw + j, r)]);
            for jj in 0..kw {
                let hjj = DMatrix::from_fn(o, k, |oi, r| horizontal[(oi * kw + jj, r)]);
                let data = vertical.transpose() * block(j, jj) * &vertical;
                gram += data.component_mul(&(hj.transpose() * hjj));
            }
        }
        let energy = output_energy(&to_na(conv_map(w)?.view()), bias.map(vec_to_na).as_ref(), moments);
        // Dropping component r adds its own energy and its cross terms with those after it.
        let contributions: Vec<f64> =
            (0..k).map(|r| gram[(r, r)] + 2.0 * (r + 1..k).map(|l| gram[(r, l)]).sum::<f64>()).collect();
        let errors = RankErrors::new(&contributions, energy);
        Ok(SeparableSvd { shape: [o, c, kh, kw], vertical, horizontal, errors })
    }

    /// The relative error of every rank, up to `min(C·kh, O·kw)` (where the two convolutions
    /// reproduce `W`).
    pub fn errors(&self) -> &RankErrors {
        &self.errors
    }

    /// The two convolutions' weights at `rank` (1..=`errors().max_rank()`).
    pub fn factors(&self, rank: usize) -> Result<Separable, FitError> {
        let error = self.errors.at(rank)?;
        let [o, c, kh, kw] = self.shape;
        let vertical =
            ArrayD::from_shape_fn(IxDyn(&[rank, c, kh, 1]), |ix| self.vertical[(ix[1] * kh + ix[2], ix[0])] as f32);
        let horizontal =
            ArrayD::from_shape_fn(IxDyn(&[o, rank, 1, kw]), |ix| self.horizontal[(ix[0] * kw + ix[3], ix[1])] as f32);
        Ok(Separable { vertical, horizontal, error })
    }
}

/// The attributes of the kh×1 and the 1×kw convolution replacing a 2-D group-1 convolution
/// with attributes `attrs` and kernel `kernel` on spatial input `input` (`[H, W]`; it resolves
/// `auto_pad`): the first keeps the row stride, dilation and pads, the second the column ones.
pub fn split_geometry(
    attrs: &ConvAttrs,
    input: &[usize],
    kernel: &[usize],
) -> Result<(ConvAttrs, ConvAttrs), FitError> {
    if input.len() != 2 || kernel.len() != 2 || attrs.group != 1 {
        return Err(FitError::Shape(format!(
            "a {}-D convolution of group {} is not spatially separable here",
            input.len(),
            attrs.group
        )));
    }
    let win = attrs.window(input, kernel, false).map_err(|e| FitError::Shape(e.to_string()))?;
    let axis = |keep: usize| {
        let pick = |v: &[usize], other: usize| if keep == 0 { vec![v[0], other] } else { vec![other, v[1]] };
        let pads = if keep == 0 { vec![win.pads[0], 0, win.pads[2], 0] } else { vec![0, win.pads[1], 0, win.pads[3]] };
        let unless = |v: Vec<usize>, default: usize| if v.iter().all(|&x| x == default) { Vec::new() } else { v };
        ConvAttrs {
            kernel_shape: None,
            strides: unless(pick(&win.strides, 1), 1),
            pads: unless(pads, 0),
            dilations: unless(pick(&win.dilations, 1), 1),
            group: 1,
            auto_pad: Default::default(),
        }
    };
    Ok((axis(0), axis(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::patches::{conv_patches, RowCap};
    use crate::fit::testing::{max_diff, noise, tract_conv};
    use crate::ops::AutoPad;

    struct Case {
        attrs: ConvAttrs,
        x: ArrayD<f32>,
        w: ArrayD<f32>,
        b: ArrayD<f32>,
    }

    impl Case {
        fn moments(&self) -> Moments {
            let k = &self.w.shape()[2..];
            let p = conv_patches(&self.x, &self.attrs, k, RowCap { max_rows: usize::MAX, seed: 0 }).unwrap();
            Moments::of(p.groups[0].view()).unwrap()
        }

        /// The separated pair run by tract, against the original run by tract: (max abs
        /// difference, relative L2 error).
        fn run(&self, s: &Separable) -> (f32, f64) {
            let (first, second) = split_geometry(&self.attrs, &self.x.shape()[2..], &self.w.shape()[2..]).unwrap();
            let y = tract_conv(&self.attrs, &self.x, &self.w, Some(&self.b));
            let z = tract_conv(&first, &self.x, &s.vertical, None);
            let y2 = tract_conv(&second, &z, &s.horizontal, Some(&self.b));
            let sq = |it: &mut dyn Iterator<Item = f32>| it.map(|v| (v as f64).powi(2)).sum::<f64>();
            let rel = (sq(&mut y.iter().zip(&y2).map(|(a, b)| a - b)) / sq(&mut y.iter().copied())).sqrt();
            (max_diff(&y, &y2), rel)
        }
    }

    fn cases() -> Vec<Case> {
        let geometries = [
            ConvAttrs {
                pads: vec![1, 2, 0, 1],
                strides: vec![2, 1],
                dilations: vec![1, 2],
                group: 1,
                ..Default::default()
            },
            ConvAttrs { auto_pad: AutoPad::SameUpper, strides: vec![1, 2], group: 1, ..Default::default() },
        ];
        geometries
            .into_iter()
            .enumerate()
            .map(|(i, attrs)| {
                let s = 20 * i as u64;
                Case { attrs, x: noise(&[2, 3, 9, 8], s), w: noise(&[5, 3, 3, 3], s + 1), b: noise(&[5], s + 2) }
            })
            .collect()
    }

    #[test]
    fn full_rank_reproduces_the_convolution_and_errors_are_measured() {
        for (n, case) in cases().iter().enumerate() {
            let b = case.b.view().into_dimensionality().unwrap();
            let svd = SeparableSvd::new(&case.w, Some(b), &case.moments()).unwrap();
            assert_eq!(svd.errors().max_rank(), 9);
            let full = svd.factors(9).unwrap();
            let (diff, _) = case.run(&full);
            assert!(diff < 1e-4, "case {n}: full rank differs by {diff}");
            assert!(svd.errors().all()[9] < 1e-5);
            for r in [1, 4] {
                let f = svd.factors(r).unwrap();
                assert_eq!((f.vertical.shape(), f.horizontal.shape()), (&[r, 3, 3, 1][..], &[5, r, 1, 3][..]));
                let (_, measured) = case.run(&f);
                assert!(
                    (measured - f.error).abs() < 1e-4 * (1.0 + measured),
                    "case {n} rank {r}: {measured} vs {}",
                    f.error
                );
            }
        }
    }

    #[test]
    fn a_separable_kernel_is_recovered_at_its_rank() {
        let v = noise(&[2, 3, 3], 40);
        let h = noise(&[4, 2, 3], 41);
        let w = ArrayD::from_shape_fn(IxDyn(&[4, 3, 3, 3]), |ix| {
            (0..2).map(|r| v[[r, ix[1], ix[2]]] * h[[ix[0], r, ix[3]]]).sum::<f32>()
        });
        let case = Case {
            attrs: ConvAttrs { pads: vec![1; 4], group: 1, ..Default::default() },
            x: noise(&[2, 3, 6, 6], 42),
            w,
            b: noise(&[4], 43),
        };
        let svd = SeparableSvd::new(&case.w, None, &case.moments()).unwrap();
        assert!(svd.errors().all()[1] > 1e-2);
        assert!(svd.errors().all()[2] < 1e-5, "{:?}", svd.errors().all());
        assert!(case.run(&svd.factors(2).unwrap()).0 < 1e-4);
    }

    #[test]
    fn geometry_split_and_refusals() {
        let attrs = ConvAttrs { auto_pad: AutoPad::SameLower, strides: vec![2, 1], group: 1, ..Default::default() };
        let (a, b) = split_geometry(&attrs, &[7, 7], &[3, 3]).unwrap();
        assert_eq!((a.strides, a.pads), (vec![2, 1], vec![1, 0, 1, 0]));
        assert_eq!((b.strides, b.pads, b.dilations), (vec![], vec![0, 1, 0, 1], vec![]));
        let grouped = ConvAttrs { group: 2, ..Default::default() };
        assert!(split_geometry(&grouped, &[7, 7], &[3, 3]).is_err());
        let m = Moments::of(noise(&[10, 4], 0).into_dimensionality().unwrap().view()).unwrap();
        assert!(matches!(SeparableSvd::new(&noise(&[2, 2, 3, 3], 1), None, &m), Err(FitError::Shape(_))));
        assert!(matches!(SeparableSvd::new(&noise(&[2, 2, 3], 1), None, &m), Err(FitError::Shape(_))));
    }
}
