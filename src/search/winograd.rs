//! The price of the Winograd F(2×2, 3×3) form (`rules/winograd.rules`, [`crate::winograd`]) as
//! the Rust back end runs it: the input and output transforms are additions only (their Conv
//! and ConvTranspose weights are the constant 0/±1 matrices, never multiplied), and the
//! transposes between them and the 16 products are not run at all (the input transform writes
//! its tiles in the products' layout and the output transform reads theirs). The products
//! themselves are an ordinary batched MatMul, priced as one; the memory traffic of the
//! transformed tiles `V` and products `M` is counted where they are written and read.

use crate::ir::{kernel_op, Ir, IrData, IrGraph};
use crate::ops::Op;
use crate::tensor::DType;
use crate::winograd::{input_work, output_work, FILTER, INPUT_WEIGHT, OUTPUT_WEIGHT};
use crate::work::Work;
use egg::Id;

/// Whether class `id` holds a call of the constant function `name`.
fn holds_call(egraph: &IrGraph, id: Id, name: &str) -> bool {
    egraph[id].nodes.iter().any(|n| matches!(n, Ir::Fun(f, _) if &*f.0 == name))
}

/// Whether `enode` is a kernel of op `pick` whose weight (child 2, after the payload and the
/// input) is a call of `name`.
fn kernel_with_weight(egraph: &IrGraph, enode: &Ir, pick: fn(&Op) -> bool, name: &str) -> bool {
    let Ir::Kernel(_, ch) = enode else { return false };
    kernel_op(egraph, enode).is_some_and(pick) && ch.get(2).is_some_and(|&w| holds_call(egraph, w, name))
}

fn is_conv(o: &Op) -> bool {
    matches!(o, Op::Conv(_))
}

fn is_conv_transpose(o: &Op) -> bool {
    matches!(o, Op::ConvTranspose(_))
}

fn is_matmul(o: &Op) -> bool {
    matches!(o, Op::MatMul(_))
}

/// Whether class `id` holds a node satisfying `f`.
fn holds(egraph: &IrGraph, id: Id, f: impl Fn(&Ir) -> bool) -> bool {
    egraph[id].nodes.iter().any(f)
}

/// The work of `enode` when it is a piece of the Winograd form, `None` otherwise.
pub(super) fn winograd_work(enode: &Ir, egraph: &IrGraph, data: &IrData) -> Option<Work> {
    let out = data.ty()?;
    let ty = |i: Id| egraph[i].data.ty();
    match enode {
        Ir::Kernel(_, ch) if kernel_with_weight(egraph, enode, is_conv, INPUT_WEIGHT) => {
            Some(input_work(ty(*ch.get(1)?)?, out))
        }
        Ir::Kernel(_, ch) if kernel_with_weight(egraph, enode, is_conv_transpose, OUTPUT_WEIGHT) => {
            Some(output_work(ty(*ch.get(1)?)?, out, ch.get(3).and_then(|&b| ty(b))))
        }
        Ir::Transpose([_, x]) if is_layout_of_form(egraph, *x) => Some(Work::none()),
        _ => None,
    }
}

/// The transformed filter when `enode` is the form's 16 products (a MatMul of the `@wino_filter`
/// constant), `None` otherwise.
pub(super) fn products_filter(enode: &Ir, egraph: &IrGraph) -> Option<Id> {
    let Ir::Kernel(_, ch) = enode else { return None };
    let u = *ch.get(1)?;
    (kernel_op(egraph, enode).is_some_and(is_matmul) && holds_call(egraph, u, FILTER)).then_some(u)
}

/// Whether class `x` is a reshape of the input transform, or the products: the two tensors
/// the form transposes, which the back end never transposes.
fn is_layout_of_form(egraph: &IrGraph, x: Id) -> bool {
    let input_transform = |n: &Ir| kernel_with_weight(egraph, n, is_conv, INPUT_WEIGHT);
    let reshaped_input = |n: &Ir| matches!(n, Ir::Reshape([_, v]) if holds(egraph, *v, input_transform));
    let products = |n: &Ir| products_filter(n, egraph).is_some();
    let f32_only = egraph[x].data.ty().is_some_and(|t| t.dtype == DType::F32);
    f32_only && (holds(egraph, x, reshaped_input) || holds(egraph, x, products))
}
