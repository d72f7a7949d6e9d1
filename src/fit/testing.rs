//! Test helpers of the fitting functions: seeded random arrays, and tract's convolution and
//! pooling as the independent reference the fitted replacements are checked against.

use crate::interp::{run_kernel, KernelInput};
use crate::ops::{Conv, ConvAttrs, Op, Pool};
use crate::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Deterministic values in [-1, 1).
pub fn noise(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.random_range(-1.0f32..1.0))
}

fn tensor(a: &ArrayD<f32>) -> Tensor {
    Tensor::f32(a.shape().to_vec(), a.iter().copied().collect())
}

fn run(op: Op, inputs: &[KernelInput]) -> ArrayD<f32> {
    let out = run_kernel(&op, inputs, 19).unwrap_or_else(|e| panic!("tract: {e}"));
    let y = &out[0];
    ArrayD::from_shape_vec(IxDyn(&y.shape), y.as_f32().expect("a float output").to_vec()).unwrap()
}

/// tract's convolution of `x` by `w` (and `b`).
pub fn tract_conv(attrs: &ConvAttrs, x: &ArrayD<f32>, w: &ArrayD<f32>, b: Option<&ArrayD<f32>>) -> ArrayD<f32> {
    let mut inputs = vec![KernelInput::Runtime(tensor(x)), KernelInput::Const(tensor(w))];
    inputs.extend(b.map(|b| KernelInput::Const(tensor(b))));
    run(Op::Conv(Conv { attrs: attrs.clone() }), &inputs)
}

/// tract's pooling of `x`.
pub fn tract_pool(pool: &Pool, x: &ArrayD<f32>) -> ArrayD<f32> {
    run(Op::Pool(pool.clone()), &[KernelInput::Runtime(tensor(x))])
}

/// The largest absolute difference of two arrays of one shape.
pub fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
