//! Ctrl-C during a run: the first SIGINT ends the load early so the run
//! still drains, summarises and writes its files; a second one kills the
//! process as usual.
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
    // SAFETY: signal() is async-signal-safe; restoring the default action
    // makes a second Ctrl-C terminate the process.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// Installs the SIGINT handler. Call once, before the load starts.
pub fn install() {
    // SAFETY: the handler only stores to an atomic and calls signal(),
    // both async-signal-safe.
    let previous = unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as *const () as libc::sighandler_t,
        )
    };
    if previous == libc::SIG_ERR {
        tracing::warn!(
            "could not install the Ctrl-C handler; Ctrl-C will end the run without a summary"
        );
    }
}

/// Whether Ctrl-C was pressed since [`install`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}
