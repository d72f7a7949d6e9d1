//! Typed tensors: element types, static shapes and owned data, independent of protobuf and tract.

use half::{bf16, f16};
use std::fmt;

/// Element type of a tensor, numbered as ONNX's `TensorProto.DataType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum DType {
    /// ONNX `float`.
    F32,
    /// ONNX `uint8`.
    U8,
    /// ONNX `int8`.
    I8,
    /// ONNX `uint16`.
    U16,
    /// ONNX `int16`.
    I16,
    /// ONNX `int32`.
    I32,
    /// ONNX `int64`.
    I64,
    /// ONNX `string`.
    Str,
    /// ONNX `bool`.
    Bool,
    /// ONNX `float16`.
    F16,
    /// ONNX `double`.
    F64,
    /// ONNX `uint32`.
    U32,
    /// ONNX `uint64`.
    U64,
    /// ONNX `bfloat16`.
    BF16,
    /// An ONNX element type that gos-opt carries but does not compute on
    /// (complex, float8, 4-bit and 2-bit integers); the code is ONNX's.
    Other(i32),
}

impl DType {
    /// The type for an ONNX `TensorProto.DataType` code; `None` for UNDEFINED (0).
    pub fn from_onnx(code: i32) -> Option<DType> {
        Some(match code {
            0 => return None,
            1 => DType::F32,
            2 => DType::U8,
            3 => DType::I8,
            4 => DType::U16,
            5 => DType::I16,
            6 => DType::I32,
            7 => DType::I64,
            8 => DType::Str,
            9 => DType::Bool,
            10 => DType::F16,
            11 => DType::F64,
            12 => DType::U32,
            13 => DType::U64,
            16 => DType::BF16,
            other => DType::Other(other),
        })
    }

    /// The ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        match self {
            DType::F32 => 1,
            DType::U8 => 2,
            DType::I8 => 3,
            DType::U16 => 4,
            DType::I16 => 5,
            DType::I32 => 6,
            DType::I64 => 7,
            DType::Str => 8,
            DType::Bool => 9,
            DType::F16 => 10,
            DType::F64 => 11,
            DType::U32 => 12,
            DType::U64 => 13,
            DType::BF16 => 16,
            DType::Other(code) => code,
        }
    }

    /// Bits per element in ONNX's `raw_data` layout (`None` for strings).
    pub fn bits(self) -> Option<usize> {
        Some(match self {
            DType::Bool | DType::U8 | DType::I8 => 8,
            DType::U16 | DType::I16 | DType::F16 | DType::BF16 => 16,
            DType::F32 | DType::I32 | DType::U32 => 32,
            DType::F64 | DType::I64 | DType::U64 => 64,
            DType::Str => return None,
            DType::Other(code) => match code {
                14 => 64,          // complex64
                15 => 128,         // complex128
                17..=20 | 24 => 8, // float8 variants, float8e8m0
                21..=23 => 4,      // uint4, int4, float4e2m1
                25 | 26 => 2,      // uint2, int2
                _ => return None,
            },
        })
    }

    /// Whether the type is a floating-point type gos-opt computes on.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    /// Whether the type is an integer type gos-opt computes on.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            DType::U8 | DType::I8 | DType::U16 | DType::I16 | DType::I32 | DType::I64 | DType::U32 | DType::U64
        )
    }

    /// The ONNX spelling (`float`, `int8`, ...), as used in errors and reports.
    pub fn name(self) -> String {
        match self {
            DType::F32 => "float".into(),
            DType::U8 => "uint8".into(),
            DType::I8 => "int8".into(),
            DType::U16 => "uint16".into(),
            DType::I16 => "int16".into(),
            DType::I32 => "int32".into(),
            DType::I64 => "int64".into(),
            DType::Str => "string".into(),
            DType::Bool => "bool".into(),
            DType::F16 => "float16".into(),
            DType::F64 => "double".into(),
            DType::U32 => "uint32".into(),
            DType::U64 => "uint64".into(),
            DType::BF16 => "bfloat16".into(),
            DType::Other(code) => format!("onnx-type-{code}"),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A tensor's static type: element type and dimensions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
}

impl TensorType {
    /// A type from its parts.
    pub fn new(dtype: DType, shape: Vec<usize>) -> Self {
        TensorType { dtype, shape }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size in bytes (strings count as 0; sub-byte types round up).
    pub fn bytes(&self) -> usize {
        (self.numel() * self.dtype.bits().unwrap_or(0)).div_ceil(8)
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.dtype, shape_string(&self.shape))
    }
}

/// `1x3x32x32` for a shape (`scalar` for rank 0).
pub fn shape_string(shape: &[usize]) -> String {
    if shape.is_empty() {
        "scalar".into()
    } else {
        shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
    }
}

/// Element storage of a tensor, one variant per element type.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `f16` elements.
    F16(Vec<f16>),
    /// `bf16` elements.
    BF16(Vec<bf16>),
    /// `i8` elements.
    I8(Vec<i8>),
    /// `i16` elements.
    I16(Vec<i16>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `u8` elements.
    U8(Vec<u8>),
    /// `u16` elements.
    U16(Vec<u16>),
    /// `u32` elements.
    U32(Vec<u32>),
    /// `u64` elements.
    U64(Vec<u64>),
    /// `bool` elements.
    Bool(Vec<bool>),
    /// Byte-string elements.
    Str(Vec<Vec<u8>>),
    /// Packed little-endian bytes of a [`DType::Other`] type, as in ONNX `raw_data`.
    Raw(Vec<u8>),
}

/// Applies `$body` to the typed vector inside a [`TensorData`] (not `Raw`/`Str`, which get `$other`).
macro_rules! numeric_data {
    ($data:expr, $v:ident => $body:expr, $other:expr) => {
        match $data {
            TensorData::F32($v) => $body,
            TensorData::F64($v) => $body,
            TensorData::F16($v) => $body,
            TensorData::BF16($v) => $body,
            TensorData::I8($v) => $body,
            TensorData::I16($v) => $body,
            TensorData::I32($v) => $body,
            TensorData::I64($v) => $body,
            TensorData::U8($v) => $body,
            TensorData::U16($v) => $body,
            TensorData::U32($v) => $body,
            TensorData::U64($v) => $body,
            TensorData::Bool($v) => $body,
            TensorData::Str(_) | TensorData::Raw(_) => $other,
        }
    };
}

/// Element conversions used to read any numeric tensor as `f64` or `i64`.
trait Element: Copy {
    fn to_f64(self) -> f64;
    fn to_i64(self) -> i64;
}
macro_rules! element_as {
    ($($t:ty),*) => {$(impl Element for $t {
        fn to_f64(self) -> f64 { self as f64 }
        fn to_i64(self) -> i64 { self as i64 }
    })*};
}
element_as!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);
impl Element for bool {
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
}
impl Element for f16 {
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
}
impl Element for bf16 {
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
}

