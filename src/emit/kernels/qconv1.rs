//! Integer convolution of a single input channel (a first layer on a grey image) at stride and
//! dilation 1, with output pixels in the vector lanes: the packed layout of `k_qconv4` would
//! fill its groups of four input channels with the kernel's columns and zeros, and its
//! sixteen output channels with few.
//!
//! On x86-64 with AVX2 each output channel sums pairs of neighbouring kernel columns with one
//! `vpmaddwd` per pair, kernel row and eight pixels: sixteen bytes of a row widened to 16-bit
//! lanes are the pairs of columns `c + 2i`, `c + 2i + 1`, which, times a pair of weights
//! broadcast and summed in pairs into i32 lanes, are a pair of taps of the eight even pixels
//! `c + 2i` and, times the pair of weights one column to the left, of the eight odd pixels
//! (exact: 8-bit inputs by weights below 2^9 in magnitude). One widening serves both parities
//! and every channel of a tile; the even and odd sums are interleaved only once, at the store.
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
    if OW >= 16 && core::mem::size_of::<X>() == 1 && x86_avx2_fma() {
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

/// [`k_qconv1`] with AVX2, for rows of at least 16 pixels of one byte: per group of at most six
/// output channels (as many in each group), [`k_qconv1_avx2_group`].
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
    let mut m0 = 0;
    while m0 < M {
        let g = per.min(M - m0);
        macro_rules! group {
            ($g:literal) => {
                // SAFETY: the CPU has AVX2 and FMA; the group's channels lie inside the slices.
                unsafe { k_qconv1_avx2_group::<X, Y, $g, H, W, M, OH, OW, KH, KW, P>(x, w, off, mul, bias, y, rq, m0) }
            };
        }
        match g {
            6 => group!(6),
            5 => group!(5),
            4 => group!(4),
            3 => group!(3),
            2 => group!(2),
            _ => group!(1),
        }
        m0 += g;
    }
}

