//! Convolution and transposed convolution, with the window attributes (kernel, strides, pads,
//! dilations, group, auto_pad) and output-size rules that pooling and the quantized
//! convolutions share.

use super::parse::push;
use super::{input, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{shape_string, TensorType};
use crate::work::{Counter, OpClass};

/// ONNX `auto_pad`: how padding is chosen when it is not written out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AutoPad {
    /// Explicit `pads` (default).
    #[default]
    NotSet,
    /// Pad so that `out = ceil(in / stride)`, any odd pixel at the end.
    SameUpper,
    /// Pad so that `out = ceil(in / stride)`, any odd pixel at the beginning.
    SameLower,
    /// No padding.
    Valid,
}

impl AutoPad {
    fn parse(p: &Parser) -> OpResult<AutoPad> {
        Ok(match p.string("auto_pad", "NOTSET")?.as_str() {
            // Some old exporters write an empty string for the default.
            "NOTSET" | "" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            other => {
                return Err(OpError::BadAttr {
                    name: "auto_pad".into(),
                    cause: format!("'{other}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"),
                })
            }
        })
    }

    /// The ONNX spelling.
    pub fn onnx_name(self) -> &'static str {
        match self {
            AutoPad::NotSet => "NOTSET",
            AutoPad::SameUpper => "SAME_UPPER",
            AutoPad::SameLower => "SAME_LOWER",
            AutoPad::Valid => "VALID",
        }
    }
}

/// A window (convolution or pooling) resolved against one input's spatial shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Kernel size per spatial axis.
    pub kernel: Vec<usize>,
    /// Stride per spatial axis.
    pub strides: Vec<usize>,
    /// Dilation per spatial axis.
    pub dilations: Vec<usize>,
    /// Explicit padding in ONNX order: all beginnings, then all ends (auto_pad resolved).
    pub pads: Vec<usize>,
    /// Output size per spatial axis.
    pub output: Vec<usize>,
}

/// Window attributes shared by Conv, ConvTranspose, QLinearConv, ConvInteger and the pools.
///
/// Defaults are stored as empty vectors so that a node written with explicit default values
/// and one written without them parse to the same struct. The default is a plain convolution:
/// every attribute at its ONNX default (`group` 1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConvAttrs {
    /// `kernel_shape` as written; `None` means "from the weight's shape".
    pub kernel_shape: Option<Vec<usize>>,
    /// `strides`; empty means all 1.
    pub strides: Vec<usize>,
    /// `pads` (beginnings then ends); empty means all 0. Always empty unless `auto_pad` is NOTSET.
    pub pads: Vec<usize>,
    /// `dilations`; empty means all 1.
    pub dilations: Vec<usize>,
    /// `group` (1 for pools).
    pub group: usize,
    /// `auto_pad` as written (resolved into pads only at inference).
    pub auto_pad: AutoPad,
}

impl Default for ConvAttrs {
    fn default() -> Self {
        ConvAttrs {
            kernel_shape: None,
            strides: Vec::new(),
            pads: Vec::new(),
            dilations: Vec::new(),
            group: 1,
            auto_pad: AutoPad::default(),
        }
    }
}

/// Reads an ints attribute whose entries must be at least `min`, as `usize`.
pub(crate) fn usize_list(p: &Parser, name: &str, min: i64) -> OpResult<Option<Vec<usize>>> {
    let Some(values) = p.ints_opt(name)? else { return Ok(None) };
    values
        .iter()
        .map(|&v| {
            if v < min {
                Err(OpError::BadAttr { name: name.into(), cause: format!("value {v} is below {min} in {values:?}") })
            } else {
                usize::try_from(v)
                    .map_err(|_| OpError::BadAttr { name: name.into(), cause: format!("{v} is too large") })
            }
        })
        .collect::<OpResult<Vec<usize>>>()
        .map(Some)
}

/// Writes a usize list as an ints attribute.
pub(crate) fn push_ints(attrs: &mut Attrs, name: &str, values: &[usize]) {
    push(attrs, name, Attr::Ints(values.iter().map(|&v| v as i64).collect()));
}

/// `values` expanded to `n` entries (`default` when empty), or an error naming the attribute.
fn per_axis(values: &[usize], n: usize, default: usize, name: &str) -> OpResult<Vec<usize>> {
    match values.len() {
        0 => Ok(vec![default; n]),
        len if len == n => Ok(values.to_vec()),
        len => Err(OpError::BadAttr {
            name: name.into(),
            cause: format!("has {len} entries but the input has {n} spatial axes"),
        }),
    }
}

