//! The before/after comparison the HTML report draws, read off the report's figures (nothing is
//! recomputed): each layer's predicted cost before and after, matched by node name, and the
//! rewrites, grouped from the node fates by the node that computes their value now.

use crate::approx::budget::{Budget, Figures};
use crate::approx::report::ApproxReport;
use crate::cost::Objective;
use crate::inspect::{Inspection, NodeInfo};
use crate::search::{Fate, NodeFate};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// The unit layer costs are shown in for an objective.
pub fn unit(objective: Objective) -> &'static str {
    match objective {
        Objective::Latency => "µs",
        Objective::Energy => "nJ",
    }
}

/// A node's predicted cost in [`unit`] (0 without a prediction).
pub fn cost(node: &NodeInfo, objective: Objective) -> f64 {
    node.cost.as_ref().map_or(0.0, |c| match objective {
        Objective::Latency => c.latency_s * 1e6,
        Objective::Energy => c.energy_pj * 1e-3,
    })
}

/// One layer before and after: a node of the written model with the original nodes whose value
/// it computes now (itself, merged and absorbed nodes), or an original node computed no more.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer<'r> {
    /// Node name.
    pub name: &'r str,
    /// The original node's op (of the first original node it stands for; `None`: a node only
    /// the written model has).
    pub op_before: Option<&'r str>,
    /// The op of the written model's node of that name (`None`: no such node).
    pub op_after: Option<&'r str>,
    /// `kept`, `rewritten`, `merged`, `removed` (from the fates), or `new`.
    pub fate: &'static str,
    /// Original nodes it stands for.
    pub members: usize,
    /// Predicted cost of those original nodes.
    pub before: f64,
    /// Predicted cost of the written model's node (0 when there is none).
    pub after: f64,
}

/// The written model's nodes by name, each name's nodes in order, taken once each.
struct ByName<'r>(HashMap<&'r str, VecDeque<usize>>);

impl<'r> ByName<'r> {
    fn new(nodes: &'r [NodeInfo]) -> Self {
        let mut map: HashMap<&str, VecDeque<usize>> = HashMap::new();
        for (i, n) in nodes.iter().enumerate().filter(|(_, n)| !n.name.is_empty()) {
            map.entry(n.name.as_str()).or_default().push_back(i);
        }
        ByName(map)
    }

    fn take(&mut self, name: &str) -> Option<usize> {
        self.0.get_mut(name).and_then(VecDeque::pop_front)
    }
}

/// The layers of a run, in the input model's order: each original node is counted in the
/// layer of the node that computes its value now (its fate's `into`, or `absorbed_into` when
/// removed; its own name without fates), matched by name with the written model's node; then
/// the nodes only the written model has.
pub fn layers<'r>(
    before: &'r Inspection,
    after: &'r Inspection,
    fates: &'r [NodeFate],
    objective: Objective,
) -> Vec<Layer<'r>> {
    let fate_of: HashMap<&str, &NodeFate> = fates.iter().rev().map(|f| (f.node.as_str(), f)).collect();
    let mut unmatched = ByName::new(&after.nodes);
    let mut taken = vec![false; after.nodes.len()];
    let mut rows: Vec<Layer<'r>> = Vec::with_capacity(before.nodes.len());
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    for n in &before.nodes {
        let fate = fate_of.get(n.name.as_str());
        let key = fate.and_then(|f| f.into.as_deref().or(f.absorbed_into.as_deref())).unwrap_or(&n.name);
        let existing = if key.is_empty() { None } else { row_of.get(key).copied() };
        let i = match existing {
            Some(i) => i,
            None => {
                let now = unmatched.take(key);
                if let Some(i) = now {
                    taken[i] = true;
                }
                let now = now.map(|i| &after.nodes[i]);
                let own = if key == n.name { fate.map(|f| f.fate) } else { fate_of.get(key).map(|f| f.fate) };
                let fate = match (own, now) {
                    (Some(f), _) => f.name(),
                    (None, Some(a)) if a.op == n.op => Fate::Kept.name(),
                    (None, Some(_)) => Fate::Rewritten.name(),
                    (None, None) => Fate::Removed.name(),
                };
                rows.push(Layer {
                    name: key,
                    op_before: Some(&n.op),
                    op_after: now.map(|a| a.op.as_str()),
                    fate,
                    members: 0,
                    before: 0.0,
                    after: now.map_or(0.0, |a| cost(a, objective)),
                });
                row_of.insert(key, rows.len() - 1);
                rows.len() - 1
            }
        };
        rows[i].members += 1;
        rows[i].before += cost(n, objective);
        if key == n.name {
            rows[i].op_before = Some(&n.op);
        }
    }
    for (a, _) in after.nodes.iter().zip(taken).filter(|(_, t)| !t) {
        rows.push(Layer {
            name: &a.name,
            op_before: None,
            op_after: Some(&a.op),
            fate: "new",
            members: 0,
            before: 0.0,
            after: cost(a, objective),
        });
    }
    rows
}

