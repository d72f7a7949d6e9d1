//! The work of a contraction run by shift-add kernels, from the work of its multiply form, in
//! either of the two forms a profile may name ([`ShiftAddForm`]).
//!
//! **Kernel** (the default): priced as the back end's kernels run it (`k_sa_run` in
//! `src/emit/kernels/shiftadd.rs`): a multiply kernel does one 8-bit multiply-accumulate per
//! point of the contraction, in vector lanes where the target has them. The shift-add kernel
//! walks a digit program instead: per non-zero digit of a weight (zero weights and zero digits
//! are skipped) it loads an input offset, loads the input and adds or subtracts it, in a scalar
//! loop (the offsets gather, so nothing vectorizes): [`TERM_INSTRUCTIONS`] instructions, priced
//! as 32-bit additions. Per output element and digit plane it reads the plane's two counts,
//! shifts the sum so far and adds the plane's sum: [`PLANE_INSTRUCTIONS`]. The digit program is
//! read instead of the 8-bit weights: two bytes (an input offset) per non-zero digit. The counts
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
//!
//! **Datapath**: priced as a fixed-function datapath computes it (the shift-add hardware of
//! ShiftAddNet and DeepShift; H. You et al., NeurIPS 2020; M. Elhoushi et al., CVPRW 2021),
//! where nothing is fetched or looped over: an operation is an adder or a multiplier, and its
//! energy is the profile's. Each adder is as wide as the sum it holds must be for the result
//! to be exact, with `K` the taps of one output (multiply-accumulates per output) and `b` the
//! operands' bits (8), and an adder of `n` bits is priced between the profile's 8-, 16- and
//! 32-bit additions in proportion to `n` ([`at_width`]: ripple adders, whose energy grows with
//! their width; Horowitz's 0.03, 0.05 and 0.1 pJ at 8, 16 and 32 bits lie on that line):
//! - the multiply form ([`multiply_work`]): per point one `b`-bit multiply and one accumulate
//!   add of `2b + ⌈log2 K⌉` bits (a sum of `K` products of `2b` bits);
//! - shift-add: per non-zero digit one add of `b + 1 + ⌈log2 K⌉` bits into its plane's sum (a
//!   sum of `K` terms `±x`, each `b + 1` bits); per shared partial and pixel one add at that
//!   width too (a partial sums fewer taps: an upper bound); per output and plane an add into
//!   the output's accumulator, at the multiply form's accumulate width (the planes combined,
//!   `Σ_k 2^k · plane_k`, are the same sum), after a shift by one place (Horner's rule from the
//!   highest plane, as the kernels combine them): a constant shift is wiring in a datapath and
//!   costs no energy (the profile's shift figures are barrel shifters, for shifts by a
//!   variable amount, which DeepShift's weights are and digit planes are not); and per weight
//!   one `RECODE_BITS`-bit add, the combinational recoder that turns the 8-bit weight into its
//!   digits as it is read (the non-adjacent form is one carry chain, `3w = w + 2w`, and bitwise
//!   logic). The weights stay 8-bit in memory and are read as often as the multiply form reads
//!   them, so the bytes moved are the multiply form's. Shared partials are used wherever they mean fewer adds in all
//!   ([`Sharing`](super::mcm::Sharing): a pattern shared [`MIN_USES`] times saves at least two
//!   adds for one), and there is no gather: the taps are wires into the adders.
//!
//! The datapath's operations are vector operations (its lanes). Its latency is the profile's
//! estimate: both forms count a multiply-accumulate's multiply and add as two operations.

use super::Coding;
use crate::cost::{OpClass, OpCounts, Precision, Profile, ShiftAddForm, Work};

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
/// ([`super::Coding::of_contraction`]): on a datapath, where a shared partial saves adders
/// ([`ShiftAddForm::Datapath`]); for the kernel form, where a 32-bit multiply takes longer
/// than the [`TERM_INSTRUCTIONS`] of a shift-add term (a slow multiplier: `cortex-m0plus`'s
/// 32-cycle MULS), so that shift-add is the form that runs. Elsewhere shift-add is taken only
/// on layers of mostly zero weights, where little is shared, and the greedy search (up to
/// seconds on the largest layers) would only slow every run on an int8 model: those targets
/// price the programs unshared, as the back end then runs them or cheaper.
pub fn searches_sharing(profile: &Profile) -> bool {
    let rate = |c| profile.ops_per_cycle(Precision::I32, c);
    profile.shift_add == ShiftAddForm::Datapath || rate(OpClass::Add) > TERM_INSTRUCTIONS as f64 * rate(OpClass::Mul)
}

