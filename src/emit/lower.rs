//! From a graph to a program of kernel calls: every runtime tensor gets a buffer (a graph input,
//! a graph output, a weight or an arena slot), every node one or more kernel calls with their
//! shapes fixed. Reshapes are aliases, a Relu or Clip that is the only reader of a Conv, Gemm,
//! MatMul, BatchNormalization or binary op is fused into its store (as is a constant bias Add
//! after a Conv or MatMul), and elementwise ops overwrite an input that dies with them.

pub mod quant;

use super::EmitError;
use crate::graph::{Graph, NodeId, ValueId};
use crate::ops::{BinaryKind, Op, PoolKind, ReduceKind, UnaryKind, VariadicKind};
use crate::tensor::{DType, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Index of a buffer in [`Program::bufs`].
pub type BufId = usize;

/// Where a buffer lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// The `k`-th graph input slice.
    Input(usize),
    /// The `k`-th graph output slice.
    Output(usize),
    /// The `k`-th weight tensor.
    Weight(usize),
    /// A slot in the arena, placed by the planner.
    Arena,
}

/// The element type of a buffer: f32, or an integer of a quantized tensor or weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `f32`.
    F32,
    /// `i8`.
    I8,
    /// `u8`.
    U8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
}

impl Elem {
    /// The Rust type.
    pub fn rust(self) -> &'static str {
        match self {
            Elem::F32 => "f32",
            Elem::I8 => "i8",
            Elem::U8 => "u8",
            Elem::I16 => "i16",
            Elem::I32 => "i32",
        }
    }

    /// Bytes per element.
    pub fn bytes(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 => 1,
            Elem::I16 => 2,
            Elem::F32 | Elem::I32 => 4,
        }
    }
}

/// A tensor's storage: length in elements, their type, and where it lives.
#[derive(Clone, Debug)]
pub struct Buf {
    /// Elements.
    pub len: usize,
    /// Element type.
    pub elem: Elem,
    /// Where.
    pub home: Home,
}

impl Buf {
    /// f32 slots it takes in the arena.
    pub fn slots(&self) -> usize {
        (self.len * self.elem.bytes()).div_ceil(4)
    }
}

/// A weight tensor's values in the element type the kernels read.
#[derive(Clone, Debug)]
pub enum Weight {
    /// Float weights, biases, scales.
    F32(Vec<f32>),
    /// Quantized weights.
    I8(Vec<i8>),
    /// Quantized weights with their zero point taken off (or unsigned ones).
    I16(Vec<i16>),
    /// Integer offsets of quantized sums.
    I32(Vec<i32>),
}

