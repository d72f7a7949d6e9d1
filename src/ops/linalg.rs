//! Matrix products: Gemm, MatMul (numpy semantics) and their integer and quantized forms
//! MatMulInteger and QLinearMatMul. Scales, zero points and biases stay node inputs.

use super::parse::push;
use super::{broadcast_shapes, input, Attr, Attrs, OpError, OpResult, Operator, Parser};
use crate::tensor::{shape_string, DType, Tensor, TensorType};
use crate::work::{Counter, OpClass};

/// The output shape and multiply-accumulate count of `A @ B` with numpy `matmul` semantics:
/// a 1-D A is a row `[1, K]` and a 1-D B a column `[K, 1]` (the added axis is dropped from the
/// result), and leading batch axes broadcast.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> OpResult<(Vec<usize>, u64)> {
    if a.is_empty() || b.is_empty() {
        return Err(OpError::Type(format!(
            "matrix product operands need rank 1 or more, found A {} and B {}",
            shape_string(a),
            shape_string(b)
        )));
    }
    let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (ra, rb) = (a2.len(), b2.len());
    let (m, k) = (a2[ra - 2], a2[ra - 1]);
    let (kb, n) = (b2[rb - 2], b2[rb - 1]);
    if k != kb {
        return Err(OpError::Type(format!(
            "inner dimensions differ: A {} has K = {k} but B {} has K = {kb}",
            shape_string(a),
            shape_string(b)
        )));
    }
    let batch = broadcast_shapes(&a2[..ra - 2], &b2[..rb - 2]).map_err(|_| {
        OpError::Type(format!("batch dimensions of A {} and B {} do not broadcast", shape_string(a), shape_string(b)))
    })?;
    let macs = batch.iter().chain([m, n, k].iter()).fold(1u64, |acc, &d| acc.saturating_mul(d as u64));
    let mut out = batch;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok((out, macs))
}

/// MACs of `inputs[ia] @ inputs[ib]`, 0 when the types are unknown or do not fit.
fn matmul_macs(inputs: &[Option<&TensorType>], ia: usize, ib: usize) -> u64 {
    match (inputs.get(ia).copied().flatten(), inputs.get(ib).copied().flatten()) {
        (Some(a), Some(b)) => matmul_shape(&a.shape, &b.shape).map_or(0, |(_, macs)| macs),
        _ => 0,
    }
}

/// Errors unless the optional zero point at `zp` has the element type of the operand at `of`.
pub(crate) fn check_zero_point(
    inputs: &[Option<&TensorType>],
    zp: usize,
    of: usize,
    names: (&str, &str),
) -> OpResult<()> {
    match (inputs.get(zp).copied().flatten(), inputs.get(of).copied().flatten()) {
        (Some(z), Some(x)) if z.dtype != x.dtype => {
            Err(OpError::Type(format!("{} is {} but {} is {}", names.0, z.dtype, names.1, x.dtype)))
        }
        _ => Ok(()),
    }
}

/// Reads a 0/1 flag attribute.
pub(crate) fn flag(p: &Parser, name: &str, default: bool) -> OpResult<bool> {
    match p.int(name, default as i64)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(OpError::BadAttr { name: name.into(), cause: format!("must be 0 or 1, found {v}") }),
    }
}

/// `Y = alpha * op(A) @ op(B) + beta * C` on 2-D A and B, with C optional (opset 11+) and
/// unidirectionally broadcast to `[M, N]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    /// Scale of the product (default 1).
    pub alpha: f32,
    /// Scale of C (default 1).
    pub beta: f32,
    /// Whether A is stored as `[K, M]`.
    pub trans_a: bool,
    /// Whether B is stored as `[N, K]`.
    pub trans_b: bool,
}

