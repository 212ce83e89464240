//! `[server]` (hosted domains, state directory) and `[listeners]` (client listening
//! addresses).

use serde::{Deserialize, Serialize};

/// `[server]`: what this server hosts and where it keeps its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Hosted XMPP domains, the domainparts of served JIDs (RFC 6120 §2.1,
    /// RFC 7622 §3.2). At least one, no duplicates, each a valid domainpart in
    /// normalized form. Default `["localhost"]`.
    pub domains: Vec<String>,
    /// State directory (database, generated keys and certificates). A relative path
    /// is relative to the working directory; must not be empty. Privacy: holds
    /// accounts, rosters and offline messages. Default `"allium-data"`.
    pub state_dir: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            domains: vec!["localhost".to_owned()],
            state_dir: "allium-data".to_owned(),
        }
    }
}

/// `[listeners]`: client listening addresses, each an `"ip:port"` socket address
/// (`"[::1]:5222"` for IPv6). An empty list disables that kind; at least one address
/// of either kind is required and no address may appear twice (port 0 excepted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListenersConfig {
    /// Client listeners that upgrade with STARTTLS (RFC 6120 §5).
    /// Default `["127.0.0.1:5222"]` (loopback only).
    pub c2s: Vec<String>,
    /// Client listeners with direct TLS (XEP-0368).
    /// Default `["127.0.0.1:5223"]` (loopback only).
    pub c2s_tls: Vec<String>,
}

impl Default for ListenersConfig {
    fn default() -> Self {
        Self {
            c2s: vec!["127.0.0.1:5222".to_owned()],
            c2s_tls: vec!["127.0.0.1:5223".to_owned()],
        }
    }
}
