//! The work of a contraction run by shift-add kernels, from the work of its multiply form.
//!
//! Priced as the back end's kernels run it (`k_sa_run` in `src/emit/kernels/shiftadd.rs`):
//! a multiply kernel does one 8-bit multiply-accumulate per point of the contraction, in
//! vector lanes where the target has them. The shift-add kernel walks a digit program
//! instead: per non-zero digit of a weight (zero weights and zero digits are skipped) it loads
//! an input offset, loads the input and adds or subtracts it, in a scalar loop (the offsets
//! gather, so nothing vectorizes): [`TERM_INSTRUCTIONS`] instructions, priced as 32-bit
//! additions. Per output element and digit plane it reads the plane's two counts, shifts the
//! sum so far and adds the plane's sum: [`PLANE_INSTRUCTIONS`]. The digit program is read
//! instead of the 8-bit weights: two bytes (an input offset) per non-zero digit. The counts
//! are the instructions of `k_sa_run` as built for ARMv6-M and ARMv7E-M (`opt-level` 3 and
//! s), measured with `scripts/cortexm.sh`: before they were priced, one addition per digit in
//! vector lanes made the sparse layers of int8 MobileNet VWW run shift-add on the Cortex-M4,
//! where they took 8 % more cycles than with multiplies.

use super::Coding;
use crate::cost::{OpClass, Precision, Work};

/// Instructions per non-zero digit in the shift-add kernel's term loop (load the offset, load
/// the input, add or subtract, count, branch).
pub const TERM_INSTRUCTIONS: u64 = 6;

/// Instructions per output element and digit plane (the plane's counts, the shift, the add,
/// the loop bookkeeping).
pub const PLANE_INSTRUCTIONS: u64 = 20;

/// `mult` (the multiply form's work, multiply-accumulates at precision `p`) as shift-add work
/// for weights coded as `coding`, with `outputs` output elements.
pub fn shift_add_work(mult: &Work, p: Precision, coding: &Coding, outputs: u64) -> Work {
    let mut w = *mult;
    let macs = w.ops.take(p, OpClass::Fma) + w.scalar.take(p, OpClass::Fma);
    let (digits, planes) = executed(macs, coding, outputs);
    let instructions =
        digits.saturating_mul(TERM_INSTRUCTIONS).saturating_add(planes.saturating_mul(PLANE_INSTRUCTIONS));
    w.scalar.add(Precision::I32, OpClass::Add, instructions);
    w.bytes = w.bytes.saturating_sub(coding.weights).saturating_add(2 * coding.nonzeros);
    w
}

/// What a shift-add kernel executes in place of `macs` multiply-accumulates: the additions of
/// non-zero digits, and the plane steps (one shift and one addition per output and plane).
pub(crate) fn executed(macs: u64, coding: &Coding, outputs: u64) -> (u64, u64) {
    let digits =
        if coding.weights == 0 { 0 } else { (macs as u128 * coding.nonzeros as u128 / coding.weights as u128) as u64 };
    (digits, outputs.saturating_mul(coding.planes as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shiftadd::Recoding;

    #[test]
    fn macs_become_the_term_loop_per_nonzero_digit_plus_the_plane_combination() {
        let mut mult = Work::default();
        mult.ops.add(Precision::I8, OpClass::Fma, 1000);
        mult.bytes = 500;
        // 10 outputs over 100 weights (10 taps each) with 250 non-zero digits in 3 planes.
        let coding = Coding { recoding: Recoding::Csd, nonzeros: 250, weights: 100, planes: 3 };
        let w = shift_add_work(&mult, Precision::I8, &coding, 10);
        assert_eq!(w.ops.get(Precision::I8, OpClass::Fma), 0);
        assert_eq!(w.ops.total(OpClass::Add), 0, "nothing in vector lanes");
        assert_eq!(w.scalar.get(Precision::I32, OpClass::Add), 2500 * 6 + 30 * 20);
        assert_eq!(w.bytes, 500 - 100 + 500);
    }
}
