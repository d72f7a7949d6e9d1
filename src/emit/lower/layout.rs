//! Lowering of layout ops: reshapes and casts to the same type are aliases (no code);
//! Transpose, Concat, Split, Slice, Pad and Gather (with constant indices) are strided copies.

use super::{lit, Arg, BufId, EmitError, Lowerer};
use crate::graph::{NodeId, ValueId};

impl Lowerer<'_> {
    /// A flat copy of `len` values from `src` to `dst`, named after `node`.
    pub(super) fn copy_flat(&mut self, node: &str, src: BufId, dst: BufId, len: usize) {
        self.current = (node.to_string(), "copy".into());
        self.step(
            "k_copy",
            vec![1, 1, 1, len, 0, 0, 0, 1, 0, 0, 0, 1],
            vec![Arg::Read(src), Arg::Code("0".into()), Arg::Write(dst), Arg::Code("0".into())],
        );
    }

    /// A strided copy of `dims` from `src` at `xo` (strides `xs`) to `dst` at `yo` (strides `ys`).
    pub(super) fn copy(
        &mut self,
        (src, xo): (BufId, usize),
        (dst, yo): (BufId, usize),
        dims: &[usize],
        xs: &[usize],
        ys: &[usize],
    ) -> Result<(), EmitError> {
        let (d, s) = collapse(dims, &[xs.to_vec(), ys.to_vec()])
            .ok_or_else(|| self.unsupported("a copy over more than four non-mergeable dimensions"))?;
        let mut g = d.to_vec();
        g.extend(s[0]);
        g.extend(s[1]);
        self.step(
            "k_copy",
            g,
            vec![Arg::Read(src), Arg::Code(xo.to_string()), Arg::Write(dst), Arg::Code(yo.to_string())],
        );
        Ok(())
    }

    /// `out` shares the buffer of `x` (a reshape); a graph output gets a copy at the end.
    pub(super) fn alias(&mut self, x: ValueId, out: ValueId) -> Result<(), EmitError> {
        let b = self.read(x)?;
        self.bind(out, b);
        self.program.aliases += 1;
        Ok(())
    }

    /// Inference Dropout: an alias.
    pub(super) fn dropout(&mut self, id: NodeId) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let out = node.outputs[0];
        self.only_first_output_read(node, "the mask output")?;
        let x = self.input(id, 0)?;
        self.alias(x, out)
    }

    /// A Cast to the same type (an alias); others have no kernel.
    pub(super) fn cast(&mut self, id: NodeId, c: &crate::ops::Cast) -> Result<(), EmitError> {
        let out = self.output(id);
        let x = self.input(id, 0)?;
        let from = self.graph.ty(x).map(|t| t.dtype);
        if from == Some(c.to) {
            self.alias(x, out)
        } else {
            Err(self.unsupported(format!("a cast from {} to {}", from.map(|d| d.name()).unwrap_or_default(), c.to)))
        }
    }

    /// Transpose as one strided copy.
    pub(super) fn transpose(&mut self, id: NodeId, t: &crate::ops::Transpose) -> Result<(), EmitError> {
        let out = self.output(id);
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        let perm = self.check(t.perm_for(shape.len()))?;
        let xs = strides(&shape);
        let dims: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let pxs: Vec<usize> = perm.iter().map(|&p| xs[p]).collect();
        let ys = strides(&dims);
        let xb = self.read(x)?;
        let yb = self.define(out)?;
        self.copy((xb, 0), (yb, 0), &dims, &pxs, &ys)
    }

    /// Concat as one copy per input.
    pub(super) fn concat(&mut self, id: NodeId, c: &crate::ops::Concat) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let out = node.outputs[0];
        let oshape = self.shape(out)?;
        let axis = self.axis(c.axis, oshape.len())?;
        let outer: usize = oshape[..axis].iter().product();
        let inner: usize = oshape[axis + 1..].iter().product();
        let total = oshape[axis] * inner;
        let ins: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
        let mut bufs = Vec::new();
        for &x in &ins {
            bufs.push((self.read(x)?, self.shape(x)?[axis] * inner));
        }
        let yb = self.define(out)?;
        let mut at = 0;
        for (xb, len) in bufs {
            if len > 0 {
                self.copy((xb, 0), (yb, at), &[outer, len], &[len, 1], &[total, 1])?;
            }
            at += len;
        }
        Ok(())
    }

    /// Split as one copy per output read.
    pub(super) fn split(&mut self, id: NodeId, s: &crate::ops::Split) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        let axis = self.axis(s.axis, shape.len())?;
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let total = shape[axis] * inner;
        let xb = self.read(x)?;
        let mut at = 0;
        for &o in &node.outputs {
            let Some(ty) = self.graph.ty(o) else { continue };
            let len = ty.shape[axis] * inner;
            if self.consumers.contains_key(&o) || self.graph.outputs.contains(&o) {
                let yb = self.define(o)?;
                if len > 0 {
                    self.copy((xb, at), (yb, 0), &[outer, len], &[total, 1], &[len, 1])?;
                }
            }
            at += len;
        }
        Ok(())
    }

    /// Slice (positive steps) as one strided copy.
    pub(super) fn slice(&mut self, id: NodeId, s: &crate::ops::Slice) -> Result<(), EmitError> {
        let out = self.output(id);
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        let plan = self.check(s.resolve(&shape))?;
        if plan.iter().any(|&(_, step, _)| step < 0) {
            return Err(self.unsupported("negative slice steps"));
        }
        let xs = strides(&shape);
        let xo: usize = plan.iter().zip(&xs).map(|(&(start, _, _), &s)| start * s).sum();
        let dims: Vec<usize> = plan.iter().map(|&(_, _, len)| len).collect();
        let sxs: Vec<usize> = plan.iter().zip(&xs).map(|(&(_, step, _), &s)| step as usize * s).collect();
        let ys = strides(&dims);
        let xb = self.read(x)?;
        let yb = self.define(out)?;
        if dims.iter().product::<usize>() > 0 {
            self.copy((xb, xo), (yb, 0), &dims, &sxs, &ys)?;
        }
        Ok(())
    }

    /// Constant Pad: a fill, then a copy into the interior.
    pub(super) fn pad(&mut self, id: NodeId, p: &crate::ops::Pad) -> Result<(), EmitError> {
        let out = self.output(id);
        if p.mode != crate::ops::PadMode::Constant {
            return Err(self.unsupported(format!("pad mode {}", p.mode.onnx_name())));
        }
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        let (begins, _) = self.check(p.begins_ends(shape.len()))?;
        if begins.iter().any(|&b| b < 0) || p.pads.iter().any(|&v| v < 0) {
            return Err(self.unsupported("negative pads (cropping)"));
        }
        let oshape = self.shape(out)?;
        let ys = strides(&oshape);
        let yo: usize = begins.iter().zip(&ys).map(|(&b, &s)| b as usize * s).sum();
        let xb = self.read(x)?;
        let yb = self.define(out)?;
        self.step("k_fill", vec![oshape.iter().product()], vec![Arg::Write(yb), Arg::Code(lit(p.value as f32))]);
        if shape.iter().product::<usize>() > 0 {
            self.copy((xb, 0), (yb, yo), &shape, &strides(&shape), &ys)?;
        }
        Ok(())
    }

    /// Gather with constant indices: one copy per index.
    pub(super) fn gather(&mut self, id: NodeId, g: &crate::ops::Gather) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let out = node.outputs[0];
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        let axis = self.axis(g.axis, shape.len())?;
        let idx = self
            .constant(node.inputs.get(1).copied().flatten())
            .and_then(|t| t.to_i64_vec())
            .ok_or_else(|| self.unsupported("indices computed at run time"))?;
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let dim = shape[axis];
        let xb = self.read(x)?;
        let yb = self.define(out)?;
        for (j, &i) in idx.iter().enumerate() {
            let i = if i < 0 { i + dim as i64 } else { i };
            if i < 0 || i as usize >= dim {
                return Err(self.unsupported(format!("index {i} is out of range for {dim}")));
            }
            self.copy(
                (xb, i as usize * inner),
                (yb, j * inner),
                &[outer, inner],
                &[dim * inner, 1],
                &[idx.len() * inner, 1],
            )?;
        }
        Ok(())
    }
}

