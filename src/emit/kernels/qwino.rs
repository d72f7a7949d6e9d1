//! Integer Winograd F(2×2, 3×3) for quantized 3×3, stride-1 convolutions, exact: with `G`
//! scaled by 2 (rows `[2,0,0] [1,1,1] [1,-1,1] [0,0,2]`) the transformed filter
//! `U = (2G) g (2G)ᵀ` is an integer matrix (`|U| ≤ 9·128`, `i16`, computed at generation), the
//! input transform `V = Bᵀ d B` of 8-bit inputs fits `i16` (`|V| ≤ 4·255`), the 16 products
//! `U ⊙ V` are summed over the input channels in `i32`, and the output transform `Aᵀ M A`
//! (coefficients 0, ±1) gives exactly 4 times the direct sum, which an arithmetic shift by 2
//! returns. The sums wrap in `i32` (a ring): the result is exact whenever the direct sum times
//! 4 fits, which the lowering checks per layer. Then the direct kernels' store ([`m_requant`]).

#[cfg(target_arch = "x86_64")]
use super::super::{x86_avx2_fma, x86_vnni};
#[cfg(target_arch = "x86_64")]
use super::m_requant8;
use super::{avx2_or_portable, m_requant, QIn, QOut, Requant};

/// A quantized 3×3, stride-1 convolution of `C` channels into `K` by integer Winograd
/// F(2×2, 3×3), bit for bit the direct sum's store: `x` is the padded input (`C × (2·TH + 2) ×
/// PW` integers, `PW = 2·TW + 2`, padding the input's zero point), `u` the transformed filter
/// (`[16][K][⌈C/2⌉][2]` `i16`: channels in pairs, zero past `C`), `off`, `mul`, `bias` the
/// direct kernel's per-channel terms for the integers as they are, `v` and `m` scratch for one
/// block of `TB` tile rows, transformed (`[16][⌈C/2⌉][BS][2]` `i16`) and multiplied
/// (`[16][K][BS]` `i32`), `BS` being `TB·TW` rounded up to 8, and `y` the output (`K × OH ×
/// OW`, the tiles past it cropped), `y = store((Σ x·w + off) · mul + bias)` as `rq` says. The
/// last block overlaps the one before rather than run short (its tiles are computed twice,
/// with the same results). The transforms and products take AVX2 where the x86-64 CPU has it.
#[allow(clippy::too_many_arguments)]
fn k_qwino<
    X: QIn,
    Y: QOut,
    const C: usize,
    const K: usize,
    const TH: usize,
    const TW: usize,
    const TB: usize,
    const BS: usize,
    const PW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[X],
    u: &[i16],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    v: &mut [i16],
    m: &mut [i32],
    y: &mut [Y],
    rq: Requant,
) {
    const {
        assert!(TB >= 1 && TB <= TH && PW == 2 * TW + 2, "blocks of 1..=TH tile rows, PW = 2·TW + 2");
        assert!(BS == (TB * TW).next_multiple_of(8), "BS is TB·TW rounded up to 8");
    };
    let (cp, bs) = (C.div_ceil(2), BS);
    let (x, u) = (&x[..C * (2 * TH + 2) * PW], &u[..16 * K * cp * 2]);
    let (v, m) = (&mut v[..16 * cp * bs * 2], &mut m[..16 * K * bs]);
    let (off, mul, bias, y) = (&off[..K], &mul[..K], &bias[..K], &mut y[..K * OH * OW]);
    let mut next = 0;
    while next < TH {
        let t0 = next.min(TH - TB);
        k_qwino_input::<X, C, TH, TW, TB, PW>(x, t0, v);
        k_qwino_products::<C, K, TW, TB>(u, v, m);
        avx2_or_portable(
            #[inline(always)]
            || k_qwino_out::<Y, K, TW, TB, BS, OH, OW>(m, t0, off, mul, bias, y, rq),
        );
        next = t0 + TB;
    }
}

