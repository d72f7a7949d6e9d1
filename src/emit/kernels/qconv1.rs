//! Integer convolution of a single input channel (a first layer on a grey image) at stride and
//! dilation 1, with output pixels in the vector lanes: the packed layout of `k_qconv4` would
//! fill its groups of four input channels with the kernel's columns and zeros, and its
//! sixteen output channels with few.
//!
//! On x86-64 with AVX2 each output channel sums pairs of neighbouring kernel columns with one
//! `vpmaddwd` per pair, kernel row and eight pixels: the image's bytes at columns `c`, `c + 1`
//! of eight pixels interleaved as 16-bit lanes, times the pair of weights broadcast, summed in
//! pairs into i32 lanes (exact: 8-bit inputs by weights below 2^9 in magnitude).
//!
//! A MaxPool of `P × P` windows at stride `P` after the convolution (and its ReLU and
//! QuantizeLinear) can be fused: the largest of each window's sums is stored. The store is
//! non-decreasing in the sum (its scale is not negative, and clamping and quantizing are
//! monotonic), so the stored value is the largest of the window's stored values, as the pool
//! computes it, and a quarter as many values are stored for `P = 2`.

#[cfg(target_arch = "x86_64")]
use super::super::x86_avx2_fma;
#[cfg(target_arch = "x86_64")]
use super::m_requant8;
use super::{avx2_or_portable, m_requant, QIn, QOut, Requant};

/// `y` (`[M][OH/P][OW/P]`) = the convolution of the padded integer image `x` (`[H][W]`, `OH =
/// H - KH + 1`, `OW = W - KW + 1`) by the weights `w` (`[M][KH][⌈KW/2⌉][2]`: kernel columns in
/// pairs, zero past `KW`), per channel summed from `off` (the input's zero point folded in) in
/// i32, the largest sum of each `P × P` window (`P` 1, no pool, or 2 dividing `OH` and `OW`) stored as
/// [`m_requant`] does with the channel's `mul` (not negative when `P > 1`) and `bias`.
#[allow(clippy::too_many_arguments)]
fn k_qconv1<
    X: QIn,
    Y: QOut,
    const H: usize,
    const W: usize,
    const M: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const P: usize,
>(
    x: &[X],
    w: &[i16],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    const {
        assert!(OH + KH == H + 1 && OW + KW == W + 1, "stride 1, the image padded");
        assert!((P == 1 || P == 2) && OH.is_multiple_of(P) && OW.is_multiple_of(P), "pool windows tile the output");
    };
    let (x, w, off) = (&x[..H * W], &w[..M * KH * KW.div_ceil(2) * 2], &off[..M]);
    let (mul, bias, y) = (&mul[..M], &bias[..M], &mut y[..M * (OH / P) * (OW / P)]);
    #[cfg(target_arch = "x86_64")]
    if OW >= 8 && core::mem::size_of::<X>() == 1 && x86_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA; the slices are as long as the kernel reads; X is
        // one byte.
        unsafe { k_qconv1_avx2::<X, Y, H, W, M, OH, OW, KH, KW, P>(x, w, off, mul, bias, y, rq) };
        return;
    }
    avx2_or_portable(
        #[inline(always)]
        || k_qconv1_portable::<X, Y, H, W, M, OH, OW, KH, KW, P>(x, w, off, mul, bias, y, rq),
    );
}

/// The loops of [`k_qconv1`] without explicit SIMD, for any target: per output channel and
/// row, the row's sums in a row the compiler vectorizes, the largest of each window's rows
/// kept, then of its columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn k_qconv1_portable<
    X: QIn,
    Y: QOut,
    const H: usize,
    const W: usize,
    const M: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const P: usize,
>(
    x: &[X],
    w: &[i16],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let kp = KW.div_ceil(2);
    for m in 0..M {
        for r in 0..OH / P {
            let mut best = [i32::MIN; OW];
            for oh in r * P..(r + 1) * P {
                let mut acc = [off[m]; OW];
                for kh in 0..KH {
                    let row = &x[(oh + kh) * W..(oh + kh + 1) * W];
                    for kw in 0..KW {
                        let wv = w[((m * KH + kh) * kp + kw / 2) * 2 + kw % 2] as i32;
                        for (a, v) in acc.iter_mut().zip(&row[kw..kw + OW]) {
                            *a += v.wide() * wv;
                        }
                    }
                }
                for (b, &a) in best.iter_mut().zip(&acc) {
                    *b = (*b).max(a);
                }
            }
            let out = &mut y[(m * (OH / P) + r) * (OW / P)..][..OW / P];
            for (o, window) in out.iter_mut().zip(best.chunks_exact(P)) {
                let top = window.iter().fold(i32::MIN, |t, &v| t.max(v));
                *o = m_requant(top, 0, mul[m], bias[m], rq);
            }
        }
    }
}

