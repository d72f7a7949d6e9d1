//! Unit tests of the loader: every error names its file, line and rule; conditions, CheckApply
//! and multi-patterns behave as `rules/README.md` says.

use super::*;
use crate::ir::{FnArg, IrData, IrGraph, NoFunctions};
use crate::tensor::{DType, Tensor, TensorType};
use egg::{RecExpr, Runner};
use std::sync::Arc;

fn load(text: &str) -> Result<RuleSet, RuleError> {
    RuleSet::from_text("t.rules", text, &NoFunctions)
}

fn err(text: &str) -> (usize, String) {
    let e = load(text).expect_err("the text should not load");
    (e.location().expect("a located error").line, e.to_string())
}

/// A table with one function, to check `@name` validation.
struct OneFn;
impl ConstFns for OneFn {
    fn infer(&self, _: &str, args: &[&IrData]) -> Result<IrData, String> {
        Ok(args.first().map(|d| (*d).clone()).ok_or("one argument")?)
    }
    fn eval(&self, name: &str, _: &[FnArg]) -> Result<Tensor, String> {
        Err(format!("@{name} is not evaluated in tests"))
    }
    fn names(&self) -> &[&str] {
        &["twice"]
    }
}

fn analysis() -> IrAnalysis {
    let mut a = IrAnalysis::default();
    a.inputs.insert("x".into(), TensorType::new(DType::F32, vec![2, 3]));
    a.inputs.insert("n".into(), TensorType::new(DType::I32, vec![4]));
    a.consts.insert(0, Arc::new(Tensor::f32(vec![2], vec![1.0, f32::INFINITY])));
    a.consts.insert(1, Arc::new(Tensor::f32(vec![2], vec![0.0, 0.0])));
    a.consts.insert(2, Arc::new(Tensor::f32(vec![2], vec![0.5, -4.0])));
    a
}

fn equivalent(rules: &RuleSet, start: &str, goal: &str) -> bool {
    let (start, goal): (RecExpr<Ir>, RecExpr<Ir>) = (start.parse().unwrap(), goal.parse().unwrap());
    let mut egraph = IrGraph::new(analysis());
    let (a, b) = (egraph.add_expr(&start), egraph.add_expr(&goal));
    let runner = Runner::default().with_egraph(egraph).with_iter_limit(5).run(&rules.rewrites(true));
    runner.egraph.find(a) == runner.egraph.find(b)
}

#[test]
fn every_error_names_file_line_and_rule() {
    let cases: &[(&str, usize, &str)] = &[
        ("(rule a exact\n  (add ?x 0) => ?x)", 1, "t.rules:1: rule a: missing justification"),
        (";; j\n(rule a maybe\n (add ?x 0) => ?x)", 2, "t.rules:2: rule a: bad kind 'maybe'"),
        (";; j\n(rule a exact\n\n  (frobnicate ?x) => ?x)", 4, "t.rules:4: rule a: unknown operator 'frobnicate'"),
        (";; j\n(rule a exact\n  (Frob ?o ?x) => ?x)", 3, "unknown operator 'Frob'"),
        (";; j\n(rule a exact\n  (neg ?x) =>\n  ?y)", 4, "t.rules:4: rule a: variable ?y is not bound"),
        (";; j\n(rule a exact (if (shiny ?x))\n  (neg ?x) => ?x)", 2, "unknown condition 'shiny'"),
        (";; j\n(rule a exact (if (rank ?x))\n  (neg ?x) => ?x)", 2, "condition 'rank': takes 2 arguments"),
        (";; j\n(rule a exact (if (finite ?y))\n  (neg ?x) => ?x)", 2, "variable ?y (in condition (finite ?y))"),
        (";; j\n(rule a exact\n  (neg ?x) => (@nope ?x))", 3, "unknown constant function '@nope' (known: none)"),
        (";; j\n(rule a exact\n  ?x => (neg (neg ?x)))", 3, "a left side must be an operator pattern"),
        (";; j\n(rule a exact\n  (add ?x %3) => ?x)", 3, "names a constant or an input of one model"),
        (";; j\n(rule a exact\n  (neg ?x) ?x)", 3, "syntax error"),
        (";; j\n(rule a exact\n  (neg ?x) => ?x))", 3, "t.rules:3: syntax error: unexpected ')'"),
        (";; j\n(rule a exact\n  (neg ?x) => ?x", 2, "unclosed '('"),
        (
            ";; j\n(rule a exact\n  (lhs (neg ?x) (abs ?x)) => (neg ?x))",
            3,
            "the left side has 2 patterns, the right side 1",
        ),
        (";; j\n(rule a exact\n  (reshape #ints:x ?x) => ?x)", 3, "'x' in #ints:x is not an integer"),
    ];
    for (text, line, message) in cases {
        let (l, m) = err(text);
        assert_eq!((l, m.contains(message)), (*line, true), "{text:?} gave {m}");
    }
}

