//! Interpreter tests on hand-computed values, and kernels against their primitive forms.

use super::*;
use crate::ir::{ConstRef, InputRef, Literal, OpPayload};
use crate::ops::{Conv, ConvAttrs, Op, Unary, UnaryKind};
use crate::tensor::DType;

fn run(expr: &str, inputs: &[(&str, Tensor)]) -> Result<Value, InterpError> {
    let expr: RecExpr<Ir> = expr.parse().expect("test expressions parse");
    let inputs: HashMap<String, Tensor> = inputs.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    let analysis = IrAnalysis::default();
    Interpreter::new(&analysis, &inputs).eval(&expr)
}

fn f32s(v: &Value) -> Vec<f32> {
    v.tensor().and_then(Tensor::as_f32).expect("an f32 tensor").to_vec()
}

fn ints(v: &Value) -> Vec<i64> {
    v.tensor().and_then(Tensor::to_i64_vec).expect("a tensor")
}

#[test]
fn conv_3x3_through_window_and_dot() {
    // x = 0..9 as 1x1x3x3; w = [[1,0,-1]] x 3 rows (a horizontal gradient), pad 1.
    let x = Tensor::f32(vec![1, 1, 3, 3], (0..9).map(|v| v as f32).collect());
    let w = Tensor::f32(vec![1, 1, 3, 3], vec![1., 0., -1., 1., 0., -1., 1., 0., -1.]);
    let y = run(
        "(dot #einsum:ncijhw,ocij->nohw (window #win:k3,3/s1,1/p1,1,1,1/d1,1 $x 0) $w)",
        &[("x", x.clone()), ("w", w.clone())],
    )
    .unwrap();
    // Hand-computed: out[i][j] = Σ_rows (x[r][j-1] - x[r][j+1]) over the rows r in reach.
    assert_eq!(f32s(&y), vec![-5., -4., 5., -12., -6., 12., -11., -4., 11.]);
    // The same conv through tract.
    let conv = Op::Conv(Conv { attrs: ConvAttrs { pads: vec![1, 1, 1, 1], group: 1, ..ConvAttrs::default() } });
    let mut e = RecExpr::default();
    let op = e.add(Ir::Payload(Payload::Op(OpPayload::new(conv))));
    let xi = e.add(Ir::Input(InputRef("x".into())));
    let wi = e.add(Ir::Input(InputRef("w".into())));
    e.add(Ir::Kernel(kernel_symbol("Conv"), vec![op, xi, wi].into()));
    let inputs = HashMap::from([("x".to_string(), x), ("w".to_string(), w)]);
    let analysis = IrAnalysis::default();
    let k = Interpreter::new(&analysis, &inputs).eval(&e).unwrap();
    assert_eq!(f32s(&k), f32s(&y));
}

#[test]
fn literals_take_the_tensor_type_and_integers_wrap() {
    let x = Tensor::from_i64(DType::I8, vec![3], &[120, -3, 0]).unwrap();
    assert_eq!(ints(&run("(add $x 10)", &[("x", x.clone())]).unwrap()), vec![-126, 7, 10]);
    assert_eq!(ints(&run("(shr $x 1)", &[("x", x.clone())]).unwrap()), vec![60, -2, 0]);
    assert_eq!(ints(&run("(clip $x -inf 5)", &[("x", x)]).unwrap()), vec![5, -3, 0]);
    let f = Tensor::f32(vec![2], vec![1.0, 3.0]);
    // 0.1 is rounded to f32 before it meets x, and the sum is rounded to f32.
    assert_eq!(f32s(&run("(add $x 0.1)", &[("x", f.clone())]).unwrap()), vec![1.1f32, 3.1f32]);
    assert_eq!(f32s(&run("(round (mul $x 0.5))", &[("x", f)]).unwrap()), vec![0.0, 2.0]);
}

