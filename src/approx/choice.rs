//! Choices: approximate alternatives kept apart from the classes they approximate.
//!
//! An approximate rule's match at a class of the exact program (the *site*) gets its right side
//! built as a class of its own (the *alternative*, [`crate::rules::alternative`]); the two are
//! never merged, so exact rules keep proving only exact facts, while they still simplify inside
//! the alternative (a low-rank pair followed by a BatchNorm fold becomes one fold). A set of
//! choices is applied at extraction: readers of each site read its alternative
//! (`search::extract_dag_redirected`). Which choices to take is decided by measurement
//! (`select`).

use super::calib::Activations;
use crate::fit::Samples;
use crate::graph::{Graph, NodeId, ValueKind};
use crate::ir::{Ir, IrGraph, Literal, Origins};
use crate::rules::alternative::{self, Calibration};
use crate::rules::{fits::Memo, Rule, RuleKind, RuleSet};
use crate::tensor::TensorType;
use egg::Id;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// One approximate alternative: rule, site, alternative.
#[derive(Clone, Debug, Serialize)]
pub struct Choice {
    /// The rule that built it.
    pub rule: String,
    /// The rule family: its file's stem (`quantize`, `lowrank`, `prune`, `activation`...).
    pub family: String,
    /// The approximated class (canonical when last canonicalized).
    #[serde(skip)]
    pub site: Id,
    /// The alternative's class.
    #[serde(skip)]
    pub alt: Id,
    /// The name of the original node that computed the site (or `class N`).
    pub node: String,
    /// The op that computes the site in the exact program.
    pub op: String,
}

/// The family of a rule: its file's stem.
pub fn family(rule: &Rule) -> String {
    std::path::Path::new(&rule.file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Which original value each class computes, and the inverse, for a graph lowered with
/// `origins`: node outputs (through `get` for multi-output nodes) and graph inputs.
#[derive(Debug, Default)]
pub struct ValueClasses {
    /// (original value name, its class as lowered).
    values: Vec<(String, Id)>,
    /// Original node of each class as lowered.
    nodes: Vec<(Id, NodeId)>,
}

impl ValueClasses {
    /// The map for `graph` lowered into `egraph` with `origins`.
    pub fn new(graph: &Graph, egraph: &IrGraph, origins: &Origins) -> ValueClasses {
        let mut values = Vec::new();
        for &(class, node) in &origins.nodes {
            let outs = &graph.node(node).outputs;
            if outs.len() == 1 {
                values.push((graph.value(outs[0]).name.clone(), class));
                continue;
            }
            for (i, &o) in outs.iter().enumerate() {
                let lit = egraph.lookup(Ir::Lit(Literal(i as f64)));
                if let Some(get) = lit.and_then(|l| egraph.lookup(Ir::Get([l, class]))) {
                    values.push((graph.value(o).name.clone(), get));
                }
            }
        }
        for &v in &graph.inputs {
            let value = graph.value(v);
            if matches!(value.kind, ValueKind::Input) {
                if let Some(c) = egraph.lookup(Ir::Input(crate::ir::InputRef(value.name.as_str().into()))) {
                    values.push((value.name.clone(), c));
                }
            }
        }
        ValueClasses { values, nodes: origins.nodes.clone() }
    }

    /// The original node that computed `class` (canonical), if one did.
    pub fn node(&self, egraph: &IrGraph, class: Id) -> Option<NodeId> {
        self.nodes.iter().find(|(c, _)| egraph.find(*c) == class).map(|(_, n)| *n)
    }

    /// Value names by canonical class (the first original value of each class).
    fn by_class(&self, egraph: &IrGraph) -> HashMap<Id, &str> {
        let mut out = HashMap::new();
        for (name, c) in &self.values {
            out.entry(egraph.find(*c)).or_insert(name.as_str());
        }
        out
    }
}

/// Calibration samples by class: the captured activations of the original values.
struct ClassSamples<'a> {
    by_class: HashMap<Id, (&'a TensorType, &'a Samples)>,
}

impl Calibration for ClassSamples<'_> {
    fn samples(&self, class: Id) -> Option<(&TensorType, &Samples)> {
        self.by_class.get(&class).copied()
    }
}

/// Everything [`propose`] needs besides the e-graph.
pub struct Proposal<'a> {
    /// The graph the e-graph was lowered from (new constants are added to it).
    pub source: &'a mut Graph,
    /// Class ↔ original value map of that lowering.
    pub values: &'a ValueClasses,
    /// Calibration activations of the original values.
    pub activations: &'a Activations,
    /// Types of the original values by name.
    pub types: &'a HashMap<String, TensorType>,
    /// Classes an approximation may replace (the exact program's), with the op that computes
    /// each there.
    pub sites: &'a HashMap<Id, String>,
}

/// Builds every approximate rule's alternatives at the allowed sites, in rule order, then site
/// order. Returns the choices and, per rule, the reasons matches were declined (for the report).
pub fn propose(egraph: &mut IrGraph, rules: &RuleSet, p: Proposal, opset: i64) -> (Vec<Choice>, Vec<(String, String)>) {
    let names = p.values.by_class(egraph);
    let by_class: HashMap<Id, (&TensorType, &Samples)> =
        names.iter().filter_map(|(&c, &n)| Some((c, (p.types.get(n)?, p.activations.get(n)?)))).collect();
    let calibration = ClassSamples { by_class };
    let mut memo = Memo::default();
    let mut choices = Vec::new();
    let mut declined = Vec::new();
    for rule in rules.rules.iter().filter(|r| r.kind == RuleKind::Approx) {
        let sites = p.sites;
        let found = alternative::matches(rule, egraph, &|c| sites.contains_key(&c));
        let mut done: HashSet<Id> = HashSet::new();
        for (site, subst) in found {
            // Equal weights can sit in several classes (weight-only classes are not merged by
            // value), so one site may match under several substitutions: the first that builds
            // is the alternative.
            if done.contains(&egraph.find(site)) {
                continue;
            }
            let mut builder =
                alternative::Builder { source: p.source, calibration: &calibration, memo: &mut memo, opset };
            match alternative::build(rule, egraph, site, &subst, &mut builder) {
                Ok(alt) => {
                    done.insert(alt.site);
                    let name = match p.values.node(egraph, alt.site) {
                        Some(n) => p.source.node(n).name.clone(),
                        None => format!("class {}", alt.site),
                    };
                    let op = p.sites.get(&alt.site).cloned().unwrap_or_default();
                    choices.push(Choice {
                        rule: rule.name.clone(),
                        family: family(rule),
                        site: alt.site,
                        alt: alt.alt,
                        node: name,
                        op,
                    });
                }
                Err(why) => declined.push((rule.name.clone(), why)),
            }
        }
    }
    (choices, declined)
}

/// Canonical ids after the e-graph changed; drops choices whose alternative became equal to
/// their site (an exact rule proved them the same: nothing to approximate).
pub fn canonicalize(choices: &mut Vec<Choice>, egraph: &IrGraph) {
    for c in choices.iter_mut() {
        c.site = egraph.find(c.site);
        c.alt = egraph.find(c.alt);
    }
    choices.retain(|c| c.site != c.alt);
}
