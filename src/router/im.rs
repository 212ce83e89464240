//! RFC 6121 instant messaging inside the router: presence broadcast, probes, directed
//! presence, the subscription state machine, message delivery by priority, and the hand-off
//! to offline storage (XEP-0160).

use std::sync::Arc;

use jid::{BareJid, Jid};
use tracing::debug;

use super::{Router, SessionEntry};
use crate::modules::roster;
use crate::ns;
use crate::stanza::{Condition, Kind, Stanza, StanzaError};
use crate::storage::{RosterItem, Subscription};
use crate::xml::Element;

/// Presence sent by a client (RFC 6121 §4): broadcast, directed, or subscription handling.
pub(super) async fn outbound_presence(
    router: &Arc<Router>,
    sender: &Arc<SessionEntry>,
    st: Stanza,
    to: Option<Jid>,
) {
    let ptype = st.type_attr().to_owned();
    match (ptype.as_str(), to) {
        ("" | "unavailable", None) => {
            let mut el = st.into_element();
            el.remove_attr("to");
            let available = ptype.is_empty();
            let priority = priority_of(&el);
            let first = sender.with_presence(|p| {
                let first = available && !p.available;
                p.available = available;
                p.priority = priority;
                p.last = if available { Some(el.clone()) } else { None };
                first
            });
            broadcast_presence(router, sender, el).await;
            if first {
                probe_contacts(router, sender).await;
            }
            if available && priority >= 0 {
                deliver_stored(router, sender).await;
            }
        }
        ("" | "unavailable", Some(to)) => {
            // Directed presence (§4.6): remember recipients so they hear about the end,
            // at most `limits.max_directed_presences` of them.
            let max = router.config().max_directed_presences;
            let admitted = sender.with_presence(|p| {
                if !ptype.is_empty() {
                    p.directed.remove(&to);
                    true
                } else if p.directed.contains(&to) || p.directed.len() < max {
                    p.directed.insert(to.clone());
                    true
                } else {
                    false
                }
            });
            if !admitted {
                let err = StanzaError::from_condition(Condition::ResourceConstraint)
                    .with_text("too many directed presence recipients");
                return router.bounce(sender, &st, err);
            }
            router.route_inbound(st, &to).await;
        }
        ("subscribe" | "subscribed" | "unsubscribe" | "unsubscribed", Some(to)) => {
            let user = sender.full.to_bare();
            let contact = to.to_bare();
            subscription_out(router, &user, &contact, &ptype, st).await;
        }
        ("error", Some(to)) => router.route_inbound(st, &to).await,
        // Probes are the server's business (§4.3); a client's probe and anything else are ignored.
        _ => {}
    }
}

fn priority_of(el: &Element) -> i8 {
    el.get_child("priority", ns::CLIENT)
        .and_then(|p| p.text().trim().parse::<i8>().ok())
        .unwrap_or(0)
}

/// Sends a session's broadcast presence to everyone entitled (§4.2.2, §4.4.2): contacts
/// with a `from`/`both` subscription, the account's available sessions (available
/// presence also to the sending session itself: "an entity is implicitly subscribed to
/// its own presence", §4.2.2) and, for unavailable presence, every directed-presence
/// recipient.
pub(super) async fn broadcast_presence(
    router: &Arc<Router>,
    sender: &Arc<SessionEntry>,
    mut el: Element,
) {
    let user = sender.full.to_bare();
    let from = Jid::from(sender.full.clone());
    el.set_attr("from", from.as_str());
    let unavailable = el.attr("type") == Some("unavailable");
    let items = match router.storage().roster(user.as_str()).await {
        Ok(items) => items,
        Err(e) => {
            debug!(error = %e, "roster read failed during presence broadcast");
            Vec::new()
        }
    };
    let mut sent_to: Vec<Jid> = Vec::new();
    for item in items
        .iter()
        .filter(|i| matches!(i.subscription, Subscription::From | Subscription::Both))
    {
        if let Ok(j) = Jid::new(&item.jid) {
            send_presence_copy(router, &el, &j).await;
            sent_to.push(j);
        }
    }
    for other in router.sessions_of(&user) {
        let own = Arc::ptr_eq(&other, sender);
        if (!own || !unavailable) && other.with_presence(|p| p.available) {
            let mut copy = el.clone();
            copy.set_attr("to", other.full.as_str());
            other.send(copy);
        }
    }
    if unavailable {
        let directed: Vec<Jid> = sender.with_presence(|p| p.directed.drain().collect());
        for j in directed
            .into_iter()
            .filter(|j| !sent_to.contains(&j.to_bare().into()))
        {
            send_presence_copy(router, &el, &j).await;
        }
    }
}

