//! Normalizations, reductions and pooling: Softmax, LayerNormalization, per-channel affine maps
//! (BatchNormalization, DequantizeLinear per axis), ReduceMean/Max/Sum over contiguous axes, max
//! and average pooling.

#[cfg(target_arch = "x86_64")]
use super::x86_avx2_fma;
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
/// average pool: 64 chains of 125). The results are the window loops', bit for bit. On x86-64
/// with AVX2 (checked at run time) the blocks of eight channels run [`k_pool_global_avx2`]: the
/// loops below, built for AVX2 or AVX-512, read the eight channels' values with gathers
/// (step-times, 2026-12-07: DS-CNN's pool 6.0 µs native against 2.1 plain).
#[inline(always)]
fn k_pool_global<const C: usize, const H: usize, const W: usize, const MAX: bool>(x: &[f32], y: &mut [f32]) {
    const L: usize = 8;
    let n = H * W;
    let mut c0 = 0;
    #[cfg(target_arch = "x86_64")]
    if n >= 4 && x86_avx2_fma() {
        c0 = C / L * L;
        // SAFETY: the CPU has AVX2; `x` holds `C` planes of `n ≥ 4` values and `y` `C` values.
        unsafe { k_pool_global_avx2::<MAX>(&x[..c0 * n], &mut y[..c0], n) };
    }
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

/// [`k_pool_global`] of whole blocks of eight planes of `n` values (`y.len()` a multiple of 8)
/// with AVX2, each channel in a lane: per four values of the eight planes, two rows of four
/// loaded into each vector's halves (planes `c` and `c + 4`) and transposed within the halves
/// (`vunpcklps`/`vunpckhps`, then `vshufps`: the transpose of `_MM_TRANSPOSE4_PS`), so that
/// each of the four vectors holds the eight channels' value at one position; each added (or
/// `vmaxps`: `max(v, a)` is `if v > a { v } else { a }`, NaN included) to the sums in order;
/// the last `n % 4` positions one vector each. The same operations on each channel as the
/// portable loop, so its results bit for bit.
///
/// # Safety
/// The CPU has AVX2; `n ≥ 4`; `x` holds `y.len()` planes of `n` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_pool_global_avx2<const MAX: bool>(x: &[f32], y: &mut [f32], n: usize) {
    use core::arch::x86_64::*;
    let step = |a: __m256, v: __m256| if MAX { _mm256_max_ps(v, a) } else { _mm256_add_ps(a, v) };
    for (c0, out) in y.chunks_exact_mut(8).enumerate() {
        let planes = &x[c0 * 8 * n..(c0 + 1) * 8 * n];
        let row = |c: usize, p: usize| planes[c * n + p..][..4].as_ptr();
        let mut acc = _mm256_set1_ps(if MAX { f32::NEG_INFINITY } else { 0.0 });
        let mut p = 0;
        // SAFETY: the CPU has AVX2; every load of four values lies inside its plane (`p + 4 ≤
        // n`), `out` holds eight values.
        unsafe {
            while p + 4 <= n {
                let half = |c: usize| {
                    _mm256_insertf128_ps::<1>(
                        _mm256_castps128_ps256(_mm_loadu_ps(row(c, p))),
                        _mm_loadu_ps(row(c + 4, p)),
                    )
                };
                let (a0, a1, a2, a3) = (half(0), half(1), half(2), half(3));
                let (t0, t1) = (_mm256_unpacklo_ps(a0, a1), _mm256_unpackhi_ps(a0, a1));
                let (t2, t3) = (_mm256_unpacklo_ps(a2, a3), _mm256_unpackhi_ps(a2, a3));
                acc = step(acc, _mm256_shuffle_ps::<0x44>(t0, t2));
                acc = step(acc, _mm256_shuffle_ps::<0xee>(t0, t2));
                acc = step(acc, _mm256_shuffle_ps::<0x44>(t1, t3));
                acc = step(acc, _mm256_shuffle_ps::<0xee>(t1, t3));
                p += 4;
            }
            for p in p..n {
                let v: [f32; 8] = core::array::from_fn(|c| planes[c * n + p]);
                acc = step(acc, _mm256_loadu_ps(v.as_ptr()));
            }
            if !MAX {
                acc = _mm256_div_ps(acc, _mm256_set1_ps(n as f32));
            }
            _mm256_storeu_ps(out.as_mut_ptr(), acc);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Global pooling of `C` planes of `H × W` gives the window loops' results bit for bit,
    /// average and maximum.
    fn global_pooling_matches<const C: usize, const H: usize, const W: usize>() {
        let n = H * W;
        let x: Vec<f32> = (0..C * n).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
        for max in [false, true] {
            let mut want = vec![0.0f32; C];
            for (c, w) in want.iter_mut().enumerate() {
                let plane = &x[c * n..(c + 1) * n];
                *w = if max {
                    plane.iter().fold(f32::NEG_INFINITY, |a, &v| if v > a { v } else { a })
                } else {
                    plane.iter().fold(0.0, |a, &v| a + v) / n as f32
                };
            }
            let mut got = vec![f32::NAN; C];
            if max {
                super::k_pool::<C, H, W, 1, 1, H, W, H, W, 0, 0, 0, 0, true, false>(&x, &mut got);
            } else {
                super::k_pool::<C, H, W, 1, 1, H, W, H, W, 0, 0, 0, 0, false, false>(&x, &mut got);
            }
            assert_eq!(got, want, "{C} x {H} x {W}");
        }
    }

    /// 11 channels (a block of eight and one of three) of 35 values (eight steps of four and
    /// three more on AVX2), 19 of 9 (VWW's planes), 16 of 125 (DS-CNN's), 9 of 3 (too few
    /// values for the AVX2 kernel).
    #[test]
    fn global_pooling_matches_the_window_loops() {
        global_pooling_matches::<11, 5, 7>();
        global_pooling_matches::<19, 3, 3>();
        global_pooling_matches::<16, 25, 5>();
        global_pooling_matches::<9, 1, 3>();
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
