//! A per-IP fixed-window limiter for open endpoints (dynamic registration): RFC 7591 section 5
//! leaves abuse of open registration to the server, and unbounded registrations are a known way
//! to fill a database (see docs/references.md, "Open registration abuse").
//!
//! The limiter is **in memory and per replica**: with N replicas behind a load balancer a client
//! may get up to N times the configured rate. That is deliberate — the limit blunts floods, it
//! is not an accounting mechanism, and the per-tenant cap (counted in Postgres) is the hard bound.
//! The key is the peer address of the TCP connection; behind a reverse proxy every request
//! shares the proxy's address, so put the limit at the proxy there (no forwarded header is
//! trusted here, since any client can write one).

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::Mutex,
    time::{Duration, Instant},
};

/// One minute: the window of `registration.rate_limit_per_minute`.
const WINDOW: Duration = Duration::from_secs(60);

/// Most addresses tracked at once. Beyond it expired windows are evicted; if every tracked
/// window is still current, unknown addresses are refused until one expires (fail closed: memory
/// stays bounded even under a flood from many addresses).
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
struct Window {
    started: Instant,
    count: u32,
}

/// Fixed one-minute windows keyed by client address. IPv6 addresses are keyed by their /64,
/// since one host usually owns a whole /64 and could otherwise rotate through it.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    capacity: usize,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

impl RateLimiter {
    /// `per_minute = 0` turns the limiter off (`registration.enabled = false` is how to refuse
    /// every registration).
    pub fn new(per_minute: u32) -> Self {
        Self::with_capacity(per_minute, MAX_TRACKED)
    }

    fn with_capacity(per_minute: u32, capacity: usize) -> Self {
        Self {
            per_minute,
            capacity,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `ip` at `now`; `Err(seconds)` says when to retry.
    ///
    /// The lock is a plain mutex held for a few map operations, never across an `.await`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let key = bucket(ip);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if !windows.contains_key(&key) && windows.len() >= self.capacity {
            windows.retain(|_, w| now.saturating_duration_since(w.started) < WINDOW);
            if windows.len() >= self.capacity {
                tracing::warn!(
                    tracked = windows.len(),
                    "rate limiter full; refusing new addresses"
                );
                return Err(WINDOW.as_secs());
            }
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.saturating_duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        if window.count >= self.per_minute {
            let left = WINDOW.saturating_sub(now.saturating_duration_since(window.started));
            return Err(left.as_secs().max(1));
        }
        window.count += 1;
        Ok(())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.windows.lock().map(|w| w.len()).unwrap_or(0)
    }
}

/// IPv4 as is (IPv4-mapped IPv6 folded back to IPv4); IPv6 by its /64 prefix.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn requests_beyond_the_limit_are_refused_until_the_window_ends() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        assert!(limiter.check(ip("192.0.2.1"), t0).is_ok());
        assert!(limiter.check(ip("192.0.2.1"), t0).is_ok());
        let retry = limiter.check(ip("192.0.2.1"), t0 + Duration::from_secs(20));
        assert_eq!(retry, Err(40));
        assert!(
            limiter.check(ip("192.0.2.2"), t0).is_ok(),
            "other IPs unaffected"
        );
        assert!(limiter.check(ip("192.0.2.1"), t0 + WINDOW).is_ok());
    }

    #[test]
    fn addresses_in_one_ipv6_64_share_a_window() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        assert!(limiter.check(ip("2001:db8::1"), t0).is_ok());
        assert!(limiter.check(ip("2001:db8::2"), t0).is_err());
        assert!(limiter.check(ip("2001:db8:0:1::1"), t0).is_ok());
    }

    #[test]
    fn memory_stays_bounded_and_expired_windows_are_evicted() {
        let limiter = RateLimiter::with_capacity(5, 3);
        let t0 = Instant::now();
        for i in 1..=3 {
            assert!(limiter.check(ip(&format!("192.0.2.{i}")), t0).is_ok());
        }
        assert!(
            limiter.check(ip("192.0.2.9"), t0).is_err(),
            "full of live windows"
        );
        assert!(limiter.check(ip("192.0.2.9"), t0 + WINDOW).is_ok());
        assert_eq!(limiter.tracked(), 1, "the expired windows were evicted");
    }

    #[test]
    fn zero_turns_the_limiter_off() {
        let limiter = RateLimiter::new(0);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(limiter.check(ip("192.0.2.1"), t0).is_ok());
        }
        assert_eq!(limiter.tracked(), 0);
    }
}
