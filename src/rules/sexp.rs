//! A small s-expression reader for rule files that keeps the line of every atom and list, and
//! the `;` comment lines, so that errors point at `file:line` and rules find their justification.

/// One read s-expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Sexp {
    /// A token other than a parenthesis.
    Atom { text: String, line: usize },
    /// A parenthesized list; `line` is the line of its `(`.
    List { items: Vec<Sexp>, line: usize },
}

impl Sexp {
    /// The line where this expression starts.
    pub(crate) fn line(&self) -> usize {
        match self {
            Sexp::Atom { line, .. } | Sexp::List { line, .. } => *line,
        }
    }

    /// The atom's text, if this is an atom.
    pub(crate) fn atom(&self) -> Option<&str> {
        match self {
            Sexp::Atom { text, .. } => Some(text),
            Sexp::List { .. } => None,
        }
    }

    /// The list's items, if this is a list.
    pub(crate) fn list(&self) -> Option<&[Sexp]> {
        match self {
            Sexp::List { items, .. } => Some(items),
            Sexp::Atom { .. } => None,
        }
    }

    /// The head atom of a list (`rule` in `(rule ...)`).
    pub(crate) fn head(&self) -> Option<&str> {
        self.list().and_then(|items| items.first()).and_then(Sexp::atom)
    }
}

impl std::fmt::Display for Sexp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sexp::Atom { text, .. } => f.write_str(text),
            Sexp::List { items, .. } => {
                f.write_str("(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// A read file: its top-level expressions and, per line (1-based), the text of a line that holds
/// only a comment (`None` for blank lines and lines with code).
#[derive(Debug)]
pub(crate) struct Document {
    /// Top-level expressions in file order.
    pub forms: Vec<Sexp>,
    /// `comments[l - 1]`: the comment text of line `l` when the line is only a comment.
    pub comments: Vec<Option<String>>,
}

impl Document {
    /// The comment block directly above `line` (no blank line between), oldest line first,
    /// with the leading `;` characters and one space removed.
    pub(crate) fn comment_above(&self, line: usize) -> Vec<String> {
        let mut block = Vec::new();
        let mut l = line.saturating_sub(1);
        while l >= 1 {
            match self.comments.get(l - 1) {
                Some(Some(text)) => block.push(text.clone()),
                _ => break,
            }
            l -= 1;
        }
        block.reverse();
        block
    }
}

/// Reads a whole file. Errors carry the line they concern.
pub(crate) fn read(text: &str) -> Result<Document, (usize, String)> {
    let mut comments = Vec::new();
    // Open lists: (line of the `(`, items so far).
    let mut stack: Vec<(usize, Vec<Sexp>)> = Vec::new();
    let mut forms = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let (code, comment) = match raw.find(';') {
            Some(at) => (&raw[..at], Some(&raw[at..])),
            None => (raw, None),
        };
        comments.push(match comment {
            Some(c) if code.trim().is_empty() => Some(c.trim_start_matches(';').trim().to_string()),
            _ => None,
        });
        let mut rest = code;
        while !rest.is_empty() {
            let trimmed = rest.trim_start();
            let Some(c) = trimmed.chars().next() else { break };
            match c {
                '(' => {
                    stack.push((line, Vec::new()));
                    rest = &trimmed[1..];
                }
                ')' => {
                    let (open, items) = stack.pop().ok_or((line, "unexpected ')'".to_string()))?;
                    let list = Sexp::List { items, line: open };
                    match stack.last_mut() {
                        Some((_, parent)) => parent.push(list),
                        None => forms.push(list),
                    }
                    rest = &trimmed[1..];
                }
                _ => {
                    let end =
                        trimmed.find(|c: char| c.is_whitespace() || c == '(' || c == ')').unwrap_or(trimmed.len());
                    let atom = Sexp::Atom { text: trimmed[..end].to_string(), line };
                    match stack.last_mut() {
                        Some((_, parent)) => parent.push(atom),
                        None => return Err((line, format!("'{}' outside of a (rule ...) form", &trimmed[..end]))),
                    }
                    rest = &trimmed[end..];
                }
            }
        }
    }
    if let Some((open, _)) = stack.first() {
        return Err((*open, "unclosed '(' (the file ends before its ')')".into()));
    }
    Ok(Document { forms, comments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_comments() {
        let doc = read(";; header\n\n;; why\n;; more\n(rule a exact\n  (add ?x 0) => ?x) ; trailing\n").unwrap();
        assert_eq!(doc.forms.len(), 1);
        assert_eq!(doc.forms[0].line(), 5);
        assert_eq!(doc.forms[0].head(), Some("rule"));
        let items = doc.forms[0].list().unwrap();
        assert_eq!(items[3].line(), 6);
        assert_eq!(items[3].to_string(), "(add ?x 0)");
        assert_eq!(doc.comment_above(5), vec!["why".to_string(), "more".to_string()]);
        assert!(doc.comment_above(1).is_empty());
    }

    #[test]
    fn reports_unbalanced_parentheses_at_their_line() {
        assert_eq!(read("(rule a\n\n(x").unwrap_err().0, 1);
        assert_eq!(read("(a)\n)").unwrap_err().0, 2);
        assert_eq!(read("\nstray").unwrap_err().0, 2);
    }
}
