//! What became of the rules and of the original nodes once a program is extracted: whether
//! each rule's work survives in the program, and which op now computes each original node's
//! value.

use crate::graph::Graph;
use crate::ir::{Ir, IrGraph, Origins, Provenance};
use egg::{Id, Language, RecExpr};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// One rule's part in a run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RuleUse {
    /// The rule's name.
    pub rule: String,
    /// Times it was applied during saturation.
    pub applied: usize,
    /// Whether the extracted program contains a node this rule created, or computes a class
    /// the rule merged with an existing form by that form (`x * 1 → x`, computed as `x`).
    pub survives: bool,
}

/// What an original node became.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fate {
    /// Still computed by a node of its own name and op (its operands may have changed, e.g.
    /// folded weights).
    Kept,
    /// Still a node of its own name, computed by another op (a recognized kernel).
    Rewritten,
    /// Its value is computed by another original node (BatchNorm folded into its Conv, an
    /// Identity merged with its input).
    Merged,
    /// Its value is no longer computed: a part of a pattern replaced as a whole, or folded
    /// into constants.
    Removed,
}

impl Fate {
    /// The fate as the report writes it (`kept`, `rewritten`, `merged`, `removed`).
    pub fn name(self) -> &'static str {
        match self {
            Fate::Kept => "kept",
            Fate::Rewritten => "rewritten",
            Fate::Merged => "merged",
            Fate::Removed => "removed",
        }
    }
}

/// One original node's fate.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NodeFate {
    /// The original node's name.
    pub node: String,
    /// Its op.
    pub op: String,
    /// What became of it.
    pub fate: Fate,
    /// The node that computes its value now (for kept, rewritten and merged nodes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// That node's op.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub into_op: Option<String>,
    /// The rules whose work computes its value now (they created the chosen node of its class,
    /// or merged that node's form into the class), by name; empty when none did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// For a removed node: the node that now computes the nearest value downstream of it that
    /// is still computed (a Conv folded into the BatchNormalization it fed, shape arithmetic
    /// folded into the Reshape that used it); `None` when nothing downstream is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absorbed_into: Option<String>,
}

/// The extracted program's chosen node per class (canonical ids, canonical children).
pub fn chosen(egraph: &IrGraph, expr: &RecExpr<Ir>) -> HashMap<Id, Ir> {
    chosen_in(expr, &crate::ir::program_classes(egraph, expr))
}

/// [`chosen`] for a program whose node classes are known (an [`super::Extraction`]'s
/// `classes`, which holds with redirects too).
pub fn chosen_in(expr: &RecExpr<Ir>, classes: &[Id]) -> HashMap<Id, Ir> {
    expr.as_ref()
        .iter()
        .zip(classes)
        .map(|(node, &class)| (class, node.clone().map_children(|c| classes[usize::from(c)])))
        .collect()
}

/// Per class of the program whose chosen nodes are `chosen`, the rules whose work it computes:
/// a rule created the chosen node, or merged the chosen node's form into the class.
fn rules_by_class(egraph: &IrGraph, chosen: &HashMap<Id, Ir>) -> HashMap<Id, BTreeSet<String>> {
    let program: HashMap<&Ir, Id> = chosen.iter().map(|(&class, node)| (node, class)).collect();
    let mut by_class: HashMap<Id, BTreeSet<String>> = HashMap::new();
    for (rule, record) in &egraph.analysis.provenance {
        let class = match record {
            Provenance::Created(node) => program.get(&node.clone().map_children(|c| egraph.find(c))).copied(),
            Provenance::Merged { class, forms } => {
                let class = egraph.find(*class);
                chosen
                    .get(&class)
                    .filter(|now| forms.iter().any(|f| f.clone().map_children(|c| egraph.find(c)) == **now))
                    .map(|_| class)
            }
        };
        if let Some(class) = class {
            by_class.entry(class).or_default().insert(rule.to_string());
        }
    }
    by_class
}

/// Per applied rule (by name, in name order), its count and whether its work survives in the
/// program whose chosen nodes are `chosen`.
pub fn rule_uses(egraph: &IrGraph, chosen: &HashMap<Id, Ir>, applied: &BTreeMap<String, usize>) -> Vec<RuleUse> {
    let survives: HashSet<String> = rules_by_class(egraph, chosen).into_values().flatten().collect();
    applied
        .iter()
        .map(|(rule, &n)| RuleUse { rule: rule.clone(), applied: n, survives: survives.contains(rule) })
        .collect()
}

