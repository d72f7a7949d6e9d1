//! Tests of the packed integer convolutions (`qpack.rs`): the packing and the kernels against
//! the definition.

use super::super::{QIn, Requant};

/// The packed convolution (VNNI where the CPU has it, and the portable loops) against the
/// definition, on an `i8` input with extremes (-128, 127), an input zero point of 3, weights
/// with -128 and 127, a channel count not a multiple of 4 and `M` not a multiple of 16
/// (`CQ`, `MP`, `OH`, `OW` as the lowering derives them for an `H × W` input).
fn packed_matches_definition<
    const H: usize,
    const W: usize,
    const C: usize,
    const CQ: usize,
    const M: usize,
    const MP: usize,
    const K: usize,
    const S: usize,
    const OH: usize,
    const OW: usize,
>() {
    let x: Vec<i8> = (0..C * H * W)
        .map(|i| match i % 7 {
            0 => -128,
            1 => 127,
            _ => ((i * 37) % 251) as u8 as i8,
        })
        .collect();
    let wt: Vec<i32> = (0..M * C * K * K)
        .map(|i| match i % 5 {
            0 => -128,
            1 => 127,
            _ => ((i * 13) % 255) as i32 - 127,
        })
        .collect();
    // `k_qpack` packs as `k_qconv4` reads (u16 for its AVX2 kernel); the portable and
    // AVX2 kernels, called directly, read u8 and u16.
    let (mut xq, mut narrow, mut wide) =
        (vec![0u8; CQ * H * W * 8], vec![0u8; CQ * H * W * 4], vec![0u8; CQ * H * W * 8]);
    super::k_qpack::<i8, C, H, W, 1, 1, 1, 1, 1>(&x, &mut xq);
    super::k_qpack_as::<i8, C, H, W, 1, 1, 1, 1, 1, false>(&x, &mut narrow);
    super::k_qpack_as::<i8, C, H, W, 1, 1, 1, 1, 1, true>(&x, &mut wide);
    let mut wp = vec![0i8; MP * CQ * K * K * 4];
    let mut off = vec![0i32; MP];
    for m in 0..M {
        for c in 0..C {
            for t in 0..K * K {
                let v = wt[(m * C + c) * K * K + t];
                wp[(((m / 16) * CQ + c / 4) * K * K + t) * 64 + (m % 16) * 4 + c % 4] = v as i8;
                off[m] -= 128 * v + 3 * v;
            }
        }
    }
    // Scales shrinking with the taps keep the outputs spread over the range.
    let fewer = (64.0 / (C * K * K) as f32).min(1.0);
    let mul: Vec<f32> = (0..MP).map(|m| if m < M { (0.0005 + m as f32 * 1e-5) * fewer } else { 0.0 }).collect();
    let bias: Vec<f32> = (0..MP).map(|m| if m < M { m as f32 * 0.5 - 3.0 } else { 0.0 }).collect();
    let rq = Requant { lo: -4.0, hi: 6.0, inv: 20.0, zero: -5.0 };
    let (mut got, mut portable) = (vec![0i8; M * OH * OW], vec![0i8; M * OH * OW]);
    super::k_qconv4::<i8, CQ, H, W, M, MP, OH, OW, K, K, S, S, 1, 1>(&xq, &wp, &off, &mul, &bias, &mut got, rq);
    super::k_qconv4_portable::<i8, CQ, H, W, M, MP, OH, OW, K, K, S, S, 1, 1>(
        &narrow,
        &wp,
        &off,
        &mul,
        &bias,
        &mut portable,
        rq,
    );
    #[cfg(target_arch = "x86_64")]
    if super::super::super::x86_avx2_fma() {
        let mut avx2 = vec![0i8; M * OH * OW];
        // SAFETY: the CPU has AVX2 and FMA; the slices are the kernel's.
        unsafe {
            super::k_qconv4_avx2::<i8, CQ, H, W, M, MP, OH, OW, K, K, S, S, 1, 1>(
                &wide, &wp, &off, &mul, &bias, &mut avx2, rq,
            )
        };
        assert_eq!(avx2, portable, "avx2 {C}x{M} k{K} s{S}");
    }
    // The AVX512-VNNI pixels-in-lanes kernel at both tile widths, where the row holds a tile.
    #[cfg(target_arch = "x86_64")]
    if super::super::super::x86_vnni() && S <= 2 && OW >= 16 {
        let (mut one, mut two) = (vec![0i8; M * OH * OW], vec![0i8; M * OH * OW]);
        // SAFETY: the CPU has AVX512-VNNI; stride 1 or 2, rows of at least 16 (32) outputs;
        // the input is packed as bytes.
        unsafe {
            super::k_qconv4_px512::<i8, CQ, H, W, M, MP, OH, OW, K, K, S, S, 1, 1, 1>(
                &narrow, &wp, &off, &mul, &bias, &mut one, rq,
            );
            assert_eq!(one, portable, "px512 16 {C}x{M} k{K} s{S}");
            if OW >= 32 {
                super::k_qconv4_px512::<i8, CQ, H, W, M, MP, OH, OW, K, K, S, S, 1, 1, 2>(
                    &narrow, &wp, &off, &mul, &bias, &mut two, rq,
                );
                assert_eq!(two, portable, "px512 32 {C}x{M} k{K} s{S}");
            }
        }
    }
    let mut spread = std::collections::BTreeSet::new();
    for m in 0..M {
        for i in 0..OH {
            for j in 0..OW {
                let mut s = 0i32;
                for c in 0..C {
                    for a in 0..K {
                        for b in 0..K {
                            let xv = x[(c * H + i * S + a) * W + j * S + b] as i32;
                            s += (xv - 3) * wt[((m * C + c) * K + a) * K + b];
                        }
                    }
                }
                let want: i8 = super::m_requant(s, 0, mul[m], bias[m], rq);
                let at = (m * OH + i) * OW + j;
                assert_eq!(got[at], want, "{C}x{M} k{K} s{S}: ({m}, {i}, {j})");
                assert_eq!(portable[at], want, "portable {C}x{M} k{K} s{S}: ({m}, {i}, {j})");
                spread.insert(want);
            }
        }
    }
    assert!(spread.len() > 10, "the outputs cover the range: {spread:?}");
}

