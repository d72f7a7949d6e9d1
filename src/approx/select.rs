//! Choosing among the choices, by measurement: each choice alone first (the sensitivity table),
//! then greedily by predicted saving per unit of measured error, re-measuring the accumulated
//! model after each acceptance (errors do not add) and keeping it only while the budget holds
//! on the calibration data with a safety margin. Deterministic: ties go by saving, then by
//! choice order. The accepted steps form the cost–error front `--pareto` writes from.

use super::budget::{Budget, Figures};
use super::choice::Choice;
use super::data::Dataset;
use super::measure::Evaluator;
use super::ApproxError;
use crate::tensor::Tensor;
use serde::Serialize;
use std::collections::HashMap;

/// The share of the budget selection may use on the calibration data: the held-out data decides
/// whether the result is written, and a model chosen right at the budget on one sample set
/// lands above it on another about half the time. Accuracy and agreement are counts of flipped
/// samples (coarse, noisy); the relative error is a smooth average.
pub fn selection_margin(budget: &Budget) -> f64 {
    match budget {
        Budget::Acc(_) | Budget::Agree(_) => 0.5,
        Budget::Rel(_) => 0.8,
    }
}

/// One choice measured alone.
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    /// Index into the choices.
    pub choice: usize,
    /// Predicted cost of the program with this choice alone.
    pub cost: f64,
    /// Predicted cost saved against the exact program (negative: dearer).
    pub saving: f64,
    /// Its figures on the calibration data.
    pub calib: Figures,
    /// The share of the budget it uses alone.
    pub used: f64,
}

/// One accepted state of the greedy selection.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Choices taken so far (indices, in acceptance order).
    pub set: Vec<usize>,
    /// Predicted cost of this program.
    pub cost: f64,
    /// Its figures on the calibration data.
    pub calib: Figures,
    /// The share of the budget it uses on the calibration data.
    pub used: f64,
    /// The choice this step's choice replaced at the same site, if any.
    pub replaced: Option<usize>,
}

/// Measures every choice alone against the exact program (`exact_cost`), reporting progress.
/// A choice whose program cannot be built or run (say, an op the model's opset cannot state)
/// is left out, with the reason, instead of failing the run.
pub fn sensitivity(
    ev: &Evaluator,
    exact_cost: f64,
    data: &Dataset,
    reference: &[Vec<Tensor>],
    budget: &Budget,
    original: &Figures,
    progress: &mut dyn FnMut(&str),
) -> (Vec<Trial>, Vec<(usize, String)>) {
    let mut trials = Vec::with_capacity(ev.choices.len());
    let mut failed = Vec::new();
    for (i, c) in ev.choices.iter().enumerate() {
        progress(&format!("measuring each rewrite alone ({}/{})", i + 1, ev.choices.len()));
        let measured = ev.program(&[i]).and_then(|program| {
            let calib = ev.judge(&format!("{} at {}", c.rule, c.node), &program.graph, data, reference)?;
            Ok((program.cost, calib))
        });
        match measured {
            Ok((cost, calib)) => {
                let used = budget.used(&calib, original);
                trials.push(Trial { choice: i, cost, saving: exact_cost - cost, calib, used });
            }
            Err(e) => failed.push((i, e.to_string())),
        }
    }
    (trials, failed)
}

/// The order greedy selection tries choices in: those that save, by saving per unit of
/// relative output error (the continuous measure every budget shares), best first.
fn order(trials: &[Trial], margin: f64) -> Vec<&Trial> {
    let mut useful: Vec<&Trial> =
        trials.iter().filter(|t| t.saving > 0.0 && t.used <= margin && t.calib.rel_l2.is_finite()).collect();
    let rate = |t: &Trial| t.saving / t.calib.rel_l2.max(1e-9);
    useful
        .sort_by(|a, b| rate(b).total_cmp(&rate(a)).then(b.saving.total_cmp(&a.saving)).then(a.choice.cmp(&b.choice)));
    useful
}

