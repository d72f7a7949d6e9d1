//! The integer add of quantized (QDQ) models: `QuantizeLinear(DequantizeLinear(a) +
//! DequantizeLinear(b))`, through a fused ReLU or Clip, from two 8-bit tensors into one, in one
//! pass (the residual join of a quantized ResNet, onnxruntime's QLinearAdd).

use super::{avx2_or_portable, QIn, QOut, Requant};
#[cfg(target_arch = "x86_64")]
use super::{m_levels8, m_pack32, m_requant8_of, x86_avx2_fma};

/// `y = store((a - za)·sa + (b - zb)·sb)` over `N` values: each input dequantized as
/// `k_dequant` does (`(x - zero) as f32 · scale`), the two summed in f32, then clamped and
/// quantized as `rq` says (`Y::store`: the store of `k_quant_to`, which rounds half to even and
/// saturates, with the clamp of a fused ReLU or Clip before it). The same f32 operations in the
/// same order as those kernels and the float Add between them, and no fused multiply-add (Rust
/// does not contract), so the same integers bit for bit. A loop the compiler vectorizes
/// (compiled for AVX2 too, like `k_dequant`); on x86-64 with AVX2, 8-bit outputs 32 values at a
/// time by [`k_qadd_avx2`], whose store is `k_quant_to`'s. (`scripts/step-times.sh`, int8
/// ResNet-8, the plain build: the portable loop's store took 6.3 us on the 16,384 values of the
/// first join, more than the float path's two dequantizations and quantization together.)
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
    #[allow(unused_mut)] // (assigned on x86-64 only)
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if Y::LEVELS.is_some() && x86_avx2_fma() {
        done = N / 32 * 32;
        // SAFETY: the CPU has AVX2 and FMA; `Y` has levels, so it is one byte.
        unsafe { k_qadd_avx2(&a[..done], &b[..done], &mut y[..done], (za, sa), (zb, sb), rq) };
    }
    avx2_or_portable(
        #[inline(always)]
        || {
            for ((y, a), b) in y[done..].iter_mut().zip(&a[done..]).zip(&b[done..]) {
                *y = Y::store((a.wide() - za) as f32 * sa + (b.wide() - zb) as f32 * sb, rq);
            }
        },
    );
}

/// [`k_qadd`]'s AVX2 loop over whole blocks of 32 values: the 32 sums in f32 (the same
/// expression, which the compiler vectorizes here), then stored as `k_quant_to_avx2` stores
/// them ([`m_levels8`], the clamps of `rq` and of the levels made one by [`m_requant8_of`],
/// packed by [`m_pack32`]): the integers of `Y::store`.
///
/// # Safety
/// The CPU has AVX2 and FMA; `Y` is one byte.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_qadd_avx2<A: QIn, B: QIn, Y: QOut>(
    a: &[A],
    b: &[B],
    y: &mut [Y],
    (za, sa): (i32, f32),
    (zb, sb): (i32, f32),
    rq: Requant,
) {
    use core::arch::x86_64::*;
    let Some((qmin, qmax)) = Y::LEVELS else { return };
    // SAFETY: the CPU has AVX2; each block reads 32 floats of its own and writes 32 bytes of `y`.
    unsafe {
        let r8 = m_requant8_of(rq, qmin, qmax);
        for ((a, b), y) in a.chunks_exact(32).zip(b.chunks_exact(32)).zip(y.chunks_exact_mut(32)) {
            let v: [f32; 32] =
                core::array::from_fn(|i| (a[i].wide() - za) as f32 * sa + (b[i].wide() - zb) as f32 * sb);
            let q = [0, 1, 2, 3].map(|k| m_levels8(_mm256_loadu_ps(v[8 * k..].as_ptr()), r8));
            _mm256_storeu_si256(y.as_mut_ptr() as *mut __m256i, m_pack32::<Y>(q, r8.zero));
        }
    }
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
            // A length that leaves a tail after the blocks of 32 (x86-64's AVX2 loop).
            let mut tail = vec![0u8; 1000];
            k_qadd::<u8, u8, u8, 1000>(&a[64500..], &b[64500..], &mut tail, dq.0, dq.1, dq.2, dq.3, rq);
            assert_eq!(tail, y8[64500..65500], "u8 out, {dq:?}, 1000 values");
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