/// Row-major strides.
pub(super) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Strides of `shape` broadcast (right-aligned) to `out`: 0 along broadcast axes.
pub(super) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = strides(shape);
    let lead = out.len() - shape.len();
    (0..out.len()).map(|i| if i < lead || shape[i - lead] == 1 { 0 } else { own[i - lead] }).collect()
}

/// Drops unit dimensions and merges neighbours every operand walks contiguously, then pads to
/// four dimensions at the front. `None` when more than four remain.
pub(super) fn collapse(dims: &[usize], operands: &[Vec<usize>]) -> Option<([usize; 4], Vec<[usize; 4]>)> {
    let mut d: Vec<usize> = Vec::new();
    let mut s: Vec<Vec<usize>> = vec![Vec::new(); operands.len()];
    for (i, &n) in dims.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let mergeable = !d.is_empty() && operands.iter().zip(&s).all(|(op, st)| st.last().copied() == Some(op[i] * n));
        if mergeable {
            *d.last_mut().expect("non-empty") *= n;
            for (op, st) in operands.iter().zip(s.iter_mut()) {
                *st.last_mut().expect("non-empty") = op[i];
            }
        } else {
            d.push(n);
            for (op, st) in operands.iter().zip(s.iter_mut()) {
                st.push(op[i]);
            }
        }
    }
    if d.len() > 4 {
        return None;
    }
    let pad = 4 - d.len();
    let mut dd = [1; 4];
    dd[pad..].copy_from_slice(&d);
    let ss = s
        .iter()
        .map(|st| {
            let mut a = [0; 4];
            a[pad..].copy_from_slice(st);
            a
        })
        .collect();
    Some((dd, ss))
}
