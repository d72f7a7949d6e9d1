//! Convolutions, float and integer: padding into a scratch buffer, a direct convolution with
//! the output channels innermost (any kernel, stride, dilation, group) whose tiles are shared by
//! the float and the integer kernel (the accumulator type is the only difference), and
//! depthwise paths. Bias and a clamp (ReLU, ReLU6, Clip) are fused into the store.

use super::{QIn, QOut, Requant};

/// Copies `x` (`[C][H][W]`) into `p` (`[C][PH][PW]`) at row `PT`, column `PL`, `fill` around
/// (zero, or a quantized input's zero point).
fn k_pad2d<
    T: Copy,
    const C: usize,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const PT: usize,
    const PL: usize,
>(
    x: &[T],
    p: &mut [T],
    fill: T,
) {
    let p = &mut p[..C * PH * PW];
    p.fill(fill);
    for c in 0..C {
        for h in 0..H {
            let src = &x[(c * H + h) * W..(c * H + h + 1) * W];
            let at = (c * PH + h + PT) * PW + PL;
            p[at..at + W].copy_from_slice(src);
        }
    }
}

/// Convolution of an already padded `x` (`[G·CG][H][W]`) by `w` laid out
/// `[G][MG/MB][CG][KH][KW][MB]` into `y` (`[G·MG][OH][OW]`), bias per output channel, clamped.
#[allow(clippy::manual_clamp)] // a clamp that never panics (NaN bounds, lo > hi)
fn k_conv<
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
    const SUB: usize,
    const PB: usize,
>(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let y = &mut y[..G * MG * OH * OW];
    k_conv_tiles::<f32, f32, f32, G, CG, H, W, MG, OH, OW, KH, KW, SH, SW, DH, DW, MB, SUB, PB>(x, w, b, |at, _, v| {
        y[at] = v.max(lo).min(hi)
    });
}

/// The direct convolution of [`k_conv`] and [`k_qconv`], for any accumulator `A` (f32, or i32
/// for integers): each sum starts from `init` (per output channel), adds `x · w` widened to `A`,
/// and goes to `store(index in y, output channel, sum)`. Each weight block of `MB` output
/// channels is summed `SUB` channels at a time (`SUB` divides `MB`; fewer on targets with fewer
/// or narrower vector registers), output pixels `PB` at a time: the `PB × SUB` sums stay in
/// registers, each weight load serves `PB` pixels and each input value `SUB` channels.
#[inline(always)]
fn k_conv_tiles<
    X: Copy + Into<A>,
    WT: Copy + Into<A>,
    A: Copy + Default + core::ops::AddAssign + core::ops::Mul<Output = A>,
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
    const SUB: usize,
    const PB: usize,
