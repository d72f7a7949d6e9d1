//! Quantized depthwise convolution (one filter per channel), summing in i32. On x86-64 CPUs with
//! AVX2 (checked at run time) explicit-SIMD kernels for 8-bit inputs, which read each channel's
//! padded plane as one long row (an output row continues into the padding columns, whose sums
//! are dropped), 16 outputs at a time, two filter taps per `vpmaddwd` on the inputs widened to
//! 16 bits (exact: every product and pair sum fits the i32 lane): for planes of at most 128
//! positions [`k_qdw_small`], whose outputs are stored 16 at a time, for larger ones
//! [`k_qdw_avx2`], row by row (`qdw_avx2.rs`); for stride 1, [`k_qdw_pairs`] pads each plane
//! itself and widens it once into pairs of neighbours, eight outputs per `vpmaddwd`
//! (`qdw_pairs.rs`). With AVX-512F (checked at run time, and preferred) [`k_qdw_avx512`] sums
//! in exact f32 lanes with the loops of the float depthwise kernel (`qdw_avx512.rs`). Elsewhere
//! the portable loops: i32 sums on 32-bit Arm, f32 lanes (exact) on other targets.

#[cfg(target_arch = "x86_64")]
use super::super::x86_avx512f;
use super::{avx2_or_portable, m_requant, m_store, QIn, QOut, Requant};
#[cfg(target_arch = "x86_64")]
use super::{m_levels16, m_put16, m_requant8, x86_avx2_fma};

/// Quantized depthwise convolution of `x` (`[C][H][W]` integers) padded with `fill` (the input's
/// zero point) to `[PH][PW]` planes (`PT` rows above, `PL` columns left) by `w` (`[C][KH][KW]`:
/// weights minus their zero point) into `y` (`[C][OH][OW]`); `off` (`-zx · Σ w`), `mul`, `bias`
/// per channel: the graph's `Σ (x - zx)(w - zw)`, exactly, then scaled and stored as
/// [`m_requant`] does (through `steps`, the integer store's table, in the portable loops on
/// 32-bit Arm; [`m_store`]). The padding is either done already (the lowering's `k_pad2d`: `H =
/// PH`, `W = PW`, no pads, `p` empty) or done here, plane by plane, into the scratch `p` (at
/// least `PH · PW` values; [`k_qdw_scratch`] for the x86-64 kernel), whose border is written
/// once: a padded value is the zero point, so it adds exactly 0 once the offset is added.
///
/// On x86-64 with AVX-512F, for 8-bit input and `SW` 1 or 2, padded already or not:
/// [`k_qdw_avx512`] when `G` (its channels per group) is not 0 and divides `C` and `F` is at
/// least [`k_qdw512_floats`] of a group. The lowering passes `G = 0` where the sums might not
/// be exact in f32; where `G > 0` it leaves the input unpadded, with the scratch of
/// [`k_qdw_pairs`] or one of `C · PH · PW` values, into which a CPU without AVX-512F pads it
/// ([`k_qdw_pad`]) for the AVX2 kernels below. Else, with AVX2, for 8-bit input: with the
/// padding done here and stride 1, [`k_qdw_pairs`] when the flat plane's `J = (OH - 1) · PW +
/// OW` positions and the `OH · OW` outputs are at least 8, `N` (the size of its planes on the
/// stack) at least `PH · PW` rounded up to 16, `p` holds [`k_qdw_scratch`] values and there
/// are at most 64 pairs of taps. On an input padded already (or by [`k_qdw_pad`]) and equal
/// strides of 1 or 2: [`k_qdw_small`] when `J` is at most 128, `N` (its staged outputs) is at
/// least `OH · PW` and 16, `PB` (the bytes it may read from a channel's start) at least
/// [`k_qdw_span`] and there are at most 64 pairs of taps; [`k_qdw_avx2`] when `J ≥ 16` and `N
/// = OH · PW` (its sums on the stack). The lowering passes 0 for `N` and `PB` otherwise, and the
/// portable loops ([`k_qdw_portable`]) run. (`scripts/step-times.sh`, MobileNet VWW's and
/// DS-CNN's int8 layers on padded inputs: the small-plane kernel measured 4.5×, 2.2× and 1.5×
/// faster than the row kernel (or the portable loops) on planes of 13, 46 and 71 positions,
/// 0.85× on 17; the row kernel 1.2–1.4× faster on planes of 173 to 2,398.)
#[allow(clippy::too_many_arguments)]
fn k_qdw<
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
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const N: usize,
    const PB: usize,
    const G: usize,
    const F: usize,
