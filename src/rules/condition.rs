//! Rule conditions: a fixed vocabulary of small predicates over the facts of the classes bound to
//! a rule's variables. A condition that cannot be decided (unknown type, values not known) is
//! false, so the rule does not fire.

use super::facts::class_facts;
use super::sexp::Sexp;
use crate::ir::{Ir, IrData, IrGraph, Literal, Payload};
use crate::ops::Op;
use crate::tensor::DType;
use egg::{Subst, Var};
use std::fmt;

/// Every condition name, as written in rule files.
pub const CONDITION_NAMES: &[&str] = &[
    "same-shape",
    "same-type",
    "rank",
    "dtype",
    "is-float",
    "is-integer",
    "weight-only",
    "constant",
    "finite",
    "pow2",
    "int-range",
    "scalar",
    "lit-eq",
    "broadcasts-to",
    "perm-inverse",
    "not",
];

/// A condition of a rule: `(if (finite ?x) (rank ?x 4))`. All of a rule's conditions must hold.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `(same-shape ?a ?b)`: both are tensors of the same shape.
    SameShape(Var, Var),
    /// `(same-type ?a ?b)`: both are tensors of the same element type and shape.
    SameType(Var, Var),
    /// `(rank ?x N)`: a tensor of rank N.
    Rank(Var, usize),
    /// `(dtype ?x float|int8)`: a tensor of one of these element types.
    DType(Var, Vec<DType>),
    /// `(is-float ?x)`: a floating-point tensor.
    IsFloat(Var),
    /// `(is-integer ?x)`: an integer tensor.
    IsInteger(Var),
    /// `(weight-only ?x)`: depends only on constants (folded at emission).
    WeightOnly(Var),
    /// `(constant ?x)`: a constant as such (a pool constant or a literal), not a computation
    /// on constants.
    Constant(Var),
    /// `(finite ?x)`: known values (a literal or a pool constant), none infinite or NaN.
    Finite(Var),
    /// `(pow2 ?x)`: known values, each ± an exact power of two.
    Pow2(Var),
    /// `(int-range ?x LO HI)`: known values, each an integer in `LO..=HI`.
    IntRange(Var, i64, i64),
    /// `(scalar ?x)`: a literal, or a tensor with exactly one element.
    Scalar(Var),
    /// `(lit-eq ?x V)`: a literal V, or a constant whose every element is V (compared bit for
    /// bit as f64: `-0` and `0` differ).
    LitEq(Var, Literal),
    /// `(broadcasts-to ?a ?b)`: `?a` (a literal, or a tensor) broadcasts to `?b`'s shape unchanged.
    BroadcastsTo(Var, Var),
    /// `(perm-inverse ?p ?q)`: two permutations (`#ints` payloads or Transpose ops) whose
    /// composition is the identity, so `transpose(p, transpose(q, x)) = x`.
    PermInverse(Var, Var),
    /// `(not C)`: the condition C does not hold (including "cannot be decided").
    Not(Box<Condition>),
}

impl Condition {
    /// Whether the condition holds for this match.
    pub fn check(&self, egraph: &IrGraph, subst: &Subst) -> bool {
        let data = |v: &Var| subst.get(*v).map(|&id| &egraph[id].data);
        let ty = |v: &Var| data(v).and_then(IrData::ty);
        let facts = |v: &Var| subst.get(*v).and_then(|&id| class_facts(egraph, id));
        match self {
            Condition::SameShape(a, b) => matches!((ty(a), ty(b)), (Some(x), Some(y)) if x.shape == y.shape),
            Condition::SameType(a, b) => matches!((ty(a), ty(b)), (Some(x), Some(y)) if x == y),
            Condition::Rank(x, n) => ty(x).is_some_and(|t| t.shape.len() == *n),
            Condition::DType(x, dtypes) => ty(x).is_some_and(|t| dtypes.contains(&t.dtype)),
            Condition::IsFloat(x) => ty(x).is_some_and(|t| t.dtype.is_float()),
            Condition::IsInteger(x) => ty(x).is_some_and(|t| t.dtype.is_integer()),
            Condition::WeightOnly(x) => data(x).is_some_and(|d| d.weight_only),
            Condition::Constant(x) => {
                subst.get(*x).is_some_and(|&id| egraph[id].nodes.iter().any(|n| matches!(n, Ir::Const(_) | Ir::Lit(_))))
            }
            Condition::Finite(x) => facts(x).is_some_and(|f| f.finite),
            Condition::Pow2(x) => facts(x).is_some_and(|f| f.pow2),
            Condition::IntRange(x, lo, hi) => {
                facts(x).and_then(|f| f.int_range).is_some_and(|(min, max)| *lo <= min && max <= *hi)
            }
            Condition::Scalar(x) => data(x).is_some_and(|d| d.lit.is_some() || d.ty().is_some_and(|t| t.numel() == 1)),
            Condition::LitEq(x, v) => facts(x).and_then(|f| f.all_equal).is_some_and(|bits| bits == v.0.to_bits()),
            Condition::BroadcastsTo(a, b) => match (data(a), ty(b)) {
                (Some(d), Some(_)) if d.lit.is_some() => true,
                (Some(d), Some(to)) => d.ty().is_some_and(|from| {
                    crate::ops::broadcast_shapes(&from.shape, &to.shape).is_ok_and(|s| s == to.shape)
                }),
                _ => false,
            },
            Condition::PermInverse(p, q) => match (data(p).and_then(perm), data(q).and_then(perm)) {
                (Some(p), Some(q)) => perms_inverse(p, q),
                _ => false,
            },
            Condition::Not(c) => !c.check(egraph, subst),
        }
    }

