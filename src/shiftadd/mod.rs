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
//! kernels, the weights written as digit programs ([`program`]), with the partial products
//! that many output channels add computed once and shared ([`mcm`]) where that pays.

mod cost;
pub mod mcm;
pub mod program;

pub use cost::{multiply_work, searches_sharing, sharing_pays, shift_add_work, Pricing, MAX_PARTIALS, MIN_USES};

use crate::cost::{roofline, Precision, Profile, Work};
use crate::fit::spt::spt_terms;
use crate::graph::{ConstOrigin, Graph, ValueId, ValueKind};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The rule function that marks integer weights as digit-coded (`(@csd ?w)`).
pub const FUNCTION: &str = "csd";

/// The `doc_string` of a digit-coded weight tensor.
pub const CODED: &str = "gos-opt: shift-add digit planes";

/// How a weight tensor's integers are written as digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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

/// `w`'s non-zero digits and planes under `recoding` (from a table for 9-bit values: the cost
/// model asks for every weight of a layer each time it prices one).
fn digit_counts(w: i32, recoding: Recoding) -> (u32, u32) {
    fn count(w: i32, r: Recoding) -> (u32, u32) {
        let d = digits(w, r);
        (d.len() as u32, d.last().map_or(0, |d| d.shift + 1))
    }
    static TABLE: OnceLock<Vec<[(u32, u32); 2]>> = OnceLock::new();
    let table =
        TABLE.get_or_init(|| (-256..256).map(|w| [count(w, Recoding::Csd), count(w, Recoding::Binary)]).collect());
    match usize::try_from(w + 256) {
        Ok(i) if i < table.len() => table[i][recoding as usize],
        _ => count(w, recoding),
    }
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
    /// The programs with partials shared across the output channels ([`mcm`]), when the
    /// contraction's layout allows it (one group) and some pattern occurs [`MIN_USES`] times.
    pub shared: Option<mcm::Sharing>,
}

/// How a contraction's weights lie, for sharing partials across its output channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `[channels][taps]` (a Conv of one group; a Gemm with `transB`).
    Rows(usize),
    /// `[taps][channels]` (a MatMul; a Gemm without `transB`).
    Columns(usize),
    /// Nothing shared (a grouped convolution: each group has its own inputs).
    Unshared,
}

impl Layout {
    /// The layout of the weights (of shape `shape`) of contraction `op`.
    pub fn of(op: &crate::ops::Op, shape: &[usize]) -> Layout {
        use crate::ops::Op;
        match (op, shape) {
            (Op::Conv(c), [m, ..]) if c.attrs.group == 1 => Layout::Rows(*m),
            (Op::Gemm(g), [n, _]) if g.trans_b => Layout::Rows(*n),
            (Op::Gemm(_) | Op::MatMul(_), [_, n]) => Layout::Columns(*n),
            _ => Layout::Unshared,
        }
    }

