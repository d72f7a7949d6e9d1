// The AVX2 form of `k_qconv4` for 1×1 convolutions (and matrix products on one pixel's rows)
// whose pixels, as one row, number at least 16: output pixels in the vector lanes, so that a
// tile's sums of one output channel are consecutive pixels, requantized eight at a time and
// stored in a row (the channel-blocked tiles of `k_qconv4_avx2` store each sum alone, which
// cost more than the sums themselves when the convolution has few input channels).
//
// It reads the operands `k_qconv4` reads: the input packed by `k_qpack` as `u16`, four input
// channels to a pixel, and the `i8` weights `[MP/16][CQ][16][4]`. A 32-byte load of the input
// holds four pixels' four channels; `vpmaddwd` against one output channel's four weights,
// widened and broadcast, sums them in pairs into i32 lanes (exact: `u8 · i8` products and
// their pair sums fit), and one horizontal add at the end joins each pixel's two pairs.
// (`include!`d by the unit tests into the scope of `qpack.rs`, whose `k_qconv4` calls it.)

/// [`k_qconv4`]'s AVX2 kernel for `KH = KW = H = OH = 1`, `W = OW ≥ 16` (it calls it for at
/// most four groups of input channels, `CQ ≤ 4`; the kernel takes any): per pair of output
/// channels (the second one past `M`, below `MP`, computed and dropped), tiles of 16 pixels
/// ([`k_qconv4_px_tile`]; the last tile moved left to end at the row's end, its pixels computed
/// twice stored twice, alike), each channel's 16 sums stored as [`m_requant`] does.
///
/// # Safety
/// The CPU has AVX2 and FMA; `OW ≥ 16`; the slices are as long as [`k_qconv4`] makes them for
/// these shapes (`xq` packed as `u16`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qconv4_px<Y: QOut, const CQ: usize, const M: usize, const MP: usize, const OW: usize>(
    xq: &[u8],
    w: &[i8],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let (xq, w, y) = (&xq[..CQ * OW * 8], &w[..MP * CQ * 4], &mut y[..M * OW]);
    for m0 in (0..M).step_by(2) {
        let mut p0 = 0;
        loop {
            let p = p0.min(OW - 16);
            // SAFETY: the CPU has AVX2; the tile's pixels p..p + 16 lie inside the row and its
            // channels m0, m0 + 1 below MP.
            let sums = unsafe { k_qconv4_px_tile::<CQ, OW>(&xq[p * 8..], w, m0) };
            for (r, sums) in sums.iter().enumerate() {
                let ch = m0 + r;
                if ch < M {
                    let (o, m, b) = (off[ch], mul[ch], bias[ch]);
                    for (out, &s) in y[ch * OW + p..][..16].iter_mut().zip(sums) {
                        *out = m_requant(s, o, m, b, rq);
                    }
                }
            }
            if p0 + 16 >= OW {
                break;
            }
            p0 += 16;
        }
    }
}

/// The sums of 16 pixels (input at `x`: the first pixel in the first group of four channels,
/// `u16` values, groups `W` pixels apart) by output channels `m0`, `m0 + 1` (weights in
/// `k_qconv4`'s packed layout), without the offsets: `[channel][pixel]`.
///
/// # Safety
/// The CPU has AVX2; `x` holds `CQ` groups of the 16 pixels and `w` channels `m0`, `m0 + 1` of
/// every group.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_qconv4_px_tile<const CQ: usize, const W: usize>(x: &[u8], w: &[i8], m0: usize) -> [[i32; 16]; 2] {
    use core::arch::x86_64::*;
    let (x, w) = (x.as_ptr(), w.as_ptr());
    // SAFETY: the caller keeps every offset inside its slice.
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); 4]; 2];
        for q in 0..CQ {
            let mut wv = [_mm256_setzero_si256(); 2];
            for (r, wv) in wv.iter_mut().enumerate() {
                let (m, at) = (m0 + r, q * 64);
                let four = (w.add((m / 16) * CQ * 64 + at + (m % 16) * 4) as *const i32).read_unaligned();
                *wv = _mm256_cvtepi8_epi16(_mm_set1_epi32(four));
            }
            for t in 0..4 {
                let xv = _mm256_loadu_si256(x.add((q * W + 4 * t) * 8) as *const __m256i);
                for (a, &wv) in acc.iter_mut().zip(&wv) {
                    a[t] = _mm256_add_epi32(a[t], _mm256_madd_epi16(xv, wv));
                }
            }
        }
        let mut sums = [[0i32; 16]; 2];
        for (s, a) in sums.iter_mut().zip(&acc) {
            // hadd: pixels 0, 1, 4, 5 | 2, 3, 6, 7; the permutation puts them in order.
            let lo = _mm256_permute4x64_epi64::<0xd8>(_mm256_hadd_epi32(a[0], a[1]));
            let hi = _mm256_permute4x64_epi64::<0xd8>(_mm256_hadd_epi32(a[2], a[3]));
            _mm256_storeu_si256(s.as_mut_ptr() as *mut __m256i, lo);
            _mm256_storeu_si256(s.as_mut_ptr().add(8) as *mut __m256i, hi);
        }
        sums
    }
}
