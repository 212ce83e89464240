//! The extension API: what a feature under `modules/` implements to plug into the
//! router, in the spirit of Prosody's `module:hook` (events by name, handlers by
//! priority), checked by types. A [`Module`] declares, once at start-up:
//!
//! - **routes** ([`Route`]): the stanzas it handles, by stanza kind × recipient kind.
//!   IQ requests by `(type, payload element, namespace, addressee)`
//!   ([`Route::iq`]); messages and presence a local session sent, by addressee
//!   ([`Route::sent`]); stanzas arriving for a local JID from anyone
//!   ([`Route::delivered`]); and messages no session of a local account could take
//!   ([`Route::undeliverable`], e.g. XEP-0160 offline storage). Several modules on one
//!   route run in the order of the feature list until one does not [`Outcome::Pass`];
//!   an IQ get/set nobody answers gets `service-unavailable` (RFC 6120 §8.4), other
//!   stanzas get the router's default (RFC 6121 §8.5 delivery).
//! - **filters** ([`FilterSpec`]): steps of a chain ([`Chain`]) that every stanza
//!   passing a point goes through, highest priority first; a step can pass, rewrite
//!   the stanza in place, or reject it with a stanza error ([`Verdict`]). Blocking, the
//!   pastebin, carbons, archive capture and security labels are such steps.
//! - **events** ([`EventKind`]): notifications that change nothing in routing
//!   (a session bound, its initial presence, its queue written, its end).
//! - **stream features and top-level elements** ([`Module::stream_features`],
//!   [`Module::elements`]): what a client stream offers after authentication
//!   (RFC 6120 §4.3.2) and non-stanza elements the module handles on it (e.g.
//!   XEP-0198's `<enable/>`, `<r/>`, `<a/>`).
//!
//! Modules keep per-session data in the session itself, typed
//! ([`crate::router::SessionEntry::with_state`]).
//!
//! It lives in `router/` so the router depends on no feature; `modules/` re-exports it.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use jid::{BareJid, Jid};

use crate::router::{Receipt, Router, SessionEntry};
use crate::stanza::{Kind, Stanza, StanzaError};
use crate::xml::Element;

/// Which IQ type a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqKind {
    /// `type='get'`.
    Get,
    /// `type='set'`.
    Set,
}

/// Who a stanza sent by a local session is addressed to (RFC 6120 §10.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum To {
    /// A hosted domain (`to='example.org'`).
    Host,
    /// The sender's own account: no `to`, or the sender's bare JID (RFC 6120 §10.5.1).
    OwnAccount,
    /// Another local account's bare JID.
    OtherAccount,
    /// A full JID under a hosted domain (`user@example.org/resource`).
    Resource,
    /// A service's domain or a JID under it (e.g. a MUC room, XEP-0045 §6.1).
    Service,
    /// A domain this server does not host (federation, RFC 6120 §10.4).
    Remote,
}

/// Who a stanza arriving for a hosted domain is addressed to (RFC 6121 §8.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Local {
    /// The domain itself (§8.5.1 for a domain's own JID).
    Host,
    /// An account's bare JID (§8.5.2).
    Bare,
    /// A full JID under an account (§8.5.3).
    Full,
}

/// One route: which stanzas a module is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// An IQ request from a local session, by type, payload element name and
    /// namespace, and addressee.
    Iq {
        /// IQ type.
        kind: IqKind,
        /// Payload element name.
        name: &'static str,
        /// Payload namespace.
        ns: &'static str,
        /// Addressee.
        to: To,
    },
    /// A message or presence from a local session, before the router routes it.
    Sent {
        /// `Message` or `Presence`.
        kind: Kind,
        /// Addressee.
        to: To,
    },
    /// A message or presence arriving for a hosted domain, from any origin, before the
    /// router delivers it by RFC 6121 §8.5.
    Delivered {
        /// `Message` or `Presence`.
        kind: Kind,
        /// Addressee.
        to: Local,
    },
    /// A `normal` or `chat` message for an existing account that no session took: none
    /// is available with a non-negative priority, or every chosen session's queue was
    /// full (RFC 6121 §8.5.2.1.1: store offline or bounce). Without a module the
    /// sender gets `service-unavailable`.
    Undeliverable,
}

impl Route {
    /// An IQ route.
    pub const fn iq(kind: IqKind, name: &'static str, ns: &'static str, to: To) -> Route {
        Route::Iq { kind, name, ns, to }
    }

    /// A route for messages or presence sent by a local session.
    pub const fn sent(kind: Kind, to: To) -> Route {
        Route::Sent { kind, to }
    }

    /// A route for messages or presence arriving for a local JID.
    pub const fn delivered(kind: Kind, to: Local) -> Route {
        Route::Delivered { kind, to }
    }

    /// The route of undeliverable messages.
    pub const fn undeliverable() -> Route {
        Route::Undeliverable
    }
}

/// What a module did with a stanza.
pub enum Outcome {
    /// Answer the sender with this element (an IQ result).
    Reply(Element),
    /// The module answered or routed everything itself.
    Handled,
    /// Not for this module after all: the next module on the route, or the default.
    Pass,
    /// Answer with this stanza error.
    Reject(StanzaError),
}

