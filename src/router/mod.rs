//! The router: where every JID is connected, and where each stanza goes (RFC 6120 §10,
//! RFC 6121 §8.5).
//!
//! Sessions hand the router the stanzas their client sent (with `from` stamped); the
//! router alone knows which sessions are bound. Delivery to a session is a `try_send` on
//! its bounded mailbox, so a client that stops reading never slows others: a full mailbox
//! bounces the stanza or stores it offline ([`Router::not_queued`]), and the session's
//! own task closes it after the write timeout.
//! The session registry is a sharded concurrent map (dashmap) from bare JID to sessions.
//!
//! A MUC copy ([`SessionEntry::send_shared`]) that a full mailbox refuses removes that
//! occupant session from the room and ends its stream once written (see
//! `modules::muc`'s `refused`); what a room sends a joiner takes one mailbox slot
//! ([`Outbound::Batch`]).
//!
//! # Limitations
//! MUC copies that a session ends without writing are not bounced: the room's history
//! keeps them, as many as it holds.
//! Federation is not implemented yet: a stanza for a domain this server does not host is
//! answered with `remote-server-not-found` in [`Router::route_remote`], the one place
//! where s2s will plug in.

pub mod hooks;
mod im;
pub mod session;

/// A service on its own domain, e.g. XEP-0045 Multi-User Chat on `conference.<domain>`
/// (XEP-0045 §6.1): every stanza addressed to that domain or a JID under it is handed to
/// the service, whoever sent it.
pub trait Service: Send + Sync + 'static {
    /// Human-readable name, used as the disco#items `name` (XEP-0030 §4.1).
    fn name(&self) -> &str;
    /// Handles one stanza; `from` is already stamped by the sender's session. Replies and
    /// notifications go back through [`Router::route_inbound`].
    fn handle<'a>(&'a self, router: &'a Arc<Router>, st: Stanza) -> BoxFuture<'a, ()>;
}

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use jid::{BareJid, FullJid, Jid, ResourcePart};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::stanza::{Condition, IqType, Kind, Stanza, StanzaError, StreamCondition};
use crate::storage::Storage;
use crate::xml::Element;
use hooks::{IqKind, Module, ModuleCtx, Outcome, To};
pub(crate) use im::roster_removed;
pub use session::{Outbound, SessionEntry, SharedStanza};
use tracing::debug;

/// Router settings taken from the configuration.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Hosted domains, normalized.
    pub domains: Vec<String>,
    /// Maximum sessions per account (RFC 6120 §7.6.2.1 `resource-constraint` beyond).
    pub max_resources: usize,
    /// Mailbox size per session, in stanzas.
    pub session_queue: usize,
    /// XEP-0160 storage on or off.
    pub offline_enabled: bool,
    /// XEP-0160 per-account limit.
    pub offline_max: u32,
    /// Most items per roster (`roster.max_items`).
    pub roster_max_items: u32,
    /// Most groups per roster item (`roster.max_groups_per_item`).
    pub roster_max_groups: usize,
    /// Longest roster item or group name in bytes (`roster.max_name_bytes`).
    pub roster_max_name_bytes: usize,
    /// Most directed-presence recipients per session (`limits.max_directed_presences`).
    pub max_directed_presences: usize,
}

/// Why a resource could not be bound (RFC 6120 §7.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// The requested resource is not a valid resourcepart: `bad-request`.
    BadResource,
    /// The account has as many sessions as allowed: `resource-constraint`.
    TooManyResources,
}

type RouteKey = (IqKind, &'static str, &'static str, To);

/// The router. Shared as `Arc<Router>` by all sessions.
pub struct Router {
    cfg: RouterConfig,
    storage: Storage,
    sessions: DashMap<BareJid, Vec<Arc<SessionEntry>>>,
    routes: HashMap<RouteKey, Vec<Arc<dyn Module>>>,
    features: Vec<&'static str>,
    services: Vec<(String, Arc<dyn Service>)>,
    pastebin: std::sync::OnceLock<Arc<crate::modules::pastebin::Pastebin>>,
}

