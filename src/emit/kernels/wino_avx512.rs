// The Winograd F(2×2, 3×3) output and input transforms for x86-64 CPUs with AVX-512F (checked
// at run time by `k_wino`): explicit vectors along a block's tiles, so that neither build
// leaves the output transform to the auto-vectorizer (with `-C target-cpu=native` on an AVX-512
// CPU it compiled `k_wino_out`'s interleaved stores into gathers and scatters, and ResNet-8's
// Winograd layers ran 1.2-2.7× slower than in the plain build).
// (`include!`d by the unit tests into the scope of `winograd.rs`, which calls it.)

/// [`k_wino_out`] with AVX-512F, for F(2×2, 3×3) (`M` 2) and `BT` at most 256 (`k_wino` calls
/// it only then; the other instantiations exist but are never called, so the shape check
/// applies to these only, and a wrong call stops at the first line): per output channel, the block's `BT` tiles
/// 16 at a time (the last ones under a mask), `Aᵀ M` then `(Aᵀ M) A` on vectors in
/// `k_wino_out`'s order of additions, bias added and clamped, each output row's even and odd
/// columns interleaved by a permutation into a row of the block's tiles on the stack, then
/// copied (cropped to `OW`) into `y`'s rows. The same results, bit for bit.
///
/// # Safety
/// The CPU has AVX-512F; `m` is `16 × K × BT` values, `bias` `K`, `y` `K × OH × OW`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn k_wino_out_avx512<
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
    use core::arch::x86_64::*;
    const { assert!(M != 2 || BT > 256 || OW <= 2 * TW, "F(2, 3): two output columns a tile") };
    assert!(M == 2 && BT <= 256, "F(2, 3), at most 256 tiles a block");
    let (m, y) = (&m[..16 * K * BT], &mut y[..K * OH * OW]);
    let tile_rows = (t0 + TB).min(OH.div_ceil(2)) - t0;
    // Lanes 0..8 of `even` and `odd` interleaved (`even[0], odd[0], even[1], ...`), then 8..16.
    let (first, second) = (
        _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23),
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31),
    );
    let (vlo, vhi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
    // The block's two output rows per tile row, tile after tile (2·BT values each).
    let mut rows = [[0f32; 512]; 2];
    for (k, &bias) in bias[..K].iter().enumerate() {
        let b = _mm512_set1_ps(bias);
        for c in (0..BT).step_by(16) {
            let mask = (u32::MAX >> (32 - (BT - c).min(16))) as u16;
            // SAFETY: tiles c..c + 16 of m's rows, masked past BT, lie inside m.
            let p = |a: usize, b: usize| unsafe {
                _mm512_maskz_loadu_ps(mask, m.as_ptr().add(((4 * a + b) * K + k) * BT + c))
            };
            // Aᵀ M: two rows of four per tile.
            let mut q = [_mm512_setzero_ps(); 8];
            for b in 0..4 {
                let (m0, m1, m2, m3) = (p(0, b), p(1, b), p(2, b), p(3, b));
                q[b] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                q[4 + b] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
            }
            // (Aᵀ M) A, the bias and the clamp.
            for (i, row) in rows.iter_mut().enumerate() {
                let (q0, q1, q2, q3) = (q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]);
                let even = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(q0, q1), q2), b);
                let odd = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(q1, q2), q3), b);
                let even = _mm512_min_ps(vhi, _mm512_max_ps(vlo, even));
                let odd = _mm512_min_ps(vhi, _mm512_max_ps(vlo, odd));
                // SAFETY: values 2c..2c + 32 lie inside the row (2·BT is at most 512).
                unsafe {
                    _mm512_storeu_ps(row.as_mut_ptr().add(2 * c), _mm512_permutex2var_ps(even, first, odd));
                    _mm512_storeu_ps(row.as_mut_ptr().add(2 * c + 16), _mm512_permutex2var_ps(even, second, odd));
                }
            }
        }
        k_wino_crop::<2, 512, TW, OH, OW>(&rows, k, t0, tile_rows, y);
    }
}

