//! Lowering of normalizations: Softmax, its base-2 form, Softmax on 8-bit integers and
//! LayerNormalization (one kernel each over the normalized axes) and BatchNormalization
//! (folded into a per-channel affine map).

use super::{lit, nums, Arg, EmitError, Lowerer, Step};
use crate::graph::NodeId;

impl Lowerer<'_> {
    /// Softmax over its axis (or the trailing axes).
    pub(super) fn softmax(&mut self, id: NodeId, s: &crate::ops::Softmax) -> Result<(), EmitError> {
        let out = self.output(id);
        let x = self.input(id, 0)?;
        let rows = self.check(s.rows(&self.shape(x)?))?;
        let xb = self.read(x)?;
        let yb = self.define(out)?;
        self.step("k_softmax", rows.to_vec(), vec![Arg::Read(xb), Arg::Write(yb)]);
        Ok(())
    }

    /// The base-2 softmax `form` as one `k_softmax2` call (named after its Div, the node whose
    /// output it writes).
    pub(super) fn softmax2(&mut self, form: &crate::softermax::Form) -> Result<(), EmitError> {
        self.current = (self.graph.node(form.div).name.clone(), "Softmax (base 2)".into());
        let shape = self.shape(form.x)?;
        let outer: usize = shape[..form.axis].iter().product();
        let inner: usize = shape[form.axis + 1..].iter().product();
        let xb = self.read(form.x)?;
        let yb = self.define(form.y)?;
        let poly: Vec<String> = form.poly.iter().map(|&c| lit(c)).collect();
        let args = vec![
            Arg::Read(xb),
            Arg::Write(yb),
            Arg::Code(lit(form.log2e)),
            Arg::Code(lit(form.hi)),
            Arg::Code(format!("[{}]", poly.join(", "))),
        ];
        self.step("k_softmax2", vec![outer, shape[form.axis], inner, form.poly.len()], args);
        Ok(())
    }

    /// The DequantizeLinear → Softmax pair `form` as one `k_softmax_q8` call reading the
    /// integers (the plan stores them).
    pub(super) fn softmax_q8(&mut self, form: &crate::softmax8::Form) -> Result<(), EmitError> {
        let xb = self.read(form.q)?;
        let yb = self.define(form.y)?;
        let args = vec![Arg::Read(xb), Arg::Write(yb), Arg::Code(lit(form.scale))];
        self.typed_step("k_softmax_q8", &["_"], nums(&form.layout), args);
        Ok(())
    }

    /// Inference BatchNormalization as `x·s[c] + t[c]`.
    pub(super) fn batch_norm(&mut self, id: NodeId, bn: &crate::ops::BatchNorm) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let out = node.outputs[0];
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        self.only_first_output_read(node, "training-mode outputs")?;
        let gamma = self.const_values(node.inputs.get(1).copied().flatten(), "scale")?;
        let beta = self.const_values(node.inputs.get(2).copied().flatten(), "bias")?;
        let mean = self.const_values(node.inputs.get(3).copied().flatten(), "mean")?;
        let var = self.const_values(node.inputs.get(4).copied().flatten(), "variance")?;
        let c = shape.get(1).copied().unwrap_or(1);
        let mut s = vec![0f32; c];
        let mut t = vec![0f32; c];
        for i in 0..c {
            let si = gamma[i] as f64 / (var[i] as f64 + bn.epsilon as f64).sqrt();
            s[i] = si as f32;
            t[i] = (beta[i] as f64 - mean[i] as f64 * si) as f32;
        }
        let inner: usize = shape.get(2..).map(|d| d.iter().product()).unwrap_or(1);
        self.affine(x, out, shape[0], c, inner, s, t)
    }

    /// LayerNormalization over the trailing axes.
    pub(super) fn layer_norm(&mut self, id: NodeId, ln: &crate::ops::LayerNorm) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let out = node.outputs[0];
        let x = self.input(id, 0)?;
        let shape = self.shape(x)?;
        self.only_first_output_read(node, "the mean and inverse standard deviation outputs")?;
        let axis = self.axis(ln.axis, shape.len())?;
        let outer: usize = shape[..axis].iter().product();
        let n: usize = shape[axis..].iter().product();
        let scale = broadcast_const(&self.const_values(node.inputs.get(1).copied().flatten(), "scale")?, n);
        let bias = match node.inputs.get(2).copied().flatten() {
            Some(b) => Some(broadcast_const(&self.const_values(Some(b), "bias")?, n)),
            None => None,
        };
        let xb = self.read(x)?;
        let sb = self.add_weight(scale);
        let has_bias = bias.is_some();
        let bb = self.add_weight(bias.unwrap_or_default());
        let yb = self.define(out)?;
        self.program.kernels.insert("k_layernorm");
        self.program.steps.push(Step {
            node: self.current.0.clone(),
            op: self.current.1.clone(),
            kernel: "k_layernorm",
            generics: vec![outer.to_string(), n.to_string(), has_bias.to_string()],
            args: vec![Arg::Read(xb), Arg::Read(sb), Arg::Read(bb), Arg::Write(yb), Arg::Code(lit(ln.epsilon))],
        });
        Ok(())
    }
}

/// A per-axis constant of 1 or `n` values as `n` values.
fn broadcast_const(v: &[f32], n: usize) -> Vec<f32> {
    if v.len() == n {
        v.to_vec()
    } else {
        vec![v.first().copied().unwrap_or(0.0); n]
    }
}
