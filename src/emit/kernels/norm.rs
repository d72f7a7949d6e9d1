//! Normalizations, reductions and pooling: Softmax, LayerNormalization, per-channel affine maps
//! (BatchNormalization, DequantizeLinear per axis), ReduceMean/Max/Sum over contiguous axes, max
//! and average pooling.

use super::{m_clamp, m_exp, m_sqrt};

/// Softmax over the middle axis of `[OUTER][N][INNER]`.
fn k_softmax<const OUTER: usize, const N: usize, const INNER: usize>(x: &[f32], y: &mut [f32]) {
    let (x, y) = (&x[..OUTER * N * INNER], &mut y[..OUTER * N * INNER]);
    for o in 0..OUTER {
        for i in 0..INNER {
            let at = |n: usize| (o * N + n) * INNER + i;
            let mut max = f32::NEG_INFINITY;
            for n in 0..N {
                max = if x[at(n)] > max { x[at(n)] } else { max };
            }
            let mut sum = 0.0;
            for n in 0..N {
                let e = m_exp(x[at(n)] - max);
                y[at(n)] = e;
                sum += e;
            }
            let inv = 1.0 / sum;
            for n in 0..N {
                y[at(n)] *= inv;
            }
        }
    }
}

/// Softmax in base 2 over the middle axis of `[OUTER][N][INNER]` (the form of
/// `rules/approx/softmax.rules`, found by `crate::softermax`): per row `y = (max - x)·log2e`,
/// each term `m_exp2_poly(y)` (`2^-y` by a shift and a polynomial), then divided by their sum
/// (a multiply by its reciprocal). Branch-free, so the terms' loop vectorizes for `INNER = 1`;
/// the row's max and sum stay sequential.
fn k_softmax2<const OUTER: usize, const N: usize, const INNER: usize, const D: usize>(
    x: &[f32],
    y: &mut [f32],
    log2e: f32,
    hi: f32,
    poly: [f32; D],
) {
    let (x, y) = (&x[..OUTER * N * INNER], &mut y[..OUTER * N * INNER]);
    for o in 0..OUTER {
        for i in 0..INNER {
            let base = o * N * INNER + i;
            let span = (N - 1) * INNER + 1;
            let (xr, yr) = (&x[base..base + span], &mut y[base..base + span]);
            let mut max = f32::NEG_INFINITY;
            for n in 0..N {
                max = if xr[n * INNER] > max { xr[n * INNER] } else { max };
            }
            for n in 0..N {
                yr[n * INNER] = m_exp2_poly((max - xr[n * INNER]) * log2e, hi, &poly);
            }
            let mut sum = 0.0;
            for n in 0..N {
                sum += yr[n * INNER];
            }
            let inv = 1.0 / sum;
            for n in 0..N {
                yr[n * INNER] *= inv;
            }
        }
    }
}

/// `2^-y` for `y ≥ 0` as the base-2 softmax's graph computes it: `c = min(y, hi)` (`hi` at most
/// 126), `k = ⌊c⌋` (the truncating cast), `g = k - c`, `p(g)` by Horner's rule (`poly` lowest
/// degree first), times `2^-k` built by an exponent shift: the table entry the graph gathers,
/// bit for bit. A NaN stays NaN.
#[inline(always)]
fn m_exp2_poly<const D: usize>(y: f32, hi: f32, poly: &[f32; D]) -> f32 {
    let c = if y > hi { hi } else { y };
    let k = c as i32;
    let g = k as f32 - c;
    let mut p = poly[D - 1];
    for j in (0..D - 1).rev() {
        p = p * g + poly[j];
    }
    p * f32::from_bits(((127 - k) as u32) << 23)
}

/// Normalizes each row of `[OUTER][N]` to zero mean and unit variance, then scales and shifts.
fn k_layernorm<const OUTER: usize, const N: usize, const BIAS: bool>(
    x: &[f32],
    scale: &[f32],
    bias: &[f32],
    y: &mut [f32],
    eps: f32,
) {
    let (x, y) = (&x[..OUTER * N], &mut y[..OUTER * N]);
    for o in 0..OUTER {
        let row = &x[o * N..(o + 1) * N];
        let mut sum = 0.0;
        for v in row {
            sum += *v;
        }
        let mean = sum / N as f32;
        let mut var = 0.0;
        for v in row {
            var += (*v - mean) * (*v - mean);
        }
        let inv = 1.0 / m_sqrt(var / N as f32 + eps);
        let out = &mut y[o * N..(o + 1) * N];
        for n in 0..N {
            let v = (row[n] - mean) * inv * scale[n];
            out[n] = if BIAS { v + bias[n] } else { v };
        }
    }
}

