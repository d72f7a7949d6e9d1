//! Quantized depthwise convolution (one filter per channel), summing in i32. On x86-64 CPUs with
//! AVX2 (checked at run time) an explicit-SIMD kernel for 8-bit inputs: each channel's padded
//! plane is read as one long row (an output row continues into the padding columns, whose sums
//! are dropped), 16 outputs at a time, two filter taps per `vpmaddwd` on the inputs widened to
//! 16 bits (exact: every product and pair sum fits the i32 lane). Elsewhere the portable loops:
//! i32 sums on 32-bit Arm, f32 lanes (exact) on other targets.

#[cfg(target_arch = "x86_64")]
use super::x86_avx2_fma;
use super::{avx2_or_portable, m_requant, m_store, QIn, QOut, Requant};

/// Quantized depthwise convolution of `x` (`[C][H][W]` integers, padded with their zero point)
/// by `w` (`[C][KH][KW]`: weights minus their zero point) into `y` (`[C][OH][OW]`); `off`
/// (`-zx · Σ w`), `mul`, `bias` per channel: the graph's `Σ (x - zx)(w - zw)`, exactly, then
/// scaled and stored as [`m_requant`] does (through `steps`, the integer store's table, in the
/// portable loops on 32-bit Arm; [`m_store`]). `N` is `OH · W` when the x86-64 kernel
/// [`k_qdw_avx2`] may hold a channel's sums on the stack (8-bit input, equal strides of 1 or 2,
/// at least 16 sums), else 0: the portable loops ([`k_qdw_portable`]) run.
#[allow(clippy::too_many_arguments)]
fn k_qdw<
    X: QIn,
    WT: QIn,
    Y: QOut,
    const C: usize,
    const H: usize,
    const WD: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const N: usize,
>(
    x: &[X],
    w: &[WT],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    steps: &[i32],
    y: &mut [Y],
    rq: Requant,
) {
    #[cfg(target_arch = "x86_64")]
    {
        let flat = core::mem::size_of::<X>() == 1
            && SH == SW
            && (SW == 1 || SW == 2)
            && N == OH * WD
            && (OH - 1) * WD + OW >= 16;
        if flat && x86_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA, and the shapes are the ones the kernel handles.
            unsafe { k_qdw_avx2::<X, WT, Y, C, H, WD, OH, OW, KH, KW, SW, DH, DW, N>(x, w, off, mul, bias, y, rq) };
            return;
        }
    }
    avx2_or_portable(|| {
        k_qdw_portable::<X, WT, Y, C, H, WD, OH, OW, KH, KW, SH, SW, DH, DW>(x, w, off, mul, bias, steps, y, rq)
    });
}

