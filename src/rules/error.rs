//! Rule loading errors: every one names the file and line, and the rule once its name is read.

use std::fmt;

/// Where a problem is: `file:line`, then `: rule NAME` once the rule's name is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The rule file (`rules/algebra.rules` for shipped rules, the path as given otherwise).
    pub file: String,
    /// 1-based line of the offending token.
    pub line: usize,
    /// The rule's name, when it has been read.
    pub rule: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(rule) = &self.rule {
            write!(f, ": rule {rule}")?;
        }
        Ok(())
    }
}

/// Why a rule file could not be loaded. Displayed as `file:line: rule NAME: cause`.
// Variant fields are named for what they hold and appear in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// The file could not be read.
    #[error("{path}: cannot read the rule file: {cause}")]
    Io { path: String, cause: String },
    /// The text is not a well-formed `(rule ...)` form.
    #[error("{at}: syntax error: {cause}")]
    Syntax { at: Location, cause: String },
    /// The kind is neither `exact` nor `approx`.
    #[error("{at}: bad kind '{kind}' (expected exact or approx)")]
    BadKind { at: Location, kind: String },
    /// The rule has no `;;` comment block directly above it.
    #[error("{at}: missing justification: write a ';;' comment saying why the rule holds directly above it")]
    MissingComment { at: Location },
    /// Another loaded rule has the same name.
    #[error("{at}: duplicate rule name (first defined at {first})")]
    Duplicate { at: Location, first: String },
    /// An operator symbol that is neither a primitive nor a supported kernel.
    #[error("{at}: unknown operator '{op}' (not a primitive of the IR nor a supported ONNX op)")]
    UnknownOperator { at: Location, op: String },
    /// A `@name` the function table does not know.
    #[error("{at}: unknown constant function '@{name}' (known: {known})")]
    UnknownFunction { at: Location, name: String, known: String },
    /// A condition name outside the vocabulary.
    #[error("{at}: unknown condition '{name}' (known: {known})")]
    UnknownCondition { at: Location, name: String, known: String },
    /// A known condition with wrong arguments.
    #[error("{at}: condition '{name}': {cause}")]
    BadCondition { at: Location, name: String, cause: String },
    /// A variable used on the right side (or in a condition) that the left side does not bind.
    #[error("{at}: variable {var} is not bound by the left side")]
    Unbound { at: Location, var: String },
    /// A pattern that cannot be a rule side (a bare variable on the left, a constant handle...).
    #[error("{at}: {cause}")]
    BadPattern { at: Location, cause: String },
}

impl RuleError {
    /// Where the problem is (`None` for unreadable files).
    pub fn location(&self) -> Option<&Location> {
        match self {
            RuleError::Io { .. } => None,
            RuleError::Syntax { at, .. }
            | RuleError::BadKind { at, .. }
            | RuleError::MissingComment { at }
            | RuleError::Duplicate { at, .. }
            | RuleError::UnknownOperator { at, .. }
            | RuleError::UnknownFunction { at, .. }
            | RuleError::UnknownCondition { at, .. }
            | RuleError::BadCondition { at, .. }
            | RuleError::Unbound { at, .. }
            | RuleError::BadPattern { at, .. } => Some(at),
        }
    }
}
