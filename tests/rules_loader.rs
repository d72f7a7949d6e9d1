//! Rules as data: one-line tests of the shipped rules (egg style: a start expression, the goal it
//! must become equivalent to), `file:line` errors for bad rule files, CheckApply, conditions,
//! multi-patterns, and `gos-opt rules list`.

use egg::{Id, RecExpr, Runner};
use gos_opt::ir::{kernel_symbol, InputRef, Ir, IrAnalysis, IrGraph, NoFunctions, OpPayload, Payload};
use gos_opt::ops::{Op, Transpose, Unary, UnaryKind};
use gos_opt::rules::{RuleError, RuleSet};
use gos_opt::tensor::{DType, Tensor, TensorType};
use std::io::Write;
use std::process::Command;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_gos-opt");

/// Inputs `$x: f32[2,3]`, `$n: i32[4]`, `$c: f32[4,4,4]`, and a few constants.
fn analysis() -> IrAnalysis {
    let mut a = IrAnalysis::default();
    for (name, dtype, shape) in
        [("x", DType::F32, vec![2, 3]), ("n", DType::I32, vec![4]), ("c", DType::F32, vec![4, 4, 4])]
    {
        a.inputs.insert(name.into(), TensorType::new(dtype, shape));
    }
    let consts = [
        Tensor::f32(vec![3], vec![0.0; 3]),
        Tensor::f32(vec![3], vec![-0.0; 3]),
        Tensor::f32(vec![1, 2, 3], vec![1.0; 6]),
        Tensor::f32(vec![3], vec![1.0; 3]),
        Tensor::f32(vec![2], vec![1.0, f32::INFINITY]),
        Tensor::f32(vec![2], vec![0.0, 0.0]),
        Tensor::f32(vec![2], vec![1.0, 2.0]),
    ];
    for (i, t) in consts.into_iter().enumerate() {
        a.consts.insert(i as u32, Arc::new(t));
    }
    a
}

fn builtin() -> RuleSet {
    RuleSet::load(&[], &gos_opt::rules::Functions).expect("the shipped rules load")
}

fn saturate(rules: &RuleSet, egraph: IrGraph) -> IrGraph {
    Runner::default().with_egraph(egraph).with_iter_limit(8).run(&rules.rewrites(true)).egraph
}

/// Whether `start` and `goal` end up in one class after running `rules`.
fn proves(rules: &RuleSet, start: &str, goal: &str) -> bool {
    let (start, goal): (RecExpr<Ir>, RecExpr<Ir>) = (start.parse().unwrap(), goal.parse().unwrap());
    let mut egraph = IrGraph::new(analysis());
    let (a, b) = (egraph.add_expr(&start), egraph.add_expr(&goal));
    let egraph = saturate(rules, egraph);
    egraph.find(a) == egraph.find(b)
}

/// `gos_opt::rules` tests in the style of egg's `test_fn!`: `start => goal` must hold, `start
/// != goal` must not.
macro_rules! rule_tests {
    ($($name:ident: $($start:literal $arrow:tt $goal:literal),+ ;)*) => {$(
        #[test]
        fn $name() {
            let rules = builtin();
            $(rule_tests!(@one rules, $start, $arrow, $goal);)+
        }
    )*};
    (@one $rules:ident, $start:literal, =>, $goal:literal) => {
        assert!(proves(&$rules, $start, $goal), "{} should become {}", $start, $goal);
    };
    (@one $rules:ident, $start:literal, !=, $goal:literal) => {
        assert!(!proves(&$rules, $start, $goal), "{} must not become {}", $start, $goal);
    };
}

rule_tests! {
    algebra_add_neg_zero: "(add $x -0)" => "$x", "(add $n -0)" => "$n", "(add $x %1)" => "$x";
    algebra_add_zero_only_for_integers: "(add $n 0)" => "$n", "(add 0 $n)" => "$n", "(add $x 0)" != "$x", "(add $x %0)" != "$x";
    algebra_sub_zero: "(sub $x 0)" => "$x", "(sub $x %0)" => "$x", "(sub 0 $x)" != "$x";
    algebra_mul_one: "(mul $x 1)" => "$x", "(mul 1 $x)" => "$x", "(mul %3 $x)" => "$x", "(div $x 1)" => "$x";
    algebra_broadcasting_constant_is_not_dropped: "(mul $x %2)" != "$x";
    algebra_mul_neg_one: "(mul $x -1)" => "(neg $x)", "(mul $n -1)" != "(neg $n)";
    algebra_neg_abs: "(neg (neg $x))" => "$x", "(abs (abs $x))" => "(abs $x)", "(abs (neg $x))" => "(abs $x)";
    algebra_transpose: "(transpose #ints:1,0 (transpose #ints:1,0 $x))" => "$x",
        "(transpose #ints:1,2,0 (transpose #ints:2,0,1 $c))" => "$c",
        "(transpose #ints:1,2,0 (transpose #ints:1,2,0 $c))" != "$c";
}

