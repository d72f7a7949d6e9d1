//! Convolutions, float and integer: padding into a scratch buffer, a direct convolution with
//! the output channels innermost (any kernel, stride, dilation, group) whose tiles are shared by
//! the float and the integer kernel (the accumulator type is the only difference), and the
//! integer depthwise path (the float one is in `dw.rs`). Bias and a clamp (ReLU, ReLU6, Clip) are fused into the store. On x86-64 CPUs
//! with AVX-512F or AVX2 and FMA (checked at run time) the float convolution is an
//! explicit-SIMD microkernel (AVX-512: pixels in the lanes for strides 1 and 2 and rows of 8s,
//! `conv_avx512.rs`; AVX2: pixels in the lanes for stride-1 rows of at least 8 pixels,
//! `conv_px.rs`, else channels) and the others are compiled for AVX2. On aarch64 the float
//! convolution is a NEON microkernel (`conv_neon.rs`).

#[cfg(target_arch = "x86_64")]
use super::super::x86_avx512f;
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
use super::qarm::k_qconv_dsp;
#[cfg(target_arch = "x86_64")]
use super::x86_avx2_fma;
use super::{avx2_or_portable, m_clamp, m_store, QIn, QOut, Requant};

/// Copies `x` (`[C][H][W]`) into `p` (`[C][PH][PW]`) at row `PT`, column `PL`, `fill` around
/// (zero, or a quantized input's zero point).
fn k_pad2d<
    T: Copy,
    const C: usize,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const PT: usize,
    const PL: usize,
>(
    x: &[T],
    p: &mut [T],
    fill: T,
) {
    let p = &mut p[..C * PH * PW];
    // Each element written once: the border filled, the interior copied.
    for c in 0..C {
        let plane = &mut p[c * PH * PW..(c + 1) * PH * PW];
        plane[..PT * PW].fill(fill);
        for h in 0..H {
            let row = &mut plane[(PT + h) * PW..(PT + h + 1) * PW];
            row[..PL].fill(fill);
            row[PL..PL + W].copy_from_slice(&x[(c * H + h) * W..(c * H + h + 1) * W]);
            row[PL + W..].fill(fill);
        }
        plane[(PT + H) * PW..].fill(fill);
    }
}

/// Convolution of an already padded `x` (`[G·CG][H][W]`) by `w` laid out
/// `[G][MG/MB][CG][KH][KW][MB]` into `y` (`[G·MG][OH][OW]`), bias per output channel, clamped.
/// On x86-64 CPUs with AVX-512F [`k_conv_px_avx512`] for strides 1 and 2 along the rows and
/// rows of a multiple of 8 pixels; else with AVX2 and FMA [`k_conv_px_avx2`] or
/// [`k_conv_avx2`]; on aarch64 [`k_conv_neon`] (`MB` a multiple of 4); else the portable tiles.
fn k_conv<
    const G: usize,
    const CG: usize,
    const H: usize,
    const W: usize,
    const MG: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const MB: usize,
    const SUB: usize,
    const PB: usize,
