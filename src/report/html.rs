//! The report as one self-contained HTML page (`--report R.html`): inline CSS and SVG, no script,
//! no external resource. Every name from the model is escaped.

use super::compare::{self, Layer, Rewrite};
use super::svg::{self, escape, short_number, Bar, Point};
use super::Report;
use crate::approx::report::ApproxReport;
use crate::cost::Objective;
use std::fmt::Write;

/// Layers drawn one bar pair each in the chart; the rest are summed into one row (all are in
/// the table below it).
pub const CHART_LAYERS: usize = 30;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}\
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:12px}\
.better{color:#137333}.worse{color:#b3261e}.muted{color:#666}\
svg text{font-size:12px;fill:#333}svg .axis{stroke:#999;fill:#666}\
rect.before{fill:#b0b0b0}rect.after{fill:#1a73e8}\
.front{fill:none;stroke:#1a73e8}.point{fill:#1a73e8}.point.chosen{fill:#e8710a;stroke:#222}\
line.limit{stroke:#b3261e;stroke-dasharray:4 3}text.limit{fill:#b3261e}\
.pass{color:#137333;font-weight:bold}.fail{color:#b3261e;font-weight:bold}";

/// `after` against `before` as a signed percentage, classed better (lower) or worse.
fn change(before: f64, after: f64) -> String {
    if before <= 0.0 || !before.is_finite() || !after.is_finite() {
        return "<td class=\"num\"></td>".into();
    }
    let pct = (after / before - 1.0) * 100.0;
    let class = match pct {
        p if p < -0.05 => "better",
        p if p > 0.05 => "worse",
        _ => "muted",
    };
    format!("<td class=\"num {class}\">{pct:+.1} %</td>")
}

/// A table header row.
fn head(cells: &[&str]) -> String {
    let cells: String = cells.iter().map(|c| format!("<th>{c}</th>")).collect();
    format!("<tr>{cells}</tr>")
}

impl Report<'_> {
    /// The same report for a person, as one self-contained HTML page: the summary, per-layer
    /// predicted cost before and after (a chart of the dearest layers and a table of all), the
    /// rewrites, the e-graph figures, approx mode's figures and cost–error front, the
    /// verification figures and the Rust module.
    pub fn to_html(&self) -> String {
        let objective = self.before.cost.as_ref().map_or(Objective::Latency, |c| c.objective);
        let fates = self.search.map_or(&[][..], |s| &s.fates[..]);
        let layers = compare::layers(self.before, self.after, fates, objective);
        let rewrites = compare::rewrites(self.before, self.after, fates, self.approx, objective);
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>gos-opt report: {}</title>\
             <style>{STYLE}</style></head><body>\n<h1>gos-opt report</h1>\n<p><code>{}</code> → <code>{}</code>, \
             target <b>{}</b>, mode <b>{:?}</b>, gos-opt {}</p>\n",
            escape(&self.input),
            escape(&self.input),
            escape(&self.output),
            escape(self.target),
            self.mode,
            escape(self.gos_opt_version)
        );
        self.summary_html(&mut s);
        layers_html(&mut s, &layers, compare::unit(objective));
        rewrites_html(&mut s, &rewrites, compare::unit(objective), self.approx.is_some());
        self.search_html(&mut s);
        if let Some(a) = self.approx {
            approx_html(&mut s, a);
        }
        self.verification_html(&mut s);
        self.rust_html(&mut s);
        s.push_str("</body></html>\n");
        s
    }

    fn summary_html(&self, s: &mut String) {
        let _ = write!(s, "<h2>Summary</h2>\n<table id=\"summary\">{}\n", head(&["", "before", "after", "change"]));
        let mut row = |name: &str, b: String, a: String, bv: f64, av: f64| {
            let _ = writeln!(
                s,
                "<tr><th>{name}</th><td class=\"num\">{b}</td><td class=\"num\">{a}</td>{}</tr>",
                change(bv, av)
            );
        };
        let (nb, na) = (self.nodes_before, self.nodes_after);
        row("nodes", nb.to_string(), na.to_string(), nb as f64, na as f64);
        let (pb, pa) = (self.before.total_params, self.after.total_params);
        row("parameters", pb.to_string(), pa.to_string(), pb as f64, pa as f64);
        let (mb, ma) = (self.before.total_macs, self.after.total_macs);
        row("MACs", mb.to_string(), ma.to_string(), mb as f64, ma as f64);
        if let (Some(b), Some(a)) = (&self.before.cost, &self.after.cost) {
            let (lb, la) = (b.latency_s * 1e3, a.latency_s * 1e3);
            row("predicted latency (ms)", format!("{lb:.4}"), format!("{la:.4}"), lb, la);
            let (eb, ea) = (b.energy_pj * 1e-6, a.energy_pj * 1e-6);
            row("predicted energy (µJ)", format!("{eb:.3}"), format!("{ea:.3}"), eb, ea);
        }
        s.push_str("</table>\n");
    }

    fn search_html(&self, s: &mut String) {
        let Some(search) = self.search else { return };
        let _ = write!(
            s,
            "<h2>E-graph search</h2>\n<table id=\"search\">\
             <tr><th>iterations</th><td class=\"num\">{}</td></tr><tr><th>e-nodes</th><td class=\"num\">{}</td></tr>\
             <tr><th>e-classes</th><td class=\"num\">{}</td></tr><tr><th>stop reason</th><td>{}</td></tr>\
             <tr><th>saturation (s)</th><td class=\"num\">{:.2}</td></tr><tr><th>extraction (s)</th><td class=\"num\">{:.3}</td></tr>\
             </table>\n",
            search.iterations,
            search.nodes,
            search.classes,
            escape(&search.stop_reason),
            search.seconds,
            search.extraction_seconds
        );
        let mut rules: Vec<&crate::search::RuleUse> = search.rules.iter().collect();
        rules.sort_by(|a, b| b.survives.cmp(&a.survives).then(b.applied.cmp(&a.applied)).then(a.rule.cmp(&b.rule)));
        let _ = writeln!(s, "<table id=\"rules\">{}", head(&["rule", "applied", "survives in the program"]));
        for r in rules {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&r.rule),
                r.applied,
                if r.survives { "yes" } else { "no" }
            );
        }
        s.push_str("</table>\n");
    }

    fn verification_html(&self, s: &mut String) {
        let v = self.verification;
        let (class, word) = if v.passed { ("pass", "passed") } else { ("fail", "failed") };
        let _ = write!(
            s,
            "<h2>Verification</h2>\n<p id=\"verification\"><span class=\"{class}\">{word}</span>: {}</p>\n<table>{}\n",
            escape(&v.summary()),
            head(&["output", "max abs", "max rel", "cosine"])
        );
        for o in &v.outputs {
            let cosine = o.figures.cosine.map(|c| format!("{c:.6}")).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td class=\"num\">{:.3e}</td><td class=\"num\">{:.3e}</td><td class=\"num\">{cosine}</td></tr>",
                escape(&o.name),
                o.figures.max_abs,
                o.figures.max_rel
            );
        }
        s.push_str("</table>\n");
        for p in &v.problems {
            let _ = writeln!(s, "<p class=\"fail\">{}</p>", escape(p));
        }
    }

    fn rust_html(&self, s: &mut String) {
        let Some(r) = self.rust else { return };
        let path = r.model_rs.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let _ = writeln!(
            s,
            "<h2>Rust module</h2>\n<p id=\"rust\"><code>{}</code>: arena {} B ({} B without the memory plan), \
             weights {} B, source {} B; {} kernel calls ({} integer kernels, {} of them shift-add), {} nodes fused, \
             {} in place, {} aliases</p>",
            escape(&path),
            r.arena_bytes,
            r.unplanned_bytes,
            r.weights_bytes,
            r.source_bytes,
            r.steps,
            r.integer_kernels,
            r.shift_add_kernels,
            r.fused,
            r.in_place,
            r.aliases
        );
    }
}

/// The chart of the [`CHART_LAYERS`] dearest layers (before or after), the rest summed in one
/// row, and the table of every layer.
fn layers_html(s: &mut String, layers: &[Layer], unit: &str) {
    let mut order: Vec<&Layer> = layers.iter().collect();
    order.sort_by(|a, b| b.before.max(b.after).total_cmp(&a.before.max(a.after)));
    let mut bars: Vec<Bar> = order
        .iter()
        .take(CHART_LAYERS)
        .map(|l| Bar { label: l.name.to_string(), before: l.before, after: l.after })
        .collect();
    let rest = &order[bars.len()..];
    if !rest.is_empty() {
        bars.push(Bar {
            label: format!("{} other layers", rest.len()),
            before: rest.iter().map(|l| l.before).sum(),
            after: rest.iter().map(|l| l.after).sum(),
        });
    }
    let _ = write!(
        s,
        "<h2>Predicted cost per layer ({unit})</h2>\n<p class=\"muted\">{} layers; the {} dearest drawn{}. \
         Each layer of the written model counts, before, the original nodes whose value it computes now (merged, folded or absorbed into it).</p>\n<div id=\"layer-chart\">{}</div>\n",
        layers.len(),
        bars.len().min(CHART_LAYERS),
        if rest.is_empty() { String::new() } else { format!(", the other {} summed", rest.len()) },
        svg::bar_chart(&bars, unit)
    );
    let _ = writeln!(
        s,
        "<details><summary>All layers</summary><table id=\"layer-table\">{}",
        head(&["node", "original nodes", "op before", "op after", "fate", "before", "after", "change"])
    );
    for l in layers {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>{}</tr>",
            escape(l.name),
            l.members,
            escape(l.op_before.unwrap_or("-")),
            escape(l.op_after.unwrap_or("-")),
            l.fate,
            short_number(l.before),
            short_number(l.after),
            change(l.before, l.after)
        );
    }
    s.push_str("</table></details>\n");
}

