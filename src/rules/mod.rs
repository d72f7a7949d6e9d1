//! Rules are data: `rules/*.rules` files (shipped with the crate, plus the user's `--rules`
//! files) parsed into [`Rule`]s and turned into egg rewrites whose applier checks the rule's
//! conditions and types its right side before adding anything (see `rules/README.md`).
//!
//! A rule file holds one topic; each rule is justified by the `;;` comment block directly above:
//!
//! ```text
//! ;; x * 1 == x for every x (IEEE: exact, including -0, inf and NaN)
//! (rule mul-one exact (if (lit-eq ?o 1))
//!   (mul ?x ?o) => ?x)
//!
//! ;; two readers of ?x: both sides are matched together and unioned pairwise
//! (rule double-by-add exact
//!   (lhs (mul ?x 2) (mul ?x 3)) => (rhs (add ?x ?x) (mul ?x 3)))
//! ```
//!
//! ```
//! use gos_opt::rules::{Functions, RuleSet};
//! let rules = RuleSet::load(&[], &Functions).expect("the shipped rules load");
//! assert!(rules.get("neg-neg").is_some());
//! let rewrites = rules.rewrites(false);
//! assert!(!rewrites.is_empty());
//! ```

pub mod alternative;
mod apply;
mod condition;
mod error;
mod facts;
pub mod fits;
mod functions;
mod parse;
mod sexp;
mod verify;

pub use condition::{Condition, CONDITION_NAMES};
pub use error::{Location, RuleError};
pub use functions::Functions;
pub use parse::{MULTI_LHS, MULTI_RHS};
pub use verify::{render_table, verify_rule, verify_rules, RuleReport, Tolerance, Verdict, VerifyOptions};

use crate::ir::{ConstFns, Ir, IrAnalysis};
use egg::{MultiPattern, Pattern, Rewrite, Var};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

/// The rule files shipped with the crate, as `(file name, text)`.
pub fn builtin() -> &'static [(&'static str, &'static str)] {
    &[
        ("rules/algebra.rules", include_str!("../../rules/algebra.rules")),
        ("rules/decompose.rules", include_str!("../../rules/decompose.rules")),
        ("rules/layout.rules", include_str!("../../rules/layout.rules")),
        ("rules/recognize.rules", include_str!("../../rules/recognize.rules")),
        ("rules/fold.rules", include_str!("../../rules/fold.rules")),
        ("rules/shiftadd.rules", include_str!("../../rules/shiftadd.rules")),
        ("rules/approx/quantize.rules", include_str!("../../rules/approx/quantize.rules")),
        ("rules/approx/lowrank.rules", include_str!("../../rules/approx/lowrank.rules")),
        ("rules/approx/prune.rules", include_str!("../../rules/approx/prune.rules")),
        ("rules/approx/merge.rules", include_str!("../../rules/approx/merge.rules")),
        ("rules/approx/activation.rules", include_str!("../../rules/approx/activation.rules")),
        ("rules/approx/softmax.rules", include_str!("../../rules/approx/softmax.rules")),
    ]
}

/// `rules/winograd.rules`, shipped but not in [`builtin`]: exact runs that emit Rust add it
/// (the Rust back end runs the Winograd form as `k_wino`, measured faster than the direct
/// convolution on the host and in the Cortex-M4 emulator), while a written ONNX model meant for
/// other runtimes keeps its convolutions, which onnxruntime runs faster than the form's generic
/// ops. `(file name, text)`.
pub const WINOGRAD: (&str, &str) = ("rules/winograd.rules", include_str!("../../rules/winograd.rules"));

/// Whether a rule preserves the model's outputs exactly or only approximately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// Both sides compute the same values (IEEE caveats in the rule's comment).
    Exact,
    /// The right side approximates the left; used only under an accuracy budget.
    Approx,
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleKind::Exact => "exact",
            RuleKind::Approx => "approx",
        })
    }
}

/// One loaded rule. `lhs[i]` is rewritten to `rhs[i]`; several patterns (a multi-pattern) are
/// matched together under one substitution.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Unique among all loaded rules.
    pub name: String,
    /// Exact or approximate.
    pub kind: RuleKind,
    /// Left sides (one, or several for a multi-pattern).
    pub lhs: Vec<Pattern<Ir>>,
    /// Right sides, one per left side.
    pub rhs: Vec<Pattern<Ir>>,
    /// Conditions that must all hold for a match.
    pub conditions: Vec<Condition>,
    /// `(value-of ?x)` forms of the right sides: (the variable bound to the literal at apply
    /// time, `?x`).
    pub values: Vec<(Var, Var)>,
    /// The justification: the comment block above the rule, without `;;` (lines joined by `\n`).
    pub comment: String,
    /// The file the rule came from.
    pub file: String,
    /// The line of the rule's `(rule`.
    pub line: usize,
}

