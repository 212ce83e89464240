//! The sections for what an account keeps about itself and what the server tells
//! about itself: `[vcard]` (XEP-0054), `[private]` (XEP-0049), `[last_activity]`
//! (XEP-0012) and `[contact]` (XEP-0157).

use serde::{Deserialize, Serialize};

/// `[vcard]`: the vCard each account may publish (XEP-0054 vcard-temp).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VcardConfig {
    /// Largest vCard one account may store, in bytes of its serialized XML; a larger
    /// set is refused with `<not-acceptable/>`. The photo (`PHOTO/BINVAL`, base64) is
    /// most of a vCard: XEP-0153 asks clients for avatars under 8 KiB, and the
    /// default leaves room for a photo of about 96 KiB while staying below one default
    /// stanza (`limits.max_stanza_bytes`, which also bounds what can arrive).
    /// Range `1024..=16_777_216`. Default `131072` (128 KiB).
    pub max_bytes: u64,
}

impl Default for VcardConfig {
    fn default() -> Self {
        Self {
            max_bytes: 128 * 1024,
        }
    }
}

/// `[private]`: private XML storage (XEP-0049 `jabber:iq:private`), per account.
/// Each refusal is a stanza error whose text names the limit; nothing of the refused
/// set is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrivateConfig {
    /// Most fragments (distinct element name and namespace) per account; one more is
    /// refused with `<resource-constraint/>`. Range `1..=10_000`. Default `64`.
    pub max_fragments: u32,
    /// Largest fragment, in bytes of its serialized XML (`<not-acceptable/>` beyond).
    /// Bookmarks of a few hundred rooms fit. Range `256..=16_777_216`.
    /// Default `65536` (64 KiB).
    pub max_fragment_bytes: u64,
    /// Most bytes of all of an account's fragments together (`<resource-constraint/>`
    /// beyond). At least `max_fragment_bytes`. Range `256..=1_073_741_824`.
    /// Default `524288` (512 KiB).
    pub max_total_bytes: u64,
}

impl Default for PrivateConfig {
    fn default() -> Self {
        Self {
            max_fragments: 64,
            max_fragment_bytes: 64 * 1024,
            max_total_bytes: 512 * 1024,
        }
    }
}

/// `[last_activity]`: Last Activity (XEP-0012).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LastActivityConfig {
    /// Answer `jabber:iq:last` queries to an account's bare JID with the seconds since
    /// its last session ended (only to the account itself and to contacts subscribed
    /// to its presence; the time is kept in memory only). Privacy: `false` answers
    /// every query with `<service-unavailable/>`. Default `true`.
    pub enabled: bool,
    /// Answer `jabber:iq:last` queries to the server's domain with its uptime
    /// (XEP-0012 §5). Privacy: an uptime tells when the server last restarted, which
    /// can link an onion service to a clearnet host restarted at the same moment.
    /// Default `false`.
    pub server_uptime: bool,
}

impl Default for LastActivityConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            server_uptime: false,
        }
    }
}

/// `[contact]`: contact addresses of the service (XEP-0157), published in the
/// server's disco#info as a `http://jabber.org/network/serverinfo` form. Each value is
/// a URI with a scheme (`mailto:abuse@example.org`, `xmpp:admin@example.org`,
/// `https://example.org/contact`). With every list empty, no form is published.
/// Default: every list empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ContactConfig {
    /// Where to report abuse (`abuse-addresses`).
    pub abuse_addresses: Vec<String>,
    /// Where to reach the administrators (`admin-addresses`).
    pub admin_addresses: Vec<String>,
    /// Where to send feedback (`feedback-addresses`).
    pub feedback_addresses: Vec<String>,
    /// Where to ask about buying service (`sales-addresses`).
    pub sales_addresses: Vec<String>,
    /// Where to report security issues (`security-addresses`).
    pub security_addresses: Vec<String>,
    /// Where users get help (`support-addresses`).
    pub support_addresses: Vec<String>,
}

impl ContactConfig {
    /// `(XEP-0157 field var, config key, addresses)` for each kind, in the order of
    /// XEP-0157 §2 (field names sorted).
    pub fn kinds(&self) -> [(&'static str, &'static str, &[String]); 6] {
        [
            ("abuse-addresses", "abuse_addresses", &self.abuse_addresses),
            ("admin-addresses", "admin_addresses", &self.admin_addresses),
            (
                "feedback-addresses",
                "feedback_addresses",
                &self.feedback_addresses,
            ),
            ("sales-addresses", "sales_addresses", &self.sales_addresses),
            (
                "security-addresses",
                "security_addresses",
                &self.security_addresses,
            ),
            (
                "support-addresses",
                "support_addresses",
                &self.support_addresses,
            ),
        ]
    }

    /// Whether any address is configured.
    pub fn is_empty(&self) -> bool {
        self.kinds().iter().all(|(_, _, v)| v.is_empty())
    }
}

/// Longest contact address accepted, in bytes.
pub(super) const MAX_URI_BYTES: usize = 2048;

/// Whether `s` is a URI with a scheme (RFC 3986 §3.1: a letter, then letters,
/// digits, `+`, `-`, `.`; then `:` and a non-empty rest), with no whitespace or control
/// characters anywhere, at most [`MAX_URI_BYTES`] long.
pub(super) fn is_uri_with_scheme(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && s.len() <= MAX_URI_BYTES
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_need_a_scheme() {
        for ok in [
            "mailto:abuse@example.org",
            "xmpp:admin@example.org",
            "xmpp:support@conference.example.org?join",
            "https://example.org/contact",
            "tel:+1-555-0100",
            "a+b.c-d:x",
        ] {
            assert!(is_uri_with_scheme(ok), "{ok}");
        }
        for bad in [
            "",
            "abuse@example.org",
            "mailto:",
            ":x",
            "1http://x",
            "ht tp://x",
            "mailto:a b@example.org",
            "mailto:a@example.org\n",
            "é:x",
        ] {
            assert!(!is_uri_with_scheme(bad), "{bad:?}");
        }
        assert!(!is_uri_with_scheme(&format!(
            "https://{}",
            "a".repeat(MAX_URI_BYTES)
        )));
    }
}
