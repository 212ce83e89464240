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

mod deliver;
pub mod hooks;
pub mod session;

/// A service on its own domain, e.g. XEP-0045 Multi-User Chat on `conference.<domain>`
/// (XEP-0045 §6.1): every stanza addressed to that domain or a JID under it is handed to
/// the service, whoever sent it.
pub trait Service: Send + Sync + 'static {
    /// Human-readable name, used as the disco#items `name` (XEP-0030 §4.1).
    fn name(&self) -> &str;
    /// Handles one stanza from `origin`; `from` is already stamped by the sender's
    /// server. Replies and notifications go back through [`Router::route_inbound`].
    fn handle<'a>(
        &'a self,
        router: &'a Arc<Router>,
        origin: &'a Origin,
        st: Stanza,
    ) -> BoxFuture<'a, ()>;
}

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use jid::{BareJid, FullJid, Jid, ResourcePart};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::stanza::{Condition, IqType, Kind, Stanza, StanzaError, StreamCondition};
use crate::storage::Storage;
use crate::xml::Element;
use hooks::{
    Chain, ChainResult, ElementOutcome, Event, EventKind, Filtered, IqKind, Local, Module,
    ModuleCtx, Origin, Outcome, Route, To, Verdict,
};
pub use session::{Outbound, PresenceState, Receipt, SessionEntry, SharedStanza};
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
}

/// Why a resource could not be bound (RFC 6120 §7.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// The requested resource is not a valid resourcepart: `bad-request`.
    BadResource,
    /// The account has as many sessions as allowed: `resource-constraint`.
    TooManyResources,
}

type Modules = Vec<Arc<dyn Module>>;
/// A module on an IQ route, with the payload `(name, namespace)` it answers.
type IqEntry = (&'static str, &'static str, Arc<dyn Module>);
/// A filter step being sorted: priority, feature-list position, module.
type Step = (i32, usize, Arc<dyn Module>);

/// The modules' declarations, indexed once at start-up.
#[derive(Default)]
struct Table {
    /// IQ routes by (type, addressee), then by payload (name, namespace).
    iq: HashMap<(IqKind, To), Vec<IqEntry>>,
    /// Every other route, by [`route_slot`] (an array, not a hash map: it is looked up
    /// for every stanza).
    stanza: Vec<Modules>,
    /// Filter steps per chain, in running order, by [`chain_slot`].
    filters: Vec<Modules>,
    /// Subscribers per event, by [`event_slot`].
    events: Vec<Modules>,
    /// Claimed top-level elements (name, namespace).
    elements: Vec<(&'static str, &'static str, Arc<dyn Module>)>,
    /// Every module, in feature-list order (for stream features).
    all: Modules,
}

impl Table {
    fn new(modules: Vec<Arc<dyn Module>>) -> Table {
        let mut t = Table {
            stanza: vec![Vec::new(); ROUTE_SLOTS],
            filters: vec![Vec::new(); CHAIN_SLOTS],
            events: vec![Vec::new(); EVENT_SLOTS],
            ..Table::default()
        };
        let mut filters: HashMap<Chain, Vec<Step>> = HashMap::new();
        for (order, m) in modules.iter().enumerate() {
            for r in m.routes() {
                match *r {
                    Route::Iq { kind, name, ns, to } => {
                        t.iq.entry((kind, to))
                            .or_default()
                            .push((name, ns, m.clone()))
                    }
                    other => {
                        if let Some(slot) = t.stanza.get_mut(route_slot(&other)) {
                            slot.push(m.clone());
                        }
                    }
                }
            }
            for f in m.filters() {
                filters
                    .entry(f.chain)
                    .or_default()
                    .push((f.priority, order, m.clone()));
            }
            for e in m.events() {
                if let Some(slot) = t.events.get_mut(event_slot(*e)) {
                    slot.push(m.clone());
                }
            }
            for (name, ns) in m.elements() {
                t.elements.push((name, ns, m.clone()));
            }
        }
        for (chain, mut steps) in filters {
            steps.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            if let Some(slot) = t.filters.get_mut(chain_slot(chain)) {
                *slot = steps.into_iter().map(|(_, _, m)| m).collect();
            }
        }
        t.all = modules;
        t
    }
}

