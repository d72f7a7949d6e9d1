//! Memory planning: every intermediate tensor has a lifetime (the first step that writes it and
//! the last step that reads it); tensors are placed into one arena, largest first, each at the
//! lowest offset where it overlaps no tensor already placed whose lifetime meets its own (the
//! greedy-by-size planner of TFLite Micro).

use serde::Serialize;

/// One tensor to place: its length in elements and the steps it is live in (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    /// Elements.
    pub len: usize,
    /// First step that writes it.
    pub first: usize,
    /// Last step that reads it (`>= first`).
    pub last: usize,
}

impl Lifetime {
    /// Whether two lifetimes share a step.
    pub fn meets(&self, other: &Lifetime) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

/// Where each tensor went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Offset of each tensor (elements), in the order the lifetimes were given.
    pub offsets: Vec<usize>,
    /// Elements the arena needs.
    pub arena_len: usize,
}

/// Rounds arena offsets up to this many elements (16 bytes), so every tensor starts aligned
/// for vector loads.
pub const ALIGN: usize = 4;

/// Places `tensors` into one arena, largest first, each into the lowest gap among the tensors
/// already placed that are live at the same time.
pub fn place(tensors: &[Lifetime]) -> Placement {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    // Largest first; ties by earlier start, then index, so plans are deterministic.
    order.sort_by_key(|&i| (std::cmp::Reverse(tensors[i].len), tensors[i].first, i));
    let mut offsets = vec![0; tensors.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut arena_len = 0;
    for &i in &order {
        let t = &tensors[i];
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| tensors[j].meets(t))
            .map(|&j| (offsets[j], offsets[j] + tensors[j].len))
            .collect();
        busy.sort_unstable();
        let mut offset = 0;
        for (start, end) in busy {
            if offset + t.len <= start {
                break;
            }
            offset = offset.max(end.next_multiple_of(ALIGN));
        }
        offsets[i] = offset;
        arena_len = arena_len.max(offset + t.len);
        placed.push(i);
    }
    Placement { offsets, arena_len }
}

/// Checks a placement: tensors live at the same time never overlap. Returns the first clash.
pub fn check(tensors: &[Lifetime], placement: &Placement) -> Result<(), String> {
    for (i, a) in tensors.iter().enumerate() {
        let (sa, ea) = (placement.offsets[i], placement.offsets[i] + a.len);
        if ea > placement.arena_len {
            return Err(format!("tensor {i} ends at {ea}, past the arena ({})", placement.arena_len));
        }
        for (j, b) in tensors.iter().enumerate().skip(i + 1) {
            let (sb, eb) = (placement.offsets[j], placement.offsets[j] + b.len);
            if a.meets(b) && sa < eb && sb < ea && a.len > 0 && b.len > 0 {
                return Err(format!("tensors {i} [{sa}, {ea}) and {j} [{sb}, {eb}) overlap while both live"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lt(len: usize, first: usize, last: usize) -> Lifetime {
        Lifetime { len, first, last }
    }

    #[test]
    fn a_chain_reuses_memory() {
        // x0 -> x1 -> x2 -> x3: only neighbours are live together.
        let ts = [lt(100, 0, 1), lt(50, 1, 2), lt(100, 2, 3), lt(10, 3, 4)];
        let p = place(&ts);
        check(&ts, &p).unwrap();
        assert_eq!(p.arena_len, 150);
    }

    #[test]
    fn disjoint_lifetimes_share_offset_zero() {
        let ts = [lt(8, 0, 0), lt(8, 1, 1), lt(8, 2, 2)];
        let p = place(&ts);
        assert_eq!(p.offsets, vec![0, 0, 0]);
        assert_eq!(p.arena_len, 8);
    }
}
