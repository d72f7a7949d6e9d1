// The packing of `k_qconv4`'s input: four channels to a pixel as bytes offset to `u8` (or as
// `u16` for the AVX2 kernel), four rows interleaved at a time with SSE2 on x86-64 (on aarch64
// the compiler vectorizes the portable loop with `st4`). (`include!`d by the unit tests into
// the scope of `qpack.rs`.)

/// `xq` (`[CQ][HO][WO][4]` bytes, `CQ = ⌈C·R·F/4⌉`, `HO = ⌊(H - 1 - (R - 1)·DR)/S⌋ + 1`,
/// `WO = ⌊(W - 1 - (F - 1)·D)/S⌋ + 1`) = the integers `x` (`[C][H][W]`) plus `X::BIAS` (128 for
/// `i8`: the products' `u8` operand), with each channel `c` unfolded into `R·F` channels
/// `(c·R + r)·F + k`, the input shifted up by `r·DR` rows and left by `k·D` columns (a
/// convolution `F` taps wide at dilation `D` becomes one a single tap wide on `C·F` channels:
/// no lanes of zeros for a single input channel; with `R` its kernel's height too, one a single
/// tap on `C·R·F` channels, a 1×1 convolution), and every `S`-th row and column taken (a 1×1
/// convolution at stride `S` becomes one at stride 1 on the pixels it reads); channels past
/// `C·R·F` zero. Where [`k_qconv4`] runs its AVX2 kernel ([`k_qconv4_wide`]) each value as a
/// little-endian `u16` (`xq` twice as long), which that kernel broadcasts without widening.
#[allow(clippy::too_many_arguments)]
fn k_qpack<
    X: QIn,
    const C: usize,
    const H: usize,
    const W: usize,
    const F: usize,
    const D: usize,
    const S: usize,
    const R: usize,
    const DR: usize,
>(
    x: &[X],
    xq: &mut [u8],
) {
    if k_qconv4_wide() {
        k_qpack_as::<X, C, H, W, F, D, S, R, DR, true>(x, xq)
    } else {
        k_qpack_as::<X, C, H, W, F, D, S, R, DR, false>(x, xq)
    }
}

/// Whether [`k_qconv4`] runs its AVX2 kernel, which reads the packed input as `u16`
/// ([`k_qpack`]): an x86-64 CPU with AVX2 and FMA but not AVX512-VNNI.
#[inline(always)]
fn k_qconv4_wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    if !x86_vnni() && x86_avx2_fma() {
        return true;
    }
    false
}

/// [`k_qpack`], each value a `u16` when `WIDE`.
fn k_qpack_as<
    X: QIn,
    const C: usize,
    const H: usize,
    const W: usize,
    const F: usize,
    const D: usize,
    const S: usize,
    const R: usize,
    const DR: usize,
    const WIDE: bool,
>(
    x: &[X],
    xq: &mut [u8],
) {
    let (cf, size) = (C * R * F, if WIDE { 2 } else { 1 });
    let (ho, wo) = ((H - 1 - (R - 1) * DR) / S + 1, (W - 1 - (F - 1) * D) / S + 1);
    let (x, xq) = (&x[..C * H * W], &mut xq[..cf.div_ceil(4) * ho * wo * 4 * size]);
    if F == 4 && D == 1 && !WIDE && core::mem::size_of::<X>() == 1 {
        // Four columns unfolded at dilation 1: each group of four channels is one input
        // channel's row `r` (`q = ci·R + r`), and a pixel's four bytes four adjacent values of
        // the input row (DS-CNN's first layer: rows of 5 pixels, too short for `k_qpack_row`).
        for (q, dst) in xq.chunks_exact_mut(ho * wo * 4).enumerate() {
            for (h, dst) in dst.chunks_exact_mut(wo * 4).enumerate() {
                let row = &x[((q / R) * H + h * S + (q % R) * DR) * W..][..(wo - 1) * S + 4];
                for (i, px) in dst.chunks_exact_mut(4).enumerate() {
                    for (p, &v) in px.iter_mut().zip(&row[i * S..i * S + 4]) {
                        *p = (v.wide() + X::BIAS) as u8;
                    }
                }
            }
        }
        return;
    }
    for (q, dst) in xq.chunks_exact_mut(ho * wo * 4 * size).enumerate() {
        for (h, dst) in dst.chunks_exact_mut(wo * 4 * size).enumerate() {
            let row = |j: usize| {
                let c = 4 * q + j;
                // The row as far as `S·WO` values where the input holds them (whole blocks
                // of every S-th value for `k_qpack_row`), else the `(WO - 1)·S + 1` it reads.
                let (ci, r, k) = (c / (R * F), c / F % R, c % F);
                let at = (ci * H + h * S + r * DR) * W + k * D;
                (c < cf).then(|| &x[at..(at + wo * S).min(x.len())])
            };
            k_qpack_row::<X, S, WIDE>(&[row(0), row(1), row(2), row(3)], dst);
        }
    }
}

