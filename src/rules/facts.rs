//! Constant facts for rule conditions (`finite`, `pow2`, `int-range`, `lit-eq`), computed lazily
//! on first query and cached.
//!
//! A class has known values when it holds a literal (`Ir::Lit`) or a pool constant
//! (`Ir::Const`). A weight-only class without either (a `@function` result, a folded subtree)
//! would need evaluation: for now its facts are unknown and every condition on them is false.
//!
//! The cache is keyed by the constant tensor itself (its `Arc` allocation), not by e-class id:
//! a constant's facts never change, classes merge and get new canonical ids, and the same pool
//! is shared by every class that reads it. Entries hold a `Weak`, so a dropped model's tensors
//! are freed and a reused address is never mistaken for a cached one.

use crate::ir::{Ir, IrGraph};
use crate::tensor::Tensor;
use egg::Id;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Facts about every value of a constant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConstFacts {
    /// No value is infinite or NaN.
    pub finite: bool,
    /// Every value is ± an exact power of two (zero is not).
    pub pow2: bool,
    /// `(min, max)` when every value is an integer (`(i64::MAX, i64::MIN)` when there are none).
    pub int_range: Option<(i64, i64)>,
    /// The bits (as `f64`) shared by every value, when there is at least one and all are equal.
    pub all_equal: Option<u64>,
}

impl ConstFacts {
    /// The facts of a list of values.
    pub(crate) fn of(values: &[f64]) -> ConstFacts {
        let finite = values.iter().all(|v| v.is_finite());
        let pow2 = values.iter().all(|&v| is_pow2(v));
        let int_range = values.iter().try_fold((i64::MAX, i64::MIN), |(lo, hi), &v| {
            // `v as i64` saturates; the range check keeps only values that convert exactly.
            (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.2e18).then(|| (lo.min(v as i64), hi.max(v as i64)))
        });
        let all_equal = match values.split_first() {
            Some((first, rest)) if rest.iter().all(|v| v.to_bits() == first.to_bits()) => Some(first.to_bits()),
            _ => None,
        };
        ConstFacts { finite, pow2, int_range, all_equal }
    }
}

/// Whether `v` is ± 2^k for some integer k (subnormal powers included).
fn is_pow2(v: f64) -> bool {
    if !v.is_finite() || v == 0.0 {
        return false;
    }
    let bits = v.to_bits();
    let exponent = (bits >> 52) & 0x7ff;
    let mantissa = bits & ((1u64 << 52) - 1);
    if exponent == 0 {
        mantissa.is_power_of_two()
    } else {
        mantissa == 0
    }
}

type Cache = Mutex<HashMap<usize, (Weak<Tensor>, Arc<ConstFacts>)>>;

/// Cached entries beyond which dead ones are dropped.
const PRUNE_AT: usize = 4096;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn tensor_facts(tensor: &Arc<Tensor>) -> Option<Arc<ConstFacts>> {
    let key = Arc::as_ptr(tensor) as usize;
    {
        let map = cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((weak, facts)) = map.get(&key) {
            if weak.upgrade().is_some_and(|t| Arc::ptr_eq(&t, tensor)) {
                return Some(facts.clone());
            }
        }
    }
    // Computed outside the lock: two threads may both compute, the results are the same.
    let facts = Arc::new(ConstFacts::of(&tensor.to_f64_vec()?));
    let mut map = cache().lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= PRUNE_AT {
        map.retain(|_, (weak, _)| weak.strong_count() > 0);
    }
    map.insert(key, (Arc::downgrade(tensor), facts.clone()));
    Some(facts)
}

/// The facts of a class's values: from its literal or its pool constant; `None` when unknown.
pub(crate) fn class_facts(egraph: &IrGraph, id: Id) -> Option<Arc<ConstFacts>> {
    let class = &egraph[id];
    if let Some(lit) = class.data.lit {
        return Some(Arc::new(ConstFacts::of(&[lit.0])));
    }
    if !class.data.weight_only {
        return None;
    }
    class.nodes.iter().find_map(|node| match node {
        Ir::Const(c) => egraph.analysis.consts.get(&c.0).and_then(tensor_facts),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_of_values() {
        let f = ConstFacts::of(&[1.0, -0.5, 4.0]);
        assert!(f.finite && f.pow2 && f.int_range.is_none() && f.all_equal.is_none());
        let f = ConstFacts::of(&[3.0, -2.0, 0.0]);
        assert!(!f.pow2);
        assert_eq!(f.int_range, Some((-2, 3)));
        let f = ConstFacts::of(&[f64::INFINITY, 1.0]);
        assert!(!f.finite && !f.pow2);
        assert_eq!(ConstFacts::of(&[-0.0, -0.0]).all_equal, Some((-0.0f64).to_bits()));
        assert!(is_pow2(f64::from_bits(1)) && !is_pow2(f64::from_bits(3)) && !is_pow2(0.0));
    }

    #[test]
    fn cache_hits_for_the_same_tensor_only() {
        let a = Arc::new(Tensor::f32(vec![2], vec![1.0, 2.0]));
        let b = Arc::new(Tensor::f32(vec![2], vec![1.0, f32::NAN]));
        assert!(tensor_facts(&a).unwrap().finite);
        assert!(!tensor_facts(&b).unwrap().finite);
        assert!(Arc::ptr_eq(&tensor_facts(&a).unwrap(), &tensor_facts(&a).unwrap()));
    }
}
