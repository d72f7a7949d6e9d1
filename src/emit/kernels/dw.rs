//! Float depthwise convolutions (one input channel per group), padding fused in: each channel's
//! plane is copied into a scratch plane whose border stays zero (its columns split by the
//! stride's phase, so that every tap reads a contiguous run), then, per output row, the row's
//! sums eight at a time, or, for the short rows of stride-1 layers, the outputs of several rows
//! as one 1-D convolution along the flattened padded plane. Bias and a clamp (ReLU, ReLU6, Clip)
//! are fused into the store; compiled for AVX2 and FMA where the x86-64 CPU has them. On x86-64
//! CPUs with AVX-512F (checked at run time) strides 1 and 2 along the rows take the explicit-SIMD
//! kernel of `dw_avx512.rs`, which needs no scratch plane.

#[cfg(target_arch = "x86_64")]
use super::x86_avx512f;
use super::{avx2_or_portable, m_clamp};

/// Depthwise convolution of `x` (`[C][H][W]`, padded to `[PH][PW]` with `PT` rows above and `PL`
/// columns left) by `w` (`[C][KH][KW]`) into `y` (`[C][OH][OW]`), bias per channel, clamped:
/// [`k_dw_planes`] with `p` as scratch for two planes (`2·PH·PW` values; unused, and may be
/// empty, when there are no pads and the stride along the rows is 1), compiled for AVX2 and FMA
/// where the x86-64 CPU has them ([`avx2_or_portable`]); on x86-64 CPUs with AVX-512F (checked
/// at run time) [`k_dw_avx512`] for strides 1 and 2 along the rows, without `p`.
#[allow(clippy::too_many_arguments)]
fn k_dw<
    const C: usize,
    const H: usize,
    const W: usize,
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
    x: &[f32],
    w: &[f32],
    b: &[f32],
    p: &mut [f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    #[cfg(target_arch = "x86_64")]
    if SW <= 2 && x86_avx512f() {
        // SAFETY: the CPU has AVX-512F, SW is 1 or 2; the kernel takes the slices' lengths.
        unsafe { k_dw_avx512::<C, H, W, PT, PL, OH, OW, KH, KW, SH, SW, DH, DW>(x, w, b, y, lo, hi) };
        return;
    }
    avx2_or_portable(
        #[inline(always)]
        || k_dw_planes::<C, H, W, PH, PW, PT, PL, OH, OW, KH, KW, SH, SW, DH, DW>(x, w, b, p, y, lo, hi),
    );
}

/// The loops of [`k_dw`], channel by channel: the plane placed in one half of `p` while the
/// one before is read from the other ([`k_dw_place`]; `x`'s own plane when there is nothing to
/// place), then its outputs by [`k_dw_flat`] when the rows
/// are short (fewer than 16 pixels, stride 1: DS-CNN's 5, MobileNet's last layers) and by
/// [`k_dw_rows`] otherwise. Both sum in the same order (bias, then the taps row by row), so
/// their results are the same bit for bit.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn k_dw_planes<
    const C: usize,
    const H: usize,
    const W: usize,
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
    x: &[f32],
    w: &[f32],
    b: &[f32],
    p: &mut [f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let x = &x[..C * H * W];
    let w = &w[..C * KH * KW];
    let y = &mut y[..C * OH * OW];
    let placed = PH != H || PW != W || SW > 1;
    // Two scratch planes: channel c + 1 is placed while channel c is read, so that no load
    // waits on the stores of the copy just before it.
    let (p0, p1) = if placed { p[..2 * PH * PW].split_at_mut(PH * PW) } else { p[..0].split_at_mut(0) };
    // The border is the same for every channel: zeroed once, never written again.
    p0.fill(0.0);
    p1.fill(0.0);
    if placed {
        k_dw_place::<H, W, PH, PW, PT, PL, SW>(&x[..H * W], p0);
    }
    for c in 0..C {
        let (now, next) = if c % 2 == 0 { (&*p0, &mut *p1) } else { (&*p1, &mut *p0) };
        if placed && c + 1 < C {
            k_dw_place::<H, W, PH, PW, PT, PL, SW>(&x[(c + 1) * H * W..(c + 2) * H * W], next);
        }
        let plane = if placed { now } else { &x[c * H * W..(c + 1) * H * W] };
        let taps = &w[c * KH * KW..(c + 1) * KH * KW];
        let out = &mut y[c * OH * OW..(c + 1) * OH * OW];
        if SH == 1 && SW == 1 && OW < 16 && OH > 1 {
            k_dw_flat::<PH, PW, OH, OW, KH, KW, DH, DW>(plane, taps, b[c], out, lo, hi);
        } else {
            k_dw_rows::<PW, OH, OW, KH, KW, SH, SW, DH, DW>(plane, taps, b[c], out, lo, hi);
        }
    }
}

