//! Quantized tensors: QuantizeLinear and DequantizeLinear between float and 8-bit integer
//! buffers, and the integer kernels of Conv, Gemm and MatMul whose input, weights and output are
//! quantized (a DequantizeLinear → op → QuantizeLinear group of a QDQ model run as one kernel).
//!
//! The integer kernels sum `x · w` in `i32` (`w` with its zero point already taken off, the
//! input's zero point folded into a per-channel offset `-zx · Σ w` added to the sums, exact
//! because padding is filled with `zx`), then scale each sum in f32 (`sx · sw`), add the float
//! bias, clamp (a fused ReLU or Clip), and quantize the result into the output's integer type
//! (or store it as f32 when no QuantizeLinear follows).

#[cfg(target_arch = "x86_64")]
use super::x86_avx2_fma;
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
use super::{arm_smlad, arm_sxtb16};
use super::{avx2_or_portable, m_clamp, m_rte};

/// An integer element a quantized kernel reads, widened for the sums.
trait QIn: Copy {
    /// Whether the type is `i8` (read four at a time by SXTB16 on Arm, sign-extended by
    /// `k_qconv1`'s AVX2 kernel).
    #[allow(dead_code)] // read by `k_qconv1` and on 32-bit Arm only
    const I8: bool = false;
    /// What makes the type's values `u8` for the packed kernels (`k_qpack`): 128 for `i8`.
    #[allow(dead_code)] // read by `k_qpack` only, which a module may not use
    const BIAS: i32 = 0;
    /// The value as i32.
    fn wide(self) -> i32;
}

impl QIn for u8 {
    #[inline(always)]
    fn wide(self) -> i32 {
        self as i32
    }
}

impl QIn for i8 {
    const I8: bool = true;
    const BIAS: i32 = 128;
    #[inline(always)]
    fn wide(self) -> i32 {
        self as i32
    }
}

impl QIn for i16 {
    #[inline(always)]
    fn wide(self) -> i32 {
        self as i32
    }
}

/// How a quantized kernel stores a float result `v`: clamped to `[lo, hi]` (a fused ReLU or
/// Clip), then for an integer output `round_half_even(v · inv) + zero`, saturated (on 32-bit
/// Arm with a float unit by [`m_levels`], elsewhere [`m_quantize`]).
#[derive(Clone, Copy)]
struct Requant {
    lo: f32,
    hi: f32,
    inv: f32,
    zero: f32,
}

/// An element a quantized kernel stores.
trait QOut: Copy {
    /// `v` stored as `rq` says.
    fn store(v: f32, rq: Requant) -> Self;
    /// The type's range of integers, or `None` for `f32` (stored as a float, clamped): what
    /// [`m_requant8`] stores.
    #[allow(dead_code)] // read by `m_requant8` only, which a module may not use
    const LEVELS: Option<(f32, f32)>;
    /// The integer `q`, already in the type's range (the integer store, [`m_steps`]).
    #[allow(dead_code)] // called by `m_steps` only, which a module may not use (`k_qconv4`)
    fn level(q: i32) -> Self;
}

impl QOut for f32 {
    const LEVELS: Option<(f32, f32)> = None;
    #[inline(always)]
    fn store(v: f32, rq: Requant) -> f32 {
        m_clamp(v, rq.lo, rq.hi)
    }
    #[inline(always)]
    fn level(q: i32) -> f32 {
        q as f32
    }
}

impl QOut for u8 {
    const LEVELS: Option<(f32, f32)> = Some((0.0, 255.0));
    #[inline(always)]
    fn store(v: f32, rq: Requant) -> u8 {
        if cfg!(all(target_arch = "arm", target_os = "none", target_abi = "eabihf")) {
            m_levels(v, rq, 0, 255) as u8
        } else {
            m_byte(m_quantize(v, rq, 0.0, 255.0))
        }
    }
    #[inline(always)]
    fn level(q: i32) -> u8 {
        q as u8
    }
}

impl QOut for i8 {
    const LEVELS: Option<(f32, f32)> = Some((-128.0, 127.0));
    #[inline(always)]
    fn store(v: f32, rq: Requant) -> i8 {
        if cfg!(all(target_arch = "arm", target_os = "none", target_abi = "eabihf")) {
            m_levels(v, rq, -128, 127) as i8
        } else {
            m_byte(m_quantize(v, rq, -128.0, 127.0)) as i8
        }
    }
    #[inline(always)]
    fn level(q: i32) -> i8 {
        q as i8
    }
}

