//! Matrix products and convolutions: a register-blocked matrix product (Gemm, MatMul, 1×1
//! convolutions), a direct convolution with the output channels innermost (any kernel, stride,
//! dilation, group), and a depthwise path. Bias and a clamp (ReLU, ReLU6, Clip) are fused into
//! the store.

/// `y[M][N] = a[M][K] · b[K][N] + bias`, clamped to `[lo, hi]`. Rows go four at a time and
/// columns in blocks chosen per layer (up to 16, or 64 for a single row), accumulating in
/// registers.
pub const MM: &str = r#"
/// `y[M][N] = a[M][K] · b[K][N] + bias`, clamped to `[lo, hi]`; `BIAS`: 0 none, 1 per row
/// (`M` values), 2 per column (`N` values), 3 per element (`M × N` values). Columns go `NB4`
/// at a time in blocks of four rows, `NB1` at a time for single rows (both at most `N`; the
/// last block overlaps the one before rather than run short).
fn k_mm<const M: usize, const K: usize, const N: usize, const BIAS: usize, const NB4: usize, const NB1: usize>(
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let (a, b, y) = (&a[..M * K], &b[..K * N], &mut y[..M * N]);
    let mut i = 0;
    while i + 4 <= M {
        k_mm_rows::<4, NB4, K, N, BIAS>(&a[i * K..(i + 4) * K], b, bias, i, &mut y[i * N..(i + 4) * N], lo, hi);
        i += 4;
    }
    while i < M {
        k_mm_rows::<1, NB1, K, N, BIAS>(&a[i * K..(i + 1) * K], b, bias, i, &mut y[i * N..(i + 1) * N], lo, hi);
        i += 1;
    }
}

/// `R` rows of [`k_mm`] starting at row `row0`, `NB` columns at a time.
#[inline(always)]
#[allow(clippy::manual_clamp)] // a clamp that never panics (NaN bounds, lo > hi)
fn k_mm_rows<const R: usize, const NB: usize, const K: usize, const N: usize, const BIAS: usize>(
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    row0: usize,
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    const { assert!(NB <= N, "column blocks are at most N wide") };
    let mut j = 0;
    while j < N {
        // The last block overlaps the one before instead of running short.
        let j0 = if j + NB <= N { j } else { N - NB };
        let mut acc = [[0f32; NB]; R];
        for k in 0..K {
            let bk = &b[k * N + j0..k * N + j0 + NB];
            for r in 0..R {
                let av = a[r * K + k];
                for c in 0..NB {
                    acc[r][c] += av * bk[c];
                }
            }
        }
        for r in 0..R {
            for c in j - j0..NB {
                let add = match BIAS {
                    1 => bias[row0 + r],
                    2 => bias[j0 + c],
                    3 => bias[(row0 + r) * N + j0 + c],
                    _ => 0.0,
                };
                y[r * N + j0 + c] = (acc[r][c] + add).max(lo).min(hi);
            }
        }
        j = j0 + NB;
    }
}
"#;

/// Batched matrix products of two runtime tensors (attention).
pub const BMM: &str = r#"
/// `BATCH` products `y[i] = a[i] · b[i]`; `SA`/`SB` are the batch strides of `a` and `b`
/// (0 for an operand broadcast over the batch).
fn k_bmm<
    const BATCH: usize,
    const M: usize,
    const K: usize,
    const N: usize,
    const SA: usize,
    const SB: usize,
    const NB4: usize,
    const NB1: usize,
>(
    a: &[f32],
    b: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    for i in 0..BATCH {
        k_mm::<M, K, N, 0, NB4, NB1>(&a[i * SA..], &b[i * SB..], &[], &mut y[i * M * N..(i + 1) * M * N], lo, hi);
    }
}
"#;

/// Padding of `[C][H][W]` planes into `[C][PH][PW]`, for convolutions with pads.
pub const PAD2D: &str = r#"
/// Copies `x` (`[C][H][W]`) into `p` (`[C][PH][PW]`) at row `PT`, column `PL`, `fill` around
/// (zero, or a quantized input's zero point).
fn k_pad2d<T: Copy, const C: usize, const H: usize, const W: usize, const PH: usize, const PW: usize, const PT: usize, const PL: usize>(
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
"#;

/// Direct convolution, output channels innermost.
pub const CONV: &str = r#"
/// Convolution of an already padded `x` (`[G·CG][H][W]`) by `w` laid out
/// `[G][MG/MB][CG][KH][KW][MB]` into `y` (`[G·MG][OH][OW]`), bias per output channel, clamped.
/// Each weight block of `MB` output channels is summed `SUB` channels at a time (`SUB` divides
/// `MB`; fewer on targets with fewer or narrower vector registers), output pixels `PB` at a
/// time: the `PB × SUB` sums stay in registers, each weight load serves `PB` pixels and each
/// input value `SUB` channels.
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
    let x = &x[..G * CG * H * W];
    let w = &w[..G * KH * KW * CG * MG];
    let y = &mut y[..G * MG * OH * OW];
    for g in 0..G {
        for m0 in (0..MG).step_by(MB) {
            let block = &w[(g * MG + m0) * CG * KH * KW..(g * MG + m0 + MB) * CG * KH * KW];
            for oh in 0..OH {
                let mut ow0 = 0;
                while ow0 < OW {
                    let n = if ow0 + PB <= OW { PB } else { OW - ow0 };
                    for s in (0..MB).step_by(SUB) {
                        let first = g * MG + m0 + s;
                        let mut acc = [[0f32; SUB]; PB];
                        for row in acc.iter_mut() {
                            row.copy_from_slice(&b[first..first + SUB]);
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
                                            let xv = xr[p * SW + kw * DW];
                                            for m in 0..SUB {
                                                acc[p][m] += xv * wr[m];
                                            }
                                        }
                                    }
                                } else {
                                    for kw in 0..KW {
                                        let wr = &wk[kw * MB + s..kw * MB + s + SUB];
                                        for p in 0..n {
                                            let xv = x[at + p * SW + kw * DW];
                                            for m in 0..SUB {
                                                acc[p][m] += xv * wr[m];
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        for p in 0..n {
                            for m in 0..SUB {
                                y[((first + m) * OH + oh) * OW + ow0 + p] = acc[p][m].max(lo).min(hi);
                            }
                        }
                    }
                    ow0 += n;
                }
            }
        }
    }
}
"#;

/// Depthwise convolution (one filter per channel).
pub const DW: &str = r#"
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
"#;
