//! The onion service's virtual port map (`tor.onion_service.ports`): which listener
//! kind a stream to a virtual port of the `.onion` address enters.
//!
//! A stream is served only when its port is mapped to a kind that exists in this
//! server: `c2s` (STARTTLS, RFC 6120 §5), `c2s_tls` (direct TLS, XEP-0368) and `http`
//! (plain HTTP, [`crate::http`]; refused when `http.enabled` is false). Ports mapped
//! to `s2s` are accepted in the configuration and refused until that listener exists;
//! unmapped ports are refused.

use std::collections::BTreeMap;

use crate::config::TorPort;
use crate::listen::ListenerKind;

/// What to do with a stream to a virtual port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Serve it as this listener kind (through [`crate::listen::Dispatcher::serve`]).
    Serve(ListenerKind),
    /// The port is mapped to a listener kind this server does not serve (`s2s`, or
    /// `http` when the HTTP listener is disabled): refuse.
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

    /// Where a stream to virtual port `port` goes, when the server serves the kinds
    /// for which `served` is true ([`crate::listen::Dispatcher::serves`]).
    pub fn dispatch(&self, port: u16, served: impl Fn(ListenerKind) -> bool) -> Dispatch {
        match self.0.get(&port) {
            None => Dispatch::Unmapped,
            Some(&kind) if served(kind) => Dispatch::Serve(kind),
            Some(&kind) => Dispatch::NotAvailable(kind),
        }
    }

    /// Whether some port is mapped to a client stream kind (`c2s` or `c2s_tls`).
    pub fn serves_clients(&self) -> bool {
        self.0.values().any(|k| k.is_client())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TorOnionServiceConfig;

    /// The kinds a server with the HTTP listener serves.
    fn with_http(kind: ListenerKind) -> bool {
        kind != ListenerKind::S2s
    }

    #[test]
    fn default_map_dispatch() {
        let m = PortMap::new(&TorOnionServiceConfig::default().ports);
        assert_eq!(
            m.dispatch(5222, with_http),
            Dispatch::Serve(ListenerKind::C2s)
        );
        assert_eq!(
            m.dispatch(5223, with_http),
            Dispatch::Serve(ListenerKind::C2sTls)
        );
        assert_eq!(
            m.dispatch(5269, with_http),
            Dispatch::NotAvailable(ListenerKind::S2s)
        );
        assert_eq!(
            m.dispatch(80, with_http),
            Dispatch::Serve(ListenerKind::Http)
        );
        for port in [0, 22, 443, 5224, 5280, 65535] {
            assert_eq!(m.dispatch(port, with_http), Dispatch::Unmapped, "{port}");
        }
        assert!(m.serves_clients());
    }

    #[test]
    fn http_port_is_refused_without_the_http_listener() {
        let m = PortMap::new(&TorOnionServiceConfig::default().ports);
        let clients_only = ListenerKind::is_client;
        assert_eq!(
            m.dispatch(80, clients_only),
            Dispatch::NotAvailable(ListenerKind::Http)
        );
        assert_eq!(
            m.dispatch(5222, clients_only),
            Dispatch::Serve(ListenerKind::C2s)
        );
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
        assert_eq!(
            m.dispatch(443, with_http),
            Dispatch::Serve(ListenerKind::C2sTls)
        );
        assert_eq!(m.dispatch(0, with_http), Dispatch::Unmapped);
        assert_eq!(m.dispatch(1, with_http), Dispatch::Unmapped);
        assert!(m.serves_clients());
        assert!(!PortMap::new(&[TorPort::new(5269, "s2s")]).serves_clients());
        assert_eq!(
            PortMap::default().dispatch(5222, with_http),
            Dispatch::Unmapped
        );
    }
}
