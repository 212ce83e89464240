//! Caps on connections that are not yet a bound session (before TLS, SASL and resource
//! binding finished): `limits.max_preauth_connections` in total and
//! `limits.max_preauth_per_source` per source ([`AuthLimiter::source_key`]: the IPv4
//! address or the IPv6 /64, hashed).
//!
//! The total budget is shared fairly: when it is used up, a newcomer takes the place of
//! the oldest connection of the source that holds the most, if that source holds more
//! than the newcomer's source. So however many silent connections a set of sources
//! opens, a source holding fewer always gets in: with a per-source cap of `p`, no source
//! can keep another one out by holding more than its fair share.
//!
//! Onion service streams have no source: they share one bucket that has no per-source
//! cap but counts against the total and takes part in the fair sharing like any source.
//!
//! # Security
//! Only hashed keys are kept, in memory; nothing here is logged.
//!
//! [`AuthLimiter::source_key`]: super::ratelimit::AuthLimiter::source_key

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use super::ratelimit::Key;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its source already holds `max_preauth_per_source` connections.
    Source,
    /// The total is used up and no source holds more than the newcomer's.
    Total,
}

impl Refused {
    /// A short reason for the debug log.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Source => "per-source cap",
            Refused::Total => "total cap",
        }
    }
}

#[derive(Default)]
struct State {
    total: usize,
    next_id: u64,
    /// Per source (`None`: no source address), the admitted connections, oldest first.
    buckets: HashMap<Option<Key>, VecDeque<(u64, CancellationToken)>>,
}

/// The counters of connections before a bound session. Shared by every listener.
pub struct PreAuth {
    max_total: usize,
    max_per_source: usize,
    state: Mutex<State>,
}

/// An admitted connection's place: released when dropped. [`Permit::evicted`] fires when
/// a newcomer took the place (the connection must then be closed).
pub struct Permit {
    owner: Arc<PreAuth>,
    bucket: Option<Key>,
    id: u64,
    evicted: CancellationToken,
}

impl Permit {
    /// Fires when the connection lost its place to a newcomer.
    pub fn evicted(&self) -> &CancellationToken {
        &self.evicted
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut st = self.owner.lock();
        if let Some(q) = st.buckets.get_mut(&self.bucket)
            && let Some(pos) = q.iter().position(|(id, _)| *id == self.id)
        {
            q.remove(pos);
            if q.is_empty() {
                st.buckets.remove(&self.bucket);
            }
            st.total = st.total.saturating_sub(1);
        }
    }
}

impl PreAuth {
    /// Caps of `max_total` connections in all and `max_per_source` per source (both at
    /// least 1).
    pub fn new(max_total: usize, max_per_source: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total: max_total.max(1),
            max_per_source: max_per_source.max(1),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Connections currently admitted.
    pub fn count(&self) -> usize {
        self.lock().total
    }

    /// Admits a connection from `source` (`None`: no source address, e.g. an onion
    /// service stream), evicting the oldest connection of the largest source when the
    /// total is used up (see the module docs).
    ///
    /// # Errors
    /// [`Refused::Source`] when `source` holds `max_per_source` connections;
    /// [`Refused::Total`] when the total is used up and no source holds more than
    /// `source` does.
    pub fn admit(self: &Arc<Self>, source: Option<Key>) -> Result<Permit, Refused> {
        let mut st = self.lock();
        let held = st.buckets.get(&source).map_or(0, VecDeque::len);
        if source.is_some() && held >= self.max_per_source {
            return Err(Refused::Source);
        }
        if st.total >= self.max_total {
            let victim = st
                .buckets
                .iter()
                .max_by_key(|(_, q)| q.len())
                .filter(|(_, q)| q.len() > held)
                .map(|(k, _)| *k)
                .ok_or(Refused::Total)?;
            if let Some(q) = st.buckets.get_mut(&victim)
                && let Some((_, token)) = q.pop_front()
            {
                token.cancel();
                if q.is_empty() {
                    st.buckets.remove(&victim);
                }
                st.total = st.total.saturating_sub(1);
            }
        }
        let id = st.next_id;
        st.next_id = st.next_id.wrapping_add(1);
        let evicted = CancellationToken::new();
        st.buckets
            .entry(source)
            .or_default()
            .push_back((id, evicted.clone()));
        st.total += 1;
        Ok(Permit {
            owner: self.clone(),
            bucket: source,
            id,
            evicted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c2s::ratelimit::AuthLimiter;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    fn keys(n: u8) -> Vec<Option<Key>> {
        let l = AuthLimiter::new(crate::c2s::ratelimit::Limits {
            window: Duration::from_secs(1),
            max_pair: 1,
            max_source: 1,
            account_budget: 1,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            max_keys: 1000,
        });
        (0..n)
            .map(|i| Some(l.source_key(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i))))))
            .collect()
    }

    #[test]
    fn per_source_cap_and_release() {
        let p = PreAuth::new(100, 2);
        let k = keys(1)[0];
        let a = p.admit(k).unwrap();
        let _b = p.admit(k).unwrap();
        assert_eq!(p.admit(k).err(), Some(Refused::Source));
        drop(a);
        assert_eq!(p.count(), 1);
        let _c = p.admit(k).unwrap();
        // No source: no per-source cap.
        let none: Vec<_> = (0..10).map(|_| p.admit(None).unwrap()).collect();
        assert_eq!(p.count(), 12);
        drop(none);
        assert_eq!(p.count(), 2);
    }

    #[test]
    fn a_smaller_source_takes_the_place_of_the_largest() {
        let p = PreAuth::new(4, 3);
        let k = keys(3);
        let big: Vec<_> = (0..3).map(|_| p.admit(k[0]).unwrap()).collect();
        let _other = p.admit(k[1]).unwrap();
        // Full: the newcomer (0 held) evicts the oldest of the source holding 3.
        let _new = p.admit(k[2]).unwrap();
        assert!(big[0].evicted().is_cancelled());
        assert!(!big[1].evicted().is_cancelled());
        assert_eq!(p.count(), 4);
        // Now 2/1/1: a source holding 1 evicts from the one holding 2.
        let _again = p.admit(k[1]).unwrap();
        assert!(big[1].evicted().is_cancelled());
        // 1/2/1: the source holding 2 has nobody larger to evict.
        assert_eq!(p.admit(k[1]).err(), Some(Refused::Total));
        drop(big);
        assert_eq!(p.count(), 3);
    }
}
