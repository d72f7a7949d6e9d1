//! Lowering of elementwise ops (activations, binary and variadic arithmetic, per-channel
//! affine maps): one map or broadcasting binary kernel each, in place when an input dies with
//! the op, with a Relu or Clip after it fused into the store.

use super::layout::{broadcast_strides, collapse, strides};
use super::{lit, Arg, EmitError, Lowerer};
use crate::graph::{NodeId, ValueId};
use crate::ops::{BinaryKind, UnaryKind, VariadicKind};
use crate::tensor::DType;

impl Lowerer<'_> {
    /// A Unary op as a map.
    pub(super) fn unary(&mut self, id: NodeId, u: &crate::ops::Unary) -> Result<(), EmitError> {
        let out = self.output(id);
        let x = self.input(id, 0)?;
        let (f, math): (&str, &[&'static str]) = match u.kind {
            UnaryKind::Abs => ("|v| v.abs()", &[]),
            UnaryKind::Neg => ("|v| -v", &[]),
            UnaryKind::Sqrt => ("m_sqrt", &["m_sqrt"]),
            UnaryKind::Exp => ("m_exp", &["m_exp"]),
            UnaryKind::Log => ("m_ln", &["m_ln"]),
            UnaryKind::Erf => ("m_erf", &["m_erf"]),
            UnaryKind::Reciprocal => ("|v| 1.0 / v", &[]),
            UnaryKind::Relu => ("|v| if v < 0.0 { 0.0 } else { v }", &[]),
            UnaryKind::Sigmoid => ("|v| 1.0 / (1.0 + m_exp(-v))", &["m_exp"]),
            UnaryKind::Tanh => ("m_tanh", &["m_tanh"]),
            UnaryKind::HardSwish => ("|v| v * m_clamp(v / 6.0 + 0.5, 0.0, 1.0)", &["m_clamp"]),
            UnaryKind::Gelu => ("|v| 0.5 * v * (1.0 + m_erf(v * core::f32::consts::FRAC_1_SQRT_2))", &["m_erf"]),
            UnaryKind::GeluTanh => {
                ("|v| 0.5 * v * (1.0 + m_tanh(0.797_884_6 * (v + 0.044715 * v * v * v)))", &["m_tanh"])
            }
        };
        self.uses(math);
        self.map(x, out, f.to_string())
    }

    /// Clip as a map.
    pub(super) fn clip(&mut self, id: NodeId, c: &crate::ops::Clip) -> Result<(), EmitError> {
        let out = self.output(id);
        let lo = c.min.map(|v| v as f32).unwrap_or(f32::NEG_INFINITY);
        let hi = c.max.map(|v| v as f32).unwrap_or(f32::INFINITY);
        let x = self.input(id, 0)?;
        self.uses(&["m_clamp"]);
        self.map(x, out, format!("|v| m_clamp(v, {}, {})", lit(lo), lit(hi)))
    }

    /// LeakyRelu as a map.
    pub(super) fn leaky_relu(&mut self, id: NodeId, r: &crate::ops::LeakyRelu) -> Result<(), EmitError> {
        let out = self.output(id);
        let x = self.input(id, 0)?;
        self.map(x, out, format!("|v| if v < 0.0 {{ v * {} }} else {{ v }}", lit(r.alpha)))
    }

    /// HardSigmoid as a map.
    pub(super) fn hard_sigmoid(&mut self, id: NodeId, h: &crate::ops::HardSigmoid) -> Result<(), EmitError> {
        let out = self.output(id);
        let x = self.input(id, 0)?;
        self.uses(&["m_clamp"]);
        self.map(x, out, format!("|v| m_clamp(v * {} + {}, 0.0, 1.0)", lit(h.alpha), lit(h.beta)))
    }

    /// A Binary op, broadcasting.
    pub(super) fn binary_op(&mut self, id: NodeId, b: &crate::ops::Binary) -> Result<(), EmitError> {
        let out = self.output(id);
        let (a, c) = (self.input(id, 0)?, self.input(id, 1)?);
        let bshape = self.check(b.b_shape(&self.shape(a)?, &self.shape(c)?))?;
        self.binary(b.kind, a, c, bshape, out)
    }

    /// Sum, Max or Min of one or two inputs.
    pub(super) fn variadic(&mut self, id: NodeId, v: &crate::ops::Variadic) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let out = node.outputs[0];
        let ins: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
        match ins.as_slice() {
            [x] => self.alias(*x, out),
            [a, c] => {
                let f = match v.kind {
                    VariadicKind::Sum => BinaryKind::Add,
                    VariadicKind::Max => return self.binary_with(*a, *c, self.shape(*c)?, out, "|a, b| a.max(b)"),
                    VariadicKind::Min => return self.binary_with(*a, *c, self.shape(*c)?, out, "|a, b| a.min(b)"),
                };
                self.binary(f, *a, *c, self.shape(*c)?, out)
            }
            _ => Err(self.unsupported("more than two inputs")),
        }
    }

    /// `out = f(x)` elementwise, in place when `x` dies here.
    pub(super) fn map(&mut self, x: ValueId, out: ValueId, f: String) -> Result<(), EmitError> {
        let n: usize = self.shape(x)?.iter().product();
        if self.can_overwrite(x) {
            let b = self.read(x)?;
            self.bind(out, b);
            self.program.in_place += 1;
            self.step("k_map_ip", vec![n], vec![Arg::Update(b), Arg::Code(f)]);
        } else {
            let xb = self.read(x)?;
            let yb = self.define(out)?;
            self.step("k_map", vec![n], vec![Arg::Read(xb), Arg::Write(yb), Arg::Code(f)]);
        }
        Ok(())
    }

    /// `out = x·s[c] + t[c]` over `[outer][c][inner]`, with a fused clamp.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn affine(
        &mut self,
        x: ValueId,
        out: ValueId,
        outer: usize,
        c: usize,
        inner: usize,
        s: Vec<f32>,
        t: Vec<f32>,
    ) -> Result<(), EmitError> {
        let (clamp, out) = self.fuse_clamp(out);
        let sb = self.add_weight(s);
        let tb = self.add_weight(t);
        let [lo, hi] = clamp.args();
        if self.can_overwrite(x) {
            let b = self.read(x)?;
            self.bind(out, b);
            self.program.in_place += 1;
            self.step("k_affine_ip", vec![outer, c, inner], vec![Arg::Update(b), Arg::Read(sb), Arg::Read(tb), lo, hi]);
        } else {
            let xb = self.read(x)?;
            let yb = self.define(out)?;
            self.step(
                "k_affine",
                vec![outer, c, inner],
                vec![Arg::Read(xb), Arg::Read(sb), Arg::Read(tb), Arg::Write(yb), lo, hi],
            );
        }
        Ok(())
    }

    fn binary(
        &mut self,
        kind: BinaryKind,
        a: ValueId,
        b: ValueId,
        bshape: Vec<usize>,
        out: ValueId,
    ) -> Result<(), EmitError> {
        // A scalar constant operand makes a map.
        let scalar = |id: ValueId| {
            self.graph.constant(id).filter(|t| t.numel() == 1).and_then(|t| t.scalar_f64()).map(|v| v as f32)
        };
        let oshape = self.shape(out)?;
        let integer = self.graph.ty(out).is_some_and(|t| t.dtype != DType::F32);
        if let Some(c) = scalar(b).filter(|_| self.shape(a).ok().as_deref() == Some(&oshape[..])) {
            let c_ = lit(c);
            let f = match kind {
                BinaryKind::Add => format!("|v| v + {c_}"),
                BinaryKind::Sub => format!("|v| v - {c_}"),
                BinaryKind::Mul => format!("|v| v * {c_}"),
                // Integer division truncates (exact: quotients of 16-bit integers in f32 never
                // round across an integer).
                BinaryKind::Div if integer => format!("|v| (v / {c_}) as i32 as f32"),
                BinaryKind::Div => format!("|v| v / {c_}"),
                BinaryKind::Pow if c == 2.0 => "|v| v * v".into(),
                BinaryKind::Pow if c == 1.0 => "|v| v".into(),
                BinaryKind::Pow if c == 0.5 => {
                    self.uses(&["m_sqrt"]);
                    "m_sqrt".into()
                }
                BinaryKind::Pow => {
                    self.uses(&["m_pow"]);
                    format!("|v| m_pow(v, {c_})")
                }
                BinaryKind::PRelu => format!("|v| if v < 0.0 {{ v * {c_} }} else {{ v }}"),
            };
            return self.map(a, out, f);
        }
        let f = match kind {
            BinaryKind::Add => "|a, b| a + b",
            BinaryKind::Sub => "|a, b| a - b",
            BinaryKind::Mul => "|a, b| a * b",
            BinaryKind::Div if integer => "|a, b| (a / b) as i32 as f32",
            BinaryKind::Div => "|a, b| a / b",
            BinaryKind::Pow => {
                self.uses(&["m_pow"]);
                "m_pow"
            }
            BinaryKind::PRelu => "|a, b| if a < 0.0 { a * b } else { a }",
        };
        let commutative = matches!(kind, BinaryKind::Add | BinaryKind::Mul);
        // Put the operand that can be overwritten first when the op allows.
        if commutative && !self.can_overwrite(a) && self.can_overwrite(b) && self.shape(b)? == oshape {
            let ashape = self.shape(a)?;
            return self.binary_with(b, a, ashape, out, f);
        }
        self.binary_with(a, b, bshape, out, f)
    }

    /// `out = f(a, b)` with broadcasting; `bshape` is the shape `b` broadcasts as.
    fn binary_with(
        &mut self,
        a: ValueId,
        b: ValueId,
        bshape: Vec<usize>,
        out: ValueId,
        f: &str,
    ) -> Result<(), EmitError> {
        let oshape = self.shape(out)?;
        let ashape = self.shape(a)?;
        let (clamp, out) = self.fuse_clamp(out);
        let [lo, hi] = clamp.args();
        let bs = broadcast_strides(&bshape, &oshape);
        if ashape == oshape && self.can_overwrite(a) && self.vbuf.get(&a) != self.vbuf.get(&b) {
            let (d, s) = collapse(&oshape, &[strides(&oshape), bs])
                .ok_or_else(|| self.unsupported("broadcasting over more than four dimensions"))?;
            let ab = self.read(a)?;
            let bb = self.read(b)?;
            self.bind(out, ab);
            self.program.in_place += 1;
            let mut g = d.to_vec();
            g.extend(s[1]);
            self.step("k_bin_ip", g, vec![Arg::Update(ab), Arg::Read(bb), Arg::Code(f.into()), lo, hi]);
            return Ok(());
        }
        let as_ = broadcast_strides(&ashape, &oshape);
        let (d, s) = collapse(&oshape, &[as_, bs])
            .ok_or_else(|| self.unsupported("broadcasting over more than four dimensions"))?;
        let ab = self.read(a)?;
        let bb = self.read(b)?;
        let yb = self.define(out)?;
        let mut g = d.to_vec();
        g.extend(s[0]);
        g.extend(s[1]);
        self.step("k_bin", g, vec![Arg::Read(ab), Arg::Read(bb), Arg::Write(yb), Arg::Code(f.into()), lo, hi]);
        Ok(())
    }
}
