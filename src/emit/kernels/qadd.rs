//! The integer add of quantized (QDQ) models: `QuantizeLinear(DequantizeLinear(a) +
//! DequantizeLinear(b))`, through a fused ReLU or Clip, from two 8-bit tensors into one, in one
//! pass (the residual join of a quantized ResNet, onnxruntime's QLinearAdd).

use super::{avx2_or_portable, QIn, QOut, Requant};

/// `y = store((a - za)·sa + (b - zb)·sb)` over `N` values: each input dequantized as
/// `k_dequant` does (`(x - zero) as f32 · scale`), the two summed in f32, then clamped and
/// quantized as `rq` says (`Y::store`: the store of `k_quant_to`, which rounds half to even and
/// saturates, with the clamp of a fused ReLU or Clip before it). The same f32 operations in the
/// same order as those kernels and the float Add between them, and no fused multiply-add (Rust
/// does not contract), so the same integers bit for bit. A loop the compiler vectorizes
/// (compiled for AVX2 too, like `k_dequant`).
#[allow(clippy::too_many_arguments)]
fn k_qadd<A: QIn, B: QIn, Y: QOut, const N: usize>(
    a: &[A],
    b: &[B],
    y: &mut [Y],
    za: i32,
    sa: f32,
    zb: i32,
    sb: f32,
    rq: Requant,
) {
    let (a, b, y) = (&a[..N], &b[..N], &mut y[..N]);
    avx2_or_portable(
        #[inline(always)]
        || {
            for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
                *y = Y::store((a.wide() - za) as f32 * sa + (b.wide() - zb) as f32 * sb, rq);
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::super::{k_dequant, k_quant_to, m_clamp, QOut, Requant};
    use super::k_qadd;

    /// All 256 × 256 pairs of `u8` inputs.
    const N: usize = 65536;

    /// The float path the kernel replaces: `k_dequant` of each input, their f32 sum clamped as a
    /// fused ReLU or Clip clamps (`k_bin`'s `m_clamp`), then `k_quant_to`.
    fn float_path<Y: QOut>(a: &[u8], b: &[u8], (za, sa, zb, sb): (i32, f32, i32, f32), rq: Requant) -> Vec<Y> {
        let (mut da, mut db) = (vec![0.0; N], vec![0.0; N]);
        k_dequant::<u8, N>(a, &mut da, za, sa);
        k_dequant::<u8, N>(b, &mut db, zb, sb);
        let sum: Vec<f32> = da.iter().zip(&db).map(|(x, y)| m_clamp(x + y, rq.lo, rq.hi)).collect();
        let mut y = vec![Y::store(0.0, rq); N];
        k_quant_to::<Y, N>(&sum, &mut y, rq.inv, rq.zero);
        y
    }

    /// The definition: the sum, clamped, times `inv`, rounded half to even, plus the zero
    /// point (not saturated).
    fn reference(a: u8, b: u8, (za, sa, zb, sb): (i32, f32, i32, f32), rq: Requant) -> f32 {
        let v = (a as i32 - za) as f32 * sa + (b as i32 - zb) as f32 * sb;
        (v.max(rq.lo).min(rq.hi) * rq.inv).round_ties_even() + rq.zero
    }

    /// Over every pair of `u8` inputs, for `u8` and `i8` outputs, with and without a ReLU or a
    /// Clip: `k_qadd` stores what the float path stores and what the definition gives, saturated.
    /// Scales of 0.5 and 1.5 with `inv` 1 put many sums halfway between two integers (ties,
    /// rounded to even), and the zero points push sums beyond both ends of both types.
    #[test]
    fn the_integer_add_stores_the_float_paths_integers() {
        let a: Vec<u8> = (0..N).map(|i| (i / 256) as u8).collect();
        let b: Vec<u8> = (0..N).map(|i| i as u8).collect();
        let relu = (0.0, f32::INFINITY);
        let none = (f32::NEG_INFINITY, f32::INFINITY);
        let cases = [
            ((0, 0.5, 0, 0.5), none, 1.0, 0.0),
            ((128, 0.5, 3, 1.5), relu, 1.0, 7.0),
            ((17, 0.0123, 200, 0.0371), none, 1.0 / 0.0457, 0.0),
            ((128, 0.5, 128, 0.5), none, 1.0, -3.0),
            ((128, 1.0, 128, 1.0), none, 1.0, 10.0),
            ((0, 0.02, 255, 0.03), (-1.0, 2.5), 1.0 / 0.015, 20.0),
        ];
        let (mut ties, mut below, mut above) = (0, [0; 2], [0; 2]);
        for (dq, (lo, hi), inv, zero) in cases {
            let rq = Requant { lo, hi, inv, zero };
            let mut y8 = vec![0u8; N];
            k_qadd::<u8, u8, u8, N>(&a, &b, &mut y8, dq.0, dq.1, dq.2, dq.3, rq);
            assert_eq!(y8, float_path::<u8>(&a, &b, dq, rq), "u8 out, {dq:?}");
            let mut yi = vec![0i8; N];
            k_qadd::<u8, u8, i8, N>(&a, &b, &mut yi, dq.0, dq.1, dq.2, dq.3, rq);
            assert_eq!(yi, float_path::<i8>(&a, &b, dq, rq), "i8 out, {dq:?}");
            for i in 0..N {
                let r = reference(a[i], b[i], dq, rq);
                assert_eq!(y8[i] as f32, r.clamp(0.0, 255.0), "u8 {} {} {dq:?}", a[i], b[i]);
                assert_eq!(yi[i] as f32, r.clamp(-128.0, 127.0), "i8 {} {} {dq:?}", a[i], b[i]);
                let v = (a[i] as i32 - dq.0) as f32 * dq.1 + (b[i] as i32 - dq.2) as f32 * dq.3;
                ties += usize::from((v.max(lo).min(hi) * inv).fract().abs() == 0.5);
                for (k, (qmin, qmax)) in [(0.0, 255.0), (-128.0, 127.0)].into_iter().enumerate() {
                    below[k] += usize::from(r < qmin);
                    above[k] += usize::from(r > qmax);
                }
            }
        }
        assert!(ties > 10000, "{ties} ties");
        assert!(below.iter().chain(&above).all(|&n| n > 100), "saturated below {below:?}, above {above:?}");
    }
}
