//! Normalizations: BatchNormalization (inference form only), LayerNormalization and LRN.
//! Scales, biases and running statistics stay node inputs.

use super::linalg::{flag, require_opset};
use super::parse::push;
use super::pool::defined_since;
use super::{broadcast_shapes, input, norm_axis, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{shape_string, DType, TensorType};
use crate::work::{Counter, OpClass};

/// ONNX's default `epsilon` for BatchNormalization and LayerNormalization.
const DEFAULT_EPSILON: f32 = 1e-5;

/// Inference-mode batch normalization:
/// `Y = (X - mean) / sqrt(var + epsilon) * scale + B` with inputs X, scale, B, mean, var.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// Added to the variance (default 1e-5).
    pub epsilon: f32,
    /// Running-average factor, unused in inference but written back (default 0.9).
    pub momentum: f32,
    /// Opset < 9 `spatial`: statistics per channel (true, default) or per activation
    /// (false: scale, B, mean and var have X's shape without N).
    pub spatial: bool,
}

impl Operator for BatchNorm {
    /// Training forms (`training_mode=1`, or running statistics as extra outputs) are
    /// [`OpError::Unsupported`].
    fn parse(p: &Parser) -> OpResult<Self> {
        defined_since(p, "training_mode", Some(14))?;
        if flag(p, "training_mode", false)? {
            return Err(OpError::Unsupported(
                "BatchNormalization with training_mode=1 (only the inference form is supported)".into(),
            ));
        }
        if p.opset < 7 && !flag(p, "is_test", false)? {
            return Err(OpError::Unsupported(
                "BatchNormalization-6 with is_test=0 (the training form; only inference is supported)".into(),
            ));
        }
        if p.n_outputs > 1 {
            return Err(OpError::Unsupported(format!(
                "BatchNormalization with {} outputs (the training form; only Y is supported)",
                p.n_outputs
            )));
        }
        let spatial = if p.opset < 9 {
            flag(p, "spatial", true)?
        } else {
            defined_since(p, "spatial", None)?;
            true
        };
        Ok(BatchNorm { epsilon: p.float("epsilon", DEFAULT_EPSILON)?, momentum: p.float("momentum", 0.9)?, spatial })
    }
    fn onnx_name(&self) -> &str {
        "BatchNormalization"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        if x.shape.len() < 2 {
            return Err(OpError::Type(format!(
                "BatchNormalization needs X of shape [N, C, ...], found {}",
                shape_string(&x.shape)
            )));
        }
        let expected = if self.spatial { &x.shape[1..2] } else { &x.shape[1..] };
        for (i, name) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let t = input(inputs, i)?;
            if t.shape != expected {
                return Err(OpError::Type(format!(
                    "{name} has shape {} but X {} needs {}",
                    shape_string(&t.shape),
                    shape_string(&x.shape),
                    shape_string(expected)
                )));
            }
        }
        Ok(vec![x.clone()])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.epsilon != DEFAULT_EPSILON {
            push(&mut attrs, "epsilon", Attr::Float(self.epsilon));
        }
        if self.momentum != 0.9 {
            push(&mut attrs, "momentum", Attr::Float(self.momentum));
        }
        if opset < 7 {
            push(&mut attrs, "is_test", Attr::Int(1));
        }
        if !self.spatial && opset < 9 {
            push(&mut attrs, "spatial", Attr::Int(0));
        }
        attrs
    }
    /// Inference form: one scale and shift per element.
    fn work(&self, c: &mut Counter) {
        c.on(c.dtype(), OpClass::Fma, c.n());
    }
}

/// Layer normalization over the axes from `axis` on (opset 17+); inputs X, Scale, optional B;
/// outputs Y and optional Mean and InvStdDev (X's shape with the normalized axes set to 1, in
/// the stash type).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    /// First normalized axis as written (default -1).
    pub axis: i64,
    /// Added to the variance (default 1e-5).
    pub epsilon: f32,
    /// Type of the statistics and of their computation (default float).
    pub stash_type: DType,
    /// Declared outputs (1 to 3).
    pub n_outputs: usize,
}

