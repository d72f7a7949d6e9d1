//! `TensorProto` ⇄ [`Tensor`], including external data and every storage field ONNX allows.

use super::ImportError;
use crate::tensor::{DType, Tensor, TensorData};
use half::{bf16, f16};
use onnx_protobuf::TensorProto;
use std::path::Path;

/// Largest tensor gos-opt accepts (elements), to refuse corrupt or hostile shapes before allocating.
pub const MAX_ELEMENTS: u64 = 1 << 31;

fn bad(name: &str, cause: impl Into<String>) -> ImportError {
    ImportError::Tensor { name: name.to_string(), cause: cause.into() }
}

/// Decodes a `TensorProto`; `base_dir` resolves external data locations.
pub fn tensor_from_proto(t: &TensorProto, base_dir: Option<&Path>) -> Result<Tensor, ImportError> {
    let name = t.name.as_str();
    let dtype = DType::from_onnx(t.data_type).ok_or_else(|| bad(name, "data type is UNDEFINED"))?;
    let mut numel: u64 = 1;
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(bad(name, format!("negative dimension {d}")));
        }
        numel = numel
            .checked_mul(d as u64)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| bad(name, format!("shape {:?} has more than {MAX_ELEMENTS} elements", t.dims)))?;
        shape.push(d as usize);
    }
    let n = numel as usize;
    if t.data_location.value() == 1 {
        let raw = read_external(t, base_dir)?;
        return from_raw(name, dtype, shape, n, &raw);
    }
    if !t.raw_data.is_empty() || (n == 0 && dtype != DType::Str) {
        return from_raw(name, dtype, shape, n, &t.raw_data);
    }
    let check = |len: usize| -> Result<(), ImportError> {
        if len == n {
            Ok(())
        } else {
            Err(bad(name, format!("holds {len} values but its shape {:?} needs {n}", t.dims)))
        }
    };
    let data = match dtype {
        DType::F32 => {
            check(t.float_data.len())?;
            TensorData::F32(t.float_data.clone())
        }
        DType::F64 => {
            check(t.double_data.len())?;
            TensorData::F64(t.double_data.clone())
        }
        DType::I64 => {
            check(t.int64_data.len())?;
            TensorData::I64(t.int64_data.clone())
        }
        DType::U32 | DType::U64 => {
            check(t.uint64_data.len())?;
            match dtype {
                DType::U32 => TensorData::U32(t.uint64_data.iter().map(|&x| x as u32).collect()),
                _ => TensorData::U64(t.uint64_data.clone()),
            }
        }
        DType::Str => {
            check(t.string_data.len())?;
            TensorData::Str(t.string_data.clone())
        }
        DType::I32 | DType::I16 | DType::I8 | DType::U16 | DType::U8 | DType::Bool | DType::F16 | DType::BF16 => {
            check(t.int32_data.len())?;
            let v = &t.int32_data;
            match dtype {
                DType::I32 => TensorData::I32(v.clone()),
                DType::I16 => TensorData::I16(v.iter().map(|&x| x as i16).collect()),
                DType::I8 => TensorData::I8(v.iter().map(|&x| x as i8).collect()),
                DType::U16 => TensorData::U16(v.iter().map(|&x| x as u16).collect()),
                DType::U8 => TensorData::U8(v.iter().map(|&x| x as u8).collect()),
                DType::Bool => TensorData::Bool(v.iter().map(|&x| x != 0).collect()),
                // float16 and bfloat16 store their bit patterns in int32_data.
                DType::F16 => TensorData::F16(v.iter().map(|&x| f16::from_bits(x as u16)).collect()),
                _ => TensorData::BF16(v.iter().map(|&x| bf16::from_bits(x as u16)).collect()),
            }
        }
        DType::Other(_) => {
            // Packed types keep their bytes in int32_data, one byte per entry.
            let bytes: Vec<u8> = t.int32_data.iter().map(|&x| x as u8).collect();
            return from_raw(name, dtype, shape, n, &bytes);
        }
    };
    Ok(Tensor::new(shape, data))
}

fn read_external(t: &TensorProto, base_dir: Option<&Path>) -> Result<Vec<u8>, ImportError> {
    let name = t.name.as_str();
    let entry = |key: &str| t.external_data.iter().find(|e| e.key == key).map(|e| e.value.as_str());
    let location = entry("location").ok_or_else(|| bad(name, "external data without a 'location'"))?;
    let rel = Path::new(location);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(bad(
            name,
            format!("external data location '{location}' must be relative and stay beside the model"),
        ));
    }
    let base =
        base_dir.ok_or_else(|| bad(name, "external data needs the model's file path to resolve its location"))?;
    let path = base.join(rel);
    let bytes =
        std::fs::read(&path).map_err(|e| bad(name, format!("reading external data {}: {e}", path.display())))?;
    let parse = |key: &str| -> Result<Option<usize>, ImportError> {
        entry(key)
            .map(|s| s.parse::<usize>().map_err(|_| bad(name, format!("external data {key} '{s}' is not a number"))))
            .transpose()
    };
    let offset = parse("offset")?.unwrap_or(0);
    let length = parse("length")?.unwrap_or(bytes.len().saturating_sub(offset));
    let end = offset.checked_add(length).filter(|&e| e <= bytes.len()).ok_or_else(|| {
        bad(
            name,
            format!(
                "external data range {offset}+{length} is past the end of {} ({} bytes)",
                path.display(),
                bytes.len()
            ),
        )
    })?;
    Ok(bytes[offset..end].to_vec())
}