>(
    x: &[X],
    w: &[WT],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    steps: &[i32],
    p: &mut [X],
    fill: X,
    y: &mut [Y],
    rq: Requant,
) {
    #[cfg(target_arch = "x86_64")]
    {
        let one_byte = core::mem::size_of::<X>() == 1;
        let floats = k_qdw512_floats(G, H, WD, KH * KW);
        if one_byte && SW <= 2 && G > 0 && C.is_multiple_of(G) && F >= floats && x86_avx512f() {
            // SAFETY: the CPU has AVX-512F, and the shapes are the ones the kernel handles.
            unsafe {
                k_qdw_avx512::<X, WT, Y, C, H, WD, PT, PL, OH, OW, KH, KW, SH, SW, DH, DW, G, F>(
                    x, w, off, mul, bias, fill, y, rq,
                )
            };
            return;
        }
        let jn = (OH - 1) * PW + OW;
        let pairs = KH * KW.div_ceil(2);
        let fused = one_byte
            && SH == 1
            && SW == 1
            && jn >= 8
            && OH * OW >= 8
            && pairs <= 64
            && N >= (PH * PW).next_multiple_of(16)
            && p.len() >= k_qdw_scratch(PH, PW, DW);
        if fused && x86_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA, and the shapes are the ones the kernel handles.
            unsafe {
                k_qdw_pairs::<X, WT, Y, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, DH, DW, N>(
                    x, w, off, mul, bias, p, fill, y, rq,
                )
            };
            return;
        }
        let pairs = KH * if DW == 1 { KW.div_ceil(2) } else { KW };
        // An input left unpadded for the AVX-512 kernel, with a scratch for all its padded planes:
        // padded here ([`k_qdw_pad`]) for the AVX2 kernels, which read padded planes.
        let pads_all = (PH, PW) != (H, WD) && p.len() >= C * PH * PW;
        let eight_bit = one_byte && (p.is_empty() || pads_all) && SH == SW && (SW == 1 || SW == 2);
        let small = eight_bit
            && jn <= 128
            && pairs <= 64
            && N >= OH * PW
            && N >= 16
            && PB >= k_qdw_span(OH, OW, PW, KH, KW, SW, DH, DW);
        let rows = eight_bit && N == OH * PW && jn >= 16;
        if (small || rows) && x86_avx2_fma() {
            let x = if pads_all {
                k_qdw_pad::<X, C, H, WD, PH, PW, PT, PL>(x, p, fill);
                &p[..C * PH * PW]
            } else {
                x
            };
            // SAFETY: the CPU has AVX2 and FMA, and the shapes are the ones the kernel handles.
            unsafe {
                if small {
                    k_qdw_small::<X, WT, Y, C, PH, PW, OH, OW, KH, KW, SW, DH, DW, N, PB>(x, w, off, mul, bias, y, rq)
                } else {
                    k_qdw_avx2::<X, WT, Y, C, PH, PW, OH, OW, KH, KW, SW, DH, DW, N>(x, w, off, mul, bias, y, rq)
                }
            };
            return;
        }
    }
    avx2_or_portable(
        #[inline(always)]
        || {
            k_qdw_portable::<X, WT, Y, C, H, WD, PH, PW, PT, PL, OH, OW, KH, KW, SH, SW, DH, DW>(
                x, w, off, mul, bias, steps, p, fill, y, rq,
            )
        },
    );
}