impl Operator for LayerNorm {
    fn parse(p: &Parser) -> OpResult<Self> {
        require_opset(p, 17)?;
        let code = p.int("stash_type", 1)?;
        let stash_type =
            i32::try_from(code).ok().and_then(DType::from_onnx).filter(|d| d.is_float()).ok_or_else(|| {
                OpError::BadAttr {
                    name: "stash_type".into(),
                    cause: format!("{code} is not a floating-point element type"),
                }
            })?;
        if p.n_outputs > 3 {
            return Err(OpError::Type(format!(
                "LayerNormalization has at most 3 outputs, the node declares {}",
                p.n_outputs
            )));
        }
        Ok(LayerNorm {
            axis: p.int("axis", -1)?,
            epsilon: p.float("epsilon", DEFAULT_EPSILON)?,
            stash_type,
            n_outputs: p.n_outputs.max(1),
        })
    }
    fn onnx_name(&self) -> &str {
        "LayerNormalization"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        let axis = norm_axis(self.axis, x.shape.len())?;
        input(inputs, 1)?; // Scale is required, B optional.
        for (i, name) in [(1, "Scale"), (2, "B")] {
            if let Some(t) = inputs.get(i).copied().flatten() {
                if broadcast_shapes(&t.shape, &x.shape).ok().as_ref() != Some(&x.shape) {
                    return Err(OpError::Type(format!(
                        "{name} {} does not broadcast to X {}",
                        shape_string(&t.shape),
                        shape_string(&x.shape)
                    )));
                }
            }
        }
        let reduced: Vec<usize> = x.shape.iter().enumerate().map(|(i, &d)| if i < axis { d } else { 1 }).collect();
        let mut out = vec![x.clone()];
        for _ in 1..self.n_outputs {
            out.push(TensorType::new(self.stash_type, reduced.clone()));
        }
        Ok(out)
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.axis != -1 {
            push(&mut attrs, "axis", Attr::Int(self.axis));
        }
        if self.epsilon != DEFAULT_EPSILON {
            push(&mut attrs, "epsilon", Attr::Float(self.epsilon));
        }
        if self.stash_type != DType::F32 {
            push(&mut attrs, "stash_type", Attr::Int(self.stash_type.onnx_code() as i64));
        }
        attrs
    }
    /// mean, subtract, variance, one rsqrt per row, normalize, scale and shift.
    fn work(&self, c: &mut Counter) {
        let (n, dt, x) = (c.n(), c.dtype(), c.input(0));
        let rank = x.map(|x| x.shape.len()).unwrap_or(1) as i64;
        let axis = (if self.axis < 0 { self.axis + rank } else { self.axis }).clamp(0, rank) as usize;
        let row: u64 = x.map(|x| x.shape[axis.min(x.shape.len())..].iter().map(|&d| d as u64).product()).unwrap_or(1);
        c.on_scalar(dt, OpClass::Add, n);
        c.on_scalar(dt, OpClass::Fma, n);
        c.on(dt, OpClass::Add, n);
        c.on(dt, OpClass::Fma, n);
        c.on(dt, OpClass::Mul, n);
        c.on(dt, OpClass::Divide, n / row.max(1));
    }
}

/// Local response normalization across channels:
/// `Y = X / (bias + alpha / size * square_sum)^beta`, where `square_sum` adds `X^2` over the
/// `size` channels around each one.
#[derive(Clone, Debug, PartialEq)]
pub struct Lrn {
    /// Number of channels summed over (required).
    pub size: usize,
    /// Scale (default 1e-4).
    pub alpha: f32,
    /// Exponent (default 0.75).
    pub beta: f32,
    /// Offset (default 1).
    pub bias: f32,
}

