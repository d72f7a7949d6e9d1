//! Measuring a set of choices: the program extracted with their redirects (its predicted cost
//! on the target), lifted back to a graph, run with tract on data, and judged against the
//! original model's outputs.

use super::budget::{figures, Figures};
use super::calib;
use super::choice::Choice;
use super::data::Dataset;
use super::ApproxError;
use crate::graph::Graph;
use crate::ir::{IrGraph, Origins};
use crate::search::{self, NodeCost, Redirects};
use crate::tensor::{Tensor, TensorType};
use egg::Id;
use std::collections::HashMap;

/// A program for a set of choices.
#[derive(Clone, Debug)]
pub struct Program {
    /// The lifted model.
    pub graph: Graph,
    /// Its predicted cost on the target as the back end runs the lifted graph (in the
    /// objective's unit).
    pub cost: f64,
    /// The e-node extraction chose in each class of the program.
    pub chosen: HashMap<Id, crate::ir::Ir>,
}

/// Extracts, lifts and runs programs for sets of choices.
pub struct Evaluator<'a> {
    /// The saturated e-graph holding the choices' alternatives.
    pub egraph: &'a IrGraph,
    /// Its `outputs` root.
    pub root: Id,
    /// Source nodes of the lowered classes (names for lifted nodes).
    pub origins: &'a Origins,
    /// The lowered graph with the fitted constants added (the lift source).
    pub source: &'a Graph,
    /// Extraction's per-node cost for the target.
    pub cost: &'a dyn NodeCost,
    /// A lifted graph's predicted cost on the target.
    pub price: &'a dyn Fn(&Graph) -> f64,
    /// Every choice; sets index into it.
    pub choices: &'a [Choice],
    /// Static input types by name, for tract.
    pub input_types: HashMap<String, TensorType>,
}

impl Evaluator<'_> {
    /// The cheapest program with the choices `set` taken (indices into `choices`, at most one
    /// per site).
    pub fn program(&self, set: &[usize]) -> Result<Program, ApproxError> {
        let redirects: Redirects = set.iter().map(|&i| (self.choices[i].site, self.choices[i].alt)).collect();
        let best = search::extract_dag_redirected(self.egraph, self.root, self.cost, &redirects)?;
        let mut graph = crate::lift::lift_classes(self.egraph, &best.expr, &best.classes, self.source, self.origins)?;
        let needed = crate::graph::upgrade::needed(&graph);
        crate::graph::upgrade::upgrade(&mut graph, needed).map_err(|e| ApproxError::Upgrade(e.to_string()))?;
        let cost = (self.price)(&graph);
        Ok(Program { graph, cost, chosen: search::chosen_in(&best.expr, &best.classes) })
    }

    /// The outputs of `graph` on every sample of `data`.
    pub fn outputs(&self, what: &str, graph: &Graph, data: &Dataset) -> Result<Vec<Vec<Tensor>>, ApproxError> {
        let bytes = crate::onnx::export_bytes(graph)?;
        Ok(calib::outputs(what, &bytes, None, &self.input_types, data)?)
    }

    /// The figures of `graph` on `data` against the original's outputs `reference` there.
    pub fn judge(
        &self,
        what: &str,
        graph: &Graph,
        data: &Dataset,
        reference: &[Vec<Tensor>],
    ) -> Result<Figures, ApproxError> {
        let outputs = self.outputs(what, graph, data)?;
        Ok(figures(reference, &outputs, data.labels.as_deref()))
    }
}