    /// The variables the condition reads.
    pub fn vars(&self) -> Vec<Var> {
        match self {
            Condition::SameShape(a, b)
            | Condition::SameType(a, b)
            | Condition::BroadcastsTo(a, b)
            | Condition::PermInverse(a, b) => vec![*a, *b],
            Condition::Rank(x, _)
            | Condition::DType(x, _)
            | Condition::IsFloat(x)
            | Condition::IsInteger(x)
            | Condition::WeightOnly(x)
            | Condition::Constant(x)
            | Condition::Finite(x)
            | Condition::Pow2(x)
            | Condition::IntRange(x, _, _)
            | Condition::Scalar(x)
            | Condition::LitEq(x, _) => vec![*x],
            Condition::Not(c) => c.vars(),
        }
    }

    /// Parses `(name args...)`; errors are `(line, name, cause)`, with an empty cause for an
    /// unknown name.
    pub(crate) fn parse(sexp: &Sexp) -> Result<Condition, (usize, String, String)> {
        let line = sexp.line();
        let items = sexp.list().ok_or((line, String::new(), "a condition is a list: (name ?var ...)".into()))?;
        let name = items.first().and_then(Sexp::atom).unwrap_or_default().to_string();
        if !CONDITION_NAMES.contains(&name.as_str()) {
            return Err((line, name, String::new()));
        }
        let args = &items[1..];
        let bad = |cause: &str| (line, name.clone(), cause.to_string());
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(bad(&format!("takes {n} argument{}, found {}", if n == 1 { "" } else { "s" }, args.len())))
            }
        };
        let var = |i: usize| -> Result<Var, (usize, String, String)> {
            let text = args[i].atom().filter(|t| t.starts_with('?')).ok_or_else(|| bad("expected a ?variable"))?;
            text.parse().map_err(|_| bad(&format!("'{text}' is not a variable")))
        };
        let int = |i: usize| -> Result<i64, (usize, String, String)> {
            args[i].atom().and_then(|t| t.parse().ok()).ok_or_else(|| bad("expected an integer"))
        };
        Ok(match name.as_str() {
            "not" => {
                arity(1)?;
                Condition::Not(Box::new(Condition::parse(&args[0])?))
            }
            "same-shape" | "same-type" | "broadcasts-to" | "perm-inverse" => {
                arity(2)?;
                let (a, b) = (var(0)?, var(1)?);
                match name.as_str() {
                    "same-shape" => Condition::SameShape(a, b),
                    "same-type" => Condition::SameType(a, b),
                    "broadcasts-to" => Condition::BroadcastsTo(a, b),
                    _ => Condition::PermInverse(a, b),
                }
            }
            "rank" => {
                arity(2)?;
                let n = int(1)?;
                Condition::Rank(var(0)?, usize::try_from(n).map_err(|_| bad("a rank is not negative"))?)
            }
            "dtype" => {
                arity(2)?;
                let list = args[1].atom().ok_or_else(|| bad("expected element types like float|int8"))?;
                let dtypes = list
                    .split('|')
                    .map(|n| {
                        (1..=26)
                            .filter_map(DType::from_onnx)
                            .find(|d| d.name() == n)
                            .ok_or_else(|| bad(&format!("unknown element type '{n}'")))
                    })
                    .collect::<Result<_, _>>()?;
                Condition::DType(var(0)?, dtypes)
            }
            "int-range" => {
                arity(3)?;
                let (lo, hi) = (int(1)?, int(2)?);
                if lo > hi {
                    return Err(bad("LO is greater than HI"));
                }
                Condition::IntRange(var(0)?, lo, hi)
            }
            "lit-eq" => {
                arity(2)?;
                let v =
                    args[1].atom().and_then(|t| t.parse::<Literal>().ok()).ok_or_else(|| bad("expected a number"))?;
                Condition::LitEq(var(0)?, v)
            }
            _ => {
                arity(1)?;
                let x = var(0)?;
                match name.as_str() {
                    "is-float" => Condition::IsFloat(x),
                    "is-integer" => Condition::IsInteger(x),
                    "weight-only" => Condition::WeightOnly(x),
                    "constant" => Condition::Constant(x),
                    "finite" => Condition::Finite(x),
                    "pow2" => Condition::Pow2(x),
                    _ => Condition::Scalar(x),
                }
            }
        })
    }
}

