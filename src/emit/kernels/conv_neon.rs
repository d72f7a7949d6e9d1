// The float direct convolution's microkernel for aarch64 (NEON is part of the base
// architecture, so `k_conv` calls it without a run-time check): output channels in the vector
// lanes, one `fmla` (`vfmaq_f32`) per tap, pixel and vector of four channels.
// (`include!`d by the unit tests into the scope of `conv.rs`, which calls it; the unit tests
// run on x86-64 and compile none of it: `tests/emit_aarch64.rs` runs it under qemu.)

/// [`k_conv`] with NEON (`MB` a multiple of 4, bounds not NaN), on the weight layout of
/// [`k_conv_avx2`]: per weight block, up to four vectors of four output channels (then two,
/// then one) by `24 / V` output pixels of a row at a time (6 by four vectors, 12 by one or
/// two), then 4, then single pixels at the end of the row: at most 24 sums in registers of the
/// 32, with room for a tap's weight vectors and the broadcast input. Each sum starts from the
/// bias and adds the taps channel by channel, row by row, column by column with a fused
/// multiply-add, in the order of [`k_conv_avx2`]: the same results, bit for bit.
///
/// # Safety
/// `x`, `w`, `b` and `y` are as long as [`k_conv`] makes them.
#[cfg(target_arch = "aarch64")]
unsafe fn k_conv_neon<
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
                let v = match (MB - s) / 4 {
                    4.. => 4,
                    2 | 3 => 2,
                    _ => 1,
                };
                let first = g * MG + m0 + s;
                for oh in 0..OH {
                    let mut ow0 = 0;
                    while ow0 < OW {
                        let pb = match OW - ow0 {
                            left if left >= 24 / v.max(2) => 24 / v.max(2),
                            4.. => 4,
                            _ => 1,
                        };
                        // SAFETY: the tile's input rows, weights, bias and outputs lie inside the
                        // slices (channels first..first + 4v of group g, pixels ow0..ow0 + pb).
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
                                (6, _) => k_conv_neon_tile::<6, 4, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (12, 2) => k_conv_neon_tile::<12, 2, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (12, _) => k_conv_neon_tile::<12, 1, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (4, 4) => k_conv_neon_tile::<4, 4, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (4, 2) => k_conv_neon_tile::<4, 2, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (4, _) => k_conv_neon_tile::<4, 1, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (_, 4) => k_conv_neon_tile::<1, 4, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                (_, 2) => k_conv_neon_tile::<1, 2, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                                _ => k_conv_neon_tile::<1, 1, CG, H, W, OH, OW, KH, KW, SW, DH, DW, MB>(t),
                            }
                        }
                        ow0 += pb;
                    }
                }
                s += v * 4;
            }
        }
    }
}

/// One register tile of [`k_conv_neon`]: `PB` pixels (input at `x`: the first pixel's top-left
/// tap in the group's first channel) by `V` vectors of four output channels (weights at `w`,
/// bias at `b`), clamped to `[lo, hi]` into `y` (the first channel's plane at the first pixel).
///
/// # Safety
/// Every tap, weight, bias and output of the tile lies inside its slice.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn k_conv_neon_tile<
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
    use core::arch::aarch64::*;
    // SAFETY: the caller keeps every offset inside its slice.
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); V]; PB];
        for (v, sum) in acc[0].iter_mut().enumerate() {
            *sum = vld1q_f32(b.add(v * 4));
        }
        for p in 1..PB {
            acc[p] = acc[0];
        }
        for c in 0..CG {
            for kh in 0..KH {
                let xr = x.add((c * H + kh * DH) * W);
                let wr = w.add((c * KH + kh) * KW * MB);
                for kw in 0..KW {
                    let mut wv = [vdupq_n_f32(0.0); V];
                    for (v, wv) in wv.iter_mut().enumerate() {
                        *wv = vld1q_f32(wr.add(kw * MB + v * 4));
                    }
                    for (p, acc) in acc.iter_mut().enumerate() {
                        let xv = vld1q_dup_f32(xr.add(p * SW + kw * DW));
                        for (sum, &wv) in acc.iter_mut().zip(&wv) {
                            *sum = vfmaq_f32(*sum, xv, wv);
                        }
                    }
                }
            }
        }
        let (lo, hi) = (vdupq_n_f32(lo), vdupq_n_f32(hi));
        let mut lanes = [0f32; 4];
        for (p, acc) in acc.iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                vst1q_f32(lanes.as_mut_ptr(), vminq_f32(hi, vmaxq_f32(lo, sum)));
                for (l, &lane) in lanes.iter().enumerate() {
                    *y.add((v * 4 + l) * OH * OW + p) = lane;
                }
            }
        }
    }
}
