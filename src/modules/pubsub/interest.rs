//! Who hears of a PEP node's items (XEP-0163 §4.3): every session that sent available
//! presence to the account (its contacts' sessions, through presence delivery) and the
//! account's own sessions, each with the `+notify` nodes of its XEP-0115 capabilities.
//!
//! # Bounds
//! An entry exists only while its session's available presence stands: unavailable
//! presence removes it. At most [`MAX_PER_ACCOUNT`] sessions are remembered per
//! account (more get no notifications, and can still retrieve items), so memory is
//! bounded by presence the server received.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jid::{BareJid, FullJid};

use super::caps::{Caps, Notify};

/// Most sessions remembered per account.
pub const MAX_PER_ACCOUNT: usize = 4096;

/// One session's interest.
#[derive(Debug)]
struct Interest {
    /// Its capabilities' cache key, if its presence had any.
    key: Option<String>,
    /// Its `+notify` nodes; `None` while its capabilities are being resolved.
    notify: Option<Arc<Notify>>,
    /// The accounts it sent available presence to.
    accounts: HashSet<BareJid>,
}

/// What the caller should do after [`Interests::available`].
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing (nothing new to send).
    Nothing,
    /// Send the last items of these accounts' nodes the session wants.
    SendLast(Vec<BareJid>, Arc<Notify>),
    /// Ask the session for its capabilities (XEP-0115 §6.3), then call
    /// [`Interests::resolved`].
    Resolve(Caps),
}

/// Sessions' interests, by session and by account.
#[derive(Debug, Default)]
pub struct Interests {
    by_session: HashMap<FullJid, Interest>,
    by_account: HashMap<BareJid, HashSet<FullJid>>,
}

impl Interests {
    /// `session` sent available presence to `account` with `caps`; `known` is the
    /// verified cache's answer for them.
    pub fn available(
        &mut self,
        account: &BareJid,
        session: &FullJid,
        caps: Option<Caps>,
        known: Option<Arc<Notify>>,
    ) -> Next {
        let set = self.by_account.entry(account.clone()).or_default();
        if !set.contains(session) && set.len() >= MAX_PER_ACCOUNT {
            return Next::Nothing;
        }
        set.insert(session.clone());
        let entry = self
            .by_session
            .entry(session.clone())
            .or_insert_with(|| Interest {
                key: None,
                notify: Some(Arc::new(Notify::new())),
                accounts: HashSet::new(),
            });
        let new_account = entry.accounts.insert(account.clone());
        let key = caps.as_ref().map(Caps::key);
        if key != entry.key {
            // New capabilities: everything the session wants is sent again.
            entry.key = key;
            entry.notify = match (&caps, known) {
                (None, _) => Some(Arc::new(Notify::new())),
                (Some(_), Some(n)) => Some(n),
                (Some(_), None) => None,
            };
            return match (&entry.notify, caps) {
                (Some(n), _) => Next::SendLast(entry.accounts.iter().cloned().collect(), n.clone()),
                (None, Some(c)) => Next::Resolve(c),
                (None, None) => Next::Nothing,
            };
        }
        match &entry.notify {
            Some(n) if new_account => Next::SendLast(vec![account.clone()], n.clone()),
            _ => Next::Nothing,
        }
    }

    /// `session`'s capabilities `key` resolved to `notify`: the accounts whose last
    /// items it should get now (none if its capabilities changed meanwhile).
    pub fn resolved(&mut self, session: &FullJid, key: &str, notify: Arc<Notify>) -> Vec<BareJid> {
        match self.by_session.get_mut(session) {
            Some(e) if e.key.as_deref() == Some(key) && e.notify.is_none() => {
                e.notify = Some(notify);
                e.accounts.iter().cloned().collect()
            }
            _ => Vec::new(),
        }
    }

    /// `session` sent unavailable presence to `account` (or to everyone, `None`).
    pub fn unavailable(&mut self, account: Option<&BareJid>, session: &FullJid) {
        let Some(e) = self.by_session.get_mut(session) else {
            return;
        };
        let gone: Vec<BareJid> = match account {
            Some(a) => e.accounts.take(a).into_iter().collect(),
            None => e.accounts.drain().collect(),
        };
        if e.accounts.is_empty() {
            self.by_session.remove(session);
        }
        for a in gone {
            if let Some(set) = self.by_account.get_mut(&a) {
                set.remove(session);
                if set.is_empty() {
                    self.by_account.remove(&a);
                }
            }
        }
    }

    /// Forgets everything about `account` (deleted).
    pub fn forget_account(&mut self, account: &BareJid) {
        if let Some(set) = self.by_account.remove(account) {
            for s in set {
                if let Some(e) = self.by_session.get_mut(&s) {
                    e.accounts.remove(account);
                    if e.accounts.is_empty() {
                        self.by_session.remove(&s);
                    }
                }
            }
        }
    }

    /// The `+notify` nodes of a session whose broadcast presence was seen, if known.
    pub fn notify_of(&self, session: &FullJid) -> Option<Arc<Notify>> {
        self.by_session.get(session).and_then(|e| e.notify.clone())
    }

    /// Whether `session`'s presence reached `account` (it is among its recipients).
    pub fn is_present_at(&self, session: &FullJid, account: &BareJid) -> bool {
        self.by_session
            .get(session)
            .is_some_and(|e| e.accounts.contains(account))
    }

    /// Sessions present at `account` that want notifications of `node`.
    pub fn targets(&self, account: &BareJid, node: &str) -> Vec<FullJid> {
        self.by_account
            .get(account)
            .map(|set| {
                set.iter()
                    .filter(|s| {
                        self.by_session
                            .get(*s)
                            .and_then(|e| e.notify.as_ref())
                            .is_some_and(|n| n.contains(node))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(ver: &str) -> Caps {
        Caps {
            hash: "sha-1".into(),
            node: "n".into(),
            ver: ver.into(),
        }
    }

    #[test]
    fn resolve_then_target_then_leave() {
        let mut i = Interests::default();
        let alice = BareJid::new("alice@example.org").unwrap();
        let bob = FullJid::new("bob@example.org/phone").unwrap();
        assert_eq!(
            i.available(&alice, &bob, Some(caps("v1")), None),
            Next::Resolve(caps("v1"))
        );
        assert!(i.targets(&alice, "urn:x").is_empty());
        let notify: Arc<Notify> = Arc::new(["urn:x".to_owned()].into_iter().collect());
        assert_eq!(
            i.resolved(&bob, &caps("v1").key(), notify.clone()),
            vec![alice.clone()]
        );
        assert_eq!(i.targets(&alice, "urn:x"), vec![bob.clone()]);
        assert!(i.targets(&alice, "urn:y").is_empty());
        // The same presence again sends nothing new.
        assert_eq!(
            i.available(&alice, &bob, Some(caps("v1")), Some(notify)),
            Next::Nothing
        );
        i.unavailable(Some(&alice), &bob);
        assert!(i.targets(&alice, "urn:x").is_empty());
        assert!(i.by_session.is_empty() && i.by_account.is_empty());
    }

    #[test]
    fn bounded_per_account() {
        let mut i = Interests::default();
        let alice = BareJid::new("alice@example.org").unwrap();
        for n in 0..MAX_PER_ACCOUNT + 5 {
            let s = FullJid::new(&format!("u{n}@example.org/r")).unwrap();
            i.available(&alice, &s, None, None);
        }
        assert_eq!(i.by_account[&alice].len(), MAX_PER_ACCOUNT);
        assert_eq!(i.by_session.len(), MAX_PER_ACCOUNT);
    }
}
