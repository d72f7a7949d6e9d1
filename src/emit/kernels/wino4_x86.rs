// Winograd F(4×4, 3×3)'s input and output transforms and products for x86-64 CPUs with AVX-512F,
// and its output transform for those with AVX2 (checked at run time by `k_wino`): explicit
// vectors of 16 (8) tiles of a block, the tiles in the lanes, so that neither build leaves the
// transforms to the auto-vectorizer. Built with `-C target-cpu=native`
// on an AVX-512 CPU, it compiled `k_wino4_in` and `k_wino4_out`'s strided reads and writes into
// gathers, and ResNet-8's 16-channel 32×32 layers ran in 61 µs against 29 in the plain build
// (2026-12-07, Xeon with AVX-512). The arithmetic is `m_bt6` and `m_at6_rows`' on vectors, in
// their order and without FMA, so that the results are the portable ones bit for bit.
// (`include!`d by the unit tests into the scope of `winograd.rs`, through `wino4.rs`.)

/// [`m_bt6`] on vectors of 16 lanes ([`m_bt6_by`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn m_bt6_avx512(d: [core::arch::x86_64::__m512; 6]) -> [core::arch::x86_64::__m512; 6] {
    use core::arch::x86_64::*;
    let consts = [_mm512_set1_ps(2.0), _mm512_set1_ps(4.0)];
    m_bt6_by(d, |a, b| _mm512_add_ps(a, b), |a, b| _mm512_sub_ps(a, b), |a, b| _mm512_mul_ps(a, b), consts)
}

/// [`m_at6_by`] on vectors of 16 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn m_at6_avx512(m: [core::arch::x86_64::__m512; 6]) -> [core::arch::x86_64::__m512; 4] {
    use core::arch::x86_64::*;
    let consts = [_mm512_set1_ps(2.0), _mm512_set1_ps(4.0), _mm512_set1_ps(8.0)];
    m_at6_by(m, |a, b| _mm512_add_ps(a, b), |a, b| _mm512_sub_ps(a, b), |a, b| _mm512_mul_ps(a, b), consts)
}

/// [`k_wino4_in`] with AVX-512F for rows of a multiple of 8 tiles (`TW % 8 == 0`), into the
/// channel-major layout of [`k_wino4_products_avx512`]: `v[c][6a + b][(ty − t0)·TW + tx]`. The
/// block's `BT` tiles 16 at a time, each half of a vector 8 tiles inside one tile row. For each
/// of a tile's six input rows, a half's 34 values are four loads (offsets 0, 16, 2 and 18 from
/// its first tile's left column), from which `vpermt2ps` picks the tiles' columns two at a time
/// (`d0 | d1`, `d2 | d3`, and `d4 | d5` from the loads at 2 and 18), and `vshuff32x4` joins the
/// two halves' eight lanes of a column. Then `Bᵀ d` along the columns and `(Bᵀ d) B` along each
/// row, as [`m_bt6`] computes them, so the values are `k_wino4_in`'s bit for bit. A channel's 36
/// vectors are stored one after the other: in `k_wino4_in`'s layout (`[6a + b][c]`) they were 36
/// strided stores a channel, and the transform ran at half the speed for 16 channels and more.
///
/// # Safety
/// The CPU has AVX-512F; `TW % 8 == 0`; `x` is `C × (4·TH + 2) × PW` values and `v`
/// `36 × C × BT`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn k_wino4_in_avx512<
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
    assert!(TW.is_multiple_of(8), "rows of a multiple of 8 tiles");
    let ph = 4 * TH + 2;
    let (x, v) = (&x[..C * ph * PW], &mut v[..36 * C * BT]);
    let (x, v) = (x.as_ptr(), v.as_mut_ptr());
    // From the 32 values of two vectors, columns 0 and 1 of eight tiles (values 4t and 4t + 1),
    // or columns 2 and 3 (4t + 2, 4t + 3).
    let cols01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    let cols23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    // e[a][k]: (Bᵀ d)[a][k] of a vector's tiles, their row a's column k (declared once: an
    // array this large lives on the stack, and was cleared there for every vector).
    let mut e = [[_mm512_setzero_ps(); 6]; 6];
    for c in 0..C {
        for j0 in (0..BT).step_by(16) {
            // Each half's first input value (its first tile's top-left); a missing second half
            // (BT an odd multiple of 8) reads the first's values and is not stored.
            let at = |h: usize| {
                let j = (j0 + 8 * h).min(BT - 8);
                let (ty, tx) = (t0 + j / TW, j % TW);
                (c * ph + 4 * ty) * PW + 4 * tx
            };
            let (at0, at1) = (at(0), at(1));
            let store = if BT - j0 >= 16 { u16::MAX } else { 0xff };
            // SAFETY: each half's loads reach 4·tx + 34 <= PW (tx + 8 <= TW) in rows 4·ty..4·ty +
            // 6 of channel c; v's rows at columns j0..j0 + 16, masked past BT, lie inside v.
            unsafe {
                for pair in 0..3 {
                    // d[i][h]: columns 2·pair and 2·pair + 1 of the 16 tiles in their row i.
                    let mut d = [[_mm512_setzero_ps(); 2]; 6];
                    for (i, d) in d.iter_mut().enumerate() {
                        let half = |at: usize| {
                            let r = x.add(at + i * PW + if pair == 2 { 2 } else { 0 });
                            let idx = if pair == 0 { cols01 } else { cols23 };
                            _mm512_permutex2var_ps(_mm512_loadu_ps(r), idx, _mm512_loadu_ps(r.add(16)))
                        };
                        let (lo, hi) = (half(at0), half(at1));
                        *d = [_mm512_shuffle_f32x4::<0b01_00_01_00>(lo, hi), _mm512_shuffle_f32x4::<0b11_10_11_10>(lo, hi)];
                    }
                    for h in 0..2 {
                        let col = m_bt6_avx512([d[0][h], d[1][h], d[2][h], d[3][h], d[4][h], d[5][h]]);
                        for (e, col) in e.iter_mut().zip(col) {
                            e[2 * pair + h] = col;
                        }
                    }
                }
                for (a, &e) in e.iter().enumerate() {
                    for (b, t) in m_bt6_avx512(e).into_iter().enumerate() {
                        _mm512_mask_storeu_ps(v.add((36 * c + 6 * a + b) * BT + j0), store, t);
                    }
                }
            }
        }
    }
}

