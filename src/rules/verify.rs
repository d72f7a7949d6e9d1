//! `gos-opt rules verify`: every exact rule checked on random instances. Each instance binds the
//! left side's variables to random inputs, constants, literals and payloads that fit where they
//! sit (kernel ops come from per-kernel samplers; conditions steer the draw), is kept only when
//! the rewrite itself would fire (conditions hold, the right side types as the left side), and
//! then both sides are evaluated by the reference interpreter (kernels through tract) and
//! compared.
//!
//! Tolerance is read from the rule's justification: a rule is bit-exact unless its comment says
//! "up to rounding" (float results within 1e-5 of `max(1, |expected|)`, integer results equal);
//! "tolerance X" sets the bound (for integer results: steps). NaN equals NaN; -0 equals +0 when
//! a side holds a kernel (tract does not promise the sign of a zero), and not otherwise.

mod gen;
mod instance;
mod kernels;

use super::{Rule, RuleKind};
use crate::interp::{InterpError, Interpreter, Value};
use crate::ir::{ConstFns, Ir};
use crate::tensor::Tensor;
use egg::RecExpr;
use instance::Miss;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use std::sync::Arc;

/// How many cases to check per rule.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Accepted instances needed per rule.
    pub cases: usize,
    /// Draws allowed per needed case before the rule is reported as not instantiable.
    pub draws_per_case: usize,
    /// Seed of every rule's draws (mixed with the rule's name).
    pub seed: u64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions { cases: 50, draws_per_case: 200, seed: 0x9e37_79b9 }
    }
}

/// The bound a rule's two sides must agree within.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerance {
    /// Float results: `|a - b| / max(1, |b|)`.
    pub float: f64,
    /// Integer results: `|a - b|`.
    pub int: f64,
}

impl Tolerance {
    /// The tolerance a rule's justification states ("up to rounding", "tolerance X").
    pub fn of(comment: &str) -> Tolerance {
        let text = comment.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
        let mut t = if text.contains("up to rounding") {
            Tolerance { float: 1e-5, int: 0.0 }
        } else {
            Tolerance { float: 0.0, int: 0.0 }
        };
        if let Some(rest) = text.split("tolerance").nth(1) {
            let num: String =
                rest.trim_start().chars().take_while(|c| c.is_ascii_digit() || ".e-+".contains(*c)).collect();
            if let Ok(v) = num.trim_end_matches(['.', '-', '+', 'e']).parse::<f64>() {
                t = Tolerance { float: v, int: v };
            }
        }
        t
    }

    fn exact(&self) -> bool {
        self.float == 0.0 && self.int == 0.0
    }
}

/// The outcome for one rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "lowercase")]
pub enum Verdict {
    /// Every case agreed.
    Pass,
    /// A case disagreed (the counterexample).
    Fail(String),
    /// The rule could not be checked (no instance could be drawn, or evaluation failed).
    Error(String),
}

/// One row of the verification table.
#[derive(Clone, Debug, Serialize)]
pub struct RuleReport {
    /// The rule's name.
    pub rule: String,
    /// Where it is defined (`file:line`).
    pub at: String,
    /// Instances drawn.
    pub tried: usize,
    /// Instances checked (the rewrite would fire).
    pub cases: usize,
    /// The largest disagreement seen (0 for bit-exact agreement).
    pub max_error: f64,
    /// The bound.
    pub tolerance: Tolerance,
    /// The outcome.
    pub verdict: Verdict,
}

