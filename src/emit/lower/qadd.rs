//! The integer add of quantized (QDQ) models, the residual join of a quantized ResNet:
//! `DequantizeLinear(a) + DequantizeLinear(b)`, through a ReLU or Clip or not, then a
//! QuantizeLinear, where `a`, `b` and the QuantizeLinear's output are 8-bit tensors the plan
//! stores ([`super::qplan`]). It runs as one kernel (`k_qadd`, `kernels/qadd.rs`) that reads the
//! two integer tensors and writes the integers, instead of two DequantizeLinear kernels, a float
//! Add and a QuantizeLinear kernel with three float tensors between them; per element it does
//! the float operations of those kernels in their order, so its integers are theirs, bit for bit.

use super::qplan::{per_tensor, producer, QParams};
use super::{lit, nums, Arg, Clamp, EmitError, Lowerer};
use crate::graph::{NodeId, ValueId};
use crate::ops::{BinaryKind, Op};
use std::collections::HashMap;

/// An Add run as an integer kernel.
#[derive(Clone, Debug)]
pub struct IntegerAdd {
    /// The two integer tensors it reads, each with its DequantizeLinear's quantization.
    ins: [(ValueId, QParams); 2],
    /// The QuantizeLinear output it defines.
    out: ValueId,
    /// That output's quantization.
    outq: QParams,
    /// A fused ReLU or Clip.
    clamp: Clamp,
}

/// The Adds of `order` run as integer kernels, each with the nodes it absorbs (its clamp and
/// QuantizeLinear): an Add (without legacy broadcasting) whose inputs have its output's shape
/// and are each the per-tensor DequantizeLinear of a tensor in `stored`, and whose output (or
/// its ReLU's or constant Clip's, read by it alone) a QuantizeLinear alone reads into a tensor in
/// `stored`.
pub(super) fn integer_adds(
    lw: &Lowerer,
    order: &[NodeId],
    stored: &HashMap<ValueId, QParams>,
) -> Vec<(NodeId, IntegerAdd, Vec<NodeId>)> {
    let add = |id: NodeId| -> Option<(NodeId, IntegerAdd, Vec<NodeId>)> {
        let node = lw.graph.node(id);
        if !matches!(&node.op, Op::Binary(b) if b.kind == BinaryKind::Add && b.legacy.is_none()) {
            return None;
        }
        let mut out = node.outputs[0];
        let shape = &lw.graph.ty(out)?.shape;
        let input = |i: usize| -> Option<(ValueId, QParams)> {
            let v = node.inputs.get(i).copied().flatten()?;
            let dq = lw.graph.node(producer(lw, v)?);
            let x = dq.inputs.first().copied().flatten()?;
            let dequantizes = matches!(&dq.op, Op::DequantizeLinear(d) if d.block_size == 0);
            let fits = stored.contains_key(&x) && &lw.graph.ty(v)?.shape == shape;
            (dequantizes && fits).then_some(())?;
            Some((x, per_tensor(lw, dq, x)?))
        };
        let ins = [input(0)?, input(1)?];
        let mut absorbed = Vec::new();
        let mut clamp = Clamp::NONE;
        if let Some((act, c, y)) = lw.clamp_after(out) {
            absorbed.push(act);
            clamp = c;
            out = y;
        }
        let q = lw.sole_reader(out)?;
        let qn = lw.graph.node(q);
        if !matches!(qn.op, Op::QuantizeLinear(_)) || qn.inputs.first().copied().flatten() != Some(out) {
            return None;
        }
        let outq = *stored.get(&qn.outputs[0])?;
        absorbed.push(q);
        Some((id, IntegerAdd { ins, out: qn.outputs[0], outq, clamp }, absorbed))
    };
    order.iter().filter_map(|&id| add(id)).collect()
}

impl Lowerer<'_> {
    /// Lowers an Add the plan made an integer kernel: one `k_qadd` from the two integer buffers
    /// into the QuantizeLinear's.
    pub(super) fn integer_add(&mut self, a: &IntegerAdd) -> Result<(), EmitError> {
        let [(x0, q0), (x1, q1)] = a.ins;
        let (b0, b1) = (self.read(x0)?, self.read(x1)?);
        let yb = self.define(a.out)?;
        let n = self.shape(a.out)?.iter().product();
        let args = vec![
            Arg::Read(b0),
            Arg::Read(b1),
            Arg::Write(yb),
            Arg::Code(q0.zero.to_string()),
            Arg::Code(lit(q0.scale)),
            Arg::Code(q1.zero.to_string()),
            Arg::Code(lit(q1.scale)),
            Arg::Code(Self::requant_of(a.clamp, Some(a.outq))),
        ];
        self.typed_step("k_qadd", &[q0.elem.rust(), q1.elem.rust(), a.outq.elem.rust()], nums(&[n]), args);
        Ok(())
    }
}
