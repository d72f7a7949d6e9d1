//! From a graph to a program of kernel calls: every runtime tensor gets a buffer (a graph input,
//! a graph output, a weight or an arena slot), every node one or more kernel calls with their
//! shapes fixed. Reshapes are aliases, a Relu or Clip that is the only reader of a Conv, Gemm,
//! MatMul, BatchNormalization or binary op is fused into its store (as is a constant bias Add
//! after a Conv or MatMul), a base-2 softmax's nodes are one kernel ([`crate::softermax`]), as
//! is a Softmax with the DequantizeLinear of 8-bit integers before it ([`crate::softmax8`]),
//! and elementwise ops overwrite an input that dies with them.

//!
//! One file per op family, as in `src/ops/`: `Lowerer::node` dispatches each node to its
//! family's method.

mod conv;
mod elementwise;
mod layout;
mod linalg;
mod norm;
mod pool;
mod qadd;
mod qpack;
mod qplan;
pub mod quant;
mod qwino;
mod shiftadd;
mod steps;
mod winograd;

use super::{EmitError, EmitOptions};
use crate::graph::{Graph, NodeId, ValueId};
use crate::ops::{BinaryKind, Op, UnaryKind};
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
    /// `u16` (digit programs).
    U16,
    /// `u32` (digit programs).
    U32,
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
            Elem::U16 => "u16",
            Elem::U32 => "u32",
        }
    }

    /// Bytes per element.
    pub fn bytes(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 => 1,
            Elem::I16 | Elem::U16 => 2,
            Elem::F32 | Elem::I32 | Elem::U32 => 4,
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
    /// Digit programs of shift-add kernels, where every word fits.
    U16(Vec<u16>),
    /// Digit programs of shift-add kernels.
    U32(Vec<u32>),
}

impl Weight {
    /// Elements.
    pub fn len(&self) -> usize {
        match self {
            Weight::F32(v) => v.len(),
            Weight::I8(v) => v.len(),
            Weight::I16(v) => v.len(),
            Weight::I32(v) => v.len(),
            Weight::U16(v) => v.len(),
            Weight::U32(v) => v.len(),
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
            Weight::U16(_) => Elem::U16,
            Weight::U32(_) => Elem::U32,
        }
    }

