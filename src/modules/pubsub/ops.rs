//! The XEP-0060 use cases shared by PEP (XEP-0163: the service is an account's bare
//! JID, the account owns every node) and the `pubsub.<domain>` service (the creating
//! account owns a node): publish (§7.1, with auto-create and publish options §7.1.5),
//! retract (§7.2), items (§6.5), create (§8.1), configure (§8.2), default (§8.3),
//! delete (§8.4), purge (§8.5), subscribe and unsubscribe (§6.1, §6.2; the service
//! only), and node discovery (§5.2).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use jid::{BareJid, FullJid, Jid};
use tracing::debug;

use super::caps::Notify;
use super::form::{self, FieldError};
use super::interest::Interests;
use crate::modules::Origin;
use crate::ns;
use crate::router::Router;
use crate::stanza::{Condition, ErrorType, Stanza, StanzaError};
use crate::storage::{
    AccessModel, CreateOutcome, NodeConfig, PublishOutcome, PubsubLimits, StoredItem, StoredNode,
    Subscription,
};
use crate::xml::{Element, parse_element};

/// Longest node name and item id, bytes.
pub const MAX_ID_BYTES: usize = 1024;

/// What both kinds of service share: the non-persistent items and, for PEP, who hears
/// of what.
#[derive(Debug, Default)]
pub struct Shared {
    /// Last item of each node whose items are not persistent, by (service, node); lost
    /// on restart, as `pubsub#persist_items = false` means.
    transient: Mutex<HashMap<(String, String), StoredItem>>,
    /// PEP recipients ([`Interests`]).
    pub interests: Mutex<Interests>,
    /// Verified XEP-0115 answers.
    pub caps: Mutex<super::caps::CapsCache>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Which service a request is for.
pub struct Target<'a> {
    /// The service's address: an account's bare JID (PEP) or a service domain.
    pub service: &'a str,
    /// For PEP, the account (owner of every node).
    pub pep: Option<&'a BareJid>,
    /// Limits per owner.
    pub limits: PubsubLimits,
    /// Largest payload, bytes.
    pub max_item_bytes: usize,
    /// Most subscriptions per node (the service).
    pub max_subscriptions: u32,
}

impl Target<'_> {
    fn origin(&self) -> Origin {
        match self.pep {
            Some(_) => Origin::Server,
            None => Origin::Service(self.service.to_owned()),
        }
    }

    fn default_config(&self) -> NodeConfig {
        let mut c = NodeConfig::pep_default();
        if self.pep.is_none() {
            c.access_model = AccessModel::Open;
            c.max_items = Some(10);
        }
        c
    }
}

/// A XEP-0060 error with an application condition in `pubsub#errors` (§7.1.3 ...).
pub fn perr(cond: Condition, app: Option<&str>) -> StanzaError {
    let mut e = StanzaError::from_condition(cond);
    if let Some(app) = app {
        e.app = Some(Box::new(Element::new(app, ns::PUBSUB_ERRORS)));
    }
    e
}

fn unsupported(feature: &str) -> StanzaError {
    let mut e = StanzaError::from_condition(Condition::FeatureNotImplemented);
    e.app = Some(Box::new(
        Element::new("unsupported", ns::PUBSUB_ERRORS).with_attr("feature", feature),
    ));
    e
}

fn storage_error(e: &crate::storage::Error) -> StanzaError {
    debug!(error = %e, "pubsub storage failed");
    StanzaError::from_condition(Condition::InternalServerError)
}

fn field_error(e: &FieldError, cond: Condition, app: Option<&str>) -> StanzaError {
    perr(cond, app).with_text(format!("{}: {}", e.var, e.reason))
}

/// The requester's relation to a node's owner, for the access model (XEP-0060 §4.5).
pub struct Access {
    owner: String,
    roster: HashMap<String, (Subscription, Vec<String>)>,
}

