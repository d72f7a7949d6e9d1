//! Unit tests of the layout ops: parse and write-back per opset, evaluation on constants.

use super::testing::*;
use super::*;

fn arange(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::f32(shape.to_vec(), (0..n).map(|i| i as f32).collect())
}

fn infer1<K: Operator>(k: &K, x: &TensorType) -> OpResult<Vec<usize>> {
    k.infer(&[Some(x)]).map(|mut t| t.remove(0).shape)
}

#[test]
fn transpose_reverses_by_default_and_follows_perm() {
    let x = arange(&[2, 3]);
    let out = &run(&Transpose { perm: None }, &[&x])[0];
    assert_eq!(out.shape, vec![3, 2]);
    assert_eq!(values(out), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    let x = arange(&[2, 3, 4]);
    let out = &run(&Transpose { perm: Some(vec![1, 2, 0]) }, &[&x])[0];
    assert_eq!(out.shape, vec![3, 4, 2]);
    assert_eq!(values(out)[..4], [0.0, 12.0, 1.0, 13.0]);
    let bad = Transpose { perm: Some(vec![0, 0, 1]) };
    assert!(matches!(bad.infer(&[Some(&x.ttype())]), Err(OpError::BadAttr { .. })));
}

#[test]
fn concat_joins_along_axis() {
    // ONNX concat_2d_axis_0 / axis_1.
    let a = Tensor::f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let b = Tensor::f32(vec![2, 2], vec![5.0, 6.0, 7.0, 8.0]);
    let rows = &run(&Concat { axis: 0 }, &[&a, &b])[0];
    assert_eq!((rows.shape.clone(), values(rows)), (vec![4, 2], (1..=8).map(f64::from).collect()));
    let cols = &run(&Concat { axis: -1 }, &[&a, &b])[0];
    assert_eq!(values(cols), vec![1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
    let c = arange(&[3, 3]);
    assert!(Concat { axis: 0 }.infer(&[Some(&a.ttype()), Some(&c.ttype())]).is_err());
    assert!(Concat { axis: 2 }.infer(&[Some(&a.ttype())]).is_err());
}

#[test]
fn split_uneven_with_num_outputs() {
    // ONNX split_1d_uneven_split_opset18: [1..7] into 4 → [1,2] [3,4] [5,6] [7].
    let a = attrs(&[("num_outputs", Attr::Int(4))]);
    let split: Split = round_trip(&parser("Split", 18, &a, vec![var()], 4));
    let x = Tensor::f32(vec![7], (1..=7).map(|i| i as f32).collect());
    let outs = run(&split, &[&x]);
    let got: Vec<Vec<f64>> = outs.iter().map(values).collect();
    assert_eq!(got, vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0], vec![7.0]]);
    // split_2d_uneven_split_opset18: 2x8 on axis 1 into 3 → 2x3, 2x3, 2x2.
    let a = attrs(&[("axis", Attr::Int(1)), ("num_outputs", Attr::Int(3))]);
    let split = Split::parse(&parser("Split", 18, &a, vec![var()], 3)).unwrap();
    let outs = run(&split, &[&arange(&[2, 8])]);
    assert_eq!(outs.iter().map(|t| t.shape.clone()).collect::<Vec<_>>(), vec![vec![2, 3], vec![2, 3], vec![2, 2]]);
    assert_eq!(values(&outs[2]), vec![6.0, 7.0, 14.0, 15.0]);
    // num_outputs before opset 18, uneven without num_outputs, or sizes that do not sum, are
    // errors.
    assert!(Split::parse(&parser("Split", 17, &a, vec![var()], 3)).is_err());
    let even = Split { axis: 0, split: None, num_outputs: None, n_outputs: 3 };
    assert!(even.sizes(7).is_err());
    let sized = Split { axis: 0, split: Some(vec![2, 4]), num_outputs: None, n_outputs: 2 };
    assert_eq!(sized.sizes(6).unwrap(), vec![2, 4]);
    assert!(sized.sizes(7).is_err());
}

#[test]
fn split_round_trips_at_11_and_13() {
    let a = attrs(&[("axis", Attr::Int(1)), ("split", Attr::Ints(vec![1, 2]))]);
    let at11: Split = round_trip(&parser("Split", 11, &a, vec![var()], 2));
    let sizes = ints(&[1, 2]);
    let a = attrs(&[("axis", Attr::Int(1))]);
    let at13: Split = round_trip(&parser("Split", 13, &a, vec![var(), cst(&sizes)], 2));
    assert_eq!(at11, at13);
    assert_eq!(at13.attributes(13), attrs(&[("axis", Attr::Int(1))]));
}

#[test]
fn slice_spec_shapes_negative_steps_and_clamping() {
    let x = TensorType::new(DType::F32, vec![20, 10, 5]);
    let slice = |s: &[i64], e: &[i64], a: &[i64], st: &[i64]| Slice {
        starts: s.to_vec(),
        ends: e.to_vec(),
        axes: Some(a.to_vec()),
        steps: Some(st.to_vec()),
    };
    assert_eq!(infer1(&slice(&[0, 0], &[3, 10], &[0, 1], &[1, 1]), &x).unwrap(), vec![3, 10, 5]);
    assert_eq!(infer1(&slice(&[0], &[-1], &[1], &[1]), &x).unwrap(), vec![20, 9, 5]);
    assert_eq!(infer1(&slice(&[20, 10, 4], &[0, 0, 1], &[0, 1, 2], &[-1, -3, -2]), &x).unwrap(), vec![19, 3, 2]);
    assert_eq!(infer1(&slice(&[1], &[1000], &[1], &[1]), &x).unwrap(), vec![20, 9, 5]);
    assert_eq!(infer1(&slice(&[1000], &[1000], &[1], &[1]), &x).unwrap(), vec![20, 0, 5]);
    assert!(infer1(&slice(&[0], &[1], &[1], &[0]), &x).is_err());
    assert!(infer1(&slice(&[0, 0], &[1, 1], &[1, -2], &[1, 1]), &x).is_err());
    // Values: x[20:0:-1, 10:0:-3, 4:1:-2] starts at x[19, 9, 4].
    let t = arange(&[20, 10, 5]);
    let out = &run(&slice(&[20, 10, 4], &[0, 0, 1], &[0, 1, 2], &[-1, -3, -2]), &[&t])[0];
    assert_eq!(values(out)[..4], [999.0, 997.0, 984.0, 982.0]);
    let line = arange(&[10]);
    assert_eq!(values(&run(&slice(&[8], &[1], &[0], &[-3]), &[&line])[0]), vec![8.0, 5.0, 2.0]);
    let reversed = &run(&slice(&[-1], &[i64::MIN], &[0], &[-1]), &[&line])[0];
    assert_eq!(values(reversed), (0..10).rev().map(f64::from).collect::<Vec<_>>());
}

#[test]
fn slice_round_trips_at_9_11_and_13() {
    let a = attrs(&[("starts", Attr::Ints(vec![1])), ("ends", Attr::Ints(vec![-1])), ("axes", Attr::Ints(vec![1]))]);
    let at9: Slice = round_trip(&parser("Slice", 9, &a, vec![var()], 1));
    let (s, e, ax) = (ints(&[1]), ints(&[-1]), ints(&[1]));
    let none = Attrs::new();
    for opset in [11, 13] {
        let p = parser("Slice", opset, &none, vec![var(), cst(&s), cst(&e), cst(&ax)], 1);
        assert_eq!(round_trip::<Slice>(&p), at9);
    }
    let p = parser("Slice", 13, &none, vec![var(), var(), cst(&e)], 1);
    assert!(matches!(Slice::parse(&p), Err(OpError::NonConstOperand { index: 1, .. })));
}

#[test]
fn pad_modes_match_spec_values() {
    // ONNX Pad examples: x = [[1.0, 1.2], [2.3, 3.4], [4.5, 5.7]], pads = [0, 2, 0, 0].
    let x = Tensor::f32(vec![3, 2], vec![1.0, 1.2, 2.3, 3.4, 4.5, 5.7]);
    let pad = |mode, pads: &[i64]| Pad { mode, pads: pads.to_vec(), value: 0.0, axes: None };
    let f32s = |t: &Tensor| t.as_f32().unwrap().to_vec();
    let out = &run(&pad(PadMode::Constant, &[0, 2, 0, 0]), &[&x])[0];
    assert_eq!(f32s(out), vec![0.0, 0.0, 1.0, 1.2, 0.0, 0.0, 2.3, 3.4, 0.0, 0.0, 4.5, 5.7]);
    let out = &run(&pad(PadMode::Reflect, &[0, 2, 0, 0]), &[&x])[0];
    assert_eq!(f32s(out), vec![1.0, 1.2, 1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7]);
    let out = &run(&pad(PadMode::Edge, &[0, 2, 0, 0]), &[&x])[0];
    assert_eq!(f32s(out), vec![1.0, 1.0, 1.0, 1.2, 2.3, 2.3, 2.3, 3.4, 4.5, 4.5, 4.5, 5.7]);
    let out = &run(&pad(PadMode::Wrap, &[2, 1, 1, 1]), &[&x])[0];
    assert_eq!(out.shape, vec![6, 4]);
    assert_eq!(f32s(out)[..8], [3.4, 2.3, 3.4, 2.3, 5.7, 4.5, 5.7, 4.5]);
    // reflect_pad: (1, 3, 4, 5) padded by one on both spatial sides.
    let t = TensorType::new(DType::F32, vec![1, 3, 4, 5]);
    assert_eq!(infer1(&pad(PadMode::Reflect, &[0, 0, 1, 1, 0, 0, 1, 1]), &t).unwrap(), vec![1, 3, 6, 7]);
    // Negative pads crop; too much cropping is an error.
    assert_eq!(infer1(&pad(PadMode::Constant, &[0, -1, 0, 0]), &x.ttype()).unwrap(), vec![3, 1]);
    assert!(infer1(&pad(PadMode::Constant, &[-4, 0, 0, 0]), &x.ttype()).is_err());
    assert!(infer1(&pad(PadMode::Constant, &[0, 0]), &x.ttype()).is_err());
}

#[test]
fn pad_round_trips_at_10_11_and_13() {
    let a = attrs(&[("mode", Attr::String(b"reflect".to_vec())), ("pads", Attr::Ints(vec![0, 1, 0, 1]))]);
    let at10: Pad = round_trip(&parser("Pad", 10, &a, vec![var()], 1));
    let pads = ints(&[0, 1, 0, 1]);
    let a = attrs(&[("mode", Attr::String(b"reflect".to_vec()))]);
    for opset in [11, 13] {
        assert_eq!(round_trip::<Pad>(&parser("Pad", opset, &a, vec![var(), cst(&pads)], 1)), at10);
    }
    let value = Tensor::f32(vec![], vec![2.5]);
    let none = Attrs::new();
    let p: Pad = round_trip(&parser("Pad", 11, &none, vec![var(), cst(&pads), cst(&value)], 1));
    assert_eq!((p.mode, p.value), (PadMode::Constant, 2.5));
    assert_eq!(p.attributes(10)[1..], attrs(&[("value", Attr::Float(2.5))])[..]);
}

#[test]
fn gather_axis1_matches_spec() {
    // ONNX Gather, axis = 1.
    let data = Tensor::f32(vec![3, 3], vec![1.0, 1.2, 1.9, 2.3, 3.4, 3.9, 4.5, 5.7, 5.9]);
    let indices = Tensor::i64(vec![1, 2], vec![0, 2]);
    let out = &run(&Gather { axis: 1 }, &[&data, &indices])[0];
    assert_eq!(out.shape, vec![3, 1, 2]);
    assert_eq!(out.as_f32().unwrap(), &[1.0, 1.9, 2.3, 3.9, 4.5, 5.9]);
    // Axis 0 with negative indices.
    let data = Tensor::f32(vec![3, 2], vec![1.0, 1.2, 2.3, 3.4, 4.5, 5.7]);
    let indices = Tensor::new(vec![2, 2], TensorData::I32(vec![0, 1, -2, 2]));
    let out = &run(&Gather { axis: 0 }, &[&data, &indices])[0];
    assert_eq!(out.shape, vec![2, 2, 2]);
    assert_eq!(out.as_f32().unwrap(), &[1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7]);
    let bad = Tensor::i64(vec![1], vec![3]);
    let r = Gather { axis: 0 }.eval(&[Some(&data), Some(&bad)]).unwrap();
    assert!(matches!(r, Err(OpError::Type(m)) if m.contains("3x2")));
    let a = attrs(&[("axis", Attr::Int(1))]);
    for opset in [11, 13] {
        assert_eq!(round_trip::<Gather>(&parser("Gather", opset, &a, vec![var(), var()], 1)), Gather { axis: 1 });
    }
}

#[test]
fn take_moves_elements_of_any_type() {
    let t = Transpose { perm: None };
    let ints = Tensor::i64(vec![2, 2], vec![1, 2, 3, 4]);
    assert_eq!(run(&t, &[&ints])[0].to_i64_vec().unwrap(), vec![1, 3, 2, 4]);
    let bools = Tensor::new(vec![2, 1], TensorData::Bool(vec![true, false]));
    assert_eq!(run(&t, &[&bools])[0].data, TensorData::Bool(vec![true, false]));
    let strs = Tensor::new(vec![2], TensorData::Str(vec![b"a".to_vec(), b"b".to_vec()]));
    let out = &run(&Slice { starts: vec![-1], ends: vec![-3], axes: None, steps: Some(vec![-1]) }, &[&strs])[0];
    assert_eq!(out.data, TensorData::Str(vec![b"b".to_vec(), b"a".to_vec()]));
    let fp8 = Tensor::raw(DType::Other(17), vec![2, 2], vec![10, 20, 30, 40]);
    assert_eq!(run(&t, &[&fp8])[0].data, TensorData::Raw(vec![10, 30, 20, 40]));
    let int4 = Tensor::raw(DType::Other(22), vec![2, 2], vec![0x21, 0x43]);
    assert!(t.eval(&[Some(&int4)]).is_none());
    let short = Tensor::f32(vec![2, 2], vec![1.0]);
    assert!(t.eval(&[Some(&short)]).is_none());
}

#[test]
fn huge_shapes_are_errors_or_left_unevaluated() {
    assert!(checked_numel(&[0, 1 << 40, 1 << 40]).is_err());
    assert_eq!(checked_numel(&[3, 0, 1 << 40]).unwrap(), 0);
    let odd = Tensor::f32(vec![1 << 40, 1 << 40, 0], vec![]);
    assert!(Transpose { perm: None }.eval(&[Some(&odd)]).is_none());
    let x = Tensor::f32(vec![2], vec![1.0, 2.0]);
    let pad = Pad { mode: PadMode::Constant, pads: vec![i64::MAX, i64::MAX], value: 0.0, axes: None };
    assert!(pad.infer(&[Some(&x.ttype())]).is_err());
    let pad = Pad { mode: PadMode::Constant, pads: vec![1 << 40, 0], value: 0.0, axes: None };
    assert_eq!(pad.infer(&[Some(&x.ttype())]).unwrap()[0].shape, vec![(1 << 40) + 2]);
    assert!(pad.eval(&[Some(&x)]).is_none());
    let big = Tensor::i64(vec![1], vec![1 << 40]);
    assert!(Gather { axis: 0 }.eval(&[Some(&x), Some(&big)]).unwrap().is_err());
}

#[test]
fn transpose_concat_round_trip() {
    let a = attrs(&[("perm", Attr::Ints(vec![0, 2, 1]))]);
    let none = Attrs::new();
    for opset in [11, 13] {
        round_trip::<Transpose>(&parser("Transpose", opset, &a, vec![var()], 1));
        round_trip::<Transpose>(&parser("Transpose", opset, &none, vec![var()], 1));
    }
    let a = attrs(&[("axis", Attr::Int(-1))]);
    assert_eq!(round_trip::<Concat>(&parser("Concat", 13, &a, vec![var(), var()], 1)), Concat { axis: -1 });
    assert_eq!(Concat::parse(&parser("Concat", 13, &none, vec![var()], 1)), Err(OpError::MissingAttr("axis".into())));
}
