//! Integer requantization for cores without a float unit (ARMv6-M): the store of an integer
//! kernel's i32 sum as a table of steps, computed at generation, that the kernel searches with
//! integer comparisons instead of running the float formula in software.
//!
//! The kernels' float store of a channel's sum `s` (with its offset) is
//! `v = f32(s) · mul + bias`, clamped to `[lo, hi]`, then `round_half_even(v · inv)` clamped to
//! `[qmin - zero, qmax - zero]`, plus `zero` (`m_requant` and `m_quantize` in
//! `kernels/quant.rs`). Every step is a correctly rounded IEEE operation or a clamp, each
//! non-decreasing in its argument when `mul ≥ 0` and `inv > 0` (rounding to nearest of a larger
//! real never gives a smaller float), so the stored integer is a non-decreasing step function of
//! `s` over all of i32 with at most `qmax - qmin` steps. [`Store::steps`] finds, for each
//! level above the lowest, the smallest `s` reaching it (binary search over i32, evaluating the
//! same f32 formula here); the kernel then stores `q0 + #{k : t_k ≤ s}`, which equals the float
//! result for every i32 `s`, ties and saturation included. A channel with a negative or
//! non-finite scale, or a non-finite bias, gets no table (the layer keeps the float store).
//!
//! The thresholds lie on a line up to the float formula's rounding (`t_k ≈ t_1 + (k-1) / (mul ·
//! inv)`), so a channel's table is that line and a 4-bit signed correction per threshold
//! ([`compact`]): `t_k = base + ((k · d) >> f) + c_k`, about a seventh of the bytes of the
//! thresholds themselves (255 levels: 148 bytes instead of 1,028). The kernel's search builds
//! `k` bit by bit from the highest, so `k · d` is a sum of shifts of `d` (no multiply).

/// The float store of one layer's integer kernel into an integer output: what the kernels
/// compute for every channel, given the channel's `mul` and `bias`.
#[derive(Clone, Copy, Debug)]
pub struct Store {
    /// The fused clamp's lower bound (a ReLU or Clip; `-inf` without one).
    pub lo: f32,
    /// The fused clamp's upper bound.
    pub hi: f32,
    /// The output's inverse scale.
    pub inv: f32,
    /// The output's zero point.
    pub zero: f32,
    /// The output type's smallest value.
    pub qmin: f32,
    /// The output type's largest value.
    pub qmax: f32,
}

/// `1.5 · 2^23`: adding and taking it away rounds an f32 below 2^22 to an integer, half to even
/// (the kernels' `m_quantize`).
const MAGIC: f32 = 12582912.0;

impl Store {
    /// The integer the kernels' float path stores for the sum `s` of a channel with scale `mul`
    /// and bias `bias`: the same f32 operations in the same order (`m_quantize` off 32-bit Arm;
    /// its Arm variant differs only for a NaN value, which finite terms never give).
    #[allow(clippy::manual_clamp)] // the kernels' order of max and min, which never panics
    pub fn level(&self, s: i32, mul: f32, bias: f32) -> i32 {
        let v = s as f32 * mul + bias;
        let q = (v.max(self.lo).min(self.hi) * self.inv).max(self.qmin - self.zero).min(self.qmax - self.zero);
        ((q + MAGIC) - MAGIC + self.zero) as i32
    }

    /// Whether the stored integer is a non-decreasing function of the sum for a channel with
    /// `mul` and `bias`, which the steps need (see the module doc).
    fn monotone(&self, mul: f32, bias: f32) -> bool {
        let finite = [mul, bias, self.inv, self.zero, self.qmin, self.qmax].iter().all(|v| v.is_finite());
        finite && mul >= 0.0 && self.inv > 0.0 && !self.lo.is_nan() && !self.hi.is_nan() && self.qmin <= self.qmax
    }