>(
    x: &[X],
    w: &[WT],
    init: &[A],
    mut store: impl FnMut(usize, usize, A),
) {
    let x = &x[..G * CG * H * W];
    let w = &w[..G * KH * KW * CG * MG];
    for g in 0..G {
        for m0 in (0..MG).step_by(MB) {
            let block = &w[(g * MG + m0) * CG * KH * KW..(g * MG + m0 + MB) * CG * KH * KW];
            for oh in 0..OH {
                let mut ow0 = 0;
                while ow0 < OW {
                    let n = if ow0 + PB <= OW { PB } else { OW - ow0 };
                    for s in (0..MB).step_by(SUB) {
                        let first = g * MG + m0 + s;
                        let mut acc = [[A::default(); SUB]; PB];
                        for row in acc.iter_mut() {
                            row.copy_from_slice(&init[first..first + SUB]);
                        }
                        for (c, wc) in block.chunks_exact(KH * KW * MB).enumerate() {
                            for kh in 0..KH {
                                let at = ((g * CG + c) * H + oh * SH + kh * DH) * W + ow0 * SW;
                                let wk = &wc[kh * KW * MB..(kh + 1) * KW * MB];
                                if n == PB {
                                    // One bounds check per input row, none in the sums.
                                    let xr = &x[at..at + (PB - 1) * SW + (KW - 1) * DW + 1];
                                    for kw in 0..KW {
                                        let wr = &wk[kw * MB + s..kw * MB + s + SUB];
                                        for p in 0..PB {
                                            let xv: A = xr[p * SW + kw * DW].into();
                                            for m in 0..SUB {
                                                acc[p][m] += xv * wr[m].into();
                                            }
                                        }
                                    }
                                } else {
                                    for kw in 0..KW {
                                        let wr = &wk[kw * MB + s..kw * MB + s + SUB];
                                        for p in 0..n {
                                            let xv: A = x[at + p * SW + kw * DW].into();
                                            for m in 0..SUB {
                                                acc[p][m] += xv * wr[m].into();
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        for (p, row) in acc.iter().enumerate().take(n) {
                            for (m, &a) in row.iter().enumerate() {
                                store(((first + m) * OH + oh) * OW + ow0 + p, first + m, a);
                            }
                        }
                    }
                    ow0 += n;
                }
            }
        }
    }
}

/// Depthwise convolution of an already padded `x` (`[C][H][W]`) by `w` (`[C][KH][KW]`) into
/// `y` (`[C][OH][OW]`), bias per channel, clamped; the inner loop runs along an output row.
#[allow(clippy::manual_clamp)] // a clamp that never panics (NaN bounds, lo > hi)
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
    let x = &x[..C * H * W];
    let w = &w[..C * KH * KW];
    let y = &mut y[..C * OH * OW];
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
                out[ow] = row[ow].max(lo).min(hi);
            }
        }
    }
}

/// Integer convolution of an already padded `x` (`[G·CG][H][W]`) by `w` laid out
/// `[G][MG/MB][CG][KH][KW][MB]` into `y` (`[G·MG][OH][OW]`); `off`, `mul`, `bias` per output
/// channel. The float convolution's tiles ([`k_conv_tiles`]), summing in i32.
#[allow(clippy::too_many_arguments)]
fn k_qconv<
    X: Copy + Into<i32>,
    W: Copy + Into<i32>,
    Y: QOut,
    const G: usize,
    const CG: usize,
    const H: usize,
    const WD: usize,
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
    const SUB: usize,
    const PB: usize,
>(
    x: &[X],
    w: &[W],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let y = &mut y[..G * MG * OH * OW];
    k_conv_tiles::<X, W, i32, G, CG, H, WD, MG, OH, OW, KH, KW, SH, SW, DH, DW, MB, SUB, PB>(x, w, off, |at, ch, v| {
        y[at] = Y::store(v as f32 * mul[ch] + bias[ch], rq)
    });
}

/// `p` (`[C][PH][PW]`) = `x - zero` (`x`: `[C][H][W]` integers) as f32 at row `PT`, column `PL`,
/// zeros around (the padding of a quantized tensor is its zero point).
fn k_widen_pad<
    X: QIn,
    const C: usize,
    const H: usize,
    const W: usize,
    const PH: usize,
    const PW: usize,
    const PT: usize,
    const PL: usize,
>(
    x: &[X],
    p: &mut [f32],
    zero: i32,
) {
    let p = &mut p[..C * PH * PW];
    p.fill(0.0);
    for c in 0..C {
        for h in 0..H {
            let src = &x[(c * H + h) * W..(c * H + h + 1) * W];
            let at = (c * PH + h + PT) * PW + PL;
            for (d, s) in p[at..at + W].iter_mut().zip(src) {
                *d = (s.wide() - zero) as f32;
            }
        }
    }
}

/// Quantized depthwise convolution of `x` (`[C][H][W]`: input minus its zero point, widened
/// and padded) by `w` (`[C][KH][KW]`: weights minus theirs) into `y` (`[C][OH][OW]`); `mul`,
/// `bias` per channel. The sums are of integers below 2^24 (at most 256 taps of 8-bit values,
/// checked at generation), so f32 computes them exactly, with the float unit's vector lanes.
#[allow(clippy::too_many_arguments)]
fn k_qdw<
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
    x: &[f32],
    w: &[f32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let x = &x[..C * H * WD];
    let w = &w[..C * KH * KW];
    let y = &mut y[..C * OH * OW];
    for c in 0..C {
        let plane = &x[c * H * WD..(c + 1) * H * WD];
        for oh in 0..OH {
            let mut row = [0f32; OW];
            for kh in 0..KH {
                let src = &plane[(oh * SH + kh * DH) * WD..(oh * SH + kh * DH + 1) * WD];
                for kw in 0..KW {
                    let wv = w[(c * KH + kh) * KW + kw];
                    for ow in 0..OW {
                        row[ow] += wv * src[ow * SW + kw * DW];
                    }
                }
            }
            let out = &mut y[(c * OH + oh) * OW..(c * OH + oh + 1) * OW];
            for ow in 0..OW {
                out[ow] = Y::store(row[ow] * mul[c] + bias[c], rq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Requant;

    /// Direct convolution by the definition: `x` `[C][H][W]` (padded), `w` `[M][C][KH][KW]`,
    /// stride 1, no dilation, one group.
    fn reference(x: &[f32], w: &[f32], (c, h, wd, m, k): (usize, usize, usize, usize, usize)) -> Vec<f32> {
        let (oh, ow) = (h - k + 1, wd - k + 1);
        let mut y = vec![0.0; m * oh * ow];
        for mi in 0..m {
            for r in 0..oh {
                for s in 0..ow {
                    let mut acc = 0.0;
                    for ci in 0..c {
                        for a in 0..k {
                            for b in 0..k {
                                acc += x[(ci * h + r + a) * wd + s + b] * w[((mi * c + ci) * k + a) * k + b];
                            }
                        }
                    }
                    y[(mi * oh + r) * ow + s] = acc;
                }
            }
        }
        y
    }

    #[test]
    fn float_and_integer_convolutions_agree_with_the_definition() {
        // 2 channels of 4 × 5, 4 filters of 3 × 3 in one block (MB 4, SUB 2), two pixels a tile
        // (the row of 3 ends with a single pixel).
        let (c, h, wd, m, k) = (2, 4, 5, 4, 3);
        let x: Vec<f32> = (0..c * h * wd).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let w: Vec<f32> = (0..m * c * k * k).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
        let want = reference(&x, &w, (c, h, wd, m, k));
        // Weights laid out [G][M/MB][C][KH][KW][MB].
        let mut blocked = vec![0.0; w.len()];
        for mi in 0..m {
            for i in 0..c * k * k {
                blocked[i * m + mi] = w[mi * c * k * k + i];
            }
        }
        let mut y = vec![0.0; want.len()];
        super::k_conv::<1, 2, 4, 5, 4, 2, 3, 3, 3, 1, 1, 1, 1, 4, 2, 2>(&x, &blocked, &[0.0; 4], &mut y, -1e9, 1e9);
        assert_eq!(y, want);
        let (xi, wi): (Vec<i8>, Vec<i8>) =
            (x.iter().map(|&v| v as i8).collect(), blocked.iter().map(|&v| v as i8).collect());
        let rq = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 1.0, zero: 0.0 };
        let mut yi = vec![0.0f32; want.len()];
        super::k_qconv::<i8, i8, f32, 1, 2, 4, 5, 4, 2, 3, 3, 3, 1, 1, 1, 1, 4, 2, 2>(
            &xi, &wi, &[0; 4], &[1.0; 4], &[0.0; 4], &mut yi, rq,
        );
        assert_eq!(yi, want);
    }
}
