//! The e-class analysis: static type per output, attribute payload, literal value, and whether
//! the class depends only on weights (it then costs nothing at run time and is folded at emission).

use super::infer::{self, Operand};
use super::lang::Ir;
use super::payload::{Literal, Payload};
use crate::tensor::{Tensor, TensorType};
use egg::{Analysis, DidMerge, EGraph, Id, Language, RecExpr};
use std::collections::HashMap;
use std::sync::Arc;

/// Named constant functions (`(@name args...)`): weight computations (a BatchNorm scale folded
/// into a weight) and payload computations (a conv's window geometry). `infer` gives the result's
/// facts from the arguments' facts (a tensor type, or a payload computed on the spot); `eval`
/// computes a tensor result. The `rules` module provides the real table; [`NoFunctions`] knows none.
pub trait ConstFns: Send + Sync {
    /// The result's facts from the arguments' facts.
    fn infer(&self, name: &str, args: &[&IrData]) -> Result<IrData, String>;
    /// The tensor result on these arguments (payload arguments arrive as their facts).
    fn eval(&self, name: &str, args: &[FnArg]) -> Result<Tensor, String>;
    /// Every function name this table knows (without the `@`); the rule loader rejects any
    /// other `@name`. The default knows none.
    fn names(&self) -> &[&str] {
        &[]
    }
}

/// An argument of a constant function at evaluation.
#[derive(Clone, Copy, Debug)]
pub enum FnArg<'a> {
    /// A tensor.
    Tensor(&'a Tensor),
    /// A payload.
    Payload(&'a Payload),
    /// A literal.
    Literal(f64),
}

/// A function table with no functions.
#[derive(Debug, Default)]
pub struct NoFunctions;

impl ConstFns for NoFunctions {
    fn infer(&self, name: &str, _: &[&IrData]) -> Result<IrData, String> {
        Err(format!("unknown constant function @{name}"))
    }
    fn eval(&self, name: &str, _: &[FnArg]) -> Result<Tensor, String> {
        Err(format!("unknown constant function @{name}"))
    }
}

/// Facts about one e-class.
#[derive(Clone, Debug, PartialEq)]
pub struct IrData {
    /// One type per output (one for tensors, several for multi-output kernels, none for
    /// payloads and literals); `None` where unknown (opaque outputs without type information).
    pub types: Vec<Option<TensorType>>,
    /// The attribute payload, for payload classes.
    pub payload: Option<Payload>,
    /// The value, for literal classes.
    pub lit: Option<Literal>,
    /// Depends only on constants.
    pub weight_only: bool,
}

impl IrData {
    /// The single tensor type of a tensor class.
    pub fn ty(&self) -> Option<&TensorType> {
        match self.types.as_slice() {
            [Some(t)] => Some(t),
            _ => None,
        }
    }

    /// Facts of a non-tensor class (a payload, a literal, an absent input).
    pub fn leaf(weight_only: bool) -> IrData {
        IrData { types: Vec::new(), payload: None, lit: None, weight_only }
    }

    /// Facts of a tensor class.
    pub fn tensor(ty: TensorType, weight_only: bool) -> IrData {
        IrData { types: vec![Some(ty)], payload: None, lit: None, weight_only }
    }
}

/// The analysis: knows the constant pool, the input types and the constant functions.
#[derive(Clone)]
pub struct IrAnalysis {
    /// Constants by handle (value index in the source graph).
    pub consts: HashMap<u32, Arc<Tensor>>,
    /// Graph input types by name.
    pub inputs: HashMap<Arc<str>, TensorType>,
    /// Named constant functions.
    pub functions: Arc<dyn ConstFns>,
    /// What each rule application added, in order (for the report's "survives").
    pub provenance: Vec<(egg::Symbol, Provenance)>,
}

/// What one rule application added to the e-graph.
#[derive(Clone, Debug)]
pub enum Provenance {
    /// A new e-node (children canonical when it was added).
    Created(Ir),
    /// No new node: the right side was already present (or a bound variable), and its class
    /// was merged with the matched one (`class`); `forms` are the nodes the right side's class
    /// held before the merge (at most a few), the forms the rule made available.
    Merged {
        /// The matched class.
        class: egg::Id,
        /// The right side's nodes before the merge (children canonical then).
        forms: Vec<Ir>,
    },
}

impl Default for IrAnalysis {
    fn default() -> Self {
        IrAnalysis {
            consts: HashMap::new(),
            inputs: HashMap::new(),
            functions: Arc::new(NoFunctions),
            provenance: Vec::new(),
        }
    }
}

impl std::fmt::Debug for IrAnalysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IrAnalysis({} consts, {} inputs)", self.consts.len(), self.inputs.len())
    }
}

