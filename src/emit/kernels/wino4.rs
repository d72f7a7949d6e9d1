// Winograd F(4×4, 3×3)'s transforms (Lavin & Gray 2016, section 4.2): `m_bt6` and `m_at6_rows`
// on scalars, the portable input and output transforms `k_wino4_in` and `k_wino4_out`, and, in
// `wino4_x86.rs`, their explicit-SIMD versions for x86-64, which `k_wino` prefers where the CPU
// has them. (`include!`d by the unit tests into the scope of `winograd.rs`, which calls them.)

/// F(4, 3)'s `Bᵀ d` of one column `d` of six values (Lavin & Gray 2016, section 4.2), with the
/// shared terms `d0 − d2`, `d4 − d2`, `d1 − d3`: 14 additions and 5 multiplies, no FMA (the
/// compiler keeps products and sums apart, so every build gives the same results).
#[inline(always)]
fn m_bt6(d: [f32; 6]) -> [f32; 6] {
    m_bt6_by(d, |a, b| a + b, |a, b| a - b, |a, b| a * b, [2.0, 4.0])
}

/// [`m_bt6`] on any lanes: `add`, `sub` and `mul` their operations, `two` and `four` the
/// constants in them; the explicit-SIMD transforms call it with their intrinsics, so that every
/// version computes the same operations in the same order.
#[inline(always)]
fn m_bt6_by<T: Copy>(
    d: [T; 6],
    add: impl Fn(T, T) -> T,
    sub: impl Fn(T, T) -> T,
    mul: impl Fn(T, T) -> T,
    [two, four]: [T; 2],
) -> [T; 6] {
    let [d0, d1, d2, d3, d4, d5] = d;
    let (b, h) = (sub(d4, d2), sub(d1, d3));
    let h2 = mul(two, h);
    [
        add(mul(four, sub(d0, d2)), b),
        sub(add(d3, d4), mul(four, add(d1, d2))),
        add(sub(d4, d3), mul(four, sub(d1, d2))),
        sub(b, h2),
        add(b, h2),
        add(mul(four, h), sub(d5, d3)),
    ]
}

/// F(4, 3)'s `Aᵀ m` of one column `m` of six values into four, in [`m_at6_rows`]' order, on any
/// lanes (as [`m_bt6_by`]; `consts` are 2, 4 and 8 in them): for the explicit-SIMD transforms.
#[inline(always)]
fn m_at6_by<T: Copy>(
    m: [T; 6],
    add: impl Fn(T, T) -> T,
    sub: impl Fn(T, T) -> T,
    mul: impl Fn(T, T) -> T,
    [two, four, eight]: [T; 3],
) -> [T; 4] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let (s12, s34, t12, t34) = (add(m1, m2), add(m3, m4), sub(m1, m2), sub(m3, m4));
    [add(add(m0, s12), s34), add(t12, mul(two, t34)), add(s12, mul(four, s34)), add(add(t12, mul(eight, t34)), m5)]
}

/// F(4, 3)'s `Aᵀ m` of `N` columns `m` of six values into four: 10 additions and 3 multiplies
/// a column, one operation over all columns at a time, so that the compiler vectorizes along
/// the columns (written column by column, a fully unrolled loop, the AVX-512 vectorizer of a
/// `-C target-cpu=native` build packed each column's six inputs into gathers, and F4 layers
/// ran 2-3× slower than in the plain build).
#[inline(always)]
fn m_at6_rows<const N: usize>(m: [&[f32]; 6]) -> [[f32; N]; 4] {
    use core::array::from_fn;
    let [m0, m1, m2, m3, m4, m5] = m.map(|r| &r[..N]);
    let (s12, s34): ([f32; N], [f32; N]) = (from_fn(|t| m1[t] + m2[t]), from_fn(|t| m3[t] + m4[t]));
    let (t12, t34): ([f32; N], [f32; N]) = (from_fn(|t| m1[t] - m2[t]), from_fn(|t| m3[t] - m4[t]));
    [
        from_fn(|t| m0[t] + s12[t] + s34[t]),
        from_fn(|t| t12[t] + 2.0 * t34[t]),
        from_fn(|t| s12[t] + 4.0 * s34[t]),
        from_fn(|t| t12[t] + 8.0 * t34[t] + m5[t]),
    ]
}

