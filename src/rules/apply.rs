//! The applier every loaded rule uses (CheckApply): conditions first, then each right side is
//! typed bottom-up with [`node_data`] (bound variables take their class's facts), and only when
//! every node type-checks and each root's facts equal its matched class's facts is anything
//! added to the e-graph and unioned. An ill-typed right side is never added.

use super::condition::Condition;
use super::facts::class_facts;
use crate::ir::{node_data, Ir, IrAnalysis, IrData, IrGraph, Literal, Provenance};
use egg::{Applier, ENodeOrVar, Id, Language, PatternAst, Subst, Symbol, Var};

/// Adds the right sides of a rule for one match, if its conditions hold and the sides type-check.
#[derive(Clone, Debug)]
pub(crate) struct CheckedApplier {
    /// The classes to union with: `None` for a single pattern (the matched class), or the
    /// variables a multi-pattern binds its left sides to (one per right side).
    pub roots: Option<Vec<Var>>,
    /// The right sides.
    pub rhs: Vec<PatternAst<Ir>>,
    /// Conditions, checked before anything else.
    pub conditions: Vec<Condition>,
    /// `(value-of ?x)` forms: the variable to bind to the literal, and `?x`.
    pub values: Vec<(Var, Var)>,
}

/// A fact slot while typing a right side: a bound class's facts or a new node's.
enum Slot<'a> {
    Class(&'a IrData),
    Own(IrData),
}

impl Slot<'_> {
    fn get(&self) -> &IrData {
        match self {
            Slot::Class(d) => d,
            Slot::Own(d) => d,
        }
    }
}

/// The facts of a right side instantiated with `subst`, or why a node is ill-typed.
pub(crate) fn rhs_data(egraph: &IrGraph, rhs: &PatternAst<Ir>, subst: &Subst) -> Result<IrData, String> {
    let mut slots: Vec<Slot> = Vec::with_capacity(rhs.len());
    for node in rhs.as_ref() {
        let slot = match node {
            ENodeOrVar::Var(v) => Slot::Class(&egraph[*subst.get(*v).ok_or(format!("{v} is not bound"))?].data),
            ENodeOrVar::ENode(n) => Slot::Own(node_data(&egraph.analysis, n, |c| slots[usize::from(c)].get())?),
        };
        slots.push(slot);
    }
    match slots.pop() {
        Some(Slot::Own(d)) => Ok(d),
        Some(Slot::Class(d)) => Ok(d.clone()),
        None => Err("empty right side".into()),
    }
}

/// Whether a right side's facts may join a class: the same types, all known, and the same
/// payload and literal (a rule must not merge different attributes or values).
pub(crate) fn fits(new: &IrData, class: &IrData) -> bool {
    new.types == class.types
        && class.types.iter().all(Option::is_some)
        && new.payload == class.payload
        && new.lit == class.lit
}

/// How many of a merged right side's nodes provenance keeps.
const MERGED_FORMS: usize = 8;

/// Adds a right side under `subst` (as egg's `add_instantiation`); also returns its root
/// e-node when this call created it.
pub(crate) fn instantiate(egraph: &mut IrGraph, rhs: &PatternAst<Ir>, subst: &Subst) -> (Id, Option<Ir>) {
    let nodes = rhs.as_ref();
    let mut ids: Vec<Id> = Vec::with_capacity(nodes.len());
    let mut created = None;
    for (i, n) in nodes.iter().enumerate() {
        let id = match n {
            ENodeOrVar::Var(v) => subst[*v],
            ENodeOrVar::ENode(node) => {
                let node = node.clone().map_children(|c| ids[usize::from(c)]);
                match egraph.lookup(node.clone()) {
                    Some(id) => id,
                    None => {
                        if i + 1 == nodes.len() {
                            created = Some(node.clone());
                        }
                        egraph.add(node)
                    }
                }
            }
        };
        ids.push(id);
    }
    (*ids.last().expect("a right side has a root"), created)
}

/// Binds each `(value-of ?x)` variable to a literal class holding the one value of `?x`'s
/// constant; the literals bound, or `None` when some `?x` does not hold one value.
pub(crate) fn bind_values(egraph: &mut IrGraph, values: &[(Var, Var)], subst: &mut Subst) -> Option<Vec<(Var, f64)>> {
    let mut bound = Vec::with_capacity(values.len());
    for &(fresh, src) in values {
        let bits = subst.get(src).and_then(|&id| class_facts(egraph, id)).and_then(|f| f.all_equal)?;
        let value = f64::from_bits(bits);
        let lit = egraph.add(Ir::Lit(Literal(value)));
        subst.insert(fresh, lit);
        bound.push((fresh, value));
    }
    Some(bound)
}

impl CheckedApplier {
    fn roots(&self, eclass: Id, subst: &Subst) -> Option<Vec<Id>> {
        match &self.roots {
            None => Some(vec![eclass]),
            Some(vars) => vars.iter().map(|v| subst.get(*v).copied()).collect(),
        }
    }
}

impl Applier<Ir, IrAnalysis> for CheckedApplier {
    fn apply_one(
        &self,
        egraph: &mut IrGraph,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<Ir>>,
        rule_name: Symbol,
    ) -> Vec<Id> {
        if !self.conditions.iter().all(|c| c.check(egraph, subst)) {
            return Vec::new();
        }
        let Some(roots) = self.roots(eclass, subst) else { return Vec::new() };
        let mut subst = subst.clone();
        if bind_values(egraph, &self.values, &mut subst).is_none() {
            return Vec::new();
        }
        let subst = &subst;
        let typed = self
            .rhs
            .iter()
            .zip(&roots)
            .all(|(rhs, &root)| rhs_data(egraph, rhs, subst).is_ok_and(|data| fits(&data, &egraph[root].data)));
        if !typed {
            return Vec::new();
        }
        let mut changed = Vec::new();
        for (rhs, &root) in self.rhs.iter().zip(&roots) {
            let (id, created) = instantiate(egraph, rhs, subst);
            // A re-application that adds nothing and merges nothing leaves no record.
            let record = match created {
                Some(node) => Some(Provenance::Created(node)),
                None if egraph.find(id) != egraph.find(root) => {
                    let forms = egraph[id].nodes.iter().take(MERGED_FORMS).cloned().collect();
                    Some(Provenance::Merged { class: root, forms })
                }
                None => None,
            };
            if egraph.union_trusted(root, id, rule_name) {
                changed.push(root);
            }
            if let Some(record) = record {
                egraph.analysis.provenance.push((rule_name, record));
            }
        }
        changed
    }

    fn vars(&self) -> Vec<Var> {
        let mut vars: Vec<Var> = self
            .rhs
            .iter()
            .flat_map(|p| p.as_ref().iter().filter_map(|n| if let ENodeOrVar::Var(v) = n { Some(*v) } else { None }))
            .chain(self.conditions.iter().flat_map(Condition::vars))
            .chain(self.roots.iter().flatten().copied())
            .filter(|v| !self.values.iter().any(|(fresh, _)| fresh == v))
            .chain(self.values.iter().map(|(_, src)| *src))
            .collect();
        vars.sort();
        vars.dedup();
        vars
    }
}
