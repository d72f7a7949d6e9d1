//! Rule instances: every variable of a rule's left side bound to a random leaf (a graph input,
//! a pool constant, a literal, a payload, an omitted input) that fits where the variable sits,
//! steered by the rule's conditions; then the instance goes through the same checks as the
//! rewrite (conditions, a well-typed right side with the left side's facts).

mod bind;

use super::gen::{Draw, Gen};
use super::kernels::{self, Ctx, Input, Known};
use crate::ir::{
    node_data, ConstFns, ConstRef, InputRef, Ir, IrAnalysis, IrData, IrGraph, Literal, OpPayload, Payload,
};
use crate::ops::Op;
use crate::rules::{apply, Condition, Rule};
use crate::tensor::{DType, Tensor, TensorType};
use egg::{ENodeOrVar, Id, Language, PatternAst, RecExpr, Subst, Var};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::RngExt;
use std::collections::HashMap;
use std::sync::Arc;

/// Why an instance could not be drawn.
#[derive(Debug)]
pub(crate) enum Miss {
    /// This draw does not fit (ill-typed, conditions false, right side not applicable): draw again.
    Reject(String),
    /// The rule cannot be instantiated at all (a kernel without sampler, a variable in a
    /// position the verifier cannot fill).
    Error(String),
}

/// What a variable is bound to.
#[derive(Clone, Debug)]
pub(crate) enum Binding {
    /// A graph input of the instance.
    Input(String),
    /// A pool constant.
    Const(u32),
    /// A literal.
    Lit(f64),
    /// A payload.
    Payload(Payload),
    /// An omitted input.
    Absent,
}

impl Binding {
    fn node(&self) -> Ir {
        match self {
            Binding::Input(n) => Ir::Input(InputRef(n.as_str().into())),
            Binding::Const(k) => Ir::Const(ConstRef(*k)),
            Binding::Lit(v) => Ir::Lit(Literal(*v)),
            Binding::Payload(p) => Ir::Payload(p.clone()),
            Binding::Absent => Ir::Absent,
        }
    }
}

/// One drawn instance of a rule, ready to evaluate.
pub(crate) struct Case {
    /// Constants, input types and functions.
    pub analysis: IrAnalysis,
    /// Input values by name.
    pub inputs: HashMap<String, Tensor>,
    /// The left sides, then the right sides.
    pub lhs: Vec<RecExpr<Ir>>,
    /// The right sides.
    pub rhs: Vec<RecExpr<Ir>>,
    /// The opset kernel nodes run at.
    pub opset: i64,
    /// The variables' bindings, for messages.
    pub bindings: Vec<(Var, Binding)>,
}

/// Per-variable guidance from the rule's conditions.
#[derive(Clone, Debug, Default)]
struct Hint {
    dtypes: Option<Vec<DType>>,
    rank: Option<usize>,
    weight: bool,
    finite: bool,
    non_finite: bool,
    pow2: bool,
    int_range: Option<(i64, i64)>,
    scalar: bool,
    lit_eq: Option<f64>,
    same: Option<Var>,
    perm_inverse: Option<Var>,
}