impl Router {
    /// Builds the router and its route table from the enabled modules, and the table of
    /// services by domain (normalized, lower case).
    pub fn new(
        cfg: RouterConfig,
        storage: Storage,
        modules: Vec<Arc<dyn Module>>,
        services: Vec<(String, Arc<dyn Service>)>,
    ) -> Arc<Router> {
        let mut routes: HashMap<RouteKey, Vec<Arc<dyn Module>>> = HashMap::new();
        let mut features = vec![crate::ns::DISCO_INFO];
        for m in &modules {
            for r in m.routes() {
                routes
                    .entry((r.kind, r.name, r.ns, r.to))
                    .or_default()
                    .push(m.clone());
            }
            features.extend_from_slice(m.disco_features());
        }
        if cfg.offline_enabled {
            features.push(crate::ns::MSGOFFLINE);
        }
        Arc::new(Router {
            cfg,
            storage,
            sessions: DashMap::new(),
            routes,
            features,
            services,
            pastebin: std::sync::OnceLock::new(),
        })
    }

    /// The service hosted on `domain`, if any.
    pub fn service(&self, domain: &str) -> Option<&Arc<dyn Service>> {
        self.services
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
            .map(|(_, s)| s)
    }

    /// Service domains with their names, for the server's disco#items (XEP-0030 §4).
    pub fn service_items(&self) -> impl Iterator<Item = (&str, &str)> {
        self.services.iter().map(|(d, s)| (d.as_str(), s.name()))
    }

    /// Installs the pastebin (once, at start-up; later calls are ignored).
    pub fn set_pastebin(&self, pastebin: Arc<crate::modules::pastebin::Pastebin>) {
        let _ = self.pastebin.set(pastebin);
    }

    /// The pastebin, when enabled.
    pub fn pastebin(&self) -> Option<&Arc<crate::modules::pastebin::Pastebin>> {
        self.pastebin.get()
    }

