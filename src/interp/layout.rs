//! Access and layout primitives (reshape, transpose, broadcast, slice, concat, pad, window) and
//! the two-operand contraction `dot`. Shapes follow `ir::infer` exactly.

use super::array::{broadcast_to, Arr, Elems};
use super::InterpError;
use crate::ir::infer;
use crate::ir::{SliceSpec, WindowSpec};
use crate::tensor::TensorType;
use ndarray::{ArrayD, Axis, IxDyn};

fn ty(x: &Arr) -> TensorType {
    TensorType::new(x.dtype, x.shape().to_vec())
}

fn type_err(e: String) -> InterpError {
    InterpError::Type(e)
}

/// Row-major data under another shape.
fn reshaped<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, InterpError> {
    let flat: Vec<T> = a.iter().cloned().collect();
    ArrayD::from_shape_vec(IxDyn(shape), flat).map_err(|e| InterpError::Type(e.to_string()))
}

/// `(reshape #ints:shape x)`.
pub fn reshape(shape: &[i64], x: &Arr) -> Result<Arr, InterpError> {
    let out = infer::reshape(&ty(x), shape).map_err(type_err)?.shape;
    x.map_layout(|a| reshaped(a, &out), |a| reshaped(a, &out))
}

/// `(transpose #ints:perm x)`.
pub fn transpose(perm: &[i64], x: &Arr) -> Result<Arr, InterpError> {
    infer::transpose(&ty(x), perm).map_err(type_err)?;
    let perm: Vec<usize> = perm.iter().map(|&p| p as usize).collect();
    x.map_layout(
        |a| Ok(a.clone().permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned()),
        |a| Ok(a.clone().permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned()),
    )
}

/// `(broadcast #ints:shape x)`.
pub fn broadcast(shape: &[i64], x: &Arr) -> Result<Arr, InterpError> {
    let out = infer::broadcast(&ty(x), shape).map_err(type_err)?.shape;
    x.map_layout(|a| broadcast_to(a, &out), |a| broadcast_to(a, &out))
}

/// The source indices along one sliced axis of size `dim`, as `ir::infer::slice` counts them.
fn slice_indices(dim: usize, begin: i64, end: i64, step: i64) -> Vec<usize> {
    let d = dim as i64;
    let norm = |v: i64, lo: i64, hi: i64| (if v < 0 { v + d } else { v }).clamp(lo, hi);
    let (b, len) = if step > 0 {
        let (b, e) = (norm(begin, 0, d), norm(end, 0, d));
        (b, ((e - b).max(0) + step - 1) / step)
    } else if d == 0 {
        (0, 0)
    } else {
        // ONNX clamps starts to [0, dim-1] and ends to [-1, dim-1] for negative steps.
        let (b, e) = (norm(begin, 0, d - 1), norm(end, -1, d - 1));
        (b, ((b - e).max(0) - step - 1) / -step)
    };
    (0..len).map(|i| (b + i * step) as usize).collect()
}

/// `(slice #slice:.. x)`: ONNX Slice with clamped ends and any non-zero steps.
pub fn slice(spec: &SliceSpec, x: &Arr) -> Result<Arr, InterpError> {
    infer::slice(&ty(x), spec).map_err(type_err)?;
    let mut out = x.clone();
    for i in 0..spec.axes.len() {
        let axis = spec.axes[i];
        let idx = slice_indices(out.shape()[axis], spec.begins[i], spec.ends[i], spec.steps[i]);
        out = out.map_layout(|a| Ok(a.select(Axis(axis), &idx)), |a| Ok(a.select(Axis(axis), &idx)))?;
    }
    Ok(out)
}

