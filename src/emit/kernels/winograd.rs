//! Winograd F(2×2, 3×3) and F(4×4, 3×3) convolution (`rules/winograd.rules`, Lavin & Gray
//! 2016): the input transform `Bᵀ d B` and the output transform `Aᵀ M A` (F2: additions and
//! subtractions only; F4: with Lavin & Gray's shared terms, additions and a few multiplies by 2,
//! 4 and 8, `m_bt6` and `m_at6_rows`), around 16 or 36 matrix products on the `k_mm` microkernels,
//! a block of tile rows at a time so that the transformed tiles and the products stay in the
//! cache. F(4×4, 3×3)'s transforms are in `wino4.rs` (portable) and `wino4_x86.rs` (AVX-512);
//! F(2×2, 3×3)'s AVX-512 ones in `wino_avx512.rs`.

use super::avx2_or_portable;
#[cfg(test)]
use super::{k_mm, m_clamp};
#[cfg(target_arch = "x86_64")]
use super::{x86_avx2_fma, x86_avx512f};

/// A 3×3, stride-1 convolution of `C` channels into `K` by Winograd F(M×M, 3×3), `M` 2 or 4,
/// with `P = (M + 2)²` products per tile: `x` is the padded input (`C × (M·TH + 2) × PW`, `PW =
/// M·TW + 2`), `u` the transformed filter (`[P][K][C]`), `v` and `m` scratch for one block of
/// `TB` tile rows, transformed (`[P][C][TB·TW]`, the `P` blocks [`m_wino_vs`] apart, so `v` is
/// `P · m_wino_vs(C, BT)` long) and multiplied (`[P][K][TB·TW]`), `y` the
/// output (`K × OH × OW`, the tiles past it cropped), plus `bias` per channel, clamped to `[lo,
/// hi]`. `BT` is `TB·TW`, the products' column count; `NB4`, `NB1` are `k_mm`'s column blocks
/// for `BT` columns. The last block overlaps the one before rather than run short (its tiles are
/// computed twice, with the same results). The transforms are explicit AVX-512 or AVX2 where the
/// x86-64 CPU has them and the shapes suit them ([`k_wino_input`], [`k_wino_output`]), else
/// portable, compiled for AVX2 where the CPU has it ([`avx2_or_portable`]).
#[allow(clippy::too_many_arguments)]
fn k_wino<
    const M: usize,
    const C: usize,
    const K: usize,
    const TH: usize,
    const TW: usize,
    const TB: usize,
    const BT: usize,
    const PW: usize,
    const OH: usize,
    const OW: usize,
    const NB4: usize,
    const NB1: usize,