/// The e-graph of the IR.
pub type IrGraph = EGraph<Ir, IrAnalysis>;

/// The canonical class of each node of a program built from `egraph`'s nodes: found by looking
/// each node up with its children's classes; `usize::MAX` where a node is not in the e-graph.
pub fn program_classes(egraph: &IrGraph, expr: &RecExpr<Ir>) -> Vec<Id> {
    let mut classes: Vec<Id> = Vec::with_capacity(expr.as_ref().len());
    for node in expr.as_ref() {
        let node = node.clone().map_children(|c| classes[usize::from(c)]);
        classes.push(egraph.lookup(node).map_or(Id::from(usize::MAX), |c| egraph.find(c)));
    }
    classes
}

fn tensor_ty<'a>(data: &'a IrData, what: &str) -> Result<&'a TensorType, String> {
    data.ty().ok_or_else(|| format!("{what} is not a typed tensor"))
}

fn ints(data: &IrData) -> Result<&[i64], String> {
    match &data.payload {
        Some(Payload::Ints(v)) => Ok(v),
        other => Err(format!("expected an #ints payload, found {other:?}")),
    }
}

fn operand(data: &IrData) -> Result<Operand<'_>, String> {
    match (data.lit, data.ty()) {
        (Some(_), _) => Ok(Operand::Literal),
        (None, Some(t)) => Ok(Operand::Tensor(t)),
        _ => Err("operand is neither a tensor nor a literal".into()),
    }
}