/// [`k_wino4_out`] with AVX-512F, for `BT` at most 256 (`k_wino` calls it only then): per
/// output channel, the block's `BT` tiles 16 at a time (the last ones under a mask), `Aᵀ M` then
/// `(Aᵀ M) A` as [`m_at6_rows`] computes them, bias added and clamped (`max` then `min`, as
/// `m_clamp`); each of the four output rows' columns `o0..o3` interleaved by two rounds of
/// `vpermt2ps` into a row of the block's tiles on the stack, then copied (cropped to `OW`, and
/// to `OH` by rows) into `y`. The same results as `k_wino4_out`, bit for bit.
///
/// # Safety
/// The CPU has AVX-512F; `m` is `36 × K × BT` values, `bias` `K`, `y` `K × OH × OW`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn k_wino4_out_avx512<
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
    use core::arch::x86_64::*;
    const { assert!(BT > 256 || OW <= 4 * TW, "F(4, 3): four output columns a tile") };
    assert!(BT <= 256, "at most 256 tiles a block");
    let (m, y) = (&m[..36 * K * BT], &mut y[..K * OH * OW]);
    let tile_rows = (t0 + TB).min(OH.div_ceil(4)) - t0;
    // Lanes 0..8 of two vectors interleaved (`a[0], b[0], a[1], ...`), or lanes 8..16.
    let (pairs_lo, pairs_hi) = (
        _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23),
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31),
    );
    // Pairs 0..4 of two such vectors interleaved (`a[0], a[1], b[0], b[1], a[2], ...`), or 4..8.
    let (quads_lo, quads_hi) = (
        _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23),
        _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31),
    );
    let (vlo, vhi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
    // The block's four output rows per tile row, tile after tile (4·BT values each).
    let mut rows = [[0f32; 1024]; 4];
    for (k, &bias) in bias[..K].iter().enumerate() {
        let bk = _mm512_set1_ps(bias);
        for c in (0..BT).step_by(16) {
            let mask = (u32::MAX >> (32 - (BT - c).min(16))) as u16;
            // SAFETY: tiles c..c + 16 of m's rows, masked past BT, lie inside m.
            let p = |a: usize, b: usize| unsafe {
                _mm512_maskz_loadu_ps(mask, m.as_ptr().add(((6 * a + b) * K + k) * BT + c))
            };
            // q[i][b]: (Aᵀ M)[i][b] of the 16 tiles.
            let mut q = [[_mm512_setzero_ps(); 6]; 4];
            for b in 0..6 {
                let col = m_at6_avx512([p(0, b), p(1, b), p(2, b), p(3, b), p(4, b), p(5, b)]);
                for (q, col) in q.iter_mut().zip(col) {
                    q[b] = col;
                }
            }
            for (q, row) in q.into_iter().zip(rows.iter_mut()) {
                let o = m_at6_avx512(q).map(|o| _mm512_min_ps(vhi, _mm512_max_ps(vlo, _mm512_add_ps(o, bk))));
                let (lo01, hi01) = (_mm512_permutex2var_ps(o[0], pairs_lo, o[1]), _mm512_permutex2var_ps(o[0], pairs_hi, o[1]));
                let (lo23, hi23) = (_mm512_permutex2var_ps(o[2], pairs_lo, o[3]), _mm512_permutex2var_ps(o[2], pairs_hi, o[3]));
                // SAFETY: values 4c..4c + 64 lie inside the row (c + 16 <= 256).
                unsafe {
                    let r = row.as_mut_ptr().add(4 * c);
                    _mm512_storeu_ps(r, _mm512_permutex2var_ps(lo01, quads_lo, lo23));
                    _mm512_storeu_ps(r.add(16), _mm512_permutex2var_ps(lo01, quads_hi, lo23));
                    _mm512_storeu_ps(r.add(32), _mm512_permutex2var_ps(hi01, quads_lo, hi23));
                    _mm512_storeu_ps(r.add(48), _mm512_permutex2var_ps(hi01, quads_hi, hi23));
                }
            }
        }
        k_wino_crop::<4, 1024, TW, OH, OW>(&rows, k, t0, tile_rows, y);
    }
}