/// The `G` output channels from `m0` of [`k_qconv1_avx2`]: their pairs of weights broadcast
/// once into a table (per kernel row and pair `q`: columns `2q`, `2q + 1` for the even pixels
/// of [`k_qconv1_avx2_tile`], and for the odd ones columns `2q - 1`, `2q` when `KW` is odd,
/// else `2q`, `2q + 1` again; for odd `KW` the half-empty pairs of rows `2r` in the table are
/// those of rows `2r` and `2r + 1`, column `KW - 1` for the even pixels and 0 for the odd), then
/// each row (`P` rows at a time) in tiles of sixteen pixels
/// ([`k_qconv1_avx2_tile`]: the even and the odd pixels' sums) at columns `16t`, the last tile
/// moved left to end at the row's end (a multiple of `P` from the start: pixels computed twice
/// are stored twice, alike). Without a pool the even and odd sums are interleaved into two
/// blocks of eight pixels; with 2 × 2 windows each window's largest sum is the largest of its
/// row's even and odd sums and the row below's, eight windows in order. Each block of eight is
/// stored by [`m_requant8`].
///
/// # Safety
/// The CPU has AVX2 and FMA; `X` is one byte; the slices are as long as [`k_qconv1`] makes
/// them; `m0 + G <= M`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qconv1_avx2_group<
    X: QIn,
    Y: QOut,
    const G: usize,
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
    m0: usize,
) {
    use core::arch::x86_64::*;
    let kp = KW.div_ceil(2);
    let (w, off) = (&w[m0 * KH * kp * 2..][..G * KH * kp * 2], &off[m0..][..G]);
    let mut wt = [[[[_mm256_setzero_si256(); 2]; KW]; KH]; G];
    for (rows, wt) in w.chunks_exact(KH * kp * 2).zip(&mut wt) {
        for (kh, wt) in wt.iter_mut().enumerate() {
            let row = &rows[kh * kp * 2..][..kp * 2];
            // The odd pixels' weight at column `k` of their pairs (kernel column `k - KW % 2`,
            // zero outside the kernel).
            let tap = |k: usize| row.get(k.wrapping_sub(KW % 2)).copied().unwrap_or(0);
            let pair = |lo: i16, hi: i16| _mm256_set1_epi32(lo as u16 as i32 | (hi as i32) << 16);
            for (q, [even, odd]) in wt[..kp].iter_mut().enumerate() {
                *even = pair(row[2 * q], row[2 * q + 1]);
                *odd = pair(tap(2 * q), tap(2 * q + 1));
            }
            if KW % 2 == 1 && kh % 2 == 0 && kh + 1 < KH {
                // The half-empty pairs of rows `kh` and `kh + 1` as one.
                let below = &rows[(kh + 1) * kp * 2..][..kp * 2];
                wt[kp - 1][0] = pair(row[KW - 1], below[KW - 1]);
                wt[0][1] = pair(row[0], below[0]);
            }
        }
    }
    for oh in (0..OH).step_by(P) {
        let mut c = 0;
        loop {
            c = c.min(OW - 16);
            // SAFETY: the CPU has AVX2; the tiles' pixels lie inside the image (`oh + 1 < OH`
            // when `P` is 2).
            let top = unsafe { k_qconv1_avx2_tile::<X, G, W, KH, KW>(&x[oh * W + c..], &wt, off) };
            let under = if P == 1 {
                top
            } else {
                unsafe { k_qconv1_avx2_tile::<X, G, W, KH, KW>(&x[(oh + 1) * W + c..], &wt, off) }
            };
            for (m, (&[even, odd], &[even2, odd2])) in top.iter().zip(&under).enumerate() {
                let ch = m0 + m;
                let (mul, bias) = (_mm256_set1_ps(mul[ch]), _mm256_set1_ps(bias[ch]));
                let row = (ch * (OH / P) + oh / P) * (OW / P);
                // SAFETY: the CPU has AVX2; `row + c / P + 16 / P <= row + OW / P`.
                unsafe {
                    if P == 1 {
                        // Pixels 0, 1, 2, 3 | 8, 9, 10, 11 and 4, 5, 6, 7 | 12, 13, 14, 15.
                        let (lo, hi) = (_mm256_unpacklo_epi32(even, odd), _mm256_unpackhi_epi32(even, odd));
                        let first = _mm256_permute2x128_si256::<0x20>(lo, hi);
                        let second = _mm256_permute2x128_si256::<0x31>(lo, hi);
                        m_requant8(first, 0, mul, bias, rq, &mut y[row + c..]);
                        m_requant8(second, 0, mul, bias, rq, &mut y[row + c + 8..]);
                    } else {
                        let top = _mm256_max_epi32(even, odd);
                        let windows = _mm256_max_epi32(top, _mm256_max_epi32(even2, odd2));
                        m_requant8(windows, 0, mul, bias, rq, &mut y[row + c / 2..]);
                    }
                }
            }
            if c + 16 == OW {
                break;
            }
            c += 16;
        }
    }
}

