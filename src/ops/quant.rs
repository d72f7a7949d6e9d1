//! Quantization: QuantizeLinear and DequantizeLinear (per-tensor, per-axis and blocked), and
//! the integer convolutions QLinearConv and ConvInteger (window rules from [`ConvAttrs`]).
//! Scales and zero points stay node inputs.

use super::conv::{check_bias, ConvAttrs};
use super::linalg::{check_zero_point, flag, require_opset};
use super::parse::push;
use super::pool::defined_since;
use super::{input, norm_axis, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{shape_string, DType, TensorType};
use crate::work::{Counter, OpClass};

/// Reads an element-type attribute (`0` or absent means unset).
fn dtype_attr(p: &Parser, name: &str) -> OpResult<Option<DType>> {
    match p.int(name, 0)? {
        0 => Ok(None),
        code => match i32::try_from(code).ok().and_then(DType::from_onnx) {
            Some(dt) if dt.bits().is_some() && dt != DType::Str => Ok(Some(dt)),
            _ => {
                Err(OpError::BadAttr { name: name.into(), cause: format!("{code} is not a numeric ONNX element type") })
            }
        },
    }
}

/// Reads `block_size` (`0` means not blocked).
fn block_size(p: &Parser) -> OpResult<usize> {
    let b = p.int("block_size", 0)?;
    usize::try_from(b)
        .map_err(|_| OpError::BadAttr { name: "block_size".into(), cause: format!("must be 0 or more, found {b}") })
}

/// Checks that a scale (and zero point) fit `x`: one element (per tensor), a 1-D vector as
/// long as `x`'s `axis` (per axis), or with `block_size`, `x`'s shape with the axis divided
/// (rounding up) by the block size.
fn check_scale(x: &[usize], scale: &TensorType, zp: Option<&TensorType>, axis: i64, block: usize) -> OpResult<()> {
    let single = |t: &TensorType| t.shape.len() <= 1 && t.numel() == 1;
    if let Some(z) = zp {
        if z.shape != scale.shape && !(single(z) && single(scale)) {
            return Err(OpError::Type(format!(
                "zero point {} and scale {} must have the same shape",
                shape_string(&z.shape),
                shape_string(&scale.shape)
            )));
        }
    }
    let s = &scale.shape;
    if single(scale) {
        return Ok(());
    }
    let a = norm_axis(axis, x.len())?;
    let fits = if block == 0 {
        s.len() == 1 && s[0] == x[a]
    } else {
        s.len() == x.len()
            && s.iter().zip(x).enumerate().all(|(i, (&sd, &xd))| sd == if i == a { xd.div_ceil(block) } else { xd })
    };
    if fits {
        return Ok(());
    }
    Err(OpError::Type(format!(
        "scale {} fits neither per-tensor nor {} quantization of {} along axis {axis}",
        shape_string(s),
        if block == 0 { "per-axis".to_string() } else { format!("block-{block}") },
        shape_string(x)
    )))
}

/// `y = saturate(round(x / y_scale) + y_zero_point)`; inputs x, y_scale, optional y_zero_point.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeLinear {
    /// Axis of per-axis or blocked quantization (opset 13+, default 1).
    pub axis: i64,
    /// `saturate` for float8 outputs (opset 19+, default true).
    pub saturate: bool,
    /// Block size along `axis` (opset 21+); 0 for per-tensor or per-axis.
    pub block_size: usize,
    /// `output_dtype` (opset 21+), used when there is no zero point.
    pub output_dtype: Option<DType>,
    /// `precision` of the division (opset 23+); `None` means y_scale's type.
    pub precision: Option<DType>,
}

