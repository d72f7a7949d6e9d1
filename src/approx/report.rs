//! What approx mode reports: the budget and data, the per-layer sensitivity table, every applied
//! rewrite with its cost and error change, the figures before and after on calibration and
//! held-out data, the predicted cost against exact mode, and the cost–error front.

use super::budget::{Budget, Figures};
use serde::Serialize;

/// The approx section of a run's report.
#[derive(Clone, Debug, Serialize)]
pub struct ApproxReport {
    /// The budget the result was chosen under and judged by.
    pub budget: Budget,
    /// Samples used for selection.
    pub calibration_samples: usize,
    /// Held-out samples the result is judged on.
    pub heldout_samples: usize,
    /// Share of the budget selection could use on the calibration data.
    pub selection_margin: f64,
    /// The original model's figures (against itself, so agreement 1 and error 0; accuracy on
    /// labels).
    pub original: Split,
    /// The written model's figures against the original.
    pub result: Split,
    /// Share of the budget the written model uses on the held-out data (≤ 1: inside).
    pub budget_used: f64,
    /// Predicted cost (objective unit): original model, exact optimization, the result.
    pub cost: Costs,
    /// Every alternative measured alone.
    pub sensitivity: Vec<SensitivityRow>,
    /// The rewrites taken, in acceptance order.
    pub applied: Vec<Applied>,
    /// Matches that gave no alternative, per rule with the first reason.
    pub declined: Vec<Declined>,
    /// The cost–error front and the variants written from it (`--pareto`).
    pub front: Front,
}

/// Figures on the calibration and on the held-out data.
#[derive(Clone, Debug, Serialize)]
pub struct Split {
    /// On the data selection used.
    pub calibration: Figures,
    /// On the held-out data.
    pub heldout: Figures,
}

/// Predicted costs.
#[derive(Clone, Debug, Serialize)]
pub struct Costs {
    /// The objective (`latency` in seconds, `energy` in picojoules).
    pub objective: String,
    /// The exact-mode program.
    pub exact: f64,
    /// The written approximate program.
    pub approx: f64,
    /// `exact / approx`.
    pub speedup_vs_exact: f64,
}

/// One alternative measured alone.
#[derive(Clone, Debug, Serialize)]
pub struct SensitivityRow {
    /// The original node it approximates.
    pub node: String,
    /// That node's op.
    pub op: String,
    /// Rule family (the rule file's stem).
    pub family: String,
    /// The rule.
    pub rule: String,
    /// Predicted cost change against exact mode (negative saves).
    pub cost_change: f64,
    /// Its figures on the calibration data.
    pub calibration: Figures,
    /// The budget share it uses alone.
    pub budget_used: f64,
}

/// One applied rewrite.
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    /// The rule.
    pub rule: String,
    /// Rule family.
    pub family: String,
    /// The original node it replaced.
    pub node: String,
    /// That node's op.
    pub op: String,
    /// The rule of an earlier step at the same node this step replaced, if any.
    pub replaces: Option<String>,
    /// Predicted cost change of this step (negative saves).
    pub cost_change: f64,
    /// Change of the budget share used on the calibration data by this step.
    pub calibration_used_change: f64,
    /// Change of the budget share used on the held-out data by this step.
    pub heldout_used_change: f64,
    /// The accumulated model's figures after this step.
    pub after: Split,
}

/// A rule whose matches gave no alternative.
#[derive(Clone, Debug, Serialize)]
pub struct Declined {
    /// The rule.
    pub rule: String,
    /// How many matches it declined.
    pub matches: usize,
    /// The first reason.
    pub reason: String,
}

/// The cost–error front.
#[derive(Clone, Debug, Serialize)]
pub struct Front {
    /// Non-dominated accepted steps, dearest first.
    pub points: Vec<FrontPoint>,
    /// Area dominated by the points in (cost / exact cost, budget share) up to (1, 1).
    pub hypervolume: f64,
}

