//! Logging policy and set-up (tracing).
//!
//! One span per connection (`c2s{sid=..}`) where `sid` is a random short id, never the
//! peer address. Info is for lifecycle only (listening, shutting down, config warnings);
//! per-stanza and per-login events go to debug. The field names below are the only ones
//! used, so a reviewer can grep for them.
//!
//! # Security
//! Never logged at any level: IP addresses, message bodies or any stanza payload,
//! passwords, SASL data, keys, tokens. JIDs and room names are wrapped in [`Sensitive`],
//! which prints `[scrubbed]`. A stanza is logged only as its [`crate::stanza::Stanza::summary`],
//! which prints known `type` values and namespaces only (anything client-chosen is `other`),
//! so a client cannot forge log lines or smuggle text into the log.

use std::fmt;

/// Field name: the random session id of a connection.
pub const FIELD_SID: &str = "sid";
/// Field name: a stanza summary (kind/type/namespace, known values only).
pub const FIELD_KIND: &str = "kind";

/// A value that must not appear in logs: its `Display` and `Debug` print `[scrubbed]`.
#[derive(Clone, Copy)]
pub struct Sensitive<T>(pub T);

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[scrubbed]")
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[scrubbed]")
    }
}

/// A short random session id (8 hex digits) for the connection span.
pub fn session_id() -> String {
    let v: u32 = rand::random();
    format!("{v:08x}")
}

/// Installs the global subscriber writing to stderr at `level` (`error`..`trace`);
/// `RUST_LOG` overrides it. Safe to call twice (the second call does nothing).
pub fn init(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("allium={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_is_scrubbed() {
        let s = Sensitive("alice@example.org");
        assert_eq!(format!("{s} {s:?}"), "[scrubbed] [scrubbed]");
        assert_eq!(session_id().len(), 8);
    }
}
