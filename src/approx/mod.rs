//! Approximate operator replacement (`--mode approx`): cheaper forms of operators that are not
//! equal to the original, chosen per layer under a measured accuracy budget, without
//! retraining.
//!
//! The stage, in order:
//! 1. run the original model on the calibration and held-out data (the reference outputs) and
//!    capture its intermediate activations on the calibration data;
//! 2. lower it and saturate with the exact rules, as exact mode does; the exact program's
//!    classes are the sites approximations may replace;
//! 3. build every approximate rule's alternatives at those sites ([`choice`]), their fitting
//!    functions reading the weights and calibration activations; saturate again with the exact
//!    rules, which simplify inside the alternatives but never merge one with its site;
//! 4. measure each alternative alone (predicted cost on the target of the lifted program as the
//!    back end runs it, error by
//!    running the lifted model with tract on the calibration data), then select greedily
//!    under the budget, re-measuring the accumulated model after each acceptance ([`select`]);
//! 5. judge the result on the held-out data: over budget is an error (nothing is written).
//!
//! The numerics that compute an approximate rule's new weights live in [`crate::fit`]; the
//! rules call them by name (`crate::rules::fits`).

pub mod budget;
pub mod calib;
pub mod choice;
pub mod data;
pub mod measure;
pub mod report;
pub mod select;

