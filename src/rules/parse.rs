//! Rule files to [`Rule`]s: the `(rule NAME KIND [(if COND...)] LHS => RHS)` form, patterns over
//! the [`Ir`] language, conditions, justification comments, and every check that can be made
//! without a model (operator symbols, `@functions`, bound variables).

use super::condition::{Condition, CONDITION_NAMES};
use super::error::{Location, RuleError};
use super::sexp::{self, Sexp};
use super::{Rule, RuleKind};
use crate::ir::{is_kernel_symbol, kernel_symbol, ConstFns, FnRef, Ir, Payload};
use egg::{ENodeOrVar, FromOp, Id, Language, Pattern, PatternAst, RecExpr, Var};

/// The head of a multi-pattern's left side: `(lhs P1 P2 ...)`.
pub const MULTI_LHS: &str = "lhs";
/// The head of a multi-pattern's right side: `(rhs R1 R2 ...)`.
pub const MULTI_RHS: &str = "rhs";
/// Prefix of the variables the loader binds multi-pattern roots to (reserved in rule files).
pub(crate) const ROOT_PREFIX: &str = "?__root";

const FORM: &str = "expected (rule NAME exact|approx [(if COND...)] LHS => RHS)";

/// Parses every rule of one file.
pub(crate) fn parse_file(file: &str, text: &str, functions: &dyn ConstFns) -> Result<Vec<Rule>, RuleError> {
    let at = |line: usize, rule: Option<&str>| Location { file: file.to_string(), line, rule: rule.map(String::from) };
    let doc = sexp::read(text).map_err(|(line, cause)| RuleError::Syntax { at: at(line, None), cause })?;
    let mut rules = Vec::new();
    for form in &doc.forms {
        let line = form.line();
        let items = form.list().unwrap_or_default();
        if form.head() != Some("rule") {
            return Err(RuleError::Syntax { at: at(line, None), cause: FORM.into() });
        }
        let name = match items.get(1).and_then(Sexp::atom) {
            Some(n) if n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) => n,
            _ => {
                return Err(RuleError::Syntax {
                    at: at(line, None),
                    cause: format!("{FORM}; NAME is letters, digits, - _ ."),
                })
            }
        };
        let at = |l: usize| at(l, Some(name));
        let kind = match items.get(2) {
            Some(Sexp::Atom { text, .. }) if text == "exact" => RuleKind::Exact,
            Some(Sexp::Atom { text, .. }) if text == "approx" => RuleKind::Approx,
            Some(other) => return Err(RuleError::BadKind { at: at(other.line()), kind: other.to_string() }),
            None => return Err(RuleError::Syntax { at: at(line), cause: FORM.into() }),
        };
        let comment: Vec<String> = doc.comment_above(line);
        if comment.iter().all(|l| l.is_empty()) {
            return Err(RuleError::MissingComment { at: at(line) });
        }
        let mut rest = &items[3..];
        let mut conditions = Vec::new();
        if let Some(cond) = rest.first().filter(|s| s.head() == Some("if")) {
            conditions = parse_conditions(cond, &at)?;
            rest = &rest[1..];
        }
        let (lhs_sexp, rhs_sexp) = match rest {
            [l, arrow, r] if arrow.atom() == Some("=>") => (l, r),
            _ => {
                let l = rest.first().map_or(line, Sexp::line);
                return Err(RuleError::Syntax {
                    at: at(l),
                    cause: format!("{FORM}: found {} items after the kind", rest.len()),
                });
            }
        };
        let mut b = Builder { functions, kind, at: &at, vars: Vec::new(), values: Vec::new() };
        let lhs = b.side(lhs_sexp, MULTI_LHS)?;
        let bound: Vec<Var> = b.vars.iter().map(|(v, _)| *v).collect();
        for (p, s) in lhs.iter().zip(sides(lhs_sexp, MULTI_LHS)) {
            if matches!(p.ast.as_ref(), [ENodeOrVar::Var(_)]) {
                return Err(RuleError::BadPattern {
                    at: at(s.line()),
                    cause: "a left side must be an operator pattern, not a bare variable".into(),
                });
            }
        }
        if let Some((_, l)) = b.values.first() {
            return Err(RuleError::BadPattern {
                at: at(*l),
                cause: format!("({VALUE_OF} ?x) belongs on a right side"),
            });
        }
        b.vars.clear();
        let rhs = b.side(rhs_sexp, MULTI_RHS)?;
        let values: Vec<(Var, Var)> = b.values.iter().map(|((fresh, src), _)| (*fresh, *src)).collect();
        if lhs.len() != rhs.len() {
            return Err(RuleError::BadPattern {
                at: at(rhs_sexp.line()),
                cause: format!("the left side has {} patterns, the right side {}", lhs.len(), rhs.len()),
            });
        }
        if let Some((v, l)) = b.vars.iter().find(|(v, _)| !bound.contains(v)) {
            return Err(RuleError::Unbound { at: at(*l), var: v.to_string() });
        }
        for c in &conditions {
            if let Some(v) = c.vars().into_iter().find(|v| !bound.contains(v)) {
                return Err(RuleError::Unbound { at: at(line), var: format!("{v} (in condition {c})") });
            }
        }
        rules.push(Rule {
            name: name.to_string(),
            kind,
            lhs,
            rhs,
            conditions,
            values,
            comment: comment.join("\n"),
            file: file.to_string(),
            line,
        });
    }
    Ok(rules)
}