    /// Little-endian bytes.
    pub fn le_bytes(&self) -> Vec<u8> {
        match self {
            Weight::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Weight::I8(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Weight::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Weight::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Weight::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Weight::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// Rust literals of the elements.
    pub fn literals(&self) -> Vec<String> {
        match self {
            Weight::F32(v) => v.iter().map(|x| lit(*x)).collect(),
            Weight::I8(v) => v.iter().map(|x| x.to_string()).collect(),
            Weight::I16(v) => v.iter().map(|x| x.to_string()).collect(),
            Weight::I32(v) => v.iter().map(|x| x.to_string()).collect(),
            Weight::U16(v) => v.iter().map(|x| x.to_string()).collect(),
            Weight::U32(v) => v.iter().map(|x| x.to_string()).collect(),
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
    /// Of those, the nodes computed by shift-add kernels.
    pub shift_add_kernels: usize,
    /// Integer kernels storing through a table of steps (integer requantization).
    pub step_tables: usize,
    /// Every layer that could store through a table of steps (whether it does or not).
    pub table_uses: Vec<TableUse>,
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

/// Lowers a graph (constants already folded) into a program; with `integer` (the folded
/// constants that were quantized integers), quantized tensors and kernels are integers;
/// int8 convolutions on the packed layout of `k_qconv4` unless
/// [`EmitOptions::narrow_int8`], stores through tables of steps under
/// [`EmitOptions::integer_requant`].
pub fn lower(
    graph: &Graph,
    integer: Option<&quant::QuantConsts>,
    options: &EmitOptions,
    tables: Tables,
) -> Result<Program, EmitError> {
    let order = graph.topo_order()?;
    let none = quant::QuantConsts::new();
    let mut l = Lowerer::new(graph, &order, integer.unwrap_or(&none));
    l.packed = !options.narrow_int8;
    l.dsp = options.narrow_int8 && options.arm_dsp;
    l.unshared_digits = options.unshared_digits;
    l.tables = tables;
    if integer.is_some() {
        l.quant = quant::plan(&l, &order);
    }
    l.program.fused += l.quant.absorbed.len();
    l.program.integer_kernels = l.quant.fused.len();
    l.skipped.extend(l.quant.absorbed.iter().copied());
    // A base-2 softmax is one kernel at its first node.
    let rest: Vec<NodeId> = l.softermax.values().flat_map(|f| f.rest.iter().copied()).collect();
    l.program.fused += rest.len();
    l.skipped.extend(rest);
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
    /// Int8 convolutions on the packed layout of `k_qconv4`.
    packed: bool,
    /// Int8 kernels for the Arm DSP extension ([`EmitOptions::arm_dsp`]).
    dsp: bool,
    /// Digit-coded contractions keep unshared programs ([`EmitOptions::unshared_digits`]).
    unshared_digits: bool,
    /// Which integer stores go through tables of steps ([`crate::emit::requant`]).
    tables: Tables,
    /// The Winograd forms, by their input transform's node.
    winograd: HashMap<NodeId, crate::winograd::Form>,
    /// The base-2 softmaxes, by their first node.
    softermax: HashMap<NodeId, crate::softermax::Form>,
}

/// Which layers store through tables of steps.
#[derive(Clone, Debug, Default)]
pub enum Tables {
    /// None (the float formula everywhere).
    #[default]
    None,
    /// Every layer that can.
    All,
    /// The layers of these names.
    Only(BTreeSet<String>),
}

/// A layer that can store through a table of steps: its node, the table's bytes, and the values
/// it stores (each through the table rather than the float formula).
#[derive(Clone, Debug, PartialEq)]
pub struct TableUse {
    /// The node that computes the layer.
    pub node: String,
    /// Bytes of its table.
    pub bytes: usize,
    /// Values the layer stores per run.
    pub stores: usize,
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
            packed: true,
            dsp: false,
            unshared_digits: false,
            tables: Tables::None,
            winograd: crate::winograd::forms(graph),
            softermax: crate::softermax::forms(graph),
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
    /// parameters are expressions (numbers, or [`linalg::PerTarget`] choices).
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

    /// The first output of node `id`.
    fn output(&self, id: NodeId) -> ValueId {
        self.graph.node(id).outputs[0]
    }

    /// Input `i` of node `id`, which must be present.
    fn input(&self, id: NodeId, i: usize) -> Result<ValueId, EmitError> {
        self.graph
            .node(id)
            .inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| self.unsupported(format!("input {i} is missing")))
    }

    /// Lowers one node: as part of an integer kernel when the quantization plan fused it, else by
    /// its op family.
    fn node(&mut self, id: NodeId) -> Result<(), EmitError> {
        let node = self.graph.node(id);
        self.current = (node.name.clone(), node.op.onnx_name().to_string());
        let out = node.outputs[0];
        if let Some(f) = self.quant.fused.get(&id).cloned() {
            return self.quantized(id, &f);
        }
        if let Some(a) = self.quant.adds.get(&id).cloned() {
            return self.integer_add(&a);
        }
        if let Some(form) = self.softermax.get(&id).cloned() {
            return self.softmax2(&form);
        }
        if let Some(form) = self.quant.softmaxes.get(&id).cloned() {
            return self.softmax_q8(&form);
        }
        if let (Some(&(x, q)), false) = (self.quant.moves.get(&id), matches!(node.op, Op::Pool(_))) {
            // Moving integers, as the graph's dequantize-move-quantize does.
            return self.alias(x, q);
        }
        match &node.op {
            Op::Conv(c) => self.conv(id, c),
            Op::Gemm(g) => self.gemm(id, g),
            Op::MatMul(_) => self.matmul(id),
            Op::Unary(u) => self.unary(id, u),
            Op::Clip(c) => self.clip(id, c),
            Op::LeakyRelu(r) => self.leaky_relu(id, r),
            Op::HardSigmoid(h) => self.hard_sigmoid(id, h),
            Op::Binary(b) => self.binary_op(id, b),
            Op::Variadic(v) => self.variadic(id, v),
            Op::Softmax(s) => self.softmax(id, s),
            Op::BatchNorm(bn) => self.batch_norm(id, bn),
            Op::LayerNorm(ln) => self.layer_norm(id, ln),
            Op::Reduce(r) => self.reduce(id, r),
            Op::GlobalPool(p) => self.global_pool(id, p),
            Op::Pool(p) => self.pool(id, p),
            Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) | Op::Identity(_) => {
                self.alias(self.input(id, 0)?, out)
            }
            Op::Dropout(_) => self.dropout(id),
            Op::Cast(c) => self.cast(id, c),
            Op::Transpose(t) => self.transpose(id, t),
            Op::Concat(c) => self.concat(id, c),
            Op::Split(s) => self.split(id, s),
            Op::Slice(s) => self.slice(id, s),
            Op::Pad(p) => self.pad(id, p),
            Op::Gather(g) => self.gather(id, g),
            Op::QuantizeLinear(q) => self.quantize_linear(id, q),
            Op::DequantizeLinear(dq) => self.dequantize_linear(id, dq),
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

    /// Converts an op's attribute error into this node's "unsupported" error.
    fn check<T>(&self, r: crate::ops::OpResult<T>) -> Result<T, EmitError> {
        r.map_err(|e| self.unsupported(e.to_string()))
    }

    /// An axis attribute normalized for `rank` dimensions.
    fn axis(&self, axis: i64, rank: usize) -> Result<usize, EmitError> {
        self.check(crate::ops::norm_axis(axis, rank))
    }
}

/// Numbers as const arguments.
fn nums(v: &[usize]) -> Vec<String> {
    v.iter().map(|g| g.to_string()).collect()
}