/// A size computation that does not fit in `usize`.
fn overflow(what: &str) -> OpError {
    OpError::Type(format!("{what} overflows"))
}

/// Effective kernel extent `dilation * (kernel - 1) + 1`.
fn effective_kernel(kernel: usize, dilation: usize) -> OpResult<usize> {
    kernel
        .checked_sub(1)
        .and_then(|k| k.checked_mul(dilation))
        .and_then(|k| k.checked_add(1))
        .ok_or_else(|| overflow("the dilated kernel size"))
}

/// Multiply-accumulates of a (possibly transposed) convolution: `prod(outer) * prod(w[1..])`.
pub(crate) fn conv_macs(outer: &[usize], w: &[usize]) -> u64 {
    outer.iter().chain(w.iter().skip(1)).fold(1u64, |acc, &d| acc.saturating_mul(d as u64))
}

impl ConvAttrs {
    /// Parses the window attributes with ONNX defaults, normalizing defaults to empty.
    pub fn parse(p: &Parser) -> OpResult<ConvAttrs> {
        let kernel_shape = usize_list(p, "kernel_shape", 1)?;
        let mut strides = usize_list(p, "strides", 1)?.unwrap_or_default();
        let mut pads = usize_list(p, "pads", 0)?.unwrap_or_default();
        let mut dilations = usize_list(p, "dilations", 1)?.unwrap_or_default();
        let group = p.int("group", 1)?;
        if group < 1 {
            return Err(OpError::BadAttr { name: "group".into(), cause: format!("must be at least 1, found {group}") });
        }
        let auto_pad = AutoPad::parse(p)?;
        if pads.len() % 2 != 0 {
            return Err(OpError::BadAttr { name: "pads".into(), cause: format!("odd number of entries {pads:?}") });
        }
        if strides.iter().all(|&s| s == 1) {
            strides.clear();
        }
        if dilations.iter().all(|&d| d == 1) {
            dilations.clear();
        }
        if pads.iter().all(|&q| q == 0) {
            pads.clear();
        }
        if auto_pad != AutoPad::NotSet && !pads.is_empty() {
            return Err(OpError::BadAttr {
                name: "pads".into(),
                cause: format!("pads {pads:?} cannot be used together with auto_pad {}", auto_pad.onnx_name()),
            });
        }
        if let Some(k) = &kernel_shape {
            let n = k.len();
            per_axis(&strides, n, 1, "strides")?;
            per_axis(&dilations, n, 1, "dilations")?;
            if !pads.is_empty() && pads.len() != 2 * n {
                return Err(OpError::BadAttr {
                    name: "pads".into(),
                    cause: format!("has {} entries but kernel_shape {k:?} needs {}", pads.len(), 2 * n),
                });
            }
        }
        Ok(ConvAttrs { kernel_shape, strides, pads, dilations, group: group as usize, auto_pad })
    }

    /// A convolution's ONNX attributes (Conv, QLinearConv, ConvInteger, ConvTranspose's window).
    pub fn conv_attributes(&self) -> Attrs {
        let mut attrs = Vec::new();
        self.write(&mut attrs, true);
        attrs
    }

    /// Multiply-accumulates of a convolution whose weight is input `weight` (for Conv and its
    /// quantized forms): `N * Cout * prod(out spatial) * (Cin / group) * prod(kernel)`.
    pub fn conv_macs(inputs: &[Option<&TensorType>], outputs: &[TensorType], weight: usize) -> u64 {
        match (inputs.get(weight).copied().flatten(), outputs.first()) {
            (Some(w), Some(y)) => conv_macs(&y.shape, &w.shape),
            _ => 0,
        }
    }