/// One rewrite: original nodes whose value one node of the written model computes now (or
/// that are computed no more), the rules that did it and what it changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Rewrite<'r> {
    /// The original nodes (with their ops), the computing node first when it is one of them.
    pub site: Vec<(&'r str, &'r str)>,
    /// The written model's node that computes the site's value now, and its op.
    pub into: Option<(&'r str, &'r str)>,
    /// The rules, by name.
    pub rules: BTreeSet<&'r str>,
    /// Predicted cost of the site's nodes before.
    pub before: f64,
    /// Predicted cost of the computing node after (0 when removed).
    pub after: f64,
    /// Approx mode: change of the budget's figure on the held-out data by this site's
    /// approximate steps (points of accuracy, percent of agreement, or relative error).
    pub accuracy_change: Option<f64>,
}

/// The rewrites of a run: per node of the written model that computes something other than
/// what its original node did (another op, merged or absorbed nodes, or a rule's work), one
/// rewrite; each removed node that nothing downstream absorbed one rewrite; approx mode's applied steps joined to the rewrite of their node.
/// Sorted by saving, largest first.
pub fn rewrites<'r>(
    before: &'r Inspection,
    after: &'r Inspection,
    fates: &'r [NodeFate],
    approx: Option<&'r ApproxReport>,
    objective: Objective,
) -> Vec<Rewrite<'r>> {
    let cost_before: HashMap<&str, f64> =
        before.nodes.iter().rev().map(|n| (n.name.as_str(), cost(n, objective))).collect();
    let cost_after: HashMap<&str, (&str, f64)> =
        after.nodes.iter().rev().map(|n| (n.name.as_str(), (n.op.as_str(), cost(n, objective)))).collect();
    let mut out: Vec<Rewrite<'r>> = Vec::new();
    let mut by_into: HashMap<&str, usize> = HashMap::new();
    let changed = |f: &NodeFate| f.fate != Fate::Kept || !f.rules.is_empty();
    // Nodes of a site whose computing node changed nothing are listed too (a BatchNorm merged
    // into a kept Conv): the site is every fate pointing at a changed node.
    let changed_into: BTreeSet<&str> =
        fates.iter().filter(|f| changed(f)).filter_map(|f| f.into.as_deref().or(f.absorbed_into.as_deref())).collect();
    for f in fates {
        let into = f.into.as_deref().or(f.absorbed_into.as_deref());
        let row = match into {
            Some(x) if changed_into.contains(x) => *by_into.entry(x).or_insert_with(|| {
                let op = cost_after.get(x).map(|&(op, _)| op).or(f.into_op.as_deref()).unwrap_or("?");
                out.push(Rewrite {
                    site: Vec::new(),
                    into: Some((x, op)),
                    rules: BTreeSet::new(),
                    before: 0.0,
                    after: cost_after.get(x).map_or(0.0, |&(_, c)| c),
                    accuracy_change: None,
                });
                out.len() - 1
            }),
            Some(_) => continue,
            None => {
                out.push(Rewrite {
                    site: Vec::new(),
                    into: None,
                    rules: BTreeSet::new(),
                    before: 0.0,
                    after: 0.0,
                    accuracy_change: None,
                });
                out.len() - 1
            }
        };
        let r = &mut out[row];
        r.site.push((&f.node, &f.op));
        r.rules.extend(f.rules.iter().map(String::as_str));
        r.before += cost_before.get(f.node.as_str()).copied().unwrap_or(0.0);
    }
    for r in &mut out {
        // The computing node first.
        if let Some((x, _)) = r.into {
            r.site.sort_by_key(|&(n, _)| n != x);
        }
    }
    if let Some(a) = approx {
        join_approx(&mut out, a, &cost_before, &cost_after);
    }
    out.sort_by(|a, b| (b.before - b.after).total_cmp(&(a.before - a.after)));
    out
}

