//! Quantized tensors: QuantizeLinear and DequantizeLinear between float and 8-bit integer
//! buffers, and the integer kernels of Conv, Gemm and MatMul whose input, weights and output are
//! quantized (a DequantizeLinear → op → QuantizeLinear group of a QDQ model run as one kernel).
//!
//! The integer kernels sum `x · w` in `i32` (`w` with its zero point already taken off, the
//! input's zero point folded into a per-channel offset `-zx · Σ w` added to the sums, exact
//! because padding is filled with `zx`), then scale each sum in f32 (`sx · sw`), add the float
//! bias, clamp (a fused ReLU or Clip), and quantize the result into the output's integer type
//! (or store it as f32 when no QuantizeLinear follows).

/// The integer element types the kernels read.
pub const Q_IN: &str = r#"
/// An integer element a quantized kernel reads, widened for the sums.
trait QIn: Copy {
    /// The value as i32.
    fn wide(self) -> i32;
}

impl QIn for u8 {
    #[inline(always)]
    fn wide(self) -> i32 {
        self as i32
    }
}

impl QIn for i8 {
    #[inline(always)]
    fn wide(self) -> i32 {
        self as i32
    }
}

impl QIn for i16 {
    #[inline(always)]
    fn wide(self) -> i32 {
        self as i32
    }
}
"#;

/// The element types the kernels store, and the parameters of the store.
pub const Q_OUT: &str = r#"
/// How a quantized kernel stores a float result `v`: clamped to `[lo, hi]` (a fused ReLU or
/// Clip), then for an integer output `round_half_even(v · inv) + zero`, saturated.
#[derive(Clone, Copy)]
struct Requant {
    lo: f32,
    hi: f32,
    inv: f32,
    zero: f32,
}

/// An element a quantized kernel stores.
trait QOut: Copy {
    /// `v` stored as `rq` says.
    fn store(v: f32, rq: Requant) -> Self;
}

impl QOut for f32 {
    #[inline(always)]
    #[allow(clippy::manual_clamp)] // a clamp that never panics (NaN bounds, lo > hi)
    fn store(v: f32, rq: Requant) -> f32 {
        v.max(rq.lo).min(rq.hi)
    }
}

impl QOut for u8 {
    #[inline(always)]
    fn store(v: f32, rq: Requant) -> u8 {
        m_quantize(v, rq, 0.0, 255.0) as u8
    }
}

impl QOut for i8 {
    #[inline(always)]
    fn store(v: f32, rq: Requant) -> i8 {
        m_quantize(v, rq, -128.0, 127.0) as i8
    }
}

/// `v` clamped to `[rq.lo, rq.hi]`, then `round_half_even(v · inv) + zero` saturated to
/// `[qmin, qmax]`, without branches: the scaled value is clamped to `[qmin - zero, qmax - zero]`
/// first (integers, so rounding commutes with the clamp), then rounded by adding and taking
/// away 1.5·2^23, which leaves no fraction bits (exact for the small range left).
#[inline(always)]
#[allow(clippy::manual_clamp)] // a clamp that never panics (NaN bounds, lo > hi)
fn m_quantize(v: f32, rq: Requant, qmin: f32, qmax: f32) -> f32 {
    const MAGIC: f32 = 12582912.0;
    let q = (v.max(rq.lo).min(rq.hi) * rq.inv).max(qmin - rq.zero).min(qmax - rq.zero);
    (q + MAGIC) - MAGIC + rq.zero
}
"#;

/// QuantizeLinear into an integer buffer.
pub const QUANT_TO: &str = r#"
/// QuantizeLinear of `x` into the integer buffer `y`: `round_half_even(x · inv) + zero`,
/// saturated.
fn k_quant_to<Y: QOut, const N: usize>(x: &[f32], y: &mut [Y], inv: f32, zero: f32) {
    let rq = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv, zero };
    let (x, y) = (&x[..N], &mut y[..N]);
    for i in 0..N {
        y[i] = Y::store(x[i], rq);
    }
}
"#;

/// DequantizeLinear of an integer buffer.
pub const DEQUANT: &str = r#"
/// DequantizeLinear of the integer buffer `x`: `y = (x - zero) · scale`.
fn k_dequant<X: QIn, const N: usize>(x: &[X], y: &mut [f32], zero: i32, scale: f32) {
    let (x, y) = (&x[..N], &mut y[..N]);
    for i in 0..N {
        y[i] = (x[i].wide() - zero) as f32 * scale;
    }
}
"#;

