//! `[tls]`: the server certificate and the lowest accepted TLS version.

use serde::{Deserialize, Serialize};

/// `[tls]`: the server certificate and lowest accepted TLS version
/// (RFC 6120 §5, §13.8; RFC 9325).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// Path of the PEM certificate chain, leaf first. `""` generates a self-signed
    /// certificate in the state directory. Set together with [`TlsConfig::key`] or
    /// leave both empty. Default `""`.
    pub certificate: String,
    /// Path of the PEM private key of the certificate. Both set or both empty.
    /// Default `""`.
    pub key: String,
    /// Lowest TLS version accepted: `"1.2"` or `"1.3"` (RFC 8446). Default `"1.2"`.
    pub min_version: String,
    /// Whether clients may resume TLS sessions (TLS 1.3 tickets, TLS 1.2 session IDs).
    /// Privacy: a resumed session links two connections of the same client, also over
    /// Tor. Default `false` (every connection makes a full handshake).
    pub session_resumption: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            certificate: String::new(),
            key: String::new(),
            min_version: "1.2".to_owned(),
            session_resumption: false,
        }
    }
}