/// The low byte of the integer `q` (a result of [`m_quantize`], in `-128..=255`): `q as u8`.
/// Off 32-bit Arm read from the bits of `q + 1.5·2^23`, whose low mantissa bits are `q` in two's
/// complement (exact for `|q| < 2^22`; a NaN gives 0, as `as u8` does): the compiler
/// vectorizes this, while the saturating `as u8` takes one scalar conversion per value on
/// x86-64 (the integer kernels' stores were dominated by them).
#[inline(always)]
fn m_byte(q: f32) -> u8 {
    if cfg!(target_arch = "arm") {
        q as u8
    } else {
        (q + 12582912.0).to_bits() as u8
    }
}

/// An integer kernel's store of the i32 sum `acc` of an output channel with the channel's
/// offset `off` (minus the input's zero point times the weights), scale `mul` and float bias:
/// `store((acc + off) · mul + bias)`.
#[inline(always)]
fn m_requant<Y: QOut>(acc: i32, off: i32, mul: f32, bias: f32, rq: Requant) -> Y {
    Y::store((acc + off) as f32 * mul + bias, rq)
}

/// [`m_requant`] of eight sums `acc` at once with AVX2 into `y[..8]`, each lane with the offset
/// `off` and its own scale and bias (lanes of `mul`, `bias`: one channel's broadcast, or eight
/// channels'): the same f32 operations lane by lane ([`m_scaled8`], then for integer outputs
/// [`m_levels8`]; `vmaxps`/`vminps` pick as [`m_quantize`]'s and [`m_clamp`]'s comparisons
/// do), so the same values, and for integer outputs the low byte of each lane's integer, as
/// [`m_byte`] stores it.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn m_requant8<Y: QOut>(
    acc: core::arch::x86_64::__m256i,
    off: i32,
    mul: core::arch::x86_64::__m256,
    bias: core::arch::x86_64::__m256,
    rq: Requant,
    y: &mut [Y],
) {
    use core::arch::x86_64::*;
    const { assert!(core::mem::size_of::<Y>() == if Y::LEVELS.is_some() { 1 } else { 4 }) };
    let y = &mut y[..8];
    let s = _mm256_set1_ps;
    let v = m_scaled8(_mm256_add_epi32(acc, _mm256_set1_epi32(off)), mul, bias);
    // SAFETY: `y` holds eight values, of four bytes (f32) without levels, else of one.
    unsafe {
        match Y::LEVELS {
            None => _mm256_storeu_ps(y.as_mut_ptr() as *mut f32, _mm256_min_ps(s(rq.hi), _mm256_max_ps(s(rq.lo), v))),
            Some((qmin, qmax)) => {
                let r8 = m_requant8_of(rq, qmin, qmax);
                let bits = _mm256_add_epi32(m_levels8(v, r8), _mm256_set1_epi32(r8.zero));
                let low = _mm256_setr_epi8(
                    0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1,
                    -1, -1, -1, -1, -1, -1,
                );
                let b = _mm256_shuffle_epi8(bits, low);
                let eight = _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256::<1>(b));
                _mm_storel_epi64(y.as_mut_ptr() as *mut __m128i, eight);
            }
        }
    }
}

/// How eight lanes of an integer output with levels `qmin..=qmax` are stored ([`m_levels8`]):
/// [`Requant`]'s two clamps made one, on the scaled value, with bounds broadcast once.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Requant8 {
    /// `inv` in every lane.
    inv: core::arch::x86_64::__m256,
    /// The least scaled value stored, in every lane ([`m_requant8_of`]).
    lo: core::arch::x86_64::__m256,
    /// The greatest scaled value stored, in every lane.
    hi: core::arch::x86_64::__m256,
    /// The output's zero point.
    zero: i32,
}

