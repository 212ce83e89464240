//! `[tor]`: the embedded Tor client (Arti), its onion service, the service's virtual
//! ports, restricted discovery and test-network settings.

use serde::{Deserialize, Serialize};

/// `[tor]`: the embedded Tor client (Arti) and its onion service
/// (rend-spec-v3; see [`crate::tor`]).
///
/// Enabled by default in a configuration file (`allium run --config`), disabled in
/// the development server ([`Config::development`](super::Config::development)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TorConfig {
    /// Start the embedded Tor client at all. Privacy: when `true` the server connects
    /// to the Tor network (to relays only; no DNS). Default `true` (`false` in the
    /// development server).
    pub enabled: bool,
    /// Arti's directory (its state, cache and the onion service key), relative to
    /// `server.state_dir` (an absolute path is used as is). Created with mode 0700.
    /// Must not be empty. Privacy: holds the onion service's secret identity key.
    /// Default `"tor"`.
    pub state_dir: String,
    /// `[tor.onion_service]`: the onion service clients reach the server through.
    pub onion_service: TorOnionServiceConfig,
    /// `[tor.testing]`: private test networks only.
    pub testing: TorTestingConfig,
}

impl Default for TorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            state_dir: "tor".to_owned(),
            onion_service: TorOnionServiceConfig::default(),
            testing: TorTestingConfig::default(),
        }
    }
}

/// `[tor.onion_service]`: the v3 onion service (rend-spec-v3) and its virtual ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TorOnionServiceConfig {
    /// Publish the onion service (needs `tor.enabled`). Default `true`.
    pub enabled: bool,
    /// Local name of the service, naming its key in the Tor state directory; 1 to 64
    /// characters from `a-z`, `0-9`, `-` and `_` (Arti's `HsNickname`). Changing it
    /// creates a new key, hence a new `.onion` address. Default `"allium"`.
    pub nickname: String,
    /// Virtual ports of the onion address and the listener kind each one feeds:
    /// `"c2s"` (STARTTLS, RFC 6120 §5), `"c2s_tls"` (direct TLS, XEP-0368), `"s2s"`
    /// and `"http"` (the HTTP listener, in plain HTTP). Streams to an unlisted port, or
    /// to a kind this server does not serve (`"s2s"`, or `"http"` with `http.enabled`
    /// false), are refused. Each virtual port at most once, none
    /// 0. Default 5222 → c2s, 5223 → c2s_tls, 5269 → s2s, 80 → http.
    pub ports: Vec<TorPort>,
    /// Ask clients for a proof of work when the service is under load (the onion
    /// service PoW defence of Tor proposal 327, Equi-X): while rendezvous requests
    /// pile up, the descriptor names an effort and requests are served by the work
    /// they carry, so a flood of introductions cannot starve honest clients. No cost
    /// while the service is not under load. Default `true`.
    pub proof_of_work: bool,
    /// Most rendezvous requests waiting while proof of work is on (Arti's
    /// `pow_rend_queue_depth`; each takes a few KiB). Range `16..=1_000_000`.
    /// Default `8192`.
    pub proof_of_work_queue_depth: u32,
    /// `[tor.onion_service.restricted_discovery]`: onion service client
    /// authorization.
    pub restricted_discovery: TorRestrictedDiscoveryConfig,
}

impl Default for TorOnionServiceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            nickname: "allium".to_owned(),
            ports: vec![
                TorPort::new(5222, ListenerKind::C2s.as_str()),
                TorPort::new(5223, ListenerKind::C2sTls.as_str()),
                TorPort::new(5269, ListenerKind::S2s.as_str()),
                TorPort::new(80, ListenerKind::Http.as_str()),
            ],
            proof_of_work: true,
            proof_of_work_queue_depth: 8192,
            restricted_discovery: TorRestrictedDiscoveryConfig::default(),
        }
    }
}

