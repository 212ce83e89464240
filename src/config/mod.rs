//! The TOML configuration: its documented defaults, parsing and validation.
//!
//! A configuration file is TOML with one table per concern. Every key is optional:
//! an omitted key, table or an empty file takes the defaults of [`Config::default`],
//! which are also, key by key and with their meaning, unit, range, RFC/XEP and
//! privacy effect, the text of [`Config::EXAMPLE`] (`src/config/example.toml`).
//!
//! | table         | struct             | covers                                         |
//! |---------------|--------------------|------------------------------------------------|
//! | `[server]`    | [`ServerConfig`]   | hosted domains (RFC 6120 §2.1), state directory |
//! | `[listeners]` | [`ListenersConfig`]| STARTTLS (RFC 6120 §5) and direct TLS (XEP-0368) |
//! | `[tls]`       | [`TlsConfig`]      | certificate, key, lowest TLS version            |
//! | `[limits]`    | [`LimitsConfig`]   | stanza size/depth, resources (RFC 6120 §7, §13.12) |
//! | `[auth]`      | [`AuthConfig`]     | SCRAM iterations (RFC 5802), login rate limits  |
//! | `[roster]`    | [`RosterConfig`]   | roster quotas (RFC 6121 §2)                     |
//! | `[offline]`   | [`OfflineConfig`]  | offline messages (XEP-0160)                     |
//! | `[version]`   | [`VersionConfig`]  | software version (XEP-0092)                     |
//! | `[muc]`       | [`MucConfig`]      | multi-user chat rooms (XEP-0045)                |
//! | `[http]`      | [`HttpConfig`]     | the HTTP listener (uploads, pastes, fingerprints) |
//! | `[pastebin]`  | [`PastebinConfig`] | long messages moved to pastes (issue 5)         |
//! | `[upload]`    | [`UploadConfig`]   | HTTP File Upload (XEP-0363)                     |
//! | `[log]`       | [`LogConfig`]      | log level                                       |
//! | `[tor]`       | [`TorConfig`]      | embedded Tor (Arti) and its onion service (rend-spec-v3) |
//!
//! [`Config::from_toml_str`] parses, then reports **every** problem at once in
//! [`ConfigError::Invalid`]: each unknown key (with a "did you mean" hint when a known
//! key is close) and each invalid value, each named by its dotted key
//! (`limits.max_depth`, `listeners.c2s[1]`). Unknown keys are collected with
//! `serde_ignored` rather than `#[serde(deny_unknown_fields)]`, which would stop at
//! the first one. A value of the wrong TOML type, or malformed TOML, stops parsing
//! and is reported alone as [`ConfigError::Syntax`].
//!
//! # Adding a section
//! A later feature (say `[muc]`) adds, all in this module:
//! 1. a struct `MucConfig` with the same derives and `#[serde(default)]`, each field
//!    documented with its default, unit, range, RFC/XEP and privacy effect, and a
//!    field `pub muc: MucConfig` on [`Config`];
//! 2. `impl Default for TorConfig` with the documented values (and, where the
//!    development set-up differs, a change in [`Config::development`]);
//! 3. its checks in `validate.rs`, pushing a `Problem` per bad key;
//! 4. a commented `[muc]` table in `example.toml` with every key at its default.
//!
//! The tests keep these in step: the example must parse to [`Config::default`] and
//! must contain exactly the keys that `Config::default()` serializes to, so a field
//! missing from the example (or an example key missing from the struct) fails them.
//!
//! # Security
//! - Unknown keys are errors: a misspelt privacy setting never silently falls back to
//!   its default.
//! - The defaults listen on loopback only and keep the lowest TLS version at 1.2.
//! - `tor.enabled` defaults to `true` in a configuration file, so a real server is
//!   reachable as an onion service (and contacts Tor relays); the development server
//!   ([`Config::development`]) has it off. `tor.testing.network` is only a path here:
//!   its environment guard is enforced at start-up ([`crate::tor::launch`]).
//! - The configuration holds no secrets (only paths to them), so error messages may
//!   quote configured values; they never quote anything else.
//! - This module does no logging and, apart from [`Config::load`] reading the one
//!   file, no I/O.
//!
//! # Limitations
//! - Validation is pure: it does not check that the certificate, key or state
//!   directory exist or are readable, nor that addresses can be bound (a wildcard
//!   address and a specific address on the same port are not detected as a clash).
//! - A type error (e.g. a string where a number belongs) stops parsing, so it is
//!   reported without the unknown-key and range problems of the rest of the file.
//! - Duplicate hosted domains are compared after normalization, but a domain must
//!   already be written in normalized form.