/// The input transform of tile rows `t0..t0 + TB` into `v` ([`k_qwino`]'s layout):
/// [`k_qwino_in_avx2`] on x86-64 CPUs with AVX2 for 8-bit inputs and rows of at least 8 tiles
/// or of 4 in an even number of rows, else [`k_qwino_in`] (compiled for AVX2 where the CPU has
/// it).
#[inline(always)]
fn k_qwino_input<X: QIn, const C: usize, const TH: usize, const TW: usize, const TB: usize, const PW: usize>(
    x: &[X],
    t0: usize,
    v: &mut [i16],
) {
    #[cfg(target_arch = "x86_64")]
    if (TW >= 8 || TW == 4 && TB.is_multiple_of(2)) && core::mem::size_of::<X>() == 1 && x86_avx2_fma() {
        // SAFETY: the CPU has AVX2; `x` and `v` are as long as `k_qwino` makes them, X is a byte.
        unsafe { k_qwino_in_avx2::<X, C, TH, TW, TB, PW>(x, t0, v) };
        return;
    }
    avx2_or_portable(
        #[inline(always)]
        || k_qwino_in::<X, C, TH, TW, TB, PW>(x, t0, v),
    );
}

/// The input transform of tile rows `t0..t0 + TB`: `v[4a + b][c / 2][(ty - t0)·TW + tx][c % 2]
/// = (Bᵀ d B)[a][b]` of each 4×4 tile `d` of channel `c` of `x` (tiles every 2 pixels), zero
/// for the channel past an odd `C`. The strip's four rows of a channel pair are combined first
/// (`r0 − r2`, `r1 + r2`, `r2 − r1`, `r1 − r3`), then each tile's columns (`d0 − d2`, `d1 + d2`,
/// `d2 − d1`, `d1 − d3`); `|v| ≤ 4 · 255` fits `i16`.
#[inline(always)]
fn k_qwino_in<X: QIn, const C: usize, const TH: usize, const TW: usize, const TB: usize, const PW: usize>(
    x: &[X],
    t0: usize,
    v: &mut [i16],
) {
    let (ph, cp, bs) = (2 * TH + 2, C.div_ceil(2), (TB * TW).next_multiple_of(8));
    let x = &x[..C * ph * PW];
    let v = &mut v[..16 * cp * bs * 2];
    for q in 0..cp {
        for ty in t0..t0 + TB {
            // The strip's rows of the pair, then the rows of Bᵀ d.
            let mut d = [[[0i16; 2]; PW]; 4];
            for (i, d) in d.iter_mut().enumerate() {
                for h in 0..2.min(C - 2 * q) {
                    let r = &x[((2 * q + h) * ph + 2 * ty + i) * PW..][..PW];
                    for (d, r) in d.iter_mut().zip(r) {
                        d[h] = r.wide() as i16;
                    }
                }
            }
            let mut rows = [[[0i16; 2]; PW]; 4];
            for j in 0..PW {
                for h in 0..2 {
                    let (r0, r1, r2, r3) = (d[0][j][h], d[1][j][h], d[2][j][h], d[3][j][h]);
                    rows[0][j][h] = r0 - r2;
                    rows[1][j][h] = r1 + r2;
                    rows[2][j][h] = r2 - r1;
                    rows[3][j][h] = r1 - r3;
                }
            }
            for (a, r) in rows.iter().enumerate() {
                let at = |b: usize| (((4 * a + b) * cp + q) * bs + (ty - t0) * TW) * 2;
                for tx in 0..TW {
                    for h in 0..2 {
                        let (d0, d1, d2, d3) = (r[2 * tx][h], r[2 * tx + 1][h], r[2 * tx + 2][h], r[2 * tx + 3][h]);
                        v[at(0) + 2 * tx + h] = d0 - d2;
                        v[at(1) + 2 * tx + h] = d1 + d2;
                        v[at(2) + 2 * tx + h] = d2 - d1;
                        v[at(3) + 2 * tx + h] = d1 - d3;
                    }
                }
            }
        }
    }
}

