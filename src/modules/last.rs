//! XEP-0012 Last Activity: how long ago an account's last session ended (§4), and the
//! server's uptime (§5).
//!
//! - A query to an account's bare JID (no `to`, the own bare JID, or another local
//!   account) is answered to the account itself and to entities it shares its
//!   presence with (subscription `from` or `both` on its roster). The answer is
//!   `seconds='0'` while one of its sessions is available (§4), otherwise the seconds
//!   since its last session ended. No status text is kept or sent.
//! - A query to the server's domain gets the seconds since the server started (§5)
//!   when `last_activity.server_uptime` is on, `service-unavailable` otherwise.
//! - A query to a full JID is delivered to that client (§3, idle time) only from the
//!   account itself or a presence subscriber; anyone else gets `service-unavailable`
//!   from the server (XEP-0012 1.3: the server blocks queries to a full JID from an
//!   entity not authorized to see the user's presence).
//! - With `last_activity.enabled` off, every query to the server or an account gets
//!   `service-unavailable` and nothing is advertised; the full-JID rule still holds.
//!
//! # Security
//! Everyone not entitled gets `service-unavailable`, the same answer as for a JID that
//! is no account (RFC 6121 §8.5.1), instead of §4's `forbidden`: a stranger cannot
//! tell an account that exists but hides its activity from one that does not exist,
//! and the error reveals nothing else of the account (DESIGN.md: "errors never reveal
//! another account's state").
//!
//! Logout times are kept in memory only ([`LastModule`]), one instant per account
//! that logged out since the server started, dropped when the account is deleted:
//! nothing about activity is ever written to disk. After a restart the time is
//! unknown until the account's next logout; a query then gets `item-not-found`
//! ("no last activity is known"): XEP-0012 defines no answer for an unknown time, and
//! `seconds='0'` would wrongly say "just now".
//!
//! # Limitations
//! Queries from other servers are not answered yet (no federation).

use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use jid::BareJid;

use super::{
    Chain, Event, EventKind, FilterSpec, IqKind, Module, ModuleCtx, Outcome, Route, To, Verdict,
};
use crate::ns;
use crate::router::Router;
use crate::stanza::{Condition, Kind, Stanza, StanzaError};
use crate::storage::Subscription;
use crate::xml::Element;

/// XEP-0012 responder and the full-JID guard.
pub struct LastModule {
    /// `last_activity.enabled`.
    enabled: bool,
    /// `last_activity.server_uptime`.
    server_uptime: bool,
    /// When the server started (for §5).
    started: Instant,
    /// When each account's last session ended, since the server started (memory only).
    logouts: DashMap<BareJid, Instant>,
}

impl LastModule {
    /// The module for `[last_activity]`, with the server's start time.
    pub fn new(enabled: bool, server_uptime: bool, started: Instant) -> LastModule {
        LastModule {
            enabled,
            server_uptime,
            started,
            logouts: DashMap::new(),
        }
    }

    async fn account_query(&self, cx: &ModuleCtx<'_>, st: &Stanza, target: &BareJid) -> Outcome {
        if !may_see_presence(cx.router, target, &cx.from.to_bare()).await {
            return Outcome::Reject(Condition::ServiceUnavailable.into());
        }
        let online = cx
            .router
            .sessions_of(target)
            .iter()
            .any(|s| s.with_presence(|p| p.available));
        let seconds = if online {
            0
        } else {
            match self.logouts.get(target) {
                Some(t) => t.elapsed().as_secs(),
                None => {
                    return Outcome::Reject(
                        StanzaError::from_condition(Condition::ItemNotFound)
                            .with_text("no last activity is known"),
                    );
                }
            }
        };
        Outcome::Reply(st.iq_result(Some(answer(seconds))))
    }
}

/// `<query xmlns='jabber:iq:last' seconds='N'/>` (§2).
fn answer(seconds: u64) -> Element {
    Element::new("query", ns::LAST).with_attr("seconds", seconds.to_string())
}

/// Whether `requester` may learn about `owner`'s presence: it is `owner`, or `owner`'s
/// roster has it with subscription `from` or `both` (RFC 6121 §4.3). A storage failure
/// answers `false`.
async fn may_see_presence(router: &Arc<Router>, owner: &BareJid, requester: &BareJid) -> bool {
    if owner == requester {
        return true;
    }
    matches!(
        router
            .storage()
            .roster_item(owner.as_str(), requester.as_str())
            .await,
        Ok(Some(item)) if matches!(item.subscription, Subscription::From | Subscription::Both)
    )
}

static ROUTES: [Route; 3] = [
    Route::iq(IqKind::Get, "query", ns::LAST, To::Host),
    Route::iq(IqKind::Get, "query", ns::LAST, To::OwnAccount),
    Route::iq(IqKind::Get, "query", ns::LAST, To::OtherAccount),
];

static FILTERS: [FilterSpec; 1] = [FilterSpec {
    chain: Chain::Inbound,
    priority: 0,
}];

impl Module for LastModule {
    fn name(&self) -> &'static str {
        "last"
    }
    fn disco_features(&self) -> &'static [&'static str] {
        if self.enabled { &[ns::LAST] } else { &[] }
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if !self.enabled {
                return Outcome::Reject(Condition::ServiceUnavailable.into());
            }
            match cx.route {
                Route::Iq { to: To::Host, .. } => {
                    if self.server_uptime {
                        let up = self.started.elapsed().as_secs();
                        Outcome::Reply(st.iq_result(Some(answer(up))))
                    } else {
                        Outcome::Reject(Condition::ServiceUnavailable.into())
                    }
                }
                Route::Iq {
                    to: To::OtherAccount,
                    ..
                } => match cx.to {
                    Some(t) => self.account_query(cx, st, &t.to_bare()).await,
                    None => Outcome::Reject(Condition::ServiceUnavailable.into()),
                },
                _ => self.account_query(cx, st, cx.account).await,
            }
        })
    }
    fn filters(&self) -> &'static [FilterSpec] {
        &FILTERS
    }
    fn filter<'a>(
        &'a self,
        cx: &'a ModuleCtx<'a>,
        _chain: Chain,
        st: &'a mut Stanza,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let is_query = st.kind() == Kind::Iq
                && st.type_attr() == "get"
                && st.payload().is_some_and(|p| p.is("query", ns::LAST))
                && cx.to.is_some_and(|t| t.resource().is_some());
            if !is_query || may_see_presence(cx.router, cx.account, &cx.from.to_bare()).await {
                Verdict::Pass
            } else {
                Verdict::Reject(Condition::ServiceUnavailable.into())
            }
        })
    }
    fn events(&self) -> &'static [EventKind] {
        &[EventKind::SessionClosed, EventKind::AccountDeleted]
    }
    fn event<'a>(&'a self, router: &'a Arc<Router>, ev: &'a Event<'a>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match ev {
                Event::SessionClosed(entry) => {
                    let account = entry.full.to_bare();
                    if router.sessions_of(&account).is_empty() {
                        self.logouts.insert(account, Instant::now());
                    }
                }
                Event::AccountDeleted(account) => {
                    self.logouts.remove(*account);
                }
                _ => {}
            }
        })
    }
}

/// The feature: `[last_activity]`. The uptime counts from when the features are built,
/// just before the listeners open.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let c = &cx.config.last_activity;
    let m = LastModule::new(c.enabled, c.server_uptime, Instant::now());
    Box::pin(async move { Ok(super::Built::module(m)) })
}
