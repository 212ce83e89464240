//! XEP-0280 Message Carbons, with the XEP-0334 `<no-copy/>` hint: a client that enabled
//! carbons gets a copy of each chat message its account's other clients send (`<sent/>`,
//! §7) or receive (`<received/>`, §6), wrapped in a XEP-0297 `<forwarded/>` and sent
//! from the account's bare JID.
//!
//! - `<enable/>` / `<disable/>` (§4, §5): an IQ set with no `to`, or to the own bare JID
//!   or a hosted domain; the state belongs to the session and ends with it.
//! - Eligible messages (§6.1): type `chat`; type `normal` (or none) with a `<body/>` or
//!   an IM payload (XEP-0184 receipts, XEP-0333 markers, XEP-0085 chat states). Never
//!   `groupchat`, `headline` or `error`; never a message from a MUC service (room
//!   messages, private messages and invitations alike), nor one carrying a MUC
//!   `<x xmlns='http://jabber.org/protocol/muc#user'/>` (a private message relayed by a
//!   room elsewhere). A private message the user sends to an occupant is copied as
//!   `<sent/>`.
//! - `<private xmlns='urn:xmpp:carbons:2'/>` (§8) or `<no-copy xmlns='urn:xmpp:hints'/>`
//!   (XEP-0334 §4): not copied. The `<private/>` element stays in the message (§8 no
//!   longer asks the server to strip it), as every payload does: a copy is the message
//!   byte for byte, end-to-end encrypted payloads (OMEMO, OpenPGP) included.
//! - A message to the bare JID goes to the sessions with the highest priority (RFC 6121
//!   §8.5.2.1.1); they get the original and no copy. A message to a full JID is copied
//!   to the other sessions. The sending session never gets a copy of its own message,
//!   and a message between two sessions of one account is copied as `<received/>` only.
//!
//! The `<sent/>` copies are made in [`Chain::Outbound`], the `<received/>` copies in
//! [`Chain::Inbound`], both as the chain's last step (after blocking, which may refuse
//! the message).
//!
//! # Security
//! All of a user's sessions are one trust boundary (§11): copies go only to the
//! account's own sessions that enabled carbons. A client must accept a carbon only from
//! its own bare JID (§11); the server helps clients that forget to check: a routed
//! message that carries a `<sent/>` or `<received/>` carbons element is refused with
//! `not-acceptable`, since the server makes its copies itself and never routes them.
//! The module stores nothing; it counts the sessions that enabled carbons so messages
//! cost nothing more while nobody uses them.
//!
//! # Limitations
//! - A copy a session's full queue cannot take is lost (the original is not).
//! - Errors bounced for a copied message are not copied (§6.1 allows it; the server
//!   keeps no state to tell which bounce answers an eligible message).
//! - A `<sent/>` copy is made before the message reaches its addressee, so a message
//!   its addressee then refuses was still copied.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;
use jid::{BareJid, Jid};
use tracing::debug;

use super::{
    Chain, Event, EventKind, FilterSpec, IqKind, Module, ModuleCtx, Origin, Outcome, Route, To,
    Verdict,
};
use crate::ns;
use crate::router::{Router, SessionEntry};
use crate::stanza::{Condition, Kind, Stanza, StanzaError};
use crate::xml::Element;

/// The filter steps' priority: last in each chain, after every step that may refuse.
pub const PRIORITY: i32 = -1000;

/// XEP-0280 message carbons.
pub struct CarbonsModule {
    /// `carbons.enabled`: off, only the §11 check runs.
    enabled: bool,
    /// Sessions that enabled carbons, server-wide (never below the true count).
    sessions: AtomicUsize,
}

impl CarbonsModule {
    /// The module for `[carbons]`.
    pub fn new(enabled: bool) -> CarbonsModule {
        CarbonsModule {
            enabled,
            sessions: AtomicUsize::new(0),
        }
    }
}