/// A permutation held by a payload: `#ints:...`, or a Transpose op's (`None` = reversal, whose
/// length is decided by the other side).
fn perm(data: &IrData) -> Option<Option<&[i64]>> {
    match &data.payload {
        Some(Payload::Ints(p)) => Some(Some(p)),
        Some(Payload::Op(op)) => match op.op() {
            Op::Transpose(t) => Some(t.perm.as_deref()),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `p[q[i]] == i` for every axis (negative axes are not permutations here).
fn perms_inverse(p: Option<&[i64]>, q: Option<&[i64]>) -> bool {
    let reversal = |n: usize| (0..n as i64).rev().collect::<Vec<i64>>();
    let (p, q) = match (p, q) {
        (None, None) => return true,
        (Some(p), None) => (p.to_vec(), reversal(p.len())),
        (None, Some(q)) => (reversal(q.len()), q.to_vec()),
        (Some(p), Some(q)) => (p.to_vec(), q.to_vec()),
    };
    let n = p.len() as i64;
    p.len() == q.len()
        && q.iter().enumerate().all(|(i, &qi)| {
            (0..n).contains(&qi) && p.get(qi as usize).is_some_and(|&pq| pq == i as i64) && (0..n).contains(&p[i])
        })
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::SameShape(a, b) => write!(f, "(same-shape {a} {b})"),
            Condition::SameType(a, b) => write!(f, "(same-type {a} {b})"),
            Condition::Rank(x, n) => write!(f, "(rank {x} {n})"),
            Condition::DType(x, ds) => {
                write!(f, "(dtype {x} {})", ds.iter().map(|d| d.name()).collect::<Vec<_>>().join("|"))
            }
            Condition::IsFloat(x) => write!(f, "(is-float {x})"),
            Condition::IsInteger(x) => write!(f, "(is-integer {x})"),
            Condition::WeightOnly(x) => write!(f, "(weight-only {x})"),
            Condition::Constant(x) => write!(f, "(constant {x})"),
            Condition::Finite(x) => write!(f, "(finite {x})"),
            Condition::Pow2(x) => write!(f, "(pow2 {x})"),
            Condition::IntRange(x, lo, hi) => write!(f, "(int-range {x} {lo} {hi})"),
            Condition::Scalar(x) => write!(f, "(scalar {x})"),
            Condition::LitEq(x, v) => write!(f, "(lit-eq {x} {v})"),
            Condition::BroadcastsTo(a, b) => write!(f, "(broadcasts-to {a} {b})"),
            Condition::PermInverse(p, q) => write!(f, "(perm-inverse {p} {q})"),
            Condition::Not(c) => write!(f, "(not {c})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_inverses() {
        assert!(perms_inverse(Some(&[1, 2, 0]), Some(&[2, 0, 1])));
        assert!(!perms_inverse(Some(&[1, 2, 0]), Some(&[1, 2, 0])));
        assert!(perms_inverse(Some(&[1, 0]), Some(&[1, 0])));
        assert!(perms_inverse(None, Some(&[2, 1, 0])) && perms_inverse(None, None));
        assert!(!perms_inverse(Some(&[0, 1]), Some(&[0, 1, 2])));
        assert!(!perms_inverse(Some(&[5, 0]), Some(&[1, 0])));
    }

    #[test]
    fn parses_and_prints_conditions() {
        let doc = super::super::sexp::read("((shiny ?x) (dtype ?x float|int8) (int-range ?w -8 7) (not (finite ?y)))")
            .unwrap();
        let items = doc.forms[0].list().unwrap();
        for (i, text) in ["(dtype ?x float|int8)", "(int-range ?w -8 7)", "(not (finite ?y))"].iter().enumerate() {
            assert_eq!(Condition::parse(&items[i + 1]).unwrap().to_string(), *text);
        }
        assert_eq!(Condition::parse(&items[0]).unwrap_err().2, "");
    }
}