/// `dst[4i + j] = rows[j][S·i] + X::BIAS` (zero for a missing row; when `WIDE`, as `u16` at
/// bytes `2(4i + j)`, `2(4i + j) + 1`): four rows of integers interleaved, with SSE2 on
/// x86-64 (at stride 1 or 2, rows at least `S·n` long) sixteen pixels at a time (eight for
/// rows of 8 to 15), the last block overlapping the one before rather than run short (it
/// stores the same values again).
#[inline(always)]
fn k_qpack_row<X: QIn, const S: usize, const WIDE: bool>(rows: &[Option<&[X]>; 4], dst: &mut [u8]) {
    let size = if WIDE { 2 } else { 1 };
    let n = dst.len() / (4 * size);
    #[cfg(target_arch = "x86_64")]
    if core::mem::size_of::<X>() == 1 && S <= 2 && n >= 8 && rows.iter().flatten().all(|r| r.len() >= S * n) {
        use core::arch::x86_64::*;
        let block = if n >= 16 { 16 } else { 8 };
        // SAFETY: SSE2 is part of x86-64; X is one byte, whose bits plus BIAS (0 or 128, a flip
        // of the top bit) are the byte stored; every block of `block` pixels lies inside its
        // row (`i + block <= n`, the row `S·n` long), loads of eight pixels read eight bytes.
        unsafe {
            let (flip, zero) = (_mm_set1_epi8(X::BIAS as u8 as i8), _mm_setzero_si128());
            // At stride 2 the even bytes of twice as many, kept by packing their 16-bit lanes.
            let even = _mm_set1_epi16(0xff);
            let bytes = |r: &[X], i: usize| match (S, block) {
                (1, 16) => _mm_loadu_si128(r[i..i + 16].as_ptr() as *const _),
                (1, _) => _mm_loadl_epi64(r[i..i + 8].as_ptr() as *const _),
                (_, 16) => _mm_packus_epi16(
                    _mm_and_si128(_mm_loadu_si128(r[2 * i..2 * i + 16].as_ptr() as *const _), even),
                    _mm_and_si128(_mm_loadu_si128(r[2 * i + 16..2 * i + 32].as_ptr() as *const _), even),
                ),
                _ => _mm_packus_epi16(
                    _mm_and_si128(_mm_loadu_si128(r[2 * i..2 * i + 16].as_ptr() as *const _), even),
                    zero,
                ),
            };
            let load = |j: usize, i: usize| match rows[j] {
                Some(r) => _mm_xor_si128(bytes(r, i), flip),
                None => _mm_setzero_si128(),
            };
            let mut i = 0;
            loop {
                let (a, b, c, d) = (load(0, i), load(1, i), load(2, i), load(3, i));
                let (ab0, ab1) = (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b));
                let (cd0, cd1) = (_mm_unpacklo_epi8(c, d), _mm_unpackhi_epi8(c, d));
                let four = [
                    _mm_unpacklo_epi16(ab0, cd0),
                    _mm_unpackhi_epi16(ab0, cd0),
                    _mm_unpacklo_epi16(ab1, cd1),
                    _mm_unpackhi_epi16(ab1, cd1),
                ];
                let out = dst[i * 4 * size..(i + block) * 4 * size].as_mut_ptr() as *mut __m128i;
                for (k, v) in four.into_iter().take(block / 4).enumerate() {
                    if WIDE {
                        _mm_storeu_si128(out.add(2 * k), _mm_unpacklo_epi8(v, zero));
                        _mm_storeu_si128(out.add(2 * k + 1), _mm_unpackhi_epi8(v, zero));
                    } else {
                        _mm_storeu_si128(out.add(k), v);
                    }
                }
                if i + block == n {
                    return;
                }
                i = (i + block).min(n - block);
            }
        }
    }
    for i in 0..n {
        for j in 0..4 {
            dst[(4 * i + j) * size] = rows[j].map_or(0, |r| (r[i * S].wide() + X::BIAS) as u8);
            if WIDE {
                dst[(4 * i + j) * 2 + 1] = 0;
            }
        }
    }
}
