//! Tests of the integer depthwise convolutions (`qdw.rs`, `qdw_avx2.rs`): every kernel against
//! the definition.

use super::super::Requant;

/// The integer depthwise convolution against its definition `Σ (x - zx) · w`, scaled: rows
/// of 11 pixels (one block of 8 and single pixels on the host), stride 1 and 2, u8 input.
#[test]
fn integer_depthwise_agrees_with_the_definition() {
    let (c, h, wd, k, zx) = (3, 6, 13, 3, 7i32);
    let x: Vec<u8> = (0..c * h * wd).map(|i| ((i * 37) % 251) as u8).collect();
    let w: Vec<i8> = (0..c * k * k).map(|i| ((i * 5) % 11) as i8 - 5).collect();
    let off: Vec<i32> = (0..c).map(|ch| -zx * w[ch * 9..ch * 9 + 9].iter().map(|&v| v as i32).sum::<i32>()).collect();
    let rq = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 1.0, zero: 0.0 };
    let want = |sw: usize, oh: usize, ow: usize| -> Vec<f32> {
        let mut y = vec![0.0; c * oh * ow];
        for ch in 0..c {
            for r in 0..oh {
                for s in 0..ow {
                    let mut acc = 0i32;
                    for a in 0..k {
                        for b in 0..k {
                            let xv = x[(ch * h + r + a) * wd + s * sw + b] as i32 - zx;
                            acc += xv * w[(ch * k + a) * k + b] as i32;
                        }
                    }
                    y[(ch * oh + r) * ow + s] = acc as f32 * 0.5 + ch as f32;
                }
            }
        }
        y
    };
    let (mul, bias) = ([0.5f32; 3], [0.0f32, 1.0, 2.0]);
    let mut y = vec![f32::NAN; 3 * 4 * 11];
    super::k_qdw::<u8, i8, f32, 3, 6, 13, 6, 13, 0, 0, 4, 11, 3, 3, 1, 1, 1, 1, 52, 79, 0, 0>(
        &x,
        &w,
        &off,
        &mul,
        &bias,
        &[],
        &mut [],
        0,
        &mut y,
        rq,
    );
    assert_eq!(y, want(1, 4, 11));
    let mut y = vec![f32::NAN; 3 * 4 * 6];
    super::k_qdw::<u8, i8, f32, 3, 6, 13, 6, 13, 0, 0, 4, 6, 3, 3, 1, 2, 1, 1, 0, 0, 0, 0>(
        &x,
        &w,
        &off,
        &mul,
        &bias,
        &[],
        &mut [],
        0,
        &mut y,
        rq,
    );
    assert_eq!(y, want(2, 4, 6));
}

/// A small deterministic generator (xorshift) whose values hit the ends of the range often.
pub(super) fn values(n: usize, seed: u32, lo: i32, hi: i32) -> Vec<i32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            match s % 8 {
                0 => lo,
                1 => hi,
                _ => lo + (s >> 3) as i32 % (hi - lo + 1),
            }
        })
        .collect()
}

/// `n` pseudo-random `u8`s over the whole range (seeded).
pub(super) fn u8s(n: usize, seed: u32) -> Vec<u8> {
    values(n, seed, 0, 255).into_iter().map(|v| v as u8).collect()
}

/// `n` pseudo-random `i8`s over the whole range (seeded).
pub(super) fn i8s(n: usize, seed: u32) -> Vec<i8> {
    values(n, seed, -128, 127).into_iter().map(|v| v as i8).collect()
}

/// `n` pseudo-random `i16`s over the whole range (seeded).
fn i16s(n: usize, seed: u32) -> Vec<i16> {
    values(n, seed, -32768, 32767).into_iter().map(|v| v as i16).collect()
}

/// [`super::k_qdw_small`] and [`super::k_qdw_avx2`] (where the CPU has AVX2, called directly
/// whatever the plane's size) and [`super::k_qdw`] against the sums by
/// the definition, stored as `m_requant` stores them, with f32 and `u8` outputs; against the
/// portable loops too when the weights are 8-bit (the f32 lanes are exact then).
#[allow(clippy::type_complexity)]
fn flat_agrees<
    X: super::QIn + std::fmt::Debug,
    WT: super::QIn,
    const C: usize,
    const H: usize,
    const WD: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const S: usize,
    const DH: usize,
    const DW: usize,
    const N: usize,
    const PB: usize,
