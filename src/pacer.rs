//! Pacing: how many probes may go out by a given moment. Time comes in as an argument, so the
//! pacer is tested in virtual time.
//! STUB: interface fixed, body to be written.

/// An absolute schedule: `rate` probes per second from `start_ns`. Sending the permitted
/// count keeps the long-run average exact; bursts are capped at `burst`.
#[derive(Clone, Debug)]
pub struct Pacer {
    rate: Option<f64>,
    burst: u64,
}

impl Pacer {
    /// `rate` probes/s (or `None`: as fast as possible), scheduled from `start_ns`.
    pub fn new(rate: Option<f64>, burst: u64, start_ns: u64) -> Self {
        let _ = start_ns;
        Pacer { rate, burst }
    }

    /// How many probes may be sent now, given `sent` so far since the schedule began, at `now_ns` (nanoseconds on any monotonic clock).
    pub fn permits(&mut self, now_ns: u64, sent: u64) -> u64 {
        let _ = (now_ns, sent, self.rate, self.burst);
        todo!()
    }

    /// The earliest moment (ns) at which one more probe is permitted.
    pub fn next_permit_ns(&self, sent: u64) -> u64 {
        let _ = sent;
        todo!()
    }
}
