//! Data-aware low rank: a linear map `W` (out × in) replaced by two thinner ones, `W ≈ A·B`
//! with `A` out × r and `B` r × in, chosen to minimize the error on the calibration inputs,
//! `E‖(W − AB) x‖²`, rather than `‖W − AB‖`.
//!
//! Method (SVD-LLM's truncation-aware data whitening: Wang, Zheng, Wan, Zhang, "SVD-LLM:
//! Truncation-aware Singular Value Decomposition for Large Language Model Compression", ICLR
//! 2025): with the inputs' second moment `Σ = E[x xᵀ]`, factor `Σ + λI = S Sᵀ` (Cholesky,
//! `λ` = [`RIDGE`](super::linalg::RIDGE) relative to the mean diagonal), take the SVD
//! `W S = U diag(σ) Vᵀ` and keep `r` components: `A = U_r diag(σ_r)`, `B = V_rᵀ S⁻¹`. Then
//! `E‖(W − AB)x‖²` under `Σ + λI` is exactly `Σ_{k≥r} σ_k²`: truncating the smallest whitened
//! singular values is optimal (Eckart–Young in the whitened space). The error reported for each
//! rank is computed under `Σ` itself, in closed form: `Σ_{k≥r} σ_k² (1 − λ ‖S⁻ᵀ v_k‖²)`.
//!
//! Shapes: Gemm/MatMul (see [`Layout`]) and 1×1 Conv become two thin layers; a k×k Conv of
//! group 1 becomes a k×k conv C→r with the original geometry (weights `B` as `[r, C, k...]`)
//! then a 1×1 conv r→O (`A` as `[O, r, 1...]`). The bias goes on the second layer. The
//! spatially separable form (k×1 then 1×k) is in [`separable`](super::separable).

use super::linalg::{cholesky, from_na, output_energy, relative_error, ridge_of, svd, to_na, to_na64, vec_to_na};
use super::patches::Moments;
use super::FitError;
use nalgebra::DMatrix;
use ndarray::{Array2, ArrayD, ArrayView1, ArrayView2, IxDyn};

pub use super::linalg::Layout;

/// The whitened SVD of one layer: every rank's factors and error, from one decomposition.
#[derive(Clone, Debug)]
pub struct WhitenedSvd {
    /// `U diag(σ)`, out × K.
    us: DMatrix<f64>,
    /// `Vᵀ S⁻¹`, K × in.
    vts: DMatrix<f64>,
    /// The error of every rank.
    errors: RankErrors,
}

impl WhitenedSvd {
    /// Decomposes the map `w` (out × in, see [`Layout::to_map`] and [`conv_map`]) with bias
    /// `bias` for inputs with moments `moments` (one column per input of `w`).
    pub fn new(w: ArrayView2<f32>, bias: Option<ArrayView1<f32>>, moments: &Moments) -> Result<WhitenedSvd, FitError> {
        let (out, inputs) = w.dim();
        if moments.dim() != inputs {
            return Err(FitError::Shape(format!(
                "a map with {inputs} inputs and moments of {} columns",
                moments.dim()
            )));
        }
        if bias.is_some_and(|b| b.len() != out) {
            return Err(FitError::Shape(format!("a bias of {} values for {out} outputs", bias.map_or(0, |b| b.len()))));
        }
        if w.iter().any(|v| !v.is_finite()) {
            return Err(FitError::Degenerate("the weight holds a non-finite value".into()));
        }
        let sigma = to_na64(moments.second.view());
        let lambda = ridge_of(&sigma)?;
        let s = cholesky(&sigma, lambda)?;
        let wm = to_na(w);
        let dec = svd(&wm * &s)?;
        let (u, vt) = (dec.u.expect("svd computed U"), dec.v_t.expect("svd computed Vᵀ"));
        // Z = S⁻ᵀ V: its columns give Vᵀ S⁻¹ (as rows) and the closed-form errors.
        let z = s
            .tr_solve_lower_triangular(&vt.transpose())
            .ok_or_else(|| FitError::Degenerate("the whitening factor is singular".into()))?;
        let energy = output_energy(&wm, bias.map(vec_to_na).as_ref(), moments);
        // The components are orthogonal under the data: each adds its own energy to the residual.
        let per_component: Vec<f64> = (0..dec.singular_values.len())
            .map(|i| dec.singular_values[i].powi(2) * (1.0 - lambda * z.column(i).norm_squared()))
            .collect();
        let errors = RankErrors::new(&per_component, energy);
        let mut us = u;
        for (i, mut col) in us.column_iter_mut().enumerate() {
            col *= dec.singular_values[i];
        }
        Ok(WhitenedSvd { us, vts: z.transpose(), errors })
    }