>(
    x: &[X],
    w: &[WT],
) {
    let zx = 3;
    let off: Vec<i32> = (0..C).map(|c| -zx * (0..KH * KW).map(|t| w[c * KH * KW + t].wide()).sum::<i32>()).collect();
    let mul: Vec<f32> = (0..C).map(|c| 0.013 + c as f32 * 0.007).collect();
    let bias: Vec<f32> = (0..C).map(|c| c as f32 * 0.5 - 1.0).collect();
    let sum = |c: usize, oh: usize, ow: usize| -> i32 {
        let mut a = 0;
        for kh in 0..KH {
            for kw in 0..KW {
                let xv = x[(c * H + oh * S + kh * DH) * WD + ow * S + kw * DW].wide();
                a += xv * w[(c * KH + kh) * KW + kw].wide();
            }
        }
        a
    };
    let wide_rq = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 1.0, zero: 0.0 };
    let u8_rq = Requant { lo: 0.0, hi: 6.0, inv: 40.0, zero: 7.0 };
    let mut want = (vec![0f32; C * OH * OW], vec![0u8; C * OH * OW]);
    for c in 0..C {
        for oh in 0..OH {
            for ow in 0..OW {
                let at = (c * OH + oh) * OW + ow;
                want.0[at] = super::m_requant(sum(c, oh, ow), off[c], mul[c], bias[c], wide_rq);
                want.1[at] = super::m_requant(sum(c, oh, ow), off[c], mul[c], bias[c], u8_rq);
            }
        }
    }
    let eight_bit = w.iter().all(|v| i8::try_from(v.wide()).is_ok());
    let mut got = (vec![f32::NAN; C * OH * OW], vec![0u8; C * OH * OW]);
    super::k_qdw::<X, WT, f32, C, H, WD, H, WD, 0, 0, OH, OW, KH, KW, S, S, DH, DW, N, PB, 0, 0>(
        x,
        w,
        &off,
        &mul,
        &bias,
        &[],
        &mut [],
        x[0],
        &mut got.0,
        wide_rq,
    );
    super::k_qdw::<X, WT, u8, C, H, WD, H, WD, 0, 0, OH, OW, KH, KW, S, S, DH, DW, N, PB, 0, 0>(
        x,
        w,
        &off,
        &mul,
        &bias,
        &[],
        &mut [],
        x[0],
        &mut got.1,
        u8_rq,
    );
    assert_eq!(got, want, "k_qdw, {C}×{H}×{WD}, {KH}×{KW}, stride {S}");
    #[cfg(target_arch = "x86_64")]
    if super::x86_avx2_fma() && N > 0 {
        let mut got = (vec![f32::NAN; C * OH * OW], vec![0u8; C * OH * OW]);
        // SAFETY: the CPU has AVX2 and FMA; the shapes are the kernel's.
        unsafe {
            super::k_qdw_small::<X, WT, f32, C, H, WD, OH, OW, KH, KW, S, DH, DW, N, PB>(
                x, w, &off, &mul, &bias, &mut got.0, wide_rq,
            );
            super::k_qdw_small::<X, WT, u8, C, H, WD, OH, OW, KH, KW, S, DH, DW, N, PB>(
                x, w, &off, &mul, &bias, &mut got.1, u8_rq,
            );
        }
        assert_eq!(got, want, "k_qdw_small, {C}×{H}×{WD}, {KH}×{KW}, stride {S}");
    }
    #[cfg(target_arch = "x86_64")]
    if super::x86_avx2_fma() && N == OH * WD && (OH - 1) * WD + OW >= 16 {
        let mut got = (vec![f32::NAN; C * OH * OW], vec![0u8; C * OH * OW]);
        // SAFETY: the CPU has AVX2 and FMA; the shapes are the kernel's.
        unsafe {
            super::k_qdw_avx2::<X, WT, f32, C, H, WD, OH, OW, KH, KW, S, DH, DW, N>(
                x, w, &off, &mul, &bias, &mut got.0, wide_rq,
            );
            super::k_qdw_avx2::<X, WT, u8, C, H, WD, OH, OW, KH, KW, S, DH, DW, N>(
                x, w, &off, &mul, &bias, &mut got.1, u8_rq,
            );
        }
        assert_eq!(got, want, "k_qdw_avx2, {C}×{H}×{WD}, {KH}×{KW}, stride {S}");
    }
    if eight_bit {
        let mut got = (vec![f32::NAN; C * OH * OW], vec![0u8; C * OH * OW]);
        super::k_qdw_portable::<X, WT, f32, C, H, WD, H, WD, 0, 0, OH, OW, KH, KW, S, S, DH, DW>(
            x,
            w,
            &off,
            &mul,
            &bias,
            &[],
            &mut [],
            x[0],
            &mut got.0,
            wide_rq,
        );
        super::k_qdw_portable::<X, WT, u8, C, H, WD, H, WD, 0, 0, OH, OW, KH, KW, S, S, DH, DW>(
            x,
            w,
            &off,
            &mul,
            &bias,
            &[],
            &mut [],
            x[0],
            &mut got.1,
            u8_rq,
        );
        assert_eq!(got, want, "k_qdw_portable, {C}×{H}×{WD}, {KH}×{KW}, stride {S}");
    }
}