use crate::graph::{Graph, GraphError, ValueKind};
use crate::rules::RuleSet;
use crate::search::{self, NodeCost};
use crate::tensor::{DType, Tensor, TensorType};
use budget::{figures, Budget, Figures};
use choice::{Proposal, ValueClasses};
use egg::Language;
use measure::Evaluator;
use report::{Applied, ApproxReport, Costs, Declined, Front, FrontPoint, SensitivityRow, Split};
use select::Step;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Why approx mode failed.
#[derive(Debug, thiserror::Error)]
pub enum ApproxError {
    /// The data cannot judge this budget.
    #[error("{0}")]
    Budget(String),
    /// A model could not be run on the data.
    #[error(transparent)]
    Run(#[from] calib::RunError),
    /// The model could not be lowered.
    #[error(transparent)]
    Lower(#[from] crate::ir::LowerError),
    /// No program could be extracted.
    #[error(transparent)]
    Extract(#[from] search::ExtractError),
    /// A program could not be lifted.
    #[error(transparent)]
    Lift(#[from] crate::lift::LiftError),
    /// The opset could not be raised for a recognized kernel.
    #[error("cannot raise the model's opset: {0}")]
    Upgrade(String),
    /// A program could not be exported.
    #[error(transparent)]
    Export(#[from] GraphError),
    /// The selected model breaks the budget on the held-out data (nothing is written).
    #[error("the selected model breaks the budget {budget} on the held-out data ({used:.0} % of it used: {detail}); nothing written")]
    OverBudget {
        /// The budget.
        budget: Budget,
        /// Share used, in percent.
        used: f64,
        /// The held-out figures.
        detail: String,
    },
}

/// What approx mode needs besides the model.
#[derive(Clone, Debug)]
pub struct Options {
    /// Samples selection runs on.
    pub calib: data::Dataset,
    /// Samples the result is judged on (never seen by selection).
    pub heldout: data::Dataset,
    /// The budget.
    pub budget: Budget,
    /// Variants to write along the cost–error front (`--pareto N`; 0: none).
    pub pareto: usize,
    /// Saturation limits for the exact rules.
    pub limits: search::Limits,
}

/// What approx mode produced.
pub struct Outcome {
    /// The selected model.
    pub graph: Graph,
    /// Front variants to write (`--pareto`): index into the report's front points, and model.
    pub variants: Vec<(usize, Graph)>,
    /// The approx section of the report.
    pub report: ApproxReport,
    /// The exact saturation's statistics.
    pub stats: search::Stats,
    /// The held-out outputs of the original and of the selected model (for the verification
    /// figures).
    pub heldout_outputs: (Vec<Vec<Tensor>>, Vec<Vec<Tensor>>),
}

/// How approx mode prices programs: extraction's per-node cost, and a lifted graph's cost as the
/// back end runs it (QDQ groups as integer kernels, folded weights as floats), which is what
/// selection compares and the report states.
pub struct Pricing<'a> {
    /// Extraction's per-node cost for the target.
    pub extract: &'a dyn NodeCost,
    /// A lifted graph's predicted cost on the target, in the same unit.
    pub graph: &'a dyn Fn(&Graph) -> f64,
    /// The objective's name (for the report).
    pub objective: &'a str,
}

/// Runs approx mode on `graph` (imported from `original`, whose folder is `dir`) for the target
/// priced by `pricing`. `stage` hears what runs (for a progress display).
pub fn optimize(
    graph: &Graph,
    original: &[u8],
    dir: Option<&Path>,
    rules: &RuleSet,
    pricing: &Pricing,
    opts: &Options,
    stage: &mut dyn FnMut(&str),
) -> Result<Outcome, ApproxError> {
    let input_types: HashMap<String, TensorType> =
        graph.inputs.iter().filter_map(|&v| Some((graph.value(v).name.clone(), graph.ty(v)?.clone()))).collect();
    stage("running the original model on the data");
    let ref_calib = calib::outputs("the original model", original, dir, &input_types, &opts.calib)?;
    let ref_held = calib::outputs("the original model", original, dir, &input_types, &opts.heldout)?;
    let original_figures = Split {
        calibration: figures(&ref_calib, &ref_calib, opts.calib.labels.as_deref()),
        heldout: figures(&ref_held, &ref_held, opts.heldout.labels.as_deref()),
    };
    opts.budget.measurable(&original_figures.calibration).map_err(ApproxError::Budget)?;
    opts.budget.measurable(&original_figures.heldout).map_err(ApproxError::Budget)?;

    stage("capturing calibration activations");
    let types: HashMap<String, TensorType> = graph
        .values
        .iter()
        .filter(|v| matches!(v.kind, ValueKind::Node { .. }))
        .filter_map(|v| Some((v.name.clone(), v.ty.clone()?)))
        .chain(input_types.clone())
        .collect();
    let mut wanted: Vec<(String, TensorType)> = types
        .iter()
        .filter(|(n, t)| t.dtype == DType::F32 && !input_types.contains_key(*n))
        .map(|(n, t)| (n.clone(), t.clone()))
        .collect();
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    let activations = calib::capture(original, dir, &input_types, &wanted, &opts.calib)?;

    stage("saturating with the exact rules");
    let mut analysis = crate::ir::analysis_for(graph);
    analysis.functions = Arc::new(crate::rules::Functions);
    let lowered = crate::ir::lower_with(graph, analysis)?;
    let exact_rules = rules.rewrites(false);
    let (mut egraph, stats) = search::saturate(lowered.egraph, lowered.root, &exact_rules, &opts.limits);
    let exact = search::extract_dag(&egraph, lowered.root, pricing.extract)?;
    let sites: HashMap<egg::Id, String> = exact
        .classes
        .iter()
        .zip(exact.expr.as_ref())
        .map(|(&c, n)| {
            let node = n.clone().map_children(|k| exact.classes[usize::from(k)]);
            let op = crate::ir::kernel_op(&egraph, &node).map(|op| op.onnx_name().to_string());
            (c, op.unwrap_or_else(|| n.to_string()))
        })
        .collect();

    stage("building approximate alternatives");
    let values = ValueClasses::new(graph, &egraph, &lowered.origins);
    let mut source = graph.clone();
    let proposal =
        Proposal { source: &mut source, values: &values, activations: &activations, types: &types, sites: &sites };
    let (mut choices, declined) = choice::propose(&mut egraph, rules, proposal, graph.meta.opset());
    let (egraph, _) = search::saturate(egraph, lowered.root, &exact_rules, &opts.limits);
    choice::canonicalize(&mut choices, &egraph);

    let ev = Evaluator {
        egraph: &egraph,
        root: lowered.root,
        origins: &lowered.origins,
        source: &source,
        cost: pricing.extract,
        price: pricing.graph,
        choices: &choices,
        input_types,
    };
    let exact_program = ev.program(&[])?;
    let exact_calib = ev.judge("the exact program", &exact_program.graph, &opts.calib, &ref_calib)?;
    let original_calib = &original_figures.calibration;
    let (trials, failed) =
        select::sensitivity(&ev, exact_program.cost, &opts.calib, &ref_calib, &opts.budget, original_calib, stage);
    let start = Step {
        set: Vec::new(),
        cost: exact_program.cost,
        used: opts.budget.used(&exact_calib, original_calib),
        calib: exact_calib,
        replaced: None,
    };
    let steps = select::greedy(&ev, &trials, start, &opts.calib, &ref_calib, &opts.budget, original_calib, stage)?;

    stage("judging on the held-out data");
    let mut held: Vec<Figures> = Vec::with_capacity(steps.len());
    let mut programs = Vec::with_capacity(steps.len());
    let mut final_outputs = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        let program = if k == 0 { exact_program.clone() } else { ev.program(&step.set)? };
        let outputs = ev.outputs("the selected model", &program.graph, &opts.heldout)?;
        held.push(figures(&ref_held, &outputs, opts.heldout.labels.as_deref()));
        if k + 1 == steps.len() {
            final_outputs = outputs;
        }
        programs.push(program);
    }
    let held_used: Vec<f64> = held.iter().map(|f| opts.budget.used(f, &original_figures.heldout)).collect();
    let last = steps.len() - 1;
    if held_used[last] > 1.0 {
        return Err(ApproxError::OverBudget {
            budget: opts.budget,
            used: 100.0 * held_used[last],
            detail: describe(&held[last]),
        });
    }

    let applied = (1..steps.len())
        .map(|k| {
            let c = &choices[*steps[k].set.last().expect("every step after the first adds a choice")];
            Applied {
                rule: c.rule.clone(),
                family: c.family.clone(),
                node: c.node.clone(),
                op: c.op.clone(),
                replaces: steps[k].replaced.map(|r| choices[r].rule.clone()),
                cost_change: steps[k].cost - steps[k - 1].cost,
                calibration_used_change: steps[k].used - steps[k - 1].used,
                heldout_used_change: held_used[k] - held_used[k - 1],
                after: Split { calibration: steps[k].calib.clone(), heldout: held[k].clone() },
            }
        })
        .collect();
    let sensitivity = trials
        .iter()
        .map(|t| {
            let c = &choices[t.choice];
            SensitivityRow {
                node: c.node.clone(),
                op: c.op.clone(),
                family: c.family.clone(),
                rule: c.rule.clone(),
                cost_change: -t.saving,
                calibration: t.calib.clone(),
                budget_used: t.used,
            }
        })
        .collect();

    // The front draws on the greedy steps and on every choice alone that selection would take.
    let margin = select::selection_margin(&opts.budget);
    let mut candidates = steps.clone();
    candidates.extend(trials.iter().filter(|t| t.used <= margin && t.saving > 0.0).map(|t| Step {
        set: vec![t.choice],
        cost: t.cost,
        calib: t.calib.clone(),
        used: t.used,
        replaced: None,
    }));
    let front_steps = select::front(&candidates);
    // The front's points that are not greedy steps: their programs and held-out budget share.
    let mut extra: HashMap<usize, (measure::Program, f64)> = HashMap::new();
    for &k in front_steps.iter().filter(|&&k| k >= steps.len()) {
        let program = ev.program(&candidates[k].set)?;
        let outputs = ev.outputs("a front variant", &program.graph, &opts.heldout)?;
        let f = figures(&ref_held, &outputs, opts.heldout.labels.as_deref());
        extra.insert(k, (program, opts.budget.used(&f, &original_figures.heldout)));
    }
    let held_at = |k: usize| if k < steps.len() { held_used[k] } else { extra[&k].1 };
    let program_at = |k: usize| if k < steps.len() { &programs[k] } else { &extra[&k].0 };
    let written: Vec<usize> = select::spread(
        &front_steps.iter().copied().filter(|&k| k > 0 && held_at(k) <= 1.0).collect::<Vec<_>>(),
        opts.pareto,
    );
    let mut variants = Vec::new();
    let mut points = Vec::new();
    for &k in &front_steps {
        if written.contains(&k) {
            variants.push((points.len(), program_at(k).graph.clone()));
        }
        points.push(FrontPoint {
            rewrites: candidates[k].set.len(),
            cost: candidates[k].cost,
            cost_ratio: candidates[k].cost / exact_program.cost,
            calibration_used: candidates[k].used,
            calibration_rel_l2: candidates[k].calib.rel_l2,
            heldout_used: held_at(k),
            file: None,
        });
    }
    let hypervolume =
        select::hypervolume(&points.iter().map(|p| (p.cost_ratio, p.calibration_used)).collect::<Vec<_>>());

    let mut declined_rows: Vec<Declined> = Vec::new();
    let unmeasured =
        failed.into_iter().map(|(i, why)| (choices[i].rule.clone(), format!("at {}: {why}", choices[i].node)));
    for (rule, reason) in declined.into_iter().chain(unmeasured) {
        match declined_rows.iter_mut().find(|d| d.rule == rule) {
            Some(d) => d.matches += 1,
            None => declined_rows.push(Declined { rule, matches: 1, reason }),
        }
    }
    let result_cost = steps[last].cost;
    let report = ApproxReport {
        budget: opts.budget,
        calibration_samples: opts.calib.len(),
        heldout_samples: opts.heldout.len(),
        selection_margin: select::selection_margin(&opts.budget),
        original: original_figures,
        result: Split { calibration: steps[last].calib.clone(), heldout: held[last].clone() },
        budget_used: held_used[last],
        cost: Costs {
            objective: pricing.objective.to_string(),
            exact: exact_program.cost,
            approx: result_cost,
            speedup_vs_exact: exact_program.cost / result_cost,
        },
        sensitivity,
        applied,
        declined: declined_rows,
        front: Front { points, hypervolume },
    };
    let program = programs.swap_remove(last);
    let mut stats = stats;
    stats.rules = search::rule_uses(&egraph, &program.chosen, &stats.applied);
    stats.fates = search::node_fates(&egraph, &program.chosen, &lowered.origins, graph);
    search::settle_fates(&mut stats.fates, &program.graph);
    let graph = program.graph;
    Ok(Outcome { graph, variants, report, stats, heldout_outputs: (ref_held, final_outputs) })
}

/// The held-out figures in words.
fn describe(f: &Figures) -> String {
    let mut parts = Vec::new();
    if let Some(a) = f.accuracy {
        parts.push(format!("accuracy {a:.2} %"));
    }
    if let Some(a) = f.agreement {
        parts.push(format!("agreement {:.2} %", 100.0 * a));
    }
    parts.push(format!("relative error {:.4}", f.rel_l2));
    parts.join(", ")
}

/// Approx mode's arguments as given on the command line or to the build step.
#[derive(Clone, Debug)]
pub struct Request {
    /// Calibration samples (`--calib`).
    pub calib: data::DataSpec,
    /// Their labels (`--labels`).
    pub labels: Option<data::DataSpec>,
    /// Held-out samples (`--eval`); without them every second calibration sample is held out.
    pub eval: Option<data::DataSpec>,
    /// Their labels (`--eval-labels`).
    pub eval_labels: Option<data::DataSpec>,
    /// Factor applied to float sample values (`--data-scale`, e.g. 255 for a model that takes
    /// raw pixels, fed [0, 1] images).
    pub data_scale: f32,
    /// The budget (`--budget`).
    pub budget: Budget,
    /// Front variants to write (`--pareto`).
    pub pareto: usize,
}

impl Request {
    /// The calibration and held-out datasets for a model whose runtime inputs are `inputs`.
    pub fn datasets(&self, inputs: &[(String, TensorType)]) -> Result<(data::Dataset, data::Dataset), data::DataError> {
        let calib = data::load(&self.calib, self.labels.as_ref(), inputs, self.data_scale)?;
        match &self.eval {
            Some(eval) => {
                if self.labels.is_some() != self.eval_labels.is_some() {
                    return Err(data::DataError::Mismatch(
                        "give labels for both --calib and --eval (--labels and --eval-labels), or for neither".into(),
                    ));
                }
                Ok((calib, data::load(eval, self.eval_labels.as_ref(), inputs, self.data_scale)?))
            }
            None if self.eval_labels.is_some() => Err(data::DataError::Mismatch("--eval-labels needs --eval".into())),
            None if calib.len() < 2 => Err(data::DataError::Mismatch(format!(
                "{} holds {} sample; holding part of it out needs at least 2 (or give --eval)",
                self.calib,
                calib.len()
            ))),
            None => Ok(calib.split_interleaved()),
        }
    }
}
