// The float depthwise convolution on x86-64 CPUs with AVX-512F (checked at run time by `k_dw`,
// which prefers it to the AVX2-compiled loops): no scratch plane, the padding by masked loads
// (a masked-off lane reads nothing and gives 0, as the zero border would), 16 outputs a vector.
// Stride-1 layers with short rows (under 3/4 of the lanes used row by row: DS-CNN's rows of 5,
// MobileNet's 6 and 3) whose output rows are as wide as the input's ("same" padding) take the
// plane's outputs as one flat run, whose taps are the flat input shifted by a constant, so that
// short rows fill every lane; other layers go row by row, two rows at a time, and stride 2 along
// the rows loads 32 consecutive inputs and keeps the even (or odd) ones by `vpermt2ps`. The
// loops take the store of each vector of sums as a function (`k_dw512_sums`), which the integer
// depthwise kernel (`qdw_avx512.rs`) calls with its requantizing store.
// (`include!`d by the unit tests into the scope of `dw.rs`, which calls it.)

/// [`k_dw`]'s AVX-512 path (`SW` 1 or 2, any other shape): [`k_dw512_sums`], each vector of
/// outputs clamped as [`m_clamp`] does (a NaN sum stays NaN, NaN bounds clamp nothing) and
/// stored under its mask.
///
/// # Safety
/// The CPU has AVX-512F; `SW` is 1 or 2; `x`, `w`, `b` and `y` hold `C·H·W`, `C·KH·KW`, `C` and
/// `C·OH·OW` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_dw_avx512<
    const C: usize,
    const H: usize,
    const W: usize,
    const PT: usize,
    const PL: usize,
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
    use core::arch::x86_64::*;
    let (x, w, b, y) = (&x[..C * H * W], &w[..C * KH * KW], &b[..C], &mut y[..C * OH * OW]);
    let (y, lo, hi) = (y.as_mut_ptr(), _mm512_set1_ps(lo), _mm512_set1_ps(hi));
    let store = |c: usize, at: usize, k: u16, acc: __m512| {
        // SAFETY: the loops store output `at` of channel c's plane under a mask that keeps
        // the lanes inside the plane.
        unsafe { _mm512_mask_storeu_ps(y.add(c * OH * OW + at), k, _mm512_min_ps(hi, _mm512_max_ps(lo, acc))) }
    };
    // SAFETY: the CPU has AVX-512F, the slices are as long as the kernels read and write.
    unsafe { k_dw512_sums::<C, H, W, PT, PL, OH, OW, KH, KW, SH, SW, DH, DW>(x.as_ptr(), w.as_ptr(), b.as_ptr(), &store) }
}

/// The sums of a depthwise convolution (`SW` 1 or 2) of `x` (`[C][H][W]`, padded by `PT` rows
/// above and `PL` columns left, the padding zeros) by `w` (`[C][KH][KW]`) plus the bias `b`
/// (per channel), 16 outputs a vector, each passed to `store(c, at, mask, sums)` with its
/// channel, the index of its first output in the channel's `[OH][OW]` plane and the mask of
/// the lanes inside the plane: [`k_dw512_flat`] for stride 1 with `OW == W` where rows of
/// vectors would leave more than a quarter of the lanes idle (rows of fewer than 12 outputs:
/// 5, 6 and 3 lanes of 16 against 9 vectors of 16 for DS-CNN's 125 outputs), [`k_dw512_rows`]
/// otherwise (measured: MobileNet's 48-wide layer 7.7 us flat, 4.2 row by row; its 12-wide 3.3
/// and 2.3-2.6). Each sum is the bias plus the taps row by row, column by column, each added
/// by one FMA (the portable loops round each product first, so the results may differ from
/// theirs in the last bits).
///
/// # Safety
/// The CPU has AVX-512F; `SW` is 1 or 2; `x`, `w` and `b` point at `C·H·W`, `C·KH·KW` and `C`
/// values; `store` takes every vector of outputs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn k_dw512_sums<
    const C: usize,
    const H: usize,
    const W: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    x: *const f32,
    w: *const f32,
    b: *const f32,
    store: &impl Fn(usize, usize, u16, core::arch::x86_64::__m512),
) {
    let t = (x, w, b, store);
    // SAFETY: the CPU has AVX-512F, the pointers hold as many values as the kernels read.
    unsafe {
        if SH == 1 && SW == 1 && OW == W && 4 * OW < 48 * OW.div_ceil(16) {
            k_dw512_flat::<C, H, W, PT, PL, OH, KH, KW, DH, DW>(t);
        } else {
            k_dw512_rows::<C, H, W, PT, PL, OH, OW, KH, KW, SH, SW, DH, DW>(t);
        }
    }
}

