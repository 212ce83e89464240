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
    /// Kept as written, so that a wrong name is reported with the other problems;
    /// read it parsed with [`TlsConfig::min_version`].
    pub(super) min_version: String,
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
            min_version: TlsVersion::V1_2.as_str().to_owned(),
            session_resumption: false,
        }
    }
}

impl TlsConfig {
    /// The lowest TLS version accepted (`tls.min_version`), or `None` when the text
    /// names no version, which [`Config::validate`](super::Config::validate) reports.
    pub fn min_version(&self) -> Option<TlsVersion> {
        TlsVersion::parse(&self.min_version)
    }
}

/// A TLS protocol version, as `tls.min_version` names it: the lowest version the
/// server accepts (RFC 9325 §3.1.1: TLS 1.2 at least, TLS 1.3 preferred).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TlsVersion {
    /// TLS 1.2 (RFC 5246), `"1.2"`: TLS 1.2 and 1.3 clients are accepted. The default.
    #[default]
    V1_2,
    /// TLS 1.3 (RFC 8446), `"1.3"`: TLS 1.2 clients are refused in the handshake.
    V1_3,
}

impl TlsVersion {
    /// Every version, oldest first.
    pub const ALL: [TlsVersion; 2] = [TlsVersion::V1_2, TlsVersion::V1_3];

    /// The name in the configuration: `"1.2"` or `"1.3"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TlsVersion::V1_2 => "1.2",
            TlsVersion::V1_3 => "1.3",
        }
    }

    /// The version a configuration name stands for (exactly as [`TlsVersion::as_str`]
    /// writes it), or `None`.
    pub fn parse(name: &str) -> Option<TlsVersion> {
        TlsVersion::ALL.into_iter().find(|v| v.as_str() == name)
    }
}