/// A dense tensor with a static shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: TensorData,
    /// Element type (needed for [`TensorData::Raw`]; always agrees with `data`).
    pub dtype: DType,
}

impl Tensor {
    /// A tensor from a shape and data; the caller guarantees the lengths agree.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Tensor {
        let dtype = match &data {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::F16(_) => DType::F16,
            TensorData::BF16(_) => DType::BF16,
            TensorData::I8(_) => DType::I8,
            TensorData::I16(_) => DType::I16,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::U8(_) => DType::U8,
            TensorData::U16(_) => DType::U16,
            TensorData::U32(_) => DType::U32,
            TensorData::U64(_) => DType::U64,
            TensorData::Bool(_) => DType::Bool,
            TensorData::Str(_) => DType::Str,
            TensorData::Raw(_) => panic!("Tensor::new: Raw data needs Tensor::raw with its dtype"),
        };
        Tensor { shape, data, dtype }
    }

    /// A tensor of a type gos-opt only carries, from its packed bytes.
    pub fn raw(dtype: DType, shape: Vec<usize>, bytes: Vec<u8>) -> Tensor {
        Tensor { shape, data: TensorData::Raw(bytes), dtype }
    }

    /// An f32 tensor.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        Tensor::new(shape, TensorData::F32(data))
    }

    /// An i64 tensor.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Tensor {
        Tensor::new(shape, TensorData::I64(data))
    }

    /// A zero-filled tensor of a numeric type.
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Tensor {
        let n: usize = shape.iter().product();
        let data = match dtype {
            DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::F64 => TensorData::F64(vec![0.0; n]),
            DType::F16 => TensorData::F16(vec![f16::ZERO; n]),
            DType::BF16 => TensorData::BF16(vec![bf16::ZERO; n]),
            DType::I8 => TensorData::I8(vec![0; n]),
            DType::I16 => TensorData::I16(vec![0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::U8 => TensorData::U8(vec![0; n]),
            DType::U16 => TensorData::U16(vec![0; n]),
            DType::U32 => TensorData::U32(vec![0; n]),
            DType::U64 => TensorData::U64(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
            DType::Str => TensorData::Str(vec![Vec::new(); n]),
            DType::Other(_) => {
                let bits = dtype.bits().unwrap_or(8);
                return Tensor::raw(dtype, shape, vec![0; (n * bits).div_ceil(8)]);
            }
        };
        Tensor::new(shape, data)
    }

    /// The tensor's static type.
    pub fn ttype(&self) -> TensorType {
        TensorType::new(self.dtype, self.shape.clone())
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Every element as `f64` (`None` for strings and carried-only types).
    pub fn to_f64_vec(&self) -> Option<Vec<f64>> {
        numeric_data!(&self.data, v => Some(v.iter().map(|x| x.to_f64()).collect()), None)
    }

    /// Every element as `i64`, truncating floats (`None` for strings and carried-only types).
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        numeric_data!(&self.data, v => Some(v.iter().map(|x| x.to_i64()).collect()), None)
    }

    /// The f32 elements, if this is an f32 tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The single element of a one-element tensor as `f64`.
    pub fn scalar_f64(&self) -> Option<f64> {
        match self.to_f64_vec() {
            Some(v) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    }

    /// A tensor of type `dtype` holding `values` (converted with `as` semantics).
    pub fn from_f64(dtype: DType, shape: Vec<usize>, values: &[f64]) -> Option<Tensor> {
        let data = match dtype {
            DType::F32 => TensorData::F32(values.iter().map(|&x| x as f32).collect()),
            DType::F64 => TensorData::F64(values.to_vec()),
            DType::F16 => TensorData::F16(values.iter().map(|&x| f16::from_f64(x)).collect()),
            DType::BF16 => TensorData::BF16(values.iter().map(|&x| bf16::from_f64(x)).collect()),
            DType::I8 => TensorData::I8(values.iter().map(|&x| x as i8).collect()),
            DType::I16 => TensorData::I16(values.iter().map(|&x| x as i16).collect()),
            DType::I32 => TensorData::I32(values.iter().map(|&x| x as i32).collect()),
            DType::I64 => TensorData::I64(values.iter().map(|&x| x as i64).collect()),
            DType::U8 => TensorData::U8(values.iter().map(|&x| x as u8).collect()),
            DType::U16 => TensorData::U16(values.iter().map(|&x| x as u16).collect()),
            DType::U32 => TensorData::U32(values.iter().map(|&x| x as u32).collect()),
            DType::U64 => TensorData::U64(values.iter().map(|&x| x as u64).collect()),
            DType::Bool => TensorData::Bool(values.iter().map(|&x| x != 0.0).collect()),
            DType::Str | DType::Other(_) => return None,
        };
        Some(Tensor::new(shape, data))
    }

    /// A tensor of integer type `dtype` holding `values` exactly (wrapping like `as`).
    pub fn from_i64(dtype: DType, shape: Vec<usize>, values: &[i64]) -> Option<Tensor> {
        let data = match dtype {
            DType::I8 => TensorData::I8(values.iter().map(|&x| x as i8).collect()),
            DType::I16 => TensorData::I16(values.iter().map(|&x| x as i16).collect()),
            DType::I32 => TensorData::I32(values.iter().map(|&x| x as i32).collect()),
            DType::I64 => TensorData::I64(values.to_vec()),
            DType::U8 => TensorData::U8(values.iter().map(|&x| x as u8).collect()),
            DType::U16 => TensorData::U16(values.iter().map(|&x| x as u16).collect()),
            DType::U32 => TensorData::U32(values.iter().map(|&x| x as u32).collect()),
            DType::U64 => TensorData::U64(values.iter().map(|&x| x as u64).collect()),
            DType::Bool => TensorData::Bool(values.iter().map(|&x| x != 0).collect()),
            _ => {
                let as_f64: Vec<f64> = values.iter().map(|&x| x as f64).collect();
                return Tensor::from_f64(dtype, shape, &as_f64);
            }
        };
        Some(Tensor::new(shape, data))
    }

    /// The same elements under another shape with the same element count.
    pub fn reshaped(mut self, shape: Vec<usize>) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), self.numel());
        self.shape = shape;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_codes_round_trip() {
        for code in 1..=26 {
            let dt = DType::from_onnx(code).unwrap();
            assert_eq!(dt.onnx_code(), code);
        }
        assert_eq!(DType::from_onnx(0), None);
    }

    #[test]
    fn conversions_keep_values() {
        let t = Tensor::from_i64(DType::I8, vec![3], &[-1, 2, 127]).unwrap();
        assert_eq!(t.to_i64_vec().unwrap(), vec![-1, 2, 127]);
        assert_eq!(t.to_f64_vec().unwrap(), vec![-1.0, 2.0, 127.0]);
        assert_eq!(TensorType::new(DType::F32, vec![2, 3]).bytes(), 24);
        assert_eq!(TensorType::new(DType::Other(22), vec![3]).bytes(), 2);
    }
}