impl Operator for QuantizeLinear {
    fn parse(p: &Parser) -> OpResult<Self> {
        require_opset(p, 10)?;
        defined_since(p, "axis", Some(13))?;
        defined_since(p, "saturate", Some(19))?;
        defined_since(p, "block_size", Some(21))?;
        defined_since(p, "output_dtype", Some(21))?;
        defined_since(p, "precision", Some(23))?;
        Ok(QuantizeLinear {
            axis: p.int("axis", 1)?,
            saturate: flag(p, "saturate", true)?,
            block_size: block_size(p)?,
            output_dtype: dtype_attr(p, "output_dtype")?,
            precision: dtype_attr(p, "precision")?,
        })
    }
    fn onnx_name(&self) -> &str {
        "QuantizeLinear"
    }
    /// The output type is y_zero_point's when given, else `output_dtype`, else uint8.
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (x, scale) = (input(inputs, 0)?, input(inputs, 1)?);
        let zp = inputs.get(2).copied().flatten();
        check_scale(&x.shape, scale, zp, self.axis, self.block_size)?;
        let dtype = match (zp, self.output_dtype) {
            (Some(z), Some(o)) if z.dtype != o => {
                return Err(OpError::Type(format!("y_zero_point is {} but output_dtype is {o}", z.dtype)))
            }
            (Some(z), _) => z.dtype,
            (None, Some(o)) => o,
            (None, None) => DType::U8,
        };
        Ok(vec![TensorType::new(dtype, x.shape.clone())])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.axis != 1 && opset >= 13 {
            push(&mut attrs, "axis", Attr::Int(self.axis));
        }
        if !self.saturate && opset >= 19 {
            push(&mut attrs, "saturate", Attr::Int(0));
        }
        if opset >= 21 {
            if self.block_size != 0 {
                push(&mut attrs, "block_size", Attr::Int(self.block_size as i64));
            }
            if let Some(dt) = self.output_dtype {
                push(&mut attrs, "output_dtype", Attr::Int(dt.onnx_code() as i64));
            }
        }
        if let (Some(dt), true) = (self.precision, opset >= 23) {
            push(&mut attrs, "precision", Attr::Int(dt.onnx_code() as i64));
        }
        attrs
    }
    /// x / scale (a multiply by the reciprocal), round, add the zero point, saturate.
    fn work(&self, c: &mut Counter) {
        let (n, x_dt) = (c.n(), c.input_dtype());
        c.on(x_dt, OpClass::Mul, n);
        c.on(x_dt, OpClass::Add, 2 * n);
        c.on(DType::I32, OpClass::Compare, 2 * n);
    }
}

/// `y = (x - x_zero_point) * x_scale`; inputs x, x_scale, optional x_zero_point.
#[derive(Clone, Debug, PartialEq)]
pub struct DequantizeLinear {
    /// Axis of per-axis or blocked dequantization (opset 13+, default 1).
    pub axis: i64,
    /// Block size along `axis` (opset 21+); 0 for per-tensor or per-axis.
    pub block_size: usize,
    /// `output_dtype` (opset 23+); `None` means x_scale's type.
    pub output_dtype: Option<DType>,
}

impl Operator for DequantizeLinear {
    fn parse(p: &Parser) -> OpResult<Self> {
        require_opset(p, 10)?;
        defined_since(p, "axis", Some(13))?;
        defined_since(p, "block_size", Some(21))?;
        defined_since(p, "output_dtype", Some(23))?;
        Ok(DequantizeLinear {
            axis: p.int("axis", 1)?,
            block_size: block_size(p)?,
            output_dtype: dtype_attr(p, "output_dtype")?,
        })
    }
    fn onnx_name(&self) -> &str {
        "DequantizeLinear"
    }
    /// The output type is `output_dtype` when given, else x_scale's type.
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (x, scale) = (input(inputs, 0)?, input(inputs, 1)?);
        let zp = inputs.get(2).copied().flatten();
        check_zero_point(inputs, 2, 0, ("x_zero_point", "x"))?;
        check_scale(&x.shape, scale, zp, self.axis, self.block_size)?;
        Ok(vec![TensorType::new(self.output_dtype.unwrap_or(scale.dtype), x.shape.clone())])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.axis != 1 && opset >= 13 {
            push(&mut attrs, "axis", Attr::Int(self.axis));
        }
        if self.block_size != 0 && opset >= 21 {
            push(&mut attrs, "block_size", Attr::Int(self.block_size as i64));
        }
        if let (Some(dt), true) = (self.output_dtype, opset >= 23) {
            push(&mut attrs, "output_dtype", Attr::Int(dt.onnx_code() as i64));
        }
        attrs
    }
    /// (x - zero_point) * scale.
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        c.on(dt, OpClass::Add, n);
        c.on(dt, OpClass::Mul, n);
    }
}

/// Quantized convolution; inputs x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
/// y_zero_point and optional int32 bias B. The output has y_zero_point's element type.
#[derive(Clone, Debug, PartialEq)]
pub struct QLinearConv {
    /// Window attributes.
    pub attrs: ConvAttrs,
}

