//! `[pep]` (XEP-0163 Personal Eventing Protocol on every account) and `[pubsub]` (the
//! XEP-0060 service on `<subdomain>.<domain>`).

use serde::{Deserialize, Serialize};

/// `[pep]`: every account's own publish-subscribe service (XEP-0163), where OMEMO
/// device lists and bundles (XEP-0384), avatars (XEP-0084), bookmarks (XEP-0402) and
/// nicknames live. Refusals are stanza errors on the publish; nothing stored is touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PepConfig {
    /// Offer PEP. Without it no client can start an OMEMO chat. Default `true`.
    pub enabled: bool,
    /// Most nodes per account (legacy OMEMO uses one bundle node per device).
    /// Range `1..=10_000`. Default `256`.
    pub max_nodes: u32,
    /// Most items a node keeps; `pubsub#max_items` of `max` (or larger) means this;
    /// older items are dropped first. Range `1..=100_000`. Default `1000`.
    pub max_items_per_node: u32,
    /// Largest item payload, in bytes of serialized XML; larger publishes are refused
    /// with `<not-acceptable/>` and `<payload-too-big/>` (XEP-0060 §7.1.3.6).
    /// Range `1024..=16_777_216`. Default `262144` (256 KiB, room for an avatar).
    pub max_item_bytes: u32,
    /// Most payload bytes stored for one account over all its nodes; a publish beyond
    /// it is refused with `<resource-constraint/>`. Range `1024..=1_073_741_824`.
    /// Default `8388608` (8 MiB).
    pub max_bytes_per_account: u64,
}

impl Default for PepConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_nodes: 256,
            max_items_per_node: 1000,
            max_item_bytes: 262_144,
            max_bytes_per_account: 8 << 20,
        }
    }
}

/// `[pubsub]`: a XEP-0060 publish-subscribe service for every hosted domain on
/// `<subdomain>.<domain>`, sharing PEP's node code and limits per creating account;
/// only local accounts may create nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PubsubConfig {
    /// Run the service. Default `true`.
    pub enabled: bool,
    /// The service's domain is `<subdomain>.<domain>` for every hosted domain; one DNS
    /// label. Default `"pubsub"`.
    pub subdomain: String,
    /// Most nodes one account may create on the service. Range `1..=10_000`.
    /// Default `64`.
    pub max_nodes_per_account: u32,
    /// Most explicit subscriptions per node (XEP-0060 §6.1). Range `1..=100_000`.
    /// Default `1000`.
    pub max_subscriptions_per_node: u32,
}

impl Default for PubsubConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            subdomain: "pubsub".to_owned(),
            max_nodes_per_account: 64,
            max_subscriptions_per_node: 1000,
        }
    }
}