    /// The relative error of every rank, up to `min(out, in)` (where the factors reproduce
    /// `W`): `sqrt(E‖(W − A_r B_r) x‖² / E‖W x + b‖²)`.
    pub fn errors(&self) -> &RankErrors {
        &self.errors
    }

    /// The factors at `rank` (1..=`errors().max_rank()`).
    pub fn factors(&self, rank: usize) -> Result<Factors, FitError> {
        let error = self.errors.at(rank)?;
        Ok(Factors {
            first: from_na(&self.vts.rows(0, rank).into_owned()),
            second: from_na(&self.us.columns(0, rank).into_owned()),
            error,
        })
    }
}

/// The relative error on the calibration data of a truncated decomposition at every rank,
/// `sqrt(E‖ŷ − y‖² / E‖y‖²)` with `y` the original layer's output (bias included).
#[derive(Clone, Debug, PartialEq)]
pub struct RankErrors(Vec<f64>);

impl RankErrors {
    /// From each component's contribution to the residual energy (component `r` is missing at
    /// every rank up to `r`) and the output energy `E‖y‖²`.
    pub(super) fn new(contributions: &[f64], energy: f64) -> RankErrors {
        let mut errors = vec![0.0; contributions.len() + 1];
        let mut residual = 0.0;
        for (r, c) in contributions.iter().enumerate().rev() {
            residual += c;
            errors[r] = relative_error(residual, energy);
        }
        RankErrors(errors)
    }

    /// The largest rank: at that rank the decomposition reproduces the layer.
    pub fn max_rank(&self) -> usize {
        self.0.len() - 1
    }

    /// Entry `r` is the error at rank `r`, for `r` in `0..=max_rank` (rank 0: the layer dropped
    /// to its bias). Non-increasing up to rounding.
    pub fn all(&self) -> &[f64] {
        &self.0
    }

    /// The error at `rank`, which must be in `1..=max_rank`.
    pub fn at(&self, rank: usize) -> Result<f64, FitError> {
        match rank {
            0 => Err(FitError::Shape("rank 0".into())),
            r if r > self.max_rank() => Err(FitError::Shape(format!("rank {r} is above {}", self.max_rank()))),
            r => Ok(self.0[r]),
        }
    }
}

/// A layer `y = W x + b` split into `y = second · (first · x) + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Factors {
    /// The first map `B`, rank × in.
    pub first: Array2<f32>,
    /// The second map `A`, out × rank (the bias stays with this one).
    pub second: Array2<f32>,
    /// The relative error on the calibration data (see [`RankErrors`]).
    pub error: f64,
}

impl Factors {
    /// The rank.
    pub fn rank(&self) -> usize {
        self.first.nrows()
    }

    /// The two weights as a Gemm or MatMul stores them: `(first, second)`.
    pub fn in_layout(&self, layout: Layout) -> (Array2<f32>, Array2<f32>) {
        (layout.from_map(self.first.view()), layout.from_map(self.second.view()))
    }

    /// The two weights as convolutions replacing a group-1 conv of weight shape `w_shape`
    /// (`[O, C, k...]`): the first `[r, C, k...]` (the original strides, pads and dilations),
    /// the second `[O, r, 1...]` (1×1, stride 1, no padding).
    pub fn as_convs(&self, w_shape: &[usize]) -> Result<(ArrayD<f32>, ArrayD<f32>), FitError> {
        let (r, o) = (self.rank(), self.second.nrows());
        if w_shape.len() < 3 || w_shape[0] != o || w_shape[1..].iter().product::<usize>() != self.first.ncols() {
            return Err(FitError::Shape(format!("factors {o}×{r}×{} for a {w_shape:?} conv", self.first.ncols())));
        }
        let mut first_shape = w_shape.to_vec();
        first_shape[0] = r;
        let mut second_shape = vec![1; w_shape.len()];
        second_shape[..2].copy_from_slice(&[o, r]);
        let reshape = |m: &Array2<f32>, shape: Vec<usize>| {
            ArrayD::from_shape_vec(IxDyn(&shape), m.iter().copied().collect()).expect("the element count was checked")
        };
        Ok((reshape(&self.first, first_shape), reshape(&self.second, second_shape)))
    }
}

