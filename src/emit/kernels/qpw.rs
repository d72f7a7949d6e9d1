// The AVX2 form of `k_qconv4` for convolutions at stride 1 along the rows whose output rows
// hold at least 8 pixels (1×1 convolutions and matrix products on one pixel's rows as one row
// of all their pixels): output pixels in the vector lanes, so that a tile's sums of one output
// channel are consecutive pixels of a row, requantized eight at a time and stored in a row
// (the channel-blocked tiles of `k_qconv4_avx2` store each sum alone, which cost more than
// the sums themselves when the convolution has few taps).
//
// It reads the operands `k_qconv4` reads: the input packed by `k_qpack` as `u16`, four input
// channels to a pixel, and the `i8` weights `[MP/16][CQ][KH][KW][16][4]`, whose four weights
// of a tap and output channel it widens to i16 once per group of output channels, on the
// stack (a group's weights of a tap are adjacent bytes: one `vpmovsxbw` per two channels). A
// 32-byte load of the input holds four pixels' four channels; `vpmaddwd` against one output
// channel's four weights, broadcast, sums them in pairs into i32 lanes (exact: `u8 · i8`
// products and their pair sums fit), and one horizontal add at the end joins each pixel's two
// pairs. (`include!`d by the unit tests into the scope of `qpack.rs`, whose `k_qconv4` calls
// it.)

/// [`k_qconv4`]'s AVX2 kernel for `SW = 1`, `OW ≥ 4·NV`, if the weights of `NC` output
/// channels fit its stack as i16 (8 KiB: `CQ · KH · KW · NC` at most 1024; returns whether
/// they did, having computed nothing if not): per group of `NC` output channels (`NC` 2 or 4,
/// so that a group lies in a block of 16; channels past `M` have zero weights and are dropped),
/// their weights widened to i16 on the stack, then per output row tiles of `4·NV` pixels
/// ([`k_qconv4_px_tile`]; the last tile moved left to end at the row's end, its pixels computed
/// twice stored twice, alike), each channel's sums stored eight at a time by [`m_requant8`].
///
/// # Safety
/// The CPU has AVX2 and FMA; `SW = 1`, `OW ≥ 4·NV`; the slices are as long as [`k_qconv4`]
/// makes them (`xq` packed as `u16`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qconv4_px<
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
    const DH: usize,
    const DW: usize,
    const NC: usize,
    const NV: usize,
>(
    xq: &[u8],
    w: &[i8],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) -> bool {
    use core::arch::x86_64::*;
    let (taps, px) = (CQ * KH * KW, 4 * NV);
    let mut stack = [0u64; 1024];
    if taps * NC > stack.len() {
        return false;
    }
    let (xq, w, y) = (&xq[..CQ * H * W * 8], &w[..MP * taps * 4], &mut y[..M * OH * OW]);
    let wide = &mut stack[..taps * NC];
    const { assert!(NC.is_multiple_of(2) && 16 % NC == 0, "a group of NC channels lies in a block of 16") };
    const { assert!(NC * NV == 8, "a tile's sums are four vectors of eight pixels") };
    // SAFETY: the CPU has AVX2 (for integer outputs: `inv` positive, a QuantizeLinear's).
    let r8 = Y::LEVELS.map(|(qmin, qmax)| unsafe { m_requant8_of(rq, qmin, qmax) });
    for m0 in (0..M).step_by(NC) {
        let block = &w[(m0 / 16) * taps * 64 + (m0 % 16) * 4..];
        for (t, wide) in wide.chunks_exact_mut(NC).enumerate() {
            for (k, two) in wide.chunks_exact_mut(2).enumerate() {
                let eight = &block[t * 64 + 8 * k..][..8];
                // SAFETY: the CPU has AVX2; eight bytes read, sixteen written.
                unsafe {
                    let v = _mm_cvtepi8_epi16(_mm_loadl_epi64(eight.as_ptr() as *const __m128i));
                    _mm_storeu_si128(two.as_mut_ptr() as *mut __m128i, v);
                }
            }
        }
        // Per channel of the group: its offset in the even lanes (the sums start there; a
        // pixel's two lanes are added at the end), its scale and bias broadcast. Channels past
        // `M` (up to `MP`) have them too, and their sums are dropped.
        let (mut start, mut scale) = ([_mm256_setzero_si256(); NC], [(_mm256_setzero_ps(), _mm256_setzero_ps()); NC]);
        for (r, (start, scale)) in start.iter_mut().zip(&mut scale).enumerate() {
            let (o, ch) = (off[m0 + r], m0 + r);
            *start = _mm256_setr_epi32(o, 0, o, 0, o, 0, o, 0);
            *scale = (_mm256_set1_ps(mul[ch]), _mm256_set1_ps(bias[ch]));
        }
        for oh in 0..OH {
            let mut p0 = 0;
            loop {
                let p = p0.min(OW - px);
                // SAFETY: the CPU has AVX2; the tile's pixels p..p + 4·NV lie inside the row,
                // and with them their taps inside `xq`; `wide` holds NC values a tap.
                let sums = unsafe {
                    k_qconv4_px_tile::<NC, NV, CQ, H, W, KH, KW, DH, DW>(&xq[(oh * SH * W + p) * 8..], wide, start)
                };
                // Channel m0 + r's row starts at `at + r · OH · OW` (plain loops: built
                // without `-C target-cpu`, an iterator of the rows left its `next` a call per
                // tile, and VWW's 8 → 16 channels took 25.5 µs instead of 13.4).
                let at = (m0 * OH + oh) * OW + p;
                match r8 {
                    None => {
                        for r in 0..NC.min(M - m0) {
                            let (row, (m, b)) = (&mut y[at + r * OH * OW..][..px], scale[r]);
                            for (eight, &s) in row.chunks_exact_mut(8).zip(&sums[r]) {
                                let s = _mm256_permute4x64_epi64::<0xd8>(s);
                                // SAFETY: the CPU has AVX2.
                                unsafe { m_requant8(s, 0, m, b, rq, eight) };
                            }
                        }
                    }
                    Some(r8) => {
                        // The four vectors of sums, channel after channel, requantized into
                        // 32 bytes: each channel's 4·NV in a row, each eight in the order of
                        // the sums (0, 1, 4, 5, 2, 3, 6, 7) until the shuffle.
                        let mut q = [_mm256_setzero_si256(); 4];
                        for (k, q) in q.iter_mut().enumerate() {
                            let (r, h) = (k / (NV / 2), k % (NV / 2));
                            *q = m_levels8(m_scaled8(sums[r][h], scale[r].0, scale[r].1), r8);
                        }
                        let mut bytes = [0u8; 32];
                        // SAFETY: the CPU has AVX2; 32 bytes written; `Y` has levels, so is
                        // one byte, and each row holds `px` of them.
                        unsafe {
                            let order = _mm256_setr_epi8(
                                0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15, 0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12,
                                13, 10, 11, 14, 15,
                            );
                            let b = _mm256_shuffle_epi8(m_pack32::<Y>(q, r8.zero), order);
                            _mm256_storeu_si256(bytes.as_mut_ptr() as *mut __m256i, b);
                            for r in 0..NC.min(M - m0) {
                                let row = y[at + r * OH * OW..][..px].as_mut_ptr() as *mut u8;
                                core::ptr::copy_nonoverlapping(bytes.as_ptr().add(r * px), row, px);
                            }
                        }
                    }
                }
                if p0 + px >= OW {
                    break;
                }
                p0 += px;
            }
        }
    }
    true
}

