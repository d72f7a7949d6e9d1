//! Matrix products (Gemm, MatMul, 1×1 convolutions), float and integer: rows four at a time and
//! columns in blocks chosen per layer, accumulating in registers, with bias, a clamp (ReLU,
//! ReLU6, Clip) or the quantized store fused. On x86-64 CPUs with AVX-512F or AVX2 and FMA
//! (checked at run time) the float product is an explicit-SIMD microkernel (`mm_avx512.rs`,
//! `mm_avx2.rs`) and the integer ones are compiled for AVX2; on aarch64 the float product is a
//! NEON microkernel (`mm_neon.rs`).

#[cfg(target_arch = "x86_64")]
use super::super::x86_avx512f;
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
use super::m_requant;
#[cfg(target_arch = "x86_64")]
use super::x86_avx2_fma;
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
use super::{arm_smlad, arm_sxtb16};
use super::{avx2_or_portable, m_clamp, m_store, QIn, QOut, Requant};

/// `y[M][N] = a[M][K] · b[K][N] + bias`, clamped to `[lo, hi]`; `BIAS`: 0 none, 1 per row
/// (`M` values), 2 per column (`N` values), 3 per element (`M × N` values). On x86-64 CPUs with
/// AVX-512F (checked at run time) [`k_mm_avx512`], else with AVX2 and FMA [`k_mm_avx2`], on
/// aarch64 [`k_mm_neon`] (`N` at least 4), else [`k_mm_portable`], whose columns go `NB4` at a
/// time in blocks of four rows, `NB1` at a time for single rows (both at most `N`; the last
/// block overlaps the one before rather than run short).
fn k_mm<const M: usize, const K: usize, const N: usize, const BIAS: usize, const NB4: usize, const NB1: usize>(
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let (a, b, y) = (&a[..M * K], &b[..K * N], &mut y[..M * N]);
    let bias = &bias[..match BIAS {
        1 => M,
        2 => N,
        3 => M * N,
        _ => 0,
    }];
    #[cfg(target_arch = "x86_64")]
    if !lo.is_nan() && !hi.is_nan() && x86_avx512f() {
        // SAFETY: the CPU has AVX-512F; the slices are as long as the kernel reads.
        unsafe { k_mm_avx512::<M, K, N, BIAS>(a, b, bias, y, lo, hi) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if N >= 8 && !lo.is_nan() && !hi.is_nan() && x86_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA; the slices are as long as the kernel reads.
        unsafe { k_mm_avx2::<M, K, N, BIAS>(a, b, bias, y, lo, hi) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if N >= 4 && !lo.is_nan() && !hi.is_nan() {
        // SAFETY: the slices are as long as the kernel reads.
        unsafe { k_mm_neon::<M, K, N, BIAS>(a, b, bias, y, lo, hi) };
        return;
    }
    k_mm_portable::<M, K, N, BIAS, NB4, NB1>(a, b, bias, y, lo, hi);
}

/// [`k_mm`] without explicit SIMD, for any target: rows four at a time with `NB4` columns,
/// single rows with `NB1`, vectorized by the compiler.
fn k_mm_portable<
    const M: usize,
    const K: usize,
    const N: usize,
    const BIAS: usize,
    const NB4: usize,
    const NB1: usize,
>(
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
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
                y[r * N + j0 + c] = m_clamp(acc[r][c] + add, lo, hi);
            }
        }
        j = j0 + NB;
    }
}

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