#[test]
fn packed_convolutions_match_the_definition() {
    packed_matches_definition::<9, 11, 1, 1, 64, 64, 3, 1, 7, 9>();
    packed_matches_definition::<9, 11, 5, 2, 20, 32, 3, 2, 4, 5>();
    packed_matches_definition::<9, 11, 16, 4, 8, 16, 1, 1, 9, 11>();
    packed_matches_definition::<9, 11, 33, 9, 70, 80, 2, 1, 8, 10>();
    // 144 taps of four channels: too many for the channel-blocked tiles to widen on the stack.
    packed_matches_definition::<9, 11, 64, 16, 24, 32, 3, 1, 7, 9>();
    // Rows of 18 and 32 outputs: the pixels-in-lanes kernel's tiles of 16, the last moved left;
    // 8 × 9 × 9 taps by two channels: too many for its stack.
    packed_matches_definition::<6, 20, 13, 4, 22, 32, 3, 1, 4, 18>();
    packed_matches_definition::<4, 34, 16, 4, 16, 16, 3, 1, 2, 32>();
    packed_matches_definition::<11, 30, 32, 8, 4, 16, 9, 1, 3, 22>();
    // VNNI tiles of 8 pixels: 5 blocks of 16 channels (2 + 2 + 1) at stride 2 over rows of 8,
    // 3 blocks over rows of 16.
    packed_matches_definition::<17, 17, 8, 2, 80, 80, 3, 2, 8, 8>();
    packed_matches_definition::<6, 18, 4, 1, 40, 48, 3, 1, 4, 16>();
    // Pixels in lanes at stride 2: VWW's first layer (3 → 8 channels) on rows of 19 (a tile of
    // 16 and one moved left), the input's rows odd, so that a tile's last tap is the input's
    // last value (the load of the 32nd pixel masked off); rows of 34 outputs at stride 1.
    packed_matches_definition::<9, 39, 3, 1, 8, 16, 3, 2, 4, 19>();
    packed_matches_definition::<7, 67, 8, 2, 24, 32, 3, 2, 3, 33>();
    packed_matches_definition::<4, 36, 12, 3, 40, 48, 3, 1, 2, 34>();
}

