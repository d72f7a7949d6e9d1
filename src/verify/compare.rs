//! Comparing two tensors: the tolerance policy per element type and the figures of agreement
//! (max abs, max rel, cosine similarity, top-1 agreement of classifier-shaped outputs).
//!
//! # Tolerance policy
//!
//! An element passes when `|actual - expected| <= abs + rel * |expected|` (numpy's
//! `allclose` rule, asymmetric: the reference's magnitude scales the slack).
//!
//! | element type | abs | rel | why |
//! |---|---|---|---|
//! | float, double | 1e-4 | 1e-4 | reordered f32 sums drift by a few ulps per term; 1e-4 covers deep nets on inputs in [-1, 1] while catching a wrong op |
//! | float16 | 1e-2 | 1e-2 | 10 mantissa bits: one ulp at 1.0 is 9.8e-4, ten ulps of slack |
//! | bfloat16 | 5e-2 | 5e-2 | 7 mantissa bits: one ulp at 1.0 is 7.8e-3, about six ulps of slack |
//! | int8, uint8 | 1 | 0 | quantized outputs: runtimes round requantization ties differently (half-even vs half-away), one step |
//! | other integers | 0 | 0 | exact |
//! | bool, string | exact | | |
//!
//! NaN agrees with NaN; NaN against a number fails. Infinities agree with the same infinity only.

use crate::tensor::{shape_string, DType, Tensor, TensorData};
use serde::Serialize;

/// The pass rule for one element type: `|actual - expected| <= abs + rel * |expected|`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerance {
    /// Absolute slack.
    pub abs: f64,
    /// Slack relative to the expected value's magnitude.
    pub rel: f64,
}

impl Tolerance {
    /// Exact agreement.
    pub const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

    /// A tolerance from its parts.
    pub const fn new(abs: f64, rel: f64) -> Tolerance {
        Tolerance { abs, rel }
    }

    /// Whether `actual` agrees with `expected` (NaN agrees only with NaN).
    pub fn accepts(&self, expected: f64, actual: f64) -> bool {
        if expected.is_nan() || actual.is_nan() {
            return expected.is_nan() && actual.is_nan();
        }
        if expected == actual {
            return true; // equal infinities, and exact agreement under a zero tolerance
        }
        if expected.is_infinite() || actual.is_infinite() {
            return false;
        }
        (actual - expected).abs() <= self.abs + self.rel * expected.abs()
    }
}

/// Tolerances per element type (see the module documentation for the defaults and why).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TolerancePolicy {
    /// float and double.
    pub f32: Tolerance,
    /// float16.
    pub f16: Tolerance,
    /// bfloat16.
    pub bf16: Tolerance,
    /// int8 and uint8 (quantized activations).
    pub int8: Tolerance,
    /// Every other integer type.
    pub integer: Tolerance,
}

impl Default for TolerancePolicy {
    fn default() -> Self {
        TolerancePolicy {
            f32: Tolerance::new(1e-4, 1e-4),
            f16: Tolerance::new(1e-2, 1e-2),
            bf16: Tolerance::new(5e-2, 5e-2),
            int8: Tolerance::new(1.0, 0.0),
            integer: Tolerance::EXACT,
        }
    }
}

impl TolerancePolicy {
    /// A policy that accepts every value (the figures are still computed): for models judged
    /// by another measure, such as approx mode's budget.
    pub fn accept_any() -> TolerancePolicy {
        let any = Tolerance::new(f64::INFINITY, f64::INFINITY);
        TolerancePolicy { f32: any, f16: any, bf16: any, int8: any, integer: any }
    }

    /// The tolerance for an element type (bool, string and carried-only types are exact).
    pub fn for_dtype(&self, dtype: DType) -> Tolerance {
        match dtype {
            DType::F32 | DType::F64 => self.f32,
            DType::F16 => self.f16,
            DType::BF16 => self.bf16,
            DType::I8 | DType::U8 => self.int8,
            DType::I16 | DType::I32 | DType::I64 | DType::U16 | DType::U32 | DType::U64 => self.integer,
            DType::Bool | DType::Str | DType::Other(_) => Tolerance::EXACT,
        }
    }
}