/// The patterns of one side: the items of `(lhs ...)`/`(rhs ...)`, or the side itself.
fn sides<'s>(side: &'s Sexp, multi: &str) -> &'s [Sexp] {
    match side.list() {
        Some([_, patterns @ ..]) if side.head() == Some(multi) => patterns,
        _ => std::slice::from_ref(side),
    }
}

fn parse_conditions(cond: &Sexp, at: &dyn Fn(usize) -> Location) -> Result<Vec<Condition>, RuleError> {
    let items = &cond.list().unwrap_or_default()[1..];
    // `(if finite ?x)` is one condition written flat; `(if (finite ?x) (rank ?x 4))` is a list.
    let flat;
    let conds: &[Sexp] = if items.first().is_some_and(|s| s.atom().is_some()) {
        flat = [Sexp::List { items: items.to_vec(), line: cond.line() }];
        &flat
    } else {
        items
    };
    if conds.is_empty() {
        return Err(RuleError::Syntax { at: at(cond.line()), cause: "(if) lists no condition".into() });
    }
    conds
        .iter()
        .map(|c| {
            Condition::parse(c).map_err(|(line, name, cause)| {
                if cause.is_empty() {
                    let known = CONDITION_NAMES.join(", ");
                    RuleError::UnknownCondition { at: at(line), name, known }
                } else {
                    RuleError::BadCondition { at: at(line), name, cause }
                }
            })
        })
        .collect()
}

/// `(value-of ?x)` on a right side: the literal of the one value every element of the constant
/// bound to `?x` holds (a scalar epsilon in a recognized LayerNormalization).
pub(crate) const VALUE_OF: &str = "value-of";

/// The variable a `(value-of ?x)` is bound to at apply time.
const VALUE_PREFIX: &str = "?value-of-";

/// Builds patterns, collecting the variables it meets with their lines.
struct Builder<'a> {
    functions: &'a dyn ConstFns,
    /// Approximate rules may also call fitting functions ([`super::fits`]).
    kind: RuleKind,
    at: &'a dyn Fn(usize) -> Location,
    vars: Vec<(Var, usize)>,
    /// `(value-of ?x)` forms met: (the variable standing for the literal, `?x`), with lines.
    values: Vec<((Var, Var), usize)>,
}

