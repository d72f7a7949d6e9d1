//! The Winograd form in a graph (as the rules write it and [`super`] describes it, F2 or F4): a
//! Conv whose weights are the input transform, then Reshape, Transpose, the MatMul of the P
//! products with a constant filter, Transpose, Reshape and the ConvTranspose of the output transform, each the
//! only reader of the one before. The Rust back end runs each form as one kernel and the cost
//! prediction prices it as that kernel; both find the forms here.

use super::{input_weight, output_weight, Size};
use crate::graph::{Graph, NodeId, ValueId};
use crate::ops::{Op, Transpose};
use crate::tensor::Tensor;
use std::collections::HashMap;

/// One Winograd form of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    /// The algorithm (F2 or F4).
    pub size: Size,
    /// The input transform's Conv.
    pub input: NodeId,
    /// Reshape, Transpose, MatMul, Transpose, Reshape (never run by the back end: the MatMul's
    /// products are computed inside the form's kernel).
    pub middle: [NodeId; 5],
    /// The output transform's ConvTranspose.
    pub output: NodeId,
    /// Input channels.
    pub c: usize,
    /// Output channels.
    pub k: usize,
    /// Tile rows and columns.
    pub tiles: [usize; 2],
    /// The transformed filter `[P, K, C]` (a constant).
    pub filter: ValueId,
}

impl Form {
    /// Every node of the form.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::once(self.input).chain(self.middle).chain(std::iter::once(self.output))
    }
}

/// Whether a constant holds exactly `want` (compared as f32).
fn equals(t: &Tensor, want: &[f64]) -> bool {
    t.to_f64_vec().is_some_and(|v| v.len() == want.len() && v.iter().zip(want).all(|(a, b)| *a as f32 == *b as f32))
}

/// The forms of `graph`, by their input transform's node.
pub fn forms(graph: &Graph) -> HashMap<NodeId, Form> {
    let finder = Finder { graph, readers: graph.readers() };
    graph.dag.node_indices().filter_map(|id| finder.form(id)).map(|f| (f.input, f)).collect()
}

struct Finder<'g> {
    graph: &'g Graph,
    readers: HashMap<ValueId, Vec<NodeId>>,
}

impl Finder<'_> {
    fn shape(&self, v: ValueId) -> Option<&[usize]> {
        self.graph.ty(v).map(|t| &t.shape[..])
    }

    fn constant(&self, v: Option<&Option<ValueId>>) -> Option<&Tensor> {
        v.copied().flatten().and_then(|v| self.graph.constant(v)).map(|t| &**t)
    }

    /// The node that alone reads the first output of `id` as its input `at`, when `pick` holds
    /// for its op.
    fn next(&self, id: NodeId, at: usize, pick: impl Fn(&Op) -> bool) -> Option<NodeId> {
        let v = self.graph.node(id).outputs[0];
        if self.graph.outputs.contains(&v) {
            return None;
        }
        let [next] = self.readers.get(&v)?[..] else { return None };
        let node = self.graph.node(next);
        (pick(&node.op) && node.inputs.get(at).copied().flatten() == Some(v)).then_some(next)
    }

    fn form(&self, id: NodeId) -> Option<Form> {
        let conv = self.graph.node(id);
        let Op::Conv(op) = &conv.op else { return None };
        let x = self.shape(conv.inputs.first().copied().flatten()?)?;
        let v = self.shape(conv.outputs[0])?;
        let &[n, c, h, w] = x else { return None };
        let &[_, _, th, tw] = v else { return None };
        let weight = self.constant(conv.inputs.get(1))?;
        let size = Size::ALL.into_iter().find(|s| weight.shape[..] == [s.products() * c, 1, s.n(), s.n()])?;
        let (sm, sn, p) = (size.m(), size.n(), size.products());
        let win = op.attrs.window(&[h, w], &[sn, sn], false).ok()?;
        let whole = h + win.pads[0] + win.pads[2] == sm * th + 2 && w + win.pads[1] + win.pads[3] == sm * tw + 2;
        let ones = win.dilations.iter().all(|&d| d == 1);
        if op.attrs.group != c
            || win.strides[..] != [sm, sm]
            || !whole
            || !ones
            || conv.inputs.get(2).copied().flatten().is_some()
        {
            return None;
        }
        if !equals(weight, &input_weight(size, c)) {
            return None;
        }
        let swap = |o: &Op| matches!(o, Op::Transpose(Transpose { perm: Some(p) }) if p[..] == [0, 2, 1, 3]);
        let reshape = |o: &Op| matches!(o, Op::Reshape(_));
        let r1 = self.next(id, 0, reshape)?;
        let t1 = self.next(r1, 0, swap)?;
        let mm = self.next(t1, 1, |o| matches!(o, Op::MatMul(_)))?;
        let t2 = self.next(mm, 0, swap)?;
        let r2 = self.next(t2, 0, reshape)?;
        let ct = self.next(r2, 0, |o| matches!(o, Op::ConvTranspose(_)))?;
        let filter = self.graph.node(mm).inputs.first().copied().flatten()?;
        self.graph.constant(filter)?;
        let &[_, k, _] = self.shape(filter)? else { return None };
        let t = th * tw;
        let vshape = self.shape(self.graph.node(r1).outputs[0])?;
        let mshape = self.shape(self.graph.node(r2).outputs[0])?;
        if self.shape(filter)? != [p, k, c] || vshape != [n, c, p, t] || mshape != [n, p * k, th, tw] {
            return None;
        }
        let node = self.graph.node(ct);
        let Op::ConvTranspose(op) = &node.op else { return None };
        let a = &op.attrs;
        // Pads of zeros parse to none; otherwise only the ends may crop.
        let ends_only = a.pads.is_empty() || (a.pads.len() == 4 && a.pads[0] == 0 && a.pads[1] == 0);
        let crop_only = ends_only && op.output_padding.is_empty();
        let plain = a.strides[..] == [sm, sm] && a.dilations.iter().all(|&d| d == 1) && op.output_shape.is_none();
        if a.group != k || !crop_only || !plain || !equals(self.constant(node.inputs.get(1))?, &output_weight(size, k))
        {
            return None;
        }
        let &[_, ko, oh, ow] = self.shape(node.outputs[0])? else { return None };
        (ko == k && oh.div_ceil(sm) == th && ow.div_ceil(sm) == tw).then_some(Form {
            size,
            input: id,
            middle: [r1, t1, mm, t2, r2],
            output: ct,
            c,
            k,
            tiles: [th, tw],
            filter,
        })
    }
}
