//! Failed-login accounting per connection source, per (account, source) and per
//! account, and one SASL exchange at a time per source.
//!
//! An attempt on an account is *reserved* before its password is checked
//! ([`AuthLimiter::begin`]): the counters of the source, of the (account, source) pair
//! and of the account go up at once, and come back down only when the login succeeds
//! ([`Attempt::succeeded`]). Parallel guesses therefore cannot all pass the check before
//! the first one fails: at most `max_pair` passwords are checked per (account, source)
//! and window.
//!
//! An attempt is refused with `temporary-auth-failure` (RFC 6120 §6.5.12), without
//! looking at its credentials, when
//! - its source has `max_source` failures in the window, or
//! - its (account, source) pair has `max_pair` failures, or
//! - the account has `account_budget` failures from all sources **and** this source
//!   has failed at least once.
//!
//! A source with no failure in the window is never refused: strangers failing on
//! purpose cannot lock a user out of their account. Failing parties are slowed
//! instead: each failure is answered after `base_delay × 2^(n−1)` (capped at
//! `max_delay`), `n` the failures of that source in the window, and only one SASL
//! exchange per source runs at a time ([`AuthLimiter::gate`]), so a source's parallel
//! connections wait for each other's delays.
//!
//! # Security
//! Sources and account names are kept only as 64-bit keyed hashes (SHA-256 under a random
//! per-process key), never as addresses or names, and are never logged. Counting names
//! that do not exist too means a refusal does not reveal whether an account exists.
//!
//! # Limitations
//! - Counters use fixed windows (a counter restarts `window` after its first failure),
//!   so up to twice the limit can fail across a window boundary.
//! - A party with many sources (IPv4 addresses, IPv6 /64s, Tor circuits) gets
//!   `max_pair` guesses per source until the account's budget is spent, then one per
//!   fresh source.
//! - At most [`Limits::max_keys`] counters are kept; beyond, the tenth with the oldest
//!   last failure is dropped (recent failures survive a flood of new keys).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Default of [`Limits::max_keys`].
pub const MAX_KEYS: usize = 100_000;

/// A hashed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(u64);

/// Where a connection comes from, for failure accounting only (never logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A TCP peer address.
    Ip(IpAddr),
    /// An onion-service rendezvous circuit: the random id the server gave it when the
    /// client's introduction was accepted. Streams of one circuit share it.
    OnionCircuit(u64),
    /// Nothing known (all such connections share one key).
    Unknown,
}

impl From<Option<IpAddr>> for Source {
    fn from(ip: Option<IpAddr>) -> Source {
        match ip {
            Some(ip) => Source::Ip(ip),
            None => Source::Unknown,
        }
    }
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Source {
        Source::Ip(ip)
    }
}

/// Limits of an [`AuthLimiter`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Length of a counting window.
    pub window: Duration,
    /// Failures of one (account, source) pair that refuse further tries of the pair.
    pub max_pair: u32,
    /// Failures of one source that refuse further tries from it.
    pub max_source: u32,
    /// Failures on one account (all sources) after which sources that have failed are
    /// refused on it.
    pub account_budget: u32,
    /// Delay before answering the first failure of a source.
    pub base_delay: Duration,
    /// Largest delay before answering a failure.
    pub max_delay: Duration,
    /// Counters kept at most (memory bound under attack); beyond, the 10 % with the
    /// oldest last failure are dropped.
    pub max_keys: usize,
}

/// A fixed-window failure counter.
#[derive(Debug, Clone, Copy)]
struct Counter {
    start: Instant,
    last: Instant,
    count: u32,
}

/// Failed-login counters and per-source exchange gates.
pub struct AuthLimiter {
    secret: [u8; 32],
    limits: Limits,
    state: Mutex<HashMap<Key, Counter>>,
    gates: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// A reserved login attempt on an account ([`AuthLimiter::begin`]): it counts as a
/// failure unless [`Attempt::succeeded`] is called, also when the connection drops
/// while the password is checked.
#[derive(Debug)]
#[must_use]
pub struct Attempt {
    source: Key,
    pair: Key,
    account: Key,
}

/// The attempt was refused: too many failures (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// The right to run a SASL exchange for one source ([`AuthLimiter::gate`]); dropping it
/// lets the next exchange of that source start.
pub struct Gate<'a> {
    limiter: &'a AuthLimiter,
    key: Key,
    lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Gate<'_> {
    fn drop(&mut self) {
        drop(self.lock.take());
        if let Ok(mut gates) = self.limiter.gates.lock()
            && gates
                .get(&self.key)
                .is_some_and(|g| Arc::strong_count(g) == 1)
        {
            gates.remove(&self.key);
        }
    }
}