/// The facts of an e-node from its children's facts; an error when the node is ill-typed.
/// Rules call this before adding a right-hand side (a rewrite that would be ill-typed is not
/// applied).
pub fn node_data<'a>(a: &IrAnalysis, node: &Ir, child: impl Fn(Id) -> &'a IrData) -> Result<IrData, String> {
    let weights = |ids: &[Id]| ids.iter().all(|&i| child(i).weight_only);
    let tensor = |ty: TensorType, ids: &[Id]| Ok(IrData::tensor(ty, weights(ids)));
    match node {
        Ir::Outputs(_) => Ok(IrData::leaf(false)),
        Ir::Absent => Ok(IrData::leaf(true)),
        Ir::Lit(l) => Ok(IrData { lit: Some(*l), ..IrData::leaf(true) }),
        Ir::Payload(p) => Ok(IrData { payload: Some(p.clone()), ..IrData::leaf(true) }),
        Ir::Const(c) => {
            let t = a.consts.get(&c.0).ok_or_else(|| format!("constant {c} is not in the pool"))?;
            Ok(IrData::tensor(t.ttype(), true))
        }
        Ir::Input(name) => {
            let t = a.inputs.get(&name.0).ok_or_else(|| format!("input {name} is unknown"))?;
            Ok(IrData::tensor(t.clone(), false))
        }
        Ir::Get([i, k]) => {
            let idx = child(*i)
                .lit
                .map(|l| l.0)
                .filter(|v| *v >= 0.0 && v.fract() == 0.0)
                .ok_or("get needs a literal index")?;
            let ty = child(*k).types.get(idx as usize).cloned().ok_or("get index past the outputs")?;
            Ok(IrData { types: vec![ty], ..IrData::leaf(child(*k).weight_only) })
        }
        Ir::Kernel(_, ch) | Ir::Opaque(ch) => {
            let (first, inputs) = ch.split_first().ok_or("a kernel needs its payload")?;
            let Some(Payload::Op(op)) = &child(*first).payload else {
                return Err("a kernel's first child must be its op".into());
            };
            let weight_only = weights(inputs) && !op.op().is_opaque();
            if op.op().is_opaque() {
                return Ok(IrData { types: op.outputs().to_vec(), ..IrData::leaf(weight_only) });
            }
            let types: Vec<Option<&TensorType>> = inputs.iter().map(|&i| child(i).ty()).collect();
            for (k, (&i, t)) in inputs.iter().zip(&types).enumerate() {
                if t.is_none() && !matches!(child(i).types.as_slice(), []) {
                    return Err(format!("input {k} has no static type"));
                }
            }
            let outs = op.op().infer(&types).map_err(|e| e.to_string())?;
            Ok(IrData { types: outs.into_iter().map(Some).collect(), ..IrData::leaf(weight_only) })
        }
        Ir::Fun(name, args) => {
            let facts: Vec<&IrData> = args.iter().map(|&i| child(i)).collect();
            let mut data = a.functions.infer(&name.0, &facts)?;
            data.weight_only = true;
            Ok(data)
        }
        Ir::Add(ab) | Ir::Sub(ab) | Ir::Mul(ab) | Ir::Div(ab) | Ir::Pow(ab) | Ir::Max(ab) | Ir::Min(ab) => {
            let ty = infer::elementwise(&[operand(child(ab[0]))?, operand(child(ab[1]))?])?;
            tensor(ty, ab)
        }
        Ir::Neg(x)
        | Ir::Abs(x)
        | Ir::Exp(x)
        | Ir::Log(x)
        | Ir::Sqrt(x)
        | Ir::Rsqrt(x)
        | Ir::Erf(x)
        | Ir::Tanh(x)
        | Ir::Sigmoid(x)
        | Ir::Round(x) => tensor(tensor_ty(child(*x), "operand")?.clone(), &[*x]),
        Ir::Clip(ch) => {
            let ops = [operand(child(ch[0]))?, operand(child(ch[1]))?, operand(child(ch[2]))?];
            tensor(infer::elementwise(&ops)?, ch)
        }
        Ir::Shl([x, k]) | Ir::Shr([x, k]) => {
            let kv = child(*k).lit.ok_or("a shift amount must be a literal")?.0;
            if kv.fract() != 0.0 || kv.abs() > 64.0 {
                return Err(format!("shift amount {kv} is not a small integer"));
            }
            tensor(tensor_ty(child(*x), "shifted operand")?.clone(), &[*x])
        }
        Ir::Cast([t, x]) => {
            let Some(Payload::DType(to)) = child(*t).payload else { return Err("cast needs a #dtype payload".into()) };
            tensor(infer::cast(tensor_ty(child(*x), "cast operand")?, to)?, &[*x])
        }
        Ir::Quantize([_, x, s, z]) => {
            tensor(infer::quantize(tensor_ty(child(*x), "input")?, tensor_ty(child(*z), "zero point")?)?, &[*x, *s, *z])
        }
        Ir::Dequantize([_, x, s, z]) => {
            tensor(infer::dequantize(tensor_ty(child(*x), "input")?, tensor_ty(child(*s), "scale")?)?, &[*x, *s, *z])
        }
        Ir::RSum([ax, x]) | Ir::RMax([ax, x]) | Ir::RMean([ax, x]) => {
            tensor(infer::reduce(tensor_ty(child(*x), "reduced operand")?, ints(child(*ax))?)?, &[*x])
        }
        Ir::Dot([spec, p, q]) => {
            let Some(Payload::Einsum(e)) = &child(*spec).payload else {
                return Err("dot needs an #einsum payload".into());
            };
            tensor(
                infer::dot(tensor_ty(child(*p), "left operand")?, tensor_ty(child(*q), "right operand")?, e)?,
                &[*p, *q],
            )
        }
        Ir::Window([spec, x, pad]) => {
            let Some(Payload::Window(w)) = &child(*spec).payload else {
                return Err("window needs a #win payload".into());
            };
            child(*pad).lit.ok_or("a window's pad value must be a literal")?;
            tensor(infer::window(tensor_ty(child(*x), "windowed operand")?, w)?, &[*x])
        }
        Ir::Reshape([s, x]) => tensor(infer::reshape(tensor_ty(child(*x), "operand")?, ints(child(*s))?)?, &[*x]),
        Ir::Transpose([p, x]) => tensor(infer::transpose(tensor_ty(child(*x), "operand")?, ints(child(*p))?)?, &[*x]),
        Ir::Broadcast([s, x]) => tensor(infer::broadcast(tensor_ty(child(*x), "operand")?, ints(child(*s))?)?, &[*x]),
        Ir::Slice([s, x]) => {
            let Some(Payload::Slice(spec)) = &child(*s).payload else {
                return Err("slice needs a #slice payload".into());
            };
            tensor(infer::slice(tensor_ty(child(*x), "operand")?, spec)?, &[*x])
        }
        Ir::Concat(ch) => {
            let (axis, xs) = ch.split_first().ok_or("concat needs an axis")?;
            let axis = *ints(child(*axis))?.first().ok_or("concat axis is empty")?;
            let tys = xs.iter().map(|&i| tensor_ty(child(i), "concatenated operand")).collect::<Result<Vec<_>, _>>()?;
            tensor(infer::concat(&tys, axis)?, xs)
        }
        Ir::Pad([p, x, v]) => {
            child(*v).lit.ok_or("a pad value must be a literal")?;
            tensor(infer::pad(tensor_ty(child(*x), "operand")?, ints(child(*p))?)?, &[*x])
        }
        Ir::Gather([a, x, i]) => {
            let axis = *ints(child(*a))?.first().ok_or("gather axis is empty")?;
            let (xt, it) = (tensor_ty(child(*x), "operand")?, tensor_ty(child(*i), "indices")?);
            tensor(infer::gather(xt, it, axis)?, &[*x, *i])
        }
    }
}