impl Operator for Lrn {
    fn parse(p: &Parser) -> OpResult<Self> {
        let size = p.int_opt("size")?.ok_or_else(|| OpError::MissingAttr("size".into()))?;
        let size = usize::try_from(size).ok().filter(|&s| s > 0).ok_or_else(|| OpError::BadAttr {
            name: "size".into(),
            cause: format!("must be at least 1, found {size}"),
        })?;
        Ok(Lrn { size, alpha: p.float("alpha", 1e-4)?, beta: p.float("beta", 0.75)?, bias: p.float("bias", 1.0)? })
    }
    fn onnx_name(&self) -> &str {
        "LRN"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        if x.shape.len() < 3 {
            return Err(OpError::Type(format!(
                "LRN needs X of shape [N, C, spatial...], found {}",
                shape_string(&x.shape)
            )));
        }
        Ok(vec![x.clone()])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        let mut attrs = vec![("size".to_string(), Attr::Int(self.size as i64))];
        if self.alpha != 1e-4 {
            push(&mut attrs, "alpha", Attr::Float(self.alpha));
        }
        if self.beta != 0.75 {
            push(&mut attrs, "beta", Attr::Float(self.beta));
        }
        if self.bias != 1.0 {
            push(&mut attrs, "bias", Attr::Float(self.bias));
        }
        attrs
    }
    /// Sum of squares over `size` channels, a power and a divide per element.
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        c.on_scalar(dt, OpClass::Fma, n * self.size as u64);
        c.on(dt, OpClass::Transcendental, n);
        c.on(dt, OpClass::Divide, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser<'a>(op_type: &'a str, opset: i64, attrs: &'a Attrs, n_outputs: usize) -> Parser<'a> {
        Parser { op_type, domain: "", opset, attrs, inputs: Vec::new(), n_outputs }
    }

    fn f32(shape: &[usize]) -> TensorType {
        TensorType::new(DType::F32, shape.to_vec())
    }

    #[test]
    fn batchnorm_inference_form() {
        let bn = BatchNorm::parse(&parser("BatchNormalization", 15, &Vec::new(), 1)).unwrap();
        let (x, c) = (f32(&[1, 16, 8, 8]), f32(&[16]));
        assert_eq!(bn.infer(&[Some(&x), Some(&c), Some(&c), Some(&c), Some(&c)]).unwrap(), vec![x.clone()]);
        let err = bn.infer(&[Some(&x), Some(&c), Some(&c), Some(&f32(&[8])), Some(&c)]).unwrap_err();
        assert!(matches!(err, OpError::Type(m) if m.contains("mean has shape 8")));
        assert!(matches!(bn.infer(&[Some(&x), Some(&c)]), Err(OpError::MissingInput(2))));
        assert_eq!(bn.macs(&[Some(&x)], std::slice::from_ref(&x)), 0);
        // Opset 7 per-activation statistics.
        let attrs = vec![("spatial".to_string(), Attr::Int(0))];
        let bn7 = BatchNorm::parse(&parser("BatchNormalization", 7, &attrs, 1)).unwrap();
        let p = f32(&[16, 8, 8]);
        assert!(bn7.infer(&[Some(&x), Some(&p), Some(&p), Some(&p), Some(&p)]).is_ok());
        assert!(matches!(BatchNorm::parse(&parser("BatchNormalization", 9, &attrs, 1)), Err(OpError::BadAttr { .. })));
    }

    #[test]
    fn batchnorm_training_is_unsupported() {
        let training = vec![("training_mode".to_string(), Attr::Int(1))];
        assert!(matches!(
            BatchNorm::parse(&parser("BatchNormalization", 14, &training, 3)),
            Err(OpError::Unsupported(_))
        ));
        assert!(matches!(
            BatchNorm::parse(&parser("BatchNormalization", 14, &training, 1)),
            Err(OpError::Unsupported(_))
        ));
        assert!(matches!(
            BatchNorm::parse(&parser("BatchNormalization", 9, &Vec::new(), 5)),
            Err(OpError::Unsupported(_))
        ));
    }

    #[test]
    fn batchnorm_attributes_round_trip() {
        let attrs = vec![("epsilon".to_string(), Attr::Float(1e-3)), ("momentum".into(), Attr::Float(0.9))];
        let bn = BatchNorm::parse(&parser("BatchNormalization", 9, &attrs, 1)).unwrap();
        assert_eq!(bn.attributes(9), vec![("epsilon".to_string(), Attr::Float(1e-3))]);
        assert_eq!(BatchNorm::parse(&parser("BatchNormalization", 9, &bn.attributes(9), 1)).unwrap(), bn);
        let bn7 =
            BatchNorm::parse(&parser("BatchNormalization", 7, &vec![("spatial".into(), Attr::Int(0))], 1)).unwrap();
        assert_eq!(BatchNorm::parse(&parser("BatchNormalization", 7, &bn7.attributes(7), 1)).unwrap(), bn7);
    }

    #[test]
    fn layernorm_mean_and_invstd_shapes() {
        let attrs = vec![("axis".to_string(), Attr::Int(1))];
        let ln = LayerNorm::parse(&parser("LayerNormalization", 17, &attrs, 3)).unwrap();
        let x = TensorType::new(DType::F16, vec![2, 3, 4]);
        let s = TensorType::new(DType::F16, vec![3, 4]);
        let out = ln.infer(&[Some(&x), Some(&s), None]).unwrap();
        let stats = TensorType::new(DType::F32, vec![2, 1, 1]);
        assert_eq!(out, vec![x.clone(), stats.clone(), stats]);
        let last = LayerNorm::parse(&parser("LayerNormalization", 17, &Vec::new(), 2)).unwrap();
        let out = last.infer(&[Some(&x), Some(&TensorType::new(DType::F16, vec![4])), None]).unwrap();
        assert_eq!(out[1], TensorType::new(DType::F32, vec![2, 3, 1]));
        assert!(matches!(last.infer(&[Some(&x), Some(&TensorType::new(DType::F16, vec![3]))]), Err(OpError::Type(_))));
        assert!(matches!(
            LayerNorm::parse(&parser("LayerNormalization", 16, &Vec::new(), 1)),
            Err(OpError::Unsupported(_))
        ));
    }

    #[test]
    fn layernorm_attributes_round_trip() {
        let attrs = vec![
            ("axis".to_string(), Attr::Int(-2)),
            ("epsilon".into(), Attr::Float(1e-6)),
            ("stash_type".into(), Attr::Int(11)),
        ];
        let ln = LayerNorm::parse(&parser("LayerNormalization", 17, &attrs, 1)).unwrap();
        assert_eq!(ln.attributes(17), attrs);
        assert_eq!(LayerNorm::parse(&parser("LayerNormalization", 17, &ln.attributes(17), 1)).unwrap(), ln);
        let bad = vec![("stash_type".to_string(), Attr::Int(6))];
        assert!(matches!(LayerNorm::parse(&parser("LayerNormalization", 17, &bad, 1)), Err(OpError::BadAttr { .. })));
    }

    #[test]
    fn lrn_size_is_required() {
        assert_eq!(Lrn::parse(&parser("LRN", 13, &Vec::new(), 1)), Err(OpError::MissingAttr("size".into())));
        let bad = vec![("size".to_string(), Attr::Int(0))];
        assert!(matches!(Lrn::parse(&parser("LRN", 13, &bad, 1)), Err(OpError::BadAttr { .. })));
        let attrs = vec![
            ("size".to_string(), Attr::Int(5)),
            ("alpha".into(), Attr::Float(1e-4)),
            ("beta".into(), Attr::Float(0.5)),
        ];
        let lrn = Lrn::parse(&parser("LRN", 13, &attrs, 1)).unwrap();
        assert_eq!(lrn.attributes(13), vec![("size".to_string(), Attr::Int(5)), ("beta".into(), Attr::Float(0.5))]);
        assert_eq!(Lrn::parse(&parser("LRN", 13, &lrn.attributes(13), 1)).unwrap(), lrn);
        assert_eq!(lrn.infer(&[Some(&f32(&[1, 96, 55, 55]))]).unwrap(), vec![f32(&[1, 96, 55, 55])]);
    }
}