/// `y = x·s[c] + t[c]` over `[OUTER][C][INNER]`, clamped; `y` may be `x` (see `k_affine_ip`).
fn k_affine<const OUTER: usize, const C: usize, const INNER: usize>(
    x: &[f32],
    s: &[f32],
    t: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let (x, y) = (&x[..OUTER * C * INNER], &mut y[..OUTER * C * INNER]);
    for o in 0..OUTER {
        for c in 0..C {
            let at = (o * C + c) * INNER;
            for i in 0..INNER {
                y[at + i] = m_clamp(x[at + i] * s[c] + t[c], lo, hi);
            }
        }
    }
}

/// `y = y·s[c] + t[c]` in place over `[OUTER][C][INNER]`, clamped.
fn k_affine_ip<const OUTER: usize, const C: usize, const INNER: usize>(
    y: &mut [f32],
    s: &[f32],
    t: &[f32],
    lo: f32,
    hi: f32,
) {
    let y = &mut y[..OUTER * C * INNER];
    for o in 0..OUTER {
        for c in 0..C {
            let at = (o * C + c) * INNER;
            for v in &mut y[at..at + INNER] {
                *v = m_clamp(*v * s[c] + t[c], lo, hi);
            }
        }
    }
}

/// Reduces the middle axis of `[OUTER][N][INNER]`: `KIND` 0 sum, 1 mean, 2 max.
fn k_reduce<const OUTER: usize, const N: usize, const INNER: usize, const KIND: usize>(x: &[f32], y: &mut [f32]) {
    let (x, y) = (&x[..OUTER * N * INNER], &mut y[..OUTER * INNER]);
    for o in 0..OUTER {
        let out = &mut y[o * INNER..(o + 1) * INNER];
        out.fill(if KIND == 2 { f32::NEG_INFINITY } else { 0.0 });
        for n in 0..N {
            let src = &x[(o * N + n) * INNER..(o * N + n + 1) * INNER];
            for i in 0..INNER {
                out[i] = if KIND == 2 {
                    if src[i] > out[i] {
                        src[i]
                    } else {
                        out[i]
                    }
                } else {
                    out[i] + src[i]
                };
            }
        }
        if KIND == 1 {
            for v in out.iter_mut() {
                *v /= N as f32;
            }
        }
    }
}

/// 2-D pooling of `[C][H][W]` into `[C][OH][OW]`; `MAX` picks the maximum (padding ignored),
/// otherwise the average, dividing by the window cells inside the input (`INCL`: inside the
/// padded input).
fn k_pool<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const PB: usize,
    const PR: usize,
    const MAX: bool,
    const INCL: bool,
>(
    x: &[f32],
    y: &mut [f32],
) {
    let (x, y) = (&x[..C * H * W], &mut y[..C * OH * OW]);
    if OH == 1 && OW == 1 && KH == H && KW == W && PT + PL + PB + PR == 0 {
        return k_pool_global::<C, H, W, MAX>(x, y);
    }
    for c in 0..C {
        for oh in 0..OH {
            for ow in 0..OW {
                // Window rows and columns in padded coordinates, clipped to the padded input.
                let (h0, w0) = (oh * SH, ow * SW);
                let (h1, w1) = ((h0 + KH).min(H + PT + PB), (w0 + KW).min(W + PL + PR));
                let mut acc = if MAX { f32::NEG_INFINITY } else { 0.0 };
                let mut cells = 0usize;
                for ph in h0.max(PT)..h1.min(H + PT) {
                    for pw in w0.max(PL)..w1.min(W + PL) {
                        let v = x[(c * H + ph - PT) * W + pw - PL];
                        acc = if MAX {
                            if v > acc {
                                v
                            } else {
                                acc
                            }
                        } else {
                            acc + v
                        };
                        cells += 1;
                    }
                }
                if !MAX {
                    let n = if INCL { (h1 - h0) * (w1 - w0) } else { cells };
                    acc /= n as f32;
                }
                y[(c * OH + oh) * OW + ow] = acc;
            }
        }
    }
}

/// [`k_pool`] over whole planes (global pooling, no pads): each channel's values in order, as
/// the window loops take them, but eight channels side by side, so that eight independent sums
/// (or maxima) fill the pipeline instead of one chain of dependent additions (DS-CNN's global
/// average pool: 64 chains of 125). The results are the window loops', bit for bit.
#[inline(always)]
fn k_pool_global<const C: usize, const H: usize, const W: usize, const MAX: bool>(x: &[f32], y: &mut [f32]) {
    const L: usize = 8;
    let n = H * W;
    let mut c0 = 0;
    while c0 < C {
        let lanes = (C - c0).min(L);
        let mut acc = [if MAX { f32::NEG_INFINITY } else { 0.0 }; L];
        for p in 0..n {
            for (l, a) in acc[..lanes].iter_mut().enumerate() {
                let v = x[(c0 + l) * n + p];
                *a = if MAX {
                    if v > *a {
                        v
                    } else {
                        *a
                    }
                } else {
                    *a + v
                };
            }
        }
        for (l, &a) in acc[..lanes].iter().enumerate() {
            y[c0 + l] = if MAX { a } else { a / n as f32 };
        }
        c0 += lanes;
    }
}

