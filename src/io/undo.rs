//! The host changes to put back from a signal handler, prepared while it is still safe to
//! allocate: the open fds of the changed settings, the bytes to write at offset 0 of each,
//! and the record file's path as a C string. Running them takes only pwrite(2) and
//! unlink(2), both async-signal-safe: no allocation, no lock, no formatting.
//!
//! One set per process (a run changes the host once). The normal exit path writes the
//! same bytes itself and then disarms; whichever of the two runs, the host is put back.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, Ordering};

const SLOTS: usize = 4;
const VALUE_CAP: usize = 16;

/// Held by the unit tests that arm the one process-wide set (tests run in parallel).
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

const DISARMED: u8 = 0;
const ARMED: u8 = 1;
const RUNNING: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(DISARMED);
static FD: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];
static LEN: [AtomicU8; SLOTS] = [const { AtomicU8::new(0) }; SLOTS];
static VALUE: [[AtomicU8; VALUE_CAP]; SLOTS] =
    [const { [const { AtomicU8::new(0) }; VALUE_CAP] }; SLOTS];
/// A leaked CString (a handler may be reading it, so it is never freed).
static RECORD: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());

/// Why a set of writes cannot be prepared.
#[derive(Debug, PartialEq, Eq)]
pub enum ArmError {
    TooMany,
    ValueTooLong,
}

/// Prepare `writes` (fd, bytes to write at offset 0) and the record file to remove. The fds
/// must stay open for the rest of the process: a handler may use them at any time.
pub fn arm(writes: &[(RawFd, &[u8])], record: Option<&Path>) -> Result<(), ArmError> {
    if writes.len() > SLOTS {
        return Err(ArmError::TooMany);
    }
    if writes.iter().any(|(_, v)| v.len() > VALUE_CAP) {
        return Err(ArmError::ValueTooLong);
    }
    STATE.store(DISARMED, Ordering::SeqCst);
    for (i, slot) in FD.iter().enumerate() {
        match writes.get(i) {
            Some(&(fd, bytes)) => {
                for (k, b) in bytes.iter().enumerate() {
                    VALUE[i][k].store(*b, Ordering::SeqCst);
                }
                LEN[i].store(bytes.len() as u8, Ordering::SeqCst);
                slot.store(fd, Ordering::SeqCst);
            }
            None => slot.store(-1, Ordering::SeqCst),
        }
    }
    let path = record
        .and_then(|p| CString::new(p.as_os_str().as_bytes()).ok())
        .map_or(std::ptr::null_mut(), CString::into_raw);
    RECORD.store(path, Ordering::SeqCst);
    STATE.store(ARMED, Ordering::SeqCst);
    Ok(())
}

/// The normal path has put everything back: a later signal has nothing to do.
pub fn disarm() {
    let _ = STATE.compare_exchange(ARMED, DISARMED, Ordering::SeqCst, Ordering::SeqCst);
}

/// Whether a set is armed (for tests).
#[cfg(test)]
pub fn is_armed() -> bool {
    STATE.load(Ordering::SeqCst) == ARMED
}

/// Write every prepared value and remove the record. Async-signal-safe. When a handler on
/// another thread is already doing it, wait (bounded) until it is done, so that this one
/// does not let the process die halfway through.
pub fn run_from_handler() {
    match STATE.compare_exchange(ARMED, RUNNING, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => {}
        Err(RUNNING) => {
            let mut spins = 0u32;
            while STATE.load(Ordering::SeqCst) == RUNNING && spins < 1 << 26 {
                std::hint::spin_loop();
                spins += 1;
            }
            return;
        }
        Err(_) => return,
    }
    for i in 0..SLOTS {
        let fd = FD[i].load(Ordering::SeqCst);
        if fd < 0 {
            continue;
        }
        let mut buf = [0u8; VALUE_CAP];
        let len = usize::from(LEN[i].load(Ordering::SeqCst)).min(VALUE_CAP);
        for (k, b) in buf.iter_mut().enumerate().take(len) {
            *b = VALUE[i][k].load(Ordering::SeqCst);
        }
        // SAFETY: `buf` is a live local of `len` bytes; pwrite is async-signal-safe, and a
        // failure (the fd was never closed, see `arm`) only means that setting stays.
        let _ = unsafe { libc::pwrite(fd, buf.as_ptr().cast(), len, 0) };
    }
    let path = RECORD.load(Ordering::SeqCst);
    if !path.is_null() {
        // SAFETY: a NUL-terminated string leaked by `arm` and never freed.
        let _ = unsafe { libc::unlink(path) };
    }
    STATE.store(DISARMED, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::host_state::TempDir;
    use std::os::fd::IntoRawFd;

    #[test]
    fn running_writes_the_prepared_bytes_and_removes_the_record() {
        let _one = TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let t = TempDir::new("undo");
        let a = t.0.join("a");
        let b = t.0.join("b");
        let rec = t.0.join("record");
        std::fs::write(&a, "1\n").unwrap();
        std::fs::write(&b, "1\n").unwrap();
        std::fs::write(&rec, "x").unwrap();
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .into_raw_fd()
        };
        let (fa, fb) = (open(&a), open(&b));
        assert_eq!(
            arm(&[(fa, &b"0"[..]), (fb, &b"-17"[..])], Some(&rec)),
            Ok(()),
            "two short values fit"
        );
        assert!(is_armed());
        run_from_handler();
        assert!(!is_armed());
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "0\n");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "-17");
        assert!(!rec.exists());
        // Disarmed: a second run writes nothing.
        std::fs::write(&a, "1\n").unwrap();
        run_from_handler();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "1\n");

        assert_eq!(arm(&[(fa, &b"0"[..]); 5], None), Err(ArmError::TooMany));
        assert_eq!(
            arm(&[(fa, &[b'1'; 17][..])], None),
            Err(ArmError::ValueTooLong)
        );
        arm(&[(fa, &b"0"[..])], None).unwrap();
        disarm();
        run_from_handler();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "1\n");
        // SAFETY (test): the fds came from into_raw_fd above and nothing else uses them.
        unsafe {
            libc::close(fa);
            libc::close(fb);
        }
    }
}
