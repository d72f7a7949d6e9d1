// The packed integer convolution's microkernels for aarch64 (NEON is part of the base
// architecture, so `k_qconv4` calls them without a run-time check), on the layout packed for
// x86 (`[MP/16][CQ][KH][KW][16][4]` `i8` weights, `[CQ][H][W][4]` `u8` inputs): `sdot` where the
// build targets the dot-product extension (`-C target-feature=+dotprod`: Cortex-A55, A76 and
// later), else `smlal` on values widened to 16 bits (Cortex-A53, the Raspberry Pi 3's core).
// Integer sums are exact, so both give the portable kernel's sums bit for bit, and the store is
// the shared `k_qconv4_store`. (`include!`d by the unit tests into the scope of `qpack.rs`,
// which calls them; the unit tests run on x86-64 and compile none of it:
// `tests/emit_aarch64.rs` runs both paths under qemu.)

/// [`k_qconv4`] with NEON: per block of 16 output channels, the output pixels of a row a few
/// at a time by [`k_qconv4_neon_tile`] (with `sdot`: 6, then 3, then 1, 24 sums in registers;
/// with `smlal`: 4, then 2, then 1, 16 sums and 8 vectors of widened weights), each tile's
/// sums stored by [`k_qconv4_store`]. For `sdot`, which multiplies signed
/// bytes by signed bytes, the `u8` inputs are offset by -128 (their top bit flipped), and the
/// sums start from `off + 128 · Σ w` (the block's weight sums, computed once per block), which
/// makes up for it exactly ([`k_qconv4_sdot_init`]).
#[cfg(target_arch = "aarch64")]
#[allow(clippy::too_many_arguments)]
fn k_qconv4_neon<
    Y: QOut,
    const CQ: usize,
    const H: usize,
    const W: usize,
    const M: usize,
    const MP: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    xq: &[u8],
    w: &[i8],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    y: &mut [Y],
    rq: Requant,
) {
    let taps = CQ * KH * KW;
    let dot = cfg!(target_feature = "dotprod");
    for mb in 0..MP / 16 {
        let wb = &w[mb * taps * 64..(mb + 1) * taps * 64];
        let mut init = [0i32; 16];
        init.copy_from_slice(&off[mb * 16..mb * 16 + 16]);
        #[cfg(target_feature = "dotprod")]
        k_qconv4_sdot_init(wb, &mut init);
        for oh in 0..OH {
            let mut ow = 0;
            while ow < OW {
                let p = match (dot, OW - ow) {
                    (true, 6..) => 6,
                    (true, 3..) => 3,
                    (false, 4..) => 4,
                    (false, 2..) => 2,
                    _ => 1,
                };
                let x = &xq[((oh * SH) * W + ow * SW) * 4..];
                macro_rules! tile {
                    ($p:literal) => {{
                        let sums = k_qconv4_neon_tile::<$p, CQ, H, W, KH, KW, SW, DH, DW>(x, wb, &init);
                        k_qconv4_store::<Y, M, OH, OW, 16, 1, $p>(&sums, ($p, 1), (mb * 16, oh, ow), mul, bias, y, rq);
                    }};
                }
                #[cfg(target_feature = "dotprod")]
                match p {
                    6 => tile!(6),
                    3 => tile!(3),
                    _ => tile!(1),
                }
                #[cfg(not(target_feature = "dotprod"))]
                match p {
                    4 => tile!(4),
                    2 => tile!(2),
                    _ => tile!(1),
                }
                ow += p;
            }
        }
    }
}