/// [`k_qconv1`] with AVX2, for rows of at least 8 pixels of one byte: per group of at most six
/// output channels (as many in each group), each row (`P` rows at a time, the windows' largest
/// sums by [`k_qconv1_avx2_pool`]) in tiles of two blocks of eight pixels ([`k_qconv1_avx2_tile`]), at
/// columns `16t` and `16t + 8`, the last tile moved left to end at the row's end (a multiple
/// of `P` from the start; pixels computed twice are stored twice, alike).
///
/// # Safety
/// The CPU has AVX2 and FMA; `X` is one byte; the slices are as long as [`k_qconv1`] makes
/// them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qconv1_avx2<
    X: QIn,
    Y: QOut,
    const H: usize,
    const W: usize,
    const M: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const P: usize,
>(
    x: &[X],
    w: &[i16],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let per = M.div_ceil(M.div_ceil(6));
    let kp = KW.div_ceil(2);
    let mut m0 = 0;
    while m0 < M {
        let g = per.min(M - m0);
        for oh in (0..OH).step_by(P) {
            let mut first = 0;
            loop {
                first = first.min(OW.saturating_sub(16));
                let second = (first + 8).min(OW - 8);
                let (w, off) = (&w[m0 * KH * kp * 2..], &off[m0..]);
                macro_rules! tile {
                    ($g:literal) => {{
                        // SAFETY: the CPU has AVX2; the tiles' pixels lie inside the image.
                        let top = unsafe {
                            k_qconv1_avx2_tile::<X, $g, W, KH, KW>(&x[oh * W + first..], second - first, w, off)
                        };
                        let mut pooled = [[0i32; 16]; $g];
                        if P == 1 {
                            for (p, t) in pooled.iter_mut().zip(&top) {
                                p[..8].copy_from_slice(&t[0]);
                                p[8..].copy_from_slice(&t[1]);
                            }
                        } else {
                            let under = unsafe {
                                k_qconv1_avx2_tile::<X, $g, W, KH, KW>(
                                    &x[(oh + 1) * W + first..],
                                    second - first,
                                    w,
                                    off,
                                )
                            };
                            for ((p, t), u) in pooled.iter_mut().zip(&top).zip(&under) {
                                // SAFETY: the CPU has AVX2.
                                unsafe { k_qconv1_avx2_pool(t, u, p) };
                            }
                        }
                        for (m, pooled) in pooled.iter().enumerate() {
                            let (c, mul, bias) = (m0 + m, mul[m0 + m], bias[m0 + m]);
                            // The first `16 / P`, eight at a time.
                            let mut out = [Y::store(0.0, rq); 16];
                            for (eight, sums) in out.chunks_exact_mut(8).zip(pooled.chunks_exact(8)).take(2 / P) {
                                // SAFETY: the CPU has AVX2; `sums` holds eight i32.
                                unsafe {
                                    let sums = core::arch::x86_64::_mm256_loadu_si256(sums.as_ptr() as *const _);
                                    let s = core::arch::x86_64::_mm256_set1_ps;
                                    m_requant8(sums, 0, s(mul), s(bias), rq, eight)
                                };
                            }
                            let row = (c * (OH / P) + oh / P) * (OW / P);
                            y[row + first / P..][..8 / P].copy_from_slice(&out[..8 / P]);
                            y[row + second / P..][..8 / P].copy_from_slice(&out[8 / P..16 / P]);
                        }
                    }};
                }
                match g {
                    6 => tile!(6),
                    5 => tile!(5),
                    4 => tile!(4),
                    3 => tile!(3),
                    2 => tile!(2),
                    _ => tile!(1),
                }
                if second + 8 == OW {
                    break;
                }
                first += 16;
            }
        }
        m0 += g;
    }
}

