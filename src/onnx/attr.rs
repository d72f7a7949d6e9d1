//! `AttributeProto` ⇄ [`Attr`]. Attributes gos-opt does not interpret (subgraphs, sparse tensors,
//! type protos, references to function attributes) are carried as serialized bytes.

use super::tensor::{tensor_from_proto, tensor_to_proto};
use super::ImportError;
use crate::ops::Attr;
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::{AttributeProto, Message};
use std::path::Path;

/// Decodes one attribute.
pub fn attr_from_proto(a: &AttributeProto, base_dir: Option<&Path>) -> Result<Attr, ImportError> {
    if !a.ref_attr_name.is_empty() {
        return carry(a);
    }
    let ty = a.type_.enum_value().ok();
    Ok(match ty {
        Some(AttributeType::FLOAT) => Attr::Float(a.f),
        Some(AttributeType::INT) => Attr::Int(a.i),
        Some(AttributeType::STRING) => Attr::String(a.s.clone()),
        Some(AttributeType::TENSOR) => match a.t.as_ref() {
            Some(t) => Attr::Tensor(tensor_from_proto(t, base_dir)?),
            None => return carry(a),
        },
        Some(AttributeType::FLOATS) => Attr::Floats(a.floats.clone()),
        Some(AttributeType::INTS) => Attr::Ints(a.ints.clone()),
        Some(AttributeType::STRINGS) => Attr::Strings(a.strings.clone()),
        Some(AttributeType::TENSORS) => {
            Attr::Tensors(a.tensors.iter().map(|t| tensor_from_proto(t, base_dir)).collect::<Result<_, _>>()?)
        }
        // Old files may omit the type: infer it from the field that is set.
        Some(AttributeType::UNDEFINED) | None => {
            if !a.ints.is_empty() {
                Attr::Ints(a.ints.clone())
            } else if !a.floats.is_empty() {
                Attr::Floats(a.floats.clone())
            } else if !a.s.is_empty() {
                Attr::String(a.s.clone())
            } else if a.f != 0.0 {
                Attr::Float(a.f)
            } else {
                Attr::Int(a.i)
            }
        }
        _ => return carry(a),
    })
}

fn carry(a: &AttributeProto) -> Result<Attr, ImportError> {
    a.write_to_bytes()
        .map(Attr::Carried)
        .map_err(|e| ImportError::NotOnnx(format!("attribute '{}' cannot be re-encoded: {e}", a.name)))
}

/// Encodes one attribute.
pub fn attr_to_proto(name: &str, attr: &Attr) -> AttributeProto {
    if let Attr::Carried(bytes) = attr {
        // Bytes were produced by `write_to_bytes` at import, so they parse.
        let mut a = AttributeProto::parse_from_bytes(bytes).expect("carried attribute bytes were written by gos-opt");
        a.name = name.to_string();
        return a;
    }
    let mut a = AttributeProto::new();
    a.name = name.to_string();
    let ty = match attr {
        Attr::Float(f) => {
            a.f = *f;
            AttributeType::FLOAT
        }
        Attr::Int(i) => {
            a.i = *i;
            AttributeType::INT
        }
        Attr::String(s) => {
            a.s = s.clone();
            AttributeType::STRING
        }
        Attr::Tensor(t) => {
            a.t = protobuf::MessageField::some(tensor_to_proto("", t));
            AttributeType::TENSOR
        }
        Attr::Floats(v) => {
            a.floats = v.clone();
            AttributeType::FLOATS
        }
        Attr::Ints(v) => {
            a.ints = v.clone();
            AttributeType::INTS
        }
        Attr::Strings(v) => {
            a.strings = v.clone();
            AttributeType::STRINGS
        }
        Attr::Tensors(v) => {
            a.tensors = v.iter().map(|t| tensor_to_proto("", t)).collect();
            AttributeType::TENSORS
        }
        Attr::Carried(_) => unreachable!("handled above"),
    };
    a.type_ = protobuf::EnumOrUnknown::new(ty);
    a
}
