//! Tests of the integer Winograd convolution (`qwino.rs`): the kernel against the direct
//! integer convolution bit for bit, and its AVX2 parts against the portable loops.

use super::super::{m_requant, QIn, QOut, Requant};

/// A deterministic pseudo-random sequence of `n` integers in `lo..=hi`, the first two `lo` and
/// `hi` and every seventh value one of them (the extremes).
fn ints(n: usize, seed: u64, lo: i32, hi: i32) -> Vec<i32> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            match i % 7 {
                0 => lo,
                1 => hi,
                _ => lo + ((s >> 33) % (hi - lo + 1) as u64) as i32,
            }
        })
        .collect()
}

/// `U = (2G) g (2G)ᵀ` of `[K][C][3][3]` weights by its definition, in `k_qwino`'s layout
/// `[16][K][⌈C/2⌉][2]`.
fn transformed(w: &[i32], k: usize, c: usize) -> Vec<i16> {
    const G2: [[i32; 3]; 4] = [[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]];
    let cp = c.div_ceil(2);
    let mut out = vec![0i16; 16 * k * cp * 2];
    for ki in 0..k {
        for ci in 0..c {
            for f in 0..16 {
                let (a, b) = (f / 4, f % 4);
                let mut s = 0;
                for t in 0..9 {
                    s += G2[a][t / 3] * w[(ki * c + ci) * 9 + t] * G2[b][t % 3];
                }
                out[((f * k + ki) * cp + ci / 2) * 2 + ci % 2] = s as i16;
            }
        }
    }
    out
}

/// `k_qwino` of an `H × W` input of `C` channels (type `X`, values in `lo..=hi`, zero point
/// `zx`, pads of 1 filled with it) into `K` channels equals the direct integer sum's store
/// (the same offsets `-zx · Σ w`, scales, biases and requantization) bit for bit.
fn matches_direct<
    X: QIn + TryFrom<i32>,
    const C: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const TH: usize,
    const TW: usize,
    const TB: usize,
    const BS: usize,
    const PW: usize,
>(
    (lo, hi, zx): (i32, i32, i32),
) where
    <X as TryFrom<i32>>::Error: core::fmt::Debug,
{
    const { assert!(TH == H.div_ceil(2) && TW == W.div_ceil(2)) };
    let (ph, pw) = (2 * TH + 2, PW);
    let x = ints(C * H * W, 7, lo, hi);
    let w = ints(K * C * 9, 11, -128, 127);
    let mut padded = vec![zx; C * ph * pw];
    for c in 0..C {
        for i in 0..H {
            for j in 0..W {
                padded[(c * ph + i + 1) * pw + j + 1] = x[(c * H + i) * W + j];
            }
        }
    }
    let off: Vec<i32> = (0..K).map(|k| -zx * w[k * C * 9..(k + 1) * C * 9].iter().sum::<i32>()).collect();
    let mul: Vec<f32> = (0..K).map(|k| 2e-5 + k as f32 * 3e-6).collect();
    let bias: Vec<f32> = (0..K).map(|k| k as f32 * 0.25 - 1.0).collect();
    let rq = Requant { lo: -3.0, hi: 4.0, inv: 30.0, zero: -2.0 };
    let mut want = vec![0i8; K * H * W];
    for k in 0..K {
        for oy in 0..H {
            for ox in 0..W {
                let mut acc = 0i32;
                for c in 0..C {
                    for t in 0..9 {
                        acc += padded[(c * ph + oy + t / 3) * pw + ox + t % 3] * w[(k * C + c) * 9 + t];
                    }
                }
                want[(k * H + oy) * W + ox] = m_requant(acc, off[k], mul[k], bias[k], rq);
            }
        }
    }
    let xs: Vec<X> = padded.iter().map(|&v| X::try_from(v).expect("in the type's range")).collect();
    let (mut v, mut m) = (vec![0i16; 16 * C.div_ceil(2) * BS * 2], vec![0i32; 16 * K * BS]);
    let mut got = vec![0i8; K * H * W];
    super::k_qwino::<X, i8, C, K, TH, TW, TB, BS, PW, H, W>(
        &xs,
        &transformed(&w, K, C),
        &off,
        &mul,
        &bias,
        &mut v,
        &mut m,
        &mut got,
        rq,
    );
    assert_eq!(got, want);
}

/// `u8` inputs from 0 to 255 (zero point 0 and 255), `i8` from -128 to 127 (zero point -128 and
/// 127); odd and even sizes (cropped tiles), channel counts odd and not multiples of 8, rows of
/// 4 and of 9 tiles (the AVX2 input transform with an overlapping last block), blocks of 1 to 4
/// tile rows with an overlapping last block.
#[test]
fn integer_winograd_equals_the_direct_sum() {
    matches_direct::<u8, 3, 5, 5, 7, 3, 4, 2, 8, 10>((0, 255, 0));
    matches_direct::<u8, 7, 6, 8, 8, 4, 4, 4, 16, 10>((0, 255, 255));
    matches_direct::<i8, 13, 9, 18, 17, 9, 9, 1, 16, 20>((-128, 127, -128));
    matches_direct::<i8, 17, 16, 16, 16, 8, 8, 2, 16, 18>((-128, 127, 127));
    matches_direct::<i8, 2, 4, 9, 9, 5, 5, 4, 24, 12>((-128, 127, 3));
}

