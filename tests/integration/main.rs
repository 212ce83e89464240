//! Integration tests: the real `allium` binary on loopback, spoken to over TLS.
//!
//! One test binary with a module per area (as rustls does), sharing [`common`].

mod auth;
mod common;
mod interop;
mod onion;
mod smoke;
mod stream;
mod tor;
