//! The TOML configuration: its documented defaults, parsing and validation.
//!
//! A configuration file is TOML with one table per concern. Every key is optional:
//! an omitted key, table or an empty file takes the defaults of [`Config::default`],
//! which are also, key by key and with their meaning, unit, range, RFC/XEP and
//! privacy effect, the text of [`Config::EXAMPLE`] (`src/config/example.toml`).
//!
//! | table         | struct             | file        | covers                                         |
//! |---------------|--------------------|-------------|------------------------------------------------|
//! | `[server]`    | [`ServerConfig`]   | `server.rs` | hosted domains (RFC 6120 §2.1), state directory |
//! | `[listeners]` | [`ListenersConfig`]| `server.rs` | STARTTLS (RFC 6120 §5) and direct TLS (XEP-0368) |
//! | `[tls]`       | [`TlsConfig`]      | `tls.rs`    | certificate, key, lowest TLS version            |
//! | `[limits]`    | [`LimitsConfig`]   | `limits.rs` | stanza size/depth, resources (RFC 6120 §7, §13.12) |
//! | `[auth]`      | [`AuthConfig`]     | `auth.rs`   | SCRAM iterations (RFC 5802), login rate limits  |
//! | `[roster]`    | [`RosterConfig`]   | `im.rs`     | roster quotas (RFC 6121 §2)                     |
//! | `[offline]`   | [`OfflineConfig`]  | `im.rs`     | offline messages (XEP-0160)                     |
//! | `[version]`   | [`VersionConfig`]  | `im.rs`     | software version (XEP-0092)                     |
//! | `[vcard]`     | [`VcardConfig`]    | `account.rs`| vCards (XEP-0054)                               |
//! | `[private]`   | [`PrivateConfig`]  | `account.rs`| private XML storage (XEP-0049)                  |
//! | `[last_activity]` | [`LastActivityConfig`] | `account.rs` | last activity and uptime (XEP-0012)   |
//! | `[contact]`   | [`ContactConfig`]  | `account.rs`| contact addresses (XEP-0157)                    |
//! | `[carbons]`   | [`CarbonsConfig`]  | `im.rs`     | message carbons (XEP-0280)                      |
//! | `[blocking]`  | [`BlockingConfig`] | `im.rs`     | block lists (XEP-0191)                          |
//! | `[muc]`       | [`MucConfig`]      | `muc.rs`    | multi-user chat rooms (XEP-0045)                |
//! | `[http]`      | [`HttpConfig`]     | `http.rs`   | the HTTP listener (uploads, pastes, fingerprints) |
//! | `[pastebin]`  | [`PastebinConfig`] | `http.rs`   | long messages moved to pastes (issue 5)         |
//! | `[upload]`    | [`UploadConfig`]   | `http.rs`   | HTTP File Upload (XEP-0363)                     |
//! | `[log]`       | [`LogConfig`]      | `log.rs`    | log level                                       |
//! | `[tor]`       | [`TorConfig`]      | `tor.rs`    | embedded Tor (Arti) and its onion service (rend-spec-v3) |
//! | `[pep]`       | [`PepConfig`]      | `pubsub.rs` | every account's PEP service (XEP-0163)          |
//! | `[pubsub]`    | [`PubsubConfig`]   | `pubsub.rs` | the publish-subscribe service (XEP-0060)        |
//!
//! This file keeps [`Config`], loading, [`Problem`] and [`ConfigError`]; each table's
//! struct lives in the file named above and is re-exported here, so it is
//! `crate::config::ServerConfig` wherever it is defined. The checks of every table
//! are in `validate.rs`.
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
//! A later feature (say `[gateway]`) adds:
//! 1. a file `gateway.rs` with a struct `GatewayConfig` with the same derives and
//!    `#[serde(default)]`, each field documented with its default, unit, range,
//!    RFC/XEP and privacy effect; here, `mod gateway;`, its re-export and a field
//!    `pub gateway: GatewayConfig` on [`Config`] (and a row in the table above);
//! 2. `impl Default for GatewayConfig` with the documented values (and, where the
//!    development set-up differs, a change in [`Config::development`]);
//! 3. its checks in `validate.rs`, pushing a `Problem` per bad key;
//! 4. a commented `[gateway]` table in `example.toml` with every key at its default.
//!
//! A key whose value is one of a few names ([`TlsVersion`], [`RoomCreation`],
//! [`LogLevel`], [`ListenerKind`]) stays a string in the struct, so that a wrong name
//! is reported with the other problems rather than stopping the parse: an enum with
//! `ALL`, `as_str` and `parse` names the values, the struct has a method of the key's
//! name returning the parsed value (`None` for a wrong name), and `validate.rs`
//! reports the text when that method finds none.
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

mod account;
mod auth;
mod http;
mod im;
mod limits;
mod log;
mod muc;
mod pubsub;
mod server;
mod tls;
mod tor;
mod validate;

pub use account::{ContactConfig, LastActivityConfig, PrivateConfig, VcardConfig};
pub use auth::AuthConfig;
pub use http::{HttpConfig, PastebinConfig, UploadConfig};
pub use im::{BlockingConfig, CarbonsConfig, OfflineConfig, RosterConfig, VersionConfig};
pub use limits::LimitsConfig;
pub use log::{LogConfig, LogLevel};
pub use muc::{MucConfig, RoomCreation};
pub use pubsub::{PepConfig, PubsubConfig};
pub use server::{ListenersConfig, ServerConfig};
pub use tls::{TlsConfig, TlsVersion};
pub use tor::{
    ListenerKind, TorConfig, TorOnionServiceConfig, TorPort, TorRestrictedDiscoveryConfig,
    TorTestingConfig,
};

#[cfg(test)]
pub(crate) use tor::TOR_LISTENER_KINDS;

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
    /// `[vcard]`: vCards (XEP-0054).
    pub vcard: VcardConfig,
    /// `[private]`: private XML storage (XEP-0049).
    pub private: PrivateConfig,
    /// `[last_activity]`: last activity and server uptime (XEP-0012).
    pub last_activity: LastActivityConfig,
    /// `[contact]`: contact addresses in the server's disco#info (XEP-0157).
    pub contact: ContactConfig,
    /// `[carbons]`: message carbons (XEP-0280).
    pub carbons: CarbonsConfig,
    /// `[blocking]`: block lists (XEP-0191).
    pub blocking: BlockingConfig,
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
    /// `[pep]`: every account's personal eventing service (XEP-0163).
    pub pep: PepConfig,
    /// `[pubsub]`: the publish-subscribe service (XEP-0060).
    pub pubsub: PubsubConfig,
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