impl RuleReport {
    /// Whether the rule passed.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// Verifies one exact rule (approximate rules are not verified: `None`).
pub fn verify_rule(rule: &Rule, functions: Arc<dyn ConstFns>, opts: &VerifyOptions) -> Option<RuleReport> {
    if rule.kind != RuleKind::Exact {
        return None;
    }
    let tolerance = Tolerance::of(&rule.comment);
    let mut report = RuleReport {
        rule: rule.name.clone(),
        at: format!("{}:{}", rule.file, rule.line),
        tried: 0,
        cases: 0,
        max_error: 0.0,
        tolerance,
        verdict: Verdict::Pass,
    };
    let kernels = rule
        .lhs
        .iter()
        .chain(&rule.rhs)
        .any(|p| p.ast.as_ref().iter().any(|n| matches!(n, egg::ENodeOrVar::ENode(Ir::Kernel(..)))));
    let seed = rule.name.bytes().fold(opts.seed, |h, b| h.rotate_left(5) ^ b as u64).wrapping_mul(0x100_0000_01b3);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut last_miss = String::from("no draw");
    while report.cases < opts.cases && report.tried < opts.cases * opts.draws_per_case {
        report.tried += 1;
        let case = match instance::draw(rule, functions.clone(), &mut rng, !kernels) {
            Ok(c) => c,
            Err(Miss::Reject(why)) => {
                last_miss = why;
                continue;
            }
            Err(Miss::Error(why)) => {
                report.verdict = Verdict::Error(why);
                return Some(report);
            }
        };
        let interp = Interpreter::new(&case.analysis, &case.inputs).with_opset(case.opset);
        let lhs: Result<Vec<Value>, InterpError> = case.lhs.iter().map(|e| interp.eval(e)).collect();
        let lhs = match lhs {
            Ok(v) => v,
            Err(e) => {
                // Outside the left side's domain (an integer division by zero, a kernel tract
                // refuses): not a case.
                last_miss = format!("left side: {e}");
                continue;
            }
        };
        report.cases += 1;
        for (i, (want, rhs)) in lhs.iter().zip(&case.rhs).enumerate() {
            let got = match interp.eval(rhs) {
                Ok(v) => v,
                Err(e) => {
                    report.verdict = Verdict::Fail(format!(
                        "case {}: the right side fails: {e}{}",
                        report.cases,
                        describe(&case, &case.lhs[i])
                    ));
                    return Some(report);
                }
            };
            match compare(want, &got, tolerance, kernels) {
                Ok(err) => report.max_error = report.max_error.max(err),
                Err(why) => {
                    report.verdict =
                        Verdict::Fail(format!("case {}: {why}{}", report.cases, describe(&case, &case.lhs[i])));
                    return Some(report);
                }
            }
        }
    }
    if report.cases < opts.cases {
        report.verdict = Verdict::Error(format!(
            "only {} of {} draws were instances (last: {last_miss})",
            report.cases, report.tried
        ));
    }
    Some(report)
}

/// The bindings of a failing case, for the message.
fn describe(case: &instance::Case, lhs: &RecExpr<Ir>) -> String {
    let mut parts = vec![format!(" [{lhs}]")];
    for (v, b) in &case.bindings {
        let text = match b {
            instance::Binding::Input(n) => case.inputs.get(n).map(short).unwrap_or_default(),
            instance::Binding::Const(k) => case.analysis.consts.get(k).map(|t| short(t)).unwrap_or_default(),
            instance::Binding::Lit(l) => l.to_string(),
            instance::Binding::Payload(p) => p.to_string(),
            instance::Binding::Absent => "absent".into(),
        };
        parts.push(format!("{v} = {text}"));
    }
    parts.join("; ")
}

fn short(t: &Tensor) -> String {
    let v = t.to_f64_vec().unwrap_or_default();
    let shown: Vec<String> = v.iter().take(6).map(|x| format!("{x}")).collect();
    format!(
        "{}{}[{}{}]",
        t.ttype(),
        if v.is_empty() { "" } else { " " },
        shown.join(", "),
        if v.len() > 6 { ", ..." } else { "" }
    )
}

/// The largest disagreement between two results, or why they disagree beyond the tolerance.
fn compare(want: &Value, got: &Value, tol: Tolerance, kernels: bool) -> Result<f64, String> {
    let (w, g) = (want.clone().into_tensors(), got.clone().into_tensors());
    if w.len() != g.len() || w.is_empty() {
        return Err(format!("the sides give {want:?} and {got:?}"));
    }
    let mut max = 0.0f64;
    for (a, b) in w.iter().zip(&g) {
        if a.ttype() != b.ttype() {
            return Err(format!("left side is {}, right side {}", a.ttype(), b.ttype()));
        }
        let (av, bv) = (a.to_f64_vec().unwrap_or_default(), b.to_f64_vec().unwrap_or_default());
        let float = a.dtype.is_float();
        for (i, (&x, &y)) in av.iter().zip(&bv).enumerate() {
            let err = if x.is_nan() && y.is_nan() || x == y && (kernels || !tol.exact() || x.to_bits() == y.to_bits()) {
                0.0
            } else if x == y {
                f64::INFINITY // +0 against -0 where bits must agree
            } else if float {
                (x - y).abs() / x.abs().max(1.0)
            } else {
                (x - y).abs()
            };
            let bound = if float { tol.float } else { tol.int };
            if err.is_nan() || err > bound {
                return Err(format!("element {i}: left {x}, right {y} (error {err:e}, tolerance {bound:e})"));
            }
            max = max.max(err);
        }
    }
    Ok(max)
}

/// Verifies every exact rule of `rules`.
pub fn verify_rules<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    functions: Arc<dyn ConstFns>,
    opts: &VerifyOptions,
) -> Vec<RuleReport> {
    rules.into_iter().filter_map(|r| verify_rule(r, functions.clone(), opts)).collect()
}

