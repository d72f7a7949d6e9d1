//! The work of a contraction run by shift-add kernels, from the work of its multiply form.
//!
//! A multiply kernel does one 8-bit multiply-accumulate per point of the contraction. The
//! shift-add kernel does, instead, one addition or subtraction per non-zero digit of the weight
//! at that point (zero weights and zero digits are skipped), and per output element and digit
//! plane one shift and one addition to combine the planes (Horner's rule). Plane sums of 8-bit
//! inputs over at most 128 taps fit 16 bits, so those additions are priced as 16-bit (a
//! datapath sizes its adders so; on a scalar core a 16-bit add costs what a 32-bit one does);
//! longer sums and the combination are 32-bit. The digit program is read instead of the 8-bit
//! weights: two bytes (an input offset) per non-zero digit.

use super::Coding;
use crate::cost::{OpClass, Precision, Work};

/// `mult` (the multiply form's work, multiply-accumulates at precision `p`) as shift-add work
/// for weights coded as `coding`, with `outputs` output elements.
pub fn shift_add_work(mult: &Work, p: Precision, coding: &Coding, outputs: u64) -> Work {
    let mut w = *mult;
    let vector = w.ops.take(p, OpClass::Fma);
    let scalar = w.scalar.take(p, OpClass::Fma);
    let taps = (vector + scalar) / outputs.max(1);
    let acc = if taps <= 128 { Precision::I16 } else { Precision::I32 };
    let density = |macs: u64| -> u64 {
        if coding.weights == 0 {
            0
        } else {
            (macs as u128 * coding.nonzeros as u128 / coding.weights as u128) as u64
        }
    };
    w.ops.add(acc, OpClass::Add, density(vector));
    w.scalar.add(acc, OpClass::Add, density(scalar));
    let combine = outputs.saturating_mul(coding.planes as u64);
    w.ops.add(Precision::I32, OpClass::Shift, combine);
    w.ops.add(Precision::I32, OpClass::Add, combine);
    w.bytes = w.bytes.saturating_sub(coding.weights).saturating_add(2 * coding.nonzeros);
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shiftadd::Recoding;

    #[test]
    fn macs_become_one_add_per_nonzero_digit_plus_the_plane_combination() {
        let mut mult = Work::default();
        mult.ops.add(Precision::I8, OpClass::Fma, 1000);
        mult.bytes = 500;
        // 10 outputs over 100 weights (10 taps each) with 250 non-zero digits in 3 planes.
        let coding = Coding { recoding: Recoding::Csd, nonzeros: 250, weights: 100, planes: 3 };
        let w = shift_add_work(&mult, Precision::I8, &coding, 10);
        assert_eq!(w.ops.get(Precision::I8, OpClass::Fma), 0);
        assert_eq!(w.ops.get(Precision::I16, OpClass::Add), 2500);
        assert_eq!(w.ops.get(Precision::I32, OpClass::Shift), 30);
        assert_eq!(w.ops.get(Precision::I32, OpClass::Add), 30);
        assert_eq!(w.bytes, 500 - 100 + 500);
    }
}