    /// Appends the attributes that differ from ONNX's defaults. `dilations` is written only
    /// when `with_dilations` (ops and opsets that lack it); `group` only when it is not 1.
    pub fn write(&self, attrs: &mut Attrs, with_dilations: bool) {
        if self.auto_pad != AutoPad::NotSet {
            push(attrs, "auto_pad", Attr::String(self.auto_pad.onnx_name().as_bytes().to_vec()));
        }
        if let Some(k) = &self.kernel_shape {
            push_ints(attrs, "kernel_shape", k);
        }
        if !self.strides.is_empty() {
            push_ints(attrs, "strides", &self.strides);
        }
        if !self.pads.is_empty() {
            push_ints(attrs, "pads", &self.pads);
        }
        if with_dilations && !self.dilations.is_empty() {
            push_ints(attrs, "dilations", &self.dilations);
        }
        if self.group != 1 {
            push(attrs, "group", Attr::Int(self.group as i64));
        }
    }

    /// Resolves the window for `input` spatial dims and a `kernel`, following ONNX's shape
    /// inference: auto_pad SAME gives `out = ceil(in / stride)` with the odd pad at the end
    /// (UPPER) or beginning (LOWER); otherwise
    /// `out = floor_or_ceil((in + pads - dilated_kernel) / stride) + 1`, and with `ceil_mode` a
    /// last window that would start in the right padding is dropped.
    pub fn window(&self, input: &[usize], kernel: &[usize], ceil_mode: bool) -> OpResult<Window> {
        let n = input.len();
        if kernel.len() != n {
            return Err(OpError::Type(format!(
                "kernel {} does not match the {n} spatial axes of the input {}",
                shape_string(kernel),
                shape_string(input)
            )));
        }
        let strides = per_axis(&self.strides, n, 1, "strides")?;
        let dilations = per_axis(&self.dilations, n, 1, "dilations")?;
        let explicit = per_axis(&self.pads, 2 * n, 0, "pads")?;
        let mut pads = vec![0; 2 * n];
        let mut output = Vec::with_capacity(n);
        for i in 0..n {
            let (x, s) = (input[i], strides[i]);
            let ek = effective_kernel(kernel[i], dilations[i])?;
            let (begin, end) = match self.auto_pad {
                AutoPad::NotSet => (explicit[i], explicit[n + i]),
                AutoPad::Valid => (0, 0),
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let out = x.div_ceil(s);
                    let span = out.saturating_sub(1).checked_mul(s).and_then(|v| v.checked_add(ek));
                    let total = span.ok_or_else(|| overflow("the padded size"))?.saturating_sub(x);
                    if self.auto_pad == AutoPad::SameUpper {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    }
                }
            };
            let padded =
                x.checked_add(begin).and_then(|v| v.checked_add(end)).ok_or_else(|| overflow("the padded size"))?;
            let room = padded.checked_sub(ek).ok_or_else(|| {
                OpError::Type(format!(
                    "spatial axis {i} of {}: the dilated kernel ({ek}) exceeds the padded input ({padded})",
                    shape_string(input)
                ))
            })?;
            let mut out = if ceil_mode { room.div_ceil(s) + 1 } else { room / s + 1 };
            // ONNX: windows that would start in the right padding are dropped.
            if ceil_mode && (out - 1).saturating_mul(s) >= x + begin {
                out -= 1;
            }
            pads[i] = begin;
            pads[n + i] = end;
            output.push(out);
        }
        Ok(Window { kernel: kernel.to_vec(), strides, dilations, pads, output })
    }

    /// The kernel from the weight shape, checked against `kernel_shape` when written.
    fn kernel_from(&self, w: &[usize]) -> OpResult<Vec<usize>> {
        let kernel = w.get(2..).unwrap_or_default().to_vec();
        match &self.kernel_shape {
            Some(k) if *k != kernel => Err(OpError::Type(format!(
                "kernel_shape {} does not match the weight's spatial shape {}",
                shape_string(k),
                shape_string(&kernel)
            ))),
            _ => Ok(kernel),
        }
    }

    /// The output shape `[N, M, out...]` of a convolution of `x` (`[N, C, in...]`) by `w`
    /// (`[M, C/group, k...]`), checking ranks, channels and group divisibility.
    pub fn conv_output(&self, x: &[usize], w: &[usize]) -> OpResult<Vec<usize>> {
        if x.len() < 3 || w.len() != x.len() {
            return Err(OpError::Type(format!(
                "convolution needs X of shape [N, C, spatial...] and W of the same rank, found X {} and W {}",
                shape_string(x),
                shape_string(w)
            )));
        }
        let (c, m, c_per_group) = (x[1], w[0], w[1]);
        if c_per_group.checked_mul(self.group) != Some(c) || m % self.group != 0 {
            return Err(OpError::Type(format!(
                "X {} has {c} channels but W {} with group {g} needs {} and output channels divisible by {g}",
                shape_string(x),
                shape_string(w),
                c_per_group.saturating_mul(self.group),
                g = self.group,
            )));
        }
        let kernel = self.kernel_from(w)?;
        let window = self.window(&x[2..], &kernel, false)?;
        Ok([x[0], m].into_iter().chain(window.output).collect())
    }
}

