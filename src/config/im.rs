//! The small sections of the instant messaging service: `[roster]` (RFC 6121 §2),
//! `[offline]` (XEP-0160), `[version]` (XEP-0092), `[carbons]` (XEP-0280) and
//! `[blocking]` (XEP-0191).

use serde::{Deserialize, Serialize};

/// `[roster]`: what an account may store in its roster (RFC 6121 §2). Refusals are
/// stanza errors on the roster set (or on the subscription presence that would add an
/// item); nothing already stored is touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RosterConfig {
    /// Most items in one roster; adding one more is refused with
    /// `<resource-constraint/>` (updating an existing item always works).
    /// Range `1..=100_000`. Default `1000`.
    pub max_items: u32,
    /// Most `<group/>` elements on one item (RFC 6121 §2.1.2.6); more are refused with
    /// `<not-acceptable/>`. Range `1..=1000`. Default `32`.
    pub max_groups_per_item: u32,
    /// Longest item name or group name, in bytes of UTF-8 (RFC 6121 §2.3.3:
    /// `<not-acceptable/>` beyond). Range `1..=65_535`. Default `1024`.
    pub max_name_bytes: u32,
    /// Offer subscription pre-approval (RFC 6121 §3.4): a user may approve a contact's
    /// subscription before the contact asks. Off, such an approval is ignored (stored
    /// approvals are still honoured). Default `true`.
    pub pre_approval: bool,
}

impl Default for RosterConfig {
    fn default() -> Self {
        Self {
            max_items: 1000,
            max_groups_per_item: 32,
            max_name_bytes: 1024,
            pre_approval: true,
        }
    }
}

/// `[offline]`: offline message storage (XEP-0160).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OfflineConfig {
    /// Store messages for accounts with no available session. Privacy: they stay on
    /// disk until delivered. Default `true`.
    pub enabled: bool,
    /// Most stored messages per account. Range `1..=10_000`. Default `100`.
    pub max_messages: u32,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_messages: 100,
        }
    }
}

/// `[version]`: software version answers (XEP-0092).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionConfig {
    /// Answer `jabber:iq:version` with the name and version, never the operating
    /// system. Privacy: `false` hides the version. Default `true`.
    pub enabled: bool,
}

impl Default for VersionConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[carbons]`: Message Carbons (XEP-0280), copies of a user's chats to the user's
/// other clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CarbonsConfig {
    /// Offer carbons (`urn:xmpp:carbons:2` in disco). Each client opts in; the copies
    /// are kept in no store. `false` answers `<enable/>` with `<service-unavailable/>`.
    /// Default `true`.
    pub enabled: bool,
}

impl Default for CarbonsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[blocking]`: the Blocking Command (XEP-0191), each account's stored block list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockingConfig {
    /// Most JIDs on one block list; a block that would go beyond is refused as a
    /// whole with `<resource-constraint/>` and a text naming the limit. Range
    /// `1..=100_000`. Default `1000`.
    pub max_items: u32,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        Self { max_items: 1000 }
    }
}