/// One register tile of [`k_qconv1_avx2_group`]: sixteen pixels (the first's top-left tap at
/// `x`) by `G` output channels (pairs of weights broadcast in `wt[m][kh][q]`: the even pixels',
/// the odd pixels'; sums starting from `off`), as the sums of the eight even pixels and of the
/// eight odd ones. Per kernel row and pair `q`, sixteen bytes from column `2q` widened to 16-bit
/// lanes hold the pairs `x[2q + 2i], x[2q + 2i + 1]` of even pixel `2i` at its columns `2q`,
/// `2q + 1`, and of odd pixel `2i + 1` at its columns `2q - 1`, `2q` when `KW` is odd (its
/// pairs start a column to the left, the first weight of the first pair zero), else another
/// sixteen bytes from column `2q + 1` hold the odd pixels' pairs at their columns `2q`,
/// `2q + 1`: one `vpmaddwd` per channel and parity. For odd `KW` the half-empty pairs (the
/// even pixels' last column, the odd pixels' first) of rows `2r` and `2r + 1` are summed as
/// one pair (two rows' taps of the column, blended from the rows' widened bytes), a `vpmaddwd`
/// fewer per channel, parity and two rows. Returns the even and the odd sums of channel `m` at
/// `[m]`.
///
/// # Safety
/// The CPU has AVX2; `X` is one byte; every pixel of the tile lies inside `x`; `off` holds the
/// `G` channels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_qconv1_avx2_tile<X: QIn, const G: usize, const W: usize, const KH: usize, const KW: usize>(
    x: &[X],
    wt: &[[[[core::arch::x86_64::__m256i; 2]; KW]; KH]; G],
    off: &[i32],
) -> [[core::arch::x86_64::__m256i; 2]; G] {
    use core::arch::x86_64::*;
    let kp = KW.div_ceil(2);
    let (xp, off) = (x.as_ptr() as *const u8, &off[..G]);
    let widen = |at: *const u8| {
        // SAFETY: the caller keeps the sixteen bytes inside `x` (below).
        let v = unsafe { _mm_loadu_si128(at as *const __m128i) };
        if X::I8 {
            _mm256_cvtepi8_epi16(v)
        } else {
            _mm256_cvtepu8_epi16(v)
        }
    };
    // SAFETY: the caller keeps every pixel of the tile inside `x`: the last byte read, of the
    // sixteen from column `2q + 1 - KW % 2` of the last pair, is the last pixel's bottom-right
    // tap (even `KW`) or the one before it (odd `KW`).
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); 2]; G];
        for (a, &o) in acc.iter_mut().zip(off) {
            *a = [_mm256_set1_epi32(o); 2];
        }
        for kh in 0..KH {
            // Whether this row's half-empty pairs are summed with the next row's, and whether
            // they were summed with the previous row's.
            let (joins, joined) = (KW % 2 == 1 && kh % 2 == 0 && kh + 1 < KH, KW % 2 == 1 && kh % 2 == 1);
            for q in 0..kp {
                let even = widen(xp.add(kh * W + 2 * q));
                let odd = if KW % 2 == 1 { even } else { widen(xp.add(kh * W + 2 * q + 1)) };
                let (even, skip_even) = match (joins, q + 1 == kp) {
                    // Columns `KW - 1` of rows `kh` (low halves) and `kh + 1` (high halves).
                    (true, true) => (
                        _mm256_blend_epi16::<0xaa>(even, _mm256_slli_epi32::<16>(widen(xp.add((kh + 1) * W + 2 * q)))),
                        false,
                    ),
                    _ => (even, joined && q + 1 == kp),
                };
                let (odd, skip_odd) = match (joins, q) {
                    // Columns 0 of the odd pixels (`1 + 2i`) of rows `kh` and `kh + 1`.
                    (true, 0) => {
                        (_mm256_blend_epi16::<0xaa>(_mm256_srli_epi32::<16>(odd), widen(xp.add((kh + 1) * W))), false)
                    }
                    _ => (odd, joined && q == 0),
                };
                for ([ae, ao], wt) in acc.iter_mut().zip(wt) {
                    let [we, wo] = wt[kh][q];
                    if !skip_even {
                        *ae = _mm256_add_epi32(*ae, _mm256_madd_epi16(even, we));
                    }
                    if !skip_odd {
                        *ao = _mm256_add_epi32(*ao, _mm256_madd_epi16(odd, wo));
                    }
                }
            }
        }
        acc
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

    /// Kernels of odd (1, 3, 5, 7) and even (4) width; rows of 5 and 8 pixels (portable), 16
    /// (one tile), 18, 20 and 28 (the last tile moved left); 3, 6, 7, 8 (two groups of 4) and 13
    /// output channels (5, 5, 3); `u8` and `i8` images; without a pool and with 2 × 2 windows.
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
        matches_definition::<u8, 9, 21, 8, 6, 18, 4, 4, 1>(u);
        matches_definition::<i8, 10, 19, 13, 8, 16, 3, 4, 1>(s);
        matches_definition::<u8, 5, 16, 3, 3, 16, 3, 1, 1>(u);
        matches_definition::<i8, 20, 22, 7, 14, 16, 7, 7, 1>(s);
        matches_definition::<i8, 11, 10, 13, 9, 8, 3, 3, 1>(s);
        matches_definition::<u8, 16, 9, 3, 12, 5, 5, 5, 1>(u);
        matches_definition::<u8, 32, 32, 6, 28, 28, 5, 5, 2>(u);
        matches_definition::<i8, 32, 32, 13, 28, 28, 5, 5, 2>(s);
        matches_definition::<u8, 9, 23, 8, 6, 20, 4, 4, 2>(u);
        matches_definition::<i8, 19, 22, 6, 16, 20, 4, 3, 2>(s);
        matches_definition::<u8, 12, 10, 8, 8, 6, 5, 5, 2>(u);
    }
}
