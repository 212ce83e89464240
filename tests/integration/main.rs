//! Integration tests: the real `allium` binary on loopback, spoken to over TLS.
//!
//! One test binary with a module per area (as rustls does), sharing [`common`].

mod account_data;
mod auth;
mod blocking;
mod carbons;
mod cli;
mod common;
mod conn;
mod fuzz_findings;
mod hardening_auth;
mod hostile_xml;
mod http;
mod im;
mod interop;
mod logs;
mod muc;
mod muc_admin;
mod muc_legacy;
mod muc_options;
mod muc_smoke;
mod offline;
mod onion;
mod pastebin;
mod pep;
mod quota;
mod roster_ext;
mod services;
mod smoke;
mod stream;
mod tor;
mod upload;