/// The 36 products of a block from [`k_wino4_in_avx512`]'s channel-major layout: `m[f][k][..] =
/// Σ_c u[f][k][c] · v[c][f][..]` (`u` and `m` as [`k_wino_products`] takes and makes them; a
/// channel-major `m` too ran slower, its 16 stores a tile then strided), register tiles of 16
/// rows (of 8 when `K % 16 != 0`, and of 1 for the last `K % 8`) by one vector of 16 tiles
/// (masked past `BT`), the sums over `c` in order in `__m512` by FMA.
///
/// # Safety
/// The CPU has AVX-512F; `u`, `v` and `m` are `36·K·C`, `36·C·BT` and `36·K·BT` long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn k_wino4_products_avx512<const C: usize, const K: usize, const BT: usize>(u: &[f32], v: &[f32], m: &mut [f32]) {
    let (u, v, m) = (&u[..36 * K * C], &v[..36 * C * BT], &mut m[..36 * K * BT]);
    let (u, v, m) = (u.as_ptr(), v.as_ptr(), m.as_mut_ptr());
    for f in 0..36 {
        for j0 in (0..BT).step_by(16) {
            let mask = (u32::MAX >> (32 - (BT - j0).min(16))) as u16;
            let mut k0 = 0;
            while k0 < K {
                // SAFETY: rows k0.. of u[f] and m (16, 8 or 1, at most K − k0), tiles j0..j0 + 16
                // (masked past BT) of v's and m's rows lie inside them.
                unsafe {
                    let (a, b, y) = (u.add((f * K + k0) * C), v.add(f * BT + j0), m.add((f * K + k0) * BT + j0));
                    if K.is_multiple_of(16) {
                        k_wino4_tile::<16, C, BT>(a, b, y, mask);
                        k0 += 16;
                    } else if K - k0 >= 8 {
                        k_wino4_tile::<8, C, BT>(a, b, y, mask);
                        k0 += 8;
                    } else {
                        k_wino4_tile::<1, C, BT>(a, b, y, mask);
                        k0 += 1;
                    }
                }
            }
        }
    }
}

/// One tile of [`k_wino4_products_avx512`]: `R` rows of `a` (`[R][C]`) by one vector of `b`
/// (row `c` at `b[36·BT·c]`) into `y` (row `r` at `y[BT·r]`), lanes past `mask` not read or
/// written.
///
/// # Safety
/// The CPU has AVX-512F; the tile's rows and lanes lie inside the matrices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn k_wino4_tile<const R: usize, const C: usize, const BT: usize>(
    a: *const f32,
    b: *const f32,
    y: *mut f32,
    mask: u16,
) {
    use core::arch::x86_64::*;
    // SAFETY: the caller keeps every offset inside its matrix.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); R];
        for c in 0..C {
            let bv = _mm512_maskz_loadu_ps(mask, b.add(36 * BT * c));
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(r * C + c)), bv, *acc);
            }
        }
        for (r, &acc) in acc.iter().enumerate() {
            _mm512_mask_storeu_ps(y.add(BT * r), mask, acc);
        }
    }
}

