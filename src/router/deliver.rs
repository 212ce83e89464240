//! RFC 6121 §8.5 delivery to local JIDs: a stanza for a hosted domain goes through the
//! inbound chain and the modules on its [`Route::Delivered`], then by the rules: to the
//! named resource, or by priority to the account's available sessions, or to the
//! modules on [`Route::Undeliverable`] (offline storage). Presence and subscriptions
//! are the presence module's ([`Route::Delivered`] for presence to a bare JID).

use std::sync::Arc;

use jid::{BareJid, Jid};
use tracing::debug;

use super::hooks::{Chain, ChainResult, Local, ModuleCtx, Origin, Outcome, Route};
use super::{Router, SessionEntry, sender_or};
use crate::stanza::{Condition, Kind, Stanza, StanzaError};

/// Runs the modules on `Delivered(kind, to)`; `Some(st)` when they all passed.
async fn delivered(
    router: &Arc<Router>,
    origin: &Origin,
    st: Stanza,
    to: &Jid,
    local: Local,
) -> Option<Stanza> {
    let route = Route::delivered(st.kind(), local);
    if router.table.route(&route).is_empty() {
        return Some(st);
    }
    let account = to.to_bare();
    let from = sender_or(&st, &account);
    let cx = ModuleCtx {
        router,
        origin,
        from: &from,
        account: &account,
        session: None,
        to: Some(to),
        route,
    };
    match router.run_route(&cx, &st).await {
        None | Some(Outcome::Pass) => Some(st),
        Some(Outcome::Handled | Outcome::Reply(_)) => None,
        Some(Outcome::Reject(e)) => {
            router.bounce_to_sender(origin, &st, e);
            None
        }
    }
}

/// Delivers a stanza to a local JID by RFC 6121 §8.5.
pub(super) async fn deliver_local(router: &Arc<Router>, origin: &Origin, st: Stanza, to: &Jid) {
    let Some(_node) = to.node() else {
        // Addressed to the domain itself: messages are not handled by the server.
        let Some(st) = delivered(router, origin, st, to, Local::Host).await else {
            return;
        };
        if st.kind() == Kind::Message {
            bounce_to_sender(router, origin, &st, Condition::ServiceUnavailable);
        }
        return;
    };
    let mut st = st;
    let bare = to.to_bare();
    if router.has_filters(Chain::Inbound) {
        let from = sender_or(&st, &bare);
        let cx = ModuleCtx {
            router,
            origin,
            from: &from,
            account: &bare,
            session: None,
            to: Some(to),
            route: Route::delivered(
                st.kind(),
                if to.resource().is_some() {
                    Local::Full
                } else {
                    Local::Bare
                },
            ),
        };
        match router.filter(Chain::Inbound, &cx, &mut st).await {
            ChainResult::Continue(_) => {}
            ChainResult::Reject(e) => return router.bounce_to_sender(origin, &st, e),
            ChainResult::Drop => return,
        }
    }
    let sessions = router.sessions_of(&bare);
    if let Some(res) = to.resource() {
        let Some(st) = delivered(router, origin, st, to, Local::Full).await else {
            return;
        };
        if let Some(s) = sessions.iter().find(|s| s.full.resource() == res) {
            if (st.kind() != Kind::Presence
                || s.with_presence(|p| p.available)
                || st.type_attr() != "")
                && let Err(el) = s.try_send(st.into_element())
            {
                router.not_queued(origin, Stanza::new_from(el), false).await;
            }
            return;
        }
        // §8.5.3.2: no such resource.
        match (st.kind(), st.type_attr()) {
            (Kind::Message, "normal" | "chat") => {} // Treated as addressed to the bare JID.
            (Kind::Message, "groupchat") | (Kind::Iq, "get" | "set") => {
                return bounce_to_sender(router, origin, &st, Condition::ServiceUnavailable);
            }
            (Kind::Presence, "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed") => {}
            _ => return,
        }
        return deliver_to_bare(router, origin, st, &bare, &sessions).await;
    }
    deliver_to_bare(router, origin, st, &bare, &sessions).await;
}

async fn deliver_to_bare(
    router: &Arc<Router>,
    origin: &Origin,
    st: Stanza,
    bare: &BareJid,
    sessions: &[Arc<SessionEntry>],
) {
    if st.kind() == Kind::Iq {
        // IQs to another account's bare JID are answered by the server for the account;
        // the router's module table has no handler here yet.
        if matches!(st.type_attr(), "get" | "set") {
            bounce_to_sender(router, origin, &st, Condition::ServiceUnavailable);
        }
        return;
    }
    let to = Jid::from(bare.clone());
    let Some(st) = delivered(router, origin, st, &to, Local::Bare).await else {
        return;
    };
    match st.kind() {
        Kind::Message => deliver_message_to_bare(router, origin, st, bare, sessions).await,
        Kind::Presence => deliver_presence_to_bare(st, sessions),
        Kind::Iq => {}
    }
}

async fn deliver_message_to_bare(
    router: &Arc<Router>,
    origin: &Origin,
    st: Stanza,
    bare: &BareJid,
    sessions: &[Arc<SessionEntry>],
) {
    let mtype = st.type_attr().to_owned();
    if mtype == "groupchat" {
        return bounce_to_sender(router, origin, &st, Condition::ServiceUnavailable);
    }
    if mtype == "error" {
        return; // §8.5.2.1.1: silently ignored.
    }
    let avail: Vec<(i8, &Arc<SessionEntry>)> = sessions
        .iter()
        .filter_map(|s| {
            s.with_presence(|p| (p.available && p.priority >= 0).then_some((p.priority, s)))
        })
        .collect();
    if let Some(max) = avail.iter().map(|(p, _)| *p).max() {
        // normal/chat: the sessions with the highest priority; headline: all non-negative.
        let mut queued = false;
        for (p, s) in &avail {
            if mtype == "headline" || *p == max {
                queued |= s.send(st.el().clone());
            }
        }
        if !queued {
            // Every chosen session's queue is full: offline storage or a bounce.
            router.not_queued(origin, st, true).await;
        }
        return;
    }
    if mtype == "headline" {
        return;
    }
    let exists = match router.storage().account_exists(bare.as_str()).await {
        Ok(e) => e,
        Err(e) => {
            debug!(error = %e, "account lookup failed");
            return bounce_to_sender(router, origin, &st, Condition::InternalServerError);
        }
    };
    if !exists {
        return bounce_to_sender(router, origin, &st, Condition::ServiceUnavailable);
    }
    router.undeliverable(origin, st, bare).await;
}

/// Presence for a bare JID that no module took (§8.5.2.1.2 for available and
/// unavailable presence): a copy to every available session. Subscription stanzas and
/// probes are the presence module's; without it they are dropped.
fn deliver_presence_to_bare(st: Stanza, sessions: &[Arc<SessionEntry>]) {
    if matches!(
        st.type_attr(),
        "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" | "probe"
    ) {
        return;
    }
    for s in sessions.iter().filter(|s| s.with_presence(|p| p.available)) {
        let mut copy = st.el().clone();
        copy.set_attr("to", s.full.as_str());
        s.send(copy);
    }
}

/// Sends the error reply for a stanza to its (local) sender.
fn bounce_to_sender(router: &Arc<Router>, origin: &Origin, st: &Stanza, cond: Condition) {
    router.bounce_to_sender(origin, st, StanzaError::from_condition(cond));
}
