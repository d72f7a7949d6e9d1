//! Resize (nearest, linear, cubic): attributes with ONNX's defaults per opset, and the output
//! shape from the constant `scales` or `sizes` input. Opset 10's Resize (Upsample semantics) is
//! read as `asymmetric` coordinates with `floor` rounding, so it writes back exactly at 11+.

use super::layout::norm_axes;
use super::parse::push;
use super::{input, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{shape_string, TensorType};
use crate::work::{Counter, OpClass};

/// Declares an enum of ONNX string attribute values with its parser and spelling.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            /// The value for an ONNX spelling.
            pub fn from_onnx(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
            /// The ONNX spelling.
            pub fn onnx_name(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }
    };
}

string_enum! {
    /// Interpolation (`mode`).
    ResizeMode {
        /// Nearest neighbour.
        Nearest = "nearest",
        /// (Multi)linear.
        Linear = "linear",
        /// Cubic convolution.
        Cubic = "cubic",
    }
}

string_enum! {
    /// How an output coordinate maps to an input coordinate (`coordinate_transformation_mode`).
    CoordinateMode {
        /// `(x + 0.5) / scale - 0.5` (default).
        HalfPixel = "half_pixel",
        /// Half-pixel, symmetric about the centre (opset 19+).
        HalfPixelSymmetric = "half_pixel_symmetric",
        /// Half-pixel, but 0 when the output length is 1.
        PytorchHalfPixel = "pytorch_half_pixel",
        /// Corner pixels aligned.
        AlignCorners = "align_corners",
        /// `x / scale`.
        Asymmetric = "asymmetric",
        /// TensorFlow's nearest-neighbour half-pixel (opset 11–12).
        TfHalfPixelForNearest = "tf_half_pixel_for_nearest",
        /// Crop to `roi` then resize.
        TfCropAndResize = "tf_crop_and_resize",
    }
}

string_enum! {
    /// Rounding of the source coordinate in nearest mode (`nearest_mode`).
    NearestMode {
        /// Round, halves down (default).
        RoundPreferFloor = "round_prefer_floor",
        /// Round, halves up.
        RoundPreferCeil = "round_prefer_ceil",
        /// Floor.
        Floor = "floor",
        /// Ceiling.
        Ceil = "ceil",
    }
}

string_enum! {
    /// How `sizes` is honoured (`keep_aspect_ratio_policy`, opset 18+).
    AspectPolicy {
        /// Every resized axis gets exactly its size (default).
        Stretch = "stretch",
        /// One scale for all axes, the largest that fits inside `sizes`.
        NotLarger = "not_larger",
        /// One scale for all axes, the smallest that covers `sizes`.
        NotSmaller = "not_smaller",
    }
}

/// Resize with its attributes and constant `roi`, `scales` or `sizes` inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    /// Interpolation.
    pub mode: ResizeMode,
    /// Coordinate transformation.
    pub coordinate_mode: CoordinateMode,
    /// Rounding in nearest mode.
    pub nearest_mode: NearestMode,
    /// Cubic coefficient `a` (default -0.75).
    pub cubic_coeff_a: f32,
    /// Zero the weights of samples outside the input (cubic).
    pub exclude_outside: bool,
    /// Value outside the input under `tf_crop_and_resize` (default 0).
    pub extrapolation_value: f32,
    /// Antialiasing filter when downscaling (opset 18+).
    pub antialias: bool,
    /// Resized axes (opset 18+); `None` means every axis.
    pub axes: Option<Vec<i64>>,
    /// How `sizes` is honoured (opset 18+).
    pub keep_aspect_ratio_policy: AspectPolicy,
    /// Region of interest (input 1, read only under `tf_crop_and_resize`): starts then ends.
    pub roi: Option<Vec<f32>>,
    /// Scale per resized axis (input 2; input 1 at opset 10). Exactly one of `scales`, `sizes`.
    pub scales: Option<Vec<f32>>,
    /// Output size per resized axis (input 3).
    pub sizes: Option<Vec<i64>>,
}

/// Reads a string attribute as one of a [`string_enum!`] type's values.
fn choice<T>(p: &Parser, name: &str, default: &str, from: fn(&str) -> Option<T>) -> OpResult<T> {
    let s = p.string(name, default)?;
    from(&s).ok_or_else(|| OpError::BadAttr { name: name.into(), cause: format!("unknown value '{s}'") })
}

/// A `usize` dimension from a float size, or an error.
fn dim_from(v: f32, axis: usize, x: &TensorType) -> OpResult<usize> {
    if v.is_finite() && v >= 0.0 && v < (1u64 << 53) as f32 {
        Ok(v as usize)
    } else {
        Err(OpError::Type(format!("Resize gives axis {axis} of {x} an invalid size {v}")))
    }
}

