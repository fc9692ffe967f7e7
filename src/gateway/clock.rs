//! A monotonic clock read as nanoseconds in a `u64`: times kept per cached entry take 8 bytes
//! instead of a `std::time::Instant`'s 16 (issue 13, item 4: memory per cached user). It wraps
//! after 584 years of uptime.

use std::time::{Duration, Instant};

/// Nanoseconds since the clock was made; no reading is 0, which callers may use for "never".
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
}

impl Clock {
    pub fn new() -> Self {
        Self {
            // One nanosecond in the past, so that no instant taken later reads as 0.
            base: Instant::now() - Duration::from_nanos(1),
        }
    }

    /// Now, on this clock.
    pub fn now(&self) -> u64 {
        nanos(self.base.elapsed())
    }

    /// How long ago `then` (a reading of this clock) was; zero for a reading in the future.
    pub fn since(&self, then: u64) -> Duration {
        Duration::from_nanos(self.now().saturating_sub(then))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// `duration` in nanoseconds, saturated: add it to a reading with `saturating_add`.
pub fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_never_zero_and_measure_elapsed_time() {
        let clock = Clock::new();
        let first = clock.now();
        assert_ne!(first, 0);
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.since(first) >= Duration::from_millis(5));
        assert_eq!(clock.since(u64::MAX), Duration::ZERO);
        assert_eq!(nanos(Duration::MAX), u64::MAX);
    }
}
