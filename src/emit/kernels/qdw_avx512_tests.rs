//! Tests of the AVX-512 integer depthwise convolution (`qdw_avx512.rs`): against the definition
//! and against `k_qdw`'s other paths, bit for bit, skipped with a notice on a CPU without
//! AVX-512F.

use super::super::Requant;
use super::tests::{i8s, u8s, values};
use super::QIn;

/// The stores checked: f32 without a clamp, f32 clamped (ReLU6), `u8` and `i8` with zero points
/// inside the range and clamps that cut it.
const F32_WIDE: Requant = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 1.0, zero: 0.0 };
const F32_RELU6: Requant = Requant { lo: 0.0, hi: 6.0, inv: 1.0, zero: 0.0 };
const U8_RQ: Requant = Requant { lo: 0.0, hi: 6.0, inv: 40.0, zero: 7.0 };
const I8_RQ: Requant = Requant { lo: -1.0, hi: 2.5, inv: 50.0, zero: -3.0 };

/// The outputs of one kernel run, one vector per store of the list above.
type Outputs = (Vec<f32>, Vec<f32>, Vec<u8>, Vec<i8>);

/// [`super::k_qdw_avx512`] (called directly) and [`super::k_qdw`] (which dispatches to it, and
/// with `G = 0` runs its other paths) against the definition `Σ x · w` over the plane padded with
/// `zx`, stored by `m_requant` with the offset `off` (`-zx · Σ w`, plus `extra`, which the
/// kernel must carry through its f32 sums); the input `[C][H][WD]` padded by `PT` rows above,
/// `PL` columns left, to `[PH][PW]`. Given a scratch for all padded planes, `k_qdw` pads an
/// unpadded input itself for its AVX2 kernels (`N`, `PB`: their stack sizes).
#[allow(clippy::too_many_arguments)]
fn agrees<
    X: QIn,
    WT: QIn,
    const C: usize,
    const H: usize,
    const WD: usize,
    const PH: usize,
    const PW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const S: usize,
    const DH: usize,
    const DW: usize,
    const N: usize,
    const PB: usize,
    const G: usize,
    const F: usize,
>(
    x: &[X],
    w: &[WT],
    fill: X,
    extra: i32,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if !super::x86_avx512f() {
            println!("skipped: the CPU has no AVX-512F");
            return;
        }
        assert!(F >= super::k_qdw512_floats(G, H, WD, KH * KW) && C.is_multiple_of(G), "the buffer of the test");
        let zx = fill.wide();
        let at = |c: usize, r: usize, col: usize| -> i32 {
            let inside = (PT..PT + H).contains(&r) && (PL..PL + WD).contains(&col);
            if inside {
                x[(c * H + r - PT) * WD + col - PL].wide()
            } else {
                zx
            }
        };
        let off: Vec<i32> =
            (0..C).map(|c| extra - zx * (0..KH * KW).map(|t| w[c * KH * KW + t].wide()).sum::<i32>()).collect();
        let mul: Vec<f32> = (0..C).map(|c| 0.011 + c as f32 * 0.005).collect();
        let bias: Vec<f32> = (0..C).map(|c| c as f32 * 0.25 - 0.5).collect();
        let n = C * OH * OW;
        let mut want: Outputs = (vec![0.0; n], vec![0.0; n], vec![0; n], vec![0; n]);
        for c in 0..C {
            for oh in 0..OH {
                for ow in 0..OW {
                    let mut s = 0;
                    for kh in 0..KH {
                        for kw in 0..KW {
                            s += at(c, oh * S + kh * DH, ow * S + kw * DW) * w[(c * KH + kh) * KW + kw].wide();
                        }
                    }
                    let (i, o, m, b) = ((c * OH + oh) * OW + ow, off[c], mul[c], bias[c]);
                    want.0[i] = super::m_requant(s, o, m, b, F32_WIDE);
                    want.1[i] = super::m_requant(s, o, m, b, F32_RELU6);
                    want.2[i] = super::m_requant(s, o, m, b, U8_RQ);
                    want.3[i] = super::m_requant(s, o, m, b, I8_RQ);
                }
            }
        }
        let (o, m, b) = (&off[..], &mul[..], &bias[..]);
        let fresh = || -> Outputs { (vec![f32::NAN; n], vec![f32::NAN; n], vec![0x5a; n], vec![0x5a; n]) };
        let mut got = fresh();
        // SAFETY: the CPU has AVX-512F; X is one byte, S is 1 or 2, G divides C, F holds a group.
        unsafe {
            super::k_qdw_avx512::<X, WT, f32, C, H, WD, PT, PL, OH, OW, KH, KW, S, S, DH, DW, G, F>(
                x, w, o, m, b, fill, &mut got.0, F32_WIDE,
            );
            super::k_qdw_avx512::<X, WT, f32, C, H, WD, PT, PL, OH, OW, KH, KW, S, S, DH, DW, G, F>(
                x, w, o, m, b, fill, &mut got.1, F32_RELU6,
            );
            super::k_qdw_avx512::<X, WT, u8, C, H, WD, PT, PL, OH, OW, KH, KW, S, S, DH, DW, G, F>(
                x, w, o, m, b, fill, &mut got.2, U8_RQ,
            );
            super::k_qdw_avx512::<X, WT, i8, C, H, WD, PT, PL, OH, OW, KH, KW, S, S, DH, DW, G, F>(
                x, w, o, m, b, fill, &mut got.3, I8_RQ,
            );
        }
        let shape = format!("{C}×{H}×{WD} at ({PT}, {PL}) in {PH}×{PW}, {KH}×{KW}, stride {S}, dilation {DH}×{DW}");
        assert_eq!(got, want, "k_qdw_avx512, {shape}");
        // Through k_qdw: its dispatch (G > 0) and its other paths (G = 0), with a scratch for all
        // padded planes when the input is not padded yet (as the lowering passes it).
        let padded = (PH, PW) == (H, WD);
        let scratch = if padded { 0 } else { (C * PH * PW).max(2 * ((PH * PW).next_multiple_of(16) + DW)) };
        let run =
            |avx512: bool| -> Outputs {
                let mut got = fresh();
                let mut p = vec![x[0]; scratch];
                macro_rules! call {
                ($y:ty, $out:expr, $rq:expr) => {
                    if avx512 {
                        super::k_qdw::<X, WT, $y, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, S, S, DH, DW, N, PB, G, F>(
                            x, w, o, m, b, &[], &mut p, fill, $out, $rq,
                        )
                    } else {
                        super::k_qdw::<X, WT, $y, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, S, S, DH, DW, N, PB, 0, 0>(
                            x, w, o, m, b, &[], &mut p, fill, $out, $rq,
                        )
                    }
                };
            }
                call!(f32, &mut got.0, F32_WIDE);
                call!(f32, &mut got.1, F32_RELU6);
                call!(u8, &mut got.2, U8_RQ);
                call!(i8, &mut got.3, I8_RQ);
                got
            };
        assert_eq!(run(true), want, "k_qdw dispatching to k_qdw_avx512, {shape}");
        if w.iter().all(|v| i8::try_from(v.wide()).is_ok()) {
            // The portable loops' f32 lanes are exact for 8-bit weights.
            assert_eq!(run(false), want, "k_qdw without the AVX-512 kernel, {shape}");
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, w, fill, extra);
}