/// How the cost model prices a target's integer contractions: what its profile says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pricing {
    /// The form shift-add (and so the multiply form it is weighed against) is priced in.
    pub form: ShiftAddForm,
    /// Whether partials shared across the output channels are searched ([`searches_sharing`]).
    pub share: bool,
}

impl Pricing {
    /// The pricing `profile` asks for.
    pub fn of(profile: &Profile) -> Pricing {
        Pricing { form: profile.shift_add, share: searches_sharing(profile) }
    }
}

/// Whether `coding`'s shared programs run in fewer instructions per pixel than its plain
/// ones: the terms they save against the gather and the partials.
pub fn sharing_pays(coding: &Coding) -> bool {
    coding.shared.is_some_and(|s| {
        s.terms * TERM_INSTRUCTIONS + s.taps * GATHER_INSTRUCTIONS + s.partials * PARTIAL_INSTRUCTIONS
            < coding.nonzeros * TERM_INSTRUCTIONS
    })
}

/// Bits of the datapath's weight recoder's add (`3w = w + 2w` for an 8-bit `w`).
const RECODE_BITS: u32 = 10;

/// What a shift-add kernel or datapath executes.
pub(crate) struct Executed {
    /// Terms added or subtracted (non-zero digits, or shared programs' terms).
    pub terms: u64,
    /// Partials computed (once per pixel each).
    pub partials: u64,
    /// Taps gathered into the scratch (the kernel form only).
    pub gathered: u64,
    /// Plane steps (a shift and an addition per output and plane; on a datapath the shift is
    /// by a constant, wiring).
    pub plane_steps: u64,
    /// Weights recoded into digits as they are read (the datapath form only).
    pub recoded: u64,
}

/// `mult` (the multiply form's work, multiply-accumulates at precision `p`) as shift-add work
/// in `form` for weights coded as `coding`, with `outputs` output elements.
pub fn shift_add_work(mult: &Work, p: Precision, coding: &Coding, outputs: u64, form: ShiftAddForm) -> Work {
    let mut w = *mult;
    let macs = w.ops.take(p, OpClass::Fma) + w.scalar.take(p, OpClass::Fma);
    let e = executed(form, macs, coding, outputs);
    match form {
        ShiftAddForm::Kernel => {
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
        }
        ShiftAddForm::Datapath => {
            let (term, accumulate) = datapath_widths(p, macs, outputs);
            at_width(&mut w.ops, OpClass::Add, e.terms + e.partials, term);
            at_width(&mut w.ops, OpClass::Add, e.plane_steps, accumulate);
            at_width(&mut w.ops, OpClass::Add, e.recoded, RECODE_BITS);
        }
    }
    w
}

/// The multiply form's work `mult` (multiply-accumulates at precision `p`, `outputs` output
/// elements) as `form` prices it: as counted for the kernel form; on a datapath, each
/// multiply-accumulate a `p` multiply and an accumulate add of the width its sum needs.
pub fn multiply_work(mult: &Work, p: Precision, outputs: u64, form: ShiftAddForm) -> Work {
    let mut w = *mult;
    if form == ShiftAddForm::Datapath {
        let macs = w.ops.take(p, OpClass::Fma) + w.scalar.take(p, OpClass::Fma);
        w.ops.add(p, OpClass::Mul, macs);
        at_width(&mut w.ops, OpClass::Add, macs, datapath_widths(p, macs, outputs).1);
    }
    w
}

/// The datapath's adder widths for `macs` multiply-accumulates of `p` operands into `outputs`
/// sums: a digit term's (`b + 1 + ⌈log2 K⌉` bits) and an accumulator's (`2b + ⌈log2 K⌉`).
fn datapath_widths(p: Precision, macs: u64, outputs: u64) -> (u32, u32) {
    let b = match p {
        Precision::I8 => 8,
        Precision::I16 => 16,
        Precision::I32 | Precision::F32 => 32,
    };
    let taps = macs.div_ceil(outputs.max(1)).max(1);
    let log = taps.next_power_of_two().trailing_zeros();
    (b + 1 + log, 2 * b + log)
}

/// Adds `count` operations of class `c` on `bits`-bit integers to `ops`: between two of the
/// widths the profile prices (8, 16, 32 bits) the count is split in proportion to where `bits`
/// lies, so that its energy is the linear interpolation of theirs (below 8 bits as 8, above 32
/// as 32, which no contraction of fewer than 2^16 taps of 8-bit operands reaches).
fn at_width(ops: &mut OpCounts, c: OpClass, count: u64, bits: u32) {
    const WIDTHS: [(u32, Precision); 3] = [(8, Precision::I8), (16, Precision::I16), (32, Precision::I32)];
    let Some(i) = WIDTHS.iter().position(|&(w, _)| bits <= w) else {
        return ops.add(Precision::I32, c, count);
    };
    if i == 0 || bits == WIDTHS[i].0 {
        return ops.add(WIDTHS[i].1, c, count);
    }
    let ((lo, p_lo), (hi, p_hi)) = (WIDTHS[i - 1], WIDTHS[i]);
    let upper = (count as u128 * (bits - lo) as u128 / (hi - lo) as u128) as u64;
    ops.add(p_hi, c, upper);
    ops.add(p_lo, c, count - upper);
}