/// The flattened-plane kernel on DS-CNN's and MobileNet's shapes and on edge cases: odd
/// widths, stride 2, dilation, an odd and an even number of taps, planes of fewer than 16
/// positions, `u8` and `i8` inputs at their extremes, `i8` and full-range `i16` weights
/// (sums beyond 2^24). `PB` is the tight bound, `max(H · W, k_qdw_span)`.
#[test]
fn flat_depthwise_agrees_with_the_definition() {
    flat_agrees::<u8, i8, 5, 27, 7, 25, 5, 3, 3, 1, 1, 1, 175, 190>(&u8s(5 * 27 * 7, 1), &i8s(5 * 9, 2));
    flat_agrees::<i8, i8, 3, 50, 50, 48, 48, 3, 3, 1, 1, 1, 2400, 2501>(&i8s(3 * 2500, 3), &i8s(3 * 9, 4));
    flat_agrees::<i8, i16, 3, 9, 10, 5, 6, 3, 3, 1, 2, 2, 50, 91>(&i8s(3 * 90, 5), &i16s(3 * 9, 6));
    flat_agrees::<u8, i16, 2, 9, 10, 5, 6, 3, 3, 1, 2, 2, 50, 91>(&u8s(2 * 90, 7), &i16s(2 * 9, 8));
    flat_agrees::<u8, i8, 4, 13, 13, 6, 6, 3, 3, 2, 1, 1, 78, 170>(&u8s(4 * 169, 9), &i8s(4 * 9, 10));
    flat_agrees::<i8, i8, 2, 12, 12, 5, 5, 3, 3, 2, 1, 1, 60, 144>(&i8s(2 * 144, 11), &i8s(2 * 9, 12));
    flat_agrees::<u8, i8, 3, 4, 9, 4, 5, 1, 5, 1, 1, 1, 36, 37>(&u8s(3 * 36, 13), &i8s(3 * 5, 14));
    flat_agrees::<i8, i8, 3, 5, 6, 4, 5, 2, 2, 1, 1, 1, 24, 30>(&i8s(3 * 30, 15), &i8s(3 * 4, 16));
    // No room for the x86-64 kernel (N = 0): the portable loops.
    flat_agrees::<u8, i8, 2, 4, 4, 2, 2, 3, 3, 1, 1, 1, 0, 0>(&u8s(2 * 16, 17), &i8s(2 * 9, 18));
    // Planes of fewer than 16 positions (MobileNet's last 3 × 3 outputs), 8 × 8, stride 2 on
    // 7 × 7, dilation 2 with `i8` weights, a 5 × 5 kernel (odd rows of pairs).
    flat_agrees::<u8, i8, 3, 5, 5, 3, 3, 3, 3, 1, 1, 1, 16, 29>(&u8s(3 * 25, 19), &i8s(3 * 9, 20));
    flat_agrees::<u8, i8, 3, 8, 8, 6, 6, 3, 3, 1, 1, 1, 48, 65>(&u8s(3 * 64, 21), &i8s(3 * 9, 22));
    flat_agrees::<u8, i8, 3, 7, 7, 3, 3, 3, 3, 2, 1, 1, 21, 50>(&u8s(3 * 49, 23), &i8s(3 * 9, 24));
    flat_agrees::<i8, i8, 2, 9, 10, 5, 6, 3, 3, 1, 2, 2, 50, 91>(&i8s(2 * 90, 25), &i8s(2 * 9, 26));
    flat_agrees::<u8, i8, 2, 9, 9, 5, 5, 5, 5, 1, 1, 1, 45, 82>(&u8s(2 * 81, 27), &i8s(2 * 25, 28));
    flat_agrees::<u8, i8, 2, 4, 4, 2, 2, 3, 3, 1, 1, 1, 16, 27>(&u8s(2 * 16, 29), &i8s(2 * 9, 30));
}

