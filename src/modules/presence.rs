//! RFC 6121 presence: broadcast of a session's presence (§4.2, §4.4), probes (§4.3),
//! directed presence (§4.6), the subscription state machine (§3, Appendix A), and
//! what a session gets once per stream at its first available presence with a
//! non-negative priority (pending subscription requests, §3.1.3, then
//! [`Event::InitialPresence`] for the other modules, e.g. offline messages).
//!
//! It handles every presence a local session sends ([`Route::Sent`]), subscription
//! stanzas and probes arriving for a local account ([`Route::Delivered`]; other
//! presence for a bare JID is delivered by the router to the available sessions), and
//! sends unavailable presence when a session ends ([`Event::SessionClosed`]).
//!
//! # Pre-approval
//! Subscription pre-approval (RFC 6121 §3.4) is offered as the stream feature
//! `<sub xmlns='urn:xmpp:features:pre-approval'/>` unless `roster.pre_approval` is
//! off. A user's `subscribed` to a contact who has not asked (no pending inbound
//! request, subscription `none` or `to`) marks the roster item `approved='true'`
//! (creating it if needed), pushes it, and is not routed to the contact (§3.4.2). A
//! later `subscribe` from that contact is answered with `subscribed` at once and never
//! shown to the user (§3.1.3), the item becomes `from` or `both` and loses
//! the flag. The user's `unsubscribed` cancels a pre-approval; with nothing else to
//! cancel it is not routed either, so the contact never learns of it. With
//! `roster.pre_approval` off, a `subscribed` without a pending request is ignored as
//! before, but approvals already stored are still honoured: the user was told of them.
//!
//! # Security
//! A session may send directed presence to at most `limits.max_directed_presences`
//! JIDs (each must hear of its end); more is refused with `resource-constraint`.
//! A new roster item created by a subscription or a pre-approval counts against
//! `roster.max_items`.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use jid::{BareJid, Jid};
use tracing::debug;

use super::roster;
use super::{Event, EventKind, Local, Module, ModuleCtx, Origin, Outcome, Route, To};
use crate::ns;
use crate::router::{Router, SessionEntry};
use crate::stanza::{Condition, Kind, Stanza, StanzaError};
use crate::storage::{RosterItem, Subscription};
use crate::xml::Element;

/// The presence module's settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Most directed-presence recipients per session (`limits.max_directed_presences`).
    pub max_directed_presences: usize,
    /// Most items per roster (`roster.max_items`).
    pub roster_max_items: u32,
    /// Offer subscription pre-approval (RFC 6121 §3.4; `roster.pre_approval`).
    pub pre_approval: bool,
}

/// RFC 6121 presence and subscriptions.
pub struct PresenceModule {
    settings: Settings,
}

impl PresenceModule {
    /// The module with these settings.
    pub fn new(settings: Settings) -> PresenceModule {
        PresenceModule { settings }
    }
}

/// The JIDs a session sent directed presence to, which must get unavailable presence
/// at its end (§4.6.3): the module's per-session state.
#[derive(Debug, Default)]
struct Directed(HashSet<Jid>);

static ROUTES: [Route; 7] = [
    Route::sent(Kind::Presence, To::Host),
    Route::sent(Kind::Presence, To::OwnAccount),
    Route::sent(Kind::Presence, To::OtherAccount),
    Route::sent(Kind::Presence, To::Resource),
    Route::sent(Kind::Presence, To::Service),
    Route::sent(Kind::Presence, To::Remote),
    Route::delivered(Kind::Presence, Local::Bare),
];

impl Module for PresenceModule {
    fn name(&self) -> &'static str {
        "presence"
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn stream_features(&self) -> Vec<Element> {
        if self.settings.pre_approval {
            vec![Element::new("sub", ns::PRE_APPROVAL)]
        } else {
            Vec::new()
        }
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match cx.route {
                Route::Sent { .. } => {
                    if let Some(sender) = cx.session {
                        let to = cx.to.cloned();
                        outbound_presence(&self.settings, cx.router, sender, st.clone(), to).await;
                    }
                    Outcome::Handled
                }
                Route::Delivered { .. } => {
                    let ptype = st.type_attr();
                    match ptype {
                        "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed" => {
                            if let Ok(Some(from)) = st.from() {
                                let ptype = ptype.to_owned();
                                subscription_in(
                                    cx.router,
                                    cx.account,
                                    &from.to_bare(),
                                    &ptype,
                                    st.clone(),
                                )
                                .await;
                            }
                            Outcome::Handled
                        }
                        // Probes from local contacts are answered at initial presence
                        // (`probe_contacts`); remote probes need federation.
                        "probe" => Outcome::Handled,
                        _ => Outcome::Pass,
                    }
                }
                _ => Outcome::Pass,
            }
        })
    }
    fn events(&self) -> &'static [EventKind] {
        &[EventKind::SessionClosed]
    }
    fn event<'a>(&'a self, router: &'a Arc<Router>, ev: &'a Event<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Event::SessionClosed(entry) = ev {
                session_closed(router, entry).await;
            }
        })
    }
}

