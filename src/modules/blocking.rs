//! XEP-0191 Blocking Command: each account's stored list of blocked JIDs, and its
//! enforcement.
//!
//! - `<blocklist/>` get (§3.2) returns the items and marks the session as one that
//!   requested the list; `<block/>` (§3.3) and `<unblock/>` (§3.4, empty: all, §3.5)
//!   sets change it, and each change is pushed (the set's items) to every session of
//!   the account that requested the list, the changing one included.
//! - An item is a domain, a bare JID or a full JID, matched as XEP-0191 §6 (XEP-0016
//!   §2.1) says: a full JID only itself; a bare JID itself and its full JIDs; a domain
//!   itself, its full JIDs (`domain/resource`) and every JID at it.
//! - Inbound (§3.3, [`Chain::Inbound`]): from a blocked JID, presence (notifications,
//!   subscription requests, probes) is dropped without an answer; messages and IQ
//!   get/set are refused with `service-unavailable`, as if the user were offline;
//!   errors and IQ results are dropped.
//! - Outbound (§3.3, [`Chain::Outbound`]): a stanza a session sends to a blocked JID
//!   is refused with `not-acceptable` and `<blocked xmlns='urn:xmpp:blocking:errors'/>`
//!   (errors and IQ results are dropped). Presence the server sends on the user's
//!   behalf (broadcast, probe answers) to a blocked local contact is dropped in the
//!   contact's inbound chain.
//! - On a block, contacts the new items match that receive the user's presence
//!   (roster subscription `from`/`both`) get unavailable presence from each of the
//!   user's available sessions, and the user's available sessions get unavailable
//!   presence from the contact's available sessions (when the user is subscribed to
//!   them). On an unblock, the other way round: the user's current presence goes to the
//!   contacts entitled to it (§3.4), and the contacts' current presence to the user.
//! - The own account cannot be blocked (`not-acceptable`), and stanzas between the
//!   sessions of one account or to/from the server's own domains are never blocked.
//!
//! # Security
//! - A block list holds at most `blocking.max_items` JIDs; a block that would go beyond
//!   is refused as a whole with `resource-constraint` and a text naming the limit.
//!   Nothing is half-written: a set is one transaction, and a set with one invalid JID
//!   (`jid-malformed`) or no item (`bad-request`) changes nothing.
//! - The list is stored in the database (`blocked_jids`), readable only by the
//!   account's own sessions, and removed with the account. No JID is logged.
//! - Refusals look the same as an offline user's (`service-unavailable`), so a blocked
//!   contact does not learn of the block from the errors.
//! - For speed, the lists of accounts with sessions are kept in memory (each at most
//!   `max_items` JIDs), loaded on first use and dropped when the last session ends or
//!   the account is deleted; while no account blocks anybody the filters return at
//!   once. A list change holds one lock, so the stored list and the memory copy agree.
//!
//! # Limitations
//! - Presence effects of a block or unblock reach roster contacts only (not JIDs the
//!   user sent directed presence to), and follow domain and bare-JID items (a full-JID
//!   item blocks stanzas, but sends no presence).
//! - Room messages (XEP-0045 fan-out) from a blocked occupant are not filtered.
//! - Without federation, stanzas to and from other servers are not filtered here yet
//!   beyond what the two chains see.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use jid::{BareJid, Jid};
use tokio::sync::Mutex;
use tracing::debug;

use super::{
    Chain, Event, EventKind, FilterSpec, IqKind, Module, ModuleCtx, Origin, Outcome, Route, To,
    Verdict,
};
use crate::ns;
use crate::router::Router;
use crate::stanza::{Condition, Kind, Stanza, StanzaError};
use crate::storage::Subscription;
use crate::xml::Element;

/// The filter steps' priority: first in each chain, so nothing else (carbons, pastes)
/// acts on a stanza that is then blocked.
pub const PRIORITY: i32 = 1000;

