//! Types of primitive e-nodes from their children's types and payloads. These functions define
//! the shapes of the primitive language; the reference interpreter computes the same shapes.

use super::payload::{SliceSpec, WindowSpec};
use crate::ops::broadcast_shapes;
use crate::tensor::{DType, TensorType};

/// Why a primitive is ill-typed.
pub type InferResult = Result<TensorType, String>;

/// An operand of an elementwise primitive: a tensor, or a literal that takes the other
/// operand's element type.
#[derive(Clone, Copy, Debug)]
pub enum Operand<'a> {
    /// A typed tensor.
    Tensor(&'a TensorType),
    /// A scalar literal.
    Literal,
}

/// Broadcasting elementwise op over operands (at least one a tensor).
pub fn elementwise(operands: &[Operand]) -> InferResult {
    let tensors: Vec<&TensorType> =
        operands.iter().filter_map(|o| if let Operand::Tensor(t) = o { Some(*t) } else { None }).collect();
    let first = tensors.first().ok_or("an elementwise op needs at least one tensor operand")?;
    let mut shape = first.shape.clone();
    for t in &tensors[1..] {
        if t.dtype != first.dtype {
            return Err(format!("operands have different types ({} and {})", first.dtype, t.dtype));
        }
        shape = broadcast_shapes(&shape, &t.shape).map_err(|e| e.to_string())?;
    }
    Ok(TensorType::new(first.dtype, shape))
}

/// `(reshape #ints:shape x)`: an explicit shape with the same element count.
pub fn reshape(x: &TensorType, shape: &[i64]) -> InferResult {
    let dims: Option<Vec<usize>> = shape.iter().map(|&d| usize::try_from(d).ok()).collect();
    let dims = dims.ok_or_else(|| format!("reshape target {shape:?} has a negative dimension"))?;
    if dims.iter().product::<usize>() != x.numel() {
        return Err(format!("cannot reshape {} elements to {shape:?}", x.numel()));
    }
    Ok(TensorType::new(x.dtype, dims))
}

/// `(transpose #ints:perm x)`.
pub fn transpose(x: &TensorType, perm: &[i64]) -> InferResult {
    let rank = x.shape.len();
    let mut seen = vec![false; rank];
    let mut shape = Vec::with_capacity(rank);
    for &p in perm {
        let p = usize::try_from(p)
            .ok()
            .filter(|&p| p < rank && !seen[p])
            .ok_or_else(|| format!("bad permutation {perm:?}"))?;
        seen[p] = true;
        shape.push(x.shape[p]);
    }
    if shape.len() != rank {
        return Err(format!("permutation {perm:?} does not fit rank {rank}"));
    }
    Ok(TensorType::new(x.dtype, shape))
}

/// `(broadcast #ints:shape x)`: numpy broadcasting to exactly `shape`.
pub fn broadcast(x: &TensorType, shape: &[i64]) -> InferResult {
    let target: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    let out = broadcast_shapes(&x.shape, &target).map_err(|e| e.to_string())?;
    if out != target {
        return Err(format!("cannot broadcast {:?} to {target:?}", x.shape));
    }
    Ok(TensorType::new(x.dtype, out))
}

/// `(rsum|rmax|rmean #ints:axes x)`: reduced axes are kept with size 1.
pub fn reduce(x: &TensorType, axes: &[i64]) -> InferResult {
    let mut shape = x.shape.clone();
    for &a in axes {
        let a = usize::try_from(a).ok().filter(|&a| a < shape.len()).ok_or_else(|| format!("axis {a} out of range"))?;
        shape[a] = 1;
    }
    Ok(TensorType::new(x.dtype, shape))
}

/// `(concat #ints:axis x...)`.
pub fn concat(xs: &[&TensorType], axis: i64) -> InferResult {
    let first = xs.first().ok_or("concat of nothing")?;
    let axis = usize::try_from(axis).ok().filter(|&a| a < first.shape.len()).ok_or("concat axis out of range")?;
    let mut shape = first.shape.clone();
    for x in &xs[1..] {
        let fits = x.dtype == first.dtype
            && x.shape.len() == shape.len()
            && x.shape.iter().zip(&first.shape).enumerate().all(|(i, (a, b))| i == axis || a == b);
        if !fits {
            return Err(format!("cannot concatenate {x} with {first} on axis {axis}"));
        }
        shape[axis] += x.shape[axis];
    }
    Ok(TensorType::new(first.dtype, shape))
}