/// `(concat #ints:axis x...)`.
pub fn concat(axis: i64, xs: &[Arr]) -> Result<Arr, InterpError> {
    let tys: Vec<TensorType> = xs.iter().map(ty).collect();
    infer::concat(&tys.iter().collect::<Vec<_>>(), axis).map_err(type_err)?;
    let ax = Axis(axis as usize);
    let dtype = xs[0].dtype;
    let floats: Option<Vec<_>> =
        xs.iter().map(|x| if let Elems::F(a) = &x.elems { Some(a.view()) } else { None }).collect();
    if let Some(v) = floats {
        let a = ndarray::concatenate(ax, &v).map_err(|e| InterpError::Type(e.to_string()))?;
        return Ok(Arr { dtype, elems: Elems::F(a) });
    }
    let ints: Option<Vec<_>> =
        xs.iter().map(|x| if let Elems::I(a) = &x.elems { Some(a.view()) } else { None }).collect();
    let v = ints.ok_or_else(|| InterpError::Malformed("concatenated values of different kinds".into()))?;
    let a = ndarray::concatenate(ax, &v).map_err(|e| InterpError::Type(e.to_string()))?;
    Ok(Arr { dtype, elems: Elems::I(a) })
}

/// `a` placed at offset `begins` inside a new array of `shape` filled with `fill`.
fn embed<T: Clone>(a: &ArrayD<T>, shape: &[usize], begins: &[usize], fill: T) -> ArrayD<T> {
    let mut out = ArrayD::from_elem(IxDyn(shape), fill);
    let mut view = out.view_mut();
    for (axis, (&b, &n)) in begins.iter().zip(a.shape()).enumerate() {
        view.slice_axis_inplace(Axis(axis), ndarray::Slice::from(b..b + n));
    }
    view.assign(a);
    out
}

/// `(pad #ints:pads x value)`: constant padding, pads as ONNX begins then ends.
pub fn pad(pads: &[i64], x: &Arr, value: &Arr) -> Result<Arr, InterpError> {
    let out = infer::pad(&ty(x), pads).map_err(type_err)?.shape;
    let begins: Vec<usize> = pads[..x.shape().len()].iter().map(|&p| p as usize).collect();
    match (&x.elems, &value.elems) {
        (Elems::F(a), Elems::F(v)) => Ok(Arr {
            dtype: x.dtype,
            elems: Elems::F(embed(a, &out, &begins, v.iter().copied().next().unwrap_or(0.0))),
        }),
        (Elems::I(a), Elems::I(v)) => {
            Ok(Arr { dtype: x.dtype, elems: Elems::I(embed(a, &out, &begins, v.iter().copied().next().unwrap_or(0))) })
        }
        _ => Err(InterpError::Malformed("pad value of another kind".into())),
    }
}

/// `(gather #ints:axis x indices)`: `out[a.., j.., b..] = x[a.., indices[j..], b..]` for
/// non-negative, in-range indices (any other index is an error).
pub fn gather(axis: i64, x: &Arr, indices: &Arr) -> Result<Arr, InterpError> {
    let out = infer::gather(&ty(x), &ty(indices), axis).map_err(type_err)?.shape;
    let Elems::I(idx) = &indices.elems else {
        return Err(InterpError::Malformed("gather indices are not integers".into()));
    };
    let (axis, dim, r) = (axis as usize, x.shape()[axis as usize], idx.ndim());
    if let Some(bad) = idx.iter().find(|&&i| i < 0 || i as usize >= dim) {
        return Err(InterpError::Type(format!("gather index {bad} out of range for an axis of {dim}")));
    }
    fn run<T: Copy>(a: &ArrayD<T>, idx: &ArrayD<i64>, out: &[usize], axis: usize, r: usize) -> ArrayD<T> {
        ArrayD::from_shape_fn(IxDyn(out), |o| {
            let o: Vec<usize> = (0..out.len()).map(|k| o[k]).collect();
            let mut src: Vec<usize> = o[..axis].to_vec();
            src.push(idx[IxDyn(&o[axis..axis + r])] as usize);
            src.extend(&o[axis + r..]);
            a[IxDyn(&src)]
        })
    }
    x.map_layout(|a| Ok(run(a, idx, &out, axis, r)), |a| Ok(run(a, idx, &out, axis, r)))
}