/// A session left the registry: if it was available, its contacts, directed-presence
/// recipients and the account's other sessions get unavailable presence (§4.6, §4.5.2);
/// directed presence sent without broadcast presence (e.g. only joining a room) ends
/// with the session too (§4.6.3).
async fn session_closed(router: &Arc<Router>, entry: &Arc<SessionEntry>) {
    let was_available = entry.with_presence(|p| std::mem::replace(&mut p.available, false));
    if was_available {
        let unavailable = Element::new("presence", ns::CLIENT).with_attr("type", "unavailable");
        broadcast_presence(router, entry, unavailable).await;
    } else {
        end_directed(router, entry).await;
    }
}

/// Presence sent by a client (RFC 6121 §4): broadcast, directed, or subscription handling.
async fn outbound_presence(
    settings: &Settings,
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
            let max = settings.max_directed_presences;
            let admitted = sender.with_state(|d: &mut Directed| {
                if !ptype.is_empty() {
                    d.0.remove(&to);
                    true
                } else if d.0.contains(&to) || d.0.len() < max {
                    d.0.insert(to.clone());
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
            router.route_inbound(&Origin::Session, st, &to).await;
        }
        ("subscribe" | "subscribed" | "unsubscribe" | "unsubscribed", Some(to)) => {
            let user = sender.full.to_bare();
            let contact = to.to_bare();
            subscription_out(settings, router, &user, &contact, &ptype, st).await;
        }
        ("error", Some(to)) => router.route_inbound(&Origin::Session, st, &to).await,
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
async fn broadcast_presence(router: &Arc<Router>, sender: &Arc<SessionEntry>, mut el: Element) {
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
        let directed: Vec<Jid> = sender.with_state(|d: &mut Directed| d.0.drain().collect());
        for j in directed
            .into_iter()
            .filter(|j| !sent_to.contains(&j.to_bare().into()))
        {
            send_presence_copy(router, &el, &j).await;
        }
    }
    router.emit(Event::PresenceBroadcast(sender, &el)).await;
}

/// Sends unavailable presence to every directed-presence recipient of a session that
/// never sent broadcast presence, when it ends (RFC 6121 §4.6.3).
async fn end_directed(router: &Arc<Router>, sender: &Arc<SessionEntry>) {
    let directed: Vec<Jid> = sender.with_state(|d: &mut Directed| d.0.drain().collect());
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
        router.route_inbound(&Origin::Server, st, to).await;
    }
}

/// On initial presence, ask for the presence of every contact the user is subscribed to
/// (§4.3). Local contacts answer at once with each available session's last presence,
/// routed like any presence (so the inbound chain, e.g. a block list, applies).
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
                router
                    .route_inbound(&Origin::Server, Stanza::new_from(p), &sender.jid)
                    .await;
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
    router.emit(Event::InitialPresence(sender)).await;
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
        approved: false,
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
    settings: &Settings,
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
    // Whether the contact gets the stanza: not for a pre-approval or its cancellation
    // alone (§3.4.2).
    let mut route_out = true;
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
            let pending = storage
                .remove_pending_subscription(user.as_str(), contact.as_str())
                .await
                .unwrap_or(false);
            if pending {
                // Approval of a pending request (§3.1.4).
                send_own_presence = true;
                let mut it = item.unwrap_or_else(|| new_item(contact));
                it.subscription = add_from(it.subscription);
                it.approved = false;
                Some(it)
            } else if settings.pre_approval {
                // Pre-approval (§3.4.2): ignored when the contact is already subscribed
                // or already pre-approved; never routed to the contact.
                match item {
                    Some(it)
                        if it.approved
                            || matches!(
                                it.subscription,
                                Subscription::From | Subscription::Both
                            ) =>
                    {
                        return;
                    }
                    item => {
                        route_out = false;
                        let mut it = item.unwrap_or_else(|| new_item(contact));
                        it.approved = true;
                        Some(it)
                    }
                }
            } else {
                return;
            }
        }
        "unsubscribed" => {
            let pending = storage
                .remove_pending_subscription(user.as_str(), contact.as_str())
                .await
                .unwrap_or(false);
            let mut unsubscribed = false;
            let changed = item.and_then(|mut it| {
                let before = (it.subscription, it.approved);
                it.subscription = remove_from(it.subscription);
                unsubscribed = before.0 != it.subscription;
                // Also cancels a pre-approval (§3.4).
                it.approved = false;
                (before != (it.subscription, it.approved)).then_some(it)
            });
            if changed.is_none() && !pending {
                return;
            }
            route_out = unsubscribed || pending;
            send_unavailable = unsubscribed;
            changed
        }
        _ => None,
    };
    if let Some(it) = &updated {
        // A new item counts against `roster.max_items`; changing an existing one never
        // fails on the quota.
        let max = if is_new {
            settings.roster_max_items
        } else {
            u32::MAX
        };
        let ver = match storage
            .put_roster_item_versioned(user.as_str(), it, max)
            .await
        {
            Ok(v) => v,
            Err(crate::storage::Error::RosterFull) => {
                if ptype == "subscribed" && route_out {
                    // The approval failed: keep the request pending (it was taken off
                    // above), so that the user can approve once the roster has room.
                    let request = presence("subscribe", contact, user).el().to_xml(ns::CLIENT);
                    let _ = storage
                        .add_pending_subscription(user.as_str(), contact.as_str(), &request)
                        .await;
                }
                return router.bounce_to_sender(&Origin::Session, &st, roster::roster_full());
            }
            Err(_) => return,
        };
        roster::push(router, user, it, false, ver);
    }
    if !route_out {
        return;
    }
    let mut out = presence(ptype, user, contact);
    // Keep the client's payload (e.g. a nickname, XEP-0172) but stamp bare addresses (§3.1.2).
    for c in st.el().children() {
        out.el_mut().push_child(c.clone());
    }
    router
        .route_inbound(&Origin::Server, out, &Jid::from(contact.clone()))
        .await;
    if send_own_presence {
        send_current_presence(router, user, contact).await;
    }
    if send_unavailable {
        send_unavailable_from_all(router, user, contact).await;
    }
}