/// Copies the output rows of a block's `tile_rows` tile rows from `t0`, which the AVX-512 output
/// transforms build tile after tile on the stack (`rows[i]`: row `i` of every tile, `M` values a
/// tile, `M·TW` a tile row), into channel `k`'s rows of `y` (`[K][OH][OW]`), cropped to `OW`
/// columns and `OH` rows.
#[inline(always)]
fn k_wino_crop<const M: usize, const N: usize, const TW: usize, const OH: usize, const OW: usize>(
    rows: &[[f32; N]; M],
    k: usize,
    t0: usize,
    tile_rows: usize,
    y: &mut [f32],
) {
    for t in 0..tile_rows {
        let ty = t0 + t;
        for (i, row) in rows.iter().enumerate().take((OH - M * ty).min(M)) {
            let at = (k * OH + M * ty + i) * OW;
            y[at..at + OW].copy_from_slice(&row[M * TW * t..M * TW * t + OW]);
        }
    }
}

/// [`k_wino_in`] with AVX-512F for rows of a multiple of 8 tiles (`TW % 8 == 0`): the block's
/// `BT` tiles 16 at a time, each half of a vector (8 tiles inside one tile row) loaded from its
/// four input rows (15 values under a mask, at offsets 0 to 3 for the tiles' columns `d0..d3`)
/// and the halves merged by `vpermt2ps` picking the even values; then combined in
/// `k_wino_in`'s order, so the results are the same bit for bit.
///
/// # Safety
/// The CPU has AVX-512F; `TW % 8 == 0`; `x` is `C × (2·TH + 2) × PW` values and `v`
/// `16 × C × BT`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn k_wino_in_avx512<
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
    let (x, v) = (&x[..C * ph * PW], &mut v[..16 * m_wino_vs(C, BT)]);
    let (x, v) = (x.as_ptr(), v.as_mut_ptr());
    // Lane l takes value 2l of the first half's row, lane 8 + l value 2l of the second's.
    let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for c in 0..C {
        for j0 in (0..BT).step_by(16) {
            // Each half's first input value (tile (ty, tx)'s top-left) and its load mask.
            let (mut at, mut masks) = ([0usize; 2], [0u16; 2]);
            for h in 0..2 {
                let j = j0 + 8 * h;
                if j < BT {
                    let (ty, tx) = (t0 + j / TW, j % TW);
                    (at[h], masks[h]) = ((c * ph + 2 * ty) * PW + 2 * tx, 0x7fff);
                }
            }
            let store = if BT - j0 >= 16 { u16::MAX } else { 0xff };
            // SAFETY: each half's 15 values from its tiles' top-left, at offsets 0..4 of its
            // four rows, lie inside x (tx + 8 <= TW, PW = 2·TW + 2); v's rows at columns
            // j0..j0 + 16, masked past BT, lie inside v.
            unsafe {
                // d[i][k]: the k-th column (d0..d3) of the 16 tiles in row i of the strip.
                let mut d = [[_mm512_setzero_ps(); 4]; 4];
                for (i, d) in d.iter_mut().enumerate() {
                    for (k, d) in d.iter_mut().enumerate() {
                        let first = _mm512_maskz_loadu_ps(masks[0], x.add(at[0] + i * PW + k));
                        let second = _mm512_maskz_loadu_ps(masks[1], x.add(at[1] + i * PW + k));
                        *d = _mm512_permutex2var_ps(first, evens, second);
                    }
                }
                // Bᵀ d: rows r0 − r2, r1 + r2, r2 − r1, r1 − r3, for each column.
                let mut rows = [[_mm512_setzero_ps(); 4]; 4];
                for k in 0..4 {
                    rows[0][k] = _mm512_sub_ps(d[0][k], d[2][k]);
                    rows[1][k] = _mm512_add_ps(d[1][k], d[2][k]);
                    rows[2][k] = _mm512_sub_ps(d[2][k], d[1][k]);
                    rows[3][k] = _mm512_sub_ps(d[1][k], d[3][k]);
                }
                // (Bᵀ d) B: columns d0 − d2, d1 + d2, d2 − d1, d1 − d3.
                for (a, [d0, d1, d2, d3]) in rows.into_iter().enumerate() {
                    let at = |b: usize| v.add((4 * a + b) * m_wino_vs(C, BT) + c * BT + j0);
                    _mm512_mask_storeu_ps(at(0), store, _mm512_sub_ps(d0, d2));
                    _mm512_mask_storeu_ps(at(1), store, _mm512_add_ps(d1, d2));
                    _mm512_mask_storeu_ps(at(2), store, _mm512_sub_ps(d2, d1));
                    _mm512_mask_storeu_ps(at(3), store, _mm512_sub_ps(d1, d3));
                }
            }
        }
    }
}
