//! SIGHUP becomes a flag: the agent reloads its config between intervals
//! (the shared `signals` module handles SIGINT/SIGTERM).

use std::sync::atomic::{AtomicBool, Ordering};

static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_sig: libc::c_int) {
    RELOAD.store(true, Ordering::SeqCst);
}

pub fn install() {
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe; `signal` is given a valid function pointer.
    unsafe {
        libc::signal(libc::SIGHUP, on_hup as *const () as libc::sighandler_t);
    }
}

/// True when a reload was asked for and not yet taken.
pub fn pending() -> bool {
    RELOAD.load(Ordering::SeqCst)
}

/// Takes the request (true once per SIGHUP burst).
pub fn take() -> bool {
    RELOAD.swap(false, Ordering::SeqCst)
}
