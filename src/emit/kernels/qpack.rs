//! Packed integer convolutions (and 1×1 convolutions, matrix products): the input's channels in
//! groups of four bytes per pixel, offset to `u8`, and the weights pre-packed at generation as
//! `[MP/16][CQ][KH][KW][16][4]` `i8` (16 output channels by 4 input channels), the layout of
//! AVX512-VNNI's `vpdpbusd`, which sums four `u8 × i8` products into each `i32` lane without
//! intermediate saturation (exact). Chosen at run time: the VNNI microkernel where the x86-64
//! CPU has it ([`x86_vnni`]), else an AVX2 microkernel on the same layout (`vpmaddwd` on the
//! inputs, packed as `u16` for it, and the weights widened to i16) where it has AVX2, else the
//! portable loops. On aarch64, NEON microkernels on the same layout (`qpack_neon.rs`: `sdot`
//! where the build has the dot-product extension, else `smlal`).

#[cfg(target_arch = "x86_64")]
use super::super::{x86_avx2_fma, x86_vnni};
use super::{avx2_or_portable, m_requant, QIn, QOut, Requant};
#[cfg(target_arch = "x86_64")]
use super::{m_levels8, m_pack32, m_requant16, m_requant8, m_requant8_of, m_scaled8};

/// Integer convolution of the packed, padded input `xq` (`[CQ][H][W][4]`, from [`k_qpack`]) by
/// the packed weights `w` (`[MP/16][CQ][KH][KW][16][4]`, `MP` = `M` rounded up to 16, zero past
/// `M`) into `y` (`[M][OH][OW]`); `off` (the input's zero point and the `u8` bias of the input
/// folded in), `mul`, `bias` per output channel (`MP` values each, zero past `M`), stored as
/// [`m_requant`] does.
#[allow(clippy::too_many_arguments)]
fn k_qconv4<
    Y: QOut,
    const CQ: usize,
    const H: usize,
    const W: usize,
    const M: usize,
    const MP: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    xq: &[u8],
    w: &[i8],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let size = if k_qconv4_wide() { 2 } else { 1 };
    let (xq, w, off) = (&xq[..CQ * H * W * 4 * size], &w[..MP * CQ * KH * KW * 4], &off[..MP]);
    let (mul, bias, y) = (&mul[..MP], &bias[..MP], &mut y[..M * OH * OW]);
    const { assert!(MP.is_multiple_of(16) && MP >= M && MP < M + 16, "MP is M rounded up to 16") };
    #[cfg(target_arch = "x86_64")]
    if x86_vnni() {
        // Rows at stride 1 or 2 in whole tiles of 32 pixels computing at most an eighth more
        // than the row, or of 16 computing at most a third more (the last tile moved left):
        // the pixels-in-lanes kernel. (VWW's 6 × 6 planes as 16 + 16 + 16 pixels, 128 → 128
        // channels: 3.8 µs against 4.0 in the channel-blocked tiles; step-times native.)
        let fits = |px: usize, part: usize| OW >= px && OW.div_ceil(px) * px * part <= OW * (part + 1);
        if SW <= 2 && fits(16, 3) {
            // SAFETY: the CPU has AVX512-VNNI; stride 1 or 2 along rows of at least 32 (16)
            // pixels; the slices are as long as the kernel reads.
            unsafe {
                if fits(32, 8) {
                    k_qconv4_px512::<Y, CQ, H, W, M, MP, OH, OW, KH, KW, SH, SW, DH, DW, 2>(
                        xq, w, off, mul, bias, y, rq,
                    )
                } else {
                    k_qconv4_px512::<Y, CQ, H, W, M, MP, OH, OW, KH, KW, SH, SW, DH, DW, 1>(
                        xq, w, off, mul, bias, y, rq,
                    )
                }
            };
            return;
        }
        // SAFETY: the CPU has AVX512-VNNI; the slices are as long as the kernel reads.
        unsafe { k_qconv4_vnni::<Y, CQ, H, W, M, MP, OH, OW, KH, KW, SH, SW, DH, DW>(xq, w, off, mul, bias, y, rq) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // Rows in whole tiles of 16 or 8 pixels computing at most a sixteenth more than the
        // row (the last tile moved left): the pixels-in-lanes kernel. VWW's rows of 36 (as 5
        // tiles of 8) and 9 (as 8 + 8) ran slower on it than on the channel-blocked tiles of
        // six pixels (step-times, native: 11.5 against 10.3 µs for 32 → 128 channels).
        let fits = |px: usize| OW >= px && OW.div_ceil(px) * px * 16 <= OW * 17;
        if k_qconv4_wide() && SW == 1 && (fits(16) || fits(8)) {
            // SAFETY: the CPU has AVX2 and FMA; stride 1 along rows of at least 16 (8) pixels;
            // the input packed as u16.
            let done = unsafe {
                if fits(16) {
                    k_qconv4_px::<Y, CQ, H, W, M, MP, OH, OW, KH, KW, SH, DH, DW, 2, 4>(xq, w, off, mul, bias, y, rq)
                } else {
                    k_qconv4_px::<Y, CQ, H, W, M, MP, OH, OW, KH, KW, SH, DH, DW, 4, 2>(xq, w, off, mul, bias, y, rq)
                }
            };
            if done {
                return;
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    if k_qconv4_wide() {
        // SAFETY: the CPU has AVX2 and FMA; the slices are as long as the kernel reads, the
        // input packed as u16 (`k_qpack`).
        unsafe { k_qconv4_avx2::<Y, CQ, H, W, M, MP, OH, OW, KH, KW, SH, SW, DH, DW>(xq, w, off, mul, bias, y, rq) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    k_qconv4_neon::<Y, CQ, H, W, M, MP, OH, OW, KH, KW, SH, SW, DH, DW>(xq, w, off, mul, bias, y, rq);
    #[cfg(not(target_arch = "aarch64"))]
    avx2_or_portable(
        #[inline(always)]
        || k_qconv4_portable::<Y, CQ, H, W, M, MP, OH, OW, KH, KW, SH, SW, DH, DW>(xq, w, off, mul, bias, y, rq),
    );
}

/// The loops of [`k_qconv4`] without explicit SIMD, for any other target: per block of 16 output
/// channels and output pixel, the 16 sums in a row the compiler vectorizes. (Not on aarch64,
/// which runs [`k_qconv4_neon`].)
#[cfg(not(target_arch = "aarch64"))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn k_qconv4_portable<
    Y: QOut,
    const CQ: usize,
    const H: usize,
    const W: usize,
    const M: usize,
    const MP: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    xq: &[u8],
    w: &[i8],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    for mb in 0..MP / 16 {
        let wb = &w[mb * CQ * KH * KW * 64..(mb + 1) * CQ * KH * KW * 64];
        for oh in 0..OH {
            for ow in 0..OW {
                let mut acc = [0i32; 16];
                acc.copy_from_slice(&off[mb * 16..mb * 16 + 16]);
                for q in 0..CQ {
                    for kh in 0..KH {
                        for kw in 0..KW {
                            let at = ((q * H + oh * SH + kh * DH) * W + ow * SW + kw * DW) * 4;
                            let xv = &xq[at..at + 4];
                            let wk = &wb[((q * KH + kh) * KW + kw) * 64..((q * KH + kh) * KW + kw + 1) * 64];
                            for (m, a) in acc.iter_mut().enumerate() {
                                for j in 0..4 {
                                    *a += xv[j] as i32 * wk[m * 4 + j] as i32;
                                }
                            }
                        }
                    }
                }
                for (m, &a) in acc.iter().enumerate() {
                    let ch = mb * 16 + m;
                    if ch < M {
                        y[(ch * OH + oh) * OW + ow] = m_requant(a, 0, mul[ch], bias[ch], rq);
                    }
                }
            }
        }
    }
}

/// [`k_qconv4`] with AVX512-VNNI, one `vpdpbusd` per block of 16 output channels (`__m512i`
/// sums), pixel and group of four input channels: rows of a multiple of 8 pixels in tiles of 8
/// pixels by up to two blocks, other rows in tiles of six pixels (three, then single pixels at
/// the end of the row) by up to four blocks. Measured (`scripts/step-times.sh`, Xeon with
/// AVX512-VNNI, 2026-12-07, plain / native): the larger int8 ResNet's stride-2 3 × 3 layers (rows
/// of 16 and 8, which the six-pixel tiles ran as 6 + 6 + 3 + 1 and 6 + 1 + 1) 43.7 / 42.7 and
/// 48.5 / 59.7 µs with those, 30.6 / 33.8 and 24.0 / 25.4 with tiles of 8 by 2 blocks (by 3
/// blocks, 24 sums, the native build spilled sums in the loop: 49 µs); DS-CNN's rows of 5 and
/// 125 ran slower in tiles of 8 and 4 (9.8 against 7.7 µs on its first layer) and keep the
/// six-pixel tiles.
///
/// # Safety
/// The CPU has AVX512F, AVX512BW and AVX512-VNNI; the slices are as long as [`k_qconv4`] makes
/// them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qconv4_vnni<
    Y: QOut,
    const CQ: usize,
    const H: usize,
    const W: usize,
    const M: usize,
    const MP: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    xq: &[u8],
    w: &[i8],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let nb = MP / 16;
    // Rows of a multiple of 8 pixels in tiles of 8 by up to 2 blocks, others in tiles of 6 (3,
    // then single pixels at the end of a row) by up to 4 blocks.
    let eights = OW.is_multiple_of(8);
    let mut mb = 0;
    while mb < nb {
        let v = (nb - mb).min(if eights { 2 } else { 4 });
        for oh in 0..OH {
            let mut ow = 0;
            while ow < OW {
                let p = match OW - ow {
                    _ if eights => 8,
                    6.. => 6,
                    3.. => 3,
                    _ => 1,
                };
                let x = &xq[((oh * SH) * W + ow * SW) * 4..];
                let wb = &w[mb * CQ * KH * KW * 64..];
                let init = &off[mb * 16..];
                // SAFETY: the tile's taps, weights and offsets lie inside the slices.
                let sums = unsafe {
                    match (v, p) {
                        (2, 8) => k_qconv4_vnni_tile::<2, 8, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (1, 8) => k_qconv4_vnni_tile::<1, 8, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (4, 6) => k_qconv4_vnni_tile::<4, 6, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (3, 6) => k_qconv4_vnni_tile::<3, 6, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (2, 6) => k_qconv4_vnni_tile::<2, 6, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (1, 6) => k_qconv4_vnni_tile::<1, 6, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (4, 3) => k_qconv4_vnni_tile::<4, 3, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (3, 3) => k_qconv4_vnni_tile::<3, 3, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (2, 3) => k_qconv4_vnni_tile::<2, 3, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (1, 3) => k_qconv4_vnni_tile::<1, 3, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (4, _) => k_qconv4_vnni_tile::<4, 1, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (3, _) => k_qconv4_vnni_tile::<3, 1, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        (2, _) => k_qconv4_vnni_tile::<2, 1, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                        _ => k_qconv4_vnni_tile::<1, 1, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, init),
                    }
                };
                k_qconv4_store::<Y, M, OH, OW, 16, 4, 8>(&sums, (p, v), (mb * 16, oh, ow), mul, bias, y, rq);
                ow += p;
            }
        }
        mb += v;
    }
}

/// Stores the sums of a tile of the packed kernels ([`k_qconv4_vnni_tile`],
/// [`k_qconv4_avx2_tile`], [`k_qconv4_neon_tile`]), at most `P` pixels by `V` blocks of `L` output channels (of 16
/// sums): `p` pixels by `v` blocks, block `b` from channel `m0 + 16·b`, the first pixel at row
/// `oh`, column `ow`; channels past `M` are dropped. Per channel, its `p` pixels are stored in
/// a row.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn k_qconv4_store<
    Y: QOut,
    const M: usize,
    const OH: usize,
    const OW: usize,
    const L: usize,
    const V: usize,
    const P: usize,
>(
    sums: &[[[i32; 16]; V]; P],
    (p, v): (usize, usize),
    (m0, oh, ow): (usize, usize, usize),
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    for b in 0..v {
        let c0 = m0 + b * 16;
        let (mul, bias) = (&mul[c0..c0 + L], &bias[c0..c0 + L]);
        let mut out = [[Y::store(0.0, rq); L]; P];
        for (o, pixel) in out.iter_mut().zip(sums).take(p) {
            for (m, o) in o.iter_mut().enumerate() {
                *o = m_requant(pixel[b][m], 0, mul[m], bias[m], rq);
            }
        }
        for m in 0..M.saturating_sub(c0).min(L) {
            let row = &mut y[((c0 + m) * OH + oh) * OW + ow..][..p];
            for (i, o) in row.iter_mut().enumerate() {
                *o = out[i][m];
            }
        }
    }
}

/// [`k_qconv4_store`] of a tile of [`k_qconv4_avx2_tile`] (`P` pixels by 8 channels from `m0`)
/// with AVX2: per pixel its 8 channels requantized at once by [`m_requant8`], and for byte
/// outputs the 8 × 8 bytes transposed (pixels past `P` unused) so that each channel's `P`
/// bytes are stored in one copy.
///
/// # Safety
/// The CPU has AVX2; `mul` and `bias` hold `m0 + 8` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qconv4_store8<Y: QOut, const M: usize, const OH: usize, const OW: usize, const P: usize>(
    sums: &[[[i32; 16]; 1]; P],
    (m0, oh, ow): (usize, usize, usize),
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    use core::arch::x86_64::*;
    if Y::LEVELS.is_none() {
        return k_qconv4_store::<Y, M, OH, OW, 8, 1, P>(sums, (P, 1), (m0, oh, ow), mul, bias, y, rq);
    }
    let (mul, bias) = (&mul[m0..m0 + 8], &bias[m0..m0 + 8]);
    let mut out = [Y::store(0.0, rq); 64];
    // SAFETY: the CPU has AVX2; `mul`, `bias` and each pixel's sums hold eight values; `Y` is
    // one byte (it has levels), so `out` is 64 bytes.
    unsafe {
        let (m, b) = (_mm256_loadu_ps(mul.as_ptr()), _mm256_loadu_ps(bias.as_ptr()));
        for (eight, s) in out.chunks_exact_mut(8).zip(sums) {
            m_requant8(_mm256_loadu_si256(s[0].as_ptr() as *const __m256i), 0, m, b, rq, eight);
        }
        // Rows of pixels (two to a vector) into rows of channels, by three rounds of unpacking.
        let at = |k: usize| _mm_loadu_si128(out.as_ptr().add(16 * k) as *const __m128i);
        let (t0, t1) = (_mm_unpacklo_epi8(at(0), at(1)), _mm_unpackhi_epi8(at(0), at(1)));
        let (t2, t3) = (_mm_unpacklo_epi8(at(2), at(3)), _mm_unpackhi_epi8(at(2), at(3)));
        let (u0, u1) = (_mm_unpacklo_epi8(t0, t1), _mm_unpackhi_epi8(t0, t1));
        let (u2, u3) = (_mm_unpacklo_epi8(t2, t3), _mm_unpackhi_epi8(t2, t3));
        let pairs = [
            _mm_unpacklo_epi32(u0, u2),
            _mm_unpackhi_epi32(u0, u2),
            _mm_unpacklo_epi32(u1, u3),
            _mm_unpackhi_epi32(u1, u3),
        ];
        for c in 0..M.saturating_sub(m0).min(8) {
            let v = pairs[c / 2];
            let eight = if c % 2 == 0 { _mm_cvtsi128_si64(v) } else { _mm_extract_epi64::<1>(v) };
            let row = &mut y[((m0 + c) * OH + oh) * OW + ow..][..P];
            core::ptr::copy_nonoverlapping(eight.to_le_bytes().as_ptr(), row.as_mut_ptr() as *mut u8, P);
        }
    }
}

/// [`k_qconv4`] with AVX2, for CPUs without AVX512-VNNI, on the input packed as `u16`
/// ([`k_qpack`]), where [`k_qconv4_px`] does not run (strides along rows, rows under 8
/// pixels, weights too many for its stack): per half block of 8 output channels
/// (only as many groups of four channels as hold channels below `M`), six output pixels of a
/// row at a time (five, or three, then single pixels at the end of the row; five: DS-CNN's rows
/// of 5 and 125 pixels) by [`k_qconv4_avx2_tile`]. For rows shorter than 16 pixels whose half
/// block's weights fit in 8 KiB as i16 (at most 128 taps of four channels), the weights are
/// widened once per half block onto the stack, and the tiles, reading them from there instead
/// of two registers, take seven pixels (a row's last 8 to 10 as two tiles of 4 or 5): mnist-8's
/// rows of 14 run as 7 + 7 instead of 6 + 6 + 1 + 1. Longer rows keep the six-pixel tiles,
/// which measured faster there (`scripts/step-times.sh`, int8 QDQ models: DS-CNN's 125-pixel
/// pointwise rows 12.4 against 14.5 µs, VWW's convolutions 198 against 224 µs in all).
///
/// # Safety
/// The CPU has AVX2 and FMA; the slices are as long as [`k_qconv4`] makes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qconv4_avx2<
    Y: QOut,
    const CQ: usize,
    const H: usize,
    const W: usize,
    const M: usize,
    const MP: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    xq: &[u8],
    w: &[i8],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    use core::arch::x86_64::*;
    let taps = CQ * KH * KW;
    let mut stack = [_mm256_setzero_si256(); 256];
    let widen = taps * 2 <= stack.len() && OW < 16;
    for half in 0..M.div_ceil(8) {
        let (mb, m0) = (half / 2, half * 8);
        let groups = (M - m0).div_ceil(4).min(2);
        let wb = &w[mb * taps * 64 + (half % 2) * 32..];
        if widen {
            for t in 0..taps {
                for k in 0..groups {
                    // SAFETY: the CPU has AVX2; the tap's 16 weights lie inside `w`.
                    stack[t * 2 + k] = unsafe {
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(wb[t * 64 + 16 * k..][..16].as_ptr() as *const _))
                    };
                }
            }
        }
        let wide = widen.then(|| &stack[..taps * 2]);
        for oh in 0..OH {
            let mut ow = 0;
            while ow < OW {
                let p = match (widen, OW - ow) {
                    (true, 7 | 11..) => 7,
                    (true, 9 | 10) => 5,
                    (true, 4 | 8) => 4,
                    (_, 6..) => 6,
                    (_, 5) => 5,
                    (_, 3..) => 3,
                    _ => 1,
                };
                let x = &xq[((oh * SH) * W + ow * SW) * 8..];
                let init = &off[m0..m0 + 8];
                macro_rules! tile {
                    ($r:literal, $p:literal) => {{
                        // SAFETY: the CPU has AVX2; the tile's taps and weights lie inside the slices.
                        let sums =
                            unsafe { k_qconv4_avx2_tile::<$r, $p, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, wide, init) };
                        k_qconv4_store8::<Y, M, OH, OW, $p>(&sums, (m0, oh, ow), mul, bias, y, rq)
                    }};
                }
                match (groups, p) {
                    (2, 7) => tile!(2, 7),
                    (2, 6) => tile!(2, 6),
                    (2, 5) => tile!(2, 5),
                    (2, 4) => tile!(2, 4),
                    (2, 3) => tile!(2, 3),
                    (2, _) => tile!(2, 1),
                    (_, 7) => tile!(1, 7),
                    (_, 6) => tile!(1, 6),
                    (_, 5) => tile!(1, 5),
                    (_, 4) => tile!(1, 4),
                    (_, 3) => tile!(1, 3),
                    _ => tile!(1, 1),
                }
                ow += p;
            }
        }
    }
}