/// Sends unavailable presence to every directed-presence recipient of a session that
/// never sent broadcast presence, when it ends (RFC 6121 §4.6.3).
pub(super) async fn end_directed(router: &Arc<Router>, sender: &Arc<SessionEntry>) {
    let directed: Vec<Jid> = sender.with_presence(|p| p.directed.drain().collect());
    let el = Element::new("presence", ns::CLIENT)
        .with_attr("type", "unavailable")
        .with_attr("from", sender.full.as_str());
    for j in directed {
        send_presence_copy(router, &el, &j).await;
    }
}

async fn send_presence_copy(router: &Arc<Router>, el: &Element, to: &Jid) {
    let mut copy = el.clone();
    copy.set_attr("to", to.as_str());
    if let Ok(st) = Stanza::from_element(copy, ns::CLIENT) {
        router.route_inbound(st, to).await;
    }
}

/// On initial presence, ask for the presence of every contact the user is subscribed to
/// (§4.3). Local contacts answer at once with each available session's last presence.
async fn probe_contacts(router: &Arc<Router>, sender: &Arc<SessionEntry>) {
    let user = sender.full.to_bare();
    let Ok(items) = router.storage().roster(user.as_str()).await else {
        return;
    };
    for item in items
        .iter()
        .filter(|i| matches!(i.subscription, Subscription::To | Subscription::Both))
    {
        let Ok(contact) = BareJid::new(&item.jid) else {
            continue;
        };
        if !router.is_local_domain(contact.domain().as_str()) {
            continue; // Remote probes need federation.
        }
        for s in router.sessions_of(&contact) {
            let last = s.with_presence(|p| if p.available { p.last.clone() } else { None });
            if let Some(mut p) = last {
                p.set_attr("from", s.full.as_str());
                p.set_attr("to", sender.full.as_str());
                sender.send(p);
            }
        }
    }
}

/// Once per session, after the first available presence with non-negative priority:
/// pending subscription requests (§3.1.3) and offline messages (XEP-0160 §3).
async fn deliver_stored(router: &Arc<Router>, sender: &Arc<SessionEntry>) {
    if sender.with_presence(|p| std::mem::replace(&mut p.initial_done, true)) {
        return;
    }
    let user = sender.full.to_bare();
    if let Ok(pending) = router.storage().pending_subscriptions(user.as_str()).await {
        for (contact, _) in pending {
            let el = Element::new("presence", ns::CLIENT)
                .with_attr("type", "subscribe")
                .with_attr("from", contact)
                .with_attr("to", user.as_str());
            sender.send(el);
        }
    }
    crate::modules::offline::deliver(router, sender).await;
}