fn kernel(egraph: &mut IrGraph, op: Op, inputs: &[Id]) -> Id {
    let symbol = kernel_symbol(op.onnx_name());
    let payload = egraph.add(Ir::Payload(Payload::Op(OpPayload::new(op))));
    egraph.add(Ir::Kernel(symbol, std::iter::once(payload).chain(inputs.iter().copied()).collect()))
}

#[test]
fn algebra_kernels_relu_and_transpose() {
    let mut g = IrGraph::new(analysis());
    let x = g.add(Ir::Input(InputRef("x".into())));
    let relu = || Op::Unary(Unary { kind: UnaryKind::Relu });
    let r1 = kernel(&mut g, relu(), &[x]);
    let r2 = kernel(&mut g, relu(), &[r1]);
    let swap = || Op::Transpose(Transpose { perm: Some(vec![1, 0]) });
    let t1 = kernel(&mut g, swap(), &[x]);
    let t2 = kernel(&mut g, swap(), &[t1]);
    let reversed = kernel(&mut g, Op::Transpose(Transpose { perm: None }), &[t1]);
    let g = saturate(&builtin(), g);
    assert_eq!(g.find(r2), g.find(r1));
    assert_eq!(g.find(t2), g.find(x));
    assert_eq!(g.find(reversed), g.find(x));
    assert_ne!(g.find(t1), g.find(x));
}

fn rule_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".rules").tempfile().expect("a temp file");
    f.write_all(text.as_bytes()).expect("written");
    f
}

fn load_error(text: &str) -> (String, String) {
    let f = rule_file(text);
    let e: RuleError = RuleSet::load(&[f.path().to_path_buf()], &gos_opt::rules::Functions).expect_err("must not load");
    (f.path().display().to_string(), e.to_string())
}

#[test]
fn syntax_error_reports_its_line() {
    let (path, e) =
        load_error(";; fine\n(rule ok exact\n  (neg (neg ?x)) => ?x)\n\n;; broken\n(rule bad exact\n  (neg ?x) ?x)\n");
    assert!(e.starts_with(&format!("{path}:7: rule bad: syntax error")), "{e}");
}

#[test]
fn unknown_operator_reports_its_line() {
    let (path, e) = load_error(";; j\n(rule bad exact\n  (neg ?x)\n  =>\n  (frobnicate ?x))\n");
    assert_eq!(
        e,
        format!(
            "{path}:5: rule bad: unknown operator 'frobnicate' (not a primitive of the IR nor a supported ONNX op)"
        )
    );
}

#[test]
fn unbound_rhs_variable_is_rejected() {
    let (path, e) = load_error(";; j\n(rule bad exact\n  (add ?x ?y) => (add ?x ?z))\n");
    assert_eq!(e, format!("{path}:3: rule bad: variable ?z is not bound by the left side"));
}

#[test]
fn user_rule_names_must_not_repeat_shipped_ones() {
    let (path, e) = load_error(";; j\n(rule neg-neg exact\n  (neg (neg ?x)) => ?x)\n");
    assert!(
        e.starts_with(&format!("{path}:2: rule neg-neg: duplicate rule name (first defined at rules/algebra.rules:"))
    );
}

