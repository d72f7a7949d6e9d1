//! Shift-add kernels: integer Conv, Gemm and MatMul whose weights are digit programs (the
//! layout of `gos_opt::shiftadd::program`: per output channel, per digit plane from the highest,
//! the count and input offsets of the taps whose digit there is +1, then of those whose digit
//! is −1). Per plane the inputs are added and subtracted, the planes combined by shifts
//! (Horner), so no input is multiplied by a weight: for cores whose multiplier is slow
//! (ARMv6-M's 32-cycle one). The i32 sums are exactly the multiply kernels' (`k_qconv`, `k_qmm`), and so are the
//! results: the same offsets, scales, biases and store ([`m_store`]: the float formula, or the
//! table of steps that gives the same integers on cores without a float unit).
//!
//! With shared partials (`gos_opt::shiftadd::mcm`: `k_saconv_shared`, `k_samm_shared`) the
//! loops turn round: per pixel (per row), the window's taps are gathered into a scratch of i32
//! and the partials that many channels add are computed there once ([`k_sa_share`]), then every
//! channel's program runs on the scratch. All sums are wrapping i32 additions, subtractions and
//! doublings: they are the exact sums modulo 2^32, and the exact sums (`|Σ x·w| ≤ taps · 255 ·
//! 128 < 2^31` for the layers coded) fit i32, so they are the exact sums.

use super::{m_store, QOut, Requant};

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

/// Whether `prog` is exactly `channels` programs of `planes` planes, every offset `ok`: what
/// the kernels check once per call before their unchecked reads (of the program, and of the
/// input when its offsets are checked here).
fn k_sa_valid<D: SaWord>(prog: &[D], channels: usize, planes: usize, ok: impl Fn(usize) -> bool) -> bool {
    let mut at = 0;
    for _ in 0..channels * planes * 2 {
        let Some(n) = prog.get(at) else { return false };
        let Some(end) = (at + 1).checked_add(n.at()) else { return false };
        match prog.get(at + 1..end) {
            Some(offsets) if offsets.iter().all(|o| ok(o.at())) => at = end,
            _ => return false,
        }
    }
    at == prog.len()
}

/// Whether `words` is `taps` tap offsets below `limit`, the runs of `partials` partials (a
/// count of sums then of differences, in turn, each followed by its pairs of operands: byte
/// offsets of earlier i32 entries of the scratch), then `channels` programs of `planes` planes
/// whose offsets are byte offsets of entries of the scratch (`taps + partials` i32): what the
/// shared kernels check once per call.
fn k_sa_valid_shared<D: SaWord>(words: &[D], [taps, partials, channels, planes]: [usize; 4], limit: usize) -> bool {
    let entry = |o: usize, n: usize| o.is_multiple_of(4) && o < 4 * n;
    let Some(head) = words.get(..taps) else { return false };
    let (mut at, mut j) = (taps, 0);
    while j < partials {
        let before = j;
        for _ in 0..2 {
            let Some(n) = words.get(at) else { return false };
            let Some(pairs) = words.get(at + 1..at + 1 + 2 * n.at()) else { return false };
            for ab in pairs.chunks_exact(2) {
                if j == partials || !entry(ab[0].at(), taps + j) || !entry(ab[1].at(), taps + j) {
                    return false;
                }
                j += 1;
            }
            at += 1 + pairs.len();
        }
        if j == before {
            return false;
        }
    }
    head.iter().all(|o| o.at() < limit) && k_sa_valid(&words[at..], channels, planes, |o| entry(o, taps + partials))
}

