// The float matrix product's microkernels for x86-64 CPUs with AVX2 and FMA (checked at run
// time by `k_mm`): register tiles of rows by vectors of eight columns, and dot products along
// the rows for a column or two past the last whole vector.
// (`include!`d by the unit tests into the scope of `linalg.rs`, which calls them.)

/// [`k_mm`] with AVX2 and FMA (`N` at least 8, bounds not NaN): panels of 16 columns (32 when
/// `M` is below 3), each by rows six at a time (then three, then one), the sums in `__m256`
/// registers; the last columns go eight at a time, the last block overlapping the one before
/// rather than run short, except that one or two columns past the last whole vector go as dot
/// products ([`k_mm_avx2_dots`]) when `K` is 32 to 1024 (VWW's 3×3 pointwise layers: 9 pixels;
/// with four columns left, its 6×6 layers, the dot products measured no faster than the
/// overlapping vector tile).
///
/// # Safety
/// The CPU has AVX2 and FMA; `a`, `b`, `y` and `bias` are as long as [`k_mm`] makes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_mm_avx2<const M: usize, const K: usize, const N: usize, const BIAS: usize>(
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let (a, b, bias, y) = (a.as_ptr(), b.as_ptr(), bias.as_ptr(), y.as_mut_ptr());
    // One or two columns past the last whole vector go as dot products when the rows are long.
    let dots = if N % 8 <= 2 && (32..=1024).contains(&K) { N % 8 } else { 0 };
    let cols = N - dots;
    // Column panels outside, so that a panel of B stays in the L1 cache for all rows.
    let wide = if M >= 3 { 16 } else { 32 };
    let mut j = 0;
    while j < cols {
        let width = if j + wide <= cols { wide } else { 8 };
        let j0 = if j + width <= cols { j } else { cols - width };
        let mut i = 0;
        while i < M {
            let rows = if M - i >= 6 {
                6
            } else if M - i >= 3 {
                3
            } else {
                1
            };
            // SAFETY: rows i..i + rows and columns j0..j0 + width lie inside the matrices.
            unsafe {
                let tile = (a.add(i * K), b.add(j0), bias, y.add(i * N + j0), i, j0, lo, hi);
                match (rows, width) {
                    (6, 16) => k_mm_avx2_tile::<6, 2, K, N, BIAS>(tile),
                    (6, _) => k_mm_avx2_tile::<6, 1, K, N, BIAS>(tile),
                    (3, 16) => k_mm_avx2_tile::<3, 2, K, N, BIAS>(tile),
                    (3, _) => k_mm_avx2_tile::<3, 1, K, N, BIAS>(tile),
                    (_, 32) => k_mm_avx2_tile::<1, 4, K, N, BIAS>(tile),
                    (_, 16) => k_mm_avx2_tile::<1, 2, K, N, BIAS>(tile),
                    _ => k_mm_avx2_tile::<1, 1, K, N, BIAS>(tile),
                }
            }
            i += rows;
        }
        j = j0 + width;
    }
    for j in cols..N {
        // SAFETY: column j lies inside the matrices.
        unsafe { k_mm_avx2_dots::<M, K, N, BIAS>(a, b, bias, y, j, (lo, hi)) };
    }
}

/// Column `j` of [`k_mm_avx2`] as dot products along the rows of `a` (a column past the last
/// whole vector of eight, which a vector tile would compute with seven wasted lanes): the
/// column of `b` gathered once, then rows eight at a time, each row's products summed in
/// eight lanes (K a multiple of 8 first, the rest one by one), bias added and clamped.
///
/// # Safety
/// The CPU has AVX2 and FMA; `K` is at most 1024; `j` is a column of `b`, `bias` and `y`, which
/// are as long as [`k_mm`] makes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_mm_avx2_dots<const M: usize, const K: usize, const N: usize, const BIAS: usize>(
    a: *const f32,
    b: *const f32,
    bias: *const f32,
    y: *mut f32,
    j: usize,
    (lo, hi): (f32, f32),
) {
    use core::arch::x86_64::*;
    let mut col = [0f32; 1024];
    // SAFETY: the caller keeps row i of `a`, column j of `b`, `bias` and `y` inside them.
    unsafe {
        for (k, c) in col[..K].iter_mut().enumerate() {
            *c = *b.add(k * N + j);
        }
        let sum8 = |v: __m256| {
            let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
        };
        let mut i = 0;
        while i < M {
            let rows = if i + 8 <= M { 8 } else { 1 };
            let mut acc = [_mm256_setzero_ps(); 8];
            for k in (0..K - K % 8).step_by(8) {
                let cv = _mm256_loadu_ps(col.as_ptr().add(k));
                for (r, acc) in acc.iter_mut().enumerate().take(rows) {
                    *acc = _mm256_fmadd_ps(_mm256_loadu_ps(a.add((i + r) * K + k)), cv, *acc);
                }
            }
            for (r, &acc) in acc.iter().enumerate().take(rows) {
                let mut v = sum8(acc);
                for (k, &c) in col.iter().enumerate().take(K).skip(K - K % 8) {
                    v += *a.add((i + r) * K + k) * c;
                }
                v += match BIAS {
                    1 => *bias.add(i + r),
                    2 => *bias.add(j),
                    3 => *bias.add((i + r) * N + j),
                    _ => 0.0,
                };
                *y.add((i + r) * N + j) = m_clamp(v, lo, hi);
            }
            i += rows;
        }
    }
}

/// One register tile of [`k_mm_avx2`]: `R` rows from `a` (row `i` of A) by `V` vectors of eight
/// columns from `b` (column `j` of B), bias added and clamped into `y` (row `i`, column `j`).
///
/// # Safety
/// The CPU has AVX2 and FMA; the rows and columns of the tile lie inside the matrices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::type_complexity)]
unsafe fn k_mm_avx2_tile<const R: usize, const V: usize, const K: usize, const N: usize, const BIAS: usize>(
    (a, b, bias, y, i, j, lo, hi): (*const f32, *const f32, *const f32, *mut f32, usize, usize, f32, f32),
) {
    use core::arch::x86_64::*;
    // SAFETY: the caller keeps every offset inside its matrix.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        for k in 0..K {
            let bk = b.add(k * N);
            let mut bv = [_mm256_setzero_ps(); V];
            for (v, bv) in bv.iter_mut().enumerate() {
                *bv = _mm256_loadu_ps(bk.add(v * 8));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(*a.add(r * K + k));
                for (acc, bv) in acc.iter_mut().zip(bv) {
                    *acc = _mm256_fmadd_ps(av, bv, *acc);
                }
            }
        }
        let (lo, hi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
        for (r, acc) in acc.iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                let add = match BIAS {
                    1 => _mm256_set1_ps(*bias.add(i + r)),
                    2 => _mm256_loadu_ps(bias.add(j + v * 8)),
                    3 => _mm256_loadu_ps(bias.add((i + r) * N + j + v * 8)),
                    _ => _mm256_setzero_ps(),
                };
                let out = _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(sum, add)));
                _mm256_storeu_ps(y.add(r * N + v * 8), out);
            }
        }
    }
}