/// [`Requant8`] of `rq` for the levels `qmin..=qmax`. [`m_quantize`] clamps `v` to
/// `[rq.lo, rq.hi]`, multiplies by `inv`, then clamps to `[qmin - zero, qmax - zero]`; with
/// `inv` positive and finite (the reciprocal of a QuantizeLinear's scale, positive) rounding
/// is monotonic, so the first clamp then the product is the product `v · inv` clamped to
/// `[lo · inv, hi · inv]` (products rounded as `vmulps` rounds them), and two clamps in a row
/// are one whose bounds are each first clamped into the second interval (where the two
/// intervals do not meet, both bounds are the end of the second nearest the first, as the
/// two clamps give). A NaN `v · inv` gives the lower bound, as the first clamp's `vmaxps` gives
/// `rq.lo`.
///
/// # Safety
/// The CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn m_requant8_of(rq: Requant, qmin: f32, qmax: f32) -> Requant8 {
    use core::arch::x86_64::*;
    let (lo, hi) = m_scaled_bounds(rq, qmin, qmax);
    Requant8 { inv: _mm256_set1_ps(rq.inv), lo: _mm256_set1_ps(lo), hi: _mm256_set1_ps(hi), zero: rq.zero as i32 }
}

/// The bounds of the one clamp on the scaled value `v · inv` that [`m_quantize`]'s two clamps
/// make for the levels `qmin..=qmax` when `inv` is positive ([`m_requant8_of`] says why).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn m_scaled_bounds(rq: Requant, qmin: f32, qmax: f32) -> (f32, f32) {
    // Comparisons, not `f32::max`: no NaN arises, and they take one instruction.
    let max = |v: f32, b: f32| if v > b { v } else { b };
    let min = |v: f32, b: f32| if v < b { v } else { b };
    let (lo, hi) = (rq.lo * rq.inv, rq.hi * rq.inv);
    let (qlo, qhi) = (qmin - rq.zero, qmax - rq.zero);
    (min(max(lo, qlo), qhi), max(min(hi, qhi), qlo))
}

/// [`m_requant`] of sixteen sums `acc` (offsets included) at once with AVX-512 into `y[..16]`,
/// each lane with its own scale and bias (lanes of `mul`, `bias`): the f32 operations of
/// [`m_requant8`] on twice the lanes (`acc · mul + bias`, a product then a sum; for integer
/// outputs `v · inv` clamped to [`m_scaled_bounds`], rounded half to even by `vcvtps2dq`, the
/// zero point added, and the low byte of each lane stored by `vpmovdb`; for `f32` outputs the
/// clamp of [`m_requant8`]), so the same values as [`m_requant`] stores.
///
/// # Safety
/// The CPU has AVX512F; for integer outputs `inv` is positive (a QuantizeLinear's).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn m_requant16<Y: QOut>(
    acc: core::arch::x86_64::__m512i,
    mul: core::arch::x86_64::__m512,
    bias: core::arch::x86_64::__m512,
    rq: Requant,
    y: &mut [Y],
) {
    use core::arch::x86_64::*;
    const { assert!(core::mem::size_of::<Y>() == if Y::LEVELS.is_some() { 1 } else { 4 }) };
    let y = &mut y[..16];
    let v = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), mul), bias);
    // SAFETY: `y` holds sixteen values, of four bytes (f32) without levels, else of one.
    unsafe { m_put16(v, rq, m_levels16::<Y>(rq), y.as_mut_ptr(), u16::MAX) }
}

/// The `levels` of [`m_put16`] for outputs of `Y` requantized by `rq`: `inv`, the bounds of
/// [`m_scaled_bounds`] and the zero point; `None` for f32 outputs.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn m_levels16<Y: QOut>(rq: Requant) -> Option<(f32, f32, f32, i32)> {
    Y::LEVELS.map(|(qmin, qmax)| {
        let (lo, hi) = m_scaled_bounds(rq, qmin, qmax);
        (rq.inv, lo, hi, rq.zero as i32)
    })
}

