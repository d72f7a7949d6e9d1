//! Tests of the quantized stores and the quantize, dequantize and integer max-pool kernels
//! (`quant.rs`) against their scalar definitions.

/// `m_byte` is the cast of every value `m_quantize` returns: `as u8` on `0..=255` (`u8`
/// outputs), `as i8` on `-128..=127` (`i8` outputs), and 0 on NaN.
#[test]
fn the_byte_of_a_quantized_value_is_its_cast() {
    for q in -128..=255 {
        let v = q as f32;
        if q >= 0 {
            assert_eq!(super::m_byte(v), v as u8, "{q}");
        }
        if q < 128 {
            assert_eq!(super::m_byte(v) as i8, v as i8, "{q}");
        }
    }
    assert_eq!(super::m_byte(f32::NAN), 0);
}

/// `m_requant8` (and on AVX-512 CPUs `m_requant16`, each lane with its own scale and bias)
/// stores what `m_requant` stores, lane by lane, for `u8`, `i8` and `f32` outputs: sums over a
/// range that saturates both ends, results landing halfway between two integers (`inv` 0.5:
/// every odd integer, ties rounded to even), with and without a fused clamp, with a clamp
/// whose bounds are not levels, and with clamps wholly above or below the levels (its two
/// clamps merged into one).
#[cfg(target_arch = "x86_64")]
#[test]
fn eight_stores_at_once_match_one_at_a_time() {
    use super::{m_requant, m_requant16, m_requant8, QOut, Requant};
    use core::arch::x86_64::{_mm256_loadu_si256, _mm256_set1_ps, _mm512_loadu_ps, _mm512_loadu_si512};
    fn check<Y: QOut + PartialEq + core::fmt::Debug>(rq: Requant) {
        for start in (-3000..3000).step_by(8) {
            let acc: [i32; 8] = core::array::from_fn(|i| start + i as i32 * 3);
            let mut got = [Y::store(0.0, rq); 8];
            // SAFETY: the test runs only where the CPU has AVX2.
            unsafe {
                m_requant8(
                    _mm256_loadu_si256(acc.as_ptr() as *const _),
                    -17,
                    _mm256_set1_ps(0.25),
                    _mm256_set1_ps(1.5),
                    rq,
                    &mut got,
                )
            };
            let want: [Y; 8] = core::array::from_fn(|i| m_requant(acc[i], -17, 0.25, 1.5, rq));
            assert_eq!(got, want, "sums from {start}");
            if super::super::x86_avx512f() {
                let acc: [i32; 16] = core::array::from_fn(|i| start + i as i32 * 3 - 17);
                let mul: [f32; 16] = core::array::from_fn(|i| 0.25 + i as f32 * 0.0625);
                let bias: [f32; 16] = core::array::from_fn(|i| 1.5 - i as f32 * 0.5);
                let mut got = [Y::store(0.0, rq); 16];
                // SAFETY: the CPU has AVX512F.
                unsafe {
                    let (a, m, b) = (
                        _mm512_loadu_si512(acc.as_ptr() as *const _),
                        _mm512_loadu_ps(mul.as_ptr()),
                        _mm512_loadu_ps(bias.as_ptr()),
                    );
                    m_requant16(a, m, b, rq, &mut got);
                }
                let want: [Y; 16] = core::array::from_fn(|i| m_requant(acc[i], 0, mul[i], bias[i], rq));
                assert_eq!(got, want, "sixteen sums from {start}");
            }
        }
    }
    if !super::x86_avx2_fma() {
        return;
    }
    for rq in [
        Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 0.5, zero: 3.0 },
        Requant { lo: 0.0, hi: 6.0, inv: 0.5, zero: -128.0 },
        Requant { lo: -100.0, hi: 300.0, inv: 1.25, zero: 0.0 },
        Requant { lo: -0.7, hi: 6.0, inv: 40.3, zero: -20.0 },
        Requant { lo: 10.0, hi: 20.0, inv: 100.0, zero: 0.0 },
        Requant { lo: -50.0, hi: -40.0, inv: 1.0, zero: 0.0 },
    ] {
        check::<u8>(rq);
        check::<i8>(rq);
        check::<f32>(rq);
    }
}

/// `k_quant_to` (32 at a time on AVX2, then one by one) stores what `store` does for each
/// value: ties at every half step, values far beyond both ends, infinities and NaN, for `u8`
/// and `i8` and zero points inside and outside the levels, on a length with a tail.
#[test]
fn quantizing_a_tensor_matches_one_value_at_a_time() {
    use super::{k_quant_to, QOut, Requant};
    fn check<Y: QOut + PartialEq + core::fmt::Debug + Copy>(inv: f32, zero: f32) {
        let mut x: Vec<f32> = (0..1100).map(|i| (i as f32 - 550.0) * 0.5 / inv).collect();
        x.extend([f32::NAN, f32::INFINITY, -f32::INFINITY, 1e30, -1e30, 0.0, -0.0]);
        let rq = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv, zero };
        let want: Vec<Y> = x.iter().map(|&v| Y::store(v, rq)).collect();
        let mut got = vec![Y::store(0.0, rq); 1107];
        k_quant_to::<Y, 1107>(&x, &mut got, inv, zero);
        assert_eq!(got, want, "{inv} {zero}");
    }
    for (inv, zero) in [(1.0 / 0.0235, 3.0), (0.5, 0.0), (40.0, 128.0), (2.0, -3.0)] {
        check::<u8>(inv, zero);
        check::<i8>(inv, zero - 128.0);
    }
}