#[test]
fn quantize_and_cast_through_expressions() {
    let x = Tensor::f32(vec![4], vec![0.5, 1.5, 2.5, 1000.0]);
    let zp = Tensor::from_i64(DType::I8, vec![], &[0]).unwrap();
    let mut analysis = IrAnalysis::default();
    analysis.consts.insert(0, Arc::new(zp));
    let inputs = HashMap::from([("x".to_string(), x)]);
    let expr: RecExpr<Ir> = "(quantize #ints: $x 1 %0)".parse().unwrap();
    let q = Interpreter::new(&analysis, &inputs).eval(&expr).unwrap();
    assert_eq!(ints(&q), vec![0, 2, 2, 127]);
    let expr: RecExpr<Ir> = "(cast #dtype:int8 (mul $x 0.5))".parse().unwrap();
    assert_eq!(ints(&Interpreter::new(&analysis, &inputs).eval(&expr).unwrap()), vec![0, 0, 1, 127]);
}

#[test]
fn reductions_layout_and_outputs() {
    let x = Tensor::f32(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]);
    let y = run(
        "(outputs (rsum #ints:1 $x) (transpose #ints:1,0 $x) (slice #slice:a1/b-1/e-100/s-1 $x) (concat #ints:0 $x $x) (pad #ints:0,1,0,0 $x 7))",
        &[("x", x)],
    )
    .unwrap();
    let Value::Tuple(ts) = y else { panic!("outputs gives a tuple") };
    assert_eq!(ts[0].as_f32().unwrap(), &[6., 15.]);
    assert_eq!(ts[0].shape, vec![2, 1]);
    assert_eq!(ts[1].as_f32().unwrap(), &[1., 4., 2., 5., 3., 6.]);
    assert_eq!(ts[2].as_f32().unwrap(), &[3., 2., 1., 6., 5., 4.]);
    assert_eq!(ts[3].shape, vec![4, 3]);
    assert_eq!(ts[4].as_f32().unwrap(), &[7., 1., 2., 3., 7., 4., 5., 6.]);
}

#[test]
fn kernels_run_through_tract() {
    let mut e = RecExpr::default();
    let op = e.add(Ir::Payload(Payload::Op(OpPayload::new(Op::Unary(Unary { kind: UnaryKind::Relu })))));
    let x = e.add(Ir::Const(ConstRef(3)));
    e.add(Ir::Kernel(kernel_symbol("Relu"), vec![op, x].into()));
    let mut analysis = IrAnalysis::default();
    analysis.consts.insert(3, Arc::new(Tensor::f32(vec![3], vec![-1.0, 0.0, 2.0])));
    let none = HashMap::new();
    let y = Interpreter::new(&analysis, &none).eval(&e).unwrap();
    assert_eq!(f32s(&y), vec![0.0, 0.0, 2.0]);
}

#[test]
fn malformed_expressions_are_errors() {
    let x = Tensor::f32(vec![2], vec![1.0, 2.0]);
    assert!(matches!(run("(add $y 1)", &[("x", x.clone())]), Err(InterpError::UnknownInput(_))));
    assert!(matches!(run("(reshape #ints:3 $x)", &[("x", x.clone())]), Err(InterpError::Type(_))));
    assert!(matches!(run("(add 1 2)", &[]), Err(InterpError::Type(_))));
    assert!(matches!(run("(shl $x #ints:1)", &[("x", x.clone())]), Err(InterpError::Malformed(_))));
    assert!(matches!(run("(@nothing $x)", &[("x", x)]), Err(InterpError::Function { .. })));
    let bad = RecExpr::from(vec![Ir::Neg(Id::from(1)), Ir::Lit(Literal(1.0))]);
    let analysis = IrAnalysis::default();
    let none = HashMap::new();
    assert!(matches!(Interpreter::new(&analysis, &none).eval(&bad), Err(InterpError::Malformed(_))));
}

#[test]
fn an_eclass_evaluates_through_its_smallest_expression() {
    let mut analysis = IrAnalysis::default();
    analysis.inputs.insert("x".into(), crate::tensor::TensorType::new(DType::F32, vec![2]));
    let mut egraph = IrGraph::new(analysis);
    let big = egraph.add_expr(&"(add (mul $x 2) 0)".parse().unwrap());
    let small = egraph.add_expr(&"(add $x $x)".parse().unwrap());
    egraph.union(big, small);
    egraph.rebuild();
    let inputs = HashMap::from([("x".to_string(), Tensor::f32(vec![2], vec![1.5, -2.0]))]);
    let v = Interpreter::new(&egraph.analysis, &inputs).eval_class(&egraph, big).unwrap();
    assert_eq!(f32s(&v), vec![3.0, -4.0]);
}
