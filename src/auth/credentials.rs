//! Stored credentials of an account: what the database keeps instead of a password.
//!
//! An account keeps an argon2id hash (verifies SASL PLAIN, RFC 4616) and, for each SCRAM
//! hash function, the salted keys of RFC 5802 §3 (`StoredKey`, `ServerKey`), so SCRAM
//! logins never need the password and the database never holds it.

/// SCRAM material for one hash function (RFC 5802 §3; RFC 7677 for SHA-256).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// Random salt, 16 bytes when allium creates it.
    pub salt: Vec<u8>,
    /// PBKDF2 iteration count (`i=` in the server-first message); at least 4096.
    pub iterations: u32,
    /// `StoredKey := H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `ServerKey := HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Everything stored for one account's password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// argon2id hash in PHC string format (`$argon2id$v=19$m=...`).
    pub argon2_hash: String,
    /// SCRAM-SHA-1 keys (RFC 5802).
    pub scram_sha1: ScramCredentials,
    /// SCRAM-SHA-256 keys (RFC 7677).
    pub scram_sha256: ScramCredentials,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredCredentials([scrubbed])")
    }
}
