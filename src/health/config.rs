//! The settings of `watch`, checked once before anything is scheduled, so the state machine
//! and the schedule can rely on them (ripgrep's "validate flags first, then build").

use std::fmt;
use std::time::Duration;
use thiserror::Error;

/// What a user asks for; `Default` is AWS NLB's TCP health check (interval 30 s, timeout
/// 10 s, healthy threshold 5, unhealthy threshold 2), with the fast interval equal to the
/// interval as HAProxy's `fastinter` defaults to `inter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub interval: Duration,
    pub timeout: Duration,
    /// Used while a target is `initial` or between states; `None` means the interval.
    pub fast_interval: Option<Duration>,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            fast_interval: None,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
        }
    }
}

/// Why settings were refused; each message names the values involved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("the timeout ({}) must be at least 1ms", Ms(*timeout_ms))]
    ZeroTimeout { timeout_ms: u64 },
    /// A check must end before the next one of the same target starts.
    #[error("the timeout ({}) must be shorter than the interval ({})", Ms(*timeout_ms), Ms(*interval_ms))]
    TimeoutNotShorter { timeout_ms: u64, interval_ms: u64 },
    #[error("the fast interval ({}) must not be longer than the interval ({})", Ms(*fast_ms), Ms(*interval_ms))]
    FastAboveInterval { fast_ms: u64, interval_ms: u64 },
    /// The fast interval paces the checks of a target in transition: its check must also
    /// end before the next starts, or a result would be counted against the wrong period.
    #[error("the timeout ({}) must be shorter than the fast interval ({})", Ms(*timeout_ms), Ms(*fast_ms))]
    TimeoutNotShorterThanFast { timeout_ms: u64, fast_ms: u64 },
    #[error("the {which} threshold must be at least 1 (got 0)")]
    ZeroThreshold { which: &'static str },
}

/// Validated settings, in whole milliseconds (the unit of the schedule's clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    interval_ms: u64,
    timeout_ms: u64,
    fast_interval_ms: u64,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
}

impl Settings {
    /// Checks the settings; durations are cut to whole milliseconds first.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let interval_ms = ms(self.interval);
        let timeout_ms = ms(self.timeout);
        let fast_ms = self.fast_interval.map_or(interval_ms, ms);
        if self.healthy_threshold == 0 {
            return Err(ConfigError::ZeroThreshold { which: "healthy" });
        }
        if self.unhealthy_threshold == 0 {
            return Err(ConfigError::ZeroThreshold { which: "unhealthy" });
        }
        if timeout_ms == 0 {
            return Err(ConfigError::ZeroTimeout { timeout_ms });
        }
        if timeout_ms >= interval_ms {
            return Err(ConfigError::TimeoutNotShorter {
                timeout_ms,
                interval_ms,
            });
        }
        if fast_ms > interval_ms {
            return Err(ConfigError::FastAboveInterval {
                fast_ms,
                interval_ms,
            });
        }
        if timeout_ms >= fast_ms {
            return Err(ConfigError::TimeoutNotShorterThanFast {
                timeout_ms,
                fast_ms,
            });
        }
        Ok(Config {
            interval_ms,
            timeout_ms,
            fast_interval_ms: fast_ms,
            healthy_threshold: self.healthy_threshold,
            unhealthy_threshold: self.unhealthy_threshold,
        })
    }
}

impl Config {
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }
    pub fn fast_interval_ms(&self) -> u64 {
        self.fast_interval_ms
    }
    pub fn healthy_threshold(&self) -> u32 {
        self.healthy_threshold
    }
    pub fn unhealthy_threshold(&self) -> u32 {
        self.unhealthy_threshold
    }
    /// A check run more than this after its slot is late: 10 % of the interval.
    pub fn late_after_ms(&self) -> u64 {
        self.interval_ms / 10
    }
}

/// Milliseconds as a person writes them: `30s`, `1.5s`, `250ms`.
struct Ms(u64);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms >= 1000 && ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else if ms >= 1000 {
            write!(f, "{}s", ms as f64 / 1000.0)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn defaults_are_nlb_tcp() {
        let c = Settings::default().validate().unwrap();
        assert_eq!(c.interval_ms(), 30_000);
        assert_eq!(c.timeout_ms(), 10_000);
        assert_eq!(c.fast_interval_ms(), 30_000);
        assert_eq!(c.healthy_threshold(), 5);
        assert_eq!(c.unhealthy_threshold(), 2);
        assert_eq!(c.late_after_ms(), 3_000);
    }

    #[test]
    fn timeout_not_shorter_than_interval_is_refused_naming_both() {
        for timeout in [10, 11] {
            let s = Settings {
                interval: secs(10),
                timeout: secs(timeout),
                ..Settings::default()
            };
            let err = s.validate().unwrap_err();
            assert_eq!(
                err,
                ConfigError::TimeoutNotShorter {
                    timeout_ms: timeout * 1000,
                    interval_ms: 10_000
                }
            );
            let msg = err.to_string();
            assert!(msg.contains(&format!("({timeout}s)")), "{msg}");
            assert!(msg.contains("(10s)"), "{msg}");
        }
    }

    #[test]
    fn fast_interval_is_bounded_by_interval_and_timeout() {
        let s = Settings {
            fast_interval: Some(secs(31)),
            ..Settings::default()
        };
        assert_eq!(
            s.validate().unwrap_err(),
            ConfigError::FastAboveInterval {
                fast_ms: 31_000,
                interval_ms: 30_000
            }
        );
        let s = Settings {
            fast_interval: Some(secs(10)),
            ..Settings::default()
        };
        let err = s.validate().unwrap_err();
        assert!(matches!(err, ConfigError::TimeoutNotShorterThanFast { .. }));
        assert_eq!(
            err.to_string(),
            "the timeout (10s) must be shorter than the fast interval (10s)"
        );
        let s = Settings {
            fast_interval: Some(Duration::from_millis(10_500)),
            ..Settings::default()
        };
        assert_eq!(s.validate().unwrap().fast_interval_ms(), 10_500);
    }

    #[test]
    fn thresholds_and_timeout_must_be_positive() {
        let zero_h = Settings {
            healthy_threshold: 0,
            ..Settings::default()
        };
        assert_eq!(
            zero_h.validate().unwrap_err(),
            ConfigError::ZeroThreshold { which: "healthy" }
        );
        let zero_u = Settings {
            unhealthy_threshold: 0,
            ..Settings::default()
        };
        assert_eq!(
            zero_u.validate().unwrap_err(),
            ConfigError::ZeroThreshold { which: "unhealthy" }
        );
        let sub_ms = Settings {
            timeout: Duration::from_micros(500),
            ..Settings::default()
        };
        assert_eq!(
            sub_ms.validate().unwrap_err(),
            ConfigError::ZeroTimeout { timeout_ms: 0 }
        );
    }
}
