//! `scan`'s resume file on disk: read and refused with a clear message, written atomically
//! (a temporary file renamed over it, so a reader, or a run killed mid-write, only ever
//! sees a whole one), and the output of a resumed run opened where the checkpoint left it.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::CliError;
use crate::engine::Tracker;
use crate::resume::{self, Position, ResumeState, ScanSpec};
use crate::target::reserved::Reserved;

pub fn read(path: &str) -> Result<ResumeState, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::Input(format!("cannot read resume file '{path}': {e}")))?;
    resume::decode(&bytes).map_err(|e| CliError::Input(format!("cannot resume from '{path}': {e}")))
}

pub fn reserved_code(r: Reserved) -> u8 {
    match r {
        Reserved::Guard => 0,
        Reserved::Include => 1,
        Reserved::ExcludeAll => 2,
    }
}

pub fn reserved_of(code: u8) -> Reserved {
    match code {
        1 => Reserved::Include,
        2 => Reserved::ExcludeAll,
        _ => Reserved::Guard,
    }
}

/// `synprobe.resume` beside the output file, or in the current directory for stdout and for
/// an output that is not a regular file (`-o /dev/null` must not write into /dev).
pub fn default_path(output: Option<&str>) -> String {
    let dir = output
        .filter(|o| std::fs::metadata(o).map_or(true, |m| m.is_file()))
        .and_then(|o| Path::new(o).parent())
        .filter(|d| !d.as_os_str().is_empty());
    match dir {
        Some(d) => d.join("synprobe.resume").to_string_lossy().into_owned(),
        None => "synprobe.resume".into(),
    }
}

/// The output of a resumed run: the scan's own file is cut back to the checkpoint (lines
/// written after it, by a run killed before its next checkpoint, are probed and written
/// again) and appended to; any other file starts empty. Returns the file and its length.
pub fn continue_output(f: File, path: &str, st: &ResumeState) -> Result<(File, u64), CliError> {
    let same = st.scan.output.as_deref().is_some_and(|o| o == path);
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
    let keep = if same && regular {
        st.output_len.min(len)
    } else {
        0
    };
    if regular {
        if len > keep && keep > 0 {
            say!(
                "synprobe: {path}: {} after the last checkpoint cut (their pairs are probed again)",
                crate::output::plural(len - keep, "byte", "bytes")
            );
        }
        f.set_len(keep)
            .map_err(|e| CliError::Runtime(format!("cannot cut output file '{path}': {e}")))?;
    }
    let mut f = f;
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::End(0))
        .map_err(|e| CliError::Runtime(format!("cannot append to '{path}': {e}")))?;
    Ok((f, keep))
}

/// Writes checkpoints; a failure is said once on stderr and does not stop the scan.
pub struct Saver {
    path: String,
    fingerprint: u64,
    spec: ScanSpec,
    /// Bytes of the output handed to the file so far.
    written_bytes: std::rc::Rc<std::cell::Cell<u64>>,
    last: Option<(Position, u64)>,
    /// No checkpoint but the last before this: a big set (a lossy scan's runs) takes long
    /// to write, and the thread that writes it also writes the results.
    quiet_until: Option<std::time::Instant>,
    warned: bool,
}

/// A checkpoint that took `d` to write is followed by none for `CHECKPOINT_SHARE` x `d`, so
/// checkpoints take at most about a tenth of the writing thread's time.
const CHECKPOINT_SHARE: u32 = 10;

impl Saver {
    pub fn new(
        path: &str,
        fingerprint: u64,
        spec: ScanSpec,
        written_bytes: std::rc::Rc<std::cell::Cell<u64>>,
    ) -> Saver {
        Saver {
            path: path.to_string(),
            fingerprint,
            spec,
            written_bytes,
            last: None,
            quiet_until: None,
            warned: false,
        }
    }

    pub fn save(&mut self, at: &Position, written: &Tracker, last: bool) {
        let len = self.written_bytes.get();
        let now = (at.clone(), len);
        if !last && self.last.as_ref() == Some(&now) {
            return; // nothing new since the last one
        }
        let started = std::time::Instant::now();
        if !last && self.quiet_until.is_some_and(|q| started < q) {
            return;
        }
        let st = ResumeState {
            fingerprint: self.fingerprint,
            scan: self.spec.clone(),
            at: at.clone(),
            output_len: len,
            runs: Vec::new(), // streamed from `written`
        };
        let r = write_atomic_with(&self.path, |f| {
            let mut e = resume::Encoder::new(std::io::BufWriter::with_capacity(1 << 16, f), &st)?;
            written.for_each_run(|first, n| e.run(first, n))?;
            e.finish()?.flush()
        });
        self.quiet_until = Some(std::time::Instant::now() + started.elapsed() * CHECKPOINT_SHARE);
        match r {
            Ok(()) => self.last = Some(now),
            Err(e) if !self.warned => {
                self.warned = true;
                say!("synprobe: cannot write resume file '{}': {e}", self.path);
            }
            Err(_) => {}
        }
    }
}

/// Write `path` through a temporary file beside it, filled by `fill`, and a rename.
pub fn write_atomic_with(
    path: &str,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp{}", std::process::id());
    let r = File::create(&tmp)
        .and_then(|mut f| fill(&mut f))
        .and_then(|()| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_resume_file_sits_beside_the_output() {
        assert_eq!(default_path(None), "synprobe.resume");
        assert_eq!(default_path(Some("out.jsonl")), "synprobe.resume");
        assert_eq!(
            default_path(Some("/data/scan-1/out.jsonl")),
            "/data/scan-1/synprobe.resume"
        );
        assert_eq!(
            default_path(Some("/dev/null")),
            "synprobe.resume",
            "not into /dev"
        );
    }

    #[test]
    fn reserved_modes_round_trip() {
        for r in [Reserved::Guard, Reserved::Include, Reserved::ExcludeAll] {
            assert_eq!(reserved_of(reserved_code(r)), r);
        }
    }
}