>(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let y = &mut y[..G * MG * OH * OW];
    #[cfg(target_arch = "x86_64")]
    if (SW == 1 || SW == 2)
        && OW.is_multiple_of(8)
        && MB.is_multiple_of(4)
        && !lo.is_nan()
        && !hi.is_nan()
        && x86_avx512f()
    {
        let (x, w, b) = (&x[..G * CG * H * W], &w[..G * MG * CG * KH * KW], &b[..G * MG]);
        // SAFETY: the CPU has AVX-512F; the slices are as long as the kernel reads.
        unsafe { k_conv_px_avx512::<G, CG, H, W, MG, OH, OW, KH, KW, SH, SW, DH, DW, MB>(x, w, b, y, lo, hi) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if MB & 7 == 0 && !lo.is_nan() && !hi.is_nan() && x86_avx2_fma() {
        let (x, w, b) = (&x[..G * CG * H * W], &w[..G * MG * CG * KH * KW], &b[..G * MG]);
        // SAFETY: the CPU has AVX2 and FMA; the slices are as long as the kernels read.
        unsafe {
            if SW == 1 && OW >= 8 {
                k_conv_px_avx2::<G, CG, H, W, MG, OH, OW, KH, KW, SH, DH, DW, MB>(x, w, b, y, lo, hi);
            } else {
                k_conv_avx2::<G, CG, H, W, MG, OH, OW, KH, KW, SH, SW, DH, DW, MB>(x, w, b, y, lo, hi);
            }
        }
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if MB & 3 == 0 && !lo.is_nan() && !hi.is_nan() {
        let (x, w, b) = (&x[..G * CG * H * W], &w[..G * MG * CG * KH * KW], &b[..G * MG]);
        // SAFETY: the slices are as long as the kernel reads.
        unsafe { k_conv_neon::<G, CG, H, W, MG, OH, OW, KH, KW, SH, SW, DH, DW, MB>(x, w, b, y, lo, hi) };
        return;
    }
    avx2_or_portable(
        #[inline(always)]
        || {
            k_conv_tiles::<f32, f32, f32, G, CG, H, W, MG, OH, OW, KH, KW, SH, SW, DH, DW, MB, SUB, PB>(
                x,
                w,
                b,
                |at, _, v| y[at] = m_clamp(v, lo, hi),
            )
        },
    );
}

/// [`k_conv`] with AVX2 and FMA (`MB` a multiple of 8, bounds not NaN): per weight block, up
/// to 24 output channels (three `__m256`) by four output pixels at a time (a single vector of
/// channels by 12 pixels where the row has room; single pixels at the end of a row; 16 channels
/// by 6 pixels measured slower on ResNet-8's stride-2 layers), the sums starting from the bias,
/// clamped in registers and stored to the channels' planes.
///
/// # Safety
/// The CPU has AVX2 and FMA; `x`, `w`, `b` and `y` are as long as [`k_conv`] makes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_conv_avx2<
    const G: usize,
    const CG: usize,
    const H: usize,
    const W: usize,
    const MG: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const MB: usize,
>(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let (x, w, b, y) = (x.as_ptr(), w.as_ptr(), b.as_ptr(), y.as_mut_ptr());
    for g in 0..G {
        for m0 in (0..MG).step_by(MB) {
            let mut s = 0;
            while s < MB {
                // Three vectors of channels at a time; four left go as two and two.
                let left = (MB - s) / 8;
                let v = if left == 4 { 2 } else { left.min(3) };
                let first = g * MG + m0 + s;
                for oh in 0..OH {
                    let mut ow0 = 0;
                    while ow0 < OW {
                        // One vector of channels by 12 pixels where the row has room (12 sums
                        // in registers), else 4 pixels, then single pixels at the row's end.
                        let pb = if v == 1 && ow0 + 12 <= OW {
                            12
                        } else if ow0 + 4 <= OW {
                            4
                        } else {
                            1
                        };
                        // SAFETY: the tile's input rows, weights, bias and outputs lie inside the
                        // slices (channels first..first + 8v of group g, pixels ow0..ow0 + pb).
                        unsafe {
                            let t = (
                                x.add((g * CG * H + oh * SH) * W + ow0 * SW),
                                w.add((g * MG + m0) * CG * KH * KW + s),
                                b.add(first),
                                y.add((first * OH + oh) * OW + ow0),
                                lo,
                                hi,
                            );
                            match (pb, v) {
                                (12, _) => k_conv_avx2_tile::<12, 1, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (4, 3) => k_conv_avx2_tile::<4, 3, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (4, 2) => k_conv_avx2_tile::<4, 2, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (4, _) => k_conv_avx2_tile::<4, 1, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (_, 3) => k_conv_avx2_tile::<1, 3, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (_, 2) => k_conv_avx2_tile::<1, 2, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                _ => k_conv_avx2_tile::<1, 1, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                            }
                        }
                        ow0 += pb;
                    }
                }
                s += v * 8;
            }
        }
    }
}

/// One register tile of [`k_conv_avx2`]: `PB` pixels (input at `x`: the first pixel's top-left
/// tap in the group's first channel) by `V` vectors of eight output channels (weights at `w`,
/// bias at `b`), clamped to `[lo, hi]` into `y` (the first channel's plane at the first pixel).
///
/// # Safety
/// The CPU has AVX2 and FMA; every tap, weight, bias and output of the tile lies inside its
/// slice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::type_complexity)]
unsafe fn k_conv_avx2_tile<
    const PB: usize,
    const V: usize,
    const CG: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const MB: usize,
>(
    (x, w, b, y, lo, hi): (*const f32, *const f32, *const f32, *mut f32, f32, f32),
) {
    use core::arch::x86_64::*;
    // SAFETY: the caller keeps every offset inside its slice.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); V]; PB];
        for (v, sum) in acc[0].iter_mut().enumerate() {
            *sum = _mm256_loadu_ps(b.add(v * 8));
        }
        for p in 1..PB {
            acc[p] = acc[0];
        }
        for c in 0..CG {
            for kh in 0..KH {
                let xr = x.add((c * H + kh * DH) * W);
                let wr = w.add((c * KH + kh) * KW * MB);
                for kw in 0..KW {
                    let mut wv = [_mm256_setzero_ps(); V];
                    for (v, wv) in wv.iter_mut().enumerate() {
                        *wv = _mm256_loadu_ps(wr.add(kw * MB + v * 8));
                    }
                    for (p, acc) in acc.iter_mut().enumerate() {
                        let xv = _mm256_set1_ps(*xr.add(p * SW + kw * DW));
                        for (sum, wv) in acc.iter_mut().zip(wv) {
                            *sum = _mm256_fmadd_ps(xv, wv, *sum);
                        }
                    }
                }
            }
        }
        let (lo, hi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
        let mut lanes = [0f32; 8];
        for (p, acc) in acc.iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_min_ps(hi, _mm256_max_ps(lo, sum)));
                for (l, &lane) in lanes.iter().enumerate() {
                    *y.add((v * 8 + l) * OH * OW + p) = lane;
                }
            }
        }
    }
}

