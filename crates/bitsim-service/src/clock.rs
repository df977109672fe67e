//! The service's clock modes (`--clock virtual|real|scaled:N`).

use bitsim_model::Time;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How the service's virtual time moves.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Clock {
    /// Only when a client calls `clock.advance`, `clock.run_until` or
    /// `clock.run_until_idle`: a run is a pure function of the calls and
    /// the seed, and a notification waits for its answer before time moves.
    #[default]
    Virtual,
    /// With the wall clock: a second of virtual time per real second.
    Real,
    /// N seconds of virtual time per real second (`scaled:3600`: an hour
    /// a second), for programs that cannot drive the clock.
    Scaled(f64),
}

impl Clock {
    /// True for [`Clock::Virtual`].
    pub fn is_virtual(self) -> bool {
        self == Clock::Virtual
    }

    /// Virtual seconds per real second (`None`: virtual).
    pub fn rate(self) -> Option<f64> {
        match self {
            Clock::Virtual => None,
            Clock::Real => Some(1.0),
            Clock::Scaled(n) => Some(n),
        }
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clock::Virtual => f.write_str("virtual"),
            Clock::Real => f.write_str("real"),
            Clock::Scaled(n) => write!(f, "scaled:{n}"),
        }
    }
}

/// A `--clock` value that is none of `virtual`, `real`, `scaled:N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown clock {given:?}: expected `virtual`, `real` or `scaled:N` (N virtual seconds per real second, a positive number)"
)]
pub struct ClockParseError {
    /// What was given.
    pub given: String,
}

impl FromStr for Clock {
    type Err = ClockParseError;

    fn from_str(s: &str) -> Result<Clock, ClockParseError> {
        let err = || ClockParseError {
            given: s.to_owned(),
        };
        match s {
            "virtual" => Ok(Clock::Virtual),
            "real" => Ok(Clock::Real),
            _ => {
                let n: f64 = s
                    .strip_prefix("scaled:")
                    .ok_or_else(err)?
                    .parse()
                    .map_err(|_| err())?;
                // Bounded so that a day of wall time stays far inside the
                // model's millisecond clock.
                if n.is_finite() && n > 0.0 && n <= 1e9 {
                    Ok(Clock::Scaled(n))
                } else {
                    Err(err())
                }
            }
        }
    }
}

/// The calendar instant of virtual time zero with `--clock virtual`, in
/// milliseconds since 1970-01-01 UTC: 2000-01-01T00:00:00Z. A fixed
/// instant, so that a virtual-clock run, GetTimes included, stays a pure
/// function of its inputs; the year 2000 is far enough from today that a
/// reader never takes a virtual time for a wall-clock one.
pub const VIRTUAL_EPOCH_UNIX_MS: u64 = 946_684_800_000;

/// The calendar instant (unix ms) of virtual time zero, which turns the
/// model's times into the `FILETIME`s of `GetTimes` (`BG_JOB_TIMES`):
/// virtual time `t` is the instant `epoch + t`.
///
/// * `--clock virtual`: [`VIRTUAL_EPOCH_UNIX_MS`], never the wall clock;
/// * `real` and `scaled:N`: `first_start_unix_ms`, the wall-clock instant
///   the queue was first started at (kept in `--state`), so with `real`
///   the times are the wall clock's and with `scaled:N` the simulated
///   calendar starts with the service and runs N times as fast.
pub fn calendar_epoch(clock: Clock, first_start_unix_ms: u64) -> u64 {
    if clock.is_virtual() {
        VIRTUAL_EPOCH_UNIX_MS
    } else {
        first_start_unix_ms
    }
}

/// The mapping from the wall clock to virtual time in real and scaled mode:
/// virtual time `origin` at wall instant `start`, then `rate` virtual
/// seconds per real second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    pub(crate) start: Instant,
    pub(crate) origin: Time,
    pub(crate) rate: f64,
}

impl WallClock {
    /// The virtual time at wall instant `at`.
    pub(crate) fn virtual_at(&self, at: Instant) -> Time {
        let real = at.saturating_duration_since(self.start).as_secs_f64();
        let ms = (real * self.rate * 1000.0).min(u64::MAX as f64 / 2.0) as u64;
        Time(self.origin.0.saturating_add(ms))
    }

    /// How long, in real time, until virtual time `t` (from `now`).
    pub(crate) fn real_until(&self, t: Time, now: Instant) -> Duration {
        let v = self.virtual_at(now);
        let ms = t.0.saturating_sub(v.0) as f64 / self.rate;
        // Rounded up: waking a little late is harmless, early costs a turn.
        Duration::from_micros((ms * 1000.0).ceil().min(1e15) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_values_parse_and_misspellings_are_named() {
        assert_eq!("virtual".parse(), Ok(Clock::Virtual));
        assert_eq!("real".parse(), Ok(Clock::Real));
        assert_eq!("scaled:3600".parse(), Ok(Clock::Scaled(3600.0)));
        assert_eq!("scaled:0.5".parse(), Ok(Clock::Scaled(0.5)));
        for bad in [
            "Real",
            "virtua",
            "scaled",
            "scaled:",
            "scaled:0",
            "scaled:-2",
            "scaled:x",
            "scaled:inf",
        ] {
            let e = bad.parse::<Clock>().unwrap_err();
            assert_eq!(e.given, bad);
            assert!(e.to_string().contains("scaled:N"), "{e}");
        }
        assert_eq!(Clock::Scaled(3600.0).to_string(), "scaled:3600");
    }

    #[test]
    fn scaled_time_maps_both_ways() {
        let start = Instant::now();
        let c = WallClock {
            start,
            origin: Time(1000),
            rate: 3600.0,
        };
        let later = start + Duration::from_millis(500);
        assert_eq!(c.virtual_at(later), Time(1000 + 1_800_000));
        let wait = c.real_until(Time(1000 + 3_600_000), start);
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(c.real_until(Time(0), later), Duration::ZERO);
    }
}
