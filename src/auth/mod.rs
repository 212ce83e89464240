//! SASL (RFC 6120 §6) server mechanisms and password hashing.
//!
//! This module is pure (sans-IO): the c2s session decodes the base64 payloads of
//! `<auth/>` and `<response/>`, feeds the bytes to a [`SaslSession`] and acts on the
//! returned [`Step`] (send a `<challenge/>`, look an account up, verify a PLAIN
//! password on a blocking thread, send `<success/>` or `<failure/>`).
//!
//! Implemented:
//! - SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), with their `-PLUS` variants
//!   using the `tls-exporter` (RFC 9266, TLS 1.3) or `tls-server-end-point` (RFC 5929,
//!   TLS 1.2 and 1.3) channel binding, advertised per XEP-0440; the server-first
//!   message carries the XEP-0474 downgrade protection hash (`h=`).
//! - PLAIN (RFC 4616), to be offered only over TLS (RFC 6120 §13.8).
//! - Password storage: argon2id (PHC string) plus the SCRAM `StoredKey`/`ServerKey`
//!   for both hash functions ([`hash_password`], [`verify_password`]); passwords are
//!   normalised with SASLprep (RFC 4013) first.
//!
//! # Security
//! - The server never stores or sees a SCRAM password; it only holds `StoredKey` and
//!   `ServerKey`. Client proofs and channel-binding data are compared in constant time.
//! - An unknown account is answered with a fake salt derived by HMAC-SHA-256 from a
//!   secret key and the username, identical on every attempt and across restarts (the
//!   key is kept by the caller, [`UnknownAccounts`]), and the configured iteration count,
//!   so the server-first message does not reveal whether an account exists; the
//!   exchange then fails with `not-authorized` exactly like a wrong password.
//! - A client `y` gs2 flag while the server offered a `-PLUS` mechanism is treated as a
//!   downgrade attack and fails (RFC 5802 §6).
//! - Intermediate secrets (SaltedPassword, ClientKey, prepared passwords, the PLAIN
//!   password handed to the caller) are kept in [`zeroize::Zeroizing`] buffers.
//! - Every input is bounded ([`MAX_MESSAGE_LEN`]) and parsed strictly; no input panics.
//! - Nothing here logs.
//!
//! # Limitations
//! - `tls-unique` is not supported (RFC 9266 deprecates it).
//! - SCRAM extensions are not supported: a mandatory extension (`m=`) fails the
//!   exchange, optional unknown extensions are ignored.
//! - The `stringprep` crate's own temporary buffers are not zeroised.
//! - An unknown account shows the iteration count configured for new accounts; a real
//!   account created under another count can be told apart from unknown ones.
//! - Authorization identities are only parsed; the caller decides whether the
//!   authenticated user may act as the `authzid` (RFC 6120 §6.3.8).

mod credentials;
mod password;
mod scram;
mod session;

pub use credentials::{ScramCredentials, StoredCredentials};
pub use password::{
    DEFAULT_SCRAM_ITERATIONS, MAX_ARGON2_BLOCKS, MIN_SCRAM_ITERATIONS, PasswordVerifier,
    hash_password, verify_password, verify_password_in,
};
pub use session::{SaslSession, Step};

/// What a SCRAM exchange shows for a username with no account: a salt derived by
/// HMAC-SHA-256 from `key` and the username, and `iterations` (RFC 5802 §5.1 `s=`,
/// `i=`). With `key` kept across restarts (allium keeps it in the state directory) and
/// `iterations` the configured count of new accounts, an unknown account's
/// server-first message looks like a real one's, on every attempt and after restarts.
pub struct UnknownAccounts {
    key: [u8; 32],
    iterations: u32,
}