/// The figure a budget is judged by (accuracy points, agreement percent, relative error).
pub fn budget_figure(budget: &Budget, f: &Figures) -> Option<f64> {
    match budget {
        Budget::Acc(_) => f.accuracy,
        Budget::Agree(_) => f.agreement.map(|a| 100.0 * a),
        Budget::Rel(_) => Some(f.rel_l2),
    }
}

/// Adds each applied approximate step to the rewrite of its node (a new one when the fates did
/// not list it): its rule, and its change of the budget's figure on the held-out data.
fn join_approx<'r>(
    out: &mut Vec<Rewrite<'r>>,
    a: &'r ApproxReport,
    cost_before: &HashMap<&str, f64>,
    cost_after: &HashMap<&'r str, (&'r str, f64)>,
) {
    let mut previous = budget_figure(&a.budget, &a.original.heldout);
    for step in &a.applied {
        let now = budget_figure(&a.budget, &step.after.heldout);
        let change = previous.zip(now).map(|(p, n)| n - p);
        previous = now;
        let i = match out.iter().position(|r| r.site.iter().any(|&(n, _)| n == step.node)) {
            Some(i) => i,
            None => {
                let after = cost_after.get_key_value(step.node.as_str());
                out.push(Rewrite {
                    site: vec![(&step.node, &step.op)],
                    into: after.map(|(&n, &(op, _))| (n, op)),
                    rules: BTreeSet::new(),
                    before: cost_before.get(step.node.as_str()).copied().unwrap_or(0.0),
                    after: after.map_or(0.0, |(_, &(_, c))| c),
                    accuracy_change: None,
                });
                out.len() - 1
            }
        };
        let r = &mut out[i];
        r.rules.insert(&step.rule);
        if let Some(c) = change {
            r.accuracy_change = Some(r.accuracy_change.unwrap_or(0.0) + c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, op: &str, latency_us: f64) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            op: op.into(),
            inputs: vec![],
            outputs: vec![],
            params: 0,
            macs: 0,
            opaque: false,
            cost: Some(crate::inspect::LayerCost {
                weight_only: false,
                latency_s: latency_us * 1e-6,
                energy_pj: 0.0,
                bottleneck: crate::cost::Bottleneck::Compute,
                compute_cycles: 0.0,
                memory_cycles: 0.0,
                bytes: 0,
                level: crate::cost::MemLevel::L1,
                shift_add: None,
            }),
        }
    }

    fn inspection(nodes: Vec<NodeInfo>) -> Inspection {
        Inspection { nodes, total_params: 0, total_macs: 0, opaque_ops: vec![], op_counts: vec![], cost: None }
    }

    fn fate(node: &str, op: &str, fate: Fate, into: Option<(&str, &str)>, rules: &[&str]) -> NodeFate {
        NodeFate {
            node: node.into(),
            op: op.into(),
            fate,
            into: into.map(|(n, _)| n.into()),
            into_op: into.map(|(_, o)| o.into()),
            rules: rules.iter().map(|r| r.to_string()).collect(),
            absorbed_into: None,
        }
    }

    /// conv → bn → relu → (a, b, c: a GELU-like chain recognized as one kernel named c).
    fn run() -> (Inspection, Inspection, Vec<NodeFate>) {
        let before = inspection(vec![
            node("conv", "Conv", 10.0),
            node("bn", "BatchNormalization", 2.0),
            node("relu", "Relu", 1.0),
            node("a", "Div", 1.0),
            node("b", "Erf", 1.0),
            node("c", "Mul", 1.0),
        ]);
        let after = inspection(vec![node("conv", "Conv", 9.0), node("relu", "Relu", 1.0), node("c", "Gelu", 0.5)]);
        let fates = vec![
            fate("conv", "Conv", Fate::Kept, Some(("conv", "Conv")), &[]),
            fate("bn", "BatchNormalization", Fate::Merged, Some(("conv", "Conv")), &["fold-bn"]),
            fate("relu", "Relu", Fate::Kept, Some(("relu", "Relu")), &[]),
            fate("a", "Div", Fate::Removed, None, &[]),
            fate("b", "Erf", Fate::Removed, None, &[]),
            fate("c", "Mul", Fate::Rewritten, Some(("c", "Gelu")), &["gelu"]),
        ];
        (before, after, fates)
    }

    #[test]
    fn layers_gather_the_original_nodes_each_node_computes_now() {
        let (before, after, mut fates) = run();
        fates[3].absorbed_into = Some("c".into());
        let rows = layers(&before, &after, &fates, Objective::Latency);
        let view: Vec<(&str, &str, usize, f64, f64)> =
            rows.iter().map(|l| (l.name, l.fate, l.members, l.before, l.after)).collect();
        let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
        let expected = [
            ("conv", "kept", 2, 12.0, 9.0),
            ("relu", "kept", 1, 1.0, 1.0),
            ("c", "rewritten", 2, 2.0, 0.5),
            ("b", "removed", 1, 1.0, 0.0),
        ];
        assert_eq!(view.len(), expected.len(), "{view:?}");
        for (got, want) in view.iter().zip(expected) {
            assert!(
                got.0 == want.0 && got.1 == want.1 && got.2 == want.2 && close(got.3, want.3) && close(got.4, want.4),
                "{got:?}"
            );
        }
        assert_eq!(rows[2].op_before, Some("Mul"), "the op of the original node of that name");
        // Without fates, layers match by name.
        let rows = layers(&before, &after, &[], Objective::Latency);
        assert_eq!(
            rows.iter().map(|l| (l.name, l.fate)).collect::<Vec<_>>()[..2],
            [("conv", "kept"), ("bn", "removed")]
        );
    }

    #[test]
    fn a_node_only_the_written_model_has_is_new() {
        let (before, mut after, fates) = run();
        after.nodes.push(node("extra", "Add", 3.0));
        let rows = layers(&before, &after, &fates, Objective::Latency);
        assert_eq!(rows.last().map(|l| (l.name, l.fate, l.op_before)), Some(("extra", "new", None)));
    }

    #[test]
    fn rewrites_group_merged_nodes_with_their_computing_node() {
        let (before, after, mut fates) = run();
        let rows = rewrites(&before, &after, &fates, None, Objective::Latency);
        let sites: Vec<Vec<&str>> = rows.iter().map(|r| r.site.iter().map(|s| s.0).collect()).collect();
        // conv+bn saves 3, a and b 1 each, c 0.5; relu changed nothing.
        assert_eq!(sites, [vec!["conv", "bn"], vec!["a"], vec!["b"], vec!["c"]]);
        // Removed nodes absorbed downstream join the rewrite of the node that absorbed them.
        fates[3].absorbed_into = Some("c".into());
        fates[4].absorbed_into = Some("c".into());
        let rows = rewrites(&before, &after, &fates, None, Objective::Latency);
        let sites: Vec<Vec<&str>> = rows.iter().map(|r| r.site.iter().map(|s| s.0).collect()).collect();
        assert_eq!(sites, [vec!["conv", "bn"], vec!["c", "a", "b"]]);
        assert_eq!(rows[0].rules.iter().copied().collect::<Vec<_>>(), ["fold-bn"]);
        assert_eq!(rows[0].into, Some(("conv", "Conv")));
        assert!((rows[0].before - 12.0).abs() < 1e-9 && (rows[0].after - 9.0).abs() < 1e-9);
        assert_eq!(rows[1].into, Some(("c", "Gelu")));
        assert_eq!(rows[1].rules.iter().copied().collect::<Vec<_>>(), ["gelu"]);
        assert!((rows[1].before - 3.0).abs() < 1e-9 && (rows[1].after - 0.5).abs() < 1e-9);
    }
}