/// Checks an optional bias input against the number of output channels.
pub(crate) fn check_bias(b: Option<&TensorType>, channels: usize) -> OpResult<()> {
    match b {
        Some(b) if b.shape != [channels] => Err(OpError::Type(format!(
            "bias B has shape {} but there are {channels} output channels",
            shape_string(&b.shape)
        ))),
        _ => Ok(()),
    }
}

/// N-D convolution: `Y = conv(X, W) + B` with inputs X, W and optional B.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// Window attributes.
    pub attrs: ConvAttrs,
}

impl Operator for Conv {
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(Conv { attrs: ConvAttrs::parse(p)? })
    }
    fn onnx_name(&self) -> &str {
        "Conv"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (x, w) = (input(inputs, 0)?, input(inputs, 1)?);
        if x.dtype != w.dtype {
            return Err(OpError::Type(format!("X is {} but W is {}", x.dtype, w.dtype)));
        }
        let shape = self.attrs.conv_output(&x.shape, &w.shape)?;
        check_bias(inputs.get(2).copied().flatten(), shape[1])?;
        Ok(vec![TensorType::new(x.dtype, shape)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        self.attrs.conv_attributes()
    }
    fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
        ConvAttrs::conv_macs(inputs, outputs, 1)
    }
    fn work(&self, c: &mut Counter) {
        let (n, dt, x_dt) = (c.n(), c.dtype(), c.input_dtype());
        let macs = self.macs(c.inputs, c.outputs);
        // A depthwise window runs one lane at a time; the rest is a GEMM on im2col tiles.
        if c.is_depthwise(1, self.attrs.group) {
            c.on_scalar(x_dt, OpClass::Fma, macs);
        } else {
            c.on(x_dt, OpClass::Fma, macs);
            c.im2col(1, self.attrs.group);
        }
        if c.input(2).is_some() {
            c.on(dt, OpClass::Add, n);
        }
    }
}

/// N-D transposed convolution with inputs X (`[N, C, in...]`), W (`[C, M/group, k...]`) and
/// optional B.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose {
    /// Window attributes (`pads` and `auto_pad` trim or pad the full output).
    pub attrs: ConvAttrs,
    /// `output_padding`, added to the end of each spatial axis; empty means all 0.
    pub output_padding: Vec<usize>,
    /// `output_shape` (spatial dims), which overrides the computed size when written.
    pub output_shape: Option<Vec<usize>>,
}

