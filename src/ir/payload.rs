//! Leaf data of the IR: attribute payloads, scalar literals, constant handles and input names.
//! Each has a one-token text form so that rules and printed expressions read as s-expressions.

use crate::ops::Op;
use crate::tensor::{DType, TensorType};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

/// A kernel's parsed ONNX operator (attributes and shape-deciding operands), compared and hashed
/// through a canonical key computed once. An opaque op also carries its output types, which
/// nothing can infer.
#[derive(Clone, Debug)]
pub struct OpPayload {
    key: Arc<str>,
    op: Arc<Op>,
    outputs: Arc<[Option<TensorType>]>,
}

impl OpPayload {
    /// Wraps an op.
    pub fn new(op: Op) -> OpPayload {
        OpPayload::with_outputs(op, Vec::new())
    }

    /// Wraps an opaque op with its known output types.
    pub fn with_outputs(op: Op, outputs: Vec<Option<TensorType>>) -> OpPayload {
        OpPayload { key: format!("{op:?}{outputs:?}").into(), op: Arc::new(op), outputs: outputs.into() }
    }

    /// The op.
    pub fn op(&self) -> &Op {
        &self.op
    }

    /// Output types given at construction (opaque ops).
    pub fn outputs(&self) -> &[Option<TensorType>] {
        &self.outputs
    }
}

impl PartialEq for OpPayload {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for OpPayload {}
impl Hash for OpPayload {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state)
    }
}
impl PartialOrd for OpPayload {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OpPayload {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// An attribute payload leaf.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Payload {
    /// A kernel's operator: `#op:Conv:<hash>` (printed only; rules bind it to a variable).
    Op(OpPayload),
    /// Integers: axes, a shape, a permutation, pads: `#ints:0,2,1`.
    Ints(Vec<i64>),
    /// An element type: `#dtype:float`.
    DType(DType),
    /// A contraction in einsum notation: `#einsum:nckhw,ock->nohw` (two operands, letters).
    Einsum(String),
    /// A sliding window: `#win:k3,3/s1,1/p1,1,1,1/d1,1` (kernel, strides, pads as ONNX begins
    /// then ends, dilations; one entry per spatial axis).
    Window(WindowSpec),
    /// A strided slice: `#slice:a0,1/b0,0/e2,4/s1,2` (axes, begins, ends, steps; ends clamped).
    Slice(SliceSpec),
}

/// The geometry of a [`Payload::Window`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowSpec {
    /// Kernel size per spatial axis.
    pub kernel: Vec<usize>,
    /// Stride per spatial axis.
    pub strides: Vec<usize>,
    /// Padding: begins for every spatial axis, then ends.
    pub pads: Vec<usize>,
    /// Dilation per spatial axis.
    pub dilations: Vec<usize>,
}

/// The ranges of a [`Payload::Slice`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SliceSpec {
    /// Sliced axes.
    pub axes: Vec<usize>,
    /// First index per axis.
    pub begins: Vec<i64>,
    /// End (exclusive) per axis.
    pub ends: Vec<i64>,
    /// Step per axis (non-zero).
    pub steps: Vec<i64>,
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

fn split_list<T: FromStr>(s: &str, whole: &str) -> Result<Vec<T>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',').map(|x| x.parse::<T>().map_err(|_| format!("'{x}' in {whole} is not a number"))).collect()
}

/// Splits `k3,3/s1,1/...` into its lists by their one-letter tags, in the given order.
fn tagged<'a>(body: &'a str, tags: &[char], whole: &str) -> Result<Vec<&'a str>, String> {
    let parts: Vec<&str> = body.split('/').collect();
    if parts.len() != tags.len() {
        return Err(format!("{whole}: expected {} parts separated by '/'", tags.len()));
    }
    parts
        .iter()
        .zip(tags)
        .map(|(p, &t)| p.strip_prefix(t).ok_or_else(|| format!("{whole}: part '{p}' should start with '{t}'")))
        .collect()
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Op(p) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                p.key.hash(&mut h);
                write!(f, "#op:{}:{:08x}", p.op.onnx_name(), h.finish() as u32)
            }
            Payload::Ints(v) => {
                write!(f, "#ints:{}", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
            }
            Payload::DType(d) => write!(f, "#dtype:{}", d.name()),
            Payload::Einsum(e) => write!(f, "#einsum:{e}"),
            Payload::Window(w) => {
                write!(f, "#win:k{}/s{}/p{}/d{}", join(&w.kernel), join(&w.strides), join(&w.pads), join(&w.dilations))
            }
            Payload::Slice(sl) => {
                write!(f, "#slice:a{}/b{}/e{}/s{}", join(&sl.axes), join(&sl.begins), join(&sl.ends), join(&sl.steps))
            }
        }
    }
}

