//! Optimal DAG extraction by integer linear programming (feature `ilp`: CBC through good_lp,
//! the solver egg's `lp` feature uses), to measure how far the greedy [`extract_dag`] is from
//! the optimum on small e-graphs.
//!
//! egg's `LpExtractor` formulation: a binary per class (`active`) and per e-node (`chosen`);
//! an active class chooses exactly one node; a chosen node needs its children's classes active;
//! the root is active; minimize the sum of the chosen nodes' costs, so a shared class is paid
//! once. Two departures from `LpExtractor`, both so that the ILP is never worse than greedy:
//!
//! - Nodes of infinite cost (the back end cannot emit them) get no variable instead of a cost.
//! - Cycles: egg disables every node that closes a cycle in one depth-first search, which
//!   depends on the search order and can disable the node greedy (or the optimum) uses. Here
//!   only self-loops are disabled up front; a solution whose program (read from the root)
//!   runs around a cycle gets a cut forbidding that cycle (its chosen nodes cannot all be
//!   chosen) and is solved again, until the program is acyclic.
//!
//! A solve stopped by the time limit returns the greedy extraction when that is cheaper than
//! the best program found (CBC is not given greedy's as a start: with a start it can prove
//! optimality at the root and report the root LP's fractional values). Deterministic:
//! variables and constraints are built in class-id order and CBC runs single-threaded.

use super::extract::{extract_dag, ExtractError, Extraction, NodeCost};
use crate::ir::{Ir, IrGraph};
use egg::{Id, Language, RecExpr};
use good_lp::solvers::coin_cbc::coin_cbc;
use good_lp::{
    variable, Expression, ProblemVariables, ResolutionError, Solution, SolutionStatus, SolverModel, Variable,
    WithTimeLimit,
};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// ILP extraction failures.
#[derive(Debug, thiserror::Error)]
pub enum IlpError {
    /// No finite-cost program exists (the ILP is infeasible, or greedy found none).
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// CBC failed or stopped without a solution.
    #[error("CBC: {0}")]
    Solver(String),
    /// The solution leaves a class of the program without a node (a solver tolerance problem).
    #[error("the ILP solution leaves a needed class without a node")]
    BadSolution,
}

/// An ILP extraction and how the solve went.
#[derive(Debug)]
pub struct IlpOutcome {
    /// The program; `cost` is its [`dag_cost`].
    pub extraction: Extraction,
    /// Whether CBC proved the program optimal (false when it stopped on the time limit).
    pub optimal: bool,
    /// Binary variables of the model.
    pub variables: usize,
    /// Solves: one, plus one per cycle cut.
    pub solves: usize,
    /// Seconds in CBC (the model builds and the greedy extraction excluded).
    pub solve_seconds: f64,
}

/// Extracts the cheapest DAG for `root` under `cost` by ILP, within `timeout` (each solve's
/// limit is rounded up to whole seconds; on timeout, the best acyclic program found or
/// greedy's, whichever is cheaper).
pub fn extract_ilp(egraph: &IrGraph, root: Id, cost: &dyn NodeCost, timeout: Duration) -> Result<Extraction, IlpError> {
    solve_ilp(egraph, root, cost, timeout).map(|o| o.extraction)
}

