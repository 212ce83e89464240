//! RFC 6121 §2 roster management: get, set (add/update), remove, and roster pushes,
//! with roster versioning (§2.6, XEP-0237).
//!
//! # Versioning
//! The stream feature `<ver xmlns='urn:xmpp:features:rosterver'/>` is offered. Every
//! roster result and push carries `ver`, the roster's [`RosterVersion`], which storage
//! bumps in the transaction of every roster change (sets, removals, and the changes
//! subscription processing makes, [`super::presence`]). A get whose `ver` is the
//! current one is answered with an empty result (§2.6.3: the client's cache is up to
//! date; pushes follow as usual); any other `ver`, `ver=''` ("no cached roster") or
//! none gets the whole roster. The server never sends a delta: a client with an older
//! version always gets the whole roster, which §2.6.3 allows.
//!
//! # Security
//! A roster is bounded (`[roster]`): a new item beyond `max_items` is refused with
//! `resource-constraint`; more than `max_groups_per_item` groups, or a name or group
//! longer than `max_name_bytes`, with `not-acceptable` (RFC 6121 §2.3.3). Each error
//! carries a text naming the limit. The version string is a random per-account epoch
//! and a change counter: it tells the owner, the only one who sees it, how many
//! changes the roster had, and nothing else.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use jid::BareJid;

use super::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::ns;
use crate::router::Router;
use crate::stanza::{Condition, Stanza, StanzaError};
use crate::storage::{RosterItem, RosterVersion, Subscription};
use crate::xml::Element;

/// The roster limits (`[roster]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most items per roster (`roster.max_items`).
    pub max_items: u32,
    /// Most groups per item (`roster.max_groups_per_item`).
    pub max_groups: usize,
    /// Longest item or group name in bytes (`roster.max_name_bytes`).
    pub max_name_bytes: usize,
}

/// `jabber:iq:roster` get and set on the user's own account.
pub struct RosterModule {
    limits: Limits,
}

impl RosterModule {
    /// The module with these limits.
    pub fn new(limits: Limits) -> RosterModule {
        RosterModule { limits }
    }
}

static ROUTES: [Route; 2] = [
    Route::iq(IqKind::Get, "query", ns::ROSTER, To::OwnAccount),
    Route::iq(IqKind::Set, "query", ns::ROSTER, To::OwnAccount),
];

impl Module for RosterModule {
    fn name(&self) -> &'static str {
        "roster"
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn stream_features(&self) -> Vec<Element> {
        vec![Element::new("ver", ns::ROSTER_VER)]
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if st.el().attr("type") == Some("get") {
                get(cx, st).await
            } else {
                set(&self.limits, cx, st).await
            }
        })
    }
}

/// Roster get (§2.1.3), with the version check of §2.6.3.
async fn get(cx: &ModuleCtx<'_>, st: &Stanza) -> Outcome {
    let (items, version) = match cx
        .router
        .storage()
        .roster_with_version(cx.account.as_str())
        .await
    {
        Ok(i) => i,
        Err(_) => return Outcome::Reject(Condition::InternalServerError.into()),
    };
    if let Ok(full) = cx.from.try_as_full()
        && let Some(s) = cx.router.session(full)
    {
        s.with_presence(|p| p.interested = true);
    }
    let ver = version.to_string();
    let cached = st.payload().and_then(|q| q.attr("ver"));
    if cached == Some(ver.as_str()) {
        // §2.6.3: the cached roster is current; an empty result, pushes follow.
        return Outcome::Reply(st.iq_result(None));
    }
    let mut q = Element::new("query", ns::ROSTER).with_attr("ver", ver);
    for it in &items {
        q.push_child(item_element(it, false));
    }
    Outcome::Reply(st.iq_result(Some(q)))
}

fn bad(text: &str) -> Outcome {
    Outcome::Reject(StanzaError::from_condition(Condition::BadRequest).with_text(text))
}