/// The last presence of each of `user`'s available sessions, to a contact who was just
/// approved (RFC 6121 §3.1.5).
async fn send_current_presence(router: &Arc<Router>, user: &BareJid, contact: &BareJid) {
    for s in router.sessions_of(user) {
        let last = s.with_presence(|p| if p.available { p.last.clone() } else { None });
        if let Some(mut p) = last {
            p.set_attr("from", s.full.as_str());
            p.set_attr("to", contact.as_str());
            if let Ok(st) = Stanza::from_element(p, ns::CLIENT) {
                router
                    .route_inbound(&Origin::Server, st, &Jid::from(contact.clone()))
                    .await;
            }
        }
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
                .route_inbound(
                    &Origin::Server,
                    Stanza::new_from(el),
                    &Jid::from(contact.clone()),
                )
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
                    .route_inbound(&Origin::Server, reply, &Jid::from(contact.clone()))
                    .await;
                return;
            }
            if let Some(mut it) = item.clone().filter(|i| i.approved) {
                // Pre-approved (§3.1.3, §3.4): approve without asking the user.
                it.approved = false;
                it.subscription = add_from(it.subscription);
                let Ok(ver) = storage
                    .put_roster_item_versioned(user.as_str(), &it, u32::MAX)
                    .await
                else {
                    return;
                };
                let _ = storage
                    .remove_pending_subscription(user.as_str(), contact.as_str())
                    .await;
                roster::push(router, user, &it, false, ver);
                let reply = presence("subscribed", user, contact);
                router
                    .route_inbound(&Origin::Server, reply, &Jid::from(contact.clone()))
                    .await;
                send_current_presence(router, user, contact).await;
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
            if let Ok(ver) = storage
                .put_roster_item_versioned(user.as_str(), &it, u32::MAX)
                .await
            {
                roster::push(router, user, &it, false, ver);
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
                    && let Ok(ver) = storage
                        .put_roster_item_versioned(user.as_str(), &it, u32::MAX)
                        .await
                {
                    roster::push(router, user, &it, false, ver);
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
                && let Ok(ver) = storage
                    .put_roster_item_versioned(user.as_str(), &it, u32::MAX)
                    .await
            {
                roster::push(router, user, &it, false, ver);
                deliver(router, st.el());
            }
        }
        _ => {}
    }
}

/// Outbound cancellation when the user removes a contact from the roster (§2.5.2):
/// `unsubscribe` if subscribed to the contact, `unsubscribed` if the contact is subscribed.
pub async fn roster_removed(router: &Arc<Router>, user: &BareJid, old: &RosterItem) {
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
                &Origin::Server,
                presence("unsubscribe", user, &contact),
                &Jid::from(contact.clone()),
            )
            .await;
    }
    if matches!(old.subscription, Subscription::From | Subscription::Both) {
        send_unavailable_from_all(router, user, &contact).await;
        router
            .route_inbound(
                &Origin::Server,
                presence("unsubscribed", user, &contact),
                &Jid::from(contact.clone()),
            )
            .await;
    }
}

/// The feature: `limits.max_directed_presences` and `roster.max_items`.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let settings = Settings {
        max_directed_presences: cx.config.limits.max_directed_presences as usize,
        roster_max_items: cx.config.roster.max_items,
        pre_approval: cx.config.roster.pre_approval,
    };
    Box::pin(async move { Ok(super::Built::module(PresenceModule::new(settings))) })
}
