//! The accuracy budget of approx mode (`--budget acc=0.5 | agree=0.99 | rel=0.02`) and the
//! figures a model's outputs are judged by: labelled accuracy, top-1 agreement with the
//! original model, and the relative L2 error of the outputs.

use crate::tensor::Tensor;
use serde::Serialize;

/// How much a model may lose against the original.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "metric", content = "value")]
pub enum Budget {
    /// Labelled top-1 accuracy may drop by at most this many percentage points.
    Acc(f64),
    /// Top-1 agreement with the original model must stay at least this fraction (0–1).
    Agree(f64),
    /// The relative L2 error of the outputs against the original's must stay at most this.
    Rel(f64),
}

impl std::str::FromStr for Budget {
    type Err = String;

    fn from_str(s: &str) -> Result<Budget, String> {
        let form = "a budget is acc=POINTS, agree=FRACTION or rel=ERROR (e.g. acc=0.5)";
        let (metric, value) = s.split_once('=').ok_or_else(|| format!("'{s}': {form}"))?;
        let v: f64 = value.trim().parse().map_err(|_| format!("'{s}': '{value}' is not a number; {form}"))?;
        let budget = match metric.trim() {
            "acc" if (0.0..=100.0).contains(&v) => Budget::Acc(v),
            "agree" if (0.0..=1.0).contains(&v) => Budget::Agree(v),
            "rel" if v >= 0.0 && v.is_finite() => Budget::Rel(v),
            "acc" => return Err(format!("'{s}': an accuracy drop is between 0 and 100 points")),
            "agree" => return Err(format!("'{s}': an agreement is a fraction between 0 and 1")),
            "rel" => return Err(format!("'{s}': a relative error is a finite number ≥ 0")),
            other => return Err(format!("'{s}': unknown metric '{other}'; {form}")),
        };
        Ok(budget)
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Budget::Acc(v) => write!(f, "acc={v}"),
            Budget::Agree(v) => write!(f, "agree={v}"),
            Budget::Rel(v) => write!(f, "rel={v}"),
        }
    }
}

/// A model's outputs on a dataset, judged against the original model's outputs there.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Samples judged.
    pub samples: usize,
    /// Labelled top-1 accuracy in percent (when labels were given and the first output is
    /// classifier-shaped).
    pub accuracy: Option<f64>,
    /// Fraction of samples whose top-1 class equals the original model's (classifier-shaped
    /// first output).
    pub agreement: Option<f64>,
    /// `sqrt(Σ‖y − y₀‖² / Σ‖y₀‖²)` over every output of every sample (0 when identical).
    pub rel_l2: f64,
}

/// The top-1 class of one row of class scores (`[C]` or `[1, C]`), `None` otherwise.
fn top1(t: &Tensor) -> Option<usize> {
    let one_row = t.shape.last().is_some_and(|&c| c == t.numel());
    if !(one_row && crate::verify::compare::is_classifier_shaped(&t.shape)) {
        return None;
    }
    crate::verify::compare::argmax(&t.to_f64_vec()?)
}

/// The figures of `outputs` (per sample, every output) against the original model's
/// `reference` outputs on the same samples, with `labels` when known.
pub fn figures(reference: &[Vec<Tensor>], outputs: &[Vec<Tensor>], labels: Option<&[i64]>) -> Figures {
    let (mut num, mut den) = (0f64, 0f64);
    let (mut agree, mut correct, mut classified) = (0usize, 0usize, 0usize);
    for (i, (r, o)) in reference.iter().zip(outputs).enumerate() {
        for (rt, ot) in r.iter().zip(o) {
            if let (Some(a), Some(b)) = (rt.to_f64_vec(), ot.to_f64_vec()) {
                for (x, y) in a.iter().zip(&b) {
                    num += (y - x) * (y - x);
                    den += x * x;
                }
            }
        }
        if let (Some(rc), Some(oc)) = (r.first().and_then(top1), o.first().and_then(top1)) {
            classified += 1;
            agree += (rc == oc) as usize;
            if let Some(l) = labels.and_then(|l| l.get(i)) {
                correct += (oc as i64 == *l) as usize;
            }
        }
    }
    let n = outputs.len();
    let whole = classified == n && n > 0;
    Figures {
        samples: n,
        accuracy: (whole && labels.is_some()).then(|| 100.0 * correct as f64 / n as f64),
        agreement: whole.then(|| agree as f64 / n as f64),
        rel_l2: if den > 0.0 { (num / den).sqrt() } else { num.sqrt() },
    }
}

