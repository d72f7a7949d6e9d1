//! Elementwise kernels: maps of one tensor (out of place or in place) and broadcasting binary
//! operations over up to four (collapsed) dimensions, with a fused clamp.

use super::m_clamp;

/// `y[i] = f(x[i])` for `N` elements.
fn k_map<const N: usize, F: Fn(f32) -> f32>(x: &[f32], y: &mut [f32], f: F) {
    let (x, y) = (&x[..N], &mut y[..N]);
    for i in 0..N {
        y[i] = f(x[i]);
    }
}

/// `y[i] = f(y[i])` for `N` elements, in place.
fn k_map_ip<const N: usize, F: Fn(f32) -> f32>(y: &mut [f32], f: F) {
    for v in &mut y[..N] {
        *v = f(*v);
    }
}

/// `y = f(a, b)` over the shape `[D0][D1][D2][D3]`; `A*`/`B*` are the strides of `a` and `b`
/// (0 along a broadcast axis). The result is clamped to `[lo, hi]`.
fn k_bin<
    const D0: usize,
    const D1: usize,
    const D2: usize,
    const D3: usize,
    const A0: usize,
    const A1: usize,
    const A2: usize,
    const A3: usize,
    const B0: usize,
    const B1: usize,
    const B2: usize,
    const B3: usize,
    F: Fn(f32, f32) -> f32,
>(
    a: &[f32],
    b: &[f32],
    y: &mut [f32],
    f: F,
    lo: f32,
    hi: f32,
) {
    let y = &mut y[..D0 * D1 * D2 * D3];
    for i0 in 0..D0 {
        for i1 in 0..D1 {
            for i2 in 0..D2 {
                let yo = ((i0 * D1 + i1) * D2 + i2) * D3;
                let ao = i0 * A0 + i1 * A1 + i2 * A2;
                let bo = i0 * B0 + i1 * B1 + i2 * B2;
                let row = &mut y[yo..yo + D3];
                for i3 in 0..D3 {
                    row[i3] = m_clamp(f(a[ao + i3 * A3], b[bo + i3 * B3]), lo, hi);
                }
            }
        }
    }
}

/// `y = f(y, b)` in place over `[D0][D1][D2][D3]` (`y` contiguous); `B*` are the strides of
/// `b`. The result is clamped to `[lo, hi]`.
fn k_bin_ip<
    const D0: usize,
    const D1: usize,
    const D2: usize,
    const D3: usize,
    const B0: usize,
    const B1: usize,
    const B2: usize,
    const B3: usize,
    F: Fn(f32, f32) -> f32,
>(
    y: &mut [f32],
    b: &[f32],
    f: F,
    lo: f32,
    hi: f32,
) {
    let y = &mut y[..D0 * D1 * D2 * D3];
    for i0 in 0..D0 {
        for i1 in 0..D1 {
            for i2 in 0..D2 {
                let yo = ((i0 * D1 + i1) * D2 + i2) * D3;
                let bo = i0 * B0 + i1 * B1 + i2 * B2;
                let row = &mut y[yo..yo + D3];
                for i3 in 0..D3 {
                    row[i3] = m_clamp(f(row[i3], b[bo + i3 * B3]), lo, hi);
                }
            }
        }
    }
}