impl UnknownAccounts {
    /// Fake credentials under the 32-byte secret `key`, with `iterations` PBKDF2
    /// iterations.
    pub const fn new(key: [u8; 32], iterations: u32) -> UnknownAccounts {
        UnknownAccounts { key, iterations }
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    pub(crate) fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl Drop for UnknownAccounts {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl std::fmt::Debug for UnknownAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnknownAccounts")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Channel binding type name of RFC 9266 (`p=tls-exporter` in the gs2 header, and the
/// value advertised in XEP-0440 `<sasl-channel-binding/>`).
pub const TLS_EXPORTER: &str = "tls-exporter";

/// Channel binding type name of RFC 5929 §4 (`p=tls-server-end-point`): the hash of the
/// server's certificate. Offered on TLS 1.2 and 1.3.
pub const TLS_SERVER_END_POINT: &str = "tls-server-end-point";

/// TLS exporter label for the `tls-exporter` channel binding (RFC 9266 §2); the context
/// is empty.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// Length in bytes of the `tls-exporter` channel binding data (RFC 9266 §2).
pub const TLS_EXPORTER_LEN: usize = 32;

/// Largest SASL message (decoded bytes) accepted by a [`SaslSession`]; longer
/// messages fail with [`SaslFailure::MalformedRequest`].
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Errors of password hashing ([`hash_password`]).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The password contains characters prohibited by SASLprep (RFC 4013 §2.3) or
    /// violates its bidirectional rules.
    #[error("password is not allowed by SASLprep")]
    Saslprep(#[source] stringprep::Error),
    /// The password is empty (after SASLprep); PLAIN (RFC 4616) cannot carry it.
    #[error("password is empty")]
    EmptyPassword,
    /// The requested SCRAM iteration count is below [`MIN_SCRAM_ITERATIONS`]
    /// (RFC 7677 §4 recommends at least 4096).
    #[error("SCRAM iteration count {0} is below the minimum")]
    IterationsTooLow(u32),
    /// The operating system's random number generator failed.
    #[error("system random number generator failed")]
    Random(#[source] rand::rngs::SysError),
    /// The argon2id hash could not be computed.
    #[error("argon2id hashing failed")]
    Argon2(#[source] argon2::password_hash::Error),
    /// HMAC could not be keyed (never expected: HMAC takes keys of any length).
    #[error("HMAC key setup failed")]
    Hmac,
}

/// A SASL mechanism allium implements, in server preference order (strongest first).
///
/// Names per the IANA SASL registry: RFC 5802 (SCRAM-SHA-1[-PLUS]), RFC 7677
/// (SCRAM-SHA-256[-PLUS]), RFC 4616 (PLAIN).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// `SCRAM-SHA-256-PLUS` (RFC 7677) with `tls-exporter` channel binding (RFC 9266).
    ScramSha256Plus,
    /// `SCRAM-SHA-1-PLUS` (RFC 5802) with `tls-exporter` channel binding (RFC 9266).
    ScramSha1Plus,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `PLAIN` (RFC 4616); only over TLS.
    Plain,
}

impl Mechanism {
    /// Every mechanism, in server preference order (the order to advertise them in
    /// `<mechanisms/>`, RFC 6120 §6.4.1).
    pub const ALL: [Mechanism; 5] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ];

    /// The registered mechanism name, e.g. `"SCRAM-SHA-256-PLUS"`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
        }
    }

    /// Parses a mechanism name as sent in `<auth mechanism='...'/>` (RFC 6120 §6.4.2).
    /// Exact, case-sensitive match; `None` for anything not implemented (the caller
    /// answers [`SaslFailure::InvalidMechanism`]).
    pub fn from_name(s: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether this is a channel-binding (`-PLUS`) mechanism (RFC 5802 §4).
    pub fn is_plus(self) -> bool {
        matches!(self, Mechanism::ScramSha256Plus | Mechanism::ScramSha1Plus)
    }

    /// The mechanisms to advertise on a TLS stream (RFC 6120 §6.4.1), in preference
    /// order: all of them when a channel binding type is available, otherwise all but
    /// the `-PLUS` ones.
    pub fn offered(channel_binding_available: bool) -> Vec<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .filter(|m| channel_binding_available || !m.is_plus())
            .collect()
    }
}

/// Channel binding data of the TLS connection the SASL exchange runs over.
#[derive(Default)]
pub struct ChannelBinding {
    /// `tls-exporter` bytes (RFC 9266: label [`TLS_EXPORTER_LABEL`], empty context,
    /// [`TLS_EXPORTER_LEN`] bytes); `None` on TLS 1.2 (RFC 9266 §3 requires TLS 1.3 or
    /// the extended master secret).
    pub tls_exporter: Option<zeroize::Zeroizing<Vec<u8>>>,
    /// `tls-server-end-point` bytes (RFC 5929 §4.1): the hash of the server's
    /// certificate ([`crate::tls::server_end_point`]), on any TLS version.
    pub tls_server_end_point: Option<Vec<u8>>,
}

impl ChannelBinding {
    /// No channel binding available.
    pub fn none() -> ChannelBinding {
        ChannelBinding::default()
    }

