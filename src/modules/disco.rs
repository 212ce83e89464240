//! XEP-0030 Service Discovery for the server and for accounts.
//!
//! The server answers disco#info with identity `server/im` and the features of every
//! enabled module, and disco#items with an empty list (no components yet). An account's
//! own bare JID answers `account/registered` (XEP-0030 §3.1; the identity registry).
//!
//! When `[contact]` lists addresses, the server's disco#info also carries them as a
//! XEP-0128 extension form of type `http://jabber.org/network/serverinfo` (XEP-0157
//! §2): one field per kind that has addresses (`abuse-addresses`, ...), one `<value/>`
//! per URI. With none configured there is no form.
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
pub struct DiscoModule {
    /// The XEP-0157 form, built once from `[contact]`; `None` when nothing is configured.
    serverinfo: Option<Element>,
}

/// The XEP-0157 contact-addresses form for `contact` (XEP-0128 extension placed in
/// disco#info; XEP-0004 `result` form), or `None` when no address is configured.
pub fn serverinfo_form(contact: &crate::config::ContactConfig) -> Option<Element> {
    if contact.is_empty() {
        return None;
    }
    let mut x = Element::new("x", ns::DATA).with_attr("type", "result");
    x.push_child(
        Element::new("field", ns::DATA)
            .with_attr("var", "FORM_TYPE")
            .with_attr("type", "hidden")
            .child(Element::new("value", ns::DATA).with_text(ns::SERVERINFO)),
    );
    for (var, _, addresses) in contact.kinds() {
        if addresses.is_empty() {
            continue;
        }
        let mut field = Element::new("field", ns::DATA).with_attr("var", var);
        for a in addresses {
            field.push_child(Element::new("value", ns::DATA).with_text(a.clone()));
        }
        x.push_child(field);
    }
    Some(x)
}

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
                    if let Some(form) = &self.serverinfo {
                        res.push_child(form.clone());
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

/// The feature: always on; the contact addresses of `[contact]`.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let serverinfo = serverinfo_form(&cx.config.contact);
    Box::pin(async move { Ok(super::Built::module(DiscoModule { serverinfo })) })
}