/// The bits `from..to` of a mask of `N` lanes (none where `to <= from`; clipped to `0..N`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn k_dw512_lanes<const N: isize>(from: isize, to: isize) -> u32 {
    let (a, b) = (from.clamp(0, N), to.clamp(0, N));
    if b <= a {
        0
    } else {
        ((1u64 << b) - (1u64 << a)) as u32
    }
}

/// Stride-1 depthwise convolution with `OW == W`: output `o = oh·W + ow` of a channel is
/// `Σ w[kh][kw] · x[o + (kh·DH − PT)·W + kw·DW − PL]`, its taps the flat plane shifted, inside
/// the plane where the tap's column `ow + kw·DW − PL` lies in `0..W` (a lane mask per `kw`,
/// from a vector of the lanes' columns) and its row in `0..H` (where the shifted index lies in
/// `0..H·W`: a mask per `kh`, all ones but near the plane's top and bottom). The outputs go
/// two vectors at a time (the last alone), the channels inside, in blocks that stay in the L1
/// cache, so that the masks are made once per vector for a block of channels; vectors away from
/// the top and bottom rows use the column masks alone (six masks in the opmask registers for
/// 3×3).
///
/// # Safety
/// The CPU has AVX-512F; `x`, `w`, `b` point at `C·H·W`, `C·KH·KW` and `C` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::type_complexity)]
unsafe fn k_dw512_flat<
    const C: usize,
    const H: usize,
    const W: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const KH: usize,
    const KW: usize,
    const DH: usize,
    const DW: usize,
>(
    t: (*const f32, *const f32, *const f32, &impl Fn(usize, usize, u16, core::arch::x86_64::__m512)),
) {
    use core::arch::x86_64::*;
    let n = OH * W;
    let vectors = n.div_ceil(16);
    // Channels in blocks whose input and output planes fill at most 32 KiB together, so that
    // they stay in the L1 cache while the block's vectors are swept.
    let block = (8192 / (H * W + n)).clamp(1, C);
    let mut first = [0i32; 16];
    for (l, col) in first.iter_mut().enumerate() {
        *col = (l % W) as i32;
    }
    let (step, width) = (_mm512_set1_epi32((16 % W) as i32), _mm512_set1_epi32(W as i32));
    for c0 in (0..C).step_by(block) {
        let chans = c0..(c0 + block).min(C);
        // The columns of the lanes of vector 0, then of each next vector: 16 further on, wrapped.
        // SAFETY: the CPU has AVX-512F; `first` holds 16 values.
        let mut cols = unsafe { _mm512_loadu_si512(first.as_ptr().cast()) };
        let mut v = 0;
        while v < vectors {
            let nv = if vectors - v >= 2 { 2 } else { 1 };
            let (mut colm, mut rowm, mut inside) = ([[0u16; KW]; 2], [[0u16; KH]; 2], true);
            for i in 0..nv {
                let o = (16 * (v + i)) as isize;
                let valid = k_dw512_lanes::<16>(0, n as isize - o) as u16;
                for (kw, m) in colm[i].iter_mut().enumerate() {
                    // Lanes whose column plus kw·DW − PL lies in 0..W (one unsigned compare).
                    let shifted = _mm512_add_epi32(cols, _mm512_set1_epi32((kw * DW) as i32 - PL as i32));
                    *m = _mm512_cmplt_epu32_mask(shifted, width) & valid;
                }
                for (kh, m) in rowm[i].iter_mut().enumerate() {
                    let shift = (kh * DH) as isize * W as isize - (PT * W) as isize;
                    *m = k_dw512_lanes::<16>(-o - shift, (H * W) as isize - o - shift) as u16;
                    inside &= *m & valid == valid;
                }
                let next = _mm512_add_epi32(cols, step);
                cols = _mm512_mask_sub_epi32(next, _mm512_cmpge_epi32_mask(next, width), next, width);
            }
            let only = |i: usize, _: usize, kw: usize| colm[i][kw];
            let both = |i: usize, kh: usize, kw: usize| colm[i][kw] & rowm[i][kh];
            let r = chans.clone();
            // SAFETY: the masks keep every load inside its channel's plane.
            unsafe {
                match (nv, inside) {
                    (2, true) => k_dw512_flat_step::<2, C, H, W, PT, PL, OH, KH, KW, DH, DW>(t, r, v, only),
                    (2, false) => k_dw512_flat_step::<2, C, H, W, PT, PL, OH, KH, KW, DH, DW>(t, r, v, both),
                    (_, true) => k_dw512_flat_step::<1, C, H, W, PT, PL, OH, KH, KW, DH, DW>(t, r, v, only),
                    _ => k_dw512_flat_step::<1, C, H, W, PT, PL, OH, KH, KW, DH, DW>(t, r, v, both),
                }
            }
            v += nv;
        }
    }
}

