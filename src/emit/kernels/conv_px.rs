// The float direct convolution with the output pixels in the vector lanes, for stride-1 rows of
// at least eight pixels on x86-64 CPUs with AVX2 and FMA: each tap loads eight neighbouring
// input pixels of a row and multiplies them by one broadcast weight per output channel, so the
// sums are stored as whole vectors along the output rows (the channels-in-lanes tiles of
// `k_conv_avx2` store lane by lane into as many planes as they have channels; on ResNet-8's
// 32×32 layers, whose 16 planes are 4 KiB apart and so map to one L1 set, probably the cause of
// their 74 µs against 48 here: not checked with cache counters).
// (`include!`d by the unit tests into the scope of `conv.rs`, which calls it.)

/// [`k_conv`]'s AVX2 path for stride-1 rows of at least eight pixels (`SW` 1, `OW >= 8`, `MB`
/// a multiple of 8, bounds not NaN), on the same weight layout: per weight block, the output
/// plane as vectors of eight pixels along its rows (the last vector of a row overlaps the one
/// before when `OW` is not a multiple of 8, and writes the same values again), two vectors at
/// a time (which may span rows) by 6 output channels (4 for the last 8 or 4 of a block), a last
/// odd vector by 12: at most 12 sums in registers, with room left for the inputs and the
/// broadcast weight (three vectors by four channels fill all 16 and spilled in the plain
/// build). Each sum starts from the bias and adds the taps channel by channel,
/// row by row, column by column with FMA, in the order of `k_conv_avx2`: the same results,
/// bit for bit.
///
/// # Safety
/// The CPU has AVX2 and FMA; `x`, `w`, `b` and `y` are as long as [`k_conv`] makes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_conv_px_avx2<
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
    let vectors = OH * OW.div_ceil(8);
    for g in 0..G {
        for m0 in (0..MG).step_by(MB) {
            let mut k0 = 0;
            while k0 < vectors {
                let nv = if vectors - k0 >= 2 { 2 } else { 1 };
                let mut s = 0;
                while s < MB {
                    // Six channels a time by two vectors, the last eight as four and four.
                    let nm = match (nv, MB - s) {
                        (2, 8) => 4,
                        (2, left) => left.min(6),
                        (_, left) => left.min(12),
                    };
                    let first = g * MG + m0 + s;
                    // SAFETY: the tile's input rows, weights, bias and outputs lie inside the
                    // slices (channels first..first + nm of group g, the vectors k0..k0 + nv of
                    // the output plane, each inside its row).
                    unsafe {
                        let t = (
                            x.add(g * CG * H * W),
                            w.add((g * MG + m0) * CG * KH * KW + s),
                            b.add(first),
                            y.add(first * OH * OW),
                            k0,
                            (lo, hi),
                        );
                        match (nv, nm) {
                            (2, 6) => k_conv_px_tile::<2, 6, CG, H, W, OH, OW, KH, KW, SH, DH, DW, MB>(t),
                            (2, _) => k_conv_px_tile::<2, 4, CG, H, W, OH, OW, KH, KW, SH, DH, DW, MB>(t),
                            (_, 12) => k_conv_px_tile::<1, 12, CG, H, W, OH, OW, KH, KW, SH, DH, DW, MB>(t),
                            (_, 8) => k_conv_px_tile::<1, 8, CG, H, W, OH, OW, KH, KW, SH, DH, DW, MB>(t),
                            _ => k_conv_px_tile::<1, 4, CG, H, W, OH, OW, KH, KW, SH, DH, DW, MB>(t),
                        }
                    }
                    s += nm;
                }
                k0 += nv;
            }
        }
    }
}

/// One register tile of [`k_conv_px_avx2`]: the `V` vectors of eight output pixels from the
/// plane's vector `k0` on (vector `k` is row `k / ⌈OW/8⌉` from column `8·(k % ⌈OW/8⌉)`, or
/// `OW - 8` for the last of a row that would run past it) by `M` output channels. `x` is the
/// group's first input channel, `w` the tile's first weight, `b` its first bias, `y` its first
/// channel's output plane.
///
/// # Safety
/// The CPU has AVX2 and FMA; every tap, weight, bias and output of the tile lies inside its
/// slice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::type_complexity)]
unsafe fn k_conv_px_tile<
    const V: usize,
    const M: usize,
    const CG: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const DH: usize,
    const DW: usize,
    const MB: usize,
