//! Partial products shared across output channels (multiple constant multiplication, MCM):
//! pairs of signed taps `±x[a] ± x[b]` that many digit programs of one contraction add are
//! computed once per output pixel (per row of a matrix product), and the programs add the
//! partial instead of the two taps.
//!
//! The algorithm is Hartley's common-subexpression elimination on canonic signed digits
//! (R. Hartley, "Subexpression sharing in filters using canonic signed digit multipliers",
//! IEEE TCAS-II 43(10), 1996), applied as Voronenko and Püschel's Hcub does to many constants
//! at once (Y. Voronenko, M. Püschel, "Multiplierless multiple constant multiplication", ACM
//! TALG 3(2), 2007): greedy, most frequent subexpression first. The terms are those of the
//! programs of [`super::program`]: one program per output channel and digit plane, a set of
//! signed symbols (the taps `0..T`). A pattern is an unordered pair of symbols `a < b` with a
//! relative sign: `v[a] + v[b]` or `v[a] − v[b]`; it occurs in a program that holds both with
//! equal signs (the first) or opposite signs (the second), and there it is `±` the partial
//! (the sign of `a`'s term). Each step takes the pattern occurring in the most programs (ties:
//! the smallest `(a, b, sign)`), makes it a new symbol `T + j`, substitutes it in every program
//! where it occurs (two terms become one), updates the pair counts of the programs it changed,
//! and repeats while the best pattern occurs at least `min_uses` times (and up to a number of
//! partials, which bounds the scratch a kernel keeps per pixel). A new symbol pairs like
//! a tap, so partials of partials arise where they pay. Only pairs within one plane of one
//! channel are shared (Hartley's "vertical" patterns across the channels); patterns across
//! planes (`x[a] + 2^s x[b]`) are not searched.
//!
//! Where the sharing lives: in the back end's program encoder and in the cost function
//! ([`super::cost`]), not as e-graph nodes. A partial is a sum of two window taps, a function
//! of the weights of all the channels together; as e-nodes it would be a split of the
//! contraction into per-pixel gathers, pair sums and sparse dots, thousands of nodes per layer
//! whose only alternative is the whole digit-coded contraction, and the extractor would choose
//! them all or none. So the coded form stays one e-node whose cost is computed from the shared
//! programs ([`Sharing`]), which the lowering then encodes.
//!
//! Exact: a partial is an integer sum or difference of integers, so a program over taps and
//! partials sums the same integers as the program over taps alone.

use super::{digits, Recoding};
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// A shared partial: `v[a] + v[b]`, or `v[a] − v[b]` when `minus`, over symbols (the taps
/// `0..T`, then partial `j` as `T + j`); both come before the partial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partial {
    /// The first symbol.
    pub a: u32,
    /// The second symbol.
    pub b: u32,
    /// Whether `b` is subtracted.
    pub minus: bool,
}

/// One digit plane of one channel: the symbols added and those subtracted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plane {
    /// Symbols whose term is `+v`.
    pub pos: Vec<u32>,
    /// Symbols whose term is `−v`.
    pub neg: Vec<u32>,
}

/// The digit programs of a contraction with shared partials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shared {
    /// Taps of every channel (the symbols `0..taps`).
    pub taps: u32,
    /// The partials, in the order they are computed.
    pub partials: Vec<Partial>,
    /// Per channel, its planes from the highest (`planes − 1`) down to 0.
    pub programs: Vec<Vec<Plane>>,
    /// Digit planes of every program (0 when every weight is 0).
    pub planes: u32,
}

/// What sharing changes in a contraction's programs, for the cost model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sharing {
    /// Taps per channel (gathered once per pixel).
    pub taps: u64,
    /// Partials (computed once per pixel).
    pub partials: u64,
    /// Terms of all programs after sharing (the non-zero digits before).
    pub terms: u64,
}