/// QuantizeLinear into integers held in f32 (a tensor read as floats later).
pub const QUANT: &str = r#"
/// `y = clamp(round_half_even(x·inv) + zp, qmin, qmax)` with `inv = 1/scale` (as tract
/// computes it), the integer held in f32.
#[allow(clippy::manual_clamp)] // a clamp that never panics (NaN bounds, lo > hi)
fn k_quant<const N: usize>(x: &[f32], y: &mut [f32], inv: f32, zp: f32, qmin: f32, qmax: f32) {
    let (x, y) = (&x[..N], &mut y[..N]);
    for i in 0..N {
        y[i] = (m_rte(x[i] * inv) + zp).max(qmin).min(qmax);
    }
}
"#;

/// QuantizeLinear in place.
pub const QUANT_IP: &str = r#"
/// [`k_quant`] in place.
#[allow(clippy::manual_clamp)] // a clamp that never panics (NaN bounds, lo > hi)
fn k_quant_ip<const N: usize>(y: &mut [f32], inv: f32, zp: f32, qmin: f32, qmax: f32) {
    for v in &mut y[..N] {
        *v = (m_rte(*v * inv) + zp).max(qmin).min(qmax);
    }
}
"#;

/// Integer matrix product.
pub const QMM: &str = r#"
/// `y[M][N] = store((a[M][K] · b[K][N] + off) · mul + bias)`: integer products summed in i32;
/// `off`, `mul` and `bias` are per row (`AX` 1, `M` values) or per column (`AX` 2, `N` values).
/// Rows go four at a time with `NB4` columns, single rows with `NB1` (both at most `N`).
#[allow(clippy::too_many_arguments)]
fn k_qmm<
    A: QIn,
    B: QIn,
    Y: QOut,
    const M: usize,
    const K: usize,
    const N: usize,
    const AX: usize,
    const NB4: usize,
    const NB1: usize,
>(
    a: &[A],
    b: &[B],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let (a, b, y) = (&a[..M * K], &b[..K * N], &mut y[..M * N]);
    let ch = (off, mul, bias);
    let mut i = 0;
    while i + 4 <= M {
        k_qmm_rows::<A, B, Y, 4, NB4, K, N, AX>(&a[i * K..(i + 4) * K], b, ch, i, &mut y[i * N..(i + 4) * N], rq);
        i += 4;
    }
    while i < M {
        k_qmm_rows::<A, B, Y, 1, NB1, K, N, AX>(&a[i * K..(i + 1) * K], b, ch, i, &mut y[i * N..(i + 1) * N], rq);
        i += 1;
    }
}

/// `R` rows of [`k_qmm`] starting at row `row0`, `NB` columns at a time.
#[inline(always)]
fn k_qmm_rows<A: QIn, B: QIn, Y: QOut, const R: usize, const NB: usize, const K: usize, const N: usize, const AX: usize>(
    a: &[A],
    b: &[B],
    (off, mul, bias): (&[i32], &[f32], &[f32]),
    row0: usize,
    y: &mut [Y],
    rq: Requant,
) {
    const { assert!(NB <= N, "column blocks are at most N wide") };
    let mut j = 0;
    while j < N {
        // The last block overlaps the one before instead of running short.
        let j0 = if j + NB <= N { j } else { N - NB };
        let mut acc = [[0i32; NB]; R];
        for k in 0..K {
            let bk = &b[k * N + j0..k * N + j0 + NB];
            for r in 0..R {
                let av = a[r * K + k].wide();
                for c in 0..NB {
                    acc[r][c] += av * bk[c].wide();
                }
            }
        }
        for r in 0..R {
            for c in j - j0..NB {
                let at = if AX == 1 { row0 + r } else { j0 + c };
                y[r * N + j0 + c] = Y::store((acc[r][c] + off[at]) as f32 * mul[at] + bias[at], rq);
            }
        }
        j = j0 + NB;
    }
}
"#;

