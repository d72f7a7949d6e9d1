// The AVX512-VNNI form of `k_qconv4` for convolutions at stride 1 or 2 along the rows whose
// output rows hold at least 16 pixels (1×1 convolutions and matrix products on one pixel's rows
// as one row of all their pixels, and VWW's first 3 × 3 layer at stride 2): output pixels in
// the lanes, as `k_qconv4_px` has them on AVX2, so that a tile's sums of one output channel are
// sixteen consecutive pixels of a row, requantized at once (`m_requant16`) and stored in one
// 16-byte store. The channel-blocked VNNI tiles (`k_qconv4_vnni`) hold a pixel's 16 channels in
// a vector and store each sum alone, which on VWW's 8 → 16 channels over 2,304 pixels cost four
// times the sums (step-times, 2026-12-07: 21.0 µs native against the float product's 6.4).
//
// It reads the operands `k_qconv4` reads: the input packed by `k_qpack` as bytes, four input
// channels to a pixel (a 64-byte load holds sixteen pixels' four channels; at stride 2, the even
// pixels of two loads, taken by one `vpermt2d`), and the `i8` weights
// `[MP/16][CQ][KH][KW][16][4]`, whose four weights of a tap and output channel are one dword,
// broadcast into `vpdpbusd`'s memory operand. (`include!`d by the unit tests into the scope of
// `qpack.rs`, whose `k_qconv4` calls it.)

/// [`k_qconv4`]'s AVX512-VNNI kernel for `SW` 1 or 2 and `OW ≥ 16·NV`: per group of eight
/// output channels (a group lies in a block of 16; channels past `M` have zero weights and are
/// dropped), per output row, tiles of `16·NV` pixels by the eight channels
/// ([`k_qconv4_px512_tile`]; the last tile moved left to end at the row's end, its pixels
/// computed twice stored twice, alike), each channel's sixteen sums stored at once by
/// [`m_requant16`].
///
/// # Safety
/// The CPU has AVX512F, AVX512BW and AVX512-VNNI; `SW` is 1 or 2 and `OW ≥ 16·NV`; the slices
/// are as long as [`k_qconv4`] makes them (`xq` packed as bytes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qconv4_px512<
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
    const NV: usize,
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
    assert!((SW == 1 || SW == 2) && OW >= 16 * NV, "rows of whole tiles at stride 1 or 2");
    let (taps, px) = (CQ * KH * KW, 16 * NV);
    let (xq, w, y) = (&xq[..CQ * H * W * 4], &w[..MP * taps * 4], &mut y[..M * OH * OW]);
    for m0 in (0..M).step_by(8) {
        let block = &w[(m0 / 16) * taps * 64 + (m0 % 16) * 4..];
        // Per channel of the group: the sums start at its offset; its scale and bias broadcast.
        let start: [__m512i; 8] = core::array::from_fn(|r| _mm512_set1_epi32(off[m0 + r]));
        let scale: [(__m512, __m512); 8] =
            core::array::from_fn(|r| (_mm512_set1_ps(mul[m0 + r]), _mm512_set1_ps(bias[m0 + r])));
        for oh in 0..OH {
            let mut p0 = 0;
            loop {
                let p = p0.min(OW - px);
                // SAFETY: the CPU has AVX512-VNNI; the tile's pixels p..p + 16·NV lie inside the
                // row, and with them their taps inside `xq`; `block` holds the group's weights.
                let sums = unsafe {
                    k_qconv4_px512_tile::<NV, CQ, H, W, KH, KW, SW, DH, DW>(&xq[(oh * SH * W + p * SW) * 4..], block, start)
                };
                let at = (m0 * OH + oh) * OW + p;
                for (r, (sums, &(m, b))) in sums.iter().zip(&scale).enumerate().take(M - m0) {
                    for (v, &s) in sums.iter().enumerate() {
                        // SAFETY: the CPU has AVX512F; the row holds the tile's 16·NV pixels.
                        unsafe { m_requant16(s, m, b, rq, &mut y[at + r * OH * OW + 16 * v..]) };
                    }
                }
                if p0 + px >= OW {
                    break;
                }
                p0 += px;
            }
        }
    }
}

/// The sums of `16·NV` pixels of a row (input at `x`: the first pixel's top-left tap in the
/// first group of four channels, bytes; pixels `SW` apart) by eight output channels (`w`: the
/// group's weights, channel `r`'s four of tap `t` at bytes `64·t + 4·r`), starting from `start`:
/// per channel, `NV` vectors of sixteen pixels' sums in order. At stride 2 each vector of taps
/// is the even pixels of 32, the second load masked to its first 15 (the 32nd pixel, which the
/// tile does not read, may lie past the end of the input).
///
/// # Safety
/// The CPU has AVX512F, AVX512BW and AVX512-VNNI; `x` holds every tap of the pixels and `w`
/// every weight of the group.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn k_qconv4_px512_tile<
    const NV: usize,
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
    start: [core::arch::x86_64::__m512i; 8],
) -> [[core::arch::x86_64::__m512i; NV]; 8] {
    use core::arch::x86_64::*;
    let (x, w) = (x.as_ptr() as *const i32, w.as_ptr());
    // SAFETY: the caller keeps every offset inside its slice.
    unsafe {
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let mut acc = start.map(|s| [s; NV]);
        for q in 0..CQ {
            for kh in 0..KH {
                for kw in 0..KW {
                    let (t, at) = ((q * KH + kh) * KW + kw, (q * H + kh * DH) * W + kw * DW);
                    let xv: [__m512i; NV] = core::array::from_fn(|v| {
                        let first = x.add(at + 16 * SW * v);
                        if SW == 1 {
                            _mm512_loadu_si512(first as *const _)
                        } else {
                            let (a, b) = (_mm512_loadu_si512(first as *const _), _mm512_maskz_loadu_epi32(0x7fff, first.add(16)));
                            _mm512_permutex2var_epi32(a, even, b)
                        }
                    });
                    for (r, a) in acc.iter_mut().enumerate() {
                        let wv = _mm512_set1_epi32((w.add(t * 64 + 4 * r) as *const i32).read_unaligned());
                        for (a, &xv) in a.iter_mut().zip(&xv) {
                            *a = _mm512_dpbusd_epi32(*a, xv, wv);
                            // An empty `asm!` taking the sum in a register (as in
                            // `k_qconv4_px_tile`): the plain build otherwise scheduled a fully
                            // unrolled tile's loads ahead and kept sums on the stack (DS-CNN's
                            // first layer, 10 taps: 304 stack accesses, 4.0 µs against 2.8 native).
                            core::arch::asm!("/* {0} */", inout(zmm_reg) *a, options(pure, nomem, nostack));
                        }
                    }
                }
            }
        }
        acc
    }
}