/// `(window #win:.. x pad)`: `out[n, c, k..., o...] = x[n, c, o·stride + k·dilation - pad_begin]`,
/// or `pad` where that index falls outside `x`.
pub fn window(spec: &WindowSpec, x: &Arr, pad: &Arr) -> Result<Arr, InterpError> {
    let out = infer::window(&ty(x), spec).map_err(type_err)?.shape;
    fn run<T: Copy>(spec: &WindowSpec, a: &ArrayD<T>, out: &[usize], fill: T) -> ArrayD<T> {
        let s = spec.kernel.len();
        let in_shape = a.shape().to_vec();
        ArrayD::from_shape_fn(IxDyn(out), |idx| {
            let mut src = vec![idx[0], idx[1]];
            for i in 0..s {
                let pos =
                    (idx[2 + s + i] * spec.strides[i] + idx[2 + i] * spec.dilations[i]) as i64 - spec.pads[i] as i64;
                if pos < 0 || pos >= in_shape[2 + i] as i64 {
                    return fill;
                }
                src.push(pos as usize);
            }
            a[IxDyn(&src)]
        })
    }
    match (&x.elems, &pad.elems) {
        (Elems::F(a), Elems::F(v)) => {
            let fill = v.iter().copied().next().unwrap_or(0.0);
            Ok(Arr { dtype: x.dtype, elems: Elems::F(run(spec, a, &out, fill)) })
        }
        (Elems::I(a), Elems::I(v)) => {
            let fill = v.iter().copied().next().unwrap_or(0);
            Ok(Arr { dtype: x.dtype, elems: Elems::I(run(spec, a, &out, fill)) })
        }
        _ => Err(InterpError::Malformed("window pad value of another kind".into())),
    }
}

