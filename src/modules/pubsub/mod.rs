//! Publish-subscribe: XEP-0163 PEP on every account's bare JID and a XEP-0060 service
//! on `<pubsub.subdomain>.<domain>`, sharing the node code of [`ops`] and the tables of
//! `storage::pubsub`.
//!
//! PEP (XEP-0163): the account owns every node of its service and is the only
//! publisher; publishing to a node that does not exist creates it with the publish
//! options as its configuration (§3, XEP-0060 §7.1.5), and options that differ from an
//! existing node's configuration fail with `precondition-not-met`. Nodes default to the
//! `presence` access model (§4). Notifications (`headline` messages from the bare
//! JID) go to every available session of an entity the access model allows whose
//! XEP-0115 capabilities name `<node>+notify` (§4.3.1): sessions that sent available
//! presence to the account (contacts, through presence delivery) and the account's own
//! sessions; a session gets the last item of each such node when its presence first
//! reaches the account or its capabilities change (§4.3.2). Unknown capabilities are
//! asked of the session (disco#info to `node#ver`, XEP-0115 §6.3) and cached once
//! their hash verifies.
//!
//! The service (XEP-0060): nodes are created by local accounts only (explicitly or by
//! publishing), default to the `open` access model, and have explicit subscribers.
//!
//! # Security
//! Items are read only as the node's access model allows (`presence`: contacts with a
//! `from`/`both` subscription; `roster`: those in an allowed group; `whitelist`: the
//! owner only); nobody else is notified. Payloads are stored and relayed as published
//! (OMEMO key bundles and device lists are never rewritten). Limits per account:
//! `pep.max_nodes`, `pep.max_items_per_node`, `pep.max_item_bytes`,
//! `pep.max_bytes_per_account`; the service's `pubsub.max_nodes_per_account` and
//! `pubsub.max_subscriptions_per_node`. Nothing is logged but storage failures.

pub mod bookmarks;
pub mod caps;
pub mod form;
pub mod interest;
pub mod ops;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use jid::{BareJid, FullJid, Jid};

use self::interest::Next;
use self::ops::{Shared, Target, lock};
use super::{Event, EventKind, IqKind, Local, Module, ModuleCtx, Origin, Outcome, Route, To};
use crate::ns;
use crate::router::{Router, Service};
use crate::stanza::{Condition, Kind, Stanza, StanzaError};
use crate::storage::PubsubLimits;
use crate::xml::Element;

/// How long a session has to answer the server's capabilities query.
const CAPS_TIMEOUT: Duration = Duration::from_secs(30);

/// The features of PEP (XEP-0163 §6.1) and of the service (XEP-0060 §10).
pub const FEATURES: &[&str] = &[
    ns::PUBSUB,
    "http://jabber.org/protocol/pubsub#access-open",
    "http://jabber.org/protocol/pubsub#access-presence",
    "http://jabber.org/protocol/pubsub#access-roster",
    "http://jabber.org/protocol/pubsub#access-whitelist",
    "http://jabber.org/protocol/pubsub#auto-create",
    "http://jabber.org/protocol/pubsub#config-node",
    "http://jabber.org/protocol/pubsub#create-and-configure",
    "http://jabber.org/protocol/pubsub#create-nodes",
    "http://jabber.org/protocol/pubsub#delete-items",
    "http://jabber.org/protocol/pubsub#delete-nodes",
    "http://jabber.org/protocol/pubsub#filtered-notifications",
    "http://jabber.org/protocol/pubsub#instant-nodes",
    "http://jabber.org/protocol/pubsub#item-ids",
    "http://jabber.org/protocol/pubsub#last-published",
    "http://jabber.org/protocol/pubsub#persistent-items",
    "http://jabber.org/protocol/pubsub#presence-notifications",
    ns::PUBSUB_PUBLISH_OPTIONS,
    "http://jabber.org/protocol/pubsub#purge-nodes",
    "http://jabber.org/protocol/pubsub#retract-items",
    "http://jabber.org/protocol/pubsub#retrieve-default",
    "http://jabber.org/protocol/pubsub#retrieve-items",
];

/// PEP settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Node, item and byte limits per account.
    pub limits: PubsubLimits,
    /// Largest item payload, bytes.
    pub max_item_bytes: usize,
}

/// XEP-0163 PEP for every account.
pub struct PepModule {
    settings: Settings,
    shared: Arc<Shared>,
}

