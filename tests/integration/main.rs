//! Integration tests: the real `allium` binary on loopback, spoken to over TLS.
//!
//! One test binary with a module per area (as rustls does), sharing [`common`].

mod cli;
mod common;
mod im;
mod offline;
mod services;
mod smoke;