/// One register tile of [`k_qconv4_avx2`]: `P` pixels (input at `x` as for
/// [`k_qconv4_vnni_tile`], but packed as `u16`) by `4·R` output channels, `R` at most 2
/// (weights at `w`: each tap's 16 bytes per group of four channels 64 bytes apart, as in the
/// packed layout, or already widened in `wide`, two vectors a tap; sums starting from
/// `init`). Per tap, each group's 16 weights widened to i16
/// in a register (four inputs for each of four channels) and each pixel's four inputs
/// broadcast (one load, already 16-bit): `vpmaddwd`
/// sums pairs of products into i32 lanes, which hold each channel's two pairs side by side
/// until one horizontal add at the end (exact: `u8 · i8` products and their pair sums fit).
/// Returns the sums of channel `m` of pixel `i` at `[i][0][m]`, `m < 8`.
///
/// # Safety
/// The CPU has AVX2; every tap and weight of the tile lies inside its slice (`wide`, when
/// given, holds two vectors for each of the `CQ · KH · KW` taps).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_qconv4_avx2_tile<
    const R: usize,
    const P: usize,
    const CQ: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    x: &[u8],
    w: &[i8],
    wide: Option<&[core::arch::x86_64::__m256i]>,
    init: &[i32],
) -> [[[i32; 16]; 1]; P] {
    use core::arch::x86_64::*;
    let (x, w, init) = (x.as_ptr(), w.as_ptr(), &init[..8]);
    // SAFETY: the caller keeps every offset inside its slice.
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); R]; P];
        for q in 0..CQ {
            for kh in 0..KH {
                for kw in 0..KW {
                    let t = (q * KH + kh) * KW + kw;
                    let mut wv = [_mm256_setzero_si256(); R];
                    for (k, wv) in wv.iter_mut().enumerate() {
                        *wv = match wide {
                            Some(wide) => *wide.get_unchecked(t * 2 + k),
                            None => _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(t * 64 + 16 * k) as *const _)),
                        };
                    }
                    let at = (q * H + kh * DH) * W + kw * DW;
                    for (i, row) in acc.iter_mut().enumerate() {
                        let four = (x.add((at + i * SW) * 8) as *const i64).read_unaligned();
                        let xv = _mm256_set1_epi64x(four);
                        for (a, &wv) in row.iter_mut().zip(&wv) {
                            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wv));
                        }
                    }
                }
            }
        }
        let mut sums = [[[0i32; 16]; 1]; P];
        let init = _mm256_loadu_si256(init.as_ptr() as *const _);
        for (s, row) in sums.iter_mut().zip(&acc) {
            let second = if R > 1 { row[R - 1] } else { _mm256_setzero_si256() };
            // hadd: channels 0, 1, 4, 5 | 2, 3, 6, 7; the permutation puts them in order.
            let eight = _mm256_permute4x64_epi64::<0xd8>(_mm256_hadd_epi32(row[0], second));
            _mm256_storeu_si256(s[0].as_mut_ptr() as *mut _, _mm256_add_epi32(eight, init));
        }
        sums
    }
}