/// One point of the front.
#[derive(Clone, Debug, Serialize)]
pub struct FrontPoint {
    /// Rewrites taken.
    pub rewrites: usize,
    /// Predicted cost.
    pub cost: f64,
    /// Cost as a fraction of exact mode's.
    pub cost_ratio: f64,
    /// Budget share used on the calibration data.
    pub calibration_used: f64,
    /// Relative output error on the calibration data (the front's third axis).
    pub calibration_rel_l2: f64,
    /// Budget share used on the held-out data.
    pub heldout_used: f64,
    /// The file written for it (`--pareto`), if it was written.
    pub file: Option<String>,
}

impl ApproxReport {
    /// Markdown for a person.
    pub fn to_markdown(&self) -> String {
        let pct = |f: &Figures| {
            let mut parts = Vec::new();
            if let Some(a) = f.accuracy {
                parts.push(format!("accuracy {a:.2} %"));
            }
            if let Some(a) = f.agreement {
                parts.push(format!("agreement {:.2} %", 100.0 * a));
            }
            parts.push(format!("rel. error {:.4}", f.rel_l2));
            parts.join(", ")
        };
        let mut s = String::new();
        s.push_str(&format!(
            "## Approximate replacement\n\nBudget `{}`; selection on {} calibration samples (up to {:.0} % of the budget), judged on {} held-out samples.\n\n",
            self.budget,
            self.calibration_samples,
            100.0 * self.selection_margin,
            self.heldout_samples
        ));
        s.push_str("| | calibration | held out |\n|---|---|---|\n");
        s.push_str(&format!("| original | {} | {} |\n", pct(&self.original.calibration), pct(&self.original.heldout)));
        s.push_str(&format!("| result | {} | {} |\n\n", pct(&self.result.calibration), pct(&self.result.heldout)));
        s.push_str(&format!(
            "Budget used on held-out data: {:.0} %. Predicted {}: exact mode {:.4e}, approximate {:.4e} ({:.2}× cheaper).\n\n",
            100.0 * self.budget_used,
            self.cost.objective,
            self.cost.exact,
            self.cost.approx,
            self.cost.speedup_vs_exact
        ));
        s.push_str("### Applied rewrites\n\n| # | rule | node | op | cost change | budget used (calib) | budget used (held out) |\n|---:|---|---|---|---:|---:|---:|\n");
        for (i, a) in self.applied.iter().enumerate() {
            s.push_str(&format!(
                "| {} | {}{} | {} | {} | {:+.3e} | {:+.1} % | {:+.1} % |\n",
                i + 1,
                a.rule,
                a.replaces.as_ref().map(|r| format!(" (replaces {r})")).unwrap_or_default(),
                a.node,
                a.op,
                a.cost_change,
                100.0 * a.calibration_used_change,
                100.0 * a.heldout_used_change
            ));
        }
        s.push_str("\n### Sensitivity (each rewrite alone, calibration data)\n\n| node | op | family | rule | cost change | rel. error | budget used |\n|---|---|---|---|---:|---:|---:|\n");
        for r in &self.sensitivity {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:+.3e} | {:.4} | {:.1} % |\n",
                r.node,
                r.op,
                r.family,
                r.rule,
                r.cost_change,
                r.calibration.rel_l2,
                100.0 * r.budget_used
            ));
        }
        s.push_str(&format!(
            "\n### Cost–error front (hypervolume {:.4})\n\n| rewrites | cost / exact | budget used (calib) | rel. error (calib) | budget used (held out) | file |\n|---:|---:|---:|---:|---:|---|\n",
            self.front.hypervolume
        ));
        for p in &self.front.points {
            s.push_str(&format!(
                "| {} | {:.3} | {:.1} % | {:.4} | {:.1} % | {} |\n",
                p.rewrites,
                p.cost_ratio,
                100.0 * p.calibration_used,
                p.calibration_rel_l2,
                100.0 * p.heldout_used,
                p.file.as_deref().unwrap_or("—")
            ));
        }
        if !self.declined.is_empty() {
            s.push_str("\n### Matches without an alternative\n\n");
            for d in &self.declined {
                s.push_str(&format!("- `{}` ({}×): {}\n", d.rule, d.matches, d.reason));
            }
        }
        s
    }
}