impl Operator for QLinearConv {
    fn parse(p: &Parser) -> OpResult<Self> {
        require_opset(p, 10)?;
        Ok(QLinearConv { attrs: ConvAttrs::parse(p)? })
    }
    fn onnx_name(&self) -> &str {
        "QLinearConv"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (x, w, y_zp) = (input(inputs, 0)?, input(inputs, 3)?, input(inputs, 7)?);
        check_zero_point(inputs, 2, 0, ("x_zero_point", "x"))?;
        check_zero_point(inputs, 5, 3, ("w_zero_point", "w"))?;
        let shape = self.attrs.conv_output(&x.shape, &w.shape)?;
        check_bias(inputs.get(8).copied().flatten(), shape[1])?;
        Ok(vec![TensorType::new(y_zp.dtype, shape)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        self.attrs.conv_attributes()
    }
    /// As for Conv.
    fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
        ConvAttrs::conv_macs(inputs, outputs, 3)
    }
    fn work(&self, c: &mut Counter) {
        c.on(c.input_dtype(), OpClass::Fma, self.macs(c.inputs, c.outputs));
        if c.input(8).is_some() {
            c.on(DType::I32, OpClass::Add, c.n());
        }
        c.requantize(c.n());
        c.im2col(3, self.attrs.group);
    }
}

/// Integer convolution `conv(x - x_zero_point, w - w_zero_point)` into int32; inputs x, w and
/// optional x_zero_point, w_zero_point.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvInteger {
    /// Window attributes.
    pub attrs: ConvAttrs,
}