/// [`extract_ilp`] with the solve's figures.
pub fn solve_ilp(egraph: &IrGraph, root: Id, cost: &dyn NodeCost, timeout: Duration) -> Result<IlpOutcome, IlpError> {
    let deadline = Instant::now() + timeout;
    let root = egraph.find(root);
    let mut classes: Vec<Id> = egraph.classes().map(|c| c.id).collect();
    classes.sort();
    // Per class, the nodes that may be chosen: finite cost, no self-loop. (node index, cost).
    let allowed: HashMap<Id, Vec<(usize, f64)>> = classes
        .iter()
        .map(|&c| {
            let nodes = egraph[c]
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (i, cost.node_cost(egraph, c, n), n))
                .filter(|(_, k, n)| k.is_finite() && n.children().iter().all(|ch| egraph.find(*ch) != c))
                .map(|(i, k, _)| (i, k))
                .collect();
            (c, nodes)
        })
        .collect();
    let greedy = extract_dag(egraph, root, cost)?;
    let greedy_cost = dag_cost(egraph, &greedy.expr, cost);

    // Costs scaled so the largest is 1e6: CBC's absolute tolerances (an improvement must beat
    // the incumbent by 1e-5) would otherwise swallow differences between costs in seconds.
    let max = allowed.values().flatten().map(|&(_, k)| k).fold(0.0f64, f64::max);
    let scale = if max > 0.0 { 1e6 / max } else { 1.0 };

    // Each cut: (class, node) pairs of a cycle, not all of which may be chosen.
    let mut cuts: Vec<Vec<(Id, usize)>> = Vec::new();
    let mut solve_seconds = 0.0;
    loop {
        let mut vars = ProblemVariables::new();
        let active: HashMap<Id, Variable> = classes.iter().map(|&c| (c, vars.add(variable().binary()))).collect();
        let chosen: HashMap<(Id, usize), Variable> = classes
            .iter()
            .flat_map(|&c| allowed[&c].iter().map(move |&(i, _)| (c, i)))
            .map(|key| (key, vars.add(variable().binary())))
            .collect();
        let variables = active.len() + chosen.len();
        let mut objective = Expression::from(0.0);
        for &c in &classes {
            for &(i, k) in &allowed[&c] {
                objective += (k * scale) * chosen[&(c, i)];
            }
        }
        let mut model = vars.minimise(objective).using(coin_cbc);
        model.set_parameter("threads", "0");
        for &c in &classes {
            let sum: Expression = allowed[&c].iter().map(|&(i, _)| chosen[&(c, i)]).sum();
            model.add_constraint((sum - active[&c]).eq(0.0));
            for &(i, _) in &allowed[&c] {
                let children: BTreeSet<Id> = egraph[c].nodes[i].children().iter().map(|ch| egraph.find(*ch)).collect();
                for d in children {
                    model.add_constraint((chosen[&(c, i)] - active[&d]).leq(0.0));
                }
            }
        }
        model.add_constraint(Expression::from(active[&root]).eq(1.0));
        for cut in &cuts {
            let sum: Expression = cut.iter().map(|key| chosen[key]).sum();
            model.add_constraint(sum.leq(cut.len() as f64 - 1.0));
        }
        let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
        let model = model.with_time_limit(left.max(1.0));

        let t = Instant::now();
        let solution = model.solve().map_err(|e| match e {
            ResolutionError::Infeasible => IlpError::Extract(ExtractError::NoFiniteProgram),
            e => IlpError::Solver(e.to_string()),
        })?;
        solve_seconds += t.elapsed().as_secs_f64();
        let optimal = matches!(solution.status(), SolutionStatus::Optimal);
        // CBC reports the LP's values when the root bound proves an incumbent optimal; they
        // may be fractional. Never read a program from them.
        if chosen.values().any(|v| (0.01..0.99).contains(&solution.value(*v))) {
            return Err(IlpError::Solver("fractional solution".into()));
        }
        let pick: HashMap<Id, usize> = classes
            .iter()
            .filter_map(|&c| {
                allowed[&c].iter().find(|&&(i, _)| solution.value(chosen[&(c, i)]) > 0.5).map(|&(i, _)| (c, i))
            })
            .collect();
        let mut expr = RecExpr::default();
        let mut path = Vec::new();
        match build(egraph, root, &pick, &mut expr, &mut HashMap::new(), &mut path)? {
            Some(cycle) if Instant::now() < deadline => cuts.push(cycle.into_iter().map(|c| (c, pick[&c])).collect()),
            found => {
                let solves = cuts.len() + 1;
                let cost = dag_cost(egraph, &expr, cost);
                // Stopped on time with a worse program than greedy's, or still cyclic: greedy's.
                let extraction = match found {
                    None if optimal || cost <= greedy_cost => {
                        Extraction { classes: crate::ir::program_classes(egraph, &expr), expr, cost }
                    }
                    _ => Extraction { expr: greedy.expr, cost: greedy_cost, classes: greedy.classes },
                };
                let optimal = optimal && found.is_none();
                return Ok(IlpOutcome { extraction, optimal, variables, solves, solve_seconds });
            }
        }
    }
}

/// The DAG cost of an extracted program: the sum of its nodes' costs, each class once, summed
/// in class order so that one program always gets the same figure.
pub fn dag_cost(egraph: &IrGraph, expr: &RecExpr<Ir>, cost: &dyn NodeCost) -> f64 {
    let mut nodes: Vec<(Id, Ir)> = super::chosen(egraph, expr).into_iter().collect();
    nodes.sort_by_key(|(c, _)| *c);
    nodes.iter().map(|(c, n)| cost.node_cost(egraph, *c, n)).sum()
}

