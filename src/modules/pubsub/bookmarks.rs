//! XEP-0402 §5.3 bookmarks compatibility (`urn:xmpp:bookmarks:1#compat`): clients that
//! keep XEP-0048 bookmarks in XEP-0049 private storage (`<storage
//! xmlns='storage:bookmarks'/>`) and clients that keep XEP-0402 bookmarks in the PEP node
//! `urn:xmpp:bookmarks:1` see the same rooms.
//!
//! The PEP node is the source of truth for rooms:
//! - a private-storage **get** of `storage:bookmarks`, once the account has the node,
//!   is answered from it: each item (id = room JID) becomes a `<conference jid name
//!   autojoin><nick/><password/></conference>`; the `<url/>` bookmarks XEP-0402 dropped
//!   come from the legacy copy in private storage;
//! - a private-storage **set** publishes each conference to the node as its owner would
//!   (publish options `persist_items`, `max_items = max`, `access_model = whitelist`,
//!   XEP-0402 §3) and retracts the rooms no longer listed, so the account's XEP-0402
//!   clients are notified; then private storage keeps the legacy copy as sent.
//!
//! Without the node (no XEP-0402 client ever published), private storage answers as
//! before.
//!
//! # Security
//! Everything stays the account's own: the node is `whitelist` (the owner only) and
//! private storage is per account. Room passwords are copied as the client sent them,
//! in both stores (they are bookmarks' content).
//!
//! # Limitations
//! A set that publishes some rooms and then hits a PEP limit leaves the rooms published
//! so far (each publish is its own transaction); the client gets the error. XEP-0048 in
//! PEP (the `storage:bookmarks` node, `#compat-pep`) is not converted.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use jid::{BareJid, Jid};

use super::ops::{self, Events, Shared, Target};
use crate::modules::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::ns;
use crate::stanza::{Condition, Stanza, StanzaError};
use crate::storage::PubsubLimits;
use crate::xml::{Element, parse_element};

/// XEP-0402 namespace and node.
pub const BOOKMARKS2: &str = "urn:xmpp:bookmarks:1";
/// XEP-0048 namespace.
pub const BOOKMARKS: &str = "storage:bookmarks";
/// The feature advertised on the account (XEP-0402 §6).
pub const COMPAT: &str = "urn:xmpp:bookmarks:1#compat";

/// The compatibility layer, on the private storage routes before
/// [`crate::modules::private::PrivateModule`].
pub struct BookmarksCompat {
    pub(super) shared: Arc<Shared>,
    pub(super) limits: PubsubLimits,
    pub(super) max_item_bytes: usize,
}

static ROUTES: [Route; 2] = [
    Route::iq(IqKind::Get, "query", ns::PRIVATE, To::OwnAccount),
    Route::iq(IqKind::Set, "query", ns::PRIVATE, To::OwnAccount),
];

/// The XEP-0402 `<conference/>` payload for a XEP-0048 `<conference jid/>`, with its
/// room JID; `None` when it has no valid room JID.
pub fn to_bookmarks2(legacy: &Element) -> Option<(String, Element)> {
    let room = legacy.attr("jid").and_then(|j| jid::BareJid::new(j).ok())?;
    let mut c = Element::new("conference", BOOKMARKS2);
    if let Some(name) = legacy.attr("name") {
        c.set_attr("name", name);
    }
    if matches!(legacy.attr("autojoin"), Some("1" | "true")) {
        c.set_attr("autojoin", "true");
    }
    for child in ["nick", "password"] {
        if let Some(v) = legacy.get_child(child, BOOKMARKS) {
            c.push_child(Element::new(child, BOOKMARKS2).with_text(v.text()));
        }
    }
    Some((room.to_string(), c))
}

