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
}

/// Extraction failures.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// No finite-cost program exists for the root.
    #[error("no program the back end can emit exists for the root class")]
    NoFiniteProgram,
}

/// Extracts the cheapest DAG for `root` under `cost`.
pub fn extract_dag(egraph: &IrGraph, root: Id, cost: &dyn NodeCost) -> Result<Extraction, ExtractError> {
    let mut best: HashMap<Id, (usize, CostSet, f64)> = HashMap::new();
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
    let mut changed = true;
    while changed {
        changed = false;
        for &class in &classes {
            for (i, node) in egraph[class].nodes.iter().enumerate() {
                let own_cost = own[&(class, i)];
                if !own_cost.is_finite() {
                    continue;
                }
                let mut set: CostSet = BTreeMap::new();
                let mut complete = true;
                for child in node.children() {
                    match best.get(&egraph.find(*child)) {
                        Some((_, child_set, _)) => set.extend(child_set.iter().map(|(k, v)| (*k, *v))),
                        None => {
                            complete = false;
                            break;
                        }
                    }
                }
                // A node whose needs include its own class would close a cycle.
                if !complete || set.contains_key(&class) {
                    continue;
                }
                set.insert(class, own_cost);
                let total: f64 = set.values().sum();
                // Strictly cheaper only: ties keep the earlier choice, so the result is stable.
                if best.get(&class).is_none_or(|(_, _, bt)| total < *bt) {
                    best.insert(class, (i, set, total));
                    changed = true;
                }
            }
        }
    }
    let root = egraph.find(root);
    let (_, _, total) = best.get(&root).ok_or(ExtractError::NoFiniteProgram)?;
    let total = *total;
    let mut expr = RecExpr::default();
    let mut added: HashMap<Id, Id> = HashMap::new();
    build(egraph, root, &best, &mut expr, &mut added);
    Ok(Extraction { expr, cost: total })
}

/// Appends the chosen node of `class` after its children (each class once).
fn build(
    egraph: &IrGraph,
    class: Id,
    best: &HashMap<Id, (usize, CostSet, f64)>,
    expr: &mut RecExpr<Ir>,
    added: &mut HashMap<Id, Id>,
) -> Id {
    if let Some(&id) = added.get(&class) {
        return id;
    }
    let (i, _, _) = &best[&class];
    let node = egraph[class].nodes[*i].clone();
    let node = node.map_children(|c| build(egraph, egraph.find(c), best, expr, added));
    let id = expr.add(node);
    added.insert(class, id);
    id
}