static ROUTES: [Route; 11] = [
    Route::iq(IqKind::Get, "pubsub", ns::PUBSUB, To::OwnAccount),
    Route::iq(IqKind::Set, "pubsub", ns::PUBSUB, To::OwnAccount),
    Route::iq(IqKind::Get, "pubsub", ns::PUBSUB, To::OtherAccount),
    Route::iq(IqKind::Set, "pubsub", ns::PUBSUB, To::OtherAccount),
    Route::iq(IqKind::Get, "pubsub", ns::PUBSUB_OWNER, To::OwnAccount),
    Route::iq(IqKind::Set, "pubsub", ns::PUBSUB_OWNER, To::OwnAccount),
    Route::iq(IqKind::Get, "pubsub", ns::PUBSUB_OWNER, To::OtherAccount),
    Route::iq(IqKind::Set, "pubsub", ns::PUBSUB_OWNER, To::OtherAccount),
    Route::iq(IqKind::Get, "query", ns::DISCO_ITEMS, To::OwnAccount),
    Route::iq(IqKind::Get, "query", ns::DISCO_ITEMS, To::OtherAccount),
    Route::delivered(Kind::Presence, Local::Bare),
];

impl PepModule {
    fn target<'a>(&self, account: &'a BareJid, service: &'a str) -> Target<'a> {
        Target {
            service,
            pep: Some(account),
            limits: self.settings.limits,
            max_item_bytes: self.settings.max_item_bytes,
            max_subscriptions: 0,
        }
    }

    /// `session` sent presence `el` to PEP account `account`.
    async fn presence(
        &self,
        router: &Arc<Router>,
        account: &BareJid,
        session: &FullJid,
        el: &Element,
    ) {
        match el.attr("type") {
            None => {}
            Some("unavailable") => {
                return lock(&self.shared.interests).unavailable(Some(account), session);
            }
            Some(_) => return,
        }
        let caps = caps::parse(el);
        let known = caps
            .as_ref()
            .and_then(|c| lock(&self.shared.caps).get(&c.key()));
        let next = lock(&self.shared.interests).available(account, session, caps, known);
        match next {
            Next::Nothing => {}
            Next::SendLast(accounts, notify) => {
                for a in accounts {
                    let service = a.to_string();
                    let t = self.target(&a, &service);
                    ops::send_last_items(&self.shared, router, &t, session, &notify).await;
                }
            }
            Next::Resolve(c) => self.resolve(router, session, c),
        }
    }

    /// Asks a local session for its capabilities (XEP-0115 §6.3), in the background.
    fn resolve(&self, router: &Arc<Router>, session: &FullJid, c: caps::Caps) {
        let Some(entry) = router.session(session) else {
            return; // Remote sessions need federation.
        };
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("from", session.domain().as_str())
            .child(
                Element::new("query", ns::DISCO_INFO)
                    .with_attr("node", format!("{}#{}", c.node, c.ver)),
            );
        let Some((id, rx)) = entry.request(iq) else {
            return;
        };
        let shared = self.shared.clone();
        let settings = self.settings;
        let router2 = router.clone();
        let session = session.clone();
        router.spawn(async move {
            let answer = tokio::time::timeout(CAPS_TIMEOUT, rx).await;
            let info = match answer {
                Ok(Ok(el)) if el.attr("type") == Some("result") => {
                    el.get_child("query", ns::DISCO_INFO).cloned()
                }
                Ok(_) => None,
                Err(_) => {
                    entry.forget_request(&id);
                    None
                }
            };
            let notify = Arc::new(info.as_ref().map(caps::notify_nodes).unwrap_or_default());
            if let Some(info) = &info
                && caps::verify(&c, info)
            {
                lock(&shared.caps).insert(c.key(), notify.clone());
            }
            let accounts = lock(&shared.interests).resolved(&session, &c.key(), notify.clone());
            let module = PepModule { settings, shared };
            for a in &accounts {
                let service = a.to_string();
                let t = module.target(a, &service);
                ops::send_last_items(&module.shared, &router2, &t, &session, &notify).await;
            }
            if !accounts.is_empty() {
                let s = (settings.limits, settings.max_item_bytes);
                ops::send_subscribed_last_items(&module.shared, &router2, s, &session, &notify)
                    .await;
            }
        });
    }
}