const KINDS: usize = 3;
const TOS: usize = 6;
const LOCALS: usize = 3;
const ROUTE_SLOTS: usize = KINDS * TOS + KINDS * LOCALS + 2;
const CHAIN_SLOTS: usize = 3;
const EVENT_SLOTS: usize = 8;

fn kind_slot(k: Kind) -> usize {
    match k {
        Kind::Message => 0,
        Kind::Presence => 1,
        Kind::Iq => 2,
    }
}

fn to_slot(t: To) -> usize {
    match t {
        To::Host => 0,
        To::OwnAccount => 1,
        To::OtherAccount => 2,
        To::Resource => 3,
        To::Service => 4,
        To::Remote => 5,
    }
}

/// The index of a non-IQ route in [`Table::stanza`] (IQ routes: the last slot, unused).
fn route_slot(r: &Route) -> usize {
    match *r {
        Route::Sent { kind, to } => kind_slot(kind) * TOS + to_slot(to),
        Route::Delivered { kind, to } => {
            let local = match to {
                Local::Host => 0,
                Local::Bare => 1,
                Local::Full => 2,
            };
            KINDS * TOS + kind_slot(kind) * LOCALS + local
        }
        Route::Undeliverable => KINDS * TOS + KINDS * LOCALS,
        Route::Iq { .. } => ROUTE_SLOTS - 1,
    }
}

fn chain_slot(c: Chain) -> usize {
    match c {
        Chain::Outbound => 0,
        Chain::Inbound => 1,
        Chain::Groupchat => 2,
    }
}

fn event_slot(e: EventKind) -> usize {
    match e {
        EventKind::SessionBound => 0,
        EventKind::InitialPresence => 1,
        EventKind::QueueWritten => 2,
        EventKind::SessionClosed => 3,
        EventKind::Written => 4,
        EventKind::MessageUndeliverable => 5,
        EventKind::AccountDeleted => 6,
        EventKind::PresenceBroadcast => 7,
    }
}

impl Table {
    /// The modules on `route` (IQ routes have their own table).
    fn route(&self, route: &Route) -> &[Arc<dyn Module>] {
        match route {
            Route::Iq { .. } => &[],
            r => self.stanza.get(route_slot(r)).map_or(&[], Vec::as_slice),
        }
    }

    /// Whether some module is on a [`Route::Sent`] route of `kind`.
    fn any_sent(&self, kind: Kind) -> bool {
        let k = kind_slot(kind) * TOS;
        self.stanza
            .get(k..k + TOS)
            .is_some_and(|slots| slots.iter().any(|m| !m.is_empty()))
    }

    fn chain(&self, c: Chain) -> &[Arc<dyn Module>] {
        self.filters.get(chain_slot(c)).map_or(&[], Vec::as_slice)
    }

    fn subscribers(&self, e: EventKind) -> &[Arc<dyn Module>] {
        self.events.get(event_slot(e)).map_or(&[], Vec::as_slice)
    }
}

/// The router. Shared as `Arc<Router>` by all sessions.
pub struct Router {
    cfg: RouterConfig,
    storage: Storage,
    sessions: DashMap<BareJid, Vec<Arc<SessionEntry>>>,
    table: Table,
    features: Vec<&'static str>,
    account_features: Vec<&'static str>,
    account_identities: Vec<(&'static str, &'static str)>,
    services: Vec<(String, Arc<dyn Service>)>,
    tasks: TaskTracker,
}

impl Router {
    /// Builds the router and its tables from the enabled modules (in feature-list
    /// order), and the table of services by domain (normalized, lower case).
    pub fn new(
        cfg: RouterConfig,
        storage: Storage,
        modules: Vec<Arc<dyn Module>>,
        services: Vec<(String, Arc<dyn Service>)>,
        tasks: TaskTracker,
    ) -> Arc<Router> {
        let mut features = vec![crate::ns::DISCO_INFO];
        let mut account_features = vec![crate::ns::DISCO_INFO];
        let mut account_identities = vec![("account", "registered")];
        for m in &modules {
            features.extend_from_slice(m.disco_features());
            account_features.extend_from_slice(m.account_features());
            account_identities.extend_from_slice(m.account_identities());
        }
        account_features.sort_unstable();
        account_features.dedup();
        Arc::new(Router {
            cfg,
            storage,
            sessions: DashMap::new(),
            table: Table::new(modules),
            features,
            account_features,
            account_identities,
            services,
            tasks,
        })
    }

