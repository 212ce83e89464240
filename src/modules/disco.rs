//! XEP-0030 Service Discovery for the server and for accounts.
//!
//! The server answers disco#info with identity `server/im` and the features of every
//! enabled module, and disco#items with an empty list (no components yet). An account's
//! own bare JID answers `account/registered` (XEP-0030 §3.1; the identity registry).
//!
//! # Limitations
//! Queries to another user's bare JID are not answered on their behalf yet
//! (`service-unavailable`), which also avoids confirming that an account exists.

use futures_util::future::BoxFuture;

use super::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::ns;
use crate::stanza::{Condition, Stanza};
use crate::xml::Element;

/// XEP-0030 responder.
pub struct DiscoModule;

static ROUTES: [Route; 4] = [
    Route::iq(IqKind::Get, "query", ns::DISCO_INFO, To::Host),
    Route::iq(IqKind::Get, "query", ns::DISCO_ITEMS, To::Host),
    Route::iq(IqKind::Get, "query", ns::DISCO_INFO, To::OwnAccount),
    Route::iq(IqKind::Get, "query", ns::DISCO_ITEMS, To::OwnAccount),
];

impl Module for DiscoModule {
    fn name(&self) -> &'static str {
        "disco"
    }
    fn disco_features(&self) -> &'static [&'static str] {
        &[ns::DISCO_INFO, ns::DISCO_ITEMS]
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Some(q) = st.payload() else {
                return Outcome::Reject(Condition::BadRequest.into());
            };
            let to_host = st
                .el()
                .attr("to")
                .is_some_and(|t| cx.router.is_local_domain(t));
            if q.attr("node").is_some() {
                return Outcome::Reject(Condition::ItemNotFound.into());
            }
            let mut res = Element::new("query", q.ns());
            if q.ns() == ns::DISCO_INFO {
                if to_host {
                    res.push_child(
                        Element::new("identity", ns::DISCO_INFO)
                            .with_attr("category", "server")
                            .with_attr("type", "im")
                            .with_attr("name", "allium"),
                    );
                    let mut features: Vec<&str> = cx.router.disco_features().to_vec();
                    features.sort_unstable();
                    features.dedup();
                    for f in features {
                        res.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
                    }
                } else {
                    for (category, kind) in cx.router.account_identities() {
                        res.push_child(
                            Element::new("identity", ns::DISCO_INFO)
                                .with_attr("category", *category)
                                .with_attr("type", *kind),
                        );
                    }
                    for f in cx.router.account_features() {
                        res.push_child(
                            Element::new("feature", ns::DISCO_INFO).with_attr("var", *f),
                        );
                    }
                }
            }
            if q.ns() == ns::DISCO_ITEMS && to_host {
                for (jid, name) in cx.router.service_items() {
                    res.push_child(
                        Element::new("item", ns::DISCO_ITEMS)
                            .with_attr("jid", jid)
                            .with_attr("name", name),
                    );
                }
            }
            Outcome::Reply(st.iq_result(Some(res)))
        })
    }
}

/// The feature: always on.
pub(super) fn build<'a>(_cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    Box::pin(async { Ok(super::Built::module(DiscoModule)) })
}