/// [`k_qwino_in`] with AVX2, eight tiles of a channel pair at a time (`TW` at least 8, the
/// last eight of a row overlapping the ones before; or `TW` 4, two tile rows of four, `TB`
/// even): each row of the strip is loaded for both channels,
/// interleaved and widened to `i16` (a pixel's pair in a 32-bit lane), split into the tiles'
/// columns `d0..d3` (even and odd pixels), and combined as [`k_qwino_in`] does: the same
/// integers.
///
/// # Safety
/// The CPU has AVX2; `X` is one byte; `TW` is at least 8, or 4 with `TB` even; `x` is `C ×
/// (2·TH + 2) × PW` values and `v` as long as [`k_qwino`] makes it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_qwino_in_avx2<
    X: QIn,
    const C: usize,
    const TH: usize,
    const TW: usize,
    const TB: usize,
    const PW: usize,
>(
    x: &[X],
    t0: usize,
    v: &mut [i16],
) {
    use core::arch::x86_64::*;
    let (ph, cp, bs) = (2 * TH + 2, C.div_ceil(2), (TB * TW).next_multiple_of(8));
    let (x, v) = (x[..C * ph * PW].as_ptr() as *const u8, v[..16 * cp * bs * 2].as_mut_ptr());
    // 16 bytes (two channels' eight pixels interleaved) widened to i16 as the type's values.
    let widen = |b: __m128i| if X::I8 { _mm256_cvtepi8_epi16(b) } else { _mm256_cvtepu8_epi16(b) };
    // The even (or odd) 32-bit lanes of `a` then of `b`.
    let split = |a: __m256i, b: __m256i, odd: bool| {
        let (a, b) = (_mm256_castsi256_ps(a), _mm256_castsi256_ps(b));
        let s = if odd { _mm256_shuffle_ps::<0b11_01_11_01>(a, b) } else { _mm256_shuffle_ps::<0b10_00_10_00>(a, b) };
        _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_castps_si256(s))
    };
    // Rows of four tiles: two tile rows a vector (the block's columns of both are consecutive).
    let pairs = TW < 8;
    for q in 0..cp {
        let mut ty = t0;
        while ty < t0 + TB {
            let mut tx = 0;
            while tx < TW {
                let tx0 = if pairs { 0 } else { tx.min(TW - 8) };
                // SAFETY: rows 2·ty..2·ty + 4 (and, for pairs, the next tile row's) of channels
                // 2q, 2q + 1 (when below C), bytes 2·tx0..2·tx0 + 18 (2..10 for pairs: at most
                // PW), and v's rows at columns (ty - t0)·TW + tx0.. + 8 lie inside the buffers.
                unsafe {
                    // d[i][k]: the k-th column (d0..d3) of the eight tiles in row i of the strip.
                    let mut d = [[_mm256_setzero_si256(); 4]; 4];
                    for (i, d) in d.iter_mut().enumerate() {
                        // Channel 2q + h's pixels from `at` of the eight tiles' row i.
                        let row = |h: usize, at: usize| {
                            let c = 2 * q + h;
                            if c >= C {
                                return _mm_setzero_si128();
                            }
                            let r = x.add((c * ph + 2 * ty + i) * PW + 2 * tx0 + at);
                            if pairs {
                                _mm_unpacklo_epi64(
                                    _mm_loadl_epi64(r as *const _),
                                    _mm_loadl_epi64(r.add(2 * PW) as *const _),
                                )
                            } else {
                                _mm_loadu_si128(r as *const _)
                            }
                        };
                        for (s, at) in [0, 2].into_iter().enumerate() {
                            let (c0, c1) = (row(0, at), row(1, at));
                            let (lo, hi) = (widen(_mm_unpacklo_epi8(c0, c1)), widen(_mm_unpackhi_epi8(c0, c1)));
                            d[2 * s] = split(lo, hi, false);
                            d[2 * s + 1] = split(lo, hi, true);
                        }
                    }
                    let mut rows = [[_mm256_setzero_si256(); 4]; 4];
                    for k in 0..4 {
                        rows[0][k] = _mm256_sub_epi16(d[0][k], d[2][k]);
                        rows[1][k] = _mm256_add_epi16(d[1][k], d[2][k]);
                        rows[2][k] = _mm256_sub_epi16(d[2][k], d[1][k]);
                        rows[3][k] = _mm256_sub_epi16(d[1][k], d[3][k]);
                    }
                    for (a, [d0, d1, d2, d3]) in rows.into_iter().enumerate() {
                        let at =
                            |b: usize| v.add((((4 * a + b) * cp + q) * bs + (ty - t0) * TW + tx0) * 2) as *mut __m256i;
                        _mm256_storeu_si256(at(0), _mm256_sub_epi16(d0, d2));
                        _mm256_storeu_si256(at(1), _mm256_add_epi16(d1, d2));
                        _mm256_storeu_si256(at(2), _mm256_sub_epi16(d2, d1));
                        _mm256_storeu_si256(at(3), _mm256_sub_epi16(d1, d3));
                    }
                }
                tx = if pairs { TW } else { tx0 + 8 };
            }
            ty += if pairs { 2 } else { 1 };
        }
    }
}

