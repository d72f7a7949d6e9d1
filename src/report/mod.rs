//! The run report (`--report R.json`): a versioned JSON document presenting what the pipeline
//! decided and measured. It recomputes nothing.

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
    /// Verification figures.
    pub verification: &'a VerifyReport,
    /// E-graph statistics of saturation (exact mode).
    pub search: Option<&'a crate::search::Stats>,
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
            verification: &outcome.verification,
            search: outcome.search.as_ref(),
        }
    }
}