mod validate;

#[cfg(test)]
pub(crate) use validate::TOR_LISTENER_KINDS;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole configuration: one field per TOML table.
///
/// Every table may be omitted and takes its [`Default`]. Parse with
/// [`Config::from_toml_str`] or [`Config::load`], which also validate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    /// `[server]`: hosted domains and the state directory.
    pub server: ServerConfig,
    /// `[listeners]`: client listening addresses.
    pub listeners: ListenersConfig,
    /// `[tls]`: certificate, key and lowest TLS version.
    pub tls: TlsConfig,
    /// `[limits]`: stream and account resource limits.
    pub limits: LimitsConfig,
    /// `[auth]`: SASL credential strength and login rate limits.
    pub auth: AuthConfig,
    /// `[roster]`: roster quotas (RFC 6121 §2).
    pub roster: RosterConfig,
    /// `[offline]`: offline message storage (XEP-0160).
    pub offline: OfflineConfig,
    /// `[version]`: software version answers (XEP-0092).
    pub version: VersionConfig,
    /// `[muc]`: multi-user chat (XEP-0045).
    pub muc: MucConfig,
    /// `[http]`: the HTTP listener (uploads, pastebin, fingerprints page).
    pub http: HttpConfig,
    /// `[pastebin]`: long messages replaced by a link to a paste.
    pub pastebin: PastebinConfig,
    /// `[upload]`: HTTP File Upload (XEP-0363).
    pub upload: UploadConfig,
    /// `[log]`: diagnostic log level.
    pub log: LogConfig,
    /// `[tor]`: the embedded Tor client (Arti) and the onion service.
    pub tor: TorConfig,
}

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

/// `[auth]`: SASL (RFC 6120 §6) credential strength, failed-login limits and the cost
/// of password checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// PBKDF2 iteration count for new SCRAM credentials (RFC 5802 §5.1, RFC 7677 §4),
    /// also shown for accounts that do not exist. Range `4096..=1_000_000`.
    /// Default `4096`.
    pub scram_iterations: u32,
    /// Delay before answering the first failed login of a source, in milliseconds;
    /// each further failure of that source within the window doubles it, up to
    /// [`AuthConfig::max_failure_delay_ms`]. Range `0..=60_000`. Default `1000`.
    pub failure_delay_ms: u64,
    /// Largest delay before answering a failed login, in milliseconds.
    /// Range `0..=600_000`. Default `30_000`.
    pub max_failure_delay_ms: u64,
    /// Failed logins on one account from one connection source within
    /// [`AuthConfig::failure_window_secs`] after which that source's further tries on
    /// that account are refused. Other sources are not affected. Counted before the
    /// password is checked, so parallel guesses cannot exceed it.
    /// Range `1..=1000`. Default `5`.
    pub max_failures_per_account: u32,
    /// Failed logins on one account from all sources within the window after which
    /// sources that have failed (on any account) are refused on it; a source with no
    /// failure is never refused. Range `1..=1_000_000`. Default `100`.
    pub account_failure_budget: u32,
    /// Failed logins from one connection source within the window that lock that
    /// source. Privacy: the address (or onion circuit) is kept in memory only, hashed.
    /// Range `1..=10_000`. Default `20`.
    pub max_failures_per_source: u32,
    /// Window of the failure counters, in seconds. Range `1..=86_400`. Default `300`.
    pub failure_window_secs: u64,
    /// Failure counters kept in memory at most (one per source, per account and per
    /// (account, source) that failed in the window); beyond, the tenth with the oldest
    /// last failure is dropped, so recent failures survive a flood of new names.
    /// Range `1000..=10_000_000`. Default `100_000`.
    pub max_failure_counters: u32,
    /// PLAIN password checks (argon2id, 19 MiB each) run at once; further logins wait.
    /// `0` means the number of CPU cores. The server keeps this many argon2 working
    /// memories. Range `0..=1024`. Default `0`.
    pub max_parallel_password_checks: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            scram_iterations: 4096,
            failure_delay_ms: 1000,
            max_failure_delay_ms: 30_000,
            max_failures_per_account: 5,
            account_failure_budget: 100,
            max_failures_per_source: 20,
            failure_window_secs: 300,
            max_failure_counters: 100_000,
            max_parallel_password_checks: 0,
        }
    }
}