    /// The steps of a channel with `mul` and `bias`: `[q0, n, t_1, …, t_n]`, `q0` the integer
    /// stored for `i32::MIN`, `t_k` the smallest sum whose stored integer is at least `q0 + k`
    /// (non-decreasing; equal ones where one unit of the sum spans several levels). `None` when
    /// the store is not monotone in the sum.
    pub fn steps(&self, mul: f32, bias: f32) -> Option<Vec<i32>> {
        if !self.monotone(mul, bias) {
            return None;
        }
        let f = |s: i64| self.level(s as i32, mul, bias);
        let (q0, top) = (f(i32::MIN as i64), f(i32::MAX as i64));
        let mut steps = vec![q0, top - q0];
        let mut from = i32::MIN as i64;
        for level in q0 + 1..=top {
            // f(lo) < level <= f(hi).
            let (mut lo, mut hi) = (from, i32::MAX as i64);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if f(mid) >= level {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            steps.push(hi as i32);
            from = hi - 1;
        }
        Some(steps)
    }
}

/// The most thresholds a channel's table holds: 8-bit outputs (the kernel's search takes 8
/// bits of `k`).
const MOST: usize = 255;

/// A channel's [`Store::steps`] `[q0, n, t_1, …, t_n]` as the kernels read them: `[q0, n, base,
/// d, f]` and then `c_1, …, c_n` (4-bit two's complement, eight to an i32 word from its low
/// bits), with `t_k = base + ((k · d) >> f) + c_k` (wrapping i32 arithmetic, which gives `t_k`
/// exactly as it is an i32). `n · d < 2^31`, so every `k · d` the search forms is exact.
/// `None` when `steps` is not of that form, has more than [`MOST`] thresholds, or a correction
/// is not in `-8..=7`.
pub fn compact(steps: &[i32]) -> Option<Vec<i32>> {
    let [q0, n, ref t @ ..] = *steps else { return None };
    let n = usize::try_from(n).ok()?;
    let t: Vec<i64> = t.iter().map(|&t| t as i64).collect();
    if n > MOST || t.len() != n {
        return None;
    }
    let span = if n > 1 { t[n - 1] - t[0] } else { 0 };
    // The finest fixed point whose n · d stays below 2^31.
    let (mut d, mut f) = (0i64, 0u32);
    for bits in (0..=20).rev() {
        let dd = if n > 1 { ((span << bits) + (n as i64 - 1) / 2) / (n as i64 - 1) } else { 0 };
        if dd * (n as i64) < 1 << 31 {
            (d, f) = (dd, bits);
            break;
        }
    }
    let line = |k: i64| (k * d) >> f;
    let base = t.first().map_or(0, |&t1| t1 - line(1));
    let mut nibbles = Vec::with_capacity(n);
    for (k, &tk) in (1..).zip(&t) {
        let c = tk - base - line(k);
        if !(-8..=7).contains(&c) {
            return None;
        }
        nibbles.push(c as u32 & 15);
    }
    // Wrapped to i32: the kernel's wrapping sums give every t_k all the same.
    let mut table = vec![q0, n as i32, base as i32, d as i32, f as i32];
    table.extend(nibbles.chunks(8).map(|c| c.iter().rev().fold(0u32, |word, &v| word << 4 | v) as i32));
    Some(table)
}

/// The table the kernels search for `channels` channels with scales `mul` and biases `bias`:
/// each channel's start in the table, then each channel's [`compact`] steps. `None` when a
/// channel has no steps, or none that compact.
pub fn table(store: &Store, mul: &[f32], bias: &[f32]) -> Option<Vec<i32>> {
    let mut table: Vec<i32> = vec![0; mul.len()];
    for (ch, (&m, &b)) in mul.iter().zip(bias).enumerate() {
        let steps = compact(&store.steps(m, b)?)?;
        table[ch] = i32::try_from(table.len()).ok()?;
        table.extend(steps);
    }
    Some(table)
}

#[cfg(test)]
mod tests {
    use super::{table, Store};

    /// Header words of a channel's table: `q0, n, base, d, f`; the corrections follow.
    const HEADER: usize = 5;

    /// What the kernels store for `s` in the channel `ch` of `table`: `q0 + #{k : t_k ≤ s}`, by
    /// the kernels' search (`m_steps`, which `kernels::shiftadd`'s test checks against the float
    /// formula itself; this test-only mirror checks the tables built here): `k` from its highest bit down, each bit kept when
    /// `t_k ≤ s` for the `k` with it.
    fn search(table: &[i32], ch: usize, s: i32) -> i32 {
        let at = table[ch] as usize;
        let (q0, n, base, d, f) = (table[at], table[at + 1] as usize, table[at + 2], table[at + 3], table[at + 4]);
        let corr = &table[at + HEADER..];
        let (mut k, mut kd) = (0usize, 0i32);
        for bit in (0..8).rev() {
            let (k2, kd2) = (k + (1 << bit), kd.wrapping_add(d.wrapping_shl(bit)));
            if k2 <= n {
                let c = (corr[(k2 - 1) >> 3] << (28 - 4 * ((k2 - 1) & 7))) >> 28;
                if base.wrapping_add(kd2.wrapping_shr(f as u32)).wrapping_add(c) <= s {
                    (k, kd) = (k2, kd2);
                }
            }
        }
        q0 + k as i32
    }