/// The XEP-0048 `<conference/>` for a XEP-0402 item (id = room JID).
pub fn to_legacy(room: &str, c: &Element) -> Element {
    let mut l = Element::new("conference", BOOKMARKS).with_attr("jid", room);
    if let Some(name) = c.attr("name") {
        l.set_attr("name", name);
    }
    if matches!(c.attr("autojoin"), Some("1" | "true")) {
        l.set_attr("autojoin", "true");
    }
    for child in ["nick", "password"] {
        if let Some(v) = c.get_child(child, BOOKMARKS2) {
            l.push_child(Element::new(child, BOOKMARKS).with_text(v.text()));
        }
    }
    l
}

fn publish_stanza(from: &Jid, room: &str, payload: Element) -> Stanza {
    let field = |var: &str, value: &str| {
        Element::new("field", ns::DATA)
            .with_attr("var", var)
            .child(Element::new("value", ns::DATA).with_text(value))
    };
    let options = Element::new("publish-options", ns::PUBSUB).child(
        Element::new("x", ns::DATA)
            .with_attr("type", "submit")
            .child(
                Element::new("field", ns::DATA)
                    .with_attr("var", "FORM_TYPE")
                    .with_attr("type", "hidden")
                    .child(Element::new("value", ns::DATA).with_text(ns::PUBSUB_PUBLISH_OPTIONS)),
            )
            .child(field("pubsub#persist_items", "true"))
            .child(field("pubsub#max_items", "max"))
            .child(field("pubsub#access_model", "whitelist")),
    );
    let el = Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_attr("id", "bookmarks-compat")
        .with_attr("from", from.as_str())
        .child(
            Element::new("pubsub", ns::PUBSUB)
                .child(
                    Element::new("publish", ns::PUBSUB)
                        .with_attr("node", BOOKMARKS2)
                        .child(
                            Element::new("item", ns::PUBSUB)
                                .with_attr("id", room)
                                .child(payload),
                        ),
                )
                .child(options),
        );
    Stanza::new_from(el)
}

fn retract_stanza(from: &Jid, room: &str) -> Stanza {
    Stanza::new_from(
        Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", "bookmarks-compat")
            .with_attr("from", from.as_str())
            .child(
                Element::new("pubsub", ns::PUBSUB).child(
                    Element::new("retract", ns::PUBSUB)
                        .with_attr("node", BOOKMARKS2)
                        .with_attr("notify", "true")
                        .child(Element::new("item", ns::PUBSUB).with_attr("id", room)),
                ),
            ),
    )
}

impl BookmarksCompat {
    fn target<'a>(&self, account: &'a BareJid, service: &'a str) -> Target<'a> {
        Target {
            service,
            pep: Some(account),
            limits: self.limits,
            max_item_bytes: self.max_item_bytes,
            max_subscriptions: 0,
        }
    }

    /// The rooms of the XEP-0402 node as `(room, conference)`; `None` without the node.
    async fn rooms(
        &self,
        cx: &ModuleCtx<'_>,
    ) -> Result<Option<Vec<(String, Element)>>, StanzaError> {
        let storage = cx.router.storage();
        let internal = |_| StanzaError::from_condition(Condition::InternalServerError);
        let Some(node) = storage
            .pubsub_node(cx.account.as_str(), BOOKMARKS2)
            .await
            .map_err(internal)?
        else {
            return Ok(None);
        };
        let items = storage
            .pubsub_items(node.id, &[], None)
            .await
            .map_err(internal)?;
        Ok(Some(
            items
                .into_iter()
                .filter_map(|i| {
                    parse_element(&i.payload, ns::CLIENT)
                        .ok()
                        .filter(|c| c.is("conference", BOOKMARKS2))
                        .map(|c| (i.id, c))
                })
                .collect(),
        ))
    }