impl Budget {
    /// Whether the metric this budget needs is available in `f` (accuracy needs labels and a
    /// classifier-shaped output, agreement a classifier-shaped output).
    pub fn measurable(&self, f: &Figures) -> Result<(), String> {
        match self {
            Budget::Acc(_) if f.accuracy.is_none() => Err(
                "--budget acc needs labels (--labels, and --eval-labels with --eval) and a classifier-shaped first output"
                    .into(),
            ),
            Budget::Agree(_) if f.agreement.is_none() => {
                Err("--budget agree needs a classifier-shaped first output (one row of class scores)".into())
            }
            _ => Ok(()),
        }
    }

    /// The share of the budget `f` uses against the original's figures `original` (0: no
    /// loss; 1: all of it; above 1: over budget). A zero budget is used up by any loss.
    pub fn used(&self, f: &Figures, original: &Figures) -> f64 {
        let share = |loss: f64, allowed: f64| {
            if loss <= 0.0 {
                0.0
            } else if allowed <= 0.0 {
                f64::INFINITY
            } else {
                loss / allowed
            }
        };
        match *self {
            Budget::Acc(points) => {
                share(original.accuracy.unwrap_or(0.0) - f.accuracy.unwrap_or(f64::NEG_INFINITY), points)
            }
            Budget::Agree(fraction) => share(1.0 - f.agreement.unwrap_or(0.0), 1.0 - fraction),
            Budget::Rel(rel) => share(f.rel_l2, rel),
        }
    }

    /// Whether `f` stays inside the budget.
    pub fn holds(&self, f: &Figures, original: &Figures) -> bool {
        self.used(f, original) <= 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[f32]) -> Vec<Tensor> {
        vec![Tensor::f32(vec![1, v.len()], v.to_vec())]
    }

    #[test]
    fn budgets_parse_and_print() {
        assert_eq!("acc=0.5".parse::<Budget>(), Ok(Budget::Acc(0.5)));
        assert_eq!("agree=0.99".parse::<Budget>(), Ok(Budget::Agree(0.99)));
        assert_eq!("rel=0.02".parse::<Budget>().unwrap().to_string(), "rel=0.02");
        assert!("agree=99".parse::<Budget>().unwrap_err().contains("fraction"));
        assert!("top5=1".parse::<Budget>().unwrap_err().contains("unknown metric"));
        assert!("acc".parse::<Budget>().is_err());
    }

    #[test]
    fn figures_count_agreement_accuracy_and_relative_error() {
        let reference = vec![row(&[0.0, 1.0]), row(&[1.0, 0.0]), row(&[0.0, 2.0])];
        let outputs = vec![row(&[0.0, 1.0]), row(&[0.0, 1.0]), row(&[0.0, 2.0])];
        let f = figures(&reference, &outputs, Some(&[1, 0, 0]));
        assert_eq!(f.agreement, Some(2.0 / 3.0));
        assert_eq!(f.accuracy, Some(100.0 / 3.0));
        // ‖Δ‖² = 2, ‖y₀‖² = 6.
        assert!((f.rel_l2 - (2.0f64 / 6.0).sqrt()).abs() < 1e-12);
        let original = figures(&reference, &reference, Some(&[1, 0, 0]));
        assert_eq!(original.accuracy, Some(200.0 / 3.0));
        assert!(!Budget::Acc(30.0).holds(&f, &original));
        assert!(Budget::Acc(34.0).holds(&f, &original));
        assert!((Budget::Agree(0.5).used(&f, &original) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn unmeasurable_budgets_say_what_they_need() {
        let reference = vec![vec![Tensor::f32(vec![4, 4], vec![0.0; 16])]];
        let f = figures(&reference, &reference, None);
        assert_eq!(f.agreement, None);
        assert!(Budget::Agree(0.9).measurable(&f).unwrap_err().contains("classifier"));
        assert!(Budget::Rel(0.1).measurable(&f).is_ok());
    }
}