>(
    x: &[f32],
    u: &[f32],
    bias: &[f32],
    v: &mut [f32],
    m: &mut [f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    const { assert!(TB >= 1 && TB <= TH && BT == TB * TW, "blocks of 1..=TH tile rows") };
    const { assert!((M == 2 || M == 4) && PW == M * TW + 2, "F(2, 3) or F(4, 3), whole tiles") };
    let mut next = 0;
    while next < TH {
        let t0 = next.min(TH - TB);
        #[cfg(target_arch = "x86_64")]
        if M == 4 && TW.is_multiple_of(8) && BT <= 256 && x86_avx512f() {
            // SAFETY: the CPU has AVX-512F; TW % 8 == 0 and BT <= 256; the buffers are as long as
            // the portable transforms and `k_mm` read and write.
            unsafe {
                k_wino4_in_avx512::<C, TH, TW, TB, BT, PW>(x, t0, v);
                k_wino4_products_avx512::<C, K, BT>(u, v, m);
                k_wino4_out_avx512::<K, TW, TB, BT, OH, OW>(m, t0, bias, y, lo, hi);
            }
            next = t0 + TB;
            continue;
        }
        k_wino_input::<M, C, TH, TW, TB, BT, PW>(x, t0, v);
        k_wino_products::<M, C, K, BT, NB4, NB1>(u, v, m);
        k_wino_output::<M, K, TW, TB, BT, OH, OW>(m, t0, bias, y, lo, hi);
        next = t0 + TB;
    }
}

/// How far apart the `P` blocks of `C × BT` transformed values lie in `k_wino`'s scratch `v`
/// (except in the AVX-512 F4 path's channel-major layout): 16 values (64 bytes) more than a
/// block, so that no two are a multiple of 4 KB apart. Blocks of 64 channels by 16 tiles are 4
/// KB long, and a channel's 16 stores then fell into one set of the L1 cache: the 64-channel
/// 8×8 F2 input transform ran in 18 µs against 7.5 with the gap (AVX-512 Xeon, 2026-12-07).
#[inline(always)]
fn m_wino_vs(c: usize, bt: usize) -> usize {
    c * bt + 16
}

/// The output transform of a block (tile rows `t0..t0 + TB`): on x86-64 CPUs with AVX-512F and
/// for at most 256 tiles a block, [`k_wino_out_avx512`] (F2) or [`k_wino4_out_avx512`] (F4);
/// for F4 on those with AVX2 and 8 to 256 tiles a block, [`k_wino4_out_avx2`]; else
/// [`k_wino_out`] or [`k_wino4_out`], compiled for AVX2 where the CPU has it.
#[inline(always)]
fn k_wino_output<
    const M: usize,
    const K: usize,
    const TW: usize,
    const TB: usize,
    const BT: usize,
    const OH: usize,
    const OW: usize,
>(
    m: &[f32],
    t0: usize,
    bias: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    #[cfg(target_arch = "x86_64")]
    if BT <= 256 && x86_avx512f() {
        // SAFETY: the CPU has AVX-512F; `m`, `bias` and `y` are as long as `k_wino_out` and
        // `k_wino4_out` read and write.
        unsafe {
            if M == 2 {
                k_wino_out_avx512::<M, K, TW, TB, BT, OH, OW>(m, t0, bias, y, lo, hi)
            } else {
                k_wino4_out_avx512::<K, TW, TB, BT, OH, OW>(m, t0, bias, y, lo, hi)
            }
        };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if M == 4 && (8..=256).contains(&BT) && x86_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA; 8 <= BT <= 256; the buffers are as long as `k_wino4_out` reads and writes.
        unsafe { k_wino4_out_avx2::<K, TW, TB, BT, OH, OW>(m, t0, bias, y, lo, hi) };
        return;
    }
    avx2_or_portable(
        #[inline(always)]
        || {
            if M == 2 {
                k_wino_out::<K, TW, TB, BT, OH, OW>(m, t0, bias, y, lo, hi)
            } else {
                k_wino4_out::<K, TW, TB, BT, OH, OW>(m, t0, bias, y, lo, hi)
            }
        },
    );
}

/// The input transform of a block (tile rows `t0..t0 + TB`). F2: [`k_wino_in_avx512`] on x86-64
/// CPUs with AVX-512F for rows of a multiple of 8 tiles, else [`k_wino_in_avx2`] on those with
/// AVX2 for rows of at least 8 tiles, else [`k_wino_in`]; F4 (where `k_wino` does not take
/// [`k_wino4_in_avx512`] itself): [`k_wino4_in`]; the portable ones compiled for AVX2 where the
/// CPU has it. (An explicit AVX2 F4 input transform, 4×4 transposes in the 128-bit halves of
/// paired loads, ran slower than the portable one compiled for AVX2: 12.1-13.4 µs against 10.5
/// for ResNet-8's 16-channel 32×32 layer, on the AVX-512 Xeon with AVX2 forced, 2026-12-07.)
#[inline(always)]
fn k_wino_input<
    const M: usize,
    const C: usize,
    const TH: usize,
    const TW: usize,
    const TB: usize,
    const BT: usize,
    const PW: usize,
>(
    x: &[f32],
    t0: usize,
    v: &mut [f32],
) {
    if M == 4 {
        avx2_or_portable(
            #[inline(always)]
            || k_wino4_in::<C, TH, TW, TB, BT, PW>(x, t0, v),
        );
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if TW.is_multiple_of(8) && x86_avx512f() {
        // SAFETY: the CPU has AVX-512F; `x` and `v` are as long as `k_wino_in` makes them.
        unsafe { k_wino_in_avx512::<C, TH, TW, TB, BT, PW>(x, t0, v) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if TW >= 8 && x86_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA; `x` and `v` are as long as `k_wino_in` makes them.
        unsafe {
            k_wino_in_avx2::<C, TH, TW, TB, BT, PW>(&x[..C * (2 * TH + 2) * PW], t0, &mut v[..16 * m_wino_vs(C, BT)])
        };
        return;
    }
    avx2_or_portable(
        #[inline(always)]
        || k_wino_in::<C, TH, TW, TB, BT, PW>(x, t0, v),
    );
}

/// The `P = (M + 2)²` products of a block: `m[f] = u[f] · v[f]` (`[K][C]` by `[C][BT]`). On
/// x86-64 CPUs with AVX2 and FMA, and for `K` a multiple of 4 and `BT` of 8, all in one call of
/// [`k_wino_products_avx2`] (the products are small: 16 calls of `k_mm` a block spent a large
/// share of their time in each call's setup and in its 3- and 1-row tiles); else on `k_mm`
/// (its AVX-512 tiles where the CPU has them: 16 rows by 16 columns).
#[inline(always)]
fn k_wino_products<
    const M: usize,
    const C: usize,
    const K: usize,
    const BT: usize,
    const NB4: usize,
    const NB1: usize,
>(
    u: &[f32],
    v: &[f32],
    m: &mut [f32],
) {
    let p = (M + 2) * (M + 2);
    let (u, v, m) = (&u[..p * K * C], &v[..p * m_wino_vs(C, BT)], &mut m[..p * K * BT]);
    #[cfg(target_arch = "x86_64")]
    if K.is_multiple_of(4) && BT.is_multiple_of(8) && x86_avx2_fma() && !x86_avx512f() {
        // SAFETY: the CPU has AVX2 and FMA; the slices are as long as the products read and write.
        unsafe { k_wino_products_avx2::<C, K, BT>(p, u, v, m) };
        return;
    }
    for f in 0..p {
        let mf = &mut m[f * K * BT..(f + 1) * K * BT];
        k_mm::<K, C, BT, 0, NB4, NB1>(
            &u[f * K * C..],
            &v[f * m_wino_vs(C, BT)..],
            &[],
            mf,
            f32::NEG_INFINITY,
            f32::INFINITY,
        );
    }
}

/// [`k_wino_products`] with AVX2 and FMA: register tiles of 4 rows by 16 columns (8 at the
/// end of a row when `BT` is an odd multiple of 8), the sums in eight (or four) `__m256`.
///
/// # Safety
/// The CPU has AVX2 and FMA; `K % 4 == 0`, `BT % 8 == 0`; `u`, `v` and `m` are `p·K·C`,
/// `p·C·BT` and `p·K·BT` long (`p` products).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_wino_products_avx2<const C: usize, const K: usize, const BT: usize>(
    p: usize,
    u: &[f32],
    v: &[f32],
    m: &mut [f32],
) {
    let (u, v, m) = (u.as_ptr(), v.as_ptr(), m.as_mut_ptr());
    for f in 0..p {
        for i in (0..K).step_by(4) {
            let mut j = 0;
            while j < BT {
                // SAFETY: rows i..i + 4 of u[f] and m[f], columns j..j + 16 (or + 8) of v[f] and
                // m[f] lie inside them.
                unsafe {
                    let (a, b, y) =
                        (u.add((f * K + i) * C), v.add(f * m_wino_vs(C, BT) + j), m.add((f * K + i) * BT + j));
                    if j + 16 <= BT {
                        k_wino_tile::<2, C, BT>(a, b, y);
                        j += 16;
                    } else {
                        k_wino_tile::<1, C, BT>(a, b, y);
                        j += 8;
                    }
                }
            }
        }
    }
}

/// One tile of [`k_wino_products_avx2`]: 4 rows of `a` (`[4][C]`) by `NV` vectors of eight
/// columns of `b` (row stride `BT`) into `y` (row stride `BT`).
///
/// # Safety
/// The CPU has AVX2 and FMA; the tile's rows and columns lie inside the matrices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_wino_tile<const NV: usize, const C: usize, const BT: usize>(a: *const f32, b: *const f32, y: *mut f32) {
    use core::arch::x86_64::*;
    // SAFETY: the caller keeps every offset inside its matrix.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); NV]; 4];
        for k in 0..C {
            let mut bv = [_mm256_setzero_ps(); NV];
            for (n, bv) in bv.iter_mut().enumerate() {
                *bv = _mm256_loadu_ps(b.add(k * BT + 8 * n));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(*a.add(r * C + k));
                for (acc, &bv) in acc.iter_mut().zip(&bv) {
                    *acc = _mm256_fmadd_ps(av, bv, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (n, &sum) in acc.iter().enumerate() {
                _mm256_storeu_ps(y.add(r * BT + 8 * n), sum);
            }
        }
    }
}

/// The input transform of tile rows `t0..t0 + TB`: `v[4a + b][c][(ty - t0)·TW + tx] =
/// (Bᵀ d B)[a][b]` of each 4×4 tile `d` of `x` (`C × (2·TH + 2) × PW`, tiles every 2 pixels).
/// The strip's four rows are split into their even and odd columns first, so that both
/// combinations (rows, then each tile's columns `d0 − d2`, `d1 + d2`, `d2 − d1`, `d1 − d3`)
/// read consecutive values and vectorize along the tiles.
#[inline(always)]
fn k_wino_in<const C: usize, const TH: usize, const TW: usize, const TB: usize, const BT: usize, const PW: usize>(
    x: &[f32],
    t0: usize,
    v: &mut [f32],
) {
    let ph = 2 * TH + 2;
    let x = &x[..C * ph * PW];
    let v = &mut v[..16 * m_wino_vs(C, BT)];
    // The even and odd columns (TW + 1 of each, as PW is 2·TW + 2) of the strip's four rows,
    // then of the four rows of Bᵀ d.
    let n = TW + 1;
    let mut split = [[[0.0f32; PW]; 2]; 4];
    let mut rows = [[[0.0f32; PW]; 2]; 4];
    for c in 0..C {
        for ty in t0..t0 + TB {
            for (i, s) in split.iter_mut().enumerate() {
                let r = &x[(c * ph + 2 * ty + i) * PW..][..2 * n];
                for j in 0..n {
                    s[0][j] = r[2 * j];
                    s[1][j] = r[2 * j + 1];
                }
            }
            // Bᵀ d on both halves: rows r0 − r2, r1 + r2, r2 − r1, r1 − r3.
            for h in 0..2 {
                let (r0, r1, r2, r3) = (&split[0][h], &split[1][h], &split[2][h], &split[3][h]);
                for j in 0..n {
                    rows[0][h][j] = r0[j] - r2[j];
                    rows[1][h][j] = r1[j] + r2[j];
                    rows[2][h][j] = r2[j] - r1[j];
                    rows[3][h][j] = r1[j] - r3[j];
                }
            }
            // (Bᵀ d) B: tile tx's columns are d0 = even[tx], d1 = odd[tx], d2 = even[tx + 1],
            // d3 = odd[tx + 1].
            for (a, [e, o]) in rows.iter().enumerate() {
                let at = |b: usize| (4 * a + b) * m_wino_vs(C, BT) + c * BT + (ty - t0) * TW;
                for tx in 0..TW {
                    let (d0, d1, d2, d3) = (e[tx], o[tx], e[tx + 1], o[tx + 1]);
                    v[at(0) + tx] = d0 - d2;
                    v[at(1) + tx] = d1 + d2;
                    v[at(2) + tx] = d2 - d1;
                    v[at(3) + tx] = d1 - d3;
                }
            }
        }
    }
}

/// [`k_wino_in`] with AVX2, eight tiles at a time (`TW` at least 8; the last eight overlap
/// the ones before): each of the strip's four rows is loaded as the tiles' columns `d0..d3`
/// (even and odd values split by shuffles), then combined in `k_wino_in`'s order, so the
/// results are the same bit for bit.
///
/// # Safety
/// The CPU has AVX2; `x` is `C × (2·TH + 2) × PW` values and `v` `16 × C × BT`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_wino_in_avx2<
    const C: usize,
    const TH: usize,
    const TW: usize,
    const TB: usize,
    const BT: usize,
    const PW: usize,
>(
    x: &[f32],
    t0: usize,
    v: &mut [f32],
) {
    use core::arch::x86_64::*;
    let ph = 2 * TH + 2;
    let (x, v) = (x.as_ptr(), v.as_mut_ptr());
    // Values 0, 2, 4, 6 of `a` then of `b` (`EVEN`), or 1, 3, 5, 7 of each.
    let split = |a: __m256, b: __m256, odd: bool| {
        let s = if odd { _mm256_shuffle_ps::<0b11_01_11_01>(a, b) } else { _mm256_shuffle_ps::<0b10_00_10_00>(a, b) };
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(s)))
    };
    for c in 0..C {
        for ty in t0..t0 + TB {
            let mut tx = 0;
            while tx < TW {
                let tx0 = tx.min(TW - 8);
                // SAFETY: rows 2·ty..2·ty + 4 of channel c, values 2·tx0..2·tx0 + 18 (at most PW),
                // and v's rows at columns (ty - t0)·TW + tx0.. + 8 lie inside the buffers.
                unsafe {
                    // d[i][k]: the k-th column (d0..d3) of the eight tiles in row i of the strip.
                    let mut d = [[_mm256_setzero_ps(); 4]; 4];
                    for (i, d) in d.iter_mut().enumerate() {
                        let r = x.add((c * ph + 2 * ty + i) * PW + 2 * tx0);
                        let (a, b) = (_mm256_loadu_ps(r), _mm256_loadu_ps(r.add(8)));
                        let (a2, b2) = (_mm256_loadu_ps(r.add(2)), _mm256_loadu_ps(r.add(10)));
                        *d = [split(a, b, false), split(a, b, true), split(a2, b2, false), split(a2, b2, true)];
                    }
                    // Bᵀ d: rows r0 − r2, r1 + r2, r2 − r1, r1 − r3, for each column.
                    let mut rows = [[_mm256_setzero_ps(); 4]; 4];
                    for k in 0..4 {
                        rows[0][k] = _mm256_sub_ps(d[0][k], d[2][k]);
                        rows[1][k] = _mm256_add_ps(d[1][k], d[2][k]);
                        rows[2][k] = _mm256_sub_ps(d[2][k], d[1][k]);
                        rows[3][k] = _mm256_sub_ps(d[1][k], d[3][k]);
                    }
                    // (Bᵀ d) B: columns d0 − d2, d1 + d2, d2 − d1, d1 − d3.
                    for (a, [d0, d1, d2, d3]) in rows.into_iter().enumerate() {
                        let at = |b: usize| v.add((4 * a + b) * m_wino_vs(C, BT) + c * BT + (ty - t0) * TW + tx0);
                        _mm256_storeu_ps(at(0), _mm256_sub_ps(d0, d2));
                        _mm256_storeu_ps(at(1), _mm256_add_ps(d1, d2));
                        _mm256_storeu_ps(at(2), _mm256_sub_ps(d2, d1));
                        _mm256_storeu_ps(at(3), _mm256_sub_ps(d1, d3));
                    }
                }
                tx = tx0 + 8;
            }
        }
    }
}

/// The output transform of tile rows `t0..t0 + TB`: `y[k]`'s 2×2 block of tile `(ty, tx)` is
/// `Aᵀ M A + bias[k]`, clamped, where `M[a][b] = m[4a + b][k][(ty - t0)·TW + tx]`; blocks past
/// `OH × OW` are cropped.
#[inline(always)]
fn k_wino_out<const K: usize, const TW: usize, const TB: usize, const BT: usize, const OH: usize, const OW: usize>(
    m: &[f32],
    t0: usize,
    bias: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let m = &m[..16 * K * BT];
    let y = &mut y[..K * OH * OW];
    let mut q = [[0.0f32; TW]; 8];
    for k in 0..K {
        let b = bias[k];
        for ty in t0..(t0 + TB).min(OH.div_ceil(2)) {
            let p = |a: usize, b: usize| &m[((4 * a + b) * K + k) * BT + (ty - t0) * TW..][..TW];
            // Aᵀ M: two rows of four per tile, in q[4i + b].
            for b in 0..4 {
                let (m0, m1, m2, m3) = (p(0, b), p(1, b), p(2, b), p(3, b));
                for t in 0..TW {
                    q[b][t] = m0[t] + m1[t] + m2[t];
                    q[4 + b][t] = m1[t] - m2[t] - m3[t];
                }
            }
            // (Aᵀ M) A, the bias and the clamp, row by row of the block.
            for i in 0..(OH - 2 * ty).min(2) {
                let row = &mut y[(k * OH + 2 * ty + i) * OW..][..OW];
                let (q0, q1, q2, q3) = (&q[4 * i], &q[4 * i + 1], &q[4 * i + 2], &q[4 * i + 3]);
                for t in 0..OW / 2 {
                    row[2 * t] = m_clamp(q0[t] + q1[t] + q2[t] + b, lo, hi);
                    row[2 * t + 1] = m_clamp(q1[t] - q2[t] - q3[t] + b, lo, hi);
                }
                if OW % 2 == 1 {
                    let t = OW / 2;
                    row[2 * t] = m_clamp(q0[t] + q1[t] + q2[t] + b, lo, hi);
                }
            }
        }
    }
}

// The AVX-512 F(2×2, 3×3) transforms and the F(4×4, 3×3) ones `k_wino` calls, in this scope as in
// the generated one.
include!("wino_avx512.rs");
include!("wino4.rs");

#[cfg(test)]
mod tests {
    /// The 16 products on AVX2 agree with `k_mm`'s (FMA rounding apart): 8 rows, 5 inner, 24
    /// columns (a 16-column and an 8-column tile per row block).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_products_agree_with_k_mm() {
        if !super::super::x86_avx2_fma() {
            println!("skipped: this CPU has no AVX2 and FMA");
            return;
        }
        const K: usize = 8;
        const C: usize = 5;
        const BT: usize = 24;
        let u: Vec<f32> = (0..16 * K * C).map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.5).collect();
        let v: Vec<f32> = (0..16 * super::m_wino_vs(C, BT)).map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5).collect();
        let (mut want, mut got) = (vec![f32::NAN; 16 * K * BT], vec![f32::NAN; 16 * K * BT]);
        for f in 0..16 {
            let (inf, mf) = (f32::INFINITY, &mut want[f * K * BT..(f + 1) * K * BT]);
            super::k_mm::<K, C, BT, 0, 8, 8>(&u[f * K * C..], &v[f * super::m_wino_vs(C, BT)..], &[], mf, -inf, inf);
        }
        // SAFETY: checked above that the CPU has AVX2 and FMA; K % 4 == 0, BT % 8 == 0.
        unsafe { super::k_wino_products_avx2::<C, K, BT>(16, &u, &v, &mut got) };
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
    }

    /// The AVX2 input transform gives the portable one's tiles bit for bit: 9 tiles a row (a
    /// block of eight and an overlapping one), 16 (two blocks), two tile rows from row 1.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_input_transform_matches_the_portable_one() {
        if !super::super::x86_avx2_fma() {
            println!("skipped: this CPU has no AVX2 and FMA");
            return;
        }
        fn check<const TW: usize, const PW: usize, const BT: usize>() {
            const C: usize = 3;
            const TH: usize = 4;
            let x: Vec<f32> = (0..C * (2 * TH + 2) * PW).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
            let (mut want, mut got) =
                (vec![0.0; 16 * super::m_wino_vs(C, BT)], vec![0.0; 16 * super::m_wino_vs(C, BT)]);
            super::k_wino_in::<C, TH, TW, 2, BT, PW>(&x, 1, &mut want);
            // SAFETY: checked above that the CPU has AVX2 and FMA; the buffers are as long as it reads.
            unsafe { super::k_wino_in_avx2::<C, TH, TW, 2, BT, PW>(&x, 1, &mut got) };
            assert_eq!(got, want);
        }
        check::<9, 20, 18>();
        check::<16, 34, 32>();
    }

    /// The AVX-512 input transform gives the portable one's tiles bit for bit: rows of 8 tiles
    /// (3 tile rows: a vector of two halves and a masked one), 16 (one row a vector), 24.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_input_transform_matches_the_portable_one() {
        if !super::x86_avx512f() {
            println!("skipped: this CPU has no AVX-512F");
            return;
        }
        fn check<const TW: usize, const TB: usize, const PW: usize, const BT: usize>() {
            const C: usize = 3;
            const TH: usize = 4;
            let x: Vec<f32> = (0..C * (2 * TH + 2) * PW).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
            let (mut want, mut got) =
                (vec![0.0; 16 * super::m_wino_vs(C, BT)], vec![0.0; 16 * super::m_wino_vs(C, BT)]);
            super::k_wino_in::<C, TH, TW, TB, BT, PW>(&x, 1, &mut want);
            // SAFETY: checked above that the CPU has AVX-512F; TW % 8 == 0.
            unsafe { super::k_wino_in_avx512::<C, TH, TW, TB, BT, PW>(&x, 1, &mut got) };
            assert_eq!(got, want);
        }
        check::<8, 3, 18, 24>();
        check::<16, 2, 34, 32>();
        check::<24, 1, 50, 24>();
    }

    /// The AVX-512 output transform gives the portable one's rows bit for bit, cropped: 5
    /// tiles a row by 3 tile rows (15 tiles, one masked vector) into 5 × 9 (odd rows and
    /// columns, the block's last tile row half cropped), 9 by 2 (18 tiles: a whole vector and a
    /// masked one) from tile row 1 into 6 × 18, 16 by 1 into 32 × 32.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_output_transform_matches_the_portable_one() {
        if !super::x86_avx512f() {
            println!("skipped: this CPU has no AVX-512F");
            return;
        }
        fn check<const TW: usize, const TB: usize, const BT: usize, const OH: usize, const OW: usize>(t0: usize) {
            const K: usize = 3;
            let m: Vec<f32> = (0..16 * K * BT).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
            let bias = [0.1, -0.2, 0.05];
            let (mut want, mut got) = (vec![f32::NAN; K * OH * OW], vec![f32::NAN; K * OH * OW]);
            super::k_wino_out::<K, TW, TB, BT, OH, OW>(&m, t0, &bias, &mut want, -0.9, 1.1);
            // SAFETY: checked above that the CPU has AVX-512F; the buffers are as long as it reads.
            unsafe { super::k_wino_out_avx512::<2, K, TW, TB, BT, OH, OW>(&m, t0, &bias, &mut got, -0.9, 1.1) };
            assert!(want.contains(&-0.9) && want.contains(&1.1), "the clamp is exercised");
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
        check::<5, 3, 15, 5, 9>(0);
        check::<9, 2, 18, 6, 18>(1);
        check::<16, 1, 16, 32, 32>(15);
    }

    /// `k_wino::<M, ..>` on a 3-channel `H × W` input (pads 1) into 5 channels, in blocks of two
    /// tile rows, against the direct sum, with the transformed filter computed as the rule folds
    /// it; `TH`, `TW` the tiles, `PW = M·TW + 2`, `BT = 2·TW`, `NB4` and `NB1` `k_mm`'s column
    /// blocks for `BT` columns.
    fn agrees_with_the_direct_convolution<
        const M: usize,
        const H: usize,
        const W: usize,
        const TH: usize,
        const TW: usize,
        const PW: usize,
        const BT: usize,
        const NB4: usize,
        const NB1: usize,
    >(
        size: crate::winograd::Size,
    ) {
        const C: usize = 3;
        const K: usize = 5;
        let (p, ph) = (size.products(), M * TH + 2);
        let x: Vec<f32> = (0..C * H * W).map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5).collect();
        let g: Vec<f32> = (0..K * C * 9).map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.5).collect();
        let bias: Vec<f32> = (0..K).map(|k| k as f32 * 0.25 - 0.5).collect();
        let mut padded = vec![0.0f32; C * ph * PW];
        for c in 0..C {
            for i in 0..H {
                for j in 0..W {
                    padded[(c * ph + i + 1) * PW + j + 1] = x[(c * H + i) * W + j];
                }
            }
        }
        let g64: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        let u: Vec<f32> = crate::winograd::filter_transform(size, &g64, K, C).into_iter().map(|v| v as f32).collect();
        let (mut v, mut m) = (vec![0.0f32; p * super::m_wino_vs(C, BT)], vec![0.0f32; p * K * BT]);
        let mut y = vec![f32::NAN; K * H * W];
        super::k_wino::<M, C, K, TH, TW, 2, BT, PW, H, W, NB4, NB1>(
            &padded, &u, &bias, &mut v, &mut m, &mut y, -1.0, 1.5,
        );
        for k in 0..K {
            for oy in 0..H {
                for ox in 0..W {
                    let mut s = bias[k] as f64;
                    for c in 0..C {
                        for i in 0..3 {
                            for j in 0..3 {
                                let p = padded[(c * ph + oy + i) * PW + ox + j] as f64;
                                s += p * g64[((k * C + c) * 3 + i) * 3 + j];
                            }
                        }
                    }
                    let want = s.clamp(-1.0, 1.5);
                    let got = y[(k * H + oy) * W + ox] as f64;
                    assert!((want - got).abs() < 1e-5, "{size:?} {k} {oy} {ox}: {want} vs {got}");
                }
            }
        }
    }

    /// F2 on a 5×7 input (tiles 3×4, the last row and column cropped).
    #[test]
    fn f2_agrees_with_the_direct_convolution() {
        agrees_with_the_direct_convolution::<2, 5, 7, 3, 4, 10, 8, 4, 8>(crate::winograd::Size::F2);
    }

    /// F4 on a 10×13 input (tiles 3×4: two rows and three columns of the last tiles cropped, and
    /// a last block overlapping the first) and on 8×8 (whole tiles, one block).
    #[test]
    fn f4_agrees_with_the_direct_convolution() {
        agrees_with_the_direct_convolution::<4, 10, 13, 3, 4, 18, 8, 4, 8>(crate::winograd::Size::F4);
        agrees_with_the_direct_convolution::<4, 8, 8, 2, 2, 10, 4, 4, 4>(crate::winograd::Size::F4);
    }
}