/// `[roster]`: what an account may store in its roster (RFC 6121 §2). Refusals are
/// stanza errors on the roster set (or on the subscription presence that would add an
/// item); nothing already stored is touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RosterConfig {
    /// Most items in one roster; adding one more is refused with
    /// `<resource-constraint/>` (updating an existing item always works).
    /// Range `1..=100_000`. Default `1000`.
    pub max_items: u32,
    /// Most `<group/>` elements on one item (RFC 6121 §2.1.2.6); more are refused with
    /// `<not-acceptable/>`. Range `1..=1000`. Default `32`.
    pub max_groups_per_item: u32,
    /// Longest item name or group name, in bytes of UTF-8 (RFC 6121 §2.3.3:
    /// `<not-acceptable/>` beyond). Range `1..=65_535`. Default `1024`.
    pub max_name_bytes: u32,
}

impl Default for RosterConfig {
    fn default() -> Self {
        Self {
            max_items: 1000,
            max_groups_per_item: 32,
            max_name_bytes: 1024,
        }
    }
}

/// `[offline]`: offline message storage (XEP-0160).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OfflineConfig {
    /// Store messages for accounts with no available session. Privacy: they stay on
    /// disk until delivered. Default `true`.
    pub enabled: bool,
    /// Most stored messages per account. Range `1..=10_000`. Default `100`.
    pub max_messages: u32,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_messages: 100,
        }
    }
}

/// `[version]`: software version answers (XEP-0092).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionConfig {
    /// Answer `jabber:iq:version` with the name and version, never the operating
    /// system. Privacy: `false` hides the version. Default `true`.
    pub enabled: bool,
}

impl Default for VersionConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[muc]`: the XEP-0045 Multi-User Chat service, one per hosted domain on
/// `<subdomain>.<domain>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MucConfig {
    /// Run the service. Default `true`.
    pub enabled: bool,
    /// The service's domain is `<subdomain>.<domain>` for every hosted domain; one DNS
    /// label (`a-z`, `0-9`, `-`). Default `"conference"`.
    pub subdomain: String,
    /// Who may create rooms: `"local"` (accounts of this server), `"admins"` (server
    /// admins; none are configured yet, so nobody) or `"anyone"`. Default `"local"`.
    pub room_creation: String,
    /// Messages replayed to a joiner by default (the room option `muc#maxhistoryfetch`
    /// starts at this value). Range `0..=history_max`. Default `20`.
    pub history_default: u32,
    /// Most messages a room owner may configure for the history (kept in memory only).
    /// Range `0..=1000`. Default `100`.
    pub history_max: u32,
    /// Whether room owners may turn on public logging (`muc#roomconfig_enablelogging`).
    /// Privacy: off, rooms cannot claim to be logged. Default `false`.
    pub public_logs_available: bool,
    /// Occupants a new room admits (`muc#roomconfig_maxusers`). Range `1..=10_000`.
    /// Default `200`.
    pub default_max_occupants: u32,
    /// Most rooms one account may have created that still exist on one service; a
    /// further creation is refused with `<resource-constraint/>`. Range `1..=100_000`.
    /// Default `100`.
    pub max_rooms_per_account: u32,
    /// Most rooms of one service one account may be an occupant of at once; a further
    /// join is refused with `<resource-constraint/>`. Range `1..=100_000`. Default `500`.
    pub max_joined_rooms_per_account: u32,
    /// Bytes of serialized messages one room's in-memory history may hold; the oldest
    /// are dropped beyond (whatever `history_max` says). Range `1024..=1_073_741_824`.
    /// Default `1048576` (1 MiB).
    pub history_max_bytes_per_room: u64,
    /// Bytes of history all rooms of one service may hold together; beyond, the room
    /// being written to drops its oldest messages, and a message that still does not
    /// fit is delivered but not kept in the history.
    /// Range `history_max_bytes_per_room..=17_179_869_184`. Default `67108864` (64 MiB).
    pub history_max_bytes_total: u64,
    /// Wrong passwords one account may try on one password-protected room within
    /// `password_failure_window_secs`; then joins of that room by that account are
    /// refused with `<resource-constraint/>` (type `wait`) until the window passes.
    /// Range `1..=1000`. Default `5`.
    pub password_max_failures: u32,
    /// Window of the password failure counter, in seconds. Range `1..=86_400`.
    /// Default `300`.
    pub password_failure_window_secs: u64,
}