/// A convolution of one `u8` channel 3 × 4 (stride 2, columns dilated by `D`) with its
/// channel unfolded into one per kernel column (`k_qpack` with `F = 4`, weights
/// `[M][4][3][1]`, the kernel one column wide), and into one per kernel row and column (`R =
/// 3`, a 1×1 convolution), against the same convolution packed plainly.
fn folded_matches_plain<const D: usize, const WO: usize, const OW: usize, const P: usize>() {
    const H: usize = 11;
    const W: usize = 13;
    const M: usize = 24;
    let x: Vec<u8> = (0..H * W).map(|i| ((i * 71) % 256) as u8).collect();
    let wt: Vec<i8> = (0..M * 12).map(|i| ((i * 29) % 256) as u8 as i8).collect();
    let (mut plain, mut folded) = (vec![0u8; H * W * 8], vec![0u8; H * WO * 8]);
    super::k_qpack::<u8, 1, 1, { H * W }, 1, 1, 1, 1, 1>(&x, &mut plain);
    super::k_qpack::<u8, 1, H, W, 4, D, 1, 1, 1>(&x, &mut folded);
    let (mut wp, mut wf) = (vec![0i8; 32 * 12 * 4], vec![0i8; 32 * 3 * 4]);
    for m in 0..M {
        for (t, &v) in wt[m * 12..(m + 1) * 12].iter().enumerate() {
            let (r, k) = (t / 4, t % 4);
            wp[((m / 16) * 12 + t) * 64 + (m % 16) * 4] = v;
            wf[((m / 16) * 3 + r) * 64 + (m % 16) * 4 + k] = v;
        }
    }
    let off = vec![-7i32; 32];
    let mul: Vec<f32> = (0..32).map(|m| 0.002 + m as f32 * 1e-4).collect();
    let bias: Vec<f32> = (0..32).map(|m| m as f32 * 0.25 - 2.0).collect();
    let rq = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 4.0, zero: 100.0 };
    let (mut want, mut got) = (vec![0u8; M * 5 * OW], vec![0u8; M * 5 * OW]);
    super::k_qconv4::<u8, 1, H, W, M, 32, 5, OW, 3, 4, 2, 2, 1, D>(&plain, &wp, &off, &mul, &bias, &mut want, rq);
    super::k_qconv4::<u8, 1, H, WO, M, 32, 5, OW, 3, 1, 2, 2, 1, 1>(&folded, &wf, &off, &mul, &bias, &mut got, rq);
    assert_eq!(got, want, "dilation {D}");
    // Rows unfolded too, at stride 2: a 1×1 convolution on 12 channels (3 groups of four)
    // over the P = 5 × OW output pixels as one row, the weights in their order.
    let mut unfolded = vec![0u8; 3 * H * WO * 8];
    super::k_qpack::<u8, 1, H, W, 4, D, 2, 3, 1>(&x, &mut unfolded);
    let mut wu = vec![0i8; 32 * 3 * 4];
    for m in 0..M {
        for (c, &v) in wt[m * 12..(m + 1) * 12].iter().enumerate() {
            wu[((m / 16) * 3 + c / 4) * 64 + (m % 16) * 4 + c % 4] = v;
        }
    }
    let mut pointwise = vec![0u8; M * 5 * OW];
    super::k_qconv4::<u8, 3, 1, P, M, 32, 1, P, 1, 1, 1, 1, 1, 1>(
        &unfolded,
        &wu,
        &off,
        &mul,
        &bias,
        &mut pointwise,
        rq,
    );
    assert_eq!(pointwise, want, "rows unfolded, dilation {D}");
    assert!(want.iter().collect::<std::collections::BTreeSet<_>>().len() > 10, "the outputs cover the range");
}

/// Four rows interleaved (one missing) against the definition, for every row length from 1
/// to 40 (sixteen-pixel blocks, eight-pixel blocks, overlapping last blocks, scalar rows),
/// `i8` (offset by 128) and `u8`, as bytes and as `u16`.
#[test]
fn packed_rows_of_any_length_match_the_definition() {
    fn check<X: QIn, const WIDE: bool>(n: usize, make: fn(usize) -> X) {
        let rows: Vec<Vec<X>> = (0..3).map(|j| (0..n).map(|i| make(i * 3 + j * 101)).collect()).collect();
        let size = if WIDE { 2 } else { 1 };
        let mut dst = vec![0xa5u8; n * 4 * size];
        super::k_qpack_row::<X, 1, WIDE>(&[Some(&rows[0]), None, Some(&rows[1]), Some(&rows[2])], &mut dst);
        for (j, r) in [Some(0), None, Some(1), Some(2)].into_iter().enumerate() {
            let want: Vec<u16> = (0..n).map(|i| r.map_or(0, |r: usize| (rows[r][i].wide() + X::BIAS) as u16)).collect();
            for (i, &want) in want.iter().enumerate() {
                let at = (4 * i + j) * size;
                let got = if WIDE { u16::from_le_bytes([dst[at], dst[at + 1]]) } else { dst[at] as u16 };
                assert_eq!(got, want, "n {n} pixel {i} row {j} wide {WIDE}");
            }
        }
    }
    for n in 1..=40 {
        check::<i8, false>(n, |v| (v * 37) as u8 as i8);
        check::<i8, true>(n, |v| (v * 37) as u8 as i8);
        check::<u8, false>(n, |v| (v * 53) as u8);
        check::<u8, true>(n, |v| (v * 53) as u8);
    }
}