fn from_raw(name: &str, dtype: DType, shape: Vec<usize>, n: usize, raw: &[u8]) -> Result<Tensor, ImportError> {
    let bits = dtype.bits().ok_or_else(|| bad(name, "string tensors cannot use raw_data"))?;
    let need = (n * bits).div_ceil(8);
    if raw.len() != need {
        return Err(bad(
            name,
            format!("holds {} bytes but its shape {:?} of {} needs {need}", raw.len(), shape, dtype),
        ));
    }
    macro_rules! le {
        ($t:ty, $w:expr) => {
            raw.chunks_exact($w).map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk width"))).collect()
        };
    }
    let data = match dtype {
        DType::F32 => TensorData::F32(le!(f32, 4)),
        DType::F64 => TensorData::F64(le!(f64, 8)),
        DType::I8 => TensorData::I8(le!(i8, 1)),
        DType::I16 => TensorData::I16(le!(i16, 2)),
        DType::I32 => TensorData::I32(le!(i32, 4)),
        DType::I64 => TensorData::I64(le!(i64, 8)),
        DType::U8 => TensorData::U8(raw.to_vec()),
        DType::U16 => TensorData::U16(le!(u16, 2)),
        DType::U32 => TensorData::U32(le!(u32, 4)),
        DType::U64 => TensorData::U64(le!(u64, 8)),
        DType::Bool => TensorData::Bool(raw.iter().map(|&b| b != 0).collect()),
        DType::F16 => TensorData::F16(raw.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect()),
        DType::BF16 => TensorData::BF16(raw.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]])).collect()),
        DType::Str => unreachable!("strings were rejected above"),
        DType::Other(_) => return Ok(Tensor::raw(dtype, shape, raw.to_vec())),
    };
    Ok(Tensor::new(shape, data))
}

/// Encodes a tensor as a `TensorProto` with `raw_data` (strings use `string_data`).
pub fn tensor_to_proto(name: &str, t: &Tensor) -> TensorProto {
    let mut p = TensorProto::new();
    p.name = name.to_string();
    p.dims = t.shape.iter().map(|&d| d as i64).collect();
    p.data_type = t.dtype.onnx_code();
    macro_rules! le {
        ($v:expr) => {
            $v.iter().flat_map(|x| x.to_le_bytes()).collect()
        };
    }
    p.raw_data = match &t.data {
        TensorData::F32(v) => le!(v),
        TensorData::F64(v) => le!(v),
        TensorData::F16(v) => le!(v),
        TensorData::BF16(v) => le!(v),
        TensorData::I8(v) => le!(v),
        TensorData::I16(v) => le!(v),
        TensorData::I32(v) => le!(v),
        TensorData::I64(v) => le!(v),
        TensorData::U8(v) => v.clone(),
        TensorData::U16(v) => le!(v),
        TensorData::U32(v) => le!(v),
        TensorData::U64(v) => le!(v),
        TensorData::Bool(v) => v.iter().map(|&b| b as u8).collect(),
        TensorData::Raw(v) => v.clone(),
        TensorData::Str(v) => {
            p.string_data = v.clone();
            Vec::new()
        }
    };
    p
}

/// Reads a serialized `TensorProto` file (a test set's `input_0.pb`, `output_0.pb`).
pub fn read_tensor_file(path: &Path) -> Result<(String, Tensor), ImportError> {
    use protobuf::Message;
    let bytes =
        std::fs::read(path).map_err(|e| ImportError::Io { path: path.display().to_string(), cause: e.to_string() })?;
    let proto = TensorProto::parse_from_bytes(&bytes)
        .map_err(|e| ImportError::NotOnnx(format!("{} is not a TensorProto: {e}", path.display())))?;
    let tensor = tensor_from_proto(&proto, path.parent())?;
    Ok((proto.name.clone(), tensor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trip_for_every_numeric_type() {
        for t in [
            Tensor::f32(vec![2], vec![1.5, -2.0]),
            Tensor::i64(vec![3], vec![1, -2, 3]),
            Tensor::from_i64(DType::U8, vec![2], &[0, 255]).unwrap(),
            Tensor::from_f64(DType::F16, vec![1], &[0.5]).unwrap(),
            Tensor::from_i64(DType::Bool, vec![2], &[1, 0]).unwrap(),
            Tensor::raw(DType::Other(22), vec![3], vec![0x21, 0x03]),
        ] {
            let back = tensor_from_proto(&tensor_to_proto("t", &t), None).unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let mut p = tensor_to_proto("w", &Tensor::f32(vec![2], vec![1.0, 2.0]));
        p.dims = vec![3];
        let err = tensor_from_proto(&p, None).unwrap_err().to_string();
        assert!(err.contains("'w'") && err.contains("needs 12"), "{err}");
    }

    #[test]
    fn huge_shapes_are_refused_before_allocating() {
        let mut p = TensorProto::new();
        p.name = "big".into();
        p.data_type = 1;
        p.dims = vec![1 << 20, 1 << 20, 1 << 20];
        assert!(tensor_from_proto(&p, None).unwrap_err().to_string().contains("more than"));
    }
}