/// Whether `coding`'s shared programs need fewer adders than its plain ones on a datapath:
/// the terms they save against the partials (both at the digit terms' width).
fn datapath_sharing_pays(coding: &Coding) -> bool {
    coding.shared.is_some_and(|s| s.terms + s.partials < coding.nonzeros)
}

/// What `form` executes in place of `macs` multiply-accumulates (each weight is used
/// `macs / weights` times: once per pixel): the terms of its programs, the shared partials
/// where they pay ([`sharing_pays`] for the kernel, fewer adders on a datapath), the kernel's
/// gather, the plane steps, and the datapath's recoding of each weight.
pub(crate) fn executed(form: ShiftAddForm, macs: u64, coding: &Coding, outputs: u64) -> Executed {
    let per_pixel = |n: u64| {
        if coding.weights == 0 {
            0
        } else {
            (macs as u128 * n as u128 / coding.weights as u128) as u64
        }
    };
    let plane_steps = outputs.saturating_mul(coding.planes as u64);
    let (pays, recoded) = match form {
        ShiftAddForm::Kernel => (sharing_pays(coding), 0),
        ShiftAddForm::Datapath => (datapath_sharing_pays(coding), coding.weights),
    };
    let plain = Executed { terms: per_pixel(coding.nonzeros), partials: 0, gathered: 0, plane_steps, recoded };
    match coding.shared.filter(|_| pays) {
        Some(s) => Executed {
            terms: per_pixel(s.terms),
            partials: per_pixel(s.partials),
            gathered: if form == ShiftAddForm::Kernel { per_pixel(s.taps) } else { 0 },
            ..plain
        },
        None => plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shiftadd::mcm::Sharing;
    use crate::shiftadd::Recoding;

    #[test]
    fn sharing_is_searched_on_the_slow_multiplier_and_the_datapath_only() {
        let searched = |t| searches_sharing(&crate::cost::resolve(Some(t), None).expect("a shipped target"));
        assert!(searched("cortex-m0plus") && searched("asic45"));
        for t in ["host", "rpi3", "cortex-m4"] {
            assert!(!searched(t), "{t}");
        }
    }

    #[test]
    fn macs_become_the_term_loop_per_nonzero_digit_plus_the_plane_combination() {
        let mult = macs(1000);
        // 10 outputs over 100 weights (10 taps each) with 250 non-zero digits in 3 planes.
        let coding = Coding { recoding: Recoding::Csd, nonzeros: 250, weights: 100, planes: 3, shared: None };
        let w = shift_add_work(&mult, Precision::I8, &coding, 10, ShiftAddForm::Kernel);
        assert_eq!(w.ops.get(Precision::I8, OpClass::Fma), 0);
        assert_eq!(w.ops.total(OpClass::Add), 0, "nothing in vector lanes");
        assert_eq!(w.scalar.get(Precision::I32, OpClass::Add), 2500 * 6 + 30 * 20);
        assert_eq!(w.bytes, 500 - 100 + 500);
    }

    #[test]
    fn shared_partials_are_priced_once_per_pixel_where_they_pay() {
        let mult = macs(1000);
        // 10 pixels of 10 channels by 10 taps: 250 digits → 150 terms with 20 partials.
        let sharing = Sharing { taps: 10, partials: 20, terms: 150 };
        let coding = Coding { recoding: Recoding::Csd, nonzeros: 250, weights: 100, planes: 3, shared: Some(sharing) };
        assert!(sharing_pays(&coding), "150·6 + 10·13 + 20·14 < 250·6");
        let w = shift_add_work(&mult, Precision::I8, &coding, 100, ShiftAddForm::Kernel);
        let per_pixel = 150 * TERM_INSTRUCTIONS + 10 * GATHER_INSTRUCTIONS + 20 * PARTIAL_INSTRUCTIONS;
        assert_eq!(w.scalar.get(Precision::I32, OpClass::Add), 10 * per_pixel + 300 * PLANE_INSTRUCTIONS);
        assert_eq!(w.bytes, 500 - 100 + 2 * (150 + 10 + 40));
        // Sharing that saves too little is not priced (nor run).
        let few = Coding { shared: Some(Sharing { taps: 10, partials: 20, terms: 240 }), ..coding };
        assert!(!sharing_pays(&few));
        let adds = |c: &Coding| {
            shift_add_work(&mult, Precision::I8, c, 100, ShiftAddForm::Kernel).scalar.get(Precision::I32, OpClass::Add)
        };
        assert_eq!(adds(&few), adds(&Coding { shared: None, ..coding }));
    }

    /// A multiply form of `n` 8-bit multiply-accumulates moving 500 bytes.
    fn macs(n: u64) -> Work {
        let mut mult = Work::default();
        mult.ops.add(Precision::I8, OpClass::Fma, n);
        mult.bytes = 500;
        mult
    }

    /// `n` `bits`-bit additions, as [`at_width`] counts them.
    fn adds(n: u64, bits: u32) -> OpCounts {
        let mut ops = OpCounts::default();
        at_width(&mut ops, OpClass::Add, n, bits);
        ops
    }

    #[test]
    fn an_adder_is_priced_between_the_profiles_widths() {
        let asic = crate::cost::load_target("asic45").unwrap();
        let pj = |ops: &OpCounts| {
            Precision::ALL
                .iter()
                .map(|&p| ops.get(p, OpClass::Add) as f64 * asic.energy.op_pj(p, OpClass::Add))
                .sum::<f64>()
        };
        // Horowitz's figures where they are given, the line between them elsewhere.
        for (bits, expected) in [(4, 0.03), (8, 0.03), (12, 0.04), (16, 0.05), (24, 0.075), (32, 0.1), (40, 0.1)] {
            let ops = adds(1000, bits);
            assert_eq!(Precision::ALL.iter().map(|&p| ops.get(p, OpClass::Add)).sum::<u64>(), 1000, "{bits}");
            assert!((pj(&ops) / 1000.0 - expected).abs() < 1e-9, "{bits} bits: {} pJ", pj(&ops) / 1000.0);
        }
    }

    #[test]
    fn a_datapath_multiplies_and_accumulates_at_the_width_of_the_sum() {
        let mult = macs(6400);
        // 100 outputs of 64 taps: products of 16 bits, sums of 22.
        let w = multiply_work(&mult, Precision::I8, 100, ShiftAddForm::Datapath);
        assert_eq!(w.ops.get(Precision::I8, OpClass::Fma), 0);
        assert_eq!(w.ops.get(Precision::I8, OpClass::Mul), 6400);
        assert_eq!(w.ops, {
            let mut ops = adds(6400, 22);
            ops.add(Precision::I8, OpClass::Mul, 6400);
            ops
        });
        assert_eq!(w.bytes, 500);
        assert_eq!(multiply_work(&mult, Precision::I8, 100, ShiftAddForm::Kernel), mult);
    }

    #[test]
    fn a_datapath_adds_each_digit_at_the_planes_width_and_reads_the_same_bytes() {
        let mult = macs(6400);
        // One channel of 64 taps at 100 pixels: 160 non-zero digits in 7 planes.
        let coding = Coding { recoding: Recoding::Csd, nonzeros: 160, weights: 64, planes: 7, shared: None };
        let w = shift_add_work(&mult, Precision::I8, &coding, 100, ShiftAddForm::Datapath);
        assert_eq!(w.ops.total(OpClass::Fma) + w.ops.total(OpClass::Mul), 0);
        assert_eq!(w.scalar, OpCounts::default(), "nothing fetched or looped over");
        // Digit terms into 15-bit plane sums, 100 outputs × 7 planes into the 22-bit
        // accumulator, the recoder once per weight; no shifter: the planes' shifts are by one
        // place, wiring.
        let expected = |terms: u64| {
            let mut ops = adds(terms, 15);
            ops.merge(&adds(700, 22));
            ops.merge(&adds(64, RECODE_BITS));
            ops
        };
        assert_eq!(w.ops, expected(16000), "100 pixels × 160 digits");
        assert_eq!(w.bytes, 500, "the 8-bit weights, recoded as they are read");
        // Shared partials: fewer adds in all, at the same width; no gather.
        let shared = Coding { shared: Some(Sharing { taps: 64, partials: 20, terms: 100 }), ..coding };
        let e = executed(ShiftAddForm::Datapath, 6400, &shared, 100);
        assert_eq!((e.terms, e.partials, e.gathered, e.recoded), (10000, 2000, 0, 64));
        let w = shift_add_work(&mult, Precision::I8, &shared, 100, ShiftAddForm::Datapath);
        assert_eq!(w.ops, expected(12000));
        // Partials that save no adder are not used.
        let none = Coding { shared: Some(Sharing { taps: 64, partials: 20, terms: 140 }), ..coding };
        assert_eq!(executed(ShiftAddForm::Datapath, 6400, &none, 100).partials, 0);
    }
}