    /// `tls-exporter` channel binding with the given exporter bytes (RFC 9266).
    pub fn tls_exporter(bytes: Vec<u8>) -> ChannelBinding {
        ChannelBinding {
            tls_exporter: Some(zeroize::Zeroizing::new(bytes)),
            tls_server_end_point: None,
        }
    }

    /// Adds `tls-server-end-point` data (RFC 5929 §4.1, the certificate hash).
    pub fn with_server_end_point(mut self, hash: Vec<u8>) -> ChannelBinding {
        self.tls_server_end_point = Some(hash);
        self
    }

    /// The channel binding types available, as advertised in XEP-0440
    /// `<channel-binding type='…'/>` (strongest first); empty when none is.
    pub fn types(&self) -> Vec<&'static str> {
        let mut t = Vec::new();
        if self.tls_exporter.as_ref().is_some_and(|b| !b.is_empty()) {
            t.push(TLS_EXPORTER);
        }
        if self
            .tls_server_end_point
            .as_ref()
            .is_some_and(|b| !b.is_empty())
        {
            t.push(TLS_SERVER_END_POINT);
        }
        t
    }

    /// The data of channel binding type `name`, if available.
    pub(crate) fn data(&self, name: &str) -> Option<&[u8]> {
        let d = match name {
            TLS_EXPORTER => self.tls_exporter.as_deref().map(|v| v.as_slice()),
            TLS_SERVER_END_POINT => self.tls_server_end_point.as_deref(),
            _ => None,
        };
        d.filter(|d| !d.is_empty())
    }
}

impl std::fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelBinding")
            .field(
                "tls_exporter",
                &self.tls_exporter.as_ref().map(|_| "[scrubbed]"),
            )
            .field(
                "tls_server_end_point",
                &self.tls_server_end_point.as_ref().map(|_| "[present]"),
            )
            .finish()
    }
}

/// The XEP-0474 (SASL SCRAM Downgrade Protection, §4.1) string for the advertised
/// mechanisms and channel binding types: the mechanism names sorted (octet order) and
/// joined by U+001E, then, when channel binding types were advertised (XEP-0440),
/// U+001F and the sorted types joined by U+001E. SCRAM hashes it into the `h=`
/// attribute of the server-first message.
pub fn downgrade_protection_input(mechanisms: &[Mechanism], cb_types: &[&str]) -> String {
    let mut m: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
    m.sort_unstable();
    let mut s = m.join("\u{1e}");
    if !cb_types.is_empty() {
        let mut t = cb_types.to_vec();
        t.sort_unstable();
        s.push('\u{1f}');
        s.push_str(&t.join("\u{1e}"));
    }
    s
}