impl Analysis<Ir> for IrAnalysis {
    type Data = IrData;

    fn make(egraph: &mut IrGraph, enode: &Ir, _id: Id) -> IrData {
        let a = &egraph.analysis;
        // Lowering and rules add only well-typed nodes; an ill-typed one (a bug) gets unknown types.
        node_data(a, enode, |i| &egraph[i].data).unwrap_or_else(|_| IrData { types: vec![None], ..IrData::leaf(false) })
    }

    fn merge(&mut self, a: &mut IrData, b: IrData) -> DidMerge {
        let mut changed_a = false;
        let mut changed_b = false;
        if a.types.len() < b.types.len() {
            a.types.resize(b.types.len(), None);
            changed_a = true;
        }
        for (i, ta) in a.types.iter_mut().enumerate() {
            match (ta.is_some(), b.types.get(i).and_then(|t| t.as_ref())) {
                (false, Some(tb)) => {
                    *ta = Some(tb.clone());
                    changed_a = true;
                }
                (true, None) => changed_b = true,
                _ => {}
            }
        }
        changed_b |= a.types.len() > b.types.len();
        for (slot, other) in [(&mut a.payload, b.payload)] {
            match (slot.is_some(), other) {
                (false, Some(p)) => {
                    *slot = Some(p);
                    changed_a = true;
                }
                (true, None) => changed_b = true,
                _ => {}
            }
        }
        match (a.lit.is_some(), b.lit) {
            (false, Some(l)) => {
                a.lit = Some(l);
                changed_a = true;
            }
            (true, None) => changed_b = true,
            _ => {}
        }
        if a.weight_only != b.weight_only {
            // The class is weight-only if any of its forms is.
            if b.weight_only {
                a.weight_only = true;
                changed_a = true;
            } else {
                changed_b = true;
            }
        }
        DidMerge(changed_a, changed_b)
    }

    /// A function computing a payload or a literal (`(@perm_compose p q)`, `(@pow2_log2 c)`) is
    /// that payload or literal: the class gets the leaf, so equal values share one class and the
    /// rules that recompute a payload do not add a new class each time they fire.
    fn modify(egraph: &mut IrGraph, id: Id) {
        let class = &egraph[id];
        if !class.nodes.iter().any(|n| matches!(n, Ir::Fun(..))) {
            return;
        }
        let has = |leaf: fn(&Ir) -> bool| class.nodes.iter().any(leaf);
        let leaf = match (&class.data.payload, class.data.lit) {
            (Some(p), _) if !has(|n| matches!(n, Ir::Payload(_))) => Ir::Payload(p.clone()),
            (None, Some(l)) if !has(|n| matches!(n, Ir::Lit(_))) => Ir::Lit(l),
            _ => return,
        };
        let leaf = egraph.add(leaf);
        egraph.union(id, leaf);
    }
}