/// Stores the sixteen floats `v` (`acc · mul + bias`, before any clamp) at `y` under the mask
/// `k` as [`m_requant`] stores them: for f32 outputs clamped to `[rq.lo, rq.hi]` as
/// [`m_requant8`] clamps; for integer ones (`levels`: `inv`, the bounds of [`m_scaled_bounds`]
/// and the zero point) `v · inv` clamped, rounded half to even by `vcvtps2dq`, the zero point
/// added, and the low byte of each lane stored by `vpmovdb` (as [`m_byte`]).
///
/// # Safety
/// The CPU has AVX512F; `y` points at the lanes of `k`, values of `Y`: one byte each when it
/// has levels, else f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn m_put16<Y: QOut>(
    v: core::arch::x86_64::__m512,
    rq: Requant,
    levels: Option<(f32, f32, f32, i32)>,
    y: *mut Y,
    k: u16,
) {
    use core::arch::x86_64::*;
    let s = _mm512_set1_ps;
    // SAFETY: the caller's `y` holds the lanes of `k`; a full mask stores unmasked.
    unsafe {
        match levels {
            None => {
                let v = _mm512_min_ps(s(rq.hi), _mm512_max_ps(s(rq.lo), v));
                if k == u16::MAX {
                    _mm512_storeu_ps(y as *mut f32, v)
                } else {
                    _mm512_mask_storeu_ps(y as *mut f32, k, v)
                }
            }
            Some((inv, lo, hi, zero)) => {
                let q = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, s(inv)), s(lo)), s(hi)));
                let q = _mm512_add_epi32(q, _mm512_set1_epi32(zero));
                if k == u16::MAX {
                    _mm_storeu_si128(y as *mut __m128i, _mm512_cvtepi32_epi8(q))
                } else {
                    _mm512_mask_cvtepi32_storeu_epi8(y as *mut i8, k, q)
                }
            }
        }
    }
}

/// The floats [`m_requant`] stores of eight sums `acc` (offsets included) before any clamp:
/// `acc · mul + bias` lane by lane, a product then a sum (not fused).
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn m_scaled8(
    acc: core::arch::x86_64::__m256i,
    mul: core::arch::x86_64::__m256,
    bias: core::arch::x86_64::__m256,
) -> core::arch::x86_64::__m256 {
    use core::arch::x86_64::*;
    _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), mul), bias)
}

/// The integers [`m_quantize`] gives for eight floats `v`, less the zero point (in
/// `qmin - zero..=qmax - zero`): `v · inv` clamped to `r8`'s bounds, rounded half to even
/// (`vcvtps2dq`'s default rounding, as adding and taking away 1.5·2^23 rounds).
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn m_levels8(v: core::arch::x86_64::__m256, r8: Requant8) -> core::arch::x86_64::__m256i {
    use core::arch::x86_64::*;
    _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v, r8.inv), r8.lo), r8.hi))
}