impl Builder<'_> {
    fn side(&mut self, side: &Sexp, multi: &str) -> Result<Vec<Pattern<Ir>>, RuleError> {
        let patterns = sides(side, multi);
        if patterns.is_empty() {
            return Err(RuleError::Syntax { at: (self.at)(side.line()), cause: format!("({multi}) lists no pattern") });
        }
        patterns
            .iter()
            .map(|p| {
                let mut ast = PatternAst::default();
                self.build(p, &mut ast)?;
                Ok(Pattern::new(ast))
            })
            .collect()
    }

    fn build(&mut self, sexp: &Sexp, ast: &mut RecExpr<ENodeOrVar<Ir>>) -> Result<Id, RuleError> {
        let line = sexp.line();
        let at = || (self.at)(line);
        let (op, children) = match sexp {
            Sexp::Atom { text, .. } => {
                if text.starts_with('?') {
                    let var: Var = text
                        .parse()
                        .map_err(|_| RuleError::Syntax { at: at(), cause: format!("'{text}' is not a variable") })?;
                    if text.starts_with(ROOT_PREFIX) {
                        return Err(RuleError::BadPattern {
                            at: at(),
                            cause: format!("variables named {ROOT_PREFIX}... are reserved"),
                        });
                    }
                    self.vars.push((var, line));
                    return Ok(ast.add(ENodeOrVar::Var(var)));
                }
                if text.starts_with('#') {
                    let p = text.parse::<Payload>().map_err(|cause| RuleError::Syntax { at: at(), cause })?;
                    return Ok(ast.add(ENodeOrVar::ENode(Ir::Payload(p))));
                }
                if text.starts_with('%') || text.starts_with('$') {
                    let cause = format!("'{text}' names a constant or an input of one model; rules use ?variables");
                    return Err(RuleError::BadPattern { at: at(), cause });
                }
                (text.as_str(), Vec::new())
            }
            Sexp::List { items, .. } => {
                let (head, args) =
                    items.split_first().ok_or_else(|| RuleError::Syntax { at: at(), cause: "empty list".into() })?;
                if head.atom() == Some(VALUE_OF) {
                    let src = match args {
                        [Sexp::Atom { text, .. }] if text.starts_with('?') => text,
                        _ => {
                            let cause = format!("({VALUE_OF} ?x) takes one variable");
                            return Err(RuleError::Syntax { at: at(), cause });
                        }
                    };
                    let fresh = format!("{VALUE_PREFIX}{}", &src[1..]);
                    let bad = |_| RuleError::Syntax { at: at(), cause: format!("'{src}' is not a variable") };
                    let (fresh, src): (Var, Var) = (fresh.parse().map_err(bad)?, src.parse().map_err(bad)?);
                    self.vars.push((src, line));
                    self.values.push(((fresh, src), line));
                    return Ok(ast.add(ENodeOrVar::Var(fresh)));
                }
                let op = head
                    .atom()
                    .ok_or_else(|| RuleError::Syntax { at: at(), cause: "an operator must be a symbol".into() })?;
                let children = args.iter().map(|a| self.build(a, ast)).collect::<Result<Vec<Id>, _>>()?;
                (op, children)
            }
        };
        let node = self.node(op, children, line)?;
        Ok(ast.add(ENodeOrVar::ENode(node)))
    }

    fn node(&self, op: &str, children: Vec<Id>, line: usize) -> Result<Ir, RuleError> {
        let at = || (self.at)(line);
        let unknown = || RuleError::UnknownOperator { at: at(), op: op.to_string() };
        if let Some(name) = op.strip_prefix('@') {
            let fit = self.kind == RuleKind::Approx && super::fits::is_fit_name(name);
            if !fit && !self.functions.names().contains(&name) {
                let known = self.functions.names().iter().map(|n| format!("@{n}")).collect::<Vec<_>>();
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                return Err(RuleError::UnknownFunction { at: at(), name: name.to_string(), known });
            }
            let f: FnRef = op.parse().map_err(|cause| RuleError::Syntax { at: at(), cause })?;
            return Ok(Ir::Fun(f, children.into()));
        }
        // ONNX spelling (`Transpose`) always names the kernel, even where a primitive of the
        // same lower-case name takes the same number of children.
        if op.starts_with(|c: char| c.is_ascii_uppercase()) {
            if crate::ops::SUPPORTED.contains(&op) && op != "Constant" && !children.is_empty() {
                return Ok(Ir::Kernel(kernel_symbol(op), children.into()));
            }
            return Err(unknown());
        }
        match Ir::from_op(op, children) {
            // A lower-case kernel name no primitive claims (`relu`): the kernel of that op.
            Ok(Ir::Kernel(sym, ch)) => {
                let onnx = crate::ops::SUPPORTED.iter().find(|s| s.eq_ignore_ascii_case(sym.as_str()));
                match onnx {
                    Some(onnx) if is_kernel_symbol(onnx) && !ch.is_empty() => Ok(Ir::Kernel(kernel_symbol(onnx), ch)),
                    _ => Err(unknown()),
                }
            }
            Ok(Ir::Opaque(_) | Ir::Outputs(_)) => {
                Err(RuleError::BadPattern { at: at(), cause: format!("'{op}' nodes cannot appear in rules") })
            }
            Ok(node) => Ok(node),
            Err(_) => Err(unknown()),
        }
    }
}

/// A pattern as rule-file text (kernels print in ONNX spelling, so the text reads back to the
/// same pattern).
pub(crate) fn pattern_text(pattern: &Pattern<Ir>) -> String {
    fn go(ast: &[ENodeOrVar<Ir>], id: Id, out: &mut String) {
        match &ast[usize::from(id)] {
            ENodeOrVar::Var(v) => out.push_str(&v.to_string()),
            ENodeOrVar::ENode(node) => {
                let op = node.to_string();
                if node.is_leaf() {
                    out.push_str(&op);
                    return;
                }
                out.push('(');
                out.push_str(&op);
                for &c in node.children() {
                    out.push(' ');
                    go(ast, c, out);
                }
                out.push(')');
            }
        }
    }
    let ast = pattern.ast.as_ref();
    let mut out = String::new();
    if !ast.is_empty() {
        go(ast, Id::from(ast.len() - 1), &mut out);
    }
    out
}
