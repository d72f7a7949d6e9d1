//! Approximate rules applied without merging: for each match, the right side is built as a
//! class of its own (its fitting functions evaluated first, their results added as new
//! constants or payloads), typed like CheckApply types a right side, and returned beside the
//! matched class instead of being unioned with it. `crate::approx` records each pair as a
//! choice; an approximation is never an equality in the e-graph.

use super::apply::{bind_values, fits, instantiate, rhs_data};
use super::fits::{is_fit_name, FitArg, FitOut, Memo};
use super::Rule;
use crate::fit::Samples;
use crate::graph::{ConstOrigin, Graph};
use crate::interp::{Interpreter, Value};
use crate::ir::{ConstRef, Ir, IrGraph};
use crate::tensor::{Tensor, TensorType};
use egg::{ENodeOrVar, Id, Language, PatternAst, RecExpr, Searcher, Subst};
use std::collections::HashMap;
use std::sync::Arc;

/// Calibration samples of activation classes, for fitting functions.
pub trait Calibration {
    /// The samples of the activation class `class` (canonical), with its type, when known.
    fn samples(&self, class: Id) -> Option<(&TensorType, &Samples)>;
}

/// One alternative: the class a rule approximated and the class it built for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Alternative {
    /// The matched (approximated) class.
    pub site: Id,
    /// The alternative's class, never merged with `site`.
    pub alt: Id,
}

/// Everything an alternative is built with besides the rule and the match.
pub struct Builder<'a> {
    /// The graph whose constant pool the e-graph's handles index; new constants are added to it.
    pub source: &'a mut Graph,
    /// Calibration samples for the fitting functions.
    pub calibration: &'a dyn Calibration,
    /// Family calls made so far (shared across rules: one activation is quantized once).
    pub memo: &'a mut Memo,
    /// Opset the model's kernels were parsed at (to evaluate weight computations).
    pub opset: i64,
}

/// The matches of `rule` (single left side) at classes `keep` accepts, each with its
/// substitution, in class order; conditions are checked here.
pub fn matches(rule: &Rule, egraph: &IrGraph, keep: &dyn Fn(Id) -> bool) -> Vec<(Id, Subst)> {
    let [lhs] = rule.lhs.as_slice() else { return Vec::new() };
    let mut found: Vec<(Id, Subst)> = lhs
        .search(egraph)
        .into_iter()
        .filter(|m| keep(egraph.find(m.eclass)))
        .flat_map(|m| m.substs.into_iter().map(move |s| (m.eclass, s)))
        .filter(|(_, s)| rule.conditions.iter().all(|c| c.check(egraph, s)))
        .collect();
    found.sort_by_key(|(c, _)| *c);
    found
}

/// Builds `rule`'s right side for the match (`site`, `subst`) as a new class, not merged with
/// `site`; `Err` says why no alternative exists there (a fit failed, a type does not match).
pub fn build(
    rule: &Rule,
    egraph: &mut IrGraph,
    site: Id,
    subst: &Subst,
    builder: &mut Builder,
) -> Result<Alternative, String> {
    let built = build_unclean(rule, egraph, site, subst, builder);
    // Resolving fits adds leaves even when no alternative results: searches need a clean graph.
    egraph.rebuild();
    built
}

/// [`build`] up to the final rebuild.
fn build_unclean(
    rule: &Rule,
    egraph: &mut IrGraph,
    site: Id,
    subst: &Subst,
    builder: &mut Builder,
) -> Result<Alternative, String> {
    let [rhs] = rule.rhs.as_slice() else { return Err("multi-pattern rules have no alternatives".into()) };
    let mut subst = subst.clone();
    bind_values(egraph, &rule.values, &mut subst).ok_or("a (value-of ?x) constant holds several values")?;
    let ast = resolve_fits(&rhs.ast, egraph, &subst, builder)?;
    let data = rhs_data(egraph, &ast, &subst)?;
    if !fits(&data, &egraph[site].data) {
        return Err(format!(
            "the right side's type {:?} differs from the matched class's {:?}",
            data.types, egraph[site].data.types
        ));
    }
    let (alt, _) = instantiate(egraph, &ast, &subst);
    egraph.rebuild();
    let (site, alt) = (egraph.find(site), egraph.find(alt));
    if site == alt {
        return Err("the right side is the matched class itself".into());
    }
    Ok(Alternative { site, alt })
}