/// One row per rewrite: rules, site, computing node, cost before and after (and in approx mode
/// the change of the budget's figure).
fn rewrites_html(s: &mut String, rewrites: &[Rewrite], unit: &str, approx: bool) {
    let _ = writeln!(s, "<h2>Rewrites ({})</h2>", rewrites.len());
    if rewrites.is_empty() {
        s.push_str("<p id=\"rewrites\">No node was rewritten.</p>\n");
        return;
    }
    let (b, a) = (format!("before ({unit})"), format!("after ({unit})"));
    let mut cols = vec!["rules", "site (original nodes)", "now computed by", &b, &a, "change"];
    if approx {
        cols.push("held-out figure change");
    }
    let _ = writeln!(s, "<table id=\"rewrites\">{}", head(&cols));
    for r in rewrites {
        let rules = if r.rules.is_empty() {
            "<span class=\"muted\">(folded or absorbed)</span>".to_string()
        } else {
            r.rules.iter().map(|r| escape(r)).collect::<Vec<_>>().join("<br>")
        };
        let site: Vec<String> =
            r.site.iter().map(|(n, op)| format!("{} <span class=\"muted\">{}</span>", escape(n), escape(op))).collect();
        let into = r.into.map_or("<span class=\"muted\">removed</span>".to_string(), |(n, op)| {
            format!("{} <span class=\"muted\">{}</span>", escape(n), escape(op))
        });
        let _ = write!(
            s,
            "<tr class=\"rewrite\"><td>{rules}</td><td>{}</td><td>{into}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>{}",
            site.join("<br>"),
            short_number(r.before),
            short_number(r.after),
            change(r.before, r.after)
        );
        if approx {
            let figure = r.accuracy_change.map(|c| format!("{c:+.4}")).unwrap_or_default();
            let _ = write!(s, "<td class=\"num\">{figure}</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
}

/// Approx mode: budget, figures, the applied steps and the cost–error front.
fn approx_html(s: &mut String, a: &ApproxReport) {
    let figures = |f: &crate::approx::budget::Figures| {
        let mut parts = Vec::new();
        if let Some(acc) = f.accuracy {
            parts.push(format!("accuracy {acc:.2} %"));
        }
        if let Some(agree) = f.agreement {
            parts.push(format!("agreement {:.2} %", 100.0 * agree));
        }
        parts.push(format!("rel. error {:.4}", f.rel_l2));
        parts.join(", ")
    };
    let _ = write!(
        s,
        "<h2>Approximate replacement</h2>\n<p id=\"approx\">Budget <code>{}</code>; selection on {} calibration samples, \
         judged on {} held-out samples; {:.0} % of the budget used on the held-out data. Predicted {}: exact mode {:.4e}, \
         approximate {:.4e} ({:.2}× cheaper).</p>\n<table>{}\n<tr><th>original</th><td>{}</td><td>{}</td></tr>\n\
         <tr><th>result</th><td>{}</td><td>{}</td></tr></table>\n",
        a.budget,
        a.calibration_samples,
        a.heldout_samples,
        100.0 * a.budget_used,
        escape(&a.cost.objective),
        a.cost.exact,
        a.cost.approx,
        a.cost.speedup_vs_exact,
        head(&["", "calibration", "held out"]),
        figures(&a.original.calibration),
        figures(&a.original.heldout),
        figures(&a.result.calibration),
        figures(&a.result.heldout)
    );
    let _ = write!(
        s,
        "<h3>Applied steps</h3>\n<table id=\"applied\">{}\n",
        head(&[
            "#",
            "rule",
            "node",
            "op",
            "cost change",
            "budget used (calib)",
            "budget used (held out)",
            "held out after"
        ])
    );
    for (i, step) in a.applied.iter().enumerate() {
        let _ = writeln!(
            s,
            "<tr><td class=\"num\">{}</td><td>{}{}</td><td>{}</td><td>{}</td><td class=\"num\">{:+.3e}</td>\
             <td class=\"num\">{:+.1} %</td><td class=\"num\">{:+.1} %</td><td>{}</td></tr>",
            i + 1,
            escape(&step.rule),
            step.replaces.as_ref().map(|r| format!(" (replaces {})", escape(r))).unwrap_or_default(),
            escape(&step.node),
            escape(&step.op),
            step.cost_change,
            100.0 * step.calibration_used_change,
            100.0 * step.heldout_used_change,
            figures(&step.after.heldout)
        );
    }
    s.push_str("</table>\n");
    if !a.front.points.is_empty() {
        let chosen = a.applied.len();
        let points: Vec<Point> = a
            .front
            .points
            .iter()
            .map(|p| Point {
                x: p.cost_ratio,
                y: 100.0 * p.calibration_used,
                label: format!(
                    "{} rewrites: cost {:.3} of exact, {:.1} % of the budget (calibration){}",
                    p.rewrites,
                    p.cost_ratio,
                    100.0 * p.calibration_used,
                    p.file.as_deref().map(|f| format!(", {f}")).unwrap_or_default()
                ),
                chosen: p.rewrites == chosen,
            })
            .collect();
        let _ = write!(
            s,
            "<h3>Cost–error front</h3>\n<p class=\"muted\">{} non-dominated steps (hypervolume {:.4}); the written \
             model in orange.</p>\n<div id=\"pareto\">{}</div>\n",
            a.front.points.len(),
            a.front.hypervolume,
            svg::scatter(
                &points,
                "predicted cost / exact mode",
                "budget used on calibration data (%)",
                (1.0, 100.0),
                Some(100.0)
            )
        );
    }
    if !a.declined.is_empty() {
        s.push_str("<h3>Matches without an alternative</h3>\n<ul>\n");
        for d in &a.declined {
            let _ = writeln!(s, "<li><code>{}</code> ({}×): {}</li>", escape(&d.rule), d.matches, escape(&d.reason));
        }
        s.push_str("</ul>\n");
    }
}