/// The sums of `P` output pixels by 16 output channels of [`k_qconv4_neon`], four vectors of
/// `i32` per pixel starting from `init`, each tap added by [`k_qconv4_sdot_tap`] where the
/// build has the dot-product extension, else by [`k_qconv4_smlal_tap`]. `x` is the first
/// pixel's top-left tap, `w` the block's weights.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn k_qconv4_neon_tile<
    const P: usize,
    const CQ: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    x: &[u8],
    w: &[i8],
    init: &[i32; 16],
) -> [[[i32; 16]; 1]; P] {
    use core::arch::aarch64::*;
    let last = ((CQ - 1) * H + (KH - 1) * DH) * W + (P - 1) * SW + (KW - 1) * DW;
    let (x, w) = (&x[..(last + 1) * 4], &w[..CQ * KH * KW * 64]);
    // SAFETY: NEON is part of aarch64; every tap of the tile lies inside `x` (its last pixel
    // at `last`) and every weight inside `w`.
    unsafe {
        let mut acc = [[vdupq_n_s32(0); 4]; P];
        for (v, sum) in acc[0].iter_mut().enumerate() {
            *sum = vld1q_s32(init.as_ptr().add(v * 4));
        }
        for p in 1..P {
            acc[p] = acc[0];
        }
        for q in 0..CQ {
            for kh in 0..KH {
                for kw in 0..KW {
                    let wt = w.as_ptr().add(((q * KH + kh) * KW + kw) * 64);
                    let row = x.as_ptr().add(((q * H + kh * DH) * W + kw * DW) * 4);
                    #[cfg(target_feature = "dotprod")]
                    k_qconv4_sdot_tap::<P, SW>(&mut acc, wt, row);
                    #[cfg(not(target_feature = "dotprod"))]
                    k_qconv4_smlal_tap::<P, SW>(&mut acc, wt, row);
                }
            }
        }
        let mut sums = [[[0i32; 16]; 1]; P];
        for (s, acc) in sums.iter_mut().zip(&acc) {
            for (v, &sum) in acc.iter().enumerate() {
                vst1q_s32(s[0].as_mut_ptr().add(v * 4), sum);
            }
        }
        sums
    }
}

/// `init[m] += 128 · Σ w[t][m][j]` over the taps `t` and input channels `j` of the block's
/// weights `w` (`[taps][16][4]`): what the sums of [`k_qconv4_sdot_tap`], whose inputs are
/// offset by -128, lack. One `sdot` by bytes of 1 per tap and vector of four channels.
#[cfg(all(target_arch = "aarch64", target_feature = "dotprod"))]
fn k_qconv4_sdot_init(w: &[i8], init: &mut [i32; 16]) {
    use core::arch::aarch64::*;
    // SAFETY: NEON is part of aarch64; every load reads a whole tap of 64 weights inside `w`.
    unsafe {
        let (ones, mut sums) = (vdupq_n_s8(1), [vdupq_n_s32(0); 4]);
        for tap in w.chunks_exact(64) {
            for (v, sum) in sums.iter_mut().enumerate() {
                *sum = a64_sdot(*sum, vld1q_s8(tap.as_ptr().add(16 * v)), ones);
            }
        }
        for (v, &sum) in sums.iter().enumerate() {
            let at = init.as_mut_ptr().add(4 * v);
            vst1q_s32(at, vaddq_s32(vld1q_s32(at), vshlq_n_s32::<7>(sum)));
        }
    }
}

/// `SDOT`: each `i32` lane of `acc` plus the dot product of the four `i8` of `a` and of `b` in
/// that lane, exact (through `asm!`: the intrinsic `vdotq_s32` is not stable in this Rust).
#[cfg(all(target_arch = "aarch64", target_feature = "dotprod"))]
#[inline(always)]
fn a64_sdot(
    acc: core::arch::aarch64::int32x4_t,
    a: core::arch::aarch64::int8x16_t,
    b: core::arch::aarch64::int8x16_t,
) -> core::arch::aarch64::int32x4_t {
    let mut r = acc;
    // SAFETY: SDOT only computes a register from registers.
    unsafe {
        core::arch::asm!(
            "sdot {r:v}.4s, {a:v}.16b, {b:v}.16b",
            r = inout(vreg) r,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack)
        );
    }
    r
}