impl Access {
    /// Reads the owner's roster once.
    pub async fn load(router: &Router, owner: &str) -> Access {
        let roster = match router.storage().roster(owner).await {
            Ok(items) => items
                .into_iter()
                .map(|i| (i.jid, (i.subscription, i.groups)))
                .collect(),
            Err(e) => {
                debug!(error = %e, "roster read failed for a pubsub access check");
                HashMap::new()
            }
        };
        Access {
            owner: owner.to_owned(),
            roster,
        }
    }

    /// `Ok` when `who` may retrieve items of `node` and hear of them; the XEP-0060
    /// §6.5.9 error otherwise.
    pub fn check(&self, node: &StoredNode, who: &str) -> Result<(), StanzaError> {
        if who == self.owner {
            return Ok(());
        }
        let item = self.roster.get(who);
        let subscribed =
            item.is_some_and(|(s, _)| matches!(s, Subscription::From | Subscription::Both));
        match node.config.access_model {
            AccessModel::Open => Ok(()),
            AccessModel::Presence if subscribed => Ok(()),
            AccessModel::Presence => Err(perr(
                Condition::NotAuthorized,
                Some("presence-subscription-required"),
            )),
            AccessModel::Roster
                if subscribed
                    && item.is_some_and(|(_, groups)| {
                        groups.iter().any(|g| node.config.roster_groups.contains(g))
                    }) =>
            {
                Ok(())
            }
            AccessModel::Roster => Err(perr(Condition::NotAuthorized, Some("not-in-roster-group"))),
            AccessModel::Whitelist => Err(perr(Condition::NotAllowed, Some("closed-node"))),
        }
    }
}

fn item_element(item: &StoredItem) -> Element {
    let mut el = Element::new("item", ns::PUBSUB).with_attr("id", item.id.clone());
    match parse_element(&item.payload, ns::CLIENT) {
        Ok(p) => el.push_child(p),
        Err(_) => debug!("stored pubsub payload does not parse"),
    }
    el
}

fn event_item(node: &str, item: &StoredItem) -> Element {
    let mut item_el = item_element(item);
    item_el.map_ns(ns::PUBSUB, ns::PUBSUB_EVENT);
    Element::new("items", ns::PUBSUB_EVENT)
        .with_attr("node", node)
        .child(item_el)
}

fn reply_pubsub(st: &Stanza, ns_: &str, child: Option<Element>) -> Element {
    st.iq_result(child.map(|c| Element::new("pubsub", ns_).child(c)))
}

/// Notifications to send once the reply is on its way: `(recipients, event child)`.
pub type Events = Vec<(Vec<Jid>, Element)>;

/// Sends each of `events` ([`Events`]) from the service.
pub async fn send_events(router: &Arc<Router>, target: &Target<'_>, events: Events) {
    for (to, child) in events {
        send_event(router, target, &to, &child).await;
    }
}

/// Sends `<event>{child}</event>` from the service to each of `to`.
async fn send_event(router: &Arc<Router>, target: &Target<'_>, to: &[Jid], child: &Element) {
    let origin = target.origin();
    for j in to {
        let el = Element::new("message", ns::CLIENT)
            .with_attr("from", target.service)
            .with_attr("to", j.as_str())
            .with_attr("type", "headline")
            .with_attr("id", format!("{:016x}", rand::random::<u64>()))
            .child(Element::new("event", ns::PUBSUB_EVENT).child(child.clone()));
        if let Ok(st) = Stanza::from_element(el, ns::CLIENT) {
            router.route_inbound(&origin, st, j).await;
        }
    }
}