/// Delivers a stanza to a local JID by RFC 6121 §8.5.
pub(super) async fn deliver_local(router: &Arc<Router>, st: Stanza, to: &Jid) {
    let Some(_node) = to.node() else {
        // Addressed to the domain itself: messages are not handled by the server.
        if st.kind() == Kind::Message {
            bounce_to_sender(router, &st, Condition::ServiceUnavailable).await;
        }
        return;
    };
    let bare = to.to_bare();
    let sessions = router.sessions_of(&bare);
    if let Some(res) = to.resource() {
        if let Some(s) = sessions.iter().find(|s| s.full.resource() == res) {
            if (st.kind() != Kind::Presence
                || s.with_presence(|p| p.available)
                || st.type_attr() != "")
                && let Err(el) = s.try_send(st.into_element())
            {
                router.not_queued(Stanza::new_from(el), false).await;
            }
            return;
        }
        // §8.5.3.2: no such resource.
        match (st.kind(), st.type_attr()) {
            (Kind::Message, "normal" | "chat") => {} // Treated as addressed to the bare JID.
            (Kind::Message, "groupchat") | (Kind::Iq, "get" | "set") => {
                return bounce_to_sender(router, &st, Condition::ServiceUnavailable).await;
            }
            (Kind::Presence, "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed") => {}
            _ => return,
        }
    }
    match st.kind() {
        Kind::Message => deliver_message_to_bare(router, st, &bare, &sessions).await,
        Kind::Presence => deliver_presence_to_bare(router, st, &bare, &sessions).await,
        Kind::Iq => {
            // IQs to another account's bare JID are answered by the server for the account;
            // the router's module table has no handler here yet.
            if matches!(st.type_attr(), "get" | "set") {
                bounce_to_sender(router, &st, Condition::ServiceUnavailable).await;
            }
        }
    }
}

async fn deliver_message_to_bare(
    router: &Arc<Router>,
    st: Stanza,
    bare: &BareJid,
    sessions: &[Arc<SessionEntry>],
) {
    let mtype = st.type_attr().to_owned();
    if mtype == "groupchat" {
        return bounce_to_sender(router, &st, Condition::ServiceUnavailable).await;
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
            router.not_queued(st, true).await;
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
            return bounce_to_sender(router, &st, Condition::InternalServerError).await;
        }
    };
    if !exists {
        return bounce_to_sender(router, &st, Condition::ServiceUnavailable).await;
    }
    crate::modules::offline::store(router, st, bare).await;
}

async fn deliver_presence_to_bare(
    router: &Arc<Router>,
    st: Stanza,
    bare: &BareJid,
    sessions: &[Arc<SessionEntry>],
) {
    let ptype = st.type_attr().to_owned();
    match ptype.as_str() {
        "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" => {
            let Ok(Some(from)) = st.from() else { return };
            subscription_in(router, bare, &from.to_bare(), &ptype, st).await;
        }
        "probe" => {}
        _ => {
            for s in sessions.iter().filter(|s| s.with_presence(|p| p.available)) {
                let mut copy = st.el().clone();
                copy.set_attr("to", s.full.as_str());
                s.send(copy);
            }
        }
    }
}

/// Sends the error reply for a stanza to its (local) sender.
pub(super) async fn bounce_to_sender(router: &Arc<Router>, st: &Stanza, cond: Condition) {
    router.bounce_to_sender(st, StanzaError::from_condition(cond));
}

fn presence(ptype: &str, from: &BareJid, to: &BareJid) -> Stanza {
    let el = Element::new("presence", ns::CLIENT)
        .with_attr("type", ptype)
        .with_attr("from", from.as_str())
        .with_attr("to", to.as_str());
    Stanza::new_from(el)
}

/// A roster item created by a subscription stanza: no name, no groups, no subscription.
fn new_item(contact: &BareJid) -> RosterItem {
    RosterItem {
        jid: contact.to_string(),
        name: None,
        subscription: Subscription::None,
        ask: false,
        groups: Vec::new(),
    }
}

/// The user now receives the contact's presence (RFC 6121 Appendix A: none→to, from→both).
fn add_to(s: Subscription) -> Subscription {
    match s {
        Subscription::None => Subscription::To,
        Subscription::From => Subscription::Both,
        s => s,
    }
}

/// The user no longer receives the contact's presence (to→none, both→from).
fn remove_to(s: Subscription) -> Subscription {
    match s {
        Subscription::To => Subscription::None,
        Subscription::Both => Subscription::From,
        s => s,
    }
}

/// The contact now receives the user's presence (none→from, to→both).
fn add_from(s: Subscription) -> Subscription {
    match s {
        Subscription::None => Subscription::From,
        Subscription::To => Subscription::Both,
        s => s,
    }
}

/// The contact no longer receives the user's presence (from→none, both→to).
fn remove_from(s: Subscription) -> Subscription {
    match s {
        Subscription::From => Subscription::None,
        Subscription::Both => Subscription::To,
        s => s,
    }
}