impl Operator for ConvTranspose {
    fn parse(p: &Parser) -> OpResult<Self> {
        let attrs = ConvAttrs::parse(p)?;
        let mut output_padding = usize_list(p, "output_padding", 0)?.unwrap_or_default();
        if output_padding.iter().all(|&v| v == 0) {
            output_padding.clear();
        }
        let output_shape = usize_list(p, "output_shape", 0)?;
        Ok(ConvTranspose { attrs, output_padding, output_shape })
    }
    fn onnx_name(&self) -> &str {
        "ConvTranspose"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (x, w) = (input(inputs, 0)?, input(inputs, 1)?);
        if x.dtype != w.dtype {
            return Err(OpError::Type(format!("X is {} but W is {}", x.dtype, w.dtype)));
        }
        let (xs, ws) = (&x.shape, &w.shape);
        if xs.len() < 3 || ws.len() != xs.len() {
            return Err(OpError::Type(format!(
                "ConvTranspose needs X of shape [N, C, spatial...] and W of the same rank, found X {} and W {}",
                shape_string(xs),
                shape_string(ws)
            )));
        }
        let group = self.attrs.group;
        if ws[0] != xs[1] || xs[1] % group != 0 {
            return Err(OpError::Type(format!(
                "X {} has {} channels but W {} expects {} (and a multiple of group {group})",
                shape_string(xs),
                xs[1],
                shape_string(ws),
                ws[0]
            )));
        }
        let m = ws[1].checked_mul(group).ok_or_else(|| overflow("the output channel count"))?;
        let kernel = self.attrs.kernel_from(ws)?;
        let n = kernel.len();
        let strides = per_axis(&self.attrs.strides, n, 1, "strides")?;
        let dilations = per_axis(&self.attrs.dilations, n, 1, "dilations")?;
        let pads = per_axis(&self.attrs.pads, 2 * n, 0, "pads")?;
        let out_pad = per_axis(&self.output_padding, n, 0, "output_padding")?;
        check_bias(inputs.get(2).copied().flatten(), m)?;
        let mut shape = vec![xs[0], m];
        if let Some(os) = &self.output_shape {
            shape.extend(per_axis(os, n, 0, "output_shape")?);
            return Ok(vec![TensorType::new(x.dtype, shape)]);
        }
        for i in 0..n {
            let size = xs[2 + i];
            // The unpadded output: stride * (in - 1) + output_padding + dilated kernel.
            let full = size
                .checked_sub(1)
                .and_then(|v| v.checked_mul(strides[i]))
                .and_then(|v| v.checked_add(out_pad[i]))
                .zip(effective_kernel(kernel[i], dilations[i]).ok())
                .and_then(|(v, ek)| v.checked_add(ek))
                .ok_or_else(|| {
                    OpError::Type(format!("spatial axis {i} of X {} is empty or too large", shape_string(xs)))
                })?;
            let out = match self.attrs.auto_pad {
                AutoPad::SameUpper | AutoPad::SameLower => {
                    // ONNX: out = in * stride, trimming `full - out` as pads.
                    let target = size.checked_mul(strides[i]).ok_or_else(|| overflow("the output size"))?;
                    if full < target {
                        return Err(OpError::Unsupported(format!(
                            "{} on spatial axis {i}: dilated kernel + output_padding < stride {} needs negative \
                             padding, on which runtimes disagree",
                            self.attrs.auto_pad.onnx_name(),
                            strides[i]
                        )));
                    }
                    target
                }
                AutoPad::NotSet | AutoPad::Valid => {
                    let (begin, end) =
                        if self.attrs.auto_pad == AutoPad::Valid { (0, 0) } else { (pads[i], pads[n + i]) };
                    match full.checked_sub(begin.saturating_add(end)) {
                        Some(out) if out > 0 => out,
                        _ => {
                            return Err(OpError::Type(format!(
                                "spatial axis {i}: pads {begin}+{end} leave nothing of the full output size {full}"
                            )))
                        }
                    }
                }
            };
            shape.push(out);
        }
        Ok(vec![TensorType::new(x.dtype, shape)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        let mut attrs = self.attrs.conv_attributes();
        if !self.output_padding.is_empty() {
            push_ints(&mut attrs, "output_padding", &self.output_padding);
        }
        if let Some(os) = &self.output_shape {
            push_ints(&mut attrs, "output_shape", os);
        }
        attrs
    }
    /// `N * Cin * prod(in spatial) * (Cout / group) * prod(kernel)`.
    fn macs(&self, inputs: &[Option<&TensorType>], _outputs: &[TensorType]) -> u64 {
        match (inputs.first().copied().flatten(), inputs.get(1).copied().flatten()) {
            (Some(x), Some(w)) => conv_macs(&x.shape, &w.shape),
            _ => 0,
        }
    }
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        c.on(c.input_dtype(), OpClass::Fma, self.macs(c.inputs, c.outputs));
        if c.input(2).is_some() {
            c.on(dt, OpClass::Add, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DType;

    fn parser<'a>(op_type: &'a str, attrs: &'a Attrs) -> Parser<'a> {
        Parser { op_type, domain: "", opset: 13, attrs, inputs: Vec::new(), n_outputs: 1 }
    }

    fn f32(shape: &[usize]) -> TensorType {
        TensorType::new(DType::F32, shape.to_vec())
    }

    fn ints(name: &str, v: &[i64]) -> (String, Attr) {
        (name.to_string(), Attr::Ints(v.to_vec()))
    }

    /// Infers Conv and returns (output shape, MACs).
    fn conv(attrs: Attrs, x: &[usize], w: &[usize]) -> OpResult<(Vec<usize>, u64)> {
        let op = Conv::parse(&parser("Conv", &attrs))?;
        let (x, w) = (f32(x), f32(w));
        let out = op.infer(&[Some(&x), Some(&w), None])?;
        let macs = op.macs(&[Some(&x), Some(&w), None], &out);
        Ok((out[0].shape.clone(), macs))
    }

    #[test]
    fn conv_3x3_stride_pad_dilation_group() {
        // 32x32, k3, dilation 2 (extent 5), pads 2, stride 2: (32 + 4 - 5) / 2 + 1 = 16.
        let attrs = vec![
            ints("strides", &[2, 2]),
            ints("pads", &[2, 2, 2, 2]),
            ints("dilations", &[2, 2]),
            ("group".into(), Attr::Int(2)),
        ];
        let (shape, macs) = conv(attrs, &[1, 8, 32, 32], &[16, 4, 3, 3]).unwrap();
        assert_eq!(shape, vec![1, 16, 16, 16]);
        assert_eq!(macs, 16 * 16 * 16 * 4 * 9);
    }

    #[test]
    fn dscnn_first_layer_matches_mlperf() {
        // DS-CNN KWS layer 1: 49x10 input, 10x4 kernel, asymmetric pads, stride 2.
        let attrs = vec![ints("kernel_shape", &[10, 4]), ints("pads", &[4, 1, 5, 1]), ints("strides", &[2, 2])];
        let (shape, macs) = conv(attrs, &[1, 1, 49, 10], &[64, 1, 10, 4]).unwrap();
        assert_eq!(shape, vec![1, 64, 25, 5]);
        assert_eq!(macs, 320_000);
    }

    #[test]
    fn conv_1d_and_3d() {
        let (shape, macs) = conv(vec![ints("pads", &[1, 1])], &[2, 3, 10], &[5, 3, 3]).unwrap();
        assert_eq!((shape, macs), (vec![2, 5, 10], 2 * 5 * 10 * 3 * 3));
        let (shape, _) = conv(vec![ints("strides", &[1, 2, 2])], &[1, 2, 4, 8, 8], &[4, 2, 3, 3, 3]).unwrap();
        assert_eq!(shape, vec![1, 4, 2, 3, 3]);
    }

    #[test]
    fn same_upper_and_lower_padding() {
        // SAME keeps ceil(in / stride) whatever the dilation: ceil(7/2) = 4, ceil(9/2) = 5.
        let attrs = vec![
            ("auto_pad".into(), Attr::String(b"SAME_UPPER".to_vec())),
            ints("strides", &[2, 2]),
            ints("dilations", &[2, 2]),
        ];
        let (shape, _) = conv(attrs, &[1, 4, 7, 9], &[8, 4, 3, 3]).unwrap();
        assert_eq!(shape, vec![1, 8, 4, 5]);
        // Total padding 2 on a 6-wide input with a 3-wide kernel, stride 2 -> (6/2-1)*2+3-6 = 1.
        let upper = ConvAttrs { auto_pad: AutoPad::SameUpper, strides: vec![2], ..ConvAttrs::default() };
        assert_eq!(upper.window(&[6], &[3], false).unwrap().pads, vec![0, 1]);
        let lower = ConvAttrs { auto_pad: AutoPad::SameLower, ..upper.clone() };
        assert_eq!(lower.window(&[6], &[3], false).unwrap().pads, vec![1, 0]);
        let valid = ConvAttrs { auto_pad: AutoPad::Valid, ..upper };
        assert_eq!(valid.window(&[6], &[3], false).unwrap().output, vec![2]);
    }

    #[test]
    fn kernel_shape_defaults_to_weight() {
        let (shape, _) = conv(Vec::new(), &[1, 3, 5, 5], &[2, 3, 3, 3]).unwrap();
        assert_eq!(shape, vec![1, 2, 3, 3]);
        let err = conv(vec![ints("kernel_shape", &[5, 5])], &[1, 3, 5, 5], &[2, 3, 3, 3]).unwrap_err();
        assert!(matches!(err, OpError::Type(m) if m.contains("kernel_shape 5x5")));
    }

    #[test]
    fn bad_shapes_are_type_errors() {
        // 8 channels, group 3.
        let err = conv(vec![("group".into(), Attr::Int(3))], &[1, 8, 5, 5], &[6, 2, 3, 3]).unwrap_err();
        assert!(matches!(err, OpError::Type(m) if m.contains("1x8x5x5") && m.contains("group 3")));
        assert!(matches!(conv(Vec::new(), &[1, 3, 2, 2], &[2, 3, 3, 3]), Err(OpError::Type(_))));
        assert!(matches!(conv(Vec::new(), &[1, 3, 5], &[2, 3, 3, 3]), Err(OpError::Type(_))));
        assert!(matches!(
            conv(vec![ints("strides", &[0, 1])], &[1, 3, 5, 5], &[2, 3, 3, 3]),
            Err(OpError::BadAttr { .. })
        ));
        assert!(matches!(
            conv(vec![ints("pads", &[1, 1, 1])], &[1, 3, 5, 5], &[2, 3, 3, 3]),
            Err(OpError::BadAttr { .. })
        ));
        let both = vec![("auto_pad".into(), Attr::String(b"VALID".to_vec())), ints("pads", &[1, 1, 1, 1])];
        assert!(matches!(conv(both, &[1, 3, 5, 5], &[2, 3, 3, 3]), Err(OpError::BadAttr { .. })));
        let bias = f32(&[3]);
        let op = Conv::parse(&parser("Conv", &Vec::new())).unwrap();
        assert!(op.infer(&[Some(&f32(&[1, 3, 5, 5])), Some(&f32(&[2, 3, 3, 3])), Some(&bias)]).is_err());
    }

    #[test]
    fn conv_transpose_sizes() {
        let x = f32(&[1, 4, 7, 9]);
        let w = f32(&[4, 3, 3, 3]);
        let infer = |attrs: Attrs| {
            let op = ConvTranspose::parse(&parser("ConvTranspose", &attrs)).unwrap();
            let out = op.infer(&[Some(&x), Some(&w)]).unwrap();
            (out[0].shape.clone(), op.macs(&[Some(&x), Some(&w)], &out))
        };
        // 3*(7-1) + 1 + (2*2+1) - 2 = 22 and 2*(9-1) + 1 + 3 - 4 = 16, 3*2 output channels.
        let (shape, macs) = infer(vec![
            ints("strides", &[3, 2]),
            ints("output_padding", &[1, 1]),
            ints("pads", &[1, 2, 1, 2]),
            ints("dilations", &[2, 1]),
            ("group".into(), Attr::Int(2)),
        ]);
        assert_eq!(shape, vec![1, 6, 22, 16]);
        assert_eq!(macs, 4 * 7 * 9 * 3 * 9);
        let same = infer(vec![("auto_pad".into(), Attr::String(b"SAME_UPPER".to_vec())), ints("strides", &[2, 2])]);
        assert_eq!(same.0, vec![1, 3, 14, 18]);
        let explicit = infer(vec![ints("output_shape", &[15, 19]), ints("strides", &[2, 2])]);
        assert_eq!(explicit.0, vec![1, 3, 15, 19]);
    }

    #[test]
    fn conv_transpose_rejects_oversized_pads() {
        let attrs = vec![ints("pads", &[5, 5, 5, 5])];
        let op = ConvTranspose::parse(&parser("ConvTranspose", &attrs)).unwrap();
        assert!(matches!(op.infer(&[Some(&f32(&[1, 2, 3, 3])), Some(&f32(&[2, 2, 3, 3]))]), Err(OpError::Type(_))));
    }

    #[test]
    fn attributes_round_trip() {
        let attrs = vec![
            ("auto_pad".into(), Attr::String(b"SAME_LOWER".to_vec())),
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[2, 1]),
            ints("dilations", &[1, 1]),
            ("group".into(), Attr::Int(4)),
            ints("output_padding", &[1, 0]),
        ];
        let op = ConvTranspose::parse(&parser("ConvTranspose", &attrs)).unwrap();
        let written = op.attributes(13);
        // Default dilations are not written back.
        assert!(written.iter().all(|(n, _)| n != "dilations"));
        assert_eq!(ConvTranspose::parse(&parser("ConvTranspose", &written)).unwrap(), op);
        let conv = Conv::parse(&parser("Conv", &vec![ints("pads", &[0, 1, 0, 1]), ints("strides", &[1, 1])])).unwrap();
        let written = conv.attributes(13);
        assert_eq!(written, vec![ints("pads", &[0, 1, 0, 1])]);
        assert_eq!(Conv::parse(&parser("Conv", &written)).unwrap(), conv);
    }
}
