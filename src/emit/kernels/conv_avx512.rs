// The float direct convolution with the output pixels in the lanes of AVX-512 vectors, for
// strides 1 and 2 along the rows and rows of a multiple of 8 pixels, on x86-64 CPUs with
// AVX-512F (checked at run time by `k_conv`, which prefers it to the AVX2 kernels). Each half of
// a vector (8 output pixels, inside one row) is loaded from its input row and the two halves
// merged by one permutation that also drops the odd columns of stride 2, so that stride-2
// layers (ResNet's downsampling) and 8-pixel rows (two rows a vector) fill all 16 lanes and
// are stored as whole vectors along the output plane.
// (`include!`d by the unit tests into the scope of `conv.rs`, which calls it.)

/// [`k_conv`]'s AVX-512 path (`SW` 1 or 2, `OW` a multiple of 8, `MB` of 4, bounds not NaN), on
/// the same weight layout: per weight block, the output plane (contiguous, `OH × OW`) as vectors
/// of 16 pixels (the last one half masked when the plane holds an odd number of 8s), two
/// vectors at a time by 12 output channels (8 or 4 for the last of a block), at most 24 sums
/// in registers, each input vector serving its channels by broadcast weights. Each sum starts
/// from the bias and adds the taps channel by channel, row by row, column by column with FMA,
/// in the order of `k_conv_avx2`: the same results, bit for bit.
///
/// # Safety
/// The CPU has AVX-512F; `SW` is 1 or 2, `OW` a multiple of 8, `MB` of 4; `x`, `w`, `b` and
/// `y` are as long as [`k_conv`] makes them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn k_conv_px_avx512<
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
>(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let (x, w, b, y) = (x.as_ptr(), w.as_ptr(), b.as_ptr(), y.as_mut_ptr());
    let vectors = (OH * OW).div_ceil(16);
    for g in 0..G {
        for m0 in (0..MG).step_by(MB) {
            let mut k0 = 0;
            while k0 < vectors {
                let nv = if vectors - k0 >= 2 { 2 } else { 1 };
                let mut s = 0;
                while s < MB {
                    let nm = match MB - s {
                        left if left >= 12 => 12,
                        left if left >= 8 => 8,
                        _ => 4,
                    };
                    let first = g * MG + m0 + s;
                    // SAFETY: the tile's input rows, weights, bias and outputs lie inside the
                    // slices (channels first..first + nm of group g, the vectors k0..k0 + nv of
                    // the output plane, masked past its end).
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
                            (2, 12) => k_conv_px512_tile::<2, 12, CG, H, W, OH, OW, KH, KW, SH, SW, DH, DW, MB>(t),
                            (2, 8) => k_conv_px512_tile::<2, 8, CG, H, W, OH, OW, KH, KW, SH, SW, DH, DW, MB>(t),
                            (2, _) => k_conv_px512_tile::<2, 4, CG, H, W, OH, OW, KH, KW, SH, SW, DH, DW, MB>(t),
                            (_, 12) => k_conv_px512_tile::<1, 12, CG, H, W, OH, OW, KH, KW, SH, SW, DH, DW, MB>(t),
                            (_, 8) => k_conv_px512_tile::<1, 8, CG, H, W, OH, OW, KH, KW, SH, SW, DH, DW, MB>(t),
                            _ => k_conv_px512_tile::<1, 4, CG, H, W, OH, OW, KH, KW, SH, SW, DH, DW, MB>(t),
                        }
                    }
                    s += nm;
                }
                k0 += nv;
            }
        }
    }
}

