//! The run report (`--report R.json`, or `R.md` / `R.html` for a person): a versioned document
//! presenting what the pipeline decided and measured. It recomputes nothing.

mod compare;
mod html;
mod svg;

use crate::pipeline::{Mode, Options, Outcome};
use crate::verify::VerifyReport;
use serde::Serialize;

/// Version of the report's JSON schema; bumped when a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON report of one run.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// gos-opt's version.
    pub gos_opt_version: &'static str,
    /// The input model path.
    pub input: String,
    /// The written model path.
    pub output: String,
    /// Target name.
    pub target: &'a str,
    /// Rewrite mode.
    pub mode: Mode,
    /// Node count of the input model (Constant nodes are pooled, not counted).
    pub nodes_before: usize,
    /// Node count of the written model.
    pub nodes_after: usize,
    /// Whether the written model was verified (`false` with `--no-verify`; the model's
    /// `gos-opt.verified` metadata says the same).
    pub verified: bool,
    /// Verification figures, with the method (`tract`, `interpreter`, `regions`, `structural`,
    /// `none`); with `regions`, the nodes the models were cut at (`cut_nodes`).
    pub verification: &'a VerifyReport,
    /// E-graph statistics of saturation (exact mode), with per-rule application counts.
    pub search: Option<&'a crate::search::Stats>,
    /// The input model per layer (shapes, MACs, predicted cost on the target) and in total.
    pub before: &'a crate::inspect::Inspection,
    /// The written model, likewise.
    pub after: &'a crate::inspect::Inspection,
    /// The Rust module (`--emit-rust`): arena, weights and source sizes, fusions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rust: Option<&'a crate::emit::EmitReport>,
    /// Approx mode: budget, sensitivity, applied rewrites, figures, front.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approx: Option<&'a crate::approx::report::ApproxReport>,
    /// Searches repeated with fewer Winograd rules after an attempt failed verification or
    /// emission (`without`, `cause`), in order; absent when the first attempt was written.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub retries: &'a [crate::pipeline::Retry],
}