    const I8: Store =
        Store { lo: f32::NEG_INFINITY, hi: f32::INFINITY, inv: 1.0, zero: 0.0, qmin: -128.0, qmax: 127.0 };

    /// Every sum of `range` stores through the table what the float formula stores.
    fn agrees(store: &Store, mul: f32, bias: f32, range: std::ops::RangeInclusive<i32>) {
        let t = table(store, &[mul], &[bias]).expect("monotone");
        for s in range {
            assert_eq!(search(&t, 0, s), store.level(s, mul, bias), "s = {s}, mul = {mul}, bias = {bias}");
        }
    }

    #[test]
    fn ties_round_to_even_as_the_float_path_does() {
        // s · 0.5 is a tie for every odd s: 1 → 0, 3 → 2, -1 → -0, -3 → -2.
        let t = table(&I8, &[0.5], &[0.0]).unwrap();
        assert_eq!([1, 3, 5, -1, -3].map(|s| search(&t, 0, s)), [0, 2, 2, 0, -2]);
        agrees(&I8, 0.5, 0.0, -300..=300);
        agrees(&I8, 0.25, 0.125, -1000..=1000);
    }

    #[test]
    fn saturation_clamps_and_zero_points_match() {
        let relu6 = Store { lo: 0.0, hi: 6.0, inv: 1.0 / 0.0235, zero: -128.0, ..I8 };
        agrees(&relu6, 0.00037, -0.3, -100_000..=100_000);
        let u8 = Store { inv: 1.0 / 0.05, zero: 17.0, qmin: 0.0, qmax: 255.0, ..I8 };
        agrees(&u8, 1.3e-4, 0.71, -300_000..=300_000);
        // The extremes of i32.
        agrees(&u8, 1.3e-4, 0.71, i32::MIN..=i32::MIN + 3);
        agrees(&u8, 1.3e-4, 0.71, i32::MAX - 3..=i32::MAX);
    }

    #[test]
    fn several_levels_per_unit_repeat_a_threshold() {
        agrees(&I8, 37.0, 0.0, -10..=10);
        let t = table(&I8, &[37.0], &[0.0]).unwrap();
        assert_eq!(t[2], 255, "every level is reached");
    }

    #[test]
    fn a_table_is_a_line_and_four_bits_per_threshold() {
        // 255 thresholds: 5 header words and 32 words of corrections.
        let t = table(&I8, &[1.7e-3], &[0.2]).unwrap();
        assert_eq!(t.len(), 1 + 5 + 32);
        // Corrections of -8 and 7 round trip; thresholds further off the line do not compact.
        assert_eq!(super::compact(&[0, 3, 0, 7, 0]).unwrap(), vec![0, 3, 0, 0, 20, 0x70]);
        assert_eq!(super::compact(&[0, 3, 0, -8, 0]).unwrap(), vec![0, 3, 0, 0, 20, 0x80]);
        assert!(super::compact(&[0, 3, 0, 8, 0]).is_none());
        assert!(super::compact(&[0]).is_none() && super::compact(&[0, 2, 5]).is_none(), "malformed");
        assert!(super::compact(&[0, 3, 0, 1000, 1001]).is_none());
        assert_eq!(super::compact(&[7, 1, -5]).unwrap(), vec![7, 1, -5, 0, 20, 0]);
    }

    #[test]
    fn negative_or_non_finite_terms_get_no_table() {
        assert!(table(&I8, &[1.0, -0.5], &[0.0, 0.0]).is_none());
        assert!(table(&I8, &[f32::NAN], &[0.0]).is_none());
        assert!(table(&I8, &[1.0], &[f32::INFINITY]).is_none());
        assert_eq!(table(&I8, &[0.0], &[3.4]).unwrap(), vec![1, 3, 0, 0, 0, 20], "a constant channel");
    }
}