/// `y[M][N] = store((a[M][K] · b[K][N] + off) · mul + bias)`: integer products summed in i32;
/// `off`, `mul` and `bias` are per row (`AX` 1, `M` values) or per column (`AX` 2, `N` values);
/// `AX` 3 is per row with sums that f32 holds exactly (checked at generation), which off 32-bit
/// Arm are summed in float lanes ([`k_qmm_rows_f32`]: x86 before AVX2 has no fast 32-bit
/// integer multiply). Rows go four at a time with `NB4` columns, single rows with `NB1` (both
/// at most `N`). On 32-bit Arm with the DSP extension, per-row products of `i8` rows run as
/// [`k_qmm_dsp`]. `steps`: the integer store's table or empty ([`m_store`]; read by
/// [`k_qmm_rows`]).
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
    steps: &[i32],
    y: &mut [Y],
    rq: Requant,
) {
    let (a, b, y) = (&a[..M * K], &b[..K * N], &mut y[..M * N]);
    #[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
    if AX != 2 && A::I8 && K <= 1024 {
        // SAFETY: `A` is `i8`.
        let a = unsafe { core::slice::from_raw_parts(a.as_ptr() as *const i8, a.len()) };
        k_qmm_dsp::<B, Y, M, K, N>(a, b, (off, mul, bias), y, rq);
        return;
    }
    let ch = (off, mul, bias);
    if AX == 3 && !cfg!(target_arch = "arm") {
        // Float lanes, exact (checked at generation).
        avx2_or_portable(
            #[inline(always)]
            || {
                let mut i = 0;
                while i + 4 <= M {
                    k_qmm_rows_f32::<A, B, Y, 4, NB4, K, N>(
                        &a[i * K..(i + 4) * K],
                        b,
                        ch,
                        i,
                        &mut y[i * N..(i + 4) * N],
                        rq,
                    );
                    i += 4;
                }
                while i < M {
                    k_qmm_rows_f32::<A, B, Y, 1, NB1, K, N>(
                        &a[i * K..(i + 1) * K],
                        b,
                        ch,
                        i,
                        &mut y[i * N..(i + 1) * N],
                        rq,
                    );
                    i += 1;
                }
            },
        );
        return;
    }
    let rows = (off, mul, bias, steps);
    avx2_or_portable(
        #[inline(always)]
        || {
            let mut i = 0;
            while i + 4 <= M {
                k_qmm_rows::<A, B, Y, 4, NB4, K, N, AX>(
                    &a[i * K..(i + 4) * K],
                    b,
                    rows,
                    i,
                    &mut y[i * N..(i + 4) * N],
                    rq,
                );
                i += 4;
            }
            while i < M {
                k_qmm_rows::<A, B, Y, 1, NB1, K, N, AX>(
                    &a[i * K..(i + 1) * K],
                    b,
                    rows,
                    i,
                    &mut y[i * N..(i + 1) * N],
                    rq,
                );
                i += 1;
            }
        },
    );
}

/// [`k_qmm`] with per-row terms and `i8` rows (a 1×1 convolution: `a` its weights) on 32-bit
/// Arm with the DSP extension, two multiply-accumulates per SMLAD: each row's weights are read
/// four at a time and split by SXTB16 into the even and the odd ones (CMSIS-NN's technique, no
/// repacking); per two columns the inputs are packed once into the matching 16-bit pairs
/// (`k, k+2` and `k+1, k+3`) on the stack, then read by every pair of rows (4 sums in
/// registers; a single column by four rows at a time). The sums are the portable kernel's, exactly.
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
fn k_qmm_dsp<B: QIn, Y: QOut, const M: usize, const K: usize, const N: usize>(
    a: &[i8],
    b: &[B],
    (off, mul, bias): (&[i32], &[f32], &[f32]),
    y: &mut [Y],
    rq: Requant,
) {
    // The packed inputs of two columns, at most 1024 `k` (4 KiB).
    let mut xp = [[[0u32; 2]; 2]; 256];
    let xp = &mut xp[..K / 4];
    let mut j = 0;
    while j < N {
        let nc = if j + 2 <= N { 2 } else { 1 };
        for (g, pairs) in xp.iter_mut().enumerate() {
            for (c, pair) in pairs.iter_mut().enumerate().take(nc) {
                let v = |k: usize| b[(4 * g + k) * N + j + c].wide() as u32 & 0xffff;
                *pair = [v(0) | v(2) << 16, v(1) | v(3) << 16];
            }
        }
        let mut r = 0;
        while r < M {
            // A single column goes four rows at a time (each packed pair serves four SMLAD).
            let nr = if nc == 1 && r + 4 <= M { 4 } else { 2.min(M - r) };
            let rows = &a[r * K..(r + nr) * K];
            let mut acc = [[0i32; 2]; 4];
            match (nr, nc) {
                (4, _) => k_qmm_dsp_tile::<B, 4, 1, K, N>(rows, xp, b, j, &mut acc),
                (2, 2) => k_qmm_dsp_tile::<B, 2, 2, K, N>(rows, xp, b, j, &mut acc),
                (2, _) => k_qmm_dsp_tile::<B, 2, 1, K, N>(rows, xp, b, j, &mut acc),
                (_, 2) => k_qmm_dsp_tile::<B, 1, 2, K, N>(rows, xp, b, j, &mut acc),
                _ => k_qmm_dsp_tile::<B, 1, 1, K, N>(rows, xp, b, j, &mut acc),
            }
            for (i, sums) in acc.iter().enumerate().take(nr) {
                let at = r + i;
                for (c, &s) in sums.iter().enumerate().take(nc) {
                    y[at * N + j + c] = m_requant(s, off[at], mul[at], bias[at], rq);
                }
            }
            r += nr;
        }
        j += nc;
    }
}