impl AuthLimiter {
    /// A limiter with a fresh random key.
    pub fn new(limits: Limits) -> Self {
        Self {
            secret: rand::random(),
            limits,
            state: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, domain: &[u8], parts: &[&[u8]]) -> Key {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(domain);
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        Key(u64::from_le_bytes(b))
    }

    /// Key of a connection source: the IPv4 address, the IPv6 /64 prefix (one host
    /// usually holds a whole /64), or the onion-service circuit.
    pub fn source_key(&self, source: impl Into<Source>) -> Key {
        match source.into() {
            Source::Ip(IpAddr::V4(v4)) => self.key(b"v4", &[&v4.octets()]),
            Source::Ip(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => self.key(b"v4", &[&v4.octets()]),
                None => self.key(b"v6", &[&v6.octets()[..8]]),
            },
            Source::OnionCircuit(id) => self.key(b"onion", &[&id.to_le_bytes()]),
            Source::Unknown => self.key(b"none", &[]),
        }
    }

    /// Key of an account name (normalized bare JID).
    pub fn account_key(&self, jid: &str) -> Key {
        self.key(b"acct", &[jid.as_bytes()])
    }

    fn pair_key(&self, account: Key, source: Key) -> Key {
        self.key(
            b"pair",
            &[&account.0.to_le_bytes(), &source.0.to_le_bytes()],
        )
    }

    fn count(&self, map: &HashMap<Key, Counter>, k: Key, now: Instant) -> u32 {
        match map.get(&k) {
            Some(c) if now.duration_since(c.start) <= self.limits.window => c.count,
            _ => 0,
        }
    }

    fn bump(&self, map: &mut HashMap<Key, Counter>, k: Key, now: Instant) {
        if map.len() >= self.limits.max_keys && !map.contains_key(&k) {
            evict(map, now, self.limits.window, self.limits.max_keys);
        }
        let window = self.limits.window;
        let c = map.entry(k).or_insert(Counter {
            start: now,
            last: now,
            count: 0,
        });
        if now.duration_since(c.start) > window {
            *c = Counter {
                start: now,
                last: now,
                count: 0,
            };
        }
        c.count = c.count.saturating_add(1);
        c.last = now;
    }

    fn release(map: &mut HashMap<Key, Counter>, k: Key, reset: bool) {
        if let Some(c) = map.get_mut(&k) {
            c.count = if reset { 0 } else { c.count.saturating_sub(1) };
            if c.count == 0 {
                map.remove(&k);
            }
        }
    }

    /// Waits until no other SASL exchange of `source` runs, then holds the gate.
    pub async fn gate(&self, source: Key) -> Gate<'_> {
        let m = match self.gates.lock() {
            Ok(mut g) => Some(g.entry(source).or_default().clone()),
            Err(_) => None,
        };
        let lock = match m {
            Some(m) => Some(m.lock_owned().await),
            None => None,
        };
        Gate {
            limiter: self,
            key: source,
            lock,
        }
    }

    /// Whether `source` has failed too often to try at all now.
    pub fn source_blocked(&self, source: Key) -> bool {
        let Ok(m) = self.state.lock() else {
            return false;
        };
        self.count(&m, source, Instant::now()) >= self.limits.max_source
    }

    /// Reserves an attempt of `source` on `account` (normalized bare JID) before its
    /// credentials are checked, or refuses it (see the module documentation).
    pub fn begin(&self, source: Key, account: &str) -> Result<Attempt, Refused> {
        let account = self.account_key(account);
        let pair = self.pair_key(account, source);
        let Ok(mut m) = self.state.lock() else {
            return Err(Refused);
        };
        let now = Instant::now();
        let fs = self.count(&m, source, now);
        let fp = self.count(&m, pair, now);
        let fa = self.count(&m, account, now);
        let l = &self.limits;
        if fs >= l.max_source || fp >= l.max_pair || (fa >= l.account_budget && fs > 0) {
            return Err(Refused);
        }
        for k in [source, pair, account] {
            self.bump(&mut m, k, now);
        }
        Ok(Attempt {
            source,
            pair,
            account,
        })
    }

    /// Records a failure of `source` outside an account attempt (bad mechanism,
    /// malformed request, unusable username).
    pub fn failure(&self, source: Key) {
        if let Ok(mut m) = self.state.lock() {
            self.bump(&mut m, source, Instant::now());
        }
    }

    /// How long to wait before answering a failure of `source`:
    /// `base_delay × 2^(n−1)`, `n` its failures in the window (at least 1), at most
    /// `max_delay`.
    pub fn delay(&self, source: Key) -> Duration {
        let n = match self.state.lock() {
            Ok(m) => self.count(&m, source, Instant::now()),
            Err(_) => 1,
        };
        let shift = n.clamp(1, 31) - 1;
        self.limits
            .base_delay
            .saturating_mul(1u32 << shift.min(20))
            .min(self.limits.max_delay)
    }