/// `(dot #einsum:.. a b)`: letters of the output keep their sizes; every other letter is summed.
pub fn dot(a: &TensorType, b: &TensorType, spec: &str) -> InferResult {
    let (ins, out) = spec.split_once("->").ok_or("einsum without ->")?;
    let (sa, sb) = ins.split_once(',').ok_or("einsum needs two operands")?;
    if sa.len() != a.shape.len() || sb.len() != b.shape.len() {
        return Err(format!("einsum {spec} does not fit ranks {} and {}", a.shape.len(), b.shape.len()));
    }
    if a.dtype != b.dtype {
        return Err(format!("dot of {} and {}", a.dtype, b.dtype));
    }
    let mut size = std::collections::HashMap::new();
    for (letters, t) in [(sa, a), (sb, b)] {
        for (c, &d) in letters.chars().zip(&t.shape) {
            match size.insert(c, d) {
                Some(prev) if prev != d => return Err(format!("einsum letter {c} has sizes {prev} and {d}")),
                _ => {}
            }
        }
    }
    let shape = out
        .chars()
        .map(|c| size.get(&c).copied().ok_or_else(|| format!("output letter {c} is not an input letter")))
        .collect::<Result<_, _>>()?;
    Ok(TensorType::new(a.dtype, shape))
}

/// `(window #win:.. x pad)`: (N, C, spatial...) → (N, C, kernel..., out_spatial...).
pub fn window(x: &TensorType, w: &WindowSpec) -> InferResult {
    let n = w.kernel.len();
    let ok = x.shape.len() == n + 2 && w.strides.len() == n && w.dilations.len() == n && w.pads.len() == 2 * n;
    if !ok || w.strides.contains(&0) || w.dilations.contains(&0) {
        return Err(format!("window spec does not fit {x}"));
    }
    let mut shape = x.shape[..2].to_vec();
    shape.extend(&w.kernel);
    for i in 0..n {
        let padded = x.shape[i + 2] + w.pads[i] + w.pads[i + n];
        let extent = w.dilations[i] * (w.kernel[i].max(1) - 1) + 1;
        if extent > padded {
            return Err(format!("window of extent {extent} does not fit axis of size {padded}"));
        }
        shape.push((padded - extent) / w.strides[i] + 1);
    }
    Ok(TensorType::new(x.dtype, shape))
}

/// `(slice #slice:.. x)`: ONNX Slice semantics with clamped ends.
pub fn slice(x: &TensorType, s: &SliceSpec) -> InferResult {
    let mut shape = x.shape.clone();
    let k = s.axes.len();
    if s.begins.len() != k || s.ends.len() != k || s.steps.len() != k {
        return Err("slice lists differ in length".into());
    }
    for i in 0..k {
        let axis = s.axes[i];
        let dim = *shape.get(axis).ok_or("slice axis out of range")? as i64;
        let step = s.steps[i];
        if step == 0 {
            return Err("slice step 0".into());
        }
        let clamp = |v: i64, lo: i64, hi: i64| (if v < 0 { v + dim } else { v }).clamp(lo, hi);
        let len = if step > 0 {
            let (b, e) = (clamp(s.begins[i], 0, dim), clamp(s.ends[i], 0, dim));
            ceil_div((e - b).max(0), step)
        } else if dim == 0 {
            0
        } else {
            // ONNX clamps starts to [0, dim-1] and ends to [-1, dim-1] for negative steps.
            let (b, e) = (clamp(s.begins[i], 0, dim - 1), clamp(s.ends[i], -1, dim - 1));
            ceil_div((b - e).max(0), -step)
        };
        shape[axis] = len as usize;
    }
    Ok(TensorType::new(x.dtype, shape))
}

/// `ceil(n / d)` for `n >= 0`, `d > 0`.
fn ceil_div(n: i64, d: i64) -> i64 {
    (n + d - 1) / d
}

/// `(pad #ints:pads x value)`: ONNX pads (begins then ends), non-negative.
pub fn pad(x: &TensorType, pads: &[i64]) -> InferResult {
    let r = x.shape.len();
    if pads.len() != 2 * r || pads.iter().any(|&p| p < 0) {
        return Err(format!("pads {pads:?} do not fit rank {r}"));
    }
    let shape = (0..r).map(|i| x.shape[i] + pads[i] as usize + pads[i + r] as usize).collect();
    Ok(TensorType::new(x.dtype, shape))
}

