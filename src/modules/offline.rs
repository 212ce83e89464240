//! XEP-0160 offline messages: stored durably when no session can take them, delivered
//! with a XEP-0203 delay stamp at the next available presence.
//!
//! Only messages of type `normal` and `chat` that carry a `<body/>` are stored
//! (XEP-0160 §3): receipts, chat states, markers and other body-less notifications are
//! dropped, as are messages with a XEP-0334 `<no-store/>` or `<no-permanent-store/>`
//! hint; a `<store/>` hint stores a message even without body (XEP-0334 §4). A message
//! is committed to the database before the sender's stanza is considered delivered.
//!
//! # Security
//! Stored messages are whatever the sender sent: end-to-end encrypted payloads stay
//! opaque. They are deleted once a session wrote them to its stream (the session task
//! reports what it wrote, [`Event::Written`], and the module deletes those rows): a session that
//! ends, fails or is too slow before writing them leaves them stored for the next one.
//!
//! When the recipient's storage holds `offline.max_messages`, the answer must not tell
//! the sender whether the recipient is online: a message delivered to an online
//! session gets no answer, so a refused one may only be answered to a sender who sees
//! the recipient's presence anyway (the recipient's roster has the sender with
//! subscription `from` or `both`, or the sender is the recipient's own account). They
//! get `service-unavailable` with an explanation (XEP-0160 §4); any other sender gets
//! no answer, exactly as if the message had been delivered. The refused message is
//! dropped: the recipient's storage is full, and telling a stranger so would reveal
//! that the recipient is offline (RFC 6121 §11, presence leaks).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use jid::BareJid;
use tracing::debug;

use super::{Event, EventKind, Module, ModuleCtx, Outcome, Route};
use crate::ns;
use crate::router::{Receipt, Router, SessionEntry};
use crate::stanza::{Condition, Stanza, StanzaError};
use crate::storage::{Error as StorageError, Subscription};
use crate::xml::Element;

/// XEP-0160 offline storage: takes the messages on [`Route::Undeliverable`] and
/// delivers stored ones at a session's initial presence ([`Event::InitialPresence`]),
/// resuming once its queue is written ([`Event::QueueWritten`]).
pub struct OfflineModule {
    /// `offline.enabled`: off, storable messages are bounced with `service-unavailable`.
    enabled: bool,
    /// `offline.max_messages` per account.
    max: u32,
}

impl OfflineModule {
    /// The module for `[offline]`.
    pub fn new(enabled: bool, max_messages: u32) -> OfflineModule {
        OfflineModule {
            enabled,
            max: max_messages,
        }
    }
}

static ROUTES: [Route; 1] = [Route::undeliverable()];

impl Module for OfflineModule {
    fn name(&self) -> &'static str {
        NAME
    }
    fn disco_features(&self) -> &'static [&'static str] {
        if self.enabled { &[ns::MSGOFFLINE] } else { &[] }
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(self.store(cx.router, st, cx.account))
    }
    fn events(&self) -> &'static [EventKind] {
        &[
            EventKind::InitialPresence,
            EventKind::QueueWritten,
            EventKind::Written,
        ]
    }
    fn event<'a>(&'a self, router: &'a Arc<Router>, ev: &'a Event<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match ev {
                Event::InitialPresence(s) => deliver(router, s).await,
                Event::Written(s, receipts) => delete_written(router, s, receipts).await,
                Event::QueueWritten(s)
                    if s.with_state(|c: &mut Claims| std::mem::take(&mut c.paused)) =>
                {
                    deliver(router, s).await
                }
                _ => {}
            }
        })
    }
}

/// The module's name, in its receipts.
const NAME: &str = "offline";

/// Deletes the rows of the offline messages `session` wrote to its stream.
async fn delete_written(router: &Arc<Router>, session: &SessionEntry, receipts: &[Receipt]) {
    let ids: Vec<i64> = receipts
        .iter()
        .filter(|r| r.module == NAME)
        .map(|r| r.id)
        .collect();
    if ids.is_empty() {
        return;
    }
    let owner = session.full.to_bare();
    if let Err(e) = router.storage().delete_offline(owner.as_str(), &ids).await {
        debug!(error = %e, "offline delete failed");
    }
}

/// Per session: the highest row id queued to it (rows are claimed in id order, so a
/// row is queued to one session at most once even when deliveries overlap), and
/// whether delivery paused at a full queue.
#[derive(Debug)]
struct Claims {
    claimed: i64,
    paused: bool,
}

impl Default for Claims {
    fn default() -> Self {
        Claims {
            claimed: i64::MIN,
            paused: false,
        }
    }
}

/// Claims row `id` for `session`: true when no row with this or a higher id was
/// claimed before.
fn claim(session: &SessionEntry, id: i64) -> bool {
    session.with_state(|c: &mut Claims| {
        let fresh = c.claimed < id;
        c.claimed = c.claimed.max(id);
        fresh
    })
}

/// Gives back the claim on row `id` when it could not be queued (if no later row was
/// claimed since), so a resumed delivery takes it.
fn unclaim(session: &SessionEntry, id: i64) {
    session.with_state(|c: &mut Claims| {
        if c.claimed == id {
            c.claimed = id.saturating_sub(1);
        }
    });
}