/// One register tile of [`k_qconv4_vnni`]: `P` pixels (input at `x`: the first pixel's top-left
/// tap in the first group of channels) by `V` blocks of 16 output channels (weights at `w`, sums
/// starting from `init`); returns the sums, at most eight pixels by two blocks or six by four.
///
/// # Safety
/// The CPU has AVX512F and AVX512-VNNI; every tap, weight and offset of the tile lies inside
/// its slice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn k_qconv4_vnni_tile<
    const V: usize,
    const P: usize,
    const CQ: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    x: &[u8],
    w: &[i8],
    init: &[i32],
) -> [[[i32; 16]; 4]; 8] {
    use core::arch::x86_64::*;
    let (x, w, init) = (x.as_ptr(), w.as_ptr(), init.as_ptr());
    let block = CQ * KH * KW * 64;
    // SAFETY: the caller keeps every offset inside its slice.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); V]; P];
        for row in acc.iter_mut() {
            for (b, a) in row.iter_mut().enumerate() {
                *a = _mm512_loadu_si512(init.add(b * 16) as *const _);
            }
        }
        for q in 0..CQ {
            for kh in 0..KH {
                for kw in 0..KW {
                    let tap = ((q * KH + kh) * KW + kw) * 64;
                    let mut wv = [_mm512_setzero_si512(); V];
                    for (b, wv) in wv.iter_mut().enumerate() {
                        *wv = _mm512_loadu_si512(w.add(b * block + tap) as *const _);
                    }
                    let at = (q * H + kh * DH) * W + kw * DW;
                    for (i, row) in acc.iter_mut().enumerate() {
                        let xv = _mm512_set1_epi32((x.add((at + i * SW) * 4) as *const i32).read_unaligned());
                        for (a, &wv) in row.iter_mut().zip(&wv) {
                            *a = _mm512_dpbusd_epi32(*a, xv, wv);
                        }
                    }
                }
            }
        }
        let mut sums = [[[0i32; 16]; 4]; 8];
        for (s, row) in sums.iter_mut().zip(&acc) {
            for (s, a) in s.iter_mut().zip(row) {
                _mm512_storeu_si512(s.as_mut_ptr() as *mut _, *a);
            }
        }
        sums
    }
}

include!("qpw.rs");

// The AVX512-VNNI pixels-in-lanes kernel `k_qconv4` calls where rows hold whole tiles.
include!("qpw_avx512.rs");

// The input's packing, which `k_qconv4` reads.
include!("qpack_in.rs");

// The NEON kernels `k_qconv4` calls on aarch64.
include!("qpack_neon.rs");

#[cfg(test)]
#[path = "qpack_tests.rs"]
mod tests;
