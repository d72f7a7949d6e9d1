//! Binding the variables under primitive nodes: each position takes what the primitive needs
//! (a tensor shaped like its sibling, a literal, an axes or window payload that fits the tensor
//! beside it), drawn at random.

use super::{inverse, Binding, Miss, State};
use crate::ir::{Ir, IrData, Payload, SliceSpec, WindowSpec};
use crate::ops::Op;
use crate::rules::verify::gen::{factor, permutation, Gen};
use crate::tensor::{DType, TensorType};
use egg::{ENodeOrVar, Id, Language, Var};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::RngExt;
use std::collections::HashMap;

impl State<'_> {
    pub(super) fn bind_children(
        &mut self,
        node: &Ir,
        nodes: &[ENodeOrVar<Ir>],
        data: &mut [Option<IrData>],
    ) -> Result<(), Miss> {
        let ty = |data: &[Option<IrData>], c: Id| data[usize::from(c)].as_ref().and_then(|d| d.ty().cloned());
        match node {
            Ir::Kernel(sym, ch) => self.bind_kernel(sym.as_str(), ch, nodes, data)?,
            Ir::Add([a, b])
            | Ir::Sub([a, b])
            | Ir::Mul([a, b])
            | Ir::Div([a, b])
            | Ir::Pow([a, b])
            | Ir::Max([a, b])
            | Ir::Min([a, b]) => {
                let gen = if matches!(node, Ir::Div(_)) { Gen::NonZero } else { Gen::Default };
                for (x, other) in [(*a, *b), (*b, *a)] {
                    if let Some(v) = self.free(nodes, x) {
                        let r = ty(data, other);
                        let g = if x == *b { gen.clone() } else { Gen::Default };
                        self.tensor_var(v, r.as_ref(), r.is_some(), true, g);
                        self.refresh(nodes, data)?;
                    }
                }
            }
            Ir::Clip([x, lo, hi]) => {
                if let Some(v) = self.free(nodes, *x) {
                    self.tensor_var(v, None, false, false, Gen::Default);
                }
                let lo_v = self.rng.random_range(-2.0..1.0f32) as f64;
                let bounds = [(*lo, lo_v), (*hi, lo_v + self.rng.random_range(0.0..2.0f32) as f64)];
                for (c, val) in bounds {
                    if let Some(v) = self.free(nodes, c) {
                        self.lit_var(v, val);
                    }
                }
            }
            Ir::Shl([x, k]) | Ir::Shr([x, k]) => {
                if let Some(v) = self.free(nodes, *x) {
                    self.tensor_var(v, None, false, false, Gen::Default);
                }
                if let Some(v) = self.free(nodes, *k) {
                    let k = self.rng.random_range(0..=4) as f64;
                    self.lit_var(v, k);
                }
            }
            Ir::Cast([t, x]) => {
                if let Some(v) = self.free(nodes, *x) {
                    self.tensor_var(v, None, false, false, Gen::Range(-100.0, 120.0));
                }
                if let Some(v) = self.free(nodes, *t) {
                    let to = *[DType::F32, DType::I32, DType::I8, DType::U8, DType::F16, DType::F64]
                        .choose(self.rng)
                        .expect("non-empty");
                    self.bind(v, Binding::Payload(Payload::DType(to)));
                }
            }
            Ir::Quantize([ax, x, s, z]) | Ir::Dequantize([ax, x, s, z]) => {
                let quantize = matches!(node, Ir::Quantize(_));
                if let Some(v) = self.free(nodes, *x) {
                    let dt = if quantize {
                        DType::F32
                    } else {
                        *[DType::I8, DType::U8].choose(self.rng).expect("non-empty")
                    };
                    let shape = self.shape.clone();
                    let t = self.new_tensor(&TensorType::new(dt, shape), &Gen::Range(-4.0, 4.0), false, false);
                    self.bind(v, t);
                }
                self.refresh(nodes, data)?;
                let xt = ty(data, *x).ok_or_else(|| Miss::Error("quantized operand is not a tensor".into()))?;
                let per_axis = !xt.shape.is_empty() && self.free(nodes, *s).is_some() && self.coin(0.4);
                let axis = if per_axis { self.rng.random_range(0..xt.shape.len()) } else { 0 };
                if let Some(v) = self.free(nodes, *ax) {
                    self.bind(v, Binding::Payload(Payload::Ints(if per_axis { vec![axis as i64] } else { vec![] })));
                }
                let shape = if per_axis { vec![xt.shape[axis]] } else { vec![] };
                if let Some(v) = self.free(nodes, *s) {
                    let b = self.new_tensor(
                        &TensorType::new(DType::F32, shape.clone()),
                        &Gen::Range(0.01, 0.5),
                        true,
                        false,
                    );
                    self.bind(v, b);
                }
                if let Some(v) = self.free(nodes, *z) {
                    let dt =
                        if quantize { *[DType::I8, DType::U8].choose(self.rng).expect("non-empty") } else { xt.dtype };
                    let gen = if dt == DType::U8 { Gen::Ints(100, 150) } else { Gen::Ints(-20, 20) };
                    let b = self.new_tensor(&TensorType::new(dt, shape), &gen, true, false);
                    self.bind(v, b);
                }
            }
            Ir::RSum([ax, x]) | Ir::RMax([ax, x]) | Ir::RMean([ax, x]) => {
                if let Some(v) = self.free(nodes, *x) {
                    self.tensor_var(v, None, false, false, Gen::Default);
                }
                self.refresh(nodes, data)?;
                if let (Some(v), Some(t)) = (self.free(nodes, *ax), ty(data, *x)) {
                    let axes = (0..t.shape.len() as i64).filter(|_| self.rng.random_bool(0.5)).collect();
                    self.bind(v, Binding::Payload(Payload::Ints(axes)));
                }
            }
            Ir::Dot([e, a, b]) => self.bind_dot(*e, *a, *b, nodes, data)?,
            Ir::Window([w, x, p]) => {
                let spec = match &data[usize::from(*w)].as_ref().and_then(|d| d.payload.clone()) {
                    Some(Payload::Window(s)) => Some(s.clone()),
                    _ => None,
                };
                if let Some(v) = self.free(nodes, *x) {
                    let s = spec.as_ref().map_or_else(|| self.rng.random_range(1..=2), |s| s.kernel.len());
                    let mut shape = vec![self.rng.random_range(1..=2), self.rng.random_range(1..=3)];
                    shape.extend((0..s).map(|i| {
                        let need = spec.as_ref().map_or(1, |s| {
                            (s.dilations[i] * (s.kernel[i] - 1) + 1)
                                .saturating_sub(s.pads[i] + s.pads[i + s.kernel.len()])
                        });
                        need.max(1) + self.rng.random_range(0..5)
                    }));
                    let t = TensorType::new(self.dtype, shape);
                    self.tensor_var(v, Some(&t), false, false, Gen::Default);
                }
                self.refresh(nodes, data)?;
                if let (Some(v), Some(t)) = (self.free(nodes, *w), ty(data, *x)) {
                    let spec = self.random_window(&t).ok_or_else(|| Miss::Reject("no window fits".into()))?;
                    self.bind(v, Binding::Payload(Payload::Window(spec)));
                }
                if let Some(v) = self.free(nodes, *p) {
                    let val = *[0.0, -1.0, f64::NEG_INFINITY].choose(self.rng).expect("non-empty");
                    self.lit_var(v, val);
                }
            }
            Ir::Reshape([s, x]) | Ir::Transpose([s, x]) | Ir::Broadcast([s, x]) | Ir::Slice([s, x]) => {
                if let Some(v) = self.free(nodes, *x) {
                    self.tensor_var(v, None, false, false, Gen::Default);
                }
                self.refresh(nodes, data)?;
                if let (Some(v), Some(t)) = (self.free(nodes, *s), ty(data, *x)) {
                    let p = self.layout_payload(node, v, &t);
                    self.bind(v, Binding::Payload(p));
                }
            }
            Ir::Concat(ch) => {
                let (axis_c, xs) = ch.split_first().ok_or_else(|| Miss::Error("concat without axis".into()))?;
                let first = xs.iter().find_map(|&c| ty(data, c));
                let rank = first.as_ref().map_or(self.shape.len(), |t| t.shape.len()).max(1);
                let axis = match &data[usize::from(*axis_c)].as_ref().and_then(|d| d.payload.clone()) {
                    Some(Payload::Ints(a)) if !a.is_empty() => a[0] as usize,
                    _ => self.rng.random_range(0..rank),
                };
                if let Some(v) = self.free(nodes, *axis_c) {
                    self.bind(v, Binding::Payload(Payload::Ints(vec![axis as i64])));
                }
                let mut template = first.unwrap_or_else(|| {
                    TensorType::new(self.dtype, if self.shape.is_empty() { vec![2] } else { self.shape.clone() })
                });
                for &c in xs {
                    if let Some(v) = self.free(nodes, c) {
                        if axis < template.shape.len() {
                            template.shape[axis] = self.rng.random_range(1..=3);
                        }
                        self.tensor_var(v, Some(&template), false, false, Gen::Default);
                    }
                }
            }
            Ir::Pad([p, x, val]) => {
                if let Some(v) = self.free(nodes, *x) {
                    self.tensor_var(v, None, false, false, Gen::Default);
                }
                self.refresh(nodes, data)?;
                if let (Some(v), Some(t)) = (self.free(nodes, *p), ty(data, *x)) {
                    let pads = (0..2 * t.shape.len()).map(|_| self.rng.random_range(0..=2)).collect();
                    self.bind(v, Binding::Payload(Payload::Ints(pads)));
                }
                if let Some(v) = self.free(nodes, *val) {
                    let f = self.rng.random_range(-2..=2) as f64;
                    self.lit_var(v, f);
                }
            }
            Ir::Get([i, k]) => {
                if let Some(v) = self.free(nodes, *i) {
                    let n = data[usize::from(*k)].as_ref().map_or(1, |d| d.types.len()).max(1);
                    let idx = self.rng.random_range(0..n) as f64;
                    self.lit_var(v, idx);
                }
            }
            _ => {
                // Unary primitives take a tensor; other nodes must not have free variables.
                let ch = node.children();
                let unary = matches!(
                    node,
                    Ir::Neg(_)
                        | Ir::Abs(_)
                        | Ir::Exp(_)
                        | Ir::Log(_)
                        | Ir::Sqrt(_)
                        | Ir::Rsqrt(_)
                        | Ir::Erf(_)
                        | Ir::Tanh(_)
                        | Ir::Sigmoid(_)
                        | Ir::Round(_)
                );
                for &c in ch {
                    if let Some(v) = self.free(nodes, c) {
                        if !unary {
                            return Err(Miss::Error(format!("cannot choose a value for {v} under '{node}'")));
                        }
                        self.tensor_var(v, None, false, false, Gen::Default);
                    }
                }
            }
        }
        self.refresh(nodes, data)
    }

    /// A payload for the first child of reshape, transpose, broadcast or slice of `x`.
    fn layout_payload(&mut self, node: &Ir, v: Var, x: &TensorType) -> Payload {
        let r = x.shape.len();
        match node {
            Ir::Reshape(_) => {
                let rank = self.rng.random_range(1..=4);
                Payload::Ints(factor(self.rng, x.numel(), rank).iter().map(|&d| d as i64).collect())
            }
            Ir::Transpose(_) => {
                let partner = self.hint(v).perm_inverse.and_then(|p| match self.bound(p) {
                    Some(Binding::Payload(Payload::Ints(q))) => Some(inverse(q)),
                    Some(Binding::Payload(Payload::Op(o))) => match o.op() {
                        Op::Transpose(t) => {
                            t.perm_for(r).ok().map(|q| inverse(&q.iter().map(|&v| v as i64).collect::<Vec<_>>()))
                        }
                        _ => None,
                    },
                    _ => None,
                });
                Payload::Ints(partner.unwrap_or_else(|| permutation(self.rng, r)))
            }
            Ir::Broadcast(_) => {
                let mut shape: Vec<i64> =
                    x.shape.iter().map(|&d| if d == 1 && self.rng.random_bool(0.5) { 3 } else { d as i64 }).collect();
                if self.rng.random_bool(0.4) {
                    shape.insert(0, 2);
                }
                Payload::Ints(shape)
            }
            _ => {
                let mut spec = SliceSpec { axes: Vec::new(), begins: Vec::new(), ends: Vec::new(), steps: Vec::new() };
                let axes: Vec<usize> = (0..r).filter(|_| self.rng.random_bool(0.6)).collect();
                for a in axes {
                    let d = x.shape[a] as i64;
                    spec.axes.push(a);
                    spec.begins.push(self.rng.random_range(-d - 1..=d + 1));
                    spec.ends.push(self.rng.random_range(-d - 2..=d + 1));
                    spec.steps.push(*[1, 2, -1, -2].choose(self.rng).expect("non-empty"));
                }
                Payload::Slice(spec)
            }
        }
    }

    /// A window geometry that fits `x` (N, C, spatial...).
    fn random_window(&mut self, x: &TensorType) -> Option<WindowSpec> {
        let s = x.shape.len().checked_sub(2).filter(|&s| s > 0)?;
        let mut w = WindowSpec { kernel: vec![], strides: vec![], pads: vec![0; 2 * s], dilations: vec![] };
        for i in 0..s {
            w.kernel.push(self.rng.random_range(1..=3));
            w.strides.push(self.rng.random_range(1..=2));
            w.dilations.push(self.rng.random_range(1..=2));
            w.pads[i] = self.rng.random_range(0..=1);
            w.pads[s + i] = self.rng.random_range(0..=1);
            let extent = w.dilations[i] * (w.kernel[i] - 1) + 1;
            if extent > x.shape[2 + i] + w.pads[i] + w.pads[s + i] {
                w.dilations[i] = 1;
                w.kernel[i] = 1;
            }
        }
        Some(w)
    }

    fn bind_dot(
        &mut self,
        e: Id,
        a: Id,
        b: Id,
        nodes: &[ENodeOrVar<Ir>],
        data: &mut [Option<IrData>],
    ) -> Result<(), Miss> {
        let ty = |data: &[Option<IrData>], c: Id| data[usize::from(c)].as_ref().and_then(|d| d.ty().cloned());
        let spec = match data[usize::from(e)].as_ref().and_then(|d| d.payload.clone()) {
            Some(Payload::Einsum(s)) => s,
            _ if self.free(nodes, a).is_some() && self.free(nodes, b).is_some() && self.coin(0.5) => {
                // numpy matmul's contraction, which kernels recompose from.
                let ra = self.rng.random_range(1..=3);
                let rb = self.rng.random_range(if ra == 1 { 2 } else { 1 }..=3);
                let k = self.rng.random_range(1..=4);
                let batch = self.rng.random_range(1..=3);
                let shape = |r: usize, rng: &mut StdRng, first: bool| -> Vec<usize> {
                    match r {
                        1 => vec![k],
                        2 if first => vec![rng.random_range(1..=4), k],
                        2 => vec![k, rng.random_range(1..=4)],
                        _ if first => vec![batch, rng.random_range(1..=4), k],
                        _ => vec![batch, k, rng.random_range(1..=4)],
                    }
                };
                let (sa, sb) = (shape(ra, self.rng, true), shape(rb, self.rng, false));
                let spec = crate::rules::functions::matmul_spec(&sa, &sb).map_err(Miss::Reject)?;
                if let Some(v) = self.free(nodes, e) {
                    self.bind(v, Binding::Payload(Payload::Einsum(spec.clone())));
                }
                spec
            }
            _ => {
                // A random two-operand contraction over letters of a's and b's (given) ranks.
                let ra = ty(data, a).map_or_else(|| self.rng.random_range(1..=3), |t| t.shape.len());
                let rb = ty(data, b).map_or_else(|| self.rng.random_range(1..=3), |t| t.shape.len());
                let la: Vec<char> = "abcd".chars().take(ra).collect();
                let lb: Vec<char> = (0..rb)
                    .map(|i| {
                        if self.rng.random_bool(0.6) {
                            *la.choose(self.rng).unwrap_or(&'p')
                        } else {
                            "pqrs".as_bytes()[i] as char
                        }
                    })
                    .collect();
                let mut all: Vec<char> = la.iter().chain(&lb).copied().collect();
                all.sort();
                all.dedup();
                let out: String = all.into_iter().filter(|_| self.rng.random_bool(0.5)).collect();
                let spec = format!("{},{}->{out}", la.iter().collect::<String>(), lb.iter().collect::<String>());
                if let Some(v) = self.free(nodes, e) {
                    self.bind(v, Binding::Payload(Payload::Einsum(spec.clone())));
                }
                spec
            }
        };
        let (ins, _) = spec.split_once("->").ok_or_else(|| Miss::Error(format!("bad einsum {spec}")))?;
        let (sa, sb) = ins.split_once(',').ok_or_else(|| Miss::Error(format!("bad einsum {spec}")))?;
        let mut size: HashMap<char, usize> = HashMap::new();
        for (letters, c) in [(sa, a), (sb, b)] {
            if let Some(t) = ty(data, c) {
                for (l, &d) in letters.chars().zip(&t.shape) {
                    size.insert(l, d);
                }
            }
        }
        let dtype = ty(data, a).or_else(|| ty(data, b)).map_or(self.dtype, |t| t.dtype);
        for (letters, c) in [(sa, a), (sb, b)] {
            if let Some(v) = self.free(nodes, c) {
                let shape: Vec<usize> =
                    letters.chars().map(|l| *size.entry(l).or_insert_with(|| self.rng.random_range(1..=4))).collect();
                let t = TensorType::new(dtype, shape);
                self.tensor_var(v, Some(&t), false, false, Gen::Default);
            }
        }
        Ok(())
    }
}