/// Outbound subscription stanza from `user` about `contact` (RFC 6121 §3, Appendix A.2).
async fn subscription_out(
    router: &Arc<Router>,
    user: &BareJid,
    contact: &BareJid,
    ptype: &str,
    st: Stanza,
) {
    let storage = router.storage();
    let item = storage
        .roster_item(user.as_str(), contact.as_str())
        .await
        .ok()
        .flatten();
    let mut send_own_presence = false;
    let mut send_unavailable = false;
    let is_new = item.is_none();
    let updated: Option<RosterItem> = match ptype {
        "subscribe" => {
            let mut it = item.unwrap_or_else(|| new_item(contact));
            if matches!(it.subscription, Subscription::None | Subscription::From) && !it.ask {
                it.ask = true;
                Some(it)
            } else {
                None
            }
        }
        "unsubscribe" => item.and_then(|mut it| {
            let before = (it.subscription, it.ask);
            it.subscription = remove_to(it.subscription);
            it.ask = false;
            (before != (it.subscription, it.ask)).then_some(it)
        }),
        "subscribed" => {
            // Approving only answers a pending request (no pre-approval: §3.4 is not offered).
            let pending = storage
                .remove_pending_subscription(user.as_str(), contact.as_str())
                .await
                .unwrap_or(false);
            if !pending {
                return;
            }
            send_own_presence = true;
            let mut it = item.unwrap_or_else(|| new_item(contact));
            it.subscription = add_from(it.subscription);
            Some(it)
        }
        "unsubscribed" => {
            let pending = storage
                .remove_pending_subscription(user.as_str(), contact.as_str())
                .await
                .unwrap_or(false);
            let changed = item.and_then(|mut it| {
                let before = it.subscription;
                it.subscription = remove_from(it.subscription);
                (before != it.subscription).then_some(it)
            });
            if changed.is_none() && !pending {
                return;
            }
            send_unavailable = changed.is_some();
            changed
        }
        _ => None,
    };
    if let Some(it) = &updated {
        // A new item counts against `roster.max_items`; changing an existing one never
        // fails on the quota.
        let max = if is_new {
            router.config().roster_max_items
        } else {
            u32::MAX
        };
        match storage.put_roster_item_capped(user.as_str(), it, max).await {
            Ok(()) => {}
            Err(crate::storage::Error::RosterFull) => {
                if ptype == "subscribed" {
                    // The approval failed: keep the request pending (it was taken off
                    // above), so that the user can approve once the roster has room.
                    let request = presence("subscribe", contact, user).el().to_xml(ns::CLIENT);
                    let _ = storage
                        .add_pending_subscription(user.as_str(), contact.as_str(), &request)
                        .await;
                }
                return router.bounce_to_sender(&st, roster::roster_full());
            }
            Err(_) => return,
        }
        roster::push(router, user, it, false);
    }
    let mut out = presence(ptype, user, contact);
    // Keep the client's payload (e.g. a nickname, XEP-0172) but stamp bare addresses (§3.1.2).
    for c in st.el().children() {
        out.el_mut().push_child(c.clone());
    }
    router.route_inbound(out, &Jid::from(contact.clone())).await;
    if send_own_presence {
        for s in router.sessions_of(user) {
            let last = s.with_presence(|p| if p.available { p.last.clone() } else { None });
            if let Some(mut p) = last {
                p.set_attr("from", s.full.as_str());
                p.set_attr("to", contact.as_str());
                if let Ok(st) = Stanza::from_element(p, ns::CLIENT) {
                    router.route_inbound(st, &Jid::from(contact.clone())).await;
                }
            }
        }
    }
    if send_unavailable {
        send_unavailable_from_all(router, user, contact).await;
    }
}

async fn send_unavailable_from_all(router: &Arc<Router>, user: &BareJid, contact: &BareJid) {
    for s in router.sessions_of(user) {
        if s.with_presence(|p| p.available) {
            let el = Element::new("presence", ns::CLIENT)
                .with_attr("type", "unavailable")
                .with_attr("from", s.full.as_str())
                .with_attr("to", contact.as_str());
            router
                .route_inbound(Stanza::new_from(el), &Jid::from(contact.clone()))
                .await;
        }
    }
}

