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
//!
//! With partials shared across the output channels ([`super::mcm`]; `k_sa_share` in the
//! kernels), a pixel's taps are first gathered into a scratch of 32-bit words
//! ([`GATHER_INSTRUCTIONS`] each), its partials computed there ([`PARTIAL_INSTRUCTIONS`]
//! each), and the programs add fewer terms: the shared form is priced, and run, only where
//! that is fewer instructions in all ([`sharing_pays`]). A program word is then an offset into
//! the scratch: the words are the gather's taps, two per partial and one per term.

use super::Coding;
use crate::cost::{OpClass, Precision, Work};

/// Instructions per non-zero digit in the shift-add kernel's term loop (load the offset, load
/// the input, add or subtract, count, branch).
pub const TERM_INSTRUCTIONS: u64 = 6;

/// Instructions per output element and digit plane (the plane's counts, the shift, the add,
/// the loop bookkeeping).
pub const PLANE_INSTRUCTIONS: u64 = 20;

/// Instructions per tap gathered into the scratch, per pixel (load the tap's offset, load
/// the input, store it, loop). Like the term's figure, in ARMv6-M cycles: fitted over
/// `k_sa_share`'s cycles in the three int8 models of `scripts/cortexm.sh` on the emulated
/// Cortex-M0+ (12.6 per tap, 13.6 per partial, 2026-12-07).
pub const GATHER_INSTRUCTIONS: u64 = 13;

/// Instructions per shared partial, per pixel (load its two operands' offsets and values, add
/// or subtract, store: five loads and stores of two cycles each on ARMv6-M), measured as
/// [`GATHER_INSTRUCTIONS`] is.
pub const PARTIAL_INSTRUCTIONS: u64 = 14;

/// The fewest programs a pattern must occur in to be shared: each use saves a term of
/// [`TERM_INSTRUCTIONS`], the partial costs [`PARTIAL_INSTRUCTIONS`] once.
pub const MIN_USES: u32 = (PARTIAL_INSTRUCTIONS / TERM_INSTRUCTIONS + 1) as u32;

/// The most partials a contraction shares: its kernel keeps `taps + partials` i32 on the stack
/// (8 KB of partials; the greedy takes the most used first, the last ones save least).
pub const MAX_PARTIALS: usize = 2048;

/// Whether the cost model searches `profile`'s digit-coded contractions for shared partials
/// ([`super::Coding::of_contraction`]): where a 32-bit multiply takes longer than the
/// [`TERM_INSTRUCTIONS`] of a shift-add term (a slow multiplier: `cortex-m0plus`'s 32-cycle
/// MULS), so that shift-add is the form that runs. Elsewhere shift-add is taken only on layers
/// of mostly zero weights, where little is shared, and the greedy search (up to seconds on the
/// largest layers) would only slow every run on an int8 model: those targets price the
/// programs unshared, as the back end then runs them or cheaper.
pub fn searches_sharing(profile: &crate::cost::Profile) -> bool {
    let rate = |c| profile.ops_per_cycle(Precision::I32, c);
    rate(OpClass::Add) > TERM_INSTRUCTIONS as f64 * rate(OpClass::Mul)
}

/// Whether `coding`'s shared programs run in fewer instructions per pixel than its plain
/// ones: the terms they save against the gather and the partials.
pub fn sharing_pays(coding: &Coding) -> bool {
    coding.shared.is_some_and(|s| {
        s.terms * TERM_INSTRUCTIONS + s.taps * GATHER_INSTRUCTIONS + s.partials * PARTIAL_INSTRUCTIONS
            < coding.nonzeros * TERM_INSTRUCTIONS
    })
}

/// What a shift-add kernel executes.
pub(crate) struct Executed {
    /// Terms added or subtracted (non-zero digits, or shared programs' terms).
    pub terms: u64,
    /// Partials computed (once per pixel each).
    pub partials: u64,
    /// Taps gathered into the scratch.
    pub gathered: u64,
    /// Plane steps (a shift and an addition per output and plane).
    pub plane_steps: u64,
}