/// The direct convolution of [`k_conv`] and [`k_qconv`], for any accumulator `A` (f32, or i32
/// for integers): each sum starts from `init` (per output channel), adds `x · w` widened to `A`,
/// and goes to `store(index in y, output channel, sum)`. Each weight block of `MB` output
/// channels is summed `SUB` channels at a time (`SUB` divides `MB`; fewer on targets with fewer
/// or narrower vector registers), output pixels `PB` at a time: the `PB × SUB` sums stay in
/// registers, each weight load serves `PB` pixels and each input value `SUB` channels.
#[inline(always)]
fn k_conv_tiles<
    X: Copy + Into<A>,
    WT: Copy + Into<A>,
    A: Copy + Default + core::ops::AddAssign + core::ops::Mul<Output = A>,
    const G: usize,
    const CG: usize,
    const H: usize,
    const W: usize,
    const MG: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const MB: usize,
    const SUB: usize,
    const PB: usize,
>(
    x: &[X],
    w: &[WT],
    init: &[A],
    mut store: impl FnMut(usize, usize, A),
) {
    let x = &x[..G * CG * H * W];
    let w = &w[..G * KH * KW * CG * MG];
    for g in 0..G {
        for m0 in (0..MG).step_by(MB) {
            let block = &w[(g * MG + m0) * CG * KH * KW..(g * MG + m0 + MB) * CG * KH * KW];
            for oh in 0..OH {
                let mut ow0 = 0;
                while ow0 < OW {
                    let n = if ow0 + PB <= OW { PB } else { OW - ow0 };
                    for s in (0..MB).step_by(SUB) {
                        let first = g * MG + m0 + s;
                        let mut acc = [[A::default(); SUB]; PB];
                        for row in acc.iter_mut() {
                            row.copy_from_slice(&init[first..first + SUB]);
                        }
                        for (c, wc) in block.chunks_exact(KH * KW * MB).enumerate() {
                            for kh in 0..KH {
                                let at = ((g * CG + c) * H + oh * SH + kh * DH) * W + ow0 * SW;
                                let wk = &wc[kh * KW * MB..(kh + 1) * KW * MB];
                                if n == PB {
                                    // One bounds check per input row, none in the sums.
                                    let xr = &x[at..at + (PB - 1) * SW + (KW - 1) * DW + 1];
                                    for kw in 0..KW {
                                        let wr = &wk[kw * MB + s..kw * MB + s + SUB];
                                        for p in 0..PB {
                                            let xv: A = xr[p * SW + kw * DW].into();
                                            for m in 0..SUB {
                                                acc[p][m] += xv * wr[m].into();
                                            }
                                        }
                                    }
                                } else {
                                    for kw in 0..KW {
                                        let wr = &wk[kw * MB + s..kw * MB + s + SUB];
                                        for p in 0..n {
                                            let xv: A = x[at + p * SW + kw * DW].into();
                                            for m in 0..SUB {
                                                acc[p][m] += xv * wr[m].into();
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        for (p, row) in acc.iter().enumerate().take(n) {
                            for (m, &a) in row.iter().enumerate() {
                                store(((first + m) * OH + oh) * OW + ow0 + p, first + m, a);
                            }
                        }
                    }
                    ow0 += n;
                }
            }
        }
    }
}

/// Integer convolution of an already padded `x` (`[G·CG][H][W]`) by `w` laid out
/// `[G][MG/MB][CG][KH][KW][MB]` into `y` (`[G·MG][OH][OW]`); `off`, `mul`, `bias` per output
/// channel, `steps` the integer store's table or empty ([`m_store`]). The float convolution's
/// tiles ([`k_conv_tiles`]), summing in i32; on 32-bit Arm with the DSP extension, 8-bit
/// inputs by `i8` weights in blocks of two channels run as [`k_qconv_dsp`] (SMLAD).
#[allow(clippy::too_many_arguments)]
fn k_qconv<
    X: QIn + Into<i32>,
    W: QIn + Into<i32>,
    Y: QOut,
    const G: usize,
    const CG: usize,
    const H: usize,
    const WD: usize,
    const MG: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const MB: usize,
    const SUB: usize,
    const PB: usize,
>(
    x: &[X],
    w: &[W],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    steps: &[i32],
    y: &mut [Y],
    rq: Requant,
) {
    let y = &mut y[..G * MG * OH * OW];
    #[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
    if MB == 2 && W::I8 && core::mem::size_of::<X>() == 1 && CG * KH * KW <= 768 {
        // SAFETY: `W` is `i8`.
        let w = unsafe { core::slice::from_raw_parts(w.as_ptr() as *const i8, w.len()) };
        k_qconv_dsp::<X, Y, G, CG, H, WD, MG, OH, OW, KH, KW, SH, SW, DH, DW>(x, w, off, (mul, bias, steps), y, rq);
        return;
    }
    avx2_or_portable(
        #[inline(always)]
        || {
            k_conv_tiles::<X, W, i32, G, CG, H, WD, MG, OH, OW, KH, KW, SH, SW, DH, DW, MB, SUB, PB>(
                x,
                w,
                off,
                |at, ch, v| y[at] = m_store(v, 0, ch, mul, bias, steps, rq),
            )
        },
    );
}

/// `p` (`[C][PH][PW]`) = `x - zero` (`x`: `[C][H][W]` integers) as f32 at row `PT`, column `PL`,
/// zeros around (the padding of a quantized tensor is its zero point).
fn k_widen_pad<
    X: QIn,
    const C: usize,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const PT: usize,
    const PL: usize,
>(
    x: &[X],
    p: &mut [f32],
    zero: i32,
) {
    let p = &mut p[..C * PH * PW];
    p.fill(0.0);
    for c in 0..C {
        for h in 0..H {
            let src = &x[(c * H + h) * W..(c * H + h + 1) * W];
            let at = (c * PH + h + PT) * PW + PL;
            for (d, s) in p[at..at + W].iter_mut().zip(src) {
                *d = (s.wide() - zero) as f32;
            }
        }
    }
}

// The pixels-in-lanes AVX2 path `k_conv` calls, in this scope as in the generated one.
include!("conv_px.rs");
include!("conv_avx512.rs");

// The NEON path `k_conv` calls on aarch64.
include!("conv_neon.rs");

#[cfg(test)]
mod tests {
    use super::super::Requant;

    /// Direct convolution by the definition: `x` `[C][H][W]` (padded), `w` `[M][C][KH][KW]`,
    /// stride 1, no dilation, one group.
    fn reference(x: &[f32], w: &[f32], (c, h, wd, m, k): (usize, usize, usize, usize, usize)) -> Vec<f32> {
        let (oh, ow) = (h - k + 1, wd - k + 1);
        let mut y = vec![0.0; m * oh * ow];
        for mi in 0..m {
            for r in 0..oh {
                for s in 0..ow {
                    let mut acc = 0.0;
                    for ci in 0..c {
                        for a in 0..k {
                            for b in 0..k {
                                acc += x[(ci * h + r + a) * wd + s + b] * w[((mi * c + ci) * k + a) * k + b];
                            }
                        }
                    }
                    y[(mi * oh + r) * ow + s] = acc;
                }
            }
        }
        y
    }

    /// The AVX2 convolution against the portable tiles (exact: small integers) on
    /// `[2·CG][H][W]` by 2 groups of `MG` filters of `KH × KW`, stride (1, `SW`), dilation (2, 1),
    /// weight blocks of `MB` channels.
    #[cfg(target_arch = "x86_64")]
    fn avx2_matches_portable<
        const CG: usize,
        const H: usize,
        const W: usize,
        const MG: usize,
        const OH: usize,
        const OW: usize,
        const KH: usize,
        const KW: usize,
        const SW: usize,
        const MB: usize,
    >() {
        if !super::super::x86_avx2_fma() {
            println!("skipped: this CPU has no AVX2 and FMA");
            return;
        }
        assert_eq!((OH, OW), (H - 2 * (KH - 1), (W - KW) / SW + 1));
        let x: Vec<f32> = (0..2 * CG * H * W).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let w: Vec<f32> = (0..2 * MG * CG * KH * KW).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..2 * MG).map(|i| (i % 5) as f32).collect();
        let (lo, hi) = (-8.0f32, 10.0f32);
        let mut want = vec![f32::NAN; 2 * MG * OH * OW];
        super::k_conv_tiles::<f32, f32, f32, 2, CG, H, W, MG, OH, OW, KH, KW, 1, SW, 2, 1, MB, 8, 2>(
            &x,
            &w,
            &b,
            |at, _, v| want[at] = v.max(lo).min(hi),
        );
        let mut got = vec![f32::NAN; want.len()];
        // SAFETY: checked above that the CPU has AVX2 and FMA.
        unsafe { super::k_conv_avx2::<2, CG, H, W, MG, OH, OW, KH, KW, 1, SW, 2, 1, MB>(&x, &w, &b, &mut got, lo, hi) };
        assert_eq!(got, want);
        assert!(want.contains(&lo) || want.contains(&hi), "the clamp is exercised");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_convolutions_match_the_portable_ones_at_tile_edges() {
        // 40 channels: vectors 3 + 2; rows of 5 pixels: 4 + 1.
        avx2_matches_portable::<3, 6, 11, 40, 2, 5, 3, 2, 2, 40>();
        // Two blocks of 32 channels (vectors 2 + 2); rows of 3 pixels.
        avx2_matches_portable::<2, 5, 5, 64, 1, 3, 3, 3, 1, 32>();
        // 8 channels, one vector; rows of 9 pixels: 4 + 4 + 1.
        avx2_matches_portable::<1, 4, 9, 8, 2, 9, 2, 1, 1, 8>();
        // Two blocks of 8 channels; rows of 13 pixels: 12 + 1.
        avx2_matches_portable::<1, 4, 27, 16, 2, 13, 2, 3, 2, 8>();
    }

    /// Padding writes every element of the padded buffer: the input at its place, `fill`
    /// elsewhere (the buffer starts as NaN, so an element left out shows).
    #[test]
    fn padding_writes_the_input_inside_and_fill_around() {
        let x: Vec<f32> = (0..2 * 2 * 3).map(|i| i as f32).collect();
        let mut p = vec![f32::NAN; 2 * 5 * 6];
        super::k_pad2d::<f32, 2, 2, 3, 5, 6, 1, 2>(&x, &mut p, -1.0);
        for (i, &v) in p.iter().enumerate() {
            let (c, h, w) = (i / 30, i / 6 % 5, i % 6);
            let inside = (1..3).contains(&h) && (2..5).contains(&w);
            let want = if inside { x[(c * 2 + h - 1) * 3 + w - 2] } else { -1.0 };
            assert_eq!(v, want, "element {i} (c {c}, h {h}, w {w})");
        }
    }

    #[test]
    fn float_and_integer_convolutions_agree_with_the_definition() {
        // 2 channels of 4 × 5, 4 filters of 3 × 3 in one block (MB 4, SUB 2), two pixels a tile
        // (the row of 3 ends with a single pixel).
        let (c, h, wd, m, k) = (2, 4, 5, 4, 3);
        let x: Vec<f32> = (0..c * h * wd).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let w: Vec<f32> = (0..m * c * k * k).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
        let want = reference(&x, &w, (c, h, wd, m, k));
        // Weights laid out [G][M/MB][C][KH][KW][MB].
        let mut blocked = vec![0.0; w.len()];
        for mi in 0..m {
            for i in 0..c * k * k {
                blocked[i * m + mi] = w[mi * c * k * k + i];
            }
        }
        let mut y = vec![0.0; want.len()];
        super::k_conv::<1, 2, 4, 5, 4, 2, 3, 3, 3, 1, 1, 1, 1, 4, 2, 2>(&x, &blocked, &[0.0; 4], &mut y, -1e9, 1e9);
        assert_eq!(y, want);
        let (xi, wi): (Vec<i8>, Vec<i8>) =
            (x.iter().map(|&v| v as i8).collect(), blocked.iter().map(|&v| v as i8).collect());
        let rq = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 1.0, zero: 0.0 };
        let mut yi = vec![0.0f32; want.len()];
        super::k_qconv::<i8, i8, f32, 1, 2, 4, 5, 4, 2, 3, 3, 3, 1, 1, 1, 1, 4, 2, 2>(
            &xi,
            &wi,
            &[0; 4],
            &[1.0; 4],
            &[0.0; 4],
            &[],
            &mut yi,
            rq,
        );
        assert_eq!(yi, want);
    }
}