/// [`k_qdw`] with AVX2 for 8-bit `X` and the stride `S` in both directions (1 or 2): per
/// channel, the `J = (OH - 1) · W + OW` sums `s[j] = Σ_t w[t] · x[S·j + at(t)]` of the plane read
/// as one row (`j = oh · W + ow`; columns `ow ≥ OW` are the padding's, computed and dropped),
/// 16 at a time (the last block overlaps the one before), the taps two at a time: their inputs
/// widened to i16 and interleaved, multiplied and pair-summed into i32 lanes by `vpmaddwd`
/// against the broadcast weight pair. Then each output row is stored from its sums.
///
/// # Safety
/// The CPU has AVX2 and FMA; `X` is one byte; `S` is 1 or 2; `N = OH · W`; `J ≥ 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qdw_avx2<
    X: QIn,
    WT: QIn,
    Y: QOut,
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
>(
    x: &[X],
    w: &[WT],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    use core::arch::x86_64::{
        _mm256_add_epi32, _mm256_madd_epi16, _mm256_permute2x128_si256, _mm256_set1_epi32, _mm256_setzero_si256,
        _mm256_storeu_si256, _mm256_unpackhi_epi16, _mm256_unpacklo_epi16,
    };
    let (x, w, y) = (&x[..C * H * WD], &w[..C * KH * KW], &mut y[..C * OH * OW]);
    let (off, mul, bias) = (&off[..C], &mul[..C], &bias[..C]);
    let taps = KH * KW;
    let at = |t: usize| (t / KW) * DH * WD + (t % KW) * DW;
    let jn = (OH - 1) * WD + OW;
    // The bytes a block of 16 sums reads from its first tap's first input.
    let span = at(taps - 1) + 16 * S;
    let mut sums = [0i32; N];
    for c in 0..C {
        let wc = &w[c * KH * KW..(c + 1) * KH * KW];
        let base = c * H * WD;
        let mut j0 = 0;
        loop {
            let j = j0.min(jn - 16);
            if base + S * j + span <= x.len() {
                // SAFETY: the block reads x[base + S·j ..][..span], inside `x`, and writes
                // sums[j..j + 16], inside `sums` (j + 16 ≤ J ≤ N).
                let p = x.as_ptr().add(base + S * j) as *const u8;
                let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                for q in 0..taps.div_ceil(2) {
                    let t = 2 * q;
                    let a = k_qdw_load::<S>(p.add(at(t)), X::I8);
                    let (b, w1) = if t + 1 < taps {
                        (k_qdw_load::<S>(p.add(at(t + 1)), X::I8), wc[t + 1].wide())
                    } else {
                        (a, 0)
                    };
                    let pair = _mm256_set1_epi32((wc[t].wide() & 0xffff) | (w1 << 16));
                    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), pair));
                    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), pair));
                }
                // lo holds sums j+0..4 and j+8..12, hi j+4..8 and j+12..16.
                let dst = sums.as_mut_ptr().add(j) as *mut _;
                _mm256_storeu_si256(dst, _mm256_permute2x128_si256::<0x20>(lo, hi));
                _mm256_storeu_si256(dst.add(1), _mm256_permute2x128_si256::<0x31>(lo, hi));
            } else {
                // The plane's last block would read past `x` (stride 2): summed one by one.
                for (jj, s) in sums[j..j + 16].iter_mut().enumerate() {
                    let first = base + S * (j + jj);
                    *s = (0..taps).map(|t| wc[t].wide() * x[first + at(t)].wide()).sum();
                }
            }
            if j0 + 16 >= jn {
                break;
            }
            j0 += 16;
        }
        let (o, m, b) = (off[c], mul[c], bias[c]);
        for oh in 0..OH {
            let row = &sums[oh * WD..oh * WD + OW];
            let out = &mut y[(c * OH + oh) * OW..(c * OH + oh + 1) * OW];
            for ow in 0..OW {
                out[ow] = m_requant(row[ow], o, m, b, rq);
            }
        }
    }
}

/// 16 inputs of [`k_qdw_avx2`] from `p` widened to i16 lanes: bytes `0..16` (`S` = 1) or the
/// even bytes of `0..32` (`S` = 2), sign-extended when `signed` (`i8`), else zero-extended.
///
/// # Safety
/// The CPU has AVX2; `p` points at `16 · S` readable bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_qdw_load<const S: usize>(p: *const u8, signed: bool) -> core::arch::x86_64::__m256i {
    use core::arch::x86_64::{
        __m128i, __m256i, _mm256_and_si256, _mm256_cvtepi8_epi16, _mm256_cvtepu8_epi16, _mm256_loadu_si256,
        _mm256_set1_epi16, _mm256_slli_epi16, _mm256_srai_epi16, _mm_loadu_si128,
    };
    if S == 1 {
        let v = _mm_loadu_si128(p as *const __m128i);
        if signed {
            _mm256_cvtepi8_epi16(v)
        } else {
            _mm256_cvtepu8_epi16(v)
        }
    } else {
        // Little-endian 16-bit words: the even byte is each word's low half.
        let v = _mm256_loadu_si256(p as *const __m256i);
        if signed {
            _mm256_srai_epi16::<8>(_mm256_slli_epi16::<8>(v))
        } else {
            _mm256_and_si256(v, _mm256_set1_epi16(0xff))
        }
    }
}