/// `(gather #ints:axis x indices)`: `x.shape[..axis] + indices.shape + x.shape[axis+1..]`;
/// the indices must be an integer tensor (their values are checked by the interpreter).
pub fn gather(x: &TensorType, indices: &TensorType, axis: i64) -> InferResult {
    let axis = usize::try_from(axis)
        .ok()
        .filter(|&a| a < x.shape.len())
        .ok_or_else(|| format!("gather axis {axis} out of range for {x}"))?;
    if !indices.dtype.is_integer() {
        return Err(format!("gather indices are {}, not integers", indices.dtype));
    }
    let mut shape = x.shape[..axis].to_vec();
    shape.extend(&indices.shape);
    shape.extend(&x.shape[axis + 1..]);
    Ok(TensorType::new(x.dtype, shape))
}

/// `(quantize #ints:axis x scale zp)`: the zero point decides the integer type.
pub fn quantize(x: &TensorType, zp: &TensorType) -> InferResult {
    if !x.dtype.is_float() || !zp.dtype.is_integer() {
        return Err(format!("quantize of {} with a {} zero point", x.dtype, zp.dtype));
    }
    Ok(TensorType::new(zp.dtype, x.shape.clone()))
}

/// `(dequantize #ints:axis x scale zp)`: the scale decides the float type.
pub fn dequantize(x: &TensorType, scale: &TensorType) -> InferResult {
    if !scale.dtype.is_float() {
        return Err(format!("dequantize with a {} scale", scale.dtype));
    }
    Ok(TensorType::new(scale.dtype, x.shape.clone()))
}

/// `(cast #dtype:T x)`.
pub fn cast(x: &TensorType, to: DType) -> InferResult {
    Ok(TensorType::new(to, x.shape.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(shape: &[usize]) -> TensorType {
        TensorType::new(DType::F32, shape.to_vec())
    }

    #[test]
    fn conv_as_window_and_dot() {
        let w = WindowSpec { kernel: vec![3, 3], strides: vec![1, 1], pads: vec![1, 1, 1, 1], dilations: vec![1, 1] };
        let cols = window(&f(&[1, 3, 8, 8]), &w).unwrap();
        assert_eq!(cols.shape, vec![1, 3, 3, 3, 8, 8]);
        let out = dot(&cols, &f(&[16, 3, 3, 3]), "ncijhw,ocij->nohw").unwrap();
        assert_eq!(out.shape, vec![1, 16, 8, 8]);
        assert!(dot(&cols, &f(&[16, 4, 3, 3]), "ncijhw,ocij->nohw").is_err());
    }

    #[test]
    fn slice_counts_like_onnx() {
        let s = SliceSpec { axes: vec![0, 1], begins: vec![1, -1], ends: vec![1000, -1000], steps: vec![2, -1] };
        assert_eq!(slice(&f(&[10, 4]), &s).unwrap().shape, vec![5, 4]);
        // A negative-step start before the axis clamps to 0 (one element), as in ONNX.
        let s = SliceSpec { axes: vec![0], begins: vec![-20], ends: vec![-30], steps: vec![-1] };
        assert_eq!(slice(&f(&[10]), &s).unwrap().shape, vec![1]);
        let s = SliceSpec { axes: vec![0], begins: vec![0], ends: vec![-30], steps: vec![-1] };
        assert_eq!(slice(&f(&[0]), &s).unwrap().shape, vec![0]);
    }

    #[test]
    fn gather_replaces_the_axis_by_the_index_shape() {
        let idx = TensorType::new(DType::I64, vec![2, 3]);
        assert_eq!(gather(&f(&[4, 5, 6]), &idx, 1).unwrap().shape, vec![4, 2, 3, 6]);
        assert_eq!(gather(&f(&[4, 5]), &TensorType::new(DType::I32, vec![]), 0).unwrap().shape, vec![5]);
        assert!(gather(&f(&[4, 5]), &idx, 2).is_err());
        assert!(gather(&f(&[4, 5]), &f(&[2]), 0).is_err());
    }

    #[test]
    fn literals_take_the_tensor_type() {
        let t = f(&[2, 3]);
        assert_eq!(elementwise(&[Operand::Tensor(&t), Operand::Literal]).unwrap(), t);
        assert!(elementwise(&[Operand::Literal, Operand::Literal]).is_err());
    }
}