impl Resize {
    /// The output shape for an input of type `x`. Scales give `floor(dim * scale)` and a
    /// keep-aspect policy `round(dim * scale)`, computed in `f32` as ONNX's shape inference does.
    pub fn output_shape(&self, x: &TensorType) -> OpResult<Vec<usize>> {
        let rank = x.shape.len();
        let axes = match &self.axes {
            Some(a) => norm_axes(a, rank)?,
            None => (0..rank).collect(),
        };
        let count = |what: &str, n: usize| {
            if n == axes.len() {
                Ok(())
            } else {
                Err(OpError::Type(format!("Resize {what} has {n} values for {} resized axes of {x}", axes.len())))
            }
        };
        let mut out = x.shape.clone();
        match (&self.scales, &self.sizes) {
            (Some(scales), None) => {
                count("scales", scales.len())?;
                if self.keep_aspect_ratio_policy != AspectPolicy::Stretch {
                    return Err(OpError::Type("Resize keep_aspect_ratio_policy other than stretch needs sizes".into()));
                }
                for (&a, &s) in axes.iter().zip(scales) {
                    if s.is_nan() || s <= 0.0 {
                        return Err(OpError::Type(format!("Resize scale {s} for axis {a} is not positive")));
                    }
                    out[a] = dim_from((x.shape[a] as f32 * s).floor(), a, x)?;
                }
            }
            (None, Some(sizes)) => {
                count("sizes", sizes.len())?;
                let sizes: Vec<usize> = sizes
                    .iter()
                    .map(|&s| usize::try_from(s).ok())
                    .collect::<Option<_>>()
                    .ok_or_else(|| OpError::Type(format!("Resize sizes {sizes:?} has a negative size")))?;
                let ratios = axes.iter().zip(&sizes).map(|(&a, &s)| s as f32 / x.shape[a] as f32);
                let scale = match self.keep_aspect_ratio_policy {
                    AspectPolicy::Stretch => None,
                    AspectPolicy::NotLarger => Some(ratios.fold(f32::MAX, f32::min)),
                    AspectPolicy::NotSmaller => Some(ratios.fold(f32::MIN_POSITIVE, f32::max)),
                };
                for (&a, &s) in axes.iter().zip(&sizes) {
                    out[a] = match scale {
                        None => s,
                        Some(scale) => dim_from((scale * x.shape[a] as f32).round(), a, x)?,
                    };
                }
            }
            _ => {
                return Err(OpError::Type(format!(
                    "Resize of {} needs exactly one of scales and sizes",
                    shape_string(&x.shape)
                )))
            }
        }
        super::layout::checked_numel(&out)?;
        Ok(out)
    }
}

