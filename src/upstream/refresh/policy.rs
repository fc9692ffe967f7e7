//! How hard one refresh tries and how long everyone waits: the call's own timeout, the retries
//! of what the IdP provably did not process, the lease that keeps other replicas out, the
//! caller's deadline, and the per-grant back-off after failures. Every number is bounded.
//!
//! The asymmetry is deliberate (issue 12): the *call* to the IdP gets a long timeout, because
//! giving up on a request the IdP may already have processed risks a rotated-away refresh token;
//! the *callers* get a short one and a 503 `Retry-After`, while the call goes on in the
//! background and its answer is stored when it arrives.

use std::time::Duration;

use crate::config::AuthConfig;

/// Tunables of the refresh coordinator. The defaults suit production; tests shorten them.
#[derive(Clone, Debug)]
pub struct RefreshPolicy {
    /// Attempts at the token endpoint per refresh. Only attempts the IdP provably did not
    /// process (no connection; 429, 503) are retried.
    pub attempts: u32,
    /// Longest one call to the token endpoint may take (`auth.upstream_refresh_timeout`).
    pub call_timeout: Duration,
    /// Longest all attempts and pauses of one refresh may take together.
    pub budget: Duration,
    /// First pause between attempts; doubled on each retry, with jitter.
    pub backoff: Duration,
    /// Largest `Retry-After` we wait out; a longer one ends the retries and is passed on.
    pub max_retry_after: Duration,
    /// Lifetime of the refresh lease (`auth.upstream_refresh_lease`); its holder renews it every
    /// third of it, so a dead holder is noticed within one lease.
    pub lease: Duration,
    /// How often a caller that lost the lease looks whether the holder has finished.
    pub poll_interval: Duration,
    /// Longest a caller waits for a refresh, its own or another replica's, before it answers
    /// 503 with `Retry-After` (`auth.upstream_refresh_wait`); the refresh goes on.
    pub caller_wait: Duration,
    /// Pause of a grant after a failed refresh (`auth.upstream_refresh_backoff`), doubled per
    /// consecutive failure up to `max_failure_backoff`.
    pub failure_backoff: Duration,
    pub max_failure_backoff: Duration,
    /// Pause after an attempt that may have reached the IdP unanswered
    /// (`auth.upstream_refresh_after_ambiguous`): long enough that a request the IdP still held
    /// has been processed or dropped before the same refresh token is sent again.
    pub after_ambiguous: Duration,
    /// At most one refresh per grant per this interval is driven by reports of a rejected token
    /// (`auth.upstream_min_refresh_interval`).
    pub min_refresh_interval: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self::from_config(&AuthConfig::default())
    }
}

impl RefreshPolicy {
    pub fn from_config(auth: &AuthConfig) -> Self {
        let call_timeout = auth.upstream_refresh_timeout.get();
        Self {
            attempts: 3,
            call_timeout,
            budget: call_timeout + Duration::from_secs(10),
            backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(5),
            lease: auth.upstream_refresh_lease.get(),
            poll_interval: Duration::from_millis(50),
            caller_wait: auth.upstream_refresh_wait.get(),
            failure_backoff: auth.upstream_refresh_backoff.get(),
            max_failure_backoff: auth.upstream_refresh_max_backoff.get(),
            after_ambiguous: auth.upstream_refresh_after_ambiguous.get(),
            min_refresh_interval: auth.upstream_min_refresh_interval.get(),
        }
    }

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
        self.call_timeout.min(self.budget.saturating_sub(elapsed))
    }

    /// How long a grant waits after a failed refresh, the `failures`-th in a row (from 1);
    /// after an ambiguous one, at least `after_ambiguous`.
    pub fn grant_backoff(&self, failures: u32, ambiguous: bool) -> Duration {
        let doubled = self
            .failure_backoff
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(self.max_failure_backoff);
        if ambiguous {
            doubled.max(self.after_ambiguous)
        } else {
            doubled
        }
    }

    /// How often the lease holder renews its lease.
    pub fn heartbeat(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(10))
    }

    /// How many polls of a waiting flight fit into the longest a live holder may take: its
    /// budget plus a lease (a dead holder's lease expires within that).
    pub fn max_polls(&self) -> u32 {
        let poll = self.poll_interval.max(Duration::from_millis(1));
        let wait = self.budget + self.lease;
        u32::try_from(wait.as_millis() / poll.as_millis()).unwrap_or(u32::MAX)
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
        let late = p.budget - Duration::from_secs(1);
        assert_eq!(p.next_delay(1, Some(2), late, 0.5), None);
        assert_eq!(p.attempt_timeout(late), Duration::from_secs(1));
    }

    #[test]
    fn the_call_outlasts_an_idp_slow_by_25_seconds_and_callers_do_not_wait_for_it() {
        let p = policy();
        assert!(p.call_timeout >= Duration::from_secs(30));
        assert!(p.caller_wait < p.call_timeout);
    }

    #[test]
    fn a_dead_holder_is_noticed_within_five_seconds() {
        let p = policy();
        assert!(p.lease <= Duration::from_secs(5));
        assert!(
            p.heartbeat() * 2 < p.lease,
            "a missed beat does not lose the lease"
        );
    }

    #[test]
    fn a_failing_grant_backs_off_exponentially_up_to_the_cap_and_longer_after_ambiguity() {
        let p = policy();
        assert_eq!(p.grant_backoff(1, false), p.failure_backoff);
        assert_eq!(p.grant_backoff(2, false), p.failure_backoff * 2);
        assert_eq!(p.grant_backoff(30, false), p.max_failure_backoff);
        assert!(p.grant_backoff(1, true) >= p.after_ambiguous);
    }
}