/// Where a stanza came from, carried through routing, the module context and the bounce
/// helpers, so a stanza from a remote server reaches modules like a local one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A client session bound here (its full JID is the stanza's `from`).
    Session,
    /// A service hosted here (MUC, upload), by its domain.
    Service(String),
    /// The server itself, for a local account or domain (presence broadcast, probes,
    /// subscription auto-replies, bounces).
    Server,
    /// A remote server, by its domain (RFC 6120 §10.4; federation is not built yet).
    Remote(String),
}

/// What a module may see when it handles a stanza.
pub struct ModuleCtx<'a> {
    /// The router (sessions, storage, configuration).
    pub router: &'a Arc<Router>,
    /// Where the stanza came from.
    pub origin: &'a Origin,
    /// The sender's JID (for a local session, its full JID, stamped by the server).
    pub from: &'a Jid,
    /// The local account concerned: the sender's for [`Route::Iq`] and [`Route::Sent`],
    /// the recipient's for [`Route::Delivered`] and [`Route::Undeliverable`] (for a
    /// stanza to a domain itself, the sender's bare JID).
    pub account: &'a BareJid,
    /// The sending session, for stanzas a local session sent.
    pub session: Option<&'a Arc<SessionEntry>>,
    /// The addressee as the stanza gave it (`None`: no `to`).
    pub to: Option<&'a Jid>,
    /// The route that matched.
    pub route: Route,
}

/// The points of the router a filter chain runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chain {
    /// A stanza a local session sent, before it is handled or routed.
    Outbound,
    /// A stanza for a local account or one of its sessions, from any origin, before the
    /// router delivers it (MUC fan-out copies excepted: [`Chain::Groupchat`] ran for
    /// them once).
    Inbound,
    /// A room message (XEP-0045 §7.4) sent to the MUC service, before the room handles
    /// it (fan-out to the occupants, history); the service runs this chain itself and
    /// undoes the steps' rewrites when the room refuses the message. The context's
    /// `from` and `account` are the occupant's real JIDs; `to` is `None` (the room is
    /// the stanza's `to`).
    Groupchat,
}

/// A module's step in a chain. Steps run by descending `priority` (ties in feature-list
/// order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterSpec {
    /// Where the step runs.
    pub chain: Chain,
    /// Higher runs first.
    pub priority: i32,
}

/// Undoes what a rewriting step did (e.g. deletes a paste), for a stanza the
/// destination then refused; see [`Filtered::undo`].
pub type Undo = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// What a filter step decided.
pub enum Verdict {
    /// Unchanged: the next step.
    Pass,
    /// The step changed the stanza in place, with a way to undo side effects if the
    /// stanza is then refused by its destination.
    Rewritten(Option<Undo>),
    /// The stanza goes no further; the sender gets this error (never for errors and
    /// IQ results, RFC 6120 §8.3.1).
    Reject(StanzaError),
    /// The stanza goes no further and nobody is told (e.g. a blocked sender's
    /// presence, XEP-0191 §3.4).
    Drop,
}

/// The result of a whole chain that let a stanza through.
#[derive(Default)]
pub struct Filtered {
    undo: Vec<Undo>,
}

impl Filtered {
    /// Whether some step left something to undo.
    pub fn is_empty(&self) -> bool {
        self.undo.is_empty()
    }

    pub(crate) fn push(&mut self, undo: Undo) {
        self.undo.push(undo);
    }

    /// Undoes the side effects of every rewriting step (latest first): call it when the
    /// destination refused the filtered stanza.
    pub async fn undo(self) {
        for u in self.undo.into_iter().rev() {
            u().await;
        }
    }
}

/// What a chain did with a stanza.
pub enum ChainResult {
    /// Go on with the (maybe rewritten) stanza.
    Continue(Filtered),
    /// Refused with this error.
    Reject(StanzaError),
    /// Dropped silently.
    Drop,
}

/// Notifications a module can subscribe to ([`Module::events`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// [`Event::SessionBound`].
    SessionBound,
    /// [`Event::InitialPresence`].
    InitialPresence,
    /// [`Event::QueueWritten`].
    QueueWritten,
    /// [`Event::SessionClosed`].
    SessionClosed,
    /// [`Event::Written`].
    Written,
    /// [`Event::MessageUndeliverable`].
    MessageUndeliverable,
    /// [`Event::AccountDeleted`].
    AccountDeleted,
    /// [`Event::PresenceBroadcast`].
    PresenceBroadcast,
}