/// Inbound subscription stanza for local `user` from `contact` (RFC 6121 §3, Appendix A.3).
async fn subscription_in(
    router: &Arc<Router>,
    user: &BareJid,
    contact: &BareJid,
    ptype: &str,
    st: Stanza,
) {
    let storage = router.storage();
    let item = storage
        .roster_item(user.as_str(), contact.as_str())
        .await
        .ok()
        .flatten();
    let deliver = |router: &Arc<Router>, el: &Element| {
        for s in router
            .sessions_of(user)
            .iter()
            .filter(|s| s.with_presence(|p| p.available || p.interested))
        {
            let mut c = el.clone();
            c.set_attr("to", user.as_str());
            s.send(c);
        }
    };
    match ptype {
        "subscribe" => {
            if item
                .as_ref()
                .is_some_and(|i| matches!(i.subscription, Subscription::From | Subscription::Both))
            {
                // Already approved: auto-reply (§3.1.3).
                let reply = presence("subscribed", user, contact);
                router
                    .route_inbound(reply, &Jid::from(contact.clone()))
                    .await;
                return;
            }
            match storage.account_exists(user.as_str()).await {
                Ok(true) => {}
                _ => return, // Unknown account: presence is silently ignored (§8.5.2.2.1... §8.5.1).
            }
            let xml = st.el().to_xml(ns::CLIENT);
            if storage
                .add_pending_subscription(user.as_str(), contact.as_str(), &xml)
                .await
                .is_ok()
            {
                deliver(router, st.el());
            }
        }
        "subscribed" => {
            let Some(mut it) = item else { return };
            if !it.ask {
                return;
            }
            it.ask = false;
            it.subscription = add_to(it.subscription);
            if storage.put_roster_item(user.as_str(), &it).await.is_ok() {
                roster::push(router, user, &it, false);
                deliver(router, st.el());
            }
        }
        "unsubscribe" => {
            let _ = storage
                .remove_pending_subscription(user.as_str(), contact.as_str())
                .await;
            if let Some(mut it) = item {
                let before = it.subscription;
                it.subscription = remove_from(it.subscription);
                if before != it.subscription
                    && storage.put_roster_item(user.as_str(), &it).await.is_ok()
                {
                    roster::push(router, user, &it, false);
                    deliver(router, st.el());
                    // The contact no longer receives the user's presence (§3.3.3).
                    send_unavailable_from_all(router, user, contact).await;
                }
            }
        }
        "unsubscribed" => {
            let Some(mut it) = item else { return };
            let before = (it.subscription, it.ask);
            it.subscription = remove_to(it.subscription);
            it.ask = false;
            if before != (it.subscription, it.ask)
                && storage.put_roster_item(user.as_str(), &it).await.is_ok()
            {
                roster::push(router, user, &it, false);
                deliver(router, st.el());
            }
        }
        _ => {}
    }
}

/// Outbound cancellation when the user removes a contact from the roster (§2.5.2):
/// `unsubscribe` if subscribed to the contact, `unsubscribed` if the contact is subscribed.
pub(crate) async fn roster_removed(router: &Arc<Router>, user: &BareJid, old: &RosterItem) {
    let Ok(contact) = BareJid::new(&old.jid) else {
        return;
    };
    let _ = router
        .storage()
        .remove_pending_subscription(user.as_str(), contact.as_str())
        .await;
    if matches!(old.subscription, Subscription::To | Subscription::Both) || old.ask {
        router
            .route_inbound(
                presence("unsubscribe", user, &contact),
                &Jid::from(contact.clone()),
            )
            .await;
    }
    if matches!(old.subscription, Subscription::From | Subscription::Both) {
        send_unavailable_from_all(router, user, &contact).await;
        router
            .route_inbound(
                presence("unsubscribed", user, &contact),
                &Jid::from(contact.clone()),
            )
            .await;
    }
}
