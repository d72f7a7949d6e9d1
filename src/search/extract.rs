//! Greedy DAG extraction: a shared subexpression is paid for once. Each class keeps the set of
//! classes its best node needs (with their costs); a node's cost is the sum over the union of
//! its children's sets plus its own. Iterates to a fixed point (extraction-gym's
//! "faster-greedy-dag"). Deterministic: ties go to the node listed first in its class.

use crate::ir::{Ir, IrGraph};
use egg::{Id, Language, RecExpr};
use std::collections::{BTreeMap, HashMap};

/// The cost of one e-node alone (not counting its children); `f64::INFINITY` for a node the back
/// end cannot emit.
pub trait NodeCost {
    /// Cost of `node`, a member of class `class`.
    fn node_cost(&self, egraph: &IrGraph, class: Id, node: &Ir) -> f64;
}

/// Classes (canonical ids) a choice needs, with the cost each contributes.
type CostSet = BTreeMap<Id, f64>;

/// The chosen node per class and the DAG cost of the root.
#[derive(Debug)]
pub struct Extraction {
    /// The extracted program (root last).
    pub expr: RecExpr<Ir>,
    /// Sum of node costs, each class counted once.
    pub cost: f64,
    /// The canonical class each node of `expr` was chosen from (same indices as `expr`).
    pub classes: Vec<Id>,
}

/// Classes whose readers read another class instead (canonical ids, `from → to`): the way an
/// approximate alternative replaces the class it approximates without being merged with it
/// (`crate::approx`). Empty for exact extraction.
pub type Redirects = HashMap<Id, Id>;

/// Extraction failures.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// No finite-cost program exists for the root.
    #[error("no program the back end can emit exists for the root class")]
    NoFiniteProgram,
}

/// Passes that re-evaluate every class's choice after the first fixed point.
const REFRESH_PASSES: usize = 32;

/// Extracts the cheapest DAG for `root` under `cost`.
///
/// First every class takes its cheapest node given its children's choices so far, improving
/// strictly until nothing changes. A class's kept total can then be stale: its children may
/// have switched to choices that make its kept node dearer, or another node cheaper. So every
/// class is then re-evaluated against its children's current choices, keeping its node on
/// ties, until no choice changes (at most `REFRESH_PASSES` passes). The reported cost is that
/// of the program returned: each chosen class's own cost, once.
pub fn extract_dag(egraph: &IrGraph, root: Id, cost: &dyn NodeCost) -> Result<Extraction, ExtractError> {
    extract_dag_redirected(egraph, root, cost, &Redirects::new())
}

/// [`extract_dag`] where every read of a class in `redirects` (the root included) reads its
/// target instead; a choice that would make a class need itself through a redirect is not
/// taken, as any other cycle.
pub fn extract_dag_redirected(
    egraph: &IrGraph,
    root: Id,
    cost: &dyn NodeCost,
    redirects: &Redirects,
) -> Result<Extraction, ExtractError> {
    let read = Read { egraph, redirects };
    let classes: Vec<Id> = {
        let mut ids: Vec<Id> = egraph.classes().map(|c| c.id).collect();
        ids.sort();
        ids
    };
    let own: HashMap<(Id, usize), f64> = classes
        .iter()
        .flat_map(|&c| egraph[c].nodes.iter().enumerate().map(move |(i, n)| ((c, i), n)))
        .map(|((c, i), n)| ((c, i), cost.node_cost(egraph, c, n)))
        .collect();
    let mut best: Best = HashMap::new();
    let mut changed = true;
    while changed {
        changed = false;
        for &class in &classes {
            for i in 0..egraph[class].nodes.len() {
                let Some((set, total)) = evaluate(&read, &best, &own, class, i) else { continue };
                // Strictly cheaper only: ties keep the earlier choice, so the result is stable.
                if best.get(&class).is_none_or(|(_, _, bt)| total < *bt) {
                    best.insert(class, (i, set, total));
                    changed = true;
                }
            }
        }
    }
    let root = read.class(root);
    if !best.contains_key(&root) {
        return Err(ExtractError::NoFiniteProgram);
    }
    let first: HashMap<Id, usize> = best.iter().map(|(c, (i, _, _))| (*c, *i)).collect();
    for _ in 0..REFRESH_PASSES {
        let mut moved = false;
        for &class in &classes {
            let Some(&(current, _, _)) = best.get(&class) else { continue };
            let mut pick = evaluate(&read, &best, &own, class, current).map(|(set, t)| (current, set, t));
            for i in (0..egraph[class].nodes.len()).filter(|&i| i != current) {
                if let Some((set, total)) = evaluate(&read, &best, &own, class, i) {
                    if pick.as_ref().is_none_or(|(_, _, t)| total < *t) {
                        pick = Some((i, set, total));
                    }
                }
            }
            if let Some(pick) = pick {
                moved |= pick.0 != current;
                best.insert(class, pick);
            }
        }
        if !moved {
            break;
        }
    }
    let refreshed: HashMap<Id, usize> = best.iter().map(|(c, (i, _, _))| (*c, *i)).collect();
    // Re-evaluation works on sets computed at different times; should its choices close a
    // cycle, the first fixed point's choices (built the same way) are used instead.
    let (expr, chosen) = match build_program(&read, root, &refreshed) {
        Some(built) => built,
        None => build_program(&read, root, &first).ok_or(ExtractError::NoFiniteProgram)?,
    };
    let cost = chosen.iter().map(|(c, i)| own[&(*c, *i)]).sum();
    let classes = chosen.iter().map(|(c, _)| *c).collect();
    Ok(Extraction { expr, cost, classes })
}