#[test]
fn ill_typed_rhs_is_not_applied() {
    // Both right sides are wrong on purpose: one does not type-check (6 elements into 7), the
    // other is well-typed but of another type than the matched class.
    let rules = RuleSet::from_text(
        "t.rules",
        ";; j\n(rule bad-reshape exact (neg ?x) => (reshape #ints:7 ?x))\n\
         ;; k\n(rule bad-type exact (abs ?x) => (rsum #ints:0 ?x))\n",
        &NoFunctions,
    )
    .unwrap();
    let mut egraph = IrGraph::new(analysis());
    egraph.add_expr(&"(neg $x)".parse().unwrap());
    egraph.add_expr(&"(abs $x)".parse().unwrap());
    egraph.rebuild();
    let before = egraph.total_number_of_nodes();
    let egraph = saturate(&rules, egraph);
    assert_eq!(egraph.total_number_of_nodes(), before, "nothing may be added");
    assert!(egraph.lookup_expr(&"(rsum #ints:0 $x)".parse().unwrap()).is_none());
}

#[test]
fn mul_zero_does_not_fire_on_a_non_finite_constant() {
    let rules = RuleSet::from_text(
        "t.rules",
        ";; x * 0 == 0 for finite x, up to the sign of zero (-3 * 0 = -0); inf * 0 = NaN\n\
         (rule mul-zero exact (if (finite ?x) (lit-eq ?z 0) (same-shape ?x ?z))\n  (mul ?x ?z) => ?z)\n",
        &NoFunctions,
    )
    .unwrap();
    assert!(proves(&rules, "(mul %6 %5)", "%5"));
    assert!(!proves(&rules, "(mul %4 %5)", "%5"));
    // An input's values are unknown: not finite as far as conditions know.
    assert!(!proves(&rules, "(mul $x %0)", "%0"));
}

#[test]
fn multi_pattern_rewrites_both_roots_together() {
    let text = ";; x*2 == x+x and x*4 == (x+x)+(x+x): scaling by a power of two is exact\n\
                (rule twice-and-four-times exact\n  (lhs (mul ?x 2) (mul ?x 4))\n  =>\n  (rhs (add ?x ?x) (add (add ?x ?x) (add ?x ?x))))\n";
    let rules = RuleSet::from_text("t.rules", text, &NoFunctions).unwrap();
    let rule = rules.get("twice-and-four-times").unwrap();
    assert_eq!((rule.lhs.len(), rule.rhs.len()), (2, 2));
    let mut egraph = IrGraph::new(analysis());
    let two = egraph.add_expr(&"(mul $x 2)".parse().unwrap());
    let four = egraph.add_expr(&"(mul $x 4)".parse().unwrap());
    let lonely = egraph.add_expr(&"(mul $n 2)".parse().unwrap());
    let egraph = saturate(&rules, egraph);
    let find = |e: &str| egraph.lookup_expr(&e.parse().unwrap()).map(|id| egraph.find(id));
    assert_eq!(find("(add $x $x)"), Some(egraph.find(two)));
    assert_eq!(find("(add (add $x $x) (add $x $x))"), Some(egraph.find(four)));
    assert_ne!(find("(add $n $n)"), Some(egraph.find(lonely)), "one pattern alone must not fire");
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("the binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().expect("exited normally"), text(&out.stdout), text(&out.stderr))
}

#[test]
fn rules_list_json_lists_the_builtin_rules() {
    let (code, stdout, stderr) = run(&["rules", "list", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let rules = list.as_array().expect("an array");
    assert_eq!(rules.len(), builtin().rules.len());
    let neg = rules.iter().find(|r| r["name"] == "neg-neg").expect("neg-neg is listed");
    assert_eq!(neg["kind"], "exact");
    assert_eq!(neg["file"], "rules/algebra.rules");
    assert!(neg["line"].as_u64().is_some_and(|l| l > 1) && !neg["comment"].as_str().unwrap().is_empty());
    let (code, table, _) = run(&["rules", "list"]);
    assert!(code == 0 && table.contains("neg-neg") && table.contains("rules/algebra.rules:"));
}

#[test]
fn rules_list_exits_1_on_a_bad_file() {
    let f =
        rule_file(";; j\n(rule a exact\n  (neg ?x) => ?x)\n;; k\n(rule b exact (if (shiny ?x))\n  (neg ?x) => ?x)\n");
    let path = f.path().display().to_string();
    let (code, _, stderr) = run(&["rules", "list", "--rules", &path]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with(&format!("error: {path}:5: rule b: unknown condition 'shiny'")), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
    // The optimize command loads --rules files before touching the model.
    let (code, _, stderr) = run(&["missing.onnx", "--target", "host", "--rules", &path]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("{path}:5: rule b:")), "{stderr}");
}
