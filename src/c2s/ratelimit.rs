//! Failed-login accounting per account and per connection source.
//!
//! Each failed SASL exchange counts against the account name tried and against the
//! connection's source. When either has too many failures inside the window, further
//! attempts fail at once with `temporary-auth-failure` (RFC 6120 §6.5.12) until old
//! failures age out.
//!
//! # Security
//! Sources and account names are kept only as 64-bit keyed hashes (SHA-256 under a random
//! per-process key), never as addresses or names, and are never logged. Counting names
//! that do not exist too means a lock-out does not reveal whether an account exists.
//!
//! # Limitations
//! Anyone can lock an account out for one window by failing on purpose; the window is
//! short (default 5 minutes) and per-source limits slow down a single attacker.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Entries kept at most; the oldest are dropped beyond (memory bound under attack).
const MAX_KEYS: usize = 100_000;

/// A hashed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(u64);

/// Failed-login counters.
pub struct AuthLimiter {
    secret: [u8; 32],
    window: Duration,
    max_account: u32,
    max_source: u32,
    state: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl AuthLimiter {
    /// `max_account`/`max_source` failures within `window` block further attempts.
    pub fn new(window: Duration, max_account: u32, max_source: u32) -> Self {
        Self {
            secret: rand::random(),
            window,
            max_account,
            max_source,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, domain: &[u8], data: &[u8]) -> Key {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(domain);
        h.update(data);
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        Key(u64::from_le_bytes(b))
    }

    /// Key of a connection source: the IPv4 address, or the IPv6 /64 prefix (one host
    /// usually holds a whole /64). `None` (e.g. an onion service stream) shares one key.
    pub fn source_key(&self, ip: Option<IpAddr>) -> Key {
        match ip {
            Some(IpAddr::V4(v4)) => self.key(b"v4", &v4.octets()),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => self.key(b"v4", &v4.octets()),
                None => self.key(b"v6", &v6.octets()[..8]),
            },
            None => self.key(b"none", b""),
        }
    }

    /// Key of an account name (normalized bare JID).
    pub fn account_key(&self, jid: &str) -> Key {
        self.key(b"acct", jid.as_bytes())
    }

    fn count(&self, map: &mut HashMap<Key, VecDeque<Instant>>, k: Key, now: Instant) -> u32 {
        match map.get_mut(&k) {
            Some(q) => {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > self.window)
                {
                    q.pop_front();
                }
                q.len() as u32
            }
            None => 0,
        }
    }

    /// Whether the source is blocked now.
    pub fn source_blocked(&self, source: Key) -> bool {
        let Ok(mut m) = self.state.lock() else {
            return false;
        };
        self.count(&mut m, source, Instant::now()) >= self.max_source
    }

    /// Whether the account is blocked now.
    pub fn account_blocked(&self, account: Key) -> bool {
        let Ok(mut m) = self.state.lock() else {
            return false;
        };
        self.count(&mut m, account, Instant::now()) >= self.max_account
    }

    /// Records one failure for both keys.
    pub fn failure(&self, source: Key, account: Option<Key>) {
        let Ok(mut m) = self.state.lock() else { return };
        let now = Instant::now();
        if m.len() >= MAX_KEYS {
            let window = self.window;
            m.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) <= window));
            if m.len() >= MAX_KEYS {
                m.clear();
            }
        }
        for k in std::iter::once(source).chain(account) {
            let q = m.entry(k).or_default();
            q.push_back(now);
            while q.len() > 1024 {
                q.pop_front();
            }
        }
    }

    /// A successful login clears the account's failures.
    pub fn success(&self, account: Key) {
        if let Ok(mut m) = self.state.lock() {
            m.remove(&account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_clears_on_success() {
        let l = AuthLimiter::new(Duration::from_secs(60), 2, 3);
        let s = l.source_key(Some("192.0.2.1".parse().unwrap()));
        let a = l.account_key("alice@example.org");
        assert!(!l.account_blocked(a));
        l.failure(s, Some(a));
        l.failure(s, Some(a));
        assert!(l.account_blocked(a));
        assert!(!l.source_blocked(s));
        l.failure(s, None);
        assert!(l.source_blocked(s));
        l.success(a);
        assert!(!l.account_blocked(a));
        // IPv6 hosts in one /64 share a key.
        let x = l.source_key(Some("2001:db8::1".parse().unwrap()));
        let y = l.source_key(Some("2001:db8::2".parse().unwrap()));
        assert_eq!(x, y);
    }
}