/// `(dot #einsum:.. a b)`: every letter missing from the output is summed; floats accumulate in
/// `f64` and round once, integers wrap.
pub fn dot(spec: &str, a: &Arr, b: &Arr) -> Result<Arr, InterpError> {
    let out_shape = infer::dot(&ty(a), &ty(b), spec).map_err(type_err)?.shape;
    let (ins, out) = spec.split_once("->").expect("checked by infer::dot");
    let (sa, sb) = ins.split_once(',').expect("checked by infer::dot");
    // Distinct letters, output letters first; each with its size and its stride in a, b, out.
    let mut letters: Vec<char> = Vec::new();
    for c in out.chars().chain(sa.chars()).chain(sb.chars()) {
        if !letters.contains(&c) {
            letters.push(c);
        }
    }
    let strides = |word: &str, shape: &[usize]| -> Vec<usize> {
        let mut row = vec![0usize; shape.len()];
        for i in (0..shape.len()).rev() {
            row[i] = if i + 1 < shape.len() { row[i + 1] * shape[i + 1] } else { 1 };
        }
        letters.iter().map(|&l| word.chars().zip(&row).filter(|(c, _)| *c == l).map(|(_, s)| *s).sum()).collect()
    };
    let (st_a, st_b, st_o) = (strides(sa, a.shape()), strides(sb, b.shape()), strides(out, &out_shape));
    let size_of = |l: char| -> usize {
        let find = |word: &str, shape: &[usize]| word.chars().position(|c| c == l).map(|i| shape[i]);
        find(sa, a.shape()).or_else(|| find(sb, b.shape())).unwrap_or(1)
    };
    let sizes: Vec<usize> = letters.iter().map(|&l| size_of(l)).collect();
    let n_out: usize = out_shape.iter().product();
    fn contract<T: Copy>(
        a: &[T],
        b: &[T],
        n_out: usize,
        sizes: &[usize],
        st: [&[usize]; 3],
        zero: T,
        mac: impl Fn(T, T, T) -> T,
    ) -> Vec<T> {
        let mut acc = vec![zero; n_out];
        if sizes.contains(&0) {
            return acc;
        }
        let mut idx = vec![0usize; sizes.len()];
        let (mut oa, mut ob, mut oo) = (0usize, 0usize, 0usize);
        loop {
            acc[oo] = mac(acc[oo], a[oa], b[ob]);
            // Odometer over every letter, last letter fastest.
            let mut k = sizes.len();
            loop {
                if k == 0 {
                    return acc;
                }
                k -= 1;
                idx[k] += 1;
                oa += st[0][k];
                ob += st[1][k];
                oo += st[2][k];
                if idx[k] < sizes[k] {
                    break;
                }
                oa -= st[0][k] * sizes[k];
                ob -= st[1][k] * sizes[k];
                oo -= st[2][k] * sizes[k];
                idx[k] = 0;
            }
        }
    }
    let st = [st_a.as_slice(), st_b.as_slice(), st_o.as_slice()];
    let shape = IxDyn(&out_shape);
    match (&a.elems, &b.elems) {
        (Elems::F(x), Elems::F(y)) => {
            let (x, y) = (x.as_standard_layout(), y.as_standard_layout());
            let (x, y) = (x.as_slice().expect("standard layout"), y.as_slice().expect("standard layout"));
            let v = contract(x, y, n_out, &sizes, st, 0.0, |s, p, q| s + p * q);
            Ok(Arr::float(a.dtype, ArrayD::from_shape_vec(shape, v).expect("sized by infer")))
        }
        (Elems::I(x), Elems::I(y)) => {
            let (x, y) = (x.as_standard_layout(), y.as_standard_layout());
            let (x, y) = (x.as_slice().expect("standard layout"), y.as_slice().expect("standard layout"));
            let v = contract(x, y, n_out, &sizes, st, 0i64, |s, p, q| s.wrapping_add(p.wrapping_mul(q)));
            Ok(Arr::int(a.dtype, ArrayD::from_shape_vec(shape, v).expect("sized by infer")))
        }
        _ => Err(InterpError::Malformed("dot operands of different kinds".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DType;

    fn arr(shape: &[usize], v: &[f64]) -> Arr {
        Arr::float(DType::F32, ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap())
    }

    fn values(a: &Arr) -> Vec<f64> {
        a.to_f64().iter().copied().collect()
    }

    #[test]
    fn window_and_dot_compute_a_padded_3x3_convolution() {
        // x = 1..16 as 1x1x4x4, w = 3x3 with a cross of ones, pad 1, stride 1.
        let x = arr(&[1, 1, 4, 4], &(1..=16).map(f64::from).collect::<Vec<_>>());
        let w = arr(&[1, 1, 3, 3], &[0., 1., 0., 1., 1., 1., 0., 1., 0.]);
        let spec =
            WindowSpec { kernel: vec![3, 3], strides: vec![1, 1], pads: vec![1, 1, 1, 1], dilations: vec![1, 1] };
        let zero = Arr::literal(DType::F32, 0.0).unwrap();
        let cols = window(&spec, &x, &zero).unwrap();
        assert_eq!(cols.shape(), &[1, 1, 3, 3, 4, 4]);
        let y = dot("ncijhw,ocij->nohw", &cols, &w).unwrap();
        assert_eq!(y.shape(), &[1, 1, 4, 4]);
        // Hand-computed: each output is the sum of itself and its 4-neighbours inside the image.
        let want = [8., 12., 16., 15., 21., 30., 35., 31., 37., 50., 55., 47., 36., 52., 56., 43.];
        assert_eq!(values(&y), want.to_vec());
        // Stride 2 and dilation 2 without padding on a 5x5 input: one output per corner pattern.
        let x5 = arr(&[1, 1, 5, 5], &(0..25).map(f64::from).collect::<Vec<_>>());
        let spec = WindowSpec { kernel: vec![3, 3], strides: vec![2, 2], pads: vec![0; 4], dilations: vec![2, 2] };
        let cols = window(&spec, &x5, &zero).unwrap();
        assert_eq!(cols.shape(), &[1, 1, 3, 3, 1, 1]);
        assert_eq!(values(&cols), vec![0., 2., 4., 10., 12., 14., 20., 22., 24.]);
    }

    #[test]
    fn slices_with_negative_steps() {
        let x = arr(&[2, 5], &(0..10).map(f64::from).collect::<Vec<_>>());
        let spec = SliceSpec { axes: vec![1], begins: vec![-1], ends: vec![-1000], steps: vec![-2] };
        let y = slice(&spec, &x).unwrap();
        assert_eq!((y.shape().to_vec(), values(&y)), (vec![2, 3], vec![4., 2., 0., 9., 7., 5.]));
        let spec = SliceSpec { axes: vec![0, 1], begins: vec![1, 3], ends: vec![0, 0], steps: vec![-1, -1] };
        let y = slice(&spec, &x).unwrap();
        assert_eq!((y.shape().to_vec(), values(&y)), (vec![1, 3], vec![8., 7., 6.]));
        let spec = SliceSpec { axes: vec![1], begins: vec![1], ends: vec![100], steps: vec![3] };
        assert_eq!(values(&slice(&spec, &x).unwrap()), vec![1., 4., 6., 9.]);
    }

    #[test]
    fn layout_ops_move_elements() {
        let x = arr(&[2, 3], &[0., 1., 2., 3., 4., 5.]);
        assert_eq!(values(&transpose(&[1, 0], &x).unwrap()), vec![0., 3., 1., 4., 2., 5.]);
        assert_eq!(reshape(&[3, 2], &x).unwrap().shape(), &[3, 2]);
        assert!(reshape(&[4], &x).is_err());
        let b = broadcast(&[2, 2, 3], &x).unwrap();
        assert_eq!(b.shape(), &[2, 2, 3]);
        let c = concat(1, &[x.clone(), x.clone()]).unwrap();
        assert_eq!(values(&c), vec![0., 1., 2., 0., 1., 2., 3., 4., 5., 3., 4., 5.]);
        let p = pad(&[0, 1, 1, 0], &x, &Arr::literal(DType::F32, -1.0).unwrap()).unwrap();
        assert_eq!(p.shape(), &[3, 4]);
        assert_eq!(values(&p)[..4], [-1., 0., 1., 2.]);
        assert_eq!(values(&p)[8..], [-1., -1., -1., -1.]);
    }

    #[test]
    fn gather_picks_slices_along_an_axis() {
        let x = arr(&[2, 3], &[0., 1., 2., 3., 4., 5.]);
        let idx = Arr::int(DType::I64, ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![2, 0, 1, 1]).unwrap());
        let y = gather(1, &x, &idx).unwrap();
        assert_eq!(y.shape(), &[2, 2, 2]);
        assert_eq!(values(&y), vec![2., 0., 1., 1., 5., 3., 4., 4.]);
        let rows = gather(0, &x, &Arr::int(DType::I32, ArrayD::from_elem(IxDyn(&[]), 1))).unwrap();
        assert_eq!((rows.shape().to_vec(), values(&rows)), (vec![3], vec![3., 4., 5.]));
        let bad = Arr::int(DType::I64, ArrayD::from_elem(IxDyn(&[1]), 3));
        assert!(gather(1, &x, &bad).is_err());
        assert!(gather(0, &x, &x).is_err());
    }

    #[test]
    fn dot_contracts_and_keeps_batch_letters() {
        let a = arr(&[2, 2, 3], &(0..12).map(f64::from).collect::<Vec<_>>());
        let b = arr(&[3], &[1., 10., 100.]);
        assert_eq!(values(&dot("bij,j->bi", &a, &b).unwrap()), vec![210., 543., 876., 1209.]);
        assert_eq!(values(&dot("bij,j->", &a, &b).unwrap()), vec![2838.]);
        assert!(dot("ij,j->i", &a, &b).is_err());
    }
}