/// A notification. Handlers run one after the other, in feature-list order, and are
/// awaited by whoever emits the event.
pub enum Event<'a> {
    /// A resource was bound (RFC 6120 §7); the session is in the registry.
    SessionBound(&'a Arc<SessionEntry>),
    /// The session's first available presence with a non-negative priority
    /// (RFC 6121 §4.2): where stored messages are delivered (XEP-0160 §3). Once per
    /// session.
    InitialPresence(&'a Arc<SessionEntry>),
    /// The session wrote everything queued, after someone asked to hear of it
    /// ([`SessionEntry::notify_when_written`]).
    QueueWritten(&'a Arc<SessionEntry>),
    /// The session left the registry (stream closed or failed); emitted after it was
    /// removed, with its last presence state.
    SessionClosed(&'a Arc<SessionEntry>),
    /// The session wrote these [`crate::router::Outbound::Receipt`] stanzas to its
    /// stream (reported in batches, and before [`Event::SessionClosed`]); each module
    /// takes those with its name.
    Written(&'a Arc<SessionEntry>, &'a [Receipt]),
    /// A message for a local account was neither delivered nor stored: it was bounced or
    /// dropped (RFC 6121 §8.5.2.1.1).
    MessageUndeliverable(&'a Stanza),
    /// An account was deleted while the server runs ([`Router::account_deleted`]); its
    /// sessions were told to close. Modules drop what they keep for it.
    AccountDeleted(&'a BareJid),
    /// A session broadcast this presence (RFC 6121 §4.2, §4.4; `from` stamped, no `to`):
    /// available, or unavailable when it ends. The account's contacts get their copies
    /// through delivery ([`Route::Delivered`]); this tells modules of the session's
    /// own change (e.g. its XEP-0115 capabilities for PEP notifications).
    PresenceBroadcast(&'a Arc<SessionEntry>, &'a Element),
}

impl Event<'_> {
    /// The kind, for subscriptions.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::SessionBound(_) => EventKind::SessionBound,
            Event::InitialPresence(_) => EventKind::InitialPresence,
            Event::QueueWritten(_) => EventKind::QueueWritten,
            Event::SessionClosed(_) => EventKind::SessionClosed,
            Event::Written(..) => EventKind::Written,
            Event::MessageUndeliverable(_) => EventKind::MessageUndeliverable,
            Event::AccountDeleted(_) => EventKind::AccountDeleted,
            Event::PresenceBroadcast(..) => EventKind::PresenceBroadcast,
        }
    }
}

/// What a module did with a top-level element it claimed ([`Module::elements`]).
pub enum ElementOutcome {
    /// Write these elements back on the stream, in order.
    Reply(Vec<Element>),
    /// Nothing to write.
    Handled,
    /// The element breaks the protocol: end the stream with `unsupported-stanza-type`
    /// (RFC 6120 §4.9.3.24) or the module's own condition.
    Fail(crate::stanza::StreamCondition),
}

/// A feature plugged into the router. Everything but [`Module::name`] is optional:
/// a module declares what it takes part in and implements the matching handlers.
pub trait Module: Send + Sync + 'static {
    /// Short name, for logs.
    fn name(&self) -> &'static str;
    /// Features advertised in the server's disco#info (XEP-0030 §3.1).
    fn disco_features(&self) -> &'static [&'static str] {
        &[]
    }
    /// Features of every account's bare JID in its disco#info (XEP-0030 §3.1), e.g. the
    /// XEP-0060 features of PEP (XEP-0163 §6.1).
    fn account_features(&self) -> &'static [&'static str] {
        &[]
    }
    /// Identities `(category, type)` of every account's bare JID (e.g. `pubsub/pep`).
    fn account_identities(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Routes this module handles ([`Module::handle`]).
    fn routes(&self) -> &'static [Route] {
        &[]
    }
    /// Handles one stanza matched by one of [`Module::routes`] (`cx.route` says which).
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        let _ = (cx, st);
        Box::pin(async { Outcome::Pass })
    }
    /// Filter steps this module adds ([`Module::filter`]).
    fn filters(&self) -> &'static [FilterSpec] {
        &[]
    }
    /// One filter step at `chain`; may change `st` in place.
    fn filter<'a>(
        &'a self,
        cx: &'a ModuleCtx<'a>,
        chain: Chain,
        st: &'a mut Stanza,
    ) -> BoxFuture<'a, Verdict> {
        let _ = (cx, chain, st);
        Box::pin(async { Verdict::Pass })
    }
    /// Events this module is told of ([`Module::event`]).
    fn events(&self) -> &'static [EventKind] {
        &[]
    }
    /// Handles one event it subscribed to.
    fn event<'a>(&'a self, router: &'a Arc<Router>, ev: &'a Event<'a>) -> BoxFuture<'a, ()> {
        let _ = (router, ev);
        Box::pin(async {})
    }
    /// Stream features this module offers on an authenticated client stream
    /// (RFC 6120 §4.3.2), next to resource binding.
    fn stream_features(&self) -> Vec<Element> {
        Vec::new()
    }
    /// Top-level non-stanza elements `(name, namespace)` this module handles on a bound
    /// client stream ([`Module::element`]).
    fn elements(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Handles a claimed top-level element sent by `session`.
    fn element<'a>(
        &'a self,
        router: &'a Arc<Router>,
        session: &'a Arc<SessionEntry>,
        el: Element,
    ) -> BoxFuture<'a, ElementOutcome> {
        let _ = (router, session, el);
        Box::pin(async {
            ElementOutcome::Fail(crate::stanza::StreamCondition::UnsupportedStanzaType)
        })
    }
}