/// Top-1 agreement over the rows of a classifier-shaped output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Top1 {
    /// Rows whose arg-max agrees.
    pub agree: usize,
    /// Rows compared.
    pub rows: usize,
}

/// How closely one output agrees with its reference (over one or several input sets).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Elements compared.
    pub elements: usize,
    /// Elements outside the tolerance (NaN mismatches included).
    pub out_of_tolerance: usize,
    /// Elements where exactly one side is NaN.
    pub nan_mismatches: usize,
    /// Largest `|actual - expected|` over pairs where neither is NaN (infinite when one side is
    /// infinite and the other not; JSON writes that as `null`).
    pub max_abs: f64,
    /// Largest `|actual - expected| / |expected|` over pairs with a nonzero finite expected
    /// value (pairs with expected 0 are covered by `max_abs`).
    pub max_rel: f64,
    /// Cosine similarity over pairs where both are finite (1 when both sides are all zero, 0
    /// when exactly one is); over several sets, the smallest. `None` when nothing was finite.
    pub cosine: Option<f64>,
    /// Arg-max agreement when the output looks like class scores: rank 1 or 2, last dimension
    /// at least 2, batch-major.
    pub top1: Option<Top1>,
}

impl Figures {
    /// Folds another set's figures into these (maxima, minimum cosine, summed counts).
    pub fn merge(&mut self, other: &Figures) {
        self.elements += other.elements;
        self.out_of_tolerance += other.out_of_tolerance;
        self.nan_mismatches += other.nan_mismatches;
        self.max_abs = self.max_abs.max(other.max_abs);
        self.max_rel = self.max_rel.max(other.max_rel);
        self.cosine = match (self.cosine, other.cosine) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.top1 = match (self.top1, other.top1) {
            (Some(a), Some(b)) => Some(Top1 { agree: a.agree + b.agree, rows: a.rows + b.rows }),
            (a, b) => a.or(b),
        };
    }
}

/// The outcome of comparing one tensor with its reference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The figures (all zero when the tensors could not be compared element by element).
    pub figures: Figures,
    /// Whether every element agreed within the tolerance.
    pub passed: bool,
    /// Why it failed, in one line (`None` when it passed).
    pub reason: Option<String>,
}

/// Whether a shape looks like class scores: `[C]` or `[N, C]` with `C >= 2`.
pub fn is_classifier_shaped(shape: &[usize]) -> bool {
    (1..=2).contains(&shape.len()) && shape.last().is_some_and(|&c| c >= 2)
}

/// Index of the largest element (first on ties; NaN never wins).
pub fn argmax(row: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &x) in row.iter().enumerate() {
        if !x.is_nan() && best.is_none_or(|b| x > row[b]) {
            best = Some(i);
        }
    }
    best
}

/// The figures of `actual` against `expected`, element by element, with a tolerance.
pub fn figures(expected: &[f64], actual: &[f64], shape: &[usize], tol: Tolerance) -> Figures {
    let mut f = Figures { elements: expected.len(), ..Figures::default() };
    let (mut dot, mut ne, mut na) = (0.0f64, 0.0f64, 0.0f64);
    let mut finite = 0usize;
    for (&e, &a) in expected.iter().zip(actual) {
        if !tol.accepts(e, a) {
            f.out_of_tolerance += 1;
        }
        if e.is_nan() || a.is_nan() {
            if e.is_nan() != a.is_nan() {
                f.nan_mismatches += 1;
            }
            continue;
        }
        let diff = if e == a { 0.0 } else { (a - e).abs() };
        f.max_abs = f.max_abs.max(diff);
        if e != 0.0 && e.is_finite() {
            f.max_rel = f.max_rel.max(diff / e.abs());
        }
        if e.is_finite() && a.is_finite() {
            finite += 1;
            dot += e * a;
            ne += e * e;
            na += a * a;
        }
    }
    f.cosine = match (finite, ne == 0.0, na == 0.0) {
        (0, _, _) => None,
        (_, true, true) => Some(1.0),
        (_, true, false) | (_, false, true) => Some(0.0),
        _ => Some((dot / (ne.sqrt() * na.sqrt())).clamp(-1.0, 1.0)),
    };
    if is_classifier_shaped(shape) && expected.len() == actual.len() {
        let c = shape[shape.len() - 1];
        let rows = expected.len() / c;
        let agree =
            (0..rows).filter(|&r| argmax(&expected[r * c..(r + 1) * c]) == argmax(&actual[r * c..(r + 1) * c])).count();
        f.top1 = Some(Top1 { agree, rows });
    }
    f
}

