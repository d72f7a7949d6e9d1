// The x86-64 kernel of `k_qdw` (`qdw.rs`) for 8-bit inputs on CPUs with AVX-512F: the integer
// sums computed exactly in f32 lanes by the loops of the float depthwise kernel (`k_dw512_sums`
// in `dw_avx512.rs`: no padded plane, padding by masked loads, 16 outputs a vector), each
// vector stored as `m_requant` stores it. (`include!`d by the unit tests into the scope of
// `qdw.rs`, whose `k_qdw` calls it.)

/// How many floats [`k_qdw_avx512`]'s buffer holds for a group of `g` channels of `h × w`
/// inputs and `taps` weights each: the group's inputs, weights and a zero bias per channel. The
/// lowering passes `F` and `G` by the same formula (`qdw512_group`; were they to differ,
/// another kernel would run).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn k_qdw512_floats(g: usize, h: usize, w: usize, taps: usize) -> usize {
    g * (h * w + taps + 1)
}

/// [`k_qdw`] with AVX-512F for 8-bit `X`, `SW` 1 or 2, in groups of `G` channels: the group's
/// planes widened into f32 less the input's zero point `fill` ([`k_qdw512_widen`]: a padded
/// value, or a masked-off load beyond the plane, is then 0, as the zero point adds exactly 0
/// once the offset is added), its weights into f32, then [`k_dw512_sums`] with a bias of 0
/// sums `T = Σ (x - zx) · w` in f32 and stores each vector by [`k_qdw512_put`]. The sums are
/// exact, whatever the order of the FMAs: every product and partial sum is an integer of
/// magnitude at most `255 · Σ |w|`, below 2^24 by the lowering's check (`exact_in_f32`, the
/// bound the pointwise kernel's f32 lanes rely on), so `T` is the integer `acc + off - e` of
/// [`k_qdw_portable`]'s i32 sums `acc`, with `e = off + zx · Σ w` (0 when `off` is the
/// lowering's `-zx · Σ w`), and the results equal [`m_requant`]'s bit for bit. The group's
/// buffer (`F` floats on the stack, [`k_qdw512_floats`]) stays in the L1 cache.
///
/// # Safety
/// The CPU has AVX-512F; `X` is one byte; `SW` is 1 or 2; `G ≥ 1` divides `C`; `F ≥`
/// [`k_qdw512_floats`] of a group.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qdw_avx512<
    X: QIn,
    WT: QIn,
    Y: QOut,
    const C: usize,
    const H: usize,
    const WD: usize,
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
    const G: usize,
    const F: usize,
>(
    x: &[X],
    w: &[WT],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    fill: X,
    y: &mut [Y],
    rq: Requant,
) {
    use core::arch::x86_64::__m512;
    let (plane, taps, out) = (H * WD, KH * KW, OH * OW);
    let (x, w, y) = (&x[..C * plane], &w[..C * taps], &mut y[..C * out]);
    let (off, mul, bias) = (&off[..C], &mul[..C], &bias[..C]);
    let mut buf = [0f32; F];
    let (xs, rest) = buf.split_at_mut(G * plane);
    // The weights, then the zero bias (never written).
    let (ws, zeros) = rest.split_at_mut(G * taps);
    let zx = fill.wide();
    let levels = m_levels16::<Y>(rq);
    let yp = y.as_mut_ptr();
    for c0 in (0..C).step_by(G) {
        let wc = &w[c0 * taps..(c0 + G) * taps];
        // SAFETY: the CPU has AVX-512F; `xs` holds the group's planes.
        unsafe { k_qdw512_widen(&x[c0 * plane..(c0 + G) * plane], xs, zx) };
        for (d, s) in ws.iter_mut().zip(wc) {
            *d = s.wide() as f32;
        }
        let mut e = [0i32; G];
        for (g, e) in e.iter_mut().enumerate() {
            *e = off[c0 + g] + zx * wc[g * taps..(g + 1) * taps].iter().map(|v| v.wide()).sum::<i32>();
        }
        let store = |g: usize, at: usize, k: u16, t: __m512| {
            let c = c0 + g;
            // SAFETY: the CPU has AVX-512F; the float loops pass output `at` of the group's
            // channel g under a mask of lanes inside its plane, which is channel c's of `y`.
            unsafe { k_qdw512_put(t, e[g], mul[c], bias[c], rq, levels, yp.add(c * out + at), k) }
        };
        // SAFETY: the CPU has AVX-512F, SW is 1 or 2; the buffer holds the group's planes,
        // weights and biases.
        unsafe {
            k_dw512_sums::<G, H, WD, PT, PL, OH, OW, KH, KW, SH, SW, DH, DW>(
                xs.as_ptr(),
                ws.as_ptr(),
                zeros.as_ptr(),
                &store,
            )
        };
    }
}

/// `x - zx` of the 8-bit integers `x` into the floats `xs[..x.len()]`: 16 at a time,
/// sign-extended (`i8`) or zero-extended (`u8`) to i32 and converted, the last ones one by one.
///
/// # Safety
/// The CPU has AVX-512F; `X` is one byte; `xs` holds at least `x.len()` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn k_qdw512_widen<X: QIn>(x: &[X], xs: &mut [f32], zx: i32) {
    use core::arch::x86_64::*;
    let (n, z) = (x.len(), _mm512_set1_ps(zx as f32));
    let xs = &mut xs[..n];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: x[i..i + 16] (16 bytes) and xs[i..i + 16] lie inside the slices.
        unsafe {
            let v = _mm_loadu_si128(x.as_ptr().add(i) as *const __m128i);
            let wide = if X::I8 { _mm512_cvtepi8_epi32(v) } else { _mm512_cvtepu8_epi32(v) };
            _mm512_storeu_ps(xs.as_mut_ptr().add(i), _mm512_sub_ps(_mm512_cvtepi32_ps(wide), z));
        }
        i += 16;
    }
    for (d, s) in xs[i..].iter_mut().zip(&x[i..]) {
        *d = (s.wide() - zx) as f32;
    }
}

/// 16 sums `t` (integers in f32, exact) of a channel stored at `y` under the mask `k` as
/// [`m_requant`] stores `T + e` with the channel's scale `mul` and `bias`: `T + e` (converted to
/// i32 and back when `e ≠ 0`), times `mul`, plus `bias` (not fused), then for f32 outputs
/// clamped to `[rq.lo, rq.hi]` as [`m_requant8`] clamps, for integer ones (`levels`: `inv`, the
/// bounds and the zero point of [`m_levels16`]) scaled, clamped, rounded half to even and
/// the zero point added as [`m_levels8`] does, and the low byte of each lane stored (`vpmovdb`,
/// as [`m_byte`]; [`m_put16`]).
///
/// # Safety
/// The CPU has AVX-512F; `y` points at the lanes of `k`, values of `Y`: one byte each when it
/// has levels, else f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn k_qdw512_put<Y: QOut>(
    t: core::arch::x86_64::__m512,
    e: i32,
    mul: f32,
    bias: f32,
    rq: Requant,
    levels: Option<(f32, f32, f32, i32)>,
    y: *mut Y,
    k: u16,
) {
    use core::arch::x86_64::*;
    let t = if e == 0 { t } else { _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(e))) };
    let v = _mm512_add_ps(_mm512_mul_ps(t, _mm512_set1_ps(mul)), _mm512_set1_ps(bias));
    // SAFETY: the CPU has AVX-512F; `y` points at the lanes of `k`, of `Y`'s size.
    unsafe { m_put16(v, rq, levels, y, k) }
}