impl Shared {
    /// The programs of `channels` (each a channel's weights, one per tap, all of equal length)
    /// under `recoding`, sharing every pair pattern occurring in at least `min_uses` programs
    /// (`min_uses ≥ 2`; `u32::MAX` shares nothing), the most frequent first, at most
    /// `max_partials` of them.
    pub fn find(channels: &[Vec<i32>], recoding: Recoding, min_uses: u32, max_partials: usize) -> Shared {
        let taps = channels.first().map_or(0, |c| c.len()) as u32;
        assert!(channels.iter().all(|c| c.len() == taps as usize), "channels of unequal taps");
        let coded: Vec<Vec<(u32, super::Digit)>> = channels
            .iter()
            .map(|w| {
                w.iter()
                    .enumerate()
                    .flat_map(|(t, &v)| digits(v, recoding).into_iter().map(move |d| (t as u32, d)))
                    .collect()
            })
            .collect();
        let planes = coded.iter().flatten().map(|(_, d)| d.shift + 1).max().unwrap_or(0);
        // One term set per (channel, plane from the highest): symbol → negative.
        let mut progs: Vec<Terms> = coded
            .iter()
            .flat_map(|c| {
                (0..planes)
                    .rev()
                    .map(move |p| c.iter().filter(|(_, d)| d.shift == p).map(|(t, d)| (*t, d.negative)).collect())
            })
            .collect();
        let found =
            if min_uses == u32::MAX { Vec::new() } else { share(&mut progs, taps, min_uses.max(2), max_partials) };
        let (partials, symbol) = by_level(&found, taps);
        let programs = progs
            .chunks(planes.max(1) as usize)
            .take(channels.len())
            .map(|c| {
                c.iter()
                    .map(|terms| {
                        let mut plane = Plane::default();
                        let mut sorted: Vec<(u32, bool)> = terms.iter().map(|(&s, &n)| (symbol(s), n)).collect();
                        sorted.sort_unstable();
                        for (s, n) in sorted {
                            if n {
                                plane.neg.push(s)
                            } else {
                                plane.pos.push(s)
                            }
                        }
                        plane
                    })
                    .collect()
            })
            .collect();
        let programs = if planes == 0 { vec![Vec::new(); channels.len()] } else { programs };
        Shared { taps, partials, programs, planes }
    }

    /// What the sharing changed, for the cost model.
    pub fn sharing(&self) -> Sharing {
        let terms = self.programs.iter().flatten().map(|p| (p.pos.len() + p.neg.len()) as u64).sum();
        Sharing { taps: self.taps as u64, partials: self.partials.len() as u64, terms }
    }

    /// The value of every channel's program on the taps `x` (one per tap): the reference the
    /// kernels' tests and the unit tests here compare with `Σ x · w`.
    pub fn eval(&self, x: &[i64]) -> Vec<i64> {
        let mut v = x[..self.taps as usize].to_vec();
        for p in &self.partials {
            let (a, b) = (v[p.a as usize], v[p.b as usize]);
            v.push(if p.minus { a - b } else { a + b });
        }
        let sum = |s: &[u32]| s.iter().map(|&s| v[s as usize]).sum::<i64>();
        self.programs.iter().map(|c| c.iter().fold(0, |acc, p| 2 * acc + sum(&p.pos) - sum(&p.neg))).collect()
    }
}

/// `partials` reordered by level (a partial of taps is on level 1, one of partials one level
/// above its higher operand), then sums before differences, so that the kernels compute them
/// in few runs of one kind each; with the map from the old symbols to the new.
fn by_level(partials: &[Partial], taps: u32) -> (Vec<Partial>, impl Fn(u32) -> u32) {
    let mut level = vec![0u32; partials.len()];
    let of = |level: &[u32], s: u32| if s < taps { 0 } else { level[(s - taps) as usize] };
    for (j, p) in partials.iter().enumerate() {
        level[j] = 1 + of(&level, p.a).max(of(&level, p.b));
    }
    let mut order: Vec<usize> = (0..partials.len()).collect();
    order.sort_by_key(|&j| (level[j], partials[j].minus, j));
    let mut new = vec![0u32; partials.len()];
    for (k, &j) in order.iter().enumerate() {
        new[j] = taps + k as u32;
    }
    let symbol = move |s: u32| if s < taps { s } else { new[(s - taps) as usize] };
    let reordered =
        order.iter().map(|&j| Partial { a: symbol(partials[j].a), b: symbol(partials[j].b), ..partials[j] }).collect();
    (reordered, symbol)
}

/// A program's terms: symbol → whether it is subtracted.
type Terms = HashMap<u32, bool, BuildHasherDefault<KeyHasher>>;