impl Operator for Resize {
    fn parse(p: &Parser) -> OpResult<Self> {
        if p.opset < 10 {
            return Err(OpError::Unsupported(format!("Resize does not exist at opset {}", p.opset)));
        }
        let mode = choice(p, "mode", "nearest", ResizeMode::from_onnx)?;
        let nonempty_floats = |i| -> OpResult<Option<Vec<f32>>> {
            Ok(p.operand_floats(i)?.filter(|v| !v.is_empty()).map(|v| v.iter().map(|&x| x as f32).collect()))
        };
        if p.opset == 10 {
            if mode == ResizeMode::Cubic {
                return Err(OpError::BadAttr { name: "mode".into(), cause: "cubic needs opset 11".into() });
            }
            return Ok(Resize {
                mode,
                coordinate_mode: CoordinateMode::Asymmetric,
                nearest_mode: NearestMode::Floor,
                cubic_coeff_a: -0.75,
                exclude_outside: false,
                extrapolation_value: 0.0,
                antialias: false,
                axes: None,
                keep_aspect_ratio_policy: AspectPolicy::Stretch,
                roi: None,
                scales: Some(nonempty_floats(1)?.ok_or(OpError::MissingInput(1))?),
                sizes: None,
            });
        }
        let coordinate_mode = choice(p, "coordinate_transformation_mode", "half_pixel", CoordinateMode::from_onnx)?;
        let roi = if coordinate_mode == CoordinateMode::TfCropAndResize { nonempty_floats(1)? } else { None };
        let scales = nonempty_floats(2)?;
        let sizes = p.operand_ints(3)?.filter(|v| !v.is_empty());
        if scales.is_some() == sizes.is_some() {
            return Err(OpError::Type("Resize needs exactly one of scales (input 2) and sizes (input 3)".into()));
        }
        Ok(Resize {
            mode,
            coordinate_mode,
            nearest_mode: choice(p, "nearest_mode", "round_prefer_floor", NearestMode::from_onnx)?,
            cubic_coeff_a: p.float("cubic_coeff_a", -0.75)?,
            exclude_outside: p.int("exclude_outside", 0)? != 0,
            extrapolation_value: p.float("extrapolation_value", 0.0)?,
            antialias: p.int("antialias", 0)? != 0,
            axes: p.ints_opt("axes")?,
            keep_aspect_ratio_policy: choice(p, "keep_aspect_ratio_policy", "stretch", AspectPolicy::from_onnx)?,
            roi,
            scales,
            sizes,
        })
    }
    fn onnx_name(&self) -> &str {
        "Resize"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let x = input(inputs, 0)?;
        Ok(vec![TensorType::new(x.dtype, self.output_shape(x)?)])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        let text = |s: &str| Attr::String(s.as_bytes().to_vec());
        if self.mode != ResizeMode::Nearest {
            push(&mut attrs, "mode", text(self.mode.onnx_name()));
        }
        if opset >= 11 {
            if self.coordinate_mode != CoordinateMode::HalfPixel {
                push(&mut attrs, "coordinate_transformation_mode", text(self.coordinate_mode.onnx_name()));
            }
            if self.nearest_mode != NearestMode::RoundPreferFloor {
                push(&mut attrs, "nearest_mode", text(self.nearest_mode.onnx_name()));
            }
            if self.cubic_coeff_a != -0.75 {
                push(&mut attrs, "cubic_coeff_a", Attr::Float(self.cubic_coeff_a));
            }
            if self.exclude_outside {
                push(&mut attrs, "exclude_outside", Attr::Int(1));
            }
            if self.extrapolation_value != 0.0 {
                push(&mut attrs, "extrapolation_value", Attr::Float(self.extrapolation_value));
            }
        }
        if opset >= 18 {
            if self.antialias {
                push(&mut attrs, "antialias", Attr::Int(1));
            }
            if let Some(axes) = &self.axes {
                push(&mut attrs, "axes", Attr::Ints(axes.clone()));
            }
            if self.keep_aspect_ratio_policy != AspectPolicy::Stretch {
                push(&mut attrs, "keep_aspect_ratio_policy", text(self.keep_aspect_ratio_policy.onnx_name()));
            }
        }
        attrs
    }
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        let resized = match (c.input(0), c.output()) {
            (Some(x), Some(y)) => x.shape.iter().zip(&y.shape).filter(|(a, b)| a != b).count() as u32,
            _ => 0,
        };
        match self.mode {
            ResizeMode::Nearest => {}
            ResizeMode::Linear => c.on(dt, OpClass::Fma, n * 2u64.pow(resized)),
            ResizeMode::Cubic => c.on(dt, OpClass::Fma, n * 4u64.pow(resized)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::testing::*;
    use super::*;
    use crate::tensor::{DType, Tensor};

    fn x(shape: &[usize]) -> TensorType {
        TensorType::new(DType::F32, shape.to_vec())
    }

    fn with_sizes(opset: i64, a: &Attrs, sizes: &[i64]) -> Resize {
        let sizes = ints(sizes);
        let empty = Tensor::f32(vec![0], vec![]);
        round_trip(&parser("Resize", opset, a, vec![var(), cst(&empty), cst(&empty), cst(&sizes)], 1))
    }

    #[test]
    fn output_size_from_scales() {
        // resize_upsample_scales_nearest and resize_downsample_scales_linear.
        let none = Attrs::new();
        let roi = Tensor::f32(vec![0], vec![]);
        let up = Tensor::f32(vec![4], vec![1.0, 1.0, 2.0, 3.0]);
        let r: Resize = round_trip(&parser("Resize", 13, &none, vec![var(), cst(&roi), cst(&up)], 1));
        assert_eq!(r.output_shape(&x(&[1, 1, 2, 2])).unwrap(), vec![1, 1, 4, 6]);
        let down = Tensor::f32(vec![4], vec![1.0, 1.0, 0.6, 0.6]);
        let a = attrs(&[("mode", Attr::String(b"linear".to_vec()))]);
        let r: Resize = round_trip(&parser("Resize", 11, &a, vec![var(), cst(&roi), cst(&down)], 1));
        assert_eq!(r.infer(&[Some(&x(&[1, 1, 2, 4]))]).unwrap()[0].shape, vec![1, 1, 1, 2]);
        let zero = Tensor::f32(vec![4], vec![1.0, 1.0, 0.0, 1.0]);
        let r = Resize::parse(&parser("Resize", 13, &none, vec![var(), cst(&roi), cst(&zero)], 1)).unwrap();
        assert!(r.output_shape(&x(&[1, 1, 2, 4])).is_err());
    }

    #[test]
    fn output_size_from_sizes_with_keep_aspect_ratio_policy() {
        let policy = |p: &str| {
            attrs(&[
                ("axes", Attr::Ints(vec![2, 3])),
                ("keep_aspect_ratio_policy", Attr::String(p.as_bytes().to_vec())),
            ])
        };
        // resize_upsample_sizes_nearest_not_larger / not_smaller: 2x2 to at most / at least 7x8.
        let r = with_sizes(18, &policy("not_larger"), &[7, 8]);
        assert_eq!(r.output_shape(&x(&[1, 1, 2, 2])).unwrap(), vec![1, 1, 7, 7]);
        let r = with_sizes(18, &policy("not_smaller"), &[7, 8]);
        assert_eq!(r.output_shape(&x(&[1, 1, 2, 2])).unwrap(), vec![1, 1, 8, 8]);
        // resize_downsample_sizes_nearest_not_larger / not_smaller: 2x4 to sizes [1, 3].
        let r = with_sizes(18, &policy("not_larger"), &[1, 3]);
        assert_eq!(r.output_shape(&x(&[1, 1, 2, 4])).unwrap(), vec![1, 1, 1, 2]);
        let r = with_sizes(18, &policy("not_smaller"), &[1, 3]);
        assert_eq!(r.output_shape(&x(&[1, 1, 2, 4])).unwrap(), vec![1, 1, 2, 3]);
        // Stretch: sizes are taken as they are.
        let r = with_sizes(13, &Attrs::new(), &[1, 1, 3, 3]);
        assert_eq!(r.output_shape(&x(&[1, 1, 4, 4])).unwrap(), vec![1, 1, 3, 3]);
        assert!(r.output_shape(&x(&[4, 4])).is_err());
    }

    #[test]
    fn opset_10_reads_as_asymmetric_floor() {
        let scales = Tensor::f32(vec![4], vec![1.0, 1.0, 2.0, 2.0]);
        let none = Attrs::new();
        let r: Resize = round_trip(&parser("Resize", 10, &none, vec![var(), cst(&scales)], 1));
        assert_eq!((r.coordinate_mode, r.nearest_mode), (CoordinateMode::Asymmetric, NearestMode::Floor));
        assert!(r.attributes(10).is_empty());
        let text = |s: &str| Attr::String(s.as_bytes().to_vec());
        assert_eq!(
            r.attributes(13),
            attrs(&[("coordinate_transformation_mode", text("asymmetric")), ("nearest_mode", text("floor"))])
        );
        assert_eq!(r.output_shape(&x(&[1, 3, 5, 7])).unwrap(), vec![1, 3, 10, 14]);
    }

    #[test]
    fn attributes_round_trip_at_11_13_and_18() {
        let text = |s: &str| Attr::String(s.as_bytes().to_vec());
        let a = attrs(&[
            ("mode", text("cubic")),
            ("coordinate_transformation_mode", text("align_corners")),
            ("cubic_coeff_a", Attr::Float(-0.5)),
            ("exclude_outside", Attr::Int(1)),
        ]);
        for opset in [11, 13, 18] {
            let r = with_sizes(opset, &a, &[1, 1, 4, 4]);
            assert_eq!((r.mode, r.cubic_coeff_a, r.exclude_outside), (ResizeMode::Cubic, -0.5, true));
            assert_eq!(r.attributes(opset), a);
        }
        let a = attrs(&[("antialias", Attr::Int(1)), ("axes", Attr::Ints(vec![-1]))]);
        assert_eq!(with_sizes(18, &a, &[4]).attributes(18), a);
    }

    #[test]
    fn scales_and_sizes_are_exclusive() {
        let none = Attrs::new();
        let (roi, scales, sizes) = (Tensor::f32(vec![0], vec![]), Tensor::f32(vec![2], vec![2.0, 2.0]), ints(&[4, 4]));
        let both = parser("Resize", 13, &none, vec![var(), cst(&roi), cst(&scales), cst(&sizes)], 1);
        assert!(Resize::parse(&both).is_err());
        let neither = parser("Resize", 13, &none, vec![var(), cst(&roi)], 1);
        assert!(Resize::parse(&neither).is_err());
        let a = attrs(&[("keep_aspect_ratio_policy", Attr::String(b"not_larger".to_vec()))]);
        let r = Resize::parse(&parser("Resize", 18, &a, vec![var(), cst(&roi), cst(&scales)], 1)).unwrap();
        assert!(r.output_shape(&x(&[2, 2])).is_err());
        let dynamic = parser("Resize", 13, &none, vec![var(), var(), var()], 1);
        assert!(matches!(Resize::parse(&dynamic), Err(OpError::NonConstOperand { index: 2, .. })));
    }
}