/// The 16 products of a block: `m[f][k][n] = Σ_c u[f][k][c] · v[f][c][n]` in wrapping `i32`,
/// for the block's `TB·TW` tiles `n`. On x86-64 CPUs with AVX512-VNNI by
/// [`k_qwino_products_vnni`], else with AVX2 by [`k_qwino_products_avx2`] (`vpmaddwd` on the
/// channel pairs), else [`k_qwino_mm`].
#[inline(always)]
fn k_qwino_products<const C: usize, const K: usize, const TW: usize, const TB: usize>(
    u: &[i16],
    v: &[i16],
    m: &mut [i32],
) {
    let (cp, bs) = (C.div_ceil(2), (TB * TW).next_multiple_of(8));
    let (u, v, m) = (&u[..16 * K * cp * 2], &v[..16 * cp * bs * 2], &mut m[..16 * K * bs]);
    #[cfg(target_arch = "x86_64")]
    if x86_vnni() {
        // SAFETY: the CPU has AVX512-VNNI; the slices are as long as the products read and write.
        unsafe { k_qwino_products_vnni::<C, K, TW, TB>(u, v, m) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if x86_avx2_fma() {
        // SAFETY: the CPU has AVX2; the slices are as long as the products read and write.
        unsafe { k_qwino_products_avx2::<C, K, TW, TB>(u, v, m) };
        return;
    }
    k_qwino_mm::<C, K, TW, TB>(u, v, m);
}

/// The loops of [`k_qwino_products`] without explicit SIMD, for any target.
#[inline(always)]
fn k_qwino_mm<const C: usize, const K: usize, const TW: usize, const TB: usize>(u: &[i16], v: &[i16], m: &mut [i32]) {
    let (cp, bs) = (C.div_ceil(2), (TB * TW).next_multiple_of(8));
    for f in 0..16 {
        for k in 0..K {
            let row = &mut m[(f * K + k) * bs..][..TB * TW];
            row.fill(0);
            for q in 0..cp {
                let (u0, u1) = (u[((f * K + k) * cp + q) * 2] as i32, u[((f * K + k) * cp + q) * 2 + 1] as i32);
                let vq = &v[(f * cp + q) * bs * 2..][..TB * TW * 2];
                for (s, p) in row.iter_mut().zip(vq.chunks_exact(2)) {
                    *s = s.wrapping_add(u0 * p[0] as i32 + u1 * p[1] as i32);
                }
            }
        }
    }
}

/// [`k_qwino_products`] with AVX2: register tiles of 4 rows (single rows past the last multiple
/// of 4) by 16 columns (8 at the end of a row when the padded row length is an odd multiple of
/// 8); per channel pair, each row's two `u` broadcast to every 32-bit lane and `vpmaddwd` with
/// eight tiles' pairs.
///
/// # Safety
/// The CPU has AVX2; `u`, `v` and `m` are as long as [`k_qwino`] makes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_qwino_products_avx2<const C: usize, const K: usize, const TW: usize, const TB: usize>(
    u: &[i16],
    v: &[i16],
    m: &mut [i32],
) {
    // SAFETY: the CPU has AVX2; each tile lies inside the matrices (`k_qwino_panels`).
    unsafe {
        k_qwino_panels::<C, K, TW, TB>(u, v, m, (4, 16), |tile, a, b, y, cp, bs| match tile {
            (4, 16) => k_qwino_tile::<4, 2>(a, b, y, cp, bs),
            (4, _) => k_qwino_tile::<4, 1>(a, b, y, cp, bs),
            (_, 16) => k_qwino_tile::<1, 2>(a, b, y, cp, bs),
            _ => k_qwino_tile::<1, 1>(a, b, y, cp, bs),
        })
    }
}

/// The register tiles of the explicit-SIMD products ([`k_qwino_products_avx2`],
/// [`k_qwino_products_vnni`]): for each of the 16 products, rows of `u` in tiles of `rmax` rows
/// (4, then single rows past the last multiple of `rmax`, 4), columns in tiles of `cmax` (half
/// that, or 8 at the end of a row, `bs` being a multiple of 8); `tile((rows, columns), a, b, y,
/// cp, bs)` computes one from `u`'s rows at `a`, `v`'s columns at `b` into `m` at `y`.
///
/// # Safety
/// `u`, `v` and `m` are as long as [`k_qwino`] makes them, and `tile` may be called on them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn k_qwino_panels<const C: usize, const K: usize, const TW: usize, const TB: usize>(
    u: &[i16],
    v: &[i16],
    m: &mut [i32],
    (rmax, cmax): (usize, usize),
    tile: impl Fn((usize, usize), *const i16, *const i16, *mut i32, usize, usize),
) {
    let (cp, bs) = (C.div_ceil(2), (TB * TW).next_multiple_of(8));
    let (u, v, m) = (u[..16 * K * cp * 2].as_ptr(), v[..16 * cp * bs * 2].as_ptr(), m[..16 * K * bs].as_mut_ptr());
    for f in 0..16 {
        let mut i = 0;
        while i < K {
            let rows = match K - i {
                r if r >= rmax => rmax,
                4.. => 4,
                _ => 1,
            };
            let mut j = 0;
            while j < TB * TW {
                let columns = match bs - j {
                    c if c >= cmax => cmax,
                    c if c >= cmax / 2 => cmax / 2,
                    _ => 8,
                };
                // SAFETY: rows i..i + rows of u[f] and m[f], columns j..j + columns of v[f] and
                // m[f] (at most bs) lie inside them.
                unsafe {
                    let (a, b, y) =
                        (u.add((f * K + i) * cp * 2), v.add((f * cp * bs + j) * 2), m.add((f * K + i) * bs + j));
                    tile((rows, columns), a, b, y, cp, bs);
                }
                j += columns;
            }
            i += rows;
        }
    }
}