async fn set(cfg: &Limits, cx: &ModuleCtx<'_>, st: &Stanza) -> Outcome {
    let Some(q) = st.payload() else {
        return bad("missing query");
    };
    let mut items = q.children().filter(|c| c.is("item", ns::ROSTER));
    let (Some(item), None) = (items.next(), items.next()) else {
        return bad("a roster set carries exactly one item");
    };
    let Some(contact) = item.attr("jid").and_then(crate::stanza::parse_bare_jid) else {
        return Outcome::Reject(Condition::JidMalformed.into());
    };
    if item.attr("jid").is_some_and(|j| j.contains('/')) {
        return bad("roster items are bare JIDs");
    }
    if contact == *cx.account {
        return Outcome::Reject(
            StanzaError::from_condition(Condition::NotAllowed).with_text("you cannot add yourself"),
        );
    }
    let storage = cx.router.storage();
    let owner = cx.account.as_str();
    match item.attr("subscription") {
        Some("remove") => {
            let old = match storage.roster_item(owner, contact.as_str()).await {
                Ok(Some(o)) => o,
                Ok(None) => return Outcome::Reject(Condition::ItemNotFound.into()),
                Err(_) => return Outcome::Reject(Condition::InternalServerError.into()),
            };
            let ver = match storage
                .remove_roster_item_versioned(owner, contact.as_str())
                .await
            {
                Ok(Some(v)) => v,
                // Removed meanwhile by a concurrent request, which pushed it.
                Ok(None) => return Outcome::Reply(st.iq_result(None)),
                Err(_) => return Outcome::Reject(Condition::InternalServerError.into()),
            };
            push(cx.router, cx.account, &old, true, ver);
            super::presence::roster_removed(cx.router, cx.account, &old).await;
            Outcome::Reply(st.iq_result(None))
        }
        Some(_) => bad("subscription may only be 'remove' in a roster set"),
        None => {
            let name = item
                .attr("name")
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
            let mut groups: Vec<String> = Vec::new();
            for g in item.children().filter(|c| c.is("group", ns::ROSTER)) {
                let g = g.text();
                if g.is_empty() || groups.contains(&g) {
                    return Outcome::Reject(Condition::NotAcceptable.into());
                }
                if groups.len() >= cfg.max_groups {
                    return Outcome::Reject(
                        StanzaError::from_condition(Condition::NotAcceptable)
                            .with_text("too many groups on one roster item"),
                    );
                }
                groups.push(g);
            }
            let max_name = cfg.max_name_bytes;
            if name.as_ref().is_some_and(|n| n.len() > max_name)
                || groups.iter().any(|g| g.len() > max_name)
            {
                return Outcome::Reject(
                    StanzaError::from_condition(Condition::NotAcceptable)
                        .with_text("roster item name or group name too long"),
                );
            }
            let existing = match storage.roster_item(owner, contact.as_str()).await {
                Ok(e) => e,
                Err(_) => return Outcome::Reject(Condition::InternalServerError.into()),
            };
            // The client cannot set `subscription`, `ask` or `approved` (§2.1.2.1,
            // §2.1.2.2, §3.4): they keep their stored values.
            let (subscription, ask, approved) = existing
                .map(|e| (e.subscription, e.ask, e.approved))
                .unwrap_or((Subscription::None, false, false));
            let it = RosterItem {
                jid: contact.to_string(),
                name,
                subscription,
                ask,
                groups,
                approved,
            };
            let ver = match storage
                .put_roster_item_versioned(owner, &it, cfg.max_items)
                .await
            {
                Ok(v) => v,
                Err(crate::storage::Error::RosterFull) => return Outcome::Reject(roster_full()),
                Err(_) => return Outcome::Reject(Condition::InternalServerError.into()),
            };
            push(cx.router, cx.account, &it, false, ver);
            Outcome::Reply(st.iq_result(None))
        }
    }
}

/// The refusal of a new roster item beyond `roster.max_items`: `resource-constraint`
/// (type `wait`), with a text.
pub fn roster_full() -> StanzaError {
    StanzaError::from_condition(Condition::ResourceConstraint)
        .with_text("the roster has the maximum number of items")
}

/// `<item/>` for a roster result or push (§2.1.2); `approved='true'` for a
/// pre-approved contact (§3.4), never `approved='false'`.
pub fn item_element(it: &RosterItem, removed: bool) -> Element {
    let mut e = Element::new("item", ns::ROSTER).with_attr("jid", it.jid.clone());
    if removed {
        e.set_attr("subscription", "remove");
        return e;
    }
    e.set_attr("subscription", it.subscription.as_str());
    if let Some(n) = &it.name {
        e.set_attr("name", n.clone());
    }
    if it.ask {
        e.set_attr("ask", "subscribe");
    }
    if it.approved {
        e.set_attr("approved", "true");
    }
    for g in &it.groups {
        e.push_child(Element::new("group", ns::ROSTER).with_text(g.clone()));
    }
    e
}

/// Roster push (§2.1.6) of one item to every session of `owner` that requested the
/// roster, carrying `ver` (§2.1.6, §2.6), the roster's version after this change as the
/// storage write returned it.
pub fn push(
    router: &Arc<Router>,
    owner: &BareJid,
    it: &RosterItem,
    removed: bool,
    ver: RosterVersion,
) {
    let ver = ver.to_string();
    for s in router.sessions_of(owner) {
        if !s.with_presence(|p| p.interested) {
            continue;
        }
        let id: u64 = rand::random();
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", format!("push{id:016x}"))
            .with_attr("to", s.full.as_str())
            .child(
                Element::new("query", ns::ROSTER)
                    .with_attr("ver", ver.clone())
                    .child(item_element(it, removed)),
            );
        s.send(iq);
    }
}

/// The feature: the limits of `[roster]`.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let r = &cx.config.roster;
    let limits = Limits {
        max_items: r.max_items,
        max_groups: r.max_groups_per_item as usize,
        max_name_bytes: r.max_name_bytes as usize,
    };
    Box::pin(async move { Ok(super::Built::module(RosterModule::new(limits))) })
}