/// The session's carbons state (§4): whether it enabled them.
#[derive(Debug, Default)]
struct Enabled(bool);

static ROUTES: [Route; 4] = [
    Route::iq(IqKind::Set, "enable", ns::CARBONS, To::OwnAccount),
    Route::iq(IqKind::Set, "disable", ns::CARBONS, To::OwnAccount),
    Route::iq(IqKind::Set, "enable", ns::CARBONS, To::Host),
    Route::iq(IqKind::Set, "disable", ns::CARBONS, To::Host),
];

static FILTERS: [FilterSpec; 2] = [
    FilterSpec {
        chain: Chain::Outbound,
        priority: PRIORITY,
    },
    FilterSpec {
        chain: Chain::Inbound,
        priority: PRIORITY,
    },
];

static CHECK_ONLY: [FilterSpec; 1] = [FilterSpec {
    chain: Chain::Inbound,
    priority: PRIORITY,
}];

impl Module for CarbonsModule {
    fn name(&self) -> &'static str {
        "carbons"
    }
    fn disco_features(&self) -> &'static [&'static str] {
        if self.enabled { &[ns::CARBONS] } else { &[] }
    }
    fn routes(&self) -> &'static [Route] {
        if self.enabled { &ROUTES } else { &[] }
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let (Some(session), Some(payload)) = (cx.session, st.payload()) else {
                return Outcome::Pass;
            };
            let on = payload.name() == "enable";
            let was = session.with_state(|e: &mut Enabled| std::mem::replace(&mut e.0, on));
            match (was, on) {
                (false, true) => {
                    self.sessions.fetch_add(1, Ordering::Relaxed);
                }
                (true, false) => self.forget_one(),
                _ => {} // Enabling twice is no error (§4).
            }
            Outcome::Reply(st.iq_result(None))
        })
    }
    fn filters(&self) -> &'static [FilterSpec] {
        if self.enabled { &FILTERS } else { &CHECK_ONLY }
    }
    fn filter<'a>(
        &'a self,
        cx: &'a ModuleCtx<'a>,
        chain: Chain,
        st: &'a mut Stanza,
    ) -> BoxFuture<'a, Verdict> {
        if st.kind() != Kind::Message {
            return Box::pin(async { Verdict::Pass });
        }
        if chain == Chain::Inbound && is_carbon(st.el()) && !from_own_bare(cx) {
            return Box::pin(async {
                Verdict::Reject(
                    StanzaError::from_condition(Condition::NotAcceptable)
                        .with_text("carbon copies come only from the recipient's own server"),
                )
            });
        }
        if !self.enabled || self.sessions.load(Ordering::Relaxed) == 0 {
            return Box::pin(async { Verdict::Pass });
        }
        match chain {
            Chain::Outbound => sent_copies(cx, st.el()),
            Chain::Inbound => received_copies(cx, st.el()),
            Chain::Groupchat => {}
        }
        Box::pin(async { Verdict::Pass })
    }
    fn events(&self) -> &'static [EventKind] {
        &[EventKind::SessionClosed]
    }
    fn event<'a>(&'a self, _router: &'a Arc<Router>, ev: &'a Event<'a>) -> BoxFuture<'a, ()> {
        if let Event::SessionClosed(s) = ev
            && s.with_state(|e: &mut Enabled| std::mem::take(&mut e.0))
        {
            self.forget_one();
        }
        Box::pin(async {})
    }
}