/// The loops of [`k_qdw`] without explicit SIMD, for any target. On 32-bit Arm the sums are
/// i32, two output pixels at a time in registers (single-cycle multiply-accumulates); elsewhere
/// f32 along the row, which the compiler vectorizes.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn k_qdw_portable<
    X: QIn,
    WT: QIn,
    Y: QOut,
    const C: usize,
    const H: usize,
    const WD: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    x: &[X],
    w: &[WT],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    steps: &[i32],
    y: &mut [Y],
    rq: Requant,
) {
    const OB: usize = 2;
    {
        let x = &x[..C * H * WD];
        let w = &w[..C * KH * KW];
        let y = &mut y[..C * OH * OW];
        for c in 0..C {
            let plane = &x[c * H * WD..(c + 1) * H * WD];
            let wc = &w[c * KH * KW..(c + 1) * KH * KW];
            let (o, m, b) = (off[c], mul[c], bias[c]);
            for oh in 0..OH {
                let rows = &plane[oh * SH * WD..];
                let out = &mut y[(c * OH + oh) * OW..(c * OH + oh + 1) * OW];
                if !cfg!(target_arch = "arm") {
                    // Float lanes along the row: exact, every partial sum is an integer below
                    // 2^24 (the plan admits at most 256 taps of 8-bit values).
                    let mut row = [0f32; OW];
                    for kh in 0..KH {
                        let src = &rows[kh * DH * WD..(kh * DH + 1) * WD];
                        for kw in 0..KW {
                            let wv = wc[kh * KW + kw].wide() as f32;
                            for ow in 0..OW {
                                row[ow] += wv * src[ow * SW + kw * DW].wide() as f32;
                            }
                        }
                    }
                    for ow in 0..OW {
                        out[ow] = Y::store((row[ow] + o as f32) * m + b, rq);
                    }
                    continue;
                }
                let mut ow0 = 0;
                while ow0 + OB <= OW {
                    let mut acc = [o; OB];
                    for kh in 0..KH {
                        let at = kh * DH * WD + ow0 * SW;
                        let src = &rows[at..at + (OB - 1) * SW + (KW - 1) * DW + 1];
                        for kw in 0..KW {
                            let wv = wc[kh * KW + kw].wide();
                            for (j, a) in acc.iter_mut().enumerate() {
                                *a += wv * src[j * SW + kw * DW].wide();
                            }
                        }
                    }
                    for (j, &a) in acc.iter().enumerate() {
                        out[ow0 + j] = m_store(a, 0, c, mul, bias, steps, rq);
                    }
                    ow0 += OB;
                }
                for ow in ow0..OW {
                    let mut a = o;
                    for kh in 0..KH {
                        for kw in 0..KW {
                            a += wc[kh * KW + kw].wide() * rows[kh * DH * WD + ow * SW + kw * DW].wide();
                        }
                    }
                    out[ow] = m_store(a, 0, c, mul, bias, steps, rq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Requant;

    /// The integer depthwise convolution against its definition `Σ (x - zx) · w`, scaled: rows
    /// of 11 pixels (one block of 8 and single pixels on the host), stride 1 and 2, u8 input.
    #[test]
    fn integer_depthwise_agrees_with_the_definition() {
        let (c, h, wd, k, zx) = (3, 6, 13, 3, 7i32);
        let x: Vec<u8> = (0..c * h * wd).map(|i| ((i * 37) % 251) as u8).collect();
        let w: Vec<i8> = (0..c * k * k).map(|i| ((i * 5) % 11) as i8 - 5).collect();
        let off: Vec<i32> =
            (0..c).map(|ch| -zx * w[ch * 9..ch * 9 + 9].iter().map(|&v| v as i32).sum::<i32>()).collect();
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
        super::k_qdw::<u8, i8, f32, 3, 6, 13, 4, 11, 3, 3, 1, 1, 1, 1, 52>(&x, &w, &off, &mul, &bias, &[], &mut y, rq);
        assert_eq!(y, want(1, 4, 11));
        let mut y = vec![f32::NAN; 3 * 4 * 6];
        super::k_qdw::<u8, i8, f32, 3, 6, 13, 4, 6, 3, 3, 1, 2, 1, 1, 0>(&x, &w, &off, &mul, &bias, &[], &mut y, rq);
        assert_eq!(y, want(2, 4, 6));
    }

    /// A small deterministic generator (xorshift) whose values hit the ends of the range often.
    fn values(n: usize, seed: u32, lo: i32, hi: i32) -> Vec<i32> {
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

    /// [`super::k_qdw_avx2`] (where the CPU has AVX2) and [`super::k_qdw`] against the sums by
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
    >(
        x: &[X],
        w: &[WT],
    ) {
        let zx = 3;
        let off: Vec<i32> =
            (0..C).map(|c| -zx * (0..KH * KW).map(|t| w[c * KH * KW + t].wide()).sum::<i32>()).collect();
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
        super::k_qdw::<X, WT, f32, C, H, WD, OH, OW, KH, KW, S, S, DH, DW, N>(
            x,
            w,
            &off,
            &mul,
            &bias,
            &[],
            &mut got.0,
            wide_rq,
        );
        super::k_qdw::<X, WT, u8, C, H, WD, OH, OW, KH, KW, S, S, DH, DW, N>(
            x,
            w,
            &off,
            &mul,
            &bias,
            &[],
            &mut got.1,
            u8_rq,
        );
        assert_eq!(got, want, "k_qdw, {C}×{H}×{WD}, {KH}×{KW}, stride {S}");
        #[cfg(target_arch = "x86_64")]
        if super::x86_avx2_fma() && (OH - 1) * WD + OW >= 16 {
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
            super::k_qdw_portable::<X, WT, f32, C, H, WD, OH, OW, KH, KW, S, S, DH, DW>(
                x,
                w,
                &off,
                &mul,
                &bias,
                &[],
                &mut got.0,
                wide_rq,
            );
            super::k_qdw_portable::<X, WT, u8, C, H, WD, OH, OW, KH, KW, S, S, DH, DW>(
                x,
                w,
                &off,
                &mul,
                &bias,
                &[],
                &mut got.1,
                u8_rq,
            );
            assert_eq!(got, want, "k_qdw_portable, {C}×{H}×{WD}, {KH}×{KW}, stride {S}");
        }
    }

    /// The flattened-plane kernel on DS-CNN's and MobileNet's shapes and on edge cases: odd
    /// widths, stride 2 whose last block would read past the input (summed one by one), dilation,
    /// an odd and an even number of taps, `u8` and `i8` inputs at their extremes, `i8` and
    /// full-range `i16` weights (sums beyond 2^24).
    #[test]
    fn flat_depthwise_agrees_with_the_definition() {
        let u8s = |n, seed| values(n, seed, 0, 255).into_iter().map(|v| v as u8).collect::<Vec<_>>();
        let i8s = |n, seed| values(n, seed, -128, 127).into_iter().map(|v| v as i8).collect::<Vec<_>>();
        let i16s = |n, seed| values(n, seed, -32768, 32767).into_iter().map(|v| v as i16).collect::<Vec<_>>();
        flat_agrees::<u8, i8, 5, 27, 7, 25, 5, 3, 3, 1, 1, 1, 175>(&u8s(5 * 27 * 7, 1), &i8s(5 * 9, 2));
        flat_agrees::<i8, i8, 3, 50, 50, 48, 48, 3, 3, 1, 1, 1, 2400>(&i8s(3 * 2500, 3), &i8s(3 * 9, 4));
        flat_agrees::<i8, i16, 3, 9, 10, 5, 6, 3, 3, 1, 2, 2, 50>(&i8s(3 * 90, 5), &i16s(3 * 9, 6));
        flat_agrees::<u8, i16, 2, 9, 10, 5, 6, 3, 3, 1, 2, 2, 50>(&u8s(2 * 90, 7), &i16s(2 * 9, 8));
        flat_agrees::<u8, i8, 4, 13, 13, 6, 6, 3, 3, 2, 1, 1, 78>(&u8s(4 * 169, 9), &i8s(4 * 9, 10));
        flat_agrees::<i8, i8, 2, 12, 12, 5, 5, 3, 3, 2, 1, 1, 60>(&i8s(2 * 144, 11), &i8s(2 * 9, 12));
        flat_agrees::<u8, i8, 3, 4, 9, 4, 5, 1, 5, 1, 1, 1, 36>(&u8s(3 * 36, 13), &i8s(3 * 5, 14));
        flat_agrees::<i8, i8, 3, 5, 6, 4, 5, 2, 2, 1, 1, 1, 24>(&i8s(3 * 30, 15), &i8s(3 * 4, 16));
        // Fewer than 16 sums: the portable loops.
        flat_agrees::<u8, i8, 2, 4, 4, 2, 2, 3, 3, 1, 1, 1, 8>(&u8s(2 * 16, 17), &i8s(2 * 9, 18));
    }
}
