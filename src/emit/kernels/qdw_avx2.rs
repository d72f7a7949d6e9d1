// The x86-64 kernels of `k_qdw` (`qdw.rs`) for 8-bit inputs with AVX2: the small-plane kernel
// `k_qdw_small`, the row kernel `k_qdw_avx2` and their helpers. (`include!`d by the unit tests
// into the scope of `qdw.rs`, whose `k_qdw` calls them.)

/// How many inputs [`k_qdw_small`] reads from a channel's start (the plane `W` wide, taps `KH ×
/// KW` at dilation `DH`, `DW`, stride `S`): its blocks of 16 sums cover the flat positions
/// `0..max((OH - 1)·W + OW, 16)`, and each pair of taps reads its right neighbour too (the second
/// tap of a pair past the kernel has weight 0, but is read). The lowering passes it (`PB`) by
/// the same formula (`qdw_span`; were they to differ, another kernel would run).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn k_qdw_span(oh: usize, ow: usize, wd: usize, kh: usize, kw: usize, s: usize, dh: usize, dw: usize) -> usize {
    let jn = ((oh - 1) * wd + ow).max(16);
    let last = (kh - 1) * dh * wd + if dw == 1 { 2 * (kw.div_ceil(2) - 1) } else { (kw - 1) * dw };
    s * jn + last + 2 - s
}

/// [`k_qdw`] with AVX2 for small planes of 8-bit `X`, the stride `S` in both directions (1 or 2):
/// per channel, the sums `s[j] = Σ_t w[t] · x[S·j + at(t)]` of the plane read as one row (`j =
/// oh · W + ow`; columns `ow ≥ OW` are the padding's, computed and dropped), 16 at a time (the
/// last block overlapping the one before; a plane of fewer than 16 positions as one block,
/// reading into the next channel's or, for the last channels, a copy with zeros after it). The
/// taps go in pairs of horizontal neighbours (each alone, beside a weight of 0, when `DW > 1`;
/// the last of an odd row beside one): 16 inputs widened to i16 hold, for stride 2, the pairs
/// of eight consecutive outputs as 32-bit lanes, for stride 1 those of the even outputs (and
/// from the next input on, of the odd ones, interleaved after the sum). `vpmaddwd` multiplies
/// them by the broadcast weight pair and sums each pair into its i32 lane. Each block's 16 sums
/// are stored at once as [`m_requant`] does (a loop the compiler vectorizes) into the channel's
/// staged outputs (`N`), whose rows are then copied out.
///
/// # Safety
/// The CPU has AVX2 and FMA; `X` is one byte; `S` is 1 or 2; `N ≥ max(OH · W, 16)`; `PB ≥`
/// [`k_qdw_span`]; at most 64 pairs of taps.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qdw_small<
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
    const PB: usize,
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
        __m128i, __m256i, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_cvtepu8_epi16, _mm256_madd_epi16,
        _mm256_permute2x128_si256, _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256, _mm256_unpackhi_epi32,
        _mm256_unpacklo_epi32, _mm_loadu_si128,
    };
    let (x, w, y) = (&x[..C * H * WD], &w[..C * KH * KW], &mut y[..C * OH * OW]);
    let (off, mul, bias) = (&off[..C], &mul[..C], &bias[..C]);
    // Pairs of taps per kernel row, the columns a pair starts at and reads.
    let np = if DW == 1 { KW.div_ceil(2) } else { KW };
    let (step, second) = if DW == 1 { (2, true) } else { (DW, false) };
    let at = |p: usize| (p / np) * DH * WD + (p % np) * step;
    let pairs = KH * np;
    let jn = ((OH - 1) * WD + OW).max(16);
    // A channel whose reads would pass the end of `x` (the last ones), copied with zeros after.
    let mut tail = [0u8; PB];
    let mut staged = [Y::store(0.0, rq); N];
    let mut wp = [0i32; 64];
    for c in 0..C {
        let wc = &w[c * KH * KW..(c + 1) * KH * KW];
        let base = c * H * WD;
        let src = if base + PB <= x.len() {
            x[base..].as_ptr() as *const u8
        } else {
            for (d, s) in tail.iter_mut().zip(&x[base..base + H * WD]) {
                *d = s.wide() as u8;
            }
            tail.as_ptr()
        };
        for (p, pair) in wp[..pairs].iter_mut().enumerate() {
            let (kh, k) = (p / np, (p % np) * if second { 2 } else { 1 });
            let next = if second && k + 1 < KW { wc[kh * KW + k + 1].wide() } else { 0 };
            *pair = (wc[kh * KW + k].wide() & 0xffff) | (next << 16);
        }
        let (o, m, b) = (off[c], mul[c], bias[c]);
        let mut j0 = 0;
        loop {
            let j = j0.min(jn - 16);
            // SAFETY: the block reads src[S·j + at(p) ..][..16 + (2 - S)] for S = 1 and
            // src[2j + at(p) ..][..32] for S = 2, 16 bytes at a time, inside the PB bytes from
            // `src` (PB ≥ k_qdw_span), and stores 16 sums into `sums`.
            let mut sums = [0i32; 16];
            unsafe {
                let q = src.add(S * j);
                // 16 inputs widened to i16: the pairs of eight outputs' taps as 32-bit lanes.
                let load = |i: usize| {
                    let v = _mm_loadu_si128(q.add(i) as *const __m128i);
                    if X::I8 {
                        _mm256_cvtepi8_epi16(v)
                    } else {
                        _mm256_cvtepu8_epi16(v)
                    }
                };
                let (mut a, mut z) = (_mm256_setzero_si256(), _mm256_setzero_si256());
                for (p, &pair) in wp[..pairs].iter().enumerate() {
                    let wv = _mm256_set1_epi32(pair);
                    // Stride 1: outputs j, j+2, .. j+14 and j+1, .. j+15; stride 2: j..j+8, j+8..j+16.
                    a = _mm256_add_epi32(a, _mm256_madd_epi16(load(at(p)), wv));
                    z = _mm256_add_epi32(z, _mm256_madd_epi16(load(at(p) + if S == 1 { 1 } else { 16 }), wv));
                }
                let dst = sums.as_mut_ptr() as *mut __m256i;
                if S == 1 {
                    let (lo, hi) = (_mm256_unpacklo_epi32(a, z), _mm256_unpackhi_epi32(a, z));
                    _mm256_storeu_si256(dst, _mm256_permute2x128_si256::<0x20>(lo, hi));
                    _mm256_storeu_si256(dst.add(1), _mm256_permute2x128_si256::<0x31>(lo, hi));
                } else {
                    _mm256_storeu_si256(dst, a);
                    _mm256_storeu_si256(dst.add(1), z);
                }
            }
            for (out, &s) in staged[j..j + 16].iter_mut().zip(&sums) {
                *out = m_requant(s, o, m, b, rq);
            }
            if j0 + 16 >= jn {
                break;
            }
            j0 += 16;
        }
        for oh in 0..OH {
            y[(c * OH + oh) * OW..][..OW].copy_from_slice(&staged[oh * WD..][..OW]);
        }
    }
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
