//! How hard one refresh tries: attempts, timeouts, backoff, and the lease that keeps other
//! replicas out meanwhile. Every number is bounded so that a caller waits seconds, not minutes,
//! before it hears "unavailable" (and answers 503, never 401).

use std::time::Duration;

/// Tunables of the refresh coordinator. The defaults suit production; tests shorten them.
#[derive(Clone, Debug)]
pub struct RefreshPolicy {
    /// Attempts at the token endpoint per refresh; only transient failures are retried.
    pub attempts: u32,
    /// Longest one attempt may take: an IdP that answers slower is treated as unavailable.
    pub attempt_timeout: Duration,
    /// Longest all attempts and backoffs of one refresh may take together.
    pub budget: Duration,
    /// First backoff; doubled on each retry, with jitter so replicas do not retry in step.
    pub backoff: Duration,
    /// Largest `Retry-After` we wait out; a longer one ends the retries and is passed on.
    pub max_retry_after: Duration,
    /// Lifetime of the refresh lease in Postgres. Longer than `budget` plus the commit, so a
    /// live holder never loses it; short enough that a crashed holder blocks only briefly.
    pub lease: Duration,
    /// How often a caller that lost the lease looks whether the holder has finished.
    pub poll_interval: Duration,
    /// Longest such a caller waits before it answers "unavailable".
    pub wait: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            attempt_timeout: Duration::from_secs(5),
            budget: Duration::from_secs(10),
            backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(5),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(50),
            wait: Duration::from_secs(15),
        }
    }
}

impl RefreshPolicy {
    /// The pause before attempt `failed + 1`, or `None` to stop retrying: the budget would be
    /// overrun, or the IdP asked for a longer pause than we wait out. `jitter` in `[0, 1]`
    /// picks a point in the upper half of the exponential delay ("equal jitter").
    pub fn next_delay(
        &self,
        failed: u32,
        retry_after: Option<u64>,
        elapsed: Duration,
        jitter: f64,
    ) -> Option<Duration> {
        if failed >= self.attempts {
            return None;
        }
        let delay = match retry_after {
            Some(secs) => {
                let asked = Duration::from_secs(secs);
                if asked > self.max_retry_after {
                    return None;
                }
                asked
            }
            None => {
                let exp = self
                    .backoff
                    .saturating_mul(1u32 << failed.saturating_sub(1).min(16));
                exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
            }
        };
        (elapsed.saturating_add(delay) < self.budget).then_some(delay)
    }

    /// The timeout of the next attempt: never past the budget.
    pub fn attempt_timeout(&self, elapsed: Duration) -> Duration {
        self.attempt_timeout
            .min(self.budget.saturating_sub(elapsed))
    }

    /// How many polls fit into `wait`: the bound of the waiting loop.
    pub fn max_polls(&self) -> u32 {
        let poll = self.poll_interval.max(Duration::from_millis(1));
        u32::try_from(self.wait.as_millis() / poll.as_millis()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RefreshPolicy {
        RefreshPolicy::default()
    }

    #[test]
    fn backoff_doubles_and_stays_within_the_upper_half() {
        let p = policy();
        let first = p.next_delay(1, None, Duration::ZERO, 0.0).unwrap();
        let second_low = p.next_delay(2, None, Duration::ZERO, 0.0).unwrap();
        let second_high = p.next_delay(2, None, Duration::ZERO, 1.0).unwrap();
        assert_eq!(first, Duration::from_millis(100));
        assert_eq!(second_low, Duration::from_millis(200));
        assert_eq!(second_high, Duration::from_millis(400));
    }

    #[test]
    fn no_retry_after_the_last_attempt() {
        assert_eq!(policy().next_delay(3, None, Duration::ZERO, 0.5), None);
    }

    #[test]
    fn a_short_retry_after_is_honoured_and_a_long_one_ends_the_retries() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Some(2), Duration::ZERO, 0.5),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.next_delay(1, Some(60), Duration::ZERO, 0.5), None);
    }

    #[test]
    fn a_delay_that_would_overrun_the_budget_is_not_taken() {
        let p = policy();
        assert_eq!(p.next_delay(1, Some(2), Duration::from_secs(9), 0.5), None);
        assert_eq!(
            p.attempt_timeout(Duration::from_secs(8)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn the_lease_outlives_a_whole_refresh() {
        let p = policy();
        assert!(p.lease > p.budget + Duration::from_secs(5));
    }
}
