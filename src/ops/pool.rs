//! Pooling: MaxPool and AveragePool over a window (sharing the convolution window rules of
//! [`ConvAttrs`]), and global pooling over all spatial axes.

use super::conv::ConvAttrs;
use super::linalg::flag;
use super::parse::push;
use super::{input, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{shape_string, DType, TensorType};
use crate::work::{Counter, OpClass};

/// What a pooling window computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// The maximum of the window.
    Max,
    /// The mean of the window.
    Average,
}

/// Errors when attribute `name` is present but the op at this opset does not define it.
pub(crate) fn defined_since(p: &Parser, name: &str, since: Option<i64>) -> OpResult<()> {
    if p.attr(name).is_none() {
        return Ok(());
    }
    match since {
        Some(v) if p.opset >= v => Ok(()),
        Some(v) => Err(OpError::BadAttr {
            name: name.into(),
            cause: format!("{} defines it from opset {v}, the model has opset {}", p.op_type, p.opset),
        }),
        None => Err(OpError::BadAttr { name: name.into(), cause: format!("{} has no such attribute", p.op_type) }),
    }
}

/// `[N, C, spatial...]` check shared by the pools.
fn check_nchw(x: &TensorType, op: &str) -> OpResult<()> {
    if x.shape.len() < 3 {
        return Err(OpError::Type(format!(
            "{op} needs X of shape [N, C, spatial...], found {}",
            shape_string(&x.shape)
        )));
    }
    Ok(())
}

/// MaxPool or AveragePool. MaxPool may declare a second output, the int64 Indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// Max or average.
    pub kind: PoolKind,
    /// Window attributes; `kernel_shape` is always present and `group` is 1.
    pub window: ConvAttrs,
    /// `ceil_mode` (opset 10+): round the output size up.
    pub ceil_mode: bool,
    /// `count_include_pad` (AveragePool): padding counts in the divisor.
    pub count_include_pad: bool,
    /// `storage_order` (MaxPool, opset 8+): Indices are column-major.
    pub column_major: bool,
    /// Declared outputs (1, or 2 for MaxPool with Indices).
    pub n_outputs: usize,
}

impl Pool {
    /// The first opset whose version of this op has `dilations`.
    fn dilations_since(&self) -> i64 {
        match self.kind {
            PoolKind::Max => 10,
            PoolKind::Average => 19,
        }
    }
}

impl Operator for Pool {
    fn parse(p: &Parser) -> OpResult<Self> {
        let (kind, max_outputs) = match p.op_type {
            "MaxPool" => (PoolKind::Max, if p.opset >= 8 { 2 } else { 1 }),
            "AveragePool" => (PoolKind::Average, 1),
            other => return Err(OpError::Unsupported(other.into())),
        };
        let is_max = kind == PoolKind::Max;
        defined_since(p, "group", None)?;
        defined_since(p, "dilations", Some(if is_max { 10 } else { 19 }))?;
        defined_since(p, "ceil_mode", Some(10))?;
        defined_since(p, "storage_order", is_max.then_some(8))?;
        defined_since(p, "count_include_pad", (!is_max).then_some(7))?;
        let window = ConvAttrs::parse(p)?;
        if window.kernel_shape.is_none() {
            return Err(OpError::MissingAttr("kernel_shape".into()));
        }
        if p.n_outputs > max_outputs {
            return Err(OpError::Type(format!(
                "{} at opset {} has at most {max_outputs} output(s), the node declares {}",
                p.op_type, p.opset, p.n_outputs
            )));
        }
        Ok(Pool {
            kind,
            window,
            ceil_mode: flag(p, "ceil_mode", false)?,
            count_include_pad: flag(p, "count_include_pad", false)?,
            column_major: flag(p, "storage_order", false)?,
            n_outputs: p.n_outputs.max(1),
        })
    }
    fn onnx_name(&self) -> &str {
        match self.kind {
            PoolKind::Max => "MaxPool",
            PoolKind::Average => "AveragePool",
        }
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        check_nchw(x, self.onnx_name())?;
        let kernel = self.window.kernel_shape.as_deref().ok_or_else(|| OpError::MissingAttr("kernel_shape".into()))?;
        let window = self.window.window(&x.shape[2..], kernel, self.ceil_mode)?;
        let shape: Vec<usize> = x.shape[..2].iter().copied().chain(window.output).collect();
        let mut out = vec![TensorType::new(x.dtype, shape.clone())];
        if self.n_outputs > 1 {
            out.push(TensorType::new(DType::I64, shape));
        }
        Ok(out)
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        self.window.write(&mut attrs, opset >= self.dilations_since());
        if self.ceil_mode && opset >= 10 {
            push(&mut attrs, "ceil_mode", Attr::Int(1));
        }
        if self.count_include_pad && self.kind == PoolKind::Average {
            push(&mut attrs, "count_include_pad", Attr::Int(1));
        }
        if self.column_major && self.kind == PoolKind::Max && opset >= 8 {
            push(&mut attrs, "storage_order", Attr::Int(1));
        }
        attrs
    }
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        let k: u64 = self.window.kernel_shape.iter().flatten().map(|&d| d as u64).product();
        match self.kind {
            PoolKind::Max => c.on_scalar(dt, OpClass::Compare, n * k),
            PoolKind::Average => {
                c.on_scalar(dt, OpClass::Add, n * k);
                c.on(dt, OpClass::Mul, n);
            }
        }
    }
}

