//! Helpers for the op tests of the layout family and its neighbours (reduce, resize, shape).

use super::super::{Attr, Attrs, InputInfo, Operator, Parser};
use crate::tensor::Tensor;
use std::fmt::Debug;

/// A non-constant input.
pub fn var() -> Option<InputInfo<'static>> {
    Some(InputInfo { name: "x", ty: None, constant: None })
}

/// A constant input.
pub fn cst(t: &Tensor) -> Option<InputInfo<'_>> {
    Some(InputInfo { name: "c", ty: None, constant: Some(t) })
}

/// An attribute list.
pub fn attrs(list: &[(&str, Attr)]) -> Attrs {
    list.iter().map(|(n, a)| (n.to_string(), a.clone())).collect()
}

/// A 1-D int64 tensor.
pub fn ints(v: &[i64]) -> Tensor {
    Tensor::i64(vec![v.len()], v.to_vec())
}

/// A default-domain node.
pub fn parser<'a>(
    op_type: &'a str,
    opset: i64,
    attrs: &'a Attrs,
    inputs: Vec<Option<InputInfo<'a>>>,
    n_outputs: usize,
) -> Parser<'a> {
    Parser { op_type, domain: "", opset, attrs, inputs, n_outputs }
}

/// Parses, writes the attributes back for the same opset, parses again and checks both agree.
pub fn round_trip<K: Operator + PartialEq + Debug>(p: &Parser) -> K {
    let k = K::parse(p).expect("parses");
    let written = k.attributes(p.opset);
    let again = Parser { attrs: &written, inputs: p.inputs.clone(), ..*p };
    assert_eq!(K::parse(&again).expect("parses again"), k, "opset {} wrote {written:?}", p.opset);
    k
}

/// Evaluates on constant inputs, expecting success.
pub fn run<K: Operator>(k: &K, inputs: &[&Tensor]) -> Vec<Tensor> {
    let inputs: Vec<Option<&Tensor>> = inputs.iter().map(|&t| Some(t)).collect();
    k.eval(&inputs).expect("evaluable").expect("evaluates")
}

/// Elements as f64, for comparing values of any numeric type.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().expect("numeric")
}