/// `R` rows (`a`, `R · K` weights) by `NC` columns (from `j`) of [`k_qmm_dsp`] into `acc`: the
/// groups of four `k` by SMLAD on the packed inputs `xp`, the last `K % 4` one by one.
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
#[inline(always)]
fn k_qmm_dsp_tile<B: QIn, const R: usize, const NC: usize, const K: usize, const N: usize>(
    a: &[i8],
    xp: &[[[u32; 2]; 2]],
    b: &[B],
    j: usize,
    acc: &mut [[i32; 2]; 4],
) {
    let a = &a[..R * K];
    let mut sums = [[0i32; NC]; R];
    for (g, pairs) in xp[..K / 4].iter().enumerate() {
        for (i, row) in sums.iter_mut().enumerate() {
            let q = &a[i * K + 4 * g..i * K + 4 * g + 4];
            let w = u32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]);
            let (even, odd) = (arm_sxtb16::<false>(w), arm_sxtb16::<true>(w));
            for (s, pair) in row.iter_mut().zip(pairs) {
                *s = arm_smlad(odd, pair[1], arm_smlad(even, pair[0], *s));
            }
        }
    }
    for k in 4 * (K / 4)..K {
        for (i, row) in sums.iter_mut().enumerate() {
            for (c, s) in row.iter_mut().enumerate() {
                *s += a[i * K + k] as i32 * b[k * N + j + c].wide();
            }
        }
    }
    for i in 0..R {
        acc[i][..NC].copy_from_slice(&sums[i]);
    }
}

/// `R` rows of [`k_qmm`] starting at row `row0`, `NB` columns at a time.
#[inline(always)]
fn k_qmm_rows<
    A: QIn,
    B: QIn,
    Y: QOut,
    const R: usize,
    const NB: usize,
    const K: usize,
    const N: usize,
    const AX: usize,
>(
    a: &[A],
    b: &[B],
    (off, mul, bias, steps): (&[i32], &[f32], &[f32], &[i32]),
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
                let at = if AX == 2 { j0 + c } else { row0 + r };
                y[r * N + j0 + c] = m_store(acc[r][c], off[at], at, mul, bias, steps, rq);
            }
        }
        j = j0 + NB;
    }
}

/// `R` rows of [`k_qmm`] with per-row terms (`AX` 3) summed in f32, `NB` columns at a time:
/// exact, as every row's `Σ |a| · 255` is below 2^24 (checked at generation), so every partial
/// sum and the offset are integers that f32 holds; the compiler vectorizes the float lanes.
#[inline(always)]
fn k_qmm_rows_f32<A: QIn, B: QIn, Y: QOut, const R: usize, const NB: usize, const K: usize, const N: usize>(
    a: &[A],
    b: &[B],
    (off, mul, bias): (&[i32], &[f32], &[f32]),
    row0: usize,
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
            let mut bf = [0f32; NB];
            for c in 0..NB {
                bf[c] = bk[c].wide() as f32;
            }
            for r in 0..R {
                let av = if K <= 128 { af[r][k] } else { a[r * K + k].wide() as f32 };
                for c in 0..NB {
                    acc[r][c] += av * bf[c];
                }
            }
        }
        for r in 0..R {
            let at = row0 + r;
            for c in j - j0..NB {
                y[r * N + j0 + c] = Y::store((acc[r][c] + off[at] as f32) * mul[at] + bias[at], rq);
            }
        }
        j = j0 + NB;
    }
}

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
    avx2_or_portable(
        #[inline(always)]
        || {
            let mut i = 0;
            while i + 4 <= M {
                k_qmmf_rows::<A, Y, 4, NB4, K, N>(
                    &a[i * K..(i + 4) * K],
                    b,
                    (&mul[i..], &bias[i..]),
                    &mut y[i * N..(i + 4) * N],
                    rq,
                );
                i += 4;
            }
            while i < M {
                k_qmmf_rows::<A, Y, 1, NB1, K, N>(
                    &a[i * K..(i + 1) * K],
                    b,
                    (&mul[i..], &bias[i..]),
                    &mut y[i * N..(i + 1) * N],
                    rq,
                );
                i += 1;
            }
        },
    );
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

// The AVX-512 and AVX2 microkernels `k_mm` calls, in this scope as in the generated one.
include!("mm_avx512.rs");
include!("mm_avx2.rs");

// The NEON microkernels `k_mm` calls on aarch64.
include!("mm_neon.rs");

// The Winograd kernels call `k_mm`: compiled under test below it, as in the generated scope.
#[path = "winograd.rs"]
mod winograd;

#[cfg(test)]
mod tests {
    use super::super::Requant;