impl Module for PepModule {
    fn name(&self) -> &'static str {
        "pep"
    }
    fn account_features(&self) -> &'static [&'static str] {
        FEATURES
    }
    // Clients also look for PEP's features on the server's JID (profanity decides
    // whether to send publish options from there).
    fn disco_features(&self) -> &'static [&'static str] {
        FEATURES
    }
    fn account_identities(&self) -> &'static [(&'static str, &'static str)] {
        &[("pubsub", "pep")]
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if let Route::Delivered { to, .. } = cx.route {
                // Presence for an account's bare JID: its sender's interest in the
                // account's PEP nodes.
                if to == Local::Bare
                    && let Ok(full) = cx.from.clone().try_into_full()
                {
                    self.presence(cx.router, cx.account, &full, st.el()).await;
                }
                return Outcome::Pass;
            }
            let account = match cx.route {
                Route::Iq {
                    to: To::OtherAccount,
                    ..
                } => {
                    let Some(account) = cx.to.map(Jid::to_bare) else {
                        return Outcome::Reject(Condition::ServiceUnavailable.into());
                    };
                    match cx.router.storage().account_exists(account.as_str()).await {
                        Ok(true) => account,
                        Ok(false) => return Outcome::Reject(Condition::ServiceUnavailable.into()),
                        Err(_) => return Outcome::Reject(Condition::InternalServerError.into()),
                    }
                }
                _ => cx.account.clone(),
            };
            let service = account.to_string();
            let target = self.target(&account, &service);
            let result = if st.payload().is_some_and(|p| p.is("query", ns::DISCO_ITEMS)) {
                if st.payload().and_then(|p| p.attr("node")).is_some() {
                    Err(StanzaError::from_condition(Condition::ItemNotFound))
                } else {
                    ops::node_items(cx.router, &target, cx.account, st).await
                }
            } else {
                let mut events = ops::Events::new();
                let result =
                    ops::handle(&self.shared, cx.router, &target, cx.from, st, &mut events).await;
                if let (Ok(reply), Some(session)) = (&result, cx.session) {
                    // The result first, then the notifications (the sender's own
                    // sessions among them).
                    session.send(reply.clone());
                    ops::send_events(cx.router, &target, events).await;
                    return Outcome::Handled;
                }
                ops::send_events(cx.router, &target, events).await;
                result
            };
            match result {
                Ok(el) => Outcome::Reply(el),
                Err(e) => Outcome::Reject(e),
            }
        })
    }
    fn events(&self) -> &'static [EventKind] {
        &[EventKind::PresenceBroadcast, EventKind::AccountDeleted]
    }
    fn event<'a>(&'a self, router: &'a Arc<Router>, ev: &'a Event<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match ev {
                // A session's own broadcast presence: the account's own PEP nodes.
                Event::PresenceBroadcast(session, el) => {
                    let account = session.account.clone();
                    let known = lock(&self.shared.interests).notify_of(&session.full);
                    self.presence(router, &account, &session.full, el).await;
                    // New or changed capabilities already known: the contacts this
                    // session is subscribed to whose presence it does not reach.
                    let now = lock(&self.shared.interests).notify_of(&session.full);
                    if let Some(n) = now
                        && el.attr("type").is_none()
                        && known.as_ref().is_none_or(|k| !Arc::ptr_eq(k, &n))
                    {
                        let s = (self.settings.limits, self.settings.max_item_bytes);
                        ops::send_subscribed_last_items(&self.shared, router, s, &session.full, &n)
                            .await;
                    }
                }
                Event::AccountDeleted(account) => {
                    lock(&self.shared.interests).forget_account(account);
                    ops::forget_service(&self.shared, account.as_str());
                }
                _ => {}
            }
        })
    }
}

/// The XEP-0060 service on one `pubsub.<domain>`.
pub struct PubsubService {
    domain: String,
    limits: PubsubLimits,
    max_item_bytes: usize,
    max_subscriptions: u32,
    shared: Arc<Shared>,
}