    /// Runs `fut` as a task of the server, which shutdown waits for (modules never use
    /// an untracked `tokio::spawn`).
    pub fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(fut);
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

    /// Features of an account's bare JID in disco#info (XEP-0030 §3.1), sorted.
    pub fn account_features(&self) -> &[&'static str] {
        &self.account_features
    }

    /// Identities `(category, type)` of an account's bare JID in disco#info
    /// (`account/registered` first; e.g. `pubsub/pep`, XEP-0163 §6.1).
    pub fn account_identities(&self) -> &[(&'static str, &'static str)] {
        &self.account_identities
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

    /// Removes a session from the registry, then tells the modules
    /// ([`Event::SessionClosed`]: the presence module sends unavailable presence where
    /// RFC 6121 §4.6 says). Nothing happens for a session already replaced.
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
        if removed {
            self.emit(Event::SessionClosed(entry)).await;
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

    /// An account was deleted (its storage is gone): each of its sessions ends with
    /// `not-authorized` (RFC 6120 §4.9.3.12), then the modules are told
    /// ([`Event::AccountDeleted`]). For the deletion paths of a running server (admin
    /// commands, in-band unregistration).
    pub async fn account_deleted(self: &Arc<Self>, account: &BareJid) {
        for s in self.sessions_of(account) {
            s.close(StreamCondition::NotAuthorized);
        }
        self.emit(Event::AccountDeleted(account)).await;
    }

    /// Closes every session with `cond` (used at shutdown).
    pub fn close_all(&self, cond: StreamCondition) {
        for l in self.sessions.iter() {
            for s in l.value() {
                s.close(cond);
            }
        }
    }

    /// Tells every subscribed module of `ev`, one after the other (feature-list order).
    pub async fn emit(self: &Arc<Self>, ev: Event<'_>) {
        for m in self.table.subscribers(ev.kind()) {
            m.event(self, &ev).await;
        }
    }

    /// Whether some module has a step in `chain` (lets callers skip building a context).
    pub fn has_filters(&self, chain: Chain) -> bool {
        !self.table.chain(chain).is_empty()
    }

    /// Runs the filter chain `chain` on `st` (highest priority first), which steps may
    /// rewrite in place. `cx` describes the stanza.
    pub async fn filter(&self, chain: Chain, cx: &ModuleCtx<'_>, st: &mut Stanza) -> ChainResult {
        let mut done = Filtered::default();
        {
            for m in self.table.chain(chain) {
                match m.filter(cx, chain, st).await {
                    Verdict::Pass => {}
                    Verdict::Rewritten(undo) => {
                        if let Some(u) = undo {
                            done.push(u);
                        }
                    }
                    Verdict::Reject(e) => {
                        done.undo().await;
                        return ChainResult::Reject(e);
                    }
                    Verdict::Drop => {
                        done.undo().await;
                        return ChainResult::Drop;
                    }
                }
            }
        }
        ChainResult::Continue(done)
    }

    /// Runs the modules on `route` (feature-list order) until one does not pass;
    /// `None` when all passed (or none is there).
    async fn run_route(&self, cx: &ModuleCtx<'_>, st: &Stanza) -> Option<Outcome> {
        let ms = self.table.route(&cx.route);
        for m in ms {
            match m.handle(cx, st).await {
                Outcome::Pass => {}
                done => return Some(done),
            }
        }
        None
    }

    /// Stream features the modules offer on an authenticated client stream
    /// (RFC 6120 §4.3.2), in feature-list order.
    pub fn stream_features(&self) -> Vec<Element> {
        self.table
            .all
            .iter()
            .flat_map(|m| m.stream_features())
            .collect()
    }

    /// Whether a module claimed the top-level element `(name, ns)`.
    pub fn claims_element(&self, name: &str, ns: &str) -> bool {
        self.table
            .elements
            .iter()
            .any(|(n, s, _)| *n == name && *s == ns)
    }

    /// Hands a top-level non-stanza element sent by `session` to the module that claimed
    /// it; unclaimed, the stream is to end with `unsupported-stanza-type`
    /// (RFC 6120 §4.9.3.24).
    pub async fn handle_element(
        self: &Arc<Self>,
        session: &Arc<SessionEntry>,
        el: Element,
    ) -> ElementOutcome {
        let claimed = self
            .table
            .elements
            .iter()
            .find(|(n, s, _)| *n == el.name() && *s == el.ns())
            .map(|(_, _, m)| m.clone());
        match claimed {
            Some(m) => m.element(self, session, el).await,
            None => ElementOutcome::Fail(StreamCondition::UnsupportedStanzaType),
        }
    }

    /// Who a stanza a local session sent is addressed to (`None`: no `to`).
    pub fn addressee(&self, sender: &BareJid, to: Option<&Jid>) -> To {
        let Some(to) = to else {
            return To::OwnAccount;
        };
        let domain = to.domain().as_str();
        if self.service(domain).is_some() {
            To::Service
        } else if !self.is_local_domain(domain) {
            To::Remote
        } else if to.resource().is_some() {
            To::Resource
        } else if to.node().is_none() {
            To::Host
        } else if to.node() == sender.node() && to.domain() == sender.domain() {
            // Both normalized (RFC 7622): comparing the parts needs no new JID.
            To::OwnAccount
        } else {
            To::OtherAccount
        }
    }

    /// The origin of a stanza by its `from` (as stamped by its sender's server): a bound
    /// local session, a service, the server (a local bare JID or domain), or a remote
    /// domain.
    pub fn origin_of(&self, st: &Stanza) -> Origin {
        let Ok(Some(from)) = st.from() else {
            return Origin::Server;
        };
        let domain = from.domain().as_str();
        if self.service(domain).is_some() {
            Origin::Service(domain.to_owned())
        } else if !self.is_local_domain(domain) {
            Origin::Remote(domain.to_owned())
        } else if let Ok(full) = from.try_as_full()
            && self.session(full).is_some()
        {
            Origin::Session
        } else {
            Origin::Server
        }
    }

    /// Routes a stanza sent by a bound client. `from` is already stamped with the
    /// session's full JID (RFC 6120 §8.1.2.1). The outbound chain runs first, then the
    /// modules on the stanza's route, then the default: IQs to the server or an account
    /// that no module answers get `service-unavailable`, the rest is delivered to its
    /// addressee ([`Router::route_inbound`]).
    pub async fn route_from_client(self: &Arc<Self>, sender: &Arc<SessionEntry>, mut st: Stanza) {
        let to = match st.to() {
            Ok(t) => t,
            Err(e) => return self.bounce(sender, &st, e),
        };
        let kind = st.kind();
        if kind == Kind::Message && !self.table.any_sent(kind) && !self.has_filters(Chain::Outbound)
        {
            // Nothing plugged in on this path: straight to delivery.
            let origin = Origin::Session;
            let to = to.unwrap_or_else(|| Jid::from(sender.account.clone()));
            return self.route_inbound(&origin, st, &to).await;
        }
        let addressee = self.addressee(&sender.account, to.as_ref());
        let route = match kind {
            Kind::Iq => match st.iq_type() {
                Some(t) => Route::Iq {
                    kind: match t {
                        IqType::Get | IqType::Result => IqKind::Get,
                        IqType::Set | IqType::Error => IqKind::Set,
                    },
                    name: "",
                    ns: "",
                    to: addressee,
                },
                None => return self.bounce(sender, &st, Condition::BadRequest.into()),
            },
            k => Route::sent(k, addressee),
        };
        let origin = Origin::Session;
        let cx = ModuleCtx {
            router: self,
            origin: &origin,
            from: &sender.jid,
            account: &sender.account,
            session: Some(sender),
            to: to.as_ref(),
            route,
        };
        if self.has_filters(Chain::Outbound) {
            match self.filter(Chain::Outbound, &cx, &mut st).await {
                ChainResult::Continue(_) => {}
                ChainResult::Reject(e) => return self.bounce(sender, &st, e),
                ChainResult::Drop => return,
            }
        }
        if kind == Kind::Iq {
            return self.route_iq(sender, &cx, st).await;
        }
        match self.run_route(&cx, &st).await {
            Some(Outcome::Reply(el)) => {
                sender.send(el);
            }
            Some(Outcome::Reject(e)) => self.bounce(sender, &st, e),
            Some(Outcome::Handled | Outcome::Pass) => {}
            None => {
                let to = match (kind, cx.to) {
                    (_, Some(to)) => to.clone(),
                    (Kind::Message, None) => Jid::from(cx.account.clone()),
                    // Presence without `to` is broadcast, the presence module's work.
                    _ => return,
                };
                self.route_inbound(&origin, st, &to).await;
            }
        }
    }

    async fn route_iq(
        self: &Arc<Self>,
        sender: &Arc<SessionEntry>,
        cx: &ModuleCtx<'_>,
        st: Stanza,
    ) {
        let (kind, addressee) = match (st.iq_type(), cx.route) {
            (Some(IqType::Get), Route::Iq { to, .. }) => (IqKind::Get, to),
            (Some(IqType::Set), Route::Iq { to, .. }) => (IqKind::Set, to),
            // Results and errors addressed to the server (e.g. answers to roster pushes)
            // end here, or reach the module waiting on them (SessionEntry::request);
            // addressed to someone else they are delivered.
            (_, Route::Iq { to, .. }) => {
                if matches!(to, To::Host | To::OwnAccount) {
                    let _ = sender.answer(st.into_element());
                    return;
                }
                if !matches!(to, To::Host | To::OwnAccount | To::OtherAccount)
                    && let Some(to) = cx.to
                {
                    self.route_inbound(cx.origin, st, to).await;
                }
                return;
            }
            _ => return,
        };
        if !matches!(addressee, To::Host | To::OwnAccount | To::OtherAccount) {
            if let Some(to) = cx.to {
                self.route_inbound(cx.origin, st, to).await;
            }
            return;
        }
        if st.payload().is_none() {
            return self.bounce(sender, &st, Condition::BadRequest.into());
        }
        let mut st = st;
        if addressee == To::OtherAccount
            && self.has_filters(Chain::Inbound)
            && let Some(to) = cx.to
        {
            // Answered by the server on the other account's behalf (its PEP nodes, its
            // vCard): the account's inbound chain applies as to a delivered stanza
            // (XEP-0191 §3.3: a blocked entity's IQ requests are refused).
            let account = to.to_bare();
            let icx = ModuleCtx {
                router: self,
                origin: cx.origin,
                from: cx.from,
                account: &account,
                session: None,
                to: cx.to,
                route: cx.route,
            };
            match self.filter(Chain::Inbound, &icx, &mut st).await {
                ChainResult::Continue(_) => {}
                ChainResult::Reject(e) => return self.bounce(sender, &st, e),
                ChainResult::Drop => return,
            }
        }
        let Some(payload) = st.payload() else {
            return self.bounce(sender, &st, Condition::BadRequest.into());
        };
        let modules: Vec<Arc<dyn Module>> = self
            .table
            .iq
            .get(&(kind, addressee))
            .map(|v| {
                v.iter()
                    .filter(|(n, ns, _)| *n == payload.name() && *ns == payload.ns())
                    .map(|(_, _, m)| m.clone())
                    .collect()
            })
            .unwrap_or_default();
        for m in modules {
            match m.handle(cx, &st).await {
                Outcome::Reply(el) => {
                    sender.send(el);
                    return;
                }
                Outcome::Handled => return,
                Outcome::Reject(e) => return self.bounce(sender, &st, e),
                Outcome::Pass => {}
            }
        }
        // Not answered (for another account: not on the user's behalf either, as for
        // an unknown account).
        self.bounce(sender, &st, Condition::ServiceUnavailable.into());
    }

    /// Sends the error reply for `st` (RFC 6120 §8.3.1) to its sender: a session bound
    /// here (its `from` is a local full JID) gets it queued; a remote sender will get it
    /// over its server's stream once federation exists. Services and the server itself
    /// are not told (they do not wait for errors). Never for errors and IQ results.
    pub fn bounce_to_sender(&self, origin: &Origin, st: &Stanza, err: StanzaError) {
        match origin {
            Origin::Service(_) | Origin::Remote(_) => {
                debug!(kind = %st.summary(), "error for a non-local sender not sent");
            }
            Origin::Session | Origin::Server => {
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
        }
    }

    /// A stanza a session could not queue (its queue is full, or it just ended): never
    /// dropped silently while the sender can learn of it. A `chat`/`normal` message to
    /// the bare JID (`to_bare`) goes to the undeliverable route (XEP-0160 storage, which
    /// bounces when off or full); other messages and IQ requests are bounced to their
    /// sender with `resource-constraint` (RFC 6120 §8.3.3.18). Presence, IQ results and
    /// errors are never bounced (RFC 6120 §8.3.1, RFC 6121 §4.3.2) and are dropped.
    pub async fn not_queued(self: &Arc<Self>, origin: &Origin, st: Stanza, to_bare: bool) {
        match (st.kind(), st.type_attr()) {
            (Kind::Presence, _) | (Kind::Iq, "result" | "error") | (Kind::Message, "error") => {
                debug!(kind = %st.summary(), "not queued: session queue full or closed");
            }
            (Kind::Message, "" | "normal" | "chat") if to_bare => {
                let owner = match st.to() {
                    Ok(Some(to)) => to.to_bare(),
                    _ => return,
                };
                self.undeliverable(origin, st, &owner).await;
            }
            _ => self.bounce_to_sender(
                origin,
                &st,
                StanzaError::from_condition(Condition::ResourceConstraint)
                    .with_text("the recipient's session is not reading"),
            ),
        }
    }

    /// A message for existing account `owner` that no session took
    /// ([`Route::Undeliverable`]): the modules there (offline storage) decide; without
    /// one, the sender gets `service-unavailable` (RFC 6121 §8.5.2.1.1).
    pub(crate) async fn undeliverable(
        self: &Arc<Self>,
        origin: &Origin,
        st: Stanza,
        owner: &BareJid,
    ) {
        let from = sender_or(&st, owner);
        let to = Jid::from(owner.clone());
        let cx = ModuleCtx {
            router: self,
            origin,
            from: &from,
            account: owner,
            session: None,
            to: Some(&to),
            route: Route::Undeliverable,
        };
        match self.run_route(&cx, &st).await {
            Some(Outcome::Handled | Outcome::Reply(_)) => {}
            Some(Outcome::Reject(e)) => {
                self.bounce_to_sender(origin, &st, e);
                self.emit(Event::MessageUndeliverable(&st)).await;
            }
            Some(Outcome::Pass) | None => {
                self.bounce_to_sender(
                    origin,
                    &st,
                    StanzaError::from_condition(Condition::ServiceUnavailable),
                );
                self.emit(Event::MessageUndeliverable(&st)).await;
            }
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
            let origin = self.origin_of(&st);
            self.route_inbound(&origin, st, &to).await;
        }
    }

    /// Sends the error reply for `st` back to the sender's session.
    pub fn bounce(&self, sender: &Arc<SessionEntry>, st: &Stanza, err: StanzaError) {
        if let Some(reply) = st.error_reply(&err) {
            sender.send(reply);
        }
    }

    /// Delivers a stanza addressed to `to` (RFC 6121 §8.5), whoever sent it: services get
    /// what is addressed to their domain, local accounts get it by the delivery rules
    /// (after the inbound chain and the modules on [`Route::Delivered`]), other domains go
    /// to [`Router::route_remote`]. Boxed because delivery can route again (a
    /// subscription auto-reply).
    pub fn route_inbound<'a>(
        self: &'a Arc<Self>,
        origin: &'a Origin,
        st: Stanza,
        to: &'a Jid,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(service) = self.service(to.domain().as_str()) {
                return service.handle(self, origin, st).await;
            }
            if !self.is_local_domain(to.domain().as_str()) {
                return self.route_remote(st).await;
            }
            deliver::deliver_local(self, origin, st, to).await;
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
            deliver::deliver_local(self, &Origin::Server, reply, &to).await;
        }
    }
}

/// The stanza's `from`, or `account` when it has none or an unparsable one (a stanza
/// the server built on the account's behalf).
fn sender_or(st: &Stanza, account: &BareJid) -> Jid {
    match st.from() {
        Ok(Some(f)) => f,
        _ => Jid::from(account.clone()),
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

#[cfg(test)]
mod tests;
