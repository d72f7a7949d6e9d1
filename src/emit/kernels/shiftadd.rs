//! Shift-add kernels: integer Conv, Gemm and MatMul whose weights are digit programs (the
//! layout of `gos_opt::shiftadd::program`: per output channel, per digit plane from the highest,
//! the count and input offsets of the taps whose digit there is +1, then of those whose digit
//! is −1). Per plane the inputs are added and subtracted, the planes combined by shifts
//! (Horner), so no input is multiplied by a weight: for cores whose multiplier is slow
//! (ARMv6-M's 32-cycle one). The i32 sums are exactly the multiply kernels' (`k_qconv`, `k_qmm`), and so are the
//! results: the same offsets, scales, biases and store ([`m_store`]: the float formula, or the
//! table of steps that gives the same integers on cores without a float unit).

use super::{m_store, QIn, QOut, Requant};

/// A word of a digit program: a count or an input offset (`u16` where all fit, else `u32`).
trait SaWord: Copy {
    /// The word as an index.
    fn at(self) -> usize;
}

impl SaWord for u16 {
    #[inline(always)]
    fn at(self) -> usize {
        self as usize
    }
}

impl SaWord for u32 {
    #[inline(always)]
    fn at(self) -> usize {
        self as usize
    }
}

/// Whether `prog` is exactly `channels` programs of `planes` planes, every offset below `limit`
/// when there is one: what the kernels check once per call before their unchecked reads (of the
/// program, and of the input when its offsets are checked here).
fn k_sa_valid<D: SaWord>(prog: &[D], channels: usize, planes: usize, limit: Option<usize>) -> bool {
    let mut at = 0;
    for _ in 0..channels * planes * 2 {
        let Some(n) = prog.get(at) else { return false };
        let Some(end) = (at + 1).checked_add(n.at()) else { return false };
        match prog.get(at + 1..end) {
            Some(offsets) if limit.is_none_or(|l| offsets.iter().all(|o| o.at() < l)) => at = end,
            _ => return false,
        }
    }
    at == prog.len()
}

/// `acc` plus (or, `NEG`, minus) the inputs at the offsets of the run of words at `*w` (its
/// count, then the offsets), `*w` moved past the run. The last `count % 4` first, then four
/// at a time: the loop holds four `ldrh`, `ldrb`, `adds` and one pointer step, compare and
/// branch (ARMv6-M: 6 cycles per offset, against 8–9 one at a time or with LLVM's unrolling,
/// which tests for the end after each offset).
///
/// # Safety
/// The run at `*w` is whole; its offsets index `x` unless `CHECKED`.
#[inline(always)]
unsafe fn k_sa_terms<X: QIn, D: SaWord, const CHECKED: bool, const NEG: bool>(
    x: &[X],
    w: &mut *const D,
    acc: i32,
) -> i32 {
    // SAFETY: as the caller promises.
    let at = |p: *const D| unsafe {
        let o = (*p).at();
        if CHECKED { x[o] } else { *x.get_unchecked(o) }.wide()
    };
    let add = |acc: i32, v: i32| if NEG { acc - v } else { acc + v };
    let mut acc = acc;
    // SAFETY: every pointer below stays within the run.
    unsafe {
        let n = (**w).at();
        let mut p = w.add(1);
        let end = p.add(n);
        if n & 1 != 0 {
            acc = add(acc, at(p));
            p = p.add(1);
        }
        if n & 2 != 0 {
            acc = add(add(acc, at(p)), at(p.add(1)));
            p = p.add(2);
        }
        while p < end {
            acc = add(acc, at(p) + at(p.add(1)) + at(p.add(2)) + at(p.add(3)));
            p = p.add(4);
        }
        *w = end;
    }
    acc
}

