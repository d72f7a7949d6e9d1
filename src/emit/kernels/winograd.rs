//! Winograd F(2×2, 3×3) convolution (`rules/winograd.rules`): the input transform `Bᵀ d B` and
//! the output transform `Aᵀ M A` as additions and subtractions only, around 16 matrix products
//! on the `k_mm` microkernels, a block of tile rows at a time so that the transformed tiles and
//! the products stay in the cache.

use super::avx2_or_portable;
#[cfg(test)]
use super::{k_mm, m_clamp};

/// A 3×3, stride-1 convolution of `C` channels into `K` by Winograd F(2×2, 3×3): `x` is the
/// padded input (`C × (2·TH + 2) × PW`), `u` the transformed filter (`[16][K][C]`), `v` and `m`
/// scratch for one block of `TB` tile rows, transformed (`[16][C][TB·TW]`) and multiplied
/// (`[16][K][TB·TW]`), `y` the output (`K × OH × OW`, the tiles past it cropped), plus `bias`
/// per channel, clamped to `[lo, hi]`. `BT` is `TB·TW`, the products' column count; `NB4`,
/// `NB1` are `k_mm`'s column blocks for `BT` columns. The last block overlaps the one before
/// rather than run short (its tiles are computed twice, with the same results). The transforms
/// are compiled for AVX2 where the x86-64 CPU has it ([`avx2_or_portable`]).
#[allow(clippy::too_many_arguments)]
fn k_wino<
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
    let mut next = 0;
    while next < TH {
        let t0 = next.min(TH - TB);
        avx2_or_portable(
            #[inline(always)]
            || k_wino_in::<C, TH, TW, TB, BT, PW>(x, t0, v),
        );
        for f in 0..16 {
            let mf = &mut m[f * K * BT..(f + 1) * K * BT];
            k_mm::<K, C, BT, 0, NB4, NB1>(&u[f * K * C..], &v[f * C * BT..], &[], mf, f32::NEG_INFINITY, f32::INFINITY);
        }
        avx2_or_portable(
            #[inline(always)]
            || k_wino_out::<K, TW, TB, BT, OH, OW>(m, t0, bias, y, lo, hi),
        );
        next = t0 + TB;
    }
}

/// The input transform of tile rows `t0..t0 + TB`: `v[4a + b][c][(ty - t0)·TW + tx] =
/// (Bᵀ d B)[a][b]` of each 4×4 tile `d` of `x` (`C × (2·TH + 2) × PW`, tiles every 2 pixels),
/// rows combined first, then columns.
#[inline(always)]
fn k_wino_in<const C: usize, const TH: usize, const TW: usize, const TB: usize, const BT: usize, const PW: usize>(
    x: &[f32],
    t0: usize,
    v: &mut [f32],
) {
    let ph = 2 * TH + 2;
    let x = &x[..C * ph * PW];
    let v = &mut v[..16 * C * BT];
    let mut rows = [[0.0f32; PW]; 4];
    for c in 0..C {
        for ty in t0..t0 + TB {
            let r = |i: usize| &x[(c * ph + 2 * ty + i) * PW..][..PW];
            let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
            // Bᵀ d: the four rows of the tile strip.
            for j in 0..PW {
                rows[0][j] = r0[j] - r2[j];
                rows[1][j] = r1[j] + r2[j];
                rows[2][j] = r2[j] - r1[j];
                rows[3][j] = r1[j] - r3[j];
            }
            // (Bᵀ d) B: the four columns of each tile.
            for (a, row) in rows.iter().enumerate() {
                let at = |b: usize| ((4 * a + b) * C + c) * BT + (ty - t0) * TW;
                for tx in 0..TW {
                    let (d0, d1, d2, d3) = (row[2 * tx], row[2 * tx + 1], row[2 * tx + 2], row[2 * tx + 3]);
                    v[at(0) + tx] = d0 - d2;
                    v[at(1) + tx] = d1 + d2;
                    v[at(2) + tx] = d2 - d1;
                    v[at(3) + tx] = d1 - d3;
                }
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

#[cfg(test)]
mod tests {
    /// The convolution of a 3-channel 5×7 input (pads 1) into 5 channels against the direct
    /// sum, with the transformed filter computed as the rule folds it.
    #[test]
    fn winograd_agrees_with_the_direct_convolution() {
        const C: usize = 3;
        const K: usize = 5;
        const H: usize = 5;
        const W: usize = 7;
        // Output 5×7, tiles 3×4, padded input 8×10.
        const TH: usize = 3;
        const TW: usize = 4;
        const PW: usize = 2 * TW + 2;
        let x: Vec<f32> = (0..C * H * W).map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5).collect();
        let g: Vec<f32> = (0..K * C * 9).map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.5).collect();
        let bias: Vec<f32> = (0..K).map(|k| k as f32 * 0.25 - 0.5).collect();
        let mut padded = vec![0.0f32; C * (2 * TH + 2) * PW];
        for c in 0..C {
            for i in 0..H {
                for j in 0..W {
                    padded[(c * (2 * TH + 2) + i + 1) * PW + j + 1] = x[(c * H + i) * W + j];
                }
            }
        }
        let g64: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        let u: Vec<f32> = crate::winograd::filter_transform(&g64, K, C).into_iter().map(|v| v as f32).collect();
        let (mut v, mut m) = (vec![0.0f32; 16 * C * 2 * TW], vec![0.0f32; 16 * K * 2 * TW]);
        let mut y = vec![f32::NAN; K * H * W];
        super::k_wino::<C, K, TH, TW, 2, { 2 * TW }, PW, H, W, 4, 8>(
            &padded, &u, &bias, &mut v, &mut m, &mut y, -1.0, 1.5,
        );
        for k in 0..K {
            for oy in 0..H {
                for ox in 0..W {
                    let mut s = bias[k] as f64;
                    for c in 0..C {
                        for i in 0..3 {
                            for j in 0..3 {
                                let p = padded[(c * (2 * TH + 2) + oy + i) * PW + ox + j] as f64;
                                s += p * g64[((k * C + c) * 3 + i) * 3 + j];
                            }
                        }
                    }
                    let want = s.clamp(-1.0, 1.5);
                    let got = y[(k * H + oy) * W + ox] as f64;
                    assert!((want - got).abs() < 1e-5, "{k} {oy} {ox}: {want} vs {got}");
                }
            }
        }
    }
}