/// Everyone allowed who hears of `node`: PEP sessions with `+notify` for it
/// (XEP-0163 §4.3.1) and explicit subscribers (XEP-0060 §7.1.2).
async fn recipients(
    shared: &Shared,
    router: &Arc<Router>,
    target: &Target<'_>,
    node: &StoredNode,
) -> Vec<Jid> {
    let mut to: Vec<Jid> = Vec::new();
    if let Some(owner) = target.pep {
        to.extend(
            lock(&shared.interests)
                .targets(owner, &node.name)
                .into_iter()
                .map(Jid::from),
        );
    }
    match router.storage().pubsub_subscribers(node.id).await {
        Ok(subs) => to.extend(subs.iter().filter_map(|s| Jid::new(s).ok())),
        Err(e) => debug!(error = %e, "pubsub subscribers read failed"),
    }
    let access = Access::load(router, &node.owner).await;
    if let Some(owner) = target.pep {
        // Local contacts subscribed to the owner's presence are implicit subscribers
        // (XEP-0163 §4.3.1) even when their presence does not reach the owner (a
        // one-way subscription): their sessions' capabilities are known here.
        let interests = lock(&shared.interests);
        for (contact, (sub, _)) in &access.roster {
            if !matches!(sub, Subscription::From | Subscription::Both) {
                continue;
            }
            let Ok(contact) = BareJid::new(contact) else {
                continue;
            };
            if contact == *owner || !router.is_local_domain(contact.domain().as_str()) {
                continue;
            }
            for s in router.sessions_of(&contact) {
                if interests
                    .notify_of(&s.full)
                    .is_some_and(|n| n.contains(&node.name))
                {
                    to.push(Jid::from(s.full.clone()));
                }
            }
        }
    }
    if to.is_empty() {
        return to;
    }
    to.retain(|j| access.check(node, j.to_bare().as_str()).is_ok());
    to.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    to.dedup();
    to
}

/// The last item of `node`, if any.
async fn last_item(
    shared: &Shared,
    router: &Router,
    service: &str,
    node: &StoredNode,
) -> Option<StoredItem> {
    if !node.config.persist_items {
        return lock(&shared.transient)
            .get(&(service.to_owned(), node.name.clone()))
            .cloned();
    }
    match router.storage().pubsub_items(node.id, &[], Some(1)).await {
        Ok(mut v) => v.pop(),
        Err(e) => {
            debug!(error = %e, "pubsub items read failed");
            None
        }
    }
}

/// Sends local session `session` (whose `+notify` nodes are `notify`) the last items of
/// the PEP nodes of every local contact its account is subscribed to (roster `to` or
/// `both`) whose presence does not reach that contact (XEP-0163 §4.3.2 for one-way
/// subscriptions; contacts its presence reaches got them through
/// [`send_last_items`] already). Each node's access model still decides.
pub async fn send_subscribed_last_items(
    shared: &Shared,
    router: &Arc<Router>,
    settings: (PubsubLimits, usize),
    session: &FullJid,
    notify: &Notify,
) {
    if notify.is_empty() {
        return;
    }
    let account = session.to_bare();
    let roster = match router.storage().roster(account.as_str()).await {
        Ok(r) => r,
        Err(e) => return debug!(error = %e, "roster read failed for PEP last items"),
    };
    for item in roster
        .iter()
        .filter(|i| matches!(i.subscription, Subscription::To | Subscription::Both))
    {
        let Ok(contact) = BareJid::new(&item.jid) else {
            continue;
        };
        if contact == account
            || !router.is_local_domain(contact.domain().as_str())
            || lock(&shared.interests).is_present_at(session, &contact)
        {
            continue;
        }
        let service = contact.to_string();
        let t = Target {
            service: &service,
            pep: Some(&contact),
            limits: settings.0,
            max_item_bytes: settings.1,
            max_subscriptions: 0,
        };
        send_last_items(shared, router, &t, session, notify).await;
    }
}