impl Operator for ConvInteger {
    fn parse(p: &Parser) -> OpResult<Self> {
        require_opset(p, 10)?;
        Ok(ConvInteger { attrs: ConvAttrs::parse(p)? })
    }
    fn onnx_name(&self) -> &str {
        "ConvInteger"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (x, w) = (input(inputs, 0)?, input(inputs, 1)?);
        check_zero_point(inputs, 2, 0, ("x_zero_point", "x"))?;
        check_zero_point(inputs, 3, 1, ("w_zero_point", "w"))?;
        Ok(vec![TensorType::new(DType::I32, self.attrs.conv_output(&x.shape, &w.shape)?)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        self.attrs.conv_attributes()
    }
    /// As for Conv.
    fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
        ConvAttrs::conv_macs(inputs, outputs, 1)
    }
    fn work(&self, c: &mut Counter) {
        c.on(c.input_dtype(), OpClass::Fma, self.macs(c.inputs, c.outputs));
        c.im2col(1, self.attrs.group);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{parser, t};
    use super::*;

    #[test]
    fn quantize_output_type() {
        let (x, s) = (t(DType::F32, &[2, 3, 4]), t(DType::F32, &[]));
        let q = QuantizeLinear::parse(&parser("QuantizeLinear", 13, &Vec::new())).unwrap();
        assert_eq!(q.infer(&[Some(&x), Some(&s)]).unwrap(), vec![t(DType::U8, &[2, 3, 4])]);
        assert_eq!(q.infer(&[Some(&x), Some(&s), Some(&t(DType::I8, &[]))]).unwrap()[0].dtype, DType::I8);
        let attrs = vec![("output_dtype".to_string(), Attr::Int(3))];
        let q21 = QuantizeLinear::parse(&parser("QuantizeLinear", 21, &attrs)).unwrap();
        assert_eq!(q21.infer(&[Some(&x), Some(&s)]).unwrap()[0].dtype, DType::I8);
        assert!(matches!(q21.infer(&[Some(&x), Some(&s), Some(&t(DType::U8, &[]))]), Err(OpError::Type(_))));
        // output_dtype does not exist before opset 21.
        assert!(matches!(QuantizeLinear::parse(&parser("QuantizeLinear", 19, &attrs)), Err(OpError::BadAttr { .. })));
        assert!(matches!(
            QuantizeLinear::parse(&parser("QuantizeLinear", 9, &Vec::new())),
            Err(OpError::Unsupported(_))
        ));
    }

    #[test]
    fn scale_shapes_per_axis_and_blocked() {
        let x = t(DType::F32, &[8, 6]);
        let q = QuantizeLinear::parse(&parser("QuantizeLinear", 13, &vec![("axis".into(), Attr::Int(0))])).unwrap();
        assert!(q.infer(&[Some(&x), Some(&t(DType::F32, &[8])), Some(&t(DType::I8, &[8]))]).is_ok());
        assert!(matches!(q.infer(&[Some(&x), Some(&t(DType::F32, &[6]))]), Err(OpError::Type(_))));
        assert!(q.infer(&[Some(&x), Some(&t(DType::F32, &[8])), Some(&t(DType::I8, &[]))]).is_err());
        let attrs = vec![("axis".to_string(), Attr::Int(1)), ("block_size".into(), Attr::Int(4))];
        let dq = DequantizeLinear::parse(&parser("DequantizeLinear", 21, &attrs)).unwrap();
        let xi = t(DType::I8, &[8, 6]);
        assert_eq!(dq.infer(&[Some(&xi), Some(&t(DType::F16, &[8, 2]))]).unwrap(), vec![t(DType::F16, &[8, 6])]);
        assert!(dq.infer(&[Some(&xi), Some(&t(DType::F16, &[8, 3]))]).is_err());
    }

    #[test]
    fn dequantize_output_type() {
        let (x, s) = (t(DType::U8, &[1, 4]), t(DType::F32, &[]));
        let dq = DequantizeLinear::parse(&parser("DequantizeLinear", 13, &Vec::new())).unwrap();
        assert_eq!(dq.infer(&[Some(&x), Some(&s), Some(&t(DType::U8, &[]))]).unwrap(), vec![t(DType::F32, &[1, 4])]);
        assert!(dq.infer(&[Some(&x), Some(&s), Some(&t(DType::I8, &[]))]).is_err());
        let attrs = vec![("output_dtype".to_string(), Attr::Int(10))];
        let dq23 = DequantizeLinear::parse(&parser("DequantizeLinear", 23, &attrs)).unwrap();
        assert_eq!(dq23.infer(&[Some(&x), Some(&s)]).unwrap()[0].dtype, DType::F16);
    }

    #[test]
    fn quant_attributes_round_trip() {
        let attrs = vec![
            ("axis".to_string(), Attr::Int(0)),
            ("saturate".into(), Attr::Int(0)),
            ("block_size".into(), Attr::Int(32)),
            ("output_dtype".into(), Attr::Int(3)),
            ("precision".into(), Attr::Int(1)),
        ];
        let q = QuantizeLinear::parse(&parser("QuantizeLinear", 23, &attrs)).unwrap();
        assert_eq!(q.attributes(23), attrs);
        assert_eq!(QuantizeLinear::parse(&parser("QuantizeLinear", 23, &q.attributes(23))).unwrap(), q);
        // Older opsets only get the attributes they define.
        assert_eq!(q.attributes(13), vec![("axis".to_string(), Attr::Int(0))]);
        let defaults = vec![("axis".to_string(), Attr::Int(1)), ("saturate".into(), Attr::Int(1))];
        assert!(QuantizeLinear::parse(&parser("QuantizeLinear", 19, &defaults)).unwrap().attributes(19).is_empty());
        let dq = DequantizeLinear::parse(&parser("DequantizeLinear", 21, &vec![("block_size".into(), Attr::Int(16))]))
            .unwrap();
        assert_eq!(DequantizeLinear::parse(&parser("DequantizeLinear", 21, &dq.attributes(21))).unwrap(), dq);
    }

    #[test]
    fn qlinear_conv_and_conv_integer() {
        let attrs = vec![("pads".to_string(), Attr::Ints(vec![1, 1, 1, 1])), ("group".into(), Attr::Int(8))];
        let op = QLinearConv::parse(&parser("QLinearConv", 10, &attrs)).unwrap();
        let (x, w, f, zx, zw, zy, b) = (
            t(DType::U8, &[1, 8, 48, 48]),
            t(DType::I8, &[8, 1, 3, 3]),
            t(DType::F32, &[]),
            t(DType::U8, &[]),
            t(DType::I8, &[8]),
            t(DType::I8, &[]),
            t(DType::I32, &[8]),
        );
        let ins = [Some(&x), Some(&f), Some(&zx), Some(&w), Some(&f), Some(&zw), Some(&f), Some(&zy), Some(&b)];
        let out = op.infer(&ins).unwrap();
        assert_eq!(out, vec![t(DType::I8, &[1, 8, 48, 48])]);
        // MobileNetV1-0.25 VWW's first depthwise layer.
        assert_eq!(op.macs(&ins, &out), 8 * 48 * 48 * 9);
        assert_eq!(QLinearConv::parse(&parser("QLinearConv", 10, &op.attributes(10))).unwrap(), op);
        let ci = ConvInteger::parse(&parser("ConvInteger", 10, &Vec::new())).unwrap();
        let (xi, wi) = (t(DType::U8, &[1, 3, 5, 5]), t(DType::U8, &[4, 3, 3, 3]));
        let out = ci.infer(&[Some(&xi), Some(&wi)]).unwrap();
        assert_eq!(out, vec![t(DType::I32, &[1, 4, 3, 3])]);
        assert_eq!(ci.macs(&[Some(&xi), Some(&wi)], &out), 4 * 9 * 27);
        assert!(matches!(ci.infer(&[Some(&xi), Some(&t(DType::U8, &[4, 2, 3, 3]))]), Err(OpError::Type(_))));
    }
}
