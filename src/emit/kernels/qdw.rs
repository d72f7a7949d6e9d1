//! Quantized depthwise convolution (one filter per channel), summing in i32. On x86-64 CPUs with
//! AVX2 (checked at run time) explicit-SIMD kernels for 8-bit inputs, which read each channel's
//! padded plane as one long row (an output row continues into the padding columns, whose sums
//! are dropped), 16 outputs at a time, two filter taps per `vpmaddwd` on the inputs widened to
//! 16 bits (exact: every product and pair sum fits the i32 lane): for planes of at most 128
//! positions [`k_qdw_small`], whose outputs are stored 16 at a time, for larger ones
//! [`k_qdw_avx2`], row by row. Elsewhere the portable loops: i32 sums on 32-bit Arm, f32 lanes
//! (exact) on other targets.

#[cfg(target_arch = "x86_64")]
use super::x86_avx2_fma;
use super::{avx2_or_portable, m_requant, m_store, QIn, QOut, Requant};

/// Quantized depthwise convolution of `x` (`[C][H][W]` integers, padded with their zero point)
/// by `w` (`[C][KH][KW]`: weights minus their zero point) into `y` (`[C][OH][OW]`); `off`
/// (`-zx · Σ w`), `mul`, `bias` per channel: the graph's `Σ (x - zx)(w - zw)`, exactly, then
/// scaled and stored as [`m_requant`] does (through `steps`, the integer store's table, in the
/// portable loops on 32-bit Arm; [`m_store`]). For 8-bit input and equal strides of 1 or 2 the
/// x86-64 kernels run where the lowering made room for them: [`k_qdw_small`] when the plane's
/// `J = (OH - 1) · W + OW` positions are at most 128, `N` (its staged outputs) is at least `OH ·
/// W` and 16, `PB` (the bytes it may read from a channel's start) at least [`k_qdw_span`] and
/// there are at most 64 pairs of taps; [`k_qdw_avx2`] when `J ≥ 16` and `N = OH · W` (its sums
/// on the stack). The lowering passes 0 for both otherwise, and the portable loops
/// ([`k_qdw_portable`]) run. (`scripts/step-times.sh`, MobileNet VWW's and DS-CNN's int8
/// layers: the small-plane kernel measured 4.5×, 2.2× and 1.5× faster than the row kernel (or
/// the portable loops) on planes of 13, 46 and 71 positions, 0.85× on 17; the row kernel 1.2–1.4×
/// faster on planes of 173 to 2,398.)
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
    const PB: usize,
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
        let pairs = KH * if DW == 1 { KW.div_ceil(2) } else { KW };
        let jn = (OH - 1) * WD + OW;
        let eight_bit = core::mem::size_of::<X>() == 1 && SH == SW && (SW == 1 || SW == 2);
        let small = eight_bit
            && jn <= 128
            && pairs <= 64
            && N >= OH * WD
            && N >= 16
            && PB >= k_qdw_span(OH, OW, WD, KH, KW, SW, DH, DW);
        let rows = eight_bit && N == OH * WD && jn >= 16;
        if small && x86_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA, and the shapes are the ones the kernel handles.
            unsafe {
                k_qdw_small::<X, WT, Y, C, H, WD, OH, OW, KH, KW, SW, DH, DW, N, PB>(x, w, off, mul, bias, y, rq)
            };
            return;
        }
        if rows && x86_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA, and the shapes are the ones the kernel handles.
            unsafe { k_qdw_avx2::<X, WT, Y, C, H, WD, OH, OW, KH, KW, SW, DH, DW, N>(x, w, off, mul, bias, y, rq) };
            return;
        }
    }
    avx2_or_portable(
        #[inline(always)]
        || k_qdw_portable::<X, WT, Y, C, H, WD, OH, OW, KH, KW, SH, SW, DH, DW>(x, w, off, mul, bias, steps, y, rq),
    );
}

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
        super::k_qdw::<u8, i8, f32, 3, 6, 13, 4, 11, 3, 3, 1, 1, 1, 1, 52, 79>(
            &x,
            &w,
            &off,
            &mul,
            &bias,
            &[],
            &mut y,
            rq,
        );
        assert_eq!(y, want(1, 4, 11));
        let mut y = vec![f32::NAN; 3 * 4 * 6];
        super::k_qdw::<u8, i8, f32, 3, 6, 13, 4, 6, 3, 3, 1, 2, 1, 1, 0, 0>(&x, &w, &off, &mul, &bias, &[], &mut y, rq);
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
        super::k_qdw::<X, WT, f32, C, H, WD, OH, OW, KH, KW, S, S, DH, DW, N, PB>(
            x,
            w,
            &off,
            &mul,
            &bias,
            &[],
            &mut got.0,
            wide_rq,
        );
        super::k_qdw::<X, WT, u8, C, H, WD, OH, OW, KH, KW, S, S, DH, DW, N, PB>(
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
    /// widths, stride 2, dilation, an odd and an even number of taps, planes of fewer than 16
    /// positions, `u8` and `i8` inputs at their extremes, `i8` and full-range `i16` weights
    /// (sums beyond 2^24). `PB` is the tight bound, `max(H · W, k_qdw_span)`.
    #[test]
    fn flat_depthwise_agrees_with_the_definition() {
        let u8s = |n, seed| values(n, seed, 0, 255).into_iter().map(|v| v as u8).collect::<Vec<_>>();
        let i8s = |n, seed| values(n, seed, -128, 127).into_iter().map(|v| v as i8).collect::<Vec<_>>();
        let i16s = |n, seed| values(n, seed, -32768, 32767).into_iter().map(|v| v as i16).collect::<Vec<_>>();
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
}