/// Sends `session` the last item of every node of PEP account `owner` it wants
/// (`notify`) and may see (XEP-0163 §4.3.2, `send_last_published_item`).
pub async fn send_last_items(
    shared: &Shared,
    router: &Arc<Router>,
    target: &Target<'_>,
    session: &FullJid,
    notify: &Notify,
) {
    if notify.is_empty() {
        return;
    }
    let nodes = match router.storage().pubsub_nodes(target.service).await {
        Ok(n) => n,
        Err(e) => return debug!(error = %e, "pubsub nodes read failed"),
    };
    let wanted: Vec<&StoredNode> = nodes.iter().filter(|n| notify.contains(&n.name)).collect();
    if wanted.is_empty() {
        return;
    }
    let access = Access::load(router, &wanted[0].owner).await;
    let who = session.to_bare();
    let to = [Jid::from(session.clone())];
    for node in wanted {
        if access.check(node, who.as_str()).is_err() {
            continue;
        }
        if let Some(item) = last_item(shared, router, target.service, node).await {
            send_event(router, target, &to, &event_item(&node.name, &item)).await;
        }
    }
}

fn node_attr(el: &Element) -> Result<&str, StanzaError> {
    match el.attr("node") {
        Some(n) if !n.is_empty() && n.len() <= MAX_ID_BYTES => Ok(n),
        Some(n) if !n.is_empty() => {
            Err(perr(Condition::NotAcceptable, None).with_text("node name too long"))
        }
        _ => Err(perr(Condition::BadRequest, Some("nodeid-required"))),
    }
}

/// Handles one IQ request with a `<pubsub/>` payload (either namespace) for `target`
/// from `from`; the reply to send, then the notifications it pushed to `events`
/// (XEP-0060 §6.1.7: the last item follows the subscription's result).
///
/// # Errors
/// The stanza error for the requester.
pub async fn handle(
    shared: &Shared,
    router: &Arc<Router>,
    target: &Target<'_>,
    from: &Jid,
    st: &Stanza,
    events: &mut Events,
) -> Result<Element, StanzaError> {
    let Some(pubsub) = st.payload() else {
        return Err(Condition::BadRequest.into());
    };
    let set = st.type_attr() == "set";
    let who = from.to_bare();
    let owner_ns = pubsub.ns() == ns::PUBSUB_OWNER;
    let Some(op) = pubsub.children().next() else {
        return Err(Condition::BadRequest.into());
    };
    match (owner_ns, set, op.name()) {
        (false, true, "publish") => publish(shared, router, target, &who, st, op, events).await,
        (false, true, "retract") => retract(shared, router, target, &who, st, op, events).await,
        (false, true, "create") => create(router, target, &who, st, pubsub, op).await,
        (false, true, "subscribe" | "unsubscribe") if target.pep.is_none() => {
            subscribe(shared, router, target, from, st, op, events).await
        }
        (false, true, "subscribe" | "unsubscribe") => Err(unsupported("subscribe")),
        (false, false, "items") => items(shared, router, target, &who, st, op).await,
        (false, false, "subscriptions" | "affiliations") => {
            Err(unsupported("retrieve-subscriptions"))
        }
        (true, false, "configure") => {
            let node = owned_node(router, target, &who, node_attr(op)?).await?;
            let c = Element::new("configure", ns::PUBSUB_OWNER)
                .with_attr("node", node.name.clone())
                .child(form::config_form(&node.config));
            Ok(reply_pubsub(st, ns::PUBSUB_OWNER, Some(c)))
        }
        (true, false, "default") => {
            let c = Element::new("default", ns::PUBSUB_OWNER)
                .child(form::config_form(&target.default_config()));
            Ok(reply_pubsub(st, ns::PUBSUB_OWNER, Some(c)))
        }
        (true, true, "configure") => configure(shared, router, target, &who, st, op).await,
        (true, true, "delete") => {
            let node = owned_node(router, target, &who, node_attr(op)?).await?;
            let to = recipients(shared, router, target, &node).await;
            router
                .storage()
                .pubsub_delete_node(target.service, &node.name)
                .await
                .map_err(|e| storage_error(&e))?;
            lock(&shared.transient).remove(&(target.service.to_owned(), node.name.clone()));
            let ev = Element::new("delete", ns::PUBSUB_EVENT).with_attr("node", node.name.clone());
            events.push((to, ev));
            Ok(st.iq_result(None))
        }
        (true, true, "purge") => {
            let node = owned_node(router, target, &who, node_attr(op)?).await?;
            router
                .storage()
                .pubsub_purge(node.id)
                .await
                .map_err(|e| storage_error(&e))?;
            lock(&shared.transient).remove(&(target.service.to_owned(), node.name.clone()));
            let to = recipients(shared, router, target, &node).await;
            let ev = Element::new("purge", ns::PUBSUB_EVENT).with_attr("node", node.name.clone());
            events.push((to, ev));
            Ok(st.iq_result(None))
        }
        (_, _, other) => Err(unsupported(match other {
            "subscriptions" => "retrieve-subscriptions",
            "affiliations" => "retrieve-affiliations",
            _ => "modify-affiliations",
        })),
    }
}