/// [`m_at6_by`] on vectors of 8 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn m_at6_avx2(m: [core::arch::x86_64::__m256; 6]) -> [core::arch::x86_64::__m256; 4] {
    use core::arch::x86_64::*;
    let consts = [_mm256_set1_ps(2.0), _mm256_set1_ps(4.0), _mm256_set1_ps(8.0)];
    m_at6_by(m, |a, b| _mm256_add_ps(a, b), |a, b| _mm256_sub_ps(a, b), |a, b| _mm256_mul_ps(a, b), consts)
}

/// [`k_wino4_out`] with AVX2, for `8 <= BT <= 256` (`k_wino` calls it only then): per output
/// channel, the block's tiles 8 at a time (the last eight overlapping the ones before), `Aᵀ M`
/// then `(Aᵀ M) A` as [`m_at6_rows`] computes them, bias added and clamped (`max` then `min`, as
/// `m_clamp`); each output row's columns `o0..o3` interleaved by a 4×4 transpose in each 128-bit
/// half and `vperm2f128` into a row of the block's tiles on the stack, then copied cropped
/// ([`k_wino_crop`]). The same results as `k_wino4_out`, bit for bit.
///
/// # Safety
/// The CPU has AVX2 and FMA; `m` is `36 × K × BT` values, `bias` `K`, `y` `K × OH × OW`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_wino4_out_avx2<
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
    use core::arch::x86_64::*;
    assert!((8..=256).contains(&BT), "8 to 256 tiles a block");
    let (m, y) = (&m[..36 * K * BT], &mut y[..K * OH * OW]);
    let tile_rows = (t0 + TB).min(OH.div_ceil(4)) - t0;
    let (vlo, vhi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
    // The block's four output rows per tile row, tile after tile (4·BT values each).
    let mut rows = [[0f32; 1024]; 4];
    for (k, &bias) in bias[..K].iter().enumerate() {
        let bk = _mm256_set1_ps(bias);
        let mut c = 0;
        while c < BT {
            let c0 = c.min(BT - 8);
            // SAFETY: tiles c0..c0 + 8 of m's rows lie inside m.
            let p = |a: usize, b: usize| unsafe { _mm256_loadu_ps(m.as_ptr().add(((6 * a + b) * K + k) * BT + c0)) };
            // q[i][b]: (Aᵀ M)[i][b] of the eight tiles.
            let mut q = [[_mm256_setzero_ps(); 6]; 4];
            for b in 0..6 {
                let col = m_at6_avx2([p(0, b), p(1, b), p(2, b), p(3, b), p(4, b), p(5, b)]);
                for (q, col) in q.iter_mut().zip(col) {
                    q[b] = col;
                }
            }
            for (q, row) in q.into_iter().zip(rows.iter_mut()) {
                let o = m_at6_avx2(q).map(|o| _mm256_min_ps(vhi, _mm256_max_ps(vlo, _mm256_add_ps(o, bk))));
                let (t0, t1) = (_mm256_unpacklo_ps(o[0], o[1]), _mm256_unpackhi_ps(o[0], o[1]));
                let (t2, t3) = (_mm256_unpacklo_ps(o[2], o[3]), _mm256_unpackhi_ps(o[2], o[3]));
                let (lo, hi) = (_mm256_castps_pd, _mm256_castpd_ps);
                // Tiles q | q + 4 for q = 0..4.
                let r0 = hi(_mm256_unpacklo_pd(lo(t0), lo(t2)));
                let r1 = hi(_mm256_unpackhi_pd(lo(t0), lo(t2)));
                let r2 = hi(_mm256_unpacklo_pd(lo(t1), lo(t3)));
                let r3 = hi(_mm256_unpackhi_pd(lo(t1), lo(t3)));
                // SAFETY: values 4·c0..4·c0 + 32 lie inside the row (c0 + 8 <= BT <= 256).
                unsafe {
                    let r = row.as_mut_ptr().add(4 * c0);
                    _mm256_storeu_ps(r, _mm256_permute2f128_ps::<0x20>(r0, r1));
                    _mm256_storeu_ps(r.add(8), _mm256_permute2f128_ps::<0x20>(r2, r3));
                    _mm256_storeu_ps(r.add(16), _mm256_permute2f128_ps::<0x31>(r0, r1));
                    _mm256_storeu_ps(r.add(24), _mm256_permute2f128_ps::<0x31>(r2, r3));
                }
            }
            c = c0 + 8;
        }
        k_wino_crop::<4, 1024, TW, OH, OW>(&rows, k, t0, tile_rows, y);
    }
}