/// The integer MaxPool is the quantization of the float MaxPool, with padding on every
/// side (top and left 1, bottom 2, right 1) and windows of padding alone at the end (-inf).
#[test]
fn integer_max_pool_is_the_quantized_float_pool() {
    let rq = super::Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 1.0 / 0.37, zero: -20.0 };
    let (h, w, oh, ow) = (7, 6, 5, 4);
    let x: Vec<f32> = (0..2 * h * w).map(|i| ((i * 37) % 101) as f32 * 0.5 - 30.0).collect();
    let q: Vec<i8> = x.iter().map(|&v| <i8 as super::QOut>::store(v, rq)).collect();
    let mut got = vec![0i8; 2 * oh * ow];
    super::k_qmaxpool::<i8, 2, 7, 6, 5, 4, 3, 2, 2, 2, 1, 1, 2, 1>(&q, &mut got, -128);
    let mut want = Vec::new();
    for c in 0..2 {
        for i in 0..oh {
            for j in 0..ow {
                let mut m = f32::NEG_INFINITY;
                for a in (2 * i).saturating_sub(1)..(2 * i + 2).min(h) {
                    for b in (2 * j).saturating_sub(1)..(2 * j + 1).min(w) {
                        m = m.max(x[(c * h + a) * w + b]);
                    }
                }
                want.push(<i8 as super::QOut>::store(m, rq));
            }
        }
    }
    assert_eq!(got, want);
    assert!(want.contains(&-128) && want.iter().collect::<std::collections::BTreeSet<_>>().len() > 10);
}

/// 2 × 2 windows at stride 2 that tile rows of 8 to 16 bytes (SSE2 on x86-64, the last row
/// by the loops) give the largest of each window, for `u8` and `i8` at their extremes.
#[test]
fn tiled_integer_max_pool_takes_each_windows_largest() {
    fn check<T: Copy + Ord + core::fmt::Debug, const W: usize, const OW: usize>(of: impl Fn(usize) -> T, least: T) {
        let x: Vec<T> = (0..3 * 6 * W).map(&of).collect();
        let mut got = vec![least; 3 * 3 * OW];
        super::k_qmaxpool::<T, 3, 6, W, 3, OW, 2, 2, 2, 2, 0, 0, 0, 0>(&x, &mut got, least);
        let want: Vec<T> = (0..3 * 3 * OW)
            .map(|i| {
                let (row, ow) = (i / OW, i % OW);
                let at = |h: usize, w: usize| x[(2 * row + h) * W + 2 * ow + w];
                at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1))
            })
            .collect();
        assert_eq!(got, want, "{W}");
    }
    let u = |i: usize| ((i * 97 + i / 7) % 256) as u8;
    let s = |i: usize| ((i * 97 + i / 7) % 256) as u8 as i8;
    check::<u8, 14, 7>(u, 0);
    check::<u8, 8, 4>(u, 0);
    check::<u8, 16, 8>(u, 0);
    check::<i8, 14, 7>(s, -128);
    check::<i8, 16, 8>(s, -128);
}

/// `m_levels` is the integer `m_quantize` gives, for values around every
/// rounding boundary, far beyond the bounds, and infinite, with and without a fused clamp.
#[test]
fn integer_clamps_give_the_float_store() {
    let clamps = [(f32::NEG_INFINITY, f32::INFINITY), (0.0, f32::INFINITY), (0.0, 6.0), (-1.5, 0.7)];
    for (lo, hi) in clamps {
        for (inv, zero) in [(1.0 / 0.0235, 3.0), (40.0, -128.0), (1e-3, 0.0), (3e9, 17.0)] {
            let rq = super::Requant { lo, hi, inv, zero };
            for i in -3000..=3000 {
                for v in [i as f32 / (2.0 * inv), i as f32 * 1e3, i as f32 * 1e-5, f32::INFINITY, -f32::INFINITY] {
                    for (qmin, qmax) in [(0, 255), (-128, 127)] {
                        let want = super::m_quantize(v, rq, qmin as f32, qmax as f32) as i32;
                        assert_eq!(super::m_levels(v, rq, qmin, qmax), want, "{v} {lo} {hi} {inv} {zero}");
                    }
                }
            }
        }
    }
}