fn hints(conditions: &[Condition]) -> HashMap<Var, Hint> {
    let mut h: HashMap<Var, Hint> = HashMap::new();
    for c in conditions {
        match c {
            Condition::SameShape(a, b) | Condition::SameType(a, b) => {
                h.entry(*b).or_default().same = Some(*a);
                h.entry(*a).or_default().same = Some(*b);
            }
            Condition::Rank(x, n) => h.entry(*x).or_default().rank = Some(*n),
            Condition::DType(x, ds) => h.entry(*x).or_default().dtypes = Some(ds.clone()),
            Condition::IsFloat(x) => h.entry(*x).or_default().dtypes = Some(vec![DType::F32]),
            Condition::IsInteger(x) => h.entry(*x).or_default().dtypes = Some(vec![DType::I32, DType::I8, DType::U8]),
            Condition::WeightOnly(x) | Condition::Constant(x) => h.entry(*x).or_default().weight = true,
            Condition::Finite(x) => h.entry(*x).or_default().finite = true,
            Condition::Pow2(x) => h.entry(*x).or_default().pow2 = true,
            Condition::IntRange(x, lo, hi) => h.entry(*x).or_default().int_range = Some((*lo, *hi)),
            Condition::Scalar(x) => h.entry(*x).or_default().scalar = true,
            Condition::LitEq(x, v) => h.entry(*x).or_default().lit_eq = Some(v.0),
            Condition::PermInverse(p, q) => {
                h.entry(*p).or_default().perm_inverse = Some(*q);
                h.entry(*q).or_default().perm_inverse = Some(*p);
            }
            Condition::Not(inner) => {
                if let Condition::Finite(x) = inner.as_ref() {
                    h.entry(*x).or_default().non_finite = true;
                }
            }
            Condition::BroadcastsTo(..) => {}
        }
    }
    h
}

/// The state of one draw.
struct State<'r> {
    rng: &'r mut StdRng,
    specials: bool,
    analysis: IrAnalysis,
    inputs: HashMap<String, Tensor>,
    bindings: Vec<(Var, Binding)>,
    hints: HashMap<Var, Hint>,
    dtype: DType,
    shape: Vec<usize>,
    opset: Option<i64>,
}

/// Draws one instance of `rule` and checks it as the rewrite would.
pub(crate) fn draw(rule: &Rule, functions: Arc<dyn ConstFns>, rng: &mut StdRng, specials: bool) -> Result<Case, Miss> {
    let hints = hints(&rule.conditions);
    let dtype = match hints.values().find_map(|h| h.dtypes.as_ref()) {
        Some(ds) => *ds.choose(rng).unwrap_or(&DType::F32),
        None => {
            *[DType::F32, DType::F32, DType::F32, DType::F32, DType::I32, DType::I8].choose(rng).expect("non-empty")
        }
    };
    let rank = hints.values().find_map(|h| h.rank).unwrap_or_else(|| rng.random_range(0..=4));
    let shape = (0..rank).map(|_| rng.random_range(1..=4)).collect();
    let analysis = IrAnalysis { functions, ..IrAnalysis::default() };
    let mut st = State {
        rng,
        specials,
        analysis,
        inputs: HashMap::new(),
        bindings: Vec::new(),
        hints,
        dtype,
        shape,
        opset: None,
    };
    for pattern in &rule.lhs {
        st.walk(&pattern.ast)?;
    }
    st.check(rule)
}

fn reject<T>(why: impl Into<String>) -> Result<T, Miss> {
    Err(Miss::Reject(why.into()))
}

