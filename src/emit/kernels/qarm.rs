//! Integer kernels for 32-bit Arm with the DSP extension (Cortex-M4/M7), two 16-bit
//! multiply-accumulates per SMLAD, as CMSIS-NN's `arm_convolve_s8` does: the inputs of two
//! output pixels packed once into sign- or zero-extended 16-bit pairs (im2col), read by every
//! pair of output channels, whose `i8` weights the generator laid out in pairs (`[M/2][K][2]`)
//! so that one word holds both channels' weights of two taps and SXTB16 splits it into the
//! two channels' pairs. The sums are the portable kernels' exactly (every product and pair sum
//! fits i32), so the stores are too.

#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
use super::{arm_smlad, arm_sxtb16, m_store, QIn, QOut, Requant};

/// [`k_qconv`] on 32-bit Arm with the DSP extension for 8-bit `X`, `i8` weights in blocks of
/// two output channels (`[G][MG/2][CG][KH][KW][2]`) and `K = CG · KH · KW ≤ 768` taps: the
/// output pixels of each group go two at a time (across row ends), their `K` inputs packed
/// into 16-bit pairs `[K/2][pixel]` through a table of the taps' offsets, then
/// every pair of channels sums them into four registers by SMLAD ([`k_qconv_dsp_tile`]) and
/// stores them ([`m_store`]).
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
#[allow(clippy::too_many_arguments)]
fn k_qconv_dsp<
    X: QIn,
    Y: QOut,
    const G: usize,
    const CG: usize,
    const H: usize,
    const WD: usize,
    const MG: usize,
    const OH: usize,
    const OW: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
>(
    x: &[X],
    w: &[i8],
    off: &[i32],
    (mul, bias, steps): (&[f32], &[f32], &[i32]),
    y: &mut [Y],
    rq: Requant,
) {
    const PX: usize = 2;
    let k = CG * KH * KW;
    let (x, w, y) = (&x[..G * CG * H * WD], &w[..G * MG * k], &mut y[..G * MG * OH * OW]);
    // Where the taps of a pixel lie from its first, in pairs (`[K/2]`; the upper one of an odd
    // `K`'s last pair is the first tap, which its zero weight drops), at most 768 taps.
    let mut taps = [[0u32; 2]; 384];
    let taps = &mut taps[..k.div_ceil(2)];
    let mut i = 0;
    for c in 0..CG {
        for kh in 0..KH {
            for kw in 0..KW {
                taps[i / 2][i % 2] = ((c * H + kh * DH) * WD + kw * DW) as u32;
                i += 1;
            }
        }
    }
    let span = ((CG - 1) * H + (KH - 1) * DH) * WD + (KW - 1) * DW + 1;
    // The packed inputs of two pixels, `[K/2][pixel]` pairs (3 KiB).
    let mut cols = [[0u32; PX]; 384];
    let cols = &mut cols[..k.div_ceil(2)];
    for g in 0..G {
        let mut pix = 0;
        while pix < OH * OW {
            let np = PX.min(OH * OW - pix);
            let first = |p: usize| (g * CG * H + p / OW * SH) * WD + p % OW * SW;
            // A single pixel is packed twice.
            let (a, b) = (first(pix), first(pix + np - 1));
            let (xa, xb) = (&x[a..a + span], &x[b..b + span]);
            // SAFETY: every offset of `taps` is below `span`.
            let at = |xs: &[X], o: u32| unsafe { xs.get_unchecked(o as usize) }.wide() as u32;
            for (col, t) in cols.iter_mut().zip(taps.iter()) {
                *col = [at(xa, t[0]) & 0xffff | at(xa, t[1]) << 16, at(xb, t[0]) & 0xffff | at(xb, t[1]) << 16];
            }
            for m in (0..MG).step_by(2) {
                let ch = g * MG + m;
                let acc = k_qconv_dsp_tile(&w[ch * k..(ch + 2) * k], cols, [off[ch], off[ch + 1]]);
                for (c, sums) in acc.iter().enumerate() {
                    for (p, &s) in sums.iter().enumerate().take(np) {
                        y[(ch + c) * OH * OW + pix + p] = m_store(s, 0, ch + c, mul, bias, steps, rq);
                    }
                }
            }
            pix += np;
        }
    }
}