impl FromStr for Payload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(list) = s.strip_prefix("#ints:") {
            if list.is_empty() {
                return Ok(Payload::Ints(Vec::new()));
            }
            return list
                .split(',')
                .map(|x| x.parse::<i64>().map_err(|_| format!("'{x}' in {s} is not an integer")))
                .collect::<Result<_, _>>()
                .map(Payload::Ints);
        }
        if let Some(name) = s.strip_prefix("#dtype:") {
            return (1..=26)
                .filter_map(DType::from_onnx)
                .find(|d| d.name() == name)
                .map(Payload::DType)
                .ok_or_else(|| format!("unknown element type '{name}'"));
        }
        if let Some(e) = s.strip_prefix("#einsum:") {
            let ok = e.split_once("->").is_some_and(|(ins, _)| ins.split(',').count() == 2)
                && e.chars().all(|c| c.is_ascii_lowercase() || c == ',' || c == '-' || c == '>');
            return if ok { Ok(Payload::Einsum(e.to_string())) } else { Err(format!("'{s}' is not ab,bc->ac")) };
        }
        if let Some(body) = s.strip_prefix("#win:") {
            let p = tagged(body, &['k', 's', 'p', 'd'], s)?;
            return Ok(Payload::Window(WindowSpec {
                kernel: split_list(p[0], s)?,
                strides: split_list(p[1], s)?,
                pads: split_list(p[2], s)?,
                dilations: split_list(p[3], s)?,
            }));
        }
        if let Some(body) = s.strip_prefix("#slice:") {
            let p = tagged(body, &['a', 'b', 'e', 's'], s)?;
            return Ok(Payload::Slice(SliceSpec {
                axes: split_list(p[0], s)?,
                begins: split_list(p[1], s)?,
                ends: split_list(p[2], s)?,
                steps: split_list(p[3], s)?,
            }));
        }
        Err(format!("'{s}' is not a payload (#ints:, #dtype:, #einsum:, #win:, #slice:)"))
    }
}

/// A scalar literal, ordered and hashed by its bits (`-0.0` and `0.0` differ, NaN equals NaN).
#[derive(Clone, Copy, Debug)]
pub struct Literal(pub f64);

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for Literal {}
impl Hash for Literal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}
impl PartialOrd for Literal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Literal {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_infinite() {
            f.write_str(if self.0 > 0.0 { "inf" } else { "-inf" })
        } else {
            write!(f, "{}", self.0)
        }
    }
}
impl FromStr for Literal {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only plain numbers: "nan" or "e" must not shadow symbols.
        let numeric = s.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.');
        match (numeric, s) {
            (_, "inf") => Ok(Literal(f64::INFINITY)),
            (_, "-inf") => Ok(Literal(f64::NEG_INFINITY)),
            (true, _) => s.parse::<f64>().map(Literal).map_err(|e| e.to_string()),
            _ => Err(format!("'{s}' is not a number")),
        }
    }
}

/// A handle into the graph's constant pool: `%12` (the value index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConstRef(pub u32);

impl fmt::Display for ConstRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}
impl FromStr for ConstRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('%').and_then(|n| n.parse().ok()).map(ConstRef).ok_or_else(|| format!("'{s}' is not %N"))
    }
}

/// A named constant function: `@name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FnRef(pub Arc<str>);

impl fmt::Display for FnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}
impl FromStr for FnRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('@')
            .filter(|n| !n.is_empty())
            .map(|n| FnRef(n.into()))
            .ok_or_else(|| format!("'{s}' is not @name"))
    }
}

/// A graph input: `$name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InputRef(pub Arc<str>);

impl fmt::Display for InputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.0)
    }
}
impl FromStr for InputRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('$')
            .filter(|n| !n.is_empty())
            .map(|n| InputRef(n.into()))
            .ok_or_else(|| format!("'{s}' is not $name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        let win = "#win:k3,3/s1,1/p1,1,1,1/d1,1".parse::<Payload>().unwrap();
        let slice = "#slice:a0,1/b0,-1/e2,4/s1,-2".parse::<Payload>().unwrap();
        let einsum = "#einsum:ab,bc->ac".parse::<Payload>().unwrap();
        for p in [Payload::Ints(vec![0, -1, 2]), Payload::Ints(vec![]), Payload::DType(DType::I8), win, slice, einsum] {
            assert_eq!(p.to_string().parse::<Payload>().unwrap(), p);
        }
        assert_eq!("-inf".parse::<Literal>().unwrap(), Literal(f64::NEG_INFINITY));
        assert_eq!("0.5".parse::<Literal>().unwrap(), Literal(0.5));
        assert!("e".parse::<Literal>().is_err() && "nan".parse::<Literal>().is_err());
        assert_eq!("%3".parse::<ConstRef>().unwrap(), ConstRef(3));
        assert_eq!("$x".parse::<InputRef>().unwrap().to_string(), "$x");
        assert_ne!(Literal(0.0), Literal(-0.0));
    }
}
