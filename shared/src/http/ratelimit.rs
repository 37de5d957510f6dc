//! Per-client-IP budgets of the anonymous routes (API.md "Abuse limits"): a fixed one-minute
//! window per client, refused with 429 `rate_limited` and `Retry-After` before any other work,
//! so a flood is cheap to turn away. The client is the socket peer (local server) or API
//! Gateway's `sourceIp` (Lambda, set as [`ClientIp`]); `X-Forwarded-For` is never read. On
//! AWS each execution environment keeps its own windows, so the WAF's rate-based rule is the
//! fleet-wide limit and this one a second line.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The client address of a request, when a transport other than a socket knows it (Lambda).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// Windows kept before stale ones are dropped (bounds memory under a spoofed-source flood).
const MAX_CLIENTS: usize = 100_000;

pub struct RateLimiter {
    per_window: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn per_minute(n: u32) -> Self {
        RateLimiter { per_window: n, window: Duration::from_secs(60), clients: Mutex::new(HashMap::new()) }
    }

    /// Count one request of `ip`; `Err(seconds)` until its window ends once the budget is spent.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let key = client_key(ip);
        let Ok(mut clients) = self.clients.lock() else { return Ok(()) };
        if clients.len() >= MAX_CLIENTS {
            let window = self.window;
            clients.retain(|_, (start, _)| now.duration_since(*start) < window);
            if clients.len() >= MAX_CLIENTS {
                clients.clear();
            }
        }
        let entry = clients.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_window {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// One IPv6 client holds a whole /64: budgets count per /64, or one host could rotate freely.
fn client_key(ip: IpAddr) -> IpAddr {
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

    #[test]
    fn a_window_allows_its_budget_then_refuses_until_it_ends() {
        // GIVEN a budget of 3 a minute
        let limiter = RateLimiter::per_minute(3);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        // WHEN one client sends 4 requests at once THEN the fourth is refused for the minute
        assert!((0..3).all(|_| limiter.check(a, t0).is_ok()));
        assert_eq!(limiter.check(a, t0 + Duration::from_secs(20)), Err(40));
        // AND another client is not affected
        assert!(limiter.check(b, t0).is_ok());
        // AND the next window starts afresh
        assert!(limiter.check(a, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let limiter = RateLimiter::per_minute(1);
        let t0 = Instant::now();
        assert!(limiter.check("2001:db8::1".parse().unwrap(), t0).is_ok());
        assert!(limiter.check("2001:db8::ffff:2".parse().unwrap(), t0).is_err(), "same /64");
        assert!(limiter.check("2001:db8:0:1::1".parse().unwrap(), t0).is_ok(), "another /64");
    }
}