/// `acc` plus (or, `NEG`, minus) the inputs at the byte offsets of the run of words at `*w`
/// (its count, then the offsets: the index for 8-bit inputs), `*w` moved past the run. The last `count % 4` first, then four
/// at a time: the loop holds four `ldrh`, `ldrb`, `adds` and one pointer step, compare and
/// branch (ARMv6-M: 6 cycles per offset, against 8–9 one at a time or with LLVM's unrolling,
/// which tests for the end after each offset).
///
/// # Safety
/// The run at `*w` is whole; its offsets are of aligned elements of `x` unless `CHECKED` (which
/// checks the index `offset / size`).
#[inline(always)]
unsafe fn k_sa_terms<X: Copy + Into<i32>, D: SaWord, const CHECKED: bool, const NEG: bool>(
    x: &[X],
    w: &mut *const D,
    acc: i32,
) -> i32 {
    // SAFETY: as the caller promises.
    let at = |p: *const D| unsafe {
        let o = (*p).at();
        if CHECKED { x[o / core::mem::size_of::<X>()] } else { *x.as_ptr().byte_add(o) }.into()
    };
    let add = |acc: i32, v: i32| if NEG { acc.wrapping_sub(v) } else { acc.wrapping_add(v) };
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
            acc = add(acc, at(p).wrapping_add(at(p.add(1))).wrapping_add(at(p.add(2))).wrapping_add(at(p.add(3))));
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
/// `prog` starts with a whole program (checked by [`k_sa_valid`]), whose offsets are of aligned
/// elements of `x` unless `CHECKED`.
#[inline(never)]
unsafe fn k_sa_run<X: Copy + Into<i32>, D: SaWord, const PLANES: usize, const CHECKED: bool>(
    x: &[X],
    prog: &[D],
) -> (i32, usize) {
    // A pointer walk keeps the plane loop's state in ARMv6-M's eight low registers.
    let start = prog.as_ptr();
    let mut w = start;
    let mut acc = 0i32;
    for _ in 0..PLANES {
        // SAFETY: the program is whole: its counts and the offsets they count lie in `prog`;
        // unchecked, the caller keeps the offsets inside `x`.
        unsafe {
            acc = k_sa_terms::<X, D, CHECKED, false>(x, &mut w, acc.wrapping_shl(1));
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
    X: Copy + Into<i32>,
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
    assert!(k_sa_valid(prog, G * MG, PLANES, |o| o < CG * H * W - reach), "malformed digit programs");
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
fn k_samm<
    X: Copy + Into<i32>,
    D: SaWord,
    Y: QOut,
    const M: usize,
    const K: usize,
    const N: usize,
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
    let (x, y) = (&x[..M * K], &mut y[..M * N]);
    // The loads are checked: the offsets are used once per row.
    assert!(k_sa_valid(prog, N, PLANES, |_| true), "malformed digit programs");
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

/// The shared part of the window at `x[0]`: its `T` taps (their offsets the first `T` words of
/// `words`) gathered into `s[..T]`, then the `P` partials into `s[T..T + P]` in order (so a
/// partial may add earlier ones), read as runs: a count of sums, their pairs of operands (byte
/// offsets in `s`), a count of differences, theirs, and so on ([`k_sa_pairs`]). Returns the
/// words read. Not inlined: one copy per layer shape, no multiplication.
///
/// # Safety
/// `words` is as [`k_sa_valid_shared`] checks it, the tap offsets index `x`, and `s` holds
/// `T + P` entries.
#[inline(never)]
unsafe fn k_sa_share<X: Copy + Into<i32>, D: SaWord, const T: usize, const P: usize>(
    x: &[X],
    words: &[D],
    s: &mut [i32],
) -> usize {
    // SAFETY: as the caller promises.
    unsafe {
        let (mut w, s) = (words.as_ptr(), s.as_mut_ptr());
        for t in 0..T {
            *s.add(t) = (*x.as_ptr().add((*w.add(t)).at())).into();
        }
        w = w.add(T);
        let (mut at, end) = (s.add(T), s.add(T + P));
        while at < end {
            k_sa_pairs::<D, false>(s, &mut w, &mut at);
            k_sa_pairs::<D, true>(s, &mut w, &mut at);
        }
        w.offset_from(words.as_ptr()) as usize
    }
}

/// The run of partials at `*w` (its count, then pairs of operands' byte offsets in `s`):
/// `s[a] + s[b]`, or with `MINUS` `s[a] − s[b]`, each stored at `*at`; both pointers moved on.
///
/// # Safety
/// The run is whole and its operands are entries of `s` before `*at`.
#[inline(always)]
unsafe fn k_sa_pairs<D: SaWord, const MINUS: bool>(s: *mut i32, w: &mut *const D, at: &mut *mut i32) {
    // SAFETY: as the caller promises.
    unsafe {
        let n = (**w).at();
        let mut p = w.add(1);
        for _ in 0..n {
            let (a, b) = (*s.byte_add((*p).at()), *s.byte_add((*p.add(1)).at()));
            **at = if MINUS { a.wrapping_sub(b) } else { a.wrapping_add(b) };
            *at = at.add(1);
            p = p.add(2);
        }
        *w = p;
    }
}

/// One pixel of a shared kernel: [`k_sa_share`] of the window at `x[0]` into `s`, then the
/// programs of `channels` channels on `s` (after the shared words), each sum given to
/// `put(channel, sum)`.
///
/// # Safety
/// As [`k_sa_share`], and the programs are whole ([`k_sa_valid_shared`]).
#[inline(always)]
unsafe fn k_sa_pixel<X: Copy + Into<i32>, D: SaWord, const T: usize, const P: usize, const PLANES: usize>(
    x: &[X],
    words: &[D],
    s: &mut [i32],
    channels: usize,
    mut put: impl FnMut(usize, i32),
) {
    // SAFETY: as the caller promises.
    let mut at = unsafe { k_sa_share::<X, D, T, P>(x, words, s) };
    for c in 0..channels {
        // SAFETY: the program is whole and its offsets are of entries of `s`.
        let (acc, n) = unsafe { k_sa_run::<i32, D, PLANES, false>(s, &words[at..]) };
        at += n;
        put(c, acc);
    }
}

/// [`k_saconv`] of one group with partials shared across its `M` channels: `words` is the
/// `T` tap offsets (in `x`, from the window's top-left tap), the `P` partials, then the `M`
/// programs over the scratch (`S = T + P` entries); per output pixel [`k_sa_pixel`].
///
/// # Panics
/// When `words` is not so, or a window's taps leave `x`.
#[allow(clippy::too_many_arguments)]
fn k_saconv_shared<
    X: Copy + Into<i32>,
    D: SaWord,
    Y: QOut,
    const CI: usize,
    const H: usize,
    const W: usize,
    const M: usize,
    const OH: usize,
    const OW: usize,
    const SH: usize,
    const SW: usize,
    const T: usize,
    const P: usize,
    const S: usize,
    const PLANES: usize,
>(
    x: &[X],
    words: &[D],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    steps: &[i32],
    y: &mut [Y],
    rq: Requant,
) {
    let (x, y) = (&x[..CI * H * W], &mut y[..M * OH * OW]);
    let reach = (OH - 1) * SH * W + (OW - 1) * SW;
    assert!(S == T + P && k_sa_valid_shared(words, [T, P, M, PLANES], CI * H * W - reach), "malformed digit programs");
    let mut s = [0i32; S];
    for oh in 0..OH {
        for ow in 0..OW {
            let put = |m: usize, acc: i32| y[(m * OH + oh) * OW + ow] = m_store(acc, off[m], m, mul, bias, steps, rq);
            // SAFETY: checked above: the words are whole and the taps of any window lie in `x`.
            unsafe { k_sa_pixel::<X, D, T, P, PLANES>(&x[oh * SH * W + ow * SW..], words, &mut s, M, put) };
        }
    }
}

/// [`k_samm`] with partials shared across the `N` columns: `words` is the `K` offsets along a
/// row (`0..K`), the `P` partials, then the `N` programs over the scratch (`S = K + P`
/// entries); per row [`k_sa_pixel`].
///
/// # Panics
/// When `words` is not so.
#[allow(clippy::too_many_arguments)]
fn k_samm_shared<
    X: Copy + Into<i32>,
    D: SaWord,
    Y: QOut,
    const M: usize,
    const K: usize,
    const N: usize,
    const P: usize,
    const S: usize,
    const PLANES: usize,
>(
    x: &[X],
    words: &[D],
    off: &[i32],
    mul: &[f32],
    bias: &[f32],
    steps: &[i32],
    y: &mut [Y],
    rq: Requant,
) {
    let (x, y) = (&x[..M * K], &mut y[..M * N]);
    assert!(S == K + P && k_sa_valid_shared(words, [K, P, N, PLANES], K), "malformed digit programs");
    let mut s = [0i32; S];
    for (r, row) in x.chunks_exact(K).enumerate() {
        let put = |j: usize, acc: i32| y[r * N + j] = m_store(acc, off[j], j, mul, bias, steps, rq);
        // SAFETY: checked above: the words are whole and the taps lie in the row.
        unsafe { k_sa_pixel::<X, D, K, P, PLANES>(row, words, &mut s, N, put) };
    }
}

#[cfg(test)]
mod tests {
    use super::super::Requant;
    use crate::shiftadd::program::DigitPrograms;

    /// Partials [`crate::shiftadd::mcm::Shared::find`] shares in the shared kernels' test.
    const PARTIALS: usize = 76;
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
    fn the_shared_kernels_sum_what_the_products_sum() {
        use crate::shiftadd::mcm::Shared;
        // A convolution of 3 input and 10 output channels, 3 × 3 taps, stride (2, 1), on a
        // 7 × 6 (already padded) i8 input: output 3 × 4; and the same weights as a matrix
        // (27 × 10) on three u8 rows.
        const CI: usize = 3;
        const H: usize = 7;
        const W: usize = 6;
        const M: usize = 10;
        const OH: usize = 3;
        const OW: usize = 4;
        const T: usize = CI * 9;
        const P: usize = PARTIALS;
        const PLANES: usize = 8;
        let mut w = weights(M * T);
        (w[0], w[1], w[2]) = (-128, 127, -128);
        let channels: Vec<Vec<i32>> = w.chunks(T).map(<[i32]>::to_vec).collect();
        let shared = Shared::find(&channels, Recoding::Csd, 2, usize::MAX);
        assert_eq!(shared.partials.len(), P);
        assert!(shared.partials.iter().any(|p| p.minus) && shared.partials.iter().any(|p| p.b >= T as u32));
        let tap = |t: usize| ((t / 9 * H + t / 3 % 3) * W + t % 3) as u32;
        let words: Vec<u16> = DigitPrograms::encode_shared(&shared, &(0..T).map(tap).collect::<Vec<_>>())
            .words
            .iter()
            .map(|&v| v as u16)
            .collect();
        let x: Vec<i8> = (0..CI * H * W).map(|i| ((i * 53) % 256) as u8 as i8).collect();
        let off: Vec<i32> = (0..M as i32).map(|m| m * 3 - 11).collect();
        let mut want = vec![0f32; M * OH * OW];
        for (i, v) in want.iter_mut().enumerate() {
            let (m, oh, ow) = (i / (OH * OW), i / OW % OH, i % OW);
            let at = 2 * oh * W + ow;
            *v = ((0..T).map(|t| x[at + tap(t) as usize] as i32 * w[m * T + t]).sum::<i32>() + off[m]) as f32;
        }
        let mut y = vec![f32::NAN; want.len()];
        super::k_saconv_shared::<i8, u16, f32, CI, H, W, M, OH, OW, 2, 1, T, P, { T + P }, PLANES>(
            &x,
            &words,
            &off,
            &[1.0; M],
            &[0.0; M],
            &[],
            &mut y,
            RQ,
        );
        assert_eq!(y, want);

        // The matrix: row-major [K][N] weights, channel j the column.
        let rows: Vec<u8> = (0..3 * T).map(|i| ((i * 37 + 5) % 256) as u8).collect();
        let mwords: Vec<u32> = DigitPrograms::encode_shared(&shared, &(0..T as u32).collect::<Vec<_>>()).words;
        let want: Vec<f32> = (0..3 * M)
            .map(|i| {
                let (r, j) = (i / M, i % M);
                ((0..T).map(|t| rows[r * T + t] as i32 * w[j * T + t]).sum::<i32>() + off[j]) as f32
            })
            .collect();
        let mut y = vec![f32::NAN; 3 * M];
        super::k_samm_shared::<u8, u32, f32, 3, T, M, P, { T + P }, PLANES>(
            &rows,
            &mwords,
            &off,
            &[1.0; M],
            &[0.0; M],
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
        assert!(super::k_sa_valid(&p.words, 2, planes, |o| o < 4));
        assert!(!super::k_sa_valid(&p.words, 2, planes, |o| o < 3), "offset 3 past the limit");
        assert!(super::k_sa_valid(&p.words, 2, planes, |_| true), "offsets unchecked");
        assert!(!super::k_sa_valid(&p.words, 1, planes, |_| true), "words left over");
        assert!(!super::k_sa_valid(&p.words[..p.words.len() - 1], 2, planes, |_| true), "cut short");
    }
}