/// Every second row and column packed (a 1×1 convolution at stride 2: 5 channels of 9 × `W`
/// into 5 × `WO` pixels) against the same pixels taken out first and packed plainly, as bytes
/// and as `u16`.
fn strided_matches_subsampled<const W: usize, const WO: usize, const P: usize>() {
    const H: usize = 9;
    let x: Vec<i8> = (0..5 * H * W).map(|i| ((i * 67) % 256) as u8 as i8).collect();
    let sub: Vec<i8> = (0..5 * P).map(|i| x[((i / P) * H + (i % P / WO) * 2) * W + (i % WO) * 2]).collect();
    let (mut want, mut got) = (vec![0u8; 2 * P * 8], vec![1u8; 2 * P * 8]);
    super::k_qpack_as::<i8, 5, 1, P, 1, 1, 1, 1, 1, false>(&sub, &mut want);
    super::k_qpack_as::<i8, 5, H, W, 1, 1, 2, 1, 1, false>(&x, &mut got);
    assert_eq!(got[..2 * P * 4], want[..2 * P * 4], "bytes, W {W}");
    super::k_qpack_as::<i8, 5, 1, P, 1, 1, 1, 1, 1, true>(&sub, &mut want);
    super::k_qpack_as::<i8, 5, H, W, 1, 1, 2, 1, 1, true>(&x, &mut got);
    assert_eq!(got, want, "u16, W {W}");
}

/// Strided packing on rows too short for SSE2, rows of blocks of 8 and of 16 (the last
/// overlapping), and an odd `W` (the last row one value short of `2·WO`: scalar).
#[test]
fn strided_packing_matches_the_subsampled_input() {
    strided_matches_subsampled::<12, 6, 30>();
    strided_matches_subsampled::<18, 9, 45>();
    strided_matches_subsampled::<40, 20, 100>();
    strided_matches_subsampled::<33, 17, 85>();
}

#[test]
fn folded_columns_match_the_plain_packing() {
    folded_matches_plain::<1, 10, 5, 25>();
    folded_matches_plain::<2, 7, 4, 20>();
}

