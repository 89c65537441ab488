//! Ctrl-C and SIGTERM: the first one stops the run gracefully (running
//! streams stop at their next frame, committed checkpoints stay, the run is
//! recorded as interrupted); if the run has not ended [`GRACE`] later, or a
//! second signal arrives, the process exits at once. Either way the state
//! stays consistent: a checkpoint is committed atomically or not at all.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use rapidbyte_host::pipeline::Interrupt;

/// How long a run may take to stop after the first signal.
pub const GRACE: Duration = Duration::from_secs(10);

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: an atomic swap, and _exit on the
    // second signal.
    if RECEIVED.swap(signal, Ordering::SeqCst) != 0 {
        unsafe { libc::_exit(128 + signal) };
    }
}

/// The exit code for a run stopped by `signal` (130 for SIGINT, 143 for
/// SIGTERM).
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}

/// Installs the handlers and returns the [`Interrupt`] they trigger.
pub fn install() -> Interrupt {
    let interrupt = Interrupt::new();
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only touches an atomic and calls _exit.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    let watched = interrupt.clone();
    let _ = std::thread::Builder::new()
        .name("rapidbyte-signals".into())
        .spawn(move || loop {
            let signal = RECEIVED.load(Ordering::SeqCst);
            if signal != 0 {
                watched.trigger(signal);
                eprintln!(
                    "{}: stopping after the last committed checkpoint (press Ctrl-C again to exit at once)",
                    watched.reason()
                );
                std::thread::sleep(GRACE);
                eprintln!("the run did not stop within {}s; exiting", GRACE.as_secs());
                std::process::exit(i32::from(exit_code(signal)));
            }
            std::thread::sleep(Duration::from_millis(20));
        });
    interrupt
}
