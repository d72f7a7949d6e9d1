// The x86-64 explicit-SIMD parts of the integer Winograd convolution (`qwino.rs`): the 16
// products by AVX512-VNNI's `vpdpwssd` in 512-bit tiles, and the output transform and store with
// AVX2 (which the compiler, left to itself, turned into gathers and scatters in builds with
// AVX-512 enabled: twice as slow as the plain build). (`include!`d by the unit tests into the
// scope of `qwino.rs`, which calls them.)

/// [`k_qwino_products`] with AVX512-VNNI: register tiles of 8 rows (4, then single rows past
/// the last multiple of 8, 4) by 32 columns (16, or 8 by a masked load and store, at the end of
/// a row); per channel pair, each row's two `u` broadcast to every 32-bit lane and `vpdpwssd`
/// with sixteen tiles' pairs, which adds both `i16 × i16` products to the lane without
/// saturation: the wrapping `i32` sums of [`k_qwino_mm`] (as `vpmaddwd` and `vpaddd` give them).
///
/// # Safety
/// The CPU has AVX512F and AVX512-VNNI; `u`, `v` and `m` are as long as [`k_qwino`] makes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn k_qwino_products_vnni<const C: usize, const K: usize, const TW: usize, const TB: usize>(
    u: &[i16],
    v: &[i16],
    m: &mut [i32],
) {
    // SAFETY: the CPU has AVX512-VNNI; each tile lies inside the matrices (`k_qwino_panels`),
    // the last vector's lanes past 8 of a tile of 8 columns masked.
    unsafe {
        k_qwino_panels::<C, K, TW, TB>(u, v, m, (8, 32), |tile, a, b, y, cp, bs| {
            let last = if tile.1 == 8 { 0x00ff } else { 0xffff };
            match tile {
                (8, 32) => k_qwino_tile512::<8, 2>(a, b, y, cp, bs, last),
                (8, _) => k_qwino_tile512::<8, 1>(a, b, y, cp, bs, last),
                (4, 32) => k_qwino_tile512::<4, 2>(a, b, y, cp, bs, last),
                (4, _) => k_qwino_tile512::<4, 1>(a, b, y, cp, bs, last),
                (_, 32) => k_qwino_tile512::<1, 2>(a, b, y, cp, bs, last),
                _ => k_qwino_tile512::<1, 1>(a, b, y, cp, bs, last),
            }
        })
    }
}

/// One tile of [`k_qwino_products_vnni`]: `R` rows of `a` (`[R][cp][2]` `i16`) by `NV` vectors
/// of sixteen columns of `b` (`[cp][bs][2]`) into `y` (row stride `bs`), the last vector's
/// lanes limited to the mask `last`.
///
/// # Safety
/// The CPU has AVX512F and AVX512-VNNI; the tile's rows and columns (the last vector's lanes in
/// `last`) lie inside the matrices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn k_qwino_tile512<const R: usize, const NV: usize>(
    a: *const i16,
    b: *const i16,
    y: *mut i32,
    cp: usize,
    bs: usize,
    last: u16,
) {
    use core::arch::x86_64::*;
    let mask = |n: usize| if n + 1 == NV { last } else { 0xffff };
    // SAFETY: the caller keeps every offset inside its matrix, the masked lanes aside.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); NV]; R];
        for q in 0..cp {
            let mut bv = [_mm512_setzero_si512(); NV];
            for (n, bv) in bv.iter_mut().enumerate() {
                *bv = _mm512_maskz_loadu_epi32(mask(n), b.add((q * bs + 16 * n) * 2) as *const i32);
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32((a.add((r * cp + q) * 2) as *const i32).read_unaligned());
                for (acc, &bv) in acc.iter_mut().zip(&bv) {
                    *acc = _mm512_dpwssd_epi32(*acc, av, bv);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (n, &sum) in acc.iter().enumerate() {
                _mm512_mask_storeu_epi32(y.add(r * bs + 16 * n), mask(n), sum);
            }
        }
    }
}

/// The four outputs of every tile of a block for channel `k` ([`k_qwino_rows`]) with AVX2,
/// eight tiles at a time: the same wrapping sums, arithmetic shifts and [`m_requant8`] (the
/// values of [`m_requant`]).
///
/// # Safety
/// The CPU has AVX2 and FMA; `m` holds `16·K·BS` sums; `BS` is a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_qwino_rows_avx2<Y: QOut, const K: usize, const BS: usize>(
    m: &[i32],
    k: usize,
    (off, mul, bias): (i32, f32, f32),
    rq: Requant,
    out: &mut [[Y; BS]; 4],
) {
    use core::arch::x86_64::*;
    let m = &m[..16 * K * BS];
    let (mul, bias) = (_mm256_set1_ps(mul), _mm256_set1_ps(bias));
    for n in (0..BS).step_by(8) {
        // SAFETY: row (4a + b)·K + k of m, columns n..n + 8 (at most BS), lies inside it.
        let p = |a: usize, b: usize| unsafe { _mm256_loadu_si256(m[((4 * a + b) * K + k) * BS + n..].as_ptr() as *const _) };
        let (add, sub) = (_mm256_add_epi32, _mm256_sub_epi32);
        // Aᵀ M: rows q[b] and q[4 + b].
        let mut q = [_mm256_setzero_si256(); 8];
        for b in 0..4 {
            let (m0, m1, m2, m3) = (p(0, b), p(1, b), p(2, b), p(3, b));
            q[b] = add(add(m0, m1), m2);
            q[4 + b] = sub(sub(m1, m2), m3);
        }
        for i in 0..2 {
            let (q0, q1, q2, q3) = (q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]);
            let s = [_mm256_srai_epi32::<2>(add(add(q0, q1), q2)), _mm256_srai_epi32::<2>(sub(sub(q1, q2), q3))];
            for (j, s) in s.into_iter().enumerate() {
                // SAFETY: the CPU has AVX2; out's row holds columns n..n + 8.
                unsafe { m_requant8(s, off, mul, bias, rq, &mut out[2 * i + j][n..n + 8]) };
            }
        }
    }
}
