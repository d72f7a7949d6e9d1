//! Goal tests of rules/layout.rules and rules/recognize.rules: each start expression must end up
//! in the goal's class after saturating with the shipped exact rules.

use egg::{RecExpr, Runner};
use gos_opt::ir::{Ir, IrAnalysis, IrGraph};
use gos_opt::rules::{Functions, RuleSet};
use gos_opt::tensor::{DType, Tensor, TensorType};
use std::sync::Arc;

/// Inputs `$x: f32[2,3]`, `$c: f32[4,4,4]`, `$u: f32[1,3,4]`; constants `%0 = 4.0`, `%1 = 3.0`.
fn analysis() -> IrAnalysis {
    let mut a = IrAnalysis { functions: Arc::new(Functions), ..IrAnalysis::default() };
    for (name, shape) in [("x", vec![2, 3]), ("c", vec![4, 4, 4]), ("u", vec![1, 3, 4])] {
        a.inputs.insert(name.into(), TensorType::new(DType::F32, shape));
    }
    a.consts.insert(0, Arc::new(Tensor::f32(vec![], vec![4.0])));
    a.consts.insert(1, Arc::new(Tensor::f32(vec![], vec![3.0])));
    a
}

/// Whether `start` and `goal` end up in one class under the shipped exact rules.
fn proves(start: &str, goal: &str) -> bool {
    let rules = RuleSet::load(&[], &Functions).expect("the shipped rules load");
    let (start, goal): (RecExpr<Ir>, RecExpr<Ir>) = (start.parse().unwrap(), goal.parse().unwrap());
    let mut egraph = IrGraph::new(analysis());
    let (a, b) = (egraph.add_expr(&start), egraph.add_expr(&goal));
    let egraph = Runner::default().with_egraph(egraph).with_iter_limit(8).run(&rules.rewrites(false)).egraph;
    egraph.find(a) == egraph.find(b)
}

#[test]
fn reshape_chains_merge_and_cancel() {
    assert!(proves("(reshape #ints:6 (reshape #ints:3,2 $x))", "(reshape #ints:6 $x)"));
    assert!(proves("(reshape #ints:2,3 (reshape #ints:6 $x))", "$x"));
    assert!(!proves("(reshape #ints:3,2 $x)", "$x"));
}

#[test]
fn transposes_merge() {
    assert!(proves("(transpose #ints:1,0,2 (transpose #ints:0,2,1 $c))", "(transpose #ints:2,0,1 $c)"));
}

#[test]
fn unit_axis_transpose_is_a_reshape() {
    assert!(proves("(transpose #ints:1,0,2 $u)", "(reshape #ints:3,1,4 $u)"));
    assert!(proves("(transpose #ints:0,1 $x)", "$x"));
    assert!(!proves("(transpose #ints:1,0 $x)", "(reshape #ints:3,2 $x)"));
}

#[test]
fn cast_to_own_type_is_removed() {
    assert!(proves("(cast #dtype:float $x)", "$x"));
}

#[test]
fn powers_of_two() {
    assert!(proves("(mul $x 4)", "(shl $x 2)"));
    assert!(proves("(shl $x -1)", "(mul $x 0.5)"));
    assert!(proves("(div $x %0)", "(mul $x (div 1 %0))"));
    assert!(!proves("(div $x %1)", "(mul $x (div 1 %1))"));
}
