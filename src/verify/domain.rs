//! Value domains of integer graph inputs, read off the ops that consume them, so that random
//! verification inputs stay where the ops are defined: an integer divisor is never zero, an
//! index is inside the axis it indexes.

use crate::graph::Graph;
use crate::ops::{Attr, BinaryKind, Op};
use std::collections::HashMap;

/// Where an integer input's values must lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Anything but zero (an integer Div or Mod divisor).
    NonZero,
    /// `0..bound` (an index into an axis of `bound` elements).
    Index(usize),
}

impl Domain {
    /// The domain that satisfies both (the tighter index bound; an index domain is kept
    /// non-zero by starting it at 1 when the axis allows).
    fn meet(self, other: Domain) -> Domain {
        match (self, other) {
            (Domain::Index(a), Domain::Index(b)) => Domain::Index(a.min(b)),
            (Domain::NonZero, Domain::NonZero) => Domain::NonZero,
            // Rare (an index that is also a divisor): the index range, which verification
            // needs more; a zero draw is then possible only where the axis has one element.
            (Domain::Index(a), Domain::NonZero) | (Domain::NonZero, Domain::Index(a)) => Domain::Index(a),
        }
    }

    /// Draws inside the domain: `draw(lo, hi)` returns a value of `lo..=hi`; `range` is the
    /// spec's integer range, kept where it overlaps the domain.
    pub(super) fn draw(self, range: (i64, i64), mut draw: impl FnMut(i64, i64) -> i64) -> i64 {
        let (lo, hi) = range;
        match self {
            Domain::Index(0) => 0,
            Domain::Index(bound) => {
                let top = bound as i64 - 1;
                let (l, h) = (lo.max(0), hi.min(top));
                if l <= h {
                    draw(l, h)
                } else {
                    draw(0, top)
                }
            }
            Domain::NonZero => match draw(lo, hi) {
                0 if hi > 0 => draw(1, hi),
                0 if lo < 0 => draw(lo, -1),
                0 => 1,
                v => v,
            },
        }
    }
}

/// The `axis` attribute of an op, normalized against `rank` (default `0`).
fn axis(op: &Op, opset: i64, rank: usize) -> Option<usize> {
    let a = op
        .attributes(opset)
        .into_iter()
        .find_map(|(name, attr)| match (name.as_str(), attr) {
            ("axis", Attr::Int(a)) => Some(a),
            _ => None,
        })
        .unwrap_or(0);
    let a = if a < 0 { a + rank as i64 } else { a };
    (0..rank as i64).contains(&a).then_some(a as usize)
}

/// The domains of `graph`'s runtime inputs (by name) that feed an integer divisor (Div, Mod) or
/// the indices of Gather, GatherElements, ScatterElements or Scatter directly.
pub fn input_domains(graph: &Graph) -> HashMap<String, Domain> {
    let opset = graph.meta.opset();
    let mut domains: HashMap<String, Domain> = HashMap::new();
    for id in graph.dag.node_indices() {
        let node = graph.node(id);
        let operand = |k: usize| node.inputs.get(k).copied().flatten();
        let found = match &node.op {
            Op::Binary(b) if b.kind == BinaryKind::Div => Some((1, Domain::NonZero)),
            op if op.onnx_name() == "Mod" => Some((1, Domain::NonZero)),
            op if matches!(op.onnx_name(), "Gather" | "GatherElements" | "ScatterElements" | "Scatter") => operand(0)
                .and_then(|data| graph.ty(data))
                .and_then(|ty| Some(Domain::Index(ty.shape[axis(op, opset, ty.shape.len())?])))
                .map(|d| (1, d)),
            _ => None,
        };
        let Some((k, domain)) = found else { continue };
        let Some(v) = operand(k) else { continue };
        if !graph.inputs.contains(&v) || !graph.ty(v).is_some_and(|t| t.dtype.is_integer()) {
            continue;
        }
        let name = graph.value(v).name.clone();
        let merged = domains.get(&name).map_or(domain, |d| d.meet(domain));
        domains.insert(name, merged);
    }
    domains
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generator that always returns the low end, then the high end.
    fn ends(d: Domain, range: (i64, i64)) -> (i64, i64) {
        (d.draw(range, |lo, _| lo), d.draw(range, |_, hi| hi))
    }

    #[test]
    fn draws_stay_in_the_domain() {
        assert_eq!(ends(Domain::Index(3), (0, 3)), (0, 2));
        assert_eq!(ends(Domain::Index(9), (0, 3)), (0, 3));
        assert_eq!(ends(Domain::Index(2), (5, 7)), (0, 1));
        assert_eq!(ends(Domain::Index(0), (0, 3)), (0, 0));
        // A zero draw is redrawn from the positive part, else the negative part, else 1.
        assert_eq!(ends(Domain::NonZero, (0, 3)), (1, 3));
        assert_eq!(ends(Domain::NonZero, (-2, 0)), (-2, -1));
        assert_eq!(ends(Domain::NonZero, (0, 0)), (1, 1));
        assert_eq!(Domain::Index(4).meet(Domain::Index(2)), Domain::Index(2));
        assert_eq!(Domain::NonZero.meet(Domain::Index(5)), Domain::Index(5));
    }
}
