//! Softmax over an 8-bit input by a table of exponentials: a DequantizeLinear → Softmax pair
//! (`crate::softmax8`, as `rules/approx/softmax.rules`' `softmax-table8` writes it) run on the
//! integers.
//!
//! With `x = (q - z)·s`, `e^(x_i - max) = e^(-s·(q_max - q_i))` and `q_max - q_i` is one of 256
//! differences of 8-bit integers, so a table of `e^(-s·d)` replaces every exp (TensorFlow
//! Lite's 8-bit Softmax fills the same table, `PopulateSoftmaxLookupTable` in
//! `kernels/internal/optimized/optimized_ops.h`); the sum and one reciprocal per row remain.

use super::super::m_exp;
use super::QIn;

/// Softmax over the middle axis of `[OUTER][N][INNER]` of the dequantized 8-bit integers `x`
/// (scale `scale`; the zero point cancels) into floats `y`: per row the largest and smallest
/// integer (exact in any order, so the loop vectorizes), each term `e^(-scale·(max - q))` read
/// from a table this call fills with `m_exp` as far as its rows' spread reaches (at most 256
/// entries), the row's sum in eight partial sums, and the terms multiplied by `1/Σ`.
///
/// Against DequantizeLinear then Softmax in f32 (`e^((q - z)·s - (q_max - z)·s)` summed in
/// order): the exponent differs from `-s·(q_max - q)` by the products' rounding (a relative
/// error of the term of about `2^-23·|x|`), the sum's order differs, and `1/Σ` is multiplied
/// rather than divided by: agreement within float rounding. `X` is `u8` or `i8`.
fn k_softmax_q8<X: QIn, const OUTER: usize, const N: usize, const INNER: usize>(x: &[X], y: &mut [f32], scale: f32) {
    if N == 0 {
        return;
    }
    let (x, y) = (&x[..OUTER * N * INNER], &mut y[..OUTER * N * INNER]);
    let mut table = [0f32; 256];
    let mut filled = 0;
    for o in 0..OUTER {
        for i in 0..INNER {
            let base = o * N * INNER + i;
            let span = (N - 1) * INNER + 1;
            let (xr, yr) = (&x[base..base + span], &mut y[base..base + span]);
            let (mut max, mut min) = (xr[0].wide(), xr[0].wide());
            for n in 1..N {
                let v = xr[n * INNER].wide();
                max = if v > max { v } else { max };
                min = if v < min { v } else { min };
            }
            // Two 8-bit integers differ by at most 255.
            let reach = (max - min) as usize & 255;
            while filled <= reach {
                table[filled] = m_exp(-(filled as f32) * scale);
                filled += 1;
            }
            let mut part = [0f32; 8];
            for n in 0..N {
                let e = table[(max - xr[n * INNER].wide()) as usize & 255];
                yr[n * INNER] = e;
                part[n % 8] += e;
            }
            let sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
            let inv = 1.0 / sum;
            for n in 0..N {
                yr[n * INNER] *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// DequantizeLinear then Softmax over the middle axis of `[outer][n][inner]`, in f32 as
    /// ONNX states them, with the exponential in f64.
    fn reference(q: &[i32], [outer, n, inner]: [usize; 3], scale: f32, zero: i32) -> Vec<f32> {
        let x: Vec<f32> = q.iter().map(|&v| (v - zero) as f32 * scale).collect();
        let mut y = vec![0f32; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * n + k) * inner + i;
                let max = (0..n).map(|k| x[at(k)]).fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f64> = (0..n).map(|k| f64::from(x[at(k)] - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for k in 0..n {
                    y[at(k)] = (e[k] / sum) as f32;
                }
            }
        }
        y
    }

    /// `len` integers of `[lo, hi]` from a fixed LCG.
    fn integers(len: usize, lo: i32, hi: i32, seed: u32) -> Vec<i32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                lo + ((state >> 8) % (hi - lo + 1) as u32) as i32
            })
            .collect()
    }

    fn agree(got: &[f32], want: &[f32]) {
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 4e-6 * w + 1e-12, "{k}: {g} vs {w}");
        }
    }

    #[test]
    fn agrees_with_dequantize_then_softmax_on_u8_rows() {
        // Attention's rows (49 terms), the whole u8 range and a scale that makes e^(-s·255) tiny.
        let q = integers(7 * 49, 0, 255, 3);
        let x: Vec<u8> = q.iter().map(|&v| v as u8).collect();
        for (scale, zero) in [(0.0625f32, 200), (0.013, 17)] {
            let mut y = vec![f32::NAN; q.len()];
            super::k_softmax_q8::<u8, 7, 49, 1>(&x, &mut y, scale);
            agree(&y, &reference(&q, [7, 49, 1], scale, zero));
            for row in y.chunks(49) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn agrees_on_i8_rows_along_a_middle_axis() {
        // [2][5][3]: rows along the middle axis, a narrow spread (the table filled in part) and
        // one constant row.
        let mut q = integers(2 * 5 * 3, -128, 127, 11);
        for k in 0..5 {
            q[k * 3 + 1] = -7;
        }
        let x: Vec<i8> = q.iter().map(|&v| v as i8).collect();
        let mut y = vec![f32::NAN; q.len()];
        super::k_softmax_q8::<i8, 2, 5, 3>(&x, &mut y, 0.02);
        agree(&y, &reference(&q, [2, 5, 3], 0.02, -3));
        assert!((0..5).all(|k| y[k * 3 + 1] == 0.2), "a constant row is uniform");
    }
}