/// A SASL failure condition (RFC 6120 §6.5), sent as the child of `<failure/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslFailure {
    /// `<aborted/>` (§6.5.1): the client sent `<abort/>`.
    Aborted,
    /// `<account-disabled/>` (§6.5.2).
    AccountDisabled,
    /// `<credentials-expired/>` (§6.5.3).
    CredentialsExpired,
    /// `<encryption-required/>` (§6.5.4).
    EncryptionRequired,
    /// `<incorrect-encoding/>` (§6.5.5): bad base64 (detected by the caller).
    IncorrectEncoding,
    /// `<invalid-authzid/>` (§6.5.6).
    InvalidAuthzid,
    /// `<invalid-mechanism/>` (§6.5.7): mechanism not offered on this stream.
    InvalidMechanism,
    /// `<malformed-request/>` (§6.5.8): syntax error, or a call in the wrong state.
    MalformedRequest,
    /// `<mechanism-too-weak/>` (§6.5.9).
    MechanismTooWeak,
    /// `<not-authorized/>` (§6.5.10): wrong credentials, unknown account, channel
    /// binding mismatch or downgrade.
    NotAuthorized,
    /// `<temporary-auth-failure/>` (§6.5.11): server-side problem (RNG, bad stored data).
    TemporaryAuthFailure,
}

impl SaslFailure {
    /// The RFC 6120 §6.5 element name, e.g. `"not-authorized"`.
    pub fn condition(self) -> &'static str {
        match self {
            SaslFailure::Aborted => "aborted",
            SaslFailure::AccountDisabled => "account-disabled",
            SaslFailure::CredentialsExpired => "credentials-expired",
            SaslFailure::EncryptionRequired => "encryption-required",
            SaslFailure::IncorrectEncoding => "incorrect-encoding",
            SaslFailure::InvalidAuthzid => "invalid-authzid",
            SaslFailure::InvalidMechanism => "invalid-mechanism",
            SaslFailure::MalformedRequest => "malformed-request",
            SaslFailure::MechanismTooWeak => "mechanism-too-weak",
            SaslFailure::NotAuthorized => "not-authorized",
            SaslFailure::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_names_round_trip() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
        }
        assert_eq!(Mechanism::from_name("scram-sha-1"), None);
        assert_eq!(Mechanism::from_name("DIGEST-MD5"), None);
        assert_eq!(Mechanism::ALL[0].name(), "SCRAM-SHA-256-PLUS");
        assert!(Mechanism::ScramSha1Plus.is_plus());
        assert!(!Mechanism::Plain.is_plus());
    }

    #[test]
    fn offered_mechanisms() {
        assert_eq!(Mechanism::offered(true), Mechanism::ALL.to_vec());
        assert_eq!(
            Mechanism::offered(false),
            vec![
                Mechanism::ScramSha256,
                Mechanism::ScramSha1,
                Mechanism::Plain
            ]
        );
    }

    #[test]
    fn failure_conditions() {
        assert_eq!(SaslFailure::NotAuthorized.condition(), "not-authorized");
        assert_eq!(
            SaslFailure::TemporaryAuthFailure.condition(),
            "temporary-auth-failure"
        );
        assert_eq!(SaslFailure::Aborted.condition(), "aborted");
    }

    #[test]
    fn downgrade_protection_string() {
        let s = downgrade_protection_input(
            &Mechanism::offered(true),
            &[TLS_SERVER_END_POINT, TLS_EXPORTER],
        );
        assert_eq!(
            s,
            "PLAIN\u{1e}SCRAM-SHA-1\u{1e}SCRAM-SHA-1-PLUS\u{1e}SCRAM-SHA-256\u{1e}SCRAM-SHA-256-PLUS\u{1f}tls-exporter\u{1e}tls-server-end-point"
        );
        assert_eq!(
            downgrade_protection_input(&Mechanism::offered(false), &[]),
            "PLAIN\u{1e}SCRAM-SHA-1\u{1e}SCRAM-SHA-256"
        );
    }

    #[test]
    fn channel_binding_debug_scrubbed() {
        let cb = ChannelBinding::tls_exporter(vec![0xAB; 32]);
        let s = format!("{cb:?}");
        assert!(!s.contains("171"), "{s}");
        assert!(s.contains("scrubbed"));
    }
}