impl Rule {
    /// The egg rewrite: the rule's patterns searched, then CheckApply (conditions, typed right side) on each match.
    pub fn rewrite(&self) -> Rewrite<Ir, IrAnalysis> {
        let conditions = self.conditions.clone();
        let values = self.values.clone();
        let rhs = self.rhs.iter().map(|p| p.ast.clone()).collect();
        let built = if let [lhs] = self.lhs.as_slice() {
            Rewrite::new(
                self.name.as_str(),
                lhs.clone(),
                apply::CheckedApplier { roots: None, rhs, conditions, values },
            )
        } else {
            let roots: Vec<Var> = (0..self.lhs.len())
                .map(|i| format!("{}{i}", parse::ROOT_PREFIX).parse().expect("root variable names are valid"))
                .collect();
            let searcher =
                MultiPattern::new(roots.iter().copied().zip(self.lhs.iter().map(|p| p.ast.clone())).collect());
            Rewrite::new(
                self.name.as_str(),
                searcher,
                apply::CheckedApplier { roots: Some(roots), rhs, conditions, values },
            )
        };
        built.expect("the loader checked that every right-side and condition variable is bound on the left")
    }

    /// The left sides as rule-file text.
    pub fn lhs_text(&self) -> Vec<String> {
        self.lhs.iter().map(parse::pattern_text).collect()
    }

    /// The right sides as rule-file text.
    pub fn rhs_text(&self) -> Vec<String> {
        self.rhs.iter().map(parse::pattern_text).collect()
    }
}

/// Loaded rules, in file order.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// Every rule, shipped ones first.
    pub rules: Vec<Rule>,
}

/// One rule as `gos-opt rules list --json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct RuleListing {
    /// The rule's name.
    pub name: String,
    /// `exact` or `approx`.
    pub kind: RuleKind,
    /// The file it came from.
    pub file: String,
    /// The line of its `(rule`.
    pub line: usize,
    /// Its justification.
    pub comment: String,
    /// Its conditions, as written.
    pub conditions: Vec<String>,
    /// Its left sides.
    pub lhs: Vec<String>,
    /// Its right sides.
    pub rhs: Vec<String>,
}

impl RuleSet {
    /// The shipped rules ([`builtin`]) and then `extra_files`, checked against `functions`.
    pub fn load(extra_files: &[PathBuf], functions: &dyn ConstFns) -> Result<RuleSet, RuleError> {
        let mut set = RuleSet::default();
        for (name, text) in builtin() {
            set.add_text(name, text, functions)?;
        }
        for path in extra_files {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| RuleError::Io { path: file.clone(), cause: e.to_string() })?;
            set.add_text(&file, &text, functions)?;
        }
        Ok(set)
    }

    /// The rules of one file's text (no shipped rules).
    pub fn from_text(file_name: &str, text: &str, functions: &dyn ConstFns) -> Result<RuleSet, RuleError> {
        let mut set = RuleSet::default();
        set.add_text(file_name, text, functions)?;
        Ok(set)
    }

    /// Adds the rules of one file's text; a name already loaded is an error.
    pub fn add_text(&mut self, file_name: &str, text: &str, functions: &dyn ConstFns) -> Result<(), RuleError> {
        let mut seen: HashMap<&str, String> =
            self.rules.iter().map(|r| (r.name.as_str(), format!("{}:{}", r.file, r.line))).collect();
        let new = parse::parse_file(file_name, text, functions)?;
        for rule in &new {
            if let Some(first) = seen.insert(&rule.name, format!("{}:{}", rule.file, rule.line)) {
                let at = Location { file: rule.file.clone(), line: rule.line, rule: Some(rule.name.clone()) };
                return Err(RuleError::Duplicate { at, first });
            }
        }
        self.rules.extend(new);
        Ok(())
    }

    /// The rule with this name.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The egg rewrites of the exact rules, and of the approximate ones too when `include_approx`.
    pub fn rewrites(&self, include_approx: bool) -> Vec<Rewrite<Ir, IrAnalysis>> {
        self.rules.iter().filter(|r| include_approx || r.kind == RuleKind::Exact).map(Rule::rewrite).collect()
    }

    /// Every rule for `gos-opt rules list --json`.
    pub fn listing(&self) -> Vec<RuleListing> {
        self.rules
            .iter()
            .map(|r| RuleListing {
                name: r.name.clone(),
                kind: r.kind,
                file: r.file.clone(),
                line: r.line,
                comment: r.comment.clone(),
                conditions: r.conditions.iter().map(|c| c.to_string()).collect(),
                lhs: r.lhs_text(),
                rhs: r.rhs_text(),
            })
            .collect()
    }

    /// A table for people: name, kind, file:line and the justification on one line.
    pub fn to_text(&self) -> String {
        let wheres: Vec<String> = self.rules.iter().map(|r| format!("{}:{}", r.file, r.line)).collect();
        let name_w = self.rules.iter().map(|r| r.name.len()).chain([4]).max().unwrap_or(4);
        let where_w = wheres.iter().map(String::len).chain([5]).max().unwrap_or(5);
        let mut out = format!("{:name_w$}  {:6}  {:where_w$}  WHY\n", "RULE", "KIND", "WHERE");
        for (r, at) in self.rules.iter().zip(&wheres) {
            let why = r.comment.lines().map(str::trim).collect::<Vec<_>>().join(" ");
            out.push_str(&format!("{:name_w$}  {:6}  {:where_w$}  {why}\n", r.name, r.kind.to_string(), at));
        }
        let exact = self.rules.iter().filter(|r| r.kind == RuleKind::Exact).count();
        out.push_str(&format!("{} rules ({exact} exact, {} approx)\n", self.rules.len(), self.rules.len() - exact));
        out
    }
}

#[cfg(test)]
mod tests;
