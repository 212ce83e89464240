//! `[limits]`: resource limits per stream and per account.

use serde::{Deserialize, Serialize};

/// `[limits]`: resource limits per stream and per account. A stream exceeding a
/// stream limit is closed with `<policy-violation/>` (RFC 6120 §4.9.3.14, §13.12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Largest stanza accepted, in bytes: its bytes as received plus 128 per element and
    /// per run of text and 96 per attribute (about their size in memory), plus the
    /// namespace URI of each
    /// element or attribute whose serialization repeats it. Range `10_000..=16_777_216`.
    /// Default `262_144` (256 KiB).
    pub max_stanza_bytes: u64,
    /// Deepest element nesting accepted. Range `8..=256`. Default `32`.
    pub max_depth: u32,
    /// Most attributes on one element. Range `8..=1024`. Default `64`.
    pub max_attributes: u32,
    /// Longest namespace URI accepted in an `xmlns` declaration (stream header
    /// included), in bytes. Range `64..=65_536`. Default `1024`.
    pub max_namespace_bytes: u32,
    /// Most elements in one stanza, itself included. Range `16..=1_048_576`.
    /// Default `4096`.
    pub max_elements: u32,
    /// Most sessions (resources, RFC 6120 §7) per account at once.
    /// Range `1..=1000`. Default `10`.
    pub max_resources: u32,
    /// Stanzas queued for one session. Beyond, a stanza is bounced to its sender with
    /// `resource-constraint` (RFC 6120 §8.3.3.18), or stored offline when it is a message
    /// to the bare JID (XEP-0160). Range `1..=100_000`. Default `256`.
    pub session_queue: u32,
    /// Seconds from connect to a bound session. Range `1..=3600`. Default `60`.
    pub handshake_timeout_secs: u64,
    /// Most distinct recipients of directed presence (RFC 6121 §4.6) one session may
    /// have at once (MUC rooms joined count here too); a further one is refused with
    /// `<resource-constraint/>`. Range `1..=100_000`. Default `1000`.
    pub max_directed_presences: u32,
    /// Seconds from connect until TLS is up (STARTTLS done, or the direct TLS handshake
    /// finished); a slower connection is closed. Counts inside
    /// [`LimitsConfig::handshake_timeout_secs`]. Range `1..=3600`. Default `10`.
    pub pretls_timeout_secs: u64,
    /// Connections not yet bound to a resource (before TLS, SASL and binding finished),
    /// in total, onion service streams included. At the cap a new connection takes the
    /// place of the oldest one of the source holding the most, when that source holds
    /// more than the newcomer's; otherwise it is closed at once. Range `1..=1_000_000`.
    /// Default `1000`.
    pub max_preauth_connections: u32,
    /// Connections not yet bound from one source address (IPv4 address or IPv6 /64);
    /// more are closed at once. Onion service streams have no source and count only
    /// against [`LimitsConfig::max_preauth_connections`]. Privacy: the address is kept
    /// in memory only, hashed. Range `1..=100_000`. Default `16`.
    pub max_preauth_per_source: u32,
    /// Open connections in total, of every listener (c2s, c2s_tls, http) and the onion
    /// service together, bound sessions and connections before authentication alike;
    /// each counts from its acceptance until it ends. At the cap a new TCP connection is
    /// accepted and closed at once and a new onion stream is refused; refusals are logged
    /// as one warning at most every 10 s. Keep it above
    /// [`LimitsConfig::max_preauth_connections`] and below the open-file limit.
    /// Range `1..=1_000_000`. Default `20_000`.
    pub max_connections: u32,
    /// Seconds one write to a client may take (a stanza, or a stream error); a client
    /// that stops reading is closed when it passes, and what was queued for it is
    /// bounced to its senders or stored offline. Range `1..=3600`. Default `30`.
    pub write_timeout_secs: u64,
    /// Seconds without anything received from a bound client before the server sends it
    /// a XEP-0199 ping. Range `1..=86_400`. Default `300`.
    pub ping_interval_secs: u64,
    /// Seconds the client has to send anything after a server ping before its stream is
    /// closed with `connection-timeout` (RFC 6120 §4.9.3.4). Range `1..=3600`.
    /// Default `60`.
    pub ping_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_stanza_bytes: 262_144,
            max_depth: 32,
            max_attributes: 64,
            max_namespace_bytes: 1024,
            max_elements: 4096,
            max_resources: 10,
            session_queue: 256,
            handshake_timeout_secs: 60,
            max_directed_presences: 1000,
            pretls_timeout_secs: 10,
            max_preauth_connections: 1000,
            max_preauth_per_source: 16,
            max_connections: 20_000,
            write_timeout_secs: 30,
            ping_interval_secs: 300,
            ping_timeout_secs: 60,
        }
    }
}