    /// Number of counters held (for tests).
    pub fn len(&self) -> usize {
        self.state.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Attempt {
    /// The login succeeded: the reservation is taken back from the source and the
    /// account, and the (account, source) pair's failures are forgotten.
    pub fn succeeded(self, limiter: &AuthLimiter) {
        if let Ok(mut m) = limiter.state.lock() {
            AuthLimiter::release(&mut m, self.source, false);
            AuthLimiter::release(&mut m, self.account, false);
            AuthLimiter::release(&mut m, self.pair, true);
        }
    }
}

/// Drops expired counters, then, if still full, the tenth with the oldest last failure.
fn evict(map: &mut HashMap<Key, Counter>, now: Instant, window: Duration, max_keys: usize) {
    map.retain(|_, c| now.duration_since(c.start) <= window);
    if map.len() < max_keys {
        return;
    }
    let mut lasts: Vec<Instant> = map.values().map(|c| c.last).collect();
    let n = (max_keys / 10).min(lasts.len().saturating_sub(1));
    let (_, cut, _) = lasts.select_nth_unstable(n);
    let cut = *cut;
    map.retain(|_, c| c.last > cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            window: Duration::from_secs(60),
            max_pair: 2,
            max_source: 4,
            account_budget: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_keys: MAX_KEYS,
        }
    }

    #[test]
    fn reserves_refuses_and_releases() {
        let l = AuthLimiter::new(limits());
        let s = l.source_key(Some("192.0.2.1".parse::<IpAddr>().unwrap()));
        let t = l.source_key(Some("192.0.2.2".parse::<IpAddr>().unwrap()));
        let acct = "alice@example.org";
        // Two reservations of one pair pass, the third is refused.
        let _a = l.begin(s, acct).unwrap();
        let _b = l.begin(s, acct).unwrap();
        assert_eq!(l.begin(s, acct).unwrap_err(), Refused);
        // Another source with no failure is never refused, even over the budget.
        let c = l.begin(t, acct).unwrap();
        let d = l.begin(t, acct).unwrap();
        assert!(l.begin(t, acct).is_err(), "pair limit of t");
        d.succeeded(&l);
        c.succeeded(&l);
        // t has no failure left and may try again; the account now has 3 failures,
        // then 4 (the budget) with one from yet another source.
        let _e = l.begin(t, acct).unwrap();
        let z = l.source_key(Some("192.0.2.9".parse::<IpAddr>().unwrap()));
        let _g = l.begin(z, acct).unwrap();
        // Over the account's budget, a source that failed elsewhere is refused on it...
        let v = l.source_key(Some("192.0.2.4".parse::<IpAddr>().unwrap()));
        l.failure(v);
        assert!(l.begin(v, acct).is_err());
        // ...and a source that never failed is not.
        let w = l.source_key(Some("192.0.2.5".parse::<IpAddr>().unwrap()));
        let _f = l.begin(w, acct).unwrap();
        // Growing delay, capped.
        let u = l.source_key(Some("192.0.2.3".parse::<IpAddr>().unwrap()));
        l.failure(u);
        assert_eq!(l.delay(u), Duration::from_millis(10));
        l.failure(u);
        assert_eq!(l.delay(u), Duration::from_millis(20));
        l.failure(u);
        l.failure(u);
        assert_eq!(l.delay(u), Duration::from_millis(50));
        assert!(l.source_blocked(u));
        // IPv6 hosts in one /64 share a key; onion circuits are told apart.
        let x = l.source_key(Some("2001:db8::1".parse::<IpAddr>().unwrap()));
        let y = l.source_key(Some("2001:db8::2".parse::<IpAddr>().unwrap()));
        assert_eq!(x, y);
        assert_ne!(
            l.source_key(Source::OnionCircuit(1)),
            l.source_key(Source::OnionCircuit(2))
        );
    }

    #[test]
    fn evicts_oldest_instead_of_clearing() {
        let mut m = HashMap::new();
        let t0 = Instant::now();
        for i in 0..MAX_KEYS as u64 {
            let at = t0 + Duration::from_micros(i);
            m.insert(
                Key(i),
                Counter {
                    start: at,
                    last: at,
                    count: 1,
                },
            );
        }
        evict(
            &mut m,
            t0 + Duration::from_secs(1),
            Duration::from_secs(60),
            MAX_KEYS,
        );
        assert!(
            m.len() < MAX_KEYS && m.len() >= MAX_KEYS * 8 / 10,
            "{}",
            m.len()
        );
        assert!(!m.contains_key(&Key(0)), "the oldest is dropped");
        assert!(
            m.contains_key(&Key(MAX_KEYS as u64 - 1)),
            "the newest is kept"
        );
    }
}
