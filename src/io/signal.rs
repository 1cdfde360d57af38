//! SIGINT / SIGTERM set a flag the engine polls, so a scan stops cleanly and still prints
//! its summary. SA_RESETHAND restores the default action, so a second Ctrl-C kills.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Install SIGINT/SIGTERM handlers that set a flag the engine polls; returns that flag.
pub fn interrupt_flag() -> &'static AtomicBool {
    INSTALL.call_once(|| {
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESETHAND | SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
            // A failure leaves the default action (terminate), which is acceptable.
            let _ = unsafe { sigaction(sig, &action) };
        }
    });
    &INTERRUPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigterm_sets_the_shared_flag() {
        let a = interrupt_flag();
        assert!(std::ptr::eq(a, interrupt_flag()));
        // The handler is installed, so this sets the flag instead of killing the test.
        nix::sys::signal::raise(Signal::SIGTERM).unwrap();
        assert!(a.load(Ordering::SeqCst));
    }
}