/// The node, which `who` must own (XEP-0060 §8: `forbidden` otherwise).
async fn owned_node(
    router: &Router,
    target: &Target<'_>,
    who: &BareJid,
    name: &str,
) -> Result<StoredNode, StanzaError> {
    if target.pep.is_some_and(|owner| owner != who) {
        return Err(Condition::Forbidden.into());
    }
    let node = router
        .storage()
        .pubsub_node(target.service, name)
        .await
        .map_err(|e| storage_error(&e))?
        .ok_or_else(|| StanzaError::from_condition(Condition::ItemNotFound))?;
    if node.owner != who.as_str() {
        return Err(Condition::Forbidden.into());
    }
    Ok(node)
}

/// Whether `who` may create nodes here: the PEP account itself, or a local account on
/// the service.
async fn may_create(
    router: &Router,
    target: &Target<'_>,
    who: &BareJid,
) -> Result<(), StanzaError> {
    match target.pep {
        Some(owner) if owner == who => Ok(()),
        Some(_) => Err(Condition::Forbidden.into()),
        None => {
            let local = router.is_local_domain(who.domain().as_str())
                && router
                    .storage()
                    .account_exists(who.as_str())
                    .await
                    .map_err(|e| storage_error(&e))?;
            if local {
                Ok(())
            } else {
                Err(perr(Condition::Forbidden, None).with_text("only local accounts create nodes"))
            }
        }
    }
}

fn submitted_form(parent: Option<&Element>) -> Option<&Element> {
    parent
        .and_then(|p| p.get_child("x", ns::DATA))
        .filter(|x| x.attr("type").is_none_or(|t| t == "submit"))
}