/// One register tile of [`k_conv_px_avx512`]: the `V` vectors of 16 output pixels from the
/// plane's vector `k0` on by `M` output channels. Lanes `8h..8h + 8` of a vector are the pixels
/// from `16·k + 8h`, inside one row; their taps are read from that row of the input (8 values,
/// or 15 for stride 2, under a mask; none past the plane) and the two halves merged by
/// `vpermt2ps`, picking every `SW`-th value. `x` is the group's first input channel, `w` the
/// tile's first weight, `b` its first bias, `y` its first channel's output plane.
///
/// # Safety
/// The CPU has AVX-512F; every tap, weight, bias and output of the tile lies inside its slice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::type_complexity)]
unsafe fn k_conv_px512_tile<
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
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const MB: usize,
>(
    (x, w, b, y, k0, (lo, hi)): (*const f32, *const f32, *const f32, *mut f32, usize, (f32, f32)),
) {
    use core::arch::x86_64::*;
    let n = OH * OW;
    // Lane l takes value SW·l of the first half's row, lane 8 + l value SW·l of the second's.
    let mut lanes = [0i32; 16];
    for (l, lane) in lanes.iter_mut().enumerate() {
        *lane = (if l < 8 { SW * l } else { 16 + SW * (l - 8) }) as i32;
    }
    let half = ((1u32 << (7 * SW + 1)) - 1) as u16;
    // Each half's first input (top-left tap) from the plane's start and its load mask; each
    // vector's store mask.
    let (mut at, mut masks, mut stores) = ([[0usize; 2]; V], [[0u16; 2]; V], [0u16; V]);
    for v in 0..V {
        let p0 = 16 * (k0 + v);
        for h in 0..2 {
            let p = p0 + 8 * h;
            if p < n {
                (at[v][h], masks[v][h]) = ((p / OW) * SH * W + (p % OW) * SW, half);
            }
        }
        stores[v] = if n - p0 >= 16 { u16::MAX } else { 0xff };
    }
    // SAFETY: the caller keeps every offset inside its slice; masked lanes are not read.
    unsafe {
        let lanes = _mm512_loadu_si512(lanes.as_ptr() as *const _);
        let mut acc = [[_mm512_setzero_ps(); V]; M];
        for (m, acc) in acc.iter_mut().enumerate() {
            *acc = [_mm512_set1_ps(*b.add(m)); V];
        }
        for c in 0..CG {
            for kh in 0..KH {
                let xr = x.add((c * H + kh * DH) * W);
                let wr = w.add((c * KH + kh) * KW * MB);
                for kw in 0..KW {
                    let mut xv = [_mm512_setzero_ps(); V];
                    for v in 0..V {
                        let xr = xr.add(kw * DW);
                        xv[v] = if SW == 1 && OW.is_multiple_of(16) {
                            _mm512_loadu_ps(xr.add(at[v][0]))
                        } else {
                            let first = _mm512_maskz_loadu_ps(masks[v][0], xr.add(at[v][0]));
                            let second = _mm512_maskz_loadu_ps(masks[v][1], xr.add(at[v][1]));
                            _mm512_permutex2var_ps(first, lanes, second)
                        };
                    }
                    for (m, acc) in acc.iter_mut().enumerate() {
                        let wv = _mm512_set1_ps(*wr.add(kw * MB + m));
                        for (sum, xv) in acc.iter_mut().zip(xv) {
                            *sum = _mm512_fmadd_ps(xv, wv, *sum);
                        }
                    }
                }
            }
        }
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        for (m, acc) in acc.iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                let out = _mm512_min_ps(hi, _mm512_max_ps(lo, sum));
                _mm512_mask_storeu_ps(y.add(m * n + 16 * (k0 + v)), stores[v], out);
            }
        }
    }
}

#[cfg(test)]
mod px512_tests {
    /// The AVX-512 pixel tiles give the AVX2 channel tiles' results bit for bit (the same sums
    /// in the same order, with FMA), on non-integer values: two groups, stride (`SH`, `SW`),
    /// dilation (1, `DW`), `OH × OW` pixels, blocks of `MB` channels.
    #[cfg(target_arch = "x86_64")]
    fn matches_the_avx2_tiles<
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
        const DW: usize,
        const MB: usize,
    >() {
        if !super::x86_avx512f() {
            println!("skipped: this CPU has no AVX-512F");
            return;
        }
        assert_eq!((OH, OW), ((H - KH) / SH + 1, (W - DW * (KW - 1) - 1) / SW + 1));
        let x: Vec<f32> = (0..2 * CG * H * W).map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6).collect();
        let w: Vec<f32> = (0..2 * MG * CG * KH * KW).map(|i| ((i * 5) % 17) as f32 * 0.071 - 0.55).collect();
        let b: Vec<f32> = (0..2 * MG).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
        let (lo, hi) = (-0.3f32, 0.4f32);
        let (mut want, mut got) = (vec![f32::NAN; 2 * MG * OH * OW], vec![f32::NAN; 2 * MG * OH * OW]);
        // SAFETY: checked above that the CPU has AVX-512F (and so AVX2 and FMA).
        unsafe {
            super::k_conv_avx2::<2, CG, H, W, MG, OH, OW, KH, KW, SH, SW, 1, DW, MB>(&x, &w, &b, &mut want, lo, hi);
            super::k_conv_px_avx512::<2, CG, H, W, MG, OH, OW, KH, KW, SH, SW, 1, DW, MB>(&x, &w, &b, &mut got, lo, hi);
        }
        assert_eq!(got, want);
        assert!(want.contains(&lo) && want.contains(&hi), "the clamp is exercised");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_pixel_tiles_match_the_avx2_channel_tiles() {
        // Stride 2, rows of 16 (ResNet-8's 3×3 downsampling): 8 vectors in pairs, 40 channels
        // (12 + 12 + 12 + 4).
        matches_the_avx2_tiles::<3, 17, 33, 40, 8, 16, 3, 3, 2, 2, 1, 40>();
        // Stride 2, rows of 8 (two a vector), 5 rows: the last vector half masked; 1×1 kernel.
        matches_the_avx2_tiles::<2, 9, 16, 16, 5, 8, 1, 1, 2, 2, 1, 16>();
        // Stride 1, rows of 8, 3 rows (a pair, the second half masked), dilation 2, 8 channels.
        matches_the_avx2_tiles::<2, 5, 12, 8, 3, 8, 3, 3, 1, 1, 2, 8>();
        // Stride 1, rows of 32 (whole vectors, direct loads), 24 channels (12 + 12), two blocks.
        matches_the_avx2_tiles::<2, 4, 34, 48, 2, 32, 3, 3, 1, 1, 1, 24>();
    }
}