/// One tap of [`k_qconv4_neon_tile`] with `sdot`: the tap's 64 weights at `w` in four vectors
/// (four channels by their four input channels, the layout `sdot` reads), each pixel's four
/// input bytes (pixel `p` at `x + 4·SW·p`) repeated in all four lanes with their top bit
/// flipped, one `sdot` ([`a64_sdot`]) per pixel and vector of channels.
///
/// # Safety
/// `w` holds 64 weights, `x` the `P` pixels.
#[cfg(all(target_arch = "aarch64", target_feature = "dotprod"))]
#[inline(always)]
unsafe fn k_qconv4_sdot_tap<const P: usize, const SW: usize>(
    acc: &mut [[core::arch::aarch64::int32x4_t; 4]; P],
    w: *const i8,
    x: *const u8,
) {
    use core::arch::aarch64::*;
    // SAFETY: the caller keeps the loads inside the weights and the input (`read_unaligned`:
    // the packed input's pixels are four bytes at any address).
    unsafe {
        let wv = [vld1q_s8(w), vld1q_s8(w.add(16)), vld1q_s8(w.add(32)), vld1q_s8(w.add(48))];
        let flip = vdupq_n_u8(0x80);
        for (p, acc) in acc.iter_mut().enumerate() {
            let four = core::ptr::read_unaligned(x.add(p * SW * 4) as *const u32);
            let xv = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(four)), flip));
            for (sum, &wv) in acc.iter_mut().zip(&wv) {
                *sum = a64_sdot(*sum, wv, xv);
            }
        }
    }
}

/// One tap of [`k_qconv4_neon_tile`] with `smlal`: the tap's 64 weights at `w` loaded
/// de-interleaved (`ld4`: one vector of the 16 channels per input channel) and widened to 16
/// bits, each pixel's four input bytes (pixel `p` at `x + 4·SW·p`) widened to four 16-bit
/// lanes, and per input channel four `smlal`/`smlal2` by that lane (four products into each
/// of the 16 channels' `i32` sums).
///
/// # Safety
/// `w` holds 64 weights, `x` the `P` pixels.
#[cfg(all(target_arch = "aarch64", not(target_feature = "dotprod")))]
#[inline(always)]
unsafe fn k_qconv4_smlal_tap<const P: usize, const SW: usize>(
    acc: &mut [[core::arch::aarch64::int32x4_t; 4]; P],
    w: *const i8,
    x: *const u8,
) {
    use core::arch::aarch64::*;
    // SAFETY: the caller keeps the loads inside the weights and the input (`read_unaligned`:
    // the packed input's pixels are four bytes at any address).
    unsafe {
        // Input channel j's 16 weights: channels 0-7 in wv[2j], 8-15 in wv[2j + 1].
        let four = vld4q_s8(w);
        let wv = [
            vmovl_s8(vget_low_s8(four.0)),
            vmovl_high_s8(four.0),
            vmovl_s8(vget_low_s8(four.1)),
            vmovl_high_s8(four.1),
            vmovl_s8(vget_low_s8(four.2)),
            vmovl_high_s8(four.2),
            vmovl_s8(vget_low_s8(four.3)),
            vmovl_high_s8(four.3),
        ];
        for (p, acc) in acc.iter_mut().enumerate() {
            let four = core::ptr::read_unaligned(x.add(p * SW * 4) as *const u32);
            let xv = vget_low_s16(vreinterpretq_s16_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(four)))));
            macro_rules! lane {
                ($j:literal) => {
                    acc[0] = vmlal_lane_s16::<$j>(acc[0], vget_low_s16(wv[2 * $j]), xv);
                    acc[1] = vmlal_high_lane_s16::<$j>(acc[1], wv[2 * $j], xv);
                    acc[2] = vmlal_lane_s16::<$j>(acc[2], vget_low_s16(wv[2 * $j + 1]), xv);
                    acc[3] = vmlal_high_lane_s16::<$j>(acc[3], wv[2 * $j + 1], xv);
                };
            }
            lane!(0);
            lane!(1);
            lane!(2);
            lane!(3);
        }
    }
}