/// F(4, 3)'s input transform of tile rows `t0..t0 + TB`: `v[6a + b][c][(ty − t0)·TW + tx] =
/// (Bᵀ d B)[a][b]` of each 6×6 tile `d` of `x` (`C × (4·TH + 2) × PW`, tiles every 4 pixels).
/// `Bᵀ d` runs along the strip's six whole rows; each of its rows is then split by column
/// modulo 4, so that tile `tx`'s columns are `s0[tx], s1[tx], s2[tx], s3[tx], s0[tx + 1],
/// s1[tx + 1]` and `(Bᵀ d) B` reads consecutive values and vectorizes along the tiles.
#[inline(always)]
fn k_wino4_in<const C: usize, const TH: usize, const TW: usize, const TB: usize, const BT: usize, const PW: usize>(
    x: &[f32],
    t0: usize,
    v: &mut [f32],
) {
    let ph = 4 * TH + 2;
    let x = &x[..C * ph * PW];
    let v = &mut v[..36 * m_wino_vs(C, BT)];
    let mut rows = [[0.0f32; PW]; 6];
    let mut split = [[0.0f32; PW]; 4];
    let mut cols = [[0.0f32; PW]; 6];
    for c in 0..C {
        for ty in t0..t0 + TB {
            let r = |i: usize| &x[(c * ph + 4 * ty + i) * PW..][..PW];
            let (r0, r1, r2, r3, r4, r5) = (r(0), r(1), r(2), r(3), r(4), r(5));
            for j in 0..PW {
                let o = m_bt6([r0[j], r1[j], r2[j], r3[j], r4[j], r5[j]]);
                for (row, o) in rows.iter_mut().zip(o) {
                    row[j] = o;
                }
            }
            for (a, row) in rows.iter().enumerate() {
                for t in 0..TW {
                    for (q, s) in split.iter_mut().enumerate() {
                        s[t] = row[4 * t + q];
                    }
                }
                split[0][TW] = row[4 * TW];
                split[1][TW] = row[4 * TW + 1];
                let [s0, s1, s2, s3] = &split;
                for t in 0..TW {
                    let o = m_bt6([s0[t], s1[t], s2[t], s3[t], s0[t + 1], s1[t + 1]]);
                    for (col, o) in cols.iter_mut().zip(o) {
                        col[t] = o;
                    }
                }
                for (b, col) in cols.iter().enumerate() {
                    let at = (6 * a + b) * m_wino_vs(C, BT) + c * BT + (ty - t0) * TW;
                    v[at..at + TW].copy_from_slice(&col[..TW]);
                }
            }
        }
    }
}

/// F(4, 3)'s output transform of tile rows `t0..t0 + TB`: `y[k]`'s 4×4 block of tile `(ty, tx)`
/// is `Aᵀ M A + bias[k]`, clamped, where `M[a][b] = m[6a + b][k][(ty − t0)·TW + tx]`; blocks
/// past `OH × OW` are cropped.
#[inline(always)]
fn k_wino4_out<const K: usize, const TW: usize, const TB: usize, const BT: usize, const OH: usize, const OW: usize>(
    m: &[f32],
    t0: usize,
    bias: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let m = &m[..36 * K * BT];
    let y = &mut y[..K * OH * OW];
    // q[i][b][t]: (Aᵀ M)[i][b] of tile t.
    let mut q = [[[0.0f32; TW]; 6]; 4];
    for k in 0..K {
        let bk = bias[k];
        for ty in t0..(t0 + TB).min(OH.div_ceil(4)) {
            let p = |a: usize, b: usize| &m[((6 * a + b) * K + k) * BT + (ty - t0) * TW..][..TW];
            for b in 0..6 {
                let o = m_at6_rows::<TW>([p(0, b), p(1, b), p(2, b), p(3, b), p(4, b), p(5, b)]);
                for (qi, o) in q.iter_mut().zip(o) {
                    qi[b] = o;
                }
            }
            // (Aᵀ M) A, the bias and the clamp, row by row of the block; the last tile's
            // columns past OW are cropped.
            for (i, [q0, q1, q2, q3, q4, q5]) in q.iter().enumerate().take((OH - 4 * ty).min(4)) {
                let o = m_at6_rows::<TW>([q0, q1, q2, q3, q4, q5]);
                let row = &mut y[(k * OH + 4 * ty + i) * OW..][..OW];
                for (j, v) in row.iter_mut().enumerate() {
                    *v = m_clamp(o[j % 4][j / 4] + bk, lo, hi);
                }
            }
        }
    }
}

// The x86-64 versions, in this scope as in the generated one.
include!("wino4_x86.rs");