/// Compares `actual` with `expected` under `policy`: element types and shapes must match, then
/// every element must agree within the element type's tolerance.
pub fn compare(expected: &Tensor, actual: &Tensor, policy: &TolerancePolicy) -> Comparison {
    let fail = |reason: String| Comparison { figures: Figures::default(), passed: false, reason: Some(reason) };
    if expected.dtype != actual.dtype {
        return fail(format!("element type {} where {} was expected", actual.dtype, expected.dtype));
    }
    if expected.shape != actual.shape {
        return fail(format!(
            "shape {} where {} was expected",
            shape_string(&actual.shape),
            shape_string(&expected.shape)
        ));
    }
    match (&expected.data, &actual.data) {
        (TensorData::Str(e), TensorData::Str(a)) => {
            let bad = e.iter().zip(a).filter(|(x, y)| x != y).count();
            let figures = Figures { elements: e.len(), out_of_tolerance: bad, ..Figures::default() };
            let reason = (bad > 0).then(|| format!("{bad} of {} strings differ", e.len()));
            return Comparison { figures, passed: bad == 0, reason };
        }
        (TensorData::Raw(e), TensorData::Raw(a)) => {
            let same = e == a;
            let figures =
                Figures { elements: expected.numel(), out_of_tolerance: usize::from(!same), ..Figures::default() };
            let reason = (!same).then(|| format!("packed {} data differs", expected.dtype));
            return Comparison { figures, passed: same, reason };
        }
        _ => {}
    }
    let (Some(e), Some(a)) = (expected.to_f64_vec(), actual.to_f64_vec()) else {
        return fail(format!("cannot compare {} tensors", expected.dtype));
    };
    if e.len() != a.len() || e.len() != expected.numel() {
        return fail(format!("{} elements where {} were expected", a.len(), e.len()));
    }
    let tol = policy.for_dtype(expected.dtype);
    let figures = figures(&e, &a, &expected.shape, tol);
    let passed = figures.out_of_tolerance == 0;
    let reason = (!passed).then(|| describe_failure(&figures, tol));
    Comparison { figures, passed, reason }
}