    /// A matrix product kernel's signature (the explicit-SIMD ones are `unsafe`).
    #[cfg(target_arch = "x86_64")]
    type Kernel = unsafe fn(&[f32], &[f32], &[f32], &mut [f32], f32, f32);

    /// An explicit-SIMD product `kernel` (instantiated for these sizes, run only when
    /// `available`) against the portable one (exact: small integers), with a clamp and the bias
    /// kind `BIAS`, on sizes that leave partial row and column tiles.
    #[cfg(target_arch = "x86_64")]
    fn matches_portable<const M: usize, const K: usize, const N: usize, const BIAS: usize>(
        available: bool,
        kernel: Kernel,
    ) {
        if !available {
            println!("skipped: this CPU lacks the kernel's instruction set");
            return;
        }
        let a: Vec<f32> = (0..M * K).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..K * N).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let bias: Vec<f32> = (0..M * N).map(|i| ((i * 3) % 7) as f32).collect();
        let (mut want, mut got) = (vec![f32::NAN; M * N], vec![f32::NAN; M * N]);
        super::k_mm_portable::<M, K, N, BIAS, 1, 1>(&a, &b, &bias, &mut want, -30.0, 40.0);
        // SAFETY: the caller checked that the CPU has the kernel's instruction set.
        unsafe { kernel(&a, &b, &bias, &mut got, -30.0, 40.0) };
        assert_eq!(got, want, "{M}x{K}x{N}, bias {BIAS}");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_products_match_the_portable_ones_at_tile_edges() {
        fn check<const M: usize, const K: usize, const N: usize, const BIAS: usize>() {
            matches_portable::<M, K, N, BIAS>(super::x86_avx2_fma(), super::k_mm_avx2::<M, K, N, BIAS>);
        }
        check::<7, 5, 19, 0>();
        check::<4, 9, 37, 1>();
        check::<11, 3, 8, 2>();
        check::<1, 17, 70, 3>();
        check::<6, 1, 16, 2>();
        check::<2, 4, 40, 1>();
        // Columns as dot products: one past a vector (K with a remainder), two past two.
        check::<17, 37, 9, 1>();
        check::<9, 64, 18, 3>();
        check::<3, 40, 10, 2>();
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_products_match_the_portable_ones_at_tile_edges() {
        fn check<const M: usize, const K: usize, const N: usize, const BIAS: usize>() {
            matches_portable::<M, K, N, BIAS>(super::x86_avx512f(), super::k_mm_avx512::<M, K, N, BIAS>);
        }
        // Rows by 16, 8, 4, 1 under one vector, with a masked one (N below 16, or 16 + 3).
        check::<29, 5, 16, 0>();
        check::<31, 17, 7, 1>();
        check::<16, 3, 19, 2>();
        // Rows by 12, 4, 1 under two vectors; the last panel one vector, masked.
        check::<17, 20, 45, 3>();
        check::<13, 1, 64, 1>();
        // Single rows (M below 4) by panels of four, three, two vectors, masked.
        check::<1, 33, 70, 3>();
        check::<3, 9, 41, 2>();
        check::<2, 16, 10, 1>();
        check::<1, 64, 1, 0>();
    }

    #[test]
    fn matrix_products_agree_with_the_definition() {
        // 5 × 3 by 3 × 6: a block of four rows and a single row, column blocks that overlap.
        let a: Vec<f32> = (0..15).map(|i| i as f32 - 7.0).collect();
        let b: Vec<f32> = (0..18).map(|i| (i % 5) as f32 - 2.0).collect();
        let bias: Vec<f32> = (0..6).map(|i| i as f32).collect();
        let mut y = [0.0; 30];
        super::k_mm::<5, 3, 6, 2, 4, 4>(&a, &b, &bias, &mut y, -20.0, 20.0);
        let (ai, bi): (Vec<i8>, Vec<i8>) = (a.iter().map(|&v| v as i8).collect(), b.iter().map(|&v| v as i8).collect());
        let mut yi = [0.0f32; 30];
        let rq = Requant { lo: -20.0, hi: 20.0, inv: 1.0, zero: 0.0 };
        super::k_qmm::<i8, i8, f32, 5, 3, 6, 2, 4, 4>(&ai, &bi, &[0; 6], &[1.0; 6], &bias, &[], &mut yi, rq);
        for i in 0..5 {
            for j in 0..6 {
                let dot: f32 = (0..3).map(|k| a[i * 3 + k] * b[k * 6 + j]).sum();
                let want = (dot + bias[j]).clamp(-20.0, 20.0);
                assert_eq!(y[i * 6 + j], want, "float ({i}, {j})");
                assert_eq!(yi[i * 6 + j], want, "integer ({i}, {j})");
            }
        }
    }
}