/// One account's block list, by JID form, for matching (XEP-0191 §6).
#[derive(Debug, Default)]
pub struct BlockList {
    /// Every item, normalized, sorted.
    items: Vec<String>,
    /// Items with a resource (`user@domain/res`, `domain/res`): only that JID.
    full: HashSet<String>,
    /// Bare JIDs (`user@domain`): that JID and its full JIDs.
    bare: HashSet<String>,
    /// Domains: everything at that domain.
    domains: HashSet<String>,
}

impl BlockList {
    /// The list of these normalized items (as stored); an item that does not parse
    /// matches nothing.
    pub fn new(items: Vec<String>) -> BlockList {
        let mut l = BlockList::default();
        for it in &items {
            let Some(j) = crate::stanza::parse_jid(it) else {
                continue;
            };
            let set = if j.resource().is_some() {
                &mut l.full
            } else if j.node().is_some() {
                &mut l.bare
            } else {
                &mut l.domains
            };
            set.insert(j.as_str().to_owned());
        }
        l.items = items;
        l
    }

    /// Whether nothing is blocked.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items, sorted.
    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// Whether `jid` is blocked by some item (XEP-0191 §6).
    pub fn matches(&self, jid: &Jid) -> bool {
        if self.items.is_empty() {
            return false;
        }
        let s = jid.as_str();
        // Node and domain never contain '/': the bare JID ends at the first one.
        let bare = s.split('/').next().unwrap_or(s);
        self.full.contains(s)
            || self.bare.contains(bare)
            || self.domains.contains(jid.domain().as_str())
    }
}

/// The session requested the block list, so it gets the pushes (§3.3).
#[derive(Debug, Default)]
struct Requested(bool);

/// XEP-0191 block lists.
pub struct BlockingModule {
    /// `blocking.max_items`.
    max_items: u32,
    /// Block lists of accounts with sessions (see the module docs).
    cache: DashMap<BareJid, Arc<BlockList>>,
    /// Accounts whose stored list is not empty; while 0 the filters pass at once. Never
    /// below the true count (an account deleted offline leaves it one too high).
    active: AtomicUsize,
    /// Held while a list changes: database, memory copy and count change together.
    writes: Mutex<()>,
}

impl BlockingModule {
    /// The module for `[blocking]`; `active`: how many accounts have a stored item.
    pub fn new(max_items: u32, active: usize) -> BlockingModule {
        BlockingModule {
            max_items,
            cache: DashMap::new(),
            active: AtomicUsize::new(active),
            writes: Mutex::new(()),
        }
    }
}

static ROUTES: [Route; 3] = [
    Route::iq(IqKind::Get, "blocklist", ns::BLOCKING, To::OwnAccount),
    Route::iq(IqKind::Set, "block", ns::BLOCKING, To::OwnAccount),
    Route::iq(IqKind::Set, "unblock", ns::BLOCKING, To::OwnAccount),
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

/// Why a list could not be read: the stanza is refused (fail closed).
struct ReadFailed;

impl Module for BlockingModule {
    fn name(&self) -> &'static str {
        "blocking"
    }
    fn disco_features(&self) -> &'static [&'static str] {
        &[ns::BLOCKING]
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Some(payload) = st.payload() else {
                return Outcome::Pass;
            };
            match payload.name() {
                "blocklist" => self.get(cx, st).await,
                "block" => self.set(cx, st, payload, true).await,
                _ => self.set(cx, st, payload, false).await,
            }
        })
    }
    fn filters(&self) -> &'static [FilterSpec] {
        &FILTERS
    }
    fn filter<'a>(
        &'a self,
        cx: &'a ModuleCtx<'a>,
        chain: Chain,
        st: &'a mut Stanza,
    ) -> BoxFuture<'a, Verdict> {
        if self.active.load(Ordering::Relaxed) == 0 {
            // Nobody blocks anybody: the cost of a filter step is this load.
            return Box::pin(async { Verdict::Pass });
        }
        Box::pin(async move {
            match chain {
                Chain::Outbound => self.outbound(cx, st).await,
                Chain::Inbound => self.inbound(cx, st).await,
                Chain::Groupchat => Verdict::Pass,
            }
        })
    }
    fn events(&self) -> &'static [EventKind] {
        &[EventKind::SessionClosed, EventKind::AccountDeleted]
    }
    fn event<'a>(&'a self, router: &'a Arc<Router>, ev: &'a Event<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match ev {
                Event::SessionClosed(s) if router.sessions_of(&s.account).is_empty() => {
                    self.cache.remove(&s.account);
                }
                Event::AccountDeleted(account) => {
                    let _guard = self.writes.lock().await;
                    if let Some((_, l)) = self.cache.remove(*account)
                        && !l.is_empty()
                    {
                        self.dec_active();
                    }
                }
                _ => {}
            }
        })
    }
}