impl Weight {
    /// Elements.
    pub fn len(&self) -> usize {
        match self {
            Weight::F32(v) => v.len(),
            Weight::I8(v) => v.len(),
            Weight::I16(v) => v.len(),
            Weight::I32(v) => v.len(),
        }
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element type.
    pub fn elem(&self) -> Elem {
        match self {
            Weight::F32(_) => Elem::F32,
            Weight::I8(_) => Elem::I8,
            Weight::I16(_) => Elem::I16,
            Weight::I32(_) => Elem::I32,
        }
    }

    /// Little-endian bytes.
    pub fn le_bytes(&self) -> Vec<u8> {
        match self {
            Weight::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Weight::I8(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Weight::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Weight::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// Rust literals of the elements.
    pub fn literals(&self) -> Vec<String> {
        match self {
            Weight::F32(v) => v.iter().map(|x| lit(*x)).collect(),
            Weight::I8(v) => v.iter().map(|x| x.to_string()).collect(),
            Weight::I16(v) => v.iter().map(|x| x.to_string()).collect(),
            Weight::I32(v) => v.iter().map(|x| x.to_string()).collect(),
        }
    }
}

/// One argument of a kernel call.
#[derive(Clone, Debug)]
pub enum Arg {
    /// A buffer read.
    Read(BufId),
    /// A buffer written.
    Write(BufId),
    /// A buffer read and overwritten (in place).
    Update(BufId),
    /// Code (a constant, a closure).
    Code(String),
}

/// One kernel call.
#[derive(Clone, Debug)]
pub struct Step {
    /// The node it computes (for the comment above the call).
    pub node: String,
    /// The node's op.
    pub op: String,
    /// The kernel function.
    pub kernel: &'static str,
    /// Its const parameters, written out.
    pub generics: Vec<String>,
    /// Its arguments.
    pub args: Vec<Arg>,
}

/// The lowered model.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// Every buffer.
    pub bufs: Vec<Buf>,
    /// Kernel calls in order.
    pub steps: Vec<Step>,
    /// Weight tensors, indexed by [`Home::Weight`].
    pub weights: Vec<Weight>,
    /// Graph inputs: name and shape.
    pub inputs: Vec<(String, Vec<usize>)>,
    /// Graph outputs: name and shape.
    pub outputs: Vec<(String, Vec<usize>)>,
    /// Kernels and math functions the calls use.
    pub kernels: BTreeSet<&'static str>,
    /// Nodes whose work went into another node's kernel (activations, bias adds).
    pub fused: usize,
    /// Elementwise steps that overwrite their input.
    pub in_place: usize,
    /// Nodes that are zero-copy aliases (reshapes).
    pub aliases: usize,
    /// Nodes computed by integer kernels.
    pub integer_kernels: usize,
}

/// Formats an f32 as a Rust expression that reads back the same value.
pub fn lit(v: f32) -> String {
    if v.is_nan() {
        "f32::NAN".into()
    } else if v == f32::INFINITY {
        "f32::INFINITY".into()
    } else if v == f32::NEG_INFINITY {
        "f32::NEG_INFINITY".into()
    } else {
        format!("{v:?}")
    }
}

/// A clamp fused into a kernel's store.
#[derive(Clone, Copy, Debug)]
struct Clamp {
    lo: f32,
    hi: f32,
}

impl Clamp {
    const NONE: Clamp = Clamp { lo: f32::NEG_INFINITY, hi: f32::INFINITY };
    fn args(self) -> [Arg; 2] {
        [Arg::Code(lit(self.lo)), Arg::Code(lit(self.hi))]
    }
}

/// Row-major strides.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Strides of `shape` broadcast (right-aligned) to `out`: 0 along broadcast axes.
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = strides(shape);
    let lead = out.len() - shape.len();
    (0..out.len()).map(|i| if i < lead || shape[i - lead] == 1 { 0 } else { own[i - lead] }).collect()
}

/// Drops unit dimensions and merges neighbours every operand walks contiguously, then pads to
/// four dimensions at the front. `None` when more than four remain.
fn collapse(dims: &[usize], operands: &[Vec<usize>]) -> Option<([usize; 4], Vec<[usize; 4]>)> {
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

/// Lowers a graph (constants already folded) into a program; with `integer` (the folded
/// constants that were quantized integers), quantized tensors and kernels are integers.
pub fn lower(graph: &Graph, integer: Option<&quant::QuantConsts>) -> Result<Program, EmitError> {
    let order = graph.topo_order()?;
    let none = quant::QuantConsts::new();
    let mut l = Lowerer::new(graph, &order, integer.unwrap_or(&none));
    if integer.is_some() {
        l.quant = quant::plan(&l, &order);
    }
    l.program.fused += l.quant.absorbed.len();
    l.program.integer_kernels = l.quant.fused.len();
    l.skipped.extend(l.quant.absorbed.iter().copied());
    for (k, &id) in graph.inputs.iter().enumerate() {
        let ty = l.runtime_type(id, "graph input")?;
        l.program.inputs.push((graph.value(id).name.clone(), ty.clone()));
        let buf = l.new_buf(ty.iter().product(), Home::Input(k));
        l.vbuf.insert(id, buf);
    }
    for (k, &id) in graph.outputs.iter().enumerate() {
        let ty = l.runtime_type(id, "graph output")?;
        l.program.outputs.push((graph.value(id).name.clone(), ty));
        if graph.outputs[..k].contains(&id) {
            return Err(EmitError::Unsupported {
                node: graph.value(id).name.clone(),
                op: "output".into(),
                reason: "the same tensor is listed twice as a graph output".into(),
            });
        }
    }
    for (i, &id) in order.iter().enumerate() {
        if l.skipped.contains(&id) {
            continue;
        }
        l.at = i;
        l.node(id)?;
    }
    // Graph outputs that no node wrote into the output slice (an input, a weight, an alias).
    for (k, &id) in graph.outputs.iter().enumerate() {
        let src = l.read(id)?;
        if l.program.bufs[src].home != Home::Output(k) {
            let len = l.program.bufs[src].len;
            let dst = l.new_buf(len, Home::Output(k));
            let name = graph.value(id).name.clone();
            l.copy_flat(&name, src, dst, len);
        }
    }
    Ok(l.program)
}

struct Lowerer<'g> {
    graph: &'g Graph,
    program: Program,
    /// Buffer of every runtime value lowered so far.
    vbuf: HashMap<ValueId, BufId>,
    /// Weight buffer of every constant value used so far.
    wbuf: HashMap<ValueId, BufId>,
    /// Values sharing each buffer.
    members: HashMap<BufId, Vec<ValueId>>,
    /// Readers of every value.
    consumers: HashMap<ValueId, Vec<NodeId>>,
    /// Position of every node in the order.
    position: HashMap<NodeId, usize>,
    /// Nodes fused into an earlier kernel.
    skipped: BTreeSet<NodeId>,
    /// Position of the node being lowered.
    at: usize,
    /// Name and op of the node being lowered.
    current: (String, String),
    /// Constants that were quantized integers.
    qconsts: &'g quant::QuantConsts,
    /// Integer tensors and kernels.
    quant: quant::QuantPlan,
}

impl<'g> Lowerer<'g> {
    fn new(graph: &'g Graph, order: &[NodeId], qconsts: &'g quant::QuantConsts) -> Lowerer<'g> {
        let mut consumers: HashMap<ValueId, Vec<NodeId>> = HashMap::new();
        for &id in order {
            for v in graph.node(id).inputs.iter().flatten() {
                consumers.entry(*v).or_default().push(id);
            }
        }
        Lowerer {
            graph,
            program: Program::default(),
            vbuf: HashMap::new(),
            wbuf: HashMap::new(),
            members: HashMap::new(),
            consumers,
            position: order.iter().enumerate().map(|(i, &id)| (id, i)).collect(),
            skipped: BTreeSet::new(),
            at: 0,
            current: (String::new(), String::new()),
            qconsts,
            quant: quant::QuantPlan::default(),
        }
    }

    /// Fails (naming `what`) when an output of `node` past the first is read by a node or is a
    /// graph output: the kernels compute the first output only.
    fn only_first_output_read(&self, node: &crate::graph::Node, what: &str) -> Result<(), EmitError> {
        let read = |v: &ValueId| self.consumers.contains_key(v) || self.graph.outputs.contains(v);
        if node.outputs.iter().skip(1).any(read) {
            return Err(self.unsupported(what));
        }
        Ok(())
    }

    fn unsupported(&self, reason: impl Into<String>) -> EmitError {
        EmitError::Unsupported { node: self.current.0.clone(), op: self.current.1.clone(), reason: reason.into() }
    }

    /// The shape of a runtime value, which must be a number type held exactly in f32.
    fn runtime_type(&self, id: ValueId, what: &str) -> Result<Vec<usize>, EmitError> {
        let v = self.graph.value(id);
        let ty = self.graph.ty(id).ok_or_else(|| EmitError::Unsupported {
            node: v.name.clone(),
            op: what.into(),
            reason: "its type is unknown".into(),
        })?;
        if !matches!(ty.dtype, DType::F32 | DType::I8 | DType::U8 | DType::I16 | DType::U16) {
            return Err(EmitError::Unsupported {
                node: v.name.clone(),
                op: what.into(),
                reason: format!(
                    "tensor '{}' is {}; generated code computes on float (and 8/16-bit integers held in float)",
                    v.name, ty.dtype
                ),
            });
        }
        Ok(ty.shape.clone())
    }

    fn shape(&self, id: ValueId) -> Result<Vec<usize>, EmitError> {
        self.graph
            .ty(id)
            .map(|t| t.shape.clone())
            .ok_or_else(|| self.unsupported(format!("the type of '{}' is unknown", self.graph.value(id).name)))
    }

    fn new_buf(&mut self, len: usize, home: Home) -> BufId {
        self.new_typed_buf(len, Elem::F32, home)
    }

    fn new_typed_buf(&mut self, len: usize, elem: Elem, home: Home) -> BufId {
        self.program.bufs.push(Buf { len, elem, home });
        self.program.bufs.len() - 1
    }

    fn add_weight(&mut self, data: Vec<f32>) -> BufId {
        self.add_typed_weight(Weight::F32(data))
    }

    fn add_typed_weight(&mut self, data: Weight) -> BufId {
        let (len, elem) = (data.len(), data.elem());
        self.program.weights.push(data);
        let k = self.program.weights.len() - 1;
        self.new_typed_buf(len, elem, Home::Weight(k))
    }

    /// The buffer holding a value: its runtime buffer, or its constant as a weight.
    fn read(&mut self, id: ValueId) -> Result<BufId, EmitError> {
        if let Some(&b) = self.vbuf.get(&id) {
            return Ok(b);
        }
        if let Some(&b) = self.wbuf.get(&id) {
            return Ok(b);
        }
        let Some(t) = self.graph.constant(id) else {
            return Err(self.unsupported(format!("'{}' is read before it is computed", self.graph.value(id).name)));
        };
        let data = self.const_f32(t)?;
        let b = self.add_weight(data);
        self.wbuf.insert(id, b);
        Ok(b)
    }

    fn const_f32(&self, t: &Tensor) -> Result<Vec<f32>, EmitError> {
        if let Some(s) = t.as_f32() {
            return Ok(s.to_vec());
        }
        t.to_f64_vec()
            .map(|v| v.into_iter().map(|x| x as f32).collect())
            .ok_or_else(|| self.unsupported(format!("a {} constant", t.ttype().dtype)))
    }

    fn constant(&self, id: Option<ValueId>) -> Option<&'g Arc<Tensor>> {
        id.and_then(|v| self.graph.constant(v))
    }

