//! The embedded Tor client (Arti) and the onion service clients reach allium through.
//!
//! - [`address`]: the v3 onion address of a public key (rend-spec-v3 §6
//!   \[ONIONADDRESS\]) and [`onion_address`], which creates or reads the service's
//!   identity key **offline** (no bootstrap, no socket) for `allium onion address`.
//! - [`ports`]: the virtual port map of `[tor.onion_service]`: which listener kind a
//!   stream to a given virtual port enters ([`PortMap::dispatch`]).
//! - [`service`]: [`launch`] bootstraps Arti in the background, publishes the onion
//!   service and hands every accepted stream, with the listener kind of its virtual
//!   port, to the server's accept path ([`crate::listen::Dispatcher`]): the same
//!   connection limit and the same handler as TCP connections; progress is logged at
//!   info. This module knows no session code: the server's handler maps each kind to
//!   the client sessions or the HTTP service.
//! - [`connector`]: [`Connector`], outbound streams through the same Arti client
//!   (for federation over Tor), and [`refuse_onion_dns`], the guard that keeps
//!   `.onion` names away from any DNS resolver.
//!
//! Arti keeps its state, cache and keystore under `tor.state_dir` (default
//! `STATE/tor`): `state/`, `cache/` and `state/keystore/hss/<nickname>/`, where the
//! service's identity key (`ks_hs_id`) lives. The key is created on first use, so the
//! `.onion` address is stable across restarts; [`onion_address`] and the running
//! service read the same keystore, so the address printed offline is the one served.
//!
//! # Security
//! - Location hiding: the onion service is reached through rendezvous circuits; the
//!   server's IP address is never revealed to clients. This holds only if no
//!   clearnet listener serves the same domain (see the README's onion-only section).
//! - Onion streams carry no source address; failed logins are counted per rendezvous
//!   circuit instead (a random id per accepted introduction,
//!   [`crate::listen::Peer::OnionCircuit`]), so one client's failures do not
//!   refuse other onion clients.
//! - Nothing here logs client activity, addresses or keys. The `.onion` address is
//!   printed on standard output by the command line (`listening onion …`), never
//!   logged at info or above.
//! - `tor.testing.network` replaces the Tor network with a private one; it is
//!   honoured only together with the environment variable
//!   `ALLIUM_TESTING_TOR_NETWORK=1` ([`TESTING_ENV`]), logs a warning when used, and
//!   its file must name a `[tor_network]` and no unknown key, so a typo can never fall
//!   back to the real network silently.
//! - The state directory and its key are created with mode 0700 / 0600 (existing
//!   directories open to others are tightened, [`crate::tls::create_private_dir`]), and Arti
//!   refuses (fs-mistrust) to use a key directory that others can write to.
//!
//! # Limitations
//! - The `c2s`, `c2s_tls` and `http` listener kinds exist; streams to virtual ports
//!   mapped to `s2s` are refused until that listener exists.
//! - Arti's onion service status may never report `Running` on small networks even
//!   when the service is reachable; it is logged as Arti reports it, and nothing waits
//!   for it.
//! - Restricted discovery (client authorization) comes from Arti's experimental
//!   `restricted-discovery` feature; keys are read at start-up only.
//! - Arti checks the permissions of every ancestor of its directories
//!   (fs-mistrust): a state directory below a directory writable by other users is
//!   refused.
//! - One Arti state directory per process: two servers cannot share `tor.state_dir`.

pub mod address;
pub mod arti_config;
pub mod connector;
pub mod ports;
pub mod service;

use std::path::{Path, PathBuf};

pub use address::{onion_address, onion_address_from_key};
pub use connector::{Connector, is_onion, refuse_onion_dns};
pub use ports::{Dispatch, PortMap};
pub use service::{TorHandle, launch};

/// The environment variable that must be `1` for `tor.testing.network` to be used.
pub const TESTING_ENV: &str = "ALLIUM_TESTING_TOR_NETWORK";

/// Errors of the Tor layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `tor.testing.network` is set but the environment does not allow it.
    #[error(
        "tor.testing.network is set to {}, but it is honoured only when the environment \
         variable {TESTING_ENV}=1 is also set (private test networks only); \
         remove tor.testing.network to use the real Tor network",
        path.display()
    )]
    TestingNotAllowed {
        /// The configured network file.
        path: PathBuf,
    },
    /// The testing network file could not be read.
    #[error("cannot read the testing Tor network file {}", path.display())]
    TestingRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The testing network file is not valid Arti TOML.
    #[error("the testing Tor network file {} is not a valid Arti configuration", path.display())]
    TestingParse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// The testing network file has keys Arti does not know, or no `[tor_network]`.
    #[error("the testing Tor network file {}: {problem}", path.display())]
    TestingContent {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A directory for Arti could not be created.
    #[error("cannot create the Tor directory {}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: crate::tls::Error,
    },
    /// The Arti client or onion service configuration was rejected.
    #[error("invalid Tor configuration")]
    Config(#[source] Box<arti_client::config::ConfigBuildError>),
    /// The onion service nickname is not a valid Arti nickname.
    #[error("invalid onion service nickname {0:?}")]
    Nickname(String),
    /// A restricted discovery client key could not be parsed.
    #[error("invalid restricted discovery client key")]
    ClientKey,
    /// The Arti client failed (creating its state, bootstrapping, launching).
    #[error("Tor client failure")]
    Client(#[source] arti_client::Error),
    /// The onion service identity key could not be created or read.
    #[error("cannot create or read the onion service identity key")]
    Key(#[source] Box<tor_hsservice::StartupError>),
    /// The onion service is disabled in the configuration.
    #[error("the onion service is disabled (tor.enabled or tor.onion_service.enabled)")]
    Disabled,
    /// An internal inconsistency (a bug).
    #[error("internal error in the Tor layer: {0}")]
    Internal(&'static str),
    /// A `.onion` name was about to be resolved through DNS.
    #[error(
        "refusing to resolve an onion name through DNS; onion names are reached only through Tor"
    )]
    OnionDns,
    /// An outbound connection through Tor failed.
    #[error("cannot connect through Tor")]
    Connect(#[source] arti_client::Error),
}

/// Arti's directory for this configuration: `tor.state_dir` under `state_dir`,
/// created (with its `state/` and `cache/`) with mode 0700.
///
/// # Errors
/// [`Error::Dir`] when a directory cannot be created.
pub fn prepare_dir(config: &crate::config::Config, state_dir: &Path) -> Result<PathBuf, Error> {
    let tor_dir = config.tor_dir(state_dir);
    for dir in [
        state_dir.to_path_buf(),
        tor_dir.clone(),
        tor_dir.join("state"),
        tor_dir.join("cache"),
    ] {
        crate::tls::create_private_dir(&dir).map_err(|source| Error::Dir { path: dir, source })?;
    }
    Ok(tor_dir)
}