    async fn get(&self, cx: &ModuleCtx<'_>, st: &Stanza) -> Outcome {
        let rooms = match self.rooms(cx).await {
            Ok(Some(r)) => r,
            Ok(None) => return Outcome::Pass,
            Err(e) => return Outcome::Reject(e),
        };
        let mut storage = Element::new("storage", BOOKMARKS);
        let mut rooms = rooms;
        rooms.sort_by(|a, b| a.0.cmp(&b.0));
        for (room, c) in &rooms {
            storage.push_child(to_legacy(room, c));
        }
        // XEP-0402 has no URL bookmarks: those of the legacy copy are kept.
        if let Ok(Some(legacy)) = crate::modules::private::get_fragment(
            cx.router.storage(),
            cx.account,
            BOOKMARKS,
            "storage",
        )
        .await
        {
            for u in legacy.children().filter(|c| c.is("url", BOOKMARKS)) {
                storage.push_child(u.clone());
            }
        }
        let q = Element::new("query", ns::PRIVATE).child(storage);
        Outcome::Reply(st.iq_result(Some(q)))
    }

    async fn set(&self, cx: &ModuleCtx<'_>, storage_el: &Element) -> Outcome {
        let wanted: Vec<(String, Element)> = storage_el
            .children()
            .filter(|c| c.is("conference", BOOKMARKS))
            .filter_map(to_bookmarks2)
            .collect();
        let existing = match self.rooms(cx).await {
            Ok(r) => r.unwrap_or_default(),
            Err(e) => return Outcome::Reject(e),
        };
        let service = cx.account.to_string();
        let target = self.target(cx.account, &service);
        let mut events = Events::new();
        for (room, payload) in &wanted {
            if existing.iter().any(|(r, c)| r == room && c == payload) {
                continue;
            }
            let st = publish_stanza(cx.from, room, payload.clone());
            if let Err(e) =
                ops::handle(&self.shared, cx.router, &target, cx.from, &st, &mut events).await
            {
                ops::send_events(cx.router, &target, events).await;
                return Outcome::Reject(e);
            }
        }
        for (room, _) in existing
            .iter()
            .filter(|(r, _)| !wanted.iter().any(|(w, _)| w == r))
        {
            let st = retract_stanza(cx.from, room);
            // A room retracted meanwhile is no error.
            let _ = ops::handle(&self.shared, cx.router, &target, cx.from, &st, &mut events).await;
        }
        ops::send_events(cx.router, &target, events).await;
        // Private storage keeps the legacy copy (URL bookmarks, and what a reader
        // without the node gets).
        Outcome::Pass
    }
}

impl Module for BookmarksCompat {
    fn name(&self) -> &'static str {
        "bookmarks-compat"
    }
    fn account_features(&self) -> &'static [&'static str] {
        &[COMPAT]
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Some(q) = st.payload() else {
                return Outcome::Pass;
            };
            let mut children = q.children();
            let (Some(storage_el), None) = (children.next(), children.next()) else {
                return Outcome::Pass;
            };
            if !storage_el.is("storage", BOOKMARKS) {
                return Outcome::Pass;
            }
            if st.type_attr() == "get" {
                self.get(cx, st).await
            } else {
                self.set(cx, storage_el).await
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        let legacy = parse_element(
            "<conference xmlns='storage:bookmarks' jid='Room@conference.example.org' \
             name='The room' autojoin='1'><nick>alice</nick><password>pw</password></conference>",
            ns::CLIENT,
        )
        .unwrap();
        let (room, c) = to_bookmarks2(&legacy).unwrap();
        assert_eq!(room, "room@conference.example.org");
        assert_eq!(c.attr("autojoin"), Some("true"));
        assert_eq!(c.get_child("nick", BOOKMARKS2).unwrap().text(), "alice");
        let back = to_legacy(&room, &c);
        assert_eq!(back.attr("jid"), Some("room@conference.example.org"));
        assert_eq!(back.attr("name"), Some("The room"));
        assert_eq!(back.get_child("password", BOOKMARKS).unwrap().text(), "pw");
        let bad = parse_element(
            "<conference xmlns='storage:bookmarks' jid='@@'/>",
            ns::CLIENT,
        )
        .unwrap();
        assert!(to_bookmarks2(&bad).is_none());
    }
}