async fn publish(
    shared: &Shared,
    router: &Arc<Router>,
    target: &Target<'_>,
    who: &BareJid,
    st: &Stanza,
    op: &Element,
    events: &mut Events,
) -> Result<Element, StanzaError> {
    let Some(pubsub) = st.payload() else {
        return Err(Condition::BadRequest.into());
    };
    let name = node_attr(op)?;
    let mut items = op.children().filter(|c| c.is("item", ns::PUBSUB));
    let Some(item) = items.next() else {
        return Err(perr(Condition::BadRequest, Some("item-required")));
    };
    if items.next().is_some() {
        return Err(
            perr(Condition::BadRequest, Some("invalid-payload")).with_text("one item per publish")
        );
    }
    let mut payloads = item.children();
    let payload = match (payloads.next(), payloads.next()) {
        (Some(p), None) => p,
        (None, _) => return Err(perr(Condition::BadRequest, Some("payload-required"))),
        (Some(_), Some(_)) => return Err(perr(Condition::BadRequest, Some("invalid-payload"))),
    };
    let id = match item.attr("id") {
        Some(id) if !id.is_empty() && id.len() <= MAX_ID_BYTES => id.to_owned(),
        Some(id) if !id.is_empty() => {
            return Err(perr(Condition::NotAcceptable, None).with_text("item id too long"));
        }
        _ => format!("{:032x}", rand::random::<u128>()),
    };
    let xml = payload.to_xml(ns::CLIENT);
    if xml.len() > target.max_item_bytes {
        return Err(
            perr(Condition::NotAcceptable, Some("payload-too-big")).with_text(format!(
                "items are limited to {} bytes",
                target.max_item_bytes
            )),
        );
    }
    let options = submitted_form(pubsub.get_child("publish-options", ns::PUBSUB));
    if let Some(x) = options
        && form::form_type(x).is_some_and(|t| t != ns::PUBSUB_PUBLISH_OPTIONS)
    {
        return Err(Condition::BadRequest.into());
    }
    let fields = options.map(form::fields).unwrap_or_default();
    let existing = router
        .storage()
        .pubsub_node(target.service, name)
        .await
        .map_err(|e| storage_error(&e))?;
    let create = match &existing {
        Some(node) => {
            if node.owner != who.as_str() {
                return Err(Condition::Forbidden.into());
            }
            if !form::matches(&node.config, &fields) {
                return Err(precondition());
            }
            None
        }
        None => {
            may_create(router, target, who).await?;
            let mut config = target.default_config();
            form::apply(&mut config, &fields)
                .map_err(|e| field_error(&e, Condition::Conflict, Some("precondition-not-met")))?;
            Some(config)
        }
    };
    let stored = StoredItem {
        id: id.clone(),
        publisher: who.to_string(),
        payload: xml,
    };
    let node = match router
        .storage()
        .pubsub_publish(
            target.service,
            name,
            who.as_str(),
            create.as_ref(),
            &stored,
            target.limits,
        )
        .await
        .map_err(|e| storage_error(&e))?
    {
        PublishOutcome::Published { node, .. } => node,
        // Deleted meanwhile: as if it never existed.
        PublishOutcome::NoSuchNode => return Err(Condition::ItemNotFound.into()),
        PublishOutcome::TooManyNodes => {
            return Err(perr(Condition::ResourceConstraint, None).with_text(format!(
                "at most {} nodes per account",
                target.limits.max_nodes
            )));
        }
        PublishOutcome::QuotaExceeded => {
            return Err(perr(Condition::ResourceConstraint, None).with_text(format!(
                "at most {} bytes of items per account",
                target.limits.max_bytes
            )));
        }
    };
    if !node.config.persist_items {
        lock(&shared.transient).insert(
            (target.service.to_owned(), node.name.clone()),
            stored.clone(),
        );
    }
    let to = recipients(shared, router, target, &node).await;
    events.push((to, event_item(&node.name, &stored)));
    let reply = Element::new("publish", ns::PUBSUB)
        .with_attr("node", node.name.clone())
        .child(Element::new("item", ns::PUBSUB).with_attr("id", id));
    Ok(reply_pubsub(st, ns::PUBSUB, Some(reply)))
}

fn precondition() -> StanzaError {
    let mut e = perr(Condition::Conflict, Some("precondition-not-met"));
    e.kind = ErrorType::Cancel;
    e.with_text("the node's configuration differs from the publish options")
}

async fn retract(
    shared: &Shared,
    router: &Arc<Router>,
    target: &Target<'_>,
    who: &BareJid,
    st: &Stanza,
    op: &Element,
    events: &mut Events,
) -> Result<Element, StanzaError> {
    let node = owned_node(router, target, who, node_attr(op)?).await?;
    let Some(id) = op
        .get_child("item", ns::PUBSUB)
        .and_then(|i| i.attr("id"))
        .filter(|id| !id.is_empty())
    else {
        return Err(perr(Condition::BadRequest, Some("item-required")));
    };
    let existed = if node.config.persist_items {
        router
            .storage()
            .pubsub_retract(node.id, id)
            .await
            .map_err(|e| storage_error(&e))?
    } else {
        let mut t = lock(&shared.transient);
        let key = (target.service.to_owned(), node.name.clone());
        if t.get(&key).is_some_and(|i| i.id == id) {
            t.remove(&key);
            true
        } else {
            false
        }
    };
    if !existed {
        return Err(Condition::ItemNotFound.into());
    }
    let notify = match op.attr("notify") {
        Some("1" | "true") => true,
        Some(_) => false,
        None => node.config.notify_retract,
    };
    if notify {
        let to = recipients(shared, router, target, &node).await;
        let ev = Element::new("items", ns::PUBSUB_EVENT)
            .with_attr("node", node.name.clone())
            .child(Element::new("retract", ns::PUBSUB_EVENT).with_attr("id", id));
        events.push((to, ev));
    }
    Ok(st.iq_result(None))
}