/// One line saying how an output missed its tolerance.
pub fn describe_failure(f: &Figures, tol: Tolerance) -> String {
    let mut s = format!(
        "{} of {} elements outside abs {:e} + rel {:e} (max abs {:.3e}, max rel {:.3e}",
        f.out_of_tolerance, f.elements, tol.abs, tol.rel, f.max_abs, f.max_rel
    );
    if f.nan_mismatches > 0 {
        s += &format!(", {} NaN mismatches", f.nan_mismatches);
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn figures_by_hand() {
        // diffs 0, 0.5, 1 ; rel 0, 0.25, 1/3
        let e = [1.0, 2.0, 3.0];
        let a = [1.0, 2.5, 2.0];
        let f = figures(&e, &a, &[3], Tolerance::new(0.1, 0.0));
        assert!(close(f.max_abs, 1.0));
        assert!(close(f.max_rel, 1.0 / 3.0));
        // cos = (1 + 5 + 6) / (sqrt(14) * sqrt(11.25))
        assert!(close(f.cosine.unwrap(), 12.0 / (14f64.sqrt() * 11.25f64.sqrt())));
        assert_eq!(f.out_of_tolerance, 2);
        // rank 1, 3 classes: argmax 2 vs 1
        assert_eq!(f.top1, Some(Top1 { agree: 0, rows: 1 }));
    }

    #[test]
    fn top1_per_row_and_shapes() {
        let e = [0.1, 0.9, 0.8, 0.2];
        let a = [0.2, 0.7, 0.1, 0.3];
        let f = figures(&e, &a, &[2, 2], Tolerance::EXACT);
        assert_eq!(f.top1, Some(Top1 { agree: 1, rows: 2 }));
        assert!(is_classifier_shaped(&[1, 10]) && is_classifier_shaped(&[10]));
        assert!(!is_classifier_shaped(&[1, 1]) && !is_classifier_shaped(&[1, 3, 4]) && !is_classifier_shaped(&[]));
    }

    #[test]
    fn cosine_edge_cases() {
        assert_eq!(figures(&[0.0, 0.0], &[0.0, 0.0], &[2], Tolerance::EXACT).cosine, Some(1.0));
        assert_eq!(figures(&[0.0, 0.0], &[1.0, 0.0], &[2], Tolerance::EXACT).cosine, Some(0.0));
        assert!(close(figures(&[1.0, 0.0], &[-1.0, 0.0], &[2], Tolerance::EXACT).cosine.unwrap(), -1.0));
        assert_eq!(figures(&[f64::NAN], &[f64::NAN], &[1], Tolerance::EXACT).cosine, None);
    }

    #[test]
    fn nan_and_infinity() {
        let t = Tolerance::new(1e-4, 1e-4);
        assert!(t.accepts(f64::NAN, f64::NAN));
        assert!(!t.accepts(f64::NAN, 1.0) && !t.accepts(1.0, f64::NAN));
        assert!(t.accepts(f64::INFINITY, f64::INFINITY));
        assert!(!t.accepts(f64::INFINITY, f64::NEG_INFINITY) && !t.accepts(f64::INFINITY, 1e30));
        let f = figures(&[f64::NAN, 1.0, f64::NAN], &[f64::NAN, 1.0, 2.0], &[3], t);
        assert_eq!((f.nan_mismatches, f.out_of_tolerance), (1, 1));
        assert_eq!(f.max_abs, 0.0);
    }

    #[test]
    fn tolerance_policy() {
        let p = TolerancePolicy::default();
        let f32t = p.for_dtype(DType::F32);
        assert!(f32t.accepts(1.0, 1.0 + 1.9e-4)); // 1e-4 + 1e-4 * 1
        assert!(!f32t.accepts(1.0, 1.0 + 2.1e-4));
        assert!(f32t.accepts(1000.0, 1000.09)); // relative slack for large magnitudes
        assert!(!f32t.accepts(0.0, 2e-4));
        assert!(p.for_dtype(DType::F16).abs > f32t.abs && p.for_dtype(DType::BF16).abs > p.for_dtype(DType::F16).abs);
        assert!(p.for_dtype(DType::U8).accepts(10.0, 11.0) && !p.for_dtype(DType::U8).accepts(10.0, 12.0));
        assert!(!p.for_dtype(DType::I64).accepts(10.0, 11.0));
        assert_eq!(p.for_dtype(DType::Bool), Tolerance::EXACT);
    }

    #[test]
    fn compare_checks_types_and_shapes() {
        let p = TolerancePolicy::default();
        let a = Tensor::f32(vec![2], vec![1.0, 2.0]);
        assert!(compare(&a, &a, &p).passed);
        let b = Tensor::f32(vec![1, 2], vec![1.0, 2.0]);
        assert!(compare(&a, &b, &p).reason.unwrap().contains("shape 1x2"));
        let c = Tensor::i64(vec![2], vec![1, 2]);
        assert!(compare(&a, &c, &p).reason.unwrap().contains("int64"));
        let d = Tensor::f32(vec![2], vec![1.0, 2.1]);
        let r = compare(&a, &d, &p);
        assert!(!r.passed && r.reason.unwrap().starts_with("1 of 2 elements"));
    }

    #[test]
    fn merge_keeps_worst() {
        let mut a = Figures {
            elements: 2,
            max_abs: 0.5,
            cosine: Some(0.9),
            top1: Some(Top1 { agree: 1, rows: 1 }),
            ..Figures::default()
        };
        let b = Figures {
            elements: 3,
            max_abs: 0.1,
            max_rel: 2.0,
            cosine: Some(0.8),
            top1: Some(Top1 { agree: 0, rows: 1 }),
            ..Figures::default()
        };
        a.merge(&b);
        assert_eq!((a.elements, a.max_abs, a.max_rel, a.cosine), (5, 0.5, 2.0, Some(0.8)));
        assert_eq!(a.top1, Some(Top1 { agree: 1, rows: 2 }));
    }
}
