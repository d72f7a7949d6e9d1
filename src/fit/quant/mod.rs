//! Quantization fits: per-channel weight grids and their scales (weights rounded to least
//! output error on the layer's inputs when their statistics are known), activation ranges with ONNX's
//! exact QuantizeLinear rounding, a Softmax input's range by the Softmax's output error, and bias
//! correction. The results are standard QDQ: `int8`
//! weights with one scale per output channel, `uint8`/`int8` activations with one scale and
//! zero point per tensor.

mod bias;
mod qdq;
mod range;
mod rounding;
mod softmax;
mod weights;

pub use bias::{correct_bias, ConvGeometry, LinearLayer};
pub use qdq::{compute_scale_zp, QParams, QType, ZeroPoint};
pub(crate) use range::finite_values;
pub use range::{activation_qparams, activation_range, choose_activation_qparams, RangeMethod};
pub use rounding::quantize_weights_for_inputs;
pub use softmax::{fit_softmax_input, SoftmaxInput};
pub use weights::{quantize_weights, QuantizedWeights, WeightGrid};