/// The 32 bytes of `Y` (`u8` or `i8`) of four vectors of [`m_levels8`] with the zero point
/// `zero` added: `q[0]`'s eight lanes, then `q[1]`'s, `q[2]`'s, `q[3]`'s. Packed with
/// saturation to i16 then bytes, which keeps every value (each lies in `Y`'s range once
/// `zero` is added), and put in order by one permutation of dwords.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn m_pack32<Y: QOut>(q: [core::arch::x86_64::__m256i; 4], zero: i32) -> core::arch::x86_64::__m256i {
    use core::arch::x86_64::*;
    let z = _mm256_set1_epi16(zero as i16);
    // Per 128-bit half: q[0]'s four lanes, q[1]'s, | q[2]'s, q[3]'s, as i16.
    let (a, b) = (_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    let (a, b) = (_mm256_add_epi16(a, z), _mm256_add_epi16(b, z));
    // Per half: four bytes of each of q[0], q[1], q[2], q[3] (the low half lanes 0..4).
    let bytes = match Y::LEVELS {
        Some((qmin, _)) if qmin < 0.0 => _mm256_packs_epi16(a, b),
        _ => _mm256_packus_epi16(a, b),
    };
    _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// The store of channel `ch`'s i32 sum `acc` by an integer kernel: [`m_requant`] with the
/// offset `off` and the channel's scale and bias, or, when the module carries a table of steps for the layer
/// (`steps` not empty: generated for cores without a float unit), [`m_steps`] of `acc + off`,
/// the same integer found by comparisons alone.
#[inline(always)]
fn m_store<Y: QOut>(acc: i32, off: i32, ch: usize, mul: &[f32], bias: &[f32], steps: &[i32], rq: Requant) -> Y {
    if steps.is_empty() {
        m_requant(acc, off, mul[ch], bias[ch], rq)
    } else {
        m_steps(acc + off, ch, steps)
    }
}

/// The integer stored for the sum `s` (offset included) of channel `ch` of a table of steps
/// (`gos_opt::emit::requant::table`): the channel's start, then at it `[q0, n, base, d, f]` and
/// `n` 4-bit signed `c_k` (eight to a word, from its low bits), the integer stored for
/// `i32::MIN` and the sums `t_k = base + ((k · d) >> f) + c_k` at which it steps up; the result
/// is `q0` plus the count of `t_k ≤ s`, found bit by bit from `k`'s highest (8 comparisons for
/// 8-bit outputs; `k · d` a sum of shifts of `d`, no multiply). Equal to [`m_requant`]'s for
/// every `s` (the table is built from the same f32 formula).
#[inline(always)]
fn m_steps<Y: QOut>(s: i32, ch: usize, steps: &[i32]) -> Y {
    let at = steps[ch] as usize;
    let (q0, n, base, d, f) = (steps[at], steps[at + 1] as usize, steps[at + 2], steps[at + 3], steps[at + 4]);
    let corr = &steps[at + 5..];
    let (mut k, mut kd) = (0usize, 0i32);
    for bit in (0..8).rev() {
        let (k2, kd2) = (k + (1 << bit), kd.wrapping_add(d.wrapping_shl(bit)));
        if k2 <= n {
            let c = (corr[(k2 - 1) >> 3] << (28 - 4 * ((k2 - 1) & 7))) >> 28;
            if base.wrapping_add(kd2.wrapping_shr(f as u32)).wrapping_add(c) <= s {
                (k, kd) = (k2, kd2);
            }
        }
    }
    Y::level(q0 + k as i32)
}

/// `v` clamped to `[rq.lo, rq.hi]`, then `round_half_even(v · inv) + zero` saturated to
/// `[qmin, qmax]`, without branches: the scaled value is clamped to `[qmin - zero, qmax - zero]`
/// first (integers, so rounding commutes with the clamp), then rounded by adding and taking
/// away 1.5·2^23, which leaves no fraction bits (exact for the small range left). On 32-bit Arm
/// the clamps are comparisons ([`m_clamp`]; `f32::max`/`min` are library calls there), and a
/// NaN `v` stores 0; elsewhere the larger (smaller) of `v` and a bound by `if v > b { v } else
/// { b }`, one `maxps` (`minps`) whatever the bound (the integer kernels' stores vectorize with
/// them: comparisons made int8 VWW 2.4x slower on x86-64; `f32::max` adds a compare and a
/// blend for its NaN rule where the bounds are not constants, as in a kernel called by several
/// layers), and a NaN `v` stores the quantized `rq.lo`. Equal results for every other `v`
/// (the bounds are never NaN).
#[inline(always)]
fn m_quantize(v: f32, rq: Requant, qmin: f32, qmax: f32) -> f32 {
    const MAGIC: f32 = 12582912.0;
    let (lo, hi) = (qmin - rq.zero, qmax - rq.zero);
    let q = if cfg!(target_arch = "arm") {
        m_clamp(m_clamp(v, rq.lo, rq.hi) * rq.inv, lo, hi)
    } else {
        let max = |v: f32, b: f32| if v > b { v } else { b };
        let min = |v: f32, b: f32| if v < b { v } else { b };
        min(max(min(max(v, rq.lo), rq.hi) * rq.inv, lo), hi)
    };
    (q + MAGIC) - MAGIC + rq.zero
}

/// The integer of [`m_quantize`] for a float `v` stored in `[qmin, qmax]` as `rq` says, with
/// integer clamps instead of float ones (each a VCMP and a VMRS on the Cortex-M4): `v · inv`
/// rounded half to even (by adding and taking away 1.5·2^23, exact below 2^22 in magnitude,
/// and of the right sign and at least about 2^22 beyond: such values end at a bound), then
/// clamped in integers to the bounds `lo · inv`, `hi · inv` rounded the same way and to
/// `[qmin - zero, qmax - zero]`, plus `zero`. The same integer for every non-NaN `v`: with
/// `inv > 0` rounding is monotonic, so clamping before or after the product and before or
/// after rounding gives the same result (a NaN `v` stores `zero`, clamped).
#[inline(always)]
fn m_levels(v: f32, rq: Requant, qmin: i32, qmax: i32) -> i32 {
    const MAGIC: f32 = 12582912.0;
    let round = |t: f32| ((t + MAGIC) - MAGIC) as i32;
    let zero = rq.zero as i32;
    let (lo, hi) = (round(rq.lo * rq.inv), round(rq.hi * rq.inv));
    round(v * rq.inv).max(lo).min(hi).max(qmin - zero).min(qmax - zero) + zero
}

/// QuantizeLinear of `x` into the integer buffer `y`: `round_half_even(x · inv) + zero`,
/// saturated. On x86-64 with AVX2, 32 values at a time by [`k_quant_to_avx2`] (the same
/// integers), the rest one by one.
fn k_quant_to<Y: QOut, const N: usize>(x: &[f32], y: &mut [Y], inv: f32, zero: f32) {
    let rq = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv, zero };
    let (x, y) = (&x[..N], &mut y[..N]);
    #[allow(unused_mut)] // (assigned on x86-64 only)
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if Y::LEVELS.is_some() && x86_avx2_fma() {
        done = N / 32 * 32;
        // SAFETY: the CPU has AVX2 and FMA; `Y` has levels, so it is one byte.
        unsafe { k_quant_to_avx2(&x[..done], &mut y[..done], rq) };
    }
    for (y, &x) in y[done..].iter_mut().zip(&x[done..]) {
        *y = Y::store(x, rq);
    }
}