/// DS-CNN's 25 × 5 planes (20 channels, groups of 4: not a multiple of 16), MobileNet's stride-2
/// layers on planes padded already (bottom and right, TF's "same") and padded by the kernel on
/// all sides, odd widths, dilation 2, wide rows (the row-by-row path), a 5 × 5 kernel with
/// 16-bit weights inside the exact bound, `u8` and `i8` inputs at their extremes with zero
/// points inside and at the ends of the range, and offsets that are not `-zx · Σ w`.
#[test]
fn avx512_depthwise_agrees_with_the_definition_and_k_qdw() {
    agrees::<u8, i8, 20, 25, 5, 27, 7, 1, 1, 25, 5, 3, 3, 1, 1, 1, 175, 4096, 4, 540>(
        &u8s(20 * 125, 1),
        &i8s(180, 2),
        131,
        0,
    );
    agrees::<i8, i8, 20, 25, 5, 27, 7, 1, 1, 25, 5, 3, 3, 1, 1, 1, 175, 4096, 5, 675>(
        &i8s(20 * 125, 3),
        &i8s(180, 4),
        -128,
        0,
    );
    agrees::<u8, i8, 3, 13, 13, 13, 13, 0, 0, 6, 6, 3, 3, 2, 1, 1, 78, 4096, 3, 537>(
        &u8s(3 * 169, 5),
        &i8s(27, 6),
        255,
        0,
    );
    agrees::<i8, i8, 5, 12, 12, 13, 13, 0, 0, 6, 6, 3, 3, 2, 1, 1, 78, 4096, 5, 770>(
        &i8s(5 * 144, 7),
        &i8s(45, 8),
        3,
        0,
    );
    agrees::<u8, i8, 6, 11, 13, 13, 15, 1, 1, 6, 7, 3, 3, 2, 1, 1, 90, 4096, 3, 459>(
        &u8s(6 * 143, 9),
        &i8s(54, 10),
        0,
        77,
    );
    agrees::<u8, i8, 3, 9, 7, 13, 11, 2, 2, 9, 7, 3, 3, 1, 2, 2, 99, 4096, 1, 73>(
        &u8s(3 * 63, 11),
        &i8s(27, 12),
        200,
        -5,
    );
    agrees::<i8, i8, 17, 16, 16, 18, 18, 1, 1, 16, 16, 3, 3, 1, 1, 1, 288, 4096, 1, 266>(
        &i8s(17 * 256, 13),
        &i8s(153, 14),
        127,
        0,
    );
    agrees::<u8, i8, 2, 31, 29, 33, 31, 1, 1, 16, 15, 3, 3, 2, 1, 1, 496, 4096, 2, 1818>(
        &u8s(2 * 899, 15),
        &i8s(18, 16),
        9,
        0,
    );
    let w16: Vec<i16> = values(50, 17, -2600, 2600).into_iter().map(|v| v as i16).collect();
    agrees::<u8, i16, 2, 9, 11, 13, 15, 2, 2, 9, 11, 5, 5, 1, 1, 1, 135, 4096, 2, 250>(
        &u8s(2 * 99, 18),
        &w16,
        60,
        1000,
    );
    agrees::<i8, i8, 4, 3, 3, 5, 5, 1, 1, 3, 3, 3, 3, 1, 1, 1, 16, 4096, 4, 76>(&i8s(36, 19), &i8s(36, 20), -7, 0);
}
