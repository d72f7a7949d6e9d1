//! Native UC_HOOK_BLOCK callback of scripts/cortexm: counts the executions of each translated
//! block and how often control left it by a jump, without a Python call per block (a Python
//! hook made soft-float runs on the Cortex-M0+ take tens of minutes). Built by build.py as a
//! cdylib; emulate.py registers `counter_hook` with unicorn through ctypes.
use std::collections::HashMap;
use std::ffi::c_void;

pub struct Counter {
    /// (address, size) -> [executions, exits by a jump]
    blocks: HashMap<(u64, u32), [u64; 2]>,
    last: Option<(u64, u32)>,
    fallthrough: u64,
}

impl Counter {
    fn exit_by_jump(&mut self) {
        if let Some(key) = self.last {
            self.blocks.entry(key).or_default()[1] += 1;
        }
    }
}

/// A counter for a run that starts at `entry`.
#[no_mangle]
pub extern "C" fn counter_new(entry: u64) -> *mut Counter {
    Box::into_raw(Box::new(Counter { blocks: HashMap::new(), last: None, fallthrough: entry }))
}

/// # Safety
/// `counter` comes from `counter_new` and is not freed.
#[no_mangle]
pub unsafe extern "C" fn counter_hook(_uc: *mut c_void, addr: u64, size: u32, counter: *mut Counter) {
    let c = unsafe { &mut *counter };
    if addr != c.fallthrough {
        c.exit_by_jump();
    }
    c.blocks.entry((addr, size)).or_default()[0] += 1;
    c.last = Some((addr, size));
    c.fallthrough = addr + u64::from(size);
}

/// Records the final return (a jump to the stop address); returns the number of blocks.
///
/// # Safety
/// As `counter_hook`.
#[no_mangle]
pub unsafe extern "C" fn counter_finish(counter: *mut Counter) -> usize {
    let c = unsafe { &mut *counter };
    c.exit_by_jump();
    c.last = None;
    c.blocks.len()
}

/// Writes address, size, executions, exits by a jump (4 u64) per block into `out`.
///
/// # Safety
/// `out` holds 4 u64 per block (`counter_finish`'s answer).
#[no_mangle]
pub unsafe extern "C" fn counter_dump(counter: *const Counter, out: *mut u64) {
    let c = unsafe { &*counter };
    for (k, ((addr, size), [n, taken])) in c.blocks.iter().enumerate() {
        let row = [*addr, u64::from(*size), *n, *taken];
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), out.add(4 * k), 4) };
    }
}

/// # Safety
/// `counter` comes from `counter_new`; it is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn counter_free(counter: *mut Counter) {
    drop(unsafe { Box::from_raw(counter) });
}