>(
    (x, w, b, y, k0, (lo, hi)): (*const f32, *const f32, *const f32, *mut f32, usize, (f32, f32)),
) {
    use core::arch::x86_64::*;
    // Each vector's first input (top-left tap) and output, from the plane's start.
    let (mut xat, mut yat) = ([0usize; V], [0usize; V]);
    for v in 0..V {
        let (row, col) = ((k0 + v) / OW.div_ceil(8), ((k0 + v) % OW.div_ceil(8) * 8).min(OW - 8));
        (xat[v], yat[v]) = (row * SH * W + col, row * OW + col);
    }
    // SAFETY: the caller keeps every offset inside its slice.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); V]; M];
        for (m, acc) in acc.iter_mut().enumerate() {
            *acc = [_mm256_set1_ps(*b.add(m)); V];
        }
        for c in 0..CG {
            for kh in 0..KH {
                let xr = x.add((c * H + kh * DH) * W);
                let wr = w.add((c * KH + kh) * KW * MB);
                for kw in 0..KW {
                    let mut xv = [_mm256_setzero_ps(); V];
                    for (xv, &at) in xv.iter_mut().zip(&xat) {
                        *xv = _mm256_loadu_ps(xr.add(at + kw * DW));
                    }
                    for (m, acc) in acc.iter_mut().enumerate() {
                        let wv = _mm256_set1_ps(*wr.add(kw * MB + m));
                        for (sum, xv) in acc.iter_mut().zip(xv) {
                            *sum = _mm256_fmadd_ps(xv, wv, *sum);
                        }
                    }
                }
            }
        }
        let (lo, hi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
        for (m, acc) in acc.iter().enumerate() {
            for (&sum, &at) in acc.iter().zip(&yat) {
                _mm256_storeu_ps(y.add(m * OH * OW + at), _mm256_min_ps(hi, _mm256_max_ps(lo, sum)));
            }
        }
    }
}

#[cfg(test)]
mod px_tests {
    /// The pixels-in-lanes convolution gives the channels-in-lanes one's results bit for bit
    /// (the same sums in the same order, with FMA), on non-integer values, at the tile edges:
    /// two groups, dilation (2, `DW`), rows of `OW` pixels, blocks of `MB` channels.
    #[cfg(target_arch = "x86_64")]
    fn matches_the_channel_tiles<
        const CG: usize,
        const H: usize,
        const W: usize,
        const MG: usize,
        const OH: usize,
        const OW: usize,
        const KH: usize,
        const KW: usize,
        const DW: usize,
        const MB: usize,
    >() {
        if !super::x86_avx2_fma() {
            println!("skipped: this CPU has no AVX2 and FMA");
            return;
        }
        assert_eq!((OH, OW), (H - 2 * (KH - 1), W - DW * (KW - 1)));
        let x: Vec<f32> = (0..2 * CG * H * W).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
        let w: Vec<f32> = (0..2 * MG * CG * KH * KW).map(|i| ((i * 5) % 17) as f32 * 0.071 - 0.55).collect();
        let b: Vec<f32> = (0..2 * MG).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
        let (lo, hi) = (-0.5f32, 0.75f32);
        let (mut want, mut got) = (vec![f32::NAN; 2 * MG * OH * OW], vec![f32::NAN; 2 * MG * OH * OW]);
        // SAFETY: checked above that the CPU has AVX2 and FMA.
        unsafe {
            super::k_conv_avx2::<2, CG, H, W, MG, OH, OW, KH, KW, 1, 1, 2, DW, MB>(&x, &w, &b, &mut want, lo, hi);
            super::k_conv_px_avx2::<2, CG, H, W, MG, OH, OW, KH, KW, 1, 2, DW, MB>(&x, &w, &b, &mut got, lo, hi);
        }
        assert_eq!(got, want);
        assert!(want.contains(&lo) || want.contains(&hi), "the clamp is exercised");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn pixel_tiles_match_the_channel_tiles() {
        // 3 rows of 4 vectors in pairs, 16 channels (6 + 6 + 4).
        matches_the_channel_tiles::<3, 7, 34, 16, 3, 32, 3, 3, 1, 16>();
        // 3 rows of 19 pixels (3 vectors, the last overlapping; pairs across the rows, then a
        // single vector by 8 channels), two blocks of 8 channels (4 + 4).
        matches_the_channel_tiles::<2, 5, 23, 16, 3, 19, 2, 3, 2, 8>();
        // 2 rows of 8 pixels (a pair: 6 + 6 + 6 + 6 + 6 + 6 + 4 channels); one row of 13 (a
        // pair: 4 + 4 channels); 5 rows of one vector (pairs, then one vector by 8 channels).
        matches_the_channel_tiles::<4, 6, 10, 40, 2, 8, 3, 3, 1, 40>();
        matches_the_channel_tiles::<1, 9, 17, 8, 1, 13, 5, 5, 1, 8>();
        matches_the_channel_tiles::<2, 5, 8, 8, 5, 8, 1, 1, 1, 8>();
        // A single vector: 16 channels as 12 + 4.
        matches_the_channel_tiles::<2, 1, 10, 16, 1, 8, 1, 3, 1, 16>();
    }
}
