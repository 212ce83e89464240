//! Outbound streams through the embedded Tor client, and the guard that keeps
//! `.onion` names away from DNS.
//!
//! [`Connector::connect`] opens a stream through the same Arti client that hosts the
//! onion service: to a `.onion` address (rend-spec-v3 client side) or, by policy, to
//! any host name through an exit relay, which resolves the name itself. No name is
//! ever resolved locally. This is for federation over Tor (`s2s.tor`); nothing uses
//! it yet.
//!
//! Any other code that is about to resolve a host name (DNS SRV lookups for
//! federation, RFC 6120 §3.2) must call [`refuse_onion_dns`] first: an `.onion` name
//! sent to a DNS resolver leaks which onion service the server talks to (RFC 7686 §2).

use std::sync::Arc;

use arti_client::{DataStream, TorClient};
use tor_rtcompat::PreferredRuntime;

use super::Error;

/// Whether `host` is a name under the special-use `.onion` domain (RFC 7686),
/// case-insensitive, with or without a trailing dot.
pub fn is_onion(host: &str) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host);
    let len = h.len();
    len >= 6 && h.is_char_boundary(len - 6) && h[len - 6..].eq_ignore_ascii_case(".onion")
        || h.eq_ignore_ascii_case("onion")
}

/// The guard for every DNS resolution: `Ok(())` for an ordinary name.
///
/// # Errors
/// [`Error::OnionDns`] for a `.onion` name (RFC 7686 §2: such names must not be
/// resolved through DNS); reach it through [`Connector::connect`] instead.
pub fn refuse_onion_dns(host: &str) -> Result<(), Error> {
    if is_onion(host) {
        Err(Error::OnionDns)
    } else {
        Ok(())
    }
}

/// Opens streams through the embedded Tor client. Cheap to clone.
#[derive(Clone)]
pub struct Connector {
    client: Arc<TorClient<PreferredRuntime>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}

impl Connector {
    /// A connector over `client`.
    pub(super) fn new(client: Arc<TorClient<PreferredRuntime>>) -> Self {
        Self { client }
    }

    /// A stream to `host:port` through Tor: a `.onion` host through its onion service,
    /// any other name through an exit relay, which resolves it (never locally). Waits
    /// for bootstrap if needed. The stream implements tokio's `AsyncRead` and
    /// `AsyncWrite`.
    ///
    /// # Errors
    /// [`Error::Connect`] when Arti cannot reach the target (not bootstrapped, unknown
    /// onion service, exit policy, timeout…).
    pub async fn connect(&self, host: &str, port: u16) -> Result<DataStream, Error> {
        self.client
            .connect((host, port))
            .await
            .map_err(Error::Connect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onion_names_are_recognized() {
        for h in [
            "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion",
            "xmpp.25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion",
            "example.ONION",
            "example.onion.",
            "onion",
        ] {
            assert!(is_onion(h), "{h}");
            assert!(matches!(refuse_onion_dns(h), Err(Error::OnionDns)), "{h}");
        }
        for h in [
            "example.org",
            "onion.example.org",
            "example.onion.org",
            "xonion",
            "",
            ".",
            "é.onio",
            "ñonion",
        ] {
            assert!(!is_onion(h), "{h}");
            refuse_onion_dns(h).unwrap();
        }
    }
}
