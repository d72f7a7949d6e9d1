//! The fitting functions approximate rules call on their right side, `(@FAMILY.OUTPUT args...)`:
//! named Rust functions evaluated once per match, when the alternative is built, from the
//! matched weights and payloads and the calibration samples of matched activations. One call of
//! a family computes all its outputs (quantized weights, scale, zero point, corrected bias...);
//! the other outputs of the same call are taken from a memo. The numerics live in
//! [`crate::fit`]. Exact rules cannot call these functions.

mod activation;
mod lowrank;
mod quantize;

use crate::fit::Samples;
use crate::ir::Payload;
use crate::ops::Op;
use crate::tensor::{DType, Tensor, TensorData, TensorType};
use egg::Id;
use ndarray::ArrayD;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One argument of a fitting function, from the class the rule bound it to.
#[derive(Clone, Debug)]
pub enum FitArg<'a> {
    /// The value of a weight-only class (a constant, or a computation on constants).
    Tensor(Arc<Tensor>),
    /// An activation: its type and its calibration samples (stacked along axis 0).
    Samples(&'a TensorType, &'a Samples),
    /// An attribute payload (a kernel's op with its attributes).
    Payload(&'a Payload),
    /// A literal (a rank, a bit width, a percentile).
    Literal(f64),
}

/// One output of a fitting function.
#[derive(Clone, Debug, PartialEq)]
pub enum FitOut {
    /// A new constant.
    Tensor(Tensor),
    /// A new payload (the op of a replacement kernel).
    Payload(Payload),
}

/// What one family call computed, by output name.
pub type FitOutputs = BTreeMap<&'static str, FitOut>;

/// A family: its name, its outputs, and the function computing them all from the arguments.
pub struct Family {
    /// The part before the dot in `@FAMILY.OUTPUT`.
    pub name: &'static str,
    /// Every output it computes.
    pub outputs: &'static [&'static str],
    /// The computation.
    pub fit: fn(&[FitArg]) -> Result<FitOutputs, String>,
}

/// Every family approximate rules can call.
pub fn families() -> impl Iterator<Item = &'static Family> {
    quantize::FAMILIES.iter().chain(lowrank::FAMILIES).chain(activation::FAMILIES)
}

/// Whether `@name` is a fitting function (`FAMILY.OUTPUT` of a known family).
pub fn is_fit_name(name: &str) -> bool {
    name.split_once('.').is_some_and(|(f, o)| families().any(|fam| fam.name == f && fam.outputs.contains(&o)))
}

/// Family calls already made, by family and argument classes (literals by their bits).
#[derive(Default)]
pub struct Memo {
    done: HashMap<(String, Vec<Id>), Result<Arc<FitOutputs>, String>>,
}

impl Memo {
    /// The output `name` (`FAMILY.OUTPUT`) for arguments `args`, read from the classes `key`;
    /// the family runs once per distinct key.
    pub fn call(&mut self, name: &str, key: Vec<Id>, args: &[FitArg]) -> Result<FitOut, String> {
        let (family, output) = name.split_once('.').ok_or_else(|| format!("@{name} is not a fitting function"))?;
        let fam = families()
            .find(|f| f.name == family)
            .ok_or_else(|| format!("@{name}: unknown fitting family '{family}'"))?;
        let outputs = self
            .done
            .entry((family.to_string(), key))
            .or_insert_with(|| (fam.fit)(args).map(Arc::new))
            .clone()
            .map_err(|e| format!("@{family}: {e}"))?;
        outputs.get(output).cloned().ok_or_else(|| format!("@{name}: the family computed no '{output}'"))
    }
}

/// Argument `i` as calibration samples.
fn samples<'a>(args: &[FitArg<'a>], i: usize) -> Result<&'a Samples, String> {
    match args.get(i) {
        Some(FitArg::Samples(_, s)) => Ok(s),
        _ => Err(format!("argument {i} is not an activation with calibration samples")),
    }
}

/// Argument `i` as a float tensor in ndarray form.
fn array(args: &[FitArg], i: usize) -> Result<ArrayD<f32>, String> {
    match args.get(i) {
        Some(FitArg::Tensor(t)) => {
            let v = t.to_f64_vec().ok_or_else(|| format!("argument {i} is not a numeric tensor"))?;
            ArrayD::from_shape_vec(t.shape.clone(), v.into_iter().map(|x| x as f32).collect())
                .map_err(|e| e.to_string())
        }
        _ => Err(format!("argument {i} is not a weight tensor")),
    }
}

/// Argument `i` as a kernel's op.
fn op<'a>(args: &[FitArg<'a>], i: usize) -> Result<&'a Op, String> {
    match args.get(i) {
        Some(FitArg::Payload(Payload::Op(p))) => Ok(p.op()),
        _ => Err(format!("argument {i} is not a kernel's op")),
    }
}

/// An f32 tensor from an ndarray.
fn tensor(a: ArrayD<f32>) -> Tensor {
    let shape = a.shape().to_vec();
    Tensor::f32(shape, a.into_iter().collect())
}

/// A rank-0 tensor of `dtype` holding `v`.
fn scalar(dtype: DType, v: f64) -> Tensor {
    Tensor::from_f64(dtype, Vec::new(), &[v]).expect("a numeric scalar converts")
}

/// An int8 tensor.
fn int8(shape: Vec<usize>, v: Vec<i8>) -> Tensor {
    Tensor::new(shape, TensorData::I8(v))
}