    fn const_values(&self, id: Option<ValueId>, what: &str) -> Result<Vec<f32>, EmitError> {
        let t = self.constant(id).ok_or_else(|| self.unsupported(format!("{what} must be a constant")))?;
        self.const_f32(t)
    }

    /// A new buffer for `id`, written by the current node: its graph output slice if it is
    /// one, else an arena slot.
    fn define(&mut self, id: ValueId) -> Result<BufId, EmitError> {
        let shape = self.runtime_type(id, &self.current.1.clone())?;
        let home = match self.graph.outputs.iter().position(|&o| o == id) {
            Some(k) => Home::Output(k),
            None => Home::Arena,
        };
        let elem = self.quant.stored.get(&id).map_or(Elem::F32, |q| q.elem);
        let b = self.new_typed_buf(shape.iter().product(), elem, home);
        self.bind(id, b);
        Ok(b)
    }

    fn bind(&mut self, id: ValueId, b: BufId) {
        self.vbuf.insert(id, b);
        self.members.entry(b).or_default().push(id);
    }

    /// Whether a node after the current one reads `id`, or it is a graph output.
    fn read_later(&self, id: ValueId) -> bool {
        self.graph.outputs.contains(&id)
            || self.consumers.get(&id).is_some_and(|c| c.iter().any(|n| self.position[n] > self.at))
    }

    /// Whether the current node may overwrite the buffer of input `id` with its output.
    fn can_overwrite(&self, id: ValueId) -> bool {
        let Some(&b) = self.vbuf.get(&id) else { return false };
        self.program.bufs[b].home == Home::Arena
            && self.members.get(&b).is_some_and(|m| m.iter().all(|&v| !self.read_later(v)))
    }

    /// The single reader of `id` if it is the only one and `id` is not a graph output.
    fn sole_reader(&self, id: ValueId) -> Option<NodeId> {
        if self.graph.outputs.contains(&id) {
            return None;
        }
        match self.consumers.get(&id).map(|c| c.as_slice()) {
            Some([n]) => Some(*n),
            _ => None,
        }
    }

    /// A Relu or Clip that alone reads `out` becomes the clamp of the kernel computing `out`:
    /// returns the clamp and the value the kernel should define instead.
    fn fuse_clamp(&mut self, out: ValueId) -> (Clamp, ValueId) {
        match self.clamp_after(out) {
            Some((next, clamp, y)) => {
                self.skipped.insert(next);
                self.program.fused += 1;
                (clamp, y)
            }
            None => (Clamp::NONE, out),
        }
    }

    /// The Relu or Clip (with constant bounds) that alone reads `out`: the node, its clamp and
    /// its output.
    fn clamp_after(&self, out: ValueId) -> Option<(NodeId, Clamp, ValueId)> {
        let next = self.sole_reader(out)?;
        let node = self.graph.node(next);
        let clamp = match &node.op {
            Op::Unary(u) if u.kind == UnaryKind::Relu => Clamp { lo: 0.0, hi: f32::INFINITY },
            Op::Clip(c) => Clamp {
                lo: c.min.map(|v| v as f32).unwrap_or(f32::NEG_INFINITY),
                hi: c.max.map(|v| v as f32).unwrap_or(f32::INFINITY),
            },
            _ => return None,
        };
        if node.inputs.first().copied().flatten() != Some(out)
            || node.inputs.iter().skip(1).flatten().any(|v| self.graph.constant(*v).is_none())
        {
            return None;
        }
        Some((next, clamp, node.outputs[0]))
    }

    /// A constant Add that alone reads `out` (shape `shape`) and broadcasts along axis `axis`
    /// only (a per-channel or per-column bias) is folded into `bias`; returns the value the
    /// kernel should define instead.
    fn fuse_bias(&mut self, out: ValueId, shape: &[usize], axis: usize, bias: &mut [f32]) -> ValueId {
        let Some(next) = self.sole_reader(out) else { return out };
        let node = self.graph.node(next);
        let Op::Binary(b) = &node.op else { return out };
        if b.kind != BinaryKind::Add || b.legacy.is_some() {
            return out;
        }
        let other = match (node.inputs.first().copied().flatten(), node.inputs.get(1).copied().flatten()) {
            (Some(a), Some(c)) if a == out => c,
            (Some(c), Some(a)) if a == out => c,
            _ => return out,
        };
        let Some(t) = self.graph.constant(other) else { return out };
        let Some(data) = t.as_f32() else { return out };
        // The constant must broadcast into `shape` along `axis` only.
        let tshape = &t.ttype().shape;
        if tshape.len() > shape.len() || self.graph.ty(node.outputs[0]).map(|t| &t.shape[..]) != Some(shape) {
            return out;
        }
        let lead = shape.len() - tshape.len();
        let ok = tshape.iter().enumerate().all(|(i, &d)| d == 1 || (i + lead == axis && d == shape[axis]));
        if !ok || data.len() != 1 && data.len() != bias.len() {
            return out;
        }
        for (i, v) in bias.iter_mut().enumerate() {
            *v += if data.len() == 1 { data[0] } else { data[i] };
        }
        self.skipped.insert(next);
        self.program.fused += 1;
        node.outputs[0]
    }

    fn step(&mut self, kernel: &'static str, generics: Vec<usize>, args: Vec<Arg>) {
        self.typed_step(kernel, &[], nums(&generics), args);
    }

    /// A kernel call whose type parameters (`types`, first) are written out too; the const
    /// parameters are expressions (numbers, or [`PerTarget`] choices).
    fn typed_step(&mut self, kernel: &'static str, types: &[&str], generics: Vec<String>, args: Vec<Arg>) {
        self.program.kernels.insert(kernel);
        let mut generics: Vec<String> = types.iter().map(|t| t.to_string()).chain(generics).collect();
        // The closure's type.
        if matches!(kernel, "k_map" | "k_map_ip" | "k_bin" | "k_bin_ip") {
            generics.push("_".into());
        }
        self.program.steps.push(Step {
            node: self.current.0.clone(),
            op: self.current.1.clone(),
            kernel,
            generics,
            args,
        });
    }

