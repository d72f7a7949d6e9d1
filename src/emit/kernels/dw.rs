//! Float depthwise convolutions (one input channel per group): per channel and output row the
//! row's sums along the row, or, for the short rows of stride-1 layers, the outputs of several
//! rows as one 1-D convolution along the flattened padded plane. Bias and a clamp (ReLU, ReLU6,
//! Clip) are fused into the store; compiled for AVX2 and FMA where the x86-64 CPU has them.

use super::{avx2_or_portable, m_clamp};

/// Depthwise convolution of an already padded `x` (`[C][H][W]`) by `w` (`[C][KH][KW]`) into
/// `y` (`[C][OH][OW]`), bias per channel, clamped: [`k_dw_rows`], compiled for AVX2 and FMA
/// where the x86-64 CPU has them ([`avx2_or_portable`]).
fn k_dw<
    const C: usize,
    const H: usize,
    const W: usize,
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
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    avx2_or_portable(
        #[inline(always)]
        || k_dw_rows::<C, H, W, OH, OW, KH, KW, SH, SW, DH, DW>(x, w, b, y, lo, hi),
    );
}

/// The loops of [`k_dw`]: per channel and output row, the row's sums along the row (the inner
/// loop), from the bias, clamped. Short rows of a stride-1 convolution (fewer than 16 pixels:
/// DS-CNN's 5, MobileNet's last layers) go through [`k_dw_flat`] instead, whose inner loop is
/// long; both sum in the same order, so their results are the same bit for bit.
#[inline(always)]
fn k_dw_rows<
    const C: usize,
    const H: usize,
    const W: usize,
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
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let x = &x[..C * H * W];
    let w = &w[..C * KH * KW];
    let y = &mut y[..C * OH * OW];
    if SH == 1 && SW == 1 && OW < 16 && OH > 1 {
        return k_dw_flat::<C, H, W, OH, OW, KH, KW, DH, DW>(x, w, b, y, lo, hi);
    }
    for c in 0..C {
        let plane = &x[c * H * W..(c + 1) * H * W];
        for oh in 0..OH {
            let mut row = [0f32; OW];
            row.fill(b[c]);
            for kh in 0..KH {
                let src = &plane[(oh * SH + kh * DH) * W..(oh * SH + kh * DH + 1) * W];
                for kw in 0..KW {
                    let wv = w[(c * KH + kh) * KW + kw];
                    for ow in 0..OW {
                        row[ow] += wv * src[ow * SW + kw * DW];
                    }
                }
            }
            let out = &mut y[(c * OH + oh) * OW..(c * OH + oh + 1) * OW];
            for ow in 0..OW {
                out[ow] = m_clamp(row[ow], lo, hi);
            }
        }
    }
}

/// A stride-1 depthwise convolution with short rows, computed over the padded width: output
/// `(oh, ow)` for `ow` in `0..W` is `Σ w[kh][kw] · x[(oh + kh·DH)·W + ow + kw·DW]`, so the
/// outputs of `R` consecutive rows are one 1-D convolution along the flattened padded plane,
/// whose inner loop is `(R - 1)·W + OW` long (the `W - OW` columns past each row but the last
/// are computed and dropped). `R` rows fill a block of at most 32 sums; the last block of a
/// plane overlaps the one before it (and writes the same values again).
#[inline(always)]
fn k_dw_flat<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const DH: usize,
    const DW: usize,
>(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    const B: usize = 32;
    let rows = if W >= B { 1 } else { (B / W).min(OH) };
    let n = (rows - 1) * W + OW;
    for c in 0..C {
        let plane = &x[c * H * W..(c + 1) * H * W];
        let taps = &w[c * KH * KW..(c + 1) * KH * KW];
        let out = &mut y[c * OH * OW..(c + 1) * OH * OW];
        let mut next = 0;
        while next < OH {
            let oh0 = next.min(OH - rows);
            // Eight sums at a time, kept in registers over the taps (the last eight overlap).
            let mut acc = [0f32; B];
            let (lanes, mut j) = (n.min(8), 0);
            while j < n {
                let j0 = j.min(n - lanes);
                let mut sums = [b[c]; 8];
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
}

#[cfg(test)]
mod tests {
    /// The depthwise convolution compiled for AVX2 gives the portable one's results, bit for
    /// bit (stride 2, dilation 2 along the rows, rows of 5 pixels).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_depthwise_matches_the_portable_one() {
        if !super::super::x86_avx2_fma() {
            println!("skipped: this CPU has no AVX2 and FMA");
            return;
        }
        let x: Vec<f32> = (0..3 * 7 * 13).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
        let w: Vec<f32> = (0..3 * 9).map(|i| ((i * 5) % 7) as f32 * 0.31 - 0.9).collect();
        let b = [0.25, -0.5, 0.125];
        let (mut want, mut got) = (vec![f32::NAN; 3 * 5 * 5], vec![f32::NAN; 3 * 5 * 5]);
        super::k_dw_rows::<3, 7, 13, 5, 5, 3, 3, 1, 2, 1, 2>(&x, &w, &b, &mut want, -0.75, 1.5);
        // SAFETY: checked above that the CPU has AVX2 and FMA.
        unsafe {
            super::super::avx2_call(|| {
                super::k_dw_rows::<3, 7, 13, 5, 5, 3, 3, 1, 2, 1, 2>(&x, &w, &b, &mut got, -0.75, 1.5)
            })
        };
        assert_eq!(got, want);
        assert!(want.iter().all(|v| (-0.75..=1.5).contains(v)));
    }

    /// The flat stride-1 depthwise path gives the row loops' results bit for bit: rows of 5
    /// pixels (DS-CNN's), dilation 2 down the columns, planes of several blocks and of less
    /// than one block.
    #[test]
    fn flat_depthwise_matches_the_row_loops() {
        fn rows<const H: usize, const W: usize, const OH: usize, const OW: usize, const DH: usize>(
            x: &[f32],
            w: &[f32],
            b: &[f32],
            y: &mut [f32],
        ) {
            // The row loops' order, by hand: the kernel takes the flat path for these shapes.
            for c in 0..2 {
                for oh in 0..OH {
                    for ow in 0..OW {
                        let mut acc = b[c];
                        for kh in 0..3 {
                            for kw in 0..3 {
                                acc += w[c * 9 + kh * 3 + kw] * x[(c * H + oh + kh * DH) * W + ow + kw];
                            }
                        }
                        y[(c * OH + oh) * OW + ow] = acc.clamp(-0.5, 0.9);
                    }
                }
            }
        }
        fn check<const H: usize, const W: usize, const OH: usize, const OW: usize, const DH: usize>() {
            let x: Vec<f32> = (0..2 * H * W).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
            let w: Vec<f32> = (0..2 * 9).map(|i| ((i * 5) % 7) as f32 * 0.31 - 0.9).collect();
            let b = [0.25, -0.125];
            let (mut want, mut got) = (vec![f32::NAN; 2 * OH * OW], vec![f32::NAN; 2 * OH * OW]);
            rows::<H, W, OH, OW, DH>(&x, &w, &b, &mut want);
            super::k_dw_rows::<2, H, W, OH, OW, 3, 3, 1, 1, DH, 1>(&x, &w, &b, &mut got, -0.5, 0.9);
            assert_eq!(got, want);
        }
        check::<27, 7, 25, 5, 1>(); // 173 flat outputs: blocks at 0, 32, ... and an overlap
        check::<7, 5, 3, 3, 2>(); // 13 flat outputs: one short block
        check::<6, 9, 4, 7, 1>(); // 34: one block and an overlapping one
    }
}