impl Operator for Gemm {
    /// Before opset 7 a `broadcast` attribute chose whether C broadcasts; it is read as
    /// broadcasting, which gives the same result whenever the node is valid.
    fn parse(p: &Parser) -> OpResult<Self> {
        Ok(Gemm {
            alpha: p.float("alpha", 1.0)?,
            beta: p.float("beta", 1.0)?,
            trans_a: flag(p, "transA", false)?,
            trans_b: flag(p, "transB", false)?,
        })
    }
    fn onnx_name(&self) -> &str {
        "Gemm"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        let (m, k, kb, n) = match (a.shape.as_slice(), b.shape.as_slice()) {
            (&[a0, a1], &[b0, b1]) => {
                let (m, k) = if self.trans_a { (a1, a0) } else { (a0, a1) };
                let (kb, n) = if self.trans_b { (b1, b0) } else { (b0, b1) };
                (m, k, kb, n)
            }
            _ => {
                return Err(OpError::Type(format!(
                    "Gemm needs 2-D A and B, found A {} and B {}",
                    shape_string(&a.shape),
                    shape_string(&b.shape)
                )))
            }
        };
        if k != kb {
            return Err(OpError::Type(format!(
                "inner dimensions differ: A {} (transA={}) has K = {k} but B {} (transB={}) has K = {kb}",
                shape_string(&a.shape),
                self.trans_a as u8,
                shape_string(&b.shape),
                self.trans_b as u8
            )));
        }
        if a.dtype != b.dtype {
            return Err(OpError::Type(format!("A is {} but B is {}", a.dtype, b.dtype)));
        }
        if let Some(c) = inputs.get(2).copied().flatten() {
            if c.shape.len() > 2 || broadcast_shapes(&c.shape, &[m, n]).ok().as_deref() != Some(&[m, n][..]) {
                return Err(OpError::Type(format!(
                    "C {} does not broadcast to the product's shape {}",
                    shape_string(&c.shape),
                    shape_string(&[m, n])
                )));
            }
        }
        Ok(vec![TensorType::new(a.dtype, vec![m, n])])
    }
    fn attributes(&self, opset: i64) -> Attrs {
        let mut attrs = Vec::new();
        if self.alpha != 1.0 {
            push(&mut attrs, "alpha", Attr::Float(self.alpha));
        }
        if self.beta != 1.0 {
            push(&mut attrs, "beta", Attr::Float(self.beta));
        }
        if self.trans_a {
            push(&mut attrs, "transA", Attr::Int(1));
        }
        if self.trans_b {
            push(&mut attrs, "transB", Attr::Int(1));
        }
        if opset < 7 {
            push(&mut attrs, "broadcast", Attr::Int(1));
        }
        attrs
    }
    /// `M * N * K`.
    fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
        let k = inputs.first().copied().flatten().and_then(|a| a.shape.get(if self.trans_a { 0 } else { 1 }).copied());
        match (k, outputs.first()) {
            (Some(k), Some(y)) => y.shape.iter().fold(k as u64, |acc, &d| acc.saturating_mul(d as u64)),
            _ => 0,
        }
    }
    fn work(&self, c: &mut Counter) {
        let (n, dt) = (c.n(), c.dtype());
        c.on(c.input_dtype(), OpClass::Fma, self.macs(c.inputs, c.outputs));
        if self.alpha != 1.0 {
            c.on(dt, OpClass::Mul, n);
        }
        if c.input(2).is_some() {
            c.on(dt, OpClass::Add, n);
            if self.beta != 1.0 {
                c.on(dt, OpClass::Mul, n);
            }
        }
    }
}

/// Matrix product with numpy semantics (1-D operands, broadcast batch axes).
#[derive(Clone, Debug, PartialEq)]
pub struct MatMul;