/// The depthwise convolution that pads its planes itself (`x` unpadded, `[C][H][W]`, padded
/// to `[PH][PW]` with `PT` rows above and `PL` columns left by the zero point `fill`, stride 1):
/// [`super::k_qdw`], [`super::k_qdw_pairs`] (where the CPU has AVX2) and the portable loops
/// against the definition on the padded plane, `Σ w · x` with the offset `-zx · Σ w`, stored
/// as `m_requant` stores it, with f32 and `u8` outputs. The scratch, of exactly the size the
/// lowering allocates, starts filled with one of the inputs rather than the zero point.
#[allow(clippy::type_complexity)]
fn padded_agrees<
    X: super::QIn + std::fmt::Debug,
    WT: super::QIn,
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
    const DH: usize,
    const DW: usize,
    const N: usize,
>(
    x: &[X],
    w: &[WT],
    fill: X,
) {
    let zx = fill.wide();
    let at = |c: usize, r: usize, col: usize| -> i32 {
        let inside = (PT..PT + H).contains(&r) && (PL..PL + WD).contains(&col);
        if inside {
            x[(c * H + r - PT) * WD + col - PL].wide()
        } else {
            zx
        }
    };
    let off: Vec<i32> = (0..C).map(|c| -zx * (0..KH * KW).map(|t| w[c * KH * KW + t].wide()).sum::<i32>()).collect();
    let mul: Vec<f32> = (0..C).map(|c| 0.011 + c as f32 * 0.005).collect();
    let bias: Vec<f32> = (0..C).map(|c| c as f32 * 0.25 - 0.5).collect();
    let wide_rq = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 1.0, zero: 0.0 };
    let u8_rq = Requant { lo: 0.0, hi: 6.0, inv: 40.0, zero: 7.0 };
    let mut want = (vec![0f32; C * OH * OW], vec![0u8; C * OH * OW]);
    for c in 0..C {
        for oh in 0..OH {
            for ow in 0..OW {
                let mut s = 0;
                for kh in 0..KH {
                    for kw in 0..KW {
                        s += at(c, oh + kh * DH, ow + kw * DW) * w[(c * KH + kh) * KW + kw].wide();
                    }
                }
                let i = (c * OH + oh) * OW + ow;
                want.0[i] = super::m_requant(s, off[c], mul[c], bias[c], wide_rq);
                want.1[i] = super::m_requant(s, off[c], mul[c], bias[c], u8_rq);
            }
        }
    }
    let scratch = 2 * ((PH * PW).next_multiple_of(16) + DW);
    let garbage = |n: usize| -> Vec<X> { (0..n).map(|_| x[x.len() / 2]).collect() };
    let run = |kernel: &dyn Fn(&mut [X], &mut [f32], &mut [u8])| {
        let mut got = (vec![f32::NAN; C * OH * OW], vec![0u8; C * OH * OW]);
        let mut p = garbage(scratch);
        kernel(&mut p[..], &mut got.0[..], &mut got.1[..]);
        got
    };
    let (o, m, b) = (&off[..], &mul[..], &bias[..]);
    let got = run(&|p, y0, y1| {
        super::k_qdw::<X, WT, f32, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, 1, 1, DH, DW, N, 0, 0, 0>(
            x,
            w,
            o,
            m,
            b,
            &[],
            p,
            fill,
            y0,
            wide_rq,
        );
        super::k_qdw::<X, WT, u8, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, 1, 1, DH, DW, N, 0, 0, 0>(
            x,
            w,
            o,
            m,
            b,
            &[],
            p,
            fill,
            y1,
            u8_rq,
        );
    });
    assert_eq!(got, want, "k_qdw, {C}×{H}×{WD} padded to {PH}×{PW}, {KH}×{KW}");
    #[cfg(target_arch = "x86_64")]
    if super::x86_avx2_fma() {
        let got = run(&|p, y0, y1| {
            // SAFETY: the CPU has AVX2 and FMA; the shapes are the kernel's.
            unsafe {
                super::k_qdw_pairs::<X, WT, f32, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, DH, DW, N>(
                    x, w, o, m, b, p, fill, y0, wide_rq,
                );
                super::k_qdw_pairs::<X, WT, u8, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, DH, DW, N>(
                    x, w, o, m, b, p, fill, y1, u8_rq,
                );
            }
        });
        assert_eq!(got, want, "k_qdw_pairs, {C}×{H}×{WD} padded to {PH}×{PW}, {KH}×{KW}");
    }
    if w.iter().all(|v| i8::try_from(v.wide()).is_ok()) {
        let got = run(&|p, y0, y1| {
            super::k_qdw_portable::<X, WT, f32, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, 1, 1, DH, DW>(
                x,
                w,
                o,
                m,
                b,
                &[],
                p,
                fill,
                y0,
                wide_rq,
            );
            super::k_qdw_portable::<X, WT, u8, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, 1, 1, DH, DW>(
                x,
                w,
                o,
                m,
                b,
                &[],
                p,
                fill,
                y1,
                u8_rq,
            );
        });
        assert_eq!(got, want, "k_qdw_portable, {C}×{H}×{WD} padded to {PH}×{PW}, {KH}×{KW}");
    }
}