/// A pattern as one key: `a`, `b`, and the relative sign in the lowest bit.
type Key = u64;

/// The pattern of terms `(a, na)` and `(b, nb)` (in either order), and whether the partial
/// enters the program subtracted (the sign of the lower symbol's term).
fn pattern((a, na): (u32, bool), (b, nb): (u32, bool)) -> (Key, bool) {
    let ((a, na), (b, nb)) = if a < b { ((a, na), (b, nb)) } else { ((b, nb), (a, na)) };
    (((a as u64) << 33) | ((b as u64) << 1) | (na != nb) as u64, na)
}

/// The partial a key stands for.
fn partial(k: Key) -> Partial {
    Partial { a: (k >> 33) as u32, b: (k >> 1) as u32, minus: k & 1 == 1 }
}

/// The greedy: substitutes the most frequent pattern in `progs` while it occurs at least
/// `min_uses` times, up to `max_partials`; returns the partials made, the first numbered `taps`.
fn share(progs: &mut [Terms], taps: u32, min_uses: u32, max_partials: usize) -> Vec<Partial> {
    let mut counts: HashMap<Key, u32, BuildHasherDefault<KeyHasher>> = HashMap::default();
    for terms in progs.iter() {
        let t: Vec<(u32, bool)> = terms.iter().map(|(&s, &n)| (s, n)).collect();
        for (i, &x) in t.iter().enumerate() {
            for &y in &t[i + 1..] {
                *counts.entry(pattern(x, y).0).or_default() += 1;
            }
        }
    }
    // Lazy max-heap over the patterns counted at least `floor` times: an entry is current
    // while its count equals the map's. A count that grew is pushed when it grows; one that
    // fell is pushed again when its old entry comes up (so falls, two thirds of the changes,
    // push nothing). The floor starts high enough that the heap holds at most `SEED`
    // patterns, and falls (pushing the patterns between) when the heap runs dry: the
    // greedy is exact, and the heap stays small on layers with millions of patterns.
    const SEED: usize = 1 << 16;
    let mut heap: BinaryHeap<(u32, std::cmp::Reverse<Key>)> = BinaryHeap::new();
    let mut floor = u32::MAX;
    let mut partials = Vec::new();
    while partials.len() < max_partials {
        let Some((c, std::cmp::Reverse(k))) = heap.pop() else {
            if floor <= min_uses {
                break;
            }
            let above = floor;
            floor = lower_floor(&counts, floor, min_uses, SEED);
            let fresh = counts.iter().filter(|(_, &n)| (floor..above).contains(&n));
            heap.extend(fresh.map(|(&k, &n)| (n, std::cmp::Reverse(k))));
            continue;
        };
        match counts.get(&k) {
            Some(&now) if now == c => {}
            Some(&now) if now < c && now >= floor => {
                heap.push((now, std::cmp::Reverse(k)));
                continue;
            }
            _ => continue,
        }
        let p = partial(k);
        let s = taps + partials.len() as u32;
        partials.push(p);
        for terms in progs.iter_mut() {
            let (Some(&na), Some(&nb)) = (terms.get(&p.a), terms.get(&p.b)) else { continue };
            if (na != nb) != p.minus {
                continue;
            }
            terms.remove(&p.a);
            terms.remove(&p.b);
            let mut change = |key: Key, up: bool| {
                let n = counts.entry(key).or_default();
                *n = if up { *n + 1 } else { *n - 1 };
                if up && *n >= floor {
                    heap.push((*n, std::cmp::Reverse(key)));
                }
            };
            change(k, false);
            for (&o, &no) in terms.iter() {
                change(pattern((p.a, na), (o, no)).0, false);
                change(pattern((p.b, nb), (o, no)).0, false);
                change(pattern((s, na), (o, no)).0, true);
            }
            terms.insert(s, na);
        }
    }
    partials
}

