//! SASL (RFC 6120 §6) server mechanisms and password hashing.
mod credentials;
pub use credentials::{ScramCredentials, StoredCredentials};