/// Two output channels (`w`: their `K` weight pairs, `[K][2]`) by two pixels (`cols`: their
/// packed input pairs) of [`k_qconv_dsp`], the sums starting from `init`: per two taps one
/// word of weights, split by SXTB16 into each channel's pair, and four SMLAD; eight taps a
/// step in a loop of assembly (11 registers, no spills: LLVM's own loop reloaded a spilled
/// register and recomputed addresses, 29 estimated cycles per four taps against 24), the
/// rest one word at a time.
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
#[inline(always)]
fn k_qconv_dsp_tile(w: &[i8], cols: &[[u32; 2]], init: [i32; 2]) -> [[i32; 2]; 2] {
    let steps = (w.len() / 16).min(cols.len() / 4);
    let ([mut c00, mut c01], [mut c10, mut c11]) = ([init[0]; 2], [init[1]; 2]);
    if steps > 0 {
        // SAFETY: the loop reads the first `16 · steps` bytes of `w` (single-word loads, which
        // may be unaligned on ARMv7E-M) and the first `4 · steps` pairs of `cols`, all inside
        // the slices; it writes registers only.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr {q}, [{wp}], #4",
                "ldrd {x0}, {x1}, [{xp}], #8",
                "sxtb16 {a}, {q}",
                "sxtb16 {q}, {q}, ror #8",
                "smlad {c00}, {a}, {x0}, {c00}",
                "smlad {c01}, {a}, {x1}, {c01}",
                "smlad {c10}, {q}, {x0}, {c10}",
                "smlad {c11}, {q}, {x1}, {c11}",
                "ldr {q}, [{wp}], #4",
                "ldrd {x0}, {x1}, [{xp}], #8",
                "sxtb16 {a}, {q}",
                "sxtb16 {q}, {q}, ror #8",
                "smlad {c00}, {a}, {x0}, {c00}",
                "smlad {c01}, {a}, {x1}, {c01}",
                "smlad {c10}, {q}, {x0}, {c10}",
                "smlad {c11}, {q}, {x1}, {c11}",
                "ldr {q}, [{wp}], #4",
                "ldrd {x0}, {x1}, [{xp}], #8",
                "sxtb16 {a}, {q}",
                "sxtb16 {q}, {q}, ror #8",
                "smlad {c00}, {a}, {x0}, {c00}",
                "smlad {c01}, {a}, {x1}, {c01}",
                "smlad {c10}, {q}, {x0}, {c10}",
                "smlad {c11}, {q}, {x1}, {c11}",
                "ldr {q}, [{wp}], #4",
                "ldrd {x0}, {x1}, [{xp}], #8",
                "sxtb16 {a}, {q}",
                "sxtb16 {q}, {q}, ror #8",
                "smlad {c00}, {a}, {x0}, {c00}",
                "smlad {c01}, {a}, {x1}, {c01}",
                "smlad {c10}, {q}, {x0}, {c10}",
                "smlad {c11}, {q}, {x1}, {c11}",
                "cmp {xp}, {end}",
                "bne 2b",
                wp = inout(reg) w.as_ptr() => _,
                xp = inout(reg) cols.as_ptr() => _,
                end = in(reg) cols.as_ptr().add(4 * steps),
                q = out(reg) _,
                a = out(reg) _,
                x0 = out(reg) _,
                x1 = out(reg) _,
                c00 = inout(reg) c00,
                c01 = inout(reg) c01,
                c10 = inout(reg) c10,
                c11 = inout(reg) c11,
                options(nostack, readonly)
            );
        }
    }
    let mut acc = [[c00, c01], [c10, c11]];
    let mut mac = |word: u32, xp: &[u32; 2]| {
        let (w0, w1) = (arm_sxtb16::<false>(word), arm_sxtb16::<true>(word));
        for (p, &x) in xp.iter().enumerate() {
            acc[0][p] = arm_smlad(w0, x, acc[0][p]);
            acc[1][p] = arm_smlad(w1, x, acc[1][p]);
        }
    };
    let (w, rest) = (&w[16 * steps..], &cols[4 * steps..]);
    let words = w.chunks_exact(4);
    let tail = words.remainder();
    for (q, xp) in words.zip(rest) {
        mac(u32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]), xp);
    }
    if let (&[a, b], Some(xp)) = (tail, cols.last()) {
        // An odd `K`: the last tap alone (its pair's upper input is zero).
        mac(a as u8 as u32 | (b as u8 as u32) << 8, xp);
    }
    acc
}
