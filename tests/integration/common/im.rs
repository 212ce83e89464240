//! IM helpers (RFC 6121): roster requests and pushes, presence and message matchers,
//! a ping barrier, and a subscription handshake.
//!
//! The barrier ([`Client::assert_idle`]) relies on the server routing a client's stanzas
//! in order: once a stanza's effect has been observed by one client, everything the
//! server queued for another client because of it was queued before that client's next
//! ping answer.

use std::sync::atomic::{AtomicU64, Ordering};

use allium::xml::Element;

use super::*;

pub const PING_NS: &str = "urn:xmpp:ping";
pub const DELAY_NS: &str = "urn:xmpp:delay";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh stanza id.
pub fn next_id(prefix: &str) -> String {
    format!("{prefix}{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// Whether `e` is a roster push (RFC 6121 §2.1.6).
pub fn is_push(e: &Element) -> bool {
    e.name() == "iq" && e.attr("type") == Some("set") && e.get_child("query", ROSTER_NS).is_some()
}

/// The single `<item/>` of a roster push.
pub fn push_item(e: &Element) -> Element {
    let q = e.get_child("query", ROSTER_NS).expect("roster query");
    let items: Vec<&Element> = q.children().filter(|c| c.name() == "item").collect();
    assert_eq!(items.len(), 1, "a roster push carries one item (§2.1.6)");
    items[0].clone()
}

/// Whether `e` is a presence of `ptype` ("" for available) from `from` (exact).
pub fn is_presence(e: &Element, from: &str, ptype: &str) -> bool {
    e.name() == "presence" && e.attr("from") == Some(from) && e.attr("type").unwrap_or("") == ptype
}

/// The text of a message's `<body/>`.
pub fn body(e: &Element) -> Option<String> {
    e.get_child("body", CLIENT_NS).map(|b| b.text())
}

/// `(subscription, ask)` of a roster item.
pub fn sub_state(item: &Element) -> (String, Option<String>) {
    (
        item.attr("subscription").unwrap_or("none").to_owned(),
        item.attr("ask").map(str::to_owned),
    )
}

impl Client {
    /// Fetches the roster (which also makes this session "interested", §2.1.6); returns
    /// the items.
    pub async fn roster_get(&mut self) -> Vec<Element> {
        let id = next_id("rg");
        let r = self
            .iq(
                &id,
                &format!("<iq type='get' id='{id}'><query xmlns='{ROSTER_NS}'/></iq>"),
            )
            .await;
        assert_eq!(
            r.attr("type"),
            Some("result"),
            "roster get: {}",
            r.to_xml(CLIENT_NS)
        );
        r.get_child("query", ROSTER_NS)
            .expect("roster result carries a query (§2.1.4)")
            .children()
            .cloned()
            .collect()
    }

    /// Sends a roster set with `items` (raw `<item/>` XML) and returns the reply; roster
    /// pushes that arrive before the reply are returned too (the server pushes to the
    /// requesting resource as well, §2.3.2).
    pub async fn roster_set(&mut self, items: &str) -> (Element, Vec<Element>) {
        let id = next_id("rs");
        self.send(&format!(
            "<iq type='set' id='{id}'><query xmlns='{ROSTER_NS}'>{items}</query></iq>"
        ))
        .await;
        let mut pushes = Vec::new();
        loop {
            let e = self.recv().await;
            if e.name() == "iq" && e.attr("id") == Some(id.as_str()) {
                return (e, pushes);
            }
            if is_push(&e) {
                pushes.push(e);
            }
        }
    }

    /// Waits for the next roster push (skipping other stanzas), acknowledges it as a
    /// client must (§2.1.6) and returns its item.
    pub async fn expect_push(&mut self) -> Element {
        let e = self.recv_until("roster push", is_push).await;
        let id = e.attr("id").unwrap_or_default().to_owned();
        self.send(&format!("<iq type='result' id='{id}'/>")).await;
        push_item(&e)
    }

    /// Waits for a presence of `ptype` from `from`.
    pub async fn expect_presence(&mut self, from: &str, ptype: &str) -> Element {
        self.recv_until(&format!("presence '{ptype}' from {from}"), |e| {
            is_presence(e, from, ptype)
        })
        .await
    }

    /// Waits for a message.
    pub async fn expect_message(&mut self) -> Element {
        self.recv_until("message", |e| e.name() == "message").await
    }

    /// Pings the server and returns once the answer arrives, skipping whatever was queued
    /// before it.
    pub async fn sync(&mut self) {
        let id = next_id("sync");
        self.iq(
            &id,
            &format!("<iq type='get' id='{id}'><ping xmlns='{PING_NS}'/></iq>"),
        )
        .await;
    }

    /// Everything queued for this session before a ping's answer.
    pub async fn drain(&mut self) -> Vec<Element> {
        let id = next_id("drain");
        self.send(&format!(
            "<iq type='get' id='{id}'><ping xmlns='{PING_NS}'/></iq>"
        ))
        .await;
        let mut got = Vec::new();
        loop {
            let e = self.recv().await;
            if e.name() == "iq" && e.attr("id") == Some(id.as_str()) {
                return got;
            }
            got.push(e);
        }
    }

    /// Asserts that nothing is queued for this session: a ping's answer is the very next
    /// stanza. See the module docs for why this is deterministic.
    pub async fn assert_idle(&mut self, what: &str) {
        let id = next_id("idle");
        self.send(&format!(
            "<iq type='get' id='{id}'><ping xmlns='{PING_NS}'/></iq>"
        ))
        .await;
        let e = self.recv().await;
        assert!(
            e.name() == "iq" && e.attr("id") == Some(id.as_str()),
            "{what}: expected nothing, got {}",
            e.to_xml(CLIENT_NS)
        );
    }

    /// Sends a chat message.
    pub async fn chat(&mut self, to: &str, text: &str) {
        self.send(&format!(
            "<message to='{to}' type='chat' id='{}'><body>{text}</body></message>",
            next_id("m")
        ))
        .await;
    }
}

/// RFC 6121 §3.1: `a` subscribes to `b`'s presence and `b` approves. Both must be able to
/// receive the request (available or interested). Ends with both sides synced.
pub async fn subscribe(a: &mut Client, b: &mut Client) {
    let b_bare = bare(b);
    let a_bare = bare(a);
    a.send(&format!("<presence to='{b_bare}' type='subscribe'/>"))
        .await;
    b.expect_presence(&a_bare, "subscribe").await;
    b.send(&format!("<presence to='{a_bare}' type='subscribed'/>"))
        .await;
    a.expect_presence(&b_bare, "subscribed").await;
    a.sync().await;
    b.sync().await;
}

/// The bare JID of a bound client.
pub fn bare(c: &Client) -> String {
    let j = c.jid.as_deref().expect("bound");
    j.split('/').next().unwrap().to_owned()
}
