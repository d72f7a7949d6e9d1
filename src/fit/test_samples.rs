//! Seeded random data for the fitting functions' unit tests (the same values on every run).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// `n` standard-normal values (Box–Muller on a seeded generator).
pub fn normal(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // 1 - u keeps the logarithm's argument in (0, 1].
            let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

/// `n` values uniform in `[lo, hi)`.
pub fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// `n` values of a heavy-tailed distribution: Laplace with scale 1 (exponential magnitude,
/// random sign).
pub fn laplace(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let magnitude = -(1.0 - rng.random::<f64>()).ln();
            (if rng.random::<bool>() { magnitude } else { -magnitude }) as f32
        })
        .collect()
}
