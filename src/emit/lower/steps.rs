//! The integer store's tables of steps ([`crate::emit::requant`]) as kernel arguments: for
//! modules whose target has no float unit
//! ([`EmitOptions::integer_requant`](crate::emit::EmitOptions::integer_requant)), an integer
//! kernel with an integer output reads its layer's table and stores by comparisons; otherwise
//! (float outputs, other targets, a channel whose store is not monotone) it reads an empty
//! table and stores with the float formula. The results are the same integers either way.

use super::quant::{Fusion, Terms};
use super::{Arg, Elem, Lowerer, TableUse, Tables, Weight};
use crate::emit::requant::{table, Store};

impl Lowerer<'_> {
    /// The `steps` argument of an integer kernel storing `f`'s output with the per-channel
    /// terms `t`: its table of steps, or `&[]`.
    pub(super) fn steps(&mut self, t: &Terms, f: &Fusion) -> Arg {
        let Some(q) = f.outq.filter(|_| !matches!(self.tables, Tables::None)) else { return Arg::Code("&[]".into()) };
        let (qmin, qmax) = match q.elem {
            Elem::I8 => (-128.0, 127.0),
            Elem::U8 => (0.0, 255.0),
            _ => return Arg::Code("&[]".into()),
        };
        let store = Store { lo: f.clamp.lo, hi: f.clamp.hi, inv: q.scale.recip(), zero: q.zero as f32, qmin, qmax };
        let Some(steps) = table(&store, &t.mul, &t.bias) else { return Arg::Code("&[]".into()) };
        let node = self.current.0.clone();
        let g = self.graph;
        let output = g.dag.node_weights().find(|n| n.name == node).and_then(|n| n.outputs.first());
        let stores = output.and_then(|&v| g.value(v).ty.as_ref()).map_or(0, |ty| ty.numel());
        self.program.table_uses.push(TableUse { node: node.clone(), bytes: 4 * steps.len(), stores });
        if let Tables::Only(chosen) = &self.tables {
            if !chosen.contains(&node) {
                return Arg::Code("&[]".into());
            }
        }
        self.program.step_tables += 1;
        Arg::Read(self.add_typed_weight(Weight::I32(steps)))
    }
}