async fn create(
    router: &Arc<Router>,
    target: &Target<'_>,
    who: &BareJid,
    st: &Stanza,
    pubsub: &Element,
    op: &Element,
) -> Result<Element, StanzaError> {
    may_create(router, target, who).await?;
    let (name, instant) = match op.attr("node") {
        Some(_) => (node_attr(op)?.to_owned(), false),
        None => (format!("{:032x}", rand::random::<u128>()), true),
    };
    let mut config = target.default_config();
    if let Some(x) = submitted_form(pubsub.get_child("configure", ns::PUBSUB)) {
        form::apply(&mut config, &form::fields(x))
            .map_err(|e| field_error(&e, Condition::NotAcceptable, None))?;
    }
    match router
        .storage()
        .pubsub_create_node(target.service, &name, who.as_str(), &config, target.limits)
        .await
        .map_err(|e| storage_error(&e))?
    {
        CreateOutcome::Created(_) => {}
        CreateOutcome::Exists => return Err(Condition::Conflict.into()),
        CreateOutcome::TooManyNodes => {
            return Err(perr(Condition::ResourceConstraint, None).with_text(format!(
                "at most {} nodes per account",
                target.limits.max_nodes
            )));
        }
    }
    let child = instant.then(|| Element::new("create", ns::PUBSUB).with_attr("node", name));
    Ok(reply_pubsub(st, ns::PUBSUB, child))
}

async fn configure(
    shared: &Shared,
    router: &Arc<Router>,
    target: &Target<'_>,
    who: &BareJid,
    st: &Stanza,
    op: &Element,
) -> Result<Element, StanzaError> {
    let node = owned_node(router, target, who, node_attr(op)?).await?;
    let Some(x) = op.get_child("x", ns::DATA) else {
        return Err(Condition::BadRequest.into());
    };
    if x.attr("type") == Some("cancel") {
        return Ok(st.iq_result(None));
    }
    let mut config = node.config.clone();
    form::apply(&mut config, &form::fields(x))
        .map_err(|e| field_error(&e, Condition::NotAcceptable, None))?;
    router
        .storage()
        .pubsub_configure_node(node.id, &config, target.limits)
        .await
        .map_err(|e| storage_error(&e))?;
    if config.persist_items {
        lock(&shared.transient).remove(&(target.service.to_owned(), node.name.clone()));
    }
    Ok(st.iq_result(None))
}

async fn items(
    shared: &Shared,
    router: &Arc<Router>,
    target: &Target<'_>,
    who: &BareJid,
    st: &Stanza,
    op: &Element,
) -> Result<Element, StanzaError> {
    let name = node_attr(op)?;
    let node = router
        .storage()
        .pubsub_node(target.service, name)
        .await
        .map_err(|e| storage_error(&e))?
        .ok_or_else(|| StanzaError::from_condition(Condition::ItemNotFound))?;
    Access::load(router, &node.owner)
        .await
        .check(&node, who.as_str())?;
    let max = match op.attr("max_items") {
        Some(m) => Some(
            m.parse::<u32>()
                .map_err(|_| StanzaError::from_condition(Condition::BadRequest))?,
        ),
        None => None,
    };
    let ids: Vec<String> = op
        .children()
        .filter(|c| c.is("item", ns::PUBSUB))
        .filter_map(|c| c.attr("id"))
        .map(str::to_owned)
        .collect();
    let found = if node.config.persist_items {
        router
            .storage()
            .pubsub_items(node.id, &ids, max)
            .await
            .map_err(|e| storage_error(&e))?
    } else {
        last_item(shared, router, target.service, &node)
            .await
            .into_iter()
            .filter(|i| ids.is_empty() || ids.contains(&i.id))
            .filter(|_| max != Some(0))
            .collect()
    };
    let mut el = Element::new("items", ns::PUBSUB).with_attr("node", node.name.clone());
    for i in &found {
        el.push_child(item_element(i));
    }
    Ok(reply_pubsub(st, ns::PUBSUB, Some(el)))
}

