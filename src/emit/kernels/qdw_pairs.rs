// The x86-64 kernel of `k_qdw` (`qdw.rs`) for stride-1 layers of 8-bit inputs with AVX2 that
// pads each channel's plane itself, `k_qdw_pairs`, and the size of its scratch. (`include!`d by
// the unit tests into the scope of `qdw.rs`, whose `k_qdw` calls them.)

/// How many values [`k_qdw_pairs`] needs in its scratch `p` for a `[PH][PW]` padded plane at
/// dilation `DW` along the rows: two planes, each rounded up to 16 values and followed by the
/// `DW` that its last block of pairs reads. The lowering passes a scratch of this size
/// (`qdw_scratch`, the same formula; were they to differ, another kernel would run).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn k_qdw_scratch(ph: usize, pw: usize, dw: usize) -> usize {
    2 * ((ph * pw).next_multiple_of(16) + dw)
}

/// [`k_qdw`] with AVX2 for 8-bit `X` at stride 1, the padding done here. Per channel: the plane
/// placed into one half of the scratch `p` (its border, the zero point `fill`, written once;
/// [`k_qdw_place`]), then widened once into a plane of pairs `P[a] = (x[a], x[a + DW])` (two
/// i16 in each i32 lane, 16 at a time), then the sums `s[j] = Σ_t w[t] · x[j + at(t)]` of the
/// plane read as one row (`j = oh · PW + ow`; columns `ow ≥ OW` are the padding's, computed
/// and dropped), eight at a time (the last block overlapping the one before): the taps of a
/// kernel row in pairs of neighbours `(kw, kw + 1)` (the last of an odd row beside a weight of
/// 0), each pair one `vpmaddwd` of eight consecutive lanes of `P` against the broadcast weight
/// pair (exact: every product and pair sum fits the i32 lane). The output pixels' sums are then
/// gathered row by row and requantized eight at a time by [`m_requant8`] straight into `y` (the
/// last eight overlapping), so that no sum of a padding column is stored. The stages overlap
/// across channels (channel `c + 2` placed, `c + 1` widened, `c` summed, `c - 1` gathered and
/// `c - 2` stored in one round), so that no load waits on the stores just before it (a load
/// that spans several smaller stores cannot take their data before they retire).
///
/// # Safety
/// The CPU has AVX2 and FMA; `X` is one byte; `J = (OH - 1) · PW + OW ≥ 8`; `OH · OW ≥ 8`;
/// `N ≥ PH · PW` rounded up to 16; `p` holds at least [`k_qdw_scratch`] values; at most 64 pairs
/// of taps; stride 1, so that `PH ≥ OH + (KH - 1)·DH` and `PW ≥ OW + (KW - 1)·DW`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qdw_pairs<
    X: QIn,
    WT: QIn,
    Y: QOut,
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
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    p: &mut [X],
    fill: X,
    y: &mut [Y],
    rq: Requant,
) {
    use core::arch::x86_64::{
        __m128i, __m256i, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_cvtepu8_epi16, _mm256_loadu_si256,
        _mm256_madd_epi16, _mm256_permute2x128_si256, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_si256,
        _mm256_storeu_si256, _mm256_unpackhi_epi16, _mm256_unpacklo_epi16, _mm_loadu_si128,
    };
    let (x, w, y) = (&x[..C * H * WD], &w[..C * KH * KW], &mut y[..C * OH * OW]);
    let (off, mul, bias) = (&off[..C], &mul[..C], &bias[..C]);
    // Pairs of taps per kernel row, and where pair `t` reads `P` from an output's position.
    let np = KW.div_ceil(2);
    let pairs = KH * np;
    let at = |t: usize| (t / np) * DH * PW + 2 * (t % np) * DW;
    let (jn, outs) = ((OH - 1) * PW + OW, OH * OW);
    let len = (PH * PW).next_multiple_of(16);
    // The last block reads P[jn - 8 + at(pairs - 1)..][..8], inside the plane at stride 1.
    assert!(jn >= 8 && outs >= 8 && jn + at(pairs - 1) <= PH * PW && len <= N && pairs <= 64);
    // Two byte planes whose borders and tails are the zero point for every channel.
    let p = &mut p[..2 * (len + DW)];
    p.fill(fill);
    let (p0, p1) = p.split_at_mut(len + DW);
    let bytes = [p0, p1];
    let (mut planes, mut sums, mut outputs) = ([[0i32; N]; 2], [[0i32; N]; 2], [[0i32; N]; 2]);
    let mut wp = [0i32; 64];
    let place = |c: usize, dst: &mut [X]| k_qdw_place::<X, H, WD, PH, PW, PT, PL>(&x[c * H * WD..], dst);
    let widen = |src: &[X], dst: &mut [i32; N]| {
        let (src, dst) = (src.as_ptr() as *const u8, dst.as_mut_ptr() as *mut __m256i);
        for a in (0..len).step_by(16) {
            // SAFETY: reads src[a + DW..][..16] at most, inside the byte plane's `len + DW`
            // values, and writes P[a..a + 16] (len ≤ N).
            unsafe {
                let widen = |v: __m128i| if X::I8 { _mm256_cvtepi8_epi16(v) } else { _mm256_cvtepu8_epi16(v) };
                let lo = widen(_mm_loadu_si128(src.add(a) as *const __m128i));
                let hi = widen(_mm_loadu_si128(src.add(a + DW) as *const __m128i));
                // Within each 128-bit half: the pairs a..a+4, a+8..a+12 and a+4..a+8, a+12..a+16.
                let (l, h) = (_mm256_unpacklo_epi16(lo, hi), _mm256_unpackhi_epi16(lo, hi));
                _mm256_storeu_si256(dst.add(a / 8), _mm256_permute2x128_si256::<0x20>(l, h));
                _mm256_storeu_si256(dst.add(a / 8 + 1), _mm256_permute2x128_si256::<0x31>(l, h));
            }
        }
    };
    let gather = |flat: &[i32; N], out: &mut [i32; N]| {
        if OW < 8 && (OH - 1) * PW + 8 <= N {
            // One copy of eight a row, in order: the lanes past a row are the next row's, which
            // its own copy writes again (a row of DS-CNN's five in one load and one store).
            for oh in 0..OH {
                out[oh * OW..][..8].copy_from_slice(&flat[oh * PW..][..8]);
            }
        } else {
            for oh in 0..OH {
                out[oh * OW..][..OW].copy_from_slice(&flat[oh * PW..][..OW]);
            }
        }
    };
    let store = |c: usize, out: &[i32; N], y: &mut [Y]| {
        let (o, m, b) = (off[c], _mm256_set1_ps(mul[c]), _mm256_set1_ps(bias[c]));
        let yc = &mut y[c * outs..(c + 1) * outs];
        let mut i0 = 0;
        loop {
            let i = i0.min(outs - 8);
            // SAFETY: reads out[i..i + 8] (i + 8 ≤ OH · OW ≤ N); the CPU has AVX2.
            unsafe { m_requant8(_mm256_loadu_si256(out.as_ptr().add(i) as *const __m256i), o, m, b, rq, &mut yc[i..]) };
            if i0 + 8 >= outs {
                break;
            }
            i0 += 8;
        }
    };
    place(0, bytes[0]);
    if C > 1 {
        place(1, bytes[1]);
    }
    widen(bytes[0], &mut planes[0]);
    for c in 0..C {
        if c + 2 < C {
            place(c + 2, bytes[c % 2]);
        }
        if c + 1 < C {
            widen(bytes[(c + 1) % 2], &mut planes[(c + 1) % 2]);
        }
        let wc = &w[c * KH * KW..(c + 1) * KH * KW];
        for (t, pair) in wp[..pairs].iter_mut().enumerate() {
            let (kh, kw) = (t / np, 2 * (t % np));
            let next = if kw + 1 < KW { wc[kh * KW + kw + 1].wide() } else { 0 };
            *pair = (wc[kh * KW + kw].wide() & 0xffff) | (next << 16);
        }
        let (plane, flat) = (&planes[c % 2], &mut sums[c % 2]);
        let mut j0 = 0;
        loop {
            let j = j0.min(jn - 8);
            let mut acc = _mm256_setzero_si256();
            for (t, &pair) in wp[..pairs].iter().enumerate() {
                // SAFETY: reads P[j + at(t)..][..8], inside the plane (asserted above).
                let v = unsafe { _mm256_loadu_si256(plane.as_ptr().add(j + at(t)) as *const __m256i) };
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, _mm256_set1_epi32(pair)));
            }
            // SAFETY: writes sums[j..j + 8] (j + 8 ≤ J ≤ N).
            unsafe { _mm256_storeu_si256(flat.as_mut_ptr().add(j) as *mut __m256i, acc) };
            if j0 + 8 >= jn {
                break;
            }
            j0 += 8;
        }
        if c > 1 {
            store(c - 2, &outputs[c % 2], y);
        }
        if c > 0 {
            gather(&sums[(c + 1) % 2], &mut outputs[(c + 1) % 2]);
        }
    }
    if C > 1 {
        store(C - 2, &outputs[C % 2], y);
    }
    gather(&sums[(C + 1) % 2], &mut outputs[(C + 1) % 2]);
    store(C - 1, &outputs[(C + 1) % 2], y);
}
