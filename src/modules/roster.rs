//! RFC 6121 §2 roster management: get, set (add/update), remove, and roster pushes.
//!
//! # Security
//! A roster is bounded (`[roster]`): a new item beyond `max_items` is refused with
//! `resource-constraint`; more than `max_groups_per_item` groups, or a name or group
//! longer than `max_name_bytes`, with `not-acceptable` (RFC 6121 §2.3.3). Each error
//! carries a text naming the limit.
//!
//! # Limitations
//! Roster versioning (§2.6) is not offered: every get returns the whole roster.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use jid::BareJid;

use super::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::ns;
use crate::router::Router;
use crate::stanza::{Condition, Stanza, StanzaError};
use crate::storage::{RosterItem, Subscription};
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

async fn get(cx: &ModuleCtx<'_>, st: &Stanza) -> Outcome {
    let items = match cx.router.storage().roster(cx.account.as_str()).await {
        Ok(i) => i,
        Err(_) => return Outcome::Reject(Condition::InternalServerError.into()),
    };
    if let Ok(full) = cx.from.try_as_full()
        && let Some(s) = cx.router.session(full)
    {
        s.with_presence(|p| p.interested = true);
    }
    let mut q = Element::new("query", ns::ROSTER);
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
            if storage
                .remove_roster_item(owner, contact.as_str())
                .await
                .is_err()
            {
                return Outcome::Reject(Condition::InternalServerError.into());
            }
            push(cx.router, cx.account, &old, true);
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
            let (subscription, ask) = existing
                .map(|e| (e.subscription, e.ask))
                .unwrap_or((Subscription::None, false));
            let it = RosterItem {
                jid: contact.to_string(),
                name,
                subscription,
                ask,
                groups,
            };
            match storage
                .put_roster_item_capped(owner, &it, cfg.max_items)
                .await
            {
                Ok(()) => {}
                Err(crate::storage::Error::RosterFull) => return Outcome::Reject(roster_full()),
                Err(_) => return Outcome::Reject(Condition::InternalServerError.into()),
            }
            push(cx.router, cx.account, &it, false);
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

/// `<item/>` for a roster result or push (§2.1.2).
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
    for g in &it.groups {
        e.push_child(Element::new("group", ns::ROSTER).with_text(g.clone()));
    }
    e
}

/// Roster push (§2.1.6) of one item to every session of `owner` that requested the roster.
pub fn push(router: &Arc<Router>, owner: &BareJid, it: &RosterItem, removed: bool) {
    for s in router.sessions_of(owner) {
        if !s.with_presence(|p| p.interested) {
            continue;
        }
        let id: u64 = rand::random();
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", format!("push{id:016x}"))
            .with_attr("to", s.full.as_str())
            .child(Element::new("query", ns::ROSTER).child(item_element(it, removed)));
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