/// Where phase `q` of a padded row of `PW` columns starts in the scratch plane's row: the
/// columns `col` with `col % SW == q` sit together, in order, after those of the phases before
/// (so column `col` is at `k_dw_phase::<PW, SW>(col % SW) + col / SW`).
#[inline(always)]
fn k_dw_phase<const PW: usize, const SW: usize>(q: usize) -> usize {
    let mut start = 0;
    let mut r = 0;
    while r < q {
        start += (PW - r).div_ceil(SW);
        r += 1;
    }
    start
}

/// Copies the `[H][W]` plane `x` into the interior of the `[PH][PW]` plane `p` (at row `PT`,
/// column `PL`; the border is left as it is), each row's columns split by phase
/// ([`k_dw_phase`]) when the stride `SW` is above 1.
#[inline(always)]
fn k_dw_place<
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const PT: usize,
    const PL: usize,
    const SW: usize,
>(
    x: &[f32],
    p: &mut [f32],
) {
    for h in 0..H {
        let row = &mut p[(PT + h) * PW..(PT + h + 1) * PW];
        let src = &x[h * W..(h + 1) * W];
        if SW == 1 {
            row[PL..PL + W].copy_from_slice(src);
            continue;
        }
        // Phase by phase: its columns `k·SW + q` from `PL` to `PL + W` (strided loads,
        // contiguous stores).
        for q in 0..SW {
            let first = PL.saturating_sub(q).div_ceil(SW);
            let end = (PL + W).saturating_sub(q).div_ceil(SW);
            let dst = &mut row[k_dw_phase::<PW, SW>(q)..];
            for k in first..end {
                dst[k] = src[k * SW + q - PL];
            }
        }
    }
}

/// One channel of [`k_dw`] over its placed plane (rows of `PW`), row by row: each output row's
/// sums, eight outputs at a time over all the taps, from the bias, clamped. Tap `kw` of output column `ow`
/// reads column `ow·SW + kw·DW`, which the phase split puts at `ow` plus a fixed offset.
#[inline(always)]
fn k_dw_rows<
    const PW: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    plane: &[f32],
    taps: &[f32],
    bias: f32,
    out: &mut [f32],
    lo: f32,
    hi: f32,
) {
    // Eight sums at a time, kept in a register over the taps (the last eight of a row overlap
    // the eight before). Blocks of 16 to 32 measured no faster on MobileNet's rows of 24 and 48.
    let lanes = OW.min(8);
    for oh in 0..OH {
        let dst = &mut out[oh * OW..(oh + 1) * OW];
        let mut j = 0;
        while j < OW {
            let j0 = j.min(OW - lanes);
            let mut sums = [bias; 8];
            for kh in 0..KH {
                let src = &plane[(oh * SH + kh * DH) * PW..(oh * SH + kh * DH + 1) * PW];
                for kw in 0..KW {
                    let wv = taps[kh * KW + kw];
                    let at = k_dw_phase::<PW, SW>(kw * DW % SW) + kw * DW / SW + j0;
                    for (a, &v) in sums[..lanes].iter_mut().zip(&src[at..at + lanes]) {
                        *a += wv * v;
                    }
                }
            }
            for (d, &a) in dst[j0..j0 + lanes].iter_mut().zip(&sums) {
                *d = m_clamp(a, lo, hi);
            }
            j = j0 + lanes;
        }
    }
}

/// One channel of a stride-1 depthwise convolution with short rows, computed over the padded
/// width: output `(oh, ow)` for `ow` in `0..W` is `Σ w[kh][kw] · x[(oh + kh·DH)·W + ow + kw·DW]`,
/// so the outputs of `R` consecutive rows are one 1-D convolution along the flattened padded
/// plane, whose inner loop is `(R - 1)·W + OW` long (the `W - OW` columns past each row but the
/// last are computed and dropped). `R` rows fill a block of at most 64 sums (a whole 8×8 plane,
/// MobileNet's 6×6 outputs, in one); the last block of a plane overlaps the one before it (and
/// writes the same values again).
#[inline(always)]
fn k_dw_flat<
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const DH: usize,
    const DW: usize,
