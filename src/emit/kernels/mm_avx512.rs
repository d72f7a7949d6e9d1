// The float matrix product's microkernels for x86-64 CPUs with AVX-512F (checked at run time by
// `k_mm`, which prefers them to the AVX2 ones): register tiles of rows by vectors of 16 columns
// in the 32 `zmm` registers, the columns past the last whole vector by masked loads and stores.
// (`include!`d by the unit tests into the scope of `linalg.rs`, which calls them.)

/// [`k_mm`] with AVX-512F (bounds not NaN, any `N`): column panels of 32 (two `__m512`; 64 when
/// `M` is below 4, single rows), each by rows 12 at a time (then 4, then 1); a panel of a single
/// vector (`N` at most 16, or the last 16 columns) by rows 16, 8, 4, then 1 at a time. At most 24
/// sums in registers, so that each loaded vector of `b` serves 12 to 16 rows and each
/// broadcast value of `a` one or two vectors. The last vector of a panel covers `N % 16`
/// columns under a mask (no overlap, no scalar tail). Each sum adds the products in the order
/// of `k` with FMA, then the bias, then the clamp, as [`k_mm_avx2`] does: the same results,
/// bit for bit.
///
/// # Safety
/// The CPU has AVX-512F; `a`, `b`, `y` and `bias` are as long as [`k_mm`] makes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn k_mm_avx512<const M: usize, const K: usize, const N: usize, const BIAS: usize>(
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let (a, b, bias, y) = (a.as_ptr(), b.as_ptr(), bias.as_ptr(), y.as_mut_ptr());
    // Column panels outside, so that a panel of B stays in the L1 cache for all rows.
    let wide = if M >= 4 { 32 } else { 64 };
    let mut j = 0;
    while j < N {
        let width = if N - j > 16 { wide.min(N - j) } else { N - j };
        let vectors = width.div_ceil(16);
        // The lanes of the panel's last vector that lie inside the matrix.
        let tail = (u32::MAX >> (32 - (width - 16 * (vectors - 1)))) as u16;
        let mut i = 0;
        while i < M {
            let left = M - i;
            let rows = match vectors {
                1 if left >= 16 => 16,
                1 if left >= 8 => 8,
                2 if left >= 12 => 12,
                1 | 2 if left >= 4 => 4,
                _ => 1,
            };
            // SAFETY: rows i..i + rows and the panel's columns (the last vector masked) lie
            // inside the matrices.
            unsafe {
                let tile = (a.add(i * K), b.add(j), bias, y.add(i * N + j), i, j, tail, (lo, hi));
                match (rows, vectors) {
                    (16, _) => k_mm_avx512_tile::<16, 1, K, N, BIAS>(tile),
                    (8, _) => k_mm_avx512_tile::<8, 1, K, N, BIAS>(tile),
                    (12, _) => k_mm_avx512_tile::<12, 2, K, N, BIAS>(tile),
                    (4, 2) => k_mm_avx512_tile::<4, 2, K, N, BIAS>(tile),
                    (4, _) => k_mm_avx512_tile::<4, 1, K, N, BIAS>(tile),
                    (_, 4) => k_mm_avx512_tile::<1, 4, K, N, BIAS>(tile),
                    (_, 3) => k_mm_avx512_tile::<1, 3, K, N, BIAS>(tile),
                    (_, 2) => k_mm_avx512_tile::<1, 2, K, N, BIAS>(tile),
                    _ => k_mm_avx512_tile::<1, 1, K, N, BIAS>(tile),
                }
            }
            i += rows;
        }
        j += width;
    }
}

/// One register tile of [`k_mm_avx512`]: `R` rows from `a` (row `i` of A) by `V` vectors of 16
/// columns from `b` (column `j` of B), the last vector's lanes masked by `tail`, bias added and
/// clamped into `y` (row `i`, column `j`).
///
/// # Safety
/// The CPU has AVX-512F; the rows and the unmasked columns of the tile lie inside the matrices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::type_complexity)]
unsafe fn k_mm_avx512_tile<const R: usize, const V: usize, const K: usize, const N: usize, const BIAS: usize>(
    (a, b, bias, y, i, j, tail, (lo, hi)): (*const f32, *const f32, *const f32, *mut f32, usize, usize, u16, (f32, f32)),
) {
    use core::arch::x86_64::*;
    let mut masks = [u16::MAX; V];
    masks[V - 1] = tail;
    // SAFETY: the caller keeps every offset inside its matrix; masked lanes are not touched.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        for k in 0..K {
            let bk = b.add(k * N);
            let mut bv = [_mm512_setzero_ps(); V];
            for (v, bv) in bv.iter_mut().enumerate() {
                *bv = _mm512_maskz_loadu_ps(masks[v], bk.add(v * 16));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(r * K + k));
                for (acc, bv) in acc.iter_mut().zip(bv) {
                    *acc = _mm512_fmadd_ps(av, bv, *acc);
                }
            }
        }
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        for (r, acc) in acc.iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                let add = match BIAS {
                    1 => _mm512_set1_ps(*bias.add(i + r)),
                    2 => _mm512_maskz_loadu_ps(masks[v], bias.add(j + v * 16)),
                    3 => _mm512_maskz_loadu_ps(masks[v], bias.add((i + r) * N + j + v * 16)),
                    _ => _mm512_setzero_ps(),
                };
                let out = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(sum, add)));
                _mm512_mask_storeu_ps(y.add(r * N + v * 16), masks[v], out);
            }
        }
    }
}