/// One tile of [`k_qwino_products_avx2`]: `R` rows of `a` (`[R][cp][2]` `i16`) by `NV` vectors
/// of eight columns of `b` (`[cp][bs][2]`) into `y` (row stride `bs`).
///
/// # Safety
/// The CPU has AVX2; the tile's rows and columns lie inside the matrices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_qwino_tile<const R: usize, const NV: usize>(
    a: *const i16,
    b: *const i16,
    y: *mut i32,
    cp: usize,
    bs: usize,
) {
    use core::arch::x86_64::*;
    // SAFETY: the caller keeps every offset inside its matrix.
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); NV]; R];
        for q in 0..cp {
            let mut bv = [_mm256_setzero_si256(); NV];
            for (n, bv) in bv.iter_mut().enumerate() {
                *bv = _mm256_loadu_si256(b.add((q * bs + 8 * n) * 2) as *const _);
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_epi32((a.add((r * cp + q) * 2) as *const i32).read_unaligned());
                for (acc, &bv) in acc.iter_mut().zip(&bv) {
                    *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(av, bv));
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (n, &sum) in acc.iter().enumerate() {
                _mm256_storeu_si256(y.add(r * bs + 8 * n) as *mut _, sum);
            }
        }
    }
}

/// The output transform of tile rows `t0..t0 + TB` and the store: `y[k]`'s 2×2 block of tile
/// `(ty, tx)` is `store(((Aᵀ M A) >> 2 + off[k]) · mul[k] + bias[k])` ([`m_requant`]), where
/// `M[a][b] = m[4a + b][k][(ty - t0)·TW + tx]` (wrapping `i32`: `Aᵀ M A` is 4 times the direct
/// sum, exact when that fits); blocks past `OH × OW` are cropped. Per channel, the block's four
/// outputs of every tile are computed and stored as four rows of `BS` (all the block's tiles,
/// the padding columns' values unused: [`k_qwino_rows_avx2`] on x86-64 CPUs with AVX2, else
/// [`k_qwino_rows`]), then interleaved into the output's rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn k_qwino_out<
    Y: QOut,
    const K: usize,
    const TW: usize,
    const TB: usize,
    const BS: usize,
    const OH: usize,
    const OW: usize,