async fn subscribe(
    shared: &Shared,
    router: &Arc<Router>,
    target: &Target<'_>,
    from: &Jid,
    st: &Stanza,
    op: &Element,
    events: &mut Events,
) -> Result<Element, StanzaError> {
    let name = node_attr(op)?;
    let jid = op
        .attr("jid")
        .and_then(|j| Jid::new(j).ok())
        .ok_or_else(|| perr(Condition::BadRequest, Some("jid-required")))?;
    if jid.to_bare() != from.to_bare() {
        return Err(perr(Condition::BadRequest, Some("invalid-jid")));
    }
    let node = router
        .storage()
        .pubsub_node(target.service, name)
        .await
        .map_err(|e| storage_error(&e))?
        .ok_or_else(|| StanzaError::from_condition(Condition::ItemNotFound))?;
    let on = op.name() == "subscribe";
    if on {
        Access::load(router, &node.owner)
            .await
            .check(&node, jid.to_bare().as_str())?;
    }
    let done = router
        .storage()
        .pubsub_set_subscription(node.id, jid.as_str(), on, target.max_subscriptions)
        .await
        .map_err(|e| storage_error(&e))?;
    if !done {
        return Err(perr(Condition::NotAllowed, Some("too-many-subscriptions")));
    }
    if !on {
        return Ok(st.iq_result(None));
    }
    if let Some(item) = last_item(shared, router, target.service, &node).await {
        events.push((vec![jid.clone()], event_item(&node.name, &item)));
    }
    let sub = Element::new("subscription", ns::PUBSUB)
        .with_attr("node", node.name.clone())
        .with_attr("jid", jid.as_str())
        .with_attr("subscription", "subscribed");
    Ok(reply_pubsub(st, ns::PUBSUB, Some(sub)))
}

/// disco#items of the service (XEP-0060 §5.2): the nodes `who` may see.
pub async fn node_items(
    router: &Arc<Router>,
    target: &Target<'_>,
    who: &BareJid,
    st: &Stanza,
) -> Result<Element, StanzaError> {
    let nodes = router
        .storage()
        .pubsub_nodes(target.service)
        .await
        .map_err(|e| storage_error(&e))?;
    let mut q = Element::new("query", ns::DISCO_ITEMS);
    let mut access: HashMap<String, Access> = HashMap::new();
    for n in &nodes {
        if !access.contains_key(&n.owner) {
            access.insert(n.owner.clone(), Access::load(router, &n.owner).await);
        }
        if access
            .get(&n.owner)
            .is_some_and(|a| a.check(n, who.as_str()).is_ok())
        {
            let mut item = Element::new("item", ns::DISCO_ITEMS)
                .with_attr("jid", target.service)
                .with_attr("node", n.name.clone());
            if !n.config.title.is_empty() {
                item.set_attr("name", n.config.title.clone());
            }
            q.push_child(item);
        }
    }
    Ok(st.iq_result(Some(q)))
}

/// Forgets the non-persistent items of `service` (its account was deleted).
pub fn forget_service(shared: &Shared, service: &str) {
    lock(&shared.transient).retain(|(s, _), _| s != service);
}