>(
    plane: &[f32],
    taps: &[f32],
    bias: f32,
    out: &mut [f32],
    lo: f32,
    hi: f32,
) {
    const B: usize = 64;
    let plane = &plane[..H * W];
    let rows = if W >= B { 1 } else { (B / W).min(OH) };
    let n = (rows - 1) * W + OW;
    let mut next = 0;
    while next < OH {
        let oh0 = next.min(OH - rows);
        // Eight sums at a time, kept in registers over the taps (the last eight overlap).
        let mut acc = [0f32; B];
        let (lanes, mut j) = (n.min(8), 0);
        while j < n {
            let j0 = j.min(n - lanes);
            let mut sums = [bias; 8];
            for kh in 0..KH {
                for kw in 0..KW {
                    let wv = taps[kh * KW + kw];
                    let src = &plane[(oh0 + kh * DH) * W + kw * DW + j0..][..lanes];
                    for (a, &v) in sums[..lanes].iter_mut().zip(src) {
                        *a += wv * v;
                    }
                }
            }
            acc[j0..j0 + lanes].copy_from_slice(&sums[..lanes]);
            j = j0 + lanes;
        }
        for r in 0..rows {
            let dst = &mut out[(oh0 + r) * OW..(oh0 + r + 1) * OW];
            for (d, &a) in dst.iter_mut().zip(&acc[r * W..r * W + OW]) {
                *d = m_clamp(a, lo, hi);
            }
        }
        next = oh0 + rows;
    }
}

// The AVX-512 kernel `k_dw` calls, in this scope as in the generated one.
include!("dw_avx512.rs");

#[cfg(test)]
mod tests {
    /// Depthwise convolution by its definition: `x` padded with zeros, then for each output the
    /// bias plus the taps row by row (the kernel's order; each product rounded, or, `fused`,
    /// added by one FMA), clamped to `[-0.5, 0.9]`.
    /// `g` is `[C, H, W, PT, PL, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW]`.
    fn reference(g: [usize; 15], x: &[f32], w: &[f32], b: &[f32], fused: bool) -> Vec<f32> {
        let [c, h, wd, pt, pl, ph, pw, oh, ow, kh, kw, sh, sw, dh, dw] = g;
        let mut p = vec![0f32; c * ph * pw];
        for (i, &v) in x.iter().enumerate() {
            let (ch, r, col) = (i / (h * wd), i / wd % h, i % wd);
            p[(ch * ph + pt + r) * pw + pl + col] = v;
        }
        let mut y = vec![0f32; c * oh * ow];
        for ch in 0..c {
            for r in 0..oh {
                for col in 0..ow {
                    let mut acc = b[ch];
                    for i in 0..kh {
                        for j in 0..kw {
                            let (a, v) =
                                (w[(ch * kh + i) * kw + j], p[(ch * ph + r * sh + i * dh) * pw + col * sw + j * dw]);
                            acc = if fused { a.mul_add(v, acc) } else { acc + a * v };
                        }
                    }
                    y[(ch * oh + r) * ow + col] = acc.clamp(-0.5, 0.9);
                }
            }
        }
        y
    }

    /// `k_dw` and its portable loops give the definition's results bit for bit: the portable
    /// loops (compiled for AVX2 where the CPU has it) with rounded products, the AVX-512 kernel
    /// (strides 1 and 2 along the rows, where the CPU has AVX-512F) with fused ones.
    #[allow(clippy::too_many_arguments)]
    fn check<
        const C: usize,
        const H: usize,
        const W: usize,
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
    >() {
        let x: Vec<f32> = (0..C * H * W).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
        let w: Vec<f32> = (0..C * KH * KW).map(|i| ((i * 5) % 7) as f32 * 0.31 - 0.9).collect();
        let b: Vec<f32> = (0..C).map(|i| 0.25 - i as f32 * 0.125).collect();
        let g = [C, H, W, PT, PL, PH, PW, OH, OW, KH, KW, SH, SW, DH, DW];
        let want = reference(g, &x, &w, &b, false);
        #[cfg(target_arch = "x86_64")]
        let avx512 = SW <= 2 && super::super::x86_avx512f();
        #[cfg(not(target_arch = "x86_64"))]
        let avx512 = false;
        let mut p = vec![f32::NAN; 2 * PH * PW];
        let mut got = vec![f32::NAN; C * OH * OW];
        super::k_dw::<C, H, W, PH, PW, PT, PL, OH, OW, KH, KW, SH, SW, DH, DW>(&x, &w, &b, &mut p, &mut got, -0.5, 0.9);
        let fused = if avx512 { reference(g, &x, &w, &b, true) } else { want.clone() };
        assert_eq!(got, fused, "k_dw (AVX-512: {avx512}) {:?}", [C, H, W, PT, PL, SH, SW, DH, DW]);
        let (mut p, mut got) = (vec![f32::NAN; 2 * PH * PW], vec![f32::NAN; C * OH * OW]);
        super::k_dw_planes::<C, H, W, PH, PW, PT, PL, OH, OW, KH, KW, SH, SW, DH, DW>(
            &x, &w, &b, &mut p, &mut got, -0.5, 0.9,
        );
        assert_eq!(got, want, "portable {:?}", [C, H, W, PT, PL, SH, SW, DH, DW]);
    }