/// The vectors `v..v + V` of [`k_dw512_flat`] for the channels `chans`: tap `(kh, kw)` of
/// vector `i` loaded under `mask(i, kh, kw)`, each vector's sums stored with the mask of its
/// lanes that lie inside the plane's `OH·W` outputs.
///
/// # Safety
/// The CPU has AVX-512F; the masks keep every load inside its channel's input plane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::type_complexity)]
unsafe fn k_dw512_flat_step<
    const V: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const KH: usize,
    const KW: usize,
    const DH: usize,
    const DW: usize,
>(
    (x, w, b, store): (*const f32, *const f32, *const f32, &impl Fn(usize, usize, u16, core::arch::x86_64::__m512)),
    chans: core::ops::Range<usize>,
    v: usize,
    mask: impl Fn(usize, usize, usize) -> u16,
) {
    use core::arch::x86_64::*;
    let n = OH * W;
    let mut stores = [0u16; V];
    for (i, s) in stores.iter_mut().enumerate() {
        *s = k_dw512_lanes::<16>(0, (n - 16 * (v + i)) as isize) as u16;
    }
    for c in chans {
        // SAFETY: channel c's plane, taps and bias lie inside the slices; the masks keep every
        // load inside the input plane.
        unsafe {
            let (xc, wc) = (x.add(c * H * W), w.add(c * KH * KW));
            let mut acc = [_mm512_set1_ps(*b.add(c)); V];
            for kh in 0..KH {
                for kw in 0..KW {
                    let wv = _mm512_set1_ps(*wc.add(kh * KW + kw));
                    let shift = (kh * DH * W + kw * DW) as isize - (PT * W + PL) as isize;
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let at = xc.wrapping_offset((16 * (v + i)) as isize + shift);
                        *acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask(i, kh, kw), at), wv, *acc);
                    }
                }
            }
            for (i, &acc) in acc.iter().enumerate() {
                store(c, 16 * (v + i), stores[i], acc);
            }
        }
    }
}