/// Greedy selection under `budget` (with [`selection_margin`]) from the exact program
/// (`start`); returns every accepted step, the start first.
#[allow(clippy::too_many_arguments)]
pub fn greedy(
    ev: &Evaluator,
    trials: &[Trial],
    start: Step,
    data: &Dataset,
    reference: &[Vec<Tensor>],
    budget: &Budget,
    original: &Figures,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Step>, ApproxError> {
    let margin = selection_margin(budget);
    let order = order(trials, margin);
    let mut steps = vec![start];
    // The choice taken at each site, with its saving alone.
    let mut taken: HashMap<egg::Id, (usize, f64)> = HashMap::new();
    for (k, t) in order.iter().enumerate() {
        let c: &Choice = &ev.choices[t.choice];
        let replaced = match taken.get(&c.site) {
            Some(&(_, saving)) if saving >= t.saving => continue,
            other => other.map(|&(i, _)| i),
        };
        progress(&format!("selecting under the budget ({}/{})", k + 1, order.len()));
        let current = steps.last().expect("the start step");
        let mut set: Vec<usize> = current.set.iter().copied().filter(|&i| Some(i) != replaced).collect();
        set.push(t.choice);
        // Alone it ran; a combination that cannot be built or run is not taken.
        let Ok(program) = ev.program(&set) else { continue };
        if program.cost >= current.cost {
            continue;
        }
        let Ok(calib) = ev.judge(&format!("{} at {}", c.rule, c.node), &program.graph, data, reference) else {
            continue;
        };
        let used = budget.used(&calib, original);
        if used <= margin {
            taken.insert(c.site, (t.choice, t.saving));
            steps.push(Step { set, cost: program.cost, calib, used, replaced });
        }
    }
    Ok(steps)
}

/// The steps no other step dominates (another at most as dear and at most as wrong, one of
/// them strictly), by cost, budget share and relative output error on the calibration data (the
/// continuous error every budget shares, which separates steps an accuracy or agreement budget
/// counts alike); indices into `steps`, cheapest last.
pub fn front(steps: &[Step]) -> Vec<usize> {
    let key = |s: &Step| [s.cost, s.used, s.calib.rel_l2];
    let dominated = |i: usize| {
        let me = key(&steps[i]);
        steps.iter().any(|o| {
            let k = key(o);
            k.iter().zip(&me).all(|(a, b)| a <= b) && k.iter().zip(&me).any(|(a, b)| a < b)
        })
    };
    let mut keep: Vec<usize> = (0..steps.len()).filter(|&i| !dominated(i)).collect();
    keep.sort_by(|&a, &b| steps[b].cost.total_cmp(&steps[a].cost));
    keep
}

/// `n` of the front's points spread along it (the cheapest always among them), in front order.
pub fn spread(front: &[usize], n: usize) -> Vec<usize> {
    if front.len() <= n {
        return front.to_vec();
    }
    let last = front.len() - 1;
    let mut picked: Vec<usize> = (0..n).map(|k| front[last - (k * last) / (n - 1).max(1)]).collect();
    picked.dedup();
    picked.reverse();
    picked
}

/// The area the points (cost as a fraction of the exact program's, budget share used) dominate
/// inside the box up to the reference point (1, 1): HyT-NAS's figure of merit for a front, in
/// [0, 1], larger is better. Points outside the box add nothing.
pub fn hypervolume(points: &[(f64, f64)]) -> f64 {
    let mut pts: Vec<(f64, f64)> =
        points.iter().copied().filter(|&(c, u)| c < 1.0 && u < 1.0 && c.is_finite() && u.is_finite()).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut area = 0.0;
    let mut best_used = 1.0;
    // Sweep by cost: each point adds the strip up to the next point's cost, below the lowest
    // error seen so far.
    for (i, &(c, u)) in pts.iter().enumerate() {
        best_used = f64::min(best_used, u);
        let next = pts.get(i + 1).map_or(1.0, |p| p.0);
        area += (next - c) * (1.0 - best_used);
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(cost: f64, used: f64) -> Step {
        Step { set: vec![], cost, calib: Figures { rel_l2: used, ..Figures::default() }, used, replaced: None }
    }

    #[test]
    fn front_drops_dominated_steps() {
        let steps = vec![step(10.0, 0.0), step(8.0, 0.3), step(7.0, 0.2), step(5.0, 0.6)];
        assert_eq!(front(&steps), vec![0, 2, 3]);
        // Equal budget shares: the relative error tells the steps apart.
        let mut tied = vec![step(10.0, 0.0), step(8.0, 0.0), step(9.0, 0.0)];
        tied[1].calib.rel_l2 = 0.02;
        tied[2].calib.rel_l2 = 0.03;
        assert_eq!(front(&tied), vec![0, 1]);
    }

    #[test]
    fn spread_keeps_the_cheapest() {
        assert_eq!(spread(&[0, 1, 2, 3, 4, 5], 3), vec![0, 3, 5]);
        assert_eq!(spread(&[4, 7], 5), vec![4, 7]);
    }

    #[test]
    fn hypervolume_of_known_fronts() {
        assert_eq!(hypervolume(&[]), 0.0);
        assert!((hypervolume(&[(0.5, 0.0)]) - 0.5).abs() < 1e-12);
        // Two points: (0.25, 0.5) and (0.5, 0.25): 0.25·0.5 + 0.5·0.75 = 0.5.
        assert!((hypervolume(&[(0.5, 0.25), (0.25, 0.5)]) - 0.5).abs() < 1e-12);
        // A dominated point adds nothing.
        assert!((hypervolume(&[(0.5, 0.25), (0.25, 0.5), (0.6, 0.6)]) - 0.5).abs() < 1e-12);
    }
}