/// `mult` (the multiply form's work, multiply-accumulates at precision `p`) as shift-add work
/// for weights coded as `coding`, with `outputs` output elements.
pub fn shift_add_work(mult: &Work, p: Precision, coding: &Coding, outputs: u64) -> Work {
    let mut w = *mult;
    let macs = w.ops.take(p, OpClass::Fma) + w.scalar.take(p, OpClass::Fma);
    let e = executed(macs, coding, outputs);
    let instructions = [
        (e.terms, TERM_INSTRUCTIONS),
        (e.partials, PARTIAL_INSTRUCTIONS),
        (e.gathered, GATHER_INSTRUCTIONS),
        (e.plane_steps, PLANE_INSTRUCTIONS),
    ]
    .iter()
    .fold(0u64, |sum, &(n, per)| sum.saturating_add(n.saturating_mul(per)));
    w.scalar.add(Precision::I32, OpClass::Add, instructions);
    let words = match coding.shared.filter(|_| sharing_pays(coding)) {
        Some(s) => s.terms + s.taps + 2 * s.partials,
        None => coding.nonzeros,
    };
    w.bytes = w.bytes.saturating_sub(coding.weights).saturating_add(2 * words);
    w
}

/// What a shift-add kernel executes in place of `macs` multiply-accumulates (each weight is
/// used `macs / weights` times: once per pixel): the terms of its programs, the shared
/// partials and the gather where [`sharing_pays`], and the plane steps.
pub(crate) fn executed(macs: u64, coding: &Coding, outputs: u64) -> Executed {
    let per_pixel = |n: u64| {
        if coding.weights == 0 {
            0
        } else {
            (macs as u128 * n as u128 / coding.weights as u128) as u64
        }
    };
    let plane_steps = outputs.saturating_mul(coding.planes as u64);
    match coding.shared.filter(|_| sharing_pays(coding)) {
        Some(s) => Executed {
            terms: per_pixel(s.terms),
            partials: per_pixel(s.partials),
            gathered: per_pixel(s.taps),
            plane_steps,
        },
        None => Executed { terms: per_pixel(coding.nonzeros), partials: 0, gathered: 0, plane_steps },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shiftadd::mcm::Sharing;
    use crate::shiftadd::Recoding;

    #[test]
    fn sharing_is_searched_on_the_slow_multiplier_only() {
        let searched = |t| searches_sharing(&crate::cost::resolve(Some(t), None).expect("a shipped target"));
        assert!(searched("cortex-m0plus"));
        for t in ["host", "rpi3", "cortex-m4", "asic45"] {
            assert!(!searched(t), "{t}");
        }
    }

    #[test]
    fn macs_become_the_term_loop_per_nonzero_digit_plus_the_plane_combination() {
        let mut mult = Work::default();
        mult.ops.add(Precision::I8, OpClass::Fma, 1000);
        mult.bytes = 500;
        // 10 outputs over 100 weights (10 taps each) with 250 non-zero digits in 3 planes.
        let coding = Coding { recoding: Recoding::Csd, nonzeros: 250, weights: 100, planes: 3, shared: None };
        let w = shift_add_work(&mult, Precision::I8, &coding, 10);
        assert_eq!(w.ops.get(Precision::I8, OpClass::Fma), 0);
        assert_eq!(w.ops.total(OpClass::Add), 0, "nothing in vector lanes");
        assert_eq!(w.scalar.get(Precision::I32, OpClass::Add), 2500 * 6 + 30 * 20);
        assert_eq!(w.bytes, 500 - 100 + 500);
    }

    #[test]
    fn shared_partials_are_priced_once_per_pixel_where_they_pay() {
        let mut mult = Work::default();
        mult.ops.add(Precision::I8, OpClass::Fma, 1000);
        mult.bytes = 500;
        // 10 pixels of 10 channels by 10 taps: 250 digits → 150 terms with 20 partials.
        let sharing = Sharing { taps: 10, partials: 20, terms: 150 };
        let coding = Coding { recoding: Recoding::Csd, nonzeros: 250, weights: 100, planes: 3, shared: Some(sharing) };
        assert!(sharing_pays(&coding), "150·6 + 10·13 + 20·14 < 250·6");
        let w = shift_add_work(&mult, Precision::I8, &coding, 100);
        let per_pixel = 150 * TERM_INSTRUCTIONS + 10 * GATHER_INSTRUCTIONS + 20 * PARTIAL_INSTRUCTIONS;
        assert_eq!(w.scalar.get(Precision::I32, OpClass::Add), 10 * per_pixel + 300 * PLANE_INSTRUCTIONS);
        assert_eq!(w.bytes, 500 - 100 + 2 * (150 + 10 + 40));
        // Sharing that saves too little is not priced (nor run).
        let few = Coding { shared: Some(Sharing { taps: 10, partials: 20, terms: 240 }), ..coding };
        assert!(!sharing_pays(&few));
        let adds = |c: &Coding| shift_add_work(&mult, Precision::I8, c, 100).scalar.get(Precision::I32, OpClass::Add);
        assert_eq!(adds(&few), adds(&Coding { shared: None, ..coding }));
    }
}