/// The program of one channel (at the start of `prog`) on the window starting at `x[0]`: per
/// plane, from the highest, `acc = 2·acc`, then the inputs at its positive offsets added and
/// those at its negative ones subtracted ([`k_sa_terms`]). Returns the sum and the words of
/// the program. Not inlined: one copy per input type, word type and plane count keeps the
/// flash small, and its body (the inner loops) holds no multiplication. One window at a time:
/// on ARMv6-M (eight low registers) LLVM spills the sums of wider tiles, or at
/// `opt-level = "s"` does not unroll them. With `CHECKED` the input loads are bounds-checked (a
/// compare and a branch each): cheaper than checking the offsets beforehand where the program
/// runs on few windows (a matrix product of one row).
///
/// # Safety
/// `prog` starts with a whole program (checked by [`k_sa_valid`]), whose offsets index `x`
/// unless `CHECKED`.
#[inline(never)]
unsafe fn k_sa_run<X: QIn, D: SaWord, const PLANES: usize, const CHECKED: bool>(x: &[X], prog: &[D]) -> (i32, usize) {
    // A pointer walk keeps the plane loop's state in ARMv6-M's eight low registers.
    let start = prog.as_ptr();
    let mut w = start;
    let mut acc = 0i32;
    for _ in 0..PLANES {
        // SAFETY: the program is whole: its counts and the offsets they count lie in `prog`;
        // unchecked, the caller keeps the offsets inside `x`.
        unsafe {
            acc = k_sa_terms::<X, D, CHECKED, false>(x, &mut w, acc << 1);
            acc = k_sa_terms::<X, D, CHECKED, true>(x, &mut w, acc);
        }
    }
    // SAFETY: `w` walked forward inside `prog` from its start.
    (acc, unsafe { w.offset_from(start) } as usize)
}

/// Integer convolution of an already padded `x` (`[G·CG][H][W]`, padding the input's zero
/// point) by the digit programs `prog` of its `G·MG` output channels (offsets into a group's
/// input from the window's top-left tap) into `y` (`[G·MG][OH][OW]`); `off`, `mul`, `bias` per
/// output channel, as [`k_qconv`] has them, and `steps` the integer store's table or empty
/// ([`m_store`]).
///
/// # Panics
/// When `prog` is not `G·MG` programs of `PLANES` planes whose windows lie inside `x`.
#[allow(clippy::too_many_arguments)]
fn k_saconv<
    X: QIn,
    D: SaWord,
    Y: QOut,
    const G: usize,
    const CG: usize,
    const H: usize,
    const W: usize,
    const MG: usize,
    const OH: usize,
    const OW: usize,
    const SH: usize,
    const SW: usize,
    const PLANES: usize,
>(
    x: &[X],
    prog: &[D],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    steps: &[i32],
    y: &mut [Y],
    rq: Requant,
) {
    let (x, y) = (&x[..G * CG * H * W], &mut y[..G * MG * OH * OW]);
    // How far into its group's input the last window starts.
    let reach = (OH - 1) * SH * W + (OW - 1) * SW;
    assert!(k_sa_valid(prog, G * MG, PLANES, Some(CG * H * W - reach)), "malformed digit programs");
    let mut at = 0;
    for g in 0..G {
        let group = &x[g * CG * H * W..(g + 1) * CG * H * W];
        for m in g * MG..(g + 1) * MG {
            let mut len = 0;
            for oh in 0..OH {
                for ow in 0..OW {
                    let window = &group[oh * SH * W + ow * SW..];
                    // SAFETY: checked above: the program is whole and its offsets, from any
                    // window, stay inside the group's input.
                    let (acc, n) = unsafe { k_sa_run::<X, D, PLANES, false>(window, &prog[at..]) };
                    len = n;
                    y[(m * OH + oh) * OW + ow] = m_store(acc, off[m], m, mul, bias, steps, rq);
                }
            }
            at += len;
        }
    }
}

