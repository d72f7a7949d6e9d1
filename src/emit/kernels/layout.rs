//! Data movement: strided copies over up to four (collapsed) dimensions serve Transpose, Slice,
//! Concat, Split, Pad, Gather with constant indices and copies into graph outputs; `k_fill`
//! writes a constant.

/// Copies the `[D0][D1][D2][D3]` block of `x` at `xo` with strides `X*` to `y` at `yo` with
/// strides `Y*`.
fn k_copy<
    const D0: usize,
    const D1: usize,
    const D2: usize,
    const D3: usize,
    const X0: usize,
    const X1: usize,
    const X2: usize,
    const X3: usize,
    const Y0: usize,
    const Y1: usize,
    const Y2: usize,
    const Y3: usize,
>(
    x: &[f32],
    xo: usize,
    y: &mut [f32],
    yo: usize,
) {
    for i0 in 0..D0 {
        for i1 in 0..D1 {
            for i2 in 0..D2 {
                let xb = xo + i0 * X0 + i1 * X1 + i2 * X2;
                let yb = yo + i0 * Y0 + i1 * Y1 + i2 * Y2;
                for i3 in 0..D3 {
                    y[yb + i3 * Y3] = x[xb + i3 * X3];
                }
            }
        }
    }
}

/// Sets the first `N` elements of `y` to `v`.
fn k_fill<const N: usize>(y: &mut [f32], v: f32) {
    y[..N].fill(v);
}