impl CarbonsModule {
    /// One session fewer with carbons enabled.
    fn forget_one(&self) {
        let _ = self
            .sessions
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// Whether the message carries a carbons `<sent/>` or `<received/>` wrapper (§11).
fn is_carbon(el: &Element) -> bool {
    el.has_child("sent", ns::CARBONS) || el.has_child("received", ns::CARBONS)
}

/// Whether the stanza's `from` is the recipient account's own bare JID.
fn from_own_bare(cx: &ModuleCtx<'_>) -> bool {
    cx.from.is_bare()
        && cx.from.node() == cx.account.node()
        && cx.from.domain() == cx.account.domain()
}

/// Whether a message is eligible for carbons (§6.1, §8, XEP-0334 §4).
pub fn eligible(el: &Element) -> bool {
    if el.has_child("private", ns::CARBONS) || el.has_child("no-copy", ns::HINTS) || is_carbon(el) {
        return false;
    }
    match el.attr("type").unwrap_or("normal") {
        "chat" => true,
        "normal" | "" => {
            el.has_child("body", el.ns())
                || el
                    .children()
                    .any(|c| matches!(c.ns(), ns::RECEIPTS | ns::CHAT_MARKERS | ns::CHATSTATES))
        }
        _ => false,
    }
}

/// Whether a session enabled carbons.
fn enabled(s: &SessionEntry) -> bool {
    s.with_state(|e: &mut Enabled| e.0)
}

/// The carbon of `el` (`sent` or `received`), from the account's bare JID, with the
/// original's type (§6, §7); its `to` is set per session.
fn wrap(what: &str, account: &BareJid, el: &Element) -> Element {
    let mut m = Element::new("message", ns::CLIENT).with_attr("from", account.as_str());
    if let Some(t) = el.attr("type") {
        m.set_attr("type", t);
    }
    m.child(
        Element::new(what, ns::CARBONS)
            .child(Element::new("forwarded", ns::FORWARD).child(el.clone())),
    )
}

/// Sends `carbon` to each of `to`.
fn send_all(carbon: Element, to: &[&Arc<SessionEntry>]) {
    for s in to {
        let mut c = carbon.clone();
        c.set_attr("to", s.full.as_str());
        if !s.send(c) {
            debug!("carbon not queued: session queue full");
        }
    }
}

/// §7: a message a session sends to another entity goes as a `<sent/>` copy to the
/// account's other sessions that enabled carbons.
fn sent_copies(cx: &ModuleCtx<'_>, el: &Element) {
    let Some(sender) = cx.session else { return };
    match cx.route {
        Route::Sent {
            to: To::OtherAccount | To::Service | To::Remote,
            ..
        } => {}
        Route::Sent {
            to: To::Resource, ..
        } if cx.to.is_some_and(|t| !same_account(t, cx.account)) => {}
        // To the own account (copied on arrival as `<received/>`) or the server.
        _ => return,
    }
    if !eligible(el) {
        return;
    }
    let sessions = cx.router.sessions_of(cx.account);
    let others: Vec<&Arc<SessionEntry>> = sessions
        .iter()
        .filter(|s| !Arc::ptr_eq(s, sender) && enabled(s))
        .collect();
    if !others.is_empty() {
        send_all(wrap("sent", cx.account, el), &others);
    }
}

fn same_account(j: &Jid, account: &BareJid) -> bool {
    j.node() == account.node() && j.domain() == account.domain()
}

/// §6: a message arriving for the account goes as a `<received/>` copy to its sessions
/// that enabled carbons, except those the router delivers it to and its sender.
fn received_copies(cx: &ModuleCtx<'_>, el: &Element) {
    if matches!(cx.origin, Origin::Service(_)) || el.has_child("x", ns::MUC_USER) {
        return; // §6.1: nothing a MUC room sends, private messages included.
    }
    if !eligible(el) {
        return;
    }
    let sessions = cx.router.sessions_of(cx.account);
    if !sessions.iter().any(|s| enabled(s)) {
        return;
    }
    let direct = direct_recipients(&sessions, cx.to, el.attr("type").unwrap_or("normal"));
    let copies: Vec<&Arc<SessionEntry>> = sessions
        .iter()
        .filter(|s| !direct.iter().any(|d| Arc::ptr_eq(d, s)) && s.jid != *cx.from && enabled(s))
        .collect();
    if !copies.is_empty() {
        send_all(wrap("received", cx.account, el), &copies);
    }
}

/// The sessions the router delivers a `chat`/`normal` message for `to` to (RFC 6121
/// §8.5): the named resource if bound; else (a bare JID, or a resource not bound) the
/// available sessions with the highest non-negative priority.
fn direct_recipients<'s>(
    sessions: &'s [Arc<SessionEntry>],
    to: Option<&Jid>,
    mtype: &str,
) -> Vec<&'s Arc<SessionEntry>> {
    if let Some(res) = to.and_then(|t| t.resource()) {
        if let Some(s) = sessions.iter().find(|s| s.full.resource() == res) {
            return vec![s];
        }
        if !matches!(mtype, "normal" | "chat") {
            return Vec::new(); // §8.5.3.2: not delivered at all.
        }
    }
    let avail: Vec<(i8, &Arc<SessionEntry>)> = sessions
        .iter()
        .filter_map(|s| {
            s.with_presence(|p| (p.available && p.priority >= 0).then_some((p.priority, s)))
        })
        .collect();
    let Some(max) = avail.iter().map(|(p, _)| *p).max() else {
        return Vec::new();
    };
    avail
        .into_iter()
        .filter(|(p, _)| *p == max)
        .map(|(_, s)| s)
        .collect()
}