impl Operator for MatMul {
    fn parse(_p: &Parser) -> OpResult<Self> {
        Ok(MatMul)
    }
    fn onnx_name(&self) -> &str {
        "MatMul"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        if a.dtype != b.dtype {
            return Err(OpError::Type(format!("A is {} but B is {}", a.dtype, b.dtype)));
        }
        Ok(vec![TensorType::new(a.dtype, matmul_shape(&a.shape, &b.shape)?.0)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
    /// `batch * M * N * K`.
    fn macs(&self, inputs: &[Option<&TensorType>], _outputs: &[TensorType]) -> u64 {
        matmul_macs(inputs, 0, 1)
    }
    fn work(&self, c: &mut Counter) {
        c.on(c.input_dtype(), OpClass::Fma, self.macs(c.inputs, c.outputs));
    }
}

/// Errors when an op that ONNX introduced at `since` is used in an older opset.
pub(crate) fn require_opset(p: &Parser, since: i64) -> OpResult<()> {
    if p.opset < since {
        return Err(OpError::Unsupported(format!(
            "{} does not exist before opset {since} (model has {})",
            p.op_type, p.opset
        )));
    }
    Ok(())
}

/// Integer matrix product `(A - a_zero_point) @ (B - b_zero_point)` into int32; inputs A, B and
/// optional a_zero_point, b_zero_point.
#[derive(Clone, Debug, PartialEq)]
pub struct MatMulInteger;

impl Operator for MatMulInteger {
    fn parse(p: &Parser) -> OpResult<Self> {
        require_opset(p, 10)?;
        Ok(MatMulInteger)
    }
    fn onnx_name(&self) -> &str {
        "MatMulInteger"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        check_zero_point(inputs, 2, 0, ("a_zero_point", "A"))?;
        check_zero_point(inputs, 3, 1, ("b_zero_point", "B"))?;
        Ok(vec![TensorType::new(DType::I32, matmul_shape(&a.shape, &b.shape)?.0)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
    /// `batch * M * N * K`, as for MatMul.
    fn macs(&self, inputs: &[Option<&TensorType>], _outputs: &[TensorType]) -> u64 {
        matmul_macs(inputs, 0, 1)
    }
    fn work(&self, c: &mut Counter) {
        c.on(c.input_dtype(), OpClass::Fma, self.macs(c.inputs, c.outputs));
    }
}

/// Quantized matrix product; inputs a, a_scale, a_zero_point, b, b_scale, b_zero_point,
/// y_scale, y_zero_point. The output has y_zero_point's element type.
#[derive(Clone, Debug, PartialEq)]
pub struct QLinearMatMul;

impl Operator for QLinearMatMul {
    fn parse(p: &Parser) -> OpResult<Self> {
        require_opset(p, 10)?;
        Ok(QLinearMatMul)
    }
    fn onnx_name(&self) -> &str {
        "QLinearMatMul"
    }
    fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (a, b, y_zp) = (input(inputs, 0)?, input(inputs, 3)?, input(inputs, 7)?);
        check_zero_point(inputs, 2, 0, ("a_zero_point", "a"))?;
        check_zero_point(inputs, 5, 3, ("b_zero_point", "b"))?;
        Ok(vec![TensorType::new(y_zp.dtype, matmul_shape(&a.shape, &b.shape)?.0)])
    }
    fn attributes(&self, _opset: i64) -> Attrs {
        Vec::new()
    }
    /// `batch * M * N * K`, as for MatMul.
    fn macs(&self, inputs: &[Option<&TensorType>], _outputs: &[TensorType]) -> u64 {
        matmul_macs(inputs, 0, 3)
    }
    fn work(&self, c: &mut Counter) {
        c.on(c.input_dtype(), OpClass::Fma, self.macs(c.inputs, c.outputs));
        c.requantize(c.n());
    }
    /// The ONNX reference's computation, for any float type of the scales (tract refuses fp16
    /// scales): `(a - a_zp) @ (b - b_zp)` summed exactly, times `a_scale · b_scale / y_scale`
    /// (in f32), rounded half to even, plus `y_zp`, saturated to the output type. Scales and
    /// zero points are scalars, or 1-D per row of `a` / `y` and per column of `b`.
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<OpResult<Vec<Tensor>>> {
        let get = |i: usize| inputs.get(i).copied().flatten();
        let (a, b, y_zp) = (get(0)?, get(3)?, get(7)?);
        let (lo, hi) = match y_zp.dtype {
            DType::U8 => (0, 255),
            DType::I8 => (-128, 127),
            _ => return None,
        };
        let (shape, _) = match matmul_shape(&a.shape, &b.shape) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let (m, n) = (if a.shape.len() > 1 { a.shape[a.shape.len() - 2] } else { 1 }, b.shape[b.shape.len() - 1]);
        let n = if b.shape.len() > 1 { n } else { 1 };
        // Per-element parameter lookups: a scalar, or one value per row (`rows`) or column.
        let param = |i: usize, per: usize| -> Option<Vec<f64>> {
            let v = get(i)?.to_f64_vec()?;
            (v.len() == 1 || v.len() == per).then_some(v)
        };
        let (sa, za, sb, zb, sy) = (param(1, m)?, param(2, m)?, param(4, n)?, param(5, n)?, param(6, m)?);
        let zy = y_zp.to_f64_vec()?;
        if zy.len() != 1 && zy.len() != m {
            return None;
        }
        let at = |v: &[f64], k: usize| if v.len() == 1 { v[0] } else { v[k] };
        let (av, bv) = (a.to_i64_vec()?, b.to_i64_vec()?);
        let (rows, cols) = (m, n);
        let sums = matmul_i64(&av, &a.shape, &bv, &b.shape, |row| at(&za, row) as i64, |col| at(&zb, col) as i64)?;
        let values: Vec<i64> = sums
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let (row, col) = (i / cols % rows, i % cols);
                let scale = at(&sa, row) as f32 * at(&sb, col) as f32 / at(&sy, row) as f32;
                let q = (c as f32 * scale).round_ties_even() as i64 + at(&zy, row) as i64;
                q.clamp(lo, hi)
            })
            .collect();
        Some(Ok(vec![Tensor::from_i64(y_zp.dtype, shape, &values)?]))
    }
}

/// `(A - za) @ (B - zb)` in i64 with numpy `matmul` semantics (see [`matmul_shape`]), row-major
/// with the result's `[.., M, N]` layout; `za(row)` and `zb(col)` give the zero points.
fn matmul_i64(
    a: &[i64],
    a_shape: &[usize],
    b: &[i64],
    b_shape: &[usize],
    za: impl Fn(usize) -> i64,
    zb: impl Fn(usize) -> i64,
) -> Option<Vec<i64>> {
    let a2: Vec<usize> = if a_shape.len() == 1 { vec![1, a_shape[0]] } else { a_shape.to_vec() };
    let b2: Vec<usize> = if b_shape.len() == 1 { vec![b_shape[0], 1] } else { b_shape.to_vec() };
    let (ra, rb) = (a2.len(), b2.len());
    let (m, k, n) = (a2[ra - 2], a2[ra - 1], b2[rb - 1]);
    let batch = broadcast_shapes(&a2[..ra - 2], &b2[..rb - 2]).ok()?;
    // The flat batch index of one operand for an output batch index (broadcast axes repeat).
    let offset = |dims: &[usize], mut idx: usize| {
        let (mut off, mut stride) = (0, 1);
        for (i, &out_dim) in batch.iter().enumerate().rev() {
            let pos = idx % out_dim;
            idx /= out_dim;
            let skip = batch.len() - dims.len();
            if i >= skip && dims[i - skip] != 1 {
                off += pos * stride;
            }
            if i >= skip {
                stride *= dims[i - skip];
            }
        }
        off
    };
    let count: usize = batch.iter().product();
    let mut out = Vec::with_capacity(count * m * n);
    for t in 0..count {
        let (oa, ob) = (offset(&a2[..ra - 2], t) * m * k, offset(&b2[..rb - 2], t) * k * n);
        for row in 0..m {
            for col in 0..n {
                let dot = (0..k).map(|j| (a[oa + row * k + j] - za(row)) * (b[ob + j * n + col] - zb(col))).sum();
                out.push(dot);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{parser, t};
    use super::*;

    #[test]
    fn gemm_with_transposes_and_macs() {
        let attrs = vec![
            ("transA".to_string(), Attr::Int(1)),
            ("transB".into(), Attr::Int(1)),
            ("alpha".into(), Attr::Float(0.5)),
        ];
        let op = Gemm::parse(&parser("Gemm", 13, &attrs)).unwrap();
        let (a, b, c) = (t(DType::F32, &[64, 3]), t(DType::F32, &[12, 64]), t(DType::F32, &[12]));
        let ins = [Some(&a), Some(&b), Some(&c)];
        let out = op.infer(&ins).unwrap();
        assert_eq!(out, vec![t(DType::F32, &[3, 12])]);
        assert_eq!(op.macs(&ins, &out), 3 * 12 * 64);
        // C of shape [3, 1] broadcasts; [12, 3] does not; K mismatch is a type error.
        assert!(op.infer(&[Some(&a), Some(&b), Some(&t(DType::F32, &[3, 1]))]).is_ok());
        assert!(matches!(op.infer(&[Some(&a), Some(&b), Some(&t(DType::F32, &[12, 3]))]), Err(OpError::Type(_))));
        let err = op.infer(&[Some(&a), Some(&t(DType::F32, &[12, 63])), None]).unwrap_err();
        assert!(matches!(err, OpError::Type(m) if m.contains("64x3") && m.contains("12x63")));
    }

    #[test]
    fn gemm_attributes_round_trip() {
        let attrs = vec![
            ("beta".to_string(), Attr::Float(0.0)),
            ("transA".into(), Attr::Int(0)),
            ("transB".into(), Attr::Int(1)),
        ];
        let op = Gemm::parse(&parser("Gemm", 13, &attrs)).unwrap();
        let written = op.attributes(13);
        assert_eq!(written, vec![("beta".to_string(), Attr::Float(0.0)), ("transB".into(), Attr::Int(1))]);
        assert_eq!(Gemm::parse(&parser("Gemm", 13, &written)).unwrap(), op);
        assert!(matches!(
            Gemm::parse(&parser("Gemm", 13, &vec![("transA".into(), Attr::Int(2))])),
            Err(OpError::BadAttr { .. })
        ));
    }

    /// Per-column b scales, zero points, ties rounded to even: `(a - 1) @ b` is
    /// `[[0, 2], [4, 6]]`, scaled by 1 and 0.25 per column, plus 10.
    #[test]
    fn qlinearmatmul_evaluates_as_the_reference() {
        let u8s = |shape: Vec<usize>, v: &[i64]| Tensor::from_i64(DType::U8, shape, v).unwrap();
        let f16s = |v: &[f64]| Tensor::from_f64(DType::F16, vec![v.len()], v).unwrap();
        let (a, b) = (u8s(vec![2, 2], &[1, 2, 3, 4]), u8s(vec![2, 2], &[2, 0, 0, 2]));
        let (a_s, a_zp, b_s, b_zp) = (f16s(&[0.5]), u8s(vec![], &[1]), f16s(&[1.0, 0.25]), u8s(vec![2], &[0, 0]));
        let (y_s, y_zp) = (f16s(&[0.5]), u8s(vec![], &[10]));
        let ins = [&a, &a_s, &a_zp, &b, &b_s, &b_zp, &y_s, &y_zp].map(Some);
        let y = QLinearMatMul.eval(&ins).unwrap().unwrap();
        assert_eq!(y, vec![u8s(vec![2, 2], &[10, 10, 14, 12])]);
        // A per-column scale of the wrong length is not evaluated.
        let bad = f16s(&[1.0, 1.0, 1.0]);
        assert!(QLinearMatMul.eval(&[&a, &a_s, &a_zp, &b, &bad, &b_zp, &y_s, &y_zp].map(Some)).is_none());
    }

    #[test]
    fn matmul_numpy_semantics() {
        let shape = |a: &[usize], b: &[usize]| matmul_shape(a, b).unwrap();
        assert_eq!(shape(&[3], &[3]), (vec![], 3));
        assert_eq!(shape(&[3], &[3, 4]), (vec![4], 12));
        assert_eq!(shape(&[2, 5, 3], &[3]), (vec![2, 5], 30));
        assert_eq!(shape(&[2, 1, 4, 3], &[5, 3, 6]), (vec![2, 5, 4, 6], 2 * 5 * 4 * 6 * 3));
        assert!(matches!(matmul_shape(&[2, 4, 3], &[3, 3, 6]), Err(OpError::Type(_))));
        assert!(matches!(matmul_shape(&[4, 3], &[4, 6]), Err(OpError::Type(m)) if m.contains("K = 3")));
        assert!(matmul_shape(&[], &[3]).is_err());
        let (a, b) = (t(DType::F32, &[8, 1, 16, 32]), t(DType::F32, &[4, 32, 10]));
        let out = MatMul.infer(&[Some(&a), Some(&b)]).unwrap();
        assert_eq!(out, vec![t(DType::F32, &[8, 4, 16, 10])]);
        assert_eq!(MatMul.macs(&[Some(&a), Some(&b)], &out), 8 * 4 * 16 * 10 * 32);
    }

    #[test]
    fn integer_and_quantized_output_types() {
        let (a, b) = (t(DType::U8, &[4, 8]), t(DType::I8, &[8, 2]));
        let out = MatMulInteger.infer(&[Some(&a), Some(&b), None, None]).unwrap();
        assert_eq!(out, vec![t(DType::I32, &[4, 2])]);
        assert!(MatMulInteger.infer(&[Some(&a), Some(&b), Some(&t(DType::I8, &[]))]).is_err());
        let (sa, za, zy) = (t(DType::F32, &[]), t(DType::U8, &[]), t(DType::I8, &[]));
        let zb = t(DType::I8, &[]);
        let ins = [Some(&a), Some(&sa), Some(&za), Some(&b), Some(&sa), Some(&zb), Some(&sa), Some(&zy)];
        let out = QLinearMatMul.infer(&ins).unwrap();
        assert_eq!(out, vec![t(DType::I8, &[4, 2])]);
        assert_eq!(QLinearMatMul.macs(&ins, &out), 4 * 2 * 8);
        assert!(matches!(QLinearMatMul.infer(&ins[..7]), Err(OpError::MissingInput(7))));
        assert!(matches!(QLinearMatMul::parse(&parser("QLinearMatMul", 9, &Vec::new())), Err(OpError::Unsupported(_))));
    }
}