/// `y[M][N] = store((x[M][K] · w[K][N] + off) · mul + bias)` (per column), the weights as the
/// digit programs `prog` of the `N` columns (offsets along a row of `x`); `steps` the integer
/// store's table or empty ([`m_store`]).
///
/// # Panics
/// When `prog` is not `N` programs of `PLANES` planes with offsets below `K`.
#[allow(clippy::too_many_arguments)]
fn k_samm<X: QIn, D: SaWord, Y: QOut, const M: usize, const K: usize, const N: usize, const PLANES: usize>(
    x: &[X],
    prog: &[D],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    steps: &[i32],
    y: &mut [Y],
    rq: Requant,
) {
    let (x, y) = (&x[..M * K], &mut y[..M * N]);
    // The loads are checked: the offsets are used once per row.
    assert!(k_sa_valid(prog, N, PLANES, None), "malformed digit programs");
    let mut at = 0;
    for j in 0..N {
        let mut len = 0;
        for (r, row) in x.chunks_exact(K).enumerate() {
            // SAFETY: checked above: the program is whole (its loads of `row` are checked).
            let (acc, n) = unsafe { k_sa_run::<X, D, PLANES, true>(row, &prog[at..]) };
            len = n;
            y[r * N + j] = m_store(acc, off[j], j, mul, bias, steps, rq);
        }
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::super::Requant;
    use crate::shiftadd::program::DigitPrograms;
    use crate::shiftadd::Recoding;

    const RQ: Requant = Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 1.0, zero: 0.0 };

    /// Weights in [-128, 127] with zeros, a whole zero row, and the extremes.
    fn weights(n: usize) -> Vec<i32> {
        (0..n).map(|i| if i % 11 == 3 { 0 } else { ((i * 73 + 17) % 256) as i32 - 128 }).collect()
    }

    #[test]
    fn the_matrix_kernel_sums_what_the_products_sum() {
        const M: usize = 3;
        const K: usize = 7;
        const N: usize = 5;
        let mut w = weights(K * N);
        (w[0], w[1]) = (-128, 127);
        for k in 0..K {
            w[k * N + 2] = 0; // a column of zeros
        }
        let x: Vec<u8> = (0..M * K).map(|i| ((i * 37) % 256) as u8).collect();
        let off: Vec<i32> = (0..N as i32).map(|j| j * 100 - 7).collect();
        let want: Vec<f32> = (0..M * N)
            .map(|i| {
                let (r, j) = (i / N, i % N);
                ((0..K).map(|k| x[r * K + k] as i32 * w[k * N + j]).sum::<i32>() + off[j]) as f32
            })
            .collect();
        for recoding in [Recoding::Csd, Recoding::Binary] {
            let columns: Vec<Vec<(u32, i32)>> =
                (0..N).map(|j| (0..K).map(|k| (k as u32, w[k * N + j])).collect()).collect();
            let p = DigitPrograms::encode(&columns, recoding);
            assert_eq!(p.planes, 8, "{recoding:?}: −128 needs plane 7");
            let words: Vec<u16> = p.words.iter().map(|&v| v as u16).collect();
            let mut y = vec![f32::NAN; M * N];
            super::k_samm::<u8, u16, f32, M, K, N, 8>(&x, &words, &off, &[1.0; N], &[0.0; N], &[], &mut y, RQ);
            assert_eq!(y, want, "{recoding:?}");
        }
    }

    #[test]
    fn the_convolution_sums_what_the_multiply_kernel_sums() {
        // Two groups of 2 input and 3 output channels, 3 × 2 taps, stride (1, 2), dilation
        // (2, 1), on a 7 × 8 (already padded) input: output 3 × 4.
        const G: usize = 2;
        const CG: usize = 2;
        const H: usize = 7;
        const W: usize = 8;
        const MG: usize = 3;
        const KH: usize = 3;
        const KW: usize = 2;
        const OH: usize = 3;
        const OW: usize = 4;
        let taps = CG * KH * KW;
        let w = weights(G * MG * taps);
        let x: Vec<i8> = (0..G * CG * H * W).map(|i| ((i * 53) % 256) as u8 as i8).collect();
        let off = [5, -6, 7, -8, 9, -10];
        let mut want = vec![0f32; G * MG * OH * OW];
        for (m, out) in want.chunks_mut(OH * OW).enumerate() {
            let g = m / MG;
            for (i, v) in out.iter_mut().enumerate() {
                let (oh, ow) = (i / OW, i % OW);
                let mut acc = off[m];
                for t in 0..taps {
                    let (c, a, b) = (t / (KH * KW), t / KW % KH, t % KW);
                    acc += x[((g * CG + c) * H + oh + 2 * a) * W + 2 * ow + b] as i32 * w[m * taps + t];
                }
                *v = acc as f32;
            }
        }
        let channels: Vec<Vec<(u32, i32)>> = (0..G * MG)
            .map(|m| {
                (0..taps)
                    .map(|t| {
                        let (c, a, b) = (t / (KH * KW), t / KW % KH, t % KW);
                        (((c * H + 2 * a) * W + b) as u32, w[m * taps + t])
                    })
                    .collect()
            })
            .collect();
        let p = DigitPrograms::encode(&channels, Recoding::Csd);
        const PLANES: usize = 8;
        assert_eq!(p.planes as usize, PLANES);
        let mut y = vec![f32::NAN; want.len()];
        super::k_saconv::<i8, u32, f32, G, CG, H, W, MG, OH, OW, 1, 2, PLANES>(
            &x,
            &p.words,
            &off,
            &[1.0; 6],
            &[0.0; 6],
            &[],
            &mut y,
            RQ,
        );
        assert_eq!(y, want);
    }

    #[test]
    fn the_table_of_steps_stores_what_the_float_formula_stores() {
        use crate::emit::requant::{table, Store};
        // A ReLU6 into i8 (zero -128), and a plain u8 output where `s · mul · inv` is a tie
        // for every odd `s` (0.125 · 4 = 0.5): ties, both saturations and the clamp.
        let cases = [
            (Requant { lo: 0.0, hi: 6.0, inv: 1.0 / 0.0235, zero: -128.0 }, (-128.0, 127.0), [3.7e-4, 1.1e-5, 0.0]),
            (
                Requant { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 4.0, zero: 3.0 },
                (0.0, 255.0),
                [0.125, 9e-4, 2.0],
            ),
        ];
        for (rq, (qmin, qmax), muls) in cases {
            let store = Store { lo: rq.lo, hi: rq.hi, inv: rq.inv, zero: rq.zero, qmin, qmax };
            let (off, bias) = ([-700, 0, 5], [-0.3, 0.05, 0.0]);
            let steps = table(&store, &muls, &bias).expect("monotone");
            // Every sum a layer of 72 int8 × u8 taps reaches (|Σ| ≤ 72 · 128 · 255 < 2^22).
            for acc in -(1 << 22)..=1 << 22 {
                for (ch, &o) in off.iter().enumerate() {
                    // Both output types' stores, as i32.
                    let put = |steps: &[i32]| -> i32 {
                        if qmin < 0.0 {
                            super::m_store::<i8>(acc, o, ch, &muls, &bias, steps, rq) as i32
                        } else {
                            super::m_store::<u8>(acc, o, ch, &muls, &bias, steps, rq) as i32
                        }
                    };
                    let (float, int) = (put(&[]), put(&steps));
                    assert_eq!(int, float, "acc {acc}, channel {ch}");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "index out of bounds")]
    fn a_matrix_program_reading_past_its_row_panics() {
        // Offset 3 in rows of 3: the matrix kernel checks its loads instead of the offsets.
        let p = DigitPrograms::encode(&[vec![(3, 1)]], Recoding::Csd);
        let mut y = [0f32; 1];
        super::k_samm::<u8, u32, f32, 1, 3, 1, 1>(&[1, 2, 3], &p.words, &[0], &[1.0], &[0.0], &[], &mut y, RQ);
    }

    #[test]
    fn malformed_programs_are_refused() {
        let p = DigitPrograms::encode(&[vec![(3, 5)], vec![(1, -1)]], Recoding::Csd);
        let planes = p.planes as usize;
        assert!(super::k_sa_valid(&p.words, 2, planes, Some(4)));
        assert!(!super::k_sa_valid(&p.words, 2, planes, Some(3)), "offset 3 past the limit");
        assert!(super::k_sa_valid(&p.words, 2, planes, None), "offsets unchecked");
        assert!(!super::k_sa_valid(&p.words, 1, planes, None), "words left over");
        assert!(!super::k_sa_valid(&p.words[..p.words.len() - 1], 2, planes, None), "cut short");
    }
}
