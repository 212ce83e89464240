//! allium: a privacy-first XMPP server.
//!
//! allium serves XMPP (RFC 6120, RFC 6121) to clients over TLS only, keeps what it
//! stores in one SQLite database, and logs nothing that identifies who talks to whom.
//!
//! # Layers
//! Each top-level module sits on one layer and uses (`crate::…`, outside comments)
//! only modules of lower layers: nothing imports upward, and modules of one layer do
//! not import each other, so there is no cycle. `layers.rs` checks this table against
//! the sources.
//!
//! | layer | modules                          |
//! |-------|----------------------------------|
//! | 0     | ns, xml, log                     |
//! | 1     | stanza, config, auth, tls        |
//! | 2     | storage, stream, http, listen    |
//! | 3     | router, tor                      |
//! | 4     | c2s, modules                     |
//! | 5     | server                           |
//! | 6     | cli, fuzzing                     |
//!
//! - [`ns`]: namespace constants, each with its RFC/XEP.
//! - [`xml`]: a sans-IO XML stream parser with limits, and the element tree (pure).
//! - [`log`]: tracing set-up and the fields allowed in logs.
//! - [`stanza`]: stanza and stream errors, typed views of message/presence/iq (pure).
//! - [`config`]: the TOML configuration, its documented defaults and validation.
//! - [`auth`]: SASL mechanisms (SCRAM-SHA-1/256 with -PLUS, PLAIN) and argon2id.
//! - [`tls`]: rustls server and client configuration, self-signed certificates, fingerprints.
//! - [`storage`]: typed repositories over SQLite; the only place with SQL.
//! - [`stream`]: transports (TCP, TLS accepted or opened) and the byte/element loop of one
//!   stream; `stream::negotiate`: the RFC 6120 negotiation steps, from either end.
//! - [`http`]: the HTTP listener (uploads, pastes, fingerprints page), base URLs.
//! - [`listen`]: the one accept path of TCP listeners and onion streams, with the
//!   connection limit, handing each connection to a handler by listener kind.
//! - [`router`]: where every JID is connected, RFC 6121 §8.5 delivery, and the
//!   extension API ([`router::hooks`]) that features plug into.
//! - [`tor`]: the embedded Tor client (Arti), the onion service and its key, outbound
//!   via Tor; accepted onion streams go to the accept path by listener kind.
//! - [`c2s`]: client sessions: STARTTLS / direct TLS, SASL, resource binding.
//! - [`modules`]: features (roster, presence, offline, disco, ping, version, time,
//!   vCard, private storage, last activity, MUC, upload, pastebin), each on the
//!   extension API, and the feature list.
//! - [`server`]: start-up, listeners and shutdown.
//! - [`cli`]: the command line (clap): `run`, `account`, `config`, `fingerprints`, `onion`.
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

#[cfg(test)]
mod layers;
