//! Signed power-of-two (SPT) integers: an integer written as a sum of a few terms ±2^i, so that a
//! product by it is that many shifts and one addition fewer. These are the levels of the
//! power-of-two and k-term weight grids ([`super::quant::WeightGrid::Spt`]).
//!
//! The fewest terms of an integer are the non-zero digits of its non-adjacent form (NAF,
//! Reitwiesner 1960): a signed binary representation with digits in {−1, 0, 1} and no two
//! adjacent non-zero digits, which has minimal weight among all signed-digit representations
//! (and a sum of k terms ±2^i is one, once equal shifts are merged). The grids are therefore
//! "all integers whose NAF has at most k non-zero digits" — a superset of APoT's additive
//! levels (Li et al., ICLR 2020, which draw each term from its own set) and the SPT weights of
//! DeepShift (k = 1) and ShiftAddLLM.

/// One term `±2^shift` of an SPT integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SptTerm {
    /// Whether the term is subtracted.
    pub negative: bool,
    /// The power of two.
    pub shift: u32,
}

impl SptTerm {
    /// The term's value.
    pub fn value(self) -> i64 {
        let v = 1i64 << self.shift;
        if self.negative {
            -v
        } else {
            v
        }
    }
}

/// The terms of `q`'s non-adjacent form, lowest shift first: the fewest powers of two whose
/// signed sum is `q` (none for 0). `127` is `2^7 − 2^0`, `85` needs four terms.
pub fn spt_terms(q: i32) -> Vec<SptTerm> {
    let mut terms = Vec::new();
    let mut n = i64::from(q);
    let mut shift = 0;
    while n != 0 {
        if n & 1 == 1 {
            // n ≡ 1 (mod 4) takes digit +1, n ≡ 3 takes −1: what remains is divisible by 4, so
            // the next digit is 0 (non-adjacency).
            let negative = n.rem_euclid(4) == 3;
            terms.push(SptTerm { negative, shift });
            n += if negative { 1 } else { -1 };
        }
        n >>= 1;
        shift += 1;
    }
    terms
}

/// The integers in `[-max_abs, max_abs]` that are a sum of at most `terms` signed powers of two,
/// ascending. `spt_levels(1, 127)` is `{0, ±1, ±2, ±4, …, ±64}`.
pub fn spt_levels(terms: usize, max_abs: i32) -> Vec<i32> {
    let max_abs = max_abs.max(0);
    (-max_abs..=max_abs).filter(|&q| spt_terms(q).len() <= terms).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fewest signed powers of two (shifts up to 8) summing to each of -127..=127, by
    /// breadth-first search: an independent check of the NAF's minimality.
    fn fewest_terms_by_search() -> std::collections::HashMap<i64, usize> {
        let powers: Vec<i64> = (0..=8).flat_map(|i| [1i64 << i, -(1i64 << i)]).collect();
        let mut best = std::collections::HashMap::from([(0i64, 0usize)]);
        let mut frontier = vec![0i64];
        for k in 1..=5 {
            let mut next = Vec::new();
            for &v in &frontier {
                for &p in &powers {
                    let w = v + p;
                    if w.abs() <= 512 && !best.contains_key(&w) {
                        best.insert(w, k);
                        next.push(w);
                    }
                }
            }
            frontier = next;
        }
        best
    }

    #[test]
    fn terms_sum_to_q_and_are_fewest() {
        let fewest = fewest_terms_by_search();
        for q in -127..=127 {
            let terms = spt_terms(q);
            assert_eq!(terms.iter().map(|t| t.value()).sum::<i64>(), i64::from(q), "q = {q}");
            assert_eq!(terms.len(), fewest[&i64::from(q)], "q = {q}: {terms:?}");
            // Non-adjacent: shifts at least two apart.
            assert!(terms.windows(2).all(|w| w[1].shift >= w[0].shift + 2), "q = {q}: {terms:?}");
        }
    }

    #[test]
    fn known_forms() {
        let t = |negative, shift| SptTerm { negative, shift };
        assert_eq!(spt_terms(0), vec![]);
        assert_eq!(spt_terms(127), vec![t(true, 0), t(false, 7)]);
        assert_eq!(spt_terms(-6), vec![t(false, 1), t(true, 3)]);
        assert_eq!(spt_terms(85).len(), 4);
    }

    #[test]
    fn levels() {
        assert_eq!(spt_levels(1, 127), vec![-64, -32, -16, -8, -4, -2, -1, 0, 1, 2, 4, 8, 16, 32, 64]);
        let two = spt_levels(2, 127);
        assert!(two.contains(&127) && two.contains(&96) && two.contains(&-3) && !two.contains(&11));
        assert_eq!(spt_levels(4, 127).len(), 255);
        assert_eq!(spt_levels(0, 127), vec![0]);
    }
}