/// Pooling over every spatial axis: `[N, C, spatial...]` to `[N, C, 1, ...]`.
/// Only GlobalAveragePool is registered.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalPool {
    /// Max or average.
    pub kind: PoolKind,
}

impl Operator for GlobalPool {
    fn parse(p: &Parser) -> OpResult<Self> {
        let kind = match p.op_type {
            "GlobalAveragePool" => PoolKind::Average,
            "GlobalMaxPool" => PoolKind::Max,
            other => return Err(OpError::Unsupported(other.into())),
        };
        Ok(GlobalPool { kind })
    }
    fn onnx_name(&self) -> &str {
        match self.kind {
            PoolKind::Max => "GlobalMaxPool",
            PoolKind::Average => "GlobalAveragePool",
        }
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        check_nchw(x, self.onnx_name())?;
        let shape = x.shape.iter().enumerate().map(|(i, &d)| if i < 2 { d } else { 1 }).collect();
        Ok(vec![TensorType::new(x.dtype, shape)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
    fn work(&self, c: &mut Counter) {
        let (n, n_in, dt) = (c.n(), c.n_in(), c.dtype());
        match self.kind {
            PoolKind::Max => c.on_scalar(dt, OpClass::Compare, n_in),
            PoolKind::Average => {
                c.on_scalar(dt, OpClass::Add, n_in);
                c.on(dt, OpClass::Mul, n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser<'a>(op_type: &'a str, opset: i64, attrs: &'a Attrs, n_outputs: usize) -> Parser<'a> {
        Parser { op_type, domain: "", opset, attrs, inputs: Vec::new(), n_outputs }
    }

    fn ints(name: &str, v: &[i64]) -> (String, Attr) {
        (name.to_string(), Attr::Ints(v.to_vec()))
    }

    fn pool_shape(op_type: &str, mut attrs: Attrs, ceil: bool, x: &[usize]) -> OpResult<Vec<usize>> {
        if ceil {
            attrs.push(("ceil_mode".into(), Attr::Int(1)));
        }
        let op = Pool::parse(&parser(op_type, 13, &attrs, 1))?;
        Ok(op.infer(&[Some(&TensorType::new(DType::F32, x.to_vec()))])?.remove(0).shape)
    }

    #[test]
    fn maxpool_ceil_mode_matches_onnx_examples() {
        // maxpool_2d_ceil: 4x4, kernel 3, stride 2 -> 2x2 (1x1 without ceil_mode).
        let k3s2 = || vec![ints("kernel_shape", &[3, 3]), ints("strides", &[2, 2])];
        assert_eq!(pool_shape("MaxPool", k3s2(), true, &[1, 1, 4, 4]).unwrap(), vec![1, 1, 2, 2]);
        assert_eq!(pool_shape("MaxPool", k3s2(), false, &[1, 1, 4, 4]).unwrap(), vec![1, 1, 1, 1]);
        // maxpool_2d_ceil_output_size_reduce_by_one: 2x2, kernel 1, stride 2 -> 1x1, since a
        // second window would start outside the input.
        let k1s2 = vec![ints("kernel_shape", &[1, 1]), ints("strides", &[2, 2])];
        assert_eq!(pool_shape("MaxPool", k1s2, true, &[1, 1, 2, 2]).unwrap(), vec![1, 1, 1, 1]);
        // 5x5, kernel 3, stride 3, pads 1: ceil((5+2-3)/3)+1 = 3, but window 3 starts at 6 >= 5+1.
        let padded = vec![ints("kernel_shape", &[3, 3]), ints("strides", &[3, 3]), ints("pads", &[1, 1, 1, 1])];
        assert_eq!(pool_shape("AveragePool", padded, true, &[1, 2, 5, 5]).unwrap(), vec![1, 2, 2, 2]);
    }

    #[test]
    fn auto_pad_and_dilation() {
        // maxpool_2d_same_upper: 5x5, kernel 3 keeps 5x5; DS-CNN's VALID average pool.
        let same = vec![ints("kernel_shape", &[3, 3]), ("auto_pad".into(), Attr::String(b"SAME_UPPER".to_vec()))];
        assert_eq!(pool_shape("MaxPool", same, false, &[1, 1, 5, 5]).unwrap(), vec![1, 1, 5, 5]);
        let valid = vec![
            ("auto_pad".into(), Attr::String(b"VALID".to_vec())),
            ints("kernel_shape", &[25, 5]),
            ints("strides", &[25, 5]),
        ];
        assert_eq!(pool_shape("AveragePool", valid, false, &[1, 64, 25, 5]).unwrap(), vec![1, 64, 1, 1]);
        // maxpool_2d_dilations: 4x4, kernel 2, dilation 2 -> 2x2; 1-D and 3-D pools.
        let dilated = vec![ints("kernel_shape", &[2, 2]), ints("dilations", &[2, 2])];
        assert_eq!(pool_shape("MaxPool", dilated, false, &[1, 1, 4, 4]).unwrap(), vec![1, 1, 2, 2]);
        assert_eq!(
            pool_shape("MaxPool", vec![ints("kernel_shape", &[2])], false, &[1, 3, 32]).unwrap(),
            vec![1, 3, 31]
        );
        let k3d = vec![ints("kernel_shape", &[2, 2, 2]), ints("strides", &[2, 2, 2])];
        assert_eq!(pool_shape("AveragePool", k3d, false, &[1, 3, 8, 8, 8]).unwrap(), vec![1, 3, 4, 4, 4]);
    }

    #[test]
    fn maxpool_indices_are_int64() {
        let attrs = vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])];
        let op = Pool::parse(&parser("MaxPool", 12, &attrs, 2)).unwrap();
        let out = op.infer(&[Some(&TensorType::new(DType::F16, vec![2, 3, 8, 6]))]).unwrap();
        assert_eq!(
            out,
            vec![TensorType::new(DType::F16, vec![2, 3, 4, 3]), TensorType::new(DType::I64, vec![2, 3, 4, 3])]
        );
        assert!(Pool::parse(&parser("AveragePool", 12, &attrs, 2)).is_err());
    }

    #[test]
    fn bad_pool_attributes() {
        assert_eq!(
            Pool::parse(&parser("MaxPool", 13, &Vec::new(), 1)),
            Err(OpError::MissingAttr("kernel_shape".into()))
        );
        let dilated = vec![ints("kernel_shape", &[2, 2]), ints("dilations", &[2, 2])];
        assert!(matches!(Pool::parse(&parser("MaxPool", 9, &dilated, 1)), Err(OpError::BadAttr { .. })));
        assert!(matches!(Pool::parse(&parser("AveragePool", 18, &dilated, 1)), Err(OpError::BadAttr { .. })));
        let cip = vec![ints("kernel_shape", &[2, 2]), ("count_include_pad".into(), Attr::Int(1))];
        assert!(matches!(Pool::parse(&parser("MaxPool", 13, &cip, 1)), Err(OpError::BadAttr { .. })));
        assert!(matches!(
            pool_shape("MaxPool", vec![ints("kernel_shape", &[5, 5])], false, &[1, 1, 4, 4]),
            Err(OpError::Type(_))
        ));
        assert!(matches!(
            pool_shape("MaxPool", vec![ints("kernel_shape", &[2])], false, &[1, 1, 4, 4]),
            Err(OpError::Type(_))
        ));
    }

    #[test]
    fn pool_attributes_round_trip() {
        let attrs = vec![
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[2, 2]),
            ints("pads", &[1, 1, 1, 1]),
            ints("dilations", &[1, 1]),
            ("ceil_mode".into(), Attr::Int(1)),
            ("count_include_pad".into(), Attr::Int(1)),
        ];
        let op = Pool::parse(&parser("AveragePool", 19, &attrs, 1)).unwrap();
        let written = op.attributes(19);
        assert_eq!(written.len(), 5, "default dilations are not written: {written:?}");
        assert_eq!(Pool::parse(&parser("AveragePool", 19, &written, 1)).unwrap(), op);
        let max =
            Pool::parse(&parser("MaxPool", 12, &vec![ints("kernel_shape", &[2, 2]), ints("dilations", &[2, 1])], 1))
                .unwrap();
        assert_eq!(Pool::parse(&parser("MaxPool", 12, &max.attributes(12), 1)).unwrap(), max);
    }

    #[test]
    fn global_average_pool_keeps_n_and_c() {
        let op = GlobalPool::parse(&parser("GlobalAveragePool", 13, &Vec::new(), 1)).unwrap();
        let out = op.infer(&[Some(&TensorType::new(DType::F32, vec![1, 256, 3, 3]))]).unwrap();
        assert_eq!(out[0].shape, vec![1, 256, 1, 1]);
        assert!(op.infer(&[Some(&TensorType::new(DType::F32, vec![1, 256]))]).is_err());
        assert_eq!(op.onnx_name(), "GlobalAveragePool");
    }
}