/// The feature: `[carbons]`.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let enabled = cx.config.carbons.enabled;
    Box::pin(async move { Ok(super::Built::module(CarbonsModule::new(enabled))) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_element;

    fn el(xml: &str) -> Element {
        parse_element(xml, ns::CLIENT).unwrap()
    }

    /// XEP-0280 §6.1 and §8, XEP-0334 §4.
    #[test]
    fn eligibility() {
        let table = [
            ("<message type='chat'><body>x</body></message>", true),
            ("<message type='chat'/>", true),
            ("<message><body>x</body></message>", true),
            ("<message type='normal'><body>x</body></message>", true),
            ("<message type='normal'/>", false),
            (
                "<message><received xmlns='urn:xmpp:receipts' id='a'/></message>",
                true,
            ),
            (
                "<message><displayed xmlns='urn:xmpp:chat-markers:0' id='a'/></message>",
                true,
            ),
            (
                "<message><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
                true,
            ),
            ("<message type='groupchat'><body>x</body></message>", false),
            ("<message type='headline'><body>x</body></message>", false),
            ("<message type='error'><body>x</body></message>", false),
            (
                "<message type='chat'><body>x</body><private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>",
                false,
            ),
            (
                "<message type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>",
                false,
            ),
            (
                "<message type='chat'><received xmlns='urn:xmpp:carbons:2'/></message>",
                false,
            ),
        ];
        for (xml, want) in table {
            assert_eq!(eligible(&el(xml)), want, "{xml}");
        }
    }

    /// §6: the wrapper is from the bare JID, keeps the type, and holds the original
    /// unchanged (here an OMEMO payload) in `<forwarded xmlns='urn:xmpp:forward:0'/>`.
    #[test]
    fn wrapper_keeps_the_original() {
        let orig = el(
            "<message from='juliet@example.org/balcony' to='romeo@example.net' type='chat'>\
             <encrypted xmlns='eu.siacs.conversations.axolotl'><payload>AAAA</payload></encrypted>\
             </message>",
        );
        let account = BareJid::new("juliet@example.org").unwrap();
        let w = wrap("sent", &account, &orig);
        assert_eq!(w.attr("from"), Some("juliet@example.org"));
        assert_eq!(w.attr("type"), Some("chat"));
        let inner = w
            .get_child("sent", ns::CARBONS)
            .and_then(|s| s.get_child("forwarded", ns::FORWARD))
            .and_then(|f| f.get_child("message", ns::CLIENT))
            .unwrap();
        assert_eq!(inner.to_xml(ns::CLIENT), orig.to_xml(ns::CLIENT));
    }
}
