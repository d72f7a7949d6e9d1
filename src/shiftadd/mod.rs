//! Multiplication → shift/add: integer weights written as digit planes, so that a contraction
//! with them needs additions, subtractions and shifts only.
//!
//! An integer weight `w` is a signed sum of powers of two, `w = Σ_k d_k 2^k` with digits
//! `d_k ∈ {−1, 0, 1}`; so `dot(x, W) = Σ_k 2^k · dot(x, D_k)` where each digit plane `D_k` is a
//! ternary matrix, and a product with a ternary matrix is additions and subtractions of `x`.
//! The recoding is chosen per weight tensor ([`Coding::choose`]): canonical signed digits (the
//! non-adjacent form, [`crate::fit::spt::spt_terms`], which has the fewest non-zero digits of
//! any signed-digit form) or plain binary (two's complement magnitude with a sign), whichever
//! has fewer non-zero digits in all, then fewer planes. Integer arithmetic throughout: a
//! shift-add contraction is bit-identical to the multiply form.
//!
//! The rules of `rules/shiftadd.rules` mark a quantized contraction's integer weights with the
//! function `@csd` ([`FUNCTION`]): the same integers, to be computed by shift-add kernels. The
//! marked constant carries [`CODED`] as its `TensorProto.doc_string`, so the choice survives
//! export and import, and the Rust back end runs the contraction reading it with shift-add
//! kernels.

use crate::fit::spt::spt_terms;

/// The rule function that marks integer weights as digit-coded (`(@csd ?w)`).
pub const FUNCTION: &str = "csd";

/// The `doc_string` of a digit-coded weight tensor.
pub const CODED: &str = "gos-opt: shift-add digit planes";

/// How a weight tensor's integers are written as digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recoding {
    /// Canonical signed digits (non-adjacent form): digits in {−1, 0, 1}, no two adjacent
    /// non-zero, fewest non-zero digits.
    Csd,
    /// The binary digits of `|w|`, all with the sign of `w`.
    Binary,
}

/// One non-zero digit of a weight: `±2^shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digit {
    /// Whether the digit is −1.
    pub negative: bool,
    /// Its plane (the power of two).
    pub shift: u32,
}

/// The non-zero digits of `w` under `recoding`, lowest plane first.
pub fn digits(w: i32, recoding: Recoding) -> Vec<Digit> {
    match recoding {
        Recoding::Csd => spt_terms(w).into_iter().map(|t| Digit { negative: t.negative, shift: t.shift }).collect(),
        Recoding::Binary => {
            let m = w.unsigned_abs();
            (0..32).filter(|k| m >> k & 1 == 1).map(|shift| Digit { negative: w < 0, shift }).collect()
        }
    }
}

/// The value of a weight's digits (the inverse of [`digits`]).
pub fn value(digits: &[Digit]) -> i64 {
    digits.iter().map(|d| if d.negative { -(1i64 << d.shift) } else { 1i64 << d.shift }).sum()
}

/// A weight tensor's digit coding and its size: what a shift-add kernel executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coding {
    /// The recoding.
    pub recoding: Recoding,
    /// Non-zero digits over the whole tensor: one addition or subtraction each.
    pub nonzeros: u64,
    /// Weights in the tensor.
    pub weights: u64,
    /// Digit planes (the highest plane used, plus one).
    pub planes: u32,
}

impl Coding {
    /// The coding of `values` with fewer non-zero digits (then fewer planes), CSD on ties.
    pub fn choose(values: &[i32]) -> Coding {
        let [csd, binary] = [Recoding::Csd, Recoding::Binary].map(|r| Coding::of(values, r));
        if (binary.nonzeros, binary.planes) < (csd.nonzeros, csd.planes) {
            binary
        } else {
            csd
        }
    }

    /// The coding of `values` under `recoding`.
    pub fn of(values: &[i32], recoding: Recoding) -> Coding {
        let (mut nonzeros, mut planes) = (0u64, 0u32);
        for &w in values {
            let d = digits(w, recoding);
            nonzeros += d.len() as u64;
            planes = planes.max(d.last().map_or(0, |d| d.shift + 1));
        }
        Coding { recoding, nonzeros, weights: values.len() as u64, planes }
    }

    /// Non-zero digits per weight.
    pub fn digits_per_weight(&self) -> f64 {
        if self.weights == 0 {
            0.0
        } else {
            self.nonzeros as f64 / self.weights as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_reconstruct_every_8_and_9_bit_value() {
        for w in -256..=255 {
            for r in [Recoding::Csd, Recoding::Binary] {
                assert_eq!(value(&digits(w, r)), w as i64, "{w} {r:?}");
            }
        }
    }

    #[test]
    fn csd_of_127_is_two_digits_binary_seven() {
        assert_eq!(digits(127, Recoding::Csd).len(), 2);
        assert_eq!(digits(127, Recoding::Binary).len(), 7);
    }

    #[test]
    fn choose_prefers_csd_on_ties_and_binary_when_it_needs_fewer_planes() {
        // 3 = 2^2 - 2^0 in CSD (planes 0..=2), 2^1 + 2^0 in binary (planes 0..=1): equal digits.
        assert_eq!(Coding::choose(&[3]).recoding, Recoding::Binary);
        assert_eq!(Coding::choose(&[7, 1]), Coding { recoding: Recoding::Csd, nonzeros: 3, weights: 2, planes: 4 });
        assert_eq!(Coding::choose(&[0, 0]).nonzeros, 0);
    }
}