/// Quantized matrix product summed in f32.
pub const QMMF: &str = r#"
/// `y[M][N] = store(a[M][K] · b[K][N] · mul + bias)` for integer weights `a` (minus their zero
/// point) and an input `b` widened to f32 (minus its zero point); `mul` and `bias` per row. Every
/// row's `Σ |a| · 255` is below 2^24 (checked at generation), so the f32 sums are exact
/// integers, computed with the float unit's vector lanes. Rows go four at a time with `NB4`
/// columns, single rows with `NB1` (both at most `N`).
#[allow(clippy::too_many_arguments)]
fn k_qmmf<A: QIn, Y: QOut, const M: usize, const K: usize, const N: usize, const NB4: usize, const NB1: usize>(
    a: &[A],
    b: &[f32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let (a, b, y) = (&a[..M * K], &b[..K * N], &mut y[..M * N]);
    let mut i = 0;
    while i + 4 <= M {
        k_qmmf_rows::<A, Y, 4, NB4, K, N>(&a[i * K..(i + 4) * K], b, (&mul[i..], &bias[i..]), &mut y[i * N..(i + 4) * N], rq);
        i += 4;
    }
    while i < M {
        k_qmmf_rows::<A, Y, 1, NB1, K, N>(&a[i * K..(i + 1) * K], b, (&mul[i..], &bias[i..]), &mut y[i * N..(i + 1) * N], rq);
        i += 1;
    }
}

/// `R` rows of [`k_qmmf`], `NB` columns at a time.
#[inline(always)]
fn k_qmmf_rows<A: QIn, Y: QOut, const R: usize, const NB: usize, const K: usize, const N: usize>(
    a: &[A],
    b: &[f32],
    (mul, bias): (&[f32], &[f32]),
    y: &mut [Y],
    rq: Requant,
) {
    const { assert!(NB <= N, "column blocks are at most N wide") };
    // The rows' weights as f32 once for all column blocks (on the stack, at most 2 KB).
    let mut af = [[0f32; 128]; R];
    if K <= 128 {
        for r in 0..R {
            for k in 0..K {
                af[r][k] = a[r * K + k].wide() as f32;
            }
        }
    }
    let mut j = 0;
    while j < N {
        // The last block overlaps the one before instead of running short.
        let j0 = if j + NB <= N { j } else { N - NB };
        let mut acc = [[0f32; NB]; R];
        for k in 0..K {
            let bk = &b[k * N + j0..k * N + j0 + NB];
            for r in 0..R {
                let av = if K <= 128 { af[r][k] } else { a[r * K + k].wide() as f32 };
                for c in 0..NB {
                    acc[r][c] += av * bk[c];
                }
            }
        }
        for r in 0..R {
            for c in j - j0..NB {
                y[r * N + j0 + c] = Y::store(acc[r][c] * mul[r] + bias[r], rq);
            }
        }
        j = j0 + NB;
    }
}
"#;

/// Integer direct convolution.
pub const QCONV: &str = r#"
/// Integer convolution of an already padded `x` (`[G·CG][H][W]`) by `w` laid out
/// `[G][MG/MB][CG][KH][KW][MB]` into `y` (`[G·MG][OH][OW]`); `off`, `mul`, `bias` per output
/// channel. Tiles as in the float convolution: `SUB` of a block's `MB` channels by `PB` pixels.
#[allow(clippy::too_many_arguments)]
fn k_qconv<
    X: QIn,
    W: QIn,
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
    let x = &x[..G * CG * H * WD];
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
                        let mut acc = [[0i32; SUB]; PB];
                        for row in acc.iter_mut() {
                            row.copy_from_slice(&off[first..first + SUB]);
                        }
                        for (c, wc) in block.chunks_exact(KH * KW * MB).enumerate() {
                            for kh in 0..KH {
                                let at = ((g * CG + c) * H + oh * SH + kh * DH) * WD + ow0 * SW;
                                let wk = &wc[kh * KW * MB..(kh + 1) * KW * MB];
                                if n == PB {
                                    // One bounds check per input row, none in the sums.
                                    let xr = &x[at..at + (PB - 1) * SW + (KW - 1) * DW + 1];
                                    for kw in 0..KW {
                                        let wr = &wk[kw * MB + s..kw * MB + s + SUB];
                                        for p in 0..PB {
                                            let xv = xr[p * SW + kw * DW].wide();
                                            for m in 0..SUB {
                                                acc[p][m] += xv * wr[m].wide();
                                            }
                                        }
                                    }
                                } else {
                                    for kw in 0..KW {
                                        let wr = &wk[kw * MB + s..kw * MB + s + SUB];
                                        for p in 0..n {
                                            let xv = x[at + p * SW + kw * DW].wide();
                                            for m in 0..SUB {
                                                acc[p][m] += xv * wr[m].wide();
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        for p in 0..n {
                            for m in 0..SUB {
                                let ch = first + m;
                                y[(ch * OH + oh) * OW + ow0 + p] = Y::store(acc[p][m] as f32 * mul[ch] + bias[ch], rq);
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

/// Widening of integer planes into float ones, with padding.
pub const WIDEN_PAD: &str = r#"
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
"#;

/// Quantized depthwise convolution.
pub const QDW: &str = r#"
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
"#;