/// The table `gos-opt rules verify` prints: rule, cases (checked/drawn), max error, tolerance,
/// verdict, then the details of failures and errors, then a summary line.
pub fn render_table(reports: &[RuleReport]) -> String {
    let name_w = reports.iter().map(|r| r.rule.len()).chain([4]).max().unwrap_or(4);
    let mut out = format!("{:name_w$}  {:>9}  {:>9}  {:>9}  VERDICT\n", "RULE", "CASES", "MAX ERROR", "TOLERANCE");
    for r in reports {
        let verdict = match &r.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "FAIL",
            Verdict::Error(_) => "ERROR",
        };
        let tol = if r.tolerance.exact() { "exact".to_string() } else { format!("{:.0e}", r.tolerance.float) };
        let cases = format!("{}/{}", r.cases, r.tried);
        out.push_str(&format!("{:name_w$}  {cases:>9}  {:>9.1e}  {tol:>9}  {verdict}\n", r.rule, r.max_error));
    }
    for r in reports {
        if let Verdict::Fail(why) | Verdict::Error(why) = &r.verdict {
            out.push_str(&format!("{} ({}): {why}\n", r.rule, r.at));
        }
    }
    let failed = reports.iter().filter(|r| matches!(r.verdict, Verdict::Fail(_))).count();
    let errors = reports.iter().filter(|r| matches!(r.verdict, Verdict::Error(_))).count();
    out.push_str(&format!(
        "{} exact rules: {} pass, {failed} fail, {errors} could not be checked\n",
        reports.len(),
        reports.len() - failed - errors
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Functions, RuleSet};

    #[test]
    fn tolerance_comes_from_the_comment() {
        assert_eq!(Tolerance::of("x + 0 == x"), Tolerance { float: 0.0, int: 0.0 });
        assert_eq!(Tolerance::of("kernels differ: equal up to rounding"), Tolerance { float: 1e-5, int: 0.0 });
        assert_eq!(Tolerance::of("up to rounding, tolerance 1 step"), Tolerance { float: 1.0, int: 1.0 });
        assert_eq!(Tolerance::of("Tolerance 2e-4."), Tolerance { float: 2e-4, int: 2e-4 });
    }

    #[test]
    fn comparison_is_bitwise_without_kernels() {
        let v = |x: f32| Value::Tensor(Tensor::f32(vec![1], vec![x]));
        let exact = Tolerance { float: 0.0, int: 0.0 };
        assert!(compare(&v(0.0), &v(-0.0), exact, false).is_err());
        assert!(compare(&v(0.0), &v(-0.0), exact, true).is_ok());
        assert!(compare(&v(f32::NAN), &v(f32::NAN), exact, false).is_ok());
        assert!(compare(&v(1.0), &v(1.0 + 1e-7), Tolerance { float: 1e-5, int: 0.0 }, false).is_ok());
        assert!(compare(&v(1.0), &v(1.1), Tolerance { float: 1e-5, int: 0.0 }, false).is_err());
        let i = Value::Tensor(Tensor::from_i64(crate::tensor::DType::I8, vec![1], &[3]).unwrap());
        assert!(compare(&i, &v(3.0), exact, false).is_err());
    }

    fn check(text: &str) -> RuleReport {
        let set = RuleSet::from_text("test.rules", text, &Functions).expect("the test rule loads");
        let opts = VerifyOptions { cases: 20, ..VerifyOptions::default() };
        verify_rule(&set.rules[0], Arc::new(Functions), &opts).expect("an exact rule")
    }

    #[test]
    fn a_wrong_rule_fails_and_a_right_one_passes() {
        let bad = check(";; wrong on purpose\n(rule bad exact (add ?x ?x) => ?x)\n");
        assert!(matches!(bad.verdict, Verdict::Fail(_)), "{bad:?}");
        let good = check(
            ";; x + x == 2x exactly (doubling is exact in binary)\n(rule good exact (add ?x ?x) => (mul ?x 2))\n",
        );
        assert!(good.passed(), "{good:?}");
        assert_eq!(good.cases, 20);
    }

    #[test]
    fn conditions_steer_the_draws() {
        let r = check(";; x * 1 == x\n(rule m exact (if (lit-eq ?o 1)) (mul ?x ?o) => ?x)\n");
        assert!(r.passed(), "{r:?}");
        let r = check(";; perm\n(rule t exact (if (perm-inverse ?p ?q)) (transpose ?p (transpose ?q ?x)) => ?x)\n");
        assert!(r.passed(), "{r:?}");
    }

    #[test]
    fn a_kernel_rule_runs_through_tract() {
        let r = check(";; relu is max with 0\n(rule r exact (Relu ?op ?x) => (max ?x 0))\n");
        assert!(r.passed(), "{r:?}");
        let r = check(";; not quite\n(rule r exact (Relu ?op ?x) => (max ?x 0.5))\n");
        assert!(matches!(r.verdict, Verdict::Fail(_)), "{r:?}");
    }
}