    /// `values` as one weight vector per output channel, when the layout shares.
    pub fn channels(self, values: &[i32]) -> Option<Vec<Vec<i32>>> {
        match self {
            Layout::Rows(n) if n > 0 && values.len().is_multiple_of(n) => {
                Some(values.chunks(values.len() / n).map(<[i32]>::to_vec).collect())
            }
            Layout::Columns(n) if n > 0 && values.len().is_multiple_of(n) => {
                Some((0..n).map(|j| values.iter().skip(j).step_by(n).copied().collect()).collect())
            }
            _ => None,
        }
    }
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
            let (n, p) = digit_counts(w, recoding);
            nonzeros += n as u64;
            planes = planes.max(p);
        }
        Coding { recoding, nonzeros, weights: values.len() as u64, planes, shared: None }
    }

    /// [`Coding::choose`] with the partials shared across the channels of `layout`
    /// ([`mcm::Shared::find`], patterns used at least [`MIN_USES`] times), remembered per
    /// weight tensor: the extractor prices a layer many times, the greedy takes up to a
    /// second on the largest layers.
    pub fn of_contraction(values: &[i32], layout: Layout) -> Coding {
        use std::hash::{Hash, Hasher};
        static SEEN: OnceLock<Mutex<HashMap<u64, Option<mcm::Sharing>>>> = OnceLock::new();
        let coding = Coding::choose(values);
        let Some(channels) = layout.channels(values) else { return coding };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (values, layout).hash(&mut h);
        let key = h.finish();
        let seen = SEEN.get_or_init(Default::default);
        let known = seen.lock().expect("the sharing cache is never poisoned: no panics under it").get(&key).copied();
        let shared = known.unwrap_or_else(|| {
            let s = mcm::Shared::find(&channels, coding.recoding, MIN_USES, MAX_PARTIALS).sharing();
            let s = (s.partials > 0).then_some(s);
            seen.lock().expect("the sharing cache is never poisoned: no panics under it").insert(key, s);
            s
        });
        Coding { shared, ..coding }
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

/// The coding of constant `ints` when it is marked as digit-coded ([`CODED`]), read by a
/// contraction whose weights lie as `layout`.
pub fn coding_of(graph: &Graph, ints: ValueId, layout: Layout) -> Option<Coding> {
    let ValueKind::Const { tensor, origin: ConstOrigin::Initializer { doc_string, .. } } = &graph.value(ints).kind
    else {
        return None;
    };
    if doc_string != CODED {
        return None;
    }
    let values: Vec<i32> = tensor.to_i64_vec()?.into_iter().map(|v| v as i32).collect();
    Some(Coding::of_contraction(&values, layout))
}

/// A layer run by shift-add kernels, as the report shows it: its coding, the operations it
/// executes instead of multiplications, and what the multiply form would have cost.
#[derive(Clone, Debug, Serialize)]
pub struct ShiftAddChoice {
    /// The recoding of its weights.
    pub recoding: Recoding,
    /// Non-zero digits per weight.
    pub digits_per_weight: f64,
    /// Digit planes.
    pub planes: u32,
    /// Additions and subtractions executed (digits, shared partials, combining the planes, and
    /// on a datapath recoding the weights).
    pub additions: u64,
    /// Partials shared across the output channels, computed once per pixel (0: none).
    pub shared_partials: u64,
    /// Shifts executed (combining the planes).
    pub shifts: u64,
    /// The multiplications the multiply form executes (and this one does not).
    pub multiplications: u64,
    /// Predicted seconds of the multiply form.
    pub multiply_latency_s: f64,
    /// Predicted picojoules of the multiply form.
    pub multiply_energy_pj: f64,
}

impl ShiftAddChoice {
    /// The choice for weights coded as `coding`, from the multiply form's work (multiply-
    /// accumulates at precision `p`, as counted for a kernel) on `profile`, priced in the
    /// profile's form ([`Pricing`]); returns it with the shift-add work.
    pub fn price(
        profile: &Profile,
        mult: &Work,
        p: Precision,
        coding: &Coding,
        outputs: u64,
    ) -> (ShiftAddChoice, Work) {
        use crate::cost::OpClass;
        let form = profile.shift_add;
        let work = shift_add_work(mult, p, coding, outputs, form);
        let multiplications = mult.ops.get(p, OpClass::Fma) + mult.scalar.get(p, OpClass::Fma);
        let e = cost::executed(form, multiplications, coding, outputs);
        let m = roofline(profile, &multiply_work(mult, p, outputs, form));
        let choice = ShiftAddChoice {
            recoding: coding.recoding,
            digits_per_weight: coding.digits_per_weight(),
            planes: coding.planes,
            additions: e.terms + e.partials + e.plane_steps + e.recoded,
            shared_partials: coding.shared.filter(|_| e.partials > 0).map_or(0, |s| s.partials),
            shifts: e.plane_steps,
            multiplications,
            multiply_latency_s: m.latency_s,
            multiply_energy_pj: m.energy_pj,
        };
        (choice, work)
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
        assert_eq!(
            Coding::choose(&[7, 1]),
            Coding { recoding: Recoding::Csd, nonzeros: 3, weights: 2, planes: 4, shared: None }
        );
        assert_eq!(Coding::choose(&[0, 0]).nonzeros, 0);
    }
}