    fn uses(&mut self, math: &[&'static str]) {
        self.program.kernels.extend(math.iter().copied());
    }

    fn copy_flat(&mut self, node: &str, src: BufId, dst: BufId, len: usize) {
        self.current = (node.to_string(), "copy".into());
        self.step(
            "k_copy",
            vec![1, 1, 1, len, 0, 0, 0, 1, 0, 0, 0, 1],
            vec![Arg::Read(src), Arg::Code("0".into()), Arg::Write(dst), Arg::Code("0".into())],
        );
    }

    /// A strided copy of `dims` from `src` at `xo` (strides `xs`) to `dst` at `yo` (strides `ys`).
    fn copy(
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

    fn input(&self, id: NodeId, i: usize) -> Result<ValueId, EmitError> {
        self.graph
            .node(id)
            .inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| self.unsupported(format!("input {i} is missing")))
    }

    fn node(&mut self, id: NodeId) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        self.current = (node.name.clone(), node.op.onnx_name().to_string());
        let out = node.outputs[0];
        if let Some(f) = self.quant.fused.get(&id).cloned() {
            return self.quantized(id, &f);
        }
        match &node.op {
            Op::Conv(c) => self.conv(id, c),
            Op::Gemm(g) => self.gemm(id, g),
            Op::MatMul(_) => self.matmul(id),
            Op::Unary(u) => {
                let x = self.input(id, 0)?;
                let (f, math): (&str, &[&'static str]) = match u.kind {
                    UnaryKind::Abs => ("|v| v.abs()", &[]),
                    UnaryKind::Neg => ("|v| -v", &[]),
                    UnaryKind::Sqrt => ("m_sqrt", &["m_sqrt"]),
                    UnaryKind::Exp => ("m_exp", &["m_exp"]),
                    UnaryKind::Log => ("m_ln", &["m_ln"]),
                    UnaryKind::Erf => ("m_erf", &["m_erf"]),
                    UnaryKind::Reciprocal => ("|v| 1.0 / v", &[]),
                    UnaryKind::Relu => ("|v| v.max(0.0)", &[]),
                    UnaryKind::Sigmoid => ("|v| 1.0 / (1.0 + m_exp(-v))", &["m_exp"]),
                    UnaryKind::Tanh => ("m_tanh", &["m_tanh"]),
                    UnaryKind::HardSwish => ("|v| v * (v / 6.0 + 0.5).max(0.0).min(1.0)", &[]),
                    UnaryKind::Gelu => {
                        ("|v| 0.5 * v * (1.0 + m_erf(v * core::f32::consts::FRAC_1_SQRT_2))", &["m_erf"])
                    }
                    UnaryKind::GeluTanh => {
                        ("|v| 0.5 * v * (1.0 + m_tanh(0.797_884_6 * (v + 0.044715 * v * v * v)))", &["m_tanh"])
                    }
                };
                self.uses(math);
                self.map(x, out, f.to_string())
            }
            Op::Clip(c) => {
                let lo = c.min.map(|v| v as f32).unwrap_or(f32::NEG_INFINITY);
                let hi = c.max.map(|v| v as f32).unwrap_or(f32::INFINITY);
                let x = self.input(id, 0)?;
                self.map(x, out, format!("|v| v.max({}).min({})", lit(lo), lit(hi)))
            }
            Op::LeakyRelu(r) => {
                let x = self.input(id, 0)?;
                self.map(x, out, format!("|v| if v < 0.0 {{ v * {} }} else {{ v }}", lit(r.alpha)))
            }
            Op::HardSigmoid(h) => {
                let x = self.input(id, 0)?;
                self.map(x, out, format!("|v| (v * {} + {}).max(0.0).min(1.0)", lit(h.alpha), lit(h.beta)))
            }
            Op::Binary(b) => {
                let (a, c) = (self.input(id, 0)?, self.input(id, 1)?);
                let bshape =
                    b.b_shape(&self.shape(a)?, &self.shape(c)?).map_err(|e| self.unsupported(e.to_string()))?;
                self.binary(b.kind, a, c, bshape, out)
            }
            Op::Variadic(v) => {
                let ins: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
                match ins.as_slice() {
                    [x] => self.alias(*x, out),
                    [a, c] => {
                        let f = match v.kind {
                            VariadicKind::Sum => BinaryKind::Add,
                            VariadicKind::Max => {
                                return self.binary_with(*a, *c, self.shape(*c)?, out, "|a, b| a.max(b)")
                            }
                            VariadicKind::Min => {
                                return self.binary_with(*a, *c, self.shape(*c)?, out, "|a, b| a.min(b)")
                            }
                        };
                        self.binary(f, *a, *c, self.shape(*c)?, out)
                    }
                    _ => Err(self.unsupported("more than two inputs")),
                }
            }
            Op::Softmax(s) => {
                let x = self.input(id, 0)?;
                let shape = self.shape(x)?;
                let axis = crate::ops::norm_axis(s.axis, shape.len()).map_err(|e| self.unsupported(e.to_string()))?;
                let outer: usize = shape[..axis].iter().product();
                let (n, inner) = if s.flatten_trailing {
                    (shape[axis..].iter().product(), 1)
                } else {
                    (shape[axis], shape[axis + 1..].iter().product())
                };
                let xb = self.read(x)?;
                let yb = self.define(out)?;
                self.step("k_softmax", vec![outer, n, inner], vec![Arg::Read(xb), Arg::Write(yb)]);
                Ok(())
            }
            Op::BatchNorm(bn) => {
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
            Op::LayerNorm(ln) => {
                let x = self.input(id, 0)?;
                let shape = self.shape(x)?;
                self.only_first_output_read(node, "the mean and inverse standard deviation outputs")?;
                let axis = crate::ops::norm_axis(ln.axis, shape.len()).map_err(|e| self.unsupported(e.to_string()))?;
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
            Op::Reduce(r) => {
                let x = self.input(id, 0)?;
                let shape = self.shape(x)?;
                let Some(mask) = r.reduced(shape.len()).map_err(|e| self.unsupported(e.to_string()))? else {
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
            Op::GlobalPool(p) => {
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
            Op::Pool(p) => self.pool(id, p),
            Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) | Op::Identity(_) => {
                let x = self.input(id, 0)?;
                self.alias(x, out)
            }
            Op::Dropout(_) => {
                self.only_first_output_read(node, "the mask output")?;
                let x = self.input(id, 0)?;
                self.alias(x, out)
            }
            Op::Cast(c) => {
                let x = self.input(id, 0)?;
                let from = self.graph.ty(x).map(|t| t.dtype);
                if from == Some(c.to) {
                    self.alias(x, out)
                } else {
                    Err(self.unsupported(format!(
                        "a cast from {} to {}",
                        from.map(|d| d.name()).unwrap_or_default(),
                        c.to
                    )))
                }
            }
            Op::Transpose(t) => {
                let x = self.input(id, 0)?;
                let shape = self.shape(x)?;
                let perm = t.perm_for(shape.len()).map_err(|e| self.unsupported(e.to_string()))?;
                let xs = strides(&shape);
                let dims: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
                let pxs: Vec<usize> = perm.iter().map(|&p| xs[p]).collect();
                let ys = strides(&dims);
                let xb = self.read(x)?;
                let yb = self.define(out)?;
                self.copy((xb, 0), (yb, 0), &dims, &pxs, &ys)
            }
            Op::Concat(c) => {
                let oshape = self.shape(out)?;
                let axis = crate::ops::norm_axis(c.axis, oshape.len()).map_err(|e| self.unsupported(e.to_string()))?;
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
            Op::Split(s) => {
                let x = self.input(id, 0)?;
                let shape = self.shape(x)?;
                let axis = crate::ops::norm_axis(s.axis, shape.len()).map_err(|e| self.unsupported(e.to_string()))?;
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
            Op::Slice(s) => {
                let x = self.input(id, 0)?;
                let shape = self.shape(x)?;
                let plan = s.resolve(&shape).map_err(|e| self.unsupported(e.to_string()))?;
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
            Op::Pad(p) => {
                if p.mode != crate::ops::PadMode::Constant {
                    return Err(self.unsupported(format!("pad mode {}", p.mode.onnx_name())));
                }
                let x = self.input(id, 0)?;
                let shape = self.shape(x)?;
                let (begins, _) = p.begins_ends(shape.len()).map_err(|e| self.unsupported(e.to_string()))?;
                if begins.iter().any(|&b| b < 0) || p.pads.iter().any(|&v| v < 0) {
                    return Err(self.unsupported("negative pads (cropping)"));
                }
                let oshape = self.shape(out)?;
                let ys = strides(&oshape);
                let yo: usize = begins.iter().zip(&ys).map(|(&b, &s)| b as usize * s).sum();
                let xb = self.read(x)?;
                let yb = self.define(out)?;
                self.step(
                    "k_fill",
                    vec![oshape.iter().product()],
                    vec![Arg::Write(yb), Arg::Code(lit(p.value as f32))],
                );
                if shape.iter().product::<usize>() > 0 {
                    self.copy((xb, 0), (yb, yo), &shape, &strides(&shape), &ys)?;
                }
                Ok(())
            }
            Op::Gather(g) => {
                let x = self.input(id, 0)?;
                let shape = self.shape(x)?;
                let axis = crate::ops::norm_axis(g.axis, shape.len()).map_err(|e| self.unsupported(e.to_string()))?;
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
            Op::QuantizeLinear(q) => {
                let x = self.input(id, 0)?;
                let scale = self.const_values(node.inputs.get(1).copied().flatten(), "y_scale")?;
                let zp = match node.inputs.get(2).copied().flatten() {
                    Some(z) => self.const_values(Some(z), "y_zero_point")?,
                    None => vec![0.0],
                };
                if scale.len() != 1 || zp.len() != 1 || q.block_size != 0 {
                    return Err(self.unsupported("per-axis or blocked quantization of a runtime tensor"));
                }
                if let Some(qp) = self.quant.stored.get(&out).copied() {
                    let (xb, yb) = (self.read(x)?, self.define(out)?);
                    let n = self.shape(x)?.iter().product();
                    let (inv, zero) = (Arg::Code(lit(qp.scale.recip())), Arg::Code(lit(qp.zero as f32)));
                    self.typed_step("k_quant_to", &["_"], nums(&[n]), vec![Arg::Read(xb), Arg::Write(yb), inv, zero]);
                    return Ok(());
                }
                let dtype = self.graph.ty(out).map(|t| t.dtype).unwrap_or(DType::U8);
                let (qmin, qmax) = match dtype {
                    DType::I8 => (-128.0, 127.0),
                    DType::U8 => (0.0, 255.0),
                    DType::I16 => (-32768.0, 32767.0),
                    DType::U16 => (0.0, 65535.0),
                    other => return Err(self.unsupported(format!("quantization to {other}"))),
                };
                let consts = [lit(scale[0].recip()), lit(zp[0]), lit(qmin), lit(qmax)].map(Arg::Code);
                let n = self.shape(x)?.iter().product();
                if self.can_overwrite(x) {
                    let b = self.read(x)?;
                    self.bind(out, b);
                    self.program.in_place += 1;
                    let mut args = vec![Arg::Update(b)];
                    args.extend(consts);
                    self.step("k_quant_ip", vec![n], args);
                } else {
                    let xb = self.read(x)?;
                    let yb = self.define(out)?;
                    let mut args = vec![Arg::Read(xb), Arg::Write(yb)];
                    args.extend(consts);
                    self.step("k_quant", vec![n], args);
                }
                Ok(())
            }
            Op::DequantizeLinear(dq) => {
                let x = self.input(id, 0)?;
                let shape = self.shape(x)?;
                let scale = self.const_values(node.inputs.get(1).copied().flatten(), "x_scale")?;
                let zp = match node.inputs.get(2).copied().flatten() {
                    Some(z) => self.const_values(Some(z), "x_zero_point")?,
                    None => vec![0.0; scale.len()],
                };
                if dq.block_size != 0 {
                    return Err(self.unsupported("blocked dequantization of a runtime tensor"));
                }
                if self.quant.stored.contains_key(&x) {
                    // Per tensor (the plan stores only tensors all of whose readers are).
                    let (xb, yb) = (self.read(x)?, self.define(out)?);
                    let args = vec![
                        Arg::Read(xb),
                        Arg::Write(yb),
                        Arg::Code(format!("{}", zp[0] as i32)),
                        Arg::Code(lit(scale[0])),
                    ];
                    self.typed_step("k_dequant", &["_"], nums(&[shape.iter().product()]), args);
                    return Ok(());
                }
                if scale.len() == 1 {
                    self.map(x, out, format!("|v| (v - {}) * {}", lit(zp[0]), lit(scale[0])))
                } else {
                    let axis =
                        crate::ops::norm_axis(dq.axis, shape.len()).map_err(|e| self.unsupported(e.to_string()))?;
                    let outer: usize = shape[..axis].iter().product();
                    let inner: usize = shape[axis + 1..].iter().product();
                    let t: Vec<f32> = scale.iter().zip(&zp).map(|(s, z)| -z * s).collect();
                    self.affine(x, out, outer, shape[axis], inner, scale, t)
                }
            }
            Op::Opaque(o) => {
                Err(EmitError::Opaque { nodes: format!("'{}' ({}::{})", node.name, o.domain, node.op.onnx_name()) })
            }
            Op::ConvTranspose(_)
            | Op::MatMulInteger(_)
            | Op::QLinearMatMul(_)
            | Op::Lrn(_)
            | Op::Shape(_)
            | Op::ConstantOfShape(_)
            | Op::Resize(_)
            | Op::QLinearConv(_)
            | Op::ConvInteger(_) => Err(self.unsupported("no kernel for this op yet")),
        }
    }

    /// `out` shares the buffer of `x` (a reshape); a graph output gets a copy at the end.
    fn alias(&mut self, x: ValueId, out: ValueId) -> Result<(), EmitError> {
        let b = self.read(x)?;
        self.bind(out, b);
        self.program.aliases += 1;
        Ok(())
    }

    /// `out = f(x)` elementwise, in place when `x` dies here.
    fn map(&mut self, x: ValueId, out: ValueId, f: String) -> Result<(), EmitError> {
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
    fn affine(
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

    /// The geometry of a Conv node (1-D convolutions as 2-D ones of height 1).
    fn conv_geometry(&self, id: NodeId, c: &crate::ops::Conv) -> Result<ConvGeometry, EmitError> {
        let xshape = self.shape(self.input(id, 0)?)?;
        let wshape = self.shape(self.input(id, 1)?)?;
        if xshape.len() != 4 && xshape.len() != 3 {
            return Err(self.unsupported(format!("{}-D convolution", xshape.len().saturating_sub(2))));
        }
        if xshape[0] != 1 {
            return Err(self.unsupported("a batch larger than 1"));
        }
        let (h, wd) = if xshape.len() == 4 { (xshape[2], xshape[3]) } else { (1, xshape[2]) };
        let (kh, kw) = if wshape.len() == 4 { (wshape[2], wshape[3]) } else { (1, wshape[2]) };
        let win = c.attrs.window(&xshape[2..], &wshape[2..], false).map_err(|e| self.unsupported(e.to_string()))?;
        let two = |v: &[usize], i: usize, one: usize| if v.len() == 2 { v[i] } else { one };
        let pads = if win.pads.len() == 4 {
            [win.pads[0], win.pads[1], win.pads[2], win.pads[3]]
        } else {
            [0, win.pads[0], 0, win.pads[1]]
        };
        let (cin, m, g) = (xshape[1], wshape[0], c.attrs.group.max(1));
        Ok(ConvGeometry {
            cin,
            m,
            g,
            h,
            wd,
            kh,
            kw,
            sh: two(&win.strides, 0, 1),
            sw: *win.strides.last().unwrap_or(&1),
            dh: two(&win.dilations, 0, 1),
            dw: *win.dilations.last().unwrap_or(&1),
            pads,
            oh: two(&win.output, 0, 1),
            ow: *win.output.last().unwrap_or(&1),
        })
    }

    fn conv(&mut self, id: NodeId, c: &crate::ops::Conv) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let x = self.input(id, 0)?;
        let wt = self
            .constant(node.inputs.get(1).copied().flatten())
            .ok_or_else(|| self.unsupported("weights computed at run time"))?;
        let w = self.const_f32(wt)?;
        let geo = self.conv_geometry(id, c)?;
        let ConvGeometry { cin, m, g, h, wd, kh, kw, sh, sw, dh, dw, oh, ow, .. } = geo;
        let mut bias = match node.inputs.get(2).copied().flatten() {
            Some(b) => self.const_values(Some(b), "the bias")?,
            None => vec![0.0; m],
        };
        let out = node.outputs[0];
        let oshape = self.shape(out)?;
        let out = self.fuse_bias(out, &oshape, 1, &mut bias);
        let (clamp, out) = self.fuse_clamp(out);
        let [lo, hi] = clamp.args();
        let xb = self.read(x)?;
        let bb = self.add_weight(bias);
        if geo.pointwise() {
            let wb = self.add_weight(w);
            let yb = self.define(out)?;
            let generics = mm_generics(&[m, cin, h * wd, 1], h * wd);
            self.typed_step(
                "k_mm",
                &[],
                generics,
                vec![Arg::Read(wb), Arg::Read(xb), Arg::Read(bb), Arg::Write(yb), lo, hi],
            );
            return Ok(());
        }
        let src = self.pad_input(&geo, xb, Elem::F32, "0.0")?;
        let (ph, pw) = geo.padded();
        let yb = self.define(out)?;
        if geo.depthwise() {
            let wb = self.add_weight(w);
            self.step(
                "k_dw",
                vec![cin, ph, pw, oh, ow, kh, kw, sh, sw, dh, dw],
                vec![Arg::Read(src), Arg::Read(wb), Arg::Read(bb), Arg::Write(yb), lo, hi],
            );
            return Ok(());
        }
        let (mb, pb) = conv_tile(m / g, ow);
        let wb = self.add_weight(conv_blocks(&w, &geo, mb));
        let mut generics = nums(&[g, cin / g, ph, pw, m / g, oh, ow, kh, kw, sh, sw, dh, dw, mb]);
        generics.extend([conv_sub_tile(mb), pb.to_string()]);
        self.typed_step(
            "k_conv",
            &[],
            generics,
            vec![Arg::Read(src), Arg::Read(wb), Arg::Read(bb), Arg::Write(yb), lo, hi],
        );
        Ok(())
    }

    /// The input of a convolution with its pads added (a new arena buffer filled with `fill`
    /// around), or `xb` itself when there are none.
    fn pad_input(&mut self, geo: &ConvGeometry, xb: BufId, elem: Elem, fill: &str) -> Result<BufId, EmitError> {
        let [pt, pl, pb, pr] = geo.pads;
        if pt + pl + pb + pr == 0 {
            return Ok(xb);
        }
        let (ph, pw) = geo.padded();
        let scratch = self.new_typed_buf(geo.cin * ph * pw, elem, Home::Arena);
        self.typed_step(
            "k_pad2d",
            &["_"],
            nums(&[geo.cin, geo.h, geo.wd, ph, pw, pt, pl]),
            vec![Arg::Read(xb), Arg::Write(scratch), Arg::Code(fill.into())],
        );
        Ok(scratch)
    }

    fn gemm(&mut self, id: NodeId, gm: &crate::ops::Gemm) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let (a, b) = (self.input(id, 0)?, self.input(id, 1)?);
        let (ashape, bshape) = (self.shape(a)?, self.shape(b)?);
        let (m, k) = if gm.trans_a { (ashape[1], ashape[0]) } else { (ashape[0], ashape[1]) };
        let n = if gm.trans_b { bshape[0] } else { bshape[1] };
        if gm.trans_a && m != 1 && k != 1 {
            return Err(self.unsupported("transA on a runtime matrix"));
        }
        if self.graph.constant(a).is_some() {
            return Err(self.unsupported("a constant A with a runtime B"));
        }
        let bt = self.constant(Some(b)).ok_or_else(|| self.unsupported("a runtime B"))?;
        let bv = self.const_f32(bt)?;
        let mut w = vec![0f32; k * n];
        for kk in 0..k {
            for nn in 0..n {
                let v = if gm.trans_b { bv[nn * k + kk] } else { bv[kk * n + nn] };
                w[kk * n + nn] = v * gm.alpha;
            }
        }
        let (bias_kind, mut bias) = match node.inputs.get(2).copied().flatten() {
            None => (2, vec![0.0; n]),
            Some(c) => {
                let ct = self.constant(Some(c)).ok_or_else(|| self.unsupported("a runtime C"))?;
                let cv = self.const_f32(ct)?;
                let cshape = ct.ttype().shape;
                let full = expand(&cv, &cshape, &[m, n])
                    .ok_or_else(|| self.unsupported("C does not broadcast to the output"))?;
                let full: Vec<f32> = full.iter().map(|v| v * gm.beta).collect();
                if m == 1 || full.chunks(n).all(|row| row == &full[..n]) {
                    (2, full[..n].to_vec())
                } else {
                    (3, full)
                }
            }
        };
        let out = node.outputs[0];
        let out = if bias_kind == 2 { self.fuse_bias(out, &[m, n], 1, &mut bias) } else { out };
        let (clamp, out) = self.fuse_clamp(out);
        let [lo, hi] = clamp.args();
        let ab = self.read(a)?;
        let wb = self.add_weight(w);
        let bb = self.add_weight(bias);
        let yb = self.define(out)?;
        let generics = mm_generics(&[m, k, n, bias_kind], n);
        self.typed_step(
            "k_mm",
            &[],
            generics,
            vec![Arg::Read(ab), Arg::Read(wb), Arg::Read(bb), Arg::Write(yb), lo, hi],
        );
        Ok(())
    }

    fn matmul(&mut self, id: NodeId) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        let (a, b) = (self.input(id, 0)?, self.input(id, 1)?);
        let (mut ashape, mut bshape) = (self.shape(a)?, self.shape(b)?);
        if ashape.len() == 1 {
            ashape.insert(0, 1);
        }
        if bshape.len() == 1 {
            bshape.push(1);
        }
        let (m, k) = (ashape[ashape.len() - 2], ashape[ashape.len() - 1]);
        let n = bshape[bshape.len() - 1];
        let abatch: usize = ashape[..ashape.len() - 2].iter().product();
        let bbatch: usize = bshape[..bshape.len() - 2].iter().product();
        let out = node.outputs[0];
        let oshape = self.shape(out)?;
        let batch: usize = oshape.iter().product::<usize>() / (m * n).max(1);
        if bbatch == 1 {
            // One right-hand matrix: all of A's rows in one product.
            let mut bias = vec![0f32; n];
            let out = match oshape.len() {
                0 => out, // a dot product of two vectors: no axis to fold a bias along
                rank => self.fuse_bias(out, &oshape, rank - 1, &mut bias),
            };
            let (clamp, out) = self.fuse_clamp(out);
            let [lo, hi] = clamp.args();
            let ab = self.read(a)?;
            let wb = self.read(b)?;
            let bb = self.add_weight(bias);
            let yb = self.define(out)?;
            let generics = mm_generics(&[abatch * m, k, n, 2], n);
            self.typed_step(
                "k_mm",
                &[],
                generics,
                vec![Arg::Read(ab), Arg::Read(wb), Arg::Read(bb), Arg::Write(yb), lo, hi],
            );
            return Ok(());
        }
        let sa = if abatch == 1 {
            0
        } else if abatch == batch {
            m * k
        } else {
            return Err(self.unsupported("partly broadcast batch dimensions"));
        };
        let sb =
            if bbatch == batch { k * n } else { return Err(self.unsupported("partly broadcast batch dimensions")) };
        let (clamp, out) = self.fuse_clamp(out);
        let [lo, hi] = clamp.args();
        let ab = self.read(a)?;
        let bb = self.read(b)?;
        let yb = self.define(out)?;
        self.program.kernels.insert("k_mm");
        let generics = mm_generics(&[batch, m, k, n, sa, sb], n);
        self.typed_step("k_bmm", &[], generics, vec![Arg::Read(ab), Arg::Read(bb), Arg::Write(yb), lo, hi]);
        Ok(())
    }

    fn pool(&mut self, id: NodeId, p: &crate::ops::Pool) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        self.only_first_output_read(node, "the Indices output")?;
        let x = self.input(id, 0)?;
        let xshape = self.shape(x)?;
        if xshape.len() != 4 && xshape.len() != 3 {
            return Err(self.unsupported(format!("{}-D pooling", xshape.len().saturating_sub(2))));
        }
        let kernel = p.window.kernel_shape.clone().ok_or_else(|| self.unsupported("no kernel_shape"))?;
        let win = p.window.window(&xshape[2..], &kernel, p.ceil_mode).map_err(|e| self.unsupported(e.to_string()))?;
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
        let yb = self.define(node.outputs[0])?;
        let max = p.kind == PoolKind::Max;
        self.program.kernels.insert("k_pool");
        self.program.steps.push(Step {
            node: self.current.0.clone(),
            op: self.current.1.clone(),
            kernel: "k_pool",
            generics: [c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr]
                .iter()
                .map(|v| v.to_string())
                .chain([max.to_string(), p.count_include_pad.to_string()])
                .collect(),
            args: vec![Arg::Read(xb), Arg::Write(yb)],
        });
        Ok(())
    }
}

/// `data` of shape `from` broadcast to `to`; `None` when it does not broadcast.
fn expand(data: &[f32], from: &[usize], to: &[usize]) -> Option<Vec<f32>> {
    if from.len() > to.len() {
        return None;
    }
    let lead = to.len() - from.len();
    if from.iter().enumerate().any(|(i, &d)| d != 1 && d != to[i + lead]) {
        return None;
    }
    let st = broadcast_strides(from, to);
    let n: usize = to.iter().product();
    let mut idx = vec![0usize; to.len()];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(data[idx.iter().zip(&st).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..to.len()).rev() {
            idx[d] += 1;
            if idx[d] < to[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(out)
}

/// A const argument the compiler picks for the target it compiles for, so that one generated
/// module keeps its register tiles in registers everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PerTarget {
    /// AVX (16 registers of 8 f32) or AArch64 NEON (32 of 4).
    wide: usize,
    /// x86 without AVX (16 registers of 4 f32).
    sse: usize,
    /// Targets without float vectors (32-bit Arm such as Cortex-M4F/M7, RISC-V: 32 scalar
    /// float registers).
    scalar: usize,
}

impl PerTarget {
    /// The Rust const expression: a number when all agree, else a `cfg!` choice (with no two
    /// branches alike).
    fn expr(self) -> String {
        const WIDE: &str = "any(target_feature = \"avx\", target_arch = \"aarch64\")";
        const X86: &str = "any(target_arch = \"x86\", target_arch = \"x86_64\")";
        let PerTarget { wide, sse, scalar } = self;
        if wide == sse && sse == scalar {
            wide.to_string()
        } else if wide == sse {
            format!("{{ if cfg!(any({WIDE}, {X86})) {{ {wide} }} else {{ {scalar} }} }}")
        } else if sse == scalar {
            format!("{{ if cfg!({WIDE}) {{ {wide} }} else {{ {sse} }} }}")
        } else if wide == scalar {
            format!("{{ if cfg!(all({X86}, not(target_feature = \"avx\"))) {{ {sse} }} else {{ {wide} }} }}")
        } else {
            format!("{{ if cfg!({WIDE}) {{ {wide} }} else if cfg!({X86}) {{ {sse} }} else {{ {scalar} }} }}")
        }
    }
}

/// Numbers as const arguments.
fn nums(v: &[usize]) -> Vec<String> {
    v.iter().map(|g| g.to_string()).collect()
}

/// The const arguments of a matrix product kernel: `dims`, then the column blocks for `n`
/// columns ([`mm_blocks`]).
fn mm_generics(dims: &[usize], n: usize) -> Vec<String> {
    let mut generics = nums(dims);
    generics.extend(mm_blocks(n));
    generics
}

/// Column blocks of a matrix product with `n` columns, as the `NB4` and `NB1` arguments: for
/// blocks of four rows 16 columns on wide targets (eight 8-lane or sixteen 4-lane registers of
/// sums), 8 with SSE, 4 on scalar targets; for single rows 64, 32 and 8. Each dividing `n`
/// where a block of at least half that size does (the last block, which overlaps the one before
/// when it does not, then recomputes no columns), and never above `n`.
fn mm_blocks(n: usize) -> [String; 2] {
    let pick = |max: usize| {
        if n <= max {
            n
        } else {
            (max / 2..=max).rev().find(|&b| n.is_multiple_of(b)).unwrap_or(max)
        }
    };
    [
        PerTarget { wide: pick(16), sse: pick(8), scalar: pick(4) }.expr(),
        PerTarget { wide: pick(64), sse: pick(32), scalar: pick(8) }.expr(),
    ]
}

/// The output channels a direct convolution sums at a time within its `mb`-channel weight
/// blocks: all `mb` on wide targets, a divisor of `mb` of at most 16 with SSE and at most 8 on
/// scalar targets (two pixels' sums must stay in registers).
fn conv_sub_tile(mb: usize) -> String {
    let divisor = |max: usize| (1..=max.min(mb)).rev().find(|&d| mb.is_multiple_of(d)).unwrap_or(1);
    PerTarget { wide: mb, sse: divisor(16), scalar: divisor(8) }.expr()
}

/// The register tile of a direct convolution with `mg` output channels per group and `ow`
/// output columns: two pixels (one when the row has one) by `mb` channels, the largest
/// divisor of `mg` that is a multiple of 8 and at most 48 (six 8-lane vectors per pixel), or
/// `mg` itself when it is at most 48. Two-pixel tiles measured best across the shared models'
/// layers with AVX2 (wider tiles were erratic: LLVM sometimes vectorizes across the pixels).
fn conv_tile(mg: usize, ow: usize) -> (usize, usize) {
    let pb = ow.clamp(1, 2);
    if mg <= 48 {
        return (mg, pb);
    }
    let mb = (8..=48).rev().step_by(8).find(|&mb| mg.is_multiple_of(mb)).unwrap_or(mg);
    (mb, pb)
}

/// The geometry of a 2-D convolution.
#[derive(Clone, Copy, Debug)]
struct ConvGeometry {
    cin: usize,
    m: usize,
    g: usize,
    h: usize,
    wd: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    /// Top, left, bottom, right.
    pads: [usize; 4],
    oh: usize,
    ow: usize,
}

impl ConvGeometry {
    /// A 1×1 convolution without stride, pads or groups: a matrix product.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.pads == [0; 4] && self.g == 1
    }

    /// One filter per channel.
    fn depthwise(&self) -> bool {
        self.g == self.cin && self.m == self.cin
    }

    /// Height and width with the pads.
    fn padded(&self) -> (usize, usize) {
        (self.h + self.pads[0] + self.pads[2], self.wd + self.pads[1] + self.pads[3])
    }
}

/// Convolution weights `[M][CG][KH][KW]` laid out `[G][MG/MB][CG][KH][KW][MB]` for the direct
/// convolution's `MB`-channel tiles.
fn conv_blocks<T: Copy + Default>(w: &[T], geo: &ConvGeometry, mb: usize) -> Vec<T> {
    let (g, mg, cg, kh, kw) = (geo.g, geo.m / geo.g, geo.cin / geo.g, geo.kh, geo.kw);
    let mut out = vec![T::default(); w.len()];
    for gi in 0..g {
        for mi in 0..mg {
            let (blk, m) = (mi / mb, mi % mb);
            for ci in 0..cg {
                for a in 0..kh {
                    for b in 0..kw {
                        let to = ((((gi * (mg / mb) + blk) * cg + ci) * kh + a) * kw + b) * mb + m;
                        out[to] = w[(((gi * mg + mi) * cg + ci) * kh + a) * kw + b];
                    }
                }
            }
        }
    }
    out
}

/// A per-axis constant of 1 or `n` values as `n` values.
fn broadcast_const(v: &[f32], n: usize) -> Vec<f32> {
    if v.len() == n {
        v.to_vec()
    } else {
        vec![v.first().copied().unwrap_or(0.0); n]
    }
}

#[cfg(test)]
mod tests {
    use super::{conv_sub_tile, conv_tile, mm_blocks, PerTarget};

    #[test]
    fn tiles_follow_the_target_registers() {
        assert_eq!(PerTarget { wide: 8, sse: 8, scalar: 8 }.expr(), "8");
        let expr = PerTarget { wide: 48, sse: 16, scalar: 8 }.expr();
        assert!(expr.contains("target_feature = \"avx\"") && expr.contains("{ 48 }") && expr.ends_with("{ 8 } }"));
        assert_eq!(conv_sub_tile(48), expr);
        // 40 channels: divisors 10 (SSE) and 8 (scalar).
        assert!(conv_sub_tile(40).contains("{ 10 }"));
        // Blocks never exceed the columns and divide them where they can.
        assert_eq!(mm_blocks(5), [PerTarget { wide: 5, sse: 5, scalar: 4 }.expr(), "5".to_string()]);
        assert!(mm_blocks(2304)[0].contains("{ 16 }") && mm_blocks(2304)[0].contains("{ 8 }"));
    }

    #[test]
    fn conv_tiles_fit_the_registers() {
        for (mg, ow) in [(3, 32), (8, 48), (16, 32), (40, 32), (64, 8), (80, 16), (160, 8), (256, 3), (7, 5)] {
            let (mb, pb) = conv_tile(mg, ow);
            assert_eq!(mg % mb, 0, "{mg}: {mb}");
            assert!(pb >= 1 && pb <= ow.max(1));
            assert!(mb <= 48 || mb == mg, "{mg}/{ow}: {mb}x{pb}");
        }
        assert_eq!(conv_tile(160, 8), (40, 2));
        assert_eq!(conv_tile(64, 8), (32, 2));
    }
}