impl Default for MucConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            subdomain: "conference".to_owned(),
            room_creation: "local".to_owned(),
            history_default: 20,
            history_max: 100,
            public_logs_available: false,
            default_max_occupants: 200,
            max_rooms_per_account: 100,
            max_joined_rooms_per_account: 500,
            history_max_bytes_per_room: 1 << 20,
            history_max_bytes_total: 64 << 20,
            password_max_failures: 5,
            password_failure_window_secs: 300,
        }
    }
}

/// `[http]`: the HTTP listener serving uploads (XEP-0363), pastes and the
/// fingerprints page. HTTPS with the server certificate by default; plain HTTP only
/// on loopback (and behind the onion service, whose virtual port `http` always
/// enters it in plain HTTP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Run the HTTP listener. Default `true`.
    pub enabled: bool,
    /// Listening addresses, each `"ip:port"`; port 0 asks the system for a free
    /// port. May be empty (then only the onion service's `http` port serves HTTP).
    /// Default `["127.0.0.1:5443"]` (loopback only).
    pub listen: Vec<String>,
    /// Serve HTTPS with the server certificate. `false` (plain HTTP) is allowed only
    /// when every listen address is loopback. Default `true`.
    pub tls: bool,
    /// Clearnet base URL handed out in stanzas (no trailing slash), e.g.
    /// `"https://xmpp.example.org"`. `""` derives it from the first bound address:
    /// `"https://<first domain>:<port>"` with TLS, `"http://127.0.0.1:<port>"` without.
    /// Default `""`.
    pub public_url: String,
    /// Seconds a response may make no progress in being sent (the client stopped
    /// reading) before its connection is dropped, freeing what it holds (e.g. a place
    /// under `upload.max_concurrent_downloads`). Range `1..=3600`. Default `30`.
    pub send_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: vec!["127.0.0.1:5443".to_owned()],
            tls: true,
            public_url: String::new(),
            send_timeout_secs: 30,
        }
    }
}

/// `[pastebin]`: long messages are stored as pastes (served by the HTTP listener under
/// `/pastebin/`) and their body replaced by their first line and the paste's URL, with a
/// `jabber:x:oob` URL (XEP-0066). End-to-end encrypted messages are never touched.
/// Privacy: a paste is plaintext the server stores until it expires, linked to nothing
/// but its random URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PastebinConfig {
    /// Paste long messages at all (needs an HTTP base URL: `[http]` or the onion
    /// service). Default `true`.
    pub enabled: bool,
    /// Paste groupchat messages of room occupants. Default `true`.
    pub rooms: bool,
    /// Paste `chat` and `normal` messages between local accounts. Default `false`.
    pub private_messages: bool,
    /// A body with more characters (Unicode scalar values, not bytes) is pasted.
    /// Range `1..=1_000_000`. Default `500`.
    pub max_chars: u32,
    /// A body with this many lines or more is pasted. Range `2..=10_000`. Default `5`.
    pub max_lines: u32,
    /// The first line kept in the message is cut to this many characters.
    /// Range `0..=1000`. Default `150`.
    pub summary_chars: u32,
    /// Seconds a paste is served; then it answers 404 and is deleted.
    /// Range `1..=31_536_000` (a year). Default `86400` (24 h).
    pub expire_secs: u64,
    /// Pastes one account may cause in any 24 hours (counted in memory only, never
    /// stored with the paste); a long message beyond is refused with
    /// `<resource-constraint/>` rather than delivered in full. Range `1..=1_000_000`.
    /// Default `100`.
    pub max_pastes_per_day: u32,
}