/// [`k_quant_to`]'s AVX2 loop over `x`'s whole blocks of 32 values: [`m_levels8`] of four
/// vectors (the clamps of [`m_quantize`] made one by [`m_requant8_of`]; a NaN gives the lowest
/// level, as there) packed into one 32-byte store by [`m_pack32`].
///
/// # Safety
/// The CPU has AVX2 and FMA; `Y` is one byte.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn k_quant_to_avx2<Y: QOut>(x: &[f32], y: &mut [Y], rq: Requant) {
    use core::arch::x86_64::*;
    let Some((qmin, qmax)) = Y::LEVELS else { return };
    // SAFETY: the CPU has AVX2; each block reads 32 floats of `x` and writes 32 bytes of `y`.
    unsafe {
        let r8 = m_requant8_of(rq, qmin, qmax);
        for (x, y) in x.chunks_exact(32).zip(y.chunks_exact_mut(32)) {
            let q = [0, 1, 2, 3].map(|k| m_levels8(_mm256_loadu_ps(x[8 * k..].as_ptr()), r8));
            _mm256_storeu_si256(y.as_mut_ptr() as *mut __m256i, m_pack32::<Y>(q, r8.zero));
        }
    }
}

/// MaxPool of the integers `x` (`[C][H][W]`) into `y` (`[C][OH][OW]`), padding ignored (a
/// window of padding alone gives `least`): a MaxPool between an integer kernel and the
/// QuantizeLinear after it, run on the quantized values (quantization is monotonic, so the
/// largest quantized value is the quantized largest).
#[allow(clippy::too_many_arguments)]
fn k_qmaxpool<
    T: Copy + Ord,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const PB: usize,
    const PR: usize,
>(
    x: &[T],
    y: &mut [T],
    least: T,
) {
    let (x, y) = (&x[..C * H * W], &mut y[..C * OH * OW]);
    #[allow(unused_mut)] // (assigned on x86-64 only)
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if core::mem::size_of::<T>() == 1
        && (KH, KW, SH, SW, PT + PL + PB + PR) == (2, 2, 2, 2, 0)
        && (H, W) == (2 * OH, 2 * OW)
        && (8..=16).contains(&W)
    {
        done = C * OH - 1;
        // SAFETY: `T` is one byte; 2 × 2 windows at stride 2 tile rows of 8 to 16 values.
        unsafe { k_qmaxpool_pairs::<T, W, OW>(x, y, least, done) };
    }
    // Output rows one by one: the window's rows and columns inside the input.
    for r in done..C * OH {
        let (c, oh) = (r / OH, r % OH);
        let row = &mut y[r * OW..][..OW];
        row.fill(least);
        for h in (oh * SH).max(PT) - PT..(oh * SH + KH).min(H + PT).max(PT) - PT {
            let xr = &x[(c * H + h) * W..][..W];
            for (ow, o) in row.iter_mut().enumerate() {
                let (start, end) = ((ow * SW).max(PL) - PL, (ow * SW + KW).min(W + PL).max(PL) - PL);
                for &v in xr.iter().take(end).skip(start) {
                    *o = (*o).max(v);
                }
            }
        }
    }
}

