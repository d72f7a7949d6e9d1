//! Lowering of pooling and reductions: windowed MaxPool/AveragePool (a MaxPool between an
//! integer kernel, or a DequantizeLinear, and a QuantizeLinear on the integers), global
//! pooling and ReduceSum/Mean/Max over contiguous axes.

use super::{lit, Arg, Elem, EmitError, Lowerer, Step};
use crate::graph::NodeId;
use crate::ops::{PoolKind, ReduceKind};

impl Lowerer<'_> {
    /// A reduction over contiguous axes (an alias when nothing is reduced).
    pub(super) fn reduce(&mut self, id: NodeId, r: &crate::ops::Reduce) -> Result<(), EmitError> {
        let out = self.output(id);
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        let Some(mask) = self.check(r.reduced(shape.len()))? else {
            return self.alias(x, out);
        };
        if (0..shape.len()).any(|i| mask[i] && shape[i] == 0) {
            // A reduction over nothing: the identity of the reduction (a mean is 0/0).
            let value = match r.kind {
                ReduceKind::Sum => 0.0,
                ReduceKind::Mean => f32::NAN,
                ReduceKind::Max => f32::NEG_INFINITY,
            };
            let n = self.shape(out)?.iter().product();
            let yb = self.define(out)?;
            self.step("k_fill", vec![n], vec![Arg::Write(yb), Arg::Code(lit(value))]);
            return Ok(());
        }
        let kept: Vec<usize> = (0..shape.len()).filter(|&i| mask[i] && shape[i] > 1).collect();
        let (first, last) = match (kept.first(), kept.last()) {
            (Some(&f), Some(&l)) => (f, l),
            _ => return self.alias(x, out),
        };
        if (first..=last).any(|i| !mask[i] && shape[i] > 1) {
            return Err(self.unsupported("reduced axes that are not contiguous"));
        }
        let outer: usize = shape[..first].iter().product();
        let n: usize = shape[first..=last].iter().product();
        let inner: usize = shape[last + 1..].iter().product();
        let kind = match r.kind {
            ReduceKind::Sum => 0,
            ReduceKind::Mean => 1,
            ReduceKind::Max => 2,
        };
        let xb = self.read(x)?;
        let yb = self.define(out)?;
        self.step("k_reduce", vec![outer, n, inner, kind], vec![Arg::Read(xb), Arg::Write(yb)]);
        Ok(())
    }

    /// Global pooling as a reduction over the spatial axes.
    pub(super) fn global_pool(&mut self, id: NodeId, p: &crate::ops::GlobalPool) -> Result<(), EmitError> {
        let out = self.output(id);
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        let nc: usize = shape[..2.min(shape.len())].iter().product();
        let hw: usize = shape.get(2..).map(|d| d.iter().product()).unwrap_or(1);
        let kind = if p.kind == PoolKind::Max { 2 } else { 1 };
        let xb = self.read(x)?;
        let yb = self.define(out)?;
        self.step("k_reduce", vec![nc, hw, 1, kind], vec![Arg::Read(xb), Arg::Write(yb)]);
        Ok(())
    }

    pub(super) fn pool(&mut self, id: NodeId, p: &crate::ops::Pool) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        self.only_first_output_read(node, "the Indices output")?;
        // A MaxPool run on integers reads the integers its input dequantizes.
        let (x, quantized) = match self.quant.moves.get(&id) {
            Some(&(x, q)) => (x, Some(q)),
            None => (self.input(id, 0)?, self.quant.pools.get(&id).copied()),
        };
        let xshape = self.shape(x)?;
        if xshape.len() != 4 && xshape.len() != 3 {
            return Err(self.unsupported(format!("{}-D pooling", xshape.len().saturating_sub(2))));
        }
        let kernel = p.window.kernel_shape.clone().ok_or_else(|| self.unsupported("no kernel_shape"))?;
        let win = self.check(p.window.window(&xshape[2..], &kernel, p.ceil_mode))?;
        if win.dilations.iter().any(|&d| d != 1) {
            return Err(self.unsupported("dilated pooling"));
        }
        let two = |v: &[usize], i: usize, one: usize| if v.len() == 2 { v[i] } else { one };
        let (h, w) = if xshape.len() == 4 { (xshape[2], xshape[3]) } else { (1, xshape[2]) };
        let (kh, kw) = (two(&kernel, 0, 1), *kernel.last().unwrap_or(&1));
        let (sh, sw) = (two(&win.strides, 0, 1), *win.strides.last().unwrap_or(&1));
        let (oh, ow) = (two(&win.output, 0, 1), *win.output.last().unwrap_or(&1));
        let (pt, pl, pb, pr) = if win.pads.len() == 4 {
            (win.pads[0], win.pads[1], win.pads[2], win.pads[3])
        } else {
            (0, win.pads[0], 0, win.pads[1])
        };
        // With ceil_mode the last window may pass the end padding: widen the end pads so the
        // kernel's clipping covers it (padding cells are never read).
        let pb = pb.max(((oh - 1) * sh + kh).saturating_sub(h + pt));
        let pr = pr.max(((ow - 1) * sw + kw).saturating_sub(w + pl));
        let c = xshape[0] * xshape[1];
        let xb = self.read(x)?;
        let dims = [c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr].map(|v| v.to_string());
        if let Some(q) = quantized {
            // On integers, defining the QuantizeLinear's output; a window of padding alone
            // gives the quantized -inf, the type's least value.
            let yb = self.define(q)?;
            let least = if self.quant.stored[&q].elem == Elem::I8 { "-128i8" } else { "0u8" };
            let args = vec![Arg::Read(xb), Arg::Write(yb), Arg::Code(least.into())];
            self.typed_step("k_qmaxpool", &["_"], dims.into(), args);
            return Ok(());
        }
        let yb = self.define(node.outputs[0])?;
        let max = p.kind == PoolKind::Max;
        self.program.kernels.insert("k_pool");
        self.program.steps.push(Step {
            node: self.current.0.clone(),
            op: self.current.1.clone(),
            kernel: "k_pool",
            generics: dims.into_iter().chain([max.to_string(), p.count_include_pad.to_string()]).collect(),
            args: vec![Arg::Read(xb), Arg::Write(yb)],
        });
        Ok(())
    }
}