impl Default for PastebinConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rooms: true,
            private_messages: false,
            max_chars: 500,
            max_lines: 5,
            summary_chars: 150,
            expire_secs: 86_400,
            max_pastes_per_day: 100,
        }
    }
}

/// `[upload]`: XEP-0363 HTTP File Upload, one service per hosted domain on
/// `<subdomain>.<domain>`, storing files under `<state_dir>/uploads` and serving them
/// on the HTTP listener (needs `http.enabled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadConfig {
    /// Run the service. Default `true`.
    pub enabled: bool,
    /// The service's domain is `<subdomain>.<domain>` for every hosted domain; one DNS
    /// label. Default `"upload"`.
    pub subdomain: String,
    /// Largest file accepted, in bytes, advertised in disco (XEP-0363 §2, XEP-0128).
    /// Range `1..=1073741824` (1 GiB). Default `10485760` (10 MiB).
    pub max_file_bytes: u64,
    /// Bytes an account may request slots for in any 24 hours (counted at request
    /// time). At least `max_file_bytes`. Default `104857600` (100 MiB).
    pub daily_quota_bytes: u64,
    /// Seconds after which a file (and what links it to its uploader) is deleted from
    /// disk and the database. Range `1..=31536000` (a year). Default `604800` (7 days).
    pub expire_secs: u64,
    /// Seconds a slot accepts its upload (the PUT token's lifetime). Range `1..=86400`.
    /// Default `300`.
    pub slot_valid_secs: u64,
    /// Files served (GET) at once, all clients together; each is streamed from disk.
    /// A GET beyond this is answered `503 Service Unavailable` with `Retry-After`.
    /// Range `1..=10000`. Default `64`.
    pub max_concurrent_downloads: u32,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            subdomain: "upload".to_owned(),
            max_file_bytes: 10 * 1024 * 1024,
            daily_quota_bytes: 100 * 1024 * 1024,
            expire_secs: 7 * 24 * 3600,
            slot_valid_secs: 300,
            max_concurrent_downloads: 64,
        }
    }
}

/// `[log]`: the diagnostic log, which never contains passwords, keys, message
/// bodies, SASL data or IP addresses at any level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// One of `"error"`, `"warn"`, `"info"`, `"debug"`, `"trace"`. Default `"info"`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
        }
    }
}

/// `[tor]`: the embedded Tor client (Arti) and its onion service
/// (rend-spec-v3; see [`crate::tor`]).
///
/// Enabled by default in a configuration file (`allium run --config`), disabled in
/// the development server ([`Config::development`]).
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
                TorPort::new(5222, "c2s"),
                TorPort::new(5223, "c2s_tls"),
                TorPort::new(5269, "s2s"),
                TorPort::new(80, "http"),
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
    /// The listener kind: `"c2s"`, `"c2s_tls"`, `"s2s"` or `"http"`.
    pub listener: String,
}