/// The largest sum of each 2 × 2 window of two rows of sixteen pixels (`top`, `under`, each
/// two blocks of eight) into `pooled[..8]`, in column order.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_qconv1_avx2_pool(top: &[[i32; 8]; 2], under: &[[i32; 8]; 2], pooled: &mut [i32; 16]) {
    use core::arch::x86_64::*;
    // SAFETY: the loads and the store are of whole arrays of eight i32.
    unsafe {
        let load = |v: &[i32; 8]| _mm256_loadu_si256(v.as_ptr() as *const _);
        let a = _mm256_castsi256_ps(_mm256_max_epi32(load(&top[0]), load(&under[0])));
        let b = _mm256_castsi256_ps(_mm256_max_epi32(load(&top[1]), load(&under[1])));
        // Per 128-bit half: the even and the odd columns of a's then b's four pixels.
        let even = _mm256_castps_si256(_mm256_shuffle_ps::<0x88>(a, b));
        let odd = _mm256_castps_si256(_mm256_shuffle_ps::<0xdd>(a, b));
        // Windows 0, 1 (a), 4, 5 (b) | 2, 3 (a), 6, 7 (b): put in order.
        let windows = _mm256_permute4x64_epi64::<0xd8>(_mm256_max_epi32(even, odd));
        _mm256_storeu_si256(pooled.as_mut_ptr() as *mut _, windows);
    }
}