/// A convolution weight `[O, C/group, k...]` as its map on one group's patches: the matrix
/// `O × (C/group · k...)` whose rows are the output channels (see
/// [`Patches`](super::patches::Patches) for the column order).
pub fn conv_map(w: &ArrayD<f32>) -> Result<Array2<f32>, FitError> {
    let shape = w.shape();
    if shape.len() < 3 {
        return Err(FitError::Shape(format!("{shape:?} is not a convolution weight")));
    }
    let cols = shape[1..].iter().product();
    Ok(Array2::from_shape_vec((shape[0], cols), w.iter().copied().collect()).expect("the element count matches"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::patches::{conv_patches, sample_rows, RowCap};
    use crate::fit::testing::{max_diff, noise, tract_conv};
    use crate::ops::ConvAttrs;
    use ndarray::{Array1, Ix2};

    fn map(a: ArrayD<f32>) -> Array2<f32> {
        a.into_dimensionality::<Ix2>().unwrap()
    }

    /// `‖(W − Ŵ) X‖ / ‖W X + b‖` measured on the rows of `x`.
    fn measured(w: &Array2<f32>, approx: &Array2<f32>, b: Option<&Array1<f32>>, x: &Array2<f32>) -> f64 {
        let y = x.dot(&w.t()) + b.map_or(Array1::zeros(w.nrows()), Clone::clone);
        let d = x.dot(&(w - approx).t());
        let sq = |a: &Array2<f32>| a.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        (sq(&d) / sq(&y)).sqrt()
    }

    /// Rows whose columns are strongly correlated: a few latent factors mixed, plus small noise.
    fn correlated_rows(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let latent = map(noise(&[rows, 3], seed));
        let mix = map(noise(&[3, cols], seed + 1)) * 3.0;
        latent.dot(&mix) + map(noise(&[rows, cols], seed + 2)) * 0.05
    }

    #[test]
    fn a_rank_r_map_is_reconstructed_exactly_at_rank_r() {
        let w = map(noise(&[6, 3], 1)).dot(&map(noise(&[3, 8], 2)));
        let x = map(noise(&[200, 8], 3));
        let svd = WhitenedSvd::new(w.view(), None, &Moments::of(x.view()).unwrap()).unwrap();
        assert_eq!(svd.errors().max_rank(), 6);
        assert!(
            svd.errors().all()[0] > 0.99 && svd.errors().all()[0] < 1.01,
            "rank 0 loses everything: {:?}",
            svd.errors().all()
        );
        assert!(svd.errors().all()[2] > 1e-2);
        assert!(svd.errors().all()[3] < 1e-6, "{:?}", svd.errors().all());
        let f = svd.factors(3).unwrap();
        let back = f.second.dot(&f.first);
        assert!(max_diff(&back.into_dyn(), &w.clone().into_dyn()) < 1e-5);
        assert!(svd.factors(0).is_err() && svd.factors(7).is_err());
    }

    #[test]
    fn reported_errors_are_the_errors_on_the_data() {
        let x = correlated_rows(300, 10, 4);
        let w = map(noise(&[5, 10], 5));
        let b = Array1::from(vec![0.5f32, -1.0, 0.0, 2.0, 0.1]);
        let svd = WhitenedSvd::new(w.view(), Some(b.view()), &Moments::of(x.view()).unwrap()).unwrap();
        for r in 1..=svd.errors().max_rank() {
            let f = svd.factors(r).unwrap();
            let got = measured(&w, &f.second.dot(&f.first), Some(&b), &x);
            assert!((got - f.error).abs() < 1e-4 * (1.0 + got), "rank {r}: measured {got}, reported {}", f.error);
        }
        let e = svd.errors().all();
        assert!(e.windows(2).all(|p| p[1] <= p[0] + 1e-12), "{e:?}");
    }

    #[test]
    fn whitening_beats_plain_svd_on_correlated_inputs() {
        let x = correlated_rows(400, 12, 6);
        let w = map(noise(&[8, 12], 7));
        let m = Moments::of(x.view()).unwrap();
        let svd = WhitenedSvd::new(w.view(), None, &m).unwrap();
        // Plain SVD: whitening with the identity.
        let identity = Moments { count: 1, mean: Array1::zeros(12), second: Array2::eye(12) };
        let plain = WhitenedSvd::new(w.view(), None, &identity).unwrap();
        // The inputs span 3 latent directions (plus small noise): at rank 3 the whitened
        // factors keep nearly everything the data carry, plain SVD does not.
        for (r, ratio) in [(2, 0.7), (3, 0.05)] {
            let (fw, fp) = (svd.factors(r).unwrap(), plain.factors(r).unwrap());
            let whitened = measured(&w, &fw.second.dot(&fw.first), None, &x);
            let naive = measured(&w, &fp.second.dot(&fp.first), None, &x);
            assert!(whitened < ratio * naive, "rank {r}: whitened {whitened} vs plain {naive}");
        }
    }

    #[test]
    fn layouts_give_the_same_map() {
        let w = map(noise(&[4, 6], 8));
        let x = map(noise(&[50, 6], 9));
        let f = WhitenedSvd::new(w.view(), None, &Moments::of(x.view()).unwrap()).unwrap().factors(2).unwrap();
        let (b, a) = f.in_layout(Layout::InOut);
        assert_eq!((b.dim(), a.dim()), ((6, 2), (2, 4)));
        assert!(max_diff(&x.dot(&b).dot(&a).into_dyn(), &x.dot(&f.first.t()).dot(&f.second.t()).into_dyn()) < 1e-6);
        let (b, a) = f.in_layout(Layout::OutIn);
        assert_eq!((b, a), (f.first.clone(), f.second.clone()));
    }

    /// A k×k conv replaced by conv C→r then 1×1 r→O, checked with tract against the layer's
    /// output: the data error of the two convolutions is the reported error.
    #[test]
    fn conv_factors_run_as_two_convolutions() {
        let attrs = ConvAttrs { pads: vec![1, 0, 1, 2], strides: vec![2, 1], group: 1, ..Default::default() };
        let x = noise(&[3, 4, 8, 7], 10);
        let w = noise(&[6, 4, 3, 3], 11);
        let b = noise(&[6], 12);
        let patches = conv_patches(&x, &attrs, &[3, 3], RowCap { max_rows: usize::MAX, seed: 0 }).unwrap();
        let m = Moments::of(patches.groups[0].view()).unwrap();
        let b1 = b.view().into_dimensionality().unwrap();
        let svd = WhitenedSvd::new(conv_map(&w).unwrap().view(), Some(b1), &m).unwrap();
        assert_eq!(svd.errors().max_rank(), 6);
        let y = tract_conv(&attrs, &x, &w, Some(&b));
        let energy = y.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        let pointwise = ConvAttrs { group: 1, ..Default::default() };
        for r in [2, 6] {
            let f = svd.factors(r).unwrap();
            let (w1, w2) = f.as_convs(w.shape()).unwrap();
            assert_eq!((w1.shape(), w2.shape()), (&[r, 4, 3, 3][..], &[6, r, 1, 1][..]));
            let z = tract_conv(&attrs, &x, &w1, None);
            let y2 = tract_conv(&pointwise, &z, &w2, Some(&b));
            let residual = y.iter().zip(&y2).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>();
            let got = (residual / energy).sqrt();
            assert!((got - f.error).abs() < 1e-4 * (1.0 + got), "rank {r}: measured {got}, reported {}", f.error);
        }
        assert!(svd.errors().all()[6] < 1e-5);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let w = map(noise(&[2, 3], 0));
        let rows = sample_rows(&noise(&[10, 4], 1), RowCap::default()).unwrap();
        let m = Moments::of(rows.view()).unwrap();
        assert!(matches!(WhitenedSvd::new(w.view(), None, &m), Err(FitError::Shape(_))));
        let zeros = Moments::of(Array2::<f32>::zeros((5, 3)).view()).unwrap();
        assert!(matches!(WhitenedSvd::new(w.view(), None, &zeros), Err(FitError::Degenerate(_))));
        let b = Array1::<f32>::zeros(3);
        let m3 = Moments::of(map(noise(&[10, 3], 2)).view()).unwrap();
        assert!(matches!(WhitenedSvd::new(w.view(), Some(b.view()), &m3), Err(FitError::Shape(_))));
        assert!(conv_map(&noise(&[2, 3], 0)).is_err());
    }
}