/// The right side with every fitting-function node replaced by its result (a constant handle or
/// a payload leaf). Argument classes are found by lookup: a fit reads what the match bound.
fn resolve_fits(
    rhs: &PatternAst<Ir>,
    egraph: &mut IrGraph,
    subst: &Subst,
    builder: &mut Builder,
) -> Result<PatternAst<Ir>, String> {
    let nodes = rhs.as_ref();
    let mut classes: Vec<Option<Id>> = Vec::with_capacity(nodes.len());
    let mut out: PatternAst<Ir> = RecExpr::default();
    for node in nodes {
        let (class, added) = match node {
            ENodeOrVar::Var(v) => (subst.get(*v).map(|&c| egraph.find(c)), node.clone()),
            ENodeOrVar::ENode(Ir::Fun(f, args)) if is_fit_name(&f.0) => {
                let ids: Vec<Id> = args
                    .iter()
                    .map(|a| {
                        classes[usize::from(*a)].ok_or_else(|| format!("@{}: an argument is not in the e-graph", &f.0))
                    })
                    .collect::<Result<_, _>>()?;
                let values = ids.iter().map(|&c| weight_value(egraph, c, builder.opset)).collect::<Vec<_>>();
                let fit_args = ids
                    .iter()
                    .zip(&values)
                    .map(|(&c, v)| fit_arg(egraph, c, v.clone(), builder.calibration))
                    .collect::<Result<Vec<_>, _>>()?;
                let leaf = match builder.memo.call(&f.0, ids, &fit_args)? {
                    FitOut::Payload(p) => Ir::Payload(p),
                    FitOut::Tensor(t) => {
                        let name = builder.source.fresh_name(&format!("gos_fit_{}", f.0.replace('.', "_")));
                        let t = Arc::new(t);
                        let v = builder.source.add_const(&name, t.clone(), ConstOrigin::Derived);
                        egraph.analysis.consts.insert(v.index() as u32, t);
                        Ir::Const(ConstRef(v.index() as u32))
                    }
                };
                let class = egraph.lookup(leaf.clone()).or_else(|| Some(egraph.add(leaf.clone())));
                (class, ENodeOrVar::ENode(leaf))
            }
            ENodeOrVar::ENode(n) => {
                let looked = n.clone().map_children(|c| classes[usize::from(c)].unwrap_or(Id::from(usize::MAX)));
                let class = if looked.children().iter().any(|&c| c == Id::from(usize::MAX)) {
                    None
                } else if looked.is_leaf() {
                    // A literal or payload the rule writes (a rank fraction) may be new.
                    Some(egraph.add(looked))
                } else {
                    egraph.lookup(looked)
                };
                (class, node.clone())
            }
        };
        classes.push(class);
        out.add(added);
    }
    Ok(out)
}

/// The value of a weight-only tensor class (a pool constant, or evaluated), `None` otherwise.
fn weight_value(egraph: &IrGraph, class: Id, opset: i64) -> Option<Arc<Tensor>> {
    let data = &egraph[class].data;
    if !data.weight_only || data.ty().is_none() {
        return None;
    }
    for n in &egraph[class].nodes {
        if let Ir::Const(c) = n {
            if let Some(t) = egraph.analysis.consts.get(&c.0) {
                return Some(t.clone());
            }
        }
    }
    let no_inputs = HashMap::new();
    match Interpreter::new(&egraph.analysis, &no_inputs).with_opset(opset).eval_class(egraph, class) {
        Ok(Value::Tensor(t)) => Some(Arc::new(t)),
        _ => None,
    }
}

/// What a fitting function receives for class `class`.
fn fit_arg<'a>(
    egraph: &'a IrGraph,
    class: Id,
    value: Option<Arc<Tensor>>,
    calibration: &'a dyn Calibration,
) -> Result<FitArg<'a>, String> {
    let data = &egraph[class].data;
    if let Some(p) = &data.payload {
        return Ok(FitArg::Payload(p));
    }
    if let Some(l) = &data.lit {
        return Ok(FitArg::Literal(l.0));
    }
    if let Some(v) = value {
        return Ok(FitArg::Tensor(v));
    }
    calibration
        .samples(egraph.find(class))
        .map(|(ty, s)| FitArg::Samples(ty, s))
        .ok_or_else(|| "an activation argument has no calibration samples".into())
}
