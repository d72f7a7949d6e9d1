//! The numerics of the approximate rules: functions that compute a replacement
//! operator's weights from the original weights and calibration statistics.
//!
//! Conventions shared by every fitting function:
//! - Calibration samples of an activation tensor are one [`Samples`] array: the per-sample
//!   tensors (each with batch dimension 1) concatenated along axis 0, so a `[1, C, H, W]`
//!   activation over `n` calibration inputs is `[n, C, H, W]`.
//! - Weights and results are `ndarray` arrays in ONNX layout (Conv `[O, C/group, kH, kW]`,
//!   Gemm/MatMul as the op stores them).
//! - A function that cannot fit (degenerate data, a shape it does not handle) returns a
//!   [`FitError`]; the rule then offers no candidate at that site. Nothing panics on data.

pub mod activation;
pub mod linalg;
pub mod lowrank;
pub mod merge;
pub mod patches;
pub mod pool;
pub mod prune;
pub mod quant;
pub mod separable;
pub mod spt;
#[cfg(test)]
mod test_samples;
#[cfg(test)]
mod testing;

/// Calibration samples of one activation tensor (axis 0 runs over the samples).
pub type Samples = ndarray::ArrayD<f32>;

/// Why a fitting function produced nothing.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    /// The inputs do not have the shape or type the function handles.
    #[error("{0}")]
    Shape(String),
    /// The data make the fit degenerate (no samples, a singular system, no range).
    #[error("{0}")]
    Degenerate(String),
}
