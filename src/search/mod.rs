//! Search: equality saturation with egg's Runner under node, iteration and time limits, and
//! DAG-aware extraction of the cheapest program.

mod cost;
mod extract;
mod fate;
#[cfg(feature = "ilp")]
pub mod ilp;
mod winograd;

pub use cost::{digit_plane, node_cost, node_work, objective_cost, TargetCost};
pub use extract::{extract_dag, extract_dag_redirected, ExtractError, Extraction, NodeCost, Redirects};
pub use fate::{chosen, chosen_in, node_fates, rule_uses, settle_fates, Fate, NodeFate, RuleUse};

use crate::ir::{Ir, IrAnalysis, IrGraph};
use egg::{BackoffScheduler, Id, Rewrite, Runner, StopReason};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Limits of one saturation run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Stop when the e-graph has more e-nodes than this.
    pub nodes: usize,
    /// Stop after this many iterations.
    pub iterations: usize,
    /// Stop after this long.
    pub time: Duration,
}

impl Default for Limits {
    /// Defaults under which every shared model saturates in seconds.
    fn default() -> Self {
        Limits { nodes: 100_000, iterations: 30, time: Duration::from_secs(5) }
    }
}

/// What a saturation run did.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    /// Iterations run.
    pub iterations: usize,
    /// E-nodes at the end.
    pub nodes: usize,
    /// E-classes at the end.
    pub classes: usize,
    /// Why it stopped (`saturated`, `node limit`, `iteration limit`, `time limit`, or a message).
    pub stop_reason: String,
    /// Seconds spent saturating.
    pub seconds: f64,
    /// Times each rule was applied, by rule name.
    pub applied: std::collections::BTreeMap<String, usize>,
    /// Seconds spent extracting (filled in after extraction).
    pub extraction_seconds: f64,
    /// Per applied rule, whether its work survives in the extracted program (filled in after
    /// extraction).
    pub rules: Vec<RuleUse>,
    /// Per original node, what it became (filled in after extraction).
    pub fates: Vec<NodeFate>,
}

/// Saturates `egraph` with `rewrites` under `limits`; returns the e-graph and the run's stats.
pub fn saturate(egraph: IrGraph, root: Id, rewrites: &[Rewrite<Ir, IrAnalysis>], limits: &Limits) -> (IrGraph, Stats) {
    let start = Instant::now();
    let mut runner = Runner::default()
        .with_egraph(egraph)
        .with_node_limit(limits.nodes)
        .with_iter_limit(limits.iterations)
        .with_time_limit(limits.time)
        .with_scheduler(BackoffScheduler::default());
    runner.roots.push(root);
    let runner = runner.run(rewrites);
    let stop_reason = match &runner.stop_reason {
        Some(StopReason::Saturated) => "saturated".to_string(),
        Some(StopReason::NodeLimit(_)) => "node limit".to_string(),
        Some(StopReason::IterationLimit(_)) => "iteration limit".to_string(),
        Some(StopReason::TimeLimit(_)) => "time limit".to_string(),
        Some(StopReason::Other(s)) => s.clone(),
        None => "not run".to_string(),
    };
    let mut applied = std::collections::BTreeMap::new();
    for iteration in &runner.iterations {
        for (rule, n) in &iteration.applied {
            *applied.entry(rule.to_string()).or_insert(0) += n;
        }
    }
    let stats = Stats {
        applied,
        iterations: runner.iterations.len(),
        nodes: runner.egraph.total_size(),
        classes: runner.egraph.number_of_classes(),
        stop_reason,
        seconds: start.elapsed().as_secs_f64(),
        extraction_seconds: 0.0,
        rules: Vec::new(),
        fates: Vec::new(),
    };
    (runner.egraph, stats)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ir::IrAnalysis;
    use crate::tensor::{DType, TensorType};
    use egg::{rewrite as rw, RecExpr};

    /// Unit cost, except `exp`, which cannot be emitted.
    pub(crate) struct NoExp;
    impl NodeCost for NoExp {
        fn node_cost(&self, _: &IrGraph, _: Id, n: &Ir) -> f64 {
            if matches!(n, Ir::Exp(_)) {
                f64::INFINITY
            } else {
                1.0
            }
        }
    }

    /// Every node costs 1: the extracted DAG's cost is its number of distinct classes.
    struct Unit;
    impl NodeCost for Unit {
        fn node_cost(&self, _: &IrGraph, _: Id, _: &Ir) -> f64 {
            1.0
        }
    }

    pub(crate) fn graph_with_x() -> IrGraph {
        let mut a = IrAnalysis::default();
        a.inputs.insert("x".into(), TensorType::new(DType::F32, vec![4]));
        IrGraph::new(a)
    }

    #[test]
    fn shared_subexpressions_are_paid_once() {
        let mut eg = graph_with_x();
        // (add (exp x) (exp x)) shares (exp x): 3 classes (x, exp, add), tree size 5.
        let expr: RecExpr<Ir> = "(add (exp $x) (exp $x))".parse().unwrap();
        let root = eg.add_expr(&expr);
        eg.rebuild();
        let out = extract_dag(&eg, root, &Unit).unwrap();
        assert_eq!(out.cost, 3.0);
        assert_eq!(out.expr.as_ref().len(), 3);
    }

    #[test]
    fn saturation_then_extraction_picks_the_cheaper_form() {
        let mut eg = graph_with_x();
        let expr: RecExpr<Ir> = "(neg (neg (exp $x)))".parse().unwrap();
        let root = eg.add_expr(&expr);
        let rules: Vec<Rewrite<Ir, IrAnalysis>> = vec![rw!("neg-neg"; "(neg (neg ?x))" => "?x")];
        let (eg, stats) = saturate(eg, root, &rules, &Limits::default());
        assert_eq!(stats.stop_reason, "saturated");
        let out = extract_dag(&eg, root, &Unit).unwrap();
        assert_eq!(out.expr.to_string(), "(exp $x)");
        assert!(eg[root].data.ty().is_some());
    }

    #[test]
    fn infinite_nodes_are_never_chosen() {
        let mut eg = graph_with_x();
        let root = eg.add_expr(&"(exp $x)".parse().unwrap());
        eg.rebuild();
        assert!(matches!(extract_dag(&eg, root, &NoExp), Err(ExtractError::NoFiniteProgram)));
    }
}