/// XEP-0334 message processing hints.
const HINTS: &str = "urn:xmpp:hints";

/// Whether a message is stored for an offline recipient: `normal` or `chat`, not
/// hinted `<no-store/>` / `<no-permanent-store/>`, and with a `<body/>` or a `<store/>`
/// hint (XEP-0160 §3, XEP-0334 §4).
fn storable(st: &Stanza) -> bool {
    if !matches!(st.type_attr(), "normal" | "chat") {
        return false;
    }
    let el = st.el();
    if el.has_child("no-store", HINTS) || el.has_child("no-permanent-store", HINTS) {
        return false;
    }
    el.has_child("body", el.ns()) || el.has_child("store", HINTS)
}

/// Whether `sender` (a full JID stamped by the router) may learn that `owner` is
/// offline: it is one of `owner`'s sessions, or `owner`'s roster has its bare JID with
/// subscription `from` or `both` (it receives `owner`'s presence, RFC 6121 §4.2).
async fn sees_presence(router: &Arc<Router>, st: &Stanza, owner: &BareJid) -> bool {
    let Ok(Some(from)) = st.from() else {
        return false;
    };
    let from = from.to_bare();
    if &from == owner {
        return true;
    }
    matches!(
        router
            .storage()
            .roster_item(owner.as_str(), from.as_str())
            .await,
        Ok(Some(item)) if matches!(item.subscription, Subscription::From | Subscription::Both)
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl OfflineModule {
    /// Stores a message for `owner` if it is storable (see the module docs); refuses it
    /// (the router bounces it to its sender) when storage is off, or full and the sender
    /// sees `owner`'s presence (see the module's Security section).
    async fn store(&self, router: &Arc<Router>, st: &Stanza, owner: &BareJid) -> Outcome {
        if !storable(st) {
            return Outcome::Handled;
        }
        if !self.enabled {
            return Outcome::Reject(StanzaError::from_condition(Condition::ServiceUnavailable));
        }
        let xml = st.el().to_xml(ns::CLIENT);
        match router
            .storage()
            .push_offline(owner.as_str(), &xml, now(), self.max)
            .await
        {
            Ok(()) => {
                debug!("message stored offline");
                // The recipient may have become available while the message was being
                // stored, after its own look at the offline store: deliver now, or the
                // message would wait for the next session.
                let ready = router
                    .sessions_of(owner)
                    .into_iter()
                    .filter(|s| {
                        s.with_presence(|p| p.available && p.priority >= 0 && p.initial_done)
                    })
                    .max_by_key(|s| s.with_presence(|p| p.priority));
                if let Some(session) = ready {
                    deliver(router, &session).await;
                }
                Outcome::Handled
            }
            Err(StorageError::OfflineQuotaReached) => {
                if sees_presence(router, st, owner).await {
                    Outcome::Reject(
                        StanzaError::from_condition(Condition::ServiceUnavailable)
                            .with_text("the recipient's offline message storage is full"),
                    )
                } else {
                    debug!("offline storage full; message dropped without answer");
                    Outcome::Handled
                }
            }
            Err(e) => {
                debug!(error = %e, "offline store failed");
                Outcome::Reject(StanzaError::from_condition(Condition::InternalServerError))
            }
        }
    }
}

/// The feature: `[offline]` (always built: with storage off, storable messages are
/// bounced by the module).
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let o = &cx.config.offline;
    let m = OfflineModule::new(o.enabled, o.max_messages);
    Box::pin(async move { Ok(super::Built::module(m)) })
}

/// XEP-0203 timestamp (XEP-0082 DateTime profile, UTC).
pub fn stamp(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Queues the stored messages of the session's account to it, oldest first, each row
/// once per session; the session deletes each row once written. Stops at a full queue
/// (the rest stay stored) and asks the session to say when it has written its queue
/// ([`Event::QueueWritten`]), to go on then.
async fn deliver(router: &Arc<Router>, session: &Arc<SessionEntry>) {
    let owner = session.full.to_bare();
    let msgs = match router.storage().offline_messages(owner.as_str()).await {
        Ok(m) => m,
        Err(e) => return debug!(error = %e, "offline read failed"),
    };
    let mut done = Vec::new();
    for m in msgs {
        if !claim(session, m.id) {
            continue;
        }
        let Some(mut el) = crate::xml::parse_element(&m.stanza, ns::CLIENT).ok() else {
            done.push(m.id);
            continue;
        };
        el.push_child(
            Element::new("delay", ns::DELAY)
                .with_attr("from", owner.domain().as_str())
                .with_attr("stamp", stamp(m.stamp))
                .with_text("Offline Storage"),
        );
        if !session.send_with_receipt(
            el,
            Receipt {
                module: NAME,
                id: m.id,
            },
        ) {
            // Left stored; the session resumes once it has written its queue.
            debug!("session queue full: offline delivery paused");
            unclaim(session, m.id);
            session.with_state(|c: &mut Claims| c.paused = true);
            session.notify_when_written();
            break;
        }
    }
    if !done.is_empty()
        && let Err(e) = router.storage().delete_offline(owner.as_str(), &done).await
    {
        debug!(error = %e, "offline delete failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_xep0082() {
        assert_eq!(stamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(stamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
