//! A buffered writer that hands its output on only in whole lines, and counts the bytes it
//! has handed on. Every write the file sees ends with a newline, so a process killed
//! between two writes (a second Ctrl-C) leaves a file of whole lines, and the count says
//! exactly how much of it a checkpoint covers.

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;

/// Buffered bytes past which whole lines are handed on.
const CAP: usize = 1 << 16;

pub struct WholeLines<W: Write> {
    inner: W,
    buf: Vec<u8>,
    /// Bytes handed to `inner` (plus where it started).
    written: Rc<Cell<u64>>,
}

impl<W: Write> WholeLines<W> {
    /// `written` starts at what the file already holds (a resumed run appends).
    pub fn new(inner: W, written: Rc<Cell<u64>>) -> Self {
        WholeLines {
            inner,
            buf: Vec::with_capacity(CAP + 256),
            written,
        }
    }

    fn hand_on(&mut self, upto: usize) -> io::Result<()> {
        if upto == 0 {
            return Ok(());
        }
        // One write call per chunk; `write_all` only loops on a short write (a pipe).
        let r = self.inner.write_all(&self.buf[..upto]);
        if r.is_ok() {
            self.written.set(self.written.get() + upto as u64);
        }
        self.buf.drain(..upto);
        r
    }
}

impl<W: Write> Write for WholeLines<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CAP
            && let Some(nl) = self.buf.iter().rposition(|&b| b == b'\n')
        {
            self.hand_on(nl + 1)?;
        }
        Ok(data.len())
    }

    /// Hands on every whole line buffered (a partial last line stays: callers flush
    /// between records, where there is none).
    fn flush(&mut self) -> io::Result<()> {
        let upto = self
            .buf
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |nl| nl + 1);
        self.hand_on(upto)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for WholeLines<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each write call.
    struct Calls(Rc<std::cell::RefCell<Vec<Vec<u8>>>>);
    impl Write for Calls {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_write_handed_on_ends_a_line_and_is_counted() {
        let calls = Rc::new(std::cell::RefCell::new(Vec::new()));
        let count = Rc::new(Cell::new(10));
        let mut w = WholeLines::new(Calls(calls.clone()), count.clone());
        let line = b"{\"ip\":\"198.18.0.1\",\"port\":80,\"state\":\"open\"}\n";
        let mut total = 0;
        for _ in 0..5000 {
            // A line in two pieces, as a printer writes it.
            w.write_all(&line[..7]).unwrap();
            w.write_all(&line[7..]).unwrap();
            total += line.len();
        }
        w.write_all(b"half").unwrap();
        w.flush().unwrap();
        let calls = calls.borrow();
        assert!(calls.len() > 1, "handed on along the way");
        assert!(calls.iter().all(|c| c.ends_with(b"\n")));
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), total);
        assert_eq!(count.get(), 10 + total as u64);
    }
}