impl State<'_> {
    fn bound(&self, v: Var) -> Option<&Binding> {
        self.bindings.iter().find(|(w, _)| *w == v).map(|(_, b)| b)
    }

    fn hint(&self, v: Var) -> Hint {
        self.hints.get(&v).cloned().unwrap_or_default()
    }

    fn coin(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn leaf_data(&self, b: &Binding) -> Result<IrData, Miss> {
        let empty = IrData::leaf(true);
        node_data(&self.analysis, &b.node(), |_| &empty).map_err(Miss::Reject)
    }

    fn bind(&mut self, v: Var, b: Binding) {
        self.bindings.push((v, b));
    }

    fn add_tensor(&mut self, t: Tensor, weight: bool) -> Binding {
        if weight {
            let k = self.analysis.consts.len() as u32;
            self.analysis.consts.insert(k, Arc::new(t));
            Binding::Const(k)
        } else {
            let name = format!("v{}", self.inputs.len());
            self.analysis.inputs.insert(name.as_str().into(), t.ttype());
            self.inputs.insert(name.clone(), t);
            Binding::Input(name)
        }
    }

    fn new_tensor(&mut self, ty: &TensorType, gen: &Gen, weight: bool, specials: bool) -> Binding {
        let t = Draw { rng: self.rng, specials: self.specials && specials }.tensor(ty, gen);
        self.add_tensor(t, weight)
    }

    /// Binds a tensor variable, shaped like `reference` (or a shape broadcasting to it when
    /// `variant`); a literal when its conditions ask for one and `lit_ok`.
    fn tensor_var(&mut self, v: Var, reference: Option<&TensorType>, variant: bool, lit_ok: bool, gen: Gen) {
        let h = self.hint(v);
        let dtype = match (&h.dtypes, reference) {
            (Some(ds), _) => *ds.choose(self.rng).unwrap_or(&DType::F32),
            (None, Some(r)) => r.dtype,
            (None, None) => self.dtype,
        };
        let partner = h.same.and_then(|p| match self.bound(p) {
            Some(Binding::Input(n)) => self.analysis.inputs.get(n.as_str()).cloned(),
            Some(Binding::Const(k)) => self.analysis.consts.get(k).map(|t| t.ttype()),
            _ => None,
        });
        let base = reference.map(|r| r.shape.clone()).unwrap_or_else(|| self.shape.clone());
        let shape = if let Some(p) = &partner {
            p.shape.clone()
        } else if h.scalar || h.lit_eq.is_some() && self.coin(0.5) {
            if reference.is_some() && self.coin(0.3) {
                vec![1]
            } else {
                vec![]
            }
        } else if let Some(r) = h.rank {
            if base.len() == r {
                base
            } else {
                Draw { rng: self.rng, specials: false }.shape(r, 4)
            }
        } else if variant && self.coin(0.3) {
            Draw { rng: self.rng, specials: false }.broadcastable(&base)
        } else {
            base
        };
        let ty = TensorType::new(partner.as_ref().map_or(dtype, |p| p.dtype), shape);
        if let Some(val) = h.lit_eq {
            let b = if lit_ok && self.coin(0.5) {
                Binding::Lit(val)
            } else {
                self.new_tensor(&ty, &Gen::Filled(val), true, false)
            };
            return self.bind(v, b);
        }
        if h.scalar && lit_ok && self.coin(0.5) {
            let val = Draw { rng: self.rng, specials: false }.tensor(&TensorType::new(dtype, vec![]), &gen);
            return self.bind(v, Binding::Lit(val.scalar_f64().unwrap_or(0.0)));
        }
        let gen = match (h.pow2, h.int_range, h.non_finite) {
            (true, _, _) => Gen::Pow2,
            (_, Some((lo, hi)), _) => Gen::Ints(lo, hi),
            (_, _, true) => Gen::NonFinite,
            _ => gen,
        };
        let weight = h.weight || h.finite || h.pow2 || h.int_range.is_some() || h.non_finite || self.coin(0.3);
        let b = self.new_tensor(&ty, &gen, weight, !h.finite);
        self.bind(v, b);
    }

    /// Binds a literal variable.
    fn lit_var(&mut self, v: Var, default: f64) {
        let h = self.hint(v);
        let val = match (h.lit_eq, h.int_range) {
            (Some(x), _) => x,
            (_, Some((lo, hi))) => self.rng.random_range(lo..=hi) as f64,
            _ => default,
        };
        self.bind(v, Binding::Lit(val));
    }

    /// Walks one left side bottom-up, binding variables where their parent node is met.
    fn walk(&mut self, ast: &PatternAst<Ir>) -> Result<(), Miss> {
        let nodes = ast.as_ref();
        let mut data: Vec<Option<IrData>> = vec![None; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            match n {
                ENodeOrVar::Var(v) => {
                    if let Some(b) = self.bound(*v).cloned() {
                        data[i] = Some(self.leaf_data(&b)?);
                    }
                }
                ENodeOrVar::ENode(node) => {
                    self.bind_children(node, nodes, &mut data)?;
                    if node.children().iter().any(|&c| data[usize::from(c)].is_none()) {
                        return Err(Miss::Error(format!("cannot bind every variable under '{node}'")));
                    }
                    let d = node_data(&self.analysis, node, |c| data[usize::from(c)].as_ref().expect("checked above"));
                    data[i] = Some(d.map_err(|e| Miss::Reject(format!("left side ill-typed: {e}")))?);
                }
            }
        }
        Ok(())
    }

    /// The unbound variable at child `c`, if any.
    fn free(&self, nodes: &[ENodeOrVar<Ir>], c: Id) -> Option<Var> {
        match &nodes[usize::from(c)] {
            ENodeOrVar::Var(v) if self.bound(*v).is_none() => Some(*v),
            _ => None,
        }
    }

    fn refresh(&self, nodes: &[ENodeOrVar<Ir>], data: &mut [Option<IrData>]) -> Result<(), Miss> {
        for (i, n) in nodes.iter().enumerate() {
            if let (ENodeOrVar::Var(v), None) = (n, &data[i]) {
                if let Some(b) = self.bound(*v).cloned() {
                    data[i] = Some(self.leaf_data(&b)?);
                }
            }
        }
        Ok(())
    }

    fn bind_kernel(
        &mut self,
        sym: &str,
        ch: &[Id],
        nodes: &[ENodeOrVar<Ir>],
        data: &mut [Option<IrData>],
    ) -> Result<(), Miss> {
        let (op_c, ins) = ch.split_first().ok_or_else(|| Miss::Error(format!("kernel {sym} without op")))?;
        let known: Vec<Known> = ins
            .iter()
            .map(|&c| match (&nodes[usize::from(c)], &data[usize::from(c)]) {
                (ENodeOrVar::ENode(Ir::Absent), _) => Known::Absent,
                (_, Some(d)) if d.types.is_empty() && d.lit.is_none() && d.payload.is_none() => Known::Absent,
                (_, Some(d)) => d.ty().cloned().map_or(Known::Absent, Known::Typed),
                (_, None) => Known::Free,
            })
            .collect();
        let op_var = self.free(nodes, *op_c);
        let bound_op = match &data[usize::from(*op_c)].as_ref().and_then(|d| d.payload.clone()) {
            Some(Payload::Op(o)) => Some(o.op().clone()),
            _ => None,
        };
        let perm = op_var.and_then(|v| self.hint(v).perm_inverse).and_then(|p| match self.bound(p) {
            Some(Binding::Payload(Payload::Op(o))) => match o.op() {
                Op::Transpose(t) => t.perm.as_ref().map(|q| inverse(q)),
                _ => None,
            },
            Some(Binding::Payload(Payload::Ints(q))) => Some(inverse(q)),
            _ => None,
        });
        let lits: Vec<Option<f64>> =
            ins.iter().map(|&c| self.free(nodes, c).and_then(|v| self.hint(v).lit_eq)).collect();
        let ctx = Ctx { arity: ins.len(), known: &known, perm, lits: &lits };
        let mut draw = Draw { rng: self.rng, specials: false };
        let kd = match kernels::sample(sym, &mut draw, &ctx) {
            Err(e) => return Err(Miss::Error(e)),
            Ok(None) => return reject(format!("no {sym} fits this draw")),
            Ok(Some(kd)) => kd,
        };
        if kd.inputs.len() != ins.len() {
            return Err(Miss::Error(format!("the {sym} sampler drew {} inputs for {}", kd.inputs.len(), ins.len())));
        }
        let op = match bound_op {
            Some(o) if o.onnx_name() != kd.op.onnx_name() => return reject("a bound op of another kernel"),
            Some(o) => o,
            None => kd.op.clone(),
        };
        if let Some(v) = op_var {
            self.bind(v, Binding::Payload(Payload::Op(OpPayload::new(op))));
        }
        self.opset = Some(self.opset.map_or(kd.opset, |o| o.max(kd.opset)));
        for (&c, input) in ins.iter().zip(kd.inputs) {
            let Some(v) = self.free(nodes, c) else { continue };
            let h = self.hint(v);
            let force_weight = h.weight || h.finite || h.pow2 || h.int_range.is_some();
            // A `same-shape` partner already bound fixes the type; a `scalar` one is one element.
            let partner = h.same.and_then(|p| self.bound(p).cloned()).and_then(|b| self.leaf_data(&b).ok());
            let retype = |t: TensorType| match partner.as_ref().and_then(IrData::ty) {
                Some(p) => p.clone(),
                None if h.scalar => TensorType::new(t.dtype, vec![]),
                None => t,
            };
            let input = match input {
                Input::Data(t, g) => Input::Data(retype(t), g),
                Input::Weight(t, g) => Input::Weight(retype(t), g),
                other => other,
            };
            let b = match input {
                Input::Absent => Binding::Absent,
                // A constant the rule needs to hold one value (`lit-eq`) is filled with it.
                Input::Data(t, _) | Input::Weight(t, _) if h.lit_eq.is_some() => {
                    let val = h.lit_eq.unwrap_or_default();
                    self.new_tensor(&t, &Gen::Filled(val), true, false)
                }
                Input::Data(t, g) => self.new_tensor(&t, &g, force_weight, false),
                Input::Weight(t, g) => self.new_tensor(&t, &g, true, false),
                Input::Fixed(t) => self.add_tensor(t, true),
            };
            self.bind(v, b);
        }
        Ok(())
    }

    /// The instance as the rewrite sees it: conditions and typed right sides, then expressions.
    fn check(mut self, rule: &Rule) -> Result<Case, Miss> {
        let mut egraph = IrGraph::new(self.analysis.clone());
        let mut subst = Subst::default();
        for (v, b) in &self.bindings {
            let id = egraph.add(b.node());
            subst.insert(*v, id);
        }
        let roots: Vec<Id> = rule.lhs.iter().map(|p| egraph.add_instantiation(&p.ast, &subst)).collect();
        for &r in &roots {
            if egraph[r].data.types.is_empty() || egraph[r].data.types.iter().any(Option::is_none) {
                return reject("left side ill-typed");
            }
        }
        if let Some(c) = rule.conditions.iter().find(|c| !c.check(&egraph, &subst)) {
            return reject(format!("condition {c} does not hold"));
        }
        let Some(values) = apply::bind_values(&mut egraph, &rule.values, &mut subst) else {
            return reject("a (value-of ?x) constant holds several values");
        };
        self.bindings.extend(values.into_iter().map(|(v, x)| (v, Binding::Lit(x))));
        for (rhs, &root) in rule.rhs.iter().zip(&roots) {
            let d = apply::rhs_data(&egraph, &rhs.ast, &subst)
                .map_err(|e| Miss::Reject(format!("right side not applicable: {e}")))?;
            if !apply::fits(&d, &egraph[root].data) {
                return reject("the right side's type differs from the left side's");
            }
        }
        let expr = |ast: &PatternAst<Ir>| -> RecExpr<Ir> {
            let mut e = RecExpr::default();
            let mut ids: Vec<Id> = Vec::with_capacity(ast.as_ref().len());
            for n in ast.as_ref() {
                let node = match n {
                    ENodeOrVar::Var(v) => self.bound(*v).map_or(Ir::Absent, Binding::node),
                    ENodeOrVar::ENode(node) => node.clone().map_children(|c| ids[usize::from(c)]),
                };
                ids.push(e.add(node));
            }
            e
        };
        let lhs = rule.lhs.iter().map(|p| expr(&p.ast)).collect();
        let rhs = rule.rhs.iter().map(|p| expr(&p.ast)).collect();
        Ok(Case {
            lhs,
            rhs,
            opset: self.opset.unwrap_or(crate::interp::DEFAULT_KERNEL_OPSET),
            bindings: self.bindings,
            analysis: self.analysis,
            inputs: self.inputs,
        })
    }
}

/// The inverse of a permutation (`q[p[i]] = i`); garbage in, garbage out.
fn inverse(p: &[i64]) -> Vec<i64> {
    let mut q = vec![0; p.len()];
    for (i, &v) in p.iter().enumerate() {
        if let Some(slot) = usize::try_from(v).ok().and_then(|v| q.get_mut(v)) {
            *slot = i as i64;
        }
    }
    q
}
