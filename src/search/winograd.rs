//! The price of the Winograd F(2×2, 3×3) and F(4×4, 3×3) forms (`rules/winograd.rules`,
//! [`crate::winograd`]) as the Rust back end runs them: the input and output transforms are
//! additions (and for F4 multiplies by small constants: [`crate::winograd::input_work`]; their
//! Conv and ConvTranspose weights are the constant matrices, never multiplied as such), and the
//! transposes between them and the products are not run at all (the input transform writes
//! its tiles in the products' layout and the output transform reads theirs). The products
//! themselves are an ordinary batched MatMul, priced as one; the memory traffic of the
//! transformed tiles `V` and products `M` is counted where they are written and read.

use crate::ir::{kernel_op, Ir, IrData, IrGraph};
use crate::ops::Op;
use crate::tensor::DType;
use crate::winograd::{input_work, output_work, Size};
use crate::work::Work;
use egg::Id;

/// Whether class `id` holds a call of the constant function `name`.
fn holds_call(egraph: &IrGraph, id: Id, name: &str) -> bool {
    egraph[id].nodes.iter().any(|n| matches!(n, Ir::Fun(f, _) if &*f.0 == name))
}

/// The size whose weight function `name_of` gives the call that `enode`'s weight (child 2, after
/// the payload and the input) holds, when `enode` is a kernel of op `pick`.
fn kernel_with_weight(
    egraph: &IrGraph,
    enode: &Ir,
    pick: fn(&Op) -> bool,
    name_of: fn(Size) -> &'static str,
) -> Option<Size> {
    let Ir::Kernel(_, ch) = enode else { return None };
    if !kernel_op(egraph, enode).is_some_and(pick) {
        return None;
    }
    let w = *ch.get(2)?;
    Size::ALL.into_iter().find(|&s| holds_call(egraph, w, name_of(s)))
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
    if let (Ir::Kernel(_, ch), Some(size)) = (enode, kernel_with_weight(egraph, enode, is_conv, Size::input_weight_fn))
    {
        return Some(input_work(size, ty(*ch.get(1)?)?, out));
    }
    if let (Ir::Kernel(_, ch), Some(size)) =
        (enode, kernel_with_weight(egraph, enode, is_conv_transpose, Size::output_weight_fn))
    {
        return Some(output_work(size, ty(*ch.get(1)?)?, out, ch.get(3).and_then(|&b| ty(b))));
    }
    match enode {
        Ir::Transpose([_, x]) if is_layout_of_form(egraph, *x) => Some(Work::none()),
        _ => None,
    }
}

/// The transformed filter when `enode` is a form's products (a MatMul of the `@wino_filter` or
/// `@wino4_filter` constant), `None` otherwise.
pub(super) fn products_filter(enode: &Ir, egraph: &IrGraph) -> Option<Id> {
    let Ir::Kernel(_, ch) = enode else { return None };
    let u = *ch.get(1)?;
    let filter = Size::ALL.into_iter().any(|s| holds_call(egraph, u, s.filter_fn()));
    (kernel_op(egraph, enode).is_some_and(is_matmul) && filter).then_some(u)
}

/// Whether class `x` is a reshape of the input transform, or the products: the two tensors
/// the form transposes, which the back end never transposes.
fn is_layout_of_form(egraph: &IrGraph, x: Id) -> bool {
    let input_transform = |n: &Ir| kernel_with_weight(egraph, n, is_conv, Size::input_weight_fn).is_some();
    let reshaped_input = |n: &Ir| matches!(n, Ir::Reshape([_, v]) if holds(egraph, *v, input_transform));
    let products = |n: &Ir| products_filter(n, egraph).is_some();
    let f32_only = egraph[x].data.ty().is_some_and(|t| t.dtype == DType::F32);
    f32_only && (holds(egraph, x, reshaped_input) || holds(egraph, x, products))
}