/// The op a chosen node lifts to: the kernel's ONNX op, or the primitive's name.
fn op_name(egraph: &IrGraph, node: &Ir) -> String {
    match crate::ir::kernel_op(egraph, node) {
        Some(op) => op.onnx_name().to_string(),
        None => node.to_string(),
    }
}

/// Per node of `graph` (the model that was lowered, in topological order), what became of it.
pub fn node_fates(egraph: &IrGraph, chosen: &HashMap<Id, Ir>, origins: &Origins, graph: &Graph) -> Vec<NodeFate> {
    // The node whose name a class takes when lifted: the last origin (as lift does).
    let namer: HashMap<Id, crate::graph::NodeId> =
        origins.nodes.iter().map(|&(class, node)| (egraph.find(class), node)).collect();
    let rules = rules_by_class(egraph, chosen);
    let mut fates: Vec<NodeFate> = origins
        .nodes
        .iter()
        .map(|&(class, id)| {
            let class = egraph.find(class);
            let node = graph.node(id);
            let op = node.op.onnx_name().to_string();
            let Some(now) = chosen.get(&class) else {
                return NodeFate {
                    node: node.name.clone(),
                    op,
                    fate: Fate::Removed,
                    into: None,
                    into_op: None,
                    rules: Vec::new(),
                    absorbed_into: None,
                };
            };
            let into_op = op_name(egraph, now);
            let namer = namer.get(&class).copied();
            let into = namer.map(|n| graph.node(n).name.clone());
            let fate = match namer {
                Some(n) if n == id && into_op == op => Fate::Kept,
                Some(n) if n == id => Fate::Rewritten,
                _ => Fate::Merged,
            };
            // Several original nodes may share a class; each is told the class's rules.
            let rules = rules.get(&class).map(|r| r.iter().cloned().collect()).unwrap_or_default();
            NodeFate { node: node.name.clone(), op, fate, into, into_op: Some(into_op), rules, absorbed_into: None }
        })
        .collect();
    absorb_removed(&mut fates, &origins.nodes, graph);
    fates
}

/// Fills in [`NodeFate::absorbed_into`] of the removed nodes: a breadth-first walk down their
/// consumers to the first node that is not removed.
fn absorb_removed(fates: &mut [NodeFate], nodes: &[(Id, crate::graph::NodeId)], graph: &Graph) {
    let mut index: HashMap<crate::graph::NodeId, usize> = HashMap::new();
    for (i, &(_, id)) in nodes.iter().enumerate() {
        index.entry(id).or_insert(i);
    }
    for (i, &(_, start)) in nodes.iter().enumerate() {
        if fates[i].fate != Fate::Removed {
            continue;
        }
        let mut seen = HashSet::from([start]);
        let mut queue = std::collections::VecDeque::from([start]);
        let mut found = None;
        while let Some(id) = queue.pop_front() {
            for next in graph.dag.neighbors_directed(id, petgraph::Direction::Outgoing) {
                if !seen.insert(next) {
                    continue;
                }
                match index.get(&next).map(|&j| &fates[j]) {
                    Some(f) if f.fate != Fate::Removed => found = found.or_else(|| f.into.clone()),
                    _ => queue.push_back(next),
                }
            }
            if found.is_some() {
                break;
            }
        }
        fates[i].absorbed_into = found;
    }
}

/// Marks as removed the fates whose node the lifted graph does not have (a kernel on weights
/// whose consumers were folded into constants).
pub fn settle_fates(fates: &mut [NodeFate], lifted: &Graph) {
    let names: HashSet<&str> = lifted.dag.node_weights().map(|n| n.name.as_str()).collect();
    for f in fates.iter_mut() {
        if f.into.as_deref().is_some_and(|n| !names.contains(n)) {
            f.fate = Fate::Removed;
            f.into = None;
            f.into_op = None;
            f.rules.clear();
        }
    }
    for f in fates.iter_mut() {
        if f.absorbed_into.as_deref().is_some_and(|n| !names.contains(n)) {
            f.absorbed_into = None;
        }
    }
}