/// The AVX2 input transform and products give the portable loops' integers: 9 tiles a row
/// (a block of eight and an overlapping one) and 4 (two tile rows a vector), a block of two
/// tile rows from row 1, 5 channels (a pair with a missing channel), 6 output channels (a
/// 4-row and two 1-row tiles), 18 columns padded to 24 (a 16- and an 8-column tile).
#[test]
#[cfg(target_arch = "x86_64")]
fn avx2_parts_match_the_portable_ones() {
    if !super::super::super::x86_avx2_fma() {
        println!("skipped: this CPU has no AVX2 and FMA");
        return;
    }
    const C: usize = 5;
    fn input<X: QIn + TryFrom<i32>, const TW: usize, const PW: usize>(lo: i32, hi: i32)
    where
        <X as TryFrom<i32>>::Error: core::fmt::Debug,
    {
        const TH: usize = 4;
        let bs = (2 * TW).next_multiple_of(8);
        let x: Vec<X> = ints(C * (2 * TH + 2) * PW, 5, lo, hi).into_iter().map(|v| X::try_from(v).unwrap()).collect();
        let (mut want, mut got) = (vec![0i16; 16 * 3 * bs * 2], vec![0i16; 16 * 3 * bs * 2]);
        super::k_qwino_in::<X, C, TH, TW, 2, PW>(&x, 1, &mut want);
        // SAFETY: checked that the CPU has AVX2; X is a byte, TW 9 or 4 with 2 rows a block; the
        // buffers are as long as it reads.
        unsafe { super::k_qwino_in_avx2::<X, C, TH, TW, 2, PW>(&x, 1, &mut got) };
        assert_eq!(got, want);
    }
    input::<u8, 9, 20>(0, 255);
    input::<i8, 9, 20>(-128, 127);
    input::<u8, 4, 10>(0, 255);
    input::<i8, 4, 10>(-128, 127);
    products_agree::<C, 6, 9, 2>(super::k_qwino_products_avx2::<C, 6, 9, 2>);
}

/// `simd` (products of `C` channels into `K` for blocks of `TB` rows of `TW` tiles) gives the
/// integers of the portable [`super::k_qwino_mm`] in the block's columns, on transformed
/// values at their extremes (`|U| ≤ 1152`, `|V| ≤ 1020`).
#[cfg(target_arch = "x86_64")]
fn products_agree<const C: usize, const K: usize, const TW: usize, const TB: usize>(
    simd: unsafe fn(&[i16], &[i16], &mut [i32]),
) {
    let (cp, bs) = (C.div_ceil(2), (TB * TW).next_multiple_of(8));
    let u: Vec<i16> = ints(16 * K * cp * 2, 3, -1152, 1152).iter().map(|&v| v as i16).collect();
    let v: Vec<i16> = ints(16 * cp * bs * 2, 9, -1020, 1020).iter().map(|&v| v as i16).collect();
    let (mut want, mut got) = (vec![0i32; 16 * K * bs], vec![0i32; 16 * K * bs]);
    super::k_qwino_mm::<C, K, TW, TB>(&u, &v, &mut want);
    // SAFETY: the callers check that the CPU has the instruction set; the buffers are as long
    // as it reads.
    unsafe { simd(&u, &v, &mut got) };
    for f in 0..16 * K {
        assert_eq!(got[f * bs..f * bs + TB * TW], want[f * bs..f * bs + TB * TW], "C {C} K {K} row {f}");
    }
}

/// The AVX512-VNNI products give the portable loops' integers: 13 output channels (an 8-, a
/// 4- and a 1-row tile), 5 and 1 channels (a pair with a missing channel), columns 18 (a 16-
/// and a masked 8-column tile), 45 (32 + 16) and 56 (32 + 16 + masked 8).
#[test]
#[cfg(target_arch = "x86_64")]
fn vnni_products_match_the_portable_ones() {
    if !super::super::super::x86_vnni() {
        println!("skipped: this CPU has no AVX512-VNNI");
        return;
    }
    products_agree::<5, 13, 9, 2>(super::k_qwino_products_vnni::<5, 13, 9, 2>);
    products_agree::<1, 13, 9, 5>(super::k_qwino_products_vnni::<1, 13, 9, 5>);
    products_agree::<16, 16, 8, 7>(super::k_qwino_products_vnni::<16, 16, 8, 7>);
    products_agree::<40, 40, 16, 1>(super::k_qwino_products_vnni::<40, 40, 16, 1>);
}

/// The AVX2 output transform and store give the portable rows: sums up to ±2^30 (whose
/// transforms wrap) and small ones, negative ones shifted, stored as `u8`, `i8` and
/// `f32`, for the first, a middle and the last channel.
#[test]
#[cfg(target_arch = "x86_64")]
fn avx2_output_transform_matches_the_portable_one() {
    if !super::super::super::x86_avx2_fma() {
        println!("skipped: this CPU has no AVX2 and FMA");
        return;
    }
    fn rows<Y: QOut + PartialEq + core::fmt::Debug>() {
        const K: usize = 3;
        const BS: usize = 24;
        let m = ints(16 * K * BS, 13, -(1 << 30), (1 << 30) - 2);
        let small = ints(16 * K * BS, 17, -300_000, 300_000);
        let rq = Requant { lo: -3.0, hi: 4.0, inv: 30.0, zero: -2.0 };
        for m in [m, small] {
            for k in 0..K {
                let terms = (k as i32 * 1000 - 1000, 2e-5 + k as f32 * 3e-6, k as f32 * 0.25 - 1.0);
                let (mut want, mut got) = ([[Y::store(0.0, rq); BS]; 4], [[Y::store(0.0, rq); BS]; 4]);
                super::k_qwino_rows::<Y, K, BS>(&m, k, terms, rq, &mut want);
                // SAFETY: checked that the CPU has AVX2 and FMA; m holds 16·K·BS sums.
                unsafe { super::k_qwino_rows_avx2::<Y, K, BS>(&m, k, terms, rq, &mut got) };
                assert_eq!(got, want, "channel {k}");
            }
        }
    }
    rows::<u8>();
    rows::<i8>();
    rows::<f32>();
}