/// How extraction reads a child: its canonical class, redirected.
struct Read<'a> {
    egraph: &'a IrGraph,
    redirects: &'a Redirects,
}

impl Read<'_> {
    fn class(&self, id: Id) -> Id {
        let c = self.egraph.find(id);
        self.redirects.get(&c).map_or(c, |&to| self.egraph.find(to))
    }
}

/// Per class: its chosen node, the classes that choice needs (with their own costs) and their sum.
type Best = HashMap<Id, (usize, CostSet, f64)>;

/// Node `i` of `class` given its children's current choices: the classes it needs and their
/// total cost; `None` when a child has no choice yet, the node would close a cycle, or it
/// cannot be emitted.
fn evaluate(read: &Read, best: &Best, own: &HashMap<(Id, usize), f64>, class: Id, i: usize) -> Option<(CostSet, f64)> {
    let own_cost = own[&(class, i)];
    if !own_cost.is_finite() {
        return None;
    }
    let mut set: CostSet = BTreeMap::new();
    for child in read.egraph[class].nodes[i].children() {
        let (_, child_set, _) = best.get(&read.class(*child))?;
        set.extend(child_set.iter().map(|(k, v)| (*k, *v)));
    }
    // A node whose needs include its own class would close a cycle.
    if set.contains_key(&class) {
        return None;
    }
    set.insert(class, own_cost);
    let total = set.values().sum();
    Some((set, total))
}

/// A built program (root last) and the chosen node (class, index) of each of its nodes.
type Program = (RecExpr<Ir>, Vec<(Id, usize)>);

/// The program the choices give for `root`, or `None` when the choices run around a cycle.
fn build_program(read: &Read, root: Id, pick: &HashMap<Id, usize>) -> Option<Program> {
    let mut expr = RecExpr::default();
    let mut added: HashMap<Id, Id> = HashMap::new();
    let mut chosen = Vec::new();
    let mut path = Vec::new();
    build(read, root, pick, &mut expr, &mut added, &mut chosen, &mut path)?;
    Some((expr, chosen))
}

/// Appends the chosen node of `class` after its children (each class once); `None` on a cycle.
fn build(
    read: &Read,
    class: Id,
    pick: &HashMap<Id, usize>,
    expr: &mut RecExpr<Ir>,
    added: &mut HashMap<Id, Id>,
    chosen: &mut Vec<(Id, usize)>,
    path: &mut Vec<Id>,
) -> Option<Id> {
    if let Some(&id) = added.get(&class) {
        return Some(id);
    }
    if path.contains(&class) {
        return None;
    }
    path.push(class);
    let i = *pick.get(&class)?;
    let mut children = Vec::new();
    for c in read.egraph[class].nodes[i].children() {
        children.push(build(read, read.class(*c), pick, expr, added, chosen, path)?);
    }
    let mut k = 0;
    let node = read.egraph[class].nodes[i].clone().map_children(|_| {
        k += 1;
        children[k - 1]
    });
    path.pop();
    let id = expr.add(node);
    added.insert(class, id);
    chosen.push((class, i));
    Some(id)
}