impl Service for PubsubService {
    fn name(&self) -> &str {
        "Publish-Subscribe"
    }
    fn handle<'a>(
        &'a self,
        router: &'a Arc<Router>,
        _origin: &'a Origin,
        st: Stanza,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if st.kind() != Kind::Iq || !matches!(st.type_attr(), "get" | "set") {
                return;
            }
            let Ok(Some(from)) = st.from() else {
                return;
            };
            let target = Target {
                service: &self.domain,
                pep: None,
                limits: self.limits,
                max_item_bytes: self.max_item_bytes,
                max_subscriptions: self.max_subscriptions,
            };
            let to_node = st.to().ok().flatten().is_some_and(|t| t.node().is_some());
            let payload = st.payload();
            let mut events = ops::Events::new();
            let result = match payload.map(|p| (p.name(), p.ns())) {
                _ if to_node => Err(StanzaError::from_condition(Condition::ServiceUnavailable)),
                Some(("pubsub", n)) if n == ns::PUBSUB || n == ns::PUBSUB_OWNER => {
                    ops::handle(&self.shared, router, &target, &from, &st, &mut events).await
                }
                Some(("query", n)) if n == ns::DISCO_INFO && st.type_attr() == "get" => {
                    Ok(self.disco_info(&st))
                }
                Some(("query", n)) if n == ns::DISCO_ITEMS && st.type_attr() == "get" => {
                    ops::node_items(router, &target, &from.to_bare(), &st).await
                }
                _ => Err(StanzaError::from_condition(Condition::ServiceUnavailable)),
            };
            let reply = match result {
                Ok(el) => el,
                Err(e) => match st.error_reply(&e) {
                    Some(el) => el,
                    None => return,
                },
            };
            let mut reply = reply;
            reply.set_attr("from", self.domain.as_str());
            if let Ok(reply) = Stanza::from_element(reply, ns::CLIENT) {
                router
                    .route_inbound(&Origin::Service(self.domain.clone()), reply, &from)
                    .await;
            }
            ops::send_events(router, &target, events).await;
        })
    }
}

impl PubsubService {
    fn disco_info(&self, st: &Stanza) -> Element {
        let mut q = Element::new("query", ns::DISCO_INFO).child(
            Element::new("identity", ns::DISCO_INFO)
                .with_attr("category", "pubsub")
                .with_attr("type", "service")
                .with_attr("name", "Publish-Subscribe"),
        );
        for f in std::iter::once(&ns::DISCO_INFO)
            .chain(std::iter::once(&ns::DISCO_ITEMS))
            .chain(FEATURES)
        {
            q.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", *f));
        }
        q.push_child(
            Element::new("feature", ns::DISCO_INFO)
                .with_attr("var", "http://jabber.org/protocol/pubsub#subscribe"),
        );
        st.iq_result(Some(q))
    }
}

/// The feature: with `pep.enabled`, the PEP module; with `pubsub.enabled`, one service
/// per hosted domain. Both share the non-persistent items and the capabilities cache.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    Box::pin(async move {
        let mut built = super::Built::default();
        let pep = &cx.config.pep;
        let shared = Arc::new(Shared::default());
        if pep.enabled {
            built.modules.push(Arc::new(PepModule {
                settings: Settings {
                    limits: PubsubLimits {
                        max_nodes: pep.max_nodes,
                        max_items: pep.max_items_per_node,
                        max_bytes: pep.max_bytes_per_account,
                    },
                    max_item_bytes: usize::try_from(pep.max_item_bytes).unwrap_or(usize::MAX),
                },
                shared: shared.clone(),
            }));
            // XEP-0402 §5.3: before private storage in the feature list.
            built.modules.push(Arc::new(bookmarks::BookmarksCompat {
                shared: shared.clone(),
                limits: PubsubLimits {
                    max_nodes: pep.max_nodes,
                    max_items: pep.max_items_per_node,
                    max_bytes: pep.max_bytes_per_account,
                },
                max_item_bytes: usize::try_from(pep.max_item_bytes).unwrap_or(usize::MAX),
            }));
        }
        let ps = &cx.config.pubsub;
        if ps.enabled {
            for domain in &cx.config.server.domains {
                let service = format!("{}.{domain}", ps.subdomain);
                let svc: Arc<dyn Service> = Arc::new(PubsubService {
                    domain: service.clone(),
                    limits: PubsubLimits {
                        max_nodes: ps.max_nodes_per_account,
                        max_items: pep.max_items_per_node,
                        max_bytes: pep.max_bytes_per_account,
                    },
                    max_item_bytes: usize::try_from(pep.max_item_bytes).unwrap_or(usize::MAX),
                    max_subscriptions: ps.max_subscriptions_per_node,
                    shared: shared.clone(),
                });
                built.services.push((service, svc));
            }
        }
        Ok(built)
    })
}
