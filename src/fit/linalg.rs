//! Dense linear algebra shared by the fitting functions: the weight layouts of Gemm and MatMul,
//! conversions between `ndarray` (the fitting functions' interface) and `nalgebra` (their
//! numerics, in `f64`), ridge-regularized Cholesky factors, and the relative error on data.

use super::patches::Moments;
use super::FitError;
use nalgebra::{DMatrix, DVector};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

/// The ridge every fitting function adds to a second-moment matrix before it factors or inverts
/// it, relative to the matrix's mean diagonal entry: `Σ + RIDGE · tr(Σ)/n · I`. Small enough
/// not to bias a well-conditioned fit (a relative change of about 1e-6), large enough that
/// inputs which never vary (a dead channel, zero padding) leave the system positive definite.
pub const RIDGE: f64 = 1e-6;

/// How a Gemm or MatMul stores its weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[out, in]`: Gemm with `transB = 1`, and a convolution's weight seen as a matrix.
    OutIn,
    /// `[in, out]`: MatMul's B, Gemm with `transB = 0`.
    InOut,
}

impl Layout {
    /// The weight as the linear map's matrix `W` (out × in), so that `y = W x`.
    pub fn to_map(self, w: ArrayView2<f32>) -> Array2<f32> {
        match self {
            Layout::OutIn => w.to_owned(),
            Layout::InOut => w.t().to_owned(),
        }
    }

    /// A map's matrix (out × in) stored in this layout.
    pub fn from_map(self, m: ArrayView2<f32>) -> Array2<f32> {
        // Transposition is its own inverse.
        self.to_map(m)
    }
}

/// An `f32` matrix in `f64`.
pub(super) fn to_na(a: ArrayView2<f32>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]] as f64)
}

/// An `f64` matrix.
pub(super) fn to_na64(a: ArrayView2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

/// An `f32` vector in `f64`.
pub(super) fn vec_to_na(v: ArrayView1<f32>) -> DVector<f64> {
    DVector::from_iterator(v.len(), v.iter().map(|&x| x as f64))
}

/// A matrix rounded once to `f32`.
pub(super) fn from_na(m: &DMatrix<f64>) -> Array2<f32> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)] as f32)
}

/// A vector rounded once to `f32`.
pub(super) fn vec_from_na(v: &DVector<f64>) -> Array1<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// The ridge `RIDGE · tr(s)/n`, or an error when `s` has no positive finite trace (every input
/// is zero, or the statistics are not finite).
pub(super) fn ridge_of(s: &DMatrix<f64>) -> Result<f64, FitError> {
    let n = s.nrows().max(1) as f64;
    let trace = s.trace();
    if !trace.is_finite() || s.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Degenerate("the calibration statistics are not finite".into()));
    }
    if trace <= 0.0 {
        return Err(FitError::Degenerate("every calibration input is zero".into()));
    }
    Ok(RIDGE * trace / n)
}

/// The lower Cholesky factor `L` of `s + lambda·I` (`L Lᵀ = s + lambda·I`).
pub(super) fn cholesky(s: &DMatrix<f64>, lambda: f64) -> Result<DMatrix<f64>, FitError> {
    let n = s.nrows();
    let shifted = s + DMatrix::<f64>::identity(n, n) * lambda;
    shifted
        .cholesky()
        .map(|c| c.l())
        .ok_or_else(|| FitError::Degenerate("the regularized second moment is not positive definite".into()))
}

/// Solves `(s + lambda·I) X = rhs` for a symmetric positive semi-definite `s`.
pub(super) fn ridge_solve(s: &DMatrix<f64>, lambda: f64, rhs: &DMatrix<f64>) -> Result<DMatrix<f64>, FitError> {
    let n = s.nrows();
    let shifted = s + DMatrix::<f64>::identity(n, n) * lambda;
    let chol = shifted
        .cholesky()
        .ok_or_else(|| FitError::Degenerate("the regularized normal equations are not positive definite".into()))?;
    Ok(chol.solve(rhs))
}

/// The singular value decomposition of `m`, singular values descending, with `U` and `Vᵀ`;
/// an error instead of an endless iteration when it does not converge.
pub(super) fn svd(m: DMatrix<f64>) -> Result<nalgebra::SVD<f64, nalgebra::Dyn, nalgebra::Dyn>, FitError> {
    let max_iterations = 100 * m.nrows().min(m.ncols()) + 100;
    nalgebra::SVD::try_new(m, true, true, f64::EPSILON, max_iterations)
        .filter(|s| s.u.is_some() && s.v_t.is_some())
        .ok_or_else(|| FitError::Degenerate("the singular value decomposition did not converge".into()))
}

/// `E‖W x + b‖²` over the data whose statistics are `m` (uncentered second moment `Σ`, mean
/// `μ`): `tr(W Σ Wᵀ) + 2 bᵀ W μ + ‖b‖²`. The denominator of every relative error here.
pub(super) fn output_energy(w: &DMatrix<f64>, b: Option<&DVector<f64>>, m: &Moments) -> f64 {
    let sigma = to_na64(m.second.view());
    let ws = w * &sigma;
    let quad: f64 = ws.component_mul(w).sum();
    match b {
        Some(b) => {
            let mu = DVector::from_iterator(m.mean.len(), m.mean.iter().copied());
            quad + 2.0 * b.dot(&(w * mu)) + b.norm_squared()
        }
        None => quad,
    }
}

/// `sqrt(residual / energy)`: the relative L2 error of a replacement's output on the data, the
/// residual energy `E‖ŷ − y‖²` over the original output's `E‖y‖²`. Zero output energy gives 0
/// for a zero residual and infinity otherwise.
pub(super) fn relative_error(residual: f64, energy: f64) -> f64 {
    let residual = residual.max(0.0);
    if energy > 0.0 {
        (residual / energy).sqrt()
    } else if residual == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn layouts_round_trip() {
        let w = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        assert_eq!(Layout::OutIn.to_map(w.view()), w);
        assert_eq!(Layout::InOut.to_map(w.view()), w.t());
        assert_eq!(Layout::InOut.from_map(Layout::InOut.to_map(w.view()).view()), w);
    }

    #[test]
    fn ridge_refuses_zero_and_non_finite_statistics() {
        assert!(matches!(ridge_of(&DMatrix::zeros(2, 2)), Err(FitError::Degenerate(_))));
        let nan = DMatrix::from_row_slice(1, 1, &[f64::NAN]);
        assert!(matches!(ridge_of(&nan), Err(FitError::Degenerate(_))));
        let s = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, 4.0]);
        assert!((ridge_of(&s).unwrap() - RIDGE * 3.0).abs() < 1e-18);
    }

    #[test]
    fn ridge_solve_and_cholesky_agree() {
        let s = DMatrix::from_row_slice(2, 2, &[4.0, 2.0, 2.0, 3.0]);
        let l = cholesky(&s, 0.0).unwrap();
        assert!((&l * l.transpose() - &s).norm() < 1e-12);
        let x = ridge_solve(&s, 0.0, &DMatrix::from_row_slice(2, 1, &[6.0, 5.0])).unwrap();
        assert!((x - DMatrix::from_row_slice(2, 1, &[1.0, 1.0])).norm() < 1e-12);
    }

    #[test]
    fn relative_error_edges() {
        assert_eq!(relative_error(1.0, 4.0), 0.5);
        assert_eq!(relative_error(-1e-18, 4.0), 0.0);
        assert_eq!(relative_error(0.0, 0.0), 0.0);
        assert_eq!(relative_error(1.0, 0.0), f64::INFINITY);
    }
}