impl<'a> Report<'a> {
    /// The report for a finished run.
    pub fn new(opts: &'a Options, outcome: &'a Outcome) -> Report<'a> {
        Report {
            schema_version: SCHEMA_VERSION,
            gos_opt_version: env!("CARGO_PKG_VERSION"),
            input: opts.input.display().to_string(),
            output: outcome.output.display().to_string(),
            target: &opts.target,
            mode: opts.mode,
            nodes_before: outcome.nodes_before,
            nodes_after: outcome.nodes_after,
            verified: outcome.verified,
            verification: &outcome.verification,
            search: outcome.search.as_ref(),
            before: &outcome.before,
            after: &outcome.after,
            rust: outcome.emit.as_ref(),
            approx: outcome.approx.as_ref(),
            retries: &outcome.retries,
        }
    }

    /// The report in the format `path`'s extension names: Markdown for `.md`, HTML for `.html`
    /// or `.htm`, JSON otherwise.
    pub fn render_for(&self, path: &std::path::Path) -> Result<Vec<u8>, serde_json::Error> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("md") => Ok(self.to_markdown().into_bytes()),
            Some("html" | "htm") => Ok(self.to_html().into_bytes()),
            _ => serde_json::to_vec_pretty(self),
        }
    }

    /// The same report for a person (Markdown).
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "# gos-opt report\n");
        let _ = writeln!(
            s,
            "`{}` → `{}`, target `{}`, mode `{:?}`, gos-opt {}\n",
            self.input, self.output, self.target, self.mode, self.gos_opt_version
        );
        let _ = writeln!(s, "| | before | after |\n|---|---|---|");
        let _ = writeln!(s, "| nodes | {} | {} |", self.nodes_before, self.nodes_after);
        let _ = writeln!(s, "| parameters | {} | {} |", self.before.total_params, self.after.total_params);
        let _ = writeln!(s, "| MACs | {} | {} |", self.before.total_macs, self.after.total_macs);
        if let (Some(b), Some(a)) = (&self.before.cost, &self.after.cost) {
            let _ = writeln!(s, "| predicted latency (ms) | {:.4} | {:.4} |", b.latency_s * 1e3, a.latency_s * 1e3);
            let _ = writeln!(s, "| predicted energy (µJ) | {:.3} | {:.3} |", b.energy_pj * 1e-6, a.energy_pj * 1e-6);
        }
        if let Some(search) = self.search {
            let _ = writeln!(
                s,
                "\n## Search\n\n{} iterations, {} e-nodes, {} e-classes, stop reason: {}; saturation {:.2} s, \
                 extraction {:.3} s\n",
                search.iterations,
                search.nodes,
                search.classes,
                search.stop_reason,
                search.seconds,
                search.extraction_seconds
            );
            let mut rules: Vec<&crate::search::RuleUse> = search.rules.iter().collect();
            rules.sort_by(|a, b| b.survives.cmp(&a.survives).then(b.applied.cmp(&a.applied)).then(a.rule.cmp(&b.rule)));
            let _ = writeln!(s, "| rule | applied | survives in the program |\n|---|---|---|");
            for r in rules {
                let _ = writeln!(s, "| {} | {} | {} |", r.rule, r.applied, if r.survives { "yes" } else { "no" });
            }
            let _ = writeln!(
                s,
                "\n## What became of each node\n\n| node | op | fate | now computed by |\n|---|---|---|---|"
            );
            for f in &search.fates {
                let by = match (&f.into, &f.into_op) {
                    (Some(n), Some(op)) => format!("{n} ({op})"),
                    _ => "-".into(),
                };
                let _ = writeln!(s, "| {} | {} | {} | {by} |", f.node, f.op, f.fate.name());
            }
        }
        for r in self.retries {
            let _ = writeln!(s, "\nSearched again without {}: {}", r.without, r.cause);
        }
        if let Some(r) = self.rust {
            let path = r.model_rs.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            let _ = writeln!(
                s,
                "\n## Rust module\n\n`{path}`: arena {} B ({} B without the memory plan), weights {} B, \
                 source {} B; {} kernel calls ({} integer kernels, {} of them shift-add), {} nodes fused, {} in place, \
                 {} aliases\n",
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
        if let Some(a) = self.approx {
            let _ = writeln!(s, "\n{}", a.to_markdown());
        }
        let _ = writeln!(s, "\n## Verification\n\n{}\n", self.verification.summary());
        let _ = writeln!(s, "| output | max abs | max rel | cosine |\n|---|---|---|---|");
        for o in &self.verification.outputs {
            let cosine = o.figures.cosine.map(|c| format!("{c:.6}")).unwrap_or_else(|| "-".into());
            let _ = writeln!(s, "| {} | {:.3e} | {:.3e} | {cosine} |", o.name, o.figures.max_abs, o.figures.max_rel);
        }
        let _ = writeln!(s, "\n## Layers after\n\n| node | op | MACs | predicted latency (µs) |\n|---|---|---|---|");
        for n in &self.after.nodes {
            let latency = n.cost.as_ref().map(|c| format!("{:.3}", c.latency_s * 1e6)).unwrap_or_else(|| "-".into());
            let _ = writeln!(s, "| {} | {} | {} | {latency} |", n.name, n.op, n.macs);
        }
        let shift_add: Vec<_> = self
            .after
            .nodes
            .iter()
            .filter_map(|n| Some((n, n.cost.as_ref()?, n.cost.as_ref()?.shift_add.as_ref()?)))
            .collect();
        if !shift_add.is_empty() {
            let _ = writeln!(
                s,
                "\n## Shift-add layers\n\nMultiplications replaced by additions of digit planes where the target's \
                 multiplier makes that cheaper (for the objective).\n\n| node | recoding | digits/weight | additions | multiplications \
                 replaced | predicted µs (multiply form) | predicted nJ (multiply form) |\n|---|---|---|---|---|---|---|"
            );
            for (n, c, sa) in shift_add {
                let _ = writeln!(
                    s,
                    "| {} | {:?} | {:.2} | {} | {} | {:.3} ({:.3}) | {:.3} ({:.3}) |",
                    n.name,
                    sa.recoding,
                    sa.digits_per_weight,
                    sa.additions,
                    sa.multiplications,
                    c.latency_s * 1e6,
                    sa.multiply_latency_s * 1e6,
                    c.energy_pj * 1e-3,
                    sa.multiply_energy_pj * 1e-3
                );
            }
        }
        s
    }
}