    /// The flat stride-1 path: rows of 5 pixels (DS-CNN's), padded and not, dilation 2 down the
    /// columns, planes of several blocks, of one (MobileNet's 6×6) and of less than one.
    #[test]
    fn flat_depthwise_matches_the_definition() {
        check::<2, 25, 5, 27, 7, 1, 1, 25, 5, 3, 3, 1, 1, 1, 1>(); // 173 flat outputs: blocks and an overlap
        check::<3, 6, 6, 8, 8, 1, 1, 6, 6, 3, 3, 1, 1, 1, 1>(); // one whole block
        check::<2, 7, 5, 7, 5, 0, 0, 3, 3, 3, 3, 1, 1, 2, 1>(); // 13 outputs, no pads: x's own plane
        check::<2, 4, 7, 6, 9, 1, 1, 4, 7, 3, 3, 1, 1, 1, 1>(); // 34 outputs
    }

    /// The row loops: stride 2 with the bottom and right pads only (MobileNet's), stride 2 along
    /// the rows with dilation 2 (every tap in the even phase), stride 2 across odd widths and
    /// asymmetric pads, and long stride-1 rows.
    #[test]
    fn row_depthwise_matches_the_definition() {
        check::<3, 7, 7, 8, 8, 0, 0, 3, 3, 3, 3, 2, 2, 1, 1>();
        check::<3, 7, 13, 7, 13, 0, 0, 5, 5, 3, 3, 1, 2, 1, 2>();
        check::<2, 9, 11, 12, 14, 2, 1, 4, 6, 3, 3, 3, 2, 1, 1>();
        check::<2, 20, 18, 22, 20, 1, 1, 20, 18, 3, 3, 1, 1, 1, 1>();
        check::<2, 9, 17, 10, 20, 0, 2, 5, 4, 2, 5, 2, 3, 1, 2>();
    }

    /// Shapes for the AVX-512 kernel's masks: planes of many vectors (MobileNet's 48 and 24
    /// wide, with 8 and 17 channels), rows of 1 to 13 with pads on every side (and one wider
    /// than the tap's reach), no pads above and below but left and right (fewer output rows
    /// than input rows), a 1×1 plane, stride 2 with rows past 32 inputs and odd widths, stride 3
    /// down the columns, 5×5 taps dilated, and flat runs with taps 2, 3 and 8 columns apart.
    #[test]
    fn masked_depthwise_matches_the_definition() {
        check::<8, 48, 48, 50, 50, 1, 1, 48, 48, 3, 3, 1, 1, 1, 1>();
        check::<17, 24, 24, 26, 26, 1, 1, 24, 24, 3, 3, 1, 1, 1, 1>();
        check::<3, 9, 13, 11, 15, 1, 1, 9, 13, 3, 3, 1, 1, 1, 1>();
        check::<5, 11, 1, 13, 3, 1, 1, 11, 1, 3, 3, 1, 1, 1, 1>();
        check::<3, 6, 7, 10, 9, 2, 1, 6, 7, 5, 3, 1, 1, 1, 1>();
        check::<2, 7, 5, 7, 7, 0, 1, 5, 5, 3, 3, 1, 1, 1, 1>();
        check::<19, 1, 1, 3, 3, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1>();
        check::<18, 3, 3, 5, 5, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1>();
        check::<5, 37, 37, 39, 39, 1, 1, 19, 19, 3, 3, 2, 2, 1, 1>();
        check::<3, 13, 70, 15, 72, 1, 1, 7, 35, 3, 3, 2, 2, 1, 1>();
        check::<3, 12, 12, 13, 13, 0, 0, 6, 6, 3, 3, 2, 2, 1, 1>();
        check::<2, 14, 9, 14, 11, 0, 1, 4, 9, 3, 3, 3, 1, 1, 1>();
        check::<2, 12, 12, 16, 16, 2, 2, 8, 8, 5, 5, 1, 1, 2, 2>();
        check::<4, 10, 9, 14, 13, 2, 2, 10, 9, 3, 3, 1, 1, 2, 2>();
        check::<3, 7, 11, 9, 17, 1, 3, 7, 11, 3, 3, 1, 1, 1, 3>();
        check::<2, 6, 5, 8, 21, 1, 8, 6, 5, 3, 3, 1, 1, 1, 8>();
        check::<3, 16, 20, 20, 24, 2, 2, 8, 10, 5, 5, 2, 2, 1, 1>();
    }
}
