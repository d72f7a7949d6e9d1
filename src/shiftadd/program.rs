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
        let mut words = Vec::new();
        for taps in &coded {
            for plane in (0..planes).rev() {
                let on = |negative: bool| taps.iter().filter(move |(_, d)| d.shift == plane && d.negative == negative);
                for negative in [false, true] {
                    words.push(on(negative).count() as u32);
                    words.extend(on(negative).map(|(at, _)| *at));
                }
            }
        }
        DigitPrograms { words, planes }
    }

    /// Whether every word fits in 16 bits (the kernels then read `u16` words, else `u32`).
    pub fn fits_u16(&self) -> bool {
        self.words.iter().all(|&w| w <= u16::MAX as u32)
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
}
