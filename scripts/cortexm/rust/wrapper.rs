// Bare-metal wrapper around a gos-opt emitted model.rs (Cortex-M, no_std).
// scripts/cortexm/build.py copies this file next to the emitted model.rs and builds it with
// rustc for the core's target; the harness calls `entry` in the emulator.
#![no_std]
#![no_main]

#[path = "model.rs"]
mod model;

/// # Safety
/// The pointers hold INPUT_LEN, OUTPUT_LEN and ARENA_LEN f32 values.
#[no_mangle]
pub unsafe extern "C" fn entry(inp: *const f32, out: *mut f32, arena: *mut f32) {
    let i = core::slice::from_raw_parts(inp, model::INPUT_LEN);
    let o = core::slice::from_raw_parts_mut(out, model::OUTPUT_LEN);
    let a = core::slice::from_raw_parts_mut(arena, model::ARENA_LEN);
    model::run(i, o, a);
}

/// Lengths for the harness: [INPUT_LEN, OUTPUT_LEN, ARENA_LEN].
#[no_mangle]
#[used]
pub static GOS_LENS: [u32; 3] = [model::INPUT_LEN as u32, model::OUTPUT_LEN as u32, model::ARENA_LEN as u32];

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
