//! tract, the reference runtime: loading ONNX bytes, typing tensors tract can infer, running a
//! model, and converting tensors between gos-opt and tract.

use crate::tensor::{DType, Tensor, TensorData, TensorType};
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::prelude::{
    tract_ndarray, Arc, DatumType, Framework, InferenceFact, InferenceModelExt, IntoRunnable, IntoTensor, TValue,
    Tensor as TTensor, TypedFact, TypedRunnableModel,
};
use tract_onnx::tract_hir::infer::InferenceModel;

/// Why tract could not load or run a model (its message, flattened to one line).
#[derive(Debug, thiserror::Error)]
#[error("tract: {0}")]
pub struct TractError(pub String);

/// Runs `f`, turning a panic inside tract into an error (tract asserts on some malformed models
/// and inputs; gos-opt reports those instead of aborting).
fn guarded<T>(f: impl FnOnce() -> Result<T, TractError>) -> Result<T, TractError> {
    crate::guard::catch(f).unwrap_or_else(|p| Err(TractError(format!("tract panicked: {p}"))))
}

fn flat(e: impl std::fmt::Debug) -> TractError {
    // tract's anyhow chains print on several lines; keep the chain on one, without the
    // backtrace anyhow appends when `RUST_BACKTRACE` is set.
    let s = format!("{e:?}");
    let s = s.split("Stack backtrace:").next().unwrap_or_default();
    TractError(s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / "))
}

/// The tract element type for a gos-opt one, when tract has it.
pub fn tract_dtype(dt: DType) -> Option<DatumType> {
    Some(match dt {
        DType::F32 => DatumType::F32,
        DType::F64 => DatumType::F64,
        DType::F16 => DatumType::F16,
        DType::I8 => DatumType::I8,
        DType::I16 => DatumType::I16,
        DType::I32 => DatumType::I32,
        DType::I64 => DatumType::I64,
        DType::U8 => DatumType::U8,
        DType::U16 => DatumType::U16,
        DType::U32 => DatumType::U32,
        DType::U64 => DatumType::U64,
        DType::Bool => DatumType::Bool,
        DType::Str => DatumType::String,
        DType::BF16 | DType::Other(_) => return None,
    })
}

/// The gos-opt element type for a tract one (quantized types map to their storage).
pub fn from_tract_dtype(dt: DatumType) -> Option<DType> {
    Some(match dt.unquantized() {
        DatumType::F32 => DType::F32,
        DatumType::F64 => DType::F64,
        DatumType::F16 => DType::F16,
        DatumType::I8 => DType::I8,
        DatumType::I16 => DType::I16,
        DatumType::I32 => DType::I32,
        DatumType::I64 => DType::I64,
        DatumType::U8 => DType::U8,
        DatumType::U16 => DType::U16,
        DatumType::U32 => DType::U32,
        DatumType::U64 => DType::U64,
        DatumType::Bool => DType::Bool,
        DatumType::String => DType::Str,
        _ => return None,
    })
}

/// Converts a tensor to tract's representation.
pub fn to_tract(t: &Tensor) -> Result<TTensor, TractError> {
    fn arr<T: tract_onnx::prelude::Datum + Clone>(shape: &[usize], v: &[T]) -> Result<TTensor, TractError> {
        tract_ndarray::ArrayD::from_shape_vec(shape, v.to_vec()).map(|a| a.into_tensor()).map_err(flat)
    }
    match &t.data {
        TensorData::F32(v) => arr(&t.shape, v),
        TensorData::F64(v) => arr(&t.shape, v),
        TensorData::F16(v) => arr(&t.shape, v),
        TensorData::I8(v) => arr(&t.shape, v),
        TensorData::I16(v) => arr(&t.shape, v),
        TensorData::I32(v) => arr(&t.shape, v),
        TensorData::I64(v) => arr(&t.shape, v),
        TensorData::U8(v) => arr(&t.shape, v),
        TensorData::U16(v) => arr(&t.shape, v),
        TensorData::U32(v) => arr(&t.shape, v),
        TensorData::U64(v) => arr(&t.shape, v),
        TensorData::Bool(v) => arr(&t.shape, v),
        TensorData::Str(v) => {
            let s: Vec<String> = v.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
            arr(&t.shape, &s)
        }
        TensorData::BF16(_) | TensorData::Raw(_) => Err(TractError(format!("tract has no {} tensors", t.dtype))),
    }
}

/// Converts a tract tensor back (quantized tensors become their storage type).
pub fn from_tract(t: &TTensor) -> Result<Tensor, TractError> {
    if t.datum_type() == DatumType::TDim {
        // Shape values: concrete integers once the model's shapes are static.
        let as_i64 = t.cast_to_dt(DatumType::I64).map_err(flat)?;
        return from_tract(&as_i64);
    }
    let dt = from_tract_dtype(t.datum_type())
        .ok_or_else(|| TractError(format!("tract type {:?} has no gos-opt equivalent", t.datum_type())))?;
    let shape = t.shape().to_vec();
    fn v<T: tract_onnx::prelude::Datum + Clone>(t: &TTensor) -> Result<Vec<T>, TractError> {
        Ok(t.to_plain_array_view::<T>().map_err(flat)?.iter().cloned().collect())
    }
    let t = if t.datum_type().is_quantized() {
        t.cast_to_dt(t.datum_type().unquantized()).map_err(flat)?.into_owned()
    } else {
        t.clone()
    };
    let data = match dt {
        DType::F32 => TensorData::F32(v(&t)?),
        DType::F64 => TensorData::F64(v(&t)?),
        DType::F16 => TensorData::F16(v(&t)?),
        DType::I8 => TensorData::I8(v(&t)?),
        DType::I16 => TensorData::I16(v(&t)?),
        DType::I32 => TensorData::I32(v(&t)?),
        DType::I64 => TensorData::I64(v(&t)?),
        DType::U8 => TensorData::U8(v(&t)?),
        DType::U16 => TensorData::U16(v(&t)?),
        DType::U32 => TensorData::U32(v(&t)?),
        DType::U64 => TensorData::U64(v(&t)?),
        DType::Bool => TensorData::Bool(v(&t)?),
        DType::Str => TensorData::Str(v::<String>(&t)?.into_iter().map(String::into_bytes).collect()),
        DType::BF16 | DType::Other(_) => unreachable!("from_tract_dtype never yields these"),
    };
    Ok(Tensor::new(shape, data))
}

/// Parses ONNX bytes into tract's inference model; `dir` resolves external data. With
/// `ignore_declared`, the file's value_info and output shapes are ignored: they may repeat a
/// symbolic dimension (`N`) that the caller has fixed, which tract then cannot unify.
fn load(
    bytes: &[u8],
    dir: Option<&Path>,
    ignore_declared: bool,
) -> Result<(InferenceModel, HashMap<String, tract_onnx::prelude::OutletId>), TractError> {
    let mut onnx = tract_onnx::onnx();
    if ignore_declared {
        onnx = onnx.with_ignore_value_info(true).with_ignore_output_shapes(true);
    }
    let proto = onnx.proto_model_for_read(&mut &bytes[..]).map_err(flat)?;
    if let Some(g) = &proto.graph {
        check_scans(g)?;
    }
    let dir = dir.map(|d| d.to_string_lossy().into_owned());
    let parsed = onnx.parse(&proto, dir.as_deref()).map_err(flat)?;
    Ok((parsed.model, parsed.outlets_by_name))
}

/// Refuses a Scan (in any graph or subgraph) whose counts tract's parser would subtract into an
/// underflow: `num_scan_inputs` beyond its body's inputs, or fewer body outputs than state
/// variables. tract (0.23) then allocates without bound until the process is killed, which no
/// panic guard catches (found by fuzzing).
fn check_scans(g: &tract_onnx::pb::GraphProto) -> Result<(), TractError> {
    for n in &g.node {
        for a in &n.attribute {
            for body in a.g.iter().chain(&a.graphs) {
                check_scans(body)?;
            }
        }
        if n.op_type != "Scan" {
            continue;
        }
        let attr = |name: &str| n.attribute.iter().find(|a| a.name == name);
        let (Some(k), Some(body)) = (attr("num_scan_inputs").map(|a| a.i), attr("body").and_then(|a| a.g.as_ref()))
        else {
            continue;
        };
        let (inputs, outputs) = (body.input.len(), body.output.len());
        let state = usize::try_from(k).ok().and_then(|k| inputs.checked_sub(k));
        if state.is_none_or(|state| state > outputs) {
            return Err(TractError(format!(
                "Scan '{}': num_scan_inputs {k} does not fit its body's {inputs} inputs and {outputs} outputs",
                n.name
            )));
        }
    }
    Ok(())
}

/// Sets static input facts by input name (for models with dynamic dimensions).
fn fix_inputs(model: &mut InferenceModel, shapes: &HashMap<String, TensorType>) -> Result<(), TractError> {
    for i in 0..model.inputs.len() {
        let outlet = model.inputs[i];
        let name = model.node(outlet.node).name.clone();
        if let Some(ty) = shapes.get(&name) {
            let dt = tract_dtype(ty.dtype)
                .ok_or_else(|| TractError(format!("input '{name}': tract has no {} type", ty.dtype)))?;
            model.set_input_fact(i, InferenceFact::dt_shape(dt, &ty.shape)).map_err(flat)?;
        }
    }
    Ok(())
}

/// Static types of every tensor tract can infer, by name. Best effort once tract has loaded
/// the model: a partial or empty map when it cannot analyse it, or panics doing so (tract's
/// analysis asserts on some malformed inputs; a panic there must not abort the import). An
/// error when tract cannot load the bytes at all: its protobuf decoder and ONNX parser are
/// stricter than gos-opt's importer (a known field with the wrong wire type, an attribute
/// without its type), and types taken from tract must not depend on such bytes (an export of
/// the same graph would load).
pub fn infer_types(
    bytes: &[u8],
    dir: Option<&Path>,
    inputs: &HashMap<String, TensorType>,
) -> Result<HashMap<String, TensorType>, TractError> {
    let (mut model, outlets) = guarded(|| load(bytes, dir, false))?;
    Ok(guarded(|| Ok(analysed_types(&mut model, outlets, inputs))).unwrap_or_default())
}

fn analysed_types(
    model: &mut InferenceModel,
    outlets: HashMap<String, tract_onnx::prelude::OutletId>,
    inputs: &HashMap<String, TensorType>,
) -> HashMap<String, TensorType> {
    if fix_inputs(model, inputs).is_err() {
        return HashMap::new();
    }
    let _ = model.analyse(false);
    outlets
        .into_iter()
        .filter_map(|(name, outlet)| {
            let fact = model.outlet_fact(outlet).ok()?;
            let typed = TypedFact::try_from(fact).ok()?;
            let shape = typed.shape.as_concrete()?.to_vec();
            Some((name, TensorType::new(from_tract_dtype(typed.datum_type)?, shape)))
        })
        .collect()
}

/// A model loaded into tract, ready to run.
pub struct Runnable {
    plan: Arc<TypedRunnableModel>,
    /// Input names in tract's order.
    pub input_names: Vec<String>,
}

impl Runnable {
    /// Loads and optimizes a model with static input types (given by name for dynamic inputs).
    pub fn new(bytes: &[u8], dir: Option<&Path>, inputs: &HashMap<String, TensorType>) -> Result<Runnable, TractError> {
        guarded(|| {
            Runnable::build(load(bytes, dir, false)?.0, inputs)
                .or_else(|first| Runnable::build(load(bytes, dir, true)?.0, inputs).map_err(|_| first))
        })
    }

    /// [`Runnable::new`] whose outputs are the tensors named `outputs` (any intermediate
    /// value of the model, in that order) instead of the model's own.
    pub fn with_outputs(
        bytes: &[u8],
        dir: Option<&Path>,
        inputs: &HashMap<String, TensorType>,
        outputs: &[String],
    ) -> Result<Runnable, TractError> {
        guarded(|| {
            let (mut model, outlets) = load(bytes, dir, false)?;
            let ids = outputs
                .iter()
                .map(|n| outlets.get(n).copied().ok_or_else(|| TractError(format!("no tensor named '{n}'"))))
                .collect::<Result<Vec<_>, _>>()?;
            model.select_output_outlets(&ids).map_err(flat)?;
            Runnable::build(model, inputs)
        })
    }

    fn build(mut model: InferenceModel, inputs: &HashMap<String, TensorType>) -> Result<Runnable, TractError> {
        fix_inputs(&mut model, inputs)?;
        let input_names = model.inputs.iter().map(|o| model.node(o.node).name.clone()).collect();
        let plan = model.into_optimized().map_err(flat)?.into_runnable().map_err(flat)?;
        Ok(Runnable { plan, input_names })
    }

    /// Runs on inputs given in tract's input order; outputs in the model's output order.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, TractError> {
        let tv: Vec<TValue> = inputs.iter().map(|t| to_tract(t).map(TValue::from)).collect::<Result<_, _>>()?;
        let out = guarded(|| self.plan.run(tv.into()).map_err(flat))?;
        out.iter().map(|t| from_tract(t)).collect()
    }
}