#[cfg(test)]
mod tests {
    /// Global pooling (11 channels: a block of eight and one of three) gives the window loops'
    /// results bit for bit, average and maximum.
    #[test]
    fn global_pooling_matches_the_window_loops() {
        const C: usize = 11;
        let x: Vec<f32> = (0..C * 5 * 7).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
        for max in [false, true] {
            let mut want = vec![0.0f32; C];
            for (c, w) in want.iter_mut().enumerate() {
                let plane = &x[c * 35..(c + 1) * 35];
                *w = if max {
                    plane.iter().fold(f32::NEG_INFINITY, |a, &v| if v > a { v } else { a })
                } else {
                    plane.iter().fold(0.0, |a, &v| a + v) / 35.0
                };
            }
            let mut got = vec![f32::NAN; C];
            if max {
                super::k_pool::<C, 5, 7, 1, 1, 5, 7, 5, 7, 0, 0, 0, 0, true, false>(&x, &mut got);
            } else {
                super::k_pool::<C, 5, 7, 1, 1, 5, 7, 5, 7, 0, 0, 0, 0, false, false>(&x, &mut got);
            }
            assert_eq!(got, want);
        }
    }

    #[test]
    fn softmax2_agrees_with_its_graph_form_and_with_softmax() {
        // [1][3][2]: rows along the middle axis (INNER = 2) and, transposed, along the last.
        let x = [0.5f32, -3.0, 2.0, 0.0, -40.0, 1.0];
        let poly = [0.998_709, 0.669_097, 0.171_572]; // 2^g on [-1, 0] at degree 2 (fit_softermax)
        let (log2e, hi) = (core::f32::consts::LOG2_E, 20.0);
        let mut y = [0f32; 6];
        super::k_softmax2::<1, 3, 2, 3>(&x, &mut y, log2e, hi, poly);
        let xt = [0.5f32, 2.0, -40.0, -3.0, 0.0, 1.0];
        let mut yt = [0f32; 6];
        super::k_softmax2::<2, 3, 1, 3>(&xt, &mut yt, log2e, hi, poly);
        for col in 0..2 {
            let xs: Vec<f32> = (0..3).map(|n| x[n * 2 + col]).collect();
            let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            // The graph's operations in f32: Clip, Cast, the table's 2^-k.
            let e: Vec<f32> = xs
                .iter()
                .map(|&v| {
                    let c = ((max - v) * log2e).clamp(0.0, hi);
                    let k = c as i32;
                    let g = k as f32 - c;
                    ((poly[2] * g + poly[1]) * g + poly[0]) * (-(k as f32)).exp2()
                })
                .collect();
            let sum: f32 = e.iter().sum();
            let exact: Vec<f64> = xs.iter().map(|&v| f64::from(v - max).exp()).collect();
            let exact_sum: f64 = exact.iter().sum();
            for n in 0..3 {
                let got = y[n * 2 + col];
                assert_eq!(got, yt[col * 3 + n], "the layouts agree");
                assert!((got - e[n] / sum).abs() <= 2e-7 * (e[n] / sum).max(1e-30) + 1e-30, "{got} vs the graph");
                let want = exact[n] / exact_sum;
                // Within the polynomial's error, or 2^-hi for a clipped term.
                assert!(
                    (f64::from(got) - want).abs() <= 5e-3 * want + f64::from(-hi).exp2(),
                    "{got} vs softmax {want}"
                );
            }
        }
        // A NaN row stays NaN; -inf terms vanish to 2^-hi·p(0) at most.
        super::k_softmax2::<1, 2, 1, 3>(&[f32::NAN, 1.0], &mut y[..2], log2e, hi, poly);
        assert!(y[0].is_nan() && y[1].is_nan());
    }

    #[test]
    fn softmax_is_a_distribution_along_its_axis() {
        // [1][3][2]: softmax over the 3 values of each of the 2 columns.
        let x = [1.0, -1.0, 2.0, 0.0, 3.0, 1.0];
        let mut y = [0.0; 6];
        super::k_softmax::<1, 3, 2>(&x, &mut y);
        for col in 0..2 {
            let want: Vec<f64> = (0..3).map(|r| (x[r * 2 + col] as f64).exp()).collect();
            let total: f64 = want.iter().sum();
            for r in 0..3 {
                assert!((y[r * 2 + col] as f64 - want[r] / total).abs() < 1e-6);
            }
        }
    }
}
