//! Where results go: the `Sink` trait the engine reports through, the printers (text, JSON
//! Lines, CSV) with the host names typed (`hosts`), the state filter, the progress line and
//! the summary; `events`: watch's transition lines and snapshots. Nothing here knows about
//! sockets.

pub mod events;
mod format;
mod hosts;
mod lines;
mod progress;
mod rate_report;
mod summary;
mod summary_json;

pub use format::{CSV_COLUMNS, Format, Printer, endpoint};
pub use hosts::{HostNames, csv_field, json_escaped};
pub use lines::WholeLines;
pub use progress::{Progress, Snapshot};
pub use rate_report::lost_answers;
pub use summary::{MIN_RATE_SECS, Summary, plural};
pub use summary_json::{Ending, RunInfo, SUMMARY_MARK, TRAILER_MARK};

use std::io;

use crate::probe::{ProbeResult, State};

/// Receives every verdict the engine reaches, each (ip, port) pair at most once.
pub trait Sink {
    fn result(&mut self, r: &ProbeResult) -> io::Result<()>;
    /// Push buffered results out now (before the progress line comes back on a shared
    /// terminal).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Which states reach the printer (`--states`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateFilter {
    pub open: bool,
    pub closed: bool,
    pub filtered: bool,
}

impl StateFilter {
    pub const ALL: StateFilter = StateFilter {
        open: true,
        closed: true,
        filtered: true,
    };

    /// Parse `open,closed,filtered` or `all`; the error names the bad word.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut f = StateFilter {
            open: false,
            closed: false,
            filtered: false,
        };
        for word in spec.split(',').map(str::trim) {
            match word {
                "open" => f.open = true,
                "closed" => f.closed = true,
                "filtered" => f.filtered = true,
                "all" => f = StateFilter::ALL,
                _ => {
                    return Err(format!(
                        "invalid state '{word}': expected open, closed, filtered or all"
                    ));
                }
            }
        }
        Ok(f)
    }

    pub fn wants(&self, s: State) -> bool {
        match s {
            State::Open => self.open,
            State::Closed => self.closed,
            State::Filtered => self.filtered,
        }
    }
}

/// A sink that passes only the wanted states on.
pub struct Filtered<S> {
    pub filter: StateFilter,
    pub inner: S,
}

impl<S: Sink> Sink for Filtered<S> {
    fn result(&mut self, r: &ProbeResult) -> io::Result<()> {
        if self.filter.wants(r.state()) {
            self.inner.result(r)
        } else {
            Ok(())
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}

/// A sink that keeps everything (for `check` and tests).
#[derive(Default, Debug)]
pub struct Collect(pub Vec<ProbeResult>);

impl Sink for Collect {
    fn result(&mut self, r: &ProbeResult) -> io::Result<()> {
        self.0.push(*r);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_filter_parses_lists_and_all() {
        let f = StateFilter::parse("open,filtered").unwrap();
        assert!(f.open && !f.closed && f.filtered);
        assert_eq!(StateFilter::parse("all").unwrap(), StateFilter::ALL);
        let e = StateFilter::parse("open,shut").unwrap_err();
        assert!(e.contains("'shut'"), "{e}");
    }
}