/// Whether `j` is `account` or one of its full JIDs.
fn same_account(j: &Jid, account: &BareJid) -> bool {
    j.node() == account.node() && j.domain() == account.domain()
}

fn blocked_error() -> StanzaError {
    let mut e = StanzaError::from_condition(Condition::NotAcceptable)
        .with_text("you have blocked this address");
    e.app = Some(Box::new(Element::new("blocked", ns::BLOCKING_ERRORS)));
    e
}

fn bad(text: &str) -> Outcome {
    Outcome::Reject(StanzaError::from_condition(Condition::BadRequest).with_text(text))
}

fn internal() -> Outcome {
    Outcome::Reject(Condition::InternalServerError.into())
}

impl BlockingModule {
    fn dec_active(&self) {
        let _ = self
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// `account`'s list: from memory; else from the database when the account has
    /// sessions (then kept) or `offline` says the stanza needs it; else `None` (the
    /// stanza goes nowhere a block would change).
    async fn list_for(
        &self,
        router: &Arc<Router>,
        account: &BareJid,
        offline: bool,
    ) -> Result<Option<Arc<BlockList>>, ReadFailed> {
        if let Some(l) = self.cache.get(account) {
            return Ok(Some(l.clone()));
        }
        let online = !router.sessions_of(account).is_empty();
        if !online && !offline {
            return Ok(None);
        }
        let items = router
            .storage()
            .block_list(account.as_str())
            .await
            .map_err(|e| {
                debug!(error = %e, "block list read failed");
                ReadFailed
            })?;
        let l = Arc::new(BlockList::new(items));
        if online {
            // A concurrent change stored its (newer) list first: keep that one.
            return Ok(Some(self.cache.entry(account.clone()).or_insert(l).clone()));
        }
        Ok(Some(l))
    }

    /// §3.3: a stanza from the user's session to a blocked JID.
    async fn outbound(&self, cx: &ModuleCtx<'_>, st: &Stanza) -> Verdict {
        let Some(to) = cx.to else {
            return Verdict::Pass;
        };
        if same_account(to, cx.account)
            || to.node().is_none() && cx.router.is_local_domain(to.domain().as_str())
        {
            return Verdict::Pass;
        }
        let list = match self.list_for(cx.router, cx.account, true).await {
            Ok(Some(l)) => l,
            Ok(None) => return Verdict::Pass,
            Err(ReadFailed) => return refuse_or_drop(st, Condition::InternalServerError.into()),
        };
        if !list.matches(to) {
            return Verdict::Pass;
        }
        refuse_or_drop(st, blocked_error())
    }

    /// §3.3: a stanza for the user from a JID the user blocked (refused or dropped), or
    /// from a local user who blocked the recipient (dropped: presence the server sends
    /// on that user's behalf).
    async fn inbound(&self, cx: &ModuleCtx<'_>, st: &Stanza) -> Verdict {
        let from = cx.from;
        if same_account(from, cx.account)
            || from.node().is_none() && cx.router.is_local_domain(from.domain().as_str())
        {
            return Verdict::Pass;
        }
        let (kind, typ) = (st.kind(), st.type_attr());
        // Offline, only messages (stored) and subscription requests (kept pending) need
        // the stored list; anything else goes nowhere.
        let offline = match kind {
            Kind::Message => typ != "error",
            Kind::Presence => matches!(
                typ,
                "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed"
            ),
            // IQ requests the server answers for the account (its PEP nodes, vCard).
            Kind::Iq => matches!(
                cx.route,
                Route::Iq {
                    to: To::OtherAccount,
                    ..
                }
            ),
        };
        match self.list_for(cx.router, cx.account, offline).await {
            Ok(Some(l)) if l.matches(from) => return blocked_inbound(st),
            Ok(_) => {}
            Err(ReadFailed) => {
                return match kind {
                    Kind::Presence => Verdict::Drop,
                    _ => refuse_or_drop(st, Condition::InternalServerError.into()),
                };
            }
        }
        // A local sender who blocked the recipient: only server-made stanzas get here.
        if from.node().is_some()
            && cx.router.is_local_domain(from.domain().as_str())
            && let Some(to) = cx.to
        {
            let sender = from.to_bare();
            if let Ok(Some(l)) = self.list_for(cx.router, &sender, false).await
                && l.matches(to)
            {
                return Verdict::Drop;
            }
        }
        Verdict::Pass
    }

    /// §3.2: the list, and the session is marked for pushes.
    async fn get(&self, cx: &ModuleCtx<'_>, st: &Stanza) -> Outcome {
        let list = match self.list_for(cx.router, cx.account, true).await {
            Ok(Some(l)) => l,
            Ok(None) => Arc::new(BlockList::default()),
            Err(ReadFailed) => return internal(),
        };
        if let Some(s) = cx.session {
            s.with_state(|r: &mut Requested| r.0 = true);
        }
        let mut q = Element::new("blocklist", ns::BLOCKING);
        for it in list.items() {
            q.push_child(Element::new("item", ns::BLOCKING).with_attr("jid", it.clone()));
        }
        Outcome::Reply(st.iq_result(Some(q)))
    }

    /// §3.3 block, §3.4 unblock, §3.5 unblock all.
    async fn set(
        &self,
        cx: &ModuleCtx<'_>,
        st: &Stanza,
        payload: &Element,
        block: bool,
    ) -> Outcome {
        let mut jids: Vec<String> = Vec::new();
        for item in payload.children() {
            if !item.is("item", ns::BLOCKING) {
                return bad("only <item/> elements may be in a block or unblock");
            }
            let Some(raw) = item.attr("jid") else {
                return bad("an item needs a 'jid'");
            };
            let Some(j) = crate::stanza::parse_jid(raw) else {
                return Outcome::Reject(Condition::JidMalformed.into());
            };
            if block && same_account(&j, cx.account) {
                return Outcome::Reject(
                    StanzaError::from_condition(Condition::NotAcceptable)
                        .with_text("you cannot block your own account"),
                );
            }
            let j = j.as_str().to_owned();
            if !jids.contains(&j) {
                if jids.len() >= self.max_items as usize {
                    return Outcome::Reject(self.full_error());
                }
                jids.push(j);
            }
        }
        if block && jids.is_empty() {
            return bad("a block needs at least one item");
        }
        let storage = cx.router.storage();
        let owner = cx.account.as_str();
        let _guard = self.writes.lock().await;
        let old = match self.list_for(cx.router, cx.account, true).await {
            Ok(Some(l)) => l,
            Ok(None) => Arc::new(BlockList::default()),
            Err(ReadFailed) => return internal(),
        };
        let stored = if block {
            storage.block(owner, &jids, self.max_items).await
        } else if jids.is_empty() {
            storage.unblock(owner, None).await
        } else {
            storage.unblock(owner, Some(&jids)).await
        };
        let new = match stored {
            Ok(items) => Arc::new(BlockList::new(items)),
            Err(crate::storage::Error::BlockListFull) => return Outcome::Reject(self.full_error()),
            Err(e) => {
                debug!(error = %e, "block list write failed");
                return internal();
            }
        };
        match (old.is_empty(), new.is_empty()) {
            (true, false) => {
                self.active.fetch_add(1, Ordering::Relaxed);
            }
            (false, true) => self.dec_active(),
            _ => {}
        }
        let contacts = changed_contacts(cx.router, cx.account, &old, &new).await;
        // Unavailable presence to the newly blocked goes while they are not blocked yet.
        for (contact, sub, _) in contacts.iter().filter(|c| c.2) {
            hide(cx.router, cx.account, contact, *sub).await;
        }
        self.cache.insert(cx.account.clone(), new);
        if cx.router.sessions_of(cx.account).is_empty() {
            self.cache.remove(cx.account);
        }
        for (contact, sub, _) in contacts.iter().filter(|c| !c.2) {
            show(cx.router, cx.account, contact, *sub).await;
        }
        drop(_guard);
        push(cx.router, cx.account, block, &jids);
        Outcome::Reply(st.iq_result(None))
    }

    fn full_error(&self) -> StanzaError {
        StanzaError::from_condition(Condition::ResourceConstraint).with_text(format!(
            "the block list holds at most {} items",
            self.max_items
        ))
    }
}

/// The verdict on a stanza the sender may be told about: refused with `err`, except
/// errors and IQ results, which are never answered (RFC 6120 §8.3.1) and are dropped.
fn refuse_or_drop(st: &Stanza, err: StanzaError) -> Verdict {
    match (st.kind(), st.type_attr()) {
        (_, "error") | (Kind::Iq, "result") => Verdict::Drop,
        _ => Verdict::Reject(err),
    }
}

/// §3.3 on what a blocked JID sends: presence dropped, the rest refused with
/// `service-unavailable` (as for an offline user), errors and results dropped.
fn blocked_inbound(st: &Stanza) -> Verdict {
    match st.kind() {
        Kind::Presence => Verdict::Drop,
        _ => refuse_or_drop(st, Condition::ServiceUnavailable.into()),
    }
}

/// A roster contact whose blocked state changed: its JID, its subscription, and
/// whether it is now blocked (else now unblocked).
type Changed = (BareJid, Subscription, bool);

/// The roster contacts whose blocked state changed between `old` and `new`.
async fn changed_contacts(
    router: &Arc<Router>,
    user: &BareJid,
    old: &BlockList,
    new: &BlockList,
) -> Vec<Changed> {
    let items = match router.storage().roster(user.as_str()).await {
        Ok(i) => i,
        Err(e) => {
            debug!(error = %e, "roster read failed after a block list change");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for it in items {
        let Ok(contact) = BareJid::new(&it.jid) else {
            continue;
        };
        let j = Jid::from(contact.clone());
        match (old.matches(&j), new.matches(&j)) {
            (false, true) => out.push((contact, it.subscription, true)),
            (true, false) => out.push((contact, it.subscription, false)),
            _ => {}
        }
    }
    out
}

/// Whether the contact receives the user's presence (RFC 6121 §4.2).
fn contact_sees_user(sub: Subscription) -> bool {
    matches!(sub, Subscription::From | Subscription::Both)
}

/// Whether the user receives the contact's presence.
fn user_sees_contact(sub: Subscription) -> bool {
    matches!(sub, Subscription::To | Subscription::Both)
}

/// On a block (§3.3): unavailable presence from each of the user's available sessions
/// to the contact, and from each of the contact's to the user's available sessions.
async fn hide(router: &Arc<Router>, user: &BareJid, contact: &BareJid, sub: Subscription) {
    let mine = router.sessions_of(user);
    if contact_sees_user(sub) {
        for s in mine.iter().filter(|s| s.with_presence(|p| p.available)) {
            let el = Element::new("presence", ns::CLIENT)
                .with_attr("type", "unavailable")
                .with_attr("from", s.full.as_str())
                .with_attr("to", contact.as_str());
            let to = Jid::from(contact.clone());
            router
                .route_inbound(&Origin::Server, Stanza::new_from(el), &to)
                .await;
        }
    }
    if user_sees_contact(sub) && router.is_local_domain(contact.domain().as_str()) {
        let theirs = router.sessions_of(contact);
        for t in theirs.iter().filter(|t| t.with_presence(|p| p.available)) {
            for s in mine.iter().filter(|s| s.with_presence(|p| p.available)) {
                let el = Element::new("presence", ns::CLIENT)
                    .with_attr("type", "unavailable")
                    .with_attr("from", t.full.as_str())
                    .with_attr("to", s.full.as_str());
                s.send(el);
            }
        }
    }
}

/// On an unblock (§3.4): the user's current presence to the contact, and the
/// contact's current presence to the user, each where a subscription allows it.
async fn show(router: &Arc<Router>, user: &BareJid, contact: &BareJid, sub: Subscription) {
    let mine = router.sessions_of(user);
    if contact_sees_user(sub) {
        for s in &mine {
            if let Some(mut p) =
                s.with_presence(|p| if p.available { p.last.clone() } else { None })
            {
                p.set_attr("from", s.full.as_str());
                p.set_attr("to", contact.as_str());
                let to = Jid::from(contact.clone());
                router
                    .route_inbound(&Origin::Server, Stanza::new_from(p), &to)
                    .await;
            }
        }
    }
    if user_sees_contact(sub) && router.is_local_domain(contact.domain().as_str()) {
        for t in router.sessions_of(contact) {
            let Some(last) = t.with_presence(|p| if p.available { p.last.clone() } else { None })
            else {
                continue;
            };
            for s in mine.iter().filter(|s| s.with_presence(|p| p.available)) {
                let mut p = last.clone();
                p.set_attr("from", t.full.as_str());
                p.set_attr("to", s.full.as_str());
                let to = s.jid.clone();
                // Routed, so the contact's own block list applies.
                router
                    .route_inbound(&Origin::Server, Stanza::new_from(p), &to)
                    .await;
            }
        }
    }
}

/// The push of a change (§3.3, §3.4) to every session of `user` that requested the
/// list; `jids` empty on an unblock: everything.
fn push(router: &Arc<Router>, user: &BareJid, block: bool, jids: &[String]) {
    let mut payload = Element::new(if block { "block" } else { "unblock" }, ns::BLOCKING);
    for j in jids {
        payload.push_child(Element::new("item", ns::BLOCKING).with_attr("jid", j.clone()));
    }
    for s in router.sessions_of(user) {
        if !s.with_state(|r: &mut Requested| r.0) {
            continue;
        }
        let id: u64 = rand::random();
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", format!("block{id:016x}"))
            .with_attr("to", s.full.as_str())
            .child(payload.clone());
        s.send(iq);
    }
}

/// The feature: `[blocking]`, and how many accounts have a stored block list.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let max = cx.config.blocking.max_items;
    Box::pin(async move {
        let active = cx.storage.accounts_with_blocks().await?;
        let active = usize::try_from(active).unwrap_or(usize::MAX);
        Ok(super::Built::module(BlockingModule::new(max, active)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }

    /// XEP-0191 §6 / XEP-0016 §2.1: the four JID forms.
    #[test]
    fn matching() {
        let l = BlockList::new(
            [
                "user@example.org",
                "other@example.org/phone",
                "example.net",
                "example.com/bot",
            ]
            .map(str::to_owned)
            .to_vec(),
        );
        let table = [
            ("user@example.org", true),
            ("user@example.org/any", true),
            ("other@example.org/phone", true),
            ("other@example.org/laptop", false),
            ("other@example.org", false),
            ("example.net", true),
            ("x@example.net/y", true),
            ("example.net/r", true),
            ("example.com/bot", true),
            ("example.com", false),
            ("a@example.com/bot", false),
            ("sub.example.net", false),
            ("example.org", false),
        ];
        for (j, want) in table {
            assert_eq!(l.matches(&jid(j)), want, "{j}");
        }
        assert!(!BlockList::default().matches(&jid("a@b")));
    }
}