    /// The storage handle.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Router settings.
    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }

    /// Features for the server's disco#info.
    pub fn disco_features(&self) -> &[&'static str] {
        &self.features
    }

    /// Whether `domain` is hosted here (case-insensitive, as JID domains compare).
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.cfg
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Number of bound sessions (for shutdown and tests).
    pub fn session_count(&self) -> usize {
        self.sessions.iter().map(|e| e.value().len()).sum()
    }

    /// Binds a resource for `account` (RFC 6120 §7). `None` lets the server pick a random
    /// resource (§7.6.2.1). A resource already in use is taken over: the old session is
    /// closed with a `conflict` stream error (§7.7.2.2, "override the existing session").
    /// `via_onion`: the session came through the onion service.
    pub fn bind(
        &self,
        account: &BareJid,
        resource: Option<&str>,
        sid: String,
        kill: CancellationToken,
        via_onion: bool,
    ) -> Result<(Arc<SessionEntry>, mpsc::Receiver<Outbound>), BindError> {
        let resource = match resource {
            // Refused too when normalising it again would change it (see
            // [`crate::stanza::parse_jid`]): others must see the JID it is bound as.
            Some(r) => match ResourcePart::new(r) {
                Ok(p) if ResourcePart::new(p.as_str()).is_ok_and(|q| q == p) => p.into_owned(),
                _ => return Err(BindError::BadResource),
            },
            None => random_resource()?,
        };
        let full: FullJid = account.with_resource(&resource);
        let (tx, rx) = mpsc::channel(self.cfg.session_queue.max(1));
        let entry = Arc::new(SessionEntry::new(full.clone(), sid, tx, kill, via_onion));
        let mut list = self.sessions.entry(account.clone()).or_default();
        if let Some(pos) = list.iter().position(|s| s.full == full) {
            let old = list.remove(pos);
            old.close(StreamCondition::Conflict);
        } else if list.len() >= self.cfg.max_resources {
            return Err(BindError::TooManyResources);
        }
        list.push(entry.clone());
        Ok((entry, rx))
    }

    /// Removes a session; if it was available, its contacts, directed-presence
    /// recipients and the account's other sessions get unavailable presence
    /// (RFC 6121 §4.6, §4.5.2).
    pub async fn unbind(self: &Arc<Self>, entry: &Arc<SessionEntry>) {
        let account = entry.full.to_bare();
        let removed = {
            let mut removed = false;
            if let Some(mut list) = self.sessions.get_mut(&account)
                && let Some(pos) = list.iter().position(|s| Arc::ptr_eq(s, entry))
            {
                list.remove(pos);
                removed = true;
            }
            self.sessions.remove_if(&account, |_, v| v.is_empty());
            removed
        };
        let was_available = entry.with_presence(|p| std::mem::replace(&mut p.available, false));
        if removed && was_available {
            let unavailable =
                Element::new("presence", crate::ns::CLIENT).with_attr("type", "unavailable");
            im::broadcast_presence(self, entry, unavailable).await;
        } else if removed {
            // Directed presence sent without broadcast presence (e.g. only joining a
            // room) ends with the session too (RFC 6121 §4.6.3).
            im::end_directed(self, entry).await;
        }
    }

    /// All sessions of an account.
    pub fn sessions_of(&self, account: &BareJid) -> Vec<Arc<SessionEntry>> {
        self.sessions
            .get(account)
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The session bound to a full JID.
    pub fn session(&self, full: &FullJid) -> Option<Arc<SessionEntry>> {
        let bare = full.to_bare();
        self.sessions
            .get(&bare)
            .and_then(|l| l.iter().find(|s| &s.full == full).cloned())
    }

    /// Closes every session with `cond` (used at shutdown).
    pub fn close_all(&self, cond: StreamCondition) {
        for l in self.sessions.iter() {
            for s in l.value() {
                s.close(cond);
            }
        }
    }

    /// Routes a stanza sent by a bound client. `from` is already stamped with the
    /// session's full JID (RFC 6120 §8.1.2.1).
    pub async fn route_from_client(self: &Arc<Self>, sender: &Arc<SessionEntry>, st: Stanza) {
        let to = match st.to() {
            Ok(t) => t,
            Err(e) => return self.bounce(sender, &st, e),
        };
        match st.kind() {
            Kind::Presence => im::outbound_presence(self, sender, st, to).await,
            Kind::Message => {
                let to = to.unwrap_or_else(|| Jid::from(sender.full.to_bare()));
                if let Some(st) = crate::modules::pastebin::rewrite_private(self, st, &to).await {
                    self.route_inbound(st, &to).await;
                }
            }
            Kind::Iq => self.route_iq(sender, st, to).await,
        }
    }

    async fn route_iq(self: &Arc<Self>, sender: &Arc<SessionEntry>, st: Stanza, to: Option<Jid>) {
        let Some(iq_type) = st.iq_type() else {
            return self.bounce(sender, &st, Condition::BadRequest.into());
        };
        let account = sender.full.to_bare();
        let target = match &to {
            None => Some(To::OwnAccount),
            Some(j) if !self.is_local_domain(j.domain().as_str()) => None,
            Some(j) if j.node().is_none() && j.resource().is_none() => Some(To::Host),
            Some(j) if j.resource().is_none() && j.to_bare() == account => Some(To::OwnAccount),
            Some(j) if j.resource().is_none() => Some(To::OtherAccount),
            Some(_) => None,
        };
        let kind = match iq_type {
            IqType::Get => IqKind::Get,
            IqType::Set => IqKind::Set,
            // Results and errors addressed to the server (e.g. answers to roster pushes)
            // end here; addressed to someone else they are delivered.
            IqType::Result | IqType::Error => {
                if target.is_none()
                    && let Some(to) = &to
                {
                    self.route_inbound(st, to).await;
                }
                return;
            }
        };
        let Some(target) = target else {
            if let Some(to) = &to {
                self.route_inbound(st, to).await;
            }
            return;
        };
        let Some(payload) = st.payload() else {
            return self.bounce(sender, &st, Condition::BadRequest.into());
        };
        let key = (kind, payload.name(), payload.ns(), target);
        let modules = self
            .routes
            .iter()
            .find(|(k, _)| k.0 == key.0 && k.1 == key.1 && k.2 == key.2 && k.3 == key.3)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let from = Jid::from(sender.full.clone());
        let cx = ModuleCtx {
            router: self,
            from: &from,
            account,
        };
        for m in modules {
            match m.handle(&cx, &st).await {
                Outcome::Reply(el) => {
                    sender.send(el);
                    return;
                }
                Outcome::Handled => return,
                Outcome::Reject(e) => return self.bounce(sender, &st, e),
                Outcome::Pass => {}
            }
        }
        if target == To::OtherAccount {
            // Not answered on the user's behalf: behave as for an unknown account.
            return self.bounce(sender, &st, Condition::ServiceUnavailable.into());
        }
        self.bounce(sender, &st, Condition::ServiceUnavailable.into());
    }

    /// Sends the error reply for `st` (RFC 6120 §8.3.1) to its sender, when the sender
    /// is a session bound here (its `from` is a local full JID); otherwise nothing.
    pub fn bounce_to_sender(&self, st: &Stanza, err: StanzaError) {
        let Some(reply) = st.error_reply(&err) else {
            return;
        };
        let reply = Stanza::new_from(reply);
        if let Ok(Some(to)) = reply.to()
            && let Ok(full) = to.try_as_full()
            && let Some(s) = self.session(full)
        {
            s.send(reply.into_element());
        }
    }

    /// A stanza a session could not queue (its queue is full, or it just ended): never
    /// dropped silently while the sender can learn of it. A `chat`/`normal` message to
    /// the bare JID (`to_bare`) is stored offline (XEP-0160, which bounces when storage
    /// is off or full); other messages and IQ requests are bounced to their sender with
    /// `resource-constraint` (RFC 6120 §8.3.3.18). Presence, IQ results and errors are
    /// never bounced (RFC 6120 §8.3.1, RFC 6121 §4.3.2) and are dropped.
    pub async fn not_queued(self: &Arc<Self>, st: Stanza, to_bare: bool) {
        match (st.kind(), st.type_attr()) {
            (Kind::Presence, _) | (Kind::Iq, "result" | "error") | (Kind::Message, "error") => {
                debug!(kind = %st.summary(), "not queued: session queue full or closed");
            }
            (Kind::Message, "" | "normal" | "chat") if to_bare => {
                let owner = match st.to() {
                    Ok(Some(to)) => to.to_bare(),
                    _ => return,
                };
                crate::modules::offline::store(self, st, &owner).await;
            }
            _ => self.bounce_to_sender(
                &st,
                StanzaError::from_condition(Condition::ResourceConstraint)
                    .with_text("the recipient's session is not reading"),
            ),
        }
    }

    /// Routes again what a session had queued but did not write before it ended, once
    /// it is unbound: by the delivery rules (RFC 6121 §8.5.3.2) a message to its full JID
    /// goes to the account's other sessions or offline (groupchat is bounced), IQ
    /// requests are bounced with `service-unavailable`. Presence (whose effects, e.g.
    /// subscription state, already happened), IQ results and errors are dropped.
    pub async fn reroute_unwritten(self: &Arc<Self>, el: Element) {
        let st = Stanza::new_from(el);
        let again = match st.kind() {
            Kind::Message => st.type_attr() != "error",
            Kind::Iq => matches!(st.type_attr(), "get" | "set"),
            Kind::Presence => false,
        };
        if !again {
            return debug!(kind = %st.summary(), "unwritten stanza dropped");
        }
        if let Ok(Some(to)) = st.to() {
            self.route_inbound(st, &to).await;
        }
    }

    /// Sends the error reply for `st` back to the sender's session.
    pub fn bounce(&self, sender: &Arc<SessionEntry>, st: &Stanza, err: StanzaError) {
        if let Some(reply) = st.error_reply(&err) {
            sender.send(reply);
        }
    }

    /// Delivers a stanza addressed to `to` (RFC 6121 §8.5), whoever sent it: local
    /// accounts get it by the delivery rules, other domains go to [`Router::route_remote`].
    /// Boxed because delivery can route again (a subscription auto-reply).
    pub fn route_inbound<'a>(self: &'a Arc<Self>, st: Stanza, to: &'a Jid) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(service) = self.service(to.domain().as_str()) {
                return service.handle(self, st).await;
            }
            if !self.is_local_domain(to.domain().as_str()) {
                return self.route_remote(st).await;
            }
            im::deliver_local(self, st, to).await;
        })
    }

    /// Stanzas for domains this server does not host. Federation (s2s) plugs in here;
    /// until then the sender gets `remote-server-not-found` (RFC 6120 §10.4.3).
    pub async fn route_remote(self: &Arc<Self>, st: Stanza) {
        if st.kind() == Kind::Presence {
            // Presence is never bounced to the sender (RFC 6121 §4.3.2, §4.5).
            return;
        }
        let err = StanzaError::from_condition(Condition::RemoteServerNotFound);
        if let Some(reply) = st.error_reply(&err)
            && let Ok(reply) = Stanza::from_element(reply, crate::ns::CLIENT)
            && let Ok(Some(to)) = reply.to()
            && self.is_local_domain(to.domain().as_str())
        {
            im::deliver_local(self, reply, &to).await;
        }
    }
}

/// A server-generated resource (RFC 6120 §7.6.2.1): "allium-" and 16 random hex digits,
/// always a valid resourcepart; an impossible failure is reported like a bad resource.
fn random_resource() -> Result<ResourcePart, BindError> {
    let v: u64 = rand::random();
    ResourcePart::new(&format!("allium-{v:016x}"))
        .map(|r| r.into_owned())
        .map_err(|_| BindError::BadResource)
}