/// Depthwise convolution row by row (any `SH`, `SW` 1 or 2): per channel, its taps broadcast
/// into registers once, then the output rows in blocks of 16 columns (the last masked), each
/// block's load masks made once for all rows, taps of input rows above or below the plane
/// skipped. Stride 1 loads the 16 inputs of a tap under its mask. Stride 2 loads the 32 inputs
/// from column `2j + e` (two masked loads) and keeps the even ones by one `vpermt2ps` for a tap
/// `e = kw·DW − PL` columns off (the odd ones for the tap one column further, from the same
/// loads).
///
/// # Safety
/// The CPU has AVX-512F; `SW` is 1 or 2; `x`, `w`, `b` point at `C·H·W`, `C·KH·KW` and `C`
/// values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::type_complexity)]
unsafe fn k_dw512_rows<
    const C: usize,
    const H: usize,
    const W: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    (x, w, b, store): (*const f32, *const f32, *const f32, &impl Fn(usize, usize, u16, core::arch::x86_64::__m512)),
) {
    use core::arch::x86_64::*;
    // Lane l takes value 2l (or 2l + 1) of the 32 loaded.
    const EVEN: [i32; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
    // SAFETY: the CPU has AVX-512F; EVEN holds 16 values.
    let even = unsafe { _mm512_loadu_si512(EVEN.as_ptr().cast()) };
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    // Tap kw's loads start at column SW·j + start[kw] (for stride 2, the even column at or
    // before the tap's), and it takes the odd values of stride 2's loads where `odd[kw]`.
    let (mut start, mut takes_odd) = ([0isize; KW], [false; KW]);
    for kw in 0..KW {
        let e = (kw * DW) as isize - PL as isize;
        (start[kw], takes_odd[kw]) = if SW == 1 { (e, false) } else { (e - e.rem_euclid(2), e.rem_euclid(2) == 1) };
    }
    for c in 0..C {
        // SAFETY: channel c's taps and bias lie inside the slices.
        let (bias, taps) = unsafe {
            let mut taps = [[_mm512_setzero_ps(); KW]; KH];
            for (kh, row) in taps.iter_mut().enumerate() {
                for (kw, tap) in row.iter_mut().enumerate() {
                    *tap = _mm512_set1_ps(*w.add((c * KH + kh) * KW + kw));
                }
            }
            (_mm512_set1_ps(*b.add(c)), taps)
        };
        let mut j = 0;
        while j < OW {
            let lanes = k_dw512_lanes::<16>(0, (OW - j) as isize) as u16;
            // The masks of each tap's 16 (stride 1) or 32 (stride 2) loaded inputs that lie
            // inside the row.
            let mut masks = [[0u16; 2]; KW];
            for kw in 0..KW {
                let first = (SW * j) as isize + start[kw];
                let inside = k_dw512_lanes::<32>(-first, W as isize - first);
                masks[kw] = [inside as u16 & if SW == 1 { lanes } else { u16::MAX }, (inside >> 16) as u16];
            }
            // Two rows at a time (the last of an odd count twice), so that two chains of FMAs
            // interleave.
            let mut oh = 0;
            while oh < OH {
                let rows = [oh, (oh + 1).min(OH - 1)];
                let mut acc = [bias; 2];
                for (kh, taps) in taps.iter().enumerate() {
                    for (acc, &oh) in acc.iter_mut().zip(&rows) {
                        let r = (oh * SH + kh * DH) as isize - PT as isize;
                        if r < 0 || r >= H as isize {
                            continue;
                        }
                        // SAFETY: row r of channel c lies inside the plane; the masks keep the
                        // loads inside the row.
                        unsafe {
                            let row = x.add((c * H + r as usize) * W).wrapping_add(SW * j);
                            let mut pair = (_mm512_setzero_ps(), _mm512_setzero_ps());
                            for kw in 0..KW {
                                let at = row.wrapping_offset(start[kw]);
                                let v = if SW == 1 {
                                    _mm512_maskz_loadu_ps(masks[kw][0], at)
                                } else {
                                    // The tap before loaded the same 32 values when it starts
                                    // at the same column.
                                    if kw == 0 || start[kw] != start[kw - 1] {
                                        pair = (
                                            _mm512_maskz_loadu_ps(masks[kw][0], at),
                                            _mm512_maskz_loadu_ps(masks[kw][1], at.wrapping_add(16)),
                                        );
                                    }
                                    _mm512_permutex2var_ps(pair.0, if takes_odd[kw] { odd } else { even }, pair.1)
                                };
                                *acc = _mm512_fmadd_ps(v, taps[kw], *acc);
                            }
                        }
                    }
                }
                for (&acc, &oh) in acc.iter().zip(&rows) {
                    store(c, oh * OW + j, lanes, acc);
                }
                oh += 2;
            }
            j += 16;
        }
    }
}
