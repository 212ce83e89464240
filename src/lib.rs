//! allium: a privacy-first XMPP server.
//!
//! allium serves XMPP (RFC 6120, RFC 6121) to clients over TLS only, keeps what it
//! stores in one SQLite database, and logs nothing that identifies who talks to whom.
//!
//! # Layout
//! - [`cli`]: the command line (clap): `run`, `account`, `config`, `fingerprints`, `onion`.
//! - [`config`]: the TOML configuration, its documented defaults and validation.
//! - [`xml`]: a sans-IO XML stream parser with limits, and the element tree (pure).
//! - [`ns`]: namespace constants, each with its RFC/XEP.
//! - [`stanza`]: stanza and stream errors, typed views of message/presence/iq (pure).
//! - [`auth`]: SASL mechanisms (SCRAM-SHA-1/256 with -PLUS, PLAIN) and argon2id.
//! - [`tls`]: rustls server and client configuration, self-signed certificates, fingerprints.
//! - [`stream`]: transports (TCP, TLS accepted or opened) and the byte/element loop of one
//!   stream; `stream::negotiate`: the RFC 6120 negotiation steps, from either end.
//! - [`c2s`]: client sessions: STARTTLS / direct TLS, SASL, resource binding.
//! - [`router`]: where every JID is connected; local and remote delivery.
//! - [`http`]: the HTTP listener (uploads, pastes, fingerprints page), base URLs.
//! - [`modules`]: features (roster, presence, offline, disco, ping, version).
//! - [`storage`]: typed repositories over SQLite; the only place with SQL.
//! - [`tor`]: the embedded Tor client (Arti), the onion service and its key, outbound via Tor.
//! - [`log`]: tracing set-up and the fields allowed in logs.
//! - [`listen`]: the one accept path of TCP listeners and onion streams, one connection limit.
//! - [`server`]: start-up, listeners and shutdown.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]
#![deny(clippy::expect_used)]
#![deny(clippy::print_stdout)]
#![deny(clippy::await_holding_lock)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod c2s;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod listen;
pub mod log;
pub mod modules;
pub mod ns;
pub mod router;
pub mod server;
pub mod stanza;
pub mod storage;
pub mod stream;
pub mod tls;
pub mod tor;
pub mod xml;