#[test]
fn duplicate_names_are_rejected_across_files() {
    let mut set = load(";; j\n(rule a exact (neg (neg ?x)) => ?x)").unwrap();
    let e = set.add_text("u.rules", "\n;; k\n(rule a exact (abs (abs ?x)) => (abs ?x))", &NoFunctions).unwrap_err();
    assert_eq!(e.to_string(), "u.rules:3: rule a: duplicate rule name (first defined at t.rules:2)");
}

#[test]
fn known_functions_and_kernel_spellings_load() {
    let text = ";; j\n(rule f exact (neg ?x) => (neg (@twice ?x)))\n\
                ;; k\n(rule t exact (if perm-inverse ?p ?q) (Transpose ?p (Transpose ?q ?x)) => ?x)\n\
                ;; l\n(rule r exact (relu ?o (relu ?o ?x)) => (relu ?o ?x))";
    let set = RuleSet::from_text("t.rules", text, &OneFn).unwrap();
    assert_eq!(set.get("f").unwrap().rhs_text(), vec!["(neg (@twice ?x))".to_string()]);
    let t = set.get("t").unwrap();
    assert_eq!(t.lhs_text(), vec!["(Transpose ?p (Transpose ?q ?x))".to_string()]);
    assert_eq!(t.conditions.len(), 1);
    assert!(
        matches!(t.lhs[0].ast.as_ref().last(), Some(egg::ENodeOrVar::ENode(Ir::Kernel(s, _))) if s.as_str() == "Transpose")
    );
    assert_eq!(set.get("r").unwrap().lhs_text(), vec!["(Relu ?o (Relu ?o ?x))".to_string()]);
    // The same text is a primitive in lower case.
    let p = load(";; j\n(rule p exact (transpose ?p (transpose ?q ?x)) => ?x)").unwrap();
    assert!(matches!(p.rules[0].lhs[0].ast.as_ref().last(), Some(egg::ENodeOrVar::ENode(Ir::Transpose(_)))));
}

#[test]
fn approximate_rules_are_enabled_on_request() {
    let set = load(";; j\n(rule e exact (neg (neg ?x)) => ?x)\n;; k\n(rule a approx (exp ?x) => (neg ?x))").unwrap();
    assert_eq!(set.rewrites(false).len(), 1);
    assert_eq!(set.rewrites(true).len(), 2);
}

#[test]
fn conditions_read_literals_and_constants() {
    let set = load(
        ";; finite\n(rule f exact (if (finite ?c)) (mul ?x ?c) => (neg ?x))\n\
         ;; pow2\n(rule p exact (if (pow2 ?c)) (sub ?x ?c) => (neg ?x))\n\
         ;; int range\n(rule i exact (if (int-range ?c -1 1)) (div ?x ?c) => (neg ?x))",
    )
    .unwrap();
    // These "rules" are deliberately false: they only show which matches the conditions admit.
    assert!(equivalent(&set, "(mul $x 2)", "(neg $x)"));
    assert!(!equivalent(&set, "(mul $x inf)", "(neg $x)"));
    assert!(equivalent(&set, "(sub $x 0.25)", "(neg $x)"));
    assert!(!equivalent(&set, "(sub $x 3)", "(neg $x)"));
    assert!(equivalent(&set, "(div $x -1)", "(neg $x)"));
    assert!(!equivalent(&set, "(div $x 2)", "(neg $x)"));
}

#[test]
fn pattern_rules_with_constants() {
    let set =
        load(";; pow2 weights\n(rule p exact (if (pow2 ?w) (weight-only ?w) (rank ?w 1)) (mul ?w ?w) => ?w)").unwrap();
    let mut egraph = IrGraph::new(analysis());
    let ok = egraph.add_expr(&"(mul %2 %2)".parse().unwrap());
    let not_pow2 = egraph.add_expr(&"(mul %0 %0)".parse().unwrap());
    let runner = Runner::default().with_egraph(egraph).with_iter_limit(3).run(&set.rewrites(false));
    let g = &runner.egraph;
    assert_eq!(g.find(ok), g.find(g.lookup_expr(&"%2".parse().unwrap()).unwrap()));
    assert_ne!(g.find(not_pow2), g.find(g.lookup_expr(&"%0".parse().unwrap()).unwrap()));
}

#[test]
fn listing_and_table_show_every_rule() {
    let set = load(";; line one\n;; line two\n(rule e exact (if (is-float ?x)) (neg (neg ?x)) => ?x)").unwrap();
    let l = &set.listing()[0];
    assert_eq!((l.line, l.comment.as_str(), l.conditions[0].as_str()), (3, "line one\nline two", "(is-float ?x)"));
    assert_eq!((l.lhs[0].as_str(), l.rhs[0].as_str()), ("(neg (neg ?x))", "?x"));
    let text = set.to_text();
    assert!(text.contains("t.rules:3") && text.contains("line one line two") && text.contains("1 rules (1 exact"));
}

#[test]
fn shipped_rules_load() {
    let set = RuleSet::load(&[], &super::Functions).unwrap();
    assert!(set.rules.iter().all(|r| !r.comment.is_empty() && r.file.starts_with("rules/")));
    assert!(set.get("transpose-kernel-cancel").is_some());
}