/// One virtual port of the onion service: `{ virtual = 5222, listener = "c2s" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TorPort {
    /// The port clients dial on the `.onion` address, `1..=65535`.
    #[serde(rename = "virtual")]
    pub virtual_port: u16,
    /// The listener kind: `"c2s"`, `"c2s_tls"`, `"s2s"` or `"http"`. Kept as
    /// written, so that a wrong name is reported with the other problems; read it
    /// parsed with [`TorPort::listener`].
    pub(super) listener: String,
}

impl TorPort {
    /// A mapping from `virtual_port` to the listener kind named `listener` (a name of
    /// [`ListenerKind::as_str`]; another one is kept, and reported by validation).
    pub fn new(virtual_port: u16, listener: &str) -> Self {
        Self {
            virtual_port,
            listener: listener.to_owned(),
        }
    }

    /// The listener kind this port feeds, or `None` when the text names no kind,
    /// which [`Config::validate`](super::Config::validate) reports.
    pub fn listener(&self) -> Option<ListenerKind> {
        ListenerKind::parse(&self.listener)
    }
}

/// The names of [`ListenerKind::ALL`], in order.
#[cfg(test)]
pub(crate) const TOR_LISTENER_KINDS: &[&str] = &[
    ListenerKind::C2s.as_str(),
    ListenerKind::C2sTls.as_str(),
    ListenerKind::S2s.as_str(),
    ListenerKind::Http.as_str(),
];

/// A listener kind a virtual port of the onion service can feed
/// (`tor.onion_service.ports[i].listener`); [`crate::tor::PortMap`] says how a stream
/// of each kind is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenerKind {
    /// Client-to-server with STARTTLS (RFC 6120 §5), `"c2s"`.
    C2s,
    /// Client-to-server with direct TLS (XEP-0368), `"c2s_tls"`.
    C2sTls,
    /// Server-to-server (RFC 6120 §2.5), `"s2s"`: not served yet.
    S2s,
    /// The HTTP listener (uploads, pastebin, fingerprints), `"http"`, in plain HTTP.
    Http,
}

impl ListenerKind {
    /// Every kind, in the order the configuration documents them.
    pub const ALL: [ListenerKind; 4] = [
        ListenerKind::C2s,
        ListenerKind::C2sTls,
        ListenerKind::S2s,
        ListenerKind::Http,
    ];

    /// Parses a configuration name (`"c2s"`, `"c2s_tls"`, `"s2s"`, `"http"`; exactly,
    /// in lower case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::C2s => "c2s",
            Self::C2sTls => "c2s_tls",
            Self::S2s => "s2s",
            Self::Http => "http",
        }
    }

    /// Whether this kind carries client-to-server streams (`c2s` or `c2s_tls`).
    pub fn is_client(self) -> bool {
        matches!(self, Self::C2s | Self::C2sTls)
    }
}

/// `[tor.onion_service.restricted_discovery]`: restricted discovery (onion service
/// client authorization, rend-spec-v3 "CLIENT-AUTH"): the descriptor is encrypted
/// to the listed clients, so nobody else can even find the service's introduction
/// points. For private providers with a known, small set of users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TorRestrictedDiscoveryConfig {
    /// Only the clients below can discover the service. Needs at least one client.
    /// Default `false`.
    pub enabled: bool,
    /// Clients' public discovery keys, each `"descriptor:x25519:<base32 key>"` (the
    /// C tor `.auth` file format), at most 160, no duplicates. Default `[]`.
    pub authorized_clients: Vec<String>,
}

/// `[tor.testing]`: settings for private test networks, never for production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TorTestingConfig {
    /// Path of an Arti TOML fragment (`[tor_network]`, `[path_rules]`,
    /// `[override_net_params]`, `[address_filter]`) replacing the Tor network with a
    /// private one. Honoured only when the environment variable
    /// `ALLIUM_TESTING_TOR_NETWORK=1` is also set; otherwise start-up fails. Privacy:
    /// a wrong network here means no anonymity at all. Default `""` (the real Tor
    /// network).
    pub network: String,
}