/// Padding done by the kernel, stride 1: DS-CNN's 25 × 5 planes and MobileNet's 48 × 48, 6 × 6
/// and 3 × 3 (13 flat positions), `u8` and `i8` inputs at their extremes with zero points
/// inside and at the ends of the range, full-range `i16` weights, dilation 2 (pads of 2), an
/// even kernel with pads on one side only, a 5 × 5 kernel (odd rows of pairs), a 1 × 5 kernel,
/// and no pads at all.
#[test]
fn self_padded_depthwise_agrees_with_the_definition() {
    padded_agrees::<u8, i8, 5, 25, 5, 27, 7, 1, 1, 25, 5, 3, 3, 1, 1, 192>(&u8s(5 * 125, 31), &i8s(5 * 9, 32), 131);
    padded_agrees::<i8, i8, 2, 48, 48, 50, 50, 1, 1, 48, 48, 3, 3, 1, 1, 2512>(&i8s(2 * 2304, 33), &i8s(18, 34), -128);
    padded_agrees::<u8, i8, 3, 6, 6, 8, 8, 1, 1, 6, 6, 3, 3, 1, 1, 64>(&u8s(3 * 36, 35), &i8s(27, 36), 255);
    padded_agrees::<u8, i8, 4, 3, 3, 5, 5, 1, 1, 3, 3, 3, 3, 1, 1, 32>(&u8s(4 * 9, 37), &i8s(36, 38), 0);
    padded_agrees::<i8, i16, 3, 7, 9, 9, 11, 1, 1, 7, 9, 3, 3, 1, 1, 112>(&i8s(3 * 63, 39), &i16s(27, 40), 5);
    padded_agrees::<u8, i16, 2, 9, 8, 13, 12, 2, 2, 9, 8, 3, 3, 2, 2, 160>(&u8s(2 * 72, 41), &i16s(18, 42), 77);
    padded_agrees::<u8, i8, 3, 6, 7, 7, 8, 1, 0, 6, 7, 2, 2, 1, 1, 64>(&u8s(3 * 42, 43), &i8s(12, 44), 9);
    padded_agrees::<i8, i8, 2, 9, 9, 13, 13, 2, 2, 9, 9, 5, 5, 1, 1, 176>(&i8s(2 * 81, 45), &i8s(50, 46), 127);
    padded_agrees::<u8, i8, 3, 4, 12, 4, 16, 0, 2, 4, 12, 1, 5, 1, 1, 64>(&u8s(3 * 48, 47), &i8s(15, 48), 200);
    padded_agrees::<u8, i8, 2, 6, 6, 6, 6, 0, 0, 4, 4, 3, 3, 1, 1, 48>(&u8s(2 * 36, 49), &i8s(18, 50), 60);
}
