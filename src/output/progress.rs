//! The live progress line on stderr (only on a terminal): rate, % done, ETA, found.

use std::io::Write;
use std::time::Duration;

/// Renders progress; pure apart from `draw`, so the arithmetic is tested.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    drawn: bool,
    /// Results go to the same terminal: the line is taken off while they are written.
    shares_screen: bool,
    last: String,
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            drawn: false,
            shares_screen: false,
            last: String::new(),
        }
    }

    /// Results are printed to the terminal this line is drawn on (stdout and stderr both
    /// a terminal): without care, a result would land at the end of the progress line.
    pub fn sharing_screen(mut self, shared: bool) -> Self {
        self.shares_screen = shared && self.enabled;
        self
    }

    /// Whether results must be written between `hide` and `show` (and flushed there).
    pub fn shares_screen(&self) -> bool {
        self.shares_screen
    }

    /// Takes the line off the screen before results are written.
    pub fn hide(&mut self) {
        if self.shares_screen {
            self.clear();
        }
    }

    /// Puts the last line back once the results are out.
    pub fn show(&mut self) {
        if self.shares_screen && !self.last.is_empty() {
            let last = std::mem::take(&mut self.last);
            self.draw(&last);
        }
    }

    /// The line for `sent` of `total` probes after `elapsed`, at `rate` probes/s lately.
    /// The ETA is shown only when it can be known: never negative, never infinite.
    pub fn line(sent: u64, total: u64, found: u64, rate: f64, elapsed: Duration) -> String {
        let pct = if total == 0 {
            100.0
        } else {
            (sent.min(total) as f64) * 100.0 / total as f64
        };
        // Past the pair count, the extra probes are retries of silent pairs.
        let count = if sent > total {
            format!("{total}/{total} sent (+{} retries)", sent - total)
        } else {
            format!("{sent}/{total} sent")
        };
        let eta = if sent >= total {
            "waiting for replies".to_string()
        } else if rate >= 1.0 {
            let left = (total - sent) as f64 / rate;
            format!(
                "ETA {}",
                human_duration(Duration::from_secs_f64(left.min(1e7)))
            )
        } else {
            "ETA --".to_string()
        };
        format!(
            "{:>6.2}% {count}, {:.0} probes/s, {found} found, {eta}, {} elapsed",
            pct,
            rate,
            human_duration(elapsed)
        )
    }

    pub fn draw(&mut self, line: &str) {
        if self.enabled {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K{line}");
            let _ = e.flush();
            self.drawn = true;
            self.last = line.to_string();
        }
    }

    /// Erase the line so the summary starts on a clean row.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_never_negative_or_infinite() {
        let l = Progress::line(0, 100, 0, 0.0, Duration::ZERO);
        assert!(l.contains("ETA --"), "{l}");
        let l = Progress::line(150, 100, 3, 1000.0, Duration::from_secs(1));
        assert!(
            l.contains("100.00% 100/100 sent (+50 retries)") && l.contains("waiting for replies"),
            "{l}"
        );
        let l = Progress::line(50, 100, 1, 10.0, Duration::from_secs(5));
        assert!(l.contains("ETA 5s"), "{l}");
        let l = Progress::line(1, u64::MAX, 0, 1.0, Duration::from_secs(5));
        assert!(l.contains("ETA ") && !l.contains('-'), "{l}");
    }
}