/// The floor below `floor` (at least `min_uses`) under which at most `seed` patterns' counts
/// lie between it and `floor` (at least one count's patterns, however many), from a
/// histogram of the counts; `min_uses` when all the rest fit.
fn lower_floor(
    counts: &HashMap<Key, u32, BuildHasherDefault<KeyHasher>>,
    floor: u32,
    min_uses: u32,
    seed: usize,
) -> u32 {
    let mut histogram: std::collections::BTreeMap<u32, usize> = Default::default();
    for &n in counts.values().filter(|&&n| n >= min_uses && n < floor) {
        *histogram.entry(n).or_default() += 1;
    }
    let (mut taken, mut last) = (0, min_uses);
    for (&n, &k) in histogram.iter().rev() {
        if taken > 0 && taken + k > seed {
            return last;
        }
        (taken, last) = (taken + k, n);
    }
    min_uses
}

/// A hasher for the packed pattern keys and symbols (the default SipHash costs more than the
/// greedy's arithmetic): a multiplicative hash with the high half folded in.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_frequent_pair_is_shared_first_and_partials_of_partials_follow() {
        // Binary digits, one plane, taps 0..4: c0 = x0 + x1 + x2, c1 = x0 + x1 + x2 + x3,
        // c2 = x0 + x1 + x3. Pair counts: (0, 1) 3, every other pair 2 or 1: p4 = x0 + x1
        // first. Then c0 = {2, 4}, c1 = {2, 3, 4}, c2 = {3, 4}: (2, 4) and (3, 4) occur twice,
        // (2, 4) is the smaller: p5 = x2 + p4. Then no pair occurs twice: stop.
        let ch = vec![vec![1, 1, 1, 0], vec![1, 1, 1, 1], vec![1, 1, 0, 1]];
        let s = Shared::find(&ch, Recoding::Binary, 2, usize::MAX);
        assert_eq!(s.partials, vec![Partial { a: 0, b: 1, minus: false }, Partial { a: 2, b: 4, minus: false }]);
        let pos: Vec<Vec<u32>> = s.programs.iter().map(|c| c[0].pos.clone()).collect();
        assert_eq!(pos, vec![vec![5], vec![3, 5], vec![3, 4]]);
        assert_eq!(s.sharing(), Sharing { taps: 4, partials: 2, terms: 5 });
        assert_eq!(s.eval(&[1, 10, 100, 1000]), vec![111, 1111, 1011]);
    }

    #[test]
    fn opposite_signs_share_a_difference_and_its_negation() {
        // c0 = x0 − x1 (weights 1, −1), c1 = −x0 + x1: both are ±(x0 − x1); c2 = x0 + x1 is not.
        let ch = vec![vec![1, -1], vec![-1, 1], vec![1, 1]];
        let s = Shared::find(&ch, Recoding::Csd, 2, usize::MAX);
        assert_eq!(s.partials, vec![Partial { a: 0, b: 1, minus: true }]);
        assert_eq!(s.programs[0][0], Plane { pos: vec![2], neg: vec![] });
        assert_eq!(s.programs[1][0], Plane { pos: vec![], neg: vec![2] });
        assert_eq!(s.programs[2][0], Plane { pos: vec![0, 1], neg: vec![] });
    }

    #[test]
    fn shared_programs_sum_what_the_weights_multiply() {
        // 12 channels of 40 taps of int8 weights (zeros and the extremes), CSD and binary.
        let w: Vec<Vec<i32>> = (0..12)
            .map(|c| (0..40).map(|t| if (c + t) % 7 == 3 { 0 } else { (c * 40 + t) * 73 % 256 - 128 }).collect())
            .collect();
        let x: Vec<i64> = (0..40).map(|t| (t * 37 % 256) as i64 - 100).collect();
        let want: Vec<i64> = w.iter().map(|c| c.iter().zip(&x).map(|(&w, &x)| w as i64 * x).sum()).collect();
        for r in [Recoding::Csd, Recoding::Binary] {
            let plain = Shared::find(&w, r, u32::MAX, usize::MAX);
            let shared = Shared::find(&w, r, 2, usize::MAX);
            assert_eq!(Shared::find(&w, r, 2, 5).partials.len(), 5, "capped");
            assert!(plain.partials.is_empty());
            assert_eq!(plain.eval(&x), want);
            assert_eq!(shared.eval(&x), want, "{r:?}");
            let (a, b) = (plain.sharing(), shared.sharing());
            assert!(b.partials > 0 && b.terms + b.partials < a.terms, "{r:?}: {a:?} → {b:?}");
        }
    }
}