impl TorPort {
    /// A mapping from `virtual_port` to the listener kind `listener`.
    pub fn new(virtual_port: u16, listener: &str) -> Self {
        Self {
            virtual_port,
            listener: listener.to_owned(),
        }
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

/// One problem found in a configuration: the dotted key it concerns and what is
/// wrong. Displays as `"key: message"`, e.g.
/// `limits.max_depth: must be between 8 and 256 (got 4)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, with `[i]` for a list element: `"limits.max_depth"`,
    /// `"listeners.c2s[1]"`, or the whole table for an unknown one (`"tor"`).
    pub key: String,
    /// What is wrong, in lower case, naming the allowed values and the value found.
    pub message: String,
}

impl Problem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(thiserror::Error, Debug)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}", path.display())]
    Io {
        /// The file that was to be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML, or a value has the wrong type (e.g. a string
    /// where a number belongs); the source names the place and the key.
    #[error("configuration is not valid TOML or has a value of the wrong type")]
    Syntax(#[source] toml::de::Error),
    /// The TOML was read but has unknown keys or invalid values: every one of them,
    /// displayed one per line as `key: message`.
    #[error("{}", display_problems(.0))]
    Invalid(Vec<Problem>),
}

fn display_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// The commented example configuration (`src/config/example.toml`): every key,
    /// each at its default, with meaning, unit, range, RFC/XEP and privacy effect.
    /// Parses to exactly [`Config::default`].
    pub const EXAMPLE: &'static str = include_str!("example.toml");

    /// The configuration `allium run` uses without `--config`: loopback listeners,
    /// domain `localhost`, a self-signed certificate, and no Tor (`tor.enabled =
    /// false`, so a development server never contacts the Tor network). Otherwise
    /// equal to [`Config::default`].
    pub fn development() -> Config {
        let mut c = Config::default();
        c.tor.enabled = false;
        c
    }

    /// Parses TOML text, then checks it: every unknown key and every invalid value
    /// is reported together.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`] if the text is not TOML or a value has the wrong
    /// type; [`ConfigError::Invalid`] listing unknown keys first, then the problems
    /// of [`Config::validate`].
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::parse(text).map_err(ConfigError::Syntax)?;
        let mut unknown = Vec::new();
        let config: Config = serde_ignored::deserialize(deserializer, |path| {
            unknown.push(validate::path_segments(&path));
        })
        .map_err(ConfigError::Syntax)?;
        let mut problems = validate::unknown_key_problems(&unknown);
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Reads a UTF-8 TOML file and parses it with [`Config::from_toml_str`].
    ///
    /// # Errors
    /// [`ConfigError::Io`] if the file cannot be read (or is not UTF-8), otherwise as
    /// [`Config::from_toml_str`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml_str(&text)
    }

    /// Checks every value: hosted domains (RFC 7622 §3.2), listener addresses,
    /// the certificate/key pair, the TLS version, every range and the log level.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with **all** problems found, in key order.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The STARTTLS listener addresses (RFC 6120 §5), parsed. Entries that do not
    /// parse are skipped, so after a successful [`Config::validate`] this is every
    /// entry of `listeners.c2s`, in order.
    pub fn c2s_addrs(&self) -> Vec<SocketAddr> {
        parse_addrs(&self.listeners.c2s)
    }

    /// The direct TLS listener addresses (XEP-0368), parsed; as
    /// [`Config::c2s_addrs`] for `listeners.c2s_tls`.
    pub fn c2s_tls_addrs(&self) -> Vec<SocketAddr> {
        parse_addrs(&self.listeners.c2s_tls)
    }

    /// The HTTP listener addresses, parsed; as [`Config::c2s_addrs`] for
    /// `http.listen`.
    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        parse_addrs(&self.http.listen)
    }

    /// The state directory as a path; relative paths stay relative (to the working
    /// directory).
    pub fn state_dir(&self) -> PathBuf {
        PathBuf::from(&self.server.state_dir)
    }

    /// Arti's directory: `tor.state_dir` under `state_dir` (the server's state
    /// directory, which the command line may override), or `tor.state_dir` itself
    /// when it is absolute.
    pub fn tor_dir(&self, state_dir: &Path) -> PathBuf {
        state_dir.join(&self.tor.state_dir)
    }

    /// Whether the onion service is on: `tor.enabled` and `tor.onion_service.enabled`.
    pub fn onion_service_enabled(&self) -> bool {
        self.tor.enabled && self.tor.onion_service.enabled
    }
}

fn parse_addrs(list: &[String]) -> Vec<SocketAddr> {
    list.iter().filter_map(|a| a.parse().ok()).collect()
}

#[cfg(test)]
mod tests;