>(
    m: &[i32],
    t0: usize,
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let m = &m[..16 * K * BS];
    let y = &mut y[..K * OH * OW];
    let mut out = [[Y::store(0.0, rq); BS]; 4];
    for k in 0..K {
        let terms = (off[k], mul[k], bias[k]);
        #[cfg(target_arch = "x86_64")]
        if x86_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA; `m` holds 16·K·BS sums, BS a multiple of 8.
            unsafe { k_qwino_rows_avx2::<Y, K, BS>(m, k, terms, rq, &mut out) };
        } else {
            k_qwino_rows::<Y, K, BS>(m, k, terms, rq, &mut out);
        }
        #[cfg(not(target_arch = "x86_64"))]
        k_qwino_rows::<Y, K, BS>(m, k, terms, rq, &mut out);
        for ty in t0..(t0 + TB).min(OH.div_ceil(2)) {
            let n0 = (ty - t0) * TW;
            for i in 0..(OH - 2 * ty).min(2) {
                let row = &mut y[(k * OH + 2 * ty + i) * OW..][..OW];
                let (even, odd) = (&out[2 * i][n0..n0 + TW], &out[2 * i + 1][n0..n0 + TW]);
                for t in 0..OW / 2 {
                    row[2 * t] = even[t];
                    row[2 * t + 1] = odd[t];
                }
                if OW % 2 == 1 {
                    row[OW - 1] = even[OW / 2];
                }
            }
        }
    }
}

/// The four outputs of every tile of a block for channel `k`, `out[2i + j][n]` = output `(i,
/// j)` of tile `n` stored as [`k_qwino_out`] says, from the sums `m` (`[16][K][BS]`) and the
/// channel's `(off, mul, bias)`: `Aᵀ M` as two rows of four per tile, then `(Aᵀ M) A` and the
/// shift.
#[inline(always)]
fn k_qwino_rows<Y: QOut, const K: usize, const BS: usize>(
    m: &[i32],
    k: usize,
    (off, mul, bias): (i32, f32, f32),
    rq: Requant,
    out: &mut [[Y; BS]; 4],
) {
    let m = &m[..16 * K * BS];
    let (mut q, mut s) = ([[0i32; BS]; 8], [[0i32; BS]; 4]);
    let p = |a: usize, b: usize| &m[((4 * a + b) * K + k) * BS..][..BS];
    for b in 0..4 {
        let (m0, m1, m2, m3) = (p(0, b), p(1, b), p(2, b), p(3, b));
        for n in 0..BS {
            q[b][n] = m0[n].wrapping_add(m1[n]).wrapping_add(m2[n]);
            q[4 + b][n] = m1[n].wrapping_sub(m2[n]).wrapping_sub(m3[n]);
        }
    }
    for i in 0..2 {
        let (q0, q1, q2, q3) = (&q[4 * i], &q[4 * i + 1], &q[4 * i + 2], &q[4 * i + 3]);
        for n in 0..BS {
            s[2 * i][n] = q0[n].wrapping_add(q1[n]).wrapping_add(q2[n]) >> 2;
            s[2 * i + 1][n] = q1[n].wrapping_sub(q2[n]).wrapping_sub(q3[n]) >> 2;
        }
    }
    for (o, s) in out.iter_mut().zip(&s) {
        for (o, &s) in o.iter_mut().zip(s) {
            *o = m_requant(s, off, mul, bias, rq);
        }
    }
}

include!("qwino_x86.rs");

#[cfg(test)]
#[path = "qwino_tests.rs"]
mod tests;