#[cfg(test)]
mod f4_tests {
    /// Values in about [-0.6, 0.7), `n` of them, varied by `seed`.
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * seed) % 101) as f32 * 0.013 - 0.6).collect()
    }

    /// The bits of `v`, so that comparisons tell -0.0 from 0.0 and NaN from NaN.
    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|v| v.to_bits()).collect()
    }

    /// The AVX-512 input transform gives the portable one's tiles bit for bit, in its channel-major
    /// layout: rows of 8 tiles (3 tile rows from row 1: a vector of two halves and one of a half
    /// only), 16 (one row, a vector), 8 by 2 from row 0 (ResNet-8's 32×32 layers), 3 and 17
    /// channels.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_input_transform_matches_the_portable_one() {
        if !super::x86_avx512f() {
            println!("skipped: this CPU has no AVX-512F");
            return;
        }
        fn check<const C: usize, const TW: usize, const TB: usize, const PW: usize, const BT: usize>(t0: usize) {
            const TH: usize = 4;
            let x = values(C * (4 * TH + 2) * PW, 37);
            let (mut want, mut got) = (vec![f32::NAN; 36 * super::m_wino_vs(C, BT)], vec![f32::NAN; 36 * C * BT]);
            super::k_wino4_in::<C, TH, TW, TB, BT, PW>(&x, t0, &mut want);
            // SAFETY: checked above that the CPU has AVX-512F; TW % 8 == 0.
            unsafe { super::k_wino4_in_avx512::<C, TH, TW, TB, BT, PW>(&x, t0, &mut got) };
            // want[f][c][t] (blocks m_wino_vs apart), got[c][f][t].
            let want: Vec<f32> = (0..36 * C * BT).map(|i| want[i / BT / C * super::m_wino_vs(C, BT) + i % (C * BT)]).collect();
            let got: Vec<f32> = (0..36 * C * BT).map(|i| got[((i / BT % C) * 36 + i / BT / C) * BT + i % BT]).collect();
            assert_eq!(bits(&got), bits(&want));
        }
        check::<3, 8, 3, 34, 24>(1);
        check::<3, 16, 1, 66, 16>(3);
        check::<17, 8, 2, 34, 16>(0);
    }

    /// The AVX-512 products from the channel-major layout agree with `k_mm`'s (FMA rounding
    /// apart): 16 output channels (a 16-row tile), 43 (five 8-row tiles and three 1-row ones), 24
    /// tiles (a vector and a masked one), 16 (one vector).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_products_agree_with_k_mm() {
        if !super::x86_avx512f() {
            println!("skipped: this CPU has no AVX-512F");
            return;
        }
        fn check<const C: usize, const K: usize, const BT: usize>() {
            let (u, v) = (values(36 * K * C, 53), values(36 * C * BT, 29));
            let (mut want, mut got) = (vec![f32::NAN; 36 * K * BT], vec![f32::NAN; 36 * K * BT]);
            // k_mm's operands: v[f][c][t] from the channel-major v[c][f][t].
            let vf: Vec<f32> = (0..36 * C * BT).map(|i| v[((i / BT % C) * 36 + i / BT / C) * BT + i % BT]).collect();
            for f in 0..36 {
                let (inf, mf) = (f32::INFINITY, &mut want[f * K * BT..(f + 1) * K * BT]);
                super::k_mm::<K, C, BT, 0, 8, 8>(&u[f * K * C..], &vf[f * C * BT..], &[], mf, -inf, inf);
            }
            // SAFETY: checked above that the CPU has AVX-512F; the buffers are as long as it reads.
            unsafe { super::k_wino4_products_avx512::<C, K, BT>(&u, &v, &mut got) };
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
        }
        check::<5, 16, 24>();
        check::<17, 43, 16>();
    }

    /// The AVX-512 and AVX2 output transforms give the portable one's rows bit for bit, cropped
    /// and clamped three ways (ReLU, none, to [-0.9, 1.1]): 5 tiles a row by 3 tile rows (15
    /// tiles: one masked vector, or two overlapping ones) into 10 × 18 (the block's last tile row
    /// half cropped, the last tile's two last columns), 9 by 2 (18: a vector and a masked one)
    /// from tile row 1 into 11 × 36, 8 by 2 into 32 × 32 (ResNet-8's), 4 by 4 into 16 × 16; 3 and
    /// 17 output channels.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn simd_output_transforms_match_the_portable_one() {
        if !super::x86_avx2_fma() {
            println!("skipped: this CPU has no AVX2 and FMA");
            return;
        }
        fn check<const K: usize, const TW: usize, const TB: usize, const BT: usize, const OH: usize, const OW: usize>(
            t0: usize,
        ) {
            let m = values(36 * K * BT, 37);
            let bias = values(K, 7);
            for (lo, hi) in [(0.0, f32::INFINITY), (f32::NEG_INFINITY, f32::INFINITY), (-0.9, 1.1)] {
                let mut want = vec![f32::NAN; K * OH * OW];
                super::k_wino4_out::<K, TW, TB, BT, OH, OW>(&m, t0, &bias, &mut want, lo, hi);
                assert!(want.contains(&lo) || lo.is_infinite(), "the clamp is exercised");
                let mut got = vec![f32::NAN; K * OH * OW];
                // SAFETY: checked above that the CPU has AVX2 and FMA; 8 <= BT <= 256.
                unsafe { super::k_wino4_out_avx2::<K, TW, TB, BT, OH, OW>(&m, t0, &bias, &mut got, lo, hi) };
                assert_eq!(bits(&got), bits(&want), "AVX2");
                if super::x86_avx512f() {
                    let mut got = vec![f32::NAN; K * OH * OW];
                    // SAFETY: checked that the CPU has AVX-512F; the buffers are as long as it reads.
                    unsafe { super::k_wino4_out_avx512::<K, TW, TB, BT, OH, OW>(&m, t0, &bias, &mut got, lo, hi) };
                    assert_eq!(bits(&got), bits(&want), "AVX-512");
                }
            }
        }
        check::<3, 5, 3, 15, 10, 18>(0);
        check::<17, 9, 2, 18, 11, 36>(1);
        check::<3, 8, 2, 16, 32, 32>(6);
        check::<3, 4, 4, 16, 16, 16>(0);
    }
}