/// `x` (`[C][H][W]`) padded with `fill` into `p` (`[C][PH][PW]`, each plane at row `PT`, column
/// `PL`), as the lowering's `k_pad2d` pads.
#[cfg(target_arch = "x86_64")]
fn k_qdw_pad<
    X: Copy,
    const C: usize,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const PT: usize,
    const PL: usize,
>(
    x: &[X],
    p: &mut [X],
    fill: X,
) {
    let p = &mut p[..C * PH * PW];
    p.fill(fill);
    for c in 0..C {
        k_qdw_place::<X, H, W, PH, PW, PT, PL>(&x[c * H * W..], &mut p[c * PH * PW..]);
    }
}

/// Copies the `[H][W]` plane `x` into the interior of the `[PH][PW]` plane `p` (at row `PT`,
/// column `PL`), leaving its border as it is.
#[inline(always)]
fn k_qdw_place<
    X: Copy,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const PT: usize,
    const PL: usize,
>(
    x: &[X],
    p: &mut [X],
) {
    let (x, p) = (&x[..H * W], &mut p[..PH * PW]);
    for h in 0..H {
        p[(PT + h) * PW + PL..][..W].copy_from_slice(&x[h * W..(h + 1) * W]);
    }
}

/// The loops of [`k_qdw`] without explicit SIMD, for any target, on each channel's padded plane
/// (placed into `p` first when `x` is not padded yet, [`k_qdw_place`]). On 32-bit Arm the sums
/// are i32, two output pixels at a time in registers (single-cycle multiply-accumulates);
/// elsewhere f32 along the row, which the compiler vectorizes.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn k_qdw_portable<
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
    p: &mut [X],
    fill: X,
    y: &mut [Y],
    rq: Requant,
) {
    const OB: usize = 2;
    {
        let x = &x[..C * H * WD];
        let w = &w[..C * KH * KW];
        let y = &mut y[..C * OH * OW];
        let placed = (PH, PW) != (H, WD);
        if placed {
            // The border is the same for every channel: written once.
            p[..PH * PW].fill(fill);
        }
        for c in 0..C {
            let plane = if placed {
                k_qdw_place::<X, H, WD, PH, PW, PT, PL>(&x[c * H * WD..], p);
                &p[..PH * PW]
            } else {
                &x[c * H * WD..(c + 1) * H * WD]
            };
            let wc = &w[c * KH * KW..(c + 1) * KH * KW];
            let (o, m, b) = (off[c], mul[c], bias[c]);
            for oh in 0..OH {
                let rows = &plane[oh * SH * PW..];
                let out = &mut y[(c * OH + oh) * OW..(c * OH + oh + 1) * OW];
                if !cfg!(target_arch = "arm") {
                    // Float lanes along the row: exact, every partial sum is an integer below
                    // 2^24 (the plan admits at most 256 taps of 8-bit values).
                    let mut row = [0f32; OW];
                    for kh in 0..KH {
                        let src = &rows[kh * DH * PW..(kh * DH + 1) * PW];
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
                        let at = kh * DH * PW + ow0 * SW;
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
                            a += wc[kh * KW + kw].wide() * rows[kh * DH * PW + ow * SW + kw * DW].wide();
                        }
                    }
                    out[ow] = m_store(a, 0, c, mul, bias, steps, rq);
                }
            }
        }
    }
}

include!("qdw_avx2.rs");
include!("qdw_pairs.rs");
include!("qdw_avx512.rs");
// The float kernel that `k_qdw_avx512` calls, in this scope as in the generated module's.
include!("dw_avx512.rs");

#[cfg(test)]
#[path = "qdw_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "qdw_avx512_tests.rs"]
mod avx512_tests;
