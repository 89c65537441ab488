//! Panics while reading untrusted bytes become errors.
//!
//! Arrow's IPC readers panic on some malformed inputs (an unknown type
//! width, an invalid unit...). [`guarded`] runs such code under
//! `catch_unwind` and returns the panic's message as an error; while it
//! runs, the hook from [`install_panic_hook`] stays silent, so the user sees
//! one clear error instead of a panic message and a backtrace.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f`; a panic inside it is returned as `Err(message)`.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    GUARDED.with(|g| g.set(g.get() + 1));
    let out = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get().saturating_sub(1)));
    out.map_err(|payload| {
        if let Some(s) = payload.downcast_ref::<&str>() {
            s.to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic without a message".to_string()
        }
    })
}

/// Installs (once per process) a panic hook that stays silent for panics
/// inside [`guarded`] and defers to the previous hook otherwise. The CLI
/// calls it at start-up; a library user may too.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(|g| g.get()) == 0 {
                previous(info);
            }
        }));
    });
}
