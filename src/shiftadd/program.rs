//! Digit programs: the layout in which the Rust back end's shift-add kernels
//! (`src/emit/kernels/shiftadd.rs`) read a contraction's digit-coded weights. The lowering
//! writes programs with [`DigitPrograms::encode`] only, and the kernels' unit tests run what it
//! writes, so the layout is defined here and nowhere else.
//!
//! The programs of a contraction are one per output channel, in channel order. A channel's
//! program is, for every digit plane from the highest (`planes - 1`) down to 0:
//!
//! ```text
//! npos, offset × npos, nneg, offset × nneg
//! ```
//!
//! the number of the channel's taps whose digit on that plane is +1 and their input offsets
//! (from the window's start), then the number whose digit is −1 and theirs: each count just
//! before the offsets it counts, so that a kernel walking the words needs no count held aside.
//! A kernel sums the inputs at the positive offsets and takes away those at the negative ones
//! (additions and subtractions only), and combines the planes as Horner does: `acc = 2·acc +
//! plane sum` (a shift and an addition per plane), which gives `Σ x · w` exactly. Every channel
//! has all planes, empty ones as `0, 0`, so that the kernels need no per-channel index.
//!
//! With partials shared across the channels ([`DigitPrograms::encode_shared`], from
//! [`super::mcm::Shared`]), the words are the taps' input offsets (one per tap, gathered per
//! pixel into a scratch of i32), the partials in runs (a count of sums, their operands, a count
//! of differences, theirs, and so on in turn, ending with a run of differences; two words per
//! partial, the byte offsets in the scratch of its operands: `4·a`, `4·b`), then the
//! programs as above, their offsets byte offsets in the scratch (`4·symbol`: a tap's entry, or
//! partial `j`'s at `T + j`) so that the kernels load them with no scaling.

use super::mcm::{Plane, Shared};
use super::{digits, Recoding};

/// The digit programs of a contraction's weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitPrograms {
    /// The words of every channel's program, one channel after another.
    pub words: Vec<u32>,
    /// Digit planes of every program (the highest plane used, plus one; 0 when every weight
    /// is 0).
    pub planes: u32,
}

impl DigitPrograms {
    /// The programs of `channels`, each channel's taps as `(input offset, weight)`, the weights
    /// written as digits under `recoding`. Zero weights take no words.
    pub fn encode(channels: &[Vec<(u32, i32)>], recoding: Recoding) -> DigitPrograms {
        let coded: Vec<Vec<(u32, super::Digit)>> = channels
            .iter()
            .map(|taps| {
                taps.iter().flat_map(|&(at, w)| digits(w, recoding).into_iter().map(move |d| (at, d))).collect()
            })
            .collect();
        let planes = coded.iter().flatten().map(|(_, d)| d.shift + 1).max().unwrap_or(0);
        let programs: Vec<Vec<Plane>> = coded
            .iter()
            .map(|taps| {
                (0..planes)
                    .rev()
                    .map(|plane| {
                        let on = |negative: bool| {
                            taps.iter()
                                .filter(|(_, d)| d.shift == plane && d.negative == negative)
                                .map(|(at, _)| *at)
                                .collect()
                        };
                        Plane { pos: on(false), neg: on(true) }
                    })
                    .collect()
            })
            .collect();
        let mut words = Vec::new();
        push_programs(&mut words, &programs, |at| at);
        DigitPrograms { words, planes }
    }

    /// The words of `shared` (see the module's doc), the taps at input offsets `taps`.
    pub fn encode_shared(shared: &Shared, taps: &[u32]) -> DigitPrograms {
        assert_eq!(taps.len(), shared.taps as usize, "one offset per tap");
        let mut words = taps.to_vec();
        // Runs of sums and of differences in turn, each a count and its pairs.
        let mut rest = &shared.partials[..];
        let mut minus = false;
        while !rest.is_empty() {
            let n = rest.iter().take_while(|p| p.minus == minus).count();
            words.push(n as u32);
            words.extend(rest[..n].iter().flat_map(|p| [4 * p.a, 4 * p.b]));
            (rest, minus) = (&rest[n..], !minus);
        }
        if minus {
            words.push(0); // the last run was of sums: an empty run of differences closes it
        }
        push_programs(&mut words, &shared.programs, |symbol| 4 * symbol);
        DigitPrograms { words, planes: shared.planes }
    }

    /// Whether every word fits in 16 bits (the kernels then read `u16` words, else `u32`).
    pub fn fits_u16(&self) -> bool {
        self.words.iter().all(|&w| w <= u16::MAX as u32)
    }
}

/// Appends every channel's planes to `words`: per plane the count and the offsets (`at` of each
/// symbol) of its positive terms, then of its negative ones.
fn push_programs(words: &mut Vec<u32>, programs: &[Vec<Plane>], at: impl Fn(u32) -> u32) {
    for plane in programs.iter().flatten() {
        for run in [&plane.pos, &plane.neg] {
            words.push(run.len() as u32);
            words.extend(run.iter().map(|&s| at(s)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_per_channel_then_per_plane_from_the_highest() {
        // Channel 0: 3 at offset 4 (binary 2^1 + 2^0), −2 at offset 7; channel 1: all zero.
        let p = DigitPrograms::encode(&[vec![(4, 3), (7, -2)], vec![(4, 0), (7, 0)]], Recoding::Binary);
        assert_eq!(p.planes, 2);
        #[rustfmt::skip]
        assert_eq!(p.words, vec![
            1, 4, 1, 7, // plane 1: +x[4] − x[7]
            1, 4, 0,    // plane 0: +x[4]
            0, 0, 0, 0, // channel 1: two empty planes
        ]);
        assert!(p.fits_u16());
    }

    #[test]
    fn csd_uses_negative_digits_and_zero_weights_no_planes() {
        // 7 = 2^3 − 2^0.
        let p = DigitPrograms::encode(&[vec![(70_000, 7)]], Recoding::Csd);
        assert_eq!((p.planes, p.words.clone()), (4, vec![1, 70_000, 0, 0, 0, 0, 0, 0, 1, 70_000]));
        assert!(!p.fits_u16());
        assert_eq!(DigitPrograms::encode(&[vec![(0, 0)]], Recoding::Csd), DigitPrograms { words: vec![], planes: 0 });
    }

    #[test]
    fn shared_words_are_taps_partials_then_programs_in_scratch_bytes() {
        // c0 = x0 − x1, c1 = x1 − x0 (one plane): p2 = x0 − x1; c0 = +p2, c1 = −p2.
        let s = Shared::find(&[vec![1, -1], vec![-1, 1]], Recoding::Csd, 2, usize::MAX);
        let p = DigitPrograms::encode_shared(&s, &[7, 9]);
        #[rustfmt::skip]
        assert_eq!(p.words, vec![
            7, 9,       // the taps' input offsets
            0,          // no sums
            1, 0, 4,    // p2 = s[0] − s[1]
            1, 8, 0,    // c0: +s[2]
            0, 1, 8,    // c1: −s[2]
        ]);
        assert_eq!(p.planes, 1);
    }
}
