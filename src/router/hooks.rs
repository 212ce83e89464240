//! The extension API: what a feature under `modules/` implements to plug into the
//! router. Today that is IQ routes, by `(IQ type, payload namespace, addressee)`
//! (Prosody's `iq-get/host/<xmlns>` events, checked by types); the router builds one
//! table from them at start-up. An IQ get/set that no module claims gets
//! `service-unavailable` (RFC 6120 §8.4).
//!
//! It lives in `router/` so the router depends on no feature; `modules/` re-exports it.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use jid::{BareJid, Jid};

use crate::router::Router;
use crate::stanza::{Stanza, StanzaError};
use crate::xml::Element;

/// Which IQ type a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqKind {
    /// `type='get'`.
    Get,
    /// `type='set'`.
    Set,
}

/// Who an IQ is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum To {
    /// A hosted domain (`to='example.org'`).
    Host,
    /// The sender's own account: no `to`, or the sender's bare JID (RFC 6120 §10.5.1).
    OwnAccount,
    /// Another local account's bare JID, answered by the server on its behalf.
    OtherAccount,
}

/// One route: IQ type, payload `(name, namespace)`, addressee.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// IQ type.
    pub kind: IqKind,
    /// Payload element name.
    pub name: &'static str,
    /// Payload namespace.
    pub ns: &'static str,
    /// Addressee.
    pub to: To,
}

impl Route {
    /// Shorthand constructor.
    pub const fn iq(kind: IqKind, name: &'static str, ns: &'static str, to: To) -> Route {
        Route { kind, name, ns, to }
    }
}

/// What a module did with a stanza.
pub enum Outcome {
    /// Answer the sender with this element (an IQ result).
    Reply(Element),
    /// The module answered or routed everything itself.
    Handled,
    /// Not for this module after all: fall back to the next route or the default.
    Pass,
    /// Answer with this stanza error.
    Reject(StanzaError),
}

/// What a module may see when it handles a stanza.
pub struct ModuleCtx<'a> {
    /// The router (sessions, storage, configuration).
    pub router: &'a Arc<Router>,
    /// The sender's full JID, stamped by the server.
    pub from: &'a Jid,
    /// The sender's account.
    pub account: BareJid,
}

/// A feature plugged into the router.
pub trait Module: Send + Sync + 'static {
    /// Short name, for logs.
    fn name(&self) -> &'static str;
    /// Features advertised in the server's disco#info (XEP-0030 §3.1).
    fn disco_features(&self) -> &'static [&'static str] {
        &[]
    }
    /// IQ routes this module answers.
    fn routes(&self) -> &'static [Route];
    /// Handles one stanza matched by one of [`Module::routes`].
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome>;
}