/// A 1×1 convolution of `C` channels into `M` over `P` pixels as one row (the lowering's
/// pointwise form), `u8` input with its extremes, weights with -128 and 127: `k_qconv4` (the
/// pixels-in-lanes kernel `k_qconv4_px` on AVX2 CPUs, called directly too) against the
/// definition, `u8`, `i8` and `f32` outputs.
fn pointwise_matches_definition<const C: usize, const CQ: usize, const M: usize, const MP: usize, const P: usize>() {
    let x: Vec<u8> = (0..C * P)
        .map(|i| match i % 7 {
            0 => 0,
            1 => 255,
            _ => ((i * 53) % 256) as u8,
        })
        .collect();
    let wt: Vec<i32> = (0..M * C)
        .map(|i| match i % 5 {
            0 => -128,
            1 => 127,
            _ => ((i * 29) % 255) as i32 - 127,
        })
        .collect();
    let mut xq = vec![0u8; CQ * P * 8];
    super::k_qpack::<u8, C, 1, P, 1, 1, 1, 1, 1>(&x, &mut xq);
    let mut wp = vec![0i8; MP * CQ * 4];
    let mut off = vec![0i32; MP];
    for m in 0..M {
        for c in 0..C {
            let v = wt[m * C + c];
            wp[((m / 16) * CQ + c / 4) * 64 + (m % 16) * 4 + c % 4] = v as i8;
            off[m] -= 9 * v;
        }
    }
    let mul: Vec<f32> = (0..MP).map(|m| if m < M { 0.0007 + m as f32 * 1e-5 } else { 0.0 }).collect();
    let bias: Vec<f32> = (0..MP).map(|m| if m < M { m as f32 * 0.25 - 2.0 } else { 0.0 }).collect();
    // A fused ReLU6, a Clip to [-3, 4] (its bounds not on levels), none.
    let (u8_rq, i8_rq, f32_rq) = (
        Requant { lo: 0.0, hi: 6.0, inv: 40.0, zero: 3.0 },
        Requant { lo: -3.0, hi: 4.0, inv: 30.3, zero: -20.0 },
        Requant { lo: -1e9, hi: 1e9, inv: 1.0, zero: 0.0 },
    );
    let mut want = (vec![0u8; M * P], vec![0i8; M * P], vec![0f32; M * P]);
    for m in 0..M {
        for p in 0..P {
            let s: i32 = (0..C).map(|c| (x[c * P + p] as i32 - 9) * wt[m * C + c]).sum();
            want.0[m * P + p] = super::m_requant(s, 0, mul[m], bias[m], u8_rq);
            want.1[m * P + p] = super::m_requant(s, 0, mul[m], bias[m], i8_rq);
            want.2[m * P + p] = super::m_requant(s, 0, mul[m], bias[m], f32_rq);
        }
    }
    let mut got = (vec![0u8; M * P], vec![0i8; M * P], vec![f32::NAN; M * P]);
    super::k_qconv4::<u8, CQ, 1, P, M, MP, 1, P, 1, 1, 1, 1, 1, 1>(&xq, &wp, &off, &mul, &bias, &mut got.0, u8_rq);
    super::k_qconv4::<i8, CQ, 1, P, M, MP, 1, P, 1, 1, 1, 1, 1, 1>(&xq, &wp, &off, &mul, &bias, &mut got.1, i8_rq);
    super::k_qconv4::<f32, CQ, 1, P, M, MP, 1, P, 1, 1, 1, 1, 1, 1>(&xq, &wp, &off, &mul, &bias, &mut got.2, f32_rq);
    assert_eq!(got, want, "k_qconv4 {C}x{M} over {P}");
    let levels = |v: Vec<i32>| v.into_iter().collect::<std::collections::BTreeSet<_>>().len();
    assert!(levels(want.0.iter().map(|&q| q as i32).collect()) > 10, "the u8 outputs cover the range");
    assert!(levels(want.1.iter().map(|&q| q as i32).collect()) > 5, "the i8 outputs are not all clamped");
    // The pixels-in-lanes kernel at both tile shapes, NC channels by 4·NV pixels, where the
    // row holds a tile.
    macro_rules! pixel_tiles {
        ($nc:literal, $nv:literal) => {
            #[cfg(target_arch = "x86_64")]
            if super::k_qconv4_wide() && P >= 4 * $nv {
                let mut got = (vec![0u8; M * P], vec![0i8; M * P], vec![f32::NAN; M * P]);
                // SAFETY: the CPU has AVX2 and FMA; the input is packed as u16; P ≥ 4·NV.
                unsafe {
                    assert!(super::k_qconv4_px::<u8, CQ, 1, P, M, MP, 1, P, 1, 1, 1, 1, 1, $nc, $nv>(
                        &xq, &wp, &off, &mul, &bias, &mut got.0, u8_rq
                    ));
                    assert!(super::k_qconv4_px::<i8, CQ, 1, P, M, MP, 1, P, 1, 1, 1, 1, 1, $nc, $nv>(
                        &xq, &wp, &off, &mul, &bias, &mut got.1, i8_rq
                    ));
                    assert!(super::k_qconv4_px::<f32, CQ, 1, P, M, MP, 1, P, 1, 1, 1, 1, 1, $nc, $nv>(
                        &xq, &wp, &off, &mul, &bias, &mut got.2, f32_rq
                    ));
                }
                assert_eq!(got, want, "k_qconv4_px {} × {} {C}x{M} over {P}", $nc, 4 * $nv);
            }
        };
    }
    pixel_tiles!(4, 2);
    pixel_tiles!(2, 4);
}

/// The pointwise form on VWW's and DS-CNN's shapes (8 → 16 channels, 64 → 64 over 125 pixels:
/// a last tile moved left), on exactly 16 pixels, on an odd `M` (a group's last channels
/// dropped) with channels not a multiple of 4, on 8 to 15 pixels (tiles of 8), and on fewer
/// than 8 (the channel-blocked tiles).
#[test]
fn pointwise_rows_match_the_definition() {
    pointwise_matches_definition::<8, 2, 16, 16, 48>();
    pointwise_matches_definition::<64, 16, 64, 64, 125>();
    pointwise_matches_definition::<6, 2, 21, 32, 16>();
    pointwise_matches_definition::<33, 9, 17, 32, 37>();
    // VWW's 6 × 6 planes: three tiles of 16 on AVX512-VNNI, the last moved left by 12.
    pointwise_matches_definition::<20, 5, 24, 32, 36>();
    pointwise_matches_definition::<12, 3, 16, 16, 9>();
    pointwise_matches_definition::<12, 3, 16, 16, 5>();
}