/// The sums of `4·NV` pixels of a row (input at `x`: the first pixel's top-left tap in the
/// first group of four channels, `u16` values) by `NC` output channels (`wide[t·NC + r]`: the
/// four weights of tap `t` for channel `r`, i16), starting from `start` (per channel, added to
/// each pixel's sum: the offset in the even lanes): per channel, up to two vectors of eight
/// pixels' sums in the order `vphaddd` leaves them, pixels 0, 1, 4, 5 | 2, 3, 6, 7 (putting them
/// in order, a shuffle across the halves, cost as much as the requantization's product on
/// VWW's 8 → 16 channels; the byte store puts them in order after packing, in the halves).
///
/// # Safety
/// The CPU has AVX2; `NV` is even and at most 4; `x` holds every tap of the pixels and `wide`
/// `NC` values for each of the `CQ · KH · KW` taps.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_qconv4_px_tile<
    const NC: usize,
    const NV: usize,
    const CQ: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const DH: usize,
    const DW: usize,
>(
    x: &[u8],
    wide: &[u64],
    start: [core::arch::x86_64::__m256i; NC],
) -> [[core::arch::x86_64::__m256i; 2]; NC] {
    use core::arch::x86_64::*;
    let (x, wide) = (x.as_ptr(), wide.as_ptr());
    // SAFETY: the caller keeps every offset inside its slice.
    unsafe {
        let mut acc = start.map(|s| [s; NV]);
        for q in 0..CQ {
            for kh in 0..KH {
                for kw in 0..KW {
                    let (t, at) = ((q * KH + kh) * KW + kw, (q * H + kh * DH) * W + kw * DW);
                    let mut wv = [_mm256_setzero_si256(); NC];
                    for (r, wv) in wv.iter_mut().enumerate() {
                        *wv = _mm256_set1_epi64x(*wide.add(t * NC + r) as i64);
                    }
                    for v in 0..NV {
                        let xv = _mm256_loadu_si256(x.add((at + 4 * v) * 8) as *const __m256i);
                        for (a, &wv) in acc.iter_mut().zip(&wv) {
                            a[v] = _mm256_add_epi32(a[v], _mm256_madd_epi16(xv, wv));
                        }
                    }
                    // An empty `asm!` taking each sum in a register: the compiler would
                    // otherwise add a row's taps in a tree before the sums, needing more
                    // registers than there are and spilling sums to the stack.
                    for a in acc.iter_mut() {
                        #[allow(clippy::needless_range_loop)] // (iterators kept sums in memory)
                        for v in 0..NV {
                            core::arch::asm!("/* {0} */", inout(ymm_reg) a[v], options(pure, nomem, nostack));
                        }
                    }
                }
            }
        }
        let mut sums = [[_mm256_setzero_si256(); 2]; NC];
        for (s, a) in sums.iter_mut().zip(&acc) {
            for (h, s) in s.iter_mut().take(NV / 2).enumerate() {
                *s = _mm256_hadd_epi32(a[2 * h], a[2 * h + 1]);
            }
        }
        sums
    }
}