/// Appends the picked node of `class` after its children. `Ok(Some(cycle))` when the picks
/// run around a cycle (the classes on it); `path` holds the classes being built.
fn build(
    egraph: &IrGraph,
    class: Id,
    pick: &HashMap<Id, usize>,
    expr: &mut RecExpr<Ir>,
    built: &mut HashMap<Id, Id>,
    path: &mut Vec<Id>,
) -> Result<Option<Vec<Id>>, IlpError> {
    if built.contains_key(&class) {
        return Ok(None);
    }
    if let Some(at) = path.iter().position(|&c| c == class) {
        return Ok(Some(path[at..].to_vec()));
    }
    let &i = pick.get(&class).ok_or(IlpError::BadSolution)?;
    let node = &egraph[class].nodes[i];
    path.push(class);
    for child in node.children() {
        if let Some(cycle) = build(egraph, egraph.find(*child), pick, expr, built, path)? {
            return Ok(Some(cycle));
        }
    }
    path.pop();
    let node = node.clone().map_children(|c| built[&egraph.find(c)]);
    built.insert(class, expr.add(node));
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unit cost, except `exp`, which costs 10.
    struct ExpTen;
    impl NodeCost for ExpTen {
        fn node_cost(&self, _: &IrGraph, _: Id, n: &Ir) -> f64 {
            if matches!(n, Ir::Exp(_)) {
                10.0
            } else {
                1.0
            }
        }
    }

    use crate::search::tests::graph_with_x;

    #[test]
    fn ilp_pays_a_shared_subexpression_once() {
        let mut eg = graph_with_x();
        let root = eg.add_expr(&"(add (exp $x) (exp $x))".parse().unwrap());
        eg.rebuild();
        let ilp = solve_ilp(&eg, root, &ExpTen, Duration::from_secs(10)).unwrap();
        // x, exp, add once each: 1 + 10 + 1 (a tree would pay exp and x twice: 23).
        assert_eq!(ilp.extraction.cost, 12.0);
        assert!(ilp.optimal);
        assert_eq!(ilp.extraction.expr.as_ref().len(), 3);
    }

    #[test]
    fn ilp_shares_where_greedy_decides_class_by_class() {
        // (add A B) with A = {(neg S), (abs^7 x)} and B = {(tanh S), (sqrt^7 x)}, S = (exp x).
        // Alone, A and B are cheaper without S (8 < 12), so greedy pays 1 + 1 + 7 + 7 = 16;
        // sharing S costs add + neg + tanh + exp + x = 14.
        let mut eg = graph_with_x();
        let mut add = |s: &str| eg.add_expr(&s.parse().unwrap());
        let a = add("(neg (exp $x))");
        let a_alt = add("(abs (abs (abs (abs (abs (abs (abs $x)))))))");
        let b = add("(tanh (exp $x))");
        let b_alt = add("(sqrt (sqrt (sqrt (sqrt (sqrt (sqrt (sqrt $x)))))))");
        let root = add("(add (neg (exp $x)) (tanh (exp $x)))");
        eg.union(a, a_alt);
        eg.union(b, b_alt);
        eg.rebuild();
        let greedy = extract_dag(&eg, root, &ExpTen).unwrap();
        let ilp = solve_ilp(&eg, root, &ExpTen, Duration::from_secs(10)).unwrap();
        assert_eq!(dag_cost(&eg, &greedy.expr, &ExpTen), 16.0, "{}", greedy.expr);
        assert_eq!(greedy.cost, 16.0, "greedy reports the cost of the program it returns");
        assert!(ilp.optimal);
        assert_eq!(ilp.extraction.cost, 14.0);
        assert_eq!(dag_cost(&eg, &ilp.extraction.expr, &ExpTen), 14.0);
        assert_eq!(ilp.extraction.expr.to_string(), "(add (neg (exp $x)) (tanh (exp $x)))");
    }

    #[test]
    fn ilp_never_chooses_infinite_nodes() {
        use crate::search::tests::NoExp;
        let mut eg = graph_with_x();
        let root = eg.add_expr(&"(exp $x)".parse().unwrap());
        eg.rebuild();
        let r = solve_ilp(&eg, root, &NoExp, Duration::from_secs(10));
        assert!(matches!(r, Err(IlpError::Extract(ExtractError::NoFiniteProgram))), "{r:?}");
    }

    #[test]
    fn ilp_never_extracts_a_cycle() {
        // x = (neg (neg x)) puts x's class and (neg x)'s on a cycle; with the input dearer than
        // two negations, a solver without acyclicity constraints would take the cycle.
        struct DearInput;
        impl NodeCost for DearInput {
            fn node_cost(&self, _: &IrGraph, _: Id, n: &Ir) -> f64 {
                if matches!(n, Ir::Input(_)) {
                    5.0
                } else {
                    1.0
                }
            }
        }
        let mut eg = graph_with_x();
        let x = eg.add_expr(&"$x".parse().unwrap());
        let nn = eg.add_expr(&"(neg (neg $x))".parse().unwrap());
        eg.union(x, nn);
        eg.rebuild();
        let ilp = solve_ilp(&eg, nn, &DearInput, Duration::from_secs(10)).unwrap();
        assert_eq!(ilp.extraction.expr.to_string(), "$x");
        assert_eq!(ilp.extraction.cost, 5.0);
    }
}
