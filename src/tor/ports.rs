//! The onion service's virtual port map (`tor.onion_service.ports`): which listener
//! kind a stream to a virtual port of the `.onion` address enters.
//!
//! A stream is served only when its port is mapped to a kind that exists in this
//! server: `c2s` (STARTTLS, RFC 6120 §5), `c2s_tls` (direct TLS, XEP-0368) and `http`
//! (plain HTTP, [`crate::http`]; refused when `http.enabled` is false). Ports mapped
//! to `s2s` are accepted in the configuration and refused until that listener exists;
//! unmapped ports are refused.

use std::collections::BTreeMap;

use crate::c2s::Entry;
use crate::config::TorPort;

pub use crate::config::ListenerKind;

// The kinds and their names belong to the configuration; how each one is served is
// decided here.
impl ListenerKind {
    /// How a stream of this kind enters the client session code, or `None` if this
    /// server has no such listener yet.
    pub fn entry(self) -> Option<Entry> {
        match self {
            Self::C2s => Some(Entry::StartTls),
            Self::C2sTls => Some(Entry::DirectTls),
            Self::S2s | Self::Http => None,
        }
    }
}

/// What to do with a stream to a virtual port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Serve it as a client stream entering this way.
    Serve(Entry),
    /// Serve it as plain HTTP ([`crate::http::serve_io`] with
    /// [`crate::http::Via::Onion`]).
    Http,
    /// The port is mapped to a listener kind this server does not have yet: refuse.
    NotAvailable(ListenerKind),
    /// The port is not mapped: refuse.
    Unmapped,
}

/// Virtual port → listener kind, built from `tor.onion_service.ports`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortMap(BTreeMap<u16, ListenerKind>);

impl PortMap {
    /// Builds the map. Entries with port 0 or an unknown kind (which validation
    /// rejects) are skipped; for a port listed twice, the first entry wins.
    pub fn new(ports: &[TorPort]) -> Self {
        let mut map = BTreeMap::new();
        for p in ports {
            if p.virtual_port == 0 {
                continue;
            }
            if let Some(kind) = p.listener() {
                map.entry(p.virtual_port).or_insert(kind);
            }
        }
        Self(map)
    }

    /// Where a stream to virtual port `port` goes.
    pub fn dispatch(&self, port: u16) -> Dispatch {
        match self.0.get(&port) {
            None => Dispatch::Unmapped,
            Some(ListenerKind::Http) => Dispatch::Http,
            Some(kind) => match kind.entry() {
                Some(entry) => Dispatch::Serve(entry),
                None => Dispatch::NotAvailable(*kind),
            },
        }
    }

    /// Whether some port is served as a client stream (`c2s` or `c2s_tls`).
    pub fn serves_clients(&self) -> bool {
        self.0.values().any(|k| k.entry().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TorOnionServiceConfig;

    #[test]
    fn default_map_dispatch() {
        let m = PortMap::new(&TorOnionServiceConfig::default().ports);
        assert_eq!(m.dispatch(5222), Dispatch::Serve(Entry::StartTls));
        assert_eq!(m.dispatch(5223), Dispatch::Serve(Entry::DirectTls));
        assert_eq!(m.dispatch(5269), Dispatch::NotAvailable(ListenerKind::S2s));
        assert_eq!(m.dispatch(80), Dispatch::Http);
        for port in [0, 22, 443, 5224, 5280, 65535] {
            assert_eq!(m.dispatch(port), Dispatch::Unmapped, "{port}");
        }
        assert!(m.serves_clients());
    }

    #[test]
    fn custom_map_first_wins_and_bad_entries_skipped() {
        let m = PortMap::new(&[
            TorPort::new(443, "c2s_tls"),
            TorPort::new(443, "c2s"),
            TorPort::new(0, "c2s"),
            TorPort::new(1, "smtp"),
            TorPort::new(5269, "s2s"),
        ]);
        assert_eq!(m.dispatch(443), Dispatch::Serve(Entry::DirectTls));
        assert_eq!(m.dispatch(0), Dispatch::Unmapped);
        assert_eq!(m.dispatch(1), Dispatch::Unmapped);
        assert!(m.serves_clients());
        assert!(!PortMap::new(&[TorPort::new(5269, "s2s")]).serves_clients());
        assert_eq!(PortMap::default().dispatch(5222), Dispatch::Unmapped);
    }

    #[test]
    fn kind_names_round_trip() {
        for name in crate::config::TOR_LISTENER_KINDS {
            assert_eq!(ListenerKind::parse(name).unwrap().as_str(), *name);
        }
        assert_eq!(ListenerKind::parse("C2S"), None);
    }
}
