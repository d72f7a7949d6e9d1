// The float matrix product's microkernel for aarch64 (NEON is part of the base architecture, so
// `k_mm` calls it without a run-time check): register tiles of rows by vectors of four columns,
// one `fmla` (`vfmaq_f32`) per row and vector, sized to the 32 vector registers.
// (`include!`d by the unit tests into the scope of `linalg.rs`, which calls them; the unit
// tests run on x86-64 and compile none of it: `tests/emit_aarch64.rs` runs it under qemu.)

/// [`k_mm`] with NEON (`N` at least 4, bounds not NaN): panels of 16 columns (32 when `M` is
/// below 3), each by rows six at a time (then three, then one): at most 24 sums in registers,
/// with four for the row of `b` and one for the broadcast value of `a` (29 of the 32); the last
/// columns four at a time, the last block overlapping the one before rather than run short.
/// Each sum adds its products in the order of `k` with a fused multiply-add and then the bias,
/// as the vector tiles of [`k_mm_avx2`] do, so the two agree bit for bit there. The GotoBLAS register-tile scheme
/// (Goto and van de Geijn, "Anatomy of high-performance matrix multiplication", TOMS 2008),
/// without packing: the layers are small enough that `b`'s panel stays in the L1 cache.
///
/// # Safety
/// `a`, `b`, `y` and `bias` are as long as [`k_mm`] makes them.
#[cfg(target_arch = "aarch64")]
unsafe fn k_mm_neon<const M: usize, const K: usize, const N: usize, const BIAS: usize>(
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let (a, b, bias, y) = (a.as_ptr(), b.as_ptr(), bias.as_ptr(), y.as_mut_ptr());
    // Column panels outside, so that a panel of B stays in the L1 cache for all rows.
    let wide = if M >= 3 { 16 } else { 32 };
    let mut j = 0;
    while j < N {
        let width = if j + wide <= N { wide } else { 4 };
        let j0 = if j + width <= N { j } else { N - width };
        let mut i = 0;
        while i < M {
            let rows = match M - i {
                6.. => 6,
                3.. => 3,
                _ => 1,
            };
            // SAFETY: rows i..i + rows and columns j0..j0 + width lie inside the matrices.
            unsafe {
                let tile = (a.add(i * K), b.add(j0), bias, y.add(i * N + j0), i, j0, lo, hi);
                match (rows, width) {
                    (6, 16) => k_mm_neon_tile::<6, 4, K, N, BIAS>(tile),
                    (6, _) => k_mm_neon_tile::<6, 1, K, N, BIAS>(tile),
                    (3, 16) => k_mm_neon_tile::<3, 4, K, N, BIAS>(tile),
                    (3, _) => k_mm_neon_tile::<3, 1, K, N, BIAS>(tile),
                    (_, 32) => k_mm_neon_tile::<1, 8, K, N, BIAS>(tile),
                    (_, 16) => k_mm_neon_tile::<1, 4, K, N, BIAS>(tile),
                    _ => k_mm_neon_tile::<1, 1, K, N, BIAS>(tile),
                }
            }
            i += rows;
        }
        j = j0 + width;
    }
}

/// One register tile of [`k_mm_neon`]: `R` rows from `a` (row `i` of A) by `V` vectors of four
/// columns from `b` (column `j` of B), bias added and clamped into `y` (row `i`, column `j`).
///
/// # Safety
/// The rows and columns of the tile lie inside the matrices.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn k_mm_neon_tile<const R: usize, const V: usize, const K: usize, const N: usize, const BIAS: usize>(
    (a, b, bias, y, i, j, lo, hi): (*const f32, *const f32, *const f32, *mut f32, usize, usize, f32, f32),
) {
    use core::arch::aarch64::*;
    // SAFETY: the caller keeps every offset inside its matrix.
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); V]; R];
        for k in 0..K {
            let bk = b.add(k * N);
            let mut bv = [vdupq_n_f32(0.0); V];
            for (v, bv) in bv.iter_mut().enumerate() {
                *bv = vld1q_f32(bk.add(v * 4));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = vld1q_dup_f32(a.add(r * K + k));
                for (acc, &bv) in acc.iter_mut().zip(&bv) {
                    *acc = vfmaq_f32(*acc, av, bv);
                }
            }
        }
        let (lo, hi) = (vdupq_n_f32(lo), vdupq_n_f32(hi));
        for (r, acc) in acc.iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                let add = match BIAS {
                    1 => vld1q_dup_f32(bias.add(i + r)),
                    2 => vld1q_f32(bias.add(j + v * 4)),
                    3 => vld1q_f32(bias.add((i + r) * N + j + v * 4)),
                    _ => vdupq_n_f32(0.0),
                };
                vst1q_f32(y.add(r * N + v * 4), vminq_f32(hi, vmaxq_f32(lo, vaddq_f32(sum, add))));
            }
        }
    }
}
