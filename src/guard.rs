//! Panics caught at stage boundaries: [`catch`] runs a closure and turns a panic inside it
//! (in tract or in gos-opt) into its message, without the default hook's report on stderr.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls are active on this thread (the hook stays quiet while > 0).
    static CATCHING: Cell<usize> = const { Cell::new(0) };
}

static INSTALL: Once = Once::new();

/// Wraps the current panic hook once: panics on a thread inside [`catch`] print nothing, every
/// other panic goes to the previous hook as before.
fn install_quiet_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// The message of a caught panic payload.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f`; a panic inside it (on this thread) is returned as its message instead of
/// unwinding further, and prints nothing.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get() - 1));
    result.map_err(|p| panic_message(p.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_messages_and_values_pass_through() {
        assert_eq!(catch(|| 7), Ok(7));
        let v: Vec<u8> = Vec::new();
        let i = v.len() + 3;
        assert_eq!(catch(|| v[i]).unwrap_err(), "index out of bounds: the len is 0 but the index is 3");
        assert_eq!(catch(|| panic!("{} {}", "formatted", 1)).unwrap_err(), "formatted 1");
        // Nested: the inner catch takes the panic, the outer one sees a value.
        assert_eq!(catch(|| catch(|| panic!("inner")).unwrap_err()), Ok("inner".to_string()));
        CATCHING.with(|c| assert_eq!(c.get(), 0));
    }
}