/// One register tile of [`k_qconv1_avx2`]: two blocks of eight pixels (the first's top-left
/// tap at `x`, the second `d` columns right of it) by `G` output channels (weights at `w`,
/// sums starting from `off`). Per kernel row and pair of columns `2p`, `2p + 1`, each block's
/// pixels as 16-bit pairs (`x[c], x[c + 1]`: two 8-byte loads interleaved, widened; the second
/// column's lanes zero past `KW`) and one `vpmaddwd` per channel by its pair of weights.
/// Returns the sums of channel `m`, block `j`, pixel `i` at `[m][j][i]`.
///
/// # Safety
/// The CPU has AVX2; `X` is one byte; every pixel of the tile lies inside `x`, and `w`, `off`
/// hold the `G` channels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_qconv1_avx2_tile<X: QIn, const G: usize, const W: usize, const KH: usize, const KW: usize>(
    x: &[X],
    d: usize,
    w: &[i16],
    off: &[i32],
) -> [[[i32; 8]; 2]; G] {
    use core::arch::x86_64::*;
    let kp = KW.div_ceil(2);
    let (xp, w, off) = (x.as_ptr() as *const u8, &w[..G * KH * kp * 2], &off[..G]);
    // SAFETY: the caller keeps every pixel of the tile inside `x`: the last byte read is the
    // second block's last pixel's bottom-right tap (column `2p + 1` only below `KW`).
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); 2]; G];
        for (a, &o) in acc.iter_mut().zip(off) {
            *a = [_mm256_set1_epi32(o); 2];
        }
        for kh in 0..KH {
            for p in 0..kp {
                let mut xv = [_mm256_setzero_si256(); 2];
                for (j, xv) in xv.iter_mut().enumerate() {
                    let at = xp.add(kh * W + j * d + 2 * p);
                    let left = _mm_loadl_epi64(at as *const _);
                    let right =
                        if 2 * p + 1 < KW { _mm_loadl_epi64(at.add(1) as *const _) } else { _mm_setzero_si128() };
                    let pairs = _mm_unpacklo_epi8(left, right);
                    *xv = if X::I8 { _mm256_cvtepi8_epi16(pairs) } else { _mm256_cvtepu8_epi16(pairs) };
                }
                for (m, a) in acc.iter_mut().enumerate() {
                    let at = ((m * KH + kh) * kp + p) * 2;
                    let wv = _mm256_set1_epi32(w[at] as u16 as i32 | (w[at + 1] as i32) << 16);
                    for (a, xv) in a.iter_mut().zip(&xv) {
                        *a = _mm256_add_epi32(*a, _mm256_madd_epi16(*xv, wv));
                    }
                }
            }
        }
        let mut sums = [[[0i32; 8]; 2]; G];
        for (s, a) in sums.iter_mut().zip(&acc) {
            for (s, a) in s.iter_mut().zip(a) {
                _mm256_storeu_si256(s.as_mut_ptr() as *mut _, *a);
            }
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::super::{QIn, Requant};

    /// The kernel (AVX2 where the CPU has it) and its portable loops against the definition,
    /// on an image with the extremes of `X`, an input zero point of 3, and weights with -128
    /// and 127; with `P > 1`, against the MaxPool of the stored values.
    fn matches_definition<
        X: QIn,
        const H: usize,
        const W: usize,
        const M: usize,
        const OH: usize,
        const OW: usize,
        const KH: usize,
        const KW: usize,
        const P: usize,
    >(
        make: fn(usize) -> X,
    ) {
        let x: Vec<X> = (0..H * W).map(make).collect();
        let kp = KW.div_ceil(2);
        let wt: Vec<i32> = (0..M * KH * KW)
            .map(|i| match i % 7 {
                0 => -128,
                1 => 127,
                _ => ((i * 13) % 255) as i32 - 127,
            })
            .collect();
        let mut wp = vec![0i16; M * KH * kp * 2];
        let mut off = vec![0i32; M];
        for (i, &v) in wt.iter().enumerate() {
            let (m, kh, kw) = (i / (KH * KW), i / KW % KH, i % KW);
            wp[((m * KH + kh) * kp + kw / 2) * 2 + kw % 2] = v as i16;
            off[m] -= 3 * v;
        }
        let mul: Vec<f32> = (0..M).map(|m| 0.0005 + m as f32 * 1e-5).collect();
        let bias: Vec<f32> = (0..M).map(|m| m as f32 * 0.5 - 3.0).collect();
        let rq = Requant { lo: -4.0, hi: 6.0, inv: 20.0, zero: -5.0 };
        let (oh, ow) = (OH / P, OW / P);
        let (mut got, mut portable) = (vec![0i8; M * oh * ow], vec![0i8; M * oh * ow]);
        super::k_qconv1::<X, i8, H, W, M, OH, OW, KH, KW, P>(&x, &wp, &off, &mul, &bias, &mut got, rq);
        super::k_qconv1_portable::<X, i8, H, W, M, OH, OW, KH, KW, P>(&x, &wp, &off, &mul, &bias, &mut portable, rq);
        let mut full = vec![0i8; M * OH * OW];
        for m in 0..M {
            for i in 0..OH {
                for j in 0..OW {
                    let mut s = 0i32;
                    for a in 0..KH {
                        for b in 0..KW {
                            s += (x[(i + a) * W + j + b].wide() - 3) * wt[(m * KH + a) * KW + b];
                        }
                    }
                    full[(m * OH + i) * OW + j] = super::m_requant(s, 0, mul[m], bias[m], rq);
                }
            }
        }
        let mut spread = std::collections::BTreeSet::new();
        for m in 0..M {
            for i in 0..oh {
                for j in 0..ow {
                    let window = (0..P * P).map(|k| full[(m * OH + i * P + k / P) * OW + j * P + k % P]);
                    let want = window.max().expect("P > 0");
                    let at = (m * oh + i) * ow + j;
                    assert_eq!(got[at], want, "{M} channels {KH}x{KW} on {H}x{W}, pool {P}: ({m}, {i}, {j})");
                    assert_eq!(
                        portable[at], want,
                        "portable {M} channels {KH}x{KW} on {H}x{W}, pool {P}: ({m}, {i}, {j})"
                    );
                    spread.insert(want);
                }
            }
        }
        assert!(spread.len() > 10, "the outputs cover the range: {spread:?}");
    }

    /// Kernels of odd and even width; rows of 5 and 6 (portable), 8 (one block twice), 14 (two
    /// overlapping blocks) and 28 pixels (the last tile moved left); 6, 8 (two groups of 4) and
    /// 13 output channels (5, 5, 3); `u8` and `i8` images; without a pool and with 2 × 2
    /// windows.
    #[test]
    fn one_channel_convolutions_match_the_definition() {
        let u = |i: usize| match i % 5 {
            0 => 0u8,
            1 => 255,
            _ => ((i * 37) % 251) as u8,
        };
        let s = |i: usize| match i % 5 {
            0 => -128i8,
            1 => 127,
            _ => ((i * 37) % 251) as u8 as i8,
        };
        matches_definition::<u8, 32, 32, 6, 28, 28, 5, 5, 1>(u);
        matches_definition::<i8, 32, 32, 6, 28, 28, 5, 5, 1>(s);
        matches_definition::<u8, 9, 17, 8, 6, 14, 4, 4, 1>(u);
        matches_definition::<i8, 11, 10, 13, 9, 8, 3, 3, 1>(s);
        matches_definition::<u8, 16, 9, 3, 12, 5, 5, 5, 1>(u);
        matches_definition::<u8, 32, 32, 6, 28, 28, 5, 5, 2>(u);
        matches_definition::<i8, 32, 32, 13, 28, 28, 5, 5, 2>(s);
        matches_definition::<u8, 9, 17, 8, 6, 14, 4, 4, 2>(u);
        matches_definition::<i8, 19, 22, 6, 16, 20, 4, 3, 2>(s);
        matches_definition::<u8, 12, 10, 8, 8, 6, 5, 5, 2>(u);
    }
}