/// The first `rows` output rows of [`k_qmaxpool`] with 2 × 2 windows at stride 2 tiling input
/// rows of `W` one-byte values, with SSE2 (every x86-64 CPU has it): per output row, 16 bytes
/// from the start of each of its two input rows, ordered as `T` orders them by flipping the
/// bits `least` has set (none for `u8`, the sign bit for `i8`), the larger of the two rows,
/// then of each pair of neighbours (as 16-bit lanes), packed and flipped back; eight bytes
/// stored, of which the first `OW` are the row's (the rest is overwritten by the next row).
///
/// # Safety
/// `T` is one byte, ordered as `u8` or as `i8` with `least` its least value; `8 ≤ W ≤ 16`,
/// `W = 2·OW`; `x` holds `2·W` values per output row and `y` `OW`, for more than `rows` rows
/// (so that the loads and the store of the last row done stay inside the slices).
#[cfg(target_arch = "x86_64")]
unsafe fn k_qmaxpool_pairs<T: Copy, const W: usize, const OW: usize>(x: &[T], y: &mut [T], least: T, rows: usize) {
    use core::arch::x86_64::*;
    let (x, y) = (&x[..2 * W * (rows + 1)], &mut y[..OW * (rows + 1)]);
    // SAFETY: `T` is one byte; each row reads 16 bytes from two row starts before the last
    // input row pair's second row, and writes 8 from a row start before the last output row:
    // inside the slices, as `W ≥ 8`.
    unsafe {
        let flip = _mm_set1_epi8(*(&least as *const T as *const i8));
        let low = _mm_set1_epi16(0xff);
        let (x, y) = (x.as_ptr() as *const __m128i, y.as_mut_ptr() as *mut u8);
        for r in 0..rows {
            let a = _mm_xor_si128(_mm_loadu_si128((x as *const u8).add(2 * r * W) as *const __m128i), flip);
            let b = _mm_xor_si128(_mm_loadu_si128((x as *const u8).add((2 * r + 1) * W) as *const __m128i), flip);
            let m = _mm_max_epu8(a, b);
            let pairs = _mm_max_epi16(_mm_and_si128(m, low), _mm_srli_epi16::<8>(m));
            let out = _mm_xor_si128(_mm_packus_epi16(pairs, pairs), flip);
            _mm_storel_epi64(y.add(r * OW) as *mut __m128i, out);
        }
    }
}

/// DequantizeLinear of the integer buffer `x`: `y = (x - zero) · scale` (compiled for AVX2
/// too, which the plain build's loop vectorizes twice as wide).
fn k_dequant<X: QIn, const N: usize>(x: &[X], y: &mut [f32], zero: i32, scale: f32) {
    let (x, y) = (&x[..N], &mut y[..N]);
    avx2_or_portable(
        #[inline(always)]
        || {
            for (y, x) in y.iter_mut().zip(x) {
                *y = (x.wide() - zero) as f32 * scale;
            }
        },
    );
}

/// `y = clamp(round_half_even(x·inv) + zp, qmin, qmax)` with `inv = 1/scale` (as tract
/// computes it), the integer held in f32.
fn k_quant<const N: usize>(x: &[f32], y: &mut [f32], inv: f32, zp: f32, qmin: f32, qmax: f32) {
    let (x, y) = (&x[..N], &mut y[..N]);
    for i in 0..N {
        y[i] = m_clamp(m_rte(x[i] * inv) + zp, qmin, qmax);
    }
}

/// [`k_quant`] in place.
fn k_quant_ip<const N: usize>(y: &mut [f32], inv: f32, zp: f32, qmin: f32, qmax: f32) {
    for v in &mut y[..N] {
        *v = m_clamp(m_rte(*v * inv) + zp, qmin, qmax);
    }
}

#[path = "conv.rs"]
mod conv;
#[path = "linalg.rs"]
mod linalg;
#[path = "qadd.rs"]
mod qadd;
#[path = "qarm.rs"]
mod qarm;
#[path = "qconv1.rs"]
mod qconv1;
#[path = "qdw.rs"]
mod qdw;
#[path = "qpack.rs"]
mod qpack;
#[path = "qwino.rs"]
mod qwino;
#[path = "shiftadd.rs"]
mod shiftadd;
#[path = "softmax_q8.rs"]
mod softmax_q8;

#[cfg(test)]
#[path = "quant_tests.rs"]
mod tests;
