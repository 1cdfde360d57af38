//! SIGINT, SIGTERM and SIGHUP set a flag the engine polls, so a scan stops cleanly, prints
//! its summary and puts the host back as it was. A second one of any of them (Ctrl-C
//! twice) first puts the host back from the handler itself (`undo`: prepared writes only)
//! and then ends the process by that signal, as an impatient user expects.
//!
//! `watch` runs for good, so there SIGHUP means "reload the targets file" and SIGUSR1 "print
//! a snapshot": each sets its own flag, which the watch driver polls ([`watch_flags`]).

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, sigaction,
};

use super::undo;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// How many of the signals have arrived.
static RECEIVED: AtomicU32 = AtomicU32::new(0);
static INSTALL: Once = Once::new();
static RELOAD: AtomicBool = AtomicBool::new(false);
static SNAPSHOT: AtomicBool = AtomicBool::new(false);
static INSTALL_WATCH: Once = Once::new();

const STOPPING: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    // Atomics, pwrite, unlink, sigaction and raise only: all async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
    if RECEIVED.fetch_add(1, Ordering::SeqCst) == 0 {
        return;
    }
    undo::run_from_handler();
    // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask; both calls are
    // async-signal-safe. The raised signal stays blocked until this handler returns, then
    // its default action ends the process, so the parent sees it die of the signal.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
        libc::raise(sig);
    }
}

/// Install the handlers (once; before anything on the host is changed) and return the flag
/// the engine polls.
pub fn interrupt_flag() -> &'static AtomicBool {
    INSTALL.call_once(|| {
        // While one handler runs, the others wait, so a second signal on the same thread
        // finds the first one's work done.
        let mut mask = SigSet::empty();
        for sig in STOPPING {
            mask.add(sig);
        }
        let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, mask);
        for sig in STOPPING {
            // SAFETY: the handler only does async-signal-safe work (see on_signal).
            // A failure leaves the default action (terminate), as before this existed.
            let _ = unsafe { sigaction(sig, &action) };
        }
    });
    &INTERRUPTED
}

/// SIGINT, SIGTERM and SIGHUP blocked in the calling thread until dropped; threads started
/// meanwhile keep them blocked for good, so the signals go to the threads that do not block
/// them (the one that writes the results: a second signal, which ends the process from its
/// handler, then runs between two of its writes, never inside one).
pub struct StopSignalsBlocked(Option<SigSet>);

pub fn block_stop_signals() -> StopSignalsBlocked {
    let mut mask = SigSet::empty();
    for sig in STOPPING {
        mask.add(sig);
    }
    let mut old = SigSet::empty();
    match pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old)) {
        Ok(()) => StopSignalsBlocked(Some(old)),
        Err(_) => StopSignalsBlocked(None),
    }
}

impl Drop for StopSignalsBlocked {
    fn drop(&mut self) {
        if let Some(old) = self.0.take() {
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        }
    }
}

extern "C" fn on_watch_signal(sig: libc::c_int) {
    // Atomics only: async-signal-safe.
    if sig == libc::SIGHUP {
        RELOAD.store(true, Ordering::SeqCst);
    } else {
        SNAPSHOT.store(true, Ordering::SeqCst);
    }
}

/// The flags `watch` polls.
pub struct WatchFlags {
    /// SIGINT or SIGTERM: end cleanly (a second one ends the process, as for a scan).
    pub stop: &'static AtomicBool,
    /// SIGHUP: reload the targets file.
    pub reload: &'static AtomicBool,
    /// SIGUSR1: print a snapshot.
    pub snapshot: &'static AtomicBool,
}

/// Install the stopping handlers (as [`interrupt_flag`]), then turn SIGHUP into a reload
/// request and SIGUSR1 into a snapshot request for the rest of the process.
pub fn watch_flags() -> WatchFlags {
    let stop = interrupt_flag();
    INSTALL_WATCH.call_once(|| {
        let action = SigAction::new(
            SigHandler::Handler(on_watch_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for sig in [Signal::SIGHUP, Signal::SIGUSR1] {
            // SAFETY: the handler only stores to atomics.
            let _ = unsafe { sigaction(sig, &action) };
        }
    });
    WatchFlags {
        stop,
        reload: &RELOAD,
        snapshot: &SNAPSHOT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sighup_sets_the_shared_flag() {
        let a = interrupt_flag();
        assert!(std::ptr::eq(a, interrupt_flag()));
        // The handler is installed, so this sets the flag instead of killing the test. A
        // second one would end the test process, as it ends a scan.
        nix::sys::signal::raise(Signal::SIGHUP).unwrap();
        assert!(a.load(Ordering::SeqCst));
        assert_eq!(RECEIVED.load(Ordering::SeqCst), 1);
    }
}
